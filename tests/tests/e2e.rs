//! The whole pipeline: signed webhook → ingest → queue → workers → odoo-sandbox, with the outcome in
//! the store. Stores are configured with the real `salla-odoo store add`.
//!
//! The suite of the sync engine runs in both modes (one body, parametrised by [`Mode`]): the fleet
//! (Redis, Postgres, `salla-odoo-worker` processes) and embedded (one `salla-odoo run` process on
//! SQLite files); see `in_both_modes!` at the end. Tests about fleet-only parts (several worker
//! processes, Redis keys, Postgres) run in fleet mode only.

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

async fn every_fixture_ends_in_the_expected_odoo_records(mode: Mode) {
    let Some(fixtures) = salla_fixtures() else {
        return;
    };
    let odoo = sandbox(Version::V18).await;
    // The shipment fixtures name orders that no fixture creates: after a few attempts they are
    // dead-lettered with that reason (in production the budget spans a day for the order to arrive).
    let mut fleet = Fleet::start_in(
        mode,
        "e2e-fixtures",
        &[("SALLA_ODOO__RETRY__MAX_ATTEMPTS", "3")],
    )
    .await;
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
    // customer.created and the customer inside order.created are the same Salla customer (225167971)
    // with different data: one partner, carrying the newer data (the order's, updated 2022-06-22),
    // whichever job ran first.
    let partners = inspect
        .dump(
            "res.partner",
            json!([["ref", "=", "salla:1305146709:225167971"]]),
        )
        .unwrap();
    assert_eq!(partners.len(), 1, "{partners:?}");
    assert_eq!(partners[0]["email"], "usertest@gmail.com", "{partners:?}");
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
    let tokens = fleet
        .db
        .scalar("SELECT count(*) FROM secrets WHERE merchant_id = 1234509876")
        .await;
    assert!(tokens >= 1);
    fleet.workers.clear();
    odoo.shutdown().await;
}

fn sale_orders(odoo: &odoo_sandbox::Sandbox, merchant: u64, order: u64) -> Vec<serde_json::Value> {
    odoo.inspect()
        .dump(
            "sale.order",
            json!([["client_order_ref", "=", format!("salla:{merchant}:{order}")]]),
        )
        .unwrap()
}

async fn duplicates_and_out_of_order_deliveries_end_in_one_sale_order_with_the_newest_state(
    mode: Mode,
) {
    let odoo = sandbox(Version::V18).await;
    let mut fleet = Fleet::start_in(mode, "e2e-order", &[]).await;
    fleet.add_store(501, &odoo.url(), &["--create-unknown-skus"]);
    fleet.spawn_worker();
    // The update (2 boxes) arrives before the creation (1 box), and five times over.
    let updated = order_event(
        "order.updated",
        501,
        9001,
        "2026-11-02 10:05:00",
        2,
        "DATES-1",
    );
    let created = order_event(
        "order.created",
        501,
        9001,
        "2026-11-02 10:00:00",
        1,
        "DATES-1",
    );
    for _ in 0..5 {
        let (status, _) = fleet.ingest.post_signed(&updated).await;
        assert_eq!(status, 200);
    }
    // The same content re-serialised (so not a byte-identical duplicate) is a second job.
    let mut respaced = updated.clone();
    respaced.push(b'\n');
    fleet.ingest.post_signed(&respaced).await;
    fleet.ingest.post_signed(&created).await;
    fleet.wait_outcomes(3, Duration::from_secs(30)).await;

    let orders = sale_orders(&odoo, 501, 9001);
    assert_eq!(orders.len(), 1, "{orders:?}");
    let lines = odoo
        .inspect()
        .dump(
            "sale.order.line",
            json!([["order_id", "=", orders[0]["id"]]]),
        )
        .unwrap();
    let qty: f64 = lines
        .iter()
        .filter_map(|l| l["product_uom_qty"].as_f64())
        .sum();
    assert_eq!(qty, 2.0, "the newest state wins: {lines:?}");
    // Jobs fetched in one batch run concurrently (the entity lock orders them, not the post order):
    // an order.created that ran after an update is skipped as stale, one that ran first is applied
    // and then overwritten. Either way the newest state won (above).
    let log = fleet.log().await;
    let created = log
        .iter()
        .position(|(e, _, _)| e == "order.created")
        .expect("order.created has an outcome");
    let after_an_update = log[..created]
        .iter()
        .any(|(e, o, _)| e == "order.updated" && o == "applied");
    let (_, outcome, reason) = &log[created];
    if after_an_update {
        assert!(
            outcome == "skipped" && reason.as_deref().unwrap_or("").contains("stale"),
            "{log:?}"
        );
    } else {
        assert_eq!(outcome, "applied", "{log:?}");
    }
    assert_eq!(
        odoo.inspect()
            .count(
                "res.partner",
                json!([["email", "=", "noura6@example.test"]])
            )
            .unwrap(),
        1
    );
}

async fn odoo_failures_are_retried_and_applied_exactly_once(mode: Mode) {
    use odoo_sandbox::{FaultKind, Match};
    let odoo = sandbox(Version::V18).await;
    let mut fleet = Fleet::start_in(mode, "e2e-faults", &[]).await;
    fleet.add_store(502, &odoo.url(), &["--create-unknown-skus"]);
    // 5xx bursts, and one create that commits in Odoo but never answers.
    odoo.faults().inject(
        Match::any().model("sale.order").method("create").times(2),
        FaultKind::Http5xx(503),
    );
    odoo.faults().inject(
        Match::any()
            .model("res.partner")
            .method("search_read")
            .times(2),
        FaultKind::Http5xx(502),
    );
    odoo.faults()
        .commit_then_drop(Match::any().model("sale.order").method("create").times(1));
    fleet.spawn_worker();
    for order in 1..=5 {
        fleet
            .ingest
            .post_signed(&order_event(
                "order.created",
                502,
                9100 + order,
                "2026-11-02 10:00:00",
                1,
                "TEA-9",
            ))
            .await;
    }
    fleet.wait_outcomes(5, Duration::from_secs(60)).await;
    for order in 1..=5 {
        assert_eq!(
            sale_orders(&odoo, 502, 9100 + order).len(),
            1,
            "order {order}"
        );
    }
    assert!(fleet.log().await.iter().all(|(_, o, _)| o == "applied"));

    // An outage window: the orders wait and are applied when Odoo is back.
    odoo.faults().outage(Some(Duration::from_secs(3)));
    for order in 6..=8 {
        fleet
            .ingest
            .post_signed(&order_event(
                "order.created",
                502,
                9100 + order,
                "2026-11-02 10:00:00",
                1,
                "TEA-9",
            ))
            .await;
    }
    fleet.wait_outcomes(8, Duration::from_secs(60)).await;
    for order in 6..=8 {
        assert_eq!(
            sale_orders(&odoo, 502, 9100 + order).len(),
            1,
            "order {order}"
        );
    }
}

async fn a_permanent_error_goes_to_the_outbox_with_its_message(mode: Mode) {
    let odoo = sandbox(Version::V17).await;
    let mut fleet = Fleet::start_in(mode, "e2e-permanent", &[]).await;
    // Unknown SKUs are not created for this store: the order cannot be applied.
    fleet.add_store(503, &odoo.url(), &[]);
    fleet.spawn_worker();
    fleet
        .ingest
        .post_signed(&order_event(
            "order.created",
            503,
            9201,
            "2026-11-02 10:00:00",
            1,
            "NOPE-1",
        ))
        .await;
    fleet.wait_outcomes(1, Duration::from_secs(30)).await;
    let (event, outcome, reason) = fleet.log().await.remove(0);
    assert_eq!(
        (event.as_str(), outcome.as_str()),
        ("order.created", "dead_lettered")
    );
    assert!(reason.unwrap().contains("NOPE-1"));
    // The operator sees it with the CLI…
    let out = fleet.cli(&["dlq", "list", "--json"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    let letters = salla_odoo_store::outbox::list(&fleet.db.pool, &Default::default())
        .await
        .unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].class, "permanent");
    assert!(letters[0].error.contains("NOPE-1"));
    assert!(sale_orders(&odoo, 503, 9201).is_empty());

    // …fixes the cause (the store may now create unknown SKUs), replays it twice: applied once.
    let out = fleet.cli(
        &[
            "store",
            "update",
            "--merchant",
            "503",
            "--create-unknown-skus",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = letters[0].id.to_string();
    let first = fleet.cli(&["dlq", "replay", &id], &[]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let again = fleet.cli(&["dlq", "replay", &id], &[]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    fleet.wait_outcomes(2, Duration::from_secs(30)).await;
    assert_eq!(sale_orders(&odoo, 503, 9201).len(), 1);
    let log = fleet.log().await;
    assert_eq!(
        log.len(),
        2,
        "the original dead letter and one replay: {log:?}"
    );
    assert_eq!(log[1].1, "applied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_job_loses_and_duplicates_nothing() {
    let odoo = sandbox(Version::V18).await;
    odoo.faults()
        .set_latency(Duration::from_millis(40), Duration::ZERO);
    let mut fleet = Fleet::start("e2e-kill").await;
    fleet.add_store(504, &odoo.url(), &["--create-unknown-skus"]);
    let first = fleet.spawn_worker();
    fleet.spawn_worker();
    let n = 30;
    for order in 0..n {
        fleet
            .ingest
            .post_signed(&order_event(
                "order.created",
                504,
                9300 + order,
                "2026-11-02 10:00:00",
                1,
                "KILL-1",
            ))
            .await;
    }
    // Kill one worker while jobs are in flight.
    while fleet.outcomes().await < 3 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    fleet.workers[first].kill();
    fleet.wait_outcomes(n as i64, Duration::from_secs(90)).await;
    for order in 0..n {
        assert_eq!(
            sale_orders(&odoo, 504, 9300 + order).len(),
            1,
            "order {order}"
        );
    }
    let log = fleet.log().await;
    assert_eq!(log.len(), n as usize);
    assert!(log.iter().all(|(_, o, _)| o == "applied"), "{log:?}");
}

async fn one_stores_dead_odoo_does_not_hold_back_the_others(mode: Mode) {
    const STORES: u64 = 10;
    const PER_STORE: u64 = 100;
    let healthy = sandbox(Version::V18).await;
    let dead = sandbox(Version::V18).await;
    let mut fleet = Fleet::start_in(mode, "e2e-starve", &[]).await;
    for s in 0..STORES {
        let url = if s == STORES - 1 {
            dead.url()
        } else {
            healthy.url()
        };
        fleet.add_store(600 + s, &url, &["--create-unknown-skus"]);
    }
    dead.faults().outage(None);
    fleet.spawn_worker();
    fleet.spawn_worker();
    let bodies: Vec<Vec<u8>> = (0..PER_STORE)
        .flat_map(|i| {
            (0..STORES).map(move |s| {
                order_event(
                    "order.created",
                    600 + s,
                    10_000 + s * 1000 + i,
                    "2026-11-02 10:00:00",
                    1,
                    "BULK-1",
                )
            })
        })
        .collect();
    for chunk in bodies.chunks(50) {
        futures::future::join_all(chunk.iter().map(|b| fleet.ingest.post_signed(b))).await;
    }
    let healthy_jobs = ((STORES - 1) * PER_STORE) as i64;
    fleet
        .wait_outcomes(healthy_jobs, Duration::from_secs(240))
        .await;
    let applied_dead = fleet
        .db
        .scalar(&format!(
            "SELECT count(*) FROM sync_log WHERE merchant_id = {}",
            600 + STORES - 1
        ))
        .await;
    assert_eq!(applied_dead, 0, "the dead store's jobs wait");
    assert_eq!(
        healthy.inspect().count("sale.order", json!([])).unwrap(),
        healthy_jobs as usize
    );

    dead.faults().end_outage();
    fleet
        .wait_outcomes((STORES * PER_STORE) as i64, Duration::from_secs(240))
        .await;
    assert_eq!(
        dead.inspect().count("sale.order", json!([])).unwrap(),
        PER_STORE as usize
    );
    let not_applied = fleet
        .db
        .scalar("SELECT count(*) FROM sync_log WHERE outcome <> 'applied'")
        .await;
    assert_eq!(not_applied, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_exposes_its_metrics() {
    let odoo = sandbox(Version::V18).await;
    let mut fleet = Fleet::start("e2e-metrics").await;
    fleet.add_store(505, &odoo.url(), &["--create-unknown-skus"]);
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    fleet.spawn_worker_with(&["--metrics-listen", &listen]);
    fleet
        .ingest
        .post_signed(&order_event(
            "order.created",
            505,
            9401,
            "2026-11-02 10:00:00",
            1,
            "MET-1",
        ))
        .await;
    fleet.wait_outcomes(1, Duration::from_secs(30)).await;
    let client = reqwest::Client::new();
    let url = format!("http://{listen}/metrics");
    let mut text = String::new();
    for _ in 0..100 {
        if let Ok(r) = client.get(&url).send().await {
            text = r.text().await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A sample of `name` carrying every one of `labels` (in whatever order the exporter writes
    // them; every worker metric also has `worker`, Odoo calls `merchant`), and its value.
    let sample = |name: &str, labels: &[&str]| -> Option<String> {
        text.lines()
            .filter(|l| l.starts_with(&format!("{name}{{")))
            .find(|l| labels.iter().all(|kv| l.contains(kv)) && l.contains("worker=\""))
            .and_then(|l| l.rsplit(' ').next().map(str::to_owned))
    };
    assert_eq!(
        sample(
            "salla_odoo_jobs_total",
            &[r#"kind="order.upsert""#, r#"outcome="applied""#]
        )
        .as_deref(),
        Some("1"),
        "{text}"
    );
    assert!(
        text.contains("salla_odoo_job_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        sample(
            "salla_odoo_odoo_call_duration_seconds_count",
            &[r#"method="create""#, r#"merchant="505""#]
        )
        .is_some(),
        "{text}"
    );
    let health = client
        .get(format!("http://{listen}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
}

#[tokio::test]
async fn retention_run_reports_what_it_deleted() {
    let fleet = Fleet::start("e2e-retention").await;
    sqlx::query(
        "INSERT INTO sync_log (job_id, merchant_id, event, kind, outcome, attempt, duration_ms, odoo_ids, recorded_at)
         VALUES ($1, 1, 'order.created', 'order.upsert', 'applied', 0, 1, '{}', now() - interval '45 days')",
    )
    .bind(uuid::Uuid::now_v7())
    .execute(fleet.db.pg())
    .await
    .unwrap();
    let dry = fleet.cli(&["retention", "run", "--dry-run", "--json"], &[]);
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&dry.stdout).unwrap();
    assert_eq!(
        (report["dry_run"].as_bool(), report["sync_log"].as_u64()),
        (Some(true), Some(1))
    );
    let out = fleet.cli(&["retention", "run"], &[]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("sync log entries deleted:            1")
    );
    assert_eq!(fleet.outcomes().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_purge_removes_everything_of_the_store_and_says_what() {
    let odoo = sandbox(Version::V18).await;
    let mut fleet = Fleet::start("e2e-purge").await;
    fleet.add_store(507, &odoo.url(), &["--create-unknown-skus"]);
    fleet.add_store(508, &odoo.url(), &["--create-unknown-skus"]);
    let worker = fleet.spawn_worker();
    for order in 0..3 {
        fleet
            .ingest
            .post_signed(&order_event(
                "order.created",
                507,
                9500 + order,
                "2026-11-02 10:00:00",
                1,
                "PURGE-1",
            ))
            .await;
    }
    fleet.wait_outcomes(3, Duration::from_secs(30)).await;
    // With the workers stopped, both stores have jobs waiting in the queue.
    fleet.workers[worker].kill();
    for order in 3..5 {
        fleet
            .ingest
            .post_signed(&order_event(
                "order.created",
                507,
                9500 + order,
                "2026-11-02 10:00:00",
                1,
                "PURGE-1",
            ))
            .await;
    }
    fleet
        .ingest
        .post_signed(&order_event(
            "order.created",
            508,
            9600,
            "2026-11-02 10:00:00",
            1,
            "PURGE-1",
        ))
        .await;

    let refused = fleet.cli(&["store", "purge", "--merchant", "507"], &[]);
    assert_eq!(refused.status.code(), Some(2));
    let dry = fleet.cli(
        &["store", "purge", "--merchant", "507", "--dry-run", "--json"],
        &[],
    );
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&dry.stdout).unwrap();
    assert_eq!(report["queued_jobs"], 2);
    assert_eq!(report["removed"]["sync_log"], 3);
    assert_eq!(
        fleet.ingest.queue.stats().await.unwrap().queued,
        3,
        "a dry run removes nothing"
    );

    let out = fleet.cli(&["store", "purge", "--merchant", "507", "--yes"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("queued jobs       2") && text.contains("sync log entries  3"),
        "{text}"
    );

    // No row in any table, no Redis key and no job mentions the merchant; the other store's job is
    // still queued.
    assert_eq!(fleet.mentions_of(507).await, Vec::<String>::new());
    let waiting = fleet.ingest.queue.waiting_jobs().await.unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].v1().merchant.get(), 508);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_checks_every_dependency_and_each_stores_odoo() {
    let odoo = sandbox(Version::V18).await;
    let fleet = Fleet::start("e2e-doctor").await;
    fleet.add_store(509, &odoo.url(), &[]);
    let out = fleet.cli(&["doctor", "--json"], &[]);
    let checks: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out.status.success(), "{checks}");
    let names: Vec<&str> = checks
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    for expected in [
        "redis",
        "postgres",
        "migrations",
        "clock",
        "secrets key",
        "store 509 odoo",
    ] {
        assert!(names.contains(&expected), "{names:?}");
    }
    // The queue needs Redis 6.2 or newer; doctor says which it found.
    let redis = checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "redis")
        .unwrap();
    assert!(
        redis["detail"].as_str().unwrap().contains("Redis "),
        "{redis}"
    );

    // The store's Odoo key stops working: doctor says which check failed and exits 1.
    odoo.faults().set_expired_credentials(true);
    let out = fleet.cli(&["doctor"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("FAIL") && l.contains("store 509 odoo")),
        "{text}"
    );
    assert!(!text.contains("admin\n"), "no credentials in the output");

    // Redis unreachable: a failed check too, not a crash.
    let out = fleet.cli(
        &["doctor", "--json"],
        &[
            ("REDIS_URL", "redis://127.0.0.1:1"),
            ("SALLA_ODOO__REDIS__URL", "redis://127.0.0.1:1"),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let checks: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        checks
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["check"] == "redis" && c["ok"] == false)
    );
}

fn app_event(event: &str, merchant: u64, extra: serde_json::Value) -> Vec<u8> {
    let mut data = json!({"id": 6_700_000_001u64, "app_name": "salla-odoo test app", "store_type": "demo",
                          "installation_date": "2026-11-01 10:00:00"});
    data.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    serde_json::to_vec(&json!({"event": event, "merchant": merchant, "created_at": "2026-11-02 10:00:00", "data": data}))
        .unwrap()
}

async fn uninstall_disconnects_the_store_and_reinstall_reconnects_it(mode: Mode) {
    let odoo = sandbox(Version::V18).await;
    let mut fleet = Fleet::start_in(
        mode,
        "e2e-uninstall",
        &[("SALLA_ODOO__WORKER__CONCURRENCY", "1")],
    )
    .await;
    fleet.add_store(511, &odoo.url(), &["--create-unknown-skus"]);
    let worker = fleet.spawn_worker();
    fleet
        .ingest
        .post_signed(&order_event(
            "order.created",
            511,
            9700,
            "2026-11-02 10:00:00",
            1,
            "LIFE-1",
        ))
        .await;
    let tokens = app_event(
        "app.store.authorize",
        511,
        json!({"access_token": "test-access-aaaa", "refresh_token": "test-refresh-bbbb", "expires": 1_900_000_000}),
    );
    fleet.ingest.post_signed(&tokens).await;
    fleet.wait_outcomes(2, Duration::from_secs(30)).await;

    // Uninstalled while two orders wait in the queue behind it.
    fleet.workers[worker].kill();
    fleet
        .post_signed_while_stopped(&app_event(
            "app.uninstalled",
            511,
            json!({"uninstallation_date": "2026-11-02 11:00:00", "refunded": false}),
        ))
        .await;
    for order in [9701, 9702] {
        fleet
            .post_signed_while_stopped(&order_event(
                "order.created",
                511,
                order,
                "2026-11-02 11:00:01",
                1,
                "LIFE-1",
            ))
            .await;
    }
    fleet.spawn_worker();
    fleet.wait_outcomes(3, Duration::from_secs(30)).await;
    let log = fleet.log().await;
    let (_, outcome, note) = log.iter().find(|(e, _, _)| e == "app.uninstalled").unwrap();
    assert_eq!(outcome, "applied");
    assert!(
        note.as_deref().unwrap().contains("2 queued job(s) dropped"),
        "{note:?}"
    );
    assert_eq!(fleet.ingest.queue.stats().await.unwrap().queued, 0);
    let secrets = salla_odoo_store::secrets::secret_names(
        &fleet.db.pool,
        salla_odoo_core::MerchantId::new(511),
    )
    .await
    .unwrap();
    assert_eq!(
        secrets,
        ["odoo_api_key"],
        "the Salla tokens are deleted at once"
    );
    let purge_after = salla_odoo_store::stores::purge_after(
        &fleet.db.pool,
        salla_odoo_core::MerchantId::new(511),
    )
    .await
    .unwrap();
    let days = (purge_after.unwrap() - time::OffsetDateTime::now_utc()).whole_days();
    assert!((29..=30).contains(&days), "{days}");

    // New events for the store are acknowledged and skipped.
    fleet
        .ingest
        .post_signed(&order_event(
            "order.created",
            511,
            9703,
            "2026-11-02 11:00:02",
            1,
            "LIFE-1",
        ))
        .await;
    fleet.wait_outcomes(4, Duration::from_secs(30)).await;
    assert!(
        fleet
            .log()
            .await
            .iter()
            .any(|(_, o, r)| o == "skipped" && r.as_deref().unwrap_or("").contains("uninstalled"))
    );

    // Re-installed before the purge: connected again, with its mappings.
    fleet
        .ingest
        .post_signed(&app_event("app.installed", 511, json!({})))
        .await;
    fleet.wait_outcomes(5, Duration::from_secs(30)).await;
    fleet
        .ingest
        .post_signed(&order_event(
            "order.updated",
            511,
            9700,
            "2026-11-02 12:00:00",
            3,
            "LIFE-1",
        ))
        .await;
    fleet.wait_outcomes(6, Duration::from_secs(30)).await;
    let orders = sale_orders(&odoo, 511, 9700);
    assert_eq!(
        orders.len(),
        1,
        "the id map survived: the order is updated, not created again"
    );
    assert_eq!(fleet.log().await.last().unwrap().1, "applied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_is_purged_when_its_grace_period_ends() {
    let odoo = sandbox(Version::V18).await;
    let mut fleet = Fleet::start_with(
        "e2e-grace",
        &[
            ("SALLA_ODOO__RETENTION__UNINSTALL_GRACE_DAYS", "0"),
            ("SALLA_ODOO__RETENTION__INTERVAL_SECS", "1"),
        ],
    )
    .await;
    fleet.add_store(512, &odoo.url(), &["--create-unknown-skus"]);
    fleet.spawn_worker();
    fleet
        .ingest
        .post_signed(&order_event(
            "order.created",
            512,
            9800,
            "2026-11-02 10:00:00",
            1,
            "GRACE-1",
        ))
        .await;
    fleet.wait_outcomes(1, Duration::from_secs(30)).await;
    fleet
        .ingest
        .post_signed(&app_event(
            "app.uninstalled",
            512,
            json!({"uninstallation_date": "2026-11-02 11:00:00"}),
        ))
        .await;
    let started = std::time::Instant::now();
    loop {
        let left = fleet.mentions_of(512).await;
        if left.is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "store 512 not purged: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn salla_tokens_exist_only_as_ciphertext_and_never_in_logs_or_output(mode: Mode) {
    let odoo = sandbox(Version::V18).await;
    let mut fleet = Fleet::start_in(mode, "e2e-tokens", &[]).await;
    fleet.add_store(513, &odoo.url(), &[]);
    let log = std::env::temp_dir().join(format!("salla-odoo-{}.log", fleet.ns.replace(':', "-")));
    fleet.spawn_worker_logging_to(&log);
    let (access, refresh) = ("tok-access-Zq81vV3pLx", "tok-refresh-Kf72mW9rTy");
    fleet
        .ingest
        .post_signed(&app_event("app.store.authorize", 513, json!({"access_token": access, "refresh_token": refresh, "expires": 1_900_000_000, "scope": "orders.read offline_access", "token_type": "bearer"})))
        .await;
    fleet.wait_outcomes(1, Duration::from_secs(30)).await;
    assert_eq!(fleet.log().await[0].1, "applied");

    // Every column of every table, as text: only ciphertext (embedded: the queue's file too).
    let mut rows = fleet.db.dump_rows().await;
    if let salla_odoo_queue::Queue::Embedded(q) = &fleet.ingest.queue {
        rows.extend(sqlite_rows(q.pool()).await);
    }
    assert!(rows.len() > 3, "{rows:?}");
    for (table, row) in rows {
        assert!(
            !row.contains(access) && !row.contains(refresh),
            "{table} holds a token in clear"
        );
    }
    // The queue no longer holds the job (it was acknowledged).
    assert!(fleet.ingest.queue.waiting_jobs().await.unwrap().is_empty());

    // Neither the worker's logs nor any CLI output contain them.
    let mut outputs = Vec::new();
    for args in [
        &["store", "show", "--merchant", "513"][..],
        &["store", "list", "--json"],
        &["secrets", "status"],
        &["config"],
        &["dlq", "list", "--json"],
    ] {
        let out = fleet.cli(args, &[]);
        outputs.push(
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        );
    }
    fleet.workers.clear();
    let worker_log = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    assert!(
        worker_log.contains("store.authorize"),
        "the worker logged the job: {worker_log}"
    );
    outputs.push(worker_log);
    for text in outputs {
        assert!(
            !text.contains(access) && !text.contains(refresh),
            "a token leaked:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_a_run_killed_mid_job_finishes_it_once_after_a_restart() {
    let odoo = sandbox(Version::V18).await;
    let mut fleet = Fleet::start_in(Mode::Embedded, "e2e-embedded-kill", &[]).await;
    fleet.add_store(520, &odoo.url(), &["--create-unknown-skus"]);
    // Slow Odoo calls, so the job is surely in the middle of its work when the process dies.
    odoo.faults()
        .set_latency(Duration::from_millis(400), Duration::ZERO);
    let run = fleet.spawn_worker();
    let (status, _) = fleet
        .ingest
        .post_signed(&order_event(
            "order.created",
            520,
            9800,
            "2026-11-02 10:00:00",
            2,
            "KILL-1",
        ))
        .await;
    assert_eq!(status, 200);
    let start = std::time::Instant::now();
    while fleet.ingest.queue.stats().await.unwrap().in_flight == 0 {
        assert!(start.elapsed() < Duration::from_secs(20), "never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    fleet.workers[run].kill();
    assert_eq!(fleet.outcomes().await, 0, "killed before its outcome");
    assert_eq!(fleet.ingest.queue.stats().await.unwrap().in_flight, 1);

    // The restart takes the dead run's job back at once (it holds the data directory alone).
    odoo.faults().set_latency(Duration::ZERO, Duration::ZERO);
    fleet.spawn_worker();
    fleet.wait_outcomes(1, Duration::from_secs(30)).await;
    assert_eq!(sale_orders(&odoo, 520, 9800).len(), 1);
    let log = fleet.log().await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].1, "applied");
    let stats = fleet.ingest.queue.stats().await.unwrap();
    assert_eq!((stats.queued, stats.in_flight), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_a_second_run_on_the_same_data_directory_refuses_to_start() {
    let mut fleet = Fleet::start_in(Mode::Embedded, "e2e-embedded-lock", &[]).await;
    let first = fleet.spawn_worker();
    let second = std::process::Command::new(workspace_bin("salla-odoo"))
        .arg("--data-dir")
        .arg(fleet.data_dir.as_ref().unwrap())
        .args(["run", "--listen", "127.0.0.1:0"])
        .env("SALLA_ODOO__SALLA__WEBHOOK_SECRET", SECRET)
        .env_remove("REDIS_URL")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(2));
    let said = String::from_utf8_lossy(&second.stderr);
    let pid = fleet.workers[first].pid().to_string();
    assert!(
        said.contains("in use by another salla-odoo run") && said.contains(&pid),
        "{said}"
    );
    // The first one is unharmed and still takes webhooks.
    let (status, _) = fleet
        .ingest
        .post_signed(&order_event(
            "order.created",
            521,
            9801,
            "2026-11-02 10:00:00",
            1,
            "LOCK-1",
        ))
        .await;
    assert_eq!(status, 200);
    // Once it is gone (even by SIGKILL), the directory is free again.
    fleet.workers[first].kill();
    fleet.spawn_worker();
}

/// `order.status.updated` for `order` carrying the whole order (qty `qty`) with status `slug`.
fn status_event(
    merchant: u64,
    order: u64,
    created_at: &str,
    qty: u32,
    sku: &str,
    slug: &str,
) -> Vec<u8> {
    let mut body: serde_json::Value = serde_json::from_slice(&order_event(
        "order.updated",
        merchant,
        order,
        created_at,
        qty,
        sku,
    ))
    .unwrap();
    let mut order_body = body["data"].take();
    order_body["status"] = json!({"id": 1, "name": slug, "slug": slug});
    body["event"] = json!("order.status.updated");
    body["data"] = json!({"id": 880_000 + order, "status": slug, "note": "", "order": order_body});
    serde_json::to_vec(&body).unwrap()
}

/// Odoo calls so far, by method.
fn calls_by_method(odoo: &odoo_sandbox::Sandbox) -> std::collections::BTreeMap<String, u64> {
    odoo.inspect()
        .all_calls()
        .into_iter()
        .filter_map(|(k, v)| Some((k, v.as_u64()?)))
        .collect()
}

/// Calls made between `before` and `after`, but the one-time set-up (login, version and field
/// probes, the store's pricelist: cached per process), which only the first job pays.
fn calls_between(
    before: &std::collections::BTreeMap<String, u64>,
    after: &std::collections::BTreeMap<String, u64>,
) -> (u64, Vec<String>) {
    let mut n = 0;
    let mut list = Vec::new();
    for (k, v) in after {
        let d = v - before.get(k).copied().unwrap_or(0);
        if d == 0
            || k.starts_with("common.")
            || k.ends_with(".fields_get")
            || k == "product.pricelist.search_read"
        {
            continue;
        }
        n += d;
        list.push(format!("{k} {d}"));
    }
    (n, list)
}

async fn jobs_of_one_order_queued_together_are_one_convergence(mode: Mode) {
    let odoo = sandbox(Version::V18).await;
    let mut fleet = Fleet::start_in(mode, "e2e-coalesce", &[]).await;
    fleet.add_store(520, &odoo.url(), &["--create-unknown-skus"]);
    // created (1 box), updated (2 boxes) and completed, all waiting before any worker runs.
    for body in [
        order_event(
            "order.created",
            520,
            9201,
            "2026-11-02 10:00:00",
            1,
            "COAL-1",
        ),
        order_event(
            "order.updated",
            520,
            9201,
            "2026-11-02 10:05:00",
            2,
            "COAL-1",
        ),
        status_event(520, 9201, "2026-11-02 10:09:00", 2, "COAL-1", "completed"),
    ] {
        let (status, answer) = fleet.post_signed_while_stopped(&body).await;
        assert_eq!(status, 200, "{answer}");
    }
    let start = calls_by_method(&odoo);
    fleet.spawn_worker();
    fleet.wait_outcomes(3, Duration::from_secs(60)).await;
    let after = calls_by_method(&odoo);
    let (coalesced, coalesced_list) = calls_between(&start, &after);

    // One run: the status entry's (the newest whole body, with the newest status).
    let log = fleet.log().await;
    assert_eq!(log.len(), 3, "{log:?}");
    let status = log
        .iter()
        .find(|(e, _, _)| e == "order.status.updated")
        .unwrap();
    assert_eq!(status.1, "applied", "{log:?}");
    for event in ["order.created", "order.updated"] {
        let (_, outcome, reason) = log.iter().find(|(e, _, _)| e == event).unwrap();
        assert_eq!(outcome, "skipped", "{log:?}");
        assert!(
            reason
                .as_deref()
                .unwrap_or("")
                .starts_with("stale: coalesced into job "),
            "{log:?}"
        );
    }
    let orders = sale_orders(&odoo, 520, 9201);
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert!(
        matches!(orders[0]["state"].as_str(), Some("sale" | "done")),
        "confirmed: {orders:?}"
    );
    let lines = odoo
        .inspect()
        .dump(
            "sale.order.line",
            json!([["order_id", "=", orders[0]["id"]]]),
        )
        .unwrap();
    let qty: f64 = lines
        .iter()
        .filter_map(|l| l["product_uom_qty"].as_f64())
        .sum();
    assert_eq!(qty, 2.0, "the newest body's lines: {lines:?}");
    assert_eq!(odoo.inspect().calls("sale.order", "create"), 1);

    // What the same status entry costs alone (another order, a new SKU and customer too): the three
    // jobs together cost no more than that one.
    let (status, _) = fleet
        .ingest
        .post_signed(&status_event(
            520,
            9202,
            "2026-11-02 10:09:00",
            2,
            "COAL-2",
            "completed",
        ))
        .await;
    assert_eq!(status, 200);
    fleet.wait_outcomes(4, Duration::from_secs(60)).await;
    let (alone, alone_list) = calls_between(&after, &calls_by_method(&odoo));
    assert!(
        coalesced <= alone,
        "three coalesced jobs made {coalesced} Odoo calls ({coalesced_list:?}), one status job \
         alone {alone} ({alone_list:?})"
    );
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

in_both_modes!(
    every_fixture_ends_in_the_expected_odoo_records,
    jobs_of_one_order_queued_together_are_one_convergence,
    duplicates_and_out_of_order_deliveries_end_in_one_sale_order_with_the_newest_state,
    odoo_failures_are_retried_and_applied_exactly_once,
    a_permanent_error_goes_to_the_outbox_with_its_message,
    one_stores_dead_odoo_does_not_hold_back_the_others,
    uninstall_disconnects_the_store_and_reinstall_reconnects_it,
    salla_tokens_exist_only_as_ciphertext_and_never_in_logs_or_output,
);
