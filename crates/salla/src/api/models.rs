//! Typed requests and answers of the Merchant API endpoints the connector uses
//! (docs/salla-platform.md §8.5, §8.6).
//!
//! Answers reuse the webhook models of [`crate::payload`] where Salla sends the same object (order,
//! order item, product, customer, shipment) and add the list-only shapes here. Everything is decoded
//! leniently (§10): ids and amounts as numbers or strings, `null` or odd-shaped objects read as absent,
//! unknown fields ignored.

use rust_decimal::Decimal;
use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use time::Date;

use crate::lenient::{self, Money, SallaDate};
use crate::payload::OrderStatus;

/// The most `per_page` Salla accepts; larger values are clamped to it.
pub const MAX_PER_PAGE: u32 = 60;

// ----- lenient helpers ---------------------------------------------------------------------------

/// An object decoded as `T`; `null`, `[]`, `{}`-less shapes (strings, numbers, arrays) read as `None`.
fn opt_object<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    match Value::deserialize(d)? {
        v @ Value::Object(_) => T::deserialize(v)
            .map(Some)
            .map_err(serde::de::Error::custom),
        _ => Ok(None),
    }
}

/// Text from a string, number or boolean; anything else (null, object, array) reads as `None`.
fn loose_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    })
}

/// A boolean from `true`/`false`, `0`/`1` or their strings; anything else reads as `None`.
fn loose_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Bool(b) => Some(b),
        Value::Number(n) => n.as_i64().map(|n| n != 0),
        Value::String(s) => match s.trim() {
            "1" | "true" => Some(true),
            "0" | "false" => Some(false),
            _ => None,
        },
        _ => None,
    })
}

/// A count from a number or a numeric string; anything else reads as `None`.
fn loose_count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(lenient::id(&v).ok())
}

// ----- pagination --------------------------------------------------------------------------------

/// `pagination` of a list answer (§8.3). Loop while `current_page < total_pages`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Pagination {
    /// Items on this page.
    #[serde(default, deserialize_with = "loose_count")]
    pub count: Option<u64>,
    /// Items in all pages.
    #[serde(default, deserialize_with = "loose_count")]
    pub total: Option<u64>,
    /// `perPage`.
    #[serde(default, rename = "perPage", deserialize_with = "loose_count")]
    pub per_page: Option<u64>,
    /// `currentPage` (1-based).
    #[serde(default, rename = "currentPage", deserialize_with = "loose_count")]
    pub current_page: Option<u64>,
    /// `totalPages`.
    #[serde(default, rename = "totalPages", deserialize_with = "loose_count")]
    pub total_pages: Option<u64>,
    /// `links`: `{}` or `[]` in Salla's examples, sometimes with `next`/`previous`.
    #[serde(default, deserialize_with = "opt_object")]
    pub links: Option<PageLinks>,
}

/// `pagination.links`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PageLinks {
    /// The next page's URL.
    #[serde(default, deserialize_with = "loose_text")]
    pub next: Option<String>,
    /// The previous page's URL.
    #[serde(default, deserialize_with = "loose_text")]
    pub previous: Option<String>,
}

impl Pagination {
    /// True when a later page exists (`currentPage < totalPages`). Without both numbers, false.
    pub fn has_next(&self) -> bool {
        matches!((self.current_page, self.total_pages), (Some(c), Some(t)) if c < t)
    }
}

/// One page of a list answer.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The page's items, in Salla's order.
    pub items: Vec<T>,
    /// The page's position; `Pagination::default()` when the answer had none (a single page).
    pub pagination: Pagination,
    /// The page that was asked for.
    pub page: u32,
}

impl<T> Page<T> {
    /// The page to ask for next, or `None` on the last page.
    pub fn next_page(&self) -> Option<u32> {
        if !self.pagination.has_next() {
            return None;
        }
        let current = self.pagination.current_page.unwrap_or(u64::from(self.page));
        u32::try_from(current.max(u64::from(self.page)) + 1).ok()
    }
}

// ----- answers -----------------------------------------------------------------------------------

/// An order in `GET /orders` (a summary: no items, amounts or shipping).
#[derive(Debug, Clone, Deserialize)]
pub struct OrderSummary {
    /// The order id.
    #[serde(deserialize_with = "lenient::id")]
    pub id: u64,
    /// The number the merchant and customer see.
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub reference_id: Option<u64>,
    /// `{id, name, slug, customized}`: map by slug.
    #[serde(default, deserialize_with = "opt_object")]
    pub status: Option<OrderStatus>,
    /// When the order was placed.
    #[serde(default)]
    pub date: Option<SallaDate>,
    /// When the order last changed (the reconciliation key).
    #[serde(default)]
    pub updated_at: Option<SallaDate>,
    /// The order total.
    #[serde(default, deserialize_with = "lenient::opt_money")]
    pub total: Option<Money>,
    /// e.g. `cod`, `credit_card`, `bank`.
    #[serde(default, deserialize_with = "loose_text")]
    pub payment_method: Option<String>,
}

/// A status of `GET /orders/statuses` (original or custom).
#[derive(Debug, Clone, Deserialize)]
pub struct OrderStatusDef {
    /// The status id (what `GET /orders?status[]=` and `{"status_id"}` take).
    #[serde(deserialize_with = "lenient::id")]
    pub id: u64,
    /// The name (in the `Accept-Language`).
    #[serde(default, deserialize_with = "loose_text")]
    pub name: Option<String>,
    /// `original` or `custom`.
    #[serde(default, rename = "type", deserialize_with = "loose_text")]
    pub status_type: Option<String>,
    /// The slug (a custom status inherits its parent's).
    #[serde(default, deserialize_with = "loose_text")]
    pub slug: Option<String>,
    /// Display order.
    #[serde(default, deserialize_with = "loose_count")]
    pub sort: Option<u64>,
    /// Whether the merchant has it switched on.
    #[serde(default, deserialize_with = "loose_bool")]
    pub is_active: Option<bool>,
    /// The parent status of a custom sub-status.
    #[serde(default, deserialize_with = "opt_object")]
    pub parent: Option<StatusRef>,
    /// The original status a custom one derives from.
    #[serde(default, deserialize_with = "opt_object")]
    pub original: Option<StatusRef>,
}

/// A reference to a status (`parent`, `original`).
#[derive(Debug, Clone, Deserialize)]
pub struct StatusRef {
    /// The status id.
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub id: Option<u64>,
    /// Its name.
    #[serde(default, deserialize_with = "loose_text")]
    pub name: Option<String>,
}

/// A variant (`GET /products/{id}/variants`, `GET /products/variants/{id}`).
#[derive(Debug, Clone, Deserialize)]
pub struct ProductVariant {
    /// The variant id (`identifer_type: "variant_id"`).
    #[serde(deserialize_with = "lenient::id")]
    pub id: u64,
    /// Its SKU (may be empty).
    #[serde(default, deserialize_with = "loose_text")]
    pub sku: Option<String>,
    /// Its barcode.
    #[serde(default, deserialize_with = "loose_text")]
    pub barcode: Option<String>,
    /// Price.
    #[serde(default, deserialize_with = "lenient::opt_money")]
    pub price: Option<Money>,
    /// Regular price.
    #[serde(default, deserialize_with = "lenient::opt_money")]
    pub regular_price: Option<Money>,
    /// Sale price.
    #[serde(default, deserialize_with = "lenient::opt_money")]
    pub sale_price: Option<Money>,
    /// Cost price.
    #[serde(default, deserialize_with = "lenient::opt_money")]
    pub cost_price: Option<Money>,
    /// Stock on hand (when not managed by branches).
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    pub stock_quantity: Option<Decimal>,
    /// Unlimited stock.
    #[serde(default, deserialize_with = "loose_bool")]
    pub unlimited_quantity: Option<bool>,
}

/// A branch (`GET /branches`): maps to an Odoo warehouse.
#[derive(Debug, Clone, Deserialize)]
pub struct Branch {
    /// The branch id (`branch` of a quantity update).
    #[serde(deserialize_with = "lenient::id")]
    pub id: u64,
    /// Its name.
    #[serde(default, deserialize_with = "loose_text")]
    pub name: Option<String>,
    /// e.g. `active`.
    #[serde(default, deserialize_with = "loose_text")]
    pub status: Option<String>,
    /// e.g. `branch` or `warehouse`.
    #[serde(default, rename = "type", deserialize_with = "loose_text")]
    pub branch_type: Option<String>,
    /// The store's default branch.
    #[serde(default, deserialize_with = "loose_bool")]
    pub is_default: Option<bool>,
}

/// The answer of a write (201/202/204): Salla's `data` (usually `{message, code}`), or `null` for an
/// empty body.
#[derive(Debug, Clone, Default)]
pub struct WriteAck {
    /// The envelope's `data` (or the whole JSON body when it had no envelope).
    pub data: Value,
}

impl WriteAck {
    /// `data.message`, e.g. "The entity has been updated successfully".
    pub fn message(&self) -> Option<&str> {
        self.data.get("message")?.as_str()
    }
}

// ----- list filters ------------------------------------------------------------------------------

/// `sort_by` of `GET /orders`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderSort {
    /// `id-asc`
    IdAsc,
    /// `id-desc`
    IdDesc,
    /// `total-asc`
    TotalAsc,
    /// `total-desc`
    TotalDesc,
    /// `updated_at-asc`
    UpdatedAtAsc,
    /// `updated_at-desc` (reconciliation: newest changes first).
    UpdatedAtDesc,
    /// `created_at-asc`
    CreatedAtAsc,
    /// `created_at-desc`
    CreatedAtDesc,
}

impl OrderSort {
    /// The query value.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderSort::IdAsc => "id-asc",
            OrderSort::IdDesc => "id-desc",
            OrderSort::TotalAsc => "total-asc",
            OrderSort::TotalDesc => "total-desc",
            OrderSort::UpdatedAtAsc => "updated_at-asc",
            OrderSort::UpdatedAtDesc => "updated_at-desc",
            OrderSort::CreatedAtAsc => "created_at-asc",
            OrderSort::CreatedAtDesc => "created_at-desc",
        }
    }
}

/// Filters of `GET /orders`. `Default` lists every order, Salla's default order, 60 a page.
#[derive(Debug, Clone, Default)]
pub struct OrderQuery {
    /// `from_date` (yyyy-mm-dd).
    pub from_date: Option<Date>,
    /// `to_date` (yyyy-mm-dd).
    pub to_date: Option<Date>,
    /// `status[]`: status **ids** (see `GET /orders/statuses`), not slugs.
    pub status_ids: Vec<u64>,
    /// `reference_id`.
    pub reference_id: Option<u64>,
    /// `customer_id`.
    pub customer_id: Option<u64>,
    /// `sort_by`.
    pub sort_by: Option<OrderSort>,
    /// `per_page`, clamped to 1..=60; `None` is 60.
    pub per_page: Option<u32>,
}

/// Filters of `GET /products`.
#[derive(Debug, Clone, Default)]
pub struct ProductQuery {
    /// `keyword`: name or SKU.
    pub keyword: Option<String>,
    /// `status`: `hidden`, `sale` or `out`.
    pub status: Option<String>,
    /// `category`: a category id.
    pub category: Option<u64>,
    /// `per_page`, clamped to 1..=60; `None` is 60.
    pub per_page: Option<u32>,
}

/// Filters of `GET /customers`.
#[derive(Debug, Clone, Default)]
pub struct CustomerQuery {
    /// `keyword`: mobile, name or email.
    pub keyword: Option<String>,
    /// `per_page`, clamped to 1..=60; `None` is 60.
    pub per_page: Option<u32>,
}

/// `per_page` as sent: 1..=60, default 60.
pub(crate) fn clamp_per_page(per_page: Option<u32>) -> u32 {
    per_page.unwrap_or(MAX_PER_PAGE).clamp(1, MAX_PER_PAGE)
}

const DATE: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

fn ymd(d: Date) -> String {
    d.format(DATE).unwrap_or_default()
}

impl OrderQuery {
    pub(crate) fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(d) = self.from_date {
            q.push(("from_date", ymd(d)));
        }
        if let Some(d) = self.to_date {
            q.push(("to_date", ymd(d)));
        }
        for id in &self.status_ids {
            q.push(("status[]", id.to_string()));
        }
        if let Some(r) = self.reference_id {
            q.push(("reference_id", r.to_string()));
        }
        if let Some(c) = self.customer_id {
            q.push(("customer_id", c.to_string()));
        }
        if let Some(s) = self.sort_by {
            q.push(("sort_by", s.as_str().to_owned()));
        }
        q
    }
}

impl ProductQuery {
    pub(crate) fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(k) = &self.keyword {
            q.push(("keyword", k.clone()));
        }
        if let Some(s) = &self.status {
            q.push(("status", s.clone()));
        }
        if let Some(c) = self.category {
            q.push(("category", c.to_string()));
        }
        q
    }
}

impl CustomerQuery {
    pub(crate) fn pairs(&self) -> Vec<(&'static str, String)> {
        self.keyword
            .iter()
            .map(|k| ("keyword", k.clone()))
            .collect()
    }
}

// ----- writes ------------------------------------------------------------------------------------

/// How a bulk quantity update identifies its product.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identifier {
    /// `identifer_type: "id"`: a product id.
    Id(u64),
    /// `identifer_type: "variant_id"`: a variant id.
    VariantId(u64),
    /// `identifer_type: "sku"`.
    Sku(String),
}

/// `mode` of a quantity update.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QuantityMode {
    /// Set the quantity (idempotent: safe to send again after an unknown outcome).
    #[default]
    Overwrite,
    /// Add to the quantity (not safe to repeat).
    Increment,
    /// Subtract from the quantity (not safe to repeat).
    Decrement,
}

/// One item of `POST /products/quantities/bulk` (§8.6). Serialises with Salla's misspelled keys
/// `identifer_type` / `identifer`, the identifier as a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantityUpdate {
    /// Which product or variant.
    pub identifier: Identifier,
    /// The quantity (or the change, for increment/decrement).
    pub quantity: i64,
    /// Overwrite (default), increment or decrement.
    pub mode: QuantityMode,
    /// `unlimited_quantity`.
    pub unlimited_quantity: Option<bool>,
    /// `branch`: a branch id, for stores that manage stock by branch.
    pub branch: Option<u64>,
}

impl QuantityUpdate {
    /// Sets `identifier`'s quantity (mode `overwrite`).
    pub fn overwrite(identifier: Identifier, quantity: i64) -> Self {
        QuantityUpdate {
            identifier,
            quantity,
            mode: QuantityMode::Overwrite,
            unlimited_quantity: None,
            branch: None,
        }
    }

    /// The same update for one branch.
    pub fn in_branch(mut self, branch: u64) -> Self {
        self.branch = Some(branch);
        self
    }

    /// True when sending it twice has the effect of sending it once.
    pub fn is_idempotent(&self) -> bool {
        self.mode == QuantityMode::Overwrite
    }
}

impl Serialize for QuantityUpdate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let (kind, value) = match &self.identifier {
            Identifier::Id(id) => ("id", id.to_string()),
            Identifier::VariantId(id) => ("variant_id", id.to_string()),
            Identifier::Sku(sku) => ("sku", sku.clone()),
        };
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("identifer_type", kind)?;
        m.serialize_entry("identifer", &value)?;
        m.serialize_entry("quantity", &self.quantity)?;
        m.serialize_entry("mode", &self.mode)?;
        if let Some(u) = self.unlimited_quantity {
            m.serialize_entry("unlimited_quantity", &u)?;
        }
        if let Some(b) = self.branch {
            m.serialize_entry("branch", &b)?;
        }
        m.end()
    }
}

/// The body of `POST /products/quantities/bulk`.
#[derive(Serialize)]
pub(crate) struct BulkQuantities<'a> {
    pub products: &'a [QuantityUpdate],
}

/// The new status of `POST /orders/{id}/status`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StatusTarget {
    /// `{"slug": "completed"}`: an original status.
    Slug(String),
    /// `{"status_id": …}`: a custom status.
    StatusId(u64),
}

/// The body of `POST /orders/{id}/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    /// The status to set.
    pub target: StatusTarget,
    /// `note`, kept in the order's history.
    pub note: Option<String>,
}

impl StatusChange {
    /// Sets an original status by slug (e.g. `completed`, `canceled`).
    pub fn slug(slug: impl Into<String>) -> Self {
        StatusChange {
            target: StatusTarget::Slug(slug.into()),
            note: None,
        }
    }

    /// Sets a custom status by id.
    pub fn status_id(id: u64) -> Self {
        StatusChange {
            target: StatusTarget::StatusId(id),
            note: None,
        }
    }

    /// Adds a history note.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

impl Serialize for StatusChange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        match &self.target {
            StatusTarget::Slug(slug) => m.serialize_entry("slug", slug)?,
            StatusTarget::StatusId(id) => m.serialize_entry("status_id", id)?,
        }
        if let Some(note) = &self.note {
            m.serialize_entry("note", note)?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantity_update_uses_the_misspelled_keys() {
        let v = serde_json::to_value([
            QuantityUpdate::overwrite(Identifier::Sku("CW-100".into()), 97).in_branch(1790435930),
            QuantityUpdate {
                mode: QuantityMode::Increment,
                unlimited_quantity: Some(false),
                ..QuantityUpdate::overwrite(Identifier::VariantId(3498732894), 12)
            },
        ])
        .unwrap();
        assert_eq!(
            v,
            json!([
                {"identifer_type": "sku", "identifer": "CW-100", "quantity": 97, "mode": "overwrite", "branch": 1790435930u64},
                {"identifer_type": "variant_id", "identifer": "3498732894", "quantity": 12, "mode": "increment", "unlimited_quantity": false},
            ])
        );
    }

    #[test]
    fn status_change_bodies() {
        assert_eq!(
            serde_json::to_value(StatusChange::slug("completed")).unwrap(),
            json!({"slug": "completed"})
        );
        assert_eq!(
            serde_json::to_value(StatusChange::status_id(7).with_note("n")).unwrap(),
            json!({"status_id": 7, "note": "n"})
        );
    }

    #[test]
    fn pagination_is_lenient() {
        let p: Pagination = serde_json::from_value(json!({"count": "15", "total": 120, "perPage": 15, "currentPage": 1, "totalPages": "8", "links": []})).unwrap();
        assert!(p.has_next());
        assert_eq!(p.links, None);
        let p: Pagination = serde_json::from_value(
            json!({"currentPage": 8, "totalPages": 8, "links": {"previous": "u"}}),
        )
        .unwrap();
        assert!(!p.has_next());
        assert_eq!(p.links.unwrap().previous.as_deref(), Some("u"));
        assert_eq!(clamp_per_page(Some(100)), 60);
        assert_eq!(clamp_per_page(Some(0)), 1);
        assert_eq!(clamp_per_page(None), 60);
    }
}
