//! Presence (R-CONV-2, R-CONV-4): a user is online while at least one of their staff WebSockets
//! is open. Going offline waits a grace period (a reload or a flaky link reconnects within it);
//! staying offline past `return_after` returns the agent's open conversations to the queue.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::Clock;
use crate::core::{Core, ReturnWork, SetPresence};
use crate::domain::ids::UserId;

#[derive(Clone)]
pub struct Presence {
    inner: Arc<Inner>,
}

struct Inner {
    connections: Mutex<HashMap<UserId, usize>>,
    core: Core,
    clock: Clock,
    grace: Duration,
    return_after: Duration,
    stopping: watch::Receiver<bool>,
}

/// Held while a connection is open; dropping it counts the connection as closed.
pub struct Connected {
    presence: Presence,
    user: UserId,
}

impl Presence {
    pub fn new(
        core: Core,
        clock: Clock,
        grace: Duration,
        return_after: Duration,
        stopping: watch::Receiver<bool>,
    ) -> Presence {
        let inner = Inner { connections: Mutex::new(HashMap::new()), core, clock, grace, return_after, stopping };
        Presence { inner: Arc::new(inner) }
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, usize>> {
        self.inner.connections.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn is_online(&self, user: UserId) -> bool {
        self.counts().get(&user).is_some_and(|count| *count > 0)
    }

    pub fn online_users(&self) -> Vec<UserId> {
        self.counts().iter().filter(|(_, count)| **count > 0).map(|(user, _)| *user).collect()
    }

    /// A staff connection opened: the user is online at once.
    pub async fn connect(&self, user: UserId) -> Connected {
        let first = {
            let mut counts = self.counts();
            let count = counts.entry(user).or_insert(0);
            *count += 1;
            *count == 1
        };
        if first {
            let at = self.inner.clock.now();
            if let Err(err) = self.inner.core.call(SetPresence { agent: user, online: true, at }).await {
                tracing::warn!(error = %err, "cannot record presence");
            }
        }
        Connected { presence: self.clone(), user }
    }

    fn disconnected(&self, user: UserId) {
        let last = {
            let mut counts = self.counts();
            let count = counts.entry(user).or_insert(1);
            *count = count.saturating_sub(1);
            *count == 0
        };
        if last {
            let presence = self.clone();
            let mut stopping = self.inner.stopping.clone();
            // A stopping server forgets the timer (and its handle on the core) at once.
            tokio::spawn(async move {
                tokio::select! {
                    _ = presence.offline_after_grace(user) => {}
                    _ = crate::server::stop_requested(&mut stopping) => {}
                }
            });
        }
    }

    async fn offline_after_grace(self, user: UserId) {
        tokio::time::sleep(self.inner.grace).await;
        if self.is_online(user) {
            return;
        }
        let at = self.inner.clock.now();
        if let Err(err) = self.inner.core.call(SetPresence { agent: user, online: false, at }).await {
            return tracing::warn!(error = %err, "cannot record presence");
        }
        tokio::time::sleep(self.inner.return_after.saturating_sub(self.inner.grace)).await;
        if !self.is_online(user) {
            let at = self.inner.clock.now();
            match self.inner.core.call(ReturnWork { agent: user, at }).await {
                Ok(0) => {}
                Ok(returned) => {
                    tracing::info!(agent = %user, returned, "agent offline too long: conversations returned to the queue")
                }
                Err(err) => tracing::warn!(error = %err, "cannot return an offline agent's conversations"),
            }
        }
    }
}

impl Drop for Connected {
    fn drop(&mut self) {
        self.presence.disconnected(self.user);
    }
}
