//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::time::Duration;

use northstar_core::events::{AgentOperation, AgentSessionStarted, ReviewNote};
use northstar_core::{List, Visibility};
use northstar_store::{EventManager, FsyncPolicy, StoreConfig};

/// Now in the store's time base (the recorder's clock mapped to Unix ns, as the flusher maps
/// event timestamps), for time marks between batches of events: the OS clock and the
/// calibrated TSC mapping can disagree by microseconds or more.
pub fn store_now(m: &EventManager) -> u64 {
    use northstar_core::clock::Clock;
    let r = m.recorder();
    r.clock().ticks_to_unix_nanos(r.now_ticks())
}

/// A config with small segments so tests roll often.
pub fn small_config() -> StoreConfig {
    StoreConfig {
        segment_max_bytes: 64 << 10,
        flush_interval: Duration::from_millis(2),
        fsync: FsyncPolicy::None,
        // A reserve in proportion to these 64 KiB segments: the default 64 MiB takes some
        // 55 ms to touch at open, which would move `crash.rs`'s kills (5-120 ms after the
        // child starts) into the child's open instead of its recording.
        warm_buffer_bytes: 1 << 20,
        ..StoreConfig::default()
    }
}

/// Records a perf sample whose value identifies it.
pub fn sample(m: &EventManager, value: f64, sessions: &[u64]) {
    m.record_perf_sample(
        "latency_ns",
        value,
        "ns",
        &[("bench", "btree_get")],
        Some("abc..def"),
        sessions,
    )
    .unwrap();
}

/// Records an agent operation in `session` by `actor` with `vis`.
pub fn operation(m: &EventManager, actor: u64, vis: Visibility, session: u64, id: u64) {
    let op = AgentOperation {
        session_id: session,
        operation_type: "query",
        operation_id: id,
        target_type: "btree",
        target_id: "users",
        status: "completed",
        duration_ns: Some(1200),
        metadata: List::EMPTY,
    };
    m.record(actor, vis, &op).unwrap();
}

/// Records a review note.
pub fn note(m: &EventManager, actor: u64, vis: Visibility, text: &str) {
    let n = ReviewNote {
        target_type: "commit",
        target_id: "abc123",
        note_text: text,
        references: List::EMPTY,
        created_at: 1,
    };
    m.record(actor, vis, &n).unwrap();
}

/// Records a session start.
pub fn session_start(m: &EventManager, actor: u64, session: u64) {
    let s = AgentSessionStarted {
        session_id: session,
        agent_version: "1.0",
        session_purpose: "test",
        metadata: List::EMPTY,
    };
    m.record(actor, Visibility::Public, &s).unwrap();
}
