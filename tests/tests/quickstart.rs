//! The README's quickstart, driven as a newcomer would: start what `make run` starts
//! (scripts/run.sh, with no Redis, Postgres or Odoo configured), `send-sample order.created`, and
//! wait until the sandbox holds the sale order; `sync-log` then shows it applied.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use salla_odoo_tests::{free_port, workspace_bin};
use secrecy::SecretString;

struct Script(Child);

impl Drop for Script {
    fn drop(&mut self) {
        // SIGTERM, as Ctrl-C in a terminal would: the script stops `run` and the sandbox.
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
    }
}

fn clean_env(cmd: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars() {
        if key.starts_with("SALLA_ODOO") || key == "REDIS_URL" || key == "DATABASE_URL" {
            cmd.env_remove(key);
        }
    }
    cmd.env_remove("ODOO_URL")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn make_run_then_one_send_sample_gives_a_sale_order_in_the_sandbox() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let bin_dir = workspace_bin("salla-odoo").parent().unwrap().to_owned();
    workspace_bin("odoo-sandbox");
    let data = std::env::temp_dir().join(format!(
        "salla-odoo-quickstart-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let listen = format!("127.0.0.1:{}", free_port());
    let sandbox = format!("127.0.0.1:{}", free_port());
    let mut cmd = Command::new(root.join("scripts/run.sh"));
    clean_env(&mut cmd)
        .current_dir(&root)
        .env("BIN_DIR", &bin_dir)
        .env("LISTEN", &listen)
        .env("SANDBOX_LISTEN", &sandbox)
        .env("SALLA_ODOO_DATA_DIR", &data)
        .env("SALLA_ODOO__WORKER__METRICS_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut script = Script(cmd.spawn().expect("scripts/run.sh starts"));

    // What a newcomer reads: the sandbox notice, the test secret, the webhook URL, the next command.
    let stdout = script.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut banner = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !banner.iter().any(|l: &String| l.contains("webhook URL")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => banner.push(line),
            Err(_) => panic!("no webhook URL printed; got: {banner:#?}"),
        }
    }
    let text = banner.join("\n");
    assert!(text.contains("started odoo-sandbox"), "{text}");
    assert!(text.contains("dev-webhook-secret"), "{text}");
    assert!(text.contains("make sample"), "{text}");
    assert!(
        text.contains(&format!("http://{listen}/webhooks/salla")),
        "{text}"
    );

    let out = clean_env(&mut Command::new(bin_dir.join("salla-odoo")))
        .env("SALLA_ODOO__SALLA__WEBHOOK_SECRET", "dev-webhook-secret")
        .args([
            "send-sample",
            "order.created",
            "--to",
            &format!("http://{listen}/webhooks/salla"),
        ])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("queued"), "{said}");

    let odoo = odoo::Client::new(
        odoo::Config::new(
            &format!("http://{sandbox}"),
            "odoo",
            "admin",
            SecretString::from("admin"),
        )
        .unwrap(),
    )
    .unwrap();
    let domain = odoo::Domain::new().leaf("client_order_ref", "=", "salla:1000001:700000001");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if odoo.search_count("sale.order", &domain).await.unwrap_or(0) == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the sample order never reached the sandbox"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let log = clean_env(&mut Command::new(bin_dir.join("salla-odoo")))
        .arg("--data-dir")
        .arg(&data)
        .args(["sync-log", "--event", "order.created"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&log.stdout);
    assert!(
        log.contains("order.created") && log.contains("applied"),
        "{log}"
    );

    drop(script);
    let _ = std::fs::remove_dir_all(&data);
}
