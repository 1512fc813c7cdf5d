//! Opening a data directory: classify files, check segment headers, load or rebuild indexes,
//! truncate the torn tail of the last segment, report everything that was skipped.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::catalog::{SealedSegment, SegmentBytes};
use crate::error::{Result, StoreError};
use crate::format::{HeaderError, SegmentHeader, FORMAT_VERSION, SEGMENT_HEADER_LEN};
use crate::index::SegmentIndex;
use crate::layout::{classify, index_path, sync_dir, write_atomic, Entry};
use crate::scan::{scan_segment, Damage};

/// A file that was not used, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The file.
    pub path: PathBuf,
    /// Why it was skipped.
    pub reason: String,
    /// What skipping it means for the data.
    pub kind: SkipKind,
}

/// What a skipped file means for the data: only an unreadable Northstar file is a finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipKind {
    /// Not a Northstar file (anything else in the directory): nothing is lost.
    Foreign,
    /// An index that will be rebuilt from its segment: nothing is lost.
    Rebuilt,
    /// A Northstar file that cannot be read (a segment whose header is damaged, the team
    /// directory): its contents are lost or ignored, so `verify` reports it.
    Unreadable,
}

impl SkipKind {
    /// Whether `verify` counts it as damage.
    pub fn is_finding(self) -> bool {
        self == Self::Unreadable
    }
}

/// A damaged region of a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DamagedRegion {
    /// Segment id.
    pub segment_id: u32,
    /// Segment file.
    pub path: PathBuf,
    /// Offset of the damage in the file.
    pub offset: u64,
    /// Bytes skipped.
    pub len: u64,
    /// The check that failed.
    pub reason: String,
}

impl DamagedRegion {
    fn new(segment_id: u32, path: &Path, d: Damage) -> Self {
        Self {
            segment_id,
            path: path.to_owned(),
            offset: d.offset,
            len: d.len,
            reason: d.reason,
        }
    }
}

/// What opening a directory found and did.
#[derive(Clone, Debug, Default)]
pub struct OpenReport {
    /// Files not used: foreign files, unreadable or damaged headers.
    pub skipped: Vec<Skipped>,
    /// Damaged blocks in the middle of segments, skipped (the rest stays readable).
    pub damaged: Vec<DamagedRegion>,
    /// Torn tails cut off the last segment: (segment id, new length, bytes removed).
    pub truncated: Vec<(u32, u64, u64)>,
    /// Segments whose index was missing or damaged and was rebuilt.
    pub indexes_rebuilt: Vec<u32>,
    /// Leftovers of interrupted atomic writes that were removed.
    pub temp_removed: Vec<PathBuf>,
}

/// The loaded directory.
pub(crate) struct Loaded {
    pub sealed: BTreeMap<u32, Arc<SealedSegment>>,
    pub next_id: u32,
    pub report: OpenReport,
}

fn read_prefix(path: &Path, n: usize) -> Result<Vec<u8>> {
    let f = File::open(path).map_err(|e| StoreError::io(path, e))?;
    let mut buf = Vec::with_capacity(n);
    f.take(n as u64)
        .read_to_end(&mut buf)
        .map_err(|e| StoreError::io(path, e))?;
    Ok(buf)
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

/// Checks a segment's header; `Ok(None)` with a report entry when the file is unusable.
pub(crate) fn check_header(
    path: &Path,
    id: u32,
    skipped: &mut Vec<Skipped>,
) -> Result<Option<SegmentHeader>> {
    let prefix = read_prefix(path, SEGMENT_HEADER_LEN)?;
    match SegmentHeader::parse(&prefix) {
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

/// Loads every segment of `dir`. `writable`: remove temp files and header-only leftovers,
/// truncate the torn tail of the last segment, and save rebuilt indexes.
pub(crate) fn load(dir: &Path, writable: bool) -> Result<Loaded> {
    let mut report = OpenReport::default();
    let (segs, foreign, temps) = list(dir)?;
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
    let last = segs.last().copied();
    let mut sealed = BTreeMap::new();
    for &id in &segs {
        let path = crate::layout::segment_path(dir, id);
        let is_last = Some(id) == last;
        let before = report.skipped.len();
        let Some(header) = check_header(&path, id, &mut report.skipped)? else {
            let len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
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
        let seg = load_segment(dir, &path, &header, is_last, writable, &mut report)?;
        sealed.insert(id, Arc::new(seg));
    }
    let next_id = match last {
        Some(u32::MAX) => return Err(StoreError::Refused("segment ids exhausted".into())),
        Some(id) => id + 1,
        None => 1,
    };
    Ok(Loaded {
        sealed,
        next_id,
        report,
    })
}

fn load_segment(
    dir: &Path,
    path: &Path,
    header: &SegmentHeader,
    is_last: bool,
    writable: bool,
    report: &mut OpenReport,
) -> Result<SealedSegment> {
    let id = header.segment_id.get();
    let created = header.created_unix_ns.get();
    let file = File::open(path).map_err(|e| StoreError::io(path, e))?;
    let len = file.metadata().map_err(|e| StoreError::io(path, e))?.len();
    let ipath = index_path(dir, id);
    if let Ok(bytes) = fs::read(&ipath) {
        if let Some(index) = SegmentIndex::decode(&bytes) {
            if index.segment_id == id
                && index.segment_len == len
                && index.created_unix_ns == created
            {
                let data = SegmentBytes::map(&file, path)?;
                return Ok(SealedSegment {
                    id,
                    path: path.to_owned(),
                    data,
                    index,
                });
            }
        }
    }
    // No usable index: scan the data.
    let mut data = Vec::new();
    (&file)
        .read_to_end(&mut data)
        .map_err(|e| StoreError::io(path, e))?;
    let (_, scanner) = scan_segment(&data).map_err(|e| StoreError::Corrupt {
        path: path.to_owned(),
        offset: 0,
        reason: e.to_string(),
    })?;
    let (mut index, damage) = SegmentIndex::build(id, created, data.len() as u64, scanner);
    for d in damage {
        if d.to_end && is_last {
            if writable {
                let f = OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(|e| StoreError::io(path, e))?;
                f.set_len(d.offset)
                    .and_then(|_| f.sync_all())
                    .map_err(|e| StoreError::io(path, e))?;
                data.truncate(d.offset as usize);
                index.segment_len = d.offset;
                report.truncated.push((id, d.offset, d.len));
            } else {
                let mut r = DamagedRegion::new(id, path, d);
                r.reason = format!("torn tail (a writer may still be writing it): {}", r.reason);
                report.damaged.push(r);
            }
        } else {
            report.damaged.push(DamagedRegion::new(id, path, d));
        }
    }
    if writable {
        write_atomic(&index_path(dir, id), &index.encode())?;
        sync_dir(dir)?;
        report.indexes_rebuilt.push(id);
        let file = File::open(path).map_err(|e| StoreError::io(path, e))?;
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
        data: SegmentBytes::Owned(data),
        index,
    })
}
