//! Conformance: every Salla fixture in `../shared/fixtures/salla/` verifies, parses as an envelope and
//! parses into its typed payload. The fixtures are public material kept outside the repository: in a
//! clone without `../shared` this test says so and passes without checking anything.

use std::path::PathBuf;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use salla_odoo_salla::{Payload, Strategy, UnverifiedWebhook, WebhookVerifier, verify::sign};
use secrecy::SecretString;

fn fixtures_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/salla");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: ../shared/fixtures/salla not present (CI always has it)");
        None
    }
}

/// Each fixture file as the exact bytes Salla would send (the data-only invoice wrapped in an envelope).
fn fixture_bodies(dir: &PathBuf) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".json") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let body = if name.contains("data-only") {
            let event = name.split(".data-only").next().unwrap();
            let mut b = format!(
                r#"{{"event":"{event}","merchant":1305146709,"created_at":"2025-05-19 12:05:05","data":"#
            )
            .into_bytes();
            b.extend_from_slice(&bytes);
            b.push(b'}');
            b
        } else {
            bytes
        };
        out.push((name, body));
    }
    out.sort();
    out
}

#[test]
fn every_fixture_verifies_and_parses() {
    let Some(dir) = fixtures_dir() else { return };
    let bodies = fixture_bodies(&dir);
    assert!(
        bodies.len() >= 13,
        "expected the 13 fixtures, found {}",
        bodies.len()
    );
    let secret = "fixture-secret";
    let verifier = WebhookVerifier::new(Strategy::Signature, SecretString::from(secret));
    for (name, body) in bodies {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-salla-signature",
            HeaderValue::from_str(&sign(secret, &body)).unwrap(),
        );
        let verified = verifier
            .verify(UnverifiedWebhook::new(&headers, Bytes::from(body)))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let env = verified.parse().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(env.merchant > 0, "{name}");
        assert!(
            env.created_at_instant().is_some(),
            "{name}: created_at {:?}",
            env.created_at
        );
        let payload = env.payload().unwrap_or_else(|e| panic!("{name}: {e}"));
        match (env.event.as_str(), payload) {
            ("order.created", Payload::Order(o)) => {
                assert_eq!(o.id, 2116149737);
                assert_eq!(o.status.unwrap().slug.as_deref(), Some("under_review"));
                assert_eq!(o.items.len(), 1);
                assert_eq!(o.items[0].sku.as_deref(), Some("54534534"));
                let amounts = o.amounts.unwrap();
                assert_eq!(amounts.total.unwrap().amount.to_string(), "196");
                assert_eq!(amounts.discounts[0].discount.unwrap().to_string(), "5.00");
                assert_eq!(o.customer.unwrap().mobile.as_deref(), Some("501806978"));
            }
            ("order.status.updated", Payload::OrderStatus(s)) => {
                assert_eq!(s.order.id, 629263027);
                assert_ne!(s.id, s.order.id);
                assert_eq!(s.slug(), Some("completed"));
            }
            ("order.shipment.cancelled", Payload::OrderShipment(s)) => {
                assert_eq!(s.shipping_number.as_deref(), Some("846984645"));
            }
            ("product.created", Payload::Product(p)) => {
                assert_eq!(p.id, 1025569331);
                assert_eq!(p.price.unwrap().amount.to_string(), "299");
            }
            ("product.status.updated", Payload::Product(p)) => {
                assert_eq!(p.sku.as_deref(), Some("SKU122"));
                assert_eq!(p.status.as_deref(), Some("hidden"));
            }
            ("customer.created" | "customer.login", Payload::Customer(c)) => {
                assert_eq!(c.id, 225167971);
                assert_eq!(c.email.as_deref(), Some("test@gmail.com"));
            }
            ("shipment.creating", Payload::Shipment(s)) => {
                assert_eq!(s.order_id, Some(560695738));
                assert!(s.label_url().is_some());
            }
            ("invoice.created", Payload::Invoice(i)) => {
                assert_eq!(i.order_id, 1783506836);
                assert_eq!(i.total.unwrap().amount.to_string(), "911.97");
            }
            ("app.store.authorize", Payload::StoreAuthorize(a)) => {
                assert_eq!(a.expires, 1634819484);
            }
            ("app.installed" | "app.uninstalled" | "app.settings.updated", Payload::App(a)) => {
                assert_eq!(a.id, Some(6789012345));
            }
            (event, other) => panic!("{name}: unexpected payload for {event}: {other:?}"),
        }
    }
}

#[test]
fn documented_fixture_signature_matches() {
    let Some(dir) = fixtures_dir() else { return };
    let body = std::fs::read(dir.join("order.shipment.cancelled.json")).unwrap();
    assert_eq!(body.len(), 225);
    assert_eq!(
        sign("test-webhook-secret", &body),
        "06e0e8eed397a023082420b5f6c1fdd1826a7e1f32ee647397834755921f6560"
    );
}
