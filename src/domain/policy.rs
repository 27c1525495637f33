//! Who may see and who may act on a conversation or a contact: the one policy the HTTP handlers,
//! the realtime filters and the core all ask (R-ROLE-1, R-CONV-4). Routes are decided by
//! `access::allows`; this decides objects. Pure.

use super::access::{Grants, Role};
use super::conversation::{Conversation, Status};
use super::ids::{GroupId, UserId};

/// Someone looking at conversations: who they are, their roles and the groups they belong to.
#[derive(Debug, Clone, Copy)]
pub struct Viewer<'a> {
    pub user: UserId,
    pub grants: &'a Grants,
    pub groups: &'a [GroupId],
}

/// Supervisors, administrators and stakeholders see every conversation and contact.
pub fn sees_everything(grants: &Grants) -> bool {
    [Role::Admin, Role::Supervisor, Role::Stakeholder].iter().any(|role| grants.has_role(*role))
}

/// Supervisors and administrators may act on any conversation (reply, finalize, assign, force).
pub fn oversees(grants: &Grants) -> bool {
    grants.has_role(Role::Admin) || grants.has_role(Role::Supervisor)
}

/// An agent sees the conversations she holds or held, and what waits in the queues she serves
/// (a queued conversation with no group waits for everyone).
pub fn may_see(viewer: Viewer<'_>, conversation: &Conversation) -> bool {
    sees_everything(viewer.grants)
        || conversation.assignee == Some(viewer.user)
        || conversation.served_by.contains(&viewer.user)
        || (conversation.status == Status::Queued && conversation.group.is_none_or(|g| viewer.groups.contains(&g)))
}

/// A contact is visible through any of its conversations the viewer may see (the newest on each
/// of its channels).
pub fn may_see_contact<'c>(viewer: Viewer<'_>, mut conversations: impl Iterator<Item = &'c Conversation>) -> bool {
    sees_everything(viewer.grants) || conversations.any(|conversation| may_see(viewer, conversation))
}

/// Why someone may not act on a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotActing {
    Finalized,
    NotYours,
}

/// Replying, noting, finalizing, labelling: on an open conversation, by whoever holds it or by
/// someone who oversees.
pub fn may_act(user: UserId, oversees: bool, conversation: &Conversation) -> Result<(), NotActing> {
    if conversation.status == Status::Finalized {
        return Err(NotActing::Finalized);
    }
    may_edit(user, oversees, conversation)
}

/// Labels may change on a finalized conversation too: only who holds it matters.
pub fn may_edit(user: UserId, oversees: bool, conversation: &Conversation) -> Result<(), NotActing> {
    if oversees || conversation.assignee == Some(user) { Ok(()) } else { Err(NotActing::NotYours) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::access::Permission;
    use crate::domain::ids::ConversationId;

    fn grants(roles: &[Role]) -> Grants {
        Grants { roles: roles.to_vec(), permissions: Vec::<Permission>::new() }
    }

    fn conversation(status: Status, assignee: Option<u64>, group: Option<u64>) -> Conversation {
        let mut conversation = Conversation::for_tests(ConversationId(1));
        conversation.status = status;
        conversation.assignee = assignee.map(UserId);
        conversation.group = group.map(GroupId);
        conversation
    }

    #[test]
    fn agents_see_their_own_and_their_queues_overseers_see_all() {
        let agent = grants(&[Role::Agent]);
        let me = Viewer { user: UserId(7), grants: &agent, groups: &[GroupId(1)] };
        assert!(may_see(me, &conversation(Status::Assigned, Some(7), Some(2))), "mine");
        assert!(!may_see(me, &conversation(Status::Assigned, Some(8), Some(1))), "a colleague's");
        assert!(may_see(me, &conversation(Status::Queued, None, Some(1))), "my group's queue");
        assert!(may_see(me, &conversation(Status::Queued, None, None)), "the general queue");
        assert!(!may_see(me, &conversation(Status::Queued, None, Some(2))), "another group's queue");
        let mut served = conversation(Status::Finalized, Some(8), Some(2));
        served.served_by.push(UserId(7));
        assert!(may_see(me, &served), "one I served before");
        for role in [Role::Admin, Role::Supervisor, Role::Stakeholder] {
            let all = grants(&[role]);
            let viewer = Viewer { user: UserId(9), grants: &all, groups: &[] };
            assert!(may_see(viewer, &conversation(Status::Assigned, Some(8), Some(2))), "{role:?}");
        }
        assert!(!may_see_contact(me, [conversation(Status::Assigned, Some(8), None)].iter()));
    }

    #[test]
    fn only_the_holder_or_an_overseer_acts_and_never_on_a_finalized_one() {
        let mine = conversation(Status::Assigned, Some(7), None);
        assert_eq!(may_act(UserId(7), false, &mine), Ok(()));
        assert_eq!(may_act(UserId(8), false, &mine), Err(NotActing::NotYours));
        assert_eq!(may_act(UserId(8), true, &mine), Ok(()));
        let done = conversation(Status::Finalized, Some(7), None);
        assert_eq!(may_act(UserId(7), true, &done), Err(NotActing::Finalized));
        assert_eq!(may_edit(UserId(7), false, &done), Ok(()), "labels on a finalized one");
        assert!(oversees(&grants(&[Role::Supervisor])) && !oversees(&grants(&[Role::Stakeholder])));
    }
}
