//! Conversations for staff: lists, one conversation, its messages, replies and notes, transfer,
//! assignment, finalize, read, labels, and the dispenser.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::extract::{Body, Caller, Id};
use super::guard::Principal;
use super::query::{Filters, Query};
use super::views::{ConversationView, MessageView};
use super::{ApiError, AppState};
use crate::core::{AgentMessage, Finalize, MarkRead, SetLabel, Staff, Take, TakeNext, Transfer, TransferTarget};
use crate::domain::conversation::{Conversation, MAX_TEXT_BYTES, Status};
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::{ConversationId, GroupId, UserId};
use crate::domain::policy::{self, Viewer};

/// The caller as the core sees them: may they act on any conversation?
pub fn staff(caller: &Principal) -> Staff {
    Staff { user: caller.user.id, oversees: policy::oversees(&caller.user.grants()) }
}

/// Whether the caller may see a conversation, given the groups they belong to (`policy::may_see`).
pub fn can_see(caller: &Principal, conversation: &Conversation, my_groups: &[GroupId]) -> bool {
    let grants = caller.user.grants();
    policy::may_see(Viewer { user: caller.user.id, grants: &grants, groups: my_groups }, conversation)
}

/// Supervisors, administrators and stakeholders see every conversation and contact.
pub fn sees_everything(caller: &Principal) -> bool {
    policy::sees_everything(&caller.user.grants())
}

pub async fn my_groups(state: &AppState, user: UserId) -> Result<Vec<GroupId>, ApiError> {
    let groups = state.read(|read| read.groups()).await?;
    Ok(groups.into_iter().filter(|group| group.members.contains(&user)).map(|group| group.id).collect())
}

/// A conversation the caller may see, or 404 / 403.
async fn visible(state: &AppState, caller: &Principal, id: u64) -> Result<Conversation, ApiError> {
    let conversation = state
        .read(move |read| read.conversation(ConversationId(id)))
        .await?
        .ok_or_else(|| ApiError::not_found(ErrorCode::ConversationNotFound, "There is no such conversation."))?;
    if !can_see(caller, &conversation, &my_groups(state, caller.user.id).await?) {
        return Err(ApiError::forbidden("This conversation is not yours to see."));
    }
    Ok(conversation)
}

/// Filters of the list, from the query string (`query::Query`): an unknown parameter is a 400.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// open (default), queued, assigned, finalized or all.
    status: Option<String>,
    /// me, unassigned, all (default) or a user id.
    assignee: Option<String>,
    group: Option<u64>,
    /// The raw `before`: a cursor on open lists, an id on finalized and all (`Cursor::parse`).
    before: Option<String>,
    /// 1 to 200 (a larger or smaller one is clamped), 50 by default.
    #[serde(default = "default_limit")]
    limit: usize,
}

/// Where a page of a list starts: open lists go by `(last_message_at, id)`, written
/// `<last_message_at>-<id>` (ties on the time are told apart by the id), finalized and all lists
/// by id alone.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cursor {
    LastMessage(u64, u64),
    Id(u64),
}

impl Cursor {
    fn parse(value: &str, open: bool) -> Result<Cursor, ApiError> {
        let number = |text: &str| text.parse::<u64>().ok();
        let cursor = match (open, value.split_once('-')) {
            (true, Some((at, id))) => number(at).zip(number(id)).map(|(at, id)| Cursor::LastMessage(at, id)),
            (false, None) => number(value).map(Cursor::Id),
            _ => None,
        };
        let shape = if open { "<last_message_at>-<id>, as X-Next-Before gave it" } else { "a conversation id" };
        cursor.ok_or_else(|| {
            let message = format!("before: not a cursor of this list (expected {shape}).");
            ApiError::new(ErrorCode::InvalidCursor, message).on_field("before")
        })
    }

    fn text(at: u64, id: u64) -> String {
        format!("{at}-{id}")
    }
}

fn default_limit() -> usize {
    50
}

impl Filters for ListQuery {
    fn check(mut self) -> Result<Self, ApiError> {
        let statuses = ["open", "queued", "assigned", "finalized", "all"];
        if self.status.as_deref().is_some_and(|status| !statuses.contains(&status)) {
            return Err(ApiError::invalid_field("status", "one of open, queued, assigned, finalized, all"));
        }
        let named = |assignee: &str| ["me", "unassigned", "all"].contains(&assignee) || assignee.parse::<u64>().is_ok();
        if self.assignee.as_deref().is_some_and(|assignee| !named(assignee)) {
            return Err(ApiError::invalid_field("assignee", "one of me, unassigned, all or a user id"));
        }
        self.limit = self.limit.clamp(1, 200);
        Ok(self)
    }
}

fn matches(query: &ListQuery, me: UserId, conversation: &Conversation) -> bool {
    let status = match query.status.as_deref().unwrap_or("open") {
        "open" => conversation.status != Status::Finalized,
        "queued" => conversation.status == Status::Queued,
        "assigned" => conversation.status == Status::Assigned,
        "finalized" => conversation.status == Status::Finalized,
        _ => true,
    };
    let assignee = match query.assignee.as_deref().unwrap_or("all") {
        "me" => conversation.assignee == Some(me),
        "unassigned" => conversation.assignee.is_none(),
        "all" => true,
        id => id.parse().is_ok_and(|id| conversation.assignee == Some(UserId(id))),
    };
    let group = query.group.is_none_or(|group| conversation.group == Some(GroupId(group)));
    status && assignee && group
}

/// `GET /api/v1/conversations?status=&assignee=me|unassigned|all|<id>&group=&before=&limit=`: open lists
/// newest message first, a page at a time (`X-Next-Before` is the next page's `before`), except
/// `status=queued`, in queue order (longest waiting first) and not paged.
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let open_only = query.status.as_deref().is_none_or(|s| s != "finalized" && s != "all");
    let waiting_only = query.status.as_deref() == Some("queued");
    let before = query.before.as_deref().map(|value| Cursor::parse(value, open_only)).transpose()?;
    if waiting_only && before.is_some() {
        let message = "before: a queued list comes in queue order, whole up to its limit, and has no pages.";
        return Err(ApiError::new(ErrorCode::InvalidCursor, message).on_field("before"));
    }
    let groups = my_groups(&state, caller.user.id).await?;
    let me = caller.user.id;
    let principal = caller.clone();
    let live = std::sync::Arc::clone(&state.live.borrow());
    let page = state
        .read(move |read| {
            let keep = |c: &Conversation| matches(&query, me, c) && can_see(&principal, c, &groups);
            if waiting_only {
                let open = read.open_conversations()?;
                let places = live.places(open.iter());
                let mut open: Vec<Conversation> = open.into_iter().filter(|c| keep(c)).collect();
                // In line: the longest waiting first, so a limit never hides the head of a queue.
                open.sort_by_key(|c| (c.enqueued_at.unwrap_or(c.created_at), c.id));
                let total = open.len();
                open.truncate(query.limit);
                return Ok(ListPage { conversations: open, places, total: Some(total), next: None });
            }
            if !open_only {
                let before = match before {
                    Some(Cursor::Id(id)) => Some(id),
                    _ => None,
                };
                let conversations = read.conversations_newest(before, query.limit, keep)?;
                return Ok(ListPage { conversations, places: Default::default(), total: None, next: None });
            }
            let from = match before {
                Some(Cursor::LastMessage(at, id)) => Some((at, id)),
                _ => None,
            };
            let (conversations, next) = read.open_page(from, query.limit, keep)?;
            let places = live.places(conversations.iter());
            Ok(ListPage { conversations, places, total: None, next: next.map(|(at, id)| Cursor::text(at, id)) })
        })
        .await?;
    let views = ConversationView::many(&state, page.conversations).await?;
    let mut response = Json(ConversationView::placed(views, &page.places)).into_response();
    if let Some(total) = page.total {
        // How many wait in all before the limit: the UI says "and N more".
        response.headers_mut().insert(TOTAL_COUNT, total.into());
    }
    if let Some(next) = page.next.and_then(|next| HeaderValue::from_str(&next).ok()) {
        response.headers_mut().insert(NEXT_BEFORE, next);
    }
    Ok(response)
}

/// One page of a list, as read.
struct ListPage {
    conversations: Vec<Conversation>,
    places: std::collections::HashMap<ConversationId, crate::domain::routing::Place>,
    total: Option<usize>,
    next: Option<String>,
}

/// On paged open lists, when more follow: the `before` of the next page.
pub(super) const NEXT_BEFORE: &str = "x-next-before";

/// On queued lists: how many matched in all, before `limit`.
const TOTAL_COUNT: &str = "x-total-count";

pub async fn show(State(state): State<AppState>, Caller(caller): Caller, Id(id): Id) -> Result<Response, ApiError> {
    let conversation = visible(&state, &caller, id).await?;
    Ok(Json(placed_view(&state, conversation).await?).into_response())
}

/// One conversation's view with its place in line, while it waits.
async fn placed_view(state: &AppState, conversation: Conversation) -> Result<ConversationView, ApiError> {
    let places = state.live.borrow().places(std::iter::once(&conversation));
    let view = ConversationView::one(state, conversation).await?;
    Ok(ConversationView::placed(vec![view], &places).remove(0))
}

/// How many messages a page holds unless `?limit=` says otherwise (the UI pages by this too).
const MESSAGES_PAGE: usize = 20;

/// `GET /api/v1/conversations/{id}/messages?before=&limit=`: the newest 20 by default, oldest first.
pub async fn messages(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Id(id): Id,
    page: super::extract::Page,
) -> Result<Response, ApiError> {
    let conversation = visible(&state, &caller, id).await?;
    let limit = page.limit_or(MESSAGES_PAGE);
    let messages = state.read(move |read| read.messages(conversation.id, page.before, limit)).await?;
    let views = MessageView::many(&state, messages).await?;
    Ok(Json(views).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    text: String,
    #[serde(default)]
    private: bool,
}

pub async fn post_message(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Id(id): Id,
    Body(input): Body<NewMessage>,
) -> Result<Response, ApiError> {
    if input.text.len() > MAX_TEXT_BYTES {
        return Err(ApiError::text_too_long().on_field("text"));
    }
    visible(&state, &caller, id).await?;
    let command = AgentMessage {
        conversation: ConversationId(id),
        by: staff(&caller),
        text: input.text,
        private: input.private,
        at: state.clock.now(),
    };
    let message = state.core.call(command).await?;
    let view = MessageView::many(&state, vec![message]).await?.remove(0);
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferInput {
    agent_id: Option<u64>,
    group_id: Option<u64>,
    note: Option<String>,
    #[serde(default)]
    force: bool,
}

pub async fn transfer(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Id(id): Id,
    Body(input): Body<TransferInput>,
) -> Result<Response, ApiError> {
    let to = match (input.agent_id, input.group_id) {
        (Some(agent), None) => TransferTarget::Agent(UserId(agent)),
        (None, Some(group)) => TransferTarget::Group(GroupId(group)),
        _ => {
            let error = ApiError::new(ErrorCode::InvalidInput, "Give either agent_id or group_id.");
            return Err(error.on_field("agent_id"));
        }
    };
    visible(&state, &caller, id).await?;
    let by = staff(&caller);
    let command = Transfer {
        conversation: ConversationId(id),
        to,
        note: input.note,
        force: input.force && by.oversees,
        by,
        assign: false,
        at: state.clock.now(),
    };
    let conversation = state.core.call(command).await?;
    Ok(Json(ConversationView::one(&state, conversation).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignInput {
    agent_id: u64,
    #[serde(default)]
    force: bool,
}

/// A supervisor gives a conversation to an agent (past a full slot only with `force`).
pub async fn assign(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Id(id): Id,
    Body(input): Body<AssignInput>,
) -> Result<Response, ApiError> {
    let command = Transfer {
        conversation: ConversationId(id),
        to: TransferTarget::Agent(UserId(input.agent_id)),
        note: None,
        force: input.force,
        by: staff(&caller),
        assign: true,
        at: state.clock.now(),
    };
    let conversation = state.core.call(command).await?;
    Ok(Json(ConversationView::one(&state, conversation).await?).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FinalizeInput {
    reason: Option<String>,
}

pub async fn finalize(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Id(id): Id,
    Body(input): Body<FinalizeInput>,
) -> Result<Response, ApiError> {
    visible(&state, &caller, id).await?;
    let command =
        Finalize { conversation: ConversationId(id), reason: input.reason, by: staff(&caller), at: state.clock.now() };
    let conversation = state.core.call(command).await?;
    Ok(Json(ConversationView::one(&state, conversation).await?).into_response())
}

pub async fn read(State(state): State<AppState>, Caller(caller): Caller, Id(id): Id) -> Result<Response, ApiError> {
    visible(&state, &caller, id).await?;
    state.core.call(MarkRead { conversation: ConversationId(id), by: staff(&caller) }).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelInput {
    label: String,
}

pub async fn add_label(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Id(id): Id,
    Body(input): Body<LabelInput>,
) -> Result<Response, ApiError> {
    set_label(&state, &caller, id, input.label, true).await
}

pub async fn remove_label(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Id(id): Id,
    Body(input): Body<LabelInput>,
) -> Result<Response, ApiError> {
    set_label(&state, &caller, id, input.label, false).await
}

async fn set_label(
    state: &AppState,
    caller: &Principal,
    id: u64,
    label: String,
    present: bool,
) -> Result<Response, ApiError> {
    visible(state, caller, id).await?;
    let command = SetLabel { conversation: ConversationId(id), label, present, by: staff(caller) };
    let conversation = state.core.call(command).await?;
    Ok(Json(ConversationView::one(state, conversation).await?).into_response())
}

/// The dispenser: 200 with the conversation taken (its contact and queue say what it was), or
/// 204 when nothing waits.
pub async fn next(State(state): State<AppState>, Caller(caller): Caller) -> Result<Response, ApiError> {
    match state.core.call(TakeNext { agent: caller.user.id, at: state.clock.now() }).await? {
        Some(conversation) => Ok(Json(ConversationView::one(&state, conversation).await?).into_response()),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

/// `POST /conversations/{id}/take`: the caller takes this waiting conversation (dispenser): it must
/// wait in a queue they serve, and they need a free slot.
pub async fn take(State(state): State<AppState>, Caller(caller): Caller, Id(id): Id) -> Result<Response, ApiError> {
    let command = Take { conversation: ConversationId(id), agent: caller.user.id, at: state.clock.now() };
    let conversation = state.core.call(command).await?;
    Ok(Json(ConversationView::one(&state, conversation).await?).into_response())
}
