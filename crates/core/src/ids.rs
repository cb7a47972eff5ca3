//! Salla ids. Salla sends ids as JSON numbers or strings, and some exceed 32 bits (and even 2^53),
//! so they are `u64` decoded from either form and never pass through floating point.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, de};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(u64);

        impl $name {
            pub const fn new(id: u64) -> Self {
                Self(id)
            }
            pub const fn get(self) -> u64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.trim().parse().map(Self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(U64Visitor).map(Self)
            }
        }
    };
}

id_type!(
    /// A Salla store (merchant) id, the top-level `merchant` of every webhook.
    MerchantId
);
id_type!(
    /// The id of a Salla object (order, customer, product, shipment, …).
    SallaId
);

/// Accepts a non-negative integer as a JSON number or as a string of digits.
pub struct U64Visitor;

impl de::Visitor<'_> for U64Visitor {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a non-negative integer id, as a number or a string")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::custom(format!("negative id {v}")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<u64, E> {
        // Only integral values that a float represents exactly are ids.
        if v >= 0.0 && v.fract() == 0.0 && v < 9_007_199_254_740_992.0 {
            Ok(v as u64)
        } else {
            Err(E::custom(format!("{v} is not an integer id")))
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        v.trim()
            .parse()
            .map_err(|_| E::custom(format!("{v:?} is not an integer id")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_decode_from_numbers_and_strings() {
        let a: MerchantId = serde_json::from_str("1305146709").unwrap();
        let b: MerchantId = serde_json::from_str("\"1305146709\"").unwrap();
        assert_eq!(a, b);
        let big: SallaId = serde_json::from_str("3187825903901094400").unwrap();
        assert_eq!(big.get(), 3_187_825_903_901_094_400);
        assert!(serde_json::from_str::<SallaId>("-1").is_err());
        assert!(serde_json::from_str::<SallaId>("\"abc\"").is_err());
        assert!(serde_json::from_str::<SallaId>("1.5").is_err());
        assert_eq!(serde_json::to_string(&a).unwrap(), "1305146709");
    }
}
