//! Byte layouts of the segment file: segment header and block header (`docs/FORMAT.md`).
//!
//! All integers are little-endian zerocopy types of alignment 1, so headers are viewed in place
//! from untrusted bytes at any offset, without copying and without alignment faults.

use zerocopy::byteorder::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// CRC-32C (Castagnoli), the checksum of every stored byte.
pub static CRC32C: crate::checksum::Crc32c = crate::checksum::Crc32c;

/// First eight bytes of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"NSTRSEG\0";
/// The segment (and index) format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Size of [`SegmentHeader`].
pub const SEGMENT_HEADER_LEN: usize = 32;
/// First four bytes of every block.
pub const BLOCK_MAGIC: [u8; 4] = *b"NBLK";
/// Size of [`BlockHeader`].
pub const BLOCK_HEADER_LEN: usize = 48;
/// Largest block body a reader accepts; bigger lengths are damage, not allocations.
pub const MAX_BLOCK_BODY: usize = 16 << 20;
/// Largest segment file (1 GiB): writers roll well before (`segment_max_bytes` may be at most
/// this minus one largest block); readers refuse longer files unread, so a huge or sparse
/// file named like a segment costs nothing.
pub const MAX_SEGMENT_LEN: u64 = 1 << 30;

/// The 32-byte segment header at offset 0.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SegmentHeader {
    /// [`SEGMENT_MAGIC`].
    pub magic: [u8; 8],
    /// [`FORMAT_VERSION`] at write time.
    pub version: U32,
    /// The segment id: the high 32 bits of every event id in the segment.
    pub segment_id: U32,
    /// Unix nanoseconds when the segment was created (roll by age, retention).
    pub created_unix_ns: U64,
    /// [`SEGMENT_HEADER_LEN`]; where the first block starts.
    pub header_len: U32,
    /// CRC-32C of bytes 0..28.
    pub crc: U32,
}

/// The 48-byte header in front of each block's records.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct BlockHeader {
    /// [`BLOCK_MAGIC`].
    pub magic: [u8; 4],
    /// CRC-32C of header bytes 8..48 followed by the body.
    pub crc: U32,
    /// Body length in bytes (the records).
    pub body_len: U32,
    /// Records in the body.
    pub record_count: U32,
    /// Smallest record timestamp (Unix ns); the drain time for a block with no records.
    pub min_ts: U64,
    /// Largest record timestamp (Unix ns).
    pub max_ts: U64,
    /// Events the rings dropped (and counted) since the previous block was cut.
    pub dropped: U64,
    /// `event_seq` of the first record.
    pub first_seq: U32,
    /// Reserved, 0.
    pub flags: U32,
}

static_assertions::assert_eq_size!(SegmentHeader, [u8; SEGMENT_HEADER_LEN]);
static_assertions::assert_eq_size!(BlockHeader, [u8; BLOCK_HEADER_LEN]);
static_assertions::assert_eq_align!(SegmentHeader, u8);
static_assertions::assert_eq_align!(BlockHeader, u8);

/// Why a segment header cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The file is shorter than a header.
    #[error("truncated segment header: {len} of {SEGMENT_HEADER_LEN} bytes")]
    Truncated {
        /// Bytes present.
        len: usize,
    },
    /// Not a Northstar segment at all.
    #[error("not a Northstar segment (magic {0:02x?})")]
    NotASegment([u8; 8]),
    /// Written by a newer format.
    #[error("format version {0} is newer than {FORMAT_VERSION}")]
    FutureVersion(u32),
    /// Fails its checks.
    #[error("damaged segment header: {0}")]
    Damaged(&'static str),
}

impl SegmentHeader {
    /// A sealed header for a new segment.
    pub fn new(segment_id: u32, created_unix_ns: u64) -> Self {
        let mut h = Self {
            magic: SEGMENT_MAGIC,
            version: U32::new(FORMAT_VERSION),
            segment_id: U32::new(segment_id),
            created_unix_ns: U64::new(created_unix_ns),
            header_len: U32::new(SEGMENT_HEADER_LEN as u32),
            crc: U32::new(0),
        };
        h.crc = U32::new(CRC32C.checksum(&h.as_bytes()[..28]));
        h
    }

    /// Checks magic, length, checksum, then version (a newer version is refused before any
    /// other field is trusted). Never panics.
    pub fn parse(bytes: &[u8]) -> Result<&SegmentHeader, HeaderError> {
        if bytes.len() < 8 {
            // Too short to tell: a prefix of our magic is a truncated header, anything else
            // is foreign.
            if SEGMENT_MAGIC.starts_with(bytes) {
                return Err(HeaderError::Truncated { len: bytes.len() });
            }
            let mut m = [0u8; 8];
            m[..bytes.len()].copy_from_slice(bytes);
            return Err(HeaderError::NotASegment(m));
        }
        if bytes[..8] != SEGMENT_MAGIC {
            let mut m = [0u8; 8];
            m.copy_from_slice(&bytes[..8]);
            return Err(HeaderError::NotASegment(m));
        }
        let (h, _) = SegmentHeader::ref_from_prefix(bytes)
            .map_err(|_| HeaderError::Truncated { len: bytes.len() })?;
        // The first 32 bytes keep this layout in every format version, so the checksum is
        // checked first: a flipped bit in the version field is damage, not a future version.
        if CRC32C.checksum(&bytes[..28]) != h.crc.get() {
            return Err(HeaderError::Damaged("checksum mismatch"));
        }
        match h.version.get() {
            FORMAT_VERSION => {}
            v if v > FORMAT_VERSION => return Err(HeaderError::FutureVersion(v)),
            _ => return Err(HeaderError::Damaged("version 0")),
        }
        if h.header_len.get() as usize != SEGMENT_HEADER_LEN {
            return Err(HeaderError::Damaged("unexpected header length"));
        }
        Ok(h)
    }
}

/// The index's type bit for "this block (segment) holds user events" (`crate::interning`): the
/// bit after the spec types' [`EventType::bit`](northstar_core::EventType::bit)s.
pub const USER_EVENT_BIT: u32 = 1 << northstar_core::EventType::COUNT;

/// Bit of a block header's `flags`: the block holds interned records and their call sites'
/// definitions (`crate::sites`), and is read through its expansion.
pub const BLOCK_FLAG_SITES: u32 = 1;
