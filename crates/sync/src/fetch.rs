//! Fetch on demand: what a webhook does not carry is read from the store's Salla Merchant API.
//!
//! An event that names an order Odoo has never seen (a shipment, a status entry whose order
//! webhook was lost) or a partial product event (`product.status.updated`, …) asks the
//! [`SallaFetch`] of the job for the whole object, then runs the same handlers with it as if a
//! webhook had carried it: the same id map, the same watermarks (the API's `updated_at` is the
//! source version). Fetching is an optimisation of correctness, never a second path.
//!
//! The worker implements [`SallaFetch`] with the store's tokens (refreshed under a fleet-wide lock),
//! its fleet-wide API budget and the Merchant API client; without usable tokens it answers
//! [`Fetched::Unavailable`] and the handler keeps the behaviour it has without the API (and says so
//! in the sync log). Without any [`SallaFetch`] (`None`) the handlers behave exactly as they did
//! before fetch on demand, and say nothing about it.
//!
//! # When the handlers fetch
//!
//! - **Orders** (`GET /orders/{id}`), only when the order is not in Odoo (id map, then marker):
//!   a shipment (`shipment.*`, `order.shipment.*`), or a status entry whose order body is missing or
//!   partial (see [`crate::mapping::order_is_partial`]). A full `order.created` / `order.updated`, or a
//!   status entry carrying its whole order, never fetches.
//! - **Products** (`GET /products/{id}`): an event without a name (`product.status.updated`,
//!   `product.price.updated`, `product.category.updated`, …), and `product.quantity.low` /
//!   `product.available` when Salla is the store's stock master (the quantity they carry may
//!   already be outdated; with Odoo as stock master quantities are not applied, so a full
//!   `quantity.low` does not fetch). `product.deleted` never fetches.
//!
//! # Watermarks of fetched objects (invariant 4)
//!
//! - A fetched **order** has the source version of its `updated_at` (like a webhook's order; the
//!   job's envelope time when the answer has none) and goes through the same stale checks: an answer
//!   older than what the id map holds is skipped as stale and overwrites nothing. For a status entry
//!   with a partial order, the answer supersedes the entry when it is at least as new (its status is
//!   the current one); when the entry is newer, the fetched order is created at its own version and
//!   then the entry's status is applied at the entry's version.
//! - A fetched **product** supersedes the partial event that asked for it: the answer was read after
//!   the event happened, so it already contains the event's change (Salla may not move `updated_at`
//!   for every change, e.g. a status). Its source version is its `updated_at`, raised to the partial
//!   event's own version when that is newer; it is then applied as a full product event (the
//!   product watermark and the status watermark both move to it). When even that is older than the
//!   product's watermark, the answer is dropped and the partial event is applied as it came.

use std::future::Future;
use std::pin::Pin;

use salla_odoo_core::{MerchantId, OrderStep, SyncError};
use salla_odoo_salla::payload::Order;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::Applied;
use crate::engine::Engine;
use crate::error::{Res, permanent};
use crate::idmap::IdMap;

/// A boxed future of a [`SallaFetch`] call.
pub type FetchFuture<'a> = Pin<Box<dyn Future<Output = Result<Fetched, SyncError>> + Send + 'a>>;

/// What a fetch found.
#[derive(Debug, Clone, PartialEq)]
pub enum Fetched {
    /// The object's JSON, in the shape a webhook's `data` has for it (an order with its `items`,
    /// a product with its `skus`).
    Found(Value),
    /// Salla answered 404: the object does not exist (any more).
    NotFound,
    /// The API cannot be used for this store now (no tokens, needs reinstall, no client
    /// configured): the reason, for the sync log.
    Unavailable(String),
}

/// The store's Salla Merchant API, as the handlers see it. Errors are already classified (a 5xx
/// [`SyncError::Transient`], a spent API budget or a 429 [`SyncError::Throttled`] or transient, with
/// the server's `Retry-After`; a refused request permanent); the handlers propagate them as they are.
/// A 404 is not an error but [`Fetched::NotFound`].
pub trait SallaFetch: Send + Sync {
    /// `GET /orders/{id}`: the order with its items.
    fn order(&self, merchant: MerchantId, order_id: u64) -> FetchFuture<'_>;
    /// `GET /products/{id}`: the product with its variants.
    fn product(&self, merchant: MerchantId, product_id: u64) -> FetchFuture<'_>;
}

/// What became of an order Odoo does not have, once Salla was asked for it.
pub(crate) enum OrderFromSalla {
    /// No [`SallaFetch`]: the behaviour without the API.
    NoFetcher,
    /// Fetched and run through the order handlers: what they answered, and a note for the outcome.
    Synced { outcome: Applied, note: String },
    /// The API cannot be used now: the reason.
    Unavailable(String),
}

/// A fetched object, read with the webhook payload types; its id must be the one asked for.
pub(crate) fn parse_fetched<T: DeserializeOwned>(
    what: &str,
    id: u64,
    raw: &Value,
    id_of: impl Fn(&T) -> u64,
) -> Res<T> {
    let v = T::deserialize(raw).map_err(|e| {
        permanent(format!(
            "the Salla API answered an unreadable {what} {id}: {e}"
        ))
    })?;
    let got = id_of(&v);
    if got != id {
        return Err(permanent(format!(
            "the Salla API answered {what} {got} when asked for {what} {id}"
        )));
    }
    Ok(v)
}

/// `outcome` with `extra` added to its note (applied) or reason (skipped).
pub(crate) fn with_note(outcome: Applied, extra: &str) -> Applied {
    let join = |a: Option<String>| match a {
        Some(a) if !a.is_empty() => format!("{a}; {extra}"),
        _ => extra.to_owned(),
    };
    match outcome {
        Applied::Applied { odoo_ids, note } => Applied::Applied {
            odoo_ids,
            note: Some(join(note)),
        },
        Applied::Skipped { reason } => Applied::Skipped {
            reason: join(Some(reason)),
        },
    }
}

/// `err` with `extra` added to its message.
pub(crate) fn with_reason(err: crate::error::Fail, extra: &str) -> crate::error::Fail {
    crate::error::Fail(match err.0 {
        SyncError::Transient {
            message,
            retry_after,
        } => SyncError::Transient {
            message: format!("{message}; {extra}"),
            retry_after,
        },
        SyncError::Permanent { message } => SyncError::Permanent {
            message: format!("{message}; {extra}"),
        },
        SyncError::Throttled {
            message,
            retry_after,
        } => SyncError::Throttled {
            message: format!("{message}; {extra}"),
            retry_after,
        },
    })
}

impl<M: IdMap> Engine<'_, M> {
    /// `GET /orders/{id}`; `None` without a [`SallaFetch`]. Fetcher errors propagate as they are.
    pub async fn fetch_order(&self, order_id: u64) -> Res<Option<Fetched>> {
        let Some(f) = self.fetch else {
            return Ok(None);
        };
        tracing::debug!(order_id, "fetching the order from Salla");
        Ok(Some(f.order(self.merchant(), order_id).await?))
    }

    /// `GET /products/{id}`; `None` without a [`SallaFetch`]. Fetcher errors propagate as they are.
    pub async fn fetch_product(&self, product_id: u64) -> Res<Option<Fetched>> {
        let Some(f) = self.fetch else {
            return Ok(None);
        };
        tracing::debug!(product_id, "fetching the product from Salla");
        Ok(Some(f.product(self.merchant(), product_id).await?))
    }

    /// An order as Salla has it now, run through the same handlers as a webhook's: its status when the
    /// store's status map has a step for it or the order is refunded ([`Engine::apply_status`], which
    /// syncs the order first), else the order alone ([`Engine::upsert_order`]). Both check the id
    /// map's watermark.
    pub async fn sync_order_state(
        &self,
        order: &Order,
        raw: &Value,
        version: i64,
        slug: Option<&str>,
    ) -> Res<Applied> {
        let step: Option<OrderStep> = slug.and_then(|s| self.opts.status_map.step(s));
        // A refund (the job is order.refunded, or the order names an amount refunded) is a status.
        let refund = self.refund_event || crate::payments::refunded_amount(raw).is_some();
        match step {
            Some(_) => self.apply_status(order, raw, slug, version).await,
            None if refund => self.apply_status(order, raw, slug, version).await,
            None => self.upsert_order(order, raw, version, false).await,
        }
    }

    /// The order `order_id` is not in Odoo: fetch it and sync it with its current status
    /// ([`Engine::sync_order_state`]) at the source version of its `updated_at`. Salla's 404 is a
    /// permanent error naming the order.
    pub(crate) async fn order_from_salla(&self, order_id: u64) -> Res<OrderFromSalla> {
        let raw = match self.fetch_order(order_id).await? {
            None => return Ok(OrderFromSalla::NoFetcher),
            Some(Fetched::Unavailable(reason)) => return Ok(OrderFromSalla::Unavailable(reason)),
            Some(Fetched::NotFound) => {
                return Err(permanent(format!(
                    "Salla says order {order_id} does not exist (GET /orders/{order_id} answered 404)"
                )));
            }
            Some(Fetched::Found(raw)) => raw,
        };
        let order: Order = parse_fetched("order", order_id, &raw, |o: &Order| o.id)?;
        let version = crate::order::order_version(&order, self.created_at);
        let slug = crate::status::status_slug("", &order);
        let outcome = self
            .sync_order_state(&order, &raw, version, slug.as_deref())
            .await?;
        let note = format!(
            "order {order_id} was not in Odoo: fetched from Salla (source version {version}) and synced"
        );
        Ok(OrderFromSalla::Synced { outcome, note })
    }
}
