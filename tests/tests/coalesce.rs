//! Coalescing (crates/worker/src/coalesce.rs): the waiting jobs of one entity become one
//! convergence. The queue's claim on both backends (what it takes and what it never takes, ack,
//! give-back, orphan recovery), then the worker against Redis and Postgres with a recording
//! handler: one run for created + updated + status, every job's outcome, a transient failure and a
//! permanent one that lose nothing, and a crash in the middle of a coalesced run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use salla_odoo_core::{
    BodyDigest, EntityKind, EntityRef, JobKind, MerchantId, SallaId, SyncError, SyncJob, SyncJobV1,
};
use salla_odoo_queue::{DedupeKey, Enqueued, Queue};
use salla_odoo_store::{Db, outbox, sync_log};
use salla_odoo_tests::{
    TestDb, delete_namespace, queue_backends, redis_url, run_worker, test_redis_queue,
    test_worker_config, unique_namespace,
};
use salla_odoo_worker::{Handled, Handler, Processed, Worker, WorkerConfig};
use serde_json::{Value, json};

const MERCHANT: u64 = 5;

/// A whole order body at `updated` (Unix-like seconds past 10:00:00) with status `slug`.
fn body(order: u64, updated: u32, slug: &str) -> Value {
    json!({
        "id": order,
        "updated_at": {"date": format!("2026-01-01 10:{:02}:{:02}", updated / 60, updated % 60), "timezone": "UTC"},
        "status": {"slug": slug},
        "customer": {"id": 1},
        "amounts": {"total": {"amount": 10}},
        "items": [{"id": 1, "sku": "A", "quantity": 1,
                   "amounts": {"price_without_tax": {"amount": 10}, "total": {"amount": 10}}}]
    })
}

fn job(order: u64, event: &str, updated: u32) -> SyncJob {
    let (kind, data) = match event {
        "order.status.updated" => (
            JobKind::OrderStatus,
            json!({"id": 900_000 + updated, "order": body(order, updated, "completed")}),
        ),
        "order.refunded" => (JobKind::OrderStatus, body(order, updated, "restored")),
        "order.shipment.created" => (
            JobKind::ShipmentSync,
            json!({"id": order, "shipping_number": "T1"}),
        ),
        _ => (JobKind::OrderUpsert, body(order, updated, "under_review")),
    };
    SyncJob::V1(SyncJobV1 {
        id: uuid::Uuid::now_v7(),
        kind,
        merchant: MerchantId::new(MERCHANT),
        event: event.into(),
        entity: Some(EntityRef {
            kind: EntityKind::Order,
            id: SallaId::new(order),
        }),
        digest: BodyDigest::of(uuid::Uuid::new_v4().as_bytes()),
        salla_created_at: "2026-01-01 10:00:00".into(),
        received_at: time::OffsetDateTime::now_utc(),
        attempt: 0,
        data,
        history: Vec::new(),
        trace: None,
    })
}

async fn push(q: &Queue, order: u64, event: &str, updated: u32) -> SyncJobV1 {
    let j = job(order, event, updated);
    let key = DedupeKey::new(MerchantId::new(MERCHANT), event, &j.v1().digest);
    assert_eq!(q.enqueue(&j, &key).await.unwrap(), Enqueued::Queued);
    let SyncJob::V1(j) = j;
    j
}

fn ids(leases: &[salla_odoo_queue::consumer::Lease]) -> Vec<String> {
    let mut ids: Vec<String> = leases.iter().map(|l| l.id.clone()).collect();
    ids.sort();
    ids
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn a_claim_takes_the_entitys_waiting_jobs_and_never_another_workers() {
    for ns in queue_backends("claim").await {
        let q = &ns.queue;
        let held = push(q, 7, "order.created", 0).await;
        // Another worker holds the first job of the order.
        let leases = q.fetch("w-b", 1).await.unwrap();
        assert_eq!(ids(&leases), vec![held.id.to_string()]);
        let status = push(q, 7, "order.status.updated", 9).await;
        let updated = push(q, 7, "order.updated", 5).await;
        // Never folded: a refund, a shipment, another order.
        let refund = push(q, 7, "order.refunded", 10).await;
        let shipment = push(q, 7, "order.shipment.created", 11).await;
        let other = push(q, 8, "order.created", 0).await;

        q.heartbeat("w-a").await.unwrap();
        let claimed = q.claim_coalesced("w-a", &held, 32).await.unwrap();
        assert_eq!(
            ids(&claimed),
            sorted(vec![status.id.to_string(), updated.id.to_string()]),
            "{}",
            ns.ns
        );
        assert!(claimed.iter().all(|l| l.starts == 1 && l.job.is_ok()));
        assert_eq!(sorted(q.inflight("w-a").await.unwrap()), ids(&claimed));
        // Nothing left to claim; what is not foldable still waits.
        assert!(
            q.claim_coalesced("w-a", &held, 32)
                .await
                .unwrap()
                .is_empty()
        );
        let waiting: Vec<uuid::Uuid> = q
            .waiting_jobs()
            .await
            .unwrap()
            .iter()
            .map(|j| j.v1().id)
            .collect();
        assert_eq!(waiting.len(), 3, "{waiting:?}");
        for j in [&refund, &shipment, &other] {
            assert!(waiting.contains(&j.id));
        }

        // Once its holder reschedules it (a later retry), the first job is claimable too.
        let SyncJob::V1(mut again) = job(7, "order.created", 0);
        again.id = held.id;
        assert!(
            q.reschedule(
                "w-b",
                &held.id.to_string(),
                &SyncJob::V1(again),
                Duration::from_secs(60)
            )
            .await
            .unwrap()
        );
        let late = q.claim_coalesced("w-a", &held, 32).await.unwrap();
        assert_eq!(ids(&late), vec![held.id.to_string()]);

        // Every claimed job is an ordinary lease: its end forgets it, index entry included.
        for (id, j) in [
            (&status.id, &status),
            (&updated.id, &updated),
            (&held.id, &held),
        ] {
            assert!(q.end("w-a", &id.to_string(), j, false).await.unwrap());
        }
        let stats = q.stats().await.unwrap();
        assert_eq!((stats.in_flight, stats.done), (0, 3), "{}", ns.ns);
        if let Some(r) = q.as_redis() {
            let mut conn = r.connection();
            let left: i64 = redis::cmd("EXISTS")
                .arg(format!("{}:sync:entity:{MERCHANT}:order:7", ns.ns))
                .query_async(&mut conn)
                .await
                .unwrap();
            assert_eq!(left, 0, "the entity index is empty, so gone");
        }
    }
}

#[tokio::test]
async fn claimed_jobs_go_back_by_give_back_and_by_orphan_recovery_with_their_starts() {
    for ns in queue_backends("claim-back").await {
        let q = &ns.queue;
        let lead = push(q, 7, "order.created", 0).await;
        let a = push(q, 7, "order.updated", 3).await;
        let b = push(q, 7, "order.status.updated", 5).await;
        let leased = q.fetch("w-a", 1).await.unwrap();
        assert_eq!(ids(&leased), vec![lead.id.to_string()]);
        let claimed = q.claim_coalesced("w-a", &lead, 32).await.unwrap();
        assert_eq!(claimed.len(), 2);

        // A worker that gives them back (it never ran them): first in line again.
        assert_eq!(
            q.give_back("w-a", &[a.id.to_string(), b.id.to_string()])
                .await
                .unwrap(),
            2
        );
        let again = q.fetch("w-c", 5).await.unwrap();
        assert_eq!(
            ids(&again),
            sorted(vec![a.id.to_string(), b.id.to_string()])
        );
        assert!(again.iter().all(|l| l.starts == 2), "{again:?}");
        q.release("w-c").await.unwrap();

        // A worker that dies holding a coalesced group: the orphan check re-queues all of it.
        let claimed = q.claim_coalesced("w-a", &lead, 32).await.unwrap();
        assert_eq!(claimed.len(), 2);
        q.heartbeat("w-a").await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            q.requeue_orphans(Duration::from_millis(10)).await.unwrap(),
            3,
            "{} {:?}",
            ns.ns,
            q.is_embedded()
        );
        let recovered = q.fetch("w-d", 5).await.unwrap();
        assert_eq!(
            ids(&recovered),
            sorted(vec![
                lead.id.to_string(),
                a.id.to_string(),
                b.id.to_string()
            ])
        );
        // Each start counted (claim, fetch, claim, fetch): a group that kills its worker each time
        // ends as poison.
        let starts: HashMap<String, u32> =
            recovered.iter().map(|l| (l.id.clone(), l.starts)).collect();
        assert_eq!(starts[&lead.id.to_string()], 2);
        assert_eq!(starts[&a.id.to_string()], 4);
    }
}

/// What the recording handler does with a job, by event.
#[derive(Clone)]
enum Script {
    Ok,
    FailTransient(u32),
    Permanent,
    Sleep(Duration),
}

#[derive(Clone, Default)]
struct Recorder {
    scripts: Arc<Mutex<HashMap<String, Script>>>,
    runs: Arc<Mutex<Vec<(uuid::Uuid, String)>>>,
}

impl Recorder {
    fn set(&self, event: &str, s: Script) {
        self.scripts.lock().unwrap().insert(event.into(), s);
    }
    fn runs(&self) -> Vec<(uuid::Uuid, String)> {
        self.runs.lock().unwrap().clone()
    }
    fn runs_of(&self, event: &str) -> u32 {
        self.runs().iter().filter(|(_, e)| e == event).count() as u32
    }
}

impl Handler for Recorder {
    async fn handle(&self, job: &SyncJobV1, _db: &Db) -> Result<Handled, SyncError> {
        self.runs.lock().unwrap().push((job.id, job.event.clone()));
        let n = self.runs_of(&job.event);
        let script = self
            .scripts
            .lock()
            .unwrap()
            .get(&job.event)
            .cloned()
            .unwrap_or(Script::Ok);
        match script {
            Script::Ok => {}
            Script::FailTransient(times) if n <= times => {
                return Err(SyncError::Transient {
                    message: format!("Odoo answered 503 (run {n})"),
                    retry_after: None,
                });
            }
            Script::FailTransient(_) => {}
            Script::Permanent => {
                return Err(SyncError::Permanent {
                    message: "ValidationError: Customer is required".into(),
                });
            }
            Script::Sleep(d) => tokio::time::sleep(d).await,
        }
        Ok(Handled::Applied {
            odoo_ids: json!({"sale.order": [job.entity.unwrap().id.get()]}),
            note: None,
        })
    }
}

struct Rig {
    queue: Queue,
    db: TestDb,
    handler: Recorder,
    ns: String,
}

impl Drop for Rig {
    fn drop(&mut self) {
        delete_namespace(&redis_url(), &self.ns);
    }
}

async fn rig(test: &str) -> Rig {
    let ns = unique_namespace(test);
    Rig {
        queue: test_redis_queue(&redis_url(), &ns).into(),
        db: TestDb::create().await,
        handler: Recorder::default(),
        ns,
    }
}

impl Rig {
    fn worker(&self, id: &str, config: WorkerConfig) -> Worker<Recorder> {
        Worker::new(
            id.into(),
            self.queue.clone(),
            self.db.pool.clone(),
            self.handler.clone(),
            config,
        )
    }

    /// created, updated and a status entry of order 7, queued together (oldest first).
    async fn three(&self) -> [SyncJobV1; 3] {
        [
            push(&self.queue, 7, "order.created", 0).await,
            push(&self.queue, 7, "order.updated", 5).await,
            push(&self.queue, 7, "order.status.updated", 9).await,
        ]
    }

    async fn entry(&self, job: &SyncJobV1) -> Option<sync_log::LogEntry> {
        sync_log::list(&self.db.pool, &Default::default())
            .await
            .unwrap()
            .into_iter()
            .find(|e| e.job_id == job.id)
    }

    async fn outcomes(&self) -> usize {
        sync_log::list(&self.db.pool, &Default::default())
            .await
            .unwrap()
            .len()
    }

    async fn drain_until(&self, worker: &Worker<Recorder>, n: usize) -> Vec<Processed> {
        let mut all = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.outcomes().await < n {
            assert!(Instant::now() < deadline, "processed so far: {all:?}");
            let batch = worker.process_next(1).await.unwrap();
            if batch.is_empty() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            all.extend(batch);
        }
        all
    }
}

#[tokio::test]
async fn created_updated_and_status_queued_together_become_one_run() {
    let r = rig("coalesce-one").await;
    let [created, updated, status] = r.three().await;
    let w = r.worker("w-one", test_worker_config());
    // One lease fetched (the oldest); the rest is claimed into its run.
    let processed = w.process_next(1).await.unwrap();
    assert_eq!(processed.len(), 3, "{processed:?}");
    assert_eq!(r.handler.runs(), vec![(status.id, status.event.clone())]);
    assert_eq!(
        processed
            .iter()
            .filter(|p| **p == Processed::Coalesced(status.id))
            .count(),
        2,
        "{processed:?}"
    );
    let s = r.entry(&status).await.unwrap();
    assert_eq!(s.outcome, sync_log::Outcome::Applied);
    for j in [&created, &updated] {
        let e = r.entry(j).await.unwrap();
        assert_eq!(e.outcome, sync_log::Outcome::Skipped);
        let reason = e.reason.unwrap();
        assert!(
            reason.starts_with(&format!("stale: coalesced into job {}", status.id)),
            "{reason}"
        );
        assert_eq!(e.odoo_ids, json!({"sale.order": [7]}));
    }
    assert_eq!(r.outcomes().await, 3);
    let stats = r.queue.stats().await.unwrap();
    assert_eq!(
        (stats.queued, stats.scheduled, stats.in_flight, stats.done),
        (0, 0, 0, 3)
    );
}

#[tokio::test]
async fn jobs_fetched_together_are_grouped_in_the_process_too() {
    let r = rig("coalesce-batch").await;
    let [_, _, status] = r.three().await;
    let other = push(&r.queue, 8, "order.created", 0).await;
    let w = r.worker("w-batch", test_worker_config());
    let processed = w.process_next(8).await.unwrap();
    assert_eq!(processed.len(), 4, "{processed:?}");
    let mut runs = r.handler.runs();
    runs.sort();
    let mut want = vec![
        (status.id, status.event.clone()),
        (other.id, other.event.clone()),
    ];
    want.sort();
    assert_eq!(runs, want);
    assert!(
        !processed
            .iter()
            .any(|p| matches!(p, Processed::Deferred(_)))
    );
}

#[tokio::test]
async fn a_transient_failure_puts_every_coalesced_job_back_and_loses_nothing() {
    let r = rig("coalesce-transient").await;
    r.handler
        .set("order.status.updated", Script::FailTransient(1));
    let [created, updated, status] = r.three().await;
    let w = r.worker("w-transient", test_worker_config());
    let first = w.process_next(1).await.unwrap();
    assert_eq!(
        first
            .iter()
            .filter(|p| matches!(p, Processed::Retried(_)))
            .count(),
        1,
        "{first:?}"
    );
    assert_eq!(
        first
            .iter()
            .filter(|p| **p == Processed::Deferred("coalesced_retry"))
            .count(),
        2,
        "{first:?}"
    );
    assert_eq!(r.outcomes().await, 0);
    let stats = r.queue.stats().await.unwrap();
    assert_eq!(stats.queued + stats.scheduled, 3);
    r.drain_until(&w, 3).await;
    assert_eq!(r.handler.runs_of("order.status.updated"), 2);
    assert_eq!(r.handler.runs_of("order.created"), 0);
    let s = r.entry(&status).await.unwrap();
    assert_eq!((s.outcome, s.attempt), (sync_log::Outcome::Applied, 1));
    for j in [&created, &updated] {
        assert_eq!(
            r.entry(j).await.unwrap().outcome,
            sync_log::Outcome::Skipped
        );
    }
    assert_eq!(r.outcomes().await, 3);
}

#[tokio::test]
async fn a_permanent_failure_dead_letters_the_run_and_the_covered_jobs_run_on_their_own() {
    let r = rig("coalesce-permanent").await;
    r.handler.set("order.status.updated", Script::Permanent);
    let [created, updated, status] = r.three().await;
    let w = r.worker("w-permanent", test_worker_config());
    r.drain_until(&w, 3).await;
    let s = r.entry(&status).await.unwrap();
    assert_eq!(s.outcome, sync_log::Outcome::DeadLettered);
    // Its own dead letter, with its own job: replayable as it came.
    let letters = outbox::list(&r.db.pool, &Default::default()).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].job_id, status.id);
    // The bodies it covered went back to the queue and ran without it: the newest applied, the
    // older one coalesced into that.
    assert_eq!(
        r.entry(&updated).await.unwrap().outcome,
        sync_log::Outcome::Applied
    );
    let c = r.entry(&created).await.unwrap();
    assert_eq!(c.outcome, sync_log::Outcome::Skipped);
    assert!(c.reason.unwrap().contains(&updated.id.to_string()));
    assert_eq!(r.outcomes().await, 3);
}

#[tokio::test]
async fn a_worker_that_crashes_mid_coalesce_loses_nothing() {
    let r = rig("coalesce-crash").await;
    let mut cfg = test_worker_config();
    cfg.orphan_timeout = Duration::from_millis(800);
    r.handler.set(
        "order.status.updated",
        Script::Sleep(Duration::from_secs(30)),
    );
    let [created, updated, status] = r.three().await;
    let doomed = r.worker("w-doomed", cfg.clone());
    let crashed = tokio::spawn({
        let w = doomed.clone();
        async move { w.run(std::future::pending()).await }
    });
    while r.handler.runs_of("order.status.updated") == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // All three are the doomed worker's leases now.
    assert_eq!(r.queue.inflight("w-doomed").await.unwrap().len(), 3);
    crashed.abort();
    let _ = crashed.await;
    r.handler.set("order.status.updated", Script::Ok);
    let survivor = r.worker("w-survivor", cfg);
    let (tx, run) = run_worker(&survivor);
    let started = Instant::now();
    while r.outcomes().await < 3 {
        assert!(started.elapsed() < Duration::from_secs(15), "not recovered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = tx.send(());
    run.await.unwrap().unwrap();
    assert_eq!(r.handler.runs_of("order.status.updated"), 2);
    assert_eq!(
        r.entry(&status).await.unwrap().outcome,
        sync_log::Outcome::Applied
    );
    for j in [&created, &updated] {
        assert_eq!(
            r.entry(j).await.unwrap().outcome,
            sync_log::Outcome::Skipped
        );
    }
    assert_eq!(r.outcomes().await, 3, "one outcome per job, none twice");
}

/// Wait until the recorder has started `n` runs of `event`.
async fn running_now(r: &Rig, event: &str, n: u32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while r.handler.runs_of(event) < n {
        assert!(Instant::now() < deadline, "{event} never ran");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_job_that_arrives_while_its_entity_runs_is_coalesced_by_the_late_claim() {
    let r = rig("coalesce-late").await;
    r.handler.set(
        "order.status.updated",
        Script::Sleep(Duration::from_millis(600)),
    );
    let status = push(&r.queue, 7, "order.status.updated", 9).await;
    let w = r.worker("w-late", test_worker_config());
    let lead = tokio::spawn({
        let w = w.clone();
        async move { w.process_next(1).await.unwrap() }
    });
    running_now(&r, "order.status.updated", 1).await;
    // While it runs: an older body arrives, and another worker fetches it at once and finds the
    // order locked (deferred by a second); a second older body arrives and just waits.
    let updated = push(&r.queue, 7, "order.updated", 5).await;
    let other = r.worker("w-other", test_worker_config());
    assert_eq!(
        other.process_next(1).await.unwrap(),
        vec![Processed::Deferred("entity_locked")]
    );
    let created = push(&r.queue, 7, "order.created", 0).await;
    let processed = lead.await.unwrap();
    assert_eq!(processed.len(), 3, "{processed:?}");
    assert_eq!(processed[0], Processed::Applied);
    assert_eq!(
        processed
            .iter()
            .filter(|p| **p == Processed::Coalesced(status.id))
            .count(),
        2,
        "{processed:?}"
    );
    // Odoo saw the status entry's run only.
    assert_eq!(r.handler.runs(), vec![(status.id, status.event.clone())]);
    for j in [&created, &updated] {
        let e = r.entry(j).await.unwrap();
        assert_eq!(e.outcome, sync_log::Outcome::Skipped);
        assert!(
            e.reason
                .unwrap()
                .starts_with(&format!("stale: coalesced into job {}", status.id))
        );
    }
    assert_eq!(r.outcomes().await, 3);
    let stats = r.queue.stats().await.unwrap();
    assert_eq!(
        (stats.queued, stats.scheduled, stats.in_flight, stats.done),
        (0, 0, 0, 3)
    );
}

#[tokio::test]
async fn a_newer_state_that_arrives_while_its_entity_runs_still_runs() {
    let r = rig("coalesce-late-newer").await;
    r.handler.set(
        "order.status.updated",
        Script::Sleep(Duration::from_millis(600)),
    );
    // A group (created + status): the newer body that arrives during its run runs in it, under
    // the lock.
    let created = push(&r.queue, 7, "order.created", 0).await;
    let status = push(&r.queue, 7, "order.status.updated", 9).await;
    let w = r.worker("w-late-newer", test_worker_config());
    let lead = tokio::spawn({
        let w = w.clone();
        async move { w.process_next(1).await.unwrap() }
    });
    running_now(&r, "order.status.updated", 1).await;
    let newer = push(&r.queue, 7, "order.updated", 12).await;
    let older = push(&r.queue, 7, "order.updated", 3).await;
    let processed = lead.await.unwrap();
    assert_eq!(processed.len(), 4, "{processed:?}");
    assert_eq!(
        r.handler.runs(),
        vec![
            (status.id, status.event.clone()),
            (newer.id, newer.event.clone())
        ]
    );
    assert_eq!(
        r.entry(&newer).await.unwrap().outcome,
        sync_log::Outcome::Applied
    );
    // The older one is covered by the newest body, the one that ran last.
    let o = r.entry(&older).await.unwrap();
    assert_eq!(o.outcome, sync_log::Outcome::Skipped);
    assert!(o.reason.unwrap().contains(&newer.id.to_string()));
    assert_eq!(
        r.entry(&created).await.unwrap().outcome,
        sync_log::Outcome::Skipped
    );

    // A job that ran alone (its store slot went with its ack): the newer body goes back to the
    // queue, due at once, and runs next.
    let alone = push(&r.queue, 8, "order.status.updated", 9).await;
    let lead = tokio::spawn({
        let w = w.clone();
        async move { w.process_next(1).await.unwrap() }
    });
    running_now(&r, "order.status.updated", 2).await;
    let newer8 = push(&r.queue, 8, "order.updated", 12).await;
    let processed = lead.await.unwrap();
    assert_eq!(
        processed,
        vec![Processed::Applied, Processed::Deferred("late_claim")]
    );
    let next = w.process_next(1).await.unwrap();
    assert_eq!(next, vec![Processed::Applied], "due at once");
    assert_eq!(
        r.entry(&alone).await.unwrap().outcome,
        sync_log::Outcome::Applied
    );
    assert_eq!(
        r.entry(&newer8).await.unwrap().outcome,
        sync_log::Outcome::Applied
    );
    assert_eq!(r.outcomes().await, 6);
}
