//! Odoo exceptions as the sandbox raises them, and Python-style value formatting for messages.

use serde_json::Value;

/// An exception raised by a model method, rendered later as a JSON-RPC `error` or a JSON-2 body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OdooError {
    /// `module.ClassName`, e.g. `odoo.exceptions.UserError`.
    pub name: String,
    /// The user-facing message (`data.message`, `data.arguments[0]`).
    pub message: String,
}

pub type OdooResult<T> = Result<T, OdooError>;

impl OdooError {
    pub fn new(name: &str, message: impl Into<String>) -> Self {
        OdooError {
            name: name.to_owned(),
            message: message.into(),
        }
    }
    pub fn access_denied() -> Self {
        Self::new("odoo.exceptions.AccessDenied", "Access Denied")
    }
    pub fn access(message: impl Into<String>) -> Self {
        Self::new("odoo.exceptions.AccessError", message)
    }
    pub fn user(message: impl Into<String>) -> Self {
        Self::new("odoo.exceptions.UserError", message)
    }
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("odoo.exceptions.ValidationError", message)
    }
    pub fn value(message: impl Into<String>) -> Self {
        Self::new("builtins.ValueError", message)
    }
    pub fn type_error(message: impl Into<String>) -> Self {
        Self::new("builtins.TypeError", message)
    }
    pub fn attribute(message: impl Into<String>) -> Self {
        Self::new("builtins.AttributeError", message)
    }
    pub fn key(message: impl Into<String>) -> Self {
        Self::new("builtins.KeyError", message)
    }
    /// `MissingError` for `model(ids)` as Odoo words it.
    pub fn missing(model: &str, ids: &[i64], uid: i64) -> Self {
        Self::new(
            "odoo.exceptions.MissingError",
            format!(
                "Record does not exist or has been deleted.\n(Record: {model}{}, User: {uid})",
                py_tuple(ids)
            ),
        )
    }
    pub fn invalid_field(model: &str, field: &str) -> Self {
        Self::value(format!(
            "Invalid field {} on model {}",
            py_str(field),
            py_str(model)
        ))
    }
    /// The NOT NULL violation turned into a `ValidationError`.
    pub fn mandatory(model_desc: &str, model: &str, field_string: &str, field: &str) -> Self {
        Self::validation(format!(
            "The operation cannot be completed:\n- Create/update: a mandatory field is not set.\n- Delete: another model requires the record being deleted. If possible, archive it instead.\n\nModel: {model_desc} ({model})\nField: {field_string} ({field})\n"
        ))
    }
    pub fn serialization_failure() -> Self {
        Self::new(
            "psycopg2.errors.SerializationFailure",
            "could not serialize access due to concurrent update\n",
        )
    }

    /// A plausible Python traceback for `data.debug`.
    pub fn debug(&self) -> String {
        let short = self.name.rsplit('.').next().unwrap_or(&self.name);
        format!(
            "Traceback (most recent call last):\n  File \"<ODOO_ROOT>/odoo/http.py\", line 1976, in _transactioning\n    return service_model.retrying(func, env=self.env)\n  File \"<ODOO_ROOT>/odoo/service/model.py\", line 156, in retrying\n    result = func()\n  File \"<ODOO_ROOT>/odoo/addons/base/controllers/rpc.py\", line 178, in jsonrpc\n    return dispatch_rpc(service, method, args)\n{}: {}\n",
            if self.name.starts_with("builtins.") {
                short
            } else {
                &self.name
            },
            self.message
        )
    }
}

/// Python `repr` of a string: single quotes unless the text holds one and no double quote.
pub fn py_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python `repr` of a JSON value (as Odoo would see it after json decoding).
pub fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
                if f.fract() == 0.0 && f.abs() < 1e16 {
                    format!("{f:.1}")
                } else {
                    format!("{f}")
                }
            } else {
                n.to_string()
            }
        }
        Value::String(s) => py_str(s),
        Value::Array(a) => format!("[{}]", a.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!("{}: {}", py_str(k), py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Python tuple repr of ids: `(1,)`, `(1, 2)`, `()`.
pub fn py_tuple(ids: &[i64]) -> String {
    match ids {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            ids.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_reprs() {
        assert_eq!(
            py_repr(&json!(["no_such_field", "=", 1])),
            "['no_such_field', '=', 1]"
        );
        assert_eq!(py_repr(&json!(1.0)), "1.0");
        assert_eq!(py_repr(&json!(false)), "False");
        assert_eq!(py_str("it's"), "\"it's\"");
        assert_eq!(py_tuple(&[999999]), "(999999,)");
        assert_eq!(py_tuple(&[1, 2]), "(1, 2)");
    }
}
