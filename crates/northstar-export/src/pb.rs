//! A protobuf writer in the style of Perfetto's protozero: fields are appended to one byte
//! buffer; a nested message reserves a 4-byte length (a redundant but valid varint, as
//! protozero writes it) and patches it when the message ends, so nothing is built twice and no
//! per-field allocation happens.

/// Wire type of varint fields.
const VARINT: u32 = 0;
/// Wire type of 64-bit fields.
const I64: u32 = 1;
/// Wire type of length-delimited fields.
const LEN: u32 = 2;
/// Largest nested message length a 4-byte varint holds.
const MAX_NESTED: usize = (1 << 28) - 1;

/// An append-only protobuf encoder (see the module docs).
#[derive(Debug, Default)]
pub struct PbWriter {
    buf: Vec<u8>,
    open: Vec<usize>,
}

impl PbWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// The bytes written so far (valid protobuf when no nested message is open).
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Forgets everything written.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.open.clear();
    }

    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    fn tag(&mut self, field: u32, wire: u32) {
        self.varint(u64::from(field << 3 | wire));
    }

    /// A `uint64`, `uint32`, `int32` (non-negative), `bool` or enum field.
    pub fn uint(&mut self, field: u32, v: u64) {
        self.tag(field, VARINT);
        self.varint(v);
    }

    /// An `int64` field (two's complement varint).
    pub fn int(&mut self, field: u32, v: i64) {
        self.uint(field, v as u64);
    }

    /// A `double` field.
    pub fn double(&mut self, field: u32, v: f64) {
        self.tag(field, I64);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A `fixed64` field.
    pub fn fixed64(&mut self, field: u32, v: u64) {
        self.tag(field, I64);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A `bytes` or `string` field.
    pub fn bytes_field(&mut self, field: u32, v: &[u8]) {
        self.tag(field, LEN);
        self.varint(v.len() as u64);
        self.buf.extend_from_slice(v);
    }

    /// A `string` field.
    pub fn string(&mut self, field: u32, v: &str) {
        self.bytes_field(field, v.as_bytes());
    }

    /// Opens a nested message in `field`; close it with [`end`](Self::end).
    pub fn begin(&mut self, field: u32) {
        self.tag(field, LEN);
        self.open.push(self.buf.len());
        self.buf.extend_from_slice(&[0x80, 0x80, 0x80, 0x00]);
    }

    /// Closes the innermost nested message.
    ///
    /// # Panics
    /// Never for messages below 256 MiB; a larger one is a bug in the caller (batches are
    /// bounded far below that) and panics rather than writing a corrupt length.
    pub fn end(&mut self) {
        let Some(at) = self.open.pop() else {
            return;
        };
        let len = self.buf.len() - at - 4;
        assert!(len <= MAX_NESTED, "nested protobuf message over 256 MiB");
        self.buf[at] = (len as u8 & 0x7f) | 0x80;
        self.buf[at + 1] = ((len >> 7) as u8 & 0x7f) | 0x80;
        self.buf[at + 2] = ((len >> 14) as u8 & 0x7f) | 0x80;
        self.buf[at + 3] = (len >> 21) as u8 & 0x7f;
    }

    /// Writes `f`'s fields as a nested message in `field`.
    pub fn nested(&mut self, field: u32, f: impl FnOnce(&mut Self)) {
        self.begin(field);
        f(self);
        self.end();
    }
}

impl PbWriter {
    /// Appends already-encoded fields.
    pub fn append_raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_length_is_patched_as_a_4_byte_varint() {
        let mut w = PbWriter::new();
        w.nested(1, |w| w.string(2, "abc"));
        // tag(1, LEN) = 0x0a, length 5 as 0x85 0x80 0x80 0x00, then tag(2, LEN) "abc".
        assert_eq!(
            w.bytes(),
            &[0x0a, 0x85, 0x80, 0x80, 0x00, 0x12, 3, b'a', b'b', b'c']
        );
    }

    #[test]
    fn varints_and_negative_ints() {
        let mut w = PbWriter::new();
        w.uint(1, 300);
        assert_eq!(w.bytes(), &[0x08, 0xac, 0x02]);
        w.clear();
        w.int(1, -1);
        assert_eq!(w.len(), 11);
    }
}
