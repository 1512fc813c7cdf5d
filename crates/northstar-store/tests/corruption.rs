//! Corruption: random bit flips in segment files are always detected by `verify`, and queries
//! return exactly the events outside the damaged block, byte for byte, with the damage
//! reported (`query_report`) or as an error (`query`), never silently.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use northstar_core::Visibility;
use northstar_store::disk::SEGMENT_HEADER_LEN;
use northstar_store::disk::{scan_segment, ScanItem};
use northstar_store::{EventManager, Query, StoredEvent};

fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() && p.file_name().unwrap() != "LOCK" {
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "nss"))
        .collect();
    v.sort();
    v
}

/// Event ids stored in the block (or header) that contains byte `at` of segment `bytes`.
fn ids_lost_by_flip(bytes: &[u8], at: usize, all_in_segment: &[u64]) -> Vec<u64> {
    if at < SEGMENT_HEADER_LEN {
        return all_in_segment.to_vec(); // the whole segment is skipped
    }
    let (h, scan) = scan_segment(bytes).unwrap();
    let seg = u64::from(h.segment_id.get());
    for item in scan {
        if let ScanItem::Block {
            offset,
            block: view,
        } = item
        {
            let off = offset as usize;
            if (off..off + view.len()).contains(&at) {
                return view
                    .records()
                    .map(|r| (seg << 32) | u64::from(r.header().event_seq.get()))
                    .collect();
            }
        }
    }
    panic!("offset {at} is in no block of a clean segment");
}

#[test]
fn random_bit_flips_are_detected_and_undamaged_events_survive() {
    let base = tempfile::tempdir().unwrap();
    let m = EventManager::open(base.path(), common::small_config()).unwrap();
    for round in 0..6u64 {
        for i in 0..300 {
            common::operation(&m, round, Visibility::Public, round, i);
            if i % 3 == 0 {
                common::sample(&m, i as f64, &[round]);
            }
        }
        m.flush().unwrap();
    }
    m.close().unwrap();
    let clean = EventManager::open_read_only(base.path()).unwrap();
    assert!(clean.verify().unwrap().is_clean());
    let originals: BTreeMap<u64, StoredEvent> = clean
        .query(&Query::default())
        .unwrap()
        .into_iter()
        .map(|e| (e.event_id, e))
        .collect();
    assert_eq!(originals.len(), 6 * 400);
    let segs = segments(base.path());
    assert!(segs.len() >= 3);

    let mut rng = fastrand::Rng::with_seed(0xc0ffee);
    for trial in 0..200 {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(base.path(), dir.path());
        let seg = &segs[rng.usize(..segs.len())];
        let path = dir.path().join(seg.file_name().unwrap());
        let mut bytes = std::fs::read(&path).unwrap();
        let seg_id = u64::from(scan_segment(&bytes).unwrap().0.segment_id.get());
        let in_segment: Vec<u64> = originals
            .keys()
            .copied()
            .filter(|id| id >> 32 == seg_id)
            .collect();
        // One to three flipped bits within one block (or the header).
        let at = rng.usize(..bytes.len());
        let lost = ids_lost_by_flip(&bytes, at, &in_segment);
        bytes[at] ^= 1 << rng.u8(..8);
        for _ in 0..rng.usize(0..3) {
            let near = (at + rng.usize(0..16)).min(bytes.len() - 1);
            if ids_lost_by_flip(&std::fs::read(&path).unwrap(), near, &in_segment) == lost {
                bytes[near] ^= 1 << rng.u8(..8);
            }
        }
        std::fs::write(&path, &bytes).unwrap();

        let store = EventManager::open_read_only(dir.path()).unwrap();
        let report = store.verify().unwrap();
        assert!(
            !report.is_clean(),
            "trial {trial}: flip at {at} of {} not detected",
            path.display()
        );
        let out = store.query_report(&Query::default()).unwrap();
        // The lost events are accounted for: a damaged block the query skipped, or damage
        // (or an unusable header) found when opening.
        let opened = store.open_report();
        assert!(
            !out.damaged.is_empty() || !opened.damaged.is_empty() || !opened.skipped.is_empty(),
            "trial {trial}: flip at {at} lost events without a report"
        );
        // The strict query fails exactly when the query met damage.
        assert_eq!(
            store.query(&Query::default()).is_err(),
            !out.damaged.is_empty(),
            "trial {trial}"
        );
        let got: BTreeMap<u64, StoredEvent> =
            out.events.into_iter().map(|e| (e.event_id, e)).collect();
        let mut expected = originals.clone();
        for id in &lost {
            expected.remove(id);
        }
        assert_eq!(got.len(), expected.len(), "trial {trial}: flip at {at}");
        assert!(
            got == expected,
            "trial {trial}: returned events differ from the undamaged originals"
        );

        // A writable open also recovers and keeps every undamaged event.
        let w = EventManager::open(dir.path(), common::small_config()).unwrap();
        let again: BTreeMap<u64, StoredEvent> = w
            .query_report(&Query::default())
            .unwrap()
            .events
            .into_iter()
            .map(|e| (e.event_id, e))
            .collect();
        assert!(
            again == expected,
            "trial {trial}: writable open lost undamaged events"
        );
    }
}
