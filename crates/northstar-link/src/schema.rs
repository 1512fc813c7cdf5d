//! Field layouts of the event payloads, as short strings both sides walk.
//!
//! | code | core encoding | shape (template) | values (record) |
//! |---|---|---|---|
//! | `q` | `u64` LE | | varint |
//! | `w` | `u32` LE | | varint |
//! | `i` | `i64` LE | | zigzag varint |
//! | `t` | `i64` LE, Unix ns | | zigzag varint of the field minus the record's own time in ns |
//! | `b` | one byte (bool, enum) | | the byte |
//! | `f` | `f32` LE | | 4 bytes LE |
//! | `d` | `f64` LE | | see [`put_f64`] |
//! | `s` | `u32` length, UTF-8 | string id (varint; 0 = inline) | inline: length varint, bytes |
//! | `?X` | tag byte, then `X` if 1 | tag byte | `X`'s values if present |
//! | `[..]` | `u32` count, items | count (varint) | the items' values |
//! | `m` | `[ss]` (a string map) | as `[ss]` | |
//!
//! A template carries its schema, so the host walks what the device sent, not a table of its
//! own: user-defined event types join by sending their schema the same way.

use northstar_core::{EventType, FieldInfo, Kind};

use crate::wire::{zigzag, In, Out, Overflow, ReadError};

/// Longest schema a template may carry.
pub const MAX_SCHEMA_LEN: usize = 64;
/// Deepest nesting of `?` and `[` a schema may use.
pub const MAX_DEPTH: usize = 8;

/// The schema of a built-in event type, derived at compile time from the core's description
/// of its fields ([`EventType::fields`]), so a type or field added to the core's event table
/// needs no edit here.
pub const fn of(event_type: EventType) -> &'static [u8] {
    let built = &BUILT_IN[event_type.index()];
    built.bytes.split_at(built.len).0
}

/// A schema built in a constant: its bytes and length.
struct Built {
    bytes: [u8; MAX_SCHEMA_LEN],
    len: usize,
}

/// Every built-in type's schema, in [`EventType::ALL`] order.
static BUILT_IN: [Built; EventType::COUNT] = {
    let mut out = [const {
        Built {
            bytes: [0; MAX_SCHEMA_LEN],
            len: 0,
        }
    }; EventType::COUNT];
    let mut i = 0;
    while i < EventType::COUNT {
        let mut b = Built {
            bytes: [0; MAX_SCHEMA_LEN],
            len: 0,
        };
        put_fields(&mut b, EventType::ALL[i].fields());
        out[i] = b;
        i += 1;
    }
    out
};

const fn push(b: &mut Built, code: u8) {
    // A built-in schema longer than a template may carry is a compile error, not a runtime one.
    assert!(
        b.len < MAX_SCHEMA_LEN,
        "a built-in schema exceeds MAX_SCHEMA_LEN"
    );
    b.bytes[b.len] = code;
    b.len += 1;
}

const fn put_fields(b: &mut Built, fields: &[FieldInfo]) {
    let mut i = 0;
    while i < fields.len() {
        put_kind(b, fields[i].name, &fields[i].kind);
        i += 1;
    }
}

/// The code of one field. An `i64` is a point in time (`t`, sent relative to the record's own
/// time) unless its name ends in `_ns`, the core's suffix for a duration (`i`).
const fn put_kind(b: &mut Built, name: &str, kind: &Kind) {
    match kind {
        Kind::U32 => push(b, b'w'),
        Kind::U64 => push(b, b'q'),
        Kind::I64 => push(b, if ends_with(name, b"_ns") { b'i' } else { b't' }),
        Kind::F32 => push(b, b'f'),
        Kind::F64 => push(b, b'd'),
        Kind::Str => push(b, b's'),
        Kind::Enum(_) => push(b, b'b'),
        Kind::Map => push(b, b'm'),
        Kind::Option(inner) => {
            push(b, b'?');
            put_kind(b, name, inner);
        }
        Kind::List(inner) => {
            push(b, b'[');
            put_kind(b, name, inner);
            push(b, b']');
        }
        Kind::Struct(fields) => put_fields(b, fields),
    }
}

const fn ends_with(name: &str, suffix: &[u8]) -> bool {
    let n = name.as_bytes();
    if n.len() < suffix.len() {
        return false;
    }
    let start = n.len() - suffix.len();
    let mut i = 0;
    while i < suffix.len() {
        if n[start + i] != suffix[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Why a schema or the bytes walked with it are not well-formed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchemaError {
    /// An unknown code, an unbalanced bracket, an empty list item, too long or too deep.
    BadSchema,
    /// The payload (device) or shape/values (host) ended early or held a bad varint.
    Truncated,
    /// An option tag other than 0 or 1, or a bad float marker.
    BadTag,
    /// A string is not UTF-8 or a string id is unknown.
    BadString,
    /// An output buffer is full.
    Overflow,
    /// A payload would exceed the allowed size.
    TooLarge,
}

impl From<ReadError> for SchemaError {
    fn from(_: ReadError) -> Self {
        Self::Truncated
    }
}

impl From<Overflow> for SchemaError {
    fn from(_: Overflow) -> Self {
        Self::Overflow
    }
}

impl core::fmt::Display for SchemaError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::BadSchema => "malformed schema",
            Self::Truncated => "fields end early",
            Self::BadTag => "undefined tag or float marker",
            Self::BadString => "unknown string id or invalid UTF-8",
            Self::Overflow => "output buffer full",
            Self::TooLarge => "payload too large",
        })
    }
}

/// Checks a schema: known codes, balanced non-empty lists, bounded length and depth.
pub fn validate(schema: &[u8]) -> Result<(), SchemaError> {
    if schema.len() > MAX_SCHEMA_LEN {
        return Err(SchemaError::BadSchema);
    }
    let mut depth = 0usize;
    let mut i = 0;
    while i < schema.len() {
        match schema[i] {
            b'q' | b'w' | b'i' | b't' | b'b' | b'f' | b'd' | b's' | b'm' => {}
            b'?' => {
                // An option applies to the next element; it must exist.
                if i + 1 >= schema.len() || schema[i + 1] == b']' {
                    return Err(SchemaError::BadSchema);
                }
            }
            b'[' => {
                depth += 1;
                if depth > MAX_DEPTH || schema.get(i + 1) == Some(&b']') {
                    return Err(SchemaError::BadSchema);
                }
            }
            b']' => depth = depth.checked_sub(1).ok_or(SchemaError::BadSchema)?,
            _ => return Err(SchemaError::BadSchema),
        }
        i += 1;
    }
    if depth != 0 {
        return Err(SchemaError::BadSchema);
    }
    // `?` chains deeper than MAX_DEPTH.
    let mut run = 0;
    for &c in schema {
        run = if c == b'?' { run + 1 } else { 0 };
        if run > MAX_DEPTH {
            return Err(SchemaError::BadSchema);
        }
    }
    Ok(())
}

/// The length of the element starting at `schema[0]` (a code, `?X`, or `[...]`).
pub fn element_len(schema: &[u8]) -> Result<usize, SchemaError> {
    match schema.first() {
        None => Err(SchemaError::BadSchema),
        Some(b'?') => Ok(1 + element_len(&schema[1..])?),
        Some(b'[') => {
            let mut depth = 0usize;
            for (i, &c) in schema.iter().enumerate() {
                match c {
                    b'[' => depth += 1,
                    b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(i + 1);
                        }
                    }
                    _ => {}
                }
            }
            Err(SchemaError::BadSchema)
        }
        Some(_) => Ok(1),
    }
}

/// Writes an `f64` in the link's compact form: an integer of magnitude below 2^53 as
/// `varint(zigzag(n) << 1)`; a value an `f32` holds exactly as `0x01` then 4 bytes; any other
/// as `0x03` then 8 bytes (all little-endian). Bit-exact, `-0.0` and NaN payloads included.
pub fn put_f64(out: &mut Out<'_>, v: f64) -> Result<(), Overflow> {
    let n = v as i64;
    if n.unsigned_abs() < (1 << 53) && (n as f64).to_bits() == v.to_bits() {
        return out.varint(zigzag(n) << 1);
    }
    let narrow = v as f32;
    if f64::from(narrow).to_bits() == v.to_bits() {
        out.byte(0x01)?;
        return out.put(&narrow.to_le_bytes());
    }
    out.byte(0x03)?;
    out.put(&v.to_le_bytes())
}

/// Reads what [`put_f64`] wrote.
pub fn get_f64(input: &mut In<'_>) -> Result<f64, SchemaError> {
    let marker = input.varint()?;
    if marker & 1 == 0 {
        return Ok(crate::wire::unzigzag(marker >> 1) as f64);
    }
    match marker {
        1 => Ok(f64::from(f32::from_le_bytes(input.array()?))),
        3 => Ok(f64::from_le_bytes(input.array()?)),
        _ => Err(SchemaError::BadTag),
    }
}

/// Nanoseconds of `ticks` at `hz` ticks per second, computed with 64-bit arithmetic only (no
/// 128-bit division on a 32-bit device); equal to `ticks * 1e9 / hz` rounded down for any
/// `hz` below 18 GHz. 0 when `hz` is 0.
pub fn ticks_to_nanos(ticks: u64, hz: u64) -> u64 {
    if hz == 0 {
        return 0;
    }
    let whole = ticks / hz;
    let part = ticks % hz;
    whole
        .wrapping_mul(1_000_000_000)
        .wrapping_add(part * 1_000_000_000 / hz)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schemas are derived from the core's field table, but devices already in the field
    /// send them in templates: the derivation must keep producing exactly these bytes (a change
    /// here is a change of the wire format, docs/FORMAT.md).
    #[test]
    fn derived_schemas_are_the_wire_format_devices_speak() {
        let expected: [(EventType, &[u8]); EventType::COUNT] = [
            (EventType::AgentSessionStarted, b"qssm"),
            (EventType::AgentSessionEnded, b"q"),
            (EventType::AgentOperation, b"qsqsss?im"),
            (EventType::ReviewNote, b"sss[s]t"),
            (EventType::ReviewSummary, b"sssfs?st"),
            (EventType::PerfSample, b"smdstt?s[q]"),
            (EventType::PerfRegression, b"sddfbt?s[s]"),
            (EventType::DebugSession, b"sq[sw?sw]?s[s][s]"),
            (EventType::DebugSnapshot, b"qqsq[ssw]m"),
            (EventType::VcsCommit, b"ss[s][s]st"),
            (EventType::VcsBranch, b"sbs?sww"),
        ];
        for (t, want) in expected {
            assert_eq!(of(t), want, "{t:?}: {:?}", core::str::from_utf8(of(t)));
        }
    }

    #[test]
    fn every_builtin_schema_is_valid() {
        for t in EventType::ALL {
            assert_eq!(validate(of(t)), Ok(()), "{t:?}");
        }
        for bad in [
            &b"x"[..],
            b"[",
            b"]",
            b"[]",
            b"?",
            b"q?",
            b"[?]",
            b"??????????q",
        ] {
            assert!(validate(bad).is_err(), "{:?}", core::str::from_utf8(bad));
        }
    }

    #[test]
    fn floats_round_trip_bit_exactly_and_integers_are_short() {
        let mut buf = [0u8; 16];
        for (v, len) in [
            (0.0, 1),
            (3300.0, 2),
            (-1.0, 1),
            (0.5, 5),
            (-0.0, 5),
            (0.1, 9),
            (f64::NAN, 5),
            (f64::INFINITY, 5),
            (1e300, 9),
            (9_007_199_254_740_993.0, 5),
        ] {
            let mut out = Out::new(&mut buf);
            put_f64(&mut out, v).unwrap();
            assert_eq!(out.len(), len, "{v}");
            let n = out.len();
            let back = get_f64(&mut In::new(&buf[..n])).unwrap();
            assert_eq!(back.to_bits(), v.to_bits(), "{v}");
        }
    }

    #[test]
    fn tick_conversion_matches_128_bit_arithmetic() {
        for hz in [1u64, 10_000_000, 16_000_000, 25_000_000, 1_000_000_007] {
            for ticks in [0u64, 1, hz - 1, hz, 123_456_789_012, u64::MAX / 3] {
                let exact = (u128::from(ticks) * 1_000_000_000 / u128::from(hz)) as u64;
                assert_eq!(ticks_to_nanos(ticks, hz), exact, "{ticks} at {hz}");
            }
        }
    }
}
