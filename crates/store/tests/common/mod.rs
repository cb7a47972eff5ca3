//! The test harness shared by the store's integration tests: a migrated database of a test's
//! own on either backend, and [`each_backend`], which runs a test's body on both.
//!
//! Postgres: `salla_odoo_test_<uuid>` on `TEST_DATABASE_SERVER` (default
//! `postgres://postgres@127.0.0.1:5432`), dropped at the end even when the test fails. SQLite:
//! `store.db` in a temporary directory, removed at the end.

#![allow(dead_code)]

use std::time::Duration;

use salla_odoo_store::{Backend, Db, DbConfig};
use secrecy::SecretString;
use sqlx::PgPool;
use uuid::Uuid;

pub fn pg_server() -> String {
    std::env::var("TEST_DATABASE_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// Runs `$body` with `$pool` bound to the Postgres or the SQLite pool of a [`Db`] (for the few
/// statements a test runs itself).
#[macro_export]
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            salla_odoo_store::Db::Postgres($pool) => $body,
            salla_odoo_store::Db::Sqlite($pool) => $body,
            salla_odoo_store::Db::Session(_) => unreachable!("a test database is a pool"),
        }
    };
}

/// Run a test's body on Postgres, then on SQLite, each with a database of its own.
pub async fn each_backend(body: impl AsyncFn(TestDb)) {
    for backend in [Backend::Postgres, Backend::Sqlite] {
        eprintln!("=== backend: {backend}");
        body(TestDb::new(backend).await).await;
    }
}

/// A migrated database of its own: a Postgres database dropped (WITH FORCE) when this is
/// dropped, or a SQLite file in a temporary directory removed when this is dropped.
pub struct TestDb {
    pub pool: Db,
    /// The database's URL (`postgres://…/salla_odoo_test_…` or `sqlite:///tmp/…/store.db`).
    pub url: String,
    /// The Postgres database to drop.
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Postgres => {
                let name = format!("salla_odoo_test_{}", Uuid::new_v4().simple());
                let admin = PgPool::connect(&format!("{}/postgres", pg_server()))
                    .await
                    .expect("test postgres reachable");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&admin)
                    .await
                    .unwrap();
                admin.close().await;
                let url = format!("{}/{name}", pg_server());
                let pool = pool_on(&url, 8).await;
                salla_odoo_store::migrate(&pool).await.unwrap();
                TestDb {
                    pool,
                    url,
                    pg_name: Some(name),
                    _dir: None,
                }
            }
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("store.db");
                let pool = salla_odoo_store::open_sqlite(&path).await.unwrap();
                salla_odoo_store::migrate(&pool).await.unwrap();
                TestDb {
                    pool,
                    url: format!("sqlite://{}", path.display()),
                    pg_name: None,
                    _dir: Some(dir),
                }
            }
        }
    }

    /// A second, independent pool on the same database (another "worker process").
    pub async fn another_pool(&self) -> Db {
        pool_on(&self.url, 4).await
    }

    /// Every row of every table, as text (bytes as `\x` and lowercase hex, as Postgres shows them).
    pub async fn dump(&self) -> String {
        let mut out = String::new();
        match &self.pool {
            Db::Session(_) => unreachable!("a test database is a pool"),
            Db::Postgres(pool) => {
                let tables: Vec<String> = sqlx::query_scalar(
                    "SELECT table_name::text FROM information_schema.tables
                     WHERE table_schema = 'public' ORDER BY table_name",
                )
                .fetch_all(pool)
                .await
                .unwrap();
                for t in tables {
                    let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                        "SELECT t::text FROM \"{t}\" t"
                    )))
                    .fetch_all(pool)
                    .await
                    .unwrap();
                    out.push_str(&format!("== {t}\n{}\n", rows.join("\n")));
                }
            }
            Db::Sqlite(pool) => {
                let tables: Vec<String> = sqlx::query_scalar(
                    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
                )
                .fetch_all(pool)
                .await
                .unwrap();
                for t in tables {
                    let columns: Vec<String> =
                        sqlx::query_scalar("SELECT name FROM pragma_table_info($1) ORDER BY cid")
                            .bind(&t)
                            .fetch_all(pool)
                            .await
                            .unwrap();
                    let row = columns
                        .iter()
                        .map(|c| {
                            format!(
                                "CASE typeof(\"{c}\") WHEN 'blob' THEN '\\x' || lower(hex(\"{c}\")) \
                                 ELSE COALESCE(CAST(\"{c}\" AS TEXT), '') END"
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(" || ',' || ");
                    let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                        "SELECT '(' || {row} || ')' FROM \"{t}\""
                    )))
                    .fetch_all(pool)
                    .await
                    .unwrap();
                    out.push_str(&format!("== {t}\n{}\n", rows.join("\n")));
                }
            }
        }
        out
    }
}

/// A pool of at most `max` connections on the database at `url`, opened with
/// [`salla_odoo_store::connect_lazy`] and connected once.
pub async fn pool_on(url: &str, max: u32) -> Db {
    let db = salla_odoo_store::connect_lazy(&DbConfig {
        url: SecretString::from(url.to_owned()),
        max_connections: max,
        acquire_timeout: Duration::from_secs(30),
    })
    .unwrap();
    on_pool!(&db, pool => drop(pool.acquire().await.unwrap()));
    db
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.clone() else {
            return;
        };
        // Runs on its own thread and runtime: Drop cannot await, and may run during a panic.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(admin) = PgPool::connect(&format!("{}/postgres", pg_server())).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&admin)
                    .await;
                    admin.close().await;
                }
            });
        })
        .join()
        .ok();
    }
}
