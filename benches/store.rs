//! Store benchmarks (numbers in docs/PERFORMANCE.md, "Store"):
//! - flusher throughput with 1, 2, 4 producer threads vs plain sequential `write` of the same
//!   bytes (the write floor);
//! - full scan vs reading the same bytes;
//! - a time-range query hitting one segment of many, with and without the index;
//! - with `NORTHSTAR_BENCH_1GIB=1`, the indexed query over 1 GiB of segments;
//! - `NORTHSTAR_BENCH_PACED_RUNS=N` repeats the 10 M events/s check N times.
//!
//! Run: `cargo bench -j2 -p northstar-benches --bench store -- --warm-up-time 1 --measurement-time 3`
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use northstar_benches::perf95 as sample;
use northstar_core::events::AgentSessionEnded;
use northstar_core::recorder::{Recorder, RecorderConfig};
use northstar_core::{Payload, Visibility};
use northstar_store::unix_now_ns;
use northstar_store::{EventManager, FsyncPolicy, Query, StoreConfig};

const EVENTS_PER_ITER: u64 = 200_000;

/// `sample`'s strings as an interned `perf_sample!` call site (what the macro builds): its ring
/// record carries the site id and the value; the flusher expands it to `sample`'s record.
static SAMPLE_META: northstar_core::__private::interned::PerfMeta =
    northstar_core::__private::interned::PerfMeta {
        name: Some("btree_get_latency_ns"),
        unit: Some("ns"),
        dims: &[],
    };
static SAMPLE_SITE: northstar_core::__private::interned::Site =
    northstar_core::__private::interned::Site::perf(&SAMPLE_META);

fn record_interned(m: &EventManager, i: u64) -> bool {
    let args = northstar_core::__private::interned::PerfArgs {
        name: "btree_get_latency_ns",
        unit: "ns",
        dims: [],
    };
    m.recorder()
        .record_perf(&SAMPLE_SITE, &SAMPLE_META, &args, i as f64)
        .is_ok()
}

fn record_len() -> u64 {
    (sample(0).encoded_len() + northstar_core::record::FRAMING_LEN) as u64
}

fn config(recorder: Recorder) -> StoreConfig {
    StoreConfig {
        fsync: FsyncPolicy::None,
        flush_interval: Duration::from_millis(1),
        recorder: Some(recorder),
        ..StoreConfig::default()
    }
}

/// Records `EVENTS_PER_ITER` events from `threads` producers, then `flush()`: time until
/// every event is in the segment file. A producer whose ring is full retries (yielding), so
/// every event is stored and the time is the flusher's. Returns (time, full-ring refusals).
fn flush_run(m: &EventManager, threads: u64, interned: bool) -> (Duration, u64) {
    let before = m.recorder().counters().lost();
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                for i in 0..EVENTS_PER_ITER / threads {
                    while !(if interned {
                        record_interned(m, i)
                    } else {
                        m.record(t, Visibility::Public, &sample(i)).is_ok()
                    }) {
                        std::thread::yield_now();
                    }
                }
            });
        }
    });
    m.flush().unwrap();
    (start.elapsed(), m.recorder().counters().lost() - before)
}

/// Untimed: deletes the sealed segments once they pass 256 MiB. The write floor rewrites the
/// same four files, so its bytes never reach the kernel's dirty-writeback threshold (10% of
/// memory); without this the flusher runs write gigabytes and end up measuring the disk's
/// writeback throttling instead of the flusher.
fn trim(m: &EventManager) {
    if m.stats().unwrap().bytes > 256 << 20 {
        m.compact(u64::MAX).unwrap();
    }
}

fn bench_flusher(c: &mut Criterion) {
    let bytes = EVENTS_PER_ITER * record_len();
    let mut g = c.benchmark_group("store/flusher");
    g.throughput(Throughput::Bytes(bytes));
    g.sample_size(10);
    for (threads, interned) in [(1u64, false), (2, false), (4, false), (1, true), (2, true)] {
        let dir = tempfile::tempdir().unwrap();
        let recorder = Recorder::new(RecorderConfig::default()).unwrap();
        let m = EventManager::open(dir.path(), config(recorder)).unwrap();
        let mut dropped = 0;
        let mut events = 0;
        let id = if interned {
            "producers_interned"
        } else {
            "producers"
        };
        g.bench_with_input(BenchmarkId::new(id, threads), &threads, |b, &t| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (d, lost) = flush_run(&m, t, interned);
                    total += d;
                    dropped += lost;
                    events += EVENTS_PER_ITER;
                    trim(&m);
                }
                total
            })
        });
        eprintln!(
            "store/flusher/{id}/{threads}: {events} events stored, {dropped} full-ring retries"
        );
        m.close().unwrap();
    }
    // The write floor: the same bytes with plain sequential write calls of block size.
    let dir = tempfile::tempdir().unwrap();
    let chunk = vec![0xa5u8; 256 << 10];
    g.bench_function("write_floor", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for i in 0..iters {
                let path = dir.path().join(format!("floor{}", i % 4));
                let start = Instant::now();
                let mut f = std::fs::File::create(&path).unwrap();
                let mut left = bytes as usize;
                while left > 0 {
                    let n = left.min(chunk.len());
                    f.write_all(&chunk[..n]).unwrap();
                    left -= n;
                }
                drop(f);
                total += start.elapsed();
            }
            total
        })
    });
    g.finish();
}

/// No events dropped at 10 million events/s from one producer with the default ring size?
/// Run with the bench's 95-byte `perf_sample` (950 MB/s to disk, most of this machine's page
/// cache write bandwidth) and with a minimal 40-byte `agent_session_ended` (400 MB/s).
fn paced_check(minimal: bool) {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::new(RecorderConfig::default()).unwrap();
    let m = EventManager::open(dir.path(), config(recorder)).unwrap();
    let n = 2_000_000u64;
    let start = Instant::now();
    for i in 0..n {
        // Pace to 10 M/s: event i is due at i * 100 ns.
        while (start.elapsed().as_nanos() as u64) < i * 100 {
            std::hint::spin_loop();
        }
        let _ = if minimal {
            m.record(1, Visibility::Public, &AgentSessionEnded { session_id: i })
        } else {
            m.record(1, Visibility::Public, &sample(i))
        };
    }
    let elapsed = start.elapsed();
    m.flush().unwrap();
    let c = m.recorder().counters();
    eprintln!(
        "store/paced{}: {n} events from one producer in {elapsed:?} ({:.1} M events/s offered), stored {}, dropped {}",
        if minimal { "/40-byte" } else { "/95-byte" },
        n as f64 / elapsed.as_secs_f64() / 1e6,
        c.pushed,
        c.lost()
    );
    m.close().unwrap();
}

/// A directory of `segments` sealed segments, one per round, each `per_segment` events;
/// returns the time marks between rounds.
fn build_store(dir: &Path, segments: usize, per_segment: u64) -> Vec<u64> {
    let recorder = Recorder::new(RecorderConfig::default()).unwrap();
    let mut marks = Vec::new();
    for _ in 0..segments {
        marks.push(unix_now_ns());
        let m = EventManager::open(dir, config(recorder.clone())).unwrap();
        let mut done = 0;
        while done < per_segment {
            for i in 0..50_000.min(per_segment - done) {
                while m.record(1, Visibility::Public, &sample(i)).is_err() {
                    std::thread::yield_now();
                }
            }
            done += 50_000.min(per_segment - done);
        }
        m.close().unwrap();
    }
    marks.push(unix_now_ns());
    marks
}

fn bench_scan_and_query(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let segments = 16;
    let per_segment = 100_000u64;
    let marks = build_store(dir.path(), segments, per_segment);
    let m = EventManager::open_read_only(dir.path()).unwrap();
    let stats = m.stats().unwrap();
    eprintln!(
        "store/scan: {} segments, {} bytes, {} events",
        stats.segments, stats.bytes, stats.events
    );
    let mut g = c.benchmark_group("store/scan");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(stats.bytes));
    g.bench_function("full_scan", |b| {
        b.iter(|| {
            let mut n = 0u64;
            m.query_visit(&Query::default(), |_, r| n += r.payload().len() as u64)
                .unwrap();
            n
        })
    });
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "nss"))
        .collect();
    for threads in [1, 2] {
        g.bench_function(format!("parallel_scan_{threads}_threads"), |b| {
            b.iter(|| {
                // No shared write per record (a shared counter would bounce its cache line
                // between the threads): the summary counts what was visited.
                let s = m
                    .scan(&Query::default(), threads, |id, r| {
                        std::hint::black_box((id, r.payload().len()));
                    })
                    .unwrap();
                assert_eq!(s.visited, stats.events);
                s.bytes
            })
        });
    }
    g.bench_function("read_same_bytes", |b| {
        b.iter(|| {
            files
                .iter()
                .map(|p| std::fs::read(p).unwrap().len())
                .sum::<usize>()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("store/range_query_one_segment_of_16");
    g.sample_size(10);
    let q = Query {
        start_time: Some(marks[7]),
        end_time: Some(marks[8]),
        limit: Some(100),
        ..Query::default()
    };
    assert_eq!(m.query(&q).unwrap(), m.query_without_index(&q).unwrap());
    g.bench_function("indexed", |b| b.iter(|| m.query(&q).unwrap().len()));
    g.bench_function("without_index", |b| {
        b.iter(|| m.query_without_index(&q).unwrap().len())
    });
    g.finish();
}

/// The goal: an indexed time-range query over 1 GiB of segments. Builds 16 sealed
/// segments of ~64 MiB (11.2 M events, about a minute of setup on 2 cores) in a temporary
/// directory, removed afterwards; only when `NORTHSTAR_BENCH_1GIB=1`, to keep the default
/// run short.
fn bench_1gib_query(c: &mut Criterion) {
    if std::env::var_os("NORTHSTAR_BENCH_1GIB").is_none_or(|v| v != "1") {
        eprintln!("store/range_query_1gib: skipped (set NORTHSTAR_BENCH_1GIB=1)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let segments = 16;
    let per_segment = 64 * (1 << 20) / (record_len() + 1);
    let built = Instant::now();
    let marks = build_store(dir.path(), segments, per_segment);
    let m = EventManager::open_read_only(dir.path()).unwrap();
    let stats = m.stats().unwrap();
    eprintln!(
        "store/range_query_1gib: {} segments, {} bytes ({:.2} GiB), {} events, built in {:?}",
        stats.segments,
        stats.bytes,
        stats.bytes as f64 / (1u64 << 30) as f64,
        stats.events,
        built.elapsed()
    );
    let mut g = c.benchmark_group("store/range_query_1gib");
    g.sample_size(10);
    let q = Query {
        start_time: Some(marks[7]),
        end_time: Some(marks[8]),
        limit: Some(100),
        ..Query::default()
    };
    assert_eq!(m.query(&q).unwrap().len(), 100);
    g.bench_function("indexed_one_segment_of_16", |b| {
        b.iter(|| m.query(&q).unwrap().len())
    });
    g.finish();
    // Whole-store scans of the same 1 GiB (issue 12, section 3): the timestamp-ordered
    // visit (`query_visit`, the scan before), the parallel scan on 1 and 2 threads, and
    // `fs::read` of the same files.
    let mut g = c.benchmark_group("store/scan_1gib");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(stats.bytes));
    g.bench_function("query_visit", |b| {
        b.iter(|| {
            let mut n = 0u64;
            m.query_visit(&Query::default(), |_, r| n += r.payload().len() as u64)
                .unwrap();
            n
        })
    });
    for threads in [1, 2] {
        g.bench_function(format!("parallel_scan_{threads}_threads"), |b| {
            b.iter(|| {
                // No shared write per record (a shared counter would bounce its cache line
                // between the threads): the summary counts what was visited.
                let s = m
                    .scan(&Query::default(), threads, |id, r| {
                        std::hint::black_box((id, r.payload().len()));
                    })
                    .unwrap();
                assert_eq!(s.visited, stats.events);
                s.bytes
            })
        });
    }
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "nss"))
        .collect();
    g.bench_function("read_same_bytes", |b| {
        b.iter(|| {
            files
                .iter()
                .map(|p| std::fs::read(p).unwrap().len())
                .sum::<usize>()
        })
    });
    g.finish();
}

fn bench_all(c: &mut Criterion) {
    // `NORTHSTAR_BENCH_PACED_RUNS=N`: repeat the 10 M events/s check N times (a shared VM's
    // scheduling noise makes single runs vary).
    let runs = std::env::var("NORTHSTAR_BENCH_PACED_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    for minimal in [false, true] {
        for _ in 0..runs {
            paced_check(minimal);
        }
    }
    bench_flusher(c);
    bench_scan_and_query(c);
    bench_1gib_query(c);
}

criterion_group!(benches, bench_all);
criterion_main!(benches);
