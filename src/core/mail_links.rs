//! Where the core keeps the links of queued mail (issue 13, finding 2): part of the writer's
//! state, below the commands that use it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Links of queued mail waiting to be sent, by the hash of their token. Held in memory only, so
/// that the database never holds a link that is, or is about to be, in someone's mailbox.
#[derive(Clone, Default)]
pub struct MailVault(Arc<Mutex<HashMap<[u8; 32], String>>>);

impl std::fmt::Debug for MailVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MailVault({} links)", self.lock().len())
    }
}

impl MailVault {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], String>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn get(&self, hash: &[u8; 32]) -> Option<String> {
        self.lock().get(hash).cloned()
    }

    pub fn hold(&self, hash: [u8; 32], url: String) {
        self.lock().insert(hash, url);
    }

    /// After the mail went out: nobody needs its link any more.
    pub fn forget(&self, hash: &[u8; 32]) {
        self.lock().remove(hash);
    }
}

/// How the core keeps the links of queued mail.
#[derive(Debug, Clone, Default)]
pub struct MailLinks {
    pub vault: MailVault,
    /// No SMTP server is configured: administrators pass links on from the outbox, so a link is
    /// stored with its mail (until used, replaced or expired) and survives restarts.
    pub in_outbox: bool,
}
