//! Odoo's stock pushed to Salla, for stores whose stock master is Odoo (the default).
//!
//! Salla sends no webhook for ordinary stock changes (docs/salla-platform.md §2.2), so Odoo is the
//! stock master and the connector pushes the quantity Salla should show with
//! `POST /products/quantities/bulk` in `overwrite` mode (§8.6): idempotent, so a batch whose answer
//! was lost is simply pushed again. Stores whose stock master is Salla are left alone (their
//! product webhooks keep writing Salla's quantities into Odoo).
//!
//! # What changed: `stock.quant` by `write_date`
//! One `search_read` on `stock.quant` per run:
//! `[("location_id", "child_of", <warehouse view location>), ("location_id.usage", "=", "internal"),
//! ("write_date", ">=", <watermark>)]`, fields `product_id`, `write_date`. Why quants:
//! - every change of what Salla is told is a write on a quant on Odoo 16–19: a done move changes
//!   `quantity` (`_update_available_quantity`), a reservation or its release changes
//!   `reserved_quantity` (`_update_reserved_quantity`), an inventory adjustment is a done move;
//! - the table is small (one row per product, location, lot and package), where `stock.move` holds
//!   every move ever made and is also written for reasons that change no quantity;
//! - `child_of` the warehouse's view location with internal usage is exactly what Odoo itself
//!   counts as the warehouse's stock (`qty_available` with a `warehouse` context), including
//!   WH/Input, WH/Output and sub-locations, without relying on the product's warehouse context
//!   key (`warehouse` on 16, renamed `warehouse_id` later) or on `free_qty`'s per-version rules.
//!
//! The quantities of the changed products are then summed from all their quants in those
//! locations (`quantity` = on hand, `reserved_quantity` = reserved; the same fields on 16–19):
//! on hand, or on hand less reserved (the store's `stock_quantity`), floored, never negative. The
//! warehouse is the store's `warehouse_id`, else Odoo's first warehouse (as the sync uses for
//! deliveries and stock adjustments).
//!
//! Products created since the watermark (`product.product` `create_date`, storable, with a code)
//! are pushed too: they have no quant until stock moves, while Salla shows what the merchant typed
//! there, so Salla is told Odoo's quantity (zero) at once. For the same reason a store's first push
//! (no watermark yet) is a full resync, as `--all-products`.
//!
//! # The watermark
//! Odoo's `write_date` is the *start* of the writing transaction, in whole seconds as read. So a
//! change can become visible after a later-stamped one (a long validation commits last), and
//! several changes share a second. The watermark (`stock_watermark`, Odoo's own text) is therefore
//! "every change stamped before it is pushed", queried with `>=`, and moves only after Salla took
//! every batch of the run, to `min(newest write_date seen + 1 s, run start − SETTLE)`: changes of
//! the last [`SETTLE`] are read (and pushed, harmlessly) once more by the next runs, so a
//! transaction that commits up to [`SETTLE`] after it started is never missed. An idle store sends
//! nothing once its last change is older than [`SETTLE`]. This assumes the connector's clock and
//! Odoo's database clock agree to well within [`SETTLE`] (NTP). A quant Odoo deletes (zero quants
//! are purged by the scheduler) was first written to zero, which a run sees unless the purge came
//! first; `salla-odoo stock push --all-products` resyncs everything.
//!
//! # What is pushed
//! A product is identified by its SKU (`default_code`, which the sync sets to the Salla SKU;
//! variants have their own, also as variants of a product's template), else — when the code is the connector's marker for a Salla product
//! without SKU (`SALLA-<product>[-<variant>]`) or empty — by the Salla variant or product id of the
//! id map (then of the marker). Products without any are counted as `skipped_no_sku`. Updates go in
//! batches of `batch_size`, one Salla request each, through [`SallaAccess::request`] (tokens,
//! refresh, the store's fleet-wide budget; a spent budget or a 429 is waited out for up to
//! [`THROTTLE_PATIENCE`]). A batch Salla refuses with 422 (a product deleted in Salla, an
//! Odoo-only SKU) is sent again without the items it names — or, when it names none, in halves
//! until the refused item is alone; those are reported as `rejected` (and pushed again only when
//! their stock changes again).
//! `--all-products` first lists Salla's catalogue (`GET /products`, 60 a page) and leaves out
//! the Salla products that have variants (`skus[]`): their quantity is the sum of their variants',
//! each pushed under its own SKU, and the parent's Odoo product holds no stock. (Changed products
//! are pushed as they are: a parent's Odoo stock only changes when someone stocks it.)
//!
//! # No echo
//! The pushed quantity comes back as `product.updated` (and maybe `product.quantity.low`); with
//! Odoo as stock master the sync never writes a Salla quantity into Odoo (`crates/sync`:
//! `apply_product_plan` only adjusts stock when Salla is the master), so nothing loops.
//!
//! # Scheduling
//! [`stock_loop`] runs every `stock.push_interval_secs` over the installed stores with usable
//! tokens; every push of a store (scheduled or `salla-odoo stock push`) holds the fleet-wide lock
//! `stock-push/<merchant>`, so two never interleave their reads and writes.
//!
//! Metrics: `salla_odoo_stock_push_lag_seconds{merchant}` (the age of the oldest Odoo change not
//! yet pushed: 0 after a successful run), `salla_odoo_stock_pushed_total` (updates Salla accepted).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use odoo::{Domain, Id, Record, SearchOptions, StorableProduct};
use salla_odoo_core::{MerchantId, StockMaster, SyncError};
use salla_odoo_salla::api::{ApiError, EndpointClass, Identifier, ProductQuery, QuantityUpdate};
use salla_odoo_store::Db;
use salla_odoo_store::reconcile::{OdooMark, odoo_mark, set_odoo_mark};
use salla_odoo_store::secrets::Keyring;
use salla_odoo_store::stores::{self, StockQuantity, StoreSettings};
use salla_odoo_sync::idmap::entity;
use serde_json::Value;
use time::OffsetDateTime;

use crate::salla::{Answer, SallaAccess};

/// How long after its start a transaction's stock change is still looked for (see the module docs).
pub const SETTLE: Duration = Duration::from_secs(120);
/// How long one run waits in total for the store's Salla budget (or a 429's `Retry-After`).
pub const THROTTLE_PATIENCE: Duration = Duration::from_secs(300);
/// Product ids per Odoo call.
const IDS_PER_CALL: usize = 500;

/// How a push is asked for.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// Only the product with this SKU (`default_code`), changed or not; the watermark stays.
    pub sku: Option<String>,
    /// Every storable product with a code, not only those whose stock changed.
    pub all_products: bool,
    /// Compute and report; push nothing, leave the watermark.
    pub dry_run: bool,
    /// Updates per `POST /products/quantities/bulk`.
    pub batch_size: usize,
}

/// What a push found and did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct PushReport {
    pub merchant: u64,
    /// Odoo products considered: whose stock changed since the watermark (every product with
    /// `all_products`, the one SKU with `sku`).
    pub changed: u64,
    /// Updates Salla accepted.
    pub pushed: u64,
    /// Products with neither a SKU nor a Salla id: not pushed.
    pub skipped_no_sku: u64,
    /// `all_products`: Salla products with variants (their quantity is their variants' sum).
    pub skipped_has_variants: u64,
    /// Items Salla refused (422), as `type:identifier: reason`; the rest of their batch was pushed.
    pub rejected: Vec<String>,
    /// Batches sent (each at least one request).
    pub batches: u64,
    /// Salla requests made.
    pub requests: u64,
    /// The watermark after the run (Odoo `write_date` text, UTC).
    pub watermark: Option<String>,
    pub dry_run: bool,
    /// Set when the store's Salla API could not be used: why (nothing more was pushed).
    pub unavailable: Option<String>,
    /// Set when the store was not pushed at all: why (stock master Salla, no Odoo connection,
    /// uninstalled, another push running).
    pub skipped: Option<String>,
    /// The age of the oldest Odoo change not yet pushed (0 after a successful run).
    pub lag_seconds: u64,
    /// The updates, for dry runs and single-SKU pushes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<PushItem>,
    pub millis: u64,
}

/// One product's figure.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PushItem {
    pub odoo_product: Id,
    /// `sku`, `variant_id` or `id`.
    pub identifier_type: &'static str,
    pub identifier: String,
    pub on_hand: f64,
    pub reserved: f64,
    /// What Salla is told.
    pub quantity: i64,
}

/// The fleet-wide lock of a store's stock push.
pub fn lock_name(merchant: MerchantId) -> String {
    format!("stock-push/{merchant}")
}

/// Push `merchant`'s Odoo stock to Salla (see the module docs). A store that is not pushed
/// (stock master Salla, no Odoo connection, another push running) answers a report whose
/// `skipped` says why; a store without usable Salla tokens one whose `unavailable` says why.
pub async fn push_store(
    access: &SallaAccess,
    pool: &Db,
    keyring: &Keyring,
    merchant: MerchantId,
    opts: PushOptions,
) -> Result<PushReport, SyncError> {
    push_with(
        access,
        pool,
        keyring,
        &crate::handler::StoreClients::default(),
        merchant,
        &opts,
    )
    .await
}

async fn push_with(
    access: &SallaAccess,
    pool: &Db,
    keyring: &Keyring,
    clients: &crate::handler::StoreClients,
    merchant: MerchantId,
    opts: &PushOptions,
) -> Result<PushReport, SyncError> {
    let started = Instant::now();
    let mut report = PushReport {
        merchant: merchant.get(),
        dry_run: opts.dry_run,
        ..PushReport::default()
    };
    let settings = stores::load_settings(pool, keyring, merchant)
        .await
        .map_err(|e| salla_odoo_sync::classify_store(&e))?
        .ok_or_else(|| SyncError::Permanent {
            message: format!("store {merchant} is not configured"),
        })?;
    let skip = if settings.status != "installed" {
        Some(format!("the store is {}", settings.status))
    } else if settings.stock_master == StockMaster::Salla {
        Some("the store's stock master is Salla: its quantities flow from Salla into Odoo".into())
    } else {
        None
    };
    let odoo = match (skip, clients.get(&settings, access.limits())?) {
        (Some(why), _) => {
            report.skipped = Some(why);
            return Ok(finish(report, started));
        }
        (None, None) => {
            report.skipped = Some("the store has no Odoo connection configured".into());
            return Ok(finish(report, started));
        }
        (None, Some(odoo)) => odoo,
    };
    let lock = salla_odoo_store::locks::try_lock_global(pool, &lock_name(merchant))
        .await
        .map_err(|e| salla_odoo_sync::classify_store(&e))?;
    let Some(lock) = lock else {
        report.skipped = Some("another stock push of this store is running".into());
        return Ok(finish(report, started));
    };
    let result = run(access, pool, &odoo, &settings, opts, &mut report).await;
    crate::handler::keep_capabilities(pool, &settings, &odoo).await;
    if let Err(e) = lock.release().await {
        tracing::warn!(error = %e, "stock push lock release failed (its connection is closed instead)");
    }
    result.map(|()| finish(report, started))
}

fn finish(mut report: PushReport, started: Instant) -> PushReport {
    report.millis = started.elapsed().as_millis() as u64;
    report
}

/// Which products a run looks at.
enum Scope<'a> {
    Changed,
    All,
    Sku(&'a str),
}

/// One product's quantities in the warehouse.
#[derive(Debug, Default, Clone, Copy)]
struct Stock {
    on_hand: f64,
    reserved: f64,
}

async fn run(
    access: &SallaAccess,
    pool: &Db,
    odoo: &odoo::Client,
    settings: &StoreSettings,
    opts: &PushOptions,
    report: &mut PushReport,
) -> Result<(), SyncError> {
    let merchant = settings.merchant;
    let odoo_err = |e: odoo::Error| salla_odoo_sync::classify_odoo(&e);
    let store_err = |e: salla_odoo_store::StoreError| salla_odoo_sync::classify_store(&e);
    let mark = odoo_mark(pool, merchant, OdooMark::Stock)
        .await
        .map_err(store_err)?;
    // A store's first push (no watermark yet) is a full resync: Salla shows what the merchant
    // typed for every product until it is told Odoo's figure, stocked in Odoo or not.
    let scope = match (&opts.sku, opts.all_products || mark.is_none()) {
        (Some(sku), _) => Scope::Sku(sku.trim()),
        (None, true) => Scope::All,
        (None, false) => Scope::Changed,
    };
    report.watermark = mark.clone();
    let view = warehouse_view(odoo, settings.warehouse_id).await?;
    let in_warehouse = Domain::new()
        .leaf("location_id", "child_of", view)
        .eq("location_id.usage", "internal");

    // What changed since the watermark (not for a single SKU: it leaves the watermark alone).
    let read_at = OffsetDateTime::now_utc();
    let mut changed_products: Vec<Id> = Vec::new();
    let (mut oldest, mut newest) = (None, None);
    if !matches!(scope, Scope::Sku(_)) {
        let mut domain = in_warehouse.clone();
        if let Some(m) = &mark {
            domain = domain.ge("write_date", m.as_str());
        }
        let quants: Vec<Record> = odoo
            .search_read(
                "stock.quant",
                &domain,
                &["product_id", "write_date"],
                &SearchOptions::default(),
            )
            .await
            .map_err(odoo_err)?;
        for q in &quants {
            if let Some(p) = q.get("product_id").and_then(odoo::many2one_id) {
                changed_products.push(p);
            }
            if let Some(at) = q.get("write_date").and_then(odoo_datetime) {
                oldest = Some(oldest.map_or(at, |o: OffsetDateTime| o.min(at)));
                newest = Some(newest.map_or(at, |n: OffsetDateTime| n.max(at)));
            }
        }
        // A product created since the watermark has no quant until stock moves, but Salla shows what
        // the merchant typed there: it is told Odoo's quantity (zero) at once, or the store oversells.
        if let Some(m) = &mark {
            let created: Vec<Record> = odoo
                .search_read(
                    "product.product",
                    &storable_domain(odoo)
                        .await?
                        .ne("default_code", false)
                        .is_in("active", [true, false])
                        .ge("create_date", m.as_str()),
                    &["id"],
                    &SearchOptions::default(),
                )
                .await
                .map_err(odoo_err)?;
            changed_products.extend(created.iter().filter_map(|r| r.get("id")?.as_i64()));
        }
        changed_products.sort_unstable();
        changed_products.dedup();
    }
    let lag = oldest.map_or(0, |o: OffsetDateTime| {
        (OffsetDateTime::now_utc() - o).whole_seconds().max(0) as u64
    });

    // The products to push and their codes.
    let codes: BTreeMap<Id, Option<String>> = match scope {
        Scope::Changed => read_codes(odoo, &changed_products).await?,
        Scope::Sku(sku) => {
            let found: Vec<Record> = odoo
                .search_read(
                    "product.product",
                    &Domain::new()
                        .eq("default_code", sku)
                        .is_in("active", [true, false]),
                    &["default_code"],
                    &SearchOptions::default(),
                )
                .await
                .map_err(odoo_err)?;
            if found.is_empty() {
                report.skipped = Some(format!("no Odoo product has the SKU {sku:?}"));
                return Ok(());
            }
            records_codes(&found)
        }
        Scope::All => {
            let all: Vec<Record> = odoo
                .search_read(
                    "product.product",
                    // Archived too (a product hidden in Salla): its figure is right when it
                    // comes back.
                    &storable_domain(odoo)
                        .await?
                        .ne("default_code", false)
                        .is_in("active", [true, false]),
                    &["default_code"],
                    &SearchOptions::default(),
                )
                .await
                .map_err(odoo_err)?;
            let mut codes = records_codes(&all);
            // Changed products that are archived (or lost their code) are still pushed if they can be.
            let missing: Vec<Id> = changed_products
                .iter()
                .copied()
                .filter(|p| !codes.contains_key(p))
                .collect();
            codes.extend(read_codes(odoo, &missing).await?);
            codes
        }
    };
    report.changed = codes.len() as u64;

    // Their quantities in the warehouse.
    let ids: Vec<Id> = codes.keys().copied().collect();
    let mut stock: HashMap<Id, Stock> = HashMap::new();
    for chunk in ids.chunks(IDS_PER_CALL) {
        let quants: Vec<Record> = odoo
            .search_read(
                "stock.quant",
                &in_warehouse
                    .clone()
                    .is_in("product_id", chunk.iter().copied()),
                &["product_id", "quantity", "reserved_quantity"],
                &SearchOptions::default(),
            )
            .await
            .map_err(odoo_err)?;
        for q in &quants {
            let Some(p) = q.get("product_id").and_then(odoo::many2one_id) else {
                continue;
            };
            let s = stock.entry(p).or_default();
            s.on_hand += q.get("quantity").and_then(Value::as_f64).unwrap_or(0.0);
            s.reserved += q
                .get("reserved_quantity")
                .and_then(Value::as_f64)
                .unwrap_or(0.0);
        }
    }

    // The updates.
    let mut updates: Vec<QuantityUpdate> = Vec::new();
    let keep_items = opts.dry_run || matches!(scope, Scope::Sku(_));
    for (product, code) in &codes {
        let Some(identifier) = identifier(pool, merchant, *product, code.as_deref()).await? else {
            report.skipped_no_sku += 1;
            continue;
        };
        let s = stock.get(product).copied().unwrap_or_default();
        let quantity = salla_quantity(s, settings.stock_quantity);
        if keep_items {
            let (kind, value) = identifier_parts(&identifier);
            report.items.push(PushItem {
                odoo_product: *product,
                identifier_type: kind,
                identifier: value,
                on_hand: s.on_hand,
                reserved: s.reserved,
                quantity,
            });
        }
        updates.push(QuantityUpdate::overwrite(identifier, quantity));
    }
    // One update per identifier (two Odoo products with one code: the last one read).
    let mut seen = std::collections::HashSet::new();
    let mut deduped: Vec<QuantityUpdate> = updates
        .into_iter()
        .rev()
        .filter(|u| seen.insert(u.identifier.clone()))
        .collect();
    deduped.reverse();
    let updates = deduped;

    // A full resync leaves out the Salla products with variants.
    let mut waited = Duration::ZERO;
    let updates = if matches!(scope, Scope::All) {
        let catalogue = match catalogue(access, merchant, report, &mut waited).await? {
            Ok(c) => c,
            Err(why) => {
                report.unavailable = Some(why);
                report.lag_seconds = lag;
                return Ok(());
            }
        };
        let mut kept = Vec::with_capacity(updates.len());
        for u in updates {
            if catalogue.contains(&u.identifier) {
                report.skipped_has_variants += 1;
            } else {
                kept.push(u);
            }
        }
        report.items.retain(|i| {
            kept.iter().any(|u| {
                let (kind, value) = identifier_parts(&u.identifier);
                kind == i.identifier_type && value == i.identifier
            })
        });
        kept
    } else {
        updates
    };

    let gauge =
        || metrics::gauge!("salla_odoo_stock_push_lag_seconds", "merchant" => merchant.to_string());
    if opts.dry_run {
        report.lag_seconds = lag;
        return Ok(());
    }
    for batch in updates.chunks(opts.batch_size.max(1)) {
        report.batches += 1;
        match push_batch(access, merchant, batch, report, &mut waited).await {
            Ok(None) => {}
            Ok(Some(why)) => {
                report.unavailable = Some(why);
                report.lag_seconds = lag;
                gauge().set(lag as f64);
                return Ok(());
            }
            Err(e) => {
                gauge().set(lag as f64);
                return Err(with_context(
                    e,
                    &format!(
                        "stock push of store {merchant} stopped after {} of {} updates",
                        report.pushed,
                        updates.len()
                    ),
                ));
            }
        }
    }
    // Salla took every batch: only now may the watermark move (not for a single SKU).
    if !matches!(scope, Scope::Sku(_))
        && let Some(to) = next_mark(newest, read_at)
    {
        set_odoo_mark(pool, merchant, OdooMark::Stock, &to)
            .await
            .map_err(store_err)?;
        report.watermark = odoo_mark(pool, merchant, OdooMark::Stock)
            .await
            .map_err(store_err)?;
    }
    if !matches!(scope, Scope::Sku(_)) {
        report.lag_seconds = 0;
        gauge().set(0.0);
    }
    Ok(())
}

/// Storable products, as this Odoo version spells it.
async fn storable_domain(odoo: &odoo::Client) -> Result<Domain, SyncError> {
    let caps = odoo
        .capabilities()
        .await
        .map_err(|e| salla_odoo_sync::classify_odoo(&e))?;
    Ok(match caps.storable {
        StorableProduct::DetailedType => Domain::new().eq("detailed_type", "product"),
        StorableProduct::TypeProduct => Domain::new().eq("type", "product"),
        StorableProduct::IsStorable => Domain::new().eq("is_storable", true),
    })
}

/// The view location of the store's warehouse (else of Odoo's first warehouse).
async fn warehouse_view(odoo: &odoo::Client, warehouse: Option<i64>) -> Result<Id, SyncError> {
    let domain = match warehouse {
        Some(wh) => Domain::new().eq("id", wh),
        None => Domain::new(),
    };
    let found: Vec<Record> = odoo
        .search_read(
            "stock.warehouse",
            &domain,
            &["view_location_id"],
            &SearchOptions::limit(1),
        )
        .await
        .map_err(|e| salla_odoo_sync::classify_odoo(&e))?;
    let Some(w) = found.first() else {
        return Err(SyncError::Permanent {
            message: match warehouse {
                Some(wh) => format!(
                    "the store's warehouse {wh} does not exist in Odoo; fix the store settings"
                ),
                None => "Odoo has no warehouse".into(),
            },
        });
    };
    w.get("view_location_id")
        .and_then(odoo::many2one_id)
        .ok_or_else(|| SyncError::Permanent {
            message: "the store's warehouse has no view location".into(),
        })
}

async fn read_codes(
    odoo: &odoo::Client,
    ids: &[Id],
) -> Result<BTreeMap<Id, Option<String>>, SyncError> {
    let mut out = BTreeMap::new();
    for chunk in ids.chunks(IDS_PER_CALL) {
        let records: Vec<Record> = odoo
            .read("product.product", chunk, &["default_code"])
            .await
            .map_err(|e| salla_odoo_sync::classify_odoo(&e))?;
        out.extend(records_codes(&records));
    }
    Ok(out)
}

fn records_codes(records: &[Record]) -> BTreeMap<Id, Option<String>> {
    records
        .iter()
        .filter_map(|r| {
            let id = r.get("id").and_then(Value::as_i64)?;
            let code = r
                .get("default_code")
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned);
            Some((id, code))
        })
        .collect()
}

/// How Salla knows the product: its SKU, else its Salla variant or product id.
async fn identifier(
    pool: &Db,
    merchant: MerchantId,
    product: Id,
    code: Option<&str>,
) -> Result<Option<Identifier>, SyncError> {
    let marker = code.and_then(parse_marker);
    if let Some(code) = code
        && marker.is_none()
    {
        return Ok(Some(Identifier::Sku(code.to_owned())));
    }
    let store_err = |e: salla_odoo_store::StoreError| salla_odoo_sync::classify_store(&e);
    if let Some(v) =
        salla_odoo_store::id_map::find_by_odoo(pool, merchant, entity::VARIANT, product)
            .await
            .map_err(store_err)?
    {
        return Ok(Some(Identifier::VariantId(v)));
    }
    if let Some(p) =
        salla_odoo_store::id_map::find_by_odoo(pool, merchant, entity::PRODUCT, product)
            .await
            .map_err(store_err)?
    {
        // A product kept as a template maps to a `product.template`, whose ids are not
        // `product.product` ids: only a row naming this very product counts.
        let own = salla_odoo_store::id_map::get(pool, merchant, entity::PRODUCT, p)
            .await
            .map_err(store_err)?
            .is_some_and(|m| m.odoo_model == "product.product" && m.odoo_id == product);
        if own {
            return Ok(Some(Identifier::Id(p)));
        }
    }
    Ok(marker)
}

/// The connector's code for a Salla product without SKU: `SALLA-<product>` or
/// `SALLA-<product>-<variant>` (crates/sync `product_code`, `variant_code`).
fn parse_marker(code: &str) -> Option<Identifier> {
    let rest = code.strip_prefix("SALLA-")?;
    let mut parts = rest.split('-');
    let product: u64 = parts.next()?.parse().ok()?;
    match (parts.next(), parts.next()) {
        (None, _) => Some(Identifier::Id(product)),
        (Some(v), None) => v.parse().ok().map(Identifier::VariantId),
        _ => None,
    }
}

fn identifier_parts(i: &Identifier) -> (&'static str, String) {
    match i {
        Identifier::Id(id) => ("id", id.to_string()),
        Identifier::VariantId(id) => ("variant_id", id.to_string()),
        Identifier::Sku(sku) => ("sku", sku.clone()),
    }
}

/// What Salla shows: on hand, or on hand less reserved; whole units, never negative.
fn salla_quantity(s: Stock, option: StockQuantity) -> i64 {
    let q = match option {
        StockQuantity::OnHand => s.on_hand,
        StockQuantity::Available => s.on_hand - s.reserved,
    };
    // A rounding residue (2.9999999) is still 3 units.
    let q = (q + 1e-6).floor();
    if q.is_finite() && q > 0.0 {
        q as i64
    } else {
        0
    }
}

/// Odoo's `write_date` text (`YYYY-MM-DD HH:MM:SS`, UTC).
fn odoo_datetime(v: &Value) -> Option<OffsetDateTime> {
    let s = v.as_str()?;
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::PrimitiveDateTime::parse(s.get(..19)?, &format)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

/// Where the watermark may move after a run that read the changes at `read_at` and pushed them
/// all: past the newest change seen, but not past `read_at − SETTLE` (see the module docs).
fn next_mark(newest: Option<OffsetDateTime>, read_at: OffsetDateTime) -> Option<String> {
    let newest = newest?;
    let to = (newest + Duration::from_secs(1)).min(read_at - SETTLE);
    Some(salla_odoo_sync::version::odoo_datetime(to))
}

/// What one request made of a batch.
enum Sent {
    Accepted,
    /// 422: the items Salla named, by field (`products.{i}.{field}` → messages).
    Refused(BTreeMap<String, Vec<String>>),
}

/// Push one batch: `Ok(None)` when Salla took it (less the items it refused), `Ok(Some(why))` when
/// the store's API cannot be used. A 422 that names items (`products.{i}.…`) drops them and sends
/// the rest again; one that names none is narrowed down by halving the batch, so a single bad
/// item never holds back the others.
async fn push_batch(
    access: &SallaAccess,
    merchant: MerchantId,
    batch: &[QuantityUpdate],
    report: &mut PushReport,
    waited: &mut Duration,
) -> Result<Option<String>, SyncError> {
    let mut todo: Vec<Vec<QuantityUpdate>> = vec![batch.to_vec()];
    while let Some(mut items) = todo.pop() {
        while !items.is_empty() {
            report.requests += 1;
            let sent = &items;
            let answer = access
                .request(merchant, EndpointClass::General, |api, token| async move {
                    match api.merchant(&token).update_quantities(sent).await {
                        Ok(_) => Ok(Sent::Accepted),
                        Err(ApiError::Status {
                            status: 422,
                            fields,
                            ..
                        }) => Ok(Sent::Refused(fields)),
                        Err(e) => Err(e),
                    }
                })
                .await;
            match answer {
                Ok(Answer::Data(Sent::Accepted)) => {
                    report.pushed += items.len() as u64;
                    metrics::counter!("salla_odoo_stock_pushed_total")
                        .increment(items.len() as u64);
                    break;
                }
                Ok(Answer::Data(Sent::Refused(fields))) => {
                    let named = refused_items(&fields, items.len());
                    if !named.is_empty() {
                        // Each round drops at least one item: this ends.
                        for (i, why) in named.into_iter().rev() {
                            let (kind, value) = identifier_parts(&items[i].identifier);
                            report.rejected.push(format!("{kind}:{value}: {why}"));
                            items.remove(i);
                        }
                    } else if items.len() > 1 {
                        let second = items.split_off(items.len() / 2);
                        todo.push(second);
                        todo.push(items);
                        break;
                    } else {
                        let (kind, value) = identifier_parts(&items[0].identifier);
                        report
                            .rejected
                            .push(format!("{kind}:{value}: {}", describe_fields(&fields)));
                        break;
                    }
                }
                Ok(Answer::NotFound) => {
                    return Err(SyncError::Permanent {
                        message: "Salla answered 404 to POST /products/quantities/bulk".into(),
                    });
                }
                Ok(Answer::Unavailable(why)) => return Ok(Some(why)),
                Err(SyncError::Throttled { retry_after, .. })
                    if *waited + retry_after <= THROTTLE_PATIENCE =>
                {
                    tokio::time::sleep(retry_after).await;
                    *waited += retry_after;
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(None)
}

/// The identifiers (id and SKU) of the Salla products that have variants (`GET /products`, every
/// page). A listing without `skus[]` names none: nothing is left out then. `Ok(Err(why))` when
/// the store's API cannot be used.
async fn catalogue(
    access: &SallaAccess,
    merchant: MerchantId,
    report: &mut PushReport,
    waited: &mut Duration,
) -> Result<Result<std::collections::HashSet<Identifier>, String>, SyncError> {
    let query = ProductQuery {
        per_page: Some(60),
        ..ProductQuery::default()
    };
    let mut out = std::collections::HashSet::new();
    let mut page = 1u32;
    loop {
        report.requests += 1;
        let q = &query;
        let answer = access
            .request(merchant, EndpointClass::General, |api, token| async move {
                api.merchant(&token)
                    .products_page(q, page)
                    .await
                    .map(|r| r.data)
            })
            .await;
        let listed = match answer {
            Ok(Answer::Data(p)) => p,
            Ok(Answer::NotFound) => break,
            Ok(Answer::Unavailable(why)) => return Ok(Err(why)),
            Err(SyncError::Throttled { retry_after, .. })
                if *waited + retry_after <= THROTTLE_PATIENCE =>
            {
                tokio::time::sleep(retry_after).await;
                *waited += retry_after;
                continue;
            }
            Err(e) => return Err(e),
        };
        for p in listed.items.iter().filter(|p| !p.skus.is_empty()) {
            out.insert(Identifier::Id(p.id));
            if let Some(sku) = p.sku.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                out.insert(Identifier::Sku(sku.to_owned()));
            }
        }
        match listed.next_page() {
            Some(next) => page = next,
            None => break,
        }
    }
    Ok(Ok(out))
}

/// The items a 422 names (`products.{i}.…`), by index, with their messages.
fn refused_items(fields: &BTreeMap<String, Vec<String>>, len: usize) -> BTreeMap<usize, String> {
    let mut out: BTreeMap<usize, String> = BTreeMap::new();
    for (field, messages) in fields {
        let Some(i) = field
            .strip_prefix("products.")
            .and_then(|r| r.split('.').next())
            .and_then(|i| i.parse::<usize>().ok())
            .filter(|i| *i < len)
        else {
            continue;
        };
        let text = out.entry(i).or_default();
        for m in messages {
            if !text.is_empty() {
                text.push_str("; ");
            }
            text.push_str(m);
        }
    }
    out
}

fn describe_fields(fields: &BTreeMap<String, Vec<String>>) -> String {
    if fields.is_empty() {
        return "refused (422), no field named".into();
    }
    fields
        .iter()
        .map(|(k, v)| format!("{k}: {}", v.join(" / ")))
        .collect::<Vec<_>>()
        .join("; ")
}

fn with_context(e: SyncError, context: &str) -> SyncError {
    match e {
        SyncError::Transient {
            message,
            retry_after,
        } => SyncError::Transient {
            message: format!("{context}: {message}"),
            retry_after,
        },
        SyncError::Permanent { message } => SyncError::Permanent {
            message: format!("{context}: {message}"),
        },
        SyncError::Throttled {
            message,
            retry_after,
        } => SyncError::Throttled {
            message: format!("{context}: {message}"),
            retry_after,
        },
    }
}

/// The scheduled push: every `interval`, each installed store with usable Salla tokens whose
/// stock master is Odoo is pushed, by one worker of the fleet at a time (a store whose push is
/// running elsewhere is skipped this round).
pub async fn stock_loop(
    access: SallaAccess,
    pool: Db,
    keyring: Keyring,
    interval: Duration,
    batch_size: usize,
) {
    let clients = crate::handler::StoreClients::default();
    let opts = PushOptions {
        batch_size,
        ..PushOptions::default()
    };
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is immediate: let the worker settle first
    loop {
        tick.tick().await;
        for merchant in crate::salla::api_stores(&pool, "stock push").await {
            let id = merchant.get();
            match push_with(&access, &pool, &keyring, &clients, merchant, &opts).await {
                Ok(r) if r.skipped.is_some() || r.unavailable.is_some() => tracing::debug!(
                    merchant = id,
                    skipped = r.skipped.as_deref(),
                    unavailable = r.unavailable.as_deref(),
                    "stock push: store not pushed"
                ),
                Ok(r) if r.pushed > 0 || !r.rejected.is_empty() => tracing::info!(
                    merchant = id,
                    changed = r.changed,
                    pushed = r.pushed,
                    rejected = r.rejected.len(),
                    requests = r.requests,
                    "stock pushed to Salla"
                ),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(merchant = id, error = %e, "stock push failed; next try at the next interval")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_whole_and_never_negative() {
        let s = |on_hand, reserved| Stock { on_hand, reserved };
        assert_eq!(salla_quantity(s(10.0, 3.0), StockQuantity::Available), 7);
        assert_eq!(salla_quantity(s(10.0, 3.0), StockQuantity::OnHand), 10);
        assert_eq!(salla_quantity(s(2.0, 5.0), StockQuantity::Available), 0);
        assert_eq!(salla_quantity(s(-4.0, 0.0), StockQuantity::OnHand), 0);
        assert_eq!(salla_quantity(s(2.5, 0.0), StockQuantity::OnHand), 2);
        assert_eq!(
            salla_quantity(s(2.999_999_9, 0.0), StockQuantity::OnHand),
            3
        );
    }

    #[test]
    fn markers_name_salla_ids() {
        assert_eq!(parse_marker("SALLA-5"), Some(Identifier::Id(5)));
        assert_eq!(parse_marker("SALLA-5-9"), Some(Identifier::VariantId(9)));
        assert_eq!(parse_marker("SALLA-X"), None);
        assert_eq!(parse_marker("SALLA-5-9-1"), None);
        assert_eq!(parse_marker("TSHIRT-S"), None);
    }

    #[test]
    fn the_watermark_settles_behind_the_clock() {
        let at = |s: &str| odoo_datetime(&Value::from(s)).unwrap();
        let read = at("2026-12-07 10:00:00");
        // An old change: the watermark passes it by one second.
        assert_eq!(
            next_mark(Some(at("2026-12-07 09:00:00")), read).as_deref(),
            Some("2026-12-07 09:00:01")
        );
        // A recent one: it stays SETTLE behind the read, so late commits are still seen.
        assert_eq!(
            next_mark(Some(at("2026-12-07 09:59:30")), read).as_deref(),
            Some("2026-12-07 09:58:00")
        );
        assert_eq!(next_mark(None, read), None);
    }

    #[test]
    fn refusals_name_their_items() {
        let mut fields = BTreeMap::new();
        fields.insert(
            "products.1.identifer".to_owned(),
            vec!["The selected product is invalid.".to_owned()],
        );
        fields.insert("products.9.quantity".to_owned(), vec!["x".to_owned()]);
        fields.insert("message".to_owned(), vec!["y".to_owned()]);
        let named = refused_items(&fields, 3);
        assert_eq!(named.len(), 1);
        assert_eq!(named[&1], "The selected product is invalid.");
    }
}
