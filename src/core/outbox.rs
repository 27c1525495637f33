//! Commands of the mailer: a mail was handed to the SMTP server, or the attempt failed.

use redb::WriteTransaction;

use super::{ApplyError, Command, Event, Rejection, Runtime};
use crate::store::tables::MAIL_ID_TO_MAIL;

pub struct MailAttempted {
    pub id: u64,
    /// `None`: delivered to the SMTP server.
    pub error: Option<String>,
    pub at: u64,
}

impl Command<Runtime, Event> for MailAttempted {
    type Output = ();

    fn apply(self, _: &mut Runtime, tx: &WriteTransaction, _: &mut Vec<Event>) -> Result<(), ApplyError> {
        let mut table = tx.open_table(MAIL_ID_TO_MAIL.definition())?;
        let mut mail = MAIL_ID_TO_MAIL
            .get(&table, self.id)?
            .ok_or_else(|| Rejection::not_found("mail_not_found", "There is no such mail."))?;
        mail.attempts += 1;
        mail.last_attempt_at = Some(self.at);
        match self.error {
            None => mail.sent_at = Some(self.at),
            Some(error) => mail.last_error = Some(error),
        }
        MAIL_ID_TO_MAIL.insert(&mut table, self.id, &mail)?;
        Ok(())
    }
}
