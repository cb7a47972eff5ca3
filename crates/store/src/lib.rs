//! Persistence: the connection pool ([`Db`]), the embedded migrations, and the repositories, on
//! Postgres (the fleet) or on a SQLite file (embedded mode, one process).
//!
//! # Data layout
//! The same tables on both backends, from two sets of migrations embedded at build time and applied
//! only by `salla-odoo migrate` (or by embedded mode at start; never implicitly by a service):
//! `migrations/*.sql` for Postgres ([`MIGRATOR`]) and `migrations/sqlite/*.sql` for SQLite
//! ([`SQLITE_MIGRATOR`]), with the same versions and descriptions. Every table that mentions a
//! merchant has a `merchant_id` column (`BIGINT` / `INTEGER`), so a store's data can be purged by
//! merchant.
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
//! Per-entity locks ([`locks`]) hold no rows: Postgres session advisory locks (fleet-wide), or an
//! in-process registry on SQLite (embedded mode is one process).
//!
//! SQLite tables are `STRICT`, with CHECK constraints standing in for the Postgres types:
//! ids are `INTEGER`, bytes `BLOB`, UUIDs 16-byte `BLOB`s, JSON `TEXT` that must be valid JSON,
//! booleans `INTEGER` 0/1, and timestamps `TEXT` in one fixed-width UTC form,
//! `YYYY-MM-DDTHH:MM:SS.ffffffZ` (microseconds, as Postgres keeps them), so that comparing and
//! ordering the text compares and orders the instants. Every timestamp the store binds goes through
//! [`Timestamp`], and SQL's current time is [`SQLITE_NOW`]; a CHECK refuses any other form.
//!
//! # Failure handling
//! Connection problems, pool exhaustion and contention (Postgres serialization failures and
//! deadlocks; SQLite `BUSY` and `LOCKED` once the 5 s busy timeout is spent) are transient;
//! everything else (constraint violations, a schema that does not match, a secret no configured
//! key opens) is permanent. [`StoreError::is_transient`] says which. On SQLite, writers take turns
//! on the one database file (WAL journal: readers never wait for the writer).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use time::OffsetDateTime;

/// The Postgres migrations in `migrations/`, compiled in. `migrate!` reads only the files
/// directly in the folder, so the `sqlite/` subfolder is not part of it.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// The SQLite migrations in `migrations/sqlite/`, compiled in: the same versions as [`MIGRATOR`].
pub static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

/// SQLite's busy timeout: how long a writer waits for another writer before `SQLITE_BUSY`.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The current time in SQLite SQL, in the stored timestamp form (`now()` on Postgres).
/// SQLite's clock has millisecond resolution: the last three digits are zeros.
pub const SQLITE_NOW: &str = "strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')";

/// A connection pool on one of the two backends, or one Postgres connection held for a unit of
/// work ([`Db::session`]). Cloning is cheap (the pools and the session are shared handles).
#[derive(Clone, Debug)]
pub enum Db {
    Postgres(PgPool),
    Sqlite(SqlitePool),
    /// One pooled Postgres connection kept for a unit of work (a worker's job). sqlx pings every
    /// connection it takes back into the pool (one more round trip and a spawned task per query);
    /// a job that runs its queries on one held connection pays that once. Its queries run on the
    /// connection one at a time, in the order they are made; its locks ([`locks`]) are session
    /// advisory locks on that connection, so a lock costs no connection of its own. A session
    /// that ends with a lock still held closes its connection instead of pooling it.
    Session(Session),
}

/// The held connection of [`Db::Session`] and the pool it came from (and returns to on drop).
#[derive(Clone)]
pub struct Session {
    inner: std::sync::Arc<SessionInner>,
    pool: PgPool,
}

struct SessionInner {
    conn: tokio::sync::Mutex<sqlx::pool::PoolConnection<sqlx::Postgres>>,
    /// The advisory-lock keys taken on the connection and not released (see [`locks`]).
    locks: std::sync::Mutex<std::collections::BTreeSet<i64>>,
    /// Set when a lock's state on the connection is unknown (a lock dropped without release, a
    /// failed unlock): the connection is then closed instead of pooled.
    tainted: std::sync::atomic::AtomicBool,
}

impl Drop for SessionInner {
    fn drop(&mut self) {
        // A session lock must never outlive the session in a pooled connection: closing the
        // connection ends the Postgres session, which frees every lock it holds.
        let held = !self
            .locks
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_empty();
        if held || *self.tainted.get_mut() {
            tracing::debug!("session ends with a lock in an unknown state: closing its connection");
            self.conn.get_mut().close_on_drop();
        }
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").finish_non_exhaustive()
    }
}

impl Session {
    /// The held connection, for one statement (or one transaction) at a time.
    pub(crate) async fn lock(
        &self,
    ) -> tokio::sync::MutexGuard<'_, sqlx::pool::PoolConnection<sqlx::Postgres>> {
        self.inner.conn.lock().await
    }

    /// Claim an advisory-lock key for this session; `false` when the session already holds it.
    /// Postgres' session locks are re-entrant, so without this two tasks of one job asking for
    /// the same key would both get it.
    pub(crate) fn claim(&self, key: i64) -> bool {
        self.locks().insert(key)
    }

    /// Give up a claim (the key was unlocked, or was never locked).
    pub(crate) fn unclaim(&self, key: i64) {
        self.locks().remove(&key);
    }

    /// The connection's lock state is unknown: close it at the end instead of pooling it.
    pub(crate) fn taint(&self) {
        self.inner
            .tainted
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    fn locks(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeSet<i64>> {
        // Each change is one insert or remove: consistent after any panic.
        self.inner
            .locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Which database a [`Db`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        })
    }
}

impl From<PgPool> for Db {
    fn from(pool: PgPool) -> Self {
        Db::Postgres(pool)
    }
}

impl From<SqlitePool> for Db {
    fn from(pool: SqlitePool) -> Self {
        Db::Sqlite(pool)
    }
}

impl Db {
    pub fn backend(&self) -> Backend {
        match self {
            Db::Postgres(_) | Db::Session(_) => Backend::Postgres,
            Db::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// A [`Db`] for one unit of work: on Postgres, one connection taken from the pool now and held
    /// until the last clone is dropped; on SQLite (no ping to save) and for a session, the same
    /// handle. Fails only when no connection can be had (transient).
    pub async fn session(&self) -> Result<Db, StoreError> {
        match self {
            Db::Postgres(pool) => Ok(Db::Session(Session {
                inner: std::sync::Arc::new(SessionInner {
                    conn: tokio::sync::Mutex::new(pool.acquire().await?),
                    locks: Default::default(),
                    tainted: Default::default(),
                }),
                pool: pool.clone(),
            })),
            Db::Sqlite(_) | Db::Session(_) => Ok(self.clone()),
        }
    }

    /// The Postgres pool, for code that runs Postgres SQL of its own (tests, diagnostics).
    pub fn as_postgres(&self) -> Option<&PgPool> {
        match self {
            Db::Postgres(pool) => Some(pool),
            Db::Session(session) => Some(&session.pool),
            Db::Sqlite(_) => None,
        }
    }

    /// The SQLite pool, for code that runs SQLite SQL of its own (tests, diagnostics).
    pub fn as_sqlite(&self) -> Option<&SqlitePool> {
        match self {
            Db::Sqlite(pool) => Some(pool),
            Db::Postgres(_) | Db::Session(_) => None,
        }
    }

    /// Close every connection (waits for the ones in use to come back). Nothing for a session.
    pub async fn close(&self) {
        match self {
            Db::Postgres(pool) => pool.close().await,
            // A session's connection goes back when its last clone is dropped; the pool behind
            // it belongs to (and is closed by) whoever opened it.
            Db::Session(_) => {}
            Db::Sqlite(pool) => pool.close().await,
        }
    }

    /// `sql` as this backend reads it: on SQLite every `now()` becomes [`SQLITE_NOW`]. For the
    /// statements whose only difference between the dialects is the current time.
    pub(crate) fn with_now(&self, sql: &'static str) -> sqlx::SqlStr {
        use sqlx::SqlSafeStr;
        match self.backend() {
            Backend::Postgres => sqlx::SqlStr::from_static(sql),
            Backend::Sqlite => sqlx::AssertSqlSafe(sql.replace("now()", SQLITE_NOW)).into_sql_str(),
        }
    }
}

/// Runs the same body once per backend (defined before the modules, which see it by textual
/// scope), with `$pool` bound to the `PgPool`, the `SqlitePool` or a session's held
/// `PgConnection` (locked for the body): the body type-checks (and binds, encodes, decodes)
/// separately for each, so it uses `$pool` once.
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::Db::Postgres($pool) => $body,
            $crate::Db::Sqlite($pool) => $body,
            $crate::Db::Session(session) => {
                let mut held = session.lock().await;
                let $pool: &mut sqlx::PgConnection = &mut held;
                $body
            }
        }
    };
}

/// One connection (or transaction) on either backend, for code that must run inside a caller's
/// transaction. [`on_conn!`] runs a body for it as [`on_db!`] does for a pool.
pub(crate) enum Conn<'c> {
    Postgres(&'c mut sqlx::PgConnection),
    Sqlite(&'c mut sqlx::SqliteConnection),
}

impl<'c> From<&'c mut sqlx::PgConnection> for Conn<'c> {
    fn from(conn: &'c mut sqlx::PgConnection) -> Self {
        Conn::Postgres(conn)
    }
}

impl<'c> From<&'c mut sqlx::SqliteConnection> for Conn<'c> {
    fn from(conn: &'c mut sqlx::SqliteConnection) -> Self {
        Conn::Sqlite(conn)
    }
}

impl Conn<'_> {
    /// As [`Db::with_now`].
    pub(crate) fn with_now(&self, sql: &'static str) -> sqlx::SqlStr {
        use sqlx::SqlSafeStr;
        match self {
            Conn::Postgres(_) => sqlx::SqlStr::from_static(sql),
            Conn::Sqlite(_) => sqlx::AssertSqlSafe(sql.replace("now()", SQLITE_NOW)).into_sql_str(),
        }
    }
}

macro_rules! on_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::Conn::Postgres($c) => $body,
            $crate::Conn::Sqlite($c) => $body,
        }
    };
}

/// A timestamp to bind: `timestamptz` on Postgres (exactly as an `OffsetDateTime` binds), and on
/// SQLite the fixed-width UTC text every stored timestamp has (see the data layout above).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timestamp(pub OffsetDateTime);

const SQLITE_TIME_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
);

impl Timestamp {
    /// The SQLite text form: UTC, microseconds (truncated, as Postgres stores them), `Z`.
    pub fn sqlite_text(&self) -> String {
        self.0
            .to_offset(time::UtcOffset::UTC)
            .format(SQLITE_TIME_FORMAT)
            .expect("a four-digit year formats")
    }
}

impl sqlx::Type<sqlx::Postgres> for Timestamp {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <OffsetDateTime as sqlx::Type<sqlx::Postgres>>::type_info()
    }
}

impl sqlx::Encode<'_, sqlx::Postgres> for Timestamp {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <OffsetDateTime as sqlx::Encode<'_, sqlx::Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl sqlx::Type<sqlx::Sqlite> for Timestamp {
    fn type_info() -> sqlx::sqlite::SqliteTypeInfo {
        <String as sqlx::Type<sqlx::Sqlite>>::type_info()
    }
}

impl sqlx::Encode<'_, sqlx::Sqlite> for Timestamp {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::sqlite::SqliteArgumentsBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <String as sqlx::Encode<'_, sqlx::Sqlite>>::encode(self.sqlite_text(), buf)
    }
}

/// [`Timestamp`] of an optional instant.
pub(crate) fn ts(t: Option<OffsetDateTime>) -> Option<Timestamp> {
    t.map(Timestamp)
}

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
        sqlx::Error::Database(db) => {
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                return db
                    .code()
                    .and_then(|c| c.parse::<i32>().ok())
                    .is_some_and(sqlite_code_is_transient);
            }
            // Postgres: serialization_failure, deadlock_detected, lock_not_available,
            // too_many_connections, admin/crash shutdown, cannot_connect_now, connection exceptions
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

/// SQLite reports extended result codes, whose low byte is the primary code: SQLITE_BUSY (5:
/// another connection holds the write lock past the busy timeout; `BUSY_SNAPSHOT` and the other
/// variants too) and SQLITE_LOCKED (6: a conflict within a shared cache) are worth retrying.
fn sqlite_code_is_transient(code: i32) -> bool {
    matches!(code & 0xff, 5 | 6)
}

/// Pool settings, from `[database]`.
#[derive(Debug, Clone)]
pub struct DbConfig {
    pub url: SecretString,
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

/// Open a pool on the backend the URL names: `postgres://` / `postgresql://` (anything that is
/// not `sqlite:` is read as a Postgres URL), or `sqlite:` (`sqlite:///abs/path/store.db`,
/// `sqlite://relative.db`, `sqlite:relative.db`; the file is created if missing). Connections are
/// made on first use, so this only fails on a malformed URL.
pub fn connect_lazy(config: &DbConfig) -> Result<Db, StoreError> {
    let url = config.url.expose_secret();
    if url.starts_with("sqlite:") {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e: sqlx::Error| StoreError::Config(redact(&e.to_string())))?;
        return Ok(Db::Sqlite(
            sqlite_pool_options()
                .max_connections(config.max_connections)
                .acquire_timeout(config.acquire_timeout)
                .connect_lazy_with(sqlite_options(options)),
        ));
    }
    let options: PgConnectOptions = url
        .parse()
        .map_err(|e: sqlx::Error| StoreError::Config(redact(&e.to_string())))?;
    Ok(Db::Postgres(
        postgres_pool_options()
            .max_connections(config.max_connections)
            .acquire_timeout(config.acquire_timeout)
            .connect_lazy_with(options),
    ))
}

/// A pooled Postgres connection idle for longer than this is pinged before it is handed out.
pub const PING_IDLE_AFTER: Duration = Duration::from_secs(10);

/// sqlx pings every connection it takes from the pool by default: one extra round trip per query,
/// which was half of a worker's Postgres round trips. A connection in steady use is known to be
/// alive; only one idle for [`PING_IDLE_AFTER`] (across a Postgres restart, a firewall's idle
/// cut) is checked first. A connection that broke in between fails its query with a transient
/// error, sqlx closes it, and the job is retried.
fn postgres_pool_options() -> PgPoolOptions {
    PgPoolOptions::new()
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > PING_IDLE_AFTER {
                    use sqlx::Connection;
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
}

/// SQLite connections are to a local file and cannot go stale: never pinged (a ping is a hop to
/// the connection's thread and back).
fn sqlite_pool_options() -> SqlitePoolOptions {
    SqlitePoolOptions::new().test_before_acquire(false)
}

/// Connections of [`open_sqlite`]'s pool.
const SQLITE_MAX_CONNECTIONS: u32 = 8;

/// Open (creating it if missing) the SQLite database at `path`, and connect once so that a file
/// that cannot be opened fails here. Not migrated: see [`migrate`].
pub async fn open_sqlite(path: &Path) -> Result<Db, StoreError> {
    let options = sqlite_options(SqliteConnectOptions::new().filename(path));
    let pool = sqlite_pool_options()
        .max_connections(SQLITE_MAX_CONNECTIONS)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await?;
    Ok(Db::Sqlite(pool))
}

/// The settings every SQLite connection gets: created if missing, WAL journal (readers do not
/// block the writer), foreign keys enforced, a 5 s busy timeout, and `synchronous = NORMAL`
/// (durable at each WAL checkpoint; a power loss can lose the last transactions, never corrupt).
fn sqlite_options(options: SqliteConnectOptions) -> SqliteConnectOptions {
    options
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .foreign_keys(true)
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
        .synchronous(SqliteSynchronous::Normal)
}

/// Keep passwords out of error messages that quote a URL.
fn redact(message: &str) -> String {
    match (message.find("://"), message.find('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***{}", &message[..s], &message[at..]),
        _ => message.to_owned(),
    }
}

fn migrator(db: &Db) -> &'static sqlx::migrate::Migrator {
    match db.backend() {
        Backend::Postgres => &MIGRATOR,
        Backend::Sqlite => &SQLITE_MIGRATOR,
    }
}

/// Apply every pending migration of the backend. Safe to run while services run: migrations are
/// additive. Running it again applies nothing.
pub async fn migrate(db: &Db) -> Result<Vec<AppliedMigration>, StoreError> {
    on_db!(db, pool => migrator(db).run(pool).await?);
    migration_status(db).await
}

/// One embedded migration and whether the database has it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AppliedMigration {
    pub version: i64,
    pub description: String,
    pub applied: bool,
}

/// The backend's embedded migrations, each marked applied or pending in this database.
pub async fn migration_status(db: &Db) -> Result<Vec<AppliedMigration>, StoreError> {
    let exists: bool = match db {
        Db::Postgres(_) | Db::Session(_) => {
            sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                .fetch_one(db.as_postgres().expect("a Postgres db"))
                .await?
        }
        Db::Sqlite(pool) => {
            sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master
                                WHERE type = 'table' AND name = '_sqlx_migrations')",
            )
            .fetch_one(pool)
            .await?
        }
    };
    let applied: Vec<i64> = if exists {
        on_db!(db, pool => {
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(pool)
                .await?
        })
    } else {
        Vec::new()
    };
    Ok(migrator(db)
        .iter()
        .map(|m| AppliedMigration {
            version: m.version,
            description: m.description.to_string(),
            applied: applied.contains(&m.version),
        })
        .collect())
}

pub mod creations;
pub mod id_map;
pub mod locks;
pub mod outbox;
pub mod purge;
pub mod reconcile;
pub mod retention;
pub mod secrets;
pub mod stores;
pub mod sync_log;
pub mod tokens;

pub use secrets::{Keyring, Sealed};
pub use stores::{OdooConnection, StoreSettings, StoreUpdate, StoredCapabilities};

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
    fn sqlite_busy_and_locked_are_transient_and_nothing_else() {
        // BUSY, BUSY_RECOVERY, BUSY_SNAPSHOT, BUSY_TIMEOUT, LOCKED, LOCKED_SHAREDCACHE
        for code in [5, 261, 517, 773, 6, 262] {
            assert!(sqlite_code_is_transient(code), "{code}");
        }
        // ERROR, CONSTRAINT, CONSTRAINT_UNIQUE, CONSTRAINT_CHECK, READONLY, CORRUPT, FULL
        for code in [1, 19, 2067, 275, 8, 11, 13] {
            assert!(!sqlite_code_is_transient(code), "{code}");
        }
    }

    #[test]
    fn sqlite_timestamps_are_fixed_width_utc_microseconds() {
        use time::macros::datetime;
        let text = |t| Timestamp(t).sqlite_text();
        assert_eq!(
            text(datetime!(2026-11-29 10:00:00 UTC)),
            "2026-11-29T10:00:00.000000Z"
        );
        assert_eq!(
            text(datetime!(2026-11-29 13:00:00.123456789 +3)),
            "2026-11-29T10:00:00.123456Z"
        );
        assert_eq!(
            text(datetime!(2026-11-29 00:30:00.5 +1)),
            "2026-11-28T23:30:00.500000Z"
        );
        // The text of SQLite's own clock has the same width.
        assert_eq!(SQLITE_NOW.matches("%f000Z").count(), 1);
    }

    #[tokio::test]
    async fn the_url_scheme_picks_the_backend() {
        let config = |url: &str| DbConfig {
            url: SecretString::from(url.to_owned()),
            max_connections: 2,
            acquire_timeout: Duration::from_secs(1),
        };
        for (url, backend) in [
            ("postgres://u:p@db:5432/x", Backend::Postgres),
            ("postgresql://db/x", Backend::Postgres),
            ("sqlite:///var/lib/salla-odoo/store.db", Backend::Sqlite),
            ("sqlite://relative.db", Backend::Sqlite),
            ("sqlite:relative.db", Backend::Sqlite),
        ] {
            assert_eq!(
                connect_lazy(&config(url)).unwrap().backend(),
                backend,
                "{url}"
            );
        }
        let db = connect_lazy(&config("sqlite:///var/lib/salla-odoo/store.db")).unwrap();
        assert_eq!(
            db.as_sqlite().unwrap().connect_options().get_filename(),
            Path::new("/var/lib/salla-odoo/store.db")
        );
        assert!(db.as_postgres().is_none());
        let err = connect_lazy(&config("postgres://user:hunter2@db:notaport/x")).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let err = connect_lazy(&config("sqlite://x.db?mode=sideways")).unwrap_err();
        assert!(matches!(err, StoreError::Config(_)), "{err}");
    }

    #[tokio::test]
    async fn now_is_rewritten_for_sqlite_only() {
        let pg = Db::Postgres(
            PgPoolOptions::new()
                .connect_lazy("postgres://db/x")
                .unwrap(),
        );
        assert_eq!(pg.with_now("SET a = now()").as_str(), "SET a = now()");
        let lite = Db::Sqlite(
            SqlitePoolOptions::new()
                .connect_lazy("sqlite::memory:")
                .unwrap(),
        );
        assert_eq!(
            lite.with_now("SET a = now(), b = now()").as_str(),
            format!("SET a = {SQLITE_NOW}, b = {SQLITE_NOW}")
        );
    }

    #[test]
    fn urls_in_errors_lose_their_password() {
        assert_eq!(
            redact("bad url postgres://user:hunter2@db:5432/x"),
            "bad url postgres://***@db:5432/x"
        );
        assert_eq!(redact("no url here"), "no url here");
    }
}
