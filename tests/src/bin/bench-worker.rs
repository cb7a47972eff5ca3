//! Worker benchmark (`make bench`): orders per second from the queue into Odoo (odoo-sandbox), with
//! the sandbox answering at 0 ms and at 50 ms per call, for 1 worker at concurrency 1 (the baseline)
//! and 1, 2 and 4 worker processes at the default concurrency, all in the same run. Also Odoo calls per
//! order, and each worker process's CPU time per job and resident memory (from /proc). CPU per job
//! excludes start-up, each store's first order (its Odoo session and capability probe) and idle
//! polling (measured on the idle workers for 2 s just before the run); it is read in nanoseconds
//! from the threads' schedstat.
//!
//! The last row of each latency is the embedded mode: one `salla-odoo run` process (ingest and worker
//! together, so its CPU per job includes receiving the webhook) on SQLite files.
//!
//! Orders are the project's own samples (10 stores, 7 customers each, products that already exist
//! in Odoo). Store limits are raised (`limits.store_concurrency` 16, 1,000 calls/s) so they do not
//! cap the figure being measured; every other setting is the default.
//!
//! `BENCH_WORKER_ONLY=LAT:ROW` runs one row alone while profiling (e.g. `0:1x8`, `50:4x8`, `0:embedded`),
//! with `BENCH_WORKER_ORDERS` orders if set; the ratio column then reads against that row itself.

use std::time::{Duration, Instant};

use odoo_sandbox::{Options, Version};
use salla_odoo_tests::{Fleet, Mode, order_event, proc_stats};

const STORES: u64 = 10;

struct Figures {
    orders_per_sec: f64,
    calls_per_order: f64,
    cpu_ms_per_job: f64,
    rss_mb: f64,
}

async fn scenario(
    mode: Mode,
    latency: Duration,
    workers: usize,
    concurrency: usize,
    orders: u64,
) -> Figures {
    let odoo = odoo_sandbox::spawn(Options {
        version: Version::V18,
        ..Default::default()
    })
    .await
    .unwrap();
    let conc = concurrency.to_string();
    // BENCH_WORKER_LOG=debug (with FLEET_LOGS=1) shows what the workers do per order while profiling.
    let log_filter = std::env::var("BENCH_WORKER_LOG").unwrap_or_else(|_| "error".to_owned());
    let mut fleet = Fleet::start_in(
        mode,
        "bench-worker",
        &[
            ("SALLA_ODOO__WORKER__CONCURRENCY", conc.as_str()),
            ("SALLA_ODOO__LIMITS__STORE_CONCURRENCY", "16"),
            ("SALLA_ODOO__LIMITS__STORE_ODOO_CALLS_PER_SEC", "1000"),
            ("SALLA_ODOO__LOG__FILTER", log_filter.as_str()),
        ],
    )
    .await;
    for s in 0..STORES {
        fleet.add_store(7000 + s, &odoo.url(), &[]);
    }
    // The products exist before the run (a store's catalogue is synced long before its orders).
    let client = odoo::Client::new(
        odoo::Config::new(&odoo.url(), "odoo", "admin", "admin".to_owned().into()).unwrap(),
    )
    .unwrap();
    for sku in 0..5 {
        let mut vals = serde_json::Map::new();
        vals.insert("name".into(), format!("Bench product {sku}").into());
        vals.insert("default_code".into(), format!("BENCH-{sku}").into());
        vals.insert("list_price".into(), 100.into());
        client.create("product.product", vals).await.unwrap();
    }
    odoo.faults().set_latency(latency, Duration::ZERO);
    for _ in 0..workers {
        fleet.spawn_worker();
    }
    // Wait until every worker is up and idle, then take its CPU time: start-up is not per-order work,
    // and neither is idle polling, measured here over one second and subtracted below.
    while fleet.ingest.queue.stats().await.unwrap().workers < workers as u64 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Warm up: one order per store opens each store's Odoo session and capability probe (a one-time
    // cost per store and process, not per order).
    for s in 0..STORES {
        let body = order_event(
            "order.created",
            7000 + s,
            900_000 + s,
            "2026-11-02 10:00:00",
            1,
            "BENCH-0",
        );
        fleet.ingest.post_signed(&body).await;
    }
    fleet
        .wait_outcomes(STORES as i64, Duration::from_secs(120))
        .await;
    let cpu_of = |fleet: &Fleet| {
        fleet
            .workers
            .iter()
            .map(|w| proc_stats(w.pid()).0)
            .sum::<f64>()
    };
    let idle_from = (Instant::now(), cpu_of(&fleet));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_rate = (cpu_of(&fleet) - idle_from.1) / idle_from.0.elapsed().as_secs_f64();
    let calls_before: u64 = odoo
        .inspect()
        .all_calls()
        .values()
        .filter_map(|v| v.as_u64())
        .sum();
    let cpu_before = cpu_of(&fleet);
    let started = Instant::now();
    for i in 0..orders {
        let body = order_event(
            "order.created",
            7000 + i % STORES,
            1_000_000 + i,
            "2026-11-02 10:00:00",
            1 + (i % 3) as u32,
            &format!("BENCH-{}", i % 5),
        );
        let (status, _) = fleet.ingest.post_signed(&body).await;
        assert_eq!(status, 200);
    }
    fleet
        .wait_outcomes((STORES + orders) as i64, Duration::from_secs(600))
        .await;
    let elapsed = started.elapsed();
    let cpu_total = cpu_of(&fleet) - cpu_before;
    let cpu_busy = (cpu_total - idle_rate * elapsed.as_secs_f64()).max(0.0);
    if std::env::var_os("BENCH_WORKER_ONLY").is_some() {
        eprintln!(
            "idle CPU {:.2} ms/s; during the run {:.2} ms/s ({:.2} ms per order before the idle share is taken off)",
            idle_rate * 1000.0,
            cpu_total * 1000.0 / elapsed.as_secs_f64(),
            cpu_total * 1000.0 / orders as f64
        );
    }
    let log = fleet.log().await;
    let applied = log.iter().filter(|(_, o, _)| o == "applied").count();
    assert_eq!(
        applied as u64 - STORES,
        orders,
        "every order applied: {:?}",
        log.iter().find(|(_, o, _)| o != "applied")
    );
    let calls_after: u64 = odoo
        .inspect()
        .all_calls()
        .values()
        .filter_map(|v| v.as_u64())
        .sum();
    let rss = fleet
        .workers
        .iter()
        .map(|w| proc_stats(w.pid()).1)
        .max()
        .unwrap_or(0);
    fleet.workers.clear();
    odoo.shutdown().await;
    Figures {
        orders_per_sec: orders as f64 / elapsed.as_secs_f64(),
        calls_per_order: (calls_after - calls_before) as f64 / orders as f64,
        cpu_ms_per_job: cpu_busy * 1000.0 / orders as f64,
        rss_mb: rss as f64 / 1024.0,
    }
}

/// One order's round trips as the worker makes them, one after another: Postgres 10 (sqlx's
/// statement log, `BENCH_WORKER_LOG=sqlx::query=debug FLEET_LOGS=1`, one worker × 1), Redis 3 (fetch,
/// store slot with the first Odoo calls, ack with the slot's release), Odoo 4.0 in this mix.
const BARE_PG: usize = 10;
const BARE_REDIS: usize = 3;
const BARE_HTTP: usize = 4;

/// CPU time of the calling thread, in seconds (`/proc/thread-self/schedstat`, nanoseconds).
fn thread_cpu() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0) as f64
        / 1e9
}

/// The floor under the worker's CPU per order on this machine: a bare client that makes one order's
/// round trips (`SELECT 1` to Postgres with the worker's connection settings, `PING` to Redis,
/// a JSON-RPC `version` POST to odoo-sandbox at `latency`) one after another, and nothing else, on
/// a single-threaded tokio runtime of its own thread, whose CPU time is the figure (ms per order).
/// What remains of a worker's figure above it is the connector's own work.
async fn bare_round_trips(latency: Duration, orders: u32) -> f64 {
    let odoo = odoo_sandbox::spawn(Options {
        version: Version::V18,
        ..Default::default()
    })
    .await
    .unwrap();
    odoo.faults().set_latency(latency, Duration::ZERO);
    let url = format!("{}/jsonrpc", odoo.url());
    let cpu = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            use sqlx::Connection as _;
            let mut pg = sqlx::PgConnection::connect(&salla_odoo_tests::postgres_url("postgres"))
                .await
                .unwrap();
            let redis = redis::Client::open(salla_odoo_tests::redis_url()).unwrap();
            let mut redis = redis.get_multiplexed_async_connection().await.unwrap();
            let http = reqwest::Client::new();
            let body = serde_json::json!({"jsonrpc": "2.0", "method": "call", "id": 1,
                "params": {"service": "common", "method": "version", "args": []}})
            .to_string();
            let mut one_order = async || {
                for _ in 0..BARE_REDIS {
                    let _: String = redis::cmd("PING").query_async(&mut redis).await.unwrap();
                }
                for _ in 0..BARE_PG {
                    let _: i32 = sqlx::query_scalar("SELECT 1")
                        .fetch_one(&mut pg)
                        .await
                        .unwrap();
                }
                for _ in 0..BARE_HTTP {
                    let r = http
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await
                        .unwrap();
                    assert!(r.status().is_success());
                    r.bytes().await.unwrap();
                }
            };
            for _ in 0..5 {
                one_order().await;
            }
            let before = thread_cpu();
            for _ in 0..orders {
                one_order().await;
            }
            (thread_cpu() - before) * 1000.0 / f64::from(orders)
        })
    })
    .join()
    .unwrap();
    odoo.shutdown().await;
    cpu
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    println!("# Worker benchmark\n");
    println!(
        "Machine: {} CPUs shared by the worker processes, odoo-sandbox, Redis and Postgres. {STORES} stores; \
         products exist in Odoo; each store has 7 customers (the first order of each creates its partner; later ones find it through the id map) and each order creates a quotation.\n",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!(
        "| Odoo latency | workers × concurrency | orders | orders/s | × baseline | Odoo calls/order | worker CPU ms/job | max RSS per worker |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    if let Ok(only) = std::env::var("BENCH_WORKER_ONLY") {
        let (lat, row) = only
            .split_once(':')
            .expect("BENCH_WORKER_ONLY is LATENCY_MS:ROW, e.g. 0:1x8");
        let latency_ms: u64 = lat.parse().expect("latency in ms");
        let latency = Duration::from_millis(latency_ms);
        // BENCH_WORKER_ORDERS makes the run long enough to attach a profiler.
        let orders = std::env::var("BENCH_WORKER_ORDERS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(if latency_ms == 0 { 400 } else { 240 });
        let f = match row {
            "embedded" => scenario(Mode::Embedded, latency, 1, 8, orders).await,
            _ => {
                let (w, c) = row.split_once('x').expect("ROW is WORKERSxCONCURRENCY");
                let (w, c) = (w.parse().expect("workers"), c.parse().expect("concurrency"));
                scenario(Mode::Fleet, latency, w, c, orders).await
            }
        };
        println!(
            "| {latency_ms} ms | {row} | {orders} | {:.1} | 1.0× | {:.1} | {:.2} | {:.1} MiB |",
            f.orders_per_sec, f.calls_per_order, f.cpu_ms_per_job, f.rss_mb
        );
        let bare = bare_round_trips(latency, if latency_ms == 0 { 200 } else { 40 }).await;
        println!(
            "\nThe same round trips alone (bare client): {bare:.2} ms per order; worker / bare {:.2}.",
            f.cpu_ms_per_job / bare
        );
        return;
    }
    let mut floors = Vec::new();
    for latency_ms in [0u64, 50] {
        let latency = Duration::from_millis(latency_ms);
        let base_orders = if latency_ms == 0 { 200 } else { 40 };
        let base = scenario(Mode::Fleet, latency, 1, 1, base_orders).await;
        let mut rows = vec![("1 × 1 (baseline)".to_owned(), base_orders, base)];
        for workers in [1usize, 2, 4] {
            let orders = if latency_ms == 0 { 400 } else { 240 };
            rows.push((
                format!("{workers} × 8"),
                orders,
                scenario(Mode::Fleet, latency, workers, 8, orders).await,
            ));
        }
        let orders = if latency_ms == 0 { 400 } else { 240 };
        rows.push((
            "embedded: 1 `salla-odoo run` × 8".to_owned(),
            orders,
            scenario(Mode::Embedded, latency, 1, 8, orders).await,
        ));
        let bare = bare_round_trips(latency, base_orders as u32).await;
        floors.push((latency_ms, bare, rows[0].2.cpu_ms_per_job));
        let base_rate = rows[0].2.orders_per_sec;
        for (label, orders, f) in &rows {
            println!(
                "| {latency_ms} ms | {label} | {orders} | {:.1} | {:.1}× | {:.1} | {:.2} | {:.1} MiB |",
                f.orders_per_sec,
                f.orders_per_sec / base_rate,
                f.calls_per_order,
                f.cpu_ms_per_job,
                f.rss_mb
            );
        }
    }
    println!(
        "\n### The floor: one order's round trips alone\n\n\
         A bare client makes the round trips of one order ({BARE_PG} Postgres `SELECT 1`, \
         {BARE_REDIS} Redis `PING`, {BARE_HTTP} JSON-RPC POSTs to odoo-sandbox) one after another, \
         on one thread, in the same run. Its CPU per order is what this machine charges for the \
         round trips themselves (system calls, wake-ups, TLS, the loopback network charged to the \
         sender); the worker's figure above it is the connector's own work.\n"
    );
    println!(
        "| Odoo latency | bare client CPU ms/order | worker 1 × 1 CPU ms/job | worker / bare |"
    );
    println!("|---|---|---|---|");
    for (latency_ms, bare, worker) in floors {
        println!(
            "| {latency_ms} ms | {bare:.2} | {worker:.2} | {:.2} |",
            worker / bare
        );
    }
}
