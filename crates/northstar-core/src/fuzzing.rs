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
