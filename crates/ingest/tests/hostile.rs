//! Hostile input against the real ingest server: one table of requests, each with the answer it
//! must get, and after each one nothing in the queue.
//!
//! Requests are written as raw bytes on a TCP socket, so they can be what no HTTP client library
//! would send (CR/LF inside a header, two `Content-Length`s, a body cut off in transit). Answers
//! come from two places: hyper refuses a request it cannot parse before any handler runs (a bare
//! status, no JSON body, marked `Http` below); everything else reaches the webhook handler, whose
//! answers are documented at the top of `crates/ingest/src/lib.rs`.
//!
//! Content type: Salla's deliveries are presumably `application/json` but the docs do not confirm
//! it (docs/salla-platform.md §4), and the signature already proves the bytes are Salla's, so the
//! `Content-Type` header is not looked at: the table shows JSON under other types and none at all
//! being read alike. A 415 would only make Salla retry a delivery three times and then drop it.
//!
//! Runs against the Redis at `TEST_REDIS_URL`/`REDIS_URL` (default 127.0.0.1:6379), in a key
//! namespace of its own that it deletes at the end.

use std::net::SocketAddr;
use std::time::Duration;

use salla_odoo_core::Settings;
use salla_odoo_queue::RedisQueue;
use salla_odoo_salla::verify::sign;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &str = "hostile-input-secret";
const LIMIT: usize = 1024 * 1024;

fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL")
        .or_else(|_| std::env::var("REDIS_URL"))
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// The ingest library served on 127.0.0.1:0 against the real Redis, in a namespace of its own.
struct Ingest {
    addr: SocketAddr,
    queue: RedisQueue,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    namespace: String,
}

impl Ingest {
    async fn start(test: &str, extra: &[(&str, &str)]) -> Self {
        let namespace = format!("test:{test}:{}", uuid::Uuid::new_v4().simple());
        let mut env: Vec<(String, String)> = vec![
            ("SALLA_ODOO__SALLA__WEBHOOK_SECRET".into(), SECRET.into()),
            ("SALLA_ODOO__QUEUE__NAMESPACE".into(), namespace.clone()),
            ("SALLA_ODOO__REDIS__URL".into(), redis_url()),
        ];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let settings = Settings::load(None, env).expect("test settings");
        assert_eq!(settings.ingest.body_limit_bytes, LIMIT);
        let state = salla_odoo_ingest::AppState::new(&settings).expect("ingest state");
        let queue = RedisQueue::from_settings(&settings).expect("queue");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            salla_odoo_ingest::serve(listener, state, Duration::from_secs(1), async {
                let _ = rx.await;
            })
            .await
            .expect("ingest serves");
        });
        Self {
            addr,
            queue,
            stop: Some(tx),
            namespace,
        }
    }

    /// Nothing waiting, scheduled or in flight, for any kind or store; else what there is.
    async fn queued(&self) -> Option<String> {
        let stats = self.queue.stats().await.expect("queue stats");
        let empty = (stats.queued, stats.scheduled, stats.in_flight) == (0, 0, 0)
            && stats.by_kind.is_empty()
            && stats.by_store.is_empty();
        (!empty).then(|| format!("{:?}", stats.by_kind))
    }

    async fn assert_nothing_queued(&self, case: &str) {
        if let Some(what) = self.queued().await {
            panic!("{case}: something was queued: {what}");
        }
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        drop_namespace(&self.namespace);
    }
}

/// Delete every key of a test namespace (best effort).
fn drop_namespace(namespace: &str) {
    {
        let Ok(client) = redis::Client::open(redis_url()) else {
            return;
        };
        let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_millis(500)) else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{namespace}:*"))
            .query(&mut conn)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: Result<(), _> = redis::cmd("DEL").arg(keys).query(&mut conn);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP/1.1.

/// What came back on the socket.
#[derive(Debug)]
enum Answer {
    /// A status line, and the body parsed as JSON (`Null` when it is not JSON).
    Status(u16, Value),
    /// The server closed the connection without a status line.
    Closed,
}

/// A request as bytes, and whether the client stops sending before the body is complete.
struct Request {
    bytes: Vec<u8>,
    /// Close the write side after sending (a delivery cut off in transit).
    half_close: bool,
}

/// Send one request on a fresh connection and read the answer until the server closes it.
async fn send(addr: SocketAddr, request: &Request) -> Answer {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The server may answer (and close) before reading everything: a write error is not the answer.
    let _ = stream.write_all(&request.bytes).await;
    if request.half_close {
        let _ = stream.shutdown().await;
    }
    let mut raw = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer within 20 s");
    parse_answer(&raw)
}

fn parse_answer(raw: &[u8]) -> Answer {
    let Some(head_end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Answer::Closed;
    };
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let chunked = lines.any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let mut body = raw[head_end + 4..].to_vec();
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap().trim(), 16)
                .unwrap_or(0);
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
            rest = &rest[eol + 2 + size + 2..];
        }
        body = out;
    }
    Answer::Status(status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// `POST /webhooks/salla` with these header lines (raw bytes, sent as given) and body.
fn post(headers: &[&[u8]], body: &[u8]) -> Request {
    let mut bytes =
        b"POST /webhooks/salla HTTP/1.1\r\nHost: ingest.test\r\nConnection: close\r\n".to_vec();
    for h in headers {
        bytes.extend_from_slice(h);
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(b"\r\n");
    bytes.extend_from_slice(body);
    Request {
        bytes,
        half_close: false,
    }
}

fn content_length(body: &[u8]) -> Vec<u8> {
    format!("Content-Length: {}", body.len()).into_bytes()
}

fn signature_of(body: &[u8]) -> Vec<u8> {
    format!("X-Salla-Signature: {}", sign(SECRET, body)).into_bytes()
}

/// Signed with the right signature, `Content-Type: application/json`, and `extra` header lines.
fn signed_with(body: &[u8], extra: &[&[u8]]) -> Request {
    let (sig, len) = (signature_of(body), content_length(body));
    let mut headers: Vec<&[u8]> = vec![b"Content-Type: application/json", &sig, &len];
    headers.extend_from_slice(extra);
    post(&headers, body)
}

fn signed(body: &[u8]) -> Request {
    signed_with(body, &[])
}

// ---------------------------------------------------------------------------------------------
// Bodies.

fn order_with_id(id: &str) -> Vec<u8> {
    format!(r#"{{"event":"order.created","merchant":4242,"created_at":"2026-01-01 10:00:00","data":{{"id":{id},"items":[]}}}}"#)
        .into_bytes()
}

fn with_merchant(merchant: &str) -> Vec<u8> {
    format!(r#"{{"event":"order.created","merchant":{merchant},"created_at":"2026-01-01 10:00:00","data":{{"id":5}}}}"#)
        .into_bytes()
}

fn with_event(event: &str) -> Vec<u8> {
    format!(r#"{{"event":{event},"merchant":4242,"created_at":"2026-01-01 10:00:00","data":{{"id":5}}}}"#)
        .into_bytes()
}

/// An event the sync does not use (`customer.login`): read, verified, parsed and answered
/// `ignored`, so a case that must be accepted still queues nothing.
fn login() -> Vec<u8> {
    br#"{"event":"customer.login","merchant":4242,"created_at":"2026-01-01 10:00:00","data":{"id":7}}"#
        .to_vec()
}

/// `login()` padded (inside `data`) to exactly `len` bytes.
fn login_of_len(len: usize) -> Vec<u8> {
    let head = br#"{"event":"customer.login","merchant":4242,"created_at":"2026-01-01 10:00:00","data":{"id":7,"pad":""#;
    let mut body = head.to_vec();
    body.resize(len - 3, b'a');
    body.extend_from_slice(b"\"}}");
    assert_eq!(body.len(), len);
    body
}

fn nested(depth: usize, open: &str, close: &str) -> String {
    format!("{}{}", open.repeat(depth), close.repeat(depth))
}

// ---------------------------------------------------------------------------------------------
// The table.

/// The answer a case must get.
#[derive(Debug, Clone, Copy)]
enum Want {
    /// The webhook handler's refusal: status and `error`.
    Refused(u16, &'static str),
    /// 200 `{"status":"ignored","reason":…}`: read and verified, nothing to queue.
    Ignored(&'static str),
    /// Refused by the HTTP parser (hyper) or the router before the handler: a status, no JSON.
    Http(u16),
}

struct Case {
    name: String,
    request: Request,
    want: Want,
}

fn case(name: impl Into<String>, request: Request, want: Want) -> Case {
    Case {
        name: name.into(),
        request,
        want,
    }
}

fn table() -> Vec<Case> {
    use Want::*;
    let full = order_with_id("5");
    let half = &full[..full.len() / 2];
    let sig = sign(SECRET, &full);
    let long_event = format!("order.created{}", "x".repeat(100_000));
    let mut cases = vec![
        // --- truncated bodies
        case("truncated body, signed as truncated", signed(half), Refused(400, "malformed_json")),
        case(
            "truncated body, signature of the full body",
            post(
                &[format!("X-Salla-Signature: {sig}").as_bytes(), &content_length(half)],
                half,
            ),
            Refused(401, "bad_signature"),
        ),
        case(
            "cut off in transit (Content-Length of the full body, half sent, then closed)",
            Request {
                half_close: true,
                ..post(
                    &[format!("X-Salla-Signature: {sig}").as_bytes(), &content_length(&full)],
                    half,
                )
            },
            Refused(400, "unreadable_body"),
        ),
        // --- huge and negative numbers
        case("merchant 1e400", signed(&with_merchant("1e400")), Refused(400, "malformed_json")),
        case(
            "merchant 2^64+1",
            signed(&with_merchant("18446744073709551617")),
            Refused(400, "invalid_envelope"),
        ),
        case(
            "merchant \"2^64+1\"",
            signed(&with_merchant("\"18446744073709551617\"")),
            Refused(400, "invalid_envelope"),
        ),
        case("merchant -1", signed(&with_merchant("-1")), Refused(400, "invalid_envelope")),
        case("merchant 1.5", signed(&with_merchant("1.5")), Refused(400, "invalid_envelope")),
        case("data.id 1e400", signed(&order_with_id("1e400")), Refused(400, "malformed_json")),
        case(
            "data.id 2^64+1",
            signed(&order_with_id("18446744073709551617")),
            Refused(400, "invalid_payload"),
        ),
        case("data.id -5", signed(&order_with_id("-5")), Refused(400, "invalid_payload")),
        case("data.id \"-5\"", signed(&order_with_id("\"-5\"")), Refused(400, "invalid_payload")),
        case("data.id 1.5", signed(&order_with_id("1.5")), Refused(400, "invalid_payload")),
        case("data.id \"abc\"", signed(&order_with_id("\"abc\"")), Refused(400, "invalid_payload")),
        case("data.id {}", signed(&order_with_id("{}")), Refused(400, "invalid_payload")),
        case(
            "data without an id",
            signed(br#"{"event":"order.created","merchant":4242,"created_at":"x","data":{"items":[]}}"#),
            Refused(400, "invalid_payload"),
        ),
        case(
            "order.status.updated with data.order.id -1 (no fallback to the history id)",
            signed(br#"{"event":"order.status.updated","merchant":4242,"created_at":"x","data":{"id":77,"order":{"id":-1}}}"#),
            Refused(400, "invalid_payload"),
        ),
        // --- deep nesting
        case(
            "100,000 [ (unclosed)",
            signed(&"[".repeat(100_000).into_bytes()),
            Refused(400, "malformed_json"),
        ),
        case(
            "100,000 [ balanced",
            signed(nested(100_000, "[", "]").as_bytes()),
            Refused(400, "invalid_envelope"),
        ),
        case(
            "100,000 levels inside data",
            signed(&order_with_id(&format!("1,\"x\":{}", nested(100_000, "[", "]")))),
            Refused(400, "malformed_json"),
        ),
        case(
            "100,000 {\"a\": levels inside data",
            signed(&order_with_id(&format!("1,\"x\":{}", nested(100_000, "{\"a\":", "}")))),
            Refused(400, "malformed_json"),
        ),
        case(
            "200 levels inside data (past serde_json's 127)",
            signed(&order_with_id(&format!("1,\"x\":{}", nested(200, "[", "]")))),
            Refused(400, "malformed_json"),
        ),
        case(
            "100,000 levels in an unknown top-level field (skipped without recursion)",
            signed(
                format!(
                    r#"{{"event":"customer.login","merchant":4242,"created_at":"x","data":{{}},"extra":{}}}"#,
                    nested(100_000, "[", "]")
                )
                .as_bytes(),
            ),
            Ignored("not_synced"),
        ),
        // --- invalid UTF-8 (signed)
        case(
            "invalid UTF-8 in a string",
            signed(b"{\"event\":\"order.created\",\"merchant\":4242,\"created_at\":\"\xff\xfe\",\"data\":{\"id\":5}}"),
            Refused(400, "malformed_json"),
        ),
        case(
            "overlong UTF-8 in the event",
            signed(b"{\"event\":\"order.\xc0\xaecreated\",\"merchant\":4242,\"created_at\":\"x\",\"data\":{\"id\":5}}"),
            Refused(400, "malformed_json"),
        ),
        case(
            "UTF-16 body",
            signed(&"{\"event\":\"x\"}".encode_utf16().flat_map(u16::to_le_bytes).collect::<Vec<u8>>()),
            Refused(400, "malformed_json"),
        ),
        case(
            "lone surrogate escape in a string",
            signed(br#"{"event":"customer.login","merchant":4242,"created_at":"\ud800","data":{}}"#),
            Refused(400, "malformed_json"),
        ),
        // --- content types (not looked at: see the module documentation)
        case(
            "application/json; charset=utf-8",
            post(
                &[b"Content-Type: application/json; charset=utf-8", &signature_of(&login()), &content_length(&login())],
                &login(),
            ),
            Ignored("not_synced"),
        ),
        case(
            "text/plain",
            post(&[b"Content-Type: text/plain", &signature_of(&login()), &content_length(&login())], &login()),
            Ignored("not_synced"),
        ),
        case(
            "application/x-www-form-urlencoded",
            post(
                &[b"Content-Type: application/x-www-form-urlencoded", &signature_of(&login()), &content_length(&login())],
                &login(),
            ),
            Ignored("not_synced"),
        ),
        case(
            "no Content-Type",
            post(&[&signature_of(&login()), &content_length(&login())], &login()),
            Ignored("not_synced"),
        ),
        case(
            "two Content-Types",
            signed_with(&login(), &[b"Content-Type: text/html"]),
            Ignored("not_synced"),
        ),
        // --- header injection and odd headers
        case(
            "CR inside the signature header",
            signed_with(&login(), &[b"X-Salla-Signature: ab\rX-Injected: 1"]),
            Http(400),
        ),
        case(
            "NUL inside the signature header",
            post(&[b"X-Salla-Signature: ab\0cd", &content_length(&login())], &login()),
            Http(400),
        ),
        case(
            "obs-fold continuation of the signature header",
            post(
                &[
                    format!("X-Salla-Signature: {}", &sign(SECRET, &login())[..32]).as_bytes(),
                    format!(" {}", &sign(SECRET, &login())[32..]).as_bytes(),
                    &content_length(&login()),
                ],
                &login(),
            ),
            Http(400),
        ),
        case(
            "bare LF ends the signature header early (the rest is another header)",
            post(
                &[
                    format!("X-Salla-Signature: {}\nX-Injected: 1", &sign(SECRET, &login())[..40]).as_bytes(),
                    &content_length(&login()),
                ],
                &login(),
            ),
            Refused(401, "malformed_signature"),
        ),
        case(
            "signature header twice: right, then wrong",
            signed_with(&login(), &[format!("X-Salla-Signature: {}", "0".repeat(64)).as_bytes()]),
            Refused(401, "duplicate_signature"),
        ),
        case(
            "signature header twice: wrong, then right",
            post(
                &[format!("X-Salla-Signature: {}", "0".repeat(64)).as_bytes(), &signature_of(&login()), &content_length(&login())],
                &login(),
            ),
            Refused(401, "duplicate_signature"),
        ),
        case(
            "signature header twice, both right",
            signed_with(&login(), &[&signature_of(&login())]),
            Refused(401, "duplicate_signature"),
        ),
        case(
            "signature header of 64 KiB",
            post(
                &[format!("X-Salla-Signature: {}", "a".repeat(64 * 1024)).as_bytes(), &content_length(&login())],
                &login(),
            ),
            Refused(401, "malformed_signature"),
        ),
        case(
            "a header of 1 MiB",
            signed_with(&login(), &[format!("X-Padding: {}", "a".repeat(1024 * 1024)).as_bytes()]),
            Http(431),
        ),
        case(
            "200 headers",
            signed_with(
                &login(),
                &(0..200).map(|i| format!("X-H{i}: {i}").into_bytes()).collect::<Vec<_>>().iter().map(Vec::as_slice).collect::<Vec<_>>(),
            ),
            Http(431),
        ),
        case(
            "non-ASCII (UTF-8) signature value",
            post(&["X-Salla-Signature: توقيع".as_bytes(), &content_length(&login())], &login()),
            Refused(401, "malformed_signature"),
        ),
        case(
            "non-ASCII strategy header next to a right signature",
            signed_with(&login(), &["X-Salla-Security-Strategy: توقيع".as_bytes()]),
            Ignored("not_synced"),
        ),
        case(
            "non-ASCII header name",
            signed_with(&login(), &["X-Sallä: 1".as_bytes()]),
            Http(400),
        ),
        case(
            "two different Content-Lengths",
            post(&[&signature_of(&login()), &content_length(&login()), b"Content-Length: 3"], &login()),
            Http(400),
        ),
        case(
            "Content-Length: -1",
            post(&[&signature_of(&login()), b"Content-Length: -1"], &login()),
            Http(400),
        ),
        case(
            "Content-Length and chunked together",
            post(
                &[&signature_of(&login()), &content_length(&login()), b"Transfer-Encoding: chunked"],
                &login(),
            ),
            // Transfer-Encoding wins (RFC 9112 §6.3); the body is not valid chunked encoding.
            Refused(400, "unreadable_body"),
        ),
        // --- empty bodies, other JSON values
        case("empty body, signed", signed(b""), Refused(400, "malformed_json")),
        case("empty body, unsigned", post(&[b"Content-Length: 0"], b""), Refused(401, "missing_signature")),
        case(
            "the envelope's four fields as a JSON array",
            signed(br#"["order.created",4242,"2026-01-01 10:00:00",{"id":5}]"#),
            Refused(400, "invalid_envelope"),
        ),
        case("JSON number", signed(b"42"), Refused(400, "invalid_envelope")),
        case("JSON string", signed(br#""order.created""#), Refused(400, "invalid_envelope")),
        case("JSON null", signed(b"null"), Refused(400, "invalid_envelope")),
        case("JSON true", signed(b" true "), Refused(400, "invalid_envelope")),
        case("empty object", signed(b"{}"), Refused(400, "invalid_envelope")),
        // --- the envelope's fields of the wrong type
        case("event 42", signed(&with_event("42")), Refused(400, "invalid_envelope")),
        case("event null", signed(&with_event("null")), Refused(400, "invalid_envelope")),
        case("event [\"order.created\"]", signed(&with_event(r#"["order.created"]"#)), Refused(400, "invalid_envelope")),
        case("event {}", signed(&with_event("{}")), Refused(400, "invalid_envelope")),
        case("event \"\"", signed(&with_event(r#""""#)), Refused(400, "invalid_envelope")),
        case("event of spaces", signed(&with_event(r#""   ""#)), Refused(400, "invalid_envelope")),
        case("merchant null", signed(&with_merchant("null")), Refused(400, "invalid_envelope")),
        case("merchant \"\"", signed(&with_merchant(r#""""#)), Refused(400, "invalid_envelope")),
        case("merchant {}", signed(&with_merchant("{}")), Refused(400, "invalid_envelope")),
        case(
            "data null",
            signed(br#"{"event":"order.created","merchant":4242,"created_at":"x","data":null}"#),
            Refused(400, "invalid_envelope"),
        ),
        case(
            "created_at 5",
            signed(br#"{"event":"order.created","merchant":4242,"created_at":5,"data":{"id":5}}"#),
            Refused(400, "invalid_envelope"),
        ),
        case(
            "duplicate event key",
            signed(br#"{"event":"customer.login","event":"order.created","merchant":4242,"created_at":"x","data":{"id":5}}"#),
            Refused(400, "invalid_envelope"),
        ),
        // --- long and odd event names
        case(
            "event name of 100,000 characters",
            signed(&with_event(&format!("\"{long_event}\""))),
            Ignored("unknown_event"),
        ),
        case(
            "event name with CR/LF and a fake header",
            signed(&with_event(r#""order.created\r\nX-Injected: 1""#)),
            Ignored("unknown_event"),
        ),
        case(
            "event name with a trailing space",
            signed(&with_event(r#""order.created ""#)),
            Ignored("unknown_event"),
        ),
        // --- the body limit
        case("body of exactly the limit", signed(&login_of_len(LIMIT)), Ignored("not_synced")),
        case("body one byte over the limit", signed(&login_of_len(LIMIT + 1)), Refused(413, "body_too_large")),
        case(
            "body one byte over the limit, chunked (no Content-Length)",
            {
                let body = login_of_len(LIMIT + 1);
                let mut chunked = Vec::new();
                for part in body.chunks(64 * 1024) {
                    chunked.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
                    chunked.extend_from_slice(part);
                    chunked.extend_from_slice(b"\r\n");
                }
                chunked.extend_from_slice(b"0\r\n\r\n");
                post(&[&signature_of(&body), b"Transfer-Encoding: chunked"], &chunked)
            },
            Refused(413, "body_too_large"),
        ),
        case(
            "Content-Length over the limit, small body",
            post(&[&signature_of(&login()), format!("Content-Length: {}", LIMIT + 1).as_bytes()], &login()),
            Refused(413, "body_too_large"),
        ),
        case(
            "Content-Length of 2^63",
            post(&[&signature_of(&login()), b"Content-Length: 9223372036854775808"], &login()),
            Refused(413, "body_too_large"),
        ),
        case(
            "Content-Length of 2^64-1 (hyper's own limit)",
            post(&[&signature_of(&login()), b"Content-Length: 18446744073709551615"], &login()),
            Http(431),
        ),
        // --- wrong method
        case(
            "GET on the webhook URL",
            Request {
                bytes: b"GET /webhooks/salla HTTP/1.1\r\nHost: ingest.test\r\nConnection: close\r\n\r\n".to_vec(),
                half_close: false,
            },
            Http(405),
        ),
    ];
    // Salla's own shapes never get these answers: the same event with a sane id is queued (checked
    // separately below, so every row of the table can assert an empty queue).
    cases.shrink_to_fit();
    cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_their_defined_answers_and_queue_nothing() {
    let ingest = Ingest::start("hostile", &[]).await;
    let mut failures = Vec::new();
    for Case {
        name,
        request,
        want,
    } in table()
    {
        let got = send(ingest.addr, &request).await;
        let ok = match (&want, &got) {
            (Want::Refused(status, error), Answer::Status(s, body)) => {
                s == status && body["status"] == "rejected" && body["error"] == *error
            }
            (Want::Ignored(reason), Answer::Status(s, body)) => {
                *s == 200 && body["status"] == "ignored" && body["reason"] == *reason
            }
            (Want::Http(status), Answer::Status(s, body)) => s == status && body.is_null(),
            _ => false,
        };
        if !ok {
            failures.push(format!("{name}: want {want:?}, got {got:?}"));
        }
        if let Some(what) = ingest.queued().await {
            failures.push(format!("{name}: queued {what}"));
            // Empty the namespace so that the next rows are judged on their own.
            drop_namespace(&ingest.namespace);
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));

    // The server is still answering, and a sane delivery of the same shape is queued.
    let body = order_with_id("5");
    match send(ingest.addr, &signed(&body)).await {
        Answer::Status(200, v) => assert_eq!(v["status"], "queued", "{v}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(ingest.queue.stats().await.unwrap().queued, 1);
}

/// A body of exactly the limit that is a real order is queued (the table's at-limit row is an
/// ignored event so that its queue stays empty).
#[tokio::test]
async fn an_order_of_exactly_the_limit_is_queued() {
    let ingest = Ingest::start("hostile-limit", &[]).await;
    let head =
        br#"{"event":"order.created","merchant":4242,"created_at":"x","data":{"id":5,"pad":""#;
    let mut body = head.to_vec();
    body.resize(LIMIT - 3, b'a');
    body.extend_from_slice(b"\"}}");
    match send(ingest.addr, &signed(&body)).await {
        Answer::Status(200, v) => assert_eq!(v["status"], "queued", "{v}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(ingest.queue.stats().await.unwrap().queued, 1);
}

/// The token strategy refuses a repeated `Authorization` the same way.
#[tokio::test]
async fn token_strategy_refuses_a_repeated_authorization() {
    let ingest = Ingest::start(
        "hostile-token",
        &[("SALLA_ODOO__SALLA__SECURITY_STRATEGY", "token")],
    )
    .await;
    let body = login();
    let auth = format!("Authorization: {SECRET}");
    let cases = [
        (vec![auth.as_bytes()], Want::Ignored("not_synced")),
        (
            vec![auth.as_bytes(), b"Authorization: wrong".as_slice()],
            Want::Refused(401, "duplicate_token"),
        ),
        (
            vec![auth.as_bytes(), auth.as_bytes()],
            Want::Refused(401, "duplicate_token"),
        ),
        (
            vec!["Authorization: سر".as_bytes()],
            Want::Refused(401, "bad_token"),
        ),
    ];
    for (headers, want) in cases {
        let len = content_length(&body);
        let mut all: Vec<&[u8]> = headers.clone();
        all.push(&len);
        let got = send(ingest.addr, &post(&all, &body)).await;
        match (want, &got) {
            (Want::Ignored(r), Answer::Status(200, v)) => assert_eq!(v["reason"], r),
            (Want::Refused(s, e), Answer::Status(status, v)) => {
                assert_eq!((*status, v["error"].as_str()), (s, Some(e)))
            }
            _ => panic!("{want:?}: {got:?}"),
        }
        ingest.assert_nothing_queued("token").await;
    }
}
