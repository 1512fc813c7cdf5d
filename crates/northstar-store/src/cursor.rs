//! Reading a data directory in store order, one block at a time, from a saved position: for
//! exporters that must stream with memory bounded by one block (not by the store), and for
//! shippers that follow a growing store and resume after a crash.
//!
//! A [`Position`] names the next block to read: a segment id and a byte offset in that
//! segment file. Positions only ever point at block boundaries (or at a segment's start), and
//! event ids grow with them, so "everything before a position" is a prefix of the store.
//!
//! The cursor reads each block with `pread` into one reused buffer and checks it (magic,
//! length, CRC-32C, every record) before handing it out. It needs no lock and changes nothing
//! on disk, so it can follow a store another process is writing:
//! - the newest segment is read up to its last whole block; a block still being written (or a
//!   torn tail) ends the read for now ([`BlockCursor::next_block`] returns `None`), and a later
//!   call picks up where it stopped;
//! - a bad block in the middle of a segment (one followed by good blocks or by a newer
//!   segment) is handed out as [`CursorItem::Damaged`] and skipped, never silently.
//!
//! ```
//! use northstar_core::events::ReviewNote;
//! use northstar_core::{List, Visibility};
//! use northstar_store::{BlockCursor, CursorItem, EventManager, Position, StoreConfig, StoreError};
//!
//! # fn main() -> Result<(), StoreError> {
//! let dir = tempfile::tempdir().expect("a temporary directory");
//! let store = EventManager::open(dir.path(), StoreConfig::default())?;
//! let note = ReviewNote {
//!     target_type: "commit",
//!     target_id: "abc123",
//!     note_text: "looks good",
//!     references: List::EMPTY,
//!     created_at: 1,
//! };
//! store.record(7, Visibility::Public, &note)?;
//! store.flush()?;
//!
//! // An exporter: one block in memory at a time, and a position to resume from.
//! let mut cursor = BlockCursor::new(dir.path(), Position::START)?;
//! let (mut records, mut saved) = (0, Position::START);
//! while let Some(item) = cursor.next_block()? {
//!     match item {
//!         CursorItem::Block(block) => {
//!             records += block.view.records().count();
//!             saved = block.next; // persist this after the block is shipped
//!         }
//!         CursorItem::Damaged(region) => eprintln!("skipped damaged bytes: {region:?}"),
//!     }
//! }
//! assert_eq!(records, 1);
//! // Resuming from the saved position finds nothing new until more is written.
//! assert!(BlockCursor::new(dir.path(), saved)?.next_block()?.is_none());
//! store.close()?;
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use zerocopy::FromBytes;

use crate::block::{decode_block_in, BlockView};
use crate::error::{Result, StoreError};
use crate::format::{BlockHeader, BLOCK_HEADER_LEN, BLOCK_MAGIC, MAX_BLOCK_BODY};
use crate::format::{SegmentHeader, SEGMENT_HEADER_LEN};
use crate::layout::{segment_path, TEAMS_FILE};
use crate::query::{Access, Teams, Viewer};
use crate::recovery::DamagedRegion;
use crate::scan::{BlockScanner, ScanItem};

/// A place in store order: the next block to read is the one at `offset` in segment
/// `segment_id` (or the first block of the first segment above it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// Segment id.
    pub segment_id: u32,
    /// Byte offset of the next block in that segment file.
    pub offset: u64,
}

impl Position {
    /// The start of the store.
    pub const START: Position = Position {
        segment_id: 0,
        offset: 0,
    };
}

/// One checked block, as the cursor hands it out.
#[derive(Clone, Copy, Debug)]
pub struct CursorBlock<'a> {
    /// Segment id (the high half of the block's event ids).
    pub segment_id: u32,
    /// Offset of the block in its segment file.
    pub offset: u64,
    /// Where the cursor goes next: saving it after this block is processed resumes after it.
    pub next: Position,
    /// The checked block (header and records).
    pub view: BlockView<'a>,
}

impl CursorBlock<'_> {
    /// Events the rings dropped or refused since the previous block was cut.
    pub fn dropped(&self) -> u64 {
        self.view.header.dropped.get()
    }

    /// The event id of a record of this block with `event_seq`.
    pub fn event_id(&self, event_seq: u32) -> u64 {
        (u64::from(self.segment_id) << 32) | u64::from(event_seq)
    }
}

/// What [`BlockCursor::next_block`] found.
#[derive(Debug)]
pub enum CursorItem<'a> {
    /// A block that passed every check.
    Block(CursorBlock<'a>),
    /// A damaged region that was skipped (the cursor has moved past it).
    Damaged(DamagedRegion),
}

struct OpenSegment {
    id: u32,
    path: PathBuf,
    file: File,
}

/// Walks a data directory's blocks in store order from a [`Position`] (see the module docs).
pub struct BlockCursor {
    dir: PathBuf,
    pos: Position,
    buf: Vec<u8>,
    /// Where a block of interned call-site records expands.
    expanded: Vec<u8>,
    current: Option<OpenSegment>,
}

impl std::fmt::Debug for BlockCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockCursor")
            .field("dir", &self.dir)
            .field("position", &self.pos)
            .finish_non_exhaustive()
    }
}

impl BlockCursor {
    /// A cursor over `dir` starting at `from`. Fails only when `dir` cannot be listed.
    pub fn new(dir: impl AsRef<Path>, from: Position) -> Result<Self> {
        let dir = dir.as_ref().to_owned();
        if !dir.is_dir() {
            return Err(StoreError::io(
                &dir,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such data directory"),
            ));
        }
        Ok(Self {
            dir,
            pos: from,
            buf: Vec::new(),
            expanded: Vec::new(),
            current: None,
        })
    }

    /// Where the next call reads from.
    pub fn position(&self) -> Position {
        self.pos
    }

    /// Segment ids present, in order.
    fn segments(&self) -> Result<Vec<u32>> {
        Ok(crate::recovery::list(&self.dir)?.0)
    }

    /// Opens the first usable segment at or above `self.pos.segment_id`; `false` when none.
    fn open_next(&mut self) -> Result<bool> {
        for id in self.segments()? {
            if id < self.pos.segment_id {
                continue;
            }
            let path = segment_path(&self.dir, id);
            let file = match crate::fsread::open_regular(&path) {
                Ok(f) => f,
                // Removed by retention since the listing: its events are gone, go on.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StoreError::io(&path, e)),
            };
            let mut head = [0u8; SEGMENT_HEADER_LEN];
            let n = read_at_most(&file, &mut head, 0).map_err(|e| StoreError::io(&path, e))?;
            match SegmentHeader::parse(&head[..n]) {
                Ok(h) if h.segment_id.get() == id => {}
                // A segment being created (its header not yet written): wait for it.
                _ if n < SEGMENT_HEADER_LEN && self.is_last(id)? => return Ok(false),
                // Unreadable header: `verify` reports it; nothing in it can be read.
                _ => continue,
            }
            if id != self.pos.segment_id {
                self.pos = Position {
                    segment_id: id,
                    offset: 0,
                };
            }
            if self.pos.offset < SEGMENT_HEADER_LEN as u64 {
                self.pos.offset = SEGMENT_HEADER_LEN as u64;
            }
            self.current = Some(OpenSegment { id, path, file });
            return Ok(true);
        }
        Ok(false)
    }

    fn is_last(&self, id: u32) -> Result<bool> {
        Ok(self.segments()?.last().is_none_or(|&last| last <= id))
    }

    /// Moves to the segment after the current one.
    fn leave_segment(&mut self) {
        if let Some(seg) = self.current.take() {
            self.pos = Position {
                segment_id: seg.id.saturating_add(1),
                offset: 0,
            };
        }
    }

    /// The next block (or damaged region) in store order; `None` when the cursor has caught
    /// up with what is written (call again later to follow a growing store).
    pub fn next_block(&mut self) -> Result<Option<CursorItem<'_>>> {
        loop {
            if self.current.is_none() && !self.open_next()? {
                return Ok(None);
            }
            let Some(seg) = self.current.as_ref() else {
                return Ok(None);
            };
            let len = seg
                .file
                .metadata()
                .map_err(|e| StoreError::io(&seg.path, e))?
                .len();
            let at = self.pos.offset;
            let last = self.is_last(seg.id)?;
            if at + BLOCK_HEADER_LEN as u64 > len {
                if last {
                    return Ok(None); // caught up (or a block header not yet written)
                }
                if at < len {
                    let seg = self.current.as_ref().expect("checked above");
                    let d = damaged(seg, at, len - at, "segment ends inside a block header");
                    self.leave_segment();
                    return Ok(Some(CursorItem::Damaged(d)));
                }
                self.leave_segment();
                continue;
            }
            let mut head = [0u8; BLOCK_HEADER_LEN];
            seg.file
                .read_exact_at(&mut head, at)
                .map_err(|e| StoreError::io(&seg.path, e))?;
            let body_len = BlockHeader::ref_from_bytes(&head[..])
                .map(|h| h.body_len.get() as usize)
                .unwrap_or(usize::MAX);
            let whole = head[..4] == BLOCK_MAGIC
                && body_len <= MAX_BLOCK_BODY
                && at + (BLOCK_HEADER_LEN + body_len) as u64 <= len;
            if whole {
                let total = BLOCK_HEADER_LEN + body_len;
                self.buf.resize(total, 0);
                seg.file
                    .read_exact_at(&mut self.buf, at)
                    .map_err(|e| StoreError::io(&seg.path, e))?;
                let checked = decode_block_in(&self.buf, &mut self.expanded)
                    .map(|v| v.is_expanded())
                    .ok();
                if let Some(expanded) = checked {
                    let (id, next) = (seg.id, at + total as u64);
                    self.pos.offset = next;
                    // Checked (and expanded, if need be) just above: viewed again, not redone.
                    let (header, _) = crate::block::check_header(&self.buf)
                        .map_err(|e| StoreError::BlockRefused(e.into()))?;
                    let view = BlockView::checked(
                        header,
                        &self.buf[BLOCK_HEADER_LEN..total],
                        expanded.then_some(&self.expanded[..]),
                    );
                    return Ok(Some(CursorItem::Block(CursorBlock {
                        segment_id: id,
                        offset: at,
                        next: self.pos,
                        view,
                    })));
                }
                if last && at + total as u64 == len {
                    // The newest block of the newest segment may still be arriving.
                    return Ok(None);
                }
            } else if last {
                return Ok(None); // a block being written, or a torn tail
            }
            // Damage in the middle: find the next good block (reads the rest of the segment).
            let mut rest = vec![0u8; (len - at) as usize];
            seg.file
                .read_exact_at(&mut rest, at)
                .map_err(|e| StoreError::io(&seg.path, e))?;
            let mut scanner = BlockScanner::new(&rest, 0);
            let Some(ScanItem::Damaged(d)) = scanner.next() else {
                // Readable after all (it changed under us): read it again.
                continue;
            };
            if d.to_end && last {
                return Ok(None); // nothing good after it yet: maybe still being written
            }
            let region = damaged(seg, at + d.offset, d.len, &d.reason);
            if d.to_end {
                self.leave_segment();
            } else {
                self.pos.offset = at + d.offset + d.len;
            }
            return Ok(Some(CursorItem::Damaged(region)));
        }
    }
}

fn damaged(seg: &OpenSegment, offset: u64, len: u64, reason: &str) -> DamagedRegion {
    DamagedRegion {
        segment_id: seg.id,
        path: seg.path.clone(),
        offset,
        len,
        reason: reason.to_string(),
    }
}

fn read_at_most(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], offset + n as u64)? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Who may see what, for readers that walk blocks themselves (the same rules as
/// [`EventManager::query`](crate::StoreReader::query)).
#[derive(Clone, Debug)]
pub struct VisibilityFilter {
    viewer: Viewer,
    teams: Teams,
}

impl VisibilityFilter {
    /// The rules for `viewer`, with the team directory of `dir` (read now; a missing one means
    /// no teams, an unreadable line is ignored as `open` does).
    pub fn new(dir: impl AsRef<Path>, viewer: Viewer) -> Self {
        let teams = match viewer {
            Viewer::System => Teams::default(),
            Viewer::Actor { .. } => read_teams(dir.as_ref()),
        };
        Self { viewer, teams }
    }

    /// Whether the viewer may see an event of `actor` with `visibility`.
    pub fn allows(&self, actor: u64, visibility: northstar_core::Visibility) -> bool {
        Access::new(self.viewer, &self.teams).allows(actor, visibility)
    }
}

fn read_teams(dir: &Path) -> Teams {
    // Only a regular file, bounded (a FIFO or a link to a device never hangs or eats memory);
    // an unreadable one means no teams, as for `open` (which reports it).
    let text = crate::fsread::read_regular(&dir.join(TEAMS_FILE), 64 << 20)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    let mut map = HashMap::new();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        if let (Some(a), Some(t), None) = (
            it.next().and_then(|a| a.parse::<u64>().ok()),
            it.next().and_then(|t| t.parse::<u64>().ok()),
            it.next(),
        ) {
            map.insert(a, t);
        }
    }
    Teams(map)
}
