//! What `northstar::init` stores for each way a program ends. Each case runs in a child
//! process (the global recorder is per process): this test binary re-runs itself with
//! `NORTHSTAR_CHILD=<case>` and the parent reads what the child stored.
#![cfg(not(feature = "off"))]

use std::path::Path;
use std::process::Command;

use northstar::{event, perf_sample, EventManager};
use northstar_store::Query;

const EVENTS: u64 = 5000;

fn record_some() {
    for i in 0..EVENTS {
        perf_sample!("latency_ns", i, "ns", "case" => "lifecycle");
    }
    event!("app.done", count = EVENTS, ok = true);
}

/// The child's body, by case. Never returns normally for `exit` and `panic`.
fn child(case: &str, dir: &Path) {
    match case {
        "drop" => {
            let _guard = northstar::init(dir).unwrap();
            record_some();
        }
        "exit" => {
            let guard = northstar::init(dir).unwrap();
            record_some();
            std::mem::forget(guard); // as if the guard lived in a static
            std::process::exit(0);
        }
        "panic" => {
            let _guard = northstar::init(dir).unwrap();
            record_some();
            panic!("boom (expected by the test)");
        }
        "no-store" => record_some(),
        other => panic!("unknown case {other}"),
    }
}

#[test]
fn child_entry() {
    if let (Ok(case), Ok(dir)) = (
        std::env::var("NORTHSTAR_CHILD"),
        std::env::var("NORTHSTAR_DIR"),
    ) {
        child(&case, Path::new(&dir));
    }
}

fn run_child(case: &str, dir: &Path) -> (bool, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["child_entry", "--exact", "--nocapture", "--test-threads=1"])
        .env("NORTHSTAR_CHILD", case)
        .env("NORTHSTAR_DIR", dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn stored(dir: &Path) -> (usize, usize) {
    let m = EventManager::open_read_only(dir).unwrap();
    let all = m.query(&Query::default()).unwrap();
    let user = all.iter().filter(|e| e.user.is_some()).count();
    assert!(m.verify().unwrap().is_clean());
    (all.len() - user, user)
}

#[test]
fn dropping_the_guard_stores_everything() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, err) = run_child("drop", dir.path());
    assert!(ok, "{err}");
    assert_eq!(stored(dir.path()), (EVENTS as usize, 1));
    assert!(
        !err.contains("northstar:"),
        "no warning when everything is stored: {err}"
    );
}

#[test]
fn process_exit_with_a_live_guard_stores_everything() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, err) = run_child("exit", dir.path());
    assert!(ok, "{err}");
    assert_eq!(stored(dir.path()), (EVENTS as usize, 1));
}

#[test]
fn a_panic_unwinding_through_the_guard_stores_everything() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, err) = run_child("panic", dir.path());
    assert!(!ok && err.contains("boom"), "{err}");
    assert_eq!(stored(dir.path()), (EVENTS as usize, 1));
}

#[test]
fn events_recorded_without_a_store_are_reported_at_exit() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, err) = run_child("no-store", dir.path());
    assert!(ok, "{err}");
    assert!(
        err.contains(&format!(
            "northstar: {} events recorded by the macros",
            EVENTS + 1
        )) && err.contains("no store drains the global recorder"),
        "{err}"
    );
}

#[test]
fn a_second_init_is_refused_while_the_first_guard_lives() {
    let dir = tempfile::tempdir().unwrap();
    let g = northstar::init(dir.path().join("a")).unwrap();
    let second = northstar::init(dir.path().join("b"));
    assert!(second.is_err());
    let report = g.close().unwrap();
    assert_eq!(report.lost, 0);
    // Closed: the global recorder can be stored again.
    northstar::init(dir.path().join("c"))
        .unwrap()
        .close()
        .unwrap();
}
