//! Property tests of webhook verification (`UnverifiedWebhook` → `WebhookVerifier::verify`), for
//! both strategies: arbitrary headers and bodies never panic; the right signature or token always
//! verifies; any one-byte change of the body, the signature or the token is refused; a repeated
//! credential header is refused whatever its copies say; the strategy header changes nothing.
//! `PROPTEST_CASES` raises the case count (default 512 per property).

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use salla_odoo_salla::verify::sign;
use salla_odoo_salla::{Strategy as Scheme, UnverifiedWebhook, VerifyError, WebhookVerifier};
use secrecy::SecretString;

fn config(cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    config
}

fn verifier(strategy: Scheme, secret: &str) -> WebhookVerifier {
    WebhookVerifier::new(strategy, SecretString::from(secret.to_owned()))
}

fn hook(headers: &[(&str, Vec<u8>)], body: &[u8]) -> Option<UnverifiedWebhook> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        // Only what an HTTP client could send: hyper refuses the rest before any handler runs.
        let value = HeaderValue::from_bytes(value).ok()?;
        map.append(HeaderName::from_bytes(name.as_bytes()).ok()?, value);
    }
    Some(UnverifiedWebhook::new(&map, Bytes::copy_from_slice(body)))
}

/// Secrets as a merchant could configure them: any text, usually plain ASCII.
fn secret() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[A-Za-z0-9]{1,64}",
        1 => "[!-~]([ -~]{0,40}[!-~])?",
        1 => "(Bearer |bearer )[A-Za-z0-9]{1,20}",
        1 => "[!-~ا-ي]{1,20}",
    ]
    .prop_filter("no surrounding whitespace", |s| s.trim() == s)
}

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("x-salla-signature".to_owned()),
        Just("X-Salla-Signature".to_owned()),
        Just("authorization".to_owned()),
        Just("x-salla-security-strategy".to_owned()),
        Just("content-type".to_owned()),
        "[a-z][a-z0-9-]{0,20}",
    ]
}

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..100),
        "[0-9a-fA-F]{60,68}".prop_map(String::into_bytes),
        "(Signature|Token|signature|token|none|)".prop_map(String::into_bytes),
        "(Bearer )?[ -~]{0,40}".prop_map(String::into_bytes),
        (0usize..20_000).prop_map(|n| vec![b'a'; n]),
    ]
}

fn strategy() -> impl Strategy<Value = Scheme> {
    prop_oneof![Just(Scheme::Signature), Just(Scheme::Token)]
}

proptest! {
    #![proptest_config(config(512))]

    /// Any headers and body: an answer, never a panic; and nothing verifies by accident.
    #[test]
    fn arbitrary_requests_never_panic(
        strategy in strategy(),
        secret in secret(),
        headers in prop::collection::vec((header_name(), header_value()), 0..8),
        body in prop::collection::vec(any::<u8>(), 0..2048),
    ) {
        let headers: Vec<(&str, Vec<u8>)> = headers.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
        if let Some(h) = hook(&headers, &body) {
            let _ = format!("{h:?}");
            if let Ok(verified) = verifier(strategy, &secret).verify(h) {
                // Random headers only verify when one of them is the credential itself.
                let credential = match strategy {
                    Scheme::Signature => sign(&secret, &body).into_bytes(),
                    Scheme::Token => secret.clone().into_bytes(),
                };
                prop_assert!(headers.iter().any(|(_, v)| v.windows(credential.len()).any(|w| w.eq_ignore_ascii_case(&credential))));
                prop_assert_eq!(verified.body().as_ref(), &body[..]);
            }
        }
    }

    /// Salla's signature verifies for any secret and body, in any case, padded or not, next to
    /// any other headers, and whatever strategy the request claims.
    #[test]
    fn a_correct_signature_always_verifies(
        secret in secret(),
        body in prop::collection::vec(any::<u8>(), 0..4096),
        upper in any::<bool>(),
        pad in "[ \t]{0,2}",
        claimed in prop::option::of("[ -~]{0,20}"),
        noise in prop::collection::vec(("x-[a-z]{1,10}", "[ -~]{0,30}"), 0..4),
    ) {
        let sig = sign(&secret, &body);
        let sig = if upper { sig.to_uppercase() } else { sig };
        let mut headers: Vec<(&str, Vec<u8>)> = vec![("x-salla-signature", format!("{pad}{sig}{pad}").into_bytes())];
        if let Some(c) = &claimed {
            headers.push(("x-salla-security-strategy", c.clone().into_bytes()));
        }
        for (n, v) in &noise {
            if n != "x-salla-signature" {
                headers.push((n.as_str(), v.clone().into_bytes()));
            }
        }
        let h = hook(&headers, &body).expect("valid headers");
        let verified = verifier(Scheme::Signature, &secret).verify(h).expect("verifies");
        prop_assert_eq!(verified.body().as_ref(), &body[..]);
    }

    /// Any one byte of the body changed: refused as a bad signature.
    #[test]
    fn any_changed_body_byte_is_refused(
        secret in secret(),
        body in prop::collection::vec(any::<u8>(), 1..2048),
        at in any::<prop::sample::Index>(),
        delta in 1u8..=255,
    ) {
        let sig = sign(&secret, &body);
        let mut tampered = body.clone();
        let i = at.index(body.len());
        tampered[i] = tampered[i].wrapping_add(delta);
        let h = hook(&[("x-salla-signature", sig.into_bytes())], &tampered).unwrap();
        prop_assert_eq!(verifier(Scheme::Signature, &secret).verify(h).unwrap_err(), VerifyError::BadSignature);
    }

    /// Any one byte of the signature changed is refused, unless it only changes the case of a hex
    /// digit (uppercase hex is the same signature).
    #[test]
    fn any_changed_signature_byte_is_refused(
        secret in secret(),
        body in prop::collection::vec(any::<u8>(), 0..512),
        at in 0usize..64,
        delta in 1u8..=255,
    ) {
        let mut sig = sign(&secret, &body).into_bytes();
        let original = sig[at];
        sig[at] = original.wrapping_add(delta);
        let Some(h) = hook(&[("x-salla-signature", sig.clone())], &body) else {
            // A byte no HTTP client can send in a header (CR, LF, NUL, other controls).
            return Ok(());
        };
        let same_digit = sig[at].is_ascii_hexdigit() && sig[at].eq_ignore_ascii_case(&original);
        match verifier(Scheme::Signature, &secret).verify(h) {
            Ok(_) => prop_assert!(same_digit, "{:?} verified", String::from_utf8_lossy(&sig)),
            Err(e) => {
                prop_assert!(!same_digit);
                prop_assert!(matches!(e, VerifyError::BadSignature | VerifyError::MalformedSignature), "{e:?}");
            }
        }
    }

    /// The configured token verifies, bare or after `Bearer `, whatever the secret looks like.
    #[test]
    fn a_correct_token_always_verifies(
        secret in secret(),
        bearer in prop_oneof![Just(""), Just("Bearer "), Just("bearer ")],
        body in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let h = hook(&[("authorization", format!("{bearer}{secret}").into_bytes())], &body).unwrap();
        prop_assert!(verifier(Scheme::Token, &secret).verify(h).is_ok(), "secret {secret:?} with {bearer:?}");
    }

    /// Any one byte of the token changed: refused.
    #[test]
    fn any_changed_token_byte_is_refused(
        secret in secret(),
        at in any::<prop::sample::Index>(),
        delta in 1u8..=255,
    ) {
        let mut token = secret.clone().into_bytes();
        let i = at.index(token.len());
        token[i] = token[i].wrapping_add(delta);
        let Some(h) = hook(&[("authorization", token)], b"{}") else { return Ok(()) };
        let e = verifier(Scheme::Token, &secret).verify(h).unwrap_err();
        prop_assert!(matches!(e, VerifyError::BadToken | VerifyError::MissingToken), "{e:?}");
    }

    /// A credential header sent twice is refused, even when one (or both) of the copies is right:
    /// which copy counts must not depend on which one a proxy or a library happens to pick.
    #[test]
    fn a_repeated_credential_header_is_refused(
        strategy in strategy(),
        secret in secret(),
        body in prop::collection::vec(any::<u8>(), 0..256),
        other in "[ -~]{0,70}",
        right_first in any::<bool>(),
        both_right in any::<bool>(),
    ) {
        let (name, right) = match strategy {
            Scheme::Signature => ("x-salla-signature", sign(&secret, &body)),
            Scheme::Token => ("authorization", secret.clone()),
        };
        let second = if both_right { right.clone() } else { other };
        let pair = if right_first { [right, second] } else { [second, right] };
        let h = hook(&[(name, pair[0].clone().into_bytes()), (name, pair[1].clone().into_bytes())], &body).unwrap();
        let e = verifier(strategy, &secret).verify(h).unwrap_err();
        let want = match strategy {
            Scheme::Signature => VerifyError::DuplicateSignature,
            Scheme::Token => VerifyError::DuplicateToken,
        };
        prop_assert_eq!(e, want);
    }

    /// `X-Salla-Security-Strategy` never changes the verdict.
    #[test]
    fn the_strategy_header_changes_nothing(
        strategy in strategy(),
        secret in secret(),
        headers in prop::collection::vec((header_name(), header_value()), 0..4),
        claimed in prop::collection::vec(any::<u8>(), 0..40),
        body in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut headers: Vec<(&str, Vec<u8>)> = headers
            .iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case("x-salla-security-strategy"))
            .map(|(n, v)| (n.as_str(), v.clone()))
            .collect();
        let Some(without) = hook(&headers, &body) else { return Ok(()) };
        headers.push(("x-salla-security-strategy", claimed));
        let Some(with) = hook(&headers, &body) else { return Ok(()) };
        let v = verifier(strategy, &secret);
        prop_assert_eq!(v.verify(without).map(|_| ()), v.verify(with).map(|_| ()));
    }
}

/// `Debug` of a received webhook shows neither the credential nor the body.
#[test]
fn debug_hides_credentials_and_body() {
    let h = hook(
        &[
            ("authorization", b"Bearer super-secret-token".to_vec()),
            ("x-salla-signature", sign("k", b"private body").into_bytes()),
        ],
        b"private body",
    )
    .unwrap();
    let shown = format!("{h:?}");
    assert!(!shown.contains("super-secret-token"), "{shown}");
    assert!(!shown.contains("private body"), "{shown}");
}

/// A body of 100,000 `[` is verified like any other bytes (verification never parses).
#[test]
fn deep_bodies_verify_without_parsing() {
    let body = "[".repeat(100_000);
    let h = hook(
        &[("x-salla-signature", sign("k", body.as_bytes()).into_bytes())],
        body.as_bytes(),
    )
    .unwrap();
    let verified = verifier(Scheme::Signature, "k").verify(h).unwrap();
    assert!(verified.parse().is_err());
}
