//! Client overhead per call against the sandbox at zero latency, compared in the same run with a bare
//! reqwest POST of the same JSON body to the same server.
//!
//! `cargo bench -p odoo --bench overhead` (optionally `-- CALLS`, default 6000). For each transport
//! (JSON-RPC on the 18 personality, JSON-2 on 19) it times sequential `read` calls through
//! [`odoo::Client`] and the same request bytes sent with a plain `reqwest::Client` (body read, not parsed),
//! and prints calls/s for both, the ratio and the client's extra microseconds per call.

use std::time::{Duration, Instant};

use odoo::{Client, Config, TransportChoice};
use odoo_sandbox::{Options, Version};
use serde_json::json;

struct Run {
    label: &'static str,
    calls: usize,
    client: Duration,
    bare: Duration,
    /// Median over the rounds of (bare time / client time), i.e. client calls/s ÷ bare calls/s.
    median_ratio: f64,
}

impl Run {
    fn print(&self) {
        let per_s = |d: Duration| self.calls as f64 / d.as_secs_f64();
        let (c, b) = (per_s(self.client), per_s(self.bare));
        let extra_us =
            (self.client.as_secs_f64() - self.bare.as_secs_f64()) * 1e6 / self.calls as f64;
        println!(
            "{:<22} client {:>7.0} calls/s | bare reqwest {:>7.0} calls/s | ratio {:.3} (median of rounds {:.3}) | overhead {:+.1} µs/call",
            self.label,
            c,
            b,
            c / b,
            self.median_ratio,
            extra_us
        );
    }
}

async fn bench(version: Version, label: &'static str, calls: usize) -> Run {
    let sandbox = odoo_sandbox::spawn(Options {
        version,
        ..Default::default()
    })
    .await
    .expect("sandbox");
    let url = sandbox.url().to_string();
    let mut cfg = Config::new(&url, "odoo", "admin", "admin".to_owned().into()).unwrap();
    cfg.transport = TransportChoice::Auto;
    let client = Client::new(cfg).unwrap();
    let transport = client.transport().await.expect("session");
    let uid = client.uid().await.unwrap();
    let partner = client
        .create(
            "res.partner",
            json!({"name": "Bench Partner"})
                .as_object()
                .cloned()
                .unwrap(),
        )
        .await
        .unwrap();

    // The exact request the client sends for `read([partner], ["name"])`.
    let bare = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .unwrap();
    let (bare_url, body, bearer) = match transport {
        odoo::Transport::JsonRpc => (
            format!("{url}/jsonrpc"),
            json!({"jsonrpc": "2.0", "method": "call", "id": 1, "params": {
                "service": "object", "method": "execute_kw",
                "args": ["odoo", uid, "admin", "res.partner", "read", [[partner]], {"fields": ["name"]}]}})
            .to_string(),
            None,
        ),
        odoo::Transport::Json2 => (
            format!("{url}/json/2/res.partner/read"),
            json!({"ids": [partner], "fields": ["name"]}).to_string(),
            Some("bearer admin"),
        ),
    };
    let bare_call = || {
        let mut req = bare
            .post(&bare_url)
            .header("content-type", "application/json")
            .header("x-odoo-database", "odoo")
            .body(body.clone());
        if let Some(b) = bearer {
            req = req.header("authorization", b);
        }
        async move {
            let resp = req.send().await.unwrap();
            assert!(resp.status().is_success());
            resp.bytes().await.unwrap()
        }
    };

    // Warm up both paths (connections, caches).
    for _ in 0..200 {
        let _: Vec<odoo::Record> = client
            .read("res.partner", &[partner], &["name"])
            .await
            .unwrap();
        bare_call().await;
    }
    // Alternate the two sides over many short rounds (and which goes first) so that drift and bursts from
    // other processes on the machine hit both alike; the median of the per-round ratios resists outliers.
    const ROUNDS: usize = 12;
    let per_round = (calls / ROUNDS).max(1);
    let (mut t_client, mut t_bare) = (Duration::ZERO, Duration::ZERO);
    let mut ratios = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let (mut c, mut b) = (Duration::ZERO, Duration::ZERO);
        for side in [round % 2, 1 - round % 2] {
            let start = Instant::now();
            for _ in 0..per_round {
                if side == 0 {
                    let rows: Vec<odoo::Record> = client
                        .read("res.partner", &[partner], &["name"])
                        .await
                        .unwrap();
                    assert_eq!(rows.len(), 1);
                } else {
                    bare_call().await;
                }
            }
            if side == 0 {
                c = start.elapsed();
            } else {
                b = start.elapsed();
            }
        }
        t_client += c;
        t_bare += b;
        ratios.push(b.as_secs_f64() / c.as_secs_f64());
    }
    ratios.sort_by(f64::total_cmp);
    let median_ratio = (ratios[ROUNDS / 2 - 1] + ratios[ROUNDS / 2]) / 2.0;
    sandbox.shutdown().await;
    Run {
        label,
        calls: per_round * ROUNDS,
        client: t_client,
        bare: t_bare,
        median_ratio,
    }
}

fn main() {
    let calls = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(6000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        println!(
            "odoo client overhead, {calls} sequential read calls per side, sandbox at zero latency"
        );
        bench(Version::V18, "JSON-RPC (18) read", calls)
            .await
            .print();
        bench(Version::V19, "JSON-2 (19) read", calls).await.print();
    });
}
