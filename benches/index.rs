//! The index's reading of a standard record's sessions (numbers in docs/PERFORMANCE.md, "The
//! indexer skips"): decoding each payload and walking it for sessions, as the indexer did
//! before 7e247cc, against `EventType::for_each_session_in`, which decodes only the fields
//! that can hold sessions and skips the rest. The indexer reads every record of a sealed
//! segment this way, on the core the flusher needs.
//!
//! Run: `cargo bench -j2 -p northstar-benches --bench index`
#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use northstar_benches::perf95;
use northstar_core::{Payload, Visibility};

/// Standard `perf_sample` records, framed as in a block: `n` of `perf95`, or with two
/// dimensions and a session in its correlation hints.
fn sample_records(n: u64, with_session: bool) -> Vec<u8> {
    use northstar_core::events::{CorrelationHints, PerfSample};
    use northstar_core::record::{write_record, EventHeader, FRAMING_LEN};
    let dims = [("table", "orders"), ("op", "get")];
    let mut block = Vec::new();
    for i in 0..n {
        let sessions = [i % 64];
        let mut p: PerfSample<'_> = perf95(i);
        if with_session {
            p.dimensions = northstar_core::List::Slice(&dims);
            p.correlation_hints = CorrelationHints {
                commit_range: None,
                session_ids: northstar_core::List::Slice(&sessions),
            };
        }
        let len = Payload::encoded_len(&p);
        let header = EventHeader::new(
            <PerfSample<'_> as Payload>::EVENT_TYPE,
            Visibility::Public,
            i,
            1,
            i as u32,
            len,
        );
        let at = block.len();
        block.resize(at + FRAMING_LEN + len, 0);
        write_record(&mut block[at..], &header, |dst| {
            p.encode_into(dst).expect("sized");
        });
    }
    block
}

/// The index's reading of a standard record's sessions (docs/PERFORMANCE.md, "The indexer
/// skips"): decoding the payload and walking it (before 7e247cc) against
/// `EventType::for_each_session_in`, which decodes only the fields that can hold sessions.
fn bench_session_walk(c: &mut Criterion) {
    use northstar_core::record::records;
    const N: u64 = 10_000;
    let mut g = c.benchmark_group("store/session_walk");
    g.throughput(Throughput::Elements(N));
    for (name, with_session) in [("perf95", false), ("perf_2dims_1session", true)] {
        let block = sample_records(N, with_session);
        g.bench_function(BenchmarkId::new("decode_then_visit", name), |b| {
            b.iter(|| {
                let mut x = 0u64;
                for r in records(&block) {
                    if let Ok(e) = r.expect("well-formed").event() {
                        e.for_each_session(|s| x ^= s);
                    }
                }
                x
            })
        });
        g.bench_function(BenchmarkId::new("skip_walk", name), |b| {
            b.iter(|| {
                let mut x = 0u64;
                for r in records(&block) {
                    let r = r.expect("well-formed");
                    if let Some(t) = r.event_type() {
                        let _ = t.for_each_session_in(r.payload(), |s| x ^= s);
                    }
                }
                x
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_session_walk);
criterion_main!(benches);
