//! Decodes arbitrary bytes as one checksummed block and walks its records: must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    northstar_store::fuzzing::block_decoder(data);
});
