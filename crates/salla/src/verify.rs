use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::payload::{Envelope, ParseError, RawEnvelope};

/// How the Salla app proves its webhooks are genuine (configured per app in the Partner Portal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// `X-Salla-Signature`: lowercase hex HMAC-SHA256 of the raw body, keyed with the secret.
    Signature,
    /// `Authorization`: the secret itself.
    Token,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Signature => "signature",
            Strategy::Token => "token",
        }
    }
}

/// Why a webhook was refused. Every variant is permanent for that request (answer 401, queue nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing X-Salla-Signature header")]
    MissingSignature,
    #[error("X-Salla-Signature is not 64 hex characters")]
    MalformedSignature,
    #[error("X-Salla-Signature does not match the body")]
    BadSignature,
    #[error("missing Authorization header")]
    MissingToken,
    #[error("Authorization does not match the webhook token")]
    BadToken,
    /// Which copy would count depends on who reads the request (a proxy may pick another one).
    #[error("X-Salla-Signature appears more than once")]
    DuplicateSignature,
    #[error("Authorization appears more than once")]
    DuplicateToken,
}

impl VerifyError {
    /// A short constant label for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            VerifyError::MissingSignature => "missing_signature",
            VerifyError::MalformedSignature => "malformed_signature",
            VerifyError::BadSignature => "bad_signature",
            VerifyError::MissingToken => "missing_token",
            VerifyError::BadToken => "bad_token",
            VerifyError::DuplicateSignature => "duplicate_signature",
            VerifyError::DuplicateToken => "duplicate_token",
        }
    }
}

/// A credential header as received: its raw bytes (HTTP allows any visible byte, UTF-8 or not),
/// trimmed of surrounding whitespace, or the fact that it came more than once.
#[derive(Clone, PartialEq, Eq)]
enum Received {
    Absent,
    Once(Bytes),
    Repeated,
}

impl Received {
    fn from_headers(headers: &HeaderMap, name: &str) -> Self {
        let mut values = headers.get_all(name).iter();
        match (values.next(), values.next()) {
            (None, _) => Received::Absent,
            (Some(v), None) => Received::Once(Bytes::copy_from_slice(v.as_bytes().trim_ascii())),
            (Some(_), Some(_)) => Received::Repeated,
        }
    }

    fn label(&self) -> &'static str {
        match self {
            Received::Absent => "absent",
            Received::Once(_) => "[present]",
            Received::Repeated => "[repeated]",
        }
    }
}

/// A webhook as received: nothing about it is trusted yet.
#[derive(Clone)]
pub struct UnverifiedWebhook {
    body: Bytes,
    signature: Received,
    authorization: Received,
    claimed_strategy: Option<String>,
}

/// Never shows the body (customer data) or the credentials (the token is the webhook secret).
impl std::fmt::Debug for UnverifiedWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnverifiedWebhook")
            .field("body_len", &self.body.len())
            .field("signature", &self.signature.label())
            .field("authorization", &self.authorization.label())
            .field("claimed_strategy", &self.claimed_strategy)
            .finish()
    }
}

impl UnverifiedWebhook {
    pub fn new(headers: &HeaderMap, body: Bytes) -> Self {
        Self {
            body,
            signature: Received::from_headers(headers, "x-salla-signature"),
            authorization: Received::from_headers(headers, "authorization"),
            claimed_strategy: headers
                .get("x-salla-security-strategy")
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_owned()),
        }
    }

    /// The strategy the request says it uses. Informational only: it never decides verification.
    pub fn claimed_strategy(&self) -> Option<&str> {
        self.claimed_strategy.as_deref()
    }
}

/// A webhook whose body was proven to come from Salla. Constructed only by [`WebhookVerifier::verify`].
#[derive(Debug, Clone)]
pub struct VerifiedWebhook {
    body: Bytes,
}

impl VerifiedWebhook {
    /// The exact bytes Salla signed.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Parse the envelope `{event, merchant, created_at, data}`.
    pub fn parse(&self) -> Result<Envelope, ParseError> {
        Envelope::from_slice(&self.body)
    }

    /// Parse the envelope with `data` left as text (what ingest queues); see [`RawEnvelope`].
    pub fn parse_raw(&self) -> Result<RawEnvelope<'_>, ParseError> {
        RawEnvelope::from_slice(&self.body)
    }
}

/// Verifies webhooks with the configured strategy and secret.
#[derive(Clone)]
pub struct WebhookVerifier {
    strategy: Strategy,
    secret: SecretString,
}

impl std::fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookVerifier")
            .field("strategy", &self.strategy)
            .field("secret", &"[REDACTED]")
            .finish()
    }
}

impl WebhookVerifier {
    pub fn new(strategy: Strategy, secret: SecretString) -> Self {
        Self { strategy, secret }
    }

    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// Check the webhook with the configured strategy. The `X-Salla-Security-Strategy` header cannot
    /// change which check runs (a request claiming "Token" is still checked for a signature when the
    /// app is configured for signatures); a mismatch is logged.
    pub fn verify(&self, webhook: UnverifiedWebhook) -> Result<VerifiedWebhook, VerifyError> {
        if let Some(claimed) = webhook.claimed_strategy()
            && !claimed.eq_ignore_ascii_case(self.strategy.as_str())
        {
            tracing::warn!(
                configured = self.strategy.as_str(),
                claimed = %claimed.chars().take(32).collect::<String>(),
                "X-Salla-Security-Strategy differs from the configured strategy; using the configured one"
            );
        }
        let secret = self.secret.expose_secret().as_bytes();
        match self.strategy {
            Strategy::Signature => {
                let header = match &webhook.signature {
                    Received::Absent => return Err(VerifyError::MissingSignature),
                    Received::Repeated => return Err(VerifyError::DuplicateSignature),
                    Received::Once(v) => v,
                };
                let mut expected = [0u8; 32];
                hex::decode_to_slice(header, &mut expected)
                    .map_err(|_| VerifyError::MalformedSignature)?;
                let mut mac = Hmac::<Sha256>::new_from_slice(secret)
                    .expect("HMAC accepts keys of any length");
                mac.update(&webhook.body);
                // verify_slice compares in constant time.
                mac.verify_slice(&expected)
                    .map_err(|_| VerifyError::BadSignature)?;
            }
            Strategy::Token => {
                let header: &[u8] = match &webhook.authorization {
                    Received::Absent => return Err(VerifyError::MissingToken),
                    Received::Repeated => return Err(VerifyError::DuplicateToken),
                    Received::Once(v) => v,
                };
                // Salla sends the bare secret; a "Bearer " prefix (added by some proxies) is accepted.
                // Both readings are compared (in constant time), so a secret that itself starts
                // with "Bearer " still matches when sent bare.
                let stripped = header
                    .strip_prefix(b"Bearer ")
                    .or_else(|| header.strip_prefix(b"bearer "))
                    .unwrap_or(header);
                if !bool::from(header.ct_eq(secret) | stripped.ct_eq(secret)) {
                    return Err(VerifyError::BadToken);
                }
            }
        }
        Ok(VerifiedWebhook { body: webhook.body })
    }
}

/// Lowercase hex HMAC-SHA256 of `body` keyed with `secret`: the `X-Salla-Signature` Salla would send.
/// For tests, samples and benchmarks that play Salla.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const SECRET: &str = "test-webhook-secret";
    // The test vector of docs/salla-platform.md §5.2.
    const BODY: &[u8] =
        br#"{"event":"app.uninstalled","merchant":1234509876,"created_at":"2022-12-31 12:31:25","data":{}}"#;
    const SIGNATURE: &str = "51f1b397848f2f90e641e0dd9b735b5441188d3c6671fe5b7449cfda8dea9fbb";

    fn verifier(strategy: Strategy) -> WebhookVerifier {
        WebhookVerifier::new(strategy, SecretString::from(SECRET))
    }

    fn request(headers: &[(&'static str, &str)], body: &[u8]) -> UnverifiedWebhook {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        UnverifiedWebhook::new(&map, Bytes::copy_from_slice(body))
    }

    #[test]
    fn documented_test_vector_verifies() {
        assert_eq!(BODY.len(), 94);
        assert_eq!(sign(SECRET, BODY), SIGNATURE);
        let hook = request(&[("x-salla-signature", SIGNATURE)], BODY);
        let verified = verifier(Strategy::Signature).verify(hook).unwrap();
        assert_eq!(verified.parse().unwrap().event, "app.uninstalled");
    }

    #[test]
    fn uppercase_and_padded_signatures_are_accepted() {
        let hook = request(
            &[(
                "X-Salla-Signature",
                &format!(" {} ", SIGNATURE.to_uppercase()),
            )],
            BODY,
        );
        assert!(verifier(Strategy::Signature).verify(hook).is_ok());
    }

    #[test]
    fn any_flipped_byte_is_refused() {
        let v = verifier(Strategy::Signature);
        for i in 0..BODY.len() {
            let mut body = BODY.to_vec();
            body[i] ^= 0x01;
            let hook = request(&[("x-salla-signature", SIGNATURE)], &body);
            assert_eq!(
                v.verify(hook).unwrap_err(),
                VerifyError::BadSignature,
                "byte {i}"
            );
        }
    }

    #[test]
    fn missing_or_malformed_signatures_are_refused() {
        let v = verifier(Strategy::Signature);
        assert_eq!(
            v.verify(request(&[], BODY)).unwrap_err(),
            VerifyError::MissingSignature
        );
        for bad in ["", "zz", &SIGNATURE[..62], &format!("sha256={SIGNATURE}")] {
            let hook = request(&[("x-salla-signature", bad)], BODY);
            assert_eq!(
                v.verify(hook).unwrap_err(),
                VerifyError::MalformedSignature,
                "{bad}"
            );
        }
    }

    #[test]
    fn the_header_cannot_downgrade_signature_to_token() {
        // A forged request that claims the Token strategy and presents the secret as a token is
        // still checked for a signature.
        let hook = request(
            &[
                ("x-salla-security-strategy", "Token"),
                ("authorization", SECRET),
            ],
            BODY,
        );
        assert_eq!(
            verifier(Strategy::Signature).verify(hook).unwrap_err(),
            VerifyError::MissingSignature
        );
    }

    #[test]
    fn token_strategy_compares_the_authorization_header() {
        let v = verifier(Strategy::Token);
        assert!(
            v.verify(request(&[("authorization", SECRET)], BODY))
                .is_ok()
        );
        assert!(
            v.verify(request(
                &[("authorization", &format!("Bearer {SECRET}"))],
                BODY
            ))
            .is_ok()
        );
        assert_eq!(
            v.verify(request(&[("authorization", "test-webhook-secreT")], BODY))
                .unwrap_err(),
            VerifyError::BadToken
        );
        assert_eq!(
            v.verify(request(&[("authorization", "")], BODY))
                .unwrap_err(),
            VerifyError::BadToken
        );
        assert_eq!(
            v.verify(request(&[], BODY)).unwrap_err(),
            VerifyError::MissingToken
        );
        // A valid signature is not a token.
        assert_eq!(
            v.verify(request(&[("x-salla-signature", SIGNATURE)], BODY))
                .unwrap_err(),
            VerifyError::MissingToken
        );
    }

    #[test]
    fn a_repeated_credential_header_is_refused() {
        let mut map = HeaderMap::new();
        map.append("x-salla-signature", HeaderValue::from_static(SIGNATURE));
        map.append("x-salla-signature", HeaderValue::from_static("00"));
        let hook = UnverifiedWebhook::new(&map, Bytes::from_static(BODY));
        assert_eq!(
            verifier(Strategy::Signature).verify(hook).unwrap_err(),
            VerifyError::DuplicateSignature
        );
        let mut map = HeaderMap::new();
        map.append("authorization", HeaderValue::from_static(SECRET));
        map.append("authorization", HeaderValue::from_static(SECRET));
        let hook = UnverifiedWebhook::new(&map, Bytes::from_static(BODY));
        assert_eq!(
            verifier(Strategy::Token).verify(hook).unwrap_err(),
            VerifyError::DuplicateToken
        );
    }

    #[test]
    fn any_token_text_verifies_as_configured() {
        // Found by tests/verify_properties.rs: a secret starting with "Bearer " (stripped before
        // comparing) and a non-ASCII secret (not readable as a header string) never matched.
        for secret in ["Bearer abc", "كلمة-سر"] {
            let v = WebhookVerifier::new(Strategy::Token, SecretString::from(secret));
            let mut map = HeaderMap::new();
            map.insert(
                "authorization",
                HeaderValue::from_bytes(secret.as_bytes()).unwrap(),
            );
            assert!(
                v.verify(UnverifiedWebhook::new(&map, Bytes::new())).is_ok(),
                "{secret}"
            );
        }
    }

    #[test]
    fn a_non_ascii_signature_is_malformed_not_missing() {
        let mut map = HeaderMap::new();
        map.insert(
            "x-salla-signature",
            HeaderValue::from_bytes("تو".as_bytes()).unwrap(),
        );
        let hook = UnverifiedWebhook::new(&map, Bytes::from_static(BODY));
        assert_eq!(
            verifier(Strategy::Signature).verify(hook).unwrap_err(),
            VerifyError::MalformedSignature
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        assert!(!format!("{:?}", verifier(Strategy::Token)).contains(SECRET));
    }
}
