//! Recording through an interned call site (`crate::interned`): what `perf_sample!` and
//! `operation!` call. The record carries the site id, the numbers and only the run-time strings;
//! the drain expands it to the standard record.

use super::{RecordError, Recorder};
use crate::clock::Clock;
use crate::codec::{List, Writer};
use crate::event_type::Visibility;
use crate::events::{AgentOperation, CorrelationHints, PerfSample, TimeWindow};
use crate::interned::{OpArgs, OpMeta, PerfArgs, PerfMeta, Site, SiteMeta, INTERNED_TYPE_BYTE};
use crate::limits::TokenBucket;
use crate::record::{write_record, EventHeader, FRAMING_LEN, MAX_PAYLOAD_LEN};
use crate::ring::Refusal;

impl Recorder {
    /// Records a `perf_sample` through its call site (what `perf_sample!` calls). `meta` must
    /// be the site's own; otherwise, or when the site table is full, the standard record is
    /// written instead. Same limits, counters and hot-path rules as [`Recorder::record`]; the
    /// payload limit applies to the standard record's size (what is stored).
    #[doc(hidden)]
    #[inline(always)]
    pub fn record_perf<const N: usize>(
        &self,
        site: &'static Site,
        meta: &'static PerfMeta,
        args: &PerfArgs<'_, N>,
        value: f64,
    ) -> Result<(), RecordError> {
        let id = match (site.id(), site.meta()) {
            (Some(id), SiteMeta::Perf(m)) if core::ptr::eq(m, meta) => id,
            _ => return self.record_perf_standard(args, value),
        };
        let mut producer = self.producer()?;
        let inner = self.inner();
        if !inner.sampler.keeps_all() && !self.sample() {
            producer.count(Refusal::SampledOut);
            return Err(RecordError::Refused(Refusal::SampledOut));
        }
        let standard = args.standard_len();
        if !inner.payload_limit.allows(standard) || standard > MAX_PAYLOAD_LEN {
            producer.count(Refusal::Oversize);
            return Err(RecordError::Refused(Refusal::Oversize));
        }
        let len = args.ring_len(meta);
        let ticks = inner.clock.now_ticks();
        let header =
            EventHeader::with_type_byte(INTERNED_TYPE_BYTE, Visibility::Public, ticks, 0, 0, len);
        producer
            .push_with(FRAMING_LEN + len, |out| {
                write_record(out, &header, |dst| {
                    let mut w = Writer::new(dst);
                    args.encode(meta, id, value, &mut w);
                    // Sized by the same args: cannot overflow; if it ever did, the record
                    // would fail its own expansion rather than corrupt the ring.
                    let _ = w.finish(len);
                })
            })
            .map_err(RecordError::from)
    }

    /// [`Recorder::record_perf`] after taking a token from `bucket` (`perf_sample!(rate = n; ...)`).
    #[doc(hidden)]
    #[inline]
    pub fn record_perf_limited<const N: usize>(
        &self,
        bucket: &TokenBucket,
        site: &'static Site,
        meta: &'static PerfMeta,
        args: &PerfArgs<'_, N>,
        value: f64,
    ) -> Result<(), RecordError> {
        let clock = &self.inner().clock;
        let now_ns = clock.ticks_to_nanos(clock.now_ticks());
        if !bucket.try_acquire(now_ns) {
            self.count(Refusal::RateLimited)?;
            return Err(RecordError::Refused(Refusal::RateLimited));
        }
        self.record_perf(site, meta, args, value)
    }

    /// The standard record of a `perf_sample!` call (site table full).
    #[cold]
    #[inline(never)]
    fn record_perf_standard<const N: usize>(
        &self,
        args: &PerfArgs<'_, N>,
        value: f64,
    ) -> Result<(), RecordError> {
        self.record(
            0,
            Visibility::Public,
            &PerfSample {
                metric_name: args.name,
                dimensions: List::Slice(&args.dims),
                value,
                unit: args.unit,
                timestamp_window: TimeWindow { start: 0, end: 0 },
                correlation_hints: CorrelationHints::NONE,
            },
        )
    }

    /// Records an `agent_operation` through its call site (an `operation!` guard's drop). The
    /// record is stamped with `end_ticks` (the guard's second clock read: no third one) and
    /// carries `start_ticks`; the drain converts the difference to `duration_ns`, so no float
    /// arithmetic runs here. `meta` must be the site's own; otherwise, or when the site table
    /// is full, the standard record is written instead (its duration converted here).
    #[doc(hidden)]
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub fn record_op(
        &self,
        site: &'static Site,
        meta: &'static OpMeta,
        start_ticks: u64,
        end_ticks: u64,
        agent_id: u64,
        session_id: u64,
        operation_id: u64,
        args: &OpArgs<'_>,
    ) -> Result<(), RecordError> {
        let id = match (site.id(), site.meta()) {
            (Some(id), SiteMeta::Operation(m)) if core::ptr::eq(m, meta) => id,
            // The strings go by value: the hot path need not build an `OpArgs` in memory for
            // this cold call.
            _ => {
                return self.record_op_standard(
                    [agent_id, session_id, operation_id],
                    end_ticks.wrapping_sub(start_ticks),
                    args.operation_type,
                    args.target_type,
                    args.target_id,
                    args.failed,
                )
            }
        };
        let mut producer = self.producer()?;
        let inner = self.inner();
        if !inner.sampler.keeps_all() && !self.sample() {
            producer.count(Refusal::SampledOut);
            return Err(RecordError::Refused(Refusal::SampledOut));
        }
        let standard = args.standard_len();
        if !inner.payload_limit.allows(standard) || standard > MAX_PAYLOAD_LEN {
            producer.count(Refusal::Oversize);
            return Err(RecordError::Refused(Refusal::Oversize));
        }
        let len = args.ring_len(meta);
        let header = EventHeader::with_type_byte(
            INTERNED_TYPE_BYTE,
            Visibility::Public,
            end_ticks,
            agent_id,
            0,
            len,
        );
        let nums = [session_id, operation_id, start_ticks];
        producer
            .push_with(FRAMING_LEN + len, |out| {
                write_record(out, &header, |dst| args.encode(meta, id, nums, dst))
            })
            .map_err(RecordError::from)
    }

    /// The standard record of an operation (site table full).
    #[cold]
    #[inline(never)]
    fn record_op_standard(
        &self,
        [agent_id, session_id, operation_id]: [u64; 3],
        ticks: u64,
        operation_type: &str,
        target_type: &str,
        target_id: &str,
        failed: bool,
    ) -> Result<(), RecordError> {
        let duration_ns = self.inner().clock.ticks_to_nanos(ticks) as i64;
        self.record(
            agent_id,
            Visibility::Public,
            &AgentOperation {
                session_id,
                operation_type,
                operation_id,
                target_type,
                target_id,
                status: if failed { "failed" } else { "completed" },
                duration_ns: Some(duration_ns),
                metadata: List::EMPTY,
            },
        )
    }
}
