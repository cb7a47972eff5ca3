//! Any bytes as an Odoo answer, through the JSON-RPC and both JSON-2 parsers: never panics; errors
//! are of the documented classes, and the stand-in API key never survives into one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use odoo::{Error, ErrorClass, fuzzing};

const KEY: &str = "k3y-0f-the-store";

fn redact(s: &str) -> String {
    s.replace(KEY, "<redacted>")
}

fuzz_target!(|body: &[u8]| {
    // Ids 0..3, so that fuzzed replies can match the request's id.
    let id = body.first().map_or(1, |b| u64::from(b % 3));
    let markup = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<');
    match fuzzing::rpc_reply(body, id, &redact) {
        Ok(_) => {}
        Err(e) => {
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains(KEY), "{shown}");
            match &e {
                Error::Config { .. } => assert!(markup),
                Error::NoAnswer { .. } | Error::Protocol { .. } => {
                    assert_eq!(e.class(), ErrorClass::OutcomeUnknown)
                }
                Error::Odoo(f) => {
                    let _ = (f.kind(), f.class());
                }
                other => panic!("unexpected error: {other:?}"),
            }
        }
    }
    match fuzzing::json2_result(body) {
        Ok(_) => {}
        Err(Error::Config { .. }) => assert!(markup),
        Err(e) => assert!(e.is_outcome_unknown(), "{e:?}"),
    }
    if let Some(f) = fuzzing::json2_error(500, body, &redact) {
        assert!(!f.message.contains(KEY) && !f.name.contains(KEY));
        let _ = f.class();
    }
});
