//! Replays the committed fuzz corpus (`fuzz/seeds/<target>/`) through the same functions the
//! cargo-fuzz targets call, on stable. `cargo test -- --ignored generate_fuzz_seeds` rewrites
//! the seeds.

use std::path::PathBuf;

use northstar_core::events::{AgentOperation, PerfSample, ReviewNote};
use northstar_core::record::{write_record, EventHeader, FRAMING_LEN};
use northstar_core::{List, Payload, Visibility};
use northstar_store::disk::BlockBuilder;
use northstar_store::disk::{SegmentHeader, CRC32C, FORMAT_VERSION};
use northstar_store::fuzzing;
use zerocopy::IntoBytes;

fn seeds_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(target)
}

fn record<'a, P: Payload<'a>>(p: &P, ts: u64, actor: u64, seq: u32) -> Vec<u8> {
    let n = p.encoded_len();
    let mut out = vec![0u8; FRAMING_LEN + n];
    let h = EventHeader::new(P::EVENT_TYPE, Visibility::Team, ts, actor, seq, n);
    write_record(&mut out, &h, |buf| {
        p.encode_into(buf).unwrap();
    });
    out
}

fn block(first: u64, n: u64) -> Vec<u8> {
    let mut b = BlockBuilder::new();
    for i in first..first + n {
        let op = AgentOperation {
            session_id: 7,
            operation_type: "get",
            operation_id: i,
            target_type: "btree",
            target_id: "t",
            status: "ok",
            duration_ns: Some(5),
            metadata: List::EMPTY,
        };
        let s = [7u64, 8];
        let ps = PerfSample {
            metric_name: "m",
            dimensions: List::from(&[("k", "v")][..]),
            value: 1.5,
            unit: "ns",
            timestamp_window: northstar_core::events::TimeWindow { start: 1, end: 2 },
            correlation_hints: northstar_core::events::CorrelationHints {
                commit_range: None,
                session_ids: List::from(&s[..]),
            },
        };
        let note = ReviewNote {
            target_type: "commit",
            target_id: "abc",
            note_text: "ok",
            references: List::EMPTY,
            created_at: 3,
        };
        let r = match i % 3 {
            0 => record(&op, 1000 + i, 1, 0),
            1 => record(&ps, 1000 + i, 2, 0),
            _ => record(&note, 1000 + i, 3, 0),
        };
        b.push(&r, 1000 + i, i as u32).unwrap();
    }
    b.finish(3, 1000).to_vec()
}

/// A record of an interned block (`0xE4` definition, `0xE3` compact record).
fn sites_record(type_byte: u8, payload: &[u8], ts: u64, seq: u32) -> Vec<u8> {
    let h = EventHeader::with_type_byte(type_byte, Visibility::Team, ts, 2, seq, payload.len());
    let mut out = vec![0u8; FRAMING_LEN + payload.len()];
    write_record(&mut out, &h, |b| b.copy_from_slice(payload));
    out
}

/// `body` in a block with the sites flag, `records` events stamped 1000 onwards.
fn sites_block(body: Vec<u8>, records: u32) -> Vec<u8> {
    use northstar_store::disk::{BlockHeader, BLOCK_FLAG_SITES, BLOCK_MAGIC};
    use zerocopy::byteorder::little_endian::{U32, U64};
    let header = BlockHeader {
        magic: BLOCK_MAGIC,
        crc: U32::new(0),
        body_len: U32::new(body.len() as u32),
        record_count: U32::new(records),
        min_ts: U64::new(1000),
        max_ts: U64::new(1000 + u64::from(records) - 1),
        dropped: U64::new(0),
        first_seq: U32::new(0),
        flags: U32::new(BLOCK_FLAG_SITES),
    };
    let mut b = header.as_bytes().to_vec();
    b.extend(body);
    let crc = CRC32C.checksum(&b[8..]);
    b[4..8].copy_from_slice(&crc.to_le_bytes());
    b
}

/// A block as the flusher writes `perf_sample!` records with literal strings: flag bit 0, one
/// call-site definition (`0xE4`), then two compact records (`0xE3`); docs/FORMAT.md.
fn interned_block() -> Vec<u8> {
    // Site 5: literal name "get_latency_ns", literal unit "ns", one dimension whose key is
    // literal ("mode") and whose value is recorded per call.
    let mut def = 5u32.to_le_bytes().to_vec();
    def.push(0);
    for lit in ["get_latency_ns", "ns"] {
        def.push(1);
        def.extend_from_slice(&(lit.len() as u32).to_le_bytes());
        def.extend_from_slice(lit.as_bytes());
    }
    def.extend_from_slice(&1u32.to_le_bytes());
    def.extend_from_slice(&[1, 4, 0, 0, 0]);
    def.extend_from_slice(b"mode");
    def.push(0);
    let mut body = sites_record(0xE4, &def, 1000, 0);
    for (i, mode) in ["read", "write"].iter().enumerate() {
        let mut p = 5u32.to_le_bytes().to_vec();
        p.extend_from_slice(&(i as f64 + 0.5).to_le_bytes());
        p.extend_from_slice(&(mode.len() as u32).to_le_bytes());
        p.extend_from_slice(mode.as_bytes());
        body.extend(sites_record(0xE3, &p, 1000 + i as u64, i as u32));
    }
    sites_block(body, 2)
}

/// A block of two `operation!` compact records of sessions 77 and 78 (the index reads their
/// sessions without expanding them): site 6, operation type, target type and target id all
/// literal.
fn interned_operations_block() -> Vec<u8> {
    let mut def = 6u32.to_le_bytes().to_vec();
    def.push(1);
    for lit in ["get", "btree", "t1"] {
        def.push(1);
        def.extend_from_slice(&(lit.len() as u32).to_le_bytes());
        def.extend_from_slice(lit.as_bytes());
    }
    let mut body = sites_record(0xE4, &def, 1000, 0);
    for (i, session) in [77u64, 78].iter().enumerate() {
        let mut p = 6u32.to_le_bytes().to_vec();
        p.extend_from_slice(&session.to_le_bytes());
        p.extend_from_slice(&(i as u64 + 1).to_le_bytes()); // operation id
        p.extend_from_slice(&1500i64.to_le_bytes()); // duration, ns
        p.push(0); // status: success
        body.extend(sites_record(0xE3, &p, 1000 + i as u64, i as u32));
    }
    sites_block(body, 2)
}

fn segment() -> Vec<u8> {
    let mut s = SegmentHeader::new(3, 99).as_bytes().to_vec();
    s.extend(block(0, 4));
    s.extend(block(4, 3));
    s
}

/// The segment's header, 2 KiB of overlapping fake block headers (each claiming a long
/// body, with a wrong checksum), then the segment's real blocks: the re-synchronisation case.
fn fake_headers(seg: &[u8]) -> Vec<u8> {
    let mut out = seg[..32].to_vec();
    for _ in 0..128 {
        out.extend_from_slice(b"NBLKNBLK");
        out.extend_from_slice(&4000u32.to_le_bytes());
        out.extend_from_slice(&4000u32.to_le_bytes());
    }
    out.extend_from_slice(&seg[32..]);
    out
}

#[test]
#[ignore = "writes the committed seed files"]
fn generate_fuzz_seeds() {
    let seg = segment();
    let mut flipped = seg.clone();
    flipped[32 + 60] ^= 4;
    let mut future = SegmentHeader::new(1, 1);
    future.version = (FORMAT_VERSION + 1).into();
    future.crc = CRC32C.checksum(&future.as_bytes()[..28]).into();
    let segs: Vec<(&str, Vec<u8>)> = vec![
        ("valid", seg.clone()),
        ("flipped_bit", flipped),
        ("torn_tail", seg[..seg.len() - 17].to_vec()),
        ("header_only", seg[..32].to_vec()),
        ("truncated_header", seg[..20].to_vec()),
        ("future_version", future.as_bytes().to_vec()),
        ("foreign", b"PK\x03\x04 not ours".to_vec()),
        ("fake_headers", fake_headers(&seg)),
        ("interned", {
            let mut s = SegmentHeader::new(4, 99).as_bytes().to_vec();
            s.extend(interned_block());
            s.extend(block(0, 2));
            s
        }),
    ];
    let b = block(0, 3);
    let mut bad_crc = b.clone();
    bad_crc[50] ^= 1;
    let mut bad_count = b.clone();
    bad_count[12] = 9; // record_count, with a recomputed CRC: the records disagree
    let crc = CRC32C.checksum(&bad_count[8..]);
    bad_count[4..8].copy_from_slice(&crc.to_le_bytes());
    let blocks: Vec<(&str, Vec<u8>)> = vec![
        ("valid", b.clone()),
        ("bad_crc", bad_crc),
        ("bad_count", bad_count),
        ("truncated", b[..b.len() / 2].to_vec()),
        ("empty_block", BlockBuilder::new().finish(5, 7).to_vec()),
        ("interned", interned_block()),
        ("interned_operations", interned_operations_block()),
    ];
    for (target, seeds) in [("segment_reader", segs), ("block_decoder", blocks)] {
        let dir = seeds_dir(target);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in seeds {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}

fn replay(target: &str, f: fn(&[u8]) -> usize) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(seeds_dir(target)).unwrap() {
        let p = e.unwrap().path();
        let bytes = std::fs::read(&p).unwrap();
        out.push((
            p.file_name().unwrap().to_string_lossy().into_owned(),
            f(&bytes),
        ));
    }
    out.sort();
    out
}

#[test]
fn replay_segment_reader_seeds() {
    let r = replay("segment_reader", fuzzing::segment_reader);
    assert!(r.len() >= 5, "{r:?}");
    // The seeds are what their names say.
    let get = |n: &str| r.iter().find(|(k, _)| k == n).map(|(_, v)| *v);
    assert_eq!(get("valid"), Some(2));
    assert_eq!(get("flipped_bit"), Some(1));
    assert_eq!(get("torn_tail"), Some(1));
    assert_eq!(get("foreign"), Some(0));
    assert_eq!(get("fake_headers"), Some(2));
    assert_eq!(get("interned"), Some(2));
}

#[test]
fn replay_block_decoder_seeds() {
    let r = replay("block_decoder", fuzzing::block_decoder);
    assert!(r.len() >= 4, "{r:?}");
    let get = |n: &str| r.iter().find(|(k, _)| k == n).map(|(_, v)| *v);
    assert_eq!(get("valid"), Some(3));
    assert_eq!(get("bad_crc"), Some(0));
    assert_eq!(get("bad_count"), Some(0));
    assert_eq!(get("interned"), Some(2));
    assert_eq!(get("interned_operations"), Some(2));
    // The index's reading of their sessions (checked against the expansion inside).
    let body = |b: Vec<u8>| b[northstar_store::disk::BLOCK_HEADER_LEN..].to_vec();
    assert_eq!(fuzzing::stored_sessions(&body(interned_block())), 0);
    assert_eq!(
        fuzzing::stored_sessions(&body(interned_operations_block())),
        2
    );
}

#[test]
fn the_interned_seed_expands_to_the_standard_samples() {
    use northstar_core::events::Event;
    use northstar_store::disk::{decode_block, decode_block_in};
    let bytes = interned_block();
    // Without a buffer to expand into, the block is refused with a reason, never misread.
    let err = decode_block(&bytes).unwrap_err().to_string();
    assert!(err.contains("decode_block_in"), "{err}");
    let mut expanded = Vec::new();
    let view = decode_block_in(&bytes, &mut expanded).unwrap();
    assert!(view.is_expanded());
    assert_eq!(view.len(), bytes.len());
    let got: Vec<_> = view
        .records()
        .map(|r| match r.event().unwrap() {
            Event::PerfSample(p) => (
                p.metric_name.to_owned(),
                p.value,
                p.unit.to_owned(),
                p.dimensions
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>(),
            ),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "get_latency_ns".into(),
                0.5,
                "ns".into(),
                vec!["mode=read".to_string()]
            ),
            (
                "get_latency_ns".into(),
                1.5,
                "ns".into(),
                vec!["mode=write".to_string()]
            ),
        ]
    );
    // The committed seed is this block.
    let committed = std::fs::read(seeds_dir("block_decoder").join("interned")).unwrap();
    assert_eq!(committed, bytes);
}

#[test]
fn seed_builders_match_the_committed_seeds() {
    // The valid segment seed is what this build writes: the format did not drift silently.
    let committed = std::fs::read(seeds_dir("segment_reader").join("valid")).unwrap();
    assert_eq!(committed, segment());
}
