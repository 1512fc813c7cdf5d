//! Opening a data directory: classify files, check segment headers, load or rebuild indexes,
//! truncate the torn tail of the last segment, report everything that was skipped.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::catalog::{SealedSegment, SegmentBytes};
use crate::error::{Result, StoreError};
use crate::format::{
    HeaderError, SegmentHeader, FORMAT_VERSION, MAX_SEGMENT_LEN, SEGMENT_HEADER_LEN,
};
use crate::fsread::{open_regular, read_regular, segment_bytes};
use crate::index::SegmentIndex;
use crate::layout::{classify, index_path, sync_dir, write_atomic, Entry};
pub use crate::report::{DamagedRegion, OpenReport, SkipKind, Skipped};
use crate::scan::{scan_segment, Damage};

fn damaged_region(segment_id: u32, path: &Path, d: Damage) -> DamagedRegion {
    DamagedRegion {
        segment_id,
        path: path.to_owned(),
        offset: d.offset,
        len: d.len,
        reason: d.reason,
    }
}

/// The loaded directory.
pub(crate) struct Loaded {
    pub sealed: BTreeMap<u32, Arc<SealedSegment>>,
    pub next_id: u32,
    pub report: OpenReport,
}

/// Reads up to `buf.len()` bytes at offset 0 of `file`; returns how many it got.
fn read_head(file: &File, buf: &mut [u8]) -> std::io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Lists the directory: segment ids, and what else is there.
pub(crate) fn list(dir: &Path) -> Result<(Vec<u32>, Vec<PathBuf>, Vec<PathBuf>)> {
    let mut segs = Vec::new();
    let mut foreign = Vec::new();
    let mut temps = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))? {
        let entry = entry.map_err(|e| StoreError::io(dir, e))?;
        let path = entry.path();
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            foreign.push(path);
            continue;
        };
        let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
        match classify(name) {
            Entry::Segment(id) if is_file => segs.push(id),
            Entry::Index(_) | Entry::Meta => {}
            Entry::Temp => temps.push(path),
            _ => foreign.push(path),
        }
    }
    segs.sort_unstable();
    Ok((segs, foreign, temps))
}

/// Checks a segment's header (read from the open file); `Ok(None)` with a report entry when
/// the file is unusable.
pub(crate) fn check_header(
    file: &File,
    path: &Path,
    id: u32,
    skipped: &mut Vec<Skipped>,
) -> Result<Option<SegmentHeader>> {
    let mut buf = [0u8; SEGMENT_HEADER_LEN];
    let n = read_head(file, &mut buf).map_err(|e| StoreError::io(path, e))?;
    match SegmentHeader::parse(&buf[..n]) {
        Ok(h) if h.segment_id.get() != id => {
            skipped.push(Skipped {
                kind: SkipKind::Unreadable,
                path: path.to_owned(),
                reason: format!(
                    "header names segment {}, file name {id}",
                    h.segment_id.get()
                ),
            });
            Ok(None)
        }
        Ok(h) => Ok(Some(*h)),
        Err(HeaderError::FutureVersion(found)) => Err(StoreError::FutureVersion {
            path: path.to_owned(),
            found,
            supported: FORMAT_VERSION,
        }),
        Err(e) => {
            skipped.push(Skipped {
                path: path.to_owned(),
                reason: e.to_string(),
                kind: SkipKind::Unreadable,
            });
            Ok(None)
        }
    }
}

/// The one segment id no writer ever creates (the id after it would overflow): a file with
/// this name is skipped and reported, never read and never a reason to fail.
pub(crate) const RESERVED_SEGMENT_ID: u32 = u32::MAX;

/// Opens a listed segment file as a careful reader. `Ok(None)`: gone since the listing (a
/// compaction removed it: its events had expired) or refused (not a regular file: reported).
pub(crate) fn open_segment(path: &Path, skipped: &mut Vec<Skipped>) -> Result<Option<File>> {
    match open_regular(path) {
        Ok(f) => {
            let len = f.metadata().map_err(|e| StoreError::io(path, e))?.len();
            if len > MAX_SEGMENT_LEN {
                skipped.push(Skipped {
                    path: path.to_owned(),
                    reason: format!(
                        "{len} bytes, more than the {MAX_SEGMENT_LEN} a segment may hold: not read"
                    ),
                    kind: SkipKind::Unreadable,
                });
                return Ok(None);
            }
            Ok(Some(f))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
            skipped.push(Skipped {
                path: path.to_owned(),
                reason: e.to_string(),
                kind: SkipKind::Unreadable,
            });
            Ok(None)
        }
        Err(e) => Err(StoreError::io(path, e)),
    }
}

/// Refuses a writer configuration whose segments could outgrow [`MAX_SEGMENT_LEN`].
pub(crate) fn check_segment_max(segment_max_bytes: u64) -> Result<()> {
    let limit =
        MAX_SEGMENT_LEN - (crate::format::MAX_BLOCK_BODY + crate::format::BLOCK_HEADER_LEN) as u64;
    if segment_max_bytes > limit {
        return Err(StoreError::SegmentMaxTooLarge {
            requested: segment_max_bytes,
            limit,
            max_segment: MAX_SEGMENT_LEN,
        });
    }
    Ok(())
}

/// Loads every segment of `dir`. `writable`: remove temp files and header-only leftovers,
/// truncate the torn tail of the last segment, and save rebuilt indexes.
pub(crate) fn load(dir: &Path, writable: bool) -> Result<Loaded> {
    let mut report = OpenReport::default();
    let (mut segs, foreign, temps) = list(dir)?;
    for path in foreign {
        report.skipped.push(Skipped {
            path,
            reason: "not a Northstar file".into(),
            kind: SkipKind::Foreign,
        });
    }
    for path in temps {
        if writable {
            fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
            report.temp_removed.push(path);
        }
    }
    if segs.last() == Some(&RESERVED_SEGMENT_ID) {
        segs.pop();
        report.skipped.push(Skipped {
            path: crate::layout::segment_path(dir, RESERVED_SEGMENT_ID),
            reason: format!(
                "segment id {RESERVED_SEGMENT_ID} is reserved (no writer creates it), not read"
            ),
            kind: SkipKind::Unreadable,
        });
    }
    let last = segs.last().copied();
    let mut sealed = BTreeMap::new();
    for &id in &segs {
        let path = crate::layout::segment_path(dir, id);
        let is_last = Some(id) == last;
        let Some(file) = open_segment(&path, &mut report.skipped)? else {
            continue;
        };
        let before = report.skipped.len();
        let Some(header) = check_header(&file, &path, id, &mut report.skipped)? else {
            let len = file.metadata().map(|m| m.len()).unwrap_or(0);
            if writable && is_last && len < SEGMENT_HEADER_LEN as u64 {
                // A crash while creating the segment: it holds no block, nothing is lost.
                fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
                if let Some(s) = report.skipped.get_mut(before) {
                    s.reason
                        .push_str("; removed (crash while creating the segment)");
                }
            }
            continue;
        };
        let seg = load_segment(dir, &path, file, &header, is_last, writable, &mut report)?;
        sealed.insert(id, Arc::new(seg));
    }
    let next_id = match last {
        Some(id) if id >= RESERVED_SEGMENT_ID - 1 => {
            if writable {
                return Err(StoreError::IdsExhausted {
                    dir: dir.to_owned(),
                });
            }
            RESERVED_SEGMENT_ID
        }
        Some(id) => id + 1,
        None => 1,
    };
    Ok(Loaded {
        sealed,
        next_id,
        report,
    })
}

/// Largest index file that can describe a segment of `segment_len` bytes (one entry per
/// block, a block takes at least its 48-byte header).
fn max_index_len(segment_len: u64) -> u64 {
    672 + 64 * (segment_len / crate::format::BLOCK_HEADER_LEN as u64 + 1) + 4
}

/// Reads the index of segment `id` if it is a usable description of the segment's `data`;
/// otherwise says why not (the caller rebuilds it).
pub(crate) fn usable_index(
    ipath: &Path,
    id: u32,
    created: u64,
    data: &[u8],
) -> std::result::Result<SegmentIndex, String> {
    let bytes = match read_regular(ipath, max_index_len(data.len() as u64)) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err("missing".into()),
        Err(e) => return Err(e.to_string()),
    };
    let index = SegmentIndex::decode(&bytes).ok_or_else(|| "damaged".to_string())?;
    if index.segment_id != id || index.created_unix_ns != created {
        return Err("describes another segment".into());
    }
    if index.segment_len != data.len() as u64 {
        return Err(format!(
            "stale (describes {} bytes, the segment has {})",
            index.segment_len,
            data.len()
        ));
    }
    crate::index_check::check_structure(&index, data)
        .map_err(|e| format!("disagrees with its segment: {e}"))?;
    Ok(index)
}

fn load_segment(
    dir: &Path,
    path: &Path,
    file: File,
    header: &SegmentHeader,
    is_last: bool,
    writable: bool,
    report: &mut OpenReport,
) -> Result<SealedSegment> {
    let id = header.segment_id.get();
    let created = header.created_unix_ns.get();
    let len = file.metadata().map_err(|e| StoreError::io(path, e))?.len();
    // A segment a writer may still change (the last one, in a read-only open) is read into
    // memory when small; every other one is mapped.
    let data = segment_bytes(&file, path, len, is_last && !writable)?;
    let ipath = index_path(dir, id);
    let why = match usable_index(&ipath, id, created, data.as_slice()) {
        Ok(index) => {
            return Ok(SealedSegment {
                id,
                path: path.to_owned(),
                data,
                index,
            })
        }
        Err(why) => why,
    };
    if why != "missing" {
        let mismatch = why.starts_with("disagrees");
        report.skipped.push(Skipped {
            path: ipath.clone(),
            reason: if writable {
                format!("index {why}: rebuilt from the segment")
            } else {
                format!("index {why}: not used, the segment was scanned instead")
            },
            kind: if mismatch {
                SkipKind::IndexMismatch
            } else {
                SkipKind::Rebuilt
            },
        });
    }
    // No usable index: scan the data.
    let bytes = data.as_slice();
    let (_, scanner) = scan_segment(bytes).map_err(|e| StoreError::Corrupt {
        path: path.to_owned(),
        offset: 0,
        reason: e.to_string(),
    })?;
    let (mut index, damage) = SegmentIndex::build(id, created, bytes.len() as u64, scanner);
    let mut truncate_to = None;
    for d in damage {
        if d.to_end && is_last {
            if writable {
                truncate_to = Some(d.offset);
                index.segment_len = d.offset;
                report.truncated.push((id, d.offset, d.len));
                report.truncated_reasons.push(d.reason.clone());
            } else {
                let mut r = damaged_region(id, path, d);
                r.reason = format!("torn tail (a writer may still be writing it): {}", r.reason);
                report.damaged.push(r);
            }
        } else {
            report.damaged.push(damaged_region(id, path, d));
        }
    }
    if writable {
        drop(data);
        if let Some(new_len) = truncate_to {
            let f = OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| StoreError::io(path, e))?;
            f.set_len(new_len)
                .and_then(|_| f.sync_all())
                .map_err(|e| StoreError::io(path, e))?;
        }
        write_atomic(&index_path(dir, id), &index.encode())?;
        sync_dir(dir)?;
        report.indexes_rebuilt.push(id);
        let file = open_regular(path).map_err(|e| StoreError::io(path, e))?;
        let data = SegmentBytes::map(&file, path)?;
        return Ok(SealedSegment {
            id,
            path: path.to_owned(),
            data,
            index,
        });
    }
    Ok(SealedSegment {
        id,
        path: path.to_owned(),
        data,
        index,
    })
}
