//! The segments a reader can see: sealed ones (memory-mapped, immutable) and a snapshot of the
//! active one (read through `pread`, up to its last whole block).

use std::collections::BTreeMap;
use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use memmap2::Mmap;

use crate::error::{Result, StoreError};
use crate::index::{BlockEntry, SegmentIndex};

/// The bytes of a sealed segment.
#[derive(Debug)]
pub enum SegmentBytes {
    /// Mapped read-only.
    Map(Mmap),
    /// Read into memory (segments that may still grow or be truncated by a writer).
    Owned(Vec<u8>),
}

impl SegmentBytes {
    /// Maps a sealed segment file.
    pub fn map(file: &File, path: &std::path::Path) -> Result<Self> {
        // SAFETY: memmap2 requires that the file is not modified while mapped. A sealed
        // segment file is never written again: the flusher appends only to the active
        // segment, recovery truncates only a segment without a valid index (never mapped),
        // and compaction replaces a segment by writing a new file and renaming it over the
        // old path, which leaves this mapping on the old inode intact. A single writer per
        // directory is enforced by an advisory lock. Only an outside process ignoring these
        // rules could change the bytes, and then the CRC-32C checks still run on every read.
        let map = unsafe { Mmap::map(file) }.map_err(|e| StoreError::io(path, e))?;
        Ok(Self::Map(map))
    }

    /// Maps the first `len` bytes of a sealed segment file: the bytes its writer knows it
    /// wrote. Never more than the file holds (a page past the end of a file, or a hole in a
    /// tmpfs file that cannot be filled, would raise SIGBUS when touched); a file shorter than
    /// `len` is refused with an error instead.
    pub fn map_len(file: &File, path: &std::path::Path, len: u64) -> Result<Self> {
        let on_disk = file.metadata().map_err(|e| StoreError::io(path, e))?.len();
        if on_disk < len {
            return Err(StoreError::Corrupt {
                path: path.to_owned(),
                offset: on_disk,
                reason: format!("segment file is {on_disk} bytes, {len} were written"),
            });
        }
        let len = usize::try_from(len).map_err(|_| StoreError::TooLargeToMap {
            path: path.to_owned(),
            len,
        })?;
        if len == 0 {
            return Ok(Self::Owned(Vec::new()));
        }
        // SAFETY: as for `map`: a sealed segment file is never written again while mapped
        // (the writer appends only to the active segment; compaction replaces files by
        // rename). The mapping covers only the `len` bytes the writer wrote with successful
        // positioned writes from offset 0 with no gap, so every mapped page exists in the file.
        let map = unsafe { memmap2::MmapOptions::new().len(len).map(file) }
            .map_err(|e| StoreError::io(path, e))?;
        Ok(Self::Map(map))
    }

    /// Gives back the process's mapping of the pages of `range` (clamped to the bytes; its
    /// first page rounded down): the pages leave the process's resident set and stay in the
    /// page cache, and a later read of them maps them again from the file. For a reader done
    /// with a part of a segment (an open that has checked it), so resident memory does not
    /// grow with the store. Nothing to do for bytes read into memory. Advice the kernel
    /// refuses changes nothing (the pages then stay mapped, as before).
    pub fn release(&self, range: Range<usize>) {
        let Self::Map(m) = self else { return };
        let end = range.end.min(m.len());
        if range.start >= end {
            return;
        }
        // SAFETY: `MADV_DONTNEED` on part of this read-only, shared (`MAP_SHARED`) mapping of
        // a sealed segment file only removes the page-table entries: no byte of the file is
        // changed or discarded (nothing is written through a read-only mapping), and the next
        // access faults the same bytes back in from the page cache or the file. The bytes a
        // `&[u8]` borrowed from this mapping sees are therefore unchanged, under the invariant
        // `map` documents (a sealed segment file is never written while mapped). The range is
        // within the mapping (clamped above; memmap2 rounds its start down to a page).
        let _ = unsafe {
            m.unchecked_advise_range(
                memmap2::UncheckedAdvice::DontNeed,
                range.start,
                end - range.start,
            )
        };
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Self::Map(m) => m,
            Self::Owned(v) => v,
        }
    }
}

/// A segment that is no longer written.
#[derive(Debug)]
pub struct SealedSegment {
    /// Segment id.
    pub id: u32,
    /// Path at load time.
    pub path: PathBuf,
    /// Its bytes.
    pub data: SegmentBytes,
    /// Its index.
    pub index: SegmentIndex,
}

/// A point-in-time view of the segment being written.
#[derive(Debug)]
pub struct ActiveSnapshot {
    /// Path.
    pub path: PathBuf,
    /// A read handle (kept open, so the file stays readable whatever happens to its name).
    pub file: Arc<File>,
    /// Index up to the committed length (`index.segment_len`).
    pub index: SegmentIndex,
}

/// A segment a query reads.
#[derive(Clone, Debug)]
pub enum SegRef {
    /// Sealed.
    Sealed(Arc<SealedSegment>),
    /// Active.
    Active(Arc<ActiveSnapshot>),
}

/// The bytes of one block, kept alive as long as needed.
#[derive(Clone, Debug)]
pub enum BlockBytes {
    /// A range of a sealed segment's bytes (no copy).
    Sealed(Arc<SealedSegment>, Range<usize>),
    /// A block read from the active segment.
    Owned(Arc<[u8]>),
}

impl BlockBytes {
    /// Bytes to keep for reading `view`'s records later (`view` decoded from `self`): these
    /// when its body is in place (shared), else its header followed by its expanded body (a
    /// block of interned records, `crate::sites`), so record offsets from the block's start
    /// hold in both cases.
    pub(crate) fn readable(&self, view: &crate::block::BlockView<'_>) -> BlockBytes {
        if !view.is_expanded() {
            return self.clone();
        }
        let mut v = Vec::with_capacity(crate::format::BLOCK_HEADER_LEN + view.body.len());
        v.extend_from_slice(zerocopy::IntoBytes::as_bytes(view.header));
        v.extend_from_slice(view.body);
        BlockBytes::Owned(v.into())
    }

    /// The block's bytes.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Self::Sealed(s, r) => s.data.as_slice().get(r.clone()).unwrap_or(&[]),
            Self::Owned(b) => b,
        }
    }
}

impl SegRef {
    /// The damaged region `len` bytes at `offset` of this segment, with the check that failed.
    pub(crate) fn damaged(
        &self,
        offset: u64,
        len: u64,
        reason: impl ToString,
    ) -> crate::report::DamagedRegion {
        crate::report::DamagedRegion {
            segment_id: self.id(),
            path: self.path().to_owned(),
            offset,
            len,
            reason: reason.to_string(),
        }
    }

    /// The segment's index.
    pub fn index(&self) -> &SegmentIndex {
        match self {
            Self::Sealed(s) => &s.index,
            Self::Active(a) => &a.index,
        }
    }

    /// Segment id.
    pub fn id(&self) -> u32 {
        self.index().segment_id
    }

    /// The segment file's path.
    pub fn path(&self) -> &std::path::Path {
        match self {
            Self::Sealed(s) => &s.path,
            Self::Active(a) => &a.path,
        }
    }

    /// The bytes of one indexed block (not yet checked: callers run `decode_block`).
    pub fn block(&self, e: &BlockEntry) -> Result<BlockBytes> {
        let start = e.offset.get() as usize;
        let end = start.saturating_add(e.len.get() as usize);
        match self {
            Self::Sealed(s) => Ok(BlockBytes::Sealed(s.clone(), start..end)),
            Self::Active(a) => {
                let mut buf = vec![0u8; end - start];
                a.file
                    .read_exact_at(&mut buf, start as u64)
                    .map_err(|err| StoreError::io(&a.path, err))?;
                Ok(BlockBytes::Owned(buf.into()))
            }
        }
    }
}

/// Every segment readers can see.
#[derive(Debug, Default)]
pub struct Catalog {
    /// Sealed segments by id.
    pub sealed: BTreeMap<u32, Arc<SealedSegment>>,
    /// The active segment, if one has been written to (in a read-only open: the last
    /// segment, read by blocks, when it holds only whole, good blocks).
    pub active: Option<Arc<ActiveSnapshot>>,
}

impl Catalog {
    /// Every segment, in id order.
    pub fn segments(&self) -> Vec<SegRef> {
        let mut v: Vec<SegRef> = self.sealed.values().cloned().map(SegRef::Sealed).collect();
        if let Some(a) = &self.active {
            v.push(SegRef::Active(a.clone()));
        }
        v
    }
}

/// The catalog as the store's threads share it: what readers see, the writer's published
/// horizon, and the lock that keeps compaction, indexing and verification apart. The writer
/// publishes segments into it, readers snapshot it, the indexer and compaction swap sealed
/// segments in it.
#[derive(Debug, Default)]
pub(crate) struct SharedCatalog {
    catalog: std::sync::RwLock<Catalog>,
    /// The writer's published horizon: the newest segment id it has created (or is creating)
    /// and how many of its bytes are complete (header, whole blocks). Set before the file
    /// exists and advanced only after each write returns, so a reader that looks at the
    /// horizon after listing the directory never reads a byte still being written.
    horizon: std::sync::Mutex<Option<(u32, u64)>>,
    /// Held while a sealed segment's file or index is rewritten or checked (compaction,
    /// indexing, verify).
    compacting: std::sync::Mutex<()>,
}

impl SharedCatalog {
    /// A catalog holding the segments recovery loaded.
    pub(crate) fn new(sealed: BTreeMap<u32, Arc<SealedSegment>>) -> Self {
        Self {
            catalog: std::sync::RwLock::new(Catalog {
                sealed,
                active: None,
            }),
            ..Self::default()
        }
    }

    pub(crate) fn write(&self) -> std::sync::RwLockWriteGuard<'_, Catalog> {
        self.catalog.write().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn read(&self) -> std::sync::RwLockReadGuard<'_, Catalog> {
        self.catalog.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Every segment readers can see now, in id order.
    pub(crate) fn segments(&self) -> Vec<SegRef> {
        self.read().segments()
    }

    /// Writer: segment `id` is complete up to `committed_len` bytes (0: being created).
    pub(crate) fn publish_horizon(&self, id: u32, committed_len: u64) {
        *self.horizon.lock().unwrap_or_else(|p| p.into_inner()) = Some((id, committed_len));
    }

    /// The writer's horizon (`None`: no writer in this process, or nothing written yet).
    pub(crate) fn horizon(&self) -> Option<(u32, u64)> {
        *self.horizon.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn lock_compacting(&self) -> std::sync::MutexGuard<'_, ()> {
        self.compacting.lock().unwrap_or_else(|p| p.into_inner())
    }
}
