//! The store's errors are typed: what failed is a variant, why is its `source()`.

use std::error::Error as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use northstar_core::events::ReviewNote;
use northstar_core::recorder::{Recorder, RecorderConfig};
use northstar_core::{List, Visibility};
use northstar_store::{
    EventManager, FsyncPolicy, Query, StoreConfig, StoreError, StoreReader, WriteHook, WriteSite,
};

fn small_recorder() -> Recorder {
    Recorder::new(RecorderConfig {
        rings: 2,
        ring_bytes: 1 << 16,
        ..RecorderConfig::default()
    })
    .unwrap()
}

fn with_recorder(r: &Recorder) -> StoreConfig {
    StoreConfig {
        recorder: Some(r.clone()),
        fsync: FsyncPolicy::None,
        ..StoreConfig::default()
    }
}

fn note(text: &str) -> ReviewNote<'_> {
    ReviewNote {
        target_type: "commit",
        target_id: "abc123",
        note_text: text,
        references: List::EMPTY,
        created_at: 1,
    }
}

#[test]
fn a_recorder_already_drained_by_a_store_is_refused_at_open() {
    let r = small_recorder();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = EventManager::open(a.path(), with_recorder(&r)).unwrap();
    let second = EventManager::open(b.path(), with_recorder(&r));
    assert!(
        matches!(second, Err(StoreError::RecorderTaken)),
        "{second:?}"
    );
    // The first store still works.
    first.record(1, Visibility::Public, &note("kept")).unwrap();
    first.flush().unwrap();
    assert_eq!(first.query(&Query::default()).unwrap().len(), 1);
    first.close().unwrap();
    // Once it is closed the rings are free again.
    let again = EventManager::open(b.path(), with_recorder(&r)).unwrap();
    again.close().unwrap();
}

/// Two stores opened at the same time on one recorder: before `open` waited for its flusher
/// to claim the rings, both could pass the check and both "succeed", and then one flusher
/// found the rings taken and stopped (its store refused every flush afterwards).
#[test]
fn of_two_stores_opened_at_once_on_one_recorder_exactly_one_opens() {
    for round in 0..20 {
        let r = small_recorder();
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let barrier = Arc::new(Barrier::new(2));
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = dirs
                .iter()
                .map(|d| {
                    let (r, barrier) = (r.clone(), barrier.clone());
                    s.spawn(move || {
                        barrier.wait();
                        EventManager::open(d.path(), with_recorder(&r))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let opened: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(opened.len(), 1, "round {round}: {results:?}");
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(StoreError::RecorderTaken))),
            "round {round}: {results:?}"
        );
        // The one that opened drains the rings.
        opened[0].record(1, Visibility::Public, &note("x")).unwrap();
        opened[0].flush().unwrap();
    }
}

#[test]
fn a_failed_fsync_is_a_flusher_error_whose_source_is_the_os_error() {
    let failing = Arc::new(AtomicBool::new(false));
    let f = failing.clone();
    let hook: WriteHook = Arc::new(move |site| {
        if f.load(Ordering::Relaxed) && matches!(site, WriteSite::Sync { .. }) {
            return Err(std::io::Error::from_raw_os_error(5)); // EIO
        }
        Ok(())
    });
    let dir = tempfile::tempdir().unwrap();
    let m = EventManager::open(
        dir.path(),
        StoreConfig {
            fsync: FsyncPolicy::Interval(Duration::from_millis(1)),
            write_hook: Some(hook),
            ..StoreConfig::default()
        },
    )
    .unwrap();
    m.record(1, Visibility::Public, &note("before")).unwrap();
    m.flush().unwrap();
    failing.store(true, Ordering::Relaxed);
    m.record(1, Visibility::Public, &note("during")).unwrap();
    let e = m.flush().unwrap_err();
    let StoreError::Flusher { source, .. } = &e else {
        panic!("expected a flusher error, got {e:?}");
    };
    assert!(
        matches!(&**source, StoreError::Sync { .. }),
        "expected a sync error, got {source:?}"
    );
    let os = e
        .source()
        .and_then(|s| s.source())
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .expect("the OS error is the source of the source");
    assert_eq!(os.raw_os_error(), Some(5));
    // The error was returned once: the disk is fine again and so is the next flush.
    failing.store(false, Ordering::Relaxed);
    m.flush().unwrap();
    m.close().unwrap();
}

#[test]
fn a_read_only_store_refuses_writes_with_read_only_and_a_reader_has_no_write_methods() {
    let dir = tempfile::tempdir().unwrap();
    let m = EventManager::open(dir.path(), StoreConfig::default()).unwrap();
    m.record(1, Visibility::Public, &note("x")).unwrap();
    m.close().unwrap();
    let ro = EventManager::open_read_only(dir.path()).unwrap();
    assert!(matches!(ro.flush(), Err(StoreError::ReadOnly)));
    assert!(matches!(ro.set_team(1, 2), Err(StoreError::ReadOnly)));
    assert!(matches!(ro.compact(u64::MAX), Err(StoreError::ReadOnly)));
    let reader = StoreReader::open(dir.path()).unwrap();
    assert_eq!(reader.query(&Query::default()).unwrap().len(), 1);
    assert!(reader.verify().unwrap().is_clean());
}

#[test]
fn a_second_writer_gets_locked_with_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let _m = EventManager::open(dir.path(), StoreConfig::default()).unwrap();
    match EventManager::open(dir.path(), StoreConfig::default()) {
        Err(StoreError::Locked { dir: d, .. }) => assert_eq!(d, dir.path()),
        other => panic!("expected Locked, got {other:?}"),
    }
}
