//! The edge holds (the `salla-odoo-ingest` binary, as it faces the internet): connections that
//! never finish their headers are closed within the header timeout and never cost a signed webhook
//! its answer; at the connection cap the oldest stalled connection makes room, and a connection that
//! cannot be served is answered 503 at once; idle kept-alive connections are closed.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use salla_odoo_salla::verify::sign;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SECRET: &str = "edge-test-secret-81c2";

fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL")
        .or_else(|_| std::env::var("REDIS_URL"))
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

struct Ingest {
    child: Child,
    addr: String,
    ns: String,
}

impl Drop for Ingest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Ok(client) = redis::Client::open(redis_url())
            && let Ok(mut c) = client.get_connection()
        {
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{}*", self.ns))
                .query(&mut c)
                .unwrap_or_default();
            for k in keys {
                let _: Result<(), _> = redis::cmd("DEL").arg(k).query(&mut c);
            }
        }
    }
}

/// Start the binary with these `ingest.*` settings and wait until it answers.
async fn start(settings: &[(&str, &str)]) -> Ingest {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ns = format!("test:edge:{}", uuid::Uuid::new_v4().simple());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_salla-odoo-ingest"));
    cmd.args(["--listen", &format!("127.0.0.1:{port}")])
        .env("REDIS_URL", redis_url())
        .env("SALLA_ODOO__SALLA__WEBHOOK_SECRET", SECRET)
        .env("SALLA_ODOO__QUEUE__NAMESPACE", &ns)
        .env("SALLA_ODOO__LOG__FILTER", "error")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in settings {
        cmd.env(format!("SALLA_ODOO__INGEST__{}", k.to_ascii_uppercase()), v);
    }
    let ingest = Ingest {
        child: cmd.spawn().unwrap(),
        addr: format!("127.0.0.1:{port}"),
        ns,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(&ingest.addr).await.is_err() {
        assert!(Instant::now() < deadline, "ingest did not come up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ingest
}

/// A signed webhook on a connection of its own: the status and how long the answer took.
async fn webhook(addr: &str, n: u64) -> (u16, Duration) {
    let body = format!(
        r#"{{"event":"customer.created","merchant":5151,"created_at":"2026-12-01 10:00:00","data":{{"id":{n},"first_name":"Edge"}}}}"#
    );
    let request = format!(
        "POST /webhooks/salla HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         x-salla-signature: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        sign(SECRET, body.as_bytes()),
        body.len()
    );
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .expect("the webhook was answered within 5 s")
        .unwrap();
    let status = std::str::from_utf8(&answer[..12.min(answer.len())])
        .ok()
        .and_then(|l| l.get(9..12))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, started.elapsed())
}

/// Open a connection that sends the start of a request and never finishes its headers.
async fn stall(addr: &str) -> std::io::Result<TcpStream> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(b"POST /webhooks/salla HTTP/1.1\r\nhost: x\r\n")
        .await?;
    Ok(s)
}

/// Wait until the server closes `s` (EOF or reset); false if it is still open at `deadline`.
async fn closed_by(s: &mut TcpStream, deadline: Instant) -> bool {
    let mut buf = [0u8; 512];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

fn p99(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[(v.len() * 99 / 100).min(v.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_connections_never_starve_signed_webhooks() {
    // As many stalled connections as this process may open, up to the 20,000 of the attack (the
    // ingest gets the same limit and raises its own soft limit to its hard one).
    let hard = rlimit::increase_nofile_limit(u64::MAX).unwrap();
    let stalled_count = (hard.saturating_sub(1_500)).min(20_000) as usize;
    assert!(
        stalled_count >= 500,
        "open-file limit {hard} is too low for this test"
    );
    let header_timeout = Duration::from_secs(12);
    let ingest = start(&[
        ("header_read_timeout_ms", "12000"),
        ("keep_alive_timeout_ms", "2000"),
    ])
    .await;
    let addr = ingest.addr.clone();

    // The attacker: connections opened 256 at a time, each sending a request line and one header.
    let opened_at = Instant::now();
    let mut stalled = Vec::with_capacity(stalled_count);
    let mut pending = Vec::new();
    for i in 0..stalled_count {
        pending.push(tokio::spawn({
            let addr = addr.clone();
            async move { stall(&addr).await }
        }));
        if pending.len() == 256 || i + 1 == stalled_count {
            for task in pending.drain(..) {
                stalled.push(task.await.unwrap());
            }
        }
    }
    let opened: Vec<TcpStream> = stalled.into_iter().filter_map(Result::ok).collect();
    let all_open_after = opened_at.elapsed();
    assert_eq!(
        opened.len(),
        stalled_count,
        "every stalled connection was accepted"
    );
    assert!(
        all_open_after < header_timeout,
        "opening took {all_open_after:?}, longer than the header timeout: the test proves nothing"
    );

    // Meanwhile, Salla: signed webhooks, one connection each, answered fast.
    let mut latencies = Vec::new();
    for n in 0..200 {
        let (status, took) = webhook(&addr, 10_000 + n).await;
        assert_eq!(status, 200, "webhook {n} answered {status}");
        latencies.push(took);
    }
    let measured_while_held = opened_at.elapsed() < header_timeout;
    let p99 = p99(latencies);
    eprintln!(
        "{stalled_count} stalled connections held: 200 signed webhooks answered, p99 {p99:?}"
    );
    assert!(
        p99 < Duration::from_millis(100),
        "p99 {p99:?} with {stalled_count} stalled connections"
    );
    assert!(
        measured_while_held,
        "the webhooks were not all sent while the stalled connections were held"
    );

    // Every stalled connection is closed by the server within the header timeout (plus slack for
    // this busy machine), counted from when it was opened.
    let deadline = opened_at + all_open_after + header_timeout + Duration::from_secs(3);
    let mut still_open = 0;
    for mut s in opened {
        if !closed_by(&mut s, deadline).await {
            still_open += 1;
        }
    }
    assert_eq!(
        still_open, 0,
        "stalled connections left open past the header timeout"
    );
    // And the server still serves.
    assert_eq!(webhook(&addr, 99_999).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_the_oldest_stalled_connection_makes_room() {
    let ingest = start(&[
        ("max_connections", "32"),
        ("header_read_timeout_ms", "30000"),
        ("keep_alive_timeout_ms", "30000"),
    ])
    .await;
    let addr = ingest.addr.clone();
    let mut stalled = Vec::new();
    for _ in 0..32 {
        stalled.push(stall(&addr).await.unwrap());
    }
    // The cap is reached by connections that will never send a request: a real webhook still gets
    // its answer, and the oldest stalled connection is the one closed for it.
    for n in 0..8 {
        let (status, took) = webhook(&addr, 20_000 + n).await;
        assert_eq!(status, 200);
        assert!(took < Duration::from_secs(1), "{took:?}");
    }
    // Whenever a webhook found the cap reached, one stalled connection was closed for it: always
    // the oldest one left, so the closed ones are the first of the list, and the newest stays.
    let mut closed = Vec::new();
    for s in stalled.iter_mut() {
        closed.push(closed_by(s, Instant::now() + Duration::from_millis(200)).await);
    }
    let evicted = closed.iter().take_while(|c| **c).count();
    assert!(evicted >= 1, "no stalled connection made room: {closed:?}");
    assert!(
        closed[evicted..].iter().all(|c| !c),
        "evictions were not the oldest first: {closed:?}"
    );
    assert!(
        evicted < stalled.len(),
        "the newest stalled connection was closed too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_beyond_the_cap_is_answered_503_at_once() {
    let ingest = start(&[
        ("max_connections", "8"),
        ("header_read_timeout_ms", "30000"),
        ("keep_alive_timeout_ms", "30000"),
    ])
    .await;
    let addr = ingest.addr.clone();
    // Eight kept-alive connections that were served (not stalled: none may be evicted).
    let mut kept = Vec::new();
    for _ in 0..8 {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        kept.push(s);
    }
    let started = Instant::now();
    let (status, _) = webhook(&addr, 30_000).await;
    assert_eq!(status, 503, "over the cap with nothing to evict");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    drop(kept);
    // Once the kept-alive connections are gone, webhooks are served again.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = webhook(&addr, 30_001).await;
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still {status} after the connections closed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_kept_alive_connection_is_closed_after_the_keep_alive_timeout() {
    let ingest = start(&[
        ("header_read_timeout_ms", "10000"),
        ("keep_alive_timeout_ms", "600"),
    ])
    .await;
    let mut s = TcpStream::connect(&ingest.addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let answered = Instant::now();
    assert!(closed_by(&mut s, answered + Duration::from_secs(5)).await);
    let idle = answered.elapsed();
    assert!(
        idle >= Duration::from_millis(500) && idle < Duration::from_secs(3),
        "closed after {idle:?} idle (keep-alive timeout 600 ms, header timeout 10 s)"
    );
}

/// `GET path` on `addr`: the status and the body.
async fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_leave_the_public_port_and_show_the_queue_depth() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics_addr = format!("127.0.0.1:{port}");
    let ingest = start(&[("metrics_listen", &metrics_addr)]).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&metrics_addr).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "metrics listener did not come up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        get(&ingest.addr, "/metrics").await.0,
        404,
        "not on the webhook port"
    );
    for n in 0..3 {
        assert_eq!(webhook(&ingest.addr, 40_000 + n).await.0, 200);
    }
    let (status, body) = get(&metrics_addr, "/metrics").await;
    assert_eq!(status, 200);
    let value = |name: &str| -> f64 {
        body.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from:\n{body}"))
    };
    assert_eq!(
        value("salla_odoo_queue_ready_jobs"),
        3.0,
        "three jobs wait for a worker"
    );
    assert_eq!(value("salla_odoo_queue_inflight_jobs"), 0.0);
    assert_eq!(value("salla_odoo_workers_alive"), 0.0);
    assert_eq!(value("salla_odoo_queue_depth_up"), 1.0);
    assert!(value("salla_odoo_queue_oldest_ready_age_seconds") >= 0.0);
    assert!(body.contains("salla_odoo_webhooks_total"), "{body}");
}
