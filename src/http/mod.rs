//! The HTTP API and web UI: the router, its layers, errors as JSON, and the handlers (one file per
//! resource). Handlers are thin: parse, check permission, call the store or the core, map the result.

mod assets;
mod error;
mod middleware;
mod system;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::routing::{any, get};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;

pub use error::ApiError;
pub use system::OPENAPI;

use crate::config::Settings;
use crate::core::Core;
use crate::metrics::Metrics;
use crate::store::Store;

/// What every handler may use. Passed explicitly, never global, so several servers can run in one
/// process (as the tests do).
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub core: Core,
    pub metrics: Arc<Metrics>,
    pub started: Instant,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(system::health))
        .route("/metrics", get(system::metrics))
        .route("/api/v1/openapi.json", get(system::openapi))
        .route("/api", any(api_not_found))
        .route("/api/{*rest}", any(api_not_found))
        .fallback(assets::serve)
        .method_not_allowed_fallback(method_not_allowed)
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
