//! Presence (R-CONV-2, R-CONV-4): a user is online while at least one of their staff WebSockets
//! is open. Going offline waits a grace period (a reload or a flaky link reconnects within it);
//! staying offline past `return_after` returns the agent's open conversations to the queue.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::Clock;
use crate::core::{Core, ReturnWork, SetPresence};
use crate::domain::ids::UserId;
use crate::domain::presence::{Due, Presence as Timers, PresenceLimits, Timer};

#[derive(Clone)]
pub struct Presence {
    inner: Arc<Inner>,
}

struct Inner {
    timers: Mutex<Timers>,
    /// Held from a presence decision until its command is with the writer, so the writer sees
    /// the commands in the order of the decisions: a reconnect cannot overtake a going-offline
    /// decided just before it (she would end offline with her socket open, and nothing left to
    /// correct it).
    order: tokio::sync::Mutex<()>,
    core: Core,
    clock: Clock,
    limits: PresenceLimits,
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
        let millis = |duration: Duration| u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        let limits = PresenceLimits { grace_ms: millis(grace), return_ms: millis(return_after) };
        let inner = Inner {
            timers: Mutex::new(Timers::default()),
            order: tokio::sync::Mutex::new(()),
            core,
            clock,
            limits,
            stopping,
        };
        Presence { inner: Arc::new(inner) }
    }

    fn timers(&self) -> std::sync::MutexGuard<'_, Timers> {
        self.inner.timers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn is_online(&self, user: UserId) -> bool {
        self.timers().is_online(user)
    }

    pub fn online_users(&self) -> Vec<UserId> {
        self.timers().online_users()
    }

    /// A staff connection opened: the user is online at once.
    pub async fn connect(&self, user: UserId) -> Connected {
        let _order = self.inner.order.lock().await;
        let first = self.timers().connect(user);
        if first {
            let at = self.inner.clock.now();
            if let Err(err) = self.inner.core.call(SetPresence { agent: user, online: true, at }).await {
                tracing::warn!(error = %err, "cannot record presence");
            }
        }
        Connected { presence: self.clone(), user }
    }

    fn disconnected(&self, user: UserId) {
        let now = self.inner.clock.now();
        let Some(timer) = self.timers().disconnect(user, now, self.inner.limits) else {
            return;
        };
        let presence = self.clone();
        let mut stopping = self.inner.stopping.clone();
        // A stopping server forgets the timer (and its handle on the core) at once.
        tokio::spawn(async move {
            tokio::select! {
                _ = presence.run_timer(timer) => {}
                _ = crate::server::stop_requested(&mut stopping) => {}
            }
        });
    }

    /// One offline period's timer: it acts only while that period is the user's current one.
    async fn run_timer(self, timer: Timer) {
        let mut at = timer.at;
        loop {
            let wait = at.saturating_sub(self.inner.clock.now());
            tokio::time::sleep(Duration::from_millis(wait)).await;
            let _order = self.inner.order.lock().await;
            let now = self.inner.clock.now();
            let due = self.timers().due(timer.user, timer.generation, now, self.inner.limits);
            match due {
                Due::Stale => return,
                Due::Wait { at: next } => at = next,
                Due::GoOffline { next } => {
                    let command = SetPresence { agent: timer.user, online: false, at: now };
                    if let Err(err) = self.inner.core.call(command).await {
                        return tracing::warn!(error = %err, "cannot record presence");
                    }
                    at = next;
                }
                Due::ReturnWork => return self.return_work(timer.user, now).await,
            }
        }
    }

    async fn return_work(&self, user: UserId, at: u64) {
        match self.inner.core.call(ReturnWork { agent: user, at }).await {
            Ok(0) => {}
            Ok(returned) => {
                tracing::info!(agent = %user, returned, "agent offline too long: conversations returned to the queue")
            }
            Err(err) => tracing::warn!(error = %err, "cannot return an offline agent's conversations"),
        }
    }
}

impl Drop for Connected {
    fn drop(&mut self) {
        self.presence.disconnected(self.user);
    }
}
