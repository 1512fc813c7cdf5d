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
        let _ = view.header.event_type();
        if let Ok(event) = view.event() {
            let mut buf = vec![0u8; event.encoded_len()];
            let n = event
                .encode_into(&mut buf)
                .expect("a sized buffer always fits");
            assert_eq!(&buf[..n], view.payload, "re-encoding changed the payload");
            event.for_each_session(|_| {});
        }
    }
    for t in EventType::ALL {
        if let Ok(event) = Event::decode(t, data) {
            assert_eq!(
                event.encoded_len(),
                data.len(),
                "a decoded payload spans its bytes"
            );
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
                if let Ok(d) = user::decode_definition(view.payload) {
                    assert_eq!(d.fields.iter().count(), d.fields.len());
                    assert_eq!(d.consts.iter().count(), d.consts.len());
                    defs.push(d);
                }
            }
            RecordKind::User => {
                let Ok(id) = user::record_schema_id(view.payload) else {
                    continue;
                };
                for d in defs.iter().filter(|d| d.id == id) {
                    if user::check_values(d, view.payload).is_ok() {
                        assert_eq!(
                            user::values(d, view.payload).count(),
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
