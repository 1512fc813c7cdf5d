//! Retention: delete wholly expired sealed segments, rewrite partly expired ones.
//!
//! A rewrite builds the new segment in a temporary file and renames it over the old one; the
//! old index is removed first, so a crash in between leaves a segment without an index (rebuilt
//! on open), never an index describing the wrong bytes. Readers hold an `Arc` of the old
//! segment's mapping, which stays valid after the rename or unlink.
//!
//! Kept records are re-blocked (small blocks merge into full ones), except a wholly kept block
//! of interned call-site records: it is copied byte for byte, since re-blocking would store
//! its records expanded. Only the block the cutoff falls in is expanded.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use crate::block::BlockBuilder;
use crate::catalog::SharedCatalog;
use crate::catalog::{SealedSegment, SegmentBytes};
use crate::error::{Result, StoreError};
use crate::flusher::BLOCK_TARGET;
use crate::format::SegmentHeader;
use crate::index::SegmentIndex;
use crate::interning::BlockDefinitions;
use crate::layout::{index_path, segment_path, sync_dir, write_atomic};
use crate::report::DamagedRegion;
use crate::scan::{scan_segment, Damage, ScanItem};
use zerocopy::IntoBytes;

/// What a compaction did.
#[derive(Clone, Debug, Default)]
pub struct CompactReport {
    /// Segments deleted whole (every event expired).
    pub deleted: Vec<u32>,
    /// Segments rewritten without their expired events: (id, events kept, events removed).
    pub rewritten: Vec<(u32, u64, u64)>,
    /// Damaged regions of rewritten segments: their bytes fail their checks, so they could
    /// not be copied and are gone from the rewritten segment.
    pub dropped_damage: Vec<CompactDamage>,
}

/// A damaged region a compaction rewrite could not copy (its events are lost for good).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactDamage {
    /// Segment, offset, length and the check that failed.
    pub region: DamagedRegion,
    /// Records the segment's index counted in the region (whether expired or not), when the
    /// index was built before the damage; `None` when the index does not describe it (the
    /// damage was found when the directory was opened, see [`OpenReport::damaged`](crate::OpenReport::damaged)).
    pub records: Option<u64>,
    /// Ring drop counts carried by the blocks in the region, when the index knew them.
    pub dropped_counts: Option<u64>,
}

pub(crate) fn compact(dir: &Path, catalog: &SharedCatalog, cutoff: u64) -> Result<CompactReport> {
    let mut report = CompactReport::default();
    let sealed: Vec<Arc<SealedSegment>> = catalog.read().sealed.values().cloned().collect();
    for seg in sealed {
        let idx = &seg.index;
        let whole = if idx.record_count == 0 {
            idx.created_unix_ns < cutoff
        } else {
            idx.max_ts < cutoff
        };
        if whole {
            catalog.write().sealed.remove(&seg.id);
            for p in [index_path(dir, seg.id), segment_path(dir, seg.id)] {
                match fs::remove_file(&p) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(StoreError::io(&p, e)),
                }
            }
            sync_dir(dir)?;
            report.deleted.push(seg.id);
        } else if idx.min_ts < cutoff {
            let (kept, removed) = rewrite(dir, catalog, &seg, cutoff, &mut report.dropped_damage)?;
            report.rewritten.push((seg.id, kept, removed));
        }
    }
    Ok(report)
}

/// Rewrites `seg` without its records older than `cutoff`. Damaged regions cannot be copied:
/// each one is listed in `damage` (with the records the index counted in it, if it did).
fn rewrite(
    dir: &Path,
    catalog: &SharedCatalog,
    seg: &SealedSegment,
    cutoff: u64,
    damage: &mut Vec<CompactDamage>,
) -> Result<(u64, u64)> {
    let (header, scanner) = scan_segment(seg.data.as_slice()).map_err(|e| StoreError::Corrupt {
        path: seg.path.clone(),
        offset: 0,
        reason: e.to_string(),
    })?;
    let created = header.created_unix_ns.get();
    let mut out = SegmentHeader::new(seg.id, created).as_bytes().to_vec();
    let mut builder = BlockBuilder::new();
    // interning hook: the rewritten blocks carry the definitions their user events need.
    let mut defs = BlockDefinitions::for_rewrite();
    let (mut kept, mut removed, mut dropped) = (0u64, 0u64, 0u64);
    for item in scanner {
        let (offset, block) = match item {
            ScanItem::Block { offset, block } => (offset, block),
            ScanItem::Damaged(d) => {
                damage.push(lost_region(seg, d));
                continue;
            }
        };
        let view = block.view();
        defs.carry(&view); // interning hook
        if view.is_expanded() && view.header.min_ts.get() >= cutoff {
            // Wholly kept and stored compact (interned call-site records): copied as it is,
            // its drop count and definitions with it. Re-blocked, its records would be
            // stored expanded, several times their size. What the builder holds goes first,
            // so the records keep their order.
            if builder.record_count() > 0 || dropped > 0 {
                cut_block(
                    &mut out,
                    &mut builder,
                    &mut defs,
                    &mut dropped,
                    view.header.min_ts.get(),
                );
            }
            let start = usize::try_from(offset).unwrap_or(usize::MAX);
            let stored = seg
                .data
                .as_slice()
                .get(start..start.saturating_add(view.len()))
                .ok_or_else(|| StoreError::Corrupt {
                    path: seg.path.clone(),
                    offset,
                    reason: "a scanned block lies outside its segment".into(),
                })?;
            out.extend_from_slice(stored);
            kept += u64::from(view.header.record_count.get());
            continue;
        }
        if view.header.max_ts.get() >= cutoff {
            dropped += view.header.dropped.get();
        }
        for r in view.records() {
            if r.kind() == northstar_core::RecordKind::Definition {
                continue; // re-emitted by the interning hook where needed
            }
            if r.timestamp() < cutoff {
                removed += 1;
                continue;
            }
            // interning hook: the schema's definition first, once per new block.
            let corrupt = |e: crate::block::BlockError| StoreError::Corrupt {
                path: seg.path.clone(),
                offset: 0,
                reason: e.to_string(),
            };
            if !defs
                .before_record(&mut builder, &r, r.timestamp(), r.header().event_seq.get())
                .map_err(corrupt)?
            {
                // Undecodable (its block had no definition): lost, counted as dropped.
                dropped += defs.take_skipped();
                continue;
            }
            builder
                .push(r.bytes(), r.timestamp(), r.header().event_seq.get())
                .map_err(|e| StoreError::Corrupt {
                    path: seg.path.clone(),
                    offset: 0,
                    reason: e.to_string(),
                })?;
            kept += 1;
            if builder.body_len() >= BLOCK_TARGET {
                cut_block(&mut out, &mut builder, &mut defs, &mut dropped, created);
            }
        }
    }
    if builder.record_count() > 0 || dropped > 0 {
        cut_block(&mut out, &mut builder, &mut defs, &mut dropped, cutoff);
    }
    let (_, scan) = scan_segment(&out).map_err(|e| StoreError::Corrupt {
        path: seg.path.clone(),
        offset: 0,
        reason: e.to_string(),
    })?;
    let (index, _) = SegmentIndex::build(seg.id, created, out.len() as u64, scan);
    let ipath = index_path(dir, seg.id);
    match fs::remove_file(&ipath) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io(&ipath, e)),
    }
    let spath = segment_path(dir, seg.id);
    write_atomic(&spath, &out)?;
    write_atomic(&ipath, &index.encode())?;
    let file = fs::File::open(&spath).map_err(|e| StoreError::io(&spath, e))?;
    let data = SegmentBytes::map(&file, &spath)?;
    catalog.write().sealed.insert(
        seg.id,
        Arc::new(SealedSegment {
            id: seg.id,
            path: spath,
            data,
            index,
        }),
    );
    Ok((kept, removed))
}

/// Appends the block in `builder` to `out`, with the ring drops counted since the previous
/// block (`now` stamps a block without records), and starts the next: its user events'
/// definitions are written again (interning hook).
fn cut_block(
    out: &mut Vec<u8>,
    builder: &mut BlockBuilder,
    defs: &mut BlockDefinitions,
    dropped: &mut u64,
    now: u64,
) {
    out.extend_from_slice(builder.finish(std::mem::take(dropped), now));
    builder.clear();
    defs.block_cut(); // interning hook
}

/// A damaged region a rewrite leaves out, with what the segment's index knew about it.
fn lost_region(seg: &SealedSegment, d: Damage) -> CompactDamage {
    let (start, end) = (d.offset, d.offset.saturating_add(d.len));
    let inside: Vec<_> = seg
        .index
        .blocks
        .iter()
        .filter(|b| b.offset.get() >= start && b.offset.get() < end)
        .collect();
    // The index was built before the damage (else recovery would have left these blocks out
    // of it): its entries say what the region held.
    let (records, dropped_counts) = if inside.is_empty() {
        (None, None)
    } else {
        (
            Some(inside.iter().map(|b| u64::from(b.record_count.get())).sum()),
            Some(inside.iter().map(|b| b.dropped.get()).sum()),
        )
    };
    CompactDamage {
        region: DamagedRegion {
            segment_id: seg.id,
            path: seg.path.clone(),
            offset: d.offset,
            len: d.len,
            reason: d.reason,
        },
        records,
        dropped_counts,
    }
}
