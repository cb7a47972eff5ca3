//! Returns of done transfers, per the recorded Odoo 18 transcript (Part S): the
//! `stock.return.picking` wizard and its `stock.return.picking.line`s.
//!
//! The wizard takes its picking from the context (`active_model` "stock.picking" and
//! `active_id`) when it is created; without one, Odoo 18 fails with `ValueError` "Expected
//! singleton: stock.picking()". It gets one line per move of the picking, with `quantity` 0.0 on
//! 18+ (the returnable quantity on 16/17), `move_quantity` the move's quantity and `to_refund`
//! true. `action_create_returns` (`create_returns` on 16/17) copies the picking into a return
//! (the warehouse's receipts type for a delivery, `origin` "Return of <name>", `return_id` the
//! delivery), posts a note on it as the calling user (so a user without an email address fails
//! there, even with no quantity), refuses when every quantity is 0, then creates and reserves
//! one move per line with a quantity. A move with `to_refund` keeps the sale line, so validating
//! the return lowers the line's delivered quantity.

use serde_json::{Map, Value, json};

use crate::Version;
use crate::business::{m2o, s};
use crate::db::{Env, truthy};
use crate::domain::ids_of;
use crate::error::{OdooError, OdooResult};

const WIZARD: &str = "stock.return.picking";
const LINE: &str = "stock.return.picking.line";

pub fn compute(env: &Env<'_>, model: &str, id: i64, field: &str) -> Option<Value> {
    Some(match (model, field) {
        (WIZARD, "company_id") => json!(1),
        (LINE, "uom_id") => match m2o(env, model, id, "product_id") {
            Some(p) => env.raw("product.product", p, "uom_id"),
            None => json!(false),
        },
        _ => return None,
    })
}

fn move_qty(env: &Env<'_>, mv: i64) -> f64 {
    let f = if env.version() == Version::V16 {
        "quantity_done"
    } else {
        "quantity"
    };
    env.raw_f64("stock.move", mv, f)
}

/// `default_get` + `_compute_moves_locations`.
pub fn defaults(env: &mut Env<'_>, vals: &mut Map<String, Value>) -> OdooResult<()> {
    let from_ctx = (env.ctx.get("active_model").and_then(Value::as_str) == Some("stock.picking"))
        .then(|| env.ctx.get("active_id").and_then(Value::as_i64))
        .flatten();
    let picking = vals.get("picking_id").and_then(Value::as_i64).or(from_ctx);
    let Some(picking) = picking else {
        return Err(OdooError::value("Expected singleton: stock.picking()"));
    };
    if !env.exists("stock.picking", picking) {
        return Err(OdooError::missing("stock.picking", &[picking], env.uid));
    }
    if s(env, "stock.picking", picking, "state") != "done" {
        return Err(OdooError::user("You may only return Done pickings."));
    }
    vals.insert("picking_id".into(), json!(picking));
    if vals.contains_key("product_return_moves") {
        return Ok(());
    }
    let mut lines = Vec::new();
    for mv in env.children("stock.move", "picking_id", picking) {
        if s(env, "stock.move", mv, "state") == "cancel" {
            continue;
        }
        let done = move_qty(env, mv);
        let returned: f64 = env
            .all_ids("stock.move")
            .into_iter()
            .filter(|r| m2o(env, "stock.move", *r, "origin_returned_move_id") == Some(mv))
            .filter(|r| s(env, "stock.move", *r, "state") != "cancel")
            .map(|r| env.raw_f64("stock.move", r, "product_uom_qty"))
            .sum();
        let quantity = if env.version() >= Version::V18 {
            0.0
        } else {
            (done - returned).max(0.0)
        };
        lines.push(json!([0, 0, {
            "product_id": env.raw("stock.move", mv, "product_id"),
            "move_id": mv,
            "quantity": quantity,
            "move_quantity": done,
            "to_refund": true,
        }]));
    }
    vals.insert("product_return_moves".into(), Value::Array(lines));
    Ok(())
}

/// `action_create_returns` (18+) / `create_returns` (16/17).
pub fn create_returns(env: &mut Env<'_>, wizard: i64) -> OdooResult<Value> {
    if !env.exists(WIZARD, wizard) {
        return Err(OdooError::missing(WIZARD, &[wizard], env.uid));
    }
    let Some(picking) = m2o(env, WIZARD, wizard, "picking_id") else {
        return Err(OdooError::value("Expected singleton: stock.picking()"));
    };
    let ptype = m2o(env, "stock.picking", picking, "picking_type_id").unwrap_or_default();
    let code = s(env, "stock.picking.type", ptype, "code");
    let warehouse = m2o(env, "stock.picking.type", ptype, "warehouse_id");
    let return_type = match (code.as_str(), warehouse) {
        ("outgoing", Some(w)) => m2o(env, "stock.warehouse", w, "in_type_id").unwrap_or(ptype),
        ("incoming", Some(w)) => m2o(env, "stock.warehouse", w, "out_type_id").unwrap_or(ptype),
        _ => ptype,
    };
    let src = m2o(env, "stock.picking", picking, "location_dest_id");
    let dst = m2o(env, "stock.picking", picking, "location_id");
    // The copy of the picking (its number is used up even if the call fails, as with
    // Odoo's ir.sequence).
    let mut vals = Map::new();
    vals.insert("picking_type_id".into(), json!(return_type));
    vals.insert(
        "partner_id".into(),
        env.raw("stock.picking", picking, "partner_id"),
    );
    vals.insert(
        "origin".into(),
        json!(format!(
            "Return of {}",
            s(env, "stock.picking", picking, "name")
        )),
    );
    vals.insert(
        "sale_id".into(),
        env.raw("stock.picking", picking, "sale_id"),
    );
    vals.insert("location_id".into(), json!(src));
    vals.insert("location_dest_id".into(), json!(dst));
    vals.insert("return_id".into(), json!(picking));
    vals.insert(
        "move_type".into(),
        env.raw("stock.picking", picking, "move_type"),
    );
    vals.retain(|_, v| truthy(v));
    let new_picking = env.create("stock.picking", &vals)?;
    // "message_post_with_source" on the new picking, as the calling user.
    crate::accounting::require_sender_email(env)?;
    let lines: Vec<i64> = ids_of(&env.raw(WIZARD, wizard, "product_return_moves"));
    let todo: Vec<i64> = lines
        .into_iter()
        .filter(|l| env.raw_f64(LINE, *l, "quantity") > 0.0)
        .collect();
    if todo.is_empty() {
        return Err(OdooError::user(
            "Please specify at least one non-zero quantity.",
        ));
    }
    for l in todo {
        let orig = m2o(env, LINE, l, "move_id");
        let product = m2o(env, LINE, l, "product_id").unwrap_or_default();
        let to_refund = truthy(&env.raw(LINE, l, "to_refund"));
        let mut mvals = Map::new();
        mvals.insert("product_id".into(), json!(product));
        mvals.insert(
            "product_uom_qty".into(),
            json!(env.raw_f64(LINE, l, "quantity")),
        );
        let (from, to) = match orig {
            Some(o) => (
                m2o(env, "stock.move", o, "location_dest_id").or(src),
                m2o(env, "stock.move", o, "location_id").or(dst),
            ),
            None => (src, dst),
        };
        mvals.insert("location_id".into(), json!(from));
        mvals.insert("location_dest_id".into(), json!(to));
        mvals.insert("picking_id".into(), json!(new_picking));
        mvals.insert("picking_type_id".into(), json!(return_type));
        mvals.insert("origin_returned_move_id".into(), json!(orig));
        mvals.insert("to_refund".into(), json!(to_refund));
        mvals.insert(
            "origin".into(),
            env.raw("stock.picking", new_picking, "origin"),
        );
        if to_refund
            && let Some(o) = orig
            && let Some(sl) = m2o(env, "stock.move", o, "sale_line_id")
        {
            mvals.insert("sale_line_id".into(), json!(sl));
        }
        mvals.retain(|_, v| !v.is_null());
        let mv = env.create("stock.move", &mvals)?;
        env.set("stock.move", mv, "state", json!("confirmed"));
    }
    crate::business::picking_assign(env, &[new_picking])?;
    let view_mode = if env.version() == Version::V16 {
        "form,tree"
    } else {
        "form"
    };
    Ok(json!({
        "name": "Returned Picking",
        "view_mode": view_mode,
        "res_model": "stock.picking",
        "res_id": new_picking,
        "type": "ir.actions.act_window",
        "context": Value::Object(env.ctx.clone()),
    }))
}
