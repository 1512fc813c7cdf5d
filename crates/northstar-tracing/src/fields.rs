//! tracing's `Visit` in two passes over the same values: [`Measure`] learns each field's type
//! and the encoded length (on the stack), then [`Encode`] writes the values straight into the
//! reserved ring slot. Nothing is allocated; a `Debug` value (e.g. `message`) is formatted
//! twice (once to count its bytes, once into the ring) instead of through a buffer.

use core::fmt::{self, Write as _};

use northstar_core::codec::Writer;
use northstar_core::user::{FieldType, OPTIONAL};
use tracing_core::field::{Field, Visit};

/// Most fields of a tracing callsite (tracing's own limit).
pub(crate) const MAX_TRACING_FIELDS: usize = 32;
/// Most bridge fields before them.
pub(crate) const MAX_EXTRA: usize = 3;
const MAX: usize = MAX_TRACING_FIELDS + MAX_EXTRA;

/// The type of a field the event did not give a value for (a span's `field::Empty`): an
/// optional `u8`, absent (one zero byte).
pub(crate) const ABSENT: u8 = FieldType::U8 as u8 | OPTIONAL;
const U64: u8 = FieldType::U64 as u8;

/// Types and encoded length of one record's values, learnt by [`Measure`].
pub(crate) struct Shape {
    types: [u8; MAX],
    /// Lengths of `Debug`-formatted values, by tracing field index.
    text_len: [u32; MAX_TRACING_FIELDS],
    extra: usize,
    count: usize,
    /// Encoded bytes of the values (the bridge's fields included).
    pub(crate) len: usize,
    /// False when values came out of field order, or from an unknown field: not recordable.
    pub(crate) ok: bool,
    next: usize,
}

impl Shape {
    /// A shape with `extra` bridge `u64` fields, then `fields` tracing fields, all absent.
    #[inline(always)]
    pub(crate) fn new(extra: usize, fields: usize) -> Self {
        let mut types = [ABSENT; MAX];
        let ok = extra <= MAX_EXTRA && fields <= MAX_TRACING_FIELDS;
        let extra = extra.min(MAX_EXTRA);
        let fields = fields.min(MAX_TRACING_FIELDS);
        types[..extra].fill(U64);
        Self {
            types,
            text_len: [0; MAX_TRACING_FIELDS],
            extra,
            count: extra + fields,
            len: 8 * extra + fields,
            ok,
            next: 0,
        }
    }

    /// The type bytes, one per field of the schema.
    #[inline(always)]
    pub(crate) fn types(&self) -> &[u8] {
        &self.types[..self.count]
    }

    #[inline(always)]
    fn set(&mut self, field: &Field, ty: u8, len: usize) -> Option<usize> {
        let i = field.index();
        if i < self.next || self.extra + i >= self.count {
            self.ok = false;
            return None;
        }
        self.next = i + 1;
        self.types[self.extra + i] = ty;
        // An absent field counted one byte.
        self.len += len - 1;
        Some(i)
    }
}

/// First pass: types and lengths.
pub(crate) struct Measure<'s>(pub(crate) &'s mut Shape);

struct Count(usize);

impl fmt::Write for Count {
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 += s.len();
        Ok(())
    }
}

impl Visit for Measure<'_> {
    fn record_u64(&mut self, field: &Field, _: u64) {
        self.0.set(field, FieldType::U64 as u8, 8);
    }
    fn record_i64(&mut self, field: &Field, _: i64) {
        self.0.set(field, FieldType::I64 as u8, 8);
    }
    fn record_f64(&mut self, field: &Field, _: f64) {
        self.0.set(field, FieldType::F64 as u8, 8);
    }
    fn record_bool(&mut self, field: &Field, _: bool) {
        self.0.set(field, FieldType::Bool as u8, 1);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.set(field, FieldType::Str as u8, 4 + value.len());
    }
    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        self.0.set(field, FieldType::Bytes as u8, 4 + value.len());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let mut c = Count(0);
        let _ = write!(c, "{value:?}");
        // A value longer than a length prefix can say cannot be recorded (the payload limit
        // refuses it far earlier anyway).
        let n = u32::try_from(c.0).unwrap_or(u32::MAX);
        if let Some(i) = self.0.set(field, FieldType::Str as u8, 4 + n as usize) {
            self.0.text_len[i] = n;
        }
    }
}

/// Second pass: the values, written into the ring in schema order (absent fields as one zero
/// byte), exactly `Shape::len` bytes.
pub(crate) struct Encode<'s, 'w, 'b> {
    pub(crate) shape: &'s Shape,
    pub(crate) w: &'w mut Writer<'b>,
    pub(crate) next: usize,
}

/// Writes formatted text, at most `left` bytes, cut at a character boundary.
struct Budget<'w, 'b> {
    w: &'w mut Writer<'b>,
    left: usize,
}

impl fmt::Write for Budget<'_, '_> {
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if s.len() <= self.left {
            self.w.put(s.as_bytes());
            self.left -= s.len();
            return Ok(());
        }
        let mut cut = self.left;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        self.w.put(&s.as_bytes()[..cut]);
        self.left -= cut;
        // Stop formatting: the rest is padded.
        Err(fmt::Error)
    }
}

impl Encode<'_, '_, '_> {
    /// Writes absent markers up to tracing field `i` (exclusive); `false` if `i` is not the
    /// next field in order (the measuring pass saw the same order, so this does not happen).
    #[inline(always)]
    fn skip_to(&mut self, i: usize) -> bool {
        if i < self.next || self.shape.extra + i >= self.shape.count {
            return false;
        }
        while self.next < i {
            self.w.put(&[0]);
            self.next += 1;
        }
        self.next = i + 1;
        true
    }

    /// Absent markers for the fields after the last value.
    #[inline(always)]
    pub(crate) fn finish(mut self) {
        let end = self.shape.count - self.shape.extra;
        while self.next < end {
            self.w.put(&[0]);
            self.next += 1;
        }
    }
}

impl Visit for Encode<'_, '_, '_> {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.skip_to(field.index()) {
            self.w.put(&value.to_le_bytes());
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.skip_to(field.index()) {
            self.w.put(&value.to_le_bytes());
        }
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        if self.skip_to(field.index()) {
            self.w.put(&value.to_le_bytes());
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.skip_to(field.index()) {
            self.w.put(&[value as u8]);
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.skip_to(field.index()) {
            self.w.put_len(value.len());
            self.w.put(value.as_bytes());
        }
    }
    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        if self.skip_to(field.index()) {
            self.w.put_len(value.len());
            self.w.put(value);
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let i = field.index();
        if !self.skip_to(i) {
            return;
        }
        let n = self.shape.text_len[i] as usize;
        self.w.put_len(n);
        let mut b = Budget {
            w: &mut *self.w,
            left: n,
        };
        let _ = write!(b, "{value:?}");
        // A value that formats shorter the second time is padded with spaces, so the record
        // keeps the measured length and stays valid UTF-8.
        while b.left > 0 {
            let k = b.left.min(16);
            b.w.put(&b"                "[..k]);
            b.left -= k;
        }
    }
}

// ---------------------------------------------------------------- one pass, on the stack

/// Bytes of a record's values (the bridge's fields included) encoded on the stack in one
/// pass: the common case. A record whose values do not fit is measured and encoded in two
/// passes instead ([`Measure`], [`Encode`]).
pub(crate) const INLINE: usize = 256;

/// One pass over the values: types learnt and values encoded into a stack buffer at the same
/// time, then copied into the ring in one piece. The buffer starts zeroed, so a field without
/// a value is already its absent marker (one zero byte).
pub(crate) struct Inline {
    buf: [u8; INLINE],
    pos: usize,
    types: [u8; MAX],
    extra: usize,
    count: usize,
    next: usize,
    /// False when values came out of field order, or from an unknown field: not recordable.
    ok: bool,
    /// False when the values did not fit in the buffer (or a `Debug` value failed to format):
    /// take the two-pass path.
    fits: bool,
}

/// What [`Inline::finish`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Encoded: [`Inline::bytes`] and [`Inline::types`] are the record.
    Done,
    /// Recordable, but not in one pass on the stack.
    TooBig,
    /// Not recordable (too many fields, values out of order).
    Refused,
}

impl Inline {
    /// The bridge's `extras` (`u64`s) first, then room for `fields` tracing fields.
    #[inline(always)]
    pub(crate) fn new(extras: &[u64], fields: usize) -> Self {
        let ok = extras.len() <= MAX_EXTRA && fields <= MAX_TRACING_FIELDS;
        let extra = extras.len().min(MAX_EXTRA);
        let mut s = Self {
            buf: [0; INLINE],
            pos: 8 * extra,
            types: [ABSENT; MAX],
            extra,
            count: extra + fields.min(MAX_TRACING_FIELDS),
            next: 0,
            ok,
            fits: true,
        };
        for (k, e) in extras.iter().take(extra).enumerate() {
            s.buf[8 * k..8 * k + 8].copy_from_slice(&e.to_le_bytes());
            s.types[k] = U64;
        }
        s
    }

    /// Absent markers after the last value; whether the record is complete.
    #[inline(always)]
    pub(crate) fn finish(&mut self) -> Outcome {
        if !self.ok {
            return Outcome::Refused;
        }
        let tail = self.count - self.extra - self.next;
        if !self.fits || self.pos + tail > INLINE {
            return Outcome::TooBig;
        }
        self.pos += tail;
        self.next = self.count - self.extra;
        Outcome::Done
    }

    /// The encoded values (after [`Inline::finish`] said `Done`).
    #[inline(always)]
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf[..self.pos]
    }

    /// The type bytes, one per field of the schema.
    #[inline(always)]
    pub(crate) fn types(&self) -> &[u8] {
        &self.types[..self.count]
    }

    /// [`crate::site::key_of`] of [`Inline::types`], with one load when the list is short.
    #[inline(always)]
    pub(crate) fn key(&self) -> u64 {
        const { assert!(crate::site::PACKED < 8 && MAX >= 8) };
        if self.count <= crate::site::PACKED {
            let mut head = [0u8; 8];
            head.copy_from_slice(&self.types[..8]);
            let mask = (1u64 << (8 * self.count)) - 1;
            (u64::from_le_bytes(head) & mask) | (0x40 | self.count as u64) << 56
        } else {
            crate::site::key_of(self.types())
        }
    }

    /// Makes room for field `field` of type `ty` taking at least `len` bytes: skips the
    /// fields before it (already absent markers), or says why not.
    #[inline(always)]
    fn at(&mut self, field: &Field, ty: u8, len: usize) -> bool {
        let i = field.index();
        if i < self.next || self.extra + i >= self.count {
            self.ok = false;
            return false;
        }
        let start = self.pos + (i - self.next);
        if !self.fits || start + len > INLINE {
            self.fits = false;
            return false;
        }
        self.pos = start;
        self.next = i + 1;
        self.types[self.extra + i] = ty;
        true
    }

    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) {
        // `at` checked the room for fixed-size values; text checks its own.
        if let Some(dst) = self.buf.get_mut(self.pos..self.pos + bytes.len()) {
            dst.copy_from_slice(bytes);
            self.pos += bytes.len();
        } else {
            self.fits = false;
        }
    }

    #[inline(always)]
    fn text(&mut self, field: &Field, ty: u8, bytes: &[u8]) {
        if self.at(field, ty, 4 + bytes.len()) {
            self.put(&(bytes.len() as u32).to_le_bytes());
            self.put(bytes);
        }
    }
}

impl fmt::Write for Inline {
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.put(s.as_bytes());
        if self.fits {
            Ok(())
        } else {
            Err(fmt::Error)
        }
    }
}

impl Visit for Inline {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.at(field, FieldType::U64 as u8, 8) {
            self.put(&value.to_le_bytes());
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.at(field, FieldType::I64 as u8, 8) {
            self.put(&value.to_le_bytes());
        }
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        if self.at(field, FieldType::F64 as u8, 8) {
            self.put(&value.to_le_bytes());
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.at(field, FieldType::Bool as u8, 1) {
            self.put(&[value as u8]);
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.text(field, FieldType::Str as u8, value.as_bytes());
    }
    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        self.text(field, FieldType::Bytes as u8, value);
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if !self.at(field, FieldType::Str as u8, 4) {
            return;
        }
        let start = self.pos;
        self.pos += 4;
        if write!(self, "{value:?}").is_err() {
            // Too long for the stack buffer (or the value's `Debug` failed): two passes.
            self.fits = false;
            return;
        }
        let n = (self.pos - start - 4) as u32;
        self.buf[start..start + 4].copy_from_slice(&n.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::site::key_of;

    #[test]
    fn the_one_load_key_is_the_key_of_the_types() {
        for extras in 0..=MAX_EXTRA {
            for fields in 0..=12 {
                let mut inline = Inline::new(&[7; MAX_EXTRA][..extras], fields);
                // Some fields given a type, the others absent.
                for i in (0..fields).step_by(2) {
                    inline.types[extras + i] = FieldType::Str as u8;
                }
                assert_eq!(inline.key(), key_of(inline.types()), "{extras} + {fields}");
            }
        }
    }

    #[test]
    fn keys_differ_for_different_type_lists() {
        let lists: [&[u8]; 6] = [&[1, 2], &[2, 1], &[1, 2, 0], &[1; 7], &[1; 8], &[1; 9]];
        for (i, a) in lists.iter().enumerate() {
            for b in &lists[i + 1..] {
                assert_ne!(key_of(a), key_of(b), "{a:?} {b:?}");
            }
            assert_ne!(key_of(a), 0);
            assert_ne!(key_of(a), u64::MAX);
        }
    }
}
