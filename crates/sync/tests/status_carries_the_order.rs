//! Found by the fault-injection run (`make chaos`): a status entry carries the whole order as it is
//! now. Applying only its status (to the order as Odoo had it) and recording its version lost an
//! `order.updated` that was older but arrived later: skipped as stale, its lines never reached Odoo.

mod common;

use common::*;
use odoo_sandbox::Version;
use serde_json::{Value, json};

const MERCHANT: u64 = 1_700_000_999;

/// An order in Salla's shape: `lines` of (SKU, quantity) at 10 SAR, in status `slug`.
fn order(lines: &[(&str, u32)], slug: &str) -> Value {
    let items: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(i, (sku, qty))| {
            json!({"id": 9_100 + i, "name": format!("Item {sku}"), "sku": sku, "quantity": qty,
                   "amounts": {"price_without_tax": {"amount": 10, "currency": "SAR"},
                               "total_discount": {"amount": 0, "currency": "SAR"},
                               "tax": {"percent": "0.00", "amount": {"amount": 0, "currency": "SAR"}}}})
        })
        .collect();
    json!({
        "id": 9_001, "reference_id": 41_001,
        "status": {"id": 1, "name": slug, "slug": slug},
        "currency": "SAR",
        "amounts": {"shipping_cost": {"amount": 0, "currency": "SAR"},
                    "tax": {"percent": "0.00", "amount": {"amount": 0, "currency": "SAR"}}},
        "customer": {"id": 8_001, "first_name": "Noura", "last_name": "Test", "mobile": 555_000_001,
                     "mobile_code": "+966", "email": "noura.status@example.test"},
        "items": items
    })
}

#[tokio::test]
async fn a_status_entry_brings_the_quotation_to_its_order_before_moving_it_on() {
    let h = Harness::new(Version::V18, MERCHANT).await;
    // In Salla: placed with 1 × A (10:00), edited to 2 × A + 1 × B (10:01), confirmed (10:02).
    let created = envelope(
        "order.created",
        MERCHANT,
        "2026-11-02 10:00:00",
        order(&[("STA-A", 1)], "under_review"),
    );
    let edited = envelope(
        "order.updated",
        MERCHANT,
        "2026-11-02 10:01:00",
        order(&[("STA-A", 2), ("STA-B", 1)], "under_review"),
    );
    let confirmed = envelope(
        "order.status.updated",
        MERCHANT,
        "2026-11-02 10:02:00",
        json!({"id": 77, "status": "قيد التنفيذ", "note": "",
               "order": order(&[("STA-A", 2), ("STA-B", 1)], "in_progress")}),
    );
    // Delivered: the creation, the status entry, and only then the edit.
    h.applied(&job_from(&created)).await;
    h.applied(&job_from(&confirmed)).await;
    let reason = h.skipped(&job_from(&edited)).await;
    assert!(reason.starts_with("stale: "), "{reason}");

    let so = h.one("sale.order", json!([]), &["state", "amount_untaxed"]);
    assert_eq!(so["state"], "sale", "{so}");
    assert_eq!(so["amount_untaxed"].as_f64(), Some(30.0), "{so}");
    let mut lines: Vec<(String, f64)> = h
        .read("sale.order.line", json!([]), &["name", "product_uom_qty"])
        .into_iter()
        .map(|l| {
            (
                l["name"].as_str().unwrap_or_default().to_owned(),
                l["product_uom_qty"].as_f64().unwrap_or_default(),
            )
        })
        .collect();
    lines.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        lines,
        [
            ("Item STA-A".to_owned(), 2.0),
            ("Item STA-B".to_owned(), 1.0)
        ]
    );
}

#[tokio::test]
async fn a_status_entry_without_items_leaves_the_lines_alone() {
    let h = Harness::new(Version::V18, MERCHANT).await;
    h.applied(&job_from(&envelope(
        "order.created",
        MERCHANT,
        "2026-11-02 10:00:00",
        order(&[("STA-A", 3)], "under_review"),
    )))
    .await;
    h.applied(&job_from(&envelope(
        "order.status.updated",
        MERCHANT,
        "2026-11-02 10:02:00",
        json!({"id": 78, "status": "قيد التنفيذ", "order": order(&[], "in_progress")}),
    )))
    .await;
    let line = h.one("sale.order.line", json!([]), &["product_uom_qty"]);
    assert_eq!(line["product_uom_qty"].as_f64(), Some(3.0));
    assert_eq!(h.one("sale.order", json!([]), &["state"])["state"], "sale");
}
