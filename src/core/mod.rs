//! The core: the single writer (`writer`) and the commands it applies (`boot`). Every change goes
//! through here; readers use store read transactions directly.

mod boot;
mod writer;

use std::sync::Arc;

pub use boot::{RecordStart, RecordStop, Runtime, StartReport};
pub use writer::{Command, MAX_BATCH, State, Writer};

use crate::store::StoreError;

/// Something that happened, published on the bus after its commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    ServerStarted { seq: u64 },
}

/// The core as the server uses it.
pub type Core = Writer<Runtime, Event>;

/// Why a command was refused by the rules of the business. Nothing of it was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("{what} not found")]
    NotFound { what: &'static str },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
}

/// How applying one command failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Rejected(Rejection),
    #[error(transparent)]
    Store(#[from] StoreError),
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
