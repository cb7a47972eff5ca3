//! JSON-2 (`/json/2/<model>/<method>`), on the 19 personality only.

mod common;

use common::{post_json, request, rpc};
use odoo_sandbox::{Options, Version};
use serde_json::{Value, json};

async fn j2(addr: std::net::SocketAddr, path: &str, key: &str, body: Value) -> common::HttpResp {
    let auth = format!("bearer {key}");
    request(
        addr,
        "POST",
        path,
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &auth),
            ("X-Odoo-Database", "odoo"),
        ],
        body.to_string().as_bytes(),
    )
    .await
    .expect("http")
}

#[tokio::test]
async fn json2_order_flow_and_errors() {
    let sb = odoo_sandbox::spawn(Options {
        version: Version::V19,
        api_key: "k19".into(),
        ..Options::default()
    })
    .await
    .unwrap();
    let a = sb.addr();
    let r = j2(
        a,
        "/json/2/res.partner/create",
        "k19",
        json!({"vals_list": [{"name": "J2 Customer"}], "context": {"lang": "en_US"}}),
    )
    .await;
    assert_eq!(r.status, 200);
    let partner = r.json()[0].as_i64().unwrap();
    let r = j2(a, "/json/2/product.product/create", "k19", json!({"vals_list": [{"name": "W", "type": "consu", "is_storable": true, "list_price": 25}]})).await;
    let product = r.json()[0].as_i64().unwrap();
    let r = j2(a, "/json/2/sale.order/create", "k19", json!({"vals_list": [{"partner_id": partner, "client_order_ref": "SALLA-9",
        "order_line": [[0, 0, {"product_id": product, "product_uom_qty": 3, "price_unit": 25, "tax_ids": [[6, 0, [1]]]}]]}]})).await;
    let so = r.json()[0].as_i64().unwrap();
    let r = j2(
        a,
        "/json/2/sale.order/action_confirm",
        "k19",
        json!({"ids": [so]}),
    )
    .await;
    assert_eq!((r.status, r.json()), (200, json!(true)));
    let r = j2(a, "/json/2/sale.order/search_read", "k19", json!({"domain": [["client_order_ref", "=", "SALLA-9"]], "fields": ["state", "amount_total"], "limit": 1})).await;
    assert_eq!(
        r.json(),
        json!([{"id": so, "state": "sale", "amount_total": 86.25}])
    );
    let ctx = json!({"active_model": "sale.order", "active_ids": [so]});
    let wiz = j2(
        a,
        "/json/2/sale.advance.payment.inv/create",
        "k19",
        json!({"vals_list": [{"advance_payment_method": "delivered"}], "context": ctx}),
    )
    .await
    .json()[0]
        .clone();
    let action = j2(
        a,
        "/json/2/sale.advance.payment.inv/create_invoices",
        "k19",
        json!({"ids": [wiz], "context": ctx}),
    )
    .await
    .json();
    let inv = action["res_id"].clone();
    let r = j2(
        a,
        "/json/2/account.move/action_post",
        "k19",
        json!({"ids": [inv]}),
    )
    .await;
    assert_eq!((r.status, r.json()), (200, json!(false)));
    // A method returning None answers null.
    let r = j2(a, "/json/2/res.users/context_get", "k19", json!({})).await;
    assert_eq!(r.json()["uid"], json!(2));

    // Errors.
    let r = j2(
        a,
        "/json/2/res.partner/search",
        "wrong",
        json!({"domain": []}),
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["name"], "werkzeug.exceptions.Unauthorized");
    let body = r.json();
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["name", "message", "arguments", "context", "debug"]);
    let r = j2(a, "/json/2/no.such.model/search", "k19", json!({})).await;
    assert_eq!(r.status, 404);
    let r = j2(a, "/json/2/res.partner/no_such_method", "k19", json!({})).await;
    assert_eq!(r.status, 404);
    let r = j2(a, "/json/2/res.partner/_private", "k19", json!({})).await;
    assert_eq!(r.status, 404);
    let r = j2(
        a,
        "/json/2/res.partner/search",
        "k19",
        json!({"ids": [1], "domain": []}),
    )
    .await;
    assert_eq!(r.status, 422);
    let r = j2(
        a,
        "/json/2/res.partner/search",
        "k19",
        json!({"domain": [], "nope": 1}),
    )
    .await;
    assert_eq!(r.status, 422);
    let r = j2(
        a,
        "/json/2/account.move/action_post",
        "k19",
        json!({"ids": [inv]}),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["name"].clone()),
        (422, json!("odoo.exceptions.UserError"))
    );
    let r = j2(
        a,
        "/json/2/res.partner/write",
        "k19",
        json!({"ids": [999999], "vals": {"name": "x"}}),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["name"].clone()),
        (404, json!("odoo.exceptions.MissingError"))
    );
    let r = request(
        a,
        "POST",
        "/json/2/res.partner/search",
        &[
            ("Content-Type", "text/plain"),
            ("Authorization", "bearer k19"),
        ],
        b"{}",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 415);
    // A password is not an API key on JSON-2.
    let r = j2(
        a,
        "/json/2/res.partner/search",
        "admin",
        json!({"domain": []}),
    )
    .await;
    assert_eq!(r.status, 401);
    // JSON-RPC still works on 19, with error.code 0.
    let e = rpc(
        a,
        "object",
        "execute_kw",
        json!(["odoo", 2, "k19", "res.partner", "nope", [[]], {}]),
    )
    .await;
    assert_eq!(e["error"]["code"], json!(0));
    let r = request(a, "GET", "/web/version", &[], b"").await.unwrap();
    assert_eq!(r.json()["version"], "19.0");
    sb.shutdown().await;
}

#[tokio::test]
async fn json2_is_absent_before_19() {
    for v in [Version::V16, Version::V17, Version::V18] {
        let sb = odoo_sandbox::spawn(Options {
            version: v,
            ..Options::default()
        })
        .await
        .unwrap();
        let r = request(
            sb.addr(),
            "POST",
            "/json/2/res.partner/search",
            &[
                ("Content-Type", "application/json"),
                ("Authorization", "bearer admin"),
            ],
            b"{}",
        )
        .await
        .unwrap();
        assert_eq!(r.status, 404, "{v}");
        let r = post_json(sb.addr(), "/jsonrpc", &json!({"jsonrpc": "2.0", "id": 1, "params": {"service": "common", "method": "version", "args": []}})).await.unwrap();
        assert_eq!(r.json()["result"]["server_serie"], format!("{v}.0"));
        sb.shutdown().await;
    }
}
