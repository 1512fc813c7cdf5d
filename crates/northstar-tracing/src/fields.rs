//! tracing's `Visit` in two passes over the same values: [`Measure`] learns each field's type
//! and the encoded length (on the stack), then [`Encode`] writes the values straight into the
//! reserved ring slot. Nothing is allocated; a `Debug` value (e.g. `message`) is formatted
//! twice (once to count its bytes, once into the ring) instead of through a buffer.

use core::fmt::{self, Write as _};
use core::mem::MaybeUninit;

use northstar_core::codec::Writer;
use northstar_core::user::FieldType;
use tracing_core::field::{Field, Visit};

use crate::site::{Key, ABSENT, CODE_BOOL, CODE_BYTES, CODE_F64, CODE_I64, CODE_STR, CODE_U64};

/// Most fields of a tracing callsite (tracing's own limit).
pub(crate) const MAX_TRACING_FIELDS: usize = 32;
/// Most bridge fields before them.
pub(crate) const MAX_EXTRA: usize = 3;
const MAX: usize = MAX_TRACING_FIELDS + MAX_EXTRA;

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

/// The stack buffer of [`Inline`], given by the caller (so the small state moves, not this).
pub(crate) type InlineBuf = [MaybeUninit<u8>; INLINE];

/// An uninitialised [`InlineBuf`].
#[inline(always)]
pub(crate) fn inline_buf() -> InlineBuf {
    [MaybeUninit::uninit(); INLINE]
}

/// One pass over the values: types learnt (as the [`Key`] of the record's type list) and
/// values encoded into a stack buffer at the same time, then copied into the ring in one
/// piece. Nothing is zeroed up front: a field without a value gets its absent marker (one zero
/// byte) when a later field or [`Inline::finish`] skips it.
pub(crate) struct Inline<'b> {
    /// Initialised from 0 to `pos`.
    buf: &'b mut InlineBuf,
    pos: usize,
    key: Key,
    /// The callsite's tracing fields.
    fields: usize,
    /// `fields` while all is well, 0 once not (so the fast path of [`Inline::at`] fails).
    limit: usize,
    /// The next tracing field expected (values come in field order).
    next: usize,
    /// [`Outcome::Done`] until something goes wrong.
    outcome: Outcome,
}

/// What [`Inline::finish`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Encoded: [`Inline::bytes`] and [`Inline::key`] are the record.
    Done,
    /// Recordable, but not in one pass on the stack.
    TooBig,
    /// Not recordable (too many fields, values out of order).
    Refused,
}

impl<'b> Inline<'b> {
    /// The bridge's `extras` (`u64`s, at most [`MAX_EXTRA`]) first, then room for `fields`
    /// tracing fields.
    #[inline(always)]
    pub(crate) fn new(buf: &'b mut InlineBuf, extras: &[u64], fields: usize) -> Self {
        let mut s = Self {
            buf,
            pos: 0,
            key: Key::default(),
            fields,
            limit: fields,
            next: 0,
            outcome: Outcome::Done,
        };
        if extras.len() <= MAX_EXTRA && fields <= MAX_TRACING_FIELDS {
            for e in extras {
                s.write(&e.to_le_bytes());
            }
        } else {
            s.fail(Outcome::Refused);
        }
        s
    }

    #[cold]
    fn fail(&mut self, why: Outcome) {
        if self.outcome != Outcome::Refused {
            self.outcome = why;
        }
        self.limit = 0;
    }

    /// Absent markers after the last value; whether the record is complete.
    #[inline(always)]
    pub(crate) fn finish(&mut self) -> Outcome {
        if self.next < self.fields && self.outcome == Outcome::Done {
            let tail = self.fields - self.next;
            if self.pos + tail > INLINE {
                self.fail(Outcome::TooBig);
            } else {
                self.zeros(tail);
                self.next = self.fields;
            }
        }
        self.outcome
    }

    /// The encoded values (after [`Inline::finish`] said `Done`).
    #[inline(always)]
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: `buf[..pos]` is initialised: `pos` only advances past bytes written by
        // `write` or `zeros`, and `pos <= INLINE` (every advance is checked against it).
        unsafe { std::slice::from_raw_parts(self.buf.as_ptr().cast::<u8>(), self.pos) }
    }

    /// The record's list of tracing field types.
    #[inline(always)]
    pub(crate) fn key(&self) -> Key {
        self.key
    }

    /// Appends `bytes` (the caller checked `pos + bytes.len() <= INLINE`).
    #[inline(always)]
    fn write(&mut self, bytes: &[u8]) {
        let end = self.pos + bytes.len();
        assert!(end <= INLINE);
        // SAFETY: `pos..end` is inside `buf` (checked above); `u8` and `MaybeUninit<u8>`
        // have the same layout, and the source cannot overlap our own buffer (`&mut`).
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.buf.as_mut_ptr().add(self.pos).cast::<u8>(),
                bytes.len(),
            );
        }
        self.pos = end;
    }

    /// `n` absent markers (the caller checked the room).
    #[cold]
    fn zeros(&mut self, n: usize) {
        for b in &mut self.buf[self.pos..self.pos + n] {
            b.write(0);
        }
        self.pos += n;
    }

    /// Makes room for tracing field `field` with code `code` and `len` bytes: `true` when
    /// the value is to be written now at `pos`.
    #[inline(always)]
    fn at(&mut self, field: &Field, code: u64, len: usize) -> bool {
        let i = field.index();
        // The common case: the next field in order, room for it, nothing wrong so far.
        if i == self.next && i < self.limit && self.pos + len <= INLINE {
            self.next = i + 1;
            self.key.set(i, code);
            return true;
        }
        self.at_slow(i, code, len)
    }

    /// [`Inline::at`] when fields were skipped, or something is wrong.
    #[cold]
    #[inline(never)]
    fn at_slow(&mut self, i: usize, code: u64, len: usize) -> bool {
        if self.outcome != Outcome::Done {
            return false;
        }
        if i < self.next || i >= self.fields {
            self.fail(Outcome::Refused);
            return false;
        }
        let gap = i - self.next;
        if self.pos + gap + len > INLINE {
            self.fail(Outcome::TooBig);
            return false;
        }
        self.zeros(gap);
        self.next = i + 1;
        self.key.set(i, code);
        true
    }

    #[inline(always)]
    fn text(&mut self, field: &Field, code: u64, bytes: &[u8]) {
        if self.at(field, code, 4 + bytes.len()) {
            self.write(&(bytes.len() as u32).to_le_bytes());
            self.write(bytes);
        }
    }
}

impl fmt::Write for Inline<'_> {
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.pos + s.len() > INLINE {
            return Err(fmt::Error);
        }
        self.write(s.as_bytes());
        Ok(())
    }
}

impl Visit for Inline<'_> {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.at(field, CODE_U64, 8) {
            self.write(&value.to_le_bytes());
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.at(field, CODE_I64, 8) {
            self.write(&value.to_le_bytes());
        }
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        if self.at(field, CODE_F64, 8) {
            self.write(&value.to_le_bytes());
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.at(field, CODE_BOOL, 1) {
            self.write(&[value as u8]);
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.text(field, CODE_STR, value.as_bytes());
    }
    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        self.text(field, CODE_BYTES, value);
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if !self.at(field, CODE_STR, 4) {
            return;
        }
        let start = self.pos;
        self.write(&[0; 4]);
        if write!(self, "{value:?}").is_err() {
            // Too long for the stack buffer (or the value's `Debug` failed): two passes.
            self.fail(Outcome::TooBig);
            return;
        }
        let n = (self.pos - start - 4) as u32;
        for (k, b) in n.to_le_bytes().into_iter().enumerate() {
            self.buf[start + k].write(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_core::field::Value;

    static CS: tracing_core::callsite::DefaultCallsite =
        tracing_core::callsite::DefaultCallsite::new(&META);
    static META: tracing_core::Metadata<'static> = tracing_core::metadata!(
        name: "fields.test",
        target: "fields",
        level: tracing_core::Level::INFO,
        fields: &["a", "b", "c", "d"],
        callsite: &CS,
        kind: tracing_core::metadata::Kind::EVENT,
    );

    /// One pass and two passes give the same bytes and the same key, fields skipped or not.
    #[test]
    fn one_pass_matches_two_passes() {
        let fs = META.fields();
        let f: Vec<_> = fs.iter().collect();
        let dbg = tracing_core::field::debug(vec![1, 2]);
        let cases: Vec<Vec<(usize, &dyn Value)>> = vec![
            vec![(0, &7u64), (1, &"s1"), (2, &true), (3, &-3i64)],
            vec![(1, &"only b")],
            vec![(0, &1.5f64), (3, &dbg)],
            vec![],
        ];
        for values in cases {
            let visit = |v: &mut dyn Visit| {
                for (i, val) in &values {
                    val.record(&f[*i], v);
                }
            };
            let mut buf = inline_buf();
            let mut inline = Inline::new(&mut buf, &[9, 10], 4);
            visit(&mut inline);
            assert_eq!(inline.finish(), Outcome::Done);
            let mut shape = Shape::new(2, 4);
            visit(&mut Measure(&mut shape));
            assert!(shape.ok);
            assert_eq!(inline.bytes().len(), shape.len);
            assert_eq!(Some(inline.key()), Key::of_types(&shape.types()[2..]));
            let mut out = vec![0u8; shape.len];
            let mut w = Writer::new(&mut out);
            for e in [9u64, 10] {
                w.put(&e.to_le_bytes());
            }
            let mut enc = Encode {
                shape: &shape,
                w: &mut w,
                next: 0,
            };
            visit(&mut enc);
            enc.finish();
            assert_eq!(inline.bytes(), &out[..]);
        }
    }

    #[test]
    fn keys_are_exact_for_32_fields() {
        let mut k = Key::default();
        for i in 0..32 {
            k.set(i, (i % 7) as u64);
        }
        for i in 0..32 {
            assert_eq!(k.get(i), (i % 7) as u64, "{i}");
        }
        let mut other = k;
        other.hi ^= 1 << 30;
        assert_ne!(k, other);
    }

    #[test]
    fn out_of_order_values_are_refused() {
        let f: Vec<_> = META.fields().iter().collect();
        let mut buf = inline_buf();
        let mut inline = Inline::new(&mut buf, &[], 4);
        2u64.record(&f[2], &mut inline);
        1u64.record(&f[1], &mut inline);
        assert_eq!(inline.finish(), Outcome::Refused);
    }
}
