//! The spec's JSON shape of the payloads, through serde (feature `serde`; needs an allocator).
//!
//! The same `payload!` definition that gives each payload struct its codec and its [`Visit`]
//! walk also gives it:
//! - `Serialize` (derived): the spec's field names, in definition order; a map field is a JSON
//!   object, a list an array, an absent optional `null`. A payload's own `session_id` is left
//!   out: the spec's JSON carries it at the event's top level (the `northstar-json` crate).
//! - [`JsonField`]: serde reads a mirror of the struct ([`JsonField::In`], generated with it,
//!   unknown fields refused), with `Vec`s where the payload holds a [`List`] view, and
//!   [`JsonField::from_json`] makes the payload from it, borrowing its strings and lists.
//!
//! A field the JSON leaves out, or gives as `null`, takes the default its definition names
//! (`pub status: &'a str = "completed"`), else its type's: 0, `""`, `[]`, `{}`, `null`, and for
//! time fields (`i64`, Unix nanoseconds) the event's own timestamp ([`Context`]). A field
//! defined `= required` must be given, and not as `null`.
//!
//! [`EventType::read_json`](crate::EventType::read_json) reads any type's payload from a
//! [`JsonInput`]; the event's top level and the field path of errors are `northstar-json`'s.

use crate::codec::{Field, List};
use crate::visit::{Group, Visit, VisitField};
use alloc::vec::Vec;
use core::cell::OnceCell;
use core::fmt;
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};

/// What a field left out of the JSON defaults to, beyond its definition and type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Context {
    /// The event's timestamp (Unix nanoseconds): the default of every time field.
    pub timestamp: i64,
}

/// A payload field type read from JSON (see the module docs).
pub trait JsonField<'a>: Sized {
    /// What serde reads for it.
    type In: Deserialize<'a>;
    /// The field, from what serde read (borrowing its strings and lists).
    fn from_json(input: &'a Self::In, cx: &Context) -> Self;
    /// The field when the JSON leaves it out or gives `null`.
    fn absent(cx: &Context) -> Self;
}

/// Where [`EventType::read_json`](crate::EventType::read_json) reads a payload from: the
/// caller's JSON object, as a deserializer made for each read (so the payload can borrow from
/// it for as long as the read lasts).
pub trait JsonInput {
    /// Why a read failed (the caller's error, with its field path).
    type Error;
    /// Deserializes `T` from the payload object.
    fn read<'x, T: Deserialize<'x>>(&'x self) -> Result<T, Self::Error>;
}

macro_rules! plain {
    ($($t:ty => $absent:expr),* $(,)?) => {$(
        impl<'a> JsonField<'a> for $t {
            type In = $t;
            #[inline]
            fn from_json(input: &'a $t, _: &Context) -> Self {
                *input
            }
            #[inline]
            fn absent(_: &Context) -> Self {
                $absent
            }
        }
    )*};
}

plain! {
    u32 => 0,
    u64 => 0,
    f64 => 0.0,
    &'a str => "",
}

/// A time field (Unix nanoseconds): left out, it is the event's timestamp.
impl<'a> JsonField<'a> for i64 {
    type In = i64;
    #[inline]
    fn from_json(input: &'a i64, _: &Context) -> Self {
        *input
    }
    #[inline]
    fn absent(cx: &Context) -> Self {
        cx.timestamp
    }
}

/// An `f32` as read from JSON: a number within `f32`'s range (serde's own `f32` would turn
/// `1e300` into infinity).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct F32(pub f32);

impl<'de> Deserialize<'de> for F32 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let x = f64::deserialize(d)?;
        if x.is_finite() && x.abs() > f64::from(f32::MAX) {
            return Err(de::Error::custom("out of the range of a 32-bit float"));
        }
        // In range: the nearest f32, as JSON text of an f32 reads back exactly.
        Ok(F32(x as f32))
    }
}

impl<'a> JsonField<'a> for f32 {
    type In = F32;
    #[inline]
    fn from_json(input: &'a F32, _: &Context) -> Self {
        input.0
    }
    #[inline]
    fn absent(_: &Context) -> Self {
        0.0
    }
}

impl<'a, T: JsonField<'a>> JsonField<'a> for Option<T> {
    type In = T::In;
    #[inline]
    fn from_json(input: &'a T::In, cx: &Context) -> Self {
        Some(T::from_json(input, cx))
    }
    #[inline]
    fn absent(_: &Context) -> Self {
        None
    }
}

impl<'a> JsonField<'a> for List<'a, &'a str> {
    type In = Vec<&'a str>;
    fn from_json(input: &'a Vec<&'a str>, _: &Context) -> Self {
        List::Slice(input)
    }
    fn absent(_: &Context) -> Self {
        List::EMPTY
    }
}

impl<'a> JsonField<'a> for List<'a, u64> {
    type In = Vec<u64>;
    fn from_json(input: &'a Vec<u64>, _: &Context) -> Self {
        List::Slice(input)
    }
    fn absent(_: &Context) -> Self {
        List::EMPTY
    }
}

/// A `map<string, string>` as read from JSON: its entries in the input's order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StrMapIn<'a>(pub Vec<(&'a str, &'a str)>);

impl<'de: 'a, 'a> Deserialize<'de> for StrMapIn<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Pairs<'a>(core::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for Pairs<'a> {
            type Value = StrMapIn<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(entry) = map.next_entry::<&'de str, &'de str>()? {
                    out.push(entry);
                }
                Ok(StrMapIn(out))
            }
        }
        d.deserialize_map(Pairs(core::marker::PhantomData))
    }
}

impl<'a> JsonField<'a> for List<'a, (&'a str, &'a str)> {
    type In = StrMapIn<'a>;
    fn from_json(input: &'a StrMapIn<'a>, _: &Context) -> Self {
        List::Slice(&input.0)
    }
    fn absent(_: &Context) -> Self {
        List::EMPTY
    }
}

/// A list of structs as read from JSON: what serde read for each item, and (made once, on the
/// first [`from_json`](JsonField::from_json)) the items the list holds, borrowing from them.
pub struct ListIn<'a, T: JsonField<'a>> {
    items: Vec<T::In>,
    made: OnceCell<Vec<T>>,
}

impl<'a, T: JsonField<'a>> ListIn<'a, T> {
    /// The list, borrowing its items from `self`.
    pub fn view(&'a self, cx: &Context) -> List<'a, T> {
        List::Slice(
            self.made
                .get_or_init(|| self.items.iter().map(|i| T::from_json(i, cx)).collect()),
        )
    }
}

impl<'a, T: JsonField<'a>> fmt::Debug for ListIn<'a, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ListIn({} items)", self.items.len())
    }
}

impl<'de, 'a, T: JsonField<'a>> Deserialize<'de> for ListIn<'a, T>
where
    T::In: Deserialize<'de>,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self {
            items: Vec::deserialize(d)?,
            made: OnceCell::new(),
        })
    }
}

/// A list is a JSON array of its items; a map (a list of string pairs) a JSON object.
impl<'a, T: Field<'a> + Clone + Serialize + VisitField<'a>> Serialize for List<'a, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if T::LIST_GROUP != Group::Map {
            return s.collect_seq(self.iter());
        }
        let mut map = s.serialize_map(Some(self.len()))?;
        let mut entries = Entries {
            map: &mut map,
            error: None,
        };
        for item in self.iter() {
            item.visit_field("", &mut entries);
        }
        if let Some(e) = entries.error {
            return Err(e);
        }
        map.end()
    }
}

/// Writes the entries of a map field as they are visited (a pair is visited as a string named
/// by its key).
struct Entries<'m, M: SerializeMap> {
    map: &'m mut M,
    error: Option<M::Error>,
}

impl<'a, M: SerializeMap> Visit<'a> for Entries<'_, M> {
    fn visit_str(&mut self, name: &str, value: &'a str) {
        if self.error.is_none() {
            if let Err(e) = self.map.serialize_entry(name, value) {
                self.error = Some(e);
            }
        }
    }
    fn visit_u64(&mut self, _: &str, _: u64) {}
    fn visit_i64(&mut self, _: &str, _: i64) {}
    fn visit_f64(&mut self, _: &str, _: f64) {}
    fn begin(&mut self, _: &str, _: Group) {}
    fn end(&mut self) {}
}

/// Serde for a one-byte enum field (`Severity`, `BranchAction`): its spec name.
#[doc(hidden)]
#[macro_export]
macro_rules! __enum_serde {
    ($name:ident, [$($text:literal),*]) => {
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                const NAMES: &[&str] = &[$($text),*];
                struct Name;
                impl serde::de::Visitor<'_> for Name {
                    type Value = $name;
                    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                        write!(f, "one of {NAMES:?}")
                    }
                    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<$name, E> {
                        $name::from_name(s).ok_or_else(|| E::unknown_variant(s, NAMES))
                    }
                }
                d.deserialize_str(Name)
            }
        }

        impl<'a> $crate::json::JsonField<'a> for $name {
            type In = $name;
            fn from_json(input: &'a $name, _: &$crate::json::Context) -> Self {
                *input
            }
            /// The first value (left out, a definition names its own default).
            fn absent(_: &$crate::json::Context) -> Self {
                $name::ALL[0]
            }
        }
    };
}
