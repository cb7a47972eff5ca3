//! Odoo domains (prefix-notation filters) and `order` specifications.
//!
//! A domain is a JSON list of leaves `[field, operator, value]` and the prefix operators
//! `"&"`, `"|"`, `"!"`; consecutive terms are implicitly and-ed, as in Odoo.

use std::cmp::Ordering;

use serde_json::Value;

use crate::db::Env;
use crate::error::{OdooError, OdooResult, py_repr};
use crate::schema::Ty;

#[derive(Debug, Clone)]
pub enum Node {
    True,
    False,
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Not(Box<Node>),
    /// `(path, 'any' | 'not any', subdomain)` (17+): some related record matches.
    Any {
        path: Vec<String>,
        relation: String,
        negate: bool,
        sub: Box<Node>,
    },
    Leaf {
        path: Vec<String>,
        op: String,
        value: Value,
    },
}

const OPERATORS: &[&str] = &[
    "=",
    "!=",
    "<>",
    "<",
    "<=",
    ">",
    ">=",
    "=?",
    "=like",
    "=ilike",
    "like",
    "not like",
    "ilike",
    "not ilike",
    "in",
    "not in",
    "child_of",
    "parent_of",
];

fn leaf_repr(items: &[Value]) -> String {
    let parts: Vec<String> = items.iter().map(py_repr).collect();
    format!("({})", parts.join(", "))
}

/// Parse (and validate against the model) a JSON domain.
pub fn parse(env: &Env<'_>, model: &str, domain: &Value) -> OdooResult<Node> {
    let items = match domain {
        Value::Null | Value::Bool(false) => return Ok(Node::True),
        Value::Array(a) => a,
        other => {
            return Err(OdooError::value(format!(
                "Invalid domain {}",
                py_repr(other)
            )));
        }
    };
    let mut stack: Vec<Node> = Vec::new();
    for item in items.iter().rev() {
        match item {
            Value::String(op) if op == "&" || op == "|" => {
                let (Some(a), Some(b)) = (stack.pop(), stack.pop()) else {
                    return Err(OdooError::value(format!(
                        "Invalid domain {}",
                        py_repr(domain)
                    )));
                };
                stack.push(if op == "&" {
                    Node::And(Box::new(a), Box::new(b))
                } else {
                    Node::Or(Box::new(a), Box::new(b))
                });
            }
            Value::String(op) if op == "!" => {
                let Some(a) = stack.pop() else {
                    return Err(OdooError::value(format!(
                        "Invalid domain {}",
                        py_repr(domain)
                    )));
                };
                stack.push(Node::Not(Box::new(a)));
            }
            Value::Array(leaf) if leaf.len() == 3 => stack.push(parse_leaf(env, model, leaf)?),
            other => return Err(OdooError::value(format!("Invalid leaf {}", py_repr(other)))),
        }
    }
    let mut node = Node::True;
    while let Some(n) = stack.pop() {
        node = match node {
            Node::True => n,
            prev => Node::And(Box::new(prev), Box::new(n)),
        };
    }
    Ok(node)
}

fn parse_leaf(env: &Env<'_>, model: &str, leaf: &[Value]) -> OdooResult<Node> {
    let op = leaf[1].as_str().unwrap_or_default().to_lowercase();
    // TRUE_LEAF / FALSE_LEAF
    if let (Some(a), Some(b)) = (leaf[0].as_i64(), leaf[2].as_i64())
        && op == "="
    {
        return Ok(if a == b { Node::True } else { Node::False });
    }
    let Some(path) = leaf[0].as_str() else {
        return Err(OdooError::value(format!(
            "Invalid leaf {}",
            leaf_repr(leaf)
        )));
    };
    let any_op = matches!(op.as_str(), "any" | "not any") && env.version() >= crate::Version::V17;
    if !OPERATORS.contains(&op.as_str()) && !any_op {
        return Err(OdooError::value(format!(
            "Invalid leaf {}",
            leaf_repr(leaf)
        )));
    }
    let parts: Vec<String> = path.split('.').map(str::to_owned).collect();
    // Validate the path.
    let mut cur = model.to_owned();
    for (i, part) in parts.iter().enumerate() {
        let Some(field) = env.schema.field(&cur, part) else {
            return Err(OdooError::value(format!(
                "Invalid field {}.{} in leaf {}",
                cur,
                part,
                leaf_repr(leaf)
            )));
        };
        if i + 1 < parts.len() {
            match field.ty.relation() {
                Some(rel) => cur = rel.to_owned(),
                None => {
                    return Err(OdooError::value(format!(
                        "Invalid field {}.{} in leaf {}",
                        cur,
                        parts[i + 1],
                        leaf_repr(leaf)
                    )));
                }
            }
        }
    }
    if any_op {
        let field = env
            .schema
            .field(&cur, parts.last().map_or("", String::as_str));
        let Some(relation) = field.and_then(|f| f.ty.relation()) else {
            return Err(OdooError::value(format!(
                "Invalid leaf {}",
                leaf_repr(leaf)
            )));
        };
        let sub = parse(env, relation, &leaf[2])?;
        return Ok(Node::Any {
            path: parts,
            relation: relation.to_owned(),
            negate: op == "not any",
            sub: Box::new(sub),
        });
    }
    Ok(Node::Leaf {
        path: parts,
        op,
        value: leaf[2].clone(),
    })
}

/// Ids reached from `id` through a relational path.
fn follow(env: &Env<'_>, model: &str, id: i64, path: &[String]) -> Vec<i64> {
    let mut cur_model = model.to_owned();
    let mut ids = vec![id];
    for part in path {
        let Some(rel) = env
            .schema
            .field(&cur_model, part)
            .and_then(|f| f.ty.relation())
        else {
            return Vec::new();
        };
        ids = ids
            .iter()
            .flat_map(|i| ids_of(&env.raw(&cur_model, *i, part)))
            .collect();
        cur_model = rel.to_owned();
    }
    ids
}

/// Evaluate a parsed domain on one record.
pub fn eval(env: &Env<'_>, model: &str, id: i64, node: &Node) -> bool {
    match node {
        Node::True => true,
        Node::False => false,
        Node::And(a, b) => eval(env, model, id, a) && eval(env, model, id, b),
        Node::Or(a, b) => eval(env, model, id, a) || eval(env, model, id, b),
        Node::Not(a) => !eval(env, model, id, a),
        Node::Leaf { path, op, value } => eval_path(env, model, id, path, op, value),
        Node::Any {
            path,
            relation,
            negate,
            sub,
        } => {
            let hit = follow(env, model, id, path)
                .into_iter()
                .any(|r| eval(env, relation, r, sub));
            hit != *negate
        }
    }
}

fn eval_path(
    env: &Env<'_>,
    model: &str,
    id: i64,
    path: &[String],
    op: &str,
    value: &Value,
) -> bool {
    let fname = &path[0];
    if fname == "id" && path.len() == 1 {
        return compare_scalar(&Value::from(id), op, value);
    }
    let Some(field) = env.schema.field(model, fname) else {
        return false;
    };
    let raw = env.raw(model, id, fname);
    if path.len() > 1 {
        let Some(rel) = field.ty.relation() else {
            return false;
        };
        let ids = ids_of(&raw);
        let negative = matches!(op, "!=" | "<>" | "not in" | "not like" | "not ilike");
        if negative {
            // Odoo: the record matches unless some related record matches the positive form.
            let pos = positive_of(op);
            return !ids
                .iter()
                .any(|r| eval_path(env, rel, *r, &path[1..], pos, value));
        }
        return ids
            .iter()
            .any(|r| eval_path(env, rel, *r, &path[1..], op, value));
    }
    match &field.ty {
        Ty::Many2one(rel) => {
            let rid = raw.as_i64();
            if matches!(op, "child_of" | "parent_of") {
                return hierarchy(env, rel, rid, op, value);
            }
            if is_textual(value) && !matches!(op, "=?") {
                let name = rid.map(|r| env.display_name(rel, r));
                let name_val = name.map(Value::String).unwrap_or(Value::Bool(false));
                return compare_scalar(&name_val, op, value);
            }
            compare_scalar(
                &rid.map(Value::from).unwrap_or(Value::Bool(false)),
                op,
                value,
            )
        }
        Ty::One2many(rel, _) | Ty::Many2many(rel) => {
            let ids = ids_of(&raw);
            match op {
                "=" if is_false(value) || value.as_array().is_some_and(Vec::is_empty) => {
                    ids.is_empty()
                }
                "in" if is_false(value) || value.as_array().is_some_and(Vec::is_empty) => false,
                "!=" | "<>" if is_false(value) => !ids.is_empty(),
                "=" | "in" | "child_of" => {
                    let wanted = ids_of(value);
                    if is_textual(value) {
                        return ids.iter().any(|r| {
                            compare_scalar(
                                &Value::String(env.display_name(rel, *r)),
                                "ilike",
                                value,
                            )
                        });
                    }
                    ids.iter().any(|r| wanted.contains(r))
                }
                "!=" | "<>" | "not in" => {
                    let wanted = ids_of(value);
                    !ids.iter().any(|r| wanted.contains(r))
                }
                "like" | "ilike" | "=like" | "=ilike" => ids
                    .iter()
                    .any(|r| compare_scalar(&Value::String(env.display_name(rel, *r)), op, value)),
                "not like" | "not ilike" => !ids.iter().any(|r| {
                    compare_scalar(
                        &Value::String(env.display_name(rel, *r)),
                        positive_of(op),
                        value,
                    )
                }),
                _ => false,
            }
        }
        _ => {
            if matches!(op, "child_of" | "parent_of") {
                return false;
            }
            compare_scalar(&raw, op, value)
        }
    }
}

fn positive_of(op: &str) -> &'static str {
    match op {
        "!=" | "<>" => "=",
        "not in" => "in",
        "not like" => "like",
        "not ilike" => "ilike",
        _ => "=",
    }
}

fn hierarchy(env: &Env<'_>, model: &str, rid: Option<i64>, op: &str, value: &Value) -> bool {
    let Some(mut cur) = rid else { return false };
    let wanted = ids_of(value);
    let parent_field = match model {
        "stock.location" => "location_id",
        _ => "parent_id",
    };
    if op == "child_of" {
        for _ in 0..64 {
            if wanted.contains(&cur) {
                return true;
            }
            match env.raw(model, cur, parent_field).as_i64() {
                Some(p) => cur = p,
                None => return false,
            }
        }
        false
    } else {
        wanted.iter().any(|w| {
            let mut c = *w;
            for _ in 0..64 {
                if c == cur {
                    return true;
                }
                match env.raw(model, c, parent_field).as_i64() {
                    Some(p) => c = p,
                    None => return false,
                }
            }
            false
        })
    }
}

fn is_textual(v: &Value) -> bool {
    match v {
        Value::String(_) => true,
        Value::Array(a) => !a.is_empty() && a.iter().all(Value::is_string),
        _ => false,
    }
}

fn is_false(v: &Value) -> bool {
    matches!(v, Value::Bool(false) | Value::Null)
}

pub fn ids_of(v: &Value) -> Vec<i64> {
    match v {
        Value::Array(a) => a.iter().filter_map(Value::as_i64).collect(),
        Value::Number(n) => n.as_i64().into_iter().collect(),
        _ => Vec::new(),
    }
}

fn like(hay: &str, pattern: &str, insensitive: bool, anchored: bool) -> bool {
    let (h, p) = if insensitive {
        (hay.to_lowercase(), pattern.to_lowercase())
    } else {
        (hay.to_owned(), pattern.to_owned())
    };
    if !anchored {
        return h.contains(&p);
    }
    // SQL LIKE with % and _.
    fn m(h: &[char], p: &[char]) -> bool {
        match p.first() {
            None => h.is_empty(),
            Some('%') => (0..=h.len()).any(|i| m(&h[i..], &p[1..])),
            Some('_') => !h.is_empty() && m(&h[1..], &p[1..]),
            Some(c) => h.first() == Some(c) && m(&h[1..], &p[1..]),
        }
    }
    let hc: Vec<char> = h.chars().collect();
    let pc: Vec<char> = p.chars().collect();
    m(&hc, &pc)
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Compare one scalar stored value with a leaf.
pub fn compare_scalar(raw: &Value, op: &str, value: &Value) -> bool {
    match op {
        "=" => values_eq(raw, value),
        "!=" | "<>" => !values_eq(raw, value),
        "=?" => is_false(value) || values_eq(raw, value),
        "in" => {
            value
                .as_array()
                .is_some_and(|a| a.iter().any(|v| values_eq(raw, v)))
                || values_eq(raw, value)
        }
        "not in" => {
            !(value
                .as_array()
                .is_some_and(|a| a.iter().any(|v| values_eq(raw, v)))
                || values_eq(raw, value))
        }
        "<" | "<=" | ">" | ">=" => {
            if is_false(raw) || is_false(value) {
                return false;
            }
            let ord = cmp_values(raw, value);
            match op {
                "<" => ord == Ordering::Less,
                "<=" => ord != Ordering::Greater,
                ">" => ord == Ordering::Greater,
                _ => ord != Ordering::Less,
            }
        }
        "like" | "ilike" | "=like" | "=ilike" => {
            let Some(p) = text_of(value) else {
                return value
                    .as_array()
                    .is_some_and(|a| a.iter().any(|v| compare_scalar(raw, op, v)));
            };
            let Some(h) = text_of(raw) else {
                return false;
            };
            like(&h, &p, op.ends_with("ilike"), op.starts_with("="))
        }
        "not like" | "not ilike" => !compare_scalar(raw, positive_of(op), value),
        _ => false,
    }
}

fn values_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Bool(false) | Value::Null, Value::Bool(false) | Value::Null) => true,
        (Value::Bool(x), Value::Number(n)) | (Value::Number(n), Value::Bool(x)) => {
            n.as_f64() == Some(if *x { 1.0 } else { 0.0 })
        }
        (Value::String(x), Value::Number(n)) | (Value::Number(n), Value::String(x)) => {
            x.parse::<f64>().ok() == n.as_f64()
        }
        _ => a == b,
    }
}

/// Total order used by `order` and comparisons: false/null first, then booleans, numbers, strings.
pub fn cmp_values(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Null | Value::Bool(false) => 0,
            Value::Bool(true) => 1,
            Value::Number(_) => 2,
            Value::String(_) => 3,
            Value::Array(_) => 4,
            Value::Object(_) => 5,
        }
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .unwrap_or(0.0)
            .partial_cmp(&y.as_f64().unwrap_or(0.0))
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            let l = x.first().cloned().unwrap_or(Value::Null);
            let r = y.first().cloned().unwrap_or(Value::Null);
            cmp_values(&l, &r)
        }
        _ => rank(a).cmp(&rank(b)),
    }
}

/// A parsed `order` term: field and descending flag.
pub fn parse_order(
    env: &Env<'_>,
    model: &str,
    order: &str,
    strict: bool,
) -> OdooResult<Vec<(String, bool)>> {
    let mut out = Vec::new();
    for term in order.split(',') {
        let words: Vec<&str> = term.split_whitespace().collect();
        let Some(name) = words.first() else { continue };
        let desc = match words.get(1).map(|w| w.to_lowercase()) {
            None => false,
            Some(w) if w == "asc" => false,
            Some(w) if w == "desc" => true,
            Some(_) => {
                return Err(OdooError::value(format!(
                    "Invalid \"order\" specified ({order}). A valid \"order\" specification is a comma-separated list of valid field names (optionally followed by asc/desc for the direction)"
                )));
            }
        };
        if *name != "id" && env.schema.field(model, name).is_none() {
            if strict {
                return Err(OdooError::invalid_field(model, name));
            }
            continue;
        }
        out.push(((*name).to_owned(), desc));
    }
    Ok(out)
}
