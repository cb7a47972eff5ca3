//! Products with options → one `product.template` with attribute lines and one variant per Salla
//! SKU (the store option `variants = templates`, the default for new stores).
//!
//! # The mapping
//! Each Salla option a SKU uses (`skus[].related_option_values` → `options[].values[].id`) is an
//! attribute line; attributes (`create_variant` "always") and their values are matched in Odoo by
//! name and created when missing, so products share them as Odoo intends. Odoo makes one
//! `product.product` per combination of the lines' values; the variant of each Salla SKU is the
//! one with the SKU's values, and it carries the SKU's code (`default_code`: the SKU, or
//! `SALLA-<product id>-<sku id>` when it has none, as in the separate layout, so the stock push
//! names it the same way), barcode, cost and the product's active flag. Combinations Salla has no
//! SKU for (Odoo makes the full cross product) and variants whose SKU left Salla are archived
//! (and give up a code that is now another variant's).
//!
//! # Prices
//! Odoo prices a variant as the template's `list_price` plus the `price_extra` of each of its
//! values (`product.template.attribute.value`): writing a variant's `lst_price` would move the
//! template's price, and every variant with it. So the template lists the product's price and
//! each value gets the extra that makes `product price + extras = SKU price` for every SKU —
//! always possible with one option, and with several when Salla's SKU prices add up that way
//! (an amount per value). When they do not (a price that depends on the combination), the
//! extras stay zero, the variants list at the product's price and the outcome's note says so:
//! order lines carry Salla's own prices anyway (`crate::order`), so Odoo's totals are Salla's.
//! With a price-included store tax the extras are scaled like the product price (`taxed_price /
//! price`).
//!
//! # Exactly once
//! The template is found by the id map (`product` → `product.template`), else by its variants'
//! codes (a template this connector made, or one the merchant made with those codes), else — a
//! template whose create answered nothing, which has no codes yet — by its name among templates
//! whose variants carry no code and whose attributes are the product's; only then is it created,
//! under a creation lock, and recorded at once (watermark 0) so a crash before the codes are
//! written resumes on it. Everything after the create is a read and a write of differences.
//! A template without codes is open to any product of its name, of any store of that Odoo: its
//! look-up, creation and codes happen under a lock on the name, and a product whose recorded
//! template (watermark 0) meanwhile got another product's codes leaves it to that product and
//! gets a template of its own.
//! A product Odoo already has as separate products (synced before templates, made by an order
//! with `--create-unknown-skus`, or by hand) keeps that layout: [`TemplateOutcome::Separate`].

use std::collections::{BTreeMap, BTreeSet};

use odoo::{Domain, Id, Record, SearchOptions, many2one_id, x2many_ids};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use salla_odoo_core::StockMaster;
use salla_odoo_salla::payload::Product;
use serde_json::{Map, Value, json};

use crate::engine::{Engine, money, round2, several};
use crate::error::{Res, permanent};
use crate::idmap::{self, IdMap, entity};
use crate::product::{ProductKind, product_code, product_kind, type_vals, variant_code};

/// What an order line's options find of its template ([`Engine::variant_by_options_in`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ByOptions {
    /// The product is not kept as a template, or the options are none of its attributes: the
    /// line's code decides, as for any product.
    CodeDecides,
    /// The template's one variant with exactly those values.
    Variant(Id),
    /// A template, but the options name no single variant of it (yet).
    NoVariant,
}

/// The creation lock of Salla product `product_id`'s template (see [`Engine::lock`]), which an
/// order making one of its SKUs takes too.
pub(crate) fn template_lock(merchant: salla_odoo_core::MerchantId, product_id: u64) -> String {
    format!("template:{merchant}:{product_id}")
}

/// One attribute line: a Salla option and the values its SKUs use, in Salla's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Axis {
    pub name: String,
    pub values: Vec<String>,
}

/// One Salla SKU: the variant with its values.
#[derive(Debug, Clone, PartialEq)]
pub struct VariantPlan {
    pub salla_id: u64,
    pub code: String,
    /// The index of its value on each axis.
    pub combination: Vec<usize>,
    pub barcode: Option<String>,
    pub cost: Option<Decimal>,
    /// On-hand quantity Salla reports (used only when Salla is the stock master).
    pub quantity: Option<Decimal>,
}

/// The `price_extra` of each value.
#[derive(Debug, Clone, PartialEq)]
pub enum Extras {
    /// Per axis, per value: product price + the extras of a SKU's values = the SKU's price.
    Exact(Vec<Vec<Decimal>>),
    /// Salla's SKU prices are not the product's price plus an amount per value: all zero.
    NotRepresentable,
    /// The event carries no price: the extras are left as they are.
    Unknown,
}

/// A Salla product with options, as one template.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplatePlan {
    pub salla_id: u64,
    /// The product's own code (its SKU or `SALLA-<id>`): a product.product with it means the
    /// product is in Odoo in the separate layout.
    pub code: String,
    /// Template values: `name`, `list_price`, `active` (what the payload carries).
    pub vals: Map<String, Value>,
    pub fallback_name: String,
    pub kind: ProductKind,
    pub category: Option<String>,
    pub axes: Vec<Axis>,
    pub variants: Vec<VariantPlan>,
    pub extras: Extras,
}

impl TemplatePlan {
    /// The active flag the event gives the product (and its SKUs' variants).
    pub fn active(&self) -> Option<bool> {
        self.vals.get("active").and_then(Value::as_bool)
    }

    /// Sets the active flag (a newer status event wins over the event's own).
    pub fn set_active(&mut self, active: bool) {
        self.vals.insert("active".into(), json!(active));
    }

    /// The values of a SKU's variant: (attribute, value) per axis.
    fn key(&self, v: &VariantPlan) -> Vec<(String, String)> {
        self.axes
            .iter()
            .zip(&v.combination)
            .map(|(a, i)| (a.name.clone(), a.values[*i].clone()))
            .collect()
    }
}

fn trimmed(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// The template a Salla product event maps to: `Ok(None)` when the product has no options or no
/// SKUs (a plain product: the separate layout's one product), `Err(why)` when its options and
/// SKUs do not line up (a SKU without values, values of an unknown option, two SKUs with the same
/// values or the same code): the caller keeps the separate layout and says why.
pub fn template_plan(
    p: &Product,
    deleted: bool,
    prices_include_tax: bool,
) -> Result<Option<TemplatePlan>, String> {
    if p.skus.is_empty() || p.options.is_empty() {
        return Ok(None);
    }
    // Salla value id → (option index, value index).
    let mut value_of: BTreeMap<u64, (usize, usize)> = BTreeMap::new();
    let mut names = BTreeSet::new();
    for (oi, o) in p.options.iter().enumerate() {
        let name = o.name.trim();
        if !names.insert(name) {
            return Err(format!("two options are named {name:?}"));
        }
        let mut values = BTreeSet::new();
        for (vi, v) in o.values.iter().enumerate() {
            if !values.insert(v.name.trim()) {
                return Err(format!("option {name:?} has two values named {:?}", v.name));
            }
            if value_of.insert(v.id, (oi, vi)).is_some() {
                return Err(format!("option value id {} is used twice", v.id));
            }
        }
    }
    // Each SKU's value per option.
    let mut chosen: Vec<BTreeMap<usize, usize>> = Vec::with_capacity(p.skus.len());
    for s in &p.skus {
        let mut per_option = BTreeMap::new();
        if s.related_option_values.is_empty() {
            return Err(format!("SKU {} names no option values", s.id));
        }
        for id in &s.related_option_values {
            let (oi, vi) = *value_of.get(id).ok_or_else(|| {
                format!("SKU {} names option value {id}, which no option has", s.id)
            })?;
            if per_option.insert(oi, vi).is_some_and(|prev| prev != vi) {
                return Err(format!(
                    "SKU {} has two values of option {:?}",
                    s.id, p.options[oi].name
                ));
            }
        }
        chosen.push(per_option);
    }
    // Axes: the options the SKUs use; every SKU has a value on each.
    let used: BTreeSet<usize> = chosen.iter().flat_map(|c| c.keys().copied()).collect();
    let mut axes = Vec::new();
    // Per option index: (axis index, Salla value index → axis value index).
    let mut axis_of: BTreeMap<usize, (usize, BTreeMap<usize, usize>)> = BTreeMap::new();
    for &oi in &used {
        let o = &p.options[oi];
        let in_use: BTreeSet<usize> = chosen.iter().filter_map(|c| c.get(&oi).copied()).collect();
        let mut values = Vec::new();
        let mut index = BTreeMap::new();
        for vi in in_use {
            index.insert(vi, values.len());
            values.push(o.values[vi].name.trim().to_owned());
        }
        axis_of.insert(oi, (axes.len(), index));
        axes.push(Axis {
            name: o.name.trim().to_owned(),
            values,
        });
    }
    let mut variants = Vec::with_capacity(p.skus.len());
    let mut combos = BTreeSet::new();
    let mut codes = BTreeSet::new();
    let unlimited = p.unlimited_quantity == Some(true);
    for (s, c) in p.skus.iter().zip(&chosen) {
        let mut combination = vec![0; axes.len()];
        for &oi in &used {
            let vi = c.get(&oi).ok_or_else(|| {
                format!(
                    "SKU {} has no value of option {:?}, which other SKUs have",
                    s.id, p.options[oi].name
                )
            })?;
            let (ai, index) = &axis_of[&oi];
            combination[*ai] = index[vi];
        }
        if !combos.insert(combination.clone()) {
            return Err(format!("two SKUs have the values of SKU {}", s.id));
        }
        let code = variant_code(s.sku.as_deref(), p.id, s.id);
        if !codes.insert(code.clone()) {
            return Err(format!("two SKUs have the SKU {code:?}"));
        }
        variants.push(VariantPlan {
            salla_id: s.id,
            code,
            combination,
            barcode: trimmed(s.barcode.as_deref()).map(str::to_owned),
            cost: s.cost_price.as_ref().or(p.cost()).map(|m| m.amount),
            quantity: if unlimited { None } else { s.stock_quantity },
        });
    }

    let name = trimmed(p.name.as_deref()).map(str::to_owned);
    let active = if deleted {
        Some(false)
    } else {
        match trimmed(p.status.as_deref()) {
            Some("hidden") => Some(false),
            Some(_) => Some(true),
            None => None,
        }
    };
    let pre_tax = p
        .price
        .as_ref()
        .or(p.regular_price.as_ref())
        .map(|m| m.amount);
    let taxed = p.taxed_price.as_ref().map(|m| m.amount);
    let (list_price, factor) = match (prices_include_tax, pre_tax, taxed) {
        (true, Some(pre), Some(t)) if pre > Decimal::ZERO => (Some(t), Some(t / pre)),
        (true, None, Some(t)) => (Some(t), None),
        (_, pre, _) => (pre, None),
    };
    let extras = match pre_tax {
        None => Extras::Unknown,
        Some(base) => {
            let prices: Vec<Decimal> = p
                .skus
                .iter()
                .map(|s| s.price.as_ref().map_or(base, |m| m.amount))
                .collect();
            match solve_extras(base, &axes, &variants, &prices) {
                Some(e) => Extras::Exact(
                    e.into_iter()
                        .map(|axis| {
                            axis.into_iter()
                                .map(|x| round2(factor.map_or(x, |f| x * f)))
                                .collect()
                        })
                        .collect(),
                ),
                None => Extras::NotRepresentable,
            }
        }
    };
    let mut vals = Map::new();
    if let Some(n) = &name {
        vals.insert("name".into(), json!(n));
    }
    if let Some(price) = list_price {
        vals.insert("list_price".into(), money(price));
    }
    if let Some(a) = active {
        vals.insert("active".into(), json!(a));
    }
    Ok(Some(TemplatePlan {
        salla_id: p.id,
        code: product_code(p.sku.as_deref(), p.id),
        vals,
        fallback_name: format!("Salla product {}", p.id),
        kind: product_kind(p.product_type.as_deref()),
        category: p
            .categories
            .first()
            .and_then(|c| trimmed(c.name.as_deref()))
            .map(str::to_owned),
        axes,
        variants,
        extras,
    }))
}

/// Extras `e[axis][value]` with `base + Σ e[axis][value of the SKU] = price` for every SKU, or
/// `None` when there are none (to the cent). The equations are solved exactly (Gauss–Jordan over
/// the rationals); of the many solutions (an amount can move between two options), the one
/// where the first value of every option but the first costs nothing extra is taken when the
/// SKUs allow it, so the first option's extras carry the difference from the product price.
pub fn solve_extras(
    base: Decimal,
    axes: &[Axis],
    variants: &[VariantPlan],
    prices: &[Decimal],
) -> Option<Vec<Vec<Decimal>>> {
    // Unknowns in the order their pivots are preferred: the first option's values, the other
    // options' other values, and last (left free, at zero) the other options' first values.
    let mut cols: Vec<(usize, usize)> = Vec::new();
    for (ai, a) in axes.iter().enumerate() {
        let from = usize::from(ai > 0);
        cols.extend((from..a.values.len()).map(|vi| (ai, vi)));
    }
    cols.extend(
        (1..axes.len())
            .filter(|ai| !axes[*ai].values.is_empty())
            .map(|ai| (ai, 0)),
    );
    let col_of: BTreeMap<(usize, usize), usize> =
        cols.iter().enumerate().map(|(c, k)| (*k, c)).collect();
    // Integers: amounts in units of their finest decimal place.
    let scale = prices
        .iter()
        .chain([&base])
        .map(Decimal::scale)
        .max()
        .unwrap_or(0)
        .min(6);
    let unit = Decimal::from(10i64.pow(scale));
    let mut rows: Vec<(Vec<Ratio>, Ratio)> = Vec::with_capacity(variants.len());
    for (v, price) in variants.iter().zip(prices) {
        let mut coeffs = vec![Ratio::ZERO; cols.len()];
        for (ai, vi) in v.combination.iter().enumerate() {
            coeffs[col_of[&(ai, *vi)]] = Ratio::ONE;
        }
        let rhs = ((*price - base) * unit).trunc().to_i128()?;
        rows.push((coeffs, Ratio::int(rhs)));
    }
    // Gauss–Jordan.
    let mut pivots: Vec<(usize, usize)> = Vec::new();
    let mut r = 0;
    for c in 0..cols.len() {
        let Some(p) = (r..rows.len()).find(|i| !rows[*i].0[c].is_zero()) else {
            continue;
        };
        rows.swap(r, p);
        let inv = rows[r].0[c].inverse()?;
        let (coeffs, rhs) = &mut rows[r];
        coeffs.iter_mut().try_for_each(|x| x.mul_assign(inv))?;
        rhs.mul_assign(inv)?;
        let pivot = rows[r].clone();
        for (i, row) in rows.iter_mut().enumerate() {
            let f = row.0[c];
            if i == r || f.is_zero() {
                continue;
            }
            for (x, y) in row.0.iter_mut().zip(&pivot.0) {
                x.sub_mul(f, *y)?;
            }
            row.1.sub_mul(f, pivot.1)?;
        }
        pivots.push((r, c));
        r += 1;
    }
    if rows[r..].iter().any(|(_, rhs)| !rhs.is_zero()) {
        return None;
    }
    let mut extras: Vec<Vec<Decimal>> = axes
        .iter()
        .map(|a| vec![Decimal::ZERO; a.values.len()])
        .collect();
    for (r, c) in pivots {
        let (ai, vi) = cols[c];
        extras[ai][vi] = round2(rows[r].1.to_decimal()? / unit);
    }
    let exact = variants.iter().zip(prices).all(|(v, price)| {
        let sum: Decimal = v
            .combination
            .iter()
            .enumerate()
            .map(|(ai, vi)| extras[ai][*vi])
            .sum();
        base + sum == *price
    });
    exact.then_some(extras)
}

/// An exact fraction for [`solve_extras`] (`None` from an operation: it overflowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ratio {
    num: i128,
    den: i128,
}

impl Ratio {
    const ZERO: Ratio = Ratio { num: 0, den: 1 };
    const ONE: Ratio = Ratio { num: 1, den: 1 };

    fn int(n: i128) -> Ratio {
        Ratio { num: n, den: 1 }
    }

    fn is_zero(self) -> bool {
        self.num == 0
    }

    fn new(num: i128, den: i128) -> Option<Ratio> {
        if den == 0 {
            return None;
        }
        let g = gcd(num.unsigned_abs(), den.unsigned_abs()).max(1);
        let g = i128::try_from(g).ok()?;
        let sign = if den < 0 { -1 } else { 1 };
        Some(Ratio {
            num: sign * num / g,
            den: sign * den / g,
        })
    }

    fn inverse(self) -> Option<Ratio> {
        Ratio::new(self.den, self.num)
    }

    fn mul(self, o: Ratio) -> Option<Ratio> {
        Ratio::new(self.num.checked_mul(o.num)?, self.den.checked_mul(o.den)?)
    }

    fn mul_assign(&mut self, o: Ratio) -> Option<()> {
        *self = self.mul(o)?;
        Some(())
    }

    /// `self -= f × y`
    fn sub_mul(&mut self, f: Ratio, y: Ratio) -> Option<()> {
        let p = f.mul(y)?;
        *self = Ratio::new(
            self.num
                .checked_mul(p.den)?
                .checked_sub(p.num.checked_mul(self.den)?)?,
            self.den.checked_mul(p.den)?,
        )?;
        Some(())
    }

    fn to_decimal(self) -> Option<Decimal> {
        let num = Decimal::try_from_i128_with_scale(self.num, 0).ok()?;
        let den = Decimal::try_from_i128_with_scale(self.den, 0).ok()?;
        num.checked_div(den)
    }
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// What [`Engine::apply_template_plan`] did.
#[derive(Debug)]
pub(crate) enum TemplateOutcome {
    /// The template and its variants are as Salla has them (`note`: what the outcome should say).
    Applied { template: Id, note: Option<String> },
    /// Odoo keeps this product as separate products (why): apply the separate layout.
    Separate(String),
    /// Not in Odoo, and this event does not create it.
    Missing,
}

/// A template's values as read: per attribute line (by attribute name), its line, attribute and
/// active values (by name), and every template attribute value by id.
#[derive(Debug, Default)]
struct Lines {
    /// Attribute name → its line.
    by_attribute: BTreeMap<String, Line>,
    /// ptav id → (attribute name, value name), inactive ones included.
    ptav: BTreeMap<Id, (String, String)>,
}

/// An attribute line of a template.
#[derive(Debug)]
struct Line {
    line: Id,
    attribute: Id,
    /// Its active values by name.
    values: BTreeMap<String, LineValue>,
}

/// A value on a line: its `product.template.attribute.value`, `product.attribute.value` and
/// extra price.
#[derive(Debug)]
struct LineValue {
    ptav: Id,
    value: Id,
    extra: f64,
}

const PTAV_FIELDS: &[&str] = &[
    "attribute_id",
    "attribute_line_id",
    "product_attribute_value_id",
    "name",
    "price_extra",
    "ptav_active",
];
const VARIANT_FIELDS: &[&str] = &[
    "default_code",
    "barcode",
    "active",
    "standard_price",
    "product_template_attribute_value_ids",
];

fn m2o_name(v: Option<&Value>) -> Option<String> {
    v?.as_array()?.get(1)?.as_str().map(str::to_owned)
}

fn text(r: &Record, f: &str) -> Option<String> {
    r.get(f)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn id_of(r: &Record) -> Id {
    r.get("id").and_then(Value::as_i64).unwrap_or_default()
}

async fn release(guards: Vec<crate::idmap::Guard>) {
    for g in guards {
        g.release().await;
    }
}

impl<M: IdMap> Engine<'_, M> {
    /// The template's attribute lines and values, in one read.
    async fn template_lines(&self, template: Id) -> Res<Lines> {
        let rows: Vec<Record> = self
            .odoo
            .search_read(
                "product.template.attribute.value",
                &Domain::new().eq("product_tmpl_id", template),
                PTAV_FIELDS,
                &SearchOptions::default(),
            )
            .await?;
        let mut lines = Lines::default();
        for r in &rows {
            let (Some(attr), Some(attr_name), Some(line), Some(value)) = (
                r.get("attribute_id").and_then(many2one_id),
                m2o_name(r.get("attribute_id")),
                r.get("attribute_line_id").and_then(many2one_id),
                r.get("product_attribute_value_id").and_then(many2one_id),
            ) else {
                continue;
            };
            let name = text(r, "name").unwrap_or_default();
            lines
                .ptav
                .insert(id_of(r), (attr_name.clone(), name.clone()));
            let entry = lines.by_attribute.entry(attr_name).or_insert_with(|| Line {
                line,
                attribute: attr,
                values: BTreeMap::new(),
            });
            if r.get("ptav_active").and_then(Value::as_bool) != Some(false) {
                let extra = r.get("price_extra").and_then(Value::as_f64).unwrap_or(0.0);
                entry.values.insert(
                    name,
                    LineValue {
                        ptav: id_of(r),
                        value,
                        extra,
                    },
                );
            }
        }
        Ok(lines)
    }

    /// `product.attribute` ids by name (variant creation "always"), created when missing, and the
    /// ids of the values asked for, created when missing: one look-up for the attributes and one
    /// for their values, creates only for what is missing, under one creation lock (attributes
    /// are shared by every product of this Odoo).
    async fn ensure_values(
        &self,
        wanted: &[(String, Vec<String>)],
        known_attributes: &BTreeMap<String, Id>,
    ) -> Res<BTreeMap<String, (Id, BTreeMap<String, Id>)>> {
        let find_attributes = async |names: Vec<&str>| -> Res<BTreeMap<String, Id>> {
            if names.is_empty() {
                return Ok(BTreeMap::new());
            }
            let rows: Vec<Record> = self
                .odoo
                .search_read(
                    "product.attribute",
                    &Domain::new()
                        .is_in("name", names)
                        .eq("create_variant", "always"),
                    &["name"],
                    &SearchOptions {
                        order: Some("id".into()),
                        ..Default::default()
                    },
                )
                .await?;
            let mut out = BTreeMap::new();
            for r in &rows {
                if let Some(n) = text(r, "name") {
                    out.entry(n).or_insert(id_of(r));
                }
            }
            Ok(out)
        };
        let find_values = async |attrs: Vec<Id>| -> Res<BTreeMap<(Id, String), Id>> {
            let rows: Vec<Record> = self
                .odoo
                .search_read(
                    "product.attribute.value",
                    &Domain::new().is_in("attribute_id", attrs),
                    &["name", "attribute_id"],
                    &SearchOptions {
                        order: Some("id".into()),
                        ..Default::default()
                    },
                )
                .await?;
            let mut out = BTreeMap::new();
            for r in &rows {
                if let (Some(a), Some(n)) =
                    (r.get("attribute_id").and_then(many2one_id), text(r, "name"))
                {
                    out.entry((a, n)).or_insert(id_of(r));
                }
            }
            Ok(out)
        };
        let mut attributes = known_attributes.clone();
        let unknown = |attributes: &BTreeMap<String, Id>| -> Vec<String> {
            wanted
                .iter()
                .map(|(n, _)| n)
                .filter(|n| !attributes.contains_key(*n))
                .cloned()
                .collect()
        };
        let missing = unknown(&attributes);
        attributes.extend(find_attributes(missing.iter().map(String::as_str).collect()).await?);
        let attr_ids = |attributes: &BTreeMap<String, Id>| -> Vec<Id> {
            wanted
                .iter()
                .filter_map(|(n, _)| attributes.get(n).copied())
                .collect()
        };
        let mut values = if attr_ids(&attributes).is_empty() {
            BTreeMap::new()
        } else {
            find_values(attr_ids(&attributes)).await?
        };
        let complete = |attributes: &BTreeMap<String, Id>, values: &BTreeMap<(Id, String), Id>| {
            wanted.iter().all(|(a, vs)| {
                attributes
                    .get(a)
                    .is_some_and(|id| vs.iter().all(|v| values.contains_key(&(*id, v.clone()))))
            })
        };
        if !complete(&attributes, &values) {
            let guard = self.lock("product-attributes").await?;
            // Again under the lock: another job may have created them meanwhile.
            let missing = unknown(&attributes);
            attributes.extend(find_attributes(missing.iter().map(String::as_str).collect()).await?);
            if !attr_ids(&attributes).is_empty() {
                values = find_values(attr_ids(&attributes)).await?;
            }
            let new_attributes: Vec<String> = unknown(&attributes);
            if !new_attributes.is_empty() {
                let vals_list = new_attributes
                    .iter()
                    .map(|n| {
                        let mut v = Map::new();
                        v.insert("name".into(), json!(n));
                        v.insert("create_variant".into(), json!("always"));
                        let lines: Vec<Value> = wanted
                            .iter()
                            .filter(|(a, _)| a == n)
                            .flat_map(|(_, vs)| vs)
                            .map(|value| json!([0, 0, {"name": value}]))
                            .collect();
                        v.insert("value_ids".into(), json!(lines));
                        v
                    })
                    .collect();
                let ids = self
                    .odoo
                    .create_many("product.attribute", vals_list)
                    .await?;
                attributes.extend(new_attributes.iter().cloned().zip(ids));
                values = find_values(attr_ids(&attributes)).await?;
            }
            let new_values: Vec<Map<String, Value>> = wanted
                .iter()
                .flat_map(|(a, vs)| {
                    let id = attributes[a];
                    vs.iter()
                        .filter(|v| !values.contains_key(&(id, (*v).clone())))
                        .map(move |v| {
                            let mut m = Map::new();
                            m.insert("name".into(), json!(v));
                            m.insert("attribute_id".into(), json!(id));
                            m
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
            if !new_values.is_empty() {
                let keys: Vec<(Id, String)> = new_values
                    .iter()
                    .map(|m| {
                        (
                            m["attribute_id"].as_i64().unwrap_or_default(),
                            m["name"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect();
                let ids = self
                    .odoo
                    .create_many("product.attribute.value", new_values)
                    .await?;
                values.extend(keys.into_iter().zip(ids));
            }
            guard.release().await;
        }
        Ok(wanted
            .iter()
            .map(|(a, vs)| {
                let id = attributes[a];
                let ids = vs
                    .iter()
                    .filter_map(|v| values.get(&(id, v.clone())).map(|x| (v.clone(), *x)))
                    .collect();
                (a.clone(), (id, ids))
            })
            .collect())
    }

    /// The template of a product not in the id map, by its codes, then (a create whose answer
    /// was lost) by its name: `Err(why)` when Odoo has the product as separate products.
    async fn find_template(&self, plan: &TemplatePlan) -> Res<Result<Option<Id>, String>> {
        let mut codes: Vec<&str> = plan.variants.iter().map(|v| v.code.as_str()).collect();
        codes.push(plan.code.as_str());
        let hits: Vec<Record> = self
            .odoo
            .search_read(
                "product.product",
                &Domain::new()
                    .is_in("default_code", codes)
                    .is_in("active", [true, false]),
                &[
                    "default_code",
                    "product_tmpl_id",
                    "product_template_attribute_value_ids",
                ],
                &SearchOptions::default(),
            )
            .await?;
        if !hits.is_empty() {
            let templates: BTreeSet<Id> = hits
                .iter()
                .filter_map(|h| h.get("product_tmpl_id").and_then(many2one_id))
                .collect();
            let standalone = hits.iter().find(|h| {
                h.get("product_template_attribute_value_ids")
                    .map(x2many_ids)
                    .unwrap_or_default()
                    .is_empty()
            });
            return Ok(match (standalone, templates.len()) {
                (None, 1) => Ok(templates.first().copied()),
                (Some(h), _) => Err(format!(
                    "Odoo has {:?} as a product of its own",
                    text(h, "default_code").unwrap_or_default()
                )),
                _ => Err("Odoo has its SKUs on several products".to_owned()),
            });
        }
        let Some(name) = plan.vals.get("name").and_then(Value::as_str) else {
            return Ok(Ok(None));
        };
        let candidates = self
            .odoo
            .search(
                "product.template",
                &Domain::new()
                    .eq("name", name)
                    .is_in("active", [true, false]),
                &SearchOptions::default(),
            )
            .await?;
        if candidates.is_empty() {
            return Ok(Ok(None));
        }
        // Only a template with attribute lines whose variants carry no code, and whose attributes
        // are this product's options, is one this connector began to make.
        let variants: Vec<Record> = self
            .odoo
            .search_read(
                "product.product",
                &Domain::new()
                    .is_in("product_tmpl_id", candidates.clone())
                    .is_in("active", [true, false]),
                &["product_tmpl_id", "default_code"],
                &SearchOptions::default(),
            )
            .await?;
        let coded: BTreeSet<Id> = variants
            .iter()
            .filter(|v| text(v, "default_code").is_some())
            .filter_map(|v| v.get("product_tmpl_id").and_then(many2one_id))
            .collect();
        let open: Vec<Id> = candidates
            .into_iter()
            .filter(|t| !coded.contains(t))
            .collect();
        if open.is_empty() {
            return Ok(Ok(None));
        }
        let ptavs: Vec<Record> = self
            .odoo
            .search_read(
                "product.template.attribute.value",
                &Domain::new().is_in("product_tmpl_id", open.clone()),
                &["product_tmpl_id", "attribute_id"],
                &SearchOptions::default(),
            )
            .await?;
        let ours: BTreeSet<&str> = plan.axes.iter().map(|a| a.name.as_str()).collect();
        let mut attributes: BTreeMap<Id, BTreeSet<String>> = BTreeMap::new();
        for r in &ptavs {
            if let (Some(t), Some(a)) = (
                r.get("product_tmpl_id").and_then(many2one_id),
                m2o_name(r.get("attribute_id")),
            ) {
                attributes.entry(t).or_default().insert(a);
            }
        }
        let matching: Vec<Id> = attributes
            .into_iter()
            .filter(|(_, names)| names.iter().map(String::as_str).collect::<BTreeSet<_>>() == ours)
            .map(|(t, _)| t)
            .collect();
        match matching[..] {
            [] => Ok(Ok(None)),
            [t] => Ok(Ok(Some(t))),
            _ => Err(several(
                "product.template",
                &format!("the name {name:?} without variant codes"),
            )),
        }
    }

    /// The codes of the `product.product`s `domain` finds, archived ones included.
    async fn variant_codes(&self, domain: Domain) -> Res<Vec<String>> {
        Ok(self
            .odoo
            .search_read(
                "product.product",
                &domain.is_in("active", [true, false]),
                &["default_code"],
                &SearchOptions::default(),
            )
            .await?
            .iter()
            .filter_map(|r| text(r, "default_code"))
            .collect())
    }

    /// Whether `template`, recorded for this product before its variants had codes, now has
    /// variants with codes and none of this product's: another product took it by its name while
    /// it had none ([`Engine::find_template`]). (A product whose every SKU changed since that
    /// attempt looks the same, and gets a new template too.)
    async fn taken_by_another(&self, plan: &TemplatePlan, template: Id) -> Res<bool> {
        let codes = self
            .variant_codes(Domain::new().eq("product_tmpl_id", template))
            .await?;
        Ok(!codes.is_empty()
            && !codes
                .iter()
                .any(|c| plan.variants.iter().any(|v| v.code == *c)))
    }

    /// Creates the template with its attribute lines (Odoo makes the variants).
    async fn create_template(&self, plan: &TemplatePlan, categ: Option<Id>) -> Res<Id> {
        let wanted: Vec<(String, Vec<String>)> = plan
            .axes
            .iter()
            .map(|a| (a.name.clone(), a.values.clone()))
            .collect();
        let ids = self.ensure_values(&wanted, &BTreeMap::new()).await?;
        let mut vals = plan.vals.clone();
        vals.entry("name").or_insert(json!(plan.fallback_name));
        vals.extend(type_vals(&self.caps, plan.kind));
        vals.insert("sale_ok".into(), json!(true));
        if let Some(c) = categ {
            vals.insert("categ_id".into(), json!(c));
        }
        if let Some(tax) = self.opts.tax_id {
            vals.insert(
                self.caps.product_taxes_field.clone(),
                json!([[6, 0, [tax]]]),
            );
        }
        let lines: Vec<Value> = plan
            .axes
            .iter()
            .map(|a| {
                let (attr, values) = &ids[&a.name];
                let value_ids: Vec<Id> = a
                    .values
                    .iter()
                    .filter_map(|v| values.get(v).copied())
                    .collect();
                json!([0, 0, {"attribute_id": attr, "value_ids": [[6, 0, value_ids]]}])
            })
            .collect();
        vals.insert("attribute_line_ids".into(), json!(lines));
        Ok(self.odoo.create("product.template", vals).await?)
    }

    /// Adds the lines and values the template lacks (Odoo makes the new variants); `true` when
    /// something was added. Values Salla no longer has stay (their variants are archived).
    async fn complete_lines(&self, plan: &TemplatePlan, template: Id, lines: &Lines) -> Res<bool> {
        let mut wanted: Vec<(String, Vec<String>)> = Vec::new();
        for a in &plan.axes {
            let have = lines.by_attribute.get(&a.name);
            let missing: Vec<String> = a
                .values
                .iter()
                .filter(|v| !have.is_some_and(|l| l.values.contains_key(*v)))
                .cloned()
                .collect();
            if !missing.is_empty() {
                wanted.push((a.name.clone(), missing));
            }
        }
        if wanted.is_empty() {
            return Ok(false);
        }
        let known: BTreeMap<String, Id> = lines
            .by_attribute
            .iter()
            .map(|(n, l)| (n.clone(), l.attribute))
            .collect();
        let ids = self.ensure_values(&wanted, &known).await?;
        let commands: Vec<Value> = wanted
            .iter()
            .map(|(name, _)| {
                let (attr, new) = &ids[name];
                let new: Vec<Id> = new.values().copied().collect();
                match lines.by_attribute.get(name) {
                    Some(Line { line, values, .. }) => {
                        let mut all: Vec<Id> = values.values().map(|v| v.value).collect();
                        all.extend(new);
                        json!([1, line, {"value_ids": [[6, 0, all]]}])
                    }
                    None => json!([0, 0, {"attribute_id": attr, "value_ids": [[6, 0, new]]}]),
                }
            })
            .collect();
        let mut vals = Map::new();
        vals.insert("attribute_line_ids".into(), json!(commands));
        self.odoo
            .write("product.template", &[template], vals)
            .await?;
        Ok(true)
    }

    /// The template of a product the id map does not name: adopted ([`Engine::find_template`])
    /// with its values as read, or created (`None`: nothing to compare); `Err` with the outcome
    /// when Odoo has the product as separate products, or has nothing and `create` is false.
    /// `categ` receives the category a create resolved.
    async fn adopt_or_create(
        &self,
        plan: &TemplatePlan,
        create: bool,
        read_fields: &[&str],
        categ: &mut Option<Id>,
    ) -> Res<Result<(Id, Option<Record>), TemplateOutcome>> {
        match self.find_template(plan).await? {
            Err(why) => Ok(Err(TemplateOutcome::Separate(why))),
            Ok(Some(t)) => {
                let rec = self.read("product.template", t, read_fields).await?;
                Ok(Ok((t, rec)))
            }
            Ok(None) if !create => Ok(Err(TemplateOutcome::Missing)),
            Ok(None) => {
                if let Some(c) = &plan.category {
                    *categ = Some(self.category_id(c).await?);
                }
                Ok(Ok((self.create_template(plan, *categ).await?, None)))
            }
        }
    }

    /// Applies a template plan (see the module docs). `version`: the watermark to record (`None`
    /// leaves it); `create` false: a template that does not exist is left alone.
    pub(crate) async fn apply_template_plan(
        &self,
        plan: &TemplatePlan,
        version: Option<i64>,
        create: bool,
    ) -> Res<TemplateOutcome> {
        let merchant = self.merchant();
        let mut read_fields: Vec<&str> = plan.vals.keys().map(String::as_str).collect();
        if !read_fields.contains(&"active") {
            read_fields.push("active");
        }
        if plan.category.is_some() {
            read_fields.push("categ_id");
        }
        let mut template = None;
        let mut current: Option<Record> = None;
        // Recorded when it was made or adopted, before its variants had their codes (watermark 0).
        let mut unfinished = false;
        match idmap::get_model(self.ids, merchant, entity::PRODUCT, plan.salla_id).await? {
            Some((model, m)) if model == "product.template" => {
                current = self
                    .read("product.template", m.odoo_id, &read_fields)
                    .await?;
                template = current.as_ref().map(|_| m.odoo_id);
                unfinished = m.source_version == 0;
            }
            Some((model, _)) if model == "product.product" => {
                return Ok(TemplateOutcome::Separate(
                    "it was synced as separate products before".into(),
                ));
            }
            _ => {}
        }
        let mut categ = None;
        // The template's creation lock, held until its variants carry their codes (below): an
        // order making an unknown SKU (`create_unknown_skus`) takes it too (`crate::order`), so
        // it either made its product before the template was looked for (then: separate
        // products), or finds the code on the variant.
        let lock_key = template_lock(merchant, plan.salla_id);
        let mut guards = Vec::new();
        if template.is_none() || unfinished {
            guards.push(self.lock(&lock_key).await?);
            // A template without codes is found by its name (`find_template`) by any product of
            // that name, of any store of this Odoo: the name's lock (after the product's, as
            // everywhere) makes its look-up, its creation and its codes one step per name, so two
            // products never take one such template at once.
            let name = current
                .as_ref()
                .and_then(|r| text(r, "name"))
                .or_else(|| {
                    plan.vals
                        .get("name")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| plan.fallback_name.clone());
            guards.push(self.lock(&format!("template-name:{name}")).await?);
            if let Some(t) = template
                && unfinished
                && self.taken_by_another(plan, t).await?
            {
                // Left without codes by a failure after it was recorded, it was open to that
                // look-up, and another product (of another store, say) took it and wrote its
                // codes: writing ours over them would leave that product's SKUs without a
                // product. This product gets a template of its own.
                template = None;
                current = None;
            }
        }
        if template.is_none() {
            let found = self
                .adopt_or_create(plan, create, &read_fields, &mut categ)
                .await;
            let (t, rec) = match found {
                Ok(Ok(found)) => found,
                Ok(Err(outcome)) => {
                    release(guards).await;
                    return Ok(outcome);
                }
                Err(e) => {
                    release(guards).await;
                    return Err(e);
                }
            };
            // Recorded at once (watermark kept): a crash from here on resumes on this template.
            let recorded = idmap::put(
                self.ids,
                merchant,
                entity::PRODUCT,
                plan.salla_id,
                "product.template",
                t,
                0,
            )
            .await;
            if let Err(e) = recorded {
                release(guards).await;
                return Err(e);
            }
            template = Some(t);
            current = rec;
        }
        let categ = match (categ, &plan.category) {
            (Some(c), _) => Some(c),
            (None, Some(c)) => Some(self.category_id(c).await?),
            (None, None) => None,
        };
        let mut vals = plan.vals.clone();
        if let Some(c) = categ {
            vals.insert("categ_id".into(), json!(c));
        }
        let template = template.unwrap_or_default();
        self.touch("product.template", template);

        // The template's own values.
        let was_active = match &current {
            Some(rec) => {
                self.write_diff("product.template", template, rec, &vals)
                    .await?;
                rec.get("active").and_then(Value::as_bool).unwrap_or(true)
            }
            None => true,
        };
        let active = plan.active().unwrap_or(was_active);

        // Lines, then variants.
        let mut lines = self.template_lines(template).await?;
        if self.complete_lines(plan, template, &lines).await? {
            lines = self.template_lines(template).await?;
        }
        let variants: Vec<Record> = self
            .odoo
            .search_read(
                "product.product",
                &Domain::new()
                    .eq("product_tmpl_id", template)
                    .is_in("active", [true, false]),
                VARIANT_FIELDS,
                &SearchOptions {
                    order: Some("id".into()),
                    ..Default::default()
                },
            )
            .await?;
        let axis_names: BTreeSet<&str> = plan.axes.iter().map(|a| a.name.as_str()).collect();
        let key_of = |r: &Record| -> Vec<(String, String)> {
            let mut k: Vec<(String, String)> = r
                .get("product_template_attribute_value_ids")
                .map(x2many_ids)
                .unwrap_or_default()
                .iter()
                .filter_map(|p| lines.ptav.get(p))
                .filter(|(a, _)| axis_names.contains(a.as_str()))
                .cloned()
                .collect();
            k.sort();
            k
        };
        // Each SKU's variant: the one with its values (the one already carrying its code, else an
        // active one, else the oldest, when an attribute Salla lacks makes several).
        let mut matched: BTreeMap<Id, &VariantPlan> = BTreeMap::new();
        let mut variant_of: Vec<(&VariantPlan, Id)> = Vec::new();
        for v in &plan.variants {
            let mut key = plan.key(v);
            key.sort();
            let candidates: Vec<&Record> = variants
                .iter()
                .filter(|r| !matched.contains_key(&id_of(r)) && key_of(r) == key)
                .collect();
            let pick = candidates
                .iter()
                .find(|r| text(r, "default_code").as_deref() == Some(v.code.as_str()))
                .or_else(|| {
                    candidates
                        .iter()
                        .find(|r| r.get("active").and_then(Value::as_bool) == Some(true))
                })
                .or(candidates.first());
            let Some(r) = pick else {
                let values: Vec<String> = key.iter().map(|(a, x)| format!("{a}: {x}")).collect();
                return Err(permanent(format!(
                    "Odoo made no variant of product.template {template} for SKU {} ({}); check \
                     that its attributes create variants (\"always\")",
                    v.code,
                    values.join(", ")
                )));
            };
            matched.insert(id_of(r), v);
            variant_of.push((v, id_of(r)));
        }
        let ours: BTreeSet<&str> = plan.variants.iter().map(|v| v.code.as_str()).collect();
        // The writes, grouped by identical values: archived ones first, freeing their codes.
        let mut writes: Vec<(Map<String, Value>, Vec<Id>)> = Vec::new();
        let mut push = |changes: Map<String, Value>, id: Id| {
            if changes.is_empty() {
                return;
            }
            match writes.iter_mut().find(|(c, _)| *c == changes) {
                Some((_, ids)) => ids.push(id),
                None => writes.push((changes, vec![id])),
            }
        };
        for r in variants.iter().filter(|r| !matched.contains_key(&id_of(r))) {
            let mut want = Map::new();
            want.insert("active".into(), json!(false));
            if text(r, "default_code").is_some_and(|c| ours.contains(c.as_str())) {
                want.insert("default_code".into(), json!(false));
            }
            push(crate::engine::diff(r, &want), id_of(r));
        }
        for r in variants.iter().filter(|r| matched.contains_key(&id_of(r))) {
            let v = matched[&id_of(r)];
            let mut want = Map::new();
            want.insert("default_code".into(), json!(v.code));
            if let Some(b) = &v.barcode {
                want.insert("barcode".into(), json!(b));
            }
            if let Some(c) = v.cost {
                want.insert("standard_price".into(), money(c));
            }
            want.insert("active".into(), json!(active));
            push(crate::engine::diff(r, &want), id_of(r));
        }
        // A code another product carries already (one an order made while this template's codes
        // were not written yet, e.g. before a crash) stays there: written here too, Odoo would
        // have two products with it and every order of the SKU would fail.
        let mut code_note = None;
        let writing: Vec<&str> = writes
            .iter()
            .filter_map(|(c, _)| c.get("default_code").and_then(Value::as_str))
            .collect();
        if !writing.is_empty() {
            if guards.is_empty() {
                guards.push(self.lock(&lock_key).await?);
            }
            let taken: BTreeSet<String> = self
                .variant_codes(
                    Domain::new()
                        .is_in("default_code", writing)
                        .ne("product_tmpl_id", template),
                )
                .await?
                .into_iter()
                .collect();
            if !taken.is_empty() {
                for (c, _) in &mut writes {
                    if c.get("default_code")
                        .and_then(Value::as_str)
                        .is_some_and(|code| taken.contains(code))
                    {
                        c.remove("default_code");
                    }
                }
                writes.retain(|(c, _)| !c.is_empty());
                let taken: Vec<&str> = taken.iter().map(String::as_str).collect();
                code_note = Some(format!(
                    "product {}: SKU {} left off its variant: another Odoo product has that code \
                     (made by an order before the variant had it)",
                    plan.salla_id,
                    taken.join(", ")
                ));
            }
        }
        for (changes, ids) in writes {
            // A code written onto a variant becomes visible to orders' look-ups: counted (see
            // `Engine::making_codes`).
            let code = changes
                .get("default_code")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let write = self.odoo.write("product.product", &ids, changes);
            match code {
                Some(code) => self.making_codes([code.as_str()], write).await?,
                None => write.await?,
            };
        }
        release(guards).await;

        // Price extras, grouped by amount.
        let mut note = None;
        let extras = match &plan.extras {
            Extras::Exact(e) => Some(e.clone()),
            Extras::NotRepresentable => {
                note = Some(format!(
                    "product {}: Salla's SKU prices are not the product price plus an amount per \
                     option value, so the variants list at the product price (no price extras); \
                     order lines carry Salla's prices",
                    plan.salla_id
                ));
                Some(
                    plan.axes
                        .iter()
                        .map(|a| vec![Decimal::ZERO; a.values.len()])
                        .collect(),
                )
            }
            Extras::Unknown => None,
        };
        if let Some(extras) = extras {
            let mut by_amount: BTreeMap<i64, (Decimal, Vec<Id>)> = BTreeMap::new();
            for (a, axis_extras) in plan.axes.iter().zip(&extras) {
                let Some(Line { values, .. }) = lines.by_attribute.get(&a.name) else {
                    continue;
                };
                for (value, x) in a.values.iter().zip(axis_extras) {
                    if let Some(LineValue {
                        ptav,
                        extra: current,
                        ..
                    }) = values.get(value)
                    {
                        let want = x.to_f64().unwrap_or_default();
                        if (current - want).abs() >= 0.005 {
                            let cents = (round2(*x) * Decimal::from(100)).to_i64().unwrap_or(0);
                            by_amount
                                .entry(cents)
                                .or_insert((*x, Vec::new()))
                                .1
                                .push(*ptav);
                        }
                    }
                }
            }
            for (_, (amount, ptavs)) in by_amount {
                let mut v = Map::new();
                v.insert("price_extra".into(), money(amount));
                self.odoo
                    .write("product.template.attribute.value", &ptavs, v)
                    .await?;
            }
        }

        // The id map: each SKU's variant, then the product (its watermark last).
        for (v, id) in &variant_of {
            idmap::put(
                self.ids,
                merchant,
                entity::VARIANT,
                v.salla_id,
                "product.product",
                *id,
                version.unwrap_or(0),
            )
            .await?;
            self.touch("product.product", *id);
        }
        idmap::put(
            self.ids,
            merchant,
            entity::PRODUCT,
            plan.salla_id,
            "product.template",
            template,
            version.unwrap_or(0),
        )
        .await?;
        if self.opts.stock_master == StockMaster::Salla && plan.kind == ProductKind::Storable {
            let mut location = None;
            for (v, id) in &variant_of {
                if let Some(q) = v.quantity {
                    let loc = match location {
                        Some(l) => l,
                        None => *location.insert(self.stock_location().await?),
                    };
                    self.odoo
                        .set_stock_on_hand(*id, q.to_f64().unwrap_or_default(), Some(loc))
                        .await?;
                }
            }
        }
        let note = match (code_note, note) {
            (Some(a), Some(b)) => Some(format!("{a}; {b}")),
            (a, b) => a.or(b),
        };
        Ok(TemplateOutcome::Applied { template, note })
    }

    /// The `product.template` Salla product `product_id` is kept as (the id map's row), if any.
    pub(crate) async fn template_mapped(&self, product_id: u64) -> Res<Option<Id>> {
        Ok(
            idmap::get_model(self.ids, self.merchant(), entity::PRODUCT, product_id)
                .await?
                .filter(|(model, _)| model == "product.template")
                .map(|(_, m)| m.odoo_id),
        )
    }

    /// The active variant of a product kept as `template` whose values are the options an order
    /// line chose (option name → attribute, value name → value); the caller knows the template
    /// ([`Engine::template_mapped`]).
    pub(crate) async fn variant_by_options_in(
        &self,
        template: Id,
        options: &[(String, String)],
    ) -> Res<ByOptions> {
        let lines = self.template_lines(template).await?;
        let mut chosen: Vec<(String, String)> = options
            .iter()
            .map(|(o, v)| (o.trim().to_owned(), v.trim().to_owned()))
            .filter(|(o, _)| lines.by_attribute.contains_key(o))
            .collect();
        chosen.sort();
        chosen.dedup();
        if chosen.is_empty() {
            // No attribute line yet: the template's variants are still being made. Otherwise the
            // options are not the template's attributes (a text option, say): the code decides.
            return Ok(if lines.by_attribute.is_empty() {
                ByOptions::NoVariant
            } else {
                ByOptions::CodeDecides
            });
        }
        let variants: Vec<Record> = self
            .odoo
            .search_read(
                "product.product",
                &Domain::new().eq("product_tmpl_id", template),
                &["product_template_attribute_value_ids"],
                &SearchOptions::default(),
            )
            .await?;
        let hits: Vec<Id> = variants
            .iter()
            .filter(|r| {
                let mut k: Vec<(String, String)> = r
                    .get("product_template_attribute_value_ids")
                    .map(x2many_ids)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|p| lines.ptav.get(p).cloned())
                    .collect();
                k.sort();
                k == chosen
            })
            .map(id_of)
            .collect();
        Ok(match hits[..] {
            [one] => ByOptions::Variant(one),
            _ => ByOptions::NoVariant,
        })
    }

    /// A small event (status, price, category…) on a product kept as a template: its values on
    /// the template; an active flag also on the variants (those with a code: Salla's SKUs; the
    /// others are combinations Salla has no SKU for and stay archived). `None` when the template
    /// no longer exists.
    pub(crate) async fn apply_to_template(
        &self,
        template: Id,
        vals: &Map<String, Value>,
    ) -> Res<Option<Id>> {
        let mut vals = vals.clone();
        // A template's code and cost are its variants'.
        vals.remove("default_code");
        vals.remove("standard_price");
        let fields: Vec<&str> = vals.keys().map(String::as_str).collect();
        let Some(current) = self.read("product.template", template, &fields).await? else {
            return Ok(None);
        };
        self.write_diff("product.template", template, &current, &vals)
            .await?;
        if let Some(active) = vals.get("active").and_then(Value::as_bool) {
            let variants: Vec<Record> = self
                .odoo
                .search_read(
                    "product.product",
                    &Domain::new()
                        .eq("product_tmpl_id", template)
                        .is_in("active", [true, false]),
                    &["default_code", "active"],
                    &SearchOptions::default(),
                )
                .await?;
            let mut writes: BTreeMap<bool, Vec<Id>> = BTreeMap::new();
            for r in &variants {
                let want = active && text(r, "default_code").is_some();
                if r.get("active").and_then(Value::as_bool) != Some(want) {
                    writes.entry(want).or_default().push(id_of(r));
                }
            }
            for (want, ids) in writes {
                let mut v = Map::new();
                v.insert("active".into(), json!(want));
                self.odoo.write("product.product", &ids, v).await?;
            }
        }
        self.touch("product.template", template);
        Ok(Some(template))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(raw: Value) -> Product {
        serde_json::from_value(raw).unwrap()
    }

    fn shirt() -> Value {
        json!({"id": 10, "sku": "TS", "name": "T-shirt", "type": "product",
        "price": {"amount": 50}, "taxed_price": {"amount": 57.5}, "status": "sale",
        "options": [
            {"id": 1, "name": "Size", "values": [{"id": 11, "name": "S"}, {"id": 12, "name": "M"},
                                                {"id": 13, "name": "XL"}]},
            {"id": 2, "name": "Colour", "values": [{"id": 21, "name": "Red"}, {"id": 22, "name": "Blue"}]},
            {"id": 3, "name": "Gift note", "values": []}
        ],
        "skus": [
            {"id": 101, "sku": "TS-S-R", "price": {"amount": 50}, "barcode": "111", "stock_quantity": 1,
             "related_option_values": [11, 21]},
            {"id": 102, "sku": "TS-M-R", "price": {"amount": 55}, "related_option_values": ["12", 21]},
            {"id": 103, "sku": "", "price": {"amount": 53}, "related_option_values": [11, {"id": 22}]},
            {"id": 104, "sku": "TS-M-B", "price": {"amount": 58}, "related_option_values": [12, 22]}
        ]})
    }

    #[test]
    fn options_become_axes_and_skus_combinations() {
        let plan = template_plan(&product(shirt()), false, false)
            .unwrap()
            .unwrap();
        assert_eq!(
            plan.axes,
            vec![
                Axis {
                    name: "Size".into(),
                    values: vec!["S".into(), "M".into()]
                },
                Axis {
                    name: "Colour".into(),
                    values: vec!["Red".into(), "Blue".into()]
                },
            ],
            "only the options and values the SKUs use"
        );
        let combos: Vec<(&str, Vec<usize>)> = plan
            .variants
            .iter()
            .map(|v| (v.code.as_str(), v.combination.clone()))
            .collect();
        assert_eq!(
            combos,
            vec![
                ("TS-S-R", vec![0, 0]),
                ("TS-M-R", vec![1, 0]),
                ("SALLA-10-103", vec![0, 1]),
                ("TS-M-B", vec![1, 1]),
            ]
        );
        assert_eq!(plan.variants[0].barcode.as_deref(), Some("111"));
        assert_eq!(plan.vals["list_price"], json!(50.0));
        assert_eq!(plan.vals["active"], json!(true));
        // 50 + S 0 + M 5, Red 0, Blue 3: 50, 55, 53, 58.
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(
            plan.extras,
            Extras::Exact(vec![vec![d("0"), d("5")], vec![d("0"), d("3")]])
        );
        // Tax-included store: the template lists the taxed price and the extras are scaled.
        let incl = template_plan(&product(shirt()), false, true)
            .unwrap()
            .unwrap();
        assert_eq!(incl.vals["list_price"], json!(57.5));
        assert_eq!(
            incl.extras,
            Extras::Exact(vec![vec![d("0"), d("5.75")], vec![d("0"), d("3.45")]])
        );
    }

    #[test]
    fn prices_that_depend_on_the_combination_are_not_extras() {
        let mut raw = shirt();
        raw["skus"][3]["price"] = json!({"amount": 60});
        let plan = template_plan(&product(raw), false, false).unwrap().unwrap();
        assert_eq!(plan.extras, Extras::NotRepresentable);
        // One option: always exact, the product price's difference on every value.
        let raw = json!({"id": 5, "name": "Cup", "price": 10, "options": [
            {"id": 1, "name": "Size", "values": [{"id": 11, "name": "S"}, {"id": 12, "name": "L"}]}],
            "skus": [{"id": 1, "price": 12, "related_option_values": [11]},
                     {"id": 2, "price": 15.5, "related_option_values": [12]}]});
        let plan = template_plan(&product(raw), false, false).unwrap().unwrap();
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(plan.extras, Extras::Exact(vec![vec![d("2"), d("5.5")]]));
        // No price in the event: left alone.
        let raw = json!({"id": 5, "name": "Cup", "options": [
            {"id": 1, "name": "Size", "values": [{"id": 11, "name": "S"}]}],
            "skus": [{"id": 1, "related_option_values": [11]}]});
        let plan = template_plan(&product(raw), false, false).unwrap().unwrap();
        assert_eq!(plan.extras, Extras::Unknown);
    }

    #[test]
    fn extras_are_solved_exactly_on_sparse_grids_and_three_options() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        let axes = |n: &[usize]| -> Vec<Axis> {
            n.iter()
                .enumerate()
                .map(|(i, k)| Axis {
                    name: format!("A{i}"),
                    values: (0..*k).map(|v| v.to_string()).collect(),
                })
                .collect()
        };
        let vp = |combination: Vec<usize>| VariantPlan {
            salla_id: 0,
            code: String::new(),
            combination,
            barcode: None,
            cost: None,
            quantity: None,
        };
        // S-Red 50, M-Blue 58, XL-Red 60: no SKU differs from S-Red in size alone for M, yet
        // M + Blue = 8 and XL = 10 are extras (Blue, the free one, at 0).
        let a = axes(&[3, 2]);
        let v = vec![vp(vec![0, 0]), vp(vec![1, 1]), vp(vec![2, 0])];
        let e = solve_extras(d("50"), &a, &v, &[d("50"), d("58"), d("60")]).unwrap();
        assert_eq!(e, vec![vec![d("0"), d("8"), d("10")], vec![d("0"), d("0")]]);
        // Three options, full grid, additive with cents.
        let a = axes(&[2, 2, 2]);
        let mut v = Vec::new();
        let mut prices = Vec::new();
        for x in 0..2 {
            for y in 0..2 {
                for z in 0..2 {
                    v.push(vp(vec![x, y, z]));
                    prices.push(
                        d("10.5")
                            + d("1.25") * Decimal::from(x)
                            + d("2") * Decimal::from(y)
                            + d("0.10") * Decimal::from(z),
                    );
                }
            }
        }
        let e = solve_extras(d("10"), &a, &v, &prices).unwrap();
        assert_eq!(
            e,
            vec![
                vec![d("0.5"), d("1.75")],
                vec![d("0"), d("2")],
                vec![d("0"), d("0.10")]
            ]
        );
        // Not additive: none.
        prices[7] += d("1");
        assert_eq!(solve_extras(d("10"), &a, &v, &prices), None);
        // Thirds of a cent are not prices.
        let a = axes(&[2, 2]);
        let v = vec![vp(vec![0, 0]), vp(vec![1, 1])];
        let e = solve_extras(d("0"), &a, &v, &[d("0"), d("1")]).unwrap();
        assert_eq!(e[0][1] + e[1][1], d("1"));
    }

    #[test]
    fn options_that_do_not_line_up_keep_the_separate_layout() {
        let no_options = json!({"id": 1, "name": "X", "skus": [{"id": 2, "sku": "X-1"}]});
        assert_eq!(template_plan(&product(no_options), false, false), Ok(None));
        let cases = [
            (json!([11, 99]), "no option has"),
            (json!([]), "names no option values"),
            (json!([11, 12]), "two values of option"),
            (json!([21]), "has no value of option"),
            (json!([12, 21]), "two SKUs have the values"),
        ];
        for (values, why) in cases {
            let mut raw = shirt();
            raw["skus"][0]["related_option_values"] = values.clone();
            let err = template_plan(&product(raw), false, false).unwrap_err();
            assert!(err.contains(why), "{values}: {err}");
        }
        let mut raw = shirt();
        raw["skus"][1]["sku"] = json!("TS-S-R");
        assert!(
            template_plan(&product(raw), false, false)
                .unwrap_err()
                .contains("two SKUs have the SKU")
        );
    }

    #[test]
    fn deleted_and_hidden_products_archive_their_variants() {
        let plan = template_plan(&product(shirt()), true, false)
            .unwrap()
            .unwrap();
        assert_eq!(plan.active(), Some(false));
        let mut raw = shirt();
        raw["status"] = json!("hidden");
        let plan = template_plan(&product(raw), false, false).unwrap().unwrap();
        assert_eq!(plan.active(), Some(false));
    }
}
