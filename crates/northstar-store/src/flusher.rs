//! The flusher thread: drains every ring in place and copies records into checksummed
//! blocks at memory speed; a writer thread (`writer.rs`) appends the blocks, rolls segments
//! and syncs, behind a bounded buffer (`pipe.rs`), so the drain never waits on the disk.
//!
//! Per record it does one framing check (for the timestamp), one copy and a few header
//! reads for the index summary; payloads are never decoded here (session filters are built
//! by the indexer thread when a segment is sealed). Blocks are cut at [`BLOCK_TARGET`], when
//! a flush is requested, or when the open block is `flush_interval` old; readers see new
//! blocks once the writer has written them, within `flush_interval` of their recording.

use std::sync::Arc;
use std::time::{Duration, Instant};

use northstar_core::record::{decode_record, RecordView};
use northstar_core::recorder::Recorder;

use crate::block::BlockBuilder;
use crate::clock::unix_now_ns;
use crate::control::FlushControl;
use crate::error::{RecordOrigin, Result, StoreError};
use crate::format::SEGMENT_HEADER_LEN;
use crate::pipe::{Finished, Msg, Pipe};
use crate::writer::{PanicGuard, Writer};

/// A block is cut once its body reaches this size (or has waited `flush_interval`).
pub const BLOCK_TARGET: usize = 256 << 10;
/// Bytes taken from each ring per pass when no flush is waiting: bounds the time between
/// looks at the control state without starving any ring.
const IDLE_PASS_BYTES: usize = 1 << 20;
/// A pass that takes this much from the rings finds them filling faster than they are
/// drained: the writer then yields to the flusher (`Pipe::writer_should_yield`).
const BEHIND_PASS_BYTES: usize = 512 << 10;
/// First sleep after the rings run dry; doubled on each empty pass up to [`MAX_IDLE_SLEEP`]
/// (or `flush_interval` if shorter), so a burst after a quiet spell waits little.
const MIN_IDLE_SLEEP: Duration = Duration::from_micros(20);
/// Longest idle sleep: a default 32 MiB ring holds about 35 ms of 95-byte events at
/// 10 M events/s (a 4 MiB ring, 32-bit targets' default, about 4 ms), so the flusher looks
/// well within that.
const MAX_IDLE_SLEEP: Duration = Duration::from_millis(1);
/// A round that takes less than this from the rings (but not nothing) is followed by a
/// [`MIN_IDLE_SLEEP`] instead of another pass at once: at moderate rates, passing again
/// at once takes a few KiB per pass, and the pass's fixed cost (a look at every ring, a
/// clock reading, the control state) added up: the sleep took a third off the flusher's
/// CPU at 5 M/s (docs/PERFORMANCE.md, "The flusher polled"). A ring holds milliseconds of events even at
/// 10 M/s, so the sleep costs none; a round over it passes again at once.
const TRICKLE_PASS_BYTES: usize = 64 << 10;

/// The segment the flusher is filling, as planned: the writer creates it and writes its
/// blocks in order, so their offsets and sequence numbers follow from what was sent.
struct Planned {
    /// Bytes sent for it (header and blocks).
    len: u64,
    created_unix_ns: u64,
    next_seq: u32,
}

/// Block building state owned by the flusher thread.
pub(crate) struct FlushCore {
    max_bytes: u64,
    max_age_ns: u64,
    pipe: Arc<Pipe>,
    seg: Option<Planned>,
    builder: BlockBuilder,
    /// Imported records in the open block.
    block_imports: u64,
    last_lost: u64,
    /// When the open block got its first record.
    block_started: Option<Instant>,
    /// Longest a drained record waits in the open block.
    max_delay: Duration,
    /// User-event definitions written into the open block (crate::interning).
    defs: crate::interning::BlockDefinitions,
    /// The open block's interned call sites (crate::sites).
    sites: crate::block_sites::BlockSites,
    /// Scratch for expanding interned `perf_sample!`/`operation!` ring records.
    expanded: Vec<u8>,
    /// Interned ring records that could not be expanded (counted as dropped).
    unexpanded: u64,
}

impl FlushCore {
    pub(crate) fn new(
        pipe: Arc<Pipe>,
        max_bytes: u64,
        max_age: Duration,
        lost_at_start: u64,
        max_delay: Duration,
    ) -> Self {
        Self {
            max_bytes: max_bytes.max(SEGMENT_HEADER_LEN as u64 + 1),
            max_age_ns: u64::try_from(max_age.as_nanos()).unwrap_or(u64::MAX),
            pipe,
            seg: None,
            builder: BlockBuilder::new(),
            block_imports: 0,
            last_lost: lost_at_start,
            block_started: None,
            max_delay,
            defs: crate::interning::BlockDefinitions::for_process(),
            sites: crate::block_sites::BlockSites::default(),
            expanded: Vec::new(),
            unexpanded: 0,
        }
    }

    fn should_roll(&self, a: &Planned, now: u64) -> bool {
        (a.len >= self.max_bytes && a.len > SEGMENT_HEADER_LEN as u64)
            || now.saturating_sub(a.created_unix_ns) >= self.max_age_ns
            || a.next_seq >= u32::MAX - 1
    }

    /// Makes sure a segment with room is planned before a new block starts.
    fn ensure_active(&mut self) {
        let now = unix_now_ns();
        if self.seg.as_ref().is_some_and(|a| self.should_roll(a, now)) {
            self.seal();
        }
        if self.seg.is_none() {
            self.pipe.send(Msg::Create {
                created_unix_ns: now,
            });
            self.seg = Some(Planned {
                len: SEGMENT_HEADER_LEN as u64,
                created_unix_ns: now,
                next_seq: 0,
            });
        }
    }

    /// Stores the records queued by `record_event_at` (already stamped in Unix ns) in blocks
    /// of their own, so their timestamps, often far from now, do not widen the time range of
    /// the blocks holding live events. Returns how many were stored.
    pub(crate) fn import(&mut self, records: &[u8]) -> Result<usize> {
        if records.is_empty() {
            return Ok(0);
        }
        if self.builder.record_count() > 0 {
            self.cut(0);
        }
        let mut n = 0;
        for r in northstar_core::record::records(records) {
            let r = r.map_err(|(at, e)| StoreError::MalformedRecord {
                origin: RecordOrigin::Import,
                at: Some(at),
                source: e,
            })?;
            // Counted before the push, which may cut the block with this record in it.
            self.block_imports += 1;
            self.push(&r, r.timestamp())?;
            n += 1;
        }
        if self.builder.record_count() > 0 {
            self.cut(0);
        }
        Ok(n)
    }

    /// Copies one record (already checked by the drain loop) into the current block with
    /// its Unix timestamp and its sequence number in the segment. This is the per-record copy
    /// path: keep it a plain function of one record.
    #[inline]
    pub(crate) fn push(&mut self, record: &RecordView<'_>, unix_ts: u64) -> Result<()> {
        let seq = self.next_seq()?;
        // --- interning hook: a user event's definition goes first into each block ---
        if !self
            .defs
            .before_record(&mut self.builder, record, unix_ts, seq)
            .map_err(|e| StoreError::BlockRefused(e.into()))?
        {
            return Ok(());
        }
        // --- end of hook ---
        self.builder
            .push_view(record, unix_ts, seq)
            .map_err(|e| StoreError::BlockRefused(e.into()))?;
        self.record_pushed();
        Ok(())
    }

    /// The sequence number of the record about to go into the block (starting the block, and
    /// planning a segment, if need be).
    #[inline]
    fn next_seq(&mut self) -> Result<u32> {
        if self.builder.record_count() == 0 {
            self.ensure_active();
            self.block_started = Some(Instant::now());
        }
        match self.seg.as_ref() {
            Some(a) => Ok(a.next_seq),
            None => Err(StoreError::BlockRefused("no active segment".into())),
        }
    }

    /// After a record went into the block: counts it and cuts a full block.
    #[inline]
    fn record_pushed(&mut self) {
        let Some(a) = self.seg.as_mut() else {
            return;
        };
        a.next_seq += 1;
        let room = self.max_bytes.saturating_sub(a.len) as usize;
        if self.builder.body_len() >= BLOCK_TARGET.min(room) || a.next_seq >= u32::MAX - 1 {
            self.cut(0);
        }
    }

    /// Stores an interned `perf_sample!`/`operation!` ring record in its compact form, after
    /// its call site's definition if the open block has not got it (docs/DESIGN.md,
    /// "Interned spec call sites"; crate::sites): about a third of the standard record's
    /// bytes, and no re-encoding here. When the compact form would expand beyond the bound
    /// readers enforce (`sites::MAX_EXPANSION`), the standard record is stored instead. A
    /// record that cannot be expanded (unknown site, malformed) is skipped and counted as
    /// dropped in the next block, never stored wrongly.
    #[inline]
    pub(crate) fn push_interned(
        &mut self,
        record: &[u8],
        conv: &northstar_core::clock::TickConverter,
    ) -> Result<()> {
        let Ok(interned) = northstar_core::__private::interned::Interned::parse(record) else {
            self.unexpanded += 1;
            return Ok(());
        };
        let unix_ts = conv.unix_nanos(interned.timestamp());
        let seq = self.next_seq()?;
        // An operation's duration is converted here, from its start and end ticks, at this
        // pass's rate (the guard records ticks only).
        let stored = self
            .sites
            .push(&mut self.builder, &interned, unix_ts, seq, |t| {
                conv.nanos(t)
            })
            .map_err(|e| StoreError::BlockRefused(e.into()))?;
        if !stored {
            return self.push_expanded(&interned, unix_ts, conv);
        }
        self.record_pushed();
        Ok(())
    }

    /// Stores the standard record an interned ring record stands for (the fallback of
    /// [`push_interned`](Self::push_interned)).
    #[cold]
    fn push_expanded(
        &mut self,
        interned: &northstar_core::__private::interned::Interned<'_>,
        unix_ts: u64,
        conv: &northstar_core::clock::TickConverter,
    ) -> Result<()> {
        let mut buf = std::mem::take(&mut self.expanded);
        if buf.len() < interned.record_len() {
            buf.resize(interned.record_len(), 0);
        }
        let result = match interned.write_record(&mut buf, |ticks| conv.nanos(ticks)) {
            Ok(n) => match decode_record(&buf[..n]) {
                Ok(view) => self.push(&view, unix_ts),
                Err(_) => {
                    self.unexpanded += 1;
                    Ok(())
                }
            },
            Err(_) => {
                self.unexpanded += 1;
                Ok(())
            }
        };
        self.expanded = buf;
        result
    }

    /// Finishes the open block (with `dropped` events counted since the previous one) and
    /// hands it to the writer.
    fn cut(&mut self, dropped: u64) {
        let Some(a) = self.seg.as_mut() else {
            return;
        };
        // interning hook: user records skipped for want of a schema count as dropped.
        let dropped = dropped + self.defs.take_skipped() + std::mem::take(&mut self.unexpanded);
        self.builder.finish(dropped, unix_now_ns());
        let records = u64::from(self.builder.record_count());
        let (bytes, summary) = self.builder.take_finished(self.pipe.buffer());
        self.defs.block_cut(); // interning hook: the next block defines its own schemas
        self.sites.block_cut(); // and its own interned call sites
        a.len += bytes.len() as u64;
        let imports = std::mem::take(&mut self.block_imports);
        self.block_started = None;
        self.pipe.send(Msg::Block(Box::new(Finished {
            bytes,
            summary,
            ring_records: records.saturating_sub(imports),
            imports,
            dropped,
        })));
    }

    /// After a drain pass: cuts the open block when a flush is waiting or the block has waited
    /// `max_delay` (full blocks are cut as records are added), with the drops counted since
    /// the previous block; rolls an old segment. `lost` reads the rings' drop counters (only
    /// when a block is cut: it is a walk over every slot).
    pub(crate) fn after_pass(&mut self, lost: impl FnOnce() -> u64, flushing: bool) {
        let aged = self
            .block_started
            .is_some_and(|t| t.elapsed() >= self.max_delay);
        // Not when the rings merely ran dry: under a steady trickle that cut a block every few
        // records, and each cut republished the active segment's growing index (quadratic
        // copying: 5.9 GB in a 3 s demo). Readers still see new events within `max_delay`.
        let cut_now = flushing || aged;
        if cut_now {
            let lost_total = lost();
            let delta = lost_total.saturating_sub(self.last_lost);
            if self.builder.record_count() > 0 || delta > 0 {
                if self.builder.record_count() == 0 {
                    self.ensure_active();
                }
                self.cut(delta);
                self.last_lost = lost_total;
            }
            let now = unix_now_ns();
            if self.seg.as_ref().is_some_and(|a| {
                now.saturating_sub(a.created_unix_ns) >= self.max_age_ns
                    && a.len > SEGMENT_HEADER_LEN as u64
            }) {
                self.seal();
            }
        }
    }

    /// Cuts the open block and asks the writer to seal the segment.
    pub(crate) fn seal(&mut self) {
        if self.builder.record_count() > 0 {
            self.cut(0);
        }
        if self.seg.take().is_some() {
            self.pipe.send(Msg::Seal);
        }
    }
}

/// The thread body: starts the writer thread, drains until shutdown, then drains everything,
/// seals, and waits for the writer to finish.
pub(crate) fn run(
    shared: Arc<FlushControl>,
    recorder: Recorder,
    mut core: FlushCore,
    writer: Writer,
    interval: Duration,
) {
    let Some(mut drainer) = recorder.drainer() else {
        shared.stop(Some(Arc::new(StoreError::RecorderTaken)));
        return;
    };
    shared.started();
    let pipe = core.pipe.clone();
    let s = shared.clone();
    let writer = match std::thread::Builder::new()
        .name("northstar-writer".into())
        .spawn(move || {
            let _guard = PanicGuard(s);
            writer.run();
        }) {
        Ok(h) => h,
        Err(e) => {
            shared.stop(Some(Arc::new(StoreError::Spawn {
                thread: "writer",
                source: e,
            })));
            return;
        }
    };
    let clock = recorder.clock();
    let max_sleep = interval.min(MAX_IDLE_SLEEP);
    let mut sleep = Duration::ZERO;
    let mut completed = 0u64;
    let mut spare = Vec::new();
    loop {
        let (ticket, shutdown) = shared.wait_work(completed, sleep);
        let flushing = ticket > completed || shutdown;
        let mut error: Option<StoreError> = None;
        // The buffer to the writer is full: leave the events in the rings (which drop and
        // count them once full) until the writer catches up.
        let mut room = pipe.room();
        if room == 0 {
            room = pipe.wait_room(max_sleep.max(MIN_IDLE_SLEEP));
            if room == 0 {
                sleep = Duration::ZERO;
                continue;
            }
        }
        // Imported records first: a flush waiting covers them too.
        let mut imports = shared.take_imports(std::mem::take(&mut spare));
        let imported = match core.import(&imports) {
            Ok(n) => n,
            Err(e) => {
                error = Some(e);
                0
            }
        };
        imports.clear();
        spare = imports;
        let mut records = 0usize;
        let mut bytes = 0usize;
        loop {
            // One clock reading per pass, not per record.
            let conv = clock.converter();
            let limit = if flushing {
                room
            } else {
                IDLE_PASS_BYTES.min(room)
            };
            let drained = drainer.drain(limit, |_slot, record| {
                if error.is_some() {
                    return;
                }
                if northstar_core::__private::interned::is_interned(record) {
                    if let Err(e) = core.push_interned(record, &conv) {
                        error = Some(e);
                    }
                    return;
                }
                let r = match decode_record(record) {
                    Ok(view) => core.push(&view, conv.unix_nanos(view.timestamp())),
                    Err(e) => Err(StoreError::MalformedRecord {
                        origin: RecordOrigin::Ring,
                        at: None,
                        source: e,
                    }),
                };
                if let Err(e) = r {
                    error = Some(e);
                }
            });
            records += drained.records;
            bytes += drained.bytes;
            pipe.set_drain_behind(drained.bytes >= BEHIND_PASS_BYTES);
            // A flush needs every ring emptied: a pass that took less than its limit from
            // every ring (in all, less than the limit) emptied them.
            if !flushing || drained.bytes < limit || error.is_some() {
                break;
            }
            room = pipe.room();
            while room == 0 {
                room = pipe.wait_room(Duration::from_millis(10));
            }
        }
        let idle = records == 0 && imported == 0;
        if error.is_none() {
            core.after_pass(|| recorder.counters().lost(), flushing);
        }
        if shutdown {
            core.seal();
            pipe.send(Msg::Shutdown);
            let joined = writer.join();
            let error = match (error, joined) {
                (Some(e), _) => Some(Arc::new(e)),
                (None, Err(_)) => Some(Arc::new(StoreError::Panicked { thread: "writer" })),
                (None, Ok(())) => None,
            };
            shared.finish_ticket(ticket, error.clone());
            shared.stop(error);
            return;
        }
        // Sleep longer on each empty round; after a round that found records, pass again at
        // once only if it found many (the rings are filling fast), else after the shortest
        // sleep, so a trickle is taken in batches rather than record by record.
        sleep = if idle {
            (sleep * 2).clamp(MIN_IDLE_SLEEP.min(max_sleep), max_sleep)
        } else if bytes < TRICKLE_PASS_BYTES {
            MIN_IDLE_SLEEP.min(max_sleep)
        } else {
            Duration::ZERO
        };
        if flushing {
            match error {
                // The writer completes the ticket once every block before it is written.
                None => pipe.send(Msg::Flush { ticket }),
                Some(e) => shared.finish_ticket(ticket, Some(Arc::new(e))),
            }
            completed = ticket;
        } else if let Some(e) = error {
            shared.finish_ticket(completed, Some(Arc::new(e)));
        }
    }
}
