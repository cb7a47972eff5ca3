//! Any bytes as a webhook body: the envelope parser, then the typed payload of whatever event it
//! names, then every payload model read straight from the same bytes. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use salla_odoo_salla::Envelope;
use salla_odoo_salla::payload::{
    AppEvent, Customer, Invoice, Order, OrderShipmentRef, OrderStatusUpdate, Product, Shipment,
    StoreAuthorize,
};

fuzz_target!(|body: &[u8]| {
    match Envelope::from_slice(body) {
        Ok(env) => {
            assert!(!env.event.trim().is_empty() && env.data.is_object());
            let _ = env.created_at_instant();
            if let Err(e) = env.payload() {
                assert_eq!(e.as_str(), "invalid_payload");
            }
        }
        Err(e) => assert!(matches!(e.as_str(), "malformed_json" | "invalid_envelope")),
    }
    let _ = serde_json::from_slice::<Order>(body);
    let _ = serde_json::from_slice::<OrderStatusUpdate>(body);
    let _ = serde_json::from_slice::<OrderShipmentRef>(body);
    let _ = serde_json::from_slice::<Customer>(body);
    let _ = serde_json::from_slice::<Product>(body);
    let _ = serde_json::from_slice::<Shipment>(body);
    let _ = serde_json::from_slice::<Invoice>(body);
    let _ = serde_json::from_slice::<StoreAuthorize>(body);
    let _ = serde_json::from_slice::<AppEvent>(body);
});
