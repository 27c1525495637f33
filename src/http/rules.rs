//! The Rules screen's API: what is loaded (each file, its hooks, counters and errors), and a dry
//! run of the rules against a chosen conversation that changes nothing.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::extract::Body;
use super::{ApiError, AppState};
use crate::core::facts_of;
use crate::domain::conversation::Author;
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::ConversationId;

pub async fn status(State(state): State<AppState>) -> Result<Response, ApiError> {
    let status =
        state.rules.blocking(|rules| rules.status()).await.ok_or_else(|| ApiError::internal("rules status"))?;
    Ok(Json(status).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DryRunInput {
    conversation_id: u64,
}

/// Runs `on_message` (with the conversation's last customer message) and `should_close` (now) of
/// every rule file, and answers what each would do. Nothing is written or counted.
pub async fn dry_run(State(state): State<AppState>, Body(input): Body<DryRunInput>) -> Result<Response, ApiError> {
    let id = ConversationId(input.conversation_id);
    let (view, messages) = state.read(move |read| Ok((facts_of(read, id)?, read.messages(id, None, 200)?))).await?;
    let view = view.ok_or_else(|| {
        ApiError::not_found(ErrorCode::ConversationNotFound, "There is no such conversation.")
            .on_field("conversation_id")
    })?;
    let last = messages.into_iter().filter(|m| m.author == Author::Customer).max_by_key(|m| m.id);
    let now = state.clock.now();
    let message = last.as_ref().map(crate::rules::data::message);
    let conversation = view.to_map();
    let run = state.rules.blocking(move |rules| rules.dry_run(conversation, message, now));
    let outcome = run.await.ok_or_else(|| ApiError::internal("rules dry run"))?;
    Ok(Json(json!({
        "conversation_id": id,
        "message": last.map(|m| json!({ "id": m.id, "text": m.text, "created_at": m.created_at })),
        "now": now,
        "on_message": outcome.on_message,
        "should_close": outcome.should_close,
    }))
    .into_response())
}
