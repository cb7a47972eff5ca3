//! The per-store options the handlers read: a plain view of the persisted store settings, so the mapping and
//! the handlers do not depend on how the store crate keeps them.

use std::collections::BTreeMap;

use salla_odoo_core::{MerchantId, PricelistMap, StatusMap, StockMaster, VariantLayout};

/// What the handlers need to know about one store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub merchant: MerchantId,
    /// `stock.warehouse` for deliveries and stock adjustments (default: Odoo's first warehouse).
    pub warehouse_id: Option<i64>,
    /// `product.pricelist` for new orders (default: Odoo's).
    pub pricelist_id: Option<i64>,
    /// The Salla store's currency, e.g. `SAR`: the currency of an order that names none (default
    /// SAR), and what `doctor` compares the default pricelist with.
    pub currency: Option<String>,
    /// `account.tax` applied to order lines, the shipping line and new products.
    pub tax_id: Option<i64>,
    /// Whether `tax_id` is a price-included tax: prices sent to Odoo then include the tax.
    pub prices_include_tax: bool,
    pub status_map: StatusMap,
    /// Unknown SKUs in an order create products (else the order fails permanently, naming the SKU).
    pub create_unknown_skus: bool,
    pub stock_master: StockMaster,
    /// How a Salla product with options and variants is kept in Odoo (see `crate::product`).
    pub variants: VariantLayout,
    /// The `account.journal` a paid order's payment is registered in when [`Self::payment_journals`]
    /// has none for its payment method. `None` with no entry either: no payment is registered.
    pub payment_journal_id: Option<i64>,
    /// Salla payment method slug → `account.journal` (`cod`: the cash-on-delivery journal).
    pub payment_journals: BTreeMap<String, i64>,
    /// Refunds make credit notes and refund payments (an order never invoiced is cancelled).
    pub refund_credit_notes: bool,
    /// Delivered return shipments make return pickings.
    pub return_pickings: bool,
    /// The Odoo pricelist per order currency ([`crate::currency`]); a currency not named uses
    /// `pricelist_id` when that one is in the currency, else the pricelist Odoo holds in it.
    pub pricelists: PricelistMap,
    /// The largest difference between Odoo's total and Salla's that a rounding line may absorb,
    /// in cents of the order's currency; beyond it the order fails permanently.
    pub rounding_max_cents: i64,
    /// Orders dated from this instant on, with neither an id-map row nor a creation intent, are
    /// new to Odoo: created without a search of their marker (see `crate::order`). `None`: every
    /// order without an id-map row is searched first.
    pub order_intents_since: Option<time::OffsetDateTime>,
}

impl StoreOptions {
    /// The defaults for a store: Odoo's warehouse, pricelist and taxes, the default status map, unknown SKUs
    /// refused, Odoo as stock master, variants as templates, no payment journal (payments off),
    /// refunds and returns on.
    pub fn new(merchant: MerchantId) -> Self {
        StoreOptions {
            merchant,
            warehouse_id: None,
            pricelist_id: None,
            currency: None,
            tax_id: None,
            prices_include_tax: false,
            status_map: StatusMap::default(),
            create_unknown_skus: false,
            stock_master: StockMaster::Odoo,
            variants: VariantLayout::Templates,
            payment_journal_id: None,
            payment_journals: BTreeMap::new(),
            refund_credit_notes: true,
            return_pickings: true,
            pricelists: PricelistMap::default(),
            rounding_max_cents: salla_odoo_core::currency::DEFAULT_ROUNDING_MAX_CENTS,
            order_intents_since: None,
        }
    }
}

impl StoreOptions {
    /// The journal a payment by Salla payment method `method` is registered in: its entry in
    /// [`Self::payment_journals`], else [`Self::payment_journal_id`].
    pub fn payment_journal(&self, method: &str) -> Option<i64> {
        self.payment_journals
            .get(method.trim())
            .copied()
            .or(self.payment_journal_id)
    }
}
