//! The worker: drains the queue and applies each job to the merchant's Odoo, exactly once in effect.
//!
//! # One job, start to end ([`Worker::process`])
//! 1. A job handed out more than `worker.max_starts` times without an outcome kills its worker every
//!    time: it is dead-lettered (`poison`) instead of looping forever.
//! 2. The per-entity lock (a Postgres advisory lock, fleet-wide) and the store's concurrency slot
//!    (Redis) are taken without waiting; when either is busy the job is rescheduled shortly, without
//!    spending an attempt.
//! 3. The handler runs under `worker.job_timeout_secs`.
//! 4. Its result becomes exactly one recorded outcome: applied or skipped (sync log), a retry
//!    (transient: rescheduled with `attempt + 1` after the backoff of [`RetryPolicy`], `Retry-After`
//!    honoured), or a dead letter (permanent or out of attempts: the outbox row is written in
//!    Postgres *before* the job leaves Redis).
//!
//! If recording an outcome fails (Postgres down), the job stays leased and is rescheduled, so it is
//! never lost; a handler run twice changes nothing more in Odoo (handlers are idempotent). If the
//! queue cannot take the end of a lease (Redis down at the ack, dead mark or reschedule), the job
//! stays leased by this worker and the heartbeat task retries that end until Redis answers.
//!
//! # Crashes and shutdown
//! Each worker has a unique id (host, pid, random suffix) and heartbeats every `heartbeat_secs`,
//! also while draining. Any worker re-queues the jobs of a worker silent for
//! `heartbeat_secs × missed_heartbeats` (the orphan timeout, checked at start-up to exceed
//! `job_timeout_secs + drain_secs`). SIGTERM stops fetching, lets in-flight jobs finish for
//! `drain_secs`, then hands whatever is left back to the queue at once. A lease the queue gave this
//! worker whose answer never arrived (a fetch that timed out after the script ran) is handed back by
//! the worker itself once it has been unaccounted for longer than the orphan timeout: the worker
//! heartbeats, so no orphan check would ever take it.

pub mod coalesce;
pub mod fulfilment;
pub mod handler;
pub mod lifecycle;
pub mod limits;
pub mod reconcile;
pub mod salla;
pub mod stock;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::PrometheusHandle;
use salla_odoo_core::{
    AttemptRecord, RetryPolicy, Settings, SyncError, SyncJob, SyncJobV1, retry::RetryDecision,
};
use salla_odoo_queue::consumer::{Lease, Undecodable};
use salla_odoo_queue::{Queue, QueueError};
use salla_odoo_store::Db;
use salla_odoo_store::{StoreError, locks, outbox, sync_log};
use time::OffsetDateTime;
use tokio::task::JoinSet;
use tracing::Instrument;

pub use handler::{Handled, Handler, SyncHandler};
pub use limits::StoreLimits;

/// Errors that stop a worker from starting. Runtime failures of single jobs never stop it.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Config(#[from] salla_odoo_core::CoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
    /// The run loop's task was cancelled (the runtime is shutting down).
    #[error("worker loop stopped: {0}")]
    Stopped(String),
}

impl WorkerError {
    pub fn is_transient(&self) -> bool {
        match self {
            WorkerError::Queue(e) => e.is_transient(),
            WorkerError::Store(e) => e.is_transient(),
            WorkerError::Io(_) | WorkerError::Stopped(_) => true,
            WorkerError::Config(_) => false,
        }
    }
}

/// Tunables, from `[worker]`, `[retry]` and `[limits]`.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub concurrency: usize,
    pub job_timeout: Duration,
    pub drain: Duration,
    pub heartbeat: Duration,
    pub orphan_timeout: Duration,
    pub poll: Duration,
    pub max_starts: u32,
    pub lock_busy_retry: Duration,
    pub retry: RetryPolicy,
    pub store_concurrency: u32,
    pub store_calls_per_sec: u32,
}

impl WorkerConfig {
    pub fn from_settings(s: &Settings) -> Self {
        let w = &s.worker;
        Self {
            concurrency: w.concurrency,
            job_timeout: Duration::from_secs(w.job_timeout_secs),
            drain: Duration::from_secs(w.drain_secs),
            heartbeat: Duration::from_secs(w.heartbeat_secs),
            orphan_timeout: w.orphan_timeout(),
            poll: Duration::from_millis(w.poll_ms),
            max_starts: w.max_starts,
            lock_busy_retry: Duration::from_millis(w.lock_busy_retry_ms),
            retry: s.retry_policy(),
            store_concurrency: s.limits.store_concurrency,
            store_calls_per_sec: s.limits.store_odoo_calls_per_sec,
        }
    }
}

/// A mutex's data, also after a panic elsewhere (the sets stay consistent: every change is one call).
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn id_of(u: &Unsettled) -> &str {
    match u {
        Unsettled::Ack(id) | Unsettled::Dead(id) | Unsettled::Reschedule(id, _, _) => id,
    }
}

/// A unique id for this process: host, pid and a random suffix (two workers never share one, even
/// in one process or after a fast restart with the same pid); `instance` (systemd's `%i`, a pod
/// ordinal) is part of it when given, so an operator can tell a host's workers apart.
pub fn worker_identity(instance: Option<u32>) -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    let suffix: u32 = rand::random();
    match instance {
        Some(i) => format!("{host}-w{i}-{}-{suffix:08x}", std::process::id()),
        None => format!("{host}-{}-{suffix:08x}", std::process::id()),
    }
}

/// Where a worker process serves `/metrics` and `/healthz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsBind {
    /// No listener.
    Off,
    /// Exactly this address (`--metrics-listen ADDR`, or `--instance N`: `metrics_listen` + N).
    Exact(std::net::SocketAddr),
    /// The first free port of `span` ports from `base` (the default): several workers on one host
    /// start with no flags, each on its own port.
    FirstFree {
        base: std::net::SocketAddr,
        span: u16,
    },
}

impl MetricsBind {
    /// The choice for a worker process: `--metrics-listen` (`off` or an address) wins, then
    /// `--instance N` (port `worker.metrics_listen` + N), else the first free port of the span.
    pub fn choose(
        settings: &salla_odoo_core::settings::WorkerSettings,
        explicit: Option<&str>,
        instance: Option<u32>,
    ) -> Result<Self, String> {
        match (explicit, instance) {
            (Some("off"), _) => Ok(Self::Off),
            (Some(addr), _) => addr
                .parse()
                .map(Self::Exact)
                .map_err(|e| format!("--metrics-listen {addr:?}: {e}")),
            (None, Some(i)) => {
                let mut addr = settings.metrics_listen;
                let port = u16::try_from(i)
                    .ok()
                    .and_then(|i| addr.port().checked_add(i))
                    .ok_or_else(|| {
                        format!("--instance {i}: port {} + {i} is not a port", addr.port())
                    })?;
                addr.set_port(port);
                Ok(Self::Exact(addr))
            }
            (None, None) => Ok(Self::FirstFree {
                base: settings.metrics_listen,
                span: settings.metrics_port_span.max(1),
            }),
        }
    }

    /// Bind the listener. An exact address that is taken is an error (the operator asked for it);
    /// in a span, a taken port moves on to the next one.
    pub async fn bind(self) -> Result<Option<tokio::net::TcpListener>, WorkerError> {
        match self {
            Self::Off => Ok(None),
            Self::Exact(addr) => tokio::net::TcpListener::bind(addr)
                .await
                .map(Some)
                .map_err(|e| {
                    WorkerError::Io(std::io::Error::new(
                        e.kind(),
                        format!("binding {addr}: {e}"),
                    ))
                }),
            Self::FirstFree { base, span } => {
                // Port 0 asks the system for any free port: there is no span to walk.
                let last = if base.port() == 0 { 0 } else { span - 1 };
                let mut last_error = None;
                for offset in 0..=last {
                    let mut addr = base;
                    let Some(port) = base.port().checked_add(offset) else {
                        break;
                    };
                    addr.set_port(port);
                    match tokio::net::TcpListener::bind(addr).await {
                        Ok(l) => return Ok(Some(l)),
                        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => last_error = Some(e),
                        Err(e) => {
                            return Err(WorkerError::Io(std::io::Error::new(
                                e.kind(),
                                format!("binding {addr}: {e}"),
                            )));
                        }
                    }
                }
                Err(WorkerError::Io(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    format!(
                        "binding metrics: all {span} ports from {base} are in use ({}); \
                         raise worker.metrics_port_span, or give --instance N or --metrics-listen ADDR|off",
                        last_error.map(|e| e.to_string()).unwrap_or_default()
                    ),
                )))
            }
        }
    }
}

/// What [`Worker::process`] did with one lease (for tests and metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Processed {
    Applied,
    Skipped(String),
    /// Rescheduled for another attempt after this delay.
    Retried(Duration),
    /// Rescheduled without spending an attempt (entity locked, store at its limit, outcome not recordable).
    Deferred(&'static str),
    DeadLettered(&'static str),
    /// The lease was no longer ours (taken over after an orphan timeout): the other copy decides.
    LostLease,
    /// Coalesced into the run of this job (see [`coalesce`]): its outcome, recorded, is that run's.
    Coalesced(uuid::Uuid),
}

impl Processed {
    /// The outcome's name, as in the `outcome` of the job's trace span.
    pub fn as_str(&self) -> &'static str {
        match self {
            Processed::Applied => "applied",
            Processed::Skipped(_) => "skipped",
            Processed::Retried(_) => "retried",
            Processed::Deferred(_) => "deferred",
            Processed::DeadLettered(_) => "dead_lettered",
            Processed::LostLease => "lost_lease",
            Processed::Coalesced(_) => "coalesced",
        }
    }
}

/// The worker: queue, Postgres, handler and policy.
pub struct Worker<H: Handler> {
    inner: Arc<Inner<H>>,
}

impl<H: Handler> Clone for Worker<H> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<H> {
    id: String,
    queue: Queue,
    pool: Db,
    handler: H,
    config: WorkerConfig,
    limits: StoreLimits,
    /// Ends of leases the queue did not take (it was unreachable), retried by the heartbeat task.
    unsettled: std::sync::Mutex<Vec<Unsettled>>,
    /// Leases this process received and has not finished with yet.
    held: std::sync::Mutex<HashSet<String>>,
    /// Leases the queue says this worker holds but it never received (the answer to a fetch was
    /// lost), with when the heartbeat task first saw each; handed back after the orphan timeout.
    strays: std::sync::Mutex<HashMap<String, Instant>>,
}

/// The end of a lease that the queue did not take: an ack, a dead mark or a reschedule that failed
/// because Redis was unreachable. Until it goes through, the job stays in this worker's in-flight
/// set, so no other worker runs it; the heartbeat task retries it until the queue answers. (Left
/// alone, the job would stay leased — neither finished nor run again — for as long as this worker
/// lives: found by `make chaos`, which restarts Redis under load.)
#[derive(Debug, Clone)]
enum Unsettled {
    Ack(String),
    Dead(String),
    Reschedule(String, Box<SyncJob>, Duration),
}

impl<H: Handler> Worker<H> {
    pub fn new(id: String, queue: Queue, pool: Db, handler: H, config: WorkerConfig) -> Self {
        let limits = StoreLimits::new(
            queue.clone(),
            config.store_concurrency,
            config.store_calls_per_sec,
            config.job_timeout + config.drain,
        );
        Self::with_limits(id, queue, pool, handler, config, limits)
    }

    /// [`Worker::new`] with the limits its handler's Odoo clients report their calls to, so that
    /// the stores' adaptive concurrency (see [`limits`]) follows those calls.
    pub fn with_limits(
        id: String,
        queue: Queue,
        pool: Db,
        handler: H,
        config: WorkerConfig,
        limits: StoreLimits,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                id,
                queue,
                pool,
                handler,
                config,
                limits,
                unsettled: std::sync::Mutex::new(Vec::new()),
                held: std::sync::Mutex::new(HashSet::new()),
                strays: std::sync::Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn id(&self) -> &str {
        &self.inner.id
    }

    pub fn queue(&self) -> &Queue {
        &self.inner.queue
    }

    pub fn limits(&self) -> &StoreLimits {
        &self.inner.limits
    }

    /// Lease up to `max` jobs and process them concurrently to their outcome. Returns what happened
    /// to each; empty when nothing was due. The building block of [`Worker::run`], and what tests
    /// call to drain the queue deterministically.
    pub async fn process_next(&self, max: usize) -> Result<Vec<Processed>, QueueError> {
        let leases = self.inner.queue.fetch(&self.inner.id, max).await?;
        let mut set = JoinSet::new();
        for group in self.group(leases) {
            let me = self.clone();
            set.spawn(async move { me.process_held(group).await });
        }
        let mut out = Vec::new();
        while let Some(r) = set.join_next().await {
            out.extend(r.expect("job tasks do not panic"));
        }
        Ok(out)
    }

    /// Leases fetched together, grouped by the entity they may be coalesced under (see
    /// [`coalesce`]): each group runs as one task. Poison and undecodable leases stay alone.
    fn group(&self, leases: Vec<Lease>) -> Vec<Vec<Lease>> {
        let mut groups: Vec<Vec<Lease>> = Vec::new();
        let mut at: HashMap<(salla_odoo_core::MerchantId, salla_odoo_core::EntityRef), usize> =
            HashMap::new();
        for lease in leases {
            let key = match &lease.job {
                Ok(SyncJob::V1(job)) if lease.starts <= self.inner.config.max_starts => {
                    job.coalesce_entity().map(|e| (job.merchant, e))
                }
                _ => None,
            };
            match key.and_then(|k| at.get(&k).copied().map(|i| (k, i))) {
                Some((_, i)) if groups[i].len() < coalesce::MAX_GROUP => groups[i].push(lease),
                _ => {
                    if let Some(k) = key {
                        at.insert(k, groups.len());
                    }
                    groups.push(vec![lease]);
                }
            }
        }
        groups
    }

    /// [`Worker::process_group`], with the leases counted as held by this process meanwhile (the
    /// stray-lease check of the heartbeat task must not take them back).
    async fn process_held(&self, mut group: Vec<Lease>) -> Vec<Processed> {
        let ids: Vec<String> = group.iter().map(|l| l.id.clone()).collect();
        lock(&self.inner.held).extend(ids.iter().cloned());
        let lead = group.remove(0);
        let processed = self.process_group(lead, group).await;
        let mut held = lock(&self.inner.held);
        for id in &ids {
            held.remove(id);
        }
        processed
    }

    /// Hand back the leases the queue says this worker holds but it never received (a fetch whose
    /// answer was lost: a timeout, a dropped connection, Redis dying right after the script ran).
    /// Left alone they would stay leased for as long as this worker lives. A lease counts as lost
    /// once it has been unaccounted for longer than the orphan timeout, far longer than any fetch
    /// answer can take (it is bounded by the Redis timeouts), so a lease in flight is never taken.
    async fn give_back_strays(&self) {
        let Ok(in_queue) = self.inner.queue.inflight(&self.inner.id).await else {
            return;
        };
        let known: HashSet<String> = {
            let mut known = lock(&self.inner.held).clone();
            known.extend(
                lock(&self.inner.unsettled)
                    .iter()
                    .map(|u| id_of(u).to_owned()),
            );
            known
        };
        let now = Instant::now();
        let lost: Vec<String> = {
            let mut strays = lock(&self.inner.strays);
            strays.retain(|id, _| in_queue.contains(id) && !known.contains(id));
            for id in in_queue.iter().filter(|id| !known.contains(*id)) {
                strays.entry(id.clone()).or_insert(now);
            }
            strays
                .iter()
                .filter(|(_, seen)| now.duration_since(**seen) > self.inner.config.orphan_timeout)
                .map(|(id, _)| id.clone())
                .collect()
        };
        if lost.is_empty() {
            return;
        }
        match self.inner.queue.give_back(&self.inner.id, &lost).await {
            Ok(n) => {
                let mut strays = lock(&self.inner.strays);
                for id in &lost {
                    strays.remove(id);
                }
                tracing::warn!(
                    jobs = n,
                    "handed back leases whose fetch answer never arrived"
                );
            }
            Err(e) => tracing::warn!(error = %e, "could not hand back stray leases"),
        }
    }

    /// Drive one leased job to exactly one outcome.
    ///
    /// With traces on, the run is a `job` span in the trace of the webhook that queued the job (its
    /// context travels in the job, through retries and dead-letter replays); the Odoo and Salla
    /// calls of the handler are spans under it.
    pub async fn process(&self, lease: Lease) -> Processed {
        self.process_group(lease, Vec::new())
            .await
            .into_iter()
            .next()
            .unwrap_or(Processed::LostLease)
    }

    /// [`Worker::process`] for `lease` and the leases of the same entity fetched with it, coalesced
    /// with the entity's other waiting jobs (see [`coalesce`]). One [`Processed`] per job, `lease`'s
    /// first.
    pub async fn process_group(&self, lease: Lease, others: Vec<Lease>) -> Vec<Processed> {
        let span = match &lease.job {
            Ok(SyncJob::V1(job)) => {
                let span = tracing::info_span!(
                    target: "otel",
                    "job",
                    otel.kind = "consumer",
                    otel.status_code = tracing::field::Empty,
                    job.id = %job.id,
                    merchant = job.merchant.get(),
                    event = %job.event,
                    job.kind = job.kind.as_str(),
                    job.attempt = job.attempt,
                    outcome = tracing::field::Empty,
                );
                salla_odoo_core::telemetry::set_parent(&span, job.trace.as_ref());
                span
            }
            Err(_) => tracing::Span::none(),
        };
        let processed = self
            .process_in_span(lease, others)
            .instrument(span.clone())
            .await;
        if let Some(first) = processed.first() {
            span.record("outcome", first.as_str());
            if matches!(first, Processed::Retried(_) | Processed::DeadLettered(_)) {
                span.record("otel.status_code", "error");
            }
        }
        processed
    }

    async fn process_in_span(&self, lease: Lease, others: Vec<Lease>) -> Vec<Processed> {
        let job = match &lease.job {
            Ok(SyncJob::V1(job)) => job.clone(),
            Err(undecodable) => {
                return vec![self.dead_letter_undecodable(&lease.id, undecodable).await];
            }
        };
        // Grouped leases are decodable and not poison (see `group`).
        let mut members: Vec<(String, SyncJobV1)> = vec![(lease.id.clone(), job.clone())];
        members.extend(others.into_iter().filter_map(|l| match l.job {
            Ok(SyncJob::V1(j)) => Some((l.id, j)),
            Err(_) => None,
        }));
        self.process_members(lease.starts, members).await
    }

    /// Defer every member for `why` (the lock or the slot could not be taken).
    async fn defer_all(
        &self,
        members: &[(String, SyncJobV1)],
        why: &'static str,
    ) -> Vec<Processed> {
        let mut out = Vec::with_capacity(members.len());
        for (id, job) in members {
            out.push(self.defer(id, job, why).await);
        }
        out
    }

    /// A job that may be coalesced, with the leases of its entity fetched alongside: the entity lock
    /// and the store slot as for one job, then the entity's other waiting jobs are claimed and the
    /// group runs as [`coalesce::plan`] says.
    async fn process_members(
        &self,
        lead_starts: u32,
        mut members: Vec<(String, SyncJobV1)>,
    ) -> Vec<Processed> {
        let started = Instant::now();
        let job = members[0].1.clone();
        if lead_starts > self.inner.config.max_starts {
            let error = format!(
                "started {} times without finishing (the worker died each time): poison job",
                lead_starts - 1
            );
            let (id, job) = members.remove(0);
            let mut out = vec![
                self.dead_letter(&self.inner.pool, &id, job, "poison", error, started, false)
                    .await,
            ];
            out.extend(self.defer_all(&members, "entity_locked").await);
            return out;
        }
        // The job's queries and its locks share one connection (see `Db::Session`): a job makes
        // about ten.
        let db = match self.inner.pool.session().await {
            Ok(db) => db,
            Err(e) => {
                tracing::warn!(error = %e, "no database connection for the job");
                return self.defer_all(&members, "db_unavailable").await;
            }
        };
        // Fleet-wide per-entity lock: jobs on one order/customer/product never run concurrently.
        let entity_lock = match &job.entity {
            Some(entity) => {
                let key = format!("{}:{}", entity.kind.as_str(), entity.id);
                match locks::try_lock(&db, job.merchant, &key).await {
                    Ok(Some(lock)) => Some(lock),
                    Ok(None) => return self.defer_all(&members, "entity_locked").await,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot take the entity lock");
                        return self.defer_all(&members, "lock_unavailable").await;
                    }
                }
            }
            None => None,
        };
        let slot_id = job.id.to_string();
        match self
            .inner
            .limits
            .try_acquire(job.merchant, &slot_id, job.kind.calls_odoo())
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                release_lock(entity_lock).await;
                return self.defer_all(&members, "store_busy").await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot take a store slot");
                release_lock(entity_lock).await;
                return self.defer_all(&members, "limits_unavailable").await;
            }
        }
        let mut out = Vec::new();
        // The entity's other waiting jobs, into this worker's leases (none for a job that never
        // coalesces: no round trip then).
        let room = coalesce::MAX_GROUP.saturating_sub(members.len());
        let mut claimed_ids: Vec<String> = Vec::new();
        let claimed = if room > 0 && job.coalesce_entity().is_some() {
            match self
                .inner
                .queue
                .claim_coalesced(&self.inner.id, &job, room)
                .await
            {
                Ok(claimed) => claimed,
                Err(e) => {
                    tracing::warn!(error = %e, "could not claim the entity's waiting jobs; running alone");
                    Vec::new()
                }
            }
        } else {
            Vec::new()
        };
        members.extend(
            self.admit(&db, claimed, started, &mut claimed_ids, &mut out)
                .await,
        );
        // Late-claimed jobs that go back to the queue once the lock is released.
        let mut after_unlock: Vec<(String, SyncJobV1, &'static str, Duration)> = Vec::new();
        if members.len() == 1 {
            let (id, only) = members.remove(0);
            let (result, log_db) = self.handle_timed(&only, &db).await;
            let ran = result.as_ref().ok().cloned().map(|h| (only.clone(), h));
            // The late claim travels alongside the outcome's record (Redis and Postgres at once).
            let (processed, late) = tokio::join!(
                self.settle(log_db, &id, only, result, started, true),
                self.late_claim(&job, ran.is_some(), 1)
            );
            if !matches!(
                processed,
                Processed::Applied | Processed::Skipped(_) | Processed::DeadLettered(_)
            ) {
                self.release_slot(job.merchant, &slot_id).await;
            }
            let ran =
                ran.filter(|_| matches!(processed, Processed::Applied | Processed::Skipped(_)));
            out.insert(0, processed);
            let late = self
                .admit(log_db, late, started, &mut claimed_ids, &mut out)
                .await;
            // The store slot went with the ack: a late job that must run goes back to the queue.
            out.extend(
                self.settle_late(
                    log_db,
                    ran.into_iter().collect(),
                    late,
                    started,
                    false,
                    &mut after_unlock,
                )
                .await,
            );
        } else {
            metrics::counter!("salla_odoo_jobs_coalesced_total", "kind" => job.kind.as_str())
                .increment(members.len() as u64 - 1);
            let (mut group, ran) = self.run_group(&db, members, started).await;
            if let Some(ran) = ran {
                let late = self.late_claim(&job, true, ran.len()).await;
                let late = self
                    .admit(&db, late, started, &mut claimed_ids, &mut out)
                    .await;
                group.extend(
                    self.settle_late(&db, ran, late, started, true, &mut after_unlock)
                        .await,
                );
            }
            group.append(&mut out);
            out = group;
            self.release_slot(job.merchant, &slot_id).await;
        }
        release_lock(entity_lock).await;
        for (id, j, why, delay) in after_unlock {
            out.push(self.defer_for(&id, &j, why, delay).await);
        }
        let mut held = lock(&self.inner.held);
        for id in &claimed_ids {
            held.remove(id);
        }
        out
    }

    /// Claimed leases into group members: each counted as held; poison and undecodable ones are
    /// dead-lettered (their outcomes go to `out`).
    async fn admit(
        &self,
        db: &Db,
        claimed: Vec<Lease>,
        started: Instant,
        claimed_ids: &mut Vec<String>,
        out: &mut Vec<Processed>,
    ) -> Vec<(String, SyncJobV1)> {
        lock(&self.inner.held).extend(claimed.iter().map(|l| l.id.clone()));
        claimed_ids.extend(claimed.iter().map(|l| l.id.clone()));
        let mut members = Vec::with_capacity(claimed.len());
        for l in claimed {
            match l.job {
                Ok(SyncJob::V1(j)) if l.starts <= self.inner.config.max_starts => {
                    members.push((l.id, j));
                }
                Ok(SyncJob::V1(j)) => {
                    let error = format!(
                        "started {} times without finishing (the worker died each time): poison job",
                        l.starts - 1
                    );
                    out.push(
                        self.dead_letter(db, &l.id, j, "poison", error, started, false)
                            .await,
                    );
                }
                Err(u) => out.push(self.dead_letter_undecodable(&l.id, &u).await),
            }
        }
        members
    }

    /// The late claim (see [`coalesce`], "The late claim"): just before the entity lock is
    /// released, the entity's jobs that arrived or were deferred while the group ran. Only when
    /// the group's runs all reached an outcome (`ok`); at most enough to fill a group of `ran`.
    async fn late_claim(&self, job: &SyncJobV1, ok: bool, ran: usize) -> Vec<Lease> {
        if !ok || job.coalesce_entity().is_none() {
            return Vec::new();
        }
        let room = coalesce::MAX_GROUP.saturating_sub(ran);
        match self
            .inner
            .queue
            .claim_coalesced(&self.inner.id, job, room)
            .await
        {
            Ok(late) => late,
            Err(e) => {
                tracing::warn!(error = %e, "late claim failed; those jobs run on their own");
                Vec::new()
            }
        }
    }

    /// Settle the late-claimed `late` against the runs that just ended, `ran` (each with what it
    /// did): a late job that [`coalesce::plan`] covers by one of them is coalesced into it
    /// (skipped); one that carries a newer state, or cannot be folded, runs here when `can_run`
    /// (the lock and the store slot are still held), else goes back to the queue, due at once,
    /// after the lock is released (`after_unlock`). A late run that fails sends the rest back with
    /// its delay. Never is a newer state dropped: only what a run already applied is skipped.
    async fn settle_late(
        &self,
        db: &Db,
        ran: Vec<(SyncJobV1, Handled)>,
        late: Vec<(String, SyncJobV1)>,
        started: Instant,
        can_run: bool,
        after_unlock: &mut Vec<(String, SyncJobV1, &'static str, Duration)>,
    ) -> Vec<Processed> {
        if late.is_empty() {
            return Vec::new();
        }
        metrics::counter!("salla_odoo_jobs_late_claimed_total").increment(late.len() as u64);
        if ran.is_empty() {
            for (id, j) in late {
                after_unlock.push((id, j, "coalesced_retry", self.inner.config.lock_busy_retry));
            }
            return Vec::new();
        }
        let n = ran.len();
        let plan = {
            let jobs: Vec<&SyncJobV1> = ran
                .iter()
                .map(|(j, _)| j)
                .chain(late.iter().map(|(_, j)| j))
                .collect();
            coalesce::plan(&jobs)
        };
        let job_at = |i: usize| -> &SyncJobV1 { if i < n { &ran[i].0 } else { &late[i - n].1 } };
        let mut handled: Vec<Option<Handled>> = plan
            .runs
            .iter()
            .map(|&i| (i < n).then(|| ran[i].1.clone()))
            .collect();
        let mut out: Vec<Option<Processed>> = vec![None; late.len()];
        let mut stop: Option<(&'static str, Duration)> = None;
        let mut log_db = db;
        if can_run {
            for (r, &i) in plan.runs.iter().enumerate() {
                if i < n {
                    continue;
                }
                let (id, job) = &late[i - n];
                let (result, on) = self.handle_timed(job, log_db).await;
                log_db = on;
                let ok = result.as_ref().ok().cloned();
                let wait = match &result {
                    Err(SyncError::Throttled { retry_after, .. }) => {
                        Some(("throttled", *retry_after))
                    }
                    _ => None,
                };
                let processed = self
                    .settle(log_db, id, job.clone(), result, started, false)
                    .await;
                match (&processed, ok) {
                    (Processed::Applied | Processed::Skipped(_), Some(h)) => handled[r] = Some(h),
                    (Processed::Retried(delay), _) => stop = Some(("coalesced_retry", *delay)),
                    _ => {
                        stop = Some(
                            wait.unwrap_or(("coalesced_retry", self.inner.config.lock_busy_retry)),
                        )
                    }
                }
                out[i - n] = Some(processed);
                if stop.is_some() {
                    break;
                }
            }
        }
        for (k, (id, job)) in late.iter().enumerate() {
            if out[k].is_some() {
                continue;
            }
            let i = n + k;
            let run = plan.covered[i].and_then(|r| handled[r].as_ref().map(|h| (r, h)));
            match run {
                Some((r, h)) => {
                    let into = job_at(plan.runs[r]);
                    out[k] = Some(
                        self.settle_coalesced(log_db, id, job, into, h, started)
                            .await,
                    );
                }
                None => {
                    let (why, delay) = match stop {
                        Some(s) => s,
                        None => ("late_claim", Duration::ZERO),
                    };
                    after_unlock.push((id.clone(), job.clone(), why, delay));
                }
            }
        }
        out.into_iter().flatten().collect()
    }

    /// The handler on `job` under `worker.job_timeout_secs`, and where to record its outcome (the
    /// job's session, or the pool after a timeout: the session may be mid-statement).
    async fn handle_timed<'a>(
        &'a self,
        job: &SyncJobV1,
        db: &'a Db,
    ) -> (Result<Handled, SyncError>, &'a Db) {
        match tokio::time::timeout(
            self.inner.config.job_timeout,
            self.inner.handler.handle(job, db),
        )
        .await
        {
            Ok(r) => (r, db),
            Err(_) => (
                Err(SyncError::Transient {
                    message: format!("timed out after {:?}", self.inner.config.job_timeout),
                    retry_after: None,
                }),
                &self.inner.pool,
            ),
        }
    }

    /// Run a group of jobs of one entity as [`coalesce::plan`] says, holding its lock: each run's
    /// outcome is recorded as for any job, each covered job's as its run's; on a failure the jobs
    /// without an outcome go back to the queue (see [`coalesce`], "Failures"). The lead's store
    /// slot is the caller's to release.
    /// Also returns each run with what it did, when every run reached its outcome (for the late
    /// claim).
    async fn run_group(
        &self,
        db: &Db,
        members: Vec<(String, SyncJobV1)>,
        started: Instant,
    ) -> (Vec<Processed>, Option<Vec<(SyncJobV1, Handled)>>) {
        let plan = {
            let jobs: Vec<&SyncJobV1> = members.iter().map(|(_, j)| j).collect();
            coalesce::plan(&jobs)
        };
        let mut out: Vec<Option<Processed>> = vec![None; members.len()];
        let mut handled: Vec<Option<Handled>> = vec![None; plan.runs.len()];
        // After a failed run: how long the rest waits, and why.
        let mut stop: Option<(&'static str, Duration)> = None;
        let mut log_db = db;
        for (r, &i) in plan.runs.iter().enumerate() {
            let (id, job) = &members[i];
            let (result, on) = self.handle_timed(job, log_db).await;
            log_db = on;
            let ok = result.as_ref().ok().cloned();
            let wait = match &result {
                Err(SyncError::Throttled { retry_after, .. }) => Some(("throttled", *retry_after)),
                _ => None,
            };
            let processed = self
                .settle(log_db, id, job.clone(), result, started, false)
                .await;
            match (&processed, ok) {
                (Processed::Applied | Processed::Skipped(_), Some(h)) => handled[r] = Some(h),
                (Processed::Retried(delay), _) => stop = Some(("coalesced_retry", *delay)),
                _ => {
                    stop =
                        Some(wait.unwrap_or(("coalesced_retry", self.inner.config.lock_busy_retry)))
                }
            }
            out[i] = Some(processed);
            if stop.is_some() {
                break;
            }
        }
        for (i, (id, job)) in members.iter().enumerate() {
            if out[i].is_some() {
                continue;
            }
            let run = plan.covered[i].and_then(|r| handled[r].as_ref().map(|h| (r, h)));
            out[i] = Some(match run {
                Some((r, h)) => {
                    let into = &members[plan.runs[r]].1;
                    self.settle_coalesced(log_db, id, job, into, h, started)
                        .await
                }
                None => {
                    let (why, delay) =
                        stop.unwrap_or(("coalesced_retry", self.inner.config.lock_busy_retry));
                    self.defer_for(id, job, why, delay).await
                }
            });
        }
        let ran = match stop {
            Some(_) => None,
            None => Some(
                plan.runs
                    .iter()
                    .zip(handled)
                    .filter_map(|(&i, h)| Some((members[i].1.clone(), h?)))
                    .collect(),
            ),
        };
        (out.into_iter().flatten().collect(), ran)
    }

    /// Record the outcome of `job`, covered by the run of `into` that ended `handled`, and end it.
    async fn settle_coalesced(
        &self,
        db: &Db,
        id: &str,
        job: &SyncJobV1,
        into: &SyncJobV1,
        handled: &Handled,
        started: Instant,
    ) -> Processed {
        // Covered jobs are older than their run (see `coalesce::plan`): superseded, so skipped.
        let (reason, odoo_ids) = match handled {
            Handled::Applied { odoo_ids, .. } => (
                format!(
                    "stale: coalesced into job {} ({}), which applied a newer state",
                    into.id, into.event
                ),
                odoo_ids.clone(),
            ),
            Handled::Skipped { reason } => (
                format!(
                    "stale: coalesced into job {} ({}), which was skipped: {reason}",
                    into.id, into.event
                ),
                serde_json::Value::Null,
            ),
        };
        let outcome = sync_log::Outcome::Skipped;
        if let Err(e) = self
            .log(db, job, outcome, Some(reason), odoo_ids, started)
            .await
        {
            tracing::error!(job_id = %job.id, error = %e, "outcome not recorded; the job will run again");
            return self.defer(id, job, "log_unavailable").await;
        }
        self.finish(id, job, false, false).await;
        metrics::counter!("salla_odoo_jobs_total", "kind" => job.kind.as_str(), "outcome" => "coalesced")
            .increment(1);
        tracing::info!(job_id = %job.id, merchant = job.merchant.get(), event = %job.event, kind = job.kind.as_str(), into = %into.id, outcome = "coalesced", "job finished");
        Processed::Coalesced(into.id)
    }

    async fn settle(
        &self,
        db: &Db,
        id: &str,
        mut job: SyncJobV1,
        result: Result<Handled, SyncError>,
        started: Instant,
        holds_slot: bool,
    ) -> Processed {
        let kind = job.kind.as_str();
        match result {
            Ok(handled) => {
                let (outcome, reason, odoo_ids) = match &handled {
                    Handled::Applied { odoo_ids, note } => {
                        (sync_log::Outcome::Applied, note.clone(), odoo_ids.clone())
                    }
                    Handled::Skipped { reason } => (
                        sync_log::Outcome::Skipped,
                        Some(reason.clone()),
                        serde_json::Value::Null,
                    ),
                };
                let label = if matches!(handled, Handled::Applied { .. }) {
                    "applied"
                } else {
                    "skipped"
                };
                if let Err(e) = self
                    .log(db, &job, outcome, reason.clone(), odoo_ids, started)
                    .await
                {
                    tracing::error!(job_id = %job.id, error = %e, "outcome not recorded; the job will run again");
                    return self.defer(id, &job, "log_unavailable").await;
                }
                self.finish(id, &job, false, holds_slot).await;
                metrics::counter!("salla_odoo_jobs_total", "kind" => kind, "outcome" => label)
                    .increment(1);
                metrics::histogram!("salla_odoo_job_duration_seconds", "kind" => kind)
                    .record(started.elapsed().as_secs_f64());
                tracing::info!(job_id = %job.id, merchant = job.merchant.get(), event = %job.event, kind, attempt = job.attempt, outcome = label, reason = reason.as_deref(), duration_ms = started.elapsed().as_millis() as u64, "job finished");
                match handled {
                    Handled::Applied { .. } => Processed::Applied,
                    Handled::Skipped { reason } => Processed::Skipped(reason),
                }
            }
            Err(SyncError::Permanent { message }) => {
                self.dead_letter(db, id, job, "permanent", message, started, holds_slot)
                    .await
            }
            Err(SyncError::Throttled {
                message,
                retry_after,
            }) => {
                tracing::info!(job_id = %job.id, merchant = job.merchant.get(), event = %job.event, kind, delay_ms = retry_after.as_millis() as u64, reason = %message, "job throttled; runs again later without spending an attempt");
                self.defer_for(id, &job, "throttled", retry_after).await
            }
            Err(SyncError::Transient {
                message,
                retry_after,
            }) => {
                let attempt = job.attempt + 1;
                job.history.push(AttemptRecord {
                    attempt,
                    at: OffsetDateTime::now_utc(),
                    class: "transient".into(),
                    error: message.clone(),
                });
                let decision =
                    self.inner
                        .config
                        .retry
                        .decide(attempt, retry_after, &mut rand::rng());
                match decision {
                    RetryDecision::RetryAfter(delay) => {
                        job.attempt = attempt;
                        let retry = SyncJob::V1(job.clone());
                        metrics::counter!("salla_odoo_job_retries_total", "kind" => kind)
                            .increment(1);
                        tracing::warn!(job_id = %job.id, merchant = job.merchant.get(), event = %job.event, kind, attempt, delay_ms = delay.as_millis() as u64, error = %message, "job failed; retrying later");
                        match self
                            .inner
                            .queue
                            .reschedule(&self.inner.id, id, &retry, delay)
                            .await
                        {
                            Ok(true) => Processed::Retried(delay),
                            Ok(false) => Processed::LostLease,
                            Err(e) => {
                                // Still leased by us: the heartbeat task schedules it once the queue answers.
                                tracing::error!(error = %e, "retry not scheduled yet; the lease stays with this worker until the queue answers");
                                self.unsettled(Unsettled::Reschedule(
                                    id.to_owned(),
                                    Box::new(retry),
                                    delay,
                                ));
                                Processed::Deferred("queue_unavailable")
                            }
                        }
                    }
                    RetryDecision::GiveUp => {
                        let error = format!("gave up after {attempt} attempts: {message}");
                        self.dead_letter(db, id, job, "exhausted", error, started, holds_slot)
                            .await
                    }
                }
            }
        }
    }

    async fn log(
        &self,
        db: &Db,
        job: &SyncJobV1,
        outcome: sync_log::Outcome,
        reason: Option<String>,
        odoo_ids: serde_json::Value,
        started: Instant,
    ) -> Result<bool, StoreError> {
        sync_log::record(
            db,
            &sync_log::NewLogEntry {
                job_id: job.id,
                merchant: job.merchant,
                event: job.event.clone(),
                kind: job.kind.as_str().to_owned(),
                entity: job.entity.map(|e| format!("{}:{}", e.kind.as_str(), e.id)),
                outcome,
                reason,
                attempt: job.attempt,
                duration_ms: started.elapsed().as_millis() as i64,
                odoo_ids,
            },
        )
        .await
    }

    /// Forget an ended job in the queue and, when `release_slot`, free its store slot alongside:
    /// both requests leave together on the Redis connection, so their answers come back together
    /// (one wake-up instead of two).
    async fn finish(&self, id: &str, job: &SyncJobV1, dead: bool, release_slot: bool) {
        let ack = self.inner.queue.end(&self.inner.id, id, job, dead);
        let slot = async {
            if release_slot {
                self.release_slot(job.merchant, &job.id.to_string()).await;
            }
        };
        let (r, ()) = tokio::join!(ack, slot);
        match r {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(job_id = %job.id, "lease was taken over before the ack; the other run is a no-op")
            }
            Err(e) => {
                tracing::warn!(job_id = %job.id, error = %e, "ack failed; retried once the queue answers");
                self.unsettled(if dead {
                    Unsettled::Dead(id.to_owned())
                } else {
                    Unsettled::Ack(id.to_owned())
                });
            }
        }
    }

    async fn release_slot(&self, merchant: salla_odoo_core::MerchantId, slot_id: &str) {
        if let Err(e) = self.inner.limits.release(merchant, slot_id).await {
            tracing::warn!(error = %e, "store slot not released (it expires by itself)");
        }
    }

    /// Reschedule without spending an attempt.
    async fn defer(&self, id: &str, job: &SyncJobV1, why: &'static str) -> Processed {
        self.defer_for(id, job, why, self.inner.config.lock_busy_retry)
            .await
    }

    /// Reschedule after `delay` without spending an attempt.
    async fn defer_for(
        &self,
        id: &str,
        job: &SyncJobV1,
        why: &'static str,
        delay: Duration,
    ) -> Processed {
        metrics::counter!("salla_odoo_jobs_deferred_total", "reason" => why).increment(1);
        match self
            .inner
            .queue
            .reschedule(&self.inner.id, id, &SyncJob::V1(job.clone()), delay)
            .await
        {
            Ok(true) => Processed::Deferred(why),
            Ok(false) => Processed::LostLease,
            Err(e) => {
                tracing::error!(error = %e, "cannot reschedule yet; the lease stays with this worker until the queue answers");
                self.unsettled(Unsettled::Reschedule(
                    id.to_owned(),
                    Box::new(SyncJob::V1(job.clone())),
                    delay,
                ));
                Processed::Deferred(why)
            }
        }
    }

    fn unsettled(&self, u: Unsettled) {
        lock(&self.inner.unsettled).push(u);
    }

    /// Retry the ends of leases the queue did not take; those that fail again wait for the next
    /// heartbeat. Called by the heartbeat task.
    async fn settle_unsettled(&self) {
        let pending = std::mem::take(&mut *lock(&self.inner.unsettled));
        let (queue, me) = (&self.inner.queue, self.inner.id.as_str());
        for u in pending {
            let done = match &u {
                Unsettled::Ack(id) => queue.ack(me, id).await,
                Unsettled::Dead(id) => queue.dead(me, id).await,
                Unsettled::Reschedule(id, job, delay) => {
                    queue.reschedule(me, id, job, *delay).await
                }
            };
            match done {
                Ok(true) => {
                    tracing::info!(queue_id = %id_of(&u), "lease settled after the queue came back")
                }
                Ok(false) => {}
                Err(_) => self.unsettled(u),
            }
        }
    }

    /// `holds_slot`: the job holds its store slot (released with the ack).
    #[allow(clippy::too_many_arguments)]
    async fn dead_letter(
        &self,
        db: &Db,
        id: &str,
        mut job: SyncJobV1,
        class: &'static str,
        error: String,
        started: Instant,
        holds_slot: bool,
    ) -> Processed {
        if class != "exhausted" {
            job.history.push(AttemptRecord {
                attempt: job.attempt + 1,
                at: OffsetDateTime::now_utc(),
                class: class.into(),
                error: error.clone(),
            });
        }
        let salla_id = job.entity.map(|e| e.id.get());
        let attempts = serde_json::to_value(&job.history).unwrap_or_default();
        let row = outbox::NewDeadLetter {
            job_id: job.id,
            merchant: job.merchant,
            event: job.event.clone(),
            kind: job.kind.as_str().to_owned(),
            salla_id,
            job: serde_json::to_value(SyncJob::V1(job.clone())).unwrap_or_default(),
            attempts,
            error: error.clone(),
            class: class.to_owned(),
        };
        // The dead letter must exist before the job leaves Redis.
        let recorded = async {
            outbox::insert(db, &row).await?;
            self.log(
                db,
                &job,
                sync_log::Outcome::DeadLettered,
                Some(error.clone()),
                serde_json::Value::Null,
                started,
            )
            .await
        }
        .await;
        if let Err(e) = recorded {
            tracing::error!(job_id = %job.id, error = %e, "dead letter not recorded; the job stays queued");
            return self.defer(id, &job, "outbox_unavailable").await;
        }
        self.finish(id, &job, true, holds_slot).await;
        metrics::counter!("salla_odoo_dead_letters_total", "kind" => job.kind.as_str(), "class" => class).increment(1);
        tracing::error!(job_id = %job.id, merchant = job.merchant.get(), event = %job.event, kind = job.kind.as_str(), class, error = %error, "job dead-lettered");
        Processed::DeadLettered(class)
    }

    async fn dead_letter_undecodable(&self, id: &str, undecodable: &Undecodable) -> Processed {
        let job_id = uuid::Uuid::new_v4();
        // Keep whatever can still be read, so `dlq list --store` finds it.
        let merchant = serde_json::from_str::<serde_json::Value>(&undecodable.raw)
            .ok()
            .and_then(|v| v.get("merchant").and_then(serde_json::Value::as_u64))
            .unwrap_or(0);
        let row = outbox::NewDeadLetter {
            job_id,
            merchant: salla_odoo_core::MerchantId::new(merchant),
            event: "-".into(),
            kind: "-".into(),
            salla_id: None,
            job: serde_json::json!({ "queue_id": id, "raw": undecodable.raw }),
            attempts: serde_json::json!([]),
            error: undecodable.error.clone(),
            class: "undecodable".into(),
        };
        if let Err(e) = outbox::insert(&self.inner.pool, &row).await {
            tracing::error!(error = %e, "undecodable job not dead-lettered; it stays queued");
            return Processed::Deferred("outbox_unavailable");
        }
        let _ = self.inner.queue.dead(&self.inner.id, id).await;
        metrics::counter!("salla_odoo_dead_letters_total", "kind" => "-", "class" => "undecodable")
            .increment(1);
        tracing::error!(queue_id = id, error = %undecodable.error, "undecodable job dead-lettered");
        Processed::DeadLettered("undecodable")
    }

    /// Run until `shutdown`, then drain. Heartbeats and orphan recovery run alongside.
    pub async fn run(&self, shutdown: impl Future<Output = ()> + Send) -> Result<(), WorkerError> {
        let cfg = &self.inner.config;
        self.inner.queue.heartbeat(&self.inner.id).await?;
        tracing::info!(worker = %self.inner.id, concurrency = cfg.concurrency, orphan_timeout_s = cfg.orphan_timeout.as_secs(), "worker started");
        // Aborted when `run` returns or is dropped (a crash in tests): a dead worker must go silent.
        let heartbeat = AbortOnDrop({
            let me = self.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(me.inner.config.heartbeat);
                loop {
                    tick.tick().await;
                    if let Err(e) = me.inner.queue.heartbeat(&me.inner.id).await {
                        tracing::warn!(error = %e, "heartbeat failed");
                    }
                    me.settle_unsettled().await;
                    me.give_back_strays().await;
                    match me
                        .inner
                        .queue
                        .requeue_orphans(me.inner.config.orphan_timeout)
                        .await
                    {
                        Ok(0) => {}
                        Ok(n) => tracing::warn!(
                            jobs = n,
                            "re-queued the jobs of a worker that stopped heartbeating"
                        ),
                        Err(e) => tracing::warn!(error = %e, "orphan check failed"),
                    }
                    // The embedded queue keeps finished rows for the dedupe window; Redis expires them.
                    if let Err(e) = me.inner.queue.vacuum().await {
                        tracing::warn!(error = %e, "queue vacuum failed");
                    }
                }
            })
        });

        let mut running: JoinSet<Vec<Processed>> = JoinSet::new();
        let mut shutdown = std::pin::pin!(shutdown);
        // Wake-ups when work arrives (see `salla_odoo_queue::wake`); the poll is the fallback.
        let mut wakeups = self.inner.queue.wakeups();
        loop {
            while let Some(done) = running.try_join_next() {
                if let Err(e) = done {
                    tracing::error!(error = %e, "job task failed");
                }
            }
            let free = cfg.concurrency.saturating_sub(running.len());
            let mut fetched = 0;
            let mut next_due = None;
            if free > 0 {
                match self.inner.queue.poll(&self.inner.id, free).await {
                    Ok(polled) => {
                        let leases = polled.leases;
                        next_due = polled.next_due;
                        fetched = leases.len();
                        for group in self.group(leases) {
                            let me = self.clone();
                            running.spawn(async move { me.process_held(group).await });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "fetch failed"),
                }
            }
            if fetched == free && free > 0 {
                // A full batch: there may be more right away.
                tokio::select! { _ = &mut shutdown => break, () = tokio::task::yield_now() => continue }
            }
            if free == 0 {
                // Full: nothing to fetch until a job ends, so no polling timer (each would wake
                // the process for nothing while every job waits on Odoo), and no wake-up token
                // taken from a worker that has room.
                wakeups.want(false);
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = running.join_next() => {}
                }
                continue;
            }
            // Room left: look again when woken (a job queued or put back), when the next
            // scheduled job comes due, when a job ends, or at the poll interval, the fallback.
            wakeups.want(true);
            let wait = next_due
                .map_or(cfg.poll, |d| d.min(cfg.poll))
                .max(Duration::from_millis(1));
            tokio::select! {
                _ = &mut shutdown => break,
                _ = running.join_next(), if !running.is_empty() => {}
                () = tokio::time::sleep(wait) => {}
                () = wakeups.notified() => {}
            }
        }
        drop(wakeups);

        tracing::info!(
            in_flight = running.len(),
            drain_s = cfg.drain.as_secs(),
            "stopping: draining in-flight jobs"
        );
        let drained = tokio::time::timeout(cfg.drain, async {
            while running.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                in_flight = running.len(),
                "drain deadline reached; handing unfinished jobs back"
            );
            running.abort_all();
            while running.join_next().await.is_some() {}
        }
        drop(heartbeat);
        match self.inner.queue.release(&self.inner.id).await {
            Ok(n) if n > 0 => tracing::info!(jobs = n, "unfinished jobs handed back to the queue"),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not hand jobs back; they return after the orphan timeout")
            }
        }
        tracing::info!(worker = %self.inner.id, "worker stopped");
        Ok(())
    }
}

/// Enforce retention once, unless another worker is doing it right now (`None` then): purge the
/// uninstalled stores whose grace period is over, then apply the retention periods. The global
/// advisory lock `retention` makes it one worker at a time across the fleet.
pub async fn retention_once(
    pool: &Db,
    queue: &Queue,
    policy: &salla_odoo_store::retention::Policy,
) -> Result<Option<salla_odoo_store::retention::Report>, StoreError> {
    let Some(lock) = locks::try_lock_global(pool, "retention").await? else {
        return Ok(None);
    };
    let report = async {
        lifecycle::purge_due(pool, queue).await?;
        salla_odoo_store::retention::run(pool, policy, OffsetDateTime::now_utc(), false).await
    }
    .await;
    release_lock(Some(lock)).await;
    report.map(Some)
}

/// Run [`retention_once`] every `interval`, forever.
pub async fn retention_loop(
    pool: Db,
    queue: Queue,
    policy: salla_odoo_store::retention::Policy,
    interval: Duration,
) {
    let mut tick = tokio::time::interval(interval);
    loop {
        tick.tick().await;
        match retention_once(&pool, &queue, &policy).await {
            Ok(Some(r)) => tracing::info!(
                sync_log = r.sync_log,
                dead_letters_pending = r.dead_letters_pending,
                dead_letters_handled = r.dead_letters_handled,
                "retention enforced"
            ),
            Ok(None) => tracing::debug!("retention is running on another worker"),
            Err(e) => tracing::warn!(error = %e, "retention failed; next try at the next interval"),
        }
    }
}

struct AbortOnDrop<T = ()>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn release_lock(lock: Option<locks::EntityLock>) {
    if let Some(lock) = lock
        && let Err(e) = lock.release().await
    {
        tracing::warn!(error = %e, "entity lock release failed (its connection is closed instead)");
    }
}

/// Build the queue and pool from settings.
pub fn connect(settings: &Settings) -> Result<(Queue, Db), WorkerError> {
    let queue = Queue::from_settings(settings)?;
    let pool = salla_odoo_store::connect_lazy(&salla_odoo_store::DbConfig {
        url: settings.database.url.clone(),
        // Each running job holds one connection (its session: its queries and its locks); the
        // rest serve retention, uninstalls' purges and outcomes recorded after a timeout.
        max_connections: settings
            .database
            .max_connections
            .max(settings.worker.concurrency as u32 + 4),
        acquire_timeout: Duration::from_millis(settings.database.acquire_timeout_ms),
    })?;
    Ok((queue, pool))
}

/// The worker process: metrics endpoint plus the run loop, until `shutdown`.
pub async fn run(
    settings: Settings,
    id: String,
    metrics_listener: Option<tokio::net::TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WorkerError> {
    let (queue, pool) = connect(&settings)?;
    run_with(settings, id, queue, pool, metrics_listener, shutdown).await
}

/// [`run`] on a given queue and database: the fleet's worker process uses Redis and Postgres,
/// `salla-odoo run` its embedded queue and SQLite store.
pub async fn run_with(
    settings: Settings,
    id: String,
    queue: Queue,
    pool: Db,
    metrics_listener: Option<tokio::net::TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WorkerError> {
    let keyring = salla_odoo_store::secrets::Keyring::from_settings(&settings.secrets)?;
    let config = WorkerConfig::from_settings(&settings);
    let limits = StoreLimits::new(
        queue.clone(),
        config.store_concurrency,
        config.store_calls_per_sec,
        config.job_timeout + config.drain,
    )
    .with_capabilities_ttl(Duration::from_secs(settings.odoo.capabilities_ttl_secs));
    let grace = Duration::from_secs(u64::from(settings.retention.uninstall_grace_days) * 86_400);
    let salla =
        salla::SallaAccess::from_settings(&settings, pool.clone(), keyring.clone(), limits.clone())
            .map_err(|e| WorkerError::Config(salla_odoo_core::CoreError::Config(e.to_string())))?;
    let mut handler = SyncHandler::new(
        pool.clone(),
        keyring.clone(),
        limits.clone(),
        queue.clone(),
        grace,
    );
    if let Some(access) = &salla {
        handler = handler.with_salla(access.clone());
        if settings.reconcile.interval_secs > 0 {
            handler = handler.with_backfill(reconcile::Backfill {
                access: access.clone(),
                pool: pool.clone(),
                queue: queue.clone(),
                run: reconcile::Run {
                    since: None,
                    first_window: Duration::from_secs(
                        u64::from(settings.reconcile.backfill_days) * 86_400,
                    ),
                    overlap: Duration::from_secs(settings.reconcile.overlap_secs),
                    dry_run: false,
                },
            });
        }
    }
    let _reconcile = salla
        .clone()
        .filter(|_| settings.reconcile.interval_secs > 0)
        .map(|access| {
            AbortOnDrop(tokio::spawn(reconcile::reconcile_loop(
                access,
                pool.clone(),
                queue.clone(),
                Duration::from_secs(settings.reconcile.interval_secs),
                reconcile::Run {
                    since: None,
                    first_window: Duration::from_secs(
                        u64::from(settings.reconcile.backfill_days) * 86_400,
                    ),
                    overlap: Duration::from_secs(settings.reconcile.overlap_secs),
                    dry_run: false,
                },
            )))
        });
    let _fulfilment = salla
        .clone()
        .filter(|_| settings.fulfilment.interval_secs > 0)
        .map(|access| {
            AbortOnDrop(tokio::spawn(fulfilment::fulfilment_loop(
                access,
                pool.clone(),
                keyring.clone(),
                Duration::from_secs(settings.fulfilment.interval_secs),
            )))
        });
    let _stock = salla
        .clone()
        .filter(|_| settings.stock.push_interval_secs > 0)
        .map(|access| {
            AbortOnDrop(tokio::spawn(stock::stock_loop(
                access,
                pool.clone(),
                keyring.clone(),
                Duration::from_secs(settings.stock.push_interval_secs),
                settings.stock.batch_size.max(1),
            )))
        });
    let _token_refresh = salla.map(|access| {
        AbortOnDrop(tokio::spawn(salla::refresh_loop(
            access,
            pool.clone(),
            Duration::from_secs(settings.salla.token_refresh_interval_secs.max(1)),
            Duration::from_secs(settings.salla.token_refresh_ahead_secs),
        )))
    });
    let retention_queue = queue.clone();
    // Every metric of this process carries its identity (when this process installs the recorder:
    // `salla-odoo run` shares one with its ingest).
    let metrics = salla_odoo_core::telemetry::metrics_handle_labelled(&[("worker", &id)]);
    let worker = Worker::with_limits(id, queue, pool.clone(), handler, config, limits);
    let _retention = (settings.retention.interval_secs > 0).then(|| {
        let policy = salla_odoo_store::retention::Policy::from_settings(&settings.retention);
        AbortOnDrop(tokio::spawn(retention_loop(
            pool,
            retention_queue,
            policy,
            Duration::from_secs(settings.retention.interval_secs),
        )))
    });
    if let Some(listener) = metrics_listener {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, "worker metrics listening");
        }
        tokio::spawn(serve_metrics(listener, metrics));
    }
    // The run loop goes on a runtime thread: awaited here it would run wherever the caller polls
    // (a binary's `block_on`, on a thread of its own), and every fetch, every job's end and every
    // timer of the loop would cost a wake-up across threads. Dropping this future stops it.
    let mut run = AbortOnDrop(tokio::spawn(async move { worker.run(shutdown).await }));
    let result = match (&mut run.0).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(WorkerError::Stopped(e.to_string())),
    };
    // The last jobs' spans, before the process exits (a no-op with traces off).
    let _ = tokio::task::spawn_blocking(salla_odoo_core::telemetry::flush).await;
    result
}

async fn serve_metrics(listener: tokio::net::TcpListener, handle: PrometheusHandle) {
    use axum::{Router, routing::get};
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/metrics",
            get(move || {
                let handle = handle.clone();
                async move {
                    handle.run_upkeep();
                    handle.render()
                }
            }),
        );
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "metrics server stopped");
    }
}
