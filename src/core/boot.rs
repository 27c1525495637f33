//! The boot journal: each start and clean stop is recorded, so a start after a crash is told apart
//! from one after a clean stop (and the operator is told).

use redb::WriteTransaction;

use super::{ApplyError, Command, Event, Read, Rejection, Runtime, WriteError};
use crate::store::BootRecord;
use crate::store::tables::BOOT_SEQ_TO_RECORD;

/// Records that the server started.
pub struct RecordStart {
    pub version: String,
    pub at: u64,
}

/// This start's number, and the start before it (whose `stopped_at` is `None` after a crash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartReport {
    pub seq: u64,
    pub previous: Option<BootRecord>,
}

impl Command<Runtime, Event> for RecordStart {
    type Output = StartReport;
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

impl RecordStart {
    fn apply(
        self,
        state: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<StartReport, ApplyError> {
        let mut table = tx.open_table(BOOT_SEQ_TO_RECORD.definition())?;
        let previous = BOOT_SEQ_TO_RECORD.get(&table, state.last_boot)?;
        let seq = state.last_boot + 1;
        let record = BootRecord { version: self.version, started_at: self.at, stopped_at: None };
        BOOT_SEQ_TO_RECORD.insert(&mut table, seq, &record)?;
        state.last_boot = seq;
        events.push(Event::ServerStarted { seq });
        Ok(StartReport { seq, previous })
    }
}

/// Records that the start numbered `seq` stopped cleanly.
pub struct RecordStop {
    pub seq: u64,
    pub at: u64,
}

impl Command<Runtime, Event> for RecordStop {
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

impl RecordStop {
    fn apply(self, _state: &mut Runtime, tx: &WriteTransaction, _events: &mut Vec<Event>) -> Result<(), ApplyError> {
        let mut table = tx.open_table(BOOT_SEQ_TO_RECORD.definition())?;
        let mut record = BOOT_SEQ_TO_RECORD
            .get(&table, self.seq)?
            .ok_or_else(|| Rejection::not_found("start_not_found", "no such start record"))?;
        record.stopped_at = Some(self.at);
        BOOT_SEQ_TO_RECORD.insert(&mut table, self.seq, &record)?;
        Ok(())
    }
}
