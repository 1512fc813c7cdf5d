//! Renders arbitrary text through the CLI's human-readable output (event summaries, tables, the
//! terminal escape, cutting) and JSON lines: no panic, no control character reaches a terminal,
//! cuts land on character boundaries, JSON keeps the exact text.
//! Seeds: fuzz/seeds/text_render/ (replayed on stable by crates/northstar-cli/tests/fuzz_seeds.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    northstar_cli::output::fuzz_render(data);
});
