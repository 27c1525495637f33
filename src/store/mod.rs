//! The redb file: its tables (`tables`), value encoding (`codec`), opening with a schema check, and
//! read transactions wrapped with domain queries (`Reader`). Only the core writes.

mod codec;
mod conversations;
pub mod indexes;
pub mod tables;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use crate::domain::account::{Group, User};
use crate::domain::audit::AuditEntry;
use crate::domain::conversation::Conversation;
use crate::domain::ids::ConversationId;
use crate::domain::ids::{GroupId, UserId};
use crate::domain::mail::Mail;
use crate::domain::routing::AgentProfile;
use crate::domain::secret::Link;
use crate::domain::session::{ApiToken, Session};
use tables::{
    AGENT_ID_TO_PROFILE, API_TOKEN_HASH_TO_TOKEN, AUDIT_ID_TO_ENTRY, BOOT_SEQ_TO_RECORD,
    CONVERSATION_ID_TO_CONVERSATION, EMAIL_TO_USER_ID, GROUP_ID_TO_GROUP, LINK_HASH_TO_LINK, MAIL_ID_TO_MAIL, META,
    OPEN_CONVERSATION_IDS, PENDING_MAIL_IDS, SESSION_HASH_TO_SESSION, USER_ID_TO_USER,
};

/// The layout version this binary reads and writes. Raise it, with a migration, when a change to
/// the tables cannot be read by older code as it is.
pub const SCHEMA_VERSION: u64 = 1;

const SCHEMA_KEY: &str = "schema_version";
const FILE_NAME: &str = "centralita.redb";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database {path} is in use by another centralita process; stop that one first")]
    InUse { path: PathBuf },
    #[error(
        "the database {path} was written by a newer centralita (schema {found}; this binary knows {supported}); \
         run the newer binary, or restore a backup made by this version"
    )]
    NewerSchema { path: PathBuf, found: u64, supported: u64 },
    #[error(
        "cannot open the database {path}: {message}. If the file is damaged, restore it from a backup \
         (a copy taken while the server was stopped), or move it away to start a new, empty database"
    )]
    Open { path: PathBuf, message: String },
    #[error(
        "cannot read or write the database {path}: {message}; nothing was changed: check that it is a file \
         the server's user may read and write"
    )]
    Unreadable { path: PathBuf, message: String },
    #[error(
        "the database {path} is damaged ({detail}); restore it from a backup (a copy taken while the \
         server was stopped), or move it away to start a new, empty database"
    )]
    Damaged { path: PathBuf, detail: String },
    #[error(
        "the database {path} is an empty file (0 bytes), not a centralita database; restore it from a \
         backup, or delete it to start a new install with a new administrator"
    )]
    Empty { path: PathBuf },
    #[error("could not encode a value for table {table}: {message}")]
    Encode { table: &'static str, message: String },
    #[error("a value in table {table} could not be read: {message}")]
    Decode { table: &'static str, message: String },
    #[error("cannot start the writer thread: {0}")]
    Thread(std::io::Error),
    #[error("a command in the same batch failed while writing; nothing in the batch was saved")]
    Aborted,
    #[error("the database is closed after a disk error and could not be opened again yet")]
    Reopening,
    #[error("the data disk is full")]
    DiskFull,
    /// A checked command met a broken invariant while writing (a bug); its batch is dropped.
    #[error("a broken invariant while writing: {0}")]
    Invariant(String),
    #[error("database error: {0}")]
    Db(#[from] redb::Error),
}

impl StoreError {
    /// The disk (or the user's quota on it) is full: writes fail until space is freed.
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::DiskFull => true,
            StoreError::Db(redb::Error::Io(io)) => {
                matches!(io.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded)
            }
            _ => false,
        }
    }

    /// The database cannot serve now (a disk error, a handle being reopened); a retry may work.
    pub fn is_unavailable(&self) -> bool {
        self.is_disk_full() || self.needs_reopen()
    }

    /// After this error redb refuses every later operation on the handle until it is reopened
    /// (`Corrupted` included: a commit that failed for another reason discards the allocator
    /// state, and only a reopen repairs it).
    fn needs_reopen(&self) -> bool {
        matches!(
            self,
            StoreError::Reopening
                | StoreError::Db(
                    redb::Error::Io(_)
                        | redb::Error::PreviousIo
                        | redb::Error::DatabaseClosed
                        | redb::Error::Corrupted(_)
                )
        )
    }
}

macro_rules! from_redb_error {
    ($($kind:ty),*) => {$(
        impl From<$kind> for StoreError {
            fn from(err: $kind) -> Self {
                StoreError::Db(err.into())
            }
        }
    )*};
}
from_redb_error!(redb::TransactionError, redb::TableError, redb::StorageError, redb::CommitError);

/// One start of the server, kept to tell a clean stop from a crash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootRecord {
    pub version: String,
    pub started_at: u64,
    #[serde(default)]
    pub stopped_at: Option<u64>,
}

/// What opening the file found.
#[derive(Debug, Clone, Copy)]
pub struct OpenReport {
    /// The file had not been closed cleanly and redb repaired it.
    pub repaired: bool,
    pub millis: u128,
}

/// The database handle shared by the writer and the readers. The handle can be swapped: after a
/// failed disk write (a full disk, say) redb fails every later call until the file is reopened.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

struct Shared {
    slot: RwLock<Slot>,
    /// The last commit failed for want of space (cleared by the next good commit).
    disk_full: AtomicBool,
    path: PathBuf,
}

struct Slot {
    db: Option<Database>,
    /// When opening the file again last failed: attempts wait `REOPEN_PAUSE` after a failure.
    failed_at: Option<Instant>,
}

const REOPEN_PAUSE: std::time::Duration = std::time::Duration::from_secs(1);

impl Store {
    /// Opens (or creates) `centralita.redb` in `data_dir`, repairing it after a crash and checking the
    /// schema version.
    pub fn open(data_dir: &Path) -> Result<(Store, OpenReport), StoreError> {
        let path = data_dir.join(FILE_NAME);
        // redb takes an empty file for a new database: a file truncated by accident would silently
        // become a fresh install with a new administrator.
        if std::fs::metadata(&path).is_ok_and(|file| file.len() == 0) {
            return Err(StoreError::Empty { path });
        }
        let (db, report) = open_file(&path)?;
        let slot = RwLock::new(Slot { db: Some(db), failed_at: None });
        let store = Store { shared: Arc::new(Shared { slot, disk_full: AtomicBool::new(false), path }) };
        store.read_guarded(|store| store.check_schema())?;
        Ok((store, report))
    }

    /// Reopens the handle when `err` left it unusable; other errors leave it alone. Only the
    /// writer calls this, between transactions: a live write transaction would keep the old
    /// handle (and its file lock) open.
    pub(crate) fn recover_from(&self, err: &StoreError) {
        if !err.needs_reopen() {
            return;
        }
        let mut slot = self.shared.slot.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(old) = slot.db.take() {
            // The old handle must be closed first: it holds the file lock.
            match old.close() {
                Err(redb::DatabaseError::TransactionInProgress) => {
                    tracing::error!("a write transaction outlived a failed commit; the database stays closed");
                }
                Err(err) => tracing::debug!(error = %err, "closing the failed database handle"),
                Ok(()) => {}
            }
        }
        if let Err(err) = self.open_into(&mut slot) {
            tracing::error!(error = %err, "the database could not be reopened; retrying shortly");
        }
    }

    /// Opens the file into an empty slot, at most once per `REOPEN_PAUSE` after a failure. The
    /// slot's lock is held meanwhile, so readers wait the few milliseconds rather than fail.
    fn open_into(&self, slot: &mut Slot) -> Result<(), StoreError> {
        if slot.db.is_some() {
            return Ok(());
        }
        if slot.failed_at.is_some_and(|at| at.elapsed() < REOPEN_PAUSE) {
            return Err(StoreError::Reopening);
        }
        match open_file(&self.shared.path) {
            Ok((db, report)) => {
                slot.db = Some(db);
                slot.failed_at = None;
                tracing::warn!(
                    millis = report.millis,
                    repaired = report.repaired,
                    "database reopened after a disk error"
                );
                Ok(())
            }
            Err(err) => {
                slot.failed_at = Some(Instant::now());
                Err(err)
            }
        }
    }

    fn with_db<T>(&self, use_it: impl FnOnce(&Database) -> Result<T, StoreError>) -> Result<T, StoreError> {
        {
            let slot = self.shared.slot.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(db) = &slot.db {
                return use_it(db);
            }
        }
        // Closed after a failed reopen: whoever needs it next tries again.
        let mut slot = self.shared.slot.write().unwrap_or_else(PoisonError::into_inner);
        self.open_into(&mut slot)?;
        use_it(slot.db.as_ref().ok_or(StoreError::Reopening)?)
    }

    /// Notes how a commit ended: a failure for want of space marks the disk full until a commit
    /// succeeds again.
    pub(crate) fn note_commit(&self, result: &Result<(), StoreError>) {
        let full = matches!(result, Err(err) if err.is_disk_full());
        if result.is_ok() || full {
            self.shared.disk_full.store(full, Ordering::Relaxed);
        }
    }

    /// Whether the last commit failed because the disk is full.
    pub fn disk_full(&self) -> bool {
        self.shared.disk_full.load(Ordering::Relaxed)
    }

    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Runs reads that may meet a damaged page (at start): redb's panic on one becomes
    /// `StoreError::Damaged` naming this file.
    pub fn read_guarded<T>(&self, read: impl FnOnce(&Store) -> Result<T, StoreError>) -> Result<T, StoreError> {
        crate::panics::quietly(|| read(self))
            .unwrap_or_else(|detail| Err(StoreError::Damaged { path: self.shared.path.clone(), detail }))
    }

    /// A read transaction; many may run at once, beside the writer.
    pub fn read(&self) -> Result<Reader, StoreError> {
        self.with_db(|db| Ok(Reader(db.begin_read()?)))
    }

    /// A write transaction set up for durability: two-phase commit and quick repair, so a crash at
    /// any moment reopens fast to the last commit.
    pub(crate) fn begin_write(&self) -> Result<WriteTransaction, StoreError> {
        let mut tx = self.with_db(|db| Ok(db.begin_write()?))?;
        tx.set_two_phase_commit(true);
        tx.set_quick_repair(true);
        Ok(tx)
    }

    fn check_schema(&self) -> Result<(), StoreError> {
        let tx = self.begin_write()?;
        tables::create_all(&tx)?;
        {
            let mut meta = tx.open_table(META)?;
            let found = meta.get(SCHEMA_KEY)?.map(|v| v.value());
            match found {
                None => {
                    meta.insert(SCHEMA_KEY, SCHEMA_VERSION)?;
                }
                Some(found) if found > SCHEMA_VERSION => {
                    return Err(StoreError::NewerSchema {
                        path: self.shared.path.clone(),
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
                // Older layouts migrate here, after a backup, once there is a second version.
                Some(_) => {}
            }
        }
        conversations::index_open_by_last_message(&tx)?;
        tx.commit()?;
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn begin_read_raw(&self) -> Result<ReadTransaction, StoreError> {
        self.with_db(|db| Ok(db.begin_read()?))
    }

    #[cfg(test)]
    pub(crate) fn set_schema_version(&self, version: u64) -> Result<(), StoreError> {
        let tx = self.begin_write()?;
        tx.open_table(META)?.insert(SCHEMA_KEY, version)?;
        tx.commit()?;
        Ok(())
    }
}

/// Opens (or creates) the file, repairing it to the last commit if it was not closed cleanly.
fn open_file(path: &Path) -> Result<(Database, OpenReport), StoreError> {
    let started = Instant::now();
    let repaired = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&repaired);
    let mut builder = Database::builder();
    builder.set_repair_callback(move |session| {
        if !flag.swap(true, Ordering::Relaxed) {
            tracing::warn!(progress = session.progress(), "database was not closed cleanly; repairing it");
        }
    });
    let db = crate::panics::quietly(|| builder.create(path))
        .map_err(|detail| StoreError::Damaged { path: path.to_path_buf(), detail })?
        .map_err(|err| open_error(path, err))?;
    Ok((db, OpenReport { repaired: repaired.load(Ordering::Relaxed), millis: started.elapsed().as_millis() }))
}

fn open_error(path: &Path, err: redb::DatabaseError) -> StoreError {
    use std::io::ErrorKind::{IsADirectory, NotFound, PermissionDenied, ReadOnlyFilesystem};
    match err {
        redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse { path: path.to_path_buf() },
        // The file may be fine: the advice to move it away would be the very mistake (a fresh
        // install over a good database).
        redb::DatabaseError::Storage(redb::StorageError::Io(io))
            if matches!(io.kind(), PermissionDenied | IsADirectory | NotFound | ReadOnlyFilesystem) =>
        {
            StoreError::Unreadable { path: path.to_path_buf(), message: io.to_string() }
        }
        other => StoreError::Open { path: path.to_path_buf(), message: other.to_string() },
    }
}

/// A consistent snapshot of the database with the queries the server needs.
pub struct Reader(ReadTransaction);

impl Reader {
    pub fn schema_version(&self) -> Result<Option<u64>, StoreError> {
        let meta = self.0.open_table(META)?;
        Ok(meta.get(SCHEMA_KEY)?.map(|v| v.value()))
    }

    pub fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let table = self.0.open_table(USER_ID_TO_USER.definition())?;
        USER_ID_TO_USER.get(&table, id.0)
    }

    pub fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let index = self.0.open_table(EMAIL_TO_USER_ID)?;
        match index.get(email)?.map(|id| id.value()) {
            Some(id) => self.user(UserId(id)),
            None => Ok(None),
        }
    }

    /// Every user, by id.
    pub fn users(&self) -> Result<Vec<User>, StoreError> {
        let table = self.0.open_table(USER_ID_TO_USER.definition())?;
        Ok(USER_ID_TO_USER.all(&table)?.into_iter().map(|(_, user)| user).collect())
    }

    /// Groups not deleted, by id.
    pub fn groups(&self) -> Result<Vec<Group>, StoreError> {
        let table = self.0.open_table(GROUP_ID_TO_GROUP.definition())?;
        let all = GROUP_ID_TO_GROUP.all(&table)?;
        Ok(all.into_iter().map(|(_, group)| group).filter(|group| group.deleted_at.is_none()).collect())
    }

    pub fn group(&self, id: GroupId) -> Result<Option<Group>, StoreError> {
        let table = self.0.open_table(GROUP_ID_TO_GROUP.definition())?;
        Ok(GROUP_ID_TO_GROUP.get(&table, id.0)?.filter(|group| group.deleted_at.is_none()))
    }

    pub fn session(&self, hash: [u8; 32]) -> Result<Option<Session>, StoreError> {
        let table = self.0.open_table(SESSION_HASH_TO_SESSION.definition())?;
        SESSION_HASH_TO_SESSION.get(&table, hash)
    }

    pub fn api_token(&self, hash: [u8; 32]) -> Result<Option<ApiToken>, StoreError> {
        let table = self.0.open_table(API_TOKEN_HASH_TO_TOKEN.definition())?;
        API_TOKEN_HASH_TO_TOKEN.get(&table, hash)
    }

    /// A user's API tokens, oldest first.
    pub fn api_tokens_of(&self, user: UserId) -> Result<Vec<ApiToken>, StoreError> {
        let table = self.0.open_table(API_TOKEN_HASH_TO_TOKEN.definition())?;
        let mut tokens: Vec<ApiToken> = API_TOKEN_HASH_TO_TOKEN
            .all(&table)?
            .into_iter()
            .map(|(_, token)| token)
            .filter(|t| t.user == user)
            .collect();
        tokens.sort_by_key(|token| token.id);
        Ok(tokens)
    }

    pub fn link(&self, hash: [u8; 32]) -> Result<Option<Link>, StoreError> {
        let table = self.0.open_table(LINK_HASH_TO_LINK.definition())?;
        LINK_HASH_TO_LINK.get(&table, hash)
    }

    /// Mails newest first, before the id `before` when given.
    pub fn mails(&self, before: Option<u64>, limit: usize) -> Result<Vec<Mail>, StoreError> {
        let table = self.0.open_table(MAIL_ID_TO_MAIL.definition())?;
        Ok(MAIL_ID_TO_MAIL.newest(&table, before, limit)?.into_iter().map(|(_, mail)| mail).collect())
    }

    /// Mails not sent yet, oldest first. Read from the pending index: sent mail is never decoded
    /// again (the outbox only grows until the retention job trims it).
    pub fn unsent_mails(&self, limit: usize) -> Result<Vec<Mail>, StoreError> {
        let pending = self.0.open_table(PENDING_MAIL_IDS)?;
        let table = self.0.open_table(MAIL_ID_TO_MAIL.definition())?;
        let mut unsent = Vec::new();
        for row in pending.iter()? {
            if unsent.len() == limit {
                break;
            }
            let id = row?.0.value();
            if let Some(mail) = MAIL_ID_TO_MAIL.get(&table, id)?.filter(|mail| mail.sent_at.is_none()) {
                unsent.push(mail);
            }
        }
        Ok(unsent)
    }

    pub fn delivery(&self, id: u64) -> Result<Option<crate::domain::webhook::Delivery>, StoreError> {
        let table = self.0.open_table(tables::DELIVERY_ID_TO_DELIVERY.definition())?;
        tables::DELIVERY_ID_TO_DELIVERY.get(&table, id)
    }

    /// Audit entries newest first, before the id `before` when given.
    pub fn audit(&self, before: Option<u64>, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let table = self.0.open_table(AUDIT_ID_TO_ENTRY.definition())?;
        Ok(AUDIT_ID_TO_ENTRY.newest(&table, before, limit)?.into_iter().map(|(_, entry)| entry).collect())
    }

    pub fn agent_profile(&self, id: UserId) -> Result<Option<AgentProfile>, StoreError> {
        let table = self.0.open_table(AGENT_ID_TO_PROFILE.definition())?;
        AGENT_ID_TO_PROFILE.get(&table, id.0)
    }

    pub fn conversation(&self, id: ConversationId) -> Result<Option<Conversation>, StoreError> {
        let table = self.0.open_table(CONVERSATION_ID_TO_CONVERSATION.definition())?;
        CONVERSATION_ID_TO_CONVERSATION.get(&table, id.0)
    }

    /// Every conversation not finalized, by id.
    pub fn open_conversations(&self) -> Result<Vec<Conversation>, StoreError> {
        let index = self.0.open_table(OPEN_CONVERSATION_IDS)?;
        let table = self.0.open_table(CONVERSATION_ID_TO_CONVERSATION.definition())?;
        let mut open = Vec::new();
        for row in index.iter()? {
            let (id, _) = row?;
            if let Some(conversation) = CONVERSATION_ID_TO_CONVERSATION.get(&table, id.value())? {
                open.push(conversation);
            }
        }
        Ok(open)
    }

    /// Every recorded start, oldest first.
    pub fn boots(&self) -> Result<Vec<(u64, BootRecord)>, StoreError> {
        let table = self.0.open_table(BOOT_SEQ_TO_RECORD.definition())?;
        BOOT_SEQ_TO_RECORD.all(&table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_file_gets_the_current_schema_version() {
        let dir = tempfile::tempdir().unwrap();
        let (store, report) = Store::open(dir.path()).unwrap();
        assert!(!report.repaired);
        assert_eq!(store.read().unwrap().schema_version().unwrap(), Some(SCHEMA_VERSION));
        assert!(store.read().unwrap().boots().unwrap().is_empty());
    }

    #[test]
    fn a_file_from_a_newer_version_is_refused_with_advice() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path()).unwrap();
        store.set_schema_version(SCHEMA_VERSION + 1).unwrap();
        drop(store);
        let err = Store::open(dir.path()).err().expect("must refuse");
        assert!(matches!(err, StoreError::NewerSchema { found, .. } if found == SCHEMA_VERSION + 1));
        assert!(err.to_string().contains("restore a backup"), "{err}");
    }

    #[test]
    fn a_handle_that_cannot_be_reopened_is_retried_after_a_pause_and_keeps_the_data() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path()).unwrap();
        let file = dir.path().join(FILE_NAME);
        let aside = dir.path().join("aside.redb");
        // The file is away when the writer reopens after a disk error: the reopen fails.
        std::fs::rename(&file, &aside).unwrap();
        std::fs::create_dir(&file).unwrap();
        store.recover_from(&StoreError::Db(redb::Error::PreviousIo));
        assert!(matches!(store.read().err(), Some(StoreError::Reopening)), "closed, and no retry yet");
        assert!(store.read().err().is_some_and(|err| err.is_unavailable()));
        std::fs::remove_dir(&file).unwrap();
        std::fs::rename(&aside, &file).unwrap();
        assert!(matches!(store.read().err(), Some(StoreError::Reopening)), "still within the pause");
        std::thread::sleep(REOPEN_PAUSE);
        // The next reader reopens it.
        assert_eq!(store.read().unwrap().schema_version().unwrap(), Some(SCHEMA_VERSION));
    }

    #[test]
    fn errors_that_leave_the_handle_unusable_reopen_it_and_others_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path()).unwrap();
        let full = StoreError::Db(redb::Error::Io(std::io::Error::from(std::io::ErrorKind::StorageFull)));
        assert!(full.is_disk_full() && full.is_unavailable());
        store.note_commit(&Err(full));
        assert!(store.disk_full());
        store.note_commit(&Err(StoreError::Aborted));
        assert!(store.disk_full(), "still full until a commit succeeds");
        store.note_commit(&Ok(()));
        assert!(!store.disk_full());
        assert!(!StoreError::Aborted.needs_reopen());
        assert!(StoreError::Db(redb::Error::Corrupted("allocator state discarded".into())).needs_reopen());
        store.recover_from(&StoreError::Aborted);
        store.recover_from(&StoreError::Db(redb::Error::PreviousIo));
        assert_eq!(store.read().unwrap().schema_version().unwrap(), Some(SCHEMA_VERSION), "reopened, data kept");
    }

    #[test]
    fn a_second_open_of_the_same_file_says_it_is_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let (_store, _) = Store::open(dir.path()).unwrap();
        let err = Store::open(dir.path()).err().expect("must refuse");
        assert!(matches!(err, StoreError::InUse { .. }), "{err}");
    }
}
