//! Payload wire encoding: little-endian primitives, length-prefixed strings and lists.
//!
//! | type | bytes |
//! |---|---|
//! | `u8`/`u32`/`u64`/`i64`/`f32`/`f64` | fixed width, little-endian (floats as IEEE-754 bits) |
//! | `bool`, enum | one byte; undefined values are rejected |
//! | `string` | `u32` byte length, then UTF-8 bytes |
//! | `T?` (optional) | one tag byte, 0 = absent, 1 = present followed by `T` |
//! | `T[]`, `map<K,V>` | `u32` count, then the items (a map's items are key, value pairs) |
//!
//! Encoding writes into a caller's buffer and never allocates or panics: a too-small buffer is
//! an [`EncodeError`]. Decoding validates the whole payload once (bounds, UTF-8, tags, no
//! trailing bytes) and returns borrowed views; lists and maps stay encoded ([`List::Encoded`])
//! and are walked lazily, so decoding allocates nothing either.

use core::fmt;
use core::marker::PhantomData;

/// Why a payload could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The output buffer is smaller than the encoded payload.
    BufferTooSmall {
        /// Bytes the payload needs.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
    /// A string or list is longer than a `u32` length prefix can state.
    TooLong,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferTooSmall { needed, available } => {
                write!(f, "payload needs {needed} bytes, buffer has {available}")
            }
            Self::TooLong => f.write_str("a string or list exceeds the u32 length prefix"),
        }
    }
}

impl core::error::Error for EncodeError {}

/// Why bytes are not a well-formed payload. Offsets are relative to the payload's start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The payload ends before a field does.
    Truncated {
        /// Offset of the field that did not fit.
        at: usize,
        /// Bytes that field needs.
        needed: usize,
    },
    /// A string field is not valid UTF-8.
    InvalidUtf8 {
        /// Offset of the string's bytes.
        at: usize,
    },
    /// An optional's tag, a bool or an enum holds an undefined value.
    BadTag {
        /// Offset of the byte.
        at: usize,
        /// The value found.
        value: u8,
    },
    /// Bytes remain after the last field.
    TrailingBytes {
        /// Offset of the first extra byte.
        at: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { at, needed } => {
                write!(
                    f,
                    "payload truncated at offset {at}: field needs {needed} bytes"
                )
            }
            Self::InvalidUtf8 { at } => write!(f, "invalid UTF-8 in string at offset {at}"),
            Self::BadTag { at, value } => write!(f, "undefined tag value {value} at offset {at}"),
            Self::TrailingBytes { at } => write!(f, "trailing bytes after payload at offset {at}"),
        }
    }
}

impl core::error::Error for DecodeError {}

/// Writes fields into a fixed buffer. It never panics: writing past the end sets a flag that
/// [`Writer::finish`] reports. The unwritten rest of the buffer is kept as a shrinking slice,
/// so each field costs one length comparison.
pub struct Writer<'b> {
    rest: &'b mut [u8],
    capacity: usize,
    overflow: bool,
}

impl fmt::Debug for Writer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writer")
            .field("written", &(self.capacity - self.rest.len()))
            .field("capacity", &self.capacity)
            .field("overflow", &self.overflow)
            .finish()
    }
}

impl<'b> Writer<'b> {
    /// A writer at the start of `buf`.
    #[inline(always)]
    pub fn new(buf: &'b mut [u8]) -> Self {
        Self {
            capacity: buf.len(),
            rest: buf,
            overflow: false,
        }
    }

    /// Appends raw bytes.
    #[inline(always)]
    pub fn put(&mut self, bytes: &[u8]) {
        match core::mem::take(&mut self.rest).split_at_mut_checked(bytes.len()) {
            Some((dst, rest)) => {
                dst.copy_from_slice(bytes);
                self.rest = rest;
            }
            None => self.overflow = true,
        }
    }

    /// Appends a `u32` length prefix, refusing lengths that do not fit.
    #[inline(always)]
    pub fn put_len(&mut self, len: usize) {
        match u32::try_from(len) {
            Ok(n) => self.put(&n.to_le_bytes()),
            Err(_) => self.overflow = true,
        }
    }

    /// Bytes written so far, or the error if anything did not fit.
    #[inline]
    pub fn finish(self, needed: usize) -> Result<usize, EncodeError> {
        if self.overflow {
            Err(EncodeError::BufferTooSmall {
                needed,
                available: self.capacity,
            })
        } else {
            Ok(self.capacity - self.rest.len())
        }
    }
}

/// Reads fields from borrowed bytes with bounds checks on every step.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// Current offset.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Takes the next `n` bytes.
    #[inline]
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let out = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(out)
            }
            None => Err(DecodeError::Truncated {
                at: self.pos,
                needed: n,
            }),
        }
    }

    /// Takes a fixed-size array.
    #[inline]
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// Takes a `u32` length prefix.
    #[inline]
    pub fn len_prefix(&mut self) -> Result<usize, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?) as usize)
    }

    /// Fails if any bytes remain.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.pos == self.bytes.len() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes { at: self.pos })
        }
    }
}

/// A value that can be a payload field.
pub trait Field<'a>: Sized {
    /// Exact number of bytes [`Field::encode`] writes.
    fn encoded_len(&self) -> usize;
    /// Writes the value.
    fn encode(&self, w: &mut Writer<'_>);
    /// Reads and validates a value.
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError>;
    /// Moves past a value without building it, for walks that need only some fields (the
    /// index's session ids: [`EventType::for_each_session_in`](crate::events::EventType::for_each_session_in)).
    /// It checks the value's shape (lengths, tags) but may leave out checks `decode` makes
    /// (a string's UTF-8): every value `decode` accepts, `skip` accepts, moving past the same
    /// bytes.
    #[inline]
    fn skip(r: &mut Reader<'a>) -> Result<(), DecodeError> {
        Self::decode(r).map(|_| ())
    }
}

macro_rules! number_field {
    ($($t:ty),*) => {$(
        impl<'a> Field<'a> for $t {
            #[inline(always)]
            fn encoded_len(&self) -> usize { core::mem::size_of::<$t>() }
            #[inline(always)]
            fn encode(&self, w: &mut Writer<'_>) { w.put(&self.to_le_bytes()) }
            #[inline]
            fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
                Ok(<$t>::from_le_bytes(r.array()?))
            }
        }
    )*};
}
number_field!(u8, u16, u32, u64, i64, f32, f64);

impl<'a> Field<'a> for &'a str {
    #[inline(always)]
    fn encoded_len(&self) -> usize {
        4 + self.len()
    }
    #[inline(always)]
    fn encode(&self, w: &mut Writer<'_>) {
        w.put_len(self.len());
        w.put(self.as_bytes());
    }
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let len = r.len_prefix()?;
        let at = r.position();
        let bytes = r.take(len)?;
        core::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8 { at })
    }
    #[inline]
    fn skip(r: &mut Reader<'a>) -> Result<(), DecodeError> {
        let len = r.len_prefix()?;
        r.take(len).map(|_| ())
    }
}

impl<'a, T: Field<'a>> Field<'a> for Option<T> {
    #[inline(always)]
    fn encoded_len(&self) -> usize {
        1 + self.as_ref().map_or(0, T::encoded_len)
    }
    #[inline(always)]
    fn encode(&self, w: &mut Writer<'_>) {
        match self {
            None => w.put(&[0]),
            Some(v) => {
                w.put(&[1]);
                v.encode(w);
            }
        }
    }
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let at = r.position();
        match r.array::<1>()?[0] {
            0 => Ok(None),
            1 => Ok(Some(T::decode(r)?)),
            value => Err(DecodeError::BadTag { at, value }),
        }
    }
    fn skip(r: &mut Reader<'a>) -> Result<(), DecodeError> {
        let at = r.position();
        match r.array::<1>()?[0] {
            0 => Ok(()),
            1 => T::skip(r),
            value => Err(DecodeError::BadTag { at, value }),
        }
    }
}

impl<'a, A: Field<'a>, B: Field<'a>> Field<'a> for (A, B) {
    #[inline(always)]
    fn encoded_len(&self) -> usize {
        self.0.encoded_len() + self.1.encoded_len()
    }
    #[inline(always)]
    fn encode(&self, w: &mut Writer<'_>) {
        self.0.encode(w);
        self.1.encode(w);
    }
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok((A::decode(r)?, B::decode(r)?))
    }
    fn skip(r: &mut Reader<'a>) -> Result<(), DecodeError> {
        A::skip(r)?;
        B::skip(r)
    }
}

/// A list field (`T[]`): either the caller's slice (when encoding) or the still-encoded items
/// of a decoded payload, walked lazily. Both forms iterate the same way and compare equal when
/// their items do.
#[derive(Clone, Copy)]
pub enum List<'a, T> {
    /// Items held by the caller.
    Slice(&'a [T]),
    /// Items still in their encoded form, already validated.
    Encoded {
        /// Number of items.
        count: usize,
        /// The encoded items (after the count prefix).
        bytes: &'a [u8],
        /// The item type.
        _item: PhantomData<T>,
    },
}

/// A `map<string, string>` field: a list of key/value pairs, in the order given.
pub type StrMap<'a> = List<'a, (&'a str, &'a str)>;
/// A `string[]` field.
pub type StrList<'a> = List<'a, &'a str>;

impl<'a, T> List<'a, T> {
    /// An empty list.
    pub const EMPTY: Self = List::Slice(&[]);

    /// Number of items.
    pub fn len(&self) -> usize {
        match self {
            Self::Slice(s) => s.len(),
            Self::Encoded { count, .. } => *count,
        }
    }

    /// Whether the list has no items.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<'a, T: Field<'a> + Clone> List<'a, T> {
    /// The items, in order.
    pub fn iter(&self) -> ListIter<'a, T> {
        match *self {
            Self::Slice(s) => ListIter::Slice(s.iter()),
            Self::Encoded { count, bytes, .. } => ListIter::Encoded {
                remaining: count,
                reader: Reader::new(bytes),
                _item: PhantomData,
            },
        }
    }
}

impl<'a> StrMap<'a> {
    /// The value of the first pair with this key.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

impl<'a, T> From<&'a [T]> for List<'a, T> {
    fn from(s: &'a [T]) -> Self {
        Self::Slice(s)
    }
}

impl<'a, T, const N: usize> From<&'a [T; N]> for List<'a, T> {
    fn from(s: &'a [T; N]) -> Self {
        Self::Slice(s)
    }
}

impl<'a, T> Default for List<'a, T> {
    fn default() -> Self {
        Self::Slice(&[])
    }
}

impl<'a, T: Field<'a> + Clone + PartialEq> PartialEq for List<'a, T> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<'a, T: Field<'a> + Clone + fmt::Debug> fmt::Debug for List<'a, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Iterator over a [`List`].
#[derive(Debug)]
pub enum ListIter<'a, T> {
    /// Over a caller's slice.
    Slice(core::slice::Iter<'a, T>),
    /// Over encoded items.
    Encoded {
        /// Items left.
        remaining: usize,
        /// Position in the encoded items.
        reader: Reader<'a>,
        /// The item type.
        _item: PhantomData<T>,
    },
}

impl<'a, T: Field<'a> + Clone> Iterator for ListIter<'a, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        match self {
            Self::Slice(it) => it.next().cloned(),
            Self::Encoded {
                remaining, reader, ..
            } => {
                if *remaining == 0 {
                    return None;
                }
                *remaining -= 1;
                // Validated when the payload was decoded; a failure here cannot happen, and
                // ending the iteration is the non-panicking answer if it ever did.
                T::decode(reader).ok()
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Self::Slice(it) => it.size_hint(),
            Self::Encoded { remaining, .. } => (0, Some(*remaining)),
        }
    }
}

impl<'a, T: Field<'a> + Clone> Field<'a> for List<'a, T> {
    fn encoded_len(&self) -> usize {
        match self {
            Self::Slice(s) => 4 + s.iter().map(T::encoded_len).sum::<usize>(),
            Self::Encoded { bytes, .. } => 4 + bytes.len(),
        }
    }

    fn encode(&self, w: &mut Writer<'_>) {
        w.put_len(self.len());
        match self {
            Self::Slice(s) => s.iter().for_each(|item| item.encode(w)),
            Self::Encoded { bytes, .. } => w.put(bytes),
        }
    }

    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let count = r.len_prefix()?;
        let start = r.clone();
        for _ in 0..count {
            T::decode(r)?; // every item is validated here, once
        }
        let len = r.position() - start.position();
        let mut items = start;
        let bytes = items.take(len)?;
        Ok(Self::Encoded {
            count,
            bytes,
            _item: PhantomData,
        })
    }
    fn skip(r: &mut Reader<'a>) -> Result<(), DecodeError> {
        // As `decode`: every item type of the spec takes a byte at least, so a hostile count
        // fails at the input's end.
        for _ in 0..r.len_prefix()? {
            T::skip(r)?;
        }
        Ok(())
    }
}
