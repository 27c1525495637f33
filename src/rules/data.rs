//! The plain maps hooks receive: copies of what a rule may read, never handles into the store.
//! The same shapes are what `rules test` fixtures hold (see rules/README.md).

use std::collections::BTreeMap;

use rhai::Dynamic;
use serde::Serialize;

use crate::domain::account::{Group, User};
use crate::domain::conversation::{Author, Channel, ChannelKind, Contact, Conversation, Message, Status};

#[derive(Serialize)]
struct ConversationView<'a> {
    id: u64,
    status: Status,
    channel: ChannelView<'a>,
    group: Option<&'a str>,
    labels: &'a [String],
    assignee: Option<u64>,
    created_at: u64,
    last_message_at: u64,
    last_customer_at: u64,
    contact: ContactView<'a>,
}

#[derive(Serialize)]
struct ChannelView<'a> {
    id: u64,
    name: &'a str,
    kind: ChannelKind,
}

#[derive(Serialize)]
struct ContactView<'a> {
    id: u64,
    name: Option<&'a str>,
    email: Option<&'a str>,
    phone: Option<&'a str>,
    notes: &'a str,
    custom: &'a BTreeMap<String, String>,
}

/// Everything about a conversation a rule can see.
pub struct ConversationFacts<'a> {
    pub conversation: &'a Conversation,
    pub contact: &'a Contact,
    pub channel: &'a Channel,
    pub group: Option<&'a str>,
}

pub fn conversation(facts: &ConversationFacts<'_>) -> Dynamic {
    let ConversationFacts { conversation: c, contact, channel, group } = facts;
    let view = ConversationView {
        id: c.id.0,
        status: c.status,
        channel: ChannelView { id: channel.id.0, name: &channel.name, kind: channel.kind },
        group: *group,
        labels: &c.labels,
        assignee: c.assignee.map(|id| id.0),
        created_at: c.created_at,
        last_message_at: c.last_message_at,
        // Conversations from before this field existed: their last message is the best guess.
        last_customer_at: c.last_customer_at.unwrap_or(c.last_message_at),
        contact: ContactView {
            id: contact.id.0,
            name: contact.name.as_deref(),
            email: contact.email.as_deref(),
            phone: contact.phone.as_deref(),
            notes: &contact.notes,
            custom: &contact.custom,
        },
    };
    plain(&view)
}

#[derive(Serialize)]
struct MessageView<'a> {
    id: u64,
    text: &'a str,
    author: &'static str,
    private: bool,
    created_at: u64,
}

pub fn message(message: &Message) -> Dynamic {
    let author = match message.author {
        Author::Customer => "customer",
        Author::Agent(_) => "agent",
        Author::System => "system",
    };
    let view = MessageView {
        id: message.id.0,
        text: &message.text,
        author,
        private: message.private,
        created_at: message.created_at,
    };
    plain(&view)
}

/// An agent the router could give the conversation to (`assign`'s candidates).
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub id: u64,
    pub name: String,
    pub email: String,
    /// Conversations open now.
    pub load: u64,
    pub capacity: u64,
    /// Names of the agent's groups.
    pub groups: Vec<String>,
    /// Reserved: agent skills are not recorded yet, so this is always empty.
    pub skills: Vec<String>,
    pub last_assigned_at: u64,
}

pub fn candidates(list: &[Candidate]) -> Dynamic {
    plain(&list)
}

#[derive(Serialize)]
struct UserView<'a> {
    id: u64,
    email: &'a str,
    name: String,
    roles: Vec<String>,
    permissions: Vec<String>,
    groups: Vec<&'a str>,
}

/// The user `permit` decides about, with the names of their groups.
pub fn user(user: &User, groups: &[Group]) -> Dynamic {
    let view = UserView {
        id: user.id.0,
        email: &user.email,
        name: format!("{} {}", user.first_name, user.last_name).trim().to_owned(),
        roles: names(&user.roles),
        permissions: names(&user.permissions),
        groups: groups
            .iter()
            .filter(|group| group.deleted_at.is_none() && group.members.contains(&user.id))
            .map(|group| group.name.as_str())
            .collect(),
    };
    plain(&view)
}

/// What `permit` is asked about: the route's kind (`conversations`), the path's `{…}` parameters
/// by name, and `id` (a number when it is one) for routes about one thing.
pub fn resource(route: &str, path: &str) -> Dynamic {
    let mut map = rhai::Map::new();
    let mut params = rhai::Map::new();
    let segments = route.trim_start_matches("/api/v1").split('/').zip(path.trim_start_matches("/api/v1").split('/'));
    for (pattern, actual) in segments {
        if let Some(name) = pattern.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            let value =
                actual.parse::<rhai::INT>().map_or_else(|_| Dynamic::from(actual.to_owned()), Dynamic::from_int);
            params.insert(name.trim_start_matches('*').into(), value);
        }
    }
    let kind = route.trim_start_matches("/api/v1/").split('/').next().unwrap_or("");
    map.insert("kind".into(), Dynamic::from(kind.to_owned()));
    map.insert("route".into(), Dynamic::from(route.to_owned()));
    map.insert("id".into(), params.get("id").cloned().unwrap_or(Dynamic::UNIT));
    map.insert("params".into(), Dynamic::from_map(params));
    Dynamic::from_map(map)
}

/// The API names of roles or permissions ("agent", "transfer").
fn names<T: Serialize>(items: &[T]) -> Vec<String> {
    items.iter().filter_map(|item| serde_json::to_value(item).ok()?.as_str().map(str::to_owned)).collect()
}

/// Turns a view into Rhai values. The views hold only strings, numbers, booleans, lists and
/// maps, which always convert; `()` stands in should that ever change.
fn plain(value: &impl Serialize) -> Dynamic {
    rhai::serde::to_dynamic(value).unwrap_or(Dynamic::UNIT)
}

/// A fixture's JSON as a hook argument.
pub fn from_json(value: &serde_json::Value) -> Result<Dynamic, String> {
    rhai::serde::to_dynamic(value).map_err(|err| err.to_string())
}

/// A hook's answer as JSON, for `rules test` and the dry run.
pub fn to_json(value: &Dynamic) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or_else(|err| serde_json::Value::String(format!("<{err}>")))
}
