//! The store's typed errors: every failure names the file it concerns.

use std::path::PathBuf;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
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
    /// The store refuses the request (closed, read-only, locked by another writer, bad input).
    #[error("refused: {0}")]
    Refused(String),
    /// The recorder refused the event (ring full, rate limited, sampled out, oversize, no
    /// ring): it was counted, not stored. Match on the core's typed reason, e.g. to retry after
    /// a flush when the ring was full.
    #[error("event not recorded: {0}")]
    NotRecorded(northstar_core::recorder::RecordError),
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
    Encode(northstar_core::EncodeError),
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
    /// The flusher thread failed; later writes are refused.
    #[error("flusher failed: {0}")]
    Flusher(String),
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
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
