//! Model behaviour: computed fields, display names, create/write/unlink hooks and the business
//! methods (order confirmation, deliveries, inventory, invoicing, payments, cancellation,
//! shipping lines).
//!
//! Quantities: a storable product's on-hand quantity is the sum of its `stock.quant` rows in
//! internal locations. Applying an inventory moves the difference from the inventory-adjustment
//! location (a done `stock.move`, a counterpart quant there); validating a delivery moves the
//! done quantity from WH/Stock to Partners/Customers the same way. Reservations are recorded on
//! the moves (`quantity` from 17, `reserved_availability` on 16) and subtracted from the
//! forecast; as in Odoo, the quants of the source location carry them too (`reserved_quantity`).
//! Every change of a quant's `quantity` or `reserved_quantity` moves its `write_date`, as Odoo's
//! ORM does (the connector's stock push polls quants by `write_date`).

use serde_json::{Map, Value, json};

use crate::Version;
use crate::db::{Env, as_f64, truthy};
use crate::domain::ids_of;
use crate::error::{OdooError, OdooResult};

/// Location ids of the seeded warehouse.
pub const LOC_CUSTOMERS: i64 = 5;
pub const LOC_INVENTORY: i64 = 6;
pub const LOC_STOCK: i64 = 8;
pub const PICKING_TYPE_OUT: i64 = 2;

pub(crate) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

pub(crate) fn m2o(env: &Env<'_>, model: &str, id: i64, field: &str) -> Option<i64> {
    env.raw(model, id, field).as_i64()
}

pub(crate) fn s(env: &Env<'_>, model: &str, id: i64, field: &str) -> String {
    env.raw(model, id, field)
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Names of fields renamed between versions.
pub fn line_tax_field(v: Version) -> &'static str {
    if v >= Version::V19 {
        "tax_ids"
    } else {
        "tax_id"
    }
}
pub fn line_uom_field(v: Version) -> &'static str {
    if v >= Version::V19 {
        "product_uom_id"
    } else {
        "product_uom"
    }
}

/// Whether a product (product.product id) keeps on-hand quantities.
pub fn is_storable(env: &Env<'_>, product: i64) -> bool {
    if env.version() >= Version::V18 {
        truthy(&env.raw("product.product", product, "is_storable"))
    } else {
        s(env, "product.product", product, "detailed_type") == "product"
    }
}

/// Goods (anything not a service or combo) get stock moves.
fn is_goods(env: &Env<'_>, product: i64) -> bool {
    let t = s(env, "product.product", product, "type");
    t == "consu" || t == "product"
}

/// (subtotal, tax, total) of a line.
pub fn line_amounts(
    env: &Env<'_>,
    price_unit: f64,
    qty: f64,
    discount: f64,
    taxes: &[i64],
) -> (f64, f64, f64) {
    let base = price_unit * qty * (1.0 - discount / 100.0);
    let mut incl = 0.0;
    let mut pct = 0.0;
    let mut fixed = 0.0;
    for &t in taxes {
        let amount = env.raw_f64("account.tax", t, "amount");
        match s(env, "account.tax", t, "amount_type").as_str() {
            "fixed" => fixed += amount * qty,
            _ => {
                pct += amount / 100.0;
                if truthy(&env.raw("account.tax", t, "price_include")) {
                    incl += amount / 100.0;
                }
            }
        }
    }
    let subtotal = round2(base / (1.0 + incl));
    let tax = round2(subtotal * pct + fixed);
    (subtotal, tax, round2(subtotal + tax))
}

fn sol_amounts(env: &Env<'_>, line: i64) -> (f64, f64, f64) {
    let taxes = ids_of(&env.raw("sale.order.line", line, line_tax_field(env.version())));
    line_amounts(
        env,
        env.raw_f64("sale.order.line", line, "price_unit"),
        env.raw_f64("sale.order.line", line, "product_uom_qty"),
        env.raw_f64("sale.order.line", line, "discount"),
        &taxes,
    )
}

pub(crate) fn aml_amounts(env: &Env<'_>, line: i64) -> (f64, f64, f64) {
    if s(env, "account.move.line", line, "display_type") != "product" {
        return (0.0, 0.0, 0.0);
    }
    let taxes = ids_of(&env.raw("account.move.line", line, "tax_ids"));
    line_amounts(
        env,
        env.raw_f64("account.move.line", line, "price_unit"),
        env.raw_f64("account.move.line", line, "quantity"),
        env.raw_f64("account.move.line", line, "discount"),
        &taxes,
    )
}

fn move_done_qty(env: &Env<'_>, mv: i64) -> f64 {
    if env.version() == Version::V16 {
        env.raw_f64("stock.move", mv, "quantity_done")
    } else {
        env.raw_f64("stock.move", mv, "quantity")
    }
}

/// Reserved quantity of an open move.
fn move_reserved(env: &Env<'_>, mv: i64) -> f64 {
    let state = s(env, "stock.move", mv, "state");
    if !matches!(
        state.as_str(),
        "assigned" | "partially_available" | "confirmed"
    ) {
        return 0.0;
    }
    if env.version() == Version::V16 {
        env.raw_f64("stock.move", mv, "reserved_availability")
    } else {
        env.raw_f64("stock.move", mv, "quantity")
    }
}

pub fn on_hand(env: &Env<'_>, product: i64) -> f64 {
    let mut total = 0.0;
    for q in env.all_ids("stock.quant") {
        if m2o(env, "stock.quant", q, "product_id") == Some(product)
            && let Some(loc) = m2o(env, "stock.quant", q, "location_id")
            && s(env, "stock.location", loc, "usage") == "internal"
        {
            total += env.raw_f64("stock.quant", q, "quantity");
        }
    }
    total
}

fn reserved_total(env: &Env<'_>, product: i64, except: Option<i64>) -> f64 {
    env.all_ids("stock.move")
        .into_iter()
        .filter(|m| Some(*m) != except && m2o(env, "stock.move", *m, "product_id") == Some(product))
        .filter(|m| m2o(env, "stock.move", *m, "location_id") == Some(LOC_STOCK))
        .map(|m| move_reserved(env, m))
        .sum()
}

fn forecast(env: &Env<'_>, product: i64) -> f64 {
    let mut q = on_hand(env, product);
    for m in env.all_ids("stock.move") {
        if m2o(env, "stock.move", m, "product_id") != Some(product) {
            continue;
        }
        let state = s(env, "stock.move", m, "state");
        if !matches!(
            state.as_str(),
            "confirmed" | "assigned" | "partially_available" | "waiting"
        ) {
            continue;
        }
        let demand = env.raw_f64("stock.move", m, "product_uom_qty");
        let src_internal = m2o(env, "stock.move", m, "location_id")
            .is_some_and(|l| s(env, "stock.location", l, "usage") == "internal");
        let dst_internal = m2o(env, "stock.move", m, "location_dest_id")
            .is_some_and(|l| s(env, "stock.location", l, "usage") == "internal");
        if src_internal && !dst_internal {
            q -= demand;
        } else if dst_internal && !src_internal {
            q += demand;
        }
    }
    q
}

fn order_lines(env: &Env<'_>, order: i64) -> Vec<i64> {
    env.children("sale.order.line", "order_id", order)
}

fn qty_invoiced(env: &Env<'_>, line: i64) -> f64 {
    let mut q = 0.0;
    for aml in env.all_ids("account.move.line") {
        if !ids_of(&env.raw("account.move.line", aml, "sale_line_ids")).contains(&line) {
            continue;
        }
        let Some(mv) = m2o(env, "account.move.line", aml, "move_id") else {
            continue;
        };
        if s(env, "account.move", mv, "state") == "cancel" {
            continue;
        }
        let sign = if s(env, "account.move", mv, "move_type") == "out_refund" {
            -1.0
        } else {
            1.0
        };
        q += sign * env.raw_f64("account.move.line", aml, "quantity");
    }
    q
}

fn qty_delivered(env: &Env<'_>, line: i64) -> f64 {
    env.all_ids("stock.move")
        .into_iter()
        .filter(|m| m2o(env, "stock.move", *m, "sale_line_id") == Some(line))
        .filter(|m| s(env, "stock.move", *m, "state") == "done")
        .map(|m| {
            let q = move_done_qty(env, m);
            if m2o(env, "stock.move", m, "location_dest_id") == Some(LOC_CUSTOMERS) {
                q
            } else {
                -q
            }
        })
        .sum()
}

fn qty_to_invoice(env: &Env<'_>, line: i64) -> f64 {
    let Some(order) = m2o(env, "sale.order.line", line, "order_id") else {
        return 0.0;
    };
    if !matches!(
        s(env, "sale.order", order, "state").as_str(),
        "sale" | "done"
    ) || truthy(&env.raw("sale.order.line", line, "display_type"))
    {
        return 0.0;
    }
    let policy = m2o(env, "sale.order.line", line, "product_id")
        .map(|p| s(env, "product.product", p, "invoice_policy"))
        .unwrap_or_else(|| "order".into());
    let base = if policy == "delivery" {
        qty_delivered(env, line)
    } else {
        env.raw_f64("sale.order.line", line, "product_uom_qty")
    };
    base - qty_invoiced(env, line)
}

fn line_invoice_status(env: &Env<'_>, line: i64) -> &'static str {
    let Some(order) = m2o(env, "sale.order.line", line, "order_id") else {
        return "no";
    };
    if !matches!(
        s(env, "sale.order", order, "state").as_str(),
        "sale" | "done"
    ) {
        return "no";
    }
    if qty_to_invoice(env, line).abs() > 1e-9 {
        return "to invoice";
    }
    let ordered = env.raw_f64("sale.order.line", line, "product_uom_qty");
    if qty_invoiced(env, line) >= ordered && ordered > 0.0 {
        return "invoiced";
    }
    "no"
}

fn order_invoices(env: &Env<'_>, order: i64) -> Vec<i64> {
    let lines = order_lines(env, order);
    let mut out: Vec<i64> = Vec::new();
    for aml in env.all_ids("account.move.line") {
        if ids_of(&env.raw("account.move.line", aml, "sale_line_ids"))
            .iter()
            .any(|l| lines.contains(l))
            && let Some(mv) = m2o(env, "account.move.line", aml, "move_id")
            && !out.contains(&mv)
        {
            out.push(mv);
        }
    }
    out.sort_unstable_by(|a, b| b.cmp(a));
    out
}

pub(crate) fn move_amounts(env: &Env<'_>, mv: i64) -> (f64, f64, f64) {
    let mut acc = (0.0, 0.0, 0.0);
    for l in env.children("account.move.line", "move_id", mv) {
        let (a, b, c) = aml_amounts(env, l);
        acc = (acc.0 + a, acc.1 + b, acc.2 + c);
    }
    (round2(acc.0), round2(acc.1), round2(acc.2))
}

/// Computed fields. `None` means "use the generic default".
pub fn compute(env: &Env<'_>, model: &str, id: i64, field: &str) -> Option<Value> {
    if model.starts_with("account.") || model.starts_with("res.currency") {
        if let Some(v) = crate::accounting::compute(env, model, id, field) {
            return Some(v);
        }
    } else if model.starts_with("product.") {
        if let Some(v) = crate::variants::compute(env, model, id, field) {
            return Some(v);
        }
    } else if model.starts_with("stock.return.picking")
        && let Some(v) = crate::returns::compute(env, model, id, field)
    {
        return Some(v);
    }
    Some(match (model, field) {
        ("res.partner", "complete_name") => json!(display_name(env, model, id)),
        ("res.partner", "country_code") => match m2o(env, model, id, "country_id") {
            Some(c) => env.raw("res.country", c, "code"),
            None => json!(false),
        },
        ("res.partner", "company_type") => {
            json!(if truthy(&env.raw(model, id, "is_company")) {
                "company"
            } else {
                "person"
            })
        }
        ("res.partner", "commercial_partner_id") => {
            let mut cur = id;
            for _ in 0..32 {
                if truthy(&env.raw(model, cur, "is_company")) {
                    break;
                }
                match m2o(env, model, cur, "parent_id") {
                    Some(p) => cur = p,
                    None => break,
                }
            }
            json!(cur)
        }
        ("sale.order", "currency_id") => json!(order_currency(env, id)),
        ("sale.order", "currency_rate") => json!(crate::accounting::rate(
            env,
            order_currency(env, id),
            &s(env, model, id, "date_order")
                .chars()
                .take(10)
                .collect::<String>()
        )),
        ("sale.order.line" | "choose.delivery.carrier", "currency_id") => {
            match m2o(env, model, id, "order_id") {
                Some(o) => json!(order_currency(env, o)),
                None => env.raw("res.company", 1, "currency_id"),
            }
        }
        ("product.template" | "product.product", "currency_id") => {
            env.raw("res.company", 1, "currency_id")
        }
        (
            "sale.advance.payment.inv",
            "has_down_payments"
            | "display_draft_invoice_warning"
            | "display_invoice_amount_warning",
        ) => json!(false),
        ("sale.advance.payment.inv", "currency_id") => {
            match ids_of(&env.raw(model, id, "sale_order_ids")).first() {
                Some(o) => json!(order_currency(env, *o)),
                None => env.raw("res.company", 1, "currency_id"),
            }
        }
        ("sale.advance.payment.inv", "company_id") => json!(1),
        ("product.template", "qty_available") => {
            json!(
                env.children("product.product", "product_tmpl_id", id)
                    .iter()
                    .map(|p| on_hand(env, *p))
                    .sum::<f64>()
            )
        }
        ("product.template", "virtual_available") => {
            json!(
                env.children("product.product", "product_tmpl_id", id)
                    .iter()
                    .map(|p| forecast(env, *p))
                    .sum::<f64>()
            )
        }
        ("product.template", "product_variant_id") => {
            json!(
                env.children("product.product", "product_tmpl_id", id)
                    .first()
                    .copied()
                    .unwrap_or_default()
            )
        }
        ("product.product", "qty_available") => json!(on_hand(env, id)),
        ("product.product", "virtual_available") => json!(forecast(env, id)),
        ("product.product", "free_qty") => json!(on_hand(env, id) - reserved_total(env, id, None)),
        ("product.category", "complete_name") => json!(display_name(env, model, id)),
        ("sale.order", "amount_untaxed" | "amount_tax" | "amount_total") => {
            let mut acc = (0.0, 0.0, 0.0);
            for l in order_lines(env, id) {
                let (a, b, c) = sol_amounts(env, l);
                acc = (acc.0 + a, acc.1 + b, acc.2 + c);
            }
            json!(round2(match field {
                "amount_untaxed" => acc.0,
                "amount_tax" => acc.1,
                _ => acc.2,
            }))
        }
        ("sale.order", "delivery_count") => {
            json!(env.children("stock.picking", "sale_id", id).len())
        }
        ("sale.order", "invoice_ids") => json!(order_invoices(env, id)),
        ("sale.order", "invoice_count") => json!(order_invoices(env, id).len()),
        ("sale.order", "invoice_status") => {
            if !matches!(s(env, model, id, "state").as_str(), "sale" | "done") {
                return Some(json!("no"));
            }
            let lines: Vec<i64> = order_lines(env, id)
                .into_iter()
                .filter(|l| !truthy(&env.raw("sale.order.line", *l, "display_type")))
                .collect();
            let st: Vec<&str> = lines.iter().map(|l| line_invoice_status(env, *l)).collect();
            json!(if st.contains(&"to invoice") {
                "to invoice"
            } else if !st.is_empty() && st.iter().all(|x| *x == "invoiced") {
                "invoiced"
            } else {
                "no"
            })
        }
        ("sale.order.line", "product_template_id") => match m2o(env, model, id, "product_id") {
            Some(p) => env.raw("product.product", p, "product_tmpl_id"),
            None => json!(false),
        },
        ("sale.order.line", "price_subtotal") => json!(sol_amounts(env, id).0),
        ("sale.order.line", "price_tax") => json!(sol_amounts(env, id).1),
        ("sale.order.line", "price_total") => json!(sol_amounts(env, id).2),
        ("sale.order.line", "qty_delivered") => json!(qty_delivered(env, id)),
        ("sale.order.line", "qty_invoiced") => json!(qty_invoiced(env, id)),
        ("sale.order.line", "qty_to_invoice") => json!(qty_to_invoice(env, id)),
        ("sale.order.line", "invoice_status") => json!(line_invoice_status(env, id)),
        ("sale.order.line", "invoice_lines") => json!(
            env.all_ids("account.move.line")
                .into_iter()
                .filter(
                    |a| ids_of(&env.raw("account.move.line", *a, "sale_line_ids")).contains(&id)
                )
                .collect::<Vec<_>>()
        ),
        ("sale.order.line", "state") => match m2o(env, model, id, "order_id") {
            Some(o) => env.raw("sale.order", o, "state"),
            None => json!("draft"),
        },
        ("sale.order.line", "company_id") => json!(1),
        ("sale.order.line", "order_partner_id") => match m2o(env, model, id, "order_id") {
            Some(o) => env.raw("sale.order", o, "partner_id"),
            None => json!(false),
        },
        ("sale.advance.payment.inv", "count") => {
            json!(ids_of(&env.raw(model, id, "sale_order_ids")).len())
        }
        ("stock.picking", "picking_type_code") => match m2o(env, model, id, "picking_type_id") {
            Some(t) => env.raw("stock.picking.type", t, "code"),
            None => json!(false),
        },
        ("stock.move", "reference") => match m2o(env, model, id, "picking_id") {
            Some(p) => env.raw("stock.picking", p, "name"),
            None => env.raw(model, id, "name"),
        },
        ("stock.quant", "available_quantity") => {
            json!(env.raw_f64(model, id, "quantity") - env.raw_f64(model, id, "reserved_quantity"))
        }
        ("stock.quant", "inventory_diff_quantity") => {
            if truthy(&env.raw(model, id, "inventory_quantity_set")) {
                json!(
                    env.raw_f64(model, id, "inventory_quantity")
                        - env.raw_f64(model, id, "quantity")
                )
            } else {
                json!(0.0)
            }
        }
        ("stock.quant", "inventory_quantity_auto_apply") => env.raw(model, id, "quantity"),
        ("stock.quant", "product_uom_id") => match m2o(env, model, id, "product_id") {
            Some(p) => env.raw("product.product", p, "uom_id"),
            None => json!(false),
        },
        ("stock.quant", "company_id") => json!(1),
        ("account.move", "amount_untaxed") => json!(move_amounts(env, id).0),
        ("account.move", "amount_tax") => json!(move_amounts(env, id).1),
        ("account.move", "amount_total") => json!(move_amounts(env, id).2),
        ("account.move.line", "price_subtotal") => json!(aml_amounts(env, id).0),
        ("account.move.line", "price_total") => json!(aml_amounts(env, id).2),
        ("choose.delivery.carrier", "partner_id") => match m2o(env, model, id, "order_id") {
            Some(o) => env.raw("sale.order", o, "partner_id"),
            None => json!(false),
        },
        ("ir.model.data", "complete_name") => {
            json!(format!(
                "{}.{}",
                s(env, model, id, "module"),
                s(env, model, id, "name")
            ))
        }
        ("account.tax", "price_include") => {
            json!(env.raw(model, id, "price_include_override") == json!("tax_included"))
        }
        ("res.users", "email") => match m2o(env, model, id, "partner_id") {
            Some(p) => env.raw("res.partner", p, "email"),
            None => json!(false),
        },
        _ => return None,
    })
}

/// `display_name` as Odoo computes it for each model.
pub fn display_name(env: &Env<'_>, model: &str, id: i64) -> String {
    match model {
        "res.partner" => {
            let mut name = s(env, model, id, "name");
            let ptype = s(env, model, id, "type");
            if name.is_empty() && ptype != "contact" {
                name = match ptype.as_str() {
                    "invoice" => "Invoice Address",
                    "delivery" => "Delivery Address",
                    "private" => "Private Address",
                    _ => "Other Address",
                }
                .to_owned();
            }
            match m2o(env, model, id, "parent_id") {
                Some(p) if !truthy(&env.raw(model, id, "is_company")) => {
                    format!("{}, {}", display_name(env, model, p), name)
                }
                _ => name,
            }
        }
        "product.product" | "product.template" => crate::variants::display_name(env, model, id),
        "product.attribute.value" => format!(
            "{}: {}",
            m2o(env, model, id, "attribute_id")
                .map(|a| s(env, "product.attribute", a, "name"))
                .unwrap_or_default(),
            s(env, model, id, "name")
        ),
        "product.template.attribute.value" => format!(
            "{}: {}",
            m2o(env, model, id, "attribute_id")
                .map(|a| s(env, "product.attribute", a, "name"))
                .unwrap_or_default(),
            s(env, model, id, "name")
        ),
        "product.template.attribute.line" => m2o(env, model, id, "attribute_id")
            .map(|a| s(env, "product.attribute", a, "name"))
            .unwrap_or_default(),
        "product.pricelist" => {
            let cur = m2o(env, model, id, "currency_id")
                .map(|c| s(env, "res.currency", c, "name"))
                .unwrap_or_default();
            format!("{} ({cur})", s(env, model, id, "name"))
        }
        "account.account" => format!(
            "{} {}",
            s(env, model, id, "code"),
            s(env, model, id, "name")
        ),
        "account.payment.method.line" => match m2o(env, model, id, "journal_id") {
            Some(j) => format!(
                "{} ({})",
                s(env, model, id, "name"),
                s(env, "account.journal", j, "name")
            ),
            None => s(env, model, id, "name"),
        },
        "product.category" => match m2o(env, model, id, "parent_id") {
            Some(p) => format!(
                "{} / {}",
                display_name(env, model, p),
                s(env, model, id, "name")
            ),
            None => s(env, model, id, "name"),
        },
        "stock.location" => s(env, model, id, "complete_name"),
        "stock.picking.type" => match m2o(env, model, id, "warehouse_id") {
            Some(w) => format!(
                "{}: {}",
                s(env, "stock.warehouse", w, "name"),
                s(env, model, id, "name")
            ),
            None => s(env, model, id, "name"),
        },
        "account.move" => {
            // `_get_move_display_name(show_ref=True)`.
            let mut out = String::new();
            if s(env, model, id, "state") == "draft" {
                out.push_str(match s(env, model, id, "move_type").as_str() {
                    "out_invoice" => "Draft Invoice ",
                    "out_refund" => "Draft Credit Note ",
                    "in_invoice" => "Draft Bill ",
                    "in_refund" => "Draft Vendor Credit Note ",
                    "out_receipt" => "Draft Sales Receipt ",
                    "in_receipt" => "Draft Purchase Receipt ",
                    _ => "Draft Entry ",
                });
            }
            let name = s(env, model, id, "name");
            if name.is_empty() || name == "/" {
                out.push_str(&format!("(* {id})"));
            } else {
                out.push_str(&name);
            }
            let reference = s(env, model, id, "ref");
            if !reference.is_empty() {
                out.push_str(&format!(" ({})", shorten(&reference, 50)));
            }
            out
        }
        "sale.order.line" => {
            let order = m2o(env, model, id, "order_id")
                .map(|o| s(env, "sale.order", o, "name"))
                .unwrap_or_default();
            let name = s(env, model, id, "name");
            format!("{order} - {}", name.lines().next().unwrap_or_default())
        }
        "stock.move" => {
            // origin/code: source>destination
            let origin = m2o(env, model, id, "picking_id")
                .map(|p| s(env, "stock.picking", p, "origin"))
                .unwrap_or_default();
            let code = m2o(env, model, id, "product_id")
                .map(|p| s(env, "product.product", p, "default_code"))
                .unwrap_or_default();
            let loc = |f: &str| {
                m2o(env, model, id, f)
                    .map(|l| s(env, "stock.location", l, "name"))
                    .unwrap_or_default()
            };
            format!(
                "{}{}{}>{}",
                if origin.is_empty() {
                    String::new()
                } else {
                    format!("{origin}/")
                },
                if code.is_empty() {
                    String::new()
                } else {
                    format!("{code}: ")
                },
                loc("location_id"),
                loc("location_dest_id")
            )
        }
        "stock.quant" => match m2o(env, model, id, "location_id") {
            Some(l) => display_name(env, "stock.location", l),
            None => String::new(),
        },
        "ir.model.data" => format!(
            "{}.{}",
            s(env, model, id, "module"),
            s(env, model, id, "name")
        ),
        "res.users" | "res.company" | "res.country" | "res.currency" | "uom.uom"
        | "account.tax" | "account.journal" | "delivery.carrier" | "stock.warehouse"
        | "sale.order" | "stock.picking" | "account.payment" | "product.attribute" => {
            s(env, model, id, "name")
        }
        "ir.config_parameter" => s(env, model, id, "key"),
        _ => {
            if env.schema.field(model, "name").is_some() {
                let n = s(env, model, id, "name");
                if !n.is_empty() {
                    return n;
                }
            }
            format!("{model},{id}")
        }
    }
}

/// Python's `textwrap.shorten(text, width)` (placeholder " [...]").
fn shorten(text: &str, width: usize) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let joined = words.join(" ");
    if joined.chars().count() <= width {
        return joined;
    }
    let placeholder = " [...]";
    let mut out = String::new();
    for w in words {
        let candidate = if out.is_empty() {
            w.to_owned()
        } else {
            format!("{out} {w}")
        };
        if candidate.chars().count() + placeholder.len() > width {
            break;
        }
        out = candidate;
    }
    if out.is_empty() {
        placeholder.trim_start().to_owned()
    } else {
        format!("{out}{placeholder}")
    }
}

/// A sale order's currency: its pricelist's, else the company's.
pub fn order_currency(env: &Env<'_>, order: i64) -> i64 {
    m2o(env, "sale.order", order, "pricelist_id")
        .and_then(|p| m2o(env, "product.pricelist", p, "currency_id"))
        .unwrap_or_else(|| crate::accounting::company_currency(env))
}

pub(crate) fn ctx_active_ids(env: &Env<'_>, model: &str) -> Option<Vec<i64>> {
    if env.ctx.get("active_model").and_then(Value::as_str) != Some(model) {
        return None;
    }
    let mut ids = env.ctx.get("active_ids").map(ids_of).unwrap_or_default();
    if ids.is_empty()
        && let Some(i) = env.ctx.get("active_id").and_then(Value::as_i64)
    {
        ids.push(i);
    }
    Some(ids)
}

fn sync_product_type(env: &Env<'_>, vals: &mut Map<String, Value>) {
    if env.version() >= Version::V18 {
        return;
    }
    match (
        vals.get("detailed_type").cloned(),
        vals.get("type").cloned(),
    ) {
        (Some(d), None) => {
            vals.insert("type".into(), d);
        }
        (None, Some(t)) => {
            vals.insert("detailed_type".into(), t);
        }
        _ => {}
    }
}

/// `res.partner.address_get([kind])[kind]`: a depth-first walk of the partner and its active
/// children (in the partner order; companies are not entered), then of its parents up to a
/// company, for the first partner of type `kind`; else the first of type `contact` met, else the
/// partner itself.
pub fn address_get(env: &Env<'_>, partner: i64, kind: &str) -> i64 {
    let mut contact = None;
    let mut visited = std::collections::BTreeSet::new();
    let mut current = Some(partner);
    while let Some(cur) = current {
        let mut to_scan = std::collections::VecDeque::from([cur]);
        while let Some(rec) = to_scan.pop_front() {
            visited.insert(rec);
            let ty = s(env, "res.partner", rec, "type");
            if ty == kind {
                return rec;
            }
            if ty == "contact" && contact.is_none() {
                contact = Some(rec);
            }
            // `child_ids` reads active children only; they are scanned before the rest.
            let children: Vec<i64> = env
                .children("res.partner", "parent_id", rec)
                .into_iter()
                .filter(|&c| {
                    !visited.contains(&c)
                        && truthy(&env.raw("res.partner", c, "active"))
                        && !truthy(&env.raw("res.partner", c, "is_company"))
                })
                .collect();
            for c in children.into_iter().rev() {
                to_scan.push_front(c);
            }
        }
        current = m2o(env, "res.partner", cur, "parent_id")
            .filter(|_| !truthy(&env.raw("res.partner", cur, "is_company")));
    }
    contact.unwrap_or(partner)
}

/// Defaults and checks before the generic create.
pub fn before_create(
    env: &mut Env<'_>,
    model: &str,
    vals: &mut Map<String, Value>,
) -> OdooResult<()> {
    let v = env.version();
    match model {
        "res.partner" => {
            let ptype = vals
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("contact");
            if ptype == "contact" && !vals.get("name").is_some_and(truthy) {
                return Err(OdooError::validation("Contacts require a name"));
            }
        }
        "product.template" | "product.product" => {
            sync_product_type(env, vals);
            check_barcode(env, model, vals, &[])?;
            if model == "product.template" {
                // Variants are made once the attribute lines exist (after_create).
                env.ctx.insert(crate::variants::DEFER.into(), json!(true));
            } else if let Some(price) = vals.remove("lst_price")
                && !vals.contains_key("list_price")
            {
                vals.insert("list_price".into(), price);
            }
        }
        "product.pricelist" => {
            if !vals.get("currency_id").is_some_and(truthy) {
                vals.insert(
                    "currency_id".into(),
                    json!(crate::accounting::company_currency(env)),
                );
            }
            vals.entry("company_id").or_insert(json!(1));
        }
        "res.currency.rate" => {
            vals.entry("name").or_insert(json!(env.today()));
        }
        "account.move" if !vals.get("currency_id").is_some_and(truthy) => {
            let journal = vals.get("journal_id").and_then(Value::as_i64).unwrap_or(1);
            let cur = m2o(env, "account.journal", journal, "currency_id")
                .unwrap_or_else(|| crate::accounting::company_currency(env));
            vals.insert("currency_id".into(), json!(cur));
        }
        "account.move.line" => crate::accounting::line_defaults(env, vals),
        "account.move.reversal" => crate::accounting::reversal_defaults(env, vals)?,
        "stock.return.picking" => crate::returns::defaults(env, vals)?,
        "ir.model.data" => {
            let module = vals
                .get("module")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let name = vals
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let taken = env.all_ids("ir.model.data").into_iter().any(|i| {
                s(env, "ir.model.data", i, "module") == module
                    && s(env, "ir.model.data", i, "name") == name
            });
            if taken {
                return Err(OdooError::validation(format!(
                    "duplicate key value violates unique constraint \"ir_model_data_module_name_uniq_index\"\nDETAIL:  Key (module, name)=({module}, {name}) already exists.\n"
                )));
            }
        }
        // Odoo creates the user's partner on the fly.
        "res.users" if !vals.get("partner_id").is_some_and(truthy) => {
            let mut pvals = Map::new();
            pvals.insert(
                "name".into(),
                vals.get("name").cloned().unwrap_or(json!(false)),
            );
            if let Some(email) = vals.get("email").filter(|e| truthy(e)) {
                pvals.insert("email".into(), email.clone());
            } else if let Some(login) = vals.get("login").and_then(Value::as_str)
                && login.contains('@')
            {
                pvals.insert("email".into(), json!(login));
            }
            let pid = env.create("res.partner", &pvals)?;
            vals.insert("partner_id".into(), json!(pid));
        }
        "res.users" => {
            if let Some(email) = vals.get("email").cloned()
                && let Some(p) = vals.get("partner_id").and_then(Value::as_i64)
                && env.exists("res.partner", p)
            {
                env.set("res.partner", p, "email", email);
            }
        }
        "sale.order" => {
            if !vals.get("name").is_some_and(|n| truthy(n) && n != "New") {
                let n = env.db.next_seq("sale.order");
                vals.insert("name".into(), json!(format!("S{n:05}")));
            }
            if let Some(p) = vals.get("partner_id").and_then(Value::as_i64) {
                vals.entry("partner_invoice_id").or_insert(json!(p));
                // `_compute_partner_shipping_id`: `partner_id.address_get(['delivery'])`.
                if !vals.contains_key("partner_shipping_id") {
                    vals.insert(
                        "partner_shipping_id".into(),
                        json!(address_get(env, p, "delivery")),
                    );
                }
            }
            vals.entry("date_order").or_insert(json!(env.now_str()));
            vals.entry("user_id").or_insert(json!(env.uid));
            // The partner's (here: the company's default) pricelist; currency_id follows it.
            if !vals.get("pricelist_id").is_some_and(truthy)
                && let Some(p) = env
                    .search("product.pricelist", &json!([]), 0, Some(1), None)?
                    .first()
            {
                vals.insert("pricelist_id".into(), json!(p));
            }
        }
        "sale.order.line" => {
            if !vals.get("display_type").is_some_and(truthy) {
                let Some(p) = vals.get("product_id").and_then(Value::as_i64) else {
                    return Err(OdooError::validation(
                        "Missing required fields on accountable sale order line.",
                    ));
                };
                if !env.exists("product.product", p) {
                    return Err(OdooError::missing("product.product", &[p], env.uid));
                }
                if !vals.contains_key("name") {
                    let mut name = display_name(env, "product.product", p);
                    let desc = s(env, "product.product", p, "description_sale");
                    if !desc.is_empty() {
                        name = format!("{name}\n{desc}");
                    }
                    vals.insert("name".into(), json!(name));
                }
                if !vals.contains_key("price_unit") {
                    // The variant's sales price, in the order's (pricelist's) currency.
                    let mut price = crate::variants::lst_price(env, p);
                    if let Some(o) = vals.get("order_id").and_then(Value::as_i64)
                        && env.exists("sale.order", o)
                    {
                        let date: String = s(env, "sale.order", o, "date_order")
                            .chars()
                            .take(10)
                            .collect();
                        price = crate::accounting::convert(
                            env,
                            price,
                            crate::accounting::company_currency(env),
                            order_currency(env, o),
                            &date,
                        );
                    }
                    vals.insert("price_unit".into(), json!(price));
                }
                let tf = line_tax_field(v);
                if !vals.contains_key(tf) {
                    let taxes = ids_of(&env.raw("product.product", p, "taxes_id"));
                    vals.insert(tf.into(), json!([[6, 0, taxes]]));
                }
                vals.entry(line_uom_field(v))
                    .or_insert(env.raw("product.product", p, "uom_id"));
            } else {
                vals.entry("price_unit").or_insert(json!(0.0));
                vals.entry("product_uom_qty").or_insert(json!(0.0));
            }
            if let Some(o) = vals.get("order_id").and_then(Value::as_i64)
                && env.exists("sale.order", o)
                && v >= Version::V17
                && truthy(&env.raw("sale.order", o, "locked"))
            {
                return Err(OdooError::user(
                    "You cannot modify the product of this order line because the order is locked.",
                ));
            }
        }
        "stock.picking" => {
            if let Some(t) = vals.get("picking_type_id").and_then(Value::as_i64)
                && env.exists("stock.picking.type", t)
            {
                if !vals.contains_key("location_id") {
                    vals.insert(
                        "location_id".into(),
                        env.raw("stock.picking.type", t, "default_location_src_id"),
                    );
                }
                if !vals.contains_key("location_dest_id") {
                    vals.insert(
                        "location_dest_id".into(),
                        env.raw("stock.picking.type", t, "default_location_dest_id"),
                    );
                }
                if !vals.get("name").is_some_and(|n| truthy(n) && n != "/") {
                    let code = s(env, "stock.picking.type", t, "sequence_code");
                    let wh = m2o(env, "stock.picking.type", t, "warehouse_id")
                        .map(|w| s(env, "stock.warehouse", w, "code"))
                        .unwrap_or_else(|| "WH".into());
                    let n = env.db.next_seq(&format!("stock.picking.{t}"));
                    vals.insert("name".into(), json!(format!("{wh}/{code}/{n:05}")));
                }
            }
            vals.entry("scheduled_date").or_insert(json!(env.now_str()));
        }
        "stock.move" => {
            if let Some(p) = vals.get("product_id").and_then(Value::as_i64)
                && env.exists("product.product", p)
            {
                vals.entry("name")
                    .or_insert(json!(display_name(env, "product.product", p)));
                vals.entry("product_uom")
                    .or_insert(env.raw("product.product", p, "uom_id"));
            }
            vals.entry("date").or_insert(json!(env.now_str()));
        }
        "sale.advance.payment.inv" => {
            if !vals.contains_key("sale_order_ids")
                && let Some(ids) = ctx_active_ids(env, "sale.order")
            {
                vals.insert("sale_order_ids".into(), json!([[6, 0, ids]]));
            }
        }
        "account.payment.register" => crate::accounting::register_defaults(env, vals)?,
        "choose.delivery.carrier" => {
            if let Some(c) = vals.get("carrier_id").and_then(Value::as_i64)
                && env.exists("delivery.carrier", c)
            {
                let price = env.raw("delivery.carrier", c, "fixed_price");
                vals.entry("delivery_price").or_insert(price.clone());
                vals.entry("display_price").or_insert(price);
            }
        }
        "stock.quant" => {
            // Direct creates (outside the inventory-mode path of `create_quant`) are refused.
            return Err(OdooError::user(
                "Quant's creation is restricted, you can't do this operation.",
            ));
        }
        _ => {}
    }
    Ok(())
}

/// Barcodes are unique among products (ids: the records being written, which may keep theirs).
fn check_barcode(
    env: &Env<'_>,
    model: &str,
    vals: &Map<String, Value>,
    ids: &[i64],
) -> OdooResult<()> {
    let Some(code) = vals
        .get("barcode")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
    else {
        return Ok(());
    };
    // Barcodes live on the variants; a template's are its variants'.
    let owners: Vec<i64> = env
        .all_ids("product.product")
        .into_iter()
        .filter(|p| env.stored("product.product", *p, "barcode").as_str() == Some(code))
        .collect();
    let mine: Vec<i64> = if model == "product.template" {
        ids.iter()
            .flat_map(|t| env.children("product.product", "product_tmpl_id", *t))
            .collect()
    } else {
        ids.to_vec()
    };
    let others: Vec<String> = owners
        .iter()
        .filter(|o| !mine.contains(o))
        .map(|o| display_name(env, "product.product", *o))
        .collect();
    if others.is_empty() {
        return Ok(());
    }
    Err(OdooError::validation(format!(
        "Barcode(s) already assigned:\n\n- Barcode \"{code}\" already assigned to product(s): {}",
        others.join(", ")
    )))
}

pub fn after_create(
    env: &mut Env<'_>,
    model: &str,
    id: i64,
    vals: &Map<String, Value>,
) -> OdooResult<()> {
    match model {
        "product.template" => {
            env.ctx.remove(crate::variants::DEFER);
            if !env.ctx_flag("create_product_product") {
                crate::variants::after_template_create(env, id, vals)?;
            }
        }
        "product.template.attribute.line" => crate::variants::line_changed(env, id)?,
        "account.move" => crate::accounting::add_term_line(env, id)?,
        "sale.order.line" => {
            if let Some(o) = m2o(env, model, id, "order_id")
                && s(env, "sale.order", o, "state") == "sale"
            {
                launch_stock_rules(env, o, &[id])?;
            }
        }
        _ => {}
    }
    Ok(())
}

pub fn before_write(
    env: &mut Env<'_>,
    model: &str,
    ids: &[i64],
    vals: &mut Map<String, Value>,
) -> OdooResult<()> {
    let parent_field = match model {
        "res.partner" | "product.category" => Some("parent_id"),
        "stock.location" => Some("location_id"),
        _ => None,
    };
    if let Some(pf) = parent_field
        && let Some(mut cur) = vals.get(pf).and_then(Value::as_i64)
    {
        for _ in 0..10_000 {
            if ids.contains(&cur) {
                return Err(OdooError::validation(match model {
                    "res.partner" => "You cannot create recursive Partner hierarchies.",
                    "product.category" => "You cannot create recursive categories.",
                    _ => "You cannot create recursive locations.",
                }));
            }
            match m2o(env, model, cur, pf) {
                Some(p) => cur = p,
                None => break,
            }
        }
    }
    match model {
        "product.template" | "product.product" => {
            sync_product_type(env, vals);
            check_barcode(env, model, vals, ids)?;
            crate::variants::before_write(env, model, ids, vals)?;
        }
        "res.users" => {
            if let Some(email) = vals.get("email").cloned() {
                for id in ids {
                    if let Some(p) = m2o(env, model, *id, "partner_id") {
                        env.set("res.partner", p, "email", email.clone());
                    }
                }
            }
        }
        "account.payment.register" => crate::accounting::register_before_write(env, ids, vals),
        "stock.quant" => {
            if !env.ctx_flag("inventory_mode") {
                return Err(OdooError::user(
                    "Quant's editing is restricted, you can't do this operation.",
                ));
            }
            if vals.contains_key("inventory_quantity") {
                vals.insert("inventory_quantity_set".into(), json!(true));
            }
        }
        "sale.order" if env.version() >= Version::V17 && vals.contains_key("order_line") => {
            for id in ids {
                if truthy(&env.raw(model, *id, "locked")) {
                    return Err(OdooError::user(
                        "You cannot modify the product of this order line because the order is locked.",
                    ));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

pub fn after_write(
    env: &mut Env<'_>,
    model: &str,
    ids: &[i64],
    vals: &Map<String, Value>,
) -> OdooResult<()> {
    match model {
        "product.template" if vals.contains_key("attribute_line_ids") => {
            env.ctx.remove(crate::variants::DEFER);
            for t in ids {
                crate::variants::create_variant_ids(env, *t)?;
            }
        }
        "product.template.attribute.line" if vals.contains_key("value_ids") => {
            for l in ids {
                crate::variants::line_changed(env, *l)?;
            }
        }
        _ => {}
    }
    if model == "sale.order.line" && vals.contains_key("product_uom_qty") {
        // Keep open delivery moves in line with the ordered quantity.
        for line in ids {
            let qty = env.raw_f64(model, *line, "product_uom_qty");
            let moves: Vec<i64> = env
                .all_ids("stock.move")
                .into_iter()
                .filter(|m| m2o(env, "stock.move", *m, "sale_line_id") == Some(*line))
                .filter(|m| {
                    !matches!(
                        s(env, "stock.move", *m, "state").as_str(),
                        "done" | "cancel"
                    )
                })
                .collect();
            if let Some(m) = moves.first() {
                let delivered = qty_delivered(env, *line);
                env.set(
                    "stock.move",
                    *m,
                    "product_uom_qty",
                    json!((qty - delivered).max(0.0)),
                );
                // A new demand: Odoo unreserves the move, then assigns it afresh.
                let field = if env.version() == Version::V16 {
                    "reserved_availability"
                } else {
                    "quantity"
                };
                env.set("stock.move", *m, field, json!(0.0));
                reserve_move(env, *m);
                if let Some(p) = m2o(env, "stock.move", *m, "picking_id") {
                    refresh_picking_state(env, p);
                }
            }
        }
    }
    Ok(())
}

/// Records an unlink affects beyond the deleted ones (to refresh after it).
pub fn unlink_touches(env: &Env<'_>, model: &str, ids: &[i64]) -> Vec<i64> {
    match model {
        "product.template.attribute.line" => {
            let mut t: Vec<i64> = ids
                .iter()
                .filter_map(|l| m2o(env, model, *l, "product_tmpl_id"))
                .collect();
            t.sort_unstable();
            t.dedup();
            t
        }
        _ => Vec::new(),
    }
}

pub fn after_unlink(env: &mut Env<'_>, model: &str, touched: &[i64]) -> OdooResult<()> {
    if model == "product.template.attribute.line" && !env.ctx_flag(crate::variants::DEFER) {
        for t in touched {
            if env.exists("product.template", *t) {
                crate::variants::create_variant_ids(env, *t)?;
            }
        }
    }
    Ok(())
}

pub fn before_unlink(env: &mut Env<'_>, model: &str, ids: &[i64]) -> OdooResult<()> {
    match model {
        "sale.order" => {
            for id in ids {
                if !matches!(s(env, model, *id, "state").as_str(), "draft" | "cancel") {
                    return Err(OdooError::user(
                        "You can not delete a sent quotation or a confirmed sales order. You must first cancel it.",
                    ));
                }
            }
        }
        "sale.order.line" => {
            for id in ids {
                if let Some(o) = m2o(env, model, *id, "order_id")
                    && s(env, "sale.order", o, "state") == "sale"
                    && !truthy(&env.raw(model, *id, "display_type"))
                {
                    return Err(OdooError::user(
                        "Once a sales order is confirmed, you can't remove one of its lines (we need to track if something gets invoiced or delivered).\n                Set the quantity to 0 instead.",
                    ));
                }
            }
        }
        "account.move" => {
            for id in ids {
                if s(env, model, *id, "state") == "posted" {
                    return Err(OdooError::user(
                        "You cannot delete an entry which has been posted once.",
                    ));
                }
            }
        }
        "stock.picking" | "stock.move" => {
            for id in ids {
                if s(env, model, *id, "state") == "done" {
                    return Err(OdooError::user(
                        "You can not delete product moves if the picking is done. You can only correct the done quantities.",
                    ));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Stock

fn reserve_move(env: &mut Env<'_>, mv: i64) {
    let Some(product) = m2o(env, "stock.move", mv, "product_id") else {
        return;
    };
    let demand = env.raw_f64("stock.move", mv, "product_uom_qty");
    // Only goods leaving an internal location need stock; receipts are always available.
    let from_internal = m2o(env, "stock.move", mv, "location_id")
        .is_some_and(|l| s(env, "stock.location", l, "usage") == "internal");
    let field = if env.version() == Version::V16 {
        "reserved_availability"
    } else {
        "quantity"
    };
    // On 17+ a picked move's quantity was written by hand (the connector writes it, with
    // `picked`, before `button_validate`), beyond the stock if need be. Odoo's `_action_assign`
    // only reserves what a move still misses (`product_uom_qty - quantity`) and never takes that
    // back; setting it to what the stock allows would cancel the move at validation.
    let kept = if env.version() != Version::V16 && truthy(&env.raw("stock.move", mv, "picked")) {
        env.raw_f64("stock.move", mv, field).max(0.0).min(demand)
    } else {
        0.0
    };
    let reserved = if is_storable(env, product) && from_internal {
        let free = on_hand(env, product) - reserved_total(env, product, Some(mv));
        kept.max(demand.min(free.max(0.0)))
    } else {
        demand
    };
    let state = if reserved >= demand - 1e-9 {
        "assigned"
    } else if reserved > 0.0 {
        "partially_available"
    } else {
        "confirmed"
    };
    env.set("stock.move", mv, field, json!(reserved));
    env.set("stock.move", mv, "state", json!(state));
    sync_reserved(env, product);
}

/// Odoo reserves on quants (`stock.quant._update_reserved_quantity`): keep the product's quants'
/// `reserved_quantity` equal to what its open moves reserve from each internal location, moving
/// `write_date` of those that change.
fn sync_reserved(env: &mut Env<'_>, product: i64) {
    let mut by_location: std::collections::BTreeMap<i64, f64> = std::collections::BTreeMap::new();
    for m in env.all_ids("stock.move") {
        if m2o(env, "stock.move", m, "product_id") != Some(product) {
            continue;
        }
        if let Some(l) = m2o(env, "stock.move", m, "location_id") {
            *by_location.entry(l).or_default() += move_reserved(env, m);
        }
    }
    for q in env.all_ids("stock.quant") {
        if m2o(env, "stock.quant", q, "product_id") != Some(product) {
            continue;
        }
        let Some(loc) = m2o(env, "stock.quant", q, "location_id") else {
            continue;
        };
        if s(env, "stock.location", loc, "usage") != "internal" {
            continue;
        }
        let want = by_location.get(&loc).copied().unwrap_or(0.0).max(0.0);
        if (env.raw_f64("stock.quant", q, "reserved_quantity") - want).abs() > 1e-9 {
            env.set("stock.quant", q, "reserved_quantity", json!(want));
            touch(env, "stock.quant", q);
        }
    }
}

/// A write by the business logic: `write_date` and `write_uid` move, as in Odoo's ORM.
fn touch(env: &mut Env<'_>, model: &str, id: i64) {
    let now = env.now_str();
    let uid = env.uid;
    env.set(model, id, "write_date", json!(now));
    env.set(model, id, "write_uid", json!(uid));
}

fn refresh_picking_state(env: &mut Env<'_>, picking: i64) {
    let moves = env.children("stock.move", "picking_id", picking);
    let states: Vec<String> = moves
        .iter()
        .map(|m| s(env, "stock.move", *m, "state"))
        .collect();
    let open: Vec<&String> = states.iter().filter(|x| *x != "cancel").collect();
    let st = if open.is_empty() {
        if states.is_empty() { "draft" } else { "cancel" }
    } else if open.iter().all(|x| *x == "done") {
        "done"
    } else if open
        .iter()
        .any(|x| *x == "assigned" || *x == "partially_available")
    {
        "assigned"
    } else {
        "confirmed"
    };
    env.set("stock.picking", picking, "state", json!(st));
}

/// Create delivery moves for confirmed order lines (goods only).
fn launch_stock_rules(env: &mut Env<'_>, order: i64, lines: &[i64]) -> OdooResult<()> {
    let goods: Vec<i64> = lines
        .iter()
        .copied()
        .filter(|l| m2o(env, "sale.order.line", *l, "product_id").is_some_and(|p| is_goods(env, p)))
        .filter(|l| env.raw_f64("sale.order.line", *l, "product_uom_qty") > 0.0)
        .collect();
    if goods.is_empty() {
        return Ok(());
    }
    let open = env
        .children("stock.picking", "sale_id", order)
        .into_iter()
        .find(|p| {
            !matches!(
                s(env, "stock.picking", *p, "state").as_str(),
                "done" | "cancel"
            )
        });
    let picking = match open {
        Some(p) => p,
        None => {
            let name = s(env, "sale.order", order, "name");
            let reference = s(env, "sale.order", order, "client_order_ref");
            let origin = if reference.is_empty() {
                name
            } else {
                format!("{name} - {reference}")
            };
            let mut vals = Map::new();
            vals.insert("picking_type_id".into(), json!(PICKING_TYPE_OUT));
            vals.insert(
                "partner_id".into(),
                env.raw("sale.order", order, "partner_shipping_id"),
            );
            vals.insert("origin".into(), json!(origin));
            vals.insert("sale_id".into(), json!(order));
            vals.insert(
                "move_type".into(),
                env.raw("sale.order", order, "picking_policy"),
            );
            vals.insert("state".into(), json!("confirmed"));
            if let Some(c) = m2o(env, "sale.order", order, "carrier_id") {
                vals.insert("carrier_id".into(), json!(c));
            }
            env.create("stock.picking", &vals)?
        }
    };
    let origin = s(env, "stock.picking", picking, "origin");
    for l in goods {
        let product = m2o(env, "sale.order.line", l, "product_id").unwrap_or_default();
        let mut vals = Map::new();
        vals.insert("product_id".into(), json!(product));
        vals.insert(
            "product_uom_qty".into(),
            env.raw("sale.order.line", l, "product_uom_qty"),
        );
        vals.insert("location_id".into(), json!(LOC_STOCK));
        vals.insert("location_dest_id".into(), json!(LOC_CUSTOMERS));
        vals.insert("picking_id".into(), json!(picking));
        vals.insert("picking_type_id".into(), json!(PICKING_TYPE_OUT));
        vals.insert("sale_line_id".into(), json!(l));
        vals.insert("origin".into(), json!(origin));
        let mv = env.create("stock.move", &vals)?;
        env.set("stock.move", mv, "state", json!("confirmed"));
        reserve_move(env, mv);
    }
    refresh_picking_state(env, picking);
    Ok(())
}

/// Move `qty` of `product` between two locations through quants (creating them as needed).
fn move_quants(env: &mut Env<'_>, product: i64, from: i64, to: i64, qty: f64) -> OdooResult<()> {
    for (loc, delta) in [(from, -qty), (to, qty)] {
        let q = quant_at(env, product, loc);
        let cur = env.raw_f64("stock.quant", q, "quantity");
        env.set("stock.quant", q, "quantity", json!(cur + delta));
        touch(env, "stock.quant", q);
    }
    sync_reserved(env, product);
    Ok(())
}

fn quant_at(env: &mut Env<'_>, product: i64, loc: i64) -> i64 {
    let existing = env.all_ids("stock.quant").into_iter().find(|q| {
        m2o(env, "stock.quant", *q, "product_id") == Some(product)
            && m2o(env, "stock.quant", *q, "location_id") == Some(loc)
    });
    match existing {
        Some(q) => q,
        None => insert_quant(env, product, loc),
    }
}

fn insert_quant(env: &mut Env<'_>, product: i64, loc: i64) -> i64 {
    let now = env.now_str();
    let uid = env.uid;
    let id = env.alloc_id("stock.quant");
    let row = json!({
        "product_id": product, "location_id": loc, "quantity": 0.0, "reserved_quantity": 0.0,
        "inventory_quantity": 0.0, "inventory_quantity_set": false, "in_date": now,
        "create_date": now, "write_date": now, "create_uid": uid, "write_uid": uid,
    });
    if let Value::Object(r) = row {
        env.insert_row("stock.quant", id, r);
    }
    id
}

/// `stock.quant.create` in inventory mode: one quant per product and location.
pub fn create_quant(env: &mut Env<'_>, vals: &Map<String, Value>) -> OdooResult<i64> {
    const ALLOWED: &[&str] = &[
        "product_id",
        "location_id",
        "lot_id",
        "package_id",
        "owner_id",
        "inventory_quantity",
        "inventory_quantity_auto_apply",
        "inventory_date",
        "user_id",
    ];
    for k in vals.keys() {
        if env.schema.field("stock.quant", k).is_none() {
            return Err(OdooError::invalid_field("stock.quant", k));
        }
    }
    if !env.ctx_flag("inventory_mode") || vals.keys().any(|k| !ALLOWED.contains(&k.as_str())) {
        return Err(OdooError::user(
            "Quant's creation is restricted, you can't do this operation.",
        ));
    }
    let product = vals.get("product_id").and_then(Value::as_i64);
    let location = vals.get("location_id").and_then(Value::as_i64);
    let (Some(product), Some(location)) = (product, location) else {
        let field = if product.is_none() {
            ("Product", "product_id")
        } else {
            ("Location", "location_id")
        };
        env.alloc_id("stock.quant");
        return Err(OdooError::mandatory(
            "Quants",
            "stock.quant",
            field.0,
            field.1,
        ));
    };
    if !env.exists("product.product", product) {
        return Err(OdooError::missing("product.product", &[product], env.uid));
    }
    if !env.exists("stock.location", location) {
        return Err(OdooError::missing("stock.location", &[location], env.uid));
    }
    if !is_storable(env, product) {
        return Err(OdooError::validation(
            "Quants cannot be created for consumables or services.",
        ));
    }
    let existing = env.all_ids("stock.quant").into_iter().find(|q| {
        m2o(env, "stock.quant", *q, "product_id") == Some(product)
            && m2o(env, "stock.quant", *q, "location_id") == Some(location)
    });
    let q = match existing {
        Some(q) => q,
        None => insert_quant(env, product, location),
    };
    if let Some(iq) = vals.get("inventory_quantity") {
        env.set("stock.quant", q, "inventory_quantity", json!(as_f64(iq)));
        env.set("stock.quant", q, "inventory_quantity_set", json!(true));
    }
    if let Some(iq) = vals.get("inventory_quantity_auto_apply") {
        // Setting the applied quantity directly applies the inventory at once.
        env.set("stock.quant", q, "inventory_quantity", json!(as_f64(iq)));
        env.set("stock.quant", q, "inventory_quantity_set", json!(true));
        apply_inventory(env, &[q])?;
    }
    for k in ["user_id", "inventory_date"] {
        if let Some(v) = vals.get(k) {
            env.set("stock.quant", q, k, v.clone());
        }
    }
    Ok(q)
}

/// `stock.quant.action_apply_inventory`.
pub fn apply_inventory(env: &mut Env<'_>, quants: &[i64]) -> OdooResult<()> {
    for &q in quants {
        if !env.exists("stock.quant", q) {
            return Err(OdooError::missing("stock.quant", &[q], env.uid));
        }
        if !truthy(&env.raw("stock.quant", q, "inventory_quantity_set")) {
            continue;
        }
        let product = m2o(env, "stock.quant", q, "product_id").unwrap_or_default();
        let loc = m2o(env, "stock.quant", q, "location_id").unwrap_or(LOC_STOCK);
        let diff = env.raw_f64("stock.quant", q, "inventory_quantity")
            - env.raw_f64("stock.quant", q, "quantity");
        if diff.abs() > 1e-9 {
            let (from, to) = if diff > 0.0 {
                (LOC_INVENTORY, loc)
            } else {
                (loc, LOC_INVENTORY)
            };
            let mut vals = Map::new();
            vals.insert("product_id".into(), json!(product));
            vals.insert("product_uom_qty".into(), json!(diff.abs()));
            vals.insert("location_id".into(), json!(from));
            vals.insert("location_dest_id".into(), json!(to));
            vals.insert("is_inventory".into(), json!(true));
            vals.insert("name".into(), json!("Product Quantity Updated"));
            let mv = env.create("stock.move", &vals)?;
            let qf = if env.version() == Version::V16 {
                "quantity_done"
            } else {
                "quantity"
            };
            env.set("stock.move", mv, qf, json!(diff.abs()));
            if env.version() >= Version::V17 {
                env.set("stock.move", mv, "picked", json!(true));
            }
            env.set("stock.move", mv, "state", json!("done"));
            env.set(
                "stock.quant",
                q,
                "quantity",
                json!(env.raw_f64("stock.quant", q, "quantity") + diff),
            );
            touch(env, "stock.quant", q);
            // The counterpart in the inventory-adjustment location.
            let counter = quant_at(env, product, LOC_INVENTORY);
            let cur = env.raw_f64("stock.quant", counter, "quantity");
            env.set("stock.quant", counter, "quantity", json!(cur - diff));
            touch(env, "stock.quant", counter);
        }
        env.set("stock.quant", q, "inventory_quantity", json!(0.0));
        env.set("stock.quant", q, "inventory_quantity_set", json!(false));
        env.set("stock.quant", q, "inventory_date", json!(env.today()));
    }
    // Reservations may now be possible for waiting deliveries.
    for mv in env.all_ids("stock.move") {
        if matches!(
            s(env, "stock.move", mv, "state").as_str(),
            "confirmed" | "partially_available"
        ) {
            reserve_move(env, mv);
            if let Some(p) = m2o(env, "stock.move", mv, "picking_id") {
                refresh_picking_state(env, p);
            }
        }
    }
    Ok(())
}

/// A wizard's window action, as Odoo returns it: no record is created, the wizard's fields
/// come from the context (`default_pick_ids`, ...).
fn wizard_action(name: &str, res_model: &str, context: Value) -> Value {
    json!({
        "name": name,
        "type": "ir.actions.act_window",
        "view_mode": "form",
        "res_model": res_model,
        "views": [[false, "form"]],
        "view_id": false,
        "target": "new",
        "context": context,
    })
}

/// `stock.picking.button_validate`: `true` when done, or a wizard action (nothing validated).
pub fn button_validate(env: &mut Env<'_>, pickings: &[i64]) -> OdooResult<Value> {
    let v = env.version();
    for &p in pickings {
        if !env.exists("stock.picking", p) {
            return Err(OdooError::missing("stock.picking", &[p], env.uid));
        }
    }
    let todo: Vec<i64> = pickings
        .iter()
        .copied()
        .filter(|p| {
            !matches!(
                s(env, "stock.picking", *p, "state").as_str(),
                "done" | "cancel"
            )
        })
        .collect();
    if todo.is_empty() {
        return Ok(json!(true));
    }
    for &p in &todo {
        if s(env, "stock.picking", p, "state") == "draft" {
            for mv in env.children("stock.move", "picking_id", p) {
                reserve_move(env, mv);
            }
            refresh_picking_state(env, p);
        }
    }
    // Quantities to process per move.
    let mut plan: Vec<(i64, i64, f64)> = Vec::new();
    let mut need_immediate = false;
    for &p in &todo {
        let moves: Vec<i64> = env
            .children("stock.move", "picking_id", p)
            .into_iter()
            .filter(|m| s(env, "stock.move", *m, "state") != "cancel")
            .collect();
        if v == Version::V16 {
            let any_done = moves
                .iter()
                .any(|m| env.raw_f64("stock.move", *m, "quantity_done") > 0.0);
            if !any_done {
                if !env.ctx_flag("skip_immediate") {
                    need_immediate = true;
                    continue;
                }
                for m in &moves {
                    let r = env.raw_f64("stock.move", *m, "reserved_availability");
                    plan.push((p, *m, r));
                }
            } else {
                for m in &moves {
                    plan.push((p, *m, env.raw_f64("stock.move", *m, "quantity_done")));
                }
            }
        } else {
            let any_picked = moves
                .iter()
                .any(|m| truthy(&env.raw("stock.move", *m, "picked")));
            for m in &moves {
                let q = if !any_picked || truthy(&env.raw("stock.move", *m, "picked")) {
                    env.raw_f64("stock.move", *m, "quantity")
                } else {
                    0.0
                };
                plan.push((p, *m, q));
            }
        }
    }
    if need_immediate {
        let mut ctx = env.ctx.clone();
        ctx.insert("button_validate_picking_ids".into(), json!(todo));
        ctx.insert("default_show_transfers".into(), json!(false));
        ctx.insert(
            "default_pick_ids".into(),
            json!(todo.iter().map(|p| json!([4, p])).collect::<Vec<_>>()),
        );
        return Ok(wizard_action(
            "Immediate Transfer?",
            "stock.immediate.transfer",
            Value::Object(ctx),
        ));
    }
    for &p in &todo {
        if plan
            .iter()
            .filter(|(pp, _, _)| *pp == p)
            .all(|(_, _, q)| *q <= 0.0)
        {
            return Err(OdooError::user(if v == Version::V16 {
                "You cannot validate a transfer if no quantities are reserved nor done. To force the transfer, switch in edit mode and encode the done quantities."
            } else {
                "You cannot validate a transfer if no quantities are reserved nor done. You can use the info button in the Quantity column to force the transfer."
            }));
        }
    }
    let partial = plan
        .iter()
        .any(|(_, m, q)| *q + 1e-9 < env.raw_f64("stock.move", *m, "product_uom_qty"));
    let no_backorder_ids = env
        .ctx
        .get("picking_ids_not_to_backorder")
        .map(ids_of)
        .unwrap_or_default();
    let skip_backorder = env.ctx_flag("skip_backorder");
    if partial && !skip_backorder {
        let mut ctx = env.ctx.clone();
        ctx.insert("button_validate_picking_ids".into(), json!(todo));
        ctx.insert("default_show_transfers".into(), json!(false));
        ctx.insert(
            "default_pick_ids".into(),
            json!(todo.iter().map(|p| json!([4, p])).collect::<Vec<_>>()),
        );
        return Ok(wizard_action(
            "Create Backorder?",
            "stock.backorder.confirmation",
            Value::Object(ctx),
        ));
    }
    let make_backorder = partial && !env.ctx_flag("cancel_backorder");
    do_validate(env, &todo, &plan, |p| {
        make_backorder && !no_backorder_ids.contains(&p)
    })?;
    Ok(json!(true))
}

fn do_validate(
    env: &mut Env<'_>,
    pickings: &[i64],
    plan: &[(i64, i64, f64)],
    backorder: impl Fn(i64) -> bool,
) -> OdooResult<()> {
    let v = env.version();
    let now = env.now_str();
    for &p in pickings {
        let mut remaining: Vec<(i64, f64)> = Vec::new();
        for (_, mv, q) in plan.iter().filter(|(pp, _, _)| *pp == p) {
            let demand = env.raw_f64("stock.move", *mv, "product_uom_qty");
            let product = m2o(env, "stock.move", *mv, "product_id").unwrap_or_default();
            if *q <= 0.0 {
                remaining.push((*mv, demand));
                env.set("stock.move", *mv, "state", json!("cancel"));
                sync_reserved(env, product);
                continue;
            }
            if *q + 1e-9 < demand {
                remaining.push((*mv, demand - q));
            }
            let from = m2o(env, "stock.move", *mv, "location_id").unwrap_or(LOC_STOCK);
            let to = m2o(env, "stock.move", *mv, "location_dest_id").unwrap_or(LOC_CUSTOMERS);
            if is_storable(env, product) {
                move_quants(env, product, from, to, *q)?;
            }
            if v == Version::V16 {
                env.set("stock.move", *mv, "quantity_done", json!(q));
                env.set("stock.move", *mv, "reserved_availability", json!(0.0));
            } else {
                env.set("stock.move", *mv, "quantity", json!(q));
                env.set("stock.move", *mv, "picked", json!(true));
            }
            env.set("stock.move", *mv, "product_uom_qty", json!(demand.max(*q)));
            env.set("stock.move", *mv, "state", json!("done"));
            env.set("stock.move", *mv, "date", json!(now));
            sync_reserved(env, product);
        }
        env.set("stock.picking", p, "state", json!("done"));
        env.set("stock.picking", p, "date_done", json!(now));
        if backorder(p) && !remaining.is_empty() {
            let mut vals = Map::new();
            for k in [
                "picking_type_id",
                "partner_id",
                "origin",
                "sale_id",
                "location_id",
                "location_dest_id",
                "carrier_id",
            ] {
                vals.insert(k.into(), env.raw("stock.picking", p, k));
            }
            vals.insert("backorder_id".into(), json!(p));
            vals.retain(|_, v| truthy(v));
            let bo = env.create("stock.picking", &vals)?;
            for (mv, qty) in remaining {
                let mut mvals = Map::new();
                for k in [
                    "product_id",
                    "location_id",
                    "location_dest_id",
                    "sale_line_id",
                    "origin",
                    "picking_type_id",
                ] {
                    mvals.insert(k.into(), env.raw("stock.move", mv, k));
                }
                mvals.retain(|_, v| truthy(v));
                mvals.insert("product_uom_qty".into(), json!(qty));
                mvals.insert("picking_id".into(), json!(bo));
                let nm = env.create("stock.move", &mvals)?;
                env.set("stock.move", nm, "state", json!("confirmed"));
                reserve_move(env, nm);
            }
            refresh_picking_state(env, bo);
        }
    }
    Ok(())
}

/// `stock.immediate.transfer.process` and `stock.backorder.confirmation.process[_cancel_backorder]`.
pub fn wizard_process(
    env: &mut Env<'_>,
    model: &str,
    wizard: i64,
    method: &str,
) -> OdooResult<Value> {
    if !env.exists(model, wizard) {
        return Err(OdooError::missing(model, &[wizard], env.uid));
    }
    let picks = ids_of(&env.raw(model, wizard, "pick_ids"));
    match (model, method) {
        ("stock.immediate.transfer", _) => {
            env.ctx.insert("skip_immediate".into(), json!(true));
            button_validate(env, &picks)
        }
        (_, "process_cancel_backorder") => {
            env.ctx.insert("skip_backorder".into(), json!(true));
            env.ctx
                .insert("picking_ids_not_to_backorder".into(), json!(picks));
            button_validate(env, &picks)
        }
        _ => {
            env.ctx.insert("skip_backorder".into(), json!(true));
            button_validate(env, &picks)
        }
    }
}

pub fn picking_cancel(env: &mut Env<'_>, pickings: &[i64]) -> OdooResult<()> {
    for &p in pickings {
        if s(env, "stock.picking", p, "state") == "done" {
            continue;
        }
        for mv in env.children("stock.move", "picking_id", p) {
            if s(env, "stock.move", mv, "state") != "done" {
                env.set("stock.move", mv, "state", json!("cancel"));
                let f = if env.version() == Version::V16 {
                    "reserved_availability"
                } else {
                    "quantity"
                };
                env.set("stock.move", mv, f, json!(0.0));
                if let Some(product) = m2o(env, "stock.move", mv, "product_id") {
                    sync_reserved(env, product);
                }
            }
        }
        env.set("stock.picking", p, "state", json!("cancel"));
    }
    Ok(())
}

pub fn picking_assign(env: &mut Env<'_>, pickings: &[i64]) -> OdooResult<()> {
    for &p in pickings {
        for mv in env.children("stock.move", "picking_id", p) {
            if matches!(
                s(env, "stock.move", mv, "state").as_str(),
                "draft" | "confirmed" | "partially_available"
            ) {
                reserve_move(env, mv);
            }
        }
        refresh_picking_state(env, p);
    }
    Ok(())
}

/// 16: `action_set_quantities_to_reservation`.
pub fn set_quantities_to_reservation(env: &mut Env<'_>, pickings: &[i64]) {
    for &p in pickings {
        for mv in env.children("stock.move", "picking_id", p) {
            let r = env.raw_f64("stock.move", mv, "reserved_availability");
            env.set("stock.move", mv, "quantity_done", json!(r));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sales

pub fn order_confirm(env: &mut Env<'_>, orders: &[i64]) -> OdooResult<Value> {
    for &o in orders {
        if !env.exists("sale.order", o) {
            return Err(OdooError::missing("sale.order", &[o], env.uid));
        }
        if !matches!(s(env, "sale.order", o, "state").as_str(), "draft" | "sent") {
            return Err(OdooError::user(
                "Some orders are not in a state requiring confirmation.",
            ));
        }
        for l in order_lines(env, o) {
            if m2o(env, "sale.order.line", l, "product_id").is_none()
                && !truthy(&env.raw("sale.order.line", l, "display_type"))
            {
                return Err(OdooError::user(
                    "A line on these orders missing a product, you cannot confirm it.",
                ));
            }
        }
    }
    for &o in orders {
        env.set("sale.order", o, "state", json!("sale"));
        env.set("sale.order", o, "date_order", json!(env.now_str()));
        let lines = order_lines(env, o);
        launch_stock_rules(env, o, &lines)?;
    }
    Ok(json!(true))
}

pub fn order_cancel(env: &mut Env<'_>, orders: &[i64]) -> OdooResult<Value> {
    for &o in orders {
        if !env.exists("sale.order", o) {
            return Err(OdooError::missing("sale.order", &[o], env.uid));
        }
        if env.version() >= Version::V17 && truthy(&env.raw("sale.order", o, "locked")) {
            return Err(OdooError::user(
                "You cannot cancel a locked order. Please unlock it first.",
            ));
        }
        if env.version() == Version::V16 && s(env, "sale.order", o, "state") == "done" {
            return Err(OdooError::user(
                "You cannot cancel a locked order. Please unlock it first.",
            ));
        }
    }
    if !env.ctx_flag("disable_cancel_warning")
        && orders
            .iter()
            .any(|o| s(env, "sale.order", *o, "state") != "draft")
    {
        return Ok(json!({
            "name": "Cancel Sales Order",
            "view_mode": "form",
            "res_model": "sale.order.cancel",
            "view_id": false,
            "type": "ir.actions.act_window",
            "context": {"default_order_id": orders[0]},
            "target": "new",
        }));
    }
    for &o in orders {
        let pickings = env.children("stock.picking", "sale_id", o);
        picking_cancel(env, &pickings)?;
        for inv in order_invoices(env, o) {
            if s(env, "account.move", inv, "state") == "draft" {
                env.set("account.move", inv, "state", json!("cancel"));
            }
        }
        env.set("sale.order", o, "state", json!("cancel"));
    }
    Ok(json!(true))
}

/// `sale.advance.payment.inv.create_invoices`.
pub fn create_invoices(env: &mut Env<'_>, wizard: i64) -> OdooResult<Value> {
    if !env.exists("sale.advance.payment.inv", wizard) {
        return Err(OdooError::missing(
            "sale.advance.payment.inv",
            &[wizard],
            env.uid,
        ));
    }
    let mut orders = ids_of(&env.raw("sale.advance.payment.inv", wizard, "sale_order_ids"));
    if orders.is_empty() {
        orders = ctx_active_ids(env, "sale.order").unwrap_or_default();
    }
    let method = s(
        env,
        "sale.advance.payment.inv",
        wizard,
        "advance_payment_method",
    );
    let mut invoices = Vec::new();
    for &o in &orders {
        if !env.exists("sale.order", o) {
            return Err(OdooError::missing("sale.order", &[o], env.uid));
        }
        let partner = m2o(env, "sale.order", o, "partner_invoice_id").or(m2o(
            env,
            "sale.order",
            o,
            "partner_id",
        ));
        let mut lines: Vec<Value> = Vec::new();
        let tf = line_tax_field(env.version());
        if method == "delivered" {
            for l in order_lines(env, o) {
                let q = qty_to_invoice(env, l);
                if q.abs() < 1e-9 {
                    continue;
                }
                lines.push(json!([0, 0, {
                    "product_id": env.raw("sale.order.line", l, "product_id"),
                    "name": env.raw("sale.order.line", l, "name"),
                    "quantity": q,
                    "price_unit": env.raw("sale.order.line", l, "price_unit"),
                    "discount": env.raw("sale.order.line", l, "discount"),
                    "tax_ids": [[6, 0, ids_of(&env.raw("sale.order.line", l, tf))]],
                    "product_uom_id": env.raw("sale.order.line", l, line_uom_field(env.version())),
                    "sale_line_ids": [[6, 0, [l]]],
                }]));
            }
            if lines.is_empty() {
                return Err(OdooError::user(
                    "There is no invoiceable line. If a product has a Delivered quantities invoicing policy, please make sure that a quantity has been delivered.",
                ));
            }
        } else {
            let total = compute(env, "sale.order", o, "amount_untaxed")
                .map(|v| as_f64(&v))
                .unwrap_or(0.0);
            let amount = if method == "percentage" {
                total * env.raw_f64("sale.advance.payment.inv", wizard, "amount") / 100.0
            } else {
                env.raw_f64("sale.advance.payment.inv", wizard, "fixed_amount")
            };
            if amount <= 0.0 {
                return Err(OdooError::user(
                    "The value of the down payment amount must be positive.",
                ));
            }
            lines.push(json!([0, 0, {"name": "Down Payment", "quantity": 1.0, "price_unit": round2(amount)}]));
        }
        let mut vals = Map::new();
        vals.insert("move_type".into(), json!("out_invoice"));
        vals.insert("partner_id".into(), json!(partner));
        vals.insert(
            "partner_shipping_id".into(),
            env.raw("sale.order", o, "partner_shipping_id"),
        );
        vals.insert("invoice_origin".into(), env.raw("sale.order", o, "name"));
        vals.insert("ref".into(), env.raw("sale.order", o, "client_order_ref"));
        vals.insert("currency_id".into(), json!(order_currency(env, o)));
        vals.insert("journal_id".into(), json!(1));
        vals.insert(
            "invoice_user_id".into(),
            env.raw("sale.order", o, "user_id"),
        );
        vals.insert("invoice_line_ids".into(), Value::Array(lines));
        let inv = env.create("account.move", &vals)?;
        invoices.push(inv);
    }
    let Some(first) = invoices.first().copied() else {
        return Ok(json!({"type": "ir.actions.act_window_close"}));
    };
    let order0 = orders[0];
    let partner = env.raw("account.move", first, "partner_id");
    let shipping = env.raw("sale.order", order0, "partner_shipping_id");
    let mut action = invoice_action();
    if let Value::Object(a) = &mut action {
        a.insert(
            "context".into(),
            json!({
                "default_move_type": "out_invoice",
                "default_partner_id": partner,
                "default_partner_shipping_id": shipping,
                "default_invoice_payment_term_id": null,
                "default_invoice_origin": env.raw("sale.order", order0, "name"),
            }),
        );
        if invoices.len() == 1 {
            a.insert("res_id".into(), json!(first));
        } else {
            a.insert("domain".into(), json!([["id", "in", invoices]]));
            a.insert("res_id".into(), json!(false));
        }
    }
    Ok(action)
}

/// The `account.action_move_out_invoice_type` window action, as Odoo 18 reads it.
fn invoice_action() -> Value {
    json!({
        "id": 263,
        "name": "Invoices",
        "type": "ir.actions.act_window",
        "xml_id": "account.action_move_out_invoice_type",
        "path": "invoicing",
        "help": "<p class=\"o_view_nocontent_smiling_face\">\n                Create a customer invoice\n              </p><p>\n                Create invoices, register payments and keep track of the discussions with your customers.\n              </p>\n            ",
        "binding_model_id": false,
        "binding_type": "action",
        "binding_view_types": "list,form",
        "display_name": "Invoices",
        "view_id": [708, "account.out.invoice.list"],
        "domain": "[('move_type', 'in', ['out_invoice', 'out_refund'])]",
        "context": {},
        "res_id": 0,
        "res_model": "account.move",
        "target": "current",
        "view_mode": "list,kanban,form,activity",
        "mobile_view_mode": "kanban",
        "views": [[715, "form"], [708, "list"], [false, "kanban"], [false, "activity"]],
        "limit": 80,
        "groups_id": [],
        "search_view_id": [718, "account.invoice.select"],
        "embedded_action_ids": [],
        "filter": false,
    })
}

// ---------------------------------------------------------------------------------------------
// Accounting

pub fn move_post(env: &mut Env<'_>, moves: &[i64]) -> OdooResult<Value> {
    for &m in moves {
        if !env.exists("account.move", m) {
            return Err(OdooError::missing("account.move", &[m], env.uid));
        }
        if s(env, "account.move", m, "state") != "draft" {
            let name = s(env, "account.move", m, "name");
            let name = if name.is_empty() {
                display_name(env, "account.move", m)
            } else {
                name
            };
            return Err(OdooError::user(format!(
                "The entry {name} (id {m}) must be in draft."
            )));
        }
        if env.children("account.move.line", "move_id", m).is_empty() {
            return Err(OdooError::user("You need to add a line before posting."));
        }
        let mt = s(env, "account.move", m, "move_type");
        if mt != "entry" && m2o(env, "account.move", m, "partner_id").is_none() {
            return Err(OdooError::user(
                "The field 'Customer' is required, please complete it to validate the Customer Invoice.",
            ));
        }
    }
    for &m in moves {
        let today = env.today();
        if !truthy(&env.raw("account.move", m, "invoice_date")) {
            env.set("account.move", m, "invoice_date", json!(today));
        }
        let date = env.raw("account.move", m, "invoice_date");
        env.set("account.move", m, "date", date.clone());
        if !truthy(&env.raw("account.move", m, "invoice_date_due")) {
            env.set("account.move", m, "invoice_date_due", date);
        }
        let name = s(env, "account.move", m, "name");
        if name.is_empty() || name == "/" {
            let year = env.now.year();
            let prefix = match s(env, "account.move", m, "move_type").as_str() {
                "out_invoice" => "INV",
                "out_refund" => "RINV",
                "in_invoice" => "BILL",
                "in_refund" => "RBILL",
                _ => "MISC",
            };
            let name =
                crate::accounting::next_name(env, &["account.move"], &format!("{prefix}/{year}/"));
            env.set("account.move", m, "name", json!(name));
        }
        env.set("account.move", m, "state", json!("posted"));
        crate::accounting::on_post(env, m)?;
    }
    Ok(json!(false))
}

pub fn move_button_cancel(env: &mut Env<'_>, moves: &[i64]) -> OdooResult<()> {
    for &m in moves {
        if s(env, "account.move", m, "state") != "draft" {
            return Err(OdooError::user(
                "Only draft journal entries can be cancelled.",
            ));
        }
        env.set("account.move", m, "state", json!("cancel"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Delivery

/// `choose.delivery.carrier.button_confirm`: replace the order's delivery line.
pub fn delivery_confirm(env: &mut Env<'_>, wizard: i64) -> OdooResult<()> {
    let model = "choose.delivery.carrier";
    if !env.exists(model, wizard) {
        return Err(OdooError::missing(model, &[wizard], env.uid));
    }
    let order = m2o(env, model, wizard, "order_id").unwrap_or_default();
    let carrier = m2o(env, model, wizard, "carrier_id").unwrap_or_default();
    let price = env.raw_f64(model, wizard, "delivery_price");
    let existing: Vec<i64> = order_lines(env, order)
        .into_iter()
        .filter(|l| truthy(&env.raw("sale.order.line", *l, "is_delivery")))
        .collect();
    for l in &existing {
        if qty_invoiced(env, *l) > 0.0 {
            return Err(OdooError::user(
                "You can not update the shipping costs on an order where it was already invoiced!\n\nThe following delivery lines (product, invoiced quantity and price) have already been processed:\n\n",
            ));
        }
    }
    if !existing.is_empty() {
        for l in existing {
            env.remove_row("sale.order.line", l);
        }
    }
    let product = m2o(env, "delivery.carrier", carrier, "product_id").unwrap_or_default();
    let seq = order_lines(env, order)
        .iter()
        .map(|l| {
            env.raw("sale.order.line", *l, "sequence")
                .as_i64()
                .unwrap_or(10)
        })
        .max()
        .unwrap_or(9)
        + 1;
    let tf = line_tax_field(env.version());
    let mut vals = Map::new();
    vals.insert("order_id".into(), json!(order));
    vals.insert("name".into(), env.raw("delivery.carrier", carrier, "name"));
    vals.insert("product_uom_qty".into(), json!(1.0));
    vals.insert("product_id".into(), json!(product));
    vals.insert("price_unit".into(), json!(price));
    vals.insert(
        tf.into(),
        json!([[
            6,
            0,
            ids_of(&env.raw("product.product", product, "taxes_id"))
        ]]),
    );
    vals.insert("is_delivery".into(), json!(true));
    vals.insert("sequence".into(), json!(seq));
    env.create("sale.order.line", &vals)?;
    env.set("sale.order", order, "carrier_id", json!(carrier));
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn rounding() {
        assert!((super::round2(11.249_999) - 11.25).abs() < 1e-9);
    }
}
