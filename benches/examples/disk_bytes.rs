//! Bytes on disk per event type in a store, as stored and as the standard records readers
//! expand them to (interned `perf_sample!`/`operation!` records, docs/FORMAT.md), e.g.
//! `cargo run --release -p northstar-benches --example disk_bytes -- /tmp/demo-store`.
//! Record bytes include the 32 bytes of header and trailer; call-site definitions are counted
//! on their own line.
use std::collections::BTreeMap;

use northstar_core::record::{EventHeader, RecordKind};
use northstar_store::disk::{scan_segment, segment_path, ScanItem};
use zerocopy::FromBytes;

#[derive(Default)]
struct Tally {
    records: u64,
    stored: u64,
    expanded: u64,
}

fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).expect("a store directory"));
    let mut by_type: BTreeMap<String, Tally> = BTreeMap::new();
    let mut definitions = Tally::default();
    let mut ids: Vec<u32> = std::fs::read_dir(&dir)
        .expect("store directory")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_prefix("seg-")?
                .strip_suffix(".nss")?
                .parse()
                .ok()
        })
        .collect();
    ids.sort_unstable();
    for id in ids {
        let bytes = std::fs::read(segment_path(&dir, id)).expect("segment");
        let (_, scan) = scan_segment(&bytes).expect("segment header");
        for item in scan {
            let ScanItem::Block { offset, block } = item else {
                continue;
            };
            let view = block.view();
            // Stored records, walked by their headers (compact records are not standard ones).
            let start = offset as usize + northstar_store::disk::BLOCK_HEADER_LEN;
            let body = &bytes[start..start + view.header.body_len.get() as usize];
            let mut stored: Vec<u64> = Vec::new();
            let mut at = 0;
            while at < body.len() {
                let (h, _) = EventHeader::ref_from_prefix(&body[at..]).expect("header");
                let len = h.record_len();
                match h.type_byte() {
                    0xE1 | 0xE4 => {
                        definitions.records += 1;
                        definitions.stored += len as u64;
                    }
                    _ => stored.push(len as u64),
                }
                at += len;
            }
            let events = view
                .records()
                .filter(|r| r.kind() != RecordKind::Definition);
            for (r, stored_len) in events.zip(stored) {
                let name = match r.kind() {
                    RecordKind::Spec(t) => t.name().to_string(),
                    _ => "user events".to_string(),
                };
                let t = by_type.entry(name).or_default();
                t.records += 1;
                t.stored += stored_len;
                t.expanded += r.bytes().len() as u64;
            }
        }
    }
    println!(
        "{:<24} {:>10} {:>14} {:>12} {:>16} {:>12}",
        "type", "records", "stored bytes", "per record", "standard bytes", "per record"
    );
    for (name, t) in &by_type {
        println!(
            "{:<24} {:>10} {:>14} {:>12.1} {:>16} {:>12.1}",
            name,
            t.records,
            t.stored,
            t.stored as f64 / t.records as f64,
            t.expanded,
            t.expanded as f64 / t.records as f64
        );
    }
    println!(
        "{:<24} {:>10} {:>14}",
        "definitions", definitions.records, definitions.stored
    );
}
