//! Decodes arbitrary bytes as a stream of records of every type: must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use northstar_core::record::records;

fuzz_target!(|data: &[u8]| {
    for item in records(data) {
        match item {
            Ok(view) => {
                if let Ok(event) = view.event() {
                    // Re-encoding a decoded event reproduces its payload byte for byte.
                    let mut buf = vec![0u8; event.encoded_len()];
                    let n = event.encode_into(&mut buf).expect("sized buffer");
                    assert_eq!(&buf[..n], view.payload);
                    event.for_each_session(|_| {});
                }
            }
            Err(_) => break,
        }
    }
    // Every event type's decoder on the raw bytes as a payload.
    for t in northstar_core::EventType::ALL {
        let _ = northstar_core::Event::decode(t, data);
    }
});
