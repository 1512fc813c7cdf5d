//! Runs the real `northstar` binary: demo, query, record, verify, regressions, plot, and every
//! kind of bad argument and bad input.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

/// One event of every type, in the shape `query --format json` prints.
const ALL_TYPES: &str = include_str!("../../../fuzz/seeds/record_json/all_other_types.json");
const SPEC: [&str; 5] = [
    include_str!("../../../fuzz/seeds/record_json/spec_agent_session_started.json"),
    include_str!("../../../fuzz/seeds/record_json/spec_agent_operation.json"),
    include_str!("../../../fuzz/seeds/record_json/spec_review_note.json"),
    include_str!("../../../fuzz/seeds/record_json/spec_perf_sample.json"),
    include_str!("../../../fuzz/seeds/record_json/spec_perf_regression.json"),
];

#[test]
fn demo_then_query_then_verify() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = ok(&["demo", "--dir", d, "--duration", "1", "--threads", "2"]);
    assert!(out.contains("recorded on the hot path"), "{out}");
    assert!(out.contains("ns per perf_sample!"), "{out}");
    assert!(out.contains("first run"), "{out}");
    // The binary's allocator counts while the workload runs: "..., N allocations (B bytes)".
    let allocs: u64 = out
        .split(" allocations (")
        .next()
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("an allocation count");
    assert!(allocs > 0, "{out}");
    let sessions = json_lines(&ok(&[
        "query",
        "--dir",
        d,
        "--type",
        "agent_session_started",
        "--format",
        "json",
    ]));
    assert_eq!(sessions.len(), 2, "one session per thread");
    for s in &sessions {
        assert_eq!(s["payload"]["session_purpose"], "northstar demo");
        assert!(s["agent_id"].as_u64().unwrap() >= 1000);
    }
    let ops = json_lines(&ok(&[
        "query",
        "--dir",
        d,
        "--type",
        "agent_operation",
        "--limit",
        "5",
        "--format",
        "json",
    ]));
    assert_eq!(ops.len(), 5);
    assert!(ops
        .iter()
        .all(|o| o["payload"]["duration_ns"].as_i64().is_some()));
    let table = ok(&["query", "--dir", d, "--type", "perf_sample", "--limit", "3"]);
    assert!(table.trim_start().starts_with("EVENT_ID"), "{table}");
    assert_eq!(table.lines().count(), 4);
    let verify = ok(&["verify", "--dir", d]);
    assert!(verify.contains("no damage"), "{verify}");
    let stats = ok(&["stats", "--dir", d, "--format", "json"]);
    let stats: Value = serde_json::from_str(stats.trim()).unwrap();
    assert!(stats["events"].as_u64().unwrap() > 100);
    // A second run compares against the first.
    let out = ok(&["demo", "--dir", d, "--duration", "1", "--threads", "2"]);
    assert!(out.contains("regression check (2 runs"), "{out}");
    let svg_path = dir.path().join("p99.svg");
    ok(&[
        "plot",
        "--dir",
        d,
        "--metric",
        "benchmark_p99_latency_ns",
        "--out",
        svg_path.to_str().unwrap(),
    ]);
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(
        svg.contains("benchmark=kv_get,threads=2"),
        "series labelled inline"
    );
}

/// The store assigns its own event ids; everything else, the timestamp included, round-trips.
fn without_id(mut v: Value) -> Value {
    let o = v.as_object_mut().unwrap();
    o.remove("event_id");
    v
}

#[test]
fn record_then_query_round_trips_every_event_type() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, format!("{ALL_TYPES}{}", SPEC.concat())).unwrap();
    ok(&["record", "--dir", d, input.to_str().unwrap()]);
    let out = json_lines(&ok(&["query", "--dir", d, "--format", "json"]));
    let inputs: Vec<Value> = json_lines(&format!("{ALL_TYPES}{}", SPEC.concat()));
    assert_eq!(out.len(), inputs.len());
    let mut types: Vec<&str> = out
        .iter()
        .map(|v| v["event_type"].as_str().unwrap())
        .collect();
    types.sort();
    types.dedup();
    assert_eq!(types.len(), 11, "every event type came back");
    // Each output is the canonical form of its input (defaults filled in), with the input's
    // own timestamp, in timestamp order (record order among equal timestamps).
    let mut canonical: Vec<Value> = inputs
        .iter()
        .map(|sent| {
            assert!(
                sent["timestamp"].is_u64(),
                "every input line is timestamped"
            );
            northstar_cli::json::parse_event(sent, 0, northstar_cli::json::event_json).unwrap()
        })
        .collect();
    canonical.sort_by_key(|v| v["timestamp"].as_u64().unwrap());
    for (got, want) in out.iter().zip(&canonical) {
        assert!(got["event_id"].is_u64());
        assert_eq!(got["timestamp"], want["timestamp"]);
        assert_eq!(without_id(got.clone()), without_id(want.clone()));
    }
    // And recording the query's output again gives the same events.
    let again = dir.path().join("again.jsonl");
    std::fs::write(&again, ok(&["query", "--dir", d, "--format", "json"])).unwrap();
    let d2 = dir.path().join("second");
    ok(&[
        "record",
        "--dir",
        d2.to_str().unwrap(),
        again.to_str().unwrap(),
    ]);
    let out2 = json_lines(&ok(&[
        "query",
        "--dir",
        d2.to_str().unwrap(),
        "--format",
        "json",
    ]));
    let strip = |v: &Vec<Value>| v.iter().cloned().map(without_id).collect::<Vec<_>>();
    assert_eq!(strip(&out2), strip(&out));
}

/// Files of the data directory, largest first (the segment before its index).
fn segment_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            std::fs::metadata(p)
                .map(|m| m.len() > 4096)
                .unwrap_or(false)
        })
        .collect();
    v.sort_by_key(|p| std::cmp::Reverse(std::fs::metadata(p).unwrap().len()));
    v
}

#[test]
fn damaged_segment_fails_verify_and_query_returns_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("many.jsonl");
    let line = SPEC[1].trim();
    let mut s = String::new();
    for i in 0..20_000 {
        s.push_str(&line.replace("\"operation_id\":1", &format!("\"operation_id\":{i}")));
        s.push('\n');
    }
    std::fs::write(&input, s).unwrap();
    // Keep the input out of the data directory's listing.
    let data = dir.path().join("data");
    let dd = data.to_str().unwrap();
    ok(&["record", "--dir", dd, input.to_str().unwrap()]);
    let before = json_lines(&ok(&["query", "--dir", dd, "--format", "json"])).len();
    assert_eq!(before, 20_000);
    let segs = segment_files(&data);
    assert!(!segs.is_empty(), "a segment file exists");
    let seg = &segs[0];
    let mut bytes = std::fs::read(seg).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 16] {
        *b ^= 0xff;
    }
    std::fs::write(seg, &bytes).unwrap();

    let out = northstar(&["verify", "--dir", dd]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let report = text(&out.stdout);
    assert!(
        report.contains("OFFSET") && report.contains("damaged"),
        "{report}"
    );
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one-line message: {err}");

    let out = northstar(&["query", "--dir", dd, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let after = json_lines(&text(&out.stdout)).len();
    assert!(
        after > 0 && after < before,
        "query returns the undamaged rest: {after} of {before}"
    );
    // ... and says what it skipped, naming the segment file and offset.
    let err = text(&out.stderr);
    let seg_name = seg.file_name().unwrap().to_str().unwrap();
    assert!(
        err.contains("skipped damaged block") && err.contains(seg_name) && err.contains("offset"),
        "{err}"
    );
}

#[test]
fn regressions_fail_on_exits_1_and_plot_marks_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = String::new();
    for (commit, level) in [("c1", 100.0), ("c2", 100.0), ("c3", 180.0)] {
        for i in 0..10 {
            let v = level + f64::from(i % 3);
            s.push_str(&format!(
                r#"{{"event_type":"perf_sample","payload":{{"metric_name":"get_latency_ns","value":{v},"unit":"ns","dimensions":{{"benchmark":"get"}},"correlation_hints":{{"commit_range":"{commit}","session_ids":[]}}}}}}"#
            ));
            s.push('\n');
        }
    }
    let input = dir.path().join("samples.jsonl");
    std::fs::write(&input, s).unwrap();
    let data = dir.path().join("data");
    let dd = data.to_str().unwrap();
    ok(&["record", "--dir", dd, input.to_str().unwrap()]);
    let table = ok(&["regressions", "--dir", dd]);
    assert!(
        table.contains("regression") && table.contains("severe"),
        "{table}"
    );
    let j = json_lines(&ok(&[
        "regressions",
        "--dir",
        dd,
        "--format",
        "json",
        "--mode",
        "spec",
    ]));
    assert_eq!(j[0]["verdict"], "regression");
    let out = northstar(&["regressions", "--dir", dd, "--fail-on", "moderate"]);
    assert_eq!(out.status.code(), Some(1));
    let svg = dir.path().join("plot.svg");
    ok(&[
        "plot",
        "--dir",
        dd,
        "--metric",
        "get_latency_ns",
        "--out",
        svg.to_str().unwrap(),
    ]);
    let svg = std::fs::read_to_string(svg).unwrap();
    assert!(
        svg.contains("severe") && svg.contains("benchmark=get"),
        "{svg}"
    );
    // `--out x.png` writes a PNG image, not SVG text under a .png name.
    let png_path = dir.path().join("plot.png");
    ok(&[
        "plot",
        "--dir",
        dd,
        "--metric",
        "get_latency_ns",
        "--out",
        png_path.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&png_path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let mut reader = png::Decoder::new(std::io::Cursor::new(&bytes))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert!(info.width >= 800 && info.height >= 400, "{info:?}");
    // Any other extension is refused before anything is written.
    let jpg = dir.path().join("plot.jpg");
    let out = northstar(&[
        "plot",
        "--dir",
        dd,
        "--metric",
        "get_latency_ns",
        "--out",
        jpg.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("unknown image format") && err.contains(".png"),
        "{err}"
    );
    assert!(!jpg.exists());
}

#[test]
fn bad_arguments_and_inputs_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    let dd = d.to_str().unwrap();
    let bad_json = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad_json,
        "{\"event_type\":\"perf_sample\",\"payload\":{\"metric_name\":\"m\"}}\n",
    )
    .unwrap();
    let not_json = dir.path().join("not.jsonl");
    std::fs::write(&not_json, "hello\n").unwrap();
    let binary = dir.path().join("bin.jsonl");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x01]).unwrap();
    let unknown_type = dir.path().join("unknown.jsonl");
    std::fs::write(&unknown_type, "{\"event_type\":\"perf_sampel\"}\n").unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let missing = dir.path().join("missing");
    // A store that exists: a type name is checked against the store's own user-defined types.
    let known = dir.path().join("known");
    let one = dir.path().join("one.jsonl");
    std::fs::write(
        &one,
        "{\"event_type\":\"agent_session_ended\",\"session_id\":1,\"payload\":{}}\n",
    )
    .unwrap();
    ok(&[
        "record",
        "--dir",
        known.to_str().unwrap(),
        one.to_str().unwrap(),
    ]);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["frobnicate"], "unrecognized subcommand"),
        (vec!["query", "--bogus"], "--bogus"),
        (
            vec!["query", "--dir", dd, "--since", "yesterday"],
            "--since",
        ),
        (
            vec!["query", "--dir", dd, "--until", "2024-13-01T00:00:00Z"],
            "--until",
        ),
        (vec!["query", "--dir", dd, "--since", "5y"], "unknown unit"),
        (
            vec!["query", "--dir", known.to_str().unwrap(), "--type", "nope"],
            "unknown event type",
        ),
        (vec!["query", "--dir", dd, "--format", "xml"], "xml"),
        (vec!["query", "--dir", dd, "--limit", "-3"], "-3"),
        (
            vec!["query", "--dir", missing.to_str().unwrap()],
            "no data directory",
        ),
        (
            vec!["stats", "--dir", file.to_str().unwrap()],
            "no data directory",
        ),
        (
            vec!["verify", "--dir", missing.to_str().unwrap()],
            "no data directory",
        ),
        (vec!["demo", "--dir", dd, "--threads", "0"], "--threads"),
        (vec!["demo", "--dir", dd, "--duration=-1"], "--duration"),
        (vec!["demo", "--dir", dd, "--duration", "NaN"], "--duration"),
        (
            vec!["record", "--dir", dd, missing.to_str().unwrap()],
            "cannot read",
        ),
        (
            vec!["record", "--dir", dd, bad_json.to_str().unwrap()],
            "bad.jsonl:1: payload.value: missing",
        ),
        (
            vec!["record", "--dir", dd, not_json.to_str().unwrap()],
            "not valid JSON",
        ),
        (
            vec!["record", "--dir", dd, binary.to_str().unwrap()],
            "not UTF-8",
        ),
        (
            vec!["record", "--dir", dd, unknown_type.to_str().unwrap()],
            "unknown event type \"perf_sampel\"",
        ),
        (
            vec!["compact", "--dir", dd, "--retention", "0d"],
            "--retention",
        ),
        (
            vec!["compact", "--dir", dd, "--retention", "soon"],
            "--retention",
        ),
        (
            vec!["regressions", "--dir", dd, "--threshold=-5"],
            "--threshold",
        ),
        (
            vec!["regressions", "--dir", dd, "--fail-on", "catastrophic"],
            "--fail-on",
        ),
        (
            vec!["regressions", "--dir", missing.to_str().unwrap()],
            "no data directory",
        ),
        (vec!["plot", "--dir", dd, "--metric", "m"], "--out"),
        (
            vec![
                "ingest-criterion",
                "--dir",
                dd,
                "--messages",
                missing.to_str().unwrap(),
            ],
            "cannot read",
        ),
        (
            vec![
                "ingest-criterion",
                "--dir",
                dd,
                "--criterion-dir",
                missing.to_str().unwrap(),
            ],
            "missing",
        ),
    ];
    for (args, needle) in cases {
        let out = northstar(&args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: one line expected: {err}"
        );
        assert!(err.starts_with("northstar: "), "{args:?}: {err}");
        assert!(
            err.contains(needle),
            "{args:?}: {err:?} should mention {needle:?}"
        );
    }
    // Nothing was recorded from the bad files: the directory holds no events.
    if d.is_dir() {
        let out = ok(&["query", "--dir", dd, "--format", "json"]);
        assert!(out.is_empty(), "bad input recorded nothing: {out}");
    }
    // Store-level problems with data that exists: empty history.
    ok(&["record", "--dir", dd, "/dev/null"]);
    let out = northstar(&["plot", "--dir", dd, "--metric", "m", "--out", "/tmp/x.svg"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no perf samples"));
    let out = northstar(&[
        "plot",
        "--dir",
        dd,
        "--metric",
        "m",
        "--out",
        "/nonexistent-dir/x.svg",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

/// Real criterion output (committed by the cartridge's tests, produced by a real criterion run):
/// ingesting it records every benchmark's samples, ops/sec and p99 with the commit as hint.
#[test]
fn ingest_criterion_records_real_criterion_output() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../northstar-cartridge/tests/data");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let dir = dir.to_str().unwrap();
    let crit = data.join("criterion-0.5");
    let out = ok(&[
        "ingest-criterion",
        "--dir",
        dir,
        "--criterion-dir",
        crit.to_str().unwrap(),
        "--commit",
        "abc123",
    ]);
    assert!(out.starts_with("ingested "), "{out}");
    let messages = data.join("cargo-criterion-1.1.0.jsonl");
    ok(&[
        "ingest-criterion",
        "--dir",
        dir,
        "--messages",
        messages.to_str().unwrap(),
        "--commit",
        "def456",
    ]);
    let samples = json_lines(&ok(&[
        "query",
        "--dir",
        dir,
        "--type",
        "perf_sample",
        "--format",
        "json",
        "--limit",
        "100000",
    ]));
    for metric in [
        "benchmark_time_per_iter_ns",
        "benchmark_ops_per_sec",
        "benchmark_p99_latency_ns",
    ] {
        for commit in ["abc123", "def456"] {
            let n = samples
                .iter()
                .filter(|s| {
                    s["payload"]["metric_name"] == metric
                        && s["payload"]["correlation_hints"]["commit_range"] == commit
                })
                .count();
            assert!(n > 0, "no {metric} samples for commit {commit}");
        }
    }
    // A missing input is refused before any store is created.
    let fresh = tmp.path().join("never-created");
    let out = northstar(&[
        "ingest-criterion",
        "--dir",
        fresh.to_str().unwrap(),
        "--messages",
        "/nonexistent/messages.jsonl",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("cannot read /nonexistent/messages.jsonl"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !fresh.exists(),
        "a failed ingest left a data directory behind"
    );
    let ops = samples
        .iter()
        .find(|s| s["payload"]["metric_name"] == "benchmark_ops_per_sec")
        .unwrap();
    assert!(
        ops["payload"]["dimensions"]["benchmark"].is_string()
            && ops["payload"]["dimensions"]["group"].is_string()
    );
    assert!(ops["payload"]["value"].as_f64().unwrap() > 0.0);
}

/// `export` hands every event type to ClickHouse (JSONEachRow rows of the printed table) and to
/// an OpenTelemetry collector (OTLP/JSON: spans, metric points, log records), payloads unchanged.
#[test]
fn export_to_clickhouse_and_otlp() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, format!("{ALL_TYPES}{}", SPEC.concat())).unwrap();
    ok(&["record", "--dir", d, input.to_str().unwrap()]);
    let queried = json_lines(&ok(&["query", "--dir", d, "--format", "json"]));

    // ClickHouse: exactly the DDL's columns, one row per event, the payload as JSON text.
    let ddl = ok(&["export", "--dir", d, "--schema"]);
    assert!(
        ddl.starts_with("CREATE TABLE IF NOT EXISTS northstar_events"),
        "{ddl}"
    );
    let columns: Vec<&str> = ddl
        .lines()
        .filter(|l| l.starts_with("    ") && !l.trim_start().starts_with('('))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(columns.len(), 9, "{columns:?}");
    // Exports stream in store order (event id order); query returns timestamp order.
    let mut queried = queried;
    queried.sort_by_key(|q| q["event_id"].as_u64().unwrap());
    let rows = json_lines(&ok(&["export", "--dir", d, "--format", "clickhouse"]));
    assert_eq!(rows.len(), queried.len());
    for (row, q) in rows.iter().zip(&queried) {
        let keys: Vec<&str> = row
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for c in &columns {
            assert!(keys.contains(c), "row lacks column {c}: {row}");
        }
        assert_eq!(keys.len(), columns.len(), "{row}");
        assert_eq!(row["event_type"], q["event_type"]);
        assert_eq!(row["timestamp_ns"], q["timestamp"]);
        assert_eq!(row["event_id"], q["event_id"]);
        let payload: Value = serde_json::from_str(row["payload"].as_str().unwrap()).unwrap();
        assert_eq!(payload, q["payload"]);
        let ts = row["timestamp"].as_str().unwrap();
        assert!(
            ts.len() == 29 && &ts[10..11] == " " && &ts[19..20] == ".",
            "DateTime64(9) text: {ts}"
        );
    }

    // OTLP: one request per line, at most --batch items each; operations with a duration are
    // spans, perf samples metric points, everything else log records; ids and times exact.
    let out = dir.path().join("otlp.jsonl");
    ok(&[
        "export",
        "--dir",
        d,
        "--format",
        "otlp",
        "--batch",
        "4",
        "--out",
        out.to_str().unwrap(),
    ]);
    let requests = json_lines(&std::fs::read_to_string(&out).unwrap());
    let items = |key: &str, scope: &str, list: &str| -> Vec<Value> {
        requests
            .iter()
            .filter(|r| r.get(key).is_some())
            .flat_map(|r| {
                let v = r[key][0][scope][0][list].as_array().unwrap().clone();
                assert!(v.len() <= 4, "a request of more than --batch items");
                v
            })
            .collect()
    };
    let spans = items("resourceSpans", "scopeSpans", "spans");
    let points = items("resourceMetrics", "scopeMetrics", "metrics");
    let records = items("resourceLogs", "scopeLogs", "logRecords");
    let is_span =
        |q: &Value| q["event_type"] == "agent_operation" && !q["payload"]["duration_ns"].is_null();
    let is_point = |q: &Value| q["event_type"] == "perf_sample";
    let as_logs: Vec<&Value> = queried
        .iter()
        .filter(|q| !is_span(q) && !is_point(q))
        .collect();
    let ended = queried
        .iter()
        .filter(|q| q["event_type"] == "agent_session_ended")
        .count();
    assert_eq!(
        spans.len(),
        queried.iter().filter(|q| is_span(q)).count() + ended
    );
    assert_eq!(points.len(), queried.iter().filter(|q| is_point(q)).count());
    assert_eq!(records.len(), as_logs.len());
    let attr = |attrs: &Value, k: &str| {
        attrs
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == k)
            .map(|a| a["value"].clone())
    };
    for (rec, q) in records.iter().zip(&as_logs) {
        assert_eq!(
            rec["timeUnixNano"],
            Value::String(q["timestamp"].to_string())
        );
        let attrs = &rec["attributes"];
        assert_eq!(
            attr(attrs, "event.name").unwrap()["stringValue"],
            q["event_type"]
        );
        assert_eq!(
            attr(attrs, "northstar.event_id").unwrap()["intValue"],
            Value::String(q["event_id"].to_string())
        );
        assert!(
            rec["body"]["kvlistValue"]["values"].is_array(),
            "structured body: {rec}"
        );
        let severe = q["event_type"] == "perf_regression" && q["payload"]["severity"] == "severe";
        assert_eq!(
            rec["severityText"],
            if severe {
                "ERROR"
            } else if q["event_type"] == "perf_regression" {
                "WARN"
            } else {
                "INFO"
            }
        );
    }
    for span in spans
        .iter()
        .filter(|s| attr(&s["attributes"], "northstar.event_id").is_some())
    {
        let id = attr(&span["attributes"], "northstar.event_id").unwrap()["intValue"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap();
        let q = queried.iter().find(|q| q["event_id"] == id).unwrap();
        assert_eq!(
            span["endTimeUnixNano"],
            Value::String(q["timestamp"].to_string())
        );
        let start: u64 = span["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            q["timestamp"].as_u64().unwrap() - start,
            q["payload"]["duration_ns"].as_u64().unwrap()
        );
        assert_eq!(span["spanId"].as_str().unwrap().len(), 16, "hex span id");
        assert_eq!(span["traceId"].as_str().unwrap().len(), 32, "hex trace id");
    }

    // Bad arguments: exit 2 with one line.
    for args in [
        vec!["export", "--dir", d, "--format", "otlp", "--schema"],
        vec!["export", "--dir", d, "--format", "otlp", "--batch", "0"],
    ] {
        let out = northstar(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(
            text(&out.stderr).lines().count(),
            1,
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

/// A Parquet field as an unsigned integer (`UINT_64` columns read as `ULong`, the
/// nanosecond timestamp as `Long`).
fn field_u64(f: &parquet::record::Field) -> u64 {
    use parquet::record::Field;
    match f {
        Field::ULong(v) => *v,
        Field::Long(v) => *v as u64,
        Field::UInt(v) => u64::from(*v),
        Field::UShort(v) => u64::from(*v),
        Field::Int(v) => *v as u64,
        other => panic!("not an integer: {other:?}"),
    }
}

#[test]
fn export_to_parquet() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, format!("{ALL_TYPES}{}", SPEC.concat())).unwrap();
    ok(&["record", "--dir", d, input.to_str().unwrap()]);
    let mut queried = json_lines(&ok(&["query", "--dir", d, "--format", "json"]));
    queried.sort_by_key(|q| q["event_id"].as_u64().unwrap());
    let out = dir.path().join("events.parquet");
    ok(&[
        "export",
        "--dir",
        d,
        "--format",
        "parquet",
        "--out",
        out.to_str().unwrap(),
    ]);
    let reader = SerializedFileReader::new(std::fs::File::open(&out).unwrap()).unwrap();
    let meta = reader.metadata();
    let columns: Vec<String> = meta
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .map(|c| c.path().parts()[0].clone())
        .collect();
    assert_eq!(
        columns,
        [
            "event_id",
            "event_type",
            "event_code",
            "timestamp",
            "timestamp_ns",
            "actor_id",
            "session_ids",
            "visibility",
            "payload"
        ]
    );
    assert_eq!(meta.file_metadata().num_rows() as usize, queried.len());
    // One row per event, with the ClickHouse rows' values; every row group one type, sorted
    // by time.
    let mut rows = Vec::new();
    let mut group_types = Vec::new();
    for g in 0..meta.num_row_groups() {
        let group = reader.get_row_group(g).unwrap();
        let mut types = Vec::new();
        let mut last = (0u64, 0u64);
        for row in group.get_row_iter(None).unwrap() {
            let row = row.unwrap();
            let f: Vec<&Field> = row.get_column_iter().map(|(_, f)| f).collect();
            let Field::Str(ty) = f[1] else {
                panic!("event_type {:?}", f[1])
            };
            types.push(ty.clone());
            let key = (field_u64(f[4]), field_u64(f[0]));
            assert!(key >= last, "row group {g} not sorted by time");
            last = key;
            rows.push(row);
        }
        types.dedup();
        assert_eq!(types.len(), 1, "row group {g} holds {types:?}");
        group_types.push(types.pop().unwrap());
    }
    let mut distinct = group_types.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), group_types.len(), "{group_types:?}");
    assert!(group_types.len() >= 10, "{group_types:?}");
    rows.sort_by_key(|r| field_u64(r.get_column_iter().next().unwrap().1));
    assert_eq!(rows.len(), queried.len());
    for (row, q) in rows.iter().zip(&queried) {
        let f: Vec<&Field> = row.get_column_iter().map(|(_, f)| f).collect();
        assert_eq!(field_u64(f[0]), q["event_id"].as_u64().unwrap());
        assert_eq!(f[1], &Field::Str(q["event_type"].as_str().unwrap().into()));
        assert_eq!(field_u64(f[3]), q["timestamp"].as_u64().unwrap());
        assert_eq!(field_u64(f[4]), q["timestamp"].as_u64().unwrap());
        let Field::Str(payload) = f[8] else {
            panic!("payload {:?}", f[8])
        };
        let payload: Value = serde_json::from_str(payload).unwrap();
        assert_eq!(payload, q["payload"], "{q}");
        if let Some(s) = q.get("session_id").and_then(Value::as_u64) {
            let Field::ListInternal(list) = f[6] else {
                panic!("session_ids {:?}", f[6])
            };
            assert!(
                list.elements().iter().any(|e| field_u64(e) == s),
                "{q}: {:?}",
                f[6]
            );
        }
    }
}
