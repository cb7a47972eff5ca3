//! Found by the fault-injection run (`make chaos`): a job that finished while Redis was down could
//! not be acknowledged, and stayed in its worker's in-flight set for as long as that worker lived —
//! its outcome recorded, but the queue never empty (`queue stats`: in flight 1, forever); a job
//! whose retry could not be scheduled was never run again. The smallest reproduction: one worker,
//! one order, Redis (with AOF) killed while the job runs and started again 7 s later.

use std::time::{Duration, Instant};

use salla_odoo_tests::chaos::faults::Admin;
use salla_odoo_tests::chaos::fleet::{ChaosFleet, FleetConfig, SECRET};
use salla_odoo_tests::{order_event, sign};
use serde_json::json;

const MERCHANT: u64 = 1_700_000_801;

fn queue_counts(fleet: &ChaosFleet) -> Option<(u64, u64, u64)> {
    let out = fleet.cli(&["queue", "stats", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some((
        v["queued"].as_u64()?,
        v["scheduled"].as_u64()?,
        v["in_flight"].as_u64()?,
    ))
}

async fn outcomes(fleet: &ChaosFleet) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM sync_log")
        .fetch_one(&fleet.db.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_finished_while_redis_is_down_leaves_the_queue_once_redis_is_back() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = std::env::temp_dir().join(format!("salla-odoo-redis-crash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut fleet = ChaosFleet::start(
        &dir,
        FleetConfig {
            workers: 1,
            odoo_versions: vec![18],
            retry_max_attempts: 8,
            salla_env: Vec::new(),
        },
    )
    .await;
    fleet.add_store(MERCHANT, 0);
    // Slow Odoo calls keep the job in flight long enough to take Redis away under it.
    Admin::new()
        .post(
            &fleet.sandboxes[0].url,
            "/_sandbox/faults/latency",
            json!({"fixed_ms": 250, "jitter_ms": 0}),
        )
        .await
        .unwrap();
    fleet.start_workers();
    let body = order_event(
        "order.created",
        MERCHANT,
        9_801,
        "2026-11-02 10:00:00",
        1,
        "CRASH-1",
    );
    let answer = reqwest::Client::new()
        .post(format!("{}/webhooks/salla", fleet.ingest_url))
        .header("x-salla-signature", sign(SECRET, &body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);

    let start = Instant::now();
    while queue_counts(&fleet).map(|q| q.2) != Some(1) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the job never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Redis dies while the job runs. The job ends while it is down (finished, its ack failing; or,
    // as its calls need Redis for the store's rate limit, timed out, its retry failing to schedule).
    fleet.redis.kill();
    tokio::time::sleep(Duration::from_secs(7)).await;
    fleet.redis.restart();

    // Once Redis is back the lease ends (the job runs again if it had not finished), with the worker
    // still alive: one outcome, nothing waiting, nothing in flight.
    let back = Instant::now();
    let mut counts = queue_counts(&fleet);
    while (counts != Some((0, 0, 0)) || outcomes(&fleet).await == 0)
        && back.elapsed() < Duration::from_secs(20)
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
        counts = queue_counts(&fleet);
    }
    let applied: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sync_log WHERE outcome = 'applied'")
            .fetch_one(&fleet.db.pool)
            .await
            .unwrap();
    fleet.cleanup().await;
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        counts,
        Some((0, 0, 0)),
        "queue (queued, scheduled, in flight) 20 s after Redis came back"
    );
    assert_eq!(applied, 1);
}
