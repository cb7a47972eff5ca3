//! Decoders for the ways Salla writes the same thing differently: ids and amounts as numbers or
//! strings, money as an object, a number or a string, dates as objects or strings, mobiles as
//! numbers or strings, lists as arrays, objects or `null`, flags as booleans or `0`/`1`. Money is
//! never `f64`.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, de};
use serde_json::Value;

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

/// Money, in every form Salla writes it: `{amount, currency}` (orders, `product.created`),
/// `{amount, expired_at}` without a currency (`sale_price` in `product.price.updated`), a plain
/// number (`price`, `regular_price`, `cost`, `taxed_price` there) or a numeric string. The amount is
/// a number or a numeric string inside the object too; other members are ignored. A form without an
/// amount (`"lots"`, `true`, `{}`, `null`) is an error: use [`opt_money`] where money is optional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Money {
    pub amount: Decimal,
    /// `None` when Salla gave a bare amount (the currency is then the payload's `currency`).
    pub currency: Option<String>,
}

impl Money {
    fn bare(amount: Decimal) -> Money {
        Money {
            amount,
            currency: None,
        }
    }
}

/// An amount read with [`decimal`], for `next_value`.
struct Amount(Decimal);

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        decimal(d).map(Amount)
    }
}

/// Text read with [`opt_text`], for `next_value`.
struct Text(Option<String>);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        opt_text(d).map(Text)
    }
}

struct MoneyVisitor;

impl<'de> de::Visitor<'de> for MoneyVisitor {
    type Value = Money;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("money: {amount, currency}, a number or a numeric string")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Money, E> {
        DecimalVisitor.visit_u64(v).map(Money::bare)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Money, E> {
        DecimalVisitor.visit_i64(v).map(Money::bare)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Money, E> {
        DecimalVisitor.visit_f64(v).map(Money::bare)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Money, E> {
        DecimalVisitor.visit_str(v).map(Money::bare)
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Money, A::Error> {
        let mut amount = None;
        let mut currency = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "amount" => {
                    if amount.is_some() {
                        return Err(de::Error::duplicate_field("amount"));
                    }
                    amount = Some(map.next_value::<Amount>()?.0);
                }
                "currency" => {
                    if currency.is_some() {
                        return Err(de::Error::duplicate_field("currency"));
                    }
                    currency = Some(map.next_value::<Text>()?.0);
                }
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        Ok(Money {
            amount: amount.ok_or_else(|| de::Error::missing_field("amount"))?,
            currency: currency.flatten(),
        })
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(MoneyVisitor)
    }
}

/// Whether an optional money value says "no amount": `null`, `""`, an empty object or array (how
/// PHP writes an empty one), or an object whose `amount` is `null` or `""`.
fn no_money(v: &Value) -> bool {
    let blank = |v: &Value| match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    };
    match v {
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty() || m.get("amount").is_some_and(blank),
        v => blank(v),
    }
}

/// Optional money: [`Money`] in any of its forms, or `None` for `null`, `""`, `{}`, `[]` and an
/// object whose `amount` is `null` or `""`. Anything else that is not money (`"lots"`, `true`, an
/// object without `amount`) is still an error.
pub fn opt_money<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Money>, D::Error> {
    let v = Value::deserialize(d)?;
    if no_money(&v) {
        return Ok(None);
    }
    Money::deserialize(v).map(Some).map_err(de::Error::custom)
}

/// An optional amount written as money or as a bare amount (`"discount": "5.00"` or
/// `{"amount": 5, "currency": "SAR"}`): the decimal, as [`opt_money`] reads it.
pub fn opt_amount<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    Ok(opt_money(d)?.map(|m| m.amount))
}

/// A list that may arrive as an array, as `null` or missing (empty), as an object of its items
/// (PHP's `{"0": {…}, "1": {…}}`, or `{}` when empty), or as one item where a list was
/// documented (an object that is not a map of objects).
pub fn list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let items: Vec<Value> = match Value::deserialize(d)? {
        Value::Null => Vec::new(),
        Value::Array(a) => a,
        Value::Object(m) if m.values().all(|v| v.is_object()) => {
            m.into_iter().map(|(_, v)| v).collect()
        }
        v @ Value::Object(_) => vec![v],
        other => {
            return Err(de::Error::invalid_type(unexpected(&other), &"a list"));
        }
    };
    items
        .into_iter()
        .map(|v| T::deserialize(v).map_err(de::Error::custom))
        .collect()
}

/// An optional object: `None` for `null`, `[]` and `{}` (PHP writes an empty object as `[]`).
pub fn opt_object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::Array(a) if a.is_empty() => Ok(None),
        Value::Object(m) if m.is_empty() => Ok(None),
        v => T::deserialize(v).map(Some).map_err(de::Error::custom),
    }
}

/// An optional flag: `true`/`false`, `1`/`0`, `"true"`/`"false"`/`"1"`/`"0"`; `null` or `""` →
/// `None`.
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(b)),
        Value::Number(n) if n.as_u64() == Some(0) => Ok(Some(false)),
        Value::Number(n) if n.as_u64() == Some(1) => Ok(Some(true)),
        Value::String(s) => match s.trim() {
            "" => Ok(None),
            "true" | "1" => Ok(Some(true)),
            "false" | "0" => Ok(Some(false)),
            _ => Err(de::Error::custom("flag string is not true/false/1/0")),
        },
        other => Err(de::Error::invalid_type(unexpected(&other), &"a flag")),
    }
}

/// Optional text, or the `name` of an object that carries one (a status written as
/// `"تم التنفيذ"` or as `{id, name}`); `null` → `None`.
pub fn opt_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Object(m) => match m.get("name") {
            None | Some(Value::Null) => Ok(None),
            Some(v) => opt_text(v).map_err(de::Error::custom),
        },
        v => opt_text(v).map_err(de::Error::custom),
    }
}

struct I64Visitor;

impl de::Visitor<'_> for I64Visitor {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer, as a number or a string")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::custom("integer out of range"))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        if v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 {
            Ok(v as i64)
        } else {
            Err(E::custom("not an integer"))
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
        v.trim()
            .parse()
            .map_err(|_| E::custom("integer string is not an integer"))
    }
}

/// An integer (e.g. a Unix timestamp) given as a number or a string.
pub fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    d.deserialize_any(I64Visitor)
}

fn unexpected(v: &Value) -> de::Unexpected<'_> {
    match v {
        Value::Null => de::Unexpected::Unit,
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Number(_) => de::Unexpected::Other("number"),
        Value::String(s) => de::Unexpected::Str(s),
        Value::Array(_) => de::Unexpected::Seq,
        Value::Object(_) => de::Unexpected::Map,
    }
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
