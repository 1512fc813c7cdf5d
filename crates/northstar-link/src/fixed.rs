//! The smallest device side: a link encoder for **one** event type whose fields all have a
//! fixed width, chosen at compile time.
//!
//! [`LinkEncoder`](crate::LinkEncoder) walks any payload with its schema at run time: strings,
//! options, lists, floats and time fields, a dictionary of strings and templates. That walk,
//! the `f64` packing and the nanosecond conversion of time fields pull soft-float and 64-bit
//! division routines into a firmware that records only one simple event. [`FixedEncoder`] is
//! for that firmware: its event type `E` is a type parameter, its schema is a constant checked
//! at compile time to hold only fixed-width codes (`q` `w` `i` `b` `f`: no strings, no floats
//! that need converting, no time fields), and its record frames are written straight from the
//! payload's bytes. Timestamps stay raw ticks (the host converts them with the tick rate of
//! HELLO, as for every encoder), so it has no division and no floating point at all. Frames are
//! COBS-encoded in place ([`frame_in_place`]): one buffer of 100 bytes, no second one for the
//! wire.
//!
//! It writes the **same frames** as [`LinkEncoder`](crate::LinkEncoder) (HELLO, TEMPLATE with
//! the type's schema and an empty shape, `0x80 | id` records, SYNC and END), so the same host
//! decoder and `northstar ingest` read it unchanged. A record of another type (only a misuse
//! of the ring could put one there) is not sent: it is counted in [`LinkStats::link_dropped`],
//! which every SYNC reports, so the host counts it as lost on the link, never silently.

use core::marker::PhantomData;

use northstar_core::events::Payload;
use northstar_core::record::{EventHeader, HEADER_LEN, TRAILER_LEN};
use northstar_core::ring::{Consumer, Counters};
use zerocopy::FromBytes;

use crate::encoder::{LinkStats, Sink, SYNC_EVERY};
use crate::schema;
use crate::wire::{frame_in_place, kind, zigzag, Out, HELLO_MAGIC, VERSION};

/// Largest frame body: a SYNC (kind and eight varints of up to 10 bytes) fits.
pub const FIXED_BODY: usize = 96;
/// Template ids stay below this (the one-byte record form); after that many changes of
/// visibility or actor, records are counted as lost on the link.
const MAX_TEMPLATES: u32 = 0x80;

/// Bytes a fixed-width schema code takes in the core payload, and at most on the wire; `None`
/// for codes that are not fixed-width.
const fn code_widths(code: u8) -> Option<(usize, usize)> {
    match code {
        b'q' | b'i' => Some((8, 10)),
        b'w' => Some((4, 5)),
        b'b' => Some((1, 1)),
        b'f' => Some((4, 4)),
        _ => None,
    }
}

/// The payload length and the largest encoded values of a fixed-width schema; panics (at
/// compile time, where it is used) for any other schema.
const fn fixed_widths(schema: &[u8]) -> (usize, usize) {
    let mut payload = 0;
    let mut values = 0;
    let mut i = 0;
    while i < schema.len() {
        match code_widths(schema[i]) {
            Some((p, v)) => {
                payload += p;
                values += v;
            }
            None => panic!("FixedEncoder needs an event type whose schema is only q, w, i, b, f"),
        }
        i += 1;
    }
    (payload, values)
}

/// A link encoder for the one event type `E`, whose schema holds only fixed-width fields
/// (checked at compile time). 100 bytes of buffer; see the module documentation.
///
/// ```
/// use northstar_core::events::AgentSessionEnded;
/// let enc = northstar_link::FixedEncoder::<AgentSessionEnded>::new(16_000_000, 0);
/// assert_eq!(enc.stats().records_sent, 0);
/// ```
///
/// An event type with strings, lists or time fields is refused when the program is built:
///
/// ```compile_fail
/// use northstar_core::events::PerfSample;
/// let enc = northstar_link::FixedEncoder::<PerfSample<'static>>::new(16_000_000, 0);
/// assert_eq!(enc.stats().records_sent, 0);
/// ```
pub struct FixedEncoder<E> {
    hz: u64,
    epoch_unix_ns: u64,
    started: bool,
    last_ts: u64,
    since_sync: u32,
    /// The visibility and actor of the template in use (`template_id`), if one was sent.
    template: Option<(u8, u64)>,
    template_id: u32,
    stats: LinkStats,
    /// `buf[0]`: COBS's first code; `buf[1..=FIXED_BODY]`: the body; then CRC and `0x00`.
    buf: [u8; FIXED_BODY + 4],
    _event: PhantomData<fn() -> E>,
}

impl<E: Payload<'static>> FixedEncoder<E> {
    const SCHEMA: &'static [u8] = schema::of(E::EVENT_TYPE);
    /// The payload's length in the ring, and the most bytes its values take on the wire.
    const WIDTHS: (usize, usize) = fixed_widths(Self::SCHEMA);
    const FITS: () = assert!(
        // A record: kind, zigzag delta, values. A template: kind, id, type, visibility, actor,
        // schema length, schema (empty shape).
        1 + 10 + Self::WIDTHS.1 <= FIXED_BODY && 5 + 10 + 1 + Self::SCHEMA.len() <= FIXED_BODY,
        "the event is too large for FixedEncoder's frame buffer"
    );

    /// An encoder for a clock of `hz` ticks per second that read 0 at `epoch_unix_ns` (0: the
    /// device has no wall clock; the host then supplies the epoch).
    pub const fn new(hz: u64, epoch_unix_ns: u64) -> Self {
        let () = Self::FITS;
        Self {
            hz,
            epoch_unix_ns,
            started: false,
            last_ts: 0,
            since_sync: 0,
            template: None,
            template_id: 0,
            stats: LinkStats {
                records_sent: 0,
                raw_sent: 0,
                link_dropped: 0,
                frames: 0,
                bytes: 0,
                strings: 0,
                templates: 0,
            },
            buf: [0; FIXED_BODY + 4],
            _event: PhantomData,
        }
    }

    /// What was sent so far (`strings` stays 0: this encoder defines none).
    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// Frames the `n` bytes of body in place and writes them.
    fn emit<S: Sink>(&mut self, n: usize, sink: &mut S) -> bool {
        match frame_in_place(&mut self.buf, n) {
            Some(len) => {
                sink.write(&self.buf[..len]);
                self.stats.frames += 1;
                self.stats.bytes += len as u64;
                true
            }
            None => false,
        }
    }

    /// Starts a connection: sends HELLO; the next record defines its template again.
    pub fn hello<S: Sink>(&mut self, sink: &mut S) {
        self.stats = LinkStats::default();
        self.last_ts = 0;
        self.since_sync = 0;
        self.template = None;
        self.template_id = 0;
        self.started = true;
        let mut out = body(&mut self.buf);
        let ok = out
            .byte(kind::HELLO)
            .and_then(|()| out.put(&HELLO_MAGIC))
            .and_then(|()| out.byte(VERSION))
            .and_then(|()| out.varint(self.hz))
            .and_then(|()| out.varint(self.epoch_unix_ns));
        let n = out.len();
        if ok.is_ok() {
            self.emit(n, sink);
        }
    }

    /// Sends the counters (SYNC, or END when `end`): the ring's and the link's.
    pub fn sync<S: Sink>(&mut self, ring: &Counters, sink: &mut S, end: bool) {
        if !self.started {
            self.hello(sink);
        }
        self.since_sync = 0;
        let s = self.stats;
        let mut out = body(&mut self.buf);
        let mut ok = out.byte(if end { kind::END } else { kind::SYNC });
        for f in [
            self.last_ts,
            s.records_sent,
            ring.pushed,
            ring.dropped_full,
            ring.oversize,
            ring.rate_limited,
            ring.sampled_out,
            s.link_dropped,
        ] {
            ok = ok.and_then(|()| out.varint(f));
        }
        let n = out.len();
        if ok.is_ok() {
            self.emit(n, sink);
        }
    }

    /// Drains every record published in the ring to the sink; sends a SYNC every
    /// [`SYNC_EVERY`] records. Returns the records taken.
    pub fn pump<S: Sink>(&mut self, consumer: &mut Consumer<'_>, sink: &mut S) -> usize {
        if !self.started {
            self.hello(sink);
        }
        let drained = consumer.drain(usize::MAX, |bytes| self.send_record(bytes, sink));
        if self.since_sync >= SYNC_EVERY {
            let counters = consumer.ring().counters();
            self.sync(&counters, sink, false);
        }
        drained.records
    }

    /// Encodes and sends one ring record (header, payload, trailer; timestamp in ticks).
    pub fn send_record<S: Sink>(&mut self, record: &[u8], sink: &mut S) {
        if !self.started {
            self.hello(sink);
        }
        self.since_sync += 1;
        if self.fixed(record, sink) {
            self.stats.records_sent += 1;
        } else {
            self.stats.link_dropped += 1;
        }
    }

    /// The record of type `E` as a template record; `false` if it is not one (or its template
    /// could not be sent).
    fn fixed<S: Sink>(&mut self, record: &[u8], sink: &mut S) -> bool {
        let Ok((header, _)) = EventHeader::ref_from_prefix(record) else {
            return false;
        };
        let payload_len = Self::WIDTHS.0;
        if header.type_byte() != E::EVENT_TYPE.compact()
            || header.payload_len() != payload_len
            || record.len() != HEADER_LEN + payload_len + TRAILER_LEN
        {
            return false;
        }
        let ticks = header.timestamp.get();
        let actor = header.actor_id.get();
        // Bits 30-31 of `packed`: the visibility, as the header stores it.
        let visibility = (header.packed.get() >> 30) as u8;
        if self.template != Some((visibility, actor)) {
            let id = if self.template.is_some() {
                self.template_id + 1
            } else {
                0
            };
            if id >= MAX_TEMPLATES {
                return false;
            }
            let mut out = body(&mut self.buf);
            let ok = out
                .byte(kind::TEMPLATE)
                .and_then(|()| out.byte(id as u8))
                .and_then(|()| out.byte(header.type_byte()))
                .and_then(|()| out.byte(visibility))
                .and_then(|()| out.varint(actor))
                .and_then(|()| out.byte(Self::SCHEMA.len() as u8))
                .and_then(|()| out.put(Self::SCHEMA));
            let n = out.len();
            if ok.is_err() || !self.emit(n, sink) {
                return false;
            }
            self.template = Some((visibility, actor));
            self.template_id = id;
            self.stats.templates += 1;
        }

        let mut out = body(&mut self.buf);
        let mut ok = out
            .byte(kind::RECORD_SHORT | self.template_id as u8)
            .and_then(|()| out.varint(zigzag(ticks.wrapping_sub(self.last_ts) as i64)));
        // The payload's fields, in schema order, at fixed offsets (the loop is over a
        // constant: the compiler unrolls it for the one type).
        let payload = &record[HEADER_LEN..HEADER_LEN + payload_len];
        let mut at = 0;
        for &code in Self::SCHEMA {
            ok = ok.and_then(|()| match code {
                b'q' => {
                    let v = le_u64(payload, at);
                    at += 8;
                    out.varint(v)
                }
                b'i' => {
                    let v = le_u64(payload, at) as i64;
                    at += 8;
                    out.varint(zigzag(v))
                }
                b'w' => {
                    let v = le_u32(payload, at);
                    at += 4;
                    out.varint(u64::from(v))
                }
                b'f' => {
                    let r = out.put(payload.get(at..at + 4).unwrap_or(&[0; 4]));
                    at += 4;
                    r
                }
                // `b`: fixed_widths admits no other code.
                _ => {
                    let r = out.byte(payload.get(at).copied().unwrap_or(0));
                    at += 1;
                    r
                }
            });
        }
        let n = out.len();
        if ok.is_err() || !self.emit(n, sink) {
            return false;
        }
        self.last_ts = ticks;
        true
    }
}

/// A writer over the body part of an encoder's buffer.
fn body(buf: &mut [u8; FIXED_BODY + 4]) -> Out<'_> {
    Out::new(&mut buf[1..=FIXED_BODY])
}

fn le_u64(bytes: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(src) = bytes.get(at..at + 8) {
        a.copy_from_slice(src);
    }
    u64::from_le_bytes(a)
}

fn le_u32(bytes: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(src) = bytes.get(at..at + 4) {
        a.copy_from_slice(src);
    }
    u32::from_le_bytes(a)
}
