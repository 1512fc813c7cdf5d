//! `perf_sample!` and `operation!` record interned ring records (call-site id, numbers and the
//! run-time strings only); the flusher stores them compact, with each call site's definition
//! once per block, and every reader expands them, so queries, verify and compaction see
//! exactly the standard `perf_sample` and `agent_operation` events the macros stand for.

use std::time::Duration;

use northstar_core::events::Event;
use northstar_core::recorder::Recorder;
use northstar_core::{operation, perf_sample};
use northstar_store::disk::{scan_segment, segment_path, ScanItem, MAX_EXPANSION};
use northstar_store::{unix_now_ns, EventManager, FsyncPolicy, Query, StoreConfig};

/// Per store: (blocks, blocks holding interned records, stored body bytes, expanded bytes).
fn on_disk(dir: &std::path::Path) -> (u64, u64, u64, u64) {
    let mut t = (0, 0, 0, 0);
    for id in 1.. {
        let Ok(bytes) = std::fs::read(segment_path(dir, id)) else {
            break;
        };
        let (_, scan) = scan_segment(&bytes).unwrap();
        for item in scan {
            let ScanItem::Block { block, .. } = item else {
                panic!("damage in a fresh store: {item:?}");
            };
            let view = block.view();
            t.0 += 1;
            t.1 += u64::from(view.is_expanded());
            t.2 += u64::from(view.header.body_len.get());
            t.3 += view.body.len() as u64;
        }
    }
    t
}

/// Asserts every block of the store holds interned records and their expansion is over half
/// again their stored bytes; returns the number of blocks.
fn all_compact(dir: &std::path::Path) -> u64 {
    let (blocks, interned, stored, expanded) = on_disk(dir);
    eprintln!(
        "{blocks} blocks ({interned} compact), {stored} body bytes stored, {expanded} expanded"
    );
    assert_eq!(interned, blocks, "every block holds interned records");
    assert!(
        2 * expanded > 3 * stored,
        "{stored} bytes stored expand to {expanded}"
    );
    blocks
}

/// The macros record into the global recorder, which one store at a time drains.
static ONE_STORE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn config() -> StoreConfig {
    StoreConfig {
        segment_max_bytes: 64 << 10,
        flush_interval: Duration::from_millis(2),
        fsync: FsyncPolicy::None,
        recorder: Some(Recorder::global().clone()),
        ..StoreConfig::default()
    }
}

#[test]
fn interned_macro_records_are_stored_as_standard_events() {
    let _one = ONE_STORE.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let m = EventManager::open(dir.path(), config()).unwrap();
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
    // On disk: compact. Every block holds interned records, and the standard records they
    // expand to are half again their stored bytes (1.9x here, with run-time strings in
    // every record and a definition per site in every one of these small blocks).
    assert!(all_compact(dir.path()) > 1);
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
    // Reopened (the index written at seal, session masks read from the compact records): the
    // session's operations are found through the index.
    let r = EventManager::open_read_only(dir.path()).unwrap();
    let session = r
        .get_session_events(77, &northstar_store::Viewer::System)
        .unwrap();
    assert_eq!(session.len() as u64, N);
    assert_eq!(r.verify().unwrap().records, 2 * N + 1);
}

#[test]
fn long_literals_fall_back_to_standard_records_within_the_expansion_bound() {
    let _one = ONE_STORE.lock().unwrap_or_else(|p| p.into_inner());
    // A 980-byte literal metric name: a compact record is ~50 bytes, its expansion ~1 100,
    // so a block of them would pass MAX_EXPANSION; the flusher stores the rest standard.
    let dir = tempfile::tempdir().unwrap();
    let m = EventManager::open(dir.path(), config()).unwrap();
    const LONG: &str =
        "a_metric_name_of_one_hundred_bytes_a_metric_name_of_one_hundred_bytes_a_metric_name_of_one_hundred";
    const N: u64 = 600;
    for i in 0..N {
        perf_sample!(
            concat!(
                "a_metric_name_of_one_hundred_bytes_a_metric_name_of_one_hundred_bytes_a_metric_name_of_one_hundred",
                "a_metric_name_of_one_hundred_bytes_a_metric_name_of_one_hundred_bytes_a_metric_name_of_one_hundred",
                "a_metric_name_of_one_hundred_bytes_a_metric_name_of_one_hundred_bytes_a_metric_name_of_one_hundred",
                "a_metric_name_of_one_hundred_bytes_a_metric_name_of_one_hundred_bytes_a_metric_name_of_one_hundred",
                "a_metric_name_of_one_hundred_bytes_a_metric_name_of_one_hundred_bytes_a_metric_name_of_one_hundred",
                "a_metric_name_of_one_hundred_bytes_a_metric_name_of_one_hundred_bytes_a_metric_name_of_one_hundred",
                "a_metric_name_of_one_hundred_bytes_a_metric_name_of_one_hundred_bytes_a_metric_name_of_one_hundred",
                "a_metric_name_of_one_hundred_bytes_a_metric_name_of_one_hundred_bytes_a_metric_name_of_one_hundred",
                "a_metric_name_of_one_hundred_bytes_a_metric_name_of_one_hundred_bytes_a_metric_name_of_one_hundred",
                "a_metric_name_of_one_hundred_bytes_a_metric_name_of_one_hundred_bytes_a_metric_name_of_one_hundred",
            ),
            i,
            "ns"
        );
    }
    m.flush().unwrap();
    let all = m.query(&Query::default()).unwrap();
    assert_eq!(all.len() as u64, N);
    for (i, e) in all.iter().enumerate() {
        let Ok(Event::PerfSample(p)) = e.event() else {
            panic!("not a perf_sample");
        };
        assert_eq!(p.metric_name, LONG.repeat(10));
        assert_eq!(p.value, i as f64);
    }
    let (blocks, _, stored, expanded) = on_disk(dir.path());
    assert!(blocks > 0);
    assert!(
        expanded <= MAX_EXPANSION as u64 * stored,
        "{stored} stored bytes expand to {expanded}"
    );
    let v = m.verify().unwrap();
    assert!(v.is_clean(), "{v:?}");
    assert_eq!(m.recorder().counters().lost(), 0);
    m.close().unwrap();
}

/// Compaction copies a wholly kept block of interned records as it is: the kept events stay
/// compact on disk. Re-blocked record by record, they would be stored expanded (standard
/// records, about twice the bytes here).
#[test]
fn compaction_keeps_wholly_kept_interned_blocks_compact() {
    let _one = ONE_STORE.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        retention: Duration::ZERO,
        segment_max_bytes: 1 << 20,
        ..config()
    };
    let m = EventManager::open(dir.path(), config.clone()).unwrap();
    for i in 0..200u64 {
        perf_sample!("expired_ns", i, "ns", "benchmark" => "compaction");
    }
    m.flush().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let cut = unix_now_ns();
    std::thread::sleep(Duration::from_millis(20));
    let thread = String::from("worker-2");
    for i in 0..2000u64 {
        perf_sample!("kept_ns", i, "ns", "benchmark" => "compaction", "thread" => &thread);
    }
    m.close().unwrap(); // sealed: the expired samples' blocks, then the kept ones'
    let m = EventManager::open(dir.path(), config).unwrap();
    let kept: Vec<_> = m
        .query(&Query::default())
        .unwrap()
        .into_iter()
        .filter(|e| e.timestamp >= cut)
        .collect();
    assert_eq!(kept.len(), 2000);
    let report = m.compact(cut).unwrap();
    assert_eq!(report.rewritten.len(), 1, "{report:?}");
    assert_eq!(
        (report.rewritten[0].1, report.rewritten[0].2),
        (2000, 200),
        "{report:?}"
    );
    assert_eq!(
        m.query(&Query::default()).unwrap(),
        kept,
        "the kept events, with their ids and bytes"
    );
    assert!(all_compact(dir.path()) > 0);
    let v = m.verify().unwrap();
    assert!(v.is_clean(), "{v:?}");
    assert_eq!(v.records, 2000);
    assert_eq!(m.recorder().counters().lost(), 0);
    m.close().unwrap();
}
