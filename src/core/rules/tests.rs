//! Rule actions are decided together in `check`: a refusal, wherever its action stands in the
//! list, leaves nothing of the others written.

use std::sync::Arc;

use crate::core::{ApplyRuleActions, Core, CoreError, CreateChannel, CreateGroup, CustomerMessage, CustomerProfile};
use crate::domain::audit::Actor;
use crate::domain::conversation::{ChannelKind, Conversation, Status};
use crate::domain::routing::{AssignMode, GroupRules};
use crate::metrics::Metrics;
use crate::rules::actions::Action;
use crate::store::Store;

fn boot(store: &Store) -> (Core, std::thread::JoinHandle<()>) {
    Core::spawn(store.clone(), Arc::clone(&Metrics::new().core)).unwrap()
}

/// A customer waiting in the general queue of an API channel, with a group "Ventas" beside it.
async fn waiting_customer(core: &Core) -> Conversation {
    let actor = Actor::system("test");
    let group = CreateGroup { name: "Ventas".into(), members: vec![], rules: GroupRules::default(), actor, at: 1 };
    core.call(group).await.unwrap();
    let channel = CreateChannel {
        kind: ChannelKind::Api,
        mode: AssignMode::Automatic,
        name: "Tienda".into(),
        group: None,
        public_key: "pk".into(),
        token_hash: None,
        webhook_url: None,
        webhook_secret: String::new(),
        actor: Actor::system("test"),
        at: 2,
    };
    let channel = core.call(channel).await.unwrap();
    let message = CustomerMessage {
        channel: channel.id,
        identifier: "c1".into(),
        profile: CustomerProfile::default(),
        text: "hola".into(),
        at: 3,
    };
    core.call(message).await.unwrap().conversation
}

/// A move is the one action routing can refuse (a conversation it does not hold: one a bot
/// keeps). That refusal used to come after the reply and the label before it were written.
#[tokio::test]
async fn a_move_routing_would_refuse_leaves_the_reply_and_label_before_it_unwritten() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(dir.path()).unwrap();
    let (core, thread) = boot(&store);
    let mut conversation = waiting_customer(&core).await;
    drop(core);
    thread.join().unwrap();
    // A bot's conversation: open, and not in routing when the core starts.
    conversation.status = Status::Bot;
    let tx = store.begin_write().unwrap();
    super::super::conversations::save_conversation(&tx, &conversation).unwrap();
    tx.commit().unwrap();
    let (core, _thread) = boot(&store);

    let actions = vec![Action::Reply("Un momento".into()), Action::Label("vip".into()), Action::Group("Ventas".into())];
    let command = ApplyRuleActions { conversation: conversation.id, actions, rule: "triage.rhai".into(), at: 4 };
    let refused = core.call(command).await;
    assert!(
        matches!(&refused, Err(CoreError::Rejected(why)) if why.code == "conversation_not_routable"),
        "{refused:?}"
    );
    let read = store.read().unwrap();
    let messages = read.messages(conversation.id, None, 200).unwrap();
    assert_eq!(messages.len(), 1, "only the customer's message: {messages:?}");
    let stored = read.conversation(conversation.id).unwrap().unwrap();
    assert_eq!((stored.labels.len(), stored.group, stored.last_message_at), (0, None, 3));
}
