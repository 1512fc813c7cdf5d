//! User-defined events: recorded by `event!`, decoded from the ring with their interned schema.
#![cfg(all(feature = "std", not(feature = "off")))]

use northstar_core::event;
use northstar_core::record::{records, RecordKind};
use northstar_core::recorder::{Recorder, RecorderConfig};
use northstar_core::user::{self, FieldValue};

fn small() -> Recorder {
    Recorder::new(RecorderConfig {
        rings: 2,
        ring_bytes: 1 << 16,
        ..Default::default()
    })
    .unwrap()
}

fn drain(r: &Recorder) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    r.drainer()
        .unwrap()
        .drain(usize::MAX, |_, rec| out.push(rec.to_vec()));
    out
}

#[test]
fn typed_fields_round_trip_through_the_ring_with_their_schema() {
    let r = small();
    let file = String::from("wal-0001.log");
    for i in 0..3u64 {
        event!(to = &r; "kv.wal_sync", bytes = 4096 * i, duration = std::time::Duration::from_nanos(1500), ratio = 0.5f64, file = file.as_str(), ok = true, depth = Some(-3i32), tag = &b"\x01\x02"[..], unit = static "bytes");
    }
    let recs = drain(&r);
    assert_eq!(recs.len(), 3);
    let mut ids = Vec::new();
    for (i, bytes) in recs.iter().enumerate() {
        let view = records(bytes).next().unwrap().unwrap();
        assert_eq!(view.kind(), RecordKind::User);
        let id = user::record_schema_id(view.payload()).unwrap();
        ids.push(id);
        let schema = user::lookup(id).expect("registered");
        assert_eq!(schema.meta().name, "kv.wal_sync");
        let mut buf = [0u8; 512];
        let def = user::definition_of(&schema, &mut buf).unwrap();
        user::check_values(&def, view.payload()).unwrap();
        let vals: Vec<_> = user::values(&def, view.payload()).collect();
        assert_eq!(
            vals,
            vec![
                ("bytes", FieldValue::U64(4096 * i as u64)),
                ("duration", FieldValue::DurationNs(1500)),
                ("ratio", FieldValue::F64(0.5)),
                ("file", FieldValue::Str("wal-0001.log")),
                ("ok", FieldValue::Bool(true)),
                ("depth", FieldValue::I64(-3)),
                ("tag", FieldValue::Bytes(&[1, 2])),
            ]
        );
        assert_eq!(
            def.consts.iter().collect::<Vec<_>>(),
            vec![("unit", "bytes")]
        );
        // Only the id and the values are in the record: 4 + 8 + 8 + 8 + (4 + 12) + 1 + (1 + 4) + (4 + 2).
        assert_eq!(view.payload().len(), 4 + 8 + 8 + 8 + 16 + 1 + 5 + 6);
    }
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "one id per call site");
}

#[test]
fn optional_absent_and_two_call_sites_get_two_ids() {
    let r = small();
    let none: Option<u64> = None;
    event!(to = &r; "t.a", x = none);
    event!(to = &r; "t.b", x = 1u8);
    let recs = drain(&r);
    let ids: Vec<u32> = recs
        .iter()
        .map(|b| user::record_schema_id(records(b).next().unwrap().unwrap().payload()).unwrap())
        .collect();
    assert_ne!(ids[0], ids[1]);
    let a = user::lookup(ids[0]).unwrap();
    assert_eq!(a.types, &[user::FieldType::U64 as u8 | user::OPTIONAL]);
    let mut buf = [0u8; 128];
    let def = user::definition_of(&a, &mut buf).unwrap();
    let payload = records(&recs[0]).next().unwrap().unwrap().payload();
    assert_eq!(
        user::values(&def, payload).collect::<Vec<_>>(),
        vec![("x", FieldValue::None)]
    );
}

#[test]
fn a_call_site_in_a_generic_function_keeps_each_instantiation_s_types() {
    fn site<T: user::Value>(r: &Recorder, v: T) {
        event!(to = r; "t.generic", v = v);
    }
    let r = small();
    site(&r, 1u64);
    site(&r, "text");
    site(&r, 2u64);
    let recs = drain(&r);
    let mut seen = Vec::new();
    for b in &recs {
        let p = records(b).next().unwrap().unwrap().payload();
        let s = user::lookup(user::record_schema_id(p).unwrap()).unwrap();
        let mut buf = [0u8; 128];
        let def = user::definition_of(&s, &mut buf).unwrap();
        user::check_values(&def, p).expect("each record matches its own schema");
        seen.push(format!("{:?}", user::values(&def, p).next().unwrap().1));
    }
    assert_eq!(seen, vec!["U64(1)", "Str(\"text\")", "U64(2)"]);
}

#[test]
fn first_calls_racing_on_one_call_site_all_record_decodably() {
    let r = small();
    let barrier = std::sync::Barrier::new(2);
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let (r, barrier) = (&r, &barrier);
            s.spawn(move || {
                barrier.wait();
                event!(to = r; "t.race", t = t);
            });
        }
    });
    let recs = drain(&r);
    assert_eq!(recs.len(), 2);
    for b in &recs {
        let p = records(b).next().unwrap().unwrap().payload();
        let s = user::lookup(user::record_schema_id(p).unwrap()).expect("id visible to the reader");
        assert_eq!(s.meta().name, "t.race");
    }
}

#[test]
fn definitions_decode_and_reject_bad_bytes_without_panicking() {
    let r = small();
    event!(to = &r; "t.d", a = 1u64, b = "x", unit = static "ns");
    let recs = drain(&r);
    let p = records(&recs[0]).next().unwrap().unwrap().payload();
    let s = user::lookup(user::record_schema_id(p).unwrap()).unwrap();
    let mut buf = [0u8; 256];
    let n = user::encode_definition(&s, &mut buf).unwrap();
    assert_eq!(n, user::definition_len(&s));
    let def = user::decode_definition(&buf[..n]).unwrap();
    assert_eq!(def.name, "t.d");
    assert_eq!(
        def.fields.iter().collect::<Vec<_>>(),
        vec![("a", 4), ("b", 13)]
    );
    // Every truncation and every single-byte corruption is an error or a valid definition.
    for cut in 0..n {
        assert!(user::decode_definition(&buf[..cut]).is_err());
    }
    for i in 0..n {
        let mut bad = buf;
        bad[i] ^= 0xff;
        let _ = user::decode_definition(&bad[..n]);
    }
    // A record that does not match its schema is an error.
    let mut wrong = p.to_vec();
    wrong.pop();
    assert!(user::check_values(&def, &wrong).is_err());
}
