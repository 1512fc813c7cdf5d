//! Hostile files in a data directory: readers open only regular files (never wait on a FIFO,
//! never read a device), bound what they read by the file's size, and skip a stray segment
//! named with the reserved id, reporting each one, while the rest of the store stays readable.

mod common;

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use northstar_core::Visibility;
use northstar_store::disk::{index_path, segment_path, TEAMS_FILE};
use northstar_store::{EventManager, Query, SkipKind};

fn store(dir: &Path) -> usize {
    let m = EventManager::open(dir, common::small_config()).unwrap();
    for i in 0..200 {
        common::operation(&m, 1, Visibility::Public, 1, i);
    }
    m.close().unwrap();
    EventManager::open_read_only(dir)
        .unwrap()
        .query(&Query::default())
        .unwrap()
        .len()
}

/// Runs `f` on another thread; fails the test if it has not returned within 20 s (a hang).
fn within_20s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("the call hung (blocked on a FIFO?)")
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path; mkfifo only reads it.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o644) };
    assert_eq!(rc, 0, "mkfifo {}", path.display());
}

#[test]
fn fifos_named_like_an_index_the_team_file_or_the_lock_never_hang() {
    let dir = tempfile::tempdir().unwrap();
    let total = store(dir.path());
    let d = dir.path().to_owned();
    std::fs::remove_file(index_path(&d, 1)).unwrap();
    mkfifo(&index_path(&d, 1));
    mkfifo(&d.join(TEAMS_FILE));
    let d2 = d.clone();
    let (n, report) = within_20s(move || {
        let m = EventManager::open_read_only(&d2).unwrap();
        let n = m.query(&Query::default()).unwrap().len();
        (n, m.open_report().clone())
    });
    assert_eq!(n, total, "the segment was scanned instead of its index");
    let reasons: Vec<_> = report.skipped.iter().map(|s| s.reason.clone()).collect();
    assert!(
        reasons.iter().any(|r| r.contains("FIFO")),
        "the FIFOs are named: {reasons:?}"
    );
    let team = report
        .skipped
        .iter()
        .find(|s| s.path.ends_with(TEAMS_FILE))
        .expect("the team file is reported");
    assert_eq!(team.kind, SkipKind::Unreadable);
    // verify does not hang either.
    let d3 = d.clone();
    within_20s(move || EventManager::open_read_only(&d3).unwrap().verify().unwrap());
    // A FIFO in place of LOCK: a writer refuses with a message instead of waiting.
    std::fs::remove_file(d.join(TEAMS_FILE)).unwrap();
    std::fs::remove_file(index_path(&d, 1)).unwrap();
    let lock = d.join("LOCK");
    let _ = std::fs::remove_file(&lock);
    mkfifo(&lock);
    let d4 = d.clone();
    let r = within_20s(move || {
        EventManager::open(&d4, common::small_config())
            .err()
            .map(|e| e.to_string())
    });
    let msg = r.expect("a FIFO lock file is refused");
    assert!(msg.contains("not a regular file"), "{msg}");
}

#[test]
fn an_index_linked_to_dev_zero_is_refused_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let total = store(dir.path());
    let ipath = index_path(dir.path(), 1);
    std::fs::remove_file(&ipath).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &ipath).unwrap();
    let d = dir.path().to_owned();
    let (n, report) = within_20s(move || {
        let m = EventManager::open_read_only(&d).unwrap();
        (
            m.query(&Query::default()).unwrap().len(),
            m.open_report().clone(),
        )
    });
    assert_eq!(n, total);
    assert!(
        report
            .skipped
            .iter()
            .any(|s| s.reason.contains("character device")),
        "{report:?}"
    );
    // The team file as a link to /dev/zero: refused too.
    std::os::unix::fs::symlink("/dev/zero", dir.path().join(TEAMS_FILE)).unwrap();
    let d = dir.path().to_owned();
    let report = within_20s(move || {
        EventManager::open_read_only(&d)
            .unwrap()
            .open_report()
            .clone()
    });
    assert!(report
        .skipped
        .iter()
        .any(|s| s.path.ends_with(TEAMS_FILE) && s.kind == SkipKind::Unreadable));
}

#[test]
fn a_stray_segment_with_the_reserved_id_is_skipped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let total = store(dir.path());
    let stray = segment_path(dir.path(), u32::MAX);
    std::fs::write(&stray, b"whatever").unwrap();
    let m = EventManager::open_read_only(dir.path()).unwrap();
    assert_eq!(m.query(&Query::default()).unwrap().len(), total);
    assert!(m
        .open_report()
        .skipped
        .iter()
        .any(|s| s.path == stray && s.kind == SkipKind::Unreadable));
    assert!(m.verify().unwrap().skipped.iter().any(|s| s.path == stray));
    drop(m);
    // A writer opens, records and reads back too.
    let w = EventManager::open(dir.path(), common::small_config()).unwrap();
    common::operation(&w, 1, Visibility::Public, 1, 1);
    w.flush().unwrap();
    assert_eq!(w.query(&Query::default()).unwrap().len(), total + 1);
}

fn peak_rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_sparse_4_gib_segment_is_refused_unread() {
    use northstar_store::disk::SegmentHeader;
    use zerocopy::IntoBytes;
    let dir = tempfile::tempdir().unwrap();
    let total = store(dir.path());
    // The last segment: a valid header, then 4 GiB of holes.
    let p = segment_path(dir.path(), 9);
    let f = std::fs::File::create(&p).unwrap();
    std::io::Write::write_all(&mut &f, SegmentHeader::new(9, 1).as_bytes()).unwrap();
    f.set_len(4 << 30).unwrap();
    drop(f);
    let before = peak_rss_kib();
    let m = EventManager::open_read_only(dir.path()).unwrap();
    assert_eq!(m.query(&Query::default()).unwrap().len(), total);
    let s = m
        .open_report()
        .skipped
        .iter()
        .find(|s| s.path == p)
        .expect("the oversized segment is reported");
    assert_eq!(s.kind, SkipKind::Unreadable);
    assert!(s.reason.contains("more than"), "{s:?}");
    assert!(m.verify().unwrap().skipped.iter().any(|s| s.path == p));
    drop(m);
    let grown_mib = (peak_rss_kib() - before) / 1024;
    assert!(
        grown_mib < 1024,
        "reading a 4 GiB sparse segment raised the peak RSS by {grown_mib} MiB"
    );
}
