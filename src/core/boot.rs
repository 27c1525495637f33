//! The boot journal: each start and clean stop is recorded, so a start after a crash is told apart
//! from one after a clean stop (and the operator is told).

use redb::WriteTransaction;

use super::{ApplyError, Command, Event, Read, Rejection, Runtime, Tables, WriteError};
use crate::domain::error_code::ErrorCode;
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

/// The next start's number and record, and the start before it.
pub struct StartPlan {
    report: StartReport,
    record: BootRecord,
}

impl Command<Runtime, Event> for RecordStart {
    type Output = StartReport;
    type Plan = StartPlan;

    fn check(self, state: &Runtime, read: &Read<'_>) -> Result<StartPlan, ApplyError> {
        let previous = BOOT_SEQ_TO_RECORD.get(&read.table(BOOT_SEQ_TO_RECORD.definition())?, state.last_boot)?;
        let report = StartReport { seq: state.last_boot + 1, previous };
        Ok(StartPlan { report, record: BootRecord { version: self.version, started_at: self.at, stopped_at: None } })
    }

    fn write(
        plan: StartPlan,
        state: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<StartReport, WriteError> {
        let seq = plan.report.seq;
        BOOT_SEQ_TO_RECORD.insert(&mut tx.open_table(BOOT_SEQ_TO_RECORD.definition())?, seq, &plan.record)?;
        state.last_boot = seq;
        events.push(Event::ServerStarted { seq });
        Ok(plan.report)
    }
}

/// Records that the start numbered `seq` stopped cleanly.
pub struct RecordStop {
    pub seq: u64,
    pub at: u64,
}

impl Command<Runtime, Event> for RecordStop {
    type Output = ();
    /// The start's number and its record, stopped.
    type Plan = (u64, BootRecord);

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<(u64, BootRecord), ApplyError> {
        let record = BOOT_SEQ_TO_RECORD
            .get(&read.table(BOOT_SEQ_TO_RECORD.definition())?, self.seq)?
            .ok_or_else(|| Rejection::not_found(ErrorCode::StartNotFound, "no such start record"))?;
        Ok((self.seq, BootRecord { stopped_at: Some(self.at), ..record }))
    }

    fn write(
        plan: (u64, BootRecord),
        _: &mut Runtime,
        tx: &WriteTransaction,
        _: &mut Vec<Event>,
    ) -> Result<(), WriteError> {
        let (seq, record) = plan;
        BOOT_SEQ_TO_RECORD.insert(&mut tx.open_table(BOOT_SEQ_TO_RECORD.definition())?, seq, &record)?;
        Ok(())
    }
}
