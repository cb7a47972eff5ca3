//! The whole pipeline: signed webhook → ingest → Redis → worker processes → odoo-sandbox, with the
//! outcome in Postgres. Stores are configured with the real `salla-odoo store add`.

use std::time::Duration;

use odoo_sandbox::{Options, Version};
use salla_odoo_tests::*;
use serde_json::json;

async fn sandbox(version: Version) -> odoo_sandbox::Sandbox {
    odoo_sandbox::spawn(Options {
        version,
        ..Default::default()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_ends_in_the_expected_odoo_records() {
    let Some(fixtures) = salla_fixtures() else {
        return;
    };
    let odoo = sandbox(Version::V18).await;
    // The shipment fixtures name orders that no fixture creates: after a few attempts they are
    // dead-lettered with that reason (in production the budget spans a day for the order to arrive).
    let mut fleet =
        Fleet::start_with("e2e-fixtures", &[("SALLA_ODOO__RETRY__MAX_ATTEMPTS", "3")]).await;
    let merchants: std::collections::BTreeSet<u64> = fixtures
        .iter()
        .map(|(_, b)| {
            serde_json::from_slice::<serde_json::Value>(b).unwrap()["merchant"]
                .as_u64()
                .unwrap()
        })
        .collect();
    for m in &merchants {
        fleet.add_store(*m, &odoo.url(), &["--create-unknown-skus"]);
    }
    fleet.spawn_worker();
    let mut queued = 0;
    for (name, body) in &fixtures {
        let (status, answer) = fleet.ingest.post_signed(body).await;
        assert_eq!(status, 200, "{name}: {answer}");
        if answer["status"] == "queued" {
            queued += 1;
        }
    }
    fleet.wait_outcomes(queued, Duration::from_secs(60)).await;
    let log = fleet.log().await;
    let dead: Vec<_> = log
        .iter()
        .filter(|(_, o, _)| o == "dead_lettered")
        .collect();
    assert_eq!(dead.len(), 2, "{log:?}");
    assert!(
        dead.iter().all(|(e, _, r)| e.contains("shipment")
            && r.as_deref().unwrap_or("").contains("not in Odoo yet")),
        "{dead:?}"
    );

    let inspect = odoo.inspect();
    // customer.created → a partner with the customer's email.
    assert_eq!(
        inspect
            .count("res.partner", json!([["email", "=", "test@gmail.com"]]))
            .unwrap(),
        1
    );
    // order.created → one quotation with the Salla marker, its customer and its line.
    let orders = inspect
        .dump(
            "sale.order",
            json!([["client_order_ref", "=", "salla:1305146709:2116149737"]]),
        )
        .unwrap();
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(
        orders[0]["state"], "draft",
        "under_review stays a quotation"
    );
    let lines = inspect
        .dump(
            "sale.order.line",
            json!([["order_id", "=", orders[0]["id"]]]),
        )
        .unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l["product_uom_qty"] == json!(1.0) || l["product_uom_qty"] == json!(1)),
        "{lines:?}"
    );
    // order.status.updated (completed) → the nested order synced first, confirmed, delivered, invoiced.
    let done = inspect
        .dump(
            "sale.order",
            json!([["client_order_ref", "=", "salla:193718979:629263027"]]),
        )
        .unwrap();
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(done[0]["state"], "sale");
    let invoices = inspect
        .dump(
            "account.move",
            json!([["invoice_origin", "=", done[0]["name"]]]),
        )
        .unwrap();
    assert!(
        invoices.iter().any(|i| i["state"] == "posted"),
        "{invoices:?}"
    );
    // product.created → a product (no SKU in the fixture: the Salla marker is its reference).
    assert_eq!(
        inspect
            .count(
                "product.product",
                json!([["default_code", "=", "SALLA-1025569331"]])
            )
            .unwrap(),
        1
    );
    // app.store.authorize → tokens stored encrypted, never in clear.
    let tokens: i64 =
        sqlx::query_scalar("SELECT count(*) FROM secrets WHERE merchant_id = 1234509876")
            .fetch_one(&fleet.db.pool)
            .await
            .unwrap();
    assert!(tokens >= 1);
    fleet.workers.clear();
    odoo.shutdown().await;
}
