//! Configuration: `config/default.toml` (compiled in) → an optional file → environment variables.
//!
//! The environment uses `SALLA_ODOO__<SECTION>__<KEY>`; `REDIS_URL` and `DATABASE_URL` are aliases.
//! A key that the defaults do not have is an error wherever it comes from, so a typo never falls
//! back silently to a default. Secrets are `secrecy` types: their `Debug` prints `[REDACTED]`.

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};
use toml::{Table, Value};

use crate::error::CoreError;
use crate::retry::RetryPolicy;

/// The documented defaults, compiled into every binary.
pub const DEFAULTS: &str = include_str!("../../../config/default.toml");

/// Prefix of the environment variables that override configuration keys.
pub const ENV_PREFIX: &str = "SALLA_ODOO__";

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub ingest: IngestSettings,
    pub salla: SallaSettings,
    pub queue: QueueSettings,
    pub redis: RedisSettings,
    pub database: DatabaseSettings,
    pub log: LogSettings,
    pub retry: RetrySettings,
    pub secrets: SecretsSettings,
    pub worker: WorkerSettings,
    pub limits: LimitSettings,
    pub odoo: OdooSettings,
    pub retention: RetentionSettings,
    pub embedded: EmbeddedSettings,
    pub telemetry: TelemetrySettings,
    pub reconcile: ReconcileSettings,
    pub stock: StockSettings,
    pub fulfilment: FulfilmentSettings,
    /// Whether `redis.url` or `database.url` was given by a file or the environment (not only by
    /// the defaults): then the CLI and `salla-odoo run` use those servers, else embedded storage.
    #[serde(skip)]
    pub servers_configured: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedSettings {
    pub data_dir: std::path::PathBuf,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    pub sync_log_days: u32,
    pub dead_letter_days: u32,
    pub handled_dead_letter_days: u32,
    pub uninstall_grace_days: u32,
    pub interval_secs: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsSettings {
    #[serde(serialize_with = "redacted")]
    pub key: SecretString,
    #[serde(serialize_with = "redacted_list")]
    pub previous_keys: Vec<SecretString>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    pub concurrency: usize,
    pub job_timeout_secs: u64,
    pub drain_secs: u64,
    pub heartbeat_secs: u64,
    pub missed_heartbeats: u64,
    pub poll_ms: u64,
    pub max_starts: u32,
    pub lock_busy_retry_ms: u64,
    pub metrics_listen: SocketAddr,
    /// Without an explicit address, a worker whose `metrics_listen` port is taken (another worker
    /// on the host) takes the next free one of this many ports.
    pub metrics_port_span: u16,
}

impl WorkerSettings {
    /// How long a silent worker's jobs wait before another worker takes them over.
    pub fn orphan_timeout(&self) -> Duration {
        Duration::from_secs(self.heartbeat_secs * self.missed_heartbeats)
    }
}

/// The stores' Odoo clients (`[odoo]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OdooSettings {
    /// How long a store's kept capability probe seeds new clients (0: never; always probe).
    pub capabilities_ttl_secs: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    pub store_concurrency: u32,
    pub store_odoo_calls_per_sec: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IngestSettings {
    pub listen: SocketAddr,
    pub body_limit_bytes: usize,
    pub request_timeout_ms: u64,
    pub shutdown_grace_ms: u64,
    pub header_read_timeout_ms: u64,
    pub keep_alive_timeout_ms: u64,
    pub max_connections: usize,
    /// Empty: `/metrics` on the webhook listener; else only on this address.
    pub metrics_listen: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SecurityStrategy {
    Signature,
    Token,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SallaSettings {
    pub security_strategy: SecurityStrategy,
    #[serde(serialize_with = "redacted")]
    pub webhook_secret: SecretString,
    /// The app's OAuth client (Partner Portal > App > App Keys); empty = no Merchant API calls.
    pub client_id: String,
    #[serde(serialize_with = "redacted")]
    pub client_secret: SecretString,
    pub api_url: String,
    pub oauth_url: String,
    pub token_refresh_ahead_secs: u64,
    pub token_refresh_interval_secs: u64,
    pub requests_per_min: u32,
}

impl SallaSettings {
    /// Whether the Merchant API can be used at all (the app's client id and secret are set).
    pub fn api_configured(&self) -> bool {
        !self.client_id.trim().is_empty() && !self.client_secret.expose_secret().is_empty()
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSettings {
    pub namespace: String,
    pub dedupe_window_secs: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    #[serde(serialize_with = "redacted")]
    pub url: SecretString,
    pub connect_timeout_ms: u64,
    pub command_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    #[serde(serialize_with = "redacted")]
    pub url: SecretString,
    pub max_connections: u32,
    pub acquire_timeout_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
    /// A copy of the `[telemetry]` section, made by [`Settings::load`], so that
    /// `telemetry::init(&settings.log)` also sets up the traces.
    #[serde(skip)]
    pub telemetry: TelemetrySettings,
}

/// Odoo's stock pushed to Salla (`[stock]`), for stores whose stock master is Odoo.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StockSettings {
    /// How often each store's changed Odoo stock is pushed to Salla (0: only from the CLI).
    pub push_interval_secs: u64,
    /// Products per `POST /products/quantities/bulk` request.
    pub batch_size: usize,
}

/// Odoo's deliveries reported to Salla as order statuses (`[fulfilment]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FulfilmentSettings {
    /// How often validated Odoo deliveries are looked for (0: off).
    pub interval_secs: u64,
}

/// Reconciliation with Salla's API (`[reconcile]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcileSettings {
    /// How often each store is reconciled (0: only from the CLI).
    pub interval_secs: u64,
    /// How far before the watermark a run looks again (clock skew, orders changing meanwhile).
    pub overlap_secs: u64,
    /// How many days back a store's first run (its backfill) looks.
    pub backfill_days: u32,
}

/// OpenTelemetry traces over OTLP/HTTP. Off (no exporter, no background thread) while
/// `otlp_endpoint` is empty.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    /// The collector's OTLP/HTTP endpoint, e.g. `http://127.0.0.1:4318` (`/v1/traces` is added
    /// unless the path already ends with it). Empty: no traces.
    pub otlp_endpoint: String,
    /// `service.name` of the traces; empty: the binary's name (`salla-odoo-ingest`, …).
    pub service_name: String,
    /// Share of webhooks traced, 0.0 to 1.0; a job follows the decision made for its webhook.
    pub sample_ratio: f64,
}

impl TelemetrySettings {
    /// Whether traces are exported at all.
    pub fn enabled(&self) -> bool {
        !self.otlp_endpoint.trim().is_empty()
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySettings {
    pub base_ms: u64,
    pub cap_secs: u64,
    pub max_attempts: u32,
}

impl Settings {
    /// Defaults, then `file` (TOML text), then the matching environment variables.
    pub fn load<I, K, V>(file: Option<&str>, env: I) -> Result<Self, CoreError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut merged: Table =
            toml::from_str(DEFAULTS).expect("config/default.toml is valid TOML");
        let mut servers_configured = false;
        if let Some(text) = file {
            let overlay: Table = toml::from_str(text)
                .map_err(|e| CoreError::Config(format!("config file: {}", e.message())))?;
            servers_configured |= ["redis", "database"].iter().any(|section| {
                overlay
                    .get(*section)
                    .and_then(Value::as_table)
                    .is_some_and(|t| t.contains_key("url"))
            });
            merge(&mut merged, overlay, "")?;
        }
        let mut vars: Vec<(String, String)> = env
            .into_iter()
            .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned()))
            .collect();
        // Aliases first, so an explicit SALLA_ODOO__… variable wins over them.
        vars.sort_by_key(|(k, _)| k.starts_with(ENV_PREFIX));
        for (key, value) in vars {
            let path: Vec<String> = match key.as_str() {
                "REDIS_URL" => vec!["redis".into(), "url".into()],
                "DATABASE_URL" => vec!["database".into(), "url".into()],
                k => match k.strip_prefix(ENV_PREFIX) {
                    Some(rest) => rest.split("__").map(str::to_ascii_lowercase).collect(),
                    None => continue,
                },
            };
            servers_configured |= path.len() == 2
                && (path[0] == "redis" || path[0] == "database")
                && path[1] == "url";
            set_from_env(&mut merged, &path, &key, &value)?;
        }
        let mut settings: Settings = Value::Table(merged)
            .try_into()
            .map_err(|e: toml::de::Error| CoreError::Config(e.message().to_owned()))?;
        settings.servers_configured = servers_configured;
        settings.log.telemetry = settings.telemetry.clone();
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> Result<(), CoreError> {
        let ns = &self.queue.namespace;
        if ns.is_empty()
            || !ns
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
        {
            return Err(CoreError::Config(format!(
                "queue.namespace {ns:?} must be non-empty and use only letters, digits and - _ . :"
            )));
        }
        if self.ingest.body_limit_bytes == 0 {
            return Err(CoreError::Config(
                "ingest.body_limit_bytes must be > 0".into(),
            ));
        }
        let i = &self.ingest;
        if i.header_read_timeout_ms == 0 || i.keep_alive_timeout_ms > i.header_read_timeout_ms {
            return Err(CoreError::Config(format!(
                "ingest.header_read_timeout_ms ({}) must be > 0 and at least ingest.keep_alive_timeout_ms ({}): \
                 an idle kept-alive connection also waits for its next request's headers",
                i.header_read_timeout_ms, i.keep_alive_timeout_ms
            )));
        }
        let w = &self.worker;
        if w.orphan_timeout() <= Duration::from_secs(w.job_timeout_secs + w.drain_secs) {
            return Err(CoreError::Config(format!(
                "worker.heartbeat_secs × worker.missed_heartbeats ({} s, the orphan timeout) must exceed \
                 worker.job_timeout_secs + worker.drain_secs ({} s)",
                w.orphan_timeout().as_secs(),
                w.job_timeout_secs + w.drain_secs
            )));
        }
        if w.concurrency == 0 || self.limits.store_concurrency == 0 {
            return Err(CoreError::Config(
                "worker.concurrency and limits.store_concurrency must be > 0".into(),
            ));
        }
        let t = &self.telemetry;
        if !(0.0..=1.0).contains(&t.sample_ratio) {
            return Err(CoreError::Config(format!(
                "telemetry.sample_ratio ({}) must be between 0.0 and 1.0",
                t.sample_ratio
            )));
        }
        let endpoint = t.otlp_endpoint.trim();
        let http = endpoint.starts_with("http://") || endpoint.starts_with("https://");
        if !endpoint.is_empty() && !http {
            return Err(CoreError::Config(
                "telemetry.otlp_endpoint must be empty (no traces) or an http:// or https:// URL \
                 (the collector's OTLP/HTTP endpoint, e.g. http://127.0.0.1:4318)"
                    .into(),
            ));
        }
        if self.retry.max_attempts == 0 || self.retry.base_ms == 0 {
            return Err(CoreError::Config(
                "retry.max_attempts and retry.base_ms must be > 0".into(),
            ));
        }
        Ok(())
    }

    /// The webhook secret, required by anything that verifies webhooks.
    pub fn require_webhook_secret(&self) -> Result<&SecretString, CoreError> {
        if self.salla.webhook_secret.expose_secret().is_empty() {
            return Err(CoreError::Config(
                "salla.webhook_secret is empty: set SALLA_ODOO__SALLA__WEBHOOK_SECRET to the app's \
                 webhook secret from the Salla Partner Portal"
                    .into(),
            ));
        }
        Ok(&self.salla.webhook_secret)
    }

    /// The secrets key, required by anything that reads or writes merchants' secrets.
    pub fn require_secrets_key(&self) -> Result<&SecretString, CoreError> {
        if self.secrets.key.expose_secret().is_empty() {
            return Err(CoreError::Config(
                "secrets.key is empty: set SALLA_ODOO__SECRETS__KEY to base64 of 32 random bytes \
                 (e.g. `openssl rand -base64 32`)"
                    .into(),
            ));
        }
        Ok(&self.secrets.key)
    }

    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_millis(self.retry.base_ms),
            cap: Duration::from_secs(self.retry.cap_secs),
            max_attempts: self.retry.max_attempts,
        }
    }
}

/// Secrets serialise as `[set]` or `[empty]`, never their value (`salla-odoo config --json`).
fn redacted<S: Serializer>(secret: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(if secret.expose_secret().is_empty() {
        "[empty]"
    } else {
        "[set]"
    })
}

fn redacted_list<S: Serializer>(secrets: &[SecretString], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(secrets.iter().map(|_| "[set]"))
}

fn merge(base: &mut Table, overlay: Table, prefix: &str) -> Result<(), CoreError> {
    for (key, value) in overlay {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match (base.get_mut(&key), value) {
            (None, _) => return Err(CoreError::Config(format!("unknown key `{path}`"))),
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o, &path)?,
            (Some(Value::Table(_)), _) => {
                return Err(CoreError::Config(format!("`{path}` must be a table")));
            }
            (Some(slot), v) => *slot = v,
        }
    }
    Ok(())
}

fn set_from_env(root: &mut Table, path: &[String], var: &str, raw: &str) -> Result<(), CoreError> {
    let unknown = || {
        CoreError::Config(format!(
            "environment variable {var} names no configuration key"
        ))
    };
    let (last, parents) = path.split_last().ok_or_else(unknown)?;
    let mut table = root;
    for p in parents {
        table = match table.get_mut(p) {
            Some(Value::Table(t)) => t,
            _ => return Err(unknown()),
        };
    }
    let slot = table.get_mut(last).ok_or_else(unknown)?;
    // The default's type says how to read the text of the variable.
    let parsed = match slot {
        Value::String(_) => Some(Value::String(raw.to_owned())),
        Value::Integer(_) => raw.trim().parse().ok().map(Value::Integer),
        Value::Float(_) => raw.trim().parse().ok().map(Value::Float),
        Value::Boolean(_) => raw.trim().parse().ok().map(Value::Boolean),
        Value::Table(_) => return Err(unknown()),
        // Lists of strings are comma-separated in the environment.
        Value::Array(_) => Some(Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_owned()))
                .collect(),
        )),
        _ => toml::from_str::<Table>(&format!("v = {raw}"))
            .ok()
            .and_then(|mut t| t.remove("v")),
    };
    *slot = parsed.ok_or_else(|| {
        CoreError::Config(format!(
            "environment variable {var}: {raw:?} is not a valid value"
        ))
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env() -> Vec<(String, String)> {
        Vec::new()
    }

    #[test]
    fn defaults_load() {
        let s = Settings::load(None, no_env()).unwrap();
        assert_eq!(s.ingest.body_limit_bytes, 1024 * 1024);
        assert_eq!(s.queue.dedupe_window_secs, 48 * 3600);
        assert_eq!(s.salla.security_strategy, SecurityStrategy::Signature);
        assert!(s.require_webhook_secret().is_err());
    }

    #[test]
    fn file_then_env_override_defaults() {
        let file = "[queue]\nnamespace = \"from-file\"\ndedupe_window_secs = 60\n";
        let env = [
            ("SALLA_ODOO__QUEUE__NAMESPACE", "from-env"),
            ("SALLA_ODOO__SALLA__SECURITY_STRATEGY", "token"),
            ("SALLA_ODOO__SALLA__WEBHOOK_SECRET", "s3cret"),
            ("REDIS_URL", "redis://10.0.0.1:6380"),
            ("SALLA_ODOO__INGEST__BODY_LIMIT_BYTES", "2048"),
            ("PATH", "/usr/bin"),
        ];
        let s = Settings::load(Some(file), env).unwrap();
        assert_eq!(s.queue.namespace, "from-env");
        assert_eq!(s.queue.dedupe_window_secs, 60);
        assert_eq!(s.salla.security_strategy, SecurityStrategy::Token);
        assert_eq!(
            s.require_webhook_secret().unwrap().expose_secret(),
            "s3cret"
        );
        assert_eq!(s.redis.url.expose_secret(), "redis://10.0.0.1:6380");
        assert_eq!(s.ingest.body_limit_bytes, 2048);
    }

    #[test]
    fn explicit_variable_beats_alias() {
        let env = [
            ("SALLA_ODOO__REDIS__URL", "redis://explicit"),
            ("REDIS_URL", "redis://alias"),
        ];
        let s = Settings::load(None, env).unwrap();
        assert_eq!(s.redis.url.expose_secret(), "redis://explicit");
    }

    #[test]
    fn servers_count_as_configured_only_when_a_file_or_the_environment_names_them() {
        let s = Settings::load(None, no_env()).unwrap();
        assert!(
            !s.servers_configured,
            "defaults alone mean embedded storage"
        );
        assert_eq!(
            s.embedded.data_dir,
            std::path::PathBuf::from("salla-odoo-data")
        );
        for env in [
            ("REDIS_URL", "redis://h"),
            ("DATABASE_URL", "postgres://h/d"),
            ("SALLA_ODOO__REDIS__URL", "redis://h"),
            ("SALLA_ODOO__DATABASE__URL", "postgres://h/d"),
        ] {
            assert!(
                Settings::load(None, [env]).unwrap().servers_configured,
                "{env:?}"
            );
        }
        let other = Settings::load(None, [("SALLA_ODOO__REDIS__COMMAND_TIMEOUT_MS", "5")]).unwrap();
        assert!(!other.servers_configured);
        let file =
            Settings::load(Some("[database]\nurl = \"postgres://f/d\"\n"), no_env()).unwrap();
        assert!(file.servers_configured);
        let file = Settings::load(Some("[embedded]\ndata_dir = \"/srv/x\"\n"), no_env()).unwrap();
        assert!(!file.servers_configured);
        assert_eq!(file.embedded.data_dir, std::path::PathBuf::from("/srv/x"));
    }

    #[test]
    fn odoo_capabilities_ttl_defaults_to_a_day_and_is_overridden_from_the_environment() {
        let s = Settings::load(None, no_env()).unwrap();
        assert_eq!(s.odoo.capabilities_ttl_secs, 86_400);
        let s = Settings::load(None, [("SALLA_ODOO__ODOO__CAPABILITIES_TTL_SECS", "0")]).unwrap();
        assert_eq!(s.odoo.capabilities_ttl_secs, 0);
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = Settings::load(Some("[queue]\nnamspace = \"x\"\n"), no_env()).unwrap_err();
        assert!(err.to_string().contains("queue.namspace"), "{err}");
        let err = Settings::load(None, [("SALLA_ODOO__QUEUE__NAMSPACE", "x")]).unwrap_err();
        assert!(
            err.to_string().contains("SALLA_ODOO__QUEUE__NAMSPACE"),
            "{err}"
        );
        let err = Settings::load(None, [("SALLA_ODOO__NOPE", "x")]).unwrap_err();
        assert!(
            err.to_string().contains("names no configuration key"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_are_errors_that_do_not_echo_secrets() {
        let err =
            Settings::load(None, [("SALLA_ODOO__INGEST__BODY_LIMIT_BYTES", "lots")]).unwrap_err();
        assert!(err.to_string().contains("BODY_LIMIT_BYTES"), "{err}");
        let err =
            Settings::load(None, [("SALLA_ODOO__SALLA__SECURITY_STRATEGY", "none")]).unwrap_err();
        assert!(err.to_string().contains("none"), "{err}");
        let err = Settings::load(None, [("SALLA_ODOO__QUEUE__NAMESPACE", "a b")]).unwrap_err();
        assert!(err.to_string().contains("namespace"), "{err}");
    }

    #[test]
    fn orphan_timeout_must_exceed_job_timeout_plus_drain() {
        let err =
            Settings::load(None, [("SALLA_ODOO__WORKER__MISSED_HEARTBEATS", "2")]).unwrap_err();
        assert!(err.to_string().contains("orphan timeout"), "{err}");
        let s = Settings::load(None, no_env()).unwrap();
        assert_eq!(s.worker.orphan_timeout(), Duration::from_secs(120));
    }

    #[test]
    fn telemetry_is_off_by_default_and_checked_when_on() {
        let s = Settings::load(None, no_env()).unwrap();
        assert!(!s.telemetry.enabled() && !s.log.telemetry.enabled());
        assert_eq!(s.telemetry.sample_ratio, 1.0);
        let env = [
            (
                "SALLA_ODOO__TELEMETRY__OTLP_ENDPOINT",
                "http://127.0.0.1:4318",
            ),
            ("SALLA_ODOO__TELEMETRY__SAMPLE_RATIO", "0.25"),
        ];
        let s = Settings::load(None, env).unwrap();
        assert!(s.log.telemetry.enabled(), "init(&settings.log) sees it");
        assert_eq!(s.log.telemetry.sample_ratio, 0.25);
        let err =
            Settings::load(None, [("SALLA_ODOO__TELEMETRY__SAMPLE_RATIO", "1.5")]).unwrap_err();
        assert!(err.to_string().contains("sample_ratio"), "{err}");
        let err = Settings::load(
            None,
            [("SALLA_ODOO__TELEMETRY__OTLP_ENDPOINT", "collector:4318")],
        )
        .unwrap_err();
        assert!(err.to_string().contains("otlp_endpoint"), "{err}");
    }

    #[test]
    fn previous_keys_are_a_comma_separated_list() {
        let s = Settings::load(None, [("SALLA_ODOO__SECRETS__PREVIOUS_KEYS", "a, b")]).unwrap();
        let keys: Vec<&str> = s
            .secrets
            .previous_keys
            .iter()
            .map(|k| k.expose_secret())
            .collect();
        assert_eq!(keys, ["a", "b"]);
        assert!(s.require_secrets_key().is_err());
    }

    #[test]
    fn json_output_redacts_secrets() {
        let s = Settings::load(
            None,
            [
                ("SALLA_ODOO__SALLA__WEBHOOK_SECRET", "hunter2-secret"),
                ("DATABASE_URL", "postgres://u:pw-123@h/d"),
            ],
        )
        .unwrap();
        let json = serde_json::to_string(&s).unwrap();
        assert!(
            !json.contains("hunter2") && !json.contains("pw-123"),
            "{json}"
        );
        assert!(json.contains(r#""webhook_secret":"[set]""#), "{json}");
        assert!(json.contains(r#""key":"[empty]""#), "{json}");
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let s = Settings::load(
            None,
            [("SALLA_ODOO__SALLA__WEBHOOK_SECRET", "hunter2-secret")],
        )
        .unwrap();
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("hunter2-secret"));
        assert!(dbg.contains("REDACTED"));
    }
}
