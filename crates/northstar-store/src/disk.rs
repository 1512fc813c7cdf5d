//! The bytes on disk, for readers and checkers of the format (`docs/FORMAT.md`): segment and
//! block headers and their constants, the CRC-32C they use, file names in a data directory,
//! decoding and building blocks, walking a segment block by block, and the sparse index.
//!
//! This is the one public view of the store's internals; everything else is reached through
//! [`EventManager`](crate::EventManager), [`StoreReader`](crate::StoreReader) and
//! [`BlockCursor`](crate::BlockCursor). Everything here checks what it reads: a damaged byte
//! is an error or a [`ScanItem::Damaged`], never a panic.

pub use crate::block::{
    decode_block, decode_block_in, BlockBuilder, BlockError, BlockSummary, BlockView,
};
pub use crate::checksum::Crc32c;
pub use crate::format::BLOCK_FLAG_SITES;
pub use crate::format::{
    BlockHeader, HeaderError, SegmentHeader, BLOCK_HEADER_LEN, BLOCK_MAGIC, CRC32C, FORMAT_VERSION,
    MAX_BLOCK_BODY, MAX_SEGMENT_LEN, SEGMENT_HEADER_LEN, SEGMENT_MAGIC, USER_EVENT_BIT,
};
pub use crate::index::{BlockEntry, Filter, SegmentIndex, INDEX_MAGIC};
pub use crate::layout::{index_path, segment_path, DAMAGE_LOG, LOCK_FILE, TEAMS_FILE, TMP_SUFFIX};
pub use crate::scan::{scan_segment, BlockScanner, Damage, ScanItem, ScannedBlock};
pub use crate::sites::{expand_body, MAX_EXPANSION};
