//! Orders → a quotation (`sale.order`) with its lines, discounts, taxes and shipping line.
//!
//! The order carries the marker `client_order_ref = salla:<merchant>:<order id>`. Without an id-map row the
//! handler searches it before creating, so a create whose answer was lost is adopted, not repeated —
//! except for an order that is certainly new: every create is preceded by a creation intent in the id
//! map (`order_intent`), so an order dated after the store began recording intents
//! (`order_intents_since`) with no intent has never been created ([`Engine::new_to_odoo`]).
//! A changed order is rewritten in place (lines replaced with x2many commands in one `write`) while Odoo still
//! allows it (draft/sent, not locked); afterwards the difference is reported in the outcome's note instead.

use std::collections::{BTreeMap, BTreeSet};

use odoo::{Domain, Id, Record, many2one_id, x2many_ids};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use salla_odoo_salla::payload::{Order, OrderItem};
use serde_json::{Map, Value, json};

use crate::Applied;
use crate::customer::ShipTo;
use crate::engine::{Engine, marker, money, round2};
use crate::error::{Res, permanent};
use crate::idmap::{self, IdMap, Mapped, entity};
use crate::product::{ProductKind, type_vals};
use crate::version::{odoo_datetime, salla_date_instant, source_version, stale_reason};

/// Service products for the order-level charges (created on first use).
pub const SHIPPING_CODE: &str = "SALLA-SHIPPING";
pub const COD_CODE: &str = "SALLA-COD";

/// One order line before products are resolved.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LineInput {
    /// `default_code` of the product: the SKU, or `SALLA-<product id>`.
    pub code: String,
    pub name: String,
    pub quantity: Decimal,
    pub price_unit: Decimal,
    /// Percent, 2 decimals (Odoo's precision for discounts).
    pub discount: Decimal,
    /// The taxes to set (`None`: leave Odoo's default from the product).
    pub taxes: Option<Vec<Id>>,
    /// A charge line (shipping, cash on delivery) rather than an item.
    pub charge: bool,
    /// The Salla product of an item, and the options chosen (option name, value name): what finds
    /// the variant of a product kept as a template when Odoo does not know the line's code.
    pub product_id: Option<u64>,
    pub options: Vec<(String, String)>,
}

/// `total_discount` as a percentage of `unit × quantity`, rounded to 2 decimals, within 0–100.
pub fn discount_percent(unit: Decimal, quantity: Decimal, total_discount: Decimal) -> Decimal {
    let gross = unit * quantity;
    if gross <= Decimal::ZERO || total_discount <= Decimal::ZERO {
        return Decimal::ZERO;
    }
    let pct = total_discount / gross * Decimal::from(100);
    round2(pct.min(Decimal::from(100)))
}

/// The taxes of a line: the store's tax when configured; else no tax when Salla charged none (so Odoo does
/// not add its default sales tax to a tax-free order); else Odoo's default.
pub fn line_taxes(store_tax: Option<Id>, salla_percent: Option<Decimal>) -> Option<Vec<Id>> {
    match (store_tax, salla_percent) {
        (Some(t), _) => Some(vec![t]),
        (None, Some(p)) if p.is_zero() => Some(Vec::new()),
        _ => None,
    }
}

/// The product code of an item: its SKU, else `SALLA-<product id>` (from `product.id` or `product_id`).
pub fn item_code(item: &OrderItem, raw_item: &Value) -> Option<String> {
    if let Some(sku) = item.sku.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        return Some(sku.to_owned());
    }
    let pid = item
        .product_id()
        .or_else(|| salla_odoo_salla::lenient::id_at(raw_item, "/product_id"))?;
    Some(crate::product::product_code(None, pid))
}

/// The lines of an order: one per item (unit price = `price_without_tax`, or tax included when the store's
/// tax is price-included), then the shipping cost and the cash-on-delivery fee as charge lines.
pub fn order_lines(
    order: &Order,
    raw: &Value,
    store_tax: Option<Id>,
    prices_include_tax: bool,
) -> Result<Vec<LineInput>, String> {
    let mut out = Vec::new();
    for (i, item) in order.items.iter().enumerate() {
        let raw_item = raw.pointer(&format!("/items/{i}")).unwrap_or(&Value::Null);
        let code = item_code(item, raw_item).ok_or_else(|| {
            format!(
                "order {} item {} has neither a SKU nor a product id",
                order.id, item.id
            )
        })?;
        let amounts = item.amounts.as_ref();
        let net = amounts
            .and_then(|a| a.price_without_tax.as_ref())
            .map_or(Decimal::ZERO, |m| m.amount);
        let pct = amounts.and_then(|a| a.tax.as_ref()).and_then(|t| t.percent);
        let unit = match (prices_include_tax, pct) {
            (true, Some(p)) => round2(net * (Decimal::ONE + p / Decimal::from(100))),
            _ => net,
        };
        let total_discount = amounts
            .and_then(|a| a.total_discount.as_ref())
            .map_or(Decimal::ZERO, |m| m.amount);
        let discount = discount_percent(net, item.quantity, total_discount);
        out.push(LineInput {
            name: item
                .name
                .clone()
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| code.clone()),
            code,
            quantity: item.quantity,
            price_unit: unit,
            discount,
            taxes: line_taxes(store_tax, pct),
            charge: false,
            product_id: item
                .product_id()
                .or_else(|| salla_odoo_salla::lenient::id_at(raw_item, "/product_id")),
            options: item
                .options
                .iter()
                .map(|o| (o.name.clone(), o.value.clone()))
                .collect(),
        });
    }
    let amounts = order.amounts.as_ref();
    let order_pct = amounts.and_then(|a| a.tax.as_ref()).and_then(|t| t.percent);
    let charges = [
        (
            SHIPPING_CODE,
            "Shipping",
            amounts.and_then(|a| a.shipping_cost.as_ref()),
        ),
        (
            COD_CODE,
            "Cash on delivery",
            amounts.and_then(|a| a.cash_on_delivery.as_ref()),
        ),
    ];
    for (code, name, amount) in charges {
        let Some(m) = amount.filter(|m| m.amount > Decimal::ZERO) else {
            continue;
        };
        out.push(LineInput {
            code: code.to_owned(),
            name: name.to_owned(),
            quantity: Decimal::ONE,
            price_unit: m.amount,
            discount: Decimal::ZERO,
            taxes: line_taxes(store_tax, order_pct),
            charge: true,
            ..Default::default()
        });
    }
    Ok(out)
}

/// `sale.order.line` values for a resolved line.
pub fn line_vals(
    line: &LineInput,
    product_id: Id,
    tax_field: &str,
    delivery_flag: bool,
) -> Map<String, Value> {
    let mut v = Map::new();
    v.insert("product_id".into(), json!(product_id));
    v.insert("name".into(), json!(line.name));
    v.insert(
        "product_uom_qty".into(),
        json!(line.quantity.to_f64().unwrap_or_default()),
    );
    v.insert("price_unit".into(), money(line.price_unit));
    v.insert(
        "discount".into(),
        json!(line.discount.to_f64().unwrap_or_default()),
    );
    if let Some(t) = &line.taxes {
        v.insert(tax_field.into(), json!([[6, 0, t]]));
    }
    if delivery_flag && line.code == SHIPPING_CODE {
        v.insert("is_delivery".into(), json!(true));
    }
    v
}

/// A line as compared: product, quantity, unit price, discount (rounded) and taxes (when set).
type LineKey = (Id, i64, i64, i64, Option<BTreeSet<Id>>);

fn cents(v: Option<&Value>) -> i64 {
    (v.and_then(Value::as_f64).unwrap_or_default() * 100.0).round() as i64
}

fn key_of(vals: &Map<String, Value>, tax_field: &str) -> LineKey {
    (
        vals.get("product_id")
            .and_then(many2one_id)
            .unwrap_or_default(),
        cents(vals.get("product_uom_qty")),
        cents(vals.get("price_unit")),
        cents(vals.get("discount")),
        vals.get(tax_field).map(|t| {
            // desired: [[6, 0, ids]]; read: ids
            match t.pointer("/0/2") {
                Some(ids) => x2many_ids(ids).into_iter().collect(),
                None => x2many_ids(t).into_iter().collect(),
            }
        }),
    )
}

/// Whether the lines in Odoo are the desired lines (order-insensitive; taxes compared only on the
/// desired lines that set them, so a line left to Odoo's default taxes matches whatever it got).
pub fn same_lines(current: &[Record], desired: &[Map<String, Value>], tax_field: &str) -> bool {
    let mut want: Vec<LineKey> = desired.iter().map(|d| key_of(d, tax_field)).collect();
    let mut have: Vec<LineKey> = current.iter().map(|c| key_of(c, tax_field)).collect();
    if want.len() != have.len() {
        return false;
    }
    // Lines with taxes first, so a line without them cannot take the match another one needs.
    want.sort_by_key(|w| w.4.is_none());
    for w in want {
        let Some(i) = have.iter().position(|h| {
            (h.0, h.1, h.2, h.3) == (w.0, w.1, w.2, w.3) && (w.4.is_none() || h.4 == w.4)
        }) else {
            return false;
        };
        have.swap_remove(i);
    }
    true
}

/// A short description of how the lines differ (for the "not applied" note).
pub fn describe_line_change(current: &[Record], desired: &[Map<String, Value>]) -> String {
    let sum = |it: &mut dyn Iterator<Item = f64>| it.sum::<f64>();
    let total = |recs: &mut dyn Iterator<Item = &Map<String, Value>>| {
        sum(&mut recs.map(|r| {
            let q = r
                .get("product_uom_qty")
                .and_then(Value::as_f64)
                .unwrap_or_default();
            let p = r
                .get("price_unit")
                .and_then(Value::as_f64)
                .unwrap_or_default();
            let d = r
                .get("discount")
                .and_then(Value::as_f64)
                .unwrap_or_default();
            q * p * (1.0 - d / 100.0)
        }))
    };
    format!(
        "lines {} → {}, untaxed total {:.2} → {:.2}",
        current.len(),
        desired.len(),
        total(&mut current.iter()),
        total(&mut desired.iter())
    )
}

/// Creation locks (SKU and template locks) one batch of product creation holds at once. Each lock
/// holds a database connection, beside the job's own session and the id-map reads made under them:
/// a worker's pool is `worker.concurrency + 4`, so a few jobs creating products at once must not
/// exhaust it.
const CREATE_BATCH: usize = 3;

/// The product of a line among the ids its code has in Odoo (oldest first): a charge takes the
/// oldest (a duplicate of the connector's own service product must not stop every order); an
/// item's code must be unique, or it is a permanent error naming the code.
fn pick_product(line: &LineInput, ids: Option<&Vec<Id>>) -> Res<Option<Id>> {
    match ids.map(Vec::as_slice).unwrap_or_default() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        [first, ..] if line.charge => Ok(Some(*first)),
        _ => Err(crate::engine::several(
            "product.product",
            &format!("default_code {:?}", line.code),
        )),
    }
}

const LINE_FIELDS: &[&str] = &["product_id", "product_uom_qty", "price_unit", "discount"];

impl<M: IdMap> Engine<'_, M> {
    /// The `sale.order` of a Salla order: id map, then the marker. `None` when Odoo has none. The
    /// id map's order is read (the fields the status steps need, kept for the job: see
    /// [`Engine::order_snapshot`]) to be sure it still exists.
    pub async fn find_order(&self, order_id: u64) -> Res<Option<Id>> {
        let mapped = idmap::get(self.ids, self.merchant(), entity::ORDER, order_id).await?;
        self.find_order_mapped(order_id, mapped).await
    }

    /// [`Engine::find_order`] when the id map's row was already read.
    async fn find_order_mapped(&self, order_id: u64, mapped: Option<Mapped>) -> Res<Option<Id>> {
        if let Some(m) = mapped
            && self.order_snapshot(m.odoo_id).await?.is_some()
        {
            return Ok(Some(m.odoo_id));
        }
        self.find_order_by_marker(order_id).await
    }

    /// Whether a Salla order the id map does not know is certainly not in Odoo, so it is created
    /// without a search of its marker: it is dated from the store's `order_intents_since` on (from
    /// then every create of an order is recorded as an intent before it is made) and no intent of
    /// it is recorded (a try whose create's answer was lost leaves one: that order is searched).
    /// Orders from before (an earlier version's creates, a store added again over the same Odoo)
    /// and orders without a date are searched.
    async fn new_to_odoo(&self, order: &Order) -> Res<bool> {
        let since = self.opts.order_intents_since;
        let dated = order.date.as_ref().and_then(salla_date_instant);
        let (Some(since), Some(dated)) = (since, dated) else {
            return Ok(false);
        };
        if dated < since {
            return Ok(false);
        }
        let intent = idmap::get(self.ids, self.merchant(), entity::ORDER_INTENT, order.id).await?;
        Ok(intent.is_none())
    }

    async fn find_order_by_marker(&self, order_id: u64) -> Res<Option<Id>> {
        let mark = marker(self.merchant(), order_id);
        self.find_one(
            "sale.order",
            Domain::new().eq("client_order_ref", mark.as_str()),
            &mark,
        )
        .await
    }

    /// The products of an order's lines, in order: one look-up for all their codes (items,
    /// charges and the plan's adjustment lines), then the variants of products kept as templates,
    /// then one create for the codes Odoo does not know (when the store allows it). `extra`: the
    /// plan's adjustment lines (rounding, discount), whose products are found the same way and
    /// created by [`Engine::adjustment_product`].
    ///
    /// Products kept on the client from earlier orders ([`Engine::kept_product`]) are not looked
    /// up; their codes come back second, for the caller to forget them if Odoo refuses the order.
    async fn line_products(
        &self,
        lines: &[LineInput],
        extra: &[LineInput],
    ) -> Res<(Vec<Id>, Vec<String>)> {
        let all: Vec<&LineInput> = lines.iter().chain(extra).collect();
        // Read before the look-up: the codes it does not find are created under their locks
        // without a second look-up when no connector made any of them meanwhile.
        let counted = self
            .code_counts(all.iter().map(|l| l.code.as_str()))
            .await?;
        let mut found: BTreeMap<String, Vec<Id>> = BTreeMap::new();
        if let Some(counted) = &counted {
            for line in &all {
                if let Some(id) = self.kept_product(&line.code, counted) {
                    found.insert(line.code.clone(), vec![id]);
                }
            }
        }
        let kept: Vec<String> = found.keys().cloned().collect();
        let asked = self
            .products_by_codes(
                all.iter()
                    .map(|l| l.code.as_str())
                    .filter(|c| !found.contains_key(*c)),
            )
            .await?;
        found.extend(asked);
        let mut out: Vec<Option<Id>> = Vec::with_capacity(all.len());
        for line in &all {
            out.push(pick_product(line, found.get(&line.code))?);
        }
        let mut to_create: Vec<usize> = Vec::new();
        // Codes of lines whose product was found kept as a template (their options already tried).
        let mut known: BTreeSet<String> = BTreeSet::new();
        // Lines whose product is a variant named by the options, not by the code: not kept.
        let mut by_options: BTreeSet<usize> = BTreeSet::new();
        for (i, line) in lines.iter().enumerate() {
            if out[i].is_some() {
                continue;
            }
            // A code Odoo does not know (a variant without a SKU code, or the product's own SKU) of a
            // product kept as a template (crate::template): its variant by the options the customer chose.
            if let (false, Some(pid), false) =
                (line.charge, line.product_id, line.options.is_empty())
                && let Some(template) = self.template_mapped(pid).await?
            {
                if let Some(id) = self.variant_of_line(line, template).await? {
                    out[i] = Some(id);
                    by_options.insert(i);
                    continue;
                }
                known.insert(line.code.clone());
            }
            if !line.charge && !self.opts.create_unknown_skus {
                return Err(permanent(format!(
                    "unknown SKU {:?} ({}): no Odoo product has this internal reference; create it in Odoo, sync the \
                     product from Salla, or enable create_unknown_skus for the store",
                    line.code, line.name
                )));
            }
            to_create.push(i);
        }
        let mut made: BTreeSet<String> = BTreeSet::new();
        if !to_create.is_empty() {
            let created = self
                .create_line_products(lines, &to_create, &known, counted.as_ref())
                .await?;
            for i in to_create {
                out[i] = created.get(&lines[i].code).copied();
                // (A line found by its options never gets here.)
                if out[i].is_some() {
                    made.insert(lines[i].code.clone());
                }
            }
        }
        for (i, line) in extra.iter().enumerate() {
            let k = lines.len() + i;
            if out[k].is_none() {
                out[k] = Some(self.adjustment_product(&line.code).await?);
            }
        }
        let ids = out
            .into_iter()
            .zip(&all)
            .map(|(id, line)| {
                id.ok_or_else(|| {
                    crate::error::transient(format!(
                        "product {:?} was created but is not found in Odoo",
                        line.code
                    ))
                })
            })
            .collect::<Res<Vec<Id>>>()?;
        if let Some(counted) = &counted {
            for (i, (line, id)) in all.iter().zip(&ids).enumerate() {
                if !by_options.contains(&i) && !kept.contains(&line.code) {
                    self.keep_product(&line.code, *id, counted, made.contains(&line.code));
                }
            }
        }
        Ok((ids, kept))
    }

    /// Creates the products of the lines `which` that Odoo does not know, one `create` for a batch
    /// of codes: under each code's creation lock (taken in code order, so two orders never wait on
    /// each other), looked up again first, so a create whose answer was lost, or a product another
    /// job created meanwhile, is adopted; unless the creation counts read before the first look-up
    /// (`counted`) say no connector can have made any of them since (see [`Engine::code_counts`]).
    /// Code → id.
    async fn create_line_products(
        &self,
        lines: &[LineInput],
        which: &[usize],
        known: &BTreeSet<String>,
        counted: Option<&BTreeMap<i32, crate::idmap::Counts>>,
    ) -> Res<BTreeMap<String, Id>> {
        // One line per code (the first names the product).
        let mut by_code: BTreeMap<&str, &LineInput> = BTreeMap::new();
        for &i in which {
            by_code.entry(lines[i].code.as_str()).or_insert(&lines[i]);
        }
        let mut out = BTreeMap::new();
        // A line with options whose product was no template when looked at: one may be under way
        // (its sync holds the template's lock from before it looks for the SKUs until its variants
        // carry their codes, and records the template in the id map as soon as it is made). Wait
        // for that lock once, then look again: a template made meanwhile names the variant by the
        // options even when its sync failed before writing the codes. (The id map is read with no
        // lock held: each lock holds a database connection.)
        let mut looked: BTreeMap<u64, Option<Id>> = BTreeMap::new();
        for (code, line) in &by_code {
            let (false, Some(pid), false) = (line.charge, line.product_id, line.options.is_empty())
            else {
                continue;
            };
            if known.contains(*code) {
                continue;
            }
            let template = match looked.get(&pid) {
                Some(t) => *t,
                None => {
                    self.lock(&crate::template::template_lock(self.merchant(), pid))
                        .await?
                        .release()
                        .await;
                    let t = self.template_mapped(pid).await?;
                    looked.insert(pid, t);
                    t
                }
            };
            if let Some(template) = template
                && let Some(id) = self.variant_of_line(line, template).await?
            {
                out.insert((*code).to_owned(), id);
            }
        }
        by_code.retain(|code, _| !out.contains_key(*code));
        let codes: Vec<&str> = by_code.keys().copied().collect();
        // Each lock holds a database connection: a few locks at a time. A line of a Salla product
        // takes its template's creation lock before the SKU locks (the template's sync takes no SKU
        // lock, so no deadlock; both kinds are taken in a fixed order): a template being made writes
        // its variants' codes under it, and its variant is then found by the code instead of made a
        // second time.
        for chunk in lock_chunks(&codes, &by_code, CREATE_BATCH) {
            let template_locks: BTreeSet<u64> = chunk
                .iter()
                .filter_map(|c| template_of(by_code[c]))
                .collect();
            let mut guards = Vec::with_capacity(chunk.len() + template_locks.len());
            for pid in template_locks {
                guards.push(
                    self.lock(&crate::template::template_lock(self.merchant(), pid))
                        .await?,
                );
            }
            for code in &chunk {
                guards.push(self.lock(&format!("sku:{code}")).await?);
            }
            let chunk = chunk.as_slice();
            let result = self.create_locked(chunk, &by_code, counted).await;
            for g in guards {
                g.release().await;
            }
            out.extend(result?);
        }
        Ok(out)
    }

    async fn create_locked(
        &self,
        codes: &[&str],
        by_code: &BTreeMap<&str, &LineInput>,
        counted: Option<&BTreeMap<i32, crate::idmap::Counts>>,
    ) -> Res<BTreeMap<String, Id>> {
        // Every maker of a coded product counts it, the template's sync writing its variants'
        // codes too (`Engine::making_codes`).
        let unmade = self
            .codes_unmade_since(counted, codes.iter().copied())
            .await?;
        let found = if unmade {
            BTreeMap::new()
        } else {
            self.products_by_codes(codes.iter().copied()).await?
        };
        let mut out = BTreeMap::new();
        let mut missing: Vec<&LineInput> = Vec::new();
        for code in codes {
            let line = by_code[code];
            match pick_product(line, found.get(*code))? {
                Some(id) => {
                    out.insert((*code).to_owned(), id);
                }
                None => missing.push(line),
            }
        }
        let vals: Vec<Map<String, Value>> =
            missing.iter().map(|l| self.new_product_vals(l)).collect();
        let ids = self
            .making_codes(
                missing.iter().map(|l| l.code.as_str()),
                // With the products other jobs of this store create meanwhile (one cache clear in
                // Odoo instead of several).
                self.odoo.create_many_together("product.product", vals),
            )
            .await?;
        for (line, id) in missing.into_iter().zip(ids) {
            out.insert(line.code.clone(), id);
        }
        Ok(out)
    }

    /// The variant an item's options name, its Salla product being kept as `template`; `None` when
    /// the line's code decides (options that are none of its attributes). Options that name no
    /// variant of it are a transient error: its variants are being made (a product sync that
    /// failed half-way, or one running now) or lack a value yet, and a product of its own would
    /// sit outside the template for good; the product's sync makes it (if it never comes, the job
    /// is dead-lettered and replayable).
    async fn variant_of_line(&self, line: &LineInput, template: Id) -> Res<Option<Id>> {
        use crate::template::ByOptions;
        match self.variant_by_options_in(template, &line.options).await? {
            ByOptions::Variant(id) => Ok(Some(id)),
            ByOptions::CodeDecides => Ok(None),
            ByOptions::NoVariant => Err(crate::error::transient(format!(
                "SKU {:?} ({}): Salla product {} is a template in Odoo but none of its variants has \
                 this code or the options {}; waiting for the product's sync to make it",
                line.code,
                line.name,
                line.product_id.unwrap_or_default(),
                line.options
                    .iter()
                    .map(|(o, v)| format!("{o}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// The values of the product an order line creates (a storable item, or a service charge).
    fn new_product_vals(&self, line: &LineInput) -> Map<String, Value> {
        let kind = if line.charge {
            ProductKind::Service
        } else {
            ProductKind::Storable
        };
        let mut vals = Map::new();
        vals.insert("name".into(), json!(line.name));
        vals.insert("default_code".into(), json!(line.code));
        vals.insert("list_price".into(), money(line.price_unit));
        vals.insert("sale_ok".into(), json!(true));
        vals.extend(type_vals(&self.caps, kind));
        if let (Some(tax), false) = (self.opts.tax_id, line.charge) {
            vals.insert(
                self.caps.product_taxes_field.clone(),
                json!([[6, 0, [tax]]]),
            );
        }
        vals
    }

    /// Creates or updates the quotation of a Salla order. `raw` is the order's JSON. `version` is the
    /// event's source version; `create_only`: an existing order is left as it is (status jobs).
    pub async fn upsert_order(
        &self,
        order: &Order,
        raw: &Value,
        version: i64,
        create_only: bool,
    ) -> Res<Applied> {
        let merchant = self.merchant();
        let mapped = idmap::get(self.ids, merchant, entity::ORDER, order.id).await?;
        if let Some(m) = mapped
            && let Some(reason) = stale_reason(entity::ORDER, order.id, m.source_version, version)
        {
            return Ok(Applied::Skipped { reason });
        }
        // An order to rewrite is read by the update anyway: the id map's id is trusted until then
        // (a record gone from Odoo is found again by its marker, or created, below).
        let existing = match (mapped, create_only) {
            (Some(m), false) => Some(m.odoo_id),
            (None, _) if self.new_to_odoo(order).await? => None,
            _ => self.find_order_mapped(order.id, mapped).await?,
        };
        if let (Some(id), true) = (existing, create_only) {
            self.touch("sale.order", id);
            return Ok(Applied::Applied {
                odoo_ids: self.touched(),
                note: None,
            });
        }

        // Currency and amounts first: an order that cannot be written in its currency, or whose lines
        // cannot reach Salla's total, writes nothing at all (see `crate::currency`).
        let currency = crate::currency::order_currency(order, self.opts.currency.as_deref())
            .map_err(permanent)?;
        let lines = order_lines(order, raw, self.opts.tax_id, self.opts.prices_include_tax)
            .map_err(permanent)?;
        let plan =
            crate::currency::plan_amounts(order, &lines, &currency, self.opts.rounding_max_cents)
                .map_err(permanent)?;
        let pricelist = self.order_pricelist(&currency, order.id).await?;

        // Customer and delivery address.
        let customer = order
            .customer
            .as_ref()
            .ok_or_else(|| permanent(format!("order {} has no customer", order.id)))?;
        let raw_customer = raw.get("customer").unwrap_or(&Value::Null);
        let name = crate::customer::customer_name(
            customer,
            raw_customer.get("name").and_then(Value::as_str),
        );
        // The delivery address, for a customer made now to be made with it (its parent is set
        // by the create).
        let address = match &order.shipping {
            Some(s) => {
                let country = self
                    .country_id(crate::customer::shipping_country(s).as_deref())
                    .await?;
                crate::customer::delivery_vals(s, &name, 0, country)
            }
            None => None,
        };
        let partner = self
            .ensure_customer_with(customer, raw_customer, version, address.as_ref())
            .await;
        if partner.is_err()
            && let Some(s) = &order.shipping
        {
            self.forget_countries(&[crate::customer::shipping_country(s).as_deref()]);
        }
        let partner = partner?;
        // `None`: left to Odoo (the child made with the customer now, for an order created now).
        let shipping_partner = match &order.shipping {
            Some(s) => match self
                .ensure_delivery_address(s, partner, &name, existing.is_none())
                .await?
            {
                ShipTo::Child(id) => Some(id),
                ShipTo::NoAddress => Some(partner),
                ShipTo::LeftToOdoo => None,
            },
            None => Some(partner),
        };

        // Lines.
        let tax_field = self.caps.sale_line_tax_field.clone();
        let (products, kept_codes) = self.line_products(&lines, &plan.extra).await?;
        let mut desired = Vec::with_capacity(products.len());
        for (i, (line, product)) in lines.iter().chain(&plan.extra).zip(products).enumerate() {
            self.touch("product.product", product);
            let delivery = i < lines.len() && self.caps.delivery_lines;
            desired.push(line_vals(line, product, &tax_field, delivery));
        }

        let mark = marker(merchant, order.id);
        let mut header = Map::new();
        header.insert("partner_id".into(), json!(partner));
        header.insert("partner_invoice_id".into(), json!(partner));
        if let Some(p) = shipping_partner {
            header.insert("partner_shipping_id".into(), json!(p));
        }
        header.insert("client_order_ref".into(), json!(mark));
        header.insert(
            "origin".into(),
            json!(match order.reference_id {
                Some(r) => format!("Salla #{r} (order {})", order.id),
                None => format!("Salla order {}", order.id),
            }),
        );
        if let Some(t) = order.date.as_ref().and_then(salla_date_instant) {
            header.insert("date_order".into(), json!(odoo_datetime(t)));
        }
        if let Some(w) = self.opts.warehouse_id {
            header.insert("warehouse_id".into(), json!(w));
        }
        // Never `currency_id`: Odoo recomputes it from the pricelist.
        header.insert("pricelist_id".into(), json!(pricelist));

        let written = self
            .write_order(
                order.id, version, existing, header, desired, &tax_field, &plan,
            )
            .await;
        // The order names its delivery address now (or failed: the retry finds the customer).
        self.release_address_hold().await;
        if written.is_err() {
            // The kept pricelist may be what Odoo refused: the retry resolves it again.
            self.forget_pricelist(&currency);
        }
        let written = match written {
            // A kept product may be what Odoo refused (deleted, or changed by hand in Odoo since):
            // the retry looks the codes up again, so this failure is not final yet.
            Err(e) if !kept_codes.is_empty() => {
                for code in &kept_codes {
                    self.forget_product(code);
                }
                return Err(crate::error::transient(format!(
                    "{} (the products kept for {} are looked up again on retry)",
                    e.0,
                    kept_codes.join(", ")
                )));
            }
            other => other,
        };
        let (order_id, written) = written?;
        // The id map first: a total that fails below leaves the order findable for the replay.
        idmap::put(
            self.ids,
            merchant,
            entity::ORDER,
            order.id,
            "sale.order",
            order_id,
            version,
        )
        .await?;
        self.touch("sale.order", order_id);
        let mut notes: Vec<String> = written.note.into_iter().collect();
        if written.lines {
            notes.extend(plan.notes.iter().cloned());
        }
        if written.editable {
            // A taxed order: Odoo's own total, read back (unless nothing was written), decides the
            // rounding line.
            let known = (!written.lines && !written.header)
                .then_some(written.known)
                .flatten();
            let rounding = if written.lines {
                Vec::new()
            } else {
                written.rounding
            };
            if let Some(n) = self
                .hold_total(order_id, order.id, &plan, known, &rounding, &tax_field)
                .await?
            {
                notes.push(n);
            }
        }
        Ok(Applied::Applied {
            odoo_ids: self.touched(),
            note: (!notes.is_empty()).then(|| notes.join("; ")),
        })
    }

    /// The order written: the existing one (`existing`, or the one its marker finds if that is
    /// gone) brought up to date, else a new one. Its id and what was written.
    #[allow(clippy::too_many_arguments)]
    async fn write_order(
        &self,
        salla_id: u64,
        version: i64,
        existing: Option<Id>,
        header: Map<String, Value>,
        desired: Vec<Map<String, Value>>,
        tax_field: &str,
        plan: &crate::currency::AmountPlan,
    ) -> Res<(Id, Written)> {
        let updated = match existing {
            Some(id) => match self
                .update_order(id, &header, &desired, tax_field, plan)
                .await?
            {
                Some(w) => Some((id, w)),
                // The id map's order is gone from Odoo: its marker, else a new order.
                None => match self.find_order_by_marker(salla_id).await? {
                    Some(other) if other != id => self
                        .update_order(other, &header, &desired, tax_field, plan)
                        .await?
                        .map(|w| (other, w)),
                    _ => None,
                },
            },
            None => None,
        };
        Ok(match updated {
            Some(u) => u,
            None => {
                let mut vals = header;
                vals.insert(
                    "order_line".into(),
                    Value::Array(desired.into_iter().map(|d| json!([0, 0, d])).collect()),
                );
                // The intent first: should the create's answer be lost, the next try searches the
                // marker instead of trusting that the order is new (see `Engine::new_to_odoo`).
                idmap::put(
                    self.ids,
                    self.merchant(),
                    entity::ORDER_INTENT,
                    salla_id,
                    "sale.order",
                    0,
                    version,
                )
                .await?;
                let id = self.odoo.create("sale.order", vals).await?;
                // A new quotation: nothing to read to know its state.
                let mut snap = Map::new();
                snap.insert("state".into(), json!("draft"));
                snap.insert("locked".into(), json!(false));
                snap.insert("picking_ids".into(), json!([]));
                snap.insert("invoice_ids".into(), json!([]));
                self.keep_order(id, snap);
                (
                    id,
                    Written {
                        lines: true,
                        editable: true,
                        ..Written::default()
                    },
                )
            }
        })
    }

    /// Brings an existing order to the desired header and lines while Odoo allows edits; otherwise
    /// describes what was not applied (a total or currency that differs from Salla's included). For a
    /// taxed order (`plan` not exact) the rounding lines are left out of the comparison: they follow
    /// Odoo's own total ([`Engine::hold_total`]).
    /// `None`: the order does not exist (any more).
    async fn update_order(
        &self,
        id: Id,
        header: &Map<String, Value>,
        desired: &[Map<String, Value>],
        tax_field: &str,
        plan: &crate::currency::AmountPlan,
    ) -> Res<Option<Written>> {
        let snapshot = self.snapshot_fields();
        let mut fields: Vec<&str> = header.keys().map(String::as_str).collect();
        fields.extend(["order_line", "amount_total", "currency_id"]);
        fields.extend(snapshot.iter().copied());
        let Some(current) = self.read("sale.order", id, &fields).await? else {
            return Ok(None);
        };
        // What the status steps need, kept for the job (a rewrite of the lines changes none of it).
        self.keep_order(
            id,
            snapshot
                .iter()
                .filter_map(|f| Some(((*f).to_owned(), current.get(*f)?.clone())))
                .collect(),
        );
        let line_ids = x2many_ids(current.get("order_line").unwrap_or(&Value::Null));
        let mut line_fields = LINE_FIELDS.to_vec();
        line_fields.push(tax_field);
        let lines: Vec<Record> = self
            .odoo
            .read("sale.order.line", &line_ids, &line_fields)
            .await?;
        let total = crate::currency::decimal_of(current.get("amount_total"));
        let currency = crate::currency::currency_name(current.get("currency_id"));
        let rounding = if plan.exact {
            Vec::new()
        } else {
            crate::currency::rounding_lines(&lines)
        };
        let compared: Vec<Record> = if plan.exact {
            lines.clone()
        } else {
            lines
                .iter()
                .filter(|l| !crate::currency::is_rounding_line(l))
                .cloned()
                .collect()
        };
        let mut changes = crate::engine::diff(&current, header);
        // The order date is kept once set (Odoo resets it on confirmation).
        changes.remove("date_order");
        let lines_differ = !same_lines(&compared, desired, tax_field);
        let state = current
            .get("state")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let locked = current
            .get("locked")
            .is_some_and(|v| v.as_bool() == Some(true));
        let editable = matches!(state, "draft" | "sent") && !locked;
        let mut out = Written {
            editable,
            known: Some((total, currency.clone())),
            rounding,
            ..Written::default()
        };
        if !editable {
            let mut what = Vec::new();
            if lines_differ {
                what.push(describe_line_change(&lines, desired));
            }
            if !changes.is_empty() {
                what.push(format!(
                    "fields {}",
                    changes.keys().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
            if let Some(c) = currency.as_deref().filter(|c| *c != plan.currency) {
                what.push(format!("currency {c} in Odoo, {} in Salla", plan.currency));
            }
            if let Some(t) = plan.salla_total
                && (t - total).abs() >= Decimal::new(5, 3)
            {
                what.push(format!(
                    "total {total:.2} in Odoo, {t:.2} {} in Salla",
                    plan.currency
                ));
            }
            if what.is_empty() {
                return Ok(Some(out));
            }
            let status = match state {
                "cancel" => "cancelled",
                "draft" | "sent" => "locked",
                _ => "confirmed",
            };
            out.note = Some(format!(
                "order is {status} in Odoo; change recorded, not applied: {}",
                what.join("; ")
            ));
            return Ok(Some(out));
        }
        if changes.is_empty() && !lines_differ {
            return Ok(Some(out));
        }
        out.header = !changes.is_empty();
        if lines_differ {
            let mut cmds: Vec<Value> = line_ids.iter().map(|l| json!([2, l, 0])).collect();
            cmds.extend(desired.iter().map(|d| json!([0, 0, d])));
            changes.insert("order_line".into(), Value::Array(cmds));
            out.lines = true;
        }
        self.odoo.write("sale.order", &[id], changes).await?;
        Ok(Some(out))
    }
}

/// What [`Engine::update_order`] did to an existing order, and what it read of it.
#[derive(Debug, Default)]
struct Written {
    /// The lines were (re)written: the plan's notes apply.
    lines: bool,
    /// Header fields were written (the pricelist, hence the currency, may have changed).
    header: bool,
    /// Odoo allows edits (a new order, a draft not locked).
    editable: bool,
    /// `amount_total` and currency as read before any write.
    known: Option<(Decimal, Option<String>)>,
    /// The order's rounding lines as read (a taxed order's), id and amount.
    rounding: Vec<(Id, Decimal)>,
    /// What was not applied, for the sync log.
    note: Option<String>,
}

/// The Salla product whose template lock an order line's product creation takes (items only).
fn template_of(line: &LineInput) -> Option<u64> {
    (!line.charge).then_some(line.product_id).flatten()
}

/// `codes` in order, cut so that no chunk needs more than `max` locks (its SKU locks plus the
/// distinct template locks of its lines; at least one code per chunk).
fn lock_chunks<'a>(
    codes: &[&'a str],
    by_code: &BTreeMap<&str, &LineInput>,
    max: usize,
) -> Vec<Vec<&'a str>> {
    let mut chunks: Vec<Vec<&'a str>> = Vec::new();
    let mut current: Vec<&'a str> = Vec::new();
    let mut templates: BTreeSet<u64> = BTreeSet::new();
    for &code in codes {
        let t = template_of(by_code[code]);
        let added = 1 + usize::from(t.is_some_and(|t| !templates.contains(&t)));
        if !current.is_empty() && current.len() + templates.len() + added > max {
            chunks.push(std::mem::take(&mut current));
            templates.clear();
        }
        current.push(code);
        templates.extend(t);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

/// The source version of an order event.
pub fn order_version(order: &Order, created_at: &str) -> i64 {
    source_version(order.updated_at.as_ref(), created_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_order() -> (Order, Value) {
        let raw = json!({
            "id": 2116149737u64, "reference_id": 41027662,
            "amounts": {
                "sub_total": {"amount": 186}, "shipping_cost": {"amount": 15},
                "cash_on_delivery": {"amount": 0}, "tax": {"percent": "0.00", "amount": {"amount": 0}},
                "discounts": [{"discount": "5.00"}], "total": {"amount": 196}
            },
            "customer": {"id": 1},
            "items": [
                {"id": 70815337, "name": "بيتزا", "sku": "54534534", "quantity": 1,
                 "amounts": {"price_without_tax": {"amount": 186}, "total_discount": {"amount": 5},
                             "tax": {"percent": "0.00", "amount": {"amount": 0}}, "total": {"amount": 186}}},
                {"id": 2, "name": "no sku", "sku": "", "product_id": 2047473815u64, "quantity": "2",
                 "amounts": {"price_without_tax": {"amount": "50"}, "total_discount": {"amount": 100},
                             "tax": {"percent": "15", "amount": {"amount": 0}}}}
            ]
        });
        (serde_json::from_value(raw.clone()).unwrap(), raw)
    }

    #[test]
    fn discounts_are_percentages_of_the_gross_line() {
        assert_eq!(
            discount_percent(Decimal::from(186), Decimal::ONE, Decimal::from(5)).to_string(),
            "2.69"
        );
        assert_eq!(
            discount_percent(Decimal::from(50), Decimal::from(2), Decimal::from(100)),
            Decimal::from(100)
        );
        assert_eq!(
            discount_percent(Decimal::from(50), Decimal::from(2), Decimal::from(500)),
            Decimal::from(100)
        );
        assert_eq!(
            discount_percent(Decimal::ZERO, Decimal::ONE, Decimal::from(5)),
            Decimal::ZERO
        );
        assert_eq!(
            discount_percent(Decimal::from(10), Decimal::ONE, Decimal::ZERO),
            Decimal::ZERO
        );
    }

    #[test]
    fn taxes_come_from_the_store_else_follow_salla() {
        assert_eq!(line_taxes(Some(4), Some(Decimal::ZERO)), Some(vec![4]));
        assert_eq!(line_taxes(None, Some(Decimal::ZERO)), Some(vec![]));
        assert_eq!(line_taxes(None, Some(Decimal::from(15))), None);
        assert_eq!(line_taxes(None, None), None);
    }

    #[test]
    fn order_maps_to_item_lines_and_a_shipping_line() {
        let (order, raw) = fixture_order();
        let lines = order_lines(&order, &raw, None, false).unwrap();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].code, "54534534");
        assert_eq!(lines[0].price_unit, Decimal::from(186));
        assert_eq!(lines[0].discount.to_string(), "2.69");
        assert_eq!(lines[0].taxes, Some(vec![]));
        assert_eq!(lines[1].code, "SALLA-2047473815");
        assert_eq!(lines[1].quantity, Decimal::from(2));
        assert_eq!(lines[1].discount, Decimal::from(100));
        assert_eq!(lines[1].taxes, None);
        assert_eq!(lines[2].code, SHIPPING_CODE);
        assert_eq!(lines[2].price_unit, Decimal::from(15));
        assert!(lines[2].charge);

        let with_tax = order_lines(&order, &raw, Some(9), true).unwrap();
        assert_eq!(with_tax[0].taxes, Some(vec![9]));
        assert_eq!(with_tax[1].price_unit.to_string(), "57.50");
        assert_eq!(with_tax[2].taxes, Some(vec![9]));
    }

    #[test]
    fn items_without_sku_or_product_are_refused() {
        let raw = json!({"id": 5, "items": [{"id": 6, "quantity": 1, "sku": null}]});
        let order: Order = serde_json::from_value(raw.clone()).unwrap();
        let err = order_lines(&order, &raw, None, false).unwrap_err();
        assert!(err.contains("item 6"), "{err}");
    }

    #[test]
    fn line_values_use_the_server_tax_field() {
        let (order, raw) = fixture_order();
        let lines = order_lines(&order, &raw, Some(3), false).unwrap();
        let v18 = line_vals(&lines[0], 11, "tax_id", true);
        assert_eq!(v18["tax_id"], json!([[6, 0, [3]]]));
        assert_eq!(v18["price_unit"], json!(186.0));
        assert_eq!(v18["discount"], json!(2.69));
        assert!(!v18.contains_key("is_delivery"));
        let v19 = line_vals(&lines[2], 12, "tax_ids", true);
        assert_eq!(v19["tax_ids"], json!([[6, 0, [3]]]));
        assert_eq!(v19["is_delivery"], json!(true));
        assert!(!line_vals(&lines[2], 12, "tax_ids", false).contains_key("is_delivery"));
    }

    #[test]
    fn lines_compare_in_any_order_and_in_read_shape() {
        let desired = vec![
            line_vals(
                &LineInput {
                    code: "A".into(),
                    name: "A".into(),
                    quantity: Decimal::ONE,
                    price_unit: Decimal::from(10),
                    discount: Decimal::ZERO,
                    taxes: Some(vec![1]),
                    charge: false,
                    ..Default::default()
                },
                5,
                "tax_id",
                false,
            ),
            line_vals(
                &LineInput {
                    code: "B".into(),
                    name: "B".into(),
                    quantity: Decimal::from(2),
                    price_unit: Decimal::from(3),
                    discount: Decimal::ZERO,
                    taxes: Some(vec![]),
                    charge: false,
                    ..Default::default()
                },
                6,
                "tax_id",
                false,
            ),
        ];
        let read: Vec<Record> = serde_json::from_value(json!([
            {"id": 2, "product_id": [6, "B"], "product_uom_qty": 2.0, "price_unit": 3.0, "discount": 0.0, "tax_id": []},
            {"id": 1, "product_id": [5, "A"], "product_uom_qty": 1.0, "price_unit": 10.0, "discount": 0.0, "tax_id": [1]}
        ])).unwrap();
        assert!(same_lines(&read, &desired, "tax_id"));
        let mut changed = read.clone();
        changed[0].insert("product_uom_qty".into(), json!(3.0));
        assert!(!same_lines(&changed, &desired, "tax_id"));
        assert!(!same_lines(&read[..1], &desired, "tax_id"));
        let note = describe_line_change(&changed, &desired);
        assert!(note.contains("untaxed total 19.00 → 16.00"), "{note}");
    }
}
