//! `stats` drop ranges next to imported events: a block of events imported with their own
//! (here future) timestamps sits between live blocks in the file; the range of the drops
//! counted in the next live block must still run forwards, from the live block before it.

mod common;

use std::time::Duration;

use northstar_core::events::AgentSessionEnded;
use northstar_core::recorder::{Recorder, RecorderConfig};
use northstar_core::{Event, Visibility};
use northstar_store::{EventManager, FsyncPolicy, StoreConfig};

#[test]
fn drop_ranges_run_forwards_around_a_future_dated_import() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::new(RecorderConfig {
        rings: 2,
        ring_bytes: 4 << 10,
        ..RecorderConfig::default()
    })
    .unwrap();
    let config = StoreConfig {
        // The flusher drains the rings only when `flush()` asks, so the burst below drops.
        fsync: FsyncPolicy::None,
        flush_interval: Duration::from_secs(3600),
        recorder: Some(recorder),
        ..common::small_config()
    };
    let m = EventManager::open(dir.path(), config).unwrap();
    let end = |i| AgentSessionEnded { session_id: i };
    for i in 0..10 {
        m.record(1, Visibility::Public, &end(i)).unwrap();
    }
    m.flush().unwrap();
    let live_end = m.stats().unwrap().max_ts.unwrap();
    // An event from a clock 100 years ahead, imported with its own timestamp.
    let future = live_end + 100 * 365 * 86_400 * 1_000_000_000;
    m.record_event_at(
        future,
        1,
        Visibility::Public,
        &Event::AgentSessionEnded(end(99)),
    )
    .unwrap();
    m.flush().unwrap();
    // A burst the 4 KiB ring cannot hold.
    let accepted = (0..10_000)
        .filter(|&i| m.record(1, Visibility::Public, &end(i)).is_ok())
        .count();
    m.flush().unwrap();
    let s = m.stats().unwrap();
    assert!(s.dropped > 0, "the burst must drop ({accepted} accepted)");
    assert_eq!(s.drops.iter().map(|d| d.2).sum::<u64>(), s.dropped);
    for &(from, to, n) in &s.drops {
        assert!(
            from <= to,
            "{n} drops from {from} to {to}: ends before it begins"
        );
        assert!(
            from >= live_end && to < future,
            "{n} drops from {from} to {to}: between the live blocks ({live_end}..), not at the import ({future})"
        );
    }
    m.close().unwrap();
}
