//! The refusals that used to come after a command's first write (committed with the rest of the
//! batch as half a change): each now comes from `check`, and leaves the store and routing as they
//! were. Each command runs here as the writer runs it, `check` then `write`, on one transaction.

use redb::{ReadableTableMetadata, WriteTransaction};

use super::*;
use crate::core::Read;
use crate::domain::conversation::{ChannelKind, Contact};
use crate::domain::ids::ContactId;
use crate::domain::routing::{AssignMode, Routing, Ticket};
use crate::store::Store;
use crate::store::tables::MESSAGE_KEY_TO_MESSAGE;
use crate::store::tables::{
    CONTACT_CHANNEL_TO_CONVERSATION, CONTACT_ID_TO_CONTACT, DELIVERY_ID_TO_DELIVERY, IDENTITY_TO_CONTACT_ID,
};

/// The writer's two steps for one command; a refusal met while writing comes back as one too.
fn run<C: Command<Runtime, Event>>(
    command: C,
    state: &mut Runtime,
    tx: &WriteTransaction,
) -> Result<C::Output, String> {
    let refused = |err: ApplyError| match err {
        ApplyError::Rejected(why) => why.code.as_str().to_owned(),
        other => format!("not a refusal: {other}"),
    };
    let plan = command.check(state, &Read::new(tx)).map_err(refused)?;
    C::write(plan, state, tx, &mut Vec::new()).map_err(|err| refused(err.into()))
}

/// How many rows each table a customer's or an agent's message writes to holds.
fn rows(tx: &WriteTransaction) -> Vec<(&'static str, u64)> {
    let len = |name, count: Result<u64, redb::StorageError>| (name, count.unwrap());
    vec![
        len("contacts", tx.open_table(CONTACT_ID_TO_CONTACT.definition()).unwrap().len()),
        len("identities", tx.open_table(IDENTITY_TO_CONTACT_ID).unwrap().len()),
        len("latest", tx.open_table(CONTACT_CHANNEL_TO_CONVERSATION).unwrap().len()),
        len("conversations", tx.open_table(CONVERSATION_ID_TO_CONVERSATION.definition()).unwrap().len()),
        len("open", tx.open_table(OPEN_CONVERSATION_IDS).unwrap().len()),
        len("messages", tx.open_table(MESSAGE_KEY_TO_MESSAGE.definition()).unwrap().len()),
        len("deliveries", tx.open_table(DELIVERY_ID_TO_DELIVERY.definition()).unwrap().len()),
    ]
}

fn api_channel(tx: &WriteTransaction) {
    let channel = Channel {
        id: ChannelId(1),
        kind: ChannelKind::Api,
        name: "Tienda".into(),
        group: None,
        mode: AssignMode::Automatic,
        public_key: String::new(),
        token_hash: None,
        webhook_url: Some("https://example.com/hook".into()),
        webhook_secret: String::new(),
        created_at: 0,
        disabled_at: None,
    };
    CHANNEL_ID_TO_CHANNEL.insert(&mut tx.open_table(CHANNEL_ID_TO_CHANNEL.definition()).unwrap(), 1, &channel).unwrap();
}

fn customer(text: &str) -> CustomerMessage {
    let profile = CustomerProfile { name: Some("Carla".into()), ..CustomerProfile::default() };
    CustomerMessage { channel: ChannelId(1), identifier: "c1".into(), profile, text: text.into(), at: 10 }
}

fn start() -> (tempfile::TempDir, Store, Runtime) {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(dir.path()).unwrap();
    let runtime = Runtime { routing: Routing::new(6), ..Runtime::default() };
    (dir, store, runtime)
}

/// Routing already holds the id the new conversation would get (a broken invariant): once the
/// contact, the conversation and the message were written before routing refused.
#[test]
fn a_customer_message_routing_refuses_writes_no_contact_and_no_conversation() {
    let (_dir, store, mut runtime) = start();
    let ticket = Ticket { queue: None, enqueued_at: 1, contact: ContactId(9), mode: AssignMode::Automatic };
    runtime.routing.restore(ConversationId(1), None, ticket, 0);
    let tx = store.begin_write().unwrap();
    api_channel(&tx);
    let before = rows(&tx);
    assert_eq!(run(customer("hola"), &mut runtime, &tx).unwrap_err(), "conversation_not_routable");
    assert_eq!(rows(&tx), before, "nothing written");
    assert_eq!(runtime.routing.waiting_count(), 1, "routing as it was");
    tx.commit().unwrap();
    let read = store.read().unwrap();
    assert_eq!(read.contact_by_identity(ChannelId(1), "c1").unwrap(), None);
    assert_eq!(read.conversation_count().unwrap(), 0);
}

/// The contact's latest conversation on the channel is not on record (a broken index): once
/// the contact was saved (with the name she gave) before the lookup refused.
#[test]
fn a_customer_message_whose_latest_conversation_is_missing_changes_no_contact() {
    let (_dir, store, mut runtime) = start();
    let tx = store.begin_write().unwrap();
    api_channel(&tx);
    let identity = crate::domain::conversation::Identity { channel: ChannelId(1), identifier: "c1".into() };
    let contact = Contact { id: ContactId(1), identities: vec![identity], ..Contact::default() };
    CONTACT_ID_TO_CONTACT.insert(&mut tx.open_table(CONTACT_ID_TO_CONTACT.definition()).unwrap(), 1, &contact).unwrap();
    tx.open_table(IDENTITY_TO_CONTACT_ID).unwrap().insert((1, "c1"), 1).unwrap();
    tx.open_table(CONTACT_CHANNEL_TO_CONVERSATION).unwrap().insert((1, 1), 7).unwrap();
    let before = rows(&tx);
    assert_eq!(run(customer("hola"), &mut runtime, &tx).unwrap_err(), "conversation_not_found");
    assert_eq!(rows(&tx), before);
    let contacts = tx.open_table(CONTACT_ID_TO_CONTACT.definition()).unwrap();
    assert_eq!(CONTACT_ID_TO_CONTACT.get(&contacts, 1).unwrap(), Some(contact), "her name is not filled in");
}

/// A conversation of the API channel, held by agent 2 in routing, on channel `channel`.
fn held_conversation(tx: &WriteTransaction, runtime: &mut Runtime, channel: u64) -> Conversation {
    let conversation: Conversation = serde_json::from_value(serde_json::json!({
        "id": 1, "contact": 1, "channel": channel, "group": null, "status": "assigned", "assignee": 2,
        "created_at": 0, "enqueued_at": 0, "assigned_at": 0, "finalized_at": null, "last_message_at": 0,
    }))
    .unwrap();
    save_conversation(tx, &conversation).unwrap();
    runtime.routing.upsert_agent(UserId(2), Default::default(), 0);
    runtime.routing.restore(conversation.id, Some(UserId(2)), crate::core::runtime::ticket(&conversation), 0);
    conversation
}

const ANA: Staff = Staff { user: UserId(2), oversees: false };

/// The conversation's channel is not on record (a broken invariant): once the reply was stored
/// before the webhook's lookup of the channel refused.
#[test]
fn a_reply_whose_channel_is_missing_is_refused_before_it_is_stored() {
    let (_dir, store, mut runtime) = start();
    let tx = store.begin_write().unwrap();
    held_conversation(&tx, &mut runtime, 9);
    let before = rows(&tx);
    let reply = AgentMessage { conversation: ConversationId(1), by: ANA, text: "hola".into(), private: false, at: 5 };
    assert_eq!(run(reply, &mut runtime, &tx).unwrap_err(), "channel_not_found");
    assert_eq!(rows(&tx), before);
    // A note never goes to a webhook: it does not need the channel, as before.
    let note = AgentMessage { conversation: ConversationId(1), by: ANA, text: "nota".into(), private: true, at: 6 };
    assert!(run(note, &mut runtime, &tx).is_ok());
}

/// As above for finalizing: once the activity line was stored and routing let the conversation
/// go before the refusal.
#[test]
fn finalizing_where_the_channel_is_missing_is_refused_before_anything_changes() {
    let (_dir, store, mut runtime) = start();
    let tx = store.begin_write().unwrap();
    let conversation = held_conversation(&tx, &mut runtime, 9);
    let before = rows(&tx);
    let finalize = Finalize { conversation: conversation.id, reason: None, by: ANA, at: 5 };
    assert_eq!(run(finalize, &mut runtime, &tx).unwrap_err(), "channel_not_found");
    assert_eq!(rows(&tx), before);
    assert_eq!(runtime.routing.assignee(conversation.id), Some(UserId(2)), "still hers in routing");
}

/// The split commands do what they did: a reply and a finalization on an API channel each leave a
/// delivery for its webhook, with the agent's name and the reason.
#[test]
fn a_reply_and_a_finalization_each_leave_a_webhook_delivery() {
    let (_dir, store, mut runtime) = start();
    let tx = store.begin_write().unwrap();
    api_channel(&tx);
    let conversation = held_conversation(&tx, &mut runtime, 1);
    let reply = AgentMessage { conversation: conversation.id, by: ANA, text: "hola".into(), private: false, at: 5 };
    run(reply, &mut runtime, &tx).unwrap();
    let finalize = Finalize { conversation: conversation.id, reason: Some("resuelto".into()), by: ANA, at: 6 };
    let closed = run(finalize, &mut runtime, &tx).unwrap();
    assert_eq!(closed.status, Status::Finalized);
    assert_eq!(runtime.routing.assignee(conversation.id), None, "released");
    let table = tx.open_table(DELIVERY_ID_TO_DELIVERY.definition()).unwrap();
    let bodies: Vec<serde_json::Value> = DELIVERY_ID_TO_DELIVERY
        .all(&table)
        .unwrap()
        .into_iter()
        .map(|(_, delivery)| serde_json::from_str(&delivery.body).unwrap())
        .collect();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[0]["event"], "message.created");
    assert_eq!(bodies[0]["message"]["text"], "hola");
    assert_eq!(bodies[0]["message"]["agent_name"], serde_json::Value::Null, "Ana is not on record here");
    assert_eq!(bodies[1]["event"], "conversation.finalized");
    assert_eq!(bodies[1]["reason"], "resuelto");
}
