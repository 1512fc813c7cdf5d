//! Feeds arbitrary bytes to `northstar record`'s JSON reader: it must never panic, and every
//! line it accepts must survive JSON -> Event -> bytes -> Event -> JSON unchanged.
//! Seeds: fuzz/seeds/record_json/ (replayed on stable by crates/northstar-cli/tests/fuzz_seeds.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    northstar_cli::json::fuzz_round_trip(data);
});
