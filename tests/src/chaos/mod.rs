//! Fault injection (`make chaos`, and a small run in `make test`): the connector as real processes
//! under a stream of Salla events while workers, the ingest, Postgres and Redis crash, an Odoo goes
//! offline, every Odoo is flaky and Salla gives up on some events; then the run reconciles as an
//! operator would and the result is checked against a model, in Odoo and in Salla.
//!
//! One run ([`run`]):
//! 1. generate the stream for 20 stores from the seed ([`generator`]) and its expected Odoo state
//!    ([`model`]);
//! 2. start the processes ([`fleet`]): Redis (AOF), a Postgres server of the run's own, one
//!    `odoo-sandbox` per five stores (Odoo 16, 17, 18, 19), ingest, three workers, and an in-process
//!    `salla-sandbox` as every store's Salla ([`salla_side`]); configure the stores with `salla-odoo
//!    store add` and install the app (`app.store.authorize`);
//! 3. post the deliveries, signed, at a steady pace with bounded concurrency, resending a 503 or a
//!    refused connection three times and then giving up, as Salla does (10% are never sent), while
//!    Salla's own state follows the true timeline and the fault driver ([`faults`]) and the
//!    warehouse ([`warehouse`]) run their plans;
//! 4. stop the faults, wait until every accepted delivery has a job outcome and the queue is empty,
//!    replay the dead letters (`salla-odoo dlq replay --all`), wait again; reinstall the app where a
//!    killed worker spent a refresh token; the warehouse ships some orders in Odoo and the run waits
//!    for Salla to hear of it; `salla-odoo reconcile --all`, wait, replay, `salla-odoo stock push
//!    --all`;
//! 5. check ([`verify`], [`salla_side`]) every Odoo against the model, count duplicates, account for
//!    every delivery and every reconciliation job through `sync_log` and `dead_letters`, and compare
//!    every store's Salla quantities and order statuses with Odoo and the model.
//!
//! The run has a deadline of its own (every wait is bounded by it), so it ends even if the
//! connector hangs; the summary line is printed either way.

pub mod books;
pub mod faults;
pub mod fleet;
pub mod generator;
pub mod model;
pub mod salla_side;
pub mod verify;
pub mod warehouse;

pub use warehouse::Warehouse;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use salla_odoo_core::BodyDigest;
use uuid::Uuid;

use faults::{Admin, FaultLog, Plan, QueueKeys};
use fleet::{ChaosFleet, FleetConfig, locked};
use generator::{Rng, Size, Stream};
use model::Model;
use salla_side::SallaSide;
use verify::{Accounting, Message};

/// How big and how long a run is.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: &'static str,
    pub size: Size,
    /// How long the deliveries are spread over (the faults run as long).
    pub stream: Duration,
    pub kill_every: (Duration, Duration),
    pub outage_for: Duration,
    /// How long the ingest is down (Salla gives up on what it cannot deliver meanwhile).
    pub ingest_down: Duration,
    /// The share of events Salla never delivers at all.
    pub never_sent: f64,
    /// The whole run, start to summary.
    pub deadline: Duration,
    /// Deliveries in flight at once.
    pub concurrency: usize,
    pub workers: usize,
    pub retry_max_attempts: u32,
}

impl Profile {
    /// A few hundred events in about a minute: the run `make test` includes.
    pub fn small() -> Self {
        Profile {
            name: "small",
            size: Size {
                stores: 20,
                stores_per_odoo: 5,
                customers: 2,
                products: 3,
                orders: 3,
                reorder_window: 150,
                partial_product_events: partial_product_events(),
                books: books_from_env(),
                variants: variants_from_env(),
            },
            stream: Duration::from_secs(50),
            kill_every: (Duration::from_secs(3), Duration::from_secs(6)),
            outage_for: Duration::from_secs(8),
            ingest_down: Duration::from_secs(30),
            never_sent: 0.10,
            deadline: Duration::from_secs(330),
            concurrency: 8,
            workers: 3,
            retry_max_attempts: 6,
        }
    }

    /// Thousands of events over three minutes: `make chaos`.
    pub fn full() -> Self {
        Profile {
            name: "full",
            size: Size {
                stores: 20,
                stores_per_odoo: 5,
                customers: 10,
                products: 8,
                orders: 30,
                reorder_window: 600,
                partial_product_events: partial_product_events(),
                books: books_from_env(),
                variants: variants_from_env(),
            },
            stream: Duration::from_secs(180),
            kill_every: (Duration::from_secs(4), Duration::from_secs(9)),
            outage_for: Duration::from_secs(30),
            ingest_down: Duration::from_secs(60),
            never_sent: 0.10,
            deadline: Duration::from_secs(720),
            concurrency: 12,
            workers: 3,
            retry_max_attempts: 8,
        }
    }

    /// `small` or `full`.
    pub fn named(name: &str) -> Option<Self> {
        match name {
            "small" => Some(Self::small()),
            "full" => Some(Self::full()),
            _ => None,
        }
    }
}

/// `CHAOS_PARTIAL_EVENTS=1`: product status changes also as partial `product.status.updated`
/// events (off by default: they show a known connector bug, see the README).
pub fn partial_product_events() -> bool {
    std::env::var("CHAOS_PARTIAL_EVENTS").is_ok_and(|v| v == "1")
}

/// `CHAOS_BOOKS=0`: the history without the books (payments, refunds, returns, variants; on by
/// default), as it was before issue #17.
pub fn books_from_env() -> bool {
    std::env::var("CHAOS_BOOKS").map_or(true, |v| v != "0")
}

/// `CHAOS_VARIANTS=0`: the books without products with options (on by default, in `make chaos`
/// and in the small run of `make test`).
pub fn variants_from_env() -> bool {
    std::env::var("CHAOS_VARIANTS").map_or(true, |v| v != "0")
}

/// `CHAOS_SEED` when set (decimal), else a fresh one.
pub fn seed_from_env() -> u64 {
    match std::env::var("CHAOS_SEED") {
        Ok(s) => s
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("CHAOS_SEED must be a decimal number, not {s:?}")),
        Err(_) => {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            (t.as_nanos() as u64 ^ u64::from(std::process::id())) % 1_000_000_000
        }
    }
}

/// What a run found.
#[derive(Debug, Default)]
pub struct Report {
    pub profile: String,
    pub seed: u64,
    pub sent: usize,
    pub events: usize,
    pub late: usize,
    pub accounting: Accounting,
    pub duplicates: Vec<String>,
    pub mismatches: Vec<verify::Mismatch>,
    /// Salla quantities that differ from what Odoo says they should be, after the run.
    pub stock_mismatches: Vec<String>,
    /// Salla order statuses that differ from the model's, after the run.
    pub status_mismatches: Vec<String>,
    /// The books ([`books`]): what was found as expected, and what differs.
    pub books: books::BookCounts,
    pub book_mismatches: Vec<verify::Mismatch>,
    /// Orders in the history, and the Odoo calls the connector made (with its API key, every
    /// Odoo together) from the stores' set-up until the checks: `None` when a sandbox did not say.
    pub orders: usize,
    pub odoo_calls: Option<u64>,
    /// What the final `salla-odoo reconcile --all` found (its JSON), and the warehouse's work.
    pub reconcile: Option<serde_json::Value>,
    pub warehouse: Warehouse,
    /// Stores whose app had to be reinstalled (their refresh token was spent by a killed worker).
    pub reinstalls: Vec<u64>,
    /// For some mismatched objects: their events, in version order, with delivery and outcome.
    pub traces: Vec<String>,
    pub faults: FaultLog,
    /// The run itself went wrong (deadline, a step that failed).
    pub failures: Vec<String>,
    pub elapsed: Duration,
    pub dir: PathBuf,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
            && self.accounting.lost.is_empty()
            && self.accounting.problems.is_empty()
            && self.duplicates.is_empty()
            && self.mismatches.is_empty()
            && self.stock_mismatches.is_empty()
            && self.status_mismatches.is_empty()
            && self.book_mismatches.is_empty()
            && self.faults.unrecovered() == 0
    }

    /// The one summary line.
    pub fn summary(&self) -> String {
        let a = &self.accounting;
        let worst = self
            .faults
            .worst_recovery()
            .map_or("-".to_owned(), |d| format!("{:.1}", d.as_secs_f64()));
        let b = &self.books;
        let per_order = match (self.odoo_calls, self.orders) {
            (Some(c), n) if n > 0 => format!("{:.1}", c as f64 / n as f64),
            _ => "-".to_owned(),
        };
        format!(
            "chaos: events sent={} applied={} skipped={} dead-lettered={} replayed={} given-up={} \
             reconciled={} reinstalls={} duplicates={} lost={} stock-mismatches={} status-mismatches={} \
             payments={} refund-payments={} credit-notes={} refund-cancels={} returns={} variants={} \
             variants-separate={} accounting-mismatches={} odoo-calls-per-order={per_order} \
             worst-recovery-after-kill={worst}s seed={}",
            self.sent,
            a.applied,
            a.skipped,
            a.dead_lettered,
            a.replayed,
            a.given_up,
            a.reconciled_applied + a.reconciled_skipped,
            self.reinstalls.len(),
            self.duplicates.len(),
            a.lost.len(),
            self.stock_mismatches.len(),
            self.status_mismatches.len(),
            b.payments,
            b.refund_payments,
            b.credit_notes,
            b.refund_cancels,
            b.returns,
            b.templates,
            b.separate,
            self.book_mismatches.len(),
            self.seed
        )
    }

    /// Everything wrong, for a failing run (at most 25 lines per kind).
    pub fn explain(&self) -> String {
        let mut out = String::new();
        let mut section = |title: &str, items: &[String]| {
            if items.is_empty() {
                return;
            }
            out.push_str(&format!("{title} ({}):\n", items.len()));
            for i in items.iter().take(25) {
                out.push_str(&format!("  {i}\n"));
            }
        };
        section("run failures", &self.failures);
        section("lost", &self.accounting.lost);
        section("accounting problems", &self.accounting.problems);
        section("duplicates in Odoo", &self.duplicates);
        let mismatches: Vec<String> = self.mismatches.iter().map(|m| m.text.clone()).collect();
        section("Odoo state differs from the model", &mismatches);
        let books: Vec<String> = self
            .book_mismatches
            .iter()
            .map(|m| m.text.clone())
            .collect();
        section(
            "Odoo's books differ from the model (payments, credit notes, returns, variants)",
            &books,
        );
        section("histories of some of those objects", &self.traces);
        section(
            "Salla quantities differ from Odoo's",
            &self.stock_mismatches,
        );
        section("Salla order statuses differ", &self.status_mismatches);
        let unrecovered: Vec<String> = self
            .faults
            .kills
            .iter()
            .filter(|k| k.recovery.is_none())
            .map(|k| {
                format!(
                    "worker {} killed at {:.1}s holding {} job(s)",
                    k.pid,
                    k.at.as_secs_f64(),
                    k.held
                )
            })
            .collect();
        section("kills not recovered within 60 s", &unrecovered);
        out.push_str(&format!(
            "logs: {} (rerun with CHAOS_SEED={})\n",
            self.dir.display(),
            self.seed
        ));
        out
    }
}

/// A delivery's answer from ingest.
#[derive(Debug, Clone)]
struct Answer {
    status: String,
    job: Option<Uuid>,
}

/// The answer of a delivery Salla gave up on.
const GIVEN_UP: &str = "given up";

/// Salla's resends after a failed delivery (it resends three times, then the event is gone),
/// compressed from its real schedule into the run's time scale.
const RESENDS: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];

/// Post every delivery, in order, paced over `pace`, at most `concurrency` at once, as Salla does:
/// a 503 or a refused connection is resent three times ([`RESENDS`]), then given up. The events
/// in `never_sent` are not posted at all. Before each delivery, Salla's own state (`side`) takes
/// every event of the true timeline up to the one delivered, whether or not those are delivered.
async fn deliver(
    url: &str,
    stream: &Stream,
    concurrency: usize,
    pace: Duration,
    deadline: Instant,
    side: &SallaSide,
    never_sent: &HashSet<usize>,
) -> Vec<Option<Answer>> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(64)
        .build()
        .expect("http client");
    let endpoint = format!("{url}/webhooks/salla");
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    let start = Instant::now();
    let n = stream.deliveries.len().max(1);
    let mut out = vec![None; stream.deliveries.len()];
    // Salla's own state follows the true timeline: up to the newest event delivered so far (a
    // product exists in Salla before the order that sells it, however late its webhook comes).
    let mut applied = 0;
    for (i, d) in stream.deliveries.iter().enumerate() {
        let due = start + pace.mul_f64(i as f64 / n as f64);
        tokio::time::sleep_until(due.into()).await;
        while applied <= d.event {
            side.apply(&stream.events[applied]);
            applied += 1;
        }
        if never_sent.contains(&d.event) {
            out[i] = Some(Answer {
                status: GIVEN_UP.into(),
                job: None,
            });
            continue;
        }
        let (client, endpoint, body, sem) = (
            client.clone(),
            endpoint.clone(),
            d.body.clone(),
            sem.clone(),
        );
        tasks.spawn(async move {
            let sig = crate::sign(fleet::SECRET, &body);
            let mut resends = RESENDS.iter();
            loop {
                // A permit per attempt: a delivery waiting to be resent holds none.
                let permit = sem.clone().acquire_owned().await.expect("semaphore");
                let sent = client
                    .post(&endpoint)
                    .header("content-type", "application/json")
                    .header("x-salla-signature", &sig)
                    .body(body.clone())
                    .send()
                    .await;
                let answer = match sent {
                    Ok(r) if r.status().is_success() => {
                        let v: serde_json::Value = r.json().await.unwrap_or_default();
                        let job = v["job_id"].as_str().and_then(|s| s.parse().ok());
                        let status = v["status"].as_str().unwrap_or("?").to_owned();
                        Some(Answer { status, job })
                    }
                    Ok(r) if r.status().as_u16() != 503 => {
                        let status = r.status();
                        let text = r.text().await.unwrap_or_default();
                        Some(Answer {
                            status: format!("http {status}: {text}"),
                            job: None,
                        })
                    }
                    _ => None,
                };
                drop(permit);
                if let Some(a) = answer {
                    return (i, Some(a));
                }
                let Some(wait) = resends.next() else {
                    return (
                        i,
                        Some(Answer {
                            status: GIVEN_UP.into(),
                            job: None,
                        }),
                    );
                };
                if Instant::now() > deadline {
                    return (i, None);
                }
                tokio::time::sleep(*wait).await;
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        if let Ok((i, a)) = r {
            out[i] = a;
        }
    }
    out
}

/// Distinct bodies with their answers.
fn messages(stream: &Stream, answers: &[Option<Answer>], bad: &mut Vec<String>) -> Vec<Message> {
    let mut by_digest: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<Message> = Vec::new();
    for (d, a) in stream.deliveries.iter().zip(answers) {
        let e = &stream.events[d.event];
        let digest = BodyDigest::of(&d.body).to_hex();
        let i = *by_digest.entry(digest.clone()).or_insert_with(|| {
            out.push(Message {
                event: d.event,
                merchant: e.merchant,
                name: e.name.to_owned(),
                digest,
                queued: Vec::new(),
                accepted: false,
                claimed: None,
                given_up: false,
            });
            out.len() - 1
        });
        match a {
            Some(a) if a.status == "queued" || a.status == "duplicate" => {
                out[i].accepted = true;
                out[i].queued.extend(a.job);
            }
            Some(a) if a.status == GIVEN_UP => out[i].given_up = true,
            Some(a) => bad.push(format!(
                "{} of merchant {}: ingest answered {}",
                e.name, e.merchant, a.status
            )),
            None => {}
        }
    }
    out
}

/// Queue counts from `salla-odoo queue stats --json`: (queued, scheduled, in flight).
async fn queue_counts(fleet: &Arc<Mutex<ChaosFleet>>) -> Option<(u64, u64, u64)> {
    let f = fleet.clone();
    let out = tokio::task::spawn_blocking(move || locked(&f).cli(&["queue", "stats", "--json"]))
        .await
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some((
        v["queued"].as_u64()?,
        v["scheduled"].as_u64()?,
        v["in_flight"].as_u64()?,
    ))
}

/// Read the dedupe claims (job ids) of messages that have none yet.
async fn resolve_claims(conn: &mut faults::Conn, keys: &QueueKeys, messages: &mut [Message]) {
    for m in messages
        .iter_mut()
        .filter(|m| m.accepted && m.claimed.is_none())
    {
        let key = keys.idempotency(m.merchant, &m.name, &m.digest);
        let v: Option<Option<String>> = conn.query(redis::cmd("GET").arg(key)).await;
        m.claimed = v.flatten().and_then(|s| s.parse().ok());
    }
}

/// Wait until every job in `jobs` has an outcome and the queue is empty (or the deadline).
async fn wait_drained(
    fleet: &Arc<Mutex<ChaosFleet>>,
    pool: &sqlx::PgPool,
    jobs: &[Uuid],
    deadline: Instant,
    what: &str,
) -> Result<(), String> {
    let started = Instant::now();
    let mut last_print = Instant::now();
    loop {
        let done: Vec<Uuid> = sqlx::query_scalar("SELECT job_id FROM sync_log")
            .fetch_all(pool)
            .await
            .unwrap_or_default();
        let done: std::collections::HashSet<Uuid> = done.into_iter().collect();
        let missing = jobs.iter().filter(|j| !done.contains(j)).count();
        let q = queue_counts(fleet).await;
        if missing == 0 && q == Some((0, 0, 0)) {
            eprintln!(
                "chaos: {what}: drained in {:.1}s",
                started.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        if last_print.elapsed() > Duration::from_secs(10) {
            last_print = Instant::now();
            eprintln!(
                "chaos: {what}: {missing} job(s) without outcome; queue (queued, scheduled, in flight) {q:?}"
            );
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{what}: not drained by the deadline: {missing} job(s) without outcome; queue (queued, \
                 scheduled, in flight) {q:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The history of up to 8 mismatched objects: each event (by version) with where it was
/// delivered and how its job ended.
fn traces(
    stream: &Stream,
    msgs: &[Message],
    log: &HashMap<Uuid, verify::LogRow>,
    mismatches: &[verify::Mismatch],
) -> Vec<String> {
    let mut position: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, d) in stream.deliveries.iter().enumerate() {
        position.entry(d.event).or_default().push(i);
    }
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for m in mismatches.iter().filter(|m| m.object != "odoo") {
        if !seen.insert(m.object.clone()) || seen.len() > 8 {
            continue;
        }
        out.push(format!("{}:", m.object));
        for e in stream.events.iter().filter(|e| e.object == m.object) {
            let fates: Vec<String> = msgs
                .iter()
                .filter(|x| x.event == e.seq)
                .map(|x| match x.job().and_then(|j| log.get(&j)) {
                    Some(r) => format!(
                        "{}{}",
                        r.outcome,
                        r.reason
                            .as_deref()
                            .map(|r| format!(" ({})", r.chars().take(140).collect::<String>()))
                            .unwrap_or_default()
                    ),
                    None => "no outcome".into(),
                })
                .collect();
            out.push(format!(
                "  v{} {} delivered at #{:?} -> {}",
                e.at - e.at / 100_000 * 100_000,
                e.name,
                position.get(&e.seq).cloned().unwrap_or_default(),
                fates.join(" | ")
            ));
        }
    }
    out
}

/// `salla-odoo ARGS` with the run's environment, off the runtime's threads.
async fn cli(fleet: &Arc<Mutex<ChaosFleet>>, args: &[&str]) -> std::process::Output {
    let f = fleet.clone();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        locked(&f).cli(&args)
    })
    .await
    .expect("the CLI runs")
}

/// Post one body to the ingest, signed, once; Ok when it was queued (or a duplicate).
/// Creates a pricelist in USD in the Odoo at `url` (as its administrator): the one the USD stores
/// of that Odoo name with `--pricelists USD=ID`.
async fn usd_pricelist(url: &str) -> Result<i64, String> {
    let mut config = odoo::Config::new(url, "odoo", "admin", "admin".to_owned().into())
        .map_err(|e| e.to_string())?;
    // With the password (the connector's API key is its own): JSON-RPC, on 19 too.
    config.transport = odoo::TransportChoice::JsonRpc;
    let odoo = odoo::Client::new(config).map_err(|e| e.to_string())?;
    let usd = odoo
        .search(
            "res.currency",
            &odoo::Domain::new().eq("name", "USD"),
            &odoo::SearchOptions::limit(1),
        )
        .await
        .map_err(|e| e.to_string())?;
    let usd = *usd.first().ok_or("Odoo has no USD")?;
    let mut vals = serde_json::Map::new();
    vals.insert("name".into(), serde_json::json!("Chaos USD"));
    vals.insert("currency_id".into(), serde_json::json!(usd));
    odoo.create("product.pricelist", vals)
        .await
        .map_err(|e| e.to_string())
}

/// Each Odoo's first bank and first cash journal (the seeded "Bank" and "Cash"), read as the
/// accounting tests do.
async fn odoo_journals(admin: &Admin, url: &str) -> Result<(i64, i64), String> {
    let journals = admin
        .inspect(url, "account.journal", &["id", "type"])
        .await?;
    let first = |kind: &str| {
        journals
            .iter()
            .filter(|j| j["type"] == kind)
            .filter_map(|j| j["id"].as_i64())
            .min()
            .ok_or(format!("no {kind} journal"))
    };
    Ok((first("bank")?, first("cash")?))
}

/// The store settings of the books, as a merchant gives them to `salla-odoo store add`: Salla's
/// `restored` is a refund, credit notes, return pickings and templates on; and for a store that
/// registers payments, a journal per payment method (the online ones in the bank journal, cash on
/// delivery in the cash journal) and the bank journal for any other method.
fn book_flags(s: &generator::Store, journals: Option<(i64, i64)>) -> Vec<String> {
    let mut flags: Vec<String> = [
        "--status-map",
        "restored=refund",
        "--refund-credit-notes",
        "on",
        "--return-pickings",
        "on",
        "--variants",
        "templates",
    ]
    .map(str::to_owned)
    .to_vec();
    if let (true, Some((bank, cash))) = (s.payments, journals) {
        flags.extend([
            "--payment-journals".to_owned(),
            format!("mada={bank},credit_card={bank},apple_pay={bank},cod={cash}"),
            "--payment-journal".to_owned(),
            bank.to_string(),
        ]);
    }
    flags
}

/// The calls every sandbox received with the connector's API key (`None` if one does not say).
async fn connector_calls(admin: &Admin, sandboxes: &[(String, u32)]) -> Option<u64> {
    let mut total = 0;
    for (url, _) in sandboxes {
        let v = admin.get(url, "/_sandbox/calls/api_key").await.ok()?;
        total += v["calls"].as_u64()?;
    }
    Some(total)
}

/// Post the return shipments' webhooks (in the order Salla sent them, after the history), each
/// resent on a refused connection or a 503 as Salla does; adds them to `msgs` and returns their
/// job ids.
async fn post_returns(
    url: &str,
    stream: &Stream,
    msgs: &mut Vec<Message>,
    failures: &mut Vec<String>,
) -> Vec<Uuid> {
    let client = reqwest::Client::new();
    let mut jobs = Vec::new();
    for r in &stream.returns {
        for body in &r.bodies {
            let digest = BodyDigest::of(body).to_hex();
            let name =
                serde_json::from_slice::<serde_json::Value>(body).unwrap_or_default()["event"]
                    .as_str()
                    .unwrap_or("?")
                    .to_owned();
            let mut answer = None;
            for wait in [0, 1, 2, 4] {
                tokio::time::sleep(Duration::from_secs(wait)).await;
                let sent = client
                    .post(format!("{url}/webhooks/salla"))
                    .header("content-type", "application/json")
                    .header("x-salla-signature", crate::sign(fleet::SECRET, body))
                    .body(body.clone())
                    .send()
                    .await;
                if let Ok(resp) = sent
                    && resp.status().is_success()
                {
                    answer = Some(resp.json::<serde_json::Value>().await.unwrap_or_default());
                    break;
                }
            }
            let Some(a) = answer else {
                failures.push(format!(
                    "{name} of return shipment {} not accepted by ingest",
                    r.shipment
                ));
                continue;
            };
            let job: Option<Uuid> = a["job_id"].as_str().and_then(|s| s.parse().ok());
            jobs.extend(job);
            match msgs.iter_mut().find(|m| m.digest == digest) {
                Some(m) => m.queued.extend(job),
                None => msgs.push(Message {
                    event: usize::MAX,
                    merchant: r.merchant,
                    name,
                    digest,
                    queued: job.into_iter().collect(),
                    accepted: true,
                    claimed: None,
                    given_up: false,
                }),
            }
        }
    }
    eprintln!(
        "chaos: returns: {} return shipment(s), {} webhook(s) queued",
        stream.returns.len(),
        jobs.len()
    );
    jobs
}

async fn post_once(url: &str, body: &[u8]) -> Result<(), String> {
    let r = reqwest::Client::new()
        .post(format!("{url}/webhooks/salla"))
        .header("content-type", "application/json")
        .header("x-salla-signature", crate::sign(fleet::SECRET, body))
        .body(body.to_vec())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    match r.status().is_success() {
        true => Ok(()),
        false => Err(format!("ingest answered {}", r.status())),
    }
}

/// Wait until Salla shows every order the warehouse shipped as delivered (the fulfilment report).
async fn wait_statuses(
    side: &SallaSide,
    shipped: &[(u64, u64)],
    deadline: Instant,
) -> Result<(), String> {
    let started = Instant::now();
    loop {
        let waiting: Vec<&(u64, u64)> = shipped
            .iter()
            .filter(|(m, o)| side.status(*m, *o).as_deref() != Some("delivered"))
            .collect();
        if waiting.is_empty() {
            eprintln!(
                "chaos: fulfilment: {} shipped order(s) delivered in Salla after {:.1}s",
                shipped.len(),
                started.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        if Instant::now() > deadline || started.elapsed() > Duration::from_secs(90) {
            return Err(format!(
                "fulfilment: {} order(s) the warehouse shipped are not delivered in Salla: {:?}",
                waiting.len(),
                waiting.iter().take(10).collect::<Vec<_>>()
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Reinstall the app in every store that needs it (a new `app.store.authorize`) and wait until the
/// connector took the new tokens; returns those stores.
async fn reinstall(
    side: &SallaSide,
    pool: &sqlx::PgPool,
    ingest: &str,
    deadline: Instant,
    failures: &mut Vec<String>,
) -> Vec<u64> {
    let query =
        "SELECT merchant_id FROM stores WHERE salla_api_state = 'needs_reinstall' ORDER BY 1";
    let stores: Vec<i64> = sqlx::query_scalar(query)
        .fetch_all(pool)
        .await
        .unwrap_or_default();
    let stores: Vec<u64> = stores.into_iter().map(|m| m as u64).collect();
    for m in &stores {
        let reason: Option<String> =
            sqlx::query_scalar("SELECT salla_api_reason FROM stores WHERE merchant_id = $1")
                .bind(*m as i64)
                .fetch_one(pool)
                .await
                .ok()
                .flatten();
        eprintln!("chaos: store {m} needs a reinstall: {reason:?}");
        if let Err(e) = post_once(ingest, &side.authorize(*m)).await {
            failures.push(format!("reinstall of {m}: {e}"));
        }
    }
    loop {
        let left: Vec<i64> = sqlx::query_scalar(query)
            .fetch_all(pool)
            .await
            .unwrap_or_default();
        if left.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            failures.push(format!("stores still need a reinstall: {left:?}"));
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stores
}

/// `checked=… missing=… stale=… queued=…` over every store of a `reconcile --all --json` answer.
fn reconcile_totals(v: Option<&serde_json::Value>) -> String {
    let stores: Vec<&serde_json::Value> = match v {
        Some(serde_json::Value::Array(a)) => a.iter().collect(),
        Some(v) => v["stores"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_else(|| vec![v]),
        None => return "no JSON".into(),
    };
    let sum = |k: &str| -> u64 { stores.iter().filter_map(|s| s[k].as_u64()).sum() };
    let unavailable: Vec<String> = stores
        .iter()
        .filter_map(|s| Some(format!("{}: {}", s["merchant"], s["unavailable"].as_str()?)))
        .collect();
    format!(
        "{} store(s): checked={} missing={} stale={} queued={} already-queued={} unavailable={unavailable:?}",
        stores.len(),
        sum("checked"),
        sum("missing"),
        sum("stale"),
        sum("queued"),
        sum("already_queued")
    )
}

/// Replay the outbox (`salla-odoo dlq replay --all`) until it is empty, up to three rounds, and
/// wait for the replays' outcomes.
async fn replay_dead_letters(
    fleet: &Arc<Mutex<ChaosFleet>>,
    pool: &sqlx::PgPool,
    deadline: Instant,
    replays: &mut HashMap<Uuid, Uuid>,
    failures: &mut Vec<String>,
) {
    for round in 1..=3 {
        let pending: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM dead_letters WHERE replayed_at IS NULL AND discarded_at IS NULL",
        )
        .fetch_one(pool)
        .await
        .unwrap_or(0);
        if pending == 0 || Instant::now() > deadline {
            break;
        }
        // The CLI may find Postgres or Redis too busy on a loaded machine (exit 3): try again.
        let out = loop {
            let out = cli(fleet, &["dlq", "replay", "--all", "--json"]).await;
            if out.status.code() != Some(3) || Instant::now() > deadline {
                break out;
            }
            eprintln!(
                "chaos: dlq replay could not reach its stores, again in 2s: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            tokio::time::sleep(Duration::from_secs(2)).await;
        };
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let mut new_jobs = Vec::new();
        for r in rows["results"].as_array().into_iter().flatten() {
            if let (Some(old), Some(new)) = (
                r["job_id"].as_str().and_then(|s| s.parse().ok()),
                r["new_job_id"].as_str().and_then(|s| s.parse().ok()),
            ) {
                replays.insert(old, new);
                new_jobs.push(new);
            }
        }
        eprintln!(
            "chaos: replay round {round}: {pending} pending dead letter(s), {} replayed (exit {:?})",
            new_jobs.len(),
            out.status.code()
        );
        if !out.status.success() {
            failures.push(format!(
                "dlq replay --all failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        if let Err(e) = wait_drained(fleet, pool, &new_jobs, deadline, "replays").await {
            failures.push(e);
        }
    }
}

/// One whole run (see the module docs). Never panics on what it finds: the report says.
pub async fn run(profile: Profile, seed: u64) -> Report {
    let started = Instant::now();
    let deadline = started + profile.deadline;
    let dir = std::env::temp_dir().join(format!("salla-odoo-chaos-{seed}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a directory for the run's logs");
    let mut report = Report {
        profile: profile.name.to_owned(),
        seed,
        dir: dir.clone(),
        ..Report::default()
    };

    let mut rng = Rng::new(seed);
    let stream = generator::generate(profile.size, &mut rng.fork());
    let model = Model::from_stream(&stream);
    report.events = stream.events.len();
    report.late = stream.late_deliveries();
    eprintln!(
        "chaos: profile {} seed {seed}: {} events for {} stores, {} deliveries ({} late, {} twice); logs in {}",
        profile.name,
        stream.events.len(),
        stream.stores.len(),
        stream.deliveries.len(),
        report.late,
        stream.deliveries.len() - stream.events.len(),
        dir.display()
    );

    let groups = profile.size.stores.div_ceil(profile.size.stores_per_odoo);
    let versions: Vec<u32> = (0..groups).map(|g| [16, 17, 18, 19][g % 4]).collect();
    let side = SallaSide::start().await;
    let mut fleet = ChaosFleet::start(
        &dir,
        FleetConfig {
            workers: profile.workers,
            odoo_versions: versions,
            retry_max_attempts: profile.retry_max_attempts,
            salla_env: side.env(),
        },
    )
    .await;
    // A USD store's orders go to a pricelist in USD, one per Odoo, named with --pricelists
    // (the SAR stores use Odoo's default SAR pricelist without naming it).
    let mut usd_pricelists: BTreeMap<usize, i64> = BTreeMap::new();
    let usd_odoos: std::collections::BTreeSet<usize> = stream
        .stores
        .iter()
        .filter(|s| s.currency != "SAR")
        .map(|s| s.odoo)
        .collect();
    for odoo in usd_odoos {
        match usd_pricelist(&fleet.sandboxes[odoo].url).await {
            Ok(id) => {
                usd_pricelists.insert(odoo, id);
            }
            Err(e) => report
                .failures
                .push(format!("no USD pricelist in Odoo {odoo}: {e}")),
        }
    }
    // The books: each Odoo's bank and cash journals (as seeded), for the payment journals.
    let admin = Admin::new();
    let mut journals: BTreeMap<usize, (i64, i64)> = BTreeMap::new();
    if profile.size.books {
        for (i, sb) in fleet.sandboxes.iter().enumerate() {
            match odoo_journals(&admin, &sb.url).await {
                Ok(j) => {
                    journals.insert(i, j);
                }
                Err(e) => report
                    .failures
                    .push(format!("no payment journals in Odoo {i}: {e}")),
            }
        }
    }
    for s in &stream.stores {
        let mut extra: Vec<String> = match usd_pricelists.get(&s.odoo) {
            Some(id) if s.currency == "USD" => vec!["--pricelists".into(), format!("USD={id}")],
            _ => Vec::new(),
        };
        if profile.size.books {
            extra.extend(book_flags(s, journals.get(&s.odoo).copied()));
        }
        fleet.add_store_with(s.merchant, s.odoo, &extra);
        fleet
            .record_intents_from(s.merchant, generator::DAY_START - 86_400)
            .await;
    }
    fleet.start_workers();
    // The app is installed in every store: Salla posts its tokens.
    for s in &stream.stores {
        let body = side.authorize(s.merchant);
        if let Err(e) = post_once(&fleet.ingest_url, &body).await {
            report
                .failures
                .push(format!("app.store.authorize of {}: {e}", s.merchant));
        }
    }
    let sandboxes: Vec<(String, u32)> = fleet
        .sandboxes
        .iter()
        .map(|s| (s.url.clone(), s.version))
        .collect();
    for (url, _) in &sandboxes {
        if let Err(e) = admin.make_flaky(url).await {
            report.failures.push(format!("faults not installed: {e}"));
        }
    }
    let pool = fleet.db.pool.clone();
    let ingest = fleet.ingest_url.clone();
    let keys = QueueKeys::new(&fleet.namespace);
    let redis_url = fleet.redis.url();
    let fleet = Arc::new(Mutex::new(fleet));
    eprintln!(
        "chaos: fleet up in {:.1}s: ingest, {} workers, {} Odoo sandboxes (versions {:?}), salla-sandbox",
        started.elapsed().as_secs_f64(),
        profile.workers,
        sandboxes.len(),
        sandboxes.iter().map(|s| s.1).collect::<Vec<_>>()
    );

    // Salla never sends some events at all.
    let mut drop_rng = rng.fork();
    let never_sent: HashSet<usize> = stream
        .events
        .iter()
        .filter(|_| drop_rng.chance(profile.never_sent))
        .map(|e| e.seq)
        .collect();

    // The stream, under fire, while the warehouse moves stock in every Odoo.
    let at = |share: f64| profile.stream.mul_f64(share);
    let plan = Plan {
        kill_every: profile.kill_every,
        redis_at: at(0.85),
        redis_down: Duration::from_millis(1500),
        outage_at: at(0.5),
        outage_for: profile.outage_for,
        outage_odoo: rng.below(sandboxes.len() as u64) as usize,
        ingest_at: at(0.1),
        ingest_down: profile.ingest_down,
        postgres_at: at(0.7),
        postgres_down: Duration::from_secs(2),
        expire_tokens_at: vec![at(0.3), at(0.6), at(0.95)],
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let t0 = Instant::now();
    let merchants: Vec<u64> = stream.stores.iter().map(|s| s.merchant).collect();
    let driver = tokio::spawn(faults::drive(
        fleet.clone(),
        side.sandbox.clone(),
        merchants.clone(),
        plan,
        rng.fork(),
        t0,
        stopped.clone(),
    ));
    let urls: Vec<String> = sandboxes.iter().map(|s| s.0.clone()).collect();
    let mover = tokio::spawn(warehouse::move_stock(urls.clone(), rng.fork(), stopped));
    let answers = deliver(
        &ingest,
        &stream,
        profile.concurrency,
        profile.stream,
        deadline,
        &side,
        &never_sent,
    )
    .await;
    report.sent = answers
        .iter()
        .filter(|a| a.as_ref().is_some_and(|a| a.status != GIVEN_UP))
        .count();
    eprintln!(
        "chaos: {:>6.1}s  all {} deliveries made ({} events never sent)",
        t0.elapsed().as_secs_f64(),
        stream.deliveries.len(),
        never_sent.len()
    );
    let _ = stop.send(true);
    report.faults = driver.await.unwrap_or_default();
    report.warehouse.stock_moves = mover.await.unwrap_or_default();
    for (url, _) in &sandboxes {
        if let Err(e) = admin.clear(url, Duration::from_secs(60)).await {
            report.failures.push(format!("faults not cleared: {e}"));
        }
    }
    eprintln!(
        "chaos: {:>6.1}s  faults off ({} worker kills, {} redis restart, {} outage, {} ingest restart, \
         {} postgres restart, {} tokens expired; {} warehouse stock moves)",
        t0.elapsed().as_secs_f64(),
        report.faults.kills.len(),
        report.faults.redis_restarts,
        report.faults.outages.len(),
        report.faults.ingest_restarts,
        report.faults.postgres_restarts,
        report.faults.tokens_expired,
        report.warehouse.stock_moves
    );

    // Drain, replay the outbox, drain again.
    let mut bad = Vec::new();
    let mut msgs = messages(&stream, &answers, &mut bad);
    report.failures.extend(bad);
    let mut conn = faults::Conn::new(&redis_url);
    resolve_claims(&mut conn, &keys, &mut msgs).await;
    let jobs: Vec<Uuid> = msgs.iter().filter_map(Message::job).collect();
    if let Err(e) = wait_drained(&fleet, &pool, &jobs, deadline, "queue").await {
        report.failures.push(e);
    }
    if let Some(calls) = connector_calls(&admin, &sandboxes).await {
        eprintln!(
            "chaos: {:>6.1}s  the connector's Odoo calls so far (the stream drained): {calls}",
            t0.elapsed().as_secs_f64()
        );
    }
    let mut replays: HashMap<Uuid, Uuid> = HashMap::new();
    replay_dead_letters(&fleet, &pool, deadline, &mut replays, &mut report.failures).await;

    // A store whose refresh token was spent by a worker killed mid-refresh needs the app
    // reinstalled (Salla's refresh tokens are single-use): the merchant does it when told.
    report.reinstalls = reinstall(&side, &pool, &ingest, deadline, &mut report.failures).await;

    // Salla after the run: every object at its newest version. The warehouse ships some confirmed
    // orders in Odoo (the fulfilment report must tell Salla), then the run reconciles every store
    // and pushes stock, as an operator does after an outage.
    side.apply_all(&stream);
    let mut model = model;
    let shipped = warehouse::ship_orders(&urls, &stream, &model, &mut rng.fork()).await;
    report.warehouse.shipped = shipped.len();
    for (merchant, order) in &shipped {
        if let Some((_, o)) = model
            .stores
            .get_mut(merchant)
            .and_then(|s| s.orders.get_mut(order))
        {
            o.status = model::SHIPPED_IN_ODOO;
        }
    }
    if let Err(e) = wait_statuses(&side, &shipped, deadline).await {
        report.failures.push(e);
    }
    let since = generator::plain_date(generator::DAY_START - 86_400);
    let since = since.replace(' ', "T") + "+03:00";
    let out = cli(&fleet, &["--json", "reconcile", "--all", "--since", &since]).await;
    report.reconcile = serde_json::from_slice(&out.stdout).ok();
    eprintln!(
        "chaos: reconcile --all: exit {:?}: {}",
        out.status.code(),
        reconcile_totals(report.reconcile.as_ref())
    );
    if !out.status.success() {
        report.failures.push(format!(
            "reconcile --all failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    if let Err(e) = wait_drained(&fleet, &pool, &[], deadline, "reconciliation").await {
        report.failures.push(e);
    }
    replay_dead_letters(&fleet, &pool, deadline, &mut replays, &mut report.failures).await;

    // The customers send some completed orders back: the return shipments' webhooks.
    if !stream.returns.is_empty() {
        let jobs = post_returns(&ingest, &stream, &mut msgs, &mut report.failures).await;
        if let Err(e) = wait_drained(&fleet, &pool, &jobs, deadline, "returns").await {
            report.failures.push(e);
        }
    }
    let out = cli(&fleet, &["--json", "stock", "push", "--all"]).await;
    let _ = std::fs::write(dir.join("stock-push.json"), &out.stdout);
    let pushed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let stores = pushed["stores"].as_array().cloned().unwrap_or_default();
    let sum = |k: &str| -> u64 { stores.iter().filter_map(|s| s[k].as_u64()).sum() };
    eprintln!(
        "chaos: stock push --all: exit {:?}: {} store(s), {} changed, {} pushed (stock-push.json)",
        out.status.code(),
        stores.len(),
        sum("changed"),
        sum("pushed")
    );
    if !out.status.success() {
        report.failures.push(format!(
            "stock push --all failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }

    // Salla's stock: what Odoo says, once Salla has applied the last push (it queues bulk updates).
    let stock_wait = Instant::now();
    loop {
        let mut found = Vec::new();
        for (i, (url, version)) in sandboxes.iter().enumerate() {
            let merchants: Vec<u64> = stream
                .stores
                .iter()
                .filter(|s| s.odoo == i)
                .map(|s| s.merchant)
                .collect();
            match verify::load_odoo(&admin, url, *version).await {
                Ok(view) => found.extend(salla_side::stock_mismatches(
                    &side,
                    &salla_side::odoo_available(&view),
                    &merchants,
                    &model,
                )),
                Err(e) => found.push(format!("odoo #{i} not readable: {e}")),
            }
        }
        report.stock_mismatches = found;
        if report.stock_mismatches.is_empty()
            || stock_wait.elapsed() > Duration::from_secs(20)
            || Instant::now() > deadline
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    report.status_mismatches = salla_side::status_mismatches(&side, &model);

    // The connector's Odoo calls, before the checks (which read through the admin API).
    report.orders = model.stores.values().map(|s| s.orders.len()).sum();
    report.odoo_calls = connector_calls(&admin, &sandboxes).await;

    // Check.
    resolve_claims(&mut conn, &keys, &mut msgs).await;
    let log = verify::outcomes(&pool).await.unwrap_or_default();
    let dead = verify::dead_letters(&pool).await.unwrap_or_default();
    report.accounting = verify::account(&msgs, &log, &dead, &replays);
    let paying: std::collections::BTreeSet<u64> = stream
        .stores
        .iter()
        .filter(|s| s.payments)
        .map(|s| s.merchant)
        .collect();
    for (i, (url, version)) in sandboxes.iter().enumerate() {
        match verify::load_odoo(&admin, url, *version).await {
            Ok(view) => {
                let merchants: Vec<u64> = stream
                    .stores
                    .iter()
                    .filter(|s| s.odoo == i)
                    .map(|s| s.merchant)
                    .collect();
                let books = journals.get(&i).map(|(bank, cash)| books::Books {
                    bank: *bank,
                    cash: *cash,
                    paying: &paying,
                    returns: &stream.returns,
                });
                let found = verify::check_odoo(i, &view, &model, &merchants, books.as_ref());
                report.mismatches.extend(found.mismatches);
                report.duplicates.extend(found.duplicates);
                report.book_mismatches.extend(found.accounting);
                report.books.add(&found.books);
            }
            Err(e) => report.failures.push(format!("odoo #{i} not readable: {e}")),
        }
    }
    let all: Vec<verify::Mismatch> = report
        .mismatches
        .iter()
        .chain(&report.book_mismatches)
        .cloned()
        .collect();
    report.traces = traces(&stream, &msgs, &log, &all);
    let fleet = Arc::try_unwrap(fleet)
        .ok()
        .expect("the driver has stopped")
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    fleet.cleanup().await;
    if let Ok(side) = Arc::try_unwrap(side.sandbox) {
        side.shutdown().await;
    }
    report.elapsed = started.elapsed();
    let a = &report.accounting;
    eprintln!(
        "chaos: {} events, {} late deliveries; outcomes: {} applied, {} skipped ({:?}), {} dead-lettered ({:?}), \
         replays {} applied / {} skipped; kills {} (recovery: {}); {:.0}s in all",
        report.events,
        report.late,
        a.applied,
        a.skipped,
        a.skip_reasons,
        a.dead_lettered,
        a.dead_classes,
        a.replay_applied,
        a.replay_skipped,
        report.faults.kills.len(),
        report
            .faults
            .kills
            .iter()
            .map(|k| k.recovery.map_or("-".into(), |d| format!(
                "{:.1}s/{}",
                d.as_secs_f64(),
                k.held
            )))
            .collect::<Vec<_>>()
            .join(" "),
        report.elapsed.as_secs_f64()
    );
    if report.passed() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    report
}
