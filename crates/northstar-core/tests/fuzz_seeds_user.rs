//! Replays the committed seeds of the `user_events` fuzz target on stable through the target's
//! own function, and (ignored) regenerates them from real recorded records:
//! `cargo test -p northstar-core --test fuzz_seeds_user -- --ignored`.
#![cfg(all(feature = "std", not(feature = "off")))]

use std::path::PathBuf;

use northstar_core::event;
use northstar_core::record::{records, write_record, EventHeader, FRAMING_LEN};
use northstar_core::recorder::{Recorder, RecorderConfig};
use northstar_core::user;
use northstar_core::Visibility;

fn seed_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/user_events")
}

#[test]
fn committed_seeds_replay_cleanly() {
    let mut n = 0;
    for entry in std::fs::read_dir(seed_dir()).expect("seed directory exists") {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        northstar_core::fuzzing::decode_user_events(&bytes);
        // Every truncation and every single-byte flip of a seed is handled too.
        for cut in 0..bytes.len() {
            northstar_core::fuzzing::decode_user_events(&bytes[..cut]);
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x5a;
            northstar_core::fuzzing::decode_user_events(&b);
        }
        n += 1;
    }
    assert!(n >= 3, "expected the committed seeds, found {n}");
}

/// A stream as a block stores it: each schema's definition, then its records.
fn stream() -> Vec<Vec<u8>> {
    let r = Recorder::new(RecorderConfig {
        rings: 1,
        ring_bytes: 1 << 16,
        ..Default::default()
    })
    .unwrap();
    event!(to = &r; "kv.wal_sync", bytes = 4096u64, duration = std::time::Duration::from_micros(3), file = "wal.log", unit = static "bytes");
    event!(to = &r; "kv.split", depth = 3u8, ratio = 0.25f32, ok = true, key = Some(&b"k1"[..]), none = None::<i64>, neg = -5i16);
    let mut recs = Vec::new();
    r.drainer()
        .unwrap()
        .drain(usize::MAX, |_, b| recs.push(b.to_vec()));
    let mut out = Vec::new();
    for rec in recs {
        let view = records(&rec).next().unwrap().unwrap();
        let s = user::lookup(user::record_schema_id(view.payload()).unwrap()).unwrap();
        let mut payload = vec![0u8; user::definition_len(&s)];
        user::encode_definition(&s, &mut payload).unwrap();
        let h = EventHeader::with_type_byte(0xE1, Visibility::Public, 1, 0, 0, payload.len());
        let mut def = vec![0u8; FRAMING_LEN + payload.len()];
        write_record(&mut def, &h, |d| d.copy_from_slice(&payload));
        out.push(def);
        out.push(rec);
    }
    out
}

#[test]
#[ignore = "regenerates fuzz/seeds/user_events"]
fn write_seeds() {
    let s = stream();
    std::fs::create_dir_all(seed_dir()).unwrap();
    std::fs::write(seed_dir().join("stream.bin"), s.concat()).unwrap();
    std::fs::write(
        seed_dir().join("wal_sync_def_and_record.bin"),
        [s[0].clone(), s[1].clone()].concat(),
    )
    .unwrap();
    std::fs::write(
        seed_dir().join("split_def_and_record.bin"),
        [s[2].clone(), s[3].clone()].concat(),
    )
    .unwrap();
    std::fs::write(
        seed_dir().join("record_without_definition.bin"),
        s[1].clone(),
    )
    .unwrap();
    std::fs::write(
        seed_dir().join("definition_payload.bin"),
        &s[0][24..s[0].len() - 8],
    )
    .unwrap();
}
