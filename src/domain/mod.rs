//! The business rules as plain functions over plain data: no I/O, no async, time passed in.
//! Unit-tested here; the core and the HTTP layer call them.

pub mod access;
pub mod account;
pub mod audit;
pub mod clock;
pub mod conversation;
pub mod error_code;
pub mod ids;
pub mod mail;
pub mod policy;
pub mod presence;
pub mod retention;
pub mod routing;
pub mod secret;
pub mod session;
pub mod throttle;
pub mod today;
pub mod totp;
pub mod webhook;
