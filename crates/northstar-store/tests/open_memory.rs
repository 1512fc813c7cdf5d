//! A read-only open (what `northstar export`, `query` and `stats` start with) keeps its
//! resident memory bounded, whatever the store's size: the pages of mapped segments it checks
//! are given back as the check passes them, and the last segment (which a writer may still
//! change) is read by blocks instead of being copied whole. The store-order cursor the
//! exporters use maps nothing. Measured in pages (`/proc/self/smaps`, `VmHWM` reset through
//! `/proc/self/clear_refs`), not time, so machine load does not change the outcome. One test
//! in this file: nothing else allocates in the process while it measures.
#![cfg(target_os = "linux")]

mod common;

use std::path::Path;

use northstar_store::{BlockCursor, CursorItem, EventManager, Position, Query, StoreReader};

const MIB: u64 = 1 << 20;

/// A `/proc/self/status` line's value in kB.
fn status_kb(key: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {key} in /proc/self/status"))
}

/// Resident bytes of this process's mappings of segment files (`*.nss`), and how many there are.
fn segment_maps() -> (u64, usize) {
    let s = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let (mut rss_kb, mut maps, mut in_seg) = (0u64, 0usize, false);
    for line in s.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            in_seg = line.trim_end().ends_with(".nss");
            maps += usize::from(in_seg);
        } else if in_seg {
            if let Some(v) = line.strip_prefix("Rss:") {
                rss_kb += v
                    .trim()
                    .trim_end_matches(" kB")
                    .trim()
                    .parse::<u64>()
                    .unwrap();
            }
        }
    }
    (rss_kb * 1024, maps)
}

/// Segment file sizes in id order.
fn segment_sizes(dir: &Path) -> Vec<u64> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".nss"))
        .map(|e| (e.file_name(), e.metadata().unwrap().len()))
        .collect();
    v.sort();
    v.into_iter().map(|(_, len)| len).collect()
}

#[test]
fn read_only_open_and_store_order_reads_stay_bounded() {
    let dir = tempfile::tempdir().unwrap();
    // Sealed segments of 3 MiB, at least 12 MiB of them, and a last segment of at least
    // 2 MiB: the old open held all of it resident (mapped pages it had checked, and a copy
    // of the last segment).
    let config = northstar_store::StoreConfig {
        segment_max_bytes: 3 * MIB,
        ..common::small_config()
    };
    let m = EventManager::open(dir.path(), config).unwrap();
    let mut v = 0.0;
    loop {
        let sizes = segment_sizes(dir.path());
        let sealed: u64 = sizes.iter().rev().skip(1).sum();
        if sealed >= 12 * MIB && sizes.last().is_some_and(|&l| l >= 2 * MIB) {
            break;
        }
        for _ in 0..5_000 {
            v += 1.0;
            common::sample(&m, v, &[7]);
        }
        m.flush().unwrap();
    }
    m.close().unwrap();
    let sizes = segment_sizes(dir.path());
    let last = *sizes.last().unwrap();
    let written = StoreReader::open(dir.path()).unwrap().stats().unwrap();

    // The open: peak and lasting growth of resident memory, and segment pages left mapped.
    std::fs::write("/proc/self/clear_refs", "5").unwrap(); // VmHWM := VmRSS
    let (rss0, anon0) = (status_kb("VmRSS") * 1024, status_kb("RssAnon") * 1024);
    let reader = StoreReader::open(dir.path()).unwrap();
    let peak = status_kb("VmHWM") * 1024 - rss0;
    let anon = (status_kb("RssAnon") * 1024).saturating_sub(anon0);
    let (mapped, maps) = segment_maps();
    let total: u64 = sizes.iter().sum();
    eprintln!(
        "{} segments, {total} bytes (last {last}); open: peak +{peak} bytes, anonymous +{anon}, \
         {maps} segment mappings with {mapped} bytes resident",
        sizes.len()
    );
    assert!(
        mapped <= MIB,
        "the open left {mapped} bytes of segment pages resident (store: {total} bytes)"
    );
    assert!(
        anon < last / 2,
        "the open holds {anon} more anonymous bytes: the last segment ({last} bytes) was copied"
    );
    assert!(
        peak < 5 * MIB,
        "the open's resident memory peaked {peak} bytes above where it started (store: {total})"
    );

    // The last segment, read by blocks, gives every event (the stats count them from the
    // indexes; the query reads and checks every block).
    let stats = reader.stats().unwrap();
    assert_eq!(stats.events, written.events);
    let n = reader.query(&Query::default()).unwrap().len() as u64;
    assert_eq!(n, written.events);
    drop(reader);

    // The exporters' path: one block at a time through `pread`, no segment ever mapped.
    let mut cursor = BlockCursor::new(dir.path(), Position::START).unwrap();
    let (mut blocks, mut records) = (0u64, 0u64);
    while let Some(item) = cursor.next_block().unwrap() {
        let CursorItem::Block(b) = item else {
            panic!("damage in a store written whole: {item:?}")
        };
        records += u64::from(b.view.header.record_count.get());
        blocks += 1;
        if blocks % 16 == 0 {
            assert_eq!(segment_maps(), (0, 0), "the cursor mapped a segment");
        }
    }
    assert_eq!(records, written.events);
    assert!(blocks > 16);

    // A writer's truncation of the last segment after the open is a typed error when the
    // reader gets there, never a fault (its blocks are read with `pread`, not mapped).
    let reader = StoreReader::open(dir.path()).unwrap();
    let last_path = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "nss"))
        .max()
        .unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&last_path)
        .unwrap()
        .set_len(last / 2)
        .unwrap();
    let err = reader.query(&Query::default()).unwrap_err();
    eprintln!("after truncating the last segment: {err}");
}
