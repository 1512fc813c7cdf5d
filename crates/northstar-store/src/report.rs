//! What opening, verifying and reading a data directory found: skipped files and damaged
//! regions. Plain data, shared by recovery, queries, verification and the reports.

use std::path::PathBuf;

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
    /// An index whose checksum is valid but which disagrees with its segment (it could hide
    /// events from queries and stats): a finding; not used, and rebuilt by a writable open.
    IndexMismatch,
}

impl SkipKind {
    /// Whether `verify` counts it as damage.
    pub fn is_finding(self) -> bool {
        matches!(self, Self::Unreadable | Self::IndexMismatch)
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

/// What opening a directory found and did.
#[derive(Clone, Debug, Default)]
pub struct OpenReport {
    /// Files not used: foreign files, unreadable or damaged headers.
    pub skipped: Vec<Skipped>,
    /// Damaged blocks in the middle of segments, skipped (the rest stays readable).
    pub damaged: Vec<DamagedRegion>,
    /// Torn tails cut off the last segment: (segment id, new length, bytes removed).
    pub truncated: Vec<(u32, u64, u64)>,
    /// Why each of `truncated` was cut (the check its first byte failed), in the same order.
    pub truncated_reasons: Vec<String>,
    /// Segments whose index was missing or damaged and was rebuilt.
    pub indexes_rebuilt: Vec<u32>,
    /// Leftovers of interrupted atomic writes that were removed.
    pub temp_removed: Vec<PathBuf>,
}
