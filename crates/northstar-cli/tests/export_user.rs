//! `northstar export` carries user-defined events (the demo's `kv.wal_sync` and
//! `kv.btree_apply`): `--type <user type>` selects them, every format counts them, and the
//! ClickHouse rows hold the same typed payloads `query --format json` prints.

use serde_json::Value;
use std::process::Command;

fn ok(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_northstar"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn ok_err(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_northstar"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stderr).unwrap()
}

fn json_lines(s: &str) -> Vec<Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn export_selects_and_carries_user_defined_events() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    ok(&["demo", "--dir", d, "--duration", "0.3", "--threads", "1"]);
    let mut wal = json_lines(&ok(&[
        "query",
        "--dir",
        d,
        "--type",
        "kv.wal_sync",
        "--format",
        "json",
    ]));
    assert!(!wal.is_empty(), "the demo records kv.wal_sync");
    wal.sort_by_key(|q| q["event_id"].as_u64().unwrap());
    let rows = json_lines(&ok(&[
        "export",
        "--dir",
        d,
        "--format",
        "clickhouse",
        "--type",
        "kv.wal_sync",
    ]));
    assert_eq!(rows.len(), wal.len());
    for (row, q) in rows.iter().zip(&wal) {
        assert_eq!(row["event_type"], "kv.wal_sync");
        assert_eq!(row["event_code"], 224);
        assert_eq!(row["event_id"], q["event_id"]);
        let payload: Value = serde_json::from_str(row["payload"].as_str().unwrap()).unwrap();
        assert_eq!(payload, q["payload"], "typed fields as query prints them");
        assert!(payload["bytes"].is_u64());
    }
    // Everything: as many rows as query has events; the summary counts the user events.
    let all = json_lines(&ok(&["query", "--dir", d, "--format", "json"]));
    let users = all
        .iter()
        .filter(|q| q["event_type"].as_str().unwrap().starts_with("kv."))
        .count();
    for format in ["clickhouse", "otlp", "perfetto"] {
        let out = dir.path().join(format!("out.{format}"));
        let err = ok_err(&[
            "export",
            "--dir",
            d,
            "--format",
            format,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(
            err.contains(&format!(
                "exported {} events ({users} user-defined)",
                all.len()
            )),
            "{format}: {err}"
        );
    }
    // An unknown type is still refused.
    let out = Command::new(env!("CARGO_BIN_EXE_northstar"))
        .args(["export", "--dir", d, "--type", "kv.nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
