//! The books of a run (issue #17), checked in every Odoo against the model: payments, credit
//! notes and refund payments of every order, return pickings of the return shipments, and
//! products with options as one template with a variant per SKU.
//!
//! What each order's books must be (by its final Salla state and its store's settings; a store
//! that registers payments has `--payment-journals` for the online methods and `cod` and a
//! `--payment-journal` fallback, one in five stores has none):
//!
//! - **completed / delivered**: one posted customer invoice; with payments, exactly one payment
//!   whose memo is the order's marker `salla:<merchant>:<order>`, in the bank journal (online) or
//!   the cash journal (cash on delivery), for the invoice's total, and the invoice `paid` or
//!   `in_payment`; without, no payment and the invoice `not_paid`. Refunded in part
//!   (`amounts.refunded`): one posted credit note reversing the invoice for that amount, and
//!   with payments its refund payment (memo `<marker> refund <credit note>`, outbound, the same
//!   amount), the credit note `paid`/`in_payment`; without, the invoice's residual is its total
//!   less the credit note.
//! - **restored** (refunded in full): invoiced, posted credit notes for the whole invoice, and
//!   with payments the payment and refund payments of the whole amount (invoice and credit notes
//!   paid), without the invoice `reversed`; never invoiced (the refund reached the connector
//!   before the completion, or the completion never did), the sale order cancelled with no
//!   payment — or, a delivery done without an invoice, left as it is (the sync log says so).
//!   Which of the two depends on the order the events arrived in, so either is right.
//! - **any other status**: no payment and no credit note.
//!
//! Return shipments ([`super::generator::Return`]): exactly one return picking per shipment, its
//! origin ending `(salla:<merchant>:shipment:<id>)`, done, incoming, with the shipment's SKUs and
//! quantities. No other return picking.
//!
//! Products with options: every SKU is one `product.product` (`default_code`); either all of them
//! are the variants (with attribute values) of one `product.template` named as the product, at
//! the product's price, each variant at its SKU's price — the `--variants templates` layout — or
//! each is a product of its own: the layout the connector keeps for a product Odoo already had as
//! separate products, which is what an order line delivered before the product's own event makes
//! with `--create-unknown-skus` (documented). Both are counted; anything else is a mismatch.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use super::generator::{Order, Product, Return};
use super::model::{self, Step};
use super::verify::{Mismatch, OdooView, cents, id_of, ids, text};

/// One Odoo's journals and which of its stores register payments.
#[derive(Debug, Clone)]
pub struct Books<'a> {
    /// The bank journal (online methods) and the cash journal (cash on delivery).
    pub bank: i64,
    pub cash: i64,
    /// Merchants whose store registers payments.
    pub paying: &'a BTreeSet<u64>,
    pub returns: &'a [Return],
}

/// What the checks found, for the summary.
#[derive(Debug, Default, Clone, Copy)]
pub struct BookCounts {
    /// Order payments found as expected.
    pub payments: usize,
    pub refund_payments: usize,
    /// Posted credit notes of refunded orders.
    pub credit_notes: usize,
    /// Orders refunded in full before Odoo had invoiced them: cancelled.
    pub refund_cancels: usize,
    /// Return pickings found as expected.
    pub returns: usize,
    /// Products with options kept as one template / as separate products.
    pub templates: usize,
    pub separate: usize,
}

impl BookCounts {
    pub fn add(&mut self, o: &BookCounts) {
        self.payments += o.payments;
        self.refund_payments += o.refund_payments;
        self.credit_notes += o.credit_notes;
        self.refund_cancels += o.refund_cancels;
        self.returns += o.returns;
        self.templates += o.templates;
        self.separate += o.separate;
    }
}

/// The accounting records of one Odoo, indexed.
pub struct Ledger<'v> {
    moves: HashMap<i64, &'v Value>,
    /// Posted or draft credit notes by the invoice they reverse.
    notes_of: HashMap<i64, Vec<&'v Value>>,
    payments_by_memo: HashMap<String, Vec<&'v Value>>,
    /// Credit notes' own rounding lines ([`REFUND_ROUNDING_LABEL`]) by credit note.
    rounding_of: HashMap<i64, Vec<&'v Value>>,
}

/// The connector's rounding product (`default_code`).
pub const ROUNDING_CODE: &str = "SALLA-ROUNDING";
/// The label of the rounding line the connector adds to a credit note whose lines Odoo's per-line
/// tax rounding cannot bring to Salla's refunded amount (a rounding line the invoice had is
/// copied by the reversal under its own label, and is one of its lines like any other).
pub const REFUND_ROUNDING_LABEL: &str = "Rounding to Salla's refund";
/// The stores' rounding limit (`--rounding-max`, left at its default), in cents.
const ROUNDING_MAX: i64 = 100;

impl<'v> Ledger<'v> {
    pub fn new(view: &'v OdooView) -> Self {
        let mut notes_of: HashMap<i64, Vec<&Value>> = HashMap::new();
        for m in &view.moves {
            if text(&m["move_type"]) == "out_refund"
                && let Some(inv) = id_of(&m["reversed_entry_id"])
            {
                notes_of.entry(inv).or_default().push(m);
            }
        }
        let mut payments_by_memo: HashMap<String, Vec<&Value>> = HashMap::new();
        for p in &view.payments {
            let memo = text(&p["memo"]);
            if !memo.is_empty() {
                payments_by_memo.entry(memo.to_owned()).or_default().push(p);
            }
        }
        let refunds: std::collections::HashSet<i64> = view
            .moves
            .iter()
            .filter(|m| text(&m["move_type"]) == "out_refund")
            .filter_map(|m| id_of(&m["id"]))
            .collect();
        let mut rounding_of: HashMap<i64, Vec<&Value>> = HashMap::new();
        for l in &view.move_lines {
            if text(&l["name"]) == REFUND_ROUNDING_LABEL
                && let Some(m) = id_of(&l["move_id"]).filter(|m| refunds.contains(m))
            {
                rounding_of.entry(m).or_default().push(l);
            }
        }
        Ledger {
            rounding_of,
            moves: view
                .moves
                .iter()
                .filter_map(|m| id_of(&m["id"]).map(|id| (id, m)))
                .collect(),
            notes_of,
            payments_by_memo,
        }
    }

    /// Whether a credit note's rounding line is of this product.
    pub fn rounds_a_credit_note(&self, product: i64) -> bool {
        self.rounding_of
            .values()
            .flatten()
            .any(|l| id_of(&l["product_id"]) == Some(product))
    }

    /// Payments with this memo, and with a memo that starts with `<memo> refund `.
    fn payments(&self, memo: &str) -> (Vec<&'v Value>, Vec<&'v Value>) {
        let own = self.payments_by_memo.get(memo).cloned().unwrap_or_default();
        let prefix = format!("{memo} refund ");
        let refunds = self
            .payments_by_memo
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .flat_map(|(_, v)| v.iter().copied())
            .collect();
        (own, refunds)
    }
}

fn money(c: i64) -> String {
    format!("{:.2}", c as f64 / 100.0)
}

fn paid(state: &str) -> bool {
    matches!(state, "paid" | "in_payment")
}

/// The books of one order (see the module docs); `rec` is its sale order, `pickings_done` whether
/// it has a done delivery. Problems go to `bad`, duplicated payments to `duplicates`.
#[allow(clippy::too_many_arguments)]
pub fn check_order(
    bad: &mut Vec<String>,
    duplicates: &mut Vec<String>,
    counts: &mut BookCounts,
    ledger: &Ledger<'_>,
    books: &Books<'_>,
    merchant: u64,
    rec: &Value,
    o: &Order,
    pickings_done: bool,
) {
    let marker = format!("salla:{merchant}:{}", o.id);
    let pays = books.paying.contains(&merchant);
    let linked: Vec<&Value> = ids(&rec["invoice_ids"])
        .iter()
        .filter_map(|m| ledger.moves.get(m).copied())
        .collect();
    let invoices: Vec<&Value> = linked
        .iter()
        .copied()
        .filter(|m| text(&m["move_type"]) == "out_invoice" && text(&m["state"]) == "posted")
        .collect();
    let notes: Vec<&Value> = invoices
        .iter()
        .filter_map(|i| id_of(&i["id"]))
        .flat_map(|i| ledger.notes_of.get(&i).cloned().unwrap_or_default())
        .collect();
    let posted_notes: Vec<&Value> = notes
        .iter()
        .copied()
        .filter(|n| text(&n["state"]) == "posted")
        .collect();
    if let Some(d) = notes.iter().find(|n| text(&n["state"]) == "draft") {
        bad.push(format!(
            "credit note {} left in draft (ref {:?})",
            d["id"], d["ref"]
        ));
    }
    // A credit note's own rounding line: at most one, untaxed, within the rounding limit (the
    // credit note's total is checked against Salla's amount below).
    for n in &notes {
        let lines = id_of(&n["id"])
            .and_then(|id| ledger.rounding_of.get(&id))
            .cloned()
            .unwrap_or_default();
        let amount: i64 = lines
            .iter()
            .map(|l| {
                (l["price_unit"].as_f64().unwrap_or_default()
                    * l["quantity"].as_f64().unwrap_or_default()
                    * 100.0)
                    .round() as i64
            })
            .sum();
        let taxed = lines
            .iter()
            .any(|l| l["tax_ids"].as_array().is_some_and(|t| !t.is_empty()));
        if lines.len() > 1 || taxed || amount.abs() > ROUNDING_MAX {
            bad.push(format!(
                "credit note {}: {} rounding line(s) of {}{}, expected at most one, untaxed, \
                 within {}",
                n["id"],
                lines.len(),
                money(amount),
                if taxed { " (taxed)" } else { "" },
                money(ROUNDING_MAX)
            ));
        }
    }
    let (payments, refund_payments) = ledger.payments(&marker);
    for _ in 1..payments.len() {
        duplicates.push(format!(
            "{} payments with memo {marker:?} ({})",
            payments.len(),
            payments
                .iter()
                .map(|p| p["id"].to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let step = model::step(o.status).unwrap_or(Step::Quotation);
    let invoiced = invoices.first().copied();
    let payments_expected =
        pays && invoiced.is_some() && matches!(step, Step::Complete | Step::Refund);
    let journal = if o.payment_method == "cod" {
        books.cash
    } else {
        books.bank
    };
    // The order's payment.
    if payments_expected {
        let inv = invoiced.expect("checked");
        match payments.as_slice() {
            [p] => {
                let mut wrong = Vec::new();
                if id_of(&p["journal_id"]) != Some(journal) {
                    wrong.push(format!(
                        "journal {}, expected {journal} ({})",
                        p["journal_id"], o.payment_method
                    ));
                }
                if cents(&p["amount"]) != cents(&inv["amount_total"]) {
                    wrong.push(format!(
                        "amount {}, expected the invoice's {}",
                        p["amount"], inv["amount_total"]
                    ));
                }
                if text(&p["payment_type"]) != "inbound" {
                    wrong.push(format!("type {}", p["payment_type"]));
                }
                if wrong.is_empty() {
                    counts.payments += 1;
                } else {
                    bad.push(format!("payment {}: {}", p["id"], wrong.join(", ")));
                }
            }
            [] => bad.push(format!(
                "no payment with memo {marker:?} ({} order, invoice {} {})",
                o.payment_method, inv["id"], inv["payment_state"]
            )),
            _ => {} // duplicates, above
        }
        if !paid(text(&inv["payment_state"])) {
            bad.push(format!(
                "invoice {} is {}, expected paid or in_payment",
                inv["id"], inv["payment_state"]
            ));
        }
    } else if !payments.is_empty() {
        bad.push(format!(
            "{} payment(s) with memo {marker:?}, expected none ({}{})",
            payments.len(),
            o.status,
            if pays {
                ""
            } else {
                ", store without payment journals"
            }
        ));
    }

    // Credit notes and refund payments.
    let refund_target = match (step, o.refunded) {
        (Step::Refund, _) => invoiced.map(|i| cents(&i["amount_total"])),
        (Step::Complete, r) if r > 0 => Some(r),
        _ => None,
    };
    match (refund_target, invoiced) {
        (Some(target), Some(inv)) => {
            let credited: i64 = posted_notes.iter().map(|n| cents(&n["amount_total"])).sum();
            if posted_notes.is_empty() || credited != target {
                bad.push(format!(
                    "credit notes {} of invoice {}, expected {} ({})",
                    money(credited),
                    inv["id"],
                    money(target),
                    if step == Step::Refund {
                        "refunded in full".to_owned()
                    } else {
                        format!("Salla refunded {}", money(o.refunded))
                    }
                ));
            } else {
                counts.credit_notes += posted_notes.len();
            }
            if pays {
                let refunded: i64 = refund_payments.iter().map(|p| cents(&p["amount"])).sum();
                let outbound = refund_payments
                    .iter()
                    .all(|p| text(&p["payment_type"]) == "outbound");
                if refunded != target || !outbound {
                    bad.push(format!(
                        "refund payments {} ({}), expected {} outbound",
                        money(refunded),
                        refund_payments.len(),
                        money(target)
                    ));
                } else {
                    counts.refund_payments += refund_payments.len();
                }
                for n in &posted_notes {
                    if !paid(text(&n["payment_state"])) {
                        bad.push(format!(
                            "credit note {} is {}, expected paid (its refund payment)",
                            n["id"], n["payment_state"]
                        ));
                    }
                }
            } else {
                if !refund_payments.is_empty() {
                    bad.push(format!(
                        "{} refund payment(s), expected none (store without payment journals)",
                        refund_payments.len()
                    ));
                }
                let residual = cents(&inv["amount_residual"]);
                let want = cents(&inv["amount_total"]) - target;
                if residual != want {
                    bad.push(format!(
                        "invoice {} residual {}, expected {} (its total less the credit notes)",
                        inv["id"],
                        money(residual),
                        money(want)
                    ));
                }
                if step == Step::Refund && text(&inv["payment_state"]) != "reversed" {
                    bad.push(format!(
                        "invoice {} is {}, expected reversed",
                        inv["id"], inv["payment_state"]
                    ));
                }
            }
        }
        (Some(_), None) if step == Step::Refund => {
            // Refunded before Odoo had invoiced it: cancelled (or kept for a done delivery).
            let state = text(&rec["state"]);
            if state == "cancel" {
                counts.refund_cancels += 1;
            } else if !(state == "sale" && pickings_done) {
                bad.push(format!(
                    "refunded in full and never invoiced: state {state:?}, expected cancel"
                ));
            }
            if !refund_payments.is_empty() || !notes.is_empty() {
                bad.push("refund payments or credit notes without an invoice".into());
            }
        }
        _ => {
            if !posted_notes.is_empty() || !refund_payments.is_empty() {
                bad.push(format!(
                    "{} credit note(s) and {} refund payment(s), expected none (not refunded)",
                    posted_notes.len(),
                    refund_payments.len()
                ));
            }
            if !pays
                && let Some(inv) = invoiced
                && text(&inv["payment_state"]) != "not_paid"
            {
                bad.push(format!(
                    "invoice {} is {}, expected not_paid (no payment journals)",
                    inv["id"], inv["payment_state"]
                ));
            }
        }
    }
}

/// The return pickings of one Odoo's stores.
pub fn check_returns(
    out: &mut Vec<Mismatch>,
    counts: &mut BookCounts,
    view: &OdooView,
    books: &Books<'_>,
    tag: &str,
    merchants: &[u64],
) {
    let code_of: HashMap<i64, &str> = view
        .products
        .iter()
        .filter_map(|p| Some((id_of(&p["id"])?, text(&p["default_code"]))))
        .collect();
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    for r in books
        .returns
        .iter()
        .filter(|r| merchants.contains(&r.merchant))
    {
        let mark = format!("(salla:{}:shipment:{})", r.merchant, r.shipment);
        wanted.insert(mark.clone());
        let object = format!("order:{}:{}", r.merchant, r.order);
        let found: Vec<&Value> = view
            .pickings
            .iter()
            .filter(|p| text(&p["origin"]).ends_with(&mark))
            .collect();
        let [p] = found.as_slice() else {
            out.push(Mismatch {
                object,
                text: format!(
                    "{tag}: return shipment {} of order {} (merchant {}): {} return pickings, expected one",
                    r.shipment,
                    r.order,
                    r.merchant,
                    found.len()
                ),
            });
            continue;
        };
        let pid = id_of(&p["id"]);
        let mut got: BTreeMap<String, i64> = BTreeMap::new();
        for m in view
            .stock_moves
            .iter()
            .filter(|m| id_of(&m["picking_id"]) == pid)
        {
            let code = id_of(&m["product_id"])
                .and_then(|id| code_of.get(&id))
                .copied()
                .unwrap_or("?");
            *got.entry(code.to_owned()).or_default() +=
                m["product_uom_qty"].as_f64().unwrap_or_default().round() as i64;
        }
        let want: BTreeMap<String, i64> = r
            .items
            .iter()
            .map(|(sku, q)| (sku.clone(), i64::from(*q)))
            .collect();
        if text(&p["state"]) != "done" || text(&p["picking_type_code"]) != "incoming" || got != want
        {
            out.push(Mismatch {
                object,
                text: format!(
                    "{tag}: return picking {} of shipment {} (order {}, merchant {}): {} {} {got:?}, \
                     expected done incoming {want:?}",
                    p["id"],
                    r.shipment,
                    r.order,
                    r.merchant,
                    p["state"],
                    p["picking_type_code"]
                ),
            });
        } else {
            counts.returns += 1;
        }
    }
    let prefixes: Vec<String> = merchants
        .iter()
        .map(|m| format!("(salla:{m}:shipment:"))
        .collect();
    for p in &view.pickings {
        let origin = text(&p["origin"]);
        if prefixes.iter().any(|x| origin.contains(x.as_str()))
            && !wanted.iter().any(|w| origin.ends_with(w.as_str()))
        {
            out.push(Mismatch {
                object: "odoo".into(),
                text: format!("{tag}: unexpected return picking {} ({origin:?})", p["id"]),
            });
        }
    }
}

/// Which layout a product with options has in Odoo; `None` with the mismatch said.
pub fn check_variants(
    out: &mut Vec<Mismatch>,
    counts: &mut BookCounts,
    view: &OdooView,
    tag: &str,
    merchant: u64,
    p: &Product,
) {
    let object = format!("product:{merchant}:{}", p.id);
    let mut records = Vec::new();
    for v in &p.variants {
        match view
            .products
            .iter()
            .find(|r| text(&r["default_code"]) == v.sku)
        {
            Some(r) => records.push((v, r)),
            None => return, // reported with the codes
        }
    }
    let with_values = records
        .iter()
        .filter(|(_, r)| !ids(&r["product_template_attribute_value_ids"]).is_empty())
        .count();
    let templates: BTreeSet<i64> = records
        .iter()
        .filter_map(|(_, r)| id_of(&r["product_tmpl_id"]))
        .collect();
    if with_values == 0 && templates.len() == records.len() {
        counts.separate += 1;
        return;
    }
    let mut bad = Vec::new();
    if with_values != records.len() || templates.len() != 1 {
        bad.push(format!(
            "its {} SKUs are on {} template(s), {with_values} of them variants with values",
            records.len(),
            templates.len()
        ));
    } else {
        let t = templates.first().copied();
        match view.templates.iter().find(|x| id_of(&x["id"]) == t) {
            Some(t) => {
                if text(&t["name"]) != p.name {
                    bad.push(format!(
                        "template name {:?}, expected {:?}",
                        t["name"], p.name
                    ));
                }
                if cents(&t["list_price"]) != p.price * 100 {
                    bad.push(format!(
                        "template price {}, expected {}",
                        t["list_price"], p.price
                    ));
                }
                if t["active"].as_bool() != Some(!p.hidden) {
                    bad.push(format!(
                        "template active {}, expected {}",
                        t["active"], !p.hidden
                    ));
                }
            }
            None => bad.push(format!("template {t:?} not found")),
        }
        for (v, r) in &records {
            if cents(&r["lst_price"]) != p.variant_price(v) * 100 {
                bad.push(format!(
                    "variant {} price {}, expected {}",
                    v.sku,
                    r["lst_price"],
                    p.variant_price(v)
                ));
            }
            if r["active"].as_bool() != Some(!p.hidden) {
                bad.push(format!("variant {} active {}", v.sku, r["active"]));
            }
        }
        if view
            .products
            .iter()
            .any(|r| text(&r["default_code"]) == p.sku)
        {
            bad.push(format!(
                "a product {:?} of its own beside the template",
                p.sku
            ));
        }
    }
    if bad.is_empty() {
        counts.templates += 1;
    } else {
        out.push(Mismatch {
            object,
            text: format!(
                "{tag}: product {} with options ({} SKUs): {}",
                p.sku,
                p.variants.len(),
                bad.join("; ")
            ),
        });
    }
}
