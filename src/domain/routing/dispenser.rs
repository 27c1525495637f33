//! The dispenser (R-CONV-4, manual mode): an agent takes a waiting conversation by hand, the
//! oldest one they may serve or one they pick. Whatever the agent's own mode, never past their cap,
//! never one a supervisor must assign (a channel in mode `none`). `next_for` and `may_take` answer
//! as `take_next` and `take` would, changing nothing: a command decides with them before it writes.

use super::{AssignMode, Assignment, Routing, RoutingError, Ticket};
use crate::domain::ids::{ConversationId, UserId};

impl Routing {
    /// The conversation `take_next` would give this agent now (`None`: nothing they may take).
    pub fn next_for(&self, agent: UserId) -> Result<Option<ConversationId>, RoutingError> {
        let this = self.agents.get(&agent).ok_or(RoutingError::UnknownAgent)?;
        if !self.has_slot(this) {
            return Err(RoutingError::AgentFull);
        }
        let oldest = self
            .queues
            .iter()
            .filter(|(queue, _)| self.serves(this, **queue))
            .filter_map(|(_, line)| self.first_in(line, |mode| mode != AssignMode::None))
            .min();
        Ok(oldest.map(|(_, conversation)| conversation))
    }

    /// The oldest waiting conversation this agent may serve, given to them.
    pub fn take_next(&mut self, agent: UserId, now: u64) -> Result<Option<Assignment>, RoutingError> {
        let Some(conversation) = self.next_for(agent)? else {
            return Ok(None);
        };
        self.take(conversation, agent, now).map(Some)
    }

    /// Whether `take` would give this conversation to the agent: it must wait in a queue they
    /// serve, not be one a supervisor assigns, and they must have a free slot. Its ticket if so.
    pub fn may_take(&self, conversation: ConversationId, agent: UserId) -> Result<Ticket, RoutingError> {
        let this = self.agents.get(&agent).ok_or(RoutingError::UnknownAgent)?;
        let ticket = *self.waiting.get(&conversation).ok_or(RoutingError::NotWaiting)?;
        if !self.serves(this, ticket.queue) {
            return Err(RoutingError::NotServed);
        }
        if ticket.mode == AssignMode::None {
            return Err(RoutingError::SupervisorAssigns);
        }
        if !self.has_slot(this) {
            return Err(RoutingError::AgentFull);
        }
        Ok(ticket)
    }

    /// The agent takes this waiting conversation, if `may_take` says they may.
    pub fn take(&mut self, conversation: ConversationId, agent: UserId, now: u64) -> Result<Assignment, RoutingError> {
        let ticket = self.may_take(conversation, agent)?;
        self.release(conversation, now)?;
        self.give(conversation, agent, ticket, now);
        Ok(Assignment { conversation, agent })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{AgentSettings, Ticket};
    use super::*;
    use crate::domain::ids::{ContactId, GroupId};

    fn waiting(routing: &mut Routing, id: u64, queue: Option<u64>, mode: AssignMode) {
        let ticket = Ticket { queue: queue.map(GroupId), enqueued_at: id, contact: ContactId(id), mode };
        routing.enqueue(ConversationId(id), ticket, id).unwrap();
    }

    /// An agent of group 5 with one slot, offline (so the router gives her nothing by itself).
    fn routing_with_bea() -> Routing {
        let mut routing = Routing::new(1);
        let settings = AgentSettings { capacity: None, groups: [GroupId(5)].into(), mode: AssignMode::Manual };
        routing.upsert_agent(UserId(1), settings, 0);
        routing
    }

    #[test]
    fn next_for_names_what_take_next_takes_and_changes_nothing() {
        let mut routing = routing_with_bea();
        assert_eq!(routing.next_for(UserId(1)), Ok(None), "nothing waits");
        waiting(&mut routing, 1, Some(6), AssignMode::Manual);
        waiting(&mut routing, 2, None, AssignMode::None);
        waiting(&mut routing, 3, Some(5), AssignMode::Manual);
        waiting(&mut routing, 4, None, AssignMode::Manual);
        assert_eq!(routing.next_for(UserId(1)), Ok(Some(ConversationId(3))), "not group 6, not a supervisor's");
        assert_eq!(routing.next_for(UserId(1)), Ok(Some(ConversationId(3))), "asking took nothing");
        assert_eq!((routing.waiting_count(), routing.position(ConversationId(3))), (4, Some(1)));
        let taken = routing.take_next(UserId(1), 9).unwrap();
        assert_eq!(taken, Some(Assignment { conversation: ConversationId(3), agent: UserId(1) }));
        assert_eq!(routing.next_for(UserId(1)), Err(RoutingError::AgentFull));
        assert_eq!(routing.take_next(UserId(1), 9), Err(RoutingError::AgentFull));
        assert_eq!(routing.next_for(UserId(9)), Err(RoutingError::UnknownAgent));
    }

    #[test]
    fn may_take_refuses_as_take_would_and_changes_nothing() {
        let mut routing = routing_with_bea();
        waiting(&mut routing, 1, Some(6), AssignMode::Manual);
        waiting(&mut routing, 2, None, AssignMode::None);
        waiting(&mut routing, 3, Some(5), AssignMode::Automatic);
        for (conversation, agent, refusal) in [
            (1, 1, RoutingError::NotServed),
            (2, 1, RoutingError::SupervisorAssigns),
            (8, 1, RoutingError::NotWaiting),
            (3, 9, RoutingError::UnknownAgent),
        ] {
            let (conversation, agent) = (ConversationId(conversation), UserId(agent));
            assert_eq!(routing.may_take(conversation, agent), Err(refusal));
            assert_eq!(routing.take(conversation, agent, 9), Err(refusal));
        }
        assert_eq!(routing.may_take(ConversationId(3), UserId(1)).map(|t| t.enqueued_at), Ok(3));
        assert_eq!(routing.waiting_count(), 3, "asking took nothing");
        routing.take(ConversationId(3), UserId(1), 9).unwrap();
        waiting(&mut routing, 4, Some(5), AssignMode::Manual);
        assert_eq!(routing.may_take(ConversationId(4), UserId(1)), Err(RoutingError::AgentFull));
        assert_eq!(routing.take(ConversationId(4), UserId(1), 9), Err(RoutingError::AgentFull));
    }
}
