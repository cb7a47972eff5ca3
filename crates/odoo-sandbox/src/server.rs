//! The accept loop, per-connection HTTP/1.1 serving, fault application and persistence.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::db::{Db, Env};
use crate::error::OdooError;
use crate::faults::{Before, FaultKind, Faults};
use crate::schema::Schema;
use crate::{Options, SHUTDOWN_GRACE, rpc, seed};

pub(crate) type Resp = Response<Full<Bytes>>;

/// The connection is to be closed without an answer.
#[derive(Debug)]
pub(crate) struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}
impl std::error::Error for Dropped {}

pub(crate) struct Shared {
    pub opts: Options,
    pub schema: Schema,
    db: Mutex<Db>,
    pub faults: Faults,
    dirty: Notify,
    calls: Mutex<BTreeMap<String, u64>>,
    /// Calls made with an API key (not a password or a session): `GET /_sandbox/calls/api_key`.
    api_key_calls: std::sync::atomic::AtomicU64,
    /// What each call costs, when a cost model is set.
    pub cost: Option<crate::cost::Cost>,
    /// Web-client sessions (`session_id` cookie → uid).
    sessions: Mutex<HashMap<String, i64>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    pub fn new(opts: Options) -> io::Result<Shared> {
        if let Some(Err(e)) = seed::pricelist_currency(&opts) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, e));
        }
        let mut db = match &opts.state_file {
            Some(path) if path.exists() => {
                let bytes = std::fs::read(path)?;
                let db: Db = serde_json::from_slice(&bytes)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                if db.version != opts.version {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "state file {} holds an Odoo {} database, not {}",
                            path.display(),
                            db.version,
                            opts.version
                        ),
                    ));
                }
                db
            }
            _ => seed::fresh(&opts),
        };
        db.in_payment_state = opts.in_payment_state;
        db.missing_groups = opts.missing_groups.clone();
        let faults = Faults::default();
        faults.set_latency(opts.latency.fixed, opts.latency.jitter);
        Ok(Shared {
            cost: opts.cost_model.clone().map(crate::cost::Cost::new),
            schema: Schema::build(opts.version),
            opts,
            db: Mutex::new(db),
            faults,
            dirty: Notify::new(),
            calls: Mutex::new(BTreeMap::new()),
            api_key_calls: std::sync::atomic::AtomicU64::new(0),
            sessions: Mutex::new(HashMap::new()),
        })
    }

    /// Whether `credential` is some user's API key (not a password).
    pub fn is_api_key(&self, credential: &str) -> bool {
        credential == self.opts.api_key
            || self
                .opts
                .extra_users
                .iter()
                .any(|u| u.api_key == credential)
    }

    pub fn db(&self) -> MutexGuard<'_, Db> {
        lock(&self.db)
    }

    pub fn mark_dirty(&self) {
        if self.opts.state_file.is_some() {
            self.dirty.notify_one();
        }
    }

    pub fn reset(&self) {
        *self.db() = seed::fresh(&self.opts);
        self.faults.clear();
        // Back to the latency the sandbox was started with.
        self.faults
            .set_latency(self.opts.latency.fixed, self.opts.latency.jitter);
        lock(&self.calls).clear();
        self.api_key_calls
            .store(0, std::sync::atomic::Ordering::Relaxed);
        lock(&self.sessions).clear();
        self.mark_dirty();
    }

    /// Give the user with this login an email address, or take it away (`None`). Returns its
    /// uid, `None` when no user has that login.
    pub fn set_user_email(&self, login: &str, email: Option<&str>) -> Option<i64> {
        let mut db = self.db();
        let users = db.tables.get("res.users")?;
        let (uid, partner) = users.rows.iter().find_map(|(uid, row)| {
            (row.get("login").and_then(Value::as_str) == Some(login))
                .then(|| (*uid, row.get("partner_id").and_then(Value::as_i64)))
        })?;
        let value = match email.map(str::trim).filter(|e| !e.is_empty()) {
            Some(e) => json!(e),
            None => json!(false),
        };
        if let Some(row) = partner.and_then(|p| {
            db.tables
                .get_mut("res.partner")
                .and_then(|t| t.rows.get_mut(&p))
        }) {
            row.insert("email".into(), value);
        }
        drop(db);
        self.mark_dirty();
        Some(uid)
    }

    pub fn new_session(&self, uid: i64) -> String {
        use rand::Rng;
        let token: String = (0..40)
            .map(|_| format!("{:x}", rand::rng().random_range(0..16u8)))
            .collect();
        lock(&self.sessions).insert(token.clone(), uid);
        token
    }

    pub fn session_uid(&self, token: &str) -> Option<i64> {
        lock(&self.sessions).get(token).copied()
    }

    pub fn count_call(&self, key: &str) {
        *lock(&self.calls).entry(key.to_owned()).or_insert(0) += 1;
    }

    /// How many calls authenticated with an API key (a client like the connector) rather than a
    /// password (a person's script) or a session.
    pub fn api_key_calls(&self) -> u64 {
        self.api_key_calls
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn calls(&self, key: &str) -> u64 {
        lock(&self.calls).get(key).copied().unwrap_or(0)
    }

    pub fn all_calls(&self) -> Map<String, Value> {
        lock(&self.calls)
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect()
    }

    /// Inspection search as the superuser, archived records included.
    pub fn search(
        &self,
        model: &str,
        domain: &Value,
        fields: Option<&[String]>,
        limit: Option<usize>,
    ) -> Result<Vec<Value>, OdooError> {
        if self.schema.model(model).is_none() {
            return Err(OdooError::user(format!("Object {model} doesn't exist")));
        }
        let mut db = self.db();
        let mut ctx = Map::new();
        ctx.insert("active_test".into(), json!(false));
        let env = Env {
            db: &mut db,
            schema: &self.schema,
            uid: 1,
            ctx,
            now: time::OffsetDateTime::now_utc(),
            journal: None,
        };
        let ids = env.search(model, domain, 0, limit, Some("id"))?;
        env.read(model, &ids, fields)
    }

    /// Inspection count as the superuser, archived records included.
    pub fn count(&self, model: &str, domain: &Value) -> Result<usize, OdooError> {
        if self.schema.model(model).is_none() {
            return Err(OdooError::user(format!("Object {model} doesn't exist")));
        }
        let mut db = self.db();
        let mut ctx = Map::new();
        ctx.insert("active_test".into(), json!(false));
        let env = Env {
            db: &mut db,
            schema: &self.schema,
            uid: 1,
            ctx,
            now: time::OffsetDateTime::now_utc(),
            journal: None,
        };
        Ok(env.filter(model, domain)?.len())
    }

    fn snapshot(&self) -> Vec<u8> {
        serde_json::to_vec(&*self.db()).unwrap_or_default()
    }
}

async fn write_state(path: &Path, bytes: Vec<u8>) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    tokio::fs::write(&tmp, bytes).await?;
    tokio::fs::rename(&tmp, path).await
}

/// Accept loop: serve until `shutdown`, then drain connections and persist.
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

    // Persister: writes the state file shortly after changes.
    let persister = shared.opts.state_file.clone().map(|path| {
        let shared = shared.clone();
        tokio::spawn(async move {
            loop {
                shared.dirty.notified().await;
                let bytes = shared.snapshot();
                if let Err(e) = write_state(&path, bytes).await {
                    tracing::warn!(error = %e, "cannot write the state file");
                }
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
    if let Some(p) = persister {
        p.abort();
    }
    if let Some(path) = &shared.opts.state_file {
        write_state(path, shared.snapshot()).await?;
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
    // A second handle on the socket, to turn a close into a reset (SO_LINGER 0).
    let sock = match stream
        .into_std()
        .and_then(|s| s.try_clone().map(|c| (s, c)))
    {
        Ok((s, c)) => match TcpStream::from_std(s) {
            Ok(s) => (s, Arc::new(c)),
            Err(_) => return,
        },
        Err(_) => return,
    };
    let (stream, handle) = sock;
    let io = TokioIo::new(stream);
    let svc = service_fn(move |req| {
        let shared = shared.clone();
        let handle = handle.clone();
        async move { handle_request(shared, req, handle).await }
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

fn reset(handle: &std::net::TcpStream) -> Dropped {
    let _ = socket2::SockRef::from(handle).set_linger(Some(Duration::ZERO));
    Dropped
}

pub(crate) fn respond(status: StatusCode, content_type: &str, body: Vec<u8>) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

pub(crate) fn json_response(status: StatusCode, v: &Value) -> Resp {
    respond(status, "application/json", crate::pyjson::to_vec(v))
}

async fn handle_request(
    shared: Arc<Shared>,
    req: http::Request<Incoming>,
    handle: Arc<std::net::TcpStream>,
) -> Result<Resp, Dropped> {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let method = req.method().clone();
    let headers = req.headers().clone();
    let is_admin = path == "/_sandbox" || path.starts_with("/_sandbox/");
    if !is_admin && shared.faults.in_outage() {
        return Err(reset(&handle));
    }
    let body = match Limited::new(req.into_body(), 128 << 20).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(Dropped),
    };
    if is_admin {
        return Ok(rpc::admin(&shared, &method, &path, &query, &body));
    }
    let call = match rpc::prepare(&shared, &method, &path, &headers, &body) {
        Ok(c) => c,
        Err(resp) => return Ok(resp),
    };
    // The call runs in its own task: like Odoo, it finishes (and commits) even when the client
    // goes away meanwhile (e.g. a client timeout during injected latency).
    let outcome = tokio::spawn(process(shared, call))
        .await
        .unwrap_or(Outcome::Drop);
    match outcome {
        Outcome::Answer(resp) => Ok(resp),
        Outcome::Reset => Err(reset(&handle)),
        Outcome::Drop => Err(Dropped),
    }
}

enum Outcome {
    Answer(Resp),
    Reset,
    Drop,
}

async fn process(shared: Arc<Shared>, call: rpc::Call) -> Outcome {
    shared.count_call(&call.key());
    if call.secret().is_some_and(|c| shared.is_api_key(c)) {
        shared
            .api_key_calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    let delay = shared.faults.latency();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match shared.faults.before(call.model(), call.method()) {
        Before::Proceed => {}
        Before::Fail(kind) => {
            return match kind {
                FaultKind::ConnectionReset => Outcome::Reset,
                FaultKind::Http5xx(code) => {
                    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
                    let title = format!(
                        "{} {}",
                        status.as_u16(),
                        status.canonical_reason().unwrap_or("Error")
                    );
                    let text = format!(
                        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
                    );
                    Outcome::Answer(respond(status, "text/html", text.into_bytes()))
                }
                FaultKind::TooManyRequests { retry_after_secs } => {
                    let mut r = respond(
                        StatusCode::TOO_MANY_REQUESTS,
                        "text/plain",
                        b"Too Many Requests".to_vec(),
                    );
                    if let Ok(v) = header::HeaderValue::from_str(&retry_after_secs.to_string()) {
                        r.headers_mut().insert(header::RETRY_AFTER, v);
                    }
                    Outcome::Answer(r)
                }
                FaultKind::SerializationFailure => Outcome::Answer(rpc::error_response(
                    &shared,
                    &call,
                    &OdooError::serialization_failure(),
                )),
                FaultKind::LoginCooldown => Outcome::Answer(rpc::error_response(
                    &shared,
                    &call,
                    &OdooError::new(
                        "odoo.exceptions.AccessDenied",
                        "Too many login failures, please wait a bit before trying again.",
                    ),
                )),
            };
        }
    }
    // With a cost model the call holds a slot for its service time, waiting in line first.
    let served = match &shared.cost {
        Some(cost) => {
            let key = call.key();
            let api_key = call
                .credential()
                .filter(|c| shared.is_api_key(c))
                .map(str::to_owned);
            Some(cost.serve(&key, api_key.as_deref()).await)
        }
        None => None,
    };
    let (resp, wrote) = rpc::execute(&shared, &call);
    if wrote {
        shared.mark_dirty();
    }
    if let Some(cost) = &shared.cost
        && call.method() == "create"
        && matches!(call.model(), Some("product.product" | "product.template"))
    {
        cost.caches_cleared();
    }
    drop(served);
    if shared.faults.drop_after(call.model(), call.method()) {
        return Outcome::Drop;
    }
    Outcome::Answer(resp)
}
