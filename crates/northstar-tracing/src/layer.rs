//! The `tracing_subscriber::Layer`: on top of tracing-subscriber's `Registry` (or any
//! subscriber with span lookup), beside other layers and their filters.

use tracing_core::span::{Attributes, Id, Record};
use tracing_core::subscriber::Interest;
use tracing_core::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::stack::SpanStack;
use crate::{refuse, site, site_of, spans};

/// The layer: every event and span it sees becomes a Northstar record in the process-wide
/// recorder ([`Recorder::global`](northstar_core::recorder::Recorder::global)), which
/// `northstar::init(dir)` stores.
#[derive(Clone, Copy, Debug, Default)]
pub struct NorthstarLayer {
    _private: (),
}

/// The layer (`tracing_subscriber::registry().with(northstar_tracing::layer())`).
pub fn layer() -> NorthstarLayer {
    NorthstarLayer::default()
}

thread_local! {
    /// The spans this thread has entered (through this layer), innermost last: the parent of
    /// an event or a new contextual span without asking the registry (whose lookup takes and
    /// drops a reference on the span's slab slot, two atomic operations per event).
    static STACK: SpanStack = const { SpanStack::new() };
}

/// The current span of this thread, from the layer's own stack (the registry's when deeper).
#[inline(always)]
fn current_span<S: Subscriber>(ctx: &Context<'_, S>) -> u64 {
    match STACK.try_with(SpanStack::current).ok().flatten() {
        Some(id) => id,
        None => ctx.current_span().id().map_or(0, Id::into_u64),
    }
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
        let span = match event.parent() {
            Some(p) => p.into_u64(),
            None if event.is_contextual() => current_span(&ctx),
            None => 0,
        };
        crate::write_event(event, span);
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(site) = site_of(attrs.metadata()) else {
            return refuse();
        };
        let parent = match attrs.parent() {
            Some(p) => p.into_u64(),
            None if attrs.is_contextual() => current_span(&ctx),
            None => 0,
        };
        let start = crate::write_begin(site, attrs, id.into_u64(), parent);
        spans::open(id.into_u64(), start, site);
    }

    fn on_enter(&self, id: &Id, _ctx: Context<'_, S>) {
        let _ = STACK.try_with(|s| s.push(id.into_u64()));
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        let _ = STACK.try_with(|s| s.pop(id.into_u64()));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let site = match spans::site(id.into_u64()) {
            Some(site) => site,
            None => {
                let Some(md) = ctx.metadata(id) else { return };
                let Some(site) = site_of(md) else {
                    return refuse();
                };
                site
            }
        };
        crate::write_update(site, id.into_u64(), values);
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        // The site from the table (no registry lookup); from the registry when the table had
        // no room for this span (its duration is then unknown).
        let (site, start) = match spans::close(id.into_u64()) {
            Some((start, site)) => (site, Some(start)),
            None => {
                let Some(md) = ctx.metadata(&id) else { return };
                let Some(site) = site_of(md) else {
                    return refuse();
                };
                (site, None)
            }
        };
        crate::write_end(site, id.into_u64(), start);
    }
}
