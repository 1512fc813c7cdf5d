//! # northstar-store
//!
//! The std side of Northstar: a flusher thread drains every recording thread's ring into
//! append-only segment files of CRC-32C checksummed blocks, with a sparse index per segment;
//! [`EventManager`] adds recovery, queries with visibility, verification and retention.
//!
//! Where to look:
//! - [`format`], [`block`], [`scan`]: the bytes on disk (`docs/FORMAT.md`) and how they are
//!   checked and walked.
//! - [`index`]: per-segment sparse index, rebuilt from the data when missing or damaged.
//! - [`manager`]: the spec's `EventManager` API; [`query`]: queries and visibility.
//! - [`fuzzing`]: entry points of the fuzz targets.
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod block;
pub mod catalog;
pub mod checksum;
pub mod error;
pub(crate) mod flusher;
pub mod format;
pub mod fuzzing;
pub mod index;
pub(crate) mod indexer;
pub mod interning;
pub mod layout;
pub mod manager;
pub mod query;
pub mod recovery;
pub(crate) mod retention;
pub mod scan;
pub(crate) mod verify;
pub(crate) mod writer;

pub use error::StoreError;
pub use manager::{
    CompactDamage, CompactReport, EventManager, FsyncPolicy, StoreConfig, StoreStats, VerifyReport,
};
pub use query::{Query, QueryOutcome, StoredEvent, Viewer};
pub use recovery::{DamagedRegion, OpenReport, SkipKind, Skipped};

/// Block target size and other tuning constants.
pub use flusher::BLOCK_TARGET;
