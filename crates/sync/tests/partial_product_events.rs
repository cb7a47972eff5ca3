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
//!
//! Each scenario runs twice: without the Salla API (the status watermark alone keeps both events),
//! and with it (fetch on demand: the partial event fetches the whole product and applies it as Salla
//! has it now, so the product is complete at once and the older full event arrives stale).

mod common;

use common::*;
use odoo_sandbox::Version;
use serde_json::{Value, json};
use std::sync::Arc;

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

/// The product as `GET /products/{id}` answers after all of a scenario's changes. Salla may not move
/// `updated_at` for a status change: the answer still supersedes the status event that asked for it.
fn in_salla(price: u32, status: &str, updated_at: &str) -> Value {
    let mut p = full("Part", price, status, updated_at);
    p["name"] = json!("Part as Salla has it");
    p
}

async fn with_fetch(answer: Value) -> (Harness, Arc<MapFetch>) {
    let mut h = Harness::new(Version::V18, MERCHANT).await;
    let fetch = MapFetch::new();
    fetch.set_product(answer);
    h.install_fetch(fetch.clone());
    (h, fetch)
}

#[tokio::test]
async fn with_fetch_a_newer_status_does_not_make_an_older_price_change_stale() {
    // In Salla: created at 10:00 (10 SAR), price changed at 10:01 (20 SAR), hidden at 10:02.
    let (h, fetch) = with_fetch(in_salla(20, "hidden", "2026-11-02 10:01:00")).await;
    h.applied(&job_from(&envelope(
        "product.created",
        MERCHANT,
        "2026-11-02 10:00:00",
        full("Part", 10, "sale", "2026-11-02 10:00:00"),
    )))
    .await;
    assert_eq!(fetch.calls(), 0, "a full event never fetches");
    // The status event fetches the product: price, name and status are Salla's current ones.
    let (_, note) = h
        .applied(&job_from(&envelope(
            "product.status.updated",
            MERCHANT,
            "2026-11-02 10:02:00",
            status_only("hidden"),
        )))
        .await;
    assert_eq!(fetch.product_calls(), 1);
    assert!(
        note.unwrap_or_default()
            .contains("applied as Salla has it now")
    );
    let p = product(&h);
    assert_eq!(p["active"], false, "{p}");
    assert_eq!(p["list_price"].as_f64(), Some(20.0), "{p}");
    assert_eq!(p["name"], "Part as Salla has it", "{p}");
    // The price change arrives last: Odoo already has it (and more), so it is stale.
    let reason = h
        .skipped(&job_from(&envelope(
            "product.updated",
            MERCHANT,
            "2026-11-02 10:01:00",
            full("Part", 20, "sale", "2026-11-02 10:01:00"),
        )))
        .await;
    assert!(reason.starts_with("stale: "), "{reason}");
    let p = product(&h);
    assert_eq!(p["active"], false, "{p}");
    assert_eq!(p["list_price"].as_f64(), Some(20.0), "{p}");
}

#[tokio::test]
async fn with_fetch_a_status_before_its_product_creates_the_product() {
    // In Salla: created at 10:00, hidden at 10:02; delivered the other way round.
    let (h, fetch) = with_fetch(in_salla(10, "hidden", "2026-11-02 10:00:00")).await;
    h.applied(&job_from(&envelope(
        "product.status.updated",
        MERCHANT,
        "2026-11-02 10:02:00",
        status_only("hidden"),
    )))
    .await;
    assert_eq!(fetch.product_calls(), 1);
    let p = product(&h);
    assert_eq!(p["active"], false, "{p}");
    assert_eq!(p["name"], "Part as Salla has it", "{p}");
    assert_eq!(p["list_price"].as_f64(), Some(10.0), "{p}");
    let reason = h
        .skipped(&job_from(&envelope(
            "product.created",
            MERCHANT,
            "2026-11-02 10:00:00",
            full("Part", 10, "sale", "2026-11-02 10:00:00"),
        )))
        .await;
    assert!(reason.starts_with("stale: "), "{reason}");
    assert_eq!(product(&h)["active"], false);
}
