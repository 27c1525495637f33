//! Starting and stopping the whole server: data dir, TLS, store, core, listener, and the order in
//! which they are shut down.

mod conn;

pub use conn::ConnectionSlot;

use std::net::SocketAddr;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::auth::{Guard, Passwords};
use crate::clock::Clock;
use crate::config::Settings;
use crate::core::{
    AdoptLegacyMail, Core, CoreError, EnsureFirstAdmin, IndexContactConversations, IndexForRetention, MailLinks,
    MailVault, NewLink, RecordStart, RecordStop, SetAssignHook, SetMailLinks, SetPublicUrl, StartReport,
};
use crate::domain::retention::Retention;
use crate::domain::secret;
use crate::domain::session::SessionLimits;
use crate::http::{AppState, router};
use crate::jobs::mailer::Mailer;
use crate::jobs::presence::Presence;
use crate::jobs::retention::RetentionJob;
use crate::jobs::rules::RuleJobs;
use crate::jobs::webhooks::Webhooks;
use crate::metrics::Metrics;
use crate::rules::Rules;
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
    pub clock: Clock,
    /// Base of links in e-mails (`public_url`, or https://localhost:<port>).
    pub public_url: String,
    /// The first administrator's one-time setup link, when this start created them.
    pub setup_link: Option<String>,
    /// The rules in force (hot-reloaded from `rules.dir`).
    pub rules: Rules,
    resolver: Arc<CertResolver>,
    mailer: JoinHandle<()>,
    webhooks: JoinHandle<()>,
    rule_jobs: JoinHandle<()>,
    /// Runs the retention job now (tests, after moving the clock).
    pub retention: crate::jobs::retention::Trigger,
    retention_job: JoinHandle<()>,
    stop: crate::shutdown::StopSender,
    accept: JoinHandle<()>,
    tls_watch: Option<JoinHandle<()>>,
    slots: Arc<Semaphore>,
    max_connections: u32,
    grace: Duration,
    writer: std::thread::JoinHandle<()>,
}

/// Starts everything and returns once the listener accepts connections.
pub async fn start(settings: Settings) -> Result<RunningServer, StartError> {
    start_with_clock(settings, Clock::default()).await
}

/// As `start`, with a clock the caller can move (tests of expiry).
pub async fn start_with_clock(settings: Settings, clock: Clock) -> Result<RunningServer, StartError> {
    // One crypto provider for every TLS client and server in the process (webhooks use it too).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = bind(settings.listen).await?;
    let addr =
        listener.local_addr().map_err(|err| StartError::Listen { addr: settings.listen, reason: err.to_string() })?;
    prepare_data_dir(&settings.data_dir)?;
    let tls = Tls::setup(settings.tls.files.as_ref(), &settings.data_dir)?;
    let (store, opened) = Store::open(&settings.data_dir)?;
    let metrics = Arc::new(Metrics::new());
    let (core, writer) = Core::spawn(store.clone(), Arc::clone(&metrics.core))?;
    let boot = core.call(RecordStart { version: VERSION.to_owned(), at: clock.now() }).await?;
    report_previous_run(&boot, opened.millis);
    let public_url = settings.public_url.clone().unwrap_or_else(|| format!("https://localhost:{}", addr.port()));
    core.call(SetPublicUrl { url: public_url.clone() }).await?;
    let mail_links = MailLinks { vault: MailVault::default(), in_outbox: settings.smtp.url.is_none() };
    core.call(SetMailLinks { links: mail_links.clone() }).await?;
    let adopted = core.call(AdoptLegacyMail { at: clock.now() }).await?;
    if adopted > 0 {
        tracing::info!(mails = adopted, "invite and reset links were taken out of the text of older mail");
    }
    let indexed = core.call(IndexForRetention).await?;
    if indexed > 0 {
        tracing::info!(entries = indexed, "indexes of pending mail and of old records were built for this database");
    }
    let indexed = core.call(IndexContactConversations).await?;
    if indexed > 0 {
        tracing::info!(entries = indexed, "the index of each contact's conversations was built for this database");
    }
    let setup_link = ensure_first_admin(&core, &settings.admin_email, &public_url, clock.now()).await?;
    let rules = load_rules(&settings.rules.dir);
    core.call(SetAssignHook { on: rules.has("assign"), at: clock.now() }).await?;

    let max_connections = u32::try_from(settings.http.max_connections).unwrap_or(u32::MAX);
    let slots = Arc::new(Semaphore::new(max_connections as usize));
    let grace = settings.http.shutdown_grace;
    let tls_watch = tls
        .watched
        .clone()
        .map(|(files, loaded)| tokio::spawn(crate::tls::watch(Arc::clone(&tls.resolver), files, loaded)));
    let http = settings.http.clone();
    let routing = settings.routing.clone();
    let mail_queued = Arc::new(Notify::new());
    let (stop, stopped) = crate::shutdown::channel();
    let mailer = Mailer {
        store: store.clone(),
        core: core.clone(),
        clock: clock.clone(),
        smtp: settings.smtp.clone(),
        queued: Arc::clone(&mail_queued),
        vault: mail_links.vault.clone(),
        public_url: public_url.clone(),
    };
    let mailer = tokio::spawn(mailer.run(stopped.clone()));
    let webhooks = Webhooks { store: store.clone(), core: core.clone(), clock: clock.clone() };
    let webhooks = tokio::spawn(webhooks.run(stopped.clone()));
    let rule_jobs = RuleJobs {
        rules: rules.clone(),
        store: store.clone(),
        core: core.clone(),
        clock: clock.clone(),
        sweep: settings.rules.sweep,
    };
    let rule_jobs = tokio::spawn(rule_jobs.run(stopped.clone()));
    let retention = crate::jobs::retention::Trigger::default();
    let retention_job = RetentionJob {
        core: core.clone(),
        clock: clock.clone(),
        retention: retention_of(&settings),
        trigger: retention.clone(),
    };
    let retention_job = tokio::spawn(retention_job.run(stopped.clone()));
    let state = AppState::new(crate::http::AppStateInner {
        guard: Arc::new(Guard::new(&settings.auth)),
        settings: Arc::new(settings),
        store: store.clone(),
        core: core.clone(),
        metrics: Arc::clone(&metrics),
        started: Instant::now(),
        clock: clock.clone(),
        passwords: Passwords::default(),
        public_url: Arc::from(public_url.as_str()),
        mail_queued,
        mail_vault: mail_links.vault,
        presence: Presence::new(
            core.clone(),
            clock.clone(),
            routing.presence_grace,
            routing.offline_return,
            stopped.clone(),
        ),
        stopping: stopped.clone(),
        capabilities: AppState::capability_table(),
        rules: rules.clone(),
        live: core.call(crate::core::WatchLive).await?,
        sockets: Arc::default(),
        visitor_hub: crate::http::visitor_hub::VisitorHub::spawn(core.subscribe(), stopped.clone()),
    });
    let shared = Arc::new(conn::Listener {
        acceptor: TlsAcceptor::from(Arc::clone(&tls.server_config)),
        router: router(state),
        http,
        metrics: Arc::clone(&metrics),
        slots: Arc::clone(&slots),
    });
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
        clock,
        public_url,
        setup_link,
        rules,
        resolver: tls.resolver,
        mailer,
        webhooks,
        rule_jobs,
        retention,
        retention_job,
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
        let _ = self.mailer.await;
        let _ = self.webhooks.await;
        let _ = self.rule_jobs.await;
        let _ = self.retention_job.await;
        self.core.call(RecordStop { seq: self.boot.seq, at: self.clock.now() }).await?;
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

/// The retention job's settings: the `retention.*` days and the session limits.
fn retention_of(settings: &Settings) -> Retention {
    let millis = |duration: Duration| u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    let sessions =
        SessionLimits { idle_ms: millis(settings.auth.session_idle), max_ms: millis(settings.auth.session_max) };
    Retention::from_days(settings.retention.webhook_deliveries_days, settings.retention.mail_days, sessions)
}

/// On an empty database, creates the first administrator and prints the one-time setup link to the
/// log, once (R-ACC-1). Returns the link when it was made.
async fn ensure_first_admin(core: &Core, email: &str, public_url: &str, now: u64) -> Result<Option<String>, CoreError> {
    let token = secret::new_token("in_");
    let url = format!("{public_url}/invite#token={token}");
    let link = NewLink { hash: secret::hash(&token), url: url.clone() };
    let created = core.call(EnsureFirstAdmin { email: email.to_owned(), link, at: now }).await?;
    Ok(created.map(|admin| {
        tracing::warn!(
            email = %admin.email,
            "first start: administrator created. Open this one-time link (valid 7 days) to set its password: {url}"
        );
        url
    }))
}

/// Loads the rules folder and says in the log what is in force.
fn load_rules(dir: &Path) -> Rules {
    let rules = Rules::load(Some(dir.to_path_buf()));
    let status = rules.status();
    let broken = status.files.iter().filter(|file| file.error.is_some()).count();
    if !dir.is_dir() {
        tracing::info!(dir = %dir.display(), "no rules folder; rules start working when one appears");
    } else {
        tracing::info!(dir = %dir.display(), files = status.files.len(), broken, "rules loaded");
    }
    rules
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
