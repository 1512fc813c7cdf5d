//! Replays the committed seeds of the `interned` fuzz target on stable through the target's own
//! function, and (ignored) regenerates them from real interned ring records:
//! `cargo test -p northstar-core --test fuzz_seeds_interned -- --ignored`.
#![cfg(all(feature = "std", not(feature = "off")))]

use std::path::PathBuf;

use northstar_core::__private::interned::{Interned, OpArgs, PerfArgs, SiteMeta};
use northstar_core::fuzzing::{decode_interned, interned_sites};
use northstar_core::recorder::{Recorder, RecorderConfig};

fn seed_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/interned")
}

#[test]
fn committed_seeds_replay_cleanly() {
    let mut n = 0;
    for entry in std::fs::read_dir(seed_dir()).expect("seed directory exists") {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        decode_interned(&bytes);
        // Every truncation and every single-byte flip of a seed is handled too.
        for cut in 0..bytes.len() {
            decode_interned(&bytes[..cut]);
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x5a;
            decode_interned(&b);
        }
        n += 1;
    }
    assert!(n >= 3, "expected the committed seeds, found {n}");
}

/// Real ring records of the fuzz target's three sites.
fn records() -> Vec<Vec<u8>> {
    let r = Recorder::new(RecorderConfig {
        rings: 1,
        ring_bytes: 1 << 16,
        ..Default::default()
    })
    .unwrap();
    let sites = interned_sites();
    for (site, value) in sites[..2].iter().zip([812.0, 3.5]) {
        let SiteMeta::Perf(meta) = site.meta() else {
            unreachable!()
        };
        let args = PerfArgs {
            name: "latency",
            unit: "us",
            dims: [("benchmark", "btree_point_get"), ("mode", "read")],
        };
        let args1 = PerfArgs {
            name: "latency",
            unit: "us",
            dims: [("op", "get"), ("thread", "worker-1")],
        };
        if meta.dims[0].0.is_some() {
            r.record_perf(site, meta, &args, value).unwrap();
        } else {
            r.record_perf(site, meta, &args1, value).unwrap();
        }
    }
    let args = OpArgs {
        operation_type: "get",
        target_type: "btree",
        target_id: "user:42",
        failed: true,
    };
    let SiteMeta::Operation(op_meta) = sites[2].meta() else {
        unreachable!()
    };
    // Start 766, end 2000 ticks (1234 ticks), agent 7, session 100, op id 5.
    r.record_op(&sites[2], op_meta, 766, 2000, 7, 100, 5, &args)
        .unwrap();
    let mut out = Vec::new();
    r.drainer()
        .unwrap()
        .drain(usize::MAX, |_, b| out.push(b.to_vec()));
    out
}

#[test]
fn real_records_parse_and_expand() {
    let recs = records();
    assert_eq!(recs.len(), 3);
    for rec in &recs {
        let i = Interned::parse(rec).expect("a real record parses");
        let mut out = vec![0u8; i.record_len()];
        i.write_record(&mut out, |t| t).unwrap();
        decode_interned(rec);
    }
}

#[test]
#[ignore = "regenerates fuzz/seeds/interned"]
fn write_seeds() {
    let r = records();
    std::fs::create_dir_all(seed_dir()).unwrap();
    std::fs::write(seed_dir().join("perf_literal.bin"), &r[0]).unwrap();
    std::fs::write(seed_dir().join("perf_dynamic.bin"), &r[1]).unwrap();
    std::fs::write(seed_dir().join("operation.bin"), &r[2]).unwrap();
    std::fs::write(seed_dir().join("stream.bin"), r.concat()).unwrap();
}
