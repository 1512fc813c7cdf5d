//! `verify`: re-reads every segment file from disk and checks every byte.

use std::fs;
use std::path::Path;

use crate::error::{Result, StoreError};
use crate::format::SegmentHeader;
use crate::index::SegmentIndex;
use crate::layout::{index_path, segment_path};
use crate::manager::VerifyReport;
use crate::recovery::{list, DamagedRegion, SkipKind, Skipped};
use crate::scan::{BlockScanner, ScanItem};

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
    let active = horizon();
    for path in foreign {
        report.skipped.push(Skipped {
            path,
            reason: "not a Northstar file".into(),
            kind: SkipKind::Foreign,
        });
    }
    for id in segs {
        if active.is_some_and(|(a, _)| id > a) {
            continue;
        }
        let path = segment_path(dir, id);
        let mut data = match fs::read(&path) {
            Ok(d) => d,
            // Removed by compaction since the listing: nothing to check.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(StoreError::io(&path, e)),
        };
        let is_active = active.is_some_and(|(a, _)| a == id);
        if let Some((_, len)) = active.filter(|_| is_active) {
            if len == 0 {
                continue; // being created: its header is not written yet
            }
            data.truncate(len as usize);
        }
        report.segments += 1;
        let header = match SegmentHeader::parse(&data) {
            Ok(h) => *h,
            Err(e) => {
                report.skipped.push(Skipped {
                    path,
                    reason: e.to_string(),
                    kind: SkipKind::Unreadable,
                });
                continue;
            }
        };
        if header.segment_id.get() != id {
            report.skipped.push(Skipped {
                path: path.clone(),
                reason: format!("header names segment {}", header.segment_id.get()),
                kind: SkipKind::Unreadable,
            });
        }
        for item in BlockScanner::new(&data, crate::format::SEGMENT_HEADER_LEN) {
            match item {
                ScanItem::Block { view, offset } => {
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
            continue;
        }
        let ipath = index_path(dir, id);
        match fs::read(&ipath) {
            Ok(bytes) => match SegmentIndex::decode(&bytes) {
                Some(idx) if idx.segment_len == data.len() as u64 && idx.segment_id == id => {}
                Some(_) => report.skipped.push(Skipped {
                    path: ipath,
                    reason: "index describes another version of the segment (rebuilt on open)"
                        .into(),
                    kind: SkipKind::Rebuilt,
                }),
                None => report.skipped.push(Skipped {
                    path: ipath,
                    reason: "index damaged (rebuilt on open)".into(),
                    kind: SkipKind::Rebuilt,
                }),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io(&ipath, e)),
        }
    }
    Ok(report)
}
