//! `EventManager::scan` visits exactly the records a query returns (viewer rule included), on
//! any number of threads, and lists damaged blocks instead of visiting them.

mod common;

use std::sync::Mutex;

use northstar_core::Visibility;
use northstar_store::{EventManager, Query, Viewer};

#[test]
fn parallel_scan_visits_what_query_returns_on_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let m = EventManager::open(dir.path(), common::small_config()).unwrap();
    for i in 0..6_000u64 {
        let vis = if i % 3 == 0 {
            Visibility::Private
        } else {
            Visibility::Public
        };
        common::operation(&m, 1 + i % 4, vis, i % 7, i);
    }
    m.flush().unwrap();
    drop(m);
    let m = EventManager::open_read_only(dir.path()).unwrap();
    assert!(m.stats().unwrap().segments > 3, "several segments");
    for q in [
        Query::default(),
        Query {
            viewer: Viewer::Actor { actor_id: 2 },
            ..Query::default()
        },
        Query {
            session_id: Some(3),
            ..Query::default()
        },
    ] {
        let mut want: Vec<u64> = m.query(&q).unwrap().iter().map(|e| e.event_id).collect();
        want.sort_unstable();
        for threads in [1, 2, 4, 0] {
            let got = Mutex::new(Vec::new());
            let s = m
                .scan(&q, threads, |id, r| {
                    assert!(r.event().is_ok());
                    got.lock().unwrap().push(id)
                })
                .unwrap();
            let mut got = got.into_inner().unwrap();
            got.sort_unstable();
            assert_eq!(got, want, "{threads} threads, {q:?}");
            assert_eq!(s.visited as usize, want.len());
            assert_eq!(s.records, 6_000);
            assert!(s.damaged.is_empty());
        }
    }
}

/// A closed store of 3 000 public operations: its directory, its one segment's path and bytes.
fn closed_store_of_3000_operations() -> (tempfile::TempDir, std::path::PathBuf, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let m = EventManager::open(dir.path(), common::small_config()).unwrap();
    for i in 0..3_000u64 {
        common::operation(&m, 1, Visibility::Public, 1, i);
    }
    m.close().unwrap();
    let seg = northstar_store::disk::segment_path(dir.path(), 1);
    let b = std::fs::read(&seg).unwrap();
    (dir, seg, b)
}

#[test]
fn parallel_scan_skips_and_lists_a_damaged_block() {
    let (dir, seg, mut b) = closed_store_of_3000_operations();
    b[200] ^= 0x01;
    std::fs::write(&seg, b).unwrap();
    let m = EventManager::open_read_only(dir.path()).unwrap();
    let s = m.scan(&Query::default(), 2, |_, _| {}).unwrap();
    assert_eq!(s.damaged.len(), 1);
    assert_eq!(s.damaged[0].segment_id, 1);
    assert!(s.records < 3_000);
}

/// A block whose checksum matches but whose records disagree with its header (a forged or
/// miswritten block) fails only at its last record: none of its records may be visited, even
/// though the check walk met all the others before it failed.
#[test]
fn a_block_failing_its_last_check_has_no_record_visited() {
    use northstar_store::disk::{Crc32c, BLOCK_HEADER_LEN, SEGMENT_HEADER_LEN};
    let (dir, seg, mut b) = closed_store_of_3000_operations();
    let h = SEGMENT_HEADER_LEN;
    let word = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let body_len = word(&b, h + 8) as usize;
    let count = word(&b, h + 12);
    assert!(count > 1);
    // The last record of the first block (its trailer ends the body, and holds its length)
    // gets a timestamp past the block's range; the checksum is recomputed so it still matches.
    let end = h + BLOCK_HEADER_LEN + body_len;
    let last = end - word(&b, end - 4) as usize;
    b[last..last + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    let crc = Crc32c.checksum(&b[h + 8..end]);
    b[h + 4..h + 8].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&seg, b).unwrap();
    let m = EventManager::open_read_only(dir.path()).unwrap();
    let want: Vec<u64> = m
        .query_report(&Query::default())
        .unwrap()
        .events
        .iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(
        want.len(),
        3_000 - count as usize,
        "the block's records are lost"
    );
    for threads in [1, 2] {
        let got = Mutex::new(Vec::new());
        let s = m
            .scan(&Query::default(), threads, |id, _| {
                got.lock().unwrap().push(id)
            })
            .unwrap();
        let mut got = got.into_inner().unwrap();
        got.sort_unstable();
        assert_eq!(got, want, "{threads} threads");
        assert_eq!(s.damaged.len(), 1);
        assert!(
            s.damaged[0].reason.contains("outside block range"),
            "{}",
            s.damaged[0].reason
        );
        assert!(s.damage_error().is_some());
    }
}

/// `scan_with` gives each thread its own state and hands them all back: together they hold
/// every matching record once.
#[test]
fn scan_with_collects_per_thread_without_a_shared_lock() {
    let dir = tempfile::tempdir().unwrap();
    let m = EventManager::open(dir.path(), common::small_config()).unwrap();
    for i in 0..4_000u64 {
        common::operation(&m, 1 + i % 3, Visibility::Public, i % 5, i);
    }
    m.flush().unwrap();
    let q = Query {
        session_id: Some(2),
        ..Query::default()
    };
    let mut want: Vec<u64> = m.query(&q).unwrap().iter().map(|e| e.event_id).collect();
    want.sort_unstable();
    assert_eq!(want.len(), 800);
    for threads in [1, 2, 3] {
        let (s, states) = m
            .scan_with(&q, threads, Vec::new, |v: &mut Vec<u64>, id, _| v.push(id))
            .unwrap();
        assert!(!states.is_empty() && states.len() <= threads);
        let mut got: Vec<u64> = states.into_iter().flatten().collect();
        got.sort_unstable();
        assert_eq!(got, want, "{threads} threads");
        assert_eq!(s.visited, 800);
        assert!(s.damage_error().is_none());
    }
}

/// `verify` checks segments on every core; its report is the one-thread report: every
/// segment counted, damage listed in segment order whichever thread found it.
#[test]
fn verify_on_every_core_reports_in_segment_order() {
    let dir = tempfile::tempdir().unwrap();
    let m = EventManager::open(dir.path(), common::small_config()).unwrap();
    for i in 0..6_000u64 {
        common::operation(&m, 1, Visibility::Public, 1, i);
    }
    m.close().unwrap();
    let m = EventManager::open_read_only(dir.path()).unwrap();
    let clean = m.verify().unwrap();
    assert!(clean.is_clean());
    assert!(clean.segments > 4, "several segments");
    assert_eq!(clean.records, 6_000);
    drop(m);
    for id in [4u32, 1, 3] {
        let seg = northstar_store::disk::segment_path(dir.path(), id);
        let mut b = std::fs::read(&seg).unwrap();
        b[300] ^= 0x01;
        std::fs::write(&seg, b).unwrap();
    }
    let m = EventManager::open_read_only(dir.path()).unwrap();
    let r = m.verify().unwrap();
    assert_eq!(r.segments, clean.segments);
    let ids: Vec<u32> = r.damaged.iter().map(|d| d.segment_id).collect();
    assert_eq!(ids, vec![1, 3, 4]);
    assert!(r.records < 6_000);
}
