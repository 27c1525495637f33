//! Commands on groups (departments): create, rename, change members, delete (R-GRP-1, R-GRP-2).

use std::collections::BTreeSet;

use redb::WriteTransaction;

use super::agents::sync_all_agents;
use super::conversations::{open_conversations, save_conversation, write_assignments};
use super::records::{all_users, audit, live_group};
use super::{ApplyError, Command, Event, Read, Rejection, Runtime, Tables, WriteError};
use crate::domain::account::{Group, clean_group_name};
use crate::domain::audit::Actor;
use crate::domain::conversation::Conversation;
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::{GroupId, UserId};
use crate::domain::routing::GroupRules;
use crate::store::tables::GROUP_ID_TO_GROUP;

pub struct CreateGroup {
    pub name: String,
    pub members: Vec<UserId>,
    pub rules: GroupRules,
    pub actor: Actor,
    pub at: u64,
}

/// A group as it is to be stored, checked, and who asked.
pub struct GroupPlan {
    group: Group,
    actor: Actor,
}

impl Command<Runtime, Event> for CreateGroup {
    type Output = Group;
    type Plan = GroupPlan;

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<GroupPlan, ApplyError> {
        let name = clean_group_name(&self.name).map_err(Rejection::from)?;
        let members = check_members(read, &self.members)?;
        let table = read.table(GROUP_ID_TO_GROUP.definition())?;
        check_name_free(&GROUP_ID_TO_GROUP.all(&table)?, &name, None)?;
        let id = GroupId(GROUP_ID_TO_GROUP.next_key(&table)?);
        let group = Group { id, name, members, created_at: self.at, deleted_at: None, rules: self.rules };
        Ok(GroupPlan { group, actor: self.actor })
    }

    fn write(
        plan: GroupPlan,
        state: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<Group, WriteError> {
        let GroupPlan { group, actor } = plan;
        let at = group.created_at;
        save_group(tx, &group)?;
        audit(tx, &actor, "group.create", format!("group:{}", group.id), group.name.clone(), at)?;
        // Sockets re-check who may see what before the events this change causes.
        events.push(Event::GroupChanged { id: group.id });
        let assignments = state.routing.set_group(group.id, group.rules, at);
        write_assignments(tx, &assignments, at, events)?;
        sync_all_agents(state, tx, at, events)?;
        Ok(group)
    }
}

pub struct UpdateGroup {
    pub id: GroupId,
    pub name: Option<String>,
    pub members: Option<Vec<UserId>>,
    pub rules: Option<GroupRules>,
    pub actor: Actor,
    pub at: u64,
}

/// A group's change, checked: the group as it is to be stored, and when.
pub struct GroupChange {
    group: Group,
    actor: Actor,
    at: u64,
}

impl Command<Runtime, Event> for UpdateGroup {
    type Output = Group;
    type Plan = GroupChange;

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<GroupChange, ApplyError> {
        let members = self.members.as_deref().map(|members| check_members(read, members)).transpose()?;
        let all = GROUP_ID_TO_GROUP.all(&read.table(GROUP_ID_TO_GROUP.definition())?)?;
        let mut group = live_group(&all, self.id)?;
        if let Some(name) = &self.name {
            group.name = clean_group_name(name).map_err(Rejection::from)?;
            check_name_free(&all, &group.name, Some(self.id))?;
        }
        if let Some(members) = members {
            group.members = members;
        }
        if let Some(rules) = self.rules {
            group.rules = rules;
        }
        Ok(GroupChange { group, actor: self.actor, at: self.at })
    }

    fn write(
        plan: GroupChange,
        state: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<Group, WriteError> {
        let GroupChange { group, actor, at } = plan;
        save_group(tx, &group)?;
        audit(tx, &actor, "group.update", format!("group:{}", group.id), group.name.clone(), at)?;
        // Sockets re-check who may see what before the events this change causes (a member just
        // removed sees none of them).
        events.push(Event::GroupChanged { id: group.id });
        let assignments = state.routing.set_group(group.id, group.rules, at);
        write_assignments(tx, &assignments, at, events)?;
        sync_all_agents(state, tx, at, events)?;
        Ok(group)
    }
}

/// Marks the group deleted: it disappears from lists and routing, and stays in history.
pub struct DeleteGroup {
    pub id: GroupId,
    pub actor: Actor,
    pub at: u64,
}

/// The group marked deleted, and its open conversations, bound for the general queue.
pub struct GroupDeletion {
    change: GroupChange,
    open: Vec<Conversation>,
}

impl Command<Runtime, Event> for DeleteGroup {
    type Output = ();
    type Plan = GroupDeletion;

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<GroupDeletion, ApplyError> {
        let all = GROUP_ID_TO_GROUP.all(&read.table(GROUP_ID_TO_GROUP.definition())?)?;
        let group = Group { deleted_at: Some(self.at), ..live_group(&all, self.id)? };
        let open = open_conversations(read)?.into_iter().filter(|c| c.group == Some(self.id)).collect();
        Ok(GroupDeletion { change: GroupChange { group, actor: self.actor, at: self.at }, open })
    }

    fn write(
        plan: GroupDeletion,
        state: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<(), WriteError> {
        let GroupDeletion { change: GroupChange { group, actor, at }, open } = plan;
        save_group(tx, &group)?;
        audit(tx, &actor, "group.delete", format!("group:{}", group.id), group.name, at)?;
        // R-GRP-2: its open conversations go to the general queue; finalized ones keep their history.
        let mut moved = Vec::with_capacity(open.len());
        for mut conversation in open {
            conversation.group = None;
            save_conversation(tx, &conversation)?;
            moved.push(conversation);
        }
        events.push(Event::GroupChanged { id: group.id });
        // Lists applying live events see them leave the group (for the general queue).
        events.extend(moved.into_iter().map(|conversation| Event::ConversationUpdated { conversation }));
        let assignments = state.routing.remove_group(group.id, at);
        write_assignments(tx, &assignments, at, events)?;
        sync_all_agents(state, tx, at, events)?;
        Ok(())
    }
}

fn save_group(tx: &WriteTransaction, group: &Group) -> Result<(), WriteError> {
    let mut table = tx.open_table(GROUP_ID_TO_GROUP.definition())?;
    GROUP_ID_TO_GROUP.insert(&mut table, group.id.0, group)?;
    Ok(())
}

/// Group names are unique among live groups, ignoring case.
fn check_name_free(all: &[(u64, Group)], name: &str, except: Option<GroupId>) -> Result<(), ApplyError> {
    let taken = all.iter().map(|(_, group)| group).any(|group| {
        group.deleted_at.is_none() && Some(group.id) != except && group.name.to_lowercase() == name.to_lowercase()
    });
    if taken {
        let mut rejection =
            Rejection::conflict(ErrorCode::GroupNameTaken, format!("A group named \"{name}\" already exists."));
        rejection.field = Some("name");
        return Err(rejection.into());
    }
    Ok(())
}

/// Members must be existing users; duplicates are dropped.
fn check_members(tx: &impl Tables, members: &[UserId]) -> Result<Vec<UserId>, ApplyError> {
    let known: BTreeSet<UserId> = all_users(tx)?.into_iter().map(|user| user.id).collect();
    let mut unique = BTreeSet::new();
    for member in members {
        if !known.contains(member) {
            let mut rejection = Rejection::new(
                super::RejectKind::Invalid,
                ErrorCode::InvalidInput,
                format!("members: there is no user {member}"),
            );
            rejection.field = Some("members");
            return Err(rejection.into());
        }
        unique.insert(*member);
    }
    Ok(unique.into_iter().collect())
}
