//! User-defined events: a name and typed fields, recorded by
//! [`event!("kv.wal_sync", bytes = n, duration_ns = d)`](crate::event), with their static
//! parts interned.
//!
//! # The parts of a user event
//!
//! - **Static, interned once per call site**: the event name, the field names, the field types
//!   and constant string fields (`unit = static "ns"`). The macro puts the names in a
//!   `static` [`Meta`] and a `static` [`Callsite`]; the types come from the values' Rust types
//!   ([`Value::TYPE`]) as a compile-time constant ([`Values::TYPES`]).
//! - **Per record**: a 4-byte schema id and the values, nothing else
//!   (`[EventHeader(24)][schema_id u32][values][Trailer(8)]`, type byte [`USER_TYPE_BYTE`]).
//!
//! # Registration (the first call of a call site)
//!
//! [`Callsite::id`] is one `Acquire` load and one compare on every call. The first call of a
//! call site takes a fresh id from a global atomic counter (`fetch_add`), stores the call
//! site and its types in the id's slot of a fixed static table ([`lookup`]), and publishes the
//! id in the call site with a compare-and-swap. Two threads racing on a new call site both
//! finish without waiting: the loser uses the winner's id (its table slot was written before
//! the winner's `Release` CAS) and its own id is left as an unused alias. No lock, no
//! allocation, no system call, no wait: the registration path is as non-blocking as the
//! record path. The table holds [`MAX_CALLSITES`] ids; a call site registered beyond that is
//! refused and counted (as oversize) rather than recorded wrongly.
//!
//! The flusher (or the capture API) reads the table by id to find a record's schema, and
//! writes a definition record (type byte [`DEFINITION_TYPE_BYTE`], [`encode_definition`])
//! into every block before that block's first record of the schema, so every stored block
//! decodes on its own.

use crate::codec::{DecodeError, Reader, Writer};
use crate::sync::{AtomicPtr, AtomicUsize, Ordering};

#[cfg(not(loom))]
pub mod dynamic;

/// Record type byte of a user event (an interned record: schema id, then values).
pub const USER_TYPE_BYTE: u8 = crate::user_bytes::USER;
/// Record type byte of a schema definition (on disk only; never in a ring).
pub const DEFINITION_TYPE_BYTE: u8 = crate::user_bytes::DEFINITION;

/// Ids the registry can hand out (id 0 means "not registered").
#[cfg(feature = "std")]
pub const MAX_CALLSITES: usize = 1 << 14;
/// Ids the registry can hand out (id 0 means "not registered").
#[cfg(not(feature = "std"))]
pub const MAX_CALLSITES: usize = 256;

/// Most runtime fields a user event can have.
pub const MAX_FIELDS: usize = 32;

/// Flag bit of an optional field's type byte.
pub const OPTIONAL: u8 = 0x80;

/// The wire type of a field (its type byte in a definition; `| OPTIONAL` for `Option<T>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FieldType {
    /// `u8`, 1 byte.
    U8 = 1,
    /// `u16`, 2 bytes little-endian.
    U16 = 2,
    /// `u32`, 4 bytes little-endian.
    U32 = 3,
    /// `u64` (and `usize`), 8 bytes little-endian.
    U64 = 4,
    /// `i8`, 1 byte.
    I8 = 5,
    /// `i16`, 2 bytes little-endian.
    I16 = 6,
    /// `i32`, 4 bytes little-endian.
    I32 = 7,
    /// `i64` (and `isize`), 8 bytes little-endian.
    I64 = 8,
    /// `f32`, IEEE-754 bits, 4 bytes little-endian.
    F32 = 9,
    /// `f64`, IEEE-754 bits, 8 bytes little-endian.
    F64 = 10,
    /// `bool`, one byte 0 or 1.
    Bool = 11,
    /// `core::time::Duration`, as `u64` nanoseconds (saturating).
    DurationNs = 12,
    /// `&str`/`String`: `u32` length then UTF-8 bytes.
    Str = 13,
    /// `&[u8]`/`Vec<u8>`: `u32` length then the bytes.
    Bytes = 14,
}

impl FieldType {
    /// The type for a definition's type byte (without the optional flag).
    pub const fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            1 => Self::U8,
            2 => Self::U16,
            3 => Self::U32,
            4 => Self::U64,
            5 => Self::I8,
            6 => Self::I16,
            7 => Self::I32,
            8 => Self::I64,
            9 => Self::F32,
            10 => Self::F64,
            11 => Self::Bool,
            12 => Self::DurationNs,
            13 => Self::Str,
            14 => Self::Bytes,
            _ => return None,
        })
    }

    /// Name used in docs and error messages.
    pub const fn name(self) -> &'static str {
        match self {
            Self::U8 => "u8",
            Self::U16 => "u16",
            Self::U32 => "u32",
            Self::U64 => "u64",
            Self::I8 => "i8",
            Self::I16 => "i16",
            Self::I32 => "i32",
            Self::I64 => "i64",
            Self::F32 => "f32",
            Self::F64 => "f64",
            Self::Bool => "bool",
            Self::DurationNs => "duration_ns",
            Self::Str => "str",
            Self::Bytes => "bytes",
        }
    }
}

/// A Rust value that can be a user event field.
pub trait Value {
    /// The field's type byte ([`FieldType`] `as u8`, `| OPTIONAL` for `Option`).
    const TYPE: u8;
    /// Encoded size in bytes.
    fn encoded_len(&self) -> usize;
    /// Writes the value.
    fn encode(&self, w: &mut Writer<'_>);
}

macro_rules! int_value {
    ($($t:ty => $ft:ident as $wire:ty),* $(,)?) => {$(
        impl Value for $t {
            const TYPE: u8 = FieldType::$ft as u8;
            #[inline(always)]
            fn encoded_len(&self) -> usize { core::mem::size_of::<$wire>() }
            #[inline(always)]
            fn encode(&self, w: &mut Writer<'_>) { w.put(&(*self as $wire).to_le_bytes()) }
        }
    )*};
}
int_value!(
    u8 => U8 as u8, u16 => U16 as u16, u32 => U32 as u32, u64 => U64 as u64, usize => U64 as u64,
    i8 => I8 as i8, i16 => I16 as i16, i32 => I32 as i32, i64 => I64 as i64, isize => I64 as i64,
    f32 => F32 as f32, f64 => F64 as f64,
);

impl Value for bool {
    const TYPE: u8 = FieldType::Bool as u8;
    #[inline(always)]
    fn encoded_len(&self) -> usize {
        1
    }
    #[inline(always)]
    fn encode(&self, w: &mut Writer<'_>) {
        w.put(&[*self as u8])
    }
}

impl Value for core::time::Duration {
    const TYPE: u8 = FieldType::DurationNs as u8;
    #[inline(always)]
    fn encoded_len(&self) -> usize {
        8
    }
    #[inline(always)]
    fn encode(&self, w: &mut Writer<'_>) {
        let ns = u64::try_from(self.as_nanos()).unwrap_or(u64::MAX);
        w.put(&ns.to_le_bytes())
    }
}

impl Value for str {
    const TYPE: u8 = FieldType::Str as u8;
    #[inline(always)]
    fn encoded_len(&self) -> usize {
        4 + self.len()
    }
    #[inline(always)]
    fn encode(&self, w: &mut Writer<'_>) {
        w.put_len(self.len());
        w.put(self.as_bytes());
    }
}

impl Value for [u8] {
    const TYPE: u8 = FieldType::Bytes as u8;
    #[inline(always)]
    fn encoded_len(&self) -> usize {
        4 + self.len()
    }
    #[inline(always)]
    fn encode(&self, w: &mut Writer<'_>) {
        w.put_len(self.len());
        w.put(self);
    }
}

impl<const N: usize> Value for [u8; N] {
    const TYPE: u8 = FieldType::Bytes as u8;
    #[inline(always)]
    fn encoded_len(&self) -> usize {
        4 + N
    }
    #[inline(always)]
    fn encode(&self, w: &mut Writer<'_>) {
        w.put_len(N);
        w.put(self);
    }
}

#[cfg(feature = "std")]
impl Value for std::string::String {
    const TYPE: u8 = FieldType::Str as u8;
    #[inline(always)]
    fn encoded_len(&self) -> usize {
        self.as_str().encoded_len()
    }
    #[inline(always)]
    fn encode(&self, w: &mut Writer<'_>) {
        self.as_str().encode(w)
    }
}

#[cfg(feature = "std")]
impl Value for std::vec::Vec<u8> {
    const TYPE: u8 = FieldType::Bytes as u8;
    #[inline(always)]
    fn encoded_len(&self) -> usize {
        self.as_slice().encoded_len()
    }
    #[inline(always)]
    fn encode(&self, w: &mut Writer<'_>) {
        self.as_slice().encode(w)
    }
}

impl<T: Value + ?Sized> Value for &T {
    const TYPE: u8 = T::TYPE;
    #[inline(always)]
    fn encoded_len(&self) -> usize {
        (**self).encoded_len()
    }
    #[inline(always)]
    fn encode(&self, w: &mut Writer<'_>) {
        (**self).encode(w)
    }
}

impl<T: Value> Value for Option<T> {
    const TYPE: u8 = {
        assert!(
            T::TYPE & OPTIONAL == 0,
            "an optional field cannot be optional twice"
        );
        T::TYPE | OPTIONAL
    };
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
}

/// The runtime fields of one call site, as a tuple of references (the macro builds it).
pub trait Values {
    /// Type bytes, one per field, in order: a compile-time constant per tuple type.
    const TYPES: &'static [u8];
    /// A 64-bit digest of [`Values::TYPES`], compared on every call (one compare with a
    /// constant) to catch a call site in a generic function recorded with other types.
    const SIG: u64;
    /// Encoded size of the values.
    fn encoded_len(&self) -> usize;
    /// Writes the values in order.
    fn encode(&self, w: &mut Writer<'_>);
}

/// Whether `name` is namespaced (holds a `.` or a `:`, e.g. `kv.wal_sync`), as every
/// user-defined event name must be: the spec's type names have neither, so a name can never be
/// mistaken for one, and a tool told an unknown plain name knows it is a typo. Checked at
/// compile time by `event!`.
pub const fn is_namespaced(name: &str) -> bool {
    let b = name.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'.' || b[i] == b':' {
            return true;
        }
        i += 1;
    }
    false
}

/// FNV-1a over the type bytes and their count; never 0.
pub const fn signature(types: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ types.len() as u64;
    let mut i = 0;
    while i < types.len() {
        h ^= types[i] as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    if h == 0 {
        1
    } else {
        h
    }
}

macro_rules! tuple_values {
    ($( ($($v:ident),*) ),* $(,)?) => {$(
        #[allow(non_snake_case)]
        impl<$($v: Value + ?Sized),*> Values for ($(&$v,)*) {
            const TYPES: &'static [u8] = &[$($v::TYPE),*];
            const SIG: u64 = signature(Self::TYPES);
            #[inline(always)]
            fn encoded_len(&self) -> usize {
                let ($($v,)*) = self;
                0 $(+ $v.encoded_len())*
            }
            #[inline(always)]
            #[allow(unused_variables)]
            fn encode(&self, w: &mut Writer<'_>) {
                let ($($v,)*) = self;
                $($v.encode(w);)*
            }
        }
    )*};
}
tuple_values!(
    (),
    (A),
    (A, B),
    (A, B, C),
    (A, B, C, D),
    (A, B, C, D, E),
    (A, B, C, D, E, F),
    (A, B, C, D, E, F, G),
    (A, B, C, D, E, F, G, H),
    (A, B, C, D, E, F, G, H, I),
    (A, B, C, D, E, F, G, H, I, J),
    (A, B, C, D, E, F, G, H, I, J, K),
    (A, B, C, D, E, F, G, H, I, J, K, L),
    (A, B, C, D, E, F, G, H, I, J, K, L, M),
    (A, B, C, D, E, F, G, H, I, J, K, L, M, N),
    (A, B, C, D, E, F, G, H, I, J, K, L, M, N, O),
    (A, B, C, D, E, F, G, H, I, J, K, L, M, N, O, P),
);

/// The static description of a call site: name, runtime field names (in value order) and
/// constant string fields.
#[derive(Debug)]
pub struct Meta {
    /// Event name, e.g. `"kv.wal_sync"`.
    pub name: &'static str,
    /// Names of the runtime fields, in the order of their values.
    pub fields: &'static [&'static str],
    /// Constant fields (`unit = static "ns"`): name and value, stored once per block.
    pub consts: &'static [(&'static str, &'static str)],
}

/// A call site of a user event: its [`Meta`] and, once registered, its id.
pub struct Callsite {
    meta: &'static Meta,
    id: AtomicUsize,
    sig: AtomicUsize,
}

struct Entry {
    callsite: AtomicPtr<Callsite>,
    types: AtomicPtr<u8>,
}

#[cfg(not(loom))]
#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_ENTRY: Entry = Entry {
    callsite: AtomicPtr::new(core::ptr::null_mut()),
    types: AtomicPtr::new(core::ptr::null_mut()),
};

#[cfg(not(loom))]
static TABLE: [Entry; MAX_CALLSITES] = [EMPTY_ENTRY; MAX_CALLSITES];
#[cfg(not(loom))]
static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

#[cfg(loom)]
fn empty_entry() -> Entry {
    Entry {
        callsite: AtomicPtr::new(core::ptr::null_mut()),
        types: AtomicPtr::new(core::ptr::null_mut()),
    }
}

// Under loom, statics with atomics are built lazily (loom's atomics are not `const`) and are
// fresh in every explored execution.
#[cfg(loom)]
loom::lazy_static! {
    static ref TABLE: [Entry; 8] = core::array::from_fn(|_| empty_entry());
    static ref NEXT_ID: AtomicUsize = AtomicUsize::new(1);
}

#[cfg(loom)]
fn table() -> &'static [Entry] {
    &TABLE[..]
}
#[cfg(not(loom))]
fn table() -> &'static [Entry] {
    &TABLE[..]
}

/// Why a call site has no id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterError {
    /// Every id of the table is taken.
    TableFull,
}

impl Callsite {
    /// A call site, unregistered.
    #[cfg(not(loom))]
    pub const fn new(meta: &'static Meta) -> Self {
        Self {
            meta,
            id: AtomicUsize::new(0),
            sig: AtomicUsize::new(0),
        }
    }

    /// A call site, unregistered (loom's atomics are not `const`).
    #[cfg(loom)]
    pub fn new(meta: &'static Meta) -> Self {
        Self {
            meta,
            id: AtomicUsize::new(0),
            sig: AtomicUsize::new(0),
        }
    }

    /// The call site's static description.
    pub fn meta(&self) -> &'static Meta {
        self.meta
    }

    /// The schema id of this call site for values of type `V`, registering it on first use.
    /// Hot path: one `Acquire` load, one `Relaxed` load and two compares.
    #[inline(always)]
    pub fn id<V: Values + ?Sized>(&'static self) -> Result<u32, RegisterError> {
        let id = self.id.load(Ordering::Acquire);
        if id != 0 && self.sig.load(Ordering::Relaxed) == V::SIG as usize {
            return Ok(id as u32);
        }
        self.register(V::TYPES, V::SIG)
    }

    #[cold]
    #[inline(never)]
    fn register(&'static self, types: &'static [u8], sig: u64) -> Result<u32, RegisterError> {
        let published = self.id.load(Ordering::Acquire);
        if published != 0 {
            // Registered with other types (a call site in a generic function): find or add
            // an id for these types. Rare, bounded by the instantiations.
            if let Some(id) = find(self, types) {
                return Ok(id);
            }
            return claim(self, types).map(|id| id as u32);
        }
        let id = claim(self, types)?;
        // `sig` is written before the id is published, and never changes after.
        self.sig.store(sig as usize, Ordering::Relaxed);
        match self
            .id
            .compare_exchange(0, id, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Ok(id as u32),
            // Another thread won: its table slot was written before its Release CAS, which
            // our Acquire read synchronises with. Our id stays a valid alias.
            Err(winner) => Ok(winner as u32),
        }
    }
}

/// Takes a fresh id and fills its table slot (types first, the call site with `Release`).
pub(crate) fn claim(cs: &'static Callsite, types: &'static [u8]) -> Result<usize, RegisterError> {
    let table = table();
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    if id >= table.len() {
        return Err(RegisterError::TableFull);
    }
    table[id]
        .types
        .store(types.as_ptr() as *mut u8, Ordering::Relaxed);
    table[id]
        .callsite
        .store(cs as *const Callsite as *mut Callsite, Ordering::Release);
    Ok(id)
}

pub(crate) fn find(cs: &'static Callsite, types: &[u8]) -> Option<u32> {
    let table = table();
    let end = NEXT_ID.load(Ordering::Acquire).min(table.len());
    (1..end).find_map(|id| {
        let s = lookup(id as u32)?;
        (core::ptr::eq(s.callsite, cs) && s.types == types).then_some(id as u32)
    })
}

/// A registered schema, as the table holds it.
#[derive(Clone, Copy, Debug)]
pub struct Schema {
    /// Its id.
    pub id: u32,
    /// The call site it belongs to.
    pub callsite: &'static Callsite,
    /// The runtime fields' type bytes.
    pub types: &'static [u8],
}

impl Schema {
    /// The call site's static description.
    pub fn meta(&self) -> &'static Meta {
        self.callsite.meta
    }
}

impl core::fmt::Debug for Callsite {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Callsite")
            .field("meta", &self.meta)
            .finish()
    }
}

/// The schema of a registered id (the flusher's and the capture API's view of the table).
/// `None` for an id never handed out or not yet visible to this thread.
pub fn lookup(id: u32) -> Option<Schema> {
    let table = table();
    let e = table.get(id as usize)?;
    let cs = e.callsite.load(Ordering::Acquire);
    if cs.is_null() {
        return None;
    }
    let types = e.types.load(Ordering::Relaxed);
    // SAFETY: a non-null table slot holds a `&'static Callsite` stored by `claim`, and its
    // `types` pointer (stored before the Acquire-read `callsite`) points to a `&'static [u8]`
    // whose length is the call site's field count: the macro derives both from the same
    // field list (`Values` tuple of one element per name), checked at compile time.
    unsafe {
        let callsite: &'static Callsite = &*cs;
        let len = callsite.meta.fields.len();
        Some(Schema {
            id,
            callsite,
            types: core::slice::from_raw_parts(types, len),
        })
    }
}

/// Ids handed out so far (ids `1..next_id()` may be registered).
pub fn next_id() -> u32 {
    NEXT_ID
        .load(Ordering::Acquire)
        .min(table().len())
        .try_into()
        .unwrap_or(u32::MAX)
}

// ------------------------------------------------------------------------- wire format

/// Encoded size of a definition record's payload for `schema`.
pub fn definition_len(schema: &Schema) -> usize {
    let m = schema.meta();
    4 + 4
        + m.name.len()
        + 4
        + m.fields.iter().map(|f| 4 + f.len() + 1).sum::<usize>()
        + 4
        + m.consts
            .iter()
            .map(|(k, v)| 8 + k.len() + v.len())
            .sum::<usize>()
}

/// Writes a definition payload: `schema_id u32, name str, fields [(name str, type u8)],
/// consts [(name str, value str)]` (docs/FORMAT.md). Returns the bytes written.
pub fn encode_definition(
    schema: &Schema,
    out: &mut [u8],
) -> Result<usize, crate::codec::EncodeError> {
    let m = schema.meta();
    let needed = definition_len(schema);
    let mut w = Writer::new(out);
    w.put(&schema.id.to_le_bytes());
    w.put_len(m.name.len());
    w.put(m.name.as_bytes());
    w.put_len(m.fields.len());
    for (name, ty) in m.fields.iter().zip(schema.types) {
        w.put_len(name.len());
        w.put(name.as_bytes());
        w.put(&[*ty]);
    }
    w.put_len(m.consts.len());
    for (k, v) in m.consts {
        w.put_len(k.len());
        w.put(k.as_bytes());
        w.put_len(v.len());
        w.put(v.as_bytes());
    }
    w.finish(needed)
}

/// The schema id at the front of a user event's payload.
pub fn record_schema_id(payload: &[u8]) -> Result<u32, DecodeError> {
    Reader::new(payload).array::<4>().map(u32::from_le_bytes)
}

/// A definition decoded from untrusted bytes, borrowing them.
#[derive(Clone, Debug, PartialEq)]
pub struct Definition<'a> {
    /// The schema id it defines (scoped to its block).
    pub id: u32,
    /// Event name.
    pub name: &'a str,
    /// Runtime fields: name and type byte (checked: a [`FieldType`], maybe `| OPTIONAL`).
    pub fields: DefFields<'a>,
    /// Constant fields.
    pub consts: DefConsts<'a>,
}

/// The runtime fields of a [`Definition`], still encoded (validated) and walked lazily.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DefFields<'a> {
    count: usize,
    bytes: &'a [u8],
}

/// The constant fields of a [`Definition`], still encoded (validated).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DefConsts<'a> {
    count: usize,
    bytes: &'a [u8],
}

fn read_str<'a>(r: &mut Reader<'a>) -> Result<&'a str, DecodeError> {
    <&str as crate::codec::Field>::decode(r)
}

fn check_type(at: usize, b: u8) -> Result<(), DecodeError> {
    match FieldType::from_byte(b & !OPTIONAL) {
        Some(_) => Ok(()),
        None => Err(DecodeError::BadTag { at, value: b }),
    }
}

impl<'a> DefFields<'a> {
    /// No fields.
    pub const EMPTY: Self = Self {
        count: 0,
        bytes: &[],
    };

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.count
    }
    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    /// (name, type byte) pairs, in value order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, u8)> + 'a {
        let mut r = Reader::new(self.bytes);
        (0..self.count).map_while(move |_| {
            let name = read_str(&mut r).ok()?;
            let ty = r.array::<1>().ok()?[0];
            Some((name, ty))
        })
    }
}

impl<'a> DefConsts<'a> {
    /// No constants.
    pub const EMPTY: Self = Self {
        count: 0,
        bytes: &[],
    };

    /// Number of constants.
    pub fn len(&self) -> usize {
        self.count
    }
    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    /// (name, value) pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let mut r = Reader::new(self.bytes);
        (0..self.count).map_while(move |_| Some((read_str(&mut r).ok()?, read_str(&mut r).ok()?)))
    }
}

/// Decodes and validates a definition payload (bounds, UTF-8, type bytes, field count, no
/// trailing bytes). Never panics.
pub fn decode_definition(bytes: &[u8]) -> Result<Definition<'_>, DecodeError> {
    let mut r = Reader::new(bytes);
    let id = u32::from_le_bytes(r.array()?);
    let name = read_str(&mut r)?;
    let count = r.len_prefix()?;
    let start = r.position();
    if count > MAX_FIELDS {
        return Err(DecodeError::BadTag {
            at: start - 4,
            value: u8::MAX,
        });
    }
    for _ in 0..count {
        read_str(&mut r)?;
        let at = r.position();
        check_type(at, r.array::<1>()?[0])?;
    }
    let fields = DefFields {
        count,
        bytes: &bytes[start..r.position()],
    };
    let ccount = r.len_prefix()?;
    let cstart = r.position();
    for _ in 0..ccount {
        read_str(&mut r)?;
        read_str(&mut r)?;
    }
    let consts = DefConsts {
        count: ccount,
        bytes: &bytes[cstart..r.position()],
    };
    r.finish()?;
    Ok(Definition {
        id,
        name,
        fields,
        consts,
    })
}

/// One decoded field value of a user event.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FieldValue<'a> {
    /// An unsigned integer (u8..u64).
    U64(u64),
    /// A signed integer (i8..i64).
    I64(i64),
    /// A float (f32 widened, or f64).
    F64(f64),
    /// A bool.
    Bool(bool),
    /// A duration in nanoseconds.
    DurationNs(u64),
    /// A string.
    Str(&'a str),
    /// Bytes.
    Bytes(&'a [u8]),
    /// An optional field that is absent.
    None,
}

fn read_value<'a>(r: &mut Reader<'a>, ty: u8) -> Result<FieldValue<'a>, DecodeError> {
    let at = r.position();
    if ty & OPTIONAL != 0 {
        return match r.array::<1>()?[0] {
            0 => Ok(FieldValue::None),
            1 => read_value(r, ty & !OPTIONAL),
            value => Err(DecodeError::BadTag { at, value }),
        };
    }
    let Some(t) = FieldType::from_byte(ty) else {
        return Err(DecodeError::BadTag { at, value: ty });
    };
    Ok(match t {
        FieldType::U8 => FieldValue::U64(u8::from_le_bytes(r.array()?) as u64),
        FieldType::U16 => FieldValue::U64(u16::from_le_bytes(r.array()?) as u64),
        FieldType::U32 => FieldValue::U64(u32::from_le_bytes(r.array()?) as u64),
        FieldType::U64 => FieldValue::U64(u64::from_le_bytes(r.array()?)),
        FieldType::I8 => FieldValue::I64(i8::from_le_bytes(r.array()?) as i64),
        FieldType::I16 => FieldValue::I64(i16::from_le_bytes(r.array()?) as i64),
        FieldType::I32 => FieldValue::I64(i32::from_le_bytes(r.array()?) as i64),
        FieldType::I64 => FieldValue::I64(i64::from_le_bytes(r.array()?)),
        FieldType::F32 => FieldValue::F64(f32::from_le_bytes(r.array()?) as f64),
        FieldType::F64 => FieldValue::F64(f64::from_le_bytes(r.array()?)),
        FieldType::Bool => match r.array::<1>()?[0] {
            0 => FieldValue::Bool(false),
            1 => FieldValue::Bool(true),
            value => return Err(DecodeError::BadTag { at, value }),
        },
        FieldType::DurationNs => FieldValue::DurationNs(u64::from_le_bytes(r.array()?)),
        FieldType::Str => FieldValue::Str(read_str(r)?),
        FieldType::Bytes => {
            let n = r.len_prefix()?;
            FieldValue::Bytes(r.take(n)?)
        }
    })
}

/// Checks that a user event's payload matches a definition: the schema id, then exactly one
/// well-formed value per field. Returns the values' bytes (after the id).
pub fn check_values<'a>(def: &Definition<'_>, payload: &'a [u8]) -> Result<&'a [u8], DecodeError> {
    let mut r = Reader::new(payload);
    r.array::<4>()?;
    let start = r.position();
    for (_, ty) in def.fields.iter() {
        read_value(&mut r, ty)?;
    }
    r.finish()?;
    Ok(&payload[start..])
}

/// Walks a user event's values with their definition: `(field name, value)`, in order.
/// `payload` must have passed [`check_values`] against `def`.
pub fn values<'a, 'd>(
    def: &Definition<'d>,
    payload: &'a [u8],
) -> impl Iterator<Item = (&'d str, FieldValue<'a>)> + 'a
where
    'd: 'a,
{
    let mut r = Reader::new(payload);
    let ok = r.array::<4>().is_ok();
    let fields = def.fields;
    fields
        .iter()
        .take(if ok { usize::MAX } else { 0 })
        .map_while(move |(name, ty)| Some((name, read_value(&mut r, ty).ok()?)))
}

/// Builds the definition of a registered schema as bytes: for tools that decode records from
/// a ring of this process (the capture API), without a store.
pub fn definition_of<'b>(schema: &Schema, buf: &'b mut [u8]) -> Option<Definition<'b>> {
    let n = encode_definition(schema, buf).ok()?;
    decode_definition(&buf[..n]).ok()
}
