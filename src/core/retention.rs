//! The retention job's commands (issue 14, point 4): `Purge` deletes one bounded batch of
//! finished records found through their time-ordered index; `IndexForRetention` builds those
//! indexes (and the mailer's pending index) once for a database written before them.

use redb::{ReadableTable, TableDefinition, WriteTransaction};

use super::records::end_mail_link;
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
    /// And the entries of links not expired after all, under their real expiry.
    Links(Vec<(HashKey, bool)>, Vec<HashKey>),
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
                let (mut plan, mut moved) = (Vec::new(), Vec::new());
                for (at, hash) in hashes_before(read, EXPIRES_AT_LINK_HASHES, retention::links_expired_before(now))? {
                    let found = LINK_HASH_TO_LINK.get(&table, hash)?;
                    let due = found.as_ref().is_some_and(|l| retention::link_due(l, now));
                    // Indexed under an older lifetime and not expired yet: it moves to its own.
                    moved.extend(found.filter(|_| !due).map(|l| (l.expires_at(), hash)));
                    plan.push(((at, hash), due));
                }
                PurgePlan::Links(plan, moved)
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
            PurgePlan::Links(entries, moved) => {
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
                for key in moved {
                    index.insert(key, ())?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use redb::ReadableTableMetadata;

    use crate::domain::ids::UserId;
    use crate::domain::mail::Mail;
    use crate::domain::retention::DAY_MS;
    use crate::domain::session::{Session, SessionLimits};
    use crate::store::{Store, indexes};

    const NOW: u64 = 100 * DAY_MS;

    fn purge(state: &mut Runtime, tx: &WriteTransaction, what: Purgeable) -> Purged {
        let limits = SessionLimits { idle_ms: DAY_MS, max_ms: 30 * DAY_MS };
        let command = Purge { what, retention: Retention::from_days(30, 30, limits), now: NOW };
        let plan = command.check(state, &Read::new(tx)).unwrap();
        Purge::write(plan, state, tx, &mut Vec::new()).unwrap()
    }

    fn mail(id: u64, sent_at: Option<u64>) -> Mail {
        Mail {
            id,
            to: "a@example.com".into(),
            subject: String::new(),
            body: String::new(),
            created_at: 0,
            sent_at,
            attempts: 0,
            last_error: None,
            last_attempt_at: None,
            link: None,
        }
    }

    fn put_mail(tx: &WriteTransaction, mail: &Mail) {
        MAIL_ID_TO_MAIL.insert(&mut tx.open_table(MAIL_ID_TO_MAIL.definition()).unwrap(), mail.id, mail).unwrap();
        match mail.sent_at {
            Some(at) => indexes::mail_sent(tx, mail.id, at).unwrap(),
            None => indexes::mail_queued(tx, mail.id).unwrap(),
        }
    }

    #[test]
    fn a_purge_deletes_at_most_a_batch_and_never_unsent_or_recent_mail() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path()).unwrap();
        let tx = store.begin_write().unwrap();
        let old = NOW - 31 * DAY_MS;
        for id in 1..=600 {
            put_mail(&tx, &mail(id, Some(old + id)));
        }
        put_mail(&tx, &mail(601, None));
        put_mail(&tx, &mail(602, Some(NOW - DAY_MS)));
        let mut state = Runtime::default();
        assert_eq!(purge(&mut state, &tx, Purgeable::Mail), Purged { met: BATCH, deleted: BATCH });
        assert_eq!(purge(&mut state, &tx, Purgeable::Mail), Purged { met: 100, deleted: 100 });
        assert_eq!(purge(&mut state, &tx, Purgeable::Mail), Purged::default(), "nothing more is due");
        let table = tx.open_table(MAIL_ID_TO_MAIL.definition()).unwrap();
        let left: Vec<u64> = MAIL_ID_TO_MAIL.all(&table).unwrap().into_iter().map(|(id, _)| id).collect();
        assert_eq!(left, [601, 602], "the unsent and the recent mail stay");
        assert_eq!(tx.open_table(PENDING_MAIL_IDS).unwrap().len().unwrap(), 1);
    }

    #[test]
    fn a_session_touched_since_it_was_indexed_stays_and_its_old_entry_goes() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path()).unwrap();
        let tx = store.begin_write().unwrap();
        let session = |seen| Session {
            user: UserId(1),
            created_at: NOW - 3 * DAY_MS,
            last_seen_at: seen,
            csrf: String::new(),
            address: String::new(),
        };
        let (idle, live) = ([1u8; 32], [2u8; 32]);
        {
            let mut table = tx.open_table(SESSION_HASH_TO_SESSION.definition()).unwrap();
            SESSION_HASH_TO_SESSION.insert(&mut table, idle, &session(NOW - 2 * DAY_MS)).unwrap();
            SESSION_HASH_TO_SESSION.insert(&mut table, live, &session(NOW - 10)).unwrap();
        }
        indexes::session_seen(&tx, idle, None, NOW - 2 * DAY_MS).unwrap();
        // An entry left from before a touch (the live session was seen since).
        indexes::session_seen(&tx, live, None, NOW - 2 * DAY_MS).unwrap();
        let mut state = Runtime::default();
        assert_eq!(purge(&mut state, &tx, Purgeable::Sessions), Purged { met: 2, deleted: 1 });
        let table = tx.open_table(SESSION_HASH_TO_SESSION.definition()).unwrap();
        assert!(SESSION_HASH_TO_SESSION.get(&table, idle).unwrap().is_none());
        assert!(SESSION_HASH_TO_SESSION.get(&table, live).unwrap().is_some(), "a live session is never deleted");
        assert_eq!(tx.open_table(SEEN_AT_SESSION_HASHES).unwrap().len().unwrap(), 0);
    }

    #[test]
    fn expired_links_go_and_a_live_one_under_a_stale_entry_is_kept_and_moved() {
        use crate::domain::secret::{LINK_TTL_MS, Link, LinkKind, LinkState};
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path()).unwrap();
        let tx = store.begin_write().unwrap();
        let link = |created_at| Link { kind: LinkKind::Reset, user: UserId(1), created_at, state: LinkState::Used };
        let (expired, live) = ([1u8; 32], [2u8; 32]);
        {
            let mut table = tx.open_table(LINK_HASH_TO_LINK.definition()).unwrap();
            LINK_HASH_TO_LINK.insert(&mut table, expired, &link(NOW - LINK_TTL_MS - 1)).unwrap();
            LINK_HASH_TO_LINK.insert(&mut table, live, &link(NOW - 10)).unwrap();
        }
        indexes::link_opened(&tx, expired, NOW - 1).unwrap();
        // As if indexed by a version whose links lasted a day.
        indexes::link_opened(&tx, live, NOW - 10).unwrap();
        let mut state = Runtime::default();
        assert_eq!(purge(&mut state, &tx, Purgeable::Links), Purged { met: 2, deleted: 1 });
        let table = tx.open_table(LINK_HASH_TO_LINK.definition()).unwrap();
        assert!(LINK_HASH_TO_LINK.get(&table, expired).unwrap().is_none());
        assert!(LINK_HASH_TO_LINK.get(&table, live).unwrap().is_some(), "a live link is never deleted");
        let index = tx.open_table(EXPIRES_AT_LINK_HASHES).unwrap();
        let keys: Vec<HashKey> = index.iter().unwrap().map(|row| row.unwrap().0.value()).collect();
        assert_eq!(keys, [(NOW - 10 + LINK_TTL_MS, live)]);
        drop((table, index));
        assert_eq!(purge(&mut state, &tx, Purgeable::Links), Purged::default());
    }
}
