//! The `salla-odoo` binary against real Redis and Postgres: output, `--json` and exit codes.

use std::process::{Command, Output};
use std::time::Duration;

use salla_odoo_core::{BodyDigest, JobKind, MerchantId, SyncJob, SyncJobV1};
use salla_odoo_queue::{DedupeKey, QueueConfig, RedisQueue};

fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL")
        .or_else(|_| std::env::var("REDIS_URL"))
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn pg_server() -> String {
    std::env::var("TEST_DATABASE_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

fn cli(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_salla-odoo"));
    cmd.args(args).env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("salla-odoo runs")
}

fn job(merchant: u64, kind: JobKind, n: u64) -> SyncJob {
    SyncJob::V1(SyncJobV1 {
        id: uuid::Uuid::now_v7(),
        kind,
        merchant: MerchantId::new(merchant),
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

#[tokio::test]
async fn queue_stats_counts_the_namespace_in_use() {
    let ns = format!("test:cli:{}", uuid::Uuid::new_v4().simple());
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
    for n in 0..3 {
        let j = job(7, JobKind::OrderUpsert, n);
        queue
            .enqueue(
                &j,
                &DedupeKey::new(MerchantId::new(7), "order.created", &j.v1().digest),
            )
            .await
            .unwrap();
    }
    let j = job(8, JobKind::CustomerUpsert, 99);
    queue
        .enqueue(
            &j,
            &DedupeKey::new(MerchantId::new(8), "customer.created", &j.v1().digest),
        )
        .await
        .unwrap();

    let redis = redis_url();
    let env = [
        ("REDIS_URL", redis.as_str()),
        ("SALLA_ODOO__QUEUE__NAMESPACE", ns.as_str()),
    ];
    let out = cli(&env, &["queue", "stats", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stats["queued"], 4);
    assert_eq!(stats["namespace"], ns.as_str());
    assert_eq!(stats["by_kind"]["order.upsert"], 3);
    assert_eq!(stats["by_store"]["8"], 1);

    let out = cli(&env, &["queue", "stats"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("queued      4"), "{text}");

    // Another namespace sees none of them.
    let other = format!("{ns}-other");
    let out = cli(
        &[
            ("REDIS_URL", redis.as_str()),
            ("SALLA_ODOO__QUEUE__NAMESPACE", &other),
        ],
        &["queue", "stats", "--json"],
    );
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stats["queued"], 0);

    let client = redis::Client::open(redis.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{ns}:*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: () = redis::cmd("DEL")
        .arg(keys)
        .query_async(&mut conn)
        .await
        .unwrap();
}

#[test]
fn unreachable_redis_exits_3_and_says_so() {
    let out = cli(
        &[("REDIS_URL", "redis://127.0.0.1:1")],
        &["queue", "stats", "--json"],
    );
    assert_eq!(out.status.code(), Some(3));
    let err: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["exit_code"], 3);
    assert!(err["error"].as_str().unwrap().contains("redis"));
}

#[test]
fn bad_configuration_exits_2() {
    let out = cli(&[("SALLA_ODOO__QUEUE__NAMSPACE", "x")], &["queue", "stats"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SALLA_ODOO__QUEUE__NAMSPACE"));
    let out = cli(&[], &["queue", "frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn config_never_prints_secrets() {
    let out = cli(
        &[
            ("SALLA_ODOO__SALLA__WEBHOOK_SECRET", "very-secret-value"),
            ("DATABASE_URL", "postgres://u:db-password@h/d"),
        ],
        &["config"],
    );
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("namespace"));
    assert!(
        !text.contains("very-secret-value") && !text.contains("db-password"),
        "{text}"
    );
}

#[tokio::test]
async fn migrate_applies_then_reports_applied() {
    let db = format!("salla_odoo_test_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&format!("{}/postgres", pg_server()))
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .execute(&admin)
        .await
        .unwrap();
    let url = format!("{}/{db}", pg_server());

    let out = cli(
        &[("DATABASE_URL", &url)],
        &["migrate", "--status", "--json"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let before: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        before
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["applied"] == false)
    );

    let out = cli(&[("DATABASE_URL", &url)], &["migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("applied"));
    // Running it again is a no-op.
    let out = cli(&[("DATABASE_URL", &url)], &["migrate", "--json"]);
    let after: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        after
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["applied"] == true)
    );

    let pool = salla_odoo_store::Db::from(sqlx::PgPool::connect(&url).await.unwrap());
    let row = salla_odoo_store::stores::upsert_installed(
        &pool,
        MerchantId::new(42),
        Some(6789012345),
        Some("live"),
    )
    .await
    .unwrap();
    assert_eq!(row.status, "installed");
    let again = salla_odoo_store::stores::upsert_installed(&pool, MerchantId::new(42), None, None)
        .await
        .unwrap();
    assert_eq!(again.app_id, Some(6789012345));
    assert_eq!(
        salla_odoo_store::stores::list(&pool).await.unwrap().len(),
        1
    );
    pool.close().await;

    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {db} WITH (FORCE)"
    )))
    .execute(&admin)
    .await
    .unwrap();
}

#[test]
fn unreachable_postgres_exits_3() {
    let out = cli(
        &[
            ("DATABASE_URL", "postgres://postgres@127.0.0.1:1/x"),
            ("SALLA_ODOO__DATABASE__ACQUIRE_TIMEOUT_MS", "500"),
        ],
        &["migrate"],
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
