//! Conversations, messages, contacts and channels (R-CONV-1, R-CONV-8, R-CHAN-5), and the panel
//! figures computed from them (R-REP-1 with the definitions of R-REP-1b). Pure.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::account::Invalid;
use super::ids::{ChannelId, ContactId, ConversationId, GroupId, MessageId, UserId};
use super::routing::AssignMode;

/// Longest message text accepted, in bytes (10 kB).
pub const MAX_TEXT_BYTES: usize = 10_000;
const PREVIEW_CHARS: usize = 80;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Bot,
    Queued,
    Assigned,
    Finalized,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    pub id: ConversationId,
    pub contact: ContactId,
    pub channel: ChannelId,
    pub group: Option<GroupId>,
    pub status: Status,
    pub assignee: Option<UserId>,
    pub created_at: u64,
    /// When it last entered a queue.
    pub enqueued_at: Option<u64>,
    /// When it was first given to an agent.
    pub assigned_at: Option<u64>,
    pub finalized_at: Option<u64>,
    #[serde(default)]
    pub finalize_reason: Option<String>,
    #[serde(default)]
    pub labels: Vec<String>,
    /// The conversation this one continues (the customer wrote after it was finalized).
    #[serde(default)]
    pub previous: Option<ConversationId>,
    pub last_message_at: u64,
    #[serde(default)]
    pub last_preview: String,
    /// A customer message the assignee has not opened yet.
    #[serde(default)]
    pub unread: bool,
    #[serde(default)]
    pub first_response_at: Option<u64>,
    /// Every agent who held it, for ratings and reports.
    #[serde(default)]
    pub served_by: Vec<UserId>,
    /// Left the queue without being served.
    #[serde(default)]
    pub abandoned: bool,
    /// How it is given out: its channel's assignment mode when it was opened.
    #[serde(default)]
    pub mode: AssignMode,
    /// When the customer last wrote (rules measure their silence from it).
    #[serde(default)]
    pub last_customer_at: Option<u64>,
    /// When the oldest customer message no agent has answered yet was written (`None`: nobody
    /// waits for an answer). Conversations stored before it existed read `None` until the
    /// customer writes again.
    #[serde(default)]
    pub waiting_since: Option<u64>,
}

impl Conversation {
    /// The conversation after `message` was added to it: see `waiting_after`.
    pub fn add_message(&mut self, message: &Message) {
        self.waiting_since = waiting_after(self.waiting_since, message);
    }

    /// Closed at `at`: nobody waits in it any more, and no dot shows.
    pub fn finalize(&mut self, reason: Option<String>, at: u64) {
        self.abandoned = self.assigned_at.is_none();
        self.status = Status::Finalized;
        self.finalized_at = Some(at);
        self.finalize_reason = reason;
        self.unread = false;
        self.waiting_since = None;
    }
}

/// Since when the customer waits for an answer once `message` is in: their first message after
/// the last answer starts the wait (later ones keep its start), an agent's reply to them ends it.
/// Internal notes, activity lines and rules' messages change nothing: none of them answers.
pub fn waiting_after(waiting_since: Option<u64>, message: &Message) -> Option<u64> {
    match message.author {
        Author::Customer => waiting_since.or(Some(message.created_at)),
        Author::Agent(_) if message.for_customer() => None,
        Author::Agent(_) | Author::System => waiting_since,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Author {
    Customer,
    Agent(UserId),
    System,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub conversation: ConversationId,
    pub author: Author,
    pub text: String,
    /// An internal note: staff only, never sent to the customer.
    #[serde(default)]
    pub private: bool,
    pub created_at: u64,
    /// A line about what happened (a transfer, an assignment, the end): staff only, and worded by
    /// each reader's UI in their language from these facts.
    #[serde(default)]
    pub activity: Option<Activity>,
    /// The rule (file name without `.rhai`) whose reply or note this is, shown as its author.
    #[serde(default)]
    pub rule: Option<String>,
}

impl Message {
    /// Whether the customer may see it (widget, API-channel webhook): never notes or activity lines.
    pub fn for_customer(&self) -> bool {
        !self.private && self.activity.is_none()
    }
}

/// What happened to a conversation, for the line staff read in it (issue 12, point 6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    pub kind: ActivityKind,
    /// Who did it; `None`: the router gave it out.
    #[serde(default)]
    pub actor: Option<Party>,
    /// To whom or where: the agent or the group.
    #[serde(default)]
    pub target: Option<Party>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    /// "Ana transferred to Soporte" (or to an agent).
    Transferred,
    /// "Assigned to Bruno" (the router), "Assigned to Bruno by Sergio" (a supervisor).
    Assigned,
    /// "Bruno took it from the queue" (the dispenser).
    Taken,
    /// "Finalized by Ana" (or by a rule).
    Finalized,
}

/// A person, group or rule named in an activity line, with the name it had then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    pub kind: PartyKind,
    #[serde(default)]
    pub id: Option<u64>,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartyKind {
    User,
    Group,
    Rule,
}

impl Party {
    pub fn user(id: UserId, name: impl Into<String>) -> Party {
        Party { kind: PartyKind::User, id: Some(id.0), name: name.into() }
    }

    pub fn group(id: GroupId, name: impl Into<String>) -> Party {
        Party { kind: PartyKind::Group, id: Some(id.0), name: name.into() }
    }

    pub fn rule(name: impl Into<String>) -> Party {
        Party { kind: PartyKind::Rule, id: None, name: name.into() }
    }

    /// Whether this is the user `id`.
    pub fn is_user(&self, id: UserId) -> bool {
        self.kind == PartyKind::User && self.id == Some(id.0)
    }
}

impl Activity {
    /// The line in English, for programs reading the API (the UI words it itself).
    pub fn english(&self) -> String {
        let name = |party: &Option<Party>| party.as_ref().map_or("someone", |p| p.name.as_str()).to_owned();
        let (actor, target) = (name(&self.actor), name(&self.target));
        match (self.kind, &self.actor) {
            (ActivityKind::Transferred, _) => format!("{actor} transferred to {target}"),
            (ActivityKind::Assigned, None) => format!("Assigned to {target}"),
            (ActivityKind::Assigned, Some(_)) => format!("Assigned to {target} by {actor}"),
            (ActivityKind::Taken, _) => format!("{actor} took it from the queue"),
            (ActivityKind::Finalized, Some(Party { kind: PartyKind::Rule, .. })) => {
                format!("Finalized by rule {actor}")
            }
            (ActivityKind::Finalized, _) => format!("Finalized by {actor}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub channel: ChannelId,
    pub identifier: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub id: ContactId,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub identities: Vec<Identity>,
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub custom: BTreeMap<String, String>,
    pub created_at: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Widget,
    Api,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    pub id: ChannelId,
    pub kind: ChannelKind,
    pub name: String,
    /// New conversations go to this group's queue (`None`: the general queue).
    #[serde(default)]
    pub group: Option<GroupId>,
    #[serde(default)]
    pub mode: AssignMode,
    /// Web widget: the key the site's `<script>` names (public, not a secret).
    #[serde(default)]
    pub public_key: String,
    /// API channel: SHA-256 of its bearer token.
    #[serde(default)]
    pub token_hash: Option<[u8; 32]>,
    /// API channel: where agent replies are posted, signed with `webhook_secret`.
    #[serde(default)]
    pub webhook_url: Option<String>,
    #[serde(default)]
    pub webhook_secret: String,
    pub created_at: u64,
    /// Switched off: its widget and token stop working; its conversations stay.
    #[serde(default)]
    pub disabled_at: Option<u64>,
}

/// A message text: trimmed of trailing space, not empty, at most 10 kB.
/// A contact's name, e-mail or phone as a channel sends it: trimmed, empty as none, at most 100
/// characters, no control characters (the widget and the API channel keep the same rule).
pub fn clean_contact_field(field: &'static str, raw: Option<String>) -> Result<Option<String>, Invalid> {
    let Some(value) = raw.map(|raw| raw.trim().to_owned()).filter(|value| !value.is_empty()) else {
        return Ok(None);
    };
    if value.chars().count() > 100 {
        return Err(Invalid::new(field, "must be at most 100 characters"));
    }
    if value.chars().any(char::is_control) {
        return Err(Invalid::new(field, "must not contain control characters"));
    }
    Ok(Some(value))
}

pub fn check_text(text: &str) -> Result<String, Invalid> {
    let text = text.trim_end();
    if text.trim().is_empty() {
        return Err(Invalid::new("text", "is empty"));
    }
    if text.len() > MAX_TEXT_BYTES {
        return Err(Invalid::new("text", format!("is longer than {MAX_TEXT_BYTES} bytes")));
    }
    Ok(text.to_owned())
}

/// The start of a message for lists, on one line.
pub fn preview(text: &str) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(PREVIEW_CHARS) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

/// Labels are short words: trimmed, 1 to 40 characters, compared without case.
pub fn clean_label(raw: &str) -> Result<String, Invalid> {
    let label = raw.trim();
    if label.is_empty() || label.chars().count() > 40 || label.chars().any(char::is_control) {
        return Err(Invalid::new("label", "must be 1 to 40 characters"));
    }
    Ok(label.to_owned())
}

/// The live panel figures (R-REP-1) of one group or all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Panel {
    /// Mean wait (queue → assignment) of conversations that waited and were served, ms.
    pub average_wait_ms: u64,
    /// Longest such wait, ms.
    pub max_wait_ms: u64,
    pub in_queue: usize,
    pub agents_online: usize,
    /// Today: open + finalized + unattended (R-REP-1b).
    pub total_today: usize,
    pub unattended: usize,
    /// Waiting now beyond their group's queue limit (told all agents are busy), any day.
    pub overflow: usize,
}

/// Computes the panel over conversations created since `day_start`.
pub fn panel<'a>(conversations: impl Iterator<Item = &'a Conversation>, day_start: u64, agents_online: usize) -> Panel {
    let mut panel = Panel { agents_online, ..Panel::default() };
    let (mut waits, mut waited) = (0u64, 0u64);
    for conversation in conversations.filter(|c| c.created_at >= day_start) {
        panel.total_today += 1;
        match conversation.status {
            Status::Queued => panel.in_queue += 1,
            Status::Assigned if conversation.first_response_at.is_none() => panel.unattended += 1,
            _ => {}
        }
        if let (Some(enqueued), Some(assigned)) = (conversation.enqueued_at, conversation.assigned_at)
            && !conversation.abandoned
        {
            let wait = assigned.saturating_sub(enqueued);
            waits += wait;
            waited += 1;
            panel.max_wait_ms = panel.max_wait_ms.max(wait);
        }
    }
    panel.average_wait_ms = waits.checked_div(waited).unwrap_or(0);
    panel
}

#[cfg(test)]
impl Conversation {
    /// A queued conversation with nothing in it (its contact has its id), for tests.
    pub(crate) fn for_tests(id: ConversationId) -> Conversation {
        Conversation {
            id,
            contact: ContactId(id.0),
            channel: ChannelId(1),
            group: None,
            status: Status::Queued,
            assignee: None,
            created_at: 100,
            enqueued_at: None,
            assigned_at: None,
            finalized_at: None,
            finalize_reason: None,
            labels: vec![],
            previous: None,
            last_message_at: 100,
            last_preview: String::new(),
            unread: false,
            first_response_at: None,
            served_by: vec![],
            abandoned: false,
            mode: AssignMode::Automatic,
            last_customer_at: None,
            waiting_since: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversation(id: u64, status: Status, enqueued: Option<u64>, assigned: Option<u64>) -> Conversation {
        Conversation {
            status,
            enqueued_at: enqueued,
            assigned_at: assigned,
            ..Conversation::for_tests(ConversationId(id))
        }
    }

    #[test]
    fn contact_fields_are_trimmed_bounded_and_free_of_control_characters() {
        assert_eq!(clean_contact_field("name", Some("  Ana  ".into())), Ok(Some("Ana".into())));
        assert_eq!(clean_contact_field("name", Some("   ".into())), Ok(None));
        assert_eq!(clean_contact_field("name", None), Ok(None));
        assert!(clean_contact_field("name", Some("a".repeat(101))).is_err());
        assert!(clean_contact_field("name", Some("á".repeat(100))).is_ok(), "characters, not bytes");
        let bad = clean_contact_field("phone", Some("12\u{0}34".into())).unwrap_err();
        assert_eq!(bad.field, "phone");
    }

    #[test]
    fn texts_are_checked_and_previewed() {
        assert_eq!(check_text("hola  \n").unwrap(), "hola");
        assert_eq!(check_text(" \n ").unwrap_err().field, "text");
        assert!(check_text(&"x".repeat(MAX_TEXT_BYTES + 1)).is_err());
        assert_eq!(preview("a\n b"), "a b");
        assert_eq!(preview(&"ñ".repeat(100)).chars().count(), 81);
    }

    #[test]
    fn the_panel_follows_the_definitions() {
        let served_fast =
            Conversation { first_response_at: Some(160), ..conversation(1, Status::Assigned, Some(100), Some(130)) };
        let served_slow =
            Conversation { status: Status::Finalized, ..conversation(2, Status::Assigned, Some(100), Some(190)) };
        let unattended = conversation(3, Status::Assigned, Some(100), Some(110));
        let waiting = conversation(4, Status::Queued, Some(150), None);
        let abandoned = Conversation { abandoned: true, ..conversation(5, Status::Finalized, Some(100), Some(900)) };
        let yesterday = Conversation { created_at: 10, ..conversation(6, Status::Queued, Some(10), None) };
        let all = [served_fast, served_slow, unattended, waiting, abandoned, yesterday];
        let panel = panel(all.iter(), 50, 2);
        assert_eq!(panel.in_queue, 1);
        assert_eq!(panel.agents_online, 2);
        assert_eq!(panel.unattended, 1);
        assert_eq!(panel.total_today, 5);
        assert_eq!(panel.max_wait_ms, 90, "the abandoned one is not counted");
        assert_eq!(panel.average_wait_ms, (30 + 90 + 10) / 3);
    }

    fn message(author: Author, private: bool, at: u64) -> Message {
        let text = "hola".into();
        let (conversation, id) = (ConversationId(1), MessageId(at));
        Message { id, conversation, author, text, private, created_at: at, activity: None, rule: None }
    }

    #[test]
    fn the_customer_waits_from_their_first_unanswered_message_until_an_agent_replies() {
        let mut c = Conversation::for_tests(ConversationId(1));
        let ana = Author::Agent(UserId(2));
        c.add_message(&message(Author::Customer, false, 10));
        c.add_message(&message(Author::Customer, false, 20));
        assert_eq!(c.waiting_since, Some(10), "a second message keeps the first one's time");
        c.add_message(&message(ana, true, 30));
        assert_eq!(c.waiting_since, Some(10), "an internal note answers nobody");
        c.add_message(&message(Author::System, false, 35));
        assert_eq!(c.waiting_since, Some(10), "nor does a rule's message");
        let line = Activity { kind: ActivityKind::Taken, actor: Some(Party::user(UserId(2), "Ana")), target: None };
        c.add_message(&Message { activity: Some(line), ..message(ana, false, 36) });
        assert_eq!(c.waiting_since, Some(10), "nor an activity line");
        c.add_message(&message(ana, false, 40));
        assert_eq!(c.waiting_since, None, "the agent's reply ends the wait");
        c.add_message(&message(ana, false, 45));
        assert_eq!(c.waiting_since, None);
        c.add_message(&message(Author::Customer, false, 50));
        assert_eq!(c.waiting_since, Some(50), "a new wait starts at the next customer message");
        c.finalize(Some("resuelto".into()), 60);
        assert_eq!((c.waiting_since, c.status, c.finalized_at), (None, Status::Finalized, Some(60)));
        assert!(c.abandoned, "never assigned");
    }

    #[test]
    fn a_conversation_stored_before_the_wait_was_kept_reads_as_nobody_waiting() {
        let stored = Conversation { waiting_since: Some(7), ..Conversation::for_tests(ConversationId(1)) };
        let mut before = serde_json::to_value(&stored).unwrap();
        before.as_object_mut().unwrap().remove("waiting_since");
        // The store's codec: MessagePack with field names.
        let read: Conversation = rmp_serde::from_slice(&rmp_serde::to_vec_named(&before).unwrap()).unwrap();
        assert_eq!(read, Conversation { waiting_since: None, ..stored.clone() });
        let back: Conversation = rmp_serde::from_slice(&rmp_serde::to_vec_named(&stored).unwrap()).unwrap();
        assert_eq!(back, stored);
    }

    #[test]
    fn activity_lines_read_in_english_and_old_messages_still_load() {
        let ana = Party::user(UserId(1), "Ana Ruiz");
        let transfer = Activity {
            kind: ActivityKind::Transferred,
            actor: Some(ana.clone()),
            target: Some(Party::group(GroupId(2), "Soporte")),
        };
        assert_eq!(transfer.english(), "Ana Ruiz transferred to Soporte");
        let routed = Activity { kind: ActivityKind::Assigned, actor: None, target: Some(ana.clone()) };
        assert_eq!(routed.english(), "Assigned to Ana Ruiz");
        let by = Activity { actor: Some(Party::user(UserId(3), "Sergio")), ..routed };
        assert_eq!(by.english(), "Assigned to Ana Ruiz by Sergio");
        let closed = Activity { kind: ActivityKind::Finalized, actor: Some(Party::rule("cierre")), target: None };
        assert_eq!(closed.english(), "Finalized by rule cierre");
        // A message stored before activity lines and rule authors existed reads as before.
        #[derive(Serialize)]
        struct Before {
            id: MessageId,
            conversation: ConversationId,
            author: Author,
            text: String,
            private: bool,
            created_at: u64,
        }
        let old = Before {
            id: MessageId(1),
            conversation: ConversationId(1),
            author: Author::System,
            text: "hola".into(),
            private: false,
            created_at: 5,
        };
        let bytes = rmp_serde::to_vec_named(&old).unwrap();
        let read: Message = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!((&read.activity, &read.rule, read.for_customer()), (&None, &None, true));
        let line = Message { activity: Some(transfer), private: true, ..read };
        let back: Message = rmp_serde::from_slice(&rmp_serde::to_vec_named(&line).unwrap()).unwrap();
        assert_eq!(back, line);
        assert!(!Message { private: false, ..line }.for_customer(), "an activity line never reaches the customer");
    }
}

/// A staff edit of a contact; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactPatch {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub notes: Option<String>,
    pub custom: Option<BTreeMap<String, String>>,
}

impl ContactPatch {
    pub fn apply(&self, contact: &Contact) -> Result<Contact, Invalid> {
        let mut next = contact.clone();
        let optional = |value: &str| Some(value.trim().to_owned()).filter(|v| !v.is_empty());
        if let Some(name) = &self.name {
            next.name = optional(name);
        }
        if let Some(email) = &self.email {
            next.email = match optional(email) {
                Some(email) => Some(super::account::normalize_email(&email)?),
                None => None,
            };
        }
        if let Some(phone) = &self.phone {
            next.phone = optional(phone);
        }
        if let Some(notes) = &self.notes {
            if notes.len() > MAX_TEXT_BYTES {
                return Err(Invalid::new("notes", format!("is longer than {MAX_TEXT_BYTES} bytes")));
            }
            next.notes = notes.clone();
        }
        if let Some(custom) = &self.custom {
            if custom.len() > 50 || custom.iter().any(|(k, v)| k.is_empty() || k.len() > 100 || v.len() > 1000) {
                return Err(Invalid::new("custom", "at most 50 fields, names up to 100 and values up to 1000 bytes"));
            }
            next.custom = custom.clone();
        }
        for (field, value) in [("name", &next.name), ("phone", &next.phone)] {
            if value.as_ref().is_some_and(|v| v.chars().count() > 200) {
                return Err(Invalid::new(field, "must be at most 200 characters"));
            }
        }
        Ok(next)
    }
}

/// A web-widget visitor, stored under the SHA-256 of their token (kept in the visitor's browser).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visitor {
    pub channel: ChannelId,
    /// Their identity on the channel, as contacts know it.
    pub identifier: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    pub created_at: u64,
}
