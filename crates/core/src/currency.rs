//! Per-store options about currencies and amounts (issue 17): which Odoo pricelist each Salla
//! order currency uses, and how large a difference a rounding line may absorb.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The Odoo `product.pricelist` a store's orders use, by ISO 4217 currency (`SAR=1,USD=3` on the
/// command line). A currency not in the map uses the store's `pricelist_id` when that pricelist is
/// in the currency, else the pricelist Odoo holds in it (the first by sequence).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PricelistMap(pub BTreeMap<String, i64>);

impl PricelistMap {
    /// The pricelist named for `currency`.
    pub fn get(&self, currency: &str) -> Option<i64> {
        self.0.get(currency).copied()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Apply `CUR=ID,CUR=ID` (the CLI form) currency by currency: `CUR=none` removes one currency,
    /// a lone `none` empties the map first.
    pub fn with_overrides(mut self, spec: &str) -> Result<Self, String> {
        for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if pair.eq_ignore_ascii_case("none") {
                self.0.clear();
                continue;
            }
            let (currency, id) = pair
                .split_once('=')
                .ok_or_else(|| format!("{pair:?} is not CURRENCY=PRICELIST_ID (e.g. USD=3)"))?;
            let currency = currency_code(currency)?;
            let id = id.trim();
            if id.eq_ignore_ascii_case("none") {
                self.0.remove(&currency);
                continue;
            }
            let id: i64 = id
                .parse()
                .ok()
                .filter(|i| *i >= 1)
                .ok_or_else(|| format!("{id:?} is not a pricelist id (a positive integer)"))?;
            self.0.insert(currency, id);
        }
        Ok(self)
    }
}

impl fmt::Display for PricelistMap {
    /// `SAR=1,USD=3`, or `-` when empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("-");
        }
        let pairs: Vec<String> = self.0.iter().map(|(c, id)| format!("{c}={id}")).collect();
        f.write_str(&pairs.join(","))
    }
}

/// An ISO 4217 code: three ASCII letters, upper-cased.
pub fn currency_code(s: &str) -> Result<String, String> {
    let c = s.trim().to_ascii_uppercase();
    if c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(c)
    } else {
        Err(format!(
            "{s:?} is not a three-letter ISO 4217 currency code"
        ))
    }
}

/// The default of the store option `rounding_max`: 1.00 in the order's currency.
pub const DEFAULT_ROUNDING_MAX_CENTS: i64 = 100;

/// `1.00`, `0.5`, `2` → cents (at most two decimals, not negative).
pub fn parse_cents(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let bad = || format!("{s:?} is not an amount like 1.00 (at most two decimals, not negative)");
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    if whole.is_empty() && frac.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 2
        || whole.len() > 12
    {
        return Err(bad());
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let frac: i64 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
    Ok(whole * 100 + frac)
}

/// Cents as `1.00`.
pub fn format_cents(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    format!("{sign}{}.{:02}", c / 100, c % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pricelists_parse_override_and_print() {
        let m = PricelistMap::default()
            .with_overrides("sar=1, USD=3")
            .unwrap();
        assert_eq!(m.get("SAR"), Some(1));
        assert_eq!(m.get("USD"), Some(3));
        assert_eq!(m.to_string(), "SAR=1,USD=3");
        let m = m.with_overrides("USD=none,AED=4").unwrap();
        assert_eq!(m.to_string(), "AED=4,SAR=1");
        assert_eq!(m.clone().with_overrides("none").unwrap().to_string(), "-");
        assert_eq!(
            m.clone().with_overrides("none,EUR=2").unwrap().to_string(),
            "EUR=2"
        );
        for bad in ["USD", "US=3", "USD=0", "USD=x", "DOLLAR=2"] {
            assert!(
                PricelistMap::default().with_overrides(bad).is_err(),
                "{bad}"
            );
        }
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, r#"{"AED":4,"SAR":1}"#);
    }

    #[test]
    fn amounts_parse_as_cents() {
        assert_eq!(parse_cents("1.00"), Ok(100));
        assert_eq!(parse_cents("0.5"), Ok(50));
        assert_eq!(parse_cents("2"), Ok(200));
        assert_eq!(parse_cents(".05"), Ok(5));
        assert_eq!(parse_cents("0"), Ok(0));
        for bad in ["", ".", "-1", "1.005", "abc", "1,00"] {
            assert!(parse_cents(bad).is_err(), "{bad}");
        }
        assert_eq!(format_cents(100), "1.00");
        assert_eq!(format_cents(5), "0.05");
        assert_eq!(format_cents(-1234), "-12.34");
    }
}
