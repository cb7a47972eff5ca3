//! The queue's consuming side, on both backends (Redis for the fleet, the embedded SQLite file for
//! `salla-odoo run`): leases, acks, delayed retries, crash recovery, poison counting and hand-back on
//! shutdown. Every test runs its body once per backend; one namespace / one file per test.

use std::time::Duration;

use salla_odoo_core::{BodyDigest, JobKind, MerchantId, SyncJob, SyncJobV1};
use salla_odoo_queue::{DedupeKey, Enqueued, Queue};
use salla_odoo_tests::{
    BackendQueue, queue_backends, redis_url, test_redis_queue, unique_namespace,
};

fn job(n: u64) -> SyncJob {
    SyncJob::V1(SyncJobV1 {
        id: uuid::Uuid::now_v7(),
        kind: JobKind::OrderUpsert,
        merchant: MerchantId::new(5),
        event: "order.created".into(),
        entity: None,
        digest: BodyDigest::of(&n.to_le_bytes()),
        salla_created_at: "2026-01-01 10:00:00".into(),
        received_at: time::OffsetDateTime::now_utc(),
        attempt: 0,
        data: serde_json::json!({"id": n}),
        history: Vec::new(),
        trace: None,
    })
}

async fn push(q: &Queue, n: u64) -> SyncJob {
    let j = job(n);
    let key = DedupeKey::new(MerchantId::new(5), "order.created", &j.v1().digest);
    assert_eq!(q.enqueue(&j, &key).await.unwrap(), Enqueued::Queued);
    j
}

#[tokio::test]
async fn fetch_leases_then_ack_leaves_nothing_behind() {
    for BackendQueue { queue: q, .. } in &queue_backends("lease").await {
        let j = push(q, 1).await;
        let leases = q.fetch("w1", 10).await.unwrap();
        assert_eq!(leases.len(), 1);
        let lease = &leases[0];
        assert_eq!(lease.starts, 1);
        assert_eq!(lease.job.as_ref().unwrap(), &j);
        assert_eq!(q.inflight("w1").await.unwrap(), vec![lease.id.clone()]);
        // Nothing else is handed out while it is leased.
        assert!(q.fetch("w2", 10).await.unwrap().is_empty());
        let stats = q.stats().await.unwrap();
        assert_eq!((stats.queued, stats.in_flight), (0, 1));
        // In-flight jobs count in the by-kind and by-store figures too.
        assert_eq!(stats.by_kind.get("order.upsert"), Some(&1));
        assert_eq!(stats.by_store.get("5"), Some(&1));

        assert!(q.ack("w1", &lease.id).await.unwrap());
        // Acking twice, or someone else's lease, does nothing.
        assert!(!q.ack("w1", &lease.id).await.unwrap());
        let stats = q.stats().await.unwrap();
        assert_eq!((stats.queued, stats.in_flight, stats.done), (0, 0, 1));
        // Finished jobs leave no payload behind (the embedded queue keeps an empty row as the
        // dedupe claim until the window passes).
        assert_finished_leave_nothing(q).await;
    }
}

#[tokio::test]
async fn reschedule_delays_and_replaces_the_job() {
    for BackendQueue { queue: q, .. } in &queue_backends("reschedule").await {
        push(q, 2).await;
        let lease = q.fetch("w1", 1).await.unwrap().remove(0);
        let SyncJob::V1(mut next) = lease.job.clone().unwrap();
        next.attempt = 1;
        assert!(
            q.reschedule(
                "w1",
                &lease.id,
                &SyncJob::V1(next.clone()),
                Duration::from_secs(30)
            )
            .await
            .unwrap()
        );
        let stats = q.stats().await.unwrap();
        assert_eq!((stats.queued, stats.scheduled, stats.in_flight), (0, 1, 0));
        assert!(q.fetch("w1", 1).await.unwrap().is_empty(), "not due yet");

        // Without a delay, due at once (Redis scores to the millisecond; embedded: this second).
        push(q, 3).await;
        let lease3 = q.fetch("w1", 1).await.unwrap().remove(0);
        assert!(
            q.reschedule(
                "w1",
                &lease3.id,
                lease3.job.as_ref().unwrap(),
                Duration::ZERO
            )
            .await
            .unwrap()
        );
        let mut again = Vec::new();
        for _ in 0..60 {
            again = q.fetch("w1", 1).await.unwrap();
            if !again.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].id, lease3.id);
        assert_eq!(
            again[0].starts, 1,
            "a reschedule is an outcome: the start count restarts"
        );
        let waiting = q.waiting_jobs().await.unwrap();
        assert_eq!(waiting.len(), 1);
        assert_eq!(waiting[0].v1().attempt, 1);
    }
}

#[tokio::test]
async fn a_dead_workers_jobs_are_requeued_after_the_orphan_timeout_and_counted() {
    for BackendQueue { queue: q, .. } in &queue_backends("orphans").await {
        push(q, 4).await;
        let lease = q.fetch("crashed", 1).await.unwrap().remove(0);
        // A live worker heartbeating keeps its jobs.
        q.heartbeat("alive").await.unwrap();
        assert_eq!(q.requeue_orphans(Duration::from_secs(60)).await.unwrap(), 0);
        // Silent for longer than the timeout: its job goes back, first in line.
        tokio::time::sleep(Duration::from_millis(50)).await;
        q.heartbeat("alive").await.unwrap();
        assert_eq!(
            q.requeue_orphans(Duration::from_millis(20)).await.unwrap(),
            1
        );
        assert!(q.inflight("crashed").await.unwrap().is_empty());
        let again = q.fetch("alive", 1).await.unwrap().remove(0);
        assert_eq!(again.id, lease.id);
        assert_eq!(
            again.starts, 2,
            "the second start of a job that never finished"
        );
        // The crashed worker's late ack is refused: the new lease decides.
        assert!(!q.ack("crashed", &lease.id).await.unwrap());
        assert!(q.ack("alive", &lease.id).await.unwrap());
    }
}

#[tokio::test]
async fn release_hands_unfinished_jobs_back_at_once() {
    for BackendQueue { queue: q, .. } in &queue_backends("release").await {
        push(q, 5).await;
        push(q, 6).await;
        let leases = q.fetch("stopping", 2).await.unwrap();
        assert_eq!(leases.len(), 2);
        assert!(q.ack("stopping", &leases[0].id).await.unwrap());
        assert_eq!(q.release("stopping").await.unwrap(), 1);
        let stats = q.stats().await.unwrap();
        assert_eq!((stats.queued, stats.in_flight, stats.workers), (1, 0, 0));
        let next = q.fetch("other", 5).await.unwrap();
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].id, leases[1].id);
    }
}

#[tokio::test]
async fn undecodable_entries_are_reported_not_dropped() {
    for BackendQueue { queue: q, .. } in &queue_backends("garbage").await {
        insert_garbage(q, "bad-1", "{\"version\":\"7\"}").await;
        let lease = q.fetch("w", 1).await.unwrap().remove(0);
        let err = lease.job.unwrap_err();
        assert!(err.raw.contains("\"7\""));
        assert!(q.dead("w", "bad-1").await.unwrap());
        assert_eq!(q.stats().await.unwrap().dead, 1);
    }
}

async fn assert_finished_leave_nothing(q: &Queue) {
    match q {
        Queue::Redis(_) => {
            let client = redis::Client::open(redis_url()).unwrap();
            let mut conn = client.get_multiplexed_async_connection().await.unwrap();
            let data: i64 = redis::cmd("HLEN")
                .arg(format!("{}:sync:data", q.namespace()))
                .query_async(&mut conn)
                .await
                .unwrap();
            assert_eq!(data, 0);
            let metas: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{}:sync:meta:*", q.namespace()))
                .query_async(&mut conn)
                .await
                .unwrap();
            assert!(metas.is_empty(), "{metas:?}");
        }
        Queue::Embedded(e) => {
            let payloads: i64 =
                sqlx::query_scalar("SELECT count(*) FROM Jobs WHERE length(job) > 0")
                    .fetch_one(e.pool())
                    .await
                    .unwrap();
            assert_eq!(payloads, 0);
        }
    }
}

/// A queue entry this version cannot decode, waiting to be fetched.
async fn insert_garbage(q: &Queue, id: &str, data: &str) {
    match q {
        Queue::Redis(_) => {
            let client = redis::Client::open(redis_url()).unwrap();
            let mut conn = client.get_multiplexed_async_connection().await.unwrap();
            let ns = q.namespace().to_owned();
            let _: () = redis::cmd("HSET")
                .arg(format!("{ns}:sync:data"))
                .arg(id)
                .arg(data)
                .query_async(&mut conn)
                .await
                .unwrap();
            let _: () = redis::cmd("RPUSH")
                .arg(format!("{ns}:sync:active"))
                .arg(id)
                .query_async(&mut conn)
                .await
                .unwrap();
        }
        Queue::Embedded(e) => {
            sqlx::query(
                "INSERT INTO Jobs (job, id, job_type, status, attempts, max_attempts, run_at)
                 VALUES ($1, $2, $3, 'Pending', 0, 25, 0)",
            )
            .bind(data.as_bytes())
            .bind(id)
            .bind(format!("{}:sync", q.namespace()))
            .execute(e.pool())
            .await
            .unwrap();
        }
    }
}

#[tokio::test]
async fn the_same_delivery_is_queued_once_within_the_window() {
    for BackendQueue { queue: q, .. } in &queue_backends("dedupe").await {
        let first = job(7);
        let key = DedupeKey::new(MerchantId::new(5), "order.created", &first.v1().digest);
        assert_eq!(q.enqueue(&first, &key).await.unwrap(), Enqueued::Queued);
        // A resend (new job id, same delivery) while queued, and after it finished: duplicates.
        assert_eq!(q.enqueue(&job(7), &key).await.unwrap(), Enqueued::Duplicate);
        let lease = q.fetch("w", 1).await.unwrap().remove(0);
        assert!(q.ack("w", &lease.id).await.unwrap());
        assert_eq!(q.enqueue(&job(7), &key).await.unwrap(), Enqueued::Duplicate);
        let ttl = q.dedupe_ttl(&key).await.unwrap().expect("claimed");
        assert!(
            ttl <= Duration::from_secs(60) && ttl >= Duration::from_secs(58),
            "{ttl:?}"
        );
        assert_eq!(q.stats().await.unwrap().queued, 0);
        // A different delivery is not a duplicate.
        push(q, 8).await;
        assert_eq!(q.stats().await.unwrap().queued, 1);
    }
}

#[tokio::test]
async fn the_embedded_queue_keeps_jobs_across_a_reopen_and_recovers_running_ones() {
    let ns = unique_namespace("reopen");
    let dir = std::env::temp_dir().join(format!("salla-odoo-queue-{ns}"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("queue.db");
    let open =
        || salla_odoo_queue::embedded::SqliteQueue::open(&path, &ns, Duration::from_secs(60));
    let q: Queue = open().await.unwrap().into();
    let a = push(&q, 1).await;
    let b = push(&q, 2).await;
    let held = q.fetch("before-crash", 1).await.unwrap().remove(0);
    assert_eq!(held.job.as_ref().unwrap(), &a);
    // No clean shutdown: the pool is simply dropped, as a killed process would leave it.
    drop(q);
    let q: Queue = open().await.unwrap().into();
    assert_eq!(q.stats().await.unwrap().in_flight, 1);
    // The next run, alone on the file, takes back everything a previous run held.
    assert_eq!(q.requeue_orphans(Duration::ZERO).await.unwrap(), 1);
    let again = q.fetch("after-restart", 5).await.unwrap();
    let ids: Vec<_> = again
        .iter()
        .map(|l| l.job.as_ref().unwrap().clone())
        .collect();
    assert_eq!(ids, vec![a, b]);
    assert_eq!(again[0].starts, 2);
    q.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn give_back_returns_named_leases_of_a_live_worker_first_in_line() {
    for BackendQueue { queue: q, .. } in &queue_backends("give-back").await {
        let a = push(q, 21).await;
        push(q, 22).await;
        let held = q.fetch("w", 1).await.unwrap().remove(0);
        assert_eq!(held.job.as_ref().unwrap(), &a);
        // Someone else's lease, or an unknown id, is not touched.
        assert_eq!(
            q.give_back("other", std::slice::from_ref(&held.id))
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            q.give_back("w", &[held.id.clone(), "nope".into()])
                .await
                .unwrap(),
            1
        );
        assert!(q.inflight("w").await.unwrap().is_empty());
        let again = q.fetch("w2", 1).await.unwrap().remove(0);
        assert_eq!(again.id, held.id, "handed back first in line");
        // Its late ack from the first worker is refused.
        assert!(!q.ack("w", &held.id).await.unwrap());
    }
}

/// Enqueues that arrive together share script calls (group commit), and each caller still learns
/// its own outcome: of two concurrent sends of one delivery exactly one is queued. Runs on a Redis
/// of its own, whose command counts are this test's alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_enqueues_share_script_calls_and_each_learns_its_own_outcome() {
    let own = salla_odoo_tests::OwnRedis::start();
    let url = own.url();
    let q = test_redis_queue(&url, "group");
    let calls = async || -> u64 {
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(&mut conn)
            .await
            .unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix("cmdstat_evalsha:calls="))
            .and_then(|rest| rest.split(',').next()?.parse().ok())
            .unwrap_or(0)
    };
    let before = calls().await;
    // 300 deliveries, each sent twice at once (a resend racing the original: new job id, same key).
    let sends: Vec<(u64, SyncJob)> = (0..300u64)
        .flat_map(|n| [(n, job(n)), (n, job(n))])
        .collect();
    let outcomes = futures::future::join_all(sends.iter().map(|(n, j)| {
        let q = q.clone();
        async move {
            let key = DedupeKey::new(MerchantId::new(5), "order.created", &j.v1().digest);
            (*n, q.enqueue(j, &key).await.unwrap())
        }
    }))
    .await;
    for n in 0..300u64 {
        let mine: Vec<Enqueued> = outcomes
            .iter()
            .filter(|(m, _)| *m == n)
            .map(|(_, o)| *o)
            .collect();
        assert_eq!(
            mine.iter().filter(|o| **o == Enqueued::Queued).count(),
            1,
            "delivery {n}: {mine:?}"
        );
    }
    assert_eq!(Queue::from(q.clone()).stats().await.unwrap().queued, 300);
    let scripts = calls().await - before;
    assert!(
        scripts < 600 / 4,
        "600 concurrent enqueues took {scripts} script calls"
    );
}
