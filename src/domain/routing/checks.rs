//! Whether a routing operation would succeed, without doing it: a command asks these while it
//! checks (the state is only read then) and changes routing only when it writes. The operations
//! themselves ask the same functions first, so the answer and the operation cannot disagree.

use super::{Routing, RoutingError};
use crate::domain::ids::{ConversationId, UserId};

impl Routing {
    /// Would `enqueue` take this conversation? Only if routing does not hold it already.
    pub fn check_enqueue(&self, conversation: ConversationId) -> Result<(), RoutingError> {
        if self.waiting.contains_key(&conversation) || self.assigned.contains_key(&conversation) {
            return Err(RoutingError::Duplicate);
        }
        Ok(())
    }

    /// Would `release` let this conversation go? Only if it waits or is assigned.
    pub fn check_release(&self, conversation: ConversationId) -> Result<(), RoutingError> {
        if self.waiting.contains_key(&conversation) || self.assigned.contains_key(&conversation) {
            return Ok(());
        }
        Err(RoutingError::UnknownConversation)
    }

    /// Would `assign_to` give this conversation to `agent`? The agent must be routed, and (without
    /// `force`) available, online and with a free slot; the conversation must be in routing.
    pub fn check_assign_to(
        &self,
        conversation: ConversationId,
        agent: UserId,
        force: bool,
    ) -> Result<(), RoutingError> {
        let target = self.agents.get(&agent).ok_or(RoutingError::UnknownAgent)?;
        let free = target.available && target.online && self.has_slot(target);
        if !force && !free {
            return Err(RoutingError::AgentFull);
        }
        self.check_release(conversation)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{AgentSettings, AssignMode, Ticket};
    use super::*;
    use crate::domain::ids::ContactId;

    fn ticket(at: u64) -> Ticket {
        Ticket { queue: None, enqueued_at: at, contact: ContactId(at), mode: AssignMode::Automatic }
    }

    /// Routing with one agent of one slot (online and available as asked) holding conversation 1,
    /// and conversation 2 waiting behind it.
    fn one_busy_agent(online: bool, available: bool) -> Routing {
        let mut routing = Routing::new(1);
        routing.upsert_agent(UserId(1), AgentSettings::default(), 0);
        routing.set_online(UserId(1), true, 0).unwrap();
        routing.set_available(UserId(1), true, 0).unwrap();
        routing.enqueue(ConversationId(1), ticket(1), 1).unwrap();
        routing.enqueue(ConversationId(2), ticket(2), 2).unwrap();
        routing.set_online(UserId(1), online, 3).unwrap();
        routing.set_available(UserId(1), available, 3).unwrap();
        routing
    }

    #[test]
    fn enqueue_is_refused_only_for_what_routing_holds() {
        let mut routing = one_busy_agent(true, true);
        for held in [ConversationId(1), ConversationId(2)] {
            assert_eq!(routing.check_enqueue(held), Err(RoutingError::Duplicate));
            assert_eq!(routing.enqueue(held, ticket(9), 9), Err(RoutingError::Duplicate));
        }
        assert_eq!(routing.check_enqueue(ConversationId(3)), Ok(()));
        assert!(routing.enqueue(ConversationId(3), ticket(3), 3).is_ok());
    }

    #[test]
    fn release_is_refused_only_for_what_routing_does_not_hold() {
        let mut routing = one_busy_agent(true, true);
        assert_eq!(routing.check_release(ConversationId(7)), Err(RoutingError::UnknownConversation));
        assert_eq!(routing.release(ConversationId(7), 4), Err(RoutingError::UnknownConversation));
        for held in [ConversationId(2), ConversationId(1)] {
            assert_eq!(routing.check_release(held), Ok(()));
            assert!(routing.release(held, 4).is_ok());
            assert_eq!(routing.check_release(held), Err(RoutingError::UnknownConversation), "released");
        }
    }

    #[test]
    fn assign_to_is_checked_as_it_is_done() {
        let cases = [
            // (online, available, agent, conversation, force) -> answer
            ((true, true, 1, 2, false), Err(RoutingError::AgentFull)),
            ((true, true, 1, 2, true), Ok(())),
            ((false, true, 1, 1, false), Err(RoutingError::AgentFull)),
            ((true, false, 1, 1, true), Ok(())),
            ((true, true, 9, 1, true), Err(RoutingError::UnknownAgent)),
            ((true, true, 1, 7, true), Err(RoutingError::UnknownConversation)),
        ];
        for ((online, available, agent, conversation, force), answer) in cases {
            let mut routing = one_busy_agent(online, available);
            let (agent, conversation) = (UserId(agent), ConversationId(conversation));
            assert_eq!(routing.check_assign_to(conversation, agent, force), answer);
            let before = routing.clone();
            let done = routing.assign_to(conversation, agent, force, 5).map(|_| ());
            assert_eq!(done, answer, "the check and the operation agree");
            if done.is_err() {
                assert_eq!(routing.queue(None).collect::<Vec<_>>(), before.queue(None).collect::<Vec<_>>());
                assert_eq!(routing.agent(UserId(1)), before.agent(UserId(1)), "a refusal changes nothing");
            }
        }
    }
}
