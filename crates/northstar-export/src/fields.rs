//! The per-event field visitor every exporter is built on.
//!
//! [`visit_event`] walks one event's payload fields in the spec's order and names, calling a
//! [`FieldVisitor`]: scalars, and groups (structs, lists, string maps) that nest. Exporters turn
//! the calls into their own shapes (Perfetto debug annotations, OTLP attributes and bodies,
//! JSON). A new kind of event (for example user-defined events) flows into every exporter by
//! adding one arm here that visits its fields.

use northstar_core::codec::List;
use northstar_core::events::{Breakpoint, StackFrame};
use northstar_core::user::FieldValue;
use northstar_core::{Event, StrList, StrMap};

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

/// What kind of group a [`FieldVisitor::begin`] opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// A nested struct: named fields follow.
    Struct,
    /// A list: items follow with the name `""`.
    List,
    /// A string map: one [`Scalar::Str`] per entry, named by its key.
    Map,
}

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

fn str_map<'a, V: FieldVisitor<'a>>(v: &mut V, name: &str, m: &StrMap<'a>) {
    v.begin(name, Group::Map);
    for (k, val) in m.iter() {
        v.scalar(k, Scalar::Str(val));
    }
    v.end();
}

fn str_list<'a, V: FieldVisitor<'a>>(v: &mut V, name: &str, l: &StrList<'a>) {
    v.begin(name, Group::List);
    for s in l.iter() {
        v.scalar("", Scalar::Str(s));
    }
    v.end();
}

fn opt_str<'a, V: FieldVisitor<'a>>(v: &mut V, name: &str, s: Option<&'a str>) {
    match s {
        Some(s) => v.scalar(name, Scalar::Str(s)),
        None => v.absent(name),
    }
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

/// Visits every payload field of `ev`, in the spec's order.
pub fn visit_event<'a, V: FieldVisitor<'a>>(ev: &Event<'a>, v: &mut V) {
    use Scalar::{Str, F64, I64, U64};
    match ev {
        Event::AgentSessionStarted(p) => {
            v.scalar("session_id", U64(p.session_id));
            v.scalar("agent_version", Str(p.agent_version));
            v.scalar("session_purpose", Str(p.session_purpose));
            str_map(v, "metadata", &p.metadata);
        }
        Event::AgentSessionEnded(p) => v.scalar("session_id", U64(p.session_id)),
        Event::AgentOperation(p) => {
            v.scalar("session_id", U64(p.session_id));
            v.scalar("operation_type", Str(p.operation_type));
            v.scalar("operation_id", U64(p.operation_id));
            v.scalar("target_type", Str(p.target_type));
            v.scalar("target_id", Str(p.target_id));
            v.scalar("status", Str(p.status));
            match p.duration_ns {
                Some(d) => v.scalar("duration_ns", I64(d)),
                None => v.absent("duration_ns"),
            }
            str_map(v, "metadata", &p.metadata);
        }
        Event::ReviewNote(p) => {
            v.scalar("target_type", Str(p.target_type));
            v.scalar("target_id", Str(p.target_id));
            v.scalar("note_text", Str(p.note_text));
            str_list(v, "references", &p.references);
            v.scalar("created_at", I64(p.created_at));
        }
        Event::ReviewSummary(p) => {
            v.scalar("target_type", Str(p.target_type));
            v.scalar("target_id", Str(p.target_id));
            v.scalar("summary_text", Str(p.summary_text));
            v.scalar("confidence", F64(f32_value(p.confidence)));
            v.scalar("model_id", Str(p.model_id));
            opt_str(v, "prompt_hash", p.prompt_hash);
            v.scalar("created_at", I64(p.created_at));
        }
        Event::PerfSample(p) => {
            v.scalar("metric_name", Str(p.metric_name));
            str_map(v, "dimensions", &p.dimensions);
            v.scalar("value", F64(p.value));
            v.scalar("unit", Str(p.unit));
            v.begin("timestamp_window", Group::Struct);
            v.scalar("start", I64(p.timestamp_window.start));
            v.scalar("end", I64(p.timestamp_window.end));
            v.end();
            v.begin("correlation_hints", Group::Struct);
            opt_str(v, "commit_range", p.correlation_hints.commit_range);
            v.begin("session_ids", Group::List);
            for id in p.correlation_hints.session_ids.iter() {
                v.scalar("", U64(id));
            }
            v.end();
            v.end();
        }
        Event::PerfRegression(p) => {
            v.scalar("metric_name", Str(p.metric_name));
            v.scalar("baseline_value", F64(p.baseline_value));
            v.scalar("current_value", F64(p.current_value));
            v.scalar("regression_percent", F64(f32_value(p.regression_percent)));
            v.scalar("severity", Str(p.severity.name()));
            v.scalar("detected_at", I64(p.detected_at));
            opt_str(v, "likely_cause", p.likely_cause);
            str_list(v, "correlated_commits", &p.correlated_commits);
        }
        Event::DebugSession(p) => {
            v.scalar("tool", Str(p.tool));
            v.scalar("session_id", U64(p.session_id));
            breakpoints(v, &p.breakpoints);
            opt_str(v, "stack_summary", p.stack_summary);
            v.begin("references", Group::Struct);
            str_list(v, "commit_ids", &p.references.commit_ids);
            str_list(v, "symbol_names", &p.references.symbol_names);
            v.end();
        }
        Event::DebugSnapshot(p) => {
            v.scalar("session_id", U64(p.session_id));
            v.scalar("snapshot_id", U64(p.snapshot_id));
            v.scalar("reason", Str(p.reason));
            v.scalar("thread_id", U64(p.thread_id));
            frames(v, &p.frames);
            str_map(v, "variables", &p.variables);
        }
        Event::VcsCommit(p) => {
            v.scalar("commit_hash", Str(p.commit_hash));
            v.scalar("commit_message", Str(p.commit_message));
            str_list(v, "changed_files", &p.changed_files);
            str_list(v, "parent_commits", &p.parent_commits);
            v.scalar("branch", Str(p.branch));
            v.scalar("timestamp", I64(p.timestamp));
        }
        Event::VcsBranch(p) => {
            v.scalar("branch", Str(p.branch));
            v.scalar("action", Str(p.action.name()));
            v.scalar("head_commit", Str(p.head_commit));
            opt_str(v, "base_branch", p.base_branch);
            v.scalar("ahead", U64(u64::from(p.ahead)));
            v.scalar("behind", U64(u64::from(p.behind)));
        }
    }
}

fn breakpoints<'a, V: FieldVisitor<'a>>(v: &mut V, l: &List<'a, Breakpoint<'a>>) {
    v.begin("breakpoints", Group::List);
    for b in l.iter() {
        v.begin("", Group::Struct);
        v.scalar("file_path", Scalar::Str(b.file_path));
        v.scalar("line", Scalar::U64(u64::from(b.line)));
        opt_str(v, "condition", b.condition);
        v.scalar("hit_count", Scalar::U64(u64::from(b.hit_count)));
        v.end();
    }
    v.end();
}

fn frames<'a, V: FieldVisitor<'a>>(v: &mut V, l: &List<'a, StackFrame<'a>>) {
    v.begin("frames", Group::List);
    for f in l.iter() {
        v.begin("", Group::Struct);
        v.scalar("function", Scalar::Str(f.function));
        v.scalar("file_path", Scalar::Str(f.file_path));
        v.scalar("line", Scalar::U64(u64::from(f.line)));
        v.end();
    }
    v.end();
}
