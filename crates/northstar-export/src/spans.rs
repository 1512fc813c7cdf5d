//! Tracing spans from the tracing bridge's records (`northstar-tracing`): a span is stored as a
//! `span_begin` record (its id, parent, thread and fields, at creation), maybe `span_record`
//! records (values recorded later) and a `span_end` record (at close, with the `duration`
//! from creation to close). The exporters that show spans as spans (OTLP traces, Perfetto
//! slices) pair them here: a begin is kept until its end, then the whole span is handed over.
//!
//! **Identity.** tracing reuses the ids of closed spans, so a span is keyed by (actor,
//! tracing id) only while it is open; its exported identity is the event id of its
//! `span_begin` record (unique in the store). The trace of a span is its root's identity:
//! a child created while its parent is open inherits the parent's trace.
//!
//! **Memory.** At most [`OPEN_CAP`] spans are kept open (their fields copied); a begin beyond
//! that is not kept and counted in [`SpanTracker::untracked`]: its end still becomes a span
//! (timed by its `duration`, without the begin's fields or parent). Spans still open when the
//! export ends are handed over by [`SpanTracker::drain`] (their end unknown).

use std::collections::HashMap;

use northstar_core::user::FieldValue;

use crate::{Item, UserEvent};

/// Spans kept open at most.
pub const OPEN_CAP: usize = 100_000;

/// An owned field value (a span's fields outlive their block).
#[derive(Clone, Debug, PartialEq)]
pub enum Owned {
    /// Unsigned integer (durations: nanoseconds).
    U64(u64),
    /// Signed integer.
    I64(i64),
    /// Float.
    F64(f64),
    /// Bool.
    Bool(bool),
    /// Text.
    Str(String),
    /// Bytes.
    Bytes(Vec<u8>),
    /// An absent optional.
    None,
}

impl Owned {
    /// Copies a borrowed value.
    pub fn of(v: FieldValue<'_>) -> Self {
        match v {
            FieldValue::U64(x) | FieldValue::DurationNs(x) => Owned::U64(x),
            FieldValue::I64(x) => Owned::I64(x),
            FieldValue::F64(x) => Owned::F64(x),
            FieldValue::Bool(b) => Owned::Bool(b),
            FieldValue::Str(s) => Owned::Str(s.to_owned()),
            FieldValue::Bytes(b) => Owned::Bytes(b.to_vec()),
            FieldValue::None => Owned::None,
        }
    }

    /// As a visitor scalar (`None` for an absent optional).
    pub fn scalar(&self) -> Option<crate::fields::Scalar<'_>> {
        use crate::fields::Scalar;
        Some(match self {
            Owned::U64(x) => Scalar::U64(*x),
            Owned::I64(x) => Scalar::I64(*x),
            Owned::F64(x) => Scalar::F64(*x),
            Owned::Bool(b) => Scalar::Bool(*b),
            Owned::Str(s) => Scalar::Str(s),
            Owned::Bytes(b) => Scalar::Bytes(b),
            Owned::None => return None,
        })
    }
}

/// The bridge's own fields of span records (structure, not the span's fields).
const BRIDGE_FIELDS: [&str; 4] = ["span_id", "parent", "thread", "duration"];

/// One span, begun (and maybe ended).
#[derive(Clone, Debug)]
pub struct Span {
    /// The span's identity: its `span_begin` record's event id (or, when the begin was not
    /// seen, its `span_end`'s).
    pub id: u64,
    /// Its trace: the identity of its root span.
    pub trace: u64,
    /// Its parent's identity (when it has a parent whose begin was seen).
    pub parent: Option<u64>,
    /// The span's name (its callsite's).
    pub name: String,
    /// `level` and `target` constants.
    pub level: String,
    /// The tracing target.
    pub target: String,
    /// The bridge's thread number.
    pub thread: u64,
    /// The actor of its records.
    pub actor: u64,
    /// Start, Unix ns: the begin's timestamp, else end minus `duration`.
    pub start: u64,
    /// End, Unix ns (`None`: still open when the export ended).
    pub end: Option<u64>,
    /// The span's own fields (creation values, then values recorded later), in order.
    pub fields: Vec<(String, Owned)>,
    /// Whether the begin record was seen (else the fields and parent are unknown).
    pub begun: bool,
    /// Event ids of the `span_record` records merged into it.
    pub records: Vec<u64>,
    /// Event id of its `span_end` record.
    pub end_id: Option<u64>,
}

/// Pairs span records (see the module docs).
#[derive(Debug, Default)]
pub struct SpanTracker {
    open: HashMap<(u64, u64), Span>,
    /// Begins not kept because [`OPEN_CAP`] spans were open.
    pub untracked: u64,
}

fn u64_field(u: &UserEvent<'_>, name: &str) -> u64 {
    match u.field(name) {
        Some(FieldValue::U64(x)) | Some(FieldValue::DurationNs(x)) => x,
        _ => 0,
    }
}

fn own_fields(u: &UserEvent<'_>, out: &mut Vec<(String, Owned)>) {
    for (name, v) in u.values() {
        if BRIDGE_FIELDS.contains(&name) {
            continue;
        }
        match out.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => {
                if v != FieldValue::None {
                    slot.1 = Owned::of(v);
                }
            }
            None => out.push((name.to_owned(), Owned::of(v))),
        }
    }
}

impl SpanTracker {
    /// A `span_begin` record: keeps the span open (within the cap).
    pub fn begin(&mut self, item: &Item<'_>, u: &UserEvent<'_>) {
        if self.open.len() >= OPEN_CAP {
            self.untracked += 1;
            return;
        }
        let id = u64_field(u, "span_id");
        let parent_key = u64_field(u, "parent");
        let parent = (parent_key != 0)
            .then(|| self.open.get(&(item.actor_id, parent_key)))
            .flatten();
        let (parent, trace) = match parent {
            Some(p) => (Some(p.id), p.trace),
            None => (None, item.event_id),
        };
        let mut fields = Vec::new();
        own_fields(u, &mut fields);
        self.open.insert(
            (item.actor_id, id),
            Span {
                id: item.event_id,
                trace,
                parent,
                name: u.name().to_owned(),
                level: u.konst("level").unwrap_or("").to_owned(),
                target: u.konst("target").unwrap_or("").to_owned(),
                thread: u64_field(u, "thread"),
                actor: item.actor_id,
                start: item.timestamp,
                end: None,
                fields,
                begun: true,
                records: Vec::new(),
                end_id: None,
            },
        );
    }

    /// A `span_record` record: its values join the open span's fields. `false` when the span
    /// is not open here (the caller shows the record on its own).
    pub fn record(&mut self, item: &Item<'_>, u: &UserEvent<'_>) -> bool {
        let id = u64_field(u, "span_id");
        match self.open.get_mut(&(item.actor_id, id)) {
            Some(span) => {
                own_fields(u, &mut span.fields);
                span.records.push(item.event_id);
                true
            }
            None => false,
        }
    }

    /// A `span_end` record: the finished span.
    pub fn end(&mut self, item: &Item<'_>, u: &UserEvent<'_>) -> Span {
        let id = u64_field(u, "span_id");
        let duration = match u.field("duration") {
            Some(FieldValue::U64(x)) | Some(FieldValue::DurationNs(x)) => Some(x),
            _ => None,
        };
        let mut span = self
            .open
            .remove(&(item.actor_id, id))
            .unwrap_or_else(|| Span {
                id: item.event_id,
                trace: item.event_id,
                parent: None,
                name: u.name().to_owned(),
                level: u.konst("level").unwrap_or("").to_owned(),
                target: u.konst("target").unwrap_or("").to_owned(),
                thread: u64_field(u, "thread"),
                actor: item.actor_id,
                start: item.timestamp.saturating_sub(duration.unwrap_or(0)),
                end: None,
                fields: Vec::new(),
                begun: false,
                records: Vec::new(),
                end_id: None,
            });
        span.start = span.start.min(item.timestamp);
        span.end = Some(item.timestamp);
        span.end_id = Some(item.event_id);
        span
    }

    /// The open span a record of `actor` names by its tracing id (an event's `span` field).
    pub fn get(&self, actor: u64, span_id: u64) -> Option<&Span> {
        (span_id != 0)
            .then(|| self.open.get(&(actor, span_id)))
            .flatten()
    }

    /// Spans still open (their end never came), oldest first; the tracker is left empty.
    pub fn drain(&mut self) -> Vec<Span> {
        let mut v: Vec<Span> = self.open.drain().map(|(_, s)| s).collect();
        v.sort_by_key(|s| s.id);
        v
    }
}
