//! Walking a segment's blocks: every well-formed block, and every damaged region between them.
//!
//! After a bad block the scanner resynchronises on the next offset where a whole block checks
//! out (magic, length and CRC-32C), so one damaged block never hides the blocks after it.
//!
//! **The work is linear in the segment's size, whatever its bytes.** A crafted segment can hold
//! a fake block header every few bytes, each claiming a body of megabytes: checking each one by
//! checksumming its claimed range would be quadratic (hours for 64 MiB). Once the scanner has
//! met damage it checks candidates with [`RangeCrc`](crate::crc_range): the checksum of any
//! range in constant time after one pass over the segment. A candidate whose checksum matches
//! is then decoded in full (its records walked); a checksum that matches over records that do
//! not is a forgery (chance damage matches with probability 2^-32), and the bytes decoded for
//! such forgeries are bounded by the segment's size: past that budget, further
//! checksum-matching candidates are reported as damage without being decoded. [`ScanWork`]
//! counts what was done, so tests check the bound.

use crate::block::{check_header, decode_block_in, BlockError, BlockView};
use crate::crc_range::RangeCrc;
use crate::format::BlockHeader;
use crate::format::{
    HeaderError, SegmentHeader, BLOCK_HEADER_LEN, BLOCK_MAGIC, SEGMENT_HEADER_LEN,
};

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
        /// The checked block ([`ScannedBlock::view`]).
        block: ScannedBlock<'a>,
    },
    /// A damaged range, skipped.
    Damaged(Damage),
}

/// A checked block of a scan: in place in the segment's bytes, or, for a block holding
/// interned call-site records (docs/FORMAT.md), with its expanded body.
#[derive(Clone, Debug)]
pub struct ScannedBlock<'a> {
    /// The header, as stored.
    pub header: &'a BlockHeader,
    stored_body: &'a [u8],
    expanded: Option<Vec<u8>>,
}

impl ScannedBlock<'_> {
    /// The block's view (its records: the standard ones, expanded if need be).
    pub fn view(&self) -> BlockView<'_> {
        BlockView::checked(self.header, self.stored_body, self.expanded.as_deref())
    }

    /// Total length as stored (header + stored body).
    pub fn len(&self) -> usize {
        BLOCK_HEADER_LEN + self.stored_body.len()
    }

    /// The records ([`BlockView::records`] of [`view`](Self::view)).
    pub fn records(&self) -> impl Iterator<Item = northstar_core::record::RecordView<'_>> + '_ {
        northstar_core::record::records(self.view().body).filter_map(Result::ok)
    }

    /// Always false: a block has at least its header.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// What a scan did: the numbers that show it is linear in the segment's size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanWork {
    /// Offsets where `NBLK` was found while resynchronising (candidate block headers).
    pub candidates: u64,
    /// Candidates whose header was plausible (length within limits and within the data), so
    /// their checksum was computed.
    pub checksummed: u64,
    /// Bytes read by checksums and record walks, all counted (a clean segment: its length).
    pub bytes_examined: u64,
    /// Checksum-matching candidates not decoded because forged blocks had used up the budget.
    pub over_budget: u64,
}

/// Iterator over the blocks of segment bytes (see [`scan_segment`]).
#[derive(Clone, Debug)]
pub struct BlockScanner<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Built on the first damage met: constant-time range checksums from then on.
    crc: Option<RangeCrc<'a>>,
    /// Bytes still allowed for decoding checksum-matching candidates that turn out malformed.
    forged_budget: u64,
    work: ScanWork,
}

impl<'a> BlockScanner<'a> {
    /// Scans `bytes` (a whole segment file) from `start`.
    pub fn new(bytes: &'a [u8], start: usize) -> Self {
        Self {
            bytes,
            pos: start,
            crc: None,
            forged_budget: bytes.len() as u64 + (1 << 20),
            work: ScanWork::default(),
        }
    }

    /// What the scan has done so far.
    pub fn work(&self) -> ScanWork {
        let mut w = self.work;
        w.bytes_examined += self.crc.as_ref().map_or(0, |c| c.bytes_checked);
        w
    }

    /// The cheap checks of a block header at `at` (those [`decode_block`] runs before its
    /// checksum): the header's checksummed range and stored checksum.
    fn header_at(&self, at: usize) -> Result<(usize, usize, u32), BlockError> {
        let (h, total) = check_header(&self.bytes[at..])?;
        Ok((at + 8, at + total, h.crc.get()))
    }

    /// Decodes the block at `at` (expanding a block of interned records).
    fn decode_at(&self, at: usize) -> Result<ScannedBlock<'a>, BlockError> {
        let bytes: &'a [u8] = &self.bytes[at..];
        let mut scratch = Vec::new();
        let (total, expanded) = {
            let view = decode_block_in(bytes, &mut scratch)?;
            (view.len(), view.is_expanded())
        };
        let (header, _) = check_header(bytes)?;
        Ok(ScannedBlock {
            header,
            stored_body: &bytes[BLOCK_HEADER_LEN..total],
            expanded: expanded.then_some(scratch),
        })
    }

    /// Decodes the block at `at`, in bounded work once damage has been met.
    fn try_block(&mut self, at: usize) -> Result<ScannedBlock<'a>, BlockError> {
        if self.crc.is_none() {
            // No damage met yet: blocks are decoded one after the other, each byte once.
            let r = self.decode_at(at);
            self.work.bytes_examined += match &r {
                Ok(v) => v.len() as u64,
                Err(_) => self
                    .header_at(at)
                    .map_or(BLOCK_HEADER_LEN as u64, |(s, e, _)| (e - s) as u64),
            };
            return r;
        }
        let (s, e, stored) = self.header_at(at)?;
        self.work.checksummed += 1;
        let computed = self.crc.as_mut().map_or(0, |c| c.range(s, e));
        if computed != stored {
            return Err(BlockError::Checksum { stored, computed });
        }
        if self.forged_budget == 0 {
            self.work.over_budget += 1;
            return Err(BlockError::Inconsistent(
                "checksum matches, not decoded: too many forged blocks in this segment".into(),
            ));
        }
        let r = self.decode_at(at);
        let len = (e - at) as u64;
        self.work.bytes_examined += len;
        if r.is_err() {
            self.forged_budget = self.forged_budget.saturating_sub(len);
        }
        r
    }

    fn resync(&mut self, from: usize) -> Option<usize> {
        let mut p = from;
        while p + 4 <= self.bytes.len() {
            // Find the next candidate magic quickly, then check the block.
            let i = find_magic(&self.bytes[p..])?;
            let at = p + i;
            if let Some(c) = self.crc.as_mut() {
                // Ranges asked from here on start after `at`: memory stays bounded by a
                // block's reach, not by the segment's size.
                c.discard_before(at);
            }
            self.work.candidates += 1;
            if self.try_block(at).is_ok() {
                return Some(at);
            }
            p = at + 1;
        }
        None
    }
}

/// Offset of the first `NBLK` in `b`.
fn find_magic(b: &[u8]) -> Option<usize> {
    let mut from = 0;
    while from + 4 <= b.len() {
        let i = b[from..b.len() - 3]
            .iter()
            .position(|&x| x == BLOCK_MAGIC[0])?;
        let at = from + i;
        if b[at..at + 4] == BLOCK_MAGIC {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

impl<'a> Iterator for BlockScanner<'a> {
    type Item = ScanItem<'a>;

    fn next(&mut self) -> Option<ScanItem<'a>> {
        if self.pos >= self.bytes.len() {
            return None;
        }
        if let Some(c) = self.crc.as_mut() {
            c.discard_before(self.pos);
        }
        match self.try_block(self.pos) {
            Ok(block) => {
                let offset = self.pos as u64;
                self.pos += block.len();
                Some(ScanItem::Block { offset, block })
            }
            Err(e) => {
                if self.crc.is_none() {
                    self.crc = Some(RangeCrc::new(self.bytes));
                }
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
