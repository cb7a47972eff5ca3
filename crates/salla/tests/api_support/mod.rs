//! An HTTP double of Salla for the API client tests: an axum server on 127.0.0.1:0 that answers from
//! per-test routes and records every request, plus a raw TCP server that reads a request and drops
//! the connection without answering (the "answer never came" case).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use salla_odoo_salla::api::{ApiConfig, SallaApi};
use secrecy::SecretString;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub const CLIENT_ID: &str = "client-id-1";
pub const CLIENT_SECRET: &str = "client-secret-XYZ987";

/// A request as the double saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// The raw (percent-encoded) path.
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The query pairs, decoded, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.query.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect()
    }

    pub fn param(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

/// A canned answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub delay: Option<Duration>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::to_vec(&body).unwrap(),
            delay: None,
        }
    }

    /// `{"status": 200, "success": true, "data": data}`.
    pub fn data(data: Value) -> Reply {
        Reply::json(
            200,
            serde_json::json!({"status": 200, "success": true, "data": data}),
        )
    }

    /// The Admin API error envelope.
    pub fn error(status: u16, error: Value) -> Reply {
        Reply::json(
            status,
            serde_json::json!({"status": status, "success": false, "error": error}),
        )
    }

    pub fn raw(status: u16, content_type: &str, body: &str) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.as_bytes().to_vec(),
            delay: None,
        }
    }

    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            delay: None,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn after(mut self, delay: Duration) -> Reply {
        self.delay = Some(delay);
        self
    }
}

type Route = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

#[derive(Clone, Default)]
struct Shared {
    routes: Arc<Mutex<Vec<(String, String, Route)>>>,
    log: Arc<Mutex<Vec<Recorded>>>,
}

/// The axum double.
pub struct Double {
    pub addr: SocketAddr,
    shared: Shared,
}

async fn handle(State(shared): State<Shared>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let rec = Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body: body.to_vec(),
    };
    shared.log.lock().unwrap().push(rec.clone());
    let route = shared
        .routes
        .lock()
        .unwrap()
        .iter()
        .find(|(m, p, _)| *m == rec.method && *p == rec.path)
        .map(|(_, _, r)| Arc::clone(r));
    let Some(route) = route else {
        return (
            StatusCode::IM_A_TEAPOT,
            format!("no route for {} {}", rec.method, rec.path),
        )
            .into_response();
    };
    let reply = route(&rec);
    if let Some(d) = reply.delay {
        tokio::time::sleep(d).await;
    }
    let mut resp = Response::new(Body::from(reply.body));
    *resp.status_mut() = StatusCode::from_u16(reply.status).unwrap();
    for (k, v) in reply.headers {
        resp.headers_mut().append(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    resp
}

impl Double {
    pub async fn start() -> Double {
        let shared = Shared::default();
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Double { addr, shared }
    }

    /// Answers `method path` (path under `/admin/v2`, or absolute when it starts with `/oauth2`).
    pub fn on(
        &self,
        method: &str,
        path: &str,
        f: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) {
        let full = if path.starts_with("/oauth2") {
            path.to_owned()
        } else {
            format!("/admin/v2{path}")
        };
        self.shared
            .routes
            .lock()
            .unwrap()
            .push((method.to_owned(), full, Arc::new(f)));
    }

    /// Always answers `reply`.
    pub fn reply(&self, method: &str, path: &str, reply: Reply) {
        self.on(method, path, move |_| reply.clone());
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.log.lock().unwrap().clone()
    }

    pub fn last(&self) -> Recorded {
        self.requests().pop().expect("a request was made")
    }

    pub fn config(&self) -> ApiConfig {
        config_for(self.addr)
    }

    pub fn api(&self) -> SallaApi {
        SallaApi::new(self.config()).unwrap()
    }
}

/// A config pointing at `addr`, with short timeouts.
pub fn config_for(addr: SocketAddr) -> ApiConfig {
    let mut c = ApiConfig::new(CLIENT_ID, SecretString::from(CLIENT_SECRET));
    c.api_url = format!("http://{addr}/admin/v2");
    c.oauth_url = format!("http://{addr}/oauth2");
    c.connect_timeout = Duration::from_secs(2);
    c.request_timeout = Duration::from_secs(5);
    c
}

/// A server that reads each request in full (headers and `Content-Length` body), records it and
/// closes the connection without a byte of answer.
pub async fn dropping_server() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if request_complete(&buf) {
                        break;
                    }
                }
                log.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf).into_owned());
                let _ = sock.shutdown().await;
                drop(sock);
            });
        }
    });
    (addr, seen)
}

fn request_complete(buf: &[u8]) -> bool {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    buf.len() >= end + 4 + len
}
