//! The host side: link bytes to core records, with every problem reported and counted.
//!
//! [`Decoder::feed`] takes bytes as they arrive and returns [`Item`]s: rebuilt records (core
//! records whose header timestamp is Unix nanoseconds, validated by the core's own
//! `decode_record` and payload decoder), the device's counters, and problems. Nothing in the
//! input can make it panic or allocate without bound (the fuzz target `link_decoder` feeds it
//! arbitrary bytes).

use std::collections::HashMap;

use northstar_core::record::{decode_record, write_record, EventHeader, FRAMING_LEN};
use northstar_core::{EventType, Visibility};
use zerocopy::FromBytes;

use crate::schema::{self, element_len, get_f64, validate, SchemaError, MAX_SCHEMA_LEN};
use crate::wire::{kind, unzigzag, Corruption, Frame, FrameReader, In, HELLO_MAGIC, VERSION};

/// Largest encoded frame the host accepts (a RAW record of the largest ring a firmware uses).
pub const MAX_WIRE_FRAME: usize = 64 * 1024;
/// Largest payload the host rebuilds from one record frame.
pub const MAX_PAYLOAD: usize = 1 << 20;
/// Most strings plus templates one connection may define.
pub const MAX_DICTIONARY: usize = 1 << 16;
/// Most records held after a damaged frame while waiting for the SYNC that times them.
pub const MAX_PENDING: usize = 4096;

/// The device's counters from a SYNC or END frame (cumulative since HELLO).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceCounters {
    /// Ticks of the last record sent before this frame.
    pub last_ts: u64,
    /// Record frames the device sent.
    pub records_sent: u64,
    /// The ring's records published.
    pub pushed: u64,
    /// The ring's drops: full.
    pub dropped_full: u64,
    /// The ring's refusals: too large.
    pub oversize: u64,
    /// The ring's refusals: rate limited.
    pub rate_limited: u64,
    /// The ring's refusals: sampled out.
    pub sampled_out: u64,
    /// Records the device's link could not send.
    pub link_dropped: u64,
}

impl DeviceCounters {
    /// Events the device lost before the link: ring drops and refusals, and link drops.
    pub fn device_lost(&self) -> u64 {
        self.dropped_full + self.oversize + self.rate_limited + self.sampled_out + self.link_dropped
    }
}

/// Something wrong in the stream. None of them stops the decoder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// Bytes between two `0x00` that were not a frame (a lost or changed byte).
    Corrupt {
        /// Bytes discarded.
        len: usize,
        /// Why.
        reason: Corruption,
    },
    /// A frame kind this decoder does not know.
    UnknownKind(u8),
    /// A frame that arrived before any HELLO.
    BeforeHello(u8),
    /// A frame whose fields are malformed.
    BadFrame {
        /// Its kind.
        kind: u8,
        /// What is wrong.
        error: SchemaError,
    },
    /// A HELLO with another magic or version.
    BadHello,
    /// The device's tick rate disagrees with the one given by the user.
    HzMismatch {
        /// Rate the user gave.
        given: u64,
        /// Rate the device announced.
        device: u64,
    },
    /// A record refers to a template never defined (its definition was lost).
    UnknownTemplate(u32),
    /// A record received after a lost frame was lost too: another frame was lost before the
    /// SYNC that would have timed it (or more than [`MAX_PENDING`] were waiting).
    Unsynced,
    /// A rebuilt record or its payload fails the core's checks.
    Invalid(String),
    /// The dictionary reached [`MAX_DICTIONARY`] entries.
    DictionaryFull,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Corrupt { len, reason } => write!(f, "corrupt frame of {len} bytes: {reason}"),
            Self::UnknownKind(k) => write!(f, "unknown frame kind {k:#04x}"),
            Self::BeforeHello(k) => write!(f, "frame kind {k:#04x} before HELLO"),
            Self::BadFrame { kind, error } => {
                write!(f, "malformed frame of kind {kind:#04x}: {error}")
            }
            Self::BadHello => f.write_str("HELLO with a wrong magic or version"),
            Self::HzMismatch { given, device } => {
                write!(
                    f,
                    "--hz {given} disagrees with the device's {device} ticks per second"
                )
            }
            Self::UnknownTemplate(id) => write!(f, "record of undefined template {id}"),
            Self::Unsynced => f.write_str("record after a lost frame could not be timed"),
            Self::Invalid(e) => write!(f, "rebuilt record fails the core's checks: {e}"),
            Self::DictionaryFull => f.write_str("too many dictionary entries"),
        }
    }
}

/// What the decoder found.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// A new connection: the device's tick rate and epoch, and the epoch used.
    Hello {
        /// Ticks per second.
        hz: u64,
        /// The device's epoch (0: none).
        device_epoch_ns: u64,
    },
    /// A record: a whole core record, header timestamp in Unix ns.
    Record(Vec<u8>),
    /// The device's counters.
    Sync(DeviceCounters),
    /// The device's last counters: the stream ends.
    End(DeviceCounters),
    /// A problem.
    Problem(Problem),
}

struct Template {
    type_byte: u8,
    visibility: u8,
    actor: u64,
    schema: Vec<u8>,
    shape: Vec<u8>,
}

/// A record received after a damaged frame: its time is known only relative to the next
/// record's, until a SYNC gives the absolute time of the last one.
struct Pending {
    template: u32,
    delta: i64,
    values: Vec<u8>,
}

struct Connection {
    hz: u64,
    epoch_ns: u64,
    strings: HashMap<u32, String>,
    templates: HashMap<u32, Template>,
    last_ts: Option<u64>,
    pending: Vec<Pending>,
}

impl Connection {
    /// A frame was lost: what was pending cannot be timed any more (its anchor is the SYNC
    /// after a frame that is gone), and the deltas that follow are unanchored.
    fn lose_sync(&mut self, out: &mut Vec<Item>) {
        self.last_ts = None;
        for _ in self.pending.drain(..) {
            out.push(Item::Problem(Problem::Unsynced));
        }
    }

    /// A SYNC gave the time of the last record sent: time the pending records backwards
    /// from it (each delta is relative to the record before) and rebuild them in order.
    fn resync(&mut self, last_ts: u64, out: &mut Vec<Item>) {
        let pending = std::mem::take(&mut self.pending);
        let mut ticks = vec![0u64; pending.len()];
        let mut t = last_ts;
        for (slot, p) in ticks.iter_mut().zip(&pending).rev() {
            *slot = t;
            t = t.wrapping_sub(p.delta as u64);
        }
        for (p, ticks) in pending.iter().zip(ticks) {
            out.push(build(self, p.template, ticks, &mut In::new(&p.values)));
        }
        self.last_ts = Some(last_ts);
    }
}

/// Totals over the whole stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Frames decoded (every kind).
    pub frames: u64,
    /// Records rebuilt and valid, in the current connection.
    pub records: u64,
    /// Corrupt frames.
    pub corrupt: u64,
    /// Other problems.
    pub problems: u64,
    /// Bytes read.
    pub bytes: u64,
}

/// The stream decoder.
pub struct Decoder {
    reader: Box<FrameReader<MAX_WIRE_FRAME>>,
    hz: Option<u64>,
    epoch_ns: Option<u64>,
    epoch_fallback_ns: u64,
    conn: Option<Connection>,
    stats: DecodeStats,
    backlog: Vec<Item>,
}

impl Decoder {
    /// A decoder. `hz`: the device's tick rate if known (checked against its HELLO);
    /// `epoch_ns`: the Unix time at which the device's clock read 0, overriding the device's;
    /// `epoch_fallback_ns`: used when neither the user nor the device gives one.
    pub fn new(hz: Option<u64>, epoch_ns: Option<u64>, epoch_fallback_ns: u64) -> Self {
        Self {
            reader: Box::new(FrameReader::new()),
            hz,
            epoch_ns,
            epoch_fallback_ns,
            conn: None,
            stats: DecodeStats::default(),
            backlog: Vec::new(),
        }
    }

    /// Totals so far.
    pub fn stats(&self) -> DecodeStats {
        self.stats
    }

    /// Bytes after the last `0x00` (at end of input: a truncated frame).
    pub fn pending(&self) -> usize {
        self.reader.pending()
    }

    /// Feeds bytes; every item they complete is passed to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut impl FnMut(Item)) {
        for &b in bytes {
            self.stats.bytes += 1;
            let item = match self.reader.push(b) {
                None => continue,
                Some(Frame::Corrupt { len, reason }) => {
                    self.stats.corrupt += 1;
                    if let Some(c) = self.conn.as_mut() {
                        c.lose_sync(&mut self.backlog);
                    }
                    Some(Item::Problem(Problem::Corrupt { len, reason }))
                }
                Some(Frame::Body(body)) => {
                    self.stats.frames += 1;
                    let body = body.to_vec();
                    self.frame(&body)
                }
            };
            let backlog = std::mem::take(&mut self.backlog);
            for item in backlog.into_iter().chain(item) {
                match &item {
                    Item::Problem(Problem::Corrupt { .. }) => {}
                    Item::Problem(_) => self.stats.problems += 1,
                    Item::Record(_) => self.stats.records += 1,
                    Item::Hello { .. } => self.stats.records = 0,
                    _ => {}
                }
                out(item);
            }
        }
    }

    fn frame(&mut self, body: &[u8]) -> Option<Item> {
        let k = body[0];
        let mut input = In::new(&body[1..]);
        if k == kind::HELLO {
            if let Some(c) = self.conn.as_mut() {
                c.lose_sync(&mut self.backlog);
            }
            return Some(self.hello(&mut input));
        }
        let Some(conn) = self.conn.as_mut() else {
            return Some(Item::Problem(Problem::BeforeHello(k)));
        };
        let bad = |error: SchemaError| Some(Item::Problem(Problem::BadFrame { kind: k, error }));
        match k {
            kind::STRING => {
                let id = match input.varint() {
                    Ok(id) => id,
                    Err(e) => return bad(e.into()),
                };
                let Ok(s) = std::str::from_utf8(input.rest()) else {
                    return bad(SchemaError::BadString);
                };
                if id == 0 || id > u64::from(u32::MAX) {
                    return bad(SchemaError::BadString);
                }
                if conn.strings.len() + conn.templates.len() >= MAX_DICTIONARY {
                    return Some(Item::Problem(Problem::DictionaryFull));
                }
                conn.strings.insert(id as u32, s.to_owned());
                None
            }
            kind::TEMPLATE => match parse_template(&mut input) {
                Ok((id, t)) => {
                    if conn.strings.len() + conn.templates.len() >= MAX_DICTIONARY {
                        return Some(Item::Problem(Problem::DictionaryFull));
                    }
                    conn.templates.insert(id, t);
                    None
                }
                Err(e) => bad(e),
            },
            kind::SYNC | kind::END => {
                let mut f = [0u64; 8];
                for v in &mut f {
                    match input.varint() {
                        Ok(x) => *v = x,
                        Err(e) => return bad(e.into()),
                    }
                }
                let c = DeviceCounters {
                    last_ts: f[0],
                    records_sent: f[1],
                    pushed: f[2],
                    dropped_full: f[3],
                    oversize: f[4],
                    rate_limited: f[5],
                    sampled_out: f[6],
                    link_dropped: f[7],
                };
                if conn.pending.is_empty() {
                    conn.last_ts = Some(c.last_ts);
                } else {
                    conn.resync(c.last_ts, &mut self.backlog);
                }
                Some(if k == kind::END {
                    Item::End(c)
                } else {
                    Item::Sync(c)
                })
            }
            kind::RAW => {
                let rest = input.rest();
                conn.lose_sync(&mut self.backlog);
                let ticks = match decode_record(rest) {
                    Ok(v) if record_len(rest) == rest.len() => v.timestamp(),
                    Ok(_) => return Some(Item::Problem(Problem::Invalid("trailing bytes".into()))),
                    Err(e) => return Some(Item::Problem(Problem::Invalid(e.to_string()))),
                };
                conn.last_ts = Some(ticks);
                let mut bytes = rest.to_vec();
                let unix = conn
                    .epoch_ns
                    .saturating_add(schema::ticks_to_nanos(ticks, conn.hz));
                bytes[..8].copy_from_slice(&unix.to_le_bytes());
                Some(check(bytes))
            }
            kind::RECORD => match input.varint() {
                Ok(id) if id <= u64::from(u32::MAX) => record(conn, id as u32, &mut input),
                Ok(_) => bad(SchemaError::BadTag),
                Err(e) => bad(e.into()),
            },
            k if k & kind::RECORD_SHORT != 0 => record(conn, u32::from(k & 0x7F), &mut input),
            _ => Some(Item::Problem(Problem::UnknownKind(k))),
        }
    }

    fn hello(&mut self, input: &mut In<'_>) -> Item {
        let parsed = (|| {
            let magic: [u8; 2] = input.array()?;
            let version = input.byte()?;
            let hz = input.varint()?;
            let epoch = input.varint()?;
            Ok::<_, crate::wire::ReadError>((magic, version, hz, epoch))
        })();
        let Ok((magic, version, hz, device_epoch_ns)) = parsed else {
            return Item::Problem(Problem::BadHello);
        };
        if magic != HELLO_MAGIC || version != VERSION || hz == 0 {
            return Item::Problem(Problem::BadHello);
        }
        let epoch_ns = self.epoch_ns.unwrap_or(if device_epoch_ns != 0 {
            device_epoch_ns
        } else {
            self.epoch_fallback_ns
        });
        let used_hz = self.hz.unwrap_or(hz);
        self.conn = Some(Connection {
            hz: used_hz,
            epoch_ns,
            strings: HashMap::new(),
            templates: HashMap::new(),
            last_ts: Some(0),
            pending: Vec::new(),
        });
        match self.hz {
            Some(given) if given != hz => Item::Problem(Problem::HzMismatch { given, device: hz }),
            _ => Item::Hello {
                hz,
                device_epoch_ns,
            },
        }
    }
}

fn parse_template(input: &mut In<'_>) -> Result<(u32, Template), SchemaError> {
    let id = input.varint()?;
    let id = u32::try_from(id).map_err(|_| SchemaError::BadTag)?;
    let type_byte = input.byte()?;
    let visibility = input.byte()?;
    let actor = input.varint()?;
    let schema_len = usize::from(input.byte()?);
    if schema_len > MAX_SCHEMA_LEN {
        return Err(SchemaError::BadSchema);
    }
    let schema = input.take(schema_len)?.to_vec();
    validate(&schema)?;
    if EventType::from_compact(type_byte).is_none() || Visibility::from_bits(visibility).is_none() {
        return Err(SchemaError::BadTag);
    }
    Ok((
        id,
        Template {
            type_byte,
            visibility,
            actor,
            schema,
            shape: input.rest().to_vec(),
        },
    ))
}

/// Rebuilds one templated record, or holds it until the next SYNC when a frame was lost.
fn record(conn: &mut Connection, id: u32, input: &mut In<'_>) -> Option<Item> {
    let delta = match input.varint() {
        Ok(d) => unzigzag(d),
        Err(e) => {
            // The device's clock moved by an unknown amount: records held so far cannot be
            // anchored through this one (they are counted lost by the SYNC arithmetic).
            conn.last_ts = None;
            conn.pending.clear();
            return Some(Item::Problem(Problem::BadFrame {
                kind: kind::RECORD,
                error: e.into(),
            }));
        }
    };
    // The frame passed its CRC, so its delta is the device's even when the rest fails.
    let Some(last) = conn.last_ts else {
        if conn.pending.len() >= MAX_PENDING {
            return Some(Item::Problem(Problem::Unsynced));
        }
        conn.pending.push(Pending {
            template: id,
            delta,
            values: input.rest().to_vec(),
        });
        return None;
    };
    let ticks = last.wrapping_add(delta as u64);
    conn.last_ts = Some(ticks);
    Some(build(conn, id, ticks, input))
}

/// Rebuilds a templated record whose time is known.
fn build(conn: &Connection, id: u32, ticks: u64, input: &mut In<'_>) -> Item {
    let Some(t) = conn.templates.get(&id) else {
        return Item::Problem(Problem::UnknownTemplate(id));
    };
    let unix = conn
        .epoch_ns
        .saturating_add(schema::ticks_to_nanos(ticks, conn.hz));
    let mut payload = Vec::new();
    let mut shape = In::new(&t.shape);
    let built = rebuild(
        &t.schema,
        &mut shape,
        input,
        &conn.strings,
        &mut payload,
        unix as i64,
    )
    .and_then(|()| {
        if shape.is_empty() && input.is_empty() {
            Ok(())
        } else {
            Err(SchemaError::Truncated)
        }
    });
    if let Err(error) = built {
        return Item::Problem(Problem::BadFrame {
            kind: kind::RECORD,
            error,
        });
    }
    let (Some(event_type), Some(visibility)) = (
        EventType::from_compact(t.type_byte),
        Visibility::from_bits(t.visibility),
    ) else {
        return Item::Problem(Problem::Invalid("template type or visibility".into()));
    };
    let header = EventHeader::new(event_type, visibility, unix, t.actor, 0, payload.len());
    let mut bytes = vec![0u8; FRAMING_LEN + payload.len()];
    write_record(&mut bytes, &header, |out| out.copy_from_slice(&payload));
    check(bytes)
}

/// The length the header at the front of `bytes` announces (0 without a header).
fn record_len(bytes: &[u8]) -> usize {
    EventHeader::ref_from_prefix(bytes).map_or(0, |(h, _)| h.record_len())
}

/// Validates a rebuilt record with the core's decoders.
fn check(bytes: Vec<u8>) -> Item {
    match decode_record(&bytes) {
        Ok(view) => match view.event() {
            Ok(_) => Item::Record(bytes),
            Err(e) => Item::Problem(Problem::Invalid(e.to_string())),
        },
        Err(e) => Item::Problem(Problem::Invalid(e.to_string())),
    }
}

/// Rebuilds a core payload from a template's shape and a record's values.
fn rebuild(
    schema: &[u8],
    shape: &mut In<'_>,
    values: &mut In<'_>,
    strings: &HashMap<u32, String>,
    out: &mut Vec<u8>,
    record_ns: i64,
) -> Result<(), SchemaError> {
    let mut i = 0;
    while i < schema.len() {
        if out.len() > MAX_PAYLOAD {
            return Err(SchemaError::TooLarge);
        }
        let len = element_len(&schema[i..])?;
        let element = &schema[i..i + len];
        match element[0] {
            b'q' => out.extend_from_slice(&values.varint()?.to_le_bytes()),
            b'w' => {
                let v = u32::try_from(values.varint()?).map_err(|_| SchemaError::BadTag)?;
                out.extend_from_slice(&v.to_le_bytes());
            }
            b'i' => out.extend_from_slice(&unzigzag(values.varint()?).to_le_bytes()),
            b't' => {
                let v = record_ns.wrapping_add(unzigzag(values.varint()?));
                out.extend_from_slice(&v.to_le_bytes());
            }
            b'b' => out.push(values.byte()?),
            b'f' => out.extend_from_slice(values.take(4)?),
            b'd' => out.extend_from_slice(&get_f64(values)?.to_le_bytes()),
            b's' => {
                let id = shape.varint()?;
                let s: &[u8] = if id == 0 {
                    let n =
                        usize::try_from(values.varint()?).map_err(|_| SchemaError::Truncated)?;
                    let s = values.take(n)?;
                    std::str::from_utf8(s).map_err(|_| SchemaError::BadString)?;
                    s
                } else {
                    u32::try_from(id)
                        .ok()
                        .and_then(|id| strings.get(&id))
                        .ok_or(SchemaError::BadString)?
                        .as_bytes()
                };
                out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                out.extend_from_slice(s);
            }
            b'?' => {
                let tag = shape.byte()?;
                if tag > 1 {
                    return Err(SchemaError::BadTag);
                }
                out.push(tag);
                if tag == 1 {
                    rebuild(&element[1..], shape, values, strings, out, record_ns)?;
                }
            }
            b'[' | b'm' => {
                let inner: &[u8] = if element[0] == b'm' {
                    b"ss"
                } else {
                    &element[1..len - 1]
                };
                let count = shape.varint()?;
                // Every item consumes at least one byte of shape or values.
                if count > (shape.rest().len() + values.rest().len()) as u64 {
                    return Err(SchemaError::Truncated);
                }
                out.extend_from_slice(&(count as u32).to_le_bytes());
                for _ in 0..count {
                    rebuild(inner, shape, values, strings, out, record_ns)?;
                }
            }
            _ => return Err(SchemaError::BadSchema),
        }
        i += len;
    }
    Ok(())
}
