//! Checking an index against its segment.
//!
//! An index is derived data that queries and `stats` trust to *skip* blocks: an index that
//! passes its own checksum but describes other blocks than the segment holds would hide
//! events. Two checks:
//! - [`check_structure`], at every open (cost: one block header read per entry, plus a scan
//!   of the gaps between entries, which exist only where the segment is damaged): every entry
//!   names a real block header with the same length, count, time range and drop count; the
//!   totals add up; and no gap between entries holds a well-formed block.
//! - [`compare_with_scan`], by `verify`: the index equals the one rebuilt from the segment
//!   (per-type counts and type sets included), and its membership filters cover every actor
//!   and session of the rebuilt one.

use zerocopy::FromBytes;

use crate::format::{BlockHeader, BLOCK_HEADER_LEN, SEGMENT_HEADER_LEN};
use crate::index::SegmentIndex;
use crate::scan::{BlockScanner, ScanItem};

/// Cheap structural check of `index` against the segment's bytes. `Err`: what disagrees.
/// `passed(end)` is called after each entry is checked with the end of its block: the entries
/// are read in order, so only a damaged gap (scanned at the end) reads bytes before `end` again
/// (a mapped segment's caller may give those pages back as it goes).
pub(crate) fn check_structure(
    index: &SegmentIndex,
    data: &[u8],
    mut passed: impl FnMut(usize),
) -> Result<(), String> {
    let len = data.len() as u64;
    let mut pos = SEGMENT_HEADER_LEN as u64;
    let (mut records, mut dropped) = (0u64, 0u64);
    let (mut min_ts, mut max_ts) = (u64::MAX, 0u64);
    let mut gaps = Vec::new();
    for (i, e) in index.blocks.iter().enumerate() {
        let (off, elen) = (e.offset.get(), u64::from(e.len.get()));
        if off < pos || off.saturating_add(elen) > len || elen < BLOCK_HEADER_LEN as u64 {
            return Err(format!(
                "entry {i} (offset {off}, {elen} bytes) overlaps another or lies outside the segment"
            ));
        }
        if off > pos {
            gaps.push((pos, off));
        }
        let Ok((h, _)) = BlockHeader::ref_from_prefix(&data[off as usize..]) else {
            return Err(format!("entry {i}: no block header at offset {off}"));
        };
        if h.magic != crate::format::BLOCK_MAGIC
            || BLOCK_HEADER_LEN as u64 + u64::from(h.body_len.get()) != elen
            || h.record_count != e.record_count
            || h.min_ts != e.min_ts
            || h.max_ts != e.max_ts
            || h.dropped != e.dropped
        {
            return Err(format!(
                "entry {i} does not match the block header at offset {off}"
            ));
        }
        records += u64::from(e.record_count.get());
        dropped = dropped.saturating_add(e.dropped.get());
        if e.record_count.get() > 0 {
            min_ts = min_ts.min(e.min_ts.get());
            max_ts = max_ts.max(e.max_ts.get());
        }
        pos = off + elen;
        passed(pos as usize);
    }
    if pos < len {
        gaps.push((pos, len));
    }
    if records != index.record_count
        || dropped != index.dropped
        || !typed_totals_fit(index, records)
        || (records > 0 && (min_ts != index.min_ts || max_ts != index.max_ts))
    {
        return Err("totals do not add up to its block entries".into());
    }
    for (a, b) in gaps {
        let hidden =
            BlockScanner::new(&data[..b as usize], a as usize).find_map(|item| match item {
                ScanItem::Block { offset, .. } => Some(offset),
                ScanItem::Damaged(_) => None,
            });
        if let Some(off) = hidden {
            return Err(format!(
                "the well-formed block at offset {off} is not listed"
            ));
        }
    }
    Ok(())
}

/// Full check (`verify`): `index` against `rebuilt`, the index built by scanning the segment.
pub(crate) fn compare_with_scan(
    index: &SegmentIndex,
    rebuilt: &SegmentIndex,
) -> Result<(), String> {
    if index.blocks.len() != rebuilt.blocks.len() {
        return Err(format!(
            "lists {} blocks, the segment has {}",
            index.blocks.len(),
            rebuilt.blocks.len()
        ));
    }
    for (i, (a, b)) in index.blocks.iter().zip(&rebuilt.blocks).enumerate() {
        let same = a.offset == b.offset
            && a.len == b.len
            && a.record_count == b.record_count
            && a.min_ts == b.min_ts
            && a.max_ts == b.max_ts
            && a.dropped == b.dropped
            && a.type_bits == b.type_bits;
        let covers = a.actor_mask.get() & b.actor_mask.get() == b.actor_mask.get()
            && a.session_mask.get() & b.session_mask.get() == b.session_mask.get();
        if !same || !covers {
            return Err(format!(
                "block entry {i} (offset {}) disagrees with the block",
                a.offset.get()
            ));
        }
    }
    if index.record_count != rebuilt.record_count
        || index.dropped != rebuilt.dropped
        || index.type_bits != rebuilt.type_bits
        || index.per_type != rebuilt.per_type
        || (rebuilt.record_count > 0
            && (index.min_ts != rebuilt.min_ts || index.max_ts != rebuilt.max_ts))
    {
        return Err("its totals disagree with the segment's blocks".into());
    }
    if !index.filters_cover(rebuilt) {
        return Err("its actor or session filter misses ids present in the segment".into());
    }
    Ok(())
}

/// The per-type counts cover the standard types only: with user-defined events in the segment
/// (crate::interning) they add up to at most `records`, without them to exactly `records`.
fn typed_totals_fit(index: &crate::index::SegmentIndex, records: u64) -> bool {
    let typed = index.per_type.iter().sum::<u64>();
    if index.type_bits & crate::format::USER_EVENT_BIT != 0 {
        typed <= records
    } else {
        typed == records
    }
}
