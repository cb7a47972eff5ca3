//! The client: [`ApiConfig`], [`SallaApi`] (one pooled HTTP client, the OAuth refresh) and
//! [`MerchantApi`] (one merchant's access token, the typed endpoints).
//!
//! Each method is one HTTP request, except the `*_all` / list helpers that follow pagination. The
//! client never retries and never stores anything: the caller decides from [`ApiError::class`] and
//! owns the tokens.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{ACCEPT, ACCEPT_LANGUAGE, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use time::OffsetDateTime;
use url::Url;

use super::error::{ApiError, ErrorCode, RequestKind};
use super::models::{
    Branch, BulkQuantities, CustomerQuery, OrderQuery, OrderStatusDef, OrderSummary, Page,
    Pagination, ProductQuery, ProductVariant, QuantityUpdate, StatusChange, WriteAck,
    clamp_per_page,
};
use super::oauth::{AccessToken, RefreshToken, TokenSet, token_set_from_body};
use super::ratelimit::{EndpointClass, RateInfo};
use crate::payload::{Customer, Order, OrderItem, Product, Shipment};

/// The most pages a list helper follows before it gives up (60 × 10 000 items): a server whose
/// pagination never ends must not keep a worker busy forever.
const MAX_PAGES: u32 = 10_000;

/// Client configuration. `Debug` never shows the client secret.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The Admin API base, default `https://api.salla.dev/admin/v2` (a path prefix is kept).
    pub api_url: String,
    /// The OAuth base, default `https://accounts.salla.sa/oauth2` (`/token` is appended).
    pub oauth_url: String,
    /// The app's OAuth client id.
    pub client_id: String,
    /// The app's OAuth client secret.
    pub client_secret: SecretString,
    /// TCP + TLS connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout (send, Salla's work, answer).
    pub request_timeout: Duration,
    /// How long an idle pooled connection is kept.
    pub pool_idle_timeout: Duration,
    /// The largest answer read (bytes); a bigger one is refused as it arrives.
    pub max_answer_bytes: usize,
    /// `User-Agent`.
    pub user_agent: String,
}

impl ApiConfig {
    /// Salla's Admin API v2.
    pub const DEFAULT_API_URL: &'static str = "https://api.salla.dev/admin/v2";
    /// Salla's OAuth server.
    pub const DEFAULT_OAUTH_URL: &'static str = "https://accounts.salla.sa/oauth2";

    /// The defaults: Salla's URLs, 10 s connect, 60 s request, 90 s idle connections, answers up to
    /// 32 MiB, `User-Agent: salla-odoo/<version>`.
    pub fn new(client_id: impl Into<String>, client_secret: SecretString) -> Self {
        ApiConfig {
            api_url: Self::DEFAULT_API_URL.to_owned(),
            oauth_url: Self::DEFAULT_OAUTH_URL.to_owned(),
            client_id: client_id.into(),
            client_secret,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            pool_idle_timeout: Duration::from_secs(90),
            max_answer_bytes: 32 * 1024 * 1024,
            user_agent: concat!("salla-odoo/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// Hooks run around every Admin API request (not the token refresh), e.g. the fleet-wide per-merchant
/// limiter: `before` may wait for budget, `after` feeds it the answer's rate headers. `after` runs for
/// every answer, success or error status, and not when no answer came.
pub trait RequestHook: Send + Sync {
    /// Runs before the request is sent.
    fn before<'a>(&'a self, class: EndpointClass) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>;
    /// Runs when an answer arrived.
    fn after(&self, class: EndpointClass, rate: &RateInfo);
}

/// A successful answer: the decoded data, the HTTP status and the rate-limit headers. For the
/// list helpers that follow pages, `status` and `rate` are those of the last page.
#[derive(Debug, Clone)]
pub struct Response<T> {
    /// The decoded `data`.
    pub data: T,
    /// The HTTP status (200, 201, 202, 204).
    pub status: u16,
    /// The answer's rate-limit headers.
    pub rate: RateInfo,
}

impl<T> Response<T> {
    /// The data alone.
    pub fn into_data(self) -> T {
        self.data
    }
}

/// What a bulk update in chunks had done when a chunk failed.
#[derive(Debug, thiserror::Error)]
#[error("bulk quantity update stopped after {accepted} of {total} updates: {error}")]
pub struct BulkError {
    /// Updates (from the start of the slice) that Salla accepted.
    pub accepted: usize,
    /// Updates asked for.
    pub total: usize,
    /// Why the next chunk failed; if it is an unknown outcome, that chunk may have been applied.
    #[source]
    pub error: ApiError,
}

/// The Salla Merchant API client. Cheap to clone; clones share the connection pool. Holds no
/// merchant state: pass a merchant's token to [`SallaApi::merchant`] for each use.
#[derive(Clone)]
pub struct SallaApi {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    api_url: Url,
    oauth_url: Url,
    client_id: String,
    client_secret: SecretString,
    max_answer_bytes: usize,
}

impl std::fmt::Debug for SallaApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SallaApi")
            .field("api_url", &self.inner.api_url.as_str())
            .field("oauth_url", &self.inner.oauth_url.as_str())
            .field("client_id", &self.inner.client_id)
            .finish_non_exhaustive()
    }
}

/// The TLS configuration every client shares: the platform's trust roots, loaded once per process
/// (as in the Odoo client).
fn tls_config() -> Result<rustls::ClientConfig, ApiError> {
    static TLS: std::sync::OnceLock<Result<rustls::ClientConfig, String>> =
        std::sync::OnceLock::new();
    TLS.get_or_init(|| {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = rustls_platform_verifier::Verifier::new(provider.clone())
            .map_err(|e| format!("cannot load the system's TLS roots: {e}"))?;
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS versions: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    })
    .clone()
    .map_err(ApiError::config)
}

fn parse_base(name: &str, url: &str) -> Result<Url, ApiError> {
    let url = Url::parse(url).map_err(|e| ApiError::config(format!("bad {name}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(ApiError::config(format!("{name} must be an http(s) URL")));
    }
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
        return Err(ApiError::config(format!(
            "{name} must not carry credentials or a query"
        )));
    }
    Ok(url)
}

/// A request, ready to send.
struct Request<'a> {
    method: reqwest::Method,
    url: Url,
    /// `METHOD /path` relative to the base, for errors and logs (no query, no secrets).
    endpoint: String,
    kind: RequestKind,
    body: Option<(&'static str, Vec<u8>)>,
    bearer: Option<&'a AccessToken>,
}

/// An answer as bytes.
struct Answer {
    status: u16,
    rate: RateInfo,
    content_type: Option<String>,
    body: Bytes,
}

/// A 2xx Admin API answer, envelope opened.
struct Success {
    status: u16,
    rate: RateInfo,
    data: Value,
    pagination: Option<Pagination>,
}

impl SallaApi {
    /// Builds the client (no request is made).
    pub fn new(config: ApiConfig) -> Result<Self, ApiError> {
        let api_url = parse_base("api_url", &config.api_url)?;
        let oauth_url = parse_base("oauth_url", &config.oauth_url)?;
        // reqwest is built with `rustls-no-provider`: install ring as the process default once. An error
        // only means another provider was installed first, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config()?)
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .pool_idle_timeout(config.pool_idle_timeout)
            .tcp_nodelay(true)
            .user_agent(config.user_agent)
            .build()
            .map_err(|e| ApiError::config(format!("cannot build the HTTP client: {e}")))?;
        Ok(SallaApi {
            inner: Arc::new(Inner {
                http,
                api_url,
                oauth_url,
                client_id: config.client_id,
                client_secret: config.client_secret,
                max_answer_bytes: config.max_answer_bytes,
            }),
        })
    }

    /// The Admin API endpoints, called with one merchant's access token.
    pub fn merchant<'a>(&'a self, token: &'a AccessToken) -> MerchantApi<'a> {
        MerchantApi {
            api: self,
            token,
            hook: None,
        }
    }

    /// Exchanges a refresh token for a new token set: `POST {oauth_url}/token`, form-encoded
    /// `grant_type=refresh_token`. The refresh token is single-use: call this only under the merchant's
    /// lock, after re-reading the stored tokens, and store both new tokens before releasing the lock.
    ///
    /// Errors: [`ApiError::InvalidGrant`] (class `NeedsReinstall`) when Salla refuses the token; a lost
    /// or unusable answer is `OutcomeUnknown`: do **not** retry it (see the [module documentation](super)).
    pub async fn refresh(&self, refresh_token: &RefreshToken) -> Result<TokenSet, ApiError> {
        let url = join(&self.inner.oauth_url, &["token"])?;
        let endpoint = "POST /token".to_owned();
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "refresh_token")
            .append_pair("refresh_token", refresh_token.expose())
            .append_pair("client_id", &self.inner.client_id)
            .append_pair("client_secret", self.inner.client_secret.expose_secret())
            .finish();
        let answer = self
            .send(Request {
                method: reqwest::Method::POST,
                url,
                endpoint: endpoint.clone(),
                kind: RequestKind::Write,
                body: Some(("application/x-www-form-urlencoded", form.into_bytes())),
                bearer: None,
            })
            .await?;
        let secrets = [
            refresh_token.expose(),
            self.inner.client_secret.expose_secret(),
        ];
        if (200..300).contains(&answer.status) {
            return token_set_from_body(
                &endpoint,
                answer.status,
                &answer.body,
                OffsetDateTime::now_utc(),
            );
        }
        let parts = ErrorParts::parse(&answer, &secrets);
        if matches!(answer.status, 400 | 401)
            && parts.oauth_error.as_deref() == Some("invalid_grant")
        {
            return Err(ApiError::InvalidGrant {
                status: answer.status,
                description: Some(parts.message).filter(|m| !m.is_empty()),
            });
        }
        Err(status_error(endpoint, RequestKind::Write, &answer, parts))
    }

    /// Sends one request and reads the answer (bounded). Errors here are transport errors only.
    ///
    /// Each request is a `salla.request` span of target `otel`: method, the endpoint with its ids
    /// replaced (`GET /customers/{id}`), status. Never a token, a body or an id.
    async fn send(&self, req: Request<'_>) -> Result<Answer, ApiError> {
        use tracing::Instrument;
        let span = tracing::info_span!(
            target: "otel",
            "salla.request",
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            http.request.method = %req.method,
            endpoint = tracing::field::Empty,
            http.response.status_code = tracing::field::Empty,
        );
        if !span.is_disabled() {
            span.record("endpoint", endpoint_template(&req.endpoint).as_str());
        }
        let answer = self.send_in_span(req).instrument(span.clone()).await;
        if !span.is_disabled() {
            match &answer {
                Ok(a) => {
                    span.record("http.response.status_code", i64::from(a.status));
                    if a.status >= 400 {
                        span.record("otel.status_code", "error");
                    }
                }
                Err(_) => {
                    span.record("otel.status_code", "error");
                }
            }
        }
        answer
    }

    async fn send_in_span(&self, req: Request<'_>) -> Result<Answer, ApiError> {
        let mut builder = self
            .inner
            .http
            .request(req.method, req.url)
            .header(ACCEPT, HeaderValue::from_static("application/json"))
            .header(ACCEPT_LANGUAGE, HeaderValue::from_static("en"));
        if let Some(token) = req.bearer {
            let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                .map_err(|_| ApiError::config("the access token is not a valid header value"))?;
            auth.set_sensitive(true);
            builder = builder.header(AUTHORIZATION, auth);
        }
        if let Some((content_type, body)) = req.body {
            builder = builder
                .header(CONTENT_TYPE, HeaderValue::from_static(content_type))
                .body(body);
        }
        let started = Instant::now();
        let endpoint = &req.endpoint;
        let mut resp = builder
            .send()
            .await
            .map_err(|e| map_send_error(e, endpoint, req.kind))?;
        let status = resp.status().as_u16();
        let rate = RateInfo::from_headers(resp.headers(), OffsetDateTime::now_utc());
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let limit = self.inner.max_answer_bytes;
        let too_large = || ApiError::AnswerTooLarge {
            endpoint: endpoint.clone(),
            kind: req.kind,
            limit,
        };
        if resp.content_length().is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        // Read by chunks, so an answer without a length (or with a false one) stops at the limit too.
        let mut body = bytes::BytesMut::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) if body.len() + chunk.len() > limit => return Err(too_large()),
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => {
                    return Err(ApiError::NoAnswer {
                        endpoint: endpoint.clone(),
                        kind: req.kind,
                        detail: if e.is_timeout() {
                            "timed out reading the answer".into()
                        } else {
                            format!("the answer was cut off: {}", root_cause(&e))
                        },
                        source: Some(e.without_url()),
                    });
                }
            }
        }
        tracing::debug!(
            endpoint = %endpoint,
            status,
            elapsed_ms = started.elapsed().as_millis() as u64,
            remaining = rate.remaining,
            "salla api call"
        );
        Ok(Answer {
            status,
            rate,
            content_type,
            body: body.freeze(),
        })
    }
}

/// `base` + percent-encoded path segments (a `/` inside a segment is encoded, not a separator).
fn join(base: &Url, segments: &[&str]) -> Result<Url, ApiError> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|_| ApiError::config("the base URL cannot take a path"))?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

/// The Admin API for one merchant: every call sends this merchant's access token. Cheap to copy.
#[derive(Clone, Copy)]
pub struct MerchantApi<'a> {
    api: &'a SallaApi,
    token: &'a AccessToken,
    hook: Option<&'a dyn RequestHook>,
}

impl std::fmt::Debug for MerchantApi<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MerchantApi")
            .field("token", self.token)
            .field("hook", &self.hook.is_some())
            .finish_non_exhaustive()
    }
}

impl<'a> MerchantApi<'a> {
    /// The same view with a hook run around each request (e.g. the merchant's rate limiter).
    pub fn with_hook(mut self, hook: &'a dyn RequestHook) -> Self {
        self.hook = Some(hook);
        self
    }

    // ----- generic calls ---------------------------------------------------------------------------

    /// `GET` any Admin API path (given as segments, each percent-encoded) and decode `data` as `T`.
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &[&str],
        query: &[(&str, String)],
        class: EndpointClass,
    ) -> Result<Response<T>, ApiError> {
        let endpoint = endpoint_name("GET", path);
        let s = self
            .execute(reqwest::Method::GET, path, query, None, class)
            .await?;
        Ok(Response {
            data: decode(&endpoint, s.status, s.data)?,
            status: s.status,
            rate: s.rate,
        })
    }

    /// One page of a list: `page` (1-based) and `per_page` (clamped to 1..=60) are added to `query`.
    pub async fn get_page<T: DeserializeOwned>(
        &self,
        path: &[&str],
        query: &[(&str, String)],
        page: u32,
        per_page: Option<u32>,
        class: EndpointClass,
    ) -> Result<Response<Page<T>>, ApiError> {
        let page = page.max(1);
        let mut q = query.to_vec();
        q.push(("page", page.to_string()));
        q.push(("per_page", clamp_per_page(per_page).to_string()));
        let endpoint = endpoint_name("GET", path);
        let s = self
            .execute(reqwest::Method::GET, path, &q, None, class)
            .await?;
        let items = decode_list(&endpoint, s.status, s.data)?;
        Ok(Response {
            data: Page {
                items,
                pagination: s.pagination.unwrap_or_default(),
                page,
            },
            status: s.status,
            rate: s.rate,
        })
    }

    /// Every page of a list, from page 1 while `currentPage < totalPages`.
    pub async fn get_all<T: DeserializeOwned>(
        &self,
        path: &[&str],
        query: &[(&str, String)],
        per_page: Option<u32>,
        class: EndpointClass,
    ) -> Result<Response<Vec<T>>, ApiError> {
        let mut items = Vec::new();
        let mut page = 1;
        loop {
            let r = self
                .get_page::<T>(path, query, page, per_page, class)
                .await?;
            let next = r.data.next_page();
            items.extend(r.data.items);
            match next {
                Some(n) if n <= MAX_PAGES => page = n,
                Some(_) => {
                    return Err(ApiError::Decode {
                        endpoint: endpoint_name("GET", path),
                        kind: RequestKind::Read,
                        status: r.status,
                        detail: format!("pagination goes past {MAX_PAGES} pages"),
                    });
                }
                None => {
                    return Ok(Response {
                        data: items,
                        status: r.status,
                        rate: r.rate,
                    });
                }
            }
        }
    }

    /// `POST` a JSON body to any Admin API path.
    pub async fn post<B: Serialize + ?Sized>(
        &self,
        path: &[&str],
        body: &B,
        class: EndpointClass,
    ) -> Result<Response<WriteAck>, ApiError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| ApiError::config(format!("cannot encode the request: {e}")))?;
        let s = self
            .execute(reqwest::Method::POST, path, &[], Some(bytes), class)
            .await?;
        Ok(Response {
            data: WriteAck { data: s.data },
            status: s.status,
            rate: s.rate,
        })
    }

    async fn execute(
        &self,
        method: reqwest::Method,
        path: &[&str],
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
        class: EndpointClass,
    ) -> Result<Success, ApiError> {
        let kind = if method == reqwest::Method::GET {
            RequestKind::Read
        } else {
            RequestKind::Write
        };
        let endpoint = endpoint_name(method.as_str(), path);
        let mut url = join(&self.api.inner.api_url, path)?;
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        if let Some(h) = self.hook {
            h.before(class).await;
        }
        let answer = self
            .api
            .send(Request {
                method,
                url,
                endpoint: endpoint.clone(),
                kind,
                body: body.map(|b| ("application/json", b)),
                bearer: Some(self.token),
            })
            .await?;
        if let Some(h) = self.hook {
            h.after(class, &answer.rate);
        }
        open_envelope(endpoint, kind, answer, &[self.token.expose()])
    }

    // ----- orders ----------------------------------------------------------------------------------

    /// `GET /orders/{id}`: the full order (with `updated_at`, items, shipping, customer).
    pub async fn order(&self, id: u64) -> Result<Response<Order>, ApiError> {
        self.get(&["orders", &id.to_string()], &[], EndpointClass::General)
            .await
    }

    /// `GET /orders`: one page of order summaries (stop early, e.g. when reconciliation reaches orders
    /// older than its window).
    pub async fn orders_page(
        &self,
        query: &OrderQuery,
        page: u32,
    ) -> Result<Response<Page<OrderSummary>>, ApiError> {
        self.get_page(
            &["orders"],
            &query.pairs(),
            page,
            query.per_page,
            EndpointClass::General,
        )
        .await
    }

    /// `GET /orders`: every page.
    pub async fn orders(
        &self,
        query: &OrderQuery,
    ) -> Result<Response<Vec<OrderSummary>>, ApiError> {
        self.get_all(
            &["orders"],
            &query.pairs(),
            query.per_page,
            EndpointClass::General,
        )
        .await
    }

    /// `GET /orders/items?order_id=`: the order's lines (every page).
    pub async fn order_items(&self, order_id: u64) -> Result<Response<Vec<OrderItem>>, ApiError> {
        self.get_all(
            &["orders", "items"],
            &[("order_id", order_id.to_string())],
            None,
            EndpointClass::General,
        )
        .await
    }

    /// `GET /orders/statuses`: the store's original and custom statuses.
    pub async fn order_statuses(&self) -> Result<Response<Vec<OrderStatusDef>>, ApiError> {
        let endpoint = endpoint_name("GET", &["orders", "statuses"]);
        let s = self
            .execute(
                reqwest::Method::GET,
                &["orders", "statuses"],
                &[],
                None,
                EndpointClass::General,
            )
            .await?;
        Ok(Response {
            data: decode_list(&endpoint, s.status, s.data)?,
            status: s.status,
            rate: s.rate,
        })
    }

    /// `POST /orders/{id}/status`. Setting a status is idempotent, so an unknown outcome may be retried.
    pub async fn set_order_status(
        &self,
        order_id: u64,
        change: &StatusChange,
    ) -> Result<Response<WriteAck>, ApiError> {
        self.post(
            &["orders", &order_id.to_string(), "status"],
            change,
            EndpointClass::General,
        )
        .await
    }

    // ----- shipments -------------------------------------------------------------------------------

    /// `GET /shipments?order_id=`: the order's shipments (every page).
    pub async fn order_shipments(
        &self,
        order_id: u64,
    ) -> Result<Response<Vec<Shipment>>, ApiError> {
        self.get_all(
            &["shipments"],
            &[("order_id", order_id.to_string())],
            None,
            EndpointClass::General,
        )
        .await
    }

    /// `GET /shipments/{id}`.
    pub async fn shipment(&self, id: u64) -> Result<Response<Shipment>, ApiError> {
        self.get(&["shipments", &id.to_string()], &[], EndpointClass::General)
            .await
    }

    // ----- products --------------------------------------------------------------------------------

    /// `GET /products/{id}`: the product with its variants (`skus`).
    pub async fn product(&self, id: u64) -> Result<Response<Product>, ApiError> {
        self.get(&["products", &id.to_string()], &[], EndpointClass::General)
            .await
    }

    /// `GET /products/sku/{sku}` (the SKU percent-encoded as one path segment).
    pub async fn product_by_sku(&self, sku: &str) -> Result<Response<Product>, ApiError> {
        // `.` and `..` would be dropped from the path (and the empty SKU names the list).
        if matches!(sku.trim(), "" | "." | "..") {
            return Err(ApiError::config(format!(
                "{sku:?} cannot be looked up as a SKU"
            )));
        }
        self.get(&["products", "sku", sku], &[], EndpointClass::General)
            .await
    }

    /// `GET /products/{id}/variants` (every page).
    pub async fn product_variants(
        &self,
        product_id: u64,
    ) -> Result<Response<Vec<ProductVariant>>, ApiError> {
        self.get_all(
            &["products", &product_id.to_string(), "variants"],
            &[],
            None,
            EndpointClass::General,
        )
        .await
    }

    /// `GET /products/variants/{id}`.
    pub async fn variant(&self, id: u64) -> Result<Response<ProductVariant>, ApiError> {
        self.get(
            &["products", "variants", &id.to_string()],
            &[],
            EndpointClass::General,
        )
        .await
    }

    /// `GET /products`: one page.
    pub async fn products_page(
        &self,
        query: &ProductQuery,
        page: u32,
    ) -> Result<Response<Page<Product>>, ApiError> {
        self.get_page(
            &["products"],
            &query.pairs(),
            page,
            query.per_page,
            EndpointClass::General,
        )
        .await
    }

    /// `GET /products`: every page.
    pub async fn products(&self, query: &ProductQuery) -> Result<Response<Vec<Product>>, ApiError> {
        self.get_all(
            &["products"],
            &query.pairs(),
            query.per_page,
            EndpointClass::General,
        )
        .await
    }

    /// `POST /products/quantities/bulk` with these updates in one request. Salla queues the update and
    /// applies it within minutes: do not read the quantities back right away.
    pub async fn update_quantities(
        &self,
        updates: &[QuantityUpdate],
    ) -> Result<Response<WriteAck>, ApiError> {
        if updates.is_empty() {
            return Err(ApiError::config(
                "a bulk quantity update needs at least one item",
            ));
        }
        self.post(
            &["products", "quantities", "bulk"],
            &BulkQuantities { products: updates },
            EndpointClass::General,
        )
        .await
    }

    /// [`Self::update_quantities`] in requests of at most `chunk_size` updates, in order, stopping at
    /// the first failure ([`BulkError::accepted`] says where to resume).
    pub async fn update_quantities_chunked(
        &self,
        updates: &[QuantityUpdate],
        chunk_size: usize,
    ) -> Result<Vec<Response<WriteAck>>, BulkError> {
        let mut done = Vec::new();
        let mut accepted = 0;
        for chunk in updates.chunks(chunk_size.max(1)) {
            match self.update_quantities(chunk).await {
                Ok(r) => {
                    accepted += chunk.len();
                    done.push(r);
                }
                Err(error) => {
                    return Err(BulkError {
                        accepted,
                        total: updates.len(),
                        error,
                    });
                }
            }
        }
        Ok(done)
    }

    // ----- customers and branches ------------------------------------------------------------------

    /// `GET /customers/{id}` (customer budget: 500 per 10 minutes).
    pub async fn customer(&self, id: u64) -> Result<Response<Customer>, ApiError> {
        self.get(
            &["customers", &id.to_string()],
            &[],
            EndpointClass::Customers,
        )
        .await
    }

    /// `GET /customers`: one page.
    pub async fn customers_page(
        &self,
        query: &CustomerQuery,
        page: u32,
    ) -> Result<Response<Page<Customer>>, ApiError> {
        self.get_page(
            &["customers"],
            &query.pairs(),
            page,
            query.per_page,
            EndpointClass::Customers,
        )
        .await
    }

    /// `GET /customers`: every page.
    pub async fn customers(
        &self,
        query: &CustomerQuery,
    ) -> Result<Response<Vec<Customer>>, ApiError> {
        self.get_all(
            &["customers"],
            &query.pairs(),
            query.per_page,
            EndpointClass::Customers,
        )
        .await
    }

    /// `GET /branches` (every page).
    pub async fn branches(&self) -> Result<Response<Vec<Branch>>, ApiError> {
        self.get_all(&["branches"], &[], None, EndpointClass::General)
            .await
    }
}

fn endpoint_name(method: &str, path: &[&str]) -> String {
    format!("{method} /{}", path.join("/"))
}

/// An endpoint name without its ids: numbers become `{id}`, a SKU `{sku}` (for traces).
fn endpoint_template(endpoint: &str) -> String {
    let mut out = String::with_capacity(endpoint.len());
    let mut after_sku = false;
    for (i, segment) in endpoint.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if after_sku {
            out.push_str("{sku}");
        } else if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str("{id}");
        } else {
            out.push_str(segment);
        }
        after_sku = i > 0 && segment == "sku";
    }
    out
}

/// Decodes `data` as `T`. The error names the field serde could not read, never the body.
fn decode<T: DeserializeOwned>(endpoint: &str, status: u16, data: Value) -> Result<T, ApiError> {
    serde_json::from_value(data).map_err(|e| ApiError::Decode {
        endpoint: endpoint.to_owned(),
        kind: RequestKind::Read,
        status,
        detail: format!("`data` does not decode: {e}"),
    })
}

/// Decodes a list `data` (`null` and `{}` are empty lists); the error names the item that failed.
fn decode_list<T: DeserializeOwned>(
    endpoint: &str,
    status: u16,
    data: Value,
) -> Result<Vec<T>, ApiError> {
    let items = match data {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        // PHP writes an empty list as `{}` and a list with gaps as `{"0": …, "1": …}`.
        Value::Object(map) if map.keys().all(|k| k.parse::<u64>().is_ok()) => {
            let mut entries: Vec<(u64, Value)> = map
                .into_iter()
                .map(|(k, v)| (k.parse().unwrap_or_default(), v))
                .collect();
            entries.sort_by_key(|(k, _)| *k);
            entries.into_iter().map(|(_, v)| v).collect()
        }
        other => {
            return Err(ApiError::Decode {
                endpoint: endpoint.to_owned(),
                kind: RequestKind::Read,
                status,
                detail: format!("`data` is {} instead of a list", kind_of(&other)),
            });
        }
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            serde_json::from_value(item).map_err(|e| ApiError::Decode {
                endpoint: endpoint.to_owned(),
                kind: RequestKind::Read,
                status,
                detail: format!("item {i} of `data` does not decode: {e}"),
            })
        })
        .collect()
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Interprets an Admin API answer: `{status, success, data, pagination}` on 2xx, an error otherwise.
fn open_envelope(
    endpoint: String,
    kind: RequestKind,
    answer: Answer,
    secrets: &[&str],
) -> Result<Success, ApiError> {
    if !(200..300).contains(&answer.status) {
        let parts = ErrorParts::parse(&answer, secrets);
        return Err(admin_error(endpoint, kind, &answer, parts));
    }
    let ok = |data, pagination| {
        Ok(Success {
            status: answer.status,
            rate: answer.rate.clone(),
            data,
            pagination,
        })
    };
    if answer.body.iter().all(u8::is_ascii_whitespace) {
        // 204, or a 201/202 without a body.
        return ok(Value::Null, None);
    }
    let root: Value = match serde_json::from_slice(&answer.body) {
        Ok(v) => v,
        // A write was accepted (2xx); what it said does not matter.
        Err(_) if kind == RequestKind::Write => {
            tracing::warn!(endpoint = %endpoint, status = answer.status, "salla write answered 2xx without JSON");
            return ok(Value::Null, None);
        }
        Err(_) => {
            return Err(ApiError::Decode {
                endpoint,
                kind,
                status: answer.status,
                detail: format!(
                    "not JSON{}",
                    describe_non_json(&answer.body, answer.content_type.as_deref(), secrets)
                ),
            });
        }
    };
    let Value::Object(mut root) = root else {
        return ok(root, None);
    };
    if root.get("success") == Some(&Value::Bool(false)) {
        // An error dressed as a success: use the envelope's status if it is one.
        let status = root
            .get("status")
            .and_then(Value::as_u64)
            .and_then(|s| u16::try_from(s).ok())
            .filter(|s| *s >= 400)
            .unwrap_or(answer.status);
        let parts = ErrorParts::from_json(&Value::Object(root), status, secrets);
        let answer = Answer { status, ..answer };
        return Err(admin_error(endpoint, kind, &answer, parts));
    }
    let pagination = root
        .get("pagination")
        .filter(|p| p.is_object())
        .and_then(|p| serde_json::from_value::<Pagination>(p.clone()).ok());
    match root.remove("data") {
        Some(data) => ok(data, pagination),
        None => ok(Value::Object(root), pagination),
    }
}

/// The error of a non-2xx Admin API answer.
fn admin_error(
    endpoint: String,
    kind: RequestKind,
    answer: &Answer,
    parts: ErrorParts,
) -> ApiError {
    const SCOPE_TEXT: &str = "should have access to one of those scopes";
    if matches!(answer.status, 401 | 403) && parts.message.contains(SCOPE_TEXT) {
        let scopes = parts
            .message
            .split_once(':')
            .map(|(_, s)| s.trim().trim_end_matches('.').to_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "(not named)".to_owned());
        return ApiError::MissingScope {
            endpoint,
            scopes,
            message: parts.message,
            rate: Box::new(answer.rate.clone()),
        };
    }
    if answer.status == 401 {
        return ApiError::Unauthorized {
            endpoint,
            message: parts.message,
            rate: Box::new(answer.rate.clone()),
        };
    }
    status_error(endpoint, kind, answer, parts)
}

fn status_error(
    endpoint: String,
    kind: RequestKind,
    answer: &Answer,
    parts: ErrorParts,
) -> ApiError {
    ApiError::Status {
        endpoint,
        kind,
        status: answer.status,
        code: parts.code,
        message: parts.message,
        fields: parts.fields,
        rate: Box::new(answer.rate.clone()),
    }
}

/// What an error answer says, scrubbed of the request's secrets.
struct ErrorParts {
    code: Option<ErrorCode>,
    message: String,
    fields: BTreeMap<String, Vec<String>>,
    /// The OAuth `error` (e.g. `invalid_grant`).
    oauth_error: Option<String>,
}

impl ErrorParts {
    fn parse(answer: &Answer, secrets: &[&str]) -> ErrorParts {
        let empty = |message: String| ErrorParts {
            code: None,
            message,
            fields: BTreeMap::new(),
            oauth_error: None,
        };
        if answer.body.iter().all(u8::is_ascii_whitespace) {
            return empty("empty body".into());
        }
        match serde_json::from_slice::<Value>(&answer.body) {
            Ok(v) => ErrorParts::from_json(&v, answer.status, secrets),
            Err(_) => empty(format!(
                "non-JSON answer{}",
                describe_non_json(&answer.body, answer.content_type.as_deref(), secrets)
            )),
        }
    }

    /// `{error: {code, message, fields}}` (Admin API), `{error: "invalid_grant", error_description}`
    /// (OAuth) or `{message}`.
    fn from_json(v: &Value, status: u16, secrets: &[&str]) -> ErrorParts {
        let text = |v: Option<&Value>| -> Option<String> {
            match v? {
                Value::String(s) if !s.trim().is_empty() => Some(redact(s.trim(), secrets)),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        };
        let mut parts = ErrorParts {
            code: None,
            message: String::new(),
            fields: BTreeMap::new(),
            oauth_error: None,
        };
        match v.get("error") {
            Some(Value::Object(e)) => {
                parts.code = e
                    .get("code")
                    .and_then(|c| serde_json::from_value::<ErrorCode>(c.clone()).ok());
                parts.message = text(e.get("message")).unwrap_or_default();
                if let Some(Value::Object(fields)) = e.get("fields") {
                    parts.fields = fields
                        .iter()
                        .map(|(k, v)| (k.clone(), field_messages(v, secrets)))
                        .collect();
                }
            }
            Some(Value::String(code)) => {
                parts.oauth_error = Some(code.clone());
                parts.code = Some(ErrorCode::Text(redact(code, secrets)));
                parts.message = text(v.get("error_description"))
                    .or_else(|| text(v.get("message")))
                    .or_else(|| text(v.get("hint")))
                    .unwrap_or_default();
            }
            _ => parts.message = text(v.get("message")).unwrap_or_default(),
        }
        if parts.message.is_empty() {
            parts.message = format!("HTTP {status} without a message");
        }
        parts
    }
}

fn field_messages(v: &Value, secrets: &[&str]) -> Vec<String> {
    let one = |v: &Value| match v {
        Value::String(s) => redact(s, secrets),
        other => redact(&other.to_string(), secrets),
    };
    match v {
        Value::Array(items) => items.iter().map(one).collect(),
        other => vec![one(other)],
    }
}

/// ` (text/html): 502 Bad Gateway nginx`: the content type and the start of the text, tags removed.
fn describe_non_json(body: &[u8], content_type: Option<&str>, secrets: &[&str]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut plain = String::with_capacity(text.len().min(512));
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => {
                in_tag = true;
                plain.push(' ');
            }
            '>' => in_tag = false,
            _ if !in_tag => plain.push(c),
            _ => {}
        }
    }
    let words: Vec<&str> = plain.split_whitespace().collect();
    let mut excerpt = words.join(" ");
    if let Some((i, _)) = excerpt.char_indices().nth(160) {
        excerpt.truncate(i);
        excerpt.push('…');
    }
    let ct = content_type
        .map(|c| format!(" ({})", c.split(';').next().unwrap_or(c).trim()))
        .unwrap_or_default();
    if excerpt.is_empty() {
        ct
    } else {
        format!("{ct}: {}", redact(&excerpt, secrets))
    }
}

/// Replaces every secret (of 4 characters or more) in a text taken from an answer.
fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for s in secrets {
        if s.len() >= 4 && out.contains(s) {
            out = out.replace(s, "[REDACTED]");
        }
    }
    out
}

/// Maps an error of `send()` (before any status was read).
fn map_send_error(e: reqwest::Error, endpoint: &str, kind: RequestKind) -> ApiError {
    if e.is_builder() {
        return ApiError::config(format!("cannot build the request: {}", e.without_url()));
    }
    if e.is_connect() {
        return ApiError::Connect {
            endpoint: endpoint.to_owned(),
            detail: root_cause(&e),
            source: e.without_url(),
        };
    }
    let detail = if e.is_timeout() {
        "timed out waiting for the answer".to_owned()
    } else {
        format!(
            "the connection closed before the answer: {}",
            root_cause(&e)
        )
    };
    ApiError::NoAnswer {
        endpoint: endpoint.to_owned(),
        kind,
        detail,
        source: Some(e.without_url()),
    }
}

/// The innermost message of an error chain (reqwest's own is only "error sending request").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut current = e;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_summarised() {
        let d = describe_non_json(
            b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1><hr>nginx</body></html>",
            Some("text/html; charset=utf-8"),
            &[],
        );
        assert_eq!(d, " (text/html): 502 Bad Gateway 502 Bad Gateway nginx");
    }

    #[test]
    fn secrets_are_redacted() {
        assert_eq!(
            redact("bad token abcd1234!", &["abcd1234"]),
            "bad token [REDACTED]!"
        );
    }

    #[test]
    fn endpoint_templates_carry_no_ids() {
        assert_eq!(
            endpoint_template("GET /customers/123"),
            "GET /customers/{id}"
        );
        assert_eq!(
            endpoint_template("PUT /products/7/variants"),
            "PUT /products/{id}/variants"
        );
        assert_eq!(
            endpoint_template("GET /products/sku/ALICE-1"),
            "GET /products/sku/{sku}"
        );
        assert_eq!(endpoint_template("POST /token"), "POST /token");
    }

    #[test]
    fn segments_are_encoded() {
        let base = Url::parse("https://api.salla.dev/admin/v2").unwrap();
        let u = join(&base, &["products", "sku", "A/B 1?#%"]).unwrap();
        assert_eq!(
            u.as_str(),
            "https://api.salla.dev/admin/v2/products/sku/A%2FB%201%3F%23%25"
        );
        let base = Url::parse("http://127.0.0.1:1/admin/v2/").unwrap();
        assert_eq!(
            join(&base, &["orders", "1"]).unwrap().path(),
            "/admin/v2/orders/1"
        );
    }
}
