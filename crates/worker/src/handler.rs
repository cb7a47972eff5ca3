//! What a worker does with a job: the [`Handler`] seam (tests plug in their own), and
//! [`SyncHandler`], which loads the store's settings and applies the job to its Odoo through the
//! `sync` crate.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use salla_odoo_core::{MerchantId, SyncError, SyncJobV1};
use salla_odoo_store::Db;
use salla_odoo_store::secrets::Keyring;
use salla_odoo_store::stores::{self, StoreSettings};
use time::OffsetDateTime;

use crate::limits::StoreLimits;

/// The result of a job that did not fail.
#[derive(Debug, Clone, PartialEq)]
pub enum Handled {
    Applied {
        odoo_ids: serde_json::Value,
        note: Option<String>,
    },
    Skipped {
        reason: String,
    },
}

/// Applies one job. Must be idempotent: the worker may run a job again after a crash.
pub trait Handler: Send + Sync + 'static {
    /// `db` is the job's database session ([`Db::session`]): the worker's entity lock is held on
    /// it, and the job's queries run on it.
    fn handle(
        &self,
        job: &SyncJobV1,
        db: &Db,
    ) -> impl Future<Output = Result<Handled, SyncError>> + Send;
}

/// The production handler.
pub struct SyncHandler {
    pool: Db,
    keyring: Keyring,
    limits: StoreLimits,
    queue: salla_odoo_queue::Queue,
    uninstall_grace: Duration,
    clients: StoreClients,
    /// The stores' Salla Merchant API (fetch on demand); `None` without app credentials.
    salla: Option<Arc<dyn salla_odoo_sync::fetch::SallaFetch>>,
    /// A new store's backfill, started by its first `app.store.authorize`.
    backfill: Option<crate::reconcile::Backfill>,
}

impl SyncHandler {
    pub fn new(
        pool: Db,
        keyring: Keyring,
        limits: StoreLimits,
        queue: salla_odoo_queue::Queue,
        uninstall_grace: Duration,
    ) -> Self {
        Self {
            pool,
            keyring,
            limits,
            queue,
            uninstall_grace,
            clients: StoreClients::default(),
            salla: None,
            backfill: None,
        }
    }

    /// Backfill each new store (its first reconciliation) once its first tokens are stored.
    pub fn with_backfill(mut self, backfill: crate::reconcile::Backfill) -> Self {
        self.backfill = Some(backfill);
        self
    }

    /// Fetch what webhooks lack from the stores' Salla Merchant API through `access`.
    pub fn with_salla(mut self, access: crate::salla::SallaAccess) -> Self {
        self.salla = Some(Arc::new(access));
        self
    }

    fn client_for(&self, settings: &StoreSettings) -> Result<Option<odoo::Client>, SyncError> {
        self.clients.get(settings, &self.limits)
    }
}

/// One Odoo client per store (it caches the session and the capability probe), rebuilt when the
/// store's settings change: the sync's, the stock push's and the fulfilment report's caches.
#[derive(Default)]
pub(crate) struct StoreClients(Mutex<HashMap<MerchantId, (OffsetDateTime, odoo::Client)>>);

impl StoreClients {
    /// The store's client; `None` while the store has no Odoo connection.
    pub(crate) fn get(
        &self,
        settings: &StoreSettings,
        limits: &StoreLimits,
    ) -> Result<Option<odoo::Client>, SyncError> {
        let Some(conn) = &settings.odoo else {
            return Ok(None);
        };
        // Each change is one insert: the map is consistent after any panic.
        let mut clients = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((at, client)) = clients.get(&settings.merchant)
            && *at == settings.updated_at
        {
            return Ok(Some(client.clone()));
        }
        let client = store_client(settings, conn, limits)?;
        seed_kept_capabilities(&client, settings, limits.capabilities_ttl());
        clients.insert(settings.merchant, (settings.updated_at, client.clone()));
        Ok(Some(client))
    }
}

/// Give a new client of the store the capabilities a client probed before (this worker's or
/// another's), when they are younger than `ttl`: with the uid of the session they were probed on,
/// it then asks Odoo nothing before its first call (no version, no authenticate; it authenticates
/// after all if Odoo refuses that uid); kept without it, only its version, and it probes anyway if
/// that is not theirs (see `odoo::Client::seed_capabilities`).
fn seed_kept_capabilities(client: &odoo::Client, settings: &StoreSettings, ttl: Duration) {
    let Some(kept) = &settings.odoo_capabilities else {
        return;
    };
    let age = OffsetDateTime::now_utc() - kept.probed_at;
    if ttl.is_zero() || age >= ttl {
        return;
    }
    match serde_json::from_value::<odoo::Capabilities>(kept.capabilities.clone()) {
        Ok(caps) => client.seed_capabilities(caps),
        // Kept by another version of the connector: probe, and keep the new probe.
        Err(e) => tracing::debug!(
            merchant = settings.merchant.get(), error = %e,
            "kept Odoo capabilities do not decode: probing"
        ),
    }
}

/// After a store's client did some work: keep what it probed for the store's next clients
/// (unless the store's settings changed meanwhile), or drop what is kept when one of its calls
/// named a field Odoo does not have (a module uninstalled, Odoo upgraded in place), so that the
/// fleet's next clients probe again instead of using wrong field names. Best effort: a failed
/// write is only logged (the next client probes, or uses what is kept until its time is up).
///
/// The unknown field is noticed by the client itself (it sees every answer, also those the sync
/// recovers from, and drops a seed it runs on), and acted on here, after the job, where the
/// store's database is at hand: no job's outcome or retry changes.
pub(crate) async fn keep_capabilities(db: &Db, settings: &StoreSettings, client: &odoo::Client) {
    let merchant = settings.merchant.get();
    let invalid_field = client.take_invalid_field();
    let probed = client.take_probed();
    if invalid_field {
        match stores::clear_odoo_capabilities(db, settings.merchant).await {
            Ok(true) => tracing::info!(
                merchant,
                "Odoo refused an unknown field: its kept capabilities are dropped"
            ),
            Ok(false) => {}
            Err(e) => tracing::warn!(
                merchant, error = %e,
                "could not drop the store's kept Odoo capabilities"
            ),
        }
        return;
    }
    if let Some(caps) = probed {
        keep_probed(db, settings, &caps).await;
    }
}

/// Keep `caps`, probed of the store's Odoo with a client built from `settings`, for the store's
/// next clients (unless the settings changed meanwhile: see `stores::set_odoo_capabilities`).
/// Best effort: a failure is only logged (the next client probes).
pub async fn keep_probed(db: &Db, settings: &StoreSettings, caps: &odoo::Capabilities) {
    let merchant = settings.merchant.get();
    let json = match serde_json::to_value(caps) {
        Ok(json) => json,
        Err(e) => {
            tracing::warn!(merchant, error = %e, "Odoo capabilities do not encode");
            return;
        }
    };
    if let Err(e) = stores::set_odoo_capabilities(
        db,
        settings.merchant,
        &json,
        OffsetDateTime::now_utc(),
        Some(settings.updated_at),
    )
    .await
    {
        tracing::warn!(merchant, error = %e, "could not keep the store's Odoo capabilities");
    }
}

/// A store's Odoo client whose every call waits for the store's fleet-wide call budget and is
/// measured (the sync's, the stock push's and the fulfilment report's alike: one store's Odoo is
/// never asked more than `limits.store_odoo_calls_per_sec`, whoever asks).
fn store_client(
    settings: &StoreSettings,
    conn: &stores::OdooConnection,
    limits: &StoreLimits,
) -> Result<odoo::Client, SyncError> {
    let mut config = odoo_config(settings, conn)?;
    config.observer = Some(odoo::Observer(Arc::new(StoreCalls {
        limits: limits.clone(),
        merchant: settings.merchant,
    })));
    odoo::Client::new(config).map_err(|e| SyncError::Permanent {
        message: format!("store {} Odoo client: {e}", settings.merchant),
    })
}

/// The Odoo client configuration of a store's connection (30 s per call, the transport its version
/// override asks for).
fn odoo_config(
    settings: &StoreSettings,
    conn: &stores::OdooConnection,
) -> Result<odoo::Config, SyncError> {
    let mut config =
        odoo::Config::new(&conn.url, &conn.database, &conn.login, conn.api_key.clone()).map_err(
            |e| SyncError::Permanent {
                message: format!("store {} Odoo settings: {e}", settings.merchant),
            },
        )?;
    config.request_timeout = Duration::from_secs(30);
    if let Some(v) = conn.version_override {
        config.transport = if v >= 19 {
            odoo::TransportChoice::Json2
        } else {
            odoo::TransportChoice::JsonRpc
        };
    }
    Ok(config)
}

/// Every Odoo call of a store: waits for the store's fleet-wide call budget, then records latency.
struct StoreCalls {
    limits: StoreLimits,
    merchant: MerchantId,
}

impl odoo::CallObserver for StoreCalls {
    fn before<'a>(
        &'a self,
        _model: &'a str,
        _method: &'a str,
    ) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            if let Err(e) = self.limits.before_odoo_call(self.merchant).await {
                tracing::warn!(error = %e, "rate limiter unavailable; calling Odoo anyway");
            }
        })
    }

    fn after(&self, _model: &str, method: &str, elapsed: Duration, ok: bool) {
        self.limits
            .observe_odoo_call(self.merchant, method, elapsed);
        // Method names are Odoo's public API names: a bounded set. Merchants are bounded by the
        // stores configured (the per-store Odoo panels and the store's-Odoo-failing alert use it).
        let method = method.to_owned();
        let merchant = self.merchant.to_string();
        metrics::histogram!("salla_odoo_odoo_call_duration_seconds", "method" => method.clone(), "merchant" => merchant.clone())
            .record(elapsed.as_secs_f64());
        if !ok {
            metrics::counter!("salla_odoo_odoo_call_errors_total", "method" => method, "merchant" => merchant)
                .increment(1);
        }
    }
}

impl Handler for SyncHandler {
    async fn handle(&self, job: &SyncJobV1, db: &Db) -> Result<Handled, SyncError> {
        use salla_odoo_core::JobKind;
        if job.kind == JobKind::StoreUninstall {
            return crate::lifecycle::uninstall(
                &self.pool,
                &self.queue,
                job.merchant,
                self.uninstall_grace,
            )
            .await;
        }
        let settings = stores::load_settings(db, &self.keyring, job.merchant)
            .await
            .map_err(|e| salla_odoo_sync::classify_store(&e))?;
        // A disconnected store's events are acknowledged and skipped until it is installed again.
        if let Some(s) = &settings
            && s.status == "uninstalled"
            && !matches!(job.kind, JobKind::StoreInstall | JobKind::StoreAuthorize)
        {
            return Ok(Handled::Skipped {
                reason: format!(
                    "store {} is uninstalled: {} ignored",
                    job.merchant, job.event
                ),
            });
        }
        let odoo = match &settings {
            Some(s) => self.client_for(s)?,
            None => None,
        };
        let ctx = salla_odoo_sync::SyncContext {
            odoo,
            pool: db.clone(),
            keyring: Some(self.keyring.clone()),
            settings,
            salla: self.salla.clone(),
        };
        let applied = salla_odoo_sync::apply(&ctx, job).await;
        if let (Some(settings), Some(odoo)) = (&ctx.settings, &ctx.odoo) {
            keep_capabilities(db, settings, odoo).await;
        }
        match applied? {
            salla_odoo_sync::Applied::Applied { odoo_ids, note } => {
                if job.kind == JobKind::StoreAuthorize
                    && let Some(backfill) = &self.backfill
                {
                    backfill.start_if_new(job.merchant).await;
                }
                Ok(Handled::Applied { odoo_ids, note })
            }
            salla_odoo_sync::Applied::Skipped { reason } => Ok(Handled::Skipped { reason }),
        }
    }
}
