//! The scope guard behind [`operation!`](crate::operation).

use crate::codec::List;
use crate::events::AgentOperation;
use crate::interned::{OpArgs, OpMeta, Site};
use crate::recorder::Recorder;
use crate::Visibility;

/// Records an `agent_operation` with its duration when dropped.
#[must_use = "the operation is recorded when the guard is dropped; bind it to a variable"]
#[derive(Debug)]
pub struct OperationGuard<'a> {
    recorder: &'a Recorder,
    start_ticks: u64,
    agent_id: u64,
    session_id: u64,
    operation_id: u64,
    operation_type: &'a str,
    target_type: &'a str,
    target_id: &'a str,
    failed: bool,
    /// The `operation!` call site and its strings: the record is interned (`crate::interned`).
    site: Option<(&'static Site, &'static OpMeta)>,
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
            operation_id: recorder.next_operation_id(),
            operation_type,
            target_type,
            target_id,
            failed: false,
            site: None,
        }
    }

    /// Starts timing an operation of an interned call site (what `operation!` calls): its
    /// record carries the site id instead of the site's literal strings, and its start and end
    /// clock ticks instead of a duration (the drain converts them). `meta` is the site's own
    /// strings (a mismatch records the standard record instead).
    #[doc(hidden)]
    #[inline(always)]
    pub fn start_interned(
        recorder: &'a Recorder,
        site: (&'static Site, &'static OpMeta),
        agent_id: u64,
        session_id: u64,
        operation_type: &'a str,
        target_type: &'a str,
        target_id: &'a str,
    ) -> Self {
        let mut g = Self::start(
            recorder,
            agent_id,
            session_id,
            operation_type,
            target_type,
            target_id,
        );
        g.site = Some(site);
        g
    }

    /// Marks the operation as failed.
    pub fn fail(&mut self) {
        self.failed = true;
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
        let end = self.recorder.now_ticks();
        if let Some((site, meta)) = self.site {
            let _ = self.recorder.record_op(
                site,
                meta,
                self.start_ticks,
                end,
                self.agent_id,
                self.session_id,
                self.operation_id,
                &OpArgs {
                    operation_type: self.operation_type,
                    target_type: self.target_type,
                    target_id: self.target_id,
                    failed: self.failed,
                },
            );
            return;
        }
        let ticks = end.wrapping_sub(self.start_ticks);
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
                status: if self.failed { "failed" } else { "completed" },
                duration_ns: Some(duration_ns),
                metadata: List::EMPTY,
            },
        );
    }
}

pub use crate::DisabledGuard;

#[cfg(test)]
mod tests {
    use super::OperationGuard;
    use crate::recorder::{Recorder, RecorderConfig};
    use std::vec::Vec;

    /// Each thread's first operation used to take its id before the thread claimed a ring, so
    /// every thread's first operation had id 1.
    #[test]
    fn first_operations_of_different_threads_get_different_ids() {
        let recorder = Recorder::new(RecorderConfig {
            rings: 4,
            ring_bytes: 4096,
            ..Default::default()
        })
        .unwrap();
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let r = recorder.clone();
                std::thread::spawn(move || {
                    let first = OperationGuard::start(&r, 1, 1, "get", "t", "k").operation_id();
                    let second = OperationGuard::start(&r, 1, 1, "get", "t", "k").operation_id();
                    (first, second)
                })
            })
            .collect();
        let ids: Vec<(u64, u64)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let mut all: Vec<u64> = ids.iter().flat_map(|&(a, b)| [a, b]).collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 6, "operation ids collide: {ids:?}");
        for (first, second) in ids {
            assert_eq!(
                second,
                first + 1,
                "one thread's ids count up from its first"
            );
        }
    }
}
