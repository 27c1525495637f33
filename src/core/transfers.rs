//! Moving a conversation: a transfer to an agent or a group's queue, a supervisor's assignment
//! (R-CONV-5), and putting a conversation back in a queue. A move that would change nothing is
//! refused; every move leaves an activity line for staff.

use redb::WriteTransaction;

use super::conversations::{
    Staff, append_message, check_may_act, load_conversation, routing_broke, routing_rejection, save_conversation,
    stored_conversation, write_assignments_by,
};
use super::{ApplyError, Command, Event, Read, Rejection, Runtime, WriteError};
use crate::domain::conversation::{ActivityKind, Author, Conversation, Party, Status, check_text};
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::{ConversationId, GroupId, UserId};
use crate::domain::routing::{Assignment, RoutingError};

/// Where a transfer sends a conversation.
#[derive(Debug, Clone, Copy)]
pub enum TransferTarget {
    Agent(UserId),
    Group(GroupId),
}

/// Moves a conversation to another agent (available with a free slot, unless `force`) or to a
/// group's queue, with an optional internal note.
pub struct Transfer {
    pub conversation: ConversationId,
    pub to: TransferTarget,
    pub note: Option<String>,
    pub force: bool,
    pub by: Staff,
    /// A supervisor's assignment: its line says "assigned to … by …" rather than "transferred".
    pub assign: bool,
    pub at: u64,
}

/// How the conversation moves, as checked.
enum Move {
    Agent { agent: UserId, force: bool },
    Group(GroupId),
}

pub struct TransferPlan {
    conversation: Conversation,
    to: Move,
    note: Option<String>,
    /// Who moves it, and where to, as the activity line names them.
    actor: Party,
    target: Party,
    by: UserId,
    assign: bool,
    at: u64,
}

impl Command<Runtime, Event> for Transfer {
    type Output = Conversation;
    type Plan = TransferPlan;

    fn check(self, state: &Runtime, read: &Read<'_>) -> Result<TransferPlan, ApplyError> {
        let conversation = load_conversation(read, self.conversation)?;
        check_may_act(&conversation, self.by)?;
        let note = self.note.as_deref().map(check_text).transpose().map_err(Rejection::from)?;
        let (to, target) = match self.to {
            TransferTarget::Agent(agent) => {
                if conversation.assignee == Some(agent) {
                    return Err(Rejection::conflict(
                        ErrorCode::AlreadyWithAgent,
                        "The conversation is already with that agent.",
                    )
                    .into());
                }
                let target = super::activity::user_party(read, agent)?;
                state.routing.check_assign_to(conversation.id, agent, self.force).map_err(routing_rejection)?;
                (Move::Agent { agent, force: self.force }, target)
            }
            TransferTarget::Group(group) => {
                super::records::check_group_exists(read, group)?;
                check_group_target(state, &conversation, group, self.by.user)?;
                check_queue_room(state, group)?;
                check_requeue(state, &conversation)?;
                (Move::Group(group), super::activity::group_party(read, group)?)
            }
        };
        let actor = super::activity::user_party(read, self.by.user)?;
        let (by, assign, at) = (self.by.user, self.assign, self.at);
        Ok(TransferPlan { conversation, to, note, actor, target, by, assign, at })
    }

    fn write(
        plan: TransferPlan,
        state: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<Conversation, WriteError> {
        let TransferPlan { mut conversation, to, note, actor, target, by, assign, at } = plan;
        let assignments = match to {
            Move::Agent { agent, force } => {
                state.routing.assign_to(conversation.id, agent, force, at).map_err(routing_broke)?
            }
            Move::Group(group) => requeue_checked(state, tx, &mut conversation, group, at)?,
        };
        if let Some(note) = note {
            let message = append_message(tx, conversation.id, Author::Agent(by), note, true, at)?;
            events.push(Event::MessageCreated { conversation: conversation.clone(), message });
        }
        let kind = if assign { ActivityKind::Assigned } else { ActivityKind::Transferred };
        super::activity::write(tx, events, &conversation, kind, Some(actor), Some(target), at)?;
        // Only a choice of agent is the person's; whom a group's queue gives it to is routing's
        // (unless routing gave it back to her: no mail about her own move).
        let back = assignments.iter().any(|a| a.conversation == conversation.id && a.agent == by);
        let by_hand = match to {
            Move::Group(_) if !back => None,
            _ => Some(super::notify::By { conversation: conversation.id, user: by }),
        };
        write_assignments_by(tx, &assignments, by_hand, at, events)?;
        let conversation = stored_conversation(tx, conversation.id)?;
        if matches!(to, Move::Group(_)) {
            super::notify::entered_queue(tx, &conversation, Some(by), at, events)?;
        }
        events.push(Event::ConversationTransferred { conversation: conversation.clone(), from: by });
        Ok(conversation)
    }
}

/// Refuses a transfer that would change nothing: into the group it is already in, or into a group
/// of hers where nobody else takes work now (routing would give it straight back to her).
fn check_group_target(
    state: &Runtime,
    conversation: &Conversation,
    group: GroupId,
    by: UserId,
) -> Result<(), ApplyError> {
    if conversation.group == Some(group) {
        return Err(
            Rejection::conflict(ErrorCode::TransferToSameGroup, "The conversation is already in that group.").into()
        );
    }
    if state.routing.is_member(by, group) && !state.routing.taken_by_others(group, by) {
        return Err(Rejection::conflict(
            ErrorCode::TransferToOnlyYourself,
            "Nobody else in that group is taking conversations now; it would come back to you. Choose another group or an agent.",
        )
        .into());
    }
    Ok(())
}

/// Refuses a person's move into a group's queue that is at its limit, before anything is changed.
/// (A rule's move waits beyond the limit instead, like a new customer: nothing it says is lost.)
pub fn check_queue_room(state: &Runtime, group: GroupId) -> Result<(), ApplyError> {
    if state.routing.queue_full(Some(group)) {
        return Err(routing_rejection(RoutingError::QueueFull));
    }
    Ok(())
}

/// Refuses to put back in a queue a conversation routing does not hold (waiting or assigned):
/// for a check, before `requeue_checked`.
pub fn check_requeue(state: &Runtime, conversation: &Conversation) -> Result<(), ApplyError> {
    state.routing.check_release(conversation.id).map_err(routing_rejection)
}

/// Puts a conversation in a group's queue (a transfer, or a rule's `group` action); returns the
/// assignments routing then made. The group must exist; past its limit it waits beyond it
/// (overflow), so the caller checks room first where a full queue is to be refused. Refuses (before
/// any change) what routing does not hold; a command's write step runs `check_requeue` in its check
/// and calls `requeue_checked`.
pub fn requeue(
    state: &mut Runtime,
    tx: &WriteTransaction,
    conversation: &mut Conversation,
    group: GroupId,
    at: u64,
) -> Result<Vec<Assignment>, ApplyError> {
    check_requeue(state, conversation)?;
    Ok(requeue_checked(state, tx, conversation, group, at)?)
}

/// `requeue` once `check_requeue` passed: fails only on storage.
pub fn requeue_checked(
    state: &mut Runtime,
    tx: &WriteTransaction,
    conversation: &mut Conversation,
    group: GroupId,
    at: u64,
) -> Result<Vec<Assignment>, WriteError> {
    let mut made = state.routing.release(conversation.id, at).map_err(routing_broke)?;
    conversation.group = Some(group);
    conversation.status = Status::Queued;
    conversation.assignee = None;
    conversation.enqueued_at = Some(at);
    save_conversation(tx, conversation)?;
    let ticket = super::runtime::ticket(conversation);
    made.extend(state.routing.enqueue(conversation.id, ticket, at).map_err(routing_broke)?);
    Ok(made)
}
