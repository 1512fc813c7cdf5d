//! The flusher thread: drains every ring in place, copies records into checksummed blocks,
//! appends them to the active segment, rolls segments by size and age, syncs per policy.
//!
//! Per record it does one framing check (for the timestamp), one copy and a few header
//! reads for the index summary; payloads are never decoded here (session filters are built
//! by the indexer thread when a segment is sealed). Blocks are cut at [`BLOCK_TARGET`], when
//! a flush is requested, or when the open block is `flush_interval` old; readers see new
//! blocks at those points, so within `flush_interval` of their recording.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use northstar_core::record::{decode_record, RecordView};
use northstar_core::recorder::Recorder;

use crate::block::BlockBuilder;
use crate::catalog::{ActiveSnapshot, SealedSegment, SegmentBytes};
use crate::error::{Result, StoreError};
use crate::format::SEGMENT_HEADER_LEN;
use crate::manager::{unix_now_ns, FsyncPolicy, Shared};
use crate::writer::ActiveSegment;

/// A block is cut once its body reaches this size (or has waited `flush_interval`).
pub const BLOCK_TARGET: usize = 256 << 10;
/// Bytes taken from each ring per pass when no flush is waiting: bounds the time between
/// looks at the control state without starving any ring.
const IDLE_PASS_BYTES: usize = 1 << 20;
/// First sleep after the rings run dry; doubled on each empty pass up to [`MAX_IDLE_SLEEP`]
/// (or `flush_interval` if shorter), so a burst after a quiet spell waits little.
const MIN_IDLE_SLEEP: Duration = Duration::from_micros(20);
/// Longest idle sleep: a default 4 MiB ring holds about 4 ms of 95-byte events at
/// 10 M events/s, so the flusher looks well within that.
const MAX_IDLE_SLEEP: Duration = Duration::from_millis(1);

/// Segment writing state owned by the flusher thread.
pub(crate) struct FlushCore {
    dir: PathBuf,
    max_bytes: u64,
    max_age_ns: u64,
    fsync: FsyncPolicy,
    shared: Arc<Shared>,
    active: Option<ActiveSegment>,
    next_id: u32,
    builder: BlockBuilder,
    last_lost: u64,
    last_sync: Instant,
    dirty: bool,
    /// When the open block got its first record.
    block_started: Option<Instant>,
    last_publish: Instant,
    /// Longest a drained record waits in the open block, and longest between publishes.
    max_delay: Duration,
    /// The current pass serves a flush request (or shutdown).
    flushing: bool,
    /// User-event definitions written into the open block (crate::interning).
    defs: crate::interning::BlockDefinitions,
}

impl FlushCore {
    pub(crate) fn new(
        shared: Arc<Shared>,
        max_bytes: u64,
        max_age: Duration,
        fsync: FsyncPolicy,
        next_id: u32,
        lost_at_start: u64,
        max_delay: Duration,
    ) -> Self {
        Self {
            dir: shared.dir.clone(),
            max_bytes: max_bytes.max(SEGMENT_HEADER_LEN as u64 + 1),
            max_age_ns: u64::try_from(max_age.as_nanos()).unwrap_or(u64::MAX),
            fsync,
            shared,
            active: None,
            next_id,
            builder: BlockBuilder::new(),
            last_lost: lost_at_start,
            last_sync: Instant::now(),
            dirty: false,
            block_started: None,
            last_publish: Instant::now(),
            max_delay,
            flushing: false,
            defs: crate::interning::BlockDefinitions::for_process(),
        }
    }

    fn should_roll(&self, a: &ActiveSegment, now: u64) -> bool {
        (a.len >= self.max_bytes && a.len > SEGMENT_HEADER_LEN as u64)
            || now.saturating_sub(a.created_unix_ns) >= self.max_age_ns
            || a.next_seq >= u32::MAX - 1
    }

    /// Makes sure a segment with room is active before a new block starts.
    fn ensure_active(&mut self) -> Result<()> {
        let now = unix_now_ns();
        if self
            .active
            .as_ref()
            .is_some_and(|a| self.should_roll(a, now))
        {
            self.seal()?;
        }
        if self.active.is_none() {
            let id = self.next_id;
            if id == u32::MAX {
                return Err(StoreError::Refused("segment ids exhausted".into()));
            }
            let durable = self.fsync != FsyncPolicy::None;
            // Readers (verify) learn of the segment before it exists, and of its bytes only
            // once they are whole.
            self.shared.publish_horizon(id, 0);
            let a = ActiveSegment::create(&self.dir, id, now, durable)?;
            self.shared.publish_horizon(id, a.len);
            self.active = Some(a);
            self.next_id = id + 1;
        }
        Ok(())
    }

    /// Stores the records queued by `record_event_at` (already stamped in Unix ns) in blocks
    /// of their own, so their timestamps, often far from now, do not widen the time range of
    /// the blocks holding live events. Returns how many were stored.
    pub(crate) fn import(&mut self, records: &[u8]) -> Result<usize> {
        if records.is_empty() {
            return Ok(0);
        }
        if self.builder.record_count() > 0 {
            self.cut(0)?;
        }
        let mut n = 0;
        for r in northstar_core::record::records(records) {
            let r = r.map_err(|(at, e)| {
                StoreError::Flusher(format!("malformed imported record at +{at}: {e}"))
            })?;
            self.push(&r, r.timestamp())?;
            n += 1;
        }
        if self.builder.record_count() > 0 {
            self.cut(0)?;
        }
        Ok(n)
    }

    /// Copies one record (already checked by the drain loop) into the current block with
    /// its Unix timestamp.
    /// Starts a drain pass; `flushing`: it serves a flush request or shutdown.
    pub(crate) fn begin_pass(&mut self, flushing: bool) {
        self.flushing = flushing;
    }

    #[inline]
    pub(crate) fn push(&mut self, record: &RecordView<'_>, unix_ts: u64) -> Result<()> {
        if self.builder.record_count() == 0 {
            self.ensure_active()?;
            self.block_started = Some(Instant::now());
        }
        let Some(a) = self.active.as_mut() else {
            return Err(StoreError::Refused("no active segment".into()));
        };
        let seq = a.next_seq;
        // --- interning hook: a user event's definition goes first into each block ---
        if !self
            .defs
            .before_record(&mut self.builder, record, unix_ts, seq)
            .map_err(|e| StoreError::Flusher(format!("definition refused: {e}")))?
        {
            return Ok(());
        }
        // --- end of hook ---
        self.builder
            .push_view(record, unix_ts, seq)
            .map_err(|e| StoreError::Flusher(format!("record from a ring refused: {e}")))?;
        a.next_seq += 1;
        let room = self.max_bytes.saturating_sub(a.len) as usize;
        if self.builder.body_len() >= BLOCK_TARGET.min(room) || a.next_seq >= u32::MAX - 1 {
            self.cut(0)?;
        }
        Ok(())
    }

    fn cut(&mut self, dropped: u64) -> Result<()> {
        let now = unix_now_ns();
        let Some(a) = self.active.as_mut() else {
            return Ok(());
        };
        // interning hook: user records skipped for want of a schema count as dropped.
        let dropped = dropped + self.defs.take_skipped();
        self.builder.finish(dropped, now);
        let (bytes, summary) = self.builder.finished();
        let r = a.append(bytes, summary);
        self.builder.clear();
        self.defs.block_cut(); // interning hook: the next block defines its own schemas
        self.block_started = None;
        r?;
        self.shared.publish_horizon(a.id, a.len);
        self.dirty = true;
        if self.fsync == FsyncPolicy::EveryBlock {
            a.sync()?;
        }
        Ok(())
    }

    /// After a drain pass: cuts the open block when a flush is waiting or the block has waited
    /// `max_delay` (full blocks are cut as records are added); syncs per policy; rolls an old
    /// segment;
    /// publishes to readers at those cuts and at least every `max_delay`. `lost` reads the
    /// rings' drop counters (only when a block is cut: it is a walk over every slot).
    pub(crate) fn after_pass(&mut self, lost: impl FnOnce() -> u64, flushing: bool) -> Result<()> {
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
                    self.ensure_active()?;
                }
                self.cut(delta)?;
                self.last_lost = lost_total;
            }
        }
        if let Some(a) = self.active.as_mut() {
            let due = match self.fsync {
                FsyncPolicy::None => false,
                FsyncPolicy::EveryBlock => true,
                FsyncPolicy::Interval(d) => flushing || self.last_sync.elapsed() >= d,
            };
            if due && a.unsynced {
                a.sync()?;
                self.last_sync = Instant::now();
            }
        }
        if cut_now {
            let now = unix_now_ns();
            if self.active.as_ref().is_some_and(|a| {
                now.saturating_sub(a.created_unix_ns) >= self.max_age_ns
                    && a.len > SEGMENT_HEADER_LEN as u64
            }) {
                self.seal()?;
            }
        }
        if cut_now || self.last_publish.elapsed() >= self.max_delay {
            self.publish()?;
        }
        Ok(())
    }

    fn publish(&mut self) -> Result<()> {
        if !self.dirty {
            return Ok(());
        }
        if let Some(a) = &self.active {
            let mut cat = self.shared.write_catalog();
            let file = match &cat.active {
                Some(s) if s.id == a.id => s.file.clone(),
                _ => {
                    Arc::new(std::fs::File::open(&a.path).map_err(|e| StoreError::io(&a.path, e))?)
                }
            };
            cat.active = Some(Arc::new(ActiveSnapshot {
                id: a.id,
                path: a.path.clone(),
                file,
                index: a.index.clone(),
            }));
        }
        self.dirty = false;
        self.last_publish = Instant::now();
        Ok(())
    }

    /// Seals the active segment and moves it to the sealed set in one catalog update; the
    /// indexer thread then adds its session filters and writes its index file.
    pub(crate) fn seal(&mut self) -> Result<()> {
        if self.builder.record_count() > 0 {
            self.cut(0)?;
        }
        let Some(a) = self.active.take() else {
            return Ok(());
        };
        // A waiting flush under a syncing policy needs the segment durable before it returns;
        // otherwise the indexer syncs it (an fsync of up to 64 MiB would stall draining).
        let sync_now = self.flushing && self.fsync != FsyncPolicy::None;
        let (id, path, index) = a.seal(sync_now)?;
        let file = std::fs::File::open(&path).map_err(|e| StoreError::io(&path, e))?;
        let data = SegmentBytes::map(&file, &path)?;
        {
            let mut cat = self.shared.write_catalog();
            cat.sealed.insert(
                id,
                Arc::new(SealedSegment {
                    id,
                    path,
                    data,
                    index,
                }),
            );
            cat.active = None;
        }
        self.dirty = false;
        // Queued only once the catalog holds the segment, where the indexer looks it up.
        self.shared.index_queue.push(id);
        Ok(())
    }
}

/// The thread body: runs until shutdown, then drains everything and seals.
pub(crate) fn run(
    shared: Arc<Shared>,
    recorder: Recorder,
    mut core: FlushCore,
    interval: Duration,
) {
    let Some(mut drainer) = recorder.drainer() else {
        shared.stop(Some("another consumer holds the recorder's rings".into()));
        return;
    };
    let clock = recorder.clock();
    let max_sleep = interval.min(MAX_IDLE_SLEEP);
    let mut sleep = Duration::ZERO;
    let mut completed = 0u64;
    let mut spare = Vec::new();
    loop {
        let (ticket, shutdown) = shared.wait_work(completed, sleep);
        let flushing = ticket > completed || shutdown;
        let max = if flushing {
            usize::MAX
        } else {
            IDLE_PASS_BYTES
        };
        let mut error: Option<StoreError> = None;
        // One clock reading per pass, not per record.
        let conv = clock.converter();
        core.begin_pass(flushing);
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
        let drained = drainer.drain(max, |_slot, record| {
            if error.is_some() {
                return;
            }
            let r = match decode_record(record) {
                Ok(view) => core.push(&view, conv.unix_nanos(view.timestamp())),
                Err(e) => Err(StoreError::Flusher(format!(
                    "malformed record from a ring: {e}"
                ))),
            };
            if let Err(e) = r {
                error = Some(e);
            }
        });
        let idle = drained.records == 0 && imported == 0;
        if error.is_none() {
            if let Err(e) = core.after_pass(|| recorder.counters().lost(), flushing) {
                error = Some(e);
            }
        }
        if shutdown {
            if error.is_none() {
                if let Err(e) = core.seal() {
                    error = Some(e);
                }
            }
            shared.finish_ticket(ticket, error.map(|e| e.to_string()));
            shared.stop(None);
            return;
        }
        // Never sleep while the last pass found records: the rings may hold more.
        sleep = if idle {
            (sleep * 2).clamp(MIN_IDLE_SLEEP.min(max_sleep), max_sleep)
        } else {
            Duration::ZERO
        };
        if flushing || error.is_some() {
            shared.finish_ticket(ticket.max(completed), error.map(|e| e.to_string()));
            completed = ticket.max(completed);
        }
    }
}
