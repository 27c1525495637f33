//! Activity lines (issue 12, point 6): every transfer, assignment and finalization leaves a line in
//! the conversation for staff only, with who did what to whom (names as they were then), so each
//! reader's UI words it in their language. Never sent to the customer: private, and marked.

use redb::WriteTransaction;

use super::records::find_user;
use super::{ApplyError, Event, Tables};
use crate::domain::conversation::{Activity, ActivityKind, Author, Conversation, Message, Party};
use crate::domain::ids::{ConversationId, GroupId, MessageId, UserId};
use crate::store::tables::GROUP_ID_TO_GROUP;

/// Writes the line and tells staff of it (`message.created`).
pub fn write(
    tx: &WriteTransaction,
    events: &mut Vec<Event>,
    conversation: &Conversation,
    kind: ActivityKind,
    actor: Option<Party>,
    target: Option<Party>,
    at: u64,
) -> Result<(), ApplyError> {
    let activity = Activity { kind, actor, target };
    let message = Message {
        id: MessageId(0),
        conversation: conversation.id,
        author: Author::System,
        text: String::new(),
        private: true,
        created_at: at,
        activity: Some(activity),
        rule: None,
    };
    let message = super::records::append(tx, message)?;
    events.push(Event::MessageCreated { conversation: conversation.clone(), message });
    Ok(())
}

/// Whether this command already wrote a line giving the conversation to `agent` (so the
/// assignment that follows is not told twice).
pub fn told(events: &[Event], conversation: ConversationId, agent: UserId) -> bool {
    events.iter().any(|event| match event {
        Event::MessageCreated { message, .. } => {
            message.conversation == conversation
                && message.activity.as_ref().is_some_and(|a| {
                    a.kind != ActivityKind::Finalized && a.target.as_ref().is_some_and(|t| t.is_user(agent))
                })
        }
        _ => false,
    })
}

/// The user as a line names them; one no longer on record gets an empty name (as a group does),
/// so writing a line never rejects.
pub fn user_party(tx: &impl Tables, id: UserId) -> Result<Party, ApplyError> {
    Ok(Party::user(id, find_user(tx, id)?.map(|user| user.full_name()).unwrap_or_default()))
}

pub fn group_party(tx: &impl Tables, id: GroupId) -> Result<Party, ApplyError> {
    let table = tx.table(GROUP_ID_TO_GROUP.definition())?;
    let name = GROUP_ID_TO_GROUP.get(&table, id.0)?.map(|group| group.name).unwrap_or_default();
    Ok(Party::group(id, name))
}
