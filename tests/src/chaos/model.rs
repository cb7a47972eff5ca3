//! The expected Odoo state, computed from the event stream without any connector code.
//!
//! The model is last-writer-wins per Salla object: of all the facts the events carry about an object
//! (a customer event, the customer inside an order, an order event, the order inside a status
//! entry), the one with the highest version is the object's state in Odoo. The generator never
//! gives two facts of one object the same version with different data (checked here). From the
//! winning facts, what the connector is documented to write:
//!
//! - a customer → one top-level `res.partner` with `ref = salla:<merchant>:<id>`, the name
//!   (first + last), email, the mobile as `+966…` (`mobile` up to Odoo 18, `phone` on 19), city and
//!   Saudi Arabia; one `delivery` child per distinct shipping address its orders used;
//! - a product → one `product.product` with `default_code` = SKU, the name, the pre-tax price
//!   (prices include tax only for a store with a price-included `tax_id`; these stores have none),
//!   archived when hidden, in the category named by Salla;
//! - an order → one `sale.order` with `client_order_ref = salla:<merchant>:<id>`, the customer's
//!   partner, the delivery child of its address, one line per item (SKU, quantity, unit price
//!   without tax, discount as a percentage) plus shipping and cash-on-delivery lines, no taxes
//!   (Salla charged 0%), and the state of its status through the default status map: quotation
//!   (`payment_pending`, `under_review`) → draft; confirm (`in_progress`, `shipped`, `delivering`)
//!   → sale; complete (`delivered`, `completed`) → sale with its delivery done and one posted
//!   invoice; cancel (`canceled`) → cancel.

use std::collections::{BTreeMap, BTreeSet};

use super::generator::{Address, Customer, Fact, Order, Product, Stream};

/// What a Salla status slug means in Odoo (the documented default map, written out again here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Quotation,
    Confirm,
    Complete,
    Cancel,
    /// Salla's `restored` (refunded in full), mapped with `--status-map restored=refund`.
    Refund,
}

/// The model's status of a confirmed order whose delivery the warehouse validated in Odoo after
/// the stream: Salla must then say `delivered` (the fulfilment report), Odoo has the delivery done
/// and no invoice (the status echo changes nothing more).
pub const SHIPPED_IN_ODOO: &str = "shipped-in-odoo";

pub fn step(slug: &str) -> Option<Step> {
    Some(match slug {
        "payment_pending" | "under_review" => Step::Quotation,
        "in_progress" | "shipped" | "delivering" | SHIPPED_IN_ODOO => Step::Confirm,
        "delivered" | "completed" => Step::Complete,
        "canceled" => Step::Cancel,
        "restored" => Step::Refund,
        _ => return None,
    })
}

/// An expected order line: product code, quantity, unit price (cents), discount (percent).
pub type ExpectedLine = (String, u32, i64, u32);

/// The expected state of one store.
#[derive(Debug, Default, Clone)]
pub struct StoreModel {
    pub customers: BTreeMap<u64, (i64, Customer)>,
    pub products: BTreeMap<u64, (i64, Product)>,
    pub orders: BTreeMap<u64, (i64, Order)>,
}

impl StoreModel {
    /// The delivery addresses each customer's orders use.
    pub fn addresses(&self) -> BTreeMap<u64, Vec<Address>> {
        let mut out: BTreeMap<u64, Vec<Address>> = BTreeMap::new();
        for (_, o) in self.orders.values() {
            let list = out.entry(o.customer).or_default();
            if !list.contains(&o.address) {
                list.push(o.address.clone());
            }
        }
        out
    }
}

/// The expected state of every store, by merchant.
#[derive(Debug, Default, Clone)]
pub struct Model {
    pub stores: BTreeMap<u64, StoreModel>,
    /// Product codes any order snapshot of a store used (an order line may create a product that
    /// a later edit removes from every order), by merchant.
    pub seen_codes: BTreeMap<u64, BTreeSet<String>>,
}

fn keep_newest<T: PartialEq + Clone + std::fmt::Debug>(
    slot: &mut BTreeMap<u64, (i64, T)>,
    id: u64,
    version: i64,
    state: &T,
) {
    match slot.get(&id) {
        Some((v, s)) if *v == version => assert_eq!(
            s, state,
            "generator bug: two facts of object {id} at version {version} differ"
        ),
        Some((v, _)) if *v > version => {}
        _ => {
            slot.insert(id, (version, state.clone()));
        }
    }
}

impl Model {
    pub fn from_stream(stream: &Stream) -> Self {
        let mut m = Model::default();
        for e in &stream.events {
            let store = m.stores.entry(e.merchant).or_default();
            for f in &e.facts {
                match f {
                    Fact::Customer { version, state } => {
                        keep_newest(&mut store.customers, state.id, *version, state)
                    }
                    Fact::Product { version, state } => {
                        keep_newest(&mut store.products, state.id, *version, state)
                    }
                    Fact::Order { version, state } => {
                        keep_newest(&mut store.orders, state.id, *version, state);
                        m.seen_codes
                            .entry(e.merchant)
                            .or_default()
                            .extend(expected_lines(state).into_iter().map(|l| l.0));
                    }
                }
            }
        }
        m
    }
}

/// The lines an order should have in Odoo, sorted.
pub fn expected_lines(o: &Order) -> Vec<ExpectedLine> {
    let mut lines: Vec<ExpectedLine> = o
        .lines
        .iter()
        .map(|l| (l.sku.clone(), l.qty, l.price * 100, l.discount_pct))
        .collect();
    if o.shipping > 0 {
        lines.push(("SALLA-SHIPPING".into(), 1, o.shipping * 100, 0));
    }
    if o.cod > 0 {
        lines.push(("SALLA-COD".into(), 1, o.cod * 100, 0));
    }
    lines.sort();
    lines
}

/// The untaxed (= total: no taxes) amount of an order, in cents.
pub fn expected_amount(o: &Order) -> i64 {
    expected_lines(o)
        .iter()
        .map(|(_, qty, price, pct)| i64::from(*qty) * price * (100 - i64::from(*pct)) / 100)
        .sum()
}

/// The list price of a product, in cents: Salla's pre-tax price (a store's prices include tax
/// only with a price-included `tax_id`, which these stores do not set).
pub fn expected_list_price(p: &Product) -> i64 {
    p.price * 100
}

/// The product codes that should exist in one Odoo: the stores' SKUs, the shared SKUs some order
/// line still uses, and the charge products when some order has that charge.
pub fn expected_codes(model: &Model, merchants: &[u64]) -> BTreeSet<String> {
    let mut codes = BTreeSet::new();
    for m in merchants {
        let Some(s) = model.stores.get(m) else {
            continue;
        };
        // A product with options is its SKUs (its own SKU names no product once it is a
        // template: see the verifier for the layout kept from before).
        for (_, p) in s.products.values() {
            if p.variants.is_empty() {
                codes.insert(p.sku.clone());
            } else {
                codes.extend(p.variants.iter().map(|v| v.sku.clone()));
            }
        }
        for (_, o) in s.orders.values() {
            codes.extend(expected_lines(o).into_iter().map(|l| l.0));
        }
    }
    codes
}

#[cfg(test)]
mod tests {
    use super::super::generator::{Rng, Size, generate};
    use super::*;

    #[test]
    fn the_newest_fact_wins_whatever_the_delivery_order() {
        let s = generate(
            Size {
                stores: 2,
                stores_per_odoo: 2,
                customers: 3,
                products: 3,
                orders: 5,
                reorder_window: 20,
                partial_product_events: false,
                books: true,
                variants: true,
            },
            &mut Rng::new(3),
        );
        let m = Model::from_stream(&s);
        // The last event of each object carries its final state.
        for e in s.events.iter().rev() {
            for f in &e.facts {
                if let Fact::Order { version, state } = f {
                    let (v, o) = &m.stores[&e.merchant].orders[&state.id];
                    assert!(v >= version);
                    if v == version {
                        assert_eq!(o, state);
                    }
                }
            }
        }
        assert_eq!(m.stores.len(), 2);
    }

    #[test]
    fn amounts_follow_lines_discounts_and_charges() {
        let o = Order {
            id: 1,
            reference: 1,
            customer: 1,
            address: Address {
                receiver: String::new(),
                phone: String::new(),
                email: String::new(),
                city: String::new(),
                street: String::new(),
                block: String::new(),
                zip: String::new(),
            },
            lines: vec![super::super::generator::Line {
                item_id: 1,
                product_id: 1,
                sku: "A".into(),
                name: "A".into(),
                qty: 3,
                price: 45,
                discount_pct: 5,
                options: Vec::new(),
            }],
            shipping: 15,
            cod: 5,
            status: "under_review",
            placed: 0,
            currency: "SAR",
            payment_method: "cod",
            refunded: 0,
        };
        assert_eq!(expected_amount(&o), 12_825 + 1_500 + 500);
        assert_eq!(expected_lines(&o).len(), 3);
        assert_eq!(step("completed"), Some(Step::Complete));
        assert_eq!(step("restored"), Some(Step::Refund));
        assert_eq!(step("refunded"), None);
    }
}
