//! Compaction rewrites a partly expired segment without the damaged blocks it cannot copy,
//! and says so: segment, offset, reason, and the records lost when the index knew them.

mod common;

use std::path::Path;
use std::time::Duration;

use northstar_core::Visibility;
use northstar_store::disk::{index_path, segment_path};
use northstar_store::disk::{scan_segment, ScanItem};
use northstar_store::unix_now_ns;
use northstar_store::{EventManager, Query, StoreConfig};

const RETENTION_NS: u64 = 3600 * 1_000_000_000;

fn config() -> StoreConfig {
    StoreConfig {
        retention: Duration::from_secs(3600),
        ..common::small_config()
    }
}

/// Segment 1 sealed with 100 events before `cut` and two later batches after it, each batch
/// in its own block. Returns `cut`, and the offset and record count of the first block after
/// it.
fn partly_expired_segment(dir: &Path) -> (u64, u64, u64) {
    let m = EventManager::open(dir, config()).unwrap();
    for i in 0..100 {
        common::operation(&m, 1, Visibility::Public, 1, i);
    }
    m.flush().unwrap();
    std::thread::sleep(Duration::from_millis(3));
    let cut = unix_now_ns();
    std::thread::sleep(Duration::from_millis(3));
    for batch in 0..2 {
        for i in 0..100 {
            common::operation(&m, 2, Visibility::Public, 2 + batch, i);
        }
        m.flush().unwrap();
    }
    m.close().unwrap();
    let bytes = std::fs::read(segment_path(dir, 1)).unwrap();
    let (_, scan) = scan_segment(&bytes).unwrap();
    // The first block after the cut, with a good block behind it (damage running to the end
    // of the last segment would be a torn tail, truncated at open).
    let blocks: Vec<_> = scan
        .filter_map(|i| match i {
            ScanItem::Block {
                offset,
                block: view,
            } => Some((offset, view)),
            ScanItem::Damaged(_) => None,
        })
        .collect();
    let i = blocks
        .iter()
        .position(|(_, v)| v.header.min_ts.get() > cut)
        .unwrap();
    assert!(i + 1 < blocks.len(), "a good block follows");
    let (offset, view) = &blocks[i];
    (cut, *offset, u64::from(view.header.record_count.get()))
}

fn flip(path: &Path, at: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at as usize] ^= 0x04;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn rewrite_reports_the_damaged_block_it_drops_with_its_record_count() {
    let dir = tempfile::tempdir().unwrap();
    let (cut, offset, records) = partly_expired_segment(dir.path());
    let seg = segment_path(dir.path(), 1);
    flip(&seg, offset + 70);
    let m = EventManager::open(dir.path(), config()).unwrap();
    assert!(
        m.open_report().damaged.is_empty(),
        "the saved index was trusted"
    );
    let report = m.compact(cut + RETENTION_NS).unwrap();
    assert_eq!(report.rewritten.len(), 1, "{report:?}");
    let (id, kept, removed) = report.rewritten[0];
    assert_eq!((id, removed), (1, 100));
    assert_eq!(kept + records, 200, "{report:?}");
    assert_eq!(report.dropped_damage.len(), 1, "{report:?}");
    let d = &report.dropped_damage[0];
    assert_eq!(d.region.segment_id, 1);
    assert_eq!(d.region.path, seg);
    assert_eq!(d.region.offset, offset);
    assert!(d.region.reason.contains("checksum"), "{}", d.region.reason);
    assert_eq!(d.records, Some(records));
    assert_eq!(d.dropped_counts, Some(0));
    // What survives is exactly what the report says.
    let left = m.query(&Query::default()).unwrap();
    assert_eq!(left.len() as u64, kept);
    let v = m.verify().unwrap();
    assert!(v.is_clean());
    // ... and the loss is remembered: verify and stats show it later, from damage.log.
    assert_eq!(v.logged.len(), 1, "{v:?}");
    assert_eq!(
        v.logged[0].action,
        northstar_store::DamageAction::CompactionDropped
    );
    assert_eq!((v.logged[0].segment_id, v.logged[0].offset), (1, offset));
    drop(m);
    let r = EventManager::open_read_only(dir.path()).unwrap();
    assert_eq!(r.stats().unwrap().damage_logged.len(), 1);
    assert!(
        r.open_report().skipped.is_empty(),
        "damage.log is ours, not foreign"
    );
}

#[test]
fn damage_found_at_open_is_reported_again_when_the_rewrite_drops_it() {
    let dir = tempfile::tempdir().unwrap();
    let (cut, offset, _) = partly_expired_segment(dir.path());
    flip(&segment_path(dir.path(), 1), offset + 70);
    // Without its index the segment is rescanned at open: the damage is in the open report,
    // and the rebuilt index no longer counts the block's records.
    std::fs::remove_file(index_path(dir.path(), 1)).unwrap();
    let m = EventManager::open(dir.path(), config()).unwrap();
    assert_eq!(m.open_report().damaged.len(), 1);
    let report = m.compact(cut + RETENTION_NS).unwrap();
    assert_eq!(report.dropped_damage.len(), 1, "{report:?}");
    let d = &report.dropped_damage[0];
    assert_eq!((d.region.segment_id, d.region.offset), (1, offset));
    assert_eq!(
        d.records, None,
        "the rebuilt index does not describe the damage"
    );
}

#[test]
fn an_undamaged_rewrite_reports_no_damage() {
    let dir = tempfile::tempdir().unwrap();
    let (cut, _, _) = partly_expired_segment(dir.path());
    let m = EventManager::open(dir.path(), config()).unwrap();
    let report = m.compact(cut + RETENTION_NS).unwrap();
    assert_eq!(report.rewritten, vec![(1, 200, 100)]);
    assert!(report.dropped_damage.is_empty());
}
