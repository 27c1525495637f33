//! Sends the outbox by SMTP when `smtp.url` is set, as soon as mail is queued, retrying failures
//! with a growing pause (up to an hour) so nothing is lost. Without SMTP, mail stays in the outbox
//! for administrators to read, and the log says so once per mail.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::{Notify, broadcast, watch};

use crate::clock::Clock;
use crate::config::SmtpSettings;
use crate::core::{Core, Event, MailAttempted};
use crate::domain::mail::Mail;
use crate::store::Store;

const SWEEP: Duration = Duration::from_secs(30);
const BATCH: usize = 50;

pub struct Mailer {
    pub store: Store,
    pub core: Core,
    pub clock: Clock,
    pub smtp: SmtpSettings,
    pub queued: Arc<Notify>,
}

/// Whether a failed mail has waited long enough: 1, 2, 4 … minutes after each attempt, at most an hour.
pub fn due(mail: &Mail, now: u64) -> bool {
    match mail.last_attempt_at {
        None => true,
        Some(last) => {
            let pause = 60_000u64.saturating_mul(1 << mail.attempts.min(6)).min(3_600_000);
            now.saturating_sub(last) >= pause
        }
    }
}

/// Resolves when the core put a mail in the outbox (a notice), or missed events that may have.
async fn mail_queued(events: &mut broadcast::Receiver<Event>) {
    loop {
        match events.recv().await {
            Ok(Event::MailQueued) | Err(broadcast::error::RecvError::Lagged(_)) => return,
            Ok(_) => {}
            // The core stopped: nothing more will come; the sweep timer and stop still work.
            Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}

impl Mailer {
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let transport = match self.smtp.url.as_deref().map(AsyncSmtpTransport::<Tokio1Executor>::from_url) {
            Some(Ok(builder)) => Some(builder.timeout(Some(Duration::from_secs(30))).build()),
            Some(Err(err)) => {
                tracing::error!(error = %err, "smtp.url is not usable; mail stays in the outbox");
                None
            }
            None => None,
        };
        let mut reported = self.report_waiting(transport.is_some()).await;
        let mut events = self.core.subscribe();
        loop {
            self.sweep(transport.as_ref(), &mut reported).await;
            tokio::select! {
                _ = self.queued.notified() => {}
                _ = mail_queued(&mut events) => {}
                _ = tokio::time::sleep(SWEEP) => {}
                _ = stop.wait_for(|stop| *stop) => return,
            }
        }
    }

    /// At start, one line for the mail already waiting (not one per mail), remembered as reported.
    async fn report_waiting(&self, can_send: bool) -> HashSet<u64> {
        let store = self.store.clone();
        let waiting = tokio::task::spawn_blocking(move || store.read()?.unsent_mails(usize::MAX)).await;
        let ids: HashSet<u64> = match waiting {
            Ok(Ok(mails)) => mails.iter().map(|mail| mail.id).collect(),
            _ => HashSet::new(),
        };
        if !ids.is_empty() && !can_send {
            tracing::info!(count = ids.len(), "mail waits in the outbox: no SMTP server configured (smtp.url)");
        }
        ids
    }

    async fn sweep(&self, transport: Option<&AsyncSmtpTransport<Tokio1Executor>>, reported: &mut HashSet<u64>) {
        let store = self.store.clone();
        let unsent = match tokio::task::spawn_blocking(move || store.read()?.unsent_mails(BATCH)).await {
            Ok(Ok(unsent)) => unsent,
            Ok(Err(err)) => return tracing::error!(error = %err, "cannot read the outbox"),
            Err(err) => return tracing::error!(error = %err, "cannot read the outbox"),
        };
        for mail in unsent {
            let Some(transport) = transport else {
                if reported.insert(mail.id) {
                    tracing::info!(to = %mail.to, subject = %mail.subject, "no SMTP server configured (smtp.url): the mail is kept in the outbox, where administrators can read it");
                }
                continue;
            };
            if !due(&mail, self.clock.now()) {
                continue;
            }
            let error = self.send(transport, &mail).await.err();
            if let Some(error) = &error {
                tracing::warn!(to = %mail.to, error = %error, "mail not sent; will retry");
            }
            let attempted = MailAttempted { id: mail.id, error, at: self.clock.now() };
            if let Err(err) = self.core.call(attempted).await {
                tracing::error!(error = %err, "cannot record a mail attempt");
            }
        }
    }

    async fn send(&self, transport: &AsyncSmtpTransport<Tokio1Executor>, mail: &Mail) -> Result<(), String> {
        let message = Message::builder()
            .from(self.smtp.from.parse().map_err(|err| format!("smtp.from: {err}"))?)
            .to(mail.to.parse().map_err(|err| format!("recipient {}: {err}", mail.to))?)
            .subject(mail.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .map_err(|err| err.to_string())?;
        transport.send(message).await.map(|_| ()).map_err(|err| err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_longer_each_time_up_to_an_hour() {
        let mut mail = Mail {
            id: 1,
            to: "a@b.c".into(),
            subject: String::new(),
            body: String::new(),
            created_at: 0,
            sent_at: None,
            attempts: 0,
            last_error: None,
            last_attempt_at: None,
        };
        assert!(due(&mail, 0));
        mail.attempts = 1;
        mail.last_attempt_at = Some(0);
        assert!(!due(&mail, 119_999) && due(&mail, 120_000));
        mail.attempts = 30;
        assert!(!due(&mail, 3_599_999) && due(&mail, 3_600_000));
    }
}
