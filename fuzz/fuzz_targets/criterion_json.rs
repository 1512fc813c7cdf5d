//! Feeds arbitrary bytes to the criterion readers (cargo-criterion JSON messages, and
//! benchmark/estimates/sample.json split at NUL bytes): they must never panic, and what they
//! accept holds only finite, non-negative times.
//! Seeds: fuzz/seeds/criterion_json/ (replayed on stable by
//! crates/northstar-cartridge/tests/fuzz_seeds.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    northstar_cartridge::criterion::fuzz_criterion_json(data);
});
