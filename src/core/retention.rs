//! The retention job's commands (issue 14, point 4): `Purge` deletes one bounded batch of
//! finished records found through their time-ordered index; `IndexForRetention` builds those
//! indexes (and the mailer's pending index) once for a database written before them.

use redb::{ReadableTable, TableDefinition, WriteTransaction};

use super::outbox::end_mail_link;
use super::{ApplyError, Command, Event, Read, Runtime, Tables, WriteError};
use crate::domain::mail::Removal;
use crate::domain::retention::{self, BATCH, Retention};
use crate::store::StoreError;
use crate::store::tables::{
    DELIVERED_AT_DELIVERY_IDS, DELIVERY_ID_TO_DELIVERY, EXPIRES_AT_LINK_HASHES, LINK_HASH_TO_LINK, MAIL_ID_TO_MAIL,
    META, PENDING_MAIL_IDS, SEEN_AT_SESSION_HASHES, SENT_AT_MAIL_IDS, SESSION_HASH_TO_SESSION,
};

/// What a purge deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purgeable {
    Deliveries,
    Mail,
    Links,
    Sessions,
}

/// Deletes up to `BATCH` records of one kind that are due at `now`.
pub struct Purge {
    pub what: Purgeable,
    pub retention: Retention,
    pub now: u64,
}

/// What one purge did: index entries it met (every one is removed) and records it deleted. An
/// entry whose record is gone, or has moved on (a session touched since), only leaves the index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub met: usize,
    pub deleted: usize,
}

impl Purged {
    /// The batch was full: more may be due.
    pub fn more(&self) -> bool {
        self.met >= BATCH
    }
}

type IdKey = (u64, u64);
type HashKey = (u64, [u8; 32]);

/// Index entries to remove, each with whether its record goes too.
pub enum PurgePlan {
    Deliveries(Vec<(IdKey, bool)>),
    Mail(Vec<(IdKey, bool)>),
    Links(Vec<(HashKey, bool)>),
    Sessions(Vec<(HashKey, bool)>),
}

impl Command<Runtime, Event> for Purge {
    type Output = Purged;
    type Plan = PurgePlan;

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<PurgePlan, ApplyError> {
        let (now, r) = (self.now, &self.retention);
        Ok(match self.what {
            Purgeable::Deliveries => {
                let table = read.table(DELIVERY_ID_TO_DELIVERY.definition())?;
                let mut plan = Vec::new();
                for (at, id) in ids_before(read, DELIVERED_AT_DELIVERY_IDS, r.deliveries_before(now))? {
                    let found = DELIVERY_ID_TO_DELIVERY.get(&table, id)?;
                    let due = found.is_some_and(|d| d.delivered_at == Some(at) && retention::delivery_due(&d, now, r));
                    plan.push(((at, id), due));
                }
                PurgePlan::Deliveries(plan)
            }
            Purgeable::Mail => {
                let table = read.table(MAIL_ID_TO_MAIL.definition())?;
                let mut plan = Vec::new();
                for (at, id) in ids_before(read, SENT_AT_MAIL_IDS, r.mail_before(now))? {
                    let found = MAIL_ID_TO_MAIL.get(&table, id)?;
                    let due = found.is_some_and(|m| m.sent_at == Some(at) && retention::mail_due(&m, now, r));
                    plan.push(((at, id), due));
                }
                PurgePlan::Mail(plan)
            }
            Purgeable::Links => {
                let table = read.table(LINK_HASH_TO_LINK.definition())?;
                let mut plan = Vec::new();
                for (at, hash) in hashes_before(read, EXPIRES_AT_LINK_HASHES, retention::links_expired_before(now))? {
                    let found = LINK_HASH_TO_LINK.get(&table, hash)?;
                    let due = found.is_some_and(|l| l.expires_at() == at && retention::link_due(&l, now));
                    plan.push(((at, hash), due));
                }
                PurgePlan::Links(plan)
            }
            Purgeable::Sessions => {
                let table = read.table(SESSION_HASH_TO_SESSION.definition())?;
                let mut plan = Vec::new();
                for (at, hash) in hashes_before(read, SEEN_AT_SESSION_HASHES, r.sessions_seen_before(now))? {
                    let found = SESSION_HASH_TO_SESSION.get(&table, hash)?;
                    let due = found.is_some_and(|s| s.last_seen_at == at && retention::session_due(&s, now, r));
                    plan.push(((at, hash), due));
                }
                PurgePlan::Sessions(plan)
            }
        })
    }

    fn write(
        plan: PurgePlan,
        state: &mut Runtime,
        tx: &WriteTransaction,
        _: &mut Vec<Event>,
    ) -> Result<Purged, WriteError> {
        let mut purged = Purged::default();
        match plan {
            PurgePlan::Deliveries(entries) => {
                let (mut index, mut table) =
                    (tx.open_table(DELIVERED_AT_DELIVERY_IDS)?, tx.open_table(DELIVERY_ID_TO_DELIVERY.definition())?);
                for ((at, id), due) in entries {
                    index.remove((at, id))?;
                    if due {
                        DELIVERY_ID_TO_DELIVERY.remove(&mut table, id)?;
                    }
                    purged.count(due);
                }
            }
            PurgePlan::Mail(entries) => {
                let (mut index, mut table) =
                    (tx.open_table(SENT_AT_MAIL_IDS)?, tx.open_table(MAIL_ID_TO_MAIL.definition())?);
                for ((at, id), due) in entries {
                    index.remove((at, id))?;
                    if due {
                        MAIL_ID_TO_MAIL.remove(&mut table, id)?;
                    }
                    purged.count(due);
                }
            }
            PurgePlan::Links(entries) => {
                let (mut index, mut table) =
                    (tx.open_table(EXPIRES_AT_LINK_HASHES)?, tx.open_table(LINK_HASH_TO_LINK.definition())?);
                for ((at, hash), due) in entries {
                    index.remove((at, hash))?;
                    if due {
                        LINK_HASH_TO_LINK.remove(&mut table, hash)?;
                        // A mail still waiting with it says the link expired, as it would have.
                        end_mail_link(tx, hash, Removal::Expired)?;
                        state.mail_links.vault.forget(&hash);
                    }
                    purged.count(due);
                }
            }
            PurgePlan::Sessions(entries) => {
                let (mut index, mut table) =
                    (tx.open_table(SEEN_AT_SESSION_HASHES)?, tx.open_table(SESSION_HASH_TO_SESSION.definition())?);
                for ((at, hash), due) in entries {
                    index.remove((at, hash))?;
                    if due {
                        SESSION_HASH_TO_SESSION.remove(&mut table, hash)?;
                    }
                    purged.count(due);
                }
            }
        }
        Ok(purged)
    }
}

impl Purged {
    fn count(&mut self, deleted: bool) {
        self.met += 1;
        self.deleted += usize::from(deleted);
    }
}

/// The first `BATCH` entries of an (at, id) index with `at` before `before`.
fn ids_before(
    read: &impl Tables,
    index: TableDefinition<'static, IdKey, ()>,
    before: u64,
) -> Result<Vec<IdKey>, StoreError> {
    let table = read.table(index)?;
    let mut keys = Vec::new();
    for row in table.range(..(before, 0))?.take(BATCH) {
        keys.push(row?.0.value());
    }
    Ok(keys)
}

/// The first `BATCH` entries of an (at, hash) index with `at` before `before`.
fn hashes_before(
    read: &impl Tables,
    index: TableDefinition<'static, HashKey, ()>,
    before: u64,
) -> Result<Vec<HashKey>, StoreError> {
    let table = read.table(index)?;
    let mut keys = Vec::new();
    for row in table.range(..(before, [0u8; 32]))?.take(BATCH) {
        keys.push(row?.0.value());
    }
    Ok(keys)
}

const INDEXES_BUILT: &str = "retention_indexes_built";

/// Once per database, at start: the pending-mail and time-ordered indexes for what was written
/// before they existed (a new database marks itself at its first start, with nothing to add).
pub struct IndexForRetention;

/// The index entries to add.
#[derive(Default)]
pub struct Entries {
    pending_mail: Vec<u64>,
    sent_mail: Vec<IdKey>,
    delivered: Vec<IdKey>,
    links: Vec<HashKey>,
    sessions: Vec<HashKey>,
}

impl Entries {
    pub fn len(&self) -> usize {
        self.pending_mail.len() + self.sent_mail.len() + self.delivered.len() + self.links.len() + self.sessions.len()
    }
}

impl Command<Runtime, Event> for IndexForRetention {
    /// How many entries were added.
    type Output = usize;
    /// `None`: this database has them already.
    type Plan = Option<Entries>;

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<Option<Entries>, ApplyError> {
        if read.table(META)?.get(INDEXES_BUILT)?.is_some() {
            return Ok(None);
        }
        let mut entries = Entries::default();
        for (id, mail) in MAIL_ID_TO_MAIL.all(&read.table(MAIL_ID_TO_MAIL.definition())?)? {
            match mail.sent_at {
                Some(at) => entries.sent_mail.push((at, id)),
                None => entries.pending_mail.push(id),
            }
        }
        for (id, delivery) in DELIVERY_ID_TO_DELIVERY.all(&read.table(DELIVERY_ID_TO_DELIVERY.definition())?)? {
            entries.delivered.extend(delivery.delivered_at.map(|at| (at, id)));
        }
        for (hash, link) in LINK_HASH_TO_LINK.all(&read.table(LINK_HASH_TO_LINK.definition())?)? {
            entries.links.push((link.expires_at(), hash));
        }
        for (hash, session) in SESSION_HASH_TO_SESSION.all(&read.table(SESSION_HASH_TO_SESSION.definition())?)? {
            entries.sessions.push((session.last_seen_at, hash));
        }
        Ok(Some(entries))
    }

    fn write(
        plan: Option<Entries>,
        _: &mut Runtime,
        tx: &WriteTransaction,
        _: &mut Vec<Event>,
    ) -> Result<usize, WriteError> {
        let Some(entries) = plan else {
            return Ok(0);
        };
        let mut pending = tx.open_table(PENDING_MAIL_IDS)?;
        for id in &entries.pending_mail {
            pending.insert(*id, ())?;
        }
        let mut sent = tx.open_table(SENT_AT_MAIL_IDS)?;
        for key in &entries.sent_mail {
            sent.insert(*key, ())?;
        }
        let mut delivered = tx.open_table(DELIVERED_AT_DELIVERY_IDS)?;
        for key in &entries.delivered {
            delivered.insert(*key, ())?;
        }
        let mut links = tx.open_table(EXPIRES_AT_LINK_HASHES)?;
        for key in &entries.links {
            links.insert(*key, ())?;
        }
        let mut sessions = tx.open_table(SEEN_AT_SESSION_HASHES)?;
        for key in &entries.sessions {
            sessions.insert(*key, ())?;
        }
        tx.open_table(META)?.insert(INDEXES_BUILT, 1)?;
        Ok(entries.len())
    }
}
