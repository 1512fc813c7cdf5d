//! Opening files of a data directory as a careful reader: only regular files (a FIFO,
//! a device or a symbolic link to one is refused, never waited on), and never reading more
//! than the file's size says (or a sane bound for files that have one).

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::Path;

use crate::catalog::SegmentBytes;
use crate::error::{Result, StoreError};

/// Segments up to this size that a writer may still change (the last one, in a read-only open)
/// are read into memory when they cannot be read by blocks (a torn or damaged block: the scan
/// that classifies the damage needs the bytes); larger ones are mapped, so a
/// huge or sparse file costs page cache, not heap. A writer's segment is at most its
/// configured size (64 MiB by default) plus one block (16 MiB at most).
pub(crate) const OWNED_SEGMENT_LIMIT: u64 = 96 << 20;

/// What a file is, for refusal messages.
fn kind(ft: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Opens `path` for reading if it is a regular file (following symbolic links). The open
/// itself never blocks (`O_NONBLOCK`: a FIFO without a writer would otherwise wait forever);
/// the type is then checked on the open descriptor, so a file swapped in between is caught.
pub(crate) fn open_regular(path: &Path) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.read(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NONBLOCK);
    }
    let f = opts.open(path)?;
    let ft = f.metadata()?.file_type();
    if !ft.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is {}: refused", path.display(), kind(ft)),
        ));
    }
    Ok(f)
}

/// Reads a regular file whole, refusing files larger than `max` bytes, and reading at most
/// as many bytes as the file had when opened.
pub(crate) fn read_regular(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let f = open_regular(path)?;
    let len = f.metadata()?.len();
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} has {len} bytes, more than the {max} it may have: refused",
                path.display()
            ),
        ));
    }
    let mut buf = Vec::with_capacity(len as usize);
    f.take(len).read_to_end(&mut buf)?;
    Ok(buf)
}

/// The bytes of an open segment file of `len` bytes for scanning. `may_change`: a writer may
/// still append to it or truncate a torn tail (the last segment): read into memory when not
/// larger than [`OWNED_SEGMENT_LIMIT`], so a concurrent truncation cannot fault a mapping.
/// Sealed segments, and oversized ones, are mapped: memory is bounded by the page cache.
pub(crate) fn segment_bytes(
    file: &File,
    path: &Path,
    len: u64,
    may_change: bool,
) -> Result<SegmentBytes> {
    if may_change && len <= OWNED_SEGMENT_LIMIT {
        let mut data = Vec::with_capacity(len as usize);
        file.take(len)
            .read_to_end(&mut data)
            .map_err(|e| StoreError::io(path, e))?;
        return Ok(SegmentBytes::Owned(data));
    }
    SegmentBytes::map(file, path)
}
