//! The `stores` table: one row per Salla merchant that installed the app, with its settings.
//!
//! # Data layout
//! `stores`, keyed by `merchant_id`: lifecycle (`status`, `installed_at`, `uninstalled_at`,
//! `purge_after`), the Odoo connection (`odoo_url`, `odoo_database`, `odoo_login`,
//! `odoo_version_override`; the API key is in `secrets` under the name
//! [`secrets::ODOO_API_KEY`], encrypted) and the sync options (`warehouse_id`, `pricelist_id`,
//! `currency`, `tax_id`, `prices_include_tax`, `status_map` (JSON, NULL = the default map),
//! `create_unknown_skus`, `stock_master`, `stock_quantity`, `fulfilment_status`; payments, refunds
//! and returns: `payment_journal_id`, `payment_journals` (JSON, NULL = none),
//! `refund_credit_notes`, `return_pickings`).
//! Currencies and amounts: `pricelists` (JSON currency → pricelist id, NULL = none named) and
//! `rounding_max_cents`. What the store's Odoo supports, as last probed: `odoo_capabilities` (JSON,
//! the odoo crate's `Capabilities`) and `odoo_capabilities_at` (both NULL = unknown), written by
//! [`set_odoo_capabilities`] without touching `updated_at` (a new probe is not a settings change),
//! cleared by [`clear_odoo_capabilities`] and by any change of the Odoo connection.
//!
//! # Failure handling
//! [`upsert_settings`] writes the row and the sealed key in one transaction, so a store never has
//! half of an update. [`load_settings`] fails permanently if the API key cannot be decrypted
//! (a key missing from `secrets.previous_keys`) or a stored value does not decode.

use std::collections::BTreeMap;

use salla_odoo_core::{MerchantId, PricelistMap, StatusMap, StockMaster, VariantLayout};
use secrecy::{ExposeSecret, SecretString};
use sqlx::Acquire as _; // `begin`/`acquire` on a session's held connection (on_db!)
use time::OffsetDateTime;

use crate::secrets::{self, Keyring};
use crate::{Db, StoreError, Timestamp, db_id};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct StoreRow {
    pub merchant_id: i64,
    pub status: String,
    pub app_id: Option<i64>,
    pub store_type: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub installed_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub uninstalled_at: Option<OffsetDateTime>,
}

/// Create or reconnect a store (`app.installed`, `app.updated`): an upsert, never a duplicate.
pub async fn upsert_installed(
    db: &Db,
    merchant: MerchantId,
    app_id: Option<u64>,
    store_type: Option<&str>,
) -> Result<StoreRow, StoreError> {
    let app_id = app_id.and_then(|a| i64::try_from(a).ok());
    let sql = db.with_now(
        "INSERT INTO stores (merchant_id, status, app_id, store_type, installed_at)
         VALUES ($1, 'installed', $2, $3, now())
         ON CONFLICT (merchant_id) DO UPDATE SET
            status = 'installed',
            app_id = COALESCE(EXCLUDED.app_id, stores.app_id),
            store_type = COALESCE(EXCLUDED.store_type, stores.store_type),
            installed_at = COALESCE(stores.installed_at, EXCLUDED.installed_at),
            uninstalled_at = NULL,
            purge_after = NULL,
            updated_at = now()
         RETURNING merchant_id, status, app_id, store_type, installed_at, uninstalled_at",
    );
    let id = db_id(merchant)?;
    Ok(on_db!(db, pool => {
        sqlx::query_as::<_, StoreRow>(sql)
            .bind(id)
            .bind(app_id)
            .bind(store_type)
            .fetch_one(pool)
            .await?
    }))
}

pub async fn get(db: &Db, merchant: MerchantId) -> Result<Option<StoreRow>, StoreError> {
    let id = db_id(merchant)?;
    Ok(on_db!(db, pool => {
        sqlx::query_as::<_, StoreRow>(
            "SELECT merchant_id, status, app_id, store_type, installed_at, uninstalled_at
             FROM stores WHERE merchant_id = $1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await?
    }))
}

pub async fn list(db: &Db) -> Result<Vec<StoreRow>, StoreError> {
    Ok(on_db!(db, pool => {
        sqlx::query_as::<_, StoreRow>(
            "SELECT merchant_id, status, app_id, store_type, installed_at, uninstalled_at
             FROM stores ORDER BY merchant_id",
        )
        .fetch_all(pool)
        .await?
    }))
}

// ---------------------------------------------------------------------------------------------
// Store settings: the Odoo connection and the sync options.

/// How to reach a store's Odoo. `Debug` redacts the key; `Serialize` writes `"[set]"` for it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OdooConnection {
    pub url: String,
    pub database: String,
    pub login: String,
    #[serde(serialize_with = "serialize_set")]
    pub api_key: SecretString,
    /// Force the Odoo major version instead of probing it (16–19).
    pub version_override: Option<u8>,
}

fn serialize_set<S: serde::Serializer>(_: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("[set]")
}

/// Everything a worker needs to sync one store. `Serialize` is the operator's view: it never
/// contains the API key.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StoreSettings {
    pub merchant: MerchantId,
    /// `installed` or `uninstalled`.
    pub status: String,
    /// `None` until the URL, database, login and API key are all configured.
    pub odoo: Option<OdooConnection>,
    pub warehouse_id: Option<i64>,
    pub pricelist_id: Option<i64>,
    pub currency: Option<String>,
    pub tax_id: Option<i64>,
    pub prices_include_tax: bool,
    pub status_map: StatusMap,
    pub create_unknown_skus: bool,
    pub stock_master: StockMaster,
    /// What Salla is told of Odoo's stock (stores whose stock master is Odoo).
    pub stock_quantity: StockQuantity,
    /// The Salla status a validated Odoo delivery moves the order to; `None`: not reported.
    pub fulfilment_status: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// How a Salla product with options and variants is kept in Odoo (templates or separate).
    pub variants: VariantLayout,
    /// The `account.journal` a paid order's payment is registered in when
    /// [`StoreSettings::payment_journals`] has none for its payment method; `None` with no entry
    /// either: payments are not registered.
    pub payment_journal_id: Option<i64>,
    /// Salla payment method slug (`mada`, `credit_card`, `cod`, …) → `account.journal`; `cod` is
    /// the cash-on-delivery journal.
    pub payment_journals: BTreeMap<String, i64>,
    /// Refunds make credit notes (and their refund payments); never-invoiced orders are cancelled.
    pub refund_credit_notes: bool,
    /// Delivered return shipments make return pickings.
    pub return_pickings: bool,
    /// The Odoo pricelist per Salla order currency (empty: none named).
    pub pricelists: PricelistMap,
    /// The largest difference between Odoo's total and Salla's that a rounding line may absorb,
    /// in cents of the order's currency (default 100).
    pub rounding_max_cents: i64,
    /// Salla orders dated from then on are created without a search of their marker in Odoo
    /// unless a creation intent says an earlier try may have made them (see the sync crate's
    /// `order` module); older ones are always searched first.
    #[serde(with = "time::serde::rfc3339")]
    pub order_intents_since: OffsetDateTime,
    /// What the store's Odoo supports as last probed, and when; `None`: unknown. Not part of the
    /// operator's view (it is the client's cache, not a setting).
    #[serde(skip)]
    pub odoo_capabilities: Option<StoredCapabilities>,
}

/// A store's Odoo capabilities as a client probed them (the odoo crate's `Capabilities`, as JSON:
/// this crate does not decode it) and when.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCapabilities {
    pub capabilities: serde_json::Value,
    pub probed_at: OffsetDateTime,
}

impl StoredCapabilities {
    /// From the `odoo_capabilities` and `odoo_capabilities_at` columns (both set, or unknown).
    fn from_columns(
        json: Option<sqlx::types::Json<serde_json::Value>>,
        probed_at: Option<OffsetDateTime>,
    ) -> Option<Self> {
        Some(StoredCapabilities {
            capabilities: json?.0,
            probed_at: probed_at?,
        })
    }
}

/// What Salla is told of a product's Odoo stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StockQuantity {
    /// On hand less reserved for deliveries, never negative (what can still be sold).
    #[default]
    Available,
    /// On hand.
    OnHand,
}

impl StockQuantity {
    pub fn as_str(self) -> &'static str {
        match self {
            StockQuantity::Available => "available",
            StockQuantity::OnHand => "on_hand",
        }
    }
}

impl std::str::FromStr for StockQuantity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().replace('-', "_").as_str() {
            "available" => Ok(StockQuantity::Available),
            "on_hand" => Ok(StockQuantity::OnHand),
            other => Err(format!("{other:?} is not available or on-hand")),
        }
    }
}

/// A change to a store's settings: only the `Some` fields change.
#[derive(Debug, Clone, Default)]
pub struct StoreUpdate {
    pub status: Option<String>,
    pub odoo_url: Option<String>,
    pub odoo_database: Option<String>,
    pub odoo_login: Option<String>,
    pub odoo_api_key: Option<SecretString>,
    pub odoo_version_override: Option<u8>,
    pub warehouse_id: Option<i64>,
    pub pricelist_id: Option<i64>,
    pub currency: Option<String>,
    pub tax_id: Option<i64>,
    pub prices_include_tax: Option<bool>,
    /// The whole map (not a diff): build it with [`StatusMap::with_overrides`].
    pub status_map: Option<StatusMap>,
    pub create_unknown_skus: Option<bool>,
    pub stock_master: Option<StockMaster>,
    pub stock_quantity: Option<StockQuantity>,
    /// `Some(None)`: stop reporting deliveries to Salla.
    pub fulfilment_status: Option<Option<String>>,
    pub variants: Option<VariantLayout>,
    /// `Some(None)`: no fallback payment journal.
    pub payment_journal_id: Option<Option<i64>>,
    /// The whole map (not a diff).
    pub payment_journals: Option<BTreeMap<String, i64>>,
    pub refund_credit_notes: Option<bool>,
    pub return_pickings: Option<bool>,
    /// The whole map (not a diff): build it with [`PricelistMap::with_overrides`].
    pub pricelists: Option<PricelistMap>,
    pub rounding_max_cents: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct SettingsRow {
    merchant_id: i64,
    status: String,
    odoo_url: Option<String>,
    odoo_database: Option<String>,
    odoo_login: Option<String>,
    odoo_version_override: Option<i16>,
    warehouse_id: Option<i64>,
    pricelist_id: Option<i64>,
    currency: Option<String>,
    tax_id: Option<i64>,
    prices_include_tax: bool,
    status_map: Option<sqlx::types::Json<serde_json::Value>>,
    create_unknown_skus: bool,
    stock_master: String,
    stock_quantity: String,
    fulfilment_status: Option<String>,
    updated_at: OffsetDateTime,
    variants: String,
    payment_journal_id: Option<i64>,
    payment_journals: Option<sqlx::types::Json<serde_json::Value>>,
    refund_credit_notes: bool,
    return_pickings: bool,
    pricelists: Option<sqlx::types::Json<serde_json::Value>>,
    rounding_max_cents: i64,
    created_at: OffsetDateTime,
    order_intents_since: Option<OffsetDateTime>,
    odoo_capabilities: Option<sqlx::types::Json<serde_json::Value>>,
    odoo_capabilities_at: Option<OffsetDateTime>,
}

const SETTINGS_COLUMNS: &str = "merchant_id, status, odoo_url, odoo_database, odoo_login, \
     odoo_version_override, warehouse_id, pricelist_id, currency, tax_id, prices_include_tax, \
     status_map, create_unknown_skus, stock_master, stock_quantity, fulfilment_status, updated_at, \
     variants, payment_journal_id, payment_journals, refund_credit_notes, return_pickings, \
     pricelists, rounding_max_cents, created_at, order_intents_since, odoo_capabilities, \
     odoo_capabilities_at";

/// [`SETTINGS_COLUMNS`] of the stores (aliased `s`), each with its sealed Odoo API key (`k`, by
/// `LEFT JOIN`: a store may have none; `$1` names the key), then `tail`.
fn settings_with_key_sql(tail: &str) -> String {
    let columns: Vec<String> = SETTINGS_COLUMNS
        .split(',')
        .map(|c| format!("s.{}", c.trim()))
        .collect();
    format!(
        "SELECT {}, k.key_id AS key_key_id, k.nonce AS key_nonce, k.ciphertext AS key_ciphertext \
         FROM stores s LEFT JOIN secrets k ON k.merchant_id = s.merchant_id AND k.name = $1 {tail}",
        columns.join(", ")
    )
}

/// The statement of [`load_settings`] (`$2`: the merchant).
static LOAD_SETTINGS_SQL: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| settings_with_key_sql("WHERE s.merchant_id = $2"));

/// The statement of [`list_settings`].
static LIST_SETTINGS_SQL: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| settings_with_key_sql("ORDER BY s.merchant_id"));

fn stock_master_str(m: StockMaster) -> &'static str {
    match m {
        StockMaster::Odoo => "odoo",
        StockMaster::Salla => "salla",
    }
}

impl SettingsRow {
    fn into_settings(self, api_key: Option<SecretString>) -> Result<StoreSettings, StoreError> {
        let merchant = MerchantId::new(crate::from_db_id(self.merchant_id));
        let status_map = match self.status_map {
            None => StatusMap::default(),
            Some(json) => serde_json::from_value(json.0).map_err(|e| {
                StoreError::Decode(format!("status_map of merchant {merchant}: {e}"))
            })?,
        };
        let stock_master = self.stock_master.parse().map_err(|e: String| {
            StoreError::Decode(format!("stock_master of merchant {merchant}: {e}"))
        })?;
        let stock_quantity = self.stock_quantity.parse().map_err(|e: String| {
            StoreError::Decode(format!("stock_quantity of merchant {merchant}: {e}"))
        })?;
        let variants = self.variants.parse().map_err(|e: String| {
            StoreError::Decode(format!("variants of merchant {merchant}: {e}"))
        })?;
        let payment_journals = match self.payment_journals {
            None => BTreeMap::new(),
            Some(json) => serde_json::from_value(json.0).map_err(|e| {
                StoreError::Decode(format!("payment_journals of merchant {merchant}: {e}"))
            })?,
        };
        let pricelists = match self.pricelists {
            None => PricelistMap::default(),
            Some(json) => serde_json::from_value(json.0).map_err(|e| {
                StoreError::Decode(format!("pricelists of merchant {merchant}: {e}"))
            })?,
        };
        let odoo = match (self.odoo_url, self.odoo_database, self.odoo_login, api_key) {
            (Some(url), Some(database), Some(login), Some(api_key)) => Some(OdooConnection {
                url,
                database,
                login,
                api_key,
                version_override: self
                    .odoo_version_override
                    .and_then(|v| u8::try_from(v).ok()),
            }),
            _ => None,
        };
        Ok(StoreSettings {
            merchant,
            status: self.status,
            odoo,
            warehouse_id: self.warehouse_id,
            pricelist_id: self.pricelist_id,
            currency: self.currency,
            tax_id: self.tax_id,
            prices_include_tax: self.prices_include_tax,
            status_map,
            create_unknown_skus: self.create_unknown_skus,
            stock_master,
            stock_quantity,
            fulfilment_status: self.fulfilment_status,
            updated_at: self.updated_at,
            variants,
            payment_journal_id: self.payment_journal_id,
            payment_journals,
            refund_credit_notes: self.refund_credit_notes,
            return_pickings: self.return_pickings,
            pricelists,
            rounding_max_cents: self.rounding_max_cents,
            order_intents_since: self.order_intents_since.unwrap_or(self.created_at),
            odoo_capabilities: StoredCapabilities::from_columns(
                self.odoo_capabilities,
                self.odoo_capabilities_at,
            ),
        })
    }
}

/// A store's settings with its Odoo API key decrypted; `None` when the store is unknown.
/// A key no configured encryption key opens is a permanent [`StoreError::Crypto`].
pub async fn load_settings(
    db: &Db,
    keyring: &Keyring,
    merchant: MerchantId,
) -> Result<Option<StoreSettings>, StoreError> {
    let id = db_id(merchant)?;
    // One round trip for the settings and the sealed API key: every job starts here.
    let row: Option<SettingsWithKey> = on_db!(db, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(LOAD_SETTINGS_SQL.as_str()))
        .bind(secrets::ODOO_API_KEY)
        .bind(id)
        .fetch_optional(pool)
        .await?
    });
    row.map(|row| row.into_settings(keyring)).transpose()
}

/// A store's row with its sealed Odoo API key, if one is stored (see [`load_settings`]).
#[derive(sqlx::FromRow)]
struct SettingsWithKey {
    #[sqlx(flatten)]
    settings: SettingsRow,
    key_key_id: Option<String>,
    key_nonce: Option<Vec<u8>>,
    key_ciphertext: Option<Vec<u8>>,
}

impl SettingsWithKey {
    fn into_settings(self, keyring: &Keyring) -> Result<StoreSettings, StoreError> {
        let api_key = match (self.key_key_id, self.key_nonce, self.key_ciphertext) {
            (Some(key_id), Some(nonce), Some(ciphertext)) => Some(secrets::open_row(
                keyring,
                self.settings.merchant_id,
                secrets::ODOO_API_KEY,
                &secrets::Sealed {
                    key_id,
                    nonce,
                    ciphertext,
                },
            )?),
            _ => None,
        };
        self.settings.into_settings(api_key)
    }
}

/// Every store's settings, by merchant id (API keys decrypted), in one query.
pub async fn list_settings(db: &Db, keyring: &Keyring) -> Result<Vec<StoreSettings>, StoreError> {
    let rows: Vec<SettingsWithKey> = on_db!(db, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(LIST_SETTINGS_SQL.as_str()))
        .bind(secrets::ODOO_API_KEY)
        .fetch_all(pool)
        .await?
    });
    rows.into_iter()
        .map(|row| row.into_settings(keyring))
        .collect()
}

/// The store's row, created (`installed`) when it does not exist yet; nothing else changes
/// (`$1`: the merchant). Settings and tokens can arrive before `app.installed`.
pub(crate) const ENSURE_STORE_SQL: &str =
    "INSERT INTO stores (merchant_id, status, installed_at) VALUES ($1, 'installed', now())
     ON CONFLICT (merchant_id) DO NOTHING";

/// Apply `update` to a store's settings, creating the store (status `installed`) if it does not
/// exist; the API key, when given, is sealed into `secrets` in the same transaction.
pub async fn upsert_settings(
    db: &Db,
    keyring: &Keyring,
    merchant: MerchantId,
    update: &StoreUpdate,
) -> Result<StoreSettings, StoreError> {
    let id = db_id(merchant)?;
    if let Some(status) = &update.status
        && !matches!(status.as_str(), "installed" | "uninstalled")
    {
        return Err(StoreError::Invalid(format!(
            "store status {status:?} is not installed or uninstalled"
        )));
    }
    if let Some(v) = update.odoo_version_override
        && !(16..=99).contains(&v)
    {
        return Err(StoreError::Invalid(format!(
            "Odoo version override {v} is not a supported major version (16 or later)"
        )));
    }
    let status_map = update
        .status_map
        .as_ref()
        .map(|m| serde_json::to_value(m).map(sqlx::types::Json))
        .transpose()
        .map_err(|e| StoreError::Invalid(format!("status map: {e}")))?;
    if let Some(map) = &update.payment_journals
        && let Some((method, id)) = map.iter().find(|(m, id)| m.trim().is_empty() || **id <= 0)
    {
        return Err(StoreError::Invalid(format!(
            "payment journal {id} for payment method {method:?}: expected a method slug and a \
             positive account.journal id"
        )));
    }
    let payment_journals = update
        .payment_journals
        .as_ref()
        .map(|m| serde_json::to_value(m).map(sqlx::types::Json))
        .transpose()
        .map_err(|e| StoreError::Invalid(format!("payment journals: {e}")))?;
    if let Some(c) = update.rounding_max_cents
        && c < 0
    {
        return Err(StoreError::Invalid(format!(
            "rounding limit {c} cents is negative"
        )));
    }
    let pricelists = update
        .pricelists
        .as_ref()
        .map(|m| serde_json::to_value(m).map(sqlx::types::Json))
        .transpose()
        .map_err(|e| StoreError::Invalid(format!("pricelists: {e}")))?;
    // Another Odoo (or the same one seen by another user, whose rights shape `fields_get`): what
    // was probed of the old one no longer holds.
    let connection_changes = update.odoo_url.is_some()
        || update.odoo_database.is_some()
        || update.odoo_login.is_some()
        || update.odoo_api_key.is_some()
        || update.odoo_version_override.is_some();
    let insert_sql = db.with_now(ENSURE_STORE_SQL);
    let update_sql = db.with_now(
        "UPDATE stores SET
            status = COALESCE($2, status),
            odoo_url = COALESCE($3, odoo_url),
            odoo_database = COALESCE($4, odoo_database),
            odoo_login = COALESCE($5, odoo_login),
            odoo_version_override = COALESCE($6, odoo_version_override),
            warehouse_id = COALESCE($7, warehouse_id),
            pricelist_id = COALESCE($8, pricelist_id),
            currency = COALESCE($9, currency),
            tax_id = COALESCE($10, tax_id),
            prices_include_tax = COALESCE($11, prices_include_tax),
            status_map = COALESCE($12, status_map),
            create_unknown_skus = COALESCE($13, create_unknown_skus),
            stock_master = COALESCE($14, stock_master),
            stock_quantity = COALESCE($15, stock_quantity),
            fulfilment_status = CASE WHEN $16 THEN $17 ELSE fulfilment_status END,
            payment_journal_id = CASE WHEN $18 THEN $19 ELSE payment_journal_id END,
            payment_journals = COALESCE($20, payment_journals),
            refund_credit_notes = COALESCE($21, refund_credit_notes),
            return_pickings = COALESCE($22, return_pickings),
            variants = COALESCE($23, variants),
            pricelists = COALESCE($24, pricelists),
            rounding_max_cents = COALESCE($25, rounding_max_cents),
            odoo_capabilities = CASE WHEN $26 THEN NULL ELSE odoo_capabilities END,
            odoo_capabilities_at = CASE WHEN $26 THEN NULL ELSE odoo_capabilities_at END,
            updated_at = now()
         WHERE merchant_id = $1",
    );
    on_db!(db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query(insert_sql).bind(id).execute(&mut *tx).await?;
        sqlx::query(update_sql)
            .bind(id)
            .bind(update.status.as_deref())
            .bind(update.odoo_url.as_deref())
            .bind(update.odoo_database.as_deref())
            .bind(update.odoo_login.as_deref())
            .bind(update.odoo_version_override.map(i16::from))
            .bind(update.warehouse_id)
            .bind(update.pricelist_id)
            .bind(update.currency.as_deref())
            .bind(update.tax_id)
            .bind(update.prices_include_tax)
            .bind(status_map)
            .bind(update.create_unknown_skus)
            .bind(update.stock_master.map(stock_master_str))
            .bind(update.stock_quantity.map(StockQuantity::as_str))
            .bind(update.fulfilment_status.is_some())
            .bind(update.fulfilment_status.clone().flatten())
            .bind(update.payment_journal_id.is_some())
            .bind(update.payment_journal_id.flatten())
            .bind(payment_journals)
            .bind(update.refund_credit_notes)
            .bind(update.return_pickings)
            .bind(update.variants.map(VariantLayout::as_str))
            .bind(pricelists)
            .bind(update.rounding_max_cents)
            .bind(connection_changes)
            .execute(&mut *tx)
            .await?;
        if let Some(key) = &update.odoo_api_key {
            secrets::put_secret_on(
                crate::Conn::from(&mut *tx),
                keyring,
                merchant,
                secrets::ODOO_API_KEY,
                key.expose_secret(),
                None,
            )
            .await?;
        }
        tx.commit().await?;
    });
    load_settings(db, keyring, merchant)
        .await?
        .ok_or_else(|| StoreError::Invalid(format!("store {merchant} vanished while updating")))
}

/// A store's Odoo capabilities as last probed; `None` when unknown (or the store is).
pub async fn odoo_capabilities(
    db: &Db,
    merchant: MerchantId,
) -> Result<Option<StoredCapabilities>, StoreError> {
    let id = db_id(merchant)?;
    type Row = (
        Option<sqlx::types::Json<serde_json::Value>>,
        Option<OffsetDateTime>,
    );
    let row: Option<Row> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT odoo_capabilities, odoo_capabilities_at FROM stores WHERE merchant_id = $1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await?
    });
    Ok(row.and_then(|(json, at)| StoredCapabilities::from_columns(json, at)))
}

/// Keep what a client probed of a store's Odoo (`capabilities`, probed at `probed_at`). With
/// `settings_at` (the `updated_at` of the settings the client was built from), only if the
/// settings have not changed since: a probe of an Odoo the store no longer uses is not kept.
/// `updated_at` is left as it is. `false` when nothing was written (unknown store, settings
/// changed).
pub async fn set_odoo_capabilities(
    db: &Db,
    merchant: MerchantId,
    capabilities: &serde_json::Value,
    probed_at: OffsetDateTime,
    settings_at: Option<OffsetDateTime>,
) -> Result<bool, StoreError> {
    let id = db_id(merchant)?;
    let written = on_db!(db, pool => {
        sqlx::query(
            "UPDATE stores SET odoo_capabilities = $2, odoo_capabilities_at = $3
             WHERE merchant_id = $1 AND ($4 IS NULL OR updated_at = $4)",
        )
        .bind(id)
        .bind(sqlx::types::Json(capabilities))
        .bind(Timestamp(probed_at))
        .bind(settings_at.map(Timestamp))
        .execute(pool)
        .await?
        .rows_affected()
    });
    Ok(written == 1)
}

/// Forget what was probed of a store's Odoo (the next client probes again); `true` if some was
/// kept. `updated_at` is left as it is.
pub async fn clear_odoo_capabilities(db: &Db, merchant: MerchantId) -> Result<bool, StoreError> {
    let id = db_id(merchant)?;
    let cleared = on_db!(db, pool => {
        sqlx::query(
            "UPDATE stores SET odoo_capabilities = NULL, odoo_capabilities_at = NULL
             WHERE merchant_id = $1 AND odoo_capabilities IS NOT NULL",
        )
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected()
    });
    Ok(cleared == 1)
}

/// Disconnect a store (`app.uninstalled`): status `uninstalled`, its purge scheduled at
/// `purge_after`. `None` when the store is unknown. Re-installing ([`upsert_installed`]) before
/// the purge clears the schedule and keeps everything else.
pub async fn mark_uninstalled(
    db: &Db,
    merchant: MerchantId,
    purge_after: OffsetDateTime,
) -> Result<Option<StoreRow>, StoreError> {
    let sql = db.with_now(
        "UPDATE stores SET status = 'uninstalled', uninstalled_at = now(), purge_after = $2,
            updated_at = now()
         WHERE merchant_id = $1
         RETURNING merchant_id, status, app_id, store_type, installed_at, uninstalled_at",
    );
    let id = db_id(merchant)?;
    Ok(on_db!(db, pool => {
        sqlx::query_as::<_, StoreRow>(sql)
            .bind(id)
            .bind(Timestamp(purge_after))
            .fetch_optional(pool)
            .await?
    }))
}

/// When an uninstalled store's data is due to be purged (`None`: not scheduled).
pub async fn purge_after(
    db: &Db,
    merchant: MerchantId,
) -> Result<Option<OffsetDateTime>, StoreError> {
    let id = db_id(merchant)?;
    let at: Option<Option<OffsetDateTime>> = on_db!(db, pool => {
        sqlx::query_scalar("SELECT purge_after FROM stores WHERE merchant_id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?
    });
    Ok(at.flatten())
}

/// Uninstalled stores whose purge is due at `now`, oldest first.
pub async fn due_for_purge(db: &Db, now: OffsetDateTime) -> Result<Vec<MerchantId>, StoreError> {
    let ids: Vec<i64> = on_db!(db, pool => {
        sqlx::query_scalar(
            "SELECT merchant_id FROM stores
             WHERE status = 'uninstalled' AND purge_after IS NOT NULL AND purge_after <= $1
             ORDER BY purge_after, merchant_id",
        )
        .bind(Timestamp(now))
        .fetch_all(pool)
        .await?
    });
    Ok(ids
        .into_iter()
        .map(|i| MerchantId::new(crate::from_db_id(i)))
        .collect())
}

/// Whether a store has an Odoo URL configured (whatever the state of its API key).
pub async fn has_odoo_connection(db: &Db, merchant: MerchantId) -> Result<bool, StoreError> {
    let id = db_id(merchant)?;
    let url: Option<Option<String>> = on_db!(db, pool => {
        sqlx::query_scalar("SELECT odoo_url FROM stores WHERE merchant_id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?
    });
    Ok(url.flatten().is_some())
}

/// Delete a store's row (settings included); `true` if it existed. Part of the purge: the caller
/// deletes the store's other rows too.
pub async fn delete(db: &Db, merchant: MerchantId) -> Result<bool, StoreError> {
    let id = db_id(merchant)?;
    let deleted = on_db!(db, pool => {
        sqlx::query("DELETE FROM stores WHERE merchant_id = $1")
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
    });
    Ok(deleted == 1)
}
