//! Persistence in Postgres: the connection pool, the embedded migrations, and the repositories.
//!
//! # Data layout
//! `migrations/` at the workspace root, embedded at build time and applied only by
//! `salla-odoo migrate` (never implicitly by a service). Every table that mentions a merchant has
//! a `merchant_id BIGINT` column, so a store's data can be purged by merchant.
//!
//! | table | module | holds |
//! |---|---|---|
//! | `stores` | [`stores`] | one row per merchant: lifecycle, Odoo connection, sync options |
//! | `secrets` | [`secrets`] | AES-256-GCM ciphertext of API keys and tokens, with the key id |
//! | `id_map` | [`id_map`] | Salla object → Odoo record, with the source-version watermark |
//! | `sync_log` | [`sync_log`] | one row per job outcome |
//! | `dead_letters` | [`outbox`] | jobs that cannot succeed, whole, with their attempt history |
//!
//! [`purge`] removes everything a merchant owns in one transaction (issue 5's store purge).
//! Fleet-wide per-entity locks ([`locks`]) are Postgres session advisory locks and hold no rows.
//!
//! # Failure handling
//! Connection problems, pool exhaustion and serialization failures are transient; everything else
//! (constraint violations, a schema that does not match, a secret no configured key opens) is
//! permanent. [`StoreError::is_transient`] says which.

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
    /// The encryption keys are missing or malformed. Never contains key material.
    #[error("secrets configuration: {0}")]
    KeyConfig(String),
    /// A secret could not be opened: sealed under a key that is not configured, or the key or
    /// data is wrong. Names the key id only.
    #[error("secret: {0}")]
    Crypto(String),
    /// A stored value could not be decoded (e.g. a status map written by a newer version).
    #[error("stored data: {0}")]
    Decode(String),
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
        // serialization_failure, deadlock_detected, lock_not_available, too_many_connections,
        // admin/crash shutdown, cannot_connect_now, connection exceptions
        sqlx::Error::Database(db) => {
            matches!(
                db.code().as_deref(),
                Some(
                    "40001"
                        | "40P01"
                        | "55P03"
                        | "53300"
                        | "57P01"
                        | "57P02"
                        | "57P03"
                        | "08000"
                        | "08001"
                        | "08003"
                        | "08004"
                        | "08006"
                )
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

pub mod id_map;
pub mod locks;
pub mod outbox;
pub mod purge;
pub mod retention;
pub mod secrets;
pub mod stores;
pub mod sync_log;

pub use secrets::{Keyring, Sealed};
pub use stores::{OdooConnection, StoreSettings, StoreUpdate};

/// A merchant id as stored (`BIGINT`). Salla ids are far below 2^63; a larger one is refused.
pub(crate) fn db_id(merchant: salla_odoo_core::MerchantId) -> Result<i64, StoreError> {
    match i64::try_from(merchant.get()) {
        Ok(0) => Err(StoreError::Invalid(
            "merchant id 0 is not a Salla store".into(),
        )),
        Ok(id) => Ok(id),
        Err(_) => Err(StoreError::Invalid(format!(
            "merchant id {merchant} exceeds 2^63"
        ))),
    }
}

/// A merchant id as stored where 0 means "unknown merchant" (an undecodable dead letter).
pub(crate) fn db_id_or_unknown(merchant: salla_odoo_core::MerchantId) -> Result<i64, StoreError> {
    if merchant.get() == 0 {
        Ok(0)
    } else {
        db_id(merchant)
    }
}

/// A Salla object id as stored (`BIGINT`).
pub(crate) fn db_salla_id(id: u64) -> Result<i64, StoreError> {
    i64::try_from(id).map_err(|_| StoreError::Invalid(format!("salla id {id} exceeds 2^63")))
}

/// Back from `BIGINT`; the CHECK constraints keep stored ids positive.
pub(crate) fn from_db_id(id: i64) -> u64 {
    u64::try_from(id).unwrap_or_default()
}

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
