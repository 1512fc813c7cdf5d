//! Decodes arbitrary bytes as a stream of records of every type: must never panic, and every
//! decoded event re-encodes to its exact bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| northstar_core::fuzzing::decode_record(data));
