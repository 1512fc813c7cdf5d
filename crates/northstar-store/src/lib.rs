//! # northstar-store
//!
//! The std side of Northstar: a flusher thread drains every recording thread's ring into
//! append-only segment files of CRC-32C checksummed blocks, with a sparse index per segment;
//! [`EventManager`] adds recovery, queries with visibility, verification and retention.
//!
//! Where to look:
//! - [`EventManager`]: the spec's API (open, record, flush, query, close); [`StoreReader`]:
//!   everything that reads, for a directory opened read-only; [`BlockCursor`]: checked
//!   block-by-block reading for exporters.
//! - [`disk`]: the bytes on disk (`docs/FORMAT.md`), for readers and checkers of the format.
//! - [`error`]: the typed errors.
//! - [`fuzzing`]: entry points of the fuzz targets.
#![deny(unsafe_op_in_unsafe_fn, missing_docs, missing_debug_implementations)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub(crate) mod active;
pub(crate) mod block;
pub(crate) mod block_sites;
pub(crate) mod catalog;
pub(crate) mod checksum;
pub(crate) mod clock;
pub(crate) mod config;
pub(crate) mod control;
pub(crate) mod crc_range;
pub(crate) mod cursor;
pub(crate) mod damage_log;
pub(crate) mod dirlock;
pub mod disk;
pub(crate) mod drops;
pub mod error;
pub(crate) mod flusher;
pub(crate) mod follow;
pub(crate) mod format;
pub(crate) mod fsread;
pub mod fuzzing;
pub(crate) mod health;
pub(crate) mod index;
pub(crate) mod index_check;
pub(crate) mod indexer;
pub mod interning;
pub(crate) mod layout;
pub(crate) mod manager;
pub(crate) mod parallel_scan;
pub(crate) mod pipe;
pub(crate) mod query;
pub(crate) mod reader;
pub(crate) mod recovery;
pub(crate) mod report;
pub(crate) mod retention;
pub(crate) mod scan;
pub(crate) mod site_sessions;
pub(crate) mod sites;
pub(crate) mod stats;
pub(crate) mod syncer;
pub(crate) mod teams;
pub(crate) mod verify;
pub(crate) mod writer;

pub use clock::unix_now_ns;
pub use config::{FsyncPolicy, StoreConfig, DEFAULT_WARM_BUFFER_BYTES};
#[doc(hidden)]
pub use config::{WriteHook, WriteSite};
pub use cursor::{BlockCursor, CursorBlock, CursorItem, Position, VisibilityFilter};
pub use damage_log::{DamageAction, LoggedDamage};
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
