//! `northstar demo`: runs the instrumented key-value workload (the `northstar-demo` crate) into
//! a real store, then reports what was recorded, stored and dropped, the hot path's measured
//! cost, the workload's latency percentiles read back from the store, and a regression check
//! against earlier runs.
//!
//! Each run stores its per-window results as benchmark perf samples whose
//! `correlation_hints.commit_range` is `demo-run-N`: the detectors group samples by commit,
//! so every run is one "commit" of the history and two runs are enough to compare.

use super::perf::{detect_all, load_series, print_outcomes};
use super::store_err;
use crate::cli::Format;
use crate::error::{CliError, CliResult};
use crate::output::human_ns;
use crate::timespec::now_unix_ns;
use northstar_cartridge::detect::{DetectConfig, Verdict};
use northstar_core::recorder::Recorder;
use northstar_core::{Event, EventType};
use northstar_demo::kv::KvStore;
use northstar_demo::workload::{self, WorkloadResult, OPS};
use northstar_store::{EventManager, Query, StoreConfig};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

/// Metrics each run records per operation type, with their units.
const BENCH_METRICS: [(&str, &str); 2] = [
    ("benchmark_ops_per_sec", "ops/sec"),
    ("benchmark_p99_latency_ns", "ns"),
];

/// One run of the demo: where it stores, which run it is, and when it started.
struct DemoRun<'a> {
    dir: &'a Path,
    /// 1 for the first run in `dir`.
    number: u64,
    /// `demo-run-N`: the run's "commit" in the perf history.
    label: String,
    threads: u32,
    /// Unix ns before the preload: every event of this run is at or after it.
    start: u64,
}

/// `northstar demo`.
pub fn run(dir: &Path, threads: u32, duration_secs: f64) -> CliResult {
    let duration = check_duration(duration_secs)?;
    let config = StoreConfig {
        recorder: Some(Recorder::global().clone()),
        ..StoreConfig::default()
    };
    let em = EventManager::open(dir, config).map_err(|e| store_err(dir, "cannot open", e))?;
    let number = previous_runs(&em)? + 1;
    // The write-ahead log lives in a temporary directory, outside the data directory.
    let wal_dir = tempfile::Builder::new()
        .prefix("northstar-demo-kv")
        .tempdir()
        .map_err(|e| CliError::usage(format!("cannot create the demo's WAL directory: {e}")))?;
    let kv = KvStore::open(&wal_dir.path().join("wal.log"))
        .map_err(|e| CliError::usage(format!("cannot open the demo's write-ahead log: {e}")))?;
    // The run starts before the preload: its commit records user events (kv.wal_sync,
    // kv.btree_apply) that this run stores and must count.
    let counters_before = Recorder::global().counters();
    let run = DemoRun {
        dir,
        number,
        label: format!("demo-run-{number}"),
        threads,
        start: now_unix_ns(),
    };
    workload::preload(&kv)
        .map_err(|e| CliError::usage(format!("cannot write the demo's write-ahead log: {e}")))?;
    outln!(
        "northstar demo: {threads} threads on a B-tree + WAL key-value store for {duration_secs}s, events to {} (run {number})",
        dir.display()
    )?;
    let result = run_workload(&kv, &run, duration)?;
    em.flush()
        .map_err(|e| store_err(dir, "flush failed in", e))?;
    let counters = Recorder::global().counters();
    let recorded = counters.pushed - counters_before.pushed;
    let lost = counters.lost() - counters_before.lost();
    let samples = record_results(&em, &run, &result)?;
    em.flush()
        .map_err(|e| store_err(dir, "flush failed in", e))?;

    report_counts(&em, &run, &result, recorded, lost, samples)?;
    report_hot_path()?;
    report_latency(&em, &run, &result)?;
    report_regressions(&em, &run)?;
    em.close()
        .map_err(|e| store_err(dir, "closing failed for", e))?;
    print_hints(dir)
}

/// `--duration` in range (0.1 s to an hour).
fn check_duration(secs: f64) -> CliResult<Duration> {
    if !secs.is_finite() || !(0.1..=3600.0).contains(&secs) {
        return Err(CliError::usage(format!(
            "--duration {secs}: expected 0.1 to 3600 seconds"
        )));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Runs the workload with a progress bar on a terminal.
fn run_workload(kv: &KvStore, run: &DemoRun, duration: Duration) -> CliResult<WorkloadResult> {
    let total_ms = duration.as_millis() as u64;
    let progress = Mutex::new(crate::progress::Progress::new("demo", total_ms));
    let on_progress = |remaining_ms: u64| {
        if let Ok(mut p) = progress.lock() {
            p.set(total_ms.saturating_sub(remaining_ms));
        }
    };
    let session_base = run.start / 1000; // unique per run, microseconds since the epoch
    let result = workload::run(kv, run.threads, duration, session_base, &on_progress)
        .map_err(|e| CliError::usage(format!("workload failed: {e}")))?;
    if let Ok(mut p) = progress.lock() {
        p.finish();
    }
    Ok(result)
}

/// Stores the run's results as perf samples (the history the next run compares against):
/// each window's p99 and throughput per operation, then the run's costs. Returns how many.
fn record_results(em: &EventManager, run: &DemoRun, result: &WorkloadResult) -> CliResult<usize> {
    let threads = run.threads.to_string();
    let record = |metric: &str, value: f64, unit: &str, dims: &[(&str, &str)]| {
        em.record_perf_sample(
            metric,
            value,
            unit,
            dims,
            Some(&run.label),
            &result.sessions,
        )
        .map_err(|e| store_err(run.dir, "recording failed in", e))
    };
    let mut samples = 0;
    for (op_i, op) in OPS.iter().enumerate() {
        let bench = format!("kv_{op}");
        let dims = [("benchmark", bench.as_str()), ("threads", threads.as_str())];
        for w in result.windows.iter().filter(|w| w.p99_ns[op_i] != 0) {
            for (metric, unit) in BENCH_METRICS {
                let v = if unit == "ns" {
                    w.p99_ns[op_i] as f64
                } else {
                    w.ops_per_sec[op_i]
                };
                record(metric, v, unit, &dims)?;
                samples += 1;
            }
        }
    }
    // Counts and sizes: lower is better (recorded as kind=cost, so `regressions` judges them).
    let dims = [
        ("benchmark", "kv_demo"),
        ("threads", threads.as_str()),
        ("kind", "cost"),
    ];
    for (metric, value, unit) in [
        ("fsync_count", result.fsyncs as f64, "count"),
        ("alloc_count", result.allocs.0 as f64, "count"),
        ("alloc_bytes", result.allocs.1 as f64, "bytes"),
    ] {
        record(metric, value, unit, &dims)?;
        samples += 1;
    }
    Ok(samples)
}

/// The workload's and the events' counts.
fn report_counts(
    em: &EventManager,
    run: &DemoRun,
    result: &WorkloadResult,
    recorded: u64,
    lost: u64,
    samples: usize,
) -> CliResult {
    let stored = em
        .query(&Query {
            start_time: Some(run.start),
            ..Query::default()
        })
        .map_err(|e| store_err(run.dir, "query failed in", e))?
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
        "events:   {recorded} recorded on the hot path, {lost} dropped or refused, {stored} stored by this run (incl. {samples} benchmark samples)"
    )
}

/// The hot path's cost, measured in isolation.
fn report_hot_path() -> CliResult {
    let (per_sample, per_op) = northstar_demo::hot_path::measure();
    outln!(
        "hot path: {per_sample:.1} ns per perf_sample!, {per_op:.1} ns per operation! guard (median of 20 x 1000 events into a ring)"
    )
}

/// Latency percentiles of this run, read back from the store's agent_operation events, beside
/// the number of operations the threads performed.
fn report_latency(em: &EventManager, run: &DemoRun, result: &WorkloadResult) -> CliResult {
    let ops = em
        .query(&Query {
            event_types: vec![EventType::AgentOperation],
            start_time: Some(run.start),
            ..Query::default()
        })
        .map_err(|e| store_err(run.dir, "query failed in", e))?;
    let mut durations: [Vec<i64>; 3] = Default::default();
    for se in &ops {
        if let Ok(Event::AgentOperation(p)) = se.event() {
            let op = OPS.iter().position(|o| *o == p.operation_type);
            if let (Some(i), Some(d)) = (op, p.duration_ns) {
                if result.sessions.contains(&p.session_id) {
                    durations[i].push(d);
                }
            }
        }
    }
    outln!()?;
    outln!("latency per operation, read back from the store (agent_operation.duration_ns):")?;
    let rows: Vec<Vec<String>> = durations
        .iter_mut()
        .enumerate()
        .map(|(i, d)| latency_row(OPS[i], d, result.latency[i].count()))
        .collect();
    out!(
        "{}",
        crate::table::render(
            &["OP", "STORED", "PERFORMED", "P50", "P90", "P99", "MAX"],
            &rows
        )
    )
}

/// One operation's row: stored and performed counts, percentiles and maximum of `d`.
fn latency_row(op: &str, d: &mut [i64], performed: u64) -> Vec<String> {
    d.sort_unstable();
    let q = |p: f64| -> String {
        if d.is_empty() {
            return "-".into();
        }
        let idx = ((p * d.len() as f64).ceil() as usize).clamp(1, d.len()) - 1;
        human_ns(d[idx] as f64)
    };
    vec![
        op.to_string(),
        d.len().to_string(),
        performed.to_string(),
        q(0.5),
        q(0.9),
        q(0.99),
        d.last().map_or("-".into(), |m| human_ns(*m as f64)),
    ]
}

/// The cartridge's verdict on this run against earlier runs with as many threads.
fn report_regressions(em: &EventManager, run: &DemoRun) -> CliResult {
    outln!()?;
    if run.number == 1 {
        return outln!(
            "regression check: first run in {}; run `northstar demo --dir {}` again to compare against it",
            run.dir.display(),
            run.dir.display()
        );
    }
    let threads = run.threads.to_string();
    let mut series = Vec::new();
    for (metric, _) in BENCH_METRICS {
        series.extend(load_series(em, Some(metric))?.into_iter().filter(|s| {
            s.key
                .dimensions
                .iter()
                .any(|(k, v)| k == "threads" && *v == threads)
        }));
    }
    let outcomes = detect_all(series, &DetectConfig::default());
    let n = outcomes
        .iter()
        .filter(|o| matches!(o.verdict, Verdict::Regression(_)))
        .count();
    outln!(
        "regression check ({} runs with {} threads, noise-aware: a change counts when it stands out of the run-to-run noise and its estimate is beyond the threshold): {n} regressions",
        run.number,
        run.threads
    )?;
    print_outcomes(&outcomes, Format::Table)
}

/// Commands to look further.
fn print_hints(dir: &Path) -> CliResult {
    outln!()?;
    outln!(
        "inspect with:\n  northstar query --dir {d} --type perf_sample --limit 10\n  northstar query --dir {d} --type kv.wal_sync --format json --limit 3\n  northstar stats --dir {d}\n  northstar regressions --dir {d}\n  northstar plot --dir {d} --metric benchmark_p99_latency_ns --out p99.svg",
        d = dir.display()
    )
}

/// How many demo runs the directory already holds (the highest `demo-run-N`).
fn previous_runs(em: &EventManager) -> CliResult<u64> {
    // Every metric, not only the windows' throughput: a run too short or too starved to
    // finish a window still stored its costs under its label (a second run on a loaded
    // machine once took itself for the first).
    let series = load_series(em, None)?;
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
