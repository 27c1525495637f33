//! Operations endpoints: health, Prometheus metrics and the OpenAPI document.

use std::net::IpAddr;
use std::time::Duration;

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::guard::ClientIp;
use super::{ApiError, AppState};
use crate::domain::secret::constant_time_eq;

/// The API contract, served as it is. A test keeps it in step with the router.
pub const OPENAPI: &str = include_str!("openapi.json");

/// How long the writer may take to answer `/healthz`'s no-op before the server is reported down.
const WRITER_ANSWER: Duration = Duration::from_secs(1);

/// `GET /healthz`: 200 with the version while the database answers reads and the writer takes a
/// no-op from its queue within a second (a writer that stopped or is stuck would otherwise leave
/// a server that reads fine and fails every write).
pub async fn health(State(state): State<AppState>) -> Result<Response, ApiError> {
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || store.read().and_then(|read| read.schema_version()))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::unavailable)?;
    match tokio::time::timeout(WRITER_ANSWER, state.core.probe()).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => return Err(ApiError::writer_unavailable(err)),
        Err(_) => return Err(ApiError::writer_unavailable("no answer within 1 s")),
    }
    let body = json!({
        "status": "ok",
        "writer": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_secs": state.started.elapsed().as_secs(),
    });
    Ok(Json(body).into_response())
}

/// `GET /metrics`: Prometheus text, for loopback clients or with the configured bearer token.
/// The client is judged after trusted-proxy resolution (`guard::client_address`, stored by the
/// permission check): behind a proxy on the same box every request arrives from loopback, and
/// must not be served for that; a request from a trusted proxy without X-Forwarded-For needs the
/// token.
pub async fn metrics(
    State(state): State<AppState>,
    Extension(ClientIp(client)): Extension<ClientIp>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !metrics_allowed(client, &headers, state.settings.metrics_token.as_deref()) {
        return Err(ApiError::forbidden(
            "Metrics are served to loopback clients, or with the token set in metrics.token.",
        ));
    }
    let content_type = HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8");
    Ok(([(header::CONTENT_TYPE, content_type)], state.metrics.render()).into_response())
}

pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], OPENAPI).into_response()
}

/// Loopback clients always; others only with the configured token.
fn metrics_allowed(client: IpAddr, headers: &HeaderMap, token: Option<&str>) -> bool {
    client.is_loopback() || token.is_some_and(|token| bearer_matches(headers, token))
}

fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or("");
    constant_time_eq(given.as_bytes(), token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_is_json_for_this_version() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    }

    #[test]
    fn metrics_need_loopback_or_the_token() {
        let remote: IpAddr = "192.0.2.7".parse().unwrap();
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let mut with_token = HeaderMap::new();
        with_token.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer s3cret"));
        assert!(metrics_allowed(local, &HeaderMap::new(), None));
        assert!(!metrics_allowed(remote, &HeaderMap::new(), None));
        assert!(!metrics_allowed(remote, &with_token, None), "no token configured: nobody remote");
        assert!(metrics_allowed(remote, &with_token, Some("s3cret")));
        assert!(!metrics_allowed(remote, &with_token, Some("other")));
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }
}
