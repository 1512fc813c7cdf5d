//! Entry points shared by the cargo-fuzz targets (`fuzz/fuzz_targets/`) and the stable tests
//! that replay the committed seeds (`fuzz/seeds/`), so both run the same code.

use std::vec;

use crate::record::records;
use crate::{Event, EventType};

/// Decodes `data` as a stream of records, then each event type's payload decoder on the raw
/// bytes. Panics only on a broken invariant: a decoded event that does not re-encode to the
/// bytes it came from.
pub fn decode_record(data: &[u8]) {
    for item in records(data) {
        let Ok(view) = item else { break };
        let _ = view.header().event_type();
        if let Ok(event) = view.event() {
            let mut buf = vec![0u8; event.encoded_len()];
            let n = event
                .encode_into(&mut buf)
                .expect("a sized buffer always fits");
            assert_eq!(&buf[..n], view.payload(), "re-encoding changed the payload");
            event.for_each_session(|_| {});
        }
    }
    for t in EventType::ALL {
        // The index's walk (only the fields that can hold sessions decoded) never panics, and
        // wherever the payload decodes, it finds the same sessions in the same order.
        let mut walked = std::vec::Vec::new();
        let walk = t.for_each_session_in(data, |s| walked.push(s));
        if let Ok(event) = Event::decode(t, data) {
            assert_eq!(
                event.encoded_len(),
                data.len(),
                "a decoded payload spans its bytes"
            );
            let mut decoded = std::vec::Vec::new();
            event.for_each_session(|s| decoded.push(s));
            assert!(
                walk.is_ok(),
                "the session walk refused a payload that decodes"
            );
            assert_eq!(walked, decoded, "the session walk found other sessions");
        }
    }
}

/// Decodes `data` as a stream of records holding user-event definitions (`0xE1`) and user
/// events (`0xE0`), as a stored block does: every definition is decoded, every user record
/// resolved among the stream's definitions and checked against its field types. Must never
/// panic. Invariants: a definition that decodes lists exactly its field count, and a user
/// record that passes `check_values` yields exactly one value per field.
#[cfg(northstar_cas)]
pub fn decode_user_events(data: &[u8]) {
    use crate::record::RecordKind;
    use crate::user;
    let mut defs = vec::Vec::new();
    for item in records(data) {
        let Ok(view) = item else { break };
        match view.kind() {
            RecordKind::Definition => {
                if let Ok(d) = user::decode_definition(view.payload()) {
                    assert_eq!(d.fields.iter().count(), d.fields.len());
                    assert_eq!(d.consts.iter().count(), d.consts.len());
                    defs.push(d);
                }
            }
            RecordKind::User => {
                let Ok(id) = user::record_schema_id(view.payload()) else {
                    continue;
                };
                for d in defs.iter().filter(|d| d.id == id) {
                    if user::check_values(d, view.payload()).is_ok() {
                        assert_eq!(
                            user::values(d, view.payload()).count(),
                            d.fields.len(),
                            "a checked record yields one value per field"
                        );
                    }
                }
            }
            RecordKind::Spec(_) => {}
        }
    }
    // The raw bytes as one definition payload and as one user payload against each.
    if let Ok(d) = user::decode_definition(data) {
        let _ = user::check_values(&d, data);
        let _ = user::values(&d, data).count();
    }
}

#[cfg(all(northstar_cas, not(loom)))]
mod interned_sites {
    use crate::interned::{OpMeta, PerfMeta, Site};

    pub(super) static PERF_LITERAL: PerfMeta = PerfMeta {
        name: Some("get_latency_ns"),
        unit: Some("ns"),
        dims: &[
            (Some("benchmark"), Some("btree_point_get")),
            (Some("mode"), Some("read")),
        ],
    };
    pub(super) static PERF_DYNAMIC: PerfMeta = PerfMeta {
        name: None,
        unit: None,
        dims: &[(None, None), (Some("thread"), None)],
    };
    pub(super) static OP_MIXED: OpMeta = OpMeta {
        operation_type: Some("get"),
        target_type: None,
        target_id: None,
    };
    pub(super) static SITES: [Site; 3] = [
        Site::perf(&PERF_LITERAL),
        Site::perf(&PERF_DYNAMIC),
        Site::op(&OP_MIXED),
    ];
}

/// The interned call sites the `interned` fuzz target decodes against (registered on first
/// use): a perf_sample with only literals, one with run-time strings, an operation with both.
#[cfg(all(northstar_cas, not(loom)))]
pub fn interned_sites() -> &'static [crate::interned::Site] {
    &interned_sites::SITES
}

/// Decodes `data` as a stream of interned ring records (`crate::interned`), each as it is and
/// with its site id replaced by one of `interned_sites()`' ids (its value modulo 3), and
/// expands every one that parses. Must never panic. Invariant: a record that parses expands
/// into exactly `record_len()` bytes forming a standard record whose payload decodes as its
/// event type (or fails on a run-time string that is not UTF-8, checked at decoding) and
/// re-encodes to the same bytes.
#[cfg(all(northstar_cas, not(loom)))]
pub fn decode_interned(data: &[u8]) {
    use crate::interned::Interned;
    use crate::record::{decode_record, HEADER_LEN};
    use zerocopy::FromBytes;
    let sites = interned_sites();
    let ids: vec::Vec<u32> = sites.iter().filter_map(|s| s.id()).collect();
    let mut rest = data;
    while rest.len() >= HEADER_LEN {
        let len = crate::record::EventHeader::ref_from_prefix(rest)
            .map(|(h, _)| h.record_len())
            .unwrap_or(usize::MAX)
            .clamp(HEADER_LEN, rest.len());
        let (rec, tail) = rest.split_at(len);
        rest = tail;
        let mut patched = rec.to_vec();
        if patched.len() >= HEADER_LEN + 4 && !ids.is_empty() {
            let raw = u32::from_le_bytes(patched[HEADER_LEN..HEADER_LEN + 4].try_into().unwrap());
            let id = ids[raw as usize % ids.len()];
            patched[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&id.to_le_bytes());
        }
        for candidate in [rec, &patched[..]] {
            let Ok(i) = Interned::parse(candidate) else {
                continue;
            };
            let mut out = vec![0u8; i.record_len()];
            // Any conversion: the bytes of the duration do not change the record's shape.
            let n = i
                .write_record(&mut out, |t| t / 3)
                .expect("a parsed record expands");
            assert_eq!(n, out.len(), "expansion fills record_len() bytes");
            let view = decode_record(&out).expect("the expansion is a standard record");
            assert_eq!(view.event_type(), Some(i.event_type()));
            let event = match view.event() {
                Ok(e) => e,
                // A run-time string's UTF-8 is checked when the standard payload is decoded,
                // not while expanding (`interned::expand_payload`): the one failure allowed.
                Err(crate::codec::DecodeError::InvalidUtf8 { .. }) => continue,
                Err(e) => panic!("the expanded payload decodes: {e}"),
            };
            let mut again = vec![0u8; event.encoded_len()];
            let m = event.encode_into(&mut again).expect("sized buffer");
            assert_eq!(
                &again[..m],
                view.payload(),
                "the expanded payload is canonical"
            );
        }
    }
}
