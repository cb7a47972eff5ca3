//! Method lookup, argument binding and execution of one model call (`execute_kw` or JSON-2),
//! each as one transaction: a failing call leaves the records as they were, but ids and
//! document numbers it took stay used, like PostgreSQL sequences.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::Version;
use crate::business;
use crate::db::{Db, Env};
use crate::domain::ids_of;
use crate::error::{OdooError, OdooResult, py_repr};
use crate::schema::{Field, Schema, Ty};

/// How a method binds its arguments.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// `True` for record methods (the first positional argument is the ids).
    pub record: bool,
    /// Named parameters after `self`, in positional order.
    pub params: &'static [&'static str],
    /// How many of `params` are required.
    pub required: usize,
    /// Does not write (no transaction snapshot needed).
    pub readonly: bool,
}

const fn rec(params: &'static [&'static str], readonly: bool) -> Spec {
    Spec {
        record: true,
        params,
        required: 0,
        readonly,
    }
}

const fn mdl(params: &'static [&'static str], required: usize, readonly: bool) -> Spec {
    Spec {
        record: false,
        params,
        required,
        readonly,
    }
}

/// The method table: generic ORM methods, then business methods per model.
pub fn spec(v: Version, model: &str, method: &str) -> Option<Spec> {
    let generic = match method {
        "create" => Some(mdl(&["vals_list"], 1, false)),
        "read" => Some(rec(&["fields", "load"], true)),
        "write" => Some(Spec {
            record: true,
            params: &["vals"],
            required: 1,
            readonly: false,
        }),
        "unlink" => Some(rec(&[], false)),
        "search" if v == Version::V16 => {
            Some(mdl(&["args", "offset", "limit", "order", "count"], 1, true))
        }
        "search" => Some(mdl(&["domain", "offset", "limit", "order"], 1, true)),
        "search_read" => Some(mdl(
            &["domain", "fields", "offset", "limit", "order"],
            0,
            true,
        )),
        "search_count" => Some(mdl(&["domain", "limit"], 1, true)),
        "fields_get" => Some(mdl(&["allfields", "attributes"], 0, true)),
        "name_search" if v == Version::V16 => {
            Some(mdl(&["name", "args", "operator", "limit"], 0, true))
        }
        "name_search" => Some(mdl(&["name", "domain", "operator", "limit"], 0, true)),
        "name_get" if v == Version::V16 => Some(rec(&[], true)),
        "default_get" => Some(mdl(&["fields_list"], 1, true)),
        "exists" => Some(rec(&[], true)),
        _ => None,
    };
    if generic.is_some() {
        return generic;
    }
    let b = match (model, method) {
        (
            "sale.order",
            "action_confirm" | "action_cancel" | "action_draft" | "action_quotation_sent",
        ) => rec(&[], false),
        ("sale.order", "action_lock") if v >= Version::V17 => rec(&[], false),
        ("sale.order", "action_done") if v == Version::V16 => rec(&[], false),
        ("sale.order", "action_unlock") => rec(&[], false),
        ("sale.order.cancel", "action_cancel") => rec(&[], false),
        (
            "stock.picking",
            "button_validate" | "action_assign" | "action_cancel" | "action_confirm",
        ) => rec(&[], false),
        ("stock.picking", "action_set_quantities_to_reservation") if v == Version::V16 => {
            rec(&[], false)
        }
        ("stock.immediate.transfer", "process") if v == Version::V16 => rec(&[], false),
        ("stock.backorder.confirmation", "process" | "process_cancel_backorder") => rec(&[], false),
        ("stock.quant", "action_apply_inventory") => rec(&[], false),
        ("sale.advance.payment.inv", "create_invoices") => rec(&[], false),
        ("account.move", "action_post" | "button_draft" | "button_cancel") => rec(&[], false),
        ("account.payment.register", "action_create_payments") => rec(&[], false),
        ("account.move.reversal", "refund_moves" | "modify_moves") if v >= Version::V17 => {
            rec(&[], false)
        }
        ("account.move.reversal", "reverse_moves") if v >= Version::V17 => {
            rec(&["is_modify"], false)
        }
        ("account.move.reversal", "reverse_moves") => rec(&[], false),
        ("stock.return.picking", "action_create_returns") if v >= Version::V18 => rec(&[], false),
        ("stock.return.picking", "create_returns") if v < Version::V18 => rec(&[], false),
        ("choose.delivery.carrier", "button_confirm") => rec(&[], false),
        ("res.users", "context_get") => mdl(&[], 0, true),
        // 16: `@api.model` (the calling user); 17+: a record method (`ensure_one`).
        ("res.users", "has_group") if v == Version::V16 => mdl(&["group_ext_id"], 1, true),
        ("res.users", "has_group") => Spec {
            record: true,
            params: &["group_ext_id"],
            required: 1,
            readonly: true,
        },
        ("ir.model.data", "check_object_reference") => {
            mdl(&["module", "xml_id", "raise_on_access_error"], 2, true)
        }
        _ => return None,
    };
    Some(b)
}

/// Arguments as the transport delivered them.
pub enum Args {
    /// JSON-RPC `execute_kw`: positional args and keyword args (context inside).
    Positional(Vec<Value>, Map<String, Value>),
    /// JSON-2: named args, `ids` and `context` included.
    Named(Map<String, Value>),
}

/// A bound call, ready to run.
struct Bound {
    ids: Vec<i64>,
    params: Map<String, Value>,
    ctx: Map<String, Value>,
    /// `create` got a single dict (JSON-RPC returns one id then).
    single: bool,
}

fn not_found(msg: String) -> OdooError {
    OdooError::new("werkzeug.exceptions.NotFound", msg)
}

fn unprocessable(msg: String) -> OdooError {
    OdooError::new("werkzeug.exceptions.UnprocessableEntity", msg)
}

fn ids_arg(v: &Value) -> OdooResult<Vec<i64>> {
    match v {
        Value::Number(_) => Ok(ids_of(v)),
        Value::Array(a) if a.iter().all(Value::is_i64) => Ok(ids_of(v)),
        Value::Bool(false) | Value::Null => Ok(Vec::new()),
        other => Err(OdooError::type_error(format!(
            "Invalid ids {}",
            py_repr(other)
        ))),
    }
}

fn bind(method: &str, spec: Spec, args: Args, json2: bool) -> OdooResult<Bound> {
    let mut params = Map::new();
    let mut ids = Vec::new();
    let ctx;
    let err = |m: String| {
        if json2 {
            unprocessable(m)
        } else {
            OdooError::type_error(m)
        }
    };
    match args {
        Args::Positional(pos, mut kwargs) => {
            let mut it = pos.into_iter();
            if spec.record {
                match it.next() {
                    Some(v) => ids = ids_arg(&v)?,
                    None => {
                        return Err(OdooError::new(
                            "builtins.IndexError",
                            "list index out of range",
                        ));
                    }
                }
            }
            let rest: Vec<Value> = it.collect();
            if rest.len() > spec.params.len() {
                return Err(err(format!(
                    "{method}() takes from 1 to {} positional arguments but {} were given",
                    spec.params.len() + 1,
                    rest.len() + 1
                )));
            }
            for (i, v) in rest.into_iter().enumerate() {
                params.insert(spec.params[i].to_owned(), v);
            }
            ctx = match kwargs.remove("context") {
                Some(Value::Object(c)) => c,
                _ => Map::new(),
            };
            for (k, v) in kwargs {
                if !spec.params.contains(&k.as_str()) {
                    return Err(err(format!(
                        "{method}() got an unexpected keyword argument '{k}'"
                    )));
                }
                if params.contains_key(&k) {
                    return Err(err(format!(
                        "{method}() got multiple values for argument '{k}'"
                    )));
                }
                params.insert(k, v);
            }
        }
        Args::Named(mut body) => {
            match body.remove("ids") {
                Some(v) if spec.record => ids = ids_arg(&v)?,
                Some(_) => {
                    return Err(unprocessable(format!("cannot call {method} with ids")));
                }
                None => {}
            }
            ctx = match body.remove("context") {
                Some(Value::Object(c)) => c,
                _ => Map::new(),
            };
            for (k, v) in body {
                if !spec.params.contains(&k.as_str()) {
                    return Err(unprocessable(format!(
                        "{method}() got an unexpected keyword argument '{k}'"
                    )));
                }
                params.insert(k, v);
            }
        }
    }
    let missing: Vec<&str> = spec.params[..spec.required]
        .iter()
        .copied()
        .filter(|p| !params.contains_key(*p))
        .collect();
    if !missing.is_empty() {
        let names: Vec<String> = missing.iter().map(|m| format!("'{m}'")).collect();
        return Err(err(format!(
            "{method}() missing {} required positional argument{}: {}",
            missing.len(),
            if missing.len() == 1 { "" } else { "s" },
            names.join(" and ")
        )));
    }
    let single = params.get("vals_list").is_some_and(Value::is_object);
    Ok(Bound {
        ids,
        params,
        ctx,
        single,
    })
}

/// Run `model.method` for `uid`. `Ok(None)` is a method that returned Python `None`.
#[allow(clippy::too_many_arguments)]
pub fn execute(
    db: &mut Db,
    schema: &Schema,
    uid: i64,
    model: &str,
    method: &str,
    args: Args,
    json2: bool,
    now: OffsetDateTime,
) -> OdooResult<Option<Value>> {
    let v = schema.version;
    if schema.model(model).is_none() {
        return Err(if json2 {
            not_found(format!("the model '{model}' does not exist"))
        } else {
            OdooError::user(format!("Object {model} doesn't exist"))
        });
    }
    if method.starts_with('_') {
        return Err(if json2 {
            not_found(format!(
                "Private methods (such as '{model}.{method}') cannot be called remotely."
            ))
        } else {
            OdooError::access(format!(
                "Private methods (such as '{model}.{method}') cannot be called remotely."
            ))
        });
    }
    let Some(spec) = spec(v, model, method) else {
        let msg = format!("The method '{model}.{method}' does not exist");
        return Err(if json2 {
            not_found(msg)
        } else {
            OdooError::attribute(msg)
        });
    };
    let bound = bind(method, spec, args, json2)?;
    let mut env = Env {
        db,
        schema,
        uid,
        ctx: bound.ctx.clone(),
        now,
        journal: (!spec.readonly).then(Default::default),
    };
    let result = env
        .check_access(model)
        .and_then(|()| run(&mut env, model, method, &bound, json2));
    if result.is_err() {
        // Roll back the records but keep the sequences moving, as PostgreSQL does.
        env.rollback();
    }
    result
}

fn p_usize(params: &Map<String, Value>, key: &str) -> Option<usize> {
    params.get(key).and_then(Value::as_u64).map(|n| n as usize)
}

fn p_str<'a>(params: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    params.get(key).and_then(Value::as_str)
}

fn p_fields(params: &Map<String, Value>, key: &str) -> Option<Vec<String>> {
    match params.get(key) {
        Some(Value::Array(a)) => Some(
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        ),
        Some(Value::String(s)) => Some(vec![s.clone()]),
        _ => None,
    }
}

fn run(
    env: &mut Env<'_>,
    model: &str,
    method: &str,
    b: &Bound,
    json2: bool,
) -> OdooResult<Option<Value>> {
    let ids = &b.ids;
    let p = &b.params;
    let v = env.version();
    let some = |x: Value| Ok(Some(x));
    match method {
        "create" => {
            let list: Vec<Value> = match p.get("vals_list") {
                Some(Value::Object(o)) => vec![Value::Object(o.clone())],
                Some(Value::Array(a)) => a.clone(),
                Some(other) => {
                    return Err(OdooError::value(format!(
                        "Invalid value for create: {} (expected a dict or a list of dicts)",
                        py_repr(other)
                    )));
                }
                None => Vec::new(),
            };
            let mut out = Vec::new();
            for item in list {
                let Value::Object(mut vals) = item else {
                    return Err(OdooError::type_error(
                        "'int' object is not iterable".to_owned(),
                    ));
                };
                // Context defaults (default_<field>) apply to the top-level records.
                for (k, val) in &env.ctx {
                    if let Some(f) = k.strip_prefix("default_")
                        && env.schema.field(model, f).is_some()
                        && !vals.contains_key(f)
                    {
                        vals.insert(f.to_owned(), val.clone());
                    }
                }
                let id = if model == "stock.quant" {
                    business::create_quant(env, &vals)?
                } else {
                    env.create(model, &vals)?
                };
                out.push(id);
            }
            if b.single && !json2 {
                some(json!(out.first().copied().unwrap_or_default()))
            } else {
                some(json!(out))
            }
        }
        "read" => {
            let fields = p_fields(p, "fields");
            some(Value::Array(env.read(model, ids, fields.as_deref())?))
        }
        "write" => {
            let Some(Value::Object(vals)) = p.get("vals") else {
                return Err(OdooError::type_error(
                    "write() argument 'vals' must be a dict".to_owned(),
                ));
            };
            env.write(model, ids, vals)?;
            some(json!(true))
        }
        "unlink" => {
            env.unlink(model, ids)?;
            some(json!(true))
        }
        "search" | "search_read" | "search_count" => {
            let domain = p
                .get("domain")
                .or_else(|| p.get("args"))
                .cloned()
                .unwrap_or(json!([]));
            let offset = p_usize(p, "offset").unwrap_or(0);
            let limit = p_usize(p, "limit");
            let order = p_str(p, "order");
            if method == "search_count" {
                let n = env.filter(model, &domain)?.len();
                let n = limit.map_or(n, |l| n.min(l));
                return some(json!(n));
            }
            let found = env.search(model, &domain, offset, limit, order)?;
            if method == "search" {
                if p.get("count").is_some_and(crate::db::truthy) {
                    return some(json!(found.len()));
                }
                return some(json!(found));
            }
            let fields = p_fields(p, "fields");
            some(Value::Array(env.read(model, &found, fields.as_deref())?))
        }
        "fields_get" => some(fields_get(env.schema, model, p)),
        "name_search" => {
            let name = p_str(p, "name").unwrap_or_default().to_owned();
            let domain = p
                .get("domain")
                .or_else(|| p.get("args"))
                .cloned()
                .unwrap_or(json!([]));
            let operator = p_str(p, "operator").unwrap_or("ilike").to_owned();
            let limit = p
                .get("limit")
                .map_or(Some(100), |l| l.as_u64().map(|n| n as usize));
            let found = env.search(model, &domain, 0, None, None)?;
            let mut out = Vec::new();
            for id in found {
                let dn = env.display_name(model, id);
                if name.is_empty()
                    || crate::domain::compare_scalar(&json!(dn), &operator, &json!(name))
                {
                    out.push(json!([id, dn]));
                }
                if limit.is_some_and(|l| out.len() >= l) {
                    break;
                }
            }
            some(Value::Array(out))
        }
        "name_get" => some(Value::Array(
            ids.iter()
                .filter(|i| env.exists(model, **i))
                .map(|i| json!([i, env.display_name(model, *i)]))
                .collect(),
        )),
        "default_get" => {
            let wanted = p_fields(p, "fields_list").unwrap_or_default();
            let mut out = Map::new();
            for f in wanted {
                let Some(def) = env.schema.field(model, &f) else {
                    continue;
                };
                if let Some(val) = env.ctx.get(&format!("default_{f}")) {
                    out.insert(f.clone(), val.clone());
                } else if let Some(d) = &def.default {
                    out.insert(f.clone(), d.clone());
                }
            }
            some(Value::Object(out))
        }
        "exists" => some(json!(
            ids.iter()
                .filter(|i| env.exists(model, **i))
                .collect::<Vec<_>>()
        )),
        _ => business_method(env, model, method, ids, p, v),
    }
}

fn check_ids(env: &Env<'_>, model: &str, ids: &[i64]) -> OdooResult<()> {
    let missing: Vec<i64> = ids
        .iter()
        .copied()
        .filter(|i| !env.exists(model, *i))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(OdooError::missing(model, &missing, env.uid))
    }
}

fn business_method(
    env: &mut Env<'_>,
    model: &str,
    method: &str,
    ids: &[i64],
    p: &Map<String, Value>,
    v: Version,
) -> OdooResult<Option<Value>> {
    let first = || ids.first().copied().unwrap_or_default();
    check_ids(env, model, ids)?;
    Ok(match (model, method) {
        ("sale.order", "action_confirm") => Some(business::order_confirm(env, ids)?),
        ("sale.order", "action_cancel") => Some(business::order_cancel(env, ids)?),
        ("sale.order", "action_draft") => {
            for id in ids {
                let st = env.raw(model, *id, "state");
                if st == json!("cancel") || st == json!("sent") {
                    env.set(model, *id, "state", json!("draft"));
                }
            }
            Some(json!(true))
        }
        ("sale.order", "action_quotation_sent") => {
            for id in ids {
                if env.raw(model, *id, "state") == json!("draft") {
                    env.set(model, *id, "state", json!("sent"));
                }
            }
            None
        }
        ("sale.order", "action_lock") => {
            for id in ids {
                env.set(model, *id, "locked", json!(true));
            }
            None
        }
        ("sale.order", "action_done") => {
            for id in ids {
                env.set(model, *id, "state", json!("done"));
            }
            Some(json!(true))
        }
        ("sale.order", "action_unlock") => {
            for id in ids {
                if v == Version::V16 {
                    env.set(model, *id, "state", json!("sale"));
                } else {
                    env.set(model, *id, "locked", json!(false));
                }
            }
            None
        }
        ("sale.order.cancel", "action_cancel") => {
            let order = env
                .raw(model, first(), "order_id")
                .as_i64()
                .unwrap_or_default();
            env.ctx.insert("disable_cancel_warning".into(), json!(true));
            Some(business::order_cancel(env, &[order])?)
        }
        ("stock.picking", "button_validate") => Some(business::button_validate(env, ids)?),
        ("stock.picking", "action_assign") => {
            business::picking_assign(env, ids)?;
            Some(json!(true))
        }
        ("stock.picking", "action_confirm") => {
            business::picking_assign(env, ids)?;
            Some(json!(true))
        }
        ("stock.picking", "action_cancel") => {
            business::picking_cancel(env, ids)?;
            Some(json!(true))
        }
        ("stock.picking", "action_set_quantities_to_reservation") => {
            business::set_quantities_to_reservation(env, ids);
            None
        }
        ("stock.immediate.transfer" | "stock.backorder.confirmation", m) => {
            Some(business::wizard_process(env, model, first(), m)?)
        }
        ("stock.quant", "action_apply_inventory") => {
            business::apply_inventory(env, ids)?;
            None
        }
        ("sale.advance.payment.inv", "create_invoices") => {
            Some(business::create_invoices(env, first())?)
        }
        ("account.move", "action_post") => Some(business::move_post(env, ids)?),
        ("account.move", "button_draft") => {
            crate::accounting::move_button_draft(env, ids)?;
            None
        }
        ("account.move", "button_cancel") => {
            business::move_button_cancel(env, ids)?;
            None
        }
        ("account.payment.register", "action_create_payments") => {
            Some(crate::accounting::create_payments(env, first())?)
        }
        ("account.move.reversal", m) => {
            use crate::accounting::Reverse;
            let mode = match m {
                "modify_moves" => Reverse::Modify,
                "reverse_moves" if v >= Version::V17 => {
                    if p.get("is_modify").is_some_and(crate::db::truthy) {
                        Reverse::Modify
                    } else {
                        Reverse::Refund
                    }
                }
                "reverse_moves" => match env.raw(model, first(), "refund_method").as_str() {
                    Some("cancel") => Reverse::Cancel,
                    Some("modify") => Reverse::Modify,
                    _ => Reverse::Refund,
                },
                _ => Reverse::Refund,
            };
            Some(crate::accounting::reverse_moves(env, first(), mode)?)
        }
        ("stock.return.picking", _) => Some(crate::returns::create_returns(env, first())?),
        ("choose.delivery.carrier", "button_confirm") => {
            business::delivery_confirm(env, first())?;
            None
        }
        ("res.users", "context_get") => {
            let tz = env.raw("res.users", env.uid, "tz");
            let lang = env.raw("res.users", env.uid, "lang");
            Some(json!({"lang": lang, "tz": tz, "uid": env.uid}))
        }
        ("res.users", "has_group") => {
            let user = if v == Version::V16 {
                env.uid
            } else {
                match ids {
                    [one] => *one,
                    _ => {
                        return Err(OdooError::value(format!(
                            "Expected singleton: res.users({})",
                            ids.iter().map(|i| format!("{i},")).collect::<String>()
                        )));
                    }
                }
            };
            let group = p_str(p, "group_ext_id").unwrap_or_default().to_owned();
            if !group.contains('.') {
                return Err(OdooError::value(format!(
                    "External ID must be fully qualified: {group}"
                )));
            }
            let login = env.raw("res.users", user, "login");
            let login = login.as_str().unwrap_or_default();
            let lacks = env
                .db
                .missing_groups
                .iter()
                .any(|(l, g)| l == login && *g == group);
            Some(json!(!lacks && env.exists("res.users", user)))
        }
        ("ir.model.data", "check_object_reference") => {
            let module = p_str(p, "module").unwrap_or_default().to_owned();
            let name = p_str(p, "xml_id").unwrap_or_default().to_owned();
            let found = env.all_ids("ir.model.data").into_iter().find(|i| {
                env.raw("ir.model.data", *i, "module") == json!(module)
                    && env.raw("ir.model.data", *i, "name") == json!(name)
            });
            match found {
                Some(i) => Some(json!([
                    env.raw("ir.model.data", i, "model"),
                    env.raw("ir.model.data", i, "res_id")
                ])),
                None => {
                    return Err(OdooError::value(format!(
                        "External ID not found in the system: {module}.{name}"
                    )));
                }
            }
        }
        _ => {
            return Err(OdooError::attribute(format!(
                "The method '{model}.{method}' does not exist"
            )));
        }
    })
}

fn describe(f: &Field) -> BTreeMap<&'static str, Value> {
    let mut d = BTreeMap::new();
    d.insert("change_default", json!(false));
    d.insert("company_dependent", json!(false));
    d.insert("depends", json!([]));
    d.insert("exportable", json!(true));
    d.insert("groupable", json!(f.store && !f.ty.is_x2many()));
    d.insert("manual", json!(false));
    d.insert("name", json!(f.name));
    d.insert("readonly", json!(f.readonly));
    d.insert("required", json!(f.required));
    d.insert("searchable", json!(true));
    d.insert("sortable", json!(f.store && !f.ty.is_x2many()));
    d.insert("store", json!(f.store));
    d.insert("string", json!(f.string));
    d.insert("type", json!(f.ty.name()));
    if let Some(rel) = f.ty.relation() {
        d.insert("relation", json!(rel));
        d.insert("context", json!({}));
        d.insert("domain", json!([]));
    }
    match &f.ty {
        Ty::One2many(_, inv) => {
            d.insert("relation_field", json!(inv));
        }
        Ty::Selection(opts) => {
            d.insert(
                "selection",
                json!(opts.iter().map(|(k, l)| json!([k, l])).collect::<Vec<_>>()),
            );
        }
        Ty::Float | Ty::Monetary => {
            d.insert("aggregator", json!("sum"));
        }
        Ty::Char => {
            d.insert("size", json!(false));
            d.insert("translate", json!(false));
            d.insert("trim", json!(true));
        }
        _ => {}
    }
    d
}

/// `fields_get(allfields, attributes)`: fields and attribute keys sorted, as Odoo answers.
pub fn fields_get(schema: &Schema, model: &str, p: &Map<String, Value>) -> Value {
    let all = p_fields(p, "allfields").filter(|a| !a.is_empty());
    let attrs = p_fields(p, "attributes").filter(|a| !a.is_empty());
    let mut names: Vec<&'static str> = schema.field_names(model);
    if !schema.model(model).is_some_and(|m| m.ordered) {
        names.sort_unstable();
    }
    let mut out = Map::new();
    for n in names {
        if let Some(a) = &all
            && !a.iter().any(|x| x == n)
        {
            continue;
        }
        let Some(f) = schema.field(model, n) else {
            continue;
        };
        let d = describe(f);
        let mut m = Map::new();
        for (k, val) in d {
            if attrs.as_ref().is_none_or(|a| a.iter().any(|x| x == k)) {
                m.insert(k.to_owned(), val);
            }
        }
        out.insert(n.to_owned(), Value::Object(m));
    }
    Value::Object(out)
}
