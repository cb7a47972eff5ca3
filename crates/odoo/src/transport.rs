//! HTTP layer: one pooled reqwest client per [`crate::Client`], a semaphore bounding the calls in flight,
//! and the mapping of transport failures to [`Error`] (docs/odoo-api.md §8, first rows).
//!
//! Where a failure happened decides its class:
//! - the connection could not be made (refused, DNS, TLS, connect timeout): nothing was sent → transient;
//! - the request was sent and the answer is missing, cut or late: Odoo may have committed → outcome unknown;
//! - an HTTP status without an Odoo envelope: 429 and 503 are transient (with `Retry-After`), 502 and 504
//!   come from a gateway in front of Odoo, which may have committed → outcome unknown.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::sync::Semaphore;
use url::Url;

use crate::envelope;
use crate::error::{Error, Result};

/// The wire protocol used for model calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Transport {
    /// `POST /jsonrpc`, services `common` and `object.execute_kw` (16–19; deprecated from 19).
    JsonRpc,
    /// `POST /json/2/<model>/<method>` with a bearer API key (19+).
    Json2,
}

/// An answer as bytes, before envelope parsing.
pub(crate) struct RawAnswer {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: bytes::Bytes,
}

/// The HTTP side of a client: pooled connections, timeouts, concurrency limit, secrets.
pub(crate) struct Http {
    client: reqwest::Client,
    limiter: Semaphore,
    max_answer_bytes: usize,
    jsonrpc_url: Url,
    base: Url,
    database: String,
    api_key: SecretString,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("base", &self.base.as_str())
            .field("database", &self.database)
            .field("api_key", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

pub(crate) struct HttpOptions {
    pub base: Url,
    pub database: String,
    pub api_key: SecretString,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub max_concurrency: usize,
    pub max_answer_bytes: usize,
    pub pool_idle_timeout: Duration,
    pub user_agent: String,
}

/// The TLS configuration every Odoo client shares: the platform's trust roots, loaded once per process.
/// Building it reads every system root certificate (milliseconds of CPU); a worker serving many
/// stores would otherwise pay that for each store's client.
fn tls_config() -> Result<rustls::ClientConfig> {
    static TLS: std::sync::OnceLock<std::result::Result<rustls::ClientConfig, String>> =
        std::sync::OnceLock::new();
    TLS.get_or_init(|| {
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let verifier = rustls_platform_verifier::Verifier::new(provider.clone())
            .map_err(|e| format!("cannot load the system's TLS roots: {e}"))?;
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS versions: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(std::sync::Arc::new(verifier))
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    })
    .clone()
    .map_err(Error::config)
}

impl Http {
    pub(crate) fn new(o: HttpOptions) -> Result<Self> {
        // reqwest is built with `rustls-no-provider`: install ring as the process default once. An error only
        // means another provider was installed first, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config()?)
            .connect_timeout(o.connect_timeout)
            .timeout(o.request_timeout)
            .pool_idle_timeout(o.pool_idle_timeout)
            .pool_max_idle_per_host(o.max_concurrency.max(1))
            .tcp_nodelay(true)
            .user_agent(o.user_agent)
            .build()
            .map_err(|e| Error::config(format!("cannot build the HTTP client: {e}")))?;
        let mut base = o.base;
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        let jsonrpc_url = base
            .join("jsonrpc")
            .map_err(|e| Error::config(format!("bad Odoo URL: {e}")))?;
        Ok(Http {
            client,
            limiter: Semaphore::new(o.max_concurrency.max(1)),
            max_answer_bytes: o.max_answer_bytes,
            jsonrpc_url,
            base,
            database: o.database,
            api_key: o.api_key,
        })
    }

    /// The server's base URL.
    pub(crate) fn base(&self) -> &Url {
        &self.base
    }

    pub(crate) fn database(&self) -> &str {
        &self.database
    }

    pub(crate) fn api_key(&self) -> &SecretString {
        &self.api_key
    }

    /// Replaces the API key wherever it appears in a text taken from a server answer.
    pub(crate) fn redact(&self, text: &str) -> String {
        let key = self.api_key.expose_secret();
        if key.len() >= 4 && text.contains(key) {
            text.replace(key, "<redacted>")
        } else {
            text.to_owned()
        }
    }

    /// `POST /jsonrpc` with a ready body.
    pub(crate) async fn post_jsonrpc(&self, body: Vec<u8>) -> Result<RawAnswer> {
        let req = self
            .client
            .post(self.jsonrpc_url.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(body);
        self.send(req).await
    }

    /// `POST /json/2/<model>/<method>` with the bearer key and `X-Odoo-Database`.
    pub(crate) async fn post_json2(
        &self,
        model: &str,
        method: &str,
        body: Vec<u8>,
    ) -> Result<RawAnswer> {
        let url = self
            .base
            .join(&format!("json/2/{model}/{method}"))
            .map_err(|e| Error::config(format!("bad model or method name: {e}")))?;
        let mut headers = HeaderMap::with_capacity(3);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let mut auth =
            HeaderValue::from_str(&format!("bearer {}", self.api_key.expose_secret()))
                .map_err(|_| Error::config("the API key is not a valid HTTP header value"))?;
        auth.set_sensitive(true);
        headers.insert(AUTHORIZATION, auth);
        if let Ok(db) = HeaderValue::from_str(&self.database) {
            headers.insert("X-Odoo-Database", db);
        }
        let req = self.client.post(url).headers(headers).body(body);
        self.send(req).await
    }

    /// `GET <base>/<path>`, e.g. `web/version` (19+) or `web/health`.
    pub(crate) async fn get_path(&self, path: &str) -> Result<RawAnswer> {
        let url = self
            .base
            .join(path)
            .map_err(|e| Error::config(format!("bad Odoo URL: {e}")))?;
        self.send(self.client.get(url)).await
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<RawAnswer> {
        let _permit = self
            .limiter
            .acquire()
            .await
            .map_err(|_| Error::config("client closed"))?;
        let mut resp = req.send().await.map_err(map_send_error)?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let limit = self.max_answer_bytes;
        let too_large = || Error::AnswerTooLarge { limit };
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
                    return Err(Error::NoAnswer {
                        detail: if e.is_timeout() {
                            "timed out reading the answer".into()
                        } else {
                            "the answer was cut off".into()
                        },
                        source: Some(e.without_url()),
                    });
                }
            }
        }
        let body = body.freeze();
        Ok(RawAnswer {
            status,
            retry_after,
            body,
        })
    }

    /// Turns a non-JSON-RPC HTTP answer into an error.
    pub(crate) fn status_error(&self, answer: &RawAnswer) -> Error {
        Error::Http {
            status: answer.status,
            retry_after: answer.retry_after,
            body: self.redact(&excerpt(&answer.body)),
        }
    }

    /// Interprets a `/jsonrpc` answer.
    pub(crate) fn jsonrpc_result(&self, answer: RawAnswer, id: u64) -> Result<Value> {
        let redact = |s: &str| self.redact(s);
        match answer.status {
            200 => envelope::parse_rpc_reply(&answer.body, id, &redact),
            429 | 502 | 503 | 504 => Err(self.status_error(&answer)),
            status => match envelope::parse_rpc_reply(&answer.body, id, &redact) {
                // Some proxies or old servers wrap an Odoo error in another status: keep the Odoo name.
                Err(Error::Odoo(mut fault)) => {
                    fault.http_status = status;
                    Err(Error::Odoo(fault))
                }
                _ => Err(self.status_error(&answer)),
            },
        }
    }

    /// Interprets a `/json/2` answer.
    pub(crate) fn json2_result(&self, answer: RawAnswer) -> Result<Value> {
        let redact = |s: &str| self.redact(s);
        match answer.status {
            200 => envelope::parse_json2_result(&answer.body),
            429 | 502 | 503 | 504 => Err(self.status_error(&answer)),
            status => match envelope::parse_json2_error(status, &answer.body, &redact) {
                Some(fault) => Err(Error::Odoo(fault)),
                None => Err(self.status_error(&answer)),
            },
        }
    }
}

/// Maps an error of `send()` (before any status was read).
fn map_send_error(e: reqwest::Error) -> Error {
    if e.is_builder() {
        return Error::config(format!("cannot build the request: {}", e.without_url()));
    }
    if e.is_connect() {
        return Error::Connect {
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
    Error::NoAnswer {
        detail,
        source: Some(e.without_url()),
    }
}

/// The innermost error message of a chain (e.g. "Connection refused (os error 111)"), which is what an
/// operator needs in a dead letter; reqwest's own message is only "error sending request".
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut current = e;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// The first 200 characters of a body, for error messages.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

/// `Retry-After`: delay-seconds or an HTTP date (IMF-fixdate); a date in the past is zero.
pub(crate) fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let when = time::PrimitiveDateTime::parse(v, &fmt).ok()?.assume_utc();
    let delta = when - time::OffsetDateTime::now_utc();
    Some(Duration::from_secs(delta.whole_seconds().max(0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        let future = time::OffsetDateTime::now_utc() + time::Duration::seconds(90);
        let fmt = time::macros::format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        );
        let header = future.format(&fmt).unwrap();
        let got = parse_retry_after(&header).unwrap();
        assert!((85..=90).contains(&got.as_secs()), "{got:?}");
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn excerpt_is_bounded() {
        let long = "x".repeat(500);
        assert_eq!(excerpt(long.as_bytes()).chars().count(), 201);
        assert_eq!(excerpt(b"  Invalid JSON data\n"), "Invalid JSON data");
    }
}
