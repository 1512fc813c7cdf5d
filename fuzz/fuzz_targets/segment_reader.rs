//! Reads arbitrary bytes as a segment file (header, blocks with resync, records, payloads,
//! index build and round trip): must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    northstar_store::fuzzing::segment_reader(data);
});
