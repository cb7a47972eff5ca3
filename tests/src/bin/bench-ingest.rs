//! Ingest benchmark (`make bench`): the real ingest (verify + parse + enqueue into Redis) against a
//! bare axum handler that reads the same body and answers 200, measured side by side in the same run,
//! alternating rounds, so the ratio means something on a noisy machine.
//!
//! Two measurements per server:
//! - throughput: a closed loop of `concurrency()` clients for `ROUND` per round;
//! - latency at a fixed rate: an open loop at 1,000 requests/s, p50/p99 of every request.
//!
//! `BENCH_INGEST_PROFILE=ingest` (or `bare`) runs that server's closed loop alone for 12 s, for a
//! profiler.
//!
//! Bodies are the project's own samples in the shape of Salla's order, customer and product events,
//! each distinct (so no delivery is a duplicate), signed up front.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::{Router, body::Bytes, routing::post};
use futures::StreamExt;
use salla_odoo_tests::{
    SECRET, delete_namespace, redis_url, sample_order, sign, test_settings, unique_namespace,
};

/// Closed-loop clients (BENCH_CONCURRENCY overrides).
fn concurrency() -> usize {
    std::env::var("BENCH_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}
const ROUND: Duration = Duration::from_secs(3);
const ROUNDS: usize = 3;
const RATE: u64 = 1000;
const RATE_SECS: u64 = 5;

struct Sample {
    body: Bytes,
    signature: String,
}

fn samples(n: usize) -> Arc<Vec<Sample>> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n as u64 {
        let body = match i % 3 {
            0 => sample_order(1000 + i % 20, 5_000_000 + i),
            1 => serde_json::to_vec(&serde_json::json!({
                "event": "customer.updated", "merchant": 1000 + i % 20,
                "created_at": "Mon Nov 02 2026 10:00:00 GMT+0300",
                "data": {"id": 7_000_000 + i, "first_name": "Bench", "last_name": "Customer",
                         "mobile": 500_000_000 + i, "mobile_code": "+966", "email": format!("c{i}@example.test")}
            })).unwrap(),
            _ => serde_json::to_vec(&serde_json::json!({
                "event": "product.price.updated", "merchant": 1000 + i % 20,
                "created_at": "2026-11-02 10:00:00",
                "data": {"id": 8_000_000 + i, "sku": format!("SKU-{i}"), "name": "Bench product",
                         "price": {"amount": 10 + i % 90, "currency": "SAR"}, "status": "sale"}
            })).unwrap(),
        };
        let signature = sign(SECRET, &body);
        out.push(Sample {
            body: Bytes::from(body),
            signature,
        });
    }
    Arc::new(out)
}

#[derive(Default, Clone)]
struct Figures {
    requests: u64,
    errors: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Figures {
    /// Counts another round in.
    fn add(&mut self, round: Figures) {
        self.requests += round.requests;
        self.errors += round.errors;
        self.elapsed += round.elapsed;
        self.latencies.extend(round.latencies);
    }

    fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
    fn pct(&self, p: f64) -> Duration {
        let mut l = self.latencies.clone();
        l.sort();
        if l.is_empty() {
            return Duration::ZERO;
        }
        l[((l.len() as f64 - 1.0) * p).round() as usize]
    }
}

async fn fire(client: &reqwest::Client, url: &str, s: &Sample) -> (bool, Duration) {
    let t = Instant::now();
    let ok = client
        .post(url)
        .header("x-salla-signature", &s.signature)
        .header("content-type", "application/json")
        .body(s.body.clone())
        .send()
        .await
        .map(|r| r.status().is_success())
        .unwrap_or(false);
    (ok, t.elapsed())
}

/// Closed loop: concurrency() clients sending back to back for ROUND.
async fn throughput(
    client: &reqwest::Client,
    url: &str,
    samples: &Arc<Vec<Sample>>,
    offset: &mut usize,
) -> Figures {
    let start = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(*offset));
    let tasks: Vec<_> = (0..concurrency())
        .map(|_| {
            let (client, url, samples, next) = (
                client.clone(),
                url.to_owned(),
                samples.clone(),
                next.clone(),
            );
            tokio::spawn(async move {
                let mut f = Figures::default();
                while start.elapsed() < ROUND {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % samples.len();
                    let (ok, d) = fire(&client, &url, &samples[i]).await;
                    f.requests += 1;
                    f.errors += u64::from(!ok);
                    f.latencies.push(d);
                }
                f
            })
        })
        .collect();
    let mut total = Figures::default();
    for t in tasks {
        let f = t.await.unwrap();
        total.requests += f.requests;
        total.errors += f.errors;
        total.latencies.extend(f.latencies);
    }
    total.elapsed = start.elapsed();
    *offset = next.load(std::sync::atomic::Ordering::Relaxed);
    total
}

/// Open loop: RATE requests per second for RATE_SECS, each timed from its scheduled start.
async fn at_rate(
    client: &reqwest::Client,
    url: &str,
    samples: &Arc<Vec<Sample>>,
    offset: &mut usize,
) -> Figures {
    let n = (RATE * RATE_SECS) as usize;
    let interval = Duration::from_secs(1) / RATE as u32;
    let start = Instant::now();
    let base = *offset;
    let results: Vec<(bool, Duration)> = futures::stream::iter(0..n)
        .map(|k| {
            let (client, url, samples) = (client.clone(), url.to_owned(), samples.clone());
            async move {
                let due = start + interval * k as u32;
                tokio::time::sleep_until(due.into()).await;
                let (ok, _) = fire(&client, &url, &samples[(base + k) % samples.len()]).await;
                (ok, due.elapsed())
            }
        })
        .buffer_unordered(2000)
        .collect()
        .await;
    *offset += n;
    Figures {
        requests: n as u64,
        errors: results.iter().filter(|r| !r.0).count() as u64,
        elapsed: start.elapsed(),
        latencies: results.into_iter().map(|r| r.1).collect(),
    }
}

async fn bare_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Reads the whole body, like ingest does, and answers 200.
    let app = Router::new().route(
        "/webhooks/salla",
        post(|body: Bytes| async move {
            std::hint::black_box(body.len());
            "{\"status\":\"ok\"}"
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Jobs per second through `RedisQueue::enqueue` alone, for `ROUND`.
async fn enqueue_only(redis: &str, ns: &str) -> f64 {
    use salla_odoo_core::{BodyDigest, JobKind, MerchantId, SyncJob, SyncJobV1};
    let queue = salla_odoo_queue::RedisQueue::new(
        redis,
        salla_odoo_queue::QueueConfig {
            namespace: format!("{ns}-enqueue"),
            dedupe_window: Duration::from_secs(600),
            connect_timeout: Duration::from_secs(2),
            command_timeout: Duration::from_secs(2),
        },
    )
    .unwrap();
    let start = Instant::now();
    let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let tasks: Vec<_> = (0..concurrency())
        .map(|t| {
            let (queue, done) = (queue.clone(), done.clone());
            tokio::spawn(async move {
                let mut i = 0u64;
                while start.elapsed() < ROUND {
                    i += 1;
                    let body = format!("{t}:{i}");
                    let job = SyncJob::V1(SyncJobV1 {
                        id: uuid::Uuid::now_v7(),
                        kind: JobKind::OrderUpsert,
                        merchant: MerchantId::new(1),
                        event: "order.created".into(),
                        entity: None,
                        digest: BodyDigest::of(body.as_bytes()),
                        salla_created_at: "2026-11-02 10:00:00".into(),
                        received_at: time::OffsetDateTime::now_utc(),
                        attempt: 0,
                        data: serde_json::json!({"id": i}),
                        history: Vec::new(),
                    });
                    let key = salla_odoo_queue::DedupeKey::new(
                        MerchantId::new(1),
                        "order.created",
                        &job.v1().digest,
                    );
                    queue.enqueue(&job, &key).await.unwrap();
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let rps =
        done.load(std::sync::atomic::Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
    delete_namespace(redis, &format!("{ns}-enqueue"));
    rps
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let redis = redis_url();
    let ns = unique_namespace("bench");
    let settings = test_settings(&ns, &redis, &[("SALLA_ODOO__LOG__FILTER", "error")]);
    let state = salla_odoo_ingest::AppState::new(&settings).unwrap();
    state
        .queue()
        .ping()
        .await
        .expect("Redis is reachable (make bench starts one)");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ingest_addr = listener.local_addr().unwrap();
    tokio::spawn(salla_odoo_ingest::serve(
        listener,
        state,
        Duration::from_secs(1),
        std::future::pending(),
    ));
    let bare_addr = bare_server().await;

    let samples = samples(200_000);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency() * 4)
        .build()
        .unwrap();
    let ingest_url = format!("http://{ingest_addr}/webhooks/salla");
    let bare_url = format!("http://{bare_addr}/webhooks/salla");

    // Warm up both (connections, allocator, Redis script cache).
    let (mut oi, mut ob) = (0usize, 100_000usize);
    for _ in 0..500 {
        fire(&client, &ingest_url, &samples[oi]).await;
        fire(&client, &bare_url, &samples[ob]).await;
        oi += 1;
        ob += 1;
    }

    // BENCH_INGEST_PROFILE=ingest|bare: that server alone, closed loop, for a profiler to attach to.
    if let Ok(which) = std::env::var("BENCH_INGEST_PROFILE") {
        let (url, off) = match which.as_str() {
            "bare" => (&bare_url, &mut ob),
            _ => (&ingest_url, &mut oi),
        };
        let mut total = Figures::default();
        for _ in 0..4 {
            total.add(throughput(&client, url, &samples, off).await);
        }
        println!("{which} alone: {:.0} requests/s", total.rps());
        delete_namespace(&redis, &ns);
        return;
    }

    let mut ingest_t = Figures::default();
    let mut bare_t = Figures::default();
    for _ in 0..ROUNDS {
        for (url, acc, off) in [
            (&bare_url, &mut bare_t, &mut ob),
            (&ingest_url, &mut ingest_t, &mut oi),
        ] {
            acc.add(throughput(&client, url, &samples, off).await);
        }
    }
    let enqueue_rps = enqueue_only(&redis, &ns).await;
    let bare_r = at_rate(&client, &bare_url, &samples, &mut ob).await;
    let ingest_r = at_rate(&client, &ingest_url, &samples, &mut oi).await;

    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!("# Ingest benchmark\n");
    println!(
        "Machine: {cpus} CPUs; client, servers and Redis share them. Bodies: {} distinct signed samples.",
        samples.len()
    );
    println!(
        "Throughput: closed loop, {} concurrent clients, {ROUNDS} alternating rounds of {ROUND:?} each.",
        concurrency()
    );
    println!("Latency at fixed rate: open loop, {RATE} requests/s for {RATE_SECS} s.\n");
    println!(
        "| server | requests/s | p50 | p99 | errors | p50 @1000/s | p99 @1000/s | errors @1000/s |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (name, t, r) in [
        ("bare axum handler (baseline)", &bare_t, &bare_r),
        (
            "ingest (verify + parse + Redis enqueue)",
            &ingest_t,
            &ingest_r,
        ),
    ] {
        println!(
            "| {name} | {:.0} | {} | {} | {} | {} | {} | {} |",
            t.rps(),
            ms(t.pct(0.5)),
            ms(t.pct(0.99)),
            t.errors,
            ms(r.pct(0.5)),
            ms(r.pct(0.99)),
            r.errors
        );
    }
    println!(
        "\nFor reference, the queue alone (the same enqueue script, {} concurrent callers, no HTTP): {enqueue_rps:.0} jobs/s.",
        concurrency()
    );
    println!(
        "\nRatio ingest / baseline: throughput {:.2} (aim ≥ 0.50); p99 at 1000/s {} (aim < 10 ms).",
        ingest_t.rps() / bare_t.rps(),
        ms(ingest_r.pct(0.99))
    );
    delete_namespace(&redis, &ns);
}
