//! The faults of a run, on a schedule relative to the start of the event stream:
//!
//! - **worker crashes**: every few seconds a random worker gets SIGKILL and a new one is started
//!   a moment later (so the fleet keeps its size but the killed worker's leases are orphaned);
//! - **Redis crash**: once, Redis gets SIGKILL and is started again on the same port and AOF
//!   directory after a short pause (ingest answers 503 meanwhile; the sender resends, as Salla does);
//! - **an Odoo outage**: one sandbox (the Odoo of a group of stores) refuses connections for a
//!   while;
//! - **ingest down**: once, the ingest is killed and started again after a while; Salla's
//!   deliveries meet a refused connection meanwhile, are resent three times and then given up
//!   (only reconciliation brings those changes);
//! - **Postgres crash**: once, the run's own Postgres server gets SIGKILL and is started again on
//!   the same data (the outbox, the id map and the sync log must survive it);
//! - **tokens expire**: a few times, every access token of some stores is expired in Salla, so the
//!   next API call of the connector meets a 401 and refreshes;
//! - **flaky Odoo**, the whole stream long, on every sandbox: 5% of calls answer 503 before running,
//!   2% commit and then drop the connection without an answer, and every call waits 1 ms plus up
//!   to 15 ms of jitter.
//!
//! # Recovery after a kill
//! Defined as the time from the SIGKILL until every job the killed worker held (its in-flight set,
//! read from Redis right after the kill, when nothing can change it any more) is being handled
//! again: finished (its data left the queue), running at another worker (in a live worker's
//! in-flight set) or run and rescheduled (its attempt count went up). With nothing held, the time
//! until the fleet records its next job outcome. Both are polled every 50 ms.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use serde_json::{Value, json};

use super::fleet::{ChaosFleet, locked};
use super::generator::Rng;

/// When the faults happen.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Between two worker kills (uniform in this range).
    pub kill_every: (Duration, Duration),
    /// Redis is killed this long after the start, and started again after `redis_down`.
    pub redis_at: Duration,
    pub redis_down: Duration,
    /// Sandbox `outage_odoo` refuses connections from `outage_at` for `outage_for`.
    pub outage_at: Duration,
    pub outage_for: Duration,
    pub outage_odoo: usize,
    /// The ingest is killed at `ingest_at` and started again after `ingest_down`.
    pub ingest_at: Duration,
    pub ingest_down: Duration,
    /// The run's Postgres is killed at `postgres_at` and started again after `postgres_down`.
    pub postgres_at: Duration,
    pub postgres_down: Duration,
    /// At each of these times the tokens of a third of the stores expire.
    pub expire_tokens_at: Vec<Duration>,
}

/// One worker kill and how long the fleet took to recover from it.
#[derive(Debug, Clone)]
pub struct Kill {
    pub at: Duration,
    pub pid: u32,
    pub held: usize,
    /// `None`: not recovered within the tracking limit (60 s).
    pub recovery: Option<Duration>,
}

/// What the driver did.
#[derive(Debug, Default, Clone)]
pub struct FaultLog {
    pub kills: Vec<Kill>,
    pub redis_restarts: u32,
    pub outages: Vec<(usize, Duration)>,
    pub ingest_restarts: u32,
    pub postgres_restarts: u32,
    /// Access tokens expired in Salla.
    pub tokens_expired: usize,
}

impl FaultLog {
    pub fn worst_recovery(&self) -> Option<Duration> {
        self.kills.iter().filter_map(|k| k.recovery).max()
    }
    pub fn unrecovered(&self) -> usize {
        self.kills.iter().filter(|k| k.recovery.is_none()).count()
    }
}

/// A small client for the sandboxes' admin API (`/_sandbox/...`).
#[derive(Clone)]
pub struct Admin {
    http: reqwest::Client,
}

impl Default for Admin {
    fn default() -> Self {
        Self::new()
    }
}

impl Admin {
    pub fn new() -> Self {
        Admin {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        url: String,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let mut req = self.http.request(method, &url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| format!("{url}: {e}"))?;
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(format!("{url}: {status} {v}"));
        }
        Ok(v)
    }

    pub async fn get(&self, base: &str, path: &str) -> Result<Value, String> {
        self.call(reqwest::Method::GET, format!("{base}{path}"), None)
            .await
    }

    pub async fn post(&self, base: &str, path: &str, body: Value) -> Result<Value, String> {
        self.call(reqwest::Method::POST, format!("{base}{path}"), Some(body))
            .await
    }

    /// Remove every fault; retried while the sandbox is in an outage (its admin API is down too).
    pub async fn clear(&self, base: &str, limit: Duration) -> Result<(), String> {
        let start = Instant::now();
        loop {
            match self
                .call(
                    reqwest::Method::DELETE,
                    format!("{base}/_sandbox/faults"),
                    None,
                )
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if start.elapsed() > limit => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }

    /// The flaky-Odoo faults of the whole stream.
    pub async fn make_flaky(&self, base: &str) -> Result<(), String> {
        self.post(
            base,
            "/_sandbox/faults/latency",
            json!({"fixed_ms": 1, "jitter_ms": 15}),
        )
        .await?;
        self.post(
            base,
            "/_sandbox/faults/errors",
            json!({"rate": 0.05, "kind": {"http5xx": 503}}),
        )
        .await?;
        self.post(
            base,
            "/_sandbox/faults/commit_then_drop",
            json!({"rate": 0.02}),
        )
        .await?;
        Ok(())
    }

    /// Records of `model` matching `domain`, with `fields`.
    pub async fn inspect(
        &self,
        base: &str,
        model: &str,
        fields: &[&str],
    ) -> Result<Vec<Value>, String> {
        let v = self
            .post(
                base,
                "/_sandbox/inspect",
                json!({"model": model, "domain": [], "fields": fields}),
            )
            .await?;
        Ok(v["records"].as_array().cloned().unwrap_or_default())
    }
}

/// Redis keys of the queue (the layout documented in `crates/queue`).
#[derive(Clone)]
pub struct QueueKeys {
    pub q: String,
}

impl QueueKeys {
    pub fn new(namespace: &str) -> Self {
        QueueKeys {
            q: format!("{namespace}:sync"),
        }
    }
    fn workers(&self) -> String {
        format!("{}:workers", self.q)
    }
    fn inflight(&self, worker: &str) -> String {
        format!("{}:inflight:{worker}", self.q)
    }
    fn data(&self) -> String {
        format!("{}:data", self.q)
    }
    /// The dedupe claim of a delivery: its value is the job id.
    pub fn idempotency(&self, merchant: u64, event: &str, digest_hex: &str) -> String {
        format!("{}:idempotency:{merchant}:{event}:{digest_hex}", self.q)
    }
}

/// A Redis connection that reconnects (Redis is restarted during the run).
pub struct Conn {
    client: redis::Client,
    conn: Option<redis::aio::MultiplexedConnection>,
}

impl Conn {
    pub fn new(url: &str) -> Self {
        Conn {
            client: redis::Client::open(url).expect("redis url"),
            conn: None,
        }
    }

    pub async fn query<T: redis::FromRedisValue>(&mut self, cmd: &redis::Cmd) -> Option<T> {
        if self.conn.is_none() {
            let c = tokio::time::timeout(
                Duration::from_secs(1),
                self.client.get_multiplexed_async_connection(),
            )
            .await;
            self.conn = c.ok().and_then(Result::ok);
        }
        let conn = self.conn.as_mut()?;
        match tokio::time::timeout(Duration::from_secs(2), cmd.query_async::<T>(conn)).await {
            Ok(Ok(v)) => Some(v),
            _ => {
                self.conn = None;
                None
            }
        }
    }
}

fn attempt_of(data: &str) -> Option<u64> {
    serde_json::from_str::<Value>(data).ok()?["attempt"].as_u64()
}

/// Follow the jobs a killed worker held until each is handled again (see the module docs).
async fn track_recovery(
    redis_url: String,
    keys: QueueKeys,
    pool: sqlx::PgPool,
    pid: u32,
    killed: Instant,
) -> (usize, Option<Duration>) {
    let mut conn = Conn::new(&redis_url);
    let marker = format!("-{pid}-");
    let mut workers: Option<Vec<String>> = None;
    // Redis may be restarting: retry the first reads for a while.
    for _ in 0..100 {
        workers = conn
            .query(redis::cmd("ZRANGE").arg(keys.workers()).arg(0).arg(-1))
            .await;
        if workers.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let dead = workers
        .unwrap_or_default()
        .into_iter()
        .find(|w| w.contains(&marker));
    let mut held: Vec<(String, Option<u64>)> = Vec::new();
    if let Some(w) = &dead {
        let ids: Vec<String> = conn
            .query(redis::cmd("SMEMBERS").arg(keys.inflight(w)))
            .await
            .unwrap_or_default();
        for id in ids {
            let data: Option<String> = conn
                .query(redis::cmd("HGET").arg(keys.data()).arg(&id))
                .await
                .flatten();
            held.push((id, data.as_deref().and_then(attempt_of)));
        }
    }
    let n = held.len();
    let outcomes = |pool: sqlx::PgPool| async move {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM sync_log")
            .fetch_one(&pool)
            .await
            .ok()
    };
    let baseline = outcomes(pool.clone()).await.unwrap_or(0);
    while killed.elapsed() < Duration::from_secs(60) {
        if held.is_empty() {
            if outcomes(pool.clone()).await.unwrap_or(0) > baseline {
                return (n, Some(killed.elapsed()));
            }
        } else {
            let live: Vec<String> = conn
                .query::<Vec<String>>(redis::cmd("ZRANGE").arg(keys.workers()).arg(0).arg(-1))
                .await
                .unwrap_or_default()
                .into_iter()
                .filter(|w| Some(w) != dead.as_ref())
                .collect();
            let mut still = Vec::new();
            for (id, attempt) in held {
                let data: Option<Option<String>> = conn
                    .query(redis::cmd("HGET").arg(keys.data()).arg(&id))
                    .await;
                let recovered = match data {
                    None => false, // Redis unreachable: cannot tell yet.
                    Some(None) => true,
                    Some(Some(d)) => {
                        let mut again = attempt_of(&d) > attempt;
                        for w in &live {
                            if again {
                                break;
                            }
                            again = conn
                                .query::<bool>(
                                    redis::cmd("SISMEMBER").arg(keys.inflight(w)).arg(&id),
                                )
                                .await
                                .unwrap_or(false);
                        }
                        again
                    }
                };
                if !recovered {
                    still.push((id, attempt));
                }
            }
            held = still;
            if held.is_empty() {
                return (n, Some(killed.elapsed()));
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (n, None)
}

/// Run the plan until `stop` fires; then make sure the fleet has all its workers again.
pub async fn drive(
    fleet: Arc<Mutex<ChaosFleet>>,
    salla: Arc<salla_sandbox::Sandbox>,
    merchants: Vec<u64>,
    plan: Plan,
    mut rng: Rng,
    started: Instant,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> FaultLog {
    let workers = |f: &Mutex<ChaosFleet>| locked(f).workers.len();
    let (redis_url, keys, pool, outage_url) = {
        let f = locked(&fleet);
        (
            f.redis.url(),
            QueueKeys::new(&f.namespace),
            f.db.pool.clone(),
            f.sandboxes[plan.outage_odoo].url.clone(),
        )
    };
    let admin = Admin::new();
    let mut log = FaultLog::default();
    let mut trackers = tokio::task::JoinSet::new();
    let mut trackers_ingest = tokio::task::JoinSet::new();
    let mut redis_done = false;
    let mut outage_done = false;
    let mut ingest_done = false;
    let mut postgres_done = false;
    let mut expiries = plan.expire_tokens_at.clone();
    let between = |rng: &mut Rng| {
        let (lo, hi) = (
            plan.kill_every.0.as_millis() as u64,
            plan.kill_every.1.as_millis() as u64,
        );
        Duration::from_millis(rng.range(lo, hi))
    };
    let mut next_kill = started.elapsed() + between(&mut rng);
    loop {
        if *stop.borrow() {
            break;
        }
        let now = started.elapsed();
        if !redis_done && now >= plan.redis_at {
            redis_done = true;
            eprintln!("chaos: {:>6.1}s  SIGKILL redis", now.as_secs_f64());
            locked(&fleet).redis.kill();
            tokio::time::sleep(plan.redis_down).await;
            let f = fleet.clone();
            tokio::task::spawn_blocking(move || locked(&f).redis.restart())
                .await
                .expect("redis restarts");
            log.redis_restarts += 1;
            eprintln!(
                "chaos: {:>6.1}s  redis back (AOF replayed)",
                started.elapsed().as_secs_f64()
            );
        }
        if !outage_done && now >= plan.outage_at {
            outage_done = true;
            match admin
                .post(
                    &outage_url,
                    "/_sandbox/faults/outage",
                    json!({"seconds": plan.outage_for.as_secs_f64()}),
                )
                .await
            {
                Ok(_) => {
                    log.outages.push((plan.outage_odoo, plan.outage_for));
                    eprintln!(
                        "chaos: {:>6.1}s  odoo #{} offline for {:?}",
                        now.as_secs_f64(),
                        plan.outage_odoo,
                        plan.outage_for
                    );
                }
                Err(e) => eprintln!("chaos: outage not started: {e}"),
            }
        }
        if !ingest_done && now >= plan.ingest_at {
            ingest_done = true;
            eprintln!(
                "chaos: {:>6.1}s  SIGKILL ingest for {:?}",
                now.as_secs_f64(),
                plan.ingest_down
            );
            locked(&fleet).kill_ingest();
            // Not a sleep in the driver: the other faults go on while the ingest is down.
            let f = fleet.clone();
            let down = plan.ingest_down;
            trackers_ingest.spawn(async move {
                tokio::time::sleep(down).await;
                tokio::task::spawn_blocking(move || locked(&f).start_ingest())
                    .await
                    .expect("the ingest restarts");
            });
        }
        if !postgres_done && now >= plan.postgres_at {
            postgres_done = true;
            eprintln!("chaos: {:>6.1}s  SIGKILL postgres", now.as_secs_f64());
            locked(&fleet).db.server.kill();
            tokio::time::sleep(plan.postgres_down).await;
            let f = fleet.clone();
            tokio::task::spawn_blocking(move || locked(&f).db.server.restart())
                .await
                .expect("postgres restarts");
            log.postgres_restarts += 1;
            eprintln!(
                "chaos: {:>6.1}s  postgres back (crash recovery)",
                started.elapsed().as_secs_f64()
            );
        }
        if expiries.first().is_some_and(|t| now >= *t) {
            expiries.remove(0);
            let mut n = 0;
            for m in merchants.iter().filter(|_| rng.chance(0.34)) {
                n += salla.expire_tokens(*m);
            }
            log.tokens_expired += n;
            eprintln!(
                "chaos: {:>6.1}s  {n} Salla access token(s) expired",
                now.as_secs_f64()
            );
        }
        if now >= next_kill && workers(&fleet) > 0 {
            let victim = rng.below(workers(&fleet) as u64) as usize;
            let killed = Instant::now();
            let pid = locked(&fleet).kill_worker(victim);
            let at = started.elapsed();
            trackers.spawn(
                track_recovery(redis_url.clone(), keys.clone(), pool.clone(), pid, killed)
                    .map(move |r| (at, pid, r)),
            );
            tokio::time::sleep(Duration::from_millis(rng.range(200, 1000))).await;
            locked(&fleet).start_workers();
            next_kill = started.elapsed() + between(&mut rng);
        }
        tokio::select! {
            _ = stop.changed() => {}
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
    locked(&fleet).start_workers();
    while let Some(r) = trackers_ingest.join_next().await {
        if r.is_ok() {
            log.ingest_restarts += 1;
        }
    }
    while let Some(r) = trackers.join_next().await {
        if let Ok((at, pid, (held, recovery))) = r {
            log.kills.push(Kill {
                at,
                pid,
                held,
                recovery,
            });
        }
    }
    log.kills.sort_by_key(|k| k.at);
    log
}
