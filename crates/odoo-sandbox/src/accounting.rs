//! Accounting as a fresh Odoo (Community, generic chart) does it, per the recorded Odoo 18
//! accounting transcript: currencies and rates, journal items and their reconciliation, invoice
//! and payment states, the payment wizard (`account.payment.register`), credit notes (the
//! reversal wizard `account.move.reversal`) and the sender-email rule.
//!
//! Journal items: an invoice's product lines are `account.move.line` rows with `display_type`
//! "product"; when the invoice is created it also gets one receivable (payable for bills) line
//! with `display_type` "payment_term", whose amount is the invoice total (no tax lines are
//! stored: taxes are computed from the product lines). A payment owns a journal entry
//! (`move_type` "entry", named like the payment) with a liquidity line on the outstanding account
//! and a counterpart line on the receivable account. Reconciliation is a row of
//! `account.partial.reconcile` between a debit and a credit line; residuals, `payment_state`,
//! `is_reconciled` and `reconciled_invoice_ids` are derived from those rows at read time.
//!
//! Amounts are kept in the document currency; company-currency amounts are converted with the
//! rates of `res.currency.rate` (1.0 when a currency has none, as in the recording). Exchange
//! differences between an invoice and its payment in another currency are not modelled.

use serde_json::{Map, Value, json};

use crate::Version;
use crate::business::{ctx_active_ids, display_name, m2o, move_amounts, round2, s};
use crate::db::{Env, truthy};
use crate::domain::ids_of;
use crate::error::{OdooError, OdooResult};

/// Seeded accounts (generic chart). 49 and 50 are the recorded ids; the others are the sandbox's.
pub const ACCOUNT_RECEIVABLE: i64 = 1;
pub const ACCOUNT_PAYABLE: i64 = 2;
pub const ACCOUNT_INCOME: i64 = 3;
pub const ACCOUNT_EXPENSE: i64 = 4;
pub const ACCOUNT_OUTSTANDING_RECEIPTS: i64 = 49;
pub const ACCOUNT_OUTSTANDING_PAYMENTS: i64 = 50;

/// `mail.thread._message_compute_author` for a user without an email address.
pub const SENDER_EMAIL_ERROR: &str =
    "Unable to send message, please configure the sender's email address.";
const WIZARD_SOURCE_ERROR: &str = "The register payment wizard should only be called on account.move or account.move.line records.";
const NOTHING_TO_PAY: &str = "You can't register a payment because there is nothing left to pay on the selected journal items.";

// ---------------------------------------------------------------------------------------------
// Currencies

pub fn company_currency(env: &Env<'_>) -> i64 {
    m2o(env, "res.company", 1, "currency_id").unwrap_or_default()
}

/// The raw rate of a currency on a date: its latest `res.currency.rate` on or before it, else 1.
fn raw_rate(env: &Env<'_>, currency: i64, date: &str) -> f64 {
    let mut best: Option<(String, f64)> = None;
    for r in env.all_ids("res.currency.rate") {
        if m2o(env, "res.currency.rate", r, "currency_id") != Some(currency) {
            continue;
        }
        let d = s(env, "res.currency.rate", r, "name");
        if d.as_str() > date {
            continue;
        }
        if best.as_ref().is_none_or(|(bd, _)| d >= *bd) {
            best = Some((d, env.raw_f64("res.currency.rate", r, "rate")));
        }
    }
    best.map(|b| b.1).filter(|r| *r > 0.0).unwrap_or(1.0)
}

/// Units of `currency` per unit of the company currency on `date` (Odoo's `rate`).
pub fn rate(env: &Env<'_>, currency: i64, date: &str) -> f64 {
    raw_rate(env, currency, date) / raw_rate(env, company_currency(env), date)
}

/// `res.currency._convert` (rounded to cents).
pub fn convert(env: &Env<'_>, amount: f64, from: i64, to: i64, date: &str) -> f64 {
    if from == to || from == 0 || to == 0 {
        return amount;
    }
    round2(amount * raw_rate(env, to, date) / raw_rate(env, from, date))
}

// ---------------------------------------------------------------------------------------------
// Moves and journal items

pub fn is_invoice(move_type: &str) -> bool {
    matches!(
        move_type,
        "out_invoice" | "out_refund" | "in_invoice" | "in_refund" | "out_receipt" | "in_receipt"
    )
}

/// +1 when the receivable/payable line is a debit (customer invoices, vendor refunds).
fn direction(move_type: &str) -> f64 {
    match move_type {
        "out_refund" | "in_invoice" | "in_receipt" => -1.0,
        _ => 1.0,
    }
}

fn move_type(env: &Env<'_>, mv: i64) -> String {
    s(env, "account.move", mv, "move_type")
}

pub fn move_date(env: &Env<'_>, mv: i64) -> String {
    let d = s(env, "account.move", mv, "invoice_date");
    if !d.is_empty() {
        return d;
    }
    let d = s(env, "account.move", mv, "date");
    if d.is_empty() { env.today() } else { d }
}

/// The move's currency (the company's when unset).
pub fn move_currency(env: &Env<'_>, mv: i64) -> i64 {
    m2o(env, "account.move", mv, "currency_id").unwrap_or_else(|| company_currency(env))
}

/// `invoice_currency_rate`: document-currency units per company-currency unit.
pub fn move_rate(env: &Env<'_>, mv: i64) -> f64 {
    rate(env, move_currency(env, mv), &move_date(env, mv))
}

fn line_move(env: &Env<'_>, line: i64) -> i64 {
    m2o(env, "account.move.line", line, "move_id").unwrap_or_default()
}

/// Lines of a move (in id order, the lines' order) whose `display_type` passes `keep`; rows
/// are read directly, as this runs for every residual and payment state.
fn lines_where(env: &Env<'_>, mv: i64, keep: impl Fn(&str) -> bool) -> Vec<i64> {
    let Some(t) = env.table("account.move.line") else {
        return Vec::new();
    };
    t.rows
        .iter()
        .filter(|(_, r)| r.get("move_id").and_then(Value::as_i64) == Some(mv))
        .filter(|(_, r)| keep(r.get("display_type").and_then(Value::as_str).unwrap_or("")))
        .map(|(id, _)| *id)
        .collect()
}

/// The receivable/payable lines of a move.
pub fn term_lines(env: &Env<'_>, mv: i64) -> Vec<i64> {
    lines_where(env, mv, |d| d == "payment_term")
}

/// `invoice_line_ids`: the product, section and note lines.
pub fn invoice_lines(env: &Env<'_>, mv: i64) -> Vec<i64> {
    lines_where(env, mv, |d| {
        matches!(d, "product" | "line_section" | "line_note" | "")
    })
}

/// Signed amount of a line in the document currency (debit positive).
pub fn line_amount_currency(env: &Env<'_>, line: i64) -> f64 {
    let mv = line_move(env, line);
    let mt = move_type(env, mv);
    if is_invoice(&mt) {
        match s(env, "account.move.line", line, "display_type").as_str() {
            "payment_term" => return direction(&mt) * move_amounts(env, mv).2,
            "product" => {
                let sub = crate::business::aml_amounts(env, line).0;
                return -direction(&mt) * sub;
            }
            _ => {}
        }
    }
    env.stored("account.move.line", line, "amount_currency")
        .as_f64()
        .unwrap_or(0.0)
}

/// Signed amount of a line in the company currency.
pub fn line_balance(env: &Env<'_>, line: i64) -> f64 {
    let mv = line_move(env, line);
    if is_invoice(&move_type(env, mv)) {
        return round2(line_amount_currency(env, line) / move_rate(env, mv));
    }
    env.stored("account.move.line", line, "balance")
        .as_f64()
        .unwrap_or(0.0)
}

fn reconcilable(env: &Env<'_>, line: i64) -> bool {
    if s(env, "account.move.line", line, "display_type") == "payment_term" {
        return true;
    }
    m2o(env, "account.move.line", line, "account_id")
        .is_some_and(|a| truthy(&env.raw("account.account", a, "reconcile")))
}

/// Partials of a line: (partial, the line is its debit side).
fn partials_of(env: &Env<'_>, line: i64) -> Vec<(i64, bool)> {
    let Some(t) = env.table("account.partial.reconcile") else {
        return Vec::new();
    };
    let side = |r: &crate::db::Record, f: &str| r.get(f).and_then(Value::as_i64) == Some(line);
    t.rows
        .iter()
        .filter_map(|(id, r)| {
            if side(r, "debit_move_id") {
                Some((*id, true))
            } else if side(r, "credit_move_id") {
                Some((*id, false))
            } else {
                None
            }
        })
        .collect()
}

/// The other side of a partial.
fn counterpart(env: &Env<'_>, partial: i64, debit_side: bool) -> i64 {
    let f = if debit_side {
        "credit_move_id"
    } else {
        "debit_move_id"
    };
    m2o(env, "account.partial.reconcile", partial, f).unwrap_or_default()
}

/// Residual of a line in the document currency (signed; 0 for lines that are not reconciled).
pub fn line_residual_currency(env: &Env<'_>, line: i64) -> f64 {
    if !reconcilable(env, line) {
        return 0.0;
    }
    let mut r = line_amount_currency(env, line);
    for (p, debit) in partials_of(env, line) {
        if debit {
            r -= env.raw_f64("account.partial.reconcile", p, "debit_amount_currency");
        } else {
            r += env.raw_f64("account.partial.reconcile", p, "credit_amount_currency");
        }
    }
    round2(r)
}

fn line_residual(env: &Env<'_>, line: i64) -> f64 {
    let mv = line_move(env, line);
    round2(line_residual_currency(env, line) / move_rate(env, mv))
}

/// An invoice's receivable side in one pass over its lines and one over the partials: the
/// residual of each receivable/payable line (document currency, signed) and the lines they are
/// reconciled with. Residuals and payment states are read for every record of a search, so
/// this avoids scanning the journal items once per question.
struct TermView {
    terms: Vec<(i64, f64)>,
    counterparts: Vec<i64>,
}

fn term_view(env: &Env<'_>, mv: i64) -> TermView {
    // One scan: the receivable lines and the product lines (the total).
    let mut terms = Vec::new();
    let mut total = 0.0;
    if let Some(t) = env.table("account.move.line") {
        for (id, r) in &t.rows {
            if r.get("move_id").and_then(Value::as_i64) != Some(mv) {
                continue;
            }
            match r.get("display_type").and_then(Value::as_str) {
                Some("payment_term") => terms.push(*id),
                Some("product") => total += crate::business::aml_amounts(env, *id).2,
                _ => {}
            }
        }
    }
    if terms.is_empty() {
        return TermView {
            terms: Vec::new(),
            counterparts: Vec::new(),
        };
    }
    let amount = direction(&move_type(env, mv)) * round2(total);
    let mut residuals: Vec<(i64, f64)> = terms.iter().map(|l| (*l, amount)).collect();
    let mut counterparts = Vec::new();
    if let Some(t) = env.table("account.partial.reconcile") {
        for r in t.rows.values() {
            let d = r.get("debit_move_id").and_then(Value::as_i64);
            let c = r.get("credit_move_id").and_then(Value::as_i64);
            for (line, res) in &mut residuals {
                if d == Some(*line) {
                    *res -= r
                        .get("debit_amount_currency")
                        .and_then(Value::as_f64)
                        .unwrap_or(0.0);
                    counterparts.extend(c);
                } else if c == Some(*line) {
                    *res += r
                        .get("credit_amount_currency")
                        .and_then(Value::as_f64)
                        .unwrap_or(0.0);
                    counterparts.extend(d);
                }
            }
        }
    }
    TermView {
        terms: residuals.into_iter().map(|(l, r)| (l, round2(r))).collect(),
        counterparts,
    }
}

/// `amount_residual` of a move (document currency, unsigned).
pub fn move_residual(env: &Env<'_>, mv: i64) -> f64 {
    residual_with(env, mv, None)
}

fn residual_with(env: &Env<'_>, mv: i64, view: Option<&TermView>) -> f64 {
    match s(env, "account.move", mv, "state").as_str() {
        "cancel" => return 0.0,
        "draft" => {
            return if is_invoice(&move_type(env, mv)) {
                move_amounts(env, mv).2
            } else {
                0.0
            };
        }
        _ => {}
    }
    let owned;
    let view = match view {
        Some(v) => v,
        None => {
            owned = term_view(env, mv);
            &owned
        }
    };
    if view.terms.is_empty() {
        if is_invoice(&move_type(env, mv)) {
            return move_amounts(env, mv).2;
        }
        return round2(
            env.children("account.move.line", "move_id", mv)
                .iter()
                .map(|l| line_residual_currency(env, *l).abs())
                .sum::<f64>()
                / 2.0,
        );
    }
    round2(view.terms.iter().map(|(_, r)| r.abs()).sum())
}

/// The payment a journal entry belongs to.
fn origin_payment(env: &Env<'_>, mv: i64) -> Option<i64> {
    let f = if env.version() >= Version::V18 {
        "origin_payment_id"
    } else {
        "payment_id"
    };
    m2o(env, "account.move", mv, f)
}

/// Moves reconciled with a move's receivable/payable lines.
fn reconciled_with(env: &Env<'_>, mv: i64) -> Vec<i64> {
    moves_of(env, &term_view(env, mv).counterparts)
}

fn moves_of(env: &Env<'_>, lines: &[i64]) -> Vec<i64> {
    let mut out = Vec::new();
    for l in lines {
        let other = line_move(env, *l);
        if other != 0 && !out.contains(&other) {
            out.push(other);
        }
    }
    out
}

/// `account.move.payment_state` (Odoo 18 `_compute_payment_state`, Community): a fully
/// reconciled invoice is "paid" (`_get_invoice_in_payment_state` answers "paid" unless the
/// sandbox runs with the Enterprise accounting option, then "in_payment" until the payment is
/// matched with a bank statement, which never happens here); "reversed" when only credit notes
/// (or entries) paid it; "partial" when partly reconciled.
pub fn payment_state(env: &Env<'_>, mv: i64) -> &'static str {
    let mt = move_type(env, mv);
    if s(env, "account.move", mv, "state") != "posted" || !is_invoice(&mt) {
        return "not_paid";
    }
    let view = term_view(env, mv);
    let others = moves_of(env, &view.counterparts);
    if residual_with(env, mv, Some(&view)).abs() < 0.005 {
        if others.iter().any(|o| origin_payment(env, *o).is_some()) {
            return if env.db.in_payment_state {
                "in_payment"
            } else {
                "paid"
            };
        }
        let types: std::collections::BTreeSet<String> =
            others.iter().map(|o| move_type(env, *o)).collect();
        let only = |a: &str| {
            types.len() == 1 && types.contains(a)
                || types.len() == 2 && types.contains(a) && types.contains("entry")
        };
        let reversed = match mt.as_str() {
            "out_invoice" | "out_receipt" => only("out_refund"),
            "in_invoice" | "in_receipt" => only("in_refund"),
            _ => types.len() == 1 && types.contains("entry"),
        };
        return if reversed { "reversed" } else { "paid" };
    }
    if others.is_empty() {
        "not_paid"
    } else {
        "partial"
    }
}

/// Create one partial between a debit and a credit line (`amount` in the document currency).
fn add_partial(env: &mut Env<'_>, debit: i64, credit: i64, amount: f64) -> OdooResult<()> {
    let mv = line_move(env, debit);
    let company_amount = round2(amount / move_rate(env, mv));
    let mut vals = Map::new();
    vals.insert("debit_move_id".into(), json!(debit));
    vals.insert("credit_move_id".into(), json!(credit));
    vals.insert("amount".into(), json!(company_amount));
    vals.insert("debit_amount_currency".into(), json!(round2(amount)));
    vals.insert("credit_amount_currency".into(), json!(round2(amount)));
    env.create("account.partial.reconcile", &vals)?;
    Ok(())
}

/// Reconcile lines with each other as far as their residuals go (debits against credits, in
/// the order given).
pub fn reconcile(env: &mut Env<'_>, lines: &[i64]) -> OdooResult<()> {
    let debits: Vec<i64> = lines
        .iter()
        .copied()
        .filter(|l| line_residual_currency(env, *l) > 0.0)
        .collect();
    let credits: Vec<i64> = lines
        .iter()
        .copied()
        .filter(|l| line_residual_currency(env, *l) < 0.0)
        .collect();
    for d in debits {
        for &c in &credits {
            let rd = line_residual_currency(env, d);
            if rd < 0.005 {
                break;
            }
            let rc = -line_residual_currency(env, c);
            if rc < 0.005 {
                continue;
            }
            add_partial(env, d, c, rd.min(rc))?;
        }
    }
    Ok(())
}

/// Refuse when Odoo would post a chatter message as the calling user and that user has no
/// email address (`mail.thread._message_compute_author`).
pub fn require_sender_email(env: &Env<'_>) -> OdooResult<()> {
    if env.uid == 1 {
        return Ok(());
    }
    let partner = m2o(env, "res.users", env.uid, "partner_id");
    let email = partner
        .map(|p| s(env, "res.partner", p, "email"))
        .unwrap_or_default();
    if email.trim().is_empty() {
        return Err(OdooError::user(SENDER_EMAIL_ERROR));
    }
    Ok(())
}

/// Snapshot of payment states before a reconciliation.
pub fn states_of(env: &Env<'_>, moves: &[i64]) -> Vec<(i64, &'static str)> {
    moves.iter().map(|m| (*m, payment_state(env, *m))).collect()
}

/// After a reconciliation: sale's `_invoice_paid_hook` ("Invoice ... paid" on the orders, posted
/// as the calling user) for invoices that became paid, then the payments' states.
pub fn after_reconcile(env: &mut Env<'_>, before: &[(i64, &'static str)]) -> OdooResult<()> {
    for (mv, old) in before {
        let new = payment_state(env, *mv);
        let paid = |st: &str| matches!(st, "paid" | "in_payment");
        if paid(new) && !paid(old) && is_invoice(&move_type(env, *mv)) {
            let from_sale = invoice_lines(env, *mv)
                .iter()
                .any(|l| !ids_of(&env.raw("account.move.line", *l, "sale_line_ids")).is_empty());
            if from_sale {
                require_sender_email(env)?;
            }
        }
    }
    let moves: Vec<i64> = before.iter().map(|(m, _)| *m).collect();
    sync_payment_states(env, &moves);
    Ok(())
}

/// Payments linked to a move: reconciled with it, or registered on it (`invoice_ids`).
fn payments_of(env: &Env<'_>, mv: i64) -> Vec<i64> {
    let mut out: Vec<i64> = reconciled_with(env, mv)
        .into_iter()
        .filter_map(|o| origin_payment(env, o))
        .collect();
    if env.version() >= Version::V18
        && let Some(t) = env.table("account.payment")
    {
        for (p, r) in &t.rows {
            if r.get("invoice_ids")
                .is_some_and(|v| ids_of(v).contains(&mv))
            {
                out.push(*p);
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Invoices a payment paid: those reconciled with its counterpart lines.
pub fn payment_invoices(env: &Env<'_>, pay: i64) -> Vec<i64> {
    let Some(mv) = m2o(env, "account.payment", pay, "move_id") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for l in env.children("account.move.line", "move_id", mv) {
        for (p, debit) in partials_of(env, l) {
            let other = line_move(env, counterpart(env, p, debit));
            if other != 0 && other != mv && !out.contains(&other) {
                out.push(other);
            }
        }
    }
    out
}

/// 18+: an "in_process" payment becomes "paid" once every invoice it pays is paid (recorded:
/// the partial payment stays "in_process").
fn sync_payment_states(env: &mut Env<'_>, moves: &[i64]) {
    if env.version() < Version::V18 {
        return;
    }
    let mut pays = Vec::new();
    for m in moves {
        for p in payments_of(env, *m) {
            if !pays.contains(&p) {
                pays.push(p);
            }
        }
    }
    for p in pays {
        let st = s(env, "account.payment", p, "state");
        if !matches!(st.as_str(), "in_process" | "paid") {
            continue;
        }
        let mut invs = payment_invoices(env, p);
        for i in ids_of(&env.raw("account.payment", p, "invoice_ids")) {
            if !invs.contains(&i) {
                invs.push(i);
            }
        }
        let new = if !invs.is_empty() && invs.iter().all(|i| payment_state(env, *i) == "paid") {
            "paid"
        } else {
            "in_process"
        };
        if new != st {
            env.set("account.payment", p, "state", json!(new));
        }
    }
}

/// `sequence.mixin`: the next number of a prefix from the highest name in use, so a rolled
/// back call does not use one up (unlike `ir.sequence`).
pub fn next_name(env: &Env<'_>, models: &[&str], prefix: &str) -> String {
    let mut max = 0;
    for model in models {
        let Some(t) = env.table(model) else { continue };
        for r in t.rows.values() {
            if let Some(rest) = r
                .get("name")
                .and_then(Value::as_str)
                .and_then(|n| n.strip_prefix(prefix))
                && let Ok(k) = rest.parse::<i64>()
            {
                max = max.max(k);
            }
        }
    }
    format!("{prefix}{:05}", max + 1)
}

/// After an invoice is created: its receivable (payable) line.
pub fn add_term_line(env: &mut Env<'_>, mv: i64) -> OdooResult<()> {
    let mt = move_type(env, mv);
    if !is_invoice(&mt) || !term_lines(env, mv).is_empty() {
        return Ok(());
    }
    let account = if mt.starts_with("in_") {
        ACCOUNT_PAYABLE
    } else {
        ACCOUNT_RECEIVABLE
    };
    let mut vals = Map::new();
    vals.insert("move_id".into(), json!(mv));
    vals.insert("display_type".into(), json!("payment_term"));
    vals.insert("quantity".into(), json!(1.0));
    vals.insert("price_unit".into(), json!(0.0));
    if env.exists("account.account", account) {
        vals.insert("account_id".into(), json!(account));
    }
    let name = env.raw("account.move", mv, "payment_reference");
    if truthy(&name) {
        vals.insert("name".into(), name);
    }
    env.create("account.move.line", &vals)?;
    Ok(())
}

/// Defaults of an invoice line from its product (`account.move.line` create).
pub fn line_defaults(env: &Env<'_>, vals: &mut Map<String, Value>) {
    let dt = vals
        .get("display_type")
        .and_then(Value::as_str)
        .unwrap_or("product")
        .to_owned();
    if dt != "product" {
        return;
    }
    let Some(mv) = vals.get("move_id").and_then(Value::as_i64) else {
        return;
    };
    if !env.exists("account.move", mv) {
        return;
    }
    let mt = move_type(env, mv);
    if !is_invoice(&mt) {
        return;
    }
    let purchase = mt.starts_with("in_");
    if !vals.contains_key("account_id") {
        let acc = if purchase {
            ACCOUNT_EXPENSE
        } else {
            ACCOUNT_INCOME
        };
        if env.exists("account.account", acc) {
            vals.insert("account_id".into(), json!(acc));
        }
    }
    let Some(p) = vals.get("product_id").and_then(Value::as_i64) else {
        return;
    };
    if !env.exists("product.product", p) {
        return;
    }
    if !vals.contains_key("name") {
        let mut name = display_name(env, "product.product", p);
        let desc = s(env, "product.product", p, "description_sale");
        if !desc.is_empty() && !purchase {
            name = format!("{name}\n{desc}");
        }
        vals.insert("name".into(), json!(name));
    }
    if !vals.contains_key("price_unit") {
        let price = if purchase {
            env.raw_f64("product.product", p, "standard_price")
        } else {
            crate::variants::lst_price(env, p)
        };
        let cur = move_currency(env, mv);
        let price = convert(env, price, company_currency(env), cur, &move_date(env, mv));
        vals.insert("price_unit".into(), json!(price));
    }
    if !vals.contains_key("tax_ids") {
        let f = if purchase {
            "supplier_taxes_id"
        } else {
            "taxes_id"
        };
        let taxes = ids_of(&env.raw("product.product", p, f));
        vals.insert("tax_ids".into(), json!([[6, 0, taxes]]));
    }
    if !vals.contains_key("product_uom_id") {
        vals.insert(
            "product_uom_id".into(),
            env.raw("product.product", p, "uom_id"),
        );
    }
}

/// `action_post`'s accounting part for one move that was just posted: the payment reference of
/// a customer invoice, and the automatic reconciliation of a credit note with the invoice it
/// reverses (17+; recorded on 18).
pub fn on_post(env: &mut Env<'_>, mv: i64) -> OdooResult<()> {
    let mt = move_type(env, mv);
    if mt == "out_invoice" && !truthy(&env.raw("account.move", mv, "payment_reference")) {
        let name = env.raw("account.move", mv, "name");
        env.set("account.move", mv, "payment_reference", name.clone());
        for l in term_lines(env, mv) {
            env.set("account.move.line", l, "name", name.clone());
        }
    }
    if let Some(orig) = m2o(env, "account.move", mv, "reversed_entry_id")
        && s(env, "account.move", orig, "state") == "posted"
        && move_residual(env, orig) > 0.0
    {
        let before = states_of(env, &[orig, mv]);
        let mut lines = term_lines(env, orig);
        lines.extend(term_lines(env, mv));
        reconcile(env, &lines)?;
        after_reconcile(env, &before)?;
    }
    Ok(())
}

/// `button_draft`: unreconciles the move, then back to draft.
pub fn move_button_draft(env: &mut Env<'_>, moves: &[i64]) -> OdooResult<()> {
    for &m in moves {
        if !matches!(
            s(env, "account.move", m, "state").as_str(),
            "posted" | "cancel"
        ) {
            return Err(OdooError::user(
                "Only posted/cancelled journal entries can be reset to draft.",
            ));
        }
    }
    for &m in moves {
        let others = reconciled_with(env, m);
        for l in env.children("account.move.line", "move_id", m) {
            for (p, _) in partials_of(env, l) {
                if env.exists("account.partial.reconcile", p) {
                    env.remove_row("account.partial.reconcile", p);
                }
            }
        }
        env.set("account.move", m, "state", json!("draft"));
        let mut all = others;
        all.push(m);
        sync_payment_states(env, &all);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Computed fields

pub fn compute(env: &Env<'_>, model: &str, id: i64, field: &str) -> Option<Value> {
    Some(match (model, field) {
        ("account.move", "amount_residual") => json!(move_residual(env, id)),
        ("account.move", "payment_state") => json!(payment_state(env, id)),
        ("account.move", "amount_paid") => {
            let t = move_amounts(env, id).2;
            json!(if s(env, model, id, "state") == "posted" {
                round2(t - move_residual(env, id))
            } else {
                0.0
            })
        }
        ("account.move", "invoice_line_ids") => json!(invoice_lines(env, id)),
        ("account.move", "company_currency_id") => json!(company_currency(env)),
        ("account.move", "invoice_currency_rate") => json!(move_rate(env, id)),
        (
            "account.move",
            "amount_untaxed_signed"
            | "amount_tax_signed"
            | "amount_total_signed"
            | "amount_total_in_currency_signed"
            | "amount_residual_signed",
        ) => {
            let mt = move_type(env, id);
            let sign = if is_invoice(&mt) { direction(&mt) } else { 1.0 };
            let (u, t, tot) = move_amounts(env, id);
            let r = move_rate(env, id);
            json!(round2(match field {
                "amount_untaxed_signed" => sign * u / r,
                "amount_tax_signed" => sign * t / r,
                "amount_total_signed" => sign * tot / r,
                "amount_total_in_currency_signed" => sign * tot,
                _ => sign * move_residual(env, id) / r,
            }))
        }
        ("account.move", "matched_payment_ids") => json!(payments_of(env, id)),
        ("account.move.line", "partner_id") => {
            env.raw("account.move", line_move(env, id), "partner_id")
        }
        ("account.move.line", "currency_id") => json!(move_currency(env, line_move(env, id))),
        ("account.move.line", "amount_currency") => json!(round2(line_amount_currency(env, id))),
        ("account.move.line", "balance") => json!(line_balance(env, id)),
        ("account.move.line", "debit") => json!(line_balance(env, id).max(0.0)),
        ("account.move.line", "credit") => json!((-line_balance(env, id)).max(0.0)),
        ("account.move.line", "amount_residual") => json!(line_residual(env, id)),
        ("account.move.line", "amount_residual_currency") => {
            json!(line_residual_currency(env, id))
        }
        ("account.move.line", "reconciled") => json!(
            reconcilable(env, id)
                && line_amount_currency(env, id).abs() > 0.0
                && line_residual_currency(env, id).abs() < 0.005
        ),
        ("account.payment", "is_reconciled") => {
            let Some(mv) = m2o(env, model, id, "move_id") else {
                return Some(json!(false));
            };
            let counterparts: Vec<i64> = env
                .children("account.move.line", "move_id", mv)
                .into_iter()
                .filter(|l| {
                    m2o(env, "account.move.line", *l, "account_id")
                        .is_some_and(|a| a == ACCOUNT_RECEIVABLE || a == ACCOUNT_PAYABLE)
                })
                .collect();
            json!(
                !counterparts.is_empty()
                    && counterparts
                        .iter()
                        .all(|l| line_residual_currency(env, *l).abs() < 0.005)
            )
        }
        ("account.payment", "is_matched") => json!(false),
        ("account.payment", "outstanding_account_id") => json!(outstanding_account(env, id)),
        ("account.payment", "destination_account_id") => {
            json!(if s(env, model, id, "partner_type") == "supplier" {
                ACCOUNT_PAYABLE
            } else {
                ACCOUNT_RECEIVABLE
            })
        }
        ("account.payment", "reconciled_invoice_ids") => json!(payment_invoices(env, id)),
        ("account.journal", "inbound_payment_method_line_ids") => {
            json!(journal_method_lines(env, id, "inbound"))
        }
        ("account.journal", "outbound_payment_method_line_ids") => {
            json!(journal_method_lines(env, id, "outbound"))
        }
        ("account.payment.register", _) => return register_compute(env, id, field),
        ("account.move.reversal", "available_journal_ids") => json!(
            env.all_ids("account.journal")
                .into_iter()
                .filter(|j| matches!(
                    s(env, "account.journal", *j, "type").as_str(),
                    "sale" | "purchase"
                ))
                .collect::<Vec<_>>()
        ),
        ("account.move.reversal", "country_code") => country_code(env),
        ("account.move.reversal", "residual") => json!(round2(
            ids_of(&env.raw(model, id, "move_ids"))
                .iter()
                .map(|m| move_residual(env, *m))
                .sum::<f64>()
        )),
        ("account.move.reversal", "currency_id") => {
            match ids_of(&env.raw(model, id, "move_ids")).first() {
                Some(m) => json!(move_currency(env, *m)),
                None => json!(company_currency(env)),
            }
        }
        ("account.move.reversal", "move_type") => {
            match ids_of(&env.raw(model, id, "move_ids")).first() {
                Some(m) => json!(move_type(env, *m)),
                None => json!(false),
            }
        }
        ("res.currency", "rate") => json!(rate(env, id, &env.today())),
        ("res.currency", "inverse_rate") => json!(1.0 / rate(env, id, &env.today())),
        ("res.currency.rate", "company_rate") => {
            let d = s(env, model, id, "name");
            let cur = m2o(env, model, id, "currency_id").unwrap_or_default();
            json!(rate(env, cur, &d))
        }
        ("res.currency.rate", "inverse_company_rate") => {
            let d = s(env, model, id, "name");
            let cur = m2o(env, model, id, "currency_id").unwrap_or_default();
            json!(1.0 / rate(env, cur, &d))
        }
        _ => return None,
    })
}

fn country_code(env: &Env<'_>) -> Value {
    match m2o(env, "res.company", 1, "country_id") {
        Some(c) => env.raw("res.country", c, "code"),
        None => json!(false),
    }
}

fn journal_method_lines(env: &Env<'_>, journal: i64, ptype: &str) -> Vec<i64> {
    env.children("account.payment.method.line", "journal_id", journal)
        .into_iter()
        .filter(|l| s(env, "account.payment.method.line", *l, "payment_type") == ptype)
        .collect()
}

/// The payment method line's account, else the company's outstanding receipts/payments account.
fn outstanding_account(env: &Env<'_>, pay: i64) -> Value {
    if let Some(pm) = m2o(env, "account.payment", pay, "payment_method_line_id")
        && let Some(acc) = m2o(env, "account.payment.method.line", pm, "payment_account_id")
    {
        return json!(acc);
    }
    let f = if s(env, "account.payment", pay, "payment_type") == "outbound" {
        "account_journal_payment_credit_account_id"
    } else {
        "account_journal_payment_debit_account_id"
    };
    env.raw("res.company", 1, f)
}

fn register_compute(env: &Env<'_>, id: i64, field: &str) -> Option<Value> {
    let model = "account.payment.register";
    Some(match field {
        "company_currency_id" => json!(company_currency(env)),
        "payment_difference" => {
            let src = env.raw_f64(model, id, "source_amount_currency");
            let src_cur = m2o(env, model, id, "source_currency_id").unwrap_or_default();
            let cur = m2o(env, model, id, "currency_id").unwrap_or(src_cur);
            let due = convert(env, src, src_cur, cur, &s(env, model, id, "payment_date"));
            json!(round2(due - env.raw_f64(model, id, "amount")))
        }
        "show_payment_difference" => json!(
            register_compute(env, id, "payment_difference")
                .and_then(|v| v.as_f64())
                .is_some_and(|d| d.abs() > 0.0)
        ),
        "available_journal_ids" => json!(
            env.all_ids("account.journal")
                .into_iter()
                .filter(|j| matches!(
                    s(env, "account.journal", *j, "type").as_str(),
                    "bank" | "cash"
                ))
                .collect::<Vec<_>>()
        ),
        "available_payment_method_line_ids" => match m2o(env, model, id, "journal_id") {
            Some(j) => json!(journal_method_lines(
                env,
                j,
                &s(env, model, id, "payment_type")
            )),
            None => json!([]),
        },
        "country_code" => country_code(env),
        "installments_switch_amount" => json!(0.0),
        "total_payments_amount" => json!(1),
        "payment_method_code" => json!("manual"),
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// account.payment.register

/// `account.payment.register.default_get`: the journal items to pay come from the context.
pub fn register_defaults(env: &mut Env<'_>, vals: &mut Map<String, Value>) -> OdooResult<()> {
    let active_model = env
        .ctx
        .get("active_model")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let mut ids = env.ctx.get("active_ids").map(ids_of).unwrap_or_default();
    if ids.is_empty()
        && let Some(i) = env.ctx.get("active_id").and_then(Value::as_i64)
    {
        ids.push(i);
    }
    let lines: Vec<i64> = match active_model.as_deref() {
        Some("account.move") => {
            let mut out = Vec::new();
            for m in &ids {
                if !env.exists("account.move", *m) {
                    return Err(OdooError::missing("account.move", &[*m], env.uid));
                }
                out.extend(env.children("account.move.line", "move_id", *m));
            }
            out
        }
        Some("account.move.line") => {
            for l in &ids {
                if !env.exists("account.move.line", *l) {
                    return Err(OdooError::missing("account.move.line", &[*l], env.uid));
                }
            }
            ids
        }
        _ => return Err(OdooError::user(WIZARD_SOURCE_ERROR)),
    };
    for l in &lines {
        if s(env, "account.move", line_move(env, *l), "state") != "posted" {
            return Err(OdooError::user(
                "You can only register payment for posted journal entries.",
            ));
        }
    }
    let available: Vec<i64> = lines
        .iter()
        .copied()
        .filter(|l| {
            m2o(env, "account.move.line", *l, "account_id")
                .is_some_and(|a| a == ACCOUNT_RECEIVABLE || a == ACCOUNT_PAYABLE)
                || s(env, "account.move.line", *l, "display_type") == "payment_term"
        })
        .filter(|l| line_residual_currency(env, *l).abs() >= 0.005)
        .collect();
    if available.is_empty() {
        return Err(OdooError::user(NOTHING_TO_PAY));
    }
    let inbound = line_residual_currency(env, available[0]) > 0.0;
    if available
        .iter()
        .any(|l| (line_residual_currency(env, *l) > 0.0) != inbound)
    {
        return Err(OdooError::user(
            "You can't register payments for both inbound and outbound moves at the same time.",
        ));
    }
    let moves: Vec<i64> = {
        let mut m = Vec::new();
        for l in &available {
            let mv = line_move(env, *l);
            if !m.contains(&mv) {
                m.push(mv);
            }
        }
        m
    };
    let first = moves[0];
    let src_cur = move_currency(env, first);
    let due_cur: f64 = round2(
        available
            .iter()
            .map(|l| line_residual_currency(env, *l).abs())
            .sum(),
    );
    let due_company: f64 = round2(available.iter().map(|l| line_residual(env, *l).abs()).sum());
    let supplier = m2o(env, "account.move.line", available[0], "account_id")
        == Some(ACCOUNT_PAYABLE)
        || move_type(env, first).starts_with("in_");
    let ptype = if inbound { "inbound" } else { "outbound" };
    let today = env.today();
    vals.entry("payment_date").or_insert(json!(today));
    let date = vals
        .get("payment_date")
        .and_then(Value::as_str)
        .unwrap_or(&today)
        .to_owned();
    let journal_ok = vals.get("journal_id").and_then(Value::as_i64).filter(|j| {
        env.exists("account.journal", *j)
            && matches!(
                s(env, "account.journal", *j, "type").as_str(),
                "bank" | "cash"
            )
    });
    let journal = match journal_ok {
        Some(j) => j,
        None => {
            let found = env
                .search(
                    "account.journal",
                    &json!([["type", "in", ["bank", "cash"]]]),
                    0,
                    Some(1),
                    None,
                )?
                .first()
                .copied();
            match found {
                Some(j) => j,
                None => return Err(OdooError::user("No bank or cash journal found.")),
            }
        }
    };
    vals.insert("journal_id".into(), json!(journal));
    if !vals.contains_key("payment_method_line_id")
        && let Some(pm) = journal_method_lines(env, journal, ptype).first()
    {
        vals.insert("payment_method_line_id".into(), json!(pm));
    }
    vals.entry("currency_id").or_insert(json!(src_cur));
    let cur = vals
        .get("currency_id")
        .and_then(Value::as_i64)
        .unwrap_or(src_cur);
    vals.entry("amount")
        .or_insert(json!(convert(env, due_cur, src_cur, cur, &date)));
    let mut labels: Vec<String> = available
        .iter()
        .map(|l| {
            let name = s(env, "account.move.line", *l, "name");
            if !name.is_empty() {
                return name;
            }
            let mv = line_move(env, *l);
            let r = s(env, "account.move", mv, "ref");
            if r.is_empty() {
                s(env, "account.move", mv, "name")
            } else {
                r
            }
        })
        .collect();
    labels.sort();
    labels.dedup();
    vals.entry("communication")
        .or_insert(json!(labels.join(" ")));
    vals.insert("line_ids".into(), json!([[6, 0, available.clone()]]));
    vals.insert(
        "partner_id".into(),
        env.raw("account.move", first, "partner_id"),
    );
    vals.insert("payment_type".into(), json!(ptype));
    vals.insert(
        "partner_type".into(),
        json!(if supplier { "supplier" } else { "customer" }),
    );
    vals.insert("source_amount".into(), json!(due_company));
    vals.insert("source_amount_currency".into(), json!(due_cur));
    vals.insert("source_currency_id".into(), json!(src_cur));
    vals.insert("company_id".into(), json!(1));
    vals.insert("can_edit_wizard".into(), json!(true));
    vals.insert("can_group_payments".into(), json!(available.len() > 1));
    vals.entry("installments_mode").or_insert(json!("full"));
    vals.entry("custom_user_currency_id").or_insert(json!(cur));
    Ok(())
}

/// Keep the payment method in line with a changed journal.
pub fn register_before_write(env: &Env<'_>, ids: &[i64], vals: &mut Map<String, Value>) {
    if let Some(j) = vals.get("journal_id").and_then(Value::as_i64)
        && !vals.contains_key("payment_method_line_id")
        && let Some(w) = ids.first()
    {
        let ptype = s(env, "account.payment.register", *w, "payment_type");
        if let Some(pm) = journal_method_lines(env, j, &ptype).first() {
            vals.insert("payment_method_line_id".into(), json!(pm));
        }
    }
}

/// `account.payment.register.action_create_payments`: one payment for the wizard's journal
/// items, posted and reconciled with them.
pub fn create_payments(env: &mut Env<'_>, wizard: i64) -> OdooResult<Value> {
    let model = "account.payment.register";
    if !env.exists(model, wizard) {
        return Err(OdooError::missing(model, &[wizard], env.uid));
    }
    let v = env.version();
    let lines = ids_of(&env.raw(model, wizard, "line_ids"));
    let mut moves: Vec<i64> = Vec::new();
    for l in &lines {
        let mv = line_move(env, *l);
        if mv != 0 && !moves.contains(&mv) {
            moves.push(mv);
        }
    }
    for m in &moves {
        if s(env, "account.move", *m, "state") != "posted" {
            return Err(OdooError::user(
                "You can only register payment for posted journal entries.",
            ));
        }
    }
    let amount = env.raw_f64(model, wizard, "amount");
    if amount <= 0.0 {
        return Err(OdooError::user(
            "The amount of the payment must be positive.",
        ));
    }
    let journal = m2o(env, model, wizard, "journal_id").unwrap_or(6);
    let ptype = {
        let p = s(env, model, wizard, "payment_type");
        if p.is_empty() { "inbound".into() } else { p }
    };
    let inbound = ptype == "inbound";
    let partner_type = {
        let p = s(env, model, wizard, "partner_type");
        if p.is_empty() { "customer".into() } else { p }
    };
    let date = {
        let d = s(env, model, wizard, "payment_date");
        if d.is_empty() { env.today() } else { d }
    };
    let currency = m2o(env, model, wizard, "currency_id").unwrap_or_else(|| company_currency(env));
    let comm = env.raw(model, wizard, "communication");
    let memo = if truthy(&comm) {
        comm
    } else {
        json!(
            moves
                .iter()
                .map(|m| s(env, "account.move", *m, "name"))
                .collect::<Vec<_>>()
                .join(" ")
        )
    };
    let before = states_of(env, &moves);

    // The payment.
    let memo_field = if v >= Version::V18 { "memo" } else { "ref" };
    let mut vals = Map::new();
    vals.insert("amount".into(), json!(amount));
    vals.insert("payment_type".into(), json!(ptype));
    vals.insert("partner_type".into(), json!(partner_type));
    vals.insert("partner_id".into(), env.raw(model, wizard, "partner_id"));
    vals.insert("date".into(), json!(date));
    vals.insert("journal_id".into(), json!(journal));
    vals.insert("currency_id".into(), json!(currency));
    if let Some(pm) = m2o(env, model, wizard, "payment_method_line_id") {
        vals.insert("payment_method_line_id".into(), json!(pm));
    }
    vals.insert(memo_field.into(), memo.clone());
    if v >= Version::V18 {
        vals.insert("invoice_ids".into(), json!([[6, 0, moves.clone()]]));
    }
    let pay = env.create("account.payment", &vals)?;
    let code = s(env, "account.journal", journal, "code");
    let year = env.now.year();
    let prefix = if v >= Version::V17 {
        format!("P{code}/{year}/")
    } else {
        format!("{code}/{year}/")
    };
    let name = next_name(env, &["account.payment", "account.move"], &prefix);
    env.set("account.payment", pay, "name", json!(name));
    env.set(
        "account.payment",
        pay,
        "state",
        json!(if v >= Version::V18 {
            "in_process"
        } else {
            "posted"
        }),
    );

    // Its journal entry: liquidity on the outstanding account, counterpart on the receivable.
    let mut mvals = Map::new();
    mvals.insert("move_type".into(), json!("entry"));
    mvals.insert("journal_id".into(), json!(journal));
    mvals.insert("date".into(), json!(date));
    mvals.insert("partner_id".into(), env.raw(model, wizard, "partner_id"));
    mvals.insert("currency_id".into(), json!(currency));
    mvals.insert("ref".into(), memo);
    let pmove = env.create("account.move", &mvals)?;
    env.set("account.move", pmove, "name", json!(name));
    env.set("account.move", pmove, "state", json!("posted"));
    let link = if v >= Version::V18 {
        "origin_payment_id"
    } else {
        "payment_id"
    };
    env.set("account.move", pmove, link, json!(pay));
    env.set("account.payment", pay, "move_id", json!(pmove));

    // What the payment settles, in the invoices' currency.
    let inv_cur = moves
        .first()
        .map(|m| move_currency(env, *m))
        .unwrap_or(currency);
    let applied = convert(env, amount, currency, inv_cur, &date);
    let due: f64 = round2(
        lines
            .iter()
            .map(|l| line_residual_currency(env, *l).abs())
            .sum(),
    );
    let writeoff =
        if s(env, model, wizard, "payment_difference_handling") == "reconcile" && applied < due {
            round2(due - applied)
        } else {
            0.0
        };
    let sign = if inbound { 1.0 } else { -1.0 };
    let rate_pay = rate(env, currency, &date);
    let outstanding = outstanding_account(env, pay).as_i64();
    let receivable = if partner_type == "supplier" {
        ACCOUNT_PAYABLE
    } else {
        ACCOUNT_RECEIVABLE
    };
    let mut entry_lines: Vec<(Option<i64>, f64, String)> = vec![
        (
            outstanding,
            sign * amount,
            s(env, "account.payment", pay, memo_field),
        ),
        (
            Some(receivable),
            -sign * (amount + convert(env, writeoff, inv_cur, currency, &date)),
            s(env, "account.payment", pay, memo_field),
        ),
    ];
    if writeoff > 0.0 {
        let label = s(env, model, wizard, "writeoff_label");
        entry_lines.push((
            m2o(env, model, wizard, "writeoff_account_id"),
            sign * convert(env, writeoff, inv_cur, currency, &date),
            if label.is_empty() {
                "Write-Off".into()
            } else {
                label
            },
        ));
    }
    let mut counterpart_line = 0;
    for (i, (acc, amt, label)) in entry_lines.into_iter().enumerate() {
        let mut lvals = Map::new();
        lvals.insert("move_id".into(), json!(pmove));
        lvals.insert("display_type".into(), json!("product"));
        lvals.insert("quantity".into(), json!(0.0));
        if let Some(a) = acc {
            lvals.insert("account_id".into(), json!(a));
        }
        if !label.is_empty() {
            lvals.insert("name".into(), json!(label));
        }
        let l = env.create("account.move.line", &lvals)?;
        env.set(
            "account.move.line",
            l,
            "amount_currency",
            json!(round2(amt)),
        );
        env.set(
            "account.move.line",
            l,
            "balance",
            json!(round2(amt / rate_pay)),
        );
        if i == 1 {
            counterpart_line = l;
        }
    }
    // The counterpart's residual is in the payment currency; reconcile in the invoices'.
    if currency != inv_cur {
        let conv = convert(
            env,
            env.raw_f64("account.move.line", counterpart_line, "amount_currency"),
            currency,
            inv_cur,
            &date,
        );
        env.set(
            "account.move.line",
            counterpart_line,
            "amount_currency",
            json!(conv),
        );
    }
    let mut rec = lines.clone();
    rec.push(counterpart_line);
    reconcile(env, &rec)?;
    after_reconcile(env, &before)?;
    if env.ctx_flag("dont_redirect_to_payments") {
        return Ok(json!(true));
    }
    Ok(json!({
        "name": "Payments",
        "type": "ir.actions.act_window",
        "res_model": "account.payment",
        "context": {"create": false},
        "view_mode": "form",
        "res_id": pay,
    }))
}

// ---------------------------------------------------------------------------------------------
// account.move.reversal

/// `account.move.reversal.default_get`: the moves come from the context; all must be posted.
pub fn reversal_defaults(env: &mut Env<'_>, vals: &mut Map<String, Value>) -> OdooResult<()> {
    let moves = ctx_active_ids(env, "account.move").unwrap_or_default();
    for m in &moves {
        if !env.exists("account.move", *m) {
            return Err(OdooError::missing("account.move", &[*m], env.uid));
        }
    }
    if moves
        .iter()
        .any(|m| s(env, "account.move", *m, "state") != "posted")
    {
        return Err(OdooError::user("You can only reverse posted moves."));
    }
    if !vals.contains_key("move_ids") {
        vals.insert("move_ids".into(), json!([[6, 0, moves.clone()]]));
    }
    vals.entry("company_id").or_insert(json!(1));
    vals.entry("date").or_insert(json!(env.today()));
    if !vals.get("journal_id").is_some_and(truthy)
        && let Some(m) = moves.first()
        && let Some(j) = m2o(env, "account.move", *m, "journal_id")
    {
        vals.insert("journal_id".into(), json!(j));
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Reverse {
    /// A draft credit note (17+ `refund_moves`, 16 refund_method "refund").
    Refund,
    /// Credit note posted and reconciled (16 refund_method "cancel").
    Cancel,
    /// Cancel, then a new draft copy of the invoice (`modify_moves`, 16 "modify").
    Modify,
}

fn reversed_type(mt: &str) -> &'static str {
    match mt {
        "out_invoice" => "out_refund",
        "out_refund" => "out_invoice",
        "in_invoice" => "in_refund",
        "in_refund" => "in_invoice",
        "out_receipt" => "out_receipt",
        "in_receipt" => "in_receipt",
        _ => "entry",
    }
}

/// The line commands copying a move's invoice lines.
fn copied_lines(env: &Env<'_>, mv: i64, keep_sale_links: bool) -> Vec<Value> {
    invoice_lines(env, mv)
        .into_iter()
        .map(|l| {
            let m = "account.move.line";
            let mut vals = json!({
                "display_type": env.raw(m, l, "display_type"),
                "name": env.raw(m, l, "name"),
                "product_id": env.raw(m, l, "product_id"),
                "quantity": env.raw(m, l, "quantity"),
                "price_unit": env.raw(m, l, "price_unit"),
                "discount": env.raw(m, l, "discount"),
                "tax_ids": [[6, 0, ids_of(&env.raw(m, l, "tax_ids"))]],
                "product_uom_id": env.raw(m, l, "product_uom_id"),
                "account_id": env.raw(m, l, "account_id"),
            });
            if keep_sale_links {
                vals["sale_line_ids"] = json!([[6, 0, ids_of(&env.raw(m, l, "sale_line_ids"))]]);
            }
            json!([0, 0, vals])
        })
        .collect()
}

/// `refund_moves` / `modify_moves` / 16's `reverse_moves`.
pub fn reverse_moves(env: &mut Env<'_>, wizard: i64, mode: Reverse) -> OdooResult<Value> {
    let model = "account.move.reversal";
    if !env.exists(model, wizard) {
        return Err(OdooError::missing(model, &[wizard], env.uid));
    }
    let moves = ids_of(&env.raw(model, wizard, "move_ids"));
    let reason = s(env, model, wizard, "reason");
    let date = {
        let d = s(env, model, wizard, "date");
        if d.is_empty() { env.today() } else { d }
    };
    let journal = m2o(env, model, wizard, "journal_id");
    let mut reversals = Vec::new();
    for &m in &moves {
        if s(env, "account.move", m, "state") != "posted" {
            return Err(OdooError::user("You can only reverse posted moves."));
        }
        let mt = move_type(env, m);
        let name = s(env, "account.move", m, "name");
        let reference = if reason.is_empty() {
            format!("Reversal of: {name}")
        } else {
            format!("Reversal of: {name}, {reason}")
        };
        let mut vals = Map::new();
        vals.insert("move_type".into(), json!(reversed_type(&mt)));
        for k in [
            "partner_id",
            "partner_shipping_id",
            "currency_id",
            "invoice_origin",
            "invoice_user_id",
        ] {
            vals.insert(k.into(), env.raw("account.move", m, k));
        }
        vals.insert(
            "journal_id".into(),
            json!(journal.or(m2o(env, "account.move", m, "journal_id"))),
        );
        vals.insert("ref".into(), json!(reference));
        vals.insert("reversed_entry_id".into(), json!(m));
        vals.insert("date".into(), json!(date));
        vals.insert("invoice_date_due".into(), json!(date));
        if is_invoice(&mt) {
            vals.insert("invoice_date".into(), json!(date));
        }
        vals.insert(
            "invoice_line_ids".into(),
            Value::Array(copied_lines(env, m, true)),
        );
        vals.retain(|_, v| truthy(v) || v.is_array());
        let r = env.create("account.move", &vals)?;
        reversals.push(r);
    }
    if mode != Reverse::Refund {
        crate::business::move_post(env, &reversals)?;
    }
    let mut redirect = reversals.clone();
    if mode == Reverse::Modify {
        redirect.clear();
        for &m in &moves {
            let mut vals = Map::new();
            for k in [
                "move_type",
                "partner_id",
                "partner_shipping_id",
                "currency_id",
                "journal_id",
                "invoice_origin",
                "invoice_user_id",
                "ref",
            ] {
                vals.insert(k.into(), env.raw("account.move", m, k));
            }
            vals.insert(
                "invoice_line_ids".into(),
                Value::Array(copied_lines(env, m, false)),
            );
            vals.retain(|_, v| truthy(v) || v.is_array());
            redirect.push(env.create("account.move", &vals)?);
        }
    }
    env.set(model, wizard, "new_move_ids", json!(redirect));
    let types: Vec<String> = redirect.iter().map(|m| move_type(env, *m)).collect();
    if redirect.len() == 1 {
        return Ok(json!({
            "name": "Reverse Moves",
            "type": "ir.actions.act_window",
            "res_model": "account.move",
            "view_mode": "form",
            "res_id": redirect[0],
            "context": {"default_move_type": types[0]},
        }));
    }
    let mut action = json!({
        "name": "Reverse Moves",
        "type": "ir.actions.act_window",
        "res_model": "account.move",
        "view_mode": if env.version() == Version::V16 { "tree,form" } else { "list,form" },
        "domain": [["id", "in", redirect]],
    });
    if !types.is_empty() && types.iter().all(|t| *t == types[0]) {
        action["context"] = json!({"default_move_type": types[0]});
    }
    Ok(action)
}
