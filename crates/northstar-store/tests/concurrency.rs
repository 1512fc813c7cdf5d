//! Concurrent writers and readers: deleting `LOCK` under a running writer lets no second
//! writer in, and readers opened while `compact` deletes and rewrites segments never fail.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use northstar_core::events::AgentSessionEnded;
use northstar_core::Visibility;
use northstar_store::unix_now_ns;
use northstar_store::{EventManager, Query, StoreConfig};

#[test]
fn deleting_lock_under_a_writer_lets_no_second_writer_in() {
    let dir = tempfile::tempdir().unwrap();
    let first = EventManager::open(dir.path(), common::small_config()).unwrap();
    common::operation(&first, 1, Visibility::Public, 1, 1);
    first.flush().unwrap();
    std::fs::remove_file(dir.path().join("LOCK")).unwrap();
    let second = EventManager::open(dir.path(), common::small_config());
    let err = second.expect_err("a second writer is refused").to_string();
    assert!(err.contains("open for writing elsewhere"), "{err}");
    // The first writer's segment is intact and it keeps writing.
    common::operation(&first, 1, Visibility::Public, 1, 2);
    first.flush().unwrap();
    assert_eq!(first.query(&Query::default()).unwrap().len(), 2);
    first.close().unwrap();
    // Once it is closed, a writer opens again.
    EventManager::open(dir.path(), common::small_config()).unwrap();
}

#[test]
fn deleting_lock_under_a_writer_process_lets_no_second_process_in() {
    // Two real processes: this test binary re-runs itself as the first writer.
    if let Ok(d) = std::env::var("NORTHSTAR_TEST_HOLD_WRITER") {
        let m = EventManager::open(&d, common::small_config()).unwrap();
        std::fs::write(format!("{d}/ready"), b"").unwrap();
        while !std::path::Path::new(&format!("{d}/stop")).exists() {
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(m);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap().to_owned();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "deleting_lock_under_a_writer_process_lets_no_second_process_in",
            "--nocapture",
        ])
        .env("NORTHSTAR_TEST_HOLD_WRITER", &d)
        .spawn()
        .unwrap();
    let ready = dir.path().join("ready");
    for _ in 0..2000 {
        if ready.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(ready.exists(), "the writer process started");
    std::fs::remove_file(dir.path().join("LOCK")).unwrap();
    let second = EventManager::open(dir.path(), common::small_config());
    std::fs::write(dir.path().join("stop"), b"").unwrap();
    assert!(child.wait().unwrap().success());
    assert!(
        second.is_err(),
        "a second process got in after LOCK was deleted"
    );
}

#[test]
fn readers_opened_during_compaction_never_fail() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        retention: Duration::from_secs(3600),
        segment_max_bytes: 16 << 10,
        ..common::small_config()
    };
    let hour = 3_600_000_000_000u64;
    let stop = Arc::new(AtomicBool::new(false));
    let m = EventManager::open(dir.path(), config).unwrap();
    let base = unix_now_ns() - 1000 * hour;
    let step = 1_000_000u64;
    let mut t = base;
    let fill = |m: &EventManager, t: &mut u64, n: u64| {
        for i in 0..n {
            *t += step;
            m.record_at(
                *t,
                1,
                Visibility::Public,
                &AgentSessionEnded { session_id: i },
            )
            .unwrap();
        }
        m.flush().unwrap();
    };
    fill(&m, &mut t, 2_000);
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (d, stop) = (dir.path().to_owned(), stop.clone());
            std::thread::spawn(move || {
                let mut opens = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    EventManager::open_read_only(&d)
                        .unwrap_or_else(|e| panic!("reader open {opens} failed: {e}"));
                    opens += 1;
                }
                opens
            })
        })
        .collect();
    for _ in 0..150 {
        fill(&m, &mut t, 1_500);
        // Expire everything but the newest 500 events: each pass deletes whole segments
        // and rewrites a partly expired one while the readers list and open.
        m.compact(t - 500 * step + hour).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let opens: u32 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(opens > 100, "{opens} reader opens");
}
