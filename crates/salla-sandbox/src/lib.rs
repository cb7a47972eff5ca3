//! A faithful in-memory double of Salla's Merchant API (Admin API v2) and its OAuth token
//! endpoint, for tests, demos and benchmarks. Section numbers (§) refer to
//! `docs/salla-platform.md`.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use salla_sandbox::{Match, Options};
//! let sb = salla_sandbox::spawn(Options::default()).await?;
//! sb.seed_order(42, serde_json::json!({"id": 1001, "reference_id": 7001})).unwrap();
//! let tokens = sb.authorize(42); // as in `app.store.authorize`
//! // GET {url}/admin/v2/orders/1001 with "Authorization: Bearer {tokens.access_token}".
//! // The next refresh takes effect, but its answer is lost.
//! sb.faults().drop_after_write(Match::any().path_prefix("/oauth2/token").times(1));
//! # let _ = (sb.url(), tokens);
//! sb.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # OAuth (§7)
//!
//! `POST /oauth2/token`, form-encoded (JSON accepted too): `grant_type=refresh_token`,
//! `refresh_token`, `client_id`, `client_secret`. Success is 200
//! `{access_token, expires_in, expires, refresh_token, scope, token_type: "bearer"}` with
//! `expires_in` = `expires` = the access-token lifetime in seconds (§7.3). Refresh tokens are
//! **single-use**: a refresh retires the old access token and the old refresh token; presenting
//! a used refresh token again revokes the whole chain and answers 401 `invalid_grant` (§7.5),
//! as do unknown tokens and uninstalled merchants. Wrong client credentials answer 401
//! `invalid_client`, a missing parameter 400 `invalid_request`, another grant type 400
//! `unsupported_grant_type`. Errors carry `error`, `error_description`, `message` and often
//! `hint`, like Salla's OAuth server. Refresh tokens do not expire (§7.3 leaves it open).
//! Tokens are only minted by the control route `authorize` (Easy Mode, §7.1), which always
//! issues a refresh token. `GET /oauth2/user/info` answers `{status, success, data: {id,
//! merchant: {id, …}}}` for a working access token.
//!
//! # Admin API (§8), under `/admin/v2`
//!
//! `Authorization: Bearer <access token>`; the token names the merchant. Envelopes per §8.2:
//! `{"status": 200, "success": true, "data": …}` (+ `pagination` on lists), errors
//! `{"status", "success": false, "error": {"code", "message", "fields"?}}`. A missing, unknown,
//! retired, revoked or expired token, or an uninstalled merchant: 401 `unauthorized` "The access
//! token is invalid". A token without the route's scope: 401 `unauthorized` "The access token
//! should have access to one of those scopes: orders.read" (Salla's docs list missing scopes
//! under 401, §8.2, so 401 rather than 403). `x.read_write` implies `x.read`; shipments accept
//! `shipping.*` and `shippings.*`. Unknown paths or non-numeric ids: 404 `not_found`; another
//! method: 405 `method_not_allowed`.
//!
//! | Route | Scope | Semantics |
//! |---|---|---|
//! | `GET /orders` | orders.read | summaries (`id, reference_id, status, date, updated_at, total, amounts.total, payment_method, currency, source, customer{…}, items[{name, quantity, thumbnail}]`); filters `from_date`/`to_date` (`yyyy-mm-dd`, inclusive, on the order's `date`), `status[]` (ids; the status or its `customized` id), `reference_id`, `customer_id`, `payment_method[]`, `source[]`; `sort_by` `id\|total\|updated_at\|created_at` + `-asc\|-desc` (default `id-desc`; ties by id); bad values → 422 |
//! | `GET /orders/{id}` | orders.read | the order as seeded (and updated); `?format=light` drops `items`, `shipments`, `pickup_branch`, `customer.groups` |
//! | `GET /orders/items?order_id=` | orders.read | the order's `items` (422 without `order_id`, 404 unknown order) |
//! | `GET /orders/statuses` | orders.read | the original statuses of §9.1 ([`statuses`]) |
//! | `POST /orders/{id}/status` | orders.read_write | `{"slug"}` or `{"status_id"}`, `note`? → 201 "The entity has been updated successfully"; sets `status`, bumps `updated_at`, appends a history entry; unknown slug/id → 422 with `fields` |
//! | `GET /shipments[?order_id=&status=]`, `GET /shipments/{id}` | shipping.read | the seeded orders' `shipments[]`, with `order_id`/`order_reference_id` added when missing |
//! | `GET /products[?keyword=&status=]` | products.read | full products; `keyword` matches name or SKU (own or variant), case-insensitive |
//! | `GET /products/{id}`, `GET /products/sku/{sku}` | products.read | by SKU: a product's `sku` or a `skus[].sku` → the parent product |
//! | `GET /products/{id}/variants`, `GET /products/variants/{id}` | products.read | the product's `skus[]` / one variant |
//! | `POST /products/quantities/bulk` | products.read_write | see below |
//! | `GET /customers[?keyword=]`, `GET /customers/{id}` | customers.read | keyword on name, email, mobile (with or without code); also limited to 500 per 10 min |
//! | `GET /branches`, `GET /branches/{id}` | branches.read | the seeded branches, or one default branch ([`DEFAULT_BRANCH_ID`]) while none is seeded |
//!
//! **Pagination** (§8.3): `page` (1-based; invalid → 1), `per_page` (default 15; above 60
//! clamped to 60, like the docs' maximum; invalid → 15). `pagination` is `{count, total,
//! perPage, currentPage, totalPages, links}` with `totalPages >= 1` and `links` holding `next`
//! and/or `previous` absolute URLs (built from the `Host` header), or `{}`. Lists are newest
//! first (id descending) unless sorted otherwise.
//!
//! **Bulk quantities** (§8.6): `{"products": [{"identifer_type": "id|variant_id|sku",
//! "identifer", "quantity", "mode"?: "overwrite|increment|decrement", "unlimited_quantity"?,
//! "branch"?, "reason_id"?}]}`. All entries are validated first; any error → 422 with
//! `fields` keyed `products.{i}.{field}` (unknown type, missing field, quantity not a
//! non-negative integer, unknown mode, unknown product/variant/SKU), and nothing is queued.
//! Otherwise 201 "The products quantities has been queued to update"; the update is applied
//! [`Options::stock_delay`] later (in order of arrival): a product's `quantity`, or a variant's
//! `stock_quantity` (the parent's `quantity` becomes the sum of its variants'), plus
//! `unlimited_quantity` when given, and the product's `updated_at` is bumped. `decrement`
//! stops at 0. `branch` and `reason_id` are only recorded (quantities are not per branch).
//!
//! **Dates.** Seeded objects keep their dates, except that an order without `updated_at` gets
//! now, and writes bump `updated_at` to now in Riyadh time, as
//! `{"date": "2024-01-01 12:00:00.000000", "timezone_type": 3, "timezone": "Asia/Riyadh"}` (a
//! seed whose `updated_at` is a plain string keeps that shape). Ids are JSON numbers: seeding
//! turns numeric-string `id`s (top level, `items`, `shipments`, `customer`, `skus`) into numbers.
//!
//! **Rate limits** (§8.4): per merchant, a fixed window of [`Options::rate_window`] opened by
//! the first request after the previous window ended, allowing the merchant's plan limit
//! (`plan_per_min`, default [`Options::rate_limit_per_min`]); customer endpoints also count
//! against a separate [`Options::customers_rate_limit`] per [`Options::customers_window`].
//! Every Admin API answer carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
//! `X-RateLimit-Reset` (epoch seconds; for customer endpoints, the customers window's); over
//! the limit → 429 `too_many_requests` "Too Many Attempts." with `Retry-After`. Requests
//! without a working token are not counted. The "1 request per second after the limit" leaky
//! behaviour of §8.4 is not modelled.
//!
//! # State
//!
//! See [`state`]: everything is in memory behind one mutex, many merchants at once (keyed by the
//! store id). Nothing persists across restarts.
//!
//! # Control API (never subject to faults, rate limits or the call log)
//!
//! | Route | Effect |
//! |---|---|
//! | `POST /_sandbox/merchants/{m}/orders` (also `products`, `customers`, `branches`) | upsert by `id` one object (exactly as `GET /orders/{id}` returns it in `data`) or an array; all or nothing → `{"upserted", "ids"}`; 400 without a numeric `id` |
//! | `GET /_sandbox/merchants/{m}/orders/{id}` (also `products`, `customers`, `branches`) | the stored object |
//! | `POST /_sandbox/merchants/{m}/authorize` `{"scope"?, "plan_per_min"?}` | new token chain, clears "uninstalled" → `{access_token, refresh_token, expires (epoch secs), scope, token_type}`; default scope [`DEFAULT_SCOPE`] |
//! | `POST /_sandbox/merchants/{m}/uninstall` | every token of the merchant stops working |
//! | `POST /_sandbox/merchants/{m}/expire-tokens` | every current access token expires now → `{"expired": n}` |
//! | `POST /_sandbox/merchants/{m}/plan` `{"per_min": N \| null}` | the plan limit |
//! | `GET /_sandbox/merchants/{m}/quantities` | `{sku: quantity}` as applied (products and variants with a SKU) |
//! | `GET /_sandbox/merchants/{m}/stock-updates` | the bulk updates `[{id, queued_at, applied_at, products}]` |
//! | `GET /_sandbox/merchants/{m}/orders/{id}/status-history` | `[{id, order_id, slug, status_id, status, note, created_at}]`, oldest first |
//! | `GET /_sandbox/merchants/{m}/tokens` | every token pair: `{chain, access_token, refresh_token, scope, expires, access_valid, refresh_used, revoked}` |
//! | `GET /_sandbox/merchants/{m}` | counts and flags |
//! | `GET /_sandbox/calls`, `DELETE` | the request log ([`Call`]s, in order of arrival), clear it (and the stats) |
//! | `GET /_sandbox/stats` | `{requests, endpoints: {"GET /admin/v2/orders": n, …}, token_refreshes, token_refresh_failures, rate_limited, injected_errors, dropped}` |
//! | `GET /_sandbox/faults`, `PUT` (a [`FaultConfig`]), `DELETE` | read, replace, clear all faults |
//! | `POST /_sandbox/faults/latency` `{"fixed_ms", "jitter_ms"}` | latency |
//! | `POST /_sandbox/faults/errors` `{"path_prefix"?, "method"?, "merchant"?, "rate"?, "times"?, "status", "retry_after_secs"?}` | add an error rule |
//! | `POST /_sandbox/faults/drop_after_write` `{"path_prefix"?, "method"?, "merchant"?, "rate"?, "times"?}` | add a drop-after-write rule |
//! | `POST /_sandbox/faults/outage` `{"seconds"}`, `DELETE` | refuse connections for that long / end it |
//! | `GET /_sandbox`, `POST /_sandbox/reset` | merchants and settings; forget everything |
//!
//! See [`faults`] for the fault semantics.

pub mod faults;
pub mod state;
pub mod statuses;

mod api;
mod control;
mod server;
mod util;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use api::{INVALID_GRANT_DESCRIPTION, INVALID_TOKEN_MESSAGE};
pub use faults::{ErrorRule, FaultConfig, Faults, Latency, Match};
pub use state::DEFAULT_BRANCH_ID;

/// The scope `authorize` grants unless told otherwise.
pub const DEFAULT_SCOPE: &str = "orders.read orders.read_write products.read products.read_write customers.read branches.read shipping.read offline_access";

/// How long shutdown waits for open requests.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How to start a sandbox.
#[derive(Debug, Clone)]
pub struct Options {
    /// Access-token lifetime (Salla: 14 days).
    pub token_lifetime: Duration,
    /// Delay before a bulk quantity update is applied.
    pub stock_delay: Duration,
    pub client_id: String,
    pub client_secret: String,
    /// Default plan limit per [`Options::rate_window`] (Salla's Plus plan: 120 per minute).
    pub rate_limit_per_min: u32,
    /// Length of the plan window (a minute; shorter only for tests).
    pub rate_window: Duration,
    /// Customer endpoints: this many requests per [`Options::customers_window`].
    pub customers_rate_limit: u32,
    pub customers_window: Duration,
    /// Initial latency (also switchable at run time through [`Sandbox::faults`]).
    pub latency: Latency,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            token_lifetime: Duration::from_secs(1_209_600),
            stock_delay: Duration::from_millis(2000),
            client_id: "sandbox-client".into(),
            client_secret: "sandbox-secret".into(),
            rate_limit_per_min: 120,
            rate_window: Duration::from_secs(60),
            customers_rate_limit: 500,
            customers_window: Duration::from_secs(600),
            latency: Latency::default(),
        }
    }
}

impl Options {
    pub(crate) fn lifetime(&self) -> time::Duration {
        time::Duration::try_from(self.token_lifetime).unwrap_or(time::Duration::MAX)
    }
}

/// Tokens as `app.store.authorize` delivers them (`expires` is an absolute Unix timestamp).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    pub expires: i64,
    pub scope: String,
    pub token_type: String,
}

/// Options of [`Sandbox::authorize_with`] (the body of `POST /_sandbox/merchants/{m}/authorize`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizeOptions {
    /// Space-separated scopes; default [`DEFAULT_SCOPE`].
    #[serde(default)]
    pub scope: Option<String>,
    /// The merchant's plan limit (requests per window); kept when `None`.
    #[serde(default)]
    pub plan_per_min: Option<u32>,
}

/// One request to the Salla routes, as logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    pub seq: u64,
    pub method: String,
    pub path: String,
    pub query: String,
    /// The route pattern, e.g. `GET /admin/v2/orders/{id}`.
    pub endpoint: String,
    /// Known from the bearer token or the refresh token, whatever their state.
    pub merchant: Option<u64>,
    /// The status answered (or that would have been, when dropped); `None` while running.
    pub status: Option<u16>,
    /// The connection was closed without an answer (drop-after-write).
    pub dropped: bool,
    /// Arrival time, RFC 3339 UTC.
    pub at: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("invalid seed: {0}")]
    InvalidSeed(String),
}

/// A running sandbox (see [`spawn`]).
pub struct Sandbox {
    addr: SocketAddr,
    shared: Arc<server::Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Sandbox {
    /// `http://127.0.0.1:PORT`; the Admin API is at `{url}/admin/v2`, OAuth at `{url}/oauth2`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// `{url}/admin/v2`
    pub fn admin_url(&self) -> String {
        format!("{}/admin/v2", self.url())
    }
    /// `{url}/oauth2/token`
    pub fn token_url(&self) -> String {
        format!("{}/oauth2/token", self.url())
    }
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    pub fn options(&self) -> &Options {
        &self.shared.opts
    }
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    fn seed(&self, merchant: u64, kind: state::Kind, v: Value) -> Result<(), SandboxError> {
        control::seed(&self.shared, merchant, kind, v)
            .map(|_| ())
            .map_err(SandboxError::InvalidSeed)
    }
    /// Upsert an order (or an array of orders), shaped as `GET /orders/{id}` returns it.
    pub fn seed_order(&self, merchant: u64, order: Value) -> Result<(), SandboxError> {
        self.seed(merchant, state::Kind::Order, order)
    }
    /// Upsert a product (or an array), with its variants in `skus[]`.
    pub fn seed_product(&self, merchant: u64, product: Value) -> Result<(), SandboxError> {
        self.seed(merchant, state::Kind::Product, product)
    }
    /// Upsert a customer (or an array).
    pub fn seed_customer(&self, merchant: u64, customer: Value) -> Result<(), SandboxError> {
        self.seed(merchant, state::Kind::Customer, customer)
    }
    /// Upsert a branch (or an array); the default branch disappears once one is seeded.
    pub fn seed_branch(&self, merchant: u64, branch: Value) -> Result<(), SandboxError> {
        self.seed(merchant, state::Kind::Branch, branch)
    }

    /// New tokens with [`DEFAULT_SCOPE`] (as `app.store.authorize` delivers them).
    pub fn authorize(&self, merchant: u64) -> Tokens {
        self.authorize_with(merchant, AuthorizeOptions::default())
    }
    pub fn authorize_with(&self, merchant: u64, opts: AuthorizeOptions) -> Tokens {
        control::authorize(&self.shared, merchant, opts)
    }
    /// Every token of the merchant stops working (until the next `authorize`).
    pub fn uninstall(&self, merchant: u64) {
        self.shared.state().uninstall(merchant);
    }
    /// Every current access token of the merchant expires now; returns how many.
    pub fn expire_tokens(&self, merchant: u64) -> usize {
        self.shared.state().expire_tokens(merchant, util::now())
    }
    /// The merchant's plan limit (`None`: [`Options::rate_limit_per_min`]).
    pub fn set_plan(&self, merchant: u64, per_min: Option<u32>) {
        self.shared.state().merchant(merchant).plan_per_min = per_min;
    }

    /// `{sku: quantity}` as applied (after the stock delay).
    pub fn quantities(&self, merchant: u64) -> BTreeMap<String, i64> {
        let st = self.shared.state();
        st.merchants
            .get(&merchant)
            .map(|m| m.quantities())
            .unwrap_or_default()
    }
    /// The status-history entries posted through the API, oldest first.
    pub fn status_history(&self, merchant: u64, order: u64) -> Vec<Value> {
        let st = self.shared.state();
        st.merchants
            .get(&merchant)
            .and_then(|m| m.history.get(&order).cloned())
            .unwrap_or_default()
    }
    pub fn order(&self, merchant: u64, id: u64) -> Option<Value> {
        let st = self.shared.state();
        st.merchants.get(&merchant)?.orders.get(&id).cloned()
    }
    pub fn product(&self, merchant: u64, id: u64) -> Option<Value> {
        let st = self.shared.state();
        st.merchants.get(&merchant)?.products.get(&id).cloned()
    }
    /// The bulk stock updates received, with `applied_at` once applied.
    pub fn stock_updates(&self, merchant: u64) -> Vec<Value> {
        let st = self.shared.state();
        st.merchants
            .get(&merchant)
            .map(|m| m.stock_updates.clone())
            .unwrap_or_default()
    }

    /// Every request to the Salla routes, in order of arrival.
    pub fn calls(&self) -> Vec<Call> {
        self.shared.calls()
    }
    /// Clear the call log and the stats counters.
    pub fn clear_calls(&self) {
        self.shared.clear_calls();
    }
    /// The JSON of `GET /_sandbox/stats`.
    pub fn stats(&self) -> Value {
        self.shared.stats()
    }
    /// Forget all merchants, tokens, faults, calls and counters.
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Stop accepting, finish open requests.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Start a sandbox on `127.0.0.1:0` in the background.
pub async fn spawn(opts: Options) -> std::io::Result<Sandbox> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(server::Shared::new(opts));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server::run(listener, shared.clone(), async move {
        let _ = rx.await;
    }));
    Ok(Sandbox {
        addr,
        shared,
        stop: Some(tx),
        task,
    })
}

/// Serve on `listener` until `shutdown` completes (then finish open requests).
pub async fn serve(
    listener: tokio::net::TcpListener,
    opts: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let shared = Arc::new(server::Shared::new(opts));
    server::run(listener, shared, shutdown).await
}
