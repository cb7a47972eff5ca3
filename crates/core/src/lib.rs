//! The vocabulary of salla-odoo: ids, the versioned [`SyncJob`], the routing table from Salla events
//! to job kinds, the retry schedule, the error classification and the configuration. No I/O lives here.

pub mod currency;
pub mod error;
pub mod ids;
pub mod job;
pub mod retry;
pub mod routing;
pub mod settings;
pub mod store_options;
pub mod telemetry;

pub use currency::PricelistMap;
pub use error::{CoreError, SyncError};
pub use ids::{MerchantId, SallaId};
pub use job::{AttemptRecord, BodyDigest, EntityKind, EntityRef, JobKind, SyncJob, SyncJobV1};
pub use retry::RetryPolicy;
pub use routing::{IgnoreReason, Route, route};
pub use settings::Settings;
pub use store_options::{OrderStep, StatusMap, StockMaster, VariantLayout};
