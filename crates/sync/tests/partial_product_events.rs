//! `product.status.updated` carries only the status (id, SKU, status), so its product keeps a status
//! watermark of its own (`entity::PRODUCT_STATUS`). Found by the fault-injection run (`make chaos`
//! with `CHAOS_PARTIAL_EVENTS=1`): with one watermark per product, a partial event and a full one
//! delivered out of order lost data —
//!
//! - partial first, product not in Odoo yet: the status was lost when the older full event created
//!   the product (now the status is kept and applied at the creation);
//! - partial (newer) applied first: its version made the older full event stale, so the fields only
//!   the full event carries (price, name, category) were lost (now the full event applies, keeping
//!   the newer status).

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
