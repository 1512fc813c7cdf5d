//! Hot-path cost per event: Northstar's macros against the floor (a raw timestamp read plus a
//! copy of the same bytes) and peers carrying the same bytes (rtrb, crossbeam's ArrayQueue,
//! tracing's `event!` with a subscriber that keeps the event).
//!
//! Two shapes, each measured for a minimal fixed event (40-byte record) and a perf_sample with
//! two dimensions (the macro's record; peers carry the same number of bytes):
//! - `single_thread/*`: batches of 8192 events timed, the consumer drains between batches,
//!   untimed: the producer's own cost.
//! - `with_consumer/*`: a consumer thread drains in batches every 50 us while the producer runs,
//!   as the flusher does: adds the cost of sharing cache lines.
//!
//! After criterion, `percentiles` times 200k single events each with the TSC and prints p50,
//! p99 and p99.9 per event, minus the cost of the timing itself.
//!
//! Run: `cargo bench -p northstar-benches --bench hot_path`

#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use northstar_core::clock::Clock;
use northstar_core::events::AgentSessionEnded;
use northstar_core::recorder::{Recorder, RecorderConfig};
use northstar_core::{event, operation, perf_sample};

const BATCH: u64 = 8192;
const FIXED_LEN: usize = 40;
/// Ring record length of the perf_sample the macro writes below (checked at start-up): header
/// 24, call-site id 4, value 8, trailer 8; its literal strings are interned (137 bytes before).
const SAMPLE_LEN: usize = 44;
/// Record length of the user event below: header 24, schema id 4, u64 8, f64 8, trailer 8
/// (the static `unit` string is interned: 0 bytes per record). Checked at start-up.
const USER_LEN: usize = 52;

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

#[inline(always)]
fn ticks() -> u64 {
    recorder().clock().now_ticks()
}

#[inline(always)]
fn record_fixed(i: u64) {
    event!(AgentSessionEnded { session_id: i }, actor = 7);
}

#[inline(always)]
fn record_sample(i: u64) {
    perf_sample!("get_latency_ns", i, "ns", "benchmark" => "btree_point_get", "mode" => "read");
}

/// Ring record length of `record_op`'s `agent_operation` (measured at start-up: its floor
/// copies as many bytes).
static OP_LEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// An `operation!` guard as the demo's workload writes it: literal operation and target types,
/// a runtime key; start and drop (two clock reads).
#[inline(always)]
fn record_op(i: u64) {
    let _op = operation!(
        "get",
        "btree",
        black_box("user:000042"),
        agent = 1,
        session = i
    );
}

/// A user-defined event with three fields: u64, f64 and a static &str.
#[inline(always)]
fn record_user(i: u64) {
    event!("kv.get", latency_ns = i, ratio = 0.5f64, unit = static "ns");
}

/// The bytes a peer carries: a timestamp followed by the payload bytes, `N` in all.
#[inline(always)]
fn frame<const N: usize>(template: &[u8; N], i: u64) -> [u8; N] {
    let mut out = *template;
    out[..8].copy_from_slice(&ticks().to_le_bytes());
    out[8..16].copy_from_slice(&i.to_le_bytes());
    out
}

/// Times `iters` calls of `op` in batches, running `drain` untimed between batches.
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

fn single_thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("single_thread");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    let mut floor_buf = vec![0u8; 1 << 20];
    for (name, len) in [
        ("fixed", FIXED_LEN),
        ("perf_sample", SAMPLE_LEN),
        ("user_event", USER_LEN),
    ] {
        g.bench_function(format!("{name}/northstar"), |b| {
            let op: fn(u64) = match name {
                "fixed" => record_fixed,
                "perf_sample" => record_sample,
                _ => record_user,
            };
            b.iter_custom(|iters| batched(iters, op, drain_ours));
        });
        g.bench_function(format!("{name}/floor"), |b| {
            let template = vec![0x5au8; len];
            b.iter_custom(|iters| {
                let mut at = 0usize;
                batched(
                    iters,
                    |i| {
                        if at + len > floor_buf.len() {
                            at = 0;
                        }
                        let dst = &mut floor_buf[at..at + len];
                        dst[..8].copy_from_slice(&ticks().to_le_bytes());
                        dst[8..16].copy_from_slice(&i.to_le_bytes());
                        dst[16..].copy_from_slice(&template[16..]);
                        at += len;
                        black_box(&floor_buf);
                    },
                    || {},
                )
            });
        });
    }
    g.bench_function("operation/northstar", |b| {
        b.iter_custom(|iters| batched(iters, record_op, drain_ours));
    });
    g.bench_function("operation/floor", |b| {
        // Two clock reads (start and end) and a copy of the guard's record bytes.
        let len = OP_LEN.load(Ordering::Relaxed);
        let template = vec![0x5au8; len];
        b.iter_custom(|iters| {
            let mut at = 0usize;
            batched(
                iters,
                |i| {
                    let t0 = ticks();
                    if at + len > floor_buf.len() {
                        at = 0;
                    }
                    let dst = &mut floor_buf[at..at + len];
                    dst[16..].copy_from_slice(&template[16..]);
                    dst[..8].copy_from_slice(&(ticks() - t0).to_le_bytes());
                    dst[8..16].copy_from_slice(&i.to_le_bytes());
                    at += len;
                    black_box(&floor_buf);
                },
                || {},
            )
        });
    });
    macro_rules! peers {
        ($name:literal, $n:expr) => {{
            let template = [0x5au8; $n];
            g.bench_function(concat!($name, "/rtrb"), |b| {
                let (mut tx, mut rx) = rtrb::RingBuffer::<[u8; $n]>::new(BATCH as usize);
                b.iter_custom(|iters| {
                    batched(
                        iters,
                        |i| {
                            let _ = tx.push(frame(&template, i));
                        },
                        || {
                            while let Ok(v) = rx.pop() {
                                black_box(v);
                            }
                        },
                    )
                });
            });
            g.bench_function(concat!($name, "/crossbeam_array_queue"), |b| {
                let q = crossbeam_queue::ArrayQueue::<[u8; $n]>::new(BATCH as usize);
                b.iter_custom(|iters| {
                    batched(
                        iters,
                        |i| {
                            let _ = q.push(frame(&template, i));
                        },
                        || {
                            while let Some(v) = q.pop() {
                                black_box(v);
                            }
                        },
                    )
                });
            });
        }};
    }
    peers!("fixed", FIXED_LEN);
    peers!("perf_sample", SAMPLE_LEN);

    // tracing: a subscriber that timestamps each event and keeps its fields' bytes.
    let subscriber = keeping::KeepingSubscriber::default();
    let kept = subscriber.kept.clone();
    tracing::subscriber::with_default(subscriber, || {
        g.bench_function("fixed/tracing", |b| {
            b.iter_custom(|iters| {
                batched(
                    iters,
                    |i| tracing::event!(tracing::Level::INFO, session_id = i, actor = 7u64),
                    || keeping::clear(&kept),
                )
            });
        });
        g.bench_function("perf_sample/tracing", |b| {
            b.iter_custom(|iters| {
                batched(
                    iters,
                    |i| {
                        tracing::event!(
                            tracing::Level::INFO,
                            metric_name = "get_latency_ns",
                            value = i as f64,
                            unit = "ns",
                            benchmark = "btree_point_get",
                            mode = "read"
                        )
                    },
                    || keeping::clear(&kept),
                )
            });
        });
    });

    // tracing with its ordinary formatting subscriber (timestamps on), writing to a sink: what
    // most users of tracing pay per event.
    let fmt = tracing_subscriber::fmt()
        .with_writer(std::io::sink)
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(fmt, || {
        g.bench_function("fixed/tracing_fmt", |b| {
            b.iter(|| {
                tracing::event!(
                    tracing::Level::INFO,
                    session_id = black_box(7u64),
                    actor = 7u64
                )
            });
        });
    });
    g.finish();
}

/// Runs `producer` while a consumer thread runs `consume` every 50 us, like the flusher.
fn with_consumer_thread(
    iters: u64,
    op: impl Fn(u64),
    consume: impl Fn() + Send + Sync + 'static,
) -> Duration {
    let stop = Arc::new(AtomicBool::new(false));
    let consume = Arc::new(consume);
    let handle = {
        let stop = stop.clone();
        let consume = consume.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                consume();
                std::thread::sleep(Duration::from_micros(50));
            }
        })
    };
    let start = Instant::now();
    for i in 0..iters {
        op(i);
    }
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    handle.join().unwrap();
    consume();
    elapsed
}

fn with_consumer(c: &mut Criterion) {
    let mut g = c.benchmark_group("with_consumer");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    g.bench_function("fixed/northstar", |b| {
        b.iter_custom(|iters| with_consumer_thread(iters, record_fixed, drain_ours));
    });
    let template = [0x5au8; FIXED_LEN];
    g.bench_function("fixed/rtrb", |b| {
        b.iter_custom(|iters| {
            let (mut tx, rx) = rtrb::RingBuffer::<[u8; FIXED_LEN]>::new(1 << 16);
            let rx = std::sync::Mutex::new(rx);
            let tx = std::cell::RefCell::new(&mut tx);
            with_consumer_thread(
                iters,
                |i| {
                    let _ = tx.borrow_mut().push(frame(&template, i));
                },
                move || {
                    let mut rx = rx.lock().unwrap();
                    while let Ok(v) = rx.pop() {
                        black_box(v);
                    }
                },
            )
        });
    });
    g.bench_function("fixed/crossbeam_array_queue", |b| {
        b.iter_custom(|iters| {
            let q = Arc::new(crossbeam_queue::ArrayQueue::<[u8; FIXED_LEN]>::new(1 << 16));
            let qc = q.clone();
            with_consumer_thread(
                iters,
                |i| {
                    let _ = q.push(frame(&template, i));
                },
                move || {
                    while let Some(v) = qc.pop() {
                        black_box(v);
                    }
                },
            )
        });
    });
    g.finish();
}

/// Per-event latency distribution: each event timed alone with the TSC, minus the median cost
/// of an empty timed region. Returns (p50, p99, p99.9) in nanoseconds.
fn distribution(samples: &mut [u64], op: &mut dyn FnMut(u64), drain: &mut dyn FnMut()) -> [f64; 3] {
    let clock = recorder().clock();
    // Two passes: the first warms caches and ring pages, the second is kept.
    for _ in 0..2 {
        for (i, s) in samples.iter_mut().enumerate() {
            if (i as u64).is_multiple_of(BATCH) {
                drain();
            }
            let t0 = clock.now_ticks();
            op(i as u64);
            *s = clock.now_ticks() - t0;
        }
    }
    samples.sort_unstable();
    let at =
        |q: f64| clock.ticks_to_nanos(samples[((samples.len() - 1) as f64 * q) as usize]) as f64;
    [at(0.5), at(0.99), at(0.999)]
}

fn percentiles() {
    let mut samples = vec![0u64; 200_000];
    let empty = distribution(
        &mut samples,
        &mut |i| {
            black_box(i);
        },
        &mut || {},
    );
    let mut floor_buf = vec![0u8; 1 << 20];
    let mut at = 0usize;
    // `two_reads`: the operation guard's floor reads the clock at start and at end.
    let mut floor = |len: usize, i: u64, two_reads: bool| {
        let t0 = if two_reads { ticks() } else { 0 };
        if at + len > floor_buf.len() {
            at = 0;
        }
        let dst = &mut floor_buf[at..at + len];
        dst[..8].copy_from_slice(&(ticks() - t0).to_le_bytes());
        dst[8..16].copy_from_slice(&i.to_le_bytes());
        dst[16..].fill(0x5a);
        at += len;
        black_box(&floor_buf);
    };
    let op_len = OP_LEN.load(Ordering::Relaxed);
    let rows = [
        (
            "fixed/northstar",
            distribution(&mut samples, &mut record_fixed, &mut drain_ours),
        ),
        (
            "fixed/floor",
            distribution(
                &mut samples,
                &mut |i| floor(FIXED_LEN, i, false),
                &mut || {},
            ),
        ),
        (
            "perf_sample/northstar",
            distribution(&mut samples, &mut record_sample, &mut drain_ours),
        ),
        (
            "perf_sample/floor",
            distribution(
                &mut samples,
                &mut |i| floor(SAMPLE_LEN, i, false),
                &mut || {},
            ),
        ),
        (
            "operation/northstar",
            distribution(&mut samples, &mut record_op, &mut drain_ours),
        ),
        (
            "operation/floor",
            distribution(&mut samples, &mut |i| floor(op_len, i, true), &mut || {}),
        ),
    ];
    println!("\nper-event latency, each event timed alone with the TSC (timing overhead p50 {:.1} ns subtracted)", empty[0]);
    println!(
        "{:<24} {:>8} {:>8} {:>9}",
        "event", "p50 ns", "p99 ns", "p99.9 ns"
    );
    for (name, [p50, p99, p999]) in rows {
        let less = |v: f64| (v - empty[0]).max(0.0);
        println!(
            "{name:<24} {:>8.1} {:>8.1} {:>9.1}",
            less(p50),
            less(p99),
            less(p999)
        );
    }
}

mod keeping {
    //! A tracing subscriber that keeps every event: a timestamp and the fields' bytes, appended
    //! to a buffer that the benchmark clears between batches (untimed).
    use std::sync::{Arc, Mutex};
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    #[derive(Default)]
    pub struct KeepingSubscriber {
        pub kept: Arc<Mutex<Vec<u8>>>,
    }

    pub fn clear(kept: &Arc<Mutex<Vec<u8>>>) {
        kept.lock().unwrap().clear();
    }

    struct Keep<'a>(&'a mut Vec<u8>);

    impl Visit for Keep<'_> {
        fn record_u64(&mut self, _: &Field, v: u64) {
            self.0.extend_from_slice(&v.to_le_bytes());
        }
        fn record_f64(&mut self, _: &Field, v: f64) {
            self.0.extend_from_slice(&v.to_le_bytes());
        }
        fn record_str(&mut self, _: &Field, v: &str) {
            self.0.extend_from_slice(v.as_bytes());
        }
        fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
    }

    impl Subscriber for KeepingSubscriber {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut kept = self.kept.lock().unwrap();
            kept.extend_from_slice(&super::ticks().to_le_bytes());
            event.record(&mut Keep(&mut kept));
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }
}

criterion_group!(benches, single_thread, with_consumer);

/// Prints the ring and stored (expanded) record bytes of the demo workload's `perf_sample!` and
/// `operation!` calls (`crates/northstar-cli/src/workload.rs`: a 1-char thread name, op "get",
/// a 10-byte key).
fn demo_sizes(recorder: &Recorder) {
    let op = "get";
    let thread_name = format!("{}", 0);
    let key = "k000000042";
    perf_sample!("operation_latency_p50_ns", 812.0, "ns", "op" => op, "thread" => &thread_name);
    drop(operation!("get", "btree", key, agent = 1, session = 2));
    if let Some(mut d) = recorder.drainer() {
        d.drain(usize::MAX, |_, r| {
            let x = northstar_core::__private::interned::Interned::parse(r).expect("interned");
            println!(
                "demo {:?}: {} bytes in the ring, {} stored",
                x.event_type(),
                r.len(),
                x.record_len()
            );
        });
    }
}

fn main() {
    // The perf_sample peers carry exactly as many bytes as the macro's record.
    let recorder = recorder();
    record_sample(0);
    if let Some(mut d) = recorder.drainer() {
        d.drain(usize::MAX, |_, r| {
            assert_eq!(r.len(), SAMPLE_LEN, "update SAMPLE_LEN")
        });
    }
    record_op(0);
    if let Some(mut d) = recorder.drainer() {
        d.drain(usize::MAX, |_, r| OP_LEN.store(r.len(), Ordering::Relaxed));
    }
    println!(
        "ring record bytes: perf_sample {SAMPLE_LEN}, operation {}",
        OP_LEN.load(Ordering::Relaxed)
    );
    demo_sizes(recorder);
    record_user(0);
    if let Some(mut d) = recorder.drainer() {
        d.drain(usize::MAX, |_, r| {
            assert_eq!(r.len(), USER_LEN, "update USER_LEN")
        });
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
    if std::env::args().all(|a| a != "--list") {
        percentiles();
    }
}
