//! User-defined events through the real `northstar` binary: `record` takes them (with their
//! types) and gives back what `query` printed; bad ones are refused naming line and field;
//! `regressions` and `plot` read a numeric field of them as a metric.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

fn without_id(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("event_id");
    v
}

fn query_json(d: &str) -> Vec<Value> {
    json_lines(&ok(&["query", "--dir", d, "--format", "json"]))
        .into_iter()
        .map(without_id)
        .collect()
}

const TYPED: &str = include_str!("../../../fuzz/seeds/record_json/user_events.json");

/// query -> record into a new store -> query gives the same JSON: for typed input with every
/// field type, and for the demo's own `event!` records.
#[test]
fn query_output_of_user_events_records_back_into_the_same_events() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    record(&a, TYPED);
    let first = query_json(a.to_str().unwrap());
    assert_eq!(first.len(), 6);
    let probe = first
        .iter()
        .find(|e| e["event_type"] == "app:probe")
        .unwrap();
    // Declared types hold: f32 keeps f32 precision, bytes come back as hex, NaN as a string.
    assert_eq!(probe["payload"]["small"], 255);
    assert_eq!(probe["payload"]["raw"], "00ff10");
    assert_eq!(probe["payload"]["wide"], "NaN");
    assert_eq!(probe["payload"]["note"], Value::Null);
    let wal = first
        .iter()
        .find(|e| e["event_type"] == "kv.wal_sync")
        .unwrap();
    assert_eq!(wal["payload"]["unit"], "bytes", "the constant is printed");

    // Round trip through query's own output.
    let b = dir.path().join("b");
    let lines: Vec<String> = first.iter().map(Value::to_string).collect();
    record(&b, &(lines.join("\n") + "\n"));
    assert_eq!(query_json(b.to_str().unwrap()), first);
    let verify = ok(&["verify", "--dir", b.to_str().unwrap()]);
    assert!(verify.contains("no damage"), "{verify}");

    // Events recorded by the demo's `event!` call sites, with every other type.
    let demo = dir.path().join("demo");
    let dd = demo.to_str().unwrap();
    ok(&["demo", "--dir", dd, "--threads", "1", "--duration", "1"]);
    let all = query_json(dd);
    assert!(
        all.iter().any(|e| e["event_type"] == "kv.wal_sync"),
        "the demo records user events"
    );
    let c = dir.path().join("c");
    let lines: Vec<String> = all.iter().map(Value::to_string).collect();
    record(&c, &(lines.join("\n") + "\n"));
    assert_eq!(query_json(c.to_str().unwrap()), all);
}

/// Bad user events: exit 2, one line naming the file, line and field, nothing stored.
#[test]
fn bad_user_events_are_refused_naming_line_and_field() {
    let good = r#"{"event_type":"kv.x","timestamp":1,"payload":{"a":1,"s":"x"}}"#;
    let many: String = {
        let fields: Vec<String> = (0..33).map(|i| format!("\"f{i}\":{i}")).collect();
        format!(
            r#"{{"event_type":"kv.many","payload":{{{}}}}}"#,
            fields.join(",")
        )
    };
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "unknown type name",
            r#"{"event_type":"kv.x","payload":{"a":1},"types":{"a":"u128"}}"#.into(),
            ":2: types.a: unknown field type \"u128\"",
        ),
        (
            "kinds clash between lines",
            r#"{"event_type":"kv.x","payload":{"a":"one","s":"x"}}"#.into(),
            ":2: payload.a: type mismatch: a string here, a number on line 1",
        ),
        (
            "declarations disagree",
            r#"{"event_type":"kv.x","payload":{"a":1},"types":{"a":"i8"}}"#.into(),
            "",
        ),
        (
            "out of the declared range",
            r#"{"event_type":"kv.x","payload":{"a":-1,"s":"x"},"types":{"a":"u32"}}"#.into(),
            ":2: payload.a: expected an integer from 0 to 4294967295 (u32), found -1",
        ),
        (
            "too many fields",
            many,
            ":2: payload: kv.many has 33 fields besides its constants (at most 32)",
        ),
        (
            "a list",
            r#"{"event_type":"kv.x","payload":{"a":[1]}}"#.into(),
            ":2: payload.a: expected a number, string, boolean or null",
        ),
        (
            "an unknown top-level key",
            r#"{"event_type":"kv.x","payload":{"a":1},"schema":{}}"#.into(),
            ":2: schema: unknown field",
        ),
        (
            "a constant that changes",
            r#"{"event_type":"kv.c","payload":{"u":"ns"},"types":{"u":"const"}}
{"event_type":"kv.c","payload":{"u":"ms"}}"#
                .into(),
            ":3: payload.u: constant \"u\" is \"ms\" here and \"ns\" on line 2",
        ),
        (
            "a name that is neither a spec type nor namespaced",
            r#"{"event_type":"wal_sync","payload":{"a":1}}"#.into(),
            ":2: event_type: unknown event type \"wal_sync\"",
        ),
    ];
    for (what, bad, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        // "declarations disagree" needs the first line to declare too.
        let first = if what == "declarations disagree" {
            r#"{"event_type":"kv.x","payload":{"a":1,"s":"x"},"types":{"a":"u8"}}"#
        } else {
            good
        };
        let out = record_lines(dir.path(), "in.jsonl", &[first.to_string(), bad]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {err}");
        assert_eq!(err.lines().count(), 1, "{what}: one line: {err}");
        assert!(err.contains("in.jsonl:"), "{what}: names the file: {err}");
        assert!(err.contains("(nothing stored)"), "{what}: {err}");
        if what == "declarations disagree" {
            assert!(
                err.contains(":2: types.a: type mismatch: \"i8\" here, \"u8\" on line 1"),
                "{what}: {err}"
            );
        } else {
            assert!(err.contains(want), "{what}: expected {want:?} in {err}");
        }
        assert!(
            !dir.path().join("data").exists(),
            "{what}: the store was not even created"
        );
    }
}

fn wal_history(dir: &Path) -> String {
    // 4 commits x 30 syncs per file; wal-1's syncs take 50% longer at c4.
    let mut lines = Vec::new();
    let mut t = 1_704_067_200_000_000_000u64;
    for (ci, commit) in ["c1", "c2", "c3", "c4"].iter().enumerate() {
        for i in 0..60u64 {
            let file = if i % 2 == 0 { "wal-0" } else { "wal-1" };
            let base = if file == "wal-1" && ci == 3 {
                1500
            } else {
                1000
            };
            // A deterministic +-2% wobble.
            let d = base * (980 + (i * 7919 + ci as u64 * 104_729) % 41) / 1000;
            t += 1_000_000;
            lines.push(format!(
                r#"{{"event_type":"kv.wal_sync","timestamp":{t},"payload":{{"bytes":{},"duration_ns":{d},"file":"{file}","commit":"{commit}"}},"types":{{"duration_ns":"duration_ns"}}}}"#,
                4096 * i
            ));
        }
    }
    let data = dir.join("data");
    record(&data, &(lines.join("\n") + "\n"));
    data.to_str().unwrap().to_string()
}

#[test]
fn regressions_and_plot_read_a_user_field_as_a_metric() {
    let dir = tempfile::tempdir().unwrap();
    let d = wal_history(dir.path());
    let out = ok(&[
        "regressions",
        "--dir",
        &d,
        "--metric",
        "kv.wal_sync.duration_ns{file}",
        "--format",
        "json",
    ]);
    let rows = json_lines(&out);
    assert_eq!(rows.len(), 2, "{out}");
    let row = |f: &str| rows.iter().find(|r| r["dimensions"]["file"] == f).unwrap();
    assert!(
        row("wal-1")["verdict"]
            .as_str()
            .unwrap()
            .starts_with("regression"),
        "{out}"
    );
    assert_eq!(row("wal-1")["metric_name"], "kv.wal_sync.duration_ns");
    assert_eq!(row("wal-1")["unit"], "ns");
    assert_eq!(row("wal-1")["kind"], "latency");
    assert_eq!(row("wal-1")["commit_after"], "c4");
    assert_ne!(
        row("wal-0")["verdict"].as_str().unwrap().split(' ').next(),
        Some("regression")
    );
    // --fail-on sees it.
    let failing = northstar(&[
        "regressions",
        "--dir",
        &d,
        "--metric",
        "kv.wal_sync.duration_ns{file}",
        "--fail-on",
        "moderate",
    ]);
    assert_eq!(failing.status.code(), Some(1), "{}", text(&failing.stderr));

    let svg = dir.path().join("wal.svg");
    ok(&[
        "plot",
        "--dir",
        &d,
        "--metric",
        "kv.wal_sync.duration_ns{file}",
        "--out",
        svg.to_str().unwrap(),
    ]);
    let svg = std::fs::read_to_string(svg).unwrap();
    assert!(
        svg.contains("kv.wal_sync.duration_ns"),
        "titled by the metric"
    );
    assert!(svg.contains("file=wal-1") && svg.contains("file=wal-0"));

    // A string field is not a metric; a dimension must be a string field.
    for (metric, want) in [
        ("kv.wal_sync.file", "no numeric field \"file\""),
        (
            "kv.wal_sync.duration_ns{bytes}",
            "\"bytes\" of kv.wal_sync is not a string field",
        ),
        ("kv.nothing.x", "no user events of that name"),
    ] {
        let out = northstar(&["regressions", "--dir", &d, "--metric", metric]);
        assert_eq!(out.status.code(), Some(2), "{metric}");
        assert!(
            text(&out.stderr).contains(want),
            "{metric}: {}",
            text(&out.stderr)
        );
    }
}
