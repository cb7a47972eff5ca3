//! Test helpers: a minimal HTTP/1.1 client on a raw socket (so tests can tell a reset from a
//! dropped connection from an answer) and JSON-RPC shortcuts.
#![allow(dead_code)]

use std::io;
use std::net::SocketAddr;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug)]
pub struct HttpResp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One request on a fresh connection (`Connection: close`).
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<HttpResp> {
    let mut s = TcpStream::connect(addr).await?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await?;
    s.write_all(body).await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    if buf.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed without an answer",
        ));
    }
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no header end"))?;
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad status line"))?;
    let headers = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect();
    Ok(HttpResp {
        status,
        headers,
        body: buf[split + 4..].to_vec(),
    })
}

pub async fn post_json(addr: SocketAddr, path: &str, body: &Value) -> io::Result<HttpResp> {
    request(
        addr,
        "POST",
        path,
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
    .await
}

/// JSON-RPC call; returns the whole envelope.
pub async fn rpc(addr: SocketAddr, service: &str, method: &str, args: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "method": "call", "id": 1, "params": {"service": service, "method": method, "args": args}});
    let r = post_json(addr, "/jsonrpc", &body).await.expect("http");
    assert_eq!(r.status, 200);
    r.json()
}

/// `execute_kw` as admin (uid 2, password "admin"); panics on an Odoo error.
pub async fn call(
    addr: SocketAddr,
    model: &str,
    method: &str,
    args: Value,
    kwargs: Value,
) -> Value {
    let env = call_env(addr, model, method, args, kwargs).await;
    if let Some(e) = env.get("error") {
        panic!("{model}.{method} failed: {}", e["data"]["message"]);
    }
    env.get("result").cloned().unwrap_or(Value::Null)
}

/// `execute_kw` as admin; the whole envelope.
pub async fn call_env(
    addr: SocketAddr,
    model: &str,
    method: &str,
    args: Value,
    kwargs: Value,
) -> Value {
    rpc(
        addr,
        "object",
        "execute_kw",
        json!(["odoo", 2, "admin", model, method, args, kwargs]),
    )
    .await
}

/// The error name and message of an envelope.
pub fn err(env: &Value) -> (String, String) {
    let d = &env["error"]["data"];
    (
        d["name"].as_str().unwrap_or_default().to_owned(),
        d["message"].as_str().unwrap_or_default().to_owned(),
    )
}

/// One recorded call of a transcript in `../shared/reference` (a `### LABEL …` section with a
/// request and a response `json` block).
pub struct Case {
    pub label: String,
    /// The request as recorded (secrets redacted as `<API_KEY>`).
    pub request: String,
    pub raw_response: String,
    pub response: Value,
}

impl Case {
    pub fn request_json(&self) -> Value {
        serde_json::from_str(&self.request).unwrap_or_else(|e| panic!("{}: {e}", self.label))
    }
}

/// Every recorded call of a transcript, in order.
pub fn transcript_cases(text: &str) -> Vec<Case> {
    let mut out = Vec::new();
    for section in text.split("\n### ").skip(1) {
        let label = section
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .trim_end_matches('.')
            .to_owned();
        let blocks: Vec<&str> = section
            .split("```json\n")
            .skip(1)
            .filter_map(|b| b.split("\n```").next())
            .collect();
        assert_eq!(
            blocks.len(),
            2,
            "case {label}: expected a request and a response block"
        );
        let response =
            serde_json::from_str(blocks[1]).unwrap_or_else(|e| panic!("case {label}: {e}"));
        out.push(Case {
            label,
            request: blocks[0].to_owned(),
            raw_response: blocks[1].to_owned(),
            response,
        });
    }
    out
}
