//! Crash test: a child process records and flushes and is killed with SIGKILL at random
//! moments; after each kill the directory reopens with every acknowledged event, nothing
//! damaged, and accepts new writes.
//!
//! The child is this test binary re-executed with `NORTHSTAR_CRASH_CHILD` set.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use northstar_core::events::PerfSample;
use northstar_core::Event;
use northstar_store::{EventManager, Query};

const RUNS: u64 = 50;

/// The child's body: a no-op unless re-executed by `sigkill_at_random_moments`.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var("NORTHSTAR_CRASH_CHILD") else {
        return;
    };
    let run: u64 = std::env::var("NORTHSTAR_CRASH_RUN")
        .unwrap()
        .parse()
        .unwrap();
    let m = EventManager::open(&dir, common::small_config()).unwrap();
    let mut i = 0u64;
    loop {
        for _ in 0..25 {
            // actor = run, value = sequence: every event identifiable.
            let s = PerfSample {
                metric_name: "crash",
                dimensions: Default::default(),
                value: i as f64,
                unit: "n",
                timestamp_window: northstar_core::events::TimeWindow { start: 0, end: 0 },
                correlation_hints: northstar_core::events::CorrelationHints::NONE,
            };
            m.record(run, northstar_core::Visibility::Public, &s)
                .unwrap();
            i += 1;
        }
        m.flush().unwrap();
        println!("ACK {}", i - 1);
    }
}

fn values(m: &EventManager, run: u64) -> BTreeSet<u64> {
    m.query(&Query {
        actor_id: Some(run),
        ..Query::default()
    })
    .unwrap()
    .iter()
    .map(|e| match e.event().unwrap() {
        Event::PerfSample(p) => p.value as u64,
        other => panic!("unexpected {other:?}"),
    })
    .collect()
}

#[test]
fn sigkill_at_random_moments() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let mut truncations = 0;
    let mut acked_runs = 0;
    for run in 1..=RUNS {
        let mut child = Command::new(&exe)
            .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
            .env("NORTHSTAR_CRASH_CHILD", dir.path())
            .env("NORTHSTAR_CRASH_RUN", run.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let acked = Arc::new(Mutex::new(None::<u64>));
        let out = child.stdout.take().unwrap();
        let a = acked.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(n) = line.strip_prefix("ACK ") {
                    *a.lock().unwrap() = Some(n.parse().unwrap());
                }
            }
        });
        std::thread::sleep(Duration::from_millis(rng.u64(5..120)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        let acked = *acked.lock().unwrap();
        if acked.is_some() {
            acked_runs += 1;
        }

        let m = EventManager::open(dir.path(), common::small_config()).unwrap();
        truncations += m.open_report().truncated.len();
        assert!(
            m.open_report().damaged.is_empty(),
            "run {run}: {:?}",
            m.open_report()
        );
        let got = values(&m, run);
        if let Some(last) = acked {
            for v in 0..=last {
                assert!(
                    got.contains(&v),
                    "run {run}: acknowledged event {v} missing (acked up to {last})"
                );
            }
        }
        // Whatever else is there is a whole, contiguous prefix of what the child recorded.
        if let Some(&max) = got.iter().next_back() {
            assert_eq!(
                got.len() as u64,
                max + 1,
                "run {run}: holes in the stored events"
            );
        }
        let report = m.verify().unwrap();
        assert!(report.damaged.is_empty(), "run {run}: {report:?}");
        // The store accepts new writes after recovery.
        let probe = 1_000_000 + run;
        m.record_perf_sample("probe", probe as f64, "n", &[], None, &[])
            .unwrap();
        m.flush().unwrap();
        let probes = m
            .query(&Query {
                event_types: vec![northstar_core::EventType::PerfSample],
                actor_id: Some(0),
                ..Query::default()
            })
            .unwrap();
        assert!(probes
            .iter()
            .any(|e| matches!(e.event(), Ok(Event::PerfSample(p)) if p.value == probe as f64)));
        m.close().unwrap();
    }
    eprintln!("{RUNS} kills, {acked_runs} after at least one acknowledged flush, {truncations} torn tails truncated");
    assert!(
        acked_runs >= RUNS / 2,
        "most kills must land after flushes returned"
    );
}
