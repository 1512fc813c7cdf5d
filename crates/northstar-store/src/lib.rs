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

pub(crate) mod active;
pub mod block;
pub mod catalog;
pub mod checksum;
pub(crate) mod clock;
pub(crate) mod config;
pub(crate) mod control;
pub(crate) mod crc_range;
pub mod cursor;
pub mod damage_log;
pub(crate) mod dirlock;
pub mod error;
pub(crate) mod flusher;
pub(crate) mod follow;
pub mod format;
pub(crate) mod fsread;
pub mod fuzzing;
pub(crate) mod health;
pub mod index;
pub(crate) mod index_check;
pub(crate) mod indexer;
pub mod interning;
pub mod layout;
pub mod manager;
pub mod parallel_scan;
pub(crate) mod pipe;
pub mod query;
pub(crate) mod reader;
pub mod recovery;
pub(crate) mod report;
pub(crate) mod retention;
pub mod scan;
pub(crate) mod stats;
pub(crate) mod syncer;
pub(crate) mod teams;
pub(crate) mod verify;
pub mod writer;

pub use clock::unix_now_ns;
pub use config::{FsyncPolicy, StoreConfig};
#[doc(hidden)]
pub use config::{WriteHook, WriteSite};
pub use cursor::{BlockCursor, CursorBlock, CursorItem, Position, VisibilityFilter};
pub use error::{RecordOrigin, StoreError};
pub use health::WriteHealth;
pub use manager::EventManager;
pub use parallel_scan::ScanSummary;
pub use query::{Query, QueryOutcome, StoredEvent, Viewer};
pub use reader::StoreReader;
pub use report::{DamagedRegion, OpenReport, SkipKind, Skipped};
pub use retention::{CompactDamage, CompactReport};
pub use stats::StoreStats;
pub use verify::VerifyReport;

/// Block target size and other tuning constants.
pub use flusher::BLOCK_TARGET;
