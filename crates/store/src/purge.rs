//! Purging a merchant: every row that mentions it, in every table, in one transaction.
//!
//! # Data layout
//! Each table that mentions a merchant has a `merchant_id` column: `secrets`, `id_map`, `sync_log`,
//! `dead_letters` and `stores` (deleted last). A table added later that mentions a merchant must
//! be added here, and the purge test searches every table for the merchant id, so forgetting one
//! fails the test.
//!
//! # Failure handling
//! One transaction: a purge that fails (connection lost, serialization failure, SQLite busy;
//! all transient)
//! removes nothing and can simply run again; a purge that succeeded and runs again removes
//! nothing and reports zeros. Jobs still queued in Redis are the queue's to drop.

use salla_odoo_core::MerchantId;
use sqlx::Acquire as _; // `begin`/`acquire` on a session's held connection (on_db!)

use crate::{Db, StoreError, db_id};

/// Rows removed (or, for [`count`], that would be removed), by table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PurgeReport {
    pub stores: u64,
    pub secrets: u64,
    pub id_map: u64,
    pub sync_log: u64,
    pub dead_letters: u64,
}

impl PurgeReport {
    pub fn total(&self) -> u64 {
        self.stores + self.secrets + self.id_map + self.sync_log + self.dead_letters
    }
}

/// Delete everything the merchant owns in the database; returns what was removed.
pub async fn purge_merchant(db: &Db, merchant: MerchantId) -> Result<PurgeReport, StoreError> {
    let id = db_id(merchant)?;
    let report = on_db!(db, pool => {
        let mut tx = pool.begin().await?;
        let mut delete = async |sql: &'static str| -> Result<u64, StoreError> {
            Ok(sqlx::query(sql)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected())
        };
        let report = PurgeReport {
            secrets: delete("DELETE FROM secrets WHERE merchant_id = $1").await?,
            id_map: delete("DELETE FROM id_map WHERE merchant_id = $1").await?,
            sync_log: delete("DELETE FROM sync_log WHERE merchant_id = $1").await?,
            dead_letters: delete("DELETE FROM dead_letters WHERE merchant_id = $1").await?,
            stores: delete("DELETE FROM stores WHERE merchant_id = $1").await?,
        };
        tx.commit().await?;
        report
    });
    tracing::info!(merchant = %merchant, rows = report.total(), "merchant purged");
    Ok(report)
}

/// What [`purge_merchant`] would remove (for `--dry-run`).
pub async fn count(db: &Db, merchant: MerchantId) -> Result<PurgeReport, StoreError> {
    let id = db_id(merchant)?;
    let row: (i64, i64, i64, i64, i64) = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT (SELECT count(*) FROM stores WHERE merchant_id = $1),
                    (SELECT count(*) FROM secrets WHERE merchant_id = $1),
                    (SELECT count(*) FROM id_map WHERE merchant_id = $1),
                    (SELECT count(*) FROM sync_log WHERE merchant_id = $1),
                    (SELECT count(*) FROM dead_letters WHERE merchant_id = $1)",
        )
        .bind(id)
        .fetch_one(pool)
        .await?
    });
    let n = |v: i64| u64::try_from(v).unwrap_or_default();
    Ok(PurgeReport {
        stores: n(row.0),
        secrets: n(row.1),
        id_map: n(row.2),
        sync_log: n(row.3),
        dead_letters: n(row.4),
    })
}
