//! The consuming side of the queue: leases, acknowledgements, delayed retries and crash recovery.
//!
//! The push side is apalis-redis (see the crate docs); the consuming side is ours, over the same keys,
//! because apalis-redis 1.0's worker cannot keep three of our invariants without fighting it: it stops
//! heartbeating while it drains (so another worker may run a draining worker's job concurrently), it
//! never counts how often a job was started (a job that kills its worker loops forever), and its
//! retries follow its own schedule. Here every state change is one Lua script, so it is atomic.
//!
//! # Keys (queue `q` = `ns:sync`, in addition to the push side's)
//! | key | type | holds |
//! |---|---|---|
//! | `q:meta:{id}` field `starts` | HASH field | times the job was handed to a worker since its last outcome |
//! | `q:workers` | ZSET | worker id → last heartbeat (Unix ms) |
//! | `q:inflight:{worker}` | SET | job ids leased by that worker |
//! | `q:finished`, `q:deadlettered` | STRING | counters of jobs acknowledged / dead-lettered |
//! | `q:wake` | LIST | wake-up tokens for idle workers (see [`crate::wake`]): pushed by every reschedule, give-back, release and orphan re-queue that put a job back, and by the push |
//! | `q:entity:{merchant}:{kind}:{id}` | SET | the entity index: ids of unfinished jobs of that entity that may be coalesced (written at push, see `pusher`; expires [`INDEX_TTL_SECS`] after the entity's last push) |
//!
//! # Life of a job
//! `scheduled` → (due) `active` → `inflight:{w}` → one of: **ack** (data and meta deleted: finished
//! jobs leave nothing behind to vacuum), **reschedule** (new job JSON, back into `scheduled` at
//! `now + delay` to the millisecond, `starts` reset, idle workers woken), **dead** (after the outbox row is written in Postgres). A worker
//! heartbeats every few seconds, also while draining; any worker re-queues the in-flight jobs of a
//! worker silent for longer than the orphan timeout. Every ack/reschedule/dead first removes the id
//! from the caller's in-flight set and does nothing if it was not there (the job was taken over after
//! an orphan timeout and the other copy decides). **give_back** moves named leases of a live
//! worker back to `active`: the worker calls it for leases it holds in Redis but never received.
//!
//! # Coalescing ([`RedisQueue::claim_coalesced`])
//! A worker that holds a job's entity lock may take the other *waiting* jobs of the same entity
//! (listed in the entity index, found in `scheduled` — due or not — or in `active`) into its own
//! in-flight set in one script: their `starts` count up as at a fetch, so from then on they are
//! ordinary leases of that worker (acked, rescheduled, dead-lettered, given back or re-queued as
//! orphans one by one). A job in another worker's in-flight set is in neither list and is never
//! taken. The index is advisory: ids whose job is gone are pruned by the claim and removed at the
//! job's ack or dead mark; an entity whose index expired or was never written simply does not
//! coalesce.

use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::Script;
use salla_odoo_core::{SyncJob, SyncJobV1};

use crate::{QueueError, RedisQueue};

/// A job handed to a worker.
#[derive(Debug, Clone)]
pub struct Lease {
    /// The queue's id for this job (stable across retries).
    pub id: String,
    /// The job, or why it cannot be decoded (the raw text is kept for the dead letter).
    pub job: Result<SyncJob, Undecodable>,
    /// How many times it has been handed out since its last outcome (1 on a normal first run).
    pub starts: u32,
}

impl Lease {
    /// A lease of the entry `id` holding `data` (either backend).
    pub(crate) fn decode(id: String, data: &[u8], starts: u32) -> Lease {
        let job = SyncJob::from_json(data).map_err(|e| Undecodable {
            error: if data.is_empty() {
                "the job's data is missing from the queue".into()
            } else {
                e.to_string()
            },
            raw: String::from_utf8_lossy(data).into_owned(),
        });
        Lease { id, job, starts }
    }
}

/// What a fetch answered.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    /// The jobs now leased to the worker.
    pub leases: Vec<Lease>,
    /// How long until the first job still scheduled comes due (zero when it already is; `None`
    /// when nothing is scheduled): an idle worker looks again no later than that.
    pub next_due: Option<Duration>,
}

/// A queue entry that is not a job this version understands.
#[derive(Debug, Clone)]
pub struct Undecodable {
    pub error: String,
    pub raw: String,
}

// Built once: `Script::new` hashes the source (SHA-1) for EVALSHA, which is per-call work otherwise.
static FETCH_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(FETCH));
static ACK_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(ACK));
static RESCHEDULE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(RESCHEDULE));
static REQUEUE_ORPHANS_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(REQUEUE_ORPHANS));
static RELEASE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(RELEASE));
static GIVE_BACK_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(GIVE_BACK));
static CLAIM_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(CLAIM));

/// Lifetime of an entity index after its last push: long enough for any backlog or retry.
pub(crate) const INDEX_TTL_SECS: i64 = 7 * 86_400;

const CLAIM: &str = r#"
-- KEYS[1] entity index SET, KEYS[2] scheduled ZSET, KEYS[3] active LIST, KEYS[4] inflight SET of
-- this worker, KEYS[5] data HASH
-- ARGV[1] meta key prefix, ARGV[2] worker id, ARGV[3] now (Unix s), ARGV[4] max jobs
local ids = redis.call('SMEMBERS', KEYS[1])
local out = {}
local taken = 0
for _, id in ipairs(ids) do
  if taken >= tonumber(ARGV[4]) then break end
  if redis.call('HEXISTS', KEYS[5], id) == 0 then
    redis.call('SREM', KEYS[1], id)
  else
    local moved = redis.call('ZREM', KEYS[2], id)
    if moved == 0 then moved = redis.call('LREM', KEYS[3], 0, id) end
    if moved > 0 then
      redis.call('SADD', KEYS[4], id)
      local meta = ARGV[1] .. id
      local starts = redis.call('HINCRBY', meta, 'starts', 1)
      redis.call('HSET', meta, 'status', 'Running', 'lock_by', ARGV[2], 'lock_at', ARGV[3])
      table.insert(out, id)
      table.insert(out, redis.call('HGET', KEYS[5], id) or '')
      table.insert(out, starts)
      taken = taken + 1
    end
  end
end
return out
"#;

const FETCH: &str = r#"
-- KEYS[1] scheduled ZSET, KEYS[2] active LIST, KEYS[3] inflight SET of this worker, KEYS[4] data HASH,
-- KEYS[5] workers ZSET
-- ARGV[1] now (Unix s), ARGV[2] max jobs, ARGV[3] worker id, ARGV[4] meta key prefix, ARGV[5] now (ms),
-- ARGV[6] now (Unix s with milliseconds: what scores compare with)
-- Answers {next, id, data, starts, id, data, starts, …}: next is the score of the first job still
-- scheduled ('' when none), so that an idle worker knows when to look again.
redis.call('ZADD', KEYS[5], 'GT', ARGV[5], ARGV[3])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[6], 'LIMIT', 0, 1000)
if #due > 0 then
  redis.call('RPUSH', KEYS[2], unpack(due))
  redis.call('ZREM', KEYS[1], unpack(due))
end
local out = {''}
for i = 1, tonumber(ARGV[2]) do
  local id = redis.call('LPOP', KEYS[2])
  if not id then break end
  redis.call('SADD', KEYS[3], id)
  local meta = ARGV[4] .. id
  local starts = redis.call('HINCRBY', meta, 'starts', 1)
  redis.call('HSET', meta, 'status', 'Running', 'lock_by', ARGV[3], 'lock_at', ARGV[1])
  local data = redis.call('HGET', KEYS[4], id)
  table.insert(out, id)
  table.insert(out, data or '')
  table.insert(out, starts)
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if first[2] then out[1] = first[2] end
return out
"#;

const ACK: &str = r#"
-- KEYS[1] inflight SET of this worker, KEYS[2] data HASH, KEYS[3] counter to increment
-- ARGV[1] job id, ARGV[2] meta key prefix, ARGV[3] the job's entity index ('' for none)
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return 0 end
if ARGV[3] ~= '' then redis.call('SREM', ARGV[3], ARGV[1]) end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('DEL', ARGV[2] .. ARGV[1])
redis.call('INCR', KEYS[3])
return 1
"#;

const RESCHEDULE: &str = r#"
-- KEYS[1] inflight SET of this worker, KEYS[2] data HASH, KEYS[3] scheduled ZSET, KEYS[4] wake LIST
-- ARGV[1] job id, ARGV[2] meta key prefix, ARGV[3] new job JSON, ARGV[4] run at (Unix s with
-- milliseconds), ARGV[5] most wake tokens
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('HSET', ARGV[2] .. ARGV[1], 'status', 'Scheduled', 'starts', 0)
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
redis.call('LPUSH', KEYS[4], 1)
redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[5]) - 1)
return 1
"#;

const REQUEUE_ORPHANS: &str = r#"
-- KEYS[1] workers ZSET, KEYS[2] active LIST, KEYS[3] wake LIST
-- ARGV[1] cutoff (Unix ms): workers last seen before it are dead, ARGV[2] inflight key prefix,
-- ARGV[3] most wake tokens
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
local moved = 0
for _, w in ipairs(dead) do
  local key = ARGV[2] .. w
  local ids = redis.call('SMEMBERS', key)
  if #ids > 0 then
    -- First in line: these jobs have waited longest.
    redis.call('LPUSH', KEYS[2], unpack(ids))
    moved = moved + #ids
  end
  redis.call('DEL', key)
  redis.call('ZREM', KEYS[1], w)
end
if moved > 0 then
  redis.call('LPUSH', KEYS[3], 1)
  redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[3]) - 1)
end
return moved
"#;

const DROP_JOBS: &str = r#"
-- KEYS[1] scheduled ZSET, KEYS[2] active LIST, KEYS[3] data HASH
-- ARGV[1] meta key prefix, ARGV[2..] job ids (waiting, not leased) to remove
local removed = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  local gone = redis.call('ZREM', KEYS[1], id) + redis.call('LREM', KEYS[2], 0, id)
  if gone > 0 then
    redis.call('HDEL', KEYS[3], id)
    redis.call('DEL', ARGV[1] .. id)
    removed = removed + 1
  end
end
return removed
"#;

const GIVE_BACK: &str = r#"
-- KEYS[1] inflight SET of this worker, KEYS[2] active LIST, KEYS[3] wake LIST; ARGV[1..] job ids
local moved = 0
for i = 1, #ARGV do
  if redis.call('SREM', KEYS[1], ARGV[i]) == 1 then
    redis.call('LPUSH', KEYS[2], ARGV[i])
    moved = moved + 1
  end
end
if moved > 0 then redis.call('LPUSH', KEYS[3], 1) end
return moved
"#;

const RELEASE: &str = r#"
-- KEYS[1] workers ZSET, KEYS[2] active LIST, KEYS[3] inflight SET of this worker, KEYS[4] wake LIST
-- ARGV[1] worker id
local ids = redis.call('SMEMBERS', KEYS[3])
if #ids > 0 then
  redis.call('LPUSH', KEYS[2], unpack(ids))
  redis.call('LPUSH', KEYS[4], 1)
end
redis.call('DEL', KEYS[3])
redis.call('ZREM', KEYS[1], ARGV[1])
return #ids
"#;

fn protocol(e: impl std::fmt::Display) -> QueueError {
    QueueError::Protocol(e.to_string())
}

/// Leases from a script's flat answer `[id, data, starts, id, data, starts, …]`.
fn leases_of(raw: &[redis::Value]) -> Result<Vec<Lease>, QueueError> {
    let mut leases = Vec::with_capacity(raw.len() / 3);
    for triple in raw.chunks(3) {
        let [id, data, starts] = triple else { break };
        let id: String = redis::from_redis_value_ref(id).map_err(protocol)?;
        let data: Vec<u8> = redis::from_redis_value_ref(data).map_err(protocol)?;
        let starts: u32 = redis::from_redis_value_ref(starts).map_err(protocol)?;
        leases.push(Lease::decode(id, &data, starts));
    }
    Ok(leases)
}

fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// A score of `scheduled`: Unix seconds with milliseconds as a fraction (see the crate docs, "Scores").
pub(crate) fn score(t: Duration) -> String {
    format!("{}.{:03}", t.as_secs(), t.subsec_millis())
}

/// How long from `now` until `score` (a score as Redis prints it).
fn until_score(score: &str, now: Duration) -> Option<Duration> {
    let at: f64 = score.parse().ok()?;
    let at = Duration::try_from_secs_f64(at.max(0.0)).ok()?;
    Some(at.saturating_sub(now))
}

impl RedisQueue {
    fn inflight_key(&self, worker: &str) -> String {
        format!("{}:{worker}", self.apalis.inflight_jobs_set())
    }

    fn meta_prefix(&self) -> String {
        format!("{}:", self.apalis.job_meta_hash())
    }

    pub(crate) fn counter_key(&self, name: &str) -> String {
        format!("{}:sync:{name}", self.config.namespace)
    }

    /// Announce (or refresh) a worker. Called on every fetch and by the heartbeat task.
    pub async fn heartbeat(&self, worker: &str) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let key = self.apalis.workers_set();
        self.bounded(async {
            // GT (Redis 6.2): a heartbeat sent before a fetch but applied after it must not move the
            // worker's last-seen back.
            let _: i64 = redis::cmd("ZADD")
                .arg(key)
                .arg("GT")
                .arg(now().as_millis() as u64)
                .arg(worker)
                .query_async(&mut conn)
                .await?;
            Ok(())
        })
        .await
    }

    /// Lease up to `max` due jobs to `worker`.
    pub async fn fetch(&self, worker: &str, max: usize) -> Result<Vec<Lease>, QueueError> {
        Ok(self.poll(worker, max).await?.leases)
    }

    /// [`RedisQueue::fetch`], also saying when the next scheduled job comes due.
    pub async fn poll(&self, worker: &str, max: usize) -> Result<Fetched, QueueError> {
        let mut conn = self.conn.clone();
        let a = &self.apalis;
        let t = now();
        let raw: Vec<redis::Value> = self
            .bounded(async {
                Ok((*FETCH_SCRIPT)
                    .key(a.scheduled_jobs_set())
                    .key(a.active_jobs_list())
                    .key(self.inflight_key(worker))
                    .key(a.job_data_hash())
                    .key(a.workers_set())
                    .arg(t.as_secs())
                    .arg(max)
                    .arg(worker)
                    .arg(self.meta_prefix())
                    .arg(t.as_millis() as u64)
                    .arg(score(t))
                    .invoke_async(&mut conn)
                    .await?)
            })
            .await?;
        let Some((next, raw)) = raw.split_first() else {
            return Err(protocol("empty fetch answer"));
        };
        let next: String = redis::from_redis_value_ref(next).map_err(protocol)?;
        Ok(Fetched {
            leases: leases_of(raw)?,
            next_due: until_score(&next, t),
        })
    }

    /// The job reached its outcome (applied or skipped, recorded in Postgres): forget it.
    /// `false` when the lease was no longer this worker's.
    pub async fn ack(&self, worker: &str, id: &str) -> Result<bool, QueueError> {
        self.finish(worker, id, "finished", None).await
    }

    /// The job was dead-lettered in Postgres: forget it here.
    pub async fn dead(&self, worker: &str, id: &str) -> Result<bool, QueueError> {
        self.finish(worker, id, "deadlettered", None).await
    }

    /// [`RedisQueue::ack`] (or, `dead`, [`RedisQueue::dead`]) that also takes the job out of its
    /// entity index.
    pub async fn end(
        &self,
        worker: &str,
        id: &str,
        job: &SyncJobV1,
        dead: bool,
    ) -> Result<bool, QueueError> {
        let counter = if dead { "deadlettered" } else { "finished" };
        self.finish(worker, id, counter, self.entity_index(job))
            .await
    }

    /// The entity index of `job` (see the module docs), `None` when it never coalesces.
    pub(crate) fn entity_index<D>(&self, job: &SyncJobV1<D>) -> Option<String> {
        let e = job.coalesce_entity()?;
        Some(format!(
            "{}:sync:entity:{}:{}:{}",
            self.config.namespace,
            job.merchant,
            e.kind.as_str(),
            e.id
        ))
    }

    /// Take the other waiting jobs (queued or scheduled, never another worker's) that may be
    /// coalesced with `job`, which `worker` holds, into `worker`'s in-flight set: at most `max`.
    /// Each is an ordinary lease from then on (see the module docs).
    pub async fn claim_coalesced(
        &self,
        worker: &str,
        job: &SyncJobV1,
        max: usize,
    ) -> Result<Vec<Lease>, QueueError> {
        let Some(index) = self.entity_index(job) else {
            return Ok(Vec::new());
        };
        if max == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        let a = &self.apalis;
        let raw: Vec<redis::Value> = self
            .bounded(async {
                Ok((*CLAIM_SCRIPT)
                    .key(index)
                    .key(a.scheduled_jobs_set())
                    .key(a.active_jobs_list())
                    .key(self.inflight_key(worker))
                    .key(a.job_data_hash())
                    .arg(self.meta_prefix())
                    .arg(worker)
                    .arg(now().as_secs())
                    .arg(max)
                    .invoke_async(&mut conn)
                    .await?)
            })
            .await?;
        leases_of(&raw)
    }

    async fn finish(
        &self,
        worker: &str,
        id: &str,
        counter: &str,
        index: Option<String>,
    ) -> Result<bool, QueueError> {
        let mut conn = self.conn.clone();
        let done: i64 = self
            .bounded(async {
                Ok((*ACK_SCRIPT)
                    .key(self.inflight_key(worker))
                    .key(self.apalis.job_data_hash())
                    .key(self.counter_key(counter))
                    .arg(id)
                    .arg(self.meta_prefix())
                    .arg(index.as_deref().unwrap_or(""))
                    .invoke_async(&mut conn)
                    .await?)
            })
            .await?;
        Ok(done == 1)
    }

    /// Put the job back with new contents (next attempt, or same attempt after a busy lock), to run
    /// no sooner than `delay` from now (to the millisecond), and wake idle workers so that they
    /// learn when.
    pub async fn reschedule(
        &self,
        worker: &str,
        id: &str,
        job: &SyncJob,
        delay: Duration,
    ) -> Result<bool, QueueError> {
        let mut conn = self.conn.clone();
        // Rounded up, never sooner than asked; without a delay, due at once.
        let run_at = if delay.is_zero() {
            score(now())
        } else {
            score(now() + delay + Duration::from_nanos(999_999))
        };
        let done: i64 = self
            .bounded(async {
                Ok((*RESCHEDULE_SCRIPT)
                    .key(self.inflight_key(worker))
                    .key(self.apalis.job_data_hash())
                    .key(self.apalis.scheduled_jobs_set())
                    .key(self.wake_key())
                    .arg(id)
                    .arg(self.meta_prefix())
                    .arg(job.to_json())
                    .arg(run_at)
                    .arg(crate::wake::WAKE_CAP)
                    .invoke_async(&mut conn)
                    .await?)
            })
            .await?;
        Ok(done == 1)
    }

    /// Re-queue the in-flight jobs of every worker not heard from for `orphan_timeout`.
    pub async fn requeue_orphans(&self, orphan_timeout: Duration) -> Result<u64, QueueError> {
        let mut conn = self.conn.clone();
        let cutoff = now().saturating_sub(orphan_timeout).as_millis() as u64;
        self.bounded(async {
            Ok((*REQUEUE_ORPHANS_SCRIPT)
                .key(self.apalis.workers_set())
                .key(self.apalis.active_jobs_list())
                .key(self.wake_key())
                .arg(cutoff)
                .arg(format!("{}:", self.apalis.inflight_jobs_set()))
                .arg(crate::wake::WAKE_CAP)
                .invoke_async(&mut conn)
                .await?)
        })
        .await
    }

    /// Hand back these leases of `worker` (first in line): ones it holds in the queue but is not
    /// running, because the answer to its fetch never reached it. Returns how many moved.
    pub async fn give_back(&self, worker: &str, ids: &[String]) -> Result<u64, QueueError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut conn = self.conn.clone();
        self.bounded(async {
            let mut inv = (*GIVE_BACK_SCRIPT).key(self.inflight_key(worker));
            inv.key(self.apalis.active_jobs_list()).key(self.wake_key());
            for id in ids {
                inv.arg(id);
            }
            Ok(inv.invoke_async(&mut conn).await?)
        })
        .await
    }

    /// A stopping worker hands its unfinished jobs back at once and unregisters.
    pub async fn release(&self, worker: &str) -> Result<u64, QueueError> {
        let mut conn = self.conn.clone();
        self.bounded(async {
            Ok((*RELEASE_SCRIPT)
                .key(self.apalis.workers_set())
                .key(self.apalis.active_jobs_list())
                .key(self.inflight_key(worker))
                .key(self.wake_key())
                .arg(worker)
                .invoke_async(&mut conn)
                .await?)
        })
        .await
    }

    /// Remove every waiting (queued or scheduled) job of `merchant`; returns how many. Jobs a worker
    /// holds right now are not touched: they finish (a purged store's job then fails permanently, as
    /// its settings are gone). With `dry_run`, only counts.
    pub async fn drop_merchant_jobs(
        &self,
        merchant: salla_odoo_core::MerchantId,
        dry_run: bool,
    ) -> Result<u64, QueueError> {
        let ids = self.waiting_ids_of(merchant).await?;
        if dry_run || ids.is_empty() {
            return Ok(ids.len() as u64);
        }
        let mut conn = self.conn.clone();
        let mut removed = 0u64;
        for chunk in ids.chunks(500) {
            let script = Script::new(DROP_JOBS);
            let mut inv = script.key(self.apalis.scheduled_jobs_set());
            inv.key(self.apalis.active_jobs_list())
                .key(self.apalis.job_data_hash())
                .arg(self.meta_prefix());
            for id in chunk {
                inv.arg(id);
            }
            let n: u64 = self
                .bounded(async { Ok(inv.invoke_async(&mut conn).await?) })
                .await?;
            removed += n;
        }
        Ok(removed)
    }

    /// Delete every other key that names `merchant` (dedupe claims, per-store limit counters), as a
    /// purge must leave nothing that mentions it. Returns how many keys were deleted.
    pub async fn forget_merchant(
        &self,
        merchant: salla_odoo_core::MerchantId,
    ) -> Result<u64, QueueError> {
        let ns = &self.config.namespace;
        let patterns = [
            format!("{}:{merchant}:*", self.apalis.idempotency_key_set()),
            format!("{ns}:limits:running:{merchant}"),
            format!("{ns}:limits:calls:{merchant}:*"),
            format!("{ns}:sync:entity:{merchant}:*"),
        ];
        let mut conn = self.conn.clone();
        self.bounded(async {
            let mut deleted = 0u64;
            for pattern in &patterns {
                let mut cursor = 0u64;
                loop {
                    let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(pattern)
                        .arg("COUNT")
                        .arg(1000)
                        .query_async(&mut conn)
                        .await?;
                    if !keys.is_empty() {
                        let n: u64 = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await?;
                        deleted += n;
                    }
                    if next == 0 {
                        break;
                    }
                    cursor = next;
                }
            }
            Ok(deleted)
        })
        .await
    }

    /// Ids of the waiting jobs of `merchant`.
    async fn waiting_ids_of(
        &self,
        merchant: salla_odoo_core::MerchantId,
    ) -> Result<Vec<String>, QueueError> {
        Ok(self
            .waiting_entries()
            .await?
            .into_iter()
            .filter(|(_, job)| job.v1().merchant == merchant)
            .map(|(id, _)| id)
            .collect())
    }

    /// Job ids currently leased by `worker` (for tests and diagnostics).
    pub async fn inflight(&self, worker: &str) -> Result<Vec<String>, QueueError> {
        let mut conn = self.conn.clone();
        let key = self.inflight_key(worker);
        self.bounded(async {
            Ok(redis::cmd("SMEMBERS")
                .arg(key)
                .query_async(&mut conn)
                .await?)
        })
        .await
    }
}
