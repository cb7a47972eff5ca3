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
//! What a webhook does not carry (an order Odoo never saw, a partial product event) is fetched from the
//! store's Salla API when the job has a [`fetch::SallaFetch`] ([`apply_with_fetch`]), and run through the
//! same handlers, id map and watermarks; see [`fetch`] for when and with which source version.
//!
//! Errors: [`classify_odoo`] turns Odoo failures into transient or permanent [`SyncError`]s; an outcome
//! unknown is transient, which is safe because of the look-ups above.

mod currency;
mod customer;
mod engine;
mod error;
pub mod fetch;
pub mod idmap;
mod options;
mod order;
pub mod payments;
mod product;
mod returns;
mod shipment;
mod status;
mod store_jobs;
mod template;
pub mod version;

/// The pure mapping functions, for callers and tests.
pub mod mapping {
    pub use crate::currency::{
        AmountPlan, DEFAULT_CURRENCY, DISCOUNT_CODE, ROUNDING_CODE, order_currency, plan_amounts,
        rounding_line, untaxed_total,
    };
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
    pub use crate::status::{order_is_partial, status_slug};
    pub use crate::template::{
        Axis, Extras, TemplatePlan, VariantPlan, solve_extras, template_plan,
    };
}

pub use currency::{PricelistError, pricelist_currency, resolve_pricelist};
pub use error::{
    SENDER_EMAIL_ERROR, SENDER_EMAIL_FIX, classify_odoo, classify_store, is_sender_email_error,
};
pub use idmap::{IdMap, Mapped, MemoryIdMap, PgIdMap};
pub use options::StoreOptions;
pub use store_jobs::{SyncContext, apply, store_options};

use salla_odoo_core::{JobKind, StockMaster, SyncError, SyncJobV1, VariantLayout};
use salla_odoo_salla::payload::{
    Customer, Order, OrderShipmentRef, OrderStatusUpdate, Product, Shipment,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::engine::Engine;
use crate::error::{Fail, Res, permanent};
use crate::fetch::{Fetched, parse_fetched, with_note, with_reason};
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
/// Odoo client, id map and store options, without the Salla API (no fetch on demand): exactly
/// [`apply_with_fetch`] with `None`. [`apply`] calls it with the Postgres id map; tests and tools can
/// pass a [`MemoryIdMap`]. `store.*` jobs are not Odoo jobs and are answered `Skipped` here.
pub async fn apply_with<M: IdMap>(
    odoo: &odoo::Client,
    ids: &M,
    opts: &StoreOptions,
    job: &SyncJobV1,
) -> Result<Applied, SyncError> {
    apply_with_fetch(odoo, ids, opts, None, job).await
}

/// [`apply_with`] with the store's Salla API for fetch on demand ([`fetch`]): an order Odoo does not
/// have (shipments, status entries with a partial order) and a partial product event are completed
/// from the API. `None`: the behaviour without the API.
pub async fn apply_with_fetch<M: IdMap>(
    odoo: &odoo::Client,
    ids: &M,
    opts: &StoreOptions,
    fetch: Option<&dyn fetch::SallaFetch>,
    job: &SyncJobV1,
) -> Result<Applied, SyncError> {
    use tracing::Instrument;
    let span = tracing::debug_span!("sync", merchant = %job.merchant, kind = %job.kind, event = %job.event, job = %job.id);
    run(odoo, ids, opts, fetch, job)
        .instrument(span)
        .await
        .map_err(|Fail(e)| e)
}

async fn run<M: IdMap>(
    odoo: &odoo::Client,
    ids: &M,
    opts: &StoreOptions,
    fetch: Option<&dyn fetch::SallaFetch>,
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
    let mut e = Engine::new(odoo, ids, opts, created_at).await?;
    e.fetch = fetch;
    e.refund_event = job.event == "order.refunded";
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
            let mut why_not = None;
            if product_wants_fetch(&job.event, &p, deleted, opts) {
                match e.fetch_product(p.id).await? {
                    None => {}
                    Some(Fetched::Found(raw)) => {
                        let f: Product = parse_fetched("product", p.id, &raw, |f: &Product| f.id)?;
                        // The answer was read after the event happened: it supersedes it (see `fetch`).
                        let fetched_version =
                            source_version(f.updated_at.as_ref(), created_at).max(version);
                        let why = if is_full_product(&p) {
                            "may carry an outdated quantity"
                        } else {
                            "carries only part of it"
                        };
                        let mut note = format!(
                            "{}: product {} applied as Salla has it now (fetched, source version \
                             {fetched_version}: the event {why})",
                            job.event, p.id
                        );
                        if is_quantity_event(&job.event) {
                            note = match (f.unlimited_quantity, f.quantity) {
                                (Some(true), _) => format!("{note}; unlimited quantity"),
                                (_, Some(q)) => format!("{note}; current quantity {q}"),
                                _ => note,
                            };
                        }
                        match product_event(&e, job, &f, &raw, fetched_version, false).await? {
                            Applied::Skipped { reason } if reason.starts_with("stale: ") => {
                                why_not = Some(format!(
                                    "the product fetched from Salla is older than Odoo's ({reason}); the event \
                                     is applied as it came"
                                ));
                            }
                            outcome => return Ok(with_note(outcome, &note)),
                        }
                    }
                    Some(Fetched::NotFound) => {
                        // Deleted since the event; its product.deleted archives it.
                        return Ok(Applied::Skipped {
                            reason: format!(
                                "Salla says product {} does not exist (any more); {} not applied",
                                p.id, job.event
                            ),
                        });
                    }
                    Some(Fetched::Unavailable(reason)) => {
                        why_not = Some(format!(
                            "fetching the whole product from Salla is not possible: {reason}"
                        ));
                    }
                }
            }
            let outcome = product_event(&e, job, &p, data, version, deleted).await?;
            Ok(match why_not {
                Some(w) => with_note(outcome, &w),
                None => outcome,
            })
        }
        JobKind::OrderUpsert => {
            let o: Order = typed(job, data)?;
            let version = order::order_version(&o, created_at);
            let outcome = e.upsert_order(&o, data, version, false).await?;
            e.refund_with_order(&o, data, outcome).await
        }
        JobKind::OrderStatus => order_status(&e, job).await,
        JobKind::OrderDelete => {
            let id = salla_odoo_salla::lenient::id_at(data, "/id")
                .ok_or_else(|| permanent("order.deleted without an order id"))?;
            let Some(so) = e.find_order(id).await? else {
                return Ok(Applied::Skipped {
                    reason: format!("order {id} is not in Odoo"),
                });
            };
            // find_order read the order's state (kept for the job).
            let state = e
                .order_snapshot(so)
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
                let mut t = shipment::order_shipment_tracking(&job.event, &r);
                if !t.cancelled && t.reference.is_none() {
                    // `order.shipment.creating`/`created` as Salla documents them carry the whole
                    // order and no top-level shipping number: read it where the order keeps it.
                    t.reference = shipment::order_body_shipping_number(data);
                }
                if !t.cancelled && t == shipment::Tracking::default() {
                    return Ok(Applied::Skipped {
                        reason: format!(
                            "{}: no shipping number yet; the order's tracking is left as it is",
                            job.event
                        ),
                    });
                }
                let version = source_version(None, created_at);
                e.apply_tracking(r.id, entity::ORDER_SHIPMENT, r.id, &t, version)
                    .await
            } else {
                let s: Shipment = typed(job, data)?;
                if returns::is_return(&s) {
                    // A return's number must not overwrite the outgoing delivery's tracking.
                    return e.return_shipment(&s).await;
                }
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

/// Whether a product event is completed from the Salla API (when the job can fetch): an event without a
/// name (`product.status.updated`, `product.price.updated`, `product.category.updated`, …), and the
/// stock events when Salla is the stock master (their quantity may be outdated; with Odoo as stock master
/// quantities are not applied). Never a deletion.
fn product_wants_fetch(event: &str, p: &Product, deleted: bool, opts: &StoreOptions) -> bool {
    !deleted
        && (!is_full_product(p)
            || (is_quantity_event(event) && opts.stock_master == StockMaster::Salla))
}

/// A product event with a name: it creates the product when Odoo has none.
fn is_full_product(p: &Product) -> bool {
    p.name.as_deref().is_some_and(|n| !n.trim().is_empty())
}

fn is_quantity_event(event: &str) -> bool {
    matches!(event, "product.quantity.low" | "product.available")
}

/// One product event (as it came, or as fetched from Salla) at source version `version`.
async fn product_event<M: IdMap>(
    e: &Engine<'_, M>,
    job: &SyncJobV1,
    p: &Product,
    data: &Value,
    version: i64,
    deleted: bool,
) -> Res<Applied> {
    let (ids, opts) = (e.ids, e.opts);
    // Only a full product (one with a name) creates; small events change existing products only.
    let full = is_full_product(p);
    let create = !deleted && full;
    let mut plans = product::product_plans(p, data, deleted, opts.prices_include_tax);
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
    }
    let product_row = idmap::get_model(ids, opts.merchant, entity::PRODUCT, p.id).await?;
    if !partial_status
        && let Some((_, m)) = &product_row
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
    let mut note = None;
    // The templates layout (crate::template): products Odoo keeps as templates, and new products
    // with options when the store's layout is templates.
    let as_template = product_row
        .as_ref()
        .is_some_and(|(model, _)| model == "product.template");
    let templates = match &product_row {
        Some(_) => as_template,
        None => opts.variants == VariantLayout::Templates,
    };
    let mut applied_as_template = false;
    if templates && full && !partial_status {
        match template::template_plan(p, deleted, opts.prices_include_tax) {
            Ok(Some(mut tp)) => {
                if let Some(active) = newer_status {
                    tp.set_active(active);
                }
                match e.apply_template_plan(&tp, watermark, create).await? {
                    template::TemplateOutcome::Applied { template, note: n } => {
                        main = Some(template);
                        any = true;
                        note = n;
                        applied_as_template = true;
                    }
                    template::TemplateOutcome::Missing => applied_as_template = true,
                    template::TemplateOutcome::Separate(why) => {
                        note = Some(format!(
                            "product {}: its variants stay separate products ({why}); matched by SKU",
                            p.id
                        ));
                    }
                }
            }
            Ok(None) => {}
            Err(why) => {
                note = Some(format!(
                    "product {}: options and SKUs do not line up ({why}); its variants are synced as \
                     separate products",
                    p.id
                ));
            }
        }
    }
    if as_template && !applied_as_template {
        // A template's variants are never written as products of their own (their name and price
        // are the template's): only the product's own values apply.
        plans.truncate(1);
    }
    if !applied_as_template {
        for (i, plan) in plans.iter().enumerate() {
            let id = e.apply_product_plan(plan, watermark, create).await?;
            if i == 0 {
                main = id;
            }
            any |= id.is_some();
        }
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
        note,
    })
}

/// A status job's order (as the event carries it, with its JSON) and status slug.
type StatusEntry<'a> = (Order, &'a Value, Option<String>);

/// A status job (`order.status.updated`, `order.cancelled`, …). Its order body is applied with the status
/// ([`Engine::apply_status`]); when that body is missing or partial ([`mapping::order_is_partial`]) and
/// Odoo does not have the order, the order is fetched from Salla and synced first (see [`fetch`]).
async fn order_status<M: IdMap>(e: &Engine<'_, M>, job: &SyncJobV1) -> Res<Applied> {
    let data = &job.data;
    let created_at = e.created_at;
    // `order.status.updated` nests the order; without it, only an `order_id` can name it.
    let bodiless_id = (job.event == "order.status.updated"
        && !data.get("order").is_some_and(Value::is_object))
    .then(|| salla_odoo_salla::lenient::id_at(data, "/order_id"))
    .flatten();
    let (order_id, event): (u64, Option<StatusEntry<'_>>) = match bodiless_id {
        Some(id) => (id, None),
        None if job.event == "order.status.updated" => {
            let upd: OrderStatusUpdate = typed(job, data)?;
            let slug = upd.slug().map(str::to_owned);
            let raw = data.get("order").unwrap_or(&Value::Null);
            (upd.order.id, Some((upd.order, raw, slug)))
        }
        None => {
            let o: Order = typed(job, data)?;
            let slug = status::status_slug(&job.event, &o);
            (o.id, Some((o, data, slug)))
        }
    };
    let version = event.as_ref().map_or_else(
        || source_version(None, created_at),
        |(o, _, _)| order::order_version(o, created_at),
    );
    let partial = event
        .as_ref()
        .is_none_or(|(o, _, _)| status::order_is_partial(o));
    let mut why_not = None;
    if partial && e.fetch.is_some() && e.find_order(order_id).await?.is_none() {
        match e.fetch_order(order_id).await? {
            None => {}
            Some(Fetched::NotFound) => {
                return Err(permanent(format!(
                    "Salla says order {order_id} does not exist (GET /orders/{order_id} answered 404)"
                )));
            }
            Some(Fetched::Unavailable(reason)) => {
                why_not = Some(format!(
                    "the status entry's order is missing or partial and fetching it from Salla is not \
                     possible: {reason}"
                ));
            }
            Some(Fetched::Found(raw)) => {
                let f: Order = parse_fetched("order", order_id, &raw, |o: &Order| o.id)?;
                let fetched_version = order::order_version(&f, created_at);
                let note = format!(
                    "order {order_id} was not in Odoo and the status entry's order is missing or partial: \
                     fetched from Salla (source version {fetched_version})"
                );
                let outcome = match &event {
                    // The API's order is at least as new as the entry: its state, status included, is the
                    // current one and supersedes the entry's.
                    Some((o, raw_o, slug)) if fetched_version < version => {
                        // The entry is newer: the order at its own version first, then the entry's status.
                        match e.upsert_order(&f, &raw, fetched_version, false).await? {
                            skipped @ Applied::Skipped { .. } => skipped,
                            Applied::Applied { .. } => {
                                e.apply_status(o, raw_o, slug.as_deref(), version).await?
                            }
                        }
                    }
                    _ => {
                        let slug = status::status_slug(&job.event, &f)
                            .or_else(|| event.as_ref().and_then(|(_, _, s)| s.clone()));
                        e.sync_order_state(&f, &raw, fetched_version, slug.as_deref())
                            .await?
                    }
                };
                return Ok(with_note(outcome, &note));
            }
        }
    }
    let Some((order, raw, slug)) = event else {
        let why = why_not.map(|w| format!("; {w}")).unwrap_or_default();
        return Err(permanent(format!(
            "{} carries no order body for order {order_id}{why}",
            job.event
        )));
    };
    match (
        e.apply_status(&order, raw, slug.as_deref(), version).await,
        why_not,
    ) {
        (Ok(outcome), Some(w)) => Ok(with_note(outcome, &w)),
        (Err(err), Some(w)) => Err(with_reason(err, &w)),
        (result, None) => result,
    }
}
