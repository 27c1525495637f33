//! Rules at work: the folder is re-read every second (a change is in force within 2 s), customer
//! messages are offered to `on_message`, and a periodic sweep offers idle open conversations to
//! `should_close`. Hooks run on the rules' bounded blocking pool; what they ask for goes through
//! the core as commands.

use std::time::Duration;

use tokio::sync::{broadcast, watch};

use crate::clock::Clock;
use crate::core::{ApplyRuleActions, CloseIdle, Core, Event, facts_of};
use crate::domain::conversation::{Author, Conversation, Message};
use crate::rules::Rules;
use crate::server::stop_requested;
use crate::store::Store;

/// How often the rules folder is compared with what is loaded.
const RELOAD: Duration = Duration::from_secs(1);
/// A conversation counts as idle for `should_close` after this long without a message.
pub const IDLE_MS: u64 = 60_000;

#[derive(Clone)]
pub struct RuleJobs {
    pub rules: Rules,
    pub store: Store,
    pub core: Core,
    pub clock: Clock,
    pub sweep: Duration,
}

impl RuleJobs {
    /// Runs the three loops until the server stops.
    pub async fn run(self, stop: watch::Receiver<bool>) {
        let events = self.core.subscribe();
        tokio::join!(self.reload(stop.clone()), self.messages(events, stop.clone()), self.sweeps(stop));
    }

    async fn reload(&self, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(RELOAD) => {}
                _ = stop_requested(&mut stop) => return,
            }
            self.rules.blocking(Rules::reload).await;
        }
    }

    async fn messages(&self, mut events: broadcast::Receiver<Event>, mut stop: watch::Receiver<bool>) {
        loop {
            let event = tokio::select! {
                event = events.recv() => event,
                _ = stop_requested(&mut stop) => return,
            };
            match event {
                Ok(Event::MessageCreated { conversation, message }) if message.author == Author::Customer => {
                    if self.rules.has("on_message") {
                        self.on_message(conversation, message).await;
                    }
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "rules fell behind the message stream; on_message skipped some messages");
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    async fn on_message(&self, conversation: Conversation, message: Message) {
        let (store, id) = (self.store.clone(), conversation.id);
        let answers = self
            .rules
            .blocking(move |rules| {
                let view = store.read().and_then(|read| facts_of(&read, id)).ok().flatten()?;
                Some(rules.on_message(view.to_map(), crate::rules::data::message(&message)))
            })
            .await
            .flatten()
            .unwrap_or_default();
        for answer in answers {
            let crate::rules::Outcome::Answer(actions) = answer.result else { continue };
            if actions.is_empty() {
                continue;
            }
            let command = ApplyRuleActions { conversation: id, actions, at: self.clock.now() };
            if let Err(err) = self.core.call(command).await {
                tracing::warn!(rule = %answer.file, conversation = %id.0, "the rule's actions were refused: {err}");
                self.rules.refused(&answer.file, "on_message", &err.to_string());
            }
        }
    }

    async fn sweeps(&self, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.sweep) => {}
                _ = stop_requested(&mut stop) => return,
            }
            if self.rules.has("should_close") {
                self.sweep().await;
            }
        }
    }

    /// Offers every open conversation idle for a minute to `should_close`, and closes those a rule
    /// wants closed.
    pub async fn sweep(&self) {
        let (store, now) = (self.store.clone(), self.clock.now());
        let closes = self
            .rules
            .blocking(move |rules| {
                let read = store.read().ok()?;
                let open = read.open_conversations().ok()?;
                let idle = open.iter().filter(|c| now.saturating_sub(c.last_message_at) >= IDLE_MS);
                let closes = idle
                    .filter_map(|c| {
                        let view = facts_of(&read, c.id).ok().flatten()?;
                        let (rule, message) = rules.should_close(view.to_map(), now)?;
                        Some(CloseIdle { conversation: c.id, message, seen: c.last_message_at, rule, at: now })
                    })
                    .collect::<Vec<_>>();
                Some(closes)
            })
            .await
            .flatten()
            .unwrap_or_default();
        for close in closes {
            let (id, rule) = (close.conversation, close.rule.clone());
            match self.core.call(close).await {
                Ok(true) => tracing::info!(rule = %rule, conversation = %id.0, "conversation closed by a rule"),
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(rule = %rule, conversation = %id.0, "the rule's closure was refused: {err}");
                    self.rules.refused(&rule, "should_close", &err.to_string());
                }
            }
        }
    }
}
