//! Persistence in Postgres: the connection pool, the embedded migrations, and the repositories
//! (stores now; id map, sync log and outbox as the worker lands).
//!
//! # Data layout
//! `migrations/` at the workspace root, embedded at build time and applied only by
//! `salla-odoo migrate` (never implicitly by a service). Table `stores`: one row per merchant,
//! keyed by the Salla merchant id.
//!
//! # Failure handling
//! Connection problems, pool exhaustion and serialization failures are transient; everything else
//! (constraint violations, a schema that does not match) is permanent.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

/// The migrations in `migrations/`, compiled in.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database url is invalid: {0}")]
    Config(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Invalid(String),
}

impl StoreError {
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Database(e) => sqlx_is_transient(e),
            StoreError::Migrate(sqlx::migrate::MigrateError::Execute(e)) => sqlx_is_transient(e),
            _ => false,
        }
    }
}

fn sqlx_is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
        // serialization_failure, deadlock_detected, too_many_connections, admin_shutdown
        sqlx::Error::Database(db) => {
            matches!(
                db.code().as_deref(),
                Some("40001" | "40P01" | "53300" | "57P01")
            )
        }
        _ => false,
    }
}

/// Pool settings, from `[database]`.
#[derive(Debug, Clone)]
pub struct DbConfig {
    pub url: SecretString,
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

/// Open a pool. Connections are made on first use, so this only fails on a malformed URL.
pub fn connect_lazy(config: &DbConfig) -> Result<PgPool, StoreError> {
    let options: PgConnectOptions = config
        .url
        .expose_secret()
        .parse()
        .map_err(|e: sqlx::Error| StoreError::Config(redact(&e.to_string())))?;
    Ok(PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(config.acquire_timeout)
        .connect_lazy_with(options))
}

/// Keep passwords out of error messages that quote a URL.
fn redact(message: &str) -> String {
    match (message.find("://"), message.find('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***{}", &message[..s], &message[at..]),
        _ => message.to_owned(),
    }
}

/// Apply every pending migration. Safe to run while services run: migrations are additive.
pub async fn migrate(pool: &PgPool) -> Result<Vec<AppliedMigration>, StoreError> {
    MIGRATOR.run(pool).await?;
    migration_status(pool).await
}

/// One embedded migration and whether the database has it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AppliedMigration {
    pub version: i64,
    pub description: String,
    pub applied: bool,
}

/// The embedded migrations, each marked applied or pending in this database.
pub async fn migration_status(pool: &PgPool) -> Result<Vec<AppliedMigration>, StoreError> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(pool)
        .await?;
    let applied: Vec<i64> = if exists {
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(pool)
            .await?
    } else {
        Vec::new()
    };
    Ok(MIGRATOR
        .iter()
        .map(|m| AppliedMigration {
            version: m.version,
            description: m.description.to_string(),
            applied: applied.contains(&m.version),
        })
        .collect())
}

pub mod stores;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_errors_lose_their_password() {
        assert_eq!(
            redact("bad url postgres://user:hunter2@db:5432/x"),
            "bad url postgres://***@db:5432/x"
        );
        assert_eq!(redact("no url here"), "no url here");
    }
}
