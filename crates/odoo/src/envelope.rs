//! Wire envelopes: the JSON-RPC request and reply of `POST /jsonrpc` (docs/odoo-api.md §3) and the JSON-2
//! error body (§4.2). Pure functions over bytes, so every recorded answer can be checked without a server.

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Fault};

/// The `error` member of a JSON-RPC reply.
#[derive(Debug, Deserialize)]
struct RpcError {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    data: Option<ErrorData>,
}

/// `error.data` of JSON-RPC and the whole error body of JSON-2: `{name, message, arguments, context, debug}`.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorData {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// A JSON-RPC reply. `result` is absent when the method returned `None` (observed on 18.0).
#[derive(Debug, Deserialize)]
struct RpcReply {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    result: Option<Value>,
    #[serde(default)]
    error: Option<RpcError>,
}

/// Parses a JSON-RPC reply body (HTTP 200). `expected_id` is checked when the reply carries an id.
///
/// - `result` present → that value;
/// - neither `result` nor `error` → `Value::Null` (a method that returned `None`);
/// - `error` → [`Error::Odoo`] with `data.name` and `data.message`.
///
/// A body that is not a JSON-RPC reply (for instance truncated) is [`Error::NoAnswer`]: the request was
/// delivered and its answer was lost.
pub(crate) fn parse_rpc_reply(
    body: &[u8],
    expected_id: u64,
    redact: &dyn Fn(&str) -> String,
) -> Result<Value, Error> {
    reject_html(body)?;
    let reply: RpcReply = serde_json::from_slice(body).map_err(|e| Error::NoAnswer {
        // serde's message can quote the server's text ("invalid type: string \"…\""): redacted
        // and cut short like every other text taken from an answer.
        detail: format!(
            "the reply is not a complete JSON-RPC envelope ({} bytes, {})",
            body.len(),
            quoted(&e.to_string(), redact)
        ),
        source: None,
    })?;
    if let Some(id) = &reply.id
        && !id.is_null()
        && id.as_u64() != Some(expected_id)
    {
        return Err(Error::protocol(format!(
            "reply id {} does not match request id {expected_id}",
            quoted(&id.to_string(), redact)
        )));
    }
    if let Some(err) = reply.error {
        let data = err.data.unwrap_or(ErrorData {
            name: None,
            message: None,
        });
        let message = data.message.or(err.message).unwrap_or_default();
        return Err(Error::Odoo(Fault {
            name: redact(&data.name.unwrap_or_default()),
            message: redact(&message),
            code: err.code,
            http_status: 200,
        }));
    }
    Ok(reply.result.unwrap_or(Value::Null))
}

/// A text from an answer, fit to keep in an error: redacted, and at most 200 characters.
fn quoted(text: &str, redact: &dyn Fn(&str) -> String) -> String {
    let text = redact(text);
    match text.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

/// A complete page that is not JSON at all (it starts with `<`, which no JSON value does) did not come
/// from Odoo's API: the URL points at something else (a website, a login portal). Permanent: retrying the
/// same URL gets the same page. A cut-off JSON body, by contrast, is an answer lost on the way.
fn reject_html(body: &[u8]) -> Result<(), Error> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<') {
        return Err(Error::config(
            "the server answered an HTML page instead of Odoo JSON: check the Odoo URL",
        ));
    }
    Ok(())
}

/// Parses a JSON-2 error body (`{name, message, arguments, context, debug}`) into a [`Fault`]; `None` when
/// the body is not such an object.
pub(crate) fn parse_json2_error(
    status: u16,
    body: &[u8],
    redact: &dyn Fn(&str) -> String,
) -> Option<Fault> {
    let data: ErrorData = serde_json::from_slice(body).ok()?;
    if data.name.is_none() && data.message.is_none() {
        return None;
    }
    Some(Fault {
        name: redact(&data.name.unwrap_or_default()),
        message: redact(&data.message.unwrap_or_default()),
        code: None,
        http_status: status,
    })
}

/// Parses a successful JSON-2 body: the bare JSON value; an empty body is `null`.
pub(crate) fn parse_json2_result(body: &[u8]) -> Result<Value, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    reject_html(body)?;
    serde_json::from_slice(body).map_err(|e| Error::NoAnswer {
        detail: format!(
            "the JSON-2 answer is not complete JSON ({} bytes, {e})",
            body.len()
        ),
        source: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorClass, FaultKind};

    fn same(s: &str) -> String {
        s.to_owned()
    }

    #[test]
    fn result_value_is_returned() {
        let v = parse_rpc_reply(br#"{"jsonrpc": "2.0", "id": 3, "result": 17}"#, 3, &same).unwrap();
        assert_eq!(v, Value::from(17));
        let v =
            parse_rpc_reply(br#"{"jsonrpc": "2.0", "id": 3, "result": false}"#, 3, &same).unwrap();
        assert_eq!(v, Value::Bool(false));
    }

    #[test]
    fn missing_result_is_null_not_an_error() {
        let v = parse_rpc_reply(br#"{"jsonrpc": "2.0", "id": 9}"#, 9, &same).unwrap();
        assert_eq!(v, Value::Null);
        let v =
            parse_rpc_reply(br#"{"jsonrpc": "2.0", "id": 9, "result": null}"#, 9, &same).unwrap();
        assert_eq!(v, Value::Null);
    }

    #[test]
    fn error_keeps_name_message_and_code() {
        let body = br#"{"jsonrpc": "2.0", "id": 4, "error": {"code": 0, "message": "Odoo Server Error", "data": {"name": "odoo.exceptions.MissingError", "debug": "Traceback...", "message": "Gone.\n(Record: x(5,), User: 2)", "arguments": ["Gone."], "context": {}}}}"#;
        let err = parse_rpc_reply(body, 4, &same).unwrap_err();
        let fault = err.fault().unwrap();
        assert_eq!(fault.name, "odoo.exceptions.MissingError");
        assert_eq!(fault.message, "Gone.\n(Record: x(5,), User: 2)");
        assert_eq!(fault.code, Some(0));
        assert_eq!(fault.kind(), FaultKind::Missing);
        assert_eq!(err.class(), ErrorClass::Permanent);
    }

    #[test]
    fn truncated_reply_is_outcome_unknown() {
        let err = parse_rpc_reply(br#"{"jsonrpc": "2.0", "id": 4, "resu"#, 4, &same).unwrap_err();
        assert_eq!(err.class(), ErrorClass::OutcomeUnknown);
        let err = parse_rpc_reply(b"", 4, &same).unwrap_err();
        assert_eq!(err.class(), ErrorClass::OutcomeUnknown);
    }

    #[test]
    fn html_page_is_a_permanent_configuration_error() {
        let err = parse_rpc_reply(b"\n<!DOCTYPE html><html>Welcome</html>", 1, &same).unwrap_err();
        assert!(matches!(err, Error::Config { .. }), "{err:?}");
        assert_eq!(err.class(), ErrorClass::Permanent);
        assert_eq!(
            parse_json2_result(b"<html></html>").unwrap_err().class(),
            ErrorClass::Permanent
        );
    }

    #[test]
    fn mismatched_id_is_rejected() {
        let err =
            parse_rpc_reply(br#"{"jsonrpc": "2.0", "id": 5, "result": 1}"#, 4, &same).unwrap_err();
        assert!(matches!(err, Error::Protocol { .. }));
    }

    #[test]
    fn messages_are_redacted() {
        let body = br#"{"jsonrpc": "2.0", "id": 1, "error": {"code": 200, "message": "Odoo Server Error", "data": {"name": "builtins.ValueError", "message": "bad key s3cr3t", "arguments": [], "context": {}, "debug": ""}}}"#;
        let redact = |s: &str| s.replace("s3cr3t", "<redacted>");
        let err = parse_rpc_reply(body, 1, &redact).unwrap_err();
        assert_eq!(err.fault().unwrap().message, "bad key <redacted>");
        assert!(!err.to_string().contains("s3cr3t"));
    }

    #[test]
    fn texts_quoted_from_a_broken_reply_are_redacted_and_short() {
        // Found by envelope/properties.rs: serde's message quoted the server's text verbatim.
        let redact = |s: &str| s.replace("s3cr3t", "<redacted>");
        let long = "s3cr3t".repeat(10_000);
        for body in [
            format!(r#"{{"jsonrpc": "2.0", "id": 1, "error": {{"code": "{long}"}}}}"#),
            format!(r#"{{"jsonrpc": "2.0", "id": "{long}", "result": 1}}"#),
        ] {
            let shown = parse_rpc_reply(body.as_bytes(), 1, &redact)
                .unwrap_err()
                .to_string();
            assert!(!shown.contains("s3cr3t") && shown.len() < 600, "{shown}");
        }
        let body = br#"{"jsonrpc": "2.0", "id": 1, "error": {"data": {"name": "s3cr3t"}}}"#;
        let err = parse_rpc_reply(body, 1, &redact).unwrap_err();
        assert_eq!(err.fault().unwrap().name, "<redacted>");
    }

    #[test]
    fn json2_error_body() {
        let body = br#"{"name": "werkzeug.exceptions.Unauthorized", "message": "Invalid apikey", "arguments": ["Invalid apikey", 401], "context": {}, "debug": ""}"#;
        let f = parse_json2_error(401, body, &same).unwrap();
        assert_eq!(f.kind(), FaultKind::AccessDenied);
        assert_eq!(f.class(), ErrorClass::Permanent);
        assert!(parse_json2_error(500, b"<html>", &same).is_none());
    }

    #[test]
    fn json2_result_body() {
        assert_eq!(
            parse_json2_result(b"[1, 2]").unwrap(),
            serde_json::json!([1, 2])
        );
        assert_eq!(parse_json2_result(b"").unwrap(), Value::Null);
        assert_eq!(parse_json2_result(b"null").unwrap(), Value::Null);
        assert!(
            parse_json2_result(b"[1, ")
                .unwrap_err()
                .is_outcome_unknown()
        );
    }
}

#[cfg(test)]
#[path = "../tests/support/transcript.rs"]
mod transcript;

/// Every recorded answer of the real Odoo 18 transcript, parsed and classified as docs/odoo-api.md §8 says.
/// The transcript is read from `../shared` at test time and never copied into the repository.
#[cfg(test)]
mod transcript_tests {
    use super::*;
    use crate::client::uid_from_authenticate;
    use crate::error::{ErrorClass, FaultKind};

    use super::transcript::{Case, load};

    /// The expected kind of every recorded error, by the table of docs/odoo-api.md §16.3 and §8.
    fn expected_kind(step: &str) -> Option<FaultKind> {
        let n: u32 = step[1..].parse().ok()?;
        Some(match (&step[..1], n) {
            ("B" | "D", 28) | ("E", 5) => FaultKind::AccessDenied,
            ("B" | "D", 29) | ("E", 6) => FaultKind::AccessError,
            ("B" | "D", 30..=32) | ("B" | "D", 38) => FaultKind::InvalidValue,
            ("B" | "D", 33) => FaultKind::UnknownModel,
            ("B" | "D", 34) => FaultKind::UnknownMethod,
            ("B" | "D", 36) => FaultKind::Missing,
            ("B" | "D", 37) => FaultKind::Validation,
            ("B" | "D", 39 | 40) => FaultKind::User,
            ("B" | "D", 41) => FaultKind::DatabaseMissing,
            ("B" | "D", 42) => FaultKind::UnknownService,
            _ => return None,
        })
    }

    #[test]
    fn every_recorded_answer_parses_and_every_error_is_classified() {
        let Some(cases) = load() else { return };
        assert!(cases.len() >= 90, "only {} cases found", cases.len());
        let same = |s: &str| s.to_owned();
        let (mut errors, mut results) = (0, 0);
        for case in &cases {
            let id = case.response["id"].as_u64().expect("id");
            assert_eq!(case.request["id"].as_u64(), Some(id), "{}", case.label);
            let parsed = parse_rpc_reply(case.raw_response.as_bytes(), id, &same);
            match case.response.get("error") {
                Some(err) => {
                    errors += 1;
                    let e = parsed.expect_err(&case.label);
                    let fault = e.fault().expect("an Odoo fault");
                    assert_eq!(
                        fault.name,
                        err["data"]["name"].as_str().unwrap(),
                        "{}",
                        case.label
                    );
                    assert_eq!(
                        fault.message,
                        err["data"]["message"].as_str().unwrap(),
                        "{}",
                        case.label
                    );
                    assert_eq!(fault.code, err["code"].as_i64());
                    let want = expected_kind(&case.label)
                        .unwrap_or_else(|| panic!("{}: unexpected error case", case.label));
                    assert_eq!(fault.kind(), want, "{}", case.label);
                    // Every recorded error is permanent: none of them is fixed by trying again.
                    assert_eq!(e.class(), ErrorClass::Permanent, "{}", case.label);
                    // What is kept for logs never holds the secret placeholder or the traceback.
                    let shown = e.to_string();
                    assert!(
                        !shown.contains("<API_KEY>") && !shown.contains("Traceback"),
                        "{}",
                        case.label
                    );
                }
                None => {
                    results += 1;
                    let v = parsed.unwrap_or_else(|e| panic!("{}: {e}", case.label));
                    let want = case.response.get("result").cloned().unwrap_or(Value::Null);
                    assert_eq!(v, want, "{}", case.label);
                }
            }
        }
        assert_eq!(errors, 30, "recorded error answers");
        assert!(results >= 60);
    }

    #[test]
    fn recorded_method_returning_none_is_null() {
        let Some(cases) = load() else { return };
        let same = |s: &str| s.to_owned();
        let none: Vec<&Case> = cases
            .iter()
            .filter(|c| c.response.get("result").is_none() && c.response.get("error").is_none())
            .collect();
        assert!(!none.is_empty());
        for c in none {
            let id = c.response["id"].as_u64().unwrap();
            assert_eq!(
                parse_rpc_reply(c.raw_response.as_bytes(), id, &same).unwrap(),
                Value::Null
            );
        }
    }

    #[test]
    fn recorded_authenticate_answers() {
        let Some(cases) = load() else { return };
        let same = |s: &str| s.to_owned();
        let mut refused = 0;
        for c in cases.iter().filter(|c| {
            c.request["params"]["method"] == "authenticate" && c.response.get("error").is_none()
        }) {
            let id = c.response["id"].as_u64().unwrap();
            let v = parse_rpc_reply(c.raw_response.as_bytes(), id, &same).unwrap();
            match uid_from_authenticate(&v, "someone", "odoo") {
                Ok(uid) => assert!(uid > 0),
                Err(e) => {
                    refused += 1;
                    assert!(
                        matches!(e, Error::AuthenticationFailed { .. }),
                        "{}",
                        c.label
                    );
                    assert_eq!(e.class(), ErrorClass::Permanent);
                }
            }
        }
        assert_eq!(refused, 2, "B27 and D27 answer false");
    }
}

#[cfg(test)]
mod properties;
