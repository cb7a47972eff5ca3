//! Small helpers: Salla's date shapes, lenient id reading, query strings.

use serde_json::{Value, json};
use time::macros::{format_description, offset};
use time::{OffsetDateTime, UtcOffset};

/// Salla stores answer in Riyadh time (`"timezone": "Asia/Riyadh"`, UTC+3, no DST).
pub(crate) const RIYADH: UtcOffset = offset!(+3);

pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Seconds since the Unix epoch, with a fraction.
pub(crate) fn epoch_secs(t: OffsetDateTime) -> f64 {
    t.unix_timestamp_nanos() as f64 / 1e9
}

/// `"2024-01-01 12:00:00.000000"` in Riyadh time.
pub(crate) fn micros_string(t: OffsetDateTime) -> String {
    let f =
        format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:6]");
    t.to_offset(RIYADH).format(&f).unwrap_or_default()
}

/// `"2024-01-01 12:00:00"` in Riyadh time.
pub(crate) fn plain_string(t: OffsetDateTime) -> String {
    let f = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    t.to_offset(RIYADH).format(&f).unwrap_or_default()
}

/// `{"date": "2024-01-01 12:00:00.000000", "timezone_type": 3, "timezone": "Asia/Riyadh"}`.
pub(crate) fn salla_date(t: OffsetDateTime) -> Value {
    json!({"date": micros_string(t), "timezone_type": 3, "timezone": "Asia/Riyadh"})
}

/// RFC 3339 in UTC, for the inspection API.
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The comparable text of a Salla date: the `date` of a date object, or the string itself.
pub(crate) fn date_text(v: Option<&Value>) -> Option<&str> {
    match v? {
        Value::String(s) => Some(s),
        Value::Object(o) => o.get("date").and_then(Value::as_str),
        _ => None,
    }
}

/// A `u64` from a number or a numeric string (Salla sends ids both ways).
pub(crate) fn as_u64(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An `f64` from a number, a numeric string or a money object `{amount}` (for sorting only).
pub(crate) fn as_f64(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Object(o) => as_f64(o.get("amount")),
        _ => None,
    }
}

/// A scalar as text (`42` and `"42"` both give `"42"`).
pub(crate) fn as_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Turn `obj[key]` into a JSON number when it is a numeric string.
pub(crate) fn number_id(obj: &mut Value, key: &str) {
    if let Some(slot) = obj.get_mut(key)
        && let Value::String(s) = slot
        && let Ok(n) = s.trim().parse::<u64>()
    {
        *slot = json!(n);
    }
}

/// Numeric ids for every object of the array `obj[key]`.
pub(crate) fn number_ids_in(obj: &mut Value, key: &str) {
    if let Some(Value::Array(items)) = obj.get_mut(key) {
        for it in items {
            number_id(it, "id");
        }
    }
}

/// The pairs of a query string, decoded.
pub(crate) fn query_pairs(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The first value of `name`.
pub(crate) fn q<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Every value of an array parameter: `name`, `name[]` and `name[N]`, also comma-separated.
pub(crate) fn q_all(pairs: &[(String, String)], name: &str) -> Vec<String> {
    pairs
        .iter()
        .filter(|(k, _)| {
            k == name
                || k.strip_prefix(name)
                    .and_then(|r| r.strip_prefix('['))
                    .and_then(|r| r.strip_suffix(']'))
                    .is_some_and(|i| i.chars().all(|c| c.is_ascii_digit()))
        })
        .flat_map(|(_, v)| v.split(',').map(str::trim).map(str::to_owned))
        .filter(|v| !v.is_empty())
        .collect()
}

/// Decode `%XX` escapes of a path segment (invalid escapes are kept as they are).
pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// A random token like Salla's (`ory_at_…`, `ory_rt_…`).
pub(crate) fn random_token(prefix: &str) -> String {
    use rand::Rng;
    use rand::distr::Alphanumeric;
    let mut rng = rand::rng();
    let a: String = (&mut rng)
        .sample_iter(&Alphanumeric)
        .take(43)
        .map(char::from)
        .collect();
    let b: String = rng
        .sample_iter(&Alphanumeric)
        .take(43)
        .map(char::from)
        .collect();
    format!("{prefix}{a}.{b}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_params() {
        let p = query_pairs("status[]=1&status[]=2&status[3]=4&status=5,6&statusx=9");
        assert_eq!(q_all(&p, "status"), ["1", "2", "4", "5", "6"]);
    }

    #[test]
    fn percent() {
        assert_eq!(percent_decode("A%20B%2fC%zz%4"), "A B/C%zz%4");
    }

    #[test]
    fn dates() {
        let t = time::macros::datetime!(2024-01-01 09:00:00 UTC);
        assert_eq!(micros_string(t), "2024-01-01 12:00:00.000000");
        assert_eq!(plain_string(t), "2024-01-01 12:00:00");
    }
}
