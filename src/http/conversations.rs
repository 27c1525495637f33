//! Conversations for staff: lists, one conversation, its messages, replies and notes, transfer,
//! assignment, finalize, read, labels, and the dispenser.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
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
    before: Option<u64>,
    /// 1 to 200 (a larger or smaller one is clamped), 50 by default.
    #[serde(default = "default_limit")]
    limit: usize,
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
/// newest message first, except `status=queued`, in queue order (longest waiting first).
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let groups = my_groups(&state, caller.user.id).await?;
    let me = caller.user.id;
    let open_only = query.status.as_deref().is_none_or(|s| s != "finalized" && s != "all");
    let principal = caller.clone();
    let waiting_only = query.status.as_deref() == Some("queued");
    let finalized_only = query.status.as_deref() == Some("finalized");
    let (conversations, places, total) = state
        .read(move |read| {
            let keep = |c: &Conversation| matches(&query, me, c) && can_see(&principal, c, &groups);
            // Places are only for waiting conversations: a list of finalized ones needs none.
            let open = if finalized_only { Vec::new() } else { read.open_conversations()? };
            let places = if finalized_only { Default::default() } else { read.queue_places(&open)? };
            if open_only {
                let mut open: Vec<Conversation> = open.into_iter().filter(|c| keep(c)).collect();
                if waiting_only {
                    // In line: the longest waiting first, so a limit never hides the head of a queue.
                    open.sort_by_key(|c| (c.enqueued_at.unwrap_or(c.created_at), c.id));
                } else {
                    open.sort_by_key(|c| std::cmp::Reverse(c.last_message_at));
                }
                let total = open.len();
                open.truncate(query.limit);
                Ok((open, places, Some(total)))
            } else {
                Ok((read.conversations_newest(query.before, query.limit, keep)?, places, None))
            }
        })
        .await?;
    let views = ConversationView::many(&state, conversations).await?;
    let mut response = Json(ConversationView::placed(views, &places)).into_response();
    if let Some(total) = total {
        // How many matched before the limit: the UI says "and N more".
        response.headers_mut().insert(TOTAL_COUNT, total.into());
    }
    Ok(response)
}

/// On lists of open conversations: how many matched in all, before `limit`.
const TOTAL_COUNT: &str = "x-total-count";

pub async fn show(State(state): State<AppState>, Caller(caller): Caller, Id(id): Id) -> Result<Response, ApiError> {
    let conversation = visible(&state, &caller, id).await?;
    Ok(Json(placed_view(&state, conversation).await?).into_response())
}

/// One conversation's view with its place in line, while it waits.
async fn placed_view(state: &AppState, conversation: Conversation) -> Result<ConversationView, ApiError> {
    let waiting = conversation.status == Status::Queued;
    let places = match waiting {
        true => state.read(|read| read.queue_places(&read.open_conversations()?)).await?,
        false => Default::default(),
    };
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
