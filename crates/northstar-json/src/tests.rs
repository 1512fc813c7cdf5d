//! The JSON shape both ways: every type round trip, the spec examples and defaults, errors with their paths.

use super::*;
use serde_json::json;

/// One fully populated event of every type, in the canonical output shape.
pub(crate) fn full_examples() -> Vec<Value> {
    vec![
        json!({"event_type": "agent_session_started", "timestamp": 1704067200000000000u64, "agent_id": 1, "session_id": 100, "visibility": "public",
               "payload": {"agent_version": "1.0.0", "session_purpose": "code_review", "metadata": {"hostname": "dev-machine-1", "workspace": "/path/to/project"}}}),
        json!({"event_type": "agent_session_ended", "timestamp": 1704067200000000500u64, "agent_id": 1, "session_id": 100, "visibility": "private", "payload": {}}),
        json!({"event_type": "agent_operation", "timestamp": 1704067200000001000u64, "agent_id": 1, "session_id": 100, "visibility": "public",
               "payload": {"operation_type": "read", "operation_id": 1, "target_type": "btree", "target_id": "user_key", "status": "completed", "duration_ns": 5000000, "metadata": {"commit_range": "abc123..def456"}}}),
        json!({"event_type": "review_note", "timestamp": 1704067200000002000u64, "actor_id": 42, "visibility": "team",
               "payload": {"target_type": "commit", "target_id": "abc123", "note_text": "race", "references": ["commit:abc123", "file:src/main.zig"], "created_at": 1704067200000002000i64}}),
        json!({"event_type": "review_summary", "timestamp": 1704067200000002500u64, "actor_id": 7, "visibility": "public",
               "payload": {"target_type": "pr", "target_id": "17", "summary_text": "Adds a cache", "confidence": 0.87, "model_id": "m-1", "prompt_hash": "ph", "created_at": -5}}),
        json!({"event_type": "perf_sample", "timestamp": 1704067200000003000u64, "actor_id": 0, "visibility": "public",
               "payload": {"metric_name": "latency_p99_ns", "dimensions": {"benchmark": "btree_point_get", "profile": "ci", "mode": "read"}, "value": 1000.0, "unit": "ns",
                           "timestamp_window": {"start": 1704067200000000000i64, "end": 1704067200000003000i64}, "correlation_hints": {"commit_range": "abc123..def456", "session_ids": [100, 101]}}}),
        json!({"event_type": "perf_regression", "timestamp": 1704067200000004000u64, "actor_id": 3, "visibility": "public",
               "payload": {"metric_name": "p99_latency_ns", "baseline_value": 1000.0, "current_value": 1150.0, "regression_percent": 15.0, "severity": "moderate", "detected_at": 1704067200000004000i64, "likely_cause": null, "correlated_commits": ["abc123", "def456"]}}),
        json!({"event_type": "debug_session", "timestamp": 1704067200000005000u64, "actor_id": 9, "session_id": 555, "visibility": "team",
               "payload": {"tool": "gdb", "breakpoints": [{"file_path": "src/a.rs", "line": 10, "condition": "x > 1", "hit_count": 3}, {"file_path": "src/b.rs", "line": 2, "condition": null, "hit_count": 0}],
                           "stack_summary": "main > run", "references": {"commit_ids": ["abc"], "symbol_names": ["run"]}}}),
        json!({"event_type": "debug_snapshot", "timestamp": 1704067200000006000u64, "actor_id": 9, "session_id": 555, "visibility": "private",
               "payload": {"snapshot_id": 2, "reason": "breakpoint", "thread_id": 77, "frames": [{"function": "run", "file_path": "src/a.rs", "line": 10}], "variables": {"x": "2"}}}),
        json!({"event_type": "vcs_commit", "timestamp": 1704067200000007000u64, "actor_id": 12, "visibility": "public",
               "payload": {"commit_hash": "def456", "commit_message": "Fix race", "changed_files": ["src/main.rs"], "parent_commits": ["abc123"], "branch": "main", "timestamp": 1704060000000000000i64}}),
        json!({"event_type": "vcs_branch", "timestamp": 1704067200000008000u64, "actor_id": 12, "visibility": "public",
               "payload": {"branch": "feature/x", "action": "created", "head_commit": "def456", "base_branch": "main", "ahead": 1, "behind": 0}}),
    ]
}

#[test]
fn every_event_type_round_trips_json_event_json() {
    let examples = full_examples();
    let mut seen = Vec::new();
    for v in &examples {
        let out = parse_event(v, 0, |env, ev| {
            seen.push(ev.event_type());
            // Through the binary codec too, as the store will.
            let mut buf = vec![0u8; ev.encoded_len()];
            let n = ev.encode_into(&mut buf).unwrap();
            let decoded = Event::decode(ev.event_type(), &buf[..n]).unwrap();
            event_json(env, &decoded)
        })
        .unwrap();
        assert_eq!(&out, v);
        // Key order follows the spec's too.
        assert_eq!(out.to_string(), v.to_string());
    }
    seen.sort();
    assert_eq!(seen, EventType::ALL.to_vec());
}

/// The spec's example events, verbatim.
const SPEC_EXAMPLES: &[&str] = &[
    r#"{"event_type":"agent_session_started","timestamp":1704067200000000000,"agent_id":1,"payload":{"agent_version":"1.0.0","session_purpose":"code_review","metadata":{"hostname":"dev-machine-1","workspace":"/path/to/project"}}}"#,
    r#"{"event_type":"agent_operation","timestamp":1704067200000001000,"agent_id":1,"session_id":100,"payload":{"operation_type":"read","operation_id":1,"target_type":"btree","target_id":"user_key","status":"completed","duration_ns":5000000,"metadata":{"commit_range":"abc123..def456"}}}"#,
    r#"{"event_type":"review_note","timestamp":1704067200000002000,"actor_id":42,"visibility":"team","payload":{"target_type":"commit","target_id":"abc123","note_text":"This commit introduces a potential race condition","references":["commit:abc123","file:src/main.zig"]}}"#,
    r#"{"event_type":"perf_sample","timestamp":1704067200000003000,"payload":{"metric_name":"latency_p99_ns","dimensions":{"benchmark":"btree_point_get","profile":"ci","mode":"read"},"value":1000.0,"unit":"ns","timestamp_window":{"start":1704067200000000000,"end":1704067200000003000},"correlation_hints":{"commit_range":"abc123..def456","session_ids":[100,101]}}}"#,
    r#"{"event_type":"perf_regression","timestamp":1704067200000004000,"payload":{"metric_name":"p99_latency_ns","baseline_value":1000.0,"current_value":1150.0,"regression_percent":15.0,"severity":"moderate","detected_at":1704067200000004000,"likely_cause":"New btree split logic","correlated_commits":["abc123","def456"]}}"#,
];

#[test]
fn spec_examples_are_accepted_with_documented_defaults() {
    for line in SPEC_EXAMPLES {
        let out = parse_line(line, 99, event_json).unwrap();
        let input: Value = serde_json::from_str(line).unwrap();
        // Everything given comes back unchanged.
        for (k, v) in input.as_object().unwrap() {
            if k == "payload" {
                for (pk, pv) in v.as_object().unwrap() {
                    assert_eq!(&out["payload"][pk], pv, "{line}: payload.{pk}");
                }
            } else {
                assert_eq!(&out[k], v, "{line}: {k}");
            }
        }
    }
    // Defaults: session 0, public, created_at = the event's timestamp, actor 0.
    let started = parse_line(SPEC_EXAMPLES[0], 99, event_json).unwrap();
    assert_eq!(started["session_id"], 0);
    assert_eq!(started["visibility"], "public");
    let note = parse_line(SPEC_EXAMPLES[2], 99, event_json).unwrap();
    assert_eq!(note["payload"]["created_at"], 1704067200000002000u64);
    let sample = parse_line(SPEC_EXAMPLES[3], 99, event_json).unwrap();
    assert_eq!(sample["actor_id"], 0);
    // A missing timestamp takes the caller's default (record uses "now").
    let t = parse_line(r#"{"event_type":"agent_session_ended"}"#, 99, |e, _| {
        e.timestamp
    });
    assert_eq!(t, Ok(99));
}

#[test]
fn spec_field_names_inside_payload_are_accepted() {
    let j = r#"{"event_type":"review_note","timestamp":1,"payload":{"author":42,"visibility":"private","target_type":"commit","target_id":"a","note_text":"n"}}"#;
    let out = parse_line(j, 0, event_json).unwrap();
    assert_eq!(out["actor_id"], 42);
    assert_eq!(out["visibility"], "private");
    let j = r#"{"event_type":"agent_operation","payload":{"agent_id":5,"session_id":6,"operation_type":"get"}}"#;
    let out = parse_line(j, 0, event_json).unwrap();
    assert_eq!(
        (out["agent_id"].clone(), out["session_id"].clone()),
        (json!(5), json!(6))
    );
}

#[test]
fn bad_input_names_the_field() {
    let cases = [
        ("{", ""),
        ("[]", ""),
        (r#"{"timestamp":1}"#, "event_type"),
        (r#"{"event_type":"nope"}"#, "event_type"),
        (
            r#"{"event_type":"perf_sample","payload":{"value":1}}"#,
            "payload.metric_name",
        ),
        (
            r#"{"event_type":"perf_sample","payload":{"metric_name":"m","value":"x"}}"#,
            "payload.value",
        ),
        (
            r#"{"event_type":"perf_sample","timestamp":-1,"payload":{"metric_name":"m","value":1}}"#,
            "timestamp",
        ),
        (
            r#"{"event_type":"perf_sample","payload":{"metric_name":"m","value":1,"extra":1}}"#,
            "payload.extra",
        ),
        (
            r#"{"event_type":"perf_sample","session_id":3,"payload":{"metric_name":"m","value":1}}"#,
            "session_id",
        ),
        (
            r#"{"event_type":"agent_session_ended","agent_id":1,"actor_id":2}"#,
            "actor_id",
        ),
        (
            r#"{"event_type":"agent_session_ended","visibility":"secret"}"#,
            "visibility",
        ),
        (
            r#"{"event_type":"review_summary","payload":{"target_type":"a","target_id":"b","summary_text":"c","confidence":1e300}}"#,
            "payload.confidence",
        ),
        (
            r#"{"event_type":"debug_snapshot","payload":{"frames":[{"line":1}]}}"#,
            "payload.frames[0].function",
        ),
        (
            r#"{"event_type":"vcs_branch","payload":{"branch":"b","ahead":5000000000}}"#,
            "payload.ahead",
        ),
        (
            r#"{"event_type":"agent_operation","payload":{"operation_type":"x","metadata":{"a":1}}}"#,
            "payload.metadata.a",
        ),
    ];
    for (line, path) in cases {
        let e = parse_line(line, 0, |_, _| ()).unwrap_err();
        assert_eq!(e.path, path, "{line}: {e}");
    }
}

#[test]
fn fuzz_body_accepts_every_example() {
    for v in full_examples() {
        fuzz_round_trip(v.to_string().as_bytes());
    }
    fuzz_round_trip(SPEC_EXAMPLES.join("\n").as_bytes());
    fuzz_round_trip(b"\xff\xfe not utf8");
}

#[test]
fn errors_name_nested_paths_and_stay_typed() {
    let cases = [
        (
            r#"{"event_type":"perf_sample","payload":{"metric_name":"m","value":1,"timestamp_window":{"start":"x"}}}"#,
            "payload.timestamp_window.start",
        ),
        (
            r#"{"event_type":"perf_sample","payload":{"metric_name":"m","value":1,"correlation_hints":{"session_ids":[1,-2]}}}"#,
            "payload.correlation_hints.session_ids[1]",
        ),
        (
            r#"{"event_type":"debug_session","payload":{"tool":"gdb","breakpoints":[{"file_path":"a","line":1},{"line":2}]}}"#,
            "payload.breakpoints[1].file_path",
        ),
        (
            r#"{"event_type":"perf_regression","payload":{"metric_name":"m","baseline_value":1,"current_value":2,"severity":"awful"}}"#,
            "payload.severity",
        ),
        (
            r#"{"event_type":"review_note","payload":{"target_type":"a","target_id":"b","note_text":null}}"#,
            "payload.note_text",
        ),
        (
            r#"{"event_type":"review_note","visibility":"team","payload":{"target_type":"a","target_id":"b","note_text":"c","visibility":"private"}}"#,
            "payload.visibility",
        ),
        (
            r#"{"event_type":"agent_operation","session_id":1,"payload":{"operation_type":"x","session_id":2}}"#,
            "payload.session_id",
        ),
        (
            r#"{"event_type":"vcs_commit","payload":{"commit_hash":"a","author_id":"me"}}"#,
            "payload.author_id",
        ),
        (
            r#"{"event_type":"agent_session_ended","visibility":null}"#,
            "visibility",
        ),
        (
            r#"{"event_type":"agent_session_ended","payload":[]}"#,
            "payload",
        ),
        // A nested object given as an array (serde's derived readers would take it in field
        // order), directly, inside a list, and inside an optional field.
        (
            r#"{"event_type":"perf_sample","payload":{"metric_name":"m","value":1,"correlation_hints":["a..b",[1]]}}"#,
            "payload.correlation_hints",
        ),
        (
            r#"{"event_type":"perf_sample","payload":{"metric_name":"m","value":1,"timestamp_window":[1,2]}}"#,
            "payload.timestamp_window",
        ),
        (
            r#"{"event_type":"debug_session","payload":{"tool":"gdb","breakpoints":[{"file_path":"a","line":1},["b",2,null,0]]}}"#,
            "payload.breakpoints[1]",
        ),
        (
            r#"{"event_type":"debug_session","payload":{"tool":"gdb","references":[["abc"],["run"]]}}"#,
            "payload.references",
        ),
    ];
    for (line, path) in cases {
        let e = parse_line(line, 0, |_, _| ()).unwrap_err();
        assert_eq!(e.path, path, "{line}: {e}");
        assert!(!e.msg.is_empty(), "{line}");
    }
    let e = parse_line(
        r#"{"event_type":"perf_sample","payload":{"value":1}}"#,
        0,
        |_, _| (),
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "payload.metric_name: missing (required)");
    let e = parse_line(
        r#"{"event_type":"perf_sample","payload":{"metric_name":"m","value":1,"extra":1}}"#,
        0,
        |_, _| (),
    )
    .unwrap_err();
    assert!(
        e.msg
            .starts_with("unknown field, expected one of `metric_name`"),
        "{e}"
    );
}

#[test]
fn computed_and_null_defaults() {
    // regression_percent from the values, severity from the percentage; null is "left out".
    let out = parse_line(
        r#"{"event_type":"perf_regression","timestamp":5,"payload":{"metric_name":"m","baseline_value":100,"current_value":160,"regression_percent":null}}"#,
        0,
        event_json,
    )
    .unwrap();
    assert_eq!(out["payload"]["regression_percent"], 60.0);
    assert_eq!(out["payload"]["severity"], "severe");
    assert_eq!(out["payload"]["detected_at"], 5);
    let out = parse_line(
        r#"{"event_type":"perf_regression","payload":{"metric_name":"m","baseline_value":100,"current_value":160,"regression_percent":25}}"#,
        0,
        event_json,
    )
    .unwrap();
    assert_eq!(out["payload"]["severity"], "moderate");
    let out = parse_line(
        r#"{"event_type":"agent_operation","timestamp":7,"payload":{"operation_type":"get","status":null}}"#,
        0,
        event_json,
    )
    .unwrap();
    assert_eq!(out["payload"]["status"], "completed");
    let out = parse_line(
        r#"{"event_type":"vcs_branch","payload":{"branch":"b"}}"#,
        0,
        event_json,
    )
    .unwrap();
    assert_eq!(out["payload"]["action"], "updated");
    let out = parse_line(
        r#"{"event_type":"perf_sample","timestamp":9,"payload":{"metric_name":"m","value":1,"timestamp_window":{"end":12}}}"#,
        0,
        event_json,
    )
    .unwrap();
    assert_eq!(
        out["payload"]["timestamp_window"],
        json!({"start": 9, "end": 12})
    );
}

#[test]
fn text_and_value_outputs_agree() {
    for v in full_examples() {
        let text = parse_event(&v, 0, event_string).unwrap();
        assert_eq!(text, v.to_string());
    }
}

#[test]
fn a_computed_regression_percent_that_overflows_f32_is_refused_not_zeroed() {
    let line = r#"{"event_type":"perf_regression","timestamp":5,"payload":{"metric_name":"m","baseline_value":1e-300,"current_value":1.0}}"#;
    let e = parse_line(line, 0, |_, _| ()).expect_err("overflow must be refused");
    assert_eq!(e.path, "payload.regression_percent", "{e}");
}
