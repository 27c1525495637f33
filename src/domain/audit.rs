//! The audit log of administrative actions (R-REP-4): who, what, when, from where.

use serde::{Deserialize, Serialize};

use super::ids::UserId;

/// Who did something, and from which address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// `None` for the system itself or the command line.
    pub user: Option<UserId>,
    pub email: String,
    pub address: String,
}

impl Actor {
    pub fn system(what: &str) -> Actor {
        Actor { user: None, email: what.to_owned(), address: "local".to_owned() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: u64,
    pub at: u64,
    pub actor: Actor,
    /// Stable action name, e.g. `user.create`.
    pub action: String,
    /// What it was done to, e.g. `user:7`.
    pub target: String,
    /// A short human-readable detail.
    pub detail: String,
}
