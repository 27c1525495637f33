//! Batching of the single writer, exercised with small commands of its own over a real redb file;
//! and the order in which real commands publish their events.

use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use redb::{ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction};

use super::writer::{Read, Tables, WriteError};
use super::*;
use crate::domain::error_code::ErrorCode;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

const KV: TableDefinition<u64, u64> = TableDefinition::new("test_kv");

#[derive(Default)]
struct Counter {
    applied: u64,
}

impl<E> State<E> for Counter {
    fn load(store: &Store) -> Result<Self, StoreError> {
        let tx = store.begin_read_raw()?;
        let applied = match tx.open_table(KV) {
            Ok(table) => table.len()?,
            Err(redb::TableError::TableDoesNotExist(_)) => 0,
            Err(err) => return Err(redb::Error::from(err).into()),
        };
        Ok(Counter { applied })
    }
}

/// Writes `key = value`; a value of 0, or a key already written, is refused by `check`.
struct Put {
    key: u64,
    value: u64,
}

impl Command<Counter, u64> for Put {
    type Output = u64;
    type Plan = Self;

    fn check(self, _: &Counter, read: &Read<'_>) -> Result<Self, ApplyError> {
        if self.value == 0 {
            return Err(Rejection::new(RejectKind::Invalid, ErrorCode::InvalidInput, "zero").into());
        }
        if read.table(KV)?.get(self.key)?.is_some() {
            return Err(Rejection::conflict(ErrorCode::EmailTaken, "taken").into());
        }
        Ok(self)
    }

    fn write(plan: Self, state: &mut Counter, tx: &WriteTransaction, events: &mut Vec<u64>) -> Result<u64, WriteError> {
        tx.open_table(KV)?.insert(plan.key, plan.value)?;
        state.applied += 1;
        events.push(plan.key);
        Ok(state.applied)
    }
}

/// Holds the writer until told to go, so that commands pile up behind it.
struct Gate {
    entered: std_mpsc::Sender<()>,
    release: std_mpsc::Receiver<()>,
}

impl Command<Counter, u64> for Gate {
    type Output = ();
    type Plan = Self;

    fn check(self, _: &Counter, _: &Read<'_>) -> Result<Self, ApplyError> {
        Ok(self)
    }

    fn write(plan: Self, _: &mut Counter, _: &WriteTransaction, _: &mut Vec<u64>) -> Result<(), WriteError> {
        let _ = plan.entered.send(());
        let _ = plan.release.recv_timeout(Duration::from_secs(10));
        Ok(())
    }
}

/// Writes, then fails as if the disk had: the whole batch must be dropped.
struct WriteThenFail {
    key: u64,
}

impl Command<Counter, u64> for WriteThenFail {
    type Output = ();
    type Plan = Self;

    fn check(self, _: &Counter, _: &Read<'_>) -> Result<Self, ApplyError> {
        Ok(self)
    }

    fn write(plan: Self, _: &mut Counter, tx: &WriteTransaction, _: &mut Vec<u64>) -> Result<(), WriteError> {
        tx.open_table(KV)?.insert(plan.key, 1)?;
        Err(StoreError::Decode { table: "test_kv", message: "simulated".into() }.into())
    }
}

/// Writes, then panics, as a bug in a command would.
struct WriteThenPanic {
    key: u64,
}

impl Command<Counter, u64> for WriteThenPanic {
    type Output = ();
    type Plan = Self;

    fn check(self, _: &Counter, _: &Read<'_>) -> Result<Self, ApplyError> {
        Ok(self)
    }

    fn write(plan: Self, state: &mut Counter, tx: &WriteTransaction, _: &mut Vec<u64>) -> Result<(), WriteError> {
        tx.open_table(KV)?.insert(plan.key, 1)?;
        state.applied += 100;
        panic!("injected panic");
    }
}

/// Panics while checking: nothing was written, so the rest of the batch commits.
struct CheckPanics;

impl Command<Counter, u64> for CheckPanics {
    type Output = ();
    type Plan = ();

    fn check(self, _: &Counter, _: &Read<'_>) -> Result<(), ApplyError> {
        panic!("injected panic while checking");
    }

    fn write(_: (), _: &mut Counter, _: &WriteTransaction, _: &mut Vec<u64>) -> Result<(), WriteError> {
        Ok(())
    }
}

fn start() -> (tempfile::TempDir, Store, Writer<Counter, u64>, Arc<Metrics>) {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(dir.path()).unwrap();
    let metrics = Arc::new(Metrics::new());
    let (writer, _thread) = Writer::spawn(store.clone(), Arc::clone(&metrics.core)).unwrap();
    (dir, store, writer, metrics)
}

fn stored(store: &Store, key: u64) -> Option<u64> {
    let tx = store.begin_read_raw().unwrap();
    let table = tx.open_table(KV).ok()?;
    table.get(key).unwrap().map(|v| v.value())
}

/// Blocks the writer with a gate; returns the handle to let it go once the gate is inside.
async fn hold(writer: &Writer<Counter, u64>) -> (std_mpsc::Sender<()>, tokio::task::JoinHandle<()>) {
    let (entered_tx, entered_rx) = std_mpsc::channel();
    let (release_tx, release_rx) = std_mpsc::channel();
    let gate_writer = writer.clone();
    let gate = tokio::spawn(async move {
        gate_writer.call(Gate { entered: entered_tx, release: release_rx }).await.unwrap();
    });
    tokio::task::spawn_blocking(move || entered_rx.recv_timeout(Duration::from_secs(10)).unwrap()).await.unwrap();
    (release_tx, gate)
}

async fn wait_queued(writer: &Writer<Counter, u64>, count: usize) {
    for _ in 0..1000 {
        if writer.queued() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("commands never reached the queue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_commands_share_few_commits() {
    let (_dir, store, writer, metrics) = start();
    let (release, gate) = hold(&writer).await;
    let calls: Vec<_> = (1..=200)
        .map(|key| {
            let writer = writer.clone();
            tokio::spawn(async move { writer.call(Put { key, value: key * 10 }).await })
        })
        .collect();
    wait_queued(&writer, 200).await;
    release.send(()).unwrap();
    gate.await.unwrap();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    // One commit for the gate, one for the 200 that waited behind it.
    assert_eq!(metrics.core.commits.get(), 2);
    assert_eq!(metrics.core.commands.get(), 201);
    for key in 1..=200 {
        assert_eq!(stored(&store, key), Some(key * 10));
    }
}

/// Sends one command to the writer in a task of its own.
type Sender = Box<dyn FnOnce(Writer<Counter, u64>) -> tokio::task::JoinHandle<()> + Send>;

/// Runs `commands` as one batch (queued behind a gate) on a fresh database; returns its bytes.
async fn batch_file(commands: Vec<Sender>) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(dir.path()).unwrap();
    let (writer, thread) = Writer::spawn(store.clone(), Arc::clone(&Metrics::new().core)).unwrap();
    let (release, gate) = hold(&writer).await;
    // One at a time into the queue, so the batch holds them in this order.
    let mut calls = Vec::new();
    for (at, command) in commands.into_iter().enumerate() {
        calls.push(command(writer.clone()));
        wait_queued(&writer, at + 1).await;
    }
    release.send(()).unwrap();
    gate.await.unwrap();
    for call in calls {
        call.await.unwrap();
    }
    // The file is read once closed: the writer thread holds the store to its end.
    drop((writer, store));
    tokio::task::spawn_blocking(move || thread.join().unwrap()).await.unwrap();
    std::fs::read(dir.path().join("centralita.redb")).unwrap()
}

fn put(key: u64, value: u64) -> Sender {
    Box::new(move |writer| {
        tokio::spawn(async move {
            let _ = writer.call(Put { key, value }).await;
        })
    })
}

/// The contract as a type (issue 14, point 1): a refused command, or one that panics while
/// checking, leaves the database byte for byte as the other commands of its batch alone would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_command_leaves_the_file_as_the_rest_of_its_batch_alone_would() {
    let panics: Sender = Box::new(|writer| {
        tokio::spawn(async move {
            let _ = writer.call(CheckPanics).await;
        })
    });
    let with = batch_file(vec![put(1, 11), put(1, 12), put(2, 0), panics, put(3, 33)]).await;
    let without = batch_file(vec![put(1, 11), put(3, 33)]).await;
    assert!(with == without, "the files differ ({} and {} bytes)", with.len(), without.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_command_does_not_fail_its_batch() {
    let (_dir, store, writer, metrics) = start();
    let mut events = writer.subscribe();
    let (release, gate) = hold(&writer).await;
    let good_a = tokio::spawn({
        let writer = writer.clone();
        async move { writer.call(Put { key: 1, value: 11 }).await }
    });
    wait_queued(&writer, 1).await;
    let bad = tokio::spawn({
        let writer = writer.clone();
        async move { writer.call(Put { key: 2, value: 0 }).await }
    });
    wait_queued(&writer, 2).await;
    let good_b = tokio::spawn({
        let writer = writer.clone();
        async move { writer.call(Put { key: 3, value: 33 }).await }
    });
    wait_queued(&writer, 3).await;
    release.send(()).unwrap();
    gate.await.unwrap();
    assert_eq!(good_a.await.unwrap().unwrap(), 1);
    assert!(matches!(bad.await.unwrap(), Err(CoreError::Rejected(Rejection { kind: RejectKind::Invalid, .. }))));
    assert_eq!(good_b.await.unwrap().unwrap(), 2);
    assert_eq!(metrics.core.commits.get(), 2, "the three shared one commit");
    assert_eq!((stored(&store, 1), stored(&store, 2), stored(&store, 3)), (Some(11), None, Some(33)));
    // Events come out in commit order, none for the rejected command.
    assert_eq!(events.recv().await.unwrap(), 1);
    assert_eq!(events.recv().await.unwrap(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storage_failure_drops_the_whole_batch_and_later_batches_work() {
    let (_dir, store, writer, metrics) = start();
    let (release, gate) = hold(&writer).await;
    let good = tokio::spawn({
        let writer = writer.clone();
        async move { writer.call(Put { key: 1, value: 11 }).await }
    });
    wait_queued(&writer, 1).await;
    let failing = tokio::spawn({
        let writer = writer.clone();
        async move { writer.call(WriteThenFail { key: 2 }).await }
    });
    wait_queued(&writer, 2).await;
    release.send(()).unwrap();
    gate.await.unwrap();
    assert!(matches!(good.await.unwrap(), Err(CoreError::Storage(_))), "its batch was not saved");
    assert!(matches!(failing.await.unwrap(), Err(CoreError::Storage(_))));
    assert_eq!((stored(&store, 1), stored(&store, 2)), (None, None));
    assert_eq!(metrics.core.commits.get(), 1, "only the gate's batch committed");
    // The state was reloaded from disk, so the count restarts from what is stored.
    assert_eq!(writer.call(Put { key: 4, value: 44 }).await.unwrap(), 1);
    assert_eq!(stored(&store, 4), Some(44));
}

/// A panic in a command (issue 14, point 5) costs its batch, not the writer: every caller is
/// answered, nothing of the batch is saved, the state is reloaded and the writer goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_command_fails_its_batch_and_the_writer_goes_on() {
    let (_dir, store, writer, metrics) = start();
    let (release, gate) = hold(&writer).await;
    let good = tokio::spawn({
        let writer = writer.clone();
        async move { writer.call(Put { key: 1, value: 11 }).await }
    });
    wait_queued(&writer, 1).await;
    let panicking = tokio::spawn({
        let writer = writer.clone();
        async move { writer.call(WriteThenPanic { key: 2 }).await }
    });
    wait_queued(&writer, 2).await;
    release.send(()).unwrap();
    gate.await.unwrap();
    assert!(matches!(good.await.unwrap(), Err(CoreError::Storage(_))), "answered: its batch was dropped");
    assert!(matches!(panicking.await.unwrap(), Err(CoreError::Panicked(message)) if message.contains("injected")));
    assert_eq!((stored(&store, 1), stored(&store, 2)), (None, None));
    assert_eq!(metrics.core.commits.get(), 1, "only the gate's batch committed");
    tokio::time::timeout(Duration::from_secs(1), writer.probe()).await.unwrap().unwrap();
    assert_eq!(writer.call(Put { key: 4, value: 44 }).await.unwrap(), 1, "the half-changed state was reloaded");
}

#[tokio::test]
async fn the_boot_journal_tells_a_crash_from_a_clean_stop() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::new());
    let boot = |store: Store| Core::spawn(store, Arc::clone(&metrics.core)).unwrap().0;
    let (store, _) = Store::open(dir.path()).unwrap();
    let core = boot(store.clone());
    let first = core.call(RecordStart { version: "1".into(), at: 100 }).await.unwrap();
    assert_eq!(first, StartReport { seq: 1, previous: None });
    // No RecordStop: as after a crash.
    let second = core.call(RecordStart { version: "1".into(), at: 200 }).await.unwrap();
    assert_eq!(second.seq, 2);
    assert_eq!(second.previous.unwrap().stopped_at, None);
    core.call(RecordStop { seq: 2, at: 250 }).await.unwrap();
    let third = core.call(RecordStart { version: "2".into(), at: 300 }).await.unwrap();
    assert_eq!(third.previous.unwrap().stopped_at, Some(250));
    let missing = core.call(RecordStop { seq: 99, at: 1 }).await;
    assert!(matches!(missing, Err(CoreError::Rejected(Rejection { kind: RejectKind::NotFound, .. }))));
    assert_eq!(store.read().unwrap().boots().unwrap().len(), 3);
}

/// A group change is told to sockets before what it causes: a member removed (or added) is
/// re-judged before the assignments the change makes reach anyone.
#[tokio::test]
async fn a_group_change_is_published_before_the_assignments_it_causes() {
    use crate::domain::audit::Actor;
    use crate::domain::conversation::ChannelKind;
    use crate::domain::routing::{AssignMode, GroupRules};

    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::new());
    let (store, _) = Store::open(dir.path()).unwrap();
    let (core, _thread) = Core::spawn(store, Arc::clone(&metrics.core)).unwrap();
    let actor = Actor::system("test");
    let new = agent_ana();
    let ana =
        core.call(CreateUser { new, invite: None, password_hash: None, actor: actor.clone(), at: 1 }).await.unwrap();
    core.call(SetPresence { agent: ana.id, online: true, at: 2 }).await.unwrap();
    core.call(SetAvailability { agent: ana.id, available: true, at: 3 }).await.unwrap();
    let create = CreateGroup {
        name: "Ventas".into(),
        members: vec![],
        rules: GroupRules::default(),
        actor: actor.clone(),
        at: 4,
    };
    let ventas = core.call(create).await.unwrap();
    let channel = CreateChannel {
        kind: ChannelKind::Api,
        mode: AssignMode::Automatic,
        name: "Tienda".into(),
        group: Some(ventas.id),
        public_key: "pk".into(),
        token_hash: None,
        webhook_url: None,
        webhook_secret: String::new(),
        actor: actor.clone(),
        at: 5,
    };
    let channel = core.call(channel).await.unwrap();
    let message = CustomerMessage {
        channel: channel.id,
        identifier: "c1".into(),
        profile: CustomerProfile::default(),
        text: "hola".into(),
        at: 6,
    };
    let waiting = core.call(message).await.unwrap().conversation;
    assert_eq!(waiting.assignee, None, "nobody serves Ventas yet");

    let mut events = core.subscribe();
    let update = UpdateGroup { id: ventas.id, name: None, members: Some(vec![ana.id]), rules: None, actor, at: 7 };
    core.call(update).await.unwrap();
    let mut heard = Vec::new();
    while let Ok(event) = events.try_recv() {
        heard.push(event);
    }
    let changed = heard.iter().position(|e| matches!(e, Event::GroupChanged { .. })).expect("GroupChanged");
    let assigned = heard.iter().position(|e| matches!(e, Event::ConversationAssigned { .. })).expect("assigned to Ana");
    assert!(changed < assigned, "the group change first: {heard:?}");
    assert_eq!(changed, 0);
}

/// The rules' `assign` hook is asked after the commit, away from the writer: the conversation
/// waits until the answer comes back as a command, and then goes to the agent it names.
#[tokio::test]
async fn the_assign_hook_is_asked_after_the_commit_and_its_answer_is_a_command() {
    use crate::domain::access::Role;
    use crate::domain::account::NewUser;
    use crate::domain::audit::Actor;
    use crate::domain::conversation::{ChannelKind, Status};
    use crate::domain::routing::{AssignMode, Choice};

    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::new());
    let (store, _) = Store::open(dir.path()).unwrap();
    let (core, _thread) = Core::spawn(store.clone(), Arc::clone(&metrics.core)).unwrap();
    let actor = Actor::system("test");
    let mut agents = Vec::new();
    for (at, email) in [(1, "ana@example.com"), (4, "bruno@example.com")] {
        let new = NewUser {
            first_name: "Agente".into(),
            last_name: "Uno".into(),
            email: email.into(),
            roles: vec![Role::Agent],
            permissions: vec![],
            language: None,
            totp_required: false,
        };
        let user =
            core.call(CreateUser { new, invite: None, password_hash: None, actor: actor.clone(), at }).await.unwrap();
        core.call(SetPresence { agent: user.id, online: true, at: at + 1 }).await.unwrap();
        core.call(SetAvailability { agent: user.id, available: true, at: at + 2 }).await.unwrap();
        agents.push(user.id);
    }
    let channel = CreateChannel {
        kind: ChannelKind::Api,
        mode: AssignMode::Automatic,
        name: "Tienda".into(),
        group: None,
        public_key: "pk".into(),
        token_hash: None,
        webhook_url: None,
        webhook_secret: String::new(),
        actor,
        at: 7,
    };
    let channel = core.call(channel).await.unwrap();
    core.call(SetAssignHook { on: true, at: 8 }).await.unwrap();
    let mut events = core.subscribe();
    let message = CustomerMessage {
        channel: channel.id,
        identifier: "c1".into(),
        profile: CustomerProfile::default(),
        text: "hola".into(),
        at: 9,
    };
    let waiting = core.call(message).await.unwrap().conversation;
    assert_eq!((waiting.status, waiting.assignee), (Status::Queued, None), "nobody decided inside the batch");
    let question = loop {
        match events.try_recv().expect("the question is published with its batch") {
            Event::AssignmentAsked { question } => break question,
            _ => continue,
        }
    };
    assert_eq!(question.conversation, waiting.id);
    let stored = store.read().unwrap().conversation(waiting.id).unwrap();
    assert!(stored.is_some(), "asked only once the conversation is committed");
    assert_eq!(question.candidates.iter().map(|c| c.id).collect::<Vec<_>>(), agents);
    // Ana would be the built-in pick (longest idle); the hook names Bruno.
    core.call(AnswerAssignment { conversation: waiting.id, choice: Choice::Agent(agents[1]), at: 10 }).await.unwrap();
    let assigned = store.read().unwrap().conversation(waiting.id).unwrap().unwrap();
    assert_eq!((assigned.status, assigned.assignee), (Status::Assigned, Some(agents[1])));
    // A second answer about it (a duplicate, or one too late) changes nothing.
    core.call(AnswerAssignment { conversation: waiting.id, choice: Choice::Agent(agents[0]), at: 11 }).await.unwrap();
    assert_eq!(store.read().unwrap().conversation(waiting.id).unwrap().unwrap().assignee, Some(agents[1]));
}

/// Ana Gil, an agent with no permissions beyond the role: the user most core tests start from.
pub(super) fn agent_ana() -> crate::domain::account::NewUser {
    crate::domain::account::NewUser {
        first_name: "Ana".into(),
        last_name: "Gil".into(),
        email: "ana@example.com".into(),
        roles: vec![crate::domain::access::Role::Agent],
        permissions: vec![],
        language: None,
        totp_required: false,
    }
}
