//! User-defined events through the store: every block carries the definitions it uses, so
//! queries, stats, verify and compaction work on them like on the spec's events.

mod common;

use std::time::Duration;

use common::*;
use northstar_core::event;
use northstar_core::user::FieldValue;
use northstar_core::EventType;
use northstar_store::disk::{decode_block, BlockBuilder};
use northstar_store::disk::{SegmentHeader, SEGMENT_HEADER_LEN};
use northstar_store::interning::check_block;
use northstar_store::unix_now_ns;
use northstar_store::{EventManager, Query, StoreConfig};
use zerocopy::IntoBytes;

fn wal_sync(m: &EventManager, i: u64) {
    let file = format!("wal-{}.log", i % 3);
    event!(to = m.recorder(); "kv.wal_sync", bytes = 4096 * i, duration_ns = 1000 + i, file = file.as_str(), unit = static "bytes");
}

fn split(m: &EventManager, depth: u8) {
    event!(to = m.recorder(); "kv.btree_split", depth = depth);
}

#[test]
fn user_events_are_stored_queried_by_name_and_field_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let m = EventManager::open(dir.path(), small_config()).unwrap();
    for i in 0..2000u64 {
        wal_sync(&m, i);
        if i % 10 == 0 {
            split(&m, (i / 10 % 5) as u8);
        }
        if i % 100 == 0 {
            sample(&m, i as f64, &[1]);
        }
    }
    m.flush().unwrap();
    let all = m.query(&Query::default()).unwrap();
    assert_eq!(all.len(), 2000 + 200 + 20);
    let syncs = m
        .query(&Query {
            user_types: vec!["kv.wal_sync".into()],
            ..Query::default()
        })
        .unwrap();
    assert_eq!(syncs.len(), 2000);
    for (i, e) in syncs.iter().enumerate() {
        assert_eq!(e.type_name(), "kv.wal_sync");
        assert!(e.event().is_err(), "a user event is not a spec event");
        let i = i as u64;
        let file = format!("wal-{}.log", i % 3);
        assert_eq!(
            e.user_fields().unwrap(),
            vec![
                ("bytes", FieldValue::U64(4096 * i)),
                ("duration_ns", FieldValue::U64(1000 + i)),
                ("file", FieldValue::Str(&file)),
            ]
        );
        assert_eq!(e.user.as_ref().unwrap().consts(), vec![("unit", "bytes")]);
    }
    // By field value (runtime and constant fields), and the union with a spec type.
    let deep = m
        .query(&Query {
            user_types: vec!["kv.btree_split".into()],
            fields: vec![("depth".into(), "4".into())],
            ..Query::default()
        })
        .unwrap();
    assert_eq!(deep.len(), 40);
    let by_file = m
        .query(&Query {
            fields: vec![
                ("file".into(), "wal-1.log".into()),
                ("unit".into(), "bytes".into()),
            ],
            ..Query::default()
        })
        .unwrap();
    assert_eq!(by_file.len(), 667);
    let mixed = m
        .query(&Query {
            event_types: vec![EventType::PerfSample],
            user_types: vec!["kv.btree_split".into()],
            ..Query::default()
        })
        .unwrap();
    assert_eq!(mixed.len(), 220);
    // Spec-type queries never see user events.
    let perf = m
        .query(&Query {
            event_types: vec![EventType::PerfSample],
            ..Query::default()
        })
        .unwrap();
    assert_eq!(perf.len(), 20);
    // Definitions are not events: stats count events only, and verify finds it clean.
    let stats = m.stats().unwrap();
    assert_eq!(stats.events, 2220);
    let v = m.verify().unwrap();
    assert!(v.is_clean(), "{v:?}");
    assert_eq!(v.records, 2220);
    m.close().unwrap();
    // Several segments (small_config rolls at 64 KiB): every one decodes on its own.
    let segs = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "nss")
        })
        .count();
    assert!(segs > 1, "{segs} segments");
    // A read-only reader in a "new process" (no call sites of its own) reads them.
    let r = EventManager::open_read_only(dir.path()).unwrap();
    assert_eq!(
        r.query(&Query {
            user_types: vec!["kv.wal_sync".into()],
            ..Query::default()
        })
        .unwrap(),
        syncs
    );
}

#[test]
fn compaction_carries_the_definitions_into_rewritten_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        retention: Duration::from_secs(3600),
        segment_max_bytes: 16 << 20,
        ..small_config()
    };
    let retention_ns = 3600 * 1_000_000_000u64;
    let m = EventManager::open(dir.path(), config.clone()).unwrap();
    for i in 0..500 {
        wal_sync(&m, i);
    }
    m.flush().unwrap();
    std::thread::sleep(Duration::from_millis(3));
    let cut = store_now(&m);
    std::thread::sleep(Duration::from_millis(3));
    for i in 500..1000 {
        wal_sync(&m, i);
    }
    m.close().unwrap();
    let m = EventManager::open(dir.path(), config).unwrap();
    let before = m.query(&Query::default()).unwrap();
    let report = m.compact(cut + retention_ns).unwrap();
    assert!(!report.rewritten.is_empty(), "{report:?}");
    let after = m.query(&Query::default()).unwrap();
    assert!(after.len() >= 500 && after.len() < 1000, "{}", after.len());
    let kept: Vec<_> = before.into_iter().filter(|e| e.timestamp >= cut).collect();
    assert_eq!(
        after, kept,
        "kept user events decode with their schema after the rewrite"
    );
    assert!(m.verify().unwrap().is_clean());
    let _ = unix_now_ns();
}

fn user_record(id: u32, value: u64) -> Vec<u8> {
    use northstar_core::record::{write_record, EventHeader, FRAMING_LEN};
    let mut out = vec![0u8; FRAMING_LEN + 12];
    let h = EventHeader::with_type_byte(0xE0, northstar_core::Visibility::Public, 5, 0, 0, 12);
    write_record(&mut out, &h, |p| {
        p[..4].copy_from_slice(&id.to_le_bytes());
        p[4..].copy_from_slice(&value.to_le_bytes());
    });
    out
}

#[test]
fn a_user_record_without_its_definition_is_damage_for_verify_and_readers() {
    // A block whose CRC is fine but whose user record has no definition in it.
    let mut b = BlockBuilder::new();
    b.push(&user_record(77, 1), 5, 0).unwrap();
    let bytes = b.finish(0, 5).to_vec();
    let view = decode_block(&bytes).unwrap();
    let found = check_block(&view);
    assert_eq!(found.len(), 1);
    assert!(found[0].2.contains("no definition"), "{found:?}");

    // Written as a segment: verify reports it, query_report skips it with its reason.
    let dir = tempfile::tempdir().unwrap();
    let mut seg = SegmentHeader::new(1, 1).as_bytes().to_vec();
    assert_eq!(seg.len(), SEGMENT_HEADER_LEN);
    seg.extend_from_slice(&bytes);
    std::fs::write(dir.path().join("seg-0000000001.nss"), &seg).unwrap();
    let m = EventManager::open_read_only(dir.path()).unwrap();
    let v = m.verify().unwrap();
    assert_eq!(v.damaged.len(), 1, "{v:?}");
    assert!(v.damaged[0].reason.contains("schema 77"), "{v:?}");
    let out = m.query_report(&Query::default()).unwrap();
    assert!(out.events.is_empty());
    assert_eq!(out.damaged.len(), 1);
    assert!(
        m.query(&Query::default()).is_err(),
        "strict query names the damage"
    );
}
