//! Found by the fault-injection run (`make chaos` with `CHAOS_PARTIAL_EVENTS=1`), not fixed: the
//! watermark is one version per Salla product, but `product.status.updated` carries only the
//! status (id, SKU, status). Delivered out of order, a partial event and a full one lose data:
//!
//! - partial first, product not in Odoo yet: the partial event is skipped ("carries too little to
//!   create it") and its status is lost when the older full event creates the product;
//! - product in Odoo, partial (newer) applied first: its version makes the older full event stale,
//!   so the fields only the full event carries (price, name, category) are lost.
//!
//! A fix needs a watermark per field group (or a re-read from Salla's API), not a local change.
//! Run them with `cargo test -p salla-odoo-sync --test partial_product_events -- --ignored`.

mod common;

use common::*;
use odoo_sandbox::Version;
use serde_json::{Value, json};

const MERCHANT: u64 = 1_700_000_998;

fn full(name: &str, price: u32, status: &str, updated_at: &str) -> Value {
    json!({"id": 7_001, "sku": "PART-1", "type": "product", "name": name,
           "price": {"amount": price, "currency": "SAR"}, "status": status,
           "quantity": 5, "updated_at": updated_at, "skus": [], "categories": []})
}

fn status_only(status: &str) -> Value {
    json!({"id": 7_001, "sku": "PART-1", "status": status})
}

fn product(h: &Harness) -> Value {
    h.one(
        "product.product",
        json!([
            ["default_code", "=", "PART-1"],
            ["active", "in", [true, false]]
        ]),
        &["name", "list_price", "active"],
    )
}

#[tokio::test]
#[ignore = "known bug, found by make chaos: a newer partial product event makes an older full one stale (see the module docs)"]
async fn a_newer_status_does_not_make_an_older_price_change_stale() {
    let h = Harness::new(Version::V18, MERCHANT).await;
    // In Salla: created at 10:00 (10 SAR), price changed at 10:01 (20 SAR), hidden at 10:02.
    h.applied(&job_from(&envelope(
        "product.created",
        MERCHANT,
        "2026-11-02 10:00:00",
        full("Part", 10, "sale", "2026-11-02 10:00:00"),
    )))
    .await;
    // Delivered: the creation, the status, then the price change.
    h.applied(&job_from(&envelope(
        "product.status.updated",
        MERCHANT,
        "2026-11-02 10:02:00",
        status_only("hidden"),
    )))
    .await;
    let _ = h
        .apply(&job_from(&envelope(
            "product.updated",
            MERCHANT,
            "2026-11-02 10:01:00",
            full("Part", 20, "sale", "2026-11-02 10:01:00"),
        )))
        .await;
    let p = product(&h);
    assert_eq!(p["active"], false, "{p}");
    assert_eq!(
        p["list_price"].as_f64(),
        Some(20.0),
        "the price change is lost: {p}"
    );
}

#[tokio::test]
#[ignore = "known bug, found by make chaos: a partial product event before its product is lost (see the module docs)"]
async fn a_status_before_its_product_is_not_lost() {
    let h = Harness::new(Version::V18, MERCHANT).await;
    // In Salla: created at 10:00, hidden at 10:02; delivered the other way round.
    let _ = h
        .apply(&job_from(&envelope(
            "product.status.updated",
            MERCHANT,
            "2026-11-02 10:02:00",
            status_only("hidden"),
        )))
        .await;
    let _ = h
        .apply(&job_from(&envelope(
            "product.created",
            MERCHANT,
            "2026-11-02 10:00:00",
            full("Part", 10, "sale", "2026-11-02 10:00:00"),
        )))
        .await;
    let p = product(&h);
    assert_eq!(p["active"], false, "the hidden status is lost: {p}");
}
