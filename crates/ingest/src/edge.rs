//! The edge: how the ingest accepts and keeps HTTP connections, hardened for the internet.
//!
//! A client that opens connections and never finishes a request must not cost a real webhook its
//! answer. Each limit below is an `ingest.*` key (`config/default.toml`).
//!
//! # State
//! One [`Conn`] per open connection: its phase (waiting for the first request's headers, handling
//! a request, idle between requests, reading the next request) and the instant that phase began,
//! as atomics shared by the connection's task, its I/O wrapper ([`Tracked`]) and its service. The
//! accept loop keeps a FIFO of weak handles to the connections it accepted, oldest first, where it
//! finds the connection to evict at the cap. Nothing here outlives the process.
//!
//! # Limits and failure handling
//! - **Headers** (`header_read_timeout_ms`): hyper's header timer runs from the moment the
//!   connection waits for a request's line and headers (at accept, and after each answer on a
//!   kept-alive connection); when it fires the connection is closed. A slow body is bounded by the
//!   handler's `request_timeout_ms`.
//! - **Keep-alive** (`keep_alive_timeout_ms`): a connection with nothing in flight and no byte of
//!   a next request for that long is shut down gracefully (0 turns keep-alive off).
//! - **Cap** (`max_connections`, by default the open-file limit less a reserve): at the cap the
//!   oldest connection still waiting for its *first* request is closed to make room (a genuine
//!   client sends its request at once, a stalled one never does); if there is none, the new
//!   connection gets a canned 503 with `Retry-After: 1` and is closed, within a second whatever
//!   the peer does. Nothing is ever left hanging in the listen backlog.
//! - **Accept errors** (out of file descriptors despite the cap, …) are logged and the loop
//!   pauses 10 ms, instead of spinning or sleeping for a second.
//! - **Shutdown**: the listener closes, every connection finishes its in-flight request and
//!   closes; after the grace period the rest are dropped.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use salla_odoo_core::settings::IngestSettings;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// File descriptors kept out of `max_connections` when it is derived from the open-file limit:
/// Redis connections, the listener, log files, the runtime's own.
const FD_RESERVE: u64 = 256;

/// The edge's limits, from `[ingest]`.
#[derive(Debug, Clone, Copy)]
pub struct EdgeLimits {
    pub header_read_timeout: Duration,
    /// Zero: one request per connection.
    pub keep_alive_timeout: Duration,
    pub max_connections: usize,
}

impl EdgeLimits {
    /// The limits of `settings`; `max_connections = 0` becomes this process' open-file limit less
    /// a reserve.
    pub fn from_settings(settings: &IngestSettings) -> Self {
        let max_connections = match settings.max_connections {
            0 => {
                let soft = rlimit::getrlimit(rlimit::Resource::NOFILE)
                    .map(|(soft, _)| soft)
                    .unwrap_or(1024);
                usize::try_from(soft.saturating_sub(FD_RESERVE).max(16)).unwrap_or(usize::MAX)
            }
            n => n,
        };
        Self {
            header_read_timeout: Duration::from_millis(settings.header_read_timeout_ms),
            keep_alive_timeout: Duration::from_millis(settings.keep_alive_timeout_ms),
            max_connections,
        }
    }
}

/// Connections the kernel may hold completed for the accept loop (capped by the system's
/// `net.core.somaxconn`). A full queue drops new connections' SYNs, which their clients resend only
/// after a second: a burst of connections must not find it full.
pub const LISTEN_BACKLOG: u32 = 4096;

/// Bind the ingest's listener with [`LISTEN_BACKLOG`] (the standard library's default is 128).
pub fn listen(addr: std::net::SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Raise this process' soft open-file limit to its hard limit (as servers do at start), so the
/// derived connection cap is as high as the system allows. Returns the limit now in force.
pub fn raise_fd_limit() -> Option<u64> {
    rlimit::increase_nofile_limit(u64::MAX).ok()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    /// Accepted; the first request's headers have not all arrived.
    AwaitFirst = 0,
    /// A request is being handled.
    Busy = 1,
    /// Answered; nothing of a next request yet.
    Idle = 2,
    /// Bytes of a next request arrived on a kept-alive connection.
    AwaitNext = 3,
}

/// One open connection's shared state (see the module docs).
struct Conn {
    phase: AtomicU8,
    /// When the phase began, in milliseconds since the edge's clock started.
    since_ms: AtomicU64,
    evict: Notify,
}

#[derive(Clone, Copy)]
struct Clock(Instant);

impl Clock {
    fn now_ms(self) -> u64 {
        self.0.elapsed().as_millis() as u64
    }
}

impl Conn {
    fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::AwaitFirst,
            1 => Phase::Busy,
            2 => Phase::Idle,
            _ => Phase::AwaitNext,
        }
    }

    fn enter(&self, phase: Phase, clock: Clock) {
        self.since_ms.store(clock.now_ms(), Ordering::Release);
        self.phase.store(phase as u8, Ordering::Release);
    }
}

/// The connection's socket, noting the first byte of a next request on an idle connection.
struct Tracked {
    inner: TcpStream,
    conn: Arc<Conn>,
    clock: Clock,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let conn = &self.conn;
            if conn
                .phase
                .compare_exchange(
                    Phase::Idle as u8,
                    Phase::AwaitNext as u8,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
            {
                conn.since_ms.store(self.clock.now_ms(), Ordering::Release);
            }
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Why a connection ended, for the metric.
#[derive(Debug, Clone, Copy)]
enum Closed {
    /// The peer closed it, or it was shut down after its last answer.
    Done,
    HeaderTimeout,
    KeepAliveIdle,
    Evicted,
    Error,
    Shutdown,
}

impl Closed {
    fn as_str(self) -> &'static str {
        match self {
            Closed::Done => "done",
            Closed::HeaderTimeout => "header_timeout",
            Closed::KeepAliveIdle => "keep_alive_idle",
            Closed::Evicted => "evicted",
            Closed::Error => "error",
            Closed::Shutdown => "shutdown",
        }
    }
}

/// Serve `router` on `listener` within `limits` until `shutdown`, then let in-flight requests
/// finish for `grace`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: EdgeLimits,
    grace: Duration,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let clock = Clock(Instant::now());
    let stop = CancellationToken::new();
    let hard_stop = CancellationToken::new();
    let tracker = TaskTracker::new();
    let open = Arc::new(AtomicUsize::new(0));
    let mut order: VecDeque<Weak<Conn>> = VecDeque::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // EMFILE/ENFILE (the cap should prevent them), ECONNABORTED, …: the listener is
                // fine; pause briefly so a persistent error does not spin.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        if open.load(Ordering::Acquire) >= limits.max_connections
            && !evict_oldest_waiting(&mut order)
        {
            metrics::counter!("salla_odoo_ingest_connections_closed_total", "reason" => "over_capacity")
                .increment(1);
            tracker.spawn(refuse(stream));
            continue;
        }
        let conn = Arc::new(Conn {
            phase: AtomicU8::new(Phase::AwaitFirst as u8),
            since_ms: AtomicU64::new(clock.now_ms()),
            evict: Notify::new(),
        });
        order.push_back(Arc::downgrade(&conn));
        if order.len() > 2 * limits.max_connections.max(16) {
            order.retain(|w| w.strong_count() > 0);
        }
        let opened = open.fetch_add(1, Ordering::AcqRel) + 1;
        metrics::gauge!("salla_odoo_ingest_open_connections").set(opened as f64);
        let (open, router, stop, hard_stop) = (
            open.clone(),
            router.clone(),
            stop.clone(),
            hard_stop.clone(),
        );
        tracker.spawn(async move {
            let closed = drive(stream, conn, router, limits, clock, stop, hard_stop).await;
            let left = open.fetch_sub(1, Ordering::AcqRel) - 1;
            metrics::gauge!("salla_odoo_ingest_open_connections").set(left as f64);
            metrics::counter!("salla_odoo_ingest_connections_closed_total", "reason" => closed.as_str())
                .increment(1);
        });
    }
    drop(listener);
    tracing::info!(
        grace_ms = grace.as_millis() as u64,
        "shutting down: draining in-flight requests"
    );
    stop.cancel();
    tracker.close();
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        tracing::warn!("shutdown grace period over; closing remaining connections");
        hard_stop.cancel();
        tracker.wait().await;
    }
    Ok(())
}

/// At the cap: tell the oldest connection still waiting for its first request to close. Entries
/// passed over have sent a request (or are gone) and never become candidates again.
fn evict_oldest_waiting(order: &mut VecDeque<Weak<Conn>>) -> bool {
    while let Some(weak) = order.pop_front() {
        if let Some(conn) = weak.upgrade()
            && conn.phase() == Phase::AwaitFirst
        {
            conn.evict.notify_one();
            return true;
        }
    }
    false
}

/// Answer a connection over the cap with a 503 and close it, within a second whatever the peer
/// does (its request is not read: it is not going to be served).
async fn refuse(mut stream: TcpStream) {
    const BODY: &str = r#"{"error":"over_capacity","message":"too many open connections; retry"}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
}

/// Serve one connection until it ends; returns why it did.
async fn drive(
    stream: TcpStream,
    conn: Arc<Conn>,
    router: Router,
    limits: EdgeLimits,
    clock: Clock,
    stop: CancellationToken,
    hard_stop: CancellationToken,
) -> Closed {
    let io = TokioIo::new(Tracked {
        inner: stream,
        conn: conn.clone(),
        clock,
    });
    let service_conn = conn.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let conn = service_conn.clone();
        conn.enter(Phase::Busy, clock);
        let answer = router.clone().oneshot(request.map(axum::body::Body::new));
        async move {
            let response = answer.await;
            conn.enter(Phase::Idle, clock);
            Ok::<_, Infallible>(response.unwrap_or_else(|never| match never {}))
        }
    });
    let keep_alive = !limits.keep_alive_timeout.is_zero();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(keep_alive);
    let connection = builder.serve_connection(io, service);
    let mut connection = std::pin::pin!(connection);
    let mut ending: Option<Closed> = None;
    // Without keep-alive there is no idle phase to watch; the check interval is then irrelevant.
    let check_every = if keep_alive {
        limits.keep_alive_timeout
    } else {
        Duration::from_secs(3600)
    };
    loop {
        let idle_deadline = match conn.phase() {
            Phase::Idle => {
                let since = conn.since_ms.load(Ordering::Acquire);
                clock.0 + Duration::from_millis(since) + limits.keep_alive_timeout
            }
            _ => Instant::now() + check_every,
        };
        tokio::select! {
            result = connection.as_mut() => {
                return match (result, ending) {
                    (_, Some(why)) => why,
                    (Ok(()), None) => Closed::Done,
                    (Err(e), None) if e.is_timeout() => Closed::HeaderTimeout,
                    (Err(e), None) => {
                        tracing::debug!(error = %e, "connection ended with an error");
                        Closed::Error
                    }
                };
            }
            () = stop.cancelled(), if ending.is_none() => {
                connection.as_mut().graceful_shutdown();
                ending = Some(Closed::Shutdown);
            }
            () = hard_stop.cancelled() => return Closed::Shutdown,
            () = conn.evict.notified() => {
                if conn.phase() == Phase::AwaitFirst {
                    return Closed::Evicted;
                }
            }
            () = tokio::time::sleep_until(idle_deadline.into()), if ending.is_none() && keep_alive => {
                let idle_for = clock.now_ms().saturating_sub(conn.since_ms.load(Ordering::Acquire));
                if conn.phase() == Phase::Idle
                    && Duration::from_millis(idle_for) >= limits.keep_alive_timeout
                {
                    connection.as_mut().graceful_shutdown();
                    ending = Some(Closed::KeepAliveIdle);
                }
            }
        }
    }
}
