//! tracing events, spans and `log` records through the layer into a store, read back with the
//! store's query API: names, constants (`kind`, `level`, `target`), typed fields, span ids,
//! parents, threads and durations; filters drop what they should.

use northstar_core::user::FieldValue;
use northstar_store::{EventManager, Query, StoredEvent};
use tracing::{debug, info, info_span, warn};
use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::prelude::*;

fn consts(e: &StoredEvent) -> Vec<(String, String)> {
    e.user
        .as_ref()
        .unwrap()
        .consts()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn konst(e: &StoredEvent, k: &str) -> String {
    consts(e)
        .into_iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v)
        .unwrap_or_default()
}

fn field<'a>(e: &'a StoredEvent, k: &str) -> FieldValue<'a> {
    e.user_fields()
        .unwrap()
        .into_iter()
        .find(|(n, _)| *n == k)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no field {k} in {:?}", e.user_fields()))
}

fn u(v: FieldValue<'_>) -> u64 {
    match v {
        FieldValue::U64(n) => n,
        other => panic!("not a u64: {other:?}"),
    }
}

#[test]
fn events_spans_and_log_records_are_stored_with_their_schema() {
    let dir = tempfile::tempdir().unwrap();
    let guard = northstar::init(dir.path()).unwrap();
    northstar_tracing::init_log().unwrap();

    // EnvFilter as a per-layer filter: info and up, but only warn and up from `noisy`.
    let subscriber = tracing_subscriber::registry()
        .with(northstar_tracing::layer().with_filter(EnvFilter::new("info,noisy=warn")));
    tracing::subscriber::with_default(subscriber, || {
        info!(target: "app", count = 3u64, delta = -2i64, ratio = 0.5, ok = true, user = "ann", "hello {}", 1);
        debug!(target: "app", "below the filter");
        info!(target: "noisy", "filtered by target");
        warn!(target: "noisy", code = 7u64, "kept by target");
        let outer = info_span!(target: "app", "request", id = 42u64, path = "/kv");
        let outer_id = outer.id().unwrap().into_u64();
        {
            let _o = outer.enter();
            let inner =
                info_span!(target: "app", "lookup", key = "k1", hits = tracing::field::Empty);
            let _i = inner.enter();
            inner.record("hits", 5u64);
            info!(target: "app", "inside");
        }
        drop(outer);
        // A field whose type changes between two events of one callsite: two schemas.
        for v in [&1u64 as &dyn tracing::Value, &"one"] {
            info!(target: "app", v, "varying");
        }
        log::info!(target: "legacy", "from log {}", 9);
        log::trace!(target: "legacy", "below the filter");
        let _ = outer_id;
    });
    guard.close().unwrap();

    let store = EventManager::open_read_only(dir.path()).unwrap();
    let all = store.query(&Query::default()).unwrap();
    let names: Vec<(String, String)> = all
        .iter()
        .map(|e| (e.type_name().to_owned(), konst(e, "kind")))
        .collect();
    // hello, the noisy warn, inside, 2 varying, 1 log; spans: 2 begins, 1 record, 2 ends.
    assert_eq!(all.len(), 11, "{names:?}");
    assert!(all.iter().all(|e| !konst(e, "target").is_empty()));

    let hello = all
        .iter()
        .find(|e| {
            e.user_fields()
                .unwrap()
                .iter()
                .any(|(_, v)| *v == FieldValue::Str("hello 1"))
        })
        .unwrap();
    assert_eq!(konst(hello, "kind"), "event");
    assert_eq!(konst(hello, "level"), "INFO");
    assert_eq!(konst(hello, "target"), "app");
    assert!(
        hello.type_name().starts_with("event "),
        "{}",
        hello.type_name()
    );
    assert_eq!(field(hello, "count"), FieldValue::U64(3));
    assert_eq!(field(hello, "delta"), FieldValue::I64(-2));
    assert_eq!(field(hello, "ratio"), FieldValue::F64(0.5));
    assert_eq!(field(hello, "ok"), FieldValue::Bool(true));
    assert_eq!(field(hello, "user"), FieldValue::Str("ann"));
    assert_eq!(field(hello, "span"), FieldValue::U64(0));
    let thread = u(field(hello, "thread"));
    assert!(thread > 0);

    // Filters: nothing below info, nothing from `noisy` below warn.
    let texts: Vec<String> = all
        .iter()
        .flat_map(|e| {
            e.user_fields()
                .unwrap()
                .into_iter()
                .map(|(_, v)| format!("{v:?}"))
        })
        .collect();
    assert!(
        !texts.iter().any(|t| t.contains("below the filter")),
        "{texts:?}"
    );
    assert!(!texts.iter().any(|t| t.contains("filtered by target")));
    let kept = all.iter().find(|e| konst(e, "target") == "noisy").unwrap();
    assert_eq!(konst(kept, "level"), "WARN");
    assert_eq!(field(kept, "code"), FieldValue::U64(7));

    // Spans: begin records with fields and parent, a record of a later value, end records
    // with durations.
    let by_kind = |name: &str, kind: &str| -> Vec<&StoredEvent> {
        all.iter()
            .filter(|e| e.type_name() == name && konst(e, "kind") == kind)
            .collect()
    };
    let req = by_kind("request", "span_begin");
    assert_eq!(req.len(), 1);
    let req_id = u(field(req[0], "span_id"));
    assert_eq!(field(req[0], "parent"), FieldValue::U64(0));
    assert_eq!(field(req[0], "id"), FieldValue::U64(42));
    assert_eq!(field(req[0], "path"), FieldValue::Str("/kv"));
    assert_eq!(u(field(req[0], "thread")), thread);
    let look = by_kind("lookup", "span_begin");
    assert_eq!(look.len(), 1);
    let look_id = u(field(look[0], "span_id"));
    assert_eq!(u(field(look[0], "parent")), req_id);
    assert_eq!(field(look[0], "key"), FieldValue::Str("k1"));
    assert_eq!(
        field(look[0], "hits"),
        FieldValue::None,
        "Empty at creation"
    );
    let rec = by_kind("lookup", "span_record");
    assert_eq!(rec.len(), 1);
    assert_eq!(u(field(rec[0], "span_id")), look_id);
    assert_eq!(field(rec[0], "hits"), FieldValue::U64(5));
    assert_eq!(field(rec[0], "key"), FieldValue::None);
    for (name, id) in [("request", req_id), ("lookup", look_id)] {
        let end = by_kind(name, "span_end");
        assert_eq!(end.len(), 1, "{name}");
        assert_eq!(u(field(end[0], "span_id")), id);
        match field(end[0], "duration") {
            FieldValue::DurationNs(ns) => assert!(ns > 0 && ns < 60_000_000_000, "{ns}"),
            other => panic!("duration {other:?}"),
        }
    }
    let inside = all
        .iter()
        .find(|e| {
            e.user_fields()
                .unwrap()
                .iter()
                .any(|(_, v)| *v == FieldValue::Str("inside"))
        })
        .unwrap();
    assert_eq!(u(field(inside, "span")), look_id);
    // The inner span closes before the outer.
    let end_req = by_kind("request", "span_end")[0];
    let end_look = by_kind("lookup", "span_end")[0];
    assert!(end_look.timestamp <= end_req.timestamp);

    // One callsite, two type variants.
    let varying: Vec<&StoredEvent> = all
        .iter()
        .filter(|e| {
            e.user_fields()
                .unwrap()
                .iter()
                .any(|(_, v)| *v == FieldValue::Str("varying"))
        })
        .collect();
    assert_eq!(varying.len(), 2);
    assert_eq!(field(varying[0], "v"), FieldValue::U64(1));
    assert_eq!(field(varying[1], "v"), FieldValue::Str("one"));

    // `log` through tracing-log: kept at info, with the log's own target as a field.
    let logged = all.iter().find(|e| konst(e, "target") == "log").unwrap();
    assert_eq!(konst(logged, "level"), "INFO");
    assert_eq!(field(logged, "message"), FieldValue::Str("from log 9"));
    assert_eq!(field(logged, "log.target"), FieldValue::Str("legacy"));

    // Queries by name and field work on bridged records.
    let q = store
        .query(&Query {
            user_types: vec!["request".into()],
            ..Query::default()
        })
        .unwrap();
    assert_eq!(q.len(), 2);
    let _ = LevelFilter::INFO;
}
