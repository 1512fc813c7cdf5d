//! Walking a segment's blocks: every well-formed block, and every damaged region between them.
//!
//! After a bad block the scanner resynchronises on the next offset where a whole block checks
//! out (magic, length and CRC-32C), so one damaged block never hides the blocks after it.

use crate::block::{decode_block, BlockView};
use crate::format::{HeaderError, SegmentHeader, BLOCK_MAGIC, SEGMENT_HEADER_LEN};

/// A damaged byte range of a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// Offset from the start of the segment file.
    pub offset: u64,
    /// Length of the damaged range.
    pub len: u64,
    /// What check failed at `offset`.
    pub reason: String,
    /// The range runs to the end of the data with no good block after it (a torn tail in the
    /// segment being written).
    pub to_end: bool,
}

/// One step of a scan.
#[derive(Clone, Debug)]
pub enum ScanItem<'a> {
    /// A well-formed block at `offset` (from the start of the segment file).
    Block {
        /// Offset of the block header.
        offset: u64,
        /// The checked block.
        view: BlockView<'a>,
    },
    /// A damaged range, skipped.
    Damaged(Damage),
}

/// Iterator over the blocks of segment bytes (see [`scan_segment`]).
#[derive(Clone, Debug)]
pub struct BlockScanner<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> BlockScanner<'a> {
    /// Scans `bytes` (a whole segment file) from `start`.
    pub fn new(bytes: &'a [u8], start: usize) -> Self {
        Self { bytes, pos: start }
    }

    fn resync(&self, from: usize) -> Option<usize> {
        let b = self.bytes;
        let mut p = from;
        while p + 4 <= b.len() {
            // Find the next candidate magic quickly, then check the whole block.
            match b[p..].windows(4).position(|w| w == BLOCK_MAGIC) {
                Some(i) => {
                    let at = p + i;
                    if decode_block(&b[at..]).is_ok() {
                        return Some(at);
                    }
                    p = at + 1;
                }
                None => return None,
            }
        }
        None
    }
}

impl<'a> Iterator for BlockScanner<'a> {
    type Item = ScanItem<'a>;

    fn next(&mut self) -> Option<ScanItem<'a>> {
        if self.pos >= self.bytes.len() {
            return None;
        }
        match decode_block(&self.bytes[self.pos..]) {
            Ok(view) => {
                let offset = self.pos as u64;
                self.pos += view.len();
                Some(ScanItem::Block { offset, view })
            }
            Err(e) => {
                let start = self.pos;
                let (end, to_end) = match self.resync(start + 1) {
                    Some(next) => (next, false),
                    None => (self.bytes.len(), true),
                };
                self.pos = end;
                Some(ScanItem::Damaged(Damage {
                    offset: start as u64,
                    len: (end - start) as u64,
                    reason: e.to_string(),
                    to_end,
                }))
            }
        }
    }
}

/// Checks the segment header of `bytes` and returns it with a scanner over its blocks.
pub fn scan_segment(bytes: &[u8]) -> Result<(&SegmentHeader, BlockScanner<'_>), HeaderError> {
    let header = SegmentHeader::parse(bytes)?;
    Ok((header, BlockScanner::new(bytes, SEGMENT_HEADER_LEN)))
}
