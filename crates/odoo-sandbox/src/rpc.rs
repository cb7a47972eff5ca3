//! The wire protocols: JSON-RPC envelopes, JSON-2 requests and errors, and the admin API.
#![allow(clippy::result_large_err)] // `Err` is an immediate HTTP answer, built once per request.

use http::{HeaderMap, Method, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::Version;
use crate::db::truthy;
use crate::dispatch::{self, Args};
use crate::error::OdooError;
use crate::faults::{FaultConfig, FaultKind, Match};
use crate::server::{Resp, Shared, json_response, respond};

/// A parsed Odoo request, before faults and execution.
pub(crate) enum Call {
    JsonRpc {
        id: Value,
        service: String,
        method: String,
        args: Vec<Value>,
    },
    Json2 {
        model: String,
        method: String,
        key: Option<String>,
        body: Map<String, Value>,
    },
    /// `POST /web/session/authenticate` (the web client's login).
    WebAuth {
        id: Value,
        params: Map<String, Value>,
    },
    /// `POST /web/dataset/call_kw[/<model>/<method>]` with the session cookie.
    WebCallKw {
        id: Value,
        session: Option<String>,
        model: String,
        method: String,
        args: Vec<Value>,
        kwargs: Map<String, Value>,
    },
}

impl Call {
    pub fn model(&self) -> Option<&str> {
        match self {
            Call::JsonRpc {
                service,
                method,
                args,
                ..
            } if service == "object" && (method == "execute_kw" || method == "execute") => {
                args.get(3).and_then(Value::as_str)
            }
            Call::JsonRpc { .. } | Call::WebAuth { .. } => None,
            Call::Json2 { model, .. } | Call::WebCallKw { model, .. } => Some(model),
        }
    }
    pub fn method(&self) -> &str {
        match self {
            Call::JsonRpc {
                service,
                method,
                args,
                ..
            } if service == "object" && (method == "execute_kw" || method == "execute") => {
                args.get(4).and_then(Value::as_str).unwrap_or(method)
            }
            Call::JsonRpc { method, .. }
            | Call::Json2 { method, .. }
            | Call::WebCallKw { method, .. } => method,
            Call::WebAuth { .. } => "authenticate",
        }
    }
    /// The password or API key the call authenticates with (`execute_kw`'s third argument, JSON-2's
    /// bearer key); `None` for session calls and logins.
    pub fn credential(&self) -> Option<&str> {
        match self {
            Call::JsonRpc { service, args, .. } if service == "object" => {
                args.get(2).and_then(Value::as_str)
            }
            Call::Json2 { key, .. } => key.as_deref(),
            _ => None,
        }
    }

    /// The password or API key the call carries: [`Call::credential`], or a login's
    /// (`common.authenticate`/`login`, the third argument).
    pub fn secret(&self) -> Option<&str> {
        match self {
            Call::JsonRpc { service, args, .. } if service == "common" => {
                args.get(2).and_then(Value::as_str)
            }
            _ => self.credential(),
        }
    }

    pub fn key(&self) -> String {
        match (self.model(), self) {
            (Some(m), _) => format!("{m}.{}", self.method()),
            (
                None,
                Call::JsonRpc {
                    service, method, ..
                },
            ) => format!("{service}.{method}"),
            (None, _) => self.method().to_owned(),
        }
    }
}

const NOT_FOUND_HTML: &str = "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n";

fn not_found() -> Resp {
    respond(
        StatusCode::NOT_FOUND,
        "text/html; charset=utf-8",
        NOT_FOUND_HTML.as_bytes().to_vec(),
    )
}

fn version_info(v: Version) -> Value {
    json!([v.major(), 0, 0, "final", 0, ""])
}

/// Route and parse a request. `Err` is an immediate answer (no faults, no call).
pub(crate) fn prepare(
    shared: &Shared,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Call, Resp> {
    let v = shared.opts.version;
    match (method, path) {
        (&Method::GET, "/web/health") => {
            Err(json_response(StatusCode::OK, &json!({"status": "pass"})))
        }
        (&Method::GET, "/web/version") if v >= Version::V19 => Err(json_response(
            StatusCode::OK,
            &json!({"version_info": version_info(v), "version": format!("{}.0", v.major())}),
        )),
        (&Method::POST, "/jsonrpc") => {
            let Ok(req) = serde_json::from_slice::<Value>(body) else {
                return Err(respond(
                    StatusCode::BAD_REQUEST,
                    "text/plain",
                    b"Invalid JSON data".to_vec(),
                ));
            };
            let Value::Object(req) = req else {
                return Err(respond(
                    StatusCode::BAD_REQUEST,
                    "text/plain",
                    b"Invalid JSON-RPC data".to_vec(),
                ));
            };
            let id = req.get("id").cloned().unwrap_or(Value::Null);
            let params = req
                .get("params")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let service = params.get("service").and_then(Value::as_str);
            let m = params.get("method").and_then(Value::as_str);
            let args = params.get("args");
            match (service, m, args) {
                (Some(s), Some(m), Some(Value::Array(a))) => Ok(Call::JsonRpc {
                    id,
                    service: s.to_owned(),
                    method: m.to_owned(),
                    args: a.clone(),
                }),
                _ => {
                    let err = OdooError::type_error(
                        "jsonrpc() missing 3 required positional arguments: 'service', 'method', and 'args'",
                    );
                    Err(json_response(StatusCode::OK, &rpc_error(v, &id, &err)))
                }
            }
        }
        (&Method::POST, "/web/session/authenticate") => {
            let (id, params) = web_request(body)?;
            Ok(Call::WebAuth { id, params })
        }
        (&Method::POST, p)
            if p == "/web/dataset/call_kw" || p.starts_with("/web/dataset/call_kw/") =>
        {
            let (id, params) = web_request(body)?;
            let session = headers
                .get_all(http::header::COOKIE)
                .iter()
                .filter_map(|h| h.to_str().ok())
                .flat_map(|h| h.split(';'))
                .find_map(|c| c.trim().strip_prefix("session_id=").map(str::to_owned));
            Ok(Call::WebCallKw {
                id,
                session,
                model: params
                    .get("model")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                method: params
                    .get("method")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                args: params
                    .get("args")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
                kwargs: params
                    .get("kwargs")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default(),
            })
        }
        (_, p) if p.starts_with("/json/2/") && v >= Version::V19 => {
            if method != Method::POST {
                return Err(respond(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "text/plain",
                    b"Method Not Allowed".to_vec(),
                ));
            }
            let rest = &p["/json/2/".len()..];
            let Some((model, m)) = rest.split_once('/') else {
                return Err(not_found());
            };
            if model.is_empty() || m.is_empty() || m.contains('/') {
                return Err(not_found());
            }
            let ct = headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|h| h.to_str().ok())
                .unwrap_or_default();
            if !ct.to_ascii_lowercase().starts_with("application/json") {
                let e = OdooError::new(
                    "werkzeug.exceptions.UnsupportedMediaType",
                    "Only application/json is supported.",
                );
                return Err(json_response(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    &json2_body(&e),
                ));
            }
            if let Some(db) = headers.get("x-odoo-database").and_then(|h| h.to_str().ok())
                && db != shared.opts.database
            {
                let e = OdooError::new(
                    "werkzeug.exceptions.NotFound",
                    format!("database {db:?} not found"),
                );
                return Err(json_response(StatusCode::NOT_FOUND, &json2_body(&e)));
            }
            let key = headers
                .get(http::header::AUTHORIZATION)
                .and_then(|h| h.to_str().ok())
                .and_then(|h| {
                    let (scheme, token) = h.split_once(' ')?;
                    scheme
                        .eq_ignore_ascii_case("bearer")
                        .then(|| token.trim().to_owned())
                });
            let body = if body.iter().all(u8::is_ascii_whitespace) {
                Map::new()
            } else {
                match serde_json::from_slice::<Value>(body) {
                    Ok(Value::Object(o)) => o,
                    _ => {
                        let e =
                            OdooError::new("werkzeug.exceptions.BadRequest", "Invalid JSON data");
                        return Err(json_response(StatusCode::BAD_REQUEST, &json2_body(&e)));
                    }
                }
            };
            Ok(Call::Json2 {
                model: model.to_owned(),
                method: m.to_owned(),
                key,
                body,
            })
        }
        _ => Err(not_found()),
    }
}

fn web_request(body: &[u8]) -> Result<(Value, Map<String, Value>), Resp> {
    let Ok(Value::Object(req)) = serde_json::from_slice::<Value>(body) else {
        return Err(respond(
            StatusCode::BAD_REQUEST,
            "text/plain",
            b"Invalid JSON data".to_vec(),
        ));
    };
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let params = req
        .get("params")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    Ok((id, params))
}

fn session_expired(id: &Value) -> Value {
    let e = OdooError::new("odoo.http.SessionExpiredException", "Session expired");
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {
            "code": 100,
            "message": "Odoo Session Expired",
            "data": {"name": e.name, "debug": e.debug(), "message": e.message, "arguments": [e.message], "context": {}}
        }
    })
}

fn rpc_error(v: Version, id: &Value, e: &OdooError) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {
            "code": if v >= Version::V19 { 0 } else { 200 },
            "message": "Odoo Server Error",
            "data": {
                "name": e.name,
                "debug": e.debug(),
                "message": e.message,
                "arguments": [e.message],
                "context": {},
            }
        }
    })
}

fn json2_body(e: &OdooError) -> Value {
    json!({
        "name": e.name,
        "message": e.message,
        "arguments": [e.message],
        "context": {},
        "debug": e.debug(),
    })
}

fn json2_status(e: &OdooError) -> StatusCode {
    match e.name.as_str() {
        "werkzeug.exceptions.Unauthorized" | "odoo.exceptions.AccessDenied" => {
            StatusCode::UNAUTHORIZED
        }
        "werkzeug.exceptions.NotFound" | "odoo.exceptions.MissingError" => StatusCode::NOT_FOUND,
        "odoo.exceptions.AccessError" => StatusCode::FORBIDDEN,
        "werkzeug.exceptions.UnprocessableEntity"
        | "odoo.exceptions.UserError"
        | "odoo.exceptions.ValidationError"
        | "odoo.exceptions.RedirectWarning"
        | "builtins.ValueError"
        | "builtins.TypeError" => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An Odoo error in the transport of `call`.
pub(crate) fn error_response(shared: &Shared, call: &Call, e: &OdooError) -> Resp {
    match call {
        Call::JsonRpc { id, .. } | Call::WebAuth { id, .. } | Call::WebCallKw { id, .. } => {
            json_response(StatusCode::OK, &rpc_error(shared.opts.version, id, e))
        }
        Call::Json2 { .. } => json_response(json2_status(e), &json2_body(e)),
    }
}

fn db_error(db: &Value) -> OdooError {
    let name = db.as_str().map_or_else(|| db.to_string(), str::to_owned);
    OdooError::new(
        "psycopg2.OperationalError",
        format!(
            "connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  database \"{name}\" does not exist\n"
        ),
    )
}

fn arity(func: &str, names: &[&str], got: usize) -> Result<(), OdooError> {
    if got < names.len() {
        let missing: Vec<String> = names[got..].iter().map(|n| format!("'{n}'")).collect();
        let list = match missing.len() {
            1 => missing[0].clone(),
            _ => format!(
                "{} and {}",
                missing[..missing.len() - 1].join(", "),
                missing[missing.len() - 1]
            ),
        };
        return Err(OdooError::type_error(format!(
            "{func}() missing {} required positional argument{}: {list}",
            missing.len(),
            if missing.len() == 1 { "" } else { "s" }
        )));
    }
    if got > names.len() {
        return Err(OdooError::type_error(format!(
            "{func}() takes {} positional arguments but {got} were given",
            names.len()
        )));
    }
    Ok(())
}

/// uid for a login and a password or API key, if valid.
fn authenticate(shared: &Shared, login: &Value, secret: &Value) -> Option<i64> {
    if shared.faults.expired() {
        return None;
    }
    let (Some(login), Some(secret)) = (login.as_str(), secret.as_str()) else {
        return None;
    };
    if secret.is_empty() {
        return None;
    }
    let db = shared.db();
    let users = db.tables.get("res.users")?;
    users.rows.iter().find_map(|(uid, row)| {
        let ok = row.get("login").and_then(Value::as_str) == Some(login)
            && row.get("active").is_some_and(truthy)
            && db.credentials.get(uid).is_some_and(|c| {
                c.password == secret || (!c.api_key.is_empty() && c.api_key == secret)
            });
        ok.then_some(*uid)
    })
}

fn check_uid(shared: &Shared, uid: &Value, secret: &Value) -> Result<i64, OdooError> {
    if shared.faults.expired() {
        return Err(OdooError::access_denied());
    }
    let (Some(uid), Some(secret)) = (uid.as_i64(), secret.as_str()) else {
        return Err(OdooError::access_denied());
    };
    let db = shared.db();
    let active = db
        .tables
        .get("res.users")
        .and_then(|t| t.rows.get(&uid))
        .is_some_and(|r| r.get("active").is_some_and(truthy));
    let ok = !secret.is_empty()
        && active
        && db.credentials.get(&uid).is_some_and(|c| {
            c.password == secret || (!c.api_key.is_empty() && c.api_key == secret)
        });
    if ok {
        Ok(uid)
    } else {
        Err(OdooError::access_denied())
    }
}

fn uid_for_key(shared: &Shared, key: Option<&str>) -> Option<i64> {
    if shared.faults.expired() {
        return None;
    }
    let key = key.filter(|k| !k.is_empty())?;
    let db = shared.db();
    db.credentials.iter().find_map(|(uid, c)| {
        let active = db
            .tables
            .get("res.users")
            .and_then(|t| t.rows.get(uid))
            .is_some_and(|r| r.get("active").is_some_and(truthy));
        (active && c.api_key == key).then_some(*uid)
    })
}

fn run_model_call(
    shared: &Shared,
    uid: i64,
    model: &str,
    method: &str,
    args: Args,
    json2: bool,
) -> (Result<Option<Value>, OdooError>, bool) {
    let readonly = dispatch::spec(shared.opts.version, model, method).is_none_or(|s| s.readonly);
    let mut db = shared.db();
    let r = dispatch::execute(
        &mut db,
        &shared.schema,
        uid,
        model,
        method,
        args,
        json2,
        time::OffsetDateTime::now_utc(),
    );
    let wrote = r.is_ok() && !readonly;
    (r, wrote)
}

fn jsonrpc_dispatch(
    shared: &Shared,
    service: &str,
    method: &str,
    args: &[Value],
) -> (Result<Option<Value>, OdooError>, bool) {
    let v = shared.opts.version;
    let opts = &shared.opts;
    let db_ok = |db: &Value| db.as_str() == Some(opts.database.as_str());
    let res: Result<Option<Value>, OdooError> = match service {
        "common" => match method {
            "version" => Ok(Some(json!({
                "server_version": format!("{}.0", v.major()),
                "server_version_info": version_info(v),
                "server_serie": format!("{}.0", v.major()),
                "protocol_version": 1,
            }))),
            "authenticate" | "login" => {
                let names: &[&str] = if method == "login" {
                    &["db", "login", "password"]
                } else {
                    &["db", "login", "password", "user_agent_env"]
                };
                arity(&format!("exp_{method}"), names, args.len()).and_then(|()| {
                    if !db_ok(&args[0]) {
                        return Err(db_error(&args[0]));
                    }
                    Ok(Some(
                        authenticate(shared, &args[1], &args[2]).map_or(json!(false), Value::from),
                    ))
                })
            }
            "about" => Ok(Some(json!("See http://openerp.com"))),
            other => Err(OdooError::key(format!("exp_{other}"))),
        },
        "object" => match method {
            "execute_kw" | "execute" => {
                if args.len() < 5 {
                    let names = ["db", "uid", "passwd", "model", "method"];
                    arity(method, &names, args.len()).map(|()| None)
                } else if !db_ok(&args[0]) {
                    Err(db_error(&args[0]))
                } else {
                    match check_uid(shared, &args[1], &args[2]) {
                        Err(e) => Err(e),
                        Ok(uid) => {
                            let model = args[3].as_str().unwrap_or_default().to_owned();
                            let m = args[4].as_str().unwrap_or_default().to_owned();
                            let call_args = if method == "execute_kw" {
                                let pos = match args.get(5) {
                                    Some(Value::Array(a)) => a.clone(),
                                    None | Some(Value::Null) => Vec::new(),
                                    Some(other) => vec![other.clone()],
                                };
                                let kw = match args.get(6) {
                                    Some(Value::Object(o)) => o.clone(),
                                    _ => Map::new(),
                                };
                                Args::Positional(pos, kw)
                            } else {
                                Args::Positional(args[5..].to_vec(), Map::new())
                            };
                            return run_model_call(shared, uid, &model, &m, call_args, false);
                        }
                    }
                }
            }
            other => Err(OdooError::new(
                "builtins.NameError",
                format!("Method not available {other}"),
            )),
        },
        "db" => match method {
            "list" => Ok(Some(json!([opts.database]))),
            "server_version" => Ok(Some(json!(format!("{}.0", v.major())))),
            "db_exist" => Ok(Some(json!(args.first().is_some_and(db_ok)))),
            "list_lang" => Ok(Some(json!([["en_US", "English (US)"]]))),
            _ => Err(OdooError::access_denied()),
        },
        other => Err(OdooError::key(other)),
    };
    (res, false)
}

/// Execute a prepared call. The flag is true when the call committed a change.
pub(crate) fn execute(shared: &Shared, call: &Call) -> (Resp, bool) {
    match call {
        Call::JsonRpc {
            id,
            service,
            method,
            args,
        } => {
            let (res, wrote) = jsonrpc_dispatch(shared, service, method, args);
            let body = match res {
                Ok(Some(v)) => json!({"jsonrpc": "2.0", "id": id, "result": v}),
                Ok(None) => json!({"jsonrpc": "2.0", "id": id}),
                Err(e) => rpc_error(shared.opts.version, id, &e),
            };
            (json_response(StatusCode::OK, &body), wrote)
        }
        Call::WebAuth { id, params } => {
            let v = shared.opts.version;
            let db = params.get("db").cloned().unwrap_or(Value::Null);
            if db.as_str() != Some(shared.opts.database.as_str()) {
                return (
                    json_response(StatusCode::OK, &rpc_error(v, id, &db_error(&db))),
                    false,
                );
            }
            let login = params.get("login").cloned().unwrap_or(Value::Null);
            let password = params.get("password").cloned().unwrap_or(Value::Null);
            let Some(uid) = authenticate(shared, &login, &password) else {
                return (
                    json_response(
                        StatusCode::OK,
                        &rpc_error(v, id, &OdooError::access_denied()),
                    ),
                    false,
                );
            };
            let session = shared.new_session(uid);
            let (name, partner, admin) = {
                let db = shared.db();
                let row = db
                    .tables
                    .get("res.users")
                    .and_then(|t| t.rows.get(&uid))
                    .cloned()
                    .unwrap_or_default();
                let admin = db.credentials.get(&uid).is_some_and(|c| c.admin);
                (
                    row.get("name").cloned().unwrap_or(Value::Null),
                    row.get("partner_id").cloned().unwrap_or(Value::Null),
                    admin,
                )
            };
            let result = json!({
                "uid": uid,
                "is_system": admin,
                "is_admin": admin,
                "user_context": {"lang": "en_US", "tz": false, "uid": uid},
                "db": shared.opts.database,
                "server_version": format!("{}.0", v.major()),
                "server_version_info": version_info(v),
                "name": name,
                "username": login,
                "partner_id": partner,
            });
            let mut resp = json_response(
                StatusCode::OK,
                &json!({"jsonrpc": "2.0", "id": id, "result": result}),
            );
            if let Ok(h) = http::HeaderValue::from_str(&format!(
                "session_id={session}; Path=/; HttpOnly; SameSite=Lax"
            )) {
                resp.headers_mut().insert(http::header::SET_COOKIE, h);
            }
            (resp, false)
        }
        Call::WebCallKw {
            id,
            session,
            model,
            method,
            args,
            kwargs,
        } => {
            let Some(uid) = session
                .as_deref()
                .and_then(|s| shared.session_uid(s))
                .filter(|_| !shared.faults.expired())
            else {
                return (json_response(StatusCode::OK, &session_expired(id)), false);
            };
            let (res, wrote) = run_model_call(
                shared,
                uid,
                model,
                method,
                Args::Positional(args.clone(), kwargs.clone()),
                false,
            );
            let body = match res {
                Ok(Some(v)) => json!({"jsonrpc": "2.0", "id": id, "result": v}),
                Ok(None) => json!({"jsonrpc": "2.0", "id": id, "result": null}),
                Err(e) => rpc_error(shared.opts.version, id, &e),
            };
            (json_response(StatusCode::OK, &body), wrote)
        }
        Call::Json2 {
            model,
            method,
            key,
            body,
        } => {
            let Some(uid) = uid_for_key(shared, key.as_deref()) else {
                let e = OdooError::new("werkzeug.exceptions.Unauthorized", "Invalid apikey");
                return (
                    json_response(StatusCode::UNAUTHORIZED, &json2_body(&e)),
                    false,
                );
            };
            let (res, wrote) =
                run_model_call(shared, uid, model, method, Args::Named(body.clone()), true);
            match res {
                Ok(v) => (
                    json_response(StatusCode::OK, &v.unwrap_or(Value::Null)),
                    wrote,
                ),
                Err(e) => (json_response(json2_status(&e), &json2_body(&e)), false),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Admin API

#[derive(Deserialize)]
struct LatencyReq {
    #[serde(default)]
    fixed_ms: u64,
    #[serde(default)]
    jitter_ms: u64,
}

#[derive(Deserialize)]
struct ErrorReq {
    #[serde(flatten)]
    on: Match,
    kind: FaultKind,
}

#[derive(Deserialize)]
struct OutageReq {
    seconds: Option<f64>,
}

#[derive(Deserialize)]
struct EmailReq {
    login: String,
    #[serde(default)]
    email: Option<String>,
}

#[derive(Deserialize)]
struct ExpiredReq {
    #[serde(default = "yes")]
    expired: bool,
}

fn yes() -> bool {
    true
}

fn bad_request(msg: impl Into<String>) -> Resp {
    json_response(StatusCode::BAD_REQUEST, &json!({"error": msg.into()}))
}

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Resp> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| bad_request(e.to_string()))
}

fn ok() -> Resp {
    json_response(StatusCode::OK, &json!({"ok": true}))
}

/// `/_sandbox/...`
pub(crate) fn admin(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: &str,
    body: &[u8],
) -> Resp {
    let faults = &shared.faults;
    let r: Result<Resp, Resp> = (|| {
        Ok(match (method, path.trim_end_matches('/')) {
            (&Method::GET, "/_sandbox") => json_response(
                StatusCode::OK,
                &json!({"version": shared.opts.version.to_string(), "database": shared.opts.database, "login": shared.opts.login,
                        "users_without_email": shared.opts.users_without_email,
                        "pricelist_currency": shared.opts.pricelist_currency,
                        "in_payment_state": shared.opts.in_payment_state}),
            ),
            (&Method::POST, "/_sandbox/users/email") => {
                let r: EmailReq = parse(body)?;
                match shared.set_user_email(&r.login, r.email.as_deref()) {
                    Some(uid) => json_response(
                        StatusCode::OK,
                        &json!({"login": r.login, "uid": uid, "email": r.email.as_deref().map(str::trim).filter(|e| !e.is_empty())}),
                    ),
                    None => json_response(
                        StatusCode::NOT_FOUND,
                        &json!({"error": format!("no user with login {:?}", r.login)}),
                    ),
                }
            }
            (&Method::GET, "/_sandbox/faults") => json_response(
                StatusCode::OK,
                &serde_json::to_value(faults.config()).unwrap_or_default(),
            ),
            (&Method::PUT, "/_sandbox/faults") => {
                faults.apply(parse::<FaultConfig>(body)?);
                ok()
            }
            (&Method::DELETE, "/_sandbox/faults") | (&Method::POST, "/_sandbox/faults/clear") => {
                faults.clear();
                ok()
            }
            (&Method::POST, "/_sandbox/faults/latency") => {
                let l: LatencyReq = parse(body)?;
                faults.set_latency(
                    std::time::Duration::from_millis(l.fixed_ms),
                    std::time::Duration::from_millis(l.jitter_ms),
                );
                ok()
            }
            (&Method::POST, "/_sandbox/faults/errors") => {
                let e: ErrorReq = parse(body)?;
                faults.inject(e.on, e.kind);
                ok()
            }
            (&Method::POST, "/_sandbox/faults/commit_then_drop") => {
                faults.commit_then_drop(parse::<Match>(body)?);
                ok()
            }
            (&Method::POST, "/_sandbox/faults/outage") => {
                let o: OutageReq = parse(body)?;
                let Some(secs) = o.seconds.filter(|s| s.is_finite() && *s >= 0.0) else {
                    return Err(bad_request(
                        "\"seconds\" (a non-negative number) is required",
                    ));
                };
                faults.outage(Some(std::time::Duration::from_secs_f64(secs)));
                ok()
            }
            (&Method::DELETE, "/_sandbox/faults/outage") => {
                faults.end_outage();
                ok()
            }
            (&Method::POST, "/_sandbox/faults/expired_credentials") => {
                faults.set_expired_credentials(parse::<ExpiredReq>(body)?.expired);
                ok()
            }
            (&Method::GET | &Method::POST, "/_sandbox/inspect") => {
                let mut req: Map<String, Value> = url::form_urlencoded::parse(query.as_bytes())
                    .map(|(k, v)| {
                        let val = serde_json::from_str::<Value>(&v)
                            .unwrap_or(Value::String(v.into_owned()));
                        (k.into_owned(), val)
                    })
                    .collect();
                if method == Method::POST {
                    let b: Map<String, Value> = parse(body)?;
                    req.extend(b);
                }
                let Some(model) = req.get("model").and_then(Value::as_str).map(str::to_owned)
                else {
                    return Err(bad_request("\"model\" is required"));
                };
                let domain = match req.get("domain") {
                    Some(Value::String(s)) => {
                        serde_json::from_str(s).map_err(|e| bad_request(e.to_string()))?
                    }
                    Some(d) => d.clone(),
                    None => json!([]),
                };
                let fields: Option<Vec<String>> = match req.get("fields") {
                    Some(Value::Array(a)) => Some(
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect(),
                    ),
                    Some(Value::String(s)) => {
                        Some(s.split(',').map(|x| x.trim().to_owned()).collect())
                    }
                    _ => None,
                };
                let limit = req.get("limit").and_then(Value::as_u64).map(|n| n as usize);
                let count = shared
                    .count(&model, &domain)
                    .map_err(|e| json_response(StatusCode::BAD_REQUEST, &json2_body(&e)))?;
                let records = shared
                    .search(&model, &domain, fields.as_deref(), limit)
                    .map_err(|e| json_response(StatusCode::BAD_REQUEST, &json2_body(&e)))?;
                json_response(
                    StatusCode::OK,
                    &json!({"model": model, "count": count, "records": records}),
                )
            }
            (&Method::GET, "/_sandbox/stats") => json_response(
                StatusCode::OK,
                &shared.cost.as_ref().map_or_else(
                    || json!({"cost_model": null, "calls": Value::Object(shared.all_calls())}),
                    crate::cost::Cost::stats,
                ),
            ),
            (&Method::POST, "/_sandbox/stats/reset") => {
                if let Some(c) = &shared.cost {
                    c.reset();
                }
                ok()
            }
            (&Method::GET, "/_sandbox/calls/api_key") => {
                json_response(StatusCode::OK, &json!({"calls": shared.api_key_calls()}))
            }
            (&Method::GET, "/_sandbox/calls") => {
                json_response(StatusCode::OK, &Value::Object(shared.all_calls()))
            }
            (&Method::POST, "/_sandbox/reset") => {
                shared.reset();
                ok()
            }
            _ => json_response(
                StatusCode::NOT_FOUND,
                &json!({"error": "no such admin route"}),
            ),
        })
    })();
    r.unwrap_or_else(|e| e)
}
