//! Running the fleet as operators do: several workers on one host with default settings, the
//! deployment units, the edge under stalled connections.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use odoo_sandbox::{Options, Version};
use salla_odoo_tests::*;

/// The worker label of each `salla_odoo_jobs_total` sample with a non-zero count at `url`.
async fn workers_with_jobs(client: &reqwest::Client, url: &str) -> BTreeSet<String> {
    let Ok(answer) = client.get(url).send().await else {
        return BTreeSet::new();
    };
    let text = answer.text().await.unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("salla_odoo_jobs_total{"))
        .filter(|l| l.rsplit(' ').next().is_some_and(|n| n != "0"))
        .filter_map(|l| {
            let at = l.find("worker=\"")? + 8;
            Some(l[at..at + l[at..].find('"')?].to_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_with_default_settings_share_a_host() {
    let odoo = odoo_sandbox::spawn(Options {
        version: Version::V18,
        ..Default::default()
    })
    .await
    .unwrap();
    // Each Odoo call takes a while and each worker runs one job at a time, so no worker can
    // drain the queue alone: all three must take part.
    odoo.faults()
        .set_latency(Duration::from_millis(40), Duration::ZERO);
    let mut fleet = Fleet::start_with(
        "fleet-ops-three",
        &[("SALLA_ODOO__WORKER__CONCURRENCY", "1")],
    )
    .await;
    let merchants = [701u64, 702, 703, 704, 705, 706];
    for m in merchants {
        fleet.add_store(m, &odoo.url(), &["--create-unknown-skus"]);
    }
    // No metrics flag, no instance: what an operator gets by starting the binary three times.
    for _ in 0..3 {
        fleet.spawn_worker_with(&[]);
    }
    let client = reqwest::Client::new();
    // Every worker listens on its own port of the default span 9090-9105 (none exits at start).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut ports = Vec::new();
    while ports.len() < 3 {
        assert!(
            Instant::now() < deadline,
            "three workers' /metrics not found on 9090-9105: {ports:?}"
        );
        for w in &mut fleet.workers {
            assert!(
                matches!(w.child.try_wait(), Ok(None)),
                "a worker exited at start"
            );
        }
        ports.clear();
        for port in 9090..9106u16 {
            // Our workers' health answer, not whatever else may listen there (a Prometheus).
            let url = format!("http://127.0.0.1:{port}/healthz");
            if let Ok(a) = client.get(&url).send().await
                && a.status().is_success()
                && a.text().await.is_ok_and(|t| t == "ok")
            {
                ports.push(port);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut sent = 0;
    for (i, m) in merchants.iter().enumerate() {
        for k in 0..4u64 {
            let order = 9_500 + (i as u64) * 10 + k;
            let body = order_event(
                "order.created",
                *m,
                order,
                "2026-12-01 10:00:00",
                1,
                &format!("OPS-{order}"),
            );
            let (status, answer) = fleet.ingest.post_signed(&body).await;
            assert_eq!(status, 200, "{answer}");
            sent += 1;
        }
    }
    fleet.wait_outcomes(sent, Duration::from_secs(120)).await;
    let mut workers = BTreeSet::new();
    for port in &ports {
        workers
            .extend(workers_with_jobs(&client, &format!("http://127.0.0.1:{port}/metrics")).await);
    }
    assert_eq!(
        workers.len(),
        3,
        "each of the three workers processed jobs and labels its metrics with its identity: {workers:?}"
    );
    let applied = fleet
        .db
        .scalar("SELECT count(*) FROM sync_log WHERE outcome = 'applied'")
        .await;
    assert_eq!(applied, sent);
}

/// `systemd-analyze verify` on every unit in `deploy/systemd` (template units as instance 1), with
/// `/usr/local/bin` pointing at this build's binaries. A warning fails the test as an error would.
#[test]
fn systemd_units_verify() {
    let Ok(probe) = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
    else {
        eprintln!("skipping: systemd-analyze is not installed (Debian package systemd)");
        return;
    };
    assert!(probe.status.success());
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let bin_dir = workspace_bin("salla-odoo").parent().unwrap().to_path_buf();
    let dir = tempfile_dir("systemd-units");
    let mut units = Vec::new();
    for entry in std::fs::read_dir(root.join("deploy/systemd")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if !name.ends_with(".service") {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("/usr/local/bin/", &format!("{}/", bin_dir.display()));
        std::fs::write(dir.join(&name), text).unwrap();
        units.push(match name.strip_suffix("@.service") {
            Some(stem) => format!("{stem}@1.service"),
            None => name,
        });
    }
    assert!(
        units.iter().any(|u| u == "salla-odoo-worker@1.service"),
        "{units:?}"
    );
    assert!(
        units.iter().any(|u| u == "salla-odoo-migrate.service"),
        "{units:?}"
    );
    assert!(
        units.iter().any(|u| u == "salla-odoo-ingest.service"),
        "{units:?}"
    );
    for unit in &units {
        let out = std::process::Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(dir.join(unit))
            .current_dir(&dir)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.trim().is_empty(),
            "{unit}: systemd-analyze verify said:\n{stderr}"
        );
    }
}

fn tempfile_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("salla-odoo-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `make sample` (and any README step after `make run`) must not rebuild what `make run` built: the
/// same `cargo build` line, so the same packages and unified features, or Cargo rebuilds for minutes
/// and replaces the binary `make run` is running (a new user's first ten minutes).
#[test]
fn readme_targets_reuse_what_make_run_built() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let builds = |target: &str| -> Vec<String> {
        let out = std::process::Command::new("make")
            .args(["-n", "--no-print-directory", target])
            .current_dir(&root)
            .env("CARGO", "cargo")
            .output()
            .expect("make runs");
        assert!(
            out.status.success(),
            "make -n {target}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("cargo build"))
            .map(str::to_owned)
            .collect()
    };
    let run = builds("run");
    assert_eq!(run.len(), 1, "{run:?}");
    assert_eq!(
        builds("sample"),
        run,
        "make sample builds something other than make run"
    );
}
