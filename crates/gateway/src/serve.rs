//! The gateway's HTTP listener, with bounds on what a client may hold:
//!
//! - **connections**: at most [`ServeConfig::max_connections`] at once; beyond that the listener
//!   stops accepting (new clients wait in the kernel's backlog) until one closes;
//! - **header read**: a connection must deliver a complete request head within
//!   [`ServeConfig::header_read_timeout`] of being accepted, and each later request within that
//!   time of its first byte; otherwise it is closed (slow-header clients);
//! - **idle**: a connection with no request in flight and no byte of a new one for
//!   [`ServeConfig::idle_timeout`] is closed (gracefully).
//!
//! Each connection has a watchdog: the socket notes when the first byte of a request head
//! arrives, the service notes when a request starts and when its response has been sent (or
//! dropped), and the watchdog compares those instants with the limits a few times per limit.
//!
//! With TLS ([`serve_with_tls`]) each connection's handshake runs in its own task and must end
//! within the header-read timeout; the limits above then apply to the decrypted stream.

use std::{
    convert::Infallible,
    future::Future,
    net::SocketAddr,
    pin::{Pin, pin},
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::{Router, body::Body, extract::ConnectInfo};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{Semaphore, watch},
};
use tower::ServiceExt as _;

/// Limits of the gateway's HTTP listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeConfig {
    /// Longest time to receive a request head (from the accept, then from a request's first
    /// byte).
    pub header_read_timeout: Duration,
    /// Longest time a connection may sit without a request.
    pub idle_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
        }
    }
}

/// "Not yet" in the millisecond fields of [`Activity`].
const NEVER: u64 = u64::MAX;

/// What a connection is doing, shared by its socket, its service and its watchdog.
#[derive(Debug)]
struct Activity {
    accepted: Instant,
    in_flight: AtomicUsize,
    /// When the first byte of a request head arrived with no request in flight (ms since
    /// `accepted`), until that request starts.
    head_started: AtomicU64,
    /// When the connection last became idle (ms since `accepted`); [`NEVER`] before its first
    /// request.
    idle_since: AtomicU64,
}

/// What the watchdog does with a connection.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Keep,
    /// The request head is late: close at once.
    HeaderTimeout,
    /// Idle for too long: close gracefully.
    Idle,
}

impl Activity {
    fn new() -> Self {
        Self {
            accepted: Instant::now(),
            in_flight: AtomicUsize::new(0),
            head_started: AtomicU64::new(NEVER),
            idle_since: AtomicU64::new(NEVER),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.accepted.elapsed().as_millis()).unwrap_or(NEVER - 1)
    }

    fn bytes_read(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0
            && self.head_started.load(Ordering::Acquire) == NEVER
        {
            let _ = self.head_started.compare_exchange(
                NEVER,
                self.now_ms(),
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
    }

    fn verdict(&self, config: &ServeConfig) -> Verdict {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return Verdict::Keep;
        }
        let now = self.now_ms();
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(NEVER - 1);
        let header = ms(config.header_read_timeout);
        let idle_since = self.idle_since.load(Ordering::Acquire);
        let head_started = self.head_started.load(Ordering::Acquire);
        if idle_since == NEVER {
            // The first request: its head is due within the limit of the accept.
            return if now > header {
                Verdict::HeaderTimeout
            } else {
                Verdict::Keep
            };
        }
        if head_started != NEVER {
            return if now.saturating_sub(head_started) > header {
                Verdict::HeaderTimeout
            } else {
                Verdict::Keep
            };
        }
        if now.saturating_sub(idle_since) > ms(config.idle_timeout) {
            Verdict::Idle
        } else {
            Verdict::Keep
        }
    }
}

/// A request in flight; when dropped (its response sent, or abandoned) the connection may be
/// idle again.
#[derive(Debug)]
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        activity.head_started.store(NEVER, Ordering::Release);
        Self(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let now = self.0.now_ms();
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle_since.store(now, Ordering::Release);
        }
    }
}

/// A response body that keeps its request in flight until it has been sent.
struct Tracked {
    body: Body,
    _in_flight: InFlight,
}

impl http_body::Body for Tracked {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// A connection's byte stream: plain TCP or TLS over it.
trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// The socket, noting the bytes that start a request head.
struct Watched {
    io: Box<dyn Io>,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// The router as one connection's service: the peer as [`ConnectInfo`], requests tracked.
#[derive(Clone)]
struct ConnService {
    router: Router,
    peer: SocketAddr,
    activity: Arc<Activity>,
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        let in_flight = InFlight::start(self.activity.clone());
        req.extensions_mut().insert(ConnectInfo(self.peer));
        let router = self.router.clone();
        Box::pin(async move {
            let resp = router.oneshot(req).await?;
            Ok(resp.map(|body| {
                Body::new(Tracked {
                    body,
                    _in_flight: in_flight,
                })
            }))
        })
    }
}

/// How often a watchdog looks at its connection: a quarter of the shorter limit, between 10 ms
/// and 1 s.
fn tick(config: &ServeConfig) -> Duration {
    (config.header_read_timeout.min(config.idle_timeout) / 4)
        .clamp(Duration::from_millis(10), Duration::from_secs(1))
}

/// Serve one connection until it ends, `stop` asks for a graceful end, or its watchdog ends it.
async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    router: Router,
    config: ServeConfig,
    tls: Option<identity_tls::TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
) {
    let io: Box<dyn Io> = match tls {
        None => Box::new(tcp),
        Some(acceptor) => {
            match tokio::time::timeout(config.header_read_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => Box::new(stream),
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, %peer, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake not done in time: connection closed");
                    return;
                }
            }
        }
    };
    let activity = Arc::new(Activity::new());
    let service = ConnService {
        router,
        peer,
        activity: activity.clone(),
    };
    let io = TokioIo::new(Watched {
        io,
        activity: activity.clone(),
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let mut conn = pin!(builder.serve_connection_with_upgrades(io, service));
    let mut closing = false;
    let mut ticks = tokio::time::interval(tick(&config));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, %peer, "HTTP connection ended with an error");
                }
                return;
            }
            _ = stop.changed(), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = ticks.tick(), if !closing => match activity.verdict(&config) {
                Verdict::Keep => {}
                Verdict::HeaderTimeout => {
                    tracing::debug!(%peer, "request head not received in time: connection closed");
                    return;
                }
                Verdict::Idle => {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            },
        }
    }
}

/// Serve `router` on `listener` within `config`'s limits until `shutdown` completes, then let
/// the open connections finish their requests and close.
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with_tls(listener, router, config, None, shutdown).await
}

/// [`serve_with`], over TLS when `tls` is given (HTTPS on the same limits).
pub async fn serve_with_tls(
    listener: TcpListener,
    router: Router,
    config: ServeConfig,
    tls: Option<identity_tls::TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let max = config.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    loop {
        // A slot first: while every slot is taken, new clients wait in the backlog.
        let slot = tokio::select! {
            () = shutdown.as_mut() => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(s) => s,
                Err(_) => break,
            },
        };
        let (io, peer) = tokio::select! {
            () = shutdown.as_mut() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // E.g. out of file descriptors: back off instead of spinning.
                    tracing::warn!(error = %e, "accepting an HTTP connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        if let Err(e) = io.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY");
        }
        let router = router.clone();
        let stop = stop_rx.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            connection(io, peer, router, config, tls, stop).await;
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every slot back: every connection has closed.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ServeConfig {
        ServeConfig {
            header_read_timeout: Duration::from_millis(100),
            idle_timeout: Duration::from_millis(300),
            max_connections: 1,
        }
    }

    #[test]
    fn a_connection_is_judged_by_its_state() {
        let c = config();
        let a = Activity::new();
        assert_eq!(a.verdict(&c), Verdict::Keep);
        // No request head within the limit of the accept.
        let late = Activity {
            accepted: Instant::now() - Duration::from_millis(150),
            ..Activity::new()
        };
        assert_eq!(late.verdict(&c), Verdict::HeaderTimeout);
        // A request in flight is never cut here (the request deadline is elsewhere).
        late.in_flight.store(1, Ordering::Release);
        assert_eq!(late.verdict(&c), Verdict::Keep);
        late.in_flight.store(0, Ordering::Release);
        // Idle since 0 ms, now 150 ms: within the idle limit; a head started at 20 ms is late.
        late.idle_since.store(0, Ordering::Release);
        assert_eq!(late.verdict(&c), Verdict::Keep);
        late.head_started.store(20, Ordering::Release);
        assert_eq!(late.verdict(&c), Verdict::HeaderTimeout);
        // Idle for longer than the idle limit.
        let idle = Activity {
            accepted: Instant::now() - Duration::from_millis(400),
            ..Activity::new()
        };
        idle.idle_since.store(50, Ordering::Release);
        assert_eq!(idle.verdict(&c), Verdict::Idle);
    }
}
