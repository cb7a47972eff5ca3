//! `salla-odoo doctor`: checks everything a fleet needs and says what is wrong.

use std::io::Write;
use std::time::Duration;

use salla_odoo_core::Settings;
use serde::Serialize;

use crate::CliError;

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub check: String,
    pub ok: bool,
    pub detail: String,
}

fn check(name: impl Into<String>, result: Result<String, String>) -> Check {
    let (ok, detail) = match result {
        Ok(d) => (true, d),
        Err(d) => (false, d),
    };
    Check {
        check: name.into(),
        ok,
        detail,
    }
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
                checks.push(check(
                    queue_check,
                    Ok(format!("reachable, namespace {}", queue.namespace())),
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
                    let result = async {
                        let mut config =
                            odoo::Config::new(&c.url, &c.database, &c.login, c.api_key.clone())
                                .map_err(|e| e.to_string())?;
                        config.request_timeout = Duration::from_secs(10);
                        config.connect_timeout = Duration::from_secs(5);
                        let client = odoo::Client::new(config).map_err(|e| e.to_string())?;
                        let caps = client.capabilities().await.map_err(|e| e.to_string())?;
                        Ok(format!(
                            "{} reachable, credentials valid (Odoo {})",
                            c.url, caps.version.serie
                        ))
                    }
                    .await;
                    checks.push(check(name, result));
                }
            }
            Err(e) => checks.push(check("stores", Err(e.to_string()))),
        }
    }
    checks
}

/// Print the checks; `Err` (exit 1) when any failed.
pub fn report(checks: &[Check], json: bool, out: &mut impl Write) -> Result<(), CliError> {
    if json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(checks).expect("serialisable")
        )?;
    } else {
        for c in checks {
            writeln!(
                out,
                "{:<4} {:<28} {}",
                if c.ok { "ok" } else { "FAIL" },
                c.check,
                c.detail
            )?;
        }
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    if failed > 0 {
        return Err(CliError::Failed(format!("{failed} check(s) failed")));
    }
    Ok(())
}
