//! Commands on channels (where customers write from) and contacts (who they are).

use redb::WriteTransaction;

use super::records::audit;
use super::{ApplyError, Command, Event, Read, Rejection, Runtime, WriteError};
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
    type Plan = Self;

    fn check(self, _: &Runtime, _: &Read<'_>) -> Result<Self, ApplyError> {
        Ok(self) // not split yet: everything happens in `write`
    }

    fn write(
        plan: Self,
        state: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<Self::Output, WriteError> {
        Ok(plan.apply(state, tx, events)?)
    }
}

impl CreateChannel {
    fn apply(self, _: &mut Runtime, tx: &WriteTransaction, _: &mut Vec<Event>) -> Result<Channel, ApplyError> {
        let name = clean_name("name", &self.name).map_err(Rejection::from)?;
        if let Some(group) = self.group {
            super::groups::check_group_exists(tx, group)?;
        }
        check_webhook_url(self.webhook_url.as_deref())?;
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
            disabled_at: None,
        };
        CHANNEL_ID_TO_CHANNEL.insert(&mut table, id.0, &channel)?;
        drop(table);
        audit(tx, &self.actor, "channel.create", format!("channel:{id}"), channel.name.clone(), self.at)?;
        Ok(channel)
    }
}

/// A change to a channel: names and routing, new secrets, or switching it off.
pub struct UpdateChannel {
    pub id: ChannelId,
    pub name: Option<String>,
    pub group: Option<Option<GroupId>>,
    pub mode: Option<crate::domain::routing::AssignMode>,
    pub webhook_url: Option<Option<String>>,
    /// New token hash (API channels) and webhook secret, when rotating.
    pub rotate: Option<(Option<[u8; 32]>, String)>,
    pub disable: bool,
    pub actor: Actor,
    pub at: u64,
}

impl Command<Runtime, Event> for UpdateChannel {
    type Output = Channel;
    type Plan = Self;

    fn check(self, _: &Runtime, _: &Read<'_>) -> Result<Self, ApplyError> {
        Ok(self) // not split yet: everything happens in `write`
    }

    fn write(
        plan: Self,
        state: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<Self::Output, WriteError> {
        Ok(plan.apply(state, tx, events)?)
    }
}

impl UpdateChannel {
    fn apply(self, _: &mut Runtime, tx: &WriteTransaction, _: &mut Vec<Event>) -> Result<Channel, ApplyError> {
        let mut table = tx.open_table(CHANNEL_ID_TO_CHANNEL.definition())?;
        let mut channel = CHANNEL_ID_TO_CHANNEL
            .get(&table, self.id.0)?
            .filter(|channel| channel.disabled_at.is_none())
            .ok_or_else(|| Rejection::not_found("channel_not_found", "There is no such channel."))?;
        if let Some(name) = &self.name {
            channel.name = clean_name("name", name).map_err(Rejection::from)?;
        }
        if let Some(group) = self.group {
            if let Some(group) = group {
                super::groups::check_group_exists(tx, group)?;
            }
            channel.group = group;
        }
        if let Some(mode) = self.mode {
            channel.mode = mode;
        }
        if let Some(url) = self.webhook_url {
            check_webhook_url(url.as_deref())?;
            channel.webhook_url = url;
        }
        if let Some((token_hash, secret)) = self.rotate {
            if channel.kind == ChannelKind::Api {
                channel.token_hash = token_hash;
            }
            channel.webhook_secret = secret;
        }
        if self.disable {
            channel.disabled_at = Some(self.at);
        }
        CHANNEL_ID_TO_CHANNEL.insert(&mut table, self.id.0, &channel)?;
        drop(table);
        let action = if self.disable { "channel.disable" } else { "channel.update" };
        audit(tx, &self.actor, action, format!("channel:{}", self.id), channel.name.clone(), self.at)?;
        Ok(channel)
    }
}

/// A webhook address must be http(s) with a host.
fn check_webhook_url(url: Option<&str>) -> Result<(), ApplyError> {
    let Some(url) = url else {
        return Ok(());
    };
    let host = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")).unwrap_or("");
    if host.is_empty() || host.starts_with('/') || url.chars().any(char::is_whitespace) {
        let invalid =
            crate::domain::account::Invalid::new("webhook_url", "must be an http:// or https:// address with a host");
        return Err(Rejection::from(invalid).into());
    }
    Ok(())
}

pub struct UpdateContact {
    pub id: ContactId,
    pub patch: ContactPatch,
    pub actor: Actor,
    pub at: u64,
}

impl Command<Runtime, Event> for UpdateContact {
    type Output = Contact;
    type Plan = Self;

    fn check(self, _: &Runtime, _: &Read<'_>) -> Result<Self, ApplyError> {
        Ok(self) // not split yet: everything happens in `write`
    }

    fn write(
        plan: Self,
        state: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<Self::Output, WriteError> {
        Ok(plan.apply(state, tx, events)?)
    }
}

impl UpdateContact {
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
    type Plan = Self;

    fn check(self, _: &Runtime, _: &Read<'_>) -> Result<Self, ApplyError> {
        Ok(self) // not split yet: everything happens in `write`
    }

    fn write(
        plan: Self,
        state: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<Self::Output, WriteError> {
        Ok(plan.apply(state, tx, events)?)
    }
}

impl CreateVisitor {
    fn apply(self, _: &mut Runtime, tx: &WriteTransaction, _: &mut Vec<Event>) -> Result<(), ApplyError> {
        let mut table = tx.open_table(crate::store::tables::VISITOR_HASH_TO_VISITOR.definition())?;
        crate::store::tables::VISITOR_HASH_TO_VISITOR.insert(&mut table, self.hash, &self.visitor)?;
        Ok(())
    }
}
