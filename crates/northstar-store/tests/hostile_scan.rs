//! Re-synchronising after damage is linear in the segment's size, whatever its bytes: a
//! crafted segment of overlapping fake block headers (each claiming megabytes) is scanned with
//! a bounded number of bytes examined, and the scanner finds exactly what the naive definition
//! ("the next offset where a whole block checks out") finds, on random damaged segments.

use northstar_core::events::AgentSessionEnded;
use northstar_core::record::{write_record, EventHeader, FRAMING_LEN};
use northstar_core::{EventType, Payload, Visibility};
use northstar_store::disk::{decode_block, BlockBuilder};
use northstar_store::disk::{scan_segment, BlockScanner, ScanItem};
use northstar_store::disk::{SegmentHeader, BLOCK_MAGIC, SEGMENT_HEADER_LEN};
use zerocopy::IntoBytes;

fn record(ts: u64, session: u64) -> Vec<u8> {
    let p = AgentSessionEnded {
        session_id: session,
    };
    let len = p.encoded_len();
    let mut buf = vec![0u8; FRAMING_LEN + len];
    let h = EventHeader::new(
        EventType::AgentSessionEnded,
        Visibility::Public,
        ts,
        1,
        0,
        len,
    );
    write_record(&mut buf, &h, |out| {
        p.encode_into(out).unwrap();
    });
    buf
}

fn block(first_ts: u64, n: usize) -> Vec<u8> {
    let mut b = BlockBuilder::new();
    for i in 0..n {
        let ts = first_ts + i as u64;
        b.push(&record(ts, i as u64), ts, i as u32).unwrap();
    }
    b.finish(0, first_ts).to_vec()
}

/// A fake block header at `at` claiming a body of `body_len` bytes, with a wrong checksum.
fn fake_header(out: &mut [u8], at: usize, body_len: u32) {
    out[at..at + 4].copy_from_slice(&BLOCK_MAGIC);
    out[at + 4..at + 8].copy_from_slice(&0xDEAD_BEEFu32.to_le_bytes());
    out[at + 8..at + 12].copy_from_slice(&body_len.to_le_bytes());
}

/// The definition the scanner must match: after damage, the next offset where a whole block
/// checks out (the quadratic algorithm the scanner replaced).
fn naive_scan(bytes: &[u8]) -> Vec<(bool, u64, u64)> {
    let mut out = Vec::new();
    let mut pos = SEGMENT_HEADER_LEN;
    while pos < bytes.len() {
        match decode_block(&bytes[pos..]) {
            Ok(v) => {
                out.push((true, pos as u64, v.len() as u64));
                pos += v.len();
            }
            Err(_) => {
                let mut next = bytes.len();
                let mut p = pos + 1;
                while p + 4 <= bytes.len() {
                    if bytes[p..p + 4] == BLOCK_MAGIC && decode_block(&bytes[p..]).is_ok() {
                        next = p;
                        break;
                    }
                    p += 1;
                }
                out.push((false, pos as u64, (next - pos) as u64));
                pos = next;
            }
        }
    }
    out
}

fn summary(scan: BlockScanner<'_>) -> Vec<(bool, u64, u64)> {
    scan.map(|item| match item {
        ScanItem::Block {
            offset,
            block: view,
        } => (true, offset, view.len() as u64),
        ScanItem::Damaged(d) => (false, d.offset, d.len),
    })
    .collect()
}

#[test]
fn a_segment_of_overlapping_fake_headers_is_scanned_in_linear_work() {
    const LEN: usize = 4 << 20; // 4 MiB of hostile bytes, as in the report
    let mut seg = SegmentHeader::new(7, 1).as_bytes().to_vec();
    let good_head = block(1_000, 3);
    seg.extend_from_slice(&good_head);
    let hostile_start = seg.len();
    seg.resize(hostile_start + LEN, 0);
    let good_tail = block(2_000, 5);
    let tail_at = seg.len();
    seg.extend_from_slice(&good_tail);
    let total = seg.len();
    // "NBLK NBLK len ..." every 16 bytes: two candidates per 16 bytes, each claiming a body
    // that runs (nearly) to the end of the file: 16 MiB max, 4 MiB here.
    let mut claimed: u64 = 0;
    let mut at = hostile_start;
    while at + 16 <= tail_at {
        fake_header(&mut seg, at, 0);
        fake_header(&mut seg, at + 4, 0);
        let body = (total - at - 48 - 64) as u32;
        seg[at + 8..at + 12].copy_from_slice(&body.to_le_bytes());
        seg[at + 12..at + 16].copy_from_slice(&body.to_le_bytes());
        claimed += 2 * u64::from(body);
        at += 16;
    }
    let (_, scan) = scan_segment(&seg).unwrap();
    let mut s = scan.clone();
    let items: Vec<_> = s.by_ref().collect();
    let work = s.work();
    // The good block before and after the hostile region are found; the region is one damage.
    assert!(
        matches!(items[0], ScanItem::Block { offset, .. } if offset == SEGMENT_HEADER_LEN as u64)
    );
    let damaged: Vec<_> = items
        .iter()
        .filter_map(|i| match i {
            ScanItem::Damaged(d) => Some(d),
            _ => None,
        })
        .collect();
    assert_eq!(damaged.len(), 1, "{damaged:?}");
    assert_eq!(damaged[0].offset, hostile_start as u64);
    assert_eq!(damaged[0].offset + damaged[0].len, tail_at as u64);
    assert!(
        matches!(items.last().unwrap(), ScanItem::Block { offset, .. } if *offset == tail_at as u64)
    );
    // Every candidate was looked at, yet the bytes examined stay a small multiple of the
    // segment's size (the naive resync checksums every claimed range: `claimed` bytes).
    assert!(work.candidates >= (LEN / 8) as u64, "{work:?}");
    assert!(
        work.bytes_examined <= 8 * total as u64,
        "{work:?} for {total} bytes (naive: {claimed} bytes)"
    );
    assert!(
        claimed > 1000 * total as u64,
        "the naive cost is quadratic here"
    );
    assert_eq!(work.over_budget, 0);
}

#[test]
fn forged_checksums_over_bad_records_are_bounded_too() {
    // Fake blocks whose checksums are valid (computed over their claimed ranges, last first,
    // as a forger would) but whose records are garbage: each one passes the checksum and
    // fails only when its records are walked. Decoding them is bounded by the budget.
    const N: usize = 2048;
    const STEP: usize = 64;
    let mut seg = SegmentHeader::new(3, 1).as_bytes().to_vec();
    seg.extend_from_slice(&[0xAB; 8]); // damage at the first block position
    let start = seg.len();
    seg.resize(start + N * STEP + (256 << 10), 0x55);
    let total = seg.len();
    for k in 0..N {
        let at = start + k * STEP;
        let body = (total - at - 48) as u32;
        fake_header(&mut seg, at, body);
        seg[at + 12..at + 16].copy_from_slice(&1u32.to_le_bytes()); // one record
    }
    for k in (0..N).rev() {
        let at = start + k * STEP;
        let crc = northstar_store::disk::CRC32C.checksum(&seg[at + 8..]);
        seg[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
    }
    let (_, mut scan) = scan_segment(&seg).unwrap();
    let items: Vec<_> = scan.by_ref().collect();
    let work = scan.work();
    assert!(items.iter().all(|i| matches!(i, ScanItem::Damaged(_))));
    assert!(
        work.bytes_examined <= 4 * total as u64 + (4 << 20),
        "{work:?} for {total} bytes"
    );
    assert!(work.over_budget > 0, "{work:?}");
}

fn rng(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn property_scanner_matches_the_naive_definition_on_random_damage() {
    let mut st = 0x9E37_79B9_7F4A_7C15u64;
    for case in 0..400 {
        let mut seg = SegmentHeader::new(1, 1).as_bytes().to_vec();
        let blocks = 1 + rng(&mut st) % 8;
        for b in 0..blocks {
            seg.extend_from_slice(&block(b * 100, (rng(&mut st) % 5) as usize));
        }
        for _ in 0..rng(&mut st) % 6 {
            let body = seg.len() - SEGMENT_HEADER_LEN;
            let at = SEGMENT_HEADER_LEN + (rng(&mut st) as usize % body);
            match rng(&mut st) % 4 {
                0 => seg[at] ^= 1 << (rng(&mut st) % 8),
                1 if at + 12 <= seg.len() => {
                    let claim = (rng(&mut st) % (seg.len() as u64)) as u32;
                    fake_header(&mut seg, at, claim);
                }
                2 => {
                    let n = (rng(&mut st) % 64) as usize;
                    let junk: Vec<u8> = (0..n).map(|_| rng(&mut st) as u8).collect();
                    seg.splice(at..at, junk);
                }
                _ => {
                    let n = (rng(&mut st) % 64) as usize;
                    let end = (at + n).min(seg.len());
                    seg.drain(at..end);
                }
            }
        }
        let (_, scan) = match scan_segment(&seg) {
            Ok(s) => s,
            Err(_) => continue,
        };
        assert_eq!(summary(scan), naive_scan(&seg), "case {case}");
    }
}
