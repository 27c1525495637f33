//! E-mail notices about conversations (R-GRP-3): to a user a conversation was assigned to, and to
//! the members of a group whose queue a conversation starts waiting in, each where they opted in.
//! Written in the transaction of the change itself, with the throttle, so a batch that fails to
//! commit neither loses a notice nor leaves one behind.

use redb::{ReadableTable, WriteTransaction};

use super::records::{find_user, queue_mail};
use super::{ApplyError, Command, Event, Read, Runtime, Tables, WriteError};
use crate::domain::account::User;
use crate::domain::conversation::{Conversation, Status};
use crate::domain::ids::{ConversationId, UserId};
use crate::domain::mail::{About, NOTICE_GAP_MS, Notice, conversation_notice, may_notify};
use crate::store::tables::{
    CHANNEL_ID_TO_CHANNEL, CONTACT_ID_TO_CONTACT, GROUP_ID_TO_GROUP, SETTING_TO_TEXT, USER_CONVERSATION_TO_NOTICE_AT,
};

const PUBLIC_URL: &str = "public_url";

/// Who made an assignment by hand: the user who acted, on the conversation they acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct By {
    pub conversation: ConversationId,
    pub user: UserId,
}

/// Records the base of the links in notices (`public_url`), at each start.
pub struct SetPublicUrl {
    pub url: String,
}

impl Command<Runtime, Event> for SetPublicUrl {
    type Output = ();
    /// The base, to store: nothing here can refuse.
    type Plan = String;

    fn check(self, _: &Runtime, _: &Read<'_>) -> Result<String, ApplyError> {
        Ok(self.url)
    }

    fn write(url: String, _: &mut Runtime, tx: &WriteTransaction, _: &mut Vec<Event>) -> Result<(), WriteError> {
        tx.open_table(SETTING_TO_TEXT)?.insert(PUBLIC_URL, url.as_str())?;
        Ok(())
    }
}

/// A conversation was just assigned: mails its assignee if they asked for it, unless they took it
/// themselves.
pub fn assigned(
    tx: &WriteTransaction,
    conversation: &Conversation,
    by: Option<By>,
    at: u64,
    events: &mut Vec<Event>,
) -> Result<(), ApplyError> {
    let Some(agent) = conversation.assignee else {
        return Ok(());
    };
    let by = by.filter(|by| by.conversation == conversation.id).map(|by| by.user);
    if by == Some(agent) {
        return Ok(());
    }
    // Storage-only lookups: this runs after routing changed, where a rejection would be half a change.
    let Some(user) = find_user(tx, agent)?.filter(|user| user.active && user.notify_assignments) else {
        return Ok(());
    };
    let by = by.map(|id| find_user(tx, id)).transpose()?.flatten().map(|by| by.full_name());
    send(tx, &user, &Notice::Assigned { by }, conversation, at, events)
}

/// A conversation was put in a group's queue (new, or transferred there): if it still waits after
/// routing, mails the group's members who asked for it (not `by`, who put it there).
pub fn entered_queue(
    tx: &WriteTransaction,
    conversation: &Conversation,
    by: Option<UserId>,
    at: u64,
    events: &mut Vec<Event>,
) -> Result<(), ApplyError> {
    if conversation.status != Status::Queued || conversation.assignee.is_some() {
        return Ok(());
    }
    let Some(group) = conversation.group else {
        return Ok(());
    };
    let members = {
        let table = tx.open_table(GROUP_ID_TO_GROUP.definition())?;
        GROUP_ID_TO_GROUP.get(&table, group.0)?.filter(|g| g.deleted_at.is_none()).map(|g| g.members)
    };
    for member in members.unwrap_or_default().into_iter().filter(|member| Some(*member) != by) {
        // A member no longer on record gets no mail (and the change it follows still stands).
        if let Some(user) = find_user(tx, member)?.filter(|user| user.active && user.notify_group_queue) {
            send(tx, &user, &Notice::Queued, conversation, at, events)?;
        }
    }
    Ok(())
}

/// Queues the notice unless the user was mailed about this conversation less than a minute ago.
fn send(
    tx: &WriteTransaction,
    user: &User,
    notice: &Notice,
    conversation: &Conversation,
    at: u64,
    events: &mut Vec<Event>,
) -> Result<(), ApplyError> {
    let mut throttle = tx.open_table(USER_CONVERSATION_TO_NOTICE_AT)?;
    let last = throttle.get((user.id.0, conversation.id.0))?.map(|at| at.value());
    if !may_notify(last, at) {
        return Ok(());
    }
    // Rows past the gap no longer decide anything.
    let mut stale = Vec::new();
    for row in throttle.range((user.id.0, 0)..=(user.id.0, u64::MAX))? {
        let (key, mailed) = row?;
        if at.saturating_sub(mailed.value()) >= NOTICE_GAP_MS {
            stale.push(key.value());
        }
    }
    for key in stale {
        throttle.remove(key)?;
    }
    throttle.insert((user.id.0, conversation.id.0), at)?;
    drop(throttle);
    let letter = conversation_notice(user, notice, &about(tx, conversation)?);
    queue_mail(tx, &user.email, letter, None, at)?;
    events.push(Event::MailQueued);
    Ok(())
}

fn about(tx: &impl Tables, conversation: &Conversation) -> Result<About, ApplyError> {
    let contacts = tx.table(CONTACT_ID_TO_CONTACT.definition())?;
    let contact = CONTACT_ID_TO_CONTACT.get(&contacts, conversation.contact.0)?;
    let contact = contact.and_then(|c| c.name.or(c.email).or(c.phone)).filter(|name| !name.trim().is_empty());
    let channels = tx.table(CHANNEL_ID_TO_CHANNEL.definition())?;
    let channel = CHANNEL_ID_TO_CHANNEL.get(&channels, conversation.channel.0)?.map(|c| c.name).unwrap_or_default();
    let groups = tx.table(GROUP_ID_TO_GROUP.definition())?;
    let queue = conversation.group.map(|id| GROUP_ID_TO_GROUP.get(&groups, id.0)).transpose()?.flatten();
    let base = tx.table(SETTING_TO_TEXT)?.get(PUBLIC_URL)?.map(|url| url.value().to_owned()).unwrap_or_default();
    Ok(About {
        conversation: conversation.id.0,
        contact,
        channel,
        queue: queue.map(|group| group.name),
        link: format!("{base}/conversations#conversation={}", conversation.id.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::ReadableTableMetadata;

    use crate::domain::account::Language;
    use crate::store::Store;
    use crate::store::tables::MAIL_ID_TO_MAIL;

    fn agent(notify: bool) -> User {
        User {
            id: UserId(2),
            first_name: "Ana".into(),
            last_name: "Gil".into(),
            email: "ana@example.com".into(),
            roles: vec![crate::domain::access::Role::Agent],
            permissions: vec![],
            language: Some(Language::En),
            active: true,
            password_hash: None,
            totp: None,
            totp_pending: None,
            totp_required: false,
            notify_assignments: notify,
            notify_group_queue: false,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn assigned_to_ana(id: u64) -> Conversation {
        serde_json::from_value(serde_json::json!({
            "id": id, "contact": 1, "channel": 1, "group": null, "status": "assigned", "assignee": 2,
            "created_at": 0, "enqueued_at": 0, "assigned_at": 0, "finalized_at": null, "last_message_at": 0,
        }))
        .unwrap()
    }

    fn mails(tx: &WriteTransaction) -> usize {
        let table = tx.open_table(MAIL_ID_TO_MAIL.definition()).unwrap();
        MAIL_ID_TO_MAIL.all(&table).unwrap().len()
    }

    /// One transaction is one batch of the writer: what it decided, it decided with the throttle
    /// rows written earlier in the same batch, and an aborted batch takes mails and rows together.
    #[test]
    fn one_mail_per_conversation_a_minute_within_a_batch_and_none_lost_when_a_batch_is_undone() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path()).unwrap();
        let tx = store.begin_write().unwrap();
        super::super::records::save_user(&tx, &agent(true), None).unwrap();
        tx.commit().unwrap();

        let tx = store.begin_write().unwrap();
        let mut events = Vec::new();
        for at in [1_000, 2_000, 30_000] {
            assigned(&tx, &assigned_to_ana(7), None, at, &mut events).unwrap();
        }
        assert_eq!(mails(&tx), 1, "the same conversation within the minute, in one batch");
        assigned(&tx, &assigned_to_ana(8), None, 30_000, &mut events).unwrap();
        assert_eq!(mails(&tx), 2, "another conversation is its own");
        assert_eq!(events.iter().filter(|e| **e == Event::MailQueued).count(), 2);
        tx.abort().unwrap();

        // The batch failed: neither its mails nor its throttle rows stand, so the next one mails.
        let tx = store.begin_write().unwrap();
        assigned(&tx, &assigned_to_ana(7), None, 40_000, &mut Vec::new()).unwrap();
        assert_eq!(mails(&tx), 1);
        assigned(&tx, &assigned_to_ana(7), None, 40_000 + NOTICE_GAP_MS, &mut Vec::new()).unwrap();
        assert_eq!(mails(&tx), 2, "a minute later, again");
        let rows = tx.open_table(USER_CONVERSATION_TO_NOTICE_AT).unwrap().len().unwrap();
        assert_eq!(rows, 1, "rows past the gap are pruned");
    }

    /// These run after routing changed: a user missing from the store must not become a
    /// rejection (it would leave half a change in the batch), only no mail.
    #[test]
    fn a_missing_user_gets_no_mail_and_is_no_refusal() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path()).unwrap();
        let tx = store.begin_write().unwrap();
        assigned(&tx, &assigned_to_ana(7), None, 0, &mut Vec::new()).unwrap();
        super::super::records::save_user(&tx, &agent(true), None).unwrap();
        let stranger = By { conversation: ConversationId(8), user: UserId(99) };
        assigned(&tx, &assigned_to_ana(8), Some(stranger), 0, &mut Vec::new()).unwrap();
        assert_eq!(mails(&tx), 1, "Ana still hears, without a name for who assigned it");
        let party = super::super::activity::user_party(&tx, UserId(99)).unwrap();
        assert_eq!(party, crate::domain::conversation::Party::user(UserId(99), String::new()));
    }

    #[test]
    fn no_mail_for_what_she_took_herself_nor_without_the_switch() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path()).unwrap();
        let tx = store.begin_write().unwrap();
        super::super::records::save_user(&tx, &agent(true), None).unwrap();
        let herself = By { conversation: ConversationId(7), user: UserId(2) };
        assigned(&tx, &assigned_to_ana(7), Some(herself), 0, &mut Vec::new()).unwrap();
        assert_eq!(mails(&tx), 0, "she took it");
        // `by` about another conversation (a slot freed by her take) does not hide this one.
        assigned(&tx, &assigned_to_ana(9), Some(herself), 0, &mut Vec::new()).unwrap();
        assert_eq!(mails(&tx), 1);
        super::super::records::save_user(&tx, &agent(false), None).unwrap();
        assigned(&tx, &assigned_to_ana(10), None, 0, &mut Vec::new()).unwrap();
        assert_eq!(mails(&tx), 1, "not opted in");
    }
}
