//! Fetch on demand against `odoo-sandbox` and a real Postgres, with a Salla API answering from a map
//! ([`MapFetch`]): an event naming an order Odoo never saw syncs the order first, from the API, in the
//! same job; a partial product event applies the product as Salla has it now; the id map's watermarks
//! hold for fetched objects; a webhook that carries everything never fetches.

mod common;

use common::*;
use odoo_sandbox::Version;
use salla_odoo_core::{MerchantId, StockMaster, SyncError};
use salla_odoo_sync::{IdMap, PgIdMap};
use serde_json::{Value, json};

const MERCHANT: u64 = 1_700_000_321;

fn salla_date(at: &str) -> Value {
    json!({"date": format!("{at}.000000"), "timezone_type": 3, "timezone": "Asia/Riyadh"})
}

/// A whole order as `GET /orders/{id}` (and `order.created`) carry it: `lines` of (SKU, quantity) at
/// 10 SAR, in status `slug`, last changed at `updated_at` (Riyadh time).
fn order(id: u64, lines: &[(&str, u32)], slug: &str, updated_at: &str) -> Value {
    let items: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(i, (sku, qty))| {
            json!({"id": id * 10 + i as u64, "name": format!("Item {sku}"), "sku": sku, "quantity": qty,
                   "amounts": {"price_without_tax": {"amount": 10, "currency": "SAR"},
                               "total_discount": {"amount": 0, "currency": "SAR"},
                               "tax": {"percent": "0.00", "amount": {"amount": 0, "currency": "SAR"}}}})
        })
        .collect();
    json!({
        "id": id, "reference_id": id + 40_000,
        "status": {"id": 1, "name": slug, "slug": slug},
        "currency": "SAR",
        "updated_at": salla_date(updated_at),
        "amounts": {"shipping_cost": {"amount": 0, "currency": "SAR"},
                    "tax": {"percent": "0.00", "amount": {"amount": 0, "currency": "SAR"}}},
        "customer": {"id": 8_100, "first_name": "Huda", "last_name": "Fetch", "mobile": 555_000_321,
                     "mobile_code": "+966", "email": "huda.fetch@example.test"},
        "items": items
    })
}

fn shipment(shipment_id: u64, order_id: u64, tracking: &str) -> Value {
    json!({"id": shipment_id, "order_id": order_id, "shipping_number": "SN-1",
           "tracking_number": tracking, "tracking_link": "https://track.example.test/1",
           "status": "created", "label": []})
}

fn outgoing(h: &Harness) -> Value {
    h.one(
        "stock.picking",
        json!([["picking_type_code", "=", "outgoing"]]),
        &["carrier_tracking_ref", "note"],
    )
}

async fn with_fetch(
    edit: impl FnOnce(&mut salla_odoo_store::stores::StoreSettings),
) -> (Harness, std::sync::Arc<MapFetch>) {
    let mut h = Harness::with(Version::V18, MERCHANT, edit).await;
    let fetch = MapFetch::new();
    h.install_fetch(fetch.clone());
    (h, fetch)
}

fn transient(r: Result<salla_odoo_sync::Applied, SyncError>) -> String {
    match r {
        Err(SyncError::Transient { message, .. }) => message,
        other => panic!("expected a transient error, got {other:?}"),
    }
}

fn permanent(r: Result<salla_odoo_sync::Applied, SyncError>) -> String {
    match r {
        Err(SyncError::Permanent { message }) => message,
        other => panic!("expected a permanent error, got {other:?}"),
    }
}

// ----- orders ------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_shipment_for_an_order_never_delivered_syncs_the_order_first() {
    let (h, fetch) = with_fetch(|_| {}).await;
    fetch.set_order(order(
        9_301,
        &[("FOD-A", 2)],
        "in_progress",
        "2026-11-02 10:00:00",
    ));
    let job = job_from(&envelope(
        "shipment.created",
        MERCHANT,
        "2026-11-02 10:05:00",
        shipment(5_301, 9_301, "TRK-9301"),
    ));
    let (ids, note) = h.applied(&job).await;
    assert_eq!(fetch.order_calls(), 1);
    let note = note.unwrap_or_default();
    assert!(
        note.contains("order 9301 was not in Odoo: fetched from Salla"),
        "{note}"
    );
    assert!(
        ids["sale.order"].as_array().is_some_and(|a| a.len() == 1),
        "{ids}"
    );
    let so = h.one(
        "sale.order",
        json!([]),
        &["state", "amount_untaxed", "client_order_ref"],
    );
    assert_eq!(so["state"], "sale", "{so}");
    assert_eq!(so["amount_untaxed"].as_f64(), Some(20.0), "{so}");
    assert_eq!(so["client_order_ref"], format!("salla:{MERCHANT}:9301"));
    assert_eq!(outgoing(&h)["carrier_tracking_ref"], "TRK-9301");

    // The same job again: the order is in Odoo now, nothing is fetched, nothing is duplicated.
    h.applied(&job).await;
    assert_eq!(fetch.order_calls(), 1);
    assert_eq!(h.count("sale.order", json!([])), 1);
    assert_eq!(
        h.count(
            "stock.picking",
            json!([["picking_type_code", "=", "outgoing"]])
        ),
        1
    );
}

#[tokio::test]
async fn an_order_shipment_event_for_an_unknown_order_fetches_it_too() {
    let (h, fetch) = with_fetch(|_| {}).await;
    fetch.set_order(order(
        9_302,
        &[("FOD-B", 1)],
        "shipped",
        "2026-11-02 10:00:00",
    ));
    let job = job_from(&envelope(
        "order.shipment.created",
        MERCHANT,
        "2026-11-02 10:05:00",
        json!({"id": 9_302, "reference_id": 49_302, "shipping_number": "SN-9302"}),
    ));
    h.applied(&job).await;
    assert_eq!(fetch.order_calls(), 1);
    assert_eq!(h.count("sale.order", json!([])), 1);
    assert_eq!(outgoing(&h)["carrier_tracking_ref"], "SN-9302");
}

#[tokio::test]
async fn a_status_entry_with_a_partial_order_fetches_and_creates_it() {
    let (h, fetch) = with_fetch(|_| {}).await;
    // The entry names the order and its status only; Salla has the whole order.
    fetch.set_order(order(
        9_303,
        &[("FOD-C", 3)],
        "in_progress",
        "2026-11-02 10:02:00",
    ));
    let entry = json!({"id": 501, "status": "قيد التنفيذ",
                       "order": {"id": 9_303, "status": {"slug": "in_progress"},
                                 "updated_at": salla_date("2026-11-02 10:02:00")}});
    let (_, note) = h
        .applied(&job_from(&envelope(
            "order.status.updated",
            MERCHANT,
            "2026-11-02 10:02:00",
            entry.clone(),
        )))
        .await;
    assert_eq!(fetch.order_calls(), 1);
    let note = note.unwrap_or_default();
    assert!(note.contains("fetched from Salla"), "{note}");
    assert!(
        note.contains("status in_progress → confirm: confirmed"),
        "{note}"
    );
    let so = h.one("sale.order", json!([]), &["state", "amount_untaxed"]);
    assert_eq!(so["state"], "sale", "{so}");
    assert_eq!(so["amount_untaxed"].as_f64(), Some(30.0), "{so}");

    // Again: the order is in Odoo, the partial entry is applied as it came (no fetch, lines kept).
    h.applied(&job_from(&envelope(
        "order.status.updated",
        MERCHANT,
        "2026-11-02 10:02:00",
        entry,
    )))
    .await;
    assert_eq!(fetch.order_calls(), 1);
    assert_eq!(
        h.one("sale.order.line", json!([]), &["product_uom_qty"])["product_uom_qty"],
        3.0
    );
}

#[tokio::test]
async fn a_status_entry_newer_than_the_api_still_applies_its_status() {
    let (h, fetch) = with_fetch(|_| {}).await;
    // The API still answers the order as it was before the entry's change.
    fetch.set_order(order(
        9_304,
        &[("FOD-D", 1)],
        "under_review",
        "2026-11-02 10:00:00",
    ));
    h.applied(&job_from(&envelope(
        "order.status.updated",
        MERCHANT,
        "2026-11-02 10:03:00",
        json!({"id": 502, "order": {"id": 9_304, "status": {"slug": "in_progress"},
                                    "updated_at": salla_date("2026-11-02 10:03:00")}}),
    )))
    .await;
    let so = h.one("sale.order", json!([]), &["state", "amount_untaxed"]);
    assert_eq!(so["state"], "sale", "{so}");
    assert_eq!(so["amount_untaxed"].as_f64(), Some(10.0), "{so}");
    // An entry without any order body names the order by `order_id`: fetched too.
    fetch.set_order(order(
        9_305,
        &[("FOD-E", 2)],
        "in_progress",
        "2026-11-02 10:00:00",
    ));
    h.applied(&job_from(&envelope(
        "order.status.updated",
        MERCHANT,
        "2026-11-02 10:04:00",
        json!({"id": 503, "order_id": 9_305, "status": "قيد التنفيذ"}),
    )))
    .await;
    assert_eq!(fetch.order_calls(), 2);
    assert_eq!(h.count("sale.order", json!([["state", "=", "sale"]])), 2);
}

#[tokio::test]
async fn not_found_is_permanent_and_unavailable_keeps_todays_behaviour() {
    let (h, fetch) = with_fetch(|_| {}).await;
    let ship = job_from(&envelope(
        "shipment.created",
        MERCHANT,
        "2026-11-02 10:05:00",
        shipment(5_306, 9_306, "TRK-9306"),
    ));
    let message = permanent(h.apply(&ship).await);
    assert!(
        message.contains("Salla says order 9306 does not exist"),
        "{message}"
    );

    fetch.set_unavailable(Some("store needs reinstall"));
    let message = transient(h.apply(&ship).await);
    assert!(
        message.contains(
            "order 9306 is not in Odoo yet; fetching it from Salla is not possible: store needs reinstall"
        ),
        "{message}"
    );
    // A status entry with a partial order: applied as it came (here: it cannot create the order),
    // with the reason.
    let message = permanent(
        h.apply(&job_from(&envelope(
            "order.status.updated",
            MERCHANT,
            "2026-11-02 10:06:00",
            json!({"id": 504, "order": {"id": 9_306, "status": {"slug": "in_progress"}}}),
        )))
        .await,
    );
    assert!(message.contains("has no customer"), "{message}");
    assert!(
        message.contains("not possible: store needs reinstall"),
        "{message}"
    );
    // A partial product event: the status is kept for its product, and the sync log says why.
    let reason = h
        .skipped(&job_from(&envelope(
            "product.status.updated",
            MERCHANT,
            "2026-11-02 10:07:00",
            json!({"id": 7_306, "sku": "FOD-P", "status": "hidden"}),
        )))
        .await;
    assert!(reason.contains("its status is kept"), "{reason}");
    assert!(
        reason.contains("not possible: store needs reinstall"),
        "{reason}"
    );
    assert_eq!(h.count("sale.order", json!([])), 0);

    // A product Salla no longer has: skipped, its product.deleted archives it.
    fetch.set_unavailable(None);
    let reason = h
        .skipped(&job_from(&envelope(
            "product.price.updated",
            MERCHANT,
            "2026-11-02 10:08:00",
            json!({"id": 7_307, "sku": "FOD-Q", "price": 12}),
        )))
        .await;
    assert!(
        reason.contains("Salla says product 7307 does not exist"),
        "{reason}"
    );
}

#[tokio::test]
async fn events_that_carry_everything_never_fetch() {
    let (h, fetch) = with_fetch(|_| {}).await;
    fetch.set_order(order(
        9_307,
        &[("FOD-F", 1)],
        "under_review",
        "2026-11-02 10:00:00",
    ));
    h.applied(&job_from(&envelope(
        "order.created",
        MERCHANT,
        "2026-11-02 10:00:00",
        order(
            9_307,
            &[("FOD-F", 1)],
            "under_review",
            "2026-11-02 10:00:00",
        ),
    )))
    .await;
    // A status entry carrying its whole order, a shipment for a known order.
    h.applied(&job_from(&envelope(
        "order.status.updated",
        MERCHANT,
        "2026-11-02 10:01:00",
        json!({"id": 505, "order": order(9_307, &[("FOD-F", 1)], "in_progress", "2026-11-02 10:01:00")}),
    )))
    .await;
    h.applied(&job_from(&envelope(
        "shipment.created",
        MERCHANT,
        "2026-11-02 10:02:00",
        shipment(5_307, 9_307, "TRK-9307"),
    )))
    .await;
    // A full product, and a stock event while Odoo is the stock master.
    let product = json!({"id": 7_308, "sku": "FOD-G", "name": "Whole", "type": "product",
                         "price": {"amount": 15, "currency": "SAR"}, "status": "sale", "quantity": 4,
                         "updated_at": salla_date("2026-11-02 10:00:00")});
    h.applied(&job_from(&envelope(
        "product.created",
        MERCHANT,
        "2026-11-02 10:00:00",
        product.clone(),
    )))
    .await;
    h.applied(&job_from(&envelope(
        "product.quantity.low",
        MERCHANT,
        "2026-11-02 10:03:00",
        product,
    )))
    .await;
    assert_eq!(fetch.calls(), 0);
}

#[tokio::test]
async fn a_fetched_order_older_than_the_id_map_overwrites_nothing() {
    let (h, fetch) = with_fetch(|_| {}).await;
    // The id map knows order 9308 at 10:10 (its sale order has since gone from Odoo); the API answers
    // an older state.
    let ids = PgIdMap {
        pool: h.db.pool.clone(),
    };
    let at_1010 = salla_odoo_sync::version::envelope_unix("2026-11-02 10:10:00").unwrap();
    ids.put(
        MerchantId::new(MERCHANT),
        "order",
        9_308,
        "sale.order",
        999_999,
        at_1010,
    )
    .await
    .unwrap();
    fetch.set_order(order(
        9_308,
        &[("FOD-H", 1)],
        "in_progress",
        "2026-11-02 10:00:00",
    ));
    let message = transient(
        h.apply(&job_from(&envelope(
            "shipment.created",
            MERCHANT,
            "2026-11-02 10:11:00",
            shipment(5_308, 9_308, "TRK-9308"),
        )))
        .await,
    );
    assert!(
        message.contains("the order fetched from Salla was not synced: stale: "),
        "{message}"
    );
    assert_eq!(fetch.order_calls(), 1);
    assert_eq!(h.count("sale.order", json!([])), 0);
}

// ----- products ----------------------------------------------------------------------------------------

#[tokio::test]
async fn a_price_only_event_yields_the_products_current_state() {
    let (h, fetch) = with_fetch(|_| {}).await;
    fetch.set_product(
        json!({"id": 7_309, "sku": "FOD-P1", "name": "Fetched product", "type": "product",
        "price": {"amount": 30, "currency": "SAR"}, "cost_price": {"amount": 12, "currency": "SAR"},
        "status": "sale", "quantity": 6, "categories": [{"id": 1, "name": "Fetched category"}],
        "updated_at": salla_date("2026-11-02 10:01:00")}),
    );
    // The product was never delivered by webhook; only its price change is.
    let (_, note) = h
        .applied(&job_from(&envelope(
            "product.price.updated",
            MERCHANT,
            "2026-11-02 10:01:00",
            json!({"id": 7_309, "sku": "FOD-P1", "price": 30, "regular_price": 30, "cost": 12}),
        )))
        .await;
    assert_eq!(fetch.product_calls(), 1);
    let note = note.unwrap_or_default();
    assert!(note.contains("applied as Salla has it now"), "{note}");
    let p = h.one(
        "product.product",
        json!([["default_code", "=", "FOD-P1"]]),
        &["name", "list_price", "standard_price", "categ_id", "active"],
    );
    assert_eq!(p["name"], "Fetched product", "{p}");
    assert_eq!(p["list_price"].as_f64(), Some(30.0), "{p}");
    assert_eq!(p["standard_price"].as_f64(), Some(12.0), "{p}");
    assert_eq!(p["categ_id"][1], "Fetched category", "{p}");
    assert_eq!(p["active"], true, "{p}");
    // The product.created this change followed arrives late: stale, the current state stays.
    let reason = h
        .skipped(&job_from(&envelope(
            "product.created",
            MERCHANT,
            "2026-11-02 10:00:00",
            json!({"id": 7_309, "sku": "FOD-P1", "name": "Old name", "type": "product",
                   "price": {"amount": 25, "currency": "SAR"}, "status": "sale",
                   "updated_at": salla_date("2026-11-02 10:00:00")}),
        )))
        .await;
    assert!(reason.starts_with("stale: "), "{reason}");
    let p = h.one(
        "product.product",
        json!([["default_code", "=", "FOD-P1"]]),
        &["name", "list_price"],
    );
    assert_eq!(
        (p["name"].as_str(), p["list_price"].as_f64()),
        (Some("Fetched product"), Some(30.0))
    );
}

#[tokio::test]
async fn a_fetched_product_older_than_odoos_is_dropped() {
    let (h, fetch) = with_fetch(|_| {}).await;
    h.applied(&job_from(&envelope(
        "product.updated",
        MERCHANT,
        "2026-11-02 10:10:00",
        json!({"id": 7_310, "sku": "FOD-P2", "name": "Newest", "type": "product",
               "price": {"amount": 40, "currency": "SAR"}, "status": "sale",
               "updated_at": salla_date("2026-11-02 10:10:00")}),
    )))
    .await;
    // A late status change, and an API answer that lags behind the webhook Odoo already has.
    fetch.set_product(
        json!({"id": 7_310, "sku": "FOD-P2", "name": "Lagging", "type": "product",
        "price": {"amount": 35, "currency": "SAR"}, "status": "hidden",
        "updated_at": salla_date("2026-11-02 10:05:00")}),
    );
    let reason = h
        .skipped(&job_from(&envelope(
            "product.status.updated",
            MERCHANT,
            "2026-11-02 10:02:00",
            json!({"id": 7_310, "sku": "FOD-P2", "status": "hidden"}),
        )))
        .await;
    assert!(reason.starts_with("stale: "), "{reason}");
    assert!(
        reason.contains("the product fetched from Salla is older than Odoo's"),
        "{reason}"
    );
    let p = h.one(
        "product.product",
        json!([
            ["default_code", "=", "FOD-P2"],
            ["active", "in", [true, false]]
        ]),
        &["name", "list_price", "active"],
    );
    assert_eq!(p["name"], "Newest", "{p}");
    assert_eq!(p["list_price"].as_f64(), Some(40.0), "{p}");
    assert_eq!(p["active"], true, "{p}");
}

#[tokio::test]
async fn stock_events_read_the_current_quantity_when_salla_is_the_stock_master() {
    let (h, fetch) = with_fetch(|s| s.stock_master = StockMaster::Salla).await;
    let product = |quantity: u32, at: &str| {
        json!({"id": 7_311, "sku": "FOD-S", "name": "Stocked", "type": "product",
               "price": {"amount": 9, "currency": "SAR"}, "status": "sale", "quantity": quantity,
               "updated_at": salla_date(at)})
    };
    h.applied(&job_from(&envelope(
        "product.created",
        MERCHANT,
        "2026-11-02 10:00:00",
        product(5, "2026-11-02 10:00:00"),
    )))
    .await;
    assert_eq!(fetch.calls(), 0);
    // The low-stock event says 2; by the time it is handled Salla has 9 (restocked).
    fetch.set_product(product(9, "2026-11-02 10:04:00"));
    let (_, note) = h
        .applied(&job_from(&envelope(
            "product.quantity.low",
            MERCHANT,
            "2026-11-02 10:03:00",
            product(2, "2026-11-02 10:03:00"),
        )))
        .await;
    assert_eq!(fetch.product_calls(), 1);
    let note = note.unwrap_or_default();
    assert!(note.contains("current quantity 9"), "{note}");
    let p = h.one(
        "product.product",
        json!([["default_code", "=", "FOD-S"]]),
        &["qty_available"],
    );
    assert_eq!(p["qty_available"].as_f64(), Some(9.0), "{p}");
}
