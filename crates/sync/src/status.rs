//! Order status → Odoo steps, through the store's status map (slug → [`OrderStep`]).
//!
//! Each step acts on Odoo's current state, read first: the order is read once per job (by the sync of
//! the nested order, with its state, deliveries and invoices: [`Engine::order_snapshot`]) and handed
//! to the recipes' `_in` forms, and what a step changes is read back with what the next step needs.
//! So applying a status twice changes nothing: confirm only a draft, validate only an open delivery, invoice only an order without
//! invoice, post only a draft invoice, cancel with `disable_cancel_warning`. The order inside the status
//! entry is applied first: it creates the order Odoo does not have yet, and brings a quotation up to date
//! (an `order.updated` older than the status entry is skipped as stale when it arrives later).
//!
//! Fulfilment (Odoo → Salla, `crates/worker/src/fulfilment.rs`) keeps one id-map row per order under
//! [`FULFILMENT`]: its `source_version` is [`fulfilment_code`] of the status the connector set in
//! Salla (0: none). A status entry with that very status is Salla's echo of the connector's own
//! change: it is recognised (the order's source version moves) and changes nothing more in Odoo. A
//! delivery this module validates is recorded there too (version 0), so it is never reported back.

use salla_odoo_core::OrderStep;
use salla_odoo_salla::payload::Order;
use serde_json::Value;

use crate::Applied;
use crate::engine::Engine;
use crate::error::{Res, transient};
use crate::idmap::{self, IdMap, entity};
use crate::version::stale_reason;

/// The slug a status-carrying event means: the order's `status.slug`, else what the event name implies.
pub fn status_slug(event: &str, order: &Order) -> Option<String> {
    let from_order = order
        .status
        .as_ref()
        .and_then(|s| s.slug.as_deref())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    from_order.or_else(|| match event {
        "order.cancelled" => Some("canceled".into()),
        "order.refunded" => Some("restored".into()),
        _ => None,
    })
}

/// Whether an order body carries too little to create or rewrite the quotation: no items, an item
/// without amounts, no order amounts (the shipping and cash-on-delivery lines) or no customer. Such a
/// body (a status entry's nested order, typically) only creates an order Odoo does not have (after
/// fetching the whole order from Salla when it can) and never rewrites an existing one.
pub fn order_is_partial(order: &Order) -> bool {
    order.items.is_empty()
        || order.items.iter().any(|i| i.amounts.is_none())
        || order.amounts.is_none()
        || order.customer.is_none()
}

/// The id-map entity of the fulfilment report (see the module docs); the worker's
/// `fulfilment::ENTITY` is the same name.
const FULFILMENT: &str = "order_fulfilment";

/// The `source_version` under [`FULFILMENT`] that names the status `slug` the connector set in Salla:
/// FNV-1a of the slug, in `1..=2^62` (the worker's `fulfilment::slug_code` is the same function).
fn fulfilment_code(slug: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in slug.trim().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h >> 2) as i64 + 1
}

/// What a step did, for the outcome's note.
fn done_note(slug: &str, step: OrderStep, did: &[String]) -> String {
    if did.is_empty() {
        format!("status {slug} → {step}: already in that state")
    } else {
        format!("status {slug} → {step}: {}", did.join(", "))
    }
}

impl<M: IdMap> Engine<'_, M> {
    /// Applies a status to an order. `raw_order` is the order's JSON.
    pub async fn apply_status(
        &self,
        order: &Order,
        raw_order: &Value,
        slug: Option<&str>,
        version: i64,
    ) -> Res<Applied> {
        let merchant = self.merchant();
        if let Some(m) = idmap::get(self.ids, merchant, entity::ORDER, order.id).await?
            && let Some(reason) = stale_reason(entity::ORDER, order.id, m.source_version, version)
        {
            return Ok(Applied::Skipped { reason });
        }
        // A refund: `order.refunded`, a status mapped to `refund`, or an amount Salla refunded.
        let mapped = slug.and_then(|s| self.opts.status_map.step(s));
        let refund = (self.refund_event
            || mapped == Some(OrderStep::Refund)
            || crate::payments::refunded_amount(raw_order).is_some())
        .then(|| crate::payments::refund_amount(order, raw_order));
        let Some(slug) = slug.or(refund.map(|_| "-")) else {
            return Ok(Applied::Skipped {
                reason: format!("order {} carries no status slug", order.id),
            });
        };
        // `order.refunded` is a refund even where its status is mapped to cancel (an order never
        // invoiced is cancelled by the refund anyway).
        let mapped = match mapped {
            Some(OrderStep::Cancel) if self.refund_event => Some(OrderStep::Refund),
            other => other,
        };
        let Some(step) = mapped.or(refund.map(|_| OrderStep::Refund)) else {
            return Ok(Applied::Skipped {
                reason: format!(
                    "status {slug:?} is not in the store's status map; nothing to do in Odoo"
                ),
            });
        };
        // Salla's echo of the status the connector itself set from Odoo's validated delivery.
        if let Some(f) = idmap::get(self.ids, merchant, FULFILMENT, order.id).await?
            && f.source_version == fulfilment_code(slug)
        {
            if let Some(m) = idmap::get(self.ids, merchant, entity::ORDER, order.id).await? {
                idmap::put(
                    self.ids,
                    merchant,
                    entity::ORDER,
                    order.id,
                    "sale.order",
                    m.odoo_id,
                    version,
                )
                .await?;
            }
            return Ok(Applied::Skipped {
                reason: format!(
                    "status {slug} was set in Salla by the connector from Odoo's validated delivery \
                     (stock.picking {}); nothing more to do",
                    f.odoo_id
                ),
            });
        }
        // The order first, from the nested payload: created when Odoo does not have it yet, else
        // brought to it (a status entry carries the whole order as it is now, and its version makes
        // an older order.updated still on its way stale, so that change would otherwise never reach
        // Odoo). A partial nested order ([`order_is_partial`]) only creates.
        if let Applied::Skipped { reason } = self
            .upsert_order(order, raw_order, version, order_is_partial(order))
            .await?
        {
            return Ok(Applied::Skipped { reason });
        }
        // The order as the sync above read or wrote it: one read of it serves every step below.
        let so = match self.kept_order_id() {
            Some(id) => id,
            None => self.find_order(order.id).await?.ok_or_else(|| {
                transient(format!(
                    "order {} was just synced but is not found in Odoo",
                    order.id
                ))
            })?,
        };
        let snap = self.order_snapshot(so).await?.ok_or_else(|| {
            transient(format!(
                "sale.order {so} of order {} was just synced but is not found in Odoo",
                order.id
            ))
        })?;
        let state = snap
            .get("state")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let ids_of =
            |rec: &odoo::Record, f: &str| odoo::x2many_ids(rec.get(f).unwrap_or(&Value::Null));
        let mut did = Vec::new();
        let mut report = crate::payments::Report::default();
        if state == "cancel" && step != OrderStep::Cancel {
            idmap::put(
                self.ids,
                merchant,
                entity::ORDER,
                order.id,
                "sale.order",
                so,
                version,
            )
            .await?;
            return Ok(Applied::Skipped {
                reason: format!("order is cancelled in Odoo; status {slug} ({step}) not applied"),
            });
        }
        match step {
            OrderStep::Quotation => {}
            OrderStep::Cancel => {
                if let Some(why) = self
                    .cancel_blocker_of(&ids_of(&snap, "invoice_ids"), &ids_of(&snap, "picking_ids"))
                    .await?
                {
                    idmap::put(
                        self.ids,
                        merchant,
                        entity::ORDER,
                        order.id,
                        "sale.order",
                        so,
                        version,
                    )
                    .await?;
                    return Ok(Applied::Skipped {
                        reason: format!(
                            "order was cancelled in Salla but has {why} in Odoo; cancellation recorded, not \
                             applied (a credit note or a return is an accounting decision)"
                        ),
                    });
                }
                self.forget_order();
                if self.odoo.cancel_sale_order_in(so, &snap).await? == odoo::Step::Done {
                    did.push("cancelled".to_owned());
                }
            }
            OrderStep::Confirm | OrderStep::Deliver | OrderStep::Complete => {
                let mut snap = snap;
                let (confirmed, after) = self
                    .odoo
                    .confirm_sale_order_in(so, &state, &["invoice_ids"])
                    .await?;
                if confirmed == odoo::Step::Done {
                    did.push("confirmed".to_owned());
                }
                if let Some(after) = after {
                    // Confirming made deliveries the kept order does not name: drop its
                    // `picking_ids` (the deliveries are found by their moves below).
                    snap.remove("picking_ids");
                    snap.extend(after);
                    self.forget_order();
                    self.keep_order(so, snap.clone());
                }
                if step >= OrderStep::Deliver {
                    let mut validated = None;
                    for (picking, s) in self.odoo.validate_order_deliveries(so).await? {
                        self.touch("stock.picking", picking);
                        if s == odoo::Step::Done {
                            did.push(format!("delivery {picking} validated"));
                            validated = Some(picking);
                        }
                    }
                    // Validated because Salla said so: never reported back to Salla.
                    if let Some(picking) = validated {
                        idmap::put(
                            self.ids,
                            merchant,
                            FULFILMENT,
                            order.id,
                            "stock.picking",
                            picking,
                            0,
                        )
                        .await?;
                    }
                }
                if step == OrderStep::Complete {
                    let state = snap
                        .get("state")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned();
                    let invoicing = self
                        .odoo
                        .invoice_sale_order_in(so, &state, &ids_of(&snap, "invoice_ids"))
                        .await?;
                    if invoicing.created {
                        did.push("invoiced".to_owned());
                        // Made now: drafts, the order's only live invoices.
                        self.keep_order(
                            so,
                            [(
                                "invoice_ids".to_owned(),
                                serde_json::json!(invoicing.invoice_ids),
                            )]
                            .into_iter()
                            .collect(),
                        );
                    }
                    for inv in &invoicing.invoice_ids {
                        self.touch("account.move", *inv);
                        let posted = if invoicing.created {
                            self.odoo.post_invoice_in(*inv, "draft").await?
                        } else {
                            self.odoo.post_invoice(*inv).await?
                        };
                        if posted == odoo::Step::Done {
                            did.push(format!("invoice {inv} posted"));
                        }
                    }
                    // Delivered/completed: an online order paid in Salla, or cash collected on
                    // delivery, is paid in Odoo too.
                    self.register_order_payment(order, so, Some(slug), &mut report)
                        .await?;
                }
            }
            OrderStep::Refund => {}
        }
        // The refund, after the status's own step (a partial refund of a completed order).
        if let Some(amount) = refund
            && step != OrderStep::Cancel
        {
            if self.opts.refund_credit_notes {
                self.refund_order(order, so, amount, &mut report).await?;
            } else {
                report.note(crate::payments::REFUNDS_OFF.into());
            }
        }
        did.extend(report.did);
        let mut note = done_note(slug, step, &did);
        if !report.notes.is_empty() {
            note = format!("{note}; {}", report.notes.join("; "));
        }
        idmap::put(
            self.ids,
            merchant,
            entity::ORDER,
            order.id,
            "sale.order",
            so,
            version,
        )
        .await?;
        self.touch("sale.order", so);
        Ok(Applied::Applied {
            odoo_ids: self.touched(),
            note: Some(note),
        })
    }
}

impl<M: IdMap> Engine<'_, M> {
    /// What keeps an order from being cancelled by the connector: a posted invoice or a done delivery.
    pub(crate) async fn cancel_blocker(&self, so: odoo::Id) -> Res<Option<String>> {
        let order = self
            .read("sale.order", so, &["invoice_ids", "picking_ids"])
            .await?
            .unwrap_or_default();
        let ids = |f: &str| odoo::x2many_ids(order.get(f).unwrap_or(&Value::Null));
        self.cancel_blocker_of(&ids("invoice_ids"), &ids("picking_ids"))
            .await
    }

    /// [`Engine::cancel_blocker`] for an order whose invoices and deliveries are known.
    pub(crate) async fn cancel_blocker_of(
        &self,
        invoice_ids: &[odoo::Id],
        picking_ids: &[odoo::Id],
    ) -> Res<Option<String>> {
        let state_is = |recs: &[odoo::Record], s: &str| {
            recs.iter()
                .any(|r| r.get("state").and_then(Value::as_str) == Some(s))
        };
        let invoices: Vec<odoo::Record> = self
            .odoo
            .read("account.move", invoice_ids, &["state"])
            .await?;
        if state_is(&invoices, "posted") {
            return Ok(Some("a posted invoice".into()));
        }
        let pickings: Vec<odoo::Record> = self
            .odoo
            .read("stock.picking", picking_ids, &["state"])
            .await?;
        if state_is(&pickings, "done") {
            return Ok(Some("a done delivery".into()));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use salla_odoo_core::StatusMap;
    use serde_json::json;

    fn order(v: Value) -> Order {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn slugs_come_from_the_order_or_the_event() {
        let o = order(json!({"id": 1, "status": {"slug": "completed", "name": "تم التنفيذ"}}));
        assert_eq!(
            status_slug("order.status.updated", &o).as_deref(),
            Some("completed")
        );
        let bare = order(json!({"id": 1}));
        assert_eq!(
            status_slug("order.cancelled", &bare).as_deref(),
            Some("canceled")
        );
        assert_eq!(
            status_slug("order.refunded", &bare).as_deref(),
            Some("restored")
        );
        assert_eq!(status_slug("order.payment.updated", &bare), None);
    }

    #[test]
    fn partial_orders_lack_items_amounts_or_customer() {
        let item = json!({"id": 1, "sku": "A", "quantity": 1,
                          "amounts": {"price_without_tax": {"amount": 10}}});
        let full = json!({"id": 1, "customer": {"id": 2}, "amounts": {"total": {"amount": 10}},
                          "items": [item]});
        assert!(!order_is_partial(&order(full.clone())));
        for (field, value) in [
            ("items", json!([])),
            ("items", json!([{"id": 1, "sku": "A", "quantity": 1}])),
            ("amounts", Value::Null),
            ("customer", Value::Null),
        ] {
            let mut o = full.clone();
            o[field] = value.clone();
            assert!(order_is_partial(&order(o)), "{field}: {value}");
        }
        assert!(order_is_partial(&order(json!({"id": 1}))));
    }

    #[test]
    fn default_map_gives_the_documented_steps() {
        let m = StatusMap::default();
        let step = |s: &str| m.step(s);
        assert_eq!(step("payment_pending"), Some(OrderStep::Quotation));
        assert_eq!(step("under_review"), Some(OrderStep::Quotation));
        assert_eq!(step("in_progress"), Some(OrderStep::Confirm));
        assert_eq!(step("shipped"), Some(OrderStep::Confirm));
        assert_eq!(step("delivered"), Some(OrderStep::Complete));
        assert_eq!(step("completed"), Some(OrderStep::Complete));
        assert_eq!(step("canceled"), Some(OrderStep::Cancel));
        assert_eq!(step("restored"), None);
        assert!(
            OrderStep::Complete >= OrderStep::Deliver && OrderStep::Confirm < OrderStep::Deliver
        );
    }

    #[test]
    fn fulfilment_codes_are_stable_and_positive() {
        // Pinned: the worker's fulfilment::slug_code must give the same numbers.
        assert_eq!(fulfilment_code("delivered"), 2_670_143_688_065_248_900);
        assert_eq!(fulfilment_code(" delivered "), fulfilment_code("delivered"));
        assert_ne!(fulfilment_code("delivered"), fulfilment_code("completed"));
        assert!(fulfilment_code("") > 0);
    }

    #[test]
    fn notes_say_what_happened() {
        assert_eq!(
            done_note("completed", OrderStep::Complete, &[]),
            "status completed → complete: already in that state"
        );
        assert_eq!(
            done_note("in_progress", OrderStep::Confirm, &["confirmed".into()]),
            "status in_progress → confirm: confirmed"
        );
    }
}
