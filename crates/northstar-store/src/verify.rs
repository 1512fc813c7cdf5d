//! `verify`: re-reads every segment file from disk and checks every byte.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::error::{Result, StoreError};
use crate::format::SegmentHeader;
use crate::fsread::segment_bytes;
use crate::index::SegmentIndex;
use crate::index_check::compare_with_scan;
use crate::layout::{index_path, segment_path};
use crate::recovery::{
    list, open_segment, usable_index, DamagedRegion, SkipKind, Skipped, RESERVED_SEGMENT_ID,
};
use crate::scan::{BlockScanner, ScanItem};

/// What `verify` found.
#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    /// Segment files checked.
    pub segments: usize,
    /// Well-formed blocks.
    pub blocks: u64,
    /// Records in them.
    pub records: u64,
    /// Every damaged region.
    pub damaged: Vec<DamagedRegion>,
    /// Files that are not readable segments (foreign, bad header, future version) and index
    /// files that are damaged or stale (rebuilt on the next writable open).
    pub skipped: Vec<Skipped>,
    /// Damage removed earlier (truncated tails, regions compaction left out), from the
    /// store's damage log: not damage any more, but events that were lost.
    pub logged: Vec<crate::damage_log::LoggedDamage>,
}

impl VerifyReport {
    /// No damage and no unreadable Northstar file (foreign files and indexes to rebuild are
    /// reported but lose nothing).
    pub fn is_clean(&self) -> bool {
        self.damaged.is_empty() && !self.skipped.iter().any(|s| s.kind.is_finding())
    }
}

/// Checks every segment of `dir`. `horizon` reads the writer's published horizon (its newest
/// segment and that segment's committed length; `None` without a writer in this process).
/// It is read after listing the directory, so every segment listed is either older than the
/// horizon (sealed: complete), the horizon's (read up to its committed length), or newer
/// (created since: not looked at). Bytes past the horizon may be a block being written, not
/// damage.
pub(crate) fn verify_dir(
    dir: &Path,
    horizon: impl FnOnce() -> Option<(u32, u64)>,
) -> Result<VerifyReport> {
    let mut report = VerifyReport::default();
    let (segs, foreign, _temps) = list(dir)?;
    let last = segs
        .iter()
        .rev()
        .find(|&&id| id != RESERVED_SEGMENT_ID)
        .copied();
    let active = horizon();
    for path in foreign {
        report.skipped.push(Skipped {
            path,
            reason: "not a Northstar file".into(),
            kind: SkipKind::Foreign,
        });
    }
    // Segments are checked on every core (each is read and checked on its own), their
    // reports merged in segment order: the same report as one thread, in a fraction of the
    // time on a large store. An error is the first in segment order, as before.
    let ids: Vec<u32> = segs
        .into_iter()
        .filter(|&id| active.is_none_or(|(a, _)| id <= a))
        .collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, ids.len().max(1));
    let next = AtomicUsize::new(0);
    let done = Mutex::new(Vec::with_capacity(ids.len()));
    let worker = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(&id) = ids.get(i) else { break };
        let r = verify_segment(dir, id, last, active);
        done.lock().unwrap_or_else(|p| p.into_inner()).push((i, r));
    };
    std::thread::scope(|s| {
        for _ in 1..threads {
            s.spawn(worker);
        }
        worker();
    });
    let mut done = done.into_inner().unwrap_or_else(|p| p.into_inner());
    done.sort_by_key(|(i, _)| *i);
    for (_, part) in done {
        let part = part?;
        report.segments += part.segments;
        report.blocks += part.blocks;
        report.records += part.records;
        report.damaged.extend(part.damaged);
        report.skipped.extend(part.skipped);
    }
    Ok(report)
}

/// Checks segment `id` of `dir` (see [`verify_dir`]; `last` is the newest segment listed,
/// `active` the writer's horizon): its report alone.
fn verify_segment(
    dir: &Path,
    id: u32,
    last: Option<u32>,
    active: Option<(u32, u64)>,
) -> Result<VerifyReport> {
    let mut report = VerifyReport::default();
    let path = segment_path(dir, id);
    if id == RESERVED_SEGMENT_ID {
        report.skipped.push(Skipped {
            path,
            reason: format!(
                "segment id {RESERVED_SEGMENT_ID} is reserved (no writer creates it), not read"
            ),
            kind: SkipKind::Unreadable,
        });
        return Ok(report);
    }
    // Gone since the listing (removed by compaction): nothing to check.
    let Some(file) = open_segment(&path, &mut report.skipped)? else {
        return Ok(report);
    };
    let file_len = file.metadata().map_err(|e| StoreError::io(&path, e))?.len();
    let is_active = active.is_some_and(|(a, _)| a == id);
    let mut len = file_len;
    if let Some((_, committed)) = active.filter(|_| is_active) {
        if committed == 0 {
            return Ok(report); // being created: its header is not written yet
        }
        len = len.min(committed);
    }
    // Another process may be writing the newest segment: read it (bounded) rather than map it.
    let may_change = Some(id) == last;
    let bytes = segment_bytes(&file, &path, file_len, may_change)?;
    let data = &bytes.as_slice()[..(len as usize).min(bytes.as_slice().len())];
    report.segments += 1;
    let header = match SegmentHeader::parse(data) {
        Ok(h) => *h,
        Err(e) => {
            report.skipped.push(Skipped {
                path,
                reason: e.to_string(),
                kind: SkipKind::Unreadable,
            });
            return Ok(report);
        }
    };
    if header.segment_id.get() != id {
        report.skipped.push(Skipped {
            path: path.clone(),
            reason: format!("header names segment {}", header.segment_id.get()),
            kind: SkipKind::Unreadable,
        });
    }
    let mut scanned = Vec::new();
    let scanner = BlockScanner::new(data, crate::format::SEGMENT_HEADER_LEN);
    let (rebuilt, _) = SegmentIndex::build(
        id,
        header.created_unix_ns.get(),
        data.len() as u64,
        scanner.inspect(|item| scanned.push(item.clone())),
    );
    for item in scanned {
        match item {
            ScanItem::Block { block, offset } => {
                let view = block.view();
                report.blocks += 1;
                report.records += u64::from(view.header.record_count.get());
                // User events whose schema is missing or does not match (interning).
                for (at, len, reason) in crate::interning::check_block(&view) {
                    report.damaged.push(DamagedRegion {
                        segment_id: id,
                        path: path.clone(),
                        offset: offset + at,
                        len,
                        reason,
                    });
                }
            }
            ScanItem::Damaged(d) => report.damaged.push(DamagedRegion {
                segment_id: id,
                path: path.clone(),
                offset: d.offset,
                len: d.len,
                reason: d.reason,
            }),
        }
    }
    if is_active {
        return Ok(report);
    }
    let ipath = index_path(dir, id);
    match usable_index(&ipath, id, header.created_unix_ns.get(), data, |_| {}) {
        Ok(idx) => {
            if let Err(why) = compare_with_scan(&idx, &rebuilt) {
                report.skipped.push(Skipped {
                    path: ipath,
                    reason: format!(
                        "index disagrees with its segment: {why} (its events may be hidden from queries and stats; rebuilt by the next writable open)"
                    ),
                    kind: SkipKind::IndexMismatch,
                });
            }
        }
        Err(why) if why == "missing" => {}
        Err(why) if why.starts_with("disagrees") => report.skipped.push(Skipped {
            path: ipath,
            reason: format!(
                "index {why} (its events may be hidden from queries and stats; rebuilt by the next writable open)"
            ),
            kind: SkipKind::IndexMismatch,
        }),
        Err(why) => report.skipped.push(Skipped {
            path: ipath,
            reason: format!("index {why} (rebuilt on open)"),
            kind: SkipKind::Rebuilt,
        }),
    }
    Ok(report)
}
