//! Serde helpers for Odoo record values, where an empty field reads as `false` (not `null`) and a many2one
//! as `[id, "display name"]` (docs/odoo-api.md §3.3).
//!
//! ```
//! #[derive(serde::Deserialize)]
//! struct Order {
//!     id: i64,
//!     #[serde(default, deserialize_with = "odoo::fields::opt")]
//!     client_order_ref: Option<String>,
//!     #[serde(default, deserialize_with = "odoo::fields::many2one")]
//!     partner_id: Option<i64>,
//! }
//! let o: Order = serde_json::from_str(r#"{"id": 3, "client_order_ref": false, "partner_id": [8, "A"]}"#).unwrap();
//! assert_eq!((o.client_order_ref, o.partner_id), (None, Some(8)));
//! ```

use serde::de::{Deserialize, DeserializeOwned, Deserializer, Error as _};
use serde_json::Value;

use crate::Id;

/// `false` or `null` → `None`; anything else → `Some(T)`.
pub fn opt<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    match Value::deserialize(d)? {
        Value::Bool(false) | Value::Null => Ok(None),
        other => serde_json::from_value(other)
            .map(Some)
            .map_err(D::Error::custom),
    }
}

/// A many2one value (`[id, "name"]`, a bare id, `false`) → its id.
pub fn many2one<'de, D>(d: D) -> Result<Option<Id>, D::Error>
where
    D: Deserializer<'de>,
{
    let v = Value::deserialize(d)?;
    match &v {
        Value::Bool(false) | Value::Null => Ok(None),
        other => crate::many2one_id(other)
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("not a many2one value: {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Row {
        #[serde(default, deserialize_with = "super::opt")]
        email: Option<String>,
        #[serde(default, deserialize_with = "super::opt")]
        qty: Option<f64>,
        #[serde(default, deserialize_with = "super::many2one")]
        country_id: Option<i64>,
    }

    #[test]
    fn false_and_missing_are_none() {
        let r: Row =
            serde_json::from_str(r#"{"email": false, "qty": 2.5, "country_id": false}"#).unwrap();
        assert_eq!(
            r,
            Row {
                email: None,
                qty: Some(2.5),
                country_id: None
            }
        );
        let r: Row =
            serde_json::from_str(r#"{"email": "a@b.sa", "country_id": [192, "Saudi Arabia"]}"#)
                .unwrap();
        assert_eq!(r.email.as_deref(), Some("a@b.sa"));
        assert_eq!(r.country_id, Some(192));
        assert_eq!(r.qty, None);
        assert!(serde_json::from_str::<Row>(r#"{"country_id": "x"}"#).is_err());
        assert!(serde_json::from_str::<Row>(r#"{"email": 5}"#).is_err());
    }
}
