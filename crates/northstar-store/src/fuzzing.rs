//! Entry points for the fuzz targets (`fuzz/fuzz_targets/`) and the stable replay test: each
//! must accept any bytes without panicking.

use crate::block::decode_block_in;
use crate::index::SegmentIndex;
use crate::scan::{scan_segment, ScanItem};

/// Reads `data` as a segment file: header, every block, every record and payload, and the
/// index built from it. Returns the number of good blocks (for the replay test to print).
pub fn segment_reader(data: &[u8]) -> usize {
    let Ok((header, scanner)) = scan_segment(data) else {
        return 0;
    };
    let mut blocks = 0;
    for item in scanner.clone() {
        match item {
            ScanItem::Block { offset, block } => {
                let view = block.view();
                blocks += 1;
                assert!(offset as usize + view.len() <= data.len());
                for r in view.records() {
                    let _ = r.event().map(|e| e.for_each_session(|_| {}));
                }
            }
            ScanItem::Damaged(d) => {
                assert!(d.len > 0 && (d.offset + d.len) as usize <= data.len());
            }
        }
    }
    let (index, _) = SegmentIndex::build(
        header.segment_id.get(),
        header.created_unix_ns.get(),
        data.len() as u64,
        scanner,
    );
    let encoded = index.encode();
    let back = SegmentIndex::decode(&encoded).expect("an encoded index decodes");
    assert_eq!(back.blocks, index.blocks);
    let _ = SegmentIndex::decode(data);
    blocks
}

/// Decodes `data` as one block and walks its records; also reads the sessions of its body
/// (after a block header's length) as the index does ([`stored_sessions`]). Returns the
/// record count.
pub fn block_decoder(data: &[u8]) -> usize {
    stored_sessions(
        data.get(crate::format::BLOCK_HEADER_LEN..)
            .unwrap_or_default(),
    );
    let mut expanded = Vec::new();
    match decode_block_in(data, &mut expanded) {
        Ok(view) => {
            let n = view.records().count();
            assert_eq!(n, view.header.record_count.get() as usize);
            n
        }
        Err(_) => 0,
    }
}

/// Reads `body` as a block body of interned records the way the index does
/// (`site_sessions::for_each_stored_session`, without expanding it) and checks it against
/// the expansion: whenever `body` expands and every expanded record decodes, the index's
/// reading succeeds and finds the same sessions in the same order. Returns how many it found.
pub fn stored_sessions(body: &[u8]) -> usize {
    use crate::site_sessions::{expanded_sessions, sessions_in_place};
    let read = sessions_in_place(body);
    if let Some(expanded) = expanded_sessions(body) {
        assert_eq!(
            read,
            Ok(expanded),
            "the index's walk reads what expands, and finds the expansion's sessions"
        );
    }
    read.map_or(0, |found| found.len())
}
