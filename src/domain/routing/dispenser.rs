//! The dispenser (R-CONV-4, manual mode): an agent takes a waiting conversation by hand, the
//! oldest one they may serve or one they pick. Whatever the agent's own mode, never past their cap,
//! never one a supervisor must assign (a channel in mode `none`).

use super::{AssignMode, Assignment, Routing, RoutingError};
use crate::domain::ids::{ConversationId, UserId};

impl Routing {
    /// The oldest waiting conversation this agent may serve, given to them.
    pub fn take_next(&mut self, agent: UserId, now: u64) -> Result<Option<Assignment>, RoutingError> {
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
        let Some((_, conversation)) = oldest else {
            return Ok(None);
        };
        let ticket = self.waiting[&conversation];
        self.release(conversation, now)?;
        self.give(conversation, agent, ticket, now);
        Ok(Some(Assignment { conversation, agent }))
    }

    /// The agent takes this waiting conversation: it must wait in a queue they serve, not be one a
    /// supervisor assigns, and they must have a free slot.
    pub fn take(&mut self, conversation: ConversationId, agent: UserId, now: u64) -> Result<Assignment, RoutingError> {
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
        self.release(conversation, now)?;
        self.give(conversation, agent, ticket, now);
        Ok(Assignment { conversation, agent })
    }
}
