//! The accept loop, per-connection HTTP/1.1 serving, the request pipeline (call log, latency,
//! error rules, the request itself, drop-after-write) and the stock worker.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::faults::Faults;
use crate::state::{State, StockJob};
use crate::{Call, Options, SHUTDOWN_GRACE, api, control, util};

pub(crate) type Resp = Response<Full<Bytes>>;

/// Largest accepted request body (bulk seeding of thousands of orders fits).
const BODY_LIMIT: usize = 256 << 20;

/// The connection is to be closed without an answer.
#[derive(Debug)]
pub(crate) struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}
impl std::error::Error for Dropped {}

/// The request log and counters behind `/_sandbox/calls` and `/_sandbox/stats`.
#[derive(Debug, Default)]
struct Traffic {
    next_seq: u64,
    /// By sequence number (order of arrival).
    calls: BTreeMap<u64, Call>,
    endpoints: BTreeMap<String, u64>,
    requests: u64,
    rate_limited: u64,
    injected_errors: u64,
    dropped: u64,
}

pub(crate) struct Shared {
    pub opts: Options,
    state: Mutex<State>,
    pub faults: Faults,
    traffic: Mutex<Traffic>,
    stock_tx: mpsc::UnboundedSender<StockJob>,
    stock_rx: Mutex<Option<mpsc::UnboundedReceiver<StockJob>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    pub fn new(opts: Options) -> Shared {
        let faults = Faults::default();
        faults.set_latency(opts.latency.fixed, opts.latency.jitter);
        let (stock_tx, stock_rx) = mpsc::unbounded_channel();
        Shared {
            opts,
            state: Mutex::new(State::new()),
            faults,
            traffic: Mutex::new(Traffic::default()),
            stock_tx,
            stock_rx: Mutex::new(Some(stock_rx)),
        }
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Queue a validated bulk stock update for the stock worker.
    pub fn queue_stock(&self, job: StockJob) {
        let _ = self.stock_tx.send(job);
    }

    /// Forget all merchants, tokens, faults, calls and counters.
    pub fn reset(&self) {
        *self.state() = State::new();
        self.faults.clear();
        self.faults
            .set_latency(self.opts.latency.fixed, self.opts.latency.jitter);
        *lock(&self.traffic) = Traffic::default();
    }

    fn begin_call(
        &self,
        method: &str,
        path: &str,
        query: &str,
        endpoint: String,
        merchant: Option<u64>,
    ) -> u64 {
        let mut t = lock(&self.traffic);
        let seq = t.next_seq;
        t.next_seq += 1;
        t.requests += 1;
        *t.endpoints.entry(endpoint.clone()).or_insert(0) += 1;
        t.calls.insert(
            seq,
            Call {
                seq,
                method: method.to_owned(),
                path: path.to_owned(),
                query: query.to_owned(),
                endpoint,
                merchant,
                status: None,
                dropped: false,
                at: util::rfc3339(util::now()),
            },
        );
        seq
    }

    fn end_call(&self, seq: u64, merchant: Option<u64>, status: StatusCode, dropped: bool) {
        let mut t = lock(&self.traffic);
        if status == StatusCode::TOO_MANY_REQUESTS {
            t.rate_limited += 1;
        }
        if dropped {
            t.dropped += 1;
        }
        if let Some(c) = t.calls.get_mut(&seq) {
            c.merchant = c.merchant.or(merchant);
            c.status = Some(status.as_u16());
            c.dropped = dropped;
        }
    }

    fn count_injected(&self) {
        lock(&self.traffic).injected_errors += 1;
    }

    pub fn calls(&self) -> Vec<Call> {
        lock(&self.traffic).calls.values().cloned().collect()
    }

    /// Clear the call log and the counters of `/_sandbox/stats`.
    pub fn clear_calls(&self) {
        {
            let mut t = lock(&self.traffic);
            let next_seq = t.next_seq;
            *t = Traffic {
                next_seq,
                ..Traffic::default()
            };
        }
        let mut st = self.state();
        st.refreshes = 0;
        st.refresh_failures = 0;
    }

    pub fn stats(&self) -> Value {
        let (refreshes, refresh_failures) = {
            let st = self.state();
            (st.refreshes, st.refresh_failures)
        };
        let t = lock(&self.traffic);
        json!({
            "requests": t.requests,
            "endpoints": t.endpoints,
            "token_refreshes": refreshes,
            "token_refresh_failures": refresh_failures,
            "rate_limited": t.rate_limited,
            "injected_errors": t.injected_errors,
            "dropped": t.dropped,
        })
    }
}

/// Accept loop: serve until `shutdown`, then drain connections.
pub(crate) async fn run(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let addr = listener.local_addr()?;
    let mut listener = Some(listener);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);

    // Stock worker: applies bulk quantity updates when their delay has passed, in order.
    let rx = lock(&shared.stock_rx).take();
    let worker = rx.map(|mut rx| {
        let shared = shared.clone();
        tokio::spawn(async move {
            while let Some(job) = rx.recv().await {
                tokio::time::sleep_until(job.due).await;
                shared.state().apply_stock(&job, util::now());
                tracing::debug!(
                    merchant = job.merchant,
                    update = job.update_id,
                    "stock applied"
                );
            }
        })
    });

    loop {
        while conns.try_join_next().is_some() {}
        if let Some(until) = shared.faults.outage_until() {
            // Outage: close the listening socket so connections are refused.
            if listener.take().is_some() {
                tracing::info!("outage window opened: refusing connections");
            }
            let wait = async {
                match until {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = &mut shutdown => break,
                () = wait => {}
                () = shared.faults.changed() => {}
            }
            continue;
        }
        if listener.is_none() {
            listener = Some(rebind(addr).await?);
            tracing::info!("outage window closed: accepting connections");
        }
        let Some(l) = listener.as_ref() else { continue };
        tokio::select! {
            () = &mut shutdown => break,
            () = shared.faults.changed() => {}
            accepted = l.accept() => {
                let (stream, _) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        continue;
                    }
                };
                conns.spawn(serve_conn(stream, shared.clone(), stop_rx.clone()));
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        conns.abort_all();
    }
    if let Some(w) = worker {
        w.abort();
    }
    Ok(())
}

async fn rebind(addr: SocketAddr) -> io::Result<TcpListener> {
    let mut last = None;
    for _ in 0..50 {
        match TcpListener::bind(addr).await {
            Ok(l) => return Ok(l),
            Err(e) => {
                last = Some(e);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("cannot bind again")))
}

async fn serve_conn(stream: TcpStream, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let _ = stream.set_nodelay(true);
    let io = TokioIo::new(stream);
    let svc = service_fn(move |req| {
        let shared = shared.clone();
        async move { handle_request(shared, req).await }
    });
    let conn = http1::Builder::new().serve_connection(io, svc);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        () = stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

pub(crate) fn json_response(status: StatusCode, v: &Value) -> Resp {
    let body = serde_json::to_vec(v).unwrap_or_default();
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

async fn handle_request(
    shared: Arc<Shared>,
    req: http::Request<Incoming>,
) -> Result<Resp, Dropped> {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let method = req.method().clone();
    let headers = req.headers().clone();
    let is_control = path == "/_sandbox" || path.starts_with("/_sandbox/");
    if !is_control && shared.faults.in_outage() {
        return Err(Dropped);
    }
    let body = match Limited::new(req.into_body(), BODY_LIMIT).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(Dropped),
    };
    if is_control {
        return Ok(control::handle(&shared, &method, &path, &query, &body));
    }
    let req = api::ApiRequest {
        method,
        path,
        query,
        headers,
        body,
    };
    // The request runs in its own task: it finishes (and takes effect) even when the client
    // goes away meanwhile (e.g. a client timeout during injected latency).
    tokio::spawn(process(shared, req))
        .await
        .unwrap_or(Err(Dropped))
}

async fn process(shared: Arc<Shared>, req: api::ApiRequest) -> Result<Resp, Dropped> {
    let method = req.method.as_str().to_owned();
    let hint = api::peek_merchant(&shared, &req);
    let seq = shared.begin_call(
        &method,
        &req.path,
        &req.query,
        api::endpoint(&req.method, &req.path),
        hint,
    );
    let delay = shared.faults.latency();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(rule) = shared.faults.before(&method, &req.path, hint) {
        shared.count_injected();
        let resp = api::fault_response(&rule);
        shared.end_call(seq, hint, resp.status(), false);
        return Ok(resp);
    }
    let out = api::handle(&shared, &req);
    let merchant = out.merchant.or(hint);
    let drop = shared.faults.drop_after(&method, &req.path, merchant);
    shared.end_call(seq, merchant, out.resp.status(), drop);
    if drop {
        return Err(Dropped);
    }
    Ok(out.resp)
}
