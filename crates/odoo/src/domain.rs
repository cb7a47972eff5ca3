//! Search domains (`[["field", "op", value], …]` in Polish notation) and x2many command triples.

use serde::Serialize;
use serde_json::{Value, json};

/// An Odoo search domain. Leaves added one after another are ANDed (Odoo's implicit `&`);
/// [`Domain::or`] and [`Domain::negate`] build the prefix operators.
///
/// ```
/// use odoo::Domain;
/// let d = Domain::new().eq("client_order_ref", "SALLA-1").ne("state", "cancel");
/// assert_eq!(serde_json::to_string(&d).unwrap(),
///            r#"[["client_order_ref","=","SALLA-1"],["state","!=","cancel"]]"#);
/// let either = Domain::or(Domain::new().eq("a", 1), Domain::new().eq("b", 2));
/// assert_eq!(serde_json::to_string(&either).unwrap(), r#"["|",["a","=",1],["b","=",2]]"#);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Domain {
    /// Terms of an implicit AND: each is one complete prefix expression flattened in order.
    terms: Vec<Value>,
    #[serde(skip)]
    /// How many complete expressions `terms` holds (for wrapping with `&` / `|`).
    exprs: usize,
}

impl Domain {
    /// The empty domain (matches every record).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the leaf `[field, op, value]`.
    pub fn leaf(mut self, field: &str, op: &str, value: impl Into<Value>) -> Self {
        self.terms.push(json!([field, op, value.into()]));
        self.exprs += 1;
        self
    }

    /// `field = value`
    pub fn eq(self, field: &str, value: impl Into<Value>) -> Self {
        self.leaf(field, "=", value)
    }
    /// `field != value`
    pub fn ne(self, field: &str, value: impl Into<Value>) -> Self {
        self.leaf(field, "!=", value)
    }
    /// `field in values`
    pub fn is_in<V: Into<Value>>(self, field: &str, values: impl IntoIterator<Item = V>) -> Self {
        let list: Vec<Value> = values.into_iter().map(Into::into).collect();
        self.leaf(field, "in", list)
    }
    /// `field not in values`
    pub fn not_in<V: Into<Value>>(self, field: &str, values: impl IntoIterator<Item = V>) -> Self {
        let list: Vec<Value> = values.into_iter().map(Into::into).collect();
        self.leaf(field, "not in", list)
    }
    /// `field like value` (case-sensitive substring)
    pub fn like(self, field: &str, value: impl Into<Value>) -> Self {
        self.leaf(field, "like", value)
    }
    /// `field ilike value` (case-insensitive substring)
    pub fn ilike(self, field: &str, value: impl Into<Value>) -> Self {
        self.leaf(field, "ilike", value)
    }
    /// `field < value`
    pub fn lt(self, field: &str, value: impl Into<Value>) -> Self {
        self.leaf(field, "<", value)
    }
    /// `field <= value`
    pub fn le(self, field: &str, value: impl Into<Value>) -> Self {
        self.leaf(field, "<=", value)
    }
    /// `field > value`
    pub fn gt(self, field: &str, value: impl Into<Value>) -> Self {
        self.leaf(field, ">", value)
    }
    /// `field >= value`
    pub fn ge(self, field: &str, value: impl Into<Value>) -> Self {
        self.leaf(field, ">=", value)
    }

    /// ANDs another domain onto this one.
    pub fn and(mut self, other: Domain) -> Self {
        self.terms.extend(other.terms);
        self.exprs += other.exprs;
        self
    }

    /// `a OR b`. An empty side matches everything, so the result does too.
    pub fn or(a: Domain, b: Domain) -> Domain {
        if a.is_empty() || b.is_empty() {
            return Domain::new();
        }
        let mut terms = vec![json!("|")];
        terms.extend(a.into_expression());
        terms.extend(b.into_expression());
        Domain { terms, exprs: 1 }
    }

    /// `NOT d`. The negation of the empty domain is `[["id", "=", false]]`-like "nothing"; Odoo has no literal
    /// for it, so `not` of an empty domain yields the leaf `("id", "=", 0)`, which matches no record.
    pub fn negate(d: Domain) -> Domain {
        if d.is_empty() {
            return Domain::new().eq("id", 0);
        }
        let mut terms = vec![json!("!")];
        terms.extend(d.into_expression());
        Domain { terms, exprs: 1 }
    }

    /// A domain from its JSON form (`[["a", "=", 1], "|", …]`), checked to be a sequence of complete prefix
    /// expressions: `&` and `|` take two, `!` one, and a leaf is a 3-element list.
    pub fn from_value(v: Value) -> Result<Domain, crate::Error> {
        let Value::Array(terms) = v else {
            return Err(crate::Error::config("a domain must be a list"));
        };
        let (mut exprs, mut need) = (0usize, 0usize);
        for t in &terms {
            if need == 0 {
                exprs += 1;
                need = 1;
            }
            need -= 1;
            need += match t {
                Value::String(op) if op == "&" || op == "|" => 2,
                Value::String(op) if op == "!" => 1,
                Value::Array(leaf) if leaf.len() == 3 => 0,
                other => {
                    return Err(crate::Error::config(format!("not a domain term: {other}")));
                }
            };
        }
        if need != 0 {
            return Err(crate::Error::config(
                "the domain ends in the middle of an expression",
            ));
        }
        Ok(Domain { terms, exprs })
    }

    /// True when the domain has no term (matches every record).
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The domain as a JSON value.
    pub fn to_value(&self) -> Value {
        Value::Array(self.terms.clone())
    }

    /// One prefix expression: `&` × (n-1) followed by the n expressions.
    fn into_expression(self) -> Vec<Value> {
        let mut out = Vec::with_capacity(self.terms.len() + self.exprs);
        for _ in 1..self.exprs {
            out.push(json!("&"));
        }
        out.extend(self.terms);
        out
    }
}

impl From<Domain> for Value {
    fn from(d: Domain) -> Value {
        Value::Array(d.terms)
    }
}

/// x2many command triples (docs/odoo-api.md §12). Over RPC the literal triples are sent.
pub mod command {
    use serde_json::{Map, Value, json};

    use crate::Id;

    /// `[0, 0, vals]`: create a record and link it.
    pub fn create(vals: Map<String, Value>) -> Value {
        json!([0, 0, vals])
    }
    /// `[1, id, vals]`: write on a linked record.
    pub fn update(id: Id, vals: Map<String, Value>) -> Value {
        json!([1, id, vals])
    }
    /// `[2, id, 0]`: delete the record.
    pub fn delete(id: Id) -> Value {
        json!([2, id, 0])
    }
    /// `[3, id, 0]`: remove the link.
    pub fn unlink(id: Id) -> Value {
        json!([3, id, 0])
    }
    /// `[4, id, 0]`: link an existing record.
    pub fn link(id: Id) -> Value {
        json!([4, id, 0])
    }
    /// `[5, 0, 0]`: remove all links.
    pub fn clear() -> Value {
        json!([5, 0, 0])
    }
    /// `[6, 0, ids]`: replace all links.
    pub fn set(ids: &[Id]) -> Value {
        json!([6, 0, ids])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implicit_and() {
        let d = Domain::new().eq("a", 1).is_in("b", [1, 2]).ilike("c", "x");
        assert_eq!(
            d.to_value(),
            json!([["a", "=", 1], ["b", "in", [1, 2]], ["c", "ilike", "x"]])
        );
    }

    #[test]
    fn or_wraps_multi_leaf_sides_with_and() {
        let d = Domain::or(
            Domain::new().eq("a", 1).eq("b", 2),
            Domain::new().eq("c", 3),
        )
        .eq("d", 4);
        assert_eq!(
            d.to_value(),
            json!([
                "|",
                "&",
                ["a", "=", 1],
                ["b", "=", 2],
                ["c", "=", 3],
                ["d", "=", 4]
            ])
        );
        let nested = Domain::or(d, Domain::negate(Domain::new().eq("e", false)));
        assert_eq!(
            nested.to_value(),
            json!([
                "|",
                "&",
                "|",
                "&",
                ["a", "=", 1],
                ["b", "=", 2],
                ["c", "=", 3],
                ["d", "=", 4],
                "!",
                ["e", "=", false]
            ])
        );
    }

    #[test]
    fn empty_sides() {
        assert!(Domain::or(Domain::new(), Domain::new().eq("a", 1)).is_empty());
        assert_eq!(
            Domain::negate(Domain::new()).to_value(),
            json!([["id", "=", 0]])
        );
        assert_eq!(Domain::new().to_value(), json!([]));
    }

    #[test]
    fn from_value_counts_expressions() {
        let d =
            Domain::from_value(json!(["|", ["a", "=", 1], ["b", "=", 2], ["c", "=", 3]])).unwrap();
        let wrapped = Domain::negate(d);
        assert_eq!(
            wrapped.to_value(),
            json!(["!", "&", "|", ["a", "=", 1], ["b", "=", 2], ["c", "=", 3]])
        );
        assert!(Domain::from_value(json!(["|", ["a", "=", 1]])).is_err());
        assert!(Domain::from_value(json!([["a", "="]])).is_err());
        assert!(Domain::from_value(json!({"a": 1})).is_err());
        assert!(Domain::from_value(json!([])).unwrap().is_empty());
    }

    #[test]
    fn commands() {
        let mut vals = Map::new();
        vals.insert("product_id".into(), json!(1));
        assert_eq!(command::create(vals), json!([0, 0, {"product_id": 1}]));
        assert_eq!(command::set(&[3, 4]), json!([6, 0, [3, 4]]));
        assert_eq!(command::link(7), json!([4, 7, 0]));
        assert_eq!(command::clear(), json!([5, 0, 0]));
    }

    use serde_json::Map;
}
