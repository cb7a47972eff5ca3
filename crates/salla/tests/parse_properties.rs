//! Property tests of the webhook parsers: the envelope, every typed payload model and the lenient
//! decoders, fed arbitrary bytes and Salla-shaped JSON with hostile values in every position.
//!
//! What must hold for any input: no panic, no stack overflow, and either a value or an error of a
//! known class with a message. `PROPTEST_CASES` raises the case count (default 256 per property,
//! see `config`); `docs/fuzzing.md` has the coverage-guided fuzz targets for the same entry points.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use rust_decimal::Decimal;
use salla_odoo_salla::payload::{
    AppEvent, Customer, Invoice, Order, OrderShipmentRef, OrderStatusUpdate, Product, Shipment,
    StoreAuthorize,
};
use salla_odoo_salla::{Envelope, ParseError, Payload, RawEnvelope, lenient};
use serde::Deserialize;
use serde_json::{Value, json};

/// `cases` per property unless `PROPTEST_CASES` says otherwise (then proptest's own default reads it).
fn config(cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    config
}

// ---------------------------------------------------------------------------------------------
// Salla-shaped templates: one realistic body per payload model.

fn order_data() -> Value {
    json!({
        "id": 2116149737u64,
        "reference_id": 73017485,
        "date": {"date": "2022-06-26 12:21:45.000000", "timezone_type": 3, "timezone": "Asia/Riyadh"},
        "updated_at": "2022-06-26 12:25:00",
        "status": {"id": 566146469, "name": "بإنتظار المراجعة", "slug": "under_review", "customized": null},
        "payment_method": "mada",
        "currency": "SAR",
        "amounts": {
            "sub_total": {"amount": 834.76, "currency": "SAR"},
            "shipping_cost": {"amount": "15", "currency": "SAR"},
            "cash_on_delivery": {"amount": 0, "currency": "SAR"},
            "tax": {"percent": "15.00", "amount": {"amount": 125.21, "currency": "SAR"}},
            "discounts": [{"title": "EID", "code": "EID5", "discount": "5.00"}],
            "total": {"amount": "960.00", "currency": "SAR"}
        },
        "shipping": {
            "id": "618297749", "company": "Aramex",
            "receiver": {"name": "Sara", "email": "sara@example.test", "phone": 966500000001u64},
            "address": {"country": "SA", "country_code": "SA", "city": "Riyadh",
                        "shipping_address": "King Fahd Rd", "street_number": "12", "block": "Olaya",
                        "postal_code": 12211},
            "shipment": {"id": "0", "label": [], "tracking_number": null}
        },
        "customer": {"id": 1227534533, "first_name": "Sara", "last_name": "Q",
                     "mobile": 501806978, "mobile_code": "+966", "email": "sara@example.test"},
        "items": [
            {"id": 211612, "name": "Coffee", "sku": "CW-100", "quantity": 2,
             "amounts": {"price_without_tax": {"amount": 100, "currency": "SAR"},
                         "total_discount": {"amount": "0.00", "currency": "SAR"},
                         "tax": {"percent": 15, "amount": {"amount": "30", "currency": "SAR"}},
                         "total": {"amount": 230, "currency": "SAR"}},
             "product": {"id": "9834759404"}},
            {"id": "211613", "name": "Mug", "sku": 4411, "quantity": "1.5"}
        ]
    })
}

fn customer_data() -> Value {
    json!({"id": "1227534533", "first_name": "Sara", "last_name": "Q", "mobile": "+966501806978",
           "mobile_code": 966, "email": "sara@example.test", "city": "Riyadh", "country": "SA",
           "country_code": "SA", "updated_at": {"date": "2023-04-17 12:14:21.000000", "timezone": "Asia/Riyadh"}})
}

fn product_data() -> Value {
    json!({"id": 9834759404u64, "sku": "CW-100", "name": "Coffee", "type": "product",
           "price": {"amount": 100, "currency": "SAR"}, "sale_price": {"amount": "90.5", "currency": "SAR"},
           "cost_price": {"amount": 0, "currency": "SAR"}, "quantity": 97, "unlimited_quantity": false,
           "status": "sale", "updated_at": "2023-04-17 12:14:21",
           "skus": [{"id": 3498732894u64, "sku": "CW-100-L", "price": {"amount": 120, "currency": "SAR"},
                     "stock_quantity": "12"}],
           "categories": [{"id": 1790435930, "name": "Drinks"}]})
}

fn shipment_data() -> Value {
    json!({"id": 1385922424, "order_id": "629263027", "shipping_number": "SALLA000121",
           "tracking_number": 55512, "tracking_link": "https://track.example.test/1",
           "courier_name": "Aramex", "status": "creating", "label": {"format": "pdf", "url": "https://x.test/l.pdf"}})
}

fn invoice_data() -> Value {
    json!({"id": 7812, "invoice_number": 10022, "order_id": "629263027",
           "total": {"amount": 1150, "currency": "SAR"},
           "items": [{"sku": "CW-100", "quantity": 2, "price": {"amount": "500.00", "currency": "SAR"}}]})
}

fn authorize_data() -> Value {
    json!({"access_token": "tok-access", "refresh_token": "tok-refresh", "expires": 1634819484,
           "scope": "settings.read offline_access", "token_type": "bearer"})
}

fn app_data() -> Value {
    json!({"id": 6789012345u64, "app_name": "Odoo", "store_type": "live",
           "installation_date": "2022-12-31 12:31:25", "refunded": false,
           "settings": {"odoo_url": "https://erp.example.test", "nested": {"a": [1, 2, {"b": null}]}}})
}

/// `(event, data)` for every payload family, plus one the connector does not model.
fn templates() -> Vec<(&'static str, Value)> {
    vec![
        ("order.created", order_data()),
        (
            "order.status.updated",
            json!({"id": 3187825903901094400u64, "status": "تم التنفيذ", "note": "", "customized": null,
                   "order": order_data()}),
        ),
        (
            "order.shipment.created",
            json!({"id": 629263027, "reference_id": "73017485", "shipping_number": 7731}),
        ),
        ("product.created", product_data()),
        ("customer.created", customer_data()),
        ("shipment.creating", shipment_data()),
        ("invoice.created", invoice_data()),
        ("app.store.authorize", authorize_data()),
        ("app.installed", app_data()),
        ("brand.created", json!({"id": 1, "name": "Acme"})),
    ]
}

fn envelope(event: &str, data: Value) -> Value {
    json!({"event": event, "merchant": 1305146709, "created_at": "Sun Jun 26 2022 12:21:48 GMT+0300", "data": data})
}

/// Every JSON pointer of `v` (containers included), the root excluded.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(child, p, out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(child, p, out);
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile values, as raw JSON text (so they can be what `serde_json::Value` cannot hold: 1e400,
// integers past 2^64, lone surrogates, duplicate keys).

fn nested(depth: usize, open: &str, close: &str, inner: &str) -> String {
    let mut s = String::with_capacity(depth * (open.len() + close.len()) + inner.len());
    for _ in 0..depth {
        s.push_str(open);
    }
    s.push_str(inner);
    for _ in 0..depth {
        s.push_str(close);
    }
    s
}

fn hostile_scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("1e400".to_owned()),
        Just("-1e400".to_owned()),
        Just("1e-400".to_owned()),
        Just("18446744073709551615".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("18446744073709551617".to_owned()),
        Just("-9223372036854775808".to_owned()),
        Just("-9223372036854775809".to_owned()),
        Just("123456789012345678901234567890123456789012345678901234567890".to_owned()),
        Just("9007199254740993".to_owned()),
        Just("9007199254740993.0".to_owned()),
        Just("-0".to_owned()),
        Just("-0.0".to_owned()),
        Just("0.1".to_owned()),
        Just("1.5".to_owned()),
        Just("1E2".to_owned()),
        Just("-1".to_owned()),
        Just("true".to_owned()),
        Just("false".to_owned()),
        Just("null".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        Just(r#""""#.to_owned()),
        Just(r#""   ""#.to_owned()),
        Just(r#"" 42 ""#.to_owned()),
        Just(r#""-1""#.to_owned()),
        Just(r#""+1""#.to_owned()),
        Just(r#""1e400""#.to_owned()),
        Just(r#""1e4294967296""#.to_owned()),
        Just(r#""1e-4294967295""#.to_owned()),
        Just(r#""9e28""#.to_owned()),
        Just(r#""79228162514264337593543950336""#.to_owned()),
        Just(r#""0.0000000000000000000000000000000000000001""#.to_owned()),
        Just(r#""NaN""#.to_owned()),
        Just(r#""Infinity""#.to_owned()),
        Just(r#""0x10""#.to_owned()),
        Just(r#""١٢٣""#.to_owned()),
        Just(r#""\ud800""#.to_owned()),
        Just(r#""\udc00\ud800""#.to_owned()),
        Just(r#""\u0000""#.to_owned()),
        Just(r#"{"date": 5}"#.to_owned()),
        Just(r#"{"amount": "1e400"}"#.to_owned()),
        Just(r#"{"amount": 1, "amount": 2}"#.to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| format!("\"{n}\"")),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| f.to_string()),
        "-?[0-9]{1,45}(\\.[0-9]{1,45})?([eE][-+]?[0-9]{1,12})?",
        "\"[-+ ]?[0-9]{0,45}(\\.[0-9]{0,45})?([eE][-+]?[0-9]{0,12})? ?\"",
        any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap()),
        (0usize..200_000).prop_map(|n| serde_json::to_string(&"ب".repeat(n)).unwrap()),
    ]
}

/// A hostile value: a scalar, a deep (but parseable or not) nesting, or arbitrary JSON.
fn hostile_value() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => hostile_scalar(),
        1 => (1usize..140).prop_map(|d| nested(d, "[", "]", "1")),
        1 => (1usize..140).prop_map(|d| nested(d, "{\"a\":", "}", "null")),
        1 => (1000usize..20_000).prop_map(|d| nested(d, "[", "]", "")),
        2 => arbitrary_json(),
    ]
}

/// Arbitrary (valid) JSON text of modest size and depth.
fn arbitrary_json() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,20}".prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    "id|amount|date|items|order|status|slug|sku|quantity|merchant|data|event|label"
                        .prop_map(String::from),
                    ".{0,8}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .prop_map(|v| v.to_string())
}

/// One change to a Salla-shaped body.
#[derive(Debug, Clone)]
enum Mutation {
    /// Replace the value at the `n`-th pointer with raw JSON text.
    Replace(usize, String),
    /// Remove the value at the `n`-th pointer (a key from its object, an element from its array).
    Remove(usize),
    /// Add a key with a raw value to the object at (or holding) the `n`-th pointer.
    Insert(usize, String, String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        5 => (any::<usize>(), hostile_value()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        1 => any::<usize>().prop_map(Mutation::Remove),
        1 => (any::<usize>(), "[a-z_]{1,12}", hostile_value())
            .prop_map(|(i, k, v)| Mutation::Insert(i, k, v)),
    ]
}

/// Apply `mutations` to the envelope of template `t`, returning the body bytes.
fn mutated_body(t: usize, mutations: &[Mutation]) -> Vec<u8> {
    let all = templates();
    let (event, data) = &all[t % all.len()];
    let mut body = envelope(event, data.clone());
    let mut holes: Vec<(String, String)> = Vec::new();
    for (n, m) in mutations.iter().enumerate() {
        let mut ptrs = Vec::new();
        pointers(&body, String::new(), &mut ptrs);
        if ptrs.is_empty() {
            break;
        }
        let hole = format!("@@hole{n}@@");
        match m {
            Mutation::Replace(i, raw) => {
                let p = &ptrs[i % ptrs.len()];
                if let Some(slot) = body.pointer_mut(p) {
                    *slot = Value::String(hole.clone());
                    holes.push((hole, raw.clone()));
                }
            }
            Mutation::Remove(i) => {
                let p = ptrs[i % ptrs.len()].clone();
                let (parent, last) = p.rsplit_once('/').unwrap();
                match body.pointer_mut(parent) {
                    Some(Value::Object(map)) => {
                        map.remove(&last.replace("~1", "/").replace("~0", "~"));
                    }
                    Some(Value::Array(items)) => {
                        if let Ok(idx) = last.parse::<usize>()
                            && idx < items.len()
                        {
                            items.remove(idx);
                        }
                    }
                    _ => {}
                }
            }
            Mutation::Insert(i, key, raw) => {
                let p = &ptrs[i % ptrs.len()];
                let target = match body.pointer(p) {
                    Some(Value::Object(_)) => p.clone(),
                    _ => p.rsplit_once('/').unwrap().0.to_owned(),
                };
                if let Some(Value::Object(map)) = body.pointer_mut(&target) {
                    map.insert(key.clone(), Value::String(hole.clone()));
                    holes.push((hole, raw.clone()));
                }
            }
        }
    }
    let mut text = body.to_string();
    for (hole, raw) in holes {
        text = text.replace(&format!("\"{hole}\""), &raw);
    }
    text.into_bytes()
}

// ---------------------------------------------------------------------------------------------
// The checks every parse result must pass.

/// Parse `body` as a webhook and check that the outcome is a value or a classified error, and
/// that ingest's reading of it (`RawEnvelope`) agrees.
fn check_body(body: &[u8]) {
    let parsed = Envelope::from_slice(body);
    check_raw_agrees(body, &parsed);
    match parsed {
        Ok(env) => {
            assert!(!env.event.trim().is_empty());
            assert!(env.data.is_object());
            let _ = env.created_at_instant();
            check_payload(&env);
        }
        Err(e) => check_parse_error(&e),
    }
}

/// `RawEnvelope` accepts exactly what `Envelope` accepts, refuses the rest with the same error,
/// and reads the same fields, `data` and ids (at the pointers ingest reads them from).
fn check_raw_agrees(body: &[u8], parsed: &Result<Envelope, ParseError>) {
    match (RawEnvelope::from_slice(body), parsed) {
        (Ok(raw), Ok(env)) => {
            assert_eq!(raw.event, env.event);
            assert_eq!(raw.merchant, env.merchant);
            assert_eq!(raw.created_at, env.created_at);
            let data: Value = serde_json::from_str(raw.data.get()).expect("data is JSON");
            assert_eq!(data, env.data);
            for pointer in [
                "/id",
                "/order/id",
                "/order_id",
                "/customer/id",
                "/nothing/id",
            ] {
                assert_eq!(
                    raw.data_at(pointer).as_ref(),
                    env.data.pointer(pointer),
                    "{pointer}"
                );
            }
        }
        (Err(raw), Err(env)) => {
            assert_eq!(raw.as_str(), env.as_str());
            assert_eq!(raw.to_string(), env.to_string());
        }
        (raw, env) => panic!(
            "RawEnvelope: {:?}, Envelope: {:?}",
            raw.map(|r| r.event),
            env.as_ref().map(|e| &e.event)
        ),
    }
}

fn check_parse_error(e: &ParseError) {
    assert!(matches!(
        e.as_str(),
        "malformed_json" | "invalid_envelope" | "invalid_payload"
    ));
    assert!(!e.to_string().is_empty());
}

fn check_payload(env: &Envelope) {
    match env.payload() {
        Ok(payload) => {
            let shown = format!("{payload:?}");
            if let Payload::StoreAuthorize(auth) = &payload {
                // Tokens never reach Debug output, whatever they are.
                if env.data["access_token"] == "tok-access" {
                    assert!(!shown.contains("tok-access"), "{shown}");
                }
                let _ = auth.expires;
            }
        }
        Err(e) => {
            assert_eq!(e.as_str(), "invalid_payload", "{e}");
            match &e {
                ParseError::InvalidPayload { event, message } => {
                    assert_eq!(event, &env.event);
                    assert!(!message.is_empty());
                }
                other => panic!("payload() returned {other:?}"),
            }
        }
    }
}

/// Every model straight from bytes, as a worker might read `data`.
fn check_models(data: &[u8]) {
    fn one<T: for<'de> Deserialize<'de> + std::fmt::Debug>(data: &[u8]) {
        if let Ok(v) = serde_json::from_slice::<T>(data) {
            let _ = format!("{v:?}");
        }
    }
    one::<Order>(data);
    one::<OrderStatusUpdate>(data);
    one::<OrderShipmentRef>(data);
    one::<Customer>(data);
    one::<Product>(data);
    one::<Shipment>(data);
    one::<Invoice>(data);
    one::<StoreAuthorize>(data);
    one::<AppEvent>(data);
    one::<lenient::Money>(data);
    one::<lenient::SallaDate>(data);
}

// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(512))]

    /// Any bytes at all: never a panic, always a classified answer.
    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..4096)) {
        check_body(&body);
        check_models(&body);
    }

    /// Bytes made of JSON's own tokens, which reach deeper into the parser than random bytes.
    #[test]
    fn json_token_soup_never_panics(
        tokens in prop::collection::vec(
            prop_oneof![
                Just("{"), Just("}"), Just("["), Just("]"), Just(":"), Just(","), Just("\""),
                Just("\"event\""), Just("\"merchant\""), Just("\"created_at\""), Just("\"data\""),
                Just("\"id\""), Just("\"order\""), Just("\"items\""), Just("\"amount\""),
                Just("\"order.created\""), Just("\"order.status.updated\""), Just("\"app.store.authorize\""),
                Just("1"), Just("-"), Just("."), Just("e"), Just("1e400"), Just("null"), Just("true"),
                Just("\\u"), Just("\\ud800"), Just(" "), Just("\u{0}"), Just("\u{ff}"),
            ],
            0..200,
        )
    ) {
        let body = tokens.concat();
        check_body(body.as_bytes());
        check_models(body.as_bytes());
    }

    /// Salla-shaped bodies with hostile values, removed keys and extra keys anywhere, envelope
    /// included: a value or a classified error.
    #[test]
    fn mutated_salla_bodies_never_panic(
        template in any::<usize>(),
        mutations in prop::collection::vec(mutation(), 1..5),
    ) {
        let body = mutated_body(template, &mutations);
        check_body(&body);
        // The same `data` read straight into every model.
        if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(&body)
            && let Some(data) = map.get("data")
        {
            check_models(data.to_string().as_bytes());
        }
    }

    /// Byte-level damage to a valid body (flips, insertions, deletions): never a panic.
    #[test]
    fn damaged_bytes_never_panic(
        template in any::<usize>(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..8),
    ) {
        let mut body = mutated_body(template, &[]);
        for (at, byte, op) in edits {
            let i = at % (body.len() + 1);
            match op {
                0 if i < body.len() => body[i] = byte,
                1 => body.insert(i, byte),
                _ if i < body.len() => { body.remove(i); }
                _ => {}
            }
        }
        check_body(&body);
    }

    /// Only a JSON object is an envelope: the same four fields as an array (which serde's derive
    /// would read positionally), a scalar or `null` are refused.
    #[test]
    fn only_an_object_is_an_envelope(
        template in any::<usize>(),
        scalar in arbitrary_json(),
        ws in "[ \t\r\n]{0,3}",
    ) {
        let body: Value = serde_json::from_slice(&mutated_body(template, &[])).unwrap();
        let fields = ["event", "merchant", "created_at", "data"].map(|k| body[k].clone());
        let as_array = format!("{ws}{}", Value::from(fields.to_vec()));
        prop_assert!(
            matches!(Envelope::from_slice(as_array.as_bytes()), Err(ParseError::InvalidEnvelope(_))),
            "{as_array}"
        );
        if !scalar.starts_with('{') {
            let other = format!("{ws}{scalar}");
            prop_assert!(
                matches!(Envelope::from_slice(other.as_bytes()), Err(ParseError::InvalidEnvelope(_))),
                "{other}"
            );
        }
    }

    /// Every strict prefix of a valid body (a delivery cut short) is malformed JSON, never a
    /// partial envelope.
    #[test]
    fn truncated_bodies_are_malformed_json(template in any::<usize>(), cut in any::<prop::sample::Index>()) {
        let body = mutated_body(template, &[]);
        let prefix = &body[..cut.index(body.len())];
        match Envelope::from_slice(prefix) {
            Err(ParseError::MalformedJson(_)) => {}
            other => panic!("prefix of {} bytes: {other:?}", prefix.len()),
        }
    }

    /// Ids read the same from a number and from a string (padded or not), up to u64::MAX.
    #[test]
    fn ids_decode_from_numbers_and_strings_alike(n in any::<u64>(), pad in " {0,3}") {
        prop_assert_eq!(lenient::id(&json!(n)).unwrap(), n);
        prop_assert_eq!(lenient::id(&json!(format!("{pad}{n}{pad}"))).unwrap(), n);
        prop_assert_eq!(lenient::id(&serde_json::from_str::<Value>(&n.to_string()).unwrap()).unwrap(), n);
    }

    /// Negative, fractional and out-of-range ids are errors, never a wrapped or truncated id.
    #[test]
    fn bad_ids_are_errors(n in i64::MIN..0, k in 0u64..1_000_000, big in 0u64..1000) {
        prop_assert!(lenient::id(&json!(n)).is_err());
        prop_assert!(lenient::id(&json!(n.to_string())).is_err());
        let half = format!("{k}.5");
        let fractional: Value = serde_json::from_str(&half).unwrap();
        prop_assert!(lenient::id(&fractional).is_err());
        prop_assert!(lenient::id(&json!(half)).is_err());
        // Past u64::MAX: as text an error, as a number a float past 2^53, also an error.
        let past = format!("1844674407370955{}", 1616 + big);
        prop_assert!(lenient::id(&json!(past)).is_err());
        prop_assert!(lenient::id(&serde_json::from_str::<Value>(&past).unwrap()).is_err());
    }

    /// Amounts read back exactly: as decimal text always, as JSON numbers up to 15 significant
    /// digits (all a float holds), so `834.76` never becomes `834.7600000000001`.
    #[test]
    fn amounts_decode_exactly(
        text_mantissa in any::<i64>(),
        text_scale in 0u32..=18,
        number_mantissa in -999_999_999_999_999i64..=999_999_999_999_999,
        number_scale in 0u32..=6,
    ) {
        let d = Decimal::new(text_mantissa, text_scale);
        let m: lenient::Money =
            serde_json::from_value(json!({"amount": d.to_string(), "currency": "SAR"})).unwrap();
        prop_assert_eq!(m.amount, d);
        let d = Decimal::new(number_mantissa, number_scale);
        let m: lenient::Money = serde_json::from_str(&format!(r#"{{"amount": {d}}}"#)).unwrap();
        prop_assert_eq!(m.amount, d.normalize());
    }
}

// ---------------------------------------------------------------------------------------------
// Deep nesting: every parser entry point fails fast on 100,000 levels instead of overflowing the
// stack, and accepts the depths Salla could plausibly send.

const DEEP: usize = 100_000;

/// Run `f` on a thread with a small stack (a debug build's frames are large): a recursive parser
/// without a depth limit would overflow it at a few thousand levels.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .expect("no panic or overflow")
}

fn assert_fast(started: Instant) {
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

fn deep_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let in_data = |inner: String| {
        format!(
            r#"{{"event":"order.created","merchant":1,"created_at":"2022-12-31 12:31:25","data":{{"id":1,"x":{inner}}}}}"#
        )
        .into_bytes()
    };
    vec![
        ("open brackets", "[".repeat(DEEP).into_bytes()),
        ("balanced brackets", nested(DEEP, "[", "]", "").into_bytes()),
        ("open objects", "{\"a\":".repeat(DEEP).into_bytes()),
        (
            "balanced objects",
            nested(DEEP, "{\"a\":", "}", "1").into_bytes(),
        ),
        ("inside data", in_data(nested(DEEP, "[", "]", ""))),
        ("inside data, unclosed", in_data("[".repeat(DEEP))),
    ]
}

#[test]
fn deep_nesting_fails_fast_in_the_envelope_parser() {
    on_small_stack(|| {
        for (name, body) in deep_bodies() {
            let started = Instant::now();
            // `data` hits serde_json's recursion limit; elsewhere (an unknown key, a body that is
            // not an object) the nesting is skipped without recursing, and the body is refused
            // for what it is.
            let parsed = Envelope::from_slice(&body);
            check_raw_agrees(&body, &parsed);
            match (name, parsed) {
                ("inside data" | "inside data, unclosed", Err(ParseError::MalformedJson(e))) => {
                    assert!(e.to_string().contains("recursion limit"), "{name}: {e}");
                }
                (_, Err(ParseError::MalformedJson(_) | ParseError::InvalidEnvelope(_))) => {}
                (_, other) => panic!("{name}: {other:?}"),
            }
            assert_fast(started);
        }
    });
}

#[test]
fn deep_nesting_fails_fast_in_every_payload_model() {
    on_small_stack(|| {
        for (name, body) in deep_bodies() {
            let started = Instant::now();
            let data = match name {
                // The models read `data` itself: give them the nesting where a field is.
                "inside data" | "inside data, unclosed" => {
                    let at = body.windows(5).position(|w| w == b"\"data").unwrap() + 7;
                    body[at..body.len() - 1].to_vec()
                }
                _ => body,
            };
            // Each model either refuses the nesting (recursion limit) or skips it without
            // recursing (an unknown field is skipped iteratively): no overflow either way.
            let _ = serde_json::from_slice::<Order>(&data);
            let _ = serde_json::from_slice::<OrderStatusUpdate>(&data);
            let _ = serde_json::from_slice::<OrderShipmentRef>(&data);
            let _ = serde_json::from_slice::<Customer>(&data);
            let _ = serde_json::from_slice::<Product>(&data);
            let _ = serde_json::from_slice::<Shipment>(&data);
            let _ = serde_json::from_slice::<Invoice>(&data);
            let _ = serde_json::from_slice::<StoreAuthorize>(&data);
            let _ = serde_json::from_slice::<AppEvent>(&data);
            let _ = serde_json::from_slice::<Value>(&data).expect_err(name);
            assert_fast(started);
        }
    });
}

/// The deepest body the envelope parser accepts still goes through `payload()` (which clones and
/// walks `data`) on a small stack, for the models that keep free-form JSON.
#[test]
fn the_deepest_accepted_body_is_handled_by_payload() {
    on_small_stack(|| {
        let cases = [
            ("app.settings.updated", "settings"),
            ("shipment.created", "label"),
            ("brand.created", "anything"),
        ];
        for (event, field) in cases {
            let mut deepest = None;
            for depth in (1..200).rev() {
                let body = format!(
                    r#"{{"event":"{event}","merchant":1,"created_at":"x","data":{{"id":5,"{field}":{}}}}}"#,
                    nested(depth, "[", "]", "")
                );
                let parsed = Envelope::from_slice(body.as_bytes());
                check_raw_agrees(body.as_bytes(), &parsed);
                if let Ok(env) = parsed {
                    deepest = Some(depth);
                    env.payload().expect("a deep free-form field is fine");
                    break;
                }
            }
            // serde_json's limit is 127 levels in all; the envelope and `data` take two.
            assert_eq!(deepest, Some(125), "{event}");
        }
    });
}

/// The templates themselves parse into their models: the generators start from valid bodies.
#[test]
fn templates_are_valid() {
    for (i, (event, _)) in templates().iter().enumerate() {
        let body = mutated_body(i, &[]);
        let env = Envelope::from_slice(&body).unwrap();
        let payload = env.payload().unwrap_or_else(|e| panic!("{event}: {e}"));
        if *event != "brand.created" {
            assert!(!matches!(payload, Payload::Other(_)), "{event}");
        }
    }
}

/// What ingest's reading must refuse although it does not build `data`: text the parsed tree
/// cannot hold. And ids found as the tree finds them: escaped names, the last of a repeated member.
#[test]
fn the_raw_envelope_refuses_what_the_tree_refuses_and_finds_ids_alike() {
    let body = |data: &str| {
        format!(r#"{{"event":"order.created","merchant":"7","created_at":"x","data":{data}}}"#)
    };
    for data in [
        r#"{"id":1,"note":"\ud800"}"#,
        r#"{"id":1,"total":1e400}"#,
        r#"{"id":1,"items":[1,2,]}"#,
        r#"[{"id":1}]"#,
        r#""{\"id\":1}""#,
    ] {
        let text = body(data);
        let parsed = Envelope::from_slice(text.as_bytes());
        assert!(parsed.is_err(), "{data}");
        assert!(RawEnvelope::from_slice(text.as_bytes()).is_err(), "{data}");
        check_raw_agrees(text.as_bytes(), &parsed);
    }
    let text = body(r#"{"\u0069d":"12","order":{"id":1,"id":2},"order_id":null}"#);
    let raw = RawEnvelope::from_slice(text.as_bytes()).unwrap();
    assert_eq!(raw.merchant, 7);
    assert_eq!(raw.data_at("/id"), Some(json!("12")));
    assert_eq!(raw.data_at("/order/id"), Some(json!(2)));
    assert_eq!(raw.data_at("/order_id"), Some(Value::Null));
    assert_eq!(raw.data_at("/order/id/x"), None);
    check_raw_agrees(text.as_bytes(), &Envelope::from_slice(text.as_bytes()));
}
