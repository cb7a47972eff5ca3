//! The in-memory database and the generic ORM (create, write, read, search, unlink).
//!
//! Layout: [`Db::tables`] maps a model name to a [`Table`], whose `rows` map a record id to a
//! JSON object holding the *stored* fields only, in raw form: many2one as an integer id or
//! `false`, many2many as a list of ids, floats as floats. One2many and other computed fields are
//! never stored. `next_id` is the model's id sequence; like a PostgreSQL sequence it is not rolled
//! back when a call fails. [`Db::sequences`] holds the named document sequences (sale orders,
//! deliveries, invoices per year, payments) with the same rule. [`Db::credentials`] holds each
//! user's password and API key. The whole `Db` is what `--state-file` persists.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::Version;
use crate::business;
use crate::domain::{self, Node, cmp_values, ids_of};
use crate::error::{OdooError, OdooResult, py_repr};
use crate::schema::{Schema, Ty};

pub type Record = Map<String, Value>;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Table {
    /// Next id to hand out (the model's sequence).
    pub next_id: i64,
    /// Stored fields of each record, by id.
    pub rows: BTreeMap<i64, Record>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credential {
    pub password: String,
    pub api_key: String,
    /// Member of Administration/Settings.
    pub admin: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Db {
    pub version: Version,
    pub tables: BTreeMap<String, Table>,
    pub sequences: BTreeMap<String, i64>,
    pub credentials: BTreeMap<i64, Credential>,
    /// Enterprise accounting (`account_accountant`): a fully paid invoice is "in_payment" until
    /// its payment is matched with a bank statement ([`crate::Options::in_payment_state`]).
    #[serde(default)]
    pub in_payment_state: bool,
    /// `(login, group external id)` a user lacks ([`crate::Options::missing_groups`]).
    #[serde(default)]
    pub missing_groups: Vec<(String, String)>,
}

impl Db {
    pub fn empty(version: Version) -> Db {
        Db {
            version,
            tables: BTreeMap::new(),
            sequences: BTreeMap::new(),
            credentials: BTreeMap::new(),
            in_payment_state: false,
            missing_groups: Vec::new(),
        }
    }

    /// Next value of a named sequence (never rolled back).
    pub fn next_seq(&mut self, name: &str) -> i64 {
        let v = self.sequences.entry(name.to_owned()).or_insert(0);
        *v += 1;
        *v
    }
}

/// Before-images of the rows a call touched, to roll the call back.
#[derive(Debug, Default)]
pub struct Journal {
    seen: HashSet<(String, i64)>,
    before: Vec<(String, i64, Option<Record>)>,
}

/// One call's environment: the database, the schema, the user and the context.
pub struct Env<'a> {
    pub db: &'a mut Db,
    pub schema: &'a Schema,
    pub uid: i64,
    pub ctx: Map<String, Value>,
    pub now: OffsetDateTime,
    /// Row before-images, when the call may have to be rolled back.
    pub journal: Option<Journal>,
}

pub fn fmt_datetime(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

pub fn fmt_date(t: OffsetDateTime) -> String {
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => false,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => true,
    }
}

pub fn as_f64(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

impl Env<'_> {
    pub fn version(&self) -> Version {
        self.schema.version
    }

    pub fn ctx_flag(&self, key: &str) -> bool {
        self.ctx.get(key).is_some_and(truthy)
    }

    pub fn today(&self) -> String {
        fmt_date(self.now)
    }

    pub fn now_str(&self) -> String {
        fmt_datetime(self.now)
    }

    pub fn table(&self, model: &str) -> Option<&Table> {
        self.db.tables.get(model)
    }

    fn table_mut(&mut self, model: &str) -> &mut Table {
        self.db
            .tables
            .entry(model.to_owned())
            .or_insert_with(|| Table {
                next_id: 1,
                rows: BTreeMap::new(),
            })
    }

    /// Record the before-image of a row the first time the call touches it.
    fn touch(&mut self, model: &str, id: i64) {
        let Some(j) = self.journal.as_mut() else {
            return;
        };
        if j.seen.insert((model.to_owned(), id)) {
            let before = self
                .db
                .tables
                .get(model)
                .and_then(|t| t.rows.get(&id))
                .cloned();
            j.before.push((model.to_owned(), id, before));
        }
    }

    /// Take the next id of a model's sequence (never rolled back).
    pub fn alloc_id(&mut self, model: &str) -> i64 {
        let table = self.table_mut(model);
        let id = table.next_id.max(1);
        table.next_id = id + 1;
        id
    }

    pub fn row_mut(&mut self, model: &str, id: i64) -> Option<&mut Record> {
        self.touch(model, id);
        self.db
            .tables
            .get_mut(model)
            .and_then(|t| t.rows.get_mut(&id))
    }

    pub fn insert_row(&mut self, model: &str, id: i64, row: Record) {
        self.touch(model, id);
        self.table_mut(model).rows.insert(id, row);
    }

    pub fn remove_row(&mut self, model: &str, id: i64) {
        self.touch(model, id);
        self.table_mut(model).rows.remove(&id);
    }

    /// Undo every row change recorded in the journal (sequences keep their values).
    pub fn rollback(&mut self) {
        let Some(j) = self.journal.take() else { return };
        for (model, id, before) in j.before.into_iter().rev() {
            let table = self.table_mut(&model);
            match before {
                Some(row) => {
                    table.rows.insert(id, row);
                }
                None => {
                    table.rows.remove(&id);
                }
            }
        }
    }

    pub fn exists(&self, model: &str, id: i64) -> bool {
        self.table(model).is_some_and(|t| t.rows.contains_key(&id))
    }

    pub fn all_ids(&self, model: &str) -> Vec<i64> {
        self.table(model)
            .map(|t| t.rows.keys().copied().collect())
            .unwrap_or_default()
    }

    /// A stored value, without delegation or computation.
    pub fn stored(&self, model: &str, id: i64, field: &str) -> Value {
        self.table(model)
            .and_then(|t| t.rows.get(&id))
            .and_then(|r| r.get(field))
            .cloned()
            .unwrap_or(Value::Bool(false))
    }

    pub fn stored_i64(&self, model: &str, id: i64, field: &str) -> Option<i64> {
        self.raw(model, id, field).as_i64()
    }

    pub fn stored_str(&self, model: &str, id: i64, field: &str) -> Option<String> {
        self.raw(model, id, field).as_str().map(str::to_owned)
    }

    pub fn raw_f64(&self, model: &str, id: i64, field: &str) -> f64 {
        as_f64(&self.raw(model, id, field))
    }

    /// Write a stored value directly (no validation), following `_inherits` delegation.
    pub fn set(&mut self, model: &str, id: i64, field: &str, value: Value) {
        if let Some((parent, link)) = self.schema.delegated(model, field) {
            if let Some(pid) = self.stored(model, id, link).as_i64() {
                self.set(parent, pid, field, value);
            }
            return;
        }
        if let Some(row) = self.row_mut(model, id) {
            row.insert(field.to_owned(), value);
        }
    }

    /// The raw value of any field: stored, delegated or computed (ids for relations).
    pub fn raw(&self, model: &str, id: i64, field: &str) -> Value {
        if field == "id" {
            return Value::from(id);
        }
        if let Some((parent, link)) = self.schema.delegated(model, field) {
            return match self.stored(model, id, link).as_i64() {
                Some(pid) => self.raw(parent, pid, field),
                None => Value::Bool(false),
            };
        }
        let Some(def) = self.schema.field(model, field) else {
            return Value::Bool(false);
        };
        if def.store {
            let v = self.stored(model, id, field);
            return match (&def.ty, v) {
                (Ty::Many2many(_), Value::Bool(false)) => json!([]),
                (Ty::Float | Ty::Monetary, Value::Bool(false)) => json!(0.0),
                (Ty::Integer, Value::Bool(false)) => json!(0),
                (_, v) => v,
            };
        }
        if let Some(v) = business::compute(self, model, id, field) {
            return v;
        }
        match &def.ty {
            Ty::One2many(rel, inverse) => Value::from(self.children(rel, inverse, id)),
            Ty::Many2many(_) => json!([]),
            Ty::Float | Ty::Monetary => json!(0.0),
            Ty::Integer => json!(0),
            _ => Value::Bool(false),
        }
    }

    /// Records of `model` whose many2one `inverse` is `id`, in the model's default order.
    pub fn children(&self, model: &str, inverse: &str, id: i64) -> Vec<i64> {
        let ids: Vec<i64> = self
            .table(model)
            .map(|t| {
                t.rows
                    .iter()
                    .filter(|(_, r)| r.get(inverse).and_then(Value::as_i64) == Some(id))
                    .map(|(k, _)| *k)
                    .collect()
            })
            .unwrap_or_default();
        self.sort(model, ids, None).unwrap_or_default()
    }

    pub fn display_name(&self, model: &str, id: i64) -> String {
        business::display_name(self, model, id)
    }

    /// A field value as `read` returns it.
    pub fn read_value(&self, model: &str, id: i64, field: &str) -> Value {
        if field == "display_name" {
            return Value::String(self.display_name(model, id));
        }
        let raw = self.raw(model, id, field);
        let Some(def) = self.schema.field(model, field) else {
            return raw;
        };
        match &def.ty {
            Ty::Many2one(rel) => match raw.as_i64() {
                Some(r) if self.exists(rel, r) => json!([r, self.display_name(rel, r)]),
                _ => Value::Bool(false),
            },
            Ty::One2many(..) | Ty::Many2many(_) => Value::from(ids_of(&raw)),
            Ty::Float | Ty::Monetary => json!(as_f64(&raw)),
            Ty::Integer => json!(raw.as_i64().unwrap_or(0)),
            Ty::Boolean => Value::Bool(truthy(&raw)),
            Ty::Binary | Ty::Json => match raw {
                Value::Null => Value::Bool(false),
                other => other,
            },
            Ty::Char | Ty::Text | Ty::Html | Ty::Selection(_) | Ty::Date | Ty::Datetime => {
                match raw {
                    Value::String(s) if s.is_empty() && !matches!(def.ty, Ty::Selection(_)) => {
                        Value::Bool(false)
                    }
                    Value::Null => Value::Bool(false),
                    other => other,
                }
            }
        }
    }

    pub fn check_access(&self, model: &str) -> OdooResult<()> {
        let Some(m) = self.schema.model(model) else {
            return Ok(());
        };
        if let Some(group) = m.admin_only
            && !self.db.credentials.get(&self.uid).is_some_and(|c| c.admin)
        {
            return Err(OdooError::access(format!(
                "You are not allowed to access '{}' ({}) records.\n\nThis operation is allowed for the following groups:\n\t- {}\n\nContact your administrator to request access if necessary.",
                m.description, m.name, group
            )));
        }
        Ok(())
    }

    /// Create, write and delete rights (`op`: "create", "write" or "unlink"): models with
    /// `write_groups` are for administrators only.
    pub fn check_write(&self, model: &str, op: &str) -> OdooResult<()> {
        let Some(m) = self.schema.model(model) else {
            return Ok(());
        };
        if let Some(groups) = m.write_groups
            && !self.db.credentials.get(&self.uid).is_some_and(|c| c.admin)
            && self.uid != 1
        {
            let verb = match op {
                "create" => "create",
                "unlink" => "delete",
                _ => "modify",
            };
            let list: String = groups.iter().map(|g| format!("\n\t- {g}")).collect();
            return Err(OdooError::access(format!(
                "You are not allowed to {verb} '{}' ({}) records.\n\nThis operation is allowed for the following groups:{list}\n\nContact your administrator to request access if necessary.",
                m.description, m.name
            )));
        }
        Ok(())
    }

    /// `read`: existing records only (missing ids are skipped, as on Odoo 18).
    pub fn read(
        &self,
        model: &str,
        ids: &[i64],
        fields: Option<&[String]>,
    ) -> OdooResult<Vec<Value>> {
        let names: Vec<String> = match fields {
            Some(f) if !f.is_empty() => {
                for name in f {
                    if self.schema.field(model, name).is_none() {
                        return Err(OdooError::invalid_field(model, name));
                    }
                }
                f.to_vec()
            }
            _ => self
                .schema
                .field_names(model)
                .into_iter()
                .map(str::to_owned)
                .collect(),
        };
        let mut out = Vec::new();
        for &id in ids {
            if !self.exists(model, id) {
                continue;
            }
            let mut rec = Map::new();
            rec.insert("id".into(), Value::from(id));
            for n in &names {
                if n == "id" {
                    continue;
                }
                rec.insert(n.clone(), self.read_value(model, id, n));
            }
            out.push(Value::Object(rec));
        }
        Ok(out)
    }

    /// Sort ids by an order spec (the model's default when `None`), ties broken by id.
    pub fn sort(
        &self,
        model: &str,
        mut ids: Vec<i64>,
        order: Option<&str>,
    ) -> OdooResult<Vec<i64>> {
        let default = self.schema.model(model).map(|m| m.order).unwrap_or("id");
        if order.is_none_or(|o| o.trim().is_empty()) && default == "id" {
            ids.sort_unstable();
            return Ok(ids);
        }
        let spec = match order {
            Some(o) if !o.trim().is_empty() => domain::parse_order(self, model, o, true)?,
            _ => {
                let default = self.schema.model(model).map(|m| m.order).unwrap_or("id");
                domain::parse_order(self, model, default, false)?
            }
        };
        let keys: BTreeMap<i64, Vec<Value>> = ids
            .iter()
            .map(|&id| {
                let k = spec
                    .iter()
                    .map(|(f, _)| {
                        let v = self.raw(model, id, f);
                        match self.schema.field(model, f).map(|d| &d.ty) {
                            Some(Ty::Many2one(rel)) => match v.as_i64() {
                                Some(r) => Value::String(self.display_name(rel, r)),
                                None => v,
                            },
                            _ => v,
                        }
                    })
                    .collect();
                (id, k)
            })
            .collect();
        ids.sort_by(|a, b| {
            let (ka, kb) = (&keys[a], &keys[b]);
            for (i, (_, desc)) in spec.iter().enumerate() {
                let o = cmp_values(&ka[i], &kb[i]);
                let o = if *desc { o.reverse() } else { o };
                if o != std::cmp::Ordering::Equal {
                    return o;
                }
            }
            a.cmp(b)
        });
        Ok(ids)
    }

    /// Ids matching the domain (unsorted), honouring `active_test`.
    pub fn filter(&self, model: &str, domain: &Value) -> OdooResult<Vec<i64>> {
        let node = domain::parse(self, model, domain)?;
        let active_filter = self.schema.field(model, "active").is_some()
            && self.ctx.get("active_test") != Some(&Value::Bool(false))
            && !mentions(&node, "active");
        Ok(self
            .all_ids(model)
            .into_iter()
            .filter(|&id| !active_filter || truthy(&self.raw(model, id, "active")))
            .filter(|&id| domain::eval(self, model, id, &node))
            .collect())
    }

    /// `search`: ids matching the domain, sorted, then `offset` and `limit`.
    pub fn search(
        &self,
        model: &str,
        domain: &Value,
        offset: usize,
        limit: Option<usize>,
        order: Option<&str>,
    ) -> OdooResult<Vec<i64>> {
        let ids = self.filter(model, domain)?;
        let ids = self.sort(model, ids, order)?;
        Ok(ids
            .into_iter()
            .skip(offset)
            .take(limit.unwrap_or(usize::MAX))
            .collect())
    }

    /// Validate and convert one value for a (non-x2many) field.
    fn convert(&self, model: &str, field: &str, value: &Value) -> OdooResult<Value> {
        let Some(def) = self.schema.field(model, field) else {
            return Err(OdooError::invalid_field(model, field));
        };
        let owner = self
            .schema
            .delegated(model, field)
            .map(|(p, _)| p)
            .unwrap_or(model);
        Ok(match &def.ty {
            Ty::Char | Ty::Text | Ty::Html | Ty::Date | Ty::Datetime => match value {
                Value::Null | Value::Bool(false) => Value::Bool(false),
                // Odoo's domains treat '' and NULL alike on text fields; store both as unset.
                Value::String(s) if s.is_empty() => Value::Bool(false),
                Value::String(_) => value.clone(),
                other => Value::String(other.to_string()),
            },
            Ty::Integer => match value {
                Value::Null | Value::Bool(false) => json!(0),
                Value::Bool(true) => json!(1),
                Value::Number(n) => json!(n.as_f64().unwrap_or(0.0) as i64),
                Value::String(s) => json!(s.parse::<i64>().map_err(|_| OdooError::value(
                    format!("invalid literal for int() with base 10: {}", py_repr(value))
                ))?),
                _ => {
                    return Err(OdooError::type_error(format!(
                        "int() argument must be a string, a bytes-like object or a real number, not '{}'",
                        py_type(value)
                    )));
                }
            },
            Ty::Float | Ty::Monetary => match value {
                Value::Null | Value::Bool(false) => json!(0.0),
                Value::Number(n) => json!(n.as_f64().unwrap_or(0.0)),
                Value::String(s) => json!(s.parse::<f64>().map_err(|_| OdooError::value(
                    format!("could not convert string to float: {}", py_repr(value))
                ))?),
                _ => {
                    return Err(OdooError::type_error(format!(
                        "float() argument must be a string or a real number, not '{}'",
                        py_type(value)
                    )));
                }
            },
            Ty::Boolean => Value::Bool(truthy(value)),
            Ty::Selection(options) => match value {
                Value::Null | Value::Bool(false) => Value::Bool(false),
                Value::String(s) if options.iter().any(|(k, _)| k == s) => value.clone(),
                other => {
                    return Err(OdooError::value(format!(
                        "Wrong value for {owner}.{field}: {}",
                        py_repr(other)
                    )));
                }
            },
            Ty::Many2one(rel) => match value {
                Value::Null | Value::Bool(false) => Value::Bool(false),
                Value::Number(n) => {
                    let id = n.as_i64().unwrap_or(0);
                    if !self.exists(rel, id) {
                        return Err(OdooError::missing(rel, &[id], self.uid));
                    }
                    json!(id)
                }
                Value::Array(a) if a.first().and_then(Value::as_i64).is_some() => {
                    return self.convert(model, field, &a[0]);
                }
                other => {
                    return Err(OdooError::type_error(format!(
                        "unsupported value for many2one field {field}: {}",
                        py_repr(other)
                    )));
                }
            },
            Ty::Binary | Ty::Json => match value {
                Value::Null => Value::Bool(false),
                other => other.clone(),
            },
            Ty::One2many(..) | Ty::Many2many(_) => value.clone(),
        })
    }

    /// Generic `create` of one record. Returns the new id.
    pub fn create(&mut self, model: &str, vals: &Map<String, Value>) -> OdooResult<i64> {
        self.check_access(model)?;
        self.check_write(model, "create")?;
        let mut vals = vals.clone();
        // Unknown fields first, like Odoo (before any id is taken).
        for k in vals.keys() {
            if self.schema.field(model, k).is_none() {
                return Err(OdooError::invalid_field(model, k));
            }
        }
        business::before_create(self, model, &mut vals)?;
        let all_vals = vals.clone();

        // _inherits: create or update the parent first.
        let mut own = Map::new();
        let mut parent_vals = Map::new();
        let inherits = self.schema.model(model).and_then(|m| m.inherits);
        for (k, v) in vals {
            if self.schema.delegated(model, &k).is_some() {
                parent_vals.insert(k, v);
            } else {
                own.insert(k, v);
            }
        }
        if let Some((parent, link)) = inherits {
            let existing = own.get(link).and_then(Value::as_i64);
            match existing {
                Some(pid) => {
                    if !parent_vals.is_empty() {
                        self.write(parent, &[pid], &parent_vals)?;
                    }
                }
                None => {
                    let mut ctx_backup = self.ctx.clone();
                    self.ctx
                        .insert("create_product_product".into(), Value::Bool(true));
                    let pid = self.create(parent, &parent_vals);
                    std::mem::swap(&mut self.ctx, &mut ctx_backup);
                    own.insert(link.to_owned(), json!(pid?));
                }
            }
        }

        // Convert plain values; keep x2many commands for later.
        let mut row = Map::new();
        let mut x2many = Vec::new();
        for (k, v) in &own {
            let def = self
                .schema
                .field(model, k)
                .cloned()
                .ok_or_else(|| OdooError::invalid_field(model, k))?;
            if k == "id" {
                continue;
            }
            if def.ty.is_x2many() {
                x2many.push((k.clone(), v.clone()));
                continue;
            }
            if !def.store {
                continue;
            }
            row.insert(k.clone(), self.convert(model, k, v)?);
        }
        let defs: Vec<_> = self
            .schema
            .model(model)
            .map(|m| m.fields.iter().filter(|f| f.store).cloned().collect())
            .unwrap_or_default();
        for d in &defs {
            if !row.contains_key(d.name)
                && let Some(def) = &d.default
            {
                row.insert(d.name.to_owned(), def.clone());
            }
        }
        // The id is taken before the NOT NULL checks (a failed INSERT still uses it).
        let id = self.alloc_id(model);
        for d in &defs {
            if d.required && d.name != "id" && !row.get(d.name).is_some_and(truthy_or_zero) {
                let desc = self
                    .schema
                    .model(model)
                    .map(|m| m.description)
                    .unwrap_or(model);
                return Err(OdooError::mandatory(desc, model, d.string, d.name));
            }
        }
        let now = self.now_str();
        row.insert("create_date".into(), json!(now));
        row.insert("write_date".into(), json!(now));
        row.insert("create_uid".into(), json!(self.uid));
        row.insert("write_uid".into(), json!(self.uid));
        self.insert_row(model, id, row);
        for (k, cmds) in x2many {
            self.apply_x2many(model, id, &k, &cmds)?;
        }
        business::after_create(self, model, id, &all_vals)?;
        Ok(id)
    }

    /// Generic `write` on existing records.
    pub fn write(&mut self, model: &str, ids: &[i64], vals: &Map<String, Value>) -> OdooResult<()> {
        self.check_access(model)?;
        self.check_write(model, "write")?;
        for k in vals.keys() {
            if self.schema.field(model, k).is_none() {
                return Err(OdooError::invalid_field(model, k));
            }
        }
        let missing: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|id| !self.exists(model, *id))
            .collect();
        if !missing.is_empty() {
            return Err(OdooError::missing(model, &missing, self.uid));
        }
        let mut vals = vals.clone();
        business::before_write(self, model, ids, &mut vals)?;
        for &id in ids {
            for (k, v) in &vals {
                let Some(def) = self.schema.field(model, k).cloned() else {
                    continue;
                };
                if def.ty.is_x2many() {
                    if let Some((parent, link)) = self.schema.delegated(model, k) {
                        if let Some(pid) = self.stored(model, id, link).as_i64() {
                            self.apply_x2many(parent, pid, k, v)?;
                        }
                    } else {
                        self.apply_x2many(model, id, k, v)?;
                    }
                    continue;
                }
                if !def.store || k == "id" {
                    continue;
                }
                let conv = self.convert(model, k, v)?;
                if def.required && !truthy_or_zero(&conv) {
                    let owner = self
                        .schema
                        .delegated(model, k)
                        .map(|(p, _)| p)
                        .unwrap_or(model);
                    let desc = self
                        .schema
                        .model(owner)
                        .map(|m| m.description)
                        .unwrap_or(owner);
                    return Err(OdooError::mandatory(desc, owner, def.string, def.name));
                }
                self.set(model, id, k, conv);
            }
            let now = self.now_str();
            let uid = self.uid;
            if let Some(row) = self.row_mut(model, id) {
                row.insert("write_date".into(), json!(now));
                row.insert("write_uid".into(), json!(uid));
            }
        }
        business::after_write(self, model, ids, &vals)?;
        Ok(())
    }

    /// Generic `unlink`.
    pub fn unlink(&mut self, model: &str, ids: &[i64]) -> OdooResult<()> {
        self.check_access(model)?;
        self.check_write(model, "unlink")?;
        let missing: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|id| !self.exists(model, *id))
            .collect();
        if !missing.is_empty() {
            return Err(OdooError::missing(model, &missing, self.uid));
        }
        business::before_unlink(self, model, ids)?;
        let touched = business::unlink_touches(self, model, ids);
        for &id in ids {
            self.remove_row(model, id);
            // References: cascade where Odoo does, refuse where a required link would dangle
            // (a foreign-key violation), clear the others.
            let schema = self.schema;
            for (mname, m) in &schema.models {
                for fl in &m.fields {
                    let Some(rel) = fl.ty.relation() else {
                        continue;
                    };
                    if rel != model || !fl.store {
                        continue;
                    }
                    let refs: Vec<i64> = self
                        .table(mname)
                        .map(|t| {
                            t.rows
                                .iter()
                                .filter(|(_, r)| match r.get(fl.name) {
                                    Some(Value::Number(n)) => n.as_i64() == Some(id),
                                    Some(Value::Array(a)) => {
                                        a.iter().any(|x| x.as_i64() == Some(id))
                                    }
                                    _ => false,
                                })
                                .map(|(k, _)| *k)
                                .collect()
                        })
                        .unwrap_or_default();
                    for r in refs {
                        if matches!(fl.ty, Ty::Many2many(_)) {
                            let kept: Vec<i64> = ids_of(&self.stored(mname, r, fl.name))
                                .into_iter()
                                .filter(|x| *x != id)
                                .collect();
                            if let Some(row) = self.row_mut(mname, r) {
                                row.insert(fl.name.to_owned(), Value::from(kept));
                            }
                        } else if CASCADE.contains(&(*mname, fl.name)) {
                            if self.exists(mname, r) {
                                self.unlink(mname, &[r])?;
                            }
                        } else if fl.required {
                            let desc = m.description;
                            return Err(OdooError::validation(format!(
                                "The operation cannot be completed: another model requires the record being deleted. If possible, archive it instead.\n\nModel: {desc} ({mname})\nConstraint: {}_{}_fkey\n",
                                mname.replace('.', "_"),
                                fl.name
                            )));
                        } else if let Some(row) = self.row_mut(mname, r) {
                            row.insert(fl.name.to_owned(), Value::Bool(false));
                        }
                    }
                }
            }
        }
        business::after_unlink(self, model, &touched)?;
        Ok(())
    }

    /// Apply x2many commands (or a plain id list) to `field` of record `id`.
    pub fn apply_x2many(
        &mut self,
        model: &str,
        id: i64,
        field: &str,
        cmds: &Value,
    ) -> OdooResult<()> {
        let def = self
            .schema
            .field(model, field)
            .cloned()
            .ok_or_else(|| OdooError::invalid_field(model, field))?;
        let (rel, inverse) = match def.ty {
            Ty::One2many(rel, inv) => (rel, Some(inv)),
            Ty::Many2many(rel) => (rel, None),
            _ => return Ok(()),
        };
        let list = match cmds {
            Value::Array(a) => a.clone(),
            Value::Bool(false) | Value::Null => Vec::new(),
            other => {
                return Err(OdooError::value(format!(
                    "Wrong value for {model}.{field}: {}",
                    py_repr(other)
                )));
            }
        };
        // A plain list of ids means SET.
        let list = if !list.is_empty() && list.iter().all(|v| v.is_i64()) {
            vec![json!([6, 0, list])]
        } else {
            list
        };
        // One2many: the field's records as read (some are filtered, e.g. invoice_line_ids).
        let mut current: Vec<i64> = match inverse {
            Some(_) => ids_of(&self.raw(model, id, field)),
            None => ids_of(&self.stored(model, id, field)),
        };
        let unlink_child = |env: &mut Self, child: i64, delete: bool| -> OdooResult<()> {
            if let Some(inv) = inverse {
                let required = env.schema.field(rel, inv).is_some_and(|f| f.required);
                if delete || required {
                    if env.exists(rel, child) {
                        env.unlink(rel, &[child])?;
                    }
                } else {
                    env.set(rel, child, inv, Value::Bool(false));
                }
            } else if delete && env.exists(rel, child) {
                env.unlink(rel, &[child])?;
            }
            Ok(())
        };
        for cmd in list {
            let Some(arr) = cmd.as_array() else {
                return Err(OdooError::value(format!(
                    "Wrong value for {model}.{field}: {}",
                    py_repr(&cmd)
                )));
            };
            let code = arr.first().and_then(Value::as_i64).unwrap_or(-1);
            let target = arr.get(1).and_then(Value::as_i64).unwrap_or(0);
            match code {
                0 => {
                    let mut vals = arr
                        .get(2)
                        .and_then(Value::as_object)
                        .cloned()
                        .unwrap_or_default();
                    if let Some(inv) = inverse {
                        vals.insert(inv.to_owned(), json!(id));
                    }
                    let child = self.create(rel, &vals)?;
                    current.push(child);
                }
                1 => {
                    let vals = arr
                        .get(2)
                        .and_then(Value::as_object)
                        .cloned()
                        .unwrap_or_default();
                    self.write(rel, &[target], &vals)?;
                }
                2 | 3 => {
                    unlink_child(self, target, code == 2)?;
                    current.retain(|c| *c != target);
                }
                4 => {
                    if !self.exists(rel, target) {
                        return Err(OdooError::missing(rel, &[target], self.uid));
                    }
                    if let Some(inv) = inverse {
                        self.set(rel, target, inv, json!(id));
                    }
                    if !current.contains(&target) {
                        current.push(target);
                    }
                }
                5 => {
                    for c in std::mem::take(&mut current) {
                        unlink_child(self, c, false)?;
                    }
                }
                6 => {
                    let wanted = arr.get(2).map(ids_of).unwrap_or_default();
                    for w in &wanted {
                        if !self.exists(rel, *w) {
                            return Err(OdooError::missing(rel, &[*w], self.uid));
                        }
                    }
                    for c in current.clone() {
                        if !wanted.contains(&c) {
                            unlink_child(self, c, false)?;
                        }
                    }
                    if let Some(inv) = inverse {
                        for w in &wanted {
                            self.set(rel, *w, inv, json!(id));
                        }
                    }
                    current = wanted;
                }
                _ => {
                    return Err(OdooError::value(format!(
                        "Wrong value for {model}.{field}: {}",
                        py_repr(&cmd)
                    )));
                }
            }
        }
        if inverse.is_none() {
            let mut dedup = Vec::new();
            for c in current {
                if !dedup.contains(&c) {
                    dedup.push(c);
                }
            }
            self.set(model, id, field, Value::from(dedup));
        }
        Ok(())
    }
}

/// Many2one links deleted together with their target (`ondelete='cascade'`).
const CASCADE: &[(&str, &str)] = &[
    ("sale.order.line", "order_id"),
    ("account.move.line", "move_id"),
    ("product.product", "product_tmpl_id"),
    ("sale.order.cancel", "order_id"),
    ("choose.delivery.carrier", "order_id"),
    ("account.payment.method.line", "journal_id"),
    ("account.partial.reconcile", "debit_move_id"),
    ("account.partial.reconcile", "credit_move_id"),
    ("res.currency.rate", "currency_id"),
    ("product.attribute.value", "attribute_id"),
    ("product.template.attribute.line", "product_tmpl_id"),
    ("product.template.attribute.value", "attribute_line_id"),
    ("stock.return.picking.line", "wizard_id"),
];

fn truthy_or_zero(v: &Value) -> bool {
    match v {
        Value::Number(_) => true,
        other => truthy(other),
    }
}

fn py_type(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
        Value::String(_) => "str",
        Value::Bool(_) => "bool",
        Value::Null => "NoneType",
        Value::Number(_) => "float",
    }
}

fn mentions(node: &Node, field: &str) -> bool {
    match node {
        Node::And(a, b) | Node::Or(a, b) => mentions(a, field) || mentions(b, field),
        Node::Not(a) => mentions(a, field),
        Node::Leaf { path, .. } | Node::Any { path, .. } => {
            path.first().is_some_and(|p| p == field)
        }
        _ => false,
    }
}
