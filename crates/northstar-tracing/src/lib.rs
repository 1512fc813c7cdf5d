//! # northstar-tracing
//!
//! A [`tracing_subscriber::Layer`] that records every `tracing` event and span as a Northstar
//! user-defined event, into the process-wide recorder that `northstar::init(dir)` stores:
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
//! span but its start time (a fixed table of atomics); the close record carries the span's
//! `duration` from creation to close (`None` in the rare case the table had no room for the
//! start time). Entering and exiting a span records nothing. `thread` is a number the bridge
//! gives each thread (1, 2, ... in order of first record).
//!
//! ## Field types
//!
//! tracing says a value's type only when the value is visited. The bridge visits the values
//! twice: once on the stack to learn each field's type (`u64`, `i64`, `f64`, `bool`, `str`,
//! `bytes`; any `Debug`/`Display` value, `u128` and `i128` are text) and the encoded length,
//! then once to write them into the ring slot reserved for exactly that length. Each list of
//! types seen at a callsite is a schema (a "variant"), registered the first time it is seen
//! and cached in a few atomic slots of the callsite; a field with no value (a span's
//! `field::Empty`) is an absent optional. Steady state: no allocation, no lock, no system
//! call per event or span (a counting-allocator test checks it).
//!
//! ## Filtering and `log`
//!
//! The layer itself keeps everything; filter with `EnvFilter` or per-layer filters as with any
//! layer (`layer().with_filter(LevelFilter::INFO)`). [`init_log`] routes `log` records into
//! tracing (tracing-log's `LogTracer`): they arrive as events of the `log` target with the
//! `log.target`, `log.module_path`, `log.file` and `log.line` fields.
//!
//! ## Limits
//!
//! A callsite with more than 30 fields (29 for a span) cannot be recorded and each of its
//! events is counted as refused (oversize), as is an event whose values come out of field
//! order (tracing's macros never do that). A callsite whose fields change types more than 8
//! times uses a locked map for the further variants.
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]

mod fields;
mod site;
mod spans;

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use northstar_core::clock::Clock;
use northstar_core::recorder::Recorder;
use northstar_core::ring::Refusal;
use northstar_core::Visibility;
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::subscriber::Interest;
use tracing_core::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use fields::{Encode, Measure, Shape};
use site::{Kind, Variants};

/// The layer: every event and span it sees becomes a Northstar record in the process-wide
/// recorder ([`Recorder::global`]), which `northstar::init(dir)` stores.
#[derive(Clone, Copy, Debug, Default)]
pub struct NorthstarLayer {
    _private: (),
}

/// The layer (`tracing_subscriber::registry().with(northstar_tracing::layer())`).
pub fn layer() -> NorthstarLayer {
    NorthstarLayer::default()
}

/// Routes `log` records into tracing (and so into Northstar through the layer): installs
/// tracing-log's `LogTracer` as the `log` logger. Fails if a logger is already set.
#[cfg(feature = "log")]
pub fn init_log() -> Result<(), tracing_log::log::SetLoggerError> {
    tracing_log::LogTracer::init()
}

static NEXT_THREAD: AtomicU64 = AtomicU64::new(1);
thread_local! {
    static THREAD: Cell<u64> = const { Cell::new(0) };
    /// The spans this thread has entered (through this layer), innermost last: the parent of
    /// an event or a new contextual span without asking the registry (whose lookup takes and
    /// drops a reference on the span's slab slot, two atomic operations per event).
    static STACK: SpanStack = const { SpanStack::new() };
}

/// Depth of the per-thread stack of entered spans; deeper spans are still counted, and an
/// event under them gets its parent from the registry instead.
const STACK_DEPTH: usize = 64;

struct SpanStack {
    ids: [Cell<u64>; STACK_DEPTH],
    depth: Cell<usize>,
}

impl SpanStack {
    const fn new() -> Self {
        Self {
            ids: [const { Cell::new(0) }; STACK_DEPTH],
            depth: Cell::new(0),
        }
    }

    fn push(&self, id: u64) {
        let d = self.depth.get();
        if let Some(slot) = self.ids.get(d) {
            slot.set(id);
        }
        self.depth.set(d + 1);
    }

    fn pop(&self, id: u64) {
        let d = self.depth.get();
        if d == 0 {
            return;
        }
        // Spans are exited in reverse order of entering in ordinary code; if not (a guard
        // moved and dropped out of order), remove the matching entry.
        if d <= STACK_DEPTH && self.ids[d - 1].get() != id {
            if let Some(i) = (0..d).rev().find(|&i| self.ids[i].get() == id) {
                for j in i..d - 1 {
                    self.ids[j].set(self.ids[j + 1].get());
                }
            }
        }
        self.depth.set(d - 1);
    }

    /// The innermost entered span: `Some(id)`, `Some(0)` for none, `None` when deeper than
    /// the stack holds.
    #[inline(always)]
    fn current(&self) -> Option<u64> {
        match self.depth.get() {
            0 => Some(0),
            d if d <= STACK_DEPTH => Some(self.ids[d - 1].get()),
            _ => None,
        }
    }
}

/// The current span of this thread, from the layer's own stack (the registry's when deeper).
#[inline(always)]
fn current_span<S: Subscriber>(ctx: &Context<'_, S>) -> u64 {
    match STACK.try_with(SpanStack::current).ok().flatten() {
        Some(id) => id,
        None => ctx.current_span().id().map_or(0, Id::into_u64),
    }
}

/// The bridge's number for the calling thread.
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

/// Measures, finds the schema, and writes one record: the bridge's `extras`, then the values
/// `visit` gives (called twice).
#[inline(always)]
fn record(
    variants: &Variants,
    fields: usize,
    extras: &[u64],
    visit: impl Fn(&mut dyn tracing_core::field::Visit),
) {
    let mut shape = Shape::new(extras.len(), fields);
    visit(&mut Measure(&mut shape));
    if !shape.ok {
        return refuse();
    }
    let types = shape.types();
    let Some(id) = variants.id(site::key_of(types), types) else {
        return refuse();
    };
    let _ = Recorder::global().record_user_dyn(id, 0, Visibility::Public, shape.len, |w| {
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

#[inline(always)]
fn site_of(md: &'static Metadata<'static>) -> Option<&'static site::Site> {
    site::find(md).or_else(|| site::intern(md))
}

impl<S> Layer<S> for NorthstarLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        // The schema is interned here, once per callsite (cold); records carry values only.
        let _ = site::intern(metadata);
        Interest::always()
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let md = event.metadata();
        let Some(site) = site_of(md) else {
            return refuse();
        };
        let span = match event.parent() {
            Some(p) => p.into_u64(),
            None if event.is_contextual() => current_span(&ctx),
            None => 0,
        };
        record(
            &site.main,
            md.fields().len(),
            &[thread_number(), span],
            |v| event.record(v),
        );
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let md = attrs.metadata();
        let Some(site) = site_of(md) else {
            return refuse();
        };
        let parent = match attrs.parent() {
            Some(p) => p.into_u64(),
            None if attrs.is_contextual() => current_span(&ctx),
            None => 0,
        };
        spans::open(id.into_u64(), Recorder::global().now_ticks());
        record(
            &site.main,
            md.fields().len(),
            &[id.into_u64(), parent, thread_number()],
            |v| attrs.record(v),
        );
    }

    fn on_enter(&self, id: &Id, _ctx: Context<'_, S>) {
        let _ = STACK.try_with(|s| s.push(id.into_u64()));
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        let _ = STACK.try_with(|s| s.pop(id.into_u64()));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(md) = ctx.metadata(id) else { return };
        let Some(site) = site_of(md) else {
            return refuse();
        };
        let Some(update) = &site.update else { return };
        record(
            update,
            md.fields().len(),
            &[id.into_u64(), thread_number()],
            |v| values.record(v),
        );
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let recorder = Recorder::global();
        let start = spans::close(id.into_u64());
        let Some(md) = ctx.metadata(&id) else { return };
        let Some(site) = site_of(md) else {
            return refuse();
        };
        if site.kind != Kind::Span || site.end == 0 {
            return refuse();
        }
        let duration = start.map(|s| {
            let ticks = recorder.now_ticks().wrapping_sub(s);
            recorder.clock().ticks_to_nanos(ticks)
        });
        let len = 8 + 8 + 1 + if duration.is_some() { 8 } else { 0 };
        let thread = thread_number();
        let _ = recorder.record_user_dyn(site.end, 0, Visibility::Public, len, |w| {
            w.put(&id.into_u64().to_le_bytes());
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
}
