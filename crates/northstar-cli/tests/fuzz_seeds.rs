//! Replays the `record_json` fuzz target's seeds on stable, so every `cargo test` checks the
//! round-trip invariant the fuzzer checks.

use std::path::Path;

#[test]
fn record_json_seeds_round_trip() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/record_json");
    let mut files = 0;
    let mut accepted = 0;
    for entry in std::fs::read_dir(&dir).expect("seed directory exists") {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        northstar_cli::json::fuzz_round_trip(&data);
        files += 1;
        accepted += std::str::from_utf8(&data)
            .unwrap_or("")
            .lines()
            .filter(|l| northstar_cli::json::parse_line(l, 0, |_, _| ()).is_ok())
            .count();
    }
    assert!(
        files >= 7,
        "expected the committed seeds, found {files} files"
    );
    // The spec examples and the one-of-each-type file: 5 + 6 lines at least.
    assert!(accepted >= 11, "only {accepted} seed lines parsed");
}

/// Replays the `text_render` fuzz target's seeds: control characters, C1 and bidirectional
/// controls, invalid UTF-8 and multibyte text at the summary's cut, through every
/// human-readable renderer.
#[test]
fn text_render_seeds_hold_the_invariants() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/text_render");
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).expect("seed directory exists") {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        northstar_cli::output::fuzz_render(&data);
        // Every seed through every event type, whatever its first byte picked.
        for selector in 0..5u8 {
            let mut d = data.clone();
            match d.first_mut() {
                Some(b) => *b = selector,
                None => d.push(selector),
            }
            northstar_cli::output::fuzz_render(&d);
        }
        files += 1;
    }
    assert!(files >= 8, "expected the committed seeds, found {files}");
}
