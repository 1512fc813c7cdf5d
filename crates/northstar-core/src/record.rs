//! The record framing: `[EventHeader(24)][Payload(N)][Trailer(8)]`.
//!
//! Every record, in a ring and in a segment file, has this shape. All integers are
//! little-endian on every target; the layouts are `#[repr(C)]` with byte-order-aware field
//! types of alignment 1, so a record can be viewed in place from any offset of untrusted bytes
//! (zerocopy's `ref_from_prefix`) without copying and without alignment faults.
//! `docs/FORMAT.md` documents every bit.

use zerocopy::byteorder::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::event_type::{EventType, Visibility};

/// Size of [`EventHeader`] in bytes.
pub const HEADER_LEN: usize = 24;
/// Size of [`Trailer`] in bytes.
pub const TRAILER_LEN: usize = 8;
/// Header plus trailer: the size of a record with an empty payload, the smallest record.
pub const FRAMING_LEN: usize = HEADER_LEN + TRAILER_LEN;
/// The trailer's magic number, ASCII `EVNT`.
pub const TRAILER_MAGIC: [u8; 4] = *b"EVNT";
/// The largest payload the header's 22-bit length field can describe (4 MiB - 1).
pub const MAX_PAYLOAD_LEN: usize = (1 << PAYLOAD_LEN_BITS) - 1;

const PAYLOAD_LEN_BITS: u32 = 22;
const TYPE_SHIFT: u32 = 22;
const VISIBILITY_SHIFT: u32 = 30;

/// The 24-byte record header.
///
/// | offset | size | field | meaning |
/// |---|---|---|---|
/// | 0 | 8 | `timestamp` | Unix nanoseconds on disk; raw clock ticks inside a ring |
/// | 8 | 8 | `actor_id` | the agent, author or generator that produced the event (0: none) |
/// | 16 | 4 | `event_seq` | on disk: the record's index in its segment (the event id's low half); in a ring: the producer's sequence number |
/// | 20 | 4 | `packed` | bits 0-21 payload length, 22-29 event type (compact code), 30-31 visibility |
///
/// The spec's 16-bit type codes all have the shape `0xC00S` (category `C`, subtype `S`), so the
/// header stores them as one byte `0xCS`; [`EventType::from_compact`] maps back.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct EventHeader {
    /// Unix nanoseconds (stored) or raw clock ticks (in a ring).
    pub timestamp: U64,
    /// The actor that produced the event; 0 when the event has none.
    pub actor_id: U64,
    /// Index of the record within its segment (stored) or producer sequence (ring).
    pub event_seq: U32,
    /// Payload length, compact event type and visibility; see the type-level table.
    pub packed: U32,
}

/// The 8-byte record trailer: it lets a reader detect a record cut at its end, and walk
/// records backwards.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct Trailer {
    /// Always [`TRAILER_MAGIC`].
    pub magic: [u8; 4],
    /// Length of the whole record, header and trailer included.
    pub total_len: U32,
}

static_assertions::assert_eq_size!(EventHeader, [u8; HEADER_LEN]);
static_assertions::assert_eq_size!(Trailer, [u8; TRAILER_LEN]);
static_assertions::assert_eq_align!(EventHeader, u8);
static_assertions::assert_eq_align!(Trailer, u8);

/// Why a byte slice is not a well-formed record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FramingError {
    /// Fewer bytes than a header, or than the length the header announces.
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// The event-type byte names no known event type.
    UnknownEventType(u8),
    /// The visibility bits hold the reserved value 3.
    BadVisibility(u8),
    /// The trailer's magic is not `EVNT`.
    BadMagic([u8; 4]),
    /// The trailer's total length disagrees with the header's payload length.
    LengthMismatch {
        /// Length implied by the header.
        header: usize,
        /// Length stated by the trailer.
        trailer: usize,
    },
}

impl core::fmt::Display for FramingError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Truncated { needed, available } => {
                write!(
                    f,
                    "record truncated: needs {needed} bytes, {available} available"
                )
            }
            Self::UnknownEventType(code) => write!(f, "unknown event type byte {code:#04x}"),
            Self::BadVisibility(v) => write!(f, "reserved visibility value {v}"),
            Self::BadMagic(m) => write!(f, "bad trailer magic {m:02x?}, expected \"EVNT\""),
            Self::LengthMismatch { header, trailer } => write!(
                f,
                "trailer length {trailer} disagrees with header-implied length {header}"
            ),
        }
    }
}

impl core::error::Error for FramingError {}

impl EventHeader {
    /// Builds a header. `payload_len` must be at most [`MAX_PAYLOAD_LEN`]; callers check the
    /// payload limit first, and larger values are masked (never silently accepted: see
    /// [`crate::limits::PayloadLimit`]).
    #[inline(always)]
    pub fn new(
        event_type: EventType,
        visibility: Visibility,
        timestamp: u64,
        actor_id: u64,
        event_seq: u32,
        payload_len: usize,
    ) -> Self {
        debug_assert!(payload_len <= MAX_PAYLOAD_LEN);
        let packed = (payload_len as u32 & MAX_PAYLOAD_LEN as u32)
            | (u32::from(event_type.compact()) << TYPE_SHIFT)
            | ((visibility as u32) << VISIBILITY_SHIFT);
        Self {
            timestamp: U64::new(timestamp),
            actor_id: U64::new(actor_id),
            event_seq: U32::new(event_seq),
            packed: U32::new(packed),
        }
    }

    /// Payload length in bytes.
    #[inline]
    pub fn payload_len(&self) -> usize {
        (self.packed.get() & MAX_PAYLOAD_LEN as u32) as usize
    }

    /// Total record length: header, payload and trailer.
    #[inline]
    pub fn record_len(&self) -> usize {
        FRAMING_LEN + self.payload_len()
    }

    /// The raw compact event-type byte.
    #[inline]
    pub fn type_byte(&self) -> u8 {
        (self.packed.get() >> TYPE_SHIFT) as u8
    }

    /// The event type, if the byte names one.
    pub fn event_type(&self) -> Result<EventType, FramingError> {
        EventType::from_compact(self.type_byte())
            .ok_or(FramingError::UnknownEventType(self.type_byte()))
    }

    /// What the type byte says this record is: a spec event, a user event or a definition.
    pub fn kind(&self) -> Result<RecordKind, FramingError> {
        match self.type_byte() {
            crate::user_bytes::USER => Ok(RecordKind::User),
            crate::user_bytes::DEFINITION => Ok(RecordKind::Definition),
            b => EventType::from_compact(b)
                .map(RecordKind::Spec)
                .ok_or(FramingError::UnknownEventType(b)),
        }
    }

    /// A header with a raw type byte (user events and definitions; see [`RecordKind`]).
    #[inline(always)]
    pub fn with_type_byte(
        type_byte: u8,
        visibility: Visibility,
        timestamp: u64,
        actor_id: u64,
        event_seq: u32,
        payload_len: usize,
    ) -> Self {
        let packed = (payload_len as u32 & MAX_PAYLOAD_LEN as u32)
            | (u32::from(type_byte) << TYPE_SHIFT)
            | ((visibility as u32) << VISIBILITY_SHIFT);
        Self {
            timestamp: U64::new(timestamp),
            actor_id: U64::new(actor_id),
            event_seq: U32::new(event_seq),
            packed: U32::new(packed),
        }
    }

    /// The visibility, if the bits hold a defined value.
    pub fn visibility(&self) -> Result<Visibility, FramingError> {
        let bits = (self.packed.get() >> VISIBILITY_SHIFT) as u8;
        Visibility::from_bits(bits).ok_or(FramingError::BadVisibility(bits))
    }

    /// Replaces the timestamp (the flusher converts ring ticks to Unix nanoseconds).
    #[inline]
    pub fn set_timestamp(&mut self, timestamp: u64) {
        self.timestamp = U64::new(timestamp);
    }

    /// Replaces the sequence field (the flusher stores the index within the segment).
    #[inline]
    pub fn set_event_seq(&mut self, seq: u32) {
        self.event_seq = U32::new(seq);
    }
}

impl Trailer {
    /// The trailer of a record of `total_len` bytes.
    #[inline(always)]
    pub fn new(total_len: usize) -> Self {
        Self {
            magic: TRAILER_MAGIC,
            total_len: U32::new(total_len as u32),
        }
    }
}

/// What a record is, by its type byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// One of the spec's eleven event types.
    Spec(EventType),
    /// A user-defined event: its payload starts with a schema id (`crate::user`).
    User,
    /// A schema definition (stored blocks only): not an event.
    Definition,
}

/// A well-formed record viewed in place: header and payload borrow the input bytes.
///
/// Only [`decode_record`] (and [`records`]) make one, so every view has passed the framing
/// checks: its kind and visibility are the decoded values, never a fallback. Its fields are
/// private, so a view cannot be forged:
///
/// ```compile_fail
/// use northstar_core::record::{EventHeader, RecordView};
/// fn forge(header: &EventHeader) -> RecordView<'_> {
///     RecordView { header, payload: &[], bytes: &[] }
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordView<'a> {
    header: &'a EventHeader,
    payload: &'a [u8],
    bytes: &'a [u8],
    kind: RecordKind,
    visibility: Visibility,
}

impl<'a> RecordView<'a> {
    /// The header, borrowed from the input.
    #[inline]
    pub fn header(&self) -> &'a EventHeader {
        self.header
    }

    /// The payload bytes, borrowed from the input.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// The whole record (header, payload, trailer), borrowed from the input.
    #[inline]
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The spec event type, or `None` for a user event or a definition (see [`Self::kind`]).
    #[inline]
    pub fn event_type(&self) -> Option<EventType> {
        match self.kind {
            RecordKind::Spec(t) => Some(t),
            _ => None,
        }
    }

    /// Spec event, user event or definition, as decoded.
    #[inline]
    pub fn kind(&self) -> RecordKind {
        self.kind
    }

    /// The visibility, as decoded.
    #[inline]
    pub fn visibility(&self) -> Visibility {
        self.visibility
    }

    /// Timestamp in the header.
    #[inline]
    pub fn timestamp(&self) -> u64 {
        self.header.timestamp.get()
    }

    /// Actor id in the header.
    #[inline]
    pub fn actor_id(&self) -> u64 {
        self.header.actor_id.get()
    }

    /// The header's sequence field: the record's index in its segment (stored) or the
    /// producer's sequence number (ring).
    #[inline]
    pub fn event_seq(&self) -> u32 {
        self.header.event_seq.get()
    }

    /// Decodes the payload into its typed, borrowed view.
    /// A user event or a definition is not a spec event: `BadTag { at: 0, value: type byte }`
    /// (decode those with `crate::user`).
    pub fn event(&self) -> Result<crate::events::Event<'a>, crate::codec::DecodeError> {
        match self.kind {
            RecordKind::Spec(t) => crate::events::Event::decode(t, self.payload),
            _ => Err(crate::codec::DecodeError::BadTag {
                at: 0,
                value: self.header.type_byte(),
            }),
        }
    }
}

/// Reads one record from the front of `bytes`: checks the header, the event type, the
/// visibility, the trailer's magic and its length. Returns the view and the number of bytes it
/// spans. Never panics, whatever the input.
#[inline]
pub fn decode_record(bytes: &[u8]) -> Result<RecordView<'_>, FramingError> {
    let header = header_of(bytes)?;
    let kind = header.kind()?;
    let framed = framed(header, bytes)?;
    Ok(RecordView {
        header,
        payload: framed.payload,
        bytes: framed.bytes,
        kind,
        visibility: framed.visibility,
    })
}

/// A record's framing checked, whatever its type byte ([`decode_framing`]).
#[derive(Clone, Copy, Debug)]
pub struct Framed<'a> {
    /// The header.
    pub header: &'a EventHeader,
    /// The visibility, as decoded.
    pub visibility: Visibility,
    /// The payload.
    pub payload: &'a [u8],
    /// The whole record (header, payload, trailer).
    pub bytes: &'a [u8],
}

/// [`decode_record`]'s checks but the type byte's: header, visibility, the trailer's magic and
/// length. For the readers of records whose type byte is not an event's (the store's interned
/// call sites). Never panics.
#[inline]
pub fn decode_framing(bytes: &[u8]) -> Result<Framed<'_>, FramingError> {
    framed(header_of(bytes)?, bytes)
}

#[inline]
fn header_of(bytes: &[u8]) -> Result<&EventHeader, FramingError> {
    EventHeader::ref_from_prefix(bytes)
        .map(|(h, _)| h)
        .map_err(|_| FramingError::Truncated {
            needed: HEADER_LEN,
            available: bytes.len(),
        })
}

#[inline]
fn framed<'a>(header: &'a EventHeader, bytes: &'a [u8]) -> Result<Framed<'a>, FramingError> {
    let visibility = header.visibility()?;
    let total = header.record_len();
    if bytes.len() < total {
        return Err(FramingError::Truncated {
            needed: total,
            available: bytes.len(),
        });
    }
    let record = &bytes[..total];
    let (trailer, _) = Trailer::ref_from_prefix(&record[total - TRAILER_LEN..]).map_err(|_| {
        FramingError::Truncated {
            needed: total,
            available: bytes.len(),
        }
    })?;
    if trailer.magic != TRAILER_MAGIC {
        return Err(FramingError::BadMagic(trailer.magic));
    }
    let stated = trailer.total_len.get() as usize;
    if stated != total {
        return Err(FramingError::LengthMismatch {
            header: total,
            trailer: stated,
        });
    }
    Ok(Framed {
        header,
        visibility,
        payload: &record[HEADER_LEN..total - TRAILER_LEN],
        bytes: record,
    })
}

/// Iterates over consecutive records in `bytes`, stopping at the first malformed one, which it
/// yields as an error together with its offset.
pub fn records(bytes: &[u8]) -> Records<'_> {
    Records {
        bytes,
        offset: 0,
        failed: false,
    }
}

/// Iterator returned by [`records`].
#[derive(Clone, Debug)]
pub struct Records<'a> {
    bytes: &'a [u8],
    offset: usize,
    failed: bool,
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<RecordView<'a>, (usize, FramingError)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.offset >= self.bytes.len() {
            return None;
        }
        match decode_record(&self.bytes[self.offset..]) {
            Ok(view) => {
                self.offset += view.bytes.len();
                Some(Ok(view))
            }
            Err(e) => {
                self.failed = true;
                Some(Err((self.offset, e)))
            }
        }
    }
}

/// Writes a complete record (header, payload produced by `encode_payload`, trailer) into `out`,
/// which must be exactly `FRAMING_LEN + payload_len` bytes long. Used by the ring's producer and
/// by tools that build records off the hot path.
#[inline(always)]
pub fn write_record(out: &mut [u8], header: &EventHeader, encode_payload: impl FnOnce(&mut [u8])) {
    let total = out.len();
    let (head, rest) = out.split_at_mut(HEADER_LEN);
    head.copy_from_slice(header.as_bytes());
    let (payload, tail) = rest.split_at_mut(total - FRAMING_LEN);
    encode_payload(payload);
    tail.copy_from_slice(Trailer::new(total).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record with type byte `type_byte` and an 8-byte payload, framed by `write_record`.
    fn framed(type_byte: u8) -> [u8; FRAMING_LEN + 8] {
        let mut out = [0u8; FRAMING_LEN + 8];
        let header = EventHeader::with_type_byte(type_byte, Visibility::Team, 1, 2, 3, 8);
        write_record(&mut out, &header, |p| {
            p.copy_from_slice(&9u64.to_le_bytes())
        });
        out
    }

    #[test]
    fn a_user_record_has_no_spec_type() {
        let bytes = framed(crate::user_bytes::USER);
        let view = decode_record(&bytes).unwrap();
        assert_eq!(view.kind(), RecordKind::User);
        // Used to fall back to AgentSessionEnded.
        assert_eq!(view.event_type(), None);
        assert!(view.event().is_err());
        let bytes = framed(crate::user_bytes::DEFINITION);
        assert_eq!(decode_record(&bytes).unwrap().event_type(), None);
    }

    #[test]
    fn a_spec_record_reports_what_was_decoded() {
        let t = EventType::AgentSessionEnded;
        let bytes = framed(t.compact());
        let view = decode_record(&bytes).unwrap();
        assert_eq!(view.event_type(), Some(t));
        assert_eq!(view.kind(), RecordKind::Spec(t));
        assert_eq!(view.visibility(), Visibility::Team);
        assert_eq!(
            (view.timestamp(), view.actor_id(), view.event_seq()),
            (1, 2, 3)
        );
        assert_eq!(view.payload(), &9u64.to_le_bytes()[..]);
        assert_eq!(view.bytes(), &bytes[..]);
        assert_eq!(view.header().payload_len(), 8);
    }

    #[test]
    fn an_unknown_type_byte_is_refused_not_guessed() {
        let bytes = framed(0x7f);
        assert_eq!(
            decode_record(&bytes),
            Err(FramingError::UnknownEventType(0x7f))
        );
    }
}
