//! Presence (R-CONV-2, R-CONV-4): a user is online while at least one of their staff WebSockets
//! is open. Going offline waits a grace period (a reload or a flaky link reconnects within it);
//! staying offline past `return_after` returns the agent's open conversations to the queue.

use std::future::Future;
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
    order: InOrder,
    core: Core,
    clock: Clock,
    limits: PresenceLimits,
    stopping: watch::Receiver<bool>,
}

/// Presence decisions and their commands, one at a time: each decision's command reaches the
/// writer before the next decision is taken. Else a reconnect could overtake a going-offline
/// decided just before it, and she would end offline in routing with her socket open, her timer
/// stale and nothing left to correct it.
#[derive(Default)]
struct InOrder(tokio::sync::Mutex<()>);

impl InOrder {
    /// Runs `decide`, then `send` with what it decided, with no other decision in between.
    async fn run<T, R, F: Future<Output = R>>(&self, decide: impl FnOnce() -> T, send: impl FnOnce(T) -> F) -> R {
        let _turn = self.0.lock().await;
        send(decide()).await
    }
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
        let inner =
            Inner { timers: Mutex::new(Timers::default()), order: InOrder::default(), core, clock, limits, stopping };
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
        let send = |first| async move {
            if first {
                let at = self.inner.clock.now();
                if let Err(err) = self.inner.core.call(SetPresence { agent: user, online: true, at }).await {
                    tracing::warn!(error = %err, "cannot record presence");
                }
            }
        };
        self.inner.order.run(|| self.timers().connect(user), send).await;
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
                _ = crate::shutdown::stop_requested(&mut stopping) => {}
            }
        });
    }

    /// One offline period's timer: it acts only while that period is the user's current one.
    async fn run_timer(self, timer: Timer) {
        let mut at = timer.at;
        loop {
            let wait = at.saturating_sub(self.inner.clock.now());
            tokio::time::sleep(Duration::from_millis(wait)).await;
            let decide = || {
                let now = self.inner.clock.now();
                (now, self.timers().due(timer.user, timer.generation, now, self.inner.limits))
            };
            match self.inner.order.run(decide, |(now, due)| self.act(timer.user, now, due)).await {
                Some(next) => at = next,
                None => return,
            }
        }
    }

    /// Carries out a timer's step; `Some(at)`: wake again then.
    async fn act(&self, user: UserId, now: u64, due: Due) -> Option<u64> {
        match due {
            Due::Stale => None,
            Due::Wait { at } => Some(at),
            Due::GoOffline { next } => {
                match self.inner.core.call(SetPresence { agent: user, online: false, at: now }).await {
                    Ok(()) => Some(next),
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot record presence");
                        None
                    }
                }
            }
            Due::ReturnWork => {
                self.return_work(user, now).await;
                None
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

#[cfg(test)]
mod tests {
    use super::*;

    const ANA: UserId = UserId(7);

    /// The timer decides she goes offline, and its command is slow to reach the writer; she
    /// reconnects meanwhile. The writer must hear offline, then online: she ends online.
    #[tokio::test]
    async fn a_reconnect_cannot_overtake_a_going_offline_decided_before_it() {
        let limits = PresenceLimits { grace_ms: 0, return_ms: 1_000 };
        let timers = Arc::new(Mutex::new(Timers::default()));
        let order = Arc::new(InOrder::default());
        let writer = Arc::new(Mutex::new(Vec::new()));
        let (decided, handed_over) = (Arc::new(tokio::sync::Notify::new()), Arc::new(tokio::sync::Notify::new()));
        timers.lock().unwrap().connect(ANA);
        let timer = timers.lock().unwrap().disconnect(ANA, 0, limits).unwrap();

        let offline = tokio::spawn({
            let (timers, order, writer) = (Arc::clone(&timers), Arc::clone(&order), Arc::clone(&writer));
            let (decided, handed_over) = (Arc::clone(&decided), Arc::clone(&handed_over));
            async move {
                let decide = || {
                    let due = timers.lock().unwrap().due(ANA, timer.generation, 0, limits);
                    decided.notify_one();
                    due
                };
                let send = |due| async move {
                    assert!(matches!(due, Due::GoOffline { .. }), "{due:?}");
                    handed_over.notified().await;
                    writer.lock().unwrap().push(false);
                };
                order.run(decide, send).await;
            }
        });
        decided.notified().await;
        let online = tokio::spawn({
            let (timers, order, writer) = (Arc::clone(&timers), Arc::clone(&order), Arc::clone(&writer));
            async move {
                let send = |first| async move {
                    if first {
                        writer.lock().unwrap().push(true);
                    }
                };
                order.run(|| timers.lock().unwrap().connect(ANA), send).await;
            }
        });
        // Give the reconnect every chance to overtake, then let the slow command through.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        handed_over.notify_one();
        offline.await.unwrap();
        online.await.unwrap();
        assert_eq!(*writer.lock().unwrap(), vec![false, true], "the writer hears offline, then online");
        assert!(timers.lock().unwrap().is_online(ANA));
    }
}
