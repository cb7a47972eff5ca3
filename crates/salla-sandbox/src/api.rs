//! The Salla routes: the OAuth token endpoint, user info, and the Admin API v2.

use std::cmp::Ordering;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::faults::ErrorRule;
use crate::server::{Resp, Shared, json_response};
use crate::state::{
    self, Limits, Merchant, Mode, RateInfo, RefreshError, State, StockJob, StockOp, Target,
};
use crate::util::{self, as_f64, as_text, as_u64, date_text, q, q_all};
use crate::{Options, statuses};

/// The `error_description` of `invalid_grant`, word for word.
pub const INVALID_GRANT_DESCRIPTION: &str = "The provided authorization grant (e.g., authorization code, resource owner credentials) or refresh token is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.";

/// The Admin API's 401 message for a missing, unknown, expired or revoked token.
pub const INVALID_TOKEN_MESSAGE: &str = "The access token is invalid";

const DEFAULT_PER_PAGE: usize = 15;
const MAX_PER_PAGE: usize = 60;

pub(crate) struct ApiRequest {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

pub(crate) struct ApiOutcome {
    pub resp: Resp,
    pub merchant: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum AdminRoute {
    Orders,
    Order(u64),
    OrderItems,
    OrderStatuses,
    OrderStatus(u64),
    Shipments,
    Shipment(u64),
    Products,
    Product(u64),
    ProductBySku(String),
    ProductVariants(u64),
    Variant(u64),
    QuantitiesBulk,
    Customers,
    Customer(u64),
    Branches,
    Branch(u64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Token,
    UserInfo,
    Admin(AdminRoute),
}

enum Resolved {
    Found(Route),
    WrongMethod,
    NotFound,
}

fn num(s: &str) -> Option<u64> {
    s.parse().ok()
}

/// The route pattern and the method it wants.
fn pattern(path: &str) -> Option<(Method, Route, &'static str)> {
    use AdminRoute as A;
    let p = path.trim_end_matches('/');
    match p {
        "/oauth2/token" => return Some((Method::POST, Route::Token, "/oauth2/token")),
        "/oauth2/user/info" => {
            return Some((Method::GET, Route::UserInfo, "/oauth2/user/info"));
        }
        _ => {}
    }
    let rest = p.strip_prefix("/admin/v2/")?;
    let seg: Vec<&str> = rest.split('/').collect();
    let (m, r, key) = match seg.as_slice() {
        ["orders"] => (Method::GET, A::Orders, "/admin/v2/orders"),
        ["orders", "items"] => (Method::GET, A::OrderItems, "/admin/v2/orders/items"),
        ["orders", "statuses"] => (Method::GET, A::OrderStatuses, "/admin/v2/orders/statuses"),
        ["orders", id] => (Method::GET, A::Order(num(id)?), "/admin/v2/orders/{id}"),
        ["orders", id, "status"] => (
            Method::POST,
            A::OrderStatus(num(id)?),
            "/admin/v2/orders/{id}/status",
        ),
        ["shipments"] => (Method::GET, A::Shipments, "/admin/v2/shipments"),
        ["shipments", id] => (
            Method::GET,
            A::Shipment(num(id)?),
            "/admin/v2/shipments/{id}",
        ),
        ["products"] => (Method::GET, A::Products, "/admin/v2/products"),
        ["products", "quantities", "bulk"] => (
            Method::POST,
            A::QuantitiesBulk,
            "/admin/v2/products/quantities/bulk",
        ),
        ["products", "sku", sku] if !sku.is_empty() => (
            Method::GET,
            A::ProductBySku(util::percent_decode(sku)),
            "/admin/v2/products/sku/{sku}",
        ),
        ["products", "variants", id] => (
            Method::GET,
            A::Variant(num(id)?),
            "/admin/v2/products/variants/{id}",
        ),
        ["products", id, "variants"] => (
            Method::GET,
            A::ProductVariants(num(id)?),
            "/admin/v2/products/{id}/variants",
        ),
        ["products", id] => (Method::GET, A::Product(num(id)?), "/admin/v2/products/{id}"),
        ["customers"] => (Method::GET, A::Customers, "/admin/v2/customers"),
        ["customers", id] => (
            Method::GET,
            A::Customer(num(id)?),
            "/admin/v2/customers/{id}",
        ),
        ["branches"] => (Method::GET, A::Branches, "/admin/v2/branches"),
        ["branches", id] => (Method::GET, A::Branch(num(id)?), "/admin/v2/branches/{id}"),
        _ => return None,
    };
    Some((m, Route::Admin(r), key))
}

fn resolve(method: &Method, path: &str) -> Resolved {
    match pattern(path) {
        Some((want, route, _)) if want == method => Resolved::Found(route),
        Some(_) => Resolved::WrongMethod,
        None => Resolved::NotFound,
    }
}

/// The endpoint key of a request for the call log and the stats: `"GET /admin/v2/orders/{id}"`,
/// or `"GET (unknown)"` for paths that are no route.
pub(crate) fn endpoint(method: &Method, path: &str) -> String {
    match pattern(path) {
        Some((_, _, key)) => format!("{method} {key}"),
        None => format!("{method} (unknown)"),
    }
}

/// The merchant a request is about, as far as its token tells (for fault rules and the log).
pub(crate) fn peek_merchant(shared: &Shared, req: &ApiRequest) -> Option<u64> {
    let st = shared.state();
    if req.path.trim_end_matches('/') == "/oauth2/token" {
        let form = parse_form(req);
        return form
            .get("refresh_token")
            .and_then(Value::as_str)
            .and_then(|t| st.refresh_owner(t));
    }
    bearer(&req.headers).and_then(|t| st.access_owner(t))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The §8.2 slug of an HTTP status.
fn error_code(status: StatusCode) -> String {
    match status.as_u16() {
        400 => "bad_request".into(),
        401 => "unauthorized".into(),
        403 => "forbidden".into(),
        404 => "not_found".into(),
        405 => "method_not_allowed".into(),
        406 => "not_acceptable".into(),
        410 => "gone".into(),
        422 => "validation_failed".into(),
        429 => "too_many_requests".into(),
        500 => "server_error".into(),
        503 => "service_unavailable".into(),
        _ => status
            .canonical_reason()
            .unwrap_or("error")
            .to_lowercase()
            .replace([' ', '-'], "_"),
    }
}

/// An Admin API error answer.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
    fields: Option<Map<String, Value>>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            fields: None,
        }
    }
    fn not_found() -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "The content you are looking for is not available",
        )
    }
    fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, message)
    }
    fn validation(fields: Map<String, Value>) -> ApiError {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: "alert.invalid_fields".into(),
            fields: Some(fields),
        }
    }
    fn field(name: impl Into<String>, message: impl Into<String>) -> ApiError {
        let mut f = Map::new();
        f.insert(name.into(), json!([message.into()]));
        ApiError::validation(f)
    }
    fn body(&self) -> Value {
        let mut error = json!({"code": error_code(self.status), "message": self.message});
        if let Some(f) = &self.fields {
            error["fields"] = Value::Object(f.clone());
        }
        json!({"status": self.status.as_u16(), "success": false, "error": error})
    }
    fn response(&self) -> Resp {
        json_response(self.status, &self.body())
    }
}

/// The answer of an error rule.
pub(crate) fn fault_response(rule: &ErrorRule) -> Resp {
    let status = StatusCode::from_u16(rule.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let message = match status.as_u16() {
        429 => "Too Many Attempts.".to_owned(),
        503 => "Service Unavailable".to_owned(),
        _ => status.canonical_reason().unwrap_or("Error").to_owned(),
    };
    let mut r = ApiError::new(status, message).response();
    if let Some(secs) = rule.retry_after_secs {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    r
}

fn set_rate_headers(r: &mut Resp, rate: &RateInfo) {
    let h = r.headers_mut();
    h.insert("x-ratelimit-limit", HeaderValue::from(rate.limit));
    h.insert("x-ratelimit-remaining", HeaderValue::from(rate.remaining));
    h.insert("x-ratelimit-reset", HeaderValue::from(rate.reset));
    if let Some(s) = rate.retry_after {
        h.insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
}

/// A successful Admin API answer.
struct Answer {
    status: StatusCode,
    data: Value,
    pagination: Option<Value>,
}

impl Answer {
    fn ok(data: Value) -> Answer {
        Answer {
            status: StatusCode::OK,
            data,
            pagination: None,
        }
    }
    fn updated(message: &str) -> Answer {
        Answer {
            status: StatusCode::CREATED,
            data: json!({"message": message, "code": 201}),
            pagination: None,
        }
    }
    fn response(self) -> Resp {
        let mut body = json!({"status": self.status.as_u16(), "success": true, "data": self.data});
        if let Some(p) = self.pagination {
            body["pagination"] = p;
        }
        json_response(self.status, &body)
    }
}

/// Entry point for every non-control request.
pub(crate) fn handle(shared: &Shared, req: &ApiRequest) -> ApiOutcome {
    match resolve(&req.method, &req.path) {
        Resolved::Found(Route::Token) => token(shared, req),
        Resolved::Found(Route::UserInfo) => user_info(shared, req),
        Resolved::Found(Route::Admin(r)) => admin(shared, req, &r),
        Resolved::WrongMethod => ApiOutcome {
            resp: with_default_rate(
                ApiError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    format!("The {} method is not supported for this route.", req.method),
                )
                .response(),
                &shared.opts,
                req,
            ),
            merchant: None,
        },
        Resolved::NotFound => ApiOutcome {
            resp: with_default_rate(ApiError::not_found().response(), &shared.opts, req),
            merchant: None,
        },
    }
}

/// Rate headers for answers that concern no merchant (Admin API paths only).
fn with_default_rate(mut r: Resp, opts: &Options, req: &ApiRequest) -> Resp {
    if req.path.starts_with("/admin/") {
        let now = util::now().unix_timestamp().max(0) as u64;
        set_rate_headers(
            &mut r,
            &RateInfo {
                limit: opts.rate_limit_per_min,
                remaining: opts.rate_limit_per_min,
                reset: now + opts.rate_window.as_secs().max(1),
                retry_after: None,
            },
        );
    }
    r
}

// ---------------------------------------------------------------------------------------------
// OAuth

fn parse_form(req: &ApiRequest) -> Map<String, Value> {
    let is_json = req
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if is_json {
        return serde_json::from_slice::<Map<String, Value>>(&req.body).unwrap_or_default();
    }
    url::form_urlencoded::parse(&req.body)
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect()
}

fn oauth_error(status: StatusCode, error: &str, description: &str, hint: Option<&str>) -> Resp {
    let mut body =
        json!({"error": error, "error_description": description, "message": description});
    if let Some(h) = hint {
        body["hint"] = json!(h);
    }
    json_response(status, &body)
}

fn token(shared: &Shared, req: &ApiRequest) -> ApiOutcome {
    let form = parse_form(req);
    let field = |k: &str| form.get(k).and_then(as_text_ref).filter(|s| !s.is_empty());
    let mut st = shared.state();
    let merchant = field("refresh_token").and_then(|t| st.refresh_owner(&t));
    let fail = |st: &mut State, resp: Resp| {
        st.refresh_failures += 1;
        ApiOutcome { resp, merchant }
    };
    for k in ["grant_type", "client_id", "client_secret", "refresh_token"] {
        if field(k).is_none() {
            let resp = oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed.",
                Some(&format!("Check the `{k}` parameter")),
            );
            return fail(&mut st, resp);
        }
    }
    if field("client_id").as_deref() != Some(shared.opts.client_id.as_str())
        || field("client_secret").as_deref() != Some(shared.opts.client_secret.as_str())
    {
        let resp = oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed",
            None,
        );
        return fail(&mut st, resp);
    }
    if field("grant_type").as_deref() != Some("refresh_token") {
        let resp = oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server.",
            Some("Check that all required parameters have been provided"),
        );
        return fail(&mut st, resp);
    }
    let refresh = field("refresh_token").unwrap_or_default();
    let now = util::now();
    match st.refresh(&refresh, shared.opts.lifetime(), now) {
        Ok((_, issued)) => {
            st.refreshes += 1;
            let secs = shared.opts.token_lifetime.as_secs();
            let mut resp = json_response(
                StatusCode::OK,
                &json!({
                    "access_token": issued.access_token,
                    "expires_in": secs,
                    "expires": secs,
                    "refresh_token": issued.refresh_token,
                    "scope": issued.scope,
                    "token_type": "bearer",
                }),
            );
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            ApiOutcome { resp, merchant }
        }
        Err(e) => {
            let hint = match e {
                RefreshError::Reused => "Token has been revoked",
                RefreshError::Invalid => "Token has been revoked or is invalid",
            };
            let resp = oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_grant",
                INVALID_GRANT_DESCRIPTION,
                Some(hint),
            );
            fail(&mut st, resp)
        }
    }
}

fn as_text_ref(v: &Value) -> Option<String> {
    as_text(Some(v))
}

fn user_info(shared: &Shared, req: &ApiRequest) -> ApiOutcome {
    let st = shared.state();
    let auth = bearer(&req.headers).and_then(|t| st.authenticate(t, util::now()));
    let Some((m, _)) = auth else {
        return ApiOutcome {
            resp: ApiError::unauthorized(INVALID_TOKEN_MESSAGE).response(),
            merchant: None,
        };
    };
    let data = json!({
        "id": m,
        "name": format!("Sandbox Merchant {m}"),
        "email": format!("merchant-{m}@sandbox.invalid"),
        "mobile": "+966500000000",
        "role": "user",
        "created_at": "2024-01-01 00:00:00",
        "merchant": {
            "id": m,
            "username": format!("sandbox-{m}"),
            "name": format!("Sandbox Store {m}"),
            "avatar": null,
            "store_location": null,
            "plan": "plus",
            "status": "active",
            "domain": format!("https://salla.sa/sandbox-{m}"),
            "created_at": "2024-01-01 00:00:00",
        },
    });
    ApiOutcome {
        resp: Answer::ok(data).response(),
        merchant: Some(m),
    }
}

// ---------------------------------------------------------------------------------------------
// Admin API

/// The scope a route needs: the resource names (any spelling) and whether it writes.
struct ScopeNeed {
    resources: &'static [&'static str],
    write: bool,
}

impl AdminRoute {
    fn scope(&self) -> ScopeNeed {
        use AdminRoute as A;
        let (resources, write): (&'static [&'static str], bool) = match self {
            A::Orders | A::Order(_) | A::OrderItems | A::OrderStatuses => (&["orders"], false),
            A::OrderStatus(_) => (&["orders"], true),
            A::Shipments | A::Shipment(_) => (&["shipping", "shippings"], false),
            A::Products
            | A::Product(_)
            | A::ProductBySku(_)
            | A::ProductVariants(_)
            | A::Variant(_) => (&["products"], false),
            A::QuantitiesBulk => (&["products"], true),
            A::Customers | A::Customer(_) => (&["customers"], false),
            A::Branches | A::Branch(_) => (&["branches"], false),
        };
        ScopeNeed { resources, write }
    }

    fn is_customers(&self) -> bool {
        matches!(self, AdminRoute::Customers | AdminRoute::Customer(_))
    }
}

impl ScopeNeed {
    fn granted(&self, scope: &str) -> bool {
        scope.split_whitespace().any(|s| {
            self.resources.iter().any(|r| {
                s.strip_prefix(r)
                    .and_then(|x| x.strip_prefix('.'))
                    .is_some_and(|level| level == "read_write" || (!self.write && level == "read"))
            })
        })
    }
    fn required(&self) -> String {
        format!(
            "{}.{}",
            self.resources[0],
            if self.write { "read_write" } else { "read" }
        )
    }
}

fn admin(shared: &Shared, req: &ApiRequest, route: &AdminRoute) -> ApiOutcome {
    let now = util::now();
    let opts = &shared.opts;
    let mut st = shared.state();
    let token = bearer(&req.headers);
    let Some((merchant, scope)) = token.and_then(|t| st.authenticate(t, now)) else {
        let merchant = token.and_then(|t| st.access_owner(t));
        drop(st);
        return ApiOutcome {
            resp: with_default_rate(
                ApiError::unauthorized(INVALID_TOKEN_MESSAGE).response(),
                opts,
                req,
            ),
            merchant,
        };
    };
    let limits = Limits {
        plan: opts.rate_limit_per_min,
        plan_window_secs: opts.rate_window.as_secs_f64(),
        customers: opts.customers_rate_limit,
        customers_window_secs: opts.customers_window.as_secs_f64(),
    };
    let rate =
        match st
            .merchant(merchant)
            .take_rate(route.is_customers(), limits, util::epoch_secs(now))
        {
            Ok(r) => r,
            Err(r) => {
                drop(st);
                let mut resp =
                    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "Too Many Attempts.").response();
                set_rate_headers(&mut resp, &r);
                return ApiOutcome {
                    resp,
                    merchant: Some(merchant),
                };
            }
        };
    let need = route.scope();
    let result = if need.granted(&scope) {
        let ctx = Ctx::new(req);
        run_admin(shared, &mut st, merchant, route, &ctx, now)
    } else {
        Err(ApiError::unauthorized(format!(
            "The access token should have access to one of those scopes: {}",
            need.required()
        )))
    };
    drop(st);
    let mut resp = match result {
        Ok(a) => a.response(),
        Err(e) => e.response(),
    };
    set_rate_headers(&mut resp, &rate);
    ApiOutcome {
        resp,
        merchant: Some(merchant),
    }
}

/// The parsed parts of a request a handler reads.
struct Ctx<'a> {
    pairs: Vec<(String, String)>,
    /// `http://host/path`, for pagination links.
    link_base: String,
    body: &'a [u8],
}

impl<'a> Ctx<'a> {
    fn new(req: &'a ApiRequest) -> Ctx<'a> {
        let host = req
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        Ctx {
            pairs: util::query_pairs(&req.query),
            link_base: format!("http://{host}{}", req.path),
            body: &req.body,
        }
    }

    fn q(&self, name: &str) -> Option<&str> {
        q(&self.pairs, name)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    fn json_body(&self) -> Result<Value, ApiError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(json!({}));
        }
        serde_json::from_slice(self.body)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("Malformed JSON: {e}")))
    }

    /// The URL of page `page` of this list.
    fn page_link(&self, page: usize) -> String {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.pairs.iter().filter(|(k, _)| k != "page") {
            ser.append_pair(k, v);
        }
        ser.append_pair("page", &page.to_string());
        format!("{}?{}", self.link_base, ser.finish())
    }

    /// Slice one page of `items` (already filtered and sorted).
    fn paginate<T>(&self, items: Vec<T>, render: impl Fn(T) -> Value) -> Answer {
        let per_page = self
            .q("per_page")
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(DEFAULT_PER_PAGE)
            .min(MAX_PER_PAGE);
        let page = self
            .q("page")
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(1);
        let total = items.len();
        let total_pages = total.div_ceil(per_page).max(1);
        let data: Vec<Value> = items
            .into_iter()
            .skip((page - 1).saturating_mul(per_page))
            .take(per_page)
            .map(render)
            .collect();
        let mut links = Map::new();
        if page > 1 {
            links.insert(
                "previous".into(),
                json!(self.page_link((page - 1).min(total_pages))),
            );
        }
        if page < total_pages {
            links.insert("next".into(), json!(self.page_link(page + 1)));
        }
        Answer {
            status: StatusCode::OK,
            pagination: Some(json!({
                "count": data.len(),
                "total": total,
                "perPage": per_page,
                "currentPage": page,
                "totalPages": total_pages,
                "links": links,
            })),
            data: Value::Array(data),
        }
    }
}

fn run_admin(
    shared: &Shared,
    st: &mut State,
    merchant: u64,
    route: &AdminRoute,
    ctx: &Ctx<'_>,
    now: OffsetDateTime,
) -> Result<Answer, ApiError> {
    use AdminRoute as A;
    if let A::OrderStatus(id) = route {
        return post_status(st, merchant, *id, ctx, now);
    }
    if let A::QuantitiesBulk = route {
        return bulk_quantities(shared, st, merchant, ctx, now);
    }
    let m = st.merchant(merchant);
    match route {
        A::Orders => list_orders(m, ctx),
        A::Order(id) => {
            let o = m.orders.get(id).ok_or_else(ApiError::not_found)?;
            Ok(Answer::ok(if ctx.q("format") == Some("light") {
                state::light_order(o)
            } else {
                o.clone()
            }))
        }
        A::OrderItems => {
            let Some(raw) = ctx.q("order_id") else {
                return Err(ApiError::field(
                    "order_id",
                    "The order id field is required.",
                ));
            };
            let id = num(raw)
                .ok_or_else(|| ApiError::field("order_id", "The order id must be an integer."))?;
            let o = m.orders.get(&id).ok_or_else(ApiError::not_found)?;
            Ok(Answer::ok(o.get("items").cloned().unwrap_or(json!([]))))
        }
        A::OrderStatuses => Ok(Answer::ok(Value::Array(statuses::list()))),
        A::Shipments => {
            let order = match ctx.q("order_id") {
                Some(s) => Some(num(s).ok_or_else(|| {
                    ApiError::field("order_id", "The order id must be an integer.")
                })?),
                None => None,
            };
            let status = ctx.q("status");
            let mut list: Vec<Value> = m
                .shipments()
                .into_iter()
                .filter(|s| order.is_none_or(|o| as_u64(s.get("order_id")) == Some(o)))
                .filter(|s| {
                    status.is_none_or(|st| s.get("status").and_then(Value::as_str) == Some(st))
                })
                .collect();
            list.sort_by_key(|s| std::cmp::Reverse(as_u64(s.get("id"))));
            Ok(ctx.paginate(list, |s| s))
        }
        A::Shipment(id) => m
            .shipments()
            .into_iter()
            .find(|s| as_u64(s.get("id")) == Some(*id))
            .map(Answer::ok)
            .ok_or_else(ApiError::not_found),
        A::Products => list_products(m, ctx),
        A::Product(id) => m
            .products
            .get(id)
            .cloned()
            .map(Answer::ok)
            .ok_or_else(ApiError::not_found),
        A::ProductBySku(sku) => {
            let pid = match m.find_sku(sku).ok_or_else(ApiError::not_found)? {
                Target::Product(p) | Target::Variant { product: p, .. } => p,
            };
            m.products
                .get(&pid)
                .cloned()
                .map(Answer::ok)
                .ok_or_else(ApiError::not_found)
        }
        A::ProductVariants(id) => {
            let p = m.products.get(id).ok_or_else(ApiError::not_found)?;
            Ok(ctx.paginate(state::variants(p).iter().collect(), Value::clone))
        }
        A::Variant(id) => m
            .find_variant(*id)
            .map(|(_, v)| Answer::ok(v.clone()))
            .ok_or_else(ApiError::not_found),
        A::Customers => {
            let kw = ctx.q("keyword").map(str::to_lowercase);
            let list: Vec<&Value> = m
                .customers
                .values()
                .rev()
                .filter(|c| {
                    kw.as_deref().is_none_or(|k| {
                        state::customer_texts(c)
                            .iter()
                            .any(|t| state::contains_ci(t, k))
                    })
                })
                .collect();
            Ok(ctx.paginate(list, Value::clone))
        }
        A::Customer(id) => m
            .customers
            .get(id)
            .cloned()
            .map(Answer::ok)
            .ok_or_else(ApiError::not_found),
        A::Branches => Ok(ctx.paginate(m.branch_list(), |b| b)),
        A::Branch(id) => m
            .branch_list()
            .into_iter()
            .find(|b| as_u64(b.get("id")) == Some(*id))
            .map(Answer::ok)
            .ok_or_else(ApiError::not_found),
        A::OrderStatus(_) | A::QuantitiesBulk => Err(ApiError::not_found()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortField {
    Id,
    Total,
    UpdatedAt,
    CreatedAt,
}

fn is_ymd(s: &str) -> bool {
    time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).is_ok()
}

fn list_orders(m: &Merchant, ctx: &Ctx<'_>) -> Result<Answer, ApiError> {
    let mut fields = Map::new();
    let mut bad = |name: &str, msg: String| {
        fields.insert(name.to_owned(), json!([msg]));
    };
    let from = ctx.q("from_date");
    let to = ctx.q("to_date");
    for (name, v) in [("from_date", from), ("to_date", to)] {
        if let Some(v) = v
            && !is_ymd(v)
        {
            bad(
                name,
                format!(
                    "The {} does not match the format Y-m-d.",
                    name.replace('_', " ")
                ),
            );
        }
    }
    let mut status_ids = Vec::new();
    for s in q_all(&ctx.pairs, "status") {
        match num(&s) {
            Some(n) => status_ids.push(n),
            None => bad("status", "The selected status is invalid.".into()),
        }
    }
    let customer = match ctx.q("customer_id") {
        Some(s) => match num(s) {
            Some(n) => Some(n),
            None => {
                bad("customer_id", "The customer id must be an integer.".into());
                None
            }
        },
        None => None,
    };
    let (sort, desc) = match ctx.q("sort_by") {
        None => (SortField::Id, true),
        Some(s) => {
            let parsed = s.rsplit_once('-').and_then(|(f, d)| {
                let field = match f {
                    "id" => SortField::Id,
                    "total" => SortField::Total,
                    "updated_at" => SortField::UpdatedAt,
                    "created_at" => SortField::CreatedAt,
                    _ => return None,
                };
                match d {
                    "asc" => Some((field, false)),
                    "desc" => Some((field, true)),
                    _ => None,
                }
            });
            parsed.unwrap_or_else(|| {
                bad("sort_by", "The selected sort by is invalid.".into());
                (SortField::Id, true)
            })
        }
    };
    if !fields.is_empty() {
        return Err(ApiError::validation(fields));
    }
    let reference = ctx.q("reference_id");
    let payment_methods = q_all(&ctx.pairs, "payment_method");
    let sources = q_all(&ctx.pairs, "source");
    let day = |o: &Value| date_text(o.get("date")).and_then(|d| d.get(..10).map(str::to_owned));
    let mut list: Vec<&Value> = m
        .orders
        .values()
        .filter(|o| {
            from.is_none_or(|f| day(o).is_some_and(|d| d.as_str() >= f))
                && to.is_none_or(|t| day(o).is_some_and(|d| d.as_str() <= t))
                && (status_ids.is_empty()
                    || o.get("status").is_some_and(|s| {
                        let id = as_u64(s.get("id"));
                        let custom = s.get("customized").and_then(|c| as_u64(c.get("id")));
                        status_ids
                            .iter()
                            .any(|w| Some(*w) == id || Some(*w) == custom)
                    }))
                && reference.is_none_or(|r| as_text(o.get("reference_id")).is_some_and(|x| x == r))
                && customer
                    .is_none_or(|c| as_u64(o.get("customer").and_then(|x| x.get("id"))) == Some(c))
                && (payment_methods.is_empty()
                    || o.get("payment_method")
                        .and_then(Value::as_str)
                        .is_some_and(|p| payment_methods.iter().any(|w| w == p)))
                && (sources.is_empty()
                    || o.get("source")
                        .and_then(Value::as_str)
                        .is_some_and(|p| sources.iter().any(|w| w == p)))
        })
        .collect();
    let id_of = |o: &Value| as_u64(o.get("id")).unwrap_or(0);
    let total_of = |o: &Value| {
        as_f64(
            o.get("amounts")
                .and_then(|a| a.get("total"))
                .or(o.get("total")),
        )
        .unwrap_or(0.0)
    };
    let cmp = |a: &Value, b: &Value| -> Ordering {
        let primary = match sort {
            SortField::Id => Ordering::Equal,
            SortField::Total => total_of(a)
                .partial_cmp(&total_of(b))
                .unwrap_or(Ordering::Equal),
            SortField::UpdatedAt => {
                date_text(a.get("updated_at")).cmp(&date_text(b.get("updated_at")))
            }
            SortField::CreatedAt => date_text(a.get("date")).cmp(&date_text(b.get("date"))),
        };
        primary.then_with(|| id_of(a).cmp(&id_of(b)))
    };
    list.sort_by(|a, b| if desc { cmp(b, a) } else { cmp(a, b) });
    Ok(ctx.paginate(list, state::order_summary))
}

fn list_products(m: &Merchant, ctx: &Ctx<'_>) -> Result<Answer, ApiError> {
    let kw = ctx.q("keyword").map(str::to_lowercase);
    let status = ctx.q("status");
    if let Some(s) = status
        && !["hidden", "sale", "out"].contains(&s)
    {
        return Err(ApiError::field("status", "The selected status is invalid."));
    }
    let list: Vec<&Value> = m
        .products
        .values()
        .rev()
        .filter(|p| status.is_none_or(|s| p.get("status").and_then(Value::as_str) == Some(s)))
        .filter(|p| {
            kw.as_deref().is_none_or(|k| {
                let name = p.get("name").and_then(Value::as_str).unwrap_or("");
                let mut skus = std::iter::once(*p)
                    .chain(state::variants(p))
                    .filter_map(|x| x.get("sku").and_then(Value::as_str));
                state::contains_ci(name, k) || skus.any(|s| state::contains_ci(s, k))
            })
        })
        .collect();
    Ok(ctx.paginate(list, Value::clone))
}

fn post_status(
    st: &mut State,
    merchant: u64,
    order: u64,
    ctx: &Ctx<'_>,
    now: OffsetDateTime,
) -> Result<Answer, ApiError> {
    if !st.merchant(merchant).orders.contains_key(&order) {
        return Err(ApiError::not_found());
    }
    let body = ctx.json_body()?;
    let note = body.get("note").and_then(Value::as_str).map(str::to_owned);
    let slug = body
        .get("slug")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    let status_id = body.get("status_id").filter(|v| !v.is_null());
    let def = match (slug, status_id) {
        (Some(s), _) => statuses::by_slug(s)
            .ok_or_else(|| ApiError::field("slug", "The selected slug is invalid."))?,
        (None, Some(v)) => as_u64(Some(v))
            .and_then(statuses::by_id)
            .ok_or_else(|| ApiError::field("status_id", "The selected status id is invalid."))?,
        (None, None) => {
            return Err(ApiError::field(
                "slug",
                "The slug field is required when status id is not present.",
            ));
        }
    };
    st.set_order_status(merchant, order, def, note, now);
    Ok(Answer::updated("The entity has been updated successfully"))
}

fn bulk_quantities(
    shared: &Shared,
    st: &mut State,
    merchant: u64,
    ctx: &Ctx<'_>,
    now: OffsetDateTime,
) -> Result<Answer, ApiError> {
    let body = ctx.json_body()?;
    let Some(entries) = body
        .get("products")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
    else {
        return Err(ApiError::field(
            "products",
            "The products field is required.",
        ));
    };
    let m = st.merchant(merchant);
    let mut fields = Map::new();
    let mut ops = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let mut bad = |f: &str, msg: &str| {
            let key = format!("products.{i}.{f}");
            fields.insert(key.clone(), json!([msg.replace(":attribute", &key)]));
        };
        let kind = e.get("identifer_type").and_then(Value::as_str);
        let ident = as_text(e.get("identifer")).filter(|s| !s.trim().is_empty());
        let quantity = match e.get("quantity") {
            None | Some(Value::Null) => {
                bad("quantity", "The :attribute field is required.");
                None
            }
            Some(v) => match as_text(Some(v)).and_then(|s| s.trim().parse::<i64>().ok()) {
                Some(q) if q >= 0 => Some(q),
                Some(_) => {
                    bad("quantity", "The :attribute must be at least 0.");
                    None
                }
                None => {
                    bad("quantity", "The :attribute must be an integer.");
                    None
                }
            },
        };
        let mode = match e.get("mode").and_then(Value::as_str) {
            None | Some("overwrite") => Some(Mode::Overwrite),
            Some("increment") => Some(Mode::Increment),
            Some("decrement") => Some(Mode::Decrement),
            Some(_) => {
                bad("mode", "The selected :attribute is invalid.");
                None
            }
        };
        let unlimited = e.get("unlimited_quantity").and_then(|v| match v {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => Some(n.as_u64() == Some(1)),
            _ => None,
        });
        let target = match (kind, ident) {
            (None, _) => {
                bad("identifer_type", "The :attribute field is required.");
                None
            }
            (Some(k), _) if !["id", "variant_id", "sku"].contains(&k) => {
                bad("identifer_type", "The selected :attribute is invalid.");
                None
            }
            (Some(_), None) => {
                bad("identifer", "The :attribute field is required.");
                None
            }
            (Some(k), Some(ident)) => {
                let t = match k {
                    "id" => num(ident.trim())
                        .filter(|id| m.products.contains_key(id))
                        .map(Target::Product),
                    "variant_id" => num(ident.trim()).and_then(|vid| {
                        m.find_variant(vid).map(|(product, _)| Target::Variant {
                            product,
                            variant: vid,
                        })
                    }),
                    _ => m.find_sku(&ident),
                };
                if t.is_none() {
                    bad("identifer", "The selected :attribute is invalid.");
                }
                t
            }
        };
        if let (Some(target), Some(quantity), Some(mode)) = (target, quantity, mode) {
            ops.push(StockOp {
                target,
                quantity,
                mode,
                unlimited,
            });
        }
    }
    if !fields.is_empty() {
        return Err(ApiError::validation(fields));
    }
    let update_id = st.log_stock_update(merchant, Value::Array(entries.clone()), now);
    shared.queue_stock(StockJob {
        merchant,
        update_id,
        ops,
        due: tokio::time::Instant::now() + shared.opts.stock_delay,
    });
    Ok(Answer::updated(
        "The products quantities has been queued to update",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let r = |m: Method, p: &str| match resolve(&m, p) {
            Resolved::Found(r) => Some(r),
            _ => None,
        };
        assert_eq!(
            r(Method::GET, "/admin/v2/orders/items"),
            Some(Route::Admin(AdminRoute::OrderItems))
        );
        assert_eq!(
            r(Method::GET, "/admin/v2/orders/12/"),
            Some(Route::Admin(AdminRoute::Order(12)))
        );
        assert_eq!(
            r(Method::GET, "/admin/v2/products/sku/A%20B"),
            Some(Route::Admin(AdminRoute::ProductBySku("A B".into())))
        );
        assert!(matches!(
            resolve(&Method::GET, "/admin/v2/orders/1/status"),
            Resolved::WrongMethod
        ));
        assert!(matches!(
            resolve(&Method::GET, "/admin/v2/orders/x"),
            Resolved::NotFound
        ));
        assert_eq!(
            endpoint(&Method::GET, "/admin/v2/products/5/variants"),
            "GET /admin/v2/products/{id}/variants"
        );
    }

    #[test]
    fn scopes() {
        let read = AdminRoute::Orders.scope();
        assert!(read.granted("orders.read"));
        assert!(read.granted("x orders.read_write"));
        assert!(!read.granted("orders.reader products.read"));
        let write = AdminRoute::OrderStatus(1).scope();
        assert!(!write.granted("orders.read"));
        assert_eq!(write.required(), "orders.read_write");
        assert!(
            AdminRoute::Shipments
                .scope()
                .granted("shippings.read_write")
        );
    }
}
