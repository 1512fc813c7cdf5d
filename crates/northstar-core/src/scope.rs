//! The scope guard behind [`operation!`](crate::operation).

use crate::codec::List;
use crate::events::AgentOperation;
use crate::recorder::{next_operation_id, Recorder};
use crate::Visibility;

/// Records an `agent_operation` with its duration when dropped.
#[must_use = "the operation is recorded when the guard is dropped; bind it to a variable"]
pub struct OperationGuard<'a> {
    recorder: &'a Recorder,
    start_ticks: u64,
    agent_id: u64,
    session_id: u64,
    operation_id: u64,
    operation_type: &'a str,
    target_type: &'a str,
    target_id: &'a str,
    status: &'static str,
}

impl<'a> OperationGuard<'a> {
    /// Starts timing an operation.
    #[inline(always)]
    pub fn start(
        recorder: &'a Recorder,
        agent_id: u64,
        session_id: u64,
        operation_type: &'a str,
        target_type: &'a str,
        target_id: &'a str,
    ) -> Self {
        Self {
            recorder,
            start_ticks: recorder.now_ticks(),
            agent_id,
            session_id,
            operation_id: next_operation_id(),
            operation_type,
            target_type,
            target_id,
            status: "completed",
        }
    }

    /// Marks the operation as failed.
    pub fn fail(&mut self) {
        self.status = "failed";
    }

    /// The operation id recorded with it.
    pub fn operation_id(&self) -> u64 {
        self.operation_id
    }
}

impl Drop for OperationGuard<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        use crate::clock::Clock;
        let ticks = self.recorder.now_ticks().wrapping_sub(self.start_ticks);
        let duration_ns = self.recorder.clock().ticks_to_nanos(ticks) as i64;
        let _ = self.recorder.record(
            self.agent_id,
            Visibility::Public,
            &AgentOperation {
                session_id: self.session_id,
                operation_type: self.operation_type,
                operation_id: self.operation_id,
                target_type: self.target_type,
                target_id: self.target_id,
                status: self.status,
                duration_ns: Some(duration_ns),
                metadata: List::EMPTY,
            },
        );
    }
}

pub use crate::DisabledGuard;
