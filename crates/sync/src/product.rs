//! Products → `product.product`, matched by SKU (`default_code`).
//!
//! A Salla product becomes one Odoo product (code: its SKU, or the marker `SALLA-<product id>` when it has
//! none). A product with options and variants (`skus[]`) becomes one `product.template` with a variant per
//! SKU in the templates layout (the store option `variants`, see [`crate::template`]); in the separate
//! layout, and for products Odoo already keeps that way, each variant becomes its own product with its own
//! SKU (or `SALLA-<product id>-<variant id>`) and price. Events carry only what changed (`product.status.updated` has id, SKU and status), so an
//! update writes only the fields the payload has. With Salla as stock master, the reported quantity becomes
//! an inventory adjustment (`stock.quant`, inventory mode) in the store's warehouse.

use std::collections::{BTreeMap, BTreeSet};

use odoo::{Capabilities, Domain, Id, Record, StorableProduct};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use salla_odoo_core::StockMaster;
use salla_odoo_salla::payload::Product;
use serde_json::{Map, Value, json};

use crate::engine::{Engine, money};
use crate::error::Res;
use crate::idmap::{self, IdMap, entity};

/// How a Salla product type is kept in Odoo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductKind {
    /// Physical goods: stock-tracked.
    Storable,
    /// Services, bookings, digital goods, codes, donations: no stock.
    Service,
}

/// Salla `type` → kind (`product`, `food`, `group_products` and unknown types are goods).
pub fn product_kind(salla_type: Option<&str>) -> ProductKind {
    match salla_type.map(str::trim) {
        Some("service" | "booking" | "digital" | "codes" | "donating") => ProductKind::Service,
        _ => ProductKind::Storable,
    }
}

/// The values declaring the kind on this server (§11: `detailed_type` on 16–17, `type` + `is_storable` on 18+).
pub fn type_vals(caps: &Capabilities, kind: ProductKind) -> Map<String, Value> {
    match kind {
        ProductKind::Storable => caps.storable_product_values(),
        ProductKind::Service => {
            let mut m = Map::new();
            match caps.storable {
                StorableProduct::DetailedType => {
                    m.insert("detailed_type".into(), json!("service"));
                }
                StorableProduct::TypeProduct | StorableProduct::IsStorable => {
                    m.insert("type".into(), json!("service"));
                }
            }
            m
        }
    }
}

fn trimmed(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// The `default_code` of a product: its SKU, else `SALLA-<product id>`.
pub fn product_code(sku: Option<&str>, product_id: u64) -> String {
    trimmed(sku).map_or_else(|| format!("SALLA-{product_id}"), str::to_owned)
}

/// The `default_code` of a variant: its SKU, else `SALLA-<product id>-<variant id>`.
pub fn variant_code(sku: Option<&str>, product_id: u64, variant_id: u64) -> String {
    trimmed(sku).map_or_else(|| format!("SALLA-{product_id}-{variant_id}"), str::to_owned)
}

/// One Odoo product to create or update for a Salla product event.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductPlan {
    /// Id-map entity (`product` or `product_variant`) and Salla id.
    pub entity: &'static str,
    pub salla_id: u64,
    pub code: String,
    /// Values written on create and on update (only what the payload carries).
    pub vals: Map<String, Value>,
    /// Name for a create when the payload has none.
    pub fallback_name: String,
    pub kind: ProductKind,
    /// Category name (`product.category`, created if missing).
    pub category: Option<String>,
    /// On-hand quantity Salla reports (used only when Salla is the stock master).
    pub quantity: Option<Decimal>,
}

/// The price Odoo should list: Salla's price (pre-tax; `regular_price` when the event has no `price`), or
/// the tax-included price (`taxed_price`) when the store's tax is price-included. Each may be money or a
/// plain number (`product.price.updated` sends plain numbers).
fn list_price(p: &Product, prices_include_tax: bool) -> Option<Decimal> {
    if prices_include_tax && let Some(t) = &p.taxed_price {
        return Some(t.amount);
    }
    p.price
        .as_ref()
        .or(p.regular_price.as_ref())
        .map(|m| m.amount)
}

/// The products a Salla product event maps to: the product itself, then its variants.
/// `deleted` archives them; status `hidden` archives, `sale`/`out` activates. `_raw` (the product's JSON)
/// is no longer read: every field the mapping uses is typed in [`Product`].
pub fn product_plans(
    p: &Product,
    _raw: &Value,
    deleted: bool,
    prices_include_tax: bool,
) -> Vec<ProductPlan> {
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
    let category = p
        .categories
        .first()
        .and_then(|c| trimmed(c.name.as_deref()))
        .map(str::to_owned);
    let kind = product_kind(p.product_type.as_deref());
    let unlimited = p.unlimited_quantity == Some(true);
    let code = product_code(p.sku.as_deref(), p.id);

    let mut base = Map::new();
    if let Some(n) = &name {
        base.insert("name".into(), json!(n));
    }
    if let Some(a) = active {
        base.insert("active".into(), json!(a));
    }
    let mut main = base.clone();
    main.insert("default_code".into(), json!(code));
    if let Some(price) = list_price(p, prices_include_tax) {
        main.insert("list_price".into(), money(price));
    }
    if let Some(cost) = p.cost() {
        main.insert("standard_price".into(), money(cost.amount));
    }
    let mut plans = vec![ProductPlan {
        entity: entity::PRODUCT,
        salla_id: p.id,
        fallback_name: format!("Salla product {}", p.id),
        code,
        vals: main,
        kind,
        category: category.clone(),
        quantity: if unlimited { None } else { p.quantity },
    }];
    for v in &p.skus {
        let code = variant_code(v.sku.as_deref(), p.id, v.id);
        let mut vals = base.clone();
        if let Some(n) = &name {
            vals.insert("name".into(), json!(format!("{n} ({code})")));
        }
        vals.insert("default_code".into(), json!(code));
        if let Some(price) = v.price.as_ref().or(p.price.as_ref()) {
            vals.insert("list_price".into(), money(price.amount));
        }
        plans.push(ProductPlan {
            entity: entity::VARIANT,
            salla_id: v.id,
            fallback_name: format!("Salla product {} variant {}", p.id, v.id),
            code,
            vals,
            kind,
            category: category.clone(),
            quantity: if unlimited { None } else { v.stock_quantity },
        });
    }
    plans
}

impl<M: IdMap> Engine<'_, M> {
    /// `product.category` by name, created under Odoo's root category when missing.
    pub async fn category_id(&self, name: &str) -> Res<Id> {
        if let Some(id) = self
            .find_one("product.category", Domain::new().eq("name", name), name)
            .await?
        {
            return Ok(id);
        }
        let guard = self.lock(&format!("category:{name}")).await?;
        let id = match self
            .find_one("product.category", Domain::new().eq("name", name), name)
            .await?
        {
            Some(id) => id,
            None => {
                let mut vals = Map::new();
                vals.insert("name".into(), json!(name));
                self.odoo.create("product.category", vals).await?
            }
        };
        guard.release().await;
        Ok(id)
    }

    /// The oldest product with this `default_code` (for the connector's own service products, where a
    /// duplicate must not stop every order).
    pub async fn first_product_by_code(&self, code: &str) -> Res<Option<Id>> {
        let ids = self
            .odoo
            .search(
                "product.product",
                &Domain::new()
                    .eq("default_code", code)
                    .is_in("active", [true, false]),
                &odoo::SearchOptions {
                    limit: Some(1),
                    order: Some("id".into()),
                    ..Default::default()
                },
            )
            .await?;
        Ok(ids.first().copied())
    }

    /// Products by `default_code`, archived ones included, for several codes in one `search_read`:
    /// code → ids, oldest first (a code Odoo does not know is absent).
    pub async fn products_by_codes<'c>(
        &self,
        codes: impl IntoIterator<Item = &'c str>,
    ) -> Res<BTreeMap<String, Vec<Id>>> {
        let codes: BTreeSet<&str> = codes.into_iter().collect();
        if codes.is_empty() {
            return Ok(BTreeMap::new());
        }
        let recs: Vec<Record> = self
            .odoo
            .search_read(
                "product.product",
                &Domain::new()
                    .is_in("default_code", codes.iter().copied())
                    .is_in("active", [true, false]),
                &["default_code"],
                &odoo::SearchOptions {
                    order: Some("id".into()),
                    ..Default::default()
                },
            )
            .await?;
        let mut out: BTreeMap<String, Vec<Id>> = BTreeMap::new();
        for r in recs {
            // `in` is exact, but only the codes asked for are kept (a server that matched more
            // must not hand a line someone else's product).
            if let (Some(code), Some(id)) = (
                r.get("default_code").and_then(Value::as_str),
                r.get("id").and_then(Value::as_i64),
            ) && codes.contains(code)
            {
                out.entry(code.to_owned()).or_default().push(id);
            }
        }
        Ok(out)
    }

    /// A product by `default_code`, archived ones included.
    pub async fn product_by_code(&self, code: &str) -> Res<Option<Id>> {
        self.find_one(
            "product.product",
            Domain::new()
                .eq("default_code", code)
                .is_in("active", [true, false]),
            &format!("default_code {code:?}"),
        )
        .await
    }

    /// Applies one plan: finds the product (id map, then code), writes the differences or creates it, and
    /// records it, moving its watermark to `version` (`None`: a partial event, which records the
    /// mapping but leaves the watermark where it was). `create` false: a product that does not exist
    /// is left alone (`None`).
    pub async fn apply_product_plan(
        &self,
        plan: &ProductPlan,
        version: Option<i64>,
        create: bool,
    ) -> Res<Option<Id>> {
        let merchant = self.merchant();
        let mut vals = plan.vals.clone();
        if let Some(cat) = &plan.category {
            vals.insert("categ_id".into(), json!(self.category_id(cat).await?));
        }
        let mut found = None;
        match idmap::get_model(self.ids, merchant, plan.entity, plan.salla_id).await? {
            // A product kept as a template (crate::template): a small event's values go there.
            Some((model, m)) if model == "product.template" => {
                if let Some(t) = self.apply_to_template(m.odoo_id, &vals).await? {
                    idmap::put(
                        self.ids,
                        merchant,
                        plan.entity,
                        plan.salla_id,
                        "product.template",
                        t,
                        version.unwrap_or(0),
                    )
                    .await?;
                    return Ok(Some(t));
                }
            }
            Some((_, m)) => {
                found = self
                    .read("product.product", m.odoo_id, &["id"])
                    .await?
                    .map(|_| m.odoo_id);
            }
            None => {}
        }
        if found.is_none() {
            found = self.product_by_code(&plan.code).await?;
        }
        // An order with this SKU may be creating the product right now.
        let guard = match (found, create) {
            (None, true) => {
                let g = self.lock(&format!("sku:{}", plan.code)).await?;
                found = self.product_by_code(&plan.code).await?;
                Some(g)
            }
            _ => None,
        };
        let id = match found {
            Some(id) => {
                let fields: Vec<&str> = vals.keys().map(String::as_str).collect();
                let current: Record = self
                    .read("product.product", id, &fields)
                    .await?
                    .unwrap_or_default();
                // A new code becomes visible to orders' look-ups: counted (see
                // `Engine::making_codes`).
                let new_code = vals
                    .get("default_code")
                    .and_then(Value::as_str)
                    .filter(|c| current.get("default_code").and_then(Value::as_str) != Some(*c));
                match new_code {
                    Some(code) => {
                        let changes = crate::engine::diff(&current, &vals);
                        self.making_codes(
                            [code],
                            self.odoo.write("product.product", &[id], changes),
                        )
                        .await?;
                    }
                    None => {
                        self.write_diff("product.product", id, &current, &vals)
                            .await?;
                    }
                }
                id
            }
            None if !create => return Ok(None),
            None => {
                vals.entry("name").or_insert(json!(plan.fallback_name));
                vals.extend(type_vals(&self.caps, plan.kind));
                vals.insert("sale_ok".into(), json!(true));
                if let Some(tax) = self.opts.tax_id {
                    vals.insert(
                        self.caps.product_taxes_field.clone(),
                        json!([[6, 0, [tax]]]),
                    );
                }
                self.making_codes(
                    [plan.code.as_str()],
                    self.odoo.create("product.product", vals),
                )
                .await?
            }
        };
        if let Some(g) = guard {
            g.release().await;
        }
        // The id map never lowers a watermark: 0 keeps the recorded one (or starts one at 0).
        idmap::put(
            self.ids,
            merchant,
            plan.entity,
            plan.salla_id,
            "product.product",
            id,
            version.unwrap_or(0),
        )
        .await?;
        self.touch("product.product", id);
        if self.opts.stock_master == StockMaster::Salla
            && plan.kind == ProductKind::Storable
            && let Some(q) = plan.quantity
        {
            let location = self.stock_location().await?;
            self.odoo
                .set_stock_on_hand(id, q.to_f64().unwrap_or_default(), Some(location))
                .await?;
        }
        Ok(Some(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use odoo::{MoveQuantity, ServerVersion, Transport};

    fn caps(major: u32, storable: StorableProduct) -> Capabilities {
        Capabilities {
            version: ServerVersion {
                major,
                minor: 0,
                serie: format!("{major}.0"),
                saas: false,
            },
            transport: Transport::JsonRpc,
            sale_line_tax_field: if major >= 19 { "tax_ids" } else { "tax_id" }.into(),
            sale_line_uom_field: "product_uom".into(),
            product_taxes_field: "taxes_id".into(),
            storable,
            partner_mobile: major < 19,
            sale_order_locked: major > 16,
            move_quantity: MoveQuantity::QuantityPicked,
            immediate_transfer: major <= 16,
            delivery_lines: true,
            uid: None,
        }
    }

    #[test]
    fn storability_follows_the_version() {
        let v16 = type_vals(
            &caps(16, StorableProduct::DetailedType),
            ProductKind::Storable,
        );
        assert_eq!(json!(v16), json!({"detailed_type": "product"}));
        let v18 = type_vals(
            &caps(18, StorableProduct::IsStorable),
            ProductKind::Storable,
        );
        assert_eq!(json!(v18), json!({"type": "consu", "is_storable": true}));
        let s16 = type_vals(
            &caps(16, StorableProduct::DetailedType),
            ProductKind::Service,
        );
        assert_eq!(json!(s16), json!({"detailed_type": "service"}));
        let s19 = type_vals(&caps(19, StorableProduct::IsStorable), ProductKind::Service);
        assert_eq!(json!(s19), json!({"type": "service"}));
        assert_eq!(product_kind(Some("booking")), ProductKind::Service);
        assert_eq!(product_kind(Some("food")), ProductKind::Storable);
        assert_eq!(product_kind(None), ProductKind::Storable);
    }

    #[test]
    fn codes_are_skus_or_markers() {
        assert_eq!(product_code(Some(" SKU1 "), 5), "SKU1");
        assert_eq!(product_code(Some(""), 5), "SALLA-5");
        assert_eq!(product_code(None, 5), "SALLA-5");
        assert_eq!(variant_code(None, 5, 9), "SALLA-5-9");
        assert_eq!(variant_code(Some("V-1"), 5, 9), "V-1");
    }

    #[test]
    fn variants_become_products_with_their_own_sku_and_price() {
        let raw = json!({"id": 10, "sku": "TSHIRT", "name": "T-shirt", "type": "product",
        "price": {"amount": "50.00", "currency": "SAR"}, "taxed_price": {"amount": 57.5},
        "cost_price": {"amount": 20}, "quantity": 12, "status": "sale",
        "categories": [{"id": 3, "name": "Clothes"}],
        "skus": [
            {"id": 101, "sku": "TSHIRT-S", "price": {"amount": 50}, "stock_quantity": 4},
            {"id": 102, "sku": "", "price": {"amount": "55.5"}, "stock_quantity": 8}
        ]});
        let p: Product = serde_json::from_value(raw.clone()).unwrap();
        let plans = product_plans(&p, &raw, false, false);
        assert_eq!(plans.len(), 3);
        assert_eq!(plans[0].code, "TSHIRT");
        assert_eq!(plans[0].vals["list_price"], json!(50.0));
        assert_eq!(plans[0].vals["standard_price"], json!(20.0));
        assert_eq!(plans[0].vals["active"], json!(true));
        assert_eq!(plans[0].category.as_deref(), Some("Clothes"));
        assert_eq!(plans[0].quantity, Some(Decimal::from(12)));
        assert_eq!(plans[1].entity, entity::VARIANT);
        assert_eq!(plans[1].code, "TSHIRT-S");
        assert_eq!(plans[1].vals["name"], json!("T-shirt (TSHIRT-S)"));
        assert_eq!(plans[2].code, "SALLA-10-102");
        assert_eq!(plans[2].vals["list_price"], json!(55.5));
        assert_eq!(plans[2].quantity, Some(Decimal::from(8)));
        let incl = product_plans(&p, &raw, false, true);
        assert_eq!(incl[0].vals["list_price"], json!(57.5));
    }

    #[test]
    fn partial_events_write_only_what_they_carry() {
        let raw = json!({"id": 799860060, "sku": "SKU122", "status": "hidden"});
        let p: Product = serde_json::from_value(raw.clone()).unwrap();
        let plans = product_plans(&p, &raw, false, false);
        assert_eq!(plans.len(), 1);
        assert_eq!(
            json!(plans[0].vals),
            json!({"active": false, "default_code": "SKU122"})
        );
        let deleted = product_plans(&p, &raw, true, false);
        assert_eq!(deleted[0].vals["active"], json!(false));
        let raw2 = json!({"id": 1, "name": "X", "unlimited_quantity": true, "quantity": 3});
        let p2: Product = serde_json::from_value(raw2.clone()).unwrap();
        assert_eq!(product_plans(&p2, &raw2, false, false)[0].quantity, None);
    }
}
