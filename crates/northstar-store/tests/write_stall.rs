//! The drain never waits on the disk: a writer stalled for 100 ms (a slow `write()`, an
//! fsync, a segment roll, a dirty-page throttle), injected with the store's test hook, costs
//! no event at a paced rate whose 100 ms of events the rings alone could not hold. And a
//! write failure injected the same way (no root needed) keeps or counts every event.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use northstar_core::events::AgentSessionEnded;
use northstar_core::record::FRAMING_LEN;
use northstar_core::recorder::{Recorder, RecorderConfig};
use northstar_core::{Payload, Visibility};
use northstar_store::{EventManager, Query, StoreConfig, StoreError, WriteHook, WriteSite};

/// Paced rate and ring size: the ring holds 32 ms (release) or 80 ms (debug build, where
/// everything is several times slower) of events, less than one stall.
const PER_SEC: u64 = if cfg!(debug_assertions) {
    20_000
} else {
    200_000
};
const RING_BYTES: usize = if cfg!(debug_assertions) {
    64 << 10
} else {
    256 << 10
};
const STALL: Duration = Duration::from_millis(100);

fn recorder() -> Recorder {
    Recorder::new(RecorderConfig {
        rings: 4,
        ring_bytes: RING_BYTES,
        ..RecorderConfig::default()
    })
    .unwrap()
}

/// Records `n` minimal events from one thread paced at `per_sec` (bursts of 1 ms of events,
/// sleeping in between so the flusher has a core even on a busy 2-core machine); returns the
/// time taken.
fn paced(m: &EventManager, n: u64, per_sec: u64) -> Duration {
    let start = Instant::now();
    let burst = (per_sec / 1000).max(1);
    let mut i = 0;
    while i < n {
        let due = Duration::from_nanos(i * 1_000_000_000 / per_sec);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        for _ in 0..burst.min(n - i) {
            let _ = m.record(1, Visibility::Public, &AgentSessionEnded { session_id: i });
            i += 1;
        }
    }
    start.elapsed()
}

#[test]
fn a_100ms_writer_stall_loses_no_event() {
    let per_sec = PER_SEC;
    let record_len = (AgentSessionEnded { session_id: 0 }.encoded_len() + FRAMING_LEN) as u64;
    // The test can fail: 100 ms of events is more than a ring holds, so a drain that waited
    // for the writer would drop events.
    assert!(per_sec * record_len / 10 > RING_BYTES as u64);
    let stalls = Arc::new(AtomicU64::new(0));
    let s = stalls.clone();
    let blocks = Arc::new(AtomicU64::new(0));
    let b = blocks.clone();
    let hook: WriteHook = Arc::new(move |site| {
        let stall = match site {
            // Every segment roll (every ~0.25 s in release: 2 MiB segments at 8 MB/s) and the
            // 30th block written: a few stalls, each longer than the rings can absorb.
            WriteSite::Create { segment } => segment > 1,
            WriteSite::Block { .. } => b.fetch_add(1, Ordering::Relaxed) == 30,
            WriteSite::Sync { .. } => false,
        };
        if stall {
            s.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(STALL);
        }
        Ok(())
    });
    let dir = tempfile::tempdir().unwrap();
    let m = EventManager::open(
        dir.path(),
        StoreConfig {
            segment_max_bytes: if cfg!(debug_assertions) {
                256 << 10
            } else {
                2 << 20
            },
            recorder: Some(recorder()),
            write_hook: Some(hook),
            ..StoreConfig::default()
        },
    )
    .unwrap();
    let n = 2 * per_sec; // 2 s
    let took = paced(&m, n, per_sec);
    m.flush().unwrap();
    let c = m.recorder().counters();
    let stats = m.stats().unwrap();
    eprintln!(
        "{n} events in {took:?}, {} stalls of {STALL:?}, stored {}, dropped {}",
        stalls.load(Ordering::Relaxed),
        stats.events,
        stats.dropped
    );
    assert!(
        stalls.load(Ordering::Relaxed) >= 3,
        "the writer must have stalled"
    );
    assert_eq!(c.lost(), 0, "a writer stall cost events");
    assert_eq!(stats.events, n);
    assert_eq!(stats.dropped, 0);
    m.close().unwrap();
}

#[test]
fn injected_write_failures_keep_or_count_every_event() {
    let failing = Arc::new(AtomicBool::new(false));
    let f = failing.clone();
    let hook: WriteHook = Arc::new(move |site| {
        if f.load(Ordering::Relaxed) && !matches!(site, WriteSite::Sync { .. }) {
            return Err(std::io::Error::from_raw_os_error(28)); // ENOSPC
        }
        Ok(())
    });
    let dir = tempfile::tempdir().unwrap();
    let m = EventManager::open(
        dir.path(),
        StoreConfig {
            segment_max_bytes: 128 << 10,
            flush_interval: Duration::from_millis(2),
            // Smaller than half a second of events: the buffer overflows while failing.
            write_buffer_bytes: 64 << 10,
            retry_window: Duration::from_millis(200),
            recorder: Some(recorder()),
            write_hook: Some(hook),
            ..StoreConfig::default()
        },
    )
    .unwrap();
    let mut total = 0;
    for round in 0..3 {
        paced(&m, 20_000, PER_SEC);
        failing.store(true, Ordering::Relaxed);
        paced(&m, PER_SEC / 2, PER_SEC); // 0.5 s of a failing disk
        let err = m.flush().expect_err("writes fail");
        assert!(
            matches!(&err, StoreError::WriteFailed { source, .. } if source.raw_os_error() == Some(28)),
            "round {round}: {err}"
        );
        failing.store(false, Ordering::Relaxed);
        m.flush().unwrap();
        total += 20_000 + PER_SEC / 2;
    }
    let h = m.write_health();
    assert_eq!(h.episodes, 3, "{h:?}");
    assert!(h.failed_attempts > 3);
    let c = m.recorder().counters();
    m.close().unwrap();
    let r = EventManager::open_read_only(dir.path()).unwrap();
    assert!(r.verify().unwrap().is_clean());
    let stats = r.stats().unwrap();
    assert!(
        stats.dropped > 0,
        "the buffer and rings overflowed while failing"
    );
    assert_eq!(stats.events, c.pushed);
    assert_eq!(stats.events + stats.dropped, total);
    assert_eq!(
        r.query(&Query::default()).unwrap().len() as u64,
        stats.events
    );
}
