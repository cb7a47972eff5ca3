//! The id map as the handlers see it: (store, entity, Salla id) → (Odoo id, source version).
//!
//! [`PgIdMap`] is the real one (the store crate's `id_map` table, unique per store + entity + Salla id);
//! [`MemoryIdMap`] keeps the same rules in memory for tests and tools that run without Postgres.
//! `put` never lowers a recorded source version.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use salla_odoo_core::MerchantId;
pub use salla_odoo_store::creations::Counts;

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
    /// A Salla product: its `product.product` (separate layout, and products without options)
    /// or its `product.template` (templates layout: `odoo_model` says which).
    pub const PRODUCT: &str = "product";
    /// A Salla SKU (`skus[].id`): its `product.product`, a product of its own (separate layout)
    /// or a variant of the product's template (templates layout).
    pub const VARIANT: &str = "product_variant";
    /// The status watermark of a product, apart from [`PRODUCT`]'s: `product.status.updated` carries
    /// only the status, so it must neither make an older full event stale nor be undone by one. Its
    /// `odoo_id` is the status itself (1 active, 0 archived), not a record id, so a status that
    /// arrives before its product is kept and applied when the product is created.
    pub const PRODUCT_STATUS: &str = "product_status";
    pub const ORDER: &str = "order";
    /// A `sale.order` about to be created for a Salla order (written before the create, never
    /// removed; `odoo_id` 0): a later try searches the order's marker, for that create's answer
    /// may have been lost. See `crate::order`.
    pub const ORDER_INTENT: &str = "order_intent";
    pub const SHIPMENT: &str = "shipment";
    pub const ORDER_SHIPMENT: &str = "order_shipment";
    /// An order's payment (`account.payment`), registered or found by its memo.
    pub const ORDER_PAYMENT: &str = "order_payment";
    /// An order's latest credit note (`account.move`), recorded as soon as the reversal wizard
    /// made it, so a draft left by a crash is finished rather than made again.
    pub const ORDER_REFUND: &str = "order_refund";
    /// A return shipment (`shipment.*` of type `return`) → its return picking.
    pub const RETURN_SHIPMENT: &str = "return_shipment";
}

/// A held creation lock (see [`IdMap::lock`]); release it once the record exists.
#[derive(Debug)]
pub enum Guard {
    /// Nothing to release (in-memory maps: one process, tests).
    Free,
    /// A store lock: a fleet-wide Postgres advisory lock, or an in-process one on SQLite.
    Pg(salla_odoo_store::locks::EntityLock),
}

impl Guard {
    pub async fn release(self) {
        if let Guard::Pg(lock) = self
            && let Err(e) = lock.release().await
        {
            // Dropping the connection frees the lock anyway.
            tracing::warn!(error = %e, "creation lock release failed");
        }
    }
}

/// How long [`PgIdMap::lock`] waits for a creation lock held by another job. A holder makes one
/// or two Odoo calls under it, and on a saturated Odoo each waits in line behind every other
/// job's: longer than an Odoo call's default timeout (10 s), so that holder is waited for. Giving
/// up sooner failed the job after its customer and products were already looked up (an attempt
/// spent, and that work done again; seen in the benchmark at 3 s).
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// Where the handlers read and record mappings.
#[allow(async_fn_in_trait)]
pub trait IdMap {
    /// A fleet-wide lock on creating one shared record (a partner of a customer several orders name, a
    /// product by SKU, the shipping product…), taken only when a look-up found nothing, so two jobs of
    /// different entities cannot both create it. `key` must differ from the worker's entity-lock keys
    /// (`order:<id>`, `customer:<id>`, `product:<id>`), which the running job may hold itself.
    async fn lock(
        &self,
        merchant: MerchantId,
        key: &str,
    ) -> Result<Guard, salla_odoo_core::SyncError> {
        let _ = (merchant, key);
        Ok(Guard::Free)
    }

    async fn get(
        &self,
        merchant: MerchantId,
        entity: &str,
        salla_id: u64,
    ) -> Result<Option<Mapped>, salla_odoo_core::SyncError>;
    /// [`IdMap::get`] with the Odoo model the row names (a product's row names a
    /// `product.product` or a `product.template`).
    async fn get_model(
        &self,
        merchant: MerchantId,
        entity: &str,
        salla_id: u64,
    ) -> Result<Option<(String, Mapped)>, salla_odoo_core::SyncError>;
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

    /// The creation counts of these code buckets in the Odoo database `scope`
    /// (`salla_odoo_store::creations`).
    async fn creation_counts(
        &self,
        scope: &str,
        buckets: &[i32],
    ) -> Result<BTreeMap<i32, Counts>, salla_odoo_core::SyncError>;

    /// Counts these code buckets (each named once) as started, before codes of them are created
    /// or written, or (`finished`) once Odoo answered that call.
    async fn count_creations(
        &self,
        scope: &str,
        buckets: &[i32],
        finished: bool,
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

pub(crate) async fn get_model<M: IdMap>(
    m: &M,
    merchant: MerchantId,
    entity: &str,
    salla_id: u64,
) -> Res<Option<(String, Mapped)>> {
    Ok(m.get_model(merchant, entity, salla_id).await?)
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
    /// (scope, bucket) → counts.
    creations: Mutex<HashMap<(String, i32), Counts>>,
    /// Look-ups answered so far (each is a database round trip in [`PgIdMap`]).
    gets: std::sync::atomic::AtomicUsize,
}

impl MemoryIdMap {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many look-ups ([`IdMap::get`]) it has answered.
    pub fn gets(&self) -> usize {
        self.gets.load(std::sync::atomic::Ordering::Relaxed)
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
        self.gets.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        Ok(rows
            .get(&(merchant.get(), entity.to_owned(), salla_id))
            .map(|(_, m)| *m))
    }

    async fn get_model(
        &self,
        merchant: MerchantId,
        entity: &str,
        salla_id: u64,
    ) -> Result<Option<(String, Mapped)>, salla_odoo_core::SyncError> {
        self.gets.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        Ok(rows
            .get(&(merchant.get(), entity.to_owned(), salla_id))
            .cloned())
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

    async fn creation_counts(
        &self,
        scope: &str,
        buckets: &[i32],
    ) -> Result<BTreeMap<i32, Counts>, salla_odoo_core::SyncError> {
        let counts = self.creations.lock().unwrap_or_else(|p| p.into_inner());
        Ok(buckets
            .iter()
            .map(|b| {
                (
                    *b,
                    counts
                        .get(&(scope.to_owned(), *b))
                        .copied()
                        .unwrap_or_default(),
                )
            })
            .collect())
    }

    async fn count_creations(
        &self,
        scope: &str,
        buckets: &[i32],
        finished: bool,
    ) -> Result<(), salla_odoo_core::SyncError> {
        let mut counts = self.creations.lock().unwrap_or_else(|p| p.into_inner());
        for b in buckets {
            let c = counts.entry((scope.to_owned(), *b)).or_default();
            if finished {
                c.finished += 1;
            } else {
                c.started += 1;
            }
        }
        Ok(())
    }
}

/// The id map in the store's database, Postgres or SQLite (`salla_odoo_store::id_map`).
#[derive(Debug, Clone)]
pub struct PgIdMap {
    pub pool: salla_odoo_store::Db,
}

impl IdMap for PgIdMap {
    async fn lock(
        &self,
        _merchant: MerchantId,
        key: &str,
    ) -> Result<Guard, salla_odoo_core::SyncError> {
        let key = format!("create:{key}");
        let deadline = tokio::time::Instant::now() + LOCK_WAIT;
        loop {
            // Fleet-wide, not per merchant: the key names the Odoo database (see `Engine::lock`).
            match salla_odoo_store::locks::try_lock_global(&self.pool, &key).await {
                Ok(Some(lock)) => return Ok(Guard::Pg(lock)),
                Ok(None) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Ok(None) => {
                    return Err(salla_odoo_core::SyncError::Transient {
                        message: format!("{key} is being created by another job"),
                        retry_after: Some(std::time::Duration::from_secs(1)),
                    });
                }
                Err(e) => return Err(crate::error::classify_store(&e)),
            }
        }
    }

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

    async fn get_model(
        &self,
        merchant: MerchantId,
        entity: &str,
        salla_id: u64,
    ) -> Result<Option<(String, Mapped)>, salla_odoo_core::SyncError> {
        salla_odoo_store::id_map::get(&self.pool, merchant, entity, salla_id)
            .await
            .map(|m| {
                m.map(|m| {
                    (
                        m.odoo_model,
                        Mapped {
                            odoo_id: m.odoo_id,
                            source_version: m.source_version,
                        },
                    )
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

    async fn creation_counts(
        &self,
        scope: &str,
        buckets: &[i32],
    ) -> Result<BTreeMap<i32, Counts>, salla_odoo_core::SyncError> {
        salla_odoo_store::creations::counts(&self.pool, scope, buckets)
            .await
            .map_err(|e| crate::error::classify_store(&e))
    }

    async fn count_creations(
        &self,
        scope: &str,
        buckets: &[i32],
        finished: bool,
    ) -> Result<(), salla_odoo_core::SyncError> {
        let counted = if finished {
            salla_odoo_store::creations::finish(&self.pool, scope, buckets).await
        } else {
            salla_odoo_store::creations::start(&self.pool, scope, buckets).await
        };
        counted.map_err(|e| crate::error::classify_store(&e))
    }
}
