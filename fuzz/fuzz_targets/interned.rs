//! Decodes arbitrary bytes as interned `perf_sample!`/`operation!` ring records and expands
//! every one that parses into its standard record: must never panic, and every expansion must
//! be a canonical standard record.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| northstar_core::fuzzing::decode_interned(data));
