//! Per-store sync options shared by the store settings (persisted) and the sync handlers.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a Salla order status means in Odoo. Each step includes the ones before it, and each is
/// applied only as far as Odoo's current state requires, so applying a step twice changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStep {
    /// Keep (or create) the quotation; nothing else.
    Quotation,
    /// Confirm the quotation into a sale order.
    Confirm,
    /// Confirm, then validate the delivery.
    Deliver,
    /// Confirm, validate the delivery, create and post the invoice.
    Complete,
    /// Cancel the order.
    Cancel,
    /// Refund the order: a credit note reversing its posted invoice (and its refund payment when
    /// the invoice was paid); an order never invoiced is cancelled instead.
    Refund,
}

impl OrderStep {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStep::Quotation => "quotation",
            OrderStep::Confirm => "confirm",
            OrderStep::Deliver => "deliver",
            OrderStep::Complete => "complete",
            OrderStep::Cancel => "cancel",
            OrderStep::Refund => "refund",
        }
    }
}

impl fmt::Display for OrderStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderStep {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.trim() {
            "quotation" => OrderStep::Quotation,
            "confirm" => OrderStep::Confirm,
            "deliver" => OrderStep::Deliver,
            "complete" => OrderStep::Complete,
            "cancel" => OrderStep::Cancel,
            "refund" => OrderStep::Refund,
            other => {
                return Err(format!(
                    "unknown order step {other:?} (quotation, confirm, deliver, complete, cancel, \
                     refund)"
                ));
            }
        })
    }
}

/// Salla status slug → Odoo step. Slugs not in the map are recorded as skipped, never guessed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StatusMap(pub BTreeMap<String, OrderStep>);

impl Default for StatusMap {
    fn default() -> Self {
        use OrderStep::*;
        let pairs = [
            ("payment_pending", Quotation),
            ("under_review", Quotation),
            ("in_progress", Confirm),
            ("shipped", Confirm),
            ("delivering", Confirm),
            ("delivered", Complete),
            ("completed", Complete),
            ("canceled", Cancel),
            ("refunded", Refund),
        ];
        StatusMap(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }
}

impl StatusMap {
    pub fn step(&self, slug: &str) -> Option<OrderStep> {
        self.0.get(slug).copied()
    }

    /// Parse `slug=step,slug=step` (the CLI form); the result overrides the defaults slug by slug.
    pub fn with_overrides(mut self, spec: &str) -> Result<Self, String> {
        for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (slug, step) = pair
                .split_once('=')
                .ok_or_else(|| format!("{pair:?} is not slug=step"))?;
            self.0.insert(slug.trim().to_owned(), step.parse()?);
        }
        Ok(self)
    }
}

/// Which side owns stock quantities.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StockMaster {
    /// Odoo is the master (default): Salla's quantities are never written into Odoo.
    #[default]
    Odoo,
    /// Salla is the master: the quantity Salla reports becomes an inventory adjustment in Odoo.
    Salla,
}

impl FromStr for StockMaster {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "odoo" => Ok(StockMaster::Odoo),
            "salla" => Ok(StockMaster::Salla),
            other => Err(format!("unknown stock master {other:?} (odoo or salla)")),
        }
    }
}

/// How a Salla product with options and variants (`skus[]`) is kept in Odoo.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VariantLayout {
    /// One `product.template` with attribute lines (Salla's options) and one `product.product`
    /// variant per Salla SKU (the default for new stores).
    #[default]
    Templates,
    /// One `product.product` for the product and one more per Salla SKU, each its own template
    /// (the layout before templates; stores registered before it keep it).
    Separate,
}

impl VariantLayout {
    pub fn as_str(self) -> &'static str {
        match self {
            VariantLayout::Templates => "templates",
            VariantLayout::Separate => "separate",
        }
    }
}

impl fmt::Display for VariantLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for VariantLayout {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "templates" => Ok(VariantLayout::Templates),
            "separate" => Ok(VariantLayout::Separate),
            other => Err(format!(
                "unknown variant layout {other:?} (templates or separate)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_map_follows_the_documented_table() {
        let m = StatusMap::default();
        assert_eq!(m.step("under_review"), Some(OrderStep::Quotation));
        assert_eq!(m.step("in_progress"), Some(OrderStep::Confirm));
        assert_eq!(m.step("completed"), Some(OrderStep::Complete));
        assert_eq!(m.step("canceled"), Some(OrderStep::Cancel));
        assert_eq!(m.step("cancelled"), None);
        assert_eq!(m.step("restored"), None);
        assert_eq!(m.step("refunded"), Some(OrderStep::Refund));
        assert_eq!("refund".parse::<OrderStep>(), Ok(OrderStep::Refund));
        assert_eq!(OrderStep::Refund.to_string(), "refund");
    }

    #[test]
    fn overrides_parse_and_reject_nonsense() {
        let m = StatusMap::default()
            .with_overrides("shipped=deliver, restored=cancel")
            .unwrap();
        assert_eq!(m.step("shipped"), Some(OrderStep::Deliver));
        assert_eq!(m.step("restored"), Some(OrderStep::Cancel));
        assert!(StatusMap::default().with_overrides("shipped").is_err());
        assert!(
            StatusMap::default()
                .with_overrides("shipped=teleport")
                .is_err()
        );
        let json = serde_json::to_string(&m).unwrap();
        assert!(json.contains(r#""shipped":"deliver""#));
    }

    #[test]
    fn variant_layouts_parse_and_print() {
        assert_eq!(VariantLayout::default(), VariantLayout::Templates);
        for l in [VariantLayout::Templates, VariantLayout::Separate] {
            assert_eq!(l.as_str().parse::<VariantLayout>(), Ok(l));
        }
        assert!("variants".parse::<VariantLayout>().is_err());
    }
}
