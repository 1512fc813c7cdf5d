//! The firmware's recording handle: the ring's one producer plus the firmware's clock.

use northstar_core::clock::Clock;
use northstar_core::events::{
    AgentOperation, CorrelationHints, DebugSnapshot, PerfSample, StackFrame, TimeWindow,
};
use northstar_core::ring::Producer;
use northstar_core::{Payload, PushError, Visibility};

/// Records events into one ring, stamping them with the firmware's clock.
///
/// Owns the ring's [`Producer`], so there is exactly one `Telemetry` per ring. Every method
/// returns the ring's verdict: `Err(PushError::Full)` means the event was dropped *and counted*
/// in the ring's `dropped_full` counter; nothing is ever lost silently, nothing blocks.
pub struct Telemetry<'r, C: Clock> {
    producer: Producer<'r>,
    clock: &'r C,
    actor_id: u64,
}

impl<'r, C: Clock> Telemetry<'r, C> {
    /// A recorder writing through `producer`, timed by `clock`, with `actor_id` in every header.
    pub fn new(producer: Producer<'r>, clock: &'r C, actor_id: u64) -> Self {
        Self {
            producer,
            clock,
            actor_id,
        }
    }

    /// The clock (callers read ticks from it to measure spans).
    pub fn clock(&self) -> &'r C {
        self.clock
    }

    /// Records any payload at `ticks` (raw clock ticks, as ring records carry).
    #[inline]
    pub fn record_at<'p, P: Payload<'p>>(
        &mut self,
        ticks: u64,
        payload: &P,
    ) -> Result<(), PushError> {
        self.producer
            .record(ticks, self.actor_id, Visibility::Team, payload)
    }

    /// A `perf_sample` covering the ticks `window_start..now`, stamped `now`.
    pub fn perf_sample(
        &mut self,
        now: u64,
        window_start: u64,
        metric_name: &str,
        dimensions: &[(&str, &str)],
        value: f64,
        unit: &str,
    ) -> Result<(), PushError> {
        let window = TimeWindow {
            start: self.unix_ns(window_start),
            end: self.unix_ns(now),
        };
        self.record_at(
            now,
            &PerfSample {
                metric_name,
                dimensions: dimensions.into(),
                value,
                unit,
                timestamp_window: window,
                correlation_hints: CorrelationHints::NONE,
            },
        )
    }

    /// A completed `agent_operation` that started at `started` ticks and ends now; its
    /// `duration_ns` is measured with the clock. Returns the end tick with the verdict.
    #[allow(clippy::too_many_arguments)]
    pub fn operation_done(
        &mut self,
        started: u64,
        session_id: u64,
        operation_type: &str,
        operation_id: u64,
        target_type: &str,
        target_id: &str,
        metadata: &[(&str, &str)],
    ) -> (u64, Result<(), PushError>) {
        let now = self.clock.now_ticks();
        let duration = self.clock.ticks_to_nanos(now.wrapping_sub(started));
        let verdict = self.record_at(
            now,
            &AgentOperation {
                session_id,
                operation_type,
                operation_id,
                target_type,
                target_id,
                status: "completed",
                duration_ns: Some(i64::try_from(duration).unwrap_or(i64::MAX)),
                metadata: metadata.into(),
            },
        );
        (now, verdict)
    }

    /// A `debug_snapshot` of the current context, stamped `now`.
    #[allow(clippy::too_many_arguments)]
    pub fn snapshot(
        &mut self,
        now: u64,
        session_id: u64,
        snapshot_id: u64,
        reason: &str,
        thread_id: u64,
        frames: &[StackFrame<'_>],
        variables: &[(&str, &str)],
    ) -> Result<(), PushError> {
        self.record_at(
            now,
            &DebugSnapshot {
                session_id,
                snapshot_id,
                reason,
                thread_id,
                frames: frames.into(),
                variables: variables.into(),
            },
        )
    }

    fn unix_ns(&self, ticks: u64) -> i64 {
        i64::try_from(self.clock.ticks_to_unix_nanos(ticks)).unwrap_or(i64::MAX)
    }
}
