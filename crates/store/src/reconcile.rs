//! Each store's reconciliation watermark.
//!
//! # Data layout
//! On the store's row (`stores`): `reconcile_watermark`, the Salla `updated_at` up to which every
//! changed order has been checked against the id map and, when Odoo lacked it or held an older
//! version, queued; `reconciled_at`, when the last run ended.
//!
//! # Failure handling
//! [`advance`] is called only after a run's jobs are all queued, and never moves the watermark
//! back: a run that fails part way leaves it where it was, and the next run checks the same window
//! again (queueing twice is harmless: the queue deduplicates, the handlers are idempotent).

use salla_odoo_core::MerchantId;
use time::OffsetDateTime;

use crate::{Db, StoreError, Timestamp, db_id};

/// A store's watermark and last run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Watermark {
    #[serde(with = "time::serde::rfc3339::option")]
    pub watermark: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub reconciled_at: Option<OffsetDateTime>,
}

/// The store's watermark; `None` when the store is unknown.
pub async fn get(db: &Db, merchant: MerchantId) -> Result<Option<Watermark>, StoreError> {
    let id = db_id(merchant)?;
    let row: Option<(Option<OffsetDateTime>, Option<OffsetDateTime>)> = on_db!(db, pool => {
        sqlx::query_as("SELECT reconcile_watermark, reconciled_at FROM stores WHERE merchant_id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?
    });
    Ok(row.map(|(watermark, reconciled_at)| Watermark {
        watermark,
        reconciled_at,
    }))
}

/// Record a finished run: the watermark moves to `to` unless it is already later.
pub async fn advance(db: &Db, merchant: MerchantId, to: OffsetDateTime) -> Result<(), StoreError> {
    let id = db_id(merchant)?;
    let sql = db.with_now(
        "UPDATE stores SET
            reconcile_watermark = CASE
                WHEN reconcile_watermark IS NULL OR reconcile_watermark < $2 THEN $2
                ELSE reconcile_watermark END,
            reconciled_at = now()
         WHERE merchant_id = $1",
    );
    on_db!(db, pool => {
        sqlx::query(sql).bind(id).bind(Timestamp(to)).execute(pool).await?;
    });
    Ok(())
}

/// The Odoo-side watermarks of the Odoo → Salla loops, on the store's row: Odoo's own `write_date`
/// text (UTC, `YYYY-MM-DD HH:MM:SS`), compared by Odoo in its domains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OdooMark {
    /// `stock_watermark`: stock changes up to here are pushed to Salla.
    Stock,
    /// `fulfilment_watermark`: deliveries validated up to here are reported to Salla.
    Fulfilment,
}

impl OdooMark {
    fn column(self) -> &'static str {
        match self {
            OdooMark::Stock => "stock_watermark",
            OdooMark::Fulfilment => "fulfilment_watermark",
        }
    }
}

/// The store's Odoo-side watermark; `None` when never set (or the store is unknown).
pub async fn odoo_mark(
    db: &Db,
    merchant: MerchantId,
    mark: OdooMark,
) -> Result<Option<String>, StoreError> {
    let id = db_id(merchant)?;
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM stores WHERE merchant_id = $1",
        mark.column()
    ));
    let row: Option<(Option<String>,)> = on_db!(db, pool => {
        sqlx::query_as(sql).bind(id).fetch_optional(pool).await?
    });
    Ok(row.and_then(|r| r.0))
}

/// Move the store's Odoo-side watermark to `to` (never back: Odoo's text form sorts as its time).
pub async fn set_odoo_mark(
    db: &Db,
    merchant: MerchantId,
    mark: OdooMark,
    to: &str,
) -> Result<(), StoreError> {
    let id = db_id(merchant)?;
    let column = mark.column();
    let sql = sqlx::AssertSqlSafe(format!(
        "UPDATE stores SET {column} = $2 WHERE merchant_id = $1 AND ({column} IS NULL OR {column} < $2)"
    ));
    on_db!(db, pool => {
        sqlx::query(sql).bind(id).bind(to).execute(pool).await?;
    });
    Ok(())
}
