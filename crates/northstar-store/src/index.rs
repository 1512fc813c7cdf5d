//! The sparse per-segment index: time range, event-type set, actor and session membership
//! filters, and one entry per block (offset, time range, types, small filters).
//!
//! It is derived data: built while the segment is written, saved beside it when sealed
//! (`seg-N.nsi`, CRC-32C protected), and rebuilt from the segment whenever it is missing,
//! damaged or describes a different length of segment.

use northstar_core::record::{decode_record, records, RecordView};
use northstar_core::EventType;
use zerocopy::byteorder::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::block::{BlockSummary, BlockView};
use crate::format::{BlockHeader, BLOCK_HEADER_LEN, CRC32C, FORMAT_VERSION};
use crate::scan::{Damage, ScanItem};
use crate::site_sessions::SessionSource;

/// First eight bytes of an index file.
pub const INDEX_MAGIC: [u8; 8] = *b"NSTRIDX\0";
const FILTER_BYTES: usize = 256;
const FILTER_BITS: u64 = (FILTER_BYTES * 8) as u64;

/// Fixed part of an index file.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct IndexHeader {
    magic: [u8; 8],
    version: U32,
    segment_id: U32,
    segment_len: U64,
    created_unix_ns: U64,
    min_ts: U64,
    max_ts: U64,
    record_count: U64,
    dropped: U64,
    type_bits: U32,
    block_count: U32,
    // One slot per event type: adding a type changes this layout (bump the index version;
    // indexes are rebuilt from their segments).
    per_type: [U64; EventType::COUNT],
    actor_filter: [u8; FILTER_BYTES],
    session_filter: [u8; FILTER_BYTES],
}

/// One block's entry in the index (64 bytes on disk).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct BlockEntry {
    /// Offset of the block header in the segment file.
    pub offset: U64,
    /// Block length, header included.
    pub len: U32,
    /// Records in the block.
    pub record_count: U32,
    /// Smallest timestamp.
    pub min_ts: U64,
    /// Largest timestamp.
    pub max_ts: U64,
    /// Events dropped before this block.
    pub dropped: U64,
    /// Bit set of the event types present ([`EventType::bit`]).
    pub type_bits: U32,
    /// Reserved, 0.
    pub reserved: U32,
    /// 64-bit membership filter of actor ids.
    pub actor_mask: U64,
    /// 64-bit membership filter of session ids.
    pub session_mask: U64,
}

static_assertions::assert_eq_size!(BlockEntry, [u8; 64]);
static_assertions::assert_eq_size!(IndexHeader, [u8; 72 + 88 + 2 * FILTER_BYTES]);

/// What a query can be narrowed by before reading any block.
#[derive(Clone, Copy, Debug, Default)]
pub struct Filter {
    /// Inclusive time range.
    pub start: u64,
    /// Inclusive time range.
    pub end: u64,
    /// Accepted types as a bit set; 0 means every type.
    pub type_bits: u32,
    /// Only this actor.
    pub actor: Option<u64>,
    /// Only this session.
    pub session: Option<u64>,
}

impl Filter {
    /// A filter that matches everything.
    pub fn all() -> Self {
        Self {
            start: 0,
            end: u64::MAX,
            ..Self::default()
        }
    }

    fn types_ok(&self, bits: u32) -> bool {
        self.type_bits == 0 || bits & self.type_bits != 0
    }

    /// Whether the block may hold a matching record.
    pub fn block_may_match(&self, b: &BlockEntry) -> bool {
        b.record_count.get() > 0
            && b.min_ts.get() <= self.end
            && b.max_ts.get() >= self.start
            && self.types_ok(b.type_bits.get())
            && self.actor.is_none_or(|a| mask_has(b.actor_mask.get(), a))
            && self
                .session
                .is_none_or(|s| mask_has(b.session_mask.get(), s))
    }
}

fn mix(x: u64) -> u64 {
    // splitmix64 finaliser: good spread for sequential ids.
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn mask_bits(x: u64) -> u64 {
    let h = mix(x);
    (1u64 << (h >> 58)) | (1u64 << ((h >> 52) & 63))
}

fn mask_has(mask: u64, x: u64) -> bool {
    let m = mask_bits(x);
    mask & m == m
}

fn filter_positions(x: u64) -> [u64; 3] {
    let h = mix(x);
    [
        h % FILTER_BITS,
        (h >> 16) % FILTER_BITS,
        (h >> 32) % FILTER_BITS,
    ]
}

fn filter_add(f: &mut [u8; FILTER_BYTES], x: u64) {
    for p in filter_positions(x) {
        f[(p / 8) as usize] |= 1 << (p % 8);
    }
}

fn filter_has(f: &[u8; FILTER_BYTES], x: u64) -> bool {
    filter_positions(x)
        .iter()
        .all(|&p| f[(p / 8) as usize] & (1 << (p % 8)) != 0)
}

/// Calls `f` with every session id of a record (decoding its payload only if its type has
/// sessions, [`EventType::has_sessions`]; an undecodable payload has none).
pub fn record_sessions(r: &RecordView<'_>, f: impl FnMut(u64)) {
    if r.event_type().is_some_and(EventType::has_sessions) {
        if let Ok(e) = r.event() {
            e.for_each_session(f);
        }
    }
}

/// Calls `f` with the session ids the index notes for a record: those of
/// [`record_sessions`], found by decoding only the fields that can hold them
/// ([`EventType::for_each_session_in`]), since indexing reads every record of a segment. For
/// a payload that does not decode it may report sessions `record_sessions` does not: the
/// index's filters may match more than a block holds, never less.
fn indexed_sessions(r: &RecordView<'_>, f: impl FnMut(u64)) {
    if let Some(t) = r.event_type() {
        let _ = t.for_each_session_in(r.payload(), f);
    }
}

/// The index of one segment, in memory.
#[derive(Clone, Debug)]
pub struct SegmentIndex {
    /// Segment id.
    pub segment_id: u32,
    /// Segment file length this index describes.
    pub segment_len: u64,
    /// Segment creation time (Unix ns).
    pub created_unix_ns: u64,
    /// Smallest record timestamp (`u64::MAX` when empty).
    pub min_ts: u64,
    /// Largest record timestamp (0 when empty).
    pub max_ts: u64,
    /// Records in well-formed blocks.
    pub record_count: u64,
    /// Events dropped, summed over blocks.
    pub dropped: u64,
    /// Types present.
    pub type_bits: u32,
    actor_filter: [u8; FILTER_BYTES],
    session_filter: [u8; FILTER_BYTES],
    /// Well-formed blocks, in file order.
    pub blocks: Vec<BlockEntry>,
    /// Record counts per type, in [`EventType::ALL`] order.
    pub per_type: [u64; EventType::COUNT],
    /// Blocks added by [`add_block_summary`](Self::add_block_summary) have no session
    /// information yet (their masks match every session) until
    /// [`index_sessions`](Self::index_sessions) runs.
    sessions_pending: bool,
}

impl SegmentIndex {
    /// An empty index for a segment that has only its header.
    pub fn new(segment_id: u32, created_unix_ns: u64, segment_len: u64) -> Self {
        Self {
            segment_id,
            segment_len,
            created_unix_ns,
            min_ts: u64::MAX,
            max_ts: 0,
            record_count: 0,
            dropped: 0,
            type_bits: 0,
            actor_filter: [0; FILTER_BYTES],
            session_filter: [0; FILTER_BYTES],
            blocks: Vec::new(),
            per_type: [0; EventType::COUNT],
            sessions_pending: false,
        }
    }

    /// Whether some blocks still lack session information (see
    /// [`index_sessions`](Self::index_sessions)).
    pub fn sessions_pending(&self) -> bool {
        self.sessions_pending
    }

    /// Adds a block the flusher just wrote, from what it collected while copying records in
    /// (no record is read again, no payload decoded). Its session mask matches every
    /// session until [`index_sessions`](Self::index_sessions) runs, so queries stay exact.
    pub fn add_block_summary(&mut self, offset: u64, header: &BlockHeader, summary: &BlockSummary) {
        let len = BLOCK_HEADER_LEN as u64 + u64::from(header.body_len.get());
        let mut actors = 0u64;
        for &a in &summary.actor_runs {
            actors |= mask_bits(a);
            filter_add(&mut self.actor_filter, a);
        }
        for (acc, n) in self.per_type.iter_mut().zip(summary.per_type) {
            *acc += u64::from(n);
        }
        let has_sessions = EventType::ALL
            .iter()
            .zip(summary.per_type)
            .any(|(t, n)| n > 0 && t.has_sessions());
        self.sessions_pending |= has_sessions;
        self.blocks.push(BlockEntry {
            offset: U64::new(offset),
            len: U32::new(len as u32),
            record_count: header.record_count,
            min_ts: header.min_ts,
            max_ts: header.max_ts,
            dropped: header.dropped,
            type_bits: U32::new(summary.type_bits),
            reserved: U32::new(0),
            actor_mask: U64::new(actors),
            session_mask: U64::new(if has_sessions { u64::MAX } else { 0 }),
        });
        self.add_totals(offset + len, header, summary.type_bits);
    }

    fn add_totals(&mut self, end: u64, h: &BlockHeader, types: u32) {
        if h.record_count.get() > 0 {
            self.min_ts = self.min_ts.min(h.min_ts.get());
            self.max_ts = self.max_ts.max(h.max_ts.get());
        }
        self.record_count += u64::from(h.record_count.get());
        self.dropped = self.dropped.saturating_add(h.dropped.get());
        self.type_bits |= types;
        self.segment_len = self.segment_len.max(end);
    }

    /// Fills in the session masks and filter of the blocks added by
    /// [`add_block_summary`](Self::add_block_summary), reading their records in `segment`
    /// (the whole segment file). Runs off the drain path (the indexer thread, at seal time).
    /// A block whose records do not decode keeps a mask that matches every session, and so
    /// does the segment's filter: the index may only ever say "maybe".
    pub fn index_sessions(&mut self, segment: &[u8]) {
        if !self.sessions_pending {
            return;
        }
        let mut saturate = false;
        for e in &mut self.blocks {
            if e.session_mask.get() != u64::MAX {
                continue;
            }
            let at = e.offset.get() as usize;
            let start = at + BLOCK_HEADER_LEN;
            let end = at + e.len.get() as usize;
            let Some(body) = segment.get(start..end) else {
                saturate = true;
                continue;
            };
            let flags = segment
                .get(at..start)
                .and_then(|h| crate::format::BlockHeader::ref_from_bytes(h).ok())
                .map_or(0, |h| h.flags.get());
            let mut mask = 0u64;
            let filter = &mut self.session_filter;
            let mut add = |s: u64| {
                mask |= mask_bits(s);
                filter_add(filter, s);
            };
            let ok = if flags & crate::format::BLOCK_FLAG_SITES != 0 {
                // A block of interned records (crate::sites): their sessions are read from
                // the compact records, as readers would see them expanded.
                crate::site_sessions::for_each_stored_session(body, |found| match found {
                    SessionSource::Session(s) => {
                        add(s);
                        Ok(())
                    }
                    SessionSource::Standard(record) => decode_record(record)
                        .map(|r| indexed_sessions(&r, &mut add))
                        .map_err(|e| e.to_string()),
                })
                .is_ok()
            } else {
                let mut ok = true;
                for r in records(body) {
                    match r {
                        Ok(r) => indexed_sessions(&r, &mut add),
                        Err(_) => ok = false,
                    }
                }
                ok
            };
            if ok {
                e.session_mask = U64::new(mask);
            } else {
                saturate = true;
            }
        }
        if saturate {
            self.session_filter = [0xff; FILTER_BYTES];
        }
        self.sessions_pending = false;
    }

    /// Adds a block written (or found) at `offset`.
    pub fn add_block(&mut self, offset: u64, view: &BlockView<'_>) {
        let h = view.header;
        let mut e = BlockEntry {
            offset: U64::new(offset),
            len: U32::new(view.len() as u32),
            record_count: h.record_count,
            min_ts: h.min_ts,
            max_ts: h.max_ts,
            dropped: h.dropped,
            type_bits: U32::new(0),
            reserved: U32::new(0),
            actor_mask: U64::new(0),
            session_mask: U64::new(0),
        };
        let (mut types, mut actors, mut sessions) = (0u32, 0u64, 0u64);
        let mut last_actor = None;
        for r in view.records() {
            // User events: one type bit; definitions are not events (crate::interning).
            match r.kind() {
                northstar_core::RecordKind::Spec(t) => {
                    types |= u32::from(t.bit());
                    self.per_type[t.index()] += 1;
                }
                northstar_core::RecordKind::User => types |= crate::format::USER_EVENT_BIT,
                northstar_core::RecordKind::Definition => continue,
            }
            // Runs of one actor are common (one thread, one actor): hash each run once.
            if last_actor != Some(r.actor_id()) {
                last_actor = Some(r.actor_id());
                actors |= mask_bits(r.actor_id());
                filter_add(&mut self.actor_filter, r.actor_id());
            }
            indexed_sessions(&r, |s| {
                sessions |= mask_bits(s);
                filter_add(&mut self.session_filter, s);
            });
        }
        e.type_bits = U32::new(types);
        e.actor_mask = U64::new(actors);
        e.session_mask = U64::new(sessions);
        self.add_totals(offset + view.len() as u64, h, types);
        self.blocks.push(e);
    }

    /// Builds the index of a scanned segment; returns it with the damaged regions met.
    pub fn build<'a>(
        segment_id: u32,
        created_unix_ns: u64,
        segment_len: u64,
        scan: impl Iterator<Item = ScanItem<'a>>,
    ) -> (Self, Vec<Damage>) {
        let mut idx = Self::new(segment_id, created_unix_ns, segment_len);
        let mut damage = Vec::new();
        for item in scan {
            match item {
                ScanItem::Block { offset, block } => idx.add_block(offset, &block.view()),
                ScanItem::Damaged(d) => damage.push(d),
            }
        }
        idx.segment_len = segment_len;
        (idx, damage)
    }

    /// Whether this index's segment-wide actor and session filters have every bit of
    /// `other`'s (so they say "maybe" for every id `other` has seen).
    pub(crate) fn filters_cover(&self, other: &SegmentIndex) -> bool {
        let covers = |a: &[u8; FILTER_BYTES], b: &[u8; FILTER_BYTES]| {
            a.iter().zip(b).all(|(x, y)| x & y == *y)
        };
        covers(&self.actor_filter, &other.actor_filter)
            && (self.sessions_pending || covers(&self.session_filter, &other.session_filter))
    }

    /// Whether any record of the segment may match.
    pub fn may_match(&self, f: &Filter) -> bool {
        self.record_count > 0
            && self.min_ts <= f.end
            && self.max_ts >= f.start
            && f.types_ok(self.type_bits)
            && f.actor.is_none_or(|a| filter_has(&self.actor_filter, a))
            && (self.sessions_pending
                || f.session
                    .is_none_or(|s| filter_has(&self.session_filter, s)))
    }

    /// The index file's bytes. An index with sessions pending is saved with a session filter
    /// that matches everything (still correct, only less selective).
    pub fn encode(&self) -> Vec<u8> {
        let h = IndexHeader {
            magic: INDEX_MAGIC,
            version: U32::new(FORMAT_VERSION),
            segment_id: U32::new(self.segment_id),
            segment_len: U64::new(self.segment_len),
            created_unix_ns: U64::new(self.created_unix_ns),
            min_ts: U64::new(self.min_ts),
            max_ts: U64::new(self.max_ts),
            record_count: U64::new(self.record_count),
            dropped: U64::new(self.dropped),
            type_bits: U32::new(self.type_bits),
            block_count: U32::new(self.blocks.len() as u32),
            per_type: self.per_type.map(U64::new),
            actor_filter: self.actor_filter,
            session_filter: if self.sessions_pending {
                [0xff; FILTER_BYTES]
            } else {
                self.session_filter
            },
        };
        let mut out = Vec::with_capacity(size_of::<IndexHeader>() + self.blocks.len() * 64 + 4);
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(self.blocks.as_bytes());
        let crc = CRC32C.checksum(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Reads an index file; `None` if it is damaged, of another version, or inconsistent
    /// (the caller rebuilds from the segment). Never panics.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let body_len = bytes.len().checked_sub(4)?;
        let (body, crc) = bytes.split_at(body_len);
        if CRC32C.checksum(body).to_le_bytes() != crc {
            return None;
        }
        let (h, rest) = IndexHeader::ref_from_prefix(body).ok()?;
        if h.magic != INDEX_MAGIC || h.version.get() != FORMAT_VERSION {
            return None;
        }
        let blocks = <[BlockEntry]>::ref_from_bytes(rest).ok()?;
        if blocks.len() != h.block_count.get() as usize {
            return None;
        }
        Some(Self {
            segment_id: h.segment_id.get(),
            segment_len: h.segment_len.get(),
            created_unix_ns: h.created_unix_ns.get(),
            min_ts: h.min_ts.get(),
            max_ts: h.max_ts.get(),
            record_count: h.record_count.get(),
            dropped: h.dropped.get(),
            type_bits: h.type_bits.get(),
            actor_filter: h.actor_filter,
            session_filter: h.session_filter,
            blocks: blocks.to_vec(),
            per_type: h.per_type.map(|c| c.get()),
            sessions_pending: false,
        })
    }
}
