//! `salla-odoo dlq …` against real Postgres and Redis: filters, masking, replay exactly once,
//! discard, stats, `--json` and exit codes. Each test has its own database and Redis namespace.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use salla_odoo_core::{
    AttemptRecord, BodyDigest, EntityKind, EntityRef, JobKind, MerchantId, SallaId, SyncJob,
    SyncJobV1,
};
use salla_odoo_queue::{QueueConfig, RedisQueue};
use salla_odoo_store::Db;
use salla_odoo_store::outbox::{self, NewDeadLetter};
use serde_json::{Value, json};
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

fn pg_server() -> String {
    std::env::var("TEST_DATABASE_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL")
        .or_else(|_| std::env::var("REDIS_URL"))
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn command(env: &[(String, String)], args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_salla-odoo"));
    cmd.args(args)
        .env_remove("RUST_LOG")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env_remove("SALLA_ODOO_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "{}", text(out));
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn json_of(out: &Output) -> Value {
    assert!(out.status.success(), "{}", text(out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

/// A database and a Redis namespace of its own; both removed on drop.
struct Env {
    db_name: String,
    db_url: String,
    ns: String,
    pool: Db,
    queue: RedisQueue,
}

impl Env {
    async fn new() -> Env {
        let db_name = format!("salla_odoo_test_{}", Uuid::new_v4().simple());
        let admin = PgPool::connect(&format!("{}/postgres", pg_server()))
            .await
            .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db_name}")))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let db_url = format!("{}/{db_name}", pg_server());
        let pool = Db::from(PgPool::connect(&db_url).await.unwrap());
        salla_odoo_store::migrate(&pool).await.unwrap();
        let ns = format!("test:dlq:{}", Uuid::new_v4().simple());
        let queue = RedisQueue::new(
            &redis_url(),
            QueueConfig {
                namespace: ns.clone(),
                dedupe_window: Duration::from_secs(60),
                connect_timeout: Duration::from_secs(2),
                command_timeout: Duration::from_secs(2),
            },
        )
        .unwrap();
        Env {
            db_name,
            db_url,
            ns,
            pool,
            queue,
        }
    }

    fn vars(&self) -> Vec<(String, String)> {
        vec![
            ("DATABASE_URL".into(), self.db_url.clone()),
            ("REDIS_URL".into(), redis_url()),
            ("SALLA_ODOO__QUEUE__NAMESPACE".into(), self.ns.clone()),
        ]
    }

    fn cli(&self, args: &[&str]) -> Output {
        command(&self.vars(), args)
            .output()
            .expect("salla-odoo runs")
    }

    fn cli_with(&self, extra: &[(&str, &str)], args: &[&str]) -> Output {
        let mut vars = self.vars();
        for (k, v) in extra {
            vars.retain(|(name, _)| name != k);
            vars.push(((*k).into(), (*v).into()));
        }
        command(&vars, args).output().expect("salla-odoo runs")
    }

    async fn insert(&self, job: &SyncJob, class: &str, error: &str) -> i64 {
        let v1 = job.v1();
        outbox::insert(
            &self.pool,
            &NewDeadLetter {
                job_id: v1.id,
                merchant: v1.merchant,
                event: v1.event.clone(),
                kind: v1.kind.as_str().into(),
                salla_id: v1.entity.map(|e| e.id.get()),
                job: serde_json::to_value(job).unwrap(),
                attempts: serde_json::to_value(&v1.history).unwrap(),
                error: error.into(),
                class: class.into(),
            },
        )
        .await
        .unwrap()
        .expect("a new dead letter")
    }

    async fn insert_undecodable(&self, merchant: u64) -> i64 {
        outbox::insert(
            &self.pool,
            &NewDeadLetter {
                job_id: Uuid::new_v4(),
                merchant: MerchantId::new(merchant),
                event: "-".into(),
                kind: "-".into(),
                salla_id: None,
                job: json!({"queue_id": "q-77", "raw": "{\"version\":\"9\",\"merchant\":303}"}),
                attempts: json!([]),
                error: "unknown variant `9`".into(),
                class: "undecodable".into(),
            },
        )
        .await
        .unwrap()
        .unwrap()
    }

    async fn age(&self, id: i64, by: &str) {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE dead_letters SET created_at = now() - interval '{by}' WHERE id = $1"
        )))
        .bind(id)
        .execute(self.pool.as_postgres().unwrap())
        .await
        .unwrap();
    }

    async fn get(&self, id: i64) -> outbox::DeadLetter {
        outbox::get(&self.pool, id).await.unwrap().unwrap()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let (name, ns) = (self.db_name.clone(), self.ns.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(client) = redis::Client::open(redis_url())
                    && let Ok(mut conn) = client.get_multiplexed_async_connection().await
                {
                    let keys: Vec<String> = redis::cmd("KEYS")
                        .arg(format!("{ns}:*"))
                        .query_async(&mut conn)
                        .await
                        .unwrap_or_default();
                    if !keys.is_empty() {
                        let _: Result<(), _> =
                            redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
                    }
                }
                if let Ok(admin) = PgPool::connect(&format!("{}/postgres", pg_server())).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&admin)
                    .await;
                    admin.close().await;
                }
            });
        })
        .join()
        .ok();
    }
}

// ---- project-written sample data (no real person) ----

const EMAIL: &str = "layla.sample@example.invalid";
const MOBILE: u64 = 501234567;
const FIRST: &str = "Layla";
const LAST: &str = "Qasimi";
const STREET: &str = "17 Sidr Lane, Al Nahda";
const RECEIVER: &str = "Yousef Qasimi";
const RECEIVER_PHONE: &str = "+966555000111";
const POSTAL: &str = "23523";

fn history(n: u32) -> Vec<AttemptRecord> {
    (1..=n)
        .map(|i| AttemptRecord {
            attempt: i,
            at: OffsetDateTime::now_utc(),
            class: "transient".into(),
            error: format!("odoo: connection refused (attempt {i}): caused by: tcp connect"),
        })
        .collect()
}

fn order_job(merchant: u64, order: u64, attempts: u32) -> SyncJob {
    SyncJob::V1(SyncJobV1 {
        id: Uuid::now_v7(),
        kind: JobKind::OrderUpsert,
        merchant: MerchantId::new(merchant),
        event: "order.created".into(),
        entity: Some(EntityRef {
            kind: EntityKind::Order,
            id: SallaId::new(order),
        }),
        digest: BodyDigest::of(format!("sample-order-{order}").as_bytes()),
        salla_created_at: "2026-03-02 09:15:00".into(),
        received_at: OffsetDateTime::now_utc(),
        attempt: attempts,
        data: json!({
            "id": order,
            "reference_id": 70000 + order,
            "status": {"slug": "under_review"},
            "items": [{"name": "Saffron sample jar 10g", "sku": "SAF-10", "quantity": 2}],
            "customer": {
                "id": 880001,
                "first_name": FIRST,
                "last_name": LAST,
                "mobile": MOBILE,
                "mobile_code": "+966",
                "email": EMAIL,
                "city": "Taif",
            },
            "shipping": {
                "company": {"name": "Sample Express"},
                "receiver": {"name": RECEIVER, "phone": RECEIVER_PHONE, "email": EMAIL},
                "address": {
                    "country": "SA",
                    "city": "Taif",
                    "shipping_address": STREET,
                    "street_number": "17",
                    "postal_code": POSTAL,
                    "geo_coordinates": {"lat": 21.2703, "lng": 40.4158},
                },
            },
        }),
        history: history(attempts),
        trace: None,
    })
}

fn customer_job(merchant: u64, customer: u64) -> SyncJob {
    SyncJob::V1(SyncJobV1 {
        id: Uuid::now_v7(),
        kind: JobKind::CustomerUpsert,
        merchant: MerchantId::new(merchant),
        event: "customer.updated".into(),
        entity: Some(EntityRef {
            kind: EntityKind::Customer,
            id: SallaId::new(customer),
        }),
        digest: BodyDigest::of(format!("sample-customer-{customer}").as_bytes()),
        salla_created_at: "2026-03-02 09:20:00".into(),
        received_at: OffsetDateTime::now_utc(),
        attempt: 0,
        data: json!({"id": customer, "first_name": FIRST, "last_name": LAST, "email": EMAIL}),
        history: history(1),
        trace: None,
    })
}

fn ids(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn list_filters_table_and_json() {
    let env = Env::new().await;
    let a = env
        .insert(
            &order_job(101, 5001, 5),
            "exhausted",
            "gave up after 5 attempts: odoo: Connection refused",
        )
        .await;
    let b = env
        .insert(
            &customer_job(101, 880001),
            "permanent",
            "odoo: invalid email address",
        )
        .await;
    let c = env
        .insert(
            &order_job(202, 5002, 0),
            "poison",
            "job ran past its lease twice",
        )
        .await;
    let d = env.insert_undecodable(303).await;
    env.age(c, "3 days").await;

    let all = json_of(&env.cli(&["dlq", "list", "--json"]));
    assert_eq!(ids(&all), vec![d, b, a, c], "newest first");
    let first_a = all
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == a)
        .unwrap();
    assert_eq!(first_a["attempts"], 5);
    assert_eq!(first_a["merchant"], 101);
    assert_eq!(first_a["salla_id"], 5001);
    assert_eq!(first_a["state"], "pending");
    assert!(
        first_a.get("job").is_none(),
        "no payload in list: {first_a}"
    );
    assert!(!all.to_string().contains(EMAIL));

    let sel = |args: &[&str]| {
        let mut full = vec!["dlq", "list", "--json"];
        full.extend_from_slice(args);
        ids(&json_of(&env.cli(&full)))
    };
    assert_eq!(sel(&["--store", "101"]), vec![b, a]);
    assert_eq!(sel(&["--event", "order.created"]), vec![a, c]);
    assert_eq!(sel(&["--kind", "customer.upsert"]), vec![b]);
    assert_eq!(sel(&["--kind", "-"]), vec![d]);
    assert_eq!(sel(&["--class", "poison"]), vec![c]);
    assert_eq!(sel(&["--error-contains", "CONNECTION REFUSED"]), vec![a]);
    let two_days_ago = OffsetDateTime::now_utc() - time::Duration::days(2);
    let since = two_days_ago
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    assert_eq!(sel(&["--since", &since]), vec![d, b, a]);
    assert_eq!(sel(&["--until", &since]), vec![c]);
    // A bare date for --until includes that whole day.
    let c_day = (OffsetDateTime::now_utc() - time::Duration::days(3))
        .date()
        .to_string();
    assert_eq!(sel(&["--until", &c_day]), vec![c]);
    assert_eq!(sel(&["--since", &c_day, "--store", "202"]), vec![c]);
    assert_eq!(sel(&["--limit", "1"]), vec![d]);
    assert_eq!(sel(&["--store", "999"]), Vec::<i64>::new());

    // Handled ones only with --include-handled.
    let out = env.cli(&["dlq", "discard", &b.to_string(), "--yes", "--by", "tester"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(sel(&["--store", "101"]), vec![a]);
    let handled = json_of(&env.cli(&[
        "dlq",
        "list",
        "--json",
        "--include-handled",
        "--store",
        "101",
    ]));
    assert_eq!(ids(&handled), vec![b, a]);
    assert_eq!(handled[0]["state"], "discarded");
    assert_eq!(handled[0]["discarded_by"], "tester");

    // The table: one line per dead letter, the error flattened and truncated.
    let long = format!("odoo: {}\ncaused by: the end", "x".repeat(300));
    let e = env
        .insert(&order_job(404, 5003, 2), "permanent", &long)
        .await;
    let table = stdout(&env.cli(&["dlq", "list"]));
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("TIME"), "{table}");
    for h in ["ID", "STORE", "EVENT", "SALLA ID", "ATT", "CLASS", "ERROR"] {
        assert!(lines[0].contains(h), "{table}");
    }
    assert_eq!(lines.len(), 1 + 4, "{table}");
    let row_e = lines
        .iter()
        .find(|l| l.contains(&format!(" {e} ")))
        .unwrap();
    assert!(row_e.contains("404") && row_e.contains("5003") && row_e.contains("permanent"));
    assert!(
        row_e.ends_with('…') && !row_e.contains("the end"),
        "{row_e}"
    );
    let row_a = lines
        .iter()
        .find(|l| l.contains(&format!(" {a} ")))
        .unwrap();
    assert!(
        row_a.contains("order.created")
            && row_a.contains("exhausted")
            && row_a.contains("Connection refused"),
        "{row_a}"
    );
    assert!(!table.contains(EMAIL));

    let empty = stdout(&env.cli(&["dlq", "list", "--store", "999"]));
    assert!(empty.contains("no pending dead letters"), "{empty}");

    // Bad filters are usage errors.
    for bad in [
        &["dlq", "list", "--since", "last tuesday"][..],
        &["dlq", "list", "--kind", "order.upsrt"],
        &["dlq", "list", "--class", "flaky"],
        &["dlq", "list", "--limit", "0"],
    ] {
        let out = env.cli(bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", text(&out));
    }
}

#[tokio::test]
async fn show_masks_personal_data_unless_revealed() {
    let env = Env::new().await;
    let job = order_job(101, 5001, 3);
    let id = env
        .insert(
            &job,
            "exhausted",
            "gave up after 3 attempts: odoo: connection refused",
        )
        .await;
    let secrets = [
        EMAIL.to_owned(),
        MOBILE.to_string(),
        FIRST.to_owned(),
        LAST.to_owned(),
        STREET.to_owned(),
        RECEIVER.to_owned(),
        RECEIVER_PHONE.to_owned(),
        POSTAL.to_owned(),
        "21.2703".to_owned(),
    ];

    let shown = stdout(&env.cli(&["dlq", "show", &id.to_string()]));
    for s in &secrets {
        assert!(!shown.contains(s.as_str()), "{s} shown:\n{shown}");
    }
    assert!(shown.contains(&job.v1().id.to_string()), "{shown}");
    assert!(shown.contains("masked"), "{shown}");
    assert!(
        shown.contains("Saffron sample jar 10g"),
        "non-personal data stays: {shown}"
    );
    assert!(shown.contains("Sample Express"), "{shown}");
    assert!(shown.contains("attempts (3)"), "{shown}");
    for i in 1..=3 {
        assert!(
            shown.contains(&format!("connection refused (attempt {i})")),
            "{shown}"
        );
    }

    let v = json_of(&env.cli(&["dlq", "show", &id.to_string(), "--json"]));
    for s in &secrets {
        assert!(!v.to_string().contains(s.as_str()), "{s} in {v}");
    }
    assert_eq!(v["masked"], true);
    assert_eq!(v["state"], "pending");
    assert_eq!(v["job"]["data"]["customer"]["email"], "***");
    assert_eq!(v["job"]["data"]["customer"]["id"], 880001);
    assert_eq!(v["attempts"].as_array().unwrap().len(), 3);
    assert_eq!(v["attempts"][2]["error"], job.v1().history[2].error);

    let revealed = stdout(&env.cli(&["dlq", "show", &id.to_string(), "--reveal"]));
    for s in &secrets {
        assert!(
            revealed.contains(s.as_str()),
            "{s} not revealed:\n{revealed}"
        );
    }
    let v = json_of(&env.cli(&["dlq", "show", &id.to_string(), "--reveal", "--json"]));
    assert_eq!(v["masked"], false);
    assert_eq!(v["job"], serde_json::to_value(&job).unwrap());

    // A customer job's payload is the customer.
    let cid = env
        .insert(&customer_job(101, 880001), "permanent", "odoo: bad email")
        .await;
    let shown = stdout(&env.cli(&["dlq", "show", &cid.to_string()]));
    assert!(!shown.contains(EMAIL) && !shown.contains(FIRST), "{shown}");

    // Tokens are never printed, not even with --reveal.
    let auth = SyncJob::V1(SyncJobV1 {
        id: Uuid::now_v7(),
        kind: JobKind::StoreAuthorize,
        merchant: MerchantId::new(101),
        event: "app.store.authorize".into(),
        entity: None,
        digest: BodyDigest::of(b"sample-authorize"),
        salla_created_at: "2026-03-02 09:00:00".into(),
        received_at: OffsetDateTime::now_utc(),
        attempt: 0,
        data: json!({
            "access_token": "sample-access-token-e81f",
            "refresh_token": "sample-refresh-token-27bc",
            "expires": 1_900_000_000,
            "scope": "settings.read offline_access",
            "token_type": "bearer"
        }),
        history: history(1),
        trace: None,
    });
    let t = env
        .insert(&auth, "permanent", "no encryption key configured")
        .await;
    for args in [
        &["dlq", "show", &t.to_string()][..],
        &["dlq", "show", &t.to_string(), "--reveal"],
        &["dlq", "show", &t.to_string(), "--reveal", "--json"],
    ] {
        let shown = stdout(&env.cli(args));
        assert!(
            !shown.contains("sample-access-token-e81f")
                && !shown.contains("sample-refresh-token-27bc"),
            "{args:?}:\n{shown}"
        );
        assert!(
            shown.contains("[redacted]") && shown.contains("offline_access"),
            "{shown}"
        );
    }

    // Undecodable: shown, said to be unreplayable.
    let u = env.insert_undecodable(303).await;
    let shown = stdout(&env.cli(&["dlq", "show", &u.to_string()]));
    assert!(
        shown.contains("undecodable") && shown.contains("q-77"),
        "{shown}"
    );

    let out = env.cli(&["dlq", "show", "987654"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("987654"));
    let out = env.cli(&["dlq", "show", "987654", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["exit_code"], 1);
}

#[tokio::test]
async fn replay_queues_a_fresh_copy_once_and_records_who() {
    let env = Env::new().await;
    let job = order_job(101, 5001, 5);
    let id = env
        .insert(
            &job,
            "exhausted",
            "gave up after 5 attempts: odoo: connection refused",
        )
        .await;
    let other = env
        .insert(&order_job(101, 5002, 5), "exhausted", "gave up")
        .await;

    let before = OffsetDateTime::now_utc() - time::Duration::seconds(5);
    let out = env.cli_with(
        &[("USER", "nightshift"), ("HOSTNAME", "ops-box")],
        &["dlq", "replay", &id.to_string()],
    );
    let report = stdout(&out);

    let waiting = env.queue.waiting_jobs().await.unwrap();
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    let queued = waiting[0].v1();
    assert_ne!(queued.id, job.v1().id, "a new job id");
    assert_eq!(queued.id.get_version_num(), 7);
    assert_eq!(queued.attempt, 0, "a fresh attempt count");
    assert!(queued.history.is_empty());
    assert_eq!(queued.data, job.v1().data);
    assert_eq!(queued.merchant, job.v1().merchant);
    assert_eq!(queued.kind, job.v1().kind);
    assert_eq!(queued.entity, job.v1().entity);
    assert!(
        report.contains(&job.v1().id.to_string()) && report.contains(&queued.id.to_string()),
        "old → new printed: {report}"
    );
    assert!(
        report.contains("1 replayed, 0 skipped, 0 failed"),
        "{report}"
    );

    let d = env.get(id).await;
    assert_eq!(d.replayed_by.as_deref(), Some("nightshift@ops-box"));
    assert!(d.replayed_at.unwrap() >= before);
    assert!(d.discarded_at.is_none());
    assert!(env.get(other).await.is_pending());

    // Again: skipped, nothing queued, exit 0.
    let again = json_of(&env.cli(&["dlq", "replay", &id.to_string(), "--json"]));
    assert_eq!(again["replayed"], 0);
    assert_eq!(again["skipped"], 1);
    assert_eq!(again["results"][0]["outcome"], "skipped");
    assert!(
        again["results"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("already replayed by nightshift@ops-box"),
        "{again}"
    );
    assert_eq!(env.queue.waiting_jobs().await.unwrap().len(), 1);

    // --json for scripts: the new job id is the one in the queue; --by is recorded.
    let v = json_of(&env.cli(&[
        "dlq",
        "replay",
        &other.to_string(),
        "--by",
        "alice",
        "--json",
    ]));
    assert_eq!(v["replayed"], 1);
    assert_eq!(v["by"], "alice");
    let new_id: Uuid = v["results"][0]["new_job_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let waiting = env.queue.waiting_jobs().await.unwrap();
    assert_eq!(waiting.len(), 2);
    assert!(waiting.iter().any(|j| j.v1().id == new_id));
    assert_eq!(env.get(other).await.replayed_by.as_deref(), Some("alice"));

    // Nothing pending is listed any more.
    let pending = json_of(&env.cli(&["dlq", "list", "--json"]));
    assert_eq!(pending, json!([]));
}

#[tokio::test]
async fn a_replay_killed_before_its_claim_is_finished_by_the_next_one_without_a_second_copy() {
    let env = Env::new().await;
    let id = env
        .insert(&order_job(104, 5101, 3), "permanent", "boom")
        .await;
    assert!(
        env.cli(&["dlq", "replay", &id.to_string()])
            .status
            .success()
    );
    // As if the process had died between queueing the copy and claiming the dead letter.
    sqlx::query("UPDATE dead_letters SET replayed_at = NULL, replayed_by = NULL WHERE id = $1")
        .bind(id)
        .execute(env.pool.as_postgres().unwrap())
        .await
        .unwrap();
    assert!(env.get(id).await.is_pending());

    let v = json_of(&env.cli(&["dlq", "replay", &id.to_string(), "--json"]));
    assert_eq!(v["replayed"], 1, "{v}");
    assert!(
        v["results"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("already queued"),
        "{v}"
    );
    assert_eq!(
        env.queue.waiting_jobs().await.unwrap().len(),
        1,
        "still one copy"
    );
    assert!(!env.get(id).await.is_pending());
}

#[tokio::test]
async fn concurrent_replays_queue_each_dead_letter_once() {
    let env = Env::new().await;
    let mut dead = Vec::new();
    for n in 0..12 {
        dead.push(
            env.insert(&order_job(101, 6000 + n, 5), "exhausted", "gave up")
                .await,
        );
    }
    let id_args: Vec<String> = dead.iter().map(i64::to_string).collect();
    let mut by_ids = vec!["dlq", "replay", "--json", "--by", "one"];
    by_ids.extend(id_args.iter().map(String::as_str));
    let by_all = ["dlq", "replay", "--all", "--json", "--by", "two"];

    // Two processes at once, twice over (ids then --all, and the reverse start order).
    let spawn = |args: &[&str]| {
        command(&env.vars(), args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let p1 = spawn(&by_ids);
    let p2 = spawn(&by_all);
    let (o1, o2) = (
        p1.wait_with_output().unwrap(),
        p2.wait_with_output().unwrap(),
    );
    let (r1, r2) = (json_of(&o1), json_of(&o2));
    assert_eq!(
        r1["replayed"].as_u64().unwrap() + r2["replayed"].as_u64().unwrap(),
        12,
        "{r1}\n{r2}"
    );
    for id in &dead {
        let replayed_by: Vec<&Value> = [&r1, &r2]
            .iter()
            .flat_map(|r| r["results"].as_array().unwrap())
            .filter(|r| r["id"] == *id && r["outcome"] == "replayed")
            .collect();
        assert_eq!(replayed_by.len(), 1, "dead letter {id}: {r1}\n{r2}");
    }
    let waiting = env.queue.waiting_jobs().await.unwrap();
    assert_eq!(waiting.len(), 12);
    let mut new_ids: Vec<Uuid> = waiting.iter().map(|j| j.v1().id).collect();
    new_ids.sort();
    new_ids.dedup();
    assert_eq!(new_ids.len(), 12);
    let mut orders: Vec<u64> = waiting
        .iter()
        .map(|j| j.v1().entity.unwrap().id.get())
        .collect();
    orders.sort_unstable();
    assert_eq!(orders, (6000..6012).collect::<Vec<_>>());

    // Tasks too: one dead letter, several replays racing.
    let id = env
        .insert(&order_job(101, 7000, 5), "exhausted", "gave up")
        .await
        .to_string();
    let racers: Vec<_> = (0..4)
        .map(|i| {
            let vars = env.vars();
            let id = id.clone();
            tokio::task::spawn_blocking(move || {
                command(
                    &vars,
                    &["dlq", "replay", &id, "--json", "--by", &format!("racer{i}")],
                )
                .output()
                .unwrap()
            })
        })
        .collect();
    let mut replayed = 0;
    for r in racers {
        let v = json_of(&r.await.unwrap());
        replayed += v["replayed"].as_u64().unwrap();
        assert_eq!(v["failed"], 0);
    }
    assert_eq!(replayed, 1);
    assert_eq!(env.queue.waiting_jobs().await.unwrap().len(), 13);
}

#[tokio::test]
async fn dry_runs_change_nothing_and_undecodable_cannot_be_replayed() {
    let env = Env::new().await;
    let a = env
        .insert(&order_job(101, 5001, 5), "exhausted", "gave up")
        .await;
    let u = env.insert_undecodable(101).await;

    let v = json_of(&env.cli(&["dlq", "replay", &a.to_string(), "--dry-run", "--json"]));
    assert_eq!(v["results"][0]["outcome"], "would_replay");
    assert_eq!(v["would_replay"], 1);
    assert_eq!(v["dry_run"], true);
    let v = json_of(&env.cli(&[
        "dlq",
        "replay",
        "--all",
        "--store",
        "101",
        "--dry-run",
        "--json",
    ]));
    assert_eq!(v["would_replay"], 1);
    assert_eq!(v["skipped"], 1, "the undecodable one: {v}");
    let report = stdout(&env.cli(&["dlq", "replay", "--all", "--dry-run"]));
    assert!(
        report.contains("dry run, nothing changed: 1 would be replayed"),
        "{report}"
    );
    assert!(env.get(a).await.is_pending());
    assert!(env.queue.waiting_jobs().await.unwrap().is_empty());

    // By id, an undecodable one fails (exit 1) and says why.
    let out = env.cli(&["dlq", "replay", &u.to_string(), "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["results"][0]["outcome"], "failed");
    assert!(
        v["results"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("undecodable")
    );
    assert!(env.get(u).await.is_pending());

    // --all replays what it can and skips the undecodable one.
    let v = json_of(&env.cli(&["dlq", "replay", "--all", "--json"]));
    assert_eq!(
        (v["replayed"].as_u64(), v["skipped"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(env.queue.waiting_jobs().await.unwrap().len(), 1);
}

#[tokio::test]
async fn discard_needs_yes() {
    let env = Env::new().await;
    let a = env
        .insert(&order_job(101, 5001, 5), "exhausted", "gave up")
        .await;
    let b = env
        .insert(
            &order_job(101, 5002, 5),
            "permanent",
            "odoo: no such product",
        )
        .await;
    let c = env
        .insert(
            &order_job(202, 5003, 5),
            "permanent",
            "odoo: no such product",
        )
        .await;

    let out = env.cli(&["dlq", "discard", &a.to_string()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--yes"),
        "{}",
        text(&out)
    );
    let out = env.cli(&["dlq", "discard", "--all"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(env.get(a).await.is_pending());

    let v = json_of(&env.cli(&["dlq", "discard", &a.to_string(), "--dry-run", "--json"]));
    assert_eq!(v["results"][0]["outcome"], "would_discard");
    assert!(env.get(a).await.is_pending());

    let v = json_of(&env.cli(&[
        "dlq",
        "discard",
        &a.to_string(),
        "--yes",
        "--by",
        "bob",
        "--json",
    ]));
    assert_eq!(v["discarded"], 1);
    let d = env.get(a).await;
    assert_eq!(d.discarded_by.as_deref(), Some("bob"));
    assert!(d.discarded_at.is_some() && d.replayed_at.is_none());

    // Discarded: skipped by a second discard and by replay.
    let v = json_of(&env.cli(&["dlq", "discard", &a.to_string(), "--yes", "--json"]));
    assert_eq!(v["skipped"], 1);
    let v = json_of(&env.cli(&["dlq", "replay", &a.to_string(), "--json"]));
    assert_eq!(v["skipped"], 1);
    assert!(
        v["results"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("discarded by bob")
    );
    assert!(env.queue.waiting_jobs().await.unwrap().is_empty());

    // --all with filters.
    let report = stdout(&env.cli(&[
        "dlq",
        "discard",
        "--all",
        "--store",
        "101",
        "--error-contains",
        "no such",
        "--yes",
    ]));
    assert!(report.contains("1 discarded"), "{report}");
    assert!(!env.get(b).await.is_pending());
    assert!(env.get(c).await.is_pending());
}

#[tokio::test]
async fn stats_count_pending_by_store_event_class_and_age() {
    let env = Env::new().await;
    let a = env
        .insert(&order_job(101, 5001, 5), "exhausted", "gave up")
        .await;
    let _b = env
        .insert(&order_job(101, 5002, 5), "exhausted", "gave up")
        .await;
    let c = env.insert(&customer_job(202, 1), "permanent", "bad").await;
    let d = env
        .insert(&order_job(202, 5003, 0), "poison", "lease")
        .await;
    let e = env
        .insert(&order_job(303, 5004, 0), "permanent", "bad")
        .await;
    let f = env
        .insert(&order_job(303, 5005, 0), "permanent", "bad")
        .await;
    env.age(c, "3 hours").await;
    env.age(d, "2 days").await;
    env.age(e, "30 days").await;
    let out = env.cli(&["dlq", "discard", &f.to_string(), "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = env.cli(&["dlq", "replay", &a.to_string()]);
    assert!(out.status.success(), "{}", text(&out));

    let s = json_of(&env.cli(&["dlq", "stats", "--json"]));
    assert_eq!(s["pending"], 4);
    assert_eq!(s["replayed"], 1);
    assert_eq!(s["discarded"], 1);
    assert_eq!(s["by_store"], json!({"101": 1, "202": 2, "303": 1}));
    assert_eq!(
        s["by_event"],
        json!({"order.created": 3, "customer.updated": 1})
    );
    assert_eq!(
        s["by_class"],
        json!({"exhausted": 1, "permanent": 2, "poison": 1})
    );
    assert_eq!(
        s["by_age"],
        json!({"<1h": 1, "<1d": 1, "<7d": 1, ">=7d": 1})
    );

    let table = stdout(&env.cli(&["dlq", "stats"]));
    for needle in [
        "pending     4",
        "replayed    1",
        "by store",
        "by event",
        "by class",
        "older",
        "poison",
    ] {
        assert!(table.contains(needle), "{needle}:\n{table}");
    }

    // Empty database: all zero, every age bucket present.
    let empty = Env::new().await;
    let s = json_of(&empty.cli(&["dlq", "stats", "--json"]));
    assert_eq!(s["pending"], 0);
    assert_eq!(
        s["by_age"],
        json!({"<1h": 0, "<1d": 0, "<7d": 0, ">=7d": 0})
    );
}

#[tokio::test]
async fn exit_codes_unknown_ids_usage_and_unreachable_services() {
    let env = Env::new().await;
    let a = env
        .insert(&order_job(101, 5001, 5), "exhausted", "gave up")
        .await;

    // Unknown id: 1, and the known one in the same call is still replayed.
    let out = env.cli(&["dlq", "replay", "424242", &a.to_string(), "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["replayed"].as_u64(), v["failed"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(v["results"][0]["id"], 424242);
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["exit_code"], 1);
    let out = env.cli(&["dlq", "discard", "424242", "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    // Usage: 2.
    for bad in [
        &["dlq", "replay"][..],
        &["dlq", "replay", "1", "--all"],
        &["dlq", "replay", "1", "--store", "101"],
        &["dlq", "replay", "abc"],
        &["dlq", "replay", "1", "--limit", "3"],
        &["dlq", "show"],
        &["dlq", "replay", "1", "--by", " "],
    ] {
        let out = env.cli(bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", text(&out));
    }

    // Redis unreachable: 3, and the dead letter stays pending (replayable later).
    let b = env
        .insert(&order_job(101, 5002, 5), "exhausted", "gave up")
        .await;
    let c = env
        .insert(&order_job(101, 5003, 5), "exhausted", "gave up")
        .await;
    let down = [
        ("REDIS_URL", "redis://127.0.0.1:1"),
        ("SALLA_ODOO__REDIS__CONNECT_TIMEOUT_MS", "300"),
        ("SALLA_ODOO__REDIS__COMMAND_TIMEOUT_MS", "300"),
    ];
    let out = env.cli_with(
        &down,
        &["dlq", "replay", &b.to_string(), &c.to_string(), "--json"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert!(err["error"].as_str().unwrap().contains("redis"), "{err}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["results"][0]["outcome"], "failed");
    assert_eq!(v["not_attempted"], 1);
    assert!(env.get(b).await.is_pending());
    assert!(env.get(c).await.is_pending());
    let out = env.cli_with(&down, &["dlq", "replay", "--all"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(env.get(b).await.is_pending());
    // Once Redis is back, it replays.
    let v = json_of(&env.cli(&["dlq", "replay", &b.to_string(), "--json"]));
    assert_eq!(v["replayed"], 1);

    // Postgres unreachable: 3.
    let out = env.cli_with(
        &[
            ("DATABASE_URL", "postgres://postgres@127.0.0.1:1/x"),
            ("SALLA_ODOO__DATABASE__ACQUIRE_TIMEOUT_MS", "500"),
        ],
        &["dlq", "list"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
}

#[test]
fn help_says_whether_each_command_is_safe_while_workers_run() {
    for sub in ["list", "show", "replay", "discard", "stats"] {
        let out = command(&[], &["dlq", sub, "--help"]).output().unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{help}");
        assert!(help.contains("while workers run"), "dlq {sub}:\n{help}");
    }
}
