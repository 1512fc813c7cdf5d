//! The segment being written: append-only, one block per write call.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use zerocopy::{FromBytes, IntoBytes};

use crate::block::BlockView;
use crate::error::{Result, StoreError};
use crate::format::{BlockHeader, SegmentHeader, BLOCK_HEADER_LEN, SEGMENT_HEADER_LEN};
use crate::index::SegmentIndex;
use crate::layout::{index_path, segment_path, sync_dir, write_atomic};

/// The active segment: its file, committed length and growing index.
#[derive(Debug)]
pub struct ActiveSegment {
    /// Segment id.
    pub id: u32,
    /// File path.
    pub path: PathBuf,
    file: File,
    /// Bytes written (every byte up to here is a whole block or the header).
    pub len: u64,
    /// Creation time, Unix ns.
    pub created_unix_ns: u64,
    /// Index of the blocks written so far.
    pub index: SegmentIndex,
    /// Sequence number of the next record.
    pub next_seq: u32,
    /// Bytes written since the last fsync.
    pub unsynced: bool,
}

impl ActiveSegment {
    /// Creates `seg-<id>.nss` (which must not exist) with its header, durably.
    pub fn create(dir: &Path, id: u32, now_unix_ns: u64) -> Result<Self> {
        let path = segment_path(dir, id);
        let mut file = OpenOptions::new()
            .write(true)
            .read(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        let header = SegmentHeader::new(id, now_unix_ns);
        file.write_all(header.as_bytes())
            .and_then(|_| file.sync_all())
            .map_err(|e| StoreError::io(&path, e))?;
        sync_dir(dir)?;
        Ok(Self {
            id,
            path,
            file,
            len: SEGMENT_HEADER_LEN as u64,
            created_unix_ns: now_unix_ns,
            index: SegmentIndex::new(id, now_unix_ns, SEGMENT_HEADER_LEN as u64),
            next_seq: 0,
            unsynced: false,
        })
    }

    /// Appends one finished block (from [`crate::block::BlockBuilder::finish`]).
    pub fn append(&mut self, block: &[u8]) -> Result<()> {
        if let Err(e) = self.file.write_all(block) {
            // Leave no partial block behind: cut back to the last whole block.
            let _ = self.file.set_len(self.len);
            return Err(StoreError::io(&self.path, e));
        }
        if let Ok((header, body)) = BlockHeader::ref_from_prefix(block) {
            let view = BlockView { header, body };
            self.index.add_block(self.len, &view);
        }
        debug_assert!(block.len() >= BLOCK_HEADER_LEN);
        self.len += block.len() as u64;
        self.index.segment_len = self.len;
        self.unsynced = true;
        Ok(())
    }

    /// Flushes written blocks to stable storage.
    pub fn sync(&mut self) -> Result<()> {
        if self.unsynced {
            self.file
                .sync_data()
                .map_err(|e| StoreError::io(&self.path, e))?;
            self.unsynced = false;
        }
        Ok(())
    }

    /// Seals the segment: syncs it and writes its index file atomically. The segment file is
    /// never written again (compaction replaces it whole, by rename).
    pub fn seal(mut self, dir: &Path) -> Result<(u32, PathBuf, SegmentIndex)> {
        self.sync()?;
        write_atomic(&index_path(dir, self.id), &self.index.encode())?;
        Ok((self.id, self.path, self.index))
    }
}
