//! `northstar export --format perfetto`: a Perfetto trace (`Trace { repeated TracePacket }`,
//! protobuf) that ui.perfetto.dev opens.
//!
//! What the trace holds (one writer sequence, names interned as Perfetto's own writers do):
//! - one **process** per store, named `northstar: <directory name>`;
//! - one **track per (actor, session)**, named `actor A session S`: Northstar records no
//!   thread ids, and an agent's session is the unit that runs operations one after another
//!   (the demo runs one agent and one session per thread, so these are its threads). Events
//!   with an actor but no session go on a track `actor A`, events with neither on `store events`;
//! - every `agent_operation` with a duration is a **slice** from `timestamp - duration_ns` to
//!   `timestamp` (the operation is recorded when it ends). Operations that nest keep their
//!   nesting; operations of one track that overlap without nesting (two threads sharing an
//!   agent and session) go on extra tracks `actor A session S (2)`, ..., so every slice begins
//!   and ends on its own track;
//! - every `perf_sample` is a value on a **counter track** per metric and dimension set,
//!   named `metric {k=v,...}` (unit `ns` counters are shown as durations);
//! - every other event (and an operation without a duration) is an **instant** on its track,
//!   named by its type (category = event type);
//! - every event carries its fields as **debug annotations** (the spec's names, nested
//!   structs, lists and maps as dictionaries and arrays, plus `event_id`, `actor_id`,
//!   `visibility`);
//! - **user-defined events** are instants named by the event on the `actor A` / `store events`
//!   track, their typed fields as annotations; the tracing bridge's records go on a track per
//!   bridge thread (`thread N`): spans are slices from their creation record to their close
//!   record (paired by [`crate::spans`], nesting kept with extra lanes as for operations), with
//!   the span's fields; tracing events are instants;
//! - **drops** are instants `dropped N events` on a track `dropped events`, at the first
//!   timestamp of the block that reported them, with the time since the previous block.
//!
//! Memory: the intern tables, the set of tracks described and the per-track nesting state are
//! capped; past a cap the incremental state is cleared (`SEQ_INCREMENTAL_STATE_CLEARED`) and
//! rebuilt, so a trace of any size is written with bounded memory.

use std::collections::{HashMap, HashSet};
use std::io::Write;

use crate::fields::{visit_item, FieldVisitor, Group, Scalar};
use crate::pb::PbWriter;
use crate::spans::{Span, SpanTracker};
use crate::{Data, ExportError, Item, Result, Sink, TracingKind};
use northstar_core::user::FieldValue;
use northstar_core::Event;

/// Trusted packet sequence id of every packet (one writer).
const SEQUENCE_ID: u64 = 1;
/// Interned strings kept before the incremental state is cleared.
const INTERN_CAP: usize = 50_000;
/// Tracks remembered (described, nesting state) before forgetting them all.
const TRACK_CAP: usize = 100_000;
/// Top-level slices remembered per track for the nesting check.
const ROOTS_CAP: usize = 16;

// TracePacket fields.
const PKT_TIMESTAMP: u32 = 8;
const PKT_SEQUENCE_ID: u32 = 10;
const PKT_TRACK_EVENT: u32 = 11;
const PKT_INTERNED_DATA: u32 = 12;
const PKT_SEQUENCE_FLAGS: u32 = 13;
const PKT_CLOCK_SNAPSHOT: u32 = 6;
const PKT_TRACK_DESCRIPTOR: u32 = 60;
const PKT_FIRST_ON_SEQUENCE: u32 = 87;
const SEQ_INCREMENTAL_STATE_CLEARED: u64 = 1;
const SEQ_NEEDS_INCREMENTAL_STATE: u64 = 2;
// TrackEvent fields and types.
const TE_CATEGORY_IIDS: u32 = 3;
const TE_DEBUG_ANNOTATIONS: u32 = 4;
const TE_TYPE: u32 = 9;
const TE_NAME_IID: u32 = 10;
const TE_TRACK_UUID: u32 = 11;
const TE_DOUBLE_COUNTER_VALUE: u32 = 44;
const TYPE_SLICE_BEGIN: u64 = 1;
const TYPE_SLICE_END: u64 = 2;
const TYPE_INSTANT: u64 = 3;
const TYPE_COUNTER: u64 = 4;
// DebugAnnotation fields.
const DA_NAME_IID: u32 = 1;
const DA_BOOL: u32 = 2;
const DA_UINT: u32 = 3;
const DA_INT: u32 = 4;
const DA_DOUBLE: u32 = 5;
const DA_STRING: u32 = 6;
const DA_NAME: u32 = 10;
const DA_DICT: u32 = 11;
const DA_ARRAY: u32 = 12;
// InternedData fields (each entry: iid = 1, name = 2).
const ID_CATEGORIES: u32 = 1;
const ID_EVENT_NAMES: u32 = 2;
const ID_ANNOTATION_NAMES: u32 = 3;
// TrackDescriptor fields.
const TD_UUID: u32 = 1;
const TD_NAME: u32 = 2;
const TD_PROCESS: u32 = 3;
const TD_PARENT: u32 = 5;
const TD_COUNTER: u32 = 8;
const CD_UNIT: u32 = 3;
const CD_UNIT_NAME: u32 = 6;
const UNIT_TIME_NS: u64 = 1;

/// What the trace holds, for the summary line and the tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerfettoStats {
    /// Slices (operations with a duration).
    pub slices: u64,
    /// Instants (other events).
    pub instants: u64,
    /// Counter values (perf samples).
    pub counter_values: u64,
    /// Drop markers.
    pub drops: u64,
    /// Tracks described.
    pub tracks: u64,
    /// Extra tracks opened for operations that overlap without nesting.
    pub overflow_tracks: u64,
    /// Times the incremental state (interned names) was cleared to bound memory.
    pub state_resets: u64,
    /// Slices that are tracing spans (included in `slices`).
    pub tracing_spans: u64,
    /// Instants that are user-defined events or tracing events (included in `instants`).
    pub user_instants: u64,
}

#[derive(Default)]
struct Interner {
    ids: HashMap<String, u64>,
    next: u64,
}

impl Interner {
    /// The iid of `s`, and whether it is new (to be sent in this packet's interned data).
    fn get(&mut self, s: &str) -> (u64, bool) {
        if let Some(&id) = self.ids.get(s) {
            return (id, false);
        }
        self.next += 1;
        self.ids.insert(s.to_owned(), self.next);
        (self.next, true)
    }
}

#[derive(Default)]
struct Interned {
    names: Interner,
    categories: Interner,
    annotations: Interner,
    /// (InternedData field, iid, text) to send with the next packet.
    pending: Vec<(u32, u64, String)>,
}

impl Interned {
    fn intern(&mut self, field: u32, s: &str) -> u64 {
        let table = match field {
            ID_EVENT_NAMES => &mut self.names,
            ID_CATEGORIES => &mut self.categories,
            _ => &mut self.annotations,
        };
        let (id, new) = table.get(s);
        if new {
            self.pending.push((field, id, s.to_owned()));
        }
        id
    }

    fn len(&self) -> usize {
        self.names.ids.len() + self.categories.ids.len() + self.annotations.ids.len()
    }
}

/// One lane of a track: its top-level slices (start, end), sorted by start.
type Lane = Vec<(u64, u64)>;

/// Writes a Perfetto trace (see the module docs).
pub struct PerfettoSink<W: Write> {
    out: W,
    store: String,
    pkt: PbWriter,
    ev: PbWriter,
    interned: Interned,
    /// The next packet clears the incremental state (first packet, or after a reset).
    clear_next: bool,
    first: bool,
    described: HashSet<u64>,
    /// Per (actor, session): per lane, the top-level slices (start, end), sorted by start.
    lanes: HashMap<(u64, u64), Vec<Lane>>,
    key: String,
    stats: PerfettoStats,
    spans: SpanTracker,
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn hash_str(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Marks a lane key as a tracing thread's (not a session's).
const THREAD_KEY: u64 = 1 << 62;

const PROCESS_UUID: u64 = 0x6e73_7472_0000_0001;
const DROPS_UUID: u64 = 0x6e73_7472_0000_0002;

fn track_uuid(actor: u64, session: u64, lane: usize) -> u64 {
    mix(mix(actor ^ 0xa5a5) ^ session.rotate_left(17) ^ (lane as u64).rotate_left(47)) | 1 << 63
}

/// Whether slice `(s, e)` can go on a lane whose top-level slices are `roots` without breaking
/// begin/end nesting once the trace is sorted by time (ties keep file order, and the roots were
/// written before it): before, after, around or inside each root.
fn fits(roots: &[(u64, u64)], s: u64, e: u64) -> bool {
    roots
        .iter()
        .all(|&(rs, re)| re <= s || rs > e || (s < rs && re <= e) || (rs <= s && e < re))
}

impl<W: Write> PerfettoSink<W> {
    /// A trace of the store named `store`, written to `out` (buffer it).
    pub fn new(out: W, store: &str) -> Self {
        Self {
            out,
            store: store.to_owned(),
            pkt: PbWriter::new(),
            ev: PbWriter::new(),
            interned: Interned::default(),
            clear_next: true,
            first: true,
            described: HashSet::new(),
            lanes: HashMap::new(),
            key: String::new(),
            stats: PerfettoStats::default(),
            spans: SpanTracker::default(),
        }
    }

    /// What was written so far.
    pub fn stats(&self) -> PerfettoStats {
        self.stats
    }

    fn emit(&mut self) -> Result<()> {
        let bytes = self.pkt.bytes();
        // Trace.packet = 1, length-delimited: tag 0x0a, varint length, the packet.
        let mut len = [0u8; 10];
        let mut n = 0;
        let mut v = bytes.len() as u64;
        while v >= 0x80 {
            len[n] = v as u8 | 0x80;
            v >>= 7;
            n += 1;
        }
        len[n] = v as u8;
        let w = |e| ExportError::write("the Perfetto trace", e);
        self.out.write_all(&[0x0a]).map_err(w)?;
        self.out.write_all(&len[..=n]).map_err(w)?;
        self.out.write_all(bytes).map_err(w)?;
        self.pkt.clear();
        Ok(())
    }

    /// Starts a packet on the sequence (with the sequence flags it needs).
    fn packet(&mut self, ts: Option<u64>, incremental: bool) {
        self.pkt.clear();
        if let Some(ts) = ts {
            self.pkt.uint(PKT_TIMESTAMP, ts);
        }
        self.pkt.uint(PKT_SEQUENCE_ID, SEQUENCE_ID);
        if self.first {
            self.pkt.uint(PKT_FIRST_ON_SEQUENCE, 1);
            self.first = false;
        }
        if incremental {
            let mut flags = SEQ_NEEDS_INCREMENTAL_STATE;
            if self.clear_next {
                flags |= SEQ_INCREMENTAL_STATE_CLEARED;
                self.clear_next = false;
            }
            self.pkt.uint(PKT_SEQUENCE_FLAGS, flags);
        }
    }

    /// Writes a TrackDescriptor packet once per track.
    fn describe(&mut self, uuid: u64, f: impl FnOnce(&mut PbWriter)) -> Result<()> {
        if self.described.contains(&uuid) {
            return Ok(());
        }
        if self.described.len() >= TRACK_CAP {
            self.described.clear();
            self.described.insert(PROCESS_UUID);
        }
        self.described.insert(uuid);
        self.stats.tracks += 1;
        self.packet(None, false);
        self.pkt.begin(PKT_TRACK_DESCRIPTOR);
        self.pkt.uint(TD_UUID, uuid);
        f(&mut self.pkt);
        self.pkt.end();
        self.emit()
    }

    fn start(&mut self, first_ts: u64) -> Result<()> {
        if !self.described.is_empty() {
            return Ok(());
        }
        // Trace time is Unix time: a snapshot saying BOOTTIME == REALTIME lets the UI show
        // wall-clock times.
        self.packet(Some(first_ts), false);
        self.pkt.nested(PKT_CLOCK_SNAPSHOT, |w| {
            for clock in [6u64, 1] {
                w.nested(1, |c| {
                    c.uint(1, clock);
                    c.uint(2, first_ts);
                });
            }
            w.uint(2, 6);
        });
        self.emit()?;
        let name = format!("northstar: {}", self.store);
        self.describe(PROCESS_UUID, |w| {
            w.nested(TD_PROCESS, |p| {
                p.uint(1, 1);
                p.string(6, &name);
            });
        })
    }

    fn reset_if_full(&mut self) {
        if self.interned.len() >= INTERN_CAP {
            self.interned = Interned::default();
            self.clear_next = true;
            self.stats.state_resets += 1;
        }
    }

    /// Writes a track event packet: `self.ev` holds the TrackEvent's fields.
    fn track_event(&mut self, ts: u64) -> Result<()> {
        self.packet(Some(ts), true);
        if !self.interned.pending.is_empty() {
            self.pkt.begin(PKT_INTERNED_DATA);
            for (field, iid, text) in self.interned.pending.drain(..) {
                self.pkt.nested(field, |w| {
                    w.uint(1, iid);
                    w.string(2, &text);
                });
            }
            self.pkt.end();
        }
        self.pkt.bytes_field(PKT_TRACK_EVENT, self.ev.bytes());
        self.emit()
    }

    fn session_track(&mut self, actor: u64, session: Option<u64>, lane: usize) -> Result<u64> {
        let uuid = track_uuid(actor, session.unwrap_or(u64::MAX), lane);
        let name = match (actor, session) {
            (0, None) => "store events".to_string(),
            (a, None) => format!("actor {a}"),
            (a, Some(s)) if lane == 0 => format!("actor {a} session {s}"),
            (a, Some(s)) => format!("actor {a} session {s} ({})", lane + 1),
        };
        self.describe(uuid, |w| {
            w.string(TD_NAME, &name);
            w.uint(TD_PARENT, PROCESS_UUID);
        })?;
        Ok(uuid)
    }

    /// The lane of (actor, session) a slice fits on; records it there.
    fn lane_for(&mut self, actor: u64, session: u64, s: u64, e: u64) -> usize {
        if self.lanes.len() >= TRACK_CAP {
            self.lanes.clear();
        }
        let lanes = self.lanes.entry((actor, session)).or_default();
        let i = match lanes.iter().position(|roots| fits(roots, s, e)) {
            Some(i) => i,
            None => {
                if !lanes.is_empty() {
                    self.stats.overflow_tracks += 1;
                }
                lanes.push(Vec::new());
                lanes.len() - 1
            }
        };
        let roots = &mut lanes[i];
        // Roots inside the new slice become its descendants.
        roots.retain(|&(rs, re)| !(s < rs && re <= e));
        if !roots.iter().any(|&(rs, re)| rs <= s && e < re) {
            let at = roots.partition_point(|&(rs, _)| rs < s);
            roots.insert(at, (s, e));
            if roots.len() > ROOTS_CAP {
                roots.remove(0);
            }
        }
        i
    }

    /// The common annotations and the payload's fields, into `self.ev`.
    fn annotations(&mut self, item: &Item<'_>) {
        let mut v = Annotations {
            w: &mut self.ev,
            interned: &mut self.interned,
            depth: 0,
        };
        v.scalar("event_id", Scalar::U64(item.event_id));
        v.scalar("actor_id", Scalar::U64(item.actor_id));
        v.scalar("visibility", Scalar::Str(item.visibility.name()));
        visit_item(item, &mut v);
    }

    /// The track of a tracing thread (the bridge's `thread` number) of an actor.
    fn thread_track(&mut self, actor: u64, thread: u64, lane: usize) -> Result<u64> {
        let uuid = track_uuid(actor, THREAD_KEY | thread, lane) ^ 1 << 61;
        let name = match (actor, lane) {
            (0, 0) => format!("thread {thread}"),
            (0, l) => format!("thread {thread} ({})", l + 1),
            (a, 0) => format!("actor {a} thread {thread}"),
            (a, l) => format!("actor {a} thread {thread} ({})", l + 1),
        };
        self.describe(uuid, |w| {
            w.string(TD_NAME, &name);
            w.uint(TD_PARENT, PROCESS_UUID);
        })?;
        Ok(uuid)
    }

    /// A tracing span as a slice on its thread's track (an extra lane when it overlaps
    /// another without nesting), with its fields as annotations.
    fn tracing_slice(&mut self, s: &Span) -> Result<()> {
        let end = s.end.unwrap_or(s.start);
        let lane = self.lane_for(s.actor, THREAD_KEY | s.thread, s.start, end);
        let uuid = self.thread_track(s.actor, s.thread, lane)?;
        let cat = self.interned.intern(ID_CATEGORIES, &s.target);
        let name = self.interned.intern(ID_EVENT_NAMES, &s.name);
        self.ev.clear();
        self.ev.uint(TE_TYPE, TYPE_SLICE_BEGIN);
        self.ev.uint(TE_TRACK_UUID, uuid);
        self.ev.uint(TE_CATEGORY_IIDS, cat);
        self.ev.uint(TE_NAME_IID, name);
        let mut v = Annotations {
            w: &mut self.ev,
            interned: &mut self.interned,
            depth: 0,
        };
        if s.begun {
            v.scalar("event_id", Scalar::U64(s.id));
        }
        if let Some(id) = s.end_id {
            v.scalar("end_event_id", Scalar::U64(id));
        }
        v.scalar("actor_id", Scalar::U64(s.actor));
        v.scalar("level", Scalar::Str(&s.level));
        v.scalar("target", Scalar::Str(&s.target));
        if s.end.is_none() {
            v.scalar("open", Scalar::Bool(true));
        }
        for (k, x) in &s.fields {
            if let Some(sc) = x.scalar() {
                v.scalar(k, sc);
            }
        }
        self.track_event(s.start)?;
        self.ev.clear();
        self.ev.uint(TE_TYPE, TYPE_SLICE_END);
        self.ev.uint(TE_TRACK_UUID, uuid);
        self.stats.slices += 1;
        self.stats.tracing_spans += 1;
        self.track_event(end)
    }

    /// A user event (or a tracing event) as an instant named by it, on its thread's track
    /// (tracing records) or its actor's.
    fn user_instant(&mut self, item: &Item<'_>, thread: Option<u64>, category: &str) -> Result<()> {
        let uuid = match thread {
            Some(t) => self.thread_track(item.actor_id, t, 0)?,
            None => self.session_track(item.actor_id, None, 0)?,
        };
        let cat = self.interned.intern(ID_CATEGORIES, category);
        let name = self.interned.intern(ID_EVENT_NAMES, item.type_name());
        self.ev.clear();
        self.ev.uint(TE_TYPE, TYPE_INSTANT);
        self.ev.uint(TE_TRACK_UUID, uuid);
        self.ev.uint(TE_CATEGORY_IIDS, cat);
        self.ev.uint(TE_NAME_IID, name);
        self.annotations(item);
        self.stats.instants += 1;
        self.stats.user_instants += 1;
        self.track_event(item.timestamp)
    }

    fn counter(
        &mut self,
        item: &Item<'_>,
        p: &northstar_core::events::PerfSample<'_>,
    ) -> Result<()> {
        self.key.clear();
        self.key.push_str(p.metric_name);
        if !p.dimensions.is_empty() {
            self.key.push_str(" {");
            for (i, (k, v)) in p.dimensions.iter().enumerate() {
                if i > 0 {
                    self.key.push(',');
                }
                self.key.push_str(k);
                self.key.push('=');
                self.key.push_str(v);
            }
            self.key.push('}');
        }
        let uuid = hash_str(&self.key) | 1 << 62;
        let name = std::mem::take(&mut self.key);
        let unit = p.unit;
        self.describe(uuid, |w| {
            w.string(TD_NAME, &name);
            w.uint(TD_PARENT, PROCESS_UUID);
            w.nested(TD_COUNTER, |c| {
                if unit == "ns" {
                    c.uint(CD_UNIT, UNIT_TIME_NS);
                } else if !unit.is_empty() {
                    c.string(CD_UNIT_NAME, unit);
                }
            });
        })?;
        self.key = name;
        self.ev.clear();
        self.ev.uint(TE_TYPE, TYPE_COUNTER);
        self.ev.uint(TE_TRACK_UUID, uuid);
        self.ev.double(TE_DOUBLE_COUNTER_VALUE, p.value);
        self.stats.counter_values += 1;
        self.track_event(item.timestamp)
    }
}

/// Writes debug annotations from an event's fields.
struct Annotations<'w> {
    w: &'w mut PbWriter,
    interned: &'w mut Interned,
    depth: usize,
}

impl Annotations<'_> {
    fn open(&mut self, name: &str, in_array: bool) {
        if self.depth == 0 {
            let iid = self.interned.intern(ID_ANNOTATION_NAMES, name);
            self.w.begin(TE_DEBUG_ANNOTATIONS);
            self.w.uint(DA_NAME_IID, iid);
        } else if in_array {
            self.w.begin(DA_ARRAY);
        } else {
            self.w.begin(DA_DICT);
            self.w.string(DA_NAME, name);
        }
    }
}

impl<'a> FieldVisitor<'a> for Annotations<'_> {
    fn scalar(&mut self, name: &str, value: Scalar<'a>) {
        self.open(name, name.is_empty());
        match value {
            Scalar::U64(v) => self.w.uint(DA_UINT, v),
            Scalar::I64(v) => self.w.int(DA_INT, v),
            Scalar::F64(v) => self.w.double(DA_DOUBLE, v),
            Scalar::Str(s) => self.w.string(DA_STRING, s),
            Scalar::Bool(b) => self.w.uint(DA_BOOL, u64::from(b)),
            Scalar::Bytes(b) => self.w.string(DA_STRING, &crate::hex(b)),
        }
        self.w.end();
    }

    fn begin(&mut self, name: &str, _group: Group) {
        self.open(name, name.is_empty());
        self.depth += 1;
    }

    fn end(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        self.w.end();
    }
}

impl<W: Write> Sink for PerfettoSink<W> {
    fn event(&mut self, item: &Item<'_>) -> Result<()> {
        self.start(item.timestamp)?;
        self.reset_if_full();
        let category = item.type_name();
        let ev = match &item.data {
            Data::Spec(ev) => ev,
            Data::User(u) => {
                let thread = || match u.field("thread") {
                    Some(FieldValue::U64(t)) => Some(t),
                    _ => Some(0),
                };
                let target = u.konst("target").unwrap_or("tracing");
                return match u.tracing() {
                    Some(TracingKind::SpanBegin) => {
                        self.spans.begin(item, u);
                        Ok(())
                    }
                    Some(TracingKind::SpanRecord) => {
                        if self.spans.record(item, u) {
                            Ok(())
                        } else {
                            self.user_instant(item, thread(), target)
                        }
                    }
                    Some(TracingKind::SpanEnd) => {
                        let s = self.spans.end(item, u);
                        self.tracing_slice(&s)
                    }
                    Some(TracingKind::Event) => self.user_instant(item, thread(), target),
                    None => self.user_instant(item, None, "user"),
                };
            }
        };
        match ev {
            Event::PerfSample(p) => return self.counter(item, p),
            Event::AgentOperation(op) if op.duration_ns.is_some() => {
                let end = item.timestamp;
                let dur = op.duration_ns.unwrap_or(0).max(0) as u64;
                let start = end.saturating_sub(dur);
                let lane = self.lane_for(item.actor_id, op.session_id, start, end);
                let uuid = self.session_track(item.actor_id, Some(op.session_id), lane)?;
                let cat = self.interned.intern(ID_CATEGORIES, category);
                let name = self.interned.intern(ID_EVENT_NAMES, op.operation_type);
                self.ev.clear();
                self.ev.uint(TE_TYPE, TYPE_SLICE_BEGIN);
                self.ev.uint(TE_TRACK_UUID, uuid);
                self.ev.uint(TE_CATEGORY_IIDS, cat);
                self.ev.uint(TE_NAME_IID, name);
                self.annotations(item);
                self.track_event(start)?;
                self.ev.clear();
                self.ev.uint(TE_TYPE, TYPE_SLICE_END);
                self.ev.uint(TE_TRACK_UUID, uuid);
                self.stats.slices += 1;
                return self.track_event(end);
            }
            _ => {}
        }
        let session = item.session_id();
        let uuid = self.session_track(item.actor_id, session, 0)?;
        let cat = self.interned.intern(ID_CATEGORIES, category);
        let name = self.interned.intern(ID_EVENT_NAMES, category);
        self.ev.clear();
        self.ev.uint(TE_TYPE, TYPE_INSTANT);
        self.ev.uint(TE_TRACK_UUID, uuid);
        self.ev.uint(TE_CATEGORY_IIDS, cat);
        self.ev.uint(TE_NAME_IID, name);
        self.annotations(item);
        self.stats.instants += 1;
        self.track_event(item.timestamp)
    }

    fn drops(&mut self, since_ns: u64, at_ns: u64, count: u64) -> Result<()> {
        self.start(at_ns)?;
        self.reset_if_full();
        self.describe(DROPS_UUID, |w| {
            w.string(TD_NAME, "dropped events");
            w.uint(TD_PARENT, PROCESS_UUID);
        })?;
        let text = format!("dropped {count} events");
        let cat = self.interned.intern(ID_CATEGORIES, "northstar");
        let name = self.interned.intern(ID_EVENT_NAMES, &text);
        self.ev.clear();
        self.ev.uint(TE_TYPE, TYPE_INSTANT);
        self.ev.uint(TE_TRACK_UUID, DROPS_UUID);
        self.ev.uint(TE_CATEGORY_IIDS, cat);
        self.ev.uint(TE_NAME_IID, name);
        let mut v = Annotations {
            w: &mut self.ev,
            interned: &mut self.interned,
            depth: 0,
        };
        v.scalar("dropped", Scalar::U64(count));
        v.scalar("since_ns", Scalar::U64(since_ns));
        self.stats.drops += 1;
        self.track_event(at_ns)
    }

    fn finish(&mut self) -> Result<()> {
        // Spans whose end was not read: zero-length slices marked `open`.
        for s in self.spans.drain() {
            self.tracing_slice(&s)?;
        }
        self.out
            .flush()
            .map_err(|e| ExportError::write("the Perfetto trace", e))
    }
}

#[cfg(test)]
mod tests {
    use super::fits;

    #[test]
    fn nesting_rules_keep_begin_end_pairs_on_their_track() {
        let roots = [(10, 20)];
        assert!(fits(&roots, 20, 30)); // after (touching)
        assert!(fits(&roots, 0, 9)); // before, strictly
        assert!(!fits(&roots, 0, 10)); // ends where the root begins: would close the root
        assert!(fits(&roots, 5, 25)); // around
        assert!(fits(&roots, 10, 15)); // inside, same start
        assert!(!fits(&roots, 15, 20)); // inside, same end: the root's end comes first
        assert!(!fits(&roots, 15, 25)); // overlaps
        assert!(!fits(&roots, 10, 25)); // around with the same start
    }
}
