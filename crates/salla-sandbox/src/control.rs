//! The control API under `/_sandbox` (seeding, inspection, faults). Never subject to faults,
//! rate limits or the call log. Errors are `{"error": "…"}` with 400 or 404.
#![allow(clippy::result_large_err)] // `Err` is an immediate HTTP answer, built once per request.

use std::time::Duration;

use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::faults::{ErrorRule, FaultConfig, Latency, Match};
use crate::server::{Resp, Shared, json_response};
use crate::state::{Kind, Merchant};
use crate::{AuthorizeOptions, DEFAULT_SCOPE, Tokens, util};

fn ok() -> Resp {
    json_response(StatusCode::OK, &json!({"ok": true}))
}

fn bad_request(msg: impl Into<String>) -> Resp {
    json_response(StatusCode::BAD_REQUEST, &json!({"error": msg.into()}))
}

fn not_found(msg: impl Into<String>) -> Resp {
    json_response(StatusCode::NOT_FOUND, &json!({"error": msg.into()}))
}

/// Parse a JSON body; an empty body is `null` (then `T`'s defaults apply when it allows it).
fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Resp> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| bad_request(format!("invalid JSON body: {e}")))
}

#[derive(Deserialize)]
struct OutageReq {
    seconds: Option<f64>,
}

#[derive(Deserialize)]
struct PlanReq {
    per_min: Option<u32>,
}

/// Issue a new token chain for `merchant` (and clear `uninstalled`).
pub(crate) fn authorize(shared: &Shared, merchant: u64, opts: AuthorizeOptions) -> Tokens {
    let scope = opts.scope.unwrap_or_else(|| DEFAULT_SCOPE.to_owned());
    let issued = shared.state().authorize(
        merchant,
        &scope,
        opts.plan_per_min,
        shared.opts.lifetime(),
        util::now(),
    );
    Tokens {
        access_token: issued.access_token,
        refresh_token: issued.refresh_token,
        expires: issued.expires_at.unix_timestamp(),
        scope: issued.scope,
        token_type: "bearer".into(),
    }
}

pub(crate) fn seed(
    shared: &Shared,
    merchant: u64,
    kind: Kind,
    body: Value,
) -> Result<Vec<u64>, String> {
    shared.state().seed(merchant, kind, body, util::now())
}

pub(crate) fn handle(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: &str,
    body: &[u8],
) -> Resp {
    let _ = query;
    let segs: Vec<&str> = path
        .trim_end_matches('/')
        .split('/')
        .skip(2) // "", "_sandbox"
        .collect();
    let r: Result<Resp, Resp> = (|| {
        let faults = &shared.faults;
        Ok(match (method, segs.as_slice()) {
            (&Method::GET, []) => {
                let merchants: Vec<u64> = shared.state().merchants.keys().copied().collect();
                let o = &shared.opts;
                json_response(
                    StatusCode::OK,
                    &json!({
                        "merchants": merchants,
                        "client_id": o.client_id,
                        "token_lifetime_secs": o.token_lifetime.as_secs(),
                        "stock_delay_ms": o.stock_delay.as_millis() as u64,
                        "rate_limit_per_min": o.rate_limit_per_min,
                    }),
                )
            }
            (&Method::POST, ["reset"]) => {
                shared.reset();
                ok()
            }
            (&Method::GET, ["faults"]) => json_response(
                StatusCode::OK,
                &serde_json::to_value(faults.config()).unwrap_or_default(),
            ),
            (&Method::PUT, ["faults"]) => {
                faults.apply(parse::<FaultConfig>(body)?);
                ok()
            }
            (&Method::DELETE, ["faults"]) => {
                faults.clear();
                ok()
            }
            (&Method::POST, ["faults", "latency"]) => {
                let l: Latency = parse(body)?;
                faults.set_latency(l.fixed, l.jitter);
                ok()
            }
            (&Method::POST, ["faults", "errors"]) => {
                let rule: ErrorRule = parse(body)?;
                if StatusCode::from_u16(rule.status).is_err() {
                    return Err(bad_request("\"status\" must be an HTTP status code"));
                }
                faults.inject(rule);
                ok()
            }
            (&Method::POST, ["faults", "drop_after_write" | "drop-after-write"]) => {
                faults.drop_after_write(parse::<Match>(body)?);
                ok()
            }
            (&Method::POST, ["faults", "outage"]) => {
                let o: OutageReq = parse(body)?;
                let Some(secs) = o.seconds.filter(|s| s.is_finite() && *s >= 0.0) else {
                    return Err(bad_request(
                        "\"seconds\" (a non-negative number) is required",
                    ));
                };
                faults.outage(Some(Duration::from_secs_f64(secs)));
                ok()
            }
            (&Method::DELETE, ["faults", "outage"]) => {
                faults.end_outage();
                ok()
            }
            (&Method::GET, ["calls"]) => json_response(
                StatusCode::OK,
                &serde_json::to_value(shared.calls()).unwrap_or_default(),
            ),
            (&Method::DELETE, ["calls"]) => {
                shared.clear_calls();
                ok()
            }
            (&Method::GET, ["stats"]) => json_response(StatusCode::OK, &shared.stats()),
            (_, ["merchants", m, rest @ ..]) => {
                let Ok(merchant) = m.parse::<u64>() else {
                    return Err(not_found("the merchant id must be a number"));
                };
                merchant_route(shared, method, merchant, rest, body)?
            }
            _ => not_found("no such control route"),
        })
    })();
    r.unwrap_or_else(|e| e)
}

fn kind_of(s: &str) -> Option<Kind> {
    Some(match s {
        "orders" => Kind::Order,
        "products" => Kind::Product,
        "customers" => Kind::Customer,
        "branches" => Kind::Branch,
        _ => return None,
    })
}

fn merchant_route(
    shared: &Shared,
    method: &Method,
    merchant: u64,
    rest: &[&str],
    body: &[u8],
) -> Result<Resp, Resp> {
    let now = util::now();
    Ok(match (method, rest) {
        (&Method::POST, [kind]) if kind_of(kind).is_some() => {
            let kind = kind_of(kind).unwrap_or(Kind::Order);
            let v: Value = serde_json::from_slice(body)
                .map_err(|e| bad_request(format!("invalid JSON body: {e}")))?;
            let ids = seed(shared, merchant, kind, v).map_err(bad_request)?;
            json_response(StatusCode::OK, &json!({"upserted": ids.len(), "ids": ids}))
        }
        (&Method::GET, [kind, id]) if kind_of(kind).is_some() => {
            let id: u64 = id.parse().map_err(|_| not_found("no such object"))?;
            let st = shared.state();
            let empty = Merchant::default();
            let m = st.merchants.get(&merchant).unwrap_or(&empty);
            let found = match kind_of(kind) {
                Some(Kind::Order) => m.orders.get(&id),
                Some(Kind::Product) => m.products.get(&id),
                Some(Kind::Customer) => m.customers.get(&id),
                _ => m.branches.get(&id),
            };
            match found {
                Some(v) => json_response(StatusCode::OK, v),
                None => not_found("no such object"),
            }
        }
        (&Method::GET, ["orders", id, "status-history"]) => {
            let id: u64 = id.parse().map_err(|_| not_found("no such order"))?;
            let st = shared.state();
            let list = st
                .merchants
                .get(&merchant)
                .and_then(|m| m.history.get(&id).cloned());
            json_response(StatusCode::OK, &Value::Array(list.unwrap_or_default()))
        }
        (&Method::POST, ["authorize"]) => {
            let opts: AuthorizeOptions = parse(body)?;
            let t = authorize(shared, merchant, opts);
            json_response(StatusCode::OK, &serde_json::to_value(t).unwrap_or_default())
        }
        (&Method::POST, ["uninstall"]) => {
            shared.state().uninstall(merchant);
            ok()
        }
        (&Method::POST, ["expire-tokens"]) => {
            let n = shared.state().expire_tokens(merchant, now);
            json_response(StatusCode::OK, &json!({"ok": true, "expired": n}))
        }
        (&Method::POST | &Method::PUT, ["plan"]) => {
            let p: PlanReq = parse(body)?;
            shared.state().merchant(merchant).plan_per_min = p.per_min;
            ok()
        }
        (&Method::GET, ["quantities"]) => {
            let st = shared.state();
            let q = st.merchants.get(&merchant).map(|m| m.quantities());
            json_response(StatusCode::OK, &json!(q.unwrap_or_default()))
        }
        (&Method::GET, ["stock-updates"]) => {
            let st = shared.state();
            let list = st.merchants.get(&merchant).map(|m| m.stock_updates.clone());
            json_response(StatusCode::OK, &Value::Array(list.unwrap_or_default()))
        }
        (&Method::GET, ["tokens"]) => {
            let list = shared.state().tokens(merchant, now);
            json_response(StatusCode::OK, &Value::Array(list))
        }
        (&Method::GET, []) => {
            let st = shared.state();
            let Some(m) = st.merchants.get(&merchant) else {
                return Err(not_found("no such merchant"));
            };
            json_response(
                StatusCode::OK,
                &json!({
                    "id": merchant,
                    "uninstalled": m.uninstalled,
                    "plan_per_min": m.plan_per_min,
                    "orders": m.orders.len(),
                    "products": m.products.len(),
                    "customers": m.customers.len(),
                    "branches": m.branches.len(),
                }),
            )
        }
        _ => not_found("no such control route"),
    })
}
