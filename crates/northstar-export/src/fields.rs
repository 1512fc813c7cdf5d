//! The per-event field visitor every exporter is built on.
//!
//! [`visit_event`] walks one event's payload fields in the spec's order and names, calling a
//! [`FieldVisitor`]: scalars, and groups (structs, lists, string maps) that nest. Exporters turn
//! the calls into their own shapes (Perfetto debug annotations, OTLP attributes and bodies,
//! JSON). A new kind of event (for example user-defined events) flows into every exporter by
//! adding one arm here that visits its fields.

use northstar_core::user::FieldValue;
use northstar_core::{Event, Visit};

use crate::{Data, Item, UserEvent};

/// One scalar field value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scalar<'a> {
    /// Unsigned integer (ids, counts).
    U64(u64),
    /// Signed integer (times, durations).
    I64(i64),
    /// Floating point.
    F64(f64),
    /// Text.
    Str(&'a str),
    /// A bool (user events).
    Bool(bool),
    /// Bytes (user events; the text formats write them as lowercase hex).
    Bytes(&'a [u8]),
}

impl Scalar<'_> {
    /// The value as a number, if it is one.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Scalar::U64(v) => Some(v as f64),
            Scalar::I64(v) => Some(v as f64),
            Scalar::F64(v) => Some(v),
            Scalar::Str(_) | Scalar::Bool(_) | Scalar::Bytes(_) => None,
        }
    }
}

/// What kind of group a [`FieldVisitor::begin`] opens (the core's).
pub use northstar_core::visit::Group;

/// Receives an event's fields (see the module docs). `name` is the spec's field name; items of
/// a list have the name `""`.
pub trait FieldVisitor<'a> {
    /// A scalar field.
    fn scalar(&mut self, name: &str, value: Scalar<'a>);
    /// An optional field that is absent (default: nothing).
    fn absent(&mut self, _name: &str) {}
    /// Opens a group; fields until the matching [`end`](Self::end) belong to it.
    fn begin(&mut self, name: &str, group: Group);
    /// Closes the innermost open group.
    fn end(&mut self);
}

/// An f32 as the f64 of its shortest decimal form (`0.87`, not `0.8700000047683716`), as the
/// spec's JSON shows it.
fn f32_value(x: f32) -> f64 {
    x.to_string().parse::<f64>().unwrap_or(f64::from(x))
}

/// Visits every payload field of an item: a spec event's (see [`visit_event`]) or a user
/// event's (see [`visit_user`]).
pub fn visit_item<'a, V: FieldVisitor<'a>>(item: &Item<'a>, v: &mut V) {
    match &item.data {
        Data::Spec(e) => visit_event(e, v),
        Data::User(u) => visit_user(u, v),
    }
}

/// A user field value as a scalar (`None` for an absent optional). Durations are nanoseconds.
pub fn user_scalar(value: FieldValue<'_>) -> Option<Scalar<'_>> {
    Some(match value {
        FieldValue::U64(x) | FieldValue::DurationNs(x) => Scalar::U64(x),
        FieldValue::I64(x) => Scalar::I64(x),
        FieldValue::F64(x) => Scalar::F64(x),
        FieldValue::Bool(b) => Scalar::Bool(b),
        FieldValue::Str(s) => Scalar::Str(s),
        FieldValue::Bytes(b) => Scalar::Bytes(b),
        FieldValue::None => return None,
    })
}

/// Visits a user event's runtime fields (typed, in definition order; an absent optional as
/// [`FieldVisitor::absent`]), then its constant fields (strings), as `query --format json`
/// shows them.
pub fn visit_user<'a, V: FieldVisitor<'a>>(u: &UserEvent<'a>, v: &mut V) {
    for (name, value) in u.values() {
        match user_scalar(value) {
            Some(s) => v.scalar(name, s),
            None => v.absent(name),
        }
    }
    for (name, value) in u.consts() {
        v.scalar(name, Scalar::Str(value));
    }
}

/// Visits every payload field of `ev`, in the spec's order, through the core's generated
/// [`Visit`] walk (so a new field or type needs no edit here).
pub fn visit_event<'a, V: FieldVisitor<'a>>(ev: &Event<'a>, v: &mut V) {
    ev.visit(&mut Adapter(v));
}

/// The core's [`Visit`] calls as [`FieldVisitor`] calls.
struct Adapter<'v, V>(&'v mut V);

impl<'a, V: FieldVisitor<'a>> Visit<'a> for Adapter<'_, V> {
    fn visit_u64(&mut self, name: &str, value: u64) {
        self.0.scalar(name, Scalar::U64(value));
    }
    fn visit_i64(&mut self, name: &str, value: i64) {
        self.0.scalar(name, Scalar::I64(value));
    }
    fn visit_f64(&mut self, name: &str, value: f64) {
        self.0.scalar(name, Scalar::F64(value));
    }
    fn visit_f32(&mut self, name: &str, value: f32) {
        self.0.scalar(name, Scalar::F64(f32_value(value)));
    }
    fn visit_str(&mut self, name: &str, value: &'a str) {
        self.0.scalar(name, Scalar::Str(value));
    }
    fn visit_absent(&mut self, name: &str) {
        self.0.absent(name);
    }
    fn begin(&mut self, name: &str, group: Group) {
        self.0.begin(name, group);
    }
    fn end(&mut self) {
        self.0.end();
    }
}
