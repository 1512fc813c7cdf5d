//! Queries never drop events silently: a damaged block met while querying (a sealed segment
//! whose index is intact, so recovery did not look at the bytes) is an error for the strict
//! query calls, an `Err` item for the iterator, and a typed report for `query_report`.

mod common;

use std::path::PathBuf;

use northstar_core::Visibility;
use northstar_store::disk::SEGMENT_HEADER_LEN;
use northstar_store::disk::{scan_segment, ScanItem};
use northstar_store::{EventManager, Query, StoreError, Viewer};

/// A closed store of a few segments; returns (dir, path of a segment, offset of its second
/// block, that block's record count, total events).
fn store_with_sealed_segments() -> (tempfile::TempDir, PathBuf, u64, u64, usize) {
    let dir = tempfile::tempdir().unwrap();
    let m = EventManager::open(dir.path(), common::small_config()).unwrap();
    for round in 0..3u64 {
        for i in 0..300 {
            common::operation(&m, round + 1, Visibility::Public, round, i);
        }
        m.flush().unwrap();
    }
    m.close().unwrap();
    let ro = EventManager::open_read_only(dir.path()).unwrap();
    let total = ro.query(&Query::default()).unwrap().len();
    assert_eq!(total, 900);
    let path = dir.path().join("seg-0000000001.nss");
    let bytes = std::fs::read(&path).unwrap();
    let (_, scan) = scan_segment(&bytes).unwrap();
    let blocks: Vec<(u64, u64)> = scan
        .filter_map(|i| match i {
            ScanItem::Block {
                offset,
                block: view,
            } => Some((offset, u64::from(view.header.record_count.get()))),
            ScanItem::Damaged(_) => None,
        })
        .collect();
    assert!(blocks.len() >= 2, "need two blocks: {blocks:?}");
    let (offset, records) = blocks[1];
    assert!(offset > SEGMENT_HEADER_LEN as u64 && records > 0);
    (dir, path, offset, records, total)
}

fn flip(path: &PathBuf, at: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at as usize] ^= 0x10;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_damaged_block_met_by_a_query_is_reported_never_dropped_silently() {
    let (dir, path, offset, lost, total) = store_with_sealed_segments();
    // Flip a bit inside the block's body: same length, so the saved index still matches and
    // open does not rescan; only the query meets the damage.
    flip(&path, offset + 60);
    let m = EventManager::open_read_only(dir.path()).unwrap();
    assert!(m.open_report().damaged.is_empty(), "open trusted the index");

    match m.query(&Query::default()) {
        Err(StoreError::Corrupt {
            path: p,
            offset: o,
            reason,
        }) => {
            assert_eq!(p, path);
            assert_eq!(o, offset);
            assert!(reason.contains("checksum"), "{reason}");
        }
        other => panic!("expected a Corrupt error, got {:?}", other.map(|v| v.len())),
    }
    // Every strict path says so too (for the session and actor the block holds; the index
    // lets the others skip it).
    assert!((0..3).any(|s| m.get_session_events(s, &Viewer::System).is_err()));
    assert!((1..=3).any(|a| m.get_actor_events(a, 1000, &Viewer::System).is_err()));
    assert!(m.query_without_index(&Query::default()).is_err());
    assert!(m.query_visit(&Query::default(), |_, _| {}).is_err());

    // The iterator yields the damage as an Err item and still every undamaged event.
    let items: Vec<_> = m.query_iter(&Query::default()).unwrap().collect();
    let errors = items.iter().filter(|i| i.is_err()).count();
    let events = items.iter().filter(|i| i.is_ok()).count();
    assert_eq!(errors, 1);
    assert_eq!(events as u64, total as u64 - lost);

    // The skip-and-report form: the undamaged events and where the rest went.
    let out = m.query_report(&Query::default()).unwrap();
    assert_eq!(out.events.len() as u64, total as u64 - lost);
    assert_eq!(out.damaged.len(), 1);
    let d = &out.damaged[0];
    assert_eq!((d.segment_id, d.offset, &d.path), (1, offset, &path));
    assert!(out
        .events
        .windows(2)
        .all(|w| w[0].timestamp <= w[1].timestamp));
}

#[test]
fn queries_on_an_undamaged_store_report_nothing() {
    let (dir, _, _, _, total) = store_with_sealed_segments();
    let m = EventManager::open_read_only(dir.path()).unwrap();
    let out = m.query_report(&Query::default()).unwrap();
    assert!(out.damaged.is_empty());
    assert_eq!(out.events, m.query(&Query::default()).unwrap());
    assert_eq!(out.events.len(), total);
}
