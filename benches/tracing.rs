//! The tracing bridge (`northstar-tracing`) against its peers, in one run with the same
//! callsites and fields:
//! - `northstar`: `registry().with(northstar_tracing::layer())`, records into the global
//!   recorder's ring (drained untimed between batches, as in `hot_path`);
//! - `northstar_subscriber`: `northstar_tracing::subscriber()`, the bridge's own subscriber
//!   (no `Registry`), the same records into the same ring;
//! - `northstar_subscriber_global`: the same subscriber installed with `set_global_default`
//!   (as a program does), measured last because that cannot be undone; every other row uses
//!   `with_default`, whose scoped-dispatcher lookup each event and span pays;
//! - `perfetto_file`: `registry().with(tracing_perfetto_file::PerfettoLayer)` with debug
//!   annotations (so the fields are kept), writing to `io::sink()` on its own thread;
//! - `fmt_json_nonblocking`: `tracing_subscriber::fmt().json()` through
//!   `tracing_appender::non_blocking(io::sink())` (lossy when its channel is full, as by default);
//! - `noop_layer`: the same registry with a layer that does nothing: tracing's own dispatch
//!   and span bookkeeping, the part of every bridge's cost that no layer can remove;
//! - `floor`: a raw timestamp plus a copy of the same bytes the bridge stores (one record for
//!   an event; two, begin and end, for a span).
//!
//! `event3`: `info!(bytes = i, shard = "s1", ok = true)`, three fields and no message.
//! `span`: `info_span!("request", id = i)`, created, entered, exited and closed.
//!
//! Run: `cargo bench -p northstar-benches --bench tracing`

#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use northstar_core::clock::Clock;
use northstar_core::recorder::{Recorder, RecorderConfig};
use tracing_subscriber::prelude::*;

const BATCH: u64 = 8192;
/// The bridge's record for `event3`: header 24, schema id 4, thread 8, span 8, bytes 8,
/// shard 4 + 2, ok 1, trailer 8.
const EVENT_LEN: usize = 67;
/// The bridge's two records for `span`: begin (24 + 4 + span_id, parent, thread 24 + id 8 +
/// 8) and end (24 + 4 + span_id, thread 16 + duration 9 + 8).
const SPAN_LENS: [usize; 2] = [68, 61];

fn recorder() -> &'static Recorder {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        Recorder::configure_global(RecorderConfig {
            rings: 4,
            ..Default::default()
        })
        .expect("first configuration");
    });
    Recorder::global()
}

fn batched(iters: u64, mut op: impl FnMut(u64), mut drain: impl FnMut()) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let n = (iters - done).min(BATCH);
        let start = Instant::now();
        for i in done..done + n {
            op(i);
        }
        total += start.elapsed();
        drain();
        done += n;
    }
    total
}

fn drain_ours() {
    if let Some(mut d) = recorder().drainer() {
        d.drain(usize::MAX, |_, r| {
            black_box(r);
        });
    }
}

#[inline(always)]
fn event3(i: u64) {
    tracing::info!(bytes = i, shard = "s1", ok = true);
}

#[inline(always)]
fn span(i: u64) {
    let s = tracing::info_span!("request", id = i);
    let e = s.enter();
    drop(e);
    drop(s);
}

fn tracing_bridge(c: &mut Criterion) {
    let mut g = c.benchmark_group("tracing");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    let rec = recorder();
    rec.register_thread().expect("a ring");
    {
        let sub = tracing_subscriber::registry().with(northstar_tracing::layer());
        tracing::subscriber::with_default(sub, || {
            g.bench_function("event3/northstar", |b| {
                b.iter_custom(|iters| batched(iters, event3, drain_ours))
            });
            g.bench_function("span/northstar", |b| {
                b.iter_custom(|iters| batched(iters, span, drain_ours))
            });
        });
        assert_eq!(
            rec.counters().lost(),
            0,
            "the bridge lost events: the numbers would be wrong"
        );
    }
    {
        let sub = northstar_tracing::subscriber();
        tracing::subscriber::with_default(sub, || {
            g.bench_function("event3/northstar_subscriber", |b| {
                b.iter_custom(|iters| batched(iters, event3, drain_ours))
            });
            g.bench_function("span/northstar_subscriber", |b| {
                b.iter_custom(|iters| batched(iters, span, drain_ours))
            });
        });
        assert_eq!(
            rec.counters().lost(),
            0,
            "the bridge lost events: the numbers would be wrong"
        );
    }
    {
        let (layer, guard) = tracing_perfetto_file::PerfettoLayer::builder(std::io::sink())
            .with_debug_annotations()
            .build();
        let sub = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(sub, || {
            g.bench_function("event3/perfetto_file", |b| {
                b.iter_custom(|iters| batched(iters, event3, || {}))
            });
            g.bench_function("span/perfetto_file", |b| {
                b.iter_custom(|iters| batched(iters, span, || {}))
            });
        });
        let _ = guard.flush();
    }
    {
        let (writer, guard) = tracing_appender::non_blocking(std::io::sink());
        let sub = tracing_subscriber::fmt()
            .json()
            .with_writer(writer)
            .finish();
        tracing::subscriber::with_default(sub, || {
            g.bench_function("event3/fmt_json_nonblocking", |b| {
                b.iter_custom(|iters| batched(iters, event3, || {}))
            });
            g.bench_function("span/fmt_json_nonblocking", |b| {
                b.iter_custom(|iters| batched(iters, span, || {}))
            });
        });
        drop(guard);
    }
    {
        struct Noop;
        impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Noop {}
        let sub = tracing_subscriber::registry().with(Noop);
        tracing::subscriber::with_default(sub, || {
            g.bench_function("event3/noop_layer", |b| {
                b.iter_custom(|iters| batched(iters, event3, || {}))
            });
            g.bench_function("span/noop_layer", |b| {
                b.iter_custom(|iters| batched(iters, span, || {}))
            });
        });
    }
    let mut buf = vec![0u8; 1 << 20];
    let template = [0x5au8; 128];
    let clock = rec.clock();
    let mut at = 0usize;
    let mut copy = |len: usize, i: u64| {
        if at + len > buf.len() {
            at = 0;
        }
        let dst = &mut buf[at..at + len];
        dst[..8].copy_from_slice(&clock.now_ticks().to_le_bytes());
        dst[8..16].copy_from_slice(&i.to_le_bytes());
        dst[16..].copy_from_slice(&template[16..len]);
        at += len;
        black_box(&buf);
    };
    g.bench_function("event3/floor", |b| {
        b.iter_custom(|iters| batched(iters, |i| copy(EVENT_LEN, i), || {}))
    });
    g.bench_function("span/floor", |b| {
        b.iter_custom(|iters| {
            batched(
                iters,
                |i| {
                    copy(SPAN_LENS[0], i);
                    copy(SPAN_LENS[1], i);
                },
                || {},
            )
        })
    });
    // Last, because a global default cannot be taken back: the subscriber installed as a
    // program installs it (`.init()`), so tracing finds it without the scoped-dispatcher
    // lookup that `with_default` costs every subscriber above.
    tracing::subscriber::set_global_default(northstar_tracing::subscriber())
        .expect("no global default yet");
    g.bench_function("event3/northstar_subscriber_global", |b| {
        b.iter_custom(|iters| batched(iters, event3, drain_ours))
    });
    g.bench_function("span/northstar_subscriber_global", |b| {
        b.iter_custom(|iters| batched(iters, span, drain_ours))
    });
    assert_eq!(
        rec.counters().lost(),
        0,
        "the bridge lost events: the numbers would be wrong"
    );
    g.finish();
}

criterion_group!(benches, tracing_bridge);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
