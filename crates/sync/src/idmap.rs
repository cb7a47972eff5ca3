//! The id map as the handlers see it: (store, entity, Salla id) → (Odoo id, source version).
//!
//! [`PgIdMap`] is the real one (the store crate's `id_map` table, unique per store + entity + Salla id);
//! [`MemoryIdMap`] keeps the same rules in memory for tests and tools that run without Postgres.
//! `put` never lowers a recorded source version.

use std::collections::HashMap;
use std::sync::Mutex;

use salla_odoo_core::MerchantId;

use crate::error::Res;

/// One row of the id map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapped {
    pub odoo_id: i64,
    pub source_version: i64,
}

/// Entity names used in the id map (kept stable: they are stored).
pub mod entity {
    pub const CUSTOMER: &str = "customer";
    pub const PRODUCT: &str = "product";
    pub const VARIANT: &str = "product_variant";
    pub const ORDER: &str = "order";
    pub const SHIPMENT: &str = "shipment";
    pub const ORDER_SHIPMENT: &str = "order_shipment";
}

/// Where the handlers read and record mappings.
#[allow(async_fn_in_trait)]
pub trait IdMap {
    async fn get(
        &self,
        merchant: MerchantId,
        entity: &str,
        salla_id: u64,
    ) -> Result<Option<Mapped>, salla_odoo_core::SyncError>;
    /// Records the mapping; a lower `source_version` than the recorded one is ignored.
    async fn put(
        &self,
        merchant: MerchantId,
        entity: &str,
        salla_id: u64,
        odoo_model: &str,
        odoo_id: i64,
        source_version: i64,
    ) -> Result<(), salla_odoo_core::SyncError>;
}

pub(crate) async fn get<M: IdMap>(
    m: &M,
    merchant: MerchantId,
    entity: &str,
    salla_id: u64,
) -> Res<Option<Mapped>> {
    Ok(m.get(merchant, entity, salla_id).await?)
}

pub(crate) async fn put<M: IdMap>(
    m: &M,
    merchant: MerchantId,
    entity: &str,
    salla_id: u64,
    odoo_model: &str,
    odoo_id: i64,
    source_version: i64,
) -> Res<()> {
    Ok(m.put(
        merchant,
        entity,
        salla_id,
        odoo_model,
        odoo_id,
        source_version,
    )
    .await?)
}

/// (merchant, entity, Salla id)
pub type IdKey = (u64, String, u64);

/// An id map in memory (same rules as the table).
#[derive(Debug, Default)]
pub struct MemoryIdMap {
    rows: Mutex<HashMap<IdKey, (String, Mapped)>>,
}

impl MemoryIdMap {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every row: ((merchant, entity, Salla id), (Odoo model, mapping)).
    pub fn rows(&self) -> Vec<(IdKey, (String, Mapped))> {
        let rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<_> = rows.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

impl IdMap for MemoryIdMap {
    async fn get(
        &self,
        merchant: MerchantId,
        entity: &str,
        salla_id: u64,
    ) -> Result<Option<Mapped>, salla_odoo_core::SyncError> {
        let rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        Ok(rows
            .get(&(merchant.get(), entity.to_owned(), salla_id))
            .map(|(_, m)| *m))
    }

    async fn put(
        &self,
        merchant: MerchantId,
        entity: &str,
        salla_id: u64,
        odoo_model: &str,
        odoo_id: i64,
        source_version: i64,
    ) -> Result<(), salla_odoo_core::SyncError> {
        let mut rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        let key = (merchant.get(), entity.to_owned(), salla_id);
        let version = rows.get(&key).map_or(source_version, |(_, m)| {
            m.source_version.max(source_version)
        });
        rows.insert(
            key,
            (
                odoo_model.to_owned(),
                Mapped {
                    odoo_id,
                    source_version: version,
                },
            ),
        );
        Ok(())
    }
}

/// The id map in Postgres (`salla_odoo_store::id_map`).
#[derive(Debug, Clone)]
pub struct PgIdMap {
    pub pool: sqlx::PgPool,
}

impl IdMap for PgIdMap {
    async fn get(
        &self,
        merchant: MerchantId,
        entity: &str,
        salla_id: u64,
    ) -> Result<Option<Mapped>, salla_odoo_core::SyncError> {
        salla_odoo_store::id_map::get(&self.pool, merchant, entity, salla_id)
            .await
            .map(|m| {
                m.map(|m| Mapped {
                    odoo_id: m.odoo_id,
                    source_version: m.source_version,
                })
            })
            .map_err(|e| crate::error::classify_store(&e))
    }

    async fn put(
        &self,
        merchant: MerchantId,
        entity: &str,
        salla_id: u64,
        odoo_model: &str,
        odoo_id: i64,
        source_version: i64,
    ) -> Result<(), salla_odoo_core::SyncError> {
        salla_odoo_store::id_map::put(
            &self.pool,
            merchant,
            entity,
            salla_id,
            odoo_model,
            odoo_id,
            source_version,
        )
        .await
        .map(|_| ())
        .map_err(|e| crate::error::classify_store(&e))
    }
}
