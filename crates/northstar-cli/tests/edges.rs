//! The tool at its edges: hostile text, closed pipes, full disks, odd numbers and bad JSON.
//! Every test runs the real `northstar` binary.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Text a hostile producer could put in an event: an OSC that retitles the window and rings
/// the bell, a CSI colour, NUL, a C1 CSI, a bidirectional override, a carriage return.
const HOSTILE: &str = "x\u{1b}]0;pwned\u{7}\u{1b}[31mred\u{0}\u{9b}2J\u{202e}\rend";

/// A store holding events whose text carries [`HOSTILE`], plus perf samples for
/// `regressions`; returns the data directory.
fn hostile_store(dir: &Path) -> String {
    let h = serde_json::to_string(HOSTILE).unwrap();
    let mut lines = vec![
        format!(
            r#"{{"event_type":"review_note","timestamp":1704067200000000000,"actor_id":1,"payload":{{"target_type":"commit","target_id":{h},"note_text":{h}}}}}"#
        ),
        format!(
            r#"{{"event_type":"vcs_commit","timestamp":1704067200000000001,"actor_id":1,"payload":{{"commit_hash":{h},"commit_message":{h},"branch":{h}}}}}"#
        ),
    ];
    for (i, commit) in ["c1", "c2", "c3"].iter().enumerate() {
        for j in 0..10u32 {
            let v = 100.0 * (i as f64 + 1.0) + f64::from(j % 3);
            lines.push(format!(
                r#"{{"event_type":"perf_sample","timestamp":{},"payload":{{"metric_name":{h},"value":{v},"unit":{h},"dimensions":{{"bench":{h}}},"correlation_hints":{{"commit_range":"{commit}","session_ids":[]}}}}}}"#,
                1704067200000001000u64 + (i as u64 * 10 + u64::from(j))
            ));
        }
    }
    let out = record_lines(dir, "hostile.jsonl", &lines);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    dir.join("data").to_str().unwrap().to_string()
}

/// No control character but newline, and no bidirectional override, reaches the terminal.
fn assert_terminal_safe(what: &str, s: &str) {
    let bad: Vec<char> = s
        .chars()
        .filter(|&c| (c.is_control() && c != '\n') || ('\u{202a}'..='\u{202e}').contains(&c))
        .collect();
    assert!(bad.is_empty(), "{what}: raw {bad:?} in {s:?}");
}

#[test]
fn control_characters_in_event_text_are_escaped_in_every_table() {
    let dir = tempfile::tempdir().unwrap();
    let d = hostile_store(dir.path());
    for args in [
        vec!["query", "--dir", &d],
        vec!["query", "--dir", &d, "--type", "vcs_commit"],
        vec!["tail", "--dir", &d, "--since", "0", "--duration", "0"],
        vec!["regressions", "--dir", &d],
        vec!["stats", "--dir", &d],
    ] {
        let out = northstar(&args);
        let stdout = text(&out.stdout);
        assert_terminal_safe(&format!("{args:?} stdout"), &stdout);
        assert_terminal_safe(&format!("{args:?} stderr"), &text(&out.stderr));
        if args[0] != "stats" {
            assert!(
                stdout.contains(r"\x1b]0;pwned\x07") && stdout.contains(r"\u{9b}"),
                "{args:?}: the escapes are shown visibly: {stdout}"
            );
        }
    }
    // An error message quoting hostile input is escaped too.
    let out = northstar(&["query", "--dir", &d, "--type", "\u{1b}[2Jx"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_terminal_safe("error message", &err);
    assert!(err.contains("[2Jx"), "{err}");
}

#[test]
fn json_output_keeps_control_characters_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let d = hostile_store(dir.path());
    let out = ok(&[
        "query",
        "--dir",
        &d,
        "--type",
        "review_note",
        "--format",
        "json",
    ]);
    // JSON escapes them (C1 and bidirectional overrides too, so the raw characters never reach
    // the terminal) and keeps them: the line parses back to the exact text.
    assert_terminal_safe("json", &out);
    let v: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(v["payload"]["note_text"], HOSTILE);
}

#[test]
fn multibyte_commit_hash_is_cut_on_a_character_boundary() {
    let dir = tempfile::tempdir().unwrap();
    // The summary cuts text at 40 characters: 40 bytes in, a byte cut would land inside the
    // 2-byte 'é' and panic.
    let hash = "abcdefghijklmnopqrstuvwxyz0123456789abcé€xyz";
    let out = record_lines(
        dir.path(),
        "c.jsonl",
        &[format!(
            r#"{{"event_type":"vcs_commit","actor_id":1,"payload":{{"commit_hash":"{hash}","commit_message":"m","branch":"main"}}}}"#
        )],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let d = dir.path().join("data");
    let table = ok(&["query", "--dir", d.to_str().unwrap()]);
    assert!(
        table.contains("abcdefghijklmnopqrstuvwxyz0123456789abcé… m main"),
        "{table}"
    );
}

/// Runs `args` with standard output a pipe whose reader has already gone.
fn with_closed_pipe(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let child = bin()
        .args(args)
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.wait_with_output().unwrap()
}

fn with_full_disk(args: &[&str]) -> Output {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    bin()
        .args(args)
        .stdout(full)
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

fn every_printing_command(d: &str) -> Vec<Vec<String>> {
    [
        vec!["stats", "--dir", d],
        vec!["stats", "--dir", d, "--format", "json"],
        vec!["verify", "--dir", d],
        vec!["verify", "--dir", d, "--format", "json"],
        vec!["regressions", "--dir", d],
        vec!["regressions", "--dir", d, "--format", "json"],
        vec!["export", "--schema"],
        vec!["query", "--dir", d],
        vec!["query", "--dir", d, "--format", "json"],
        vec!["tail", "--dir", d, "--since", "0", "--duration", "0"],
        vec!["tail", "--dir", d, "--since", "0", "--format", "json"],
        vec!["compact", "--dir", d, "--retention", "1000w"],
        vec!["--help"],
        vec!["query", "--help"],
    ]
    .iter()
    .map(|a| a.iter().map(|s| s.to_string()).collect())
    .collect()
}

#[cfg(unix)]
#[test]
fn a_closed_pipe_ends_every_command_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let d = hostile_store(dir.path());
    for args in every_printing_command(&d) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // `tail` without --duration follows forever unless the closed pipe stops it.
        let out = with_closed_pipe(&args);
        let quiet = out.status.code() == Some(0) || out.status.signal() == Some(13);
        assert!(quiet, "{args:?}: {:?} {}", out.status, text(&out.stderr));
        assert_eq!(text(&out.stderr), "", "{args:?} says nothing");
    }
    // export (its own writer): quiet on a closed pipe, but for its count of events on stderr.
    for format in ["clickhouse", "otlp"] {
        let out = with_closed_pipe(&["export", "--dir", &d, "--format", format]);
        let err = text(&out.stderr);
        assert!(
            out.status.code() == Some(0) || out.status.signal() == Some(13),
            "{format}: {:?} {err}",
            out.status
        );
        assert!(!err.contains("Broken pipe"), "{format}: {err}");
        let out = with_full_disk(&["export", "--dir", &d, "--format", format]);
        assert_eq!(out.status.code(), Some(2), "{format}");
        assert!(text(&out.stderr).contains("No space left"), "{format}");
    }
}

#[test]
fn a_full_disk_on_standard_output_is_reported_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = hostile_store(dir.path());
    for args in every_printing_command(&d) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = with_full_disk(&args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("cannot write output") && err.contains("No space left"),
            "{args:?}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
    }
}

/// A reproducible stream of finite f64s spread over every exponent (subnormals included).
fn random_f64s(n: usize) -> Vec<f64> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = vec![
        18678.694901948722,
        0.1,
        -0.0,
        5e-324,
        f64::MAX,
        f64::MIN_POSITIVE,
    ];
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let v = f64::from_bits(x);
        if v.is_finite() {
            out.push(v);
        }
        // And values of ordinary size with long mantissas, like measured latencies.
        out.push((x >> 11) as f64 / (1u64 << 40) as f64);
    }
    out
}

fn assert_same_bits(got: &[u64], want: &[u64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    let wrong: Vec<(f64, f64)> = got
        .iter()
        .zip(want)
        .filter(|(g, w)| g != w)
        .map(|(g, w)| (f64::from_bits(*g), f64::from_bits(*w)))
        .collect();
    assert!(
        wrong.is_empty(),
        "{what}: {} of {} differ, e.g. (got, want) {:?}",
        wrong.len(),
        want.len(),
        &wrong[..wrong.len().min(3)]
    );
}

fn perf_values(json: &str) -> Vec<u64> {
    json.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["payload"]["value"].as_f64().unwrap().to_bits()
        })
        .collect()
}

#[test]
fn query_json_into_record_round_trips_every_f64_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let values = random_f64s(3000);
    let lines: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            serde_json::json!({"event_type": "perf_sample", "timestamp": 1_704_067_200_000_000_000u64 + i as u64,
                "payload": {"metric_name": "m", "value": v, "unit": "ns"}})
            .to_string()
        })
        .collect();
    let out = record_lines(dir.path(), "values.jsonl", &lines);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let d1 = dir.path().join("data");
    let first = ok(&["query", "--dir", d1.to_str().unwrap(), "--format", "json"]);
    let want: Vec<u64> = values.iter().map(|v| v.to_bits()).collect();
    assert_same_bits(
        &perf_values(&first),
        &want,
        "stored values read back exactly",
    );
    // query | record | query: the second store holds the same bits.
    let piped = dir.path().join("piped.jsonl");
    std::fs::write(&piped, &first).unwrap();
    let d2 = dir.path().join("data2");
    ok(&[
        "record",
        "--dir",
        d2.to_str().unwrap(),
        piped.to_str().unwrap(),
    ]);
    let second = ok(&["query", "--dir", d2.to_str().unwrap(), "--format", "json"]);
    assert_same_bits(
        &perf_values(&second),
        &want,
        "query | record changes no digit",
    );
}

fn event_count(d: &str) -> u64 {
    let v: Value = serde_json::from_str(&ok(&["stats", "--dir", d, "--format", "json"])).unwrap();
    v["events"].as_u64().unwrap()
}

#[test]
fn duplicate_keys_and_null_visibility_are_refused_naming_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let good = r#"{"event_type":"agent_session_ended","session_id":1,"payload":{}}"#.to_string();
    for (bad, key) in [
        (
            r#"{"event_type":"agent_session_ended","visibility":"private","session_id":1,"visibility":"public","payload":{}}"#,
            "visibility",
        ),
        (
            r#"{"event_type":"review_note","payload":{"target_type":"c","target_id":"a","note_text":"n","note_text":"m"}}"#,
            "payload.note_text",
        ),
        (
            r#"{"event_type":"agent_session_ended","visibility":null,"session_id":1,"payload":{}}"#,
            "visibility",
        ),
    ] {
        let out = record_lines(dir.path(), "in.jsonl", &[good.clone(), bad.to_string()]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {err}");
        assert!(
            err.contains("in.jsonl:2:") && err.contains(key),
            "{bad}: names the line and the key: {err}"
        );
        let data = dir.path().join("data");
        if data.exists() {
            assert_eq!(event_count(data.to_str().unwrap()), 0, "nothing stored");
        }
    }
}

#[test]
fn a_line_the_store_would_refuse_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let good = r#"{"event_type":"agent_session_ended","session_id":1,"payload":{}}"#.to_string();
    // Valid JSON, but over the store's payload limit: it used to be found only when line 3
    // was stored, after lines 1-2.
    let huge = format!(
        r#"{{"event_type":"review_note","payload":{{"target_type":"c","target_id":"a","note_text":"{}"}}}}"#,
        "x".repeat(2 << 20)
    );
    let out = record_lines(dir.path(), "in.jsonl", &[good.clone(), good, huge]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("in.jsonl:3:") && err.contains("nothing stored"),
        "{err}"
    );
    let data = dir.path().join("data");
    assert!(
        !data.exists() || event_count(data.to_str().unwrap()) == 0,
        "lines 1-2 were stored"
    );
}

/// `record` into a store that runs out of room part-way (a file-size limit, which fails
/// writes like a full disk) says how many events it stored and the line to resume from;
/// resuming there stores the rest, none twice.
#[cfg(unix)]
#[test]
fn record_interrupted_by_a_failed_write_resumes_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let n = 20_000u64;
    let lines: Vec<String> = (0..n)
        .map(|i| {
            serde_json::json!({"event_type": "perf_sample", "timestamp": 1_704_067_200_000_000_000u64 + i,
                "payload": {"metric_name": "m", "value": i as f64, "unit": "ns",
                            "dimensions": {"pad": "p".repeat(100)}}})
            .to_string()
        })
        .collect();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let data = dir.path().join("data");
    let (d, f) = (data.to_str().unwrap(), input.to_str().unwrap());
    // Files may not grow past about 1 MB; SIGXFSZ ignored so the write fails with EFBIG.
    let out = Command::new("sh")
        .args(["-c", "trap '' XFSZ; ulimit -f 2000; exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_northstar"))
        .args(["record", "--dir", d, f])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let stored = event_count(d);
    assert!(stored > 0 && stored < n, "{stored}: {err}");
    assert!(
        err.contains(&format!(
            "{stored} of {n} events were stored (through line {stored})"
        )),
        "says exactly how many: {err}"
    );
    let resume = format!("--from-line {}", stored + 1);
    assert!(err.contains(&resume), "{err}");
    ok(&[
        "record",
        "--dir",
        d,
        "--from-line",
        &(stored + 1).to_string(),
        f,
    ]);
    let all = ok(&["query", "--dir", d, "--format", "json"]);
    let mut ts: Vec<u64> = all
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["timestamp"]
                .as_u64()
                .unwrap()
        })
        .collect();
    ts.sort_unstable();
    ts.dedup();
    assert_eq!(ts.len() as u64, n, "every event once");
    assert!(ok(&["verify", "--dir", d]).contains("no damage"));
}

/// `--since` and `--until` both include events stamped exactly at the bound, and `--help`
/// says so (it used to say "before" while the query included the bound).
#[test]
fn since_and_until_are_both_inclusive_as_help_says() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = 1_704_067_200_000_000_000u64;
    let lines: Vec<String> = (0..4)
        .map(|k| {
            format!(
                r#"{{"event_type":"agent_session_ended","timestamp":{},"session_id":{k},"payload":{{}}}}"#,
                t0 + k
            )
        })
        .collect();
    assert_eq!(
        record_lines(dir.path(), "in.jsonl", &lines).status.code(),
        Some(0)
    );
    let d = dir.path().join("data");
    let (since, until) = ((t0 + 1).to_string(), (t0 + 2).to_string());
    let out = ok(&[
        "query",
        "--dir",
        d.to_str().unwrap(),
        "--since",
        &since,
        "--until",
        &until,
        "--format",
        "json",
    ]);
    let ts: Vec<u64> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["timestamp"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(ts, vec![t0 + 1, t0 + 2]);
    let help = ok(&["query", "--help"]);
    assert!(
        help.contains("at or after") && help.contains("at or before"),
        "{help}"
    );
    assert!(!help.contains("Only events before"), "{help}");
}

/// Times parsed by jiff: RFC 3339, `now`, compound and signed relative times, on the real
/// command line (`--until -5s` is a value, not a flag).
#[test]
fn relative_times_now_and_rfc3339_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let line = r#"{"event_type":"agent_session_ended","session_id":1,"payload":{}}"#.to_string();
    assert_eq!(
        record_lines(dir.path(), "in.jsonl", &[line]).status.code(),
        Some(0)
    );
    let d = dir.path().join("data");
    let d = d.to_str().unwrap();
    let count = |args: &[&str]| {
        let mut all = vec!["query", "--dir", d, "--format", "json"];
        all.extend_from_slice(args);
        ok(&all).lines().count()
    };
    // The event was stamped when it was recorded, a moment ago.
    assert_eq!(count(&["--since", "1h30m", "--until", "now"]), 1);
    assert_eq!(
        count(&["--since", "2024-01-01T00:00:00Z", "--until", "+1h"]),
        1
    );
    assert_eq!(count(&["--until", "-1h"]), 0);
    assert_eq!(count(&["--since", "-2h", "--until", "-30m"]), 0);
    assert_eq!(count(&["--since", "-10m"]), 1);
    for bad in ["yesterday", "2024-13-01T00:00:00Z", "3mo"] {
        let out = northstar(&["query", "--dir", d, "--since", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(text(&out.stderr).contains("--since"), "{bad}");
    }
}

/// The plot's SVG stays well-formed XML whatever the metric's text: no control character
/// (XML forbids them), markup characters escaped.
#[test]
fn plot_svg_has_no_control_characters_from_event_text() {
    let dir = tempfile::tempdir().unwrap();
    let h = serde_json::to_string(HOSTILE).unwrap();
    let lines: Vec<String> = (0..30u32)
        .map(|i| {
            format!(
                r#"{{"event_type":"perf_sample","timestamp":{},"payload":{{"metric_name":"lat","value":{},"unit":{h},"dimensions":{{"bench":{h}}},"correlation_hints":{{"commit_range":{h},"session_ids":[]}}}}}}"#,
                1_704_067_200_000_000_000u64 + u64::from(i),
                100 + i / 10 * 50
            )
        })
        .collect();
    assert_eq!(
        record_lines(dir.path(), "p.jsonl", &lines).status.code(),
        Some(0)
    );
    let d = dir.path().join("data").to_str().unwrap().to_string();
    let svg = dir.path().join("p.svg");
    ok(&[
        "plot",
        "--dir",
        &d,
        "--metric",
        "lat",
        "--out",
        svg.to_str().unwrap(),
    ]);
    let svg = std::fs::read_to_string(svg).unwrap();
    let bad: Vec<char> = svg
        .chars()
        .filter(|&c| c.is_control() && c != '\n')
        .collect();
    assert!(bad.is_empty(), "raw {bad:?} in the SVG");
    assert!(svg.contains(r"\x1b]0;pwned\x07"), "shown escaped");
}
