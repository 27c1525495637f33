//! Sends the outbox by SMTP when `smtp.url` is set, as soon as mail is queued, retrying failures
//! with a growing pause (up to an hour) so nothing is lost. Without SMTP, mail stays in the outbox
//! for administrators to read, and the log says so once per mail. An invite or reset link held in
//! memory and lost at a restart is renewed before its mail goes (or is read).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::{Notify, broadcast, watch};

use crate::clock::Clock;
use crate::config::SmtpSettings;
use crate::core::{Core, Event, MailAttempted, MailVault, RenewMailLink, fresh_link};
use crate::domain::mail::{Mail, Removal, Shown};
use crate::domain::secret::Link;
use crate::store::{Store, StoreError};

const SWEEP: Duration = Duration::from_secs(30);
const BATCH: usize = 50;

pub struct Mailer {
    pub store: Store,
    pub core: Core,
    pub clock: Clock,
    pub smtp: SmtpSettings,
    pub queued: Arc<Notify>,
    /// Links of queued mail held in memory (shared with the core and the outbox page).
    pub vault: MailVault,
    /// Base of renewed links.
    pub public_url: String,
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
        let (store, now) = (self.store.clone(), self.clock.now());
        let unsent = match tokio::task::spawn_blocking(move || unsent_with_links(&store, now)).await {
            Ok(Ok(unsent)) => unsent,
            Ok(Err(err)) => return tracing::error!(error = %err, "cannot read the outbox"),
            Err(err) => return tracing::error!(error = %err, "cannot read the outbox"),
        };
        for (mut mail, record) in unsent {
            let Some(shown) = self.link_of(&mut mail, record.as_ref()).await else {
                continue;
            };
            let Some(transport) = transport else {
                if reported.insert(mail.id) {
                    tracing::info!(to = %mail.to, subject = %mail.subject, "no SMTP server configured (smtp.url): the mail is kept in the outbox, where administrators can read it");
                }
                continue;
            };
            if !due(&mail, self.clock.now()) {
                continue;
            }
            let error = self.send(transport, &mail, shown.as_ref()).await.err();
            if let Some(error) = &error {
                tracing::warn!(to = %mail.to, error = %error, "mail not sent; will retry");
            }
            let sent = error.is_none();
            let attempted = MailAttempted { id: mail.id, error, at: self.clock.now() };
            match self.core.call(attempted).await {
                Ok(()) if sent => {
                    if let Some(link) = &mail.link {
                        self.vault.forget(&link.hash);
                    }
                }
                Ok(()) => {}
                Err(err) => tracing::error!(error = %err, "cannot record a mail attempt"),
            }
        }
    }

    /// What the mail shows where its link goes (`Some(None)`: it has none). A link held in memory
    /// and lost at a restart is renewed first; `None` when that could not be done yet.
    async fn link_of(&self, mail: &mut Mail, record: Option<&Link>) -> Option<Option<Shown>> {
        let Some(link) = mail.link.as_mut() else {
            return Some(None);
        };
        let now = self.clock.now();
        match link.judge(record, self.vault.get(&link.hash).as_deref(), now) {
            Shown::Removed(Removal::Lost) => {}
            shown => return Some(Some(shown)),
        }
        let fresh = fresh_link(link.kind, &self.public_url);
        let (hash, url) = (fresh.hash, fresh.url.clone());
        match self.core.call(RenewMailLink { id: mail.id, link: fresh, at: now }).await {
            Ok(true) => {
                tracing::info!(to = %mail.to, "a link lost at a restart was replaced by a new one");
                link.hash = hash;
                Some(Some(Shown::Live(url)))
            }
            // Sent, used or replaced meanwhile: the next sweep reads it as it is now.
            Ok(false) => None,
            Err(err) => {
                tracing::error!(error = %err, "cannot renew a mail's link");
                None
            }
        }
    }

    async fn send(
        &self,
        transport: &AsyncSmtpTransport<Tokio1Executor>,
        mail: &Mail,
        shown: Option<&Shown>,
    ) -> Result<(), String> {
        let message = Message::builder()
            .from(self.smtp.from.parse().map_err(|err| format!("smtp.from: {err}"))?)
            .to(mail.to.parse().map_err(|err| format!("recipient {}: {err}", mail.to))?)
            .subject(mail.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(mail.text(shown))
            .map_err(|err| err.to_string())?;
        transport.send(message).await.map(|_| ()).map_err(|err| err.to_string())
    }
}

/// The unsent mails to try now: those due, oldest first, at most `BATCH`.
fn pick_due(unsent: Vec<Mail>, now: u64) -> Vec<Mail> {
    unsent.into_iter().filter(|mail| due(mail, now)).take(BATCH).collect()
}

/// Mails not sent yet whose retry is due, oldest first (at most `BATCH`), each with the stored
/// link it carries. Only due ones count toward the batch: 50 mails failing for good must not
/// keep newer invites and resets from ever being read.
fn unsent_with_links(store: &Store, now: u64) -> Result<Vec<(Mail, Option<Link>)>, StoreError> {
    let read = store.read()?;
    let mut unsent = Vec::new();
    for mail in pick_due(read.unsent_mails(usize::MAX)?, now) {
        let record = mail.link.as_ref().map(|link| read.link(link.hash)).transpose()?.flatten();
        unsent.push((mail, record));
    }
    Ok(unsent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_failing_for_good_does_not_keep_newer_mail_from_being_tried() {
        let mail = |id: u64, last_attempt_at: Option<u64>| Mail {
            id,
            to: format!("u{id}@example.com"),
            subject: String::new(),
            body: String::new(),
            created_at: id,
            sent_at: None,
            attempts: u32::from(last_attempt_at.is_some()) * 6,
            last_error: None,
            last_attempt_at,
            link: None,
        };
        let now = 10_000_000;
        let mut unsent: Vec<Mail> = (1..=60).map(|id| mail(id, Some(now - 1000))).collect();
        unsent.push(mail(61, None));
        let picked = pick_due(unsent, now);
        assert_eq!(picked.iter().map(|m| m.id).collect::<Vec<_>>(), vec![61], "the new invite is tried");
    }

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
            link: None,
        };
        assert!(due(&mail, 0));
        mail.attempts = 1;
        mail.last_attempt_at = Some(0);
        assert!(!due(&mail, 119_999) && due(&mail, 120_000));
        mail.attempts = 30;
        assert!(!due(&mail, 3_599_999) && due(&mail, 3_600_000));
    }
}
