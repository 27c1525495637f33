//! Every error code the API sends, in one enum: its wire code (clients and the UI's `error.<code>`
//! texts match on it, so it never changes), the HTTP status it goes with, and its message key.
//! A command or a handler names a variant, so a typo cannot ship and the OpenAPI document can list
//! them all (a test checks it does).

/// Declares the enum and its tables from one row per code: `Variant = "wire", status | status;`.
/// The first status is the usual one; more than one only where the same refusal reads the same to
/// a person but answers a different situation (signing in → 401, a signed-in user proving it is
/// them → 403).
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $wire:literal, $($status:literal)|+;)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The stable, machine-readable code sent as `error.code`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $wire,)*
                }
            }

            /// Every HTTP status this code may be sent with; the first is the usual one.
            pub const fn statuses(self) -> &'static [u16] {
                match self {
                    $(ErrorCode::$variant => &[$($status),+],)*
                }
            }

            /// The key of its text in `web/i18n/*.json`.
            pub const fn message_key(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => concat!("error.", $wire),)*
                }
            }
        }
    };
}

error_codes! {
    AgentNotFound = "agent_not_found", 404;
    AgentUnavailable = "agent_unavailable", 409;
    AlreadyActive = "already_active", 409;
    AlreadyWithAgent = "already_with_agent", 409;
    AtCapacity = "at_capacity", 409;
    BodyTimeout = "body_timeout", 408;
    BodyUnreadable = "body_unreadable", 400;
    /// The server is saturated with password checks (whoever asks).
    Busy = "busy", 503;
    ChannelDisabled = "channel_disabled", 410;
    ChannelNotFound = "channel_not_found", 404;
    ContactNotFound = "contact_not_found", 404;
    ConversationFinalized = "conversation_finalized", 409;
    ConversationNotFound = "conversation_not_found", 404;
    ConversationNotRoutable = "conversation_not_routable", 409;
    ConversationNotWaiting = "conversation_not_waiting", 409;
    CsrfFailed = "csrf_failed", 403;
    DiskFull = "disk_full", 503;
    EmailTaken = "email_taken", 409;
    Forbidden = "forbidden", 403;
    GroupNameTaken = "group_name_taken", 409;
    GroupNotFound = "group_not_found", 404;
    Internal = "internal", 500;
    InvalidCredentials = "invalid_credentials", 401;
    /// A list's `before` is not a cursor of that list.
    InvalidCursor = "invalid_cursor", 400;
    /// A field, a query parameter or the body's shape is wrong; `field` names it.
    InvalidInput = "invalid_input", 400;
    InvalidJson = "invalid_json", 400;
    InvalidToken = "invalid_token", 401;
    InvalidVisitor = "invalid_visitor", 401;
    LastAdmin = "last_admin", 409;
    LinkExpired = "link_expired", 410;
    LinkInvalid = "link_invalid", 404;
    LinkReplaced = "link_replaced", 410;
    LinkRevoked = "link_revoked", 410;
    LinkUsed = "link_used", 410;
    MailNotFound = "mail_not_found", 404;
    MethodNotAllowed = "method_not_allowed", 405;
    NotAnAgent = "not_an_agent", 409;
    NotFound = "not_found", 404;
    NotSignedIn = "not_signed_in", 401;
    NotYourConversation = "not_your_conversation", 403;
    NotYourQueue = "not_your_queue", 403;
    PayloadTooLarge = "payload_too_large", 413;
    QueueFull = "queue_full", 409;
    RateLimited = "rate_limited", 429;
    RouteNotFound = "route_not_found", 404;
    SessionRequired = "session_required", 403;
    StartNotFound = "start_not_found", 404;
    StorageUnavailable = "storage_unavailable", 503;
    SupervisorAssigns = "supervisor_assigns", 409;
    TextTooLong = "text_too_long", 413;
    TokenNotFound = "token_not_found", 404;
    TooManyAttempts = "too_many_attempts", 429;
    /// 401 signing in, 403 a signed-in user proving it is them, 400 a new enrolment's first code.
    TotpInvalid = "totp_invalid", 401 | 403 | 400;
    TotpNotStarted = "totp_not_started", 409;
    /// 401 signing in, 403 a signed-in user proving it is them.
    TotpRequired = "totp_required", 401 | 403;
    TotpRequiredByAdmin = "totp_required_by_admin", 409;
    TotpSetupRequired = "totp_setup_required", 403;
    TransferToOnlyYourself = "transfer_to_only_yourself", 409;
    TransferToSameGroup = "transfer_to_same_group", 409;
    UnsupportedMediaType = "unsupported_media_type", 415;
    /// 409 changing a deactivated user, 403 signing in, 410 a link or session of one.
    UserInactive = "user_inactive", 409 | 403 | 410;
    UserNotFound = "user_not_found", 404;
    WebsocketRequired = "websocket_required", 400;
    WriterUnavailable = "writer_unavailable", 503;
    WrongPassword = "wrong_password", 403;
}

impl ErrorCode {
    /// The status it is usually sent with.
    pub const fn status(self) -> u16 {
        self.statuses()[0]
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Lets tests and callers compare with the wire code.
impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::ErrorCode;

    #[test]
    fn wire_codes_are_unique_snake_case_and_keys_follow_them() {
        let mut seen = BTreeSet::new();
        for code in ErrorCode::ALL {
            let wire = code.as_str();
            assert!(seen.insert(wire), "{wire} is declared twice");
            assert!(wire.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{wire} is not snake_case");
            assert_eq!(code.message_key(), format!("error.{wire}"));
            assert!(code.statuses().iter().all(|status| (400..600).contains(status)), "{wire}: {:?}", code.statuses());
        }
    }

    #[test]
    fn a_code_compares_with_its_wire_text() {
        assert_eq!(ErrorCode::QueueFull, "queue_full");
        assert_eq!(ErrorCode::UserInactive.status(), 409);
        assert_eq!(serde_json::to_string(&ErrorCode::NotSignedIn).ok().as_deref(), Some("\"not_signed_in\""));
    }
}
