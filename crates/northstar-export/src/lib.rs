//! # northstar-export
//!
//! Northstar's way out of the store: exporters that stream a data directory in store order with
//! memory bounded by one block (plus a few caps documented per format), and shippers that
//! follow a growing store and deliver it to an OpenTelemetry collector or a ClickHouse server,
//! resuming after a crash from a cursor saved per destination.
//!
//! - [`fields`]: the per-event field visitor every format is built on.
//! - [`perfetto`]: a Perfetto trace (`Trace { repeated TracePacket }`) for ui.perfetto.dev.
//! - [`otlp`]: OpenTelemetry traces, metrics and logs, as protobuf or OTLP/JSON.
//! - [`clickhouse`]: `JSONEachRow` rows of the table `--schema` prints.
//! - [`parquet`]: one Parquet file (zstd, dictionary-encoded strings), row groups per type.
//! - [`ship`]: live, resumable shipping (`northstar ship`).
//!
//! Everything reads the store through [`northstar_store::BlockCursor`], one checked block at a
//! time, so the memory an export needs does not grow with the store.
#![deny(missing_docs)]

pub mod batch;
pub mod clickhouse;
pub mod fields;
pub mod json;
pub mod otlp;
pub mod parquet;
pub mod pb;
pub mod perfetto;
pub mod ship;
pub mod spans;

use std::path::{Path, PathBuf};

use northstar_core::user::{Definition, FieldValue};
use northstar_core::{Event, EventType, RecordKind, Visibility};
use northstar_store::{
    BlockCursor, CursorBlock, CursorItem, DamagedRegion, Position, StoreError, Viewer,
    VisibilityFilter,
};

/// Why an export or a shipment stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing the output failed.
    #[error("cannot write {what}: {source}")]
    Write {
        /// What was being written.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// A destination refused the data for good (bad request, too large, wrong table...).
    #[error("{0}")]
    Rejected(String),
    /// A destination could not be reached after every retry.
    #[error("{0}")]
    Unreachable(String),
    /// Bad input from the caller (a URL, a table name, a cursor file).
    #[error("{0}")]
    Usage(String),
}

impl ExportError {
    /// A write error naming what was being written.
    pub fn write(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Write {
            what: what.into(),
            source,
        }
    }
}

/// Result of this crate's calls.
pub type Result<T, E = ExportError> = std::result::Result<T, E>;

/// Which events to export, as `northstar query` selects them.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Accepted types (empty: all).
    pub types: Vec<EventType>,
    /// Inclusive lower time bound, Unix ns.
    pub since: Option<u64>,
    /// Inclusive upper time bound, Unix ns.
    pub until: Option<u64>,
    /// Only this actor.
    pub actor: Option<u64>,
    /// Only this session.
    pub session: Option<u64>,
    /// Whose view (default: the operator's, every event).
    pub viewer: Viewer,
    /// Accepted user-defined event names (`"kv.wal_sync"`). With `types`, the union; both
    /// empty (and no `fields`): every event, user events included.
    pub user_types: Vec<String>,
    /// Only user events with these field values (`name`, value as [`value_text`] prints it;
    /// runtime or constant fields). Spec events never match.
    pub fields: Vec<(String, String)>,
}

/// One stored event, borrowed from the block being read.
#[derive(Clone, Copy, Debug)]
pub struct Item<'a> {
    /// `segment_id << 32 | event_seq`: unique, increasing in store order.
    pub event_id: u64,
    /// Unix nanoseconds.
    pub timestamp: u64,
    /// The actor (0: none).
    pub actor_id: u64,
    /// Who may see it.
    pub visibility: Visibility,
    /// The decoded payload: a spec event or a user-defined one.
    pub data: Data<'a>,
}

/// An event's payload.
#[derive(Clone, Copy, Debug)]
pub enum Data<'a> {
    /// One of the spec's types.
    Spec(Event<'a>),
    /// A user-defined event (`event!("name", ...)`, or a tracing event or span record).
    User(UserEvent<'a>),
}

/// The user type byte, as a user event's `event_code` in the row formats (no spec code uses
/// it).
pub const USER_EVENT_CODE: u16 = northstar_core::user::USER_TYPE_BYTE as u16;

impl<'a> Item<'a> {
    /// The spec type's name, or the user event's name.
    pub fn type_name(&self) -> &'a str {
        match &self.data {
            Data::Spec(e) => e.event_type().name(),
            Data::User(u) => u.name(),
        }
    }

    /// The spec type's code; [`USER_EVENT_CODE`] for a user event.
    pub fn type_code(&self) -> u16 {
        match &self.data {
            Data::Spec(e) => e.event_type().code(),
            Data::User(_) => USER_EVENT_CODE,
        }
    }

    /// The spec event, if it is one.
    pub fn spec(&self) -> Option<&Event<'a>> {
        match &self.data {
            Data::Spec(e) => Some(e),
            Data::User(_) => None,
        }
    }

    /// The event's own session id (spec events that have one; user events have none).
    pub fn session_id(&self) -> Option<u64> {
        self.spec().and_then(Event::session_id)
    }

    /// Every session the event belongs to (none for a user event).
    pub fn for_each_session(&self, f: impl FnMut(u64)) {
        if let Some(e) = self.spec() {
            e.for_each_session(f);
        }
    }
}

/// What a tracing bridge record is (its constant `kind`; see `northstar-tracing`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TracingKind {
    /// A tracing event.
    Event,
    /// A span was created (`span_id`, `parent`, `thread`, then its fields).
    SpanBegin,
    /// Values recorded later on a span (`span_id`, `thread`, then the fields recorded).
    SpanRecord,
    /// A span closed (`span_id`, `thread`, `duration`).
    SpanEnd,
}

/// A user-defined event, borrowed from its block: its definition (name, field names and
/// types, constants) and its checked payload.
#[derive(Clone, Copy, Debug)]
pub struct UserEvent<'a> {
    /// The schema, decoded from the block's definition record.
    pub def: &'a Definition<'a>,
    /// The payload (schema id, then the values), checked against `def`.
    pub payload: &'a [u8],
}

impl<'a> UserEvent<'a> {
    /// The event name.
    pub fn name(&self) -> &'a str {
        self.def.name
    }

    /// The runtime fields, in definition order.
    pub fn values(&self) -> impl Iterator<Item = (&'a str, FieldValue<'a>)> + 'a {
        northstar_core::user::values(self.def, self.payload)
    }

    /// The constant fields (`unit = static "ns"`).
    pub fn consts(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.def.consts.iter()
    }

    /// One runtime field's value.
    pub fn field(&self, name: &str) -> Option<FieldValue<'a>> {
        self.values().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// One constant's value.
    pub fn konst(&self, name: &str) -> Option<&'a str> {
        self.consts().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// What the tracing bridge recorded, if this is one of its records: a constant `kind`
    /// naming a bridge record, beside the `level` and `target` constants.
    pub fn tracing(&self) -> Option<TracingKind> {
        let (mut kind, mut level, mut target) = (None, false, false);
        for (k, v) in self.consts() {
            match k {
                "kind" => kind = Some(v),
                "level" => level = true,
                "target" => target = true,
                _ => {}
            }
        }
        if !(level && target) {
            return None;
        }
        Some(match kind? {
            "event" => TracingKind::Event,
            "span_begin" => TracingKind::SpanBegin,
            "span_record" => TracingKind::SpanRecord,
            "span_end" => TracingKind::SpanEnd,
            _ => return None,
        })
    }
}

/// A user field value as text (integers in decimal, floats as Rust prints them, bytes in hex,
/// an absent optional as `-`), as `northstar query --field` matches it.
pub fn value_text(v: &FieldValue<'_>) -> String {
    match v {
        FieldValue::U64(x) | FieldValue::DurationNs(x) => x.to_string(),
        FieldValue::I64(x) => x.to_string(),
        FieldValue::F64(x) => x.to_string(),
        FieldValue::Bool(b) => b.to_string(),
        FieldValue::Str(s) => (*s).to_owned(),
        FieldValue::Bytes(b) => hex(b),
        FieldValue::None => "-".into(),
    }
}

/// Lowercase hex of bytes.
pub fn hex(b: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(HEX[usize::from(x >> 4)] as char);
        s.push(HEX[usize::from(x & 15)] as char);
    }
    s
}

/// Something the reader met and skipped: reported, never silent.
#[derive(Debug)]
pub enum Problem {
    /// A damaged region of a segment (its events are not exported).
    Damaged(DamagedRegion),
    /// An event whose payload does not decode (not exported).
    Undecodable {
        /// Its id.
        event_id: u64,
        /// Its type's name (a spec type, or a user event's name when its schema resolved).
        type_name: String,
        /// Why.
        reason: String,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Damaged(d) => write!(
                f,
                "skipped damaged block in {} at offset {} ({} bytes): {}",
                d.path.display(),
                d.offset,
                d.len,
                d.reason
            ),
            Problem::Undecodable {
                event_id,
                type_name,
                reason,
            } => write!(
                f,
                "event {event_id} ({type_name}) has an undecodable payload, not exported: {reason}"
            ),
        }
    }
}

/// A format's writer: receives events in store order.
pub trait Sink {
    /// One selected event.
    fn event(&mut self, item: &Item<'_>) -> Result<()>;
    /// `count` events were dropped (ring full, refused...) between `since_ns` and `at_ns`
    /// (the previous block's last timestamp and this block's first).
    fn drops(&mut self, _since_ns: u64, _at_ns: u64, _count: u64) -> Result<()> {
        Ok(())
    }
    /// A block was fully handed over (a point where output may be flushed).
    fn block_done(&mut self) -> Result<()> {
        Ok(())
    }
    /// No more events.
    fn finish(&mut self) -> Result<()>;
}

/// What an export read and wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Events handed to the sink.
    pub events: u64,
    /// Events read (selected or not).
    pub read: u64,
    /// Blocks read.
    pub blocks: u64,
    /// Events the rings dropped, as the blocks read say.
    pub dropped: u64,
    /// Problems reported.
    pub problems: u64,
    /// User-defined events handed to the sink (included in `events`).
    pub user_events: u64,
}

/// Applies a [`Selection`] to records.
pub struct Selector {
    sel: Selection,
    type_bits: u32,
    access: VisibilityFilter,
    /// Events with an id at or below this are skipped (already delivered).
    floor: u64,
}

impl Selector {
    /// The selector for `sel` over the store in `dir` (reads its team directory).
    pub fn new(dir: &Path, sel: Selection) -> Self {
        let type_bits = sel.types.iter().fold(0u32, |b, t| b | u32::from(t.bit()));
        let access = VisibilityFilter::new(dir, sel.viewer);
        Self {
            sel,
            type_bits,
            access,
            floor: 0,
        }
    }

    /// Skips every event whose id is at most `last_id` (a shipper resuming after it).
    pub fn after(mut self, last_id: u64) -> Self {
        self.floor = last_id;
        self
    }

    /// Whether a record's header fields pass (type aside, and everything but the session
    /// filter).
    fn header_ok(&self, ts: u64, actor: u64, vis: Visibility) -> bool {
        self.sel.since.is_none_or(|s| ts >= s)
            && self.sel.until.is_none_or(|u| ts <= u)
            && self.sel.actor.is_none_or(|a| a == actor)
            && self.access.allows(actor, vis)
    }

    /// Whether spec events of type `t` are selected.
    fn spec_ok(&self, t: EventType) -> bool {
        if !self.sel.fields.is_empty() {
            return false;
        }
        if self.type_bits == 0 {
            return self.sel.user_types.is_empty();
        }
        u32::from(t.bit()) & self.type_bits != 0
    }

    /// Whether a user event is selected (by name and field values).
    fn user_ok(&self, u: &UserEvent<'_>) -> bool {
        if !self.sel.user_types.is_empty() {
            if !self.sel.user_types.iter().any(|n| n == u.name()) {
                return false;
            }
        } else if self.type_bits != 0 && self.sel.fields.is_empty() {
            return false;
        }
        // A user event belongs to no session.
        if self.sel.session.is_some() {
            return false;
        }
        self.sel.fields.iter().all(|(k, v)| {
            u.values().any(|(n, x)| n == k && value_text(&x) == *v)
                || u.consts().any(|(n, x)| n == k && x == v)
        })
    }

    /// Calls `f` with every selected event of `block`; problems go to `problem`.
    pub fn for_each(
        &self,
        block: &CursorBlock<'_>,
        totals: &mut Totals,
        problem: &mut dyn FnMut(Problem),
        mut f: impl FnMut(&Item<'_>) -> Result<()>,
    ) -> Result<()> {
        // The block's user-event schemas (a block defines every schema it uses).
        let mut defs: Vec<Definition<'_>> = Vec::new();
        let mut bad_defs: Vec<String> = Vec::new();
        for r in block.view.records() {
            if r.kind() == RecordKind::Definition {
                match northstar_core::user::decode_definition(r.payload()) {
                    Ok(d) => defs.push(d),
                    Err(e) => bad_defs.push(e.to_string()),
                }
            }
        }
        for r in block.view.records() {
            let kind = r.kind();
            if kind == RecordKind::Definition {
                // A user event's schema definition is not an event.
                continue;
            }
            let event_id = block.event_id(r.header().event_seq.get());
            if event_id <= self.floor {
                continue;
            }
            totals.read += 1;
            let (ts, actor, vis) = (r.timestamp(), r.actor_id(), r.visibility());
            if !self.header_ok(ts, actor, vis) {
                continue;
            }
            let data = match kind {
                RecordKind::Definition => continue,
                RecordKind::User => {
                    let resolved = northstar_core::user::record_schema_id(r.payload())
                        .map_err(|_| "user event without a schema id".to_string())
                        .and_then(|id| {
                            let def = defs.iter().find(|d| d.id == id).ok_or_else(|| {
                                let mut why = format!(
                                    "user event of schema {id} has no definition in its block"
                                );
                                if let Some(b) = bad_defs.first() {
                                    why.push_str(&format!(" (bad definition record: {b})"));
                                }
                                why
                            })?;
                            northstar_core::user::check_values(def, r.payload()).map_err(|e| {
                                format!(
                                    "user event does not match its schema {id} ({}): {e}",
                                    def.name
                                )
                            })?;
                            Ok(def)
                        });
                    let def = match resolved {
                        Ok(d) => d,
                        Err(reason) => {
                            totals.problems += 1;
                            problem(Problem::Undecodable {
                                event_id,
                                type_name: "user-defined".into(),
                                reason,
                            });
                            continue;
                        }
                    };
                    let u = UserEvent {
                        def,
                        payload: r.payload(),
                    };
                    if !self.user_ok(&u) {
                        continue;
                    }
                    Data::User(u)
                }
                RecordKind::Spec(t) => {
                    if !self.spec_ok(t) {
                        continue;
                    }
                    let event = match Event::decode(t, r.payload()) {
                        Ok(e) => e,
                        Err(e) => {
                            totals.problems += 1;
                            problem(Problem::Undecodable {
                                event_id,
                                type_name: t.name().into(),
                                reason: e.to_string(),
                            });
                            continue;
                        }
                    };
                    if let Some(s) = self.sel.session {
                        let mut found = false;
                        event.for_each_session(|x| found |= x == s);
                        if !found {
                            continue;
                        }
                    }
                    Data::Spec(event)
                }
            };
            totals.events += 1;
            if matches!(data, Data::User(_)) {
                totals.user_events += 1;
            }
            f(&Item {
                event_id,
                timestamp: ts,
                actor_id: actor,
                visibility: vis,
                data,
            })?;
        }
        Ok(())
    }
}

/// Total bytes of the segment files of `dir` (for progress).
pub fn store_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().ends_with(".nss"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Streams every selected event of `dir`, in store order, into `sink`. `progress` is called
/// after each block with the bytes read so far; `problem` with everything skipped.
pub fn export(
    dir: &Path,
    sel: Selection,
    sink: &mut dyn Sink,
    progress: &mut dyn FnMut(u64),
    problem: &mut dyn FnMut(Problem),
) -> Result<Totals> {
    let selector = Selector::new(dir, sel);
    let mut cursor = BlockCursor::new(dir, Position::START)?;
    let mut totals = Totals::default();
    let mut last_ts: Option<u64> = None;
    let mut bytes = 0u64;
    while let Some(item) = cursor.next_block()? {
        match item {
            CursorItem::Damaged(d) => {
                totals.problems += 1;
                problem(Problem::Damaged(d));
            }
            CursorItem::Block(b) => {
                totals.blocks += 1;
                bytes += b.view.len() as u64;
                let h = b.view.header;
                let dropped = b.dropped();
                if dropped > 0 {
                    totals.dropped += dropped;
                    let at = h.min_ts.get();
                    sink.drops(last_ts.unwrap_or(at).min(at), at, dropped)?;
                }
                if h.record_count.get() > 0 {
                    last_ts = Some(last_ts.map_or(h.max_ts.get(), |t| t.max(h.max_ts.get())));
                }
                selector.for_each(&b, &mut totals, problem, |it| sink.event(it))?;
                sink.block_done()?;
                progress(bytes);
            }
        }
    }
    sink.finish()?;
    Ok(totals)
}

/// A path as text for messages.
pub(crate) fn shown(p: &Path) -> String {
    p.display().to_string()
}

/// The name a store goes by in exports: its directory's last component.
pub fn store_name(dir: &Path) -> String {
    let abs: PathBuf = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    abs.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| shown(dir))
}
