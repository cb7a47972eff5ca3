//! The rules behind the accounting transcript, one by one: payment registration and payment
//! states, the sender-email rule, credit notes (full, partial, refund payments), currencies and
//! pricelists, product variants and stock returns.

mod common;

use std::net::SocketAddr;

use common::{call, call_env, err, post_json, rpc};
use odoo_sandbox::{Options, UserSpec, Version};
use serde_json::{Value, json};

const EMAIL_ERROR: &str = "Unable to send message, please configure the sender's email address.";

fn connector() -> UserSpec {
    UserSpec {
        login: "connector".into(),
        name: "Salla Connector".into(),
        password: "connector-password".into(),
        api_key: "connector-key".into(),
        admin: false,
    }
}

async fn sandbox(opts: Options) -> odoo_sandbox::Sandbox {
    odoo_sandbox::spawn(opts).await.expect("spawn")
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// `execute_kw` as the connector user (uid 6); the whole envelope.
async fn as_connector(a: SocketAddr, model: &str, method: &str, args: Value, kw: Value) -> Value {
    rpc(
        a,
        "object",
        "execute_kw",
        json!(["odoo", 6, "connector-key", model, method, args, kw]),
    )
    .await
}

fn ctx(model: &str, ids: &[i64]) -> Value {
    json!({"context": {"active_model": model, "active_ids": ids, "active_id": ids[0]}})
}

async fn read1(a: SocketAddr, model: &str, id: i64, fields: &[&str]) -> Value {
    call(a, model, "read", json!([[id]]), json!({"fields": fields})).await[0].clone()
}

/// A partner and a 100.00 service (15% tax).
async fn customer_and_service(a: SocketAddr) -> (i64, i64) {
    let partner = call(
        a,
        "res.partner",
        "create",
        json!([{"name": "Customer", "email": "c@example.com"}]),
        json!({}),
    )
    .await
    .as_i64()
    .unwrap();
    let product = call(
        a,
        "product.product",
        "create",
        json!([{"name": "Service", "type": "service", "invoice_policy": "order", "list_price": 100}]),
        json!({}),
    )
    .await
    .as_i64()
    .unwrap();
    (partner, product)
}

/// A confirmed order for `qty` of the product, invoiced and posted: (order, invoice).
async fn sale_invoice(a: SocketAddr, partner: i64, product: i64, qty: f64) -> (i64, i64) {
    let so = call(
        a,
        "sale.order",
        "create",
        json!([{"partner_id": partner, "client_order_ref": "REF-1",
                "order_line": [[0, 0, {"product_id": product, "product_uom_qty": qty}]]}]),
        json!({}),
    )
    .await
    .as_i64()
    .unwrap();
    call(a, "sale.order", "action_confirm", json!([[so]]), json!({})).await;
    let c = ctx("sale.order", &[so]);
    let w = call(
        a,
        "sale.advance.payment.inv",
        "create",
        json!([{"advance_payment_method": "delivered"}]),
        c.clone(),
    )
    .await;
    let act = call(
        a,
        "sale.advance.payment.inv",
        "create_invoices",
        json!([[w]]),
        c,
    )
    .await;
    let inv = act["res_id"].as_i64().unwrap();
    call(a, "account.move", "action_post", json!([[inv]]), json!({})).await;
    (so, inv)
}

/// A posted invoice made directly (no sale order).
async fn direct_invoice(a: SocketAddr, partner: i64, product: i64, qty: f64) -> i64 {
    let inv = call(
        a,
        "account.move",
        "create",
        json!([{"move_type": "out_invoice", "partner_id": partner,
                "invoice_line_ids": [[0, 0, {"product_id": product, "quantity": qty}]]}]),
        json!({}),
    )
    .await
    .as_i64()
    .unwrap();
    call(a, "account.move", "action_post", json!([[inv]]), json!({})).await;
    inv
}

/// Register a payment (optionally partial) on a move as admin: the action.
async fn pay(a: SocketAddr, mv: i64, journal: i64, amount: Option<f64>) -> Value {
    let mut vals = json!({"journal_id": journal});
    if let Some(x) = amount {
        vals["amount"] = json!(x);
    }
    let w = call(
        a,
        "account.payment.register",
        "create",
        json!([vals]),
        ctx("account.move", &[mv]),
    )
    .await;
    call(
        a,
        "account.payment.register",
        "action_create_payments",
        json!([[w]]),
        json!({}),
    )
    .await
}

#[tokio::test]
async fn payments_leave_paid_partial_and_payment_states() {
    let sb = sandbox(Options::default()).await;
    let a = sb.addr();
    let (partner, product) = customer_and_service(a).await;
    let inv = direct_invoice(a, partner, product, 2.0).await;
    let m = read1(
        a,
        "account.move",
        inv,
        &[
            "name",
            "payment_reference",
            "currency_id",
            "line_ids",
            "invoice_line_ids",
        ],
    )
    .await;
    assert_eq!(m["payment_reference"], m["name"]);
    assert_eq!(m["currency_id"], json!([3, "SAR"]));
    // One product line and the receivable line.
    assert_eq!(m["invoice_line_ids"].as_array().unwrap().len(), 1);
    assert_eq!(m["line_ids"].as_array().unwrap().len(), 2);

    // Wizard defaults (P14).
    let w = call(
        a,
        "account.payment.register",
        "create",
        json!([{"journal_id": 7, "amount": 100}]),
        ctx("account.move", &[inv]),
    )
    .await;
    let wr = read1(
        a,
        "account.payment.register",
        w.as_i64().unwrap(),
        &[
            "amount",
            "communication",
            "payment_method_line_id",
            "payment_type",
            "source_amount",
            "payment_difference",
            "line_ids",
        ],
    )
    .await;
    assert_eq!(wr["communication"], m["name"]);
    assert_eq!(
        wr["payment_method_line_id"],
        json!([4, "Manual Payment (Cash)"])
    );
    assert_eq!(wr["payment_type"], "inbound");
    assert_eq!(f(&wr["source_amount"]), 230.0);
    assert_eq!(f(&wr["payment_difference"]), 130.0);
    assert_eq!(wr["line_ids"].as_array().unwrap().len(), 1);
    let act = call(
        a,
        "account.payment.register",
        "action_create_payments",
        json!([[w]]),
        json!({}),
    )
    .await;
    let p1 = act["res_id"].as_i64().unwrap();
    assert_eq!(
        act,
        json!({"name": "Payments", "type": "ir.actions.act_window", "res_model": "account.payment",
               "context": {"create": false}, "view_mode": "form", "res_id": p1})
    );
    let m = read1(
        a,
        "account.move",
        inv,
        &["amount_residual", "payment_state", "matched_payment_ids"],
    )
    .await;
    assert_eq!(
        (f(&m["amount_residual"]), m["payment_state"].as_str()),
        (130.0, Some("partial"))
    );
    assert_eq!(m["matched_payment_ids"], json!([p1]));
    let p = read1(
        a,
        "account.payment",
        p1,
        &[
            "state",
            "is_reconciled",
            "is_matched",
            "outstanding_account_id",
            "name",
            "memo",
        ],
    )
    .await;
    assert_eq!(p["state"], "in_process");
    assert_eq!(p["is_reconciled"], true);
    assert_eq!(p["is_matched"], false);
    assert_eq!(
        p["outstanding_account_id"],
        json!([49, "101403 Outstanding Receipts"])
    );
    assert!(p["name"].as_str().unwrap().starts_with("PCSH1/"), "{p}");

    // The rest by bank: the invoice is "paid" (Community), both payments "paid".
    let act = pay(a, inv, 6, None).await;
    let p2 = act["res_id"].as_i64().unwrap();
    let m = read1(
        a,
        "account.move",
        inv,
        &["amount_residual", "payment_state", "matched_payment_ids"],
    )
    .await;
    assert_eq!(
        (f(&m["amount_residual"]), m["payment_state"].as_str()),
        (0.0, Some("paid"))
    );
    assert_eq!(m["matched_payment_ids"], json!([p1, p2]));
    for p in [p1, p2] {
        assert_eq!(
            read1(a, "account.payment", p, &["state"]).await["state"],
            "paid"
        );
    }
    // A second registration: nothing left to pay (P20), at create.
    let e = call_env(
        a,
        "account.payment.register",
        "create",
        json!([{"journal_id": 6}]),
        ctx("account.move", &[inv]),
    )
    .await;
    assert_eq!(
        err(&e),
        ("odoo.exceptions.UserError".into(), "You can't register a payment because there is nothing left to pay on the selected journal items.".into())
    );
    // No context (P12).
    let e = call_env(
        a,
        "account.payment.register",
        "create",
        json!([{"journal_id": 6}]),
        json!({}),
    )
    .await;
    assert_eq!(
        err(&e),
        ("odoo.exceptions.UserError".into(), "The register payment wizard should only be called on account.move or account.move.line records.".into())
    );
    // account.payment has memo, not ref, in 18 (P19).
    let e = call_env(
        a,
        "account.payment",
        "search_read",
        json!([[["ref", "=", "x"]]]),
        json!({"fields": ["name"]}),
    )
    .await;
    assert_eq!(
        err(&e),
        (
            "builtins.ValueError".into(),
            "Invalid field account.payment.ref in leaf ('ref', '=', 'x')".into()
        )
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn enterprise_accounting_shows_in_payment() {
    let sb = sandbox(Options {
        in_payment_state: true,
        ..Options::default()
    })
    .await;
    let a = sb.addr();
    let (partner, product) = customer_and_service(a).await;
    let inv = direct_invoice(a, partner, product, 1.0).await;
    let act = pay(a, inv, 6, None).await;
    assert_eq!(
        read1(a, "account.move", inv, &["payment_state"]).await["payment_state"],
        "in_payment"
    );
    let pay_id = act["res_id"].as_i64().unwrap();
    assert_eq!(
        read1(a, "account.payment", pay_id, &["state"]).await["state"],
        "in_process"
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn sender_email_rule() {
    let sb = sandbox(Options {
        extra_users: vec![connector()],
        users_without_email: vec!["connector".into()],
        ..Options::default()
    })
    .await;
    let a = sb.addr();
    assert_eq!(read1(a, "res.users", 6, &["email"]).await["email"], false);
    assert_eq!(
        read1(a, "res.users", 2, &["email"]).await["email"],
        "admin@yourcompany.example.com"
    );
    let (partner, product) = customer_and_service(a).await;
    let (_, inv) = sale_invoice(a, partner, product, 2.0).await;

    // Full payment of a sale's invoice as a user without email: refused, rolled back.
    let payments_before = sb.inspect().count("account.payment", json!([])).unwrap();
    let w = as_connector(
        a,
        "account.payment.register",
        "create",
        json!([{"journal_id": 6}]),
        ctx("account.move", &[inv]),
    )
    .await;
    let w = w["result"].as_i64().expect("wizard");
    let e = as_connector(
        a,
        "account.payment.register",
        "action_create_payments",
        json!([[w]]),
        json!({}),
    )
    .await;
    assert_eq!(
        err(&e),
        ("odoo.exceptions.UserError".into(), EMAIL_ERROR.into())
    );
    assert_eq!(
        sb.inspect().count("account.payment", json!([])).unwrap(),
        payments_before
    );
    assert_eq!(
        read1(a, "account.move", inv, &["payment_state"]).await["payment_state"],
        "not_paid"
    );
    // A partial payment posts nothing: fine.
    let w2 = as_connector(
        a,
        "account.payment.register",
        "create",
        json!([{"journal_id": 6, "amount": 30}]),
        ctx("account.move", &[inv]),
    )
    .await;
    let e = as_connector(
        a,
        "account.payment.register",
        "action_create_payments",
        json!([[w2["result"]]]),
        json!({}),
    )
    .await;
    assert!(e.get("result").is_some(), "{e}");
    // The wizard made before survives; once the user has an email address it goes through.
    let r = post_json(
        a,
        "/_sandbox/users/email",
        &json!({"login": "connector", "email": "bot@example.com"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"login": "connector", "uid": 6, "email": "bot@example.com"})
    );
    assert_eq!(
        read1(a, "res.users", 6, &["email"]).await["email"],
        "bot@example.com"
    );
    let w3 = as_connector(
        a,
        "account.payment.register",
        "create",
        json!([{"journal_id": 6}]),
        ctx("account.move", &[inv]),
    )
    .await;
    let ok = as_connector(
        a,
        "account.payment.register",
        "action_create_payments",
        json!([[w3["result"]]]),
        json!({}),
    )
    .await;
    assert_eq!(ok["result"]["res_model"], "account.payment", "{ok}");
    assert_eq!(
        read1(a, "account.move", inv, &["payment_state"]).await["payment_state"],
        "paid"
    );

    // An invoice without a sale order is paid in full without a chatter post.
    post_json(
        a,
        "/_sandbox/users/email",
        &json!({"login": "connector", "email": null}),
    )
    .await
    .unwrap();
    let inv2 = direct_invoice(a, partner, product, 1.0).await;
    let w = as_connector(
        a,
        "account.payment.register",
        "create",
        json!([{"journal_id": 6}]),
        ctx("account.move", &[inv2]),
    )
    .await;
    let ok = as_connector(
        a,
        "account.payment.register",
        "action_create_payments",
        json!([[w["result"]]]),
        json!({}),
    )
    .await;
    assert!(ok.get("result").is_some(), "{ok}");
    let r = post_json(a, "/_sandbox/users/email", &json!({"login": "nobody"}))
        .await
        .unwrap();
    assert_eq!(r.status, 404);
    sb.shutdown().await;
}

#[tokio::test]
async fn the_login_user_has_an_email_unless_told_otherwise() {
    let sb = sandbox(Options::default()).await;
    let a = sb.addr();
    let (partner, product) = customer_and_service(a).await;
    let (_, inv) = sale_invoice(a, partner, product, 1.0).await;
    pay(a, inv, 6, None).await;
    assert_eq!(
        read1(a, "account.move", inv, &["payment_state"]).await["payment_state"],
        "paid"
    );
    sb.shutdown().await;

    let sb = sandbox(Options {
        users_without_email: vec!["admin".into()],
        ..Options::default()
    })
    .await;
    let a = sb.addr();
    assert_eq!(read1(a, "res.users", 2, &["email"]).await["email"], false);
    let (partner, product) = customer_and_service(a).await;
    let (_, inv) = sale_invoice(a, partner, product, 1.0).await;
    let w = call(
        a,
        "account.payment.register",
        "create",
        json!([{}]),
        ctx("account.move", &[inv]),
    )
    .await;
    let e = call_env(
        a,
        "account.payment.register",
        "action_create_payments",
        json!([[w]]),
        json!({}),
    )
    .await;
    assert_eq!(err(&e).1, EMAIL_ERROR);
    sb.shutdown().await;
}

#[tokio::test]
async fn credit_notes_full_partial_and_refund_payments() {
    let sb = sandbox(Options::default()).await;
    let a = sb.addr();
    let (partner, product) = customer_and_service(a).await;

    // Full refund of an unpaid invoice: the invoice is "reversed", the credit note "paid".
    let inv = direct_invoice(a, partner, product, 2.0).await;
    let name = read1(a, "account.move", inv, &["name"]).await["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let w = call(
        a,
        "account.move.reversal",
        "create",
        json!([{"reason": "broken", "journal_id": 1}]),
        ctx("account.move", &[inv]),
    )
    .await;
    let act = call(
        a,
        "account.move.reversal",
        "refund_moves",
        json!([[w]]),
        json!({}),
    )
    .await;
    let cn = act["res_id"].as_i64().unwrap();
    assert_eq!(
        act,
        json!({"name": "Reverse Moves", "type": "ir.actions.act_window", "res_model": "account.move",
               "view_mode": "form", "res_id": cn, "context": {"default_move_type": "out_refund"}})
    );
    let c = read1(
        a,
        "account.move",
        cn,
        &[
            "name",
            "state",
            "move_type",
            "ref",
            "reversed_entry_id",
            "amount_total",
            "display_name",
        ],
    )
    .await;
    assert_eq!(c["name"], false);
    assert_eq!(c["state"], "draft");
    assert_eq!(c["move_type"], "out_refund");
    assert_eq!(c["ref"], format!("Reversal of: {name}, broken"));
    assert_eq!(c["reversed_entry_id"], json!([inv, name]));
    assert_eq!(
        c["display_name"],
        format!("Draft Credit Note (* {cn}) (Reversal of: {name}, broken)")
    );
    // A draft move cannot be reversed (R5).
    let e = call_env(
        a,
        "account.move.reversal",
        "create",
        json!([{"journal_id": 1}]),
        ctx("account.move", &[cn]),
    )
    .await;
    assert_eq!(
        err(&e),
        (
            "odoo.exceptions.UserError".into(),
            "You can only reverse posted moves.".into()
        )
    );
    call(a, "account.move", "action_post", json!([[cn]]), json!({})).await;
    let both = call(
        a,
        "account.move",
        "read",
        json!([[inv, cn]]),
        json!({"fields": ["payment_state", "amount_residual", "reversal_move_ids"]}),
    )
    .await;
    assert_eq!(both[0]["payment_state"], "reversed");
    assert_eq!(both[0]["reversal_move_ids"], json!([cn]));
    assert_eq!(both[1]["payment_state"], "paid");
    assert_eq!(f(&both[1]["amount_residual"]), 0.0);

    // Partial refund (one of two units) of a partly paid invoice (R10-R15).
    let inv = direct_invoice(a, partner, product, 2.0).await;
    pay(a, inv, 7, Some(100.0)).await;
    let w = call(
        a,
        "account.move.reversal",
        "create",
        json!([{"reason": "one back", "journal_id": 1}]),
        ctx("account.move", &[inv]),
    )
    .await;
    let cn = call(
        a,
        "account.move.reversal",
        "refund_moves",
        json!([[w]]),
        json!({}),
    )
    .await["res_id"]
        .as_i64()
        .unwrap();
    let line = read1(a, "account.move", cn, &["invoice_line_ids"]).await["invoice_line_ids"][0]
        .as_i64()
        .unwrap();
    call(
        a,
        "account.move",
        "write",
        json!([[cn], {"invoice_line_ids": [[1, line, {"quantity": 1}]]}]),
        json!({}),
    )
    .await;
    assert_eq!(
        f(&read1(a, "account.move", cn, &["amount_total"]).await["amount_total"]),
        115.0
    );
    call(a, "account.move", "action_post", json!([[cn]]), json!({})).await;
    let both = call(
        a,
        "account.move",
        "read",
        json!([[inv, cn]]),
        json!({"fields": ["payment_state", "amount_residual"]}),
    )
    .await;
    assert_eq!(
        (
            f(&both[0]["amount_residual"]),
            both[0]["payment_state"].as_str()
        ),
        (15.0, Some("partial"))
    );
    assert_eq!(
        (
            f(&both[1]["amount_residual"]),
            both[1]["payment_state"].as_str()
        ),
        (0.0, Some("paid"))
    );

    // Refund of a paid invoice: the credit note stays open and is paid out (R4-R9).
    let inv = direct_invoice(a, partner, product, 1.0).await;
    pay(a, inv, 6, None).await;
    let w = call(
        a,
        "account.move.reversal",
        "create",
        json!([{"journal_id": 1}]),
        ctx("account.move", &[inv]),
    )
    .await;
    let cn = call(
        a,
        "account.move.reversal",
        "refund_moves",
        json!([[w]]),
        json!({}),
    )
    .await["res_id"]
        .as_i64()
        .unwrap();
    call(a, "account.move", "action_post", json!([[cn]]), json!({})).await;
    let c = read1(
        a,
        "account.move",
        cn,
        &["payment_state", "amount_residual", "ref"],
    )
    .await;
    assert_eq!(
        (c["payment_state"].as_str(), f(&c["amount_residual"])),
        (Some("not_paid"), 115.0)
    );
    let w = call(
        a,
        "account.payment.register",
        "create",
        json!([{"journal_id": 6}]),
        ctx("account.move", &[cn]),
    )
    .await;
    let wr = read1(
        a,
        "account.payment.register",
        w.as_i64().unwrap(),
        &["payment_type", "communication", "payment_method_line_id"],
    )
    .await;
    assert_eq!(wr["payment_type"], "outbound");
    assert_eq!(wr["communication"], c["ref"]);
    assert_eq!(
        wr["payment_method_line_id"],
        json!([2, "Manual Payment (Bank)"])
    );
    let p = call(
        a,
        "account.payment.register",
        "action_create_payments",
        json!([[w]]),
        json!({}),
    )
    .await["res_id"]
        .as_i64()
        .unwrap();
    let pr = read1(
        a,
        "account.payment",
        p,
        &[
            "payment_type",
            "state",
            "memo",
            "outstanding_account_id",
            "reconciled_invoice_ids",
        ],
    )
    .await;
    assert_eq!(pr["payment_type"], "outbound");
    assert_eq!(pr["state"], "paid");
    assert_eq!(pr["memo"], c["ref"]);
    assert_eq!(
        pr["outstanding_account_id"],
        json!([50, "101404 Outstanding Payments"])
    );
    assert_eq!(pr["reconciled_invoice_ids"], json!([cn]));
    let both = call(
        a,
        "account.move",
        "read",
        json!([[inv, cn]]),
        json!({"fields": ["payment_state"]}),
    )
    .await;
    assert_eq!(both[0]["payment_state"], "paid");
    assert_eq!(both[1]["payment_state"], "paid");

    // modify_moves: the invoice reversed in full and a new draft invoice.
    let inv = direct_invoice(a, partner, product, 1.0).await;
    let w = call(
        a,
        "account.move.reversal",
        "create",
        json!([{"journal_id": 1}]),
        ctx("account.move", &[inv]),
    )
    .await;
    let act = call(
        a,
        "account.move.reversal",
        "modify_moves",
        json!([[w]]),
        json!({}),
    )
    .await;
    let new = act["res_id"].as_i64().unwrap();
    assert_eq!(act["context"], json!({"default_move_type": "out_invoice"}));
    let n = read1(
        a,
        "account.move",
        new,
        &["state", "move_type", "amount_total"],
    )
    .await;
    assert_eq!(
        (
            n["state"].as_str(),
            n["move_type"].as_str(),
            f(&n["amount_total"])
        ),
        (Some("draft"), Some("out_invoice"), 115.0)
    );
    assert_eq!(
        read1(a, "account.move", inv, &["payment_state"]).await["payment_state"],
        "reversed"
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn refund_moves_on_sale_invoices_and_older_versions() {
    // A sale invoice's credit note keeps the sale lines: the order has something to invoice again
    // until the credit note is cancelled, and its posting reconciles it (sale's paid hook).
    let sb = sandbox(Options {
        extra_users: vec![connector()],
        users_without_email: vec!["connector".into()],
        ..Options::default()
    })
    .await;
    let a = sb.addr();
    let (partner, product) = customer_and_service(a).await;
    let (so, inv) = sale_invoice(a, partner, product, 2.0).await;
    let w = as_connector(
        a,
        "account.move.reversal",
        "create",
        json!([{"journal_id": 1}]),
        ctx("account.move", &[inv]),
    )
    .await;
    let act = as_connector(
        a,
        "account.move.reversal",
        "refund_moves",
        json!([[w["result"]]]),
        json!({}),
    )
    .await;
    let cn = act["result"]["res_id"].as_i64().expect("credit note");
    let line = read1(
        a,
        "sale.order.line",
        call(
            a,
            "sale.order",
            "read",
            json!([[so]]),
            json!({"fields": ["order_line"]}),
        )
        .await[0]["order_line"][0]
            .as_i64()
            .unwrap(),
        &["qty_invoiced"],
    )
    .await;
    assert_eq!(f(&line["qty_invoiced"]), 0.0);
    // Posting it reconciles the (unpaid) sale invoice to "reversed" and the credit note to
    // "paid": sale's hook posts on the order, which a user without an email cannot.
    let e = as_connector(a, "account.move", "action_post", json!([[cn]]), json!({})).await;
    assert_eq!(err(&e).1, EMAIL_ERROR);
    call(a, "account.move", "action_post", json!([[cn]]), json!({})).await;
    assert_eq!(
        read1(a, "account.move", inv, &["payment_state"]).await["payment_state"],
        "reversed"
    );
    sb.shutdown().await;

    // 16: refund_method on the wizard, reverse_moves; 17 and 19: refund_moves; payments
    // "posted" before 18.
    for v in [Version::V16, Version::V17, Version::V19] {
        let sb = sandbox(Options {
            version: v,
            ..Options::default()
        })
        .await;
        let a = sb.addr();
        let (partner, product) = customer_and_service(a).await;
        let inv = direct_invoice(a, partner, product, 1.0).await;
        let w = call(
            a,
            "account.move.reversal",
            "create",
            json!([{"journal_id": 1}]),
            ctx("account.move", &[inv]),
        )
        .await;
        let act = if v == Version::V16 {
            call(
                a,
                "account.move.reversal",
                "write",
                json!([[w], {"refund_method": "cancel"}]),
                json!({}),
            )
            .await;
            call(
                a,
                "account.move.reversal",
                "reverse_moves",
                json!([[w]]),
                json!({}),
            )
            .await
        } else {
            call(
                a,
                "account.move.reversal",
                "refund_moves",
                json!([[w]]),
                json!({}),
            )
            .await
        };
        let cn = act["res_id"].as_i64().unwrap();
        if v >= Version::V17 {
            call(a, "account.move", "action_post", json!([[cn]]), json!({})).await;
        }
        let reversal_field = if v >= Version::V18 {
            "reversal_move_ids"
        } else {
            "reversal_move_id"
        };
        let m = call(
            a,
            "account.move",
            "read",
            json!([[inv, cn]]),
            json!({"fields": ["payment_state", reversal_field]}),
        )
        .await;
        assert_eq!(m[0]["payment_state"], "reversed", "{v}");
        assert_eq!(m[0][reversal_field], json!([cn]), "{v}");
        assert_eq!(m[1]["payment_state"], "paid", "{v}");
        let inv = direct_invoice(a, partner, product, 1.0).await;
        let p = pay(a, inv, 6, None).await["res_id"].as_i64().unwrap();
        let (memo, state) = if v >= Version::V18 {
            ("memo", "paid")
        } else {
            ("ref", "posted")
        };
        let pr = read1(a, "account.payment", p, &["state", memo, "name"]).await;
        assert_eq!(pr["state"], state, "{v}");
        let prefix = if v == Version::V16 { "BNK1/" } else { "PBNK1/" };
        assert!(
            pr["name"].as_str().unwrap().starts_with(prefix),
            "{v}: {pr}"
        );
        sb.shutdown().await;
    }
}

#[tokio::test]
async fn currencies_pricelists_and_rates() {
    let sb = sandbox(Options {
        extra_users: vec![connector()],
        ..Options::default()
    })
    .await;
    let a = sb.addr();
    // The default pricelist is in the company's currency (SAR) unless told otherwise.
    let pl = call(
        a,
        "product.pricelist",
        "search_read",
        json!([[]]),
        json!({"fields": ["name", "currency_id", "display_name"]}),
    )
    .await;
    assert_eq!(
        pl,
        json!([{"id": 1, "name": "Default", "currency_id": [3, "SAR"], "display_name": "Default (SAR)"}])
    );
    // res.currency: readable with active_test false, writable by administrators only (C4).
    let cur = call(a, "res.currency", "search_read", json!([[["name", "in", ["USD", "SAR", "EUR"]]]]), json!({"fields": ["name", "active", "rate", "position"], "context": {"active_test": false}})).await;
    assert_eq!(
        cur,
        json!([
            {"id": 3, "name": "SAR", "active": true, "rate": 1.0, "position": "after"},
            {"id": 2, "name": "USD", "active": true, "rate": 1.0, "position": "before"},
            {"id": 1, "name": "EUR", "active": false, "rate": 1.0, "position": "after"},
        ])
    );
    let e = as_connector(
        a,
        "res.currency",
        "write",
        json!([[1], {"active": true}]),
        json!({}),
    )
    .await;
    assert_eq!(
        err(&e),
        ("odoo.exceptions.AccessError".into(), "You are not allowed to modify 'Currency' (res.currency) records.\n\nThis operation is allowed for the following groups:\n\t- Administration/Settings\n\t- Invoicing/Administrator\n\nContact your administrator to request access if necessary.".into())
    );
    call(
        a,
        "res.currency",
        "write",
        json!([[1], {"active": true}]),
        json!({}),
    )
    .await;

    // An order on a USD pricelist is in USD whatever currency_id says (C13/C14); with a rate
    // (3.75 SAR per USD) prices are converted from the company currency.
    call(
        a,
        "res.currency.rate",
        "create",
        json!([{"currency_id": 3, "rate": 3.75, "name": "2000-01-01"}]),
        json!({}),
    )
    .await;
    assert_eq!(
        read1(a, "res.currency", 2, &["rate"]).await["rate"],
        json!(1.0 / 3.75)
    );
    let usd = call(
        a,
        "product.pricelist",
        "create",
        json!([{"name": "USD", "currency_id": 2}]),
        json!({}),
    )
    .await;
    let (partner, product) = customer_and_service(a).await;
    let so = call(
        a,
        "sale.order",
        "create",
        json!([{"partner_id": partner, "pricelist_id": usd, "currency_id": 3,
        "order_line": [[0, 0, {"product_id": product, "product_uom_qty": 1}]]}]),
        json!({}),
    )
    .await
    .as_i64()
    .unwrap();
    let o = read1(
        a,
        "sale.order",
        so,
        &[
            "pricelist_id",
            "currency_id",
            "currency_rate",
            "amount_untaxed",
            "amount_total",
        ],
    )
    .await;
    assert_eq!(o["pricelist_id"], json!([usd, "USD (USD)"]));
    assert_eq!(o["currency_id"], json!([2, "USD"]));
    assert_eq!(f(&o["currency_rate"]), 1.0 / 3.75);
    assert_eq!(f(&o["amount_untaxed"]), 26.67);
    call(a, "sale.order", "action_confirm", json!([[so]]), json!({})).await;
    let c = ctx("sale.order", &[so]);
    let w = call(
        a,
        "sale.advance.payment.inv",
        "create",
        json!([{"advance_payment_method": "delivered"}]),
        c.clone(),
    )
    .await;
    let inv = call(
        a,
        "sale.advance.payment.inv",
        "create_invoices",
        json!([[w]]),
        c,
    )
    .await["res_id"]
        .as_i64()
        .unwrap();
    let m = read1(
        a,
        "account.move",
        inv,
        &[
            "currency_id",
            "company_currency_id",
            "invoice_currency_rate",
            "amount_total",
            "amount_total_signed",
            "amount_total_in_currency_signed",
        ],
    )
    .await;
    assert_eq!(m["currency_id"], json!([2, "USD"]));
    assert_eq!(m["company_currency_id"], json!([3, "SAR"]));
    assert_eq!(f(&m["amount_total"]), 30.67);
    assert_eq!(f(&m["amount_total_in_currency_signed"]), 30.67);
    assert_eq!(f(&m["amount_total_signed"]), 115.01);
    sb.shutdown().await;

    // The recorded database: the default pricelist in USD.
    let sb = sandbox(Options {
        pricelist_currency: Some("usd".into()),
        ..Options::default()
    })
    .await;
    let a = sb.addr();
    assert_eq!(
        read1(a, "product.pricelist", 1, &["currency_id"]).await["currency_id"],
        json!([2, "USD"])
    );
    let (partner, product) = customer_and_service(a).await;
    let so = call(
        a,
        "sale.order",
        "create",
        json!([{"partner_id": partner, "order_line": [[0, 0, {"product_id": product}]]}]),
        json!({}),
    )
    .await
    .as_i64()
    .unwrap();
    assert_eq!(
        read1(a, "sale.order", so, &["currency_id"]).await["currency_id"],
        json!([2, "USD"])
    );
    sb.shutdown().await;
    assert!(
        odoo_sandbox::spawn(Options {
            pricelist_currency: Some("XYZ".into()),
            ..Options::default()
        })
        .await
        .is_err()
    );
}

#[tokio::test]
async fn product_variants() {
    let sb = sandbox(Options::default()).await;
    let a = sb.addr();
    let size = call(
        a,
        "product.attribute",
        "create",
        json!([{"name": "Size", "create_variant": "always",
        "value_ids": [[0, 0, {"name": "S"}], [0, 0, {"name": "M"}]]}]),
        json!({}),
    )
    .await
    .as_i64()
    .unwrap();
    let color = call(
        a,
        "product.attribute",
        "create",
        json!([{"name": "Color",
        "value_ids": [[0, 0, {"name": "Red"}], [0, 0, {"name": "Blue"}]]}]),
        json!({}),
    )
    .await
    .as_i64()
    .unwrap();
    let vals = |attr: i64| async move {
        call(
            a,
            "product.attribute.value",
            "search",
            json!([[["attribute_id", "=", attr]]]),
            json!({}),
        )
        .await
    };
    let (sizes, colors) = (vals(size).await, vals(color).await);
    let tmpl = call(
        a,
        "product.template",
        "create",
        json!([{"name": "Shirt", "list_price": 20, "default_code": "IGNORED",
        "attribute_line_ids": [[0, 0, {"attribute_id": size, "value_ids": [[6, 0, sizes]]}],
                               [0, 0, {"attribute_id": color, "value_ids": [[6, 0, colors]]}]]}]),
        json!({}),
    )
    .await
    .as_i64()
    .unwrap();
    let variants = call(
        a,
        "product.product",
        "search_read",
        json!([[["product_tmpl_id", "=", tmpl]]]),
        json!({"fields": ["display_name", "default_code", "combination_indices"]}),
    )
    .await;
    let names: Vec<&str> = variants
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["display_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Shirt (S, Red)",
            "Shirt (S, Blue)",
            "Shirt (M, Red)",
            "Shirt (M, Blue)"
        ]
    );
    // Several variants: the template's code is not theirs.
    assert!(
        variants
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["default_code"] == false)
    );
    let t = read1(
        a,
        "product.template",
        tmpl,
        &["default_code", "product_variant_count", "display_name"],
    )
    .await;
    assert_eq!(
        (
            t["default_code"].clone(),
            t["product_variant_count"].clone(),
            t["display_name"].clone()
        ),
        (json!(false), json!(4), json!("Shirt"))
    );

    // price_extra on the template value; lst_price writes the template's list_price.
    let ptav = call(
        a,
        "product.template.attribute.value",
        "search_read",
        json!([[["product_tmpl_id", "=", tmpl], ["name", "=", "M"]]]),
        json!({"fields": ["ptav_product_variant_ids"]}),
    )
    .await;
    call(
        a,
        "product.template.attribute.value",
        "write",
        json!([[ptav[0]["id"]], {"price_extra": 5}]),
        json!({}),
    )
    .await;
    let m_red = ptav[0]["ptav_product_variant_ids"][0].as_i64().unwrap();
    let s_red = variants[0]["id"].as_i64().unwrap();
    call(
        a,
        "product.product",
        "write",
        json!([[m_red], {"lst_price": 30, "default_code": "SH-M-R", "barcode": "111"}]),
        json!({}),
    )
    .await;
    let v = call(
        a,
        "product.product",
        "read",
        json!([[s_red, m_red]]),
        json!({"fields": ["lst_price", "list_price", "display_name"]}),
    )
    .await;
    assert_eq!(
        (
            f(&v[0]["lst_price"]),
            f(&v[1]["lst_price"]),
            f(&v[0]["list_price"])
        ),
        (25.0, 30.0, 25.0)
    );
    assert_eq!(v[1]["display_name"], "[SH-M-R] Shirt (M, Red)");
    // Barcodes are unique across variants.
    let e = call_env(
        a,
        "product.product",
        "write",
        json!([[s_red], {"barcode": "111"}]),
        json!({}),
    )
    .await;
    assert_eq!(err(&e).0, "odoo.exceptions.ValidationError");
    // An order line on a variant: its price and name.
    let partner = call(
        a,
        "res.partner",
        "create",
        json!([{"name": "P"}]),
        json!({}),
    )
    .await;
    let so = call(
        a,
        "sale.order",
        "create",
        json!([{"partner_id": partner, "order_line": [[0, 0, {"product_id": m_red}]]}]),
        json!({}),
    )
    .await;
    let l = call(
        a,
        "sale.order.line",
        "search_read",
        json!([[["order_id", "=", so]]]),
        json!({"fields": ["price_unit", "name", "product_template_id"]}),
    )
    .await;
    assert_eq!(
        (f(&l[0]["price_unit"]), l[0]["name"].as_str()),
        (30.0, Some("[SH-M-R] Shirt (M, Red)"))
    );
    assert_eq!(l[0]["product_template_id"], json!([tmpl, "Shirt"]));

    // Dropping a value: unused variants go, the ordered one is archived; adding it back
    // reactivates that one.
    let line = call(
        a,
        "product.template.attribute.line",
        "search",
        json!([[["product_tmpl_id", "=", tmpl], ["attribute_id", "=", color]]]),
        json!({}),
    )
    .await[0]
        .clone();
    call(
        a,
        "product.template",
        "write",
        json!([[tmpl], {"attribute_line_ids": [[1, line, {"value_ids": [[6, 0, [colors[1]]]]}]]}]),
        json!({}),
    )
    .await;
    let active = call(
        a,
        "product.product",
        "search_read",
        json!([[["product_tmpl_id", "=", tmpl]]]),
        json!({"fields": ["display_name"]}),
    )
    .await;
    let names: Vec<&str> = active
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["display_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Shirt (S)", "Shirt (M)"]);
    let archived = call(
        a,
        "product.product",
        "search_read",
        json!([[["product_tmpl_id", "=", tmpl], ["active", "=", false]]]),
        json!({"fields": ["id"]}),
    )
    .await;
    assert_eq!(archived, json!([{"id": m_red}]));
    call(
        a,
        "product.template.attribute.line",
        "write",
        json!([[line], {"value_ids": [[6, 0, colors]]}]),
        json!({}),
    )
    .await;
    let all = call(
        a,
        "product.product",
        "search",
        json!([[["product_tmpl_id", "=", tmpl]]]),
        json!({}),
    )
    .await;
    assert_eq!(all.as_array().unwrap().len(), 4);
    assert!(all.as_array().unwrap().contains(&json!(m_red)));

    // A template without attributes has one variant, which carries the template's code.
    let single = call(
        a,
        "product.template",
        "create",
        json!([{"name": "Plain", "default_code": "PL-1", "barcode": "222"}]),
        json!({}),
    )
    .await
    .as_i64()
    .unwrap();
    let v = call(
        a,
        "product.product",
        "search_read",
        json!([[["product_tmpl_id", "=", single]]]),
        json!({"fields": ["default_code", "barcode", "display_name"]}),
    )
    .await;
    assert_eq!(v[0]["default_code"], "PL-1");
    assert_eq!(v[0]["barcode"], "222");
    assert_eq!(v[0]["display_name"], "[PL-1] Plain");
    call(
        a,
        "product.template",
        "write",
        json!([[single], {"default_code": "PL-2"}]),
        json!({}),
    )
    .await;
    assert_eq!(
        read1(a, "product.template", single, &["default_code"]).await["default_code"],
        "PL-2"
    );
    sb.shutdown().await;
}

async fn partner_of(a: SocketAddr, so: i64) -> i64 {
    read1(a, "sale.order", so, &["partner_id"]).await["partner_id"][0]
        .as_i64()
        .unwrap()
}

async fn delivered_order(a: SocketAddr, v: Version, qty: f64) -> (i64, i64, i64) {
    let storable = if v >= Version::V18 {
        json!({"name": "Widget", "default_code": "W", "type": "consu", "is_storable": true, "invoice_policy": "delivery"})
    } else {
        json!({"name": "Widget", "default_code": "W", "detailed_type": "product", "invoice_policy": "delivery"})
    };
    let product = call(a, "product.product", "create", json!([storable]), json!({}))
        .await
        .as_i64()
        .unwrap();
    let ictx = json!({"context": {"inventory_mode": true}});
    let q = call(
        a,
        "stock.quant",
        "create",
        json!([{"product_id": product, "location_id": 8, "inventory_quantity": 10}]),
        ictx.clone(),
    )
    .await;
    call_env(
        a,
        "stock.quant",
        "action_apply_inventory",
        json!([[q]]),
        ictx,
    )
    .await;
    let partner = call(
        a,
        "res.partner",
        "create",
        json!([{"name": "P"}]),
        json!({}),
    )
    .await;
    let so = call(a, "sale.order", "create", json!([{"partner_id": partner, "order_line": [[0, 0, {"product_id": product, "product_uom_qty": qty}]]}]), json!({})).await.as_i64().unwrap();
    call(a, "sale.order", "action_confirm", json!([[so]]), json!({})).await;
    let pick = call(
        a,
        "stock.picking",
        "search",
        json!([[["sale_id", "=", so]]]),
        json!({}),
    )
    .await[0]
        .as_i64()
        .unwrap();
    let ctx = if v == Version::V16 {
        json!({"context": {"skip_immediate": true}})
    } else {
        json!({})
    };
    assert_eq!(
        call(a, "stock.picking", "button_validate", json!([[pick]]), ctx).await,
        json!(true)
    );
    (product, so, pick)
}

#[tokio::test]
async fn stock_returns() {
    let sb = sandbox(Options {
        extra_users: vec![connector()],
        users_without_email: vec!["connector".into()],
        ..Options::default()
    })
    .await;
    let a = sb.addr();
    let (product, so, pick) = delivered_order(a, Version::V18, 3.0).await;
    // No picking in the context: ValueError (S11).
    let e = call_env(a, "stock.return.picking", "create", json!([{}]), json!({})).await;
    assert_eq!(
        err(&e),
        (
            "builtins.ValueError".into(),
            "Expected singleton: stock.picking()".into()
        )
    );
    let c = json!({"context": {"active_model": "stock.picking", "active_id": pick, "active_ids": [pick]}});
    let w = call(a, "stock.return.picking", "create", json!([{}]), c.clone())
        .await
        .as_i64()
        .unwrap();
    let lines = read1(a, "stock.return.picking", w, &["product_return_moves"]).await["product_return_moves"].clone();
    let line = lines[0].as_i64().unwrap();
    let l = read1(
        a,
        "stock.return.picking.line",
        line,
        &["quantity", "move_quantity", "to_refund", "uom_id"],
    )
    .await;
    assert_eq!(
        (
            f(&l["quantity"]),
            f(&l["move_quantity"]),
            l["to_refund"].clone()
        ),
        (0.0, 3.0, json!(true))
    );
    // A user without email fails first (S15), admin then on the quantities (S16).
    let e = as_connector(
        a,
        "stock.return.picking",
        "action_create_returns",
        json!([[w]]),
        c.clone(),
    )
    .await;
    assert_eq!(err(&e).1, EMAIL_ERROR);
    let e = call_env(
        a,
        "stock.return.picking",
        "action_create_returns",
        json!([[w]]),
        c.clone(),
    )
    .await;
    assert_eq!(
        err(&e),
        (
            "odoo.exceptions.UserError".into(),
            "Please specify at least one non-zero quantity.".into()
        )
    );
    assert_eq!(
        sb.inspect()
            .count("stock.picking", json!([["return_id", "=", pick]]))
            .unwrap(),
        0
    );
    call(
        a,
        "stock.return.picking",
        "write",
        json!([[w], {"product_return_moves": [[1, line, {"quantity": 2}]]}]),
        json!({}),
    )
    .await;
    let act = call(
        a,
        "stock.return.picking",
        "action_create_returns",
        json!([[w]]),
        c.clone(),
    )
    .await;
    let ret = act["res_id"].as_i64().unwrap();
    assert_eq!(
        act,
        json!({"name": "Returned Picking", "view_mode": "form", "res_model": "stock.picking", "res_id": ret,
                           "type": "ir.actions.act_window", "context": c["context"]})
    );
    let r = read1(
        a,
        "stock.picking",
        ret,
        &[
            "name",
            "state",
            "picking_type_code",
            "return_id",
            "origin",
            "location_id",
            "location_dest_id",
        ],
    )
    .await;
    assert!(r["name"].as_str().unwrap().starts_with("WH/IN/"), "{r}");
    assert_eq!(r["state"], "assigned");
    assert_eq!(r["picking_type_code"], "incoming");
    assert_eq!(r["return_id"][0], pick);
    assert_eq!(r["location_id"][0], 5);
    assert_eq!(r["location_dest_id"][0], 8);
    assert_eq!(
        call(
            a,
            "stock.picking",
            "button_validate",
            json!([[ret]]),
            json!({})
        )
        .await,
        json!(true)
    );
    assert_eq!(
        read1(a, "stock.picking", pick, &["return_ids"]).await["return_ids"],
        json!([ret])
    );
    assert_eq!(
        f(&read1(a, "product.product", product, &["qty_available"]).await["qty_available"]),
        9.0
    );
    let sol = call(
        a,
        "sale.order.line",
        "search_read",
        json!([[["order_id", "=", so]]]),
        json!({"fields": ["qty_delivered", "qty_to_invoice"]}),
    )
    .await;
    assert_eq!(
        (f(&sol[0]["qty_delivered"]), f(&sol[0]["qty_to_invoice"])),
        (1.0, 1.0)
    );
    // A return that is not refunded leaves the delivered quantity alone.
    let w = call(a, "stock.return.picking", "create", json!([{}]), c.clone())
        .await
        .as_i64()
        .unwrap();
    let line = read1(a, "stock.return.picking", w, &["product_return_moves"]).await["product_return_moves"][0].as_i64().unwrap();
    call(
        a,
        "stock.return.picking",
        "write",
        json!([[w], {"product_return_moves": [[1, line, {"quantity": 1, "to_refund": false}]]}]),
        json!({}),
    )
    .await;
    let ret2 = call(
        a,
        "stock.return.picking",
        "action_create_returns",
        json!([[w]]),
        c,
    )
    .await["res_id"]
        .as_i64()
        .unwrap();
    call(
        a,
        "stock.picking",
        "button_validate",
        json!([[ret2]]),
        json!({}),
    )
    .await;
    let sol = call(
        a,
        "sale.order.line",
        "search_read",
        json!([[["order_id", "=", so]]]),
        json!({"fields": ["qty_delivered"]}),
    )
    .await;
    assert_eq!(f(&sol[0]["qty_delivered"]), 1.0);
    assert_eq!(
        f(&read1(a, "product.product", product, &["qty_available"]).await["qty_available"]),
        10.0
    );
    // Only done pickings can be returned.
    let so2 = call(a, "sale.order", "create", json!([{"partner_id": partner_of(a, so).await, "order_line": [[0, 0, {"product_id": product, "product_uom_qty": 1}]]}]), json!({})).await;
    call(a, "sale.order", "action_confirm", json!([[so2]]), json!({})).await;
    let open = call(
        a,
        "stock.picking",
        "search",
        json!([[["sale_id", "=", so2]]]),
        json!({}),
    )
    .await[0]
        .clone();
    let e = call_env(a, "stock.return.picking", "create", json!([{}]),
        json!({"context": {"active_model": "stock.picking", "active_id": open, "active_ids": [open]}})).await;
    assert_eq!(
        err(&e),
        (
            "odoo.exceptions.UserError".into(),
            "You may only return Done pickings.".into()
        )
    );
    sb.shutdown().await;

    // 17: create_returns, lines start with the returnable quantity.
    let sb = sandbox(Options {
        version: Version::V17,
        ..Options::default()
    })
    .await;
    let a = sb.addr();
    let (_, _, pick) = delivered_order(a, Version::V17, 3.0).await;
    let c = json!({"context": {"active_model": "stock.picking", "active_id": pick, "active_ids": [pick]}});
    let w = call(a, "stock.return.picking", "create", json!([{}]), c.clone()).await;
    let line = read1(
        a,
        "stock.return.picking",
        w.as_i64().unwrap(),
        &["product_return_moves"],
    )
    .await["product_return_moves"][0]
        .as_i64()
        .unwrap();
    assert_eq!(
        f(&read1(a, "stock.return.picking.line", line, &["quantity"]).await["quantity"]),
        3.0
    );
    let act = call(a, "stock.return.picking", "create_returns", json!([[w]]), c).await;
    assert_eq!(act["res_model"], "stock.picking");
    sb.shutdown().await;
}

#[tokio::test]
async fn journals_and_accounts_as_seeded() {
    let sb = sandbox(Options::default()).await;
    let a = sb.addr();
    let j = call(a, "account.journal", "search_read", json!([[["type", "in", ["bank", "cash"]]]]),
        json!({"fields": ["name", "type", "code", "currency_id", "company_id", "inbound_payment_method_line_ids", "outbound_payment_method_line_ids"]})).await;
    assert_eq!(
        j,
        json!([
            {"id": 6, "name": "Bank", "type": "bank", "code": "BNK1", "currency_id": false, "company_id": [1, "My Company"], "inbound_payment_method_line_ids": [1], "outbound_payment_method_line_ids": [2]},
            {"id": 7, "name": "Cash", "type": "cash", "code": "CSH1", "currency_id": false, "company_id": [1, "My Company"], "inbound_payment_method_line_ids": [4], "outbound_payment_method_line_ids": [3]},
        ])
    );
    let c = read1(
        a,
        "res.company",
        1,
        &[
            "currency_id",
            "account_journal_payment_debit_account_id",
            "account_journal_payment_credit_account_id",
        ],
    )
    .await;
    assert_eq!(c["currency_id"], json!([3, "SAR"]));
    assert_eq!(
        c["account_journal_payment_debit_account_id"],
        json!([49, "101403 Outstanding Receipts"])
    );
    assert_eq!(
        c["account_journal_payment_credit_account_id"],
        json!([50, "101404 Outstanding Payments"])
    );
    let fg = call(
        a,
        "account.payment.register",
        "fields_get",
        json!([]),
        json!({"attributes": ["type"]}),
    )
    .await;
    let keys: Vec<&String> = fg.as_object().unwrap().keys().collect();
    assert_eq!(
        keys[..3],
        ["payment_date", "amount", "hide_writeoff_section"]
    );
    assert_eq!(keys[keys.len() - 1], "payment_method_code");
    let info: Value = common::request(a, "GET", "/_sandbox", &[], b"")
        .await
        .unwrap()
        .json();
    assert_eq!(info["users_without_email"], json!([]));
    assert_eq!(info["pricelist_currency"], Value::Null);
    sb.shutdown().await;
}
