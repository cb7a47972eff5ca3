//! The entry point the worker calls ([`apply`]) and the `store.*` jobs, which touch Postgres only.

use salla_odoo_core::{JobKind, SyncError, SyncJobV1};
use salla_odoo_salla::payload::{AppEvent, StoreAuthorize};
use salla_odoo_store::secrets::Keyring;
use salla_odoo_store::stores::{self, StoreSettings};
use secrecy::ExposeSecret;
use time::OffsetDateTime;

use crate::error::{classify_store, permanent};
use crate::{Applied, PgIdMap, StoreOptions};

/// Everything one job needs, built by the worker per job (clones of shared handles).
pub struct SyncContext {
    /// The store's Odoo (shared per store: it caches the session and the capability probe); `None`
    /// when the store has no Odoo connection yet (store.* jobs need none).
    pub odoo: Option<odoo::Client>,
    pub pool: salla_odoo_store::Db,
    /// Seals the merchant's tokens (`store.authorize`).
    pub keyring: Option<Keyring>,
    /// `None` when the store has no row yet.
    pub settings: Option<StoreSettings>,
    /// The store's Salla Merchant API for fetch on demand ([`crate::fetch`]); `None` when the
    /// deployment has no Salla app credentials configured.
    pub salla: Option<std::sync::Arc<dyn crate::fetch::SallaFetch>>,
}

/// The handlers' view of a store's settings. A price-included setting only applies with a store tax:
/// without one, Odoo's default taxes are excluded-price taxes and including them would tax twice.
pub fn store_options(s: &StoreSettings) -> StoreOptions {
    StoreOptions {
        merchant: s.merchant,
        warehouse_id: s.warehouse_id,
        pricelist_id: s.pricelist_id,
        currency: s.currency.clone(),
        tax_id: s.tax_id,
        prices_include_tax: s.prices_include_tax && s.tax_id.is_some(),
        status_map: s.status_map.clone(),
        create_unknown_skus: s.create_unknown_skus,
        stock_master: s.stock_master,
        variants: s.variants,
        payment_journal_id: s.payment_journal_id,
        payment_journals: s.payment_journals.clone(),
        refund_credit_notes: s.refund_credit_notes,
        return_pickings: s.return_pickings,
        pricelists: s.pricelists.clone(),
        rounding_max_cents: s.rounding_max_cents,
        order_intents_since: Some(s.order_intents_since),
    }
}

/// Apply one job. Idempotent: running it again (after a crash, a retry, a duplicate delivery) changes
/// nothing more in Odoo.
pub async fn apply(ctx: &SyncContext, job: &SyncJobV1) -> Result<Applied, SyncError> {
    match job.kind {
        JobKind::StoreInstall => return install(ctx, job).await,
        JobKind::StoreAuthorize => return authorize(ctx, job).await,
        JobKind::StoreUninstall | JobKind::StoreSettings => {
            return Ok(Applied::Skipped {
                reason: format!(
                    "{} ({}) is handled by the store lifecycle, not the sync",
                    job.kind, job.event
                ),
            });
        }
        _ => {}
    }
    let no_connection = || SyncError::Permanent {
        message: format!(
            "store {} has no Odoo connection: run salla-odoo store add --merchant {} --odoo-url URL --odoo-db DB \
             --odoo-login LOGIN --odoo-api-key-env VAR",
            job.merchant, job.merchant
        ),
    };
    let settings = ctx.settings.as_ref().ok_or_else(no_connection)?;
    let odoo = match (&settings.odoo, &ctx.odoo) {
        (Some(_), Some(odoo)) => odoo,
        _ => return Err(no_connection()),
    };
    let opts = store_options(settings);
    let ids = PgIdMap {
        pool: ctx.pool.clone(),
    };
    crate::apply_with_fetch(odoo, &ids, &opts, ctx.salla.as_deref(), job).await
}

async fn install(ctx: &SyncContext, job: &SyncJobV1) -> Result<Applied, SyncError> {
    let app: AppEvent = serde::Deserialize::deserialize(&job.data)
        .map_err(|e| permanent(format!("invalid {} payload: {e}", job.event)).0)?;
    let row = stores::upsert_installed(&ctx.pool, job.merchant, app.id, app.store_type.as_deref())
        .await
        .map_err(|e| classify_store(&e))?;
    Ok(Applied::Applied {
        odoo_ids: serde_json::json!({}),
        note: Some(format!("store {} {}", row.merchant_id, row.status)),
    })
}

async fn authorize(ctx: &SyncContext, job: &SyncJobV1) -> Result<Applied, SyncError> {
    let auth: StoreAuthorize =
        serde::Deserialize::deserialize(&job.data).map_err(|e| SyncError::Permanent {
            // The serde message never quotes token values for these (string) fields' shape errors.
            message: format!("invalid {} payload: {e}", job.event),
        })?;
    let keyring = ctx.keyring.as_ref().ok_or_else(|| SyncError::Permanent {
        message:
            "no encryption key configured (SALLA_ODOO__SECRETS__KEY): the tokens cannot be stored"
                .into(),
    })?;
    // `expires` is an absolute Unix timestamp in the webhook (a small value would be a duration).
    let expires_at = if auth.expires >= 1_000_000_000 {
        OffsetDateTime::from_unix_timestamp(auth.expires).ok()
    } else {
        Some(job.received_at + time::Duration::seconds(auth.expires.max(0)))
    };
    // Both tokens and the state in one transaction; a store marked needs-reinstall is usable again.
    salla_odoo_store::tokens::save(
        &ctx.pool,
        keyring,
        job.merchant,
        auth.access_token.expose_secret(),
        auth.refresh_token.as_ref().map(|r| r.expose_secret()),
        expires_at,
        auth.scope.as_deref(),
        salla_odoo_store::tokens::Source::Authorize,
    )
    .await
    .map_err(|e| classify_store(&e))?;
    Ok(Applied::Applied {
        odoo_ids: serde_json::json!({}),
        note: Some("Salla tokens stored (encrypted)".into()),
    })
}
