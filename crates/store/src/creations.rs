//! Creation counts: whether a product code may have become visible in an Odoo database since a
//! moment, without asking Odoo.
//!
//! # Data layout
//! Table `creation_counts`, primary key `(scope, bucket)`: `scope` names one Odoo database (a hash
//! of `<url>|<db>`, shared by every store that writes to it), `bucket` one of [`BUCKETS`] buckets of
//! product codes (FNV-1a of the code, so every version of the connector agrees). `started`: how
//! many times a code of that bucket was about to be created or written in that database;
//! `finished`: how many of those Odoo calls came back with a known outcome (done, or refused).
//! Rows are only ever incremented; they hold no store's data.
//!
//! # How it is used, and failure handling
//! Every creator of a coded product counts its codes as started ([`start`]) under the codes'
//! creation locks **before** the Odoo call, and as finished ([`finish`]) once Odoo answered. A
//! call whose outcome is unknown (no answer), or a creator that died on the way, is never
//! finished: its buckets stay "in flight" for good, which only costs their codes a look-up each
//! time (below). A job reads its codes' counts ([`counts`]) before its unlocked look-up in Odoo;
//! under the locks of the codes that look-up did not find, a bucket with nothing in flight then
//! ([`Counts::settled`]) and nothing started since needs no second look-up: every create of its
//! codes had been answered before the first look-up began, so that look-up saw it. Anything else
//! (a bucket is shared by many codes) only costs the second look-up. Each function is one
//! statement; an error is the caller's (the job is retried).

use std::collections::BTreeMap;

use crate::{Db, StoreError};

/// Buckets per Odoo database: few rows, and a collision between two codes created at once only
/// costs a look-up.
pub const BUCKETS: u32 = 4096;

/// The counts of one bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub started: i64,
    pub finished: i64,
}

impl Counts {
    /// No Odoo call of this bucket in flight (or of unknown outcome).
    pub fn settled(self) -> bool {
        self.started == self.finished
    }
}

/// FNV-1a (64 bits): stable across builds and versions, unlike the standard library's hasher.
fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The row key of an Odoo database (`<url>|<db>`, see `odoo::Client::scope`).
pub fn scope_key(scope: &str) -> String {
    format!("{:016x}", fnv1a(scope))
}

/// The bucket of a product code.
pub fn bucket(code: &str) -> i32 {
    (fnv1a(code) % u64::from(BUCKETS)) as i32
}

/// Buckets are numbers: written into a statement, they need no binding (and SQLite has no array
/// type for `= ANY($2)`).
fn list(buckets: &[i32]) -> String {
    buckets
        .iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The counts of these buckets (absent ones are 0, 0).
pub async fn counts(
    db: &Db,
    scope: &str,
    buckets: &[i32],
) -> Result<BTreeMap<i32, Counts>, StoreError> {
    let mut out: BTreeMap<i32, Counts> = buckets.iter().map(|b| (*b, Counts::default())).collect();
    if buckets.is_empty() {
        return Ok(out);
    }
    let key = scope_key(scope);
    let sql = format!(
        "SELECT bucket, started, finished FROM creation_counts WHERE scope = $1 AND bucket IN ({})",
        list(buckets)
    );
    let rows: Vec<(i32, i64, i64)> = on_db!(db, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(&key)
            .fetch_all(pool)
            .await?
    });
    out.extend(
        rows.into_iter()
            .map(|(b, started, finished)| (b, Counts { started, finished })),
    );
    Ok(out)
}

/// Count these buckets as started (each named once: Postgres refuses one `INSERT … ON CONFLICT`
/// meeting the same row twice).
pub async fn start(db: &Db, scope: &str, buckets: &[i32]) -> Result<(), StoreError> {
    add(db, scope, buckets, "started").await
}

/// Count these buckets as finished (each named once).
pub async fn finish(db: &Db, scope: &str, buckets: &[i32]) -> Result<(), StoreError> {
    add(db, scope, buckets, "finished").await
}

async fn add(db: &Db, scope: &str, buckets: &[i32], column: &str) -> Result<(), StoreError> {
    if buckets.is_empty() {
        return Ok(());
    }
    let key = scope_key(scope);
    let (started, finished) = if column == "started" { (1, 0) } else { (0, 1) };
    let values = buckets
        .iter()
        .map(|b| format!("($1, {b}, {started}, {finished})"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "INSERT INTO creation_counts (scope, bucket, started, finished) VALUES {values}
         ON CONFLICT (scope, bucket) DO UPDATE SET {column} = creation_counts.{column} + 1"
    );
    on_db!(db, pool => {
        sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(&key)
            .execute(pool)
            .await?;
    });
    Ok(())
}
