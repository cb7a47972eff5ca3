//! The job queue: a façade over the backend, so that ingest, workers and the CLI never see it.
//!
//! # Backends
//! [`Queue`] is what ingest, workers and the CLI hold: Redis for the fleet ([`RedisQueue`], below) or
//! one SQLite file for `salla-odoo run` ([`embedded::SqliteQueue`], apalis-sqlite's schema; its own
//! `//!` header gives its layout). The rest of this header is about Redis.
//!
//! apalis-redis 1.0. Jobs are pushed with its own Lua script (`queries::push_tasks`, several jobs per
//! call) under an explicit queue name (apalis would otherwise use the Rust type name).
//!
//! # Key layout (namespace `ns`, from `queue.namespace`; every key of a deployment starts with it)
//! | key | type | holds |
//! |---|---|---|
//! | `ns:sync:data` | HASH | job id → job JSON ([`SyncJob`]) |
//! | `ns:sync:meta:{id}` | HASH | apalis' per-job metadata: attempts, status, result, done_at |
//! | `ns:sync:scheduled` | ZSET | job id → run-at (Unix seconds, with milliseconds as a fraction: see "Scores" below); every push lands here, delayed retries too |
//! | `ns:sync:active` | LIST | ids promoted from `scheduled`, waiting for a worker |
//! | `ns:sync:inflight:{worker}` | SET | ids a worker has taken |
//! | `ns:sync:workers` | ZSET | worker name → last heartbeat |
//! | `ns:sync:done`, `ns:sync:dead` | SET | apalis' finished ids (unused by our consumer, see [`consumer`]) |
//! | `ns:sync:signal` | LIST | apalis' "work available" flag (never written: apalis' push only sets it for jobs that skip `scheduled`, which ours never do) |
//! | `ns:sync:wake` | LIST | wake-up tokens for idle workers, at most 64 (see [`wake`]) |
//! | `ns:sync:idempotency:{merchant}:{event}:{sha256}` | STRING | dedupe claim → job id, expires after the dedupe window |
//! | `ns:sync:entity:{merchant}:{kind}:{id}` | SET | ids of the unfinished jobs of one entity that may be coalesced ([`SyncJobV1::coalesce_entity`](salla_odoo_core::SyncJobV1::coalesce_entity)); see [`consumer`] |
//!
//! # Scores
//! apalis' push script scores a new job with the current **whole** second, so it is due at once.
//! Our own scripts (reschedule: retries, deferrals) score with a fractional part, `secs.mmm`, and
//! the fetch compares with the current time to the millisecond: a job deferred by 1000 ms runs
//! 1000 ms later, not up to a second later. Both read the same ZSET: whole-second scores (apalis',
//! or jobs queued before this version) are simply fractions of zero, so jobs already queued still
//! run, and a worker of the previous version (which compares with whole seconds) runs a fractional
//! score at most a second late, never loses it. Stats and depth still count in whole seconds.
//!
//! # Idle pickup
//! A fetch that leaves nothing due also answers when the next scheduled job comes due; an idle
//! worker sleeps until then or its poll interval, whichever is first, and is woken earlier by a
//! token in `ns:sync:wake` (see [`wake`]): a new job, a reschedule, a release. So neither a new job
//! nor a deferred one waits for a poll tick; the poll is only the fallback for a lost token.
//!
//! # Failure handling
//! Enqueueing is one Lua call that claims the dedupe key (`SETNX` + `EXPIRE` with the configured
//! window: apalis' own default TTL of `None` would expire it at once) and stores the job, atomically:
//! either both happen or neither does. So an error means nothing was queued (the caller answers 503 and
//! Salla resends), success means the job is in Redis, and a resend of a queued delivery is a duplicate.
//! Enqueues that arrive together share one such call (group commit, see `pusher`); each caller still
//! learns its own outcome.
//! Every call is bounded by `redis.command_timeout_ms`; the connection manager reconnects in the
//! background after Redis comes back. Redis Cluster is not supported (the scripts build key names).

pub mod consumer;
pub mod embedded;
mod pusher;
pub mod wake;

pub use wake::Wakeups;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use apalis_core::task::{builder::TaskBuilder, task_id::TaskId};
use apalis_redis::Config as ApalisConfig;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use salla_odoo_core::{BodyDigest, JobKind, MerchantId, SyncJob};
use serde::Serialize;

/// Errors of the queue. Every one is transient except [`QueueError::Config`].
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("redis url is invalid: {0}")]
    Config(String),
    #[error("redis unavailable: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("unexpected answer from redis: {0}")]
    Protocol(String),
    #[error("queue backend: {0}")]
    Backend(#[from] apalis_redis::Error),
    #[error("embedded queue: {0}")]
    Sqlite(#[from] sqlx::Error),
    #[error("embedded queue backend: {0}")]
    SqliteBackend(#[from] apalis_sqlite::Error),
    /// The error of a push shared by several enqueues (see `pusher`).
    #[error("{0}")]
    Batch(std::sync::Arc<QueueError>),
}

impl QueueError {
    pub fn is_transient(&self) -> bool {
        match self {
            QueueError::Config(_) => false,
            QueueError::Batch(e) => e.is_transient(),
            _ => true,
        }
    }
}

/// Queue settings, from `[queue]` and `[redis]` in the configuration.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    pub namespace: String,
    pub dedupe_window: Duration,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
}

impl QueueConfig {
    /// Connecting and answering are each bounded by the connection manager; this bounds a whole
    /// call, including waiting on a reconnect in progress.
    fn call_limit(&self) -> Duration {
        self.connect_timeout + self.command_timeout
    }
}

/// What enqueueing did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// The job is in Redis.
    Queued,
    /// The same delivery was queued within the dedupe window; nothing new was stored.
    Duplicate,
}

/// Identifies a delivery for deduplication: Salla has no event id, so merchant + event + body digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DedupeKey(String);

impl DedupeKey {
    pub fn new(merchant: MerchantId, event: &str, digest: &BodyDigest) -> Self {
        // Event names are short dotted words; anything else is kept out of the key.
        let event: String = event
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '_')
            .take(64)
            .collect();
        Self(format!("{merchant}:{event}:{digest}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Counts over the key layout above, for `salla-odoo queue stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QueueStats {
    pub namespace: String,
    /// Waiting for a worker now (due in `scheduled`, plus `active`).
    pub queued: u64,
    /// Waiting for a later time (retries with backoff).
    pub scheduled: u64,
    /// Taken by a worker and not finished.
    pub in_flight: u64,
    /// Jobs finished since the queue was created (applied or skipped).
    pub done: u64,
    /// Jobs dead-lettered since the queue was created (their outcome is in Postgres).
    pub dead: u64,
    pub workers: u64,
    /// Unfinished jobs (queued + scheduled + in flight) by job kind.
    pub by_kind: BTreeMap<String, u64>,
    /// Unfinished jobs (queued + scheduled + in flight) by merchant.
    pub by_store: BTreeMap<String, u64>,
}

/// The queue's depth, cheap enough to read at every metrics scrape (no job is read).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct QueueDepth {
    /// Due now and waiting for a worker.
    pub ready: u64,
    /// Waiting for a later time (retries with backoff, deferred jobs).
    pub scheduled: u64,
    /// Taken by a worker and not finished.
    pub in_flight: u64,
    /// How long the oldest ready job has been due (0 when none is).
    pub oldest_ready_age_secs: u64,
    /// Workers that heartbeated within the last `alive_within`.
    pub workers_alive: u64,
}

impl QueueStats {
    /// Add unfinished (waiting or in-flight) jobs to the by-kind and by-store figures.
    pub(crate) fn count_unfinished<'a>(&mut self, jobs: impl Iterator<Item = &'a SyncJob>) {
        for job in jobs {
            let job = job.v1();
            *self
                .by_kind
                .entry(job.kind.as_str().to_owned())
                .or_default() += 1;
            *self.by_store.entry(job.merchant.to_string()).or_default() += 1;
        }
    }
}

/// The Redis queue.
#[derive(Clone)]
pub struct RedisQueue {
    pub(crate) conn: ConnectionManager,
    /// For the wake-up waiters' own connections (see [`wake`]).
    client: std::sync::Arc<redis::Client>,
    pub(crate) apalis: ApalisConfig,
    pub(crate) config: QueueConfig,
    pusher: std::sync::Arc<pusher::Pusher>,
}

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueue")
            .field("namespace", &self.config.namespace)
            .finish()
    }
}

const STATS_SCRIPT: &str = r#"
-- KEYS[1] scheduled ZSET, KEYS[2] active LIST, KEYS[3] workers ZSET, KEYS[4] done SET, KEYS[5] dead SET
-- ARGV[1] now (Unix seconds), ARGV[2] prefix of the per-worker inflight sets,
-- ARGV[3], ARGV[4] the finished and dead-lettered counters
local due = redis.call('ZCOUNT', KEYS[1], '-inf', ARGV[1])
local later = redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[1], '+inf')
local active = redis.call('LLEN', KEYS[2])
local workers = redis.call('ZRANGE', KEYS[3], 0, -1)
local inflight = 0
for _, w in ipairs(workers) do
  inflight = inflight + redis.call('SCARD', ARGV[2] .. w)
end
local finished = tonumber(redis.call('GET', ARGV[3]) or '0')
local deadlettered = tonumber(redis.call('GET', ARGV[4]) or '0')
return {due + active, later, inflight, redis.call('SCARD', KEYS[4]) + finished, redis.call('SCARD', KEYS[5]) + deadlettered, #workers}
"#;

/// The depth figures in one round trip: see [`QueueDepth`].
const DEPTH_SCRIPT: &str = r#"
-- KEYS[1] scheduled ZSET, KEYS[2] active LIST, KEYS[3] workers ZSET
-- ARGV[1] now (Unix seconds), ARGV[2] prefix of the per-worker inflight sets, ARGV[3] alive since
-- (Unix ms: the heartbeat's score)
local due = redis.call('ZCOUNT', KEYS[1], '-inf', ARGV[1])
local later = redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[1], '+inf')
local active = redis.call('LLEN', KEYS[2])
local oldest = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, 1)
local oldest_score = -1
if oldest[2] then oldest_score = math.floor(tonumber(oldest[2])) end
local workers = redis.call('ZRANGE', KEYS[3], 0, -1)
local inflight = 0
for _, w in ipairs(workers) do
  inflight = inflight + redis.call('SCARD', ARGV[2] .. w)
end
local alive = redis.call('ZCOUNT', KEYS[3], ARGV[3], '+inf')
return {due + active, later, inflight, oldest_score, alive}
"#;

impl RedisQueue {
    /// Prepare a queue on `url`. The connection is made lazily, so a service can start while Redis
    /// is down and become ready when it comes up.
    pub fn new(url: &str, config: QueueConfig) -> Result<Self, QueueError> {
        let client = redis::Client::open(url).map_err(|e| QueueError::Config(e.to_string()))?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.connect_timeout))
            .set_response_timeout(Some(config.command_timeout))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let conn = client.get_connection_manager_lazy(manager_config)?;
        let apalis = ApalisConfig::default()
            .queue(format!("{}:sync", config.namespace))
            .idempotency_ttl(Some(config.dedupe_window));
        let pusher = pusher::Pusher::new(pusher::Target {
            conn: conn.clone(),
            apalis: apalis.clone(),
            limit: config.call_limit(),
            wake: format!("{}:sync:wake", config.namespace),
        });
        Ok(Self {
            conn,
            client: std::sync::Arc::new(client),
            apalis,
            config,
            pusher: std::sync::Arc::new(pusher),
        })
    }

    /// The queue that `[queue]` and `[redis]` of the configuration describe (see [`RedisQueue::new`]).
    pub fn from_settings(settings: &salla_odoo_core::Settings) -> Result<Self, QueueError> {
        use secrecy::ExposeSecret;
        Self::new(
            settings.redis.url.expose_secret(),
            QueueConfig {
                namespace: settings.queue.namespace.clone(),
                dedupe_window: Duration::from_secs(settings.queue.dedupe_window_secs),
                connect_timeout: Duration::from_millis(settings.redis.connect_timeout_ms),
                command_timeout: Duration::from_millis(settings.redis.command_timeout_ms),
            },
        )
    }

    pub fn namespace(&self) -> &str {
        &self.config.namespace
    }

    /// The apalis configuration (queue name and key names) for workers draining this queue.
    pub fn apalis_config(&self) -> &ApalisConfig {
        &self.apalis
    }

    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// The list whose tokens wake idle workers (see [`wake`]).
    pub(crate) fn wake_key(&self) -> String {
        format!("{}:sync:wake", self.config.namespace)
    }

    /// Wake-ups for one worker (see [`wake`]): a waiter task on a connection of its own.
    pub fn wakeups(&self) -> Wakeups {
        Wakeups::redis(
            (*self.client).clone(),
            self.wake_key(),
            self.config.connect_timeout,
        )
    }

    pub(crate) async fn bounded<T, F>(&self, fut: F) -> Result<T, QueueError>
    where
        F: Future<Output = Result<T, QueueError>>,
    {
        let limit = self.config.call_limit();
        tokio::time::timeout(limit, fut)
            .await
            .map_err(|_| QueueError::Timeout(limit))?
    }

    /// Queue `job` unless the same delivery was queued within the dedupe window. Atomic: on error
    /// nothing was stored, or (the answer lost) the job was stored and a resend is a duplicate.
    /// Concurrent enqueues share one script call (see `pusher`).
    pub async fn enqueue<D: serde::Serialize + Sync>(
        &self,
        job: &SyncJob<D>,
        dedupe: &DedupeKey,
    ) -> Result<Enqueued, QueueError> {
        let id = job.v1().id.to_string();
        let task = TaskBuilder::new(job.to_json())
            .task_id(TaskId::from_string(id.clone()))
            .idempotency_key(dedupe.as_str())
            .build();
        let index = self.entity_index(job.v1());
        self.pusher
            .push(task, id, self.dedupe_key(dedupe), index)
            .await
    }

    /// Redis answers.
    pub async fn ping(&self) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        self.bounded(async {
            let _: String = redis::cmd("PING").query_async(&mut conn).await?;
            Ok(())
        })
        .await
    }

    /// The depth figures (no job is read): for the metrics scrape.
    pub async fn depth(&self, alive_within: Duration) -> Result<QueueDepth, QueueError> {
        let mut conn = self.conn.clone();
        let a = &self.apalis;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let (ready, scheduled, in_flight, oldest, alive): (u64, u64, u64, i64, u64) = self
            .bounded(async {
                Ok(redis::Script::new(DEPTH_SCRIPT)
                    .key(a.scheduled_jobs_set())
                    .key(a.active_jobs_list())
                    .key(a.workers_set())
                    .arg(now)
                    .arg(format!("{}:", a.inflight_jobs_set()))
                    .arg((now * 1000).saturating_sub(alive_within.as_millis() as u64))
                    .invoke_async(&mut conn)
                    .await?)
            })
            .await?;
        Ok(QueueDepth {
            ready,
            scheduled,
            in_flight,
            oldest_ready_age_secs: u64::try_from(oldest)
                .map(|o| now.saturating_sub(o))
                .unwrap_or(0),
            workers_alive: alive,
        })
    }

    /// Counts by state, and waiting jobs by kind and by store.
    pub async fn stats(&self) -> Result<QueueStats, QueueError> {
        let mut conn = self.conn.clone();
        let a = &self.apalis;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let (queued, scheduled, in_flight, done, dead, workers): (u64, u64, u64, u64, u64, u64) =
            self.bounded(async {
                Ok(redis::Script::new(STATS_SCRIPT)
                    .key(a.scheduled_jobs_set())
                    .key(a.active_jobs_list())
                    .key(a.workers_set())
                    .key(a.done_jobs_set())
                    .key(a.dead_jobs_set())
                    .arg(now)
                    .arg(format!("{}:", a.inflight_jobs_set()))
                    .arg(self.counter_key("finished"))
                    .arg(self.counter_key("deadlettered"))
                    .invoke_async(&mut conn)
                    .await?)
            })
            .await?;
        let mut stats = QueueStats {
            namespace: self.config.namespace.clone(),
            queued,
            scheduled,
            in_flight,
            done,
            dead,
            workers,
            ..Default::default()
        };
        let mut unfinished = self.waiting_jobs().await?;
        unfinished.extend(self.inflight_jobs().await?);
        stats.count_unfinished(unfinished.iter());
        Ok(stats)
    }

    /// Every job waiting to run (queued or scheduled), oldest first. Undecodable entries are skipped.
    pub async fn waiting_jobs(&self) -> Result<Vec<SyncJob>, QueueError> {
        Ok(self
            .waiting_entries()
            .await?
            .into_iter()
            .map(|(_, j)| j)
            .collect())
    }

    /// Every job a worker holds right now (all workers).
    pub async fn inflight_jobs(&self) -> Result<Vec<SyncJob>, QueueError> {
        let mut conn = self.conn.clone();
        let a = &self.apalis;
        self.bounded(async {
            let workers: Vec<String> = redis::cmd("ZRANGE")
                .arg(a.workers_set())
                .arg(0)
                .arg(-1)
                .query_async(&mut conn)
                .await?;
            let mut ids: Vec<String> = Vec::new();
            for w in workers {
                let mut held: Vec<String> = redis::cmd("SMEMBERS")
                    .arg(format!("{}:{w}", a.inflight_jobs_set()))
                    .query_async(&mut conn)
                    .await?;
                ids.append(&mut held);
            }
            Ok(self
                .entries(&mut conn, ids)
                .await?
                .into_iter()
                .map(|(_, j)| j)
                .collect())
        })
        .await
    }

    /// The waiting jobs (queued or scheduled) with their queue ids, oldest first. Undecodable
    /// entries are skipped.
    pub(crate) async fn waiting_entries(&self) -> Result<Vec<(String, SyncJob)>, QueueError> {
        let mut conn = self.conn.clone();
        let a = &self.apalis;
        self.bounded(async {
            let mut ids: Vec<String> = redis::cmd("ZRANGE")
                .arg(a.scheduled_jobs_set())
                .arg(0)
                .arg(-1)
                .query_async(&mut conn)
                .await?;
            let active: Vec<String> = redis::cmd("LRANGE")
                .arg(a.active_jobs_list())
                .arg(0)
                .arg(-1)
                .query_async(&mut conn)
                .await?;
            ids.extend(active);
            self.entries(&mut conn, ids).await
        })
        .await
    }

    /// The jobs stored under `ids`, in that order, each with its id; missing or undecodable
    /// entries are skipped.
    async fn entries(
        &self,
        conn: &mut ConnectionManager,
        ids: Vec<String>,
    ) -> Result<Vec<(String, SyncJob)>, QueueError> {
        let mut jobs = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let raw: Vec<Option<Vec<u8>>> = redis::cmd("HMGET")
                .arg(self.apalis.job_data_hash())
                .arg(chunk)
                .query_async(conn)
                .await?;
            jobs.extend(chunk.iter().zip(raw).filter_map(|(id, data)| {
                let job = SyncJob::from_json(&data?).ok()?;
                Some((id.clone(), job))
            }));
        }
        Ok(jobs)
    }

    /// The Redis key of a dedupe claim (apalis' idempotency key; it holds the claiming job's id).
    fn dedupe_key(&self, dedupe: &DedupeKey) -> String {
        format!("{}:{}", self.apalis.idempotency_key_set(), dedupe.as_str())
    }

    /// Remaining lifetime of a dedupe claim (None when absent): lets tests check the window.
    pub async fn dedupe_ttl(&self, dedupe: &DedupeKey) -> Result<Option<Duration>, QueueError> {
        let mut conn = self.conn.clone();
        let key = self.dedupe_key(dedupe);
        let ttl: i64 = self
            .bounded(async { Ok(redis::cmd("TTL").arg(key).query_async(&mut conn).await?) })
            .await?;
        Ok((ttl >= 0).then(|| Duration::from_secs(ttl as u64)))
    }
}

/// The queue a process uses: Redis for the fleet, a SQLite file for `salla-odoo run`. Both keep the
/// same contract (see [`consumer`] and [`embedded`]); callers never branch on which it is.
#[derive(Clone, Debug)]
pub enum Queue {
    Redis(RedisQueue),
    Embedded(embedded::SqliteQueue),
}

impl From<RedisQueue> for Queue {
    fn from(q: RedisQueue) -> Self {
        Queue::Redis(q)
    }
}

impl From<embedded::SqliteQueue> for Queue {
    fn from(q: embedded::SqliteQueue) -> Self {
        Queue::Embedded(q)
    }
}

macro_rules! delegate {
    ($self:ident, $q:ident => $body:expr) => {
        match $self {
            Queue::Redis($q) => $body,
            Queue::Embedded($q) => $body,
        }
    };
}

impl Queue {
    /// The Redis queue of the configuration (fleet mode).
    pub fn from_settings(settings: &salla_odoo_core::Settings) -> Result<Self, QueueError> {
        Ok(Queue::Redis(RedisQueue::from_settings(settings)?))
    }

    /// The embedded queue in the SQLite file `path` (created if missing).
    pub async fn open_embedded(
        path: &std::path::Path,
        settings: &salla_odoo_core::Settings,
    ) -> Result<Self, QueueError> {
        Ok(Queue::Embedded(
            embedded::SqliteQueue::open(
                path,
                &settings.queue.namespace,
                Duration::from_secs(settings.queue.dedupe_window_secs),
            )
            .await?,
        ))
    }

    pub fn is_embedded(&self) -> bool {
        matches!(self, Queue::Embedded(_))
    }

    pub fn as_redis(&self) -> Option<&RedisQueue> {
        match self {
            Queue::Redis(q) => Some(q),
            Queue::Embedded(_) => None,
        }
    }

    pub fn namespace(&self) -> &str {
        delegate!(self, q => q.namespace())
    }

    pub async fn enqueue<D: serde::Serialize + Sync>(
        &self,
        job: &SyncJob<D>,
        dedupe: &DedupeKey,
    ) -> Result<Enqueued, QueueError> {
        delegate!(self, q => q.enqueue(job, dedupe).await)
    }

    pub async fn ping(&self) -> Result<(), QueueError> {
        delegate!(self, q => q.ping().await)
    }

    pub async fn stats(&self) -> Result<QueueStats, QueueError> {
        delegate!(self, q => q.stats().await)
    }

    /// See [`QueueDepth`]; workers count as alive when they heartbeated within `alive_within`.
    pub async fn depth(&self, alive_within: Duration) -> Result<QueueDepth, QueueError> {
        delegate!(self, q => q.depth(alive_within).await)
    }

    pub async fn waiting_jobs(&self) -> Result<Vec<SyncJob>, QueueError> {
        delegate!(self, q => q.waiting_jobs().await)
    }

    pub async fn inflight_jobs(&self) -> Result<Vec<SyncJob>, QueueError> {
        delegate!(self, q => q.inflight_jobs().await)
    }

    /// Number of jobs of `kind` waiting (for tests and the CLI).
    pub async fn count_waiting(&self, kind: JobKind) -> Result<u64, QueueError> {
        Ok(self
            .waiting_jobs()
            .await?
            .iter()
            .filter(|j| j.v1().kind == kind)
            .count() as u64)
    }

    pub async fn dedupe_ttl(&self, dedupe: &DedupeKey) -> Result<Option<Duration>, QueueError> {
        delegate!(self, q => q.dedupe_ttl(dedupe).await)
    }

    pub async fn heartbeat(&self, worker: &str) -> Result<(), QueueError> {
        delegate!(self, q => q.heartbeat(worker).await)
    }

    pub async fn fetch(
        &self,
        worker: &str,
        max: usize,
    ) -> Result<Vec<consumer::Lease>, QueueError> {
        Ok(self.poll(worker, max).await?.leases)
    }

    /// [`Queue::fetch`], also saying when the next scheduled job comes due.
    pub async fn poll(&self, worker: &str, max: usize) -> Result<consumer::Fetched, QueueError> {
        delegate!(self, q => q.poll(worker, max).await)
    }

    /// Wake-ups for an idle worker of this queue (see [`wake`]).
    pub fn wakeups(&self) -> Wakeups {
        delegate!(self, q => q.wakeups())
    }

    pub async fn ack(&self, worker: &str, id: &str) -> Result<bool, QueueError> {
        delegate!(self, q => q.ack(worker, id).await)
    }

    pub async fn dead(&self, worker: &str, id: &str) -> Result<bool, QueueError> {
        delegate!(self, q => q.dead(worker, id).await)
    }

    /// The job reached its outcome (`dead`: dead-lettered): forget it, and take it out of its
    /// entity index (see [`consumer`]). `false` when the lease was no longer this worker's.
    pub async fn end(
        &self,
        worker: &str,
        id: &str,
        job: &salla_odoo_core::SyncJobV1,
        dead: bool,
    ) -> Result<bool, QueueError> {
        match self {
            Queue::Redis(q) => q.end(worker, id, job, dead).await,
            // The embedded queue's finish deletes the entity row whatever the job.
            Queue::Embedded(q) if dead => q.dead(worker, id).await,
            Queue::Embedded(q) => q.ack(worker, id).await,
        }
    }

    /// Take up to `max` other waiting jobs that may be coalesced with `job` (held by `worker`)
    /// into `worker`'s leases: see [`consumer`] ("Coalescing").
    pub async fn claim_coalesced(
        &self,
        worker: &str,
        job: &salla_odoo_core::SyncJobV1,
        max: usize,
    ) -> Result<Vec<consumer::Lease>, QueueError> {
        delegate!(self, q => q.claim_coalesced(worker, job, max).await)
    }

    pub async fn reschedule(
        &self,
        worker: &str,
        id: &str,
        job: &SyncJob,
        delay: Duration,
    ) -> Result<bool, QueueError> {
        delegate!(self, q => q.reschedule(worker, id, job, delay).await)
    }

    pub async fn requeue_orphans(&self, orphan_timeout: Duration) -> Result<u64, QueueError> {
        delegate!(self, q => q.requeue_orphans(orphan_timeout).await)
    }

    pub async fn release(&self, worker: &str) -> Result<u64, QueueError> {
        delegate!(self, q => q.release(worker).await)
    }

    /// Hand back leases `worker` holds in the queue but is not running (a fetch whose answer was
    /// lost). Returns how many moved.
    pub async fn give_back(&self, worker: &str, ids: &[String]) -> Result<u64, QueueError> {
        delegate!(self, q => q.give_back(worker, ids).await)
    }

    /// Periodic upkeep: the embedded queue deletes finished rows past the dedupe window (Redis
    /// expires them by itself).
    pub async fn vacuum(&self) -> Result<u64, QueueError> {
        match self {
            Queue::Redis(_) => Ok(0),
            Queue::Embedded(q) => q.vacuum().await,
        }
    }

    pub async fn drop_merchant_jobs(
        &self,
        merchant: MerchantId,
        dry_run: bool,
    ) -> Result<u64, QueueError> {
        delegate!(self, q => q.drop_merchant_jobs(merchant, dry_run).await)
    }

    pub async fn forget_merchant(&self, merchant: MerchantId) -> Result<u64, QueueError> {
        delegate!(self, q => q.forget_merchant(merchant).await)
    }

    pub async fn inflight(&self, worker: &str) -> Result<Vec<String>, QueueError> {
        delegate!(self, q => q.inflight(worker).await)
    }

    /// Close connections (embedded: checkpoints the file).
    pub async fn close(&self) {
        if let Queue::Embedded(q) = self {
            q.close().await;
        }
    }
}
