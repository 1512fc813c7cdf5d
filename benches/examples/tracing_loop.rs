//! A loop of `tracing` calls through the bridge (or a peer) for instruction-level profiling
//! on a loaded machine, where timings are noise but instruction counts are not, e.g.
//! `perf stat -e instructions:u target/release/examples/tracing_loop subscriber span 200000`
//! or `valgrind --tool=callgrind target/release/examples/tracing_loop layer event3 100000`.
//! Subscribers: `layer` (`registry().with(northstar_tracing::layer())`), `subscriber`
//! (`northstar_tracing::subscriber()`), `subscriber_global` (the same, installed with
//! `set_global_default` as a program does, instead of `with_default`), `noop` (`registry()` with a layer that does nothing).
//! The same callsites as `benches/tracing.rs`.
use northstar_core::recorder::{Recorder, RecorderConfig};
use tracing_subscriber::prelude::*;

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

fn run(what: &str, n: u64) {
    let recorder = Recorder::global();
    let mut drainer = recorder.drainer().expect("sole drainer");
    for i in 0..n {
        match what {
            "span" => span(i),
            _ => event3(i),
        }
        if i % 8192 == 0 {
            drainer.drain(usize::MAX, |_, r| {
                std::hint::black_box(r);
            });
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let sub = args.next().unwrap_or_else(|| "subscriber".into());
    let what = args.next().unwrap_or_else(|| "event3".into());
    let n: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    Recorder::configure_global(RecorderConfig {
        rings: 2,
        ..Default::default()
    })
    .expect("first configuration");
    match sub.as_str() {
        "layer" => {
            let s = tracing_subscriber::registry().with(northstar_tracing::layer());
            tracing::subscriber::with_default(s, || run(&what, n));
        }
        "noop" => {
            struct Noop;
            impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Noop {}
            let s = tracing_subscriber::registry().with(Noop);
            tracing::subscriber::with_default(s, || run(&what, n));
        }
        "subscriber_global" => {
            // As a program installs it (`.init()`): no scoped dispatcher to look up.
            tracing::subscriber::set_global_default(northstar_tracing::subscriber())
                .expect("first global default");
            run(&what, n);
        }
        _ => {
            let s = northstar_tracing::subscriber();
            tracing::subscriber::with_default(s, || run(&what, n));
        }
    }
    println!("{:?}", Recorder::global().counters());
}
