//! Overload: producers faster than the flusher. The hot path never waits for the flusher, and
//! events stored + events counted as dropped == events recorded, exactly.

mod common;

use std::time::{Duration, Instant};

use northstar_core::recorder::{Recorder, RecorderConfig};
use northstar_core::Visibility;
use northstar_store::{EventManager, FsyncPolicy, Query, StoreConfig};

#[test]
fn stored_plus_dropped_equals_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::new(RecorderConfig {
        rings: 4,
        ring_bytes: 16 << 10,
        ..RecorderConfig::default()
    })
    .unwrap();
    let config = StoreConfig {
        // A flusher that does not look at the rings until `flush()` asks: if the hot path
        // ever waited for it, the producers below would hang for an hour.
        fsync: FsyncPolicy::EveryBlock,
        flush_interval: Duration::from_secs(3600),
        recorder: Some(recorder),
        ..common::small_config()
    };
    let m = EventManager::open(dir.path(), config).unwrap();
    const PER_THREAD: u64 = 200_000;
    let (ok, worst) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2u64)
            .map(|t| {
                let m = &m;
                s.spawn(move || {
                    let mut ok = 0u64;
                    let mut worst = Duration::ZERO;
                    for i in 0..PER_THREAD {
                        let start = Instant::now();
                        let r = m.record(
                            t + 1,
                            Visibility::Public,
                            &northstar_core::events::AgentSessionEnded { session_id: i },
                        );
                        worst = worst.max(start.elapsed());
                        ok += u64::from(r.is_ok());
                    }
                    (ok, worst)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .fold((0, Duration::ZERO), |(a, w), (b, v)| (a + b, w.max(v)))
    });
    m.flush().unwrap();
    let recorded = 2 * PER_THREAD;
    let stats = m.stats().unwrap();
    let counters = m.recorder().counters();
    eprintln!(
        "recorded {recorded}, accepted {ok}, stored {}, dropped {}, worst record() {worst:?}",
        stats.events, stats.dropped
    );
    assert!(stats.dropped > 0, "the test must overload the flusher");
    assert_eq!(stats.events, ok, "every accepted event is stored");
    assert_eq!(stats.events + stats.dropped, recorded);
    assert_eq!(counters.pushed, ok);
    assert_eq!(counters.lost(), stats.dropped);
    assert_eq!(m.query(&Query::default()).unwrap().len() as u64, ok);
    // Drops are reported with when they happened.
    assert_eq!(stats.drops.iter().map(|d| d.2).sum::<u64>(), stats.dropped);
    m.close().unwrap();
    let reopened = EventManager::open_read_only(dir.path())
        .unwrap()
        .stats()
        .unwrap();
    assert_eq!(reopened.events + reopened.dropped, recorded);
}
