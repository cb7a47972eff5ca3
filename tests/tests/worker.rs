//! The worker runtime against real Redis and Postgres with scripted handlers: outcomes, retries,
//! dead letters, locks, poison jobs, per-store limits, idle pickup, drain and crash recovery.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use salla_odoo_core::{
    BodyDigest, EntityKind, EntityRef, JobKind, MerchantId, SallaId, SyncError, SyncJob, SyncJobV1,
};
use salla_odoo_queue::{DedupeKey, Queue};
use salla_odoo_store::{Db, locks, outbox, sync_log};
use salla_odoo_tests::{
    TestDb, delete_namespace, redis_url, run_worker, test_redis_queue, test_worker_config,
    unique_namespace,
};
use salla_odoo_worker::{Handled, Handler, Processed, Worker, WorkerConfig};

/// What the scripted handler does for a job, by the order id in its data.
#[derive(Clone)]
enum Script {
    Ok,
    FailTransient(u32),
    Permanent,
    Sleep(Duration),
}

#[derive(Clone, Default)]
struct Scripted {
    scripts: Arc<Mutex<HashMap<u64, Script>>>,
    calls: Arc<Mutex<HashMap<u64, u32>>>,
    running: Arc<AtomicU32>,
    max_running: Arc<AtomicU32>,
}

impl Scripted {
    fn set(&self, id: u64, s: Script) {
        self.scripts.lock().unwrap().insert(id, s);
    }
    fn calls(&self, id: u64) -> u32 {
        *self.calls.lock().unwrap().get(&id).unwrap_or(&0)
    }
}

impl Handler for Scripted {
    async fn handle(&self, job: &SyncJobV1, _db: &Db) -> Result<Handled, SyncError> {
        let id = job.data["id"].as_u64().unwrap();
        let n = {
            let mut calls = self.calls.lock().unwrap();
            let n = calls.entry(id).or_default();
            *n += 1;
            *n
        };
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        let script = self
            .scripts
            .lock()
            .unwrap()
            .get(&id)
            .cloned()
            .unwrap_or(Script::Ok);
        let result = match script {
            Script::Ok => Ok(Handled::Applied {
                odoo_ids: serde_json::json!({"sale.order": [id]}),
                note: None,
            }),
            Script::FailTransient(times) if n <= times => Err(SyncError::Transient {
                message: format!("Odoo answered 503 (call {n})"),
                retry_after: None,
            }),
            Script::FailTransient(_) => Ok(Handled::Applied {
                odoo_ids: serde_json::json!({}),
                note: None,
            }),
            Script::Permanent => Err(SyncError::Permanent {
                message: "ValidationError: Customer is required".into(),
            }),
            Script::Sleep(d) => {
                tokio::time::sleep(d).await;
                Ok(Handled::Applied {
                    odoo_ids: serde_json::json!({}),
                    note: None,
                })
            }
        };
        self.running.fetch_sub(1, Ordering::SeqCst);
        result
    }
}

struct Rig {
    queue: Queue,
    db: TestDb,
    handler: Scripted,
    ns: String,
}

impl Drop for Rig {
    fn drop(&mut self) {
        delete_namespace(&redis_url(), &self.ns);
    }
}

async fn rig(test: &str) -> Rig {
    let ns = unique_namespace(test);
    let queue = test_redis_queue(&redis_url(), &ns);
    Rig {
        queue: queue.into(),
        db: TestDb::create().await,
        handler: Scripted::default(),
        ns,
    }
}

impl Rig {
    fn worker(&self, id: &str, config: WorkerConfig) -> Worker<Scripted> {
        Worker::new(
            id.into(),
            self.queue.clone(),
            self.db.pool.clone(),
            self.handler.clone(),
            config,
        )
    }

    async fn push(&self, merchant: u64, order: u64) -> uuid::Uuid {
        let job = SyncJob::V1(SyncJobV1 {
            id: uuid::Uuid::now_v7(),
            kind: JobKind::OrderUpsert,
            merchant: MerchantId::new(merchant),
            event: "order.created".into(),
            entity: Some(EntityRef {
                kind: EntityKind::Order,
                id: SallaId::new(order),
            }),
            digest: BodyDigest::of(
                format!("{merchant}:{order}:{}", uuid::Uuid::new_v4()).as_bytes(),
            ),
            salla_created_at: "2026-01-01 10:00:00".into(),
            received_at: time::OffsetDateTime::now_utc(),
            attempt: 0,
            data: serde_json::json!({"id": order}),
            history: Vec::new(),
            trace: None,
        });
        let key = DedupeKey::new(MerchantId::new(merchant), "order.created", &job.v1().digest);
        self.queue.enqueue(&job, &key).await.unwrap();
        job.v1().id
    }

    async fn outcome(&self, job: uuid::Uuid) -> Option<sync_log::Outcome> {
        sync_log::outcome_of(&self.db.pool, job).await.unwrap()
    }

    /// Process until `done` holds, waiting for scheduled retries to come due.
    async fn drain_until(
        &self,
        worker: &Worker<Scripted>,
        mut done: impl AsyncFnMut() -> bool,
    ) -> Vec<Processed> {
        let mut all = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done().await {
            assert!(
                Instant::now() < deadline,
                "condition not reached; processed so far: {all:?}"
            );
            let batch = worker.process_next(8).await.unwrap();
            if batch.is_empty() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            all.extend(batch);
        }
        all
    }
}

#[tokio::test]
async fn applied_jobs_are_logged_once_and_leave_the_queue() {
    let r = rig("applied").await;
    let w = r.worker("w-applied", test_worker_config());
    let job = r.push(1, 100).await;
    assert_eq!(w.process_next(8).await.unwrap(), vec![Processed::Applied]);
    assert_eq!(r.outcome(job).await, Some(sync_log::Outcome::Applied));
    let stats = r.queue.stats().await.unwrap();
    assert_eq!(
        (stats.queued, stats.scheduled, stats.in_flight, stats.done),
        (0, 0, 0, 1)
    );
    assert!(w.process_next(8).await.unwrap().is_empty());
}

#[tokio::test]
async fn transient_failures_retry_with_the_next_attempt_then_apply() {
    let r = rig("transient").await;
    r.handler.set(101, Script::FailTransient(2));
    let w = r.worker("w-transient", test_worker_config());
    let job = r.push(1, 101).await;
    let first = w.process_next(8).await.unwrap();
    assert!(matches!(first[..], [Processed::Retried(_)]), "{first:?}");
    let waiting = r.queue.waiting_jobs().await.unwrap();
    assert_eq!(waiting[0].v1().attempt, 1);
    assert_eq!(waiting[0].v1().history[0].class, "transient");
    let pool = r.db.pool.clone();
    r.drain_until(&w, async || {
        sync_log::outcome_of(&pool, job).await.unwrap().is_some()
    })
    .await;
    assert_eq!(r.outcome(job).await, Some(sync_log::Outcome::Applied));
    assert_eq!(r.handler.calls(101), 3);
    let entries = sync_log::list(&r.db.pool, &Default::default())
        .await
        .unwrap();
    assert_eq!(entries.len(), 1, "one outcome per job");
    assert_eq!(entries[0].attempt, 2);
}

#[tokio::test]
async fn permanent_failures_are_dead_lettered_at_once_with_the_message() {
    let r = rig("permanent").await;
    r.handler.set(102, Script::Permanent);
    let w = r.worker("w-permanent", test_worker_config());
    let job = r.push(1, 102).await;
    assert_eq!(
        w.process_next(8).await.unwrap(),
        vec![Processed::DeadLettered("permanent")]
    );
    assert_eq!(r.handler.calls(102), 1);
    assert_eq!(r.outcome(job).await, Some(sync_log::Outcome::DeadLettered));
    let letter = outbox::get_by_job(&r.db.pool, job)
        .await
        .unwrap()
        .expect("dead letter");
    assert_eq!(letter.class, "permanent");
    assert!(letter.error.contains("Customer is required"));
    assert_eq!(letter.job["data"]["id"], 102);
    assert_eq!(r.queue.stats().await.unwrap().dead, 1);
}

#[tokio::test]
async fn exhausted_retries_are_dead_lettered_with_every_attempt() {
    let r = rig("exhausted").await;
    r.handler.set(103, Script::FailTransient(99));
    let w = r.worker("w-exhausted", test_worker_config());
    let job = r.push(1, 103).await;
    let pool = r.db.pool.clone();
    let seen = r
        .drain_until(&w, async || {
            sync_log::outcome_of(&pool, job).await.unwrap().is_some()
        })
        .await;
    assert!(
        seen.contains(&Processed::DeadLettered("exhausted")),
        "{seen:?}"
    );
    assert_eq!(r.handler.calls(103), 3, "max_attempts = 3");
    let letter = outbox::get_by_job(&r.db.pool, job).await.unwrap().unwrap();
    assert_eq!(letter.class, "exhausted");
    let attempts = letter.attempts.as_array().unwrap();
    assert_eq!(attempts.len(), 3);
    assert!(
        attempts
            .iter()
            .all(|a| a["error"].as_str().unwrap().contains("503"))
    );
}

#[tokio::test]
async fn a_locked_entity_reschedules_without_spending_an_attempt() {
    let r = rig("locked").await;
    let w = r.worker("w-locked", test_worker_config());
    let job = r.push(7, 104).await;
    let held = locks::try_lock(&r.db.pool, MerchantId::new(7), "order:104")
        .await
        .unwrap()
        .expect("free");
    assert_eq!(
        w.process_next(8).await.unwrap(),
        vec![Processed::Deferred("entity_locked")]
    );
    assert_eq!(r.handler.calls(104), 0);
    let waiting = r.queue.waiting_jobs().await.unwrap();
    assert_eq!(waiting[0].v1().attempt, 0, "no attempt spent");
    held.release().await.unwrap();
    let pool = r.db.pool.clone();
    r.drain_until(&w, async || {
        sync_log::outcome_of(&pool, job).await.unwrap().is_some()
    })
    .await;
    assert_eq!(r.handler.calls(104), 1);
}

#[tokio::test]
async fn a_job_that_keeps_killing_its_worker_is_dead_lettered_as_poison() {
    let r = rig("poison").await;
    let job = r.push(1, 105).await;
    // Three workers take it and die (never ack, stop heartbeating); the orphan check hands it back.
    for crash in 0..3 {
        let leases = r.queue.fetch(&format!("doomed-{crash}"), 1).await.unwrap();
        assert_eq!(leases.len(), 1);
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(
            r.queue
                .requeue_orphans(Duration::from_millis(10))
                .await
                .unwrap(),
            1
        );
    }
    let w = r.worker("w-poison", test_worker_config());
    assert_eq!(
        w.process_next(8).await.unwrap(),
        vec![Processed::DeadLettered("poison")]
    );
    assert_eq!(r.handler.calls(105), 0, "not run a fourth time");
    let letter = outbox::get_by_job(&r.db.pool, job).await.unwrap().unwrap();
    assert_eq!(letter.class, "poison");
}

#[tokio::test]
async fn one_store_cannot_take_more_than_its_slots() {
    let r = rig("store-limit").await;
    let mut cfg = test_worker_config();
    cfg.store_concurrency = 1;
    for order in [201, 202, 203] {
        r.handler
            .set(order, Script::Sleep(Duration::from_millis(300)));
        r.push(9, order).await;
    }
    r.handler
        .set(301, Script::Sleep(Duration::from_millis(300)));
    r.push(10, 301).await;
    let w = r.worker("w-limit", cfg);
    let first = w.process_next(8).await.unwrap();
    let applied = first.iter().filter(|p| **p == Processed::Applied).count();
    let busy = first
        .iter()
        .filter(|p| **p == Processed::Deferred("store_busy"))
        .count();
    assert_eq!(
        (applied, busy),
        (2, 2),
        "one job of store 9 and the job of store 10 ran: {first:?}"
    );
}

/// Whatever the outcome, a job gives its store slot back: applied and dead-lettered jobs with their
/// ack (one round trip to Redis), retried ones on their own. With one slot per store, each of the
/// store's jobs runs only if the one before freed it.
#[tokio::test]
async fn every_outcome_gives_the_store_slot_back() {
    let r = rig("slot-back").await;
    let mut cfg = test_worker_config();
    cfg.store_concurrency = 1;
    cfg.concurrency = 1;
    r.handler.set(402, Script::Permanent);
    r.handler.set(403, Script::FailTransient(1));
    let running_key = format!("{}:limits:running:9", r.ns);
    let redis = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    // The store's slots held now.
    let held = || {
        let (mut redis, key) = (redis.clone(), running_key.clone());
        async move {
            let n: u64 = redis::cmd("ZCARD")
                .arg(key)
                .query_async(&mut redis)
                .await
                .unwrap();
            n
        }
    };
    let w = r.worker("w-slot", cfg);
    for (order, outcome) in [
        (401, Processed::Applied),
        (402, Processed::DeadLettered("permanent")),
    ] {
        r.push(9, order).await;
        assert_eq!(w.process_next(1).await.unwrap(), vec![outcome]);
        assert_eq!(
            held().await,
            0,
            "order {order}: the slot went back with the ack"
        );
    }
    r.push(9, 403).await;
    let retried = w.process_next(1).await.unwrap();
    assert!(
        matches!(retried.as_slice(), [Processed::Retried(_)]),
        "{retried:?}"
    );
    assert_eq!(held().await, 0, "a retried job gives its slot back too");
}

#[tokio::test]
async fn an_idle_worker_picks_up_a_new_job_within_a_second() {
    let r = rig("idle").await;
    let w = r.worker("w-idle", test_worker_config());
    let (tx, run) = run_worker(&w);
    tokio::time::sleep(Duration::from_millis(300)).await; // let it go idle
    let job = r.push(1, 106).await;
    let pushed = Instant::now();
    let pool = r.db.pool.clone();
    while sync_log::outcome_of(&pool, job).await.unwrap().is_none() {
        assert!(
            pushed.elapsed() < Duration::from_secs(1),
            "not picked up within a second"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = tx.send(());
    run.await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_drains_in_flight_jobs_and_hands_back_the_rest() {
    let r = rig("drain").await;
    let mut cfg = test_worker_config();
    cfg.concurrency = 1;
    cfg.drain = Duration::from_millis(1500);
    r.handler
        .set(107, Script::Sleep(Duration::from_millis(400)));
    let first = r.push(1, 107).await;
    let w = r.worker("w-drain", cfg);
    let (tx, run) = run_worker(&w);
    while r.handler.calls(107) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let second = r.push(1, 108).await;
    let _ = tx.send(());
    run.await.unwrap().unwrap();
    assert_eq!(
        r.outcome(first).await,
        Some(sync_log::Outcome::Applied),
        "in-flight job finished"
    );
    assert_eq!(
        r.outcome(second).await,
        None,
        "not started after the stop signal"
    );
    let stats = r.queue.stats().await.unwrap();
    assert_eq!((stats.queued, stats.in_flight, stats.workers), (1, 0, 0));
}

#[tokio::test]
async fn a_job_that_outlives_the_drain_deadline_goes_back_to_the_queue() {
    let r = rig("drain-deadline").await;
    let mut cfg = test_worker_config();
    cfg.drain = Duration::from_millis(200);
    r.handler.set(109, Script::Sleep(Duration::from_secs(30)));
    let job = r.push(1, 109).await;
    let w = r.worker("w-deadline", cfg);
    let (tx, run) = run_worker(&w);
    while r.handler.calls(109) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = tx.send(());
    run.await.unwrap().unwrap();
    assert_eq!(r.outcome(job).await, None);
    let stats = r.queue.stats().await.unwrap();
    assert_eq!(
        (stats.queued, stats.in_flight),
        (1, 0),
        "handed back at once, not after the orphan timeout"
    );
    // Another worker finishes it.
    r.handler.set(109, Script::Ok);
    let other = r.worker("w-after", test_worker_config());
    assert_eq!(
        other.process_next(8).await.unwrap(),
        vec![Processed::Applied]
    );
}

#[tokio::test]
async fn a_crashed_workers_job_completes_on_another_worker_once() {
    let r = rig("crash").await;
    let mut cfg = test_worker_config();
    cfg.orphan_timeout = Duration::from_millis(800);
    r.handler.set(110, Script::Sleep(Duration::from_secs(30)));
    let job = r.push(1, 110).await;
    let doomed = r.worker("w-doomed", cfg.clone());
    let crashed = tokio::spawn({
        let w = doomed.clone();
        async move { w.run(std::future::pending()).await }
    });
    while r.handler.calls(110) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The process dies: no drain, no release, no more heartbeats.
    crashed.abort();
    let _ = crashed.await;
    r.handler.set(110, Script::Ok);
    let survivor = r.worker("w-survivor", cfg);
    let (tx, run) = run_worker(&survivor);
    let pool = r.db.pool.clone();
    let started = Instant::now();
    while sync_log::outcome_of(&pool, job).await.unwrap().is_none() {
        assert!(started.elapsed() < Duration::from_secs(15), "not recovered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = tx.send(());
    run.await.unwrap().unwrap();
    assert_eq!(r.handler.calls(110), 2, "ran once on each worker");
    assert_eq!(
        sync_log::list(&r.db.pool, &Default::default())
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn an_undecodable_queue_entry_becomes_a_dead_letter() {
    let r = rig("undecodable").await;
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let raw = r#"{"version":"9","merchant":4321,"kind":"order.upsert"}"#;
    let _: () = redis::cmd("HSET")
        .arg(format!("{}:sync:data", r.ns))
        .arg("bad-1")
        .arg(raw)
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: () = redis::cmd("RPUSH")
        .arg(format!("{}:sync:active", r.ns))
        .arg("bad-1")
        .query_async(&mut conn)
        .await
        .unwrap();
    let w = r.worker("w-undecodable", test_worker_config());
    assert_eq!(
        w.process_next(8).await.unwrap(),
        vec![Processed::DeadLettered("undecodable")]
    );
    let letters = outbox::list(&r.db.pool, &Default::default()).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].class, "undecodable");
    assert_eq!(letters[0].merchant.get(), 4321);
    assert_eq!(r.queue.stats().await.unwrap().dead, 1);
}

#[tokio::test]
async fn a_stores_odoo_calls_stay_within_its_per_second_budget_fleet_wide() {
    let r = rig("rate").await;
    // Two "workers" (two limiter handles) share the budget of 3 calls per second for store 11.
    let a = salla_odoo_worker::StoreLimits::new(r.queue.clone(), 4, 3, Duration::from_secs(5));
    let b = salla_odoo_worker::StoreLimits::new(r.queue.clone(), 4, 3, Duration::from_secs(5));
    let mut tasks = Vec::new();
    for i in 0..8 {
        let l = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            l.before_odoo_call(MerchantId::new(11)).await.unwrap()
        }));
    }
    // Another store is not held back by store 11's budget.
    a.before_odoo_call(MerchantId::new(12)).await.unwrap();
    let mut per_second: HashMap<u64, u32> = HashMap::new();
    for t in tasks {
        *per_second.entry(t.await.unwrap()).or_default() += 1;
    }
    assert!(per_second.values().all(|n| *n <= 3), "{per_second:?}");
    assert_eq!(per_second.values().sum::<u32>(), 8);
}

#[tokio::test]
async fn a_lease_whose_fetch_answer_was_lost_is_handed_back_and_run() {
    let r = rig("stray").await;
    r.push(14, 901).await;
    // The fetch ran in Redis but its answer never reached the worker (a timeout, a dropped
    // connection): the job is in the worker's in-flight set, and the worker does not know it.
    let lost = r.queue.fetch("w-stray", 1).await.unwrap();
    assert_eq!(lost.len(), 1);
    let mut cfg = test_worker_config();
    cfg.orphan_timeout = Duration::from_millis(600);
    let w = r.worker("w-stray", cfg);
    let (stop, run) = run_worker(&w);
    // The worker heartbeats all along, so no orphan check takes the job; only the worker itself
    // can notice the lease it never received.
    let start = std::time::Instant::now();
    while r.handler.calls(901) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the lost lease was never handed back: {:?}",
            r.queue.stats().await.unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    run.await.unwrap().unwrap();
    assert_eq!(r.handler.calls(901), 1);
    let stats = r.queue.stats().await.unwrap();
    assert_eq!((stats.queued, stats.in_flight), (0, 0), "{stats:?}");
}

#[tokio::test]
async fn calls_granted_in_batches_still_stay_within_the_budget() {
    let r = rig("rate-batch").await;
    // A budget of 20/s: each handle takes two calls per round trip to Redis.
    let handles: Vec<_> = (0..3)
        .map(|_| {
            salla_odoo_worker::StoreLimits::new(r.queue.clone(), 4, 20, Duration::from_secs(5))
        })
        .collect();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let l = handles[i % 3].clone();
        tasks.push(tokio::spawn(async move {
            l.before_odoo_call(MerchantId::new(13)).await.unwrap()
        }));
    }
    let mut per_second: HashMap<u64, u32> = HashMap::new();
    for t in tasks {
        *per_second.entry(t.await.unwrap()).or_default() += 1;
    }
    assert!(per_second.values().all(|n| *n <= 20), "{per_second:?}");
    assert_eq!(per_second.values().sum::<u32>(), 50);
    // The counter of a second never claims more than the budget was asked for in batches of two.
    let first = *per_second.keys().min().unwrap();
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let counted: Option<i64> = redis::cmd("GET")
        .arg(format!("{}:limits:calls:13:{first}", r.ns))
        .query_async(&mut conn)
        .await
        .unwrap();
    if let Some(n) = counted {
        assert!(n >= i64::from(per_second[&first]), "{n} < granted");
    }
}

/// Taking a store slot for a job that calls Odoo also claims its first calls of this second's
/// budget, in the same round trip: the calls that follow within the second need none of their own.
/// A job that makes no Odoo calls claims none.
#[tokio::test]
async fn a_store_slot_comes_with_the_jobs_first_odoo_calls() {
    let r = rig("slot-calls").await;
    // A budget of 20/s: calls are claimed two at a time.
    let limits =
        salla_odoo_worker::StoreLimits::new(r.queue.clone(), 4, 20, Duration::from_secs(5));
    let store = MerchantId::new(15);
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let ns = r.ns.clone();
    let mut counted = async |second: u64| -> Option<i64> {
        redis::cmd("GET")
            .arg(format!("{ns}:limits:calls:15:{second}"))
            .query_async(&mut conn)
            .await
            .unwrap()
    };
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    // A second boundary between the steps would split the claim: try again in the next second.
    for attempt in 0.. {
        assert!(attempt < 5, "never ran within one second");
        let second = now();
        assert!(limits.try_acquire(store, "no-odoo", false).await.unwrap());
        let before_job = counted(second).await;
        assert!(limits.try_acquire(store, "job", true).await.unwrap());
        let after_slot = counted(second).await;
        let calls = [
            limits.before_odoo_call(store).await.unwrap(),
            limits.before_odoo_call(store).await.unwrap(),
        ];
        let after_calls = counted(second).await;
        limits.release(store, "job").await.unwrap();
        limits.release(store, "no-odoo").await.unwrap();
        if now() != second || calls != [second, second] {
            continue;
        }
        assert_eq!(before_job, None, "a job without Odoo calls claimed budget");
        assert_eq!(after_slot, Some(2), "the slot came without calls");
        assert_eq!(
            after_calls,
            Some(2),
            "the claimed calls went to Redis again"
        );
        break;
    }
}

async fn log_entry(pool: &salla_odoo_store::Db, age_days: i64) {
    let job = uuid::Uuid::now_v7();
    sync_log::record(
        pool,
        &sync_log::NewLogEntry {
            job_id: job,
            merchant: MerchantId::new(1),
            event: "order.created".into(),
            kind: "order.upsert".into(),
            entity: None,
            outcome: sync_log::Outcome::Applied,
            reason: None,
            attempt: 0,
            duration_ms: 1,
            odoo_ids: serde_json::json!({}),
        },
    )
    .await
    .unwrap();
    sqlx::query("UPDATE sync_log SET recorded_at = now() - make_interval(days => $1::int) WHERE job_id = $2")
        .bind(age_days as i32)
        .bind(job)
        .execute(pool.as_postgres().unwrap())
        .await
        .unwrap();
}

async fn dead_letter(pool: &salla_odoo_store::Db, age_days: i64, handled_days_ago: Option<i64>) {
    let job = uuid::Uuid::now_v7();
    let id = outbox::insert(
        pool,
        &outbox::NewDeadLetter {
            job_id: job,
            merchant: MerchantId::new(1),
            event: "order.created".into(),
            kind: "order.upsert".into(),
            salla_id: Some(1),
            job: serde_json::json!({}),
            attempts: serde_json::json!([]),
            error: "x".into(),
            class: "permanent".into(),
        },
    )
    .await
    .unwrap()
    .unwrap();
    sqlx::query(
        "UPDATE dead_letters SET created_at = now() - make_interval(days => $1::int) WHERE id = $2",
    )
    .bind(age_days as i32)
    .bind(id)
    .execute(pool.as_postgres().unwrap())
    .await
    .unwrap();
    if let Some(d) = handled_days_ago {
        sqlx::query("UPDATE dead_letters SET replayed_at = now() - make_interval(days => $1::int), replayed_by = 'ops' WHERE id = $2")
            .bind(d as i32)
            .bind(id)
            .execute(pool.as_postgres().unwrap())
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn retention_removes_only_what_is_past_its_period_one_worker_at_a_time() {
    let r = rig("retention").await;
    let pool = &r.db.pool;
    for age in [1, 29, 31, 400] {
        log_entry(pool, age).await;
    }
    dead_letter(pool, 10, None).await; // pending, young: kept
    dead_letter(pool, 91, None).await; // pending, past 90 days: deleted
    dead_letter(pool, 100, Some(40)).await; // replayed 40 days ago: deleted
    dead_letter(pool, 100, Some(5)).await; // replayed 5 days ago: kept
    let policy = salla_odoo_store::retention::Policy {
        sync_log_days: 30,
        dead_letter_days: 90,
        handled_dead_letter_days: 30,
    };

    // A dry run counts and deletes nothing.
    let dry =
        salla_odoo_store::retention::run(pool, &policy, time::OffsetDateTime::now_utc(), true)
            .await
            .unwrap();
    assert_eq!(
        (
            dry.sync_log,
            dry.dead_letters_pending,
            dry.dead_letters_handled
        ),
        (2, 1, 1)
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM sync_log")
        .fetch_one(r.db.pg())
        .await
        .unwrap();
    assert_eq!(rows, 4);

    // While another worker holds the fleet-wide lock, this one does nothing.
    let held = locks::try_lock_global(pool, "retention")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        salla_odoo_worker::retention_once(pool, &r.queue, &policy)
            .await
            .unwrap(),
        None
    );
    held.release().await.unwrap();

    let done = salla_odoo_worker::retention_once(pool, &r.queue, &policy)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            done.sync_log,
            done.dead_letters_pending,
            done.dead_letters_handled
        ),
        (2, 1, 1)
    );
    let logs: i64 = sqlx::query_scalar("SELECT count(*) FROM sync_log")
        .fetch_one(r.db.pg())
        .await
        .unwrap();
    let letters: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letters")
        .fetch_one(r.db.pg())
        .await
        .unwrap();
    assert_eq!((logs, letters), (2, 2));
}
