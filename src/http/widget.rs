//! The web chat widget's public endpoints (R-CHAN-1), under `/widget/v1/`: a visitor gets a token
//! (kept in their browser, so the conversation survives reloads), writes, reads the replies and
//! their place in the queue, live over a WebSocket (`widget_socket`) or by polling. Rate limited per address; a
//! visitor token reaches only its own conversation and never anything of staff.

use std::net::IpAddr;

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::Body;
use super::guard::ClientIp;
use super::query::{Filters, Query};
use super::{ApiError, AppState};
use crate::core::{CreateVisitor, CustomerMessage, CustomerProfile};
use crate::domain::conversation::{
    Author, ChannelKind, Conversation, MAX_TEXT_BYTES, Message, Status, Visitor, clean_contact_field,
};
use crate::domain::error_code::ErrorCode;
use crate::domain::routing::Place;
use crate::domain::secret;

pub(super) fn limit(state: &AppState, address: IpAddr) -> Result<(), ApiError> {
    state
        .guard
        .begin_widget(address, state.clock.now())
        .map_err(|wait| ApiError::too_many(ErrorCode::RateLimited, wait.0))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewVisitor {
    channel: String,
    name: Option<String>,
    email: Option<String>,
}

impl NewVisitor {
    /// The name and e-mail as kept: trimmed, empty as none, at most 100 characters, no control
    /// characters (`clean_contact_field`, as the API channel), the e-mail
    /// normalized. Pure, so the fuzz target in `fuzz/` runs the handler's checks.
    pub fn profile(self) -> Result<(Option<String>, Option<String>), ApiError> {
        let short = |value, field| clean_contact_field(field, value).map_err(ApiError::from);
        let name = short(self.name, "name")?;
        let email = match short(self.email, "email")? {
            Some(email) => Some(crate::domain::account::normalize_email(&email).map_err(ApiError::from)?),
            None => None,
        };
        Ok((name, email))
    }
}

/// `POST /widget/v1/visitors {channel, name?, email?}`: a token for a new visitor.
pub async fn create_visitor(
    State(state): State<AppState>,
    Extension(ClientIp(address)): Extension<ClientIp>,
    Body(input): Body<NewVisitor>,
) -> Result<Response, ApiError> {
    limit(&state, address)?;
    let key = input.channel.clone();
    let channel = state
        .read(move |read| read.channel_by_key(&key))
        .await?
        .filter(|channel| channel.kind == ChannelKind::Widget && channel.disabled_at.is_none())
        .ok_or_else(|| {
            ApiError::not_found(
                ErrorCode::ChannelNotFound,
                "This chat is not set up on the server (unknown channel key).",
            )
        })?;
    let (name, email) = input.profile()?;
    let token = secret::new_token("vt_");
    let visitor = Visitor {
        channel: channel.id,
        identifier: format!("visitor-{}", secret::base64url(&secret::random_bytes::<9>())),
        name,
        email,
        created_at: state.clock.now(),
    };
    state.core.call(CreateVisitor { hash: secret::hash(&token), visitor }).await?;
    Ok((StatusCode::CREATED, Json(json!({ "token": token, "channel_name": channel.name }))).into_response())
}

/// The visitor a request's token names.
pub(super) async fn visitor(state: &AppState, token: &str) -> Result<Visitor, ApiError> {
    let hash = secret::hash(token.trim());
    state
        .read(move |read| read.visitor(hash))
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidVisitor, "This chat session is not known; start a new one."))
}

fn bearer(headers: &HeaderMap) -> &str {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
}

/// The visitor's newest conversation, if they have written.
pub(super) async fn current(state: &AppState, visitor: &Visitor) -> Result<Option<Conversation>, ApiError> {
    let (channel, identifier) = (visitor.channel, visitor.identifier.clone());
    state
        .read(move |read| match read.contact_by_identity(channel, &identifier)? {
            Some(contact) => read.latest_conversation(contact, channel),
            None => Ok(None),
        })
        .await
}

/// What a visitor may see of a message: never internal notes or activity lines (callers keep to
/// `for_customer`), never staff details beyond a name; a rule's reply shows the rule's name.
pub(super) fn public_message(message: &Message, agent_name: Option<&str>) -> Value {
    let agent_name = agent_name.or(message.rule.as_deref());
    let from = match message.author {
        Author::Customer => "visitor",
        Author::Agent(_) => "agent",
        Author::System => "system",
    };
    json!({
        "id": message.id,
        "conversation_id": message.conversation,
        "from": from,
        "agent_name": agent_name,
        "text": message.text,
        "created_at": message.created_at,
    })
}

/// Its place in line while it waits (with `overflow` past the queue's limit), from the live
/// snapshot: no store read.
pub(super) fn place(state: &AppState, conversation: &Conversation) -> Option<Place> {
    if conversation.status != Status::Queued {
        return None;
    }
    state.live.borrow().place(conversation.id, conversation.group)
}

/// What the visitor is told of their conversation: its state, place in line, and whether all
/// agents are busy (`overflow`: the queue was past its limit).
pub(super) fn status_json(conversation: &Conversation, place: Option<Place>) -> Value {
    json!({
        "id": conversation.id,
        "status": conversation.status,
        "position": place.map(|p| p.position),
        "overflow": place.is_some_and(|p| p.overflow),
    })
}

/// `?after=<message id>`: only the messages after it.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShowQuery {
    after: Option<u64>,
}

impl Filters for ShowQuery {}

/// `GET /widget/v1/conversation?after=<message id>`: the conversation, place in line, and the
/// messages after `after` (all when absent).
pub async fn show(
    State(state): State<AppState>,
    Extension(ClientIp(address)): Extension<ClientIp>,
    headers: HeaderMap,
    Query(ShowQuery { after }): Query<ShowQuery>,
) -> Result<Response, ApiError> {
    limit(&state, address)?;
    let visitor = visitor(&state, bearer(&headers)).await?;
    let after = after.unwrap_or(0);
    let Some(conversation) = current(&state, &visitor).await? else {
        return Ok(Json(json!({ "conversation": null, "messages": [] })).into_response());
    };
    let id = conversation.id;
    let (messages, users) = state.read(move |read| Ok((read.messages(id, None, 200)?, read.users()?))).await?;
    let name_of = |message: &Message| match message.author {
        Author::Agent(agent) => users.iter().find(|u| u.id == agent).map(|u| u.first_name.clone()),
        _ => None,
    };
    let visible: Vec<Value> = messages
        .iter()
        .filter(|m| m.for_customer() && m.id.0 > after)
        .map(|m| public_message(m, name_of(m).as_deref()))
        .collect();
    let body = json!({ "conversation": status_json(&conversation, place(&state, &conversation)), "messages": visible });
    Ok(Json(body).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisitorMessage {
    text: String,
}

impl VisitorMessage {
    /// The text, if it is not too long. Pure, so the fuzz target in `fuzz/` runs the handler's check.
    pub fn checked(self) -> Result<String, ApiError> {
        if self.text.len() > MAX_TEXT_BYTES {
            return Err(ApiError::text_too_long());
        }
        Ok(self.text)
    }
}

/// `POST /widget/v1/messages {text}`: the visitor writes.
pub async fn post_message(
    State(state): State<AppState>,
    Extension(ClientIp(address)): Extension<ClientIp>,
    headers: HeaderMap,
    Body(input): Body<VisitorMessage>,
) -> Result<Response, ApiError> {
    limit(&state, address)?;
    let visitor = visitor(&state, bearer(&headers)).await?;
    let text = input.checked()?;
    let profile = CustomerProfile { name: visitor.name.clone(), email: visitor.email.clone(), phone: None };
    let command = CustomerMessage {
        channel: visitor.channel,
        identifier: visitor.identifier.clone(),
        profile,
        text,
        at: state.clock.now(),
    };
    let outcome = state.core.call(command).await?;
    // Their sockets, if this made their contact, hear its events from now on.
    state.visitor_hub.wrote(&(visitor.channel, visitor.identifier.clone()), outcome.conversation.contact);
    let body = json!({
        "message": public_message(&outcome.message, None),
        "conversation": status_json(&outcome.conversation, outcome.place),
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::conversation::{Activity, ActivityKind};
    use crate::domain::ids::{ConversationId, MessageId};

    fn message(rule: Option<&str>) -> Message {
        Message {
            id: MessageId(1),
            conversation: ConversationId(1),
            author: Author::System,
            text: "¡Hola!".into(),
            private: false,
            created_at: 1,
            activity: None,
            rule: rule.map(str::to_owned),
        }
    }

    #[test]
    fn a_rule_reply_shows_the_rule_as_author_and_activity_lines_are_not_for_visitors() {
        assert_eq!(public_message(&message(Some("bienvenida")), None)["agent_name"], "bienvenida");
        assert!(public_message(&message(None), None)["agent_name"].is_null());
        let line = Message {
            activity: Some(Activity { kind: ActivityKind::Assigned, actor: None, target: None }),
            ..message(None)
        };
        assert!(!line.for_customer(), "the widget's filters keep activity lines out even if not private");
    }
}
