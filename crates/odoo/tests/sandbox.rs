//! Every client operation and recipe against each version personality (16–19) of the in-memory Odoo
//! sandbox, plus the error cases of docs/odoo-api.md §8 and the sandbox's fault injection.

use std::time::Duration;

use odoo::{
    Call, Capabilities, Client, Config, Domain, ErrorClass, FaultKind, MoveQuantity,
    PaymentRequest, Record, SearchOptions, Step, StorableProduct, Transport, command, many2one_id,
    x2many_ids,
};
use odoo_sandbox::{Options, Sandbox, Version};
use serde_json::{Map, Value, json};

const VERSIONS: [(Version, u32); 4] = [
    (Version::V16, 16),
    (Version::V17, 17),
    (Version::V18, 18),
    (Version::V19, 19),
];

fn vals(v: Value) -> Map<String, Value> {
    v.as_object().cloned().expect("an object")
}

async fn start(version: Version) -> (Sandbox, Client) {
    let sandbox = odoo_sandbox::spawn(Options {
        version,
        ..Default::default()
    })
    .await
    .expect("sandbox starts");
    let client = client_for(&sandbox, "admin");
    (sandbox, client)
}

fn client_for(sandbox: &Sandbox, key: &str) -> Client {
    let mut cfg = Config::new(
        &sandbox.url().to_string(),
        "odoo",
        "admin",
        key.to_owned().into(),
    )
    .unwrap();
    cfg.request_timeout = Duration::from_secs(5);
    cfg.connect_timeout = Duration::from_secs(2);
    Client::new(cfg).unwrap()
}

fn check_capabilities(caps: &Capabilities, major: u32) {
    assert_eq!(caps.version.major, major);
    assert_eq!(
        caps.transport,
        if major >= 19 {
            Transport::Json2
        } else {
            Transport::JsonRpc
        }
    );
    let (tax, uom) = if major >= 19 {
        ("tax_ids", "product_uom_id")
    } else {
        ("tax_id", "product_uom")
    };
    assert_eq!(caps.sale_line_tax_field, tax);
    assert_eq!(caps.sale_line_uom_field, uom);
    assert_eq!(
        caps.storable,
        if major >= 18 {
            StorableProduct::IsStorable
        } else {
            StorableProduct::DetailedType
        }
    );
    assert_eq!(caps.partner_mobile, major < 19);
    assert_eq!(caps.sale_order_locked, major >= 17);
    assert_eq!(
        caps.move_quantity,
        if major >= 17 {
            MoveQuantity::QuantityPicked
        } else {
            MoveQuantity::QuantityDone
        }
    );
    assert_eq!(caps.immediate_transfer, major == 16);
}

/// Typed operations: create (one, many), search, search_read, search_count, read, write, unlink, fields_get,
/// a method with context.
async fn operations(client: &Client) {
    let a = client
        .create(
            "res.partner",
            vals(json!({"name": "Ops A", "email": "a@example.com", "ref": "OPS-A"})),
        )
        .await
        .unwrap();
    let many = client
        .create_many(
            "res.partner",
            vec![
                vals(json!({"name": "Ops B", "ref": "OPS-B"})),
                vals(json!({"name": "Ops C", "ref": "OPS-C", "parent_id": a, "type": "delivery"})),
            ],
        )
        .await
        .unwrap();
    assert_eq!(many.len(), 2);
    let ops = Domain::new().like("ref", "OPS-");
    assert_eq!(client.search_count("res.partner", &ops).await.unwrap(), 3);
    let ids = client
        .search(
            "res.partner",
            &ops,
            &SearchOptions {
                limit: Some(2),
                offset: Some(1),
                order: Some("id desc".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(ids, vec![many[0], a]);
    let rows: Vec<Record> = client
        .search_read(
            "res.partner",
            &Domain::or(
                Domain::new().eq("ref", "OPS-A"),
                Domain::new().eq("ref", "OPS-C"),
            ),
            &["name", "parent_id"],
            &SearchOptions {
                order: Some("id".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(many2one_id(&rows[1]["parent_id"]), Some(a));
    assert!(
        client
            .write("res.partner", &[a], vals(json!({"name": "Ops A2"})))
            .await
            .unwrap()
    );
    let read: Vec<Record> = client
        .read("res.partner", &[a, 999_999], &["name"])
        .await
        .unwrap();
    assert_eq!(read.len(), 1, "missing ids are left out");
    assert_eq!(read[0]["name"], "Ops A2");
    let fields = client
        .fields_get(
            "sale.order",
            Some(&["state", "partner_id"]),
            &["type", "required", "selection"],
        )
        .await
        .unwrap();
    assert_eq!(fields["partner_id"]["type"], "many2one");
    assert!(client.unlink("res.partner", &[many[0]]).await.unwrap());
    assert_eq!(client.search_count("res.partner", &ops).await.unwrap(), 2);
    // A method call with context and keyword arguments.
    let n: u64 = client
        .call_as(
            &Call::new("res.partner", "search_count")
                .arg("domain", Domain::new().eq("ref", "OPS-A"))
                .with_context("active_test", false),
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
}

struct Flow {
    product: i64,
    order: i64,
}

/// The whole order flow with every recipe run twice: the second run must be a no-op.
async fn order_flow(client: &Client, sandbox: &Sandbox, major: u32) -> Flow {
    let caps = client.capabilities().await.unwrap();
    let mut product_vals = vals(json!({"name": "Widget", "default_code": "W-1", "list_price": 25}));
    product_vals.extend(caps.storable_product_values());
    let product = client
        .create("product.product", product_vals)
        .await
        .unwrap();

    assert_eq!(
        client
            .set_stock_on_hand(product, 100.0, None)
            .await
            .unwrap(),
        Step::Done
    );
    assert_eq!(
        client
            .set_stock_on_hand(product, 100.0, None)
            .await
            .unwrap(),
        Step::AlreadyDone
    );
    let qty: Vec<Record> = client
        .read("product.product", &[product], &["qty_available"])
        .await
        .unwrap();
    assert_eq!(qty[0]["qty_available"].as_f64(), Some(100.0));

    let country: Vec<Record> = client
        .search_read(
            "res.country",
            &Domain::new().eq("code", "SA"),
            &["id"],
            &SearchOptions::limit(1),
        )
        .await
        .unwrap();
    let mut partner_vals =
        vals(json!({"name": "Customer", "email": "c@example.com", "phone": "+966500000000"}));
    if let Some(c) = country.first() {
        partner_vals.insert("country_id".into(), c["id"].clone());
    }
    if caps.partner_mobile {
        partner_vals.insert("mobile".into(), json!("+966500000001"));
    }
    let partner = client.create("res.partner", partner_vals).await.unwrap();
    let taxes = client
        .search(
            "account.tax",
            &Domain::new().eq("type_tax_use", "sale"),
            &SearchOptions::limit(1),
        )
        .await
        .unwrap();
    let mut line = vals(json!({"product_id": product, "product_uom_qty": 3, "price_unit": 25}));
    line.insert(
        caps.sale_line_tax_field.clone(),
        json!([command::set(&taxes)]),
    );
    let order = client
        .create(
            "sale.order",
            vals(
                json!({"partner_id": partner, "client_order_ref": format!("SALLA-{major}"),
                        "order_line": [command::create(line)]}),
            ),
        )
        .await
        .unwrap();

    assert_eq!(client.confirm_sale_order(order).await.unwrap(), Step::Done);
    assert_eq!(
        client.confirm_sale_order(order).await.unwrap(),
        Step::AlreadyDone
    );

    let invoicing = client.invoice_sale_order(order).await.unwrap();
    assert!(invoicing.created);
    assert_eq!(invoicing.invoice_ids.len(), 1);
    let again = client.invoice_sale_order(order).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.invoice_ids, invoicing.invoice_ids);
    let invoice = invoicing.invoice_ids[0];
    assert_eq!(client.post_invoice(invoice).await.unwrap(), Step::Done);
    assert_eq!(
        client.post_invoice(invoice).await.unwrap(),
        Step::AlreadyDone
    );
    assert_eq!(client.invoice_and_post(order).await.unwrap(), vec![invoice]);
    let inv: Vec<Record> = client
        .read(
            "account.move",
            &[invoice],
            &["state", "amount_total", "payment_state"],
        )
        .await
        .unwrap();
    assert_eq!(inv[0]["state"], "posted");
    assert_eq!(inv[0]["amount_total"].as_f64(), Some(86.25));

    let payment = client
        .register_payment(invoice, &PaymentRequest::default())
        .await
        .unwrap();
    assert_eq!(payment.step, Step::Done);
    assert!(
        matches!(payment.payment_state.as_str(), "paid" | "in_payment"),
        "{}",
        payment.payment_state
    );
    let again = client
        .register_payment(invoice, &PaymentRequest::default())
        .await
        .unwrap();
    assert_eq!(again.step, Step::AlreadyDone);

    let deliveries = client.validate_order_deliveries(order).await.unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].1, Step::Done);
    assert_eq!(
        client.validate_delivery(deliveries[0].0).await.unwrap(),
        Step::AlreadyDone
    );
    // Found again by its moves: already done, nothing written.
    assert_eq!(
        client.validate_order_deliveries(order).await.unwrap(),
        vec![(deliveries[0].0, Step::AlreadyDone)]
    );
    let qty: Vec<Record> = client
        .read("product.product", &[product], &["qty_available"])
        .await
        .unwrap();
    assert_eq!(qty[0]["qty_available"].as_f64(), Some(97.0));
    // Stock is an absolute count: setting it again after the delivery writes the new level.
    assert_eq!(
        client.set_stock_on_hand(product, 50.0, None).await.unwrap(),
        Step::Done
    );
    let qty: Vec<Record> = client
        .read("product.product", &[product], &["qty_available"])
        .await
        .unwrap();
    assert_eq!(qty[0]["qty_available"].as_f64(), Some(50.0));
    let _ = sandbox;
    Flow { product, order }
}

async fn cancel_and_shipping(client: &Client, flow: &Flow) {
    let so: Vec<Record> = client
        .read("sale.order", &[flow.order], &["partner_id"])
        .await
        .unwrap();
    let partner = many2one_id(&so[0]["partner_id"]).unwrap();
    let order = client
        .create(
            "sale.order",
            vals(json!({"partner_id": partner, "client_order_ref": "SALLA-CANCEL",
                        "order_line": [[0, 0, {"product_id": flow.product, "product_uom_qty": 1, "price_unit": 25}]]})),
        )
        .await
        .unwrap();
    // Shipping line through the carrier wizard, before confirmation.
    let caps = client.capabilities().await.unwrap();
    assert!(caps.delivery_lines);
    let type_field = match caps.storable {
        StorableProduct::DetailedType => "detailed_type",
        _ => "type",
    };
    let mut shipping = vals(json!({"name": "Shipping", "list_price": 0}));
    shipping.insert(type_field.into(), json!("service"));
    let shipping = client.create("product.product", shipping).await.unwrap();
    let carrier = client
        .create(
            "delivery.carrier",
            vals(json!({"name": "Aramex", "product_id": shipping, "delivery_type": "fixed", "fixed_price": 15})),
        )
        .await
        .unwrap();
    assert_eq!(
        client
            .add_shipping_line(order, carrier, Some(15.0))
            .await
            .unwrap(),
        Step::Done
    );
    assert_eq!(
        client
            .add_shipping_line(order, carrier, Some(15.0))
            .await
            .unwrap(),
        Step::AlreadyDone
    );
    let so: Vec<Record> = client
        .read("sale.order", &[order], &["order_line"])
        .await
        .unwrap();
    let lines = x2many_ids(&so[0]["order_line"]);
    assert_eq!(lines.len(), 2, "product line + shipping line");

    assert_eq!(client.confirm_sale_order(order).await.unwrap(), Step::Done);
    assert_eq!(client.cancel_sale_order(order).await.unwrap(), Step::Done);
    assert_eq!(
        client.cancel_sale_order(order).await.unwrap(),
        Step::AlreadyDone
    );
    let so: Vec<Record> = client
        .read("sale.order", &[order], &["state"])
        .await
        .unwrap();
    assert_eq!(so[0]["state"], "cancel");
    // A locked order (17+ `locked`, 16 state `done`) is unlocked before it is cancelled.
    let locked = client
        .create(
            "sale.order",
            vals(json!({"partner_id": partner, "client_order_ref": "SALLA-LOCKED",
                        "order_line": [[0, 0, {"product_id": flow.product, "product_uom_qty": 1, "price_unit": 25}]]})),
        )
        .await
        .unwrap();
    assert_eq!(client.confirm_sale_order(locked).await.unwrap(), Step::Done);
    let lock = if caps.sale_order_locked {
        "action_lock"
    } else {
        "action_done"
    };
    client
        .call(&Call::new("sale.order", lock).ids(&[locked]))
        .await
        .unwrap();
    assert_eq!(
        client.confirm_sale_order(locked).await.unwrap(),
        Step::AlreadyDone
    );
    assert_eq!(client.cancel_sale_order(locked).await.unwrap(), Step::Done);
    let so: Vec<Record> = client
        .read("sale.order", &[locked], &["state"])
        .await
        .unwrap();
    assert_eq!(so[0]["state"], "cancel");

    // A cancelled order cannot be confirmed: a permanent workflow error, nothing called.
    let e = client.confirm_sale_order(order).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::Permanent);
}

/// The recorded error cases (docs/odoo-api.md §16.3) on this personality, classified per §8.
async fn error_cases(client: &Client, sandbox: &Sandbox, flow: &Flow, major: u32) {
    let kind = |e: &odoo::Error| e.fault_kind();
    // Private method.
    let e = client
        .call(&Call::new("sale.order", "_get_invoiceable_lines").ids(&[flow.order]))
        .await
        .unwrap_err();
    // JSON-2 answers 404 for a private method, like for an unknown one.
    let want = if major >= 19 {
        FaultKind::UnknownMethod
    } else {
        FaultKind::AccessError
    };
    assert_eq!(kind(&e), Some(want), "{e}");
    assert_eq!(e.class(), ErrorClass::Permanent);
    // Unknown field in create, read and domain.
    let e = client
        .create(
            "res.partner",
            vals(json!({"name": "x", "no_such_field": 1})),
        )
        .await
        .unwrap_err();
    assert_eq!(kind(&e), Some(FaultKind::InvalidValue), "{e}");
    let e = client
        .read::<Record>("res.partner", &[1], &["name", "no_such_field"])
        .await
        .unwrap_err();
    assert_eq!(kind(&e), Some(FaultKind::InvalidValue), "{e}");
    let e = client
        .search(
            "res.partner",
            &Domain::new().eq("no_such_field", 1),
            &SearchOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(kind(&e), Some(FaultKind::InvalidValue), "{e}");
    // Unknown model and method.
    let e = client
        .search("no.such.model", &Domain::new(), &SearchOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Permanent, "{e}");
    if major < 19 {
        assert_eq!(kind(&e), Some(FaultKind::UnknownModel), "{e}");
    }
    let e = client
        .call(&Call::new("res.partner", "no_such_method").ids(&[1]))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Permanent, "{e}");
    if major < 19 {
        assert_eq!(kind(&e), Some(FaultKind::UnknownMethod), "{e}");
    }
    // Missing record on write.
    let e = client
        .write("res.partner", &[999_999], vals(json!({"name": "ghost"})))
        .await
        .unwrap_err();
    assert_eq!(kind(&e), Some(FaultKind::Missing), "{e}");
    // Mandatory field.
    let e = client
        .create(
            "sale.order",
            vals(json!({"client_order_ref": "no partner"})),
        )
        .await
        .unwrap_err();
    assert_eq!(kind(&e), Some(FaultKind::Validation), "{e}");
    // Storable product written the old way on 18+.
    if major >= 18 {
        let e = client
            .create(
                "product.product",
                vals(json!({"name": "bad type", "type": "product"})),
            )
            .await
            .unwrap_err();
        assert_eq!(kind(&e), Some(FaultKind::InvalidValue), "{e}");
    }
    // Posting twice; deleting a confirmed order.
    let so: Vec<Record> = client
        .read("sale.order", &[flow.order], &["invoice_ids"])
        .await
        .unwrap();
    let invoice = x2many_ids(&so[0]["invoice_ids"])[0];
    let e = client
        .call(&Call::new("account.move", "action_post").ids(&[invoice]))
        .await
        .unwrap_err();
    assert_eq!(kind(&e), Some(FaultKind::User), "{e}");
    let e = client
        .unlink("sale.order", &[flow.order])
        .await
        .unwrap_err();
    assert_eq!(kind(&e), Some(FaultKind::User), "{e}");
    assert_eq!(e.class(), ErrorClass::Permanent);
    // Wrong key: authenticate false (JSON-RPC) or 401 (JSON-2), both permanent auth errors.
    let e = client_for(sandbox, "wrong-key")
        .search_count("res.partner", &Domain::new())
        .await
        .unwrap_err();
    assert_eq!(kind(&e), Some(FaultKind::AccessDenied), "{e}");
    assert_eq!(e.class(), ErrorClass::Permanent);
    assert!(!format!("{e} {e:?}").contains("wrong-key"));
    if major < 19 {
        // Wrong key on execute_kw with a valid uid: AccessDenied.
        let e = client
            .rpc(
                "object",
                "execute_kw",
                json!(["odoo", 2, "wrong-password", "res.partner", "search_read", [[]], {"limit": 1}]),
            )
            .await
            .unwrap_err();
        assert_eq!(kind(&e), Some(FaultKind::AccessDenied), "{e}");
        assert!(!format!("{e} {e:?}").contains("wrong-password"));
        // Database that does not exist.
        let e = client
            .rpc(
                "common",
                "authenticate",
                json!(["nodb", "admin", "admin", {}]),
            )
            .await
            .unwrap_err();
        assert_eq!(kind(&e), Some(FaultKind::DatabaseMissing), "{e}");
        assert_eq!(e.class(), ErrorClass::Permanent);
        // Unknown service.
        let e = client.rpc("nope", "version", json!([])).await.unwrap_err();
        assert_eq!(kind(&e), Some(FaultKind::UnknownService), "{e}");
        assert_eq!(e.class(), ErrorClass::Permanent);
    }
}

async fn full(version: Version, major: u32) {
    let (sandbox, client) = start(version).await;
    client.health().await.unwrap();
    let caps = client.capabilities().await.unwrap();
    check_capabilities(&caps, major);
    operations(&client).await;
    let flow = order_flow(&client, &sandbox, major).await;
    cancel_and_shipping(&client, &flow).await;
    error_cases(&client, &sandbox, &flow, major).await;
    sandbox.shutdown().await;
}

#[tokio::test]
async fn v16_operations_recipes_and_errors() {
    full(VERSIONS[0].0, VERSIONS[0].1).await;
}

#[tokio::test]
async fn v17_operations_recipes_and_errors() {
    full(VERSIONS[1].0, VERSIONS[1].1).await;
}

#[tokio::test]
async fn v18_operations_recipes_and_errors() {
    full(VERSIONS[2].0, VERSIONS[2].1).await;
}

#[tokio::test]
async fn v19_operations_recipes_and_errors() {
    full(VERSIONS[3].0, VERSIONS[3].1).await;
}

// ----- fault injection ------------------------------------------------------------------------------

use odoo_sandbox::{FaultKind as Inject, Match};

fn order_vals(partner: i64, reference: &str) -> Map<String, Value> {
    vals(json!({"partner_id": partner, "client_order_ref": reference}))
}

fn count(sandbox: &Sandbox, model: &str, domain: Value) -> usize {
    sandbox.inspect().count(model, domain).unwrap()
}

async fn faults(version: Version) {
    let (sandbox, client) = start(version).await;
    let partner = client
        .create("res.partner", vals(json!({"name": "Fault Customer"})))
        .await
        .unwrap();
    let faults = sandbox.faults();

    // Serialization failure (after Odoo's own retries): transient, nothing written; the retry succeeds.
    faults.inject(
        Match::any().model("sale.order").method("create").times(1),
        Inject::SerializationFailure,
    );
    let e = client
        .create("sale.order", order_vals(partner, "F-SER"))
        .await
        .unwrap_err();
    assert_eq!(e.fault_kind(), Some(FaultKind::Concurrency), "{e}");
    assert_eq!(e.class(), ErrorClass::Transient { retry_after: None });
    assert_eq!(
        count(
            &sandbox,
            "sale.order",
            json!([["client_order_ref", "=", "F-SER"]])
        ),
        0
    );
    client
        .create("sale.order", order_vals(partner, "F-SER"))
        .await
        .unwrap();

    // 429 with Retry-After.
    faults.inject(
        Match::any().model("res.partner").times(1),
        Inject::TooManyRequests {
            retry_after_secs: 5,
        },
    );
    let e = client
        .search_count("res.partner", &Domain::new())
        .await
        .unwrap_err();
    assert_eq!(
        e.class(),
        ErrorClass::Transient {
            retry_after: Some(Duration::from_secs(5))
        }
    );

    // Proxy statuses: 503 transient; 502/504 outcome unknown (a gateway may have let the call through).
    for (status, want) in [
        (503, ErrorClass::Transient { retry_after: None }),
        (502, ErrorClass::OutcomeUnknown),
        (504, ErrorClass::OutcomeUnknown),
    ] {
        faults.inject(
            Match::any().model("res.partner").times(1),
            Inject::Http5xx(status),
        );
        let e = client
            .search_count("res.partner", &Domain::new())
            .await
            .unwrap_err();
        assert_eq!(e.class().clone(), want, "HTTP {status}: {e}");
    }

    // Connection reset with no answer: the client cannot know whether the call ran.
    faults.inject(
        Match::any().model("sale.order").method("create").times(1),
        Inject::ConnectionReset,
    );
    let e = client
        .create("sale.order", order_vals(partner, "F-RST"))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::OutcomeUnknown, "{e}");

    // Commit-then-drop: outcome unknown, and the record exists; look it up instead of creating again.
    faults.commit_then_drop(Match::any().model("sale.order").method("create").times(1));
    let e = client
        .create("sale.order", order_vals(partner, "F-CTD"))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::OutcomeUnknown, "{e}");
    assert!(e.is_outcome_unknown());
    let found = client
        .search(
            "sale.order",
            &Domain::new().eq("client_order_ref", "F-CTD"),
            &SearchOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "the create committed before the drop");
    assert_eq!(
        client
            .lookup("sale.order", &Domain::new().eq("client_order_ref", "F-CTD"))
            .await
            .unwrap(),
        odoo::Lookup::One(found[0])
    );

    // A timeout after the request was sent: outcome unknown.
    let slow = slow_client(&sandbox).await;
    faults.set_latency(Duration::from_millis(600), Duration::ZERO);
    let e = slow
        .create("sale.order", order_vals(partner, "F-TMO"))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::OutcomeUnknown, "{e}");
    faults.set_latency(Duration::ZERO, Duration::ZERO);

    // Outage: a new connection is refused → transient, nothing sent.
    faults.outage(Some(Duration::from_secs(30)));
    let fresh = client_for(&sandbox, "admin");
    let e = fresh.version().await.unwrap_err();
    assert!(matches!(e, odoo::Error::Connect { .. }), "{e:?}");
    assert_eq!(e.class(), ErrorClass::Transient { retry_after: None });
    faults.end_outage();
    // The sandbox binds its port again; give it a moment on a busy machine.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while let Err(e) = fresh.version().await {
        assert!(tokio::time::Instant::now() < deadline, "still down: {e}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Expired credentials: permanent auth errors, for an open session and for a new one.
    faults.set_expired_credentials(true);
    let e = client
        .search_count("res.partner", &Domain::new())
        .await
        .unwrap_err();
    assert_eq!(e.fault_kind(), Some(FaultKind::AccessDenied), "{e}");
    assert_eq!(e.class(), ErrorClass::Permanent);
    let e = client_for(&sandbox, "admin")
        .search_count("res.partner", &Domain::new())
        .await
        .unwrap_err();
    assert_eq!(e.fault_kind(), Some(FaultKind::AccessDenied), "{e}");
    assert_eq!(e.class(), ErrorClass::Permanent);
    faults.set_expired_credentials(false);
    client
        .search_count("res.partner", &Domain::new())
        .await
        .unwrap();
    sandbox.shutdown().await;
}

#[tokio::test]
async fn v16_faults_are_classified() {
    faults(Version::V16).await;
}

#[tokio::test]
async fn v17_faults_are_classified() {
    faults(Version::V17).await;
}

#[tokio::test]
async fn v18_faults_are_classified() {
    faults(Version::V18).await;
}

#[tokio::test]
async fn v19_faults_are_classified() {
    faults(Version::V19).await;
}

/// A client whose request timeout (200 ms) is shorter than the latency the tests inject.
async fn slow_client(sandbox: &Sandbox) -> Client {
    let mut cfg = Config::new(&sandbox.url(), "odoo", "admin", "admin".to_owned().into()).unwrap();
    cfg.request_timeout = Duration::from_millis(200);
    let slow = Client::new(cfg).unwrap();
    slow.uid().await.unwrap();
    slow
}

/// Real Odoo finishes (and commits) a call whose client has gone away; that is why a client timeout is
/// "outcome unknown" and the caller must look the record up before creating it again.
#[tokio::test]
async fn timeout_after_send_still_commits() {
    let (sandbox, client) = start(Version::V18).await;
    let partner = client
        .create("res.partner", vals(json!({"name": "Timeout Customer"})))
        .await
        .unwrap();
    let slow = slow_client(&sandbox).await;
    sandbox
        .faults()
        .set_latency(Duration::from_millis(600), Duration::ZERO);
    let e = slow
        .create("sale.order", order_vals(partner, "F-TMO"))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::OutcomeUnknown, "{e}");
    sandbox.faults().set_latency(Duration::ZERO, Duration::ZERO);
    // The abandoned call runs to its end (600 ms of latency) and commits.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while count(
        &sandbox,
        "sale.order",
        json!([["client_order_ref", "=", "F-TMO"]]),
    ) == 0
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the call never committed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        count(
            &sandbox,
            "sale.order",
            json!([["client_order_ref", "=", "F-TMO"]])
        ),
        1
    );
    sandbox.shutdown().await;
}

/// `action_cancel` answers `true` once the order is cancelled (its `_action_cancel` ends in a
/// `write`): the order is read once before (state, lock) and not again after it.
#[tokio::test]
async fn a_cancel_trusts_action_cancel_s_true_answer() {
    let (sandbox, client) = start(Version::V18).await;
    let partner = client
        .create("res.partner", vals(json!({"name": "Cancel Customer"})))
        .await
        .unwrap();
    let product = client
        .create(
            "product.product",
            vals(json!({"name": "Cancel Product", "default_code": "CANCEL-1"})),
        )
        .await
        .unwrap();
    let order = client
        .create(
            "sale.order",
            vals(json!({"partner_id": partner, "client_order_ref": "SALLA-CANCEL-ONE",
                        "order_line": [[0, 0, {"product_id": product, "product_uom_qty": 1, "price_unit": 5}]]})),
        )
        .await
        .unwrap();
    assert_eq!(client.confirm_sale_order(order).await.unwrap(), Step::Done);
    let reads = |s: &Sandbox| s.inspect().calls("sale.order", "read");
    let before = reads(&sandbox);
    assert_eq!(client.cancel_sale_order(order).await.unwrap(), Step::Done);
    assert_eq!(
        reads(&sandbox) - before,
        1,
        "read before action_cancel only"
    );
    assert_eq!(sandbox.inspect().calls("sale.order", "action_cancel"), 1);
    let so: Vec<Record> = client
        .read("sale.order", &[order], &["state"])
        .await
        .unwrap();
    assert_eq!(so[0]["state"], "cancel");
}

/// `fields_get` calls the sandbox received, all models together (the capability probe makes five).
fn fields_gets(sandbox: &Sandbox) -> u64 {
    sandbox
        .inspect()
        .all_calls()
        .iter()
        .filter(|(k, _)| k.ends_with(".fields_get"))
        .map(|(_, n)| n.as_u64().unwrap_or_default())
        .sum()
}

/// Capabilities kept from an earlier probe (serialised, as the connector stores them) spare a
/// client for the same server version its probe; for another version they are ignored.
#[tokio::test]
async fn seeded_capabilities_spare_the_probe_of_the_same_version() {
    let (sandbox, first) = start(Version::V18).await;
    let probed = first.capabilities().await.unwrap();
    assert_eq!(fields_gets(&sandbox), 5, "one probe: five fields_get");
    // What the client probed, once.
    assert_eq!(first.take_probed().as_deref(), Some(&*probed));
    assert!(first.take_probed().is_none());
    let stored = serde_json::to_value(&*probed).unwrap();
    let kept: Capabilities = serde_json::from_value(stored).unwrap();
    assert_eq!(kept, *probed);

    let seeded = client_for(&sandbox, "admin").with_capabilities(kept.clone());
    assert_eq!(*seeded.capabilities().await.unwrap(), kept);
    seeded
        .search_count("res.partner", &Domain::new())
        .await
        .unwrap();
    assert_eq!(
        fields_gets(&sandbox),
        5,
        "the seeded client made no fields_get"
    );
    assert!(seeded.take_probed().is_none(), "nothing probed to keep");
    assert_eq!(seeded.known_capabilities().as_deref(), Some(&kept));

    // 17's capabilities against an 18 server, without the uid of their session (as kept before
    // uids were): the client asks the version, and probes as if there were none.
    let (v17, c17) = start(Version::V17).await;
    let mut caps17 = (*c17.capabilities().await.unwrap()).clone();
    caps17.uid = None;
    let other = client_for(&sandbox, "admin").with_capabilities(caps17);
    let caps = other.capabilities().await.unwrap();
    check_capabilities(&caps, 18);
    assert_eq!(
        fields_gets(&sandbox),
        10,
        "another version's capabilities: probed"
    );
    assert!(other.take_probed().is_some());
    v17.shutdown().await;
    sandbox.shutdown().await;
}

fn calls(sandbox: &Sandbox, service: &str, method: &str) -> u64 {
    sandbox.inspect().calls(service, method)
}

/// Capabilities kept with the uid of the session they were probed on (JSON-RPC) open the
/// session too: a seeded client asks neither `common.version` nor `authenticate`, nor any
/// `fields_get`. Kept without it (stored before uids were), they still spare the probe and the
/// client authenticates.
#[tokio::test]
async fn a_seed_with_its_uid_spares_the_version_and_authenticate() {
    let (sandbox, first) = start(Version::V18).await;
    let probed = first.take_probed();
    assert!(probed.is_none());
    let caps = first.capabilities().await.unwrap();
    assert_eq!(caps.uid, Some(2), "admin's uid");
    let stored = serde_json::to_value(&*first.take_probed().unwrap()).unwrap();
    assert_eq!(stored["uid"], json!(2), "kept with the capabilities");
    let (versions, auths) = (
        calls(&sandbox, "common", "version"),
        calls(&sandbox, "common", "authenticate"),
    );
    assert_eq!((versions, auths), (1, 1));

    let kept: Capabilities = serde_json::from_value(stored.clone()).unwrap();
    let seeded = client_for(&sandbox, "admin").with_capabilities(kept.clone());
    let id = seeded
        .create("res.partner", vals(json!({"name": "Seeded"})))
        .await
        .unwrap();
    assert!(id > 0);
    assert_eq!(*seeded.capabilities().await.unwrap(), kept);
    assert_eq!(seeded.uid().await.unwrap(), Some(2));
    assert_eq!(seeded.version().await.unwrap(), kept.version);
    assert_eq!(calls(&sandbox, "common", "version"), versions, "no version");
    assert_eq!(
        calls(&sandbox, "common", "authenticate"),
        auths,
        "no authenticate"
    );
    assert_eq!(fields_gets(&sandbox), 5, "no probe");
    assert!(seeded.take_probed().is_none(), "nothing probed to keep");

    // Kept before uids were: the same capabilities, and a session opened as usual.
    let mut old = stored;
    old.as_object_mut().unwrap().remove("uid");
    let old: Capabilities = serde_json::from_value(old).unwrap();
    assert_eq!(old.uid, None);
    let seeded = client_for(&sandbox, "admin").with_capabilities(old);
    seeded
        .search_count("res.partner", &Domain::new())
        .await
        .unwrap();
    seeded.capabilities().await.unwrap();
    assert_eq!(calls(&sandbox, "common", "version"), versions + 1);
    assert_eq!(calls(&sandbox, "common", "authenticate"), auths + 1);
    assert_eq!(fields_gets(&sandbox), 5, "still no probe");
    assert!(seeded.take_probed().is_none());

    // A client configured for another transport than the seed's opens its own session.
    let mut cfg = Config::new(
        &sandbox.url().to_string(),
        "odoo",
        "admin",
        "admin".to_owned().into(),
    )
    .unwrap();
    cfg.transport = odoo::TransportChoice::Json2;
    let other = Client::new(cfg).unwrap().with_capabilities(kept);
    let _ = other.search_count("res.partner", &Domain::new()).await;
    assert_eq!(other.transport().await.unwrap(), Transport::Json2);
    sandbox.shutdown().await;
}

/// A seed whose uid is no longer the API user's (the user was recreated): Odoo refuses the
/// first call with `AccessDenied` before running it; the client drops the seed, authenticates,
/// makes the call once more (it ran once) and probes again when asked, keeping the real uid.
#[tokio::test]
async fn a_seed_with_a_stale_uid_authenticates_and_makes_the_call_again() {
    let (sandbox, first) = start(Version::V18).await;
    let mut stale = (*first.capabilities().await.unwrap()).clone();
    stale.uid = Some(999);
    let (versions, auths) = (
        calls(&sandbox, "common", "version"),
        calls(&sandbox, "common", "authenticate"),
    );
    let seeded = client_for(&sandbox, "admin").with_capabilities(stale);
    assert_eq!(
        seeded.uid().await.unwrap(),
        Some(999),
        "trusted without asking"
    );
    let id = seeded
        .create("res.partner", vals(json!({"name": "Once Only"})))
        .await
        .unwrap();
    assert_eq!(
        calls(&sandbox, "res.partner", "create"),
        2,
        "refused, then made"
    );
    let named = Domain::new().eq("name", "Once Only");
    assert_eq!(
        seeded
            .search("res.partner", &named, &SearchOptions::default())
            .await
            .unwrap(),
        vec![id],
        "created once"
    );
    assert_eq!(seeded.uid().await.unwrap(), Some(2));
    assert_eq!(calls(&sandbox, "common", "version"), versions + 1);
    assert_eq!(calls(&sandbox, "common", "authenticate"), auths + 1);
    // The seed is gone: its capabilities are probed again, to be kept with the real uid.
    assert_eq!(fields_gets(&sandbox), 5);
    seeded.capabilities().await.unwrap();
    assert_eq!(fields_gets(&sandbox), 10);
    assert_eq!(seeded.take_probed().unwrap().uid, Some(2));
    // Calls refused together open one real session between them.
    let mut stale = (*seeded.capabilities().await.unwrap()).clone();
    stale.uid = Some(999);
    let auths = calls(&sandbox, "common", "authenticate");
    let together = client_for(&sandbox, "admin").with_capabilities(stale);
    let all = Domain::new();
    let (a, b, c) = tokio::join!(
        together.search_count("res.partner", &all),
        together.search_count("res.partner", &all),
        together.search_count("res.partner", &all),
    );
    for n in [a, b, c] {
        assert!(n.unwrap() > 0);
    }
    assert_eq!(calls(&sandbox, "common", "authenticate"), auths + 1);
    // Refusals on a real session are the caller's: a wrong key is not tried again.
    let wrong = client_for(&sandbox, "not-the-key");
    let e = wrong
        .search_count("res.partner", &Domain::new())
        .await
        .unwrap_err();
    assert_eq!(e.fault_kind(), Some(FaultKind::AccessDenied), "{e}");
    sandbox.shutdown().await;
}

/// A call refused for an unknown field is reported once, and a client running on seeded
/// capabilities drops them and the session they gave: it reads the version again (an upgrade in
/// place changes it) and probes again.
#[tokio::test]
async fn an_invalid_field_drops_seeded_capabilities() {
    let (sandbox, first) = start(Version::V18).await;
    let caps = (*first.capabilities().await.unwrap()).clone();
    let seeded = client_for(&sandbox, "admin").with_capabilities(caps);
    seeded.capabilities().await.unwrap();
    assert_eq!(fields_gets(&sandbox), 5);
    let versions = calls(&sandbox, "common", "version");
    assert!(!seeded.take_invalid_field());
    let e = seeded
        .create(
            "res.partner",
            vals(json!({"name": "X", "no_such_field": 1})),
        )
        .await
        .unwrap_err();
    assert!(e.is_invalid_field(), "{e}");
    assert!(seeded.take_invalid_field());
    assert!(!seeded.take_invalid_field(), "reported once");
    assert_eq!(
        calls(&sandbox, "common", "version"),
        versions,
        "the seed's session"
    );
    seeded.capabilities().await.unwrap();
    assert_eq!(fields_gets(&sandbox), 10, "probed again");
    assert_eq!(
        calls(&sandbox, "common", "version"),
        versions + 1,
        "the version read again"
    );
    assert!(seeded.take_probed().is_some());
    // Other refusals are not about fields.
    let e = seeded
        .read_one("res.partner", 999_999, &["name"])
        .await
        .err();
    assert!(e.is_none_or(|e| !e.is_invalid_field()));
    assert!(!seeded.take_invalid_field());
    sandbox.shutdown().await;
}

fn product_vals(code: &str) -> Map<String, Value> {
    vals(json!({"name": format!("Together {code}"), "default_code": code}))
}

/// Creates of one model started while one is in flight go together as one call, and each caller
/// gets its own records' ids (the three callers register before any call can end: the first
/// leads alone, the two others wait for it and then go as one call).
#[tokio::test]
async fn creates_started_together_go_as_one_call_after_the_first() {
    let (sandbox, client) = start(Version::V18).await;
    let (a, b, c) = tokio::join!(
        client.create_many_together("product.product", vec![product_vals("T-A")]),
        client.create_many_together(
            "product.product",
            vec![product_vals("T-B1"), product_vals("T-B2")]
        ),
        client.create_many_together("product.product", vec![product_vals("T-C")]),
    );
    assert_eq!(sandbox.inspect().calls("product.product", "create"), 2);
    for (ids, codes) in [
        (a.unwrap(), vec!["T-A"]),
        (b.unwrap(), vec!["T-B1", "T-B2"]),
        (c.unwrap(), vec!["T-C"]),
    ] {
        let recs: Vec<Record> = client
            .read("product.product", &ids, &["default_code"])
            .await
            .unwrap();
        let got: Vec<&str> = recs
            .iter()
            .map(|r| r["default_code"].as_str().unwrap())
            .collect();
        assert_eq!(got, codes);
    }
}

/// A call holding several callers' records that Odoo refuses fails only the caller whose record
/// it refused: the others are created by calls of their own.
#[tokio::test]
async fn a_refused_record_fails_only_its_caller() {
    let (sandbox, client) = start(Version::V18).await;
    let mut bad = product_vals("T-BAD");
    bad.insert("no_such_field".into(), json!(1));
    let (_, good, refused) = tokio::join!(
        client.create_many_together("product.product", vec![product_vals("T-FIRST")]),
        client.create_many_together("product.product", vec![product_vals("T-GOOD")]),
        client.create_many_together("product.product", vec![bad]),
    );
    assert!(good.is_ok(), "{good:?}");
    let err = refused.unwrap_err();
    assert!(!err.is_outcome_unknown(), "{err}");
    // The leader's, the refused batch, then one each.
    assert_eq!(sandbox.inspect().calls("product.product", "create"), 4);
    assert_eq!(
        count(
            &sandbox,
            "product.product",
            json!([["default_code", "in", ["T-FIRST", "T-GOOD", "T-BAD"]]])
        ),
        2
    );
}

/// A call holding several callers' records that gets no answer is outcome-unknown for each.
#[tokio::test]
async fn a_lost_answer_to_records_created_together_is_unknown_to_every_caller() {
    let (sandbox, client) = start(Version::V18).await;
    sandbox.faults().commit_then_drop(
        odoo_sandbox::Match::any()
            .model("product.product")
            .method("create")
            .times(2),
    );
    let (a, b, c) = tokio::join!(
        client.create_many_together("product.product", vec![product_vals("T-L1")]),
        client.create_many_together("product.product", vec![product_vals("T-L2")]),
        client.create_many_together("product.product", vec![product_vals("T-L3")]),
    );
    for r in [a, b, c] {
        assert!(r.as_ref().unwrap_err().is_outcome_unknown(), "{r:?}");
    }
    assert_eq!(
        count(
            &sandbox,
            "product.product",
            json!([["default_code", "in", ["T-L1", "T-L2", "T-L3"]]])
        ),
        3,
        "committed all the same"
    );
}
