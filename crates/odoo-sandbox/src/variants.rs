//! Product attributes and variants, per the recorded Odoo 18 transcript (Part V).
//!
//! A template's attribute lines (`product.template.attribute.line`) each get one
//! `product.template.attribute.value` (ptav) per selected `product.attribute.value`; the ptav
//! carries `price_extra`. The template has one `product.product` per combination of the active
//! ptavs of its lines whose attribute creates variants "always" (none for "no_variant"; a
//! template with a "dynamic" attribute gets no variants generated). Without lines it has one
//! variant with no values. A variant that no longer matches a combination is deleted, or
//! archived when something refers to it; a matching archived one is reactivated.
//!
//! `default_code` and `barcode` belong to the variant; the template's are those of its single
//! variant (false when it has several), and writing them on the template writes that variant.
//! A variant's `lst_price` is the template's `list_price` plus its `price_extra`; writing
//! `lst_price` on a variant writes the template's `list_price` (value minus the extra), which
//! moves every variant (V9/V10).

use serde_json::{Map, Value, json};

use crate::Version;
use crate::business::{m2o, s};
use crate::db::{Env, truthy};
use crate::domain::ids_of;
use crate::error::OdooResult;
use crate::schema::Ty;

/// Context flag: a template create/write is in progress; its variants are made at its end.
pub const DEFER: &str = "__sandbox_defer_variants";

fn ptavs_of(env: &Env<'_>, product: i64) -> Vec<i64> {
    ids_of(&env.raw(
        "product.product",
        product,
        "product_template_attribute_value_ids",
    ))
}

pub fn price_extra(env: &Env<'_>, product: i64) -> f64 {
    ptavs_of(env, product)
        .iter()
        .map(|p| env.raw_f64("product.template.attribute.value", *p, "price_extra"))
        .sum()
}

/// `lst_price`: the template's `list_price` plus the variant's `price_extra`.
pub fn lst_price(env: &Env<'_>, product: i64) -> f64 {
    env.raw_f64("product.product", product, "list_price") + price_extra(env, product)
}

/// Active variants of a template.
pub fn active_variants(env: &Env<'_>, tmpl: i64) -> Vec<i64> {
    env.children("product.product", "product_tmpl_id", tmpl)
        .into_iter()
        .filter(|p| truthy(&env.raw("product.product", *p, "active")))
        .collect()
}

pub fn compute(env: &Env<'_>, model: &str, id: i64, field: &str) -> Option<Value> {
    Some(match (model, field) {
        ("product.product", "lst_price") => json!(lst_price(env, id)),
        ("product.product", "price_extra") => json!(price_extra(env, id)),
        ("product.product", "combination_indices") => {
            let mut ids = ptavs_of(env, id);
            ids.sort_unstable();
            json!(
                ids.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            )
        }
        ("product.template", "default_code" | "barcode") => match active_variants(env, id)[..] {
            [one] => env.stored("product.product", one, field),
            _ => json!(false),
        },
        ("product.template", "product_variant_ids") => json!(active_variants(env, id)),
        ("product.template", "product_variant_id") => {
            json!(
                active_variants(env, id)
                    .first()
                    .copied()
                    .unwrap_or_default()
            )
        }
        ("product.template", "product_variant_count") => json!(active_variants(env, id).len()),
        ("product.template.attribute.value", "name") => {
            match m2o(env, model, id, "product_attribute_value_id") {
                Some(v) => env.raw("product.attribute.value", v, "name"),
                None => json!(false),
            }
        }
        ("product.template.attribute.value", "ptav_product_variant_ids") => {
            let tmpl = m2o(env, model, id, "product_tmpl_id").unwrap_or_default();
            json!(
                active_variants(env, tmpl)
                    .into_iter()
                    .filter(|p| ptavs_of(env, *p).contains(&id))
                    .collect::<Vec<_>>()
            )
        }
        ("product.template.attribute.line", "value_count") => {
            json!(ids_of(&env.raw(model, id, "value_ids")).len())
        }
        _ => return None,
    })
}

/// "[code] name (values)" for variants, "[code] name" for templates.
pub fn display_name(env: &Env<'_>, model: &str, id: i64) -> String {
    let name = s(env, model, id, "name");
    let code = match model {
        "product.product" => env
            .stored(model, id, "default_code")
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        _ => compute(env, model, id, "default_code")
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
    };
    let mut out = if code.is_empty() {
        name
    } else {
        format!("[{code}] {name}")
    };
    if model == "product.product" {
        let suffix = combination_name(env, id);
        if !suffix.is_empty() {
            out = format!("{out} ({suffix})");
        }
    }
    out
}

/// `_get_combination_name`: the values of lines with more than one value, no_variant excluded.
fn combination_name(env: &Env<'_>, product: i64) -> String {
    let m = "product.template.attribute.value";
    ptavs_of(env, product)
        .into_iter()
        .filter(|p| {
            let line = m2o(env, m, *p, "attribute_line_id").unwrap_or_default();
            let active_values = env
                .children(m, "attribute_line_id", line)
                .into_iter()
                .filter(|x| truthy(&env.raw(m, *x, "ptav_active")))
                .count();
            let attr = m2o(env, m, *p, "attribute_id").unwrap_or_default();
            active_values > 1 && s(env, "product.attribute", attr, "create_variant") != "no_variant"
        })
        .map(|p| s(env, m, p, "name"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes on products: a variant's `lst_price` (the template's `list_price`), a template's
/// `default_code`/`barcode` (its single variant's).
pub fn before_write(
    env: &mut Env<'_>,
    model: &str,
    ids: &[i64],
    vals: &mut Map<String, Value>,
) -> OdooResult<()> {
    if model == "product.product" {
        if let Some(price) = vals.remove("lst_price") {
            let price = price.as_f64().unwrap_or(0.0);
            for p in ids {
                if let Some(t) = m2o(env, model, *p, "product_tmpl_id") {
                    let extra = price_extra(env, *p);
                    env.set("product.template", t, "list_price", json!(price - extra));
                }
            }
        }
        return Ok(());
    }
    for f in ["default_code", "barcode"] {
        if let Some(v) = vals.get(f).cloned() {
            for t in ids {
                if let [one] = active_variants(env, *t)[..] {
                    let v = if v.as_str() == Some("") {
                        json!(false)
                    } else {
                        v.clone()
                    };
                    env.set("product.product", one, f, v);
                }
            }
        }
    }
    if vals.contains_key("attribute_line_ids") {
        env.ctx.insert(DEFER.into(), json!(true));
    }
    Ok(())
}

/// After a template is created: its variants, then its code and barcode on its single variant.
pub fn after_template_create(
    env: &mut Env<'_>,
    tmpl: i64,
    vals: &Map<String, Value>,
) -> OdooResult<()> {
    create_variant_ids(env, tmpl)?;
    for f in ["default_code", "barcode"] {
        if let Some(v) = vals.get(f).filter(|v| truthy(v))
            && let [one] = active_variants(env, tmpl)[..]
        {
            env.set("product.product", one, f, v.clone());
        }
    }
    Ok(())
}

/// An attribute line was created or its values changed: its template attribute values follow
/// (new ones created, removed ones deactivated), then the template's variants.
pub fn line_changed(env: &mut Env<'_>, line: i64) -> OdooResult<()> {
    let m = "product.template.attribute.value";
    let lm = "product.template.attribute.line";
    // In the values' own order (sequence, id), as Odoo's many2many reads them.
    let mut values = ids_of(&env.raw(lm, line, "value_ids"));
    values.sort_by_key(|v| {
        (
            env.raw("product.attribute.value", *v, "sequence")
                .as_i64()
                .unwrap_or_default(),
            *v,
        )
    });
    let tmpl = m2o(env, lm, line, "product_tmpl_id").unwrap_or_default();
    let attr = m2o(env, lm, line, "attribute_id").unwrap_or_default();
    let existing = env.children(m, "attribute_line_id", line);
    for &v in &values {
        match existing
            .iter()
            .find(|p| m2o(env, m, **p, "product_attribute_value_id") == Some(v))
        {
            Some(p) => env.set(m, *p, "ptav_active", json!(true)),
            None => {
                let extra = if env.version() >= Version::V17 {
                    env.raw_f64("product.attribute.value", v, "default_extra_price")
                } else {
                    0.0
                };
                let mut vals = Map::new();
                vals.insert("product_attribute_value_id".into(), json!(v));
                vals.insert("attribute_line_id".into(), json!(line));
                vals.insert("product_tmpl_id".into(), json!(tmpl));
                vals.insert("attribute_id".into(), json!(attr));
                vals.insert("price_extra".into(), json!(extra));
                env.create(m, &vals)?;
            }
        }
    }
    for p in existing {
        let v = m2o(env, m, p, "product_attribute_value_id").unwrap_or_default();
        if !values.contains(&v) {
            env.set(m, p, "ptav_active", json!(false));
        }
    }
    if !env.ctx_flag(DEFER) && env.exists("product.template", tmpl) {
        create_variant_ids(env, tmpl)?;
    }
    Ok(())
}

/// Whether a stored many2one anywhere points at the product.
fn referenced(env: &Env<'_>, product: i64) -> bool {
    for (mname, m) in &env.schema.models {
        for fl in &m.fields {
            if fl.store
                && matches!(fl.ty, Ty::Many2one("product.product"))
                && env.table(mname).is_some_and(|t| {
                    t.rows
                        .values()
                        .any(|r| r.get(fl.name).and_then(Value::as_i64) == Some(product))
                })
            {
                return true;
            }
        }
    }
    false
}

/// `product.template._create_variant_ids`.
pub fn create_variant_ids(env: &mut Env<'_>, tmpl: i64) -> OdooResult<()> {
    let lm = "product.template.attribute.line";
    let m = "product.template.attribute.value";
    let lines: Vec<i64> = env
        .children(lm, "product_tmpl_id", tmpl)
        .into_iter()
        .filter(|l| truthy(&env.raw(lm, *l, "active")))
        .collect();
    let mut axes: Vec<Vec<i64>> = Vec::new();
    for l in &lines {
        let attr = m2o(env, lm, *l, "attribute_id").unwrap_or_default();
        let mode = s(env, "product.attribute", attr, "create_variant");
        if mode == "dynamic" {
            return Ok(());
        }
        if mode == "no_variant" {
            continue;
        }
        let ptavs: Vec<i64> = env
            .children(m, "attribute_line_id", *l)
            .into_iter()
            .filter(|p| truthy(&env.raw(m, *p, "ptav_active")))
            .collect();
        if !ptavs.is_empty() {
            axes.push(ptavs);
        }
    }
    let mut combos: Vec<Vec<i64>> = vec![Vec::new()];
    for axis in &axes {
        let mut next = Vec::with_capacity(combos.len() * axis.len());
        for c in &combos {
            for p in axis {
                let mut c2 = c.clone();
                c2.push(*p);
                next.push(c2);
            }
        }
        combos = next;
    }
    let key = |mut v: Vec<i64>| {
        v.sort_unstable();
        v
    };
    let variants = env.children("product.product", "product_tmpl_id", tmpl);
    let mut keep = Vec::new();
    for combo in combos {
        let k = key(combo.clone());
        let found = variants
            .iter()
            .copied()
            .find(|v| !keep.contains(v) && key(ptavs_of(env, *v)) == k);
        match found {
            Some(v) => {
                if !truthy(&env.raw("product.product", v, "active")) {
                    env.set("product.product", v, "active", json!(true));
                }
                keep.push(v);
            }
            None => {
                let mut vals = Map::new();
                vals.insert("product_tmpl_id".into(), json!(tmpl));
                vals.insert(
                    "product_template_attribute_value_ids".into(),
                    json!([[6, 0, combo]]),
                );
                keep.push(env.create("product.product", &vals)?);
            }
        }
    }
    for v in variants {
        if keep.contains(&v) {
            continue;
        }
        if referenced(env, v) {
            env.set("product.product", v, "active", json!(false));
        } else {
            env.remove_row("product.product", v);
        }
    }
    Ok(())
}
