//! The segment being written: append-only, one block per write call.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use zerocopy::{FromBytes, IntoBytes};

use crate::block::BlockSummary;
use crate::error::{Result, StoreError};
use crate::format::{BlockHeader, SegmentHeader, BLOCK_HEADER_LEN, SEGMENT_HEADER_LEN};
use crate::index::SegmentIndex;
use crate::layout::{segment_path, sync_dir};

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
    /// Creates `seg-<id>.nss` (which must not exist) with its header; `durable`: sync the
    /// file and the directory entry now (every policy but `FsyncPolicy::None`, where the
    /// page cache decides and the drain path does not wait on the disk).
    pub fn create(dir: &Path, id: u32, now_unix_ns: u64, durable: bool) -> Result<Self> {
        let path = segment_path(dir, id);
        let mut file = OpenOptions::new()
            .write(true)
            .read(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        let header = SegmentHeader::new(id, now_unix_ns);
        file.write_all(header.as_bytes())
            .and_then(|_| if durable { file.sync_all() } else { Ok(()) })
            .map_err(|e| StoreError::io(&path, e))?;
        if durable {
            sync_dir(dir)?;
        }
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

    /// Appends one finished block (from [`crate::block::BlockBuilder::finish`]) with the
    /// summary collected while it was built.
    pub fn append(&mut self, block: &[u8], summary: &BlockSummary) -> Result<()> {
        if let Err(e) = self.file.write_all(block) {
            // Leave no partial block behind: cut back to the last whole block.
            let _ = self.file.set_len(self.len);
            return Err(StoreError::io(&self.path, e));
        }
        if let Ok((header, _)) = BlockHeader::ref_from_prefix(block) {
            self.index.add_block_summary(self.len, header, summary);
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

    /// Seals the segment: the file is never written again (compaction replaces it whole, by
    /// rename). `sync`: make it durable now (a flush under a syncing policy is waiting);
    /// otherwise the indexer thread syncs it, off the drain path, before writing its index
    /// (a crash before that leaves a segment without an index, rebuilt on open).
    pub fn seal(mut self, sync: bool) -> Result<(u32, PathBuf, SegmentIndex)> {
        if sync {
            self.sync()?;
        }
        Ok((self.id, self.path, self.index))
    }
}
