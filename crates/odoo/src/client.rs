//! The client: configuration, the per-server session (version, transport, uid) and the typed operations.
//!
//! State held per client, all behind one `Arc` so clones are cheap and share connections:
//! - the HTTP pool and the concurrency semaphore ([`crate::transport`]);
//! - the session, made once on first use: `common.version` picks the transport, then (JSON-RPC only)
//!   `common.authenticate` gives the uid that every `execute_kw` carries. A failed attempt is not cached, so
//!   a transient failure is retried on the next call;
//! - the [`Capabilities`] probe, also made once ([`Client::capabilities`]), or taken from capabilities
//!   the caller kept from an earlier probe ([`Client::seed_capabilities`]) when the session's server
//!   version is theirs. A seed that knows the session it was probed on (its version, transport and,
//!   on JSON-RPC, uid) also stands in for the session: no `common.version`, no `authenticate`;
//! - both are made again after [`Client::refresh`] (which also drops the seed). A call refused for an
//!   unknown field drops the seed too, with the capabilities and the session when they came from it
//!   ([`Client::take_invalid_field`]); so does a call on the seed's session refused with
//!   `AccessDenied` (the seed's uid is no longer the user's), which is then made once more on a
//!   real session: the one retry the client makes by itself, of a call Odoo did not run;
//!
//! Each call is one HTTP request and one Odoo transaction. The client never retries by itself: the caller
//! decides from [`crate::Error::class`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use tokio::sync::OnceCell;
use tracing::Instrument;
use url::Url;

use crate::domain::Domain;
use crate::error::{Error, Result};
use crate::probe::{Capabilities, ServerVersion};
use crate::transport::{Http, HttpOptions, Transport};

/// A record id.
pub type Id = i64;

/// A record as returned by `read` / `search_read`.
pub type Record = Map<String, Value>;

/// Which transport to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransportChoice {
    /// JSON-2 when `common.version` reports a major version ≥ 19, JSON-RPC otherwise.
    #[default]
    Auto,
    /// Always JSON-RPC.
    JsonRpc,
    /// Always JSON-2.
    Json2,
}

/// Client configuration. `Debug` never shows the API key.
#[derive(Debug, Clone)]
pub struct Config {
    /// The server's base URL, e.g. `https://erp.example.com` (a path prefix is kept).
    pub url: Url,
    /// The database name (`X-Odoo-Database` on JSON-2, first `execute_kw` argument on JSON-RPC).
    pub database: String,
    /// The login of the API user (JSON-RPC `authenticate`; unused on JSON-2).
    pub login: String,
    /// The API key (or, on a test server, the password).
    pub api_key: SecretString,
    /// Transport selection.
    pub transport: TransportChoice,
    /// TCP + TLS connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout (send, Odoo's work, answer). Keep it above the slowest expected call.
    pub request_timeout: Duration,
    /// Calls in flight at once for this client (the per-Odoo-instance limit of docs/odoo-api.md §15).
    pub max_concurrency: usize,
    /// How long an idle pooled connection is kept.
    pub pool_idle_timeout: Duration,
    /// The largest answer read (bytes): a bigger one is refused as it arrives, so one server's
    /// answer can never exhaust the connector's memory.
    pub max_answer_bytes: usize,
    /// Context sent with every call (e.g. `lang`, `tz`); a call's own context overrides its keys.
    pub context: Map<String, Value>,
    /// `User-Agent` header.
    pub user_agent: String,
    /// Hooks around every model call (rate limiting, metrics); none by default.
    pub observer: Option<Observer>,
}

/// Hooks the connector runs around every model call: `before` may wait (a rate limit), `after`
/// records (metrics). Neither sees arguments or results, only the model and method names.
pub trait CallObserver: Send + Sync + 'static {
    /// Runs before the call is sent.
    fn before<'a>(
        &'a self,
        model: &'a str,
        method: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>;
    /// Runs when the call has an answer or an error.
    fn after(&self, model: &str, method: &str, elapsed: Duration, ok: bool);
}

/// A shared [`CallObserver`].
#[derive(Clone)]
pub struct Observer(pub Arc<dyn CallObserver>);

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Observer")
    }
}

impl Config {
    /// A configuration with the defaults: automatic transport, 10 s connect, 120 s request, 4 calls in
    /// flight, 90 s idle connections, answers up to 64 MiB.
    pub fn new(url: &str, database: &str, login: &str, api_key: SecretString) -> Result<Self> {
        let url = Url::parse(url).map_err(|e| Error::config(format!("bad Odoo URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::config("the Odoo URL must be http or https"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Error::config(
                "the Odoo URL must not carry credentials; use login and api_key",
            ));
        }
        Ok(Config {
            url,
            database: database.to_owned(),
            login: login.to_owned(),
            api_key,
            transport: TransportChoice::Auto,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            max_concurrency: 4,
            pool_idle_timeout: Duration::from_secs(90),
            max_answer_bytes: 64 * 1024 * 1024,
            context: Map::new(),
            user_agent: concat!("salla-odoo-connector/", env!("CARGO_PKG_VERSION")).to_owned(),
            observer: None,
        })
    }
}

/// A method call on a model, the escape hatch for anything the typed operations do not cover.
///
/// Parameters are named, because JSON-2 has no positional arguments. On JSON-RPC the record ids and the
/// [`Call::arg`] parameters are sent positionally (in order) and the [`Call::kwarg`] ones as keyword
/// arguments; on JSON-2 all of them are body keys.
#[derive(Debug, Clone)]
pub struct Call {
    model: String,
    method: String,
    ids: Option<Vec<Id>>,
    args: Vec<(String, Value)>,
    kwargs: Map<String, Value>,
    context: Map<String, Value>,
}

impl Call {
    /// `model.method()` with no arguments.
    pub fn new(model: &str, method: &str) -> Self {
        Call {
            model: model.to_owned(),
            method: method.to_owned(),
            ids: None,
            args: Vec::new(),
            kwargs: Map::new(),
            context: Map::new(),
        }
    }

    /// The records the method runs on (first positional argument; JSON-2 `ids`).
    pub fn ids(mut self, ids: &[Id]) -> Self {
        self.ids = Some(ids.to_vec());
        self
    }

    /// A parameter sent positionally on JSON-RPC and by `name` on JSON-2 (give the Python parameter name).
    pub fn arg(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.args.push((name.to_owned(), value.into()));
        self
    }

    /// A keyword parameter.
    pub fn kwarg(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.kwargs.insert(name.to_owned(), value.into());
        self
    }

    /// Adds context keys for this call (they override the client's).
    pub fn context(mut self, ctx: Map<String, Value>) -> Self {
        self.context.extend(ctx);
        self
    }

    /// Adds one context key.
    pub fn with_context(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.context.insert(key.to_owned(), value.into());
        self
    }

    /// The model.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The method.
    pub fn method(&self) -> &str {
        &self.method
    }
}

/// The answer of [`Client::lookup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// No record matches: creating is safe.
    None,
    /// Exactly one record matches: adopt it into the mapping instead of creating.
    One(Id),
    /// Several records match: the key is not unique in this database; a person must decide.
    Several,
}

/// Options of `search` and `search_read`.
#[derive(Debug, Clone, Default)]
pub struct SearchOptions {
    /// `limit`
    pub limit: Option<u32>,
    /// `offset`
    pub offset: Option<u32>,
    /// `order`, e.g. `"id desc"`
    pub order: Option<String>,
}

impl SearchOptions {
    /// Only `limit`.
    pub fn limit(limit: u32) -> Self {
        SearchOptions {
            limit: Some(limit),
            ..Default::default()
        }
    }
}

/// The session with one server: made once, shared by clones.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub version: ServerVersion,
    pub transport: Transport,
    /// The uid for `execute_kw` (JSON-RPC only).
    pub uid: Option<Id>,
    /// Taken from seeded capabilities without asking Odoo ([`Client::seed_capabilities`]).
    pub seeded: bool,
}

struct Inner {
    http: Http,
    login: String,
    transport: TransportChoice,
    next_id: AtomicU64,
    /// The session and the probe, each made once; [`Client::refresh`] swaps in empty cells.
    session: RwLock<Arc<OnceCell<Arc<Session>>>>,
    capabilities: RwLock<Arc<OnceCell<Arc<Capabilities>>>>,
    /// Capabilities probed before (by another process, kept by the caller): used instead of the
    /// probe when the session's server version and transport are theirs, and as the session when
    /// they carry all of it. Dropped once they prove wrong.
    seed: std::sync::Mutex<Option<Arc<Capabilities>>>,
    /// The capabilities in the cell came from this client's own probe, and no caller has taken
    /// them yet ([`Client::take_probed`]).
    probed: std::sync::atomic::AtomicBool,
    /// A call was refused for naming an unknown field since the last [`Client::take_invalid_field`].
    invalid_field: std::sync::atomic::AtomicBool,
    observer: Option<Observer>,
    /// Small answers callers keep for a while ([`Client::memo`]): key → (expiry, value). Emptied by
    /// [`Client::refresh`]; gone with the client.
    memo: std::sync::Mutex<std::collections::HashMap<String, (Instant, Value)>>,
    /// One lock per memo key being filled ([`Client::memo_fill`]): concurrent jobs that miss the
    /// same key wait for the first one's look-up instead of each asking Odoo.
    filling: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Creates waiting to go together ([`Client::create_many_together`]), per model and context.
    together: std::sync::Mutex<std::collections::HashMap<String, Together>>,
}

/// The creates of one model (and context) waiting for the one in flight to end.
#[derive(Default)]
struct Together {
    in_flight: bool,
    waiting: Vec<Waiting>,
}

/// One caller's records, and where its answer goes.
type Waiting = (
    Vec<Map<String, Value>>,
    tokio::sync::oneshot::Sender<TogetherOutcome>,
);

/// What one caller of [`Client::create_many_together`] gets back.
enum TogetherOutcome {
    /// Its own records' ids, or the error of a call that held only its records.
    Done(Result<Vec<Id>>),
    /// The call holding its records and others' got no answer: it may have committed.
    Unknown(String),
}

impl Inner {
    /// The creates waiting to go together (a poisoned lock still holds consistent entries: each
    /// is changed in one step).
    fn together(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Together>> {
        self.together
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Ends a [`Client::create_many_together`] task however it stops: a panic or a runtime shutdown
/// leaves no caller waiting for a task that is gone (their answer is then outcome-unknown).
struct TogetherEnd<'a> {
    inner: &'a Inner,
    key: &'a str,
    /// Ended normally: marked idle already.
    done: bool,
}

impl Drop for TogetherEnd<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if let Some(t) = self.inner.together().get_mut(self.key) {
            t.in_flight = false;
            // Dropping the senders answers their callers.
            t.waiting.clear();
        }
    }
}

/// The current cell of a refreshable value (a poisoned lock still holds a valid `Arc`).
fn current<T>(lock: &RwLock<Arc<OnceCell<T>>>) -> Arc<OnceCell<T>> {
    Arc::clone(
        &lock
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
}

fn lock_seed(
    seed: &std::sync::Mutex<Option<Arc<Capabilities>>>,
) -> std::sync::MutexGuard<'_, Option<Arc<Capabilities>>> {
    // One assignment at a time: consistent after any panic.
    seed.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn renew<T>(lock: &RwLock<Arc<OnceCell<T>>>) {
    *lock
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(OnceCell::new());
}

/// An Odoo client for one server and database. Cheap to clone; clones share connections, the concurrency
/// limit, the session and the capability probe.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    context: Arc<Map<String, Value>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("http", &self.inner.http)
            .field("login", &self.inner.login)
            .field("transport", &self.inner.transport)
            .field("session", &current(&self.inner.session).get())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Builds a client. No request is made until the first call.
    pub fn new(config: Config) -> Result<Self> {
        let http = Http::new(HttpOptions {
            base: config.url,
            database: config.database,
            api_key: config.api_key,
            connect_timeout: config.connect_timeout,
            request_timeout: config.request_timeout,
            max_concurrency: config.max_concurrency,
            max_answer_bytes: config.max_answer_bytes,
            pool_idle_timeout: config.pool_idle_timeout,
            user_agent: config.user_agent,
        })?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                login: config.login,
                transport: config.transport,
                next_id: AtomicU64::new(1),
                session: RwLock::new(Arc::new(OnceCell::new())),
                capabilities: RwLock::new(Arc::new(OnceCell::new())),
                seed: std::sync::Mutex::new(None),
                probed: Default::default(),
                invalid_field: Default::default(),
                observer: config.observer,
                memo: std::sync::Mutex::new(std::collections::HashMap::new()),
                filling: std::sync::Mutex::new(std::collections::HashMap::new()),
                together: std::sync::Mutex::new(std::collections::HashMap::new()),
            }),
            context: Arc::new(config.context),
        })
    }

    /// A view of this client whose calls also carry `ctx` (e.g. `tracking_disable`). Shares everything else.
    pub fn with_context(&self, ctx: Map<String, Value>) -> Client {
        let mut merged = (*self.context).clone();
        merged.extend(ctx);
        Client {
            inner: Arc::clone(&self.inner),
            context: Arc::new(merged),
        }
    }

    /// Which Odoo database this client writes to, as `<base url>|<database>`: two clients with the same
    /// scope see the same records (e.g. several Salla stores sharing one Odoo).
    pub fn scope(&self) -> String {
        format!("{}|{}", self.inner.http.base(), self.inner.http.database())
    }

    /// The server version (from `common.version`, made once).
    pub async fn version(&self) -> Result<ServerVersion> {
        Ok(self.session().await?.version.clone())
    }

    /// The transport in use (made once from the version unless configured).
    pub async fn transport(&self) -> Result<Transport> {
        Ok(self.session().await?.transport)
    }

    /// The uid of the API user (JSON-RPC); `None` on JSON-2, which needs none.
    pub async fn uid(&self) -> Result<Option<Id>> {
        Ok(self.session().await?.uid)
    }

    /// The capability probe (version and renamed fields), made once per client and cached. With
    /// seeded capabilities ([`Client::seed_capabilities`]) for the server version (major, minor,
    /// serie, saas) and transport of the session, those, without a call beyond the session's.
    pub async fn capabilities(&self) -> Result<Arc<Capabilities>> {
        current(&self.inner.capabilities)
            .get_or_try_init(|| async {
                let session = self.session().await?;
                if let Some(seed) = self.seed_for(&session) {
                    return Ok(seed);
                }
                let caps = crate::probe::probe(self, &session).await.map(Arc::new)?;
                self.inner.probed.store(true, Ordering::Release);
                Ok(caps)
            })
            .await
            .cloned()
    }

    /// Capabilities probed earlier for this server (e.g. kept in a database by another process),
    /// used by [`Client::capabilities`] instead of its five `fields_get` calls when the server's
    /// version and the transport are theirs; otherwise the client probes as usual.
    ///
    /// When they also know the session they were probed on (JSON-2, or a JSON-RPC uid) and their
    /// transport is the one this client's configuration picks for their version, the session is
    /// theirs too: the client trusts their version and uid and asks Odoo neither `common.version`
    /// nor `authenticate` (the caller decides how long kept capabilities are trusted). A call on
    /// that session refused with `AccessDenied` (the user was recreated under another uid) drops
    /// the seed, opens a real session and is made once more; an unknown field drops it too.
    ///
    /// Give them before the first call: a session and capabilities already made stay until
    /// [`Client::refresh`].
    pub fn seed_capabilities(&self, caps: Capabilities) {
        *lock_seed(&self.inner.seed) = Some(Arc::new(caps));
    }

    /// [`Client::seed_capabilities`], as a builder.
    pub fn with_capabilities(self, caps: Capabilities) -> Self {
        self.seed_capabilities(caps);
        self
    }

    /// The capabilities this client has (probed or seeded), without asking for them.
    pub fn known_capabilities(&self) -> Option<Arc<Capabilities>> {
        current(&self.inner.capabilities).get().cloned()
    }

    /// The capabilities this client probed itself (not seeded), once: the first caller after a probe
    /// takes them (to keep them for the next client), later ones get `None` until the next probe.
    pub fn take_probed(&self) -> Option<Arc<Capabilities>> {
        if self.inner.probed.swap(false, Ordering::AcqRel) {
            self.known_capabilities()
        } else {
            None
        }
    }

    /// Whether a call was refused for naming an unknown field (see [`Error::is_invalid_field`])
    /// since the last time this was asked. Capabilities kept elsewhere should then be dropped: a
    /// module uninstalled or an Odoo upgraded in place changes field names.
    pub fn take_invalid_field(&self) -> bool {
        self.inner.invalid_field.swap(false, Ordering::AcqRel)
    }

    fn seed_for(&self, session: &Session) -> Option<Arc<Capabilities>> {
        let mut kept = lock_seed(&self.inner.seed);
        let seed = kept.clone()?;
        if seed.version == session.version && seed.transport == session.transport {
            tracing::debug!(version = %seed.version.serie, "odoo capabilities seeded");
            Some(seed)
        } else {
            tracing::debug!(
                seeded = %seed.version.serie, server = %session.version.serie,
                "seeded odoo capabilities are for another version or transport: probing"
            );
            // Not this server's: the probe's capabilities are the client's own from now on.
            kept.take();
            None
        }
    }

    /// The session the seed was probed on, when it knows all of it and this client's
    /// configuration would pick its transport for its version: trusted without asking Odoo.
    fn seeded_session(&self) -> Option<Session> {
        let seed = lock_seed(&self.inner.seed).clone()?;
        if pick_transport(self.inner.transport, &seed.version) != seed.transport {
            return None;
        }
        let uid = match seed.transport {
            Transport::JsonRpc => Some(seed.uid.filter(|u| *u > 0)?),
            Transport::Json2 => None,
        };
        tracing::debug!(
            version = %seed.version.serie, transport = ?seed.transport,
            "odoo session taken from the seeded capabilities"
        );
        Some(Session {
            version: seed.version.clone(),
            transport: seed.transport,
            uid,
            seeded: true,
        })
    }

    /// A call named an unknown field: remember it for [`Client::take_invalid_field`], and when the
    /// capabilities in use came from a seed, forget them and the session, so that the next call
    /// reads the server's version again (an upgrade in place changes it) and the next
    /// [`Client::capabilities`] probes (the client's own probe is as fresh as it gets: kept, as
    /// before seeds existed).
    fn invalid_field_seen(&self) {
        self.inner.invalid_field.store(true, Ordering::Release);
        if lock_seed(&self.inner.seed).take().is_some() {
            renew(&self.inner.capabilities);
            renew(&self.inner.session);
        }
    }

    /// A call on the seed's session `used` was refused with `AccessDenied`: forget the seed, the
    /// capabilities taken from it and that session (unless another call already replaced it), so
    /// that the next call opens a real one.
    fn seeded_session_refused(&self, used: &Arc<Session>) {
        // The seed first: a session opened from here on is a real one.
        if lock_seed(&self.inner.seed).take().is_some() {
            renew(&self.inner.capabilities);
        }
        let mut cell = self
            .inner
            .session
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cell.get().is_some_and(|s| Arc::ptr_eq(s, used)) {
            *cell = Arc::new(OnceCell::new());
        }
    }

    /// Forgets the session (version, transport, uid), the capability probe and any seeded
    /// capabilities; the next call makes them again. For when the server may have changed under a
    /// long-lived client: a permanent "unknown field" or "unknown method" error after an upgrade
    /// (docs/odoo-api.md §8: re-probe `fields_get`). Calls in flight finish with what they had.
    pub fn refresh(&self) {
        renew(&self.inner.session);
        renew(&self.inner.capabilities);
        lock_seed(&self.inner.seed).take();
        self.inner.probed.store(false, Ordering::Release);
        self.memo_lock().clear();
    }

    /// A value a caller kept with [`Client::remember`] under `key`, unless its time is up. For facts
    /// about this server that change rarely and would otherwise cost a call per job (which pricelist
    /// a currency uses): they live as long as the client, at most their time to live, and are
    /// forgotten by [`Client::refresh`].
    pub fn memo(&self, key: &str) -> Option<Value> {
        let mut memo = self.memo_lock();
        match memo.get(key) {
            Some((until, v)) if *until > Instant::now() => Some(v.clone()),
            Some(_) => {
                memo.remove(key);
                None
            }
            None => None,
        }
    }

    /// [`Client::memo`] of `key`, else the value `fill` looks up, kept for `ttl` when it is
    /// `Some` (a `None` or an error is not kept: the next caller asks again). One look-up at a
    /// time per key: callers that miss meanwhile wait for it and take its answer.
    pub async fn memo_fill<E, F, Fut>(
        &self,
        key: &str,
        ttl: Duration,
        fill: F,
    ) -> std::result::Result<Option<Value>, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = std::result::Result<Option<Value>, E>>,
    {
        if let Some(hit) = self.memo(key) {
            return Ok(Some(hit));
        }
        let slot = Arc::clone(
            self.inner
                .filling
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry(key.to_owned())
                .or_default(),
        );
        let _turn = slot.lock().await;
        if let Some(hit) = self.memo(key) {
            return Ok(Some(hit));
        }
        let value = fill().await?;
        if let Some(v) = &value {
            self.remember(key, v.clone(), ttl);
        }
        Ok(value)
    }

    /// Keeps `value` under `key` for `ttl` (see [`Client::memo`]).
    pub fn remember(&self, key: &str, value: Value, ttl: Duration) {
        self.memo_lock()
            .insert(key.to_owned(), (Instant::now() + ttl, value));
    }

    /// Forgets what was kept under `key` (e.g. after Odoo refused it).
    pub fn forget(&self, key: &str) {
        self.memo_lock().remove(key);
    }

    fn memo_lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, (Instant, Value)>> {
        self.inner
            .memo
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) async fn session(&self) -> Result<Arc<Session>> {
        current(&self.inner.session)
            .get_or_try_init(|| async { self.open_session().await.map(Arc::new) })
            .await
            .cloned()
    }

    async fn open_session(&self) -> Result<Session> {
        if let Some(session) = self.seeded_session() {
            return Ok(session);
        }
        let version = match self.inner.transport {
            TransportChoice::Json2 => match self.web_version().await {
                Ok(v) => v,
                Err(e) if e.class() == crate::ErrorClass::Permanent => {
                    self.common_version().await?
                }
                Err(e) => return Err(e),
            },
            _ => match self.common_version().await {
                Ok(v) => v,
                // JSON-RPC switched off (newer servers answer 404): ask the JSON-2-era endpoint.
                Err(e) if e.class() == crate::ErrorClass::Permanent => {
                    self.web_version().await.map_err(|_| e)?
                }
                Err(e) => return Err(e),
            },
        };
        let transport = pick_transport(self.inner.transport, &version);
        let uid = match transport {
            Transport::JsonRpc => Some(self.authenticate().await?),
            Transport::Json2 => None,
        };
        tracing::debug!(version = %version.serie, ?transport, "odoo session opened");
        Ok(Session {
            version,
            transport,
            uid,
            seeded: false,
        })
    }

    /// `common.version` over JSON-RPC.
    pub async fn common_version(&self) -> Result<ServerVersion> {
        let v = self.rpc("common", "version", json!([])).await?;
        ServerVersion::from_common_version(&v)
    }

    /// `GET /web/version` (19+).
    async fn web_version(&self) -> Result<ServerVersion> {
        let answer = self.inner.http.get_path("web/version").await?;
        if answer.status != 200 {
            return Err(self.inner.http.status_error(&answer));
        }
        let v: Value = serde_json::from_slice(&answer.body)
            .map_err(|e| Error::config(format!("/web/version is not JSON: {e}")))?;
        ServerVersion::from_web_version(&v)
    }

    /// `common.authenticate(db, login, key, {})`: the uid, or [`Error::AuthenticationFailed`] when Odoo
    /// answers `false` (a permanent error). Older servers may raise `AccessDenied` instead; both are permanent.
    pub async fn authenticate(&self) -> Result<Id> {
        let http = &self.inner.http;
        let args = json!([
            http.database(),
            self.inner.login,
            http.api_key().expose_secret(),
            {}
        ]);
        let v = self.rpc("common", "authenticate", args).await?;
        uid_from_authenticate(&v, &self.inner.login, http.database())
    }

    /// One raw JSON-RPC call: `{"service", "method", "args"}`.
    pub async fn rpc(&self, service: &str, method: &str, args: Value) -> Result<Value> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let body = serde_json::to_vec(&json!({
            "jsonrpc": "2.0",
            "method": "call",
            "id": id,
            "params": {"service": service, "method": method, "args": args},
        }))
        .map_err(|e| Error::config(format!("cannot encode the request: {e}")))?;
        let answer = self.inner.http.post_jsonrpc(body).await?;
        self.inner.http.jsonrpc_result(answer, id)
    }

    /// Runs a [`Call`] over the session's transport and returns the raw result (`null` for `None`).
    ///
    /// Each call is an `odoo.call` span of target `otel` (model, method, outcome: never arguments or
    /// results), which a subscriber exporting traces picks up; nothing is logged of it.
    pub async fn call(&self, call: &Call) -> Result<Value> {
        use tracing::Instrument;
        let span = tracing::info_span!(
            target: "otel",
            "odoo.call",
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            odoo.model = %call.model,
            odoo.method = %call.method,
            outcome = tracing::field::Empty,
        );
        let result = self.call_in_span(call).instrument(span.clone()).await;
        if !span.is_disabled() {
            match &result {
                Ok(_) => span.record("outcome", "ok"),
                Err(e) => span
                    .record(
                        "outcome",
                        match e.class() {
                            crate::ErrorClass::Transient { .. } => "transient",
                            crate::ErrorClass::Permanent => "permanent",
                            crate::ErrorClass::OutcomeUnknown => "outcome_unknown",
                        },
                    )
                    .record("otel.status_code", "error"),
            };
        }
        result
    }

    async fn call_in_span(&self, call: &Call) -> Result<Value> {
        let session = self.session().await?;
        match self.call_on(&session, call).await {
            // The seed's uid is not the API user's (recreated since the seed was probed), or its
            // key was revoked: Odoo checks the credentials of `execute_kw` before it runs the
            // method, and raises `AccessDenied` then, so nothing ran (and any exception rolls the
            // transaction back anyway). Safe to make the call again, once, on a real session
            // (version and authenticate; the capabilities are probed again when next asked).
            Err(e) if session.seeded && session.uid.is_some() && is_access_denied(&e) => {
                tracing::debug!(
                    model = %call.model, method = %call.method,
                    "odoo refused the seeded session: authenticating"
                );
                self.seeded_session_refused(&session);
                let session = self.session().await?;
                self.call_on(&session, call).await
            }
            result => result,
        }
    }

    /// One call on `session`, observed and logged (model, method, time, error class).
    async fn call_on(&self, session: &Session, call: &Call) -> Result<Value> {
        if let Some(o) = &self.inner.observer {
            o.0.before(&call.model, &call.method).await;
        }
        let started = Instant::now();
        let result = match session.transport {
            Transport::JsonRpc => self.call_jsonrpc(session, call).await,
            Transport::Json2 => self.call_json2(call).await,
        };
        if let Some(o) = &self.inner.observer {
            o.0.after(&call.model, &call.method, started.elapsed(), result.is_ok());
        }
        if let Err(e) = &result
            && e.is_invalid_field()
        {
            self.invalid_field_seen();
        }
        match &result {
            Ok(_) => tracing::debug!(
                model = %call.model, method = %call.method,
                elapsed_ms = started.elapsed().as_millis() as u64, "odoo call"
            ),
            Err(e) => tracing::debug!(
                model = %call.model, method = %call.method,
                elapsed_ms = started.elapsed().as_millis() as u64,
                class = ?e.class(), error = %e, "odoo call failed"
            ),
        }
        result
    }

    /// Runs a [`Call`] and decodes its result.
    pub async fn call_as<T: DeserializeOwned>(&self, call: &Call) -> Result<T> {
        let v = self.call(call).await?;
        decode(v, call)
    }

    fn merged_context(&self, call: &Call) -> Option<Map<String, Value>> {
        if self.context.is_empty() && call.context.is_empty() {
            return None;
        }
        let mut ctx = (*self.context).clone();
        ctx.extend(call.context.clone());
        Some(ctx)
    }

    async fn call_jsonrpc(&self, session: &Session, call: &Call) -> Result<Value> {
        let http = &self.inner.http;
        let mut positional = Vec::with_capacity(call.args.len() + 1);
        if let Some(ids) = &call.ids {
            positional.push(json!(ids));
        }
        positional.extend(call.args.iter().map(|(_, v)| v.clone()));
        let mut kwargs = call.kwargs.clone();
        if let Some(ctx) = self.merged_context(call) {
            kwargs.insert("context".into(), Value::Object(ctx));
        }
        let args = json!([
            http.database(),
            session.uid.unwrap_or_default(),
            http.api_key().expose_secret(),
            call.model,
            call.method,
            positional,
            kwargs,
        ]);
        self.rpc("object", "execute_kw", args).await
    }

    async fn call_json2(&self, call: &Call) -> Result<Value> {
        let mut body = Map::new();
        if let Some(ids) = &call.ids {
            body.insert("ids".into(), json!(ids));
        }
        for (name, v) in &call.args {
            body.insert(name.clone(), v.clone());
        }
        for (name, v) in &call.kwargs {
            body.insert(name.clone(), v.clone());
        }
        if let Some(ctx) = self.merged_context(call) {
            body.insert("context".into(), Value::Object(ctx));
        }
        let bytes = serde_json::to_vec(&body)
            .map_err(|e| Error::config(format!("cannot encode the request: {e}")))?;
        let answer = self
            .inner
            .http
            .post_json2(&call.model, &call.method, bytes)
            .await?;
        self.inner.http.json2_result(answer)
    }

    /// `GET /web/health`: `Ok` when the server answers `{"status": "pass"}`. Needs no credentials and
    /// opens no session; a liveness probe for `doctor`-style checks.
    pub async fn health(&self) -> Result<()> {
        let answer = self.inner.http.get_path("web/health").await?;
        if answer.status != 200 {
            return Err(self.inner.http.status_error(&answer));
        }
        let v: Value = serde_json::from_slice(&answer.body)
            .map_err(|_| Error::config("/web/health did not answer JSON: check the Odoo URL"))?;
        match v.get("status").and_then(Value::as_str) {
            Some("pass") => Ok(()),
            other => Err(Error::protocol(format!(
                "/web/health answered status {other:?}"
            ))),
        }
    }

    // ----- typed operations -------------------------------------------------------------------------

    /// Search-before-create (docs/odoo-api.md §13): looks a record up by its external key and says whether
    /// none, exactly one, or several match (reads at most two ids).
    pub async fn lookup(&self, model: &str, domain: &Domain) -> Result<Lookup> {
        let ids = self.search(model, domain, &SearchOptions::limit(2)).await?;
        Ok(match ids.as_slice() {
            [] => Lookup::None,
            [one] => Lookup::One(*one),
            _ => Lookup::Several,
        })
    }

    /// `search(domain)`: matching ids.
    pub async fn search(
        &self,
        model: &str,
        domain: &Domain,
        opts: &SearchOptions,
    ) -> Result<Vec<Id>> {
        let call = with_search_options(
            Call::new(model, "search").arg("domain", domain.to_value()),
            opts,
        );
        self.call_as(&call).await
    }

    /// `search_read(domain, fields)`: matching records with the given fields (always pass fields).
    pub async fn search_read<T: DeserializeOwned>(
        &self,
        model: &str,
        domain: &Domain,
        fields: &[&str],
        opts: &SearchOptions,
    ) -> Result<Vec<T>> {
        let call = with_search_options(
            Call::new(model, "search_read")
                .arg("domain", domain.to_value())
                .kwarg("fields", json!(fields)),
            opts,
        );
        self.call_as(&call).await
    }

    /// `search_count(domain)`.
    pub async fn search_count(&self, model: &str, domain: &Domain) -> Result<u64> {
        let call = Call::new(model, "search_count").arg("domain", domain.to_value());
        self.call_as(&call).await
    }

    /// `read(ids, fields)`. Ids that do not exist are left out of the answer (no error).
    pub async fn read<T: DeserializeOwned>(
        &self,
        model: &str,
        ids: &[Id],
        fields: &[&str],
    ) -> Result<Vec<T>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let call = Call::new(model, "read")
            .ids(ids)
            .kwarg("fields", json!(fields));
        self.call_as(&call).await
    }

    /// Reads one record; `None` when it does not exist.
    pub async fn read_one(&self, model: &str, id: Id, fields: &[&str]) -> Result<Option<Record>> {
        Ok(self
            .read::<Record>(model, &[id], fields)
            .await?
            .into_iter()
            .next())
    }

    /// `create(vals)`: the new id.
    pub async fn create(&self, model: &str, vals: Map<String, Value>) -> Result<Id> {
        let transport = self.session().await?.transport;
        // JSON-RPC: a single dict, as Odoo's own clients send it, answers a single id.
        // JSON-2: `vals_list` must be a list and the answer is a list of ids.
        let vals = match transport {
            Transport::JsonRpc => Value::Object(vals),
            Transport::Json2 => json!([vals]),
        };
        let call = Call::new(model, "create").arg("vals_list", vals);
        let v = self.call(&call).await?;
        match &v {
            Value::Array(ids) if ids.len() == 1 => ids[0].as_i64(),
            other => other.as_i64(),
        }
        .ok_or_else(|| {
            Error::protocol(format!(
                "{model}.create answered {} instead of an id",
                kind_of(&v)
            ))
        })
    }

    /// `create(vals_list)`: the new ids, in order. One transaction for all of them.
    pub async fn create_many(
        &self,
        model: &str,
        vals_list: Vec<Map<String, Value>>,
    ) -> Result<Vec<Id>> {
        if vals_list.is_empty() {
            return Ok(Vec::new());
        }
        let n = vals_list.len();
        let call = Call::new(model, "create").arg("vals_list", json!(vals_list));
        let ids: Vec<Id> = self.call_as(&call).await?;
        if ids.len() != n {
            return Err(Error::protocol(format!(
                "{model}.create answered {} ids for {n} records",
                ids.len()
            )));
        }
        Ok(ids)
    }

    /// [`Client::create_many`], sent together with the creates of the same model that other jobs
    /// of this client start meanwhile: the first goes at once, and those that come while it is in
    /// flight wait for it to end and then go as one call (group commit; it adds no wait of its
    /// own). For products that matters: each create clears Odoo's caches, after which every
    /// API-key client pays a password check again.
    ///
    /// Each caller gets its own records' ids in order. A call holding several callers' records
    /// that Odoo refuses was rolled back: each caller then makes its own call, so one caller's bad
    /// record fails only that caller. One that got no answer is outcome-unknown for each of them
    /// (look up before creating again, as after any create). The calls run on a task of their own,
    /// so a caller that is dropped meanwhile (a job timed out) strands nobody.
    pub async fn create_many_together(
        &self,
        model: &str,
        vals_list: Vec<Map<String, Value>>,
    ) -> Result<Vec<Id>> {
        if vals_list.is_empty() {
            return Ok(Vec::new());
        }
        let key = format!(
            "{model}|{}",
            serde_json::to_string(&*self.context).unwrap_or_default()
        );
        let (tx, rx) = tokio::sync::oneshot::channel();
        let lead = {
            let mut together = self.inner.together();
            let t = together.entry(key.clone()).or_default();
            if t.in_flight {
                t.waiting.push((vals_list, tx));
                None
            } else {
                t.in_flight = true;
                Some((vals_list, tx))
            }
        };
        if let Some(first) = lead {
            let me = self.clone();
            let model = model.to_owned();
            // Its calls belong to the leader's span (its job's trace); a caller that joins a later
            // call finds its records created under that span too.
            tokio::spawn(
                async move { me.create_together(&key, &model, vec![first]).await }
                    .instrument(tracing::Span::current()),
            );
        }
        match rx.await {
            Ok(TogetherOutcome::Done(result)) => result,
            Ok(TogetherOutcome::Unknown(detail)) => Err(Error::NoAnswer {
                detail,
                source: None,
            }),
            Err(_) => Err(Error::NoAnswer {
                detail: "the task creating the records ended without an answer".into(),
                source: None,
            }),
        }
    }

    /// The task behind [`Client::create_many_together`]: sends `batch`, answers its callers, then
    /// the creates that waited meanwhile, until none waits.
    async fn create_together(&self, key: &str, model: &str, mut batch: Vec<Waiting>) {
        let mut end = TogetherEnd {
            inner: &self.inner,
            key,
            done: false,
        };
        loop {
            if let [(_, _)] = batch.as_slice() {
                let (vals, tx) = batch.pop().expect("one");
                let _ = tx.send(TogetherOutcome::Done(self.create_many(model, vals).await));
            } else {
                let sizes: Vec<usize> = batch.iter().map(|(v, _)| v.len()).collect();
                let all: Vec<Map<String, Value>> =
                    batch.iter().flat_map(|(v, _)| v.iter().cloned()).collect();
                match self.create_many(model, all).await {
                    Ok(ids) => {
                        let mut ids = ids.into_iter();
                        for ((_, tx), n) in batch.into_iter().zip(sizes) {
                            let _ =
                                tx.send(TogetherOutcome::Done(Ok(ids.by_ref().take(n).collect())));
                        }
                    }
                    Err(e) if e.is_outcome_unknown() => {
                        let detail = e.to_string();
                        for (_, tx) in batch {
                            let _ = tx.send(TogetherOutcome::Unknown(detail.clone()));
                        }
                    }
                    Err(_) => {
                        // Rolled back: each caller's records alone, one call each.
                        for (vals, tx) in batch {
                            let _ =
                                tx.send(TogetherOutcome::Done(self.create_many(model, vals).await));
                        }
                    }
                }
            }
            let next = {
                let mut together = self.inner.together();
                let t = together.entry(key.to_owned()).or_default();
                // Under the same lock as the callers' check: each either waits in `next` or
                // finds the model idle and leads.
                if t.waiting.is_empty() {
                    t.in_flight = false;
                }
                std::mem::take(&mut t.waiting)
            };
            if next.is_empty() {
                end.done = true;
                return;
            }
            batch = next;
        }
    }

    /// `write(ids, vals)`. Raises `MissingError` for ids that do not exist.
    pub async fn write(&self, model: &str, ids: &[Id], vals: Map<String, Value>) -> Result<bool> {
        let call = Call::new(model, "write")
            .ids(ids)
            .arg("vals", Value::Object(vals));
        Ok(truthy(&self.call(&call).await?))
    }

    /// `unlink(ids)`.
    pub async fn unlink(&self, model: &str, ids: &[Id]) -> Result<bool> {
        let call = Call::new(model, "unlink").ids(ids);
        Ok(truthy(&self.call(&call).await?))
    }

    /// `fields_get(allfields, attributes)`: field name → attributes. `allfields` limits the answer; names
    /// that do not exist are simply absent from it.
    pub async fn fields_get(
        &self,
        model: &str,
        allfields: Option<&[&str]>,
        attributes: &[&str],
    ) -> Result<Map<String, Value>> {
        let mut call = Call::new(model, "fields_get");
        if let Some(names) = allfields {
            call = call.kwarg("allfields", json!(names));
        }
        call = call.kwarg("attributes", json!(attributes));
        self.call_as(&call).await
    }
}

/// The transport `choice` makes for a server of `version`.
fn pick_transport(choice: TransportChoice, version: &ServerVersion) -> Transport {
    match choice {
        TransportChoice::JsonRpc => Transport::JsonRpc,
        TransportChoice::Json2 => Transport::Json2,
        TransportChoice::Auto if version.major >= 19 => Transport::Json2,
        TransportChoice::Auto => Transport::JsonRpc,
    }
}

/// Odoo refused the call's credentials (not its login cooldown, which is its own kind).
fn is_access_denied(e: &Error) -> bool {
    e.fault()
        .is_some_and(|f| f.kind() == crate::FaultKind::AccessDenied)
}

/// Interprets the `common.authenticate` result: a uid, or `false` for refused credentials.
pub(crate) fn uid_from_authenticate(v: &Value, login: &str, db: &str) -> Result<Id> {
    match v {
        Value::Number(n) if n.as_i64().is_some_and(|u| u > 0) => Ok(n.as_i64().unwrap_or_default()),
        Value::Bool(false) | Value::Null => Err(Error::AuthenticationFailed {
            login: login.to_owned(),
            db: db.to_owned(),
        }),
        other => Err(Error::protocol(format!(
            "authenticate answered {} instead of a uid",
            kind_of(other)
        ))),
    }
}

fn with_search_options(mut call: Call, opts: &SearchOptions) -> Call {
    if let Some(offset) = opts.offset {
        call = call.kwarg("offset", offset);
    }
    if let Some(limit) = opts.limit {
        call = call.kwarg("limit", limit);
    }
    if let Some(order) = &opts.order {
        call = call.kwarg("order", order.as_str());
    }
    call
}

pub(crate) fn decode<T: DeserializeOwned>(v: Value, call: &Call) -> Result<T> {
    let kind = kind_of(&v);
    serde_json::from_value(v).map_err(|e| {
        Error::protocol(format!(
            "{}.{} answered {kind} that does not decode: {e}",
            call.model, call.method
        ))
    })
}

/// Odoo's truthiness for a method result.
pub(crate) fn truthy(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => false,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::Bool(true) => true,
    }
}

/// A short description of a value's shape, for error messages that must not carry data.
pub(crate) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The id of a many2one value (`[id, "name"]`, a bare id, or `false`).
pub fn many2one_id(v: &Value) -> Option<Id> {
    match v {
        Value::Array(a) => a.first().and_then(Value::as_i64),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// The ids of an x2many value (`[1, 2]`).
pub fn x2many_ids(v: &Value) -> Vec<Id> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Client {
        Client::new(
            Config::new("http://127.0.0.1:9", "odoo", "admin", "k".to_owned().into()).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn the_memo_keeps_values_for_their_time_and_forgets_them_on_refresh() {
        let c = client();
        assert_eq!(c.memo("a"), None);
        c.remember("a", json!(3), Duration::from_secs(60));
        c.remember("gone", json!(1), Duration::ZERO);
        assert_eq!(c.memo("a"), Some(json!(3)));
        assert_eq!(c.clone().memo("a"), Some(json!(3)), "clones share it");
        assert_eq!(c.memo("gone"), None, "expired");
        c.forget("a");
        assert_eq!(c.memo("a"), None);
        c.remember("b", json!("x"), Duration::from_secs(60));
        c.refresh();
        assert_eq!(c.memo("b"), None, "refresh empties it");
        let other = client();
        c.remember("c", json!(1), Duration::from_secs(60));
        assert_eq!(other.memo("c"), None, "another client has its own");
    }

    #[tokio::test]
    async fn jobs_that_miss_a_memo_together_look_it_up_once() {
        let c = client();
        let looked = AtomicU64::new(0);
        let (opened, open) = tokio::sync::watch::channel(false);
        let fill = || async {
            looked.fetch_add(1, Ordering::SeqCst);
            // Hold the look-up until every caller has missed.
            open.clone().wait_for(|o| *o).await.unwrap();
            Ok::<_, Error>(Some(json!(7)))
        };
        let ttl = Duration::from_secs(60);
        let (a, b, d, ()) = tokio::join!(
            c.memo_fill("k", ttl, fill),
            c.memo_fill("k", ttl, fill),
            c.memo_fill("k", ttl, fill),
            async {
                tokio::task::yield_now().await;
                opened.send(true).unwrap();
            }
        );
        for answer in [a, b, d] {
            assert_eq!(answer.unwrap(), Some(json!(7)));
        }
        assert_eq!(looked.load(Ordering::SeqCst), 1);
        // Nothing found is not kept: the next caller asks again.
        let none = c
            .memo_fill("n", Duration::from_secs(60), || async {
                Ok::<_, Error>(None)
            })
            .await
            .unwrap();
        assert_eq!(none, None);
        let later = c
            .memo_fill("n", Duration::from_secs(60), || async {
                Ok::<_, Error>(Some(json!(1)))
            })
            .await
            .unwrap();
        assert_eq!(later, Some(json!(1)));
    }
}
