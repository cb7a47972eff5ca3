//! Credit notes, returns and the API user, as Odoo's own wizards and methods do them (the recorded
//! Odoo 18 accounting transcript, Parts R and S), over either transport and on 16–19.
//!
//! Each wizard takes its source records from the context when it is *created*:
//! `account.move.reversal` (`active_model` "account.move", `active_ids`) and
//! `stock.return.picking` (`active_model` "stock.picking", `active_id`). The buttons answer a
//! window action whose `res_id` is the record made: the draft credit note, the return picking.
//! These recipes do one step each and read no state first: the caller (the sync) finds what
//! exists before it creates anything (credit notes by `reversed_entry_id`, returns by their
//! origin), because a credit note or a return has no "already done" state of its own.

use serde_json::{Map, Value, json};

use crate::client::{Call, Client, Id, Record, SearchOptions, many2one_id, x2many_ids};
use crate::domain::Domain;
use crate::error::{Error, Result};
use crate::probe::MoveQuantity;
use crate::recipes::ctx;

/// The fields [`Client::credit_notes_of`] reads.
pub const CREDIT_NOTE_FIELDS: &[&str] = &[
    "name",
    "state",
    "ref",
    "amount_total",
    "amount_residual",
    "payment_state",
];

fn f64_field(rec: &Record, name: &str) -> f64 {
    rec.get(name).and_then(Value::as_f64).unwrap_or_default()
}

fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// What [`Client::write_credit_note_down`] reads of a credit note's lines.
const LINE_FIELDS: &[&str] = &[
    "name",
    "display_type",
    "price_unit",
    "quantity",
    "discount",
    "price_total",
];

/// The lines a write-down scales: product lines (not sections, notes or the tax and payment-term
/// lines) with an amount.
fn product_lines(lines: Vec<Record>) -> Vec<Record> {
    lines
        .into_iter()
        .filter(|l| {
            matches!(
                l.get("display_type"),
                None | Some(Value::Null | Value::Bool(false))
            ) || l.get("display_type").and_then(Value::as_str) == Some("product")
        })
        .filter(|l| f64_field(l, "price_unit") * f64_field(l, "quantity") != 0.0)
        .collect()
}

/// What [`Client::write_credit_note_down`] reached.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WrittenDown {
    /// The credit note's total, taxes and rounding lines included.
    pub total: f64,
    /// What the rounding lines it already held come to, when they were kept (0: none).
    pub rounding: f64,
}

/// The Odoo user a connection logs in as (see [`Client::user_by_login`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OdooUser {
    pub id: Id,
    pub login: String,
    pub name: String,
    /// `None` when the user has no email address: Odoo then refuses every call that posts a
    /// chatter message in its name ("Unable to send message, please configure the sender's email
    /// address.").
    pub email: Option<String>,
}

impl Client {
    /// The customer credit notes (`out_refund`) reversing an invoice, not cancelled, oldest first,
    /// with [`CREDIT_NOTE_FIELDS`].
    pub async fn credit_notes_of(&self, invoice_id: Id) -> Result<Vec<Record>> {
        self.search_read(
            "account.move",
            &Domain::new()
                .eq("move_type", "out_refund")
                .eq("reversed_entry_id", invoice_id)
                .ne("state", "cancel"),
            CREDIT_NOTE_FIELDS,
            &SearchOptions {
                order: Some("id".into()),
                ..SearchOptions::default()
            },
        )
        .await
    }

    /// A draft credit note reversing a posted invoice in full, through `account.move.reversal`
    /// (transcript R2–R3): created with the invoice in the context, in the invoice's journal,
    /// then its button (`refund_moves`; on 16 `refund_method` "refund" + `reverse_moves`). Its
    /// `ref` reads "Reversal of: <invoice>, <reason>", so `reason` can carry a marker to find it
    /// by. Nothing is looked up first: see the module docs.
    pub async fn draft_credit_note(&self, invoice_id: Id, reason: &str) -> Result<Id> {
        let caps = self.capabilities().await?;
        let inv = self
            .read_one("account.move", invoice_id, &["state", "journal_id"])
            .await?
            .ok_or_else(|| Error::NotFound {
                model: "account.move".into(),
                id: invoice_id,
            })?;
        if inv.get("state").and_then(Value::as_str) != Some("posted") {
            return Err(Error::workflow(format!(
                "account.move {invoice_id} is not posted; only posted invoices are reversed"
            )));
        }
        let context = ctx(&[
            ("active_model", json!("account.move")),
            ("active_ids", json!([invoice_id])),
        ]);
        let mut vals = Map::new();
        vals.insert("reason".into(), json!(reason));
        if let Some(j) = inv.get("journal_id").and_then(many2one_id) {
            vals.insert("journal_id".into(), json!(j));
        }
        if caps.reversal_refund_method() {
            vals.insert("refund_method".into(), json!("refund"));
        }
        let wizard = self
            .with_context(context.clone())
            .create("account.move.reversal", vals)
            .await?;
        let action = self
            .call(
                &Call::new("account.move.reversal", caps.reversal_button())
                    .ids(&[wizard])
                    .context(context),
            )
            .await?;
        if let Some(id) = action.get("res_id").and_then(Value::as_i64) {
            return Ok(id);
        }
        // Several moves come back as a domain; ours is the newest draft reversing the invoice.
        self.credit_notes_of(invoice_id)
            .await?
            .iter()
            .rev()
            .find(|r| r.get("state").and_then(Value::as_str) == Some("draft"))
            .and_then(|r| r.get("id").and_then(Value::as_i64))
            .ok_or_else(|| {
                Error::workflow(format!(
                    "{} on account.move.reversal {wizard} made no credit note for account.move \
                     {invoice_id}",
                    caps.reversal_button()
                ))
            })
    }

    /// Writes a draft credit note down to `amount` (its total, taxes included) before it is
    /// posted (transcript R12–R14 writes a quantity; an amount needs the unit prices): every
    /// product line's `price_unit` scaled by `amount / total`, then the largest line corrected
    /// until the total Odoo computes is `amount`, or as close as Odoo's per-line tax rounding
    /// allows (a cent or so; [`Client::add_credit_note_rounding`] makes up the rest). Returns the
    /// total reached. A total already at `amount` writes nothing; lines labelled `rounding_label`
    /// are the credit note's rounding lines: counted in [`WrittenDown::rounding`] when the total is
    /// already there (a retry after a lost answer), else removed before the lines are written down
    /// again (a draft left for another amount).
    pub async fn write_credit_note_down(
        &self,
        credit_note: Id,
        amount: f64,
        rounding_label: Option<&str>,
    ) -> Result<WrittenDown> {
        let mv = self
            .read_one(
                "account.move",
                credit_note,
                &[
                    "state",
                    "amount_total",
                    "invoice_line_ids",
                    "reversed_entry_id",
                ],
            )
            .await?
            .ok_or_else(|| Error::NotFound {
                model: "account.move".into(),
                id: credit_note,
            })?;
        let mut line_ids = x2many_ids(mv.get("invoice_line_ids").unwrap_or(&Value::Null));
        // Its lines, read once here when its own rounding lines are to be found by their label
        // (a rounding line the invoice had, copied by the reversal, is labelled otherwise and is
        // one of its lines like any other); the write-down below starts from the same read.
        let read: Option<Vec<Record>> = match rounding_label {
            Some(_) if !line_ids.is_empty() => Some(
                self.read("account.move.line", &line_ids, LINE_FIELDS)
                    .await?,
            ),
            _ => None,
        };
        let held: Vec<(Id, f64)> = read
            .iter()
            .flatten()
            .filter(|l| l.get("name").and_then(Value::as_str) == rounding_label)
            .filter_map(|l| {
                let id = l.get("id").and_then(Value::as_i64)?;
                Some((
                    id,
                    cents(f64_field(l, "price_unit") * f64_field(l, "quantity")),
                ))
            })
            .collect();
        let mut total = f64_field(&mv, "amount_total");
        if (total - amount).abs() < 0.005 {
            return Ok(WrittenDown {
                total,
                rounding: cents(held.iter().map(|(_, a)| a).sum()),
            });
        }
        if mv.get("state").and_then(Value::as_str) != Some("draft") {
            return Err(Error::workflow(format!(
                "account.move {credit_note} is not a draft; its lines cannot be written down"
            )));
        }
        let write_lines = |commands: Vec<Value>| async move {
            let mut vals = Map::new();
            vals.insert("invoice_line_ids".into(), Value::Array(commands));
            self.write("account.move", &[credit_note], vals).await
        };
        let read_total = || self.move_total(credit_note);
        // A rounding line for another amount (a draft an earlier job left for another refund):
        // gone, and the lines written down afresh.
        if !held.is_empty() {
            write_lines(held.iter().map(|(id, _)| json!([2, id, 0])).collect()).await?;
            line_ids.retain(|id| !held.iter().any(|(h, _)| h == id));
            total = read_total().await?;
        }
        // Above its total: a draft an earlier attempt wrote down and left short of the amount (a
        // lost answer between the scaling and the last cent) is written back up, as far as the
        // invoice it reverses.
        let most = match mv.get("reversed_entry_id").and_then(many2one_id) {
            Some(inv) if amount > total => f64_field(
                &self
                    .read_one("account.move", inv, &["amount_total"])
                    .await?
                    .unwrap_or_default(),
                "amount_total",
            ),
            _ => total,
        };
        if amount <= 0.0 || amount > most + 0.005 || total <= 0.0 {
            return Err(Error::workflow(format!(
                "credit note {credit_note} totals {total:.2}; it cannot be written to {amount:.2}"
            )));
        }
        let read_lines = |ids: Vec<Id>| async move {
            let lines: Vec<Record> = self.read("account.move.line", &ids, LINE_FIELDS).await?;
            Ok::<_, Error>(product_lines(lines))
        };
        // Deleting the rounding lines changed none of the others.
        let lines = match read {
            Some(read) => product_lines(
                read.into_iter()
                    .filter(|l| {
                        let id = l.get("id").and_then(Value::as_i64);
                        !held.iter().any(|(h, _)| Some(*h) == id)
                    })
                    .collect(),
            ),
            None => read_lines(line_ids.clone()).await?,
        };
        if lines.is_empty() {
            return Err(Error::workflow(format!(
                "credit note {credit_note} has no product line to write down"
            )));
        }
        let ratio = amount / total;
        let commands: Vec<Value> = lines
            .iter()
            .filter_map(|l| {
                let id = l.get("id").and_then(Value::as_i64)?;
                let price = cents(f64_field(l, "price_unit") * ratio);
                Some(json!([1, id, {"price_unit": price}]))
            })
            .collect();
        write_lines(commands).await?;
        let mut reached = read_total().await?;
        // The cents the scaling left: on a line (or two) whose own rounding lands them exactly. A
        // cent of unit price moves a line of 3 at 25% off by 2.25 cents, so the largest line alone
        // may never land on Salla's amount (issue #17: 765.01 for 765.00, 17.98 for 18.00).
        if (amount - reached).abs() >= 0.005 {
            let lines = read_lines(line_ids.clone()).await?;
            let shapes: Vec<LineShape> = lines.iter().filter_map(LineShape::of).collect();
            if let Some(prices) = exact_adjustment(&shapes, amount - reached) {
                let before: Vec<Value> = shapes
                    .iter()
                    .filter(|l| prices.iter().any(|(id, _)| *id == l.id))
                    .map(|l| json!([1, l.id, {"price_unit": l.price}]))
                    .collect();
                write_lines(
                    prices
                        .iter()
                        .map(|(id, p)| json!([1, id, {"price_unit": p}]))
                        .collect(),
                )
                .await?;
                let after = read_total().await?;
                if (amount - after).abs() <= (amount - reached).abs() {
                    reached = after;
                } else {
                    // Odoo's taxes rounded otherwise: back, and the correction below.
                    write_lines(before).await?;
                }
            }
        }
        for _ in 0..4 {
            let diff = amount - reached;
            if diff.abs() < 0.005 {
                break;
            }
            // The largest line takes the difference, at its own rate of tax and discount.
            let lines = read_lines(line_ids.clone()).await?;
            let Some(big) = lines.iter().max_by(|a, b| {
                f64_field(a, "price_total")
                    .abs()
                    .total_cmp(&f64_field(b, "price_total").abs())
            }) else {
                break;
            };
            let (Some(id), price, qty) = (
                big.get("id").and_then(Value::as_i64),
                f64_field(big, "price_unit"),
                f64_field(big, "quantity"),
            ) else {
                break;
            };
            let rate = f64_field(big, "price_total") / (price * qty);
            if !rate.is_finite() || rate == 0.0 {
                break;
            }
            let mut next = cents(price + diff / (qty * rate));
            if (next - price).abs() < 0.005 {
                next = cents(price + 0.01f64.copysign(diff));
            }
            write_lines(vec![json!([1, id, {"price_unit": next}])]).await?;
            let after = read_total().await?;
            if (amount - after).abs() >= diff.abs() {
                // No closer: put the line back and keep the nearest total.
                write_lines(vec![json!([1, id, {"price_unit": price}])]).await?;
                break;
            }
            reached = after;
        }
        Ok(WrittenDown {
            total: reached,
            rounding: 0.0,
        })
    }

    /// Adds an untaxed line of `amount` (one unit of `product`, a service without taxes, labelled
    /// `label`) to a draft credit note: the cents its written-down lines cannot reach
    /// ([`Client::write_credit_note_down`]). Returns the credit note's total.
    pub async fn add_credit_note_rounding(
        &self,
        credit_note: Id,
        product: Id,
        label: &str,
        amount: f64,
    ) -> Result<f64> {
        let mut line = Map::new();
        line.insert("product_id".into(), json!(product));
        line.insert("name".into(), json!(label));
        line.insert("quantity".into(), json!(1.0));
        line.insert("price_unit".into(), json!(cents(amount)));
        // Explicitly none: Odoo would otherwise take the product's default taxes.
        line.insert("tax_ids".into(), json!([[6, 0, []]]));
        let mut vals = Map::new();
        vals.insert("invoice_line_ids".into(), json!([[0, 0, line]]));
        self.write("account.move", &[credit_note], vals).await?;
        self.move_total(credit_note).await
    }

    /// An `account.move`'s `amount_total` as Odoo computes it now (0 when it is gone).
    async fn move_total(&self, id: Id) -> Result<f64> {
        Ok(f64_field(
            &self
                .read_one("account.move", id, &["amount_total"])
                .await?
                .unwrap_or_default(),
            "amount_total",
        ))
    }

    /// Creates the return of a done transfer through `stock.return.picking` (transcript
    /// S12–S18): the wizard on the picking, each of its lines set to the quantity asked for its
    /// product (spread over that product's moves, at most what each delivered), every other
    /// line 0, then its button (`action_create_returns`; `create_returns` on 16 and 17).
    /// `quantities` empty: everything the picking delivered. Returns the return picking, not yet
    /// validated ([`Client::validate_delivery`] validates it). Nothing is looked up first: see the
    /// module docs.
    pub async fn create_return(&self, picking_id: Id, quantities: &[(Id, f64)]) -> Result<Id> {
        let caps = self.capabilities().await?;
        let context = ctx(&[
            ("active_model", json!("stock.picking")),
            ("active_id", json!(picking_id)),
            ("active_ids", json!([picking_id])),
        ]);
        let wizard = self
            .with_context(context.clone())
            .create("stock.return.picking", Map::new())
            .await?;
        let w = self
            .read_one("stock.return.picking", wizard, &["product_return_moves"])
            .await?
            .unwrap_or_default();
        let line_ids = x2many_ids(w.get("product_return_moves").unwrap_or(&Value::Null));
        let lines: Vec<Record> = self
            .read(
                "stock.return.picking.line",
                &line_ids,
                &["product_id", "move_id"],
            )
            .await?;
        let done_field = match caps.move_quantity {
            MoveQuantity::QuantityDone => "quantity_done",
            MoveQuantity::QuantityPicked => "quantity",
        };
        let move_ids: Vec<Id> = lines
            .iter()
            .filter_map(|l| l.get("move_id").and_then(many2one_id))
            .collect();
        let moves: Vec<Record> = self
            .read("stock.move", &move_ids, &[done_field, "product_uom_qty"])
            .await?;
        let delivered = |mv: Option<Id>| {
            moves
                .iter()
                .find(|m| m.get("id").and_then(Value::as_i64) == mv && mv.is_some())
                .map(|m| match f64_field(m, done_field) {
                    q if q > 0.0 => q,
                    _ => f64_field(m, "product_uom_qty"),
                })
                .unwrap_or_default()
        };
        let mut wanted: Vec<(Id, f64)> = quantities.to_vec();
        let mut commands = Vec::new();
        let mut any = false;
        for (i, l) in lines.iter().enumerate() {
            let Some(id) = l.get("id").and_then(Value::as_i64) else {
                continue;
            };
            let product = l.get("product_id").and_then(many2one_id);
            let can = delivered(l.get("move_id").and_then(many2one_id));
            let qty = if quantities.is_empty() {
                can
            } else {
                let last_of_product = !lines[i + 1..]
                    .iter()
                    .any(|o| o.get("product_id").and_then(many2one_id) == product);
                match wanted.iter_mut().find(|(p, _)| Some(*p) == product) {
                    Some((_, left)) => {
                        let q = if last_of_product {
                            *left
                        } else {
                            left.min(can)
                        };
                        *left -= q;
                        q
                    }
                    None => 0.0,
                }
            };
            any |= qty > 0.0;
            commands.push(json!([1, id, {"quantity": qty}]));
        }
        if !any {
            return Err(Error::workflow(format!(
                "stock.picking {picking_id} delivered none of the products to return"
            )));
        }
        let mut vals = Map::new();
        vals.insert("product_return_moves".into(), Value::Array(commands));
        self.write("stock.return.picking", &[wizard], vals).await?;
        let action = self
            .call(
                &Call::new("stock.return.picking", caps.return_button())
                    .ids(&[wizard])
                    .context(context),
            )
            .await?;
        action.get("res_id").and_then(Value::as_i64).ok_or_else(|| {
            Error::workflow(format!(
                "{} on stock.return.picking {wizard} made no return picking",
                caps.return_button()
            ))
        })
    }

    /// The user with this login (archived ones too), with its email address.
    pub async fn user_by_login(&self, login: &str) -> Result<Option<OdooUser>> {
        let users: Vec<Record> = self
            .search_read(
                "res.users",
                &Domain::new().eq("login", login),
                &["login", "name", "email"],
                &SearchOptions::limit(1),
            )
            .await?;
        let text = |r: &Record, f: &str| {
            r.get(f)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        Ok(users.first().and_then(|u| {
            Some(OdooUser {
                id: u.get("id").and_then(Value::as_i64)?,
                login: text(u, "login").unwrap_or_else(|| login.to_owned()),
                name: text(u, "name").unwrap_or_default(),
                email: text(u, "email"),
            })
        }))
    }

    /// Whether `user` belongs to the group with external id `group` (e.g.
    /// `account.group_account_invoice`), implied groups included: `res.users.has_group`, on
    /// the user's record from 17, as the calling user on 16.
    pub async fn user_has_group(&self, user: Id, group: &str) -> Result<bool> {
        let caps = self.capabilities().await?;
        let mut call = Call::new("res.users", "has_group");
        if caps.has_group_on_record() {
            call = call.ids(&[user]);
        }
        let answer = self.call(&call.arg("group_ext_id", group)).await?;
        Ok(answer.as_bool().unwrap_or(false))
    }
}

/// A credit note's product line as the write-down adjusts it: its total is
/// `quantity × price_unit × (1 − discount) × rate` to the cent, `rate` being its taxes' (1 without
/// any).
#[derive(Debug, Clone, Copy, PartialEq)]
struct LineShape {
    id: Id,
    price: f64,
    qty: f64,
    discount: f64,
    rate: f64,
    total: f64,
}

impl LineShape {
    fn of(rec: &Record) -> Option<LineShape> {
        let (price, qty, discount) = (
            f64_field(rec, "price_unit"),
            f64_field(rec, "quantity"),
            f64_field(rec, "discount"),
        );
        let base = price * qty * (1.0 - discount / 100.0);
        let total = f64_field(rec, "price_total");
        let rate = total / base;
        (base != 0.0 && rate.is_finite() && rate > 0.0).then_some(LineShape {
            id: rec.get("id").and_then(Value::as_i64)?,
            price,
            qty,
            discount,
            // Without taxes the total is the subtotal: exactly 1, not a quotient of roundings.
            rate: if (rate - 1.0).abs() < 0.0005 {
                1.0
            } else {
                rate
            },
            total,
        })
    }

    fn total_at(&self, price: f64) -> f64 {
        cents(self.qty * price * (1.0 - self.discount / 100.0) * self.rate)
    }

    /// A unit price (to the cent, near the one that would do) at which the line totals `want`.
    fn price_for(&self, want: f64) -> Option<f64> {
        let ideal = cents(want / (self.qty * (1.0 - self.discount / 100.0) * self.rate));
        (0..=8)
            .map(|k| cents(ideal + f64::from((k + 1) / 2 * if k % 2 == 1 { 1 } else { -1 }) * 0.01))
            .find(|p| *p > 0.0 && (self.total_at(*p) - want).abs() < 0.0005)
    }
}

/// New unit prices that move the lines' total by `diff` exactly, each line by its own rounding:
/// one line's when one can, the largest first, else two lines' (the first moved by a few cents,
/// the other landing the rest). `None` when no line nor pair can.
fn exact_adjustment(lines: &[LineShape], diff: f64) -> Option<Vec<(Id, f64)>> {
    let diff = cents(diff);
    let mut order: Vec<&LineShape> = lines.iter().collect();
    order.sort_by(|a, b| b.total.abs().total_cmp(&a.total.abs()));
    for l in &order {
        if let Some(p) = l.price_for(cents(l.total + diff)) {
            return Some(vec![(l.id, p)]);
        }
    }
    for a in &order {
        for k in (-10i32..=10).filter(|k| *k != 0) {
            let pa = cents(a.price + f64::from(k) * 0.01);
            if pa <= 0.0 {
                continue;
            }
            let rest = cents(diff - (a.total_at(pa) - a.total));
            for b in order.iter().filter(|b| b.id != a.id) {
                if let Some(pb) = b.price_for(cents(b.total + rest)) {
                    return Some(vec![(a.id, pa), (b.id, pb)]);
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cents_round_half_away() {
        assert_eq!(cents(8.695), 8.7);
        assert_eq!(cents(-1.005), -1.0);
        assert_eq!(cents(115.0 * 0.5), 57.5);
    }

    fn line(id: Id, price: f64, qty: f64, discount: f64) -> LineShape {
        let l = LineShape {
            id,
            price,
            qty,
            discount,
            rate: 1.0,
            total: 0.0,
        };
        LineShape {
            total: l.total_at(price),
            ..l
        }
    }

    /// The lines' total after `prices`.
    fn total_after(lines: &[LineShape], prices: &[(Id, f64)]) -> f64 {
        cents(
            lines
                .iter()
                .map(|l| match prices.iter().find(|(id, _)| *id == l.id) {
                    Some((_, p)) => l.total_at(*p),
                    None => l.total,
                })
                .sum(),
        )
    }

    #[test]
    fn the_last_cent_goes_where_it_lands_exactly() {
        // Issue #17: 765.01 for Salla's 765.00, no taxes. The largest line (2 at 15% off) moves
        // by 1.7 cents a cent of price: 510.02 → 510.00, never 510.01. The shipping line takes it.
        let lines = [line(1, 300.01, 2.0, 15.0), line(2, 254.99, 1.0, 0.0)];
        assert_eq!(total_after(&lines, &[]), 765.01);
        let prices = exact_adjustment(&lines, -0.01).unwrap();
        assert_eq!(prices, vec![(2, 254.98)]);
        assert_eq!(total_after(&lines, &prices), 765.0);
    }

    #[test]
    fn without_a_line_that_lands_it_two_lines_share_it() {
        // Two cents short (as 17.98 for 18.00): 3 at 20% off (2.4 cents a cent of price: 12.02,
        // 12.05, 12.07, …) and 2 at 10% off (1.8: 9.04, 9.05, 9.07, …): neither line alone moves
        // by exactly 2 cents from here, the two together do.
        let lines = [line(1, 5.01, 3.0, 20.0), line(2, 5.02, 2.0, 10.0)];
        let start = total_after(&lines, &[]);
        assert_eq!(start, 21.06);
        for l in &lines {
            assert!(
                (-4..=4).all(|k| (l.total_at(cents(l.price + f64::from(k) * 0.01))
                    - l.total
                    - 0.02)
                    .abs()
                    > 0.0005),
                "{l:?}"
            );
        }
        let prices = exact_adjustment(&lines, 0.02).unwrap();
        assert_eq!(prices.len(), 2, "{prices:?}");
        assert_eq!(total_after(&lines, &prices), 21.08);
        // Every other figure near it lands exactly too.
        for diff in [-0.05, -0.03, -0.01, 0.01, 0.03, 0.04, 0.07] {
            let prices = exact_adjustment(&lines, diff).unwrap();
            assert_eq!(total_after(&lines, &prices), cents(start + diff), "{diff}");
        }
    }
}
