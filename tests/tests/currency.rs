//! Currencies and amounts (issue 17) through the whole pipeline: stores configured with the real
//! `salla-odoo store add --pricelists …`, signed webhooks through ingest and workers into
//! odoo-sandbox, in both modes; and `doctor`'s pricelist check.

use std::time::Duration;

use odoo_sandbox::{Options, Version};
use salla_odoo_tests::*;
use serde_json::{Value, json};

async fn sandbox(pricelist_currency: Option<&str>) -> odoo_sandbox::Sandbox {
    odoo_sandbox::spawn(Options {
        version: Version::V18,
        pricelist_currency: pricelist_currency.map(str::to_owned),
        ..Default::default()
    })
    .await
    .unwrap()
}

fn admin(odoo: &odoo_sandbox::Sandbox) -> odoo::Client {
    odoo::Client::new(
        odoo::Config::new(&odoo.url(), "odoo", "admin", "admin".to_owned().into()).unwrap(),
    )
    .unwrap()
}

async fn create_pricelist(odoo: &odoo_sandbox::Sandbox, name: &str, currency: i64) -> i64 {
    let mut vals = serde_json::Map::new();
    vals.insert("name".into(), json!(name));
    vals.insert("currency_id".into(), json!(currency));
    vals.insert("sequence".into(), json!(50));
    admin(odoo).create("product.pricelist", vals).await.unwrap()
}

/// A tax-free `order.created` in `cur`: `qty` × `price` of `sku` with `discount` off, `shipping`,
/// and Salla's `total`.
#[allow(clippy::too_many_arguments)]
fn order(
    merchant: u64,
    id: u64,
    cur: &str,
    sku: &str,
    qty: u32,
    price: f64,
    discount: f64,
    shipping: f64,
    total: f64,
) -> Vec<u8> {
    let m = |a: f64| json!({"amount": a, "currency": cur});
    serde_json::to_vec(&json!({
        "event": "order.created", "merchant": merchant, "created_at": "2026-12-02 09:00:00",
        "data": {
            "id": id, "reference_id": id % 100_000, "currency": cur,
            "status": {"id": 1, "name": "x", "slug": "under_review"},
            "amounts": {"shipping_cost": m(shipping), "cash_on_delivery": m(0.0),
                        "tax": {"percent": "0.00", "amount": m(0.0)},
                        "discounts": [], "total": m(total)},
            "customer": {"id": 8_000 + id % 10, "first_name": "Omar", "last_name": "Test",
                         "mobile": 555_200_000 + id % 10, "mobile_code": "+966",
                         "email": format!("omar{}@example.test", id % 10)},
            "items": [{"id": id * 10, "name": sku, "sku": sku, "quantity": qty,
                       "amounts": {"price_without_tax": m(price), "total_discount": m(discount),
                                   "tax": {"percent": "0.00", "amount": m(0.0)}}}]
        }
    }))
    .unwrap()
}

fn sale_order(odoo: &odoo_sandbox::Sandbox, merchant: u64, id: u64) -> Value {
    let mut found = odoo
        .inspect()
        .read(
            "sale.order",
            json!([["client_order_ref", "=", format!("salla:{merchant}:{id}")]]),
            &["currency_id", "pricelist_id", "amount_total"],
        )
        .unwrap();
    assert_eq!(found.len(), 1, "{merchant}/{id}: {found:?}");
    found.remove(0)
}

fn cents(v: &Value) -> i64 {
    (v.as_f64().unwrap_or(f64::NAN) * 100.0).round() as i64
}

/// One store, orders in SAR, USD and AED: `--pricelists USD=ID` sends the USD order to the USD
/// pricelist, SAR uses Odoo's SAR default, AED (no pricelist) is dead-lettered naming the currency
/// and the setting; every applied order's total is Salla's, one through a rounding line the sync
/// log names. After an AED pricelist is named the replay applies it.
async fn orders_go_to_odoo_in_their_own_currency_with_sallas_totals(mode: Mode) {
    const M: u64 = 1_718_000_001;
    let odoo = sandbox(None).await;
    let usd = create_pricelist(&odoo, "Dollars", 2).await;
    let mut fleet = Fleet::start_in(mode, "e2e-currency", &[]).await;
    fleet.add_store(
        M,
        &odoo.url(),
        &[
            "--create-unknown-skus",
            "--pricelists",
            &format!("USD={usd}"),
        ],
    );
    fleet.spawn_worker();
    let orders = [
        // 2 × 45 + 15 shipping.
        (9_301, "SAR", 2, 45.0, 0.0, 15.0, 105.0),
        // 7 × 1234.56 − 100 (Odoo: 1.16%, 8541.67): a rounding line of 0.25.
        (9_302, "USD", 7, 1234.56, 100.0, 0.0, 8541.92),
        (9_303, "AED", 1, 10.0, 0.0, 0.0, 10.0),
    ];
    for (id, cur, qty, price, discount, ship, total) in orders {
        let body = order(M, id, cur, "CUR-1", qty, price, discount, ship, total);
        let (status, answer) = fleet.ingest.post_signed(&body).await;
        assert_eq!(status, 200, "{answer}");
    }
    fleet.wait_outcomes(3, Duration::from_secs(60)).await;
    let sar = sale_order(&odoo, M, 9_301);
    assert_eq!(sar["currency_id"][1], "SAR");
    assert_eq!(cents(&sar["amount_total"]), 10_500);
    let usd_order = sale_order(&odoo, M, 9_302);
    assert_eq!(usd_order["currency_id"][1], "USD");
    assert_eq!(usd_order["pricelist_id"][0], json!(usd));
    assert_eq!(cents(&usd_order["amount_total"]), 854_192);
    let log = fleet.log().await;
    assert!(
        log.iter().any(|(_, o, r)| o == "applied"
            && r.as_deref()
                .is_some_and(|r| r.contains("rounding line +0.25 USD"))),
        "{log:?}"
    );
    let dead: Vec<_> = log
        .iter()
        .filter(|(_, o, _)| o == "dead_lettered")
        .collect();
    assert_eq!(dead.len(), 1, "{log:?}");
    let reason = dead[0].2.as_deref().unwrap_or_default();
    assert!(
        reason.contains("is in AED") && reason.contains("--pricelists AED=ID"),
        "{reason}"
    );
    assert!(
        odoo.inspect()
            .read(
                "sale.order",
                json!([["client_order_ref", "=", format!("salla:{M}:9303")]]),
                &["id"]
            )
            .unwrap()
            .is_empty(),
        "nothing written in another currency"
    );

    // The operator names an AED pricelist and replays.
    let aed = create_pricelist(&odoo, "Dirhams", 4).await;
    let out = fleet.cli(
        &[
            "store",
            "update",
            "--merchant",
            &M.to_string(),
            "--pricelists",
            &format!("AED={aed}"),
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let letters = salla_odoo_store::outbox::list(&fleet.db.pool, &Default::default())
        .await
        .unwrap();
    let out = fleet.cli(&["dlq", "replay", &letters[0].id.to_string()], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    fleet.wait_outcomes(4, Duration::from_secs(60)).await;
    let aed_order = sale_order(&odoo, M, 9_303);
    assert_eq!(aed_order["currency_id"][1], "AED");
    assert_eq!(aed_order["pricelist_id"][0], json!(aed));
    assert_eq!(cents(&aed_order["amount_total"]), 1_000);
    fleet.workers.clear();
    odoo.shutdown().await;
}

/// `doctor` warns when the default pricelist is not in the store's currency (the Odoo:
/// company SAR, default pricelist left in USD), says SAR orders would fail while no SAR pricelist
/// exists, and is satisfied once the store's pricelist is a SAR one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_warns_when_the_default_pricelist_is_not_in_the_stores_currency() {
    const M: u64 = 1_718_000_002;
    let odoo = sandbox(Some("USD")).await;
    let fleet = Fleet::start("e2e-currency-doctor").await;
    fleet.add_store(M, &odoo.url(), &["--currency", "SAR"]);
    let name = format!("store {M} pricelist");
    let check = |fleet: &Fleet| {
        let out = fleet.cli(&["doctor", "--json"], &[]);
        let checks: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            out.status.success(),
            "warnings do not fail the doctor: {checks}"
        );
        checks
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == name.as_str())
            .unwrap_or_else(|| panic!("no {name} check: {checks}"))
            .clone()
    };
    let c = check(&fleet);
    assert_eq!(c["level"], "warn", "{c}");
    let detail = c["detail"].as_str().unwrap();
    assert!(
        detail.contains("default pricelist 1 is in USD")
            && detail.contains("currency is SAR")
            && detail.contains("SAR orders fail permanently"),
        "{detail}"
    );

    let sar = create_pricelist(&odoo, "Riyals", 3).await;
    let c = check(&fleet);
    assert_eq!(c["level"], "warn", "{c}");
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("SAR orders use pricelist {sar}")),
        "{c}"
    );

    let out = fleet.cli(
        &[
            "store",
            "update",
            "--merchant",
            &M.to_string(),
            "--pricelist-id",
            &sar.to_string(),
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c = check(&fleet);
    assert_eq!(c["level"], "ok", "{c}");
    odoo.shutdown().await;
}

/// Each listed `async fn name(mode: Mode)` becomes the tests `fleet::name` and `embedded::name`.
macro_rules! in_both_modes {
    ($($name:ident),* $(,)?) => {
        mod fleet {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Mode::Fleet).await
                }
            )*
        }
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Mode::Embedded).await
                }
            )*
        }
    };
}

in_both_modes!(orders_go_to_odoo_in_their_own_currency_with_sallas_totals);
