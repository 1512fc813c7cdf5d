//! The store's memory of damage it removed: `damage.log` in the data directory.
//!
//! A writable open that cuts a torn or damaged tail off the last segment, and a compaction
//! that cannot copy a damaged region, remove bytes that held events. Both are reported when
//! they happen (the open report, the compaction report, the command's stderr), and both
//! append a line here, so `verify` and `stats` can still say so later: "no damage now" never
//! hides that events were lost. One line per removal:
//!
//! `v1 <unix_ns> <action> <segment_id> <offset> <len> <reason>`
//!
//! where `action` is `truncated` or `compaction-dropped` and `reason` runs to the end of the
//! line (the check the bytes failed). Appends are synced; lines this build cannot parse are
//! reported, never fatal.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use crate::error::{Result, StoreError};
use crate::fsread::read_regular;
use crate::layout::DAMAGE_LOG;
use crate::report::{SkipKind, Skipped};

/// Largest damage log a reader accepts (about 100 000 lines).
const MAX_LOG_BYTES: u64 = 16 << 20;

/// What removed the bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DamageAction {
    /// A writable open truncated the last segment's damaged or torn tail.
    Truncated,
    /// A compaction rewrote a segment without a damaged region it could not copy.
    CompactionDropped,
}

impl DamageAction {
    fn word(self) -> &'static str {
        match self {
            Self::Truncated => "truncated",
            Self::CompactionDropped => "compaction-dropped",
        }
    }

    /// Human wording, for tools.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Truncated => "damaged tail truncated by a writable open",
            Self::CompactionDropped => "damaged region left out by compaction",
        }
    }
}

/// One recorded removal of damaged bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedDamage {
    /// When (Unix ns).
    pub unix_ns: u64,
    /// What removed them.
    pub action: DamageAction,
    /// Segment id.
    pub segment_id: u32,
    /// Offset of the removed bytes in the segment (before removal).
    pub offset: u64,
    /// Bytes removed.
    pub len: u64,
    /// The check they failed.
    pub reason: String,
}

/// Appends `entries` to the data directory's damage log and syncs it.
pub(crate) fn append(dir: &Path, entries: &[LoggedDamage]) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let path = dir.join(DAMAGE_LOG);
    let mut text = String::new();
    for e in entries {
        let reason: String = e
            .reason
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        text.push_str(&format!(
            "v1 {} {} {} {} {} {}\n",
            e.unix_ns,
            e.action.word(),
            e.segment_id,
            e.offset,
            e.len,
            reason
        ));
    }
    let mut opts = OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NONBLOCK);
    }
    let mut f = opts.open(&path).map_err(|e| StoreError::io(&path, e))?;
    if !f
        .metadata()
        .map_err(|e| StoreError::io(&path, e))?
        .is_file()
    {
        return Err(StoreError::NotAFile { path });
    }
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| StoreError::io(&path, e))
}

/// The log entries for the tails a writable open truncated.
pub(crate) fn truncations(report: &crate::report::OpenReport) -> Vec<LoggedDamage> {
    let now = crate::clock::unix_now_ns();
    report
        .truncated
        .iter()
        .enumerate()
        .map(|(i, &(segment_id, offset, len))| LoggedDamage {
            unix_ns: now,
            action: DamageAction::Truncated,
            segment_id,
            offset,
            len,
            reason: report.truncated_reasons.get(i).cloned().unwrap_or_default(),
        })
        .collect()
}

/// The log entries for the damaged regions a compaction left out.
pub(crate) fn compaction_drops(report: &crate::retention::CompactReport) -> Vec<LoggedDamage> {
    let now = crate::clock::unix_now_ns();
    report
        .dropped_damage
        .iter()
        .map(|d| LoggedDamage {
            unix_ns: now,
            action: DamageAction::CompactionDropped,
            segment_id: d.region.segment_id,
            offset: d.region.offset,
            len: d.region.len,
            reason: match d.records {
                Some(n) => format!("{} ({n} records)", d.region.reason),
                None => d.region.reason.clone(),
            },
        })
        .collect()
}

fn parse(line: &str) -> Option<LoggedDamage> {
    let mut it = line.splitn(7, ' ');
    if it.next()? != "v1" {
        return None;
    }
    let unix_ns = it.next()?.parse().ok()?;
    let action = match it.next()? {
        "truncated" => DamageAction::Truncated,
        "compaction-dropped" => DamageAction::CompactionDropped,
        _ => return None,
    };
    Some(LoggedDamage {
        unix_ns,
        action,
        segment_id: it.next()?.parse().ok()?,
        offset: it.next()?.parse().ok()?,
        len: it.next()?.parse().ok()?,
        reason: it.next().unwrap_or("").to_string(),
    })
}

/// Reads the damage log of `dir` (none: empty). Lines that do not parse, and a log that
/// cannot be read, are returned as report entries.
pub fn read(dir: &Path) -> (Vec<LoggedDamage>, Vec<Skipped>) {
    let path = dir.join(DAMAGE_LOG);
    let bytes = match read_regular(&path, MAX_LOG_BYTES) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (Vec::new(), Vec::new()),
        Err(e) => {
            return (
                Vec::new(),
                vec![Skipped {
                    path,
                    reason: format!("damage log unreadable: {e}"),
                    kind: SkipKind::Unreadable,
                }],
            )
        }
    };
    let text = String::from_utf8_lossy(&bytes);
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match parse(line) {
            Some(d) => out.push(d),
            None => bad.push(Skipped {
                path: path.clone(),
                reason: format!("damage log line {} not understood", n + 1),
                kind: SkipKind::Unreadable,
            }),
        }
    }
    (out, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_bad_lines_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let e = LoggedDamage {
            unix_ns: 42,
            action: DamageAction::Truncated,
            segment_id: 3,
            offset: 1000,
            len: 77,
            reason: "checksum mismatch: stored 0x1\nx".into(),
        };
        append(dir.path(), std::slice::from_ref(&e)).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join(DAMAGE_LOG))
            .unwrap()
            .write_all(b"garbage line\n")
            .unwrap();
        let (got, bad) = read(dir.path());
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].reason, "checksum mismatch: stored 0x1 x");
        assert_eq!(
            (got[0].segment_id, got[0].offset, got[0].len),
            (3, 1000, 77)
        );
        assert_eq!(bad.len(), 1);
    }
}
