//! [`NorthstarSubscriber`]: a `tracing` `Subscriber` of its own, not on tracing-subscriber's
//! `Registry`, for programs whose only tracing consumer is Northstar. Span ids are a thread
//! number and a per-thread counter (no shared slab), the current span is a thread-local stack,
//! and an open span is a few atomics in a fixed table ([`crate::live`]): reference count,
//! start, call site.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing_core::span::{Attributes, Current, Id, Record};
use tracing_core::subscriber::Interest;
use tracing_core::{Event, LevelFilter, Metadata, Subscriber};
use tracing_subscriber::filter::{ParseError, Targets};

use crate::live::{self, Release, COUNTER_BITS, COUNTER_MASK};
use crate::stack::SpanStack;
use crate::{refuse, site, site_of, thread_number};

/// A `tracing` subscriber that records every event and span it enables into the process-wide
/// recorder, as [`NorthstarLayer`](crate::NorthstarLayer) does (the same records), without
/// tracing-subscriber's `Registry` underneath. Its filter is a [`Targets`] (target prefixes
/// and levels, the `target=level` directives of `EnvFilter`); by default it keeps everything.
///
/// ```no_run
/// use tracing_subscriber::util::SubscriberInitExt;
/// let _northstar = northstar::init("./northstar-data").unwrap();
/// northstar_tracing::subscriber()
///     .with_directives("info,kv::wal=debug")
///     .unwrap()
///     .init();
/// tracing::info!(bytes = 4096u64, "flushed");
/// ```
#[derive(Clone, Debug, Default)]
pub struct NorthstarSubscriber {
    filter: Option<Targets>,
}

/// The subscriber, keeping every event and span (`northstar_tracing::subscriber().init()`).
pub fn subscriber() -> NorthstarSubscriber {
    NorthstarSubscriber::default()
}

impl NorthstarSubscriber {
    /// Keeps only what `targets` enables (by target prefix and level).
    pub fn with_targets(mut self, targets: Targets) -> Self {
        self.filter = Some(targets);
        self
    }

    /// Keeps only what the comma-separated directives enable: `level` or `target=level`, as in
    /// `RUST_LOG` (e.g. `"warn,my_app=debug"`). `EnvFilter`'s span and field directives
    /// (`[span{field=value}]`) are not supported and are a parse error, never ignored.
    pub fn with_directives(self, directives: &str) -> Result<Self, ParseError> {
        Ok(self.with_targets(directives.parse()?))
    }

    #[inline(always)]
    fn keeps(&self, metadata: &Metadata<'_>) -> bool {
        match &self.filter {
            None => true,
            Some(t) => t.would_enable(metadata.target(), metadata.level()),
        }
    }
}

thread_local! {
    /// The spans this thread has entered, innermost last.
    static STACK: SpanStack = const { SpanStack::new() };
    /// This thread's span counter.
    static NEXT_SPAN: Cell<u64> = const { Cell::new(0) };
}

/// Span ids of threads whose thread-locals are gone (being torn down): thread bits 0.
static NEXT_ORPHAN: AtomicU64 = AtomicU64::new(1);

/// A new span id: the thread's number (1..2^20, wrapping) above its counter. Never 0.
#[inline(always)]
fn next_span_id() -> u64 {
    const THREADS: u64 = 1 << (64 - COUNTER_BITS);
    let thread = match thread_number() {
        n if n < THREADS => n,
        // Past 2^20 - 1 threads (cold): numbers wrap, skipping 0.
        n => (n - 1) % (THREADS - 1) + 1,
    };
    let counter = if thread == 0 {
        None
    } else {
        NEXT_SPAN
            .try_with(|c| {
                let n = c.get().wrapping_add(1) & COUNTER_MASK;
                c.set(n);
                n
            })
            .ok()
    };
    match counter {
        Some(n) => (thread << COUNTER_BITS) | n,
        None => (NEXT_ORPHAN.fetch_add(1, Ordering::Relaxed) & COUNTER_MASK).max(1),
    }
}

/// The innermost span this thread entered (0 for none; see [`SpanStack::innermost_kept`]).
#[inline(always)]
fn current() -> u64 {
    STACK.try_with(SpanStack::innermost_kept).unwrap_or(0)
}

impl Subscriber for NorthstarSubscriber {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if !self.keeps(metadata) {
            return Interest::never();
        }
        // The schema is interned here, once per callsite (cold); records carry values only.
        let _ = site::intern(metadata);
        Interest::always()
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.keeps(metadata)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        let Some(t) = &self.filter else {
            return Some(LevelFilter::TRACE);
        };
        Some(
            t.iter()
                .map(|(_, level)| level)
                .chain(t.default_level())
                .max()
                .unwrap_or(LevelFilter::OFF),
        )
    }

    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = next_span_id();
        let Some(site) = site_of(attrs.metadata()) else {
            refuse();
            return Id::from_u64(id);
        };
        let parent = match attrs.parent() {
            Some(p) => p.into_u64(),
            None if attrs.is_contextual() => current(),
            None => 0,
        };
        let start = crate::write_begin(site, attrs, id, parent);
        if !live::open(id, start, site) {
            // No room to keep it: its end record cannot be written; counted, not silent.
            refuse();
        }
        Id::from_u64(id)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        if let Some(site) = live::site(span.into_u64()) {
            crate::write_update(site, span.into_u64(), values);
        }
    }

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let parent = match event.parent() {
            Some(p) => p.into_u64(),
            None if event.is_contextual() => current(),
            None => 0,
        };
        crate::write_event(event, parent);
    }

    fn enter(&self, span: &Id) {
        let _ = STACK.try_with(|s| s.push(span.into_u64()));
    }

    fn exit(&self, span: &Id) {
        let _ = STACK.try_with(|s| s.pop(span.into_u64()));
    }

    fn clone_span(&self, id: &Id) -> Id {
        live::clone(id.into_u64());
        id.clone()
    }

    fn try_close(&self, id: Id) -> bool {
        match live::release(id.into_u64()) {
            Release::Kept => false,
            Release::Closed(start, site) => {
                crate::write_end(site, id.into_u64(), Some(start));
                true
            }
            Release::Unknown => true,
        }
    }

    fn current_span(&self) -> Current {
        match current() {
            0 => Current::none(),
            id => match live::site(id) {
                Some(site) => Current::new(Id::from_u64(id), site.md),
                // A span the table had no room for: its metadata is not kept (tracing-core
                // offers no public "unknown" here); counted as refused when it was created.
                None => Current::none(),
            },
        }
    }
}
