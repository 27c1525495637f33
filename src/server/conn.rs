//! Accepting connections: a cap on how many are served at once, a TLS handshake deadline, hyper's
//! HTTP/1.1 and HTTP/2 with header-read timeouts, an idle timeout, and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::HttpService;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::config::HttpSettings;
use crate::metrics::Metrics;
use crate::shutdown::stop_requested;

/// Everything a connection task needs, shared by all of them.
pub struct Listener {
    pub acceptor: TlsAcceptor,
    pub router: Router,
    pub http: HttpSettings,
    pub metrics: Arc<Metrics>,
    pub slots: Arc<Semaphore>,
}

/// Accepts until `shutdown` turns true; each connection runs in its own task holding a slot.
pub async fn accept_loop(listener: TcpListener, shared: Arc<Listener>, mut shutdown: watch::Receiver<bool>) {
    let builders = Arc::new(Builders::new(&shared.http));
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // Out of file descriptors and the like: wait a moment rather than spin.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop_requested(&mut shutdown) => break,
        };
        let Ok(permit) = Arc::clone(&shared.slots).try_acquire_owned() else {
            shared.metrics.http.connections_refused.inc();
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let slot = ConnectionSlot::new(permit, Arc::clone(&shared.metrics));
        let task = Connection { shared: Arc::clone(&shared), builders: Arc::clone(&builders), peer, slot };
        tokio::spawn(task.serve(stream, shutdown.clone()));
    }
}

/// One HTTP builder per protocol, chosen by the ALPN the TLS handshake agreed on. (hyper-util's
/// auto-detection first waits for the client's opening bytes with no deadline, which would defeat the
/// header timeout.)
struct Builders {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
}

impl Builders {
    fn new(http: &HttpSettings) -> Self {
        let mut http1 = http1::Builder::new();
        http1.timer(TokioTimer::new()).header_read_timeout(http.header_read_timeout).keep_alive(true);
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .keep_alive_interval(Some(Duration::from_secs(30)))
            .keep_alive_timeout(Duration::from_secs(20))
            .max_concurrent_streams(256);
        Builders { http1, http2 }
    }
}

/// A hyper connection that can be asked to finish its requests in flight and close.
trait Graceful: Future<Output = Result<(), hyper::Error>> {
    fn close_gracefully(self: Pin<&mut Self>);
}

impl<I, S, B> Graceful for http1::UpgradeableConnection<I, S>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn close_gracefully(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl<I, S, B> Graceful for http2::Connection<I, S, TokioExecutor>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: HttpService<Incoming, ResBody = B>,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn close_gracefully(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// A connection's place under `http.max_connections`, counted as open until the last clone is
/// dropped: the connection task holds one, and each request carries one in its extensions, which
/// a WebSocket handler keeps for as long as the socket is open (hyper's connection task ends at
/// the upgrade). Shutdown waits for every slot.
#[derive(Clone)]
pub struct ConnectionSlot {
    _held: Arc<SlotHeld>,
}

struct SlotHeld {
    _permit: OwnedSemaphorePermit,
    metrics: Arc<Metrics>,
}

impl ConnectionSlot {
    fn new(permit: OwnedSemaphorePermit, metrics: Arc<Metrics>) -> ConnectionSlot {
        metrics.http.connections_open.inc();
        ConnectionSlot { _held: Arc::new(SlotHeld { _permit: permit, metrics }) }
    }
}

impl Drop for SlotHeld {
    fn drop(&mut self) {
        self.metrics.http.connections_open.dec();
    }
}

struct Connection {
    shared: Arc<Listener>,
    builders: Arc<Builders>,
    peer: SocketAddr,
    slot: ConnectionSlot,
}

impl Connection {
    async fn serve(self, stream: TcpStream, shutdown: watch::Receiver<bool>) {
        let http = &self.shared.metrics.http;
        let handshake =
            tokio::time::timeout(self.shared.http.tls_handshake_timeout, self.shared.acceptor.accept(stream));
        let tls = match handshake.await {
            Ok(Ok(tls)) => tls,
            Ok(Err(err)) => {
                http.tls_handshake_failures.inc();
                tracing::debug!(peer = %self.peer, error = %err, "TLS handshake failed");
                return;
            }
            Err(_) => {
                http.tls_handshake_failures.inc();
                tracing::debug!(peer = %self.peer, "TLS handshake timed out");
                return;
            }
        };
        let activity = Arc::new(Activity::new());
        let is_http2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        let io = TokioIo::new(Tracked { inner: tls, activity: Arc::clone(&activity) });
        let peer = self.peer;
        let slot = self.slot.clone();
        let service = self.shared.router.clone().map_request(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request.extensions_mut().insert(slot.clone());
            request
        });
        let service = TowerToHyperService::new(service);
        let result = if is_http2 {
            let connection = self.builders.http2.serve_connection(io, service);
            self.drive(connection, &activity, shutdown).await
        } else {
            let connection = self.builders.http1.serve_connection(io, service).with_upgrades();
            self.drive(connection, &activity, shutdown).await
        };
        if let Err(err) = result {
            tracing::debug!(peer = %self.peer, error = %err, "connection ended with an error");
        }
    }

    /// Runs the connection to its end, closing it gracefully on shutdown or when idle too long.
    async fn drive(
        &self,
        connection: impl Graceful,
        activity: &Activity,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), hyper::Error> {
        tokio::pin!(connection);
        let idle_limit = self.shared.http.idle_timeout;
        let mut idle_check = tokio::time::interval(idle_limit.min(Duration::from_secs(5)));
        let mut closing = false;
        loop {
            tokio::select! {
                result = connection.as_mut() => return result,
                _ = stop_requested(&mut shutdown), if !closing => {
                    connection.as_mut().close_gracefully();
                    closing = true;
                }
                _ = idle_check.tick(), if !closing => {
                    if activity.idle_for() >= idle_limit {
                        connection.as_mut().close_gracefully();
                        closing = true;
                    }
                }
            }
        }
    }
}

/// When a connection last moved a byte either way.
struct Activity {
    origin: Instant,
    last_millis: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Activity { origin: Instant::now(), last_millis: AtomicU64::new(0) }
    }

    fn touch(&self) {
        let now = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_millis.store(now, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_millis.load(Ordering::Relaxed));
        self.origin.elapsed().saturating_sub(last)
    }
}

/// A stream that records its activity for the idle timeout.
struct Tracked<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
