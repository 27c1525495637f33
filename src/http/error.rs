//! The one error shape of the API: `{"error": {"code", "message"}}` with the right status. Internal
//! failures are logged in full and answered with a generic message.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::password::{Busy, HashError};
use crate::core::{CoreError, RejectKind, Rejection};
use crate::domain::account::Invalid;
use crate::domain::error_code::ErrorCode;
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    /// Stable, machine-readable: clients may match on it.
    pub code: ErrorCode,
    /// For people; may change wording.
    pub message: String,
    /// The input field at fault, when there is one.
    pub field: Option<String>,
    /// For a 429: seconds until a retry may succeed (sent as `Retry-After`).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// The error with its code's usual status.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        ApiError { status, code, message: message.into(), field: None, retry_after: None }
    }

    /// Sends it with another of the statuses its code declares.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        debug_assert!(self.code.statuses().contains(&status.as_u16()), "{} is not sent as {status}", self.code);
        self.status = status;
        self
    }

    /// 429 with `Retry-After`, the wait rounded up to whole seconds.
    pub fn too_many(code: ErrorCode, wait_ms: u64) -> Self {
        let seconds = wait_ms.div_ceil(1000).max(1);
        let unit = if seconds == 1 { "second" } else { "seconds" };
        let message = format!("Too many requests. Try again in {seconds} {unit}.");
        ApiError {
            retry_after: Some(seconds),
            ..ApiError::new(code, message).with_status(StatusCode::TOO_MANY_REQUESTS)
        }
    }

    pub fn not_found(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError::new(code, message).with_status(StatusCode::NOT_FOUND)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::Forbidden, message)
    }

    /// 400 `invalid_input` for one field, the message reading "field: what is wrong".
    pub fn invalid_field(field: &str, message: impl std::fmt::Display) -> Self {
        ApiError::new(ErrorCode::InvalidInput, format!("{field}: {message}")).on_field(field)
    }

    /// Names the input field at fault.
    pub fn on_field(mut self, field: &str) -> Self {
        self.field = Some(field.to_owned());
        self
    }

    pub fn not_signed_in() -> Self {
        ApiError::new(ErrorCode::NotSignedIn, "Sign in first.")
    }

    pub fn route_not_found() -> Self {
        ApiError::not_found(ErrorCode::RouteNotFound, "There is no such API route; see /api/v1/openapi.json.")
    }

    pub fn method_not_allowed() -> Self {
        ApiError::new(ErrorCode::MethodNotAllowed, "This route does not accept that method.")
    }

    /// Logs the cause in full and answers without it: database or script text never reaches a client.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        ApiError::new(ErrorCode::Internal, "Something went wrong on the server. It has been logged; please try again.")
    }

    /// 413 for a message text over `MAX_TEXT_BYTES`.
    pub fn text_too_long() -> Self {
        let message = format!("A message is at most {} bytes.", crate::domain::conversation::MAX_TEXT_BYTES);
        ApiError::new(ErrorCode::TextTooLong, message)
    }

    pub fn payload_too_large() -> Self {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("The body is larger than this request accepts ({} KiB).", super::BODY_LIMIT / 1024),
        )
    }

    /// A write refused because the data disk is full; reads keep working.
    pub fn disk_full(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "the data disk is full: nothing can be saved until space is freed");
        ApiError::new(
            ErrorCode::DiskFull,
            "The server's disk is full, so nothing was saved. Reading still works; \
             an administrator must free space on the data disk.",
        )
    }

    /// `/healthz` when the writer does not take a no-op in time: reads may work, writes do not.
    pub fn writer_unavailable(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "the writer did not answer the health check");
        ApiError::new(ErrorCode::WriterUnavailable, "The server cannot save changes: its writer does not answer.")
    }

    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "storage unavailable");
        ApiError::new(
            ErrorCode::StorageUnavailable,
            "The server cannot save changes right now. Nothing was saved; please try again shortly.",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(field) = self.field {
            error["field"] = json!(field);
        }
        let body = json!({ "error": error });
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// 503 with Retry-After: the server itself is saturated with password checks (whoever asks), not
/// this client over its budget (that is a 429).
impl From<Busy> for ApiError {
    fn from(_: Busy) -> Self {
        let message = "The server is checking many passwords right now. Try again in a moment.";
        ApiError { retry_after: Some(1), ..ApiError::new(ErrorCode::Busy, message) }
    }
}

/// A refused hash is `busy`; a failed one is internal (logged in full).
impl From<HashError> for ApiError {
    fn from(err: HashError) -> Self {
        match err {
            HashError::Busy(busy) => busy.into(),
            HashError::Failed(cause) => ApiError::internal(cause),
        }
    }
}

impl From<CoreError> for ApiError {
    fn from(err: CoreError) -> Self {
        match err {
            CoreError::Rejected(rejection) => rejection.into(),
            CoreError::Storage(err) if err.is_disk_full() => ApiError::disk_full(err),
            CoreError::Storage(err) => ApiError::unavailable(err),
            CoreError::Stopped => ApiError::unavailable("the core has stopped"),
            CoreError::Panicked(message) => ApiError::internal(format!("a command panicked: {message}")),
        }
    }
}

/// A failed read: 503 while the database is unavailable for a moment (a retry may work), else 500.
impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        if !err.is_unavailable() {
            return ApiError::internal(err);
        }
        tracing::error!(error = %err, "storage unavailable for a read");
        ApiError::new(
            ErrorCode::StorageUnavailable,
            "The database is not available for a moment; please try again shortly.",
        )
    }
}

impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> Self {
        let status = match rejection.kind {
            RejectKind::NotFound => StatusCode::NOT_FOUND,
            RejectKind::Conflict => StatusCode::CONFLICT,
            RejectKind::Invalid => StatusCode::BAD_REQUEST,
            RejectKind::Gone => StatusCode::GONE,
            RejectKind::Forbidden => StatusCode::FORBIDDEN,
            RejectKind::Unauthorized => StatusCode::UNAUTHORIZED,
        };
        let field = rejection.field.map(str::to_owned);
        ApiError { field, ..ApiError::new(rejection.code, rejection.message).with_status(status) }
    }
}

impl From<Invalid> for ApiError {
    fn from(invalid: Invalid) -> Self {
        Rejection::from(invalid).into()
    }
}
