//! The id map: which Odoo record a Salla object became, and how new the state applied to it is.
//!
//! # Data layout
//! Table `id_map`, primary key `(merchant_id, entity, salla_id)` (so one Salla object maps to at
//! most one Odoo record per store and entity kind): `odoo_model`, `odoo_id`, `source_version`
//! (the watermark: the version of the newest Salla state applied, e.g. the event's `updated_at` as
//! a Unix timestamp or a payload version) and `synced_at`. Index `(merchant_id, entity, odoo_id)`
//! serves the reverse lookup.
//!
//! # Failure handling
//! [`put`] is one statement: concurrent writers of the same key serialise on the row, and the
//! watermark only moves forward (an equal version rewrites the mapping and `synced_at`, a lower one
//! changes nothing and returns the newer row that is stored). Salla ids of 2^63 or more are refused
//! (permanent error); Salla's ids are far smaller.

use salla_odoo_core::MerchantId;
use time::OffsetDateTime;

use crate::{Db, StoreError, db_id, db_salla_id, from_db_id};

/// Where a Salla object lives in Odoo.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct Mapping {
    pub odoo_model: String,
    pub odoo_id: i64,
    pub source_version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub synced_at: OffsetDateTime,
}

/// The mapping of one Salla object, if it was synced.
pub async fn get(
    db: &Db,
    merchant: MerchantId,
    entity: &str,
    salla_id: u64,
) -> Result<Option<Mapping>, StoreError> {
    let (merchant_id, salla) = (db_id(merchant)?, db_salla_id(salla_id)?);
    Ok(on_db!(db, pool => {
        sqlx::query_as(
            "SELECT odoo_model, odoo_id, source_version, synced_at FROM id_map
             WHERE merchant_id = $1 AND entity = $2 AND salla_id = $3",
        )
        .bind(merchant_id)
        .bind(entity)
        .bind(salla)
        .fetch_optional(pool)
        .await?
    }))
}

/// The source versions of many Salla objects of one entity at once (one query; ids not synced are
/// absent from the answer): reconciliation checks a page of orders this way.
pub async fn source_versions(
    db: &Db,
    merchant: MerchantId,
    entity: &str,
    salla_ids: &[u64],
) -> Result<std::collections::HashMap<u64, i64>, StoreError> {
    if salla_ids.is_empty() {
        return Ok(std::collections::HashMap::new());
    }
    let merchant_id = db_id(merchant)?;
    let ids = salla_ids
        .iter()
        .map(|id| db_salla_id(*id))
        .collect::<Result<Vec<i64>, _>>()?;
    // The ids are numbers checked above: written into the statement, they need no binding (and
    // SQLite has no array type for `= ANY($3)`).
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let sql = format!(
        "SELECT salla_id, source_version FROM id_map
         WHERE merchant_id = $1 AND entity = $2 AND salla_id IN ({list})"
    );
    let rows: Vec<(i64, i64)> = on_db!(db, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(merchant_id)
            .bind(entity)
            .fetch_all(pool)
            .await?
    });
    Ok(rows
        .into_iter()
        .map(|(id, v)| (crate::from_db_id(id), v))
        .collect())
}

/// Insert or move forward: never lowers `source_version` (an older event cannot overwrite newer
/// state); returns the row as stored, which is the newer one when `source_version` is older.
pub async fn put(
    db: &Db,
    merchant: MerchantId,
    entity: &str,
    salla_id: u64,
    odoo_model: &str,
    odoo_id: i64,
    source_version: i64,
) -> Result<Mapping, StoreError> {
    // When the watermark refuses the write, RETURNING yields nothing; the stored (newer) row is
    // then read: it exists (the conflict proved it) and only a purge deletes mappings.
    let merchant_id = db_id(merchant)?;
    let salla = db_salla_id(salla_id)?;
    let sql = db.with_now(
        "INSERT INTO id_map (merchant_id, entity, salla_id, odoo_model, odoo_id, source_version, synced_at)
         VALUES ($1, $2, $3, $4, $5, $6, now())
         ON CONFLICT (merchant_id, entity, salla_id) DO UPDATE SET
            odoo_model = EXCLUDED.odoo_model,
            odoo_id = EXCLUDED.odoo_id,
            source_version = EXCLUDED.source_version,
            synced_at = now()
         WHERE id_map.source_version <= EXCLUDED.source_version
         RETURNING odoo_model, odoo_id, source_version, synced_at",
    );
    let written: Option<Mapping> = on_db!(db, pool => {
        sqlx::query_as(sql)
            .bind(merchant_id)
            .bind(entity)
            .bind(salla)
            .bind(odoo_model)
            .bind(odoo_id)
            .bind(source_version)
            .fetch_optional(pool)
            .await?
    });
    if let Some(m) = written {
        return Ok(m);
    }
    get(db, merchant, entity, salla_id).await?.ok_or_else(|| {
        StoreError::Invalid(format!(
            "id map row {merchant}/{entity}/{salla_id} vanished during an update"
        ))
    })
}

/// The Salla id mapped to an Odoo record. When several Salla objects share one Odoo record (two
/// Salla customers with the same e-mail are one partner), the most recently synced one.
pub async fn find_by_odoo(
    db: &Db,
    merchant: MerchantId,
    entity: &str,
    odoo_id: i64,
) -> Result<Option<u64>, StoreError> {
    let merchant_id = db_id(merchant)?;
    let id: Option<i64> = on_db!(db, pool => {
        sqlx::query_scalar(
            "SELECT salla_id FROM id_map WHERE merchant_id = $1 AND entity = $2 AND odoo_id = $3
             ORDER BY synced_at DESC, salla_id DESC LIMIT 1",
        )
        .bind(merchant_id)
        .bind(entity)
        .bind(odoo_id)
        .fetch_optional(pool)
        .await?
    });
    Ok(id.map(from_db_id))
}

/// Forget one mapping (e.g. the Odoo record was deleted); `true` if it existed.
pub async fn delete(
    db: &Db,
    merchant: MerchantId,
    entity: &str,
    salla_id: u64,
) -> Result<bool, StoreError> {
    let (merchant_id, salla) = (db_id(merchant)?, db_salla_id(salla_id)?);
    let deleted = on_db!(db, pool => {
        sqlx::query("DELETE FROM id_map WHERE merchant_id = $1 AND entity = $2 AND salla_id = $3")
            .bind(merchant_id)
            .bind(entity)
            .bind(salla)
            .execute(pool)
            .await?
            .rows_affected()
    });
    Ok(deleted == 1)
}

/// Delete every mapping of a merchant (purge); returns how many.
pub async fn delete_merchant(db: &Db, merchant: MerchantId) -> Result<u64, StoreError> {
    let merchant_id = db_id(merchant)?;
    Ok(on_db!(db, pool => {
        sqlx::query("DELETE FROM id_map WHERE merchant_id = $1")
            .bind(merchant_id)
            .execute(pool)
            .await?
            .rows_affected()
    }))
}

/// How many mappings a merchant has.
pub async fn count_merchant(db: &Db, merchant: MerchantId) -> Result<i64, StoreError> {
    let merchant_id = db_id(merchant)?;
    Ok(on_db!(db, pool => {
        sqlx::query_scalar("SELECT count(*) FROM id_map WHERE merchant_id = $1")
            .bind(merchant_id)
            .fetch_one(pool)
            .await?
    }))
}
