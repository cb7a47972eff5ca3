//! Tokens: the [`AccessToken`] / [`RefreshToken`] newtypes, the [`TokenSet`] a refresh gives, and the
//! normalisation of Salla's two meanings of `expires` (docs/salla-platform.md §7.3).
//!
//! The refresh request itself is [`super::SallaApi::refresh`]; the rules around it (lock, re-read,
//! store both, never retry a lost refresh) are in the [module documentation](super).

use std::fmt;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use time::OffsetDateTime;

use super::error::{ApiError, RequestKind};
use super::ratelimit::EPOCH_THRESHOLD;
use crate::payload::StoreAuthorize;

/// The lifetime assumed when a token answer gives none: Salla's documented 14 days.
pub const DEFAULT_ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(14 * 24 * 3600);

/// A bearer token for the Admin API. `Debug` never shows it.
#[derive(Clone)]
pub struct AccessToken(SecretString);

/// A single-use refresh token. `Debug` never shows it.
#[derive(Clone)]
pub struct RefreshToken(SecretString);

macro_rules! token_type {
    ($t:ident) => {
        impl $t {
            /// Wraps a token.
            pub fn new(token: impl Into<String>) -> Self {
                $t(SecretString::from(token.into()))
            }

            /// The token text, to send or to store (encrypted). Never log it.
            pub fn expose(&self) -> &str {
                self.0.expose_secret()
            }
        }

        impl From<SecretString> for $t {
            fn from(s: SecretString) -> Self {
                $t(s)
            }
        }

        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($t), "([REDACTED])"))
            }
        }
    };
}

token_type!(AccessToken);
token_type!(RefreshToken);

/// The tokens of one merchant after a refresh (or an `app.store.authorize`). Store **both** before
/// releasing the merchant's lock: the refresh token used to get them is now dead.
#[derive(Debug, Clone)]
pub struct TokenSet {
    /// The new access token.
    pub access_token: AccessToken,
    /// The new refresh token (the previous one no longer works).
    pub refresh_token: RefreshToken,
    /// When the access token expires (absolute).
    pub expires_at: OffsetDateTime,
    /// Space-separated scopes, e.g. `"orders.read products.read_write offline_access"`.
    pub scope: Option<String>,
}

impl TokenSet {
    /// True when the access token expires within `margin` of `now` (refresh about a day ahead).
    pub fn expires_within(&self, now: OffsetDateTime, margin: Duration) -> bool {
        self.expires_at <= now + margin
    }

    /// The scopes as a list.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.as_deref().unwrap_or("").split_whitespace()
    }

    /// The tokens of an `app.store.authorize` webhook (whose `expires` is a Unix time); `None` when it
    /// carries no refresh token (the app did not ask for `offline_access`).
    pub fn from_authorize(auth: &StoreAuthorize, now: OffsetDateTime) -> Option<TokenSet> {
        Some(TokenSet {
            access_token: AccessToken(auth.access_token.clone()),
            refresh_token: RefreshToken(auth.refresh_token.clone()?),
            expires_at: expiry(None, Some(auth.expires), now)
                .unwrap_or_else(|| now + DEFAULT_ACCESS_TOKEN_LIFETIME),
            scope: auth.scope.clone(),
        })
    }
}

/// The absolute expiry from a token answer: `expires_in` (seconds) is preferred; otherwise `expires`
/// is a duration below 10^9 and a Unix time above (§7.3). `None` when neither is usable.
pub fn expiry(
    expires_in: Option<i64>,
    expires: Option<i64>,
    now: OffsetDateTime,
) -> Option<OffsetDateTime> {
    if let Some(secs) = expires_in.filter(|s| *s >= 0) {
        return now.checked_add(time::Duration::seconds(secs));
    }
    let e = expires.filter(|e| *e >= 0)?;
    if e < EPOCH_THRESHOLD {
        now.checked_add(time::Duration::seconds(e))
    } else {
        OffsetDateTime::from_unix_timestamp(e).ok()
    }
}

/// A number given as a number or a numeric string.
fn integer(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn non_empty_text(v: Option<&Value>) -> Option<&str> {
    v?.as_str().filter(|s| !s.trim().is_empty())
}

/// Reads a 2xx token answer `{access_token, refresh_token, expires_in | expires, scope, token_type}`
/// (also inside a `data` envelope). Errors never quote the body: it holds tokens. A 2xx that cannot be
/// used is an unknown outcome: the old refresh token may already be spent.
pub(crate) fn token_set_from_body(
    endpoint: &str,
    status: u16,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<TokenSet, ApiError> {
    let unusable = |detail: &str| ApiError::Decode {
        endpoint: endpoint.to_owned(),
        kind: RequestKind::Write,
        status,
        detail: format!("token answer unusable: {detail}"),
    };
    let root: Value = serde_json::from_slice(body).map_err(|_| unusable("the body is not JSON"))?;
    let v = match root.get("data") {
        Some(d) if d.get("access_token").is_some() => d,
        _ => &root,
    };
    let access =
        non_empty_text(v.get("access_token")).ok_or_else(|| unusable("no access_token"))?;
    let refresh =
        non_empty_text(v.get("refresh_token")).ok_or_else(|| unusable("no refresh_token"))?;
    let expires_at = expiry(integer(v.get("expires_in")), integer(v.get("expires")), now)
        .unwrap_or_else(|| {
            tracing::warn!("salla token answer has no usable expiry; assuming 14 days");
            now + DEFAULT_ACCESS_TOKEN_LIFETIME
        });
    Ok(TokenSet {
        access_token: AccessToken::new(access),
        refresh_token: RefreshToken::new(refresh),
        expires_at,
        scope: non_empty_text(v.get("scope")).map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(secs).unwrap()
    }

    #[test]
    fn both_meanings_of_expires() {
        let now = at(1_700_000_000);
        assert_eq!(expiry(Some(1_209_599), None, now), Some(at(1_701_209_599)));
        assert_eq!(expiry(None, Some(1_209_599), now), Some(at(1_701_209_599)));
        assert_eq!(
            expiry(None, Some(1_634_819_484), now),
            Some(at(1_634_819_484))
        );
        // expires_in wins over expires.
        assert_eq!(
            expiry(Some(60), Some(1_634_819_484), now),
            Some(at(1_700_000_060))
        );
        assert_eq!(expiry(None, None, now), None);
    }

    #[test]
    fn token_answer_forms() {
        let now = at(1_700_000_000);
        let t = token_set_from_body(
            "POST /token",
            200,
            br#"{"access_token":"a1","refresh_token":"r1","expires_in":"3600","scope":"orders.read offline_access","token_type":"bearer"}"#,
            now,
        )
        .unwrap();
        assert_eq!(t.access_token.expose(), "a1");
        assert_eq!(t.expires_at, at(1_700_003_600));
        assert_eq!(t.scopes().count(), 2);
        let t = token_set_from_body(
            "POST /token",
            200,
            br#"{"status":200,"success":true,"data":{"access_token":"a2","refresh_token":"r2","expires":1800000000}}"#,
            now,
        )
        .unwrap();
        assert_eq!(t.refresh_token.expose(), "r2");
        assert_eq!(t.expires_at, at(1_800_000_000));
        let e = token_set_from_body("POST /token", 200, br#"{"access_token":"secret-a"}"#, now)
            .unwrap_err();
        assert!(e.is_outcome_unknown());
        assert!(!format!("{e} {e:?}").contains("secret-a"));
    }

    #[test]
    fn debug_hides_tokens() {
        let t = TokenSet {
            access_token: AccessToken::new("tok-A"),
            refresh_token: RefreshToken::new("tok-R"),
            expires_at: at(0),
            scope: None,
        };
        let s = format!("{t:?}");
        assert!(!s.contains("tok-A") && !s.contains("tok-R"), "{s}");
        assert!(s.contains("AccessToken([REDACTED])"));
    }
}
