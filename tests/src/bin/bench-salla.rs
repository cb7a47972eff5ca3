//! Salla API benchmark (`make bench`): what the connector's own Salla traffic costs a store, in
//! process, against salla-sandbox (and odoo-sandbox for the stock), with Redis and Postgres.
//!
//! 1. Reconciliation of a store with 10,000 orders changed in the last day, of which 100 are not in
//!    the id map (their webhooks never arrived): `reconcile_orders` pages `GET /orders` (60 a page)
//!    and fetches each missing order once. Salla requests made, wall time, and the requests against
//!    the plan's per-minute limit. The run uses a plan of [`PLAN`] requests a minute (Salla's
//!    Special plan) so that the budget does not stop it; the same run on the default Plus plan
//!    (120 a minute) is then tried once and what happens is reported.
//! 2. Stock push of 5,000 SKUs (Odoo products with stock, the same SKUs in Salla) from an empty
//!    watermark: `push_store` reads the changed quants and sends `POST /products/quantities/bulk`
//!    in batches of `stock.batch_size` (50). Requests, wall time, and the time until salla-sandbox
//!    has applied every quantity (its `stock_delay` set to 200 ms).

use std::time::{Duration, Instant};

use odoo_sandbox::Version;
use salla_odoo_core::{MerchantId, Settings};
use salla_odoo_queue::Queue;
use salla_odoo_store::secrets::Keyring;
use salla_odoo_store::stores::{self, StoreUpdate};
use salla_odoo_store::tokens::{self, Source};
use salla_odoo_tests::{TEST_SECRETS_KEY, TestDb, delete_namespace, redis_url, test_settings};
use salla_odoo_worker::StoreLimits;
use salla_odoo_worker::reconcile::{self, Run};
use salla_odoo_worker::salla::SallaAccess;
use salla_odoo_worker::stock::{self, PushOptions};
use serde_json::{Value, json};
use time::OffsetDateTime;

const ORDERS: u64 = 10_000;
const MISSING_EVERY: u64 = 100;
const SKUS: u64 = 5_000;
/// The plan of the reconciliation run (Salla Special: 720 requests a minute).
const PLAN: u32 = 720;
/// Salla's default plan (Plus).
const PLUS: u32 = 120;
const RECONCILE_MERCHANT: u64 = 830_001;
const STOCK_MERCHANT: u64 = 830_002;

/// Salla's plain date form (Riyadh time, UTC+3) of `t`.
fn salla_date(t: OffsetDateTime) -> String {
    let t = t + time::Duration::hours(3);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The connector's pieces for one run: settings pointing at `salla`, a queue namespace of its own.
struct Pieces {
    ns: String,
    queue: Queue,
    keyring: Keyring,
    access: SallaAccess,
    settings: Settings,
}

fn pieces(salla: &salla_sandbox::Sandbox, db: &TestDb, plan: u32) -> Pieces {
    let ns = salla_odoo_tests::unique_namespace("bench-salla");
    let mut env = salla_odoo_tests::salla::env(salla);
    env.push(("SALLA_ODOO__SECRETS__KEY".into(), TEST_SECRETS_KEY.into()));
    env.push((
        "SALLA_ODOO__SALLA__REQUESTS_PER_MIN".into(),
        plan.to_string(),
    ));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let settings = test_settings(&ns, &redis_url(), &env);
    let queue = Queue::from_settings(&settings).expect("Redis queue");
    let keyring = Keyring::from_settings(&settings.secrets).expect("keyring");
    let limits = StoreLimits::new(
        queue.clone(),
        settings.limits.store_concurrency,
        settings.limits.store_odoo_calls_per_sec,
        Duration::from_secs(settings.worker.job_timeout_secs),
    );
    let access = SallaAccess::from_settings(&settings, db.pool.clone(), keyring.clone(), limits)
        .expect("Salla access")
        .expect("the Salla API is configured");
    Pieces {
        ns,
        queue,
        keyring,
        access,
        settings,
    }
}

async fn store_tokens(salla: &salla_sandbox::Sandbox, db: &TestDb, keyring: &Keyring, m: u64) {
    let t = salla.authorize(m);
    tokens::save(
        &db.pool,
        keyring,
        MerchantId::new(m),
        &t.access_token,
        Some(&t.refresh_token),
        OffsetDateTime::from_unix_timestamp(t.expires).ok(),
        Some(&t.scope),
        Source::Authorize,
    )
    .await
    .expect("tokens stored");
}

fn sandbox_requests(salla: &salla_sandbox::Sandbox) -> u64 {
    salla.stats()["requests"].as_u64().unwrap_or(0)
}

async fn reconcile_bench(db: &TestDb) {
    let salla = salla_sandbox::spawn(salla_sandbox::Options::default())
        .await
        .unwrap();
    let m = RECONCILE_MERCHANT;
    salla.set_plan(m, Some(PLAN));
    let p = pieces(&salla, db, PLAN);
    store_tokens(&salla, db, &p.keyring, m).await;
    // 10,000 orders changed over the last ~17 hours, one every 6 s.
    let now = OffsetDateTime::now_utc();
    let orders: Vec<Value> = (0..ORDERS)
        .map(|i| {
            let when = salla_date(now - time::Duration::seconds(60 + 6 * i as i64));
            salla_odoo_tests::salla::api_order(
                m,
                1_000_000 + i,
                &format!("REC-{}", i % 50),
                &when,
                "under_review",
            )
        })
        .collect();
    salla.seed_order(m, Value::Array(orders)).unwrap();
    // Synced in the id map, at a version newer than Salla's: all but every 100th order.
    let synced = sqlx::query(
        "INSERT INTO id_map (merchant_id, entity, salla_id, odoo_model, odoo_id, source_version)
         SELECT $1, 'order', 1000000 + g, 'sale.order', g + 1, $2
         FROM generate_series(0, $3 - 1) AS g WHERE g % $4 <> 0",
    )
    .bind(m as i64)
    .bind(now.unix_timestamp() + 86_400)
    .bind(ORDERS as i64)
    .bind(MISSING_EVERY as i64)
    .execute(db.pg())
    .await
    .unwrap()
    .rows_affected();
    let run = Run {
        since: Some(now - time::Duration::days(1)),
        first_window: Duration::from_secs(86_400),
        overlap: Duration::from_secs(p.settings.reconcile.overlap_secs),
        dry_run: false,
    };
    salla.clear_calls();
    let started = Instant::now();
    let report =
        reconcile::reconcile_orders(&p.access, &db.pool, &p.queue, MerchantId::new(m), run)
            .await
            .expect("reconciliation runs");
    let wall = started.elapsed();
    let served = sandbox_requests(&salla);
    let endpoints = salla.stats()["endpoints"].clone();
    let rate_limited = salla.stats()["rate_limited"].as_u64().unwrap_or(0);
    assert_eq!(report.checked, ORDERS, "{report:?}");
    assert_eq!(report.missing, ORDERS / MISSING_EVERY, "{report:?}");
    assert_eq!(report.queued, report.missing, "{report:?}");
    delete_namespace(&redis_url(), &p.ns);

    // Baseline: the same order pages (and fetches) by a bare HTTP client, one after another.
    let token = salla.authorize(m).access_token;
    let http = reqwest::Client::new();
    let pages = report.requests - report.queued;
    salla.clear_calls();
    let started = Instant::now();
    for page in 1..=pages {
        let r = http
            .get(format!(
                "{}/orders?sort_by=updated_at-desc&per_page=60&page={page}",
                salla.admin_url()
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        r.bytes().await.unwrap();
    }
    let bare_pages = started.elapsed();
    let started = Instant::now();
    for i in (0..ORDERS).step_by(MISSING_EVERY as usize) {
        let r = http
            .get(format!("{}/orders/{}", salla.admin_url(), 1_000_000 + i))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        r.bytes().await.unwrap();
    }
    let bare_fetches = started.elapsed();
    // The id map look-ups alone, as `reconcile_orders` makes them: one query per page of 60.
    let started = Instant::now();
    let ids: Vec<u64> = (0..ORDERS).map(|i| 1_000_000 + i).collect();
    for page in ids.chunks(60) {
        salla_odoo_store::id_map::source_versions(&db.pool, MerchantId::new(m), "order", page)
            .await
            .unwrap();
    }
    let bare_lookups = started.elapsed();

    // The same window on the Plus plan, with a budget of its own (a fresh namespace).
    let plus = pieces(&salla, db, PLUS);
    salla.clear_calls();
    let started = Instant::now();
    let on_plus =
        reconcile::reconcile_orders(&plus.access, &db.pool, &plus.queue, MerchantId::new(m), run)
            .await;
    let plus_wall = started.elapsed();
    let plus_served = sandbox_requests(&salla);
    delete_namespace(&redis_url(), &plus.ns);
    salla.shutdown().await;

    let minutes = wall.as_secs_f64() / 60.0;
    let per_min = report.requests as f64 / minutes;
    println!("# Salla API benchmark\n");
    println!(
        "Machine: {} CPUs shared by this process (the connector's code, salla-sandbox, odoo-sandbox), Redis and Postgres. \
         In process: `reconcile_orders` and `push_store` as the worker and `salla-odoo reconcile` / `stock push` call them, \
         against salla-sandbox at zero latency.\n",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!(
        "## Reconciliation: {ORDERS} orders, {} missing\n",
        ORDERS / MISSING_EVERY
    );
    println!(
        "{ORDERS} orders changed in the last 17 hours; {synced} are in the id map, {} are not. \
         Plan: {PLAN} requests/min (Salla Special) in the connector's budget and the sandbox, so the budget does not stop the run.\n",
        ORDERS - synced
    );
    println!("| figure | value |");
    println!("|---|---|");
    println!("| orders checked | {} |", report.checked);
    println!("| missing | {} |", report.missing);
    println!("| stale | {} |", report.stale);
    println!("| jobs queued | {} |", report.queued);
    println!(
        "| Salla requests (report) | {} ({} order pages of 60 + {} order fetches) |",
        report.requests,
        report.requests - report.queued,
        report.queued
    );
    println!("| Salla requests (sandbox) | {served} ({rate_limited} answered 429) |");
    println!(
        "| wall time | {:.2} s (report: {} ms) |",
        wall.as_secs_f64(),
        report.millis
    );
    println!(
        "| requests / (plan × minutes of the run) | {} / ({PLAN} × {minutes:.3}) = {:.2} ({per_min:.0} requests/min) |",
        report.requests,
        report.requests as f64 / (f64::from(PLAN) * minutes)
    );
    println!(
        "| requests / plan per minute | {PLAN}/min: {:.2} min of budget; Plus {PLUS}/min: {:.2} min |",
        report.requests as f64 / f64::from(PLAN),
        report.requests as f64 / f64::from(PLUS)
    );
    println!("\nEndpoints: `{endpoints}`.\n");
    println!(
        "Baseline, in the same run: a bare HTTP client makes the same {pages} page requests in {:.2} s \
         ({:.0} ms each) and the {} order fetches in {:.2} s; the id map look-ups of the {ORDERS} orders (a query per page of 60) alone take {:.2} s. \
         What remains of the wall time ({:.2} s) is the connector's own work (tokens, budget, parsing, queueing).\n",
        bare_pages.as_secs_f64(),
        bare_pages.as_secs_f64() * 1000.0 / pages as f64,
        report.queued,
        bare_fetches.as_secs_f64(),
        bare_lookups.as_secs_f64(),
        (wall.as_secs_f64()
            - bare_pages.as_secs_f64()
            - bare_fetches.as_secs_f64()
            - bare_lookups.as_secs_f64())
        .max(0.0)
    );
    match on_plus {
        Ok(r) => println!(
            "On the Plus plan ({PLUS}/min) the same window: {} requests, {} queued, {:.2} s.",
            r.requests,
            r.queued,
            plus_wall.as_secs_f64()
        ),
        Err(e) => println!(
            "On the Plus plan ({PLUS}/min) the same window stops after {plus_served} requests ({:.2} s): `{e}` \
             (a budget wait over `MAX_INLINE_WAIT`, 2 s, throttles the run; its watermark stays).",
            plus_wall.as_secs_f64()
        ),
    }
}

async fn stock_bench(db: &TestDb) {
    let odoo = odoo_sandbox::spawn(odoo_sandbox::Options {
        version: Version::V18,
        ..Default::default()
    })
    .await
    .unwrap();
    let salla = salla_sandbox::spawn(salla_sandbox::Options {
        stock_delay: Duration::from_millis(200),
        ..Default::default()
    })
    .await
    .unwrap();
    let m = STOCK_MERCHANT;
    let p = pieces(&salla, db, PLUS);
    store_tokens(&salla, db, &p.keyring, m).await;
    stores::upsert_settings(
        &db.pool,
        &p.keyring,
        MerchantId::new(m),
        &StoreUpdate {
            odoo_url: Some(odoo.url()),
            odoo_database: Some("odoo".into()),
            odoo_login: Some("admin".into()),
            odoo_api_key: Some("admin".to_owned().into()),
            ..Default::default()
        },
    )
    .await
    .expect("store configured");

    // 5,000 storable products in Odoo, in one create, and their stock in one inventory adjustment.
    let setup = Instant::now();
    let client = odoo::Client::new(
        odoo::Config::new(&odoo.url(), "odoo", "admin", "admin".to_owned().into()).unwrap(),
    )
    .unwrap();
    let vals: Vec<Value> = (0..SKUS)
        .map(|i| {
            json!({"name": format!("Bench stock {i}"), "default_code": format!("BSTK-{i}"),
                   "type": "consu", "is_storable": true, "list_price": 10})
        })
        .collect();
    let created = client
        .call(&odoo::Call::new("product.product", "create").arg("vals_list", Value::Array(vals)))
        .await
        .expect("products created");
    let ids: Vec<i64> = created
        .as_array()
        .expect("ids")
        .iter()
        .filter_map(Value::as_i64)
        .collect();
    assert_eq!(ids.len() as u64, SKUS);
    let location = client.default_stock_location().await.unwrap();
    let quants: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            json!({"product_id": id, "location_id": location, "inventory_quantity": 1 + i % 50})
        })
        .collect();
    let quant_ids = client
        .call(
            &odoo::Call::new("stock.quant", "create")
                .arg("vals_list", Value::Array(quants))
                .with_context("inventory_mode", true),
        )
        .await
        .expect("quants created");
    let quant_ids: Vec<i64> = quant_ids
        .as_array()
        .expect("ids")
        .iter()
        .filter_map(Value::as_i64)
        .collect();
    client
        .call(
            &odoo::Call::new("stock.quant", "action_apply_inventory")
                .ids(&quant_ids)
                .with_context("inventory_mode", true),
        )
        .await
        .expect("inventory applied");
    // The same SKUs in Salla, at quantity 0.
    let products: Vec<Value> = (0..SKUS)
        .map(|i| {
            json!({"id": 6_000_000 + i, "sku": format!("BSTK-{i}"), "name": format!("Bench stock {i}"),
                   "type": "product", "price": {"amount": 10, "currency": "SAR"}, "quantity": 0,
                   "status": "sale", "unlimited_quantity": false, "skus": [], "categories": []})
        })
        .collect();
    salla.seed_product(m, Value::Array(products)).unwrap();
    let setup = setup.elapsed();

    salla.clear_calls();
    let opts = PushOptions {
        batch_size: p.settings.stock.batch_size.max(1),
        ..Default::default()
    };
    let batch_size = opts.batch_size;
    let started = Instant::now();
    let report = stock::push_store(&p.access, &db.pool, &p.keyring, MerchantId::new(m), opts)
        .await
        .expect("stock push runs");
    let wall = started.elapsed();
    let served = sandbox_requests(&salla);
    // Until salla-sandbox has applied every quantity.
    let expected: std::collections::BTreeMap<String, i64> = (0..SKUS)
        .map(|i| (format!("BSTK-{i}"), 1 + (i % 50) as i64))
        .collect();
    while salla.quantities(m) != expected {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "salla-sandbox applied the quantities"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let applied = started.elapsed();
    let odoo_calls: u64 = odoo
        .inspect()
        .all_calls()
        .values()
        .filter_map(Value::as_u64)
        .sum();
    delete_namespace(&redis_url(), &p.ns);
    salla.shutdown().await;
    odoo.shutdown().await;
    assert_eq!(report.pushed, SKUS, "{report:?}");

    let minutes = wall.as_secs_f64() / 60.0;
    println!("\n## Stock push: {SKUS} SKUs\n");
    println!(
        "{SKUS} storable Odoo products with stock (set up in {:.1} s: one `create`, one inventory adjustment), the same SKUs in Salla; \
         `push_store` from an empty watermark, batches of {batch_size}, plan {PLUS} requests/min (Plus), salla-sandbox `stock_delay` 200 ms.\n",
        setup.as_secs_f64()
    );
    println!("| figure | value |");
    println!("|---|---|");
    println!(
        "| products changed / pushed | {} / {} |",
        report.changed, report.pushed
    );
    println!("| batches | {} |", report.batches);
    println!(
        "| Salla requests (report / sandbox) | {} / {served} |",
        report.requests
    );
    println!("| Odoo calls (whole bench, incl. the set-up's) | {odoo_calls} |");
    println!(
        "| wall time of the push | {:.2} s (report: {} ms) |",
        wall.as_secs_f64(),
        report.millis
    );
    println!(
        "| until salla-sandbox applied all {SKUS} | {:.2} s |",
        applied.as_secs_f64()
    );
    println!(
        "| requests / (plan × minutes of the run) | {} / ({PLUS} × {minutes:.3}) = {:.2} |",
        report.requests,
        report.requests as f64 / (f64::from(PLUS) * minutes)
    );
    println!(
        "| requests / plan per minute | {:.2} min of the Plus budget |",
        report.requests as f64 / f64::from(PLUS)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let db = TestDb::create().await;
    reconcile_bench(&db).await;
    stock_bench(&db).await;
}
