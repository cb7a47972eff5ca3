//! A store's Salla Merchant API tokens and their state.
//!
//! # Data layout
//! - The tokens are secrets (`secrets`, sealed like the Odoo API key): the access token under
//!   [`secrets::SALLA_ACCESS_TOKEN`] with its absolute expiry in `expires_at`, the refresh token
//!   under [`secrets::SALLA_REFRESH_TOKEN`].
//! - Their state is on the store's row (`stores`): `salla_api_state` (`ok`, `needs_reinstall`, or
//!   NULL before the first `app.store.authorize`), `salla_api_reason` and `salla_api_state_at`
//!   (why and since when), `salla_scope` (the granted scopes), `salla_refreshed_at` (the last
//!   refresh the connector made).
//!
//! # Failure handling
//! [`save`] writes both tokens and the state in one transaction: a refresh's new pair is never
//! stored half (Salla's refresh tokens are single-use, so losing the new refresh token would lose
//! the store). Whoever refreshes holds the fleet-wide refresh lock ([`refresh_lock_name`], see
//! `crates/worker/src/salla.rs`) and re-reads the tokens inside it. [`mark_needs_reinstall`] is
//! final until the next [`save`] of an `app.store.authorize`.

use salla_odoo_core::MerchantId;
use secrecy::SecretString;
use sqlx::Acquire as _; // `begin`/`acquire` on a session's held connection (on_db!)
use time::OffsetDateTime;

use crate::secrets::{self, Keyring};
use crate::{Db, StoreError, db_id};

/// The state of a store's Salla API access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiState {
    /// The tokens work (as far as the connector knows).
    Ok,
    /// The tokens cannot be used or renewed: the merchant must reinstall (or re-authorize) the app.
    NeedsReinstall,
}

impl ApiState {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiState::Ok => "ok",
            ApiState::NeedsReinstall => "needs_reinstall",
        }
    }
}

/// A store's tokens, decrypted, for the code that calls Salla.
#[derive(Clone)]
pub struct Tokens {
    pub access: SecretString,
    pub refresh: Option<SecretString>,
    /// When the access token expires (`None`: unknown).
    pub expires_at: Option<OffsetDateTime>,
    pub scope: Option<String>,
    pub state: ApiState,
    pub reason: Option<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("expires_at", &self.expires_at)
            .field("scope", &self.scope)
            .field("state", &self.state)
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

/// What `salla-odoo store tokens` shows: never a token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenStatus {
    pub merchant_id: i64,
    /// `None`: no tokens were ever received (`app.store.authorize` not seen).
    pub state: Option<ApiState>,
    pub reason: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub state_since: Option<OffsetDateTime>,
    pub scope: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub access_expires_at: Option<OffsetDateTime>,
    pub has_access_token: bool,
    pub has_refresh_token: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub refreshed_at: Option<OffsetDateTime>,
}

/// The name of the fleet-wide lock held around every refresh of a merchant's tokens.
pub fn refresh_lock_name(merchant: MerchantId) -> String {
    format!("salla-token-refresh/{merchant}")
}

/// How the tokens being saved came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `app.store.authorize` (install, app update, re-authorization): clears needs-reinstall.
    Authorize,
    /// A refresh the connector made.
    Refresh,
}

/// Store a new pair of tokens and mark the API usable, in one transaction. The store's row is
/// created (`installed`) when the tokens arrive before `app.installed`.
#[allow(clippy::too_many_arguments)] // one stored token pair: the merchant, the pair and its facts
pub async fn save(
    db: &Db,
    keyring: &Keyring,
    merchant: MerchantId,
    access: &str,
    refresh: Option<&str>,
    expires_at: Option<OffsetDateTime>,
    scope: Option<&str>,
    source: Source,
) -> Result<(), StoreError> {
    let id = db_id(merchant)?;
    let insert = db.with_now(crate::stores::ENSURE_STORE_SQL);
    let update = db.with_now(
        "UPDATE stores SET salla_api_state = 'ok', salla_api_reason = NULL,
            salla_api_state_at = now(), salla_scope = COALESCE($2, salla_scope),
            salla_refreshed_at = CASE WHEN $3 THEN now() ELSE salla_refreshed_at END,
            updated_at = now()
         WHERE merchant_id = $1",
    );
    let refreshed = source == Source::Refresh;
    on_db!(db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query(insert.clone()).bind(id).execute(&mut *tx).await?;
        sqlx::query(update.clone())
            .bind(id)
            .bind(scope)
            .bind(refreshed)
            .execute(&mut *tx)
            .await?;
        secrets::put_secret_on(
            crate::Conn::from(&mut *tx),
            keyring,
            merchant,
            secrets::SALLA_ACCESS_TOKEN,
            access,
            expires_at,
        )
        .await?;
        if let Some(refresh) = refresh {
            secrets::put_secret_on(
                crate::Conn::from(&mut *tx),
                keyring,
                merchant,
                secrets::SALLA_REFRESH_TOKEN,
                refresh,
                None,
            )
            .await?;
        }
        tx.commit().await?;
    });
    Ok(())
}

/// The store's tokens, decrypted; `None` when no access token is stored.
pub async fn load(
    db: &Db,
    keyring: &Keyring,
    merchant: MerchantId,
) -> Result<Option<Tokens>, StoreError> {
    let Some(access) =
        secrets::get_secret_with_expiry(db, keyring, merchant, secrets::SALLA_ACCESS_TOKEN).await?
    else {
        return Ok(None);
    };
    let refresh = secrets::get_secret(db, keyring, merchant, secrets::SALLA_REFRESH_TOKEN).await?;
    let status = status(db, merchant).await?;
    let (state, reason, scope) = match status {
        Some(s) => (s.state.unwrap_or(ApiState::Ok), s.reason, s.scope),
        None => (ApiState::Ok, None, None),
    };
    Ok(Some(Tokens {
        access: access.value,
        refresh,
        expires_at: access.expires_at,
        scope,
        state,
        reason,
    }))
}

/// The API can no longer be used for this store: record why. Its tokens stay (a support engineer
/// may want to see when they expired); the next `app.store.authorize` replaces them.
pub async fn mark_needs_reinstall(
    db: &Db,
    merchant: MerchantId,
    reason: &str,
) -> Result<(), StoreError> {
    let id = db_id(merchant)?;
    let insert = db.with_now(crate::stores::ENSURE_STORE_SQL);
    let update = db.with_now(
        "UPDATE stores SET salla_api_state = 'needs_reinstall', salla_api_reason = $2,
            salla_api_state_at = now(), updated_at = now()
         WHERE merchant_id = $1",
    );
    on_db!(db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query(insert.clone()).bind(id).execute(&mut *tx).await?;
        sqlx::query(update.clone()).bind(id).bind(reason).execute(&mut *tx).await?;
        tx.commit().await?;
    });
    tracing::warn!(merchant = %merchant, reason, "Salla API needs a reinstall of the app");
    Ok(())
}

#[derive(sqlx::FromRow)]
struct StatusRow {
    merchant_id: i64,
    salla_api_state: Option<String>,
    salla_api_reason: Option<String>,
    salla_api_state_at: Option<OffsetDateTime>,
    salla_scope: Option<String>,
    salla_refreshed_at: Option<OffsetDateTime>,
    access_expires_at: Option<OffsetDateTime>,
    has_access: i64,
    has_refresh: i64,
}

const STATUS_SQL: &str = "SELECT s.merchant_id, s.salla_api_state, s.salla_api_reason,
        s.salla_api_state_at, s.salla_scope, s.salla_refreshed_at,
        (SELECT expires_at FROM secrets WHERE merchant_id = s.merchant_id
            AND name = 'salla_access_token') AS access_expires_at,
        (SELECT count(*) FROM secrets WHERE merchant_id = s.merchant_id
            AND name = 'salla_access_token') AS has_access,
        (SELECT count(*) FROM secrets WHERE merchant_id = s.merchant_id
            AND name = 'salla_refresh_token') AS has_refresh
     FROM stores s";

impl StatusRow {
    fn into_status(self) -> TokenStatus {
        TokenStatus {
            merchant_id: self.merchant_id,
            state: match self.salla_api_state.as_deref() {
                Some("needs_reinstall") => Some(ApiState::NeedsReinstall),
                Some(_) => Some(ApiState::Ok),
                None if self.has_access > 0 => Some(ApiState::Ok),
                None => None,
            },
            reason: self.salla_api_reason,
            state_since: self.salla_api_state_at,
            scope: self.salla_scope,
            access_expires_at: self.access_expires_at,
            has_access_token: self.has_access > 0,
            has_refresh_token: self.has_refresh > 0,
            refreshed_at: self.salla_refreshed_at,
        }
    }
}

/// The token state of one store (no token values); `None` when the store is unknown.
pub async fn status(db: &Db, merchant: MerchantId) -> Result<Option<TokenStatus>, StoreError> {
    let id = db_id(merchant)?;
    let sql = sqlx::AssertSqlSafe(format!("{STATUS_SQL} WHERE s.merchant_id = $1"));
    let row: Option<StatusRow> = on_db!(db, pool => {
        sqlx::query_as(sql).bind(id).fetch_optional(pool).await?
    });
    Ok(row.map(StatusRow::into_status))
}

/// The token state of every store, by merchant id.
pub async fn statuses(db: &Db) -> Result<Vec<TokenStatus>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!("{STATUS_SQL} ORDER BY s.merchant_id"));
    let rows: Vec<StatusRow> = on_db!(db, pool => {
        sqlx::query_as(sql).fetch_all(pool).await?
    });
    Ok(rows.into_iter().map(StatusRow::into_status).collect())
}

/// Installed stores whose API state is ok, that hold a refresh token, and whose access token
/// expires before `before` (or has no known expiry): the scheduled refresh's work.
pub async fn due_for_refresh(
    db: &Db,
    before: OffsetDateTime,
) -> Result<Vec<MerchantId>, StoreError> {
    let rows = statuses(db).await?;
    Ok(rows
        .into_iter()
        .filter(|s| s.state == Some(ApiState::Ok) && s.has_refresh_token)
        .filter(|s| s.access_expires_at.is_none_or(|e| e < before))
        .filter_map(|s| u64::try_from(s.merchant_id).ok().map(MerchantId::new))
        .collect())
}
