//! The worker's access to each store's Salla Merchant API: tokens, their refresh, the store's
//! fleet-wide request budget, and fetch on demand for the sync handlers ([`SallaFetch`]).
//!
//! # Tokens (docs/salla-platform.md §7.5)
//! The tokens live encrypted in the store database (`salla_odoo_store::tokens`). A call uses the
//! stored access token; when it expires within a minute, or Salla refused it ("The access token is
//! invalid"), the call refreshes it first, once:
//! 1. under the fleet-wide per-merchant refresh lock (a Postgres advisory lock; in embedded mode
//!    the process-wide lock registry), waited for up to [`LOCK_WAIT`];
//! 2. inside the lock the tokens are read again: if another worker refreshed meanwhile, its tokens
//!    are used and nothing is sent to Salla;
//! 3. the refresh's new access and refresh tokens are stored in one transaction before the lock is
//!    released (a database that refuses them is tried again for up to a minute: the pair exists
//!    nowhere else). A worker killed between Salla's answer and that commit loses the pair: the
//!    store needs the app reinstalled, as Salla's single-use refresh tokens allow no other way;
//! 4. a refresh whose answer was lost is never retried (the old refresh token may be spent):
//!    the store goes to **needs reinstall**, as on `invalid_grant` or when a fresh token is refused
//!    again (the app was uninstalled).
//!
//! A store in needs reinstall makes no API call at all: fetches answer [`Fetched::Unavailable`]
//! with the reason, and its webhooks still sync. A later `app.store.authorize` clears the state.
//! A scheduled job ([`refresh_loop`], one worker at a time across the fleet) refreshes the tokens
//! that expire within `salla.token_refresh_ahead_secs`, so calls rarely meet an expired token.
//!
//! # Budget
//! Every request first takes one request of the store's budget in Redis (`limits.rs`: the plan's
//! requests per minute, customer endpoints 500 per 10 minutes besides), shared by the fleet. A
//! request that would wait more than [`MAX_INLINE_WAIT`] is not made: the job is throttled (run
//! again later without spending an attempt). A 429 blocks the whole store for its `Retry-After`
//! (every worker sees it) and throttles the job for as long; other stores are not affected.

use std::sync::Arc;
use std::time::{Duration, Instant};

use salla_odoo_core::{MerchantId, Settings, SyncError};
use salla_odoo_salla::api::{
    AccessToken, ApiConfig, ApiError, EndpointClass, ErrorClass, RateLimitPolicy, RefreshToken,
    SallaApi,
};
use salla_odoo_store::Db;
use salla_odoo_store::secrets::Keyring;
use salla_odoo_store::tokens::{self, ApiState, Source};
use salla_odoo_sync::fetch::{FetchFuture, Fetched, SallaFetch};
use secrecy::ExposeSecret;
use serde_json::Value;
use time::OffsetDateTime;

use crate::limits::StoreLimits;

/// How long a call waits for another worker's refresh of the same store.
pub const LOCK_WAIT: Duration = Duration::from_secs(15);
/// A budget wait up to this long is waited in the job; a longer one throttles the job.
pub const MAX_INLINE_WAIT: Duration = Duration::from_secs(2);
/// A call refreshes a token that expires within this margin.
const CALL_MARGIN: Duration = Duration::from_secs(60);
/// How long refreshed tokens are offered to a database that does not take them (a restart or a
/// failover takes seconds; the old refresh token is spent, so giving up costs a reinstall).
const SAVE_PATIENCE: Duration = Duration::from_secs(60);

/// The Salla Merchant API for every store of the deployment. Cheap to clone.
#[derive(Clone)]
pub struct SallaAccess {
    inner: Arc<Inner>,
}

struct Inner {
    api: SallaApi,
    pool: Db,
    keyring: Keyring,
    limits: StoreLimits,
    policy: RateLimitPolicy,
}

/// What [`SallaAccess::request`] got.
#[derive(Debug)]
pub enum Answer<T> {
    Data(T),
    /// Salla answered 404.
    NotFound,
    /// The store's API cannot be used now (no tokens, needs reinstall): why.
    Unavailable(String),
}

/// A usable token, or why there is none.
enum Access {
    Token(AccessToken),
    Unavailable(String),
}

impl SallaAccess {
    /// The access of `settings`; `None` when the app's client id and secret are not configured
    /// (then no API call is ever made).
    pub fn from_settings(
        settings: &Settings,
        pool: Db,
        keyring: Keyring,
        limits: StoreLimits,
    ) -> Result<Option<Self>, SyncError> {
        let s = &settings.salla;
        if !s.api_configured() {
            return Ok(None);
        }
        let mut config = ApiConfig::new(s.client_id.trim(), s.client_secret.clone());
        config.api_url = s.api_url.clone();
        config.oauth_url = s.oauth_url.clone();
        let api = SallaApi::new(config).map_err(|e| SyncError::Permanent {
            message: format!("Salla API client: {e}"),
        })?;
        Ok(Some(Self {
            inner: Arc::new(Inner {
                api,
                pool,
                keyring,
                limits,
                policy: RateLimitPolicy::per_minute(s.requests_per_min),
            }),
        }))
    }

    /// The client, for callers with requests of their own (reconciliation, stock).
    pub fn api(&self) -> &SallaApi {
        &self.inner.api
    }

    /// The per-store limits (Salla budget, Odoo calls) this access counts against.
    pub(crate) fn limits(&self) -> &StoreLimits {
        &self.inner.limits
    }

    /// A usable access token of `merchant`: refreshed first when it expires within `margin`, or
    /// when it is `rejected` (Salla refused it). See the module docs for the rules.
    async fn token(
        &self,
        merchant: MerchantId,
        rejected: Option<&str>,
        margin: Duration,
    ) -> Result<Access, SyncError> {
        let t = match self.usable_tokens(merchant).await? {
            Ok(t) => t,
            Err(unavailable) => return Ok(unavailable),
        };
        if rejected.is_none() && !expiring(t.expires_at, margin) {
            return Ok(Access::Token(AccessToken::new(t.access.expose_secret())));
        }
        let lock = self.refresh_lock(merchant).await?;
        let result = self.refresh_locked(merchant, rejected, margin).await;
        if let Err(e) = lock.release().await {
            tracing::warn!(error = %e, "token refresh lock release failed (its connection is closed instead)");
        }
        result
    }

    /// The store's stored tokens, or why the API cannot be used (none stored, needs reinstall).
    async fn usable_tokens(
        &self,
        merchant: MerchantId,
    ) -> Result<Result<tokens::Tokens, Access>, SyncError> {
        let inner = &self.inner;
        let Some(t) = tokens::load(&inner.pool, &inner.keyring, merchant)
            .await
            .map_err(|e| salla_odoo_sync::classify_store(&e))?
        else {
            return Ok(Err(Access::Unavailable(format!(
                "store {merchant} has no Salla tokens (no app.store.authorize received)"
            ))));
        };
        if t.state == ApiState::NeedsReinstall {
            return Ok(Err(Access::Unavailable(needs_reinstall_text(
                merchant,
                t.reason.as_deref(),
            ))));
        }
        Ok(Ok(t))
    }

    /// Wait for the store's refresh lock (another worker may be refreshing).
    async fn refresh_lock(
        &self,
        merchant: MerchantId,
    ) -> Result<salla_odoo_store::locks::EntityLock, SyncError> {
        let name = tokens::refresh_lock_name(merchant);
        let started = Instant::now();
        loop {
            match salla_odoo_store::locks::try_lock_global(&self.inner.pool, &name).await {
                Ok(Some(lock)) => return Ok(lock),
                Ok(None) if started.elapsed() < LOCK_WAIT => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Ok(None) => {
                    return Err(SyncError::Transient {
                        message: format!(
                            "store {merchant}: another worker has been refreshing its Salla tokens for {LOCK_WAIT:?}"
                        ),
                        retry_after: None,
                    });
                }
                Err(e) => return Err(salla_odoo_sync::classify_store(&e)),
            }
        }
    }

    /// The refresh itself, inside the store's lock.
    async fn refresh_locked(
        &self,
        merchant: MerchantId,
        rejected: Option<&str>,
        margin: Duration,
    ) -> Result<Access, SyncError> {
        let inner = &self.inner;
        let store_err = |e: salla_odoo_store::StoreError| salla_odoo_sync::classify_store(&e);
        // Read again inside the lock: another worker may have refreshed (or given up) meanwhile.
        let t = match self.usable_tokens(merchant).await? {
            Ok(t) => t,
            Err(unavailable) => return Ok(unavailable),
        };
        let current = t.access.expose_secret();
        let replaced = rejected.is_some_and(|r| r != current);
        if replaced || (rejected.is_none() && !expiring(t.expires_at, margin)) {
            return Ok(Access::Token(AccessToken::new(current)));
        }
        let Some(refresh) = &t.refresh else {
            let reason = "the access token expired or was refused and there is no refresh token \
                          (the app's scopes lack offline_access)";
            self.needs_reinstall(merchant, reason).await?;
            return Ok(Access::Unavailable(needs_reinstall_text(
                merchant,
                Some(reason),
            )));
        };
        let started = Instant::now();
        match inner
            .api
            .refresh(&RefreshToken::new(refresh.expose_secret()))
            .await
        {
            Ok(set) => {
                metrics::counter!("salla_odoo_salla_token_refreshes_total", "outcome" => "ok")
                    .increment(1);
                // The old refresh token is spent: the new pair must be stored. A database that
                // does not take it now (restarting, failing over) is tried again for up to
                // SAVE_PATIENCE before the store is given up: the pair exists nowhere else.
                let mut attempt: u32 = 0;
                let saving = Instant::now();
                loop {
                    match tokens::save(
                        &inner.pool,
                        &inner.keyring,
                        merchant,
                        set.access_token.expose(),
                        Some(set.refresh_token.expose()),
                        Some(set.expires_at),
                        set.scope.as_deref(),
                        Source::Refresh,
                    )
                    .await
                    {
                        Ok(()) => break,
                        Err(e) if saving.elapsed() < SAVE_PATIENCE => {
                            attempt += 1;
                            tracing::error!(merchant = merchant.get(), error = %e, attempt, "refreshed Salla tokens not stored yet; retrying");
                            let pause = Duration::from_millis(250 * u64::from(attempt.min(8)));
                            tokio::time::sleep(pause).await;
                        }
                        Err(e) => {
                            tracing::error!(merchant = merchant.get(), error = %e, "refreshed Salla tokens could not be stored: they are lost");
                            let reason =
                                "the refreshed tokens could not be stored (database unavailable)";
                            let _ =
                                tokens::mark_needs_reinstall(&inner.pool, merchant, reason).await;
                            return Err(store_err(e));
                        }
                    }
                }
                tracing::info!(
                    merchant = merchant.get(),
                    took_ms = started.elapsed().as_millis() as u64,
                    "Salla tokens refreshed"
                );
                Ok(Access::Token(set.access_token))
            }
            Err(e) => {
                let class = e.class();
                let outcome = match class {
                    ErrorClass::Transient { .. } => "transient",
                    ErrorClass::NeedsReinstall => "invalid_grant",
                    ErrorClass::OutcomeUnknown => "lost",
                    ErrorClass::Auth => "refused",
                    ErrorClass::Permanent => "permanent",
                };
                metrics::counter!("salla_odoo_salla_token_refreshes_total", "outcome" => outcome)
                    .increment(1);
                match class {
                    ErrorClass::Transient { retry_after } => Err(SyncError::Transient {
                        message: format!("Salla token refresh for store {merchant}: {e}"),
                        retry_after,
                    }),
                    ErrorClass::NeedsReinstall | ErrorClass::Auth => {
                        let reason = format!("the refresh token was refused ({e})");
                        self.needs_reinstall(merchant, &reason).await?;
                        Ok(Access::Unavailable(needs_reinstall_text(
                            merchant,
                            Some(&reason),
                        )))
                    }
                    ErrorClass::OutcomeUnknown => {
                        let reason = format!(
                            "a token refresh's answer was lost ({e}); the refresh token may be spent, so it is not \
                             tried again"
                        );
                        self.needs_reinstall(merchant, &reason).await?;
                        Ok(Access::Unavailable(needs_reinstall_text(
                            merchant,
                            Some(&reason),
                        )))
                    }
                    // The app's own credentials (invalid_client) or a refused request: a
                    // configuration problem of the deployment, not of this merchant.
                    ErrorClass::Permanent => Err(SyncError::Permanent {
                        message: format!(
                            "Salla token refresh for store {merchant} refused: {e} (check salla.client_id and \
                             salla.client_secret)"
                        ),
                    }),
                }
            }
        }
    }

    async fn needs_reinstall(&self, merchant: MerchantId, reason: &str) -> Result<(), SyncError> {
        metrics::counter!("salla_odoo_salla_needs_reinstall_total").increment(1);
        tokens::mark_needs_reinstall(&self.inner.pool, merchant, reason)
            .await
            .map_err(|e| salla_odoo_sync::classify_store(&e))
    }

    /// Take one request of the store's budget, waiting up to [`MAX_INLINE_WAIT`].
    async fn budget(&self, merchant: MerchantId, class: EndpointClass) -> Result<(), SyncError> {
        let inner = &self.inner;
        let customers = class == EndpointClass::Customers;
        let classes: &[EndpointClass] = if customers {
            &[EndpointClass::General, EndpointClass::Customers]
        } else {
            &[EndpointClass::General]
        };
        for c in classes {
            let budget = inner.policy.budget(*c);
            let is_customers = *c == EndpointClass::Customers;
            let started = Instant::now();
            loop {
                let wait = inner
                    .limits
                    .salla_request(merchant, is_customers, budget.requests, budget.window)
                    .await
                    .map_err(|e| SyncError::Transient {
                        message: format!("Salla request budget unavailable: {e}"),
                        retry_after: None,
                    })?;
                let Some(wait) = wait else { break };
                if started.elapsed() + wait > MAX_INLINE_WAIT {
                    metrics::counter!("salla_odoo_salla_requests_total", "outcome" => "throttled")
                        .increment(1);
                    return Err(SyncError::Throttled {
                        message: format!("store {merchant}: its Salla API budget is spent for now"),
                        retry_after: wait,
                    });
                }
                tokio::time::sleep(wait).await;
            }
        }
        Ok(())
    }

    /// One Admin API request for `merchant` (`call` gets the client and a token), with the budget,
    /// the token and one refresh when the token is refused.
    pub async fn request<T, F, Fut>(
        &self,
        merchant: MerchantId,
        class: EndpointClass,
        call: F,
    ) -> Result<Answer<T>, SyncError>
    where
        F: Fn(SallaApi, AccessToken) -> Fut,
        Fut: std::future::Future<Output = Result<T, ApiError>>,
    {
        let mut rejected: Option<String> = None;
        for _ in 0..2 {
            let token = match self
                .token(merchant, rejected.as_deref(), CALL_MARGIN)
                .await?
            {
                Access::Token(t) => t,
                Access::Unavailable(why) => return Ok(Answer::Unavailable(why)),
            };
            self.budget(merchant, class).await?;
            let sent = token.expose().to_owned();
            match call(self.inner.api.clone(), token).await {
                Ok(data) => {
                    metrics::counter!("salla_odoo_salla_requests_total", "outcome" => "ok")
                        .increment(1);
                    return Ok(Answer::Data(data));
                }
                Err(e) if e.is_not_found() => {
                    metrics::counter!("salla_odoo_salla_requests_total", "outcome" => "not_found")
                        .increment(1);
                    return Ok(Answer::NotFound);
                }
                Err(e) if e.class() == ErrorClass::Auth && rejected.is_none() => {
                    metrics::counter!("salla_odoo_salla_requests_total", "outcome" => "token_refused")
                        .increment(1);
                    rejected = Some(sent);
                }
                Err(e) if e.class() == ErrorClass::Auth => {
                    let reason = format!(
                        "Salla refused a freshly refreshed access token ({e}): the app was probably uninstalled"
                    );
                    self.needs_reinstall(merchant, &reason).await?;
                    return Ok(Answer::Unavailable(needs_reinstall_text(
                        merchant,
                        Some(&reason),
                    )));
                }
                Err(e) => return Err(self.classify(merchant, e).await),
            }
        }
        unreachable!("the loop returns on its second pass")
    }

    /// `GET` an Admin API path for `merchant` as JSON (see [`SallaAccess::request`]).
    pub async fn get_json(
        &self,
        merchant: MerchantId,
        path: &[&str],
        query: &[(&str, String)],
        class: EndpointClass,
    ) -> Result<Fetched, SyncError> {
        let answer = self
            .request(merchant, class, |api, token| async move {
                api.merchant(&token)
                    .get::<Value>(path, query, class)
                    .await
                    .map(|r| r.data)
            })
            .await?;
        Ok(match answer {
            Answer::Data(v) => Fetched::Found(v),
            Answer::NotFound => Fetched::NotFound,
            Answer::Unavailable(why) => Fetched::Unavailable(why),
        })
    }

    /// An Admin API error as the worker treats it; a 429 blocks the store for its `Retry-After`.
    async fn classify(&self, merchant: MerchantId, e: ApiError) -> SyncError {
        let outcome = if e.status() == Some(429) {
            "rate_limited"
        } else {
            "error"
        };
        metrics::counter!("salla_odoo_salla_requests_total", "outcome" => outcome).increment(1);
        match e.class() {
            ErrorClass::Transient { retry_after } if e.status() == Some(429) => {
                let wait = retry_after.unwrap_or(Duration::from_secs(60));
                if let Err(err) = self.inner.limits.block_salla(merchant, wait).await {
                    tracing::warn!(error = %err, "could not share the store's Salla block with the fleet");
                }
                SyncError::Throttled {
                    message: format!("Salla answered 429 for store {merchant}: {e}"),
                    retry_after: wait,
                }
            }
            ErrorClass::Transient { retry_after } => SyncError::Transient {
                message: format!("Salla API: {e}"),
                retry_after,
            },
            ErrorClass::OutcomeUnknown => SyncError::Transient {
                message: format!("Salla API (outcome unknown): {e}"),
                retry_after: None,
            },
            ErrorClass::Permanent | ErrorClass::Auth | ErrorClass::NeedsReinstall => {
                SyncError::Permanent {
                    message: format!("Salla API: {e}"),
                }
            }
        }
    }

    /// Refresh the tokens of every store that expire within `ahead` (the scheduled job's work).
    /// Returns how many were refreshed and how many stores need a reinstall now.
    pub async fn refresh_due(&self, ahead: Duration) -> Result<(usize, usize), SyncError> {
        let store_err = |e: salla_odoo_store::StoreError| salla_odoo_sync::classify_store(&e);
        let before = OffsetDateTime::now_utc() + ahead;
        let due = tokens::due_for_refresh(&self.inner.pool, before)
            .await
            .map_err(store_err)?;
        let mut refreshed = 0;
        for merchant in due {
            match self.token(merchant, None, ahead).await {
                Ok(Access::Token(_)) => refreshed += 1,
                Ok(Access::Unavailable(why)) => {
                    tracing::warn!(merchant = merchant.get(), reason = %why, "scheduled token refresh: store needs a reinstall");
                }
                Err(e) => {
                    tracing::warn!(merchant = merchant.get(), error = %e, "scheduled token refresh failed; tried again next round");
                }
            }
        }
        let stuck = tokens::statuses(&self.inner.pool)
            .await
            .map_err(store_err)?
            .iter()
            .filter(|s| s.state == Some(ApiState::NeedsReinstall))
            .count();
        metrics::gauge!("salla_odoo_stores_needs_reinstall").set(stuck as f64);
        Ok((refreshed, stuck))
    }
}

fn expiring(expires_at: Option<OffsetDateTime>, margin: Duration) -> bool {
    expires_at.is_some_and(|e| e - OffsetDateTime::now_utc() < margin)
}

fn needs_reinstall_text(merchant: MerchantId, reason: Option<&str>) -> String {
    format!(
        "store {merchant} needs a reinstall of the Salla app ({}); its API calls are off until the next \
         app.store.authorize",
        reason.unwrap_or("no reason recorded")
    )
}

impl SallaFetch for SallaAccess {
    fn order(&self, merchant: MerchantId, order_id: u64) -> FetchFuture<'_> {
        Box::pin(async move {
            let id = order_id.to_string();
            self.get_json(merchant, &["orders", &id], &[], EndpointClass::General)
                .await
        })
    }

    fn product(&self, merchant: MerchantId, product_id: u64) -> FetchFuture<'_> {
        Box::pin(async move {
            let id = product_id.to_string();
            self.get_json(merchant, &["products", &id], &[], EndpointClass::General)
                .await
        })
    }
}

/// The stores a scheduled round works on: those whose Salla API state is ok (`what` names the
/// round in the log when the database cannot say).
pub(crate) async fn api_stores(pool: &Db, what: &str) -> Vec<MerchantId> {
    match tokens::statuses(pool).await {
        Ok(stores) => stores
            .into_iter()
            .filter(|s| s.state == Some(ApiState::Ok))
            .filter_map(|s| u64::try_from(s.merchant_id).ok().map(MerchantId::new))
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "{what} skipped: database unavailable");
            Vec::new()
        }
    }
}

/// The scheduled token refresh: every `interval`, one worker of the fleet at a time (a global
/// lock) refreshes the tokens that expire within `ahead`.
pub async fn refresh_loop(access: SallaAccess, pool: Db, interval: Duration, ahead: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let lock = match salla_odoo_store::locks::try_lock_global(&pool, "salla-token-schedule")
            .await
        {
            Ok(Some(lock)) => lock,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "scheduled token refresh skipped: database unavailable");
                continue;
            }
        };
        match access.refresh_due(ahead).await {
            Ok((refreshed, stuck)) if refreshed > 0 || stuck > 0 => {
                tracing::info!(
                    refreshed,
                    needs_reinstall = stuck,
                    "scheduled Salla token refresh"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "scheduled Salla token refresh failed"),
        }
        let _ = lock.release().await;
    }
}
