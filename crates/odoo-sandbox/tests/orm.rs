//! Generic ORM behaviour: x2many commands, domains, read/search options, errors, and the
//! field differences between version personalities.

mod common;

use common::{call, call_env, err, rpc};
use odoo_sandbox::{Options, Version};
use serde_json::{Value, json};

async fn sandbox(v: Version) -> odoo_sandbox::Sandbox {
    odoo_sandbox::spawn(Options {
        version: v,
        ..Options::default()
    })
    .await
    .expect("spawn")
}

fn ids(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn x2many_commands() {
    let sb = sandbox(Version::V18).await;
    let a = sb.addr();
    let partner = call(a, "res.partner", "create", json!([{"name": "Parent Co", "is_company": true,
        "child_ids": [[0, 0, {"name": "Ship To", "type": "delivery", "city": "Riyadh"}], [0, 0, {"type": "invoice"}]]}]), json!({})).await;
    let p = call(
        a,
        "res.partner",
        "read",
        json!([[partner]]),
        json!({"fields": ["child_ids"]}),
    )
    .await;
    let kids = ids(&p[0]["child_ids"]);
    assert_eq!(kids.len(), 2);
    let k = call(
        a,
        "res.partner",
        "read",
        json!([kids.clone()]),
        json!({"fields": ["display_name", "type", "parent_id"]}),
    )
    .await;
    let names: Vec<&str> = k
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["display_name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"Parent Co, Ship To") && names.contains(&"Parent Co, Invoice Address"),
        "{names:?}"
    );
    assert_eq!(k[0]["parent_id"][0], partner);

    let product = call(
        a,
        "product.product",
        "create",
        json!([{"name": "P", "list_price": 10}]),
        json!({}),
    )
    .await;
    let other = call(
        a,
        "product.product",
        "create",
        json!([{"name": "Q", "list_price": 5}]),
        json!({}),
    )
    .await;
    let so = call(
        a,
        "sale.order",
        "create",
        json!([{"partner_id": partner, "order_line": [
        [0, 0, {"product_id": product, "product_uom_qty": 2}],
        [0, 0, {"product_id": other, "product_uom_qty": 1, "tax_id": [[6, 0, []]]}]]}]),
        json!({}),
    )
    .await;
    let o = call(
        a,
        "sale.order",
        "read",
        json!([[so]]),
        json!({"fields": ["order_line", "amount_untaxed", "amount_total"]}),
    )
    .await;
    let lines = ids(&o[0]["order_line"]);
    assert_eq!(lines.len(), 2);
    assert_eq!(o[0]["amount_untaxed"], json!(25.0));
    assert_eq!(o[0]["amount_total"], json!(28.0));
    // [1, id, vals] update, [2, id] delete, [0, 0, vals] add, in one write.
    call(a, "sale.order", "write", json!([[so], {"order_line": [[1, lines[0], {"product_uom_qty": 4}], [2, lines[1], 0], [0, 0, {"product_id": other}]]}]), json!({})).await;
    let o = call(
        a,
        "sale.order",
        "read",
        json!([[so]]),
        json!({"fields": ["order_line", "amount_untaxed"]}),
    )
    .await;
    let now = ids(&o[0]["order_line"]);
    assert_eq!(now.len(), 2);
    assert!(now.contains(&lines[0]) && !now.contains(&lines[1]));
    assert_eq!(o[0]["amount_untaxed"], json!(45.0));
    assert_eq!(
        call(
            a,
            "sale.order.line",
            "read",
            json!([[lines[1]]]),
            json!({"fields": ["name"]})
        )
        .await,
        json!([])
    );
    // many2many: [5] clear, [4, id] link, [3, id] unlink, [6, 0, ids] set.
    let l0 = lines[0];
    call(
        a,
        "sale.order.line",
        "write",
        json!([[l0], {"tax_id": [[5, 0, 0]]}]),
        json!({}),
    )
    .await;
    assert_eq!(
        call(
            a,
            "sale.order.line",
            "read",
            json!([[l0]]),
            json!({"fields": ["tax_id"]})
        )
        .await[0]["tax_id"],
        json!([])
    );
    call(
        a,
        "sale.order.line",
        "write",
        json!([[l0], {"tax_id": [[4, 1, 0], [4, 2, 0], [3, 2, 0]]}]),
        json!({}),
    )
    .await;
    assert_eq!(
        call(
            a,
            "sale.order.line",
            "read",
            json!([[l0]]),
            json!({"fields": ["tax_id"]})
        )
        .await[0]["tax_id"],
        json!([1])
    );
    call(
        a,
        "sale.order.line",
        "write",
        json!([[l0], {"tax_id": [[6, 0, [2]]]}]),
        json!({}),
    )
    .await;
    assert_eq!(
        call(
            a,
            "sale.order.line",
            "read",
            json!([[l0]]),
            json!({"fields": ["tax_id"]})
        )
        .await[0]["tax_id"],
        json!([2])
    );
    // [5] on a one2many with a required inverse deletes the lines; [4, id] moves a line over.
    let so2 = call(
        a,
        "sale.order",
        "create",
        json!([{"partner_id": partner}]),
        json!({}),
    )
    .await;
    call(
        a,
        "sale.order",
        "write",
        json!([[so2], {"order_line": [[4, l0, 0]]}]),
        json!({}),
    )
    .await;
    assert_eq!(
        call(
            a,
            "sale.order.line",
            "read",
            json!([[l0]]),
            json!({"fields": ["order_id"]})
        )
        .await[0]["order_id"][0],
        so2
    );
    call(
        a,
        "sale.order",
        "write",
        json!([[so2], {"order_line": [[5, 0, 0]]}]),
        json!({}),
    )
    .await;
    assert_eq!(
        call(
            a,
            "sale.order",
            "read",
            json!([[so2]]),
            json!({"fields": ["order_line"]})
        )
        .await[0]["order_line"],
        json!([])
    );
    // A failing command rolls the whole call back (but the id is used up).
    let before = sb.inspect().count("sale.order.line", json!([])).unwrap();
    let bad = call_env(a, "sale.order", "write", json!([[so], {"order_line": [[0, 0, {"product_id": product}], [0, 0, {"product_id": 999}]]}]), json!({})).await;
    assert_eq!(err(&bad).0, "odoo.exceptions.MissingError");
    assert_eq!(
        sb.inspect().count("sale.order.line", json!([])).unwrap(),
        before
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn domains_and_search_options() {
    let sb = sandbox(Version::V17).await;
    let a = sb.addr();
    let mut made = Vec::new();
    for (name, email, rank) in [
        ("Alpha", "a@x.sa", 1),
        ("beta", "b@y.ae", 2),
        ("Gamma", "g@x.sa", 3),
        ("Delta", false_str(), 4),
    ] {
        made.push(
            call(
                a,
                "res.partner",
                "create",
                json!([{"name": name, "email": email, "customer_rank": rank, "ref": "T"}]),
                json!({}),
            )
            .await
            .as_i64()
            .unwrap(),
        );
    }
    let search = |d: Value| async move {
        ids(&call(
            a,
            "res.partner",
            "search",
            json!([d]),
            json!({"order": "id"}),
        )
        .await)
    };
    let t = json!(["ref", "=", "T"]);
    assert_eq!(
        search(json!([t, ["name", "=", "Alpha"]])).await,
        vec![made[0]]
    );
    assert_eq!(
        search(json!([t, ["name", "!=", "Alpha"]])).await,
        made[1..].to_vec()
    );
    assert_eq!(
        search(json!([t, ["customer_rank", "in", [1, 3]]])).await,
        vec![made[0], made[2]]
    );
    assert_eq!(
        search(json!([t, ["customer_rank", "not in", [1, 3]]])).await,
        vec![made[1], made[3]]
    );
    assert_eq!(
        search(json!([t, ["name", "like", "eta"]])).await,
        vec![made[1]]
    );
    assert_eq!(
        search(json!([t, ["name", "like", "BETA"]])).await,
        Vec::<i64>::new()
    );
    assert_eq!(
        search(json!([t, ["name", "ilike", "BETA"]])).await,
        vec![made[1]]
    );
    assert_eq!(
        search(json!([t, ["email", "=like", "%@x.sa"]])).await,
        vec![made[0], made[2]]
    );
    assert_eq!(
        search(json!([t, ["customer_rank", "<", 2]])).await,
        vec![made[0]]
    );
    assert_eq!(
        search(json!([t, ["customer_rank", "<=", 2]])).await,
        vec![made[0], made[1]]
    );
    assert_eq!(
        search(json!([t, ["customer_rank", ">", 3]])).await,
        vec![made[3]]
    );
    assert_eq!(
        search(json!([t, ["customer_rank", ">=", 3]])).await,
        vec![made[2], made[3]]
    );
    assert_eq!(
        search(json!([
            t,
            "|",
            ["name", "=", "Alpha"],
            ["name", "=", "Gamma"]
        ]))
        .await,
        vec![made[0], made[2]]
    );
    assert_eq!(
        search(json!(["&", t, "!", ["email", "=", false]])).await,
        made[..3].to_vec()
    );
    assert_eq!(
        search(json!([t, ["email", "=", false]])).await,
        vec![made[3]]
    );
    assert_eq!(
        search(json!([
            "&",
            t,
            "|",
            "!",
            ["customer_rank", ">", 1],
            ["name", "=", "Delta"]
        ]))
        .await,
        vec![made[0], made[3]]
    );
    // limit, offset, order, count
    let r = call(
        a,
        "res.partner",
        "search",
        json!([[t]]),
        json!({"order": "customer_rank desc", "limit": 2, "offset": 1}),
    )
    .await;
    assert_eq!(ids(&r), vec![made[2], made[1]]);
    let r = call(
        a,
        "res.partner",
        "search_read",
        json!([[t]]),
        json!({"fields": ["name"], "order": "name asc", "limit": 1}),
    )
    .await;
    assert_eq!(r, json!([{"id": made[0], "name": "Alpha"}]));
    assert_eq!(
        call(a, "res.partner", "search_count", json!([[t]]), json!({})).await,
        json!(4)
    );
    // many2one by name, dotted paths, the company partner through the country
    let sa = call(
        a,
        "res.country",
        "search_read",
        json!([[["code", "=", "SA"]]]),
        json!({"fields": ["name", "code"]}),
    )
    .await;
    assert_eq!(sa[0]["name"], "Saudi Arabia");
    let by_country = call(
        a,
        "res.partner",
        "search",
        json!([[["country_id.code", "=", "SA"]]]),
        json!({}),
    )
    .await;
    assert_eq!(ids(&by_country), vec![1]);
    let by_name = call(
        a,
        "res.partner",
        "search",
        json!([[["country_id", "ilike", "saudi"]]]),
        json!({}),
    )
    .await;
    assert_eq!(ids(&by_name), vec![1]);
    // archived records are hidden unless asked for
    call(
        a,
        "res.partner",
        "write",
        json!([[made[3]], {"active": false}]),
        json!({}),
    )
    .await;
    assert_eq!(search(json!([t])).await, made[..3].to_vec());
    let all = call(
        a,
        "res.partner",
        "search",
        json!([[t]]),
        json!({"context": {"active_test": false}, "order": "id"}),
    )
    .await;
    assert_eq!(ids(&all), made);
    // bad leaf and bad order
    let bad = call_env(
        a,
        "res.partner",
        "search",
        json!([[["name", "~~", 1]]]),
        json!({}),
    )
    .await;
    assert_eq!(err(&bad).0, "builtins.ValueError");
    let bad = call_env(
        a,
        "res.partner",
        "search",
        json!([[]]),
        json!({"order": "nope desc"}),
    )
    .await;
    assert_eq!(
        err(&bad),
        (
            "builtins.ValueError".into(),
            "Invalid field 'nope' on model 'res.partner'".into()
        )
    );
    sb.shutdown().await;
}

fn false_str() -> &'static str {
    ""
}

#[tokio::test]
async fn errors_and_argument_binding() {
    let sb = sandbox(Version::V18).await;
    let a = sb.addr();
    let e = call_env(
        a,
        "res.partner",
        "search_read",
        json!([[]]),
        json!({"bogus": 1}),
    )
    .await;
    assert_eq!(
        err(&e),
        (
            "builtins.TypeError".into(),
            "search_read() got an unexpected keyword argument 'bogus'".into()
        )
    );
    let e = call_env(a, "res.partner", "_read", json!([[1]]), json!({})).await;
    assert_eq!(err(&e).0, "odoo.exceptions.AccessError");
    let e = call_env(
        a,
        "res.partner",
        "write",
        json!([[999, 998], {"name": "x"}]),
        json!({}),
    )
    .await;
    assert_eq!(
        err(&e).1,
        "Record does not exist or has been deleted.\n(Record: res.partner(999, 998), User: 2)"
    );
    let e = call_env(
        a,
        "res.partner",
        "create",
        json!([{"email": "no-name@x"}]),
        json!({}),
    )
    .await;
    assert_eq!(err(&e).0, "odoo.exceptions.ValidationError");
    let e = call_env(
        a,
        "product.product",
        "create",
        json!([{"name": "x", "invoice_policy": "sometimes"}]),
        json!({}),
    )
    .await;
    assert_eq!(
        err(&e),
        (
            "builtins.ValueError".into(),
            "Wrong value for product.template.invoice_policy: 'sometimes'".into()
        )
    );
    // create with a list returns a list; positional arguments work as keywords do
    let many = call(
        a,
        "res.partner",
        "create",
        json!([[{"name": "A"}, {"name": "B"}]]),
        json!({}),
    )
    .await;
    assert_eq!(many.as_array().unwrap().len(), 2);
    let r = call(
        a,
        "res.partner",
        "search_read",
        json!([[["id", "in", many.clone()]], ["name"], 0, 1, "id desc"]),
        json!({}),
    )
    .await;
    assert_eq!(r[0]["id"], many[1]);
    // common service errors
    let e = rpc(a, "common", "authenticate", json!(["odoo", "admin"])).await;
    assert_eq!(err(&e).0, "builtins.TypeError");
    assert_eq!(
        rpc(a, "common", "login", json!(["odoo", "admin", "admin"])).await["result"],
        json!(2)
    );
    assert_eq!(
        rpc(
            a,
            "common",
            "authenticate",
            json!(["odoo", "admin", "nope", {}])
        )
        .await["result"],
        json!(false)
    );
    assert_eq!(
        rpc(a, "db", "list", json!([])).await["result"],
        json!(["odoo"])
    );
    // not JSON
    let r = common::request(
        a,
        "POST",
        "/jsonrpc",
        &[("Content-Type", "application/json")],
        b"{nope",
    )
    .await
    .unwrap();
    assert_eq!(
        (r.status, r.body.as_slice()),
        (400, b"Invalid JSON data".as_slice())
    );
    // fields_get with attributes, ir.model.data, ir.config_parameter as admin
    let fg = call(
        a,
        "sale.order",
        "fields_get",
        json!([]),
        json!({"allfields": ["state"], "attributes": ["type", "selection"]}),
    )
    .await;
    assert_eq!(
        fg,
        json!({"state": {"selection": [["draft", "Quotation"], ["sent", "Quotation Sent"], ["sale", "Sales Order"], ["cancel", "Cancelled"]], "type": "selection"}})
    );
    let x = call(
        a,
        "ir.model.data",
        "search_read",
        json!([[
            ["module", "=", "stock"],
            ["name", "=", "stock_location_stock"]
        ]]),
        json!({"fields": ["model", "res_id"]}),
    )
    .await;
    assert_eq!(x[0]["res_id"], json!(8));
    assert!(
        call(
            a,
            "ir.config_parameter",
            "search_count",
            json!([[]]),
            json!({})
        )
        .await
        .as_u64()
        .unwrap()
            > 0
    );
    let w = call(
        a,
        "stock.warehouse",
        "search_read",
        json!([[]]),
        json!({"fields": ["lot_stock_id", "code"]}),
    )
    .await;
    assert_eq!(w[0]["lot_stock_id"], json!([8, "WH/Stock"]));
    let tax = call(
        a,
        "account.tax",
        "search_read",
        json!([[["type_tax_use", "=", "sale"]]]),
        json!({"fields": ["amount"]}),
    )
    .await;
    assert_eq!(tax[0]["amount"], json!(15.0));
    let cur = call(
        a,
        "res.company",
        "read",
        json!([[1]]),
        json!({"fields": ["currency_id"]}),
    )
    .await;
    assert_eq!(cur[0]["currency_id"], json!([3, "SAR"]));
    let ns = call(a, "res.country", "name_search", json!(["Saudi"]), json!({})).await;
    assert_eq!(ns, json!([[192, "Saudi Arabia"]]));
    sb.shutdown().await;
}

#[tokio::test]
async fn version_personalities() {
    for v in Version::ALL {
        let sb = sandbox(v).await;
        let a = sb.addr();
        let ver = rpc(a, "common", "version", json!([])).await;
        assert_eq!(ver["result"]["server_version"], format!("{}.0", v.major()));
        assert_eq!(ver["result"]["server_version_info"][0], v.major());
        let e = call_env(a, "no.such.model", "search", json!([[]]), json!({})).await;
        assert_eq!(
            e["error"]["code"],
            if v >= Version::V19 { 0 } else { 200 },
            "{v}"
        );

        let partner = call(
            a,
            "res.partner",
            "fields_get",
            json!([]),
            json!({"attributes": ["type"]}),
        )
        .await;
        assert_eq!(
            partner.get("mobile").is_some(),
            v <= Version::V18,
            "{v} mobile"
        );
        let ptypes = call(
            a,
            "res.partner",
            "fields_get",
            json!([]),
            json!({"allfields": ["type"], "attributes": ["selection"]}),
        )
        .await;
        let has_private = ptypes["type"]["selection"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s[0] == "private");
        assert_eq!(has_private, v == Version::V16);

        let so = call(
            a,
            "sale.order",
            "fields_get",
            json!([]),
            json!({"attributes": ["type", "selection"]}),
        )
        .await;
        assert_eq!(so.get("locked").is_some(), v >= Version::V17, "{v} locked");
        let done_state = so["state"]["selection"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s[0] == "done");
        assert_eq!(done_state, v == Version::V16);

        let sol = call(
            a,
            "sale.order.line",
            "fields_get",
            json!([]),
            json!({"attributes": ["type", "relation"]}),
        )
        .await;
        let (tax, uom) = if v >= Version::V19 {
            ("tax_ids", "product_uom_id")
        } else {
            ("tax_id", "product_uom")
        };
        assert_eq!(sol[tax]["relation"], "account.tax");
        assert_eq!(sol[uom]["relation"], "uom.uom");
        assert!(
            sol.get(if v >= Version::V19 {
                "tax_id"
            } else {
                "tax_ids"
            })
            .is_none()
        );

        let tmpl = call(
            a,
            "product.template",
            "fields_get",
            json!([]),
            json!({"attributes": ["type"]}),
        )
        .await;
        assert_eq!(tmpl.get("is_storable").is_some(), v >= Version::V18);
        assert_eq!(tmpl.get("detailed_type").is_some(), v <= Version::V17);
        let e = call_env(
            a,
            "product.product",
            "create",
            json!([{"name": "bad type", "type": "product"}]),
            json!({}),
        )
        .await;
        if v >= Version::V18 {
            assert_eq!(
                err(&e),
                (
                    "builtins.ValueError".into(),
                    "Wrong value for product.template.type: 'product'".into()
                )
            );
        } else {
            let id = e["result"].clone();
            let p = call(
                a,
                "product.product",
                "read",
                json!([[id]]),
                json!({"fields": ["type", "detailed_type"]}),
            )
            .await;
            assert_eq!(p[0]["detailed_type"], "product");
        }
        let mv = call(
            a,
            "stock.move",
            "fields_get",
            json!([]),
            json!({"attributes": ["type"]}),
        )
        .await;
        assert_eq!(mv.get("quantity_done").is_some(), v == Version::V16);
        assert_eq!(mv.get("picked").is_some(), v >= Version::V17);
        sb.shutdown().await;
    }
}

#[tokio::test]
async fn inventory_mode_rules_and_users() {
    for v in [Version::V16, Version::V18] {
        let sb = sandbox(v).await;
        let a = sb.addr();
        let consu = call(
            a,
            "product.product",
            "create",
            json!([{"name": "Consumable"}]),
            json!({}),
        )
        .await;
        let e = call_env(
            a,
            "stock.quant",
            "create",
            json!([{"product_id": consu, "location_id": 8, "inventory_quantity": 5}]),
            json!({"context": {"inventory_mode": true}}),
        )
        .await;
        assert_eq!(
            err(&e),
            (
                "odoo.exceptions.ValidationError".into(),
                "Quants cannot be created for consumables or services.".into()
            )
        );
        let storable = if v >= Version::V18 {
            json!({"name": "S", "is_storable": true})
        } else {
            json!({"name": "S", "detailed_type": "product"})
        };
        let p = call(a, "product.product", "create", json!([storable]), json!({})).await;
        let e = call_env(
            a,
            "stock.quant",
            "create",
            json!([{"product_id": p, "location_id": 8, "inventory_quantity": 5}]),
            json!({}),
        )
        .await;
        assert_eq!(
            err(&e),
            (
                "odoo.exceptions.UserError".into(),
                "Quant's creation is restricted, you can't do this operation.".into()
            )
        );
        let e = call_env(
            a,
            "stock.quant",
            "create",
            json!([{"product_id": p, "location_id": 8, "quantity": 5}]),
            json!({"context": {"inventory_mode": true}}),
        )
        .await;
        assert_eq!(err(&e).0, "odoo.exceptions.UserError");
        let u = call(
            a,
            "res.users",
            "create",
            json!([{"name": "Bot", "login": "bot@example.com"}]),
            json!({}),
        )
        .await;
        let r = call(
            a,
            "res.users",
            "read",
            json!([[u]]),
            json!({"fields": ["partner_id", "email"]}),
        )
        .await;
        assert_eq!(r[0]["partner_id"][1], "Bot");
        assert_eq!(r[0]["email"], "bot@example.com");
        sb.shutdown().await;
    }
}

#[tokio::test]
async fn unlink_cascades_or_refuses_like_foreign_keys() {
    let sb = sandbox(Version::V18).await;
    let a = sb.addr();
    let parent = call(
        a,
        "res.partner",
        "create",
        json!([{"name": "Co", "is_company": true, "child_ids": [[0, 0, {"name": "Kid"}]]}]),
        json!({}),
    )
    .await;
    let product = call(
        a,
        "product.product",
        "create",
        json!([{"name": "P"}]),
        json!({}),
    )
    .await;
    let so = call(
        a,
        "sale.order",
        "create",
        json!([{"partner_id": parent, "order_line": [[0, 0, {"product_id": product}]]}]),
        json!({}),
    )
    .await;
    let e = call_env(a, "res.partner", "unlink", json!([[parent]]), json!({})).await;
    let (name, msg) = err(&e);
    assert_eq!(name, "odoo.exceptions.ValidationError");
    assert!(
        msg.contains("Model: Sales Order (sale.order)\nConstraint: sale_order_partner_id_fkey"),
        "{msg}"
    );
    assert_eq!(
        sb.inspect()
            .count("res.partner", json!([["id", "=", parent]]))
            .unwrap(),
        1
    );
    // A draft order goes with its lines.
    call(a, "sale.order", "unlink", json!([[so]]), json!({})).await;
    assert_eq!(sb.inspect().count("sale.order.line", json!([])).unwrap(), 0);
    // Now the partner can go; its contact is detached, not deleted.
    call(a, "res.partner", "unlink", json!([[parent]]), json!({})).await;
    let kid = sb
        .inspect()
        .read("res.partner", json!([["name", "=", "Kid"]]), &["parent_id"])
        .unwrap();
    assert_eq!(kid[0]["parent_id"], json!(false));
    sb.shutdown().await;
}

#[tokio::test]
async fn recursive_hierarchies_are_refused() {
    let sb = sandbox(Version::V18).await;
    let a = sb.addr();
    let top = call(
        a,
        "res.partner",
        "create",
        json!([{"name": "Top", "child_ids": [[0, 0, {"name": "Mid"}]]}]),
        json!({}),
    )
    .await;
    let mid = call(
        a,
        "res.partner",
        "search",
        json!([[["name", "=", "Mid"]]]),
        json!({}),
    )
    .await[0]
        .clone();
    let e = call_env(
        a,
        "res.partner",
        "write",
        json!([[top], {"parent_id": mid}]),
        json!({}),
    )
    .await;
    assert_eq!(
        err(&e),
        (
            "odoo.exceptions.ValidationError".into(),
            "You cannot create recursive Partner hierarchies.".into()
        )
    );
    let e = call_env(
        a,
        "res.partner",
        "write",
        json!([[top], {"parent_id": top}]),
        json!({}),
    )
    .await;
    assert_eq!(err(&e).0, "odoo.exceptions.ValidationError");
    assert_eq!(
        call(
            a,
            "res.partner",
            "read",
            json!([[mid]]),
            json!({"fields": ["display_name"]})
        )
        .await[0]["display_name"],
        "Top, Mid"
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn unique_barcodes_and_external_ids() {
    let sb = sandbox(Version::V18).await;
    let a = sb.addr();
    let p = call(
        a,
        "product.product",
        "create",
        json!([{"name": "A", "barcode": "629000"}]),
        json!({}),
    )
    .await;
    let e = call_env(
        a,
        "product.product",
        "create",
        json!([{"name": "B", "barcode": "629000"}]),
        json!({}),
    )
    .await;
    assert_eq!(err(&e).0, "odoo.exceptions.ValidationError");
    // Writing its own barcode again is fine.
    call(
        a,
        "product.product",
        "write",
        json!([[p], {"barcode": "629000", "name": "A2"}]),
        json!({}),
    )
    .await;
    let x = json!([{"module": "salla", "name": "order_1", "model": "sale.order", "res_id": 1}]);
    call(a, "ir.model.data", "create", x.clone(), json!({})).await;
    let e = call_env(a, "ir.model.data", "create", x, json!({})).await;
    assert_eq!(err(&e).0, "odoo.exceptions.ValidationError");
    let found = call(
        a,
        "ir.model.data",
        "search_read",
        json!([[["module", "=", "salla"], ["name", "=", "order_1"]]]),
        json!({"fields": ["res_id", "complete_name"]}),
    )
    .await;
    assert_eq!(found[0]["complete_name"], "salla.order_1");
    sb.shutdown().await;
}

#[tokio::test]
async fn any_operator_from_17() {
    for v in [Version::V16, Version::V17] {
        let sb = sandbox(v).await;
        let a = sb.addr();
        let partner = call(
            a,
            "res.partner",
            "create",
            json!([{"name": "C"}]),
            json!({}),
        )
        .await;
        let p1 = call(
            a,
            "product.product",
            "create",
            json!([{"name": "P1"}]),
            json!({}),
        )
        .await;
        let p2 = call(
            a,
            "product.product",
            "create",
            json!([{"name": "P2"}]),
            json!({}),
        )
        .await;
        let so1 = call(
            a,
            "sale.order",
            "create",
            json!([{"partner_id": partner, "order_line": [[0, 0, {"product_id": p1}]]}]),
            json!({}),
        )
        .await;
        let _so2 = call(
            a,
            "sale.order",
            "create",
            json!([{"partner_id": partner, "order_line": [[0, 0, {"product_id": p2}]]}]),
            json!({}),
        )
        .await;
        let env = call_env(
            a,
            "sale.order",
            "search",
            json!([[["order_line", "any", [["product_id", "=", p1]]]]]),
            json!({}),
        )
        .await;
        if v == Version::V16 {
            assert_eq!(err(&env).0, "builtins.ValueError");
        } else {
            assert_eq!(env["result"], json!([so1]));
            let none = call(
                a,
                "sale.order",
                "search",
                json!([[["order_line", "not any", [["product_id", "in", [p1, p2]]]]]]),
                json!({}),
            )
            .await;
            assert_eq!(none, json!([]));
        }
        sb.shutdown().await;
    }
}
