//! The HTTP API and web UI: the router, its layers, errors as JSON, and the handlers (one file per
//! resource). Handlers are thin: parse, check permission, call the store or the core, map the result.

mod admin;
pub mod agents;
mod assets;
mod auth;
mod channels;
pub mod conversations;
mod error;
mod extract;
mod groups;
pub mod guard;
pub mod live_socket;
mod me;
mod middleware;
pub mod query;
pub mod routes;
mod rules;
pub mod sockets;
mod system;
mod users;
mod views;
pub mod visitor_hub;
mod widget;
mod widget_socket;
pub mod ws;
mod ws_access;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::routing::any;
use tokio::sync::Notify;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;

pub use error::ApiError;
pub use system::OPENAPI;

// The inbound bodies and their parser, public for the fuzz targets in `fuzz/`.
pub use channels::Inbound;
pub use extract::parse_body;
pub use widget::{NewVisitor, VisitorMessage};

use crate::auth::{Guard, Passwords};
use crate::clock::Clock;
use crate::config::Settings;
use crate::core::Core;
use crate::domain::access::Capability;
use crate::domain::session::SessionLimits;
use crate::metrics::Metrics;
use crate::store::{Reader, Store, StoreError};

/// The most a JSON request body may be (larger bodies get 413 before being read whole).
const BODY_LIMIT: usize = 64 * 1024;

/// The whole body must arrive within this time once the headers have.
pub const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What every handler may use. Passed explicitly, never global, so several servers can run in one
/// process (as the tests do). One `Arc`: the router clones the state for each layer of each
/// request, and a clone of every handle was a fifth of the atomic traffic of a request.
#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

impl AppState {
    pub fn new(inner: AppStateInner) -> AppState {
        AppState(Arc::new(inner))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppStateInner;

    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

pub struct AppStateInner {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub core: Core,
    pub metrics: Arc<Metrics>,
    pub started: Instant,
    pub clock: Clock,
    pub passwords: Passwords,
    pub guard: Arc<Guard>,
    /// Base of links in e-mails, without a trailing slash.
    pub public_url: Arc<str>,
    /// Woken when mail is queued, so the mailer sends it at once.
    pub mail_queued: Arc<Notify>,
    /// Links of queued mail held in memory until sent (the outbox page shows them meanwhile).
    pub mail_vault: crate::core::MailVault,
    /// Turns true when the server stops: long-lived tasks (WebSockets) end on it.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    /// Who has a staff WebSocket open (agents' presence).
    pub presence: crate::jobs::presence::Presence,
    /// (method, route) → what it needs, from `routes::table`.
    pub capabilities: Arc<HashMap<(Method, String), Capability>>,
    /// The rules in force.
    pub rules: crate::rules::Rules,
    /// The writer's snapshot of live views (queues, places, agents' figures, panel), newest first.
    pub live: crate::core::LiveView,
    /// Open WebSockets per user and per visitor.
    pub sockets: Arc<sockets::Sockets>,
    /// The core's events for the visitor sockets they concern.
    pub visitor_hub: Arc<visitor_hub::VisitorHub>,
}

impl AppState {
    /// Runs a read transaction off the async threads.
    pub async fn read<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Reader) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.read().and_then(|reader| query(&reader)))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::from)
    }

    /// Runs a small read (point lookups by key) on the calling thread. A trip to the blocking pool
    /// costs more than such a read; use `read` for anything that scans.
    pub fn read_now<T>(&self, query: impl FnOnce(&Reader) -> Result<T, StoreError>) -> Result<T, ApiError> {
        self.store.read().and_then(|reader| query(&reader)).map_err(ApiError::from)
    }

    pub fn session_limits(&self) -> SessionLimits {
        let millis = |duration: std::time::Duration| u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        SessionLimits {
            idle_ms: millis(self.settings.auth.session_idle),
            max_ms: millis(self.settings.auth.session_max),
        }
    }

    pub fn capability_table() -> Arc<HashMap<(Method, String), Capability>> {
        Arc::new(
            routes::table()
                .into_iter()
                .map(|route| ((route.method, route.path.to_owned()), route.capability))
                .collect(),
        )
    }
}

pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for route in routes::table() {
        router = router.route(route.path, (route.handler)());
    }
    router
        .route(guard::CATCH_ALL[0], any(api_not_found))
        .route(guard::CATCH_ALL[1], any(api_not_found))
        .fallback(assets::serve)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard::authorize))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn(middleware::refuse_oversized))
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::trace))
        .layer(CompressionLayer::new())
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::security_headers))
        .with_state(state)
}

async fn api_not_found() -> ApiError {
    ApiError::route_not_found()
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}
