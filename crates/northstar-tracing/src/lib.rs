//! # northstar-tracing
//!
//! Records every `tracing` event and span as a Northstar user-defined event, into the
//! process-wide recorder that `northstar::init(dir)` stores, in one of two ways:
//!
//! - [`subscriber()`]: the bridge's own `Subscriber` ([`NorthstarSubscriber`]), the fast path
//!   when Northstar is the only place your traces go. No tracing-subscriber `Registry`: span
//!   ids from a per-thread counter, the current span from a thread-local stack, open spans in
//!   a fixed table of atomics; filtered by target and level ([`Targets`], or `RUST_LOG`-style
//!   `target=level` directives).
//! - [`layer()`]: a [`tracing_subscriber::Layer`] ([`NorthstarLayer`]) on `Registry`, beside
//!   other layers (`fmt`, OpenTelemetry, ...) and with any of tracing-subscriber's filters
//!   (`EnvFilter` with span and field directives, per-layer filters). `Registry`'s span
//!   bookkeeping is most of a span's cost there.
//!
//! Both write the same records.
//!
//! ```no_run
//! let _northstar = northstar::init("./northstar-data").unwrap();
//! let subscriber = northstar_tracing::subscriber().with_directives("info").unwrap();
//! tracing::subscriber::set_global_default(subscriber).unwrap();
//! tracing::info!(bytes = 4096u64, "flushed");
//! ```
//!
//! ```no_run
//! use tracing_subscriber::prelude::*;
//! let _northstar = northstar::init("./northstar-data").unwrap();
//! tracing_subscriber::registry().with(northstar_tracing::layer()).init();
//! tracing::info!(bytes = 4096u64, "flushed");
//! ```
//!
//! ## What is recorded
//!
//! Each tracing callsite becomes one Northstar call site, interned once in
//! `register_callsite`: its **name** is the callsite's name (`event src/main.rs:12` unless the
//! macro sets `name:`), its constant fields are `kind`, `level` and `target`, and its runtime
//! fields are the bridge's own fields then the callsite's fields in declaration order.
//! Records carry values only.
//!
//! | record | `kind` | fields |
//! |---|---|---|
//! | an event | `event` | `thread`, `span` (the event's parent span id, 0 for none), then the event's fields (`message`, ...) |
//! | a span is created | `span_begin` | `span_id`, `parent` (0 for a root span), `thread`, then the span's fields |
//! | `Span::record` | `span_record` | `span_id`, `thread`, then the span's fields (only those recorded are present) |
//! | a span closes | `span_end` | `span_id`, `thread`, `duration` (nanoseconds from creation to close) |
//!
//! **Spans are begin/end records**, not one record at close: the fields are written when the
//! span is created (straight into the ring, like an event's), so nothing has to be kept per
//! span but its start time (with the subscriber, also its reference count and callsite) in a
//! fixed table of atomics; the close record carries the span's `duration` from creation to
//! close. Entering and exiting a span records nothing. `thread` is a number the bridge gives
//! each thread (1, 2, ... in order of first record). Span ids: the layer's are `Registry`'s
//! (small, reused after a span closes); the subscriber's are the thread's number times 2^44
//! plus that thread's counter (not reused).
//!
//! ## Field types
//!
//! tracing says a value's type only when the value is visited. The bridge visits the values
//! once, into a 256-byte buffer on the stack, learning each field's type (`u64`, `i64`, `f64`,
//! `bool`, `str`, `bytes`; any `Debug`/`Display` value, `u128` and `i128` are text) as it
//! encodes the value, then copies the record into the ring in one piece. A record longer than
//! the buffer is visited twice instead: once to learn the types and the length, once to write
//! into the ring slot reserved for exactly that length. Each list of types seen at a callsite
//! is a schema (a "variant"), registered the first time it is seen and cached in a few atomic
//! slots of the callsite; a field with no value (a span's `field::Empty`) is an absent
//! optional. Steady state: no allocation, no lock, no system call per event or span (a
//! counting-allocator test checks it, for the layer and for the subscriber).
//!
//! ## Filtering and `log`
//!
//! The layer itself keeps everything; filter with `EnvFilter` or per-layer filters as with any
//! layer (`layer().with_filter(LevelFilter::INFO)`). The subscriber keeps what its [`Targets`]
//! filter enables, decided once per callsite; a span it filters out is no one's parent.
//! [`init_log`] routes `log` records into
//! tracing (tracing-log's `LogTracer`): they arrive as events of the `log` target with the
//! `log.target`, `log.module_path`, `log.file` and `log.line` fields.
//!
//! ## Limits
//!
//! A callsite with more than 30 fields (29 for a span) cannot be recorded and each of its
//! events is counted as refused (oversize), as is an event whose values come out of field
//! order (tracing's macros never do that). A callsite whose fields change types more than 8
//! times uses a locked map for the further variants. The subscriber's table of open spans has
//! 65 536 slots: a span that finds no room in its run of 32 gets its begin record but no end
//! record and is counted as refused (oversize); spans nested more than 64 deep on one thread
//! give the events and spans under them the 64th as parent.
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]

mod fields;
mod layer;
mod live;
mod site;
mod spans;
mod stack;
mod subscriber;

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use northstar_core::clock::Clock;
use northstar_core::recorder::Recorder;
use northstar_core::ring::Refusal;
use northstar_core::Visibility;
use tracing_core::field::Visit;
use tracing_core::span::{Attributes, Record};
use tracing_core::{Event, Metadata};

use fields::{Encode, Inline, Measure, Outcome, Shape};
use site::{Kind, Site, Variants};

pub use layer::{layer, NorthstarLayer};
pub use subscriber::{subscriber, NorthstarSubscriber};
/// The filter [`NorthstarSubscriber::with_targets`] takes (re-exported from
/// tracing-subscriber).
pub use tracing_subscriber::filter::Targets;

/// Routes `log` records into tracing (and so into Northstar through the layer or the
/// subscriber): installs tracing-log's `LogTracer` as the `log` logger. Fails if a logger is
/// already set.
#[cfg(feature = "log")]
pub fn init_log() -> Result<(), tracing_log::log::SetLoggerError> {
    tracing_log::LogTracer::init()
}

static NEXT_THREAD: AtomicU64 = AtomicU64::new(1);
thread_local! {
    static THREAD: Cell<u64> = const { Cell::new(0) };
}

/// The bridge's number for the calling thread (1, 2, ... in order of first use; 0 while the
/// thread is being torn down).
#[inline(always)]
fn thread_number() -> u64 {
    THREAD
        .try_with(|t| {
            let n = t.get();
            if n != 0 {
                return n;
            }
            let n = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
            t.set(n);
            n
        })
        .unwrap_or(0)
}

#[cold]
fn refuse() {
    Recorder::global().count_refusal(Refusal::Oversize);
}

#[inline(always)]
fn site_of(md: &'static Metadata<'static>) -> Option<&'static Site> {
    site::find(md).or_else(|| site::intern(md))
}

/// Writes one record stamped `ticks`: the bridge's `extras`, then the values `visit` gives.
/// One pass into a stack buffer in the common case; values too long for it take two passes
/// straight into the ring.
#[inline(always)]
fn record(
    rec: &Recorder,
    ticks: u64,
    variants: &Variants,
    fields: usize,
    extras: &[u64],
    visit: impl Fn(&mut dyn Visit),
) {
    let mut buf = fields::inline_buf();
    let mut inline = Inline::new(&mut buf, extras, fields);
    visit(&mut inline);
    match inline.finish() {
        Outcome::Done => {
            let Some(id) = variants.id(inline.key()) else {
                return refuse();
            };
            let bytes = inline.bytes();
            let _ = rec.record_user_dyn_at(ticks, id, 0, Visibility::Public, bytes.len(), |w| {
                w.put(bytes)
            });
        }
        Outcome::TooBig => record_two_pass(rec, ticks, variants, fields, extras, &visit),
        Outcome::Refused => refuse(),
    }
}

/// [`record`] for values that do not fit the stack buffer: measured on the stack, then
/// encoded into the ring slot reserved for exactly that length.
#[cold]
#[inline(never)]
fn record_two_pass(
    rec: &Recorder,
    ticks: u64,
    variants: &Variants,
    fields: usize,
    extras: &[u64],
    visit: &dyn Fn(&mut dyn Visit),
) {
    let mut shape = Shape::new(extras.len(), fields);
    visit(&mut Measure(&mut shape));
    if !shape.ok {
        return refuse();
    }
    let Some(id) = site::Key::of_types(&shape.types()[extras.len()..]).and_then(|k| variants.id(k))
    else {
        return refuse();
    };
    let _ = rec.record_user_dyn_at(ticks, id, 0, Visibility::Public, shape.len, |w| {
        for e in extras {
            w.put(&e.to_le_bytes());
        }
        let mut enc = Encode {
            shape: &shape,
            w,
            next: 0,
        };
        visit(&mut enc);
        enc.finish();
    });
}

/// An event's record (`parent`: its span, 0 for none).
#[inline(always)]
fn write_event(event: &Event<'_>, parent: u64) {
    let md = event.metadata();
    let Some(site) = site_of(md) else {
        return refuse();
    };
    let rec = Recorder::global();
    record(
        rec,
        rec.now_ticks(),
        &site.main,
        md.fields().len(),
        &[thread_number(), parent],
        |v| event.record(v),
    );
}

/// A span's creation record; returns its start (clock ticks, the record's own timestamp).
#[inline(always)]
fn write_begin(site: &Site, attrs: &Attributes<'_>, id: u64, parent: u64) -> u64 {
    let rec = Recorder::global();
    let start = rec.now_ticks();
    record(
        rec,
        start,
        &site.main,
        attrs.metadata().fields().len(),
        &[id, parent, thread_number()],
        |v| attrs.record(v),
    );
    start
}

/// Values recorded into an open span (`Span::record`).
fn write_update(site: &Site, id: u64, values: &Record<'_>) {
    let Some(update) = &site.update else { return };
    let rec = Recorder::global();
    record(
        rec,
        rec.now_ticks(),
        update,
        site.md.fields().len(),
        &[id, thread_number()],
        |v| values.record(v),
    );
}

/// A span's close record, with its duration when its start is known.
#[inline(always)]
fn write_end(site: &Site, id: u64, start: Option<u64>) {
    if site.kind != Kind::Span || site.end == 0 {
        return refuse();
    }
    let rec = Recorder::global();
    let now = rec.now_ticks();
    let duration = start.map(|s| rec.clock().ticks_to_nanos(now.wrapping_sub(s)));
    let len = 8 + 8 + 1 + if duration.is_some() { 8 } else { 0 };
    let thread = thread_number();
    let _ = rec.record_user_dyn_at(now, site.end, 0, Visibility::Public, len, |w| {
        w.put(&id.to_le_bytes());
        w.put(&thread.to_le_bytes());
        match duration {
            Some(d) => {
                w.put(&[1]);
                w.put(&d.to_le_bytes());
            }
            None => w.put(&[0]),
        }
    });
}
