//! Test doubles for the client's transport tests: a scripted HTTP server that records every request and
//! answers in Odoo's envelope shapes, and raw TCP servers that misbehave (drop, stall, truncate).
//! The data here is made up for the tests; it only has the shape of a real Odoo's answers.
#![allow(dead_code)]

pub mod transcript;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One request the double received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
    pub peer: SocketAddr,
}

impl Seen {
    /// JSON-RPC `params.args`.
    pub fn args(&self) -> &Value {
        &self.body["params"]["args"]
    }
    pub fn service_method(&self) -> (&str, &str) {
        (
            self.body["params"]["service"].as_str().unwrap_or_default(),
            self.body["params"]["method"].as_str().unwrap_or_default(),
        )
    }
    /// For execute_kw: (model, method).
    pub fn model_method(&self) -> (&str, &str) {
        (
            self.args()[3].as_str().unwrap_or_default(),
            self.args()[4].as_str().unwrap_or_default(),
        )
    }
}

/// What the double answers: status, headers, body.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Answer {
    pub fn json(status: u16, body: Value) -> Self {
        Answer {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }
    pub fn text(status: u16, body: &str) -> Self {
        Answer {
            status,
            headers: vec![("content-type", "text/plain".into())],
            body: body.into(),
            delay: Duration::ZERO,
        }
    }
    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    pub fn delayed(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
    /// A JSON-RPC success reply for the request.
    pub fn rpc_result(seen: &Seen, result: Value) -> Self {
        Answer::json(
            200,
            json!({"jsonrpc": "2.0", "id": seen.body["id"], "result": result}),
        )
    }
    /// A JSON-RPC reply without `result` (a method that returned None).
    pub fn rpc_none(seen: &Seen) -> Self {
        Answer::json(200, json!({"jsonrpc": "2.0", "id": seen.body["id"]}))
    }
    /// A JSON-RPC error reply.
    pub fn rpc_error(seen: &Seen, code: i64, name: &str, message: &str) -> Self {
        Answer::json(
            200,
            json!({"jsonrpc": "2.0", "id": seen.body["id"], "error": {
                "code": code, "message": "Odoo Server Error",
                "data": {"name": name, "debug": "Traceback (most recent call last): made up",
                         "message": message, "arguments": [message], "context": {}}}}),
        )
    }
    /// A JSON-2 error body with a status.
    pub fn json2_error(status: u16, name: &str, message: &str) -> Self {
        Answer::json(
            status,
            json!({"name": name, "message": message, "arguments": [message], "context": {}, "debug": ""}),
        )
    }
}

pub type Script = dyn Fn(&Seen) -> Option<Answer> + Send + Sync;

struct Shared {
    major: u32,
    script: Box<Script>,
    seen: Mutex<Vec<Seen>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// A scripted Odoo double on 127.0.0.1:0.
pub struct Double {
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Double {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Double {
    /// Starts a double that reports version `major`, authenticates login/key "admin"/"admin" as uid 2,
    /// and asks `script` for every other answer (`None` → `result: true`).
    pub async fn start(
        major: u32,
        script: impl Fn(&Seen) -> Option<Answer> + Send + Sync + 'static,
    ) -> Double {
        let shared = Arc::new(Shared {
            major,
            script: Box::new(script),
            seen: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
        Double { url, shared, task }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// Requests other than the session's version/authenticate calls.
    pub fn calls(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| {
                !(s.path == "/web/version"
                    || s.path == "/web/health"
                    || matches!(s.service_method(), ("common", "version" | "authenticate")))
            })
            .collect()
    }

    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    pub fn distinct_connections(&self) -> usize {
        self.seen()
            .iter()
            .map(|s| s.peer)
            .collect::<HashSet<_>>()
            .len()
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let seen = Seen {
        method: method.to_string(),
        path: uri.path().to_owned(),
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        peer,
    };
    shared.seen.lock().unwrap().push(seen.clone());
    let answer = (shared.script)(&seen).unwrap_or_else(|| default_answer(shared.major, &seen));
    if !answer.delay.is_zero() {
        tokio::time::sleep(answer.delay).await;
    }
    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    let mut resp = (StatusCode::from_u16(answer.status).unwrap(), answer.body).into_response();
    for (k, v) in answer.headers {
        resp.headers_mut().insert(k, v.parse().unwrap());
    }
    resp
}

fn default_answer(major: u32, seen: &Seen) -> Answer {
    if seen.path == "/web/health" {
        return Answer::json(200, json!({"status": "pass"}));
    }
    if seen.path == "/web/version" {
        return Answer::json(
            200,
            json!({"version_info": [major, 0, 0, "final", 0, ""], "version": format!("{major}.0")}),
        );
    }
    if seen.path == "/jsonrpc" {
        let code = if major >= 19 { 0 } else { 200 };
        return match seen.service_method() {
            ("common", "version") => Answer::rpc_result(
                seen,
                json!({"server_version": format!("{major}.0"),
                       "server_version_info": [major, 0, 0, "final", 0, ""],
                       "server_serie": format!("{major}.0"), "protocol_version": 1}),
            ),
            ("common", "authenticate") => {
                let a = seen.args();
                if a[1] == "admin" && a[2] == "admin" {
                    Answer::rpc_result(seen, json!(2))
                } else {
                    Answer::rpc_result(seen, json!(false))
                }
            }
            ("object", "execute_kw") => {
                if seen.args()[2] != "admin" {
                    Answer::rpc_error(seen, code, "odoo.exceptions.AccessDenied", "Access Denied")
                } else {
                    Answer::rpc_result(seen, json!(true))
                }
            }
            _ => Answer::rpc_error(seen, code, "builtins.KeyError", "unknown"),
        };
    }
    if seen.path.starts_with("/json/2/") {
        let auth = seen
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if auth != "bearer admin" {
            return Answer::json2_error(401, "werkzeug.exceptions.Unauthorized", "Invalid apikey");
        }
        return Answer::json(200, json!(true));
    }
    Answer::text(404, "not found")
}

/// How a raw TCP server misbehaves after reading one whole request.
#[derive(Debug, Clone, Copy)]
pub enum Misbehave {
    /// Close the connection without answering (commit-then-drop).
    Drop,
    /// Keep the connection open and never answer.
    Stall,
    /// Announce a body, send part of it and close.
    Truncate,
    /// Answer 200 with a chunked body that never ends (no length to refuse up front).
    Endless,
}

/// A raw TCP server that answers the session's calls (version 18, authenticate → 2) correctly and
/// misbehaves on every `execute_kw`.
pub async fn misbehaving(kind: Misbehave) -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                loop {
                    let Some(body) = read_request(&mut sock).await else {
                        return;
                    };
                    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let id = req["id"].clone();
                    let result = match req["params"]["method"].as_str() {
                        Some("version") => json!({"server_version": "18.0",
                            "server_version_info": [18, 0, 0, "final", 0, ""], "server_serie": "18.0",
                            "protocol_version": 1}),
                        Some("authenticate") => json!(2),
                        _ => match kind {
                            Misbehave::Drop => return,
                            Misbehave::Stall => {
                                tokio::time::sleep(Duration::from_secs(30)).await;
                                return;
                            }
                            Misbehave::Truncate => {
                                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n";
                                let _ = sock.write_all(head.as_bytes()).await;
                                let _ =
                                    sock.write_all(br#"{"jsonrpc": "2.0", "id": 3, "res"#).await;
                                let _ = sock.flush().await;
                                return;
                            }
                            Misbehave::Endless => {
                                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                                if sock.write_all(head.as_bytes()).await.is_err() {
                                    return;
                                }
                                let chunk = format!("4000\r\n{}\r\n", " ".repeat(0x4000));
                                // Until the client hangs up.
                                while sock.write_all(chunk.as_bytes()).await.is_ok() {}
                                return;
                            }
                        },
                    };
                    let body = json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string();
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{}",
                        body.len(),
                        body
                    );
                    if sock.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, task)
}

/// Reads one HTTP/1.1 request with a content-length body; `None` at end of stream.
async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..pos]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            while buf.len() < pos + 4 + len {
                let n = sock.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some(buf[pos + 4..pos + 4 + len].to_vec());
        }
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A client config for a double (login and key "admin").
pub fn config(url: &str) -> odoo::Config {
    odoo::Config::new(url, "odoo", "admin", "admin".to_owned().into()).unwrap()
}
