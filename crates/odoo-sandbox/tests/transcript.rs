//! Replays every request of the recorded Odoo 18 transcript against the sandbox (18
//! personality) and compares each answer: same keys recursively, same value types, and for
//! errors the same `data.name` and `data.message`.

mod common;

use std::path::Path;

use odoo_sandbox::{Options, UserSpec, Version};
use serde_json::Value;

const TRANSCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/reference/odoo18-jsonrpc-transcript.md"
);

/// The secret each redacted `<API_KEY>` stood for, from the transcript's own explanation.
fn secret(label: &str) -> &'static str {
    match label {
        l if l.starts_with('A') || l.starts_with('B') => "admin-password",
        l if l.starts_with('C') || l.starts_with('D') => "connector-key",
        "E2" => "connector-password",
        "E4" => "admin-key",
        "E8" => "admin-password",
        _ => "connector-key",
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn shape_diff(expected: &Value, actual: &Value, path: &str, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            let ek: Vec<&String> = e.keys().collect();
            let ak: Vec<&String> = a.keys().collect();
            let mut es = ek.clone();
            let mut as_ = ak.clone();
            es.sort();
            as_.sort();
            if es != as_ {
                out.push(format!("{path}: keys {ek:?} != {ak:?}"));
                return;
            }
            for (k, v) in e {
                shape_diff(v, &a[k], &format!("{path}.{k}"), out);
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                out.push(format!("{path}: {} items != {}", e.len(), a.len()));
                return;
            }
            for (i, (x, y)) in e.iter().zip(a).enumerate() {
                shape_diff(x, y, &format!("{path}[{i}]"), out);
            }
        }
        (e, a) if kind(e) != kind(a) => out.push(format!("{path}: {e} != {a}")),
        _ => {}
    }
}

fn value_diff(expected: &Value, actual: &Value, path: &str, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, v) in e {
                if matches!(k.as_str(), "debug" | "date_done" | "invoice_date") {
                    continue;
                }
                if let Some(av) = a.get(k) {
                    value_diff(v, av, &format!("{path}.{k}"), out);
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            for (i, (x, y)) in e.iter().zip(a).enumerate() {
                value_diff(x, y, &format!("{path}[{i}]"), out);
            }
        }
        (e, a) if e != a => out.push(format!("{path}: {e} != {a}")),
        _ => {}
    }
}

#[tokio::test]
async fn transcript_replay() {
    let Ok(text) = std::fs::read_to_string(TRANSCRIPT) else {
        println!(
            "skipping: ../shared not present (CI always has it) [{}]",
            Path::new(TRANSCRIPT).display()
        );
        return;
    };
    let cases = common::transcript_cases(&text);
    assert!(cases.len() >= 90, "only {} cases parsed", cases.len());
    let sandbox = odoo_sandbox::spawn(Options {
        version: Version::V18,
        password: "admin-password".into(),
        api_key: "admin-key".into(),
        extra_users: vec![UserSpec {
            login: "connector".into(),
            name: "Connector API".into(),
            password: "connector-password".into(),
            api_key: "connector-key".into(),
            admin: false,
        }],
        ..Options::default()
    })
    .await
    .expect("spawn");
    let mut matched = 0;
    let mut exact = 0;
    let mut failures = Vec::new();
    let (mut bytes_same, mut bytes_total) = (0, 0);
    for case in &cases {
        let body = case.request.replace("<API_KEY>", secret(&case.label));
        let resp = common::request(
            sandbox.addr(),
            "POST",
            "/jsonrpc",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", case.label));
        assert_eq!(resp.status, 200, "{}: HTTP status", case.label);
        let actual = resp.json();
        // Parts A-D hold the server's raw bytes; timestamps and tracebacks cannot be equal.
        if !case.label.starts_with('E')
            && case.response.get("error").is_none()
            && !case.raw_response.contains("date_done")
            && !case.raw_response.contains("invoice_date")
        {
            bytes_total += 1;
            if resp.body == case.raw_response.as_bytes() {
                bytes_same += 1;
            } else {
                println!(
                    "{}: bytes differ:\n  want {}\n  got  {}",
                    case.label,
                    case.raw_response,
                    String::from_utf8_lossy(&resp.body)
                );
            }
        }
        let mut diffs = Vec::new();
        shape_diff(&case.response, &actual, "", &mut diffs);
        if let Some(e) = case.response.get("error") {
            for key in ["name", "message"] {
                if e["data"][key] != actual["error"]["data"][key] {
                    diffs.push(format!(
                        "data.{key}: {} != {}",
                        e["data"][key], actual["error"]["data"][key]
                    ));
                }
            }
            if e["code"] != actual["error"]["code"] || e["message"] != actual["error"]["message"] {
                diffs.push("error.code/message differ".into());
            }
        }
        if diffs.is_empty() {
            matched += 1;
            let mut vd = Vec::new();
            value_diff(&case.response, &actual, "", &mut vd);
            if vd.is_empty() {
                exact += 1;
            } else {
                println!(
                    "{}: same shape, values differ: {}",
                    case.label,
                    vd.join("; ")
                );
            }
        } else {
            failures.push(format!(
                "{}: {}\n    got {}",
                case.label,
                diffs.join("; "),
                actual
            ));
        }
    }
    for f in &failures {
        println!("MISMATCH {f}");
    }
    println!("transcript replay: {matched}/{} cases matched", cases.len());
    println!(
        "transcript replay: {exact}/{} cases identical in every value (ignoring debug tracebacks and timestamps)",
        cases.len()
    );
    println!(
        "transcript replay: {bytes_same}/{bytes_total} successful answers of parts A-D byte-identical"
    );
    sandbox.shutdown().await;
    assert_eq!(
        matched,
        cases.len(),
        "transcript cases not matched:\n{}",
        failures.join("\n")
    );
}
