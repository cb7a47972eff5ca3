//! The Salla Merchant API client (Admin API v2 and the OAuth refresh), docs/salla-platform.md §7–§10.
//!
//! # Shape
//!
//! [`SallaApi`] holds one pooled HTTP client (rustls with the platform's roots, like the Odoo client)
//! and the app's OAuth credentials, and nothing per merchant. A merchant's calls go through
//! [`SallaApi::merchant`] with that merchant's [`AccessToken`]; the caller owns, stores and refreshes
//! the tokens. Every answer is a [`Response`] carrying the parsed rate-limit headers ([`RateInfo`]),
//! and a [`RequestHook`] can wrap each request to feed the fleet-wide per-merchant limiter (which
//! lives with the worker, not here; [`RateLimitPolicy`] says what the budgets are).
//!
//! Answers are read leniently (§10): the `{status, success, data}` envelope, `pagination` whose
//! `links` is `{}` or `[]`, ids and amounts as numbers or strings, error codes as strings or numbers,
//! empty bodies on 201/202/204, and HTML pages from proxies. Lists are followed from `page=1` while
//! `currentPage < totalPages`, `per_page` at most 60; the `*_page` methods return one page for
//! callers that stop early.
//!
//! Requests send `Accept: application/json`, `Accept-Language: en` (so messages are English) and
//! `User-Agent: salla-odoo/<version>`.
//!
//! # Error classification
//!
//! Every failure is an [`ApiError`]; [`ApiError::class`] answers "what now?". The client never
//! retries by itself. A *read* is a `GET`; a *write* is a `POST` and the token refresh.
//!
//! | failure | read | write / refresh |
//! |---|---|---|
//! | cannot connect (refused, DNS, TLS, connect timeout): nothing sent | `Transient` | `Transient` |
//! | sent, then timeout / connection closed / body cut off | `Transient` | `OutcomeUnknown` |
//! | 429 (wait `Retry-After`, else `X-RateLimit-Reset` − now), 408, 503 | `Transient` | `Transient` |
//! | 500, 502, 504, other 5xx (also an HTML page from a proxy) | `Transient` | `OutcomeUnknown` |
//! | 401 "The access token is invalid" (or user missing/inactive) | `Auth` | `Auth` |
//! | 401/403 "should have access to one of those scopes: …" | `Permanent` ([`ApiError::MissingScope`]) | same |
//! | 400, 403, 404, 405, 406, 410, 422 and other 4xx | `Permanent` | `Permanent` |
//! | refresh refused with `invalid_grant` (400 or 401) | — | `NeedsReinstall` ([`ApiError::InvalidGrant`]) |
//! | 2xx that does not decode | `Permanent` | `OutcomeUnknown` (applied; a write's body is not needed) |
//! | answer over `max_answer_bytes` | `Permanent` | `OutcomeUnknown` |
//! | configuration, bad input (empty SKU, empty bulk) | `Permanent` | `Permanent` |
//!
//! A 5xx on a write is an unknown outcome because the request reached a server, or a gateway that
//! may have passed it on. [`ApiError::is_not_found`] tells a deleted order or product (404) apart.
//!
//! `Auth` means: refresh once (rules below) and retry the call; if the retry is refused again, or the
//! app was uninstalled, the merchant needs a reinstall. `NeedsReinstall` is its own class, not `Auth`,
//! because refreshing again cannot help: the token chain is dead.
//!
//! An `OutcomeUnknown` write may be repeated only when it is idempotent: an `overwrite` quantity update
//! ([`QuantityUpdate::is_idempotent`]) or setting an order status. Never an increment/decrement, and
//! never a refresh.
//!
//! # Tokens (§7.5)
//!
//! Refresh tokens are single-use: a refresh returns a new pair and kills the old refresh token, and
//! presenting a used refresh token makes Salla revoke the chain (the merchant must reinstall). So the
//! caller, not this client:
//! 1. refreshes under a fleet-wide **per-merchant lock**;
//! 2. **re-reads** the stored tokens inside the lock (another worker may have refreshed already) and
//!    only refreshes if they are still the ones that failed or are about to expire;
//! 3. **stores both** new tokens ([`TokenSet`]) before releasing the lock;
//! 4. **never retries a lost refresh** (`OutcomeUnknown`): the old token may already be spent. Treat
//!    it as "needs reinstall" and alert;
//! 5. on `InvalidGrant`, marks the merchant "needs reinstall" and stops its jobs.
//!
//! [`TokenSet::expires_at`] is absolute: the token endpoint's `expires_in` (or `expires`, a duration)
//! and the webhook's `expires` (a Unix time) are normalised by [`oauth::expiry`]. Access tokens last
//! 14 days; refresh about a day ahead ([`TokenSet::expires_within`]).
//!
//! Secrets never appear in errors or `Debug`: [`AccessToken`], [`RefreshToken`] and the config's
//! client secret print as `[REDACTED]`, and texts taken from answers are scrubbed of them.

mod client;
mod error;
mod models;
pub mod oauth;
mod ratelimit;

pub use client::{ApiConfig, BulkError, MerchantApi, RequestHook, Response, SallaApi};
pub use error::{ApiError, ErrorClass, ErrorCode, RequestKind};
pub use models::{
    Branch, CustomerQuery, Identifier, MAX_PER_PAGE, OrderQuery, OrderSort, OrderStatusDef,
    OrderSummary, Page, PageLinks, Pagination, ProductQuery, ProductVariant, QuantityMode,
    QuantityUpdate, StatusChange, StatusRef, StatusTarget, WriteAck,
};
pub use oauth::{AccessToken, RefreshToken, TokenSet};
pub use ratelimit::{Budget, EndpointClass, Plan, RateInfo, RateLimitPolicy};
