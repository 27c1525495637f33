//! The rules' `assign` hook as the router's outside policy. Routing puts a question (a waiting
//! conversation and who could take it) and passes the conversation over; the question is
//! published after its batch commits, the rules job runs the hook on its own pool, away from the
//! writer, on the committed facts, and its answer comes back as a command that routing checks
//! again (the agent named must still be able to take it, else the built-in policy decides).

use redb::WriteTransaction;

use super::conversations::write_assignments;
use super::rules::{facts_with, group_name};
use super::{ApplyError, Command, Event, Read, Runtime, WriteError};
use crate::domain::account::Group;
use crate::domain::ids::{ConversationId, UserId};
use crate::domain::routing::{Assignment, Candidate, Choice, Question};
use crate::rules::Rules;
use crate::rules::actions::Pick;
use crate::rules::data;
use crate::store::Reader;

/// Turns the outside policy on when the rules have an `assign` hook, off when they no longer do.
pub struct SetAssignHook {
    pub on: bool,
    pub at: u64,
}

/// The hook's answer to a question.
pub struct AnswerAssignment {
    pub conversation: ConversationId,
    pub choice: Choice,
    pub at: u64,
}

/// Every open question again (the rules job fell behind and may have missed some).
pub struct AskAgain {
    pub at: u64,
}

/// Each of the three is a routing operation whose assignments are written; none can be refused.
macro_rules! routing_command {
    ($command:ty, |$plan:ident, $routing:ident| $operation:expr) => {
        impl Command<Runtime, Event> for $command {
            type Output = ();
            type Plan = Self;

            fn check(self, _: &Runtime, _: &Read<'_>) -> Result<Self, ApplyError> {
                Ok(self)
            }

            fn write(
                $plan: Self,
                state: &mut Runtime,
                tx: &WriteTransaction,
                events: &mut Vec<Event>,
            ) -> Result<(), WriteError> {
                let $routing = &mut state.routing;
                let made: Vec<Assignment> = $operation;
                write_assignments(tx, &made, $plan.at, events)?;
                Ok(())
            }
        }
    };
}

routing_command!(SetAssignHook, |plan, routing| routing.set_outside(plan.on, plan.at));
routing_command!(AnswerAssignment, |plan, routing| routing.answer(plan.conversation, plan.choice, plan.at));
routing_command!(AskAgain, |plan, routing| routing.ask_again(plan.at));

/// What the rules' `assign` hook answers to a question, from the committed facts. Blocking (runs
/// on the rules' pool, under their deadline); anything missing or failing: the built-in policy.
pub fn rule_choice(rules: &Rules, read: &Reader, question: &Question) -> Choice {
    if !rules.has("assign") {
        return Choice::Builtin;
    }
    let groups = read.groups().unwrap_or_default();
    let Ok(Some(mut view)) = facts_with(read, &groups, question.conversation) else { return Choice::Builtin };
    // The queue it waits in when asked (a move may not be on the conversation's record yet).
    view.group = group_name(&groups, question.ticket.queue).map(str::to_owned);
    let list: Vec<data::Candidate> = question.candidates.iter().map(|c| candidate(read, &groups, c)).collect();
    match rules.assign(view.to_map(), &list) {
        Pick::Default => Choice::Builtin,
        Pick::Leave => Choice::Leave,
        Pick::Agent(agent) => Choice::Agent(UserId(agent)),
    }
}

fn candidate(read: &Reader, groups: &[Group], c: &Candidate) -> data::Candidate {
    let user = read.user(c.id).ok().flatten();
    data::Candidate {
        id: c.id.0,
        name: user.as_ref().map(|u| format!("{} {}", u.first_name, u.last_name).trim().to_owned()).unwrap_or_default(),
        email: user.map(|u| u.email).unwrap_or_default(),
        load: c.load as u64,
        capacity: u64::from(c.capacity),
        groups: c.groups.iter().filter_map(|g| group_name(groups, Some(*g)).map(str::to_owned)).collect(),
        skills: Vec::new(),
        last_assigned_at: c.last_assigned_at,
    }
}
