//! A slow, steady trickle of events (the flusher always faster than the producer) is stored in
//! blocks cut by age, not one block per flusher pass: tiny blocks cost a write each and, before
//! this was fixed, republished the active segment's ever-growing index at every cut.

mod common;

use std::time::{Duration, Instant};

use northstar_core::Visibility;
use northstar_store::{EventManager, FsyncPolicy, Query, StoreConfig};

#[test]
fn a_trickle_is_stored_in_blocks_cut_by_age() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        flush_interval: Duration::from_millis(20),
        fsync: FsyncPolicy::None,
        ..StoreConfig::default()
    };
    let m = EventManager::open(dir.path(), config).unwrap();
    // About 300 ms of events, one every ~100 us: the flusher's passes (at least every 1 ms,
    // usually far more often) find the rings empty again and again.
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < Duration::from_millis(300) {
        common::operation(&m, 1, Visibility::Public, 1, n);
        n += 1;
        std::thread::sleep(Duration::from_micros(100));
    }
    m.flush().unwrap();
    let v = m.verify().unwrap();
    assert!(v.is_clean(), "{v:?}");
    assert_eq!(m.query(&Query::default()).unwrap().len() as u64, n);
    // 300 ms / 20 ms = 15 age cuts, plus the flush; allow scheduling slack, but never a block
    // per pass (hundreds).
    assert!(v.blocks <= 40, "{} blocks for {n} events", v.blocks);
    m.close().unwrap();
}
