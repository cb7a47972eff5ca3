//! Business recipes (docs/odoo-api.md §10): the order flow steps as Odoo's own buttons and wizards run
//! them, over either transport, with the field names of the probed version.
//!
//! Every recipe reads the current state first and does nothing when the step is already done, so running it
//! again after an uncertain outcome (a timeout, a dropped connection) is safe: it answers
//! [`Step::AlreadyDone`] instead of raising Odoo's "must be in draft" or creating a second invoice.
//! A step that ends in an unexpected state (a wizard came back, nothing was validated) is an
//! [`Error::Workflow`], which is permanent.
//!
//! Each recipe has an `_in` form for a caller that has just read that state (with the other fields
//! it needs, in one read): it acts on what was read instead of reading again. An action whose answer
//! already says how it ended is not followed by a read (`action_post` posts or raises;
//! `button_validate` answers `true` once the delivery is done; the invoicing wizard's action names
//! the invoice it made); where the answer does not say, the state is read after it as before.

use serde_json::{Map, Value, json};

use crate::client::{Call, Client, Id, Record, SearchOptions, many2one_id, truthy, x2many_ids};
use crate::domain::Domain;
use crate::error::{Error, Result};
use crate::probe::MoveQuantity;

/// What a recipe did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The step ran now.
    Done,
    /// The state showed the step was already done; nothing was called.
    AlreadyDone,
}

/// The result of [`Client::invoice_sale_order`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoicing {
    /// The order's invoices that are not cancelled.
    pub invoice_ids: Vec<Id>,
    /// Whether the wizard ran now (false: the order already had invoices).
    pub created: bool,
}

/// What to pay in [`Client::register_payment`].
#[derive(Debug, Clone, Default)]
pub struct PaymentRequest {
    /// The journal; by default the first bank journal.
    pub journal_id: Option<Id>,
    /// The amount; by default the wizard's (the invoice's residual).
    pub amount: Option<f64>,
    /// `YYYY-MM-DD`; by default the wizard's (today).
    pub payment_date: Option<String>,
    /// The payment's memo (the wizard's `communication`, which Odoo stores in
    /// `account.payment.memo` from 18 and `ref` before); by default the wizard's (the invoice
    /// name). When set, a payment already carrying it (not cancelled) is looked up first and
    /// nothing is registered: a registration whose answer was lost is never repeated.
    pub memo: Option<String>,
}

/// The result of [`Client::register_payment`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// Whether the payment was registered now.
    pub step: Step,
    /// The invoice's `payment_state` afterwards (`paid`, `in_payment`, `partial`, …).
    pub payment_state: String,
    /// The `account.payment` registered now, or found by its memo; `None` when the invoice was
    /// already paid by other means.
    pub payment_id: Option<Id>,
}

fn str_field<'a>(rec: &'a Record, name: &str) -> &'a str {
    rec.get(name).and_then(Value::as_str).unwrap_or_default()
}

/// What [`Client::register_payment`] reads of the invoice.
pub const PAYMENT_FIELDS: &[&str] = &["state", "payment_state", "amount_residual"];

/// A call context from key/value pairs, e.g. `ctx(&[("active_model", json!("sale.order"))])`.
pub fn ctx(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// The `res_model` of a window action a button returned instead of doing its work.
fn wizard_model(v: &Value) -> Option<&str> {
    v.as_object().map(|o| {
        o.get("res_model")
            .and_then(Value::as_str)
            .unwrap_or("an action")
    })
}

impl Client {
    async fn read_required(&self, model: &str, id: Id, fields: &[&str]) -> Result<Record> {
        self.read_one(model, id, fields)
            .await?
            .ok_or_else(|| Error::NotFound {
                model: model.to_owned(),
                id,
            })
    }

    /// Confirms a quotation (`action_confirm`) unless it is already confirmed (§10.4).
    pub async fn confirm_sale_order(&self, order_id: Id) -> Result<Step> {
        let order = self
            .read_required("sale.order", order_id, &["state"])
            .await?;
        self.confirm_sale_order_in(order_id, str_field(&order, "state"), &[])
            .await
            .map(|(step, _)| step)
    }

    /// [`Client::confirm_sale_order`] for an order whose `state` was just read: confirmed when a
    /// quotation. `action_confirm` answers `true` once the order is confirmed (transcript A12) and
    /// raises when it cannot be: that answer suffices, and the order is then known to be `sale`
    /// (returned as `{"state": "sale"}`). Any other answer (a module's window action) makes it read
    /// the order again with `state` and `fields`, which checks the confirmation. `None` when the
    /// order was confirmed before.
    pub async fn confirm_sale_order_in(
        &self,
        order_id: Id,
        state: &str,
        fields: &[&str],
    ) -> Result<(Step, Option<Record>)> {
        match state {
            "draft" | "sent" => {
                let answer = self
                    .call(&Call::new("sale.order", "action_confirm").ids(&[order_id]))
                    .await?;
                if answer == Value::Bool(true) {
                    let mut after = Record::new();
                    after.insert("state".into(), json!("sale"));
                    return Ok((Step::Done, Some(after)));
                }
                let mut read = vec!["state"];
                read.extend(fields.iter().filter(|f| **f != "state"));
                let after = self.read_required("sale.order", order_id, &read).await?;
                match str_field(&after, "state") {
                    "sale" | "done" => Ok((Step::Done, Some(after))),
                    other => Err(Error::workflow(format!(
                        "sale.order {order_id} is {other:?} after action_confirm"
                    ))),
                }
            }
            "sale" | "done" => Ok((Step::AlreadyDone, None)),
            other => Err(Error::workflow(format!(
                "sale.order {order_id} is {other:?} and cannot be confirmed"
            ))),
        }
    }

    /// The order's invoices that are not cancelled. A sale order's `invoice_ids` also holds the
    /// credit notes reversing them (`out_refund`): never one of these, or a draft credit note a
    /// refund has not yet written down would be posted whole by [`Client::invoice_and_post`].
    async fn live_invoices(&self, invoice_ids: &[Id]) -> Result<Vec<Id>> {
        let moves: Vec<Record> = self
            .read("account.move", invoice_ids, &["state", "move_type"])
            .await?;
        Ok(moves
            .iter()
            .filter(|m| str_field(m, "state") != "cancel")
            .filter(|m| matches!(str_field(m, "move_type"), "out_invoice" | ""))
            .filter_map(|m| m.get("id").and_then(Value::as_i64))
            .collect())
    }

    /// Invoices a confirmed order through the `sale.advance.payment.inv` wizard (§10.6), unless it already
    /// has an invoice that is not cancelled. The invoices are left in draft; see [`Client::post_invoice`].
    pub async fn invoice_sale_order(&self, order_id: Id) -> Result<Invoicing> {
        let order = self
            .read_required("sale.order", order_id, &["state", "invoice_ids"])
            .await?;
        let invoice_ids = x2many_ids(order.get("invoice_ids").unwrap_or(&Value::Null));
        self.invoice_sale_order_in(order_id, str_field(&order, "state"), &invoice_ids)
            .await
    }

    /// [`Client::invoice_sale_order`] for an order whose `state` and `invoice_ids` were just read.
    /// When the wizard's answer names the invoice it made (`res_id`, transcript A16), that is the
    /// invoice (a draft); otherwise the order's invoices are read again.
    pub async fn invoice_sale_order_in(
        &self,
        order_id: Id,
        state: &str,
        invoice_ids: &[Id],
    ) -> Result<Invoicing> {
        if !matches!(state, "sale" | "done") {
            return Err(Error::workflow(format!(
                "sale.order {order_id} is {state:?}; only confirmed orders are invoiced"
            )));
        }
        let existing = self.live_invoices(invoice_ids).await?;
        if !existing.is_empty() {
            return Ok(Invoicing {
                invoice_ids: existing,
                created: false,
            });
        }
        let context = ctx(&[
            ("active_model", json!("sale.order")),
            ("active_ids", json!([order_id])),
            ("active_id", json!(order_id)),
        ]);
        let mut vals = Map::new();
        vals.insert("advance_payment_method".into(), json!("delivered"));
        let wizard = self
            .with_context(context.clone())
            .create("sale.advance.payment.inv", vals)
            .await?;
        let action = self
            .call(
                &Call::new("sale.advance.payment.inv", "create_invoices")
                    .ids(&[wizard])
                    .context(context),
            )
            .await?;
        // A form action names its one invoice; a list action (several invoices) carries a domain
        // instead: then the order's invoices are read again.
        let named = action
            .get("res_id")
            .and_then(Value::as_i64)
            .filter(|id| *id > 0);
        let invoice_ids = match named {
            Some(id) => vec![id],
            None => {
                let order = self
                    .read_required("sale.order", order_id, &["invoice_ids"])
                    .await?;
                self.live_invoices(&x2many_ids(
                    order.get("invoice_ids").unwrap_or(&Value::Null),
                ))
                .await?
            }
        };
        if invoice_ids.is_empty() {
            return Err(Error::workflow(format!(
                "create_invoices made no invoice for sale.order {order_id}"
            )));
        }
        Ok(Invoicing {
            invoice_ids,
            created: true,
        })
    }

    /// Posts a draft invoice (`account.move.action_post`, §10.7) unless it is already posted.
    pub async fn post_invoice(&self, invoice_id: Id) -> Result<Step> {
        let inv = self
            .read_required("account.move", invoice_id, &["state"])
            .await?;
        self.post_invoice_in(invoice_id, str_field(&inv, "state"))
            .await
    }

    /// [`Client::post_invoice`] for an invoice whose `state` is known (just read, or a draft the
    /// invoicing wizard just made). `action_post` posts or raises (transcript A19, B39), so its
    /// answer is enough: nothing is read after it.
    pub async fn post_invoice_in(&self, invoice_id: Id, state: &str) -> Result<Step> {
        match state {
            "draft" => {
                self.call(&Call::new("account.move", "action_post").ids(&[invoice_id]))
                    .await?;
                Ok(Step::Done)
            }
            "posted" => Ok(Step::AlreadyDone),
            other => Err(Error::workflow(format!(
                "account.move {invoice_id} is {other:?} and cannot be posted"
            ))),
        }
    }

    /// Invoices a confirmed order and posts its draft invoices: the order's posted invoice ids.
    pub async fn invoice_and_post(&self, order_id: Id) -> Result<Vec<Id>> {
        let invoicing = self.invoice_sale_order(order_id).await?;
        for id in &invoicing.invoice_ids {
            self.post_invoice(*id).await?;
        }
        Ok(invoicing.invoice_ids)
    }

    /// Registers a payment on a posted invoice (or the refund payment of a posted credit note)
    /// through `account.payment.register` (§10.8; transcript P13–P16, R7–R8), unless a payment
    /// with the request's memo exists already or the move is already paid (or in payment, or
    /// reversed). The wizard takes the move from the context (`active_model` "account.move",
    /// `active_ids`); `action_create_payments` answers a window action whose `res_id` is the
    /// payment.
    pub async fn register_payment(&self, invoice_id: Id, req: &PaymentRequest) -> Result<Payment> {
        let inv = self
            .read_required("account.move", invoice_id, PAYMENT_FIELDS)
            .await?;
        self.register_payment_in(invoice_id, &inv, req).await
    }

    /// [`Client::register_payment`] for an invoice just read with (at least)
    /// [`PAYMENT_FIELDS`].
    pub async fn register_payment_in(
        &self,
        invoice_id: Id,
        inv: &Record,
        req: &PaymentRequest,
    ) -> Result<Payment> {
        const FIELDS: &[&str] = PAYMENT_FIELDS;
        let state = str_field(inv, "state");
        if state != "posted" {
            return Err(Error::workflow(format!(
                "account.move {invoice_id} is {state:?}; only posted invoices are paid"
            )));
        }
        let payment_state = str_field(inv, "payment_state").to_owned();
        if let Some(memo) = &req.memo
            && let Some(found) = self.payments_by_memo(memo).await?.first()
        {
            return Ok(Payment {
                step: Step::AlreadyDone,
                payment_state,
                payment_id: found.get("id").and_then(Value::as_i64),
            });
        }
        let residual = inv
            .get("amount_residual")
            .and_then(Value::as_f64)
            .unwrap_or(1.0);
        if matches!(payment_state.as_str(), "paid" | "in_payment" | "reversed") || residual <= 0.0 {
            return Ok(Payment {
                step: Step::AlreadyDone,
                payment_state,
                payment_id: None,
            });
        }
        let journal_id = match req.journal_id {
            Some(j) => j,
            None => self.default_payment_journal().await?,
        };
        let mut vals = Map::new();
        vals.insert("journal_id".into(), json!(journal_id));
        if let Some(amount) = req.amount {
            vals.insert("amount".into(), json!(amount));
        }
        if let Some(date) = &req.payment_date {
            vals.insert("payment_date".into(), json!(date));
        }
        if let Some(memo) = &req.memo {
            vals.insert("communication".into(), json!(memo));
        }
        let context = ctx(&[
            ("active_model", json!("account.move")),
            ("active_ids", json!([invoice_id])),
            ("active_id", json!(invoice_id)),
        ]);
        let wizard = self
            .with_context(context.clone())
            .create("account.payment.register", vals)
            .await?;
        let action = self
            .call(
                &Call::new("account.payment.register", "action_create_payments")
                    .ids(&[wizard])
                    .context(context),
            )
            .await?;
        let mut payment_id = action.get("res_id").and_then(Value::as_i64);
        if payment_id.is_none()
            && let Some(memo) = &req.memo
        {
            payment_id = self
                .payments_by_memo(memo)
                .await?
                .first()
                .and_then(|p| p.get("id").and_then(Value::as_i64));
        }
        let after = self
            .read_required("account.move", invoice_id, FIELDS)
            .await?;
        Ok(Payment {
            step: Step::Done,
            payment_state: str_field(&after, "payment_state").to_owned(),
            payment_id,
        })
    }

    /// The payments (`account.payment`, not cancelled) whose memo is `memo`: `memo` from 18,
    /// `ref` on 16 and 17 ([`crate::Capabilities::payment_memo_field`]). Each record has
    /// `journal_id`, `state`, `amount` and the memo field.
    pub async fn payments_by_memo(&self, memo: &str) -> Result<Vec<Record>> {
        let caps = self.capabilities().await?;
        let field = caps.payment_memo_field();
        self.search_read(
            "account.payment",
            &Domain::new()
                .eq(field, memo)
                .not_in("state", ["cancel", "canceled", "rejected"]),
            &["journal_id", "state", "amount", field],
            &SearchOptions::default(),
        )
        .await
    }

    /// The first bank journal (else the first cash journal).
    pub async fn default_payment_journal(&self) -> Result<Id> {
        for kind in ["bank", "cash"] {
            let ids = self
                .search(
                    "account.journal",
                    &Domain::new().eq("type", kind),
                    &SearchOptions::limit(1),
                )
                .await?;
            if let Some(id) = ids.first() {
                return Ok(*id);
            }
        }
        Err(Error::workflow("no bank or cash journal"))
    }

    /// Validates a delivery (§10.9): every open move gets its full demand as done quantity — 16:
    /// `quantity_done`; 17+: `quantity` + `picked` — then `button_validate` without backorder (16 also skips
    /// the immediate-transfer wizard). Already `done` → [`Step::AlreadyDone`].
    pub async fn validate_delivery(&self, picking_id: Id) -> Result<Step> {
        let picking = self
            .read_required("stock.picking", picking_id, &["state", "move_ids"])
            .await?;
        self.validate_delivery_in(picking_id, &picking).await
    }

    /// [`Client::validate_delivery`] for a picking just read with `state` and `move_ids`.
    pub async fn validate_delivery_in(&self, picking_id: Id, picking: &Record) -> Result<Step> {
        match str_field(picking, "state") {
            "done" => return Ok(Step::AlreadyDone),
            "cancel" => {
                return Err(Error::workflow(format!(
                    "stock.picking {picking_id} is cancelled"
                )));
            }
            _ => {}
        }
        let move_ids = x2many_ids(picking.get("move_ids").unwrap_or(&Value::Null));
        let moves: Vec<Record> = self
            .read("stock.move", &move_ids, &["state", "product_uom_qty"])
            .await?;
        let draft = str_field(picking, "state") == "draft";
        self.validate_picking_moves(picking_id, draft, &moves).await
    }

    /// Sets the full demand of a picking's open `moves` (read with `state` and `product_uom_qty`)
    /// as done — 16: `quantity_done`; 17+: `quantity` + `picked` — then `button_validate` without
    /// backorder (16 also skips the immediate-transfer wizard); a `draft` picking is confirmed
    /// first. `button_validate` answers `true` once the delivery is done (transcript A21) and a
    /// window action when a wizard stops it; only another answer makes it read the state again.
    async fn validate_picking_moves(
        &self,
        picking_id: Id,
        draft: bool,
        moves: &[Record],
    ) -> Result<Step> {
        let caps = self.capabilities().await?;
        if draft {
            self.call(&Call::new("stock.picking", "action_confirm").ids(&[picking_id]))
                .await?;
        }
        for mv in moves {
            if matches!(str_field(mv, "state"), "done" | "cancel") {
                continue;
            }
            let Some(id) = mv.get("id").and_then(Value::as_i64) else {
                continue;
            };
            let qty = mv.get("product_uom_qty").cloned().unwrap_or(json!(0));
            let mut vals = Map::new();
            match caps.move_quantity {
                MoveQuantity::QuantityDone => {
                    vals.insert("quantity_done".into(), qty);
                }
                MoveQuantity::QuantityPicked => {
                    vals.insert("quantity".into(), qty);
                    vals.insert("picked".into(), json!(true));
                }
            }
            self.write("stock.move", &[id], vals).await?;
        }
        let mut context = ctx(&[
            ("skip_backorder", json!(true)),
            ("picking_ids_not_to_backorder", json!([picking_id])),
            ("skip_sms", json!(true)),
        ]);
        if caps.immediate_transfer {
            context.insert("skip_immediate".into(), json!(true));
        }
        let result = self
            .call(
                &Call::new("stock.picking", "button_validate")
                    .ids(&[picking_id])
                    .context(context),
            )
            .await?;
        if let Some(model) = wizard_model(&result) {
            return Err(Error::workflow(format!(
                "button_validate on stock.picking {picking_id} returned the wizard {model}; nothing was validated"
            )));
        }
        if result == Value::Bool(true) {
            return Ok(Step::Done);
        }
        let after = self
            .read_required("stock.picking", picking_id, &["state"])
            .await?;
        match str_field(&after, "state") {
            "done" => Ok(Step::Done),
            other => Err(Error::workflow(format!(
                "stock.picking {picking_id} is {other:?} after button_validate"
            ))),
        }
    }

    /// Validates every open outgoing delivery of an order: `(picking id, step)` per delivery, in
    /// picking order. One `search_read` of the moves of the order's outgoing pickings
    /// (`sale.order.picking_ids` are the pickings whose `sale_id` is the order) gives each
    /// picking's state as its moves say it: all done or cancelled → already done; all cancelled →
    /// a cancelled delivery, left alone; any draft → confirmed first.
    pub async fn validate_order_deliveries(&self, order_id: Id) -> Result<Vec<(Id, Step)>> {
        let moves: Vec<Record> = self
            .search_read(
                "stock.move",
                &Domain::new()
                    .eq("picking_id.sale_id", order_id)
                    .eq("picking_id.picking_type_id.code", "outgoing"),
                &["picking_id", "state", "product_uom_qty"],
                &SearchOptions {
                    order: Some("id".into()),
                    ..Default::default()
                },
            )
            .await?;
        let mut pickings: std::collections::BTreeMap<Id, Vec<Record>> = Default::default();
        for mv in moves {
            if let Some(p) = mv.get("picking_id").and_then(many2one_id) {
                pickings.entry(p).or_default().push(mv);
            }
        }
        let mut out = Vec::new();
        for (picking, moves) in &pickings {
            let states: Vec<&str> = moves.iter().map(|m| str_field(m, "state")).collect();
            if states.iter().all(|s| *s == "cancel") {
                continue;
            }
            let step = if states.iter().all(|s| matches!(*s, "done" | "cancel")) {
                Step::AlreadyDone
            } else {
                let draft = states.contains(&"draft");
                self.validate_picking_moves(*picking, draft, moves).await?
            };
            out.push((*picking, step));
        }
        Ok(out)
    }

    /// The main warehouse's stock location (`stock.warehouse.lot_stock_id` of the first warehouse).
    pub async fn default_stock_location(&self) -> Result<Id> {
        let warehouses: Vec<Record> = self
            .search_read(
                "stock.warehouse",
                &Domain::new(),
                &["lot_stock_id"],
                &SearchOptions::limit(1),
            )
            .await?;
        warehouses
            .first()
            .and_then(|w| w.get("lot_stock_id"))
            .and_then(many2one_id)
            .ok_or_else(|| Error::workflow("no warehouse with a stock location"))
    }

    /// Sets the on-hand quantity of a storable product at a location (default: the main warehouse's stock)
    /// through `stock.quant` in inventory mode + `action_apply_inventory` (§10.10). The quantity is absolute;
    /// when it is already what is asked, nothing is written.
    pub async fn set_stock_on_hand(
        &self,
        product_id: Id,
        quantity: f64,
        location_id: Option<Id>,
    ) -> Result<Step> {
        let location_id = match location_id {
            Some(l) => l,
            None => self.default_stock_location().await?,
        };
        let quants: Vec<Record> = self
            .search_read(
                "stock.quant",
                &Domain::new()
                    .eq("product_id", product_id)
                    .eq("location_id", location_id),
                &["quantity"],
                &SearchOptions::default(),
            )
            .await?;
        let on_hand: f64 = quants
            .iter()
            .filter_map(|q| q.get("quantity").and_then(Value::as_f64))
            .sum();
        if !quants.is_empty() && (on_hand - quantity).abs() < 1e-9 {
            return Ok(Step::AlreadyDone);
        }
        let inventory = self.with_context(ctx(&[("inventory_mode", json!(true))]));
        let mut vals = Map::new();
        vals.insert("product_id".into(), json!(product_id));
        vals.insert("location_id".into(), json!(location_id));
        vals.insert("inventory_quantity".into(), json!(quantity));
        let quant = inventory.create("stock.quant", vals).await?;
        // Answers no `result` at all (a method returning None), or a wizard for tracked products.
        let result = inventory
            .call(&Call::new("stock.quant", "action_apply_inventory").ids(&[quant]))
            .await?;
        if let Some(model) = wizard_model(&result) {
            return Err(Error::workflow(format!(
                "action_apply_inventory returned the wizard {model}; the quantity was not applied"
            )));
        }
        Ok(Step::Done)
    }

    /// Cancels an order (§10.11): unlocks it first when locked (17+ `locked`, 16 state `done`), then
    /// `action_cancel` with `disable_cancel_warning` so no cancel wizard comes back; its `true`
    /// answer is trusted, anything else reads the order's state.
    pub async fn cancel_sale_order(&self, order_id: Id) -> Result<Step> {
        let caps = self.capabilities().await?;
        let fields: &[&str] = if caps.sale_order_locked {
            &["state", "locked"]
        } else {
            &["state"]
        };
        let order = self.read_required("sale.order", order_id, fields).await?;
        self.cancel_sale_order_in(order_id, &order).await
    }

    /// [`Client::cancel_sale_order`] for an order just read with `state` (and `locked` on 17+).
    pub async fn cancel_sale_order_in(&self, order_id: Id, order: &Record) -> Result<Step> {
        let state = str_field(order, "state");
        if state == "cancel" {
            return Ok(Step::AlreadyDone);
        }
        let locked = order.get("locked").is_some_and(truthy) || state == "done";
        if locked {
            self.call(&Call::new("sale.order", "action_unlock").ids(&[order_id]))
                .await?;
        }
        let result = self
            .call(
                &Call::new("sale.order", "action_cancel")
                    .ids(&[order_id])
                    .with_context("disable_cancel_warning", true),
            )
            .await?;
        // `_action_cancel` ends in `write({'state': 'cancel'})`, whose `True` is the answer (as
        // `action_confirm`'s, transcript A12); it raises when it cannot cancel. Only another answer
        // (the cancel wizard's window action) needs the order read.
        if result == Value::Bool(true) {
            return Ok(Step::Done);
        }
        let after = self
            .read_required("sale.order", order_id, &["state"])
            .await?;
        match str_field(&after, "state") {
            "cancel" => Ok(Step::Done),
            other => Err(Error::workflow(match wizard_model(&result) {
                Some(model) => format!(
                    "action_cancel on sale.order {order_id} returned the wizard {model}; the order is {other:?}"
                ),
                None => format!("sale.order {order_id} is {other:?} after action_cancel"),
            })),
        }
    }

    /// Adds (or replaces) the shipping line of an order through the `choose.delivery.carrier` wizard
    /// (§10.5; needs the delivery module). When the order already has that carrier and a delivery line at
    /// that price, nothing is done. `price` `None` lets the carrier compute it.
    pub async fn add_shipping_line(
        &self,
        order_id: Id,
        carrier_id: Id,
        price: Option<f64>,
    ) -> Result<Step> {
        let caps = self.capabilities().await?;
        let fields: &[&str] = if caps.delivery_lines {
            &["state", "order_line", "carrier_id"]
        } else {
            &["state", "order_line"]
        };
        let order = self.read_required("sale.order", order_id, fields).await?;
        let state = str_field(&order, "state");
        if state == "cancel" {
            return Err(Error::workflow(format!(
                "sale.order {order_id} is cancelled; no shipping line added"
            )));
        }
        if caps.delivery_lines && order.get("carrier_id").and_then(many2one_id) == Some(carrier_id)
        {
            let line_ids = x2many_ids(order.get("order_line").unwrap_or(&Value::Null));
            let lines: Vec<Record> = self
                .read("sale.order.line", &line_ids, &["is_delivery", "price_unit"])
                .await?;
            let present = lines.iter().any(|l| {
                l.get("is_delivery").is_some_and(truthy)
                    && price.is_none_or(|p| {
                        l.get("price_unit")
                            .and_then(Value::as_f64)
                            .is_some_and(|u| (u - p).abs() < 1e-6)
                    })
            });
            if present {
                return Ok(Step::AlreadyDone);
            }
        }
        let mut vals = Map::new();
        vals.insert("order_id".into(), json!(order_id));
        vals.insert("carrier_id".into(), json!(carrier_id));
        if let Some(p) = price {
            vals.insert("delivery_price".into(), json!(p));
        }
        let wizard = self.create("choose.delivery.carrier", vals).await?;
        let result = self
            .call(&Call::new("choose.delivery.carrier", "button_confirm").ids(&[wizard]))
            .await?;
        if let Some(model) = wizard_model(&result).filter(|m| *m != "sale.order") {
            return Err(Error::workflow(format!(
                "button_confirm on choose.delivery.carrier returned {model}"
            )));
        }
        Ok(Step::Done)
    }
}
