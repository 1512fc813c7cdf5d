//! Loom models of the macros themselves (`--cfg loom` builds the std recorder on loom's atomics
//! and cells): every macro records inside `loom::model`, and `capture` returns what it recorded.
//! Two threads making the first call of one user-event call site at once both get their event
//! recorded with the call site's one schema, and captured, in every interleaving: the
//! registration path (`user::Callsite`) and each thread's ring claim (`registry`) race; the
//! capture drains after joining the threads (a consumer racing a publish: `callsite.rs`,
//! `ring.rs`).
#![cfg(loom)]
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]

mod common;

use common::model;
use loom::thread;
use northstar_core::capture::capture;
use northstar_core::events::AgentSessionEnded;
use northstar_core::user::FieldValue;
use northstar_core::{event, operation, perf_sample};

fn sync(bytes: u64) {
    event!("kv.wal_sync", bytes = bytes, unit = static "bytes");
}

#[test]
fn racing_first_calls_of_one_call_site_are_both_captured() {
    model(
        "racing_first_calls_of_one_call_site_are_both_captured",
        3,
        || {
            let ((), captured) = capture(|| {
                let other = thread::spawn(|| sync(1));
                sync(2);
                other.join().expect("recording thread");
            })
            .expect("no store in a model");
            let mut bytes: Vec<u64> = captured
                .named("kv.wal_sync")
                .map(|e| match e.field("bytes") {
                    Some(FieldValue::U64(n)) => n,
                    other => panic!("bytes field: {other:?}"),
                })
                .collect();
            bytes.sort_unstable();
            assert_eq!(bytes, [1, 2], "one kv.wal_sync per call, with its value");
            assert_eq!(captured.events.len(), 2);
            assert_eq!(captured.lost, 0);
        },
    );
}

#[test]
fn every_macro_records_inside_a_model() {
    model("every_macro_records_inside_a_model", 2, || {
        let (op_id, captured) = capture(|| {
            event!(AgentSessionEnded { session_id: 7 }, actor = 3);
            perf_sample!("get_latency_ns", 812, "ns", "mode" => "read");
            perf_sample!(rate = 1000; "queue_depth", 3, "items");
            let op = operation!("get", "btree", "user:42", agent = 1, session = 2);
            let id = op.operation_id();
            drop(op);
            event!("kv.btree_split", depth = 2u8);
            id
        })
        .expect("no store in a model");
        assert_eq!(
            captured.names(),
            [
                "agent_session_ended",
                "perf_sample",
                "perf_sample",
                "agent_operation",
                "kv.btree_split"
            ]
        );
        assert_eq!(captured.events[0].actor_id(), 3);
        assert_ne!(op_id, 0);
        assert_eq!(captured.lost, 0);
    });
}
