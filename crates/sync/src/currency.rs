//! Currencies and amounts: an order goes to Odoo in its own currency, and Odoo's total is Salla's.
//!
//! # The currency: the pricelist decides
//! Odoo computes `sale.order.currency_id` from the pricelist and silently replaces a `currency_id`
//! given at create (accounting transcript C13/C14), so the connector never sends one: it picks the
//! pricelist of the order's currency ([`order_currency`]) with [`Engine::order_pricelist`]:
//! 1. the store's `pricelists` entry for that currency (`--pricelists SAR=1,USD=3`), checked to be
//!    a pricelist in that currency;
//! 2. else the store's `pricelist_id`, when that pricelist is in the currency;
//! 3. else the pricelist Odoo holds in the currency (the first by sequence, as Odoo picks a
//!    default).
//!
//! When none matches the order fails **permanently**, naming the currency and the setting: it is
//! never written in another currency. The answer is kept on the store's Odoo client for
//! [`PRICELIST_TTL`] ([`odoo::Client::memo`]), so only the first order of a currency pays its one or
//! two look-ups; a changed store (new settings, new client) or a refreshed client looks again.
//!
//! # The amounts: Odoo's `amount_total` is Salla's `amounts.total`, to the cent
//! [`plan_amounts`] sets what Odoo will compute from the lines against Salla's total:
//! - an order-level discount Salla did not spread over the items (`amounts.discounts` beyond the
//!   items' `total_discount`) becomes a tax-free discount line (`SALLA-DISCOUNT`) when that brings the
//!   lines to Salla's figure;
//! - what is left, when Odoo's per-line rounding cannot reach Salla's figure, becomes a tax-free
//!   rounding line (`SALLA-ROUNDING`), up to the store's `rounding_max_cents`; a larger difference
//!   fails the order permanently with both figures (nothing is written for a tax-free order).
//!
//! For an order whose lines are all tax-free, Odoo's total is known exactly (each line's subtotal
//! rounded to cents, summed), so the lines go in the one create and no call is added. A taxed order
//! depends on Odoo's taxes (the store's `tax_id`, or each product's default), its rounding method and
//! version, so it is read back once after it is written ([`Engine::hold_total`]) and the rounding
//! line added or adjusted from Odoo's own figure. Both lines are named in the sync log's note.
//!
//! Both products are services created once and found by `default_code` afterwards. Everything here
//! is idempotent: the lines are a function of the Salla order (and, for a taxed order, of Odoo's own
//! total), so a retry or a replay finds them as they should be and writes nothing.

use std::time::Duration;

use odoo::{Domain, Id, Record, SearchOptions};
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;
use salla_odoo_salla::payload::Order;
use serde_json::{Map, Value, json};

use crate::engine::{Engine, round2};
use crate::error::{Res, permanent};
use crate::idmap::IdMap;
use crate::order::LineInput;
use crate::product::{ProductKind, type_vals};

/// The service product of the rounding line.
pub const ROUNDING_CODE: &str = "SALLA-ROUNDING";
/// The service product of an order-level discount Salla did not spread over the items.
pub const DISCOUNT_CODE: &str = "SALLA-DISCOUNT";
/// The currency of an order that names none and of a store that sets none.
pub const DEFAULT_CURRENCY: &str = "SAR";
/// How long a pricelist answer is kept on the store's Odoo client.
pub const PRICELIST_TTL: Duration = Duration::from_secs(600);

/// Half a cent: amounts closer than this are equal.
fn half_cent() -> Decimal {
    Decimal::new(5, 3)
}

fn code(s: &str) -> Option<String> {
    salla_odoo_core::currency::currency_code(s).ok()
}

/// The currency of a Salla order: its `currency`, else the currency of `amounts.total`, else the
/// store's (`store_currency`), else SAR. An order whose total is in another currency than the order
/// says is refused: its amounts cannot be trusted to be in either.
pub fn order_currency(order: &Order, store_currency: Option<&str>) -> Result<String, String> {
    let stated = order
        .currency
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let of_total = order
        .amounts
        .as_ref()
        .and_then(|a| a.total.as_ref())
        .and_then(|t| t.currency.as_deref())
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let parsed = |c: &str| {
        code(c).ok_or_else(|| {
            format!(
                "order {} has the currency {c:?}, not an ISO 4217 code",
                order.id
            )
        })
    };
    match (stated, of_total) {
        (Some(a), Some(b)) => {
            let (a, b) = (parsed(a)?, parsed(b)?);
            if a != b {
                return Err(format!(
                    "order {} is in {a} but its total is in {b}: refusing to write amounts in \
                     either currency",
                    order.id
                ));
            }
            Ok(a)
        }
        (Some(c), None) | (None, Some(c)) => parsed(c),
        (None, None) => Ok(store_currency
            .and_then(code)
            .unwrap_or_else(|| DEFAULT_CURRENCY.to_owned())),
    }
}

/// Whether every line is tax-free (explicitly no taxes), so that Odoo's total is known exactly.
pub fn all_tax_free(lines: &[LineInput]) -> bool {
    lines
        .iter()
        .all(|l| l.taxes.as_ref().is_some_and(Vec::is_empty))
}

/// Odoo's untaxed amount of lines: each line's `price_unit × quantity × (1 − discount/100)`,
/// `price_unit` as sent (to cents), rounded to cents, summed. For tax-free lines it is the total.
pub fn untaxed_total(lines: &[LineInput]) -> Decimal {
    lines
        .iter()
        .map(|l| {
            round2(
                round2(l.price_unit)
                    * l.quantity
                    * (Decimal::ONE - l.discount / Decimal::from(100)),
            )
        })
        .sum()
}

/// What the amounts of an order need besides its item and charge lines.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AmountPlan {
    /// Salla's `amounts.total`, to cents; `None`: Salla gave none, nothing to hold Odoo to.
    pub salla_total: Option<Decimal>,
    /// The discount line, then the rounding line (tax-free order only), to add after the others.
    pub extra: Vec<LineInput>,
    /// Odoo's total is known from the lines (all tax-free): nothing to read back.
    pub exact: bool,
    /// The largest rounding line allowed.
    pub rounding_max: Decimal,
    /// The order's currency, for messages.
    pub currency: String,
    /// What the sync log should say about the lines added.
    pub notes: Vec<String>,
}

/// A tax-free service line of `amount`.
fn adjustment(code: &str, name: String, amount: Decimal) -> LineInput {
    LineInput {
        code: code.to_owned(),
        name,
        quantity: Decimal::ONE,
        price_unit: amount,
        discount: Decimal::ZERO,
        taxes: Some(Vec::new()),
        charge: true,
        product_id: None,
        options: Vec::new(),
    }
}

/// The rounding line that brings Odoo's total (`odoo_total`) to Salla's; `Ok(None)` when they
/// already agree; `Err` when the difference is more than a rounding line may absorb.
pub fn rounding_line(
    plan: &AmountPlan,
    order_id: u64,
    odoo_total: Decimal,
) -> Result<Option<LineInput>, String> {
    let Some(total) = plan.salla_total else {
        return Ok(None);
    };
    let gap = round2(total - odoo_total);
    if gap.abs() < half_cent() {
        return Ok(None);
    }
    if gap.abs() > plan.rounding_max {
        return Err(format!(
            "order {order_id}: Salla's total is {total:.2} {cur} but the order comes to \
             {odoo_total:.2} {cur} in Odoo, a difference of {gap:+.2} {cur}: more than a rounding \
             line may absorb (the store's rounding limit is {max:.2} {cur}, --rounding-max); check \
             the store's taxes (--tax-id, --prices-exclude-tax) and the order's discounts, then \
             replay",
            cur = plan.currency,
            max = plan.rounding_max,
        ));
    }
    Ok(Some(adjustment(
        ROUNDING_CODE,
        "Rounding to Salla's total".to_owned(),
        gap,
    )))
}

/// The note of a rounding line.
pub fn rounding_note(line: &LineInput, plan: &AmountPlan, odoo_total: Decimal) -> String {
    format!(
        "rounding line {:+.2} {cur} added: Odoo's lines come to {odoo_total:.2} {cur}, Salla's total \
         is {:.2} {cur}",
        line.price_unit,
        plan.salla_total.unwrap_or_default(),
        cur = plan.currency
    )
}

/// Plans the amounts of `order`, whose item and charge lines are `lines` (see the module doc).
/// `Err` (permanent) when a tax-free order's lines cannot reach Salla's total.
pub fn plan_amounts(
    order: &Order,
    lines: &[LineInput],
    currency: &str,
    rounding_max_cents: i64,
) -> Result<AmountPlan, String> {
    let amounts = order.amounts.as_ref();
    let mut plan = AmountPlan {
        salla_total: amounts
            .and_then(|a| a.total.as_ref())
            .map(|t| round2(t.amount)),
        extra: Vec::new(),
        exact: all_tax_free(lines),
        rounding_max: Decimal::new(rounding_max_cents.max(0), 2),
        currency: currency.to_owned(),
        notes: Vec::new(),
    };
    let Some(total) = plan.salla_total else {
        return Ok(plan);
    };
    let untaxed = untaxed_total(lines);
    // Odoo's total as far as it is known here: a taxed order is read back after it is written.
    let salla_tax = amounts
        .and_then(|a| a.tax.as_ref())
        .and_then(|t| t.amount.as_ref())
        .map_or(Decimal::ZERO, |m| m.amount);
    let mut estimate = if plan.exact {
        untaxed
    } else {
        untaxed + salla_tax
    };

    // Order-level discounts beyond what the items carry: a discount line when it explains the gap.
    let listed: Decimal = amounts
        .map(|a| a.discounts.iter().filter_map(|d| d.discount).sum())
        .unwrap_or_default();
    let on_items: Decimal = order
        .items
        .iter()
        .filter_map(|i| i.amounts.as_ref()?.total_discount.as_ref())
        .map(|m| m.amount)
        .sum();
    let undistributed = round2(listed - on_items);
    if undistributed >= half_cent()
        && (total - (estimate - undistributed)).abs() < (total - estimate).abs()
    {
        let titles: Vec<String> = amounts
            .map(|a| {
                a.discounts
                    .iter()
                    .filter_map(|d| d.title.clone().or_else(|| d.code.clone()))
                    .filter(|t| !t.trim().is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let name = if titles.is_empty() {
            "Discount".to_owned()
        } else {
            format!("Discount: {}", titles.join(", "))
        };
        plan.notes.push(format!(
            "order-level discount {undistributed:.2} {currency} (not on the items) added as a \
             discount line"
        ));
        plan.extra
            .push(adjustment(DISCOUNT_CODE, name, -undistributed));
        estimate -= undistributed;
    }

    if plan.exact
        && let Some(line) = rounding_line(&plan, order.id, estimate)?
    {
        plan.notes.push(rounding_note(&line, &plan, estimate));
        plan.extra.push(line);
    }
    Ok(plan)
}

/// Whether a `sale.order.line` read from Odoo is the rounding line (its product's display name
/// carries the code, `[SALLA-ROUNDING] …`, on every version).
pub fn is_rounding_line(line: &Record) -> bool {
    line.get("product_id")
        .and_then(|p| p.get(1))
        .and_then(Value::as_str)
        .is_some_and(|n| n.starts_with(&format!("[{ROUNDING_CODE}]")))
}

/// An Odoo monetary value as a decimal, to cents.
pub fn decimal_of(v: Option<&Value>) -> Decimal {
    round2(
        v.and_then(Value::as_f64)
            .and_then(Decimal::from_f64)
            .unwrap_or_default(),
    )
}

/// The currency code of a `currency_id` read from Odoo (`[2, "USD"]`).
pub fn currency_name(v: Option<&Value>) -> Option<String> {
    v.and_then(|c| c.get(1))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

impl<M: IdMap> Engine<'_, M> {
    /// The `product.pricelist` for an order in `currency` (see the module doc), kept on the client
    /// for [`PRICELIST_TTL`]. `order_id` names the order in the error.
    pub async fn order_pricelist(&self, currency: &str, order_id: u64) -> Res<Id> {
        let key = self.pricelist_key(currency);
        let found = self
            .odoo
            .memo_fill(&key, PRICELIST_TTL, || async {
                resolve_pricelist(self.odoo, self.opts, currency)
                    .await
                    .map(|id| Some(json!(id)))
            })
            .await;
        match found {
            Ok(id) => Ok(id.and_then(|v| v.as_i64()).unwrap_or_default()),
            Err(PricelistError::Odoo(e)) => Err(e.into()),
            Err(PricelistError::None(reason)) => Err(permanent(format!(
                "order {order_id} is in {currency} but {reason}, then replay; nothing was written \
                 in another currency"
            ))),
        }
    }

    /// Where [`Engine::order_pricelist`] keeps its answer. What decides the answer only (the
    /// merchant names the store in an error, and errors are not kept): stores sharing an Odoo
    /// with the same settings share the look-up.
    fn pricelist_key(&self, currency: &str) -> String {
        format!(
            "pricelist|{currency}|{:?}|{:?}",
            self.opts.pricelists.get(currency),
            self.opts.pricelist_id
        )
    }

    /// Forgets the kept pricelist of `currency` (an order naming it failed in Odoo: the pricelist
    /// may be gone, and the retry resolves it again).
    pub fn forget_pricelist(&self, currency: &str) {
        self.odoo.forget(&self.pricelist_key(currency));
    }

    /// The product of an adjustment line (rounding, discount): a service found by `default_code`,
    /// created once (under the creation lock, looked up again first).
    pub async fn adjustment_product(&self, code: &str) -> Res<Id> {
        if let Some(id) = self.first_product_by_code(code).await? {
            return Ok(id);
        }
        let guard = self.lock(&format!("sku:{code}")).await?;
        let id = match self.first_product_by_code(code).await? {
            Some(id) => id,
            None => {
                let mut vals = Map::new();
                let name = if code == ROUNDING_CODE {
                    "Rounding"
                } else {
                    "Discount"
                };
                vals.insert("name".into(), json!(name));
                vals.insert("default_code".into(), json!(code));
                vals.insert("list_price".into(), json!(0.0));
                vals.insert("sale_ok".into(), json!(true));
                vals.insert(self.caps.product_taxes_field.clone(), json!([[6, 0, []]]));
                vals.extend(type_vals(&self.caps, ProductKind::Service));
                self.making_codes([code], self.odoo.create("product.product", vals))
                    .await?
            }
        };
        guard.release().await;
        Ok(id)
    }

    /// Holds a taxed order's total to Salla's once its lines are written: Odoo's `amount_total`
    /// (read now unless `known`) and its currency are checked, and the rounding line added or
    /// adjusted (`current_rounding`: the rounding lines the order has, id and amount). Returns the
    /// note; `Err` (permanent) when the difference is more than a rounding line may absorb or the
    /// order is not in its currency.
    pub async fn hold_total(
        &self,
        order: Id,
        salla_id: u64,
        plan: &AmountPlan,
        known: Option<(Decimal, Option<String>)>,
        current_rounding: &[(Id, Decimal)],
        tax_field: &str,
    ) -> Res<Option<String>> {
        if plan.exact || plan.salla_total.is_none() {
            return Ok(None);
        }
        let (total, currency) = match known {
            Some(k) => k,
            None => {
                let rec = self
                    .read("sale.order", order, &["amount_total", "currency_id"])
                    .await?
                    .ok_or_else(|| {
                        crate::error::transient(format!(
                            "sale.order {order} vanished while syncing"
                        ))
                    })?;
                (
                    decimal_of(rec.get("amount_total")),
                    currency_name(rec.get("currency_id")),
                )
            }
        };
        if let Some(c) = currency
            && c != plan.currency
        {
            return Err(permanent(format!(
                "order {salla_id} is in {} but sale.order {order} came out in {c}: its pricelist is \
                 not in the order's currency; check the store's --pricelists, then replay",
                plan.currency
            )));
        }
        let Some(line) = rounding_line(plan, salla_id, total).map_err(permanent)? else {
            return Ok(None);
        };
        // Odoo's total without the rounding lines it has, and the line that replaces them.
        let had: Decimal = current_rounding.iter().map(|(_, a)| *a).sum();
        let mut fix = line.clone();
        fix.price_unit = round2(had + line.price_unit);
        let without = total - had;
        let mut cmds: Vec<Value> = current_rounding
            .iter()
            .map(|(id, _)| json!([2, id, 0]))
            .collect();
        if fix.price_unit.abs() >= half_cent() {
            let product = self.adjustment_product(&fix.code).await?;
            self.touch("product.product", product);
            cmds.push(json!([
                0,
                0,
                crate::order::line_vals(&fix, product, tax_field, false)
            ]));
        }
        let mut vals = Map::new();
        vals.insert("order_line".into(), Value::Array(cmds));
        self.odoo.write("sale.order", &[order], vals).await?;
        Ok(Some(if fix.price_unit.abs() >= half_cent() {
            rounding_note(&fix, plan, without)
        } else {
            format!(
                "rounding line removed: Odoo's lines come to Salla's total {:.2} {}",
                total - had,
                plan.currency
            )
        }))
    }
}

/// Why no pricelist serves a currency.
#[derive(Debug)]
pub enum PricelistError {
    /// Odoo could not be asked.
    Odoo(odoo::Error),
    /// None does: the reason, as a clause naming the setting and what to do (permanent).
    None(String),
}

impl From<odoo::Error> for PricelistError {
    fn from(e: odoo::Error) -> Self {
        PricelistError::Odoo(e)
    }
}

/// The pricelist a store's orders in `currency` use (see the module doc), asked of Odoo now: the
/// store's `pricelists` entry (checked), else its `pricelist_id` when in the currency, else the
/// first active pricelist Odoo holds in the currency. `doctor` asks the same question.
pub async fn resolve_pricelist(
    odoo: &odoo::Client,
    opts: &crate::StoreOptions,
    currency: &str,
) -> Result<Id, PricelistError> {
    let merchant = opts.merchant;
    let fix = format!("`salla-odoo store update --merchant {merchant} --pricelists {currency}=ID`");
    if let Some(id) = opts.pricelists.get(currency) {
        return match pricelist_currency(odoo, id).await? {
            None => Err(PricelistError::None(format!(
                "the store's pricelist for {currency} (--pricelists {currency}={id}) does not exist \
                 in Odoo or is archived; fix it with {fix}"
            ))),
            Some(c) if c != currency => Err(PricelistError::None(format!(
                "the store's pricelist for {currency} (--pricelists {currency}={id}) is in {c}; \
                 name a pricelist in {currency} with {fix}"
            ))),
            Some(_) => Ok(id),
        };
    }
    if let Some(p) = opts.pricelist_id
        && pricelist_currency(odoo, p).await?.as_deref() == Some(currency)
    {
        return Ok(p);
    }
    let found: Vec<Record> = odoo
        .search_read(
            "product.pricelist",
            &Domain::new().eq("currency_id.name", currency),
            &["id"],
            &SearchOptions::limit(1),
        )
        .await?;
    if let Some(id) = found
        .first()
        .and_then(|r| r.get("id"))
        .and_then(Value::as_i64)
    {
        return Ok(id);
    }
    // Say why, in the terms the operator acts on.
    let currencies: Vec<Record> = odoo
        .search_read(
            "res.currency",
            &Domain::new().eq("name", currency),
            &["id", "active"],
            &SearchOptions::limit(1),
        )
        .await
        .unwrap_or_default();
    let state = match currencies.first() {
        None => format!("Odoo has no pricelist in {currency} (and no active currency {currency})"),
        Some(_) => format!("Odoo has no pricelist in {currency}"),
    };
    Err(PricelistError::None(format!(
        "{state}; create one in Odoo (Sales ▸ Products ▸ Pricelists; an administrator may have to \
         activate the currency first) and name it with {fix}"
    )))
}

/// The currency code of an active pricelist; `None` when it does not exist or is archived.
pub async fn pricelist_currency(
    odoo: &odoo::Client,
    id: Id,
) -> Result<Option<String>, odoo::Error> {
    let Some(rec) = odoo
        .read_one("product.pricelist", id, &["currency_id", "active"])
        .await?
    else {
        return Ok(None);
    };
    if rec.get("active") == Some(&Value::Bool(false)) {
        return Ok(None);
    }
    Ok(currency_name(rec.get("currency_id")))
}

/// The rounding lines among an order's lines read from Odoo, as (line id, amount).
pub fn rounding_lines(lines: &[Record]) -> Vec<(Id, Decimal)> {
    lines
        .iter()
        .filter(|l| is_rounding_line(l))
        .filter_map(|l| {
            let id = l.get("id").and_then(Value::as_i64)?;
            let qty = decimal_of(l.get("product_uom_qty"));
            Some((id, round2(decimal_of(l.get("price_unit")) * qty)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(v: Value) -> Order {
        serde_json::from_value(v).unwrap()
    }

    fn line(price: &str, qty: i64, discount: &str, taxes: Option<Vec<Id>>) -> LineInput {
        LineInput {
            code: "A".into(),
            name: "A".into(),
            quantity: Decimal::from(qty),
            price_unit: price.parse().unwrap(),
            discount: discount.parse().unwrap(),
            taxes,
            charge: false,
            product_id: None,
            options: Vec::new(),
        }
    }

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn the_currency_is_the_orders_then_the_totals_then_the_stores() {
        let o = order(json!({"id": 1, "currency": "usd"}));
        assert_eq!(order_currency(&o, Some("SAR")).unwrap(), "USD");
        let o = order(json!({"id": 1, "amounts": {"total": {"amount": 5, "currency": "AED"}}}));
        assert_eq!(order_currency(&o, Some("SAR")).unwrap(), "AED");
        let o = order(json!({"id": 1, "amounts": {"total": {"amount": 5}}}));
        assert_eq!(order_currency(&o, Some("eur")).unwrap(), "EUR");
        assert_eq!(order_currency(&o, None).unwrap(), "SAR");
        let o = order(json!({"id": 7, "currency": "SAR",
                             "amounts": {"total": {"amount": 5, "currency": "USD"}}}));
        let err = order_currency(&o, None).unwrap_err();
        assert!(
            err.contains("order 7 is in SAR but its total is in USD"),
            "{err}"
        );
        let o = order(json!({"id": 8, "currency": "riyal"}));
        assert!(order_currency(&o, None).is_err());
    }

    #[test]
    fn odoo_rounds_each_line_to_cents() {
        let lines = [
            line("186", 1, "2.69", Some(vec![])),
            line("10.005", 3, "0", Some(vec![])),
            line("0.333", 3, "0", Some(vec![])),
        ];
        // 180.9966 → 181.00; 10.01 × 3 = 30.03; 0.33 × 3 = 0.99
        assert_eq!(untaxed_total(&lines), dec("212.02"));
        assert!(all_tax_free(&lines));
        assert!(!all_tax_free(&[line("1", 1, "0", None)]));
        assert!(!all_tax_free(&[line("1", 1, "0", Some(vec![3]))]));
    }

    #[test]
    fn a_tax_free_order_that_matches_needs_nothing() {
        let o = order(json!({"id": 1, "amounts": {"total": {"amount": 196},
            "discounts": [{"discount": "5.00"}]},
            "items": [{"id": 1, "quantity": 1, "amounts": {"total_discount": {"amount": 5}}}]}));
        let lines = [
            line("186", 1, "2.69", Some(vec![])),
            line("15", 1, "0", Some(vec![])),
        ];
        let plan = plan_amounts(&o, &lines, "SAR", 100).unwrap();
        assert_eq!(plan.salla_total, Some(dec("196")));
        assert!(
            plan.exact && plan.extra.is_empty() && plan.notes.is_empty(),
            "{plan:?}"
        );
    }

    #[test]
    fn a_cent_odoo_cannot_reach_becomes_a_rounding_line() {
        // 3 × 66.70 with 0.05% off: Odoo 200.00 (199.9999…), Salla 200.10.
        let o = order(json!({"id": 2, "amounts": {"total": {"amount": "200.10"}}}));
        let lines = [line("66.70", 3, "0.05", Some(vec![]))];
        let plan = plan_amounts(&o, &lines, "SAR", 100).unwrap();
        assert_eq!(plan.extra.len(), 1);
        let r = &plan.extra[0];
        assert_eq!(r.code, ROUNDING_CODE);
        assert_eq!(r.price_unit, dec("0.10"));
        assert_eq!(r.taxes, Some(vec![]));
        assert!(
            plan.notes[0].contains("rounding line +0.10 SAR"),
            "{:?}",
            plan.notes
        );
        assert_eq!(untaxed_total(&[lines[0].clone(), r.clone()]), dec("200.10"));
        // Negative differences too.
        let o = order(json!({"id": 2, "amounts": {"total": {"amount": "199.97"}}}));
        let plan = plan_amounts(&o, &lines, "SAR", 100).unwrap();
        assert_eq!(plan.extra[0].price_unit, dec("-0.03"));
    }

    #[test]
    fn a_difference_over_the_limit_is_refused_naming_both_figures() {
        let o = order(json!({"id": 3, "amounts": {"total": {"amount": 250}}}));
        let lines = [line("200", 1, "0", Some(vec![]))];
        let err = plan_amounts(&o, &lines, "USD", 100).unwrap_err();
        assert!(
            err.contains("Salla's total is 250.00 USD")
                && err.contains("200.00 USD in Odoo")
                && err.contains("difference of +50.00 USD")
                && err.contains("--rounding-max"),
            "{err}"
        );
        // A limit of 0: not even a cent.
        let o = order(json!({"id": 3, "amounts": {"total": {"amount": "200.01"}}}));
        assert!(plan_amounts(&o, &lines, "SAR", 0).is_err());
        assert!(plan_amounts(&o, &lines, "SAR", 1).is_ok());
    }

    #[test]
    fn an_undistributed_coupon_becomes_a_discount_line() {
        // A coupon of 20 on the order, none of it on the items: 100 + 15 shipping − 20.
        let o = order(json!({"id": 4, "amounts": {"total": {"amount": 95},
            "discounts": [{"title": "Coupon", "code": "SAVE20", "discount": "20.00"}]},
            "items": [{"id": 1, "quantity": 1, "amounts": {"total_discount": {"amount": 0}}}]}));
        let lines = [
            line("100", 1, "0", Some(vec![])),
            line("15", 1, "0", Some(vec![])),
        ];
        let plan = plan_amounts(&o, &lines, "SAR", 100).unwrap();
        assert_eq!(plan.extra.len(), 1, "{plan:?}");
        assert_eq!(plan.extra[0].code, DISCOUNT_CODE);
        assert_eq!(plan.extra[0].price_unit, dec("-20"));
        assert_eq!(plan.extra[0].name, "Discount: Coupon");
        // Listed but already on the items (Salla's usual shape): no line.
        let o = order(json!({"id": 4, "amounts": {"total": {"amount": 95},
            "discounts": [{"discount": "20.00"}]},
            "items": [{"id": 1, "quantity": 1, "amounts": {"total_discount": {"amount": 20}}}]}));
        let lines = [
            line("100", 1, "20", Some(vec![])),
            line("15", 1, "0", Some(vec![])),
        ];
        let plan = plan_amounts(&o, &lines, "SAR", 100).unwrap();
        assert!(plan.extra.is_empty(), "{plan:?}");
        // Listed, not on the items, but the total does not include it (free shipping already
        // netted out of the shipping cost): no line.
        let o = order(json!({"id": 4, "amounts": {"total": {"amount": 100},
            "discounts": [{"title": "Free shipping", "discount": "15.00"}]}}));
        let plan = plan_amounts(&o, &[line("100", 1, "0", Some(vec![]))], "SAR", 100).unwrap();
        assert!(
            plan.extra.iter().all(|l| l.code != DISCOUNT_CODE),
            "{plan:?}"
        );
    }

    #[test]
    fn taxed_orders_are_left_to_the_read_back() {
        let o = order(json!({"id": 5, "amounts": {"total": {"amount": "115.01"},
            "tax": {"percent": "15", "amount": {"amount": 15}}}}));
        let lines = [line("100", 1, "0", None)];
        let plan = plan_amounts(&o, &lines, "SAR", 100).unwrap();
        assert!(!plan.exact && plan.extra.is_empty(), "{plan:?}");
        // Odoo says 115.00: a rounding line of one cent.
        let r = rounding_line(&plan, 5, dec("115.00")).unwrap().unwrap();
        assert_eq!(r.price_unit, dec("0.01"));
        assert_eq!(rounding_line(&plan, 5, dec("115.01")).unwrap(), None);
        assert!(rounding_line(&plan, 5, dec("100")).is_err());
    }

    #[test]
    fn no_salla_total_means_nothing_to_hold_to() {
        let o = order(json!({"id": 6}));
        let plan = plan_amounts(&o, &[line("1", 1, "0", Some(vec![]))], "SAR", 100).unwrap();
        assert_eq!(plan.salla_total, None);
        assert!(plan.extra.is_empty());
    }

    #[test]
    fn rounding_lines_are_recognised_by_their_products_code() {
        let lines: Vec<Record> = serde_json::from_value(json!([
            {"id": 1, "product_id": [5, "[SALLA-ROUNDING] Rounding"], "price_unit": 0.02, "product_uom_qty": 1.0},
            {"id": 2, "product_id": [6, "[TEA-1] Tea"], "price_unit": 10.0, "product_uom_qty": 1.0}
        ]))
        .unwrap();
        assert_eq!(rounding_lines(&lines), vec![(1, dec("0.02"))]);
    }
}
