//! Property tests of the answer parsers (`parse_rpc_reply`, `parse_json2_result`,
//! `parse_json2_error`): arbitrary bytes and Odoo-shaped answers with hostile values never panic, and
//! every failure lands in the class the module documentation promises. `PROPTEST_CASES` raises the
//! case count (default 512 per property); `docs/fuzzing.md` has the matching fuzz target.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::error::ErrorClass;

fn config(cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    config
}

/// Stands for the API key: it must never survive into an error, wherever the server echoes it.
const KEY: &str = "k3y-0f-the-store";

fn redact(s: &str) -> String {
    s.replace(KEY, "<redacted>")
}

fn starts_with_markup(body: &[u8]) -> bool {
    body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<')
}

/// What every JSON-RPC parse result must satisfy, whatever the body.
fn check_rpc(body: &[u8], id: u64) -> Result<Value, Error> {
    let out = parse_rpc_reply(body, id, &redact);
    if let Err(e) = &out {
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains(KEY), "{shown}");
        match e {
            Error::Config { .. } => assert!(starts_with_markup(body)),
            Error::NoAnswer { .. } | Error::Protocol { .. } => {
                assert!(!starts_with_markup(body));
                assert_eq!(e.class(), ErrorClass::OutcomeUnknown);
            }
            Error::Odoo(f) => {
                assert_eq!(f.http_status, 200);
                let _ = (f.kind(), f.class());
            }
            other => panic!("unexpected error variant: {other:?}"),
        }
        assert!(!e.to_string().is_empty());
    }
    out
}

fn check_json2(body: &[u8], status: u16) {
    match parse_json2_result(body) {
        Ok(v) => {
            if body.iter().all(u8::is_ascii_whitespace) {
                assert_eq!(v, Value::Null);
            }
        }
        Err(e) => match e {
            Error::Config { .. } => assert!(starts_with_markup(body)),
            Error::NoAnswer { .. } => assert!(!starts_with_markup(body)),
            other => panic!("unexpected error variant: {other:?}"),
        },
    }
    if let Some(f) = parse_json2_error(status, body, &redact) {
        assert_eq!(f.http_status, status);
        assert!(!f.message.contains(KEY));
        let _ = (f.kind(), f.class());
    }
}

// ---------------------------------------------------------------------------------------------
// Odoo-shaped answers.

fn arbitrary_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        // serde_json's default float parsing may be one ulp off for 17-digit floats (its
        // `float_roundtrip` feature is off); values here are the ones it reads back exactly.
        any::<f64>()
            .prop_filter("finite, read back exactly", |f| {
                f.is_finite()
                    && serde_json::from_str::<f64>(&Value::from(*f).to_string()).ok() == Some(*f)
            })
            .prop_map(Value::from),
        ".{0,24}".prop_map(Value::from),
        Just(Value::from(KEY)),
    ];
    leaf.prop_recursive(5, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{0,10}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Raw JSON that `serde_json::Value` cannot hold, or that breaks the reply's typed fields.
fn hostile_raw() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("1e400".to_owned()),
        Just("18446744073709551617".to_owned()),
        Just("-9223372036854775809".to_owned()),
        Just(r#""\ud800""#.to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        Just(format!("\"{KEY}\"")),
        Just(format!("{{\"x\": \"{KEY}\"}}")),
        Just(format!("[\"{KEY}\", 1]")),
        (1usize..300).prop_map(|d| format!("{}{}", "[".repeat(d), "]".repeat(d))),
        any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap()),
        arbitrary_value().prop_map(|v| v.to_string()),
    ]
}

/// How the reply's `id` relates to the request's.
#[derive(Debug, Clone)]
enum IdShape {
    Same,
    Null,
    Absent,
    Other(Value),
}

fn id_shape() -> impl Strategy<Value = IdShape> {
    prop_oneof![
        4 => Just(IdShape::Same),
        1 => Just(IdShape::Null),
        1 => Just(IdShape::Absent),
        1 => arbitrary_value().prop_map(IdShape::Other),
    ]
}

/// The reply's `error`, if any.
#[derive(Debug, Clone)]
enum ErrorShape {
    None,
    /// `{code, message, data: {name, message, …}}` as Odoo sends it (each part may be missing).
    WellFormed {
        code: Option<i64>,
        message: Option<String>,
        name: Option<String>,
        data_message: Option<String>,
        extra: Value,
    },
    /// A value of the wrong type somewhere in it, as raw JSON.
    Garbage(String),
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,40}",
        Just(format!("bad key {KEY} in request")),
        Just("Too many login failures, please wait a bit before trying again.".to_owned()),
        Just("odoo.exceptions.AccessDenied".to_owned()),
        Just("odoo.exceptions.ValidationError".to_owned()),
        Just("psycopg2.errors.SerializationFailure".to_owned()),
        (0usize..100_000).prop_map(|n| "x".repeat(n)),
    ]
}

fn error_shape() -> impl Strategy<Value = ErrorShape> {
    prop_oneof![
        3 => Just(ErrorShape::None),
        3 => (
            prop::option::of(any::<i64>()),
            prop::option::of(text()),
            prop::option::of(text()),
            prop::option::of(text()),
            arbitrary_value(),
        )
            .prop_map(|(code, message, name, data_message, extra)| ErrorShape::WellFormed {
                code,
                message,
                name,
                data_message,
                extra,
            }),
        2 => prop_oneof![
            hostile_raw().prop_filter("not null, not an object or array", |r| {
                !(r == "null" || r.starts_with('{') || r.starts_with('['))
            }),
            hostile_raw().prop_map(|r| format!(r#"{{"code": {r}, "message": "m"}}"#)),
            hostile_raw().prop_map(|r| format!(r#"{{"code": 200, "data": {{"name": {r}}}}}"#)),
            hostile_raw().prop_map(|r| format!(r#"{{"code": 200, "message": {r}}}"#)),
        ]
        .prop_filter("a wrong type", |r| {
            // Raw texts that happen to be of the right type are not garbage.
            let Ok(v) = serde_json::from_str::<Value>(r) else { return true };
            serde_json::from_value::<RpcError>(v).is_err()
        })
        .prop_map(ErrorShape::Garbage),
    ]
}

/// Build the body and say what the parser must answer.
fn reply(
    id: u64,
    id_shape: &IdShape,
    result: &Option<Value>,
    error: &ErrorShape,
) -> (Vec<u8>, Expected) {
    let mut parts: Vec<String> = vec![r#""jsonrpc": "2.0""#.to_owned()];
    let id_ok = match id_shape {
        IdShape::Same => {
            parts.push(format!(r#""id": {id}"#));
            true
        }
        IdShape::Null => {
            parts.push(r#""id": null"#.to_owned());
            true
        }
        IdShape::Absent => true,
        IdShape::Other(v) => {
            parts.push(format!(r#""id": {v}"#));
            v.is_null() || v.as_u64() == Some(id)
        }
    };
    if let Some(r) = result {
        parts.push(format!(r#""result": {r}"#));
    }
    let expected = match error {
        ErrorShape::None => {
            if id_ok {
                Expected::Value(result.clone().unwrap_or(Value::Null))
            } else {
                Expected::Protocol
            }
        }
        ErrorShape::WellFormed {
            code,
            message,
            name,
            data_message,
            extra,
        } => {
            let mut data = serde_json::Map::new();
            if let Some(n) = name {
                data.insert("name".into(), n.clone().into());
            }
            if let Some(m) = data_message {
                data.insert("message".into(), m.clone().into());
            }
            data.insert("arguments".into(), extra.clone());
            let mut err = serde_json::Map::new();
            if let Some(c) = code {
                err.insert("code".into(), (*c).into());
            }
            if let Some(m) = message {
                err.insert("message".into(), m.clone().into());
            }
            err.insert("data".into(), Value::Object(data));
            parts.push(format!(r#""error": {}"#, Value::Object(err)));
            if id_ok {
                Expected::Fault {
                    name: redact(&name.clone().unwrap_or_default()),
                    message: redact(
                        &data_message
                            .clone()
                            .or_else(|| message.clone())
                            .unwrap_or_default(),
                    ),
                    code: *code,
                }
            } else {
                Expected::Protocol
            }
        }
        ErrorShape::Garbage(raw) => {
            parts.push(format!(r#""error": {raw}"#));
            Expected::NoAnswer
        }
    };
    (format!("{{{}}}", parts.join(", ")).into_bytes(), expected)
}

#[derive(Debug)]
enum Expected {
    Value(Value),
    Fault {
        name: String,
        message: String,
        code: Option<i64>,
    },
    Protocol,
    NoAnswer,
}

proptest! {
    #![proptest_config(config(512))]

    /// Any bytes: a value or a classified error, never a panic; a page of markup is a
    /// configuration error and anything else unreadable an answer lost on the way.
    #[test]
    fn arbitrary_bytes_never_panic(
        body in prop::collection::vec(any::<u8>(), 0..4096),
        id in any::<u64>(),
        status in 100u16..600,
    ) {
        let _ = check_rpc(&body, id);
        check_json2(&body, status);
    }

    /// JSON's own tokens, which get further into the parser than random bytes do.
    #[test]
    fn json_token_soup_never_panics(
        tokens in prop::collection::vec(
            prop_oneof![
                Just("{"), Just("}"), Just("["), Just("]"), Just(":"), Just(","), Just("\""),
                Just("\"jsonrpc\""), Just("\"id\""), Just("\"result\""), Just("\"error\""),
                Just("\"code\""), Just("\"data\""), Just("\"name\""), Just("\"message\""),
                Just("1"), Just("-"), Just("."), Just("e"), Just("1e400"), Just("null"),
                Just("true"), Just("\\u"), Just("\\ud800"), Just(" "), Just("<"), Just("\u{ff}"),
            ],
            0..200,
        ),
        id in 0u64..3,
        status in 100u16..600,
    ) {
        let body = tokens.concat();
        let _ = check_rpc(body.as_bytes(), id);
        check_json2(body.as_bytes(), status);
    }

    /// Odoo-shaped JSON-RPC replies: the result, the Odoo fault (redacted), a protocol error for a
    /// foreign id, or an answer treated as lost when the envelope's own fields have the wrong type.
    #[test]
    fn rpc_replies_are_classified(
        id in any::<u64>(),
        id_shape in id_shape(),
        result in prop::option::of(arbitrary_value()),
        error in error_shape(),
    ) {
        let (body, expected) = reply(id, &id_shape, &result, &error);
        let got = check_rpc(&body, id);
        match (&expected, &got) {
            (Expected::Value(want), Ok(v)) => prop_assert_eq!(want, v),
            (Expected::Fault { name, message, code }, Err(Error::Odoo(f))) => {
                prop_assert_eq!(&f.name, name);
                prop_assert_eq!(&f.message, message);
                prop_assert_eq!(&f.code, code);
            }
            (Expected::Protocol, Err(Error::Protocol { .. })) => {}
            (Expected::NoAnswer, Err(Error::NoAnswer { .. })) => {}
            _ => prop_assert!(false, "{} → expected {expected:?}, got {got:?}", String::from_utf8_lossy(&body)),
        }
    }

    /// Every strict prefix of a complete reply (an answer cut off in transit) is "no answer".
    #[test]
    fn truncated_replies_are_outcome_unknown(
        id in any::<u64>(),
        result in arbitrary_value(),
        cut in any::<prop::sample::Index>(),
    ) {
        let (body, _) = reply(id, &IdShape::Same, &Some(result), &ErrorShape::None);
        let prefix = &body[..cut.index(body.len())];
        let err = check_rpc(prefix, id).unwrap_err();
        prop_assert!(err.is_outcome_unknown(), "{err:?}");
        if !prefix.iter().all(u8::is_ascii_whitespace) {
            prop_assert!(parse_json2_result(prefix).unwrap_err().is_outcome_unknown());
        }
    }

    /// JSON-2 answers: a success body is returned as is; an error body becomes a fault that
    /// keeps its name and the HTTP status, redacted.
    #[test]
    fn json2_answers_are_classified(
        value in arbitrary_value(),
        name in prop::option::of(text()),
        message in prop::option::of(text()),
        status in 400u16..600,
    ) {
        prop_assert_eq!(parse_json2_result(value.to_string().as_bytes()).unwrap(), value.clone());
        let mut body = json!({"arguments": [value], "context": {}, "debug": "Traceback"});
        if let Some(n) = &name {
            body["name"] = n.clone().into();
        }
        if let Some(m) = &message {
            body["message"] = m.clone().into();
        }
        let fault = parse_json2_error(status, body.to_string().as_bytes(), &redact);
        if name.is_none() && message.is_none() {
            prop_assert!(fault.is_none());
        } else {
            let f = fault.unwrap();
            prop_assert_eq!(f.name, redact(&name.unwrap_or_default()));
            prop_assert_eq!(f.message, redact(&message.unwrap_or_default()));
            prop_assert_eq!(f.http_status, status);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Deep nesting: every entry point fails fast on 100,000 levels, on a small stack.

const DEEP: usize = 100_000;

fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .expect("no panic or overflow")
}

fn deep_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let balanced = format!("{}{}", "[".repeat(DEEP), "]".repeat(DEEP));
    vec![
        ("open brackets", "[".repeat(DEEP).into_bytes()),
        ("balanced brackets", balanced.clone().into_bytes()),
        ("open objects", "{\"a\":".repeat(DEEP).into_bytes()),
        (
            "in result",
            format!(r#"{{"jsonrpc": "2.0", "id": 1, "result": {balanced}}}"#).into_bytes(),
        ),
        (
            "in error data",
            format!(r#"{{"jsonrpc": "2.0", "id": 1, "error": {{"code": 200, "data": {{"name": "x", "arguments": {balanced}}}}}}}"#)
                .into_bytes(),
        ),
    ]
}

#[test]
fn deep_nesting_fails_fast_in_every_parser() {
    on_small_stack(|| {
        for (name, body) in deep_bodies() {
            let started = Instant::now();
            match (name, parse_rpc_reply(&body, 1, &redact)) {
                // `error.data.arguments` is not read: serde_json skips it without recursing.
                ("in error data", Err(Error::Odoo(f))) => assert_eq!(f.name, "x"),
                (_, Err(e)) => assert!(e.is_outcome_unknown(), "{name}: {e:?}"),
                (_, Ok(v)) => panic!("{name}: {v:?}"),
            }
            let err = parse_json2_result(&body).expect_err(name);
            assert!(err.is_outcome_unknown(), "{name}: {err:?}");
            let _ = parse_json2_error(500, &body, &redact);
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "{name}: {:?}",
                started.elapsed()
            );
        }
    });
}

/// The deepest result serde_json accepts is returned (and dropped) on a small stack.
#[test]
fn the_deepest_accepted_result_is_returned() {
    on_small_stack(|| {
        let mut deepest = None;
        for depth in (1..200).rev() {
            let body = format!(
                r#"{{"jsonrpc": "2.0", "id": 1, "result": {}{}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            );
            if let Ok(v) = parse_rpc_reply(body.as_bytes(), 1, &redact) {
                assert!(v.is_array());
                deepest = Some(depth);
                break;
            }
        }
        // serde_json's limit is 127 levels; the reply object takes one.
        assert_eq!(deepest, Some(126));
    });
}
