//! Administrators' reading: the outbox of mail and the audit log; and the list of roles.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::extract::Page;
use super::views::MailView;
use super::{ApiError, AppState};
use crate::domain::access::Role;

pub async fn outbox(State(state): State<AppState>, page: Page) -> Result<Response, ApiError> {
    let mails = state.read(move |read| read.mails(page.before, page.limit_or(50))).await?;
    Ok(Json(mails.into_iter().map(MailView::from).collect::<Vec<_>>()).into_response())
}

pub async fn audit(State(state): State<AppState>, page: Page) -> Result<Response, ApiError> {
    let entries = state.read(move |read| read.audit(page.before, page.limit_or(50))).await?;
    Ok(Json(entries).into_response())
}

/// Every role with the optional permissions it can carry (R-ROLE-2), for forms.
pub async fn roles() -> Response {
    let roles: Vec<_> = Role::ALL
        .iter()
        .map(|role| json!({ "role": role, "optional_permissions": role.optional_permissions() }))
        .collect();
    Json(roles).into_response()
}
