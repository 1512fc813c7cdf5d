//! `northstar_tracing::subscriber()`, the bridge's own subscriber (no `Registry`), as the
//! process's global subscriber, into a store read back with the store's query API: parents
//! (contextual, explicit, none), spans nested across threads (a span entered on another
//! thread, its handle cloned and dropped there: one end record, by the last handle), the
//! directive filter (levels, targets, a disabled span that is no one's parent), `log` records,
//! `Span::current`, `Span::record`, and values too long for the one-pass buffer.

use northstar_core::user::FieldValue;
use northstar_store::{EventManager, Query, StoredEvent};
use tracing::{debug, debug_span, info, info_span, warn, Span};

fn konst(e: &StoredEvent, k: &str) -> String {
    e.user
        .as_ref()
        .unwrap()
        .consts()
        .into_iter()
        .find(|(n, _)| *n == k)
        .map(|(_, v)| v.to_owned())
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

fn has_text(e: &StoredEvent, text: &str) -> bool {
    e.user_fields()
        .unwrap()
        .iter()
        .any(|(_, v)| *v == FieldValue::Str(text))
}

#[test]
fn the_subscriber_records_parents_threads_filters_and_log_records() {
    let dir = tempfile::tempdir().unwrap();
    let guard = northstar::init(dir.path()).unwrap();
    northstar_tracing::init_log().unwrap();
    let subscriber = northstar_tracing::subscriber()
        .with_directives("info,noisy=warn")
        .unwrap();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    info!(target: "app", n = 1u64, "at the root");
    debug!(target: "app", "below the filter");
    info!(target: "noisy", "filtered by target");
    warn!(target: "noisy", code = 7u64, "kept by target");
    log::info!(target: "legacy", "from log {}", 9);
    log::debug!(target: "legacy", "log below the filter");
    assert!(Span::current().is_none());

    let outer = info_span!(target: "app", "request", id = 42u64);
    let outer_id = outer.id().unwrap().into_u64();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let worker = {
        let _o = outer.enter();
        assert_eq!(Span::current().id(), outer.id());
        assert_eq!(Span::current().metadata().unwrap().name(), "request");
        // A disabled span is entered but is no one's parent.
        let hidden = debug_span!(target: "app", "hidden");
        let _h = hidden.enter();
        let inner = info_span!(target: "app", "lookup", key = "k1", hits = tracing::field::Empty);
        let _i = inner.enter();
        inner.record("hits", 5u64);
        info!(target: "app", "inside");
        let root = info_span!(target: "app", parent: None, "detached");
        drop(root);
        // The outer span goes to another thread through a clone of its handle.
        let handle = outer.clone();
        std::thread::spawn(move || {
            let _e = handle.enter();
            let w = info_span!(target: "app", "worker", n = 2u64);
            let _w = w.enter();
            info!(target: "app", "on the worker");
            done_rx.recv().unwrap();
            // `handle` is dropped last, here: the outer span closes on this thread.
        })
    };
    let explicit = info_span!(target: "app", parent: &outer, "explicit");
    drop(explicit);
    drop(outer);
    done_tx.send(()).unwrap();
    worker.join().unwrap();
    info!(target: "app", blob = %"x".repeat(1000), "a long value");
    guard.close().unwrap();

    let store = EventManager::open_read_only(dir.path()).unwrap();
    let all = store.query(&Query::default()).unwrap();
    let find = |pred: &dyn Fn(&StoredEvent) -> bool, what: &str| -> &StoredEvent {
        let hits: Vec<&StoredEvent> = all.iter().filter(|e| pred(e)).collect();
        assert_eq!(
            hits.len(),
            1,
            "{what}: {:?}",
            all.iter().map(|e| e.type_name()).collect::<Vec<_>>()
        );
        hits[0]
    };
    let span_rec = |name: &str, kind: &str| {
        find(
            &|e: &StoredEvent| e.type_name() == name && konst(e, "kind") == kind,
            &format!("{name} {kind}"),
        )
    };

    // Root event, filters, log.
    let root_event = find(&|e| has_text(e, "at the root"), "root event");
    assert_eq!(field(root_event, "span"), FieldValue::U64(0));
    assert_eq!(konst(root_event, "level"), "INFO");
    assert_eq!(konst(root_event, "target"), "app");
    let main_thread = u(field(root_event, "thread"));
    for text in [
        "below the filter",
        "filtered by target",
        "log below the filter",
    ] {
        assert!(!all.iter().any(|e| has_text(e, text)), "{text} was stored");
    }
    assert!(
        !all.iter().any(|e| e.type_name() == "hidden"),
        "a disabled span was stored"
    );
    let kept = find(&|e| konst(e, "target") == "noisy", "noisy warn");
    assert_eq!(konst(kept, "level"), "WARN");
    assert_eq!(field(kept, "code"), FieldValue::U64(7));
    let from_log = find(&|e| has_text(e, "from log 9"), "log record");
    assert_eq!(field(from_log, "log.target"), FieldValue::Str("legacy"));
    assert_eq!(konst(from_log, "level"), "INFO");

    // Parents.
    let req = span_rec("request", "span_begin");
    assert_eq!(u(field(req, "span_id")), outer_id);
    assert_eq!(field(req, "parent"), FieldValue::U64(0));
    assert_eq!(field(req, "id"), FieldValue::U64(42));
    let look = span_rec("lookup", "span_begin");
    let look_id = u(field(look, "span_id"));
    assert_eq!(
        u(field(look, "parent")),
        outer_id,
        "the disabled span is skipped"
    );
    assert_eq!(field(look, "hits"), FieldValue::None);
    let rec = span_rec("lookup", "span_record");
    assert_eq!(u(field(rec, "span_id")), look_id);
    assert_eq!(field(rec, "hits"), FieldValue::U64(5));
    let inside = find(&|e| has_text(e, "inside"), "inside");
    assert_eq!(u(field(inside, "span")), look_id);
    assert_eq!(
        field(span_rec("detached", "span_begin"), "parent"),
        FieldValue::U64(0)
    );
    assert_eq!(
        u(field(span_rec("explicit", "span_begin"), "parent")),
        outer_id
    );

    // Across threads.
    let w = span_rec("worker", "span_begin");
    let worker_thread = u(field(w, "thread"));
    assert_ne!(worker_thread, main_thread);
    assert_eq!(u(field(w, "parent")), outer_id);
    let w_id = u(field(w, "span_id"));
    let on_worker = find(&|e| has_text(e, "on the worker"), "worker event");
    assert_eq!(u(field(on_worker, "span")), w_id);
    assert_eq!(u(field(on_worker, "thread")), worker_thread);

    // Ends: one per span, the outer one by the worker thread that dropped the last handle.
    for name in ["request", "lookup", "detached", "explicit", "worker"] {
        let begin = span_rec(name, "span_begin");
        let end = span_rec(name, "span_end");
        assert_eq!(field(end, "span_id"), field(begin, "span_id"), "{name}");
        match field(end, "duration") {
            FieldValue::DurationNs(ns) => assert!(ns > 0 && ns < 60_000_000_000, "{name} {ns}"),
            other => panic!("{name} duration {other:?}"),
        }
    }
    assert_eq!(
        u(field(span_rec("request", "span_end"), "thread")),
        worker_thread
    );
    let ids: std::collections::HashSet<u64> = all
        .iter()
        .filter(|e| konst(e, "kind") == "span_begin")
        .map(|e| u(field(e, "span_id")))
        .collect();
    assert_eq!(ids.len(), 5, "span ids are unique");

    // A value longer than the one-pass buffer, whole.
    let long = find(&|e| has_text(e, "a long value"), "long value");
    assert_eq!(field(long, "blob"), FieldValue::Str(&"x".repeat(1000)));

    // 5 events + 1 log record; 5 spans x (begin, end) + 1 span_record.
    assert_eq!(
        all.len(),
        6 + 11,
        "{:?}",
        all.iter().map(|e| e.type_name()).collect::<Vec<_>>()
    );
}
