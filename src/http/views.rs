//! What the API shows of stored records: no password hashes, no secrets, times in milliseconds.

use std::collections::HashMap;

use serde::Serialize;

use super::{ApiError, AppState};
use crate::domain::access::{Permission, Role};
use crate::domain::account::{Group, Language, User};
use crate::domain::conversation::{Activity, Author, Channel, ChannelKind, Contact, Conversation, Message, Status};
use crate::domain::ids::{ChannelId, ContactId, ConversationId, GroupId, MessageId, TokenId, UserId};
use crate::domain::mail::{Mail, Removal, Shown};
use crate::domain::routing::Place;
use crate::domain::secret::LinkKind;
use crate::domain::session::ApiToken;

#[derive(Debug, Serialize)]
pub struct UserView {
    pub id: UserId,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub roles: Vec<Role>,
    pub permissions: Vec<Permission>,
    pub language: Option<Language>,
    pub active: bool,
    /// `invited` until a password is set, then `active`, or `deactivated`.
    pub status: &'static str,
    pub totp_enabled: bool,
    pub totp_required: bool,
    pub groups: Vec<GroupId>,
    pub created_at: u64,
}

impl UserView {
    pub fn new(user: &User, groups: &[Group]) -> Self {
        let status = match (user.active, user.password_hash.is_some()) {
            (false, _) => "deactivated",
            (true, false) => "invited",
            (true, true) => "active",
        };
        UserView {
            id: user.id,
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            email: user.email.clone(),
            roles: user.roles.clone(),
            permissions: user.permissions.clone(),
            language: user.language,
            active: user.active,
            status,
            totp_enabled: user.totp.is_some(),
            totp_required: user.totp_required,
            groups: groups.iter().filter(|group| group.members.contains(&user.id)).map(|group| group.id).collect(),
            created_at: user.created_at,
        }
    }
}

/// The signed-in user's own view, with what the UI needs to behave.
#[derive(Debug, Serialize)]
pub struct MeView {
    #[serde(flatten)]
    pub user: UserView,
    pub notify_assignments: bool,
    pub notify_group_queue: bool,
    /// Two-factor enrolment is required and not done: only the profile works until it is.
    pub totp_setup_required: bool,
    /// Send back in `X-CSRF-Token` on state-changing requests (cookie sessions only).
    pub csrf_token: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct MemberView {
    pub id: UserId,
    pub name: String,
    pub email: String,
}

#[derive(Debug, Serialize)]
pub struct GroupView {
    pub id: GroupId,
    pub name: String,
    pub members: Vec<MemberView>,
    pub rules: crate::domain::routing::GroupRules,
    pub created_at: u64,
}

impl GroupView {
    pub fn new(group: &Group, users: &[User]) -> Self {
        let members = group
            .members
            .iter()
            .filter_map(|id| users.iter().find(|user| user.id == *id))
            .map(|user| MemberView { id: user.id, name: user.full_name(), email: user.email.clone() })
            .collect();
        GroupView { id: group.id, name: group.name.clone(), members, rules: group.rules, created_at: group.created_at }
    }
}

#[derive(Debug, Serialize)]
pub struct TokenView {
    pub id: TokenId,
    pub name: String,
    pub created_at: u64,
}

impl From<&ApiToken> for TokenView {
    fn from(token: &ApiToken) -> Self {
        TokenView { id: token.id, name: token.name.clone(), created_at: token.created_at }
    }
}

#[derive(Debug, Serialize)]
pub struct MailView {
    pub id: u64,
    pub to: String,
    pub subject: String,
    /// The text, with its invite or reset link only while the link works and was not sent.
    pub body: String,
    pub created_at: u64,
    pub sent_at: Option<u64>,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// `sent`, `failed` (will retry) or `waiting` (no SMTP server configured, or not tried yet).
    pub status: &'static str,
    /// The invite or reset link the mail carries; `null` for other mail.
    pub link: Option<MailLinkView>,
}

#[derive(Debug, Serialize)]
pub struct MailLinkView {
    pub kind: LinkKind,
    /// Whose account it opens.
    pub user_id: UserId,
    /// `live` (in the body), or why it is not: `sent`, `used`, `replaced`, `expired`, `lost`.
    pub status: &'static str,
}

impl MailView {
    /// The mail as it reads now, `shown` where its link goes.
    pub fn new(mail: Mail, shown: Option<&Shown>) -> Self {
        let status = match (mail.sent_at, &mail.last_error) {
            (Some(_), _) => "sent",
            (None, Some(_)) => "failed",
            (None, None) => "waiting",
        };
        let link = mail.link.as_ref().zip(shown).map(|(link, shown)| MailLinkView {
            kind: link.kind,
            user_id: link.user,
            status: match shown {
                Shown::Live(_) => "live",
                Shown::Removed(Removal::Sent) => "sent",
                Shown::Removed(Removal::Used) => "used",
                Shown::Removed(Removal::Replaced) => "replaced",
                Shown::Removed(Removal::Expired) => "expired",
                Shown::Removed(Removal::Lost) => "lost",
                Shown::Removed(Removal::Revoked) => "revoked",
            },
        });
        MailView {
            body: mail.text(shown),
            id: mail.id,
            to: mail.to,
            subject: mail.subject,
            created_at: mail.created_at,
            sent_at: mail.sent_at,
            attempts: mail.attempts,
            last_error: mail.last_error,
            status,
            link,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Named {
    pub id: u64,
    pub name: String,
}

#[derive(Debug, Serialize)]
pub struct ContactSummary {
    pub id: ContactId,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ChannelSummary {
    pub id: ChannelId,
    pub name: String,
    pub kind: ChannelKind,
}

#[derive(Debug, Serialize)]
pub struct ConversationView {
    pub id: ConversationId,
    pub status: Status,
    pub contact: ContactSummary,
    pub channel: Option<ChannelSummary>,
    pub group: Option<Named>,
    pub assignee: Option<Named>,
    pub labels: Vec<String>,
    pub unread: bool,
    pub last_message_at: u64,
    pub last_preview: String,
    pub created_at: u64,
    pub enqueued_at: Option<u64>,
    pub assigned_at: Option<u64>,
    pub finalized_at: Option<u64>,
    pub finalize_reason: Option<String>,
    pub previous: Option<ConversationId>,
    /// Since when the customer waits for an agent's answer (their oldest unanswered message).
    pub waiting_since: Option<u64>,
    /// While it waits: its place in line, and `overflow` when past its group's queue limit.
    pub queue: Option<Place>,
}

impl ConversationView {
    /// The view of one conversation: a few point lookups, read in place (no trip to the blocking
    /// pool: these are the hot path of every customer message).
    /// The view of a customer's conversation from what the writer answered (the contact) and
    /// the channel the handler holds: read only for the names of a group or an agent it has.
    pub async fn answered(
        state: &AppState,
        conversation: Conversation,
        contact: Contact,
        channel: Channel,
    ) -> Result<ConversationView, ApiError> {
        if conversation.group.is_some() || conversation.assignee.is_some() {
            return ConversationView::one(state, conversation).await;
        }
        Ok(ConversationView::build(conversation, contact, &[channel], &[], &[]))
    }

    pub async fn one(state: &AppState, conversation: Conversation) -> Result<ConversationView, ApiError> {
        state.read_now(|read| {
            let contact = read.contact(conversation.contact)?.unwrap_or_default();
            let channels: Vec<Channel> = read.channel(conversation.channel)?.into_iter().collect();
            let groups: Vec<Group> =
                conversation.group.map(|g| read.group(g)).transpose()?.flatten().into_iter().collect();
            let users: Vec<User> =
                conversation.assignee.map(|u| read.user(u)).transpose()?.flatten().into_iter().collect();
            Ok(ConversationView::build(conversation, contact, &channels, &groups, &users))
        })
    }

    /// Views of several conversations, reading the names they mention once.
    pub async fn many(state: &AppState, conversations: Vec<Conversation>) -> Result<Vec<ConversationView>, ApiError> {
        state
            .read(move |read| {
                let (channels, groups, users) = (read.channels()?, read.groups()?, read.users()?);
                conversations
                    .into_iter()
                    .map(|conversation| {
                        let contact = read.contact(conversation.contact)?.unwrap_or_default();
                        Ok(ConversationView::build(conversation, contact, &channels, &groups, &users))
                    })
                    .collect()
            })
            .await
    }

    /// Fills in each waiting conversation's place in line.
    pub fn placed(mut views: Vec<ConversationView>, places: &HashMap<ConversationId, Place>) -> Vec<ConversationView> {
        for view in &mut views {
            view.queue = places.get(&view.id).copied();
        }
        views
    }

    fn build(c: Conversation, contact: Contact, channels: &[Channel], groups: &[Group], users: &[User]) -> Self {
        let channel = channels.iter().find(|ch| ch.id == c.channel);
        ConversationView {
            id: c.id,
            status: c.status,
            contact: ContactSummary { id: c.contact, name: contact.name, email: contact.email, phone: contact.phone },
            channel: channel.map(|ch| ChannelSummary { id: ch.id, name: ch.name.clone(), kind: ch.kind }),
            group: c
                .group
                .and_then(|g| groups.iter().find(|group| group.id == g))
                .map(|g| Named { id: g.id.0, name: g.name.clone() }),
            assignee: c
                .assignee
                .and_then(|a| users.iter().find(|u| u.id == a))
                .map(|u| Named { id: u.id.0, name: u.full_name() }),
            labels: c.labels,
            unread: c.unread,
            last_message_at: c.last_message_at,
            last_preview: c.last_preview,
            created_at: c.created_at,
            enqueued_at: c.enqueued_at,
            assigned_at: c.assigned_at,
            finalized_at: c.finalized_at,
            finalize_reason: c.finalize_reason,
            previous: c.previous,
            waiting_since: c.waiting_since,
            queue: None,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct AuthorView {
    pub kind: &'static str,
    pub id: Option<UserId>,
    pub name: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct MessageView {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub author: AuthorView,
    /// For an activity line, the line in English (the UI words `activity` itself).
    pub text: String,
    pub private: bool,
    pub created_at: u64,
    /// A line about what happened (transfer, assignment, finalization): staff only.
    pub activity: Option<Activity>,
}

impl MessageView {
    pub fn build(message: Message, users: &[User]) -> Self {
        let author = match message.author {
            Author::Customer => AuthorView { kind: "customer", id: None, name: None },
            // A rule's reply or note carries the rule's name.
            Author::System => AuthorView { kind: "system", id: None, name: message.rule.clone() },
            Author::Agent(id) => AuthorView {
                kind: "agent",
                id: Some(id),
                name: users.iter().find(|user| user.id == id).map(User::full_name),
            },
        };
        let text = message.activity.as_ref().map_or(message.text, Activity::english);
        MessageView {
            id: message.id,
            conversation_id: message.conversation,
            author,
            text,
            private: message.private,
            created_at: message.created_at,
            activity: message.activity,
        }
    }

    /// The view of one message, its author read in place.
    pub fn one(state: &AppState, message: Message) -> Result<MessageView, ApiError> {
        if !matches!(message.author, Author::Agent(_)) {
            return Ok(MessageView::build(message, &[]));
        }
        state.read_now(|read| {
            let users: Vec<User> = match message.author {
                Author::Agent(id) => read.user(id)?.into_iter().collect(),
                _ => Vec::new(),
            };
            Ok(MessageView::build(message, &users))
        })
    }

    pub async fn many(state: &AppState, messages: Vec<Message>) -> Result<Vec<MessageView>, ApiError> {
        let users = state.read(|read| read.users()).await?;
        Ok(messages.into_iter().map(|message| MessageView::build(message, &users)).collect())
    }
}
