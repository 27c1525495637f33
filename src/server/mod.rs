//! Starting and stopping the whole server: data dir, TLS, store, core, listener, and the order in
//! which they are shut down.

mod conn;

use std::net::SocketAddr;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::config::Settings;
use crate::core::{Core, CoreError, RecordStart, RecordStop, StartReport};
use crate::http::{AppState, router};
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};
use crate::tls::{CertResolver, Tls, TlsError};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Why the server could not start; each says what to do in one line.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: SocketAddr, reason: String },
    #[error("cannot use the data dir {path}: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("cannot record the start in the database: {0}")]
    Core(#[from] CoreError),
}

/// A server that is accepting connections.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub store: Store,
    pub core: Core,
    pub boot: StartReport,
    pub metrics: Arc<Metrics>,
    resolver: Arc<CertResolver>,
    stop: watch::Sender<bool>,
    accept: JoinHandle<()>,
    tls_watch: Option<JoinHandle<()>>,
    slots: Arc<Semaphore>,
    max_connections: u32,
    grace: Duration,
    writer: std::thread::JoinHandle<()>,
}

/// Starts everything and returns once the listener accepts connections.
pub async fn start(settings: Settings) -> Result<RunningServer, StartError> {
    let listener = bind(settings.listen).await?;
    let addr =
        listener.local_addr().map_err(|err| StartError::Listen { addr: settings.listen, reason: err.to_string() })?;
    prepare_data_dir(&settings.data_dir)?;
    let tls = Tls::setup(settings.tls.files.as_ref(), &settings.data_dir)?;
    let (store, opened) = Store::open(&settings.data_dir)?;
    let metrics = Arc::new(Metrics::new());
    let (core, writer) = Core::spawn(store.clone(), Arc::clone(&metrics.core))?;
    let boot = core.call(RecordStart { version: VERSION.to_owned(), at: now_millis() }).await?;
    report_previous_run(&boot, opened.millis);

    let max_connections = u32::try_from(settings.http.max_connections).unwrap_or(u32::MAX);
    let slots = Arc::new(Semaphore::new(max_connections as usize));
    let grace = settings.http.shutdown_grace;
    let tls_watch = tls
        .watched
        .clone()
        .map(|(files, loaded)| tokio::spawn(crate::tls::watch(Arc::clone(&tls.resolver), files, loaded)));
    let http = settings.http.clone();
    let state = AppState {
        settings: Arc::new(settings),
        store: store.clone(),
        core: core.clone(),
        metrics: Arc::clone(&metrics),
        started: Instant::now(),
    };
    let shared = Arc::new(conn::Listener {
        acceptor: TlsAcceptor::from(Arc::clone(&tls.server_config)),
        router: router(state),
        http,
        metrics: Arc::clone(&metrics),
        slots: Arc::clone(&slots),
    });
    let (stop, stopped) = watch::channel(false);
    let accept = tokio::spawn(conn::accept_loop(listener, shared, stopped));
    tracing::info!(version = VERSION, data = %store.path().display(), "centralita listening on https://{addr}");
    if addr.ip().is_unspecified() {
        tracing::info!("on every network interface; from this machine open https://localhost:{}/", addr.port());
    }
    tracing::info!(fingerprint = %tls.resolver.fingerprint(), "TLS certificate SHA-256");
    Ok(RunningServer {
        addr,
        store,
        core,
        boot,
        metrics,
        resolver: tls.resolver,
        stop,
        accept,
        tls_watch,
        slots,
        max_connections,
        grace,
        writer,
    })
}

impl RunningServer {
    /// SHA-256 fingerprint of the certificate being served.
    pub fn fingerprint(&self) -> String {
        self.resolver.fingerprint()
    }

    /// Stops accepting, lets requests in flight finish (up to the grace period), records the clean
    /// stop and closes the database.
    pub async fn shutdown(self) -> Result<(), CoreError> {
        let _ = self.stop.send(true);
        let _ = self.accept.await;
        if let Some(watch) = &self.tls_watch {
            watch.abort();
        }
        if tokio::time::timeout(self.grace, self.slots.acquire_many(self.max_connections)).await.is_err() {
            let open = self.max_connections as usize - self.slots.available_permits();
            tracing::warn!(open, "connections still open after the grace period; stopping anyway");
        }
        self.core.call(RecordStop { seq: self.boot.seq, at: now_millis() }).await?;
        let RunningServer { core, store, writer, .. } = self;
        drop((core, store));
        // The writer ends once every handle is gone; a connection still open may hold one.
        let joined = tokio::task::spawn_blocking(move || writer.join());
        if tokio::time::timeout(Duration::from_secs(2), joined).await.is_err() {
            tracing::warn!("the core did not stop in time; the database will be checked at next start");
        }
        tracing::info!("centralita stopped");
        Ok(())
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr).await.map_err(|err| {
        let reason = match err.kind() {
            std::io::ErrorKind::AddrInUse => {
                "the address is already in use (is another server running on that port?)".to_owned()
            }
            std::io::ErrorKind::PermissionDenied => "permission denied (ports below 1024 need privileges)".to_owned(),
            std::io::ErrorKind::AddrNotAvailable => "no network interface has that address".to_owned(),
            _ => err.to_string(),
        };
        StartError::Listen { addr, reason }
    })
}

/// Creates the data dir and proves it is writable before anything else is put there.
fn prepare_data_dir(path: &Path) -> Result<(), StartError> {
    let fail = |source| StartError::DataDir { path: path.to_path_buf(), source };
    // Owner-only: the folder holds the database and the TLS private key.
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(path).map_err(fail)?;
    let probe = path.join(".write-test");
    std::fs::write(&probe, b"ok").map_err(fail)?;
    std::fs::remove_file(&probe).map_err(fail)
}

fn report_previous_run(boot: &StartReport, open_millis: u128) {
    match &boot.previous {
        Some(previous) if previous.stopped_at.is_none() => tracing::warn!(
            previous_start = %crate::domain::clock::iso8601(previous.started_at),
            open_ms = open_millis as u64,
            "the previous run did not stop cleanly; the database was recovered to its last commit"
        ),
        Some(_) => tracing::info!(start = boot.seq, open_ms = open_millis as u64, "database opened"),
        None => tracing::info!(open_ms = open_millis as u64, "new database created"),
    }
}

/// Milliseconds since the Unix epoch: the time unit of everything stored.
pub fn now_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
}
