//! Reconciliation (`salla-odoo reconcile`) against `salla-sandbox`: orders whose webhooks never
//! arrived are found and synced, the watermark moves only forward, a dry run changes nothing, and an
//! order changed in Salla since it was synced is queued again; the window overlaps the watermark, so
//! an order stamped a little before it is still found; products and customers likewise.

use std::time::Duration;

use odoo_sandbox::{FaultKind, Match, Options, Version};
use salla_odoo_tests::salla::authorize_event;
use salla_odoo_tests::*;
use serde_json::{Value, json};

async fn sandboxes() -> (odoo_sandbox::Sandbox, salla_sandbox::Sandbox) {
    let odoo = odoo_sandbox::spawn(Options {
        version: Version::V18,
        ..Default::default()
    })
    .await
    .unwrap();
    let salla = salla_sandbox::spawn(salla_sandbox::Options::default())
        .await
        .unwrap();
    (odoo, salla)
}

/// The scheduled runs stay out of the way (`salla::env`): these tests run reconcile from the CLI.
fn env(sandbox: &salla_sandbox::Sandbox) -> Vec<(String, String)> {
    salla::env(sandbox)
}

/// Both sandboxes and a fleet (no worker yet) with store `merchant` added with `options` and the
/// app installed: its `app.store.authorize` webhook, carrying fresh tokens, is queued.
async fn installed_store(
    test: &str,
    merchant: u64,
    options: &[&str],
) -> (odoo_sandbox::Sandbox, salla_sandbox::Sandbox, Fleet) {
    let (odoo, salla) = sandboxes().await;
    let env = env(&salla);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let fleet = Fleet::start_with(test, &env).await;
    fleet.add_store(merchant, &odoo.url(), options);
    let (status, _) = fleet
        .ingest
        .post_signed(&authorize_event(merchant, &salla.authorize(merchant)))
        .await;
    assert_eq!(status, 200);
    (odoo, salla, fleet)
}

fn reconcile(fleet: &Fleet, merchant: u64, extra: &[&str]) -> Value {
    let m = merchant.to_string();
    let mut args = vec!["--json", "reconcile", "--merchant", &m];
    args.extend_from_slice(extra);
    let out = fleet.cli(&args, &[]);
    assert!(
        out.status.success(),
        "reconcile: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["stores"][0].clone()
}

fn sale_orders(odoo: &odoo_sandbox::Sandbox, merchant: u64) -> usize {
    odoo.inspect()
        .count(
            "sale.order",
            json!([["client_order_ref", "like", format!("salla:{merchant}:")]]),
        )
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_whose_webhooks_never_came_are_found_queued_and_synced_once() {
    const M: u64 = 802_001;
    let (odoo, salla, mut fleet) =
        installed_store("reconcile-missing", M, &["--create-unknown-skus"]).await;
    // Six orders in Salla; the webhooks of two reached the connector.
    let when = salla::hours_ago(24);
    for i in 0..6u64 {
        salla
            .seed_order(
                M,
                salla::api_order(
                    M,
                    91_000 + i,
                    &format!("REC-{}", 91_000 + i),
                    &when,
                    "under_review",
                ),
            )
            .unwrap();
    }
    for i in 0..2u64 {
        let body = order_event(
            "order.created",
            M,
            91_000 + i,
            &when,
            1,
            &format!("REC-{}", 91_000 + i),
        );
        assert_eq!(fleet.ingest.post_signed(&body).await.0, 200);
    }
    fleet.spawn_worker();
    fleet.wait_outcomes(3, Duration::from_secs(60)).await;
    assert_eq!(sale_orders(&odoo, M), 2);

    // A dry run reports and changes nothing.
    let dry = reconcile(&fleet, M, &["--dry-run"]);
    assert_eq!(
        (
            dry["checked"].as_u64(),
            dry["missing"].as_u64(),
            dry["queued"].as_u64()
        ),
        (Some(6), Some(4), Some(0)),
        "{dry}"
    );
    assert!(dry["watermark"].is_null(), "{dry}");

    let run = reconcile(&fleet, M, &[]);
    assert_eq!(run["checked"], 6, "{run}");
    assert_eq!(run["missing"], 4, "{run}");
    assert_eq!(run["queued"], 4, "{run}");
    assert!(!run["watermark"].is_null(), "{run}");
    fleet.wait_outcomes(7, Duration::from_secs(90)).await;
    assert_eq!(sale_orders(&odoo, M), 6, "each missing order synced once");
    let reconciled: i64 = fleet
        .db
        .scalar("SELECT count(*) FROM sync_log WHERE event = 'order.reconciled' AND outcome = 'applied'")
        .await;
    assert_eq!(reconciled, 4);

    // Again: the watermark moved, the window still overlaps, but nothing is missing now.
    let again = reconcile(&fleet, M, &[]);
    assert_eq!(
        (
            again["missing"].as_u64(),
            again["stale"].as_u64(),
            again["queued"].as_u64()
        ),
        (Some(0), Some(0), Some(0)),
        "{again}"
    );

    // An order changes in Salla after it was synced (its status, through the API): it is stale.
    let ack = salla_status(&salla, M, 91_003).await;
    assert!(ack, "status set in the sandbox");
    let stale = reconcile(&fleet, M, &[]);
    assert_eq!(stale["stale"], 1, "{stale}");
    assert_eq!(stale["queued"], 1, "{stale}");
    fleet.wait_outcomes(8, Duration::from_secs(60)).await;
    let state = odoo
        .inspect()
        .dump(
            "sale.order",
            json!([["client_order_ref", "=", format!("salla:{M}:91003")]]),
        )
        .unwrap();
    assert_eq!(
        state[0]["state"], "sale",
        "the newer status (in_progress → confirm) applied: {state:?}"
    );
    assert_eq!(sale_orders(&odoo, M), 6, "no duplicate");
}

/// Set an order's status in the sandbox the way the merchant would (the API bumps `updated_at`).
async fn salla_status(salla: &salla_sandbox::Sandbox, merchant: u64, order: u64) -> bool {
    let tokens = salla.authorize(merchant);
    let answer = reqwest::Client::new()
        .post(format!("{}/orders/{order}/status", salla.admin_url()))
        .bearer_auth(&tokens.access_token)
        .json(&json!({"slug": "in_progress"}))
        .send()
        .await
        .unwrap();
    answer.status().as_u16() == 201
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_store_is_backfilled_once_its_first_tokens_arrive() {
    let (odoo, salla) = sandboxes().await;
    const M: u64 = 802_002;
    let mut env = env(&salla);
    // Reconciliation on (its next scheduled round is an hour away): the backfill starts at once.
    env.push(("SALLA_ODOO__RECONCILE__INTERVAL_SECS".into(), "3600".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut fleet = Fleet::start_with("reconcile-backfill", &env).await;
    fleet.add_store(M, &odoo.url(), &["--create-unknown-skus"]);
    let when = salla::hours_ago(72);
    for i in 0..3u64 {
        salla
            .seed_order(
                M,
                salla::api_order(M, 92_000 + i, &format!("BF-{i}"), &when, "under_review"),
            )
            .unwrap();
    }
    fleet.spawn_worker();
    let (status, _) = fleet
        .ingest
        .post_signed(&authorize_event(M, &salla.authorize(M)))
        .await;
    assert_eq!(status, 200);
    // No order webhook at all: the tokens' arrival imports the store's history.
    fleet.wait_outcomes(4, Duration::from_secs(90)).await;
    assert_eq!(sale_orders(&odoo, M), 3);
    let out = fleet.cli(&["--json", "reconcile", "--merchant", &M.to_string()], &[]);
    let again: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again["stores"][0]["missing"], 0, "{again}");
    // `store backfill` on demand: nothing left to import.
    let out = fleet.cli(
        &[
            "--json",
            "store",
            "backfill",
            "--merchant",
            &M.to_string(),
            "--days",
            "5",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["stores"][0]["checked"], 3, "{report}");
    assert_eq!(report["stores"][0]["queued"], 0, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconcile_racing_a_webhook_for_the_same_order_makes_one_sale_order() {
    const M: u64 = 802_003;
    let (odoo, salla, mut fleet) =
        installed_store("reconcile-race", M, &["--create-unknown-skus"]).await;
    // The tokens are stored by a worker, which then stops: what follows waits in the queue.
    fleet.spawn_worker();
    fleet.wait_outcomes(1, Duration::from_secs(30)).await;
    assert!(
        fleet.workers[0]
            .terminate(Duration::from_secs(15))
            .is_some_and(|s| s.success()),
        "the worker drains and exits"
    );
    let when = salla::hours_ago(2);
    let orders: Vec<u64> = (0..4).map(|i| 93_000 + i).collect();
    for &o in &orders {
        salla
            .seed_order(
                M,
                salla::api_order(M, o, &format!("RACE-{o}"), &when, "under_review"),
            )
            .unwrap();
        // The webhook arrives (and waits in the queue: no worker yet)…
        let body = order_event("order.created", M, o, &when, 1, &format!("RACE-{o}"));
        assert_eq!(fleet.ingest.post_signed(&body).await.0, 200);
    }
    // …while reconciliation finds the same orders missing from Odoo and queues them too.
    let run = reconcile(&fleet, M, &[]);
    assert_eq!(run["missing"], 4, "{run}");
    assert_eq!(run["queued"], 4, "{run}");
    // Two workers take both kinds of job at once.
    fleet.spawn_worker();
    fleet.spawn_worker();
    fleet.wait_outcomes(9, Duration::from_secs(90)).await;
    assert_eq!(sale_orders(&odoo, M), 4, "one sale order per Salla order");
    let not_ok: i64 = fleet
        .db
        .scalar("SELECT count(*) FROM sync_log WHERE outcome NOT IN ('applied', 'skipped')")
        .await;
    assert_eq!(not_ok, 0);
}

fn envelope(event: &str, merchant: u64, created_at: &str, data: &Value) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"event": event, "merchant": merchant, "created_at": created_at, "data": data}),
    )
    .unwrap()
}

/// A product as Salla holds it (and sends it in `product.created`), changed at `updated_at`.
fn product(id: u64, sku: &str, name: &str, price: u32, updated_at: &str) -> Value {
    json!({"id": id, "sku": sku, "name": name, "type": "product",
           "price": {"amount": price, "currency": "SAR"}, "quantity": 10, "status": "sale",
           "unlimited_quantity": false, "updated_at": updated_at, "skus": [], "categories": []})
}

/// A customer as Salla holds it (and sends it in `customer.created`), changed at `updated_at`.
fn customer(id: u64, first_name: &str, updated_at: &str) -> Value {
    json!({"id": id, "first_name": first_name, "last_name": "Reconciled",
           "mobile": 500_000_000 + id % 1_000_000, "mobile_code": "+966",
           "email": format!("c{id}@example.test"), "city": "Riyadh", "country": "Saudi Arabia",
           "country_code": "SA", "updated_at": updated_at})
}

fn product_rows(odoo: &odoo_sandbox::Sandbox, code: &str) -> Vec<Value> {
    odoo.inspect()
        .dump("product.product", json!([["default_code", "=", code]]))
        .unwrap()
}

fn partners(odoo: &odoo_sandbox::Sandbox, merchant: u64, customer: u64) -> usize {
    odoo.inspect()
        .count(
            "res.partner",
            json!([["ref", "=", format!("salla:{merchant}:{customer}")]]),
        )
        .unwrap()
}

async fn applied(fleet: &Fleet, event: &str) -> i64 {
    fleet
        .db
        .scalar(&format!(
            "SELECT count(*) FROM sync_log WHERE event = '{event}' AND outcome = 'applied'"
        ))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn products_and_customers_odoo_lacks_or_holds_older_are_queued_and_the_rest_left_alone() {
    const M: u64 = 802_004;
    let (odoo, salla, mut fleet) = installed_store("reconcile-products", M, &[]).await;
    // In Salla: three products and two customers. Odoo has heard of the second product and the
    // second customer as they are now, and of the third product in an older version; the first
    // product and the first customer never reached it.
    let (earlier, recent) = (salla::hours_ago(10), salla::hours_ago(2));
    let missing = product(71_001, "RP-1", "Reconciled dates", 50, &recent);
    let same = product(71_002, "RP-2", "Unchanged dates", 60, &recent);
    let old = product(71_003, "RP-3", "Repriced dates", 70, &earlier);
    let newer = product(71_003, "RP-3", "Repriced dates", 75, &recent);
    for p in [&missing, &same, &newer] {
        salla.seed_product(M, p.clone()).unwrap();
    }
    let (lost, known) = (
        customer(61_001, "Lost", &recent),
        customer(61_002, "Known", &recent),
    );
    for c in [&lost, &known] {
        salla.seed_customer(M, c.clone()).unwrap();
    }
    for (event, data) in [
        ("product.created", &same),
        ("product.created", &old),
        ("customer.created", &known),
    ] {
        let (status, _) = fleet
            .ingest
            .post_signed(&envelope(event, M, &earlier, data))
            .await;
        assert_eq!(status, 200);
    }
    fleet.spawn_worker();
    fleet.wait_outcomes(4, Duration::from_secs(60)).await;
    assert_eq!(applied(&fleet, "product.created").await, 2);
    assert_eq!(product_rows(&odoo, "RP-3")[0]["list_price"], 70.0);

    // A dry run reports and queues nothing.
    let dry = reconcile(&fleet, M, &["--dry-run"]);
    let counts = |e: &Value| {
        (
            e["checked"].as_u64(),
            e["missing"].as_u64(),
            e["stale"].as_u64(),
            e["queued"].as_u64(),
        )
    };
    assert_eq!(
        counts(&dry["products"]),
        (Some(3), Some(1), Some(1), Some(0)),
        "{dry}"
    );
    assert_eq!(
        counts(&dry["customers"]),
        (Some(2), Some(1), Some(0), Some(0)),
        "{dry}"
    );
    assert!(dry["products"]["watermark"].is_null(), "{dry}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(fleet.outcomes().await, 4, "a dry run queues nothing");
    assert!(product_rows(&odoo, "RP-1").is_empty());

    // The run queues the missing product and customer and the stale product, not the others.
    let run = reconcile(&fleet, M, &[]);
    assert_eq!(
        counts(&run["products"]),
        (Some(3), Some(1), Some(1), Some(2)),
        "{run}"
    );
    assert_eq!(
        counts(&run["customers"]),
        (Some(2), Some(1), Some(0), Some(1)),
        "{run}"
    );
    assert!(!run["products"]["watermark"].is_null(), "{run}");
    assert!(run["customers"]["next_page"].is_null(), "{run}");
    fleet.wait_outcomes(7, Duration::from_secs(60)).await;
    assert_eq!(
        applied(&fleet, "product.reconciled").await,
        2,
        "{:?}",
        fleet.log().await
    );
    assert_eq!(
        applied(&fleet, "customer.reconciled").await,
        1,
        "{:?}",
        fleet.log().await
    );
    let created = product_rows(&odoo, "RP-1");
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0]["name"], "Reconciled dates");
    assert_eq!(created[0]["list_price"], 50.0);
    let repriced = product_rows(&odoo, "RP-3");
    assert_eq!(repriced.len(), 1, "{repriced:?}");
    assert_eq!(
        repriced[0]["list_price"], 75.0,
        "the newer Salla version applied"
    );
    assert_eq!(product_rows(&odoo, "RP-2").len(), 1);
    assert_eq!(
        partners(&odoo, M, 61_001),
        1,
        "the missing customer created"
    );
    assert_eq!(
        partners(&odoo, M, 61_002),
        1,
        "no duplicate of the known one"
    );

    // Again: nothing is missing or stale now, so nothing is queued.
    let again = reconcile(&fleet, M, &[]);
    assert_eq!(
        counts(&again["products"]),
        (Some(3), Some(0), Some(0), Some(0)),
        "{again}"
    );
    assert_eq!(
        counts(&again["customers"]),
        (Some(2), Some(0), Some(0), Some(0)),
        "{again}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_imports_the_products_its_orders_use_without_create_unknown_skus() {
    let (odoo, salla) = sandboxes().await;
    const M: u64 = 802_005;
    let mut env = env(&salla);
    // Reconciliation on (its next scheduled round is an hour away): the backfill starts at once.
    env.push(("SALLA_ODOO__RECONCILE__INTERVAL_SECS".into(), "3600".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut fleet = Fleet::start_with("reconcile-backfill-products", &env).await;
    // No --create-unknown-skus: an order whose product Odoo lacks could not be synced.
    fleet.add_store(M, &odoo.url(), &[]);
    let when = salla::hours_ago(30);
    let used = [(72_001u64, "BFP-1"), (72_002, "BFP-2")];
    for (id, sku) in used {
        salla
            .seed_product(
                M,
                product(id, sku, &format!("Backfilled {sku}"), 100, &when),
            )
            .unwrap();
    }
    // A product no order of the window uses: a backfill leaves it to the scheduled runs.
    salla
        .seed_product(M, product(72_003, "BFP-UNSOLD", "Unsold", 100, &when))
        .unwrap();
    for i in 0..4u64 {
        let (product_id, sku) = used[(i % 2) as usize];
        let mut order = salla::api_order(M, 94_000 + i, sku, &when, "under_review");
        order["items"][0]["product"] =
            json!({"id": product_id, "name": format!("Backfilled {sku}")});
        salla.seed_order(M, order).unwrap();
    }
    // Odoo refuses the first product creates (the product jobs retry after a backoff): orders
    // run before their products would fail for good, so they wait for them.
    odoo.faults().inject(
        Match::any()
            .model("product.product")
            .method("create")
            .times(2),
        FaultKind::Http5xx(503),
    );
    fleet.spawn_worker();
    let (status, _) = fleet
        .ingest
        .post_signed(&authorize_event(M, &salla.authorize(M)))
        .await;
    assert_eq!(status, 200);
    // The tokens' arrival imports the two products, then the four orders that use them.
    fleet.wait_outcomes(7, Duration::from_secs(120)).await;
    let log = fleet.log().await;
    assert_eq!(applied(&fleet, "product.reconciled").await, 2, "{log:?}");
    assert_eq!(sale_orders(&odoo, M), 4, "{log:?}");
    let not_ok: i64 = fleet
        .db
        .scalar("SELECT count(*) FROM sync_log WHERE outcome NOT IN ('applied', 'skipped')")
        .await;
    assert_eq!(not_ok, 0, "{log:?}");
    assert_eq!(product_rows(&odoo, "BFP-1")[0]["name"], "Backfilled BFP-1");
    assert!(
        product_rows(&odoo, "BFP-UNSOLD").is_empty(),
        "a backfill imports the products its orders use, not the whole list"
    );

    // `store backfill` on demand: the same orders, their products already in Odoo.
    let out = fleet.cli(
        &[
            "--json",
            "store",
            "backfill",
            "--merchant",
            &M.to_string(),
            "--days",
            "5",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let store = &report["stores"][0];
    assert_eq!(store["checked"], 4, "{report}");
    assert_eq!(store["queued"], 0, "{report}");
    assert_eq!(store["products"]["queued"], 0, "{report}");
    assert!(!store["products"]["skipped"].is_null(), "{report}");
    assert!(!store["customers"]["skipped"].is_null(), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_overlaps_the_watermark_for_orders_stamped_late() {
    const M: u64 = 802_006;
    let (odoo, salla, mut fleet) =
        installed_store("reconcile-overlap", M, &["--create-unknown-skus"]).await;
    fleet.spawn_worker();
    // The tokens are stored before the first run (else it finds the store without them).
    fleet.wait_outcomes(1, Duration::from_secs(30)).await;
    let seed = |order: u64, minutes_ago: i64| {
        let at = salla::riyadh(time::Duration::minutes(-minutes_ago));
        salla
            .seed_order(
                M,
                salla::api_order(M, order, &format!("OVL-{order}"), &at, "under_review"),
            )
            .unwrap();
    };
    // One order two hours ago: the first run syncs it and the watermark moves to its updated_at.
    seed(95_000, 120);
    let first = reconcile(&fleet, M, &[]);
    assert_eq!(first["queued"], 1, "{first}");
    fleet.wait_outcomes(2, Duration::from_secs(60)).await;

    // An order stamped 5 minutes before the watermark shows up only now (a clock a little behind,
    // a transaction that committed late): the window starts `overlap` (10 minutes) before the
    // watermark, so it is found; the order already synced is checked again and left alone.
    seed(95_001, 125);
    let late = reconcile(&fleet, M, &[]);
    assert_eq!(
        (
            late["checked"].as_u64(),
            late["missing"].as_u64(),
            late["stale"].as_u64(),
            late["queued"].as_u64()
        ),
        (Some(2), Some(1), Some(0), Some(1)),
        "{late}"
    );
    fleet.wait_outcomes(3, Duration::from_secs(60)).await;

    // One stamped 20 minutes before it is outside the window: a run leaves it to `--since`.
    seed(95_002, 140);
    let outside = reconcile(&fleet, M, &[]);
    assert_eq!(outside["missing"], 0, "{outside}");
    let day = (time::OffsetDateTime::now_utc() - time::Duration::days(2)).date();
    let since = format!(
        "{:04}-{:02}-{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    );
    let recovered = reconcile(&fleet, M, &["--since", &since]);
    assert_eq!(recovered["missing"], 1, "{recovered}");
    assert_eq!(recovered["queued"], 1, "{recovered}");
    fleet.wait_outcomes(4, Duration::from_secs(60)).await;
    assert_eq!(sale_orders(&odoo, M), 3, "each order once");
}
