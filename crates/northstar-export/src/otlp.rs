//! OpenTelemetry (OTLP) from stored events, each on its right signal:
//! - **traces**: every `agent_operation` with a duration is a span (`name` = operation type,
//!   start = `timestamp - duration_ns`, end = `timestamp`, status from `status`, the fields as
//!   attributes). Spans of one (actor, session) share a trace id; their parent is the
//!   session's span, which is written when `agent_session_ended` is read (from the session's
//!   `agent_session_started` when it was read, else from the end alone). Northstar records no
//!   parent operation id, so operations are children of their session, not of each other.
//! - **metrics**: every `perf_sample` is a gauge data point (metric name, unit, dimensions as
//!   attributes, value as a double, `timestamp_window` as start/end time when set).
//! - **logs**: every other event (and operations without a duration) is a log record:
//!   `event.name` and the Northstar ids as attributes, the spec's payload as a structured
//!   `kvlistValue` body, and the trace/span id of its session when it has one.
//! - **user-defined events**: the tracing bridge's spans (creation, later values and close
//!   records, paired by [`crate::spans`]) are spans: span id = the creation record's event id,
//!   parent = the parent span's, trace = the root's; fields, `level`, `target`, `thread.id` as
//!   attributes, and `northstar.event_id` / `northstar.end_event_id` /
//!   `northstar.record_event_ids` naming the records it carries. Tracing events are log
//!   records (severity from `level`, trace and span id of their span when it is open). Every
//!   other user event is one gauge point per numeric field (`<event>.<field>`, integers as
//!   `asInt`, durations with unit `ns`, the text and bool fields and the constants as
//!   attributes) and, when it has non-numeric runtime fields or no numeric one, a log record
//!   with every field in its body.
//!
//! Two encodings of the same messages: protobuf (what OTLP/HTTP sends) and OTLP/JSON (the
//! spec's JSON mapping: lowerCamelCase names, trace and span ids as hex, 64-bit integers as
//! decimal strings, enums as numbers). Requests are cut by item count and by bytes.

use std::collections::HashMap;

use crate::fields::{user_scalar, visit_item, FieldVisitor, Group, Scalar};
use crate::json::{push_f64, push_i64, push_str, push_u64};
use crate::pb::PbWriter;
use crate::spans::{Span, SpanTracker};
use crate::{Data, Item, Result, Sink, TracingKind, UserEvent};
use northstar_core::user::FieldValue;
use northstar_core::Event;

/// The three OTLP signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Signal {
    /// Spans (`/v1/traces`).
    Traces,
    /// Metric points (`/v1/metrics`).
    Metrics,
    /// Log records (`/v1/logs`).
    Logs,
}

impl Signal {
    /// All three, in the order batches are sent.
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    /// The OTLP/HTTP path.
    pub fn path(self) -> &'static str {
        match self {
            Signal::Traces => "/v1/traces",
            Signal::Metrics => "/v1/metrics",
            Signal::Logs => "/v1/logs",
        }
    }

    /// Short name (`traces`, `metrics`, `logs`).
    pub fn name(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }

    /// What one item of the signal is called (`spans`, `data points`, `log records`).
    pub fn items(self) -> &'static str {
        match self {
            Signal::Traces => "spans",
            Signal::Metrics => "data points",
            Signal::Logs => "log records",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// (resource field, scope field, item field) names for JSON, e.g. `resourceSpans`.
    fn json_names(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Signal::Traces => ("resourceSpans", "scopeSpans", "spans"),
            Signal::Metrics => ("resourceMetrics", "scopeMetrics", "metrics"),
            Signal::Logs => ("resourceLogs", "scopeLogs", "logRecords"),
        }
    }
}

/// Protobuf or OTLP/JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Binary protobuf (OTLP/HTTP's default).
    Protobuf,
    /// OTLP/JSON.
    Json,
}

/// One encoder for both encodings: message fields are named for JSON and numbered for
/// protobuf.
enum Enc {
    Pb { w: PbWriter, lists: Vec<u32> },
    Json { s: String, stack: Vec<(bool, bool)> },
}

impl Enc {
    fn new(encoding: Encoding) -> Self {
        match encoding {
            Encoding::Protobuf => Enc::Pb {
                w: PbWriter::new(),
                lists: Vec::new(),
            },
            Encoding::Json => Enc::Json {
                s: String::new(),
                stack: vec![(false, false)],
            },
        }
    }

    fn len(&self) -> usize {
        match self {
            Enc::Pb { w, .. } => w.len(),
            Enc::Json { s, .. } => s.len(),
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Enc::Pb { w, .. } => w.bytes(),
            Enc::Json { s, .. } => s.as_bytes(),
        }
    }

    fn clear(&mut self) {
        match self {
            Enc::Pb { w, lists } => {
                w.clear();
                lists.clear();
            }
            Enc::Json { s, stack } => {
                s.clear();
                stack.clear();
                stack.push((false, false));
            }
        }
    }

    /// JSON: the separator and key before a member (or item, inside a list).
    #[inline]
    fn key(s: &mut String, stack: &mut [(bool, bool)], name: &str) {
        if let Some((has, list)) = stack.last_mut() {
            if *has {
                s.push(',');
            }
            *has = true;
            if !*list {
                s.push('"');
                s.push_str(name);
                s.push_str("\":");
            }
        }
    }

    fn msg(&mut self, name: &str, no: u32) {
        match self {
            Enc::Pb { w, .. } => w.begin(no),
            Enc::Json { s, stack } => {
                Self::key(s, stack, name);
                s.push('{');
                stack.push((false, false));
            }
        }
    }

    fn end(&mut self) {
        match self {
            Enc::Pb { w, .. } => w.end(),
            Enc::Json { s, stack } => {
                stack.pop();
                s.push('}');
            }
        }
    }

    fn list(&mut self, name: &str, no: u32) {
        match self {
            Enc::Pb { lists, .. } => lists.push(no),
            Enc::Json { s, stack } => {
                Self::key(s, stack, name);
                s.push('[');
                stack.push((false, true));
            }
        }
    }

    fn item(&mut self) {
        match self {
            Enc::Pb { w, lists } => w.begin(lists.last().copied().unwrap_or(1)),
            Enc::Json { s, stack } => {
                Self::key(s, stack, "");
                s.push('{');
                stack.push((false, false));
            }
        }
    }

    fn end_list(&mut self) {
        match self {
            Enc::Pb { lists, .. } => {
                lists.pop();
            }
            Enc::Json { s, stack } => {
                stack.pop();
                s.push(']');
            }
        }
    }

    fn str(&mut self, name: &str, no: u32, v: &str) {
        match self {
            Enc::Pb { w, .. } => w.string(no, v),
            Enc::Json { s, stack } => {
                Self::key(s, stack, name);
                push_str(s, v);
            }
        }
    }

    fn id(&mut self, name: &str, no: u32, v: &[u8]) {
        match self {
            Enc::Pb { w, .. } => w.bytes_field(no, v),
            Enc::Json { s, stack } => {
                Self::key(s, stack, name);
                s.push('"');
                crate::json::push_hex(s, v);
                s.push('"');
            }
        }
    }

    fn fixed64(&mut self, name: &str, no: u32, v: u64) {
        match self {
            Enc::Pb { w, .. } => w.fixed64(no, v),
            Enc::Json { s, stack } => {
                Self::key(s, stack, name);
                s.push('"');
                push_u64(s, v);
                s.push('"');
            }
        }
    }

    fn int64(&mut self, name: &str, no: u32, v: i64) {
        match self {
            Enc::Pb { w, .. } => w.int(no, v),
            Enc::Json { s, stack } => {
                Self::key(s, stack, name);
                s.push('"');
                push_i64(s, v);
                s.push('"');
            }
        }
    }

    /// An `sfixed64` field (a number data point's `asInt`).
    fn sfixed64(&mut self, name: &str, no: u32, v: i64) {
        match self {
            Enc::Pb { w, .. } => w.fixed64(no, v as u64),
            Enc::Json { s, stack } => {
                Self::key(s, stack, name);
                s.push('"');
                push_i64(s, v);
                s.push('"');
            }
        }
    }

    fn boolv(&mut self, name: &str, no: u32, v: bool) {
        match self {
            Enc::Pb { w, .. } => w.uint(no, u64::from(v)),
            Enc::Json { s, stack } => {
                Self::key(s, stack, name);
                s.push_str(if v { "true" } else { "false" });
            }
        }
    }

    fn enumv(&mut self, name: &str, no: u32, v: u32) {
        match self {
            Enc::Pb { w, .. } => w.uint(no, u64::from(v)),
            Enc::Json { s, stack } => {
                Self::key(s, stack, name);
                push_u64(s, u64::from(v));
            }
        }
    }

    fn double(&mut self, name: &str, no: u32, v: f64) {
        match self {
            Enc::Pb { w, .. } => w.double(no, v),
            Enc::Json { s, stack } => {
                Self::key(s, stack, name);
                if v.is_finite() {
                    push_f64(s, v);
                } else if v.is_nan() {
                    s.push_str("\"NaN\"");
                } else if v > 0.0 {
                    s.push_str("\"Infinity\"");
                } else {
                    s.push_str("\"-Infinity\"");
                }
            }
        }
    }

    /// A `KeyValue` item of the current list.
    fn kv_begin(&mut self, key: &str) {
        self.item();
        self.str("key", 1, key);
        self.msg("value", 2);
    }

    fn kv_end(&mut self) {
        self.end();
        self.end();
    }

    fn attr_str(&mut self, key: &str, v: &str) {
        self.kv_begin(key);
        self.str("stringValue", 1, v);
        self.kv_end();
    }

    fn attr_u64(&mut self, key: &str, v: u64) {
        self.kv_begin(key);
        any_u64(self, v);
        self.kv_end();
    }
}

/// An unsigned integer as an `AnyValue`: `intValue` when it fits an int64, else its exact
/// digits as a string (OTLP integers are signed).
fn any_u64(e: &mut Enc, v: u64) {
    match i64::try_from(v) {
        Ok(i) => e.int64("intValue", 3, i),
        Err(_) => e.str("stringValue", 1, &v.to_string()),
    }
}

fn any_scalar(e: &mut Enc, v: Scalar<'_>) {
    match v {
        Scalar::U64(v) => any_u64(e, v),
        Scalar::I64(v) => e.int64("intValue", 3, v),
        Scalar::F64(v) => e.double("doubleValue", 4, v),
        Scalar::Str(s) => e.str("stringValue", 1, s),
        Scalar::Bool(b) => e.boolv("boolValue", 2, b),
        Scalar::Bytes(b) => e.str("stringValue", 1, &crate::hex(b)),
    }
}

/// Writes visited fields as `KeyValue`s of the open list (nested groups as kvlist or array
/// values).
struct KvFields<'e> {
    e: &'e mut Enc,
    /// Per open group: whether it is an array (items have no key).
    stack: Vec<bool>,
    /// Top-level field names to leave out.
    skip: &'e [&'e str],
}

impl KvFields<'_> {
    fn in_array(&self) -> bool {
        self.stack.last().copied().unwrap_or(false)
    }

    fn open_value(&mut self, name: &str) {
        if self.in_array() {
            self.e.item(); // an AnyValue of ArrayValue.values
        } else {
            self.e.kv_begin(name);
        }
    }

    fn close_value(&mut self) {
        if self.in_array() {
            self.e.end();
        } else {
            self.e.kv_end();
        }
    }
}

impl<'a> FieldVisitor<'a> for KvFields<'_> {
    fn scalar(&mut self, name: &str, value: Scalar<'a>) {
        if self.stack.is_empty() && self.skip.contains(&name) {
            return;
        }
        self.open_value(name);
        any_scalar(self.e, value);
        self.close_value();
    }

    fn begin(&mut self, name: &str, group: Group) {
        self.open_value(name);
        let array = group == Group::List;
        if array {
            self.e.msg("arrayValue", 5);
        } else {
            self.e.msg("kvlistValue", 6);
        }
        self.e.list("values", 1);
        self.stack.push(array);
    }

    fn end(&mut self) {
        self.stack.pop();
        self.e.end_list();
        self.e.end();
        self.close_value();
    }
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The trace id of an (actor, session): 16 bytes, never all zero.
pub fn trace_id(actor: u64, session: u64) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&(mix(actor) | 1).to_be_bytes());
    id[8..].copy_from_slice(&mix(session ^ 0x5e55_1011).to_be_bytes());
    id
}

/// The span id of an (actor, session)'s session span.
pub fn session_span_id(actor: u64, session: u64) -> [u8; 8] {
    (mix(actor ^ mix(session)) | 1).to_be_bytes()
}

/// The trace id of a tracing span tree, from its root span's identity (an event id).
pub fn span_trace_id(root: u64) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&(mix(root ^ 0x7472_6163_6500) | 1).to_be_bytes());
    id[8..].copy_from_slice(&root.to_be_bytes());
    id
}

/// The span id of an operation: its event id (unique, never zero in a store).
pub fn operation_span_id(event_id: u64) -> [u8; 8] {
    event_id.to_be_bytes()
}

/// Batches of one signal being filled.
struct Batch {
    /// The request being filled: its envelope, then the items.
    items: Enc,
    count: usize,
    /// Bytes of the envelope (not counted against the byte limit).
    prefix: usize,
}

pub use crate::batch::BatchLimits;

/// Sessions whose start time is remembered, at most.
const SESSIONS_CAP: usize = 100_000;

/// Turns events into OTLP requests; hands each finished request body to `out`.
pub struct OtlpSink<F: FnMut(Signal, &[u8]) -> Result<()>> {
    encoding: Encoding,
    limits: BatchLimits,
    batches: [Batch; 3],
    out: F,
    sessions: HashMap<(u64, u64), u64>,
    counts: [u64; 3],
    queue: Option<Vec<(Signal, Vec<u8>)>>,
    spans: SpanTracker,
}

/// The output of a sink that keeps its requests (see [`OtlpSink::queued`]).
pub type Queued = fn(Signal, &[u8]) -> Result<()>;

fn unused_output(_: Signal, _: &[u8]) -> Result<()> {
    Ok(())
}

impl OtlpSink<Queued> {
    /// A sink that keeps finished requests until [`take_queue`](Self::take_queue).
    pub fn queued(encoding: Encoding, limits: BatchLimits) -> Self {
        let mut s = Self::new(encoding, limits, unused_output as Queued);
        s.queue = Some(Vec::new());
        s
    }

    /// The finished requests, oldest first.
    pub fn take_queue(&mut self) -> Vec<(Signal, Vec<u8>)> {
        self.queue.as_mut().map(std::mem::take).unwrap_or_default()
    }
}

impl<F: FnMut(Signal, &[u8]) -> Result<()>> OtlpSink<F> {
    /// A sink writing `encoding` requests of at most `limits` to `out`.
    pub fn new(encoding: Encoding, limits: BatchLimits, out: F) -> Self {
        let batch = || Batch {
            items: Enc::new(encoding),
            count: 0,
            prefix: 0,
        };
        let mut batches = [batch(), batch(), batch()];
        for (b, s) in batches.iter_mut().zip(Signal::ALL) {
            b.prefix = start_items(&mut b.items, s);
        }
        Self {
            encoding,
            limits: BatchLimits {
                items: limits.items.max(1),
                bytes: limits.bytes.max(1024),
            },
            batches,
            out,
            sessions: HashMap::new(),
            counts: [0; 3],
            queue: None,
            spans: SpanTracker::default(),
        }
    }

    /// Items written per signal (traces, metrics, logs), flushed or not.
    pub fn counts(&self) -> [u64; 3] {
        self.counts
    }

    /// Items waiting in unsent requests.
    pub fn pending(&self) -> usize {
        self.batches.iter().map(|b| b.count).sum()
    }

    /// Sends every non-empty batch now.
    pub fn flush_all(&mut self) -> Result<()> {
        for s in Signal::ALL {
            self.flush(s)?;
        }
        Ok(())
    }

    fn flush(&mut self, signal: Signal) -> Result<()> {
        let b = &mut self.batches[signal.index()];
        if b.count == 0 {
            return Ok(());
        }
        // The batch buffer is the request: its envelope was opened before the first item
        // (see `start_items`), so closing it here is all that is left (no copy).
        let r = &mut b.items;
        r.end_list();
        r.end();
        r.end_list();
        r.end();
        r.end_list();
        if let Enc::Json { s, .. } = r {
            s.push('}');
        }
        b.count = 0;
        let sent = match &mut self.queue {
            Some(q) => {
                q.push((signal, b.items.bytes().to_vec()));
                Ok(())
            }
            None => (self.out)(signal, b.items.bytes()),
        };
        b.items.clear();
        b.prefix = start_items(&mut b.items, signal);
        sent
    }

    fn done(&mut self, signal: Signal) -> Result<()> {
        let b = &mut self.batches[signal.index()];
        b.count += 1;
        self.counts[signal.index()] += 1;
        if self.limits.full(b.count, b.items.len() - b.prefix) {
            self.flush(signal)?;
        }
        Ok(())
    }

    fn common_attrs(e: &mut Enc, item: &Item<'_>) {
        e.attr_str("event.name", item.type_name());
        e.attr_u64("northstar.event_id", item.event_id);
        e.attr_u64("northstar.event_code", u64::from(item.type_code()));
        e.attr_u64("northstar.actor_id", item.actor_id);
        e.attr_str("northstar.visibility", item.visibility.name());
        if let Some(s) = item.session_id() {
            e.attr_u64("northstar.session_id", s);
        }
    }

    fn span(
        &mut self,
        item: &Item<'_>,
        op: &northstar_core::events::AgentOperation<'_>,
    ) -> Result<()> {
        let e = &mut self.batches[Signal::Traces.index()].items;
        let dur = op.duration_ns.unwrap_or(0).max(0) as u64;
        e.item();
        e.id("traceId", 1, &trace_id(item.actor_id, op.session_id));
        e.id("spanId", 2, &operation_span_id(item.event_id));
        e.id(
            "parentSpanId",
            4,
            &session_span_id(item.actor_id, op.session_id),
        );
        e.str("name", 5, op.operation_type);
        e.enumv("kind", 6, 1);
        e.fixed64("startTimeUnixNano", 7, item.timestamp.saturating_sub(dur));
        e.fixed64("endTimeUnixNano", 8, item.timestamp);
        e.list("attributes", 9);
        Self::common_attrs(e, item);
        visit_item(
            item,
            &mut KvFields {
                e,
                stack: Vec::new(),
                skip: &["session_id"],
            },
        );
        e.end_list();
        e.msg("status", 15);
        match op.status {
            "completed" | "ok" | "success" => e.enumv("code", 3, 1),
            "failed" | "error" => {
                e.str("message", 2, op.status);
                e.enumv("code", 3, 2);
            }
            _ => {}
        }
        e.end();
        e.end();
        self.done(Signal::Traces)
    }

    fn session_span(&mut self, item: &Item<'_>, session: u64) -> Result<()> {
        let start = self
            .sessions
            .remove(&(item.actor_id, session))
            .unwrap_or(item.timestamp);
        let e = &mut self.batches[Signal::Traces.index()].items;
        e.item();
        e.id("traceId", 1, &trace_id(item.actor_id, session));
        e.id("spanId", 2, &session_span_id(item.actor_id, session));
        let name = format!("session {session}");
        e.str("name", 5, &name);
        e.enumv("kind", 6, 1);
        e.fixed64("startTimeUnixNano", 7, start.min(item.timestamp));
        e.fixed64("endTimeUnixNano", 8, item.timestamp);
        e.list("attributes", 9);
        e.attr_u64("northstar.actor_id", item.actor_id);
        e.attr_u64("northstar.session_id", session);
        e.end_list();
        e.end();
        self.done(Signal::Traces)
    }

    fn metric(
        &mut self,
        item: &Item<'_>,
        p: &northstar_core::events::PerfSample<'_>,
    ) -> Result<()> {
        let e = &mut self.batches[Signal::Metrics.index()].items;
        e.item();
        e.str("name", 1, p.metric_name);
        if !p.unit.is_empty() {
            e.str("unit", 3, p.unit);
        }
        e.msg("gauge", 5);
        e.list("dataPoints", 1);
        e.item();
        e.list("attributes", 7);
        for (k, v) in p.dimensions.iter() {
            e.attr_str(k, v);
        }
        e.attr_u64("northstar.event_id", item.event_id);
        if item.actor_id != 0 {
            e.attr_u64("northstar.actor_id", item.actor_id);
        }
        e.end_list();
        let w = p.timestamp_window;
        if w.start > 0 && w.end >= w.start {
            e.fixed64("startTimeUnixNano", 2, w.start as u64);
        }
        e.fixed64("timeUnixNano", 3, item.timestamp);
        e.double("asDouble", 4, p.value);
        e.end();
        e.end_list();
        e.end();
        e.end();
        self.done(Signal::Metrics)
    }

    fn log(&mut self, item: &Item<'_>) -> Result<()> {
        use northstar_core::events::Severity;
        let (num, text) = match &item.data {
            Data::Spec(Event::PerfRegression(r)) => match r.severity {
                Severity::Minor | Severity::Moderate => (13, "WARN"),
                Severity::Severe => (17, "ERROR"),
            },
            Data::User(u) => match u.konst("level") {
                Some("TRACE") => (1, "TRACE"),
                Some("DEBUG") => (5, "DEBUG"),
                Some("WARN") => (13, "WARN"),
                Some("ERROR") => (17, "ERROR"),
                _ => (9, "INFO"),
            },
            _ => (9, "INFO"),
        };
        // A tracing event (or a span's later values) belongs to its span, when it is open.
        let link = match &item.data {
            Data::User(u) => {
                let key = match u.tracing() {
                    Some(TracingKind::Event) => u.field("span"),
                    Some(TracingKind::SpanRecord) => u.field("span_id"),
                    _ => None,
                };
                match key {
                    Some(FieldValue::U64(k)) => {
                        self.spans.get(item.actor_id, k).map(|s| (s.trace, s.id))
                    }
                    _ => None,
                }
            }
            Data::Spec(_) => None,
        };
        let session = item.session_id();
        let e = &mut self.batches[Signal::Logs.index()].items;
        e.item();
        e.fixed64("timeUnixNano", 1, item.timestamp);
        e.fixed64("observedTimeUnixNano", 11, item.timestamp);
        e.enumv("severityNumber", 2, num);
        e.str("severityText", 3, text);
        e.msg("body", 5);
        e.msg("kvlistValue", 6);
        e.list("values", 1);
        visit_item(
            item,
            &mut KvFields {
                e,
                stack: Vec::new(),
                skip: &["session_id"],
            },
        );
        e.end_list();
        e.end();
        e.end();
        e.list("attributes", 6);
        Self::common_attrs(e, item);
        e.end_list();
        if let Some(s) = session {
            e.id("traceId", 9, &trace_id(item.actor_id, s));
            e.id("spanId", 10, &session_span_id(item.actor_id, s));
        } else if let Some((trace, span)) = link {
            e.id("traceId", 9, &span_trace_id(trace));
            e.id("spanId", 10, &operation_span_id(span));
        }
        e.str("eventName", 12, item.type_name());
        e.end();
        self.done(Signal::Logs)
    }

    /// A user event that is not a tracing record: one gauge point per numeric field (named
    /// `<event>.<field>`), and a log record when it has other runtime fields or no numeric one.
    fn user_event(&mut self, item: &Item<'_>, u: &UserEvent<'_>) -> Result<()> {
        let mut numeric = 0usize;
        let mut other = 0usize;
        for (_, v) in u.values() {
            match v {
                FieldValue::U64(_)
                | FieldValue::I64(_)
                | FieldValue::F64(_)
                | FieldValue::DurationNs(_) => numeric += 1,
                _ => other += 1,
            }
        }
        if numeric > 0 {
            let mut name = String::new();
            for (field, v) in u.values() {
                let e = &mut self.batches[Signal::Metrics.index()].items;
                name.clear();
                name.push_str(u.name());
                name.push('.');
                name.push_str(field);
                let unit = match v {
                    FieldValue::DurationNs(_) => "ns",
                    FieldValue::U64(_) | FieldValue::I64(_) | FieldValue::F64(_) => "",
                    _ => continue,
                };
                e.item();
                e.str("name", 1, &name);
                if !unit.is_empty() {
                    e.str("unit", 3, unit);
                }
                e.msg("gauge", 5);
                e.list("dataPoints", 1);
                e.item();
                e.list("attributes", 7);
                e.attr_str("event.name", u.name());
                e.attr_u64("northstar.event_id", item.event_id);
                if item.actor_id != 0 {
                    e.attr_u64("northstar.actor_id", item.actor_id);
                }
                // The event's text and bool fields label the point.
                for (k, x) in u.values() {
                    if matches!(x, FieldValue::Str(_) | FieldValue::Bool(_)) {
                        if let Some(sc) = user_scalar(x) {
                            e.kv_begin(k);
                            any_scalar(e, sc);
                            e.kv_end();
                        }
                    }
                }
                for (k, x) in u.consts() {
                    e.attr_str(k, x);
                }
                e.end_list();
                e.fixed64("timeUnixNano", 3, item.timestamp);
                match v {
                    FieldValue::U64(x) | FieldValue::DurationNs(x) => match i64::try_from(x) {
                        Ok(i) => e.sfixed64("asInt", 6, i),
                        Err(_) => e.double("asDouble", 4, x as f64),
                    },
                    FieldValue::I64(x) => e.sfixed64("asInt", 6, x),
                    FieldValue::F64(x) => e.double("asDouble", 4, x),
                    _ => {}
                }
                e.end();
                e.end_list();
                e.end();
                e.end();
                self.done(Signal::Metrics)?;
            }
        }
        if other > 0 || numeric == 0 {
            self.log(item)?;
        }
        Ok(())
    }

    /// A tracing span (paired by [`SpanTracker`]) as an OTLP span: its identity and parent
    /// from the begin record, its fields as attributes, its level and target.
    fn tracing_span(&mut self, s: &Span) -> Result<()> {
        let e = &mut self.batches[Signal::Traces.index()].items;
        e.item();
        e.id("traceId", 1, &span_trace_id(s.trace));
        e.id("spanId", 2, &operation_span_id(s.id));
        if let Some(p) = s.parent {
            e.id("parentSpanId", 4, &operation_span_id(p));
        }
        e.str("name", 5, &s.name);
        e.enumv("kind", 6, 1);
        e.fixed64("startTimeUnixNano", 7, s.start);
        e.fixed64("endTimeUnixNano", 8, s.end.unwrap_or(s.start));
        e.list("attributes", 9);
        e.attr_str("event.name", &s.name);
        if s.begun {
            e.attr_u64("northstar.event_id", s.id);
        }
        if let Some(end) = s.end_id {
            e.attr_u64("northstar.end_event_id", end);
        }
        if !s.records.is_empty() {
            e.kv_begin("northstar.record_event_ids");
            e.msg("arrayValue", 5);
            e.list("values", 1);
            for &r in &s.records {
                e.item();
                any_u64(e, r);
                e.end();
            }
            e.end_list();
            e.end();
            e.kv_end();
        }
        if s.end.is_none() {
            e.kv_begin("northstar.span_open");
            e.boolv("boolValue", 2, true);
            e.kv_end();
        }
        e.attr_u64("northstar.actor_id", s.actor);
        e.attr_u64("thread.id", s.thread);
        e.attr_str("level", &s.level);
        e.attr_str("target", &s.target);
        for (k, v) in &s.fields {
            if let Some(sc) = v.scalar() {
                e.kv_begin(k);
                any_scalar(e, sc);
                e.kv_end();
            }
        }
        e.end_list();
        if s.level == "ERROR" {
            e.msg("status", 15);
            e.enumv("code", 3, 2);
            e.end();
        }
        e.end();
        self.done(Signal::Traces)
    }

    /// Writes the tracing spans still open as spans (`northstar.span_open`, end = start):
    /// their end was not read (the export ended first, or the span never closed).
    pub fn flush_open_spans(&mut self) -> Result<()> {
        for s in self.spans.drain() {
            self.tracing_span(&s)?;
        }
        Ok(())
    }

    /// The encoding in use.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }
}

/// Opens a request's envelope in a fresh batch buffer (resource, scope, then the scope's
/// repeated item field), so items are encoded straight into the request; returns its length.
fn start_items(e: &mut Enc, signal: Signal) -> usize {
    let (resource, scope, items) = signal.json_names();
    if let Enc::Json { s, .. } = e {
        // The request object: its members follow.
        s.push('{');
    }
    e.list(resource, 1);
    e.item();
    e.msg("resource", 1);
    e.list("attributes", 1);
    e.attr_str("service.name", "northstar");
    e.end_list();
    e.end();
    e.list(scope, 2);
    e.item();
    e.msg("scope", 1);
    e.str("name", 1, "northstar");
    e.str("version", 2, env!("CARGO_PKG_VERSION"));
    e.end();
    e.list(items, 2);
    e.len()
}

impl<F: FnMut(Signal, &[u8]) -> Result<()>> Sink for OtlpSink<F> {
    fn event(&mut self, item: &Item<'_>) -> Result<()> {
        let ev = match &item.data {
            Data::Spec(ev) => ev,
            Data::User(u) => {
                return match u.tracing() {
                    Some(TracingKind::SpanBegin) => {
                        self.spans.begin(item, u);
                        Ok(())
                    }
                    Some(TracingKind::SpanRecord) => {
                        if self.spans.record(item, u) {
                            Ok(())
                        } else {
                            self.log(item)
                        }
                    }
                    Some(TracingKind::SpanEnd) => {
                        let s = self.spans.end(item, u);
                        self.tracing_span(&s)
                    }
                    Some(TracingKind::Event) => self.log(item),
                    None => self.user_event(item, u),
                };
            }
        };
        match ev {
            Event::AgentOperation(op) if op.duration_ns.is_some() => self.span(item, op),
            Event::PerfSample(p) => self.metric(item, p),
            ev => {
                match ev {
                    Event::AgentSessionStarted(s) => {
                        if self.sessions.len() >= SESSIONS_CAP {
                            self.sessions.clear();
                        }
                        self.sessions
                            .insert((item.actor_id, s.session_id), item.timestamp);
                    }
                    Event::AgentSessionEnded(s) => self.session_span(item, s.session_id)?,
                    _ => {}
                }
                self.log(item)
            }
        }
    }

    fn finish(&mut self) -> Result<()> {
        self.flush_open_spans()?;
        self.flush_all()
    }
}
