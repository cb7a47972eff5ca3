//! The event stream: what happens in 20 Salla stores (customers, products, orders and their status
//! changes), written as webhook bodies in the shapes of Salla's published examples, and the order in
//! which they are delivered (late, early, twice).
//!
//! # Timeline
//! Each store has its own clock. Every action (a customer created or changed, a product created or
//! changed, an order placed, edited or moved to a new status) advances it by 1–20 s and emits one
//! event at that second, so the events of one Salla object have strictly increasing versions (the
//! connector's watermark has one-second resolution; two events of one object in the same second
//! would be applied in arrival order, which no model can predict). An order event embeds the
//! customer as Salla does, at the customer's current revision (same `updated_at`, same data).
//! Order lines change only while the order is still a quotation (`under_review`,
//! `payment_pending`): the connector documents that a confirmed order's lines are not rewritten.
//!
//! # Delivery
//! The events of all stores are merged by time, then each gets a delivery position: most stay
//! within a few places of their turn, about 15% arrive much later, and one in five pairs of
//! successive events of one object swap places (so `order.updated` overtakes
//! `order.created`, a stale `customer.updated` lands after a newer one, …). About 10% are
//! delivered twice: half byte for byte (a Salla resend, which ingest deduplicates), half
//! re-serialised (same content, new bytes: a second job that must change nothing).
//!
//! Every random choice comes from one [`Rng`] seeded by the caller, so a seed reproduces a stream.

use serde_json::{Value, json};
use time::macros::{format_description, offset};
use time::{OffsetDateTime, UtcOffset};

/// SplitMix64: small, seedable, and the same sequence on every platform and compiler version.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// An independent stream (for a task that must not shift the others' sequences).
    pub fn fork(&mut self) -> Rng {
        Rng::new(self.next_u64())
    }
}

/// How much happens per store.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    pub stores: usize,
    /// Stores per Odoo (one sandbox per group).
    pub stores_per_odoo: usize,
    pub customers: usize,
    pub products: usize,
    pub orders: usize,
    /// How far (in delivery positions) a late event or a duplicate may travel.
    pub reorder_window: u64,
    /// Status changes of products also as Salla's partial `product.status.updated` (id, SKU and
    /// status only). Off by default: the connector loses data with them out of order (see
    /// `crates/sync/tests/partial_product_events.rs`).
    pub partial_product_events: bool,
    /// Books that close (issue #17): orders paid online or cash on delivery, refunded in full
    /// (`restored`) or in part (`amounts.refunded`), returned after completion (return
    /// shipments, [`Stream::returns`]), and products with options sold by variant SKU. Off, the
    /// stream is exactly what it was without them (`bench-odoo`'s mix).
    pub books: bool,
    /// With the books on, products with options (variants; `CHAOS_VARIANTS=0` leaves them out:
    /// the same stream otherwise, every random draw kept).
    pub variants: bool,
}

/// A delivery address of a customer (a `res.partner` delivery child in Odoo).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub receiver: String,
    /// Digits with the country code, as Salla sends `receiver.phone`.
    pub phone: String,
    pub email: String,
    pub city: String,
    pub street: String,
    pub block: String,
    pub zip: String,
}

/// A customer as Salla has it at one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub id: u64,
    pub first: String,
    pub last: String,
    pub email: String,
    /// Nine digits; Salla sends `mobile_code` "+966" beside it.
    pub mobile: u64,
    pub city: String,
    /// `updated_at` (Unix seconds): the version of this revision.
    pub updated: i64,
    pub addresses: Vec<Address>,
}

/// A product as Salla has it at one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub id: u64,
    pub sku: String,
    pub name: String,
    /// Pre-tax price in whole SAR (the taxed price is 15% more).
    pub price: i64,
    pub hidden: bool,
    pub category: String,
    pub updated: i64,
    /// Salla's options (name, values with their price extra in whole units), empty for a plain
    /// product.
    pub options: Vec<ProductOption>,
    /// One SKU per combination of the options' values (empty for a plain product).
    pub variants: Vec<Variant>,
}

/// A Salla product option (`options[]`): its values and what each adds to the price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductOption {
    pub id: u64,
    pub name: String,
    /// (value id, name, price extra in whole units).
    pub values: Vec<(u64, String, i64)>,
}

/// A Salla SKU of a product with options (`skus[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub id: u64,
    pub sku: String,
    /// The index of its value in each option.
    pub combination: Vec<usize>,
}

impl Product {
    /// A SKU's price: the product's plus the extras of its values (whole units).
    pub fn variant_price(&self, v: &Variant) -> i64 {
        self.price
            + self
                .options
                .iter()
                .zip(&v.combination)
                .map(|(o, i)| o.values[*i].2)
                .sum::<i64>()
    }

    /// A SKU's (option name, value name) pairs.
    pub fn variant_values(&self, v: &Variant) -> Vec<(String, String)> {
        self.options
            .iter()
            .zip(&v.combination)
            .map(|(o, i)| (o.name.clone(), o.values[*i].1.clone()))
            .collect()
    }
}

/// One order line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub item_id: u64,
    pub product_id: u64,
    pub sku: String,
    pub name: String,
    pub qty: u32,
    /// Unit price without tax, whole SAR.
    pub price: i64,
    /// Discount as a whole percentage of `price × qty`.
    pub discount_pct: u32,
    /// The options the customer chose (a variant SKU's values; empty for a plain product).
    pub options: Vec<(String, String)>,
}

/// An order as Salla has it at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: u64,
    pub reference: u64,
    pub customer: u64,
    pub address: Address,
    pub lines: Vec<Line>,
    /// Whole SAR; 0 = no charge line.
    pub shipping: i64,
    pub cod: i64,
    pub status: &'static str,
    pub placed: i64,
    /// The store's currency: SAR, or USD for every fourth store ([`store_currency`]).
    pub currency: &'static str,
    /// Salla's `payment_method`: `cod` for cash on delivery, else how it was paid online.
    pub payment_method: &'static str,
    /// What Salla refunded of a completed order in part (`amounts.refunded`), in cents; 0: none.
    /// A full refund is the status `restored` instead.
    pub refunded: i64,
}

/// What one event tells about one Salla object, at a version: the input of the model.
#[derive(Debug, Clone)]
pub enum Fact {
    Customer { version: i64, state: Customer },
    Product { version: i64, state: Product },
    Order { version: i64, state: Order },
}

/// One webhook as it happened in Salla.
#[derive(Debug, Clone)]
pub struct Event {
    /// Position in the merged true timeline.
    pub seq: usize,
    pub merchant: u64,
    pub name: &'static str,
    /// When it happened (Unix seconds): its version.
    pub at: i64,
    /// The object it is about, e.g. `order:500000017` (for the out-of-order statistics).
    pub object: String,
    pub body: Value,
    pub facts: Vec<Fact>,
}

/// One delivery to ingest.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub event: usize,
    /// The bytes posted (and signed).
    pub body: Vec<u8>,
    pub kind: DeliveryKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryKind {
    First,
    /// The same bytes again (ingest answers "duplicate").
    Resend,
    /// The same content re-serialised (a second job).
    Reserialised,
}

/// A Salla store in the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Store {
    pub index: usize,
    pub merchant: u64,
    /// Which Odoo (sandbox) it syncs to.
    pub odoo: usize,
    /// Its orders' currency ([`store_currency`]); a USD store is added with `--pricelists USD=ID`.
    pub currency: &'static str,
    /// Whether the store registers payments in Odoo (`--payment-journals`): with the books on,
    /// every store but one in five ([`store_pays`]); never without them.
    pub payments: bool,
}

/// Whether store `index` registers payments (with the books on): all but every fifth, which
/// leaves payments off (its invoices stay unpaid and a refund reverses an unpaid invoice).
pub fn store_pays(index: usize) -> bool {
    index % 5 != 4
}

/// A return shipment of a completed order (after the stream: see [`Stream::returns`]).
#[derive(Debug, Clone)]
pub struct Return {
    pub merchant: u64,
    pub order: u64,
    pub shipment: u64,
    /// (SKU, quantity) returned.
    pub items: Vec<(String, u32)>,
    /// The webhooks, in the order Salla sent them: `shipment.created` (status `created`) and
    /// `shipment.updated` (status `delivered`), some swapped, some twice.
    pub bodies: Vec<Vec<u8>>,
}

/// The currency of store `index`: every fourth store sells in USD (one per Odoo of five stores),
/// the others in SAR.
pub fn store_currency(index: usize) -> &'static str {
    if index % 4 == 3 { "USD" } else { "SAR" }
}

/// A SKU every store of one Odoo sells (only in order lines, never in product events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedSku {
    pub odoo: usize,
    pub sku: String,
    pub name: String,
    pub price: i64,
    pub product_id: u64,
}

/// The whole stream.
#[derive(Debug, Clone)]
pub struct Stream {
    pub stores: Vec<Store>,
    pub events: Vec<Event>,
    pub deliveries: Vec<Delivery>,
    /// One product each per Odoo, created by whichever order line comes first.
    pub shared_skus: Vec<SharedSku>,
    /// Return shipments of completed orders (with the books on). They come after the history
    /// (the customer sends the parcel back once the order is done) and are delivered after the
    /// run's reconciliation: the connector makes a return only from a done delivery, and skips
    /// for good a return shipment delivered before it has one.
    pub returns: Vec<Return>,
}

impl Stream {
    /// Events delivered after a newer event of the same object was delivered.
    pub fn late_deliveries(&self) -> usize {
        let mut newest: std::collections::HashMap<&str, i64> = std::collections::HashMap::new();
        let mut late = 0;
        for d in self
            .deliveries
            .iter()
            .filter(|d| d.kind == DeliveryKind::First)
        {
            let e = &self.events[d.event];
            let seen = newest.entry(e.object.as_str()).or_insert(i64::MIN);
            if *seen > e.at {
                late += 1;
            } else {
                *seen = e.at;
            }
        }
        late
    }
}

const FIRST: &[&str] = &[
    "Noura", "Fahad", "Sara", "Omar", "Lama", "Khalid", "Reem", "Yousef", "Hessa", "Majed",
];
const LAST: &[&str] = &[
    "Alharbi",
    "Alqahtani",
    "Alghamdi",
    "Alzahrani",
    "Aldosari",
    "العتيبي",
    "الشمري",
    "Almutairi",
];
const CITIES: &[&str] = &["الرياض", "جدة", "مكة", "الدمام", "Riyadh", "Abha"];
const PRODUCT_NAMES: &[&str] = &[
    "Sukkari dates box",
    "قهوة عربية",
    "Saffron 5g",
    "Oud incense",
    "Date syrup",
    "Cardamom 250g",
    "Majdool dates",
    "Honey jar",
];
const CATEGORIES: &[&str] = &["Dates", "Coffee", "Spices", "Gifts"];
const DISCOUNTS: &[u32] = &[0, 0, 0, 5, 10, 20, 25, 50];

/// Status paths an order may take after it is placed (the first slug is the one it is placed in).
const PATHS: &[&[&str]] = &[
    &["under_review", "in_progress", "completed"],
    &["under_review", "in_progress", "completed"],
    &["under_review", "in_progress", "shipped", "delivered"],
    &["under_review", "canceled"],
    &["under_review", "in_progress"],
    &["payment_pending", "under_review"],
    &["payment_pending"],
    &["under_review", "in_progress", "canceled"],
    &["under_review", "in_progress", "shipped"],
];

/// The pseudo-status of a path step that refunds part of a completed order (its status stays).
pub const PARTIAL_REFUND: &str = "partial-refund";

/// With the books on: [`PATHS`], a full refund (Salla's `restored`) of a completed and of a
/// delivered order, and a partial refund of each.
const BOOK_PATHS: &[&[&str]] = &[
    &["under_review", "in_progress", "completed"],
    &["under_review", "in_progress", "completed"],
    &["under_review", "in_progress", "shipped", "delivered"],
    &["under_review", "canceled"],
    &["under_review", "in_progress"],
    &["payment_pending", "under_review"],
    &["payment_pending"],
    &["under_review", "in_progress", "canceled"],
    &["under_review", "in_progress", "shipped"],
    &["under_review", "in_progress", "completed", "restored"],
    &[
        "under_review",
        "in_progress",
        "shipped",
        "delivered",
        PARTIAL_REFUND,
    ],
    &[
        "under_review",
        "in_progress",
        "shipped",
        "delivered",
        "restored",
    ],
    &["under_review", "in_progress", "completed", PARTIAL_REFUND],
];

/// How orders not paid cash on delivery are paid (Salla's `payment_method` slugs): mostly mada.
pub const ONLINE_METHODS: &[&str] = &[
    "mada",
    "mada",
    "mada",
    "credit_card",
    "credit_card",
    "apple_pay",
    "stc_pay",
    "bank",
];

fn status_name(slug: &str) -> &'static str {
    match slug {
        "payment_pending" => "بانتظار الدفع",
        "under_review" => "بإنتظار المراجعة",
        "in_progress" => "قيد التنفيذ",
        "shipped" => "تم الشحن",
        "delivered" => "تم التوصيل",
        "completed" => "تم التنفيذ",
        "canceled" => "ملغي",
        "restored" => "مسترجع",
        _ => "?",
    }
}

const RIYADH: UtcOffset = offset!(+3);

fn riyadh(t: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(t)
        .expect("a valid time")
        .to_offset(RIYADH)
}

/// `2026-11-02 10:00:00` (Riyadh time, as Salla writes dates without a zone).
pub fn plain_date(t: i64) -> String {
    riyadh(t)
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]"
        ))
        .expect("formats")
}

/// `Mon Nov 02 2026 10:00:00 GMT+0300`, the envelope's other format.
fn js_date(t: i64) -> String {
    let s = riyadh(t)
        .format(format_description!(
            "[weekday repr:short] [month repr:short] [day] [year] [hour]:[minute]:[second]"
        ))
        .expect("formats");
    format!("{s} GMT+0300")
}

/// A Salla date object: `{"date": "2026-11-02 10:00:00.000000", "timezone_type": 3, ...}`.
fn date_object(t: i64) -> Value {
    json!({"date": format!("{}.000000", plain_date(t)), "timezone_type": 3, "timezone": "Asia/Riyadh"})
}

fn money(sar_cents: i64) -> Value {
    // Whole and half amounts print exactly as JSON numbers.
    if sar_cents % 100 == 0 {
        json!(sar_cents / 100)
    } else {
        json!(sar_cents as f64 / 100.0)
    }
}

fn amount(sar_cents: i64) -> Value {
    amount_in(sar_cents, "SAR")
}

fn amount_in(cents: i64, currency: &str) -> Value {
    json!({"amount": money(cents), "currency": currency})
}

/// Salla's `amounts.total` of an order, in cents of its currency: the items less their
/// discounts, plus shipping and cash on delivery (no tax).
pub fn salla_total(o: &Order) -> i64 {
    let sub: i64 = o
        .lines
        .iter()
        .map(|l| l.price * 100 * i64::from(l.qty))
        .sum();
    let disc: i64 = o
        .lines
        .iter()
        .map(|l| l.price * 100 * i64::from(l.qty) * i64::from(l.discount_pct) / 100)
        .sum();
    sub - disc + (o.shipping + o.cod) * 100
}

/// The first second of the simulated day (2026-11-02 08:00:00 Riyadh).
pub const DAY_START: i64 = 1_793_595_600;

pub fn merchant_of(index: usize) -> u64 {
    1_700_000_101 + index as u64
}

pub fn customer_json(c: &Customer, with_updated_at: bool) -> Value {
    let mut v = json!({
        "id": c.id,
        "first_name": c.first,
        "last_name": c.last,
        "mobile": c.mobile,
        "mobile_code": "+966",
        "email": c.email,
        "urls": {"customer": "https://salla.sa/chaos-store/profile",
                 "admin": format!("https://s.salla.sa/customers/{}", c.id)},
        "avatar": "https://i.ibb.co/jyqRQfQ/avatar-male.webp",
        "gender": "female",
        "city": c.city,
        "country": "السعودية",
        "country_code": "SA",
        "currency": "SAR",
        "location": "",
    });
    if with_updated_at {
        v["updated_at"] = date_object(c.updated);
    }
    v
}

pub fn product_json(p: &Product) -> Value {
    let price = p.price * 100;
    let taxed = p.price * 115;
    let options: Vec<Value> = p
        .options
        .iter()
        .map(|o| {
            json!({"id": o.id, "name": o.name, "type": "radio", "required": true,
                   "values": o.values.iter().map(|(id, name, extra)| json!({
                       "id": id, "name": name, "price": amount(extra * 100),
                       "display_value": name, "is_default": false,
                   })).collect::<Vec<_>>()})
        })
        .collect();
    let skus: Vec<Value> = p
        .variants
        .iter()
        .map(|v| {
            let price = p.variant_price(v) * 100;
            json!({"id": v.id, "sku": v.sku, "price": amount(price), "regular_price": amount(price),
                   "sale_price": amount(0), "cost_price": amount(0), "barcode": "", "mpn": null,
                   "gtin": null, "stock_quantity": 10, "is_user_subscribed_to_sku": false,
                   "related_options": p.options.iter().map(|o| o.id).collect::<Vec<_>>(),
                   "related_option_values": p.options.iter().zip(&v.combination)
                       .map(|(o, i)| o.values[*i].0).collect::<Vec<_>>()})
        })
        .collect();
    json!({
        "id": p.id,
        "promotion": {"title": null, "sub_title": null},
        "sku": p.sku,
        "mpn": null,
        "gtin": null,
        "type": "product",
        "name": p.name,
        "short_link_code": "chaos",
        "price": amount(price),
        "taxed_price": amount(taxed),
        "pre_tax_price": amount(price),
        "tax": amount(taxed - price),
        "description": "",
        "quantity": 40,
        "status": if p.hidden { "hidden" } else { "sale" },
        "is_available": !p.hidden,
        "sale_price": amount(0),
        "require_shipping": true,
        "cost_price": null,
        "weight": 1,
        "with_tax": true,
        "regular_price": amount(price),
        "unlimited_quantity": false,
        "updated_at": plain_date(p.updated),
        "options": options,
        "skus": skus,
        "categories": [{"id": 900 + CATEGORIES.iter().position(|c| *c == p.category).unwrap_or(0), "name": p.category}],
        "brand": null,
        "tags": []
    })
}

pub fn order_json(o: &Order, c: &Customer, nested: bool) -> Value {
    let cur = o.currency;
    let amount = |cents: i64| amount_in(cents, cur);
    let items: Vec<Value> = o
        .lines
        .iter()
        .map(|l| {
            let gross = l.price * 100 * i64::from(l.qty);
            let disc = gross * i64::from(l.discount_pct) / 100;
            json!({
                "id": l.item_id,
                "name": l.name,
                "sku": l.sku,
                "quantity": l.qty,
                "currency": cur,
                "weight": 0.5,
                "amounts": {
                    "price_without_tax": amount(l.price * 100),
                    "total_discount": amount(disc),
                    "tax": {"percent": "0.00", "amount": amount(0)},
                    "total": amount(gross - disc)
                },
                "notes": "",
                "product": {"id": l.product_id, "type": "product", "status": "sale", "sku": l.sku, "name": l.name,
                            "price": amount(l.price * 100)},
                "options": l.options.iter().enumerate().map(|(k, (name, value))| json!({
                    "id": l.item_id * 10 + k as u64, "product_option_id": 0, "name": name,
                    "type": "radio", "value": {"id": 0, "name": value, "price": amount(0)},
                })).collect::<Vec<_>>(),
                "images": [],
            })
        })
        .collect();
    let sub: i64 = o
        .lines
        .iter()
        .map(|l| l.price * 100 * i64::from(l.qty))
        .sum();
    let a = &o.address;
    let mut amounts = json!({
        "sub_total": amount(sub),
        "shipping_cost": amount(o.shipping * 100),
        "cash_on_delivery": amount(o.cod * 100),
        "tax": {"percent": "0.00", "amount": amount(0)},
        "discounts": [],
        "total": amount(salla_total(o))
    });
    if o.refunded > 0 {
        amounts["refunded"] = amount(o.refunded);
    }
    json!({
        "id": o.id,
        "reference_id": o.reference,
        "urls": {"customer": format!("https://salla.sa/chaos-store/order/{}", o.id)},
        "date": date_object(o.placed),
        "source": "store",
        "source_device": "mobile",
        "status": {"id": 566_146_469, "name": status_name(o.status), "slug": o.status},
        "payment_method": o.payment_method,
        "currency": cur,
        "amounts": amounts,
        "shipping": {
            "id": o.id + 7,
            "app_id": null,
            "company": "سمسا",
            "logo": "",
            "receiver": {"name": a.receiver, "email": a.email, "phone": a.phone},
            "shipper": {"name": "Chaos store", "company_name": "chaos", "email": "shipper@chaos.example", "phone": "966500000000"},
            "address": {"country": "SA", "country_code": "SA", "city": a.city,
                        "shipping_address": format!("{}, {}, {}", a.street, a.block, a.city),
                        "street_number": a.street, "block": a.block, "postal_code": a.zip,
                        "geo_coordinates": {"lat": 0, "lng": 0}},
        },
        "can_cancel": true,
        // Salla's order.created customer carries updated_at; the order inside a status history entry
        // does not.
        "customer": customer_json(c, !nested),
        "items": items,
    })
}

/// The mutable Salla side of one store while its timeline is generated.
struct StoreSim {
    store: Store,
    clock: i64,
    customers: Vec<Customer>,
    products: Vec<Product>,
    /// Orders with the rest of their status path.
    orders: Vec<(Order, Vec<&'static str>, bool)>,
    next_customer: usize,
    next_product: usize,
    next_order: usize,
    customer_updates: usize,
    product_updates: usize,
    partial_product_events: bool,
    books: bool,
    variants: bool,
    events: Vec<Event>,
}

impl StoreSim {
    fn tick(&mut self, rng: &mut Rng) -> i64 {
        self.clock += rng.range(1, 20) as i64;
        self.clock
    }

    fn emit(&mut self, name: &'static str, at: i64, object: String, data: Value, facts: Vec<Fact>) {
        self.events.push(Event {
            seq: 0,
            merchant: self.store.merchant,
            name,
            at,
            object,
            body: json!({"event": name, "merchant": self.store.merchant, "created_at": "", "data": data}),
            facts,
        });
    }

    fn new_customer(&mut self, rng: &mut Rng) {
        let n = self.next_customer;
        self.next_customer += 1;
        let at = self.tick(rng);
        let id = 300_000_000 + self.store.index as u64 * 1000 + n as u64;
        let first = rng.pick(FIRST).to_string();
        let last = rng.pick(LAST).to_string();
        let email = format!("c{id}@chaos.example");
        let addresses = (0..rng.range(1, 2))
            .map(|k| Address {
                receiver: format!("{first} {last}"),
                phone: format!("9665{:08}", (id % 1_000_000) * 10 + k),
                email: email.clone(),
                city: rng.pick(CITIES).to_string(),
                street: format!("Street {}", rng.range(1, 90)),
                block: format!("Block {k}{}", rng.range(1, 9)),
                zip: format!("{}", 11_000 + rng.below(900)),
            })
            .collect();
        let c = Customer {
            id,
            first,
            last,
            email,
            mobile: 500_000_000 + (self.store.index as u64 * 1000 + n as u64) * 10,
            city: rng.pick(CITIES).to_string(),
            updated: at,
            addresses,
        };
        let data = customer_json(&c, true);
        self.emit(
            "customer.created",
            at,
            format!("customer:{}:{id}", self.store.merchant),
            data,
            vec![Fact::Customer {
                version: at,
                state: c.clone(),
            }],
        );
        self.customers.push(c);
    }

    fn update_customer(&mut self, rng: &mut Rng) {
        self.customer_updates += 1;
        let at = self.tick(rng);
        let i = rng.below(self.customers.len() as u64) as usize;
        let c = &mut self.customers[i];
        match rng.below(3) {
            0 => c.last = rng.pick(LAST).to_string(),
            1 => c.city = rng.pick(CITIES).to_string(),
            _ => c.mobile = c.mobile / 10 * 10 + (c.mobile % 10 + 1) % 10,
        }
        c.updated = at;
        let c = c.clone();
        self.emit(
            "customer.updated",
            at,
            format!("customer:{}:{}", self.store.merchant, c.id),
            customer_json(&c, true),
            vec![Fact::Customer {
                version: at,
                state: c,
            }],
        );
    }

    fn new_product(&mut self, rng: &mut Rng) {
        let n = self.next_product;
        self.next_product += 1;
        let at = self.tick(rng);
        let p = Product {
            id: 400_000_000 + self.store.index as u64 * 1000 + n as u64,
            sku: format!("CH{:02}-{n:03}", self.store.index),
            name: format!("{} #{n}", rng.pick(PRODUCT_NAMES)),
            price: rng.range(8, 240) as i64,
            hidden: false,
            category: rng.pick(CATEGORIES).to_string(),
            updated: at,
            options: Vec::new(),
            variants: Vec::new(),
        };
        let mut p = p;
        if self.books && rng.chance(0.35) && self.variants {
            self.add_options(&mut p, n, rng);
        }
        self.emit(
            "product.created",
            at,
            format!("product:{}:{}", self.store.merchant, p.id),
            product_json(&p),
            vec![Fact::Product {
                version: at,
                state: p.clone(),
            }],
        );
        self.products.push(p);
    }

    /// Options for product `n`: a size (two to four of S, M, L, XL, each a few units dearer), and
    /// for some a colour too; one SKU per combination (`<product SKU>-<values>`).
    fn add_options(&self, p: &mut Product, n: usize, rng: &mut Rng) {
        let base = self.store.index as u64 * 100_000 + n as u64 * 100;
        let sizes = [("S", 0), ("M", 5), ("L", 10), ("XL", 15)];
        let count = rng.range(2, 4) as usize;
        let mut options = vec![ProductOption {
            id: 600_000_000 + base,
            name: "Size".into(),
            values: sizes[..count]
                .iter()
                .enumerate()
                .map(|(k, (name, extra))| (700_000_000 + base + k as u64, name.to_string(), *extra))
                .collect(),
        }];
        if rng.chance(0.4) {
            options.push(ProductOption {
                id: 600_000_001 + base,
                name: "Colour".into(),
                values: vec![
                    (700_000_010 + base, "Red".into(), 0),
                    (700_000_011 + base, "Blue".into(), 3),
                ],
            });
        }
        let mut combos: Vec<Vec<usize>> = vec![Vec::new()];
        for o in &options {
            combos = combos
                .into_iter()
                .flat_map(|c| {
                    (0..o.values.len()).map(move |i| {
                        let mut c = c.clone();
                        c.push(i);
                        c
                    })
                })
                .collect();
        }
        p.variants = combos
            .into_iter()
            .enumerate()
            .map(|(j, combination)| {
                let suffix: Vec<String> = options
                    .iter()
                    .zip(&combination)
                    .map(|(o, i)| o.values[*i].1.to_uppercase())
                    .collect();
                Variant {
                    id: 800_000_000 + base + j as u64,
                    sku: format!("{}-{}", p.sku, suffix.join("-")),
                    combination,
                }
            })
            .collect();
        p.options = options;
    }

    fn update_product(&mut self, rng: &mut Rng) {
        self.product_updates += 1;
        let at = self.tick(rng);
        let i = rng.below(self.products.len() as u64) as usize;
        let p = &mut self.products[i];
        let change = rng.below(4);
        match change {
            0 => p.price = rng.range(8, 240) as i64,
            1 => p.name = format!("{} (new)", p.name.trim_end_matches(" (new)")),
            2 => p.hidden = !p.hidden,
            _ => p.category = rng.pick(CATEGORIES).to_string(),
        }
        p.updated = at;
        let p = p.clone();
        let (name, data) = if change == 2 && self.partial_product_events && rng.chance(0.5) {
            // Salla's product.status.updated: the status and nothing else (no name, no date).
            let status = if p.hidden { "hidden" } else { "sale" };
            let data =
                json!({"id": p.id, "sku": p.sku, "mpn": null, "gtin": null, "status": status});
            ("product.status.updated", data)
        } else {
            ("product.updated", product_json(&p))
        };
        self.emit(
            name,
            at,
            format!("product:{}:{}", self.store.merchant, p.id),
            data,
            vec![Fact::Product {
                version: at,
                state: p,
            }],
        );
    }

    fn random_line(&self, rng: &mut Rng, order: u64, k: u64, shared: &[SharedSku]) -> Line {
        let mut options = Vec::new();
        let (product_id, sku, name, price) = if !shared.is_empty() && rng.chance(0.15) {
            let s = rng.pick(shared).clone();
            (s.product_id, s.sku, s.name, s.price)
        } else {
            let p = rng.pick(&self.products);
            if p.variants.is_empty() {
                (p.id, p.sku.clone(), p.name.clone(), p.price)
            } else {
                // A product with options is sold by one of its SKUs, at that SKU's price.
                let v = rng.pick(&p.variants);
                options = p.variant_values(v);
                (p.id, v.sku.clone(), p.name.clone(), p.variant_price(v))
            }
        };
        Line {
            item_id: order * 100 + k,
            product_id,
            sku,
            name,
            qty: rng.range(1, 4) as u32,
            price,
            discount_pct: *rng.pick(DISCOUNTS),
            options,
        }
    }

    fn new_order(&mut self, rng: &mut Rng, shared: &[SharedSku]) {
        let n = self.next_order;
        self.next_order += 1;
        let at = self.tick(rng);
        let id = 500_000_000 + self.store.index as u64 * 10_000 + n as u64;
        let ci = rng.below(self.customers.len() as u64) as usize;
        let customer = self.customers[ci].clone();
        let mut lines: Vec<Line> = Vec::new();
        for k in 0..rng.range(1, 3) {
            let l = self.random_line(rng, id, k, shared);
            if lines.iter().all(|x| x.sku != l.sku) {
                lines.push(l);
            }
        }
        let path = *rng.pick(if self.books { BOOK_PATHS } else { PATHS });
        let shipping = *rng.pick(&[0, 15, 15, 25]);
        let cod = if rng.chance(0.3) { 5 } else { 0 };
        let payment_method = match (cod > 0, self.books) {
            (true, _) => "cod",
            (false, false) => "bank",
            (false, true) => *rng.pick(ONLINE_METHODS),
        };
        let o = Order {
            id,
            reference: 40_000 + self.store.index as u64 * 1000 + n as u64,
            customer: customer.id,
            address: rng.pick(&customer.addresses).clone(),
            lines,
            shipping,
            cod,
            status: path[0],
            placed: at,
            currency: self.store.currency,
            payment_method,
            refunded: 0,
        };
        self.order_event("order.created", at, &o, &customer);
        self.orders.push((o, path[1..].to_vec(), false));
    }

    fn order_event(&mut self, name: &'static str, at: i64, o: &Order, c: &Customer) {
        let nested = name == "order.status.updated";
        let order = order_json(o, c, nested);
        let data = if nested {
            json!({
                "id": 198_000_000 + at as u64 % 1_000_000,
                "status": status_name(o.status),
                "customized": null,
                "note": "",
                "created_at": date_object(at),
                "order": order,
            })
        } else {
            order
        };
        let mut facts = vec![Fact::Order {
            version: at,
            state: o.clone(),
        }];
        // The customer inside: at its own updated_at, or (nested, without one) at this event's time.
        facts.push(Fact::Customer {
            version: if nested { at } else { c.updated },
            state: c.clone(),
        });
        self.emit(
            name,
            at,
            format!("order:{}:{}", self.store.merchant, o.id),
            data,
            facts,
        );
    }

    /// Moves an open order on: an edit while it is a quotation, else its next status.
    fn advance_order(&mut self, rng: &mut Rng, shared: &[SharedSku]) -> bool {
        let open: Vec<usize> = (0..self.orders.len())
            .filter(|i| !self.orders[*i].1.is_empty() || self.can_edit(*i))
            .collect();
        if open.is_empty() {
            return false;
        }
        let i = *rng.pick(&open);
        let at = self.tick(rng);
        let customer_id = self.orders[i].0.customer;
        let customer = self
            .customers
            .iter()
            .find(|c| c.id == customer_id)
            .expect("the order's customer")
            .clone();
        if self.can_edit(i) && (self.orders[i].1.is_empty() || rng.chance(0.5)) {
            // Edit the lines: change a quantity, add a line or drop one.
            let id = self.orders[i].0.id;
            let k = 10 + self.orders[i].0.lines.len() as u64;
            let extra = self.random_line(rng, id, k, shared);
            let o = &mut self.orders[i];
            match rng.below(3) {
                0 if o.0.lines.len() > 1 => {
                    o.0.lines.pop();
                }
                1 if o.0.lines.iter().all(|l| l.sku != extra.sku) => o.0.lines.push(extra),
                _ => o.0.lines[0].qty = o.0.lines[0].qty % 4 + 1,
            }
            o.2 = true;
            let o = o.0.clone();
            self.order_event("order.updated", at, &o, &customer);
        } else {
            let next = self.orders[i].1.remove(0);
            if next == PARTIAL_REFUND {
                // Salla refunds part of it (an item, or half); the status stays.
                let o = &mut self.orders[i].0;
                let total = salla_total(o);
                let first = &o.lines[0];
                let item = first.price
                    * 100
                    * i64::from(first.qty)
                    * (100 - i64::from(first.discount_pct))
                    / 100;
                o.refunded = if item > 0 && item < total {
                    item
                } else {
                    total / 200 * 100
                };
                let o = o.clone();
                self.order_event("order.refunded", at, &o, &customer);
                return true;
            }
            self.orders[i].0.status = next;
            let o = self.orders[i].0.clone();
            let name = if next == "canceled" && rng.chance(0.5) {
                "order.cancelled"
            } else if next == "restored" && rng.chance(0.5) {
                "order.refunded"
            } else {
                "order.status.updated"
            };
            self.order_event(name, at, &o, &customer);
        }
        true
    }

    /// After the history: a third of the completed orders not refunded in full come back, some
    /// items or all of them (a return shipment `created`, then `delivered` to the store).
    fn returns(&mut self, rng: &mut Rng, out: &mut Vec<Return>) {
        let done: Vec<Order> = self
            .orders
            .iter()
            .map(|o| o.0.clone())
            .filter(|o| matches!(o.status, "completed" | "delivered"))
            .collect();
        for o in done {
            if !rng.chance(0.35) {
                continue;
            }
            let items: Vec<(String, u32)> = if o.lines.len() > 1 && rng.chance(0.3) {
                o.lines.iter().map(|l| (l.sku.clone(), l.qty)).collect()
            } else {
                let l = rng.pick(&o.lines);
                vec![(l.sku.clone(), rng.range(1, u64::from(l.qty)) as u32)]
            };
            let shipment = 900_000_000 + (o.id - 500_000_000);
            let created = self.tick(rng);
            let delivered = self.tick(rng);
            let body = |event: &str, status: &str, at: i64| -> Vec<u8> {
                let packages: Vec<Value> = items
                    .iter()
                    .map(|(sku, qty)| {
                        let l = o.lines.iter().find(|l| l.sku == *sku).expect("a line");
                        json!({"item_id": l.item_id, "external_id": null, "name": l.name,
                               "sku": sku, "price": amount_in(l.price * 100, o.currency),
                               "quantity": qty, "weight": {"value": 0.5, "unit": "kg"}})
                    })
                    .collect();
                let v = json!({"event": event, "merchant": self.store.merchant,
                    "created_at": plain_date(at),
                    "data": {"id": shipment, "order_id": o.id, "order_reference_id": o.reference,
                        "created_at": date_object(created), "type": "return",
                        "courier_id": 1_927_161_457, "courier_name": "Shipping App",
                        "shipping_number": format!("RET-{shipment}"),
                        "tracking_number": format!("T{shipment}"), "trackable": true,
                        "payment_method": "pre_paid", "source": "api", "status": status,
                        "total": amount_in(0, o.currency), "is_international": false,
                        "packages": packages}});
                serde_json::to_vec(&v).expect("serialises")
            };
            let first = body("shipment.created", "created", created);
            let last = body("shipment.updated", "delivered", delivered);
            let mut bodies = vec![first, last.clone()];
            if rng.chance(0.2) {
                bodies.swap(0, 1);
            }
            if rng.chance(0.1) {
                bodies.push(last);
            }
            out.push(Return {
                merchant: self.store.merchant,
                order: o.id,
                shipment,
                items,
                bodies,
            });
        }
    }

    /// Only quotations are edited, and each at most once.
    fn can_edit(&self, i: usize) -> bool {
        let (o, _, edited) = &self.orders[i];
        !edited && matches!(o.status, "under_review" | "payment_pending")
    }
}

/// Generate the stream for `size` from `rng`.
pub fn generate(size: Size, rng: &mut Rng) -> Stream {
    let groups = size.stores.div_ceil(size.stores_per_odoo);
    let shared_by_group: Vec<Vec<SharedSku>> = (0..groups)
        .map(|g| {
            (0..2)
                .map(|k| SharedSku {
                    odoo: g,
                    sku: format!("SHARED-{g}-{k}"),
                    name: format!("Shared gift box {g}-{k}"),
                    price: 30 + 10 * k as i64,
                    product_id: 410_000_000 + g as u64 * 10 + k,
                })
                .collect()
        })
        .collect();
    let mut all = Vec::new();
    let mut stores = Vec::new();
    let mut returns = Vec::new();
    for index in 0..size.stores {
        let store = Store {
            index,
            merchant: merchant_of(index),
            odoo: index / size.stores_per_odoo,
            currency: store_currency(index),
            payments: size.books && store_pays(index),
        };
        stores.push(store);
        let shared = &shared_by_group[store.odoo];
        let mut sim = StoreSim {
            store,
            clock: DAY_START + index as i64 * 7,
            customers: Vec::new(),
            products: Vec::new(),
            orders: Vec::new(),
            next_customer: 0,
            next_product: 0,
            next_order: 0,
            customer_updates: 0,
            product_updates: 0,
            partial_product_events: size.partial_product_events,
            books: size.books,
            variants: size.variants,
            events: Vec::new(),
        };
        let max_customer_updates = size.customers;
        let max_product_updates = size.products;
        loop {
            let mut choices: Vec<u8> = Vec::new();
            if sim.next_customer < size.customers {
                choices.extend([0, 0]);
            }
            if sim.next_product < size.products {
                choices.extend([1, 1]);
            }
            if !sim.customers.is_empty() && sim.customer_updates < max_customer_updates {
                choices.push(2);
            }
            if !sim.products.is_empty() && sim.product_updates < max_product_updates {
                choices.push(3);
            }
            if !sim.customers.is_empty() && !sim.products.is_empty() {
                if sim.next_order < size.orders {
                    choices.extend([4, 4, 4]);
                }
                if sim
                    .orders
                    .iter()
                    .enumerate()
                    .any(|(i, o)| !o.1.is_empty() || sim.can_edit(i))
                {
                    choices.extend([5, 5, 5, 5]);
                }
            }
            if choices.is_empty() {
                break;
            }
            match *rng.pick(&choices) {
                0 => sim.new_customer(rng),
                1 => sim.new_product(rng),
                2 => sim.update_customer(rng),
                3 => sim.update_product(rng),
                4 => sim.new_order(rng, shared),
                _ => {
                    sim.advance_order(rng, shared);
                }
            }
        }
        if size.books {
            sim.returns(rng, &mut returns);
        }
        all.extend(sim.events);
    }
    all.sort_by_key(|e| (e.at, e.merchant));
    for (seq, e) in all.iter_mut().enumerate() {
        e.seq = seq;
        // Both of Salla's envelope formats.
        e.body["created_at"] = json!(if rng.chance(0.5) {
            js_date(e.at)
        } else {
            plain_date(e.at)
        });
    }

    // Delivery order: most events near their turn, some much later; some twice.
    let window = size.reorder_window as f64;
    let mut keys: Vec<f64> = all
        .iter()
        .map(|e| {
            e.seq as f64
                + if rng.chance(0.15) {
                    5.0 + rng.unit() * window
                } else {
                    rng.unit() * 2.0
                }
        })
        .collect();
    // And, for one in five pairs of successive events of one object, the newer first (an
    // order.updated before its order.created, a customer.updated after a newer one, …).
    let mut last_of: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for e in &all {
        if let Some(prev) = last_of.insert(e.object.as_str(), e.seq)
            && keys[prev] < keys[e.seq]
            && rng.chance(0.2)
        {
            keys.swap(prev, e.seq);
        }
    }
    let mut keyed: Vec<(f64, Delivery)> = Vec::new();
    for e in &all {
        let body = serde_json::to_vec(&e.body).expect("serialises");
        let key = keys[e.seq];
        if rng.chance(0.10) {
            let (kind, dup) = if rng.chance(0.5) {
                (DeliveryKind::Resend, body.clone())
            } else {
                (
                    DeliveryKind::Reserialised,
                    serde_json::to_vec_pretty(&e.body).expect("serialises"),
                )
            };
            keyed.push((
                key + 1.0 + rng.unit() * window,
                Delivery {
                    event: e.seq,
                    body: dup,
                    kind,
                },
            ));
        }
        keyed.push((
            key,
            Delivery {
                event: e.seq,
                body,
                kind: DeliveryKind::First,
            },
        ));
    }
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
    Stream {
        stores,
        events: all,
        deliveries: keyed.into_iter().map(|(_, d)| d).collect(),
        shared_skus: shared_by_group.into_iter().flatten().collect(),
        returns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size() -> Size {
        Size {
            stores: 4,
            stores_per_odoo: 2,
            customers: 3,
            products: 3,
            orders: 4,
            reorder_window: 30,
            partial_product_events: false,
            books: true,
            variants: true,
        }
    }

    #[test]
    fn a_seed_reproduces_the_stream() {
        let a = generate(size(), &mut Rng::new(7));
        let b = generate(size(), &mut Rng::new(7));
        let bodies = |s: &Stream| {
            s.deliveries
                .iter()
                .map(|d| d.body.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(bodies(&a), bodies(&b));
        assert_ne!(bodies(&a), bodies(&generate(size(), &mut Rng::new(8))));
    }

    #[test]
    fn versions_of_one_object_are_distinct() {
        let s = generate(size(), &mut Rng::new(11));
        let mut seen = std::collections::HashSet::new();
        for e in &s.events {
            assert!(
                seen.insert((e.object.clone(), e.at)),
                "{} twice at {}",
                e.object,
                e.at
            );
        }
    }

    #[test]
    fn dates_print_in_both_salla_formats() {
        assert_eq!(plain_date(DAY_START), "2026-11-02 08:00:00");
        assert_eq!(js_date(DAY_START), "Mon Nov 02 2026 08:00:00 GMT+0300");
    }
}
