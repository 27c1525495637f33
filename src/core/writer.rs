//! The single writer: one thread takes every waiting command (up to `MAX_BATCH`), applies them in
//! order to the in-memory state and one redb write transaction, commits durably once, and only then
//! answers each caller and publishes the events. An answer therefore means "on disk", and one fsync
//! is shared by the whole batch (group commit).

use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use redb::WriteTransaction;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::{ApplyError, CoreError, Rejection};
use crate::metrics::CoreMetrics;
use crate::store::{Store, StoreError};

/// The most commands in one transaction: bounds the latency a batch adds to its first command.
pub const MAX_BATCH: usize = 1024;
const QUEUE: usize = 8192;
const EVENT_BUFFER: usize = 4096;

/// In-memory state owned by the writer, rebuilt from the store at start and after a failed commit.
pub trait State<E>: Send + 'static {
    fn load(store: &Store) -> Result<Self, StoreError>
    where
        Self: Sized;

    /// Rebuilds the state from disk after a failed commit, keeping what does not live on disk.
    fn reload(&mut self, store: &Store) -> Result<(), StoreError>
    where
        Self: Sized,
    {
        *self = Self::load(store)?;
        Ok(())
    }

    /// A batch committed with these events: before they are published (what readers derive
    /// from the state, such as a snapshot of live views, is made here).
    fn committed(&mut self, _events: &mut dyn Iterator<Item = &E>) {}

    /// What the state itself raises after a command ran, published with the command's own
    /// events (routing's questions to the rules' `assign` hook): after the batch commits, and
    /// dropped with it.
    fn settle(&mut self, _events: &mut Vec<E>) {}
}

/// A change to the system, in two steps. `check` reads the state and the transaction (it is
/// given no way to change either) and decides: a plan, or a rejection. `write` carries the plan
/// out and fails only on storage. So a rejected command cannot leave writes behind, and the rest
/// of its batch commits.
pub trait Command<S, E>: Send + 'static {
    type Output: Send + 'static;
    /// What `check` decided, for `write`.
    type Plan;
    fn check(self, state: &S, read: &Read<'_>) -> Result<Self::Plan, ApplyError>;
    fn write(
        plan: Self::Plan,
        state: &mut S,
        tx: &WriteTransaction,
        events: &mut Vec<E>,
    ) -> Result<Self::Output, WriteError>;
}

/// The transaction as `check` sees it: tables open for reading only (a table opened here exposes
/// `ReadableTable` and nothing that writes).
pub struct Read<'a>(&'a WriteTransaction);

impl<'a> Read<'a> {
    pub fn new(tx: &'a WriteTransaction) -> Self {
        Read(tx)
    }
}

/// Tables to read from: the write transaction itself (in `write`) or its read-only view (in
/// `check`). Helpers that only read take `&impl Tables`, so `check` and `write` share them.
pub trait Tables {
    fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        definition: redb::TableDefinition<'static, K, V>,
    ) -> Result<impl redb::ReadableTable<K, V>, StoreError>;
}

impl Tables for WriteTransaction {
    fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        definition: redb::TableDefinition<'static, K, V>,
    ) -> Result<impl redb::ReadableTable<K, V>, StoreError> {
        self.open_table(definition).map_err(|err| StoreError::from(redb::Error::from(err)))
    }
}

impl Tables for Read<'_> {
    fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        definition: redb::TableDefinition<'static, K, V>,
    ) -> Result<impl redb::ReadableTable<K, V>, StoreError> {
        self.0.table(definition)
    }
}

/// How `write` failed: only on storage (a broken invariant counts as that: its batch is dropped).
#[derive(Debug)]
pub enum WriteError {
    Store(StoreError),
}

impl From<StoreError> for WriteError {
    fn from(err: StoreError) -> Self {
        WriteError::Store(err)
    }
}

/// A helper shared with `check` may refuse; in `write`, after the check, that is a broken
/// invariant: the batch is dropped rather than committed half-done.
impl From<ApplyError> for WriteError {
    fn from(err: ApplyError) -> Self {
        match err {
            ApplyError::Rejected(why) => {
                WriteError::Store(StoreError::Invariant(format!("refused after its check: {}", why.message)))
            }
            ApplyError::Store(err) => WriteError::Store(err),
            ApplyError::Panicked(message) => WriteError::Store(StoreError::Invariant(message.to_string())),
        }
    }
}

impl From<WriteError> for ApplyError {
    fn from(err: WriteError) -> Self {
        match err {
            WriteError::Store(err) => ApplyError::Store(err),
        }
    }
}

impl From<redb::TableError> for WriteError {
    fn from(err: redb::TableError) -> Self {
        WriteError::Store(redb::Error::from(err).into())
    }
}

impl From<redb::StorageError> for WriteError {
    fn from(err: redb::StorageError) -> Self {
        WriteError::Store(redb::Error::from(err).into())
    }
}

/// What a command left after applying: publishes its events and answers its caller once the
/// batch's fate is known.
type Finish<E> = Box<dyn FnOnce(Result<(), CoreError>, Vec<E>, &broadcast::Sender<E>) + Send>;

struct Outcome<E> {
    finish: Finish<E>,
    /// Its events, published only if the batch commits.
    events: Vec<E>,
    /// The command failed in a way that may have left partial writes: the batch must not commit.
    poisoned: bool,
}

/// A command waiting in the queue with the channel its caller listens on.
trait Job<S, E>: Send {
    fn run(self: Box<Self>, state: &mut S, tx: &WriteTransaction) -> Outcome<E>;
    fn fail(self: Box<Self>, err: CoreError);
    /// A liveness probe: answered as soon as the writer takes it, with no transaction.
    fn is_probe(&self) -> bool {
        false
    }
}

/// `Writer::probe`'s job: proves the writer thread takes work.
struct Probe(oneshot::Sender<()>);

impl<S, E> Job<S, E> for Probe {
    fn run(self: Box<Self>, _: &mut S, _: &WriteTransaction) -> Outcome<E> {
        let _ = self.0.send(());
        Outcome { finish: Box::new(|_, _, _| {}), events: Vec::new(), poisoned: false }
    }

    fn fail(self: Box<Self>, _: CoreError) {
        let _ = self.0.send(());
    }

    fn is_probe(&self) -> bool {
        true
    }
}

/// Runs one step of command `C`; a panic inside becomes `ApplyError::Panicked` instead of ending
/// the writer thread (which would leave a server that answers reads and fails every write).
fn caught<C, T>(step: impl FnOnce() -> Result<T, ApplyError>) -> Result<T, ApplyError> {
    catch_unwind(AssertUnwindSafe(step)).unwrap_or_else(|payload| {
        let message = crate::panics::message(payload.as_ref());
        tracing::error!(command = std::any::type_name::<C>(), panic = %message, "a command panicked");
        Err(ApplyError::Panicked(Arc::from(message)))
    })
}

struct Pending<C: Command<S, E>, S, E> {
    command: C,
    reply: oneshot::Sender<Result<C::Output, CoreError>>,
    _types: PhantomData<fn(&mut S, E)>,
}

impl<S: 'static, E: Send + 'static, C: Command<S, E>> Job<S, E> for Pending<C, S, E> {
    fn run(self: Box<Self>, state: &mut S, tx: &WriteTransaction) -> Outcome<E> {
        let Pending { command, reply, .. } = *self;
        let mut events = Vec::new();
        let (result, poisoned) = match caught::<C, _>(|| command.check(state, &Read::new(tx))) {
            // Nothing was written: the batch goes on (a read that failed may mean the store did).
            Err(err) => {
                let poisoned = matches!(err, ApplyError::Store(_));
                (Err(err), poisoned)
            }
            Ok(plan) => match caught::<C, _>(|| C::write(plan, state, tx, &mut events).map_err(ApplyError::from)) {
                Ok(output) => (Ok(output), false),
                // A storage failure, a broken invariant or a panic may have left partial writes
                // and a half-changed state.
                Err(err) => (Err(err), true),
            },
        };
        let finish: Finish<E> = Box::new(move |batch, events, publisher| {
            let answer = match (batch, result) {
                (_, Err(ApplyError::Store(err))) => Err(CoreError::Storage(Arc::new(err))),
                (_, Err(ApplyError::Panicked(message))) => Err(CoreError::Panicked(message)),
                (Err(err), _) => Err(err),
                (Ok(()), result) => {
                    // A rejected command wrote nothing, but what the state raised after it (the
                    // batch's pending questions) stands with the batch.
                    for event in events {
                        // No subscriber is not an error: nobody is watching.
                        let _ = publisher.send(event);
                    }
                    result.map_err(|err| match err {
                        ApplyError::Rejected(why) => CoreError::Rejected(why),
                        ApplyError::Store(err) => CoreError::Storage(Arc::new(err)),
                        ApplyError::Panicked(message) => CoreError::Panicked(message),
                    })
                }
            };
            // The caller may have gone away; the change stands all the same.
            let _ = reply.send(answer);
        });
        Outcome { finish, events, poisoned }
    }

    fn fail(self: Box<Self>, err: CoreError) {
        let _ = self.reply.send(Err(err));
    }
}

/// The handle callers use to send commands and subscribe to events. Cheap to clone.
pub struct Writer<S, E> {
    jobs: mpsc::Sender<Box<dyn Job<S, E>>>,
    events: broadcast::Sender<E>,
}

impl<S, E> Clone for Writer<S, E> {
    fn clone(&self) -> Self {
        Writer { jobs: self.jobs.clone(), events: self.events.clone() }
    }
}

impl<S: State<E>, E: Clone + Send + 'static> Writer<S, E> {
    /// Loads the state and starts the writer thread. The thread ends when every handle is dropped.
    pub fn spawn(store: Store, metrics: Arc<CoreMetrics>) -> Result<(Self, JoinHandle<()>), StoreError> {
        let mut held = Held { state: store.read_guarded(S::load)?, stale: false };
        let (jobs, mut queue) = mpsc::channel::<Box<dyn Job<S, E>>>(QUEUE);
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let publisher = events.clone();
        let thread = std::thread::Builder::new()
            .name("centralita-core".into())
            .spawn(move || {
                let mut batch = Vec::with_capacity(MAX_BATCH);
                while let Some(first) = queue.blocking_recv() {
                    batch.push(first);
                    while batch.len() < MAX_BATCH {
                        match queue.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    run_batch(&mut held, &store, &mut batch, &publisher, &metrics);
                }
            })
            .map_err(StoreError::Thread)?;
        Ok((Writer { jobs, events }, thread))
    }

    /// Sends a command and waits until it is durably committed (or rejected).
    pub async fn call<C: Command<S, E>>(&self, command: C) -> Result<C::Output, CoreError> {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Pending { command, reply, _types: PhantomData });
        self.jobs.send(job).await.map_err(|_| CoreError::Stopped)?;
        answer.await.map_err(|_| CoreError::Stopped)?
    }

    /// Answers once the writer thread has taken a no-op from its queue: for `/healthz`.
    pub async fn probe(&self) -> Result<(), CoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs.send(Box::new(Probe(reply))).await.map_err(|_| CoreError::Stopped)?;
        answer.await.map_err(|_| CoreError::Stopped)
    }

    /// Commands waiting for the writer.
    pub fn queued(&self) -> usize {
        self.jobs.max_capacity() - self.jobs.capacity()
    }

    /// Events published after each commit, in commit order.
    pub fn subscribe(&self) -> broadcast::Receiver<E> {
        self.events.subscribe()
    }
}

/// The writer's state, and whether it may differ from the disk: a failed commit is undone by
/// reloading the state, and while that reload has not succeeded no command may run on it.
struct Held<S> {
    state: S,
    stale: bool,
}

fn run_batch<S: State<E>, E>(
    held: &mut Held<S>,
    store: &Store,
    batch: &mut Vec<Box<dyn Job<S, E>>>,
    publisher: &broadcast::Sender<E>,
    metrics: &CoreMetrics,
) {
    for probe in batch.extract_if(.., |job| job.is_probe()) {
        probe.fail(CoreError::Stopped); // a probe's `fail` answers it all the same
    }
    if batch.is_empty() {
        return;
    }
    let started = Instant::now();
    let size = batch.len();
    let tx = match begin(held, store) {
        Ok(tx) => tx,
        Err(err) => {
            tracing::error!(error = %err, "cannot begin a write transaction");
            let err = CoreError::Storage(Arc::new(answer_for(store, err)));
            batch.drain(..).for_each(|job| job.fail(err.clone()));
            return;
        }
    };
    let outcomes: Vec<Outcome<E>> = batch
        .drain(..)
        .map(|job| {
            let mut outcome = job.run(&mut held.state, &tx);
            held.state.settle(&mut outcome.events);
            outcome
        })
        .collect();
    let result = if outcomes.iter().any(|outcome| outcome.poisoned) {
        let _ = tx.abort();
        Err(StoreError::Aborted)
    } else {
        tx.commit().map_err(StoreError::from)
    };
    store.note_commit(&result);
    let batch_result = match result {
        Ok(()) => {
            metrics.observe_commit(size, started.elapsed());
            held.state.committed(&mut outcomes.iter().flat_map(|outcome| outcome.events.iter()));
            Ok(())
        }
        Err(err) => {
            tracing::error!(error = %err, commands = size, "a batch failed to commit; reloading state from disk");
            store.recover_from(&err);
            reload(held, store);
            Err(CoreError::Storage(Arc::new(answer_for(store, err))))
        }
    };
    for outcome in outcomes {
        (outcome.finish)(batch_result.clone(), outcome.events, publisher);
    }
}

/// A write transaction on a state that matches the disk. A handle left unusable by an earlier disk
/// error is reopened once before giving up.
fn begin<S: State<E>, E>(held: &mut Held<S>, store: &Store) -> Result<WriteTransaction, StoreError> {
    let tx = store.begin_write().or_else(|err| {
        store.recover_from(&err);
        store.begin_write()
    })?;
    if held.stale {
        reload(held, store);
        if held.stale {
            let _ = tx.abort();
            return Err(StoreError::Reopening);
        }
    }
    Ok(tx)
}

/// Rebuilds the state from disk; a reload that meets an unusable handle reopens it and tries once
/// more. Marks the state stale if it still fails.
fn reload<S: State<E>, E>(held: &mut Held<S>, store: &Store) {
    let mut result = held.state.reload(store);
    if let Err(err) = &result {
        store.recover_from(err);
        result = held.state.reload(store);
    }
    if let Err(err) = &result {
        tracing::error!(error = %err, "reloading state after a failed commit failed; writes wait for it");
    }
    held.stale = result.is_err();
}

/// What to tell the callers: while the disk is full, every failure is that.
fn answer_for(store: &Store, err: StoreError) -> StoreError {
    if store.disk_full() { StoreError::DiskFull } else { err }
}

impl From<Rejection> for ApplyError {
    fn from(why: Rejection) -> Self {
        ApplyError::Rejected(why)
    }
}
