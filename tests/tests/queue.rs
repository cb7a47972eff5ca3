//! The queue's consuming side against a real Redis: leases, acks, delayed retries, crash recovery,
//! poison counting and hand-back on shutdown. One namespace per test.

use std::time::Duration;

use salla_odoo_core::{BodyDigest, JobKind, MerchantId, SyncJob, SyncJobV1};
use salla_odoo_queue::{DedupeKey, Enqueued, QueueConfig, RedisQueue};
use salla_odoo_tests::{delete_namespace, redis_url, unique_namespace};

struct Ns {
    queue: RedisQueue,
    ns: String,
}

impl Drop for Ns {
    fn drop(&mut self) {
        delete_namespace(&redis_url(), &self.ns);
    }
}

fn queue(test: &str) -> Ns {
    let ns = unique_namespace(test);
    let queue = RedisQueue::new(
        &redis_url(),
        QueueConfig {
            namespace: ns.clone(),
            dedupe_window: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(1),
            command_timeout: Duration::from_secs(1),
        },
    )
    .unwrap();
    Ns { queue, ns }
}

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
    })
}

async fn push(q: &RedisQueue, n: u64) -> SyncJob {
    let j = job(n);
    let key = DedupeKey::new(MerchantId::new(5), "order.created", &j.v1().digest);
    assert_eq!(q.enqueue(&j, &key).await.unwrap(), Enqueued::Queued);
    j
}

#[tokio::test]
async fn fetch_leases_then_ack_leaves_nothing_behind() {
    let Ns { queue: q, .. } = &queue("lease");
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
    // Finished jobs leave no data or metadata to vacuum.
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

#[tokio::test]
async fn reschedule_delays_and_replaces_the_job() {
    let Ns { queue: q, .. } = &queue("reschedule");
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

    // Due after one second at the earliest (scores are whole seconds).
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

#[tokio::test]
async fn a_dead_workers_jobs_are_requeued_after_the_orphan_timeout_and_counted() {
    let Ns { queue: q, .. } = &queue("orphans");
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

#[tokio::test]
async fn release_hands_unfinished_jobs_back_at_once() {
    let Ns { queue: q, .. } = &queue("release");
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

#[tokio::test]
async fn undecodable_entries_are_reported_not_dropped() {
    let Ns { queue: q, .. } = &queue("garbage");
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let ns = q.namespace().to_owned();
    let _: () = redis::cmd("HSET")
        .arg(format!("{ns}:sync:data"))
        .arg("bad-1")
        .arg("{\"version\":\"7\"}")
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: () = redis::cmd("RPUSH")
        .arg(format!("{ns}:sync:active"))
        .arg("bad-1")
        .query_async(&mut conn)
        .await
        .unwrap();
    let lease = q.fetch("w", 1).await.unwrap().remove(0);
    let err = lease.job.unwrap_err();
    assert!(err.raw.contains("\"7\""));
    assert!(q.dead("w", "bad-1").await.unwrap());
    assert_eq!(q.stats().await.unwrap().dead, 1);
}
