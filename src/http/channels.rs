//! Channels (administrators create them; the widget's snippet and the API channel's token come
//! from here), the API channel's inbound messages (R-CHAN-3), and contacts (R-CHAN-5).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::conversations::{NEXT_BEFORE, my_groups, sees_everything};
use super::extract::{Body, Caller, Id};
use super::query::{Filters, NoFilters, Query};
use super::views::{ConversationView, MessageView};
use super::{ApiError, AppState};
use crate::core::{CreateChannel, CustomerMessage, CustomerProfile, UpdateChannel, UpdateContact};
use crate::domain::conversation::{Channel, ChannelKind, ContactPatch, MAX_TEXT_BYTES, clean_contact_field};
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::{ChannelId, ContactId, GroupId};
use crate::domain::policy::{self, Viewer};
use crate::domain::routing::AssignMode;
use crate::domain::secret::{self, constant_time_eq};

#[derive(Debug, Serialize)]
pub struct ChannelView {
    pub id: ChannelId,
    pub kind: ChannelKind,
    pub name: String,
    pub group: Option<GroupId>,
    pub mode: AssignMode,
    /// Web widget: the `<script>` tag a site adds.
    pub snippet: Option<String>,
    pub public_key: Option<String>,
    pub webhook_url: Option<String>,
    pub created_at: u64,
    pub disabled_at: Option<u64>,
}

fn view(state: &AppState, channel: &Channel) -> ChannelView {
    let widget = channel.kind == ChannelKind::Widget;
    let snippet = widget.then(|| {
        format!(
            "<script src=\"{}/widget.js\" data-channel=\"{}\" async></script>",
            state.public_url, channel.public_key
        )
    });
    ChannelView {
        id: channel.id,
        kind: channel.kind,
        name: channel.name.clone(),
        group: channel.group,
        mode: channel.mode,
        snippet,
        public_key: widget.then(|| channel.public_key.clone()),
        webhook_url: channel.webhook_url.clone(),
        created_at: channel.created_at,
        disabled_at: channel.disabled_at,
    }
}

pub async fn list(State(state): State<AppState>, _: Query<NoFilters>) -> Result<Response, ApiError> {
    let channels = state.read(|read| read.channels()).await?;
    Ok(Json(channels.iter().map(|channel| view(&state, channel)).collect::<Vec<_>>()).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewChannel {
    kind: ChannelKind,
    /// automatic (default), manual (agents take them with the dispenser) or none (a supervisor assigns).
    #[serde(default)]
    mode: AssignMode,
    name: String,
    group: Option<GroupId>,
    webhook_url: Option<String>,
}

/// Creates a channel. An API channel's token and webhook secret are in this answer only.
pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Body(input): Body<NewChannel>,
) -> Result<Response, ApiError> {
    let token = (input.kind == ChannelKind::Api).then(|| secret::new_token("ch_"));
    let webhook_secret = secret::new_token("whsec_");
    let command = CreateChannel {
        kind: input.kind,
        mode: input.mode,
        name: input.name,
        group: input.group,
        public_key: if input.kind == ChannelKind::Widget { secret::new_token("wk_") } else { String::new() },
        token_hash: token.as_deref().map(secret::hash),
        webhook_url: input.webhook_url.filter(|url| !url.trim().is_empty()),
        webhook_secret: webhook_secret.clone(),
        actor: caller.actor(),
        at: state.clock.now(),
    };
    let channel = state.core.call(command).await?;
    let mut body = serde_json::to_value(view(&state, &channel)).map_err(ApiError::internal)?;
    if let Some(token) = token {
        body["token"] = json!(token);
        body["webhook_secret"] = json!(webhook_secret);
    }
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelPatch {
    name: Option<String>,
    #[serde(default, with = "crate::domain::account::double_option")]
    group: Option<Option<GroupId>>,
    mode: Option<AssignMode>,
    #[serde(default, with = "crate::domain::account::double_option")]
    webhook_url: Option<Option<String>>,
}

fn update_command(caller: &Caller, state: &AppState, id: u64) -> UpdateChannel {
    UpdateChannel {
        id: ChannelId(id),
        name: None,
        group: None,
        mode: None,
        webhook_url: None,
        rotate: None,
        disable: false,
        actor: caller.0.actor(),
        at: state.clock.now(),
    }
}

/// `PATCH /api/v1/channels/{id}`: name, group, assignment mode, webhook address.
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Body(patch): Body<ChannelPatch>,
) -> Result<Response, ApiError> {
    let command = UpdateChannel {
        name: patch.name,
        group: patch.group,
        mode: patch.mode,
        webhook_url: patch.webhook_url.map(|url| url.filter(|u| !u.trim().is_empty())),
        ..update_command(&caller, &state, id)
    };
    let channel = state.core.call(command).await?;
    Ok(Json(view(&state, &channel)).into_response())
}

/// `POST /api/v1/channels/{id}/rotate`: a new token (API channels) and webhook secret, shown once;
/// the old ones stop working at once.
pub async fn rotate(State(state): State<AppState>, caller: Caller, Id(id): Id) -> Result<Response, ApiError> {
    let token = secret::new_token("ch_");
    let webhook_secret = secret::new_token("whsec_");
    let command = UpdateChannel {
        rotate: Some((Some(secret::hash(&token)), webhook_secret.clone())),
        ..update_command(&caller, &state, id)
    };
    let channel = state.core.call(command).await?;
    let mut body = serde_json::to_value(view(&state, &channel)).map_err(ApiError::internal)?;
    if channel.kind == ChannelKind::Api {
        body["token"] = json!(token);
    }
    body["webhook_secret"] = json!(webhook_secret);
    Ok(Json(body).into_response())
}

/// `DELETE /api/v1/channels/{id}`: switches the channel off (its conversations stay).
pub async fn disable(State(state): State<AppState>, caller: Caller, Id(id): Id) -> Result<Response, ApiError> {
    state.core.call(UpdateChannel { disable: true, ..update_command(&caller, &state, id) }).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundContact {
    identifier: String,
    name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inbound {
    contact: InboundContact,
    text: String,
}

impl Inbound {
    /// The handler's checks once the token is good: the trimmed identifier, the profile and the
    /// text. Pure, so the fuzz target in `fuzz/` runs them.
    pub fn checked(self) -> Result<(String, CustomerProfile, String), ApiError> {
        let identifier = self.contact.identifier.trim().to_owned();
        if identifier.is_empty() || identifier.len() > 200 {
            return Err(ApiError::invalid_field("contact.identifier", "1 to 200 characters"));
        }
        if self.text.len() > MAX_TEXT_BYTES {
            return Err(ApiError::text_too_long());
        }
        if identifier.chars().any(char::is_control) {
            return Err(ApiError::invalid_field("contact.identifier", "must not contain control characters"));
        }
        let InboundContact { name, email, phone, .. } = self.contact;
        let field = |name: &'static str, value| clean_contact_field(name, value).map_err(ApiError::from);
        let email = match field("contact.email", email)? {
            Some(email) => Some(
                crate::domain::account::normalize_email(&email)
                    .map_err(|invalid| ApiError::invalid_field("contact.email", invalid.message))?,
            ),
            None => None,
        };
        let profile =
            CustomerProfile { name: field("contact.name", name)?, email, phone: field("contact.phone", phone)? };
        Ok((identifier, profile, self.text))
    }
}

/// `POST /api/v1/channels/{id}/messages` with the channel's token: a customer's message from a
/// program. Answers once it is on disk.
pub async fn inbound(
    State(state): State<AppState>,
    Id(id): Id,
    headers: HeaderMap,
    Body(input): Body<Inbound>,
) -> Result<Response, ApiError> {
    let channel = state
        .read_now(|read| read.channel(ChannelId(id)))?
        .filter(|channel| channel.kind == ChannelKind::Api && channel.disabled_at.is_none())
        .ok_or_else(|| ApiError::not_found(ErrorCode::ChannelNotFound, "There is no such API channel."))?;
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let valid = channel.token_hash.is_some_and(|hash| constant_time_eq(&secret::hash(given.trim()), &hash));
    if !valid {
        return Err(ApiError::new(ErrorCode::InvalidToken, "This channel's token is missing or wrong."));
    }
    let (identifier, profile, text) = input.checked()?;
    let command = CustomerMessage { channel: channel.id, identifier, profile, text, at: state.clock.now() };
    let outcome = state.core.call(command).await?;
    let mut conversation = ConversationView::answered(&state, outcome.conversation, outcome.contact, channel).await?;
    conversation.queue = outcome.place;
    let message = MessageView::one(&state, outcome.message)?;
    let overflow = outcome.place.is_some_and(|place| place.overflow);
    // A full queue is not an error: the message is kept and the customer waits beyond the limit.
    let notice = overflow.then_some(
        "All agents are busy: the conversation waits in overflow, past the queue's limit, and will be answered as soon as possible.",
    );
    Ok((StatusCode::CREATED, Json(Inbounded { conversation, message, overflow, notice })).into_response())
}

/// The answer to an inbound message, serialized straight to the body (not through a JSON value).
#[derive(Serialize)]
struct Inbounded {
    conversation: ConversationView,
    message: MessageView,
    overflow: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    notice: Option<&'static str>,
}

/// `GET /api/v1/contacts/{id}`. Those who see every conversation see every contact; an agent sees
/// the contact of a conversation they may see (the contact's newest one on any of its channels).
pub async fn contact(State(state): State<AppState>, Caller(caller): Caller, Id(id): Id) -> Result<Response, ApiError> {
    let (contact, newest) = state
        .read(move |read| {
            let Some(contact) = read.contact(ContactId(id))? else { return Ok((None, Vec::new())) };
            let mut newest = Vec::new();
            for identity in &contact.identities {
                newest.extend(read.latest_conversation(contact.id, identity.channel)?);
            }
            Ok((Some(contact), newest))
        })
        .await?;
    let contact =
        contact.ok_or_else(|| ApiError::not_found(ErrorCode::ContactNotFound, "There is no such contact."))?;
    if !sees_everything(&caller) {
        let groups = my_groups(&state, caller.user.id).await?;
        let grants = caller.user.grants();
        let viewer = Viewer { user: caller.user.id, grants: &grants, groups: &groups };
        if !policy::may_see_contact(viewer, newest.iter()) {
            return Err(ApiError::forbidden("This contact is not in any conversation of yours."));
        }
    }
    Ok(Json(contact).into_response())
}

/// `?before=&limit=` of a contact's conversations: ids below `before`, at most `limit` (1-200,
/// 50 by default).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactConversationsQuery {
    before: Option<u64>,
    limit: Option<usize>,
}

impl Filters for ContactConversationsQuery {
    fn check(mut self) -> Result<Self, ApiError> {
        self.limit = Some(self.limit.unwrap_or(50).clamp(1, 200));
        Ok(self)
    }
}

/// `GET /api/v1/contacts/{id}/conversations`: the contact's conversations on every channel, newest
/// first, a page at a time (`X-Next-Before`), only those the caller may see (`policy::may_see`).
/// A contact the caller may not see at all is a 403, as `GET /contacts/{id}` answers.
pub async fn contact_conversations(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Id(id): Id,
    Query(query): Query<ContactConversationsQuery>,
) -> Result<Response, ApiError> {
    let contact = ContactId(id);
    let groups = if sees_everything(&caller) { Vec::new() } else { my_groups(&state, caller.user.id).await? };
    let principal = caller.clone();
    let limit = query.limit.unwrap_or(50);
    let found = state
        .read(move |read| {
            let Some(known) = read.contact(contact)? else { return Ok(None) };
            let mut newest = Vec::new();
            for identity in &known.identities {
                newest.extend(read.latest_conversation(contact, identity.channel)?);
            }
            let grants = principal.user.grants();
            let viewer = Viewer { user: principal.user.id, grants: &grants, groups: &groups };
            if !policy::may_see_contact(viewer, newest.iter()) {
                return Ok(Some(None));
            }
            let page = read.contact_conversations(contact, query.before, limit, |c| policy::may_see(viewer, c))?;
            Ok(Some(Some(page)))
        })
        .await?;
    let found = found.ok_or_else(|| ApiError::not_found(ErrorCode::ContactNotFound, "There is no such contact."))?;
    let (conversations, next) =
        found.ok_or_else(|| ApiError::forbidden("This contact is not in any conversation of yours."))?;
    let views = ConversationView::many(&state, conversations).await?;
    let mut response = Json(views).into_response();
    if let Some(next) = next {
        response.headers_mut().insert(NEXT_BEFORE, next.into());
    }
    Ok(response)
}

pub async fn update_contact(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Id(id): Id,
    Body(patch): Body<ContactPatch>,
) -> Result<Response, ApiError> {
    let command = UpdateContact { id: ContactId(id), patch, actor: caller.actor(), at: state.clock.now() };
    let contact = state.core.call(command).await?;
    Ok(Json(contact).into_response())
}
