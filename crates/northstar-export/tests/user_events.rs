//! User-defined events (`event!("kv.wal_sync", ...)`, typed and optional fields, constants)
//! and the tracing bridge's records (spans as begin/record/end, events inside spans), recorded
//! for real into a store, flow into every export: ClickHouse rows with typed JSON payloads,
//! OTLP spans with parent links / metric points per numeric field / log records linked to
//! their span, Perfetto slices and instants; `Selection::user_types` selects them by name.

use northstar::event;
use northstar_export::clickhouse::ClickhouseSink;
use northstar_export::otlp::{BatchLimits, Encoding, OtlpSink};
use northstar_export::perfetto::PerfettoSink;
use northstar_export::{export, Selection, Totals};
use serde_json::Value;
use tracing::{info, info_span};
use tracing_subscriber::prelude::*;

fn record(dir: &std::path::Path) {
    let guard = northstar::init(dir).unwrap();
    let subscriber = tracing_subscriber::registry().with(northstar_tracing::layer());
    tracing::subscriber::with_default(subscriber, || {
        let file = String::from("wal.log");
        event!(
            "kv.wal_sync",
            bytes = 4096u64,
            delta = -3i64,
            ratio = 0.5f64,
            ok = true,
            retries = Some(2u32),
            note = None::<&str>,
            file = file.as_str(),
            unit = static "bytes"
        );
        event!("kv.only_numbers", n = 7u64);
        let outer = info_span!(target: "app", "request", id = 42u64);
        {
            let _o = outer.enter();
            let inner =
                info_span!(target: "app", "lookup", key = "k1", hits = tracing::field::Empty);
            let _i = inner.enter();
            inner.record("hits", 5u64);
            std::thread::sleep(std::time::Duration::from_millis(2));
            info!(target: "app", count = 3u64, "inside");
        }
        drop(outer);
    });
    guard.close().unwrap();
}

fn run(dir: &std::path::Path, sel: Selection, sink: &mut dyn northstar_export::Sink) -> Totals {
    let mut problems = Vec::new();
    let t = export(dir, sel, sink, &mut |_| {}, &mut |p| {
        problems.push(p.to_string())
    })
    .unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    t
}

fn attr<'v>(attrs: &'v Value, k: &str) -> Option<&'v Value> {
    attrs
        .as_array()?
        .iter()
        .find(|a| a["key"] == k)
        .map(|a| &a["value"])
}

#[test]
fn user_events_and_tracing_spans_reach_every_format() {
    let dir = tempfile::tempdir().unwrap();
    record(dir.path());

    // ClickHouse: one row per stored event, user events with their name, code 224 and typed
    // payloads (runtime fields then constants; an absent optional as null).
    let mut rows = Vec::new();
    let t = run(
        dir.path(),
        Selection::default(),
        &mut ClickhouseSink::new(&mut rows),
    );
    let rows: Vec<Value> = String::from_utf8(rows)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len() as u64, t.events);
    assert_eq!(
        t.user_events, t.events,
        "every stored event is user-defined"
    );
    // 2 user events, 1 tracing event, 2 span begins, 1 span record, 2 span ends.
    assert_eq!(t.events, 8, "{rows:#?}");
    let wal = rows
        .iter()
        .find(|r| r["event_type"] == "kv.wal_sync")
        .unwrap();
    assert_eq!(wal["event_code"], 224);
    let p: Value = serde_json::from_str(wal["payload"].as_str().unwrap()).unwrap();
    assert_eq!(
        p,
        serde_json::json!({"bytes": 4096, "delta": -3, "ratio": 0.5, "ok": true, "retries": 2,
            "note": null, "file": "wal.log", "unit": "bytes"})
    );

    // OTLP/JSON.
    let mut lines = Vec::new();
    let mut sink = OtlpSink::new(Encoding::Json, BatchLimits::default(), |_, b: &[u8]| {
        lines.push(serde_json::from_slice::<Value>(b).unwrap());
        Ok(())
    });
    run(dir.path(), Selection::default(), &mut sink);
    let [spans_n, points_n, logs_n] = sink.counts();
    drop(sink);
    let items = |key: &str, scope: &str, list: &str| -> Vec<Value> {
        lines
            .iter()
            .filter(|r| r.get(key).is_some())
            .flat_map(|r| r[key][0][scope][0][list].as_array().unwrap().clone())
            .collect()
    };
    let spans = items("resourceSpans", "scopeSpans", "spans");
    let metrics = items("resourceMetrics", "scopeMetrics", "metrics");
    let logs = items("resourceLogs", "scopeLogs", "logRecords");
    assert_eq!(
        (spans.len(), metrics.len(), logs.len()),
        (spans_n as usize, points_n as usize, logs_n as usize)
    );
    // Spans: the two tracing spans, the inner one a child of the outer, same trace, its
    // later-recorded field among its attributes, a real duration.
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let span = |name: &str| spans.iter().find(|s| s["name"] == name).unwrap();
    let (outer, inner) = (span("request"), span("lookup"));
    assert_eq!(inner["parentSpanId"], outer["spanId"]);
    assert_eq!(inner["traceId"], outer["traceId"]);
    assert!(outer.get("parentSpanId").is_none());
    assert_eq!(attr(&inner["attributes"], "hits").unwrap()["intValue"], "5");
    assert_eq!(
        attr(&inner["attributes"], "key").unwrap()["stringValue"],
        "k1"
    );
    assert_eq!(attr(&outer["attributes"], "id").unwrap()["intValue"], "42");
    assert_eq!(
        attr(&inner["attributes"], "level").unwrap()["stringValue"],
        "INFO"
    );
    let dur = |s: &Value| {
        let a: u64 = s["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
        let b: u64 = s["endTimeUnixNano"].as_str().unwrap().parse().unwrap();
        b - a
    };
    assert!(dur(inner) >= 2_000_000, "the inner span slept 2 ms");
    assert!(dur(outer) >= dur(inner));
    // Metrics: one point per numeric field of the user events, typed.
    let point = |name: &str| -> &Value {
        &metrics
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("no metric {name}: {metrics:#?}"))["gauge"]["dataPoints"][0]
    };
    assert_eq!(point("kv.wal_sync.bytes")["asInt"], "4096");
    assert_eq!(point("kv.wal_sync.delta")["asInt"], "-3");
    assert_eq!(point("kv.wal_sync.ratio")["asDouble"], 0.5);
    assert_eq!(point("kv.wal_sync.retries")["asInt"], "2");
    assert_eq!(point("kv.only_numbers.n")["asInt"], "7");
    assert_eq!(
        attr(&point("kv.wal_sync.bytes")["attributes"], "file").unwrap()["stringValue"],
        "wal.log"
    );
    assert_eq!(metrics.len(), 5);
    // Logs: kv.wal_sync (it has a bool and an absent field) and the tracing event, which
    // belongs to the inner span.
    assert_eq!(logs.len(), 2, "{logs:#?}");
    let ev = logs
        .iter()
        .find(|l| l["eventName"] == "inside" || l["body"].to_string().contains("inside"))
        .unwrap();
    assert_eq!(ev["spanId"], inner["spanId"]);
    assert_eq!(ev["traceId"], inner["traceId"]);
    assert_eq!(ev["severityText"], "INFO");

    // Perfetto: two spans as slices, the rest instants.
    let mut trace = Vec::new();
    let mut sink = PerfettoSink::new(&mut trace, "t");
    run(dir.path(), Selection::default(), &mut sink);
    let s = sink.stats();
    assert_eq!((s.slices, s.tracing_spans), (2, 2));
    assert_eq!(s.user_instants, 3, "two user events and the tracing event");
    assert_eq!(s.overflow_tracks, 0, "the inner span nests in the outer");

    // Selection by user type name, and by field value.
    let mut rows = Vec::new();
    let sel = Selection {
        user_types: vec!["kv.wal_sync".into()],
        ..Selection::default()
    };
    let t = run(dir.path(), sel, &mut ClickhouseSink::new(&mut rows));
    assert_eq!(t.events, 1);
    let sel = Selection {
        fields: vec![("n".into(), "7".into())],
        ..Selection::default()
    };
    let t = run(dir.path(), sel, &mut ClickhouseSink::new(Vec::new()));
    assert_eq!(t.events, 1);
    let sel = Selection {
        types: vec![northstar_core::EventType::AgentOperation],
        ..Selection::default()
    };
    let t = run(dir.path(), sel, &mut ClickhouseSink::new(Vec::new()));
    assert_eq!(t.events, 0, "a spec type selects no user event");
}
