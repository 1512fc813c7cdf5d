//! With the `off` feature every macro compiles to nothing: arguments are not evaluated and
//! nothing is recorded. Run: `cargo test -p northstar-core --features off --test off`.
#![cfg(feature = "off")]

use northstar_core::events::AgentSessionEnded;
use northstar_core::recorder::Recorder;
use northstar_core::{event, operation, perf_sample};

fn never() -> u64 {
    panic!("a macro argument was evaluated with instrumentation off")
}

#[test]
fn macros_do_nothing_when_off() {
    perf_sample!("latency", never(), "ns", "k" => "v");
    perf_sample!(rate = 10; "latency", never(), "ns");
    event!(
        AgentSessionEnded {
            session_id: never()
        },
        actor = 1,
        visibility = Team
    );
    {
        let mut op = operation!("get", "btree", "k", agent = never(), session = 1);
        op.fail();
        assert_eq!(op.operation_id(), 0);
        assert_eq!(
            std::mem::size_of_val(&op),
            0,
            "the disabled guard is zero-sized"
        );
    }
    assert_eq!(Recorder::global().counters().pushed, 0);
}

#[test]
fn user_events_do_nothing_when_off() {
    let name = String::from("x");
    event!("kv.wal_sync", bytes = never(), file = name.as_str(), unit = static "bytes");
    event!(to = Recorder::global(); "kv.split", depth = never());
    assert_eq!(Recorder::global().counters().pushed, 0);
}
