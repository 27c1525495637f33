//! What rules ask for, as commands: `on_message`'s actions and `should_close`'s closures go
//! through the writer with the same checks as a person's (the `assign` hook: `assign_hook`).

use redb::WriteTransaction;

use super::activity::group_party;
use super::conversations::{finish, load_conversation, routing_rejection, save_conversation, system_message};
use super::records::rule_name;
use super::transfers::requeue;
use super::{ApplyError, Command, Event, Read, Rejection, Runtime, Tables, WriteError};
use crate::domain::account::Group;
use crate::domain::conversation::{
    ActivityKind, Channel, Contact, Conversation, Party, Status, check_text, clean_label,
};
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::{ConversationId, GroupId};
use crate::domain::routing::RoutingError;
use crate::rules::actions::Action;
use crate::rules::data::{self, ConversationFacts};
use crate::store::Reader;
use crate::store::tables::GROUP_ID_TO_GROUP;

/// What a rule's `on_message` asked for, applied together: every action is checked before the
/// first is written, so a bad one (an unknown group, an empty reply) changes nothing.
pub struct ApplyRuleActions {
    pub conversation: ConversationId,
    pub actions: Vec<Action>,
    /// The rule file that asked: its replies and notes carry its name as author.
    pub rule: String,
    pub at: u64,
}

impl Command<Runtime, Event> for ApplyRuleActions {
    type Output = Conversation;
    type Plan = RulePlan;

    fn check(self, state: &Runtime, read: &Read<'_>) -> Result<RulePlan, ApplyError> {
        let conversation = load_conversation(read, self.conversation)?;
        if conversation.status == Status::Finalized {
            return Err(Rejection::conflict(ErrorCode::ConversationFinalized, "The conversation is finalized.").into());
        }
        let groups: Vec<Group> =
            GROUP_ID_TO_GROUP.all(&read.table(GROUP_ID_TO_GROUP.definition())?)?.into_iter().map(|(_, g)| g).collect();
        // A full group takes a rule's move beyond its limit (overflow), as it takes a new customer:
        // refusing it would lose the rule's reply and labels with it (issue 12, point 9).
        let mut checked = self.actions.iter().map(|action| check(action, &groups)).collect::<Result<Vec<_>, _>>()?;
        // Finalizing ends what a conversation can take, so it comes last.
        checked.sort_by_key(|action| matches!(action, Checked::Finalize(_)));
        let steps = plan_steps(checked, &conversation, read)?;
        check_movable(state, conversation.id, &steps)?;
        Ok(RulePlan { conversation, steps, rule: self.rule, at: self.at })
    }

    fn write(
        plan: RulePlan,
        state: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<Conversation, WriteError> {
        let RulePlan { mut conversation, steps, rule, at } = plan;
        let changed = steps.iter().any(|step| matches!(step, Step::Label(_) | Step::Move(..)));
        for step in steps {
            match step {
                Step::Message(text, private) => {
                    system_message(tx, events, &mut conversation, text, private, &rule, at)?;
                }
                Step::Label(label) => conversation.labels.push(label),
                Step::Move(group, target) => {
                    let made = requeue(state, tx, &mut conversation, group, at)?;
                    let actor = Party::rule(rule_name(&rule));
                    let kind = ActivityKind::Transferred;
                    super::activity::write(tx, events, &conversation, kind, Some(actor), Some(target), at)?;
                    events.push(Event::QueueChanged);
                    super::conversations::write_assignments(tx, &made, at, events)?;
                    conversation = load_conversation(tx, conversation.id)?;
                    super::notify::entered_queue(tx, &conversation, None, at, events)?;
                }
                Step::Finalize(reason) => {
                    save_conversation(tx, &conversation)?;
                    finalized_by_rule(tx, events, &conversation, &rule, at)?;
                    finish(state, tx, events, &mut conversation, reason, at)?;
                    return Ok(conversation);
                }
            }
        }
        save_conversation(tx, &conversation)?;
        if changed {
            events.push(Event::ConversationUpdated { conversation: conversation.clone() });
        }
        Ok(conversation)
    }
}

/// What a rule's actions come to, in order, every one of them decided: the conversation (as
/// loaded) and the steps to write.
pub struct RulePlan {
    conversation: Conversation,
    steps: Vec<Step>,
    rule: String,
    at: u64,
}

/// One decided action: a message, a label it lacks, a move to a group it is not in (named as the
/// activity line names it), finalizing.
enum Step {
    Message(String, bool),
    Label(String),
    Move(GroupId, Party),
    Finalize(Option<String>),
}

/// Drops what would change nothing (a label it has, a move to the group it is in by then) and
/// what follows a finalize.
fn plan_steps(checked: Vec<Checked>, conversation: &Conversation, read: &Read<'_>) -> Result<Vec<Step>, ApplyError> {
    let mut labels = conversation.labels.clone();
    let mut group = conversation.group;
    let mut steps = Vec::new();
    for action in checked {
        match action {
            Checked::Message(text, private) => steps.push(Step::Message(text, private)),
            Checked::Label(label) if labels.iter().any(|l| l.eq_ignore_ascii_case(&label)) => {}
            Checked::Label(label) => {
                labels.push(label.clone());
                steps.push(Step::Label(label));
            }
            Checked::Group(id) if group == Some(id) => {}
            Checked::Group(id) => {
                group = Some(id);
                steps.push(Step::Move(id, group_party(read, id)?));
            }
            Checked::Finalize(reason) => {
                steps.push(Step::Finalize(reason));
                break;
            }
        }
    }
    Ok(steps)
}

/// A move takes the conversation out of routing first (and back in): routing must hold it.
fn check_movable(state: &Runtime, id: ConversationId, steps: &[Step]) -> Result<(), ApplyError> {
    let routed = state.routing.ticket(id).is_some() || state.routing.assignee(id).is_some();
    if !routed && steps.iter().any(|step| matches!(step, Step::Move(..))) {
        return Err(routing_rejection(RoutingError::UnknownConversation));
    }
    Ok(())
}

/// An action checked: what it asks, valid.
enum Checked {
    Message(String, bool),
    Label(String),
    Group(GroupId),
    Finalize(Option<String>),
}

fn check(action: &Action, groups: &[Group]) -> Result<Checked, Rejection> {
    Ok(match action {
        Action::Reply(text) => Checked::Message(check_text(text)?, false),
        Action::Note(text) => Checked::Message(check_text(text)?, true),
        Action::Label(label) => Checked::Label(clean_label(label)?),
        Action::Group(name) => {
            let group = groups
                .iter()
                .find(|group| group.deleted_at.is_none() && group.name.eq_ignore_ascii_case(name.trim()))
                .ok_or_else(|| {
                    Rejection::not_found(ErrorCode::GroupNotFound, format!("There is no group named {name:?}."))
                })?;
            Checked::Group(group.id)
        }
        Action::Finalize(reason) if reason.trim().is_empty() => Checked::Finalize(None),
        Action::Finalize(reason) => Checked::Finalize(Some(clean_label(reason)?)),
    })
}

/// A rule's `should_close` said yes: the conversation closes, after an optional message, unless
/// someone wrote since the sweep looked at it.
pub struct CloseIdle {
    pub conversation: ConversationId,
    pub message: Option<String>,
    /// `last_message_at` when the rule was asked.
    pub seen: u64,
    pub rule: String,
    pub at: u64,
}

impl Command<Runtime, Event> for CloseIdle {
    type Output = bool;
    /// `None`: finalized already, or someone wrote since the sweep looked.
    type Plan = Option<ClosePlan>;

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<Option<ClosePlan>, ApplyError> {
        let conversation = load_conversation(read, self.conversation)?;
        if conversation.status == Status::Finalized || conversation.last_message_at != self.seen {
            return Ok(None);
        }
        let message = self.message.as_deref().map(check_text).transpose().map_err(Rejection::from)?;
        let reason = clean_label(&format!("closed by rule {}", rule_name(&self.rule)))
            .unwrap_or_else(|_| "closed by a rule".to_owned());
        Ok(Some(ClosePlan { conversation, message, reason, rule: self.rule, at: self.at }))
    }

    fn write(
        plan: Option<ClosePlan>,
        state: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<bool, WriteError> {
        let Some(ClosePlan { mut conversation, message, reason, rule, at }) = plan else {
            return Ok(false);
        };
        if let Some(text) = message {
            system_message(tx, events, &mut conversation, text, false, &rule, at)?;
        }
        finalized_by_rule(tx, events, &conversation, &rule, at)?;
        finish(state, tx, events, &mut conversation, Some(reason), at)?;
        Ok(true)
    }
}

/// An idle conversation to close, with the rule's last words (checked) and the reason it gives.
pub struct ClosePlan {
    conversation: Conversation,
    message: Option<String>,
    reason: String,
    rule: String,
    at: u64,
}

pub fn group_name(groups: &[Group], id: Option<GroupId>) -> Option<&str> {
    let id = id?;
    groups.iter().find(|group| group.id == id).map(|group| group.name.as_str())
}

/// The "Finalized by rule …" line for staff.
fn finalized_by_rule(
    tx: &WriteTransaction,
    events: &mut Vec<Event>,
    conversation: &Conversation,
    rule: &str,
    at: u64,
) -> Result<(), ApplyError> {
    let actor = Party::rule(rule_name(rule));
    super::activity::write(tx, events, conversation, ActivityKind::Finalized, Some(actor), None, at)
}

/// A conversation with everything a rule sees of it, read in one transaction.
pub fn facts_of(read: &Reader, id: ConversationId) -> Result<Option<RuleView>, crate::store::StoreError> {
    facts_with(read, &read.groups()?, id)
}

/// As `facts_of`, with the groups already read (for callers asking about many conversations).
pub fn facts_with(
    read: &Reader,
    groups: &[Group],
    id: ConversationId,
) -> Result<Option<RuleView>, crate::store::StoreError> {
    let Some(conversation) = read.conversation(id)? else { return Ok(None) };
    let contact = read.contact(conversation.contact)?.unwrap_or_default();
    let Some(channel) = read.channel(conversation.channel)? else { return Ok(None) };
    let group = group_name(groups, conversation.group).map(str::to_owned);
    Ok(Some(RuleView { conversation, contact, channel, group }))
}

/// Owned facts about a conversation, ready to become a rule's map.
#[derive(Debug, Clone)]
pub struct RuleView {
    pub conversation: Conversation,
    pub contact: Contact,
    pub channel: Channel,
    pub group: Option<String>,
}

impl RuleView {
    pub fn to_map(&self) -> rhai::Dynamic {
        data::conversation(&ConversationFacts {
            conversation: &self.conversation,
            contact: &self.contact,
            channel: &self.channel,
            group: self.group.as_deref(),
        })
    }
}

#[cfg(test)]
mod tests;
