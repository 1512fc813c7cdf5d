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
