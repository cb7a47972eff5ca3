//! `salla-odoo dlq …`: the outbox (dead letters). See what failed and why, put it back, or throw
//! it away.
//!
//! # Replay
//! A replay first queues a copy of the job under a **new** job id (UUIDv7: `sync_log` and
//! `dead_letters` keep one row per job id), with `attempt: 0` and an empty history, and a dedupe
//! key derived from the dead letter's id: within the dedupe window every replay of one dead letter
//! queues at most one copy. Then it claims the dead letter ([`outbox::mark_replayed`]: a
//! conditional update that succeeds once). Of two operators replaying the same dead letter at
//! once, one copy is queued and one claim wins; the other reports it as skipped. If queueing
//! fails nothing is claimed and the dead letter stays pending. A replay killed between queueing
//! and claiming leaves it pending with its copy queued: replaying it again only claims it.
//!
//! # Personal data
//! `dlq show` masks customer personal data in the payload (names, emails, phone numbers,
//! addresses, coordinates) unless `--reveal`, and always redacts credentials (Salla tokens,
//! anything named like a secret). `dlq list` never prints payloads. Error texts are printed as
//! the worker recorded them.

use std::collections::BTreeMap;
use std::io::Write;

use clap::{Args, Subcommand};
use salla_odoo_core::{BodyDigest, JobKind, MerchantId, Settings, SyncJob};
use salla_odoo_queue::{DedupeKey, Enqueued, Queue};
use salla_odoo_store::Db;
use salla_odoo_store::outbox::{self, DeadLetter, DeadLetterFilter};
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::CliError;

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List dead letters, newest first. Read-only: safe while workers run.
    ///
    /// One line each: time, id, store, event, Salla id, attempts, class and the last error.
    /// Only pending ones (neither replayed nor discarded) unless --include-handled. Payloads are
    /// never printed here (see `dlq show`).
    List(ListArgs),
    /// Show one dead letter, personal data masked. Read-only: safe while workers run.
    ///
    /// The job, every attempt with its error, and the payload with customer personal data (names,
    /// emails, phone numbers, addresses, coordinates) masked unless --reveal.
    Show {
        /// Dead-letter id (the ID column of `dlq list`).
        #[arg(value_name = "ID", value_parser = clap::value_parser!(i64).range(1..))]
        id: i64,
        /// Print the payload unmasked (customer personal data included).
        #[arg(long)]
        reveal: bool,
    },
    /// Requeue dead letters, each once, with a fresh attempt count. Safe while workers run.
    ///
    /// By id, or every pending one matching the filters with --all (oldest first). Each is queued
    /// once, as a new job (new job id, attempt count reset to 0, empty history); the dead letter
    /// is marked replayed with who and when. One already replayed or discarded is skipped, never
    /// queued twice, even when two operators replay it at the same moment. Undecodable dead
    /// letters cannot be replayed (nothing readable to queue).
    ///
    /// Safe while workers run: the worker's per-entity lock and idempotent handlers prevent a
    /// change from being applied twice. Exit 1 if some could not be replayed (e.g. unknown id),
    /// 3 if Redis or Postgres is unreachable (the dead letter then stays pending).
    Replay(ReplayArgs),
    /// Mark dead letters discarded (needs --yes). Safe while workers run.
    ///
    /// By id, or every pending one matching the filters with --all. A discarded dead letter is
    /// never replayed; the row stays until retention removes it. Needs --yes (or --dry-run).
    ///
    /// Safe while workers run: workers never read dead letters.
    Discard(DiscardArgs),
    /// Count pending dead letters by store, event, class and age. Read-only: safe while workers
    /// run.
    ///
    /// Ages: <1h, <1d, <7d, older. Also how many were replayed and discarded.
    Stats,
}

/// Which dead letters: shared by `list`, `replay --all` and `discard --all`.
#[derive(Debug, Clone, Default, Args)]
pub struct FilterArgs {
    /// Only this store (Salla merchant id).
    #[arg(long, value_name = "MERCHANT")]
    pub store: Option<MerchantId>,
    /// Only this Salla event, e.g. `order.created`.
    #[arg(long)]
    pub event: Option<String>,
    /// Only this job kind, e.g. `order.upsert` (`-` for undecodable jobs).
    #[arg(long, value_parser = parse_kind)]
    pub kind: Option<String>,
    /// Only this error class.
    #[arg(long, value_parser = outbox::CLASSES)]
    pub class: Option<String>,
    /// Only those whose last error contains TEXT (case-insensitive).
    #[arg(long, value_name = "TEXT")]
    pub error_contains: Option<String>,
    /// Only those dead-lettered at or after TIME (RFC 3339, or YYYY-MM-DD for 00:00 UTC).
    #[arg(long, value_name = "TIME", value_parser = parse_since)]
    pub since: Option<OffsetDateTime>,
    /// Only those dead-lettered before TIME (RFC 3339, or YYYY-MM-DD: that whole day included).
    #[arg(long, value_name = "TIME", value_parser = parse_until)]
    pub until: Option<OffsetDateTime>,
}

impl FilterArgs {
    fn is_empty(&self) -> bool {
        let FilterArgs {
            store,
            event,
            kind,
            class,
            error_contains,
            since,
            until,
        } = self;
        store.is_none()
            && event.is_none()
            && kind.is_none()
            && class.is_none()
            && error_contains.is_none()
            && since.is_none()
            && until.is_none()
    }

    fn to_filter(&self, limit: i64, include_handled: bool) -> DeadLetterFilter {
        DeadLetterFilter {
            merchant: self.store,
            event: self.event.clone(),
            kind: self.kind.clone(),
            error_contains: self.error_contains.clone(),
            class: self.class.clone(),
            since: self.since,
            until: self.until,
            include_replayed: include_handled,
            limit: Some(limit),
        }
    }
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub filters: FilterArgs,
    /// At most this many (the newest).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..))]
    pub limit: i64,
    /// Also list dead letters already replayed or discarded.
    #[arg(long)]
    pub include_handled: bool,
}

/// The dead letters a `replay` or `discard` acts on.
#[derive(Debug, Args)]
pub struct Selection {
    /// Dead-letter ids (the ID column of `dlq list`).
    #[arg(
        value_name = "ID",
        required_unless_present = "all",
        conflicts_with = "all",
        value_parser = clap::value_parser!(i64).range(1..)
    )]
    pub ids: Vec<i64>,
    /// Every pending dead letter matching the filters (all of them without filters).
    #[arg(long)]
    pub all: bool,
    /// Filters, with --all only.
    #[command(flatten)]
    pub filters: FilterArgs,
    /// With --all: at most this many (the oldest first).
    #[arg(long, value_parser = clap::value_parser!(i64).range(1..))]
    pub limit: Option<i64>,
    /// Show what would be done; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Who to record as having done it (default: $USER@hostname).
    #[arg(long, value_name = "NAME")]
    pub by: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub selection: Selection,
}

#[derive(Debug, Args)]
pub struct DiscardArgs {
    #[command(flatten)]
    pub selection: Selection,
    /// Confirm: discarded dead letters are never replayed.
    #[arg(long)]
    pub yes: bool,
}

fn parse_kind(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s == "-" || JobKind::ALL.iter().any(|k| k.as_str() == s) {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "unknown job kind; one of: {}, -",
            JobKind::ALL.map(JobKind::as_str).join(", ")
        ))
    }
}

fn parse_time(s: &str, end_of_day: bool) -> Result<OffsetDateTime, String> {
    use time::format_description::well_known::Rfc3339;
    let s = s.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t);
    }
    let date = time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|_| {
            "expected RFC 3339 (2026-01-31T08:00:00Z) or a date (2026-01-31)".to_owned()
        })?;
    let date = if end_of_day {
        date.next_day().ok_or("date out of range")?
    } else {
        date
    };
    Ok(date.midnight().assume_utc())
}

fn parse_since(s: &str) -> Result<OffsetDateTime, String> {
    parse_time(s, false)
}

fn parse_until(s: &str) -> Result<OffsetDateTime, String> {
    parse_time(s, true)
}

/// `$USER@hostname`, for the replayed_by / discarded_by marks.
fn default_actor() -> String {
    let user = ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.trim().is_empty()))
        .unwrap_or_else(|| "unknown".into());
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{}@{host}", user.trim())
}

fn actor(by: Option<&str>) -> Result<String, CliError> {
    match by {
        None => Ok(default_actor()),
        Some(name) => {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
                return Err(CliError::Usage(
                    "--by must be a non-empty name of at most 200 printable characters".into(),
                ));
            }
            Ok(name.to_owned())
        }
    }
}

pub async fn run(
    command: DlqCommand,
    settings: &Settings,
    json: bool,
    out: &mut impl Write,
) -> Result<(), CliError> {
    // Refuse before connecting to anything.
    if let DlqCommand::Discard(args) = &command
        && !args.yes
        && !args.selection.dry_run
    {
        return Err(CliError::Usage(
            "refusing to discard without --yes: a discarded dead letter is never replayed \
             (preview with --dry-run)"
                .into(),
        ));
    }
    let pool = crate::pool(settings).await?;
    let result = match command {
        DlqCommand::List(args) => list(&pool, &args, json, out).await,
        DlqCommand::Show { id, reveal } => show(&pool, id, reveal, json, out).await,
        DlqCommand::Replay(args) => {
            let queue = if args.selection.dry_run {
                None
            } else {
                Some(crate::queue_from(settings).await?)
            };
            act(
                &pool,
                queue.as_ref(),
                Action::Replay,
                &args.selection,
                json,
                out,
            )
            .await
        }
        DlqCommand::Discard(args) => {
            act(&pool, None, Action::Discard, &args.selection, json, out).await
        }
        DlqCommand::Stats => stats(&pool, json, out).await,
    };
    pool.close().await;
    result
}

fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).expect("serialisable")
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// `2026-01-31 08:00:00Z`: for tables.
fn short_time(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]Z"
        ))
        .unwrap_or_else(|_| t.to_string())
}

/// One line, at most `max` characters (an ellipsis marks the cut).
fn one_line(s: &str, max: usize) -> String {
    let flat = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

fn state(d: &DeadLetter) -> &'static str {
    if d.replayed_at.is_some() {
        "replayed"
    } else if d.discarded_at.is_some() {
        "discarded"
    } else {
        "pending"
    }
}

/// Why a handled dead letter is skipped, e.g. `already replayed by ops@host at …`.
fn handled(d: &DeadLetter) -> String {
    match (&d.replayed_at, &d.discarded_at) {
        (Some(at), _) => format!(
            "already replayed by {} at {}",
            d.replayed_by.as_deref().unwrap_or("?"),
            rfc3339(*at)
        ),
        (None, Some(at)) => format!(
            "already discarded by {} at {}",
            d.discarded_by.as_deref().unwrap_or("?"),
            rfc3339(*at)
        ),
        (None, None) => "pending".into(),
    }
}

fn attempt_count(d: &DeadLetter) -> usize {
    d.attempts.as_array().map_or(0, Vec::len)
}

fn salla_id(d: &DeadLetter) -> String {
    d.salla_id.map_or_else(|| "-".into(), |s| s.to_string())
}

/// What `list --json` prints for each: everything but the payload.
fn summary(d: &DeadLetter) -> Value {
    json!({
        "id": d.id,
        "job_id": d.job_id,
        "merchant": d.merchant,
        "event": d.event,
        "kind": d.kind,
        "salla_id": d.salla_id,
        "attempts": attempt_count(d),
        "class": d.class,
        "error": d.error,
        "created_at": rfc3339(d.created_at),
        "state": state(d),
        "replayed_at": d.replayed_at.map(rfc3339),
        "replayed_by": d.replayed_by,
        "discarded_at": d.discarded_at.map(rfc3339),
        "discarded_by": d.discarded_by,
    })
}

async fn list(
    pool: &Db,
    args: &ListArgs,
    json: bool,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let rows = outbox::list(
        pool,
        &args.filters.to_filter(args.limit, args.include_handled),
    )
    .await?;
    if json {
        writeln!(
            out,
            "{}",
            to_json(&rows.iter().map(summary).collect::<Vec<_>>())
        )?;
        return Ok(());
    }
    let state_header = if args.include_handled {
        format!("{:<10} ", "STATE")
    } else {
        String::new()
    };
    writeln!(
        out,
        "{:<20} {:>7} {:<12} {:<24} {:<12} {:>4} {:<11} {state_header}ERROR",
        "TIME", "ID", "STORE", "EVENT", "SALLA ID", "ATT", "CLASS"
    )?;
    for d in &rows {
        let state_col = if args.include_handled {
            format!("{:<10} ", state(d))
        } else {
            String::new()
        };
        writeln!(
            out,
            "{:<20} {:>7} {:<12} {:<24} {:<12} {:>4} {:<11} {state_col}{}",
            short_time(d.created_at),
            d.id,
            d.merchant,
            one_line(&d.event, 24),
            salla_id(d),
            attempt_count(d),
            d.class,
            one_line(&d.error, 100)
        )?;
    }
    if rows.is_empty() {
        let which = if args.include_handled { "" } else { "pending " };
        writeln!(out, "(no {which}dead letters match)")?;
    } else if rows.len() as i64 == args.limit {
        writeln!(
            out,
            "(the newest {}; narrow with filters or raise --limit to see more)",
            args.limit
        )?;
    }
    Ok(())
}

// ---- show: masking ----

/// Keys whose values are personal data wherever they appear.
const PERSONAL_KEYS: &[&str] = &[
    "email",
    "mobile",
    "phone",
    "phone_number",
    "telephone",
    "first_name",
    "last_name",
    "full_name",
    "street",
    "street_number",
    "address",
    "address_line",
    "shipping_address",
    "postal_code",
    "zip_code",
    "geo_coordinates",
    "lat",
    "lng",
    "latitude",
    "longitude",
    "birthday",
];

/// Objects that describe a person or a place: inside them `name` is personal too.
const PERSON_OBJECTS: &[&str] = &[
    "customer",
    "receiver",
    "shipping",
    "shipper",
    "address",
    "shipping_address",
    "pickup_address",
    "billing_address",
    "ship_to",
    "ship_from",
    "consignee",
];

const MASK: &str = "***";

/// Mask personal data in `value` in place. `in_person`: `value` describes a person or a place.
fn mask(value: &mut Value, in_person: bool) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                let key = key.to_ascii_lowercase();
                let person_object = PERSON_OBJECTS.contains(&key.as_str());
                if PERSONAL_KEYS.contains(&key.as_str()) || (in_person && key == "name") {
                    if person_object && v.is_object() {
                        // An address object: keep city and country readable, mask the rest.
                        mask(v, true);
                    } else {
                        mask_all(v);
                    }
                } else {
                    mask(v, person_object);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| mask(v, in_person)),
        _ => {}
    }
}

/// Replace every non-null leaf with [`MASK`], keeping the shape.
fn mask_all(value: &mut Value) {
    match value {
        Value::Null => {}
        Value::Object(map) => map.values_mut().for_each(mask_all),
        Value::Array(items) => items.iter_mut().for_each(mask_all),
        other => *other = Value::String(MASK.into()),
    }
}

/// Credentials (Salla tokens in `app.store.authorize`, anything named like a secret): redacted
/// even with `--reveal`, because no CLI output may contain them.
fn is_credential(key: &str) -> bool {
    matches!(
        key,
        "token" | "secret" | "api_key" | "apikey" | "private_key" | "authorization"
    ) || key.ends_with("_token")
        || key.ends_with("_secret")
        || key.contains("password")
}

const REDACTED: &str = "[redacted]";

/// Replace the value of every credential key with [`REDACTED`].
fn redact_credentials(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if is_credential(&key.to_ascii_lowercase()) {
                    if !v.is_null() {
                        *v = Value::String(REDACTED.into());
                    }
                } else {
                    redact_credentials(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_credentials),
        _ => {}
    }
}

/// Mask the personal data of a `SyncJob`-shaped value: its `data` (a customer job's `data` is
/// the customer).
fn mask_personal(job: &mut Value) {
    let customer = job
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.starts_with("customer"));
    if let Some(data) = job.get_mut("data") {
        mask(data, customer);
    }
    mask(job, false);
}

/// A job as stored in `dead_letters.job`, made fit to print: credentials always redacted, and
/// customer personal data masked when `personal`. An undecodable job (`{queue_id, raw}`) has
/// `raw` treated the same way when it is JSON; otherwise, masked, it is hidden whole.
fn printable_job(job: &Value, personal: bool) -> Value {
    let mut job = job.clone();
    if let Some(raw) = job.get("raw").and_then(Value::as_str) {
        let shown = match serde_json::from_str::<Value>(raw) {
            Ok(mut v) => {
                redact_credentials(&mut v);
                if personal {
                    mask_personal(&mut v);
                }
                v.to_string()
            }
            Err(_) if personal => format!(
                "[{} bytes not shown: not JSON; --reveal shows them]",
                raw.len()
            ),
            Err(_) => raw.to_owned(),
        };
        job["raw"] = Value::String(shown);
        return job;
    }
    redact_credentials(&mut job);
    if personal {
        mask_personal(&mut job);
    }
    job
}

async fn show(
    pool: &Db,
    id: i64,
    reveal: bool,
    json: bool,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let mut d = outbox::get(pool, id).await?.ok_or_else(|| unknown(id))?;
    d.job = printable_job(&d.job, !reveal);
    if json {
        let mut v = serde_json::to_value(&d).expect("serialisable");
        v["state"] = json!(state(&d));
        v["masked"] = json!(!reveal);
        writeln!(out, "{}", to_json(&v))?;
        return Ok(());
    }
    let mut rows: Vec<(&str, String)> = vec![
        ("dead letter", format!("{} ({})", d.id, state(&d))),
        ("job id", d.job_id.to_string()),
        ("store", d.merchant.to_string()),
        ("event", format!("{} ({})", d.event, d.kind)),
        ("salla id", salla_id(&d)),
        ("class", d.class.clone()),
        ("dead-lettered", rfc3339(d.created_at)),
    ];
    if d.replayed_at.is_some() || d.discarded_at.is_some() {
        rows.push(("handled", handled(&d).replace("already ", "")));
    }
    rows.push(("error", d.error.clone()));
    for (k, v) in rows {
        writeln!(out, "{k:<15} {v}")?;
    }

    let attempts = d.attempts.as_array().cloned().unwrap_or_default();
    writeln!(out, "\nattempts ({})", attempts.len())?;
    for a in &attempts {
        let field = |k: &str| match a.get(k) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => "-".into(),
            Some(other) => other.to_string(),
        };
        writeln!(
            out,
            "  #{:<3} {:<25} {:<10} {}",
            field("attempt"),
            field("at"),
            field("class"),
            field("error").replace('\n', "\n      ")
        )?;
    }
    if attempts.is_empty() {
        writeln!(out, "  (none recorded)")?;
    }

    let note = if reveal {
        "unmasked"
    } else {
        "customer personal data masked; --reveal shows it"
    };
    if let Some(raw) = d.job.get("raw").and_then(Value::as_str) {
        writeln!(out, "\njob (undecodable: it cannot be replayed)")?;
        writeln!(
            out,
            "  queue id      {}",
            d.job.get("queue_id").and_then(Value::as_str).unwrap_or("-")
        )?;
        writeln!(out, "\nraw ({note})\n{raw}")?;
        return Ok(());
    }
    writeln!(out, "\njob")?;
    for key in [
        "version",
        "kind",
        "received_at",
        "salla_created_at",
        "digest",
        "attempt",
    ] {
        if let Some(v) = d.job.get(key) {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            writeln!(out, "  {:<17} {v}", key.replace('_', " "))?;
        }
    }
    if let Some(entity) = d.job.get("entity").filter(|e| !e.is_null()) {
        writeln!(out, "  {:<17} {entity}", "entity")?;
    }
    let data = d.job.get("data").cloned().unwrap_or(Value::Null);
    writeln!(out, "\npayload ({note})\n{}", to_json(&data))?;
    Ok(())
}

fn unknown(id: i64) -> CliError {
    CliError::Failed(format!(
        "no dead letter with id {id} (see `salla-odoo dlq list --include-handled`)"
    ))
}

// ---- replay / discard ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Replay,
    Discard,
}

impl Action {
    fn verb(self) -> &'static str {
        match self {
            Action::Replay => "replay",
            Action::Discard => "discard",
        }
    }
}

/// What happened to one dead letter.
#[derive(Debug, serde::Serialize)]
struct Outcome {
    id: i64,
    /// replayed | discarded | would_replay | would_discard | skipped | failed
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    job_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    new_job_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

impl Outcome {
    fn new(id: i64, outcome: &'static str, job_id: Option<Uuid>) -> Self {
        Outcome {
            id,
            outcome,
            job_id,
            new_job_id: None,
            reason: None,
        }
    }

    fn because(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
}

/// The job to queue for a replay: same content, new id, fresh attempt count.
fn fresh_copy(job: &SyncJob) -> SyncJob {
    let SyncJob::V1(v1) = job;
    let mut v1 = v1.clone();
    v1.id = Uuid::now_v7();
    v1.attempt = 0;
    v1.history.clear();
    SyncJob::V1(v1)
}

/// The dedupe key of a dead letter's replay: no delivery can share it, and every replay of the same
/// dead letter does (within the dedupe window), so it is queued once.
fn replay_dedupe_key(d: &DeadLetter) -> DedupeKey {
    DedupeKey::new(
        d.merchant,
        &d.event,
        &BodyDigest::of(format!("replay:{}", d.id).as_bytes()),
    )
}

const UNDECODABLE: &str = "undecodable: the queued bytes are not a job this version can read, so \
     there is nothing to queue again; read it with `dlq show`, then discard it";

/// Replay or discard one dead letter. `Err` only when Redis or Postgres failed: the caller stops.
async fn act_one(
    pool: &Db,
    queue: Option<&Queue>,
    action: Action,
    d: &DeadLetter,
    by: &str,
    dry_run: bool,
    explicit: bool,
) -> Result<Outcome, (Outcome, CliError)> {
    let base = |o: &'static str| Outcome::new(d.id, o, Some(d.job_id));
    if !d.is_pending() {
        return Ok(base("skipped").because(handled(d)));
    }
    match action {
        Action::Discard => {
            if dry_run {
                return Ok(base("would_discard"));
            }
            let done = outbox::mark_discarded(pool, d.id, by)
                .await
                .map_err(|e| (base("failed").because(e.to_string()), e.into()))?;
            if done {
                Ok(base("discarded"))
            } else {
                Ok(base("skipped").because(raced(pool, d.id).await))
            }
        }
        Action::Replay => {
            if d.class == "undecodable" {
                let o = base(if explicit { "failed" } else { "skipped" });
                return Ok(o.because(UNDECODABLE));
            }
            let job: SyncJob = match serde_json::from_value(d.job.clone()) {
                Ok(job) => job,
                Err(e) => {
                    return Ok(base("failed").because(format!(
                        "the stored job cannot be decoded ({e}); read it with `dlq show`"
                    )));
                }
            };
            if dry_run {
                return Ok(base("would_replay"));
            }
            let queue = queue.expect("a queue when not a dry run");
            let fresh = fresh_copy(&job);
            let new_id = fresh.v1().id;
            // Queue first, under a dedupe key of the dead letter itself: a replay killed before
            // its claim, or run twice at once, queues one copy, and the dead letter stays
            // pending until the copy is surely queued.
            let queued = queue
                .enqueue(&fresh, &replay_dedupe_key(d))
                .await
                .map_err(|e| {
                    (
                        base("failed").because(format!("{e}; it stays pending, replay it again")),
                        CliError::from(e),
                    )
                })?;
            let claimed = outbox::mark_replayed(pool, d.id, by).await.map_err(|e| {
                (
                    base("failed").because(format!("{e} (the copy is queued)")),
                    e.into(),
                )
            })?;
            if !claimed {
                return Ok(base("skipped").because(raced(pool, d.id).await));
            }
            tracing::info!(dead_letter = d.id, job_id = %d.job_id, new_job_id = %new_id, by, "dead letter replayed");
            let mut o = base("replayed");
            match queued {
                Enqueued::Queued => o.new_job_id = Some(new_id),
                Enqueued::Duplicate => {
                    o = o.because(
                        "its copy was already queued by an earlier replay that did not finish",
                    );
                }
            }
            Ok(o)
        }
    }
}

/// Why a claim was lost: another command handled it between our read and our update.
async fn raced(pool: &Db, id: i64) -> String {
    match outbox::get(pool, id).await {
        Ok(Some(d)) if !d.is_pending() => format!("{} (concurrently)", handled(&d)),
        Ok(None) => "deleted meanwhile (retention or purge)".into(),
        _ => "handled concurrently by another command".into(),
    }
}

async fn act(
    pool: &Db,
    queue: Option<&Queue>,
    action: Action,
    sel: &Selection,
    json: bool,
    out: &mut impl Write,
) -> Result<(), CliError> {
    // Checked here: clap counts a flag's default (`--all` false) as present for `requires`.
    if !sel.all && (!sel.filters.is_empty() || sel.limit.is_some()) {
        return Err(CliError::Usage(format!(
            "filters (--store, --event, …, --limit) select dead letters for --all; with ids, \
             give only the ids (or use `dlq {} --all` with the filters)",
            action.verb()
        )));
    }
    let by = actor(sel.by.as_deref())?;

    // (id, the row if it exists)
    let targets: Vec<(i64, Option<DeadLetter>)> = if sel.all {
        let mut rows = outbox::list(pool, &sel.filters.to_filter(i64::MAX, false)).await?;
        rows.reverse(); // oldest first
        if let Some(limit) = sel.limit {
            rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        }
        rows.into_iter().map(|d| (d.id, Some(d))).collect()
    } else {
        let mut seen = std::collections::HashSet::new();
        let mut targets = Vec::new();
        for &id in &sel.ids {
            if seen.insert(id) {
                targets.push((id, outbox::get(pool, id).await?));
            }
        }
        targets
    };

    let mut results: Vec<Outcome> = Vec::with_capacity(targets.len());
    let mut abort: Option<CliError> = None;
    let mut not_attempted = 0usize;
    for (id, row) in &targets {
        if abort.is_some() {
            not_attempted += 1;
            continue;
        }
        let Some(d) = row else {
            results.push(Outcome::new(*id, "failed", None).because("no dead letter with this id"));
            continue;
        };
        match act_one(pool, queue, action, d, &by, sel.dry_run, !sel.all).await {
            Ok(o) => results.push(o),
            Err((o, e)) => {
                results.push(o);
                abort = Some(e);
            }
        }
    }

    let count = |o: &str| results.iter().filter(|r| r.outcome == o).count();
    let (done, would) = match action {
        Action::Replay => ("replayed", "would_replay"),
        Action::Discard => ("discarded", "would_discard"),
    };
    let (n_done, n_would, skipped, failed) =
        (count(done), count(would), count("skipped"), count("failed"));
    if json {
        writeln!(
            out,
            "{}",
            to_json(&json!({
                "action": action.verb(),
                "dry_run": sel.dry_run,
                "by": by,
                "results": results,
                done: n_done,
                would: n_would,
                "skipped": skipped,
                "failed": failed,
                "not_attempted": not_attempted,
            }))
        )?;
    } else {
        for r in &results {
            let job = r.job_id.map_or_else(|| "-".into(), |j| j.to_string());
            let detail = match (r.new_job_id, &r.reason) {
                (Some(new), _) => format!("job {job} → new job {new}"),
                (None, Some(reason)) => reason.clone(),
                (None, None) => format!("job {job}"),
            };
            writeln!(
                out,
                "{:<14} {:>7}  {detail}",
                r.outcome.replace('_', " "),
                r.id
            )?;
        }
        if targets.is_empty() {
            writeln!(out, "(no pending dead letters match)")?;
        }
        let mut line = if sel.dry_run {
            format!(
                "dry run, nothing changed: {n_would} would be {done}, {skipped} skipped, {failed} \
                 failed"
            )
        } else {
            format!("{n_done} {done}, {skipped} skipped, {failed} failed")
        };
        if not_attempted > 0 {
            line.push_str(&format!(
                "; stopped early, {not_attempted} not attempted (still pending)"
            ));
        }
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    if let Some(e) = abort {
        return Err(e);
    }
    if failed > 0 {
        return Err(CliError::Failed(format!(
            "{failed} of {} dead letter(s) could not be {}",
            results.len(),
            if sel.dry_run {
                format!("{done} (dry run)")
            } else {
                done.to_owned()
            }
        )));
    }
    Ok(())
}

// ---- stats ----

const AGE_BUCKETS: [(&str, &str); 4] = [
    ("<1h", "< 1 hour"),
    ("<1d", "< 1 day"),
    ("<7d", "< 7 days"),
    (">=7d", "older"),
];

async fn stats(pool: &Db, json: bool, out: &mut impl Write) -> Result<(), CliError> {
    let mut s = outbox::stats(pool).await?;
    for (bucket, _) in AGE_BUCKETS {
        s.by_age.entry(bucket.to_owned()).or_insert(0);
    }
    if json {
        writeln!(out, "{}", to_json(&s))?;
        return Ok(());
    }
    for (label, n) in [
        ("pending", s.pending),
        ("replayed", s.replayed),
        ("discarded", s.discarded),
    ] {
        writeln!(out, "{label:<11} {n}")?;
    }
    let section = |out: &mut dyn Write, title: &str, map: &BTreeMap<String, i64>| {
        writeln!(out, "\npending by {title}")?;
        for (k, n) in map {
            writeln!(out, "  {k:<30} {n}")?;
        }
        if map.is_empty() {
            writeln!(out, "  (none)")?;
        }
        Ok::<(), std::io::Error>(())
    };
    section(out, "store", &s.by_store)?;
    section(out, "event", &s.by_event)?;
    section(out, "class", &s.by_class)?;
    writeln!(out, "\npending by age")?;
    for (bucket, label) in AGE_BUCKETS {
        writeln!(
            out,
            "  {label:<30} {}",
            s.by_age.get(bucket).copied().unwrap_or(0)
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_personal_data_is_masked_and_the_rest_kept() {
        let job = json!({
            "version": "1",
            "kind": "order.upsert",
            "data": {
                "id": 9001,
                "reference_id": 5550001,
                "items": [{"name": "Cardamom tea 250g", "sku": "TEA-CARD-250"}],
                "customer": {
                    "id": 4242,
                    "first_name": "Layla",
                    "last_name": "Haddad",
                    "mobile": 512345678,
                    "mobile_code": "+966",
                    "email": "layla.h@example.invalid",
                    "city": "Jeddah"
                },
                "shipping": {
                    "company": {"name": "Test Couriers"},
                    "receiver": {"name": "Omar Haddad", "phone": "+966500000001", "email": "o@example.invalid"},
                    "address": {
                        "country": "SA",
                        "city": "Jeddah",
                        "shipping_address": "12 Palm Street, Al Rawdah",
                        "street_number": "12",
                        "postal_code": "23434",
                        "geo_coordinates": {"lat": 21.5, "lng": 39.2}
                    }
                }
            }
        });
        let masked = printable_job(&job, true);
        let text = masked.to_string();
        for secret in [
            "Layla",
            "Haddad",
            "512345678",
            "layla.h@",
            "+966500000001",
            "o@example",
            "Palm Street",
            "23434",
            "21.5",
            "39.2",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        let d = &masked["data"];
        assert_eq!(d["items"][0]["name"], "Cardamom tea 250g");
        assert_eq!(d["shipping"]["company"]["name"], "Test Couriers");
        assert_eq!(d["customer"]["id"], 4242);
        assert_eq!(d["customer"]["city"], "Jeddah");
        assert_eq!(d["customer"]["email"], MASK);
        assert_eq!(d["shipping"]["address"]["country"], "SA");
        assert_eq!(d["shipping"]["address"]["geo_coordinates"]["lat"], MASK);
        assert_eq!(masked["kind"], "order.upsert");
    }

    #[test]
    fn a_customer_job_is_the_customer() {
        let job =
            json!({"kind": "customer.upsert", "data": {"id": 1, "name": "Sara N", "email": null}});
        let masked = printable_job(&job, true);
        assert_eq!(masked["data"]["name"], MASK);
        assert_eq!(masked["data"]["email"], Value::Null);
        let job = json!({"kind": "product.upsert", "data": {"id": 1, "name": "Dates box"}});
        assert_eq!(printable_job(&job, true)["data"]["name"], "Dates box");
    }

    #[test]
    fn credentials_are_redacted_even_when_revealed() {
        let job = json!({
            "kind": "store.authorize",
            "data": {
                "access_token": "sample-access-4f1d",
                "refresh_token": "sample-refresh-9c2e",
                "token_type": "bearer",
                "expires": 1_900_000_000,
                "scope": "offline_access",
                "nested": [{"client_secret": "s3", "password": "p4"}]
            }
        });
        for personal in [true, false] {
            let shown = printable_job(&job, personal);
            let text = shown.to_string();
            for secret in [
                "sample-access-4f1d",
                "sample-refresh-9c2e",
                "\"s3\"",
                "\"p4\"",
            ] {
                assert!(!text.contains(secret), "{secret} in {text}");
            }
            assert_eq!(shown["data"]["token_type"], "bearer");
            assert_eq!(shown["data"]["access_token"], REDACTED);
        }
        let raw = json!({"queue_id": "q", "raw": json!({"data": {"access_token": "tok-77"}}).to_string()});
        assert!(!printable_job(&raw, false).to_string().contains("tok-77"));
    }

    #[test]
    fn undecodable_raw_text_is_masked_or_hidden() {
        let job = json!({"queue_id": "q1", "raw": r#"{"version":"9","data":{"customer":{"email":"x@example.invalid"}}}"#});
        let masked = printable_job(&job, true);
        assert!(!masked["raw"].as_str().unwrap().contains("x@example"));
        let job = json!({"queue_id": "q1", "raw": "not json: x@example.invalid"});
        let masked = printable_job(&job, true);
        assert!(!masked["raw"].as_str().unwrap().contains("x@example"));
        assert_eq!(masked["queue_id"], "q1");
    }

    #[test]
    fn times_take_rfc3339_or_a_date() {
        let t = parse_since("2026-01-31").unwrap();
        assert_eq!(rfc3339(t), "2026-01-31T00:00:00Z");
        let t = parse_until("2026-01-31").unwrap();
        assert_eq!(rfc3339(t), "2026-02-01T00:00:00Z");
        let t = parse_since("2026-01-31T08:30:00+03:00").unwrap();
        assert_eq!(
            t.unix_timestamp(),
            parse_since("2026-01-31T05:30:00Z")
                .unwrap()
                .unix_timestamp()
        );
        assert!(parse_since("yesterday").is_err());
    }

    #[test]
    fn errors_fit_on_one_line() {
        assert_eq!(one_line("a\n  b\tc", 10), "a b c");
        assert_eq!(one_line("abcdefghijkl", 5), "abcd…");
        assert_eq!(one_line("ééééé", 5), "ééééé");
    }

    #[test]
    fn kinds_are_checked() {
        assert!(parse_kind("order.upsert").is_ok());
        assert!(parse_kind("-").is_ok());
        assert!(parse_kind("order.upsrt").is_err());
    }

    #[test]
    fn a_replay_copy_is_fresh() {
        let job = SyncJob::V1(salla_odoo_core::SyncJobV1 {
            id: Uuid::now_v7(),
            kind: JobKind::OrderUpsert,
            merchant: MerchantId::new(5),
            event: "order.created".into(),
            entity: None,
            digest: BodyDigest::of(b"x"),
            salla_created_at: "2026-01-01 10:00:00".into(),
            received_at: OffsetDateTime::UNIX_EPOCH,
            attempt: 4,
            data: json!({"id": 1}),
            history: vec![salla_odoo_core::AttemptRecord {
                attempt: 1,
                at: OffsetDateTime::UNIX_EPOCH,
                class: "transient".into(),
                error: "boom".into(),
            }],
            trace: None,
        });
        let fresh = fresh_copy(&job);
        assert_ne!(fresh.v1().id, job.v1().id);
        assert_eq!(fresh.v1().id.get_version_num(), 7);
        assert_eq!(fresh.v1().attempt, 0);
        assert!(fresh.v1().history.is_empty());
        assert_eq!(fresh.v1().data, job.v1().data);
    }
}
