//! Request extractors whose failures are JSON errors naming what is wrong: bodies (`Body`), ids in
//! the path (`Id`), and the signed-in caller (`Caller`).

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::ApiError;
use super::guard::Principal;
use crate::domain::error_code::ErrorCode;

/// A JSON body; a malformed one is a 400 naming the field when it can be told.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        // A client trickling its body must not hold a connection (and a task) for long.
        let read = tokio::time::timeout(super::BODY_READ_TIMEOUT, axum::Json::<T>::from_request(request, state));
        match read.await {
            Ok(Ok(axum::Json(value))) => Ok(Body(value)),
            Ok(Err(rejection)) => Err(json_error(rejection)),
            Err(_) => Err(body_timeout()),
        }
    }
}

/// Parses a body already read, as `Body` does (axum's `Json` extractor is a content-type check,
/// then exactly this `from_bytes`); pure, so the fuzz targets in `fuzz/` run the server's parser.
pub fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    axum::Json::<T>::from_bytes(bytes).map(|axum::Json(value)| value).map_err(json_error)
}

/// 408: the body did not arrive in time. The connection is closed after this answer.
pub fn body_timeout() -> ApiError {
    ApiError::new(
        ErrorCode::BodyTimeout,
        format!("The request body did not arrive within {} seconds.", super::BODY_READ_TIMEOUT.as_secs()),
    )
}

fn json_error(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::new(ErrorCode::UnsupportedMediaType, "Send the body as JSON with Content-Type: application/json.")
        }
        JsonRejection::JsonDataError(err) => {
            let detail = std::error::Error::source(&err).map(ToString::to_string).unwrap_or_else(|| err.body_text());
            let mut error = ApiError::new(ErrorCode::InvalidInput, clean(&detail));
            error.field = field_of(&detail);
            error
        }
        JsonRejection::JsonSyntaxError(err) => {
            let detail = std::error::Error::source(&err).map(ToString::to_string).unwrap_or_else(|| err.body_text());
            ApiError::new(ErrorCode::InvalidJson, format!("The body is not valid JSON: {}", clean(&detail)))
        }
        JsonRejection::BytesRejection(err) if err.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::payload_too_large()
        }
        JsonRejection::BytesRejection(err) => {
            ApiError::new(ErrorCode::BodyUnreadable, format!("The body could not be read: {}", err.body_text()))
        }
        other => ApiError::new(ErrorCode::InvalidInput, other.body_text()),
    }
}

/// serde's messages, without the position noise, as one line.
fn clean(detail: &str) -> String {
    detail.split(" at line ").next().unwrap_or(detail).replace('\n', " ")
}

/// The field serde complained about: the path prefix of a data error (`roles[0]: unknown variant`),
/// or the name in `missing field `email`` / `unknown field `x``.
fn field_of(detail: &str) -> Option<String> {
    if let Some((path, _)) = detail.split_once(": ")
        && !path.is_empty()
        && path != "."
        && !path.contains(' ')
    {
        return Some(path.to_owned());
    }
    ["missing field `", "unknown field `"].iter().find_map(|marker| {
        let rest = detail.split(marker).nth(1)?;
        rest.split('`').next().map(str::to_owned)
    })
}

/// A numeric id in the path; anything else is "not found", as an unknown id would be.
pub struct Id(pub u64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found(ErrorCode::NotFound, "There is no such item."))?;
        raw.parse()
            .map(Id)
            .map_err(|_| ApiError::not_found(ErrorCode::NotFound, format!("There is no item with id \"{raw}\".")))
    }
}

/// The signed-in caller, put in the request by the guard.
pub struct Caller(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Principal>().cloned().map(Caller).ok_or_else(ApiError::not_signed_in)
    }
}

pub use super::query::Page;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_field_is_found_in_serde_messages() {
        assert_eq!(field_of("missing field `email` at line 1 column 2").as_deref(), Some("email"));
        assert_eq!(field_of("unknown field `emial`, expected one of ...").as_deref(), Some("emial"));
        assert_eq!(field_of("roles[0]: unknown variant `boss`").as_deref(), Some("roles[0]"));
        assert_eq!(field_of("expected value").as_deref(), None);
    }
}
