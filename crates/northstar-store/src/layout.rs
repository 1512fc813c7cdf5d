//! File names in a data directory and atomic file replacement.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Result, StoreError};

/// Segment file name: `seg-0000000042.nss`.
pub fn segment_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("seg-{id:010}.nss"))
}

/// Index file name beside its segment: `seg-0000000042.nsi`.
pub fn index_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("seg-{id:010}.nsi"))
}

/// The team directory file.
pub const TEAMS_FILE: &str = "teams";
/// The lock file a writer holds (advisory `flock`).
pub const LOCK_FILE: &str = "LOCK";
/// File name of the damage log in a data directory.
pub const DAMAGE_LOG: &str = "damage.log";
/// Suffix of files being written before their atomic rename.
pub const TMP_SUFFIX: &str = ".tmp";

/// What a directory entry is, by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A segment file with its id.
    Segment(u32),
    /// An index file with its segment id.
    Index(u32),
    /// Ours, not a segment: teams file, lock file, damage log.
    Meta,
    /// A leftover of an interrupted atomic write.
    Temp,
    /// Not ours.
    Foreign,
}

/// Classifies a file name.
pub fn classify(name: &str) -> Entry {
    if name.ends_with(TMP_SUFFIX) {
        return Entry::Temp;
    }
    if name == TEAMS_FILE || name == LOCK_FILE || name == DAMAGE_LOG {
        return Entry::Meta;
    }
    let parse = |ext: &str| -> Option<u32> {
        let digits = name.strip_prefix("seg-")?.strip_suffix(ext)?;
        if digits.len() == 10 && digits.bytes().all(|b| b.is_ascii_digit()) {
            digits.parse().ok()
        } else {
            None
        }
    };
    if let Some(id) = parse(".nss") {
        Entry::Segment(id)
    } else if let Some(id) = parse(".nsi") {
        Entry::Index(id)
    } else {
        Entry::Foreign
    }
}

/// Flushes a directory's entries (new, renamed, removed files) to disk.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir, e))
}

/// Replaces `path` with `bytes` atomically: write a temporary file, sync it, rename it over,
/// sync the directory. A reader sees the old file or the new one, never a half-written one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(TMP_SUFFIX);
    let tmp = PathBuf::from(tmp);
    let mut f = File::create(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| StoreError::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| StoreError::io(path, e))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}
