//! Helpers shared by the CLI's integration tests: running the real `northstar` binary and
//! feeding it JSON lines. Each test crate uses some of them.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `northstar` binary built for these tests.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_northstar"))
}

/// Runs `northstar` with `args` and returns what it did.
pub fn northstar(args: &[&str]) -> Output {
    bin().args(args).output().expect("the binary runs")
}

/// Bytes as text (lossy).
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `northstar` and asserts it exits 0 (printing its output otherwise).
pub fn ok_output(args: &[&str]) -> Output {
    let out = northstar(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?} failed: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

/// [`ok_output`]'s standard output, as text.
pub fn ok(args: &[&str]) -> String {
    text(&ok_output(args).stdout)
}

/// Every line of `s` as JSON.
pub fn json_lines(s: &str) -> Vec<Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// Writes `lines` to `dir/name` and records them into the store `dir/data`.
pub fn record_lines(dir: &Path, name: &str, lines: &[String]) -> Output {
    let input = dir.join(name);
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let data = dir.join("data");
    northstar(&[
        "record",
        "--dir",
        data.to_str().unwrap(),
        input.to_str().unwrap(),
    ])
}

/// Records the JSON lines `lines` into the store `data` (through `data.jsonl`), asserting
/// it succeeds.
pub fn record(data: &Path, lines: &str) {
    let input = data.with_extension("jsonl");
    std::fs::write(&input, lines).unwrap();
    ok_output(&[
        "record",
        "--dir",
        data.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
}

/// The segment files (`*.nss`) of a store, in name order.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "nss"))
        .collect();
    v.sort();
    v
}
