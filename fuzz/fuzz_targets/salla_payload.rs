//! A well-formed envelope around fuzzed `data`: the first byte picks the event (so every payload
//! model is reached through `Envelope::payload`), the rest is the raw `data` text. Must never panic,
//! and a payload error always names its event.
#![no_main]

use libfuzzer_sys::fuzz_target;
use salla_odoo_salla::{Envelope, ParseError};

const EVENTS: &[&str] = &[
    "order.created",
    "order.updated",
    "order.status.updated",
    "order.shipment.created",
    "order.deleted",
    "product.created",
    "product.deleted",
    "customer.created",
    "shipment.creating",
    "invoice.created",
    "app.store.authorize",
    "app.installed",
    "app.settings.updated",
    "brand.created",
];

fuzz_target!(|input: &[u8]| {
    let Some((pick, data)) = input.split_first() else {
        return;
    };
    let event = EVENTS[*pick as usize % EVENTS.len()];
    let mut body = format!(
        r#"{{"event":"{event}","merchant":1305146709,"created_at":"2022-12-31 12:31:25","data":"#
    )
    .into_bytes();
    body.extend_from_slice(data);
    body.push(b'}');
    if let Ok(env) = Envelope::from_slice(&body) {
        assert_eq!(env.event, event);
        match env.payload() {
            Ok(p) => {
                let _ = format!("{p:?}");
            }
            Err(ParseError::InvalidPayload { event: e, message }) => {
                assert_eq!(e, event);
                assert!(!message.is_empty());
            }
            Err(other) => panic!("payload() returned {other:?}"),
        }
    }
});
