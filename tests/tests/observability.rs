//! The alert rules (`deploy/prometheus/alerts.yaml`, unit-tested by `alerts_test.yaml`) and the
//! Grafana dashboard (`deploy/grafana/salla-odoo.json`) against the real binaries:
//!
//! - `promtool check rules` and `promtool test rules` pass, every alert has a firing and a
//!   not-firing unit test, and every dashboard query is valid PromQL (skipped with a message where
//!   promtool is absent: `scripts/ensure-services.sh promtool` installs it);
//! - an end-to-end run of the real `salla-odoo-ingest` and `salla-odoo-worker` binaries, with
//!   odoo-sandbox and salla-sandbox, triggers every event the alerts and panels count, and their
//!   `/metrics` must export every metric name the rules and the dashboard use, with the labels they
//!   aggregate by and the label values they match on. No panel or alert on a metric that is never
//!   exported. (The stock push lag alert is not there yet: it comes with its metric, issue 16.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use odoo_sandbox::{FaultKind, Options, Version};
use salla_odoo_tests::salla::{authorize_event, shipment_event};
use salla_odoo_tests::*;
use serde_json::{Value, json};

fn deploy(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(path)
}

fn read(path: &str) -> String {
    let path = deploy(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Whether `promtool` runs here; when it does not, a message says what is skipped.
fn have_promtool(skipped: &str) -> bool {
    let ok = Command::new("promtool")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "SKIPPED: {skipped}: promtool is not installed (Debian's `prometheus` package; \
             `scripts/ensure-services.sh promtool` installs it)"
        );
    }
    ok
}

fn run_promtool(args: &[&str]) {
    let out = Command::new("promtool")
        .args(args)
        .output()
        .expect("promtool runs");
    assert!(
        out.status.success(),
        "promtool {}:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The alerts of a rules file, each with its `expr` (inline or a `|` / `>` block).
fn alert_exprs(rules: &str) -> Vec<(String, String)> {
    fn indent(line: &str) -> usize {
        line.len() - line.trim_start().len()
    }
    let lines: Vec<&str> = rules.lines().collect();
    let mut alerts = Vec::new();
    let mut alert: Option<String> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        i += 1;
        if let Some(name) = trimmed.strip_prefix("- alert:") {
            alert = Some(name.trim().to_owned());
        } else if trimmed.starts_with("- record:") {
            panic!("recording rules are not expected in the alerts file: {line}");
        } else if let Some(rest) = trimmed.strip_prefix("expr:") {
            let rest = rest.trim();
            let expr = if rest.starts_with('|') || rest.starts_with('>') {
                let mut body = String::new();
                while i < lines.len()
                    && (lines[i].trim().is_empty() || indent(lines[i]) > indent(line))
                {
                    body.push_str(lines[i].trim());
                    body.push('\n');
                    i += 1;
                }
                body
            } else {
                rest.trim_matches(|c| c == '"' || c == '\'').to_owned()
            };
            let name = alert
                .take()
                .unwrap_or_else(|| panic!("an expr outside an alert: {line}"));
            alerts.push((name, expr));
        }
    }
    alerts
}

/// Every query of the dashboard: panel targets' `expr` and the template variables' queries.
fn dashboard_exprs(dashboard: &Value) -> Vec<(String, String)> {
    fn walk(v: &Value, title: &str, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(map) => {
                let title = map
                    .get("title")
                    .or_else(|| map.get("name"))
                    .and_then(Value::as_str)
                    .unwrap_or(title);
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("expr", Value::String(e)) | ("query", Value::String(e))
                            if e.contains("salla_odoo_") =>
                        {
                            out.push((title.to_owned(), e.clone()))
                        }
                        _ => walk(v, title, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, title, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(dashboard, "dashboard", &mut out);
    out
}

/// The metric names a PromQL expression reads (all of the project's are `salla_odoo_*`).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = expr;
    while let Some(at) = rest.find("salla_odoo_") {
        let before = rest[..at].chars().next_back();
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(tail.len());
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            names.insert(tail[..end].to_owned());
        }
        rest = &tail[end..];
    }
    names
}

/// The labels of `by (...)` clauses.
fn by_labels(expr: &str) -> BTreeSet<String> {
    let mut labels = BTreeSet::new();
    let mut rest = expr;
    while let Some(at) = rest.find("by (") {
        let tail = &rest[at + 4..];
        let end = tail.find(')').expect("a closed by clause");
        labels.extend(
            tail[..end]
                .split(',')
                .map(|l| l.trim().to_owned())
                .filter(|l| !l.is_empty()),
        );
        rest = &tail[end..];
    }
    labels
}

/// The exact-match label matchers (`metric{label="value"}`) of an expression.
fn matchers(expr: &str) -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    for name in metric_names(expr) {
        let open = format!("{name}{{");
        let mut rest = expr;
        while let Some(at) = rest.find(&open) {
            let tail = &rest[at + open.len()..];
            let end = tail.find('}').expect("closed matchers");
            for m in tail[..end].split(',') {
                if let Some((label, value)) = m.split_once('=')
                    && !label.ends_with('!')
                    && !value.starts_with('~')
                {
                    found.push((
                        name.clone(),
                        label.trim().to_owned(),
                        value.trim().trim_matches('"').to_owned(),
                    ));
                }
            }
            rest = &tail[end..];
        }
    }
    found
}

/// The samples of an exposition text: (name, labels).
fn samples(text: &str) -> Vec<(String, BTreeMap<String, String>)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let name_end = line.find(['{', ' ']).unwrap_or(line.len());
            let name = line[..name_end].to_owned();
            let mut labels = BTreeMap::new();
            if line[name_end..].starts_with('{') {
                let body = &line[name_end + 1..line.rfind('}').expect("closed labels")];
                // Label values here never hold `",` (ids, names and outcomes).
                for pair in body.split("\",") {
                    if let Some((k, v)) = pair.split_once("=\"") {
                        labels.insert(k.trim().to_owned(), v.trim_end_matches('"').to_owned());
                    }
                }
            }
            (name, labels)
        })
        .collect()
}

/// Whether `name` is exported: a sample of it, or its `# TYPE` line (for `_bucket`, `_sum` and
/// `_count`, the histogram's).
fn exported(text: &str, name: &str) -> bool {
    let typed = |n: &str| text.lines().any(|l| l.starts_with(&format!("# TYPE {n} ")));
    if typed(name) || samples(text).iter().any(|(n, _)| n == name) {
        return true;
    }
    ["_bucket", "_sum", "_count"].iter().any(|suffix| {
        name.strip_suffix(suffix).is_some_and(|base| {
            text.lines().any(|l| {
                l == format!("# TYPE {base} histogram") || l == format!("# TYPE {base} summary")
            })
        })
    })
}

/// Which names of `needed` the scraped `text` lacks.
fn missing(text: &str, needed: &BTreeSet<String>) -> Vec<String> {
    needed
        .iter()
        .filter(|n| !exported(text, n))
        .cloned()
        .collect()
}

#[test]
fn the_alert_rules_pass_promtool_check_and_their_unit_tests() {
    if !have_promtool("the alert rules' promtool check and unit tests") {
        return;
    }
    let rules = deploy("prometheus/alerts.yaml");
    let tests = deploy("prometheus/alerts_test.yaml");
    run_promtool(&["check", "rules", rules.to_str().unwrap()]);
    run_promtool(&["test", "rules", tests.to_str().unwrap()]);
}

#[test]
fn every_alert_has_a_firing_and_a_quiet_unit_test() {
    let alerts = alert_exprs(&read("prometheus/alerts.yaml"));
    assert!(alerts.len() >= 7, "{alerts:?}");
    let tests = read("prometheus/alerts_test.yaml");
    // Each `alertname:` case of alert_rule_test, and whether it expects alerts.
    let mut cases: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let lines: Vec<&str> = tests.lines().map(str::trim).collect();
    for (i, line) in lines.iter().enumerate() {
        let Some(name) = line.strip_prefix("alertname:") else {
            continue;
        };
        let expects = lines[i + 1..]
            .iter()
            .find(|l| l.starts_with("exp_alerts:"))
            .expect("exp_alerts follows alertname");
        let entry = cases.entry(name.trim().to_owned()).or_default();
        if expects.trim_end() == "exp_alerts: []" {
            entry.1 += 1;
        } else {
            entry.0 += 1;
        }
    }
    for (alert, _) in &alerts {
        let (firing, quiet) = cases.get(alert).copied().unwrap_or_default();
        assert!(
            firing >= 1 && quiet >= 1,
            "{alert}: {firing} firing and {quiet} not-firing test cases in alerts_test.yaml"
        );
    }
    let known: BTreeSet<&String> = alerts.iter().map(|(a, _)| a).collect();
    for tested in cases.keys() {
        assert!(
            known.contains(tested),
            "alerts_test.yaml tests unknown alert {tested}"
        );
    }
}

#[test]
fn the_dashboard_is_well_formed_and_its_queries_are_valid_promql() {
    let dashboard: Value = serde_json::from_str(&read("grafana/salla-odoo.json")).unwrap();
    assert_eq!(dashboard["uid"], "salla-odoo");
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut ids = BTreeSet::new();
    for panel in panels {
        assert!(
            ids.insert(panel["id"].as_u64().expect("panel id")),
            "duplicate id: {panel}"
        );
        if panel["type"] == "row" {
            continue;
        }
        let targets = panel["targets"].as_array().expect("targets");
        assert!(
            !targets.is_empty(),
            "a panel without a query: {}",
            panel["title"]
        );
        for t in targets {
            assert!(
                t["expr"].as_str().is_some_and(|e| !e.is_empty()),
                "{}: a target without expr",
                panel["title"]
            );
        }
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "{}",
            panel["title"]
        );
    }
    // The panels: throughput by outcome, queue depth and age, job latency, Odoo call
    // latency and errors per store, dead letters, workers alive.
    let exprs = dashboard_exprs(&dashboard);
    let all: String = exprs
        .iter()
        .map(|(_, e)| e.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    for needle in [
        "sum by (outcome) (rate(salla_odoo_jobs_total",
        "sum by (outcome) (rate(salla_odoo_webhooks_total",
        "salla_odoo_queue_ready_jobs",
        "salla_odoo_queue_oldest_ready_age_seconds",
        "salla_odoo_job_duration_seconds_bucket",
        "sum by (le, merchant) (rate(salla_odoo_odoo_call_duration_seconds_bucket",
        "sum by (merchant) (rate(salla_odoo_odoo_call_errors_total",
        "salla_odoo_dead_letters_total",
        "salla_odoo_workers_alive",
    ] {
        assert!(all.contains(needle), "no dashboard query has {needle:?}");
    }

    if !have_promtool("the dashboard queries' PromQL check") {
        return;
    }
    // Each query as a recording rule, with Grafana's variables replaced, for promtool to parse.
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (title, expr)) in exprs.iter().enumerate() {
        let expr = expr
            .replace("$__rate_interval", "5m")
            .replace("$merchant", ".*");
        let expr = if expr.starts_with("label_values(") {
            // A template variable: label_values(metric, label) reads the metric.
            let inner = &expr["label_values(".len()..expr.rfind(')').unwrap()];
            inner.split(',').next().unwrap().trim().to_owned()
        } else {
            expr
        };
        rules.push_str(&format!(
            "      # {title}\n      - record: dashboard:query_{i}\n        expr: {}\n",
            serde_json::to_string(&expr).unwrap()
        ));
    }
    let file = std::env::temp_dir().join(format!(
        "salla-odoo-dashboard-rules-{}.yaml",
        std::process::id()
    ));
    std::fs::write(&file, rules).unwrap();
    run_promtool(&["check", "rules", file.to_str().unwrap()]);
    let _ = std::fs::remove_file(file);
}

// ---- the end-to-end scrape ------------------------------------------------------------------------

/// The real `salla-odoo-ingest` binary on a free port, with `env`; killed when dropped.
async fn start_ingest(env: &[(String, String)]) -> (Proc, String) {
    let port = free_port();
    let mut cmd = Command::new(workspace_bin("salla-odoo-ingest"));
    cmd.args(["--listen", &format!("127.0.0.1:{port}")])
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(if std::env::var_os("FLEET_LOGS").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        });
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut proc = Proc {
        child: cmd.spawn().expect("salla-odoo-ingest starts"),
    };
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let start = Instant::now();
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        if let Ok(Some(status)) = proc.child.try_wait() {
            panic!("salla-odoo-ingest exited: {status}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "salla-odoo-ingest did not listen"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    (proc, base)
}

/// One scrape of `url` with a fresh connection (closed afterwards); empty when it does not answer.
async fn scrape(url: &str) -> String {
    let client = reqwest::Client::new();
    match client.get(url).send().await {
        Ok(r) if r.status().is_success() => r.text().await.unwrap_or_default(),
        _ => String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_alerts_and_the_dashboard_use_is_exported_by_the_real_binaries() {
    // What the rules and the dashboard read.
    let alerts = alert_exprs(&read("prometheus/alerts.yaml"));
    let dashboard: Value = serde_json::from_str(&read("grafana/salla-odoo.json")).unwrap();
    let exprs: Vec<(String, String)> = alerts
        .iter()
        .cloned()
        .chain(dashboard_exprs(&dashboard))
        .collect();
    let mut needed = BTreeSet::new();
    for (what, expr) in &exprs {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{what}: no salla_odoo_ metric in {expr}");
        needed.extend(names);
    }

    let odoo = odoo_sandbox::spawn(Options {
        version: Version::V18,
        ..Default::default()
    })
    .await
    .unwrap();
    let salla = salla_sandbox::spawn(salla_sandbox::Options::default())
        .await
        .unwrap();
    const M: u64 = 806_001; // the healthy store, with Salla API tokens
    const BROKEN: u64 = 806_002; // unknown SKUs are not created: its order is dead-lettered
    let env = salla::env(&salla);
    let env_ref: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut fleet = Fleet::start_with("observability", &env_ref).await;
    fleet.add_store(M, &odoo.url(), &["--create-unknown-skus"]);
    fleet.add_store(BROKEN, &odoo.url(), &[]);

    let mut ingest_env = fleet.env();
    ingest_env.push(("SALLA_ODOO__SALLA__WEBHOOK_SECRET".into(), SECRET.into()));
    ingest_env.push((
        "SALLA_ODOO__SALLA__SECURITY_STRATEGY".into(),
        "signature".into(),
    ));
    let (_ingest, ingest_url) = start_ingest(&ingest_env).await;
    let worker_listen = format!("127.0.0.1:{}", free_port());
    fleet.spawn_worker_with(&["--metrics-listen", &worker_listen]);
    let addr: std::net::SocketAddr = ingest_url.trim_start_matches("http://").parse().unwrap();
    let post = |body: Vec<u8>| {
        let queue = fleet.ingest.queue.clone();
        async move {
            // A client of its own: its connection closes when it is dropped (a closed-connection
            // reason for the ingest's counter).
            let ingest = TestIngest::remote(addr, queue);
            let (status, answer) = ingest.post_signed(&body).await;
            assert_eq!(status, 200, "{answer}");
        }
    };

    // The store's Salla tokens arrive.
    post(authorize_event(M, &salla.authorize(M))).await;
    fleet.wait_outcomes(1, Duration::from_secs(60)).await;
    // An Odoo 503 (a call error, a retry), then applied; an order that can never be applied.
    odoo.faults().inject(
        odoo_sandbox::Match::any()
            .model("sale.order")
            .method("create")
            .times(1),
        FaultKind::Http5xx(503),
    );
    post(order_event(
        "order.created",
        M,
        61,
        "2026-12-01 09:00:00",
        1,
        "OBS-1",
    ))
    .await;
    post(order_event(
        "order.created",
        BROKEN,
        62,
        "2026-12-01 09:00:00",
        1,
        "NOPE-1",
    ))
    .await;
    fleet.wait_outcomes(3, Duration::from_secs(60)).await;
    // A fetch with expired tokens (a refresh), then one answered 429 (a throttled deferral).
    salla
        .seed_order(
            M,
            salla::api_order(M, 63, "OBS-2", "2026-12-01 09:00:00", "in_progress"),
        )
        .unwrap();
    salla
        .seed_order(
            M,
            salla::api_order(M, 64, "OBS-3", "2026-12-01 09:00:00", "in_progress"),
        )
        .unwrap();
    assert_eq!(salla.expire_tokens(M), 1);
    post(shipment_event(M, 73, 63)).await;
    fleet.wait_outcomes(4, Duration::from_secs(60)).await;
    salla.faults().inject(salla_sandbox::ErrorRule {
        on: salla_sandbox::Match::any().merchant(M).times(1),
        status: 429,
        retry_after_secs: Some(1),
    });
    post(shipment_event(M, 74, 64)).await;
    // The broken store uninstalls the app: its tokens are gone, it needs a reinstall.
    let uninstalled = json!({"event": "app.uninstalled", "merchant": BROKEN,
        "created_at": "2026-12-01 11:00:00", "data": {"id": 1_234_509_876u64}});
    post(serde_json::to_vec(&uninstalled).unwrap()).await;
    fleet.wait_outcomes(6, Duration::from_secs(60)).await;
    let log = fleet.log().await;
    let outcomes: Vec<&str> = log.iter().map(|(_, o, _)| o.as_str()).collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == "dead_lettered").count(),
        1,
        "{log:?}"
    );

    // An ingest whose Redis is gone answers 503 ("unavailable") and reports the queue unreadable.
    let mut down_env = ingest_env.clone();
    down_env.retain(|(k, _)| k != "REDIS_URL");
    down_env.push((
        "REDIS_URL".into(),
        format!("redis://127.0.0.1:{}", free_port()),
    ));
    down_env.push((
        "SALLA_ODOO__INGEST__REQUEST_TIMEOUT_MS".into(),
        "1000".into(),
    ));
    let (_down, down_url) = start_ingest(&down_env).await;
    let body = order_event("order.created", M, 65, "2026-12-01 09:00:00", 1, "OBS-4");
    let (status, _) = TestIngest::remote(
        down_url.trim_start_matches("http://").parse().unwrap(),
        fleet.ingest.queue.clone(),
    )
    .post_signed(&body)
    .await;
    assert_eq!(status, 503);

    // Scrape until every name is there (connection closes and the scheduled token job's gauge
    // are recorded asynchronously).
    let urls = [
        format!("{ingest_url}/metrics"),
        format!("{down_url}/metrics"),
        format!("http://{worker_listen}/metrics"),
    ];
    let start = Instant::now();
    let text = loop {
        let mut text = String::new();
        for url in &urls {
            text.push_str(&scrape(url).await);
            text.push('\n');
        }
        if missing(&text, &needed).is_empty() || start.elapsed() > Duration::from_secs(30) {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let absent = missing(&text, &needed);
    assert!(
        absent.is_empty(),
        "used by deploy/prometheus/alerts.yaml or deploy/grafana/salla-odoo.json but not exported \
         by the binaries: {absent:?}\n--- scraped:\n{text}"
    );

    // The labels they aggregate by and the label values they match on are exported too.
    let exported_samples = samples(&text);
    let base = |name: &str| {
        ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .filter(|b| text.contains(&format!("# TYPE {b} histogram")))
            .unwrap_or(name)
            .to_owned()
    };
    let of = |names: &BTreeSet<String>| -> Vec<&BTreeMap<String, String>> {
        let bases: BTreeSet<String> = names.iter().map(|n| base(n)).collect();
        exported_samples
            .iter()
            .filter(|(n, _)| names.contains(n) || bases.contains(&base(n)))
            .map(|(_, labels)| labels)
            .collect()
    };
    for (what, expr) in &exprs {
        let names = metric_names(expr);
        let labelled = of(&names);
        for label in by_labels(expr) {
            // `instance` is Prometheus' own (the scrape target); `le` every histogram bucket's.
            if label == "instance" {
                continue;
            }
            assert!(
                labelled.iter().any(|l| l.contains_key(&label)),
                "{what}: `by ({label})` but no sample of {names:?} has that label"
            );
        }
        for (name, label, value) in matchers(expr) {
            let one: BTreeSet<String> = [name.clone()].into();
            assert!(
                of(&one)
                    .iter()
                    .any(|l| l.get(&label).is_some_and(|v| *v == value)),
                "{what}: {name}{{{label}=\"{value}\"}} is never exported"
            );
        }
    }
    // The per-store Odoo metrics name the store.
    for name in [
        "salla_odoo_odoo_call_duration_seconds_count",
        "salla_odoo_odoo_call_errors_total",
    ] {
        assert!(
            exported_samples
                .iter()
                .any(|(n, l)| n == name
                    && l.get("merchant").map(String::as_str) == Some(&M.to_string())),
            "{name} has no sample for store {M}"
        );
    }
}
