//! Blocks: the flusher's unit of write and the unit of checksum.
//!
//! A block is a [`BlockHeader`] followed by whole records. The CRC-32C covers the header's
//! bytes 8..48 and the body, so every stored record byte is checked before it is believed.

use northstar_core::record::{
    decode_record, records, EventHeader, RecordKind, RecordView, HEADER_LEN,
};
use zerocopy::byteorder::little_endian::{U32, U64};
use zerocopy::{FromBytes, IntoBytes};

use crate::format::{
    BlockHeader, BLOCK_FLAG_SITES, BLOCK_HEADER_LEN, BLOCK_MAGIC, CRC32C, MAX_BLOCK_BODY,
};

/// Why bytes are not a well-formed block.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// Fewer bytes than the header or its stated body.
    #[error("block truncated: needs {needed} bytes, {available} available")]
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// The first four bytes are not `NBLK`.
    #[error("bad block magic {0:02x?}")]
    BadMagic([u8; 4]),
    /// The stated body length exceeds [`MAX_BLOCK_BODY`].
    #[error("block body length {0} exceeds the limit")]
    TooLong(usize),
    /// The checksum does not match the bytes.
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum {
        /// CRC in the header.
        stored: u32,
        /// CRC of the bytes.
        computed: u32,
    },
    /// The checksum matches but the records inside are malformed or disagree with the header.
    #[error("block contents inconsistent: {0}")]
    Inconsistent(String),
}

/// A checked block, viewed in place (or its expanded body: see [`decode_block_in`]).
#[derive(Clone, Copy, Debug)]
pub struct BlockView<'a> {
    /// The header, as stored.
    pub header: &'a BlockHeader,
    /// The records, back to back: the standard records only (a block with interned records is
    /// expanded, and its `body_len` is then the stored length, not this one's).
    pub body: &'a [u8],
    /// Stored length (header + stored body).
    stored_len: usize,
}

impl<'a> BlockView<'a> {
    /// Total length as stored (header + stored body): where the next block starts.
    pub fn len(&self) -> usize {
        self.stored_len
    }

    /// The view of a block [`decode_block_in`] already accepted: its `header`, its stored body
    /// and the body it expanded to, if any (the scanner and the cursor keep the expansion
    /// they made and view it again, instead of decoding twice).
    pub(crate) fn checked(
        header: &'a BlockHeader,
        stored_body: &'a [u8],
        expanded: Option<&'a [u8]>,
    ) -> Self {
        Self {
            header,
            body: expanded.unwrap_or(stored_body),
            stored_len: BLOCK_HEADER_LEN + stored_body.len(),
        }
    }

    /// Whether `body` is an expansion (the block holds interned call-site records), not the
    /// stored bytes: offsets in it are not file offsets.
    pub fn is_expanded(&self) -> bool {
        self.header.flags.get() & BLOCK_FLAG_SITES != 0
    }

    /// Always false: a block has at least its header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The records, already validated by [`decode_block`].
    pub fn records(&self) -> impl Iterator<Item = RecordView<'a>> + 'a {
        records(self.body).filter_map(Result::ok)
    }
}

/// The cheap checks of the block header at the front of `bytes`, those run before its checksum:
/// magic, body length within bounds and within `bytes`. Returns the header and the block's
/// whole length (header and body).
pub(crate) fn check_header(bytes: &[u8]) -> Result<(&BlockHeader, usize), BlockError> {
    let (header, _) = BlockHeader::ref_from_prefix(bytes).map_err(|_| BlockError::Truncated {
        needed: BLOCK_HEADER_LEN,
        available: bytes.len(),
    })?;
    if header.magic != BLOCK_MAGIC {
        return Err(BlockError::BadMagic(header.magic));
    }
    let body_len = header.body_len.get() as usize;
    if body_len > MAX_BLOCK_BODY {
        return Err(BlockError::TooLong(body_len));
    }
    let total = BLOCK_HEADER_LEN + body_len;
    if bytes.len() < total {
        return Err(BlockError::Truncated {
            needed: total,
            available: bytes.len(),
        });
    }
    Ok((header, total))
}

/// Checks and views the block at the front of `bytes`: magic, length, CRC, then every record
/// (framing, type, visibility, count, timestamps within the header's range). Never panics.
/// A block holding interned call-site records (written by this version's flusher for
/// `perf_sample!` and `operation!`) needs a buffer to expand into: this refuses it with a
/// [`BlockError::Inconsistent`] that says so; read such blocks with [`decode_block_in`].
pub fn decode_block(bytes: &[u8]) -> Result<BlockView<'_>, BlockError> {
    decode_block_each(bytes, None, |_, _, _| {})
}

/// [`decode_block`] for every block: a block holding interned call-site records
/// (docs/FORMAT.md) is checked as stored, then expanded into `scratch` (cleared first), and
/// the view's `body` is that expansion: the standard records, as every reader expects them.
/// Other blocks are viewed in place and `scratch` is untouched.
pub fn decode_block_in<'a>(
    bytes: &'a [u8],
    scratch: &'a mut Vec<u8>,
) -> Result<BlockView<'a>, BlockError> {
    decode_block_each(bytes, Some(scratch), |_, _, _| {})
}

/// [`decode_block_in`] (or, without `scratch`, [`decode_block`]), calling `each` with every
/// record as the check walks over it: its offset in the body, its view and its kind. A check
/// after a record (a later record, the count) may still fail the block, so callers must not
/// act on what `each` saw unless this returns `Ok` (the whole-store scan notes which records
/// match here and visits them afterwards: one walk over the records instead of two).
#[inline]
pub(crate) fn decode_block_each<'a>(
    bytes: &'a [u8],
    scratch: Option<&'a mut Vec<u8>>,
    mut each: impl FnMut(usize, &RecordView<'a>, RecordKind),
) -> Result<BlockView<'a>, BlockError> {
    let (header, total) = check_header(bytes)?;
    let computed = CRC32C.checksum(&bytes[8..total]);
    if computed != header.crc.get() {
        return Err(BlockError::Checksum {
            stored: header.crc.get(),
            computed,
        });
    }
    let stored = &bytes[BLOCK_HEADER_LEN..total];
    let body: &'a [u8] = match header.flags.get() {
        0 => stored,
        BLOCK_FLAG_SITES => {
            let Some(scratch) = scratch else {
                return Err(BlockError::Inconsistent(
                    "the block holds interned call-site records: read it with decode_block_in"
                        .into(),
                ));
            };
            crate::sites::expand_body(stored, scratch).map_err(BlockError::Inconsistent)?;
            scratch.as_slice()
        }
        flags => {
            return Err(BlockError::Inconsistent(format!(
                "unknown block flags {flags:#x}"
            )))
        }
    };
    let (min, max) = (header.min_ts.get(), header.max_ts.get());
    let mut count = 0u32;
    let mut at = 0;
    while at < body.len() {
        let r = decode_record(&body[at..])
            .map_err(|e| BlockError::Inconsistent(format!("record at +{at}: {e}")))?;
        let ts = r.timestamp();
        if ts < min || ts > max {
            return Err(BlockError::Inconsistent(format!(
                "record timestamp {ts} outside block range {min}..={max}"
            )));
        }
        let kind = r.kind();
        // A user event's definition is not an event: not in `record_count`.
        if kind != RecordKind::Definition {
            count = count.saturating_add(1);
        }
        each(at, &r, kind);
        at += r.bytes().len();
    }
    if count != header.record_count.get() {
        return Err(BlockError::Inconsistent(format!(
            "{count} records, header says {}",
            header.record_count.get()
        )));
    }
    Ok(BlockView {
        header,
        body,
        stored_len: total,
    })
}

/// What the index needs of a block, collected while records are copied in (so building the
/// index never walks the records again, and never decodes a payload on the drain path).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockSummary {
    /// Bit set of the event types present ([`EventType::bit`](northstar_core::EventType::bit)).
    pub type_bits: u32,
    /// Records per type, in [`EventType::ALL`](northstar_core::EventType::ALL) order.
    pub per_type: [u32; northstar_core::EventType::COUNT],
    /// The actor of each run of consecutive records with one actor (one thread usually
    /// records as one actor, so this is short).
    pub actor_runs: Vec<u64>,
}

impl BlockSummary {
    fn clear(&mut self) {
        self.type_bits = 0;
        self.per_type = [0; northstar_core::EventType::COUNT];
        self.actor_runs.clear();
    }

    #[inline]
    fn add(&mut self, r: &RecordView<'_>) {
        // User events: one type bit; definitions are not events (crate::interning).
        match r.kind() {
            RecordKind::Spec(t) => {
                self.type_bits |= u32::from(t.bit());
                self.per_type[t.index()] += 1;
            }
            RecordKind::User => self.type_bits |= crate::format::USER_EVENT_BIT,
            RecordKind::Definition => return,
        }
        self.add_actor(r.actor_id());
    }

    #[inline]
    fn add_spec(&mut self, t: northstar_core::EventType, actor: u64) {
        self.type_bits |= u32::from(t.bit());
        self.per_type[t.index()] += 1;
        self.add_actor(actor);
    }

    #[inline]
    fn add_actor(&mut self, actor: u64) {
        if self.actor_runs.last() != Some(&actor) {
            self.actor_runs.push(actor);
        }
    }
}

/// The actor id in a record's header (0 if `bytes` is shorter than a header).
fn actor_of(bytes: &[u8]) -> u64 {
    EventHeader::ref_from_prefix(bytes).map_or(0, |(h, _)| h.actor_id.get())
}

/// Builds one block in a reusable buffer: records are copied in with their timestamp and
/// sequence rewritten, then [`BlockBuilder::finish`] fills the header and checksum.
#[derive(Debug)]
pub struct BlockBuilder {
    buf: Vec<u8>,
    count: u32,
    min_ts: u64,
    max_ts: u64,
    first_seq: u32,
    summary: BlockSummary,
    /// Body bytes once expanded (crate::sites): bounds the expansion of interned records.
    expanded: usize,
    /// Whether the block holds interned records (header flag `BLOCK_FLAG_SITES`).
    sites: bool,
}

impl Default for BlockBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl BlockBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        let mut buf = Vec::with_capacity(256 << 10);
        buf.resize(BLOCK_HEADER_LEN, 0);
        Self {
            buf,
            count: 0,
            min_ts: u64::MAX,
            max_ts: 0,
            first_seq: 0,
            summary: BlockSummary::default(),
            expanded: 0,
            sites: false,
        }
    }

    /// Body bytes so far once expanded (interned records as their standard records, site
    /// definitions dropped).
    pub fn expanded_len(&self) -> usize {
        self.expanded
    }

    /// Records added since the last [`finish`](Self::finish).
    pub fn record_count(&self) -> u32 {
        self.count
    }

    /// Body bytes so far.
    pub fn body_len(&self) -> usize {
        self.buf.len() - BLOCK_HEADER_LEN
    }

    /// The index summary of the records added so far.
    pub fn summary(&self) -> &BlockSummary {
        &self.summary
    }

    /// Copies a whole record (as produced by `write_record`) into the block, storing
    /// `timestamp` (Unix ns) and `seq` in its header. `record` is checked first: anything but
    /// one well-formed record is refused.
    pub fn push(&mut self, record: &[u8], timestamp: u64, seq: u32) -> Result<(), BlockError> {
        let view = decode_record(record).map_err(|e| BlockError::Inconsistent(e.to_string()))?;
        if view.bytes().len() != record.len() {
            return Err(BlockError::Inconsistent(format!(
                "{} bytes after the record",
                record.len() - view.bytes().len()
            )));
        }
        self.push_view(&view, timestamp, seq)
    }

    /// Like [`push`](Self::push) for a record already decoded (the flusher decodes each
    /// ring record once, for its timestamp, and hands the view here: no second check).
    #[inline]
    pub fn push_view(
        &mut self,
        record: &RecordView<'_>,
        timestamp: u64,
        seq: u32,
    ) -> Result<(), BlockError> {
        let bytes = record.bytes();
        self.check_room(bytes.len())?;
        self.summary.add(record);
        self.expanded += bytes.len();
        // A definition (crate::interning) is not an event: not counted.
        self.copy_in(
            bytes,
            timestamp,
            seq,
            record.kind() != RecordKind::Definition,
        );
        Ok(())
    }

    /// Copies an interned ring record in and turns the copy into its stored form
    /// (crate::sites: type byte `0xE3`, an operation's duration in ns from `ticks_to_nanos`).
    /// The flusher writes its site's definition first ([`push_site_definition`]).
    ///
    /// [`push_site_definition`]: Self::push_site_definition
    pub(crate) fn push_stored_interned(
        &mut self,
        record: &northstar_core::__private::interned::Interned<'_>,
        ticks_to_nanos: impl FnOnce(u64) -> u64,
        timestamp: u64,
        seq: u32,
    ) -> Result<(), BlockError> {
        let bytes = record.bytes();
        self.check_room(bytes.len())?;
        let start = self.buf.len();
        self.buf.extend_from_slice(bytes);
        if let Err(e) = record.make_stored(&mut self.buf[start..], ticks_to_nanos) {
            self.buf.truncate(start);
            return Err(BlockError::Inconsistent(e.to_string()));
        }
        self.summary.add_spec(record.event_type(), actor_of(bytes));
        self.expanded += record.record_len();
        self.sites = true;
        // The stored form is in place at `start`: stamped there, not copied again.
        self.stamp_in(start, timestamp, seq, true);
        Ok(())
    }

    /// Copies a call site's definition record (crate::sites, type byte `0xE4`): not an
    /// event, not counted, dropped from the expanded body.
    pub(crate) fn push_site_definition(
        &mut self,
        bytes: &[u8],
        timestamp: u64,
        seq: u32,
    ) -> Result<(), BlockError> {
        self.check_room(bytes.len())?;
        self.sites = true;
        self.copy_in(bytes, timestamp, seq, false);
        Ok(())
    }

    /// Whether `n` more body bytes stay within [`MAX_BLOCK_BODY`].
    #[inline]
    fn check_room(&self, n: usize) -> Result<(), BlockError> {
        match self.body_len() + n {
            len if len > MAX_BLOCK_BODY => Err(BlockError::TooLong(len)),
            _ => Ok(()),
        }
    }

    #[inline]
    fn copy_in(&mut self, bytes: &[u8], timestamp: u64, seq: u32, event: bool) {
        let start = self.buf.len();
        self.buf.extend_from_slice(bytes);
        self.stamp_in(start, timestamp, seq, event);
    }

    /// Stamps the record just copied in at `start` and counts it.
    #[inline]
    fn stamp_in(&mut self, start: usize, timestamp: u64, seq: u32, event: bool) {
        if let Ok((h, _)) = EventHeader::mut_from_prefix(&mut self.buf[start..start + HEADER_LEN]) {
            h.set_timestamp(timestamp);
            h.set_event_seq(seq);
        }
        if self.count == 0 {
            self.first_seq = seq;
        }
        if event {
            self.count += 1;
        }
        self.min_ts = self.min_ts.min(timestamp);
        self.max_ts = self.max_ts.max(timestamp);
    }

    /// Completes the block (with `dropped` events counted since the previous block, and
    /// `now` as the time range of a block without records) and returns its bytes; the builder
    /// is reset on the next [`push`](Self::push) after [`clear`](Self::clear).
    pub fn finish(&mut self, dropped: u64, now: u64) -> &[u8] {
        let (min, max) = if self.count == 0 {
            (now, now)
        } else {
            (self.min_ts, self.max_ts)
        };
        let header = BlockHeader {
            magic: BLOCK_MAGIC,
            crc: U32::new(0),
            body_len: U32::new(self.body_len() as u32),
            record_count: U32::new(self.count),
            min_ts: U64::new(min),
            max_ts: U64::new(max),
            dropped: U64::new(dropped),
            first_seq: U32::new(self.first_seq),
            flags: U32::new(if self.sites { BLOCK_FLAG_SITES } else { 0 }),
        };
        self.buf[..BLOCK_HEADER_LEN].copy_from_slice(header.as_bytes());
        let crc = CRC32C.checksum(&self.buf[8..]);
        self.buf[4..8].copy_from_slice(&crc.to_le_bytes());
        &self.buf
    }

    /// The finished block's bytes and summary (after [`finish`](Self::finish)).
    pub fn finished(&self) -> (&[u8], &BlockSummary) {
        (&self.buf, &self.summary)
    }

    /// Hands over the finished block (after [`finish`](Self::finish)): its bytes and summary
    /// move out, `spare` (any capacity; cleared here) becomes the next block's buffer, and the
    /// builder is empty. The flusher passes finished blocks to the writer thread this way
    /// without copying them.
    pub fn take_finished(&mut self, mut spare: Vec<u8>) -> (Vec<u8>, BlockSummary) {
        spare.clear();
        spare.resize(BLOCK_HEADER_LEN, 0);
        let bytes = std::mem::replace(&mut self.buf, spare);
        let summary = std::mem::take(&mut self.summary);
        self.clear();
        (bytes, summary)
    }

    /// Empties the builder for the next block.
    pub fn clear(&mut self) {
        self.buf.truncate(BLOCK_HEADER_LEN);
        self.count = 0;
        self.min_ts = u64::MAX;
        self.max_ts = 0;
        self.first_seq = 0;
        self.summary.clear();
        self.expanded = 0;
        self.sites = false;
    }
}
