//! Commands on channels (where customers write from) and contacts (who they are).

use redb::WriteTransaction;

use super::records::audit;
use super::{ApplyError, Command, Event, Rejection, Runtime};
use crate::domain::account::clean_name;
use crate::domain::audit::Actor;
use crate::domain::conversation::{Channel, ChannelKind, Contact, ContactPatch};
use crate::domain::ids::{ChannelId, ContactId, GroupId};
use crate::store::tables::{CHANNEL_ID_TO_CHANNEL, CONTACT_ID_TO_CONTACT};

pub struct CreateChannel {
    pub kind: ChannelKind,
    pub mode: crate::domain::routing::AssignMode,
    pub name: String,
    pub group: Option<GroupId>,
    pub public_key: String,
    pub token_hash: Option<[u8; 32]>,
    pub webhook_url: Option<String>,
    pub webhook_secret: String,
    pub actor: Actor,
    pub at: u64,
}

impl Command<Runtime, Event> for CreateChannel {
    type Output = Channel;

    fn apply(self, _: &mut Runtime, tx: &WriteTransaction, _: &mut Vec<Event>) -> Result<Channel, ApplyError> {
        let name = clean_name("name", &self.name).map_err(Rejection::from)?;
        if let Some(group) = self.group {
            super::groups::check_group_exists(tx, group)?;
        }
        if let Some(url) = &self.webhook_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            let mut rejection = Rejection::from(crate::domain::account::Invalid::new(
                "webhook_url",
                "must be an http:// or https:// address",
            ));
            rejection.field = Some("webhook_url");
            return Err(rejection.into());
        }
        let mut table = tx.open_table(CHANNEL_ID_TO_CHANNEL.definition())?;
        let id = ChannelId(CHANNEL_ID_TO_CHANNEL.next_key(&table)?);
        let channel = Channel {
            id,
            kind: self.kind,
            name,
            group: self.group,
            mode: self.mode,
            public_key: self.public_key,
            token_hash: self.token_hash,
            webhook_url: self.webhook_url,
            webhook_secret: self.webhook_secret,
            created_at: self.at,
        };
        CHANNEL_ID_TO_CHANNEL.insert(&mut table, id.0, &channel)?;
        drop(table);
        audit(tx, &self.actor, "channel.create", format!("channel:{id}"), channel.name.clone(), self.at)?;
        Ok(channel)
    }
}

pub struct UpdateContact {
    pub id: ContactId,
    pub patch: ContactPatch,
    pub actor: Actor,
    pub at: u64,
}

impl Command<Runtime, Event> for UpdateContact {
    type Output = Contact;

    fn apply(self, _: &mut Runtime, tx: &WriteTransaction, _: &mut Vec<Event>) -> Result<Contact, ApplyError> {
        let mut table = tx.open_table(CONTACT_ID_TO_CONTACT.definition())?;
        let contact = CONTACT_ID_TO_CONTACT
            .get(&table, self.id.0)?
            .ok_or_else(|| Rejection::not_found("contact_not_found", "There is no such contact."))?;
        let next = self.patch.apply(&contact).map_err(Rejection::from)?;
        CONTACT_ID_TO_CONTACT.insert(&mut table, self.id.0, &next)?;
        drop(table);
        audit(tx, &self.actor, "contact.update", format!("contact:{}", self.id), String::new(), self.at)?;
        Ok(next)
    }
}

/// A new web-widget visitor (their token's hash is chosen by the caller).
pub struct CreateVisitor {
    pub hash: [u8; 32],
    pub visitor: crate::domain::conversation::Visitor,
}

impl Command<Runtime, Event> for CreateVisitor {
    type Output = ();

    fn apply(self, _: &mut Runtime, tx: &WriteTransaction, _: &mut Vec<Event>) -> Result<(), ApplyError> {
        let mut table = tx.open_table(crate::store::tables::VISITOR_HASH_TO_VISITOR.definition())?;
        crate::store::tables::VISITOR_HASH_TO_VISITOR.insert(&mut table, self.hash, &self.visitor)?;
        Ok(())
    }
}
