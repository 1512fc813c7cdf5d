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

#[test]
fn parallel_scan_skips_and_lists_a_damaged_block() {
    let dir = tempfile::tempdir().unwrap();
    let m = EventManager::open(dir.path(), common::small_config()).unwrap();
    for i in 0..3_000u64 {
        common::operation(&m, 1, Visibility::Public, 1, i);
    }
    m.close().unwrap();
    let seg = northstar_store::disk::segment_path(dir.path(), 1);
    let mut b = std::fs::read(&seg).unwrap();
    b[200] ^= 0x01;
    std::fs::write(&seg, b).unwrap();
    let m = EventManager::open_read_only(dir.path()).unwrap();
    let s = m.scan(&Query::default(), 2, |_, _| {}).unwrap();
    assert_eq!(s.damaged.len(), 1);
    assert_eq!(s.damaged[0].segment_id, 1);
    assert!(s.records < 3_000);
}
