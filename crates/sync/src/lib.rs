//! The Salla → Odoo sync: the mapping as pure functions and the handlers that apply one job through the
//! `odoo` client and the `store` crate.
//!
//! The worker owns the queue, retries, per-entity locks, the sync log and dead letters; this crate owns what
//! happens inside one job ([`apply`]). Every handler is idempotent: running a job again (after a crash, a
//! retry, a duplicate delivery) changes nothing more in Odoo, because
//! - records are found before they are created: id map first, then the deterministic marker written on
//!   every record this connector creates (`client_order_ref` / `ref` = `salla:<merchant>:<id>`,
//!   `default_code` = SKU or `SALLA-<product id>`), so a create whose answer was lost is adopted;
//! - updates write only the fields that differ, and workflow steps read Odoo's state first;
//! - the id map keeps a source version per Salla object, so an older event never overwrites newer state
//!   (it ends as `Skipped { reason: "stale: …" }`).
//!
//! Errors: [`classify_odoo`] turns Odoo failures into transient or permanent [`SyncError`]s; an outcome
//! unknown is transient, which is safe because of the look-ups above.

mod customer;
mod engine;
mod error;
pub mod idmap;
mod options;
mod order;
mod product;
mod shipment;
mod status;
mod store_jobs;
pub mod version;

/// The pure mapping functions, for callers and tests.
pub mod mapping {
    pub use crate::customer::{
        PartnerInput, customer_name, delivery_vals, normalise_phone, partner_input, partner_vals,
        phone_digits, same_phone, shipping_country,
    };
    pub use crate::engine::{diff, marker, money, round2, same_value};
    pub use crate::order::{
        COD_CODE, LineInput, SHIPPING_CODE, describe_line_change, discount_percent, item_code,
        line_taxes, line_vals, order_lines, order_version, same_lines,
    };
    pub use crate::product::{
        ProductKind, ProductPlan, product_code, product_kind, product_plans, type_vals,
        variant_code,
    };
    pub use crate::shipment::{
        Tracking, note_with_tracking, order_shipment_tracking, shipment_tracking,
    };
    pub use crate::status::status_slug;
}

pub use error::{classify_odoo, classify_store};
pub use idmap::{IdMap, Mapped, MemoryIdMap, PgIdMap};
pub use options::StoreOptions;
pub use store_jobs::{SyncContext, apply, store_options};

use salla_odoo_core::{JobKind, SyncError, SyncJobV1};
use salla_odoo_salla::payload::{
    Customer, Order, OrderShipmentRef, OrderStatusUpdate, Product, Shipment,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::engine::Engine;
use crate::error::{Fail, Res, permanent};
use crate::idmap::entity;
use crate::version::{source_version, stale_reason};

/// The outcome of a job that did not fail.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// Odoo was brought to the event's state (possibly by doing nothing, when it already was).
    Applied {
        /// The Odoo records the job created, changed or relied on, e.g. `{"sale.order":[12], "res.partner":[7]}`.
        odoo_ids: Value,
        /// What the sync log should say besides "applied" (e.g. a change Odoo no longer accepts).
        note: Option<String>,
    },
    /// Nothing to do, with the reason (stale event, unmapped status, event handled elsewhere…).
    Skipped { reason: String },
}

fn typed<T: DeserializeOwned>(job: &SyncJobV1, data: &Value) -> Res<T> {
    T::deserialize(data).map_err(|e| permanent(format!("invalid {} payload: {e}", job.event)))
}

/// Applies one Odoo-side job (customers, products, orders, statuses, shipments, invoices) with an explicit
/// Odoo client, id map and store options. [`apply`] calls it with the Postgres id map; tests and tools can
/// pass a [`MemoryIdMap`]. `store.*` jobs are not Odoo jobs and are answered `Skipped` here.
pub async fn apply_with<M: IdMap>(
    odoo: &odoo::Client,
    ids: &M,
    opts: &StoreOptions,
    job: &SyncJobV1,
) -> Result<Applied, SyncError> {
    use tracing::Instrument;
    let span = tracing::debug_span!("sync", merchant = %job.merchant, kind = %job.kind, event = %job.event);
    run(odoo, ids, opts, job)
        .instrument(span)
        .await
        .map_err(|Fail(e)| e)
}

async fn run<M: IdMap>(
    odoo: &odoo::Client,
    ids: &M,
    opts: &StoreOptions,
    job: &SyncJobV1,
) -> Res<Applied> {
    if job.merchant != opts.merchant {
        return Err(permanent(format!(
            "job of merchant {} applied with the options of merchant {}",
            job.merchant, opts.merchant
        )));
    }
    let data = &job.data;
    let created_at = job.salla_created_at.as_str();
    match job.kind {
        JobKind::StoreAuthorize
        | JobKind::StoreInstall
        | JobKind::StoreUninstall
        | JobKind::StoreSettings => {
            return Ok(Applied::Skipped {
                reason: format!("{} is a store job, not an Odoo job", job.kind),
            });
        }
        JobKind::InvoiceCheck => {
            let inv: salla_odoo_salla::payload::Invoice = typed(job, data)?;
            return Ok(Applied::Skipped {
                reason: format!(
                    "invoice.created is informational: Salla invoice {} for order {} (total {}); Odoo invoices come \
                     from the order status flow",
                    inv.invoice_number.as_deref().unwrap_or("?"),
                    inv.order_id,
                    inv.total
                        .as_ref()
                        .map_or_else(|| "?".to_owned(), |t| t.amount.to_string()),
                ),
            });
        }
        _ => {}
    }
    let e = Engine::new(odoo, ids, opts, created_at).await?;
    match job.kind {
        JobKind::CustomerUpsert => {
            let c: Customer = typed(job, data)?;
            let version = source_version(c.updated_at.as_ref(), created_at);
            if let Some(m) = idmap::get(ids, opts.merchant, entity::CUSTOMER, c.id).await?
                && let Some(reason) =
                    stale_reason(entity::CUSTOMER, c.id, m.source_version, version)
            {
                return Ok(Applied::Skipped { reason });
            }
            e.ensure_customer(&c, data, version).await?;
            Ok(Applied::Applied {
                odoo_ids: e.touched(),
                note: None,
            })
        }
        JobKind::ProductUpsert | JobKind::ProductDelete => {
            let p: Product = typed(job, data)?;
            let version = source_version(p.updated_at.as_ref(), created_at);
            let deleted = job.kind == JobKind::ProductDelete || job.event == "product.deleted";
            // Only a full product (one with a name) creates; small events change existing products only.
            let full = p.name.as_deref().is_some_and(|n| !n.trim().is_empty());
            let create = !deleted && full;
            let mut plans = product::product_plans(&p, data, deleted, opts.prices_include_tax);
            let status = plans[0].vals.get("active").and_then(Value::as_bool);
            let status_mark = idmap::get(ids, opts.merchant, entity::PRODUCT_STATUS, p.id).await?;
            let partial_status = !full && !deleted && status.is_some();
            if partial_status {
                // A status-only event answers to the status watermark alone (see entity::PRODUCT_STATUS).
                if let Some(m) = &status_mark
                    && let Some(reason) =
                        stale_reason(entity::PRODUCT_STATUS, p.id, m.source_version, version)
                {
                    return Ok(Applied::Skipped { reason });
                }
            } else if let Some(m) = idmap::get(ids, opts.merchant, entity::PRODUCT, p.id).await?
                && let Some(reason) = stale_reason(entity::PRODUCT, p.id, m.source_version, version)
            {
                return Ok(Applied::Skipped { reason });
            }
            // A newer status, applied or waiting for its product, wins over this event's.
            let newer_status = status_mark
                .filter(|m| !partial_status && m.source_version > version)
                .map(|m| m.odoo_id != 0);
            if let Some(active) = newer_status {
                for plan in &mut plans {
                    plan.vals.insert("active".into(), active.into());
                }
            }
            let watermark = (!partial_status).then_some(version);
            let mut any = false;
            let mut main = None;
            for (i, plan) in plans.iter().enumerate() {
                let id = e.apply_product_plan(plan, watermark, create).await?;
                if i == 0 {
                    main = id;
                }
                any |= id.is_some();
            }
            let record_status = match (partial_status, newer_status) {
                (true, _) => status,
                (false, None) if main.is_some() => status,
                _ => None,
            };
            if let Some(active) = record_status {
                idmap::put(
                    ids,
                    opts.merchant,
                    entity::PRODUCT_STATUS,
                    p.id,
                    "product.product",
                    i64::from(active),
                    version,
                )
                .await?;
            }
            if !any {
                let why = if deleted {
                    "nothing to archive".to_owned()
                } else if partial_status {
                    "its status is kept and applied when the product arrives".to_owned()
                } else {
                    format!("{} carries too little to create it", job.event)
                };
                return Ok(Applied::Skipped {
                    reason: format!("product {} ({}) is not in Odoo: {why}", p.id, plans[0].code),
                });
            }
            Ok(Applied::Applied {
                odoo_ids: e.touched(),
                note: None,
            })
        }
        JobKind::OrderUpsert => {
            let o: Order = typed(job, data)?;
            let version = order::order_version(&o, created_at);
            e.upsert_order(&o, data, version, false).await
        }
        JobKind::OrderStatus => {
            let (order, raw, slug) = if job.event == "order.status.updated" {
                let upd: OrderStatusUpdate = typed(job, data)?;
                let slug = upd.slug().map(str::to_owned);
                (upd.order, data.get("order").unwrap_or(&Value::Null), slug)
            } else {
                let o: Order = typed(job, data)?;
                let slug = status::status_slug(&job.event, &o);
                (o, data, slug)
            };
            let version = order::order_version(&order, created_at);
            e.apply_status(&order, raw, slug.as_deref(), version).await
        }
        JobKind::OrderDelete => {
            let id = salla_odoo_salla::lenient::id_at(data, "/id")
                .ok_or_else(|| permanent("order.deleted without an order id"))?;
            let Some(so) = e.find_order(id).await? else {
                return Ok(Applied::Skipped {
                    reason: format!("order {id} is not in Odoo"),
                });
            };
            let state = e
                .read("sale.order", so, &["state"])
                .await?
                .and_then(|r| r.get("state").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_default();
            if !matches!(state.as_str(), "draft" | "sent") {
                return Ok(Applied::Skipped {
                    reason: format!(
                        "order {id} was deleted in Salla but is {state} in Odoo; left as it is"
                    ),
                });
            }
            e.odoo.cancel_sale_order(so).await?;
            e.touch("sale.order", so);
            Ok(Applied::Applied {
                odoo_ids: e.touched(),
                note: Some("order deleted in Salla: quotation cancelled".into()),
            })
        }
        JobKind::ShipmentSync => {
            if job.event.starts_with("order.shipment.return.") {
                // A return's number must not overwrite (or clear) the outgoing delivery's tracking.
                Ok(Applied::Skipped {
                    reason: format!(
                        "{}: return shipments are not synced to Odoo (returns and credit notes are handled \
                         by hand)",
                        job.event
                    ),
                })
            } else if job.event.starts_with("order.shipment.") {
                let r: OrderShipmentRef = typed(job, data)?;
                let t = shipment::order_shipment_tracking(&job.event, &r);
                let version = source_version(None, created_at);
                e.apply_tracking(r.id, entity::ORDER_SHIPMENT, r.id, &t, version)
                    .await
            } else {
                let s: Shipment = typed(job, data)?;
                let order_id = s
                    .order_id
                    .ok_or_else(|| permanent(format!("shipment {} names no order", s.id)))?;
                let t = shipment::shipment_tracking(&job.event, &s);
                let version = source_version(None, created_at);
                e.apply_tracking(order_id, entity::SHIPMENT, s.id, &t, version)
                    .await
            }
        }
        JobKind::StoreAuthorize
        | JobKind::StoreInstall
        | JobKind::StoreUninstall
        | JobKind::StoreSettings
        | JobKind::InvoiceCheck => unreachable!("answered above"),
    }
}
