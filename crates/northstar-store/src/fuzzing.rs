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

/// Decodes `data` as one block and walks its records. Returns the record count.
pub fn block_decoder(data: &[u8]) -> usize {
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
