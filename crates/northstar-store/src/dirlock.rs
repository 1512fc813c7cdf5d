//! The writer's lock on a data directory.
//!
//! The lock is an exclusive `flock` on the **directory itself** (a descriptor of the
//! directory), which nothing can delete from under a running writer: deleting or replacing
//! the `LOCK` file cannot let a second writer in. The `LOCK` file is still created and locked
//! too, for tools that look for it; it must be a regular file (a FIFO or device in its place
//! is refused, never waited on).

use std::fs::{File, OpenOptions};
use std::path::Path;

use crate::error::{Result, StoreError};
use crate::layout::LOCK_FILE;

/// Held for as long as a writer has the directory open.
#[derive(Debug)]
pub(crate) struct DirLock {
    _dir: File,
    _file: File,
}

/// Takes the writer's lock on `dir`, or refuses naming the reason.
pub(crate) fn lock(dir: &Path) -> Result<DirLock> {
    let d = File::open(dir).map_err(|e| StoreError::io(dir, e))?;
    d.try_lock().map_err(|source| StoreError::Locked {
        dir: dir.to_owned(),
        source,
    })?;
    let lock_path = dir.join(LOCK_FILE);
    if let Ok(m) = std::fs::metadata(&lock_path) {
        if !m.is_file() {
            return Err(StoreError::NotAFile { path: lock_path });
        }
    }
    let mut opts = OpenOptions::new();
    opts.create(true).truncate(false).write(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NONBLOCK);
    }
    let f = opts
        .open(&lock_path)
        .map_err(|e| StoreError::io(&lock_path, e))?;
    if !f
        .metadata()
        .map_err(|e| StoreError::io(&lock_path, e))?
        .is_file()
    {
        return Err(StoreError::NotAFile { path: lock_path });
    }
    f.try_lock().map_err(|source| StoreError::Locked {
        dir: dir.to_owned(),
        source,
    })?;
    Ok(DirLock { _dir: d, _file: f })
}
