//! Webhook verification with fuzzed headers, body and secret, for both strategies: never panics;
//! the right signature or token always verifies; a changed body byte never does.
#![no_main]

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use salla_odoo_salla::verify::sign;
use salla_odoo_salla::{Strategy, UnverifiedWebhook, WebhookVerifier};
use secrecy::SecretString;

#[derive(Debug, Arbitrary)]
struct Input {
    token_strategy: bool,
    secret: String,
    /// (which header, raw value)
    headers: Vec<(u8, Vec<u8>)>,
    body: Vec<u8>,
    flip: (usize, u8),
}

const NAMES: &[&str] = &[
    "x-salla-signature",
    "authorization",
    "x-salla-security-strategy",
    "content-type",
    "x-other",
];

fn verifier(strategy: Strategy, secret: &str) -> WebhookVerifier {
    WebhookVerifier::new(strategy, SecretString::from(secret.to_owned()))
}

fuzz_target!(|input: Input| {
    let strategy = if input.token_strategy {
        Strategy::Token
    } else {
        Strategy::Signature
    };
    let v = verifier(strategy, &input.secret);

    // Arbitrary headers (those an HTTP client could send).
    let mut map = HeaderMap::new();
    for (name, value) in &input.headers {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            map.append(
                HeaderName::from_static(NAMES[*name as usize % NAMES.len()]),
                value,
            );
        }
    }
    let hook = UnverifiedWebhook::new(&map, Bytes::from(input.body.clone()));
    let _ = format!("{hook:?}");
    let _ = v.verify(hook);

    // The right credential, alone, always verifies.
    let (name, credential) = match strategy {
        Strategy::Signature => ("x-salla-signature", sign(&input.secret, &input.body)),
        Strategy::Token => ("authorization", input.secret.clone()),
    };
    let Ok(value) = HeaderValue::from_bytes(credential.as_bytes()) else {
        return;
    };
    if strategy == Strategy::Token && input.secret.trim() != input.secret {
        return; // header values arrive trimmed; such a secret cannot be sent
    }
    let mut map = HeaderMap::new();
    map.insert(name, value);
    let ok = v.verify(UnverifiedWebhook::new(
        &map,
        Bytes::from(input.body.clone()),
    ));
    assert!(ok.is_ok(), "{ok:?}");

    // A changed body byte never verifies a signature.
    if strategy == Strategy::Signature && !input.body.is_empty() && input.flip.1 != 0 {
        let mut body = input.body.clone();
        let i = input.flip.0 % body.len();
        body[i] = body[i].wrapping_add(input.flip.1);
        assert!(
            v.verify(UnverifiedWebhook::new(&map, Bytes::from(body)))
                .is_err()
        );
    }
});
