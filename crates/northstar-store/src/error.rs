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
    /// The flusher thread failed; later writes are refused.
    #[error("flusher failed: {0}")]
    Flusher(String),
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
