//! What differs between the backends, and the proof that it does not show: migrations (the same
//! schema on both, idempotent), timestamps (stored as fixed-width UTC text on SQLite, ordered as
//! instants), locks (an in-process registry on SQLite) and the transient errors of SQLite.

mod common;

use std::time::Duration;

use salla_odoo_core::MerchantId;
use salla_odoo_store::retention::{self, Policy};
use salla_odoo_store::sync_log::{self, NewLogEntry, Outcome};
use salla_odoo_store::{
    Backend, Db, DbConfig, MIGRATOR, SQLITE_MIGRATOR, StoreError, Timestamp, id_map, locks, stores,
};
use secrecy::SecretString;
use serde_json::json;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use time::macros::datetime;
use time::{OffsetDateTime, UtcOffset};
use uuid::Uuid;

use common::{TestDb, each_backend};

const M1: MerchantId = MerchantId::new(1_305_418_202);

// ---------------------------------------------------------------------------------------------
// migrations

#[test]
fn the_postgres_migrator_does_not_read_the_sqlite_folder_and_both_have_the_same_versions() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
    let top_level = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_type().unwrap().is_file() && e.path().extension() == Some("sql".as_ref())
        })
        .count();
    assert!(root.join("sqlite").is_dir());
    assert_eq!(MIGRATOR.iter().count(), top_level);
    assert!(
        MIGRATOR.iter().all(|m| !m.sql.as_str().contains("STRICT")),
        "a SQLite migration was embedded for Postgres"
    );
    let versions = |m: &sqlx::migrate::Migrator| {
        m.iter()
            .map(|m| (m.version, m.description.to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(versions(&MIGRATOR), versions(&SQLITE_MIGRATOR));
}

#[tokio::test]
async fn migrating_twice_changes_nothing_and_every_migration_is_applied() {
    each_backend(async |db| {
        let before = db.dump().await;
        let status = salla_odoo_store::migrate(&db.pool).await.unwrap();
        assert_eq!(status.len(), MIGRATOR.iter().count());
        assert!(status.iter().all(|m| m.applied), "{status:?}");
        assert_eq!(
            salla_odoo_store::migration_status(&db.pool).await.unwrap(),
            status
        );
        assert_eq!(db.dump().await, before);
    })
    .await;
}

#[tokio::test]
async fn migration_status_of_an_empty_database_is_all_pending() {
    let dir = tempfile::tempdir().unwrap();
    let db = salla_odoo_store::open_sqlite(&dir.path().join("new.db"))
        .await
        .unwrap();
    let status = salla_odoo_store::migration_status(&db).await.unwrap();
    assert_eq!(status.len(), SQLITE_MIGRATOR.iter().count());
    assert!(status.iter().all(|m| !m.applied));
    db.close().await;
}

/// Table → sorted column names, and the index names, as each backend reports them.
async fn schema(db: &Db) -> (Vec<(String, Vec<String>)>, Vec<String>) {
    let (columns, mut indexes): (Vec<(String, String)>, Vec<String>) = match db {
        Db::Session(_) => unreachable!("a test database is a pool"),
        Db::Postgres(pool) => (
            sqlx::query_as(
                "SELECT table_name::text, column_name::text FROM information_schema.columns
                 WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
            )
            .fetch_all(pool)
            .await
            .unwrap(),
            sqlx::query_scalar(
                "SELECT indexname::text FROM pg_indexes
                 WHERE schemaname = 'public' AND indexname NOT LIKE '%_pkey'
                   AND indexname NOT LIKE '%_key'",
            )
            .fetch_all(pool)
            .await
            .unwrap(),
        ),
        Db::Sqlite(pool) => (
            sqlx::query_as(
                "SELECT m.name, c.name FROM sqlite_master m, pragma_table_info(m.name) c
                 WHERE m.type = 'table' AND m.name NOT IN ('_sqlx_migrations', 'sqlite_sequence')",
            )
            .fetch_all(pool)
            .await
            .unwrap(),
            sqlx::query_scalar(
                "SELECT name FROM sqlite_master
                 WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex_%'",
            )
            .fetch_all(pool)
            .await
            .unwrap(),
        ),
    };
    let mut tables: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (t, c) in columns {
        tables.entry(t).or_default().push(c);
    }
    for c in tables.values_mut() {
        c.sort();
    }
    indexes.sort();
    (tables.into_iter().collect(), indexes)
}

#[tokio::test]
async fn both_backends_have_the_same_tables_columns_and_indexes() {
    let pg = TestDb::new(Backend::Postgres).await;
    let lite = TestDb::new(Backend::Sqlite).await;
    let (pg_tables, pg_indexes) = schema(&pg.pool).await;
    let (lite_tables, lite_indexes) = schema(&lite.pool).await;
    assert_eq!(pg_tables.len(), 6, "{pg_tables:?}");
    assert_eq!(lite_tables, pg_tables);
    assert_eq!(lite_indexes, pg_indexes);
}

#[tokio::test]
async fn constraints_refuse_the_same_rows_on_both() {
    each_backend(async |db| {
        for bad in [
            // merchant ids are positive; 0 only for a dead letter of an unknown merchant
            "INSERT INTO stores (merchant_id) VALUES (0)",
            "INSERT INTO stores (merchant_id, status) VALUES (5, 'paused')",
            "INSERT INTO stores (merchant_id, odoo_version_override) VALUES (5, 15)",
            "INSERT INTO stores (merchant_id, stock_master) VALUES (5, 'erp')",
            "INSERT INTO id_map (merchant_id, entity, salla_id, odoo_model, odoo_id, source_version)
             VALUES (-1, 'order', 1, 'sale.order', 1, 1)",
            "INSERT INTO sync_log (job_id, merchant_id, event, kind, outcome, attempt, duration_ms)
             VALUES ('9c6a1a4e-36b6-4d3e-9d3f-1d2b3c4d5e6f', 1, 'e', 'k', 'lost', 0, 1)",
            "INSERT INTO dead_letters (job_id, merchant_id, event, kind, job, error, class)
             VALUES ('9c6a1a4e-36b6-4d3e-9d3f-1d2b3c4d5e6f', -1, 'e', 'k', '{}', 'x', 'permanent')",
        ] {
            let sql = match db.pool.backend() {
                // SQLite keeps a UUID as its 16 bytes.
                Backend::Sqlite => bad.replace(
                    "'9c6a1a4e-36b6-4d3e-9d3f-1d2b3c4d5e6f'",
                    "X'9c6a1a4e36b64d3e9d3f1d2b3c4d5e6f'",
                ),
                Backend::Postgres => bad.to_owned(),
            };
            let done = on_pool!(&db.pool, pool => {
                sqlx::query(sqlx::AssertSqlSafe(sql.clone())).execute(pool).await.map(|_| ())
            });
            assert!(done.is_err(), "{sql} was accepted");
        }
    })
    .await;
    // SQLite only: the types Postgres enforces by itself.
    let db = TestDb::new(Backend::Sqlite).await;
    let pool = db.pool.as_sqlite().unwrap();
    for bad in [
        // a timestamp in any other form than the fixed-width UTC one would break ordering
        "INSERT INTO stores (merchant_id, purge_after) VALUES (5, '2026-11-29T10:00:00Z')",
        "INSERT INTO stores (merchant_id, purge_after) VALUES (5, '2026-11-29 10:00:00.000000')",
        "INSERT INTO stores (merchant_id, app_id) VALUES (5, 'abc')",
        "INSERT INTO stores (merchant_id, prices_include_tax) VALUES (5, 2)",
        "INSERT INTO stores (merchant_id, status_map) VALUES (5, '{not json')",
        "INSERT INTO secrets (merchant_id, name, key_id, nonce, ciphertext)
         VALUES (5, 'n', 'k', X'00', X'00')",
        "INSERT INTO sync_log (job_id, merchant_id, event, kind, outcome, attempt, duration_ms)
         VALUES (X'00', 1, 'e', 'k', 'applied', 0, 1)",
    ] {
        assert!(
            sqlx::query(bad).execute(pool).await.is_err(),
            "{bad} was accepted"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// timestamps

#[tokio::test]
async fn timestamps_round_trip_to_the_microsecond_whatever_their_offset() {
    each_backend(async |db| {
        let riyadh = UtcOffset::from_hms(3, 0, 0).unwrap();
        let cases = [
            datetime!(2026-11-29 10:00:00 UTC),
            datetime!(2026-11-29 10:00:00.5 UTC),
            datetime!(2026-11-29 10:00:00.123456789 UTC),
            datetime!(2026-11-29 13:00:00.000001 +3),
            datetime!(2030-01-01 00:00:00.999999999 UTC).to_offset(riyadh),
        ];
        for (i, at) in cases.into_iter().enumerate() {
            let merchant = MerchantId::new(100 + i as u64);
            stores::upsert_installed(&db.pool, merchant, None, None)
                .await
                .unwrap();
            stores::mark_uninstalled(&db.pool, merchant, at)
                .await
                .unwrap();
            let stored = stores::purge_after(&db.pool, merchant)
                .await
                .unwrap()
                .unwrap();
            let micros = at
                .replace_nanosecond(at.nanosecond() / 1000 * 1000)
                .unwrap();
            assert_eq!(stored, micros, "{at}");
            assert_eq!(stored.offset(), UtcOffset::UTC);
        }
        // due_for_purge compares instants, not text: 13:00:00.000001+03 is 10:00:00.000001Z.
        assert_eq!(
            stores::due_for_purge(&db.pool, datetime!(2026-11-29 10:00:00.000001 UTC))
                .await
                .unwrap(),
            [MerchantId::new(100), MerchantId::new(103)]
        );
    })
    .await;
}

/// Set a sync-log entry's `recorded_at`, as a test may (bound as the store binds timestamps).
async fn backdate(db: &Db, job_id: Uuid, at: OffsetDateTime) {
    on_pool!(db, pool => {
        sqlx::query("UPDATE sync_log SET recorded_at = $1 WHERE job_id = $2")
            .bind(Timestamp(at))
            .bind(job_id)
            .execute(pool)
            .await
            .unwrap();
    });
}

fn entry(job_id: Uuid) -> NewLogEntry {
    NewLogEntry {
        job_id,
        merchant: M1,
        event: "order.created".into(),
        kind: "order.upsert".into(),
        entity: None,
        outcome: Outcome::Applied,
        reason: None,
        attempt: 1,
        duration_ms: 5,
        odoo_ids: json!([]),
    }
}

#[tokio::test]
async fn retention_cuts_at_the_instant_whatever_the_precision_or_offset() {
    each_backend(async |db| {
        // Around the cutoff 2026-11-29T10:00:00.2Z: whole seconds, fractions of every length and
        // a non-UTC offset, so that a text comparison of unnormalised forms would cut wrongly.
        let older = [
            datetime!(2026-11-29 10:00:00 UTC),
            datetime!(2026-11-29 10:00:00.1 UTC),
            datetime!(2026-11-29 10:00:00.199999 UTC),
            datetime!(2026-11-29 12:59:59.9 +3),
            datetime!(2026-11-29 13:00:00.123 +3),
        ];
        let newer = [
            datetime!(2026-11-29 10:00:00.2 UTC),
            datetime!(2026-11-29 10:00:00.25 UTC),
            datetime!(2026-11-29 10:00:01 UTC),
            datetime!(2026-11-29 13:00:00.3 +3),
            datetime!(2026-11-29 09:00:00.5 -1),
        ];
        let mut kept = Vec::new();
        for (i, at) in older.iter().chain(&newer).enumerate() {
            let job = Uuid::now_v7();
            sync_log::record(&db.pool, &entry(job)).await.unwrap();
            backdate(&db.pool, job, *at).await;
            if i >= older.len() {
                kept.push(job);
            }
        }
        let policy = Policy {
            sync_log_days: 1,
            dead_letter_days: 1,
            handled_dead_letter_days: 1,
        };
        let now = datetime!(2026-11-30 10:00:00.2 UTC);
        let dry = retention::run(&db.pool, &policy, now, true).await.unwrap();
        assert_eq!(dry.sync_log, older.len() as u64);
        let done = retention::run(&db.pool, &policy, now, false).await.unwrap();
        assert_eq!(done.sync_log, older.len() as u64);

        // What is left is listed newest first, in instant order.
        let left = sync_log::list(&db.pool, &Default::default()).await.unwrap();
        let mut expected = newer.to_vec();
        expected.sort();
        expected.reverse();
        assert_eq!(
            left.iter().map(|e| e.recorded_at).collect::<Vec<_>>(),
            expected
        );
        assert!(left.iter().all(|e| kept.contains(&e.job_id)));
        let window = sync_log::list(
            &db.pool,
            &sync_log::LogFilter {
                since: Some(datetime!(2026-11-29 13:00:00.25 +3)),
                until: Some(datetime!(2026-11-29 10:00:01 UTC)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(
            window.iter().map(|e| e.recorded_at).collect::<Vec<_>>(),
            [
                datetime!(2026-11-29 10:00:00.5 UTC),
                datetime!(2026-11-29 10:00:00.3 UTC),
                datetime!(2026-11-29 10:00:00.25 UTC),
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn the_current_time_written_by_the_database_is_now_and_in_order() {
    each_backend(async |db| {
        let before = OffsetDateTime::now_utc() - time::Duration::seconds(1);
        let a = Uuid::now_v7();
        sync_log::record(&db.pool, &entry(a)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let b = Uuid::now_v7();
        sync_log::record(&db.pool, &entry(b)).await.unwrap();
        let after = OffsetDateTime::now_utc() + time::Duration::seconds(1);
        let list = sync_log::list(&db.pool, &Default::default()).await.unwrap();
        assert_eq!(list.iter().map(|e| e.job_id).collect::<Vec<_>>(), [b, a]);
        assert!(
            list.iter()
                .all(|e| e.recorded_at > before && e.recorded_at < after)
        );
        assert!(list[0].recorded_at > list[1].recorded_at);
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// locks on SQLite

#[tokio::test]
async fn sqlite_locks_are_shared_by_every_pool_on_the_same_file_and_only_by_those() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let path = dir.path().join("store.db");
    let a = salla_odoo_store::open_sqlite(&path).await.unwrap();
    // The same file spelled another way, through a URL.
    let b = salla_odoo_store::connect_lazy(&DbConfig {
        url: SecretString::from(format!(
            "sqlite://{}",
            dir.path().join("sub/../store.db").display()
        )),
        max_connections: 2,
        acquire_timeout: Duration::from_secs(5),
    })
    .unwrap();
    let other = salla_odoo_store::open_sqlite(&dir.path().join("other.db"))
        .await
        .unwrap();

    let held = locks::try_lock(&a, M1, "order:1").await.unwrap().unwrap();
    assert!(locks::try_lock(&b, M1, "order:1").await.unwrap().is_none());
    assert!(locks::try_lock(&a, M1, "order:1").await.unwrap().is_none());
    let elsewhere = locks::try_lock(&other, M1, "order:1").await.unwrap();
    assert!(elsewhere.is_some(), "another database has its own locks");
    held.release().await.unwrap();
    let again = locks::try_lock(&b, M1, "order:1").await.unwrap().unwrap();

    // A lock held by a task that is aborted, or that panics, is freed with the task.
    drop(again);
    let pool = a.clone();
    let task = tokio::spawn(async move {
        let _lock = locks::try_lock_global(&pool, "retention")
            .await
            .unwrap()
            .unwrap();
        tokio::time::sleep(Duration::from_secs(3600)).await;
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        locks::try_lock_global(&b, "retention")
            .await
            .unwrap()
            .is_none()
    );
    task.abort();
    let _ = task.await;
    let pool = a.clone();
    let task = tokio::spawn(async move {
        let _lock = locks::try_lock_global(&pool, "retention")
            .await
            .unwrap()
            .unwrap();
        panic!("handler bug");
    });
    assert!(task.await.is_err());
    let global = locks::try_lock_global(&b, "retention")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(global.label(), "global/retention");
    global.release().await.unwrap();
    // No pool connection is spent on a lock.
    let many: Vec<_> = take_many(&a, 50).await;
    assert_eq!(many.len(), 50);
    for l in many {
        l.release().await.unwrap();
    }
    drop(elsewhere);
    a.close().await;
    b.close().await;
    other.close().await;
}

/// `n` distinct entity locks taken at once on a pool of 8 connections.
async fn take_many(db: &Db, n: u64) -> Vec<locks::EntityLock> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(
            locks::try_lock(db, M1, &format!("product:{i}"))
                .await
                .unwrap()
                .unwrap(),
        );
    }
    out
}

// ---------------------------------------------------------------------------------------------
// transient errors on SQLite

#[tokio::test]
async fn a_busy_sqlite_file_and_an_exhausted_pool_are_transient() {
    let db = TestDb::new(Backend::Sqlite).await;
    let path = db
        .pool
        .as_sqlite()
        .unwrap()
        .connect_options()
        .get_filename()
        .to_path_buf();

    // Another connection holds the write lock; a writer that does not wait gets SQLITE_BUSY.
    let mut holder = db.pool.as_sqlite().unwrap().acquire().await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *holder)
        .await
        .unwrap();
    let impatient = Db::from(
        SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                SqliteConnectOptions::new()
                    .filename(&path)
                    .busy_timeout(Duration::ZERO),
            )
            .await
            .unwrap(),
    );
    let err = sync_log::record(&impatient, &entry(Uuid::now_v7()))
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(
        matches!(&err, StoreError::Database(sqlx::Error::Database(e)) if e.code().as_deref() == Some("5")),
        "{err:?}"
    );
    sqlx::query("ROLLBACK").execute(&mut *holder).await.unwrap();
    drop(holder);

    // With the default busy timeout, a writer waits for the other one instead of failing.
    let mut holder = db.pool.as_sqlite().unwrap().acquire().await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *holder)
        .await
        .unwrap();
    let pool = db.pool.clone();
    let waiting =
        tokio::spawn(async move { sync_log::record(&pool, &entry(Uuid::now_v7())).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    sqlx::query("COMMIT").execute(&mut *holder).await.unwrap();
    drop(holder);
    assert!(waiting.await.unwrap().unwrap());

    // Every connection in use: the pool times out, which is transient too.
    let tiny = salla_odoo_store::connect_lazy(&DbConfig {
        url: SecretString::from(db.url.clone()),
        max_connections: 1,
        acquire_timeout: Duration::from_millis(100),
    })
    .unwrap();
    let busy = tiny.as_sqlite().unwrap().acquire().await.unwrap();
    let err = stores::list(&tiny).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Database(sqlx::Error::PoolTimedOut)),
        "{err:?}"
    );
    assert!(err.is_transient());
    drop(busy);
    assert!(stores::list(&tiny).await.unwrap().is_empty());

    // A constraint violation is not.
    let err = sqlx::query("INSERT INTO stores (merchant_id) VALUES (0)")
        .execute(db.pool.as_sqlite().unwrap())
        .await
        .unwrap_err();
    assert!(!StoreError::from(err).is_transient());
}

/// A session (`Db::session`) runs a unit of work's queries, and its locks, on the one connection
/// it holds: with a pool of one connection, which the session holds, a lock and twenty concurrent
/// queries through the session still all complete (each would otherwise wait for a connection of
/// its own), one at a time, and their writes are seen through the pool afterwards. On SQLite a
/// session is the pool itself.
#[tokio::test]
async fn a_session_runs_its_queries_on_the_connection_it_holds() {
    each_backend(async |db| {
        let small = salla_odoo_store::connect_lazy(&DbConfig {
            url: SecretString::from(db.url.clone()),
            max_connections: 1,
            acquire_timeout: Duration::from_secs(2),
        })
        .unwrap();
        let session = small.session().await.unwrap();
        assert_eq!(session.backend(), db.pool.backend());
        let lock = locks::try_lock(&session, M1, "order:1")
            .await
            .unwrap()
            .expect("free");
        let mut puts = tokio::task::JoinSet::new();
        for i in 0..20u64 {
            let session = session.clone();
            puts.spawn(async move {
                id_map::put(
                    &session,
                    M1,
                    "customer",
                    100 + i,
                    "res.partner",
                    i as i64,
                    1,
                )
                .await
            });
        }
        while let Some(put) = puts.join_next().await {
            put.unwrap().unwrap();
        }
        for i in 0..20u64 {
            let got = id_map::get(&session, M1, "customer", 100 + i)
                .await
                .unwrap()
                .expect("written through the session");
            assert_eq!(got.odoo_id, i as i64);
        }
        lock.release().await.unwrap();
        drop(session);
        assert_eq!(id_map::count_merchant(&db.pool, M1).await.unwrap(), 20);
        small.close().await;
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// creation counts

#[tokio::test]
async fn creation_counts_count_per_odoo_database_and_bucket_on_both_backends() {
    use salla_odoo_store::creations::{self, Counts, bucket};
    each_backend(async |db| {
        let (a, b) = ("https://a.odoo.com|a", "https://b.odoo.com|b");
        let x = bucket("SKU-X");
        let y = bucket("SKU-Y");
        assert_ne!(x, y);
        let none = creations::counts(&db.pool, a, &[x, y]).await.unwrap();
        assert!(
            none.values()
                .all(|c| *c == Counts::default() && c.settled())
        );
        creations::start(&db.pool, a, &[x]).await.unwrap();
        creations::start(&db.pool, a, &[x, y]).await.unwrap();
        creations::finish(&db.pool, a, &[x]).await.unwrap();
        let now = creations::counts(&db.pool, a, &[x, y]).await.unwrap();
        assert_eq!(
            now[&x],
            Counts {
                started: 2,
                finished: 1
            }
        );
        assert_eq!(
            now[&y],
            Counts {
                started: 1,
                finished: 0
            }
        );
        assert!(!now[&x].settled());
        // Another Odoo database counts apart.
        assert!(creations::counts(&db.pool, b, &[x]).await.unwrap()[&x].settled());
        // Nothing of the database's address is stored.
        assert_eq!(creations::scope_key(a).len(), 16);
        assert!(!creations::scope_key(a).contains("odoo"));
    })
    .await;
}

#[test]
fn code_buckets_are_stable_across_builds() {
    // FNV-1a: every version of the connector must put a code in the same bucket.
    assert_eq!(
        salla_odoo_store::creations::bucket(""),
        (0xcbf2_9ce4_8422_2325u64 % 4096) as i32
    );
    assert_eq!(
        salla_odoo_store::creations::scope_key("a"),
        format!("{:016x}", 0xaf63_dc4c_8601_ec8cu64)
    );
}
