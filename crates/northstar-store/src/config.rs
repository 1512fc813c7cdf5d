//! How a store is run: [`StoreConfig`] and its [`FsyncPolicy`].

use std::io;
use std::sync::Arc;
use std::time::Duration;

use northstar_core::recorder::Recorder;

/// When the flusher makes written blocks durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Never: the page cache decides (survives a process crash, not a power loss).
    None,
    /// A sync of the written blocks starts at most this long after a block is written (or,
    /// on a disk slower than the data, as soon as the previous sync ends: syncs run on their
    /// own thread, one at a time, and never hold up writing or draining), and `flush()`
    /// returns only once the blocks it covers are synced.
    Interval(Duration),
    /// After every block.
    EveryBlock,
}

/// Default [`StoreConfig::warm_buffer_bytes`]: half the default write buffer on 64-bit
/// targets, where address space and memory are plentiful; 8 MiB elsewhere.
pub const DEFAULT_WARM_BUFFER_BYTES: usize = if cfg!(target_pointer_width = "64") {
    64 << 20
} else {
    8 << 20
};

/// How a store is run. `Default` gives the spec's values.
#[derive(Clone)]
pub struct StoreConfig {
    /// Roll the active segment once it reaches this size (64 MiB).
    pub segment_max_bytes: u64,
    /// Roll the active segment once it is this old (1 h, well under retention).
    pub segment_max_age: Duration,
    /// Keep events this long (7 days).
    pub retention: Duration,
    /// Durability policy.
    pub fsync: FsyncPolicy,
    /// Longest a drained event waits in the flusher's open block before it is written, and
    /// longest between updates of what readers see under load (10 ms). An idle flusher looks
    /// at the rings at least every millisecond (or this interval, if shorter).
    pub flush_interval: Duration,
    /// The recorder to drain; `None`: a private recorder with default rings.
    pub recorder: Option<Recorder>,
    /// Bytes of finished blocks that may wait for the writer thread (128 MiB). The flusher
    /// drains the rings into blocks at memory speed and never waits on the disk; the writer
    /// writes, syncs and rolls segments behind this buffer, so a stall of the disk (an fsync,
    /// a segment roll, a slow or failing `write()`) costs no event until the buffer is full:
    /// about 200 ms at 640 MB/s, 600 ms at 220 MB/s (64 MiB filled three times in twenty 10 s
    /// runs at 220 MB/s on the project's VM, 128 MiB never: docs/PERFORMANCE.md). Once it is
    /// full the flusher stops draining, the rings fill, and their producers drop and count
    /// events exactly as under any other overload. Memory beyond the warm reserve (below) is
    /// taken only as blocks wait (block buffers are reused).
    pub write_buffer_bytes: usize,
    /// Bytes of block buffers made and touched when the store opens and kept for reuse (the
    /// warm reserve; 64 MiB on 64-bit targets, 8 MiB elsewhere; at most `write_buffer_bytes`).
    /// A burst's blocks are then built in memory that is already mapped: a fresh page costs
    /// the drain a page fault, about 3 µs on the project's VM (some 70 ns per 95-byte
    /// record, most of the drain's cost per record), and with no reserve 95-byte records at
    /// 10 M/s dropped events in about half the runs (docs/PERFORMANCE.md, "Warm block
    /// buffers"). The cost: this much memory stays resident while the store is open, and
    /// `open` takes the time to touch it (52-62 ms for 64 MiB there, against 5.5 ms without;
    /// `close` 6-15 ms more to give it back). `0` turns it off
    /// (buffers are then made as blocks wait, and a written block's buffer is still reused).
    pub warm_buffer_bytes: usize,
    /// How long `flush()` waits while writes fail (disk full, I/O errors) before returning
    /// the error, and how long `close()` keeps retrying before giving up (10 s). Writes are
    /// retried with backoff for as long as the store is open; see [`EventManager::flush`](crate::EventManager::flush).
    pub retry_window: Duration,
    /// Test-only fault injection in the writer (stalls, failed writes).
    #[doc(hidden)]
    pub write_hook: Option<WriteHook>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            segment_max_bytes: 64 << 20,
            segment_max_age: Duration::from_secs(3600),
            retention: Duration::from_secs(7 * 24 * 3600),
            fsync: FsyncPolicy::Interval(Duration::from_secs(1)),
            flush_interval: Duration::from_millis(10),
            recorder: None,
            write_buffer_bytes: 128 << 20,
            warm_buffer_bytes: DEFAULT_WARM_BUFFER_BYTES,
            retry_window: Duration::from_secs(10),
            write_hook: None,
        }
    }
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConfig")
            .field("segment_max_bytes", &self.segment_max_bytes)
            .field("segment_max_age", &self.segment_max_age)
            .field("retention", &self.retention)
            .field("fsync", &self.fsync)
            .field("flush_interval", &self.flush_interval)
            .field("recorder", &self.recorder.is_some())
            .field("write_buffer_bytes", &self.write_buffer_bytes)
            .field("warm_buffer_bytes", &self.warm_buffer_bytes)
            .field("retry_window", &self.retry_window)
            .field("write_hook", &self.write_hook.is_some())
            .finish()
    }
}

/// Where the writer is about to touch the disk, as passed to a [`WriteHook`].
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteSite {
    /// Creating segment `segment`.
    Create {
        /// Segment id.
        segment: u32,
    },
    /// Writing a block of `len` bytes at `offset` of segment `segment`.
    Block {
        /// Segment id.
        segment: u32,
        /// Offset in the file.
        offset: u64,
        /// Block length.
        len: usize,
    },
    /// Syncing segment `segment`.
    Sync {
        /// Segment id.
        segment: u32,
    },
}

/// Test-only fault injection: called before each create, block write and sync. Sleeping in it
/// stalls the writer; an `Err` makes that operation fail with the error (as the disk would).
#[doc(hidden)]
pub type WriteHook = Arc<dyn Fn(WriteSite) -> io::Result<()> + Send + Sync>;
