//! Damage that a store removes or finds while opening is never silent: a truncated tail is in
//! the open report and the damage log (verify and stats show it later); an index whose
//! checksum is valid but which disagrees with its segment is a finding of verify, is not
//! trusted by readers, and is rebuilt by a writable open.

mod common;

use std::path::Path;

use northstar_core::Visibility;
use northstar_store::disk::SegmentIndex;
use northstar_store::disk::{index_path, segment_path};
use northstar_store::disk::{scan_segment, ScanItem};
use northstar_store::DamageAction;
use northstar_store::{EventManager, Query, SkipKind};

fn store(dir: &Path, batches: u64) {
    let m = EventManager::open(dir, common::small_config()).unwrap();
    for b in 0..batches {
        for i in 0..50 {
            common::operation(&m, 1 + b % 3, Visibility::Public, b, i);
        }
        m.flush().unwrap();
    }
    m.close().unwrap();
}

fn blocks(path: &Path) -> Vec<(u64, u64, u32)> {
    let bytes = std::fs::read(path).unwrap();
    let (_, scan) = scan_segment(&bytes).unwrap();
    scan.filter_map(|i| match i {
        ScanItem::Block {
            offset,
            block: view,
        } => Some((offset, view.len() as u64, view.header.record_count.get())),
        ScanItem::Damaged(_) => None,
    })
    .collect()
}

#[test]
fn a_truncated_damaged_tail_is_reported_and_remembered() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path(), 4);
    let seg = segment_path(dir.path(), 1);
    let all = blocks(&seg);
    let (off, len, records) = *all.last().unwrap();
    assert!(records > 0);
    // Damage the last block of the last segment, and drop its index (as after a crash).
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[(off + 60) as usize] ^= 0x10;
    std::fs::write(&seg, &bytes).unwrap();
    let _ = std::fs::remove_file(index_path(dir.path(), 1));
    let m = EventManager::open(dir.path(), common::small_config()).unwrap();
    let r = m.open_report();
    assert_eq!(r.truncated, vec![(1, off, len)], "{r:?}");
    assert!(r.truncated_reasons[0].contains("checksum"), "{r:?}");
    drop(m);
    // Afterwards the store is clean, and says what was removed.
    let m = EventManager::open_read_only(dir.path()).unwrap();
    let v = m.verify().unwrap();
    assert!(v.is_clean(), "{v:?}");
    assert_eq!(v.logged.len(), 1);
    let l = &v.logged[0];
    assert_eq!(l.action, DamageAction::Truncated);
    assert_eq!((l.segment_id, l.offset, l.len), (1, off, len));
    assert_eq!(m.stats().unwrap().damage_logged, v.logged);
}

/// Rewrites segment 1's index with `edit` applied, keeping it checksum-valid.
fn forge_index(dir: &Path, edit: impl FnOnce(&mut SegmentIndex)) {
    let p = index_path(dir, 1);
    let mut idx = SegmentIndex::decode(&std::fs::read(&p).unwrap()).unwrap();
    edit(&mut idx);
    std::fs::write(&p, idx.encode()).unwrap();
}

fn count(m: &EventManager) -> usize {
    m.query(&Query::default()).unwrap().len()
}

#[test]
fn an_index_hiding_a_block_is_found_at_open_by_verify_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path(), 4);
    let total = count(&EventManager::open_read_only(dir.path()).unwrap());
    // Drop one block entry and make the totals agree: only the segment can tell.
    forge_index(dir.path(), |idx| {
        let e = idx.blocks.remove(1);
        idx.record_count -= u64::from(e.record_count.get());
        idx.per_type[2] -= u64::from(e.record_count.get());
    });
    let m = EventManager::open_read_only(dir.path()).unwrap();
    let mismatch: Vec<_> = m
        .open_report()
        .skipped
        .iter()
        .filter(|s| s.kind == SkipKind::IndexMismatch)
        .collect();
    assert_eq!(mismatch.len(), 1, "{:?}", m.open_report());
    assert!(mismatch[0].reason.contains("not listed"), "{mismatch:?}");
    assert_eq!(count(&m), total, "the reader scanned the segment instead");
    assert_eq!(m.stats().unwrap().events as usize, total);
    let v = m.verify().unwrap();
    assert!(!v.is_clean());
    assert!(v.skipped.iter().any(|s| s.kind == SkipKind::IndexMismatch));
    drop(m);
    let w = EventManager::open(dir.path(), common::small_config()).unwrap();
    assert!(w.open_report().indexes_rebuilt.contains(&1));
    drop(w);
    assert!(EventManager::open_read_only(dir.path())
        .unwrap()
        .verify()
        .unwrap()
        .is_clean());
}

#[test]
fn an_index_whose_content_disagrees_is_a_verify_finding() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path(), 4);
    // Every entry still names its block, but the type set of block 1 is wrong: a query by
    // type would skip it. Only reading the records shows it.
    forge_index(dir.path(), |idx| {
        idx.blocks[1].type_bits = 0.into();
    });
    let m = EventManager::open_read_only(dir.path()).unwrap();
    let v = m.verify().unwrap();
    assert!(!v.is_clean(), "{v:?}");
    let s = v
        .skipped
        .iter()
        .find(|s| s.kind == SkipKind::IndexMismatch)
        .expect("the mismatch is a finding");
    assert!(s.reason.contains("block entry 1"), "{s:?}");
}

#[test]
fn drop_totals_saturate_and_say_so() {
    use northstar_store::disk::BlockBuilder;
    use northstar_store::disk::SegmentHeader;
    use zerocopy::IntoBytes;
    let dir = tempfile::tempdir().unwrap();
    let mut seg = SegmentHeader::new(1, 1).as_bytes().to_vec();
    for _ in 0..3 {
        let mut b = BlockBuilder::new();
        seg.extend_from_slice(b.finish(u64::MAX / 2, 10));
    }
    std::fs::write(segment_path(dir.path(), 1), &seg).unwrap();
    let m = EventManager::open_read_only(dir.path()).unwrap();
    let s = m.stats().unwrap();
    assert_eq!(s.dropped, u64::MAX);
    assert!(s.dropped_saturated, "{s:?}");
}
