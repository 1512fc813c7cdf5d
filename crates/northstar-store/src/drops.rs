//! Where drops happened, for `stats`: each block's drop count covers the events lost since
//! the block cut before it, so its range runs from the end of the block before it in time
//! to its own end.
//!
//! Blocks of imported events (`record_event_at`, `northstar record`) carry their events'
//! own timestamps, often far from the time they were written. Taking the *previous block in
//! the file* as the start would give ranges that end before they begin (`from > to`) around
//! them. So a block's range starts at the latest end, among the blocks before it in the
//! segment (and the segment's creation), that is not after its own end; when there is none
//! (an old-dated imported block) the range is the block's own time span.

use crate::index::BlockEntry;

/// `(from, to, dropped)` for every block of one segment with drops, in file order; `from <=
/// to` always.
pub(crate) fn drop_ranges(created_unix_ns: u64, blocks: &[BlockEntry]) -> Vec<(u64, u64, u64)> {
    let mut out = Vec::new();
    for (i, b) in blocks.iter().enumerate() {
        let n = b.dropped.get();
        if n == 0 {
            continue;
        }
        let (min, max) = (b.min_ts.get(), b.max_ts.get());
        let from = blocks[..i]
            .iter()
            .map(|p| p.max_ts.get())
            .chain(std::iter::once(created_unix_ns))
            .filter(|&t| t <= max)
            .max()
            .unwrap_or(min.min(max));
        out.push((from, max, n));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerocopy::FromZeros;

    fn block(min: u64, max: u64, dropped: u64) -> BlockEntry {
        let mut b = BlockEntry::new_zeroed();
        b.min_ts.set(min);
        b.max_ts.set(max);
        b.dropped.set(dropped);
        b
    }

    #[test]
    fn ranges_never_end_before_they_begin_around_imported_blocks() {
        // Live blocks at 100..200, an import dated far in the future, one dated long ago
        // (with its own skipped records), then live blocks again.
        let blocks = [
            block(100, 110, 0),
            block(9_000, 9_100, 0),
            block(120, 130, 5),
            block(3, 8, 2),
            block(140, 150, 7),
        ];
        let r = drop_ranges(90, &blocks);
        assert_eq!(r, [(110, 130, 5), (3, 8, 2), (130, 150, 7)]);
        assert!(r.iter().all(|(a, b, _)| a <= b));
        // The first block's drops start at the segment's creation.
        assert_eq!(drop_ranges(90, &[block(100, 110, 4)]), [(90, 110, 4)]);
    }
}
