//! `perf_sample!` and `operation!` record interned ring records (call-site id, numbers and the
//! run-time strings only); the flusher expands them at drain, so the store holds the standard
//! `perf_sample` and `agent_operation` records with every string, and queries, verify and
//! compaction see exactly what the macros wrote before interning.

use std::time::Duration;

use northstar_core::events::Event;
use northstar_core::recorder::Recorder;
use northstar_core::{operation, perf_sample};
use northstar_store::{EventManager, FsyncPolicy, Query, StoreConfig};

#[test]
fn interned_macro_records_are_stored_as_standard_events() {
    let dir = tempfile::tempdir().unwrap();
    let m = EventManager::open(
        dir.path(),
        StoreConfig {
            segment_max_bytes: 64 << 10,
            flush_interval: Duration::from_millis(2),
            fsync: FsyncPolicy::None,
            recorder: Some(Recorder::global().clone()),
            ..StoreConfig::default()
        },
    )
    .unwrap();
    let thread = String::from("worker-1");
    const N: u64 = 3000;
    for i in 0..N {
        perf_sample!("get_latency_ns", i, "ns", "benchmark" => "btree_point_get", "thread" => &thread);
        let key = format!("user:{i}");
        let mut op = operation!("get", "btree", key.as_str(), agent = 5, session = 77);
        if i % 2 == 1 {
            op.fail();
        }
    }
    m.flush().unwrap();
    let all = m.query(&Query::default()).unwrap();
    assert_eq!(all.len() as u64, 2 * N);
    let (mut samples, mut ops) = (0u64, 0u64);
    for e in &all {
        match e.event().unwrap() {
            Event::PerfSample(p) => {
                assert_eq!(p.metric_name, "get_latency_ns");
                assert_eq!(p.unit, "ns");
                assert_eq!(p.value, samples as f64);
                let dims: Vec<_> = p.dimensions.iter().collect();
                assert_eq!(
                    dims,
                    vec![("benchmark", "btree_point_get"), ("thread", "worker-1")]
                );
                samples += 1;
            }
            Event::AgentOperation(o) => {
                assert_eq!(o.operation_type, "get");
                assert_eq!(o.target_type, "btree");
                assert_eq!(o.target_id, format!("user:{ops}"));
                assert_eq!(o.session_id, 77);
                assert_eq!(e.actor_id, 5);
                let want = if ops % 2 == 1 { "failed" } else { "completed" };
                assert_eq!(o.status, want);
                assert!(o.duration_ns.is_some_and(|d| d >= 0));
                ops += 1;
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
    assert_eq!((samples, ops), (N, N));
    // The guard records clock ticks; the flusher converts the span to nanoseconds. An
    // operation around a 3 ms sleep lasts at least 3 ms and at most the wall time measured
    // around it (unconverted TSC ticks would exceed that on any CPU faster than 1 GHz).
    let outer = std::time::Instant::now();
    {
        let _op = operation!("sleep", "timer", "3ms", agent = 6, session = 78);
        std::thread::sleep(Duration::from_millis(3));
    }
    let outer = outer.elapsed().as_nanos() as i64;
    m.flush().unwrap();
    let slept = m
        .query(&Query::default())
        .unwrap()
        .into_iter()
        .filter(|e| e.actor_id == 6)
        .collect::<Vec<_>>();
    assert_eq!(slept.len(), 1);
    let Ok(Event::AgentOperation(o)) = slept[0].event() else {
        panic!("not an agent_operation");
    };
    let d = o.duration_ns.unwrap();
    assert!(
        (3_000_000..=outer).contains(&d),
        "{d} ns, {outer} ns around it"
    );
    let v = m.verify().unwrap();
    assert!(v.is_clean(), "{v:?}");
    assert_eq!(v.records, 2 * N + 1);
    // Compaction rewrites what is kept; nothing is expired here, so every event stays.
    m.compact(0).unwrap();
    assert_eq!(m.query(&Query::default()).unwrap().len() as u64, 2 * N + 1);
    assert_eq!(m.recorder().counters().lost(), 0);
    m.close().unwrap();
}
