//! The bounded hand-over between the flusher (which drains the rings into blocks at memory
//! speed) and the writer thread (which writes, syncs and rolls segments).
//!
//! The flusher never waits on the disk: it sends finished blocks here and goes back to the
//! rings. The bytes of blocks sent but not yet written are counted against
//! `StoreConfig::write_buffer_bytes`; when that budget is used up the flusher stops draining
//! until the writer catches up, so the rings fill and their producers drop and count events
//! exactly as they do when the flusher itself falls behind.
//!
//! Block buffers come from a pool that starts with a warm reserve
//! (`StoreConfig::warm_buffer_bytes`): buffers touched when the store opens, so the blocks of a
//! burst are built in memory that is already mapped. A fresh page costs the drain a page fault
//! (about 3 µs on the project's VM, some 70 ns per 95-byte record, most of the drain's cost per
//! record; docs/PERFORMANCE.md, "Warm block buffers").

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crate::block::BlockSummary;

/// A finished block on its way to the writer.
#[derive(Debug)]
pub(crate) struct Finished {
    /// The block's bytes (header with CRC, then records).
    pub(crate) bytes: Vec<u8>,
    /// What the index needs of it.
    pub(crate) summary: BlockSummary,
    /// Records in it that came from the rings (the rest are imports).
    pub(crate) ring_records: u64,
    /// Records in it imported with `record_event_at`.
    pub(crate) imports: u64,
    /// The block's `dropped` count.
    pub(crate) dropped: u64,
}

/// What the flusher asks of the writer, in order.
#[derive(Debug)]
pub(crate) enum Msg {
    /// Create the next segment (its header carries `created_unix_ns`; the writer picks its
    /// id); the next blocks go there.
    Create { created_unix_ns: u64 },
    /// Append a block to the current segment.
    Block(Box<Finished>),
    /// Seal the current segment.
    Seal,
    /// Every block before this is sent: complete flush `ticket` once they are written (and
    /// synced, unless the policy is `FsyncPolicy::None`).
    Flush { ticket: u64 },
    /// Nothing follows: finish and stop.
    Shutdown,
}

/// Bytes of written blocks' buffers kept for reuse beyond the warm reserve (or the budget, if
/// smaller), so a store without a reserve still reuses its buffers in steady state.
const MIN_POOL_BYTES: usize = 8 << 20;
/// Stride for touching a new buffer: the smallest page size of the targets we run on.
const PAGE: usize = 4096;

struct State {
    queue: VecDeque<Msg>,
    /// Bytes of blocks sent and not yet written (or given up).
    in_flight: usize,
    /// Buffers of written blocks, for reuse.
    free: Vec<Vec<u8>>,
}

/// The queue, its byte budget and a pool of block buffers.
pub(crate) struct Pipe {
    state: Mutex<State>,
    to_writer: Condvar,
    to_flusher: Condvar,
    capacity: usize,
    /// Capacity of a new block buffer (a block's target size and some room).
    block_capacity: usize,
    /// Bytes of buffers touched at open (the warm reserve), at most `capacity`.
    warm: usize,
    /// Set by the flusher while its passes find the rings filling: the writer then lets it
    /// have the core first (see [`Pipe::writer_should_yield`]).
    drain_behind: AtomicBool,
}

impl Pipe {
    /// A pipe holding up to `capacity` bytes of finished blocks; new block buffers are made
    /// with `block_capacity` bytes, and `warm` bytes of them (at most `capacity`) are made and
    /// touched here, page by page, so the flusher's first blocks cost no page fault.
    pub(crate) fn new(capacity: usize, block_capacity: usize, warm: usize) -> Self {
        let block_capacity = block_capacity.max(1);
        let warm = warm.min(capacity) / block_capacity * block_capacity;
        let free = (0..warm / block_capacity)
            .map(|_| touched_buffer(block_capacity))
            .collect();
        Self {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                in_flight: 0,
                free,
            }),
            to_writer: Condvar::new(),
            to_flusher: Condvar::new(),
            capacity,
            block_capacity,
            warm,
            drain_behind: AtomicBool::new(false),
        }
    }

    /// Flusher: whether its last drain pass found the rings filling.
    pub(crate) fn set_drain_behind(&self, behind: bool) {
        if self.drain_behind.load(Ordering::Relaxed) != behind {
            self.drain_behind.store(behind, Ordering::Relaxed);
        }
    }

    /// Writer: whether to give the core to the flusher before the next block, with
    /// `in_flight` read under the lock. In a burst the flusher and the writer may share one
    /// core; the rings (32 MiB each by default) overflow long before this pipe's budget
    /// (128 MiB by default), so while the drain is behind and the blocks waiting still fit in
    /// the warm reserve, the writer yields once per block. Not beyond the reserve: the
    /// flusher would then build blocks in fresh pages, whose faults cost it more than the
    /// writes it is spared (docs/PERFORMANCE.md, "Warm block buffers"). Yielding does not
    /// lower the writer's priority against other processes: under load it is scheduled as
    /// before.
    fn writer_should_yield(&self, in_flight: usize) -> bool {
        self.drain_behind.load(Ordering::Relaxed) && in_flight < self.warm
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Flusher: queues `msg` (never waits; the budget is checked with [`Pipe::room`]).
    pub(crate) fn send(&self, msg: Msg) {
        let mut s = self.lock();
        if let Msg::Block(b) = &msg {
            s.in_flight += b.bytes.len();
        }
        s.queue.push_back(msg);
        drop(s);
        self.to_writer.notify_one();
    }

    /// Flusher: bytes the budget still allows.
    pub(crate) fn room(&self) -> usize {
        self.capacity.saturating_sub(self.lock().in_flight)
    }

    /// Flusher: waits up to `timeout` for the budget to have room; returns the room.
    pub(crate) fn wait_room(&self, timeout: Duration) -> usize {
        let s = self.lock();
        let (s, _) = self
            .to_flusher
            .wait_timeout_while(s, timeout, |s| s.in_flight >= self.capacity)
            .unwrap_or_else(|p| p.into_inner());
        self.capacity.saturating_sub(s.in_flight)
    }

    /// Flusher: a buffer for the next block (a written block's, when one is free).
    pub(crate) fn buffer(&self) -> Vec<u8> {
        self.lock()
            .free
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(self.block_capacity))
    }

    /// Writer: the next message, waiting up to `timeout`. Before handing over a block it
    /// yields the core to the flusher if [`Pipe::writer_should_yield`] says so (decided under the
    /// same lock).
    pub(crate) fn recv(&self, timeout: Duration) -> Option<Msg> {
        let s = self.lock();
        let (mut s, _) = self
            .to_writer
            .wait_timeout_while(s, timeout, |s| s.queue.is_empty())
            .unwrap_or_else(|p| p.into_inner());
        let msg = s.queue.pop_front();
        let yield_first =
            matches!(msg, Some(Msg::Block(_))) && self.writer_should_yield(s.in_flight);
        drop(s);
        if yield_first {
            std::thread::yield_now();
        }
        msg
    }

    /// Writer: a block is written (or given up): its bytes leave the budget and its buffer
    /// goes back to the pool. The pool keeps the warm reserve (at least [`MIN_POOL_BYTES`],
    /// or the budget if smaller), so the memory a burst took beyond it is given back once
    /// the writer has caught up.
    pub(crate) fn done(&self, mut bytes: Vec<u8>) {
        let mut s = self.lock();
        s.in_flight = s.in_flight.saturating_sub(bytes.len());
        let pooled: usize = s.free.iter().map(Vec::capacity).sum();
        let limit = self
            .warm
            .max(MIN_POOL_BYTES.min(self.capacity.max(1 << 20)));
        if pooled + bytes.capacity() <= limit {
            bytes.clear();
            s.free.push(bytes);
        }
        drop(s);
        self.to_flusher.notify_all();
    }
}

/// An empty buffer of `capacity` bytes whose pages are all mapped: one write per page (a
/// zero fill of a new allocation could be turned into `calloc`, which maps no page).
fn touched_buffer(capacity: usize) -> Vec<u8> {
    let mut b = Vec::<u8>::with_capacity(capacity);
    let spare = b.spare_capacity_mut();
    for byte in spare.iter_mut().step_by(PAGE) {
        byte.write(0xA5);
    }
    // The last page, which the stride misses when the buffer does not start on a page.
    if let Some(last) = spare.last_mut() {
        last.write(0xA5);
    }
    // The buffer escapes into the pool; this keeps the writes even if it did not seem to.
    std::hint::black_box(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(len: usize) -> Msg {
        Msg::Block(Box::new(Finished {
            bytes: vec![0; len],
            summary: BlockSummary::default(),
            ring_records: 0,
            imports: 0,
            dropped: 0,
        }))
    }

    #[test]
    fn the_writer_yields_only_while_the_drain_is_behind_and_the_waiting_blocks_fit_the_warm_reserve(
    ) {
        let pipe = Pipe::new(1000, 100, 500);
        assert!(
            !pipe.writer_should_yield(pipe.lock().in_flight),
            "the drain is not behind"
        );
        pipe.set_drain_behind(true);
        assert!(
            pipe.writer_should_yield(pipe.lock().in_flight),
            "behind, budget empty"
        );
        pipe.send(block(499));
        assert!(
            pipe.writer_should_yield(pipe.lock().in_flight),
            "behind, 499 of the reserve's 500 bytes waiting"
        );
        pipe.send(block(1));
        assert!(
            !pipe.writer_should_yield(pipe.lock().in_flight),
            "the waiting blocks fill the warm reserve: the writer must catch up first"
        );
        let Some(Msg::Block(b)) = pipe.recv(Duration::ZERO) else {
            panic!("a block was queued")
        };
        pipe.done(b.bytes);
        assert!(
            pipe.writer_should_yield(pipe.lock().in_flight),
            "back within the reserve"
        );
        pipe.set_drain_behind(false);
        assert!(
            !pipe.writer_should_yield(pipe.lock().in_flight),
            "the drain caught up"
        );
    }

    #[test]
    fn without_a_warm_reserve_the_writer_never_yields() {
        let pipe = Pipe::new(1000, 100, 0);
        pipe.set_drain_behind(true);
        assert!(!pipe.writer_should_yield(0));
    }

    #[test]
    fn the_warm_reserve_is_made_at_open_in_whole_buffers_and_kept_after_a_burst() {
        // 450 bytes of a 1000-byte budget in 100-byte buffers: four buffers.
        let pipe = Pipe::new(1000, 100, 450);
        assert_eq!(pipe.warm, 400);
        let taken: Vec<Vec<u8>> = (0..6).map(|_| pipe.buffer()).collect();
        assert!(taken.iter().all(|b| b.is_empty() && b.capacity() >= 100));
        assert_eq!(
            pipe.lock().free.len(),
            0,
            "four warm buffers, then two new ones"
        );
        for b in taken {
            pipe.done(b);
        }
        // The pool keeps at least the reserve (here also the 1 MiB floor for small budgets).
        assert_eq!(pipe.lock().free.len(), 6);
        // A reserve larger than the budget is cut to the budget.
        assert_eq!(Pipe::new(1000, 100, 5000).warm, 1000);
    }

    /// The reserve's pages are mapped when `Pipe::new` returns (`mincore` reports each page
    /// of every warm buffer resident), so the flusher's first blocks cost no page fault.
    #[cfg(target_os = "linux")]
    #[test]
    fn every_page_of_the_warm_reserve_is_resident_at_open() {
        let block = 260 << 10;
        let pipe = Pipe::new(8 << 20, block, 4 << 20);
        let free = &pipe.lock().free;
        assert_eq!(free.len(), (4 << 20) / block);
        for b in free {
            let start = b.as_ptr() as usize & !(PAGE - 1);
            let end = b.as_ptr() as usize + b.capacity();
            let pages = (end - start).div_ceil(PAGE);
            let mut resident = vec![0u8; pages];
            // SAFETY: `start..end` covers the buffer's allocation rounded out to whole pages,
            // all mapped (the allocation is live while `pipe` is), and `resident` has one
            // byte per page, as mincore requires.
            let rc = unsafe { libc::mincore(start as *mut _, end - start, resident.as_mut_ptr()) };
            assert_eq!(rc, 0, "mincore: {}", std::io::Error::last_os_error());
            let missing = resident.iter().filter(|r| *r & 1 == 0).count();
            assert_eq!(missing, 0, "{missing} of {pages} pages not resident");
        }
    }
}
