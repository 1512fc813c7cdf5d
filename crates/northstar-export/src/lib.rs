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
//! - [`ship`]: live, resumable shipping (`northstar ship`).
//!
//! Everything reads the store through [`northstar_store::BlockCursor`], one checked block at a
//! time, so the memory an export needs does not grow with the store.
#![deny(missing_docs)]

pub mod clickhouse;
pub mod fields;
pub mod json;
pub mod otlp;
pub mod pb;
pub mod perfetto;
pub mod ship;

use std::path::{Path, PathBuf};

use northstar_core::{Event, EventType, Visibility};
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
}

/// One stored event, borrowed from the block being read.
#[derive(Clone, Copy, Debug)]
pub struct Item<'a> {
    /// `segment_id << 32 | event_seq`: unique, increasing in store order.
    pub event_id: u64,
    /// The type.
    pub event_type: EventType,
    /// Unix nanoseconds.
    pub timestamp: u64,
    /// The actor (0: none).
    pub actor_id: u64,
    /// Who may see it.
    pub visibility: Visibility,
    /// The decoded payload.
    pub event: Event<'a>,
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
        /// Its type.
        event_type: EventType,
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
                event_type,
                reason,
            } => write!(
                f,
                "event {event_id} ({event_type}) has an undecodable payload, not exported: {reason}"
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
    /// User-defined events read but not exported: these formats carry the standard event types
    /// only so far (the caller says so; nothing is skipped silently).
    pub user_events_skipped: u64,
}

/// Applies a [`Selection`] to records.
pub struct Selector {
    sel: Selection,
    type_bits: u32,
    access: VisibilityFilter,
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
        }
    }

    /// Whether a record's header fields pass (everything but the session filter).
    fn header_ok(&self, t: EventType, ts: u64, actor: u64, vis: Visibility) -> bool {
        (self.type_bits == 0 || u32::from(t.bit()) & self.type_bits != 0)
            && self.sel.since.is_none_or(|s| ts >= s)
            && self.sel.until.is_none_or(|u| ts <= u)
            && self.sel.actor.is_none_or(|a| a == actor)
            && self.access.allows(actor, vis)
    }

    /// Calls `f` with every selected event of `block`; problems go to `problem`.
    pub fn for_each(
        &self,
        block: &CursorBlock<'_>,
        totals: &mut Totals,
        problem: &mut dyn FnMut(Problem),
        mut f: impl FnMut(&Item<'_>) -> Result<()>,
    ) -> Result<()> {
        for r in block.view.records() {
            let t = match r.kind() {
                // A user event's schema definition is not an event.
                northstar_core::RecordKind::Definition => continue,
                northstar_core::RecordKind::User => {
                    totals.read += 1;
                    totals.user_events_skipped += 1;
                    continue;
                }
                northstar_core::RecordKind::Spec(t) => t,
            };
            totals.read += 1;
            let (ts, actor, vis) = (r.timestamp(), r.actor_id(), r.visibility());
            if !self.header_ok(t, ts, actor, vis) {
                continue;
            }
            let event_id = block.event_id(r.header.event_seq.get());
            let event = match Event::decode(t, r.payload) {
                Ok(e) => e,
                Err(e) => {
                    totals.problems += 1;
                    problem(Problem::Undecodable {
                        event_id,
                        event_type: t,
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
            totals.events += 1;
            f(&Item {
                event_id,
                event_type: t,
                timestamp: ts,
                actor_id: actor,
                visibility: vis,
                event,
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
