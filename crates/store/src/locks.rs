//! Per-entity locks, one per entity (or per singleton job): fleet-wide Postgres session advisory
//! locks, or, on SQLite (embedded mode, one process), an in-process registry.
//!
//! # Data layout
//! No table. The lock key is a stable 64-bit hash (the first 8 bytes of SHA-256) of
//! `entity/{merchant}/{entity_key}` or `global/{name}`.
//! - Postgres: taken with `pg_try_advisory_lock(bigint)` on a connection that the [`EntityLock`]
//!   keeps checked out of the pool for as long as it is held. Every worker on every host that
//!   shares the database sees the same key space; the lock is visible in `pg_locks`
//!   (`locktype = 'advisory'`). On a [`Db::Session`] (a worker's job) the lock is taken on the
//!   session's own connection instead, which the job's queries share: no extra connection, no
//!   extra pool round trip. The session keeps the set of keys it holds, so a second taker within
//!   the session is refused as any other connection would be (Postgres alone would grant it:
//!   session locks are re-entrant).
//! - SQLite: the pair (database file, key) in a process-wide set. The file is named by its
//!   canonical path, so two pools opened on the same file share their locks. Nothing is held in
//!   the database and no connection is kept. This excludes tasks of one process only: embedded
//!   mode runs one process per data directory (`run` holds an exclusive lock on the directory).
//!
//! # Failure handling
//! - [`try_lock`] never waits: `Ok(None)` means someone else holds the lock (the caller
//!   reschedules without spending an attempt). On Postgres the lock is re-entrant only within one
//!   session, and each lock has its own connection, so two tasks of one process exclude each other
//!   too; on SQLite a held key refuses every second taker.
//! - [`EntityLock::release`] unlocks (and on Postgres returns the connection to the pool).
//! - An [`EntityLock`] dropped without `release` (panic, job timeout, cancelled future) frees the
//!   lock too. On Postgres it closes its connection instead of returning it to the pool: Postgres
//!   ends the session and frees the lock, so a lock can never leak into a pooled connection. The
//!   same holds if acquiring is cancelled half-way. If the worker process dies, its connections
//!   (and, on SQLite, the registry) die with it.
//! - A session lock released or dropped behaves the same way: `release` unlocks on the session's
//!   connection; a lock dropped without release, or an unlock that failed, marks the session, and
//!   a session that ends marked or with a key still held closes its connection instead of pooling
//!   it.
//! - Holding a Postgres lock on a pool costs one pool connection: size
//!   `database.max_connections` above the worker's concurrency. A lock on a session or on SQLite
//!   costs none.

use std::collections::BTreeSet;
use std::sync::Mutex;

use salla_odoo_core::MerchantId;
use sha2::{Digest, Sha256};
use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres, SqlitePool};

use crate::{Db, Session, StoreError};

/// A held lock. Release it with [`EntityLock::release`]; dropping it frees the lock too.
pub struct EntityLock {
    held: Option<Held>,
    key: i64,
    label: String,
}

enum Held {
    /// The session that holds the advisory lock.
    Postgres(PoolConnection<Postgres>),
    /// The advisory lock is held by a [`Db::Session`]'s connection.
    Session(Session),
    /// The entry in [`LOCAL`]: (database file, key).
    Sqlite(LocalKey),
}

type LocalKey = (String, i64);

/// The SQLite locks held in this process. Only ever held for one insert or remove.
static LOCAL: Mutex<BTreeSet<LocalKey>> = Mutex::new(BTreeSet::new());

fn local() -> std::sync::MutexGuard<'static, BTreeSet<LocalKey>> {
    // The set is consistent after any panic (each change is one insert or remove).
    LOCAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Which database file a SQLite pool opens: its canonical path when the file exists.
fn sqlite_identity(pool: &SqlitePool) -> String {
    let options = pool.connect_options();
    let path = options.get_filename();
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

impl std::fmt::Debug for EntityLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntityLock")
            .field("label", &self.label)
            .field("key", &self.key)
            .field("held", &self.held.is_some())
            .finish()
    }
}

/// The lock key of an entity of a merchant.
pub fn entity_key(merchant: MerchantId, entity_key: &str) -> i64 {
    hash_key(&format!("entity/{merchant}/{entity_key}"))
}

/// The lock key of a fleet-wide singleton.
pub fn global_key(name: &str) -> i64 {
    hash_key(&format!("global/{name}"))
}

fn hash_key(text: &str) -> i64 {
    let digest = Sha256::digest(text.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// Take the lock of one entity (e.g. `order:123`) of a merchant, without waiting:
/// `Ok(None)` when another worker holds it.
pub async fn try_lock(
    db: &Db,
    merchant: MerchantId,
    entity: &str,
) -> Result<Option<EntityLock>, StoreError> {
    try_lock_key(
        db,
        entity_key(merchant, entity),
        format!("{merchant}/{entity}"),
    )
    .await
}

/// Take a fleet-wide singleton lock (e.g. `retention`), without waiting.
pub async fn try_lock_global(db: &Db, name: &str) -> Result<Option<EntityLock>, StoreError> {
    try_lock_key(db, global_key(name), format!("global/{name}")).await
}

async fn try_lock_key(db: &Db, key: i64, label: String) -> Result<Option<EntityLock>, StoreError> {
    match db {
        // A lock keeps a connection of its own, from the pool.
        Db::Postgres(pool) => try_advisory_lock(pool, key, label).await,
        Db::Session(session) => try_session_lock(session, key, label).await,
        Db::Sqlite(pool) => {
            let entry = (sqlite_identity(pool), key);
            if !local().insert(entry.clone()) {
                return Ok(None);
            }
            tracing::debug!(lock = %label, "in-process lock taken");
            Ok(Some(EntityLock {
                held: Some(Held::Sqlite(entry)),
                key,
                label,
            }))
        }
    }
}

async fn try_advisory_lock(
    pool: &PgPool,
    key: i64,
    label: String,
) -> Result<Option<EntityLock>, StoreError> {
    // The guard owns the connection before the lock is asked for: if this future is dropped
    // mid-query, or the query fails, the connection is closed rather than pooled.
    let mut guard = EntityLock {
        held: Some(Held::Postgres(pool.acquire().await?)),
        key,
        label,
    };
    let Some(Held::Postgres(conn)) = guard.held.as_mut() else {
        unreachable!("just set")
    };
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(key)
        .fetch_one(&mut **conn)
        .await?;
    if locked {
        tracing::debug!(lock = %guard.label, "advisory lock taken");
        Ok(Some(guard))
    } else {
        // Not held by us: the connection is clean and goes back to the pool.
        drop(guard.held.take());
        Ok(None)
    }
}

async fn try_session_lock(
    session: &Session,
    key: i64,
    label: String,
) -> Result<Option<EntityLock>, StoreError> {
    // Busy to this session as it is to every other connection (session locks are re-entrant).
    if !session.claim(key) {
        return Ok(None);
    }
    // From here the guard owns the claim: dropped mid-query or on an error, it taints the
    // session, whose connection is then closed rather than pooled.
    let mut guard = EntityLock {
        held: Some(Held::Session(session.clone())),
        key,
        label,
    };
    let locked: bool = {
        let mut conn = session.lock().await;
        sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut **conn)
            .await?
    };
    if locked {
        tracing::debug!(lock = %guard.label, "advisory lock taken on the session");
        Ok(Some(guard))
    } else {
        guard.held.take();
        session.unclaim(key);
        Ok(None)
    }
}

impl EntityLock {
    /// What the lock protects, e.g. `42/order:123` or `global/retention`.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The lock key.
    pub fn key(&self) -> i64 {
        self.key
    }

    /// Unlock (on Postgres, and return the connection to the pool). On error the connection is
    /// closed, which frees the lock anyway (a session's, when the session ends).
    pub async fn release(mut self) -> Result<(), StoreError> {
        let unlocked = match self.held.take() {
            None => return Ok(()),
            Some(Held::Sqlite(entry)) => {
                if local().remove(&entry) {
                    tracing::debug!(lock = %self.label, "in-process lock released");
                    return Ok(());
                }
                return Err(StoreError::Invalid(format!(
                    "lock {} was not held at release",
                    self.label
                )));
            }
            Some(Held::Postgres(mut conn)) => {
                let unlocked = unlock(&mut conn, self.key).await;
                if !matches!(unlocked, Ok(true)) {
                    // Not held (someone unlocked behind our back) or unknown: end the Postgres
                    // session to be sure nothing lingers.
                    conn.close_on_drop();
                }
                unlocked
            }
            Some(Held::Session(session)) => {
                let unlocked = unlock(&mut **session.lock().await, self.key).await;
                match unlocked {
                    Ok(true) => session.unclaim(self.key),
                    _ => session.taint(),
                }
                unlocked
            }
        };
        match unlocked {
            Ok(true) => {
                tracing::debug!(lock = %self.label, "advisory lock released");
                Ok(())
            }
            Ok(false) => Err(StoreError::Invalid(format!(
                "advisory lock {} was not held at release",
                self.label
            ))),
            Err(e) => Err(e.into()),
        }
    }
}

async fn unlock(conn: &mut sqlx::PgConnection, key: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_advisory_unlock($1)")
        .bind(key)
        .fetch_one(conn)
        .await
}

impl Drop for EntityLock {
    fn drop(&mut self) {
        match self.held.take() {
            None => {}
            Some(Held::Postgres(mut conn)) => {
                tracing::debug!(lock = %self.label, "advisory lock dropped without release: closing its connection");
                conn.close_on_drop();
            }
            Some(Held::Session(session)) => {
                tracing::debug!(lock = %self.label, "advisory lock dropped without release: its session's connection will be closed");
                session.taint();
            }
            Some(Held::Sqlite(entry)) => {
                tracing::debug!(lock = %self.label, "in-process lock dropped without release: freed");
                local().remove(&entry);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_distinct() {
        let a = entity_key(MerchantId::new(1), "order:5");
        assert_eq!(a, entity_key(MerchantId::new(1), "order:5"));
        assert_ne!(a, entity_key(MerchantId::new(2), "order:5"));
        assert_ne!(a, entity_key(MerchantId::new(1), "order:6"));
        assert_ne!(global_key("retention"), global_key("purge"));
        // Pinned: a change would let old and new workers hold "the same" lock at once.
        assert_eq!(global_key("retention"), global_key("retention"));
        assert_eq!(
            hash_key(""),
            i64::from_be_bytes(*b"\xe3\xb0\xc4\x42\x98\xfc\x1c\x14")
        );
    }
}
