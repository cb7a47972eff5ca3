//! `salla-odoo doctor`: checks everything a fleet needs and says what is wrong.

use salla_odoo_core::Settings;
use serde::Serialize;
use std::io::Write;

use crate::CliError;

/// How a check came out. Only `Fail` fails the doctor (exit 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    /// For information: a feature is off by configuration.
    Note,
    /// Worth a look, but nothing is broken by it.
    Warn,
    Fail,
}

impl Level {
    pub fn label(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Note => "note",
            Level::Warn => "WARN",
            Level::Fail => "FAIL",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub check: String,
    /// `false` only for a failed check (`level` = `fail`); notes and warnings are `true`.
    pub ok: bool,
    pub level: Level,
    pub detail: String,
}

fn check(name: impl Into<String>, result: Result<String, String>) -> Check {
    match result {
        Ok(d) => leveled(name, Level::Ok, d),
        Err(d) => leveled(name, Level::Fail, d),
    }
}

pub(crate) fn leveled(name: impl Into<String>, level: Level, detail: impl Into<String>) -> Check {
    Check {
        check: name.into(),
        ok: level != Level::Fail,
        level,
        detail: detail.into(),
    }
}

/// `redis_version` from `INFO server`, as written and as (major, minor).
fn redis_version(info: &str) -> Option<(String, (u32, u32))> {
    let v = info
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:"))?
        .trim();
    let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    Some((v.to_owned(), (major, minor)))
}

/// Run every check; returns them all (the caller decides the exit code).
pub async fn run(settings: &Settings) -> Vec<Check> {
    let mut checks = Vec::new();

    // "redis", or "queue" (the embedded SQLite queue) in embedded mode.
    let queue_check = if crate::storage(settings) == crate::embedded::Storage::Fleet {
        "redis"
    } else {
        "queue"
    };
    let redis_time = match crate::queue_from(settings).await {
        Ok(queue) => match queue.ping().await {
            Ok(()) => {
                let version = match queue.as_redis() {
                    Some(redis) => {
                        let mut conn = redis.connection();
                        redis::cmd("INFO")
                            .arg("server")
                            .query_async::<String>(&mut conn)
                            .await
                            .ok()
                            .and_then(|info| redis_version(&info))
                    }
                    None => None,
                };
                checks.push(check(
                    queue_check,
                    match version {
                        // ZADD GT (the workers' last-seen never goes back) came in 6.2.
                        Some((v, parsed)) if parsed < (6, 2) => Err(format!(
                            "Redis {v} is too old: the queue needs Redis 6.2 or newer"
                        )),
                        Some((v, _)) => Ok(format!(
                            "reachable, Redis {v}, namespace {}",
                            queue.namespace()
                        )),
                        None => Ok(format!("reachable, namespace {}", queue.namespace())),
                    },
                ));
                match queue.as_redis() {
                    Some(redis) => {
                        let mut conn = redis.connection();
                        redis::cmd("TIME")
                            .query_async::<(u64, u64)>(&mut conn)
                            .await
                            .ok()
                            .map(|(s, _)| s as i64)
                    }
                    None => None,
                }
            }
            Err(e) => {
                checks.push(check(queue_check, Err(e.to_string())));
                None
            }
        },
        Err(e) => {
            checks.push(check(queue_check, Err(e.to_string())));
            None
        }
    };

    let pool = crate::pool(settings).await.ok();
    let mut pg_time = None;
    // "postgres", or "sqlite" in embedded mode.
    let db_check = pool
        .as_ref()
        .map_or("postgres".to_owned(), |p| p.backend().to_string());
    match &pool {
        Some(pool) => {
            let now = match (pool.as_postgres(), pool.as_sqlite()) {
                (Some(p), _) => {
                    sqlx::query_scalar::<_, i64>("SELECT extract(epoch FROM now())::bigint")
                        .fetch_one(p)
                        .await
                }
                (None, Some(p)) => {
                    sqlx::query_scalar::<_, i64>("SELECT CAST(strftime('%s', 'now') AS INTEGER)")
                        .fetch_one(p)
                        .await
                }
                (None, None) => unreachable!("a store is on Postgres or SQLite"),
            };
            match now {
                Ok(t) => {
                    pg_time = Some(t);
                    checks.push(check(db_check.as_str(), Ok("reachable".into())));
                    let migrations = salla_odoo_store::migration_status(pool).await;
                    checks.push(check(
                        "migrations",
                        match migrations {
                            Ok(m) => {
                                let pending: Vec<_> = m
                                    .iter()
                                    .filter(|m| !m.applied)
                                    .map(|m| m.version.to_string())
                                    .collect();
                                if pending.is_empty() {
                                    Ok(format!("{} applied", m.len()))
                                } else {
                                    Err(format!(
                                        "pending: {} (run salla-odoo migrate)",
                                        pending.join(", ")
                                    ))
                                }
                            }
                            Err(e) => Err(e.to_string()),
                        },
                    ));
                }
                Err(e) => checks.push(check(db_check.as_str(), Err(e.to_string()))),
            }
        }
        None => checks.push(check("postgres", Err("the database URL is invalid".into()))),
    }

    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let skews: Vec<String> = [("redis", redis_time), (db_check.as_str(), pg_time)]
        .iter()
        .filter_map(|(n, t)| t.map(|t| (n, t - now)))
        .filter(|(_, d)| d.abs() > 5)
        .map(|(n, d)| format!("{n} is {d:+} s off"))
        .collect();
    checks.push(check(
        "clock",
        if skews.is_empty() {
            Ok("within 5 s of Redis and Postgres".into())
        } else {
            Err(skews.join("; "))
        },
    ));

    let keyring = match salla_odoo_store::secrets::Keyring::from_settings(&settings.secrets) {
        Ok(k) => {
            checks.push(check(
                "secrets key",
                Ok(format!("key id {}", k.current_key_id())),
            ));
            Some(k)
        }
        Err(e) => {
            checks.push(check(
                "secrets key",
                Err(format!("{e} (SALLA_ODOO__SECRETS__KEY)")),
            ));
            None
        }
    };

    if let (Some(pool), Some(keyring)) = (&pool, &keyring) {
        match salla_odoo_store::stores::list_settings(pool, keyring).await {
            Ok(stores) => {
                for s in stores.iter().filter(|s| s.status == "installed") {
                    let name = format!("store {} odoo", s.merchant);
                    let Some(c) = &s.odoo else {
                        checks.push(check(
                            name,
                            Err("no Odoo connection configured (salla-odoo store add)".into()),
                        ));
                        continue;
                    };
                    let client = crate::odoo_user::check_client(c);
                    let result = match &client {
                        Ok(client) => client
                            .capabilities()
                            .await
                            .map(|caps| {
                                format!(
                                    "{} reachable, credentials valid (Odoo {})",
                                    c.url, caps.version.serie
                                )
                            })
                            .map_err(|e| e.to_string()),
                        Err(e) => Err(e.clone()),
                    };
                    let reachable = result.is_ok();
                    checks.push(check(name, result));
                    // The user it acts as: its email address, the groups the store's steps need.
                    if let (true, Ok(client)) = (reachable, &client) {
                        checks.extend(crate::odoo_user::checks(client, s).await);
                        checks.push(pricelist_check(client, s).await);
                    }
                }
            }
            Err(e) => checks.push(check("stores", Err(e.to_string()))),
        }
    }

    let api = settings.salla.api_configured();
    checks.push(if api {
        leveled(
            "salla api",
            Level::Ok,
            format!(
                "configured ({}); tokens refreshed {} s before expiry, checked every {} s",
                settings.salla.api_url,
                settings.salla.token_refresh_ahead_secs,
                settings.salla.token_refresh_interval_secs
            ),
        )
    } else {
        leveled(
            "salla api",
            Level::Note,
            "not configured (salla.client_id / salla.client_secret): fetching on demand and token \
             refresh are off; webhooks still sync",
        )
    });
    if let Some(pool) = &pool {
        let now = time::OffsetDateTime::now_utc();
        match crate::stores::token_views(pool, now).await {
            Ok(views) => {
                for v in views.iter().filter(|v| v.store_status == "installed") {
                    checks.push(token_check(v, api, now));
                }
            }
            Err(e) => checks.push(check("salla tokens", Err(e.to_string()))),
        }
    }
    checks
}

/// One store's pricelists (issue 17): `Warn` when Odoo's default pricelist (the store's
/// `pricelist_id`, else Odoo's first) is not in the Salla store's currency (`currency`, default
/// SAR), and when orders in the store's currency, or in a currency `pricelists` names, would fail
/// for want of a pricelist in it; otherwise which pricelist the store's orders use.
async fn pricelist_check(
    client: &odoo::Client,
    s: &salla_odoo_store::stores::StoreSettings,
) -> Check {
    use salla_odoo_sync::{PricelistError, pricelist_currency, resolve_pricelist};

    let name = format!("store {} pricelist", s.merchant);
    let opts = salla_odoo_sync::store_options(s);
    let currency = opts
        .currency
        .clone()
        .unwrap_or_else(|| salla_odoo_sync::mapping::DEFAULT_CURRENCY.to_owned());
    let mut warnings = Vec::new();
    let default = match opts.pricelist_id {
        Some(p) => pricelist_currency(client, p)
            .await
            .map(|c| Some((p, c)))
            .map_err(|e| e.to_string()),
        None => client
            .search_read::<odoo::Record>(
                "product.pricelist",
                &odoo::Domain::new(),
                &["id", "currency_id"],
                &odoo::SearchOptions::limit(1),
            )
            .await
            .map(|r| {
                r.first().and_then(|p| {
                    let id = p.get("id").and_then(serde_json::Value::as_i64)?;
                    let c = p
                        .get("currency_id")
                        .and_then(|c| c.get(1))
                        .and_then(serde_json::Value::as_str)
                        .map(str::to_owned);
                    Some((id, c))
                })
            })
            .map_err(|e| e.to_string()),
    };
    let which = if opts.pricelist_id.is_some() {
        "the store's pricelist (--pricelist-id)"
    } else {
        "Odoo's default pricelist"
    };
    match default {
        Ok(Some((id, Some(c)))) if c != currency => warnings.push(format!(
            "{which} {id} is in {c} but the Salla store's currency is {currency} (--currency)"
        )),
        Ok(Some((id, None))) => warnings.push(format!(
            "{which} {id} does not exist in Odoo or is archived"
        )),
        Ok(_) => {}
        Err(e) => return leveled(name, Level::Warn, format!("could not read pricelists: {e}")),
    }
    let mut currencies = vec![currency.clone()];
    currencies.extend(
        opts.pricelists
            .0
            .keys()
            .filter(|c| **c != currency)
            .cloned(),
    );
    let mut used = Vec::new();
    for cur in currencies {
        match resolve_pricelist(client, &opts, &cur).await {
            Ok(id) => used.push(format!("{cur} orders use pricelist {id}")),
            Err(PricelistError::None(reason)) => {
                warnings.push(format!("{cur} orders fail permanently: {reason}"))
            }
            Err(PricelistError::Odoo(e)) => {
                return leveled(name, Level::Warn, format!("could not read pricelists: {e}"));
            }
        }
    }
    if warnings.is_empty() {
        leveled(name, Level::Ok, used.join("; "))
    } else {
        warnings.extend(used);
        leveled(name, Level::Warn, warnings.join("; "))
    }
}

/// One installed store's Salla API tokens: `Fail` when API calls cannot work for it (needs
/// reinstall; access token expired with no way to renew it), `Warn` when none were ever received
/// or an expired one awaits its refresh. With the API not configured nothing uses the tokens, so
/// what would fail is a warning.
fn token_check(v: &crate::stores::TokenView, api: bool, now: time::OffsetDateTime) -> Check {
    use salla_odoo_store::tokens::ApiState;

    let s = &v.status;
    let name = format!("store {} salla api", s.merchant_id);
    let broken = if api { Level::Fail } else { Level::Warn };
    let off = if api {
        ""
    } else {
        " (the Salla API is not configured: nothing uses these tokens now)"
    };
    match s.state {
        None => leveled(
            name,
            Level::Warn,
            "no app.store.authorize received yet: Salla API calls are off for this store",
        ),
        Some(ApiState::NeedsReinstall) => {
            let since = s
                .state_since
                .map(|t| format!(" since {}", crate::stores::rfc3339_secs(t)))
                .unwrap_or_default();
            leveled(
                name,
                broken,
                format!(
                    "needs reinstall{since}: {}; {}{off}",
                    s.reason.as_deref().unwrap_or("no reason recorded"),
                    crate::stores::REINSTALL_ACTION
                ),
            )
        }
        Some(ApiState::Ok) if !s.has_access_token => leveled(
            name,
            broken,
            format!(
                "no access token stored: Salla API calls fail for this store; {}{off}",
                crate::stores::REINSTALL_ACTION
            ),
        ),
        Some(ApiState::Ok) if v.access_expired == Some(true) => {
            let expiry = crate::stores::expiry_long(s, now);
            if s.has_refresh_token {
                leveled(
                    name,
                    Level::Warn,
                    format!(
                        "access token {expiry}; a refresh token is held: the next scheduled \
                         refresh or API call renews it{}",
                        if api {
                            ""
                        } else {
                            " once the Salla API is configured"
                        }
                    ),
                )
            } else {
                leveled(
                    name,
                    broken,
                    format!(
                        "access token {expiry} and no refresh token is held: Salla API calls \
                         fail for this store; {}{off}",
                        crate::stores::REINSTALL_ACTION
                    ),
                )
            }
        }
        Some(ApiState::Ok) => leveled(
            name,
            Level::Ok,
            format!(
                "ok, access token {}, {}",
                crate::stores::expiry_long(s, now),
                if s.has_refresh_token {
                    "refresh token held"
                } else {
                    "no refresh token (it cannot be renewed)"
                }
            ),
        ),
    }
}

/// Print the checks; `Err` (exit 1) when any failed (notes and warnings do not fail).
pub fn report(checks: &[Check], json: bool, out: &mut impl Write) -> Result<(), CliError> {
    if json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(checks).expect("serialisable")
        )?;
    } else {
        for c in checks {
            writeln!(out, "{:<4} {:<28} {}", c.level.label(), c.check, c.detail)?;
        }
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    if failed > 0 {
        return Err(CliError::Failed(format!("{failed} check(s) failed")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::redis_version;

    #[test]
    fn the_redis_version_is_read_from_info_server() {
        let info = "# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\n";
        assert_eq!(redis_version(info), Some(("7.0.15".into(), (7, 0))));
        assert!(redis_version("redis_version:6.0.9\r\n").unwrap().1 < (6, 2));
        assert!(redis_version("redis_version:6.2.0\r\n").unwrap().1 >= (6, 2));
        assert_eq!(redis_version("# Server\r\n"), None);
    }
}
