//! Deletes what is no longer needed (issue 14, point 4), at start and then hourly: delivered
//! webhook deliveries and sent mail past their `retention.*` days, expired invite and reset links,
//! ended sessions. Each kind goes in commands of at most `BATCH` records, so the writer is never
//! held long; one log line per run says how many went.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};

use crate::clock::Clock;
use crate::core::{Core, Purge, Purgeable, Purged};
use crate::domain::retention::Retention;
use crate::shutdown::{Stopping, stop_requested};

const EVERY: Duration = Duration::from_secs(3600);

pub struct RetentionJob {
    pub core: Core,
    pub clock: Clock,
    pub retention: Retention,
    pub trigger: Trigger,
}

/// Asks for a run now and waits for it (tests, after moving the clock).
#[derive(Clone)]
pub struct Trigger {
    wake: Arc<Notify>,
    /// Runs (started, finished).
    runs: Arc<watch::Sender<(u64, u64)>>,
}

impl Default for Trigger {
    fn default() -> Self {
        Trigger { wake: Arc::new(Notify::new()), runs: Arc::new(watch::Sender::new((0, 0))) }
    }
}

impl Trigger {
    /// Resolves once a run that started after this call has finished (or the job is gone).
    pub async fn run_now(&self) {
        let mut runs = self.runs.subscribe();
        let (started, _) = *runs.borrow_and_update();
        self.wake.notify_one();
        // A run under way when asked may have missed what the caller just did: wait for the next.
        let _ = runs.wait_for(|(_, finished)| *finished > started).await;
    }
}

/// How many records one run deleted, by kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RunCounts {
    pub deliveries: usize,
    pub mail: usize,
    pub links: usize,
    pub sessions: usize,
}

impl RetentionJob {
    pub async fn run(self, mut stop: Stopping) {
        loop {
            self.trigger.runs.send_modify(|(started, _)| *started += 1);
            self.run_once().await;
            self.trigger.runs.send_modify(|(started, finished)| *finished = *started);
            tokio::select! {
                _ = tokio::time::sleep(EVERY) => {}
                _ = self.trigger.wake.notified() => {}
                _ = stop_requested(&mut stop) => return,
            }
        }
    }

    async fn run_once(&self) -> RunCounts {
        let began = Instant::now();
        let counts = RunCounts {
            deliveries: self.purge(Purgeable::Deliveries).await,
            mail: self.purge(Purgeable::Mail).await,
            links: self.purge(Purgeable::Links).await,
            sessions: self.purge(Purgeable::Sessions).await,
        };
        tracing::info!(
            deliveries = counts.deliveries,
            mail = counts.mail,
            links = counts.links,
            sessions = counts.sessions,
            millis = began.elapsed().as_millis() as u64,
            "retention: deleted delivered webhooks, sent mail, expired links and ended sessions"
        );
        counts
    }

    /// Deletes every due record of one kind, a batch per command; answers how many.
    async fn purge(&self, what: Purgeable) -> usize {
        let mut deleted = 0;
        loop {
            let command = Purge { what, retention: self.retention, now: self.clock.now() };
            match self.core.call(command).await {
                Ok(purged @ Purged { deleted: some, .. }) => {
                    deleted += some;
                    if !purged.more() {
                        return deleted;
                    }
                }
                Err(err) => {
                    tracing::error!(error = %err, ?what, "retention: cannot delete old records; retrying next run");
                    return deleted;
                }
            }
            // Let other commands in between batches.
            tokio::task::yield_now().await;
        }
    }
}
