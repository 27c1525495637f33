//! Layers every response goes through: security headers, a span and a log line per request, and
//! the request metrics.

use std::time::Instant;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::{ApiError, AppState};
use crate::metrics::RequestLabels;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
                   media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; \
                   base-uri 'none'; frame-ancestors 'self'; form-action 'self'";

const FIXED: &[(&str, &str)] = &[
    ("content-security-policy", CSP),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "SAMEORIGIN"),
    ("cross-origin-opener-policy", "same-origin"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=()"),
];

pub async fn security_headers(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // The widget's endpoints are called from customers' sites: open to any origin (no cookies are
    // involved; a visitor token travels in the Authorization header).
    let widget = request.uri().path().starts_with("/widget/v1/");
    if widget && request.method() == Method::OPTIONS {
        let mut preflight = StatusCode::NO_CONTENT.into_response();
        add_cors(preflight.headers_mut());
        preflight.headers_mut().insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        return preflight;
    }
    let mut response = next.run(request).await;
    if widget {
        add_cors(response.headers_mut());
    }
    let headers = response.headers_mut();
    for (name, value) in FIXED {
        headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
    // Only with a real certificate: HSTS on a self-signed one would lock browsers out for a year.
    if state.settings.tls.files.is_some() {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    }
    response
}

fn add_cors(headers: &mut axum::http::HeaderMap) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("authorization, content-type"));
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, OPTIONS"));
}

/// A body announced larger than any route accepts is refused at once, before a byte of it is read
/// (the limit would stop it later, but only after the client sent the limit's worth).
pub async fn refuse_oversized(request: Request, next: Next) -> Response {
    let announced = request.headers().get(header::CONTENT_LENGTH).and_then(|value| value.to_str().ok());
    if announced.and_then(|text| text.parse::<u64>().ok()).is_some_and(|length| length > super::BODY_LIMIT as u64) {
        let mut response = ApiError::payload_too_large().into_response();
        // Said out loud for HTTP/1.1 clients: the connection ends with the unread body (HTTP/2
        // ends just this stream, and has no such header).
        if request.version() <= axum::http::Version::HTTP_11 {
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        return response;
    }
    next.run(request).await
}

/// One span per request (method, route, status, time) and one access-log line at its end, under the
/// target `centralita::access` so it can be filtered on its own.
pub async fn trace(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("fallback", MatchedPath::as_str).to_owned();
    let method = method_label(request.method());
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip());
    let span = tracing::info_span!(
        "request",
        method,
        route = %route,
        peer = peer.map(tracing::field::display),
        status = tracing::field::Empty,
        ms = tracing::field::Empty
    );
    let started = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let took = started.elapsed();
    let status = response.status().as_u16();
    let ms = (took.as_secs_f64() * 10_000.0).round() / 10.0;
    span.record("status", status);
    span.record("ms", ms);
    tracing::info!(target: "centralita::access", parent: &span, "answered");
    let http = &state.metrics.http;
    http.requests.get_or_create(&RequestLabels { method: method.to_owned(), route, status }).inc();
    http.duration.observe(took.as_secs_f64());
    response
}

/// Methods as metric labels; anything unusual is one label, so clients cannot grow the series.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [(Method, &str); 7] = [
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::PATCH, "PATCH"),
        (Method::DELETE, "DELETE"),
        (Method::OPTIONS, "OPTIONS"),
    ];
    KNOWN.iter().find(|(known, _)| known == method).map_or("OTHER", |(_, label)| label)
}

/// A panic in a handler is answered like any internal error; the server goes on.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    ApiError::internal(format!("handler panicked: {detail}")).into_response()
}
