//! `verify` on a store being written looks only at bytes the writer has published as whole
//! blocks: a block still being written (in the active segment, or in a segment the flusher has
//! just created) is not damage.

mod common;

use std::io::Write;

use northstar_core::Visibility;
use northstar_store::disk::segment_path;
use northstar_store::disk::SegmentHeader;
use northstar_store::EventManager;
use zerocopy::IntoBytes;

/// The first bytes of a block as a writer in the middle of its `write` call leaves them.
fn half_a_block() -> Vec<u8> {
    let mut b = b"NBLK".to_vec();
    b.extend_from_slice(&[0x5a; 30]);
    b
}

#[test]
fn verify_skips_what_the_writer_has_not_published() {
    let dir = tempfile::tempdir().unwrap();
    let m = EventManager::open(dir.path(), common::small_config()).unwrap();
    for i in 0..50 {
        common::operation(&m, 1, Visibility::Public, 1, i);
    }
    m.flush().unwrap();
    assert!(m.verify().unwrap().is_clean());
    // Segment 1 is active. A block being appended to it, past its committed length:
    let active = segment_path(dir.path(), 1);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&active)
        .unwrap();
    f.write_all(&half_a_block()).unwrap();
    // A segment the flusher has just created (header written, first block half written),
    // before the reader could know of it:
    let mut next = SegmentHeader::new(2, 1).as_bytes().to_vec();
    next.extend_from_slice(&half_a_block());
    std::fs::write(segment_path(dir.path(), 2), &next).unwrap();
    // And one created a moment earlier still, its header not even written:
    std::fs::write(segment_path(dir.path(), 3), b"NSTR").unwrap();

    let report = m.verify().unwrap();
    assert!(
        report.is_clean(),
        "unpublished bytes reported as damage: {:?} {:?}",
        report.damaged,
        report.skipped
    );
    assert_eq!(report.records, 50);
}
