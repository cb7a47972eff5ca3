//! The `stores` table: one row per Salla merchant that installed the app.

use salla_odoo_core::MerchantId;
use sqlx::PgPool;
use time::OffsetDateTime;

use crate::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct StoreRow {
    pub merchant_id: i64,
    pub status: String,
    pub app_id: Option<i64>,
    pub store_type: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub installed_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub uninstalled_at: Option<OffsetDateTime>,
}

fn db_id(merchant: MerchantId) -> Result<i64, StoreError> {
    i64::try_from(merchant.get())
        .map_err(|_| StoreError::Invalid(format!("merchant id {merchant} exceeds 2^63")))
}

/// Create or reconnect a store (`app.installed`, `app.updated`): an upsert, never a duplicate.
pub async fn upsert_installed(
    pool: &PgPool,
    merchant: MerchantId,
    app_id: Option<u64>,
    store_type: Option<&str>,
) -> Result<StoreRow, StoreError> {
    let app_id = app_id.and_then(|a| i64::try_from(a).ok());
    Ok(sqlx::query_as::<_, StoreRow>(
        "INSERT INTO stores (merchant_id, status, app_id, store_type, installed_at)
         VALUES ($1, 'installed', $2, $3, now())
         ON CONFLICT (merchant_id) DO UPDATE SET
            status = 'installed',
            app_id = COALESCE(EXCLUDED.app_id, stores.app_id),
            store_type = COALESCE(EXCLUDED.store_type, stores.store_type),
            installed_at = COALESCE(stores.installed_at, EXCLUDED.installed_at),
            uninstalled_at = NULL,
            purge_after = NULL,
            updated_at = now()
         RETURNING merchant_id, status, app_id, store_type, installed_at, uninstalled_at",
    )
    .bind(db_id(merchant)?)
    .bind(app_id)
    .bind(store_type)
    .fetch_one(pool)
    .await?)
}

pub async fn get(pool: &PgPool, merchant: MerchantId) -> Result<Option<StoreRow>, StoreError> {
    Ok(sqlx::query_as::<_, StoreRow>(
        "SELECT merchant_id, status, app_id, store_type, installed_at, uninstalled_at
         FROM stores WHERE merchant_id = $1",
    )
    .bind(db_id(merchant)?)
    .fetch_optional(pool)
    .await?)
}

pub async fn list(pool: &PgPool) -> Result<Vec<StoreRow>, StoreError> {
    Ok(sqlx::query_as::<_, StoreRow>(
        "SELECT merchant_id, status, app_id, store_type, installed_at, uninstalled_at
         FROM stores ORDER BY merchant_id",
    )
    .fetch_all(pool)
    .await?)
}
