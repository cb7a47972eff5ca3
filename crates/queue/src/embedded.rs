//! The embedded queue: one SQLite file, for `salla-odoo run` (one process, no servers).
//!
//! # Data layout
//! The push side is apalis-sqlite 1.0: its migrations create the tables and jobs are inserted with its
//! own `queries::push_tasks` under the queue name `{ns}:sync` (column `job_type`), so the file is an
//! ordinary apalis-sqlite database. The consuming side is ours, for the reasons given in
//! [`crate::consumer`] (bounded starts, our own retry schedule, heartbeats while draining).
//!
//! | table | row | our use of the columns |
//! |---|---|---|
//! | `Jobs` | one job | `id` job id, `job` the [`SyncJob`] JSON, `status` `Pending` / `Running` / `Done` / `Killed` (dead-lettered), `run_at` due time (Unix s), `attempts` starts since the last outcome, `lock_by`/`lock_at` the worker holding it, `done_at`, `idempotency_key` the dedupe key (unique per queue) |
//! | `Workers` | one worker | `id`, `last_seen` the heartbeat in Unix **milliseconds** (apalis writes seconds; only our consumer reads it, and orphan timeouts below a second are tested) |
//! | `salla_queue_counters` | one counter | jobs finished / dead-lettered since the file was created |
//! | `salla_queue_entity` | one unfinished job that may be coalesced | `id` the job's id, `entity` `{merchant}:{kind}:{id}` (indexed): the entity index of [`crate::consumer`]'s coalescing, written in the enqueue's transaction, deleted at the job's outcome |
//!
//! # Idle pickup
//! An enqueue, a reschedule, a give-back, a release and an orphan re-queue wake the process's
//! waiting workers at once through a `tokio::sync::watch` channel (see [`crate::wake`]); a fetch
//! that leaves room also answers when the next pending job comes due. `run_at` stays in whole
//! seconds (apalis-sqlite's column and its push), so a reschedule is rounded **up** to the next
//! second: a deferred job never runs sooner than asked, and at most a second later.
//!
//! # Failure handling
//! Every state change is one SQL statement or one transaction that starts by writing (so SQLite's
//! busy handler applies and no reader-to-writer upgrade can deadlock), in WAL mode with
//! `synchronous = FULL`: a job is durable when [`SqliteQueue::enqueue`] returns, and a SIGKILL
//! loses nothing. Finished jobs keep their row (with the payload emptied) for the dedupe window, so
//! a resend within the window is still a duplicate; [`SqliteQueue::vacuum`] deletes them after it.
//! Only one process may use the file: `salla-odoo run` holds a lock on the data directory. On start
//! that process re-queues every job left `Running` by a previous run ([`SqliteQueue::requeue_orphans`]
//! with a zero timeout, before its workers register).

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use apalis_core::task::{builder::TaskBuilder, task_id::TaskId};
use salla_odoo_core::{MerchantId, SyncJob, SyncJobV1};
use sqlx::sqlite::SqliteSynchronous;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use crate::consumer::Lease;
use crate::{DedupeKey, Enqueued, QueueError, QueueStats};

/// The SQLite queue. Cheap to clone.
#[derive(Clone)]
pub struct SqliteQueue {
    pool: SqlitePool,
    namespace: String,
    queue: String,
    dedupe_window: Duration,
    /// Bumped whenever work becomes available (see [`crate::wake`]).
    wake: std::sync::Arc<tokio::sync::watch::Sender<u64>>,
}

impl std::fmt::Debug for SqliteQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteQueue")
            .field("namespace", &self.namespace)
            .finish()
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64
}

/// The `entity` column of `salla_queue_entity` for a job that may be coalesced.
fn entity_of<D>(job: &SyncJobV1<D>) -> Option<String> {
    let e = job.coalesce_entity()?;
    Some(format!("{}:{}:{}", job.merchant, e.kind.as_str(), e.id))
}

impl SqliteQueue {
    /// Open (creating if needed) the queue file at `path` and apply apalis-sqlite's migrations.
    pub async fn open(
        path: &Path,
        namespace: &str,
        dedupe_window: Duration,
    ) -> Result<Self, QueueError> {
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(|e| QueueError::Config(e.to_string()))?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        // Never pinged before use: a local file cannot go stale, and a ping is a thread hop.
        let pool = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        // Not `SqliteStorage::setup`: it turns `synchronous` off, which would trade away durability.
        apalis_sqlite::SqliteStorage::<()>::migrations()
            .run(&pool)
            .await
            .map_err(sqlx::Error::from)?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS salla_queue_counters (
                name TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL DEFAULT 0)",
        )
        .execute(&pool)
        .await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS salla_queue_entity (
                id TEXT PRIMARY KEY NOT NULL, entity TEXT NOT NULL)",
        )
        .execute(&pool)
        .await?;
        sqlx::query(
            "CREATE INDEX IF NOT EXISTS salla_queue_entity_by_entity ON salla_queue_entity (entity)",
        )
        .execute(&pool)
        .await?;
        Ok(Self {
            pool,
            namespace: namespace.to_owned(),
            queue: format!("{namespace}:sync"),
            dedupe_window,
            wake: std::sync::Arc::new(tokio::sync::watch::channel(0).0),
        })
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The pool, for tests that inspect the file.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Wake-ups for one worker of this process (see [`crate::wake`]).
    pub fn wakeups(&self) -> crate::Wakeups {
        crate::Wakeups::local(self.wake.subscribe())
    }

    /// Tell the waiting workers that work may be available.
    fn wake(&self) {
        self.wake.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Queue `job` unless the same delivery was queued within the dedupe window.
    pub async fn enqueue<D: serde::Serialize + Sync>(
        &self,
        job: &SyncJob<D>,
        dedupe: &DedupeKey,
    ) -> Result<Enqueued, QueueError> {
        let id = job.v1().id.to_string();
        let task = TaskBuilder::new(job.to_json())
            .task_id(TaskId::from_str(&id).map_err(|e| QueueError::Protocol(e.to_string()))?)
            .idempotency_key(dedupe.as_str())
            .build();
        let cutoff = now_secs() - self.dedupe_window.as_secs() as i64;
        let mut tx = self.pool.begin().await?;
        // A claim older than the window no longer counts: forget its finished row first.
        sqlx::query(
            "DELETE FROM Jobs WHERE job_type = $1 AND idempotency_key = $2
               AND status IN ('Done', 'Killed') AND done_at < $3",
        )
        .bind(&self.queue)
        .bind(dedupe.as_str())
        .bind(cutoff)
        .execute(&mut *tx)
        .await?;
        apalis_sqlite::queries::push_tasks(&mut *tx, &self.queue, &[task]).await?;
        let holder: Option<String> =
            sqlx::query_scalar("SELECT id FROM Jobs WHERE job_type = $1 AND idempotency_key = $2")
                .bind(&self.queue)
                .bind(dedupe.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        if holder.as_deref() == Some(id.as_str())
            && let Some(entity) = entity_of(job.v1())
        {
            sqlx::query("INSERT OR IGNORE INTO salla_queue_entity (id, entity) VALUES ($1, $2)")
                .bind(&id)
                .bind(entity)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(if holder.as_deref() == Some(id.as_str()) {
            self.wake();
            Enqueued::Queued
        } else {
            Enqueued::Duplicate
        })
    }

    /// The file answers.
    pub async fn ping(&self) -> Result<(), QueueError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Announce (or refresh) a worker. Never moves `last_seen` back: the heartbeat task's write can
    /// land after a later fetch's (both wait for the file's write lock), and an idle worker whose
    /// last-seen went back looked as if it had not fetched since.
    pub async fn heartbeat(&self, worker: &str) -> Result<(), QueueError> {
        sqlx::query(
            "INSERT INTO Workers (id, worker_type, storage_name, layers, last_seen, started_at)
             VALUES ($1, $2, 'salla-odoo', '', $3, $3)
             ON CONFLICT (id) DO UPDATE SET last_seen = max(Workers.last_seen, excluded.last_seen)",
        )
        .bind(worker)
        .bind(&self.queue)
        .bind(now_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Lease up to `max` due jobs to `worker`, oldest first.
    pub async fn fetch(&self, worker: &str, max: usize) -> Result<Vec<Lease>, QueueError> {
        Ok(self.poll(worker, max).await?.leases)
    }

    /// [`SqliteQueue::fetch`], also saying when the next scheduled job comes due.
    pub async fn poll(
        &self,
        worker: &str,
        max: usize,
    ) -> Result<crate::consumer::Fetched, QueueError> {
        self.heartbeat(worker).await?;
        let now = now_secs();
        let rows: Vec<(String, Vec<u8>, i64, i64)> = sqlx::query_as(
            "UPDATE Jobs SET status = 'Running', lock_by = $1, lock_at = $2, attempts = attempts + 1
             WHERE id IN (SELECT id FROM Jobs
                          WHERE job_type = $3 AND status = 'Pending' AND run_at <= $2
                          ORDER BY run_at, rowid LIMIT $4)
             RETURNING id, job, attempts, run_at",
        )
        .bind(worker)
        .bind(now)
        .bind(&self.queue)
        .bind(i64::try_from(max).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        let mut rows = rows;
        rows.sort_by_key(|r| r.3);
        let leases: Vec<Lease> = rows
            .into_iter()
            .map(|(id, data, starts, _)| {
                Lease::decode(id, &data, u32::try_from(starts).unwrap_or(u32::MAX))
            })
            .collect();
        // Only an idle worker needs to know (a full batch fetches again at once).
        let next_due = if leases.len() < max {
            let next: Option<i64> = sqlx::query_scalar(
                "SELECT min(run_at) FROM Jobs WHERE job_type = $1 AND status = 'Pending'",
            )
            .bind(&self.queue)
            .fetch_one(&self.pool)
            .await?;
            next.map(|at| {
                let at = Duration::from_secs(u64::try_from(at).unwrap_or_default());
                at.saturating_sub(
                    SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .unwrap_or_default(),
                )
            })
        } else {
            None
        };
        Ok(crate::consumer::Fetched { leases, next_due })
    }

    /// The job reached its outcome: keep only its dedupe claim. `false` when the lease was no longer
    /// this worker's.
    pub async fn ack(&self, worker: &str, id: &str) -> Result<bool, QueueError> {
        self.finish(worker, id, "Done", "finished").await
    }

    /// The job was dead-lettered in the outbox: forget it here.
    pub async fn dead(&self, worker: &str, id: &str) -> Result<bool, QueueError> {
        self.finish(worker, id, "Killed", "deadlettered").await
    }

    async fn finish(
        &self,
        worker: &str,
        id: &str,
        status: &str,
        counter: &str,
    ) -> Result<bool, QueueError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE Jobs SET status = $1, done_at = $2, job = X'', lock_by = NULL, attempts = 0
             WHERE id = $3 AND lock_by = $4 AND status = 'Running'",
        )
        .bind(status)
        .bind(now_secs())
        .bind(id)
        .bind(worker)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query("DELETE FROM salla_queue_entity WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO salla_queue_counters (name, value) VALUES ($1, 1)
             ON CONFLICT (name) DO UPDATE SET value = value + 1",
        )
        .bind(counter)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Take the other waiting jobs of `job`'s entity that may be coalesced with it (see
    /// [`crate::consumer`]) as leases of `worker`: at most `max`, oldest first.
    pub async fn claim_coalesced(
        &self,
        worker: &str,
        job: &SyncJobV1,
        max: usize,
    ) -> Result<Vec<Lease>, QueueError> {
        let Some(entity) = entity_of(job) else {
            return Ok(Vec::new());
        };
        let now = now_secs();
        let mut rows: Vec<(String, Vec<u8>, i64, i64)> = sqlx::query_as(
            "UPDATE Jobs SET status = 'Running', lock_by = $1, lock_at = $2, attempts = attempts + 1
             WHERE id IN (SELECT j.id FROM salla_queue_entity e JOIN Jobs j ON j.id = e.id
                          WHERE e.entity = $3 AND j.job_type = $4 AND j.status = 'Pending'
                          ORDER BY j.run_at, j.rowid LIMIT $5)
             RETURNING id, job, attempts, run_at",
        )
        .bind(worker)
        .bind(now)
        .bind(entity)
        .bind(&self.queue)
        .bind(i64::try_from(max).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.sort_by_key(|r| r.3);
        Ok(rows
            .into_iter()
            .map(|(id, data, starts, _)| {
                Lease::decode(id, &data, u32::try_from(starts).unwrap_or(u32::MAX))
            })
            .collect())
    }

    /// Put the job back with new contents, to run no sooner than `delay` from now: `run_at` is in
    /// whole seconds (apalis-sqlite's column), so it is rounded **up** to the next second, and the
    /// waiting workers are woken to learn when (see [`crate::wake`]): a delay costs at most a
    /// second more than asked, never a poll interval.
    pub async fn reschedule(
        &self,
        worker: &str,
        id: &str,
        job: &SyncJob,
        delay: Duration,
    ) -> Result<bool, QueueError> {
        let at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            + delay;
        // Rounded up, never sooner than asked; without a delay, due at once.
        let run_at = at.as_secs() as i64 + i64::from(!delay.is_zero() && at.subsec_nanos() > 0);
        let done = sqlx::query(
            "UPDATE Jobs SET status = 'Pending', job = $1, run_at = $2, lock_by = NULL,
                             lock_at = NULL, attempts = 0
             WHERE id = $3 AND lock_by = $4 AND status = 'Running'",
        )
        .bind(job.to_json())
        .bind(run_at)
        .bind(id)
        .bind(worker)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            self.wake();
        }
        Ok(done.rows_affected() == 1)
    }

    /// Re-queue the jobs of every worker not heard from for `orphan_timeout` (and of no worker at
    /// all), first in line; forget those workers.
    pub async fn requeue_orphans(&self, orphan_timeout: Duration) -> Result<u64, QueueError> {
        let cutoff = now_millis() - orphan_timeout.as_millis() as i64;
        let mut tx = self.pool.begin().await?;
        let moved = sqlx::query(
            "UPDATE Jobs SET status = 'Pending', lock_by = NULL, lock_at = NULL, run_at = 0
             WHERE job_type = $1 AND status = 'Running'
               AND (lock_by IS NULL OR lock_by IN (SELECT id FROM Workers WHERE last_seen < $2)
                    OR $3)",
        )
        .bind(&self.queue)
        .bind(cutoff)
        .bind(orphan_timeout.is_zero())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "DELETE FROM Workers WHERE last_seen < $1
               AND id NOT IN (SELECT lock_by FROM Jobs WHERE lock_by IS NOT NULL)",
        )
        .bind(if orphan_timeout.is_zero() {
            i64::MAX
        } else {
            cutoff
        })
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        if moved > 0 {
            self.wake();
        }
        Ok(moved)
    }

    /// Hand back these leases of `worker`, first in line (see `RedisQueue::give_back`).
    pub async fn give_back(&self, worker: &str, ids: &[String]) -> Result<u64, QueueError> {
        let mut moved = 0;
        for id in ids {
            moved += sqlx::query(
                "UPDATE Jobs SET status = 'Pending', lock_by = NULL, lock_at = NULL, run_at = 0
                 WHERE id = $1 AND lock_by = $2 AND status = 'Running'",
            )
            .bind(id)
            .bind(worker)
            .execute(&self.pool)
            .await?
            .rows_affected();
        }
        if moved > 0 {
            self.wake();
        }
        Ok(moved)
    }

    /// A stopping worker hands its unfinished jobs back at once and unregisters.
    pub async fn release(&self, worker: &str) -> Result<u64, QueueError> {
        let mut tx = self.pool.begin().await?;
        let moved = sqlx::query(
            "UPDATE Jobs SET status = 'Pending', lock_by = NULL, lock_at = NULL, run_at = 0
             WHERE lock_by = $1 AND status = 'Running'",
        )
        .bind(worker)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query("DELETE FROM Workers WHERE id = $1")
            .bind(worker)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        if moved > 0 {
            self.wake();
        }
        Ok(moved)
    }

    /// Delete finished rows whose dedupe window has passed; returns how many.
    pub async fn vacuum(&self) -> Result<u64, QueueError> {
        // Entity rows of jobs that are gone (dropped with their store).
        sqlx::query(
            "DELETE FROM salla_queue_entity
             WHERE id NOT IN (SELECT id FROM Jobs WHERE status IN ('Pending', 'Running'))",
        )
        .execute(&self.pool)
        .await?;
        let cutoff = now_secs() - self.dedupe_window.as_secs() as i64;
        Ok(sqlx::query(
            "DELETE FROM Jobs WHERE job_type = $1 AND status IN ('Done', 'Killed') AND done_at < $2",
        )
        .bind(&self.queue)
        .bind(cutoff)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    async fn jobs_where(&self, condition: &str) -> Result<Vec<(String, SyncJob)>, QueueError> {
        let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT id, job FROM Jobs WHERE job_type = $1 AND {condition} ORDER BY run_at, rowid"
        )))
        .bind(&self.queue)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, data)| SyncJob::from_json(&data).ok().map(|j| (id, j)))
            .collect())
    }

    /// Every job waiting to run (queued or scheduled), oldest first. Undecodable entries are skipped.
    pub async fn waiting_jobs(&self) -> Result<Vec<SyncJob>, QueueError> {
        Ok(self
            .jobs_where("status = 'Pending'")
            .await?
            .into_iter()
            .map(|(_, j)| j)
            .collect())
    }

    /// Every job a worker holds right now.
    pub async fn inflight_jobs(&self) -> Result<Vec<SyncJob>, QueueError> {
        Ok(self
            .jobs_where("status = 'Running'")
            .await?
            .into_iter()
            .map(|(_, j)| j)
            .collect())
    }

    /// Job ids currently leased by `worker`.
    pub async fn inflight(&self, worker: &str) -> Result<Vec<String>, QueueError> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM Jobs WHERE lock_by = $1 AND status = 'Running' ORDER BY rowid",
        )
        .bind(worker)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Counts by state, and unfinished jobs by kind and by store.
    /// See [`crate::QueueDepth`].
    pub async fn depth(&self, alive_within: Duration) -> Result<crate::QueueDepth, QueueError> {
        let now = now_secs();
        let (ready, scheduled, in_flight, oldest): (i64, i64, i64, Option<i64>) = sqlx::query_as(
            "SELECT
                coalesce(sum(status = 'Pending' AND run_at <= $2), 0),
                coalesce(sum(status = 'Pending' AND run_at > $2), 0),
                coalesce(sum(status = 'Running'), 0),
                min(CASE WHEN status = 'Pending' AND run_at <= $2 THEN run_at END)
             FROM Jobs WHERE job_type = $1",
        )
        .bind(&self.queue)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        let alive: i64 = sqlx::query_scalar("SELECT count(*) FROM Workers WHERE last_seen >= $1")
            .bind(now_millis() - alive_within.as_millis() as i64)
            .fetch_one(&self.pool)
            .await?;
        let n = |v: i64| u64::try_from(v).unwrap_or_default();
        Ok(crate::QueueDepth {
            ready: n(ready),
            scheduled: n(scheduled),
            in_flight: n(in_flight),
            oldest_ready_age_secs: oldest.map_or(0, |o| n(now - o)),
            workers_alive: n(alive),
        })
    }

    pub async fn stats(&self) -> Result<QueueStats, QueueError> {
        let now = now_secs();
        let (queued, scheduled, in_flight): (i64, i64, i64) = sqlx::query_as(
            "SELECT
                coalesce(sum(status = 'Pending' AND run_at <= $2), 0),
                coalesce(sum(status = 'Pending' AND run_at > $2), 0),
                coalesce(sum(status = 'Running'), 0)
             FROM Jobs WHERE job_type = $1",
        )
        .bind(&self.queue)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        let counters: Vec<(String, i64)> =
            sqlx::query_as("SELECT name, value FROM salla_queue_counters")
                .fetch_all(&self.pool)
                .await?;
        let counter = |name: &str| {
            counters
                .iter()
                .find(|(n, _)| n == name)
                .map_or(0, |(_, v)| *v)
        };
        let workers: i64 = sqlx::query_scalar("SELECT count(*) FROM Workers")
            .fetch_one(&self.pool)
            .await?;
        let n = |v: i64| u64::try_from(v).unwrap_or_default();
        let mut stats = QueueStats {
            namespace: self.namespace.clone(),
            queued: n(queued),
            scheduled: n(scheduled),
            in_flight: n(in_flight),
            done: n(counter("finished")),
            dead: n(counter("deadlettered")),
            workers: n(workers),
            by_kind: BTreeMap::new(),
            by_store: BTreeMap::new(),
        };
        let unfinished = self.jobs_where("status IN ('Pending', 'Running')").await?;
        stats.count_unfinished(unfinished.iter().map(|(_, j)| j));
        Ok(stats)
    }

    /// Remaining lifetime of a dedupe claim (None when absent).
    pub async fn dedupe_ttl(&self, dedupe: &DedupeKey) -> Result<Option<Duration>, QueueError> {
        let row: Option<(String, Option<i64>)> = sqlx::query_as(
            "SELECT status, done_at FROM Jobs WHERE job_type = $1 AND idempotency_key = $2",
        )
        .bind(&self.queue)
        .bind(dedupe.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.and_then(|(_, done_at)| match done_at {
            // Unfinished: the claim lasts at least until the job's outcome plus the window.
            None => Some(self.dedupe_window),
            Some(at) => {
                let left = at + self.dedupe_window.as_secs() as i64 - now_secs();
                (left >= 0).then(|| Duration::from_secs(left as u64))
            }
        }))
    }

    /// Remove every waiting job of `merchant`; returns how many. With `dry_run`, only counts.
    pub async fn drop_merchant_jobs(
        &self,
        merchant: MerchantId,
        dry_run: bool,
    ) -> Result<u64, QueueError> {
        let ids: Vec<String> = self
            .jobs_where("status = 'Pending'")
            .await?
            .into_iter()
            .filter(|(_, j)| j.v1().merchant == merchant)
            .map(|(id, _)| id)
            .collect();
        if dry_run || ids.is_empty() {
            return Ok(ids.len() as u64);
        }
        let mut removed = 0;
        for id in ids {
            removed += sqlx::query("DELETE FROM Jobs WHERE id = $1 AND status = 'Pending'")
                .bind(id)
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        Ok(removed)
    }

    /// Delete the finished rows (dedupe claims) and the entity rows that name `merchant`.
    pub async fn forget_merchant(&self, merchant: MerchantId) -> Result<u64, QueueError> {
        let entities =
            sqlx::query("DELETE FROM salla_queue_entity WHERE substr(entity, 1, length($1)) = $1")
                .bind(format!("{merchant}:"))
                .execute(&self.pool)
                .await?
                .rows_affected();
        Ok(entities
            + sqlx::query(
                "DELETE FROM Jobs WHERE job_type = $1 AND status IN ('Done', 'Killed')
               AND substr(idempotency_key, 1, length($2)) = $2",
            )
            .bind(&self.queue)
            .bind(format!("{merchant}:"))
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}
