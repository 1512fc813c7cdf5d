//! The store's typed errors: every failure names the file it concerns.

use std::path::PathBuf;
use std::sync::Arc;

/// Everything that can go wrong in the store. Each variant names what failed; the underlying
/// error, if any, is its [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// An operating-system call on `path` failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A file was written by a newer Northstar: refused rather than misread.
    #[error("{path} has format version {found}; this build reads version {supported} only")]
    FutureVersion {
        /// The file.
        path: PathBuf,
        /// Version found in its header.
        found: u32,
        /// Version this build understands.
        supported: u32,
    },
    /// Stored bytes fail their checks.
    #[error("{path} is damaged at offset {offset}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Byte offset of the damage.
        offset: u64,
        /// What check failed.
        reason: String,
    },
    /// The store was opened read-only ([`EventManager::open_read_only`]): writes, flushes,
    /// team changes and compaction are refused.
    ///
    /// [`EventManager::open_read_only`]: crate::EventManager::open_read_only
    #[error("the store is open read-only")]
    ReadOnly,
    /// Another writer (this process or another) holds the data directory's lock.
    #[error("{} is open for writing elsewhere", dir.display())]
    Locked {
        /// The data directory.
        dir: PathBuf,
        /// Why the lock was not granted.
        #[source]
        source: std::fs::TryLockError,
    },
    /// A file the store owns (its lock file, its damage log) is not a regular file.
    #[error("{} is not a regular file", path.display())]
    NotAFile {
        /// The file.
        path: PathBuf,
    },
    /// Every segment id has been used: the directory cannot take another segment.
    #[error("segment ids are exhausted in {}", dir.display())]
    IdsExhausted {
        /// The data directory.
        dir: PathBuf,
    },
    /// `StoreConfig::segment_max_bytes` is above what a segment may hold.
    #[error(
        "segment_max_bytes {requested} is above {limit} (segments are at most {max_segment} bytes)"
    )]
    SegmentMaxTooLarge {
        /// The configured value.
        requested: u64,
        /// The largest value accepted.
        limit: u64,
        /// The format's limit on a segment file.
        max_segment: u64,
    },
    /// A file is too large to map into memory on this machine.
    #[error("{}: {len} bytes, too large to map", path.display())]
    TooLargeToMap {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: u64,
    },
    /// The recorder could not be built or configured.
    #[error("recorder configuration refused: {0}")]
    Recorder(#[source] northstar_core::recorder::ConfigError),
    /// The recorder's rings are already drained by another store (or another consumer): a
    /// recorder has one flusher. Returned by `EventManager::open`.
    #[error("the recorder's rings are already drained by another store")]
    RecorderTaken,
    /// The recorder refused the event (ring full, rate limited, sampled out, oversize, no
    /// ring): it was counted, not stored. Match on the core's typed reason, e.g. to retry after
    /// a flush when the ring was full.
    #[error("event not recorded: {0}")]
    NotRecorded(#[source] northstar_core::recorder::RecordError),
    /// An imported event's payload is larger than the payload limit.
    #[error("payload of {len} bytes exceeds the {limit} byte limit")]
    PayloadTooLarge {
        /// Payload length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A payload could not be encoded.
    #[error("payload encoding failed: {0}")]
    Encode(#[source] northstar_core::EncodeError),
    /// A payload encoded to another length than it announced.
    #[error("payload encoded to {actual} bytes, {expected} expected")]
    EncodedLength {
        /// Length announced by the payload.
        expected: usize,
        /// Bytes written by its encoder.
        actual: usize,
    },
    /// A record handed to the flusher (from a ring or imported) is not well-formed.
    #[error("malformed record from {origin}{}: {}", at.map(|a| format!(" at +{a}")).unwrap_or_default(), source)]
    MalformedRecord {
        /// Where it came from.
        origin: RecordOrigin,
        /// Byte offset in the import queue, for imported records.
        at: Option<usize>,
        /// What is wrong with its framing.
        #[source]
        source: northstar_core::record::FramingError,
    },
    /// The flusher could not add a record to a block (a record larger than a block, a
    /// user-event definition refused).
    #[error("record refused by the block builder: {0}")]
    BlockRefused(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// One of the store's threads panicked.
    #[error("the {thread} thread panicked")]
    Panicked {
        /// `"flusher"`, `"writer"`, `"indexer"` or `"syncer"`.
        thread: &'static str,
    },
    /// One of the store's threads could not be started.
    #[error("cannot start the {thread} thread: {source}")]
    Spawn {
        /// `"flusher"`, `"writer"`, `"indexer"` or `"syncer"`.
        thread: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An fsync of a segment failed (returned by the `flush()` waiting for it).
    #[error("fsync of {} failed: {source}", path.display())]
    Sync {
        /// The segment file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Writing to the data directory fails (disk full, I/O error): the real error, once.
    /// Returned by `flush()` when writes keep failing for `StoreConfig::retry_window` (the
    /// events are still held and retried: nothing is lost yet), and by `close()` when it had
    /// to give up (then `lost_events` ring events and `imports - imports_stored` imported
    /// events are not stored).
    #[error("{}", write_failed_text(path, source, *imports, *imports_stored, *lost_events, *lost_counted_in_store))]
    WriteFailed {
        /// The file being written.
        path: PathBuf,
        /// The OS error (e.g. `ErrorKind::StorageFull`, os error 28 for ENOSPC).
        #[source]
        source: std::io::Error,
        /// Events imported with `record_event_at`/`record_at` since the store was opened.
        imports: u64,
        /// Of those, how many are stored: always the first ones, in call order. A tool
        /// importing a file resumes after the `imports_stored`-th event.
        imports_stored: u64,
        /// Events from the rings given up on at close (0 from `flush()`).
        lost_events: u64,
        /// `lost_events` is recorded in the store as dropped (stored + dropped = recorded
        /// still holds on disk).
        lost_counted_in_store: bool,
    },
    /// The flusher (or its writer or syncer thread) failed: `source` is its first error since
    /// the last `flush()` that returned one; `later_errors` more were counted after it.
    /// Once the flusher has stopped, every write returns its first error.
    #[error("the flusher failed: {source}{}", later_text(*later_errors))]
    Flusher {
        /// The first error.
        #[source]
        source: Arc<StoreError>,
        /// Errors after the first (not kept).
        later_errors: u64,
    },
    /// The flusher has stopped (the store is closing or closed) without an error.
    #[error("the flusher has stopped")]
    FlusherStopped,
}

/// Where a record handed to the flusher came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordOrigin {
    /// A recorder ring.
    Ring,
    /// `record_event_at` / `record_at`.
    Import,
}

impl std::fmt::Display for RecordOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Ring => "a ring",
            Self::Import => "the import queue",
        })
    }
}

fn later_text(later: u64) -> String {
    match later {
        0 => String::new(),
        n => format!(" ({n} later errors not kept)"),
    }
}

fn write_failed_text(
    path: &std::path::Path,
    source: &std::io::Error,
    imports: u64,
    imports_stored: u64,
    lost_events: u64,
    counted: bool,
) -> String {
    let mut s = format!("writing {} failed: {source}", path.display());
    if imports > 0 {
        s.push_str(&format!(
            "; {imports_stored} of {imports} imported events stored"
        ));
    }
    if lost_events > 0 {
        s.push_str(&format!(
            "; {lost_events} recorded events not stored ({})",
            if counted {
                "counted as dropped in the store"
            } else {
                "not counted in the store"
            }
        ));
    }
    s
}

impl StoreError {
    /// The flusher's failure `first`, with `later` errors counted after it.
    pub(crate) fn flusher(first: Arc<StoreError>, later: u64) -> Self {
        Self::Flusher {
            source: first,
            later_errors: later,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
