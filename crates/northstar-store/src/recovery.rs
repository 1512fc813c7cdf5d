//! Opening a data directory: classify files, check segment headers, load or rebuild indexes,
//! truncate the torn tail of the last segment, report everything that was skipped.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::block::decode_block_in;
use crate::catalog::{ActiveSnapshot, SealedSegment, SegmentBytes};
use crate::error::{Result, StoreError};
use crate::format::{
    BlockHeader, HeaderError, SegmentHeader, BLOCK_HEADER_LEN, BLOCK_MAGIC, FORMAT_VERSION,
    MAX_BLOCK_BODY, MAX_SEGMENT_LEN, SEGMENT_HEADER_LEN,
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
    /// A read-only open's last segment when it held only whole, good blocks: read by blocks
    /// (`pread`) rather than copied or mapped, since a writer may still change it.
    pub active: Option<Arc<ActiveSnapshot>>,
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
    let mut active = None;
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
        match load_segment(dir, &path, file, &header, is_last, writable, &mut report)? {
            LoadedSegment::Sealed(seg) => {
                sealed.insert(id, Arc::new(seg));
            }
            LoadedSegment::ByBlocks(snap) => active = Some(Arc::new(snap)),
        }
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
        active,
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
    passed: impl FnMut(usize),
) -> std::result::Result<SegmentIndex, String> {
    let index = read_index(ipath, id, created, data.len() as u64)?;
    crate::index_check::check_structure(&index, data, passed)
        .map_err(|e| format!("disagrees with its segment: {e}"))?;
    Ok(index)
}

/// Reads the index of segment `id` (`len` bytes) if it decodes and names that segment at that
/// length; otherwise says why not. Not yet checked against the segment's blocks.
fn read_index(
    ipath: &Path,
    id: u32,
    created: u64,
    len: u64,
) -> std::result::Result<SegmentIndex, String> {
    let bytes = match read_regular(ipath, max_index_len(len)) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err("missing".into()),
        Err(e) => return Err(e.to_string()),
    };
    let index = SegmentIndex::decode(&bytes).ok_or_else(|| "damaged".to_string())?;
    if index.segment_id != id || index.created_unix_ns != created {
        return Err("describes another segment".into());
    }
    if index.segment_len != len {
        return Err(format!(
            "stale (describes {} bytes, the segment has {len})",
            index.segment_len,
        ));
    }
    Ok(index)
}

/// A loaded segment: mapped (or read whole), or, for a read-only open's last segment that
/// holds only good blocks, left on disk and read by blocks.
enum LoadedSegment {
    Sealed(SealedSegment),
    ByBlocks(ActiveSnapshot),
}

/// How far a check of a mapped segment goes before it gives the pages it has passed back
/// (resident memory of an open stays near this, whatever the segment or store sizes).
const RELEASE_STEP: usize = 4 << 20;

/// Reports an index file that is not used.
fn report_unusable(report: &mut OpenReport, ipath: &Path, why: &str, writable: bool) {
    if why == "missing" {
        return;
    }
    let mismatch = why.starts_with("disagrees");
    report.skipped.push(Skipped {
        path: ipath.to_owned(),
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

/// Walks a segment a writer may still change (the last one, in a read-only open) block by
/// block with `pread` into one block's buffer, building its index: `Some` when it holds only
/// whole, good blocks up to `len` (the usual case: a writer writes whole blocks). `None` at the
/// first block that is torn, damaged, or changed under the walk (a short read after a
/// truncation): the caller then reads the segment whole, as before, so damage is classified
/// and reported by the one scanner.
fn walk_blocks(file: &File, id: u32, created: u64, len: u64) -> Option<SegmentIndex> {
    use std::os::unix::fs::FileExt;
    use zerocopy::FromBytes;
    let mut index = SegmentIndex::new(id, created, SEGMENT_HEADER_LEN as u64);
    let mut buf = Vec::new();
    let mut expanded = Vec::new();
    let mut pos = SEGMENT_HEADER_LEN as u64;
    while pos < len {
        let mut head = [0u8; BLOCK_HEADER_LEN];
        if pos + BLOCK_HEADER_LEN as u64 > len || file.read_exact_at(&mut head, pos).is_err() {
            return None;
        }
        let h = BlockHeader::ref_from_bytes(&head[..]).ok()?;
        let body = h.body_len.get() as usize;
        let total = BLOCK_HEADER_LEN + body;
        if h.magic != BLOCK_MAGIC || body > MAX_BLOCK_BODY || pos + total as u64 > len {
            return None;
        }
        buf.resize(total, 0);
        file.read_exact_at(&mut buf, pos).ok()?;
        let view = decode_block_in(&buf, &mut expanded).ok()?;
        index.add_block(pos, &view);
        pos += total as u64;
    }
    index.segment_len = len;
    Some(index)
}

fn load_segment(
    dir: &Path,
    path: &Path,
    file: File,
    header: &SegmentHeader,
    is_last: bool,
    writable: bool,
    report: &mut OpenReport,
) -> Result<LoadedSegment> {
    let id = header.segment_id.get();
    let created = header.created_unix_ns.get();
    let len = file.metadata().map_err(|e| StoreError::io(path, e))?.len();
    let ipath = index_path(dir, id);
    // A segment a writer may still change (the last one, in a read-only open) is read by
    // blocks when they are all whole and good and its index file, if any, agrees with them;
    // otherwise (a rare case: the checks and reports below need the bytes) it is read into
    // memory when small. Every other one is mapped.
    let may_change = is_last && !writable;
    if may_change {
        if let Some(index) = walk_blocks(&file, id, created, len) {
            let agrees = match read_index(&ipath, id, created, len) {
                Ok(i) => crate::index_check::compare_with_scan(&i, &index).is_ok(),
                Err(why) => {
                    report_unusable(report, &ipath, &why, writable);
                    true
                }
            };
            if agrees {
                return Ok(LoadedSegment::ByBlocks(ActiveSnapshot {
                    path: path.to_owned(),
                    file: Arc::new(file),
                    index,
                }));
            }
        }
    }
    let data = segment_bytes(&file, path, len, may_change)?;
    // Pages of a mapped segment are given back as the check passes them and once it is
    // loaded: an open's resident memory does not grow with the store (queries map again
    // what they read).
    let mut released = 0usize;
    let checked = usable_index(&ipath, id, created, data.as_slice(), |end| {
        if end - released >= RELEASE_STEP {
            data.release(released..end);
            released = end;
        }
    });
    let why = match checked {
        Ok(index) => {
            data.release(0..data.as_slice().len());
            return Ok(LoadedSegment::Sealed(SealedSegment {
                id,
                path: path.to_owned(),
                data,
                index,
            }));
        }
        Err(why) => why,
    };
    report_unusable(report, &ipath, &why, writable);
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
        return Ok(LoadedSegment::Sealed(SealedSegment {
            id,
            path: path.to_owned(),
            data,
            index,
        }));
    }
    data.release(0..data.as_slice().len());
    Ok(LoadedSegment::Sealed(SealedSegment {
        id,
        path: path.to_owned(),
        data,
        index,
    }))
}
