//! Ids of Salla objects. Salla's own JSON is decoded leniently by the `salla` crate (ids arrive as
//! numbers or strings and exceed 32 bits); inside the connector an id is always a `u64`.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_as_plain_numbers() {
        let a: MerchantId = serde_json::from_str("3187825903901094400").unwrap();
        assert_eq!(a.get(), 3_187_825_903_901_094_400);
        assert_eq!(serde_json::to_string(&a).unwrap(), "3187825903901094400");
        assert_eq!("42".parse::<SallaId>().unwrap(), SallaId::new(42));
        assert!(serde_json::from_str::<SallaId>("-1").is_err());
    }
}
