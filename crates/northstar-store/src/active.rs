//! The active segment: the file the writer appends blocks to, its committed length and its
//! growing index.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use zerocopy::{FromBytes, IntoBytes};

use crate::block::BlockSummary;
use crate::format::{BlockHeader, SegmentHeader, BLOCK_HEADER_LEN, SEGMENT_HEADER_LEN};
use crate::index::SegmentIndex;
use crate::layout::segment_path;
use crate::syncer::SyncFile;

/// The active segment: its file, committed length and growing index.
#[derive(Debug)]
pub struct ActiveSegment {
    /// Segment id.
    pub id: u32,
    /// File path.
    pub path: PathBuf,
    pub(crate) file: Arc<File>,
    /// Bytes written (every byte up to here is a whole block or the header).
    pub len: u64,
    /// Index of the blocks written so far.
    pub index: SegmentIndex,
    /// Bytes written since the last fsync request.
    pub unsynced: bool,
}

/// Why creating a segment failed, and whether its file is left behind (it could not be
/// removed), so the next attempt reuses it instead of failing with "File exists".
#[derive(Debug)]
pub struct CreateFailed {
    /// The error.
    pub error: io::Error,
    /// The file exists (created by this attempt, not removable).
    pub left_behind: bool,
}

impl ActiveSegment {
    /// Creates `seg-<id>.nss` with its header; `durable`: sync the file and the directory
    /// entry now (every policy but `FsyncPolicy::None`). `reuse`: the file was left by a failed
    /// attempt of ours and is truncated and rewritten; otherwise it must not exist. A failure
    /// removes the file it created (when it can), so nothing is left behind.
    pub fn create(
        dir: &Path,
        id: u32,
        now_unix_ns: u64,
        durable: bool,
        reuse: bool,
    ) -> std::result::Result<Self, CreateFailed> {
        let path = segment_path(dir, id);
        let mut opts = OpenOptions::new();
        opts.write(true).read(true);
        if reuse {
            opts.create(true).truncate(true);
        } else {
            opts.create_new(true);
        }
        let file = opts.open(&path).map_err(|error| CreateFailed {
            error,
            left_behind: false,
        })?;
        let header = SegmentHeader::new(id, now_unix_ns);
        let written = file
            .write_all_at(header.as_bytes(), 0)
            .and_then(|_| if durable { file.sync_all() } else { Ok(()) })
            .and_then(|_| {
                if durable {
                    File::open(dir).and_then(|d| d.sync_all())
                } else {
                    Ok(())
                }
            });
        if let Err(error) = written {
            drop(file);
            let left_behind = std::fs::remove_file(&path).is_err() && path.exists();
            return Err(CreateFailed { error, left_behind });
        }
        Ok(Self {
            id,
            path,
            file: Arc::new(file),
            len: SEGMENT_HEADER_LEN as u64,
            index: SegmentIndex::new(id, now_unix_ns, SEGMENT_HEADER_LEN as u64),
            unsynced: false,
        })
    }

    /// Appends one finished block (from [`crate::block::BlockBuilder::finish`]) with the
    /// summary collected while it was built: one positioned write at the committed length. On
    /// failure the file is cut back to that length, so the segment is exactly as before (and
    /// a retry writes the same bytes at the same offset).
    pub fn append(&mut self, block: &[u8], summary: &BlockSummary) -> io::Result<()> {
        if let Err(e) = self.file.write_all_at(block, self.len) {
            let _ = self.file.set_len(self.len);
            return Err(e);
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
    pub fn sync(&mut self) -> io::Result<()> {
        if self.unsynced {
            self.file.sync_data()?;
            self.unsynced = false;
        }
        Ok(())
    }

    pub(crate) fn sync_file(&self) -> SyncFile {
        SyncFile {
            file: self.file.clone(),
            path: self.path.clone(),
            segment: self.id,
        }
    }
}

/// Appends one drop-only block (no record; `dropped` = the ring events given up) to a
/// segment `len` bytes long, so stored + dropped = recorded holds on disk. Tried once: the
/// disk is failing (a failed write is cut back). The segment's index then no longer matches
/// its length and is rebuilt by the next writable open.
pub(crate) fn append_drop_only(file: &File, len: u64, dropped: u64, sync: bool) -> bool {
    let mut b = crate::block::BlockBuilder::new();
    let bytes = b.finish(dropped, crate::clock::unix_now_ns()).to_vec();
    let ok = file.write_all_at(&bytes, len).is_ok() && (!sync || file.sync_data().is_ok());
    if !ok {
        let _ = file.set_len(len);
    }
    ok
}
