//! A full disk, for real: a small tmpfs is mounted (needs root), filled with a filler file
//! while events are recorded, freed, filled again. The store must never die (no SIGBUS, no
//! panic), report the real error (ENOSPC) once per spell instead of looping on "File exists",
//! keep or count every event (stored + dropped = recorded, exactly), and verify clean.
//!
//! Without root these tests print why they are skipped; with `NORTHSTAR_REQUIRE_ROOT_TESTS=1`
//! (CI: `.ci/steps/20-disk-full.sh`) they fail instead.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use northstar_core::events::{AgentSessionEnded, PerfSample};
use northstar_core::recorder::{Recorder, RecorderConfig};
use northstar_core::{Event, List, Visibility};
use northstar_store::{EventManager, FsyncPolicy, Query, StoreConfig, StoreError};

/// A tmpfs mounted on a fresh directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. "8m"); `None` (with a message) when not permitted.
    fn mount(size: &str, test: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        let why = match out {
            Ok(o) if o.status.success() => return Some(Tmpfs { dir }),
            Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_string(),
            Err(e) => format!("cannot run mount: {e}"),
        };
        let msg = format!(
            "{test}: SKIPPED: needs root to mount a tmpfs ({why}); run as root, as CI does \
             (.ci/steps/20-disk-full.sh)"
        );
        if std::env::var_os("NORTHSTAR_REQUIRE_ROOT_TESTS").is_some_and(|v| v == "1") {
            panic!("{msg} [NORTHSTAR_REQUIRE_ROOT_TESTS=1: failing instead of skipping]");
        }
        // Straight to stderr, not through `eprintln!` (which the test harness captures and
        // hides for a passing test): the skip must be seen.
        let _ = writeln!(std::io::stderr(), "{msg}");
        None
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Fills the file system holding `path` with one file until the disk refuses a byte.
fn fill(path: &Path) -> File {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let chunk = vec![0x5au8; 64 << 10];
    let mut small = false;
    loop {
        let n = if small { 512 } else { chunk.len() };
        match f.write(&chunk[..n]) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc_enospc()) => {
                if small {
                    break;
                }
                small = true;
            }
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    f
}

fn libc_enospc() -> i32 {
    28 // ENOSPC on Linux
}

fn is_enospc(e: &StoreError) -> bool {
    matches!(e, StoreError::WriteFailed { source, .. } if source.raw_os_error() == Some(libc_enospc()))
}

fn sample(i: u64) -> PerfSample<'static> {
    PerfSample {
        metric_name: "disk_full_latency_ns",
        dimensions: List::from(&[("bench", "disk_full")][..]),
        value: i as f64,
        unit: "ns",
        timestamp_window: northstar_core::events::TimeWindow { start: 0, end: 0 },
        correlation_hints: northstar_core::events::CorrelationHints::NONE,
    }
}

fn config(recorder: &Recorder, retry: Duration) -> StoreConfig {
    StoreConfig {
        // Small segments: the disk fills while segments are being created, too.
        segment_max_bytes: 256 << 10,
        flush_interval: Duration::from_millis(2),
        fsync: FsyncPolicy::Interval(Duration::from_millis(50)),
        write_buffer_bytes: 1 << 20,
        retry_window: retry,
        recorder: Some(recorder.clone()),
        ..StoreConfig::default()
    }
}

fn small_recorder() -> Recorder {
    Recorder::new(RecorderConfig {
        rings: 4,
        ring_bytes: 64 << 10,
        ..RecorderConfig::default()
    })
    .unwrap()
}

/// No segment file may be left empty or header-only by a failed creation.
fn assert_no_leftover_segments(dir: &Path) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        assert!(!name.ends_with(".tmp"), "temporary file left: {name}");
        if name.ends_with(".nss") {
            let len = fs::metadata(&p).unwrap().len();
            assert!(len > 32, "{name} is {len} bytes: a failed creation left it");
        }
    }
}

fn verify_clean(dir: &Path) -> (u64, u64) {
    let m = EventManager::open_read_only(dir).unwrap();
    let report = m.verify().unwrap();
    assert!(
        report.is_clean(),
        "verify after the disk filled: damaged {:?}, skipped {:?}",
        report.damaged,
        report.skipped
    );
    assert!(
        m.open_report().damaged.is_empty(),
        "{:?}",
        m.open_report().damaged
    );
    let s = m.stats().unwrap();
    assert_eq!(
        m.query(&Query::default()).unwrap().len() as u64,
        s.events,
        "every indexed event reads back"
    );
    (s.events, s.dropped)
}

#[test]
fn full_freed_full_again_while_recording() {
    let Some(fs_) = Tmpfs::mount("32m", "full_freed_full_again_while_recording") else {
        return;
    };
    let dir = fs_.path().join("data");
    let filler: PathBuf = fs_.path().join("filler");
    let recorder = small_recorder();
    let m = EventManager::open(&dir, config(&recorder, Duration::from_millis(300))).unwrap();
    let stop = AtomicBool::new(false);
    let mut flush_errors = Vec::new();
    /// Stops the producer even when an assertion fails (or the scope would wait forever).
    struct Stop<'a>(&'a AtomicBool);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    std::thread::scope(|s| {
        let producer = s.spawn(|| {
            // Paced at about 50 000 events/s (a perf_sample of ~120 bytes: ~6 MB/s, about
            // 20 MB over the test, within the 32 MiB tmpfs once the filler is gone).
            let start = Instant::now();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                while (start.elapsed().as_nanos() as u64) < i * 20_000 {
                    std::hint::spin_loop();
                }
                let _ = m.record(7, Visibility::Public, &sample(i));
                i += 1;
            }
            i
        });
        let _stop = Stop(&stop);
        for round in 0..3 {
            std::thread::sleep(Duration::from_millis(150));
            let f = fill(&filler);
            // Full: writes (and segment creations: 256 KiB segments roll several times a
            // second) fail; the writer must keep retrying, never die.
            std::thread::sleep(Duration::from_millis(500));
            let h = m.write_health();
            assert!(
                h.failed_attempts > 0,
                "round {round}: the disk is full but no write failed: {h:?}"
            );
            // A flush while full returns the real error once its window passes.
            // (Ok: the disk took the last blocks in time, in partly filled pages.)
            if let Err(e) = m.flush() {
                assert!(is_enospc(&e), "round {round}: flush error {e}");
                flush_errors.push(e.to_string());
            }
            drop(f);
            fs::remove_file(&filler).unwrap();
            // Freed: the writer catches up by itself.
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if m.flush().is_ok() {
                    break;
                }
                assert!(Instant::now() < deadline, "round {round}: no recovery");
            }
            assert!(
                m.write_health().failing.is_none(),
                "round {round}: {:?}",
                m.write_health()
            );
        }
        stop.store(true, Ordering::Relaxed);
        producer.join().unwrap();
    });
    m.flush().unwrap();
    let health = m.write_health();
    let counters = m.recorder().counters();
    m.close().unwrap();
    eprintln!(
        "health {health:?}\ncounters {counters:?}\nflush errors while full: {flush_errors:?}"
    );
    // The real error, once per spell: every episode names ENOSPC, none "File exists".
    assert!(health.episodes >= 1);
    assert!(
        health.failed_attempts > health.episodes,
        "retries are not episodes"
    );
    for e in &health.episode_errors {
        assert!(e.contains("No space left on device"), "episode error: {e}");
        assert!(!e.contains("File exists"), "episode error: {e}");
    }
    for e in &flush_errors {
        assert!(!e.contains("File exists"), "{e}");
    }
    assert_eq!(health.lost_events, 0);
    assert_no_leftover_segments(&dir);
    let (stored, dropped) = verify_clean(&dir);
    let recorded = counters.pushed + counters.lost();
    eprintln!("recorded {recorded}, stored {stored}, dropped {dropped}");
    assert!(
        dropped > 0,
        "the disk was full long enough to fill the rings"
    );
    assert_eq!(stored, counters.pushed, "every accepted event is stored");
    assert_eq!(stored + dropped, recorded, "stored + dropped = recorded");
}

#[test]
fn close_on_a_full_disk_counts_what_it_gives_up() {
    let Some(fs_) = Tmpfs::mount("2m", "close_on_a_full_disk_counts_what_it_gives_up") else {
        return;
    };
    let dir = fs_.path().join("data");
    let filler = fs_.path().join("filler");
    let recorder = small_recorder();
    let m = EventManager::open(&dir, config(&recorder, Duration::from_millis(300))).unwrap();
    for i in 0..2_000 {
        let _ = m.record(1, Visibility::Public, &AgentSessionEnded { session_id: i });
    }
    m.flush().unwrap();
    let f = fill(&filler);
    for i in 0..3_000 {
        let _ = m.record(1, Visibility::Public, &sample(i));
    }
    let counters = m.recorder().counters();
    let started = Instant::now();
    let err = m
        .close()
        .expect_err("the disk is full: close cannot store everything");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "close is bounded"
    );
    eprintln!("close: {err}");
    let StoreError::WriteFailed {
        source,
        lost_events,
        lost_counted_in_store,
        ..
    } = &err
    else {
        panic!("close error {err:?}");
    };
    assert_eq!(source.raw_os_error(), Some(libc_enospc()), "{err}");
    assert!(*lost_events > 0);
    drop(f);
    fs::remove_file(&filler).unwrap();
    assert_no_leftover_segments(&dir);
    let (stored, dropped) = verify_clean(&dir);
    let recorded = counters.pushed + counters.lost();
    if *lost_counted_in_store {
        assert_eq!(stored + dropped, recorded);
    } else {
        assert_eq!(stored + dropped + lost_events, recorded);
    }
}

#[test]
fn import_into_a_full_disk_says_how_many_are_stored() {
    let Some(fs_) = Tmpfs::mount("2m", "import_into_a_full_disk_says_how_many_are_stored") else {
        return;
    };
    let dir = fs_.path().join("data");
    let filler = fs_.path().join("filler");
    let recorder = small_recorder();
    let m = EventManager::open(&dir, config(&recorder, Duration::from_millis(200))).unwrap();
    let import = |i: u64| {
        m.record_event_at(
            1_000_000 + i,
            3,
            Visibility::Public,
            &Event::AgentSessionEnded(AgentSessionEnded { session_id: i }),
        )
    };
    for i in 0..1_000 {
        import(i).unwrap();
    }
    m.flush().unwrap();
    let f = fill(&filler);
    let mut errors = 0;
    for i in 1_000..41_000 {
        if let Err(e) = import(i) {
            assert!(is_enospc(&e), "{e}");
            errors += 1;
        }
    }
    let flushed = m.flush();
    assert!(
        errors > 0 || flushed.is_err(),
        "40 000 imports (1.6 MB) cannot fit in a full disk"
    );
    let err = m.close().expect_err("close on a full disk");
    let StoreError::WriteFailed {
        imports,
        imports_stored,
        ..
    } = err
    else {
        panic!("{err:?}");
    };
    assert_eq!(imports, 41_000);
    assert!(
        (1_000..41_000).contains(&imports_stored),
        "{imports_stored}"
    );
    drop(f);
    fs::remove_file(&filler).unwrap();
    verify_clean(&dir);
    // Exactly the first `imports_stored` events are stored: a tool resumes after them.
    let m = EventManager::open_read_only(&dir).unwrap();
    let mut ids: Vec<u64> = m
        .query(&Query::default())
        .unwrap()
        .iter()
        .map(|e| match e.event().unwrap() {
            Event::AgentSessionEnded(p) => p.session_id,
            other => panic!("{other:?}"),
        })
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..imports_stored).collect::<Vec<_>>());
}

#[test]
fn segment_creation_on_a_full_disk_leaves_nothing_and_recovers() {
    let Some(fs_) = Tmpfs::mount(
        "1m",
        "segment_creation_on_a_full_disk_leaves_nothing_and_recovers",
    ) else {
        return;
    };
    let dir = fs_.path().join("data");
    let filler = fs_.path().join("filler");
    let recorder = small_recorder();
    // No segment exists until the first block: the disk is full when it is created.
    let m = EventManager::open(&dir, config(&recorder, Duration::from_millis(200))).unwrap();
    let f = fill(&filler);
    for i in 0..100 {
        m.record(1, Visibility::Public, &AgentSessionEnded { session_id: i })
            .unwrap();
    }
    let err = m
        .flush()
        .expect_err("no segment can be created on a full disk");
    assert!(is_enospc(&err), "the real cause, not 'File exists': {err}");
    // Several attempts, one episode, one error.
    std::thread::sleep(Duration::from_millis(100));
    let h = m.write_health();
    assert_eq!(h.episodes, 1, "{h:?}");
    assert!(h.failed_attempts > 1, "{h:?}");
    assert_no_leftover_segments(&dir);
    drop(f);
    fs::remove_file(&filler).unwrap();
    m.flush().unwrap();
    assert!(m.write_health().failing.is_none());
    let counters = m.recorder().counters();
    m.close().unwrap();
    assert_no_leftover_segments(&dir);
    let (stored, dropped) = verify_clean(&dir);
    assert_eq!((stored, dropped), (100, 0));
    assert_eq!(counters.pushed, 100);
}
