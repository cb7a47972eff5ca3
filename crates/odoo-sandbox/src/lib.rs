//! A faithful in-memory Odoo server for tests, demos and benchmarks.
//!
//! The sandbox answers like a fresh Odoo 16, 17, 18 or 19 (`sale_management`, `stock`,
//! `account`, `contacts`, no demo data) over the same wire protocols, byte for byte where the
//! recorded Odoo 18 transcript shows the bytes:
//!
//! - **JSON-RPC** `POST /jsonrpc` (all versions): services `common` (`version`, `login`,
//!   `authenticate`), `object` (`execute_kw`, `execute`) and `db` (`list`). Every answer is HTTP
//!   200; errors carry `error.code` 200 (16–18) or 0 (19), `error.message` "Odoo Server Error"
//!   and `error.data` = `{name, debug, message, arguments, context}`. A method returning Python
//!   `None` answers with no `result` key. Bodies use Python's `", "`/`": "` spacing.
//! - **JSON-2** `POST /json/2/<model>/<method>` (19 only): `Authorization: bearer <api key>`,
//!   optional `X-Odoo-Database`, named arguments in the body (`ids`, `context`, ...). Errors are
//!   `{name, message, arguments, context, debug}` with 401 (bad key), 404 (unknown model or
//!   method, private method, missing record), 403 (access error), 415 (not JSON), 422
//!   (bad parameters, `UserError`, `ValidationError`, `ValueError`, `TypeError`), 500 (others).
//!   The per-class statuses beyond 401/404/415/422 are the sandbox's choice (unconfirmed in Odoo).
//! - The web-client routes: `POST /web/session/authenticate` (sets a `session_id` cookie) and
//!   `POST /web/dataset/call_kw[/<model>/<method>]` with that cookie (no session: `error.code`
//!   100 "Odoo Session Expired"); `GET /web/health` (`{"status": "pass"}`); on 19,
//!   `GET /web/version`.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use odoo_sandbox::{FaultKind, Match, Options, Version};
//! let sb = odoo_sandbox::spawn(Options { version: Version::V17, ..Options::default() }).await?;
//! let url = sb.url(); // http://127.0.0.1:PORT, database "odoo", admin/admin (uid 2)
//! // The next sale.order.create gets a 502 from "the proxy"; nothing is written.
//! sb.faults().inject(Match::any().model("sale.order").method("create").times(1), FaultKind::Http5xx(502));
//! // Half of the confirmations commit, then the connection closes without an answer.
//! sb.faults().commit_then_drop(Match::any().method("action_confirm").rate(0.5));
//! let confirmed = sb.inspect().count("sale.order", serde_json::json!([["state", "=", "sale"]]));
//! sb.shutdown().await;
//! # let _ = (url, confirmed); Ok(()) }
//! ```
//!
//! # State
//!
//! All records live in one [`db::Db`] behind a mutex: per model a table of stored fields keyed
//! by id plus the model's id sequence, named document sequences (`S00001`, `WH/OUT/00001`,
//! `INV/<year>/00001`), and per-user credentials. Computed fields (amounts, on-hand quantities,
//! invoice status, one2many lists) are derived at read time, so they are always consistent.
//! Each model call runs as one transaction: if it fails, the tables are restored, but ids and
//! document numbers it consumed stay consumed (as with PostgreSQL sequences; the transcript
//! shows S00002 lost to a failed create). Invoice, credit note and payment numbers are the
//! exception: like Odoo's `sequence.mixin` they follow the highest number in use, so a failed
//! call does not use one up. The seed data is in [`seed`]; the field lists per version in
//! [`schema`]; the behaviour (order → delivery → invoice → payment) in [`business`], with
//! payments, credit notes and currencies in [`accounting`], attributes and variants in
//! [`variants`] and returns in [`returns`].
//!
//! # Accounting, currencies, variants and returns
//!
//! These follow the recorded Odoo 18 accounting transcript (`tests/accounting.rs` replays it):
//!
//! - **Payments**: `account.payment.register` created with context `active_model`
//!   "account.move" (or "account.move.line") and `active_ids`, then `action_create_payments`
//!   (returns the "Payments" window action with the payment as `res_id`). Partial amounts leave
//!   the invoice "partial"; a full payment leaves it "paid" (Community; "in_payment" with
//!   [`Options::in_payment_state`]). Bank journal 6 / cash journal 7 use the company's
//!   outstanding accounts 49 (receipts) and 50 (payments). `account.payment` has `memo` (18+;
//!   `ref` before), `state` "in_process" until every invoice it pays is paid, then "paid".
//! - **Credit notes**: `account.move.reversal` with the invoice in the context, then
//!   `refund_moves` (a draft `out_refund` with `reversed_entry_id`, lines copied, sale links
//!   kept) or `modify_moves`; 16 has `refund_method` + `reverse_moves`. Posting a credit note
//!   reconciles it with the invoice it reverses when that has a residual; an invoice settled only
//!   by credit notes is "reversed". A credit note of a paid invoice is paid out with the payment
//!   wizard (an outbound payment).
//! - **Sender email**: see [`Options::users_without_email`].
//! - **Groups**: `res.users.has_group` (a model method on 16, a record method from 17) answers
//!   true except for the `(login, group)` pairs of [`Options::missing_groups`] (there is no
//!   `res.groups` model).
//! - **Currencies**: company SAR; the default pricelist's currency is [`Options::pricelist_currency`];
//!   `sale.order.currency_id` is its pricelist's (an explicit `currency_id` is ignored), prices
//!   are converted from the company currency with `res.currency.rate` rows (none seeded: 1.0);
//!   invoices carry the order's currency and company-currency `*_signed` amounts. Writing
//!   `res.currency` (and `res.currency.rate`) needs an administrator (`AccessError`).
//! - **Variants**: `product.attribute` (+ `value_ids`), `product.template.attribute_line_ids`
//!   generate one `product.product` per combination; `price_extra` lives on
//!   `product.template.attribute.value`; `default_code` and `barcode` are per variant.
//! - **Returns**: `stock.return.picking` with `active_model` "stock.picking" + `active_id`, lines
//!   at quantity 0 (18+), `action_create_returns` (`create_returns` on 16/17).
//!
//! With [`Options::state_file`], the database is loaded at start (if the file exists), written
//! (atomically, via a temporary file) shortly after every committed change, and once more at
//! shutdown.
//!
//! # Faults and inspection
//!
//! See [`faults`] for the fault semantics. The admin API lives on the same port, is never
//! subject to faults, and speaks JSON:
//!
//! | Route | Effect |
//! |---|---|
//! | `GET /_sandbox` | version, database, login |
//! | `GET /_sandbox/faults`, `PUT` (a [`FaultConfig`]), `DELETE` | read, replace, clear all faults |
//! | `POST /_sandbox/faults/latency` `{"fixed_ms", "jitter_ms"}` | latency |
//! | `POST /_sandbox/faults/errors` `{"model"?, "method"?, "rate"?, "times"?, "kind"}` | add an error rule; `kind` is `{"http5xx": 503}`, `"connection_reset"`, `"serialization_failure"`, `"login_cooldown"` or `{"too_many_requests": {"retry_after_secs": 5}}` |
//! | `POST /_sandbox/faults/commit_then_drop` `{"model"?, "method"?, "rate"?, "times"?}` | add a commit-then-drop rule |
//! | `POST /_sandbox/faults/outage` `{"seconds"}` | refuse connections for that long |
//! | `POST /_sandbox/faults/expired_credentials` `{"expired": true}` | every authentication fails |
//! | `POST /_sandbox/users/email` `{"login", "email"}` | give a user an email address, or take it away (`"email": null`): see [`Options::users_without_email`] |
//! | `GET` or `POST /_sandbox/inspect` `model`, `domain` (JSON), `fields`, `limit` | `{"model", "count", "records"}` |
//! | `GET /_sandbox/calls` | how many calls each `model.method` received |
//! | `GET /_sandbox/calls/api_key` | `{"calls": N}`: how many of them authenticated with an API key (a connector), not a password (a person's script) |
//! | `GET /_sandbox/stats`, `POST /_sandbox/stats/reset` | with a cost model: busy time, time in line, calls and busy time per `model.method` ([`cost`]) |
//! | `POST /_sandbox/reset` | back to the fresh database, faults cleared, call counters zeroed |

pub mod accounting;
pub mod business;
pub mod cost;
pub mod db;
pub mod dispatch;
pub mod domain;
pub mod error;
pub mod faults;
mod pyjson;
pub mod returns;
mod rpc;
pub mod schema;
pub mod seed;
mod server;
pub mod variants;

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use error::OdooError;
pub use faults::{ErrorRule, FaultConfig, FaultKind, Faults, Latency, Match};

/// The Odoo major version the sandbox impersonates.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
pub enum Version {
    #[serde(rename = "16")]
    V16,
    #[serde(rename = "17")]
    V17,
    #[serde(rename = "18")]
    #[default]
    V18,
    #[serde(rename = "19")]
    V19,
}

impl Version {
    pub fn major(self) -> u32 {
        match self {
            Version::V16 => 16,
            Version::V17 => 17,
            Version::V18 => 18,
            Version::V19 => 19,
        }
    }
    pub const ALL: [Version; 4] = [Version::V16, Version::V17, Version::V18, Version::V19];
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.major())
    }
}

impl FromStr for Version {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().trim_end_matches(".0") {
            "16" => Ok(Version::V16),
            "17" => Ok(Version::V17),
            "18" => Ok(Version::V18),
            "19" => Ok(Version::V19),
            other => Err(format!(
                "unsupported Odoo version {other:?} (expected 16, 17, 18 or 19)"
            )),
        }
    }
}

/// An additional user created at start (uids 6, 7, ... in order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSpec {
    pub login: String,
    pub name: String,
    pub password: String,
    pub api_key: String,
    /// Member of Administration/Settings (may read `ir.config_parameter`).
    pub admin: bool,
}

/// How to start a sandbox.
#[derive(Debug, Clone)]
pub struct Options {
    pub version: Version,
    pub database: String,
    pub login: String,
    pub password: String,
    pub api_key: String,
    /// Keep the data across restarts in this JSON file.
    pub state_file: Option<PathBuf>,
    /// Initial latency (also switchable at run time through [`Sandbox::faults`]).
    pub latency: Latency,
    /// Users besides `admin` (e.g. a non-admin `connector` user).
    pub extra_users: Vec<UserSpec>,
    /// Logins whose user has no email address. Empty by default: `admin` has one and each extra
    /// user gets `<login>@example.com` (or its login when that is an address). Odoo refuses to
    /// post a chatter message as a user without one, so for such a user these calls fail with
    /// `UserError` "Unable to send message, please configure the sender's email address." and
    /// roll back (as the recorded connector user did): registering a payment that fully pays an
    /// invoice (or credit note) linked to a sale order, posting a credit note of such an invoice
    /// that reconciles it to paid, and `stock.return.picking.action_create_returns`. Switchable at
    /// run time with `POST /_sandbox/users/email`.
    pub users_without_email: Vec<String>,
    /// Currency (ISO code: EUR, USD, SAR or AED) of the default pricelist 1 "Default", which new
    /// sale orders get and whose currency they carry. `None` (default): the company's, SAR, so
    /// orders and invoices are in SAR. The recorded Odoo 18 database had it in USD.
    pub pricelist_currency: Option<String>,
    /// Behave as with Odoo Enterprise's accounting app (`account_accountant`): a fully paid
    /// invoice shows `payment_state` "in_payment" (and its payment stays "in_process") until the
    /// payment is matched with a bank statement, which never happens in the sandbox. Default
    /// (Community, as recorded): "paid".
    pub in_payment_state: bool,
    /// Make each call cost what Odoo's does, with calls beyond the model's capacity waiting in
    /// line ([`cost`]). `None` (default): every call is answered at once.
    pub cost_model: Option<cost::CostModel>,
    /// `(login, group external id)` pairs, e.g. `("connector", "stock.group_stock_user")`: the
    /// groups a user lacks, as `res.users.has_group` answers them (the sandbox has no
    /// `res.groups`: every other user and group answers true). `has_group` is a model method on
    /// 16 (it checks the calling user) and a record method from 17 (`[[uid], "module.group"]`).
    pub missing_groups: Vec<(String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            version: Version::V18,
            database: "odoo".into(),
            login: "admin".into(),
            password: "admin".into(),
            api_key: "admin".into(),
            state_file: None,
            latency: Latency::default(),
            extra_users: Vec::new(),
            users_without_email: Vec::new(),
            pricelist_currency: None,
            in_payment_state: false,
            cost_model: None,
            missing_groups: Vec::new(),
        }
    }
}

impl Options {
    pub fn version(mut self, v: Version) -> Self {
        self.version = v;
        self
    }
}

/// A running sandbox (see [`spawn`]).
pub struct Sandbox {
    addr: SocketAddr,
    shared: Arc<server::Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Sandbox {
    /// What the cost model measured (`GET /_sandbox/stats`): busy time, time in line, calls and
    /// busy time per `model.method`. `None` without a cost model.
    pub fn cost_stats(&self) -> Option<Value> {
        self.shared.cost.as_ref().map(cost::Cost::stats)
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }
    pub fn inspect(&self) -> Inspector {
        Inspector {
            shared: self.shared.clone(),
        }
    }
    pub fn version(&self) -> Version {
        self.shared.opts.version
    }
    /// Back to the fresh database; faults cleared (latency back to [`Options::latency`]); call
    /// counters cleared.
    pub fn reset(&self) {
        self.shared.reset();
    }
    /// Stop accepting, finish open requests, write the state file.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Read access to the sandbox's records, for assertions.
#[derive(Clone)]
pub struct Inspector {
    shared: Arc<server::Shared>,
}

impl Inspector {
    /// Number of records of `model` matching `domain` (archived records included).
    pub fn count(&self, model: &str, domain: Value) -> Result<usize, OdooError> {
        self.shared.count(model, &domain)
    }
    /// All fields (as `read` returns them) of the records matching `domain`.
    pub fn dump(&self, model: &str, domain: Value) -> Result<Vec<Value>, OdooError> {
        self.shared.search(model, &domain, None, None)
    }
    /// Some fields of the records matching `domain`.
    pub fn read(
        &self,
        model: &str,
        domain: Value,
        fields: &[&str],
    ) -> Result<Vec<Value>, OdooError> {
        let f: Vec<String> = fields.iter().map(|s| (*s).to_owned()).collect();
        self.shared.search(model, &domain, Some(&f), None)
    }
    /// How many calls `model.method` (or `common.authenticate`, ...) received.
    pub fn calls(&self, model: &str, method: &str) -> u64 {
        self.shared.calls(&format!("{model}.{method}"))
    }
    /// All call counters.
    pub fn all_calls(&self) -> Map<String, Value> {
        self.shared.all_calls()
    }
    /// How many calls authenticated with an API key (`GET /_sandbox/calls/api_key`).
    pub fn api_key_calls(&self) -> u64 {
        self.shared.api_key_calls()
    }
}

/// Start a sandbox on `127.0.0.1:0` in the background.
pub async fn spawn(opts: Options) -> std::io::Result<Sandbox> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(server::Shared::new(opts)?);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server::run(listener, shared.clone(), async move {
        let _ = rx.await;
    }));
    Ok(Sandbox {
        addr,
        shared,
        stop: Some(tx),
        task,
    })
}

/// Serve on `listener` until `shutdown` completes (then finish open requests and persist).
pub async fn serve(
    listener: tokio::net::TcpListener,
    opts: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let shared = Arc::new(server::Shared::new(opts)?);
    server::run(listener, shared, shutdown).await
}

/// How long shutdown waits for open requests.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
