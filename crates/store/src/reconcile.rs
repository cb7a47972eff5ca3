//! Each store's reconciliation watermarks: one for its orders, one per listed entity (products,
//! customers).
//!
//! # Data layout
//! On the store's row (`stores`):
//! - orders: `reconcile_watermark`, the Salla `updated_at` up to which every changed order has been
//!   checked against the id map and, when Odoo lacked it or held an older version, queued;
//!   `reconciled_at`, when the last run ended.
//! - products and customers ([`ListEntity`]; Salla cannot list them by update, so they are
//!   reconciled by passes over the whole list, a bounded number of pages per run):
//!   `{products,customers}_watermark`, when the last complete pass began (everything Salla changed
//!   before then was checked); `_reconciled_at`, when the last run of a pass ended; `_next_page`
//!   and `_pass_started`, where an unfinished pass resumes and when it began (both `NULL` between
//!   passes).
//!
//! # Failure handling
//! [`advance`] is called only after a run's jobs are all queued, and never moves the watermark
//! back: a run that fails part way leaves it where it was, and the next run checks the same window
//! again (queueing twice is harmless: the queue deduplicates, the handlers are idempotent). The
//! same holds for a pass: [`pass_paused`] and [`pass_complete`] are called only after the pages
//! read so far have had their jobs queued; a run that fails leaves the pass where the last good
//! run left it.

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

/// An entity reconciled by passes over Salla's whole list (it cannot be listed by update).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListEntity {
    /// `GET /products`: columns `products_*`.
    Products,
    /// `GET /customers`: columns `customers_*`.
    Customers,
}

impl ListEntity {
    /// `products` or `customers` (the columns' prefix, and the name in reports and metrics).
    pub fn as_str(self) -> &'static str {
        match self {
            ListEntity::Products => "products",
            ListEntity::Customers => "customers",
        }
    }
}

/// Where a store's passes over one list stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct PassState {
    /// When the last complete pass began.
    #[serde(with = "time::serde::rfc3339::option")]
    pub watermark: Option<OffsetDateTime>,
    /// When the last run of a pass ended.
    #[serde(with = "time::serde::rfc3339::option")]
    pub reconciled_at: Option<OffsetDateTime>,
    /// The page the unfinished pass resumes at; `None`: the next run starts a new pass.
    pub next_page: Option<u32>,
    /// When the unfinished pass began.
    #[serde(with = "time::serde::rfc3339::option")]
    pub pass_started: Option<OffsetDateTime>,
}

/// The store's pass over `entity`; `None` when the store is unknown.
pub async fn pass_state(
    db: &Db,
    merchant: MerchantId,
    entity: ListEntity,
) -> Result<Option<PassState>, StoreError> {
    let id = db_id(merchant)?;
    let e = entity.as_str();
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {e}_watermark, {e}_reconciled_at, {e}_next_page, {e}_pass_started
         FROM stores WHERE merchant_id = $1"
    ));
    type Row = (
        Option<OffsetDateTime>,
        Option<OffsetDateTime>,
        Option<i32>,
        Option<OffsetDateTime>,
    );
    let row: Option<Row> = on_db!(db, pool => {
        sqlx::query_as(sql).bind(id).fetch_optional(pool).await?
    });
    Ok(row.map(
        |(watermark, reconciled_at, next_page, pass_started)| PassState {
            watermark,
            reconciled_at,
            next_page: next_page
                .and_then(|p| u32::try_from(p).ok())
                .filter(|p| *p > 1),
            pass_started,
        },
    ))
}

/// A run read its pages of the pass begun at `started` and stopped before the end of the list: the
/// next run resumes at `next_page`.
pub async fn pass_paused(
    db: &Db,
    merchant: MerchantId,
    entity: ListEntity,
    next_page: u32,
    started: OffsetDateTime,
) -> Result<(), StoreError> {
    let id = db_id(merchant)?;
    let e = entity.as_str();
    let page = i32::try_from(next_page).unwrap_or(i32::MAX);
    let sql = sqlx::AssertSqlSafe(with_now(
        db,
        format!(
            "UPDATE stores SET {e}_next_page = $2, {e}_pass_started = $3, {e}_reconciled_at = now()
             WHERE merchant_id = $1"
        ),
    ));
    on_db!(db, pool => {
        sqlx::query(sql).bind(id).bind(page).bind(Timestamp(started)).execute(pool).await?;
    });
    Ok(())
}

/// The pass begun at `started` reached the end of the list: the watermark moves to `started`
/// (never back) and the next run begins a new pass.
pub async fn pass_complete(
    db: &Db,
    merchant: MerchantId,
    entity: ListEntity,
    started: OffsetDateTime,
) -> Result<(), StoreError> {
    let id = db_id(merchant)?;
    let e = entity.as_str();
    let sql = sqlx::AssertSqlSafe(with_now(
        db,
        format!(
            "UPDATE stores SET
            {e}_watermark = CASE
                WHEN {e}_watermark IS NULL OR {e}_watermark < $2 THEN $2
                ELSE {e}_watermark END,
            {e}_next_page = NULL,
            {e}_pass_started = NULL,
            {e}_reconciled_at = now()
             WHERE merchant_id = $1"
        ),
    ));
    on_db!(db, pool => {
        sqlx::query(sql).bind(id).bind(Timestamp(started)).execute(pool).await?;
    });
    Ok(())
}

/// [`Db::with_now`] for a statement built at run time (its column names).
fn with_now(db: &Db, sql: String) -> String {
    match db.backend() {
        crate::Backend::Postgres => sql,
        crate::Backend::Sqlite => sql.replace("now()", crate::SQLITE_NOW),
    }
}

/// What reconciling a store's products and customers depends on, from its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncScope {
    /// An Odoo URL is configured (without one every job would be dead-lettered).
    pub has_odoo: bool,
    /// The order sync creates products for SKUs Odoo lacks.
    pub create_unknown_skus: bool,
}

/// The store's [`SyncScope`]; `None` when the store is unknown.
pub async fn sync_scope(db: &Db, merchant: MerchantId) -> Result<Option<SyncScope>, StoreError> {
    let id = db_id(merchant)?;
    let row: Option<(Option<String>, bool)> = on_db!(db, pool => {
        sqlx::query_as("SELECT odoo_url, create_unknown_skus FROM stores WHERE merchant_id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?
    });
    Ok(row.map(|(url, create_unknown_skus)| SyncScope {
        has_odoo: url.is_some(),
        create_unknown_skus,
    }))
}
