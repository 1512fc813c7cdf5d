//! The `northstar` binary at the store's edges: damage found while opening is said by every
//! command; `stats --viewer` follows the query's viewer rule; `tail` follows by store
//! position, so a future-dated event does not blind it.

mod common;

use common::*;
use std::process::Stdio;
use std::time::Duration;

const OP: &str = r#"{"event_type":"agent_operation","timestamp":1704067200000001000,"agent_id":1,"session_id":100,"payload":{"operation_type":"read","operation_id":1,"target_type":"btree","target_id":"user_key","status":"completed","duration_ns":5000000,"metadata":{}}}"#;

#[test]
fn damage_found_while_opening_is_said_by_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut s = String::new();
    for i in 0..20_000 {
        s.push_str(&OP.replace("\"operation_id\":1", &format!("\"operation_id\":{i}")));
        s.push('\n');
    }
    record(&data, &s);
    let seg = segments(&data)[0].clone();
    let mut bytes = std::fs::read(&seg).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 16] {
        *b ^= 0xff;
    }
    std::fs::write(&seg, &bytes).unwrap();
    // Without its index the segment is scanned at open: the damage is in the open report.
    std::fs::remove_file(seg.with_extension("nsi")).unwrap();
    let d = data.to_str().unwrap();
    let seg_name = seg.file_name().unwrap().to_str().unwrap();
    for args in [
        vec!["query", "--dir", d, "--format", "json"],
        vec!["stats", "--dir", d],
        vec!["export", "--dir", d, "--format", "otlp"],
        vec![
            "tail",
            "--dir",
            d,
            "--since",
            "2023-01-01T00:00:00Z",
            "--duration",
            "0",
        ],
    ] {
        let out = ok_output(&args);
        let err = text(&out.stderr);
        assert!(
            err.contains("skipped damaged block") && err.contains(seg_name),
            "{args:?} said nothing of the damage: {err}"
        );
    }
}

#[test]
fn stats_viewer_counts_what_the_viewer_may_see() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let line = |actor: u64, vis: &str| {
        OP.replace("\"agent_id\":1", &format!("\"agent_id\":{actor}"))
            .replace(
                "{\"event_type\"",
                &format!("{{\"visibility\":\"{vis}\",\"event_type\""),
            )
    };
    let lines = [
        line(0, "private"),
        line(0, "team"),
        line(0, "public"),
        line(7, "private"),
    ]
    .join("\n");
    record(&data, &lines);
    let d = data.to_str().unwrap();
    let events = |extra: &[&str]| -> u64 {
        let mut args = vec!["stats", "--dir", d, "--format", "json"];
        args.extend_from_slice(extra);
        let v: serde_json::Value = serde_json::from_slice(&ok_output(&args).stdout).unwrap();
        v["events"].as_u64().unwrap()
    };
    assert_eq!(events(&[]), 4, "no viewer: the operator's view");
    assert_eq!(events(&["--viewer", "0"]), 1, "viewer 0 is not a wildcard");
    assert_eq!(events(&["--viewer", "7"]), 2);
    let q = |v: &str| {
        text(&ok_output(&["query", "--dir", d, "--format", "json", "--viewer", v]).stdout)
            .lines()
            .count()
    };
    assert_eq!(q("0"), 1);
}

/// User-defined types are counted by what the viewer may see, like the spec's types.
#[test]
fn stats_viewer_counts_user_types_the_viewer_may_see() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let user = |name: &str, actor: u64, vis: &str| {
        format!(
            r#"{{"event_type":"{name}","timestamp":1704067200000000000,"actor_id":{actor},"visibility":"{vis}","payload":{{"n":1}}}}"#
        )
    };
    let lines = [
        user("kv.a", 7, "private"),
        user("kv.a", 7, "private"),
        user("kv.a", 8, "public"),
        user("kv.b", 8, "private"),
        OP.to_string(),
    ]
    .join("\n");
    record(&data, &lines);
    let d = data.to_str().unwrap();
    let per_type = |extra: &[&str]| -> (u64, serde_json::Value) {
        let mut args = vec!["stats", "--dir", d, "--format", "json"];
        args.extend_from_slice(extra);
        let v: serde_json::Value = serde_json::from_slice(&ok_output(&args).stdout).unwrap();
        (v["events"].as_u64().unwrap(), v["events_per_type"].clone())
    };
    let (n, t) = per_type(&[]);
    assert_eq!(n, 5);
    assert_eq!((t["kv.a"].as_u64(), t["kv.b"].as_u64()), (Some(3), Some(1)));
    let (n, t) = per_type(&["--viewer", "7"]);
    assert_eq!(n, 4, "kv.a x3 and the public agent_operation");
    assert_eq!((t["kv.a"].as_u64(), t["kv.b"].as_u64()), (Some(3), None));
    let (n, t) = per_type(&["--viewer", "8"]);
    assert_eq!(n, 3);
    assert_eq!((t["kv.a"].as_u64(), t["kv.b"].as_u64()), (Some(1), Some(1)));
    let (_, t) = per_type(&["--viewer", "9"]);
    assert_eq!((t["kv.a"].as_u64(), t["kv.b"].as_u64()), (Some(1), None));
    // The table says the same.
    let table = text(&ok_output(&["stats", "--dir", d, "--viewer", "9"]).stdout);
    let row = |name: &str| {
        table
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .map(|l| l.split_whitespace().nth(1).unwrap().to_string())
    };
    assert_eq!(row("kv.a").as_deref(), Some("1"), "{table}");
    assert_eq!(row("kv.b"), None, "{table}");
}

#[test]
fn tail_is_not_blinded_by_a_future_dated_event() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let now_ns = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    };
    let at = |ts: u64, id: u64| {
        OP.replace("1704067200000001000", &ts.to_string())
            .replace("\"operation_id\":1", &format!("\"operation_id\":{id}"))
    };
    record(&data, &at(now_ns(), 0));
    let d = data.to_str().unwrap();
    let mut tail = bin()
        .args([
            "tail",
            "--dir",
            d,
            "--format",
            "json",
            "--interval-ms",
            "50",
            "--duration",
            "60",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = tail.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            if tx
                .send(v["payload"]["operation_id"].as_u64().unwrap())
                .is_err()
            {
                break;
            }
        }
    });
    // Give tail time to take its starting position (the end of the store).
    std::thread::sleep(Duration::from_millis(1500));
    let year = 365 * 24 * 3_600_000_000_000u64;
    record(&data, &at(now_ns() + year, 1));
    let mut ids = vec![rx
        .recv_timeout(Duration::from_secs(30))
        .expect("tail printed the future-dated event")];
    let later: Vec<String> = (2..5).map(|i| at(now_ns(), i)).collect();
    record(&data, &later.join("\n"));
    while ids.len() < 4 {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(id) => ids.push(id),
            Err(_) => break,
        }
    }
    let _ = tail.kill();
    let _ = tail.wait();
    assert_eq!(
        ids,
        vec![1, 2, 3, 4],
        "events after the future-dated one are printed"
    );
}
