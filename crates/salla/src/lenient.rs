//! Decoders for the ways Salla writes the same thing differently: ids and amounts as numbers or
//! strings, dates as objects or strings, mobiles as numbers or strings. Money is never `f64`.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, de};

struct U64Visitor;

impl de::Visitor<'_> for U64Visitor {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a non-negative integer id, as a number or a string")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::custom("negative id"))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<u64, E> {
        // Only integral values below 2^53, which a float represents exactly.
        if v >= 0.0 && v.fract() == 0.0 && v < 9_007_199_254_740_992.0 {
            Ok(v as u64)
        } else {
            Err(E::custom("id is not an integer"))
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        v.trim()
            .parse()
            .map_err(|_| E::custom("id string is not an integer"))
    }
}

/// An id given as a number or a string.
pub fn id<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    d.deserialize_any(U64Visitor)
}

/// An optional id: also accepts `null`, `""` and `"0"`-free absence.
pub fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) if s.trim().is_empty() => None,
        v => Some(id(v).map_err(de::Error::custom)?),
    })
}

/// Read an id at a JSON pointer, if present and well-formed.
pub fn id_at(value: &serde_json::Value, pointer: &str) -> Option<u64> {
    id(value.pointer(pointer)?).ok()
}

struct DecimalVisitor;

impl de::Visitor<'_> for DecimalVisitor {
    type Value = Decimal;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a decimal amount, as a number or a string")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decimal, E> {
        Ok(Decimal::from(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Decimal, E> {
        Ok(Decimal::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Decimal, E> {
        // Rust prints the shortest text that reads back as the same float: 834.76 stays 834.76.
        Decimal::from_str(&v.to_string()).map_err(|_| E::custom("amount out of range"))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
        let v = v.trim();
        Decimal::from_str(v)
            .or_else(|_| Decimal::from_scientific(v))
            .map_err(|_| E::custom("amount string is not a number"))
    }
}

/// A decimal amount given as a number or a string.
pub fn decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    d.deserialize_any(DecimalVisitor)
}

/// An optional decimal amount (`null` or `""` → `None`).
pub fn opt_decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) if s.trim().is_empty() => None,
        v => Some(decimal(v).map_err(de::Error::custom)?),
    })
}

/// Text that may arrive as a number (e.g. `mobile: 501806978`) or a string; `null` → `None`.
pub fn opt_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => return Err(de::Error::custom("expected text")),
    })
}

/// A date inside `data`: `{date, timezone_type, timezone}` or a plain string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SallaDate {
    /// As written, e.g. `2022-06-26 12:21:45.000000`.
    pub date: String,
    /// e.g. `Asia/Riyadh`, when Salla names it.
    pub timezone: Option<String>,
}

impl<'de> Deserialize<'de> for SallaDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Object {
                date: String,
                timezone: Option<String>,
            },
        }
        Ok(match Raw::deserialize(d)? {
            Raw::Text(date) => SallaDate {
                date,
                timezone: None,
            },
            Raw::Object { date, timezone } => SallaDate { date, timezone },
        })
    }
}

/// Money: `{amount, currency}` with the amount as a number or a string.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Money {
    #[serde(deserialize_with = "decimal")]
    pub amount: Decimal,
    #[serde(default)]
    pub currency: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Deserialize)]
    struct Probe {
        #[serde(deserialize_with = "id")]
        id: u64,
        #[serde(deserialize_with = "decimal")]
        amount: Decimal,
        #[serde(default, deserialize_with = "opt_text")]
        mobile: Option<String>,
    }

    #[test]
    fn numbers_and_strings_decode_alike() {
        let a: Probe = serde_json::from_value(
            json!({"id": 2116149737u64, "amount": 834.76, "mobile": 501806978}),
        )
        .unwrap();
        let b: Probe = serde_json::from_value(
            json!({"id": "2116149737", "amount": "834.76", "mobile": "501806978"}),
        )
        .unwrap();
        assert_eq!(a.id, b.id);
        assert_eq!(a.amount, b.amount);
        assert_eq!(a.amount.to_string(), "834.76");
        assert_eq!(a.mobile, b.mobile);
        let big: Probe =
            serde_json::from_str(r#"{"id": 3187825903901094400, "amount": "5.00"}"#).unwrap();
        assert_eq!(big.id, 3_187_825_903_901_094_400);
        assert_eq!(big.amount.to_string(), "5.00");
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(serde_json::from_value::<Probe>(json!({"id": "x", "amount": 1})).is_err());
        assert!(serde_json::from_value::<Probe>(json!({"id": 1, "amount": "lots"})).is_err());
        assert!(serde_json::from_value::<Probe>(json!({"id": -4, "amount": 1})).is_err());
        assert!(serde_json::from_value::<Probe>(json!({"id": 1.5, "amount": 1})).is_err());
    }

    #[test]
    fn dates_decode_from_both_shapes() {
        let a: SallaDate = serde_json::from_value(json!({"date": "2022-06-26 12:21:45.000000", "timezone_type": 3, "timezone": "Asia/Riyadh"})).unwrap();
        let b: SallaDate = serde_json::from_value(json!("2023-04-17 12:14:21")).unwrap();
        assert_eq!(a.timezone.as_deref(), Some("Asia/Riyadh"));
        assert_eq!(b.date, "2023-04-17 12:14:21");
    }
}
