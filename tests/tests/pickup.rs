//! Idle pickup (issue 18): a job queued for an idle worker, or put back for a short while, reaches
//! it without waiting for the worker's poll, on Redis (wake-up tokens, millisecond scores) and on
//! the embedded queue (in-process wake-ups). Every worker here polls every 10 s: anything faster
//! than that was not found by a poll.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use salla_odoo_core::{
    BodyDigest, EntityKind, EntityRef, JobKind, MerchantId, SallaId, SyncError, SyncJob, SyncJobV1,
};
use salla_odoo_queue::{DedupeKey, Queue};
use salla_odoo_store::{Db, locks, sync_log};
use salla_odoo_tests::{
    TestDb, delete_namespace, queue_backends, redis_url, run_worker, test_redis_queue,
    test_worker_config, unique_namespace,
};
use salla_odoo_worker::{Handled, Handler, Worker, WorkerConfig};

const MERCHANT: u64 = 9;
/// Far longer than any bound below: a pickup within the bound was not a poll's.
const POLL: Duration = Duration::from_secs(10);

#[derive(Clone, Default)]
struct Ok;

impl Handler for Ok {
    async fn handle(&self, _job: &SyncJobV1, _db: &Db) -> Result<Handled, SyncError> {
        Result::Ok(Handled::Applied {
            odoo_ids: serde_json::json!({}),
            note: None,
        })
    }
}

fn config() -> WorkerConfig {
    WorkerConfig {
        concurrency: 4,
        // Only fetches move a worker's last-seen time meanwhile (see `wait_for_idle`).
        heartbeat: Duration::from_secs(60),
        orphan_timeout: Duration::from_secs(600),
        poll: POLL,
        lock_busy_retry: Duration::from_millis(300),
        ..test_worker_config()
    }
}

async fn push(q: &Queue, order: u64) -> uuid::Uuid {
    let job = SyncJob::V1(SyncJobV1 {
        id: uuid::Uuid::now_v7(),
        kind: JobKind::OrderUpsert,
        merchant: MerchantId::new(MERCHANT),
        event: "order.created".into(),
        entity: Some(EntityRef {
            kind: EntityKind::Order,
            id: SallaId::new(order),
        }),
        digest: BodyDigest::of(uuid::Uuid::new_v4().as_bytes()),
        salla_created_at: "2026-01-01 10:00:00".into(),
        received_at: time::OffsetDateTime::now_utc(),
        attempt: 0,
        data: serde_json::json!({"id": order}),
        history: Vec::new(),
        trace: None,
    });
    let key = DedupeKey::new(MerchantId::new(MERCHANT), "order.created", &job.v1().digest);
    q.enqueue(&job, &key).await.unwrap();
    job.v1().id
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// When `worker` last fetched (or heartbeated), in Unix ms.
async fn last_seen(q: &Queue, worker: &str) -> Option<i64> {
    match q {
        Queue::Redis(r) => {
            let mut conn = r.connection();
            let score: Option<f64> = redis::cmd("ZSCORE")
                .arg(r.apalis_config().workers_set())
                .arg(worker)
                .query_async(&mut conn)
                .await
                .unwrap();
            score.map(|s| s as i64)
        }
        Queue::Embedded(e) => sqlx::query_scalar("SELECT last_seen FROM Workers WHERE id = $1")
            .bind(worker)
            .fetch_optional(e.pool())
            .await
            .unwrap(),
    }
}

/// Wait until `worker` fetched after `since` (Unix ms): with nothing queued, it then waits for a
/// wake-up or its 10 s poll.
async fn wait_for_idle(q: &Queue, worker: &str, since: i64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while last_seen(q, worker).await.unwrap_or(0) < since {
        assert!(Instant::now() < deadline, "the worker never fetched");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn wait_for_outcome(db: &TestDb, job: uuid::Uuid, within: Duration, what: &str) -> Duration {
    let start = Instant::now();
    while sync_log::outcome_of(&db.pool, job).await.unwrap().is_none() {
        assert!(
            start.elapsed() < within,
            "{what}: not picked up within {within:?} (poll is {POLL:?})"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    start.elapsed()
}

#[tokio::test]
async fn an_idle_worker_takes_a_new_job_at_once_not_at_its_next_poll() {
    let db = TestDb::create().await;
    for b in queue_backends("pickup-new").await {
        let q = &b.queue;
        let id = format!("w-pickup-{}", q.is_embedded());
        let worker = Worker::new(id.clone(), q.clone(), db.pool.clone(), Ok, config());
        let (stop, run) = run_worker(&worker);
        // Three rounds: each job is queued while the worker waits with nothing to do (it fetched
        // after the previous job's outcome was recorded, and found nothing).
        let mut since = now_ms();
        for order in 1..=3u64 {
            wait_for_idle(q, &id, since).await;
            let job = push(q, order).await;
            let took = wait_for_outcome(&db, job, Duration::from_secs(2), &b.ns).await;
            eprintln!("{}: new job done {took:?} after its push", b.ns);
            let entry = sync_log::list(&db.pool, &Default::default())
                .await
                .unwrap()
                .into_iter()
                .find(|e| e.job_id == job)
                .unwrap();
            since = (entry.recorded_at.unix_timestamp_nanos() / 1_000_000) as i64;
        }
        let _ = stop.send(());
        run.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn a_deferred_job_reaches_an_idle_worker_when_due_not_at_its_next_poll() {
    let db = TestDb::create().await;
    for b in queue_backends("pickup-deferred").await {
        let q = &b.queue;
        let id = format!("w-deferred-{}", q.is_embedded());
        let worker = Worker::new(id.clone(), q.clone(), db.pool.clone(), Ok, config());
        // Another holder has the order: the worker defers the job by `lock_busy_retry` (300 ms).
        let held = locks::try_lock(&db.pool, MerchantId::new(MERCHANT), "order:77")
            .await
            .unwrap()
            .expect("free");
        let job = push(q, 77).await;
        let (stop, run) = run_worker(&worker);
        let deadline = Instant::now() + Duration::from_secs(5);
        while q.stats().await.unwrap().scheduled == 0 {
            assert!(Instant::now() < deadline, "never deferred");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        held.release().await.unwrap();
        // Redis: 300 ms to the millisecond; embedded: rounded up to the next whole second.
        let took = wait_for_outcome(&db, job, Duration::from_millis(2500), &b.ns).await;
        eprintln!(
            "{}: deferred job done {took:?} after the lock was free",
            b.ns
        );
        let _ = stop.send(());
        run.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn jobs_scored_in_whole_seconds_still_run() {
    // A rolling upgrade: jobs queued by the previous version (whole-second scores, apalis' push
    // too) and ours (fractions) share `scheduled`.
    let ns = unique_namespace("pickup-scores");
    let q = test_redis_queue(&redis_url(), &ns);
    let queue: Queue = q.clone().into();
    let a = push(&queue, 1).await;
    let b = push(&queue, 2).await;
    let mut conn = q.connection();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // One in the past in whole seconds, one due a little later with a fraction.
    let _: () = redis::cmd("ZADD")
        .arg(q.apalis_config().scheduled_jobs_set())
        .arg(now - 5)
        .arg(a.to_string())
        .arg(format!("{}.250", now))
        .arg(b.to_string())
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(3);
    while got.len() < 2 {
        assert!(Instant::now() < deadline, "got only {got:?}");
        let polled = queue.poll("w-scores", 8).await.unwrap();
        got.extend(polled.leases.into_iter().map(|l| l.id));
        if got.len() < 2 {
            let next = polled.next_due.expect("the other one is scheduled");
            assert!(next <= Duration::from_secs(1), "{next:?}");
            tokio::time::sleep(next).await;
        }
    }
    assert_eq!(got, vec![a.to_string(), b.to_string()]);
    delete_namespace(&redis_url(), &ns);
}

/// A heartbeat sent before a fetch can be applied after it (the embedded queue's writes wait for
/// the file's lock; Redis connections race): it must not move the worker's last-seen back, or an
/// idle worker looks as if it had not fetched since (the CI failure of stop 22).
#[tokio::test]
async fn a_late_heartbeat_never_moves_a_worker_s_last_seen_back() {
    for b in queue_backends("pickup-heartbeat").await {
        let q = &b.queue;
        let id = format!("w-heartbeat-{}", q.is_embedded());
        q.heartbeat(&id).await.unwrap();
        // What a later fetch wrote first.
        let later = now_ms() + 60_000;
        match q {
            Queue::Redis(r) => {
                let mut conn = r.connection();
                let _: i64 = redis::cmd("ZADD")
                    .arg(r.apalis_config().workers_set())
                    .arg(later)
                    .arg(&id)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
            }
            Queue::Embedded(e) => {
                sqlx::query("UPDATE Workers SET last_seen = $1 WHERE id = $2")
                    .bind(later)
                    .bind(&id)
                    .execute(e.pool())
                    .await
                    .unwrap();
            }
        }
        q.heartbeat(&id).await.unwrap();
        assert_eq!(last_seen(q, &id).await, Some(later), "{}: heartbeat", b.ns);
        q.fetch(&id, 1).await.unwrap();
        assert_eq!(last_seen(q, &id).await, Some(later), "{}: fetch", b.ns);
    }
}
