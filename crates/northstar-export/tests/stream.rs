//! The exporters read the store in store order through the block cursor: every event once,
//! resumable from any saved position, damage reported and skipped, Perfetto slices nested per
//! track.

use northstar_core::codec::List;
use northstar_core::events::CorrelationHints;
use northstar_core::events::{AgentOperation, AgentSessionEnded, PerfSample, TimeWindow};
use northstar_core::Visibility;
use northstar_export::perfetto::PerfettoSink;
use northstar_export::{export, Item, Problem, Selection, Sink};
use northstar_store::{BlockCursor, CursorItem, EventManager, Position, StoreConfig};

const T0: u64 = 1_700_000_000_000_000_000;

fn op<'a>(session: u64, id: u64, ty: &'a str, dur: i64) -> AgentOperation<'a> {
    AgentOperation {
        session_id: session,
        operation_type: ty,
        operation_id: id,
        target_type: "btree",
        target_id: "k",
        status: "completed",
        duration_ns: Some(dur),
        metadata: List::EMPTY,
    }
}

/// A store of `n` operations (two sessions, some nested), perf samples and session ends,
/// spread over several segments and blocks.
fn store(n: u64) -> (tempfile::TempDir, u64) {
    let dir = tempfile::tempdir().unwrap();
    let em = EventManager::open(
        dir.path(),
        StoreConfig {
            segment_max_bytes: 8 << 10,
            ..StoreConfig::default()
        },
    )
    .unwrap();
    let mut count = 0;
    for i in 0..n {
        let ts = T0 + i * 1000;
        // Inner operation (recorded first, as a guard records at its end), then its parent.
        em.record_at(ts, 7, Visibility::Public, &op(1, 2 * i, "inner", 100))
            .unwrap();
        em.record_at(
            ts + 10,
            7,
            Visibility::Public,
            &op(1, 2 * i + 1, "outer", 500),
        )
        .unwrap();
        count += 2;
        if i % 10 == 0 {
            let dims = [("op", "get")];
            em.record_at(
                ts + 20,
                0,
                Visibility::Public,
                &PerfSample {
                    metric_name: "latency_ns",
                    dimensions: List::Slice(&dims),
                    value: i as f64,
                    unit: "ns",
                    timestamp_window: TimeWindow { start: 0, end: 0 },
                    correlation_hints: CorrelationHints::NONE,
                },
            )
            .unwrap();
            count += 1;
            em.flush().unwrap();
        }
    }
    em.record_at(
        T0 + n * 1000,
        7,
        Visibility::Private,
        &AgentSessionEnded { session_id: 1 },
    )
    .unwrap();
    count += 1;
    em.close().unwrap();
    (dir, count)
}

struct Collect(Vec<(u64, String)>);

impl Sink for Collect {
    fn event(&mut self, item: &Item<'_>) -> northstar_export::Result<()> {
        self.0.push((item.event_id, item.type_name().to_string()));
        Ok(())
    }
    fn finish(&mut self) -> northstar_export::Result<()> {
        Ok(())
    }
}

fn collect(dir: &std::path::Path, sel: Selection) -> (Vec<(u64, String)>, Vec<String>) {
    let mut sink = Collect(Vec::new());
    let mut problems = Vec::new();
    export(dir, sel, &mut sink, &mut |_| {}, &mut |p: Problem| {
        problems.push(p.to_string())
    })
    .unwrap();
    (sink.0, problems)
}

#[test]
fn every_event_once_in_store_order_across_segments() {
    let (dir, count) = store(200);
    let segments = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".nss")
        })
        .count();
    assert!(
        segments > 2,
        "the test needs several segments, got {segments}"
    );
    let (events, problems) = collect(dir.path(), Selection::default());
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(events.len() as u64, count);
    assert!(events.windows(2).all(|w| w[0].0 < w[1].0), "store order");
    // Filters as for query: type, and the viewer (the private session end is the actor's own).
    let ops = collect(
        dir.path(),
        Selection {
            types: vec![northstar_core::EventType::AgentOperation],
            ..Selection::default()
        },
    )
    .0;
    assert_eq!(ops.len(), 400);
    let stranger = collect(
        dir.path(),
        Selection {
            viewer: northstar_store::Viewer::Actor { actor_id: 99 },
            ..Selection::default()
        },
    )
    .0;
    assert_eq!(
        stranger.len() as u64,
        count - 1,
        "a private event is not shipped to others"
    );
}

#[test]
fn a_cursor_resumes_exactly_after_the_saved_block() {
    let (dir, count) = store(100);
    let mut first = BlockCursor::new(dir.path(), Position::START).unwrap();
    let mut seen = 0u64;
    let mut saved = Position::START;
    let mut blocks = 0;
    while let Some(CursorItem::Block(b)) = first.next_block().unwrap() {
        seen += u64::from(b.view.header.record_count.get());
        saved = b.next;
        blocks += 1;
        if blocks == 5 {
            break;
        }
    }
    let mut rest = BlockCursor::new(dir.path(), saved).unwrap();
    let mut ids = Vec::new();
    while let Some(item) = rest.next_block().unwrap() {
        let CursorItem::Block(b) = item else {
            panic!("no damage here")
        };
        for r in b.view.records() {
            ids.push(b.event_id(r.header().event_seq.get()));
        }
    }
    assert_eq!(seen + ids.len() as u64, count, "nothing lost or repeated");
    assert!(rest.next_block().unwrap().is_none(), "caught up");
}

#[test]
fn a_damaged_block_is_reported_and_the_rest_is_read() {
    let (dir, count) = store(100);
    // Flip a byte in the body of the second block of the first segment.
    let seg = dir.path().join("seg-0000000001.nss");
    let mut cursor = BlockCursor::new(dir.path(), Position::START).unwrap();
    let mut offsets = Vec::new();
    while let Some(CursorItem::Block(b)) = cursor.next_block().unwrap() {
        if b.segment_id != 1 {
            break;
        }
        offsets.push((b.offset, b.view.header.record_count.get()));
    }
    assert!(offsets.len() >= 3, "{offsets:?}");
    let (off, lost) = offsets[1];
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[off as usize + 60] ^= 0xff;
    std::fs::write(&seg, bytes).unwrap();
    let (events, problems) = collect(dir.path(), Selection::default());
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("damaged block"), "{problems:?}");
    assert_eq!(events.len() as u64, count - u64::from(lost));
}

#[test]
fn perfetto_slices_match_the_operations_and_nest() {
    let (dir, _) = store(50);
    let mut out = Vec::new();
    let mut sink = PerfettoSink::new(&mut out, "test");
    export(
        dir.path(),
        Selection::default(),
        &mut sink,
        &mut |_| {},
        &mut |p| panic!("{p}"),
    )
    .unwrap();
    let stats = sink.stats();
    assert_eq!(stats.slices, 100);
    assert_eq!(stats.counter_values, 5);
    assert_eq!(stats.instants, 1);
    // Inner operations nest in their parents: one lane per session, no overflow track.
    assert_eq!(stats.overflow_tracks, 0);
    assert!(!out.is_empty() && out[0] == 0x0a, "a Trace's first packet");
}

#[test]
fn a_cursor_follows_a_store_being_written() {
    let dir = tempfile::tempdir().unwrap();
    let em = EventManager::open(dir.path(), StoreConfig::default()).unwrap();
    let mut cursor = BlockCursor::new(dir.path(), Position::START).unwrap();
    let mut read = 0u64;
    let mut drain = |cursor: &mut BlockCursor| {
        while let Some(item) = cursor.next_block().unwrap() {
            let CursorItem::Block(b) = item else {
                panic!("no damage in a live store")
            };
            read += u64::from(b.view.header.record_count.get());
        }
        read
    };
    assert_eq!(drain(&mut cursor), 0, "nothing written yet");
    for round in 1..=3u64 {
        for i in 0..100 {
            em.record_at(T0 + i, 7, Visibility::Public, &op(1, i, "get", 10))
                .unwrap();
        }
        em.flush().unwrap();
        assert_eq!(
            drain(&mut cursor),
            100 * round,
            "round {round}: only the new blocks"
        );
    }
    em.close().unwrap();
    assert_eq!(drain(&mut cursor), 300, "closing adds no event");
}
