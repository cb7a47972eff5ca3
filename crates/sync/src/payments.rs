//! Payments and refunds: a Salla order's payment registered against its posted invoice, and a
//! refund as a credit note reversing it (with its refund payment), the way Odoo does them by hand
//! (`account.payment.register`, `account.move.reversal`; the recorded Odoo 18 accounting
//! transcript, Parts P and R).
//!
//! # When
//! - **Payment** ([`Engine::register_order_payment`]), after the `complete` step has posted the
//!   invoice. An online order (any payment method but `cod`) is paid when Salla says so
//!   ([`order_payment`]); a cash-on-delivery order is paid when it is delivered/completed, which is
//!   what `complete` means. The journal is the store's for the payment method
//!   ([`StoreOptions::payment_journal`]); without one the step is skipped and the outcome's note
//!   says why.
//! - **Refund** ([`Engine::refund_order`]): `order.refunded`, a status mapped to `refund`, or an
//!   amount refunded in the order ([`refunded_amount`]). Full, or for the refunded amount when it is
//!   less than the order's total. An order never invoiced is cancelled instead (a partial refund of
//!   one changes nothing).
//!
//! # Never twice
//! - A payment carries the memo `salla:<merchant>:<order>` (the order's marker, as in its
//!   `client_order_ref`), and a payment with that memo is looked up before one is registered
//!   ([`odoo::Client::register_payment`]); so a registration whose answer was lost (committed or
//!   not) is looked up on the retry, never repeated. A paid invoice is not paid again either.
//! - A credit note's reason is `salla:<merchant>:<order> refund`, so its `ref` carries the marker:
//!   a draft one left by a crash is found and finished, not made again; what is left to refund is
//!   the target less the posted credit notes of the invoice (any, also made by hand), so a refund
//!   applied twice credits nothing more. A partial refund's rounding line (the cents Odoo's per-line
//!   tax rounding leaves, [`CREDIT_ROUNDING_LABEL`]) is found on the draft by its label, so a
//!   retry never adds a second one.
//! - A refund payment carries the memo `salla:<merchant>:<order> refund <credit note id>`.
//!
//! Each Odoo call is its own transaction. When the connector's Odoo user has no email address,
//! Odoo refuses a payment that fully pays an invoice of a sale order (and a credit note's refund
//! payment, and posting a credit note that reconciles one to paid) and rolls the call back: the job
//! fails permanently with that message (see [`crate::classify_odoo`]).

use odoo::{Id, PaymentRequest, Record, Step, x2many_ids};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use salla_odoo_salla::payload::Order;
use serde_json::Value;

use crate::engine::{Engine, marker};
use crate::error::Res;
use crate::idmap::{self, IdMap, entity};

/// What a payment or refund step did (actions, in the order they ran) and what it noted (why
/// something was not done, or was done already), for the outcome's note.
#[derive(Debug, Default)]
pub struct Report {
    pub did: Vec<String>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn done(&mut self, s: String) {
        self.did.push(s);
    }

    pub fn note(&mut self, s: String) {
        self.notes.push(s);
    }
}

/// The note of a refund on a store whose credit notes are off.
pub(crate) const REFUNDS_OFF: &str = "refund recorded, not applied: credit notes are off for this \
     store (salla-odoo store update --refund-credit-notes on)";

/// The Salla payment method slug of cash on delivery.
pub const COD: &str = "cod";

/// Statuses in which Salla has not (or not yet) got the money of an online order.
/// `payment_pending`: awaiting payment; `payment_failed`; `waiting_for_payment_confirmation`:
/// the customer says they paid (a bank transfer), the merchant has not confirmed it; `canceled`.
/// Every other status of an online order comes after its payment (salla-platform.md §9.1).
pub const UNPAID_STATUSES: &[&str] = &[
    "payment_pending",
    "payment_failed",
    "waiting_for_payment_confirmation",
    "canceled",
];

/// What Salla says of an order's payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderPayment {
    /// Paid online (card, mada, Apple Pay, a confirmed bank transfer, …) by this method.
    Paid(String),
    /// Cash on delivery: paid when the order is delivered.
    CashOnDelivery,
    /// Not paid (yet), with the reason.
    Unpaid(String),
    /// The order names no payment method.
    Unknown,
}

/// The order's payment method slug, trimmed and lower-cased (`mada`, `credit_card`, `cod`, …).
pub fn payment_method(order: &Order) -> Option<String> {
    order
        .payment_method
        .as_deref()
        .map(|m| m.trim().to_ascii_lowercase())
        .filter(|m| !m.is_empty())
}

/// Whether an order is paid, from its payment method, its status `slug` and `is_pending_payment`:
/// cash on delivery is [`OrderPayment::CashOnDelivery`]; an online order is paid unless Salla
/// still waits for the money (`is_pending_payment`, the pseudo-method `waiting` of a bank transfer
/// under review, or a status in [`UNPAID_STATUSES`]).
pub fn order_payment(order: &Order, slug: Option<&str>) -> OrderPayment {
    let Some(method) = payment_method(order) else {
        return OrderPayment::Unknown;
    };
    if method == COD {
        return OrderPayment::CashOnDelivery;
    }
    if method == "waiting" {
        return OrderPayment::Unpaid(
            "Salla still waits for the payment (payment method \"waiting\": a bank transfer not \
             confirmed yet)"
                .into(),
        );
    }
    if order.is_pending_payment == Some(true) {
        return OrderPayment::Unpaid(format!(
            "Salla still waits for the payment (is_pending_payment; payment method {method})"
        ));
    }
    if let Some(s) = slug.map(str::trim)
        && UNPAID_STATUSES.contains(&s)
    {
        return OrderPayment::Unpaid(format!("status {s} is not paid (payment method {method})"));
    }
    OrderPayment::Paid(method)
}

/// How much a refund credits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundAmount {
    /// The whole invoice.
    Full,
    /// This much (taxes included, in the order's currency), less than the order's total.
    Partial(Decimal),
}

/// Where an amount refunded may sit in an order body. Salla's documented order model has no such
/// field (unconfirmed): these are read when present, the first one found wins.
const REFUNDED_AT: &[&str] = &[
    "/amounts/refunded",
    "/amounts/refund",
    "/amounts/refunded_amount",
    "/amounts/refund_amount",
    "/refunded_amount",
    "/refund_amount",
];

/// An amount as Salla writes money: a number, a string, or `{amount, currency}`.
fn amount_of(v: &Value) -> Option<Decimal> {
    match v {
        Value::Number(n) => n.to_string().parse().ok(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Object(o) => o.get("amount").and_then(amount_of),
        _ => None,
    }
}

/// The amount Salla says was refunded of an order (`None`: nothing, or not said).
pub fn refunded_amount(raw: &Value) -> Option<Decimal> {
    REFUNDED_AT
        .iter()
        .find_map(|p| raw.pointer(p).and_then(amount_of))
        .filter(|a| *a > Decimal::ZERO)
}

/// What a refund credits: [`RefundAmount::Partial`] when Salla names an amount below the
/// order's total (or names one and no total), else [`RefundAmount::Full`].
pub fn refund_amount(order: &Order, raw: &Value) -> RefundAmount {
    let total = order
        .amounts
        .as_ref()
        .and_then(|a| a.total.as_ref())
        .map(|m| m.amount);
    match (refunded_amount(raw), total) {
        (Some(r), Some(t)) if r < t => RefundAmount::Partial(r),
        (Some(_), Some(_)) | (None, _) => RefundAmount::Full,
        (Some(r), None) => RefundAmount::Partial(r),
    }
}

fn f64_of(rec: &Record, field: &str) -> f64 {
    rec.get(field).and_then(Value::as_f64).unwrap_or_default()
}

fn text<'a>(rec: &'a Record, field: &str) -> &'a str {
    rec.get(field).and_then(Value::as_str).unwrap_or_default()
}

fn id_of(rec: &Record) -> Option<Id> {
    rec.get("id").and_then(Value::as_i64)
}

fn settled(payment_state: &str) -> bool {
    matches!(payment_state, "paid" | "in_payment" | "reversed")
}

/// The label of a credit note's rounding line, by which a retry knows the draft holds one (the
/// order's rounding line, copied from the invoice by the reversal, is labelled otherwise).
pub const CREDIT_ROUNDING_LABEL: &str = "Rounding to Salla's refund";

fn money(x: f64) -> String {
    format!("{x:.2}")
}

/// The memo of an order's payment: the order's marker.
pub fn payment_memo(merchant: salla_odoo_core::MerchantId, order_id: u64) -> String {
    marker(merchant, order_id)
}

/// The reason of an order's credit notes (in their `ref`: "Reversal of: <invoice>, <reason>").
pub fn refund_reason(merchant: salla_odoo_core::MerchantId, order_id: u64) -> String {
    format!("{} refund", marker(merchant, order_id))
}

impl<M: IdMap> Engine<'_, M> {
    /// The order's posted customer invoices, oldest first, with their totals and payment state.
    /// The order's invoices as this job read or made them (status steps) are not read again.
    pub async fn posted_invoices(&self, so: Id) -> Res<Vec<Record>> {
        let order = match self
            .cached_order(so)
            .filter(|o| o.contains_key("invoice_ids"))
        {
            Some(o) => o,
            None => self
                .read("sale.order", so, &["invoice_ids"])
                .await?
                .unwrap_or_default(),
        };
        let ids = x2many_ids(order.get("invoice_ids").unwrap_or(&Value::Null));
        let mut moves: Vec<Record> = self
            .odoo
            .read(
                "account.move",
                &ids,
                &[
                    "name",
                    "state",
                    "move_type",
                    "amount_total",
                    "amount_residual",
                    "payment_state",
                ],
            )
            .await?;
        moves.retain(|m| text(m, "state") == "posted" && text(m, "move_type") == "out_invoice");
        moves.sort_by_key(|m| id_of(m).unwrap_or_default());
        Ok(moves)
    }

    /// The payment step of a delivered/completed order (see the module docs): registers the
    /// order's payment against its posted invoice, in the journal of its payment method, unless it
    /// is registered already. What happened (or why nothing did) goes to `did`.
    pub async fn register_order_payment(
        &self,
        order: &Order,
        so: Id,
        slug: Option<&str>,
        r: &mut Report,
    ) -> Res<()> {
        let method = match order_payment(order, slug) {
            OrderPayment::Unknown => {
                r.note("payment not registered: the order names no payment method".into());
                return Ok(());
            }
            OrderPayment::Unpaid(why) => {
                r.note(format!("payment not registered: {why}"));
                return Ok(());
            }
            OrderPayment::CashOnDelivery => COD.to_owned(),
            OrderPayment::Paid(m) => m,
        };
        let Some(journal) = self.opts.payment_journal(&method) else {
            r.note(no_journal(&method));
            return Ok(());
        };
        let invoices = self.posted_invoices(so).await?;
        let chosen = invoices
            .iter()
            .find(|i| !settled(text(i, "payment_state")) && f64_of(i, "amount_residual") > 0.0)
            .or_else(|| invoices.first());
        let Some((invoice, read)) = chosen.and_then(|i| Some((id_of(i)?, i))) else {
            r.note("payment not registered: the order has no posted invoice".into());
            return Ok(());
        };
        self.touch("account.move", invoice);
        // Just read with the fields the payment needs (odoo::recipes::PAYMENT_FIELDS).
        let payment = self
            .odoo
            .register_payment_in(
                invoice,
                read,
                &PaymentRequest {
                    journal_id: Some(journal),
                    memo: Some(payment_memo(self.merchant(), order.id)),
                    ..PaymentRequest::default()
                },
            )
            .await?;
        if let Some(p) = payment.payment_id {
            self.touch("account.payment", p);
            idmap::put(
                self.ids,
                self.merchant(),
                entity::ORDER_PAYMENT,
                order.id,
                "account.payment",
                p,
                0,
            )
            .await?;
        }
        match (payment.step, payment.payment_id) {
            (Step::Done, Some(p)) => r.done(format!(
                "{method} payment {p} registered in journal {journal} (invoice {invoice} {})",
                payment.payment_state
            )),
            (Step::Done, None) => r.done(format!(
                "{method} payment registered in journal {journal} (invoice {invoice} {})",
                payment.payment_state
            )),
            (Step::AlreadyDone, Some(p)) => r.note(format!("payment {p} already registered")),
            (Step::AlreadyDone, None) => r.note(format!(
                "invoice {invoice} already {}; no payment registered",
                payment.payment_state
            )),
        }
        Ok(())
    }

    /// The refund of an order (see the module docs): a credit note of its posted invoice for
    /// `amount` less what credit notes already credit, posted, and its refund payment when the
    /// invoice had been paid; an order never invoiced is cancelled. What happened goes to `did`.
    pub async fn refund_order(
        &self,
        order: &Order,
        so: Id,
        amount: RefundAmount,
        r: &mut Report,
    ) -> Res<()> {
        let invoices = self.posted_invoices(so).await?;
        // Credit notes are about to join the order's invoices: what this job kept of them is old.
        self.forget_order();
        let Some(invoice) = invoices.first() else {
            return self.refund_uninvoiced(so, amount, r).await;
        };
        let inv = id_of(invoice).unwrap_or_default();
        self.touch("account.move", inv);
        if invoices.len() > 1 {
            r.note(format!(
                "the order has {} posted invoices; the refund credits the first ({inv})",
                invoices.len()
            ));
        }
        let inv_total = f64_of(invoice, "amount_total");
        let target = match amount {
            RefundAmount::Full => inv_total,
            RefundAmount::Partial(a) => a.to_f64().unwrap_or_default().min(inv_total),
        };
        let reason = refund_reason(self.merchant(), order.id);
        let notes = self.odoo.credit_notes_of(inv).await?;
        let ours = |r: &Record| text(r, "ref").contains(&reason);
        let credited: f64 = notes
            .iter()
            .filter(|n| text(n, "state") == "posted")
            .map(|n| f64_of(n, "amount_total"))
            .sum();
        // Paid before it was refunded (online, or cash collected at the delivery that invoiced
        // it): the payment first, as the customer's money came in before it went back; a job
        // that saw the order only once refunded (a payment step superseded, coalesced or
        // reconciled away) would otherwise reverse an invoice nobody paid.
        if credited < 0.005 && !settled(text(invoice, "payment_state")) {
            self.register_order_payment(order, so, None, r).await?;
        }
        let remaining = ((target - credited) * 100.0).round() / 100.0;
        if remaining < 0.005 {
            r.note(format!(
                "refund of {} already credited (credit notes total {})",
                money(target),
                money(credited)
            ));
        } else {
            // A draft of ours (a crash between the wizard and the posting) is finished, not made
            // again: by the id map, else by the marker in its ref.
            let mapped = idmap::get(self.ids, self.merchant(), entity::ORDER_REFUND, order.id)
                .await?
                .map(|m| m.odoo_id);
            let draft = notes
                .iter()
                .filter(|n| text(n, "state") == "draft")
                .find(|n| id_of(n) == mapped || ours(n))
                .and_then(id_of);
            let cn = match draft {
                Some(cn) => cn,
                None => {
                    let cn = self.odoo.draft_credit_note(inv, &reason).await?;
                    idmap::put(
                        self.ids,
                        self.merchant(),
                        entity::ORDER_REFUND,
                        order.id,
                        "account.move",
                        cn,
                        0,
                    )
                    .await?;
                    cn
                }
            };
            self.touch("account.move", cn);
            let written = self
                .odoo
                .write_credit_note_down(cn, remaining, Some(CREDIT_ROUNDING_LABEL))
                .await?;
            let mut reached = written.total;
            let mut rounding = written.rounding;
            // Odoo's per-line tax rounding may leave a cent or two the lines cannot reach: a
            // rounding line makes them up (issue #17), as on sale orders, within the store's
            // --rounding-max. Its product only when one is needed (most refunds land exactly).
            let max = self.opts.rounding_max_cents as f64 / 100.0;
            let gap = ((remaining - reached) * 100.0).round() / 100.0;
            if gap.abs() >= 0.005 && gap.abs() <= max + 0.0005 {
                let product = self
                    .adjustment_product(crate::currency::ROUNDING_CODE)
                    .await?;
                self.touch("product.product", product);
                reached = self
                    .odoo
                    .add_credit_note_rounding(cn, product, CREDIT_ROUNDING_LABEL, gap)
                    .await?;
                rounding += gap;
            }
            self.odoo.post_invoice(cn).await?;
            let mut line = format!("credit note {cn} of {} posted", money(reached));
            if rounding.abs() >= 0.005 {
                line.push_str(&format!(
                    " (rounding line {rounding:+.2} added: Odoo's tax rounding brings its lines \
                     to {}, Salla refunded {})",
                    money(reached - rounding),
                    money(remaining)
                ));
            }
            if (reached - remaining).abs() >= 0.005 {
                line.push_str(&format!(
                    " (Salla refunded {}; Odoo's tax rounding allows {}, and a difference of \
                     {:+.2} is more than a rounding line may absorb: the store's rounding limit \
                     is {}, --rounding-max)",
                    money(remaining),
                    money(reached),
                    remaining - reached,
                    money(max)
                ));
            }
            if remaining + 0.005 < inv_total {
                line.push_str(&format!(
                    " for part of invoice {inv} ({})",
                    money(inv_total)
                ));
            }
            r.done(line);
        }
        self.refund_payments(order, inv, &reason, r).await
    }

    /// The refund payments of the order's posted credit notes that still have something to pay
    /// (their invoice had been paid), in the journal of the order's payment.
    async fn refund_payments(
        &self,
        order: &Order,
        invoice: Id,
        reason: &str,
        r: &mut Report,
    ) -> Res<()> {
        let notes = self.odoo.credit_notes_of(invoice).await?;
        let open: Vec<&Record> = notes
            .iter()
            .filter(|n| text(n, "state") == "posted" && text(n, "ref").contains(reason))
            .filter(|n| !settled(text(n, "payment_state")) && f64_of(n, "amount_residual") > 0.0)
            .collect();
        if open.is_empty() {
            return Ok(());
        }
        // The journal the order's payment went to, else the one its payment method would.
        let paid_in = self
            .odoo
            .payments_by_memo(&payment_memo(self.merchant(), order.id))
            .await?
            .first()
            .and_then(|p| p.get("journal_id").and_then(odoo::many2one_id));
        let method = payment_method(order).unwrap_or_default();
        let Some(journal) = paid_in.or_else(|| self.opts.payment_journal(&method)) else {
            for n in open {
                r.note(format!(
                    "refund payment of credit note {} not registered: {}",
                    id_of(n).unwrap_or_default(),
                    no_journal(&method).trim_start_matches("payment not registered: ")
                ));
            }
            return Ok(());
        };
        for n in open {
            let cn = id_of(n).unwrap_or_default();
            let payment = self
                .odoo
                .register_payment(
                    cn,
                    &PaymentRequest {
                        journal_id: Some(journal),
                        memo: Some(format!("{reason} {cn}")),
                        ..PaymentRequest::default()
                    },
                )
                .await?;
            if let Some(p) = payment.payment_id {
                self.touch("account.payment", p);
            }
            match (payment.step, payment.payment_id) {
                (Step::Done, Some(p)) => r.done(format!(
                    "refund payment {p} of credit note {cn} registered in journal {journal}"
                )),
                (Step::Done, None) => r.done(format!(
                    "refund payment of credit note {cn} registered in journal {journal}"
                )),
                (Step::AlreadyDone, Some(p)) => r.note(format!(
                    "refund payment {p} of credit note {cn} already registered"
                )),
                (Step::AlreadyDone, None) => r.note(format!(
                    "credit note {cn} already {}",
                    payment.payment_state
                )),
            }
        }
        Ok(())
    }

    /// An order event (not a status) whose order names an amount refunded: after the order is
    /// synced (`outcome`), its refund ([`Engine::refund_order`]), noted on the outcome. Without an
    /// amount refunded, or when the order was not applied, `outcome` as it is.
    pub async fn refund_with_order(
        &self,
        order: &Order,
        raw: &Value,
        outcome: crate::Applied,
    ) -> Res<crate::Applied> {
        if refunded_amount(raw).is_none() || !matches!(outcome, crate::Applied::Applied { .. }) {
            return Ok(outcome);
        }
        let Some(so) = self.find_order(order.id).await? else {
            return Ok(outcome);
        };
        let mut r = Report::default();
        if self.opts.refund_credit_notes {
            self.refund_order(order, so, refund_amount(order, raw), &mut r)
                .await?;
        } else {
            r.note(REFUNDS_OFF.into());
        }
        let outcome = match outcome {
            crate::Applied::Applied { note, .. } => crate::Applied::Applied {
                odoo_ids: self.touched(),
                note,
            },
            skipped => skipped,
        };
        let said: Vec<String> = r.did.into_iter().chain(r.notes).collect();
        Ok(if said.is_empty() {
            outcome
        } else {
            crate::fetch::with_note(outcome, &said.join("; "))
        })
    }

    /// A refunded order that was never invoiced: cancelled in full (unless a done delivery keeps
    /// it), left as it is for a partial refund.
    async fn refund_uninvoiced(&self, so: Id, amount: RefundAmount, r: &mut Report) -> Res<()> {
        if let RefundAmount::Partial(a) = amount {
            r.note(format!(
                "partial refund of {a}: the order has no posted invoice to credit; nothing changed"
            ));
            return Ok(());
        }
        if let Some(why) = self.cancel_blocker(so).await? {
            r.note(format!(
                "refunded but never invoiced, and not cancelled: it has {why} in Odoo (a return \
                 is a warehouse decision)"
            ));
            return Ok(());
        }
        if self.odoo.cancel_sale_order(so).await? == Step::Done {
            r.done("refunded and never invoiced: cancelled".into());
        } else {
            r.note("refunded and never invoiced: already cancelled".into());
        }
        Ok(())
    }
}

/// Why no payment was registered for `method`, naming the store options to set.
fn no_journal(method: &str) -> String {
    format!(
        "payment not registered: the store has no payment journal for payment method {method} \
         (salla-odoo store update --payment-journals {method}=JOURNAL_ID, or --payment-journal \
         JOURNAL_ID for every method)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order(v: Value) -> Order {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn online_orders_are_paid_unless_salla_waits_for_the_money() {
        let o = |method: &str, pending: bool| {
            order(json!({"id": 1, "payment_method": method, "is_pending_payment": pending}))
        };
        assert_eq!(
            order_payment(&o("mada", false), Some("under_review")),
            OrderPayment::Paid("mada".into())
        );
        assert_eq!(
            order_payment(&o(" Credit_Card ", false), Some("completed")),
            OrderPayment::Paid("credit_card".into())
        );
        assert_eq!(
            order_payment(&o("cod", false), Some("delivered")),
            OrderPayment::CashOnDelivery
        );
        for slug in UNPAID_STATUSES {
            assert!(
                matches!(
                    order_payment(&o("mada", false), Some(slug)),
                    OrderPayment::Unpaid(_)
                ),
                "{slug}"
            );
        }
        assert!(matches!(
            order_payment(&o("bank", true), Some("completed")),
            OrderPayment::Unpaid(_)
        ));
        assert!(matches!(
            order_payment(&o("waiting", false), Some("under_review")),
            OrderPayment::Unpaid(_)
        ));
        assert_eq!(
            order_payment(&order(json!({"id": 1})), Some("completed")),
            OrderPayment::Unknown
        );
    }

    #[test]
    fn refunds_are_full_unless_salla_names_less_than_the_total() {
        let raw = |extra: Value| {
            let mut v = json!({"id": 1, "amounts": {"total": {"amount": 230, "currency": "SAR"}}});
            if let Value::Object(e) = extra {
                for (k, x) in e {
                    if k == "amounts" {
                        v["amounts"]
                            .as_object_mut()
                            .unwrap()
                            .extend(x.as_object().unwrap().clone());
                    } else {
                        v[k] = x;
                    }
                }
            }
            v
        };
        let check = |v: Value| refund_amount(&order(v.clone()), &v);
        assert_eq!(check(raw(json!({}))), RefundAmount::Full);
        assert_eq!(
            check(raw(
                json!({"amounts": {"refunded": {"amount": "115.5", "currency": "SAR"}}})
            )),
            RefundAmount::Partial("115.5".parse().unwrap())
        );
        assert_eq!(
            check(raw(json!({"refunded_amount": 230}))),
            RefundAmount::Full
        );
        assert_eq!(
            check(raw(json!({"refund_amount": "0"}))),
            RefundAmount::Full
        );
        let no_total = json!({"id": 1, "amounts": {"refund": 20}});
        assert_eq!(
            refund_amount(&order(no_total.clone()), &no_total),
            RefundAmount::Partial(Decimal::from(20))
        );
        assert_eq!(
            refunded_amount(&json!({"amounts": {"refunded": null}})),
            None
        );
    }

    #[test]
    fn memos_and_reasons_carry_the_order_marker() {
        let m = salla_odoo_core::MerchantId::new(7);
        assert_eq!(payment_memo(m, 42), "salla:7:42");
        assert_eq!(refund_reason(m, 42), "salla:7:42 refund");
    }
}
