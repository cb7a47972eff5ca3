//! Ingest benchmark (`make bench`): the real ingest (verify + parse + enqueue into Redis) against a
//! bare axum handler that reads the same body and answers 200, measured side by side in the same run,
//! alternating rounds, so the ratio means something on a noisy machine. A third server, the floor,
//! reads the body and enqueues a minimal job through the same queue and nothing else: what the
//! enqueue path alone (group commit, apalis' push script, the wait for Redis) leaves of the baseline.
//!
//! Measurements per server:
//! - throughput: a closed loop of `concurrency()` clients for `ROUND` per round;
//! - CPU per request over those rounds: this process (the client and the server) and Redis, which
//!   varies less than throughput on a shared machine;
//! - latency at a fixed rate (bare and ingest): an open loop at 1,000 requests/s, p50/p99 of every
//!   request.
//!
//! `BENCH_INGEST_PROFILE=ingest` (or `bare`, `floor`) runs that server's closed loop alone for 12 s,
//! for a profiler.
//!
//! Bodies are the project's own samples in the shape of Salla's order, customer and product events,
//! each distinct (so no delivery is a duplicate), signed up front.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::{Router, body::Bytes, routing::post};
use futures::StreamExt;
use salla_odoo_tests::{
    SECRET, delete_namespace, proc_stats, redis_url, sample_order, sign, test_settings,
    unique_namespace,
};

/// Closed-loop clients (BENCH_CONCURRENCY overrides).
fn concurrency() -> usize {
    std::env::var("BENCH_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}
/// Distinct signed bodies: more than ingest is sent in a run, so none is a duplicate.
const SAMPLES: usize = 400_000;
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
        total.add(t.await.unwrap());
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

/// The floor: reads the body and enqueues a minimal job through the same queue (group commit,
/// apalis' push script), with none of ingest's verifying or parsing.
async fn floor_server(queue: salla_odoo_queue::Queue) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route(
        "/webhooks/salla",
        post(move |body: Bytes| {
            let queue = queue.clone();
            async move {
                let (job, key) = minimal_job(&body, serde_json::Value::Null);
                queue.enqueue(&job, &key).await.unwrap();
                "{\"status\":\"ok\"}"
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A Redis queue in `namespace` with the default timeouts.
fn bench_queue(redis: &str, namespace: &str) -> salla_odoo_queue::RedisQueue {
    salla_odoo_queue::RedisQueue::new(
        redis,
        salla_odoo_queue::QueueConfig {
            namespace: namespace.to_owned(),
            dedupe_window: Duration::from_secs(600),
            connect_timeout: Duration::from_secs(2),
            command_timeout: Duration::from_secs(2),
        },
    )
    .unwrap()
}

/// A job with the given `data`, and its dedupe key: distinct for distinct `body`.
fn minimal_job(
    body: &[u8],
    data: serde_json::Value,
) -> (salla_odoo_core::SyncJob, salla_odoo_queue::DedupeKey) {
    use salla_odoo_core::{BodyDigest, JobKind, MerchantId, SyncJob, SyncJobV1};
    let digest = BodyDigest::of(body);
    let key = salla_odoo_queue::DedupeKey::new(MerchantId::new(1), "order.created", &digest);
    let job = SyncJob::V1(SyncJobV1 {
        id: uuid::Uuid::now_v7(),
        kind: JobKind::OrderUpsert,
        merchant: MerchantId::new(1),
        event: "order.created".into(),
        entity: None,
        digest,
        salla_created_at: "2026-11-02 10:00:00".into(),
        received_at: time::OffsetDateTime::now_utc(),
        attempt: 0,
        data,
        history: Vec::new(),
        trace: None,
    });
    (job, key)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Jobs per second through `RedisQueue::enqueue` alone, for `ROUND`.
async fn enqueue_only(redis: &str, ns: &str) -> f64 {
    let queue = bench_queue(redis, &format!("{ns}-enqueue"));
    let start = Instant::now();
    let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let tasks: Vec<_> = (0..concurrency())
        .map(|t| {
            let (queue, done) = (queue.clone(), done.clone());
            tokio::spawn(async move {
                let mut i = 0u64;
                while start.elapsed() < ROUND {
                    i += 1;
                    let (job, key) =
                        minimal_job(format!("{t}:{i}").as_bytes(), serde_json::json!({"id": i}));
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

/// CPU time used so far by this process (client and servers) and by Redis, where they can be read
/// (Linux `/proc`, see `proc_stats`; Redis `INFO cpu`).
#[derive(Clone, Copy, Default)]
struct Cpu {
    process: Duration,
    redis: Duration,
}

impl Cpu {
    fn now(redis: &mut redis::Connection) -> Option<Cpu> {
        // Zero where there is no `/proc` to read.
        let (process, _) = proc_stats(std::process::id());
        if process == 0.0 {
            return None;
        }
        let info: String = redis::cmd("INFO").arg("cpu").query(redis).ok()?;
        let secs = |name: &str| -> Option<f64> {
            info.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))?
                .trim()
                .parse()
                .ok()
        };
        Some(Cpu {
            process: Duration::from_secs_f64(process),
            redis: Duration::from_secs_f64(secs("used_cpu_user")? + secs("used_cpu_sys")?),
        })
    }

    fn since(self, earlier: Cpu) -> Cpu {
        Cpu {
            process: self.process.saturating_sub(earlier.process),
            redis: self.redis.saturating_sub(earlier.redis),
        }
    }
}

/// One server under test: where it listens, its figures, and the next sample it gets.
struct Server {
    name: &'static str,
    url: String,
    closed: Figures,
    cpu: Option<Cpu>,
    next: usize,
}

impl Server {
    fn new(name: &'static str, addr: SocketAddr) -> Self {
        Server {
            name,
            url: format!("http://{addr}/webhooks/salla"),
            closed: Figures::default(),
            cpu: Some(Cpu::default()),
            next: 0,
        }
    }

    /// One closed-loop round, with the CPU it cost.
    async fn round(
        &mut self,
        client: &reqwest::Client,
        samples: &Arc<Vec<Sample>>,
        redis: &mut redis::Connection,
    ) {
        let before = Cpu::now(redis);
        let figures = throughput(client, &self.url, samples, &mut self.next).await;
        let used = Cpu::now(redis)
            .zip(before)
            .map(|(after, before)| after.since(before));
        self.cpu = self.cpu.zip(used).map(|(sum, used)| Cpu {
            process: sum.process + used.process,
            redis: sum.redis + used.redis,
        });
        self.closed.add(figures);
    }

    /// CPU microseconds per request: (this process, Redis).
    fn cpu_per_request(&self) -> Option<(f64, f64)> {
        let n = self.closed.requests.max(1) as f64;
        self.cpu.map(|c| {
            (
                c.process.as_secs_f64() * 1e6 / n,
                c.redis.as_secs_f64() * 1e6 / n,
            )
        })
    }
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let redis = redis_url();
    let ns = unique_namespace("bench");
    let floor_ns = format!("{ns}-floor");
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
    let floor_queue = bench_queue(&redis, &floor_ns);
    let mut bare = Server::new("bare axum handler (baseline)", bare_server().await);
    let mut ingest = Server::new("ingest (verify + parse + Redis enqueue)", ingest_addr);
    let mut floor = Server::new(
        "floor (read body + enqueue a minimal job)",
        floor_server(floor_queue.into()).await,
    );
    // Ingest and the floor queue in their own namespaces, so they may send the same samples; the
    // bare handler keeps nothing.
    let samples = samples(SAMPLES);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency() * 4)
        .build()
        .unwrap();
    let mut conn = redis::Client::open(redis.as_str())
        .and_then(|c| c.get_connection())
        .expect("Redis is reachable");

    // Warm up (connections, allocator, Redis script cache).
    for server in [&mut bare, &mut ingest, &mut floor] {
        for _ in 0..500 {
            fire(&client, &server.url, &samples[server.next]).await;
            server.next += 1;
        }
    }

    // BENCH_INGEST_PROFILE=ingest|bare|floor: that server alone, closed loop, for a profiler to
    // attach to.
    if let Ok(which) = std::env::var("BENCH_INGEST_PROFILE") {
        let server = match which.as_str() {
            "bare" => &mut bare,
            "floor" => &mut floor,
            _ => &mut ingest,
        };
        for _ in 0..4 {
            server.round(&client, &samples, &mut conn).await;
        }
        let cpu = server
            .cpu_per_request()
            .map(|(p, r)| format!("; CPU per request {p:.1} µs here + {r:.1} µs Redis"))
            .unwrap_or_default();
        println!("{which} alone: {:.0} requests/s{cpu}", server.closed.rps());
        delete_namespace(&redis, &ns);
        delete_namespace(&redis, &floor_ns);
        return;
    }

    for _ in 0..ROUNDS {
        for server in [&mut bare, &mut ingest, &mut floor] {
            server.round(&client, &samples, &mut conn).await;
        }
    }
    let enqueue_rps = enqueue_only(&redis, &ns).await;
    let bare_r = at_rate(&client, &bare.url, &samples, &mut bare.next).await;
    let ingest_r = at_rate(&client, &ingest.url, &samples, &mut ingest.next).await;

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
    println!(
        "CPU per request: this process (the client and the server) and Redis, over the closed-loop rounds."
    );
    println!("Latency at fixed rate: open loop, {RATE} requests/s for {RATE_SECS} s.\n");
    println!(
        "| server | requests/s | p50 | p99 | errors | CPU µs/request (client + server, Redis) | p50 @1000/s | p99 @1000/s | errors @1000/s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (server, rate) in [
        (&bare, Some(&bare_r)),
        (&ingest, Some(&ingest_r)),
        (&floor, None),
    ] {
        let t = &server.closed;
        let cpu = server
            .cpu_per_request()
            .map(|(p, r)| format!("{p:.1} + {r:.1}"))
            .unwrap_or_else(|| "n/a".into());
        let (p50, p99, errors) = rate
            .map(|r| (ms(r.pct(0.5)), ms(r.pct(0.99)), r.errors.to_string()))
            .unwrap_or_else(|| ("-".into(), "-".into(), "-".into()));
        println!(
            "| {} | {:.0} | {} | {} | {} | {cpu} | {p50} | {p99} | {errors} |",
            server.name,
            t.rps(),
            ms(t.pct(0.5)),
            ms(t.pct(0.99)),
            t.errors,
        );
    }
    println!(
        "\nThe floor reads the body and enqueues a job with no payload through the same queue (group \
         commit, apalis' push script): what the enqueue path alone leaves of the baseline."
    );
    println!(
        "For reference, the queue alone (the same enqueue script, {} concurrent callers, no HTTP): {enqueue_rps:.0} jobs/s.",
        concurrency()
    );
    if ingest.next > samples.len() {
        println!(
            "Note: ingest was sent more requests than there are samples; the repeats were duplicates."
        );
    }
    let total = |s: &Server| s.cpu_per_request().map(|(p, r)| p + r);
    println!(
        "\nRatio ingest / baseline: throughput {:.2} (aim ≥ 0.50); floor / baseline {:.2}; CPU per request {}; p99 at 1000/s {} (aim < 10 ms).",
        ingest.closed.rps() / bare.closed.rps(),
        floor.closed.rps() / bare.closed.rps(),
        total(&bare)
            .zip(total(&ingest))
            .map(|(b, i)| format!("{:.2}", b / i))
            .unwrap_or_else(|| "n/a".into()),
        ms(ingest_r.pct(0.99))
    );
    delete_namespace(&redis, &ns);
    delete_namespace(&redis, &floor_ns);
}
