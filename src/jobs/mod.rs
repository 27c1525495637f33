//! Background work driven by time or by the core: sending the mail in the outbox.

pub mod mailer;
pub mod presence;
pub mod retention;
pub mod rules;
pub mod webhooks;
