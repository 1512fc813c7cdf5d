//! The device side: ring records to link frames, in fixed memory.
//!
//! [`LinkEncoder::pump`] drains a ring's [`Consumer`] and writes frames to a [`Sink`]. Per
//! record it walks the payload with the type's [`schema`]: each string is looked
//! up in the dictionary (new ones are defined once with a STRING frame, while the arena has
//! room; strings that do not fit travel inline), and the record's template (type, visibility,
//! actor, shape) likewise; the record frame then carries the template id, the timestamp delta
//! and the values. A record the dictionary cannot describe goes whole (RAW); a record larger
//! than the frame buffer is counted in [`LinkStats::link_dropped`] and reported to the host in
//! the next SYNC, never lost silently.

use northstar_core::record::{decode_record, EventHeader, HEADER_LEN, TRAILER_LEN};
use northstar_core::ring::{Consumer, Counters};
use zerocopy::FromBytes;

use crate::schema::{self, element_len, put_f64, SchemaError};
use crate::wire::{encode_frame, kind, zigzag, In, Out, HELLO_MAGIC, VERSION};

/// Where frames go: a UART, semihosting, a buffer. `write` takes whole frames (each ends with
/// its `0x00`); it may block (a polled UART) but should not drop bytes silently.
pub trait Sink {
    /// Sends `bytes`.
    fn write(&mut self, bytes: &[u8]);
}

/// Longest string the dictionary interns; longer ones travel inline.
pub const MAX_INTERNED: usize = 48;
/// Longest shape (string ids, tags, counts) a template holds; records with more go RAW.
pub const MAX_SHAPE: usize = 64;
/// A SYNC frame follows every this many records.
pub const SYNC_EVERY: u32 = 32;

const ENTRY_STRING: u8 = 1;
const ENTRY_TEMPLATE: u8 = 2;

/// What the encoder sent, cumulative since HELLO.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Record frames sent (templated or RAW).
    pub records_sent: u64,
    /// Of those, records sent whole because the dictionary could not describe them.
    pub raw_sent: u64,
    /// Records taken from the ring that could not be sent (larger than the frame buffer, or
    /// malformed): counted here and in every SYNC.
    pub link_dropped: u64,
    /// Frames of every kind.
    pub frames: u64,
    /// Bytes written to the sink, framing included.
    pub bytes: u64,
    /// Strings defined.
    pub strings: u32,
    /// Templates defined.
    pub templates: u32,
}

#[derive(Clone, Copy)]
struct Entry {
    kind: u8,
    off: u16,
    len: u16,
    id: u32,
}

/// Fixed-size dictionary: an arena of keys and an index of entries.
struct Dict<const ARENA: usize, const ENTRIES: usize> {
    arena: [u8; ARENA],
    used: usize,
    entries: [Entry; ENTRIES],
    count: usize,
    next_string: u32,
    next_template: u32,
}

impl<const ARENA: usize, const ENTRIES: usize> Dict<ARENA, ENTRIES> {
    const fn new() -> Self {
        Self {
            arena: [0; ARENA],
            used: 0,
            entries: [Entry {
                kind: 0,
                off: 0,
                len: 0,
                id: 0,
            }; ENTRIES],
            count: 0,
            next_string: 1,
            next_template: 0,
        }
    }

    fn clear(&mut self) {
        self.used = 0;
        self.count = 0;
        self.next_string = 1;
        self.next_template = 0;
    }

    fn find(&self, kind: u8, key: &[u8]) -> Option<u32> {
        self.entries[..self.count]
            .iter()
            .find(|e| {
                e.kind == kind
                    && usize::from(e.len) == key.len()
                    && self
                        .arena
                        .get(usize::from(e.off)..usize::from(e.off) + key.len())
                        == Some(key)
            })
            .map(|e| e.id)
    }

    /// Takes back the entry just inserted (its definition could not be sent).
    fn pop(&mut self) {
        if let Some(count) = self.count.checked_sub(1) {
            let e = self.entries[count];
            self.count = count;
            self.used = usize::from(e.off);
            if e.kind == ENTRY_STRING {
                self.next_string -= 1;
            } else {
                self.next_template -= 1;
            }
        }
    }

    /// Adds a key; `None` when the arena or the index is full.
    fn insert(&mut self, kind: u8, key: &[u8]) -> Option<u32> {
        let end = self.used.checked_add(key.len())?;
        if self.count >= ENTRIES || end > ARENA || end > usize::from(u16::MAX) {
            return None;
        }
        self.arena[self.used..end].copy_from_slice(key);
        let id = if kind == ENTRY_STRING {
            let id = self.next_string;
            self.next_string += 1;
            id
        } else {
            let id = self.next_template;
            self.next_template += 1;
            id
        };
        self.entries[self.count] = Entry {
            kind,
            off: self.used as u16,
            len: key.len() as u16,
            id,
        };
        self.count += 1;
        self.used = end;
        Some(id)
    }
}

/// Frames out: encodes a body into the wire buffer and hands it to the sink.
struct Emitter<'a, S: Sink, const WIRE: usize> {
    wire: &'a mut [u8; WIRE],
    sink: &'a mut S,
    stats: &'a mut LinkStats,
}

impl<S: Sink, const WIRE: usize> Emitter<'_, S, WIRE> {
    fn emit(&mut self, body: &[u8]) -> bool {
        match encode_frame(body, self.wire) {
            Some(n) => {
                self.sink.write(&self.wire[..n]);
                self.stats.frames += 1;
                self.stats.bytes += n as u64;
                true
            }
            None => false,
        }
    }
}

/// The device's link encoder. `ARENA` bytes of dictionary keys in `ENTRIES` entries; `FRAME`
/// is the largest frame body (a RAW record needs its whole length plus one); `WIRE` must be at
/// least `FRAME + FRAME / 254 + 4` (checked at compile time).
pub struct LinkEncoder<
    const ARENA: usize,
    const ENTRIES: usize,
    const FRAME: usize,
    const WIRE: usize,
> {
    hz: u64,
    epoch_unix_ns: u64,
    started: bool,
    last_ts: u64,
    since_sync: u32,
    dict: Dict<ARENA, ENTRIES>,
    body: [u8; FRAME],
    values: [u8; FRAME],
    wire: [u8; WIRE],
    stats: LinkStats,
}

impl<const ARENA: usize, const ENTRIES: usize, const FRAME: usize, const WIRE: usize>
    LinkEncoder<ARENA, ENTRIES, FRAME, WIRE>
{
    const WIRE_FITS: () = assert!(
        WIRE >= FRAME + FRAME / 254 + 4 && FRAME >= 32,
        "WIRE must hold a COBS-encoded FRAME"
    );

    /// An encoder for a clock of `hz` ticks per second that read 0 at `epoch_unix_ns` (0: the
    /// device has no wall clock; the host then supplies the epoch).
    pub const fn new(hz: u64, epoch_unix_ns: u64) -> Self {
        let () = Self::WIRE_FITS;
        Self {
            hz,
            epoch_unix_ns,
            started: false,
            last_ts: 0,
            since_sync: 0,
            dict: Dict::new(),
            body: [0; FRAME],
            values: [0; FRAME],
            wire: [0; WIRE],
            stats: LinkStats {
                records_sent: 0,
                raw_sent: 0,
                link_dropped: 0,
                frames: 0,
                bytes: 0,
                strings: 0,
                templates: 0,
            },
        }
    }

    /// What was sent so far.
    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// Starts a connection: sends HELLO and empties the dictionary (a host that connects late
    /// or lost sync on the dictionary gets a fresh one).
    pub fn hello<S: Sink>(&mut self, sink: &mut S) {
        self.dict.clear();
        self.stats = LinkStats::default();
        self.last_ts = 0;
        self.since_sync = 0;
        self.started = true;
        let mut out = Out::new(&mut self.body);
        let _ = out
            .byte(kind::HELLO)
            .and_then(|()| out.put(&HELLO_MAGIC))
            .and_then(|()| out.byte(VERSION))
            .and_then(|()| out.varint(self.hz))
            .and_then(|()| out.varint(self.epoch_unix_ns));
        let n = out.len();
        let mut em = Emitter {
            wire: &mut self.wire,
            sink,
            stats: &mut self.stats,
        };
        em.emit(&self.body[..n]);
    }

    /// Sends the counters (SYNC, or END when `end`): the ring's and the link's.
    pub fn sync<S: Sink>(&mut self, ring: &Counters, sink: &mut S, end: bool) {
        if !self.started {
            self.hello(sink);
        }
        self.since_sync = 0;
        let s = self.stats;
        let mut out = Out::new(&mut self.body);
        let fields = [
            self.last_ts,
            s.records_sent,
            ring.pushed,
            ring.dropped_full,
            ring.oversize,
            ring.rate_limited,
            ring.sampled_out,
            s.link_dropped,
        ];
        let mut ok = out.byte(if end { kind::END } else { kind::SYNC });
        for f in fields {
            ok = ok.and_then(|()| out.varint(f));
        }
        let n = out.len();
        if ok.is_ok() {
            let mut em = Emitter {
                wire: &mut self.wire,
                sink,
                stats: &mut self.stats,
            };
            em.emit(&self.body[..n]);
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
        let sent = match self.templated(record, sink) {
            Ok(()) => true,
            Err(_) => self.raw(record, sink),
        };
        if sent {
            self.stats.records_sent += 1;
        } else {
            self.stats.link_dropped += 1;
        }
    }

    fn raw<S: Sink>(&mut self, record: &[u8], sink: &mut S) -> bool {
        let Some(ts) = EventHeader::ref_from_prefix(record)
            .ok()
            .map(|(h, _)| h.timestamp.get())
        else {
            return false;
        };
        let mut out = Out::new(&mut self.body);
        if out.byte(kind::RAW).and_then(|()| out.put(record)).is_err() {
            return false;
        }
        let n = out.len();
        let mut em = Emitter {
            wire: &mut self.wire,
            sink,
            stats: &mut self.stats,
        };
        if em.emit(&self.body[..n]) {
            self.stats.raw_sent += 1;
            self.last_ts = ts;
            true
        } else {
            false
        }
    }

    fn templated<S: Sink>(&mut self, record: &[u8], sink: &mut S) -> Result<(), SchemaError> {
        let view = decode_record(record).map_err(|_| SchemaError::Truncated)?;
        let (header, _) =
            EventHeader::ref_from_prefix(record).map_err(|_| SchemaError::Truncated)?;
        // A user event or definition has no spec schema to template: it goes RAW.
        let event_type = view.event_type().ok_or(SchemaError::BadSchema)?;
        let ticks = view.timestamp();
        let record_ns = self
            .epoch_unix_ns
            .wrapping_add(schema::ticks_to_nanos(ticks, self.hz)) as i64;
        let payload = record
            .get(HEADER_LEN..record.len() - TRAILER_LEN)
            .ok_or(SchemaError::Truncated)?;
        let schema = schema::of(event_type);

        let mut shape_buf = [0u8; MAX_SHAPE];
        let mut shape = Out::new(&mut shape_buf);
        let mut values = Out::new(&mut self.values);
        let mut em = Emitter {
            wire: &mut self.wire,
            sink,
            stats: &mut self.stats,
        };
        let dict = &mut self.dict;
        let mut intern = |s: &[u8]| -> u32 {
            if s.len() > MAX_INTERNED {
                return 0;
            }
            if let Some(id) = dict.find(ENTRY_STRING, s) {
                return id;
            }
            let Some(id) = dict.insert(ENTRY_STRING, s) else {
                return 0;
            };
            let mut b = [0u8; MAX_INTERNED + 8];
            let mut out = Out::new(&mut b);
            let written = out
                .byte(kind::STRING)
                .and_then(|()| out.varint(u64::from(id)))
                .and_then(|()| out.put(s));
            let n = out.len();
            if written.is_err() || !em.emit(&b[..n]) {
                // Never reference a string the host was not sent: this one goes inline.
                dict.pop();
                return 0;
            }
            em.stats.strings += 1;
            id
        };
        let mut input = In::new(payload);
        walk(
            schema,
            &mut input,
            &mut shape,
            &mut values,
            &mut intern,
            record_ns,
        )?;
        if !input.is_empty() {
            return Err(SchemaError::Truncated);
        }
        let values_len = values.len();

        // The template key: type, visibility, actor, shape.
        let mut key_buf = [0u8; 2 + 8 + MAX_SHAPE];
        let mut key = Out::new(&mut key_buf);
        key.byte(header.type_byte())?;
        key.byte(view.visibility() as u8)?;
        key.put(&view.actor_id().to_le_bytes())?;
        key.put(shape.bytes())?;
        let tid = match self.dict.find(ENTRY_TEMPLATE, key.bytes()) {
            Some(id) => id,
            None => {
                let id = self
                    .dict
                    .insert(ENTRY_TEMPLATE, key.bytes())
                    .ok_or(SchemaError::Overflow)?;
                let mut out = Out::new(&mut self.body);
                let written = out
                    .byte(kind::TEMPLATE)
                    .and_then(|()| out.varint(u64::from(id)))
                    .and_then(|()| out.byte(header.type_byte()))
                    .and_then(|()| out.byte(view.visibility() as u8))
                    .and_then(|()| out.varint(view.actor_id()))
                    .and_then(|()| out.byte(schema.len() as u8))
                    .and_then(|()| out.put(schema))
                    .and_then(|()| out.put(shape.bytes()));
                let n = out.len();
                let mut em = Emitter {
                    wire: &mut self.wire,
                    sink,
                    stats: &mut self.stats,
                };
                if written.is_err() || !em.emit(&self.body[..n]) {
                    // Never reference a template the host was not sent: this record goes RAW.
                    self.dict.pop();
                    return Err(SchemaError::Overflow);
                }
                self.stats.templates += 1;
                id
            }
        };

        let mut out = Out::new(&mut self.body);
        if tid < 0x80 {
            out.byte(kind::RECORD_SHORT | tid as u8)?;
        } else {
            out.byte(kind::RECORD)?;
            out.varint(u64::from(tid))?;
        }
        out.varint(zigzag(ticks.wrapping_sub(self.last_ts) as i64))?;
        out.put(&self.values[..values_len])?;
        let n = out.len();
        let mut em = Emitter {
            wire: &mut self.wire,
            sink,
            stats: &mut self.stats,
        };
        if !em.emit(&self.body[..n]) {
            return Err(SchemaError::Overflow);
        }
        self.last_ts = ticks;
        Ok(())
    }
}

/// Splits a core payload into shape and values, element by element of `schema`.
fn walk(
    schema: &[u8],
    input: &mut In<'_>,
    shape: &mut Out<'_>,
    values: &mut Out<'_>,
    intern: &mut impl FnMut(&[u8]) -> u32,
    record_ns: i64,
) -> Result<(), SchemaError> {
    let mut i = 0;
    while i < schema.len() {
        let len = element_len(&schema[i..])?;
        let element = &schema[i..i + len];
        match element[0] {
            b'q' => values.varint(u64::from_le_bytes(input.array()?))?,
            b'w' => values.varint(u64::from(u32::from_le_bytes(input.array()?)))?,
            b'i' => values.varint(zigzag(i64::from_le_bytes(input.array()?)))?,
            b't' => {
                let v = i64::from_le_bytes(input.array()?);
                values.varint(zigzag(v.wrapping_sub(record_ns)))?;
            }
            b'b' => values.byte(input.byte()?)?,
            b'f' => values.put(input.take(4)?)?,
            b'd' => put_f64(values, f64::from_le_bytes(input.array()?))?,
            b's' => {
                let n = u32::from_le_bytes(input.array()?) as usize;
                let s = input.take(n)?;
                let id = intern(s);
                shape.varint(u64::from(id))?;
                if id == 0 {
                    values.varint(n as u64)?;
                    values.put(s)?;
                }
            }
            b'?' => {
                let tag = input.byte()?;
                if tag > 1 {
                    return Err(SchemaError::BadTag);
                }
                shape.byte(tag)?;
                if tag == 1 {
                    walk(&element[1..], input, shape, values, intern, record_ns)?;
                }
            }
            b'[' | b'm' => {
                let inner: &[u8] = if element[0] == b'm' {
                    b"ss"
                } else {
                    &element[1..len - 1]
                };
                let count = u32::from_le_bytes(input.array()?) as usize;
                // Every item takes at least one payload byte.
                if count > input.rest().len() {
                    return Err(SchemaError::Truncated);
                }
                shape.varint(count as u64)?;
                for _ in 0..count {
                    walk(inner, input, shape, values, intern, record_ns)?;
                }
            }
            _ => return Err(SchemaError::BadSchema),
        }
        i += len;
    }
    Ok(())
}
