//! Bad input: foreign files, empty files, future format versions, truncated headers, torn
//! tails, damaged indexes. Each gives a typed error or is skipped with a report; never a panic.

mod common;

use std::path::Path;

use northstar_core::Visibility;
use northstar_store::disk::segment_path;
use northstar_store::disk::{SegmentHeader, FORMAT_VERSION, SEGMENT_HEADER_LEN};
use northstar_store::{EventManager, Query, SkipKind, StoreError};
use zerocopy::IntoBytes;

fn store_with_events(dir: &Path, n: u64) {
    let m = EventManager::open(dir, common::small_config()).unwrap();
    for i in 0..n {
        common::operation(&m, 1, Visibility::Public, 1, i);
    }
    m.close().unwrap();
}

fn count(m: &EventManager) -> usize {
    m.query(&Query::default()).unwrap().len()
}

#[test]
fn foreign_files_and_garbage_segments_are_skipped_with_a_report() {
    let dir = tempfile::tempdir().unwrap();
    store_with_events(dir.path(), 100);
    std::fs::write(dir.path().join("notes.txt"), b"hello").unwrap();
    std::fs::create_dir(dir.path().join("subdir")).unwrap();
    // Named like a segment, but not one; not the last one.
    std::fs::write(segment_path(dir.path(), 0), b"GIF89a not a segment at all").unwrap();
    for m in [
        EventManager::open_read_only(dir.path()).unwrap(),
        EventManager::open(dir.path(), common::small_config()).unwrap(),
    ] {
        let skipped = &m.open_report().skipped;
        assert!(
            skipped.iter().any(|s| s.path.ends_with("notes.txt")),
            "{skipped:?}"
        );
        assert!(skipped.iter().any(|s| s.path.ends_with("subdir")));
        assert!(skipped
            .iter()
            .any(|s| s.path.ends_with("seg-0000000000.nss")
                && s.reason.contains("not a Northstar segment")));
        assert_eq!(count(&m), 100);
        let v = m.verify().unwrap();
        // The file named like a segment is an unreadable Northstar file: a finding. The
        // foreign file and directory are reported but lose nothing.
        assert!(
            !v.is_clean() && v.damaged.is_empty() && v.skipped.len() == 3,
            "{v:?}"
        );
        for s in &v.skipped {
            let expected = if s.path.ends_with("seg-0000000000.nss") {
                SkipKind::Unreadable
            } else {
                SkipKind::Foreign
            };
            assert_eq!(s.kind, expected, "{s:?}");
        }
    }
}

#[test]
fn foreign_files_alone_leave_verify_clean() {
    let dir = tempfile::tempdir().unwrap();
    store_with_events(dir.path(), 10);
    std::fs::write(dir.path().join("wal.log"), b"another program's file").unwrap();
    let m = EventManager::open_read_only(dir.path()).unwrap();
    let v = m.verify().unwrap();
    assert!(v.is_clean(), "{v:?}");
    assert_eq!(v.skipped.len(), 1, "still reported: {v:?}");
    assert_eq!(v.skipped[0].kind, SkipKind::Foreign);
    assert_eq!(count(&m), 10);
}

#[test]
fn empty_and_truncated_segments() {
    let dir = tempfile::tempdir().unwrap();
    store_with_events(dir.path(), 50);
    // An empty segment in the middle, a truncated header at the end.
    std::fs::write(segment_path(dir.path(), 0), b"").unwrap();
    let header = SegmentHeader::new(1000, 1);
    std::fs::write(
        segment_path(dir.path(), 1000),
        &header.as_bytes()[..SEGMENT_HEADER_LEN - 5],
    )
    .unwrap();
    let ro = EventManager::open_read_only(dir.path()).unwrap();
    let reasons: Vec<_> = ro
        .open_report()
        .skipped
        .iter()
        .map(|s| s.reason.clone())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("truncated segment header: 0")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("truncated segment header: 27")),
        "{reasons:?}"
    );
    assert_eq!(count(&ro), 50);
    drop(ro);
    // A writer removes the header-only leftover at the end (a crash while creating it) and
    // writes on after it.
    let m = EventManager::open(dir.path(), common::small_config()).unwrap();
    assert!(!segment_path(dir.path(), 1000).exists());
    common::operation(&m, 2, Visibility::Public, 2, 0);
    m.flush().unwrap();
    assert_eq!(count(&m), 51);
    assert!(segment_path(dir.path(), 1001).exists(), "ids never go back");
}

#[test]
fn future_format_version_is_refused_with_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    store_with_events(dir.path(), 10);
    let mut header = SegmentHeader::new(77, 1);
    header.version = (FORMAT_VERSION + 1).into();
    header.crc = northstar_store::disk::CRC32C
        .checksum(&header.as_bytes()[..28])
        .into();
    std::fs::write(segment_path(dir.path(), 77), header.as_bytes()).unwrap();
    for r in [
        EventManager::open_read_only(dir.path()).map(|_| ()),
        EventManager::open(dir.path(), common::small_config()).map(|_| ()),
    ] {
        match r {
            Err(StoreError::FutureVersion {
                found,
                supported,
                path,
            }) => {
                assert_eq!((found, supported), (FORMAT_VERSION + 1, FORMAT_VERSION));
                assert!(path.ends_with("seg-0000000077.nss"));
            }
            other => panic!("expected FutureVersion, got {:?}", other.err()),
        }
    }
}

#[test]
fn torn_tail_is_truncated_and_writes_continue() {
    let dir = tempfile::tempdir().unwrap();
    store_with_events(dir.path(), 200);
    // Simulate a crash mid-write: remove the last segment's index (it was being written) and
    // append half a block.
    let last = (0..10)
        .rev()
        .map(|i| segment_path(dir.path(), i))
        .find(|p| p.exists())
        .unwrap();
    std::fs::remove_file(last.with_extension("nsi")).unwrap();
    let good_len = std::fs::metadata(&last).unwrap().len();
    let mut bytes = std::fs::read(&last).unwrap();
    let first_block = bytes[SEGMENT_HEADER_LEN..SEGMENT_HEADER_LEN + 300].to_vec();
    bytes.extend_from_slice(&first_block);
    std::fs::write(&last, &bytes).unwrap();

    let ro = EventManager::open_read_only(dir.path()).unwrap();
    assert!(ro
        .open_report()
        .damaged
        .iter()
        .any(|d| d.reason.contains("torn tail")));
    assert_eq!(count(&ro), 200);
    assert!(!ro.verify().unwrap().is_clean());
    drop(ro);
    let m = EventManager::open(dir.path(), common::small_config()).unwrap();
    assert_eq!(m.open_report().truncated.len(), 1, "{:?}", m.open_report());
    assert_eq!(std::fs::metadata(&last).unwrap().len(), good_len);
    assert_eq!(count(&m), 200);
    common::operation(&m, 1, Visibility::Public, 1, 999);
    m.flush().unwrap();
    assert_eq!(count(&m), 201);
    assert!(m.verify().unwrap().is_clean());
}

#[test]
fn missing_directory_and_temp_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    assert!(matches!(
        EventManager::open_read_only(&missing),
        Err(StoreError::Io { .. })
    ));
    store_with_events(dir.path(), 5);
    std::fs::write(dir.path().join("seg-0000000001.nss.tmp"), b"half").unwrap();
    std::fs::write(
        dir.path().join("teams"),
        b"northstar-teams v1\n1 2\nbad line\n",
    )
    .unwrap();
    let m = EventManager::open(dir.path(), common::small_config()).unwrap();
    assert_eq!(m.open_report().temp_removed.len(), 1);
    assert!(m
        .open_report()
        .skipped
        .iter()
        .any(|s| s.reason.contains("line 3")));
    assert_eq!(m.team_of(1), Some(2));
    assert_eq!(count(&m), 5);
}
