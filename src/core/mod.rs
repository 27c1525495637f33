//! The core: the single writer (`writer`) and the commands it applies (`boot`). Every change goes
//! through here; readers use store read transactions directly.

mod accounts;
mod activity;
mod agents;
mod assign_hook;
mod boot;
mod channels;
mod conversations;
mod groups;
mod live;
mod mail_links;
mod notify;
mod outbox;
mod records;
mod retention;
mod rules;
mod runtime;
mod sessions;
mod transfers;
mod writer;

use std::sync::Arc;

pub use accounts::{
    ClearTotp, CreateUser, EnsureFirstAdmin, NewLink, NewSession, RequestReset, ResendInvite, SetPassword, UpdateUser,
    UseLink, link_rejection,
};
pub use agents::{ReturnWork, SetAgentRouting, SetAvailability, SetPresence, Take, TakeNext};
pub use assign_hook::{AnswerAssignment, AskAgain, SetAssignHook, rule_choice};
pub use boot::{RecordStart, RecordStop, StartReport};
pub use channels::{CreateChannel, CreateVisitor, UpdateChannel, UpdateContact};
pub use conversations::{
    AgentMessage, CustomerMessage, CustomerOutcome, CustomerProfile, DeliveryAttempted, Finalize,
    IndexContactConversations, MarkRead, SetLabel, Staff,
};
pub use groups::{CreateGroup, DeleteGroup, UpdateGroup};
pub use live::LiveView;
pub use mail_links::{MailLinks, MailVault};
pub use notify::SetPublicUrl;
pub use outbox::{AdoptLegacyMail, LinkRead, LinksRead, MailAttempted, RenewMailLink, SetMailLinks, fresh_link};
pub use retention::{IndexForRetention, Purge, Purgeable, Purged};
pub use rules::{ApplyRuleActions, CloseIdle, RuleView, facts_of, facts_with};
pub use runtime::{DEFAULT_CAPACITY, Runtime, WatchLive, routable};
pub use sessions::{
    ChangePassword, CreateApiToken, DisableTotp, EnableTotp, EndSession, OpenSession, PasswordChanged, RevokeApiToken,
    StartTotp, TouchSession, UpdateProfile, second_factor_missing,
};
pub use transfers::{Transfer, TransferTarget};
pub use writer::{Command, MAX_BATCH, Read, State, Tables, WriteError, Writer};

use crate::domain::conversation::{Conversation, Message};
pub use crate::domain::error_code::ErrorCode;
use crate::domain::ids::{GroupId, UserId};
use crate::store::StoreError;

/// Something that happened, published on the bus after its commit.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // Events are cloned to subscribers; boxing would not save copies.
pub enum Event {
    ServerStarted {
        seq: u64,
    },
    UserChanged {
        id: UserId,
    },
    /// Some of the user's sessions or API tokens ended (sign-out, password change, revocation):
    /// their open sockets check whether theirs still stands.
    SessionsEnded {
        user: UserId,
    },
    GroupChanged {
        id: GroupId,
    },
    ConversationCreated {
        conversation: Conversation,
    },
    ConversationAssigned {
        conversation: Conversation,
    },
    ConversationTransferred {
        conversation: Conversation,
        from: UserId,
    },
    ConversationFinalized {
        conversation: Conversation,
    },
    ConversationUpdated {
        conversation: Conversation,
    },
    MessageCreated {
        conversation: Conversation,
        message: Message,
    },
    AgentStatus {
        agent: UserId,
        available: bool,
        online: bool,
    },
    /// Someone entered or left a queue.
    QueueChanged,
    /// A mail was put in the outbox (the mailer wakes up).
    MailQueued,
    /// Routing asks the rules' `assign` hook who takes a waiting conversation.
    AssignmentAsked {
        question: crate::domain::routing::Question,
    },
}

/// The core as the server uses it.
pub type Core = Writer<Runtime, Event>;

/// Why a command was refused by the rules of the business. Nothing of it was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Rejection {
    pub kind: RejectKind,
    /// Stable, machine-readable; becomes the API error code.
    pub code: ErrorCode,
    pub message: String,
    /// The input field at fault, when there is one.
    pub field: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectKind {
    NotFound,
    Conflict,
    Invalid,
    /// A link or token that existed but can no longer be used.
    Gone,
    Forbidden,
    /// Credentials missing or wrong.
    Unauthorized,
}

impl Rejection {
    pub fn new(kind: RejectKind, code: ErrorCode, message: impl Into<String>) -> Self {
        Rejection { kind, code, message: message.into(), field: None }
    }

    pub fn not_found(code: ErrorCode, message: impl Into<String>) -> Self {
        Rejection::new(RejectKind::NotFound, code, message)
    }

    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> Self {
        Rejection::new(RejectKind::Conflict, code, message)
    }

    pub fn forbidden(code: ErrorCode, message: impl Into<String>) -> Self {
        Rejection::new(RejectKind::Forbidden, code, message)
    }
}

impl From<crate::domain::account::Invalid> for Rejection {
    fn from(invalid: crate::domain::account::Invalid) -> Self {
        Rejection {
            kind: RejectKind::Invalid,
            code: ErrorCode::InvalidInput,
            message: invalid.to_string(),
            field: Some(invalid.field),
        }
    }
}

/// How applying one command failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Rejected(Rejection),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The command panicked: a bug. Its writes, if any, are dropped with its batch.
    #[error("a command failed unexpectedly: {0}")]
    Panicked(Arc<str>),
}

/// What a caller of the core gets when its command did not take effect.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CoreError {
    #[error(transparent)]
    Rejected(Rejection),
    #[error("storage failure: {0}")]
    Storage(Arc<StoreError>),
    #[error("the core has stopped")]
    Stopped,
    /// The command panicked (a bug, logged); nothing of its batch was saved.
    #[error("a command failed unexpectedly: {0}")]
    Panicked(Arc<str>),
}

macro_rules! apply_error_from_redb {
    ($($kind:ty),*) => {$(
        impl From<$kind> for ApplyError {
            fn from(err: $kind) -> Self {
                ApplyError::Store(err.into())
            }
        }
    )*};
}
apply_error_from_redb!(redb::TableError, redb::StorageError);

#[cfg(test)]
mod tests;
