//! Lenient models of Salla webhook payloads.
//!
//! Only the fields the connector uses are typed; everything else is ignored (Salla adds fields at any
//! time, so no `deny_unknown_fields`). Where Salla is inconsistent, see [`crate::lenient`].

use rust_decimal::Decimal;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use std::borrow::Cow;
use time::{
    OffsetDateTime, PrimitiveDateTime, UtcOffset, format_description::FormatItem,
    macros::format_description,
};

use crate::lenient::{self, Money, SallaDate};

/// Why a verified body could not be read as a Salla webhook. Permanent for that body.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The body is not JSON at all (syntax error, truncated, not UTF-8).
    #[error("malformed JSON: {0}")]
    MalformedJson(serde_json::Error),
    /// JSON, but not the envelope `{event, merchant, created_at, data}`.
    #[error("invalid webhook envelope: {0}")]
    InvalidEnvelope(String),
    /// The envelope is fine but `data` does not have the shape of its event.
    #[error("invalid {event} payload: {message}")]
    InvalidPayload { event: String, message: String },
}

impl ParseError {
    pub fn as_str(&self) -> &'static str {
        match self {
            ParseError::MalformedJson(_) => "malformed_json",
            ParseError::InvalidEnvelope(_) => "invalid_envelope",
            ParseError::InvalidPayload { .. } => "invalid_payload",
        }
    }
}

/// The envelope every Salla webhook shares. There is no event id: duplicates are recognised by digest.
#[derive(Debug, Clone, Deserialize)]
pub struct Envelope {
    pub event: String,
    #[serde(deserialize_with = "lenient::id")]
    pub merchant: u64,
    /// Verbatim: `"Sun Jun 26 2022 12:21:48 GMT+0300"` or `"2022-12-31 12:31:25"`.
    pub created_at: String,
    pub data: Value,
}

const JS_DATE: &[FormatItem<'static>] = format_description!(
    "[weekday repr:short] [month repr:short] [day] [year] [hour]:[minute]:[second] GMT[offset_hour sign:mandatory][offset_minute]"
);
const PLAIN_DATE: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");

impl Envelope {
    /// Parse a body. Nesting deeper than serde_json's limit (127 levels) is `MalformedJson`, found
    /// without recursing further, so no body can exhaust the stack.
    pub fn from_slice(body: &[u8]) -> Result<Self, ParseError> {
        if !is_object_text(body) {
            return Err(
                match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
                    Ok(_) => ParseError::InvalidEnvelope("the body is not a JSON object".into()),
                    Err(e) => ParseError::MalformedJson(e),
                },
            );
        }
        let env: Envelope = serde_json::from_slice(body).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => ParseError::InvalidEnvelope(e.to_string()),
            _ => ParseError::MalformedJson(e),
        })?;
        if env.event.trim().is_empty() {
            return Err(ParseError::InvalidEnvelope("`event` is empty".into()));
        }
        if !env.data.is_object() {
            return Err(ParseError::InvalidEnvelope(
                "`data` is not an object".into(),
            ));
        }
        Ok(env)
    }

    /// `created_at` as an instant, for display only (one-second resolution; never an ordering key).
    /// The zone-less format is taken as Asia/Riyadh (UTC+3), which Salla's examples suggest.
    pub fn created_at_instant(&self) -> Option<OffsetDateTime> {
        let s = self.created_at.trim();
        OffsetDateTime::parse(s, JS_DATE).ok().or_else(|| {
            let riyadh = UtcOffset::from_hms(3, 0, 0).ok()?;
            Some(
                PrimitiveDateTime::parse(s, PLAIN_DATE)
                    .ok()?
                    .assume_offset(riyadh),
            )
        })
    }

    /// The typed payload for this event.
    pub fn payload(&self) -> Result<Payload, ParseError> {
        fn typed<T: for<'de> Deserialize<'de>>(env: &Envelope) -> Result<T, ParseError> {
            T::deserialize(&env.data).map_err(|e| ParseError::InvalidPayload {
                event: env.event.clone(),
                message: e.to_string(),
            })
        }
        let e = self.event.as_str();
        Ok(match e {
            "order.status.updated" => Payload::OrderStatus(Box::new(typed(self)?)),
            _ if e.starts_with("order.shipment.") => Payload::OrderShipment(typed(self)?),
            _ if e.starts_with("order.") => Payload::Order(Box::new(typed(self)?)),
            _ if e.starts_with("product.") => Payload::Product(Box::new(typed(self)?)),
            _ if e.starts_with("customer.") => Payload::Customer(Box::new(typed(self)?)),
            _ if e.starts_with("shipment.") => Payload::Shipment(Box::new(typed(self)?)),
            "invoice.created" => Payload::Invoice(Box::new(typed(self)?)),
            "app.store.authorize" => Payload::StoreAuthorize(typed(self)?),
            _ if e.starts_with("app.") => Payload::App(Box::new(typed(self)?)),
            _ => Payload::Other(self.data.clone()),
        })
    }
}

/// The envelope as ingest needs it to queue a webhook: `event`, `merchant` and `created_at` read,
/// `data` kept as the exact JSON text Salla sent. It accepts exactly the bodies
/// [`Envelope::from_slice`] accepts, with the same errors, but builds no tree of `data`: ingest
/// passes the text on to the queue untouched (see `SyncJob<D>` in the core crate).
#[derive(Debug, Deserialize)]
pub struct RawEnvelope<'a> {
    #[serde(borrow)]
    pub event: Cow<'a, str>,
    #[serde(deserialize_with = "lenient::id")]
    pub merchant: u64,
    /// Verbatim, as in [`Envelope::created_at`].
    #[serde(borrow)]
    pub created_at: Cow<'a, str>,
    #[serde(borrow)]
    pub data: &'a RawValue,
}

/// Whether a body's first non-blank byte opens an object. Only an object is an envelope: serde's
/// derive would also read a JSON array positionally (`["order.created", 1, "…", {…}]`), which no
/// Salla delivery is.
fn is_object_text(body: &[u8]) -> bool {
    body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// The body read again for what the first pass skipped: that every string, number and nesting
/// depth in `data` is one [`Envelope::from_slice`] would read. `data` sits at the same depth
/// as in [`Envelope`], so serde_json's nesting limit falls at the same place.
#[derive(Deserialize)]
struct CheckedData {
    #[serde(rename = "data")]
    _data: AnyJson,
}

/// Any JSON value, read in full (escapes decoded, numbers parsed) and kept nowhere.
struct AnyJson;

impl<'de> Deserialize<'de> for AnyJson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(AnyJson)
    }
}

impl<'de> serde::de::Visitor<'de> for AnyJson {
    type Value = AnyJson;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<AnyJson, E> {
        Ok(AnyJson)
    }
    fn visit_i64<E>(self, _: i64) -> Result<AnyJson, E> {
        Ok(AnyJson)
    }
    fn visit_u64<E>(self, _: u64) -> Result<AnyJson, E> {
        Ok(AnyJson)
    }
    fn visit_f64<E>(self, _: f64) -> Result<AnyJson, E> {
        Ok(AnyJson)
    }
    fn visit_str<E>(self, _: &str) -> Result<AnyJson, E> {
        Ok(AnyJson)
    }
    fn visit_unit<E>(self) -> Result<AnyJson, E> {
        Ok(AnyJson)
    }
    fn visit_none<E>(self) -> Result<AnyJson, E> {
        Ok(AnyJson)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<AnyJson, D::Error> {
        AnyJson::deserialize(d)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<AnyJson, A::Error> {
        while seq.next_element::<AnyJson>()?.is_some() {}
        Ok(AnyJson)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<AnyJson, A::Error> {
        while map.next_entry::<AnyJson, AnyJson>()?.is_some() {}
        Ok(AnyJson)
    }
}

impl<'a> RawEnvelope<'a> {
    /// Parse a body: accepts what [`Envelope::from_slice`] accepts, and otherwise fails with its error.
    pub fn from_slice(body: &'a [u8]) -> Result<Self, ParseError> {
        Self::read(body).ok_or_else(|| match Envelope::from_slice(body) {
            Err(e) => e,
            // Not reached: `read` refuses only what `Envelope` refuses (tests hold them to it).
            Ok(_) => ParseError::InvalidEnvelope("the body could not be read".into()),
        })
    }

    /// Two passes, neither of which allocates for a body without escapes: the envelope with `data`
    /// as text, then `data` read in full and dropped. Any failure is left for [`Envelope`] to
    /// explain.
    fn read(body: &'a [u8]) -> Option<Self> {
        if !is_object_text(body) {
            return None;
        }
        let env: RawEnvelope<'a> = serde_json::from_slice(body).ok()?;
        if env.event.trim().is_empty() || !env.data.get().starts_with('{') {
            return None;
        }
        serde_json::from_slice::<CheckedData>(body).ok()?;
        Some(env)
    }

    /// The value at a JSON pointer into `data` (`/order/id`: object members only), as
    /// [`Value::pointer`] finds it in the parsed tree; a member named twice is its last value.
    pub fn data_at(&self, pointer: &str) -> Option<Value> {
        let mut here = self.data;
        for name in pointer.strip_prefix('/')?.split('/') {
            here = member(here, name)?;
        }
        serde_json::from_str(here.get()).ok()
    }
}

/// The value of member `name` of a JSON object's text, or `None` when it has none or is not an object.
fn member<'a>(object: &'a RawValue, name: &str) -> Option<&'a RawValue> {
    use serde::de::{DeserializeSeed, MapAccess, Visitor};
    /// A member name, compared with the one sought without copying it.
    struct NameIs<'n>(&'n str);
    impl<'de> DeserializeSeed<'de> for NameIs<'_> {
        type Value = bool;
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
            d.deserialize_str(self)
        }
    }
    impl Visitor<'_> for NameIs<'_> {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a member name")
        }
        fn visit_str<E>(self, name: &str) -> Result<bool, E> {
            Ok(name == self.0)
        }
    }
    struct Member<'n>(&'n str);
    impl<'de> Visitor<'de> for Member<'_> {
        type Value = Option<&'de RawValue>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut found = None;
            while let Some(wanted) = map.next_key_seed(NameIs(self.0))? {
                if wanted {
                    found = Some(map.next_value::<&'de RawValue>()?);
                } else {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
            Ok(found)
        }
    }
    if !object.get().starts_with('{') {
        return None;
    }
    let mut de = serde_json::Deserializer::from_str(object.get());
    serde::Deserializer::deserialize_map(&mut de, Member(name)).ok()?
}

/// The typed `data` of a webhook, by event family.
#[derive(Debug, Clone)]
pub enum Payload {
    Order(Box<Order>),
    OrderStatus(Box<OrderStatusUpdate>),
    OrderShipment(OrderShipmentRef),
    Product(Box<Product>),
    Customer(Box<Customer>),
    Shipment(Box<Shipment>),
    Invoice(Box<Invoice>),
    StoreAuthorize(StoreAuthorize),
    App(Box<AppEvent>),
    Other(Value),
}

/// A customer (`customer.created` / `updated` / `login`, and `order.customer`). In an order the
/// customer may carry only `name` (no first and last name) and `mobile` as `"+96652318526"`.
#[derive(Debug, Clone, Deserialize)]
pub struct Customer {
    #[serde(deserialize_with = "lenient::id")]
    pub id: u64,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub first_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub last_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub mobile: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub mobile_code: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_name")]
    pub city: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_name")]
    pub country: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub country_code: Option<String>,
    #[serde(default)]
    pub updated_at: Option<SallaDate>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OrderStatus {
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub id: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub name: Option<String>,
    /// Map by slug: custom sub-statuses inherit their parent's slug.
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub slug: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Tax {
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    pub percent: Option<Decimal>,
    #[serde(default, deserialize_with = "lenient::opt_money")]
    pub amount: Option<Money>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Discount {
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub code: Option<String>,
    /// `"5.00"`, a number, or money.
    #[serde(default, deserialize_with = "lenient::opt_amount")]
    pub discount: Option<Decimal>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OrderAmounts {
    #[serde(default, deserialize_with = "lenient::opt_money")]
    pub sub_total: Option<Money>,
    #[serde(default, deserialize_with = "lenient::opt_money")]
    pub shipping_cost: Option<Money>,
    #[serde(default, deserialize_with = "lenient::opt_money")]
    pub cash_on_delivery: Option<Money>,
    #[serde(default, deserialize_with = "lenient::opt_object")]
    pub tax: Option<Tax>,
    #[serde(default, deserialize_with = "lenient::list")]
    pub discounts: Vec<Discount>,
    #[serde(default, deserialize_with = "lenient::opt_money")]
    pub total: Option<Money>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ItemAmounts {
    #[serde(default, deserialize_with = "lenient::opt_money")]
    pub price_without_tax: Option<Money>,
    #[serde(default, deserialize_with = "lenient::opt_money")]
    pub total_discount: Option<Money>,
    #[serde(default, deserialize_with = "lenient::opt_object")]
    pub tax: Option<Tax>,
    #[serde(default, deserialize_with = "lenient::opt_money")]
    pub total: Option<Money>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ItemProduct {
    #[serde(deserialize_with = "lenient::id")]
    pub id: u64,
}

/// An order line. `sku` may be `""` or `null`: the product is then `product.id`, or `product_id`
/// (the order inside `order.status.updated` and `order.shipment.*` has only that).
#[derive(Debug, Clone, Deserialize)]
pub struct OrderItem {
    #[serde(deserialize_with = "lenient::id")]
    pub id: u64,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub sku: Option<String>,
    #[serde(deserialize_with = "lenient::decimal")]
    pub quantity: Decimal,
    #[serde(default, deserialize_with = "lenient::opt_object")]
    pub amounts: Option<ItemAmounts>,
    #[serde(default, deserialize_with = "lenient::opt_object")]
    pub product: Option<ItemProduct>,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub product_id: Option<u64>,
    /// The options the customer chose (`[{id, product_option_id, name, value}]`, `value` an
    /// object or a list of them). Read leniently: an entry without a name or a value is left out.
    #[serde(default, deserialize_with = "item_options")]
    pub options: Vec<ItemOption>,
}

/// One option chosen on an order line: the option's name and the chosen value's id and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemOption {
    pub name: String,
    pub value_id: Option<u64>,
    pub value: String,
}

fn text_of(v: Option<&Value>) -> Option<String> {
    let s = match v? {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!s.is_empty()).then_some(s)
}

fn items_of(v: Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a,
        Value::Object(m) if !m.is_empty() && m.values().all(Value::is_object) => {
            m.into_iter().map(|(_, v)| v).collect()
        }
        v @ Value::Object(_) => vec![v],
        _ => Vec::new(),
    }
}

fn item_options<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<ItemOption>, D::Error> {
    let mut out = Vec::new();
    for o in items_of(Value::deserialize(d)?) {
        let Some(name) = text_of(o.get("name")) else {
            continue;
        };
        for v in o.get("value").cloned().map(items_of).unwrap_or_default() {
            if let Some(value) = text_of(v.get("name")) {
                out.push(ItemOption {
                    name: name.clone(),
                    value_id: v.get("id").and_then(|i| lenient::id(i).ok()),
                    value,
                });
            }
        }
    }
    Ok(out)
}

impl OrderItem {
    /// The Salla product of the line: `product.id`, else `product_id`.
    pub fn product_id(&self) -> Option<u64> {
        self.product.as_ref().map(|p| p.id).or(self.product_id)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Address {
    #[serde(default, deserialize_with = "lenient::opt_name")]
    pub country: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub country_code: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_name")]
    pub city: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub shipping_address: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub street_number: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub block: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub postal_code: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Receiver {
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Shipping {
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub id: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_name")]
    pub company: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_object")]
    pub receiver: Option<Receiver>,
    #[serde(default, deserialize_with = "lenient::opt_object")]
    pub address: Option<Address>,
}

/// The order model shared by `order.created` and most order events. `shipping` may be `null`
/// (pickup, digital goods); `shipments`, `options[].value` and the other fields the connector does
/// not read are not typed, so their shapes (`null`, object or list) never refuse an order.
#[derive(Debug, Clone, Deserialize)]
pub struct Order {
    #[serde(deserialize_with = "lenient::id")]
    pub id: u64,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub reference_id: Option<u64>,
    #[serde(default)]
    pub date: Option<SallaDate>,
    #[serde(default)]
    pub updated_at: Option<SallaDate>,
    #[serde(default, deserialize_with = "lenient::opt_object")]
    pub status: Option<OrderStatus>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub payment_method: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub currency: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_object")]
    pub amounts: Option<OrderAmounts>,
    #[serde(default, deserialize_with = "lenient::opt_object")]
    pub shipping: Option<Shipping>,
    #[serde(default, deserialize_with = "lenient::opt_object")]
    pub customer: Option<Customer>,
    #[serde(default, deserialize_with = "lenient::list")]
    pub items: Vec<OrderItem>,
    /// Salla still waits for the payment (`true` for an unpaid online order, e.g. a bank transfer
    /// without its receipt); `false` or absent otherwise.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_pending_payment: Option<bool>,
}

/// `order.status.updated`: a status-history entry with the order nested in it.
#[derive(Debug, Clone, Deserialize)]
pub struct OrderStatusUpdate {
    /// The status-history entry id, not the order id.
    #[serde(deserialize_with = "lenient::id")]
    pub id: u64,
    /// The status name (Arabic by default); the slug is in `order.status.slug`.
    #[serde(default, deserialize_with = "lenient::opt_name")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub note: Option<String>,
    pub order: Order,
}

impl OrderStatusUpdate {
    pub fn slug(&self) -> Option<&str> {
        self.order.status.as_ref()?.slug.as_deref()
    }
}

/// `order.shipment.*`: the order id and its shipping number only.
#[derive(Debug, Clone, Deserialize)]
pub struct OrderShipmentRef {
    #[serde(deserialize_with = "lenient::id")]
    pub id: u64,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub reference_id: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub shipping_number: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Variant {
    #[serde(deserialize_with = "lenient::id")]
    pub id: u64,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub sku: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_money")]
    pub price: Option<Money>,
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    pub stock_quantity: Option<Decimal>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub barcode: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_money")]
    pub cost_price: Option<Money>,
    /// The ids of the option values (`options[].values[].id`) this SKU is made of. Read
    /// leniently: ids as numbers or strings, or objects with an `id`; anything else is left out.
    #[serde(default, deserialize_with = "id_list")]
    pub related_option_values: Vec<u64>,
}

fn id_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    Ok(items_of(Value::deserialize(d)?)
        .iter()
        .filter_map(|v| match v {
            Value::Object(m) => m.get("id").and_then(|i| lenient::id(i).ok()),
            v => lenient::id(v).ok(),
        })
        .collect())
}

/// A product option (`options[]`: size, colour…) and its values. Read leniently: an option or
/// value without an id or a name is left out (it cannot be matched to a SKU or named in Odoo).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductOption {
    pub id: u64,
    pub name: String,
    pub values: Vec<OptionValue>,
}

/// One value of a product option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionValue {
    pub id: u64,
    pub name: String,
}

fn product_options<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<ProductOption>, D::Error> {
    let named = |v: &Value| -> Option<(u64, String)> {
        Some((lenient::id(v.get("id")?).ok()?, text_of(v.get("name"))?))
    };
    Ok(items_of(Value::deserialize(d)?)
        .iter()
        .filter_map(|o| {
            let (id, name) = named(o)?;
            let values = o
                .get("values")
                .cloned()
                .map(items_of)
                .unwrap_or_default()
                .iter()
                .filter_map(|v| named(v).map(|(id, name)| OptionValue { id, name }))
                .collect();
            Some(ProductOption { id, name, values })
        })
        .collect())
}

#[derive(Debug, Clone, Deserialize)]
pub struct Category {
    #[serde(deserialize_with = "lenient::id")]
    pub id: u64,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub name: Option<String>,
}

/// The product model (`product.created`, `updated`, `deleted`, `available`, `quantity.low`); the
/// newer small events carry a subset: `product.status.updated` id, SKU and status;
/// `product.price.updated` plain numbers for `price`, `regular_price`, `cost`, `tax` and
/// `taxed_price`, and `sale_price` as `{amount, expired_at}`; `product.category.updated` the
/// categories; `product.brand.updated` the brand.
#[derive(Debug, Clone, Deserialize)]
pub struct Product {
    #[serde(deserialize_with = "lenient::id")]
    pub id: u64,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub sku: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub name: Option<String>,
    #[serde(default, rename = "type", deserialize_with = "lenient::opt_text")]
    pub product_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_money")]
    pub price: Option<Money>,
    #[serde(default, deserialize_with = "lenient::opt_money")]
    pub regular_price: Option<Money>,
    #[serde(default, deserialize_with = "lenient::opt_money")]
    pub sale_price: Option<Money>,
    /// The price with tax (`{amount, currency}` or a number).
    #[serde(default, deserialize_with = "lenient::opt_money")]
    pub taxed_price: Option<Money>,
    /// `cost_price` in the product model.
    #[serde(default, deserialize_with = "lenient::opt_money")]
    pub cost_price: Option<Money>,
    /// `cost` in `product.price.updated`.
    #[serde(default, deserialize_with = "lenient::opt_money")]
    pub cost: Option<Money>,
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    pub quantity: Option<Decimal>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub unlimited_quantity: Option<bool>,
    /// `hidden`, `sale` or `out`.
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub status: Option<String>,
    #[serde(default)]
    pub updated_at: Option<SallaDate>,
    #[serde(default, deserialize_with = "lenient::list")]
    pub skus: Vec<Variant>,
    #[serde(default, deserialize_with = "lenient::list")]
    pub categories: Vec<Category>,
    /// The product's options and their values; `skus[].related_option_values` name the values.
    #[serde(default, deserialize_with = "product_options")]
    pub options: Vec<ProductOption>,
}

impl Product {
    /// The cost: `cost_price`, else `cost`.
    pub fn cost(&self) -> Option<&Money> {
        self.cost_price.as_ref().or(self.cost.as_ref())
    }
}

/// The store-side shipment model (`shipment.creating` / `created` / `updated` / `cancelled`).
#[derive(Debug, Clone, Deserialize)]
pub struct Shipment {
    #[serde(deserialize_with = "lenient::id")]
    pub id: u64,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub order_id: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub shipping_number: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub tracking_number: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub tracking_link: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub courier_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub status: Option<String>,
    /// `[]`, `null` or `{format, url}`.
    #[serde(default)]
    pub label: Value,
    /// `shipment` (to the customer) or `return` (from the customer back to the store).
    #[serde(default, rename = "type", deserialize_with = "lenient::opt_text")]
    pub shipment_type: Option<String>,
    /// What the shipment carries: the order's items and their quantities.
    #[serde(default, deserialize_with = "lenient::list")]
    pub packages: Vec<ShipmentPackage>,
}

/// One line of a shipment's `packages`: an order item and how many of it.
#[derive(Debug, Clone, Deserialize)]
pub struct ShipmentPackage {
    /// The order item (`items[].id` of the order).
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub item_id: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub sku: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    pub quantity: Option<Decimal>,
}

impl Shipment {
    pub fn label_url(&self) -> Option<&str> {
        self.label.get("url")?.as_str()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct InvoiceItem {
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub sku: Option<String>,
    #[serde(deserialize_with = "lenient::decimal")]
    pub quantity: Decimal,
    #[serde(default, deserialize_with = "lenient::opt_money")]
    pub price: Option<Money>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Invoice {
    #[serde(deserialize_with = "lenient::id")]
    pub id: u64,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub invoice_number: Option<String>,
    #[serde(deserialize_with = "lenient::id")]
    pub order_id: u64,
    #[serde(default, deserialize_with = "lenient::opt_money")]
    pub total: Option<Money>,
    #[serde(default, deserialize_with = "lenient::list")]
    pub items: Vec<InvoiceItem>,
}

/// `app.store.authorize`: the merchant's tokens (Easy Mode). `expires` is a Unix timestamp here.
#[derive(Debug, Clone, Deserialize)]
pub struct StoreAuthorize {
    pub access_token: SecretString,
    #[serde(default)]
    pub refresh_token: Option<SecretString>,
    #[serde(deserialize_with = "lenient::int")]
    pub expires: i64,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub scope: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub token_type: Option<String>,
}

/// `app.installed`, `app.updated`, `app.uninstalled`, `app.settings.updated`, …
#[derive(Debug, Clone, Deserialize)]
pub struct AppEvent {
    /// The app id.
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub id: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub app_name: Option<String>,
    /// `development`, `demo` or `live`.
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub store_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub installation_date: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub uninstallation_date: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub refunded: Option<bool>,
    #[serde(default)]
    pub settings: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_errors_are_classified() {
        assert!(matches!(
            Envelope::from_slice(b"{\"event\":"),
            Err(ParseError::MalformedJson(_))
        ));
        assert!(matches!(
            Envelope::from_slice(b"\xff\xfe"),
            Err(ParseError::MalformedJson(_))
        ));
        assert!(matches!(
            Envelope::from_slice(br#"{"event":"order.created","created_at":"x","data":{}}"#),
            Err(ParseError::InvalidEnvelope(m)) if m.contains("merchant")
        ));
        assert!(matches!(
            Envelope::from_slice(br#"{"event":"","merchant":1,"created_at":"x","data":{}}"#),
            Err(ParseError::InvalidEnvelope(_))
        ));
        assert!(matches!(
            Envelope::from_slice(br#"{"event":"a","merchant":1,"created_at":"x","data":[]}"#),
            Err(ParseError::InvalidEnvelope(_))
        ));
        assert!(matches!(
            Envelope::from_slice(b"[1,2]"),
            Err(ParseError::InvalidEnvelope(_))
        ));
        // The four fields in an array are not an envelope (serde's derive would accept them).
        assert!(matches!(
            Envelope::from_slice(br#" ["order.created",1,"x",{"id":5}]"#),
            Err(ParseError::InvalidEnvelope(m)) if m.contains("not a JSON object")
        ));
        assert!(matches!(
            Envelope::from_slice(b"[1,"),
            Err(ParseError::MalformedJson(_))
        ));
    }

    #[test]
    fn both_created_at_formats_read_as_instants() {
        let mk = |c: &str| Envelope {
            event: "e".into(),
            merchant: 1,
            created_at: c.into(),
            data: Value::Null,
        };
        let a = mk("Sun Jun 26 2022 12:21:48 GMT+0300")
            .created_at_instant()
            .unwrap();
        let b = mk("2022-06-26 12:21:48").created_at_instant().unwrap();
        assert_eq!(a, b);
        assert_eq!(mk("yesterday").created_at_instant(), None);
    }

    #[test]
    fn tokens_do_not_leak_through_debug() {
        let data = serde_json::json!({"access_token": "tok-AAA", "refresh_token": "tok-BBB", "expires": 1634819484});
        let auth: StoreAuthorize = serde_json::from_value(data).unwrap();
        let dbg = format!("{auth:?}");
        assert!(
            !dbg.contains("tok-AAA") && !dbg.contains("tok-BBB"),
            "{dbg}"
        );
    }

    #[test]
    fn options_and_sku_values_are_read_leniently() {
        let p: Product = serde_json::from_value(serde_json::json!({
            "id": 1,
            "options": [
                {"id": "7", "name": " Size ", "values": [{"id": 71, "name": "S"}, {"id": 72},
                                                         {"name": "no id"}, {"id": 73, "name": 42}]},
                {"name": "no id", "values": []},
                {"id": 8, "name": {"ar": "لون"}, "values": {"0": {"id": 81, "name": "Red"}}}
            ],
            "skus": [{"id": 5, "barcode": 628, "cost_price": "3.5",
                      "related_option_values": [71, "73", {"id": 81}, null, "x"]}]
        }))
        .unwrap();
        assert_eq!(
            p.options,
            vec![ProductOption {
                id: 7,
                name: "Size".into(),
                values: vec![
                    OptionValue {
                        id: 71,
                        name: "S".into()
                    },
                    OptionValue {
                        id: 73,
                        name: "42".into()
                    },
                ],
            }]
        );
        assert_eq!(p.skus[0].related_option_values, vec![71, 73, 81]);
        assert_eq!(p.skus[0].barcode.as_deref(), Some("628"));
        assert_eq!(
            p.skus[0].cost_price.as_ref().map(|m| m.amount),
            Some("3.5".parse().unwrap())
        );
        // Anything else in their place is no option at all, never a refused product.
        for odd in [
            serde_json::json!(null),
            serde_json::json!("x"),
            serde_json::json!({}),
        ] {
            let p: Product = serde_json::from_value(
                serde_json::json!({"id": 1, "options": odd, "skus": [{"id": 2, "related_option_values": odd}]}),
            )
            .unwrap();
            assert!(p.options.is_empty() && p.skus[0].related_option_values.is_empty());
        }
        let item: OrderItem = serde_json::from_value(serde_json::json!({
            "id": 1, "quantity": 1,
            "options": [
                {"id": 1, "name": "Size", "value": {"id": 12, "name": "M"}},
                {"id": 2, "name": "Extras", "value": [{"id": 21, "name": "Onion"}, {"id": 22, "name": "Pepper"}]},
                {"id": 3, "name": "Note", "value": "text"},
                {"id": 4, "value": {"id": 5, "name": "nameless option"}}
            ]
        }))
        .unwrap();
        let got: Vec<(&str, Option<u64>, &str)> = item
            .options
            .iter()
            .map(|o| (o.name.as_str(), o.value_id, o.value.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("Size", Some(12), "M"),
                ("Extras", Some(21), "Onion"),
                ("Extras", Some(22), "Pepper")
            ]
        );
    }
}
