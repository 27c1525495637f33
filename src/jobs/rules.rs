//! Rules at work: the folder is re-read every second (a change is in force within 2 s), customer
//! messages are offered to `on_message`, and a periodic sweep offers idle open conversations to
//! `should_close`, and routing's questions go to `assign`. Hooks run on the rules' bounded
//! blocking pool, never on the writer; what they ask for goes through the core as commands.

use std::time::Duration;

use tokio::sync::{broadcast, watch};

use crate::clock::Clock;
use crate::core::{
    AnswerAssignment, ApplyRuleActions, AskAgain, CloseIdle, Core, CoreError, Event, SetAssignHook, facts_of,
    facts_with, rule_choice,
};
use crate::domain::conversation::{Author, Conversation, Message};
use crate::domain::routing::Question;
use crate::rules::Rules;
use crate::shutdown::stop_requested;
use crate::store::Store;

/// How often the rules folder is compared with what is loaded: a change is compiled on the
/// second look that finds it unchanged, so within about a second.
const RELOAD: Duration = Duration::from_millis(400);
/// A conversation counts as idle for `should_close` after this long without a message.
pub const IDLE_MS: u64 = 60_000;
/// Conversations asked about per trip to the blocking pool.
const SWEEP_CHUNK: usize = 64;

#[derive(Clone)]
pub struct RuleJobs {
    pub rules: Rules,
    pub store: Store,
    pub core: Core,
    pub clock: Clock,
    pub sweep: Duration,
}

impl RuleJobs {
    /// Runs the four loops until the server stops.
    pub async fn run(self, stop: watch::Receiver<bool>) {
        let (events, questions) = (self.core.subscribe(), self.core.subscribe());
        tokio::join!(
            self.reload(stop.clone()),
            self.messages(events, stop.clone()),
            self.assignments(questions, stop.clone()),
            self.sweeps(stop)
        );
    }

    async fn reload(&self, mut stop: watch::Receiver<bool>) {
        let mut hook = None;
        loop {
            // Routing asks the `assign` hook only while a rule has one.
            let has = self.rules.has("assign");
            if hook != Some(has) {
                match self.core.call(SetAssignHook { on: has, at: self.clock.now() }).await {
                    Ok(()) => hook = Some(has),
                    Err(err) => {
                        tracing::warn!("the assign hook could not be turned {}: {err}", if has { "on" } else { "off" })
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(RELOAD) => {}
                _ = stop_requested(&mut stop) => return,
            }
            self.rules.blocking(Rules::reload_settled).await;
        }
    }

    /// Answers routing's questions, one at a time, in the order asked (first come, first served).
    async fn assignments(&self, mut events: broadcast::Receiver<Event>, mut stop: watch::Receiver<bool>) {
        // Questions put before this loop listened (at start) are put again now that it does.
        self.ask_again().await;
        loop {
            let event = tokio::select! {
                event = events.recv() => event,
                _ = stop_requested(&mut stop) => return,
            };
            match event {
                Ok(Event::AssignmentAsked { question }) => self.answer(question).await,
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "rules fell behind routing's questions; asking them again");
                    self.ask_again().await;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    /// Every open question put again: none waits for an answer that will not come.
    async fn ask_again(&self) {
        if let Err(err) = self.core.call(AskAgain { at: self.clock.now() }).await {
            tracing::warn!("routing's questions could not be asked again: {err}");
        }
    }

    async fn answer(&self, question: Question) {
        let (store, id) = (self.store.clone(), question.conversation);
        let choice = self
            .rules
            .blocking(move |rules| store.read().ok().map(|read| rule_choice(rules, &read, &question)))
            .await
            .flatten()
            .unwrap_or(crate::domain::routing::Choice::Builtin);
        // An answer that does not land would leave the conversation waiting for it: tried again
        // a few times, then every question is put again.
        for pause in [50, 200, 1000, 5000] {
            match self.core.call(AnswerAssignment { conversation: id, choice, at: self.clock.now() }).await {
                Ok(()) => return,
                Err(CoreError::Stopped) => return,
                Err(err) => tracing::warn!(conversation = %id.0, "the assign hook's answer was not applied: {err}"),
            }
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
        self.ask_again().await;
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
            let command =
                ApplyRuleActions { conversation: id, actions, rule: answer.file.clone(), at: self.clock.now() };
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
    /// wants closed. Asked in small chunks, so other rule work (permissions) is never held up for
    /// a whole sweep.
    pub async fn sweep(&self) {
        let (store, now) = (self.store.clone(), self.clock.now());
        let idle = self
            .rules
            .blocking(move |_| {
                let open = store.read().and_then(|read| read.open_conversations()).ok()?;
                let idle = open.into_iter().filter(|c| now.saturating_sub(c.last_message_at) >= IDLE_MS);
                Some(idle.map(|c| (c.id, c.last_message_at)).collect::<Vec<_>>())
            })
            .await
            .flatten()
            .unwrap_or_default();
        let mut closes = Vec::new();
        for chunk in idle.chunks(SWEEP_CHUNK) {
            let (store, chunk) = (self.store.clone(), chunk.to_vec());
            let asked = self.rules.blocking(move |rules| {
                let read = store.read().ok()?;
                let groups = read.groups().ok()?;
                let wanted = chunk.into_iter().filter_map(|(id, seen)| {
                    let view = facts_with(&read, &groups, id).ok().flatten()?;
                    let (rule, message) = rules.should_close(view.to_map(), now)?;
                    Some(CloseIdle { conversation: id, message, seen, rule, at: now })
                });
                Some(wanted.collect::<Vec<_>>())
            });
            closes.extend(asked.await.flatten().unwrap_or_default());
        }
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
