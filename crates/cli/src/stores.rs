//! `salla-odoo store …` and `salla-odoo secrets …`: store settings and encrypted secrets.
//!
//! Secrets never pass through argv (the Odoo API key is read from the environment variable named
//! by `--odoo-api-key-env`) and never reach the output: settings are printed through their
//! serialised view, which writes `[set]` for the key.

use std::collections::BTreeMap;
use std::io::Write;

use clap::{Args, Subcommand};
use salla_odoo_core::{MerchantId, Settings, StatusMap, StockMaster};
use salla_odoo_store::Db;
use salla_odoo_store::stores::{self, StoreSettings, StoreUpdate};
use salla_odoo_store::tokens::{self, ApiState, TokenStatus};
use salla_odoo_store::{Keyring, StoreError, secrets};
use secrecy::SecretString;
use time::OffsetDateTime;

use crate::CliError;

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Connect a store to its Odoo: URL, database, login and API key, plus its sync options.
    /// Creates the store if `app.installed` has not yet; refuses a store that already has an Odoo
    /// connection (use `store update`). The API key is read from the environment variable named
    /// by --odoo-api-key-env, never from the command line, and is stored encrypted.
    /// Needs SALLA_ODOO__SECRETS__KEY.
    ///
    /// Then it checks the Odoo user the connector acts as, and says exactly what to fix in Odoo
    /// (the store is saved either way; `salla-odoo doctor` checks again): that the user has an
    /// email address, because Odoo refuses every call that posts a chatter message in its name
    /// ("Unable to send message, please configure the sender's email address.": the payment of
    /// an invoice from a sale order, the refund payment of a credit note, creating a return
    /// picking) and rolls it back, and that it has the groups the store's enabled steps need
    /// (Sales / User for orders, Invoicing / Billing for invoices, payments and credit notes,
    /// Inventory / User for deliveries and return pickings).
    ///
    /// Products with options (--variants, default templates): a Salla product with options and
    /// SKUs becomes one Odoo product template with an attribute line per option (attributes and
    /// values matched by name, created when missing) and one variant per Salla SKU, found by its
    /// SKU (the internal reference); each variant takes its SKU's barcode and active flag, and
    /// order lines point at the variant. The template lists the product's price and each option
    /// value a price extra, where Salla's SKU prices are the product price plus one amount per
    /// value; when they are not, the extras stay zero and the sync log says so (order lines carry
    /// Salla's prices either way). --variants separate keeps one Odoo product per SKU (the layout
    /// of stores registered before templates, which keep it); a product Odoo already has as
    /// separate products stays that way in either layout, matched by SKU, never duplicated.
    ///
    /// Safe while workers run: a job already running finishes with the settings it started with;
    /// later jobs for the store use the new ones.
    Add(StoreAddArgs),
    /// Change some of a store's settings; options not given stay as they are. --status-map
    /// overrides the store's current map slug by slug. Needs SALLA_ODOO__SECRETS__KEY.
    ///
    /// Safe while workers run: a job already running finishes with the settings it started with;
    /// later jobs for the store use the new ones.
    Update(StoreUpdateArgs),
    /// Show one store's settings (the API key only as `[set]`) and its Salla API token state
    /// (never a token). Read-only: safe while workers run. Needs SALLA_ODOO__SECRETS__KEY.
    Show {
        /// Salla merchant (store) id.
        #[arg(long)]
        merchant: MerchantId,
    },
    /// List every store and its Odoo connection (keys only as `[set]`).
    /// Read-only: safe while workers run. Needs SALLA_ODOO__SECRETS__KEY.
    List,
    /// Show a store's Salla Merchant API token state, never a token: ok, needs reinstall (why and
    /// since when, and what to do) or none (no app.store.authorize received), the access token's
    /// expiry, whether a refresh token is held, the granted scopes and the last refresh. Without
    /// --merchant (or with --all): every store.
    ///
    /// Read-only: safe while workers run. Needs no secrets key.
    Tokens {
        /// Salla merchant (store) id.
        #[arg(long, conflicts_with = "all")]
        merchant: Option<MerchantId>,
        /// Every store (the default without --merchant).
        #[arg(long)]
        all: bool,
    },
    /// Import a store's history from Salla: every order changed in the last --days days (default
    /// reconcile.backfill_days) that Odoo lacks or holds in an older version is queued, as a
    /// reconciliation from that day does, after the products those orders use that Odoo lacks,
    /// with a progress line on a terminal. Runs by itself after a new store's first
    /// app.store.authorize. Needs the Salla API configured and the store's tokens. Safe while
    /// workers run (they sync what it queues).
    Backfill {
        /// Salla merchant (store) id.
        #[arg(long)]
        merchant: MerchantId,
        /// How many days back.
        #[arg(long)]
        days: Option<u32>,
    },
    /// Remove everything the connector keeps about a store: settings, secrets, id map, sync log,
    /// dead letters (one Postgres transaction) and its jobs waiting in the queue, then print what
    /// was removed. Irreversible: needs --yes (or --dry-run to only count).
    ///
    /// Safe while workers run: a job of the store already running finishes and, its settings gone,
    /// fails permanently; run the purge again afterwards to remove that outcome too.
    Purge {
        /// Salla merchant (store) id.
        #[arg(long)]
        merchant: MerchantId,
        /// Confirm the purge.
        #[arg(long)]
        yes: bool,
        /// Count what would be removed; remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Re-encrypt every stored secret (Odoo API keys, Salla tokens) under secrets.key and print
    /// how many were rewritten. Run it after moving the old key to secrets.previous_keys; when it
    /// reports success, the old key can be removed. Idempotent.
    ///
    /// Safe while workers run, provided every running process can open both keys (the new key as
    /// secrets.key or in secrets.previous_keys): each secret is rewritten in one statement and
    /// stays readable throughout.
    Rotate,
    /// Count stored secrets by the key id they are sealed under, and say whether each key is
    /// configured. Read-only: safe while workers run. Needs SALLA_ODOO__SECRETS__KEY.
    Status,
}

/// Sync options shared by `store add` and `store update`.
#[derive(Debug, Args)]
pub struct OptionArgs {
    /// Use this Odoo major version instead of probing the server.
    #[arg(long, value_parser = clap::value_parser!(u8).range(16..=19))]
    pub odoo_version: Option<u8>,
    /// Odoo `stock.warehouse` id for deliveries and stock.
    #[arg(long, value_parser = clap::value_parser!(i64).range(1..))]
    pub warehouse_id: Option<i64>,
    /// Odoo `product.pricelist` id for the store's orders.
    #[arg(long, value_parser = clap::value_parser!(i64).range(1..))]
    pub pricelist_id: Option<i64>,
    /// The Salla store's currency (ISO 4217, default SAR): the currency of an order that names
    /// none, and what `doctor` compares Odoo's default pricelist with.
    #[arg(long, value_parser = parse_currency)]
    pub currency: Option<String>,
    /// Odoo `account.tax` id applied to Salla prices.
    #[arg(long, value_parser = clap::value_parser!(i64).range(1..))]
    pub tax_id: Option<i64>,
    /// Salla status slug → Odoo step overrides, e.g. `shipped=deliver,restored=refund`
    /// (steps: quotation, confirm, deliver, complete, cancel, refund).
    #[arg(long, value_name = "SLUG=STEP,…")]
    pub status_map: Option<String>,
    /// Which side owns stock quantities: odoo (default) or salla.
    #[arg(long, value_name = "odoo|salla")]
    pub stock_master: Option<StockMaster>,
    /// With Odoo as stock master, what Salla is told: available (on hand less reserved, never
    /// negative; the default) or on-hand.
    #[arg(long, value_name = "available|on-hand")]
    pub stock_quantity: Option<salla_odoo_store::stores::StockQuantity>,
    /// The Salla status a validated Odoo delivery moves the order to (default delivered), or
    /// `off` to not report deliveries to Salla.
    #[arg(long, value_name = "SLUG|off")]
    pub fulfilment_status: Option<String>,
    /// How a Salla product with options and SKUs is kept in Odoo: templates (one product
    /// template with attribute lines, one variant per SKU; the default) or separate (one product
    /// per SKU). Products already in Odoo keep their layout.
    #[arg(long, value_name = "templates|separate")]
    pub variants: Option<salla_odoo_core::VariantLayout>,
    /// Payments: the Odoo journal (`account.journal` id, bank or cash) a Salla order's payment is
    /// registered in, per Salla payment method, e.g. `mada=6,credit_card=6,apple_pay=6,cod=7`;
    /// `METHOD=off` removes one (`store update` changes the store's map method by method).
    ///
    /// An order paid online (any payment method but `cod`, and Salla says it is paid: it is not
    /// pending payment and its status is not payment_pending, payment_failed,
    /// waiting_for_payment_confirmation or canceled) gets its payment registered against its
    /// posted invoice once the order is delivered/completed (the status step `complete` posts
    /// the invoice), with Odoo's own payment wizard (account.payment.register). A cash-on-delivery
    /// order (`cod`) is paid the same way when it is delivered/completed, in the `cod` journal.
    /// The invoice ends `paid` or `in_payment`, as Odoo decides from the journal's outstanding
    /// accounts. The payment's memo is the order's marker (salla:<merchant>:<order>): a payment
    /// with it is looked up before one is registered, so none is ever registered twice. A method
    /// with no journal here falls back to --payment-journal; with neither, no payment is
    /// registered and the sync log says why. Default: none (payments off).
    #[arg(long, value_name = "METHOD=JOURNAL_ID,…")]
    pub payment_journals: Option<String>,
    /// Payments: the journal (`account.journal` id) for every Salla payment method that
    /// --payment-journals does not name, or `off`. Default: none.
    #[arg(long, value_name = "JOURNAL_ID|off")]
    pub payment_journal: Option<String>,
    /// Refunds (on by default): `order.refunded`, a status mapped to `refund` (default: the slug
    /// `refunded`; e.g. --status-map restored=refund), or an amount refunded in the order make a
    /// credit note reversing the order's posted invoice with Odoo's reversal wizard: in full, or
    /// for the amount refunded when Salla says it is less than the total (the draft credit note's
    /// lines are written down before it is posted). When the invoice had been paid, the credit
    /// note's refund payment is registered in the journal of the order's payment. What earlier
    /// credit notes of the invoice credit is deducted, so a refund is never credited twice. A
    /// refunded order that was never invoiced is cancelled instead. `off`: refunds are recorded
    /// in the sync log and left to the accountant.
    #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
    pub refund_credit_notes: Option<bool>,
    /// Returns (on by default): a return shipment (`shipment.*` of type `return`) whose status is
    /// `delivered` makes a return picking of its items (SKU and quantity; all of the delivery
    /// when it lists none) from the order's done delivery, back into the store's warehouse, and
    /// validates it, once (the return picking's origin carries salla:<merchant>:shipment:<id>).
    /// A return shipment never changes the delivery's tracking. `off`: return shipments are
    /// skipped with that reason.
    #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
    pub return_pickings: Option<bool>,
    /// The Odoo pricelist for each Salla order currency, e.g. `SAR=1,USD=3`.
    ///
    /// A sale order's currency is its Salla order's currency, and in Odoo the pricelist decides it
    /// (a currency_id given at create is silently replaced by the pricelist's). So each order uses
    /// the pricelist named here for its currency; a currency not named uses --pricelist-id when
    /// that pricelist is in the currency, else the one pricelist Odoo holds in it (the first by
    /// sequence). When none is in the order's currency the order fails permanently, naming the
    /// currency and this setting: nothing is ever written in another currency. On `store update`
    /// the entries change currency by currency: `USD=none` removes one, `none` all. Default: none
    /// named.
    #[arg(long, value_name = "CUR=ID,…")]
    pub pricelists: Option<String>,
    /// The largest difference (in the order's currency) a rounding line may absorb, e.g. 1.00.
    ///
    /// Every sale order's amount_total equals its Salla order's amounts.total to the cent. An
    /// order-level discount Salla did not spread over the items becomes a discount line
    /// (SALLA-DISCOUNT); where Odoo's rounding (per line, discounts as 2-decimal percentages, tax
    /// per line) cannot reach Salla's figure, a tax-free rounding line (SALLA-ROUNDING) makes up the
    /// difference and the sync log says so. A larger difference fails the order permanently with
    /// both figures. A partial refund's credit note gets a rounding line the same way for the
    /// cents its written-down lines cannot reach. 0: never add a rounding line. Default: 1.00.
    #[arg(long, value_name = "AMOUNT", value_parser = salla_odoo_core::currency::parse_cents)]
    pub rounding_max: Option<i64>,
}

/// `on` / `off` (also `true`/`false`, `yes`/`no`).
fn parse_on_off(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" => Ok(true),
        "off" | "false" | "no" => Ok(false),
        other => Err(format!("{other:?} is not on or off")),
    }
}

/// `--payment-journal`: a journal id, or `off`.
fn payment_journal(arg: Option<&str>) -> Result<Option<Option<i64>>, CliError> {
    match arg.map(str::trim) {
        None => Ok(None),
        Some("off") => Ok(Some(None)),
        Some(id) => match id.parse::<i64>() {
            Ok(id) if id > 0 => Ok(Some(Some(id))),
            _ => Err(CliError::Usage(format!(
                "--payment-journal {id:?}: expected an account.journal id or off"
            ))),
        },
    }
}

/// `--payment-journals METHOD=ID,…` over `base` (`METHOD=off` removes one).
fn payment_journals(
    base: BTreeMap<String, i64>,
    spec: Option<&str>,
) -> Result<Option<BTreeMap<String, i64>>, CliError> {
    let Some(spec) = spec else {
        return Ok(None);
    };
    let mut map = base;
    for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let usage = || {
            CliError::Usage(format!(
                "--payment-journals: {pair:?} is not METHOD=JOURNAL_ID (or METHOD=off), e.g. \
                 mada=6,credit_card=6,cod=7"
            ))
        };
        let (method, id) = pair.split_once('=').ok_or_else(usage)?;
        let method = method.trim().to_ascii_lowercase();
        if method.is_empty()
            || !method
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(usage());
        }
        match id.trim() {
            "off" => {
                map.remove(&method);
            }
            id => match id.parse::<i64>() {
                Ok(id) if id > 0 => {
                    map.insert(method, id);
                }
                _ => return Err(usage()),
            },
        }
    }
    Ok(Some(map))
}

/// `--pricelists` applied to `base` (the store's current map; empty for `store add`).
fn pricelists(
    base: salla_odoo_core::PricelistMap,
    spec: Option<&str>,
) -> Result<Option<salla_odoo_core::PricelistMap>, CliError> {
    spec.map(|s| {
        base.with_overrides(s)
            .map_err(|e| CliError::Usage(format!("--pricelists: {e}")))
    })
    .transpose()
}

/// `--fulfilment-status`: a Salla status slug, or `off`.
fn fulfilment_status(arg: Option<&str>) -> Result<Option<Option<String>>, CliError> {
    match arg.map(str::trim) {
        None => Ok(None),
        Some("off") => Ok(Some(None)),
        Some(slug)
            if !slug.is_empty()
                && slug
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c == ' ') =>
        {
            Ok(Some(Some(slug.to_owned())))
        }
        Some(other) => Err(CliError::Usage(format!(
            "--fulfilment-status {other:?}: expected a Salla status slug (delivered, completed, \
             shipped, …) or off"
        ))),
    }
}

#[derive(Debug, Args)]
pub struct StoreAddArgs {
    /// Salla merchant (store) id.
    #[arg(long)]
    pub merchant: MerchantId,
    /// Odoo base URL, e.g. `https://acme.odoo.com` (no credentials in it).
    #[arg(long)]
    pub odoo_url: String,
    /// Odoo database name.
    #[arg(long)]
    pub odoo_db: String,
    /// Odoo login (user) the connector acts as.
    #[arg(long)]
    pub odoo_login: String,
    /// NAME of the environment variable holding the Odoo API key (never the key itself).
    #[arg(long, value_name = "VAR")]
    pub odoo_api_key_env: String,
    #[command(flatten)]
    pub options: OptionArgs,
    /// Salla prices exclude tax (by default they include it).
    #[arg(long)]
    pub prices_exclude_tax: bool,
    /// Create Odoo products for unknown SKUs (by default such an order fails with a clear error).
    #[arg(long)]
    pub create_unknown_skus: bool,
}

#[derive(Debug, Args)]
pub struct StoreUpdateArgs {
    /// Salla merchant (store) id.
    #[arg(long)]
    pub merchant: MerchantId,
    /// Odoo base URL (no credentials in it).
    #[arg(long)]
    pub odoo_url: Option<String>,
    /// Odoo database name.
    #[arg(long)]
    pub odoo_db: Option<String>,
    /// Odoo login.
    #[arg(long)]
    pub odoo_login: Option<String>,
    /// NAME of the environment variable holding the new Odoo API key.
    #[arg(long, value_name = "VAR")]
    pub odoo_api_key_env: Option<String>,
    #[command(flatten)]
    pub options: OptionArgs,
    /// Salla prices exclude tax.
    #[arg(long, conflicts_with = "prices_include_tax")]
    pub prices_exclude_tax: bool,
    /// Salla prices include tax.
    #[arg(long)]
    pub prices_include_tax: bool,
    /// Create Odoo products for unknown SKUs.
    #[arg(long, conflicts_with = "no_create_unknown_skus")]
    pub create_unknown_skus: bool,
    /// Fail orders with unknown SKUs instead of creating products.
    #[arg(long)]
    pub no_create_unknown_skus: bool,
}

fn parse_currency(s: &str) -> Result<String, String> {
    let c = s.trim().to_ascii_uppercase();
    if c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(c)
    } else {
        Err(format!(
            "{s:?} is not a three-letter ISO 4217 currency code"
        ))
    }
}

/// Checked here rather than by clap, whose error would echo the value (which may hold credentials).
fn parse_odoo_url(s: &str) -> Result<String, String> {
    let url = url::Url::parse(s.trim()).map_err(|e| format!("--odoo-url is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("--odoo-url must start with https:// (or http://)".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Do not echo it: it carries credentials.
        return Err(
            "--odoo-url must not contain credentials: give the login with --odoo-login and \
             the API key through --odoo-api-key-env"
                .into(),
        );
    }
    if url.host_str().is_none() {
        return Err("--odoo-url has no host".into());
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

fn non_empty(what: &str, value: &str) -> Result<String, CliError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(CliError::Usage(format!("{what} must not be empty")));
    }
    Ok(v.to_owned())
}

/// Read the API key from the environment variable named `var`. The name is echoed in errors only
/// when it looks like a conventional variable name, in case the key itself was passed by mistake.
fn api_key_from_env(var: &str) -> Result<SecretString, CliError> {
    let conventional = !var.is_empty()
        && var.len() <= 64
        && var
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && var.bytes().any(|b| b.is_ascii_uppercase());
    let shown = if conventional {
        format!("environment variable {var} (named by --odoo-api-key-env)")
    } else {
        "the environment variable named by --odoo-api-key-env (name not shown: expected an \
         UPPER_CASE variable name, not the key itself)"
            .to_owned()
    };
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Ok(SecretString::from(v.trim().to_owned())),
        Ok(_) => Err(CliError::Usage(format!(
            "{shown} is empty: it must hold the Odoo API key"
        ))),
        Err(std::env::VarError::NotPresent) => Err(CliError::Usage(format!(
            "{shown} is not set: export it with the Odoo API key"
        ))),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(CliError::Usage(format!("{shown} is not valid UTF-8")))
        }
    }
}

/// The keyring from `[secrets]`; a missing or malformed key is a configuration error (exit 2).
pub fn keyring(settings: &Settings) -> Result<Keyring, CliError> {
    settings.require_secrets_key()?;
    Keyring::from_settings(&settings.secrets).map_err(|e| CliError::Usage(e.to_string()))
}

fn status_map(base: StatusMap, spec: Option<&str>) -> Result<Option<StatusMap>, CliError> {
    spec.map(|s| {
        base.with_overrides(s)
            .map_err(|e| CliError::Usage(format!("--status-map: {e}")))
    })
    .transpose()
}

async fn purge(
    merchant: MerchantId,
    yes: bool,
    dry_run: bool,
    settings: &Settings,
    json: bool,
    out: &mut impl Write,
) -> Result<(), CliError> {
    if !yes && !dry_run {
        return Err(CliError::Usage(format!(
            "store purge removes every record of store {merchant} and cannot be undone: add --yes (or --dry-run to count)"
        )));
    }
    let pool = crate::pool(settings).await?;
    let queue = crate::queue_from(settings).await?;
    // Queue first: a job dropped here can no longer write a row after the database purge.
    let jobs = queue.drop_merchant_jobs(merchant, dry_run).await?;
    if !dry_run {
        queue.forget_merchant(merchant).await?;
    }
    let report = if dry_run {
        salla_odoo_store::purge::count(&pool, merchant).await?
    } else {
        salla_odoo_store::purge::purge_merchant(&pool, merchant).await?
    };
    if json {
        writeln!(
            out,
            "{}",
            serde_json::json!({"merchant": merchant, "dry_run": dry_run, "queued_jobs": jobs, "removed": report})
        )?;
    } else {
        let verb = if dry_run { "would remove" } else { "removed" };
        writeln!(out, "store {merchant}: {verb}")?;
        for (what, n) in [
            ("queued jobs", jobs),
            ("store settings", report.stores),
            ("secrets", report.secrets),
            ("id map entries", report.id_map),
            ("sync log entries", report.sync_log),
            ("dead letters", report.dead_letters),
        ] {
            writeln!(out, "  {what:<17} {n}")?;
        }
    }
    Ok(())
}

pub async fn run_store(
    command: StoreCommand,
    settings: &Settings,
    json: bool,
    out: &mut impl Write,
) -> Result<(), CliError> {
    if let StoreCommand::Purge {
        merchant,
        yes,
        dry_run,
    } = command
    {
        return purge(merchant, yes, dry_run, settings, json, out).await;
    }
    if let StoreCommand::Tokens { merchant, all: _ } = command {
        return show_tokens(merchant, settings, json, out).await;
    }
    if let StoreCommand::Backfill { merchant, days } = command {
        let days = days.unwrap_or(settings.reconcile.backfill_days);
        return crate::reconcile::backfill(settings, merchant.get(), days, json, out).await;
    }
    let keyring = keyring(settings)?;
    let pool = crate::pool(settings).await?;
    match command {
        StoreCommand::Add(args) => {
            let update = StoreUpdate {
                odoo_url: Some(parse_odoo_url(&args.odoo_url).map_err(CliError::Usage)?),
                odoo_database: Some(non_empty("--odoo-db", &args.odoo_db)?),
                odoo_login: Some(non_empty("--odoo-login", &args.odoo_login)?),
                odoo_api_key: Some(api_key_from_env(&args.odoo_api_key_env)?),
                odoo_version_override: args.options.odoo_version,
                warehouse_id: args.options.warehouse_id,
                pricelist_id: args.options.pricelist_id,
                currency: args.options.currency,
                tax_id: args.options.tax_id,
                prices_include_tax: Some(!args.prices_exclude_tax),
                status_map: Some(
                    status_map(StatusMap::default(), args.options.status_map.as_deref())?
                        .unwrap_or_default(),
                ),
                create_unknown_skus: Some(args.create_unknown_skus),
                stock_master: Some(args.options.stock_master.unwrap_or_default()),
                stock_quantity: args.options.stock_quantity,
                fulfilment_status: fulfilment_status(args.options.fulfilment_status.as_deref())?,
                variants: Some(args.options.variants.unwrap_or_default()),
                payment_journal_id: payment_journal(args.options.payment_journal.as_deref())?,
                payment_journals: payment_journals(
                    BTreeMap::new(),
                    args.options.payment_journals.as_deref(),
                )?,
                refund_credit_notes: args.options.refund_credit_notes,
                return_pickings: args.options.return_pickings,
                pricelists: pricelists(Default::default(), args.options.pricelists.as_deref())?,
                rounding_max_cents: args.options.rounding_max,
                ..Default::default()
            };
            if stores::has_odoo_connection(&pool, args.merchant).await? {
                return Err(CliError::Failed(format!(
                    "store {} already has an Odoo connection: change it with `salla-odoo store \
                     update --merchant {}`",
                    args.merchant, args.merchant
                )));
            }
            let saved = stores::upsert_settings(&pool, &keyring, args.merchant, &update).await?;
            // The Odoo user it acts as: its email address and groups (saved either way); what
            // the Odoo supports is kept for the workers.
            let checks = odoo_user_checks(&pool, &saved).await;
            print_added(out, json, &saved, &checks)?;
        }
        StoreCommand::Update(args) => {
            let current = stores::load_settings(&pool, &keyring, args.merchant)
                .await?
                .ok_or_else(|| no_store(args.merchant))?;
            let update = StoreUpdate {
                odoo_url: args
                    .odoo_url
                    .as_deref()
                    .map(parse_odoo_url)
                    .transpose()
                    .map_err(CliError::Usage)?,
                odoo_database: args
                    .odoo_db
                    .as_deref()
                    .map(|d| non_empty("--odoo-db", d))
                    .transpose()?,
                odoo_login: args
                    .odoo_login
                    .as_deref()
                    .map(|l| non_empty("--odoo-login", l))
                    .transpose()?,
                odoo_api_key: args
                    .odoo_api_key_env
                    .as_deref()
                    .map(api_key_from_env)
                    .transpose()?,
                odoo_version_override: args.options.odoo_version,
                warehouse_id: args.options.warehouse_id,
                pricelist_id: args.options.pricelist_id,
                currency: args.options.currency,
                tax_id: args.options.tax_id,
                prices_include_tax: flag_pair(args.prices_include_tax, args.prices_exclude_tax),
                status_map: status_map(current.status_map, args.options.status_map.as_deref())?,
                create_unknown_skus: flag_pair(
                    args.create_unknown_skus,
                    args.no_create_unknown_skus,
                ),
                stock_master: args.options.stock_master,
                stock_quantity: args.options.stock_quantity,
                fulfilment_status: fulfilment_status(args.options.fulfilment_status.as_deref())?,
                variants: args.options.variants,
                payment_journal_id: payment_journal(args.options.payment_journal.as_deref())?,
                payment_journals: payment_journals(
                    current.payment_journals.clone(),
                    args.options.payment_journals.as_deref(),
                )?,
                refund_credit_notes: args.options.refund_credit_notes,
                return_pickings: args.options.return_pickings,
                pricelists: pricelists(current.pricelists, args.options.pricelists.as_deref())?,
                rounding_max_cents: args.options.rounding_max,
                ..Default::default()
            };
            if is_empty(&update) {
                return Err(CliError::Usage(
                    "nothing to update: give at least one option to change (see `salla-odoo store \
                     update --help`)"
                        .into(),
                ));
            }
            let saved = stores::upsert_settings(&pool, &keyring, args.merchant, &update).await?;
            print_settings(out, json, &saved, Some("updated"), None)?;
        }
        StoreCommand::Show { merchant } => {
            let s = stores::load_settings(&pool, &keyring, merchant)
                .await?
                .ok_or_else(|| no_store(merchant))?;
            let tokens = token_view(&pool, merchant, OffsetDateTime::now_utc()).await?;
            print_settings(out, json, &s, None, tokens.as_ref())?;
        }
        StoreCommand::Purge { .. }
        | StoreCommand::Tokens { .. }
        | StoreCommand::Backfill { .. } => {
            unreachable!("handled above")
        }
        StoreCommand::List => {
            let all = stores::list_settings(&pool, &keyring).await?;
            if json {
                writeln!(out, "{}", to_json(&all))?;
            } else {
                writeln!(
                    out,
                    "{:<20} {:<11} {:<32} {:<16} {:<24} {:<6} {:<7} {:<5} UPDATED",
                    "MERCHANT",
                    "STATUS",
                    "ODOO URL",
                    "DATABASE",
                    "LOGIN",
                    "KEY",
                    "VERSION",
                    "STOCK"
                )?;
                for s in &all {
                    let (url, db, login, key, version) = match &s.odoo {
                        Some(o) => (
                            o.url.as_str(),
                            o.database.as_str(),
                            o.login.as_str(),
                            "[set]",
                            o.version_override
                                .map_or_else(|| "auto".to_owned(), |v| v.to_string()),
                        ),
                        None => ("-", "-", "-", "-", "-".to_owned()),
                    };
                    writeln!(
                        out,
                        "{:<20} {:<11} {:<32} {:<16} {:<24} {:<6} {:<7} {:<5} {}",
                        s.merchant,
                        s.status,
                        url,
                        db,
                        login,
                        key,
                        version,
                        stock_str(s.stock_master),
                        rfc3339(s.updated_at)
                    )?;
                }
                if all.is_empty() {
                    writeln!(out, "(no stores)")?;
                }
            }
        }
    }
    pool.close().await;
    Ok(())
}

pub async fn run_secrets(
    command: SecretsCommand,
    settings: &Settings,
    json: bool,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let keyring = keyring(settings)?;
    let pool = crate::pool(settings).await?;
    match command {
        SecretsCommand::Rotate => {
            let rotated = secrets::rotate(&pool, &keyring).await?;
            let by_key = by_key(&pool, &keyring).await?;
            if json {
                writeln!(
                    out,
                    "{}",
                    to_json(&serde_json::json!({
                        "rotated": rotated,
                        "key_id": keyring.current_key_id(),
                        "by_key": by_key,
                    }))
                )?;
            } else {
                writeln!(
                    out,
                    "re-encrypted {rotated} secret(s) under key id {}",
                    keyring.current_key_id()
                )?;
                print_by_key(out, &by_key)?;
            }
        }
        SecretsCommand::Status => {
            let by_key = by_key(&pool, &keyring).await?;
            if json {
                writeln!(
                    out,
                    "{}",
                    to_json(&serde_json::json!({
                        "key_id": keyring.current_key_id(),
                        "previous_key_ids": keyring.previous_key_ids(),
                        "by_key": by_key,
                    }))
                )?;
            } else {
                writeln!(out, "current key id  {}", keyring.current_key_id())?;
                print_by_key(out, &by_key)?;
            }
        }
    }
    pool.close().await;
    Ok(())
}

#[derive(serde::Serialize)]
struct KeyCount {
    key_id: String,
    secrets: i64,
    /// current | previous | missing
    key: &'static str,
}

async fn by_key(pool: &Db, keyring: &Keyring) -> Result<Vec<KeyCount>, CliError> {
    let previous = keyring.previous_key_ids();
    Ok(secrets::count_by_key(pool)
        .await?
        .into_iter()
        .map(|(key_id, secrets)| {
            let key = if key_id == keyring.current_key_id() {
                "current"
            } else if previous.contains(&key_id.as_str()) {
                "previous"
            } else {
                "missing"
            };
            KeyCount {
                key_id,
                secrets,
                key,
            }
        })
        .collect())
}

fn print_by_key(out: &mut impl Write, counts: &[KeyCount]) -> Result<(), CliError> {
    writeln!(out, "{:<18} {:<9} SECRETS", "KEY ID", "KEY")?;
    for c in counts {
        writeln!(out, "{:<18} {:<9} {}", c.key_id, c.key, c.secrets)?;
    }
    Ok(())
}

fn is_empty(u: &StoreUpdate) -> bool {
    let StoreUpdate {
        status,
        odoo_url,
        odoo_database,
        odoo_login,
        odoo_api_key,
        odoo_version_override,
        warehouse_id,
        pricelist_id,
        currency,
        tax_id,
        prices_include_tax,
        status_map,
        create_unknown_skus,
        stock_master,
        stock_quantity,
        fulfilment_status,
        variants,
        payment_journal_id,
        payment_journals,
        refund_credit_notes,
        return_pickings,
        pricelists,
        rounding_max_cents,
    } = u;
    status.is_none()
        && odoo_url.is_none()
        && odoo_database.is_none()
        && odoo_login.is_none()
        && odoo_api_key.is_none()
        && odoo_version_override.is_none()
        && warehouse_id.is_none()
        && pricelist_id.is_none()
        && currency.is_none()
        && tax_id.is_none()
        && prices_include_tax.is_none()
        && status_map.is_none()
        && create_unknown_skus.is_none()
        && stock_master.is_none()
        && stock_quantity.is_none()
        && fulfilment_status.is_none()
        && variants.is_none()
        && payment_journal_id.is_none()
        && payment_journals.is_none()
        && refund_credit_notes.is_none()
        && return_pickings.is_none()
        && pricelists.is_none()
        && rounding_max_cents.is_none()
}

fn flag_pair(yes: bool, no: bool) -> Option<bool> {
    match (yes, no) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}

fn no_store(merchant: MerchantId) -> CliError {
    CliError::Failed(format!(
        "no store with merchant id {merchant} (add it with `salla-odoo store add`)"
    ))
}

fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).expect("serialisable")
}

fn stock_str(m: StockMaster) -> &'static str {
    match m {
        StockMaster::Odoo => "odoo",
        StockMaster::Salla => "salla",
    }
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// RFC 3339 to the second (`2026-12-07T13:31:25Z`), for the token state's times.
pub fn rfc3339_secs(t: time::OffsetDateTime) -> String {
    rfc3339(t.replace_nanosecond(0).unwrap_or(t))
}

fn print_settings(
    out: &mut impl Write,
    json: bool,
    s: &StoreSettings,
    action: Option<&str>,
    tokens: Option<&TokenView>,
) -> Result<(), CliError> {
    if json {
        match tokens {
            Some(t) => {
                let mut value = serde_json::to_value(s).expect("serialisable");
                if let Some(map) = value.as_object_mut() {
                    map.insert(
                        "salla_api".into(),
                        serde_json::to_value(t).expect("serialisable"),
                    );
                }
                writeln!(out, "{}", to_json(&value))?;
            }
            None => writeln!(out, "{}", to_json(s))?,
        }
        return Ok(());
    }
    if let Some(action) = action {
        writeln!(out, "{action} store {}\n", s.merchant)?;
    }
    let opt = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let mut rows: Vec<(&str, String)> = vec![
        ("merchant", s.merchant.to_string()),
        ("status", s.status.clone()),
    ];
    match &s.odoo {
        Some(o) => rows.extend([
            ("odoo url", o.url.clone()),
            ("odoo database", o.database.clone()),
            ("odoo login", o.login.clone()),
            ("odoo api key", "[set]".to_owned()),
            (
                "odoo version",
                o.version_override
                    .map_or_else(|| "auto (probed)".to_owned(), |v| v.to_string()),
            ),
        ]),
        None => rows.push(("odoo", "not connected (use `salla-odoo store add`)".into())),
    }
    if let Some(t) = tokens {
        let now = OffsetDateTime::now_utc();
        let st = &t.status;
        rows.push(("salla api", state_str(st.state).into()));
        if let Some(reason) = &st.reason {
            rows.push(("salla api reason", reason.clone()));
        }
        if let Some(since) = st.state_since {
            rows.push(("salla api since", rfc3339_secs(since)));
        }
        if st.state.is_some() || st.has_access_token {
            rows.extend([
                ("salla access token", expiry_long(st, now)),
                ("salla refresh token", held(st.has_refresh_token).into()),
                (
                    "salla scope",
                    st.scope.clone().unwrap_or_else(|| "-".into()),
                ),
            ]);
        }
        if let Some(action) = t.action {
            rows.push(("salla api action", action.into()));
        }
    }
    rows.extend([
        ("warehouse id", opt(s.warehouse_id)),
        ("pricelist id", opt(s.pricelist_id)),
        ("currency", s.currency.clone().unwrap_or_else(|| "-".into())),
        ("tax id", opt(s.tax_id)),
        ("prices include tax", yes_no(s.prices_include_tax).into()),
        ("create unknown skus", yes_no(s.create_unknown_skus).into()),
        ("stock master", stock_str(s.stock_master).into()),
        ("stock to salla", s.stock_quantity.as_str().into()),
        (
            "fulfilment status",
            s.fulfilment_status.clone().unwrap_or_else(|| "off".into()),
        ),
        ("variants", s.variants.as_str().into()),
        ("pricelists", s.pricelists.to_string()),
        (
            "rounding max",
            salla_odoo_core::currency::format_cents(s.rounding_max_cents),
        ),
        ("updated at", rfc3339(s.updated_at)),
        ("payment journal", opt(s.payment_journal_id)),
        (
            "payment journals",
            if s.payment_journals.is_empty() {
                "-".into()
            } else {
                s.payment_journals
                    .iter()
                    .map(|(m, j)| format!("{m}={j}"))
                    .collect::<Vec<_>>()
                    .join(",")
            },
        ),
        ("refund credit notes", yes_no(s.refund_credit_notes).into()),
        ("return pickings", yes_no(s.return_pickings).into()),
    ]);
    for (k, v) in rows {
        writeln!(out, "{k:<20} {v}")?;
    }
    writeln!(out, "status map")?;
    for (slug, step) in &s.status_map.0 {
        writeln!(out, "  {slug:<18} {step}")?;
    }
    Ok(())
}

/// The checks of the Odoo user a new store acts as ([`crate::odoo_user::checks`]); an Odoo that
/// cannot be reached is a warning saying how to check later. The capability probe the checks
/// start with is kept with the store (best effort), with the API user's uid it authenticated as,
/// so that not even the first worker asks again, nor opens a session (version, authenticate).
async fn odoo_user_checks(
    pool: &salla_odoo_store::Db,
    s: &StoreSettings,
) -> Vec<crate::doctor::Check> {
    use crate::doctor::{Level, leveled};
    let Some(conn) = &s.odoo else {
        return Vec::new();
    };
    let name = format!("store {} odoo", s.merchant);
    let later = "run `salla-odoo doctor` once it is reachable to check the Odoo user";
    let client = match crate::odoo_user::check_client(conn) {
        Ok(c) => c,
        Err(e) => return vec![leveled(name, Level::Warn, format!("{e}; {later}"))],
    };
    match client.capabilities().await {
        Ok(caps) => {
            salla_odoo_worker::handler::keep_probed(pool, s, &caps).await;
            crate::odoo_user::checks(&client, s).await
        }
        Err(e) => vec![leveled(
            name,
            Level::Warn,
            format!("could not reach {}: {e}; {later}", conn.url),
        )],
    }
}

/// `store add`'s output: the settings, then the Odoo user checks (JSON: under `odoo_checks`).
fn print_added(
    out: &mut impl Write,
    json: bool,
    s: &StoreSettings,
    checks: &[crate::doctor::Check],
) -> Result<(), CliError> {
    if json {
        let mut value = serde_json::to_value(s).expect("serialisable");
        if let Some(map) = value.as_object_mut() {
            map.insert(
                "odoo_checks".into(),
                serde_json::to_value(checks).expect("serialisable"),
            );
        }
        writeln!(out, "{}", to_json(&value))?;
        return Ok(());
    }
    print_settings(out, false, s, Some("added"), None)?;
    if !checks.is_empty() {
        writeln!(out, "\nodoo user")?;
        for c in checks {
            writeln!(out, "{:<4} {:<28} {}", c.level.label(), c.check, c.detail)?;
        }
        if checks.iter().any(|c| c.level == crate::doctor::Level::Fail) {
            writeln!(
                out,
                "\nThe store is saved; fix the above in Odoo before its orders need those steps \
                 (jobs that need them fail permanently until then)."
            )?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// `store tokens`: the Salla Merchant API token state, never a token.

/// What the operator must do for a store whose tokens can no longer be used or renewed.
pub const REINSTALL_ACTION: &str = "the merchant must reinstall the app (or re-authorize it in \
     the Salla Partner Portal); the next app.store.authorize clears this";

/// The operator's view of a store's token state (`store tokens`, `store show`, `doctor`): the
/// state as the store crate reports it, plus what follows from it. Never a token.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenView {
    #[serde(flatten)]
    pub status: TokenStatus,
    /// The store's `status`: `installed` or `uninstalled`.
    pub store_status: String,
    /// Whether the access token is past its expiry; `None`: no access token, or no known expiry.
    pub access_expired: Option<bool>,
    /// What must be done, when something must.
    pub action: Option<&'static str>,
}

impl TokenView {
    fn new(status: TokenStatus, store_status: String, now: OffsetDateTime) -> TokenView {
        let access_expired = if status.has_access_token {
            status.access_expires_at.map(|e| e <= now)
        } else {
            None
        };
        let action = (status.state == Some(ApiState::NeedsReinstall)).then_some(REINSTALL_ACTION);
        TokenView {
            status,
            store_status,
            access_expired,
            action,
        }
    }
}

/// One store's token view; `None` when the store is unknown.
pub async fn token_view(
    pool: &Db,
    merchant: MerchantId,
    now: OffsetDateTime,
) -> Result<Option<TokenView>, StoreError> {
    let Some(status) = tokens::status(pool, merchant).await? else {
        return Ok(None);
    };
    let store_status = stores::get(pool, merchant)
        .await?
        .map_or_else(|| "-".to_owned(), |r| r.status);
    Ok(Some(TokenView::new(status, store_status, now)))
}

/// Every store's token view, by merchant id.
pub async fn token_views(pool: &Db, now: OffsetDateTime) -> Result<Vec<TokenView>, StoreError> {
    let rows: std::collections::HashMap<i64, String> = stores::list(pool)
        .await?
        .into_iter()
        .map(|r| (r.merchant_id, r.status))
        .collect();
    Ok(tokens::statuses(pool)
        .await?
        .into_iter()
        .map(|s| {
            let store_status = rows
                .get(&s.merchant_id)
                .cloned()
                .unwrap_or_else(|| "-".into());
            TokenView::new(s, store_status, now)
        })
        .collect())
}

/// The state as a word or two.
pub fn state_str(state: Option<ApiState>) -> &'static str {
    match state {
        Some(ApiState::Ok) => "ok",
        Some(ApiState::NeedsReinstall) => "needs reinstall",
        None => "none (no app.store.authorize received)",
    }
}

fn held(yes: bool) -> &'static str {
    if yes { "held" } else { "none" }
}

/// `3d 4h`, `5h 12m`, `7m`, `40s`: how long, roughly.
pub fn human(d: time::Duration) -> String {
    let secs = d.whole_seconds().unsigned_abs();
    let (days, hours, mins) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {mins}m")
    } else if mins > 0 {
        format!("{mins}m")
    } else {
        format!("{secs}s")
    }
}

/// The access token's expiry, short (for the table).
fn expiry_short(s: &TokenStatus, now: OffsetDateTime) -> String {
    match (s.has_access_token, s.access_expires_at) {
        (false, _) => "none".into(),
        (true, None) => "expiry unknown".into(),
        (true, Some(e)) if e <= now => format!("expired {} ago", human(now - e)),
        (true, Some(e)) => format!("expires in {}", human(e - now)),
    }
}

/// The access token's expiry, with the time.
pub fn expiry_long(s: &TokenStatus, now: OffsetDateTime) -> String {
    match (s.has_access_token, s.access_expires_at) {
        (true, Some(e)) => format!("{} ({})", expiry_short(s, now), rfc3339_secs(e)),
        (true, None) => "held, expiry unknown".into(),
        (false, _) => "none".into(),
    }
}

const API_OFF_NOTE: &str = "note: the Salla API is not configured (salla.client_id / \
     salla.client_secret): the connector fetches nothing on demand and refreshes no token";

async fn show_tokens(
    merchant: Option<MerchantId>,
    settings: &Settings,
    json: bool,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let pool = crate::pool(settings).await?;
    let now = OffsetDateTime::now_utc();
    let result = match merchant {
        Some(m) => match token_view(&pool, m, now).await {
            Ok(Some(view)) => print_token_view(out, json, &view, now),
            Ok(None) => Err(CliError::Failed(format!(
                "no store with merchant id {m} (no app.installed or app.store.authorize was \
                 received for it; `salla-odoo store tokens --all` lists the known stores)"
            ))),
            Err(e) => Err(e.into()),
        },
        None => match token_views(&pool, now).await {
            Ok(views) => print_token_table(out, json, &views, now),
            Err(e) => Err(e.into()),
        },
    };
    pool.close().await;
    if result.is_ok() && !json && !settings.salla.api_configured() {
        writeln!(out, "\n{API_OFF_NOTE}")?;
    }
    result
}

fn print_token_view(
    out: &mut impl Write,
    json: bool,
    t: &TokenView,
    now: OffsetDateTime,
) -> Result<(), CliError> {
    if json {
        writeln!(out, "{}", to_json(t))?;
        return Ok(());
    }
    let s = &t.status;
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let rows: Vec<(&str, String)> = vec![
        ("merchant", s.merchant_id.to_string()),
        ("store status", t.store_status.clone()),
        ("state", state_str(s.state).into()),
        ("reason", or_dash(s.reason.clone())),
        ("since", or_dash(s.state_since.map(rfc3339_secs))),
        ("access token", expiry_long(s, now)),
        ("refresh token", held(s.has_refresh_token).into()),
        ("scope", or_dash(s.scope.clone())),
        (
            "last refresh",
            s.refreshed_at
                .map_or_else(|| "never".to_owned(), rfc3339_secs),
        ),
    ];
    for (k, v) in rows {
        writeln!(out, "{k:<14} {v}")?;
    }
    if let Some(action) = t.action {
        writeln!(out, "\nto do: {action}")?;
    }
    Ok(())
}

fn print_token_table(
    out: &mut impl Write,
    json: bool,
    views: &[TokenView],
    now: OffsetDateTime,
) -> Result<(), CliError> {
    if json {
        writeln!(out, "{}", to_json(&views))?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<20} {:<11} {:<15} {:<22} {:<7} {:<21} REASON",
        "MERCHANT", "STORE", "API STATE", "ACCESS TOKEN", "REFRESH", "LAST REFRESH"
    )?;
    for t in views {
        let s = &t.status;
        let state = match s.state {
            Some(ApiState::Ok) => "ok",
            Some(ApiState::NeedsReinstall) => "needs reinstall",
            None => "none",
        };
        writeln!(
            out,
            "{:<20} {:<11} {:<15} {:<22} {:<7} {:<21} {}",
            s.merchant_id,
            t.store_status,
            state,
            expiry_short(s, now),
            held(s.has_refresh_token),
            s.refreshed_at
                .map_or_else(|| "never".to_owned(), rfc3339_secs),
            s.reason.as_deref().unwrap_or("-"),
        )?;
    }
    if views.is_empty() {
        writeln!(out, "(no stores)")?;
    }
    let reinstall = views.iter().filter(|t| t.action.is_some()).count();
    if reinstall > 0 {
        writeln!(
            out,
            "\n{reinstall} store(s) need a reinstall: {REINSTALL_ACTION}"
        )?;
    }
    if views.iter().any(|t| t.status.state.is_none()) {
        writeln!(
            out,
            "API STATE none: no app.store.authorize received yet, so no Salla API calls for that store"
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_never_carry_credentials() {
        assert_eq!(
            parse_odoo_url("https://acme.odoo.com/").unwrap(),
            "https://acme.odoo.com"
        );
        let err = parse_odoo_url("https://bot:s3cret@acme.odoo.com").unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
        assert!(parse_odoo_url("ftp://x").is_err());
        assert!(parse_odoo_url("acme.odoo.com").is_err());
    }

    #[test]
    fn durations_read_roughly() {
        let d = time::Duration::seconds;
        assert_eq!(human(d(10 * 86_400 - 3)), "9d 23h");
        assert_eq!(human(d(-(2 * 3600 + 5 * 60 + 9))), "2h 5m");
        assert_eq!(human(d(7 * 60 + 59)), "7m");
        assert_eq!(human(d(40)), "40s");
    }

    #[test]
    fn currencies_are_three_letters() {
        assert_eq!(parse_currency("sar").unwrap(), "SAR");
        assert!(parse_currency("SARS").is_err());
        assert!(parse_currency("S4R").is_err());
    }

    #[test]
    fn unconventional_variable_names_are_not_echoed() {
        let err = api_key_from_env("3f9a1c77e2deadbeef").unwrap_err();
        assert!(!err.to_string().contains("3f9a1c77e2deadbeef"), "{err}");
        let err = api_key_from_env("SALLA_ODOO_TEST_SURELY_UNSET_VAR").unwrap_err();
        assert!(
            err.to_string().contains("SALLA_ODOO_TEST_SURELY_UNSET_VAR"),
            "{err}"
        );
        assert_eq!(err.exit_code(), crate::EXIT_USAGE);
    }
}
