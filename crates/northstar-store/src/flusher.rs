//! The flusher thread: drains every ring in place, copies records into checksummed blocks,
//! appends them to the active segment, rolls segments by size and age, syncs per policy.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use northstar_core::clock::Clock;
use northstar_core::recorder::Recorder;

use crate::block::BlockBuilder;
use crate::catalog::{ActiveSnapshot, SealedSegment, SegmentBytes};
use crate::error::{Result, StoreError};
use crate::format::SEGMENT_HEADER_LEN;
use crate::manager::{unix_now_ns, FsyncPolicy, Shared};
use crate::writer::ActiveSegment;

/// A block is cut once its body reaches this size (or at the end of a drain pass).
pub const BLOCK_TARGET: usize = 256 << 10;
/// Bytes taken from each ring per pass when no flush is waiting: bounds the time between
/// looks at the control state without starving any ring.
const IDLE_PASS_BYTES: usize = 1 << 20;

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
}

impl FlushCore {
    pub(crate) fn new(
        shared: Arc<Shared>,
        max_bytes: u64,
        max_age: Duration,
        fsync: FsyncPolicy,
        next_id: u32,
        lost_at_start: u64,
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
            self.active = Some(ActiveSegment::create(&self.dir, id, now)?);
            self.next_id = id + 1;
        }
        Ok(())
    }

    /// Copies one record (raw ticks in its timestamp) into the current block.
    pub(crate) fn push(&mut self, record: &[u8], unix_ts: u64) -> Result<()> {
        if self.builder.record_count() == 0 {
            self.ensure_active()?;
        }
        let Some(a) = self.active.as_mut() else {
            return Err(StoreError::Refused("no active segment".into()));
        };
        let seq = a.next_seq;
        self.builder
            .push(record, unix_ts, seq)
            .map_err(|e| StoreError::Flusher(format!("malformed record from a ring: {e}")))?;
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
        let bytes = self.builder.finish(dropped, now);
        let r = a.append(bytes);
        self.builder.clear();
        r?;
        self.dirty = true;
        if self.fsync == FsyncPolicy::EveryBlock {
            a.sync()?;
        }
        Ok(())
    }

    /// Ends a drain pass: cuts the open block (carrying the drop count), syncs per policy,
    /// rolls an old segment, and publishes what was written to readers.
    pub(crate) fn end_pass(&mut self, lost_total: u64, flushing: bool) -> Result<()> {
        let delta = lost_total.saturating_sub(self.last_lost);
        if self.builder.record_count() > 0 || delta > 0 {
            if self.builder.record_count() == 0 {
                self.ensure_active()?;
            }
            self.cut(delta)?;
            self.last_lost = lost_total;
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
        let now = unix_now_ns();
        if self.active.as_ref().is_some_and(|a| {
            now.saturating_sub(a.created_unix_ns) >= self.max_age_ns
                && a.len > SEGMENT_HEADER_LEN as u64
        }) {
            self.seal()?;
        }
        self.publish()
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
        Ok(())
    }

    /// Seals the active segment and moves it to the sealed set in one catalog update.
    pub(crate) fn seal(&mut self) -> Result<()> {
        if self.builder.record_count() > 0 {
            self.cut(0)?;
        }
        let Some(a) = self.active.take() else {
            return Ok(());
        };
        let (id, path, index) = a.seal(&self.dir)?;
        let file = std::fs::File::open(&path).map_err(|e| StoreError::io(&path, e))?;
        let data = SegmentBytes::map(&file, &path)?;
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
        self.dirty = false;
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
    let mut busy = false;
    let mut completed = 0u64;
    loop {
        let (ticket, shutdown) = shared.wait_work(completed, busy, interval);
        let flushing = ticket > completed || shutdown;
        let max = if flushing {
            usize::MAX
        } else {
            IDLE_PASS_BYTES
        };
        let mut error: Option<StoreError> = None;
        let drained = drainer.drain(max, |_slot, record| {
            if error.is_some() {
                return;
            }
            let ts = northstar_core::record::decode_record(record)
                .map(|r| clock.ticks_to_unix_nanos(r.timestamp()))
                .unwrap_or(0);
            if let Err(e) = core.push(record, ts) {
                error = Some(e);
            }
        });
        if error.is_none() {
            if let Err(e) = core.end_pass(recorder.counters().lost(), flushing) {
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
        busy = drained.records > 0;
        if flushing || error.is_some() {
            shared.finish_ticket(ticket.max(completed), error.map(|e| e.to_string()));
            completed = ticket.max(completed);
        }
    }
}
