//! Replays the committed seeds of the `criterion_json` fuzz target on stable, through the same
//! function the target calls.

use std::path::Path;

#[test]
fn criterion_json_seeds_replay_without_panics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/criterion_json");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        northstar_cartridge::criterion::fuzz_criterion_json(&std::fs::read(&path).unwrap());
        n += 1;
    }
    assert!(n >= 5, "expected the committed seeds in {}", dir.display());
    // The real directory seed really parses (the replay exercises the accepting path too).
    let seed = std::fs::read(dir.join("dir_sum_1k.bin")).unwrap();
    let mut parts = seed.split(|&b| b == 0);
    let (b, e, s) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let bench =
        northstar_cartridge::criterion::parse_benchmark_files(Path::new("seed/new"), b, e, s)
            .unwrap();
    assert_eq!(bench.id, "sum_1k");
}
