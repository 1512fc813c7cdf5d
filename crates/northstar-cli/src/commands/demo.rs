//! `northstar demo`: runs the instrumented key-value workload into a real store, then reports
//! what was recorded, stored and dropped, the hot path's measured cost, the workload's latency
//! percentiles read back from the store, and a regression check against earlier runs.
//!
//! Each run stores its per-window results as benchmark perf samples whose
//! `correlation_hints.commit_range` is `demo-run-N`: the detectors group samples by commit,
//! so every run is one "commit" of the history and two runs are enough to compare.

use super::perf::{detect_all, load_series, print_outcomes};
use super::store_err;
use crate::cli::Format;
use crate::error::{CliError, CliResult};
use crate::kv::KvStore;
use crate::output::human_ns;
use crate::timespec::now_unix_ns;
use crate::workload::{self, OPS};
use northstar_cartridge::detect::{DetectConfig, Verdict};
use northstar_core::codec::List;
use northstar_core::events::{CorrelationHints, PerfSample, TimeWindow};
use northstar_core::recorder::{Recorder, RecorderConfig};
use northstar_core::scope::OperationGuard;
use northstar_core::{event, Event, EventType};
use northstar_store::{EventManager, Query, StoreConfig};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Metrics each run records per operation type, with their units.
const BENCH_METRICS: [(&str, &str); 2] = [
    ("benchmark_ops_per_sec", "ops/sec"),
    ("benchmark_p99_latency_ns", "ns"),
];

/// `northstar demo`.
pub fn run(dir: &Path, threads: u32, duration_secs: f64) -> CliResult {
    if !duration_secs.is_finite() || !(0.1..=3600.0).contains(&duration_secs) {
        return Err(CliError::usage(format!(
            "--duration {duration_secs}: expected 0.1 to 3600 seconds"
        )));
    }
    let duration = Duration::from_secs_f64(duration_secs);
    let config = StoreConfig {
        recorder: Some(Recorder::global().clone()),
        ..StoreConfig::default()
    };
    let em = EventManager::open(dir, config).map_err(|e| store_err(dir, "cannot open", e))?;
    let run_no = previous_runs(&em)? + 1;
    let run_label = format!("demo-run-{run_no}");
    let wal_dir = tempfile::Builder::new()
        .prefix("northstar-demo-kv")
        .tempdir()
        .map_err(|e| CliError::usage(format!("cannot create the demo's WAL directory: {e}")))?;
    let kv = KvStore::open(&wal_dir.path().join("wal.log"))
        .map_err(|e| CliError::usage(format!("cannot open the demo's write-ahead log: {e}")))?;
    // The run starts before the preload: its commit records user events (kv.wal_sync,
    // kv.btree_apply) that this run stores and must count.
    let counters_before = Recorder::global().counters();
    let run_start = now_unix_ns();
    workload::preload(&kv)
        .map_err(|e| CliError::usage(format!("cannot write the demo's write-ahead log: {e}")))?;

    outln!(
        "northstar demo: {threads} threads on a B-tree + WAL key-value store for {duration_secs}s, events to {} (run {run_no})",
        dir.display()
    )?;
    let total_ms = duration.as_millis() as u64;
    let progress = Mutex::new(crate::progress::Progress::new("demo", total_ms));
    let on_progress = |remaining_ms: u64| {
        if let Ok(mut p) = progress.lock() {
            p.set(total_ms.saturating_sub(remaining_ms));
        }
    };
    let session_base = run_start / 1000; // unique per run, microseconds since the epoch
    let result = workload::run(&kv, threads, duration, session_base, &on_progress)
        .map_err(|e| CliError::usage(format!("workload failed: {e}")))?;
    if let Ok(mut p) = progress.lock() {
        p.finish();
    }
    em.flush()
        .map_err(|e| store_err(dir, "flush failed in", e))?;
    let counters = Recorder::global().counters();
    let recorded = counters.pushed - counters_before.pushed;
    let lost = counters.lost() - counters_before.lost();

    // Results as benchmark samples (the history the next run compares against).
    let threads_s = threads.to_string();
    let mut bench_samples = 0;
    for (op_i, op) in OPS.iter().enumerate() {
        let bench = format!("kv_{op}");
        let dims = [
            ("benchmark", bench.as_str()),
            ("threads", threads_s.as_str()),
        ];
        for w in &result.windows {
            if w.p99_ns[op_i] == 0 {
                continue;
            }
            for (metric, unit) in BENCH_METRICS {
                let v = if unit == "ns" {
                    w.p99_ns[op_i] as f64
                } else {
                    w.ops_per_sec[op_i]
                };
                em.record_perf_sample(metric, v, unit, &dims, Some(&run_label), &result.sessions)
                    .map_err(|e| store_err(dir, "recording failed in", e))?;
                bench_samples += 1;
            }
        }
    }
    let fsyncs = result.fsyncs as f64;
    // Counts and sizes: lower is better (recorded as kind=cost, so `regressions` judges them).
    let dims = [
        ("benchmark", "kv_demo"),
        ("threads", threads_s.as_str()),
        ("kind", "cost"),
    ];
    for (metric, value) in [
        ("fsync_count", fsyncs),
        ("alloc_count", result.allocs.0 as f64),
        ("alloc_bytes", result.allocs.1 as f64),
    ] {
        let unit = if metric == "alloc_bytes" {
            "bytes"
        } else {
            "count"
        };
        em.record_perf_sample(
            metric,
            value,
            unit,
            &dims,
            Some(&run_label),
            &result.sessions,
        )
        .map_err(|e| store_err(dir, "recording failed in", e))?;
    }
    em.flush()
        .map_err(|e| store_err(dir, "flush failed in", e))?;

    let stored = em
        .query(&Query {
            start_time: Some(run_start),
            ..Query::default()
        })
        .map_err(|e| store_err(dir, "query failed in", e))?
        .len();
    let total_ops: u64 = result.latency.iter().map(|h| h.count()).sum();
    outln!()?;
    outln!(
        "workload: {total_ops} operations in {:.2}s ({:.0} ops/s), {} keys, {} fsyncs, {} allocations ({} bytes)",
        result.elapsed.as_secs_f64(),
        total_ops as f64 / result.elapsed.as_secs_f64(),
        result.keys,
        result.fsyncs,
        result.allocs.0,
        result.allocs.1
    )?;
    outln!(
        "events:   {recorded} recorded on the hot path, {lost} dropped or refused, {stored} stored by this run (incl. {} benchmark samples)",
        bench_samples + 3
    )?;

    let (per_sample, per_op) = measure_hot_path();
    outln!(
        "hot path: {per_sample:.1} ns per perf_sample!, {per_op:.1} ns per operation! guard (median of 20 x 1000 events into a ring)"
    )?;

    // Latency percentiles of this run, read back from the store's agent_operation events.
    let ops = em
        .query(&Query {
            event_types: vec![EventType::AgentOperation],
            start_time: Some(run_start),
            ..Query::default()
        })
        .map_err(|e| store_err(dir, "query failed in", e))?;
    let mut durations: [Vec<i64>; 3] = Default::default();
    for se in &ops {
        if let Ok(Event::AgentOperation(p)) = se.event() {
            if let (Some(i), Some(d)) = (
                OPS.iter().position(|o| *o == p.operation_type),
                p.duration_ns,
            ) {
                if result.sessions.contains(&p.session_id) {
                    durations[i].push(d);
                }
            }
        }
    }
    outln!()?;
    outln!("latency per operation, read back from the store (agent_operation.duration_ns):")?;
    let mut rows = Vec::new();
    for (i, d) in durations.iter_mut().enumerate() {
        d.sort_unstable();
        let q = |p: f64| -> String {
            if d.is_empty() {
                return "-".into();
            }
            let idx = ((p * d.len() as f64).ceil() as usize).clamp(1, d.len()) - 1;
            human_ns(d[idx] as f64)
        };
        rows.push(vec![
            OPS[i].to_string(),
            d.len().to_string(),
            result.latency[i].count().to_string(),
            q(0.5),
            q(0.9),
            q(0.99),
            d.last().map_or("-".into(), |m| human_ns(*m as f64)),
        ]);
    }
    out!(
        "{}",
        crate::table::render(
            &["OP", "STORED", "PERFORMED", "P50", "P90", "P99", "MAX"],
            &rows
        )
    )?;

    // Regression check against earlier runs in this directory.
    outln!()?;
    if run_no == 1 {
        outln!(
            "regression check: first run in {}; run `northstar demo --dir {}` again to compare against it",
            dir.display(),
            dir.display()
        )?;
    } else {
        let mut series = Vec::new();
        for (metric, _) in BENCH_METRICS {
            series.extend(load_series(&em, Some(metric))?.into_iter().filter(|s| {
                s.key
                    .dimensions
                    .iter()
                    .any(|(k, v)| k == "threads" && *v == threads_s)
            }));
        }
        let outcomes = detect_all(series, &DetectConfig::default());
        let n = outcomes
            .iter()
            .filter(|o| matches!(o.verdict, Verdict::Regression(_)))
            .count();
        outln!(
            "regression check ({} runs with {threads} threads, noise-aware: a change counts when it stands out of the run-to-run noise and its estimate is beyond the threshold): {n} regressions",
            run_no
        )?;
        print_outcomes(&outcomes, Format::Table)?;
    }
    em.close()
        .map_err(|e| store_err(dir, "closing failed for", e))?;
    outln!()?;
    outln!(
        "inspect with:\n  northstar query --dir {d} --type perf_sample --limit 10\n  northstar query --dir {d} --type kv.wal_sync --format json --limit 3\n  northstar stats --dir {d}\n  northstar regressions --dir {d}\n  northstar plot --dir {d} --metric benchmark_p99_latency_ns --out p99.svg",
        d = dir.display()
    )?;
    Ok(())
}

/// How many demo runs the directory already holds (the highest `demo-run-N`).
fn previous_runs(em: &EventManager) -> CliResult<u64> {
    let series = load_series(em, Some(BENCH_METRICS[0].0))?;
    Ok(series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter_map(|p| {
            p.commit
                .as_deref()?
                .strip_prefix("demo-run-")?
                .parse::<u64>()
                .ok()
        })
        .max()
        .unwrap_or(0))
}

/// Measures the hot path in isolation: batches of 1000 events recorded into a private
/// recorder's ring (drained between batches, outside the timing), the median batch divided by
/// its size. Returns ns per `perf_sample` event and per `operation` guard.
fn measure_hot_path() -> (f64, f64) {
    let Ok(rec) = Recorder::new(RecorderConfig {
        rings: 1,
        ..RecorderConfig::default()
    }) else {
        return (f64::NAN, f64::NAN);
    };
    const BATCH: u32 = 1000;
    let dims = [("benchmark", "kv_get"), ("mode", "read")];
    let drain = || {
        if let Some(mut d) = rec.drainer() {
            d.drain(usize::MAX, |_, _| {});
        }
    };
    let mut per_sample = Vec::new();
    let mut per_op = Vec::new();
    for round in 0..20 {
        let t = Instant::now();
        for i in 0..BATCH {
            event!(to = &rec; PerfSample {
                metric_name: "latency_ns",
                dimensions: List::Slice(&dims),
                value: f64::from(i),
                unit: "ns",
                timestamp_window: TimeWindow { start: 0, end: 0 },
                correlation_hints: CorrelationHints::NONE,
            });
        }
        let el = t.elapsed();
        drain();
        let t = Instant::now();
        for _ in 0..BATCH {
            let _g = OperationGuard::start(&rec, 1, 2, "get", "btree", "user:00042");
        }
        let el2 = t.elapsed();
        drain();
        if round > 0 {
            // round 0 warms the ring's pages and the thread's claim
            per_sample.push(el.as_nanos() as f64 / f64::from(BATCH));
            per_op.push(el2.as_nanos() as f64 / f64::from(BATCH));
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (median(&mut per_sample), median(&mut per_op))
}
