//! `northstar ingest` on firmware link streams (the committed link fuzz seeds, made by the
//! link encoder): a clean session is stored whole, a damaged one is reported (exit 1) with
//! everything readable stored and the loss counted as drops.

use std::path::{Path, PathBuf};
use std::process::Command;

fn seed(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds/link_decoder")
        .join(name)
}

fn northstar(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_northstar"))
        .args(args)
        .output()
        .expect("runs")
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn ingest(dir: &Path, file: &str) -> std::process::Output {
    northstar(&[
        "ingest",
        "--dir",
        dir.to_str().unwrap(),
        "--from-serial",
        seed(file).to_str().unwrap(),
        "--format",
        "json",
    ])
}

fn stats(dir: &Path) -> serde_json::Value {
    json(&northstar(&[
        "stats",
        "--dir",
        dir.to_str().unwrap(),
        "--format",
        "json",
    ]))
}

#[test]
fn a_clean_session_is_stored_whole() {
    let dir = tempfile::tempdir().unwrap();
    let out = ingest(dir.path(), "session.bin");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = json(&out);
    assert_eq!(summary["stored"], 18);
    assert_eq!(summary["device"]["records_sent"], 18);
    assert_eq!(summary["dropped"], 0);
    let s = stats(dir.path());
    assert_eq!(s["events"], 18);
    assert_eq!(s["dropped"], 0);
    assert_eq!(s["events_per_type"]["perf_sample"], 6);
    // The device's clock (16 MHz ticks) became Unix time near now (no device epoch).
    let q = northstar(&[
        "query",
        "--dir",
        dir.path().to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(String::from_utf8_lossy(&q.stdout).lines().count(), 18);
}

#[test]
fn a_lost_byte_is_reported_and_counted_as_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let out = ingest(dir.path(), "lost_byte.bin");
    assert_eq!(out.status.code(), Some(1), "damage is a finding");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("corrupt frame"), "{stderr}");
    let summary = json(&out);
    let stored = summary["stored"].as_u64().unwrap();
    let lost = summary["link_lost"].as_u64().unwrap();
    // The byte's frame is lost; the records after it are timed from the END frame.
    assert_eq!((stored, lost), (17, 1), "{summary}");
    let s = stats(dir.path());
    assert_eq!(s["events"].as_u64(), Some(stored));
    assert_eq!(s["dropped"].as_u64(), Some(lost));
}

#[test]
fn a_truncated_stream_and_garbage_are_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let out = ingest(dir.path(), "truncated.bin");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("without the device's END"), "{stderr}");

    let garbage = dir.path().join("garbage.bin");
    std::fs::write(&garbage, b"\x00\x01\x02hello\x00\xff\xfe\x00").unwrap();
    let out = northstar(&[
        "ingest",
        "--dir",
        dir.path().join("g").to_str().unwrap(),
        "--from-serial",
        garbage.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no HELLO"));
}

#[test]
fn a_wrong_tick_rate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = northstar(&[
        "ingest",
        "--dir",
        dir.path().to_str().unwrap(),
        "--from-serial",
        seed("session.bin").to_str().unwrap(),
        "--hz",
        "1000",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("disagrees"));
}
