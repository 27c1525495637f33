//! Commands on channels (where customers write from) and contacts (who they are).

use redb::WriteTransaction;

use super::records::audit;
use super::{ApplyError, Command, Event, Read, Rejection, Runtime, Tables, WriteError};
use crate::domain::account::clean_name;
use crate::domain::audit::Actor;
use crate::domain::conversation::{Channel, ChannelKind, Contact, ContactPatch};
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::{ChannelId, ContactId, GroupId};
use crate::store::tables::{CHANNEL_ID_TO_CHANNEL, CONTACT_ID_TO_CONTACT, VISITOR_HASH_TO_VISITOR};

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

/// A channel as it is to be stored, checked, with the audit line's action.
pub struct ChannelPlan {
    channel: Channel,
    action: &'static str,
    actor: Actor,
    at: u64,
}

impl Command<Runtime, Event> for CreateChannel {
    type Output = Channel;
    type Plan = ChannelPlan;

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<ChannelPlan, ApplyError> {
        let name = clean_name("name", &self.name).map_err(Rejection::from)?;
        if let Some(group) = self.group {
            super::records::check_group_exists(read, group)?;
        }
        check_webhook_url(self.webhook_url.as_deref())?;
        let id = ChannelId(CHANNEL_ID_TO_CHANNEL.next_key(&read.table(CHANNEL_ID_TO_CHANNEL.definition())?)?);
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
        Ok(ChannelPlan { channel, action: "channel.create", actor: self.actor, at: self.at })
    }

    fn write(
        plan: ChannelPlan,
        _: &mut Runtime,
        tx: &WriteTransaction,
        _: &mut Vec<Event>,
    ) -> Result<Channel, WriteError> {
        save_channel(tx, plan)
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
    type Plan = ChannelPlan;

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<ChannelPlan, ApplyError> {
        let mut channel = CHANNEL_ID_TO_CHANNEL
            .get(&read.table(CHANNEL_ID_TO_CHANNEL.definition())?, self.id.0)?
            .filter(|channel| channel.disabled_at.is_none())
            .ok_or_else(|| Rejection::not_found(ErrorCode::ChannelNotFound, "There is no such channel."))?;
        if let Some(name) = &self.name {
            channel.name = clean_name("name", name).map_err(Rejection::from)?;
        }
        if let Some(group) = self.group {
            if let Some(group) = group {
                super::records::check_group_exists(read, group)?;
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
        let action = if self.disable { "channel.disable" } else { "channel.update" };
        Ok(ChannelPlan { channel, action, actor: self.actor, at: self.at })
    }

    fn write(
        plan: ChannelPlan,
        _: &mut Runtime,
        tx: &WriteTransaction,
        _: &mut Vec<Event>,
    ) -> Result<Channel, WriteError> {
        save_channel(tx, plan)
    }
}

fn save_channel(tx: &WriteTransaction, plan: ChannelPlan) -> Result<Channel, WriteError> {
    let ChannelPlan { channel, action, actor, at } = plan;
    let mut table = tx.open_table(CHANNEL_ID_TO_CHANNEL.definition())?;
    CHANNEL_ID_TO_CHANNEL.insert(&mut table, channel.id.0, &channel)?;
    drop(table);
    audit(tx, &actor, action, format!("channel:{}", channel.id), channel.name.clone(), at)?;
    Ok(channel)
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

/// The contact as the patch leaves it (checked), and who asked.
pub struct ContactPlan {
    id: ContactId,
    contact: Contact,
    actor: Actor,
    at: u64,
}

impl Command<Runtime, Event> for UpdateContact {
    type Output = Contact;
    type Plan = ContactPlan;

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<ContactPlan, ApplyError> {
        let contact = CONTACT_ID_TO_CONTACT
            .get(&read.table(CONTACT_ID_TO_CONTACT.definition())?, self.id.0)?
            .ok_or_else(|| Rejection::not_found(ErrorCode::ContactNotFound, "There is no such contact."))?;
        let contact = self.patch.apply(&contact).map_err(Rejection::from)?;
        Ok(ContactPlan { id: self.id, contact, actor: self.actor, at: self.at })
    }

    fn write(
        plan: ContactPlan,
        _: &mut Runtime,
        tx: &WriteTransaction,
        _: &mut Vec<Event>,
    ) -> Result<Contact, WriteError> {
        let ContactPlan { id, contact, actor, at } = plan;
        let mut table = tx.open_table(CONTACT_ID_TO_CONTACT.definition())?;
        CONTACT_ID_TO_CONTACT.insert(&mut table, id.0, &contact)?;
        drop(table);
        audit(tx, &actor, "contact.update", format!("contact:{id}"), String::new(), at)?;
        Ok(contact)
    }
}

/// A new web-widget visitor (their token's hash is chosen by the caller).
pub struct CreateVisitor {
    pub hash: [u8; 32],
    pub visitor: crate::domain::conversation::Visitor,
}

impl Command<Runtime, Event> for CreateVisitor {
    type Output = ();
    /// Nothing to check: the visitor as given is stored.
    type Plan = CreateVisitor;

    fn check(self, _: &Runtime, _: &Read<'_>) -> Result<CreateVisitor, ApplyError> {
        Ok(self)
    }

    fn write(
        plan: CreateVisitor,
        _: &mut Runtime,
        tx: &WriteTransaction,
        _: &mut Vec<Event>,
    ) -> Result<(), WriteError> {
        let mut table = tx.open_table(VISITOR_HASH_TO_VISITOR.definition())?;
        VISITOR_HASH_TO_VISITOR.insert(&mut table, plan.hash, &plan.visitor)?;
        Ok(())
    }
}
