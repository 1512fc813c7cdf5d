//! The cartridge over both stores: limits, per-dimension baselines, alerts recorded as
//! perf_regression events, the benchmark hook, and criterion output from real runs.

use northstar_cartridge::criterion::{parse_messages, read_criterion_dir, CriterionError};
use northstar_cartridge::detect::{DetectConfig, Mode, Verdict};
use northstar_cartridge::stats::SplitMix64;
use northstar_cartridge::*;
use northstar_core::events::{CorrelationHints, Severity};
use northstar_core::{Event, EventType};
use northstar_store::{EventManager, Query, StoreConfig};
use std::path::{Path, PathBuf};

fn data(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(p)
}

const NO_HINTS: CorrelationHints<'static> = CorrelationHints::NONE;

#[test]
fn record_metric_honours_payload_sampling_and_rate_limits() {
    let store = MemoryStore::new();
    let cfg = CartridgeConfig {
        max_metric_payload_size: 64,
        sampling_rate: 0.5,
        rate_limit_per_sec: 10,
    };
    let c = ObservabilityCartridge::init(&store, cfg).unwrap();
    let long = "x".repeat(100);
    assert_eq!(
        c.record_metric_at(0, "latency_ms", 1.0, "ms", &[("k", &long)], NO_HINTS)
            .unwrap(),
        Outcome::Oversize
    );
    // 40 calls in the same instant: half sampled out, and the bucket admits its burst of 10.
    let outcomes: Vec<Outcome> = (0..40)
        .map(|_| {
            c.record_metric_at(1_000, "latency_ms", 5.2, "ms", &[], NO_HINTS)
                .unwrap()
        })
        .collect();
    let count = |o| outcomes.iter().filter(|&&x| x == o).count();
    assert_eq!(count(Outcome::SampledOut), 20);
    assert_eq!(count(Outcome::Recorded), 10);
    assert_eq!(count(Outcome::RateLimited), 10);
    // Another metric has its own bucket; a second later the first has tokens again.
    assert_eq!(
        c.record_metric_at(1_000, "other_ms", 1.0, "ms", &[], NO_HINTS)
            .unwrap(),
        Outcome::SampledOut
    );
    assert_eq!(
        c.record_metric_at(1_000, "other_ms", 1.0, "ms", &[], NO_HINTS)
            .unwrap(),
        Outcome::Recorded
    );
    let s = c.stats();
    assert_eq!(
        (s.recorded, s.oversize, s.sampled_out, s.rate_limited),
        (11, 1, 21, 10)
    );
    assert_eq!(store.perf_samples(Some("latency_ms")).unwrap().len(), 10);
    // Bad input is a typed error, not a stored NaN.
    assert!(matches!(
        c.record_metric("m", f64::NAN, "ms", &[], NO_HINTS),
        Err(CartridgeError::Metric { .. })
    ));
    assert!(matches!(
        ObservabilityCartridge::init(
            &store,
            CartridgeConfig {
                sampling_rate: 1.5,
                ..cfg
            }
        ),
        Err(CartridgeError::Config(_))
    ));
}

/// Ten commits of `per_run` samples for one benchmark; from commit `shift_at` the level is
/// multiplied by `factor`.
fn feed(
    c: &ObservabilityCartridge<'_, impl MetricStore>,
    bench: &str,
    seed: u64,
    shift_at: usize,
    factor: f64,
) {
    let mut rng = SplitMix64::new(seed);
    for commit in 0..10 {
        let level = if commit >= shift_at {
            1000.0 * factor
        } else {
            1000.0
        };
        let range = format!("c{commit}");
        for _ in 0..8 {
            let ops = level * (1.0 + 0.01 * rng.normal());
            let p99 = 1e6 / ops * 50.0;
            c.on_benchmark_complete(&BenchmarkComplete {
                ops_per_sec: ops,
                p99_latency_ns: p99,
                dimensions: &[("benchmark", bench), ("profile", "ci")],
                commit_range: Some(&range),
            })
            .unwrap();
        }
    }
}

fn both_modes_alert_per_dimension_set(store: &impl MetricStore) {
    let c = ObservabilityCartridge::init(store, CartridgeConfig::default()).unwrap();
    // btree_point_get loses 40% throughput at c6; btree_scan runs at a different level but is flat.
    feed(&c, "btree_point_get", 1, 6, 0.6);
    feed(&c, "btree_scan", 2, usize::MAX, 1.0);
    // Scale btree_scan's level far below: were baselines shared, it would look like a regression.
    for mode in [Mode::NoiseAware, Mode::Spec] {
        c.set_detect_config(DetectConfig {
            mode,
            ..DetectConfig::default()
        });
        let alerts = c.detect_regressions("benchmark_ops_per_sec", 10.0).unwrap();
        if mode == Mode::Spec {
            // Spec mode looks at the latest run only: c9 against c4..c8, which straddle the
            // shift (c4, c5 fast; c6..c8 slow): still flagged, and only for point_get.
            assert!(
                alerts.iter().all(|a| a
                    .dimensions
                    .contains(&("benchmark".into(), "btree_point_get".into()))),
                "{alerts:?}"
            );
            continue;
        }
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        let a = &alerts[0];
        assert_eq!(a.metric_name, "benchmark_ops_per_sec");
        assert_eq!(a.kind, MetricKind::Throughput);
        assert!(a
            .dimensions
            .contains(&("benchmark".into(), "btree_point_get".into())));
        assert!((a.regression_percent - 40.0).abs() < 2.0, "{a:?}");
        assert_eq!(a.severity, Severity::Moderate);
        assert_eq!(a.commit_range.as_deref(), Some("c5..c6"));
        assert_eq!(
            a.correlated_commits,
            vec!["c5".to_string(), "c6".to_string()]
        );
        let (lo, hi) = a.ci_percent.unwrap();
        assert!(lo > 10.0 && lo <= a.regression_percent && a.regression_percent <= hi);
        // p99 latency rose by 1/0.6 - 1 = 67%: severe.
        let p99 = c
            .detect_regressions("benchmark_p99_latency_ns", 0.0)
            .unwrap();
        assert_eq!(p99.len(), 1, "{p99:?}");
        assert_eq!(p99[0].kind, MetricKind::P99Latency);
        assert_eq!(p99[0].severity, Severity::Severe);
    }
}

#[test]
fn alerts_per_dimension_set_in_memory() {
    let store = MemoryStore::new();
    both_modes_alert_per_dimension_set(&store);
    let recorded = store.regressions();
    assert!(recorded
        .iter()
        .any(|r| r.metric_name == "benchmark_ops_per_sec" && r.severity == "moderate"));
    assert!(recorded
        .iter()
        .any(|r| r.metric_name == "benchmark_p99_latency_ns" && r.severity == "severe"));
}

#[test]
fn alerts_are_recorded_as_perf_regression_events_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let em = EventManager::open(dir.path(), StoreConfig::default()).unwrap();
    both_modes_alert_per_dimension_set(&em);
    em.flush().unwrap();
    let q = Query {
        event_types: vec![EventType::PerfRegression],
        ..Query::default()
    };
    let events = em.query(&q).unwrap();
    let mut names = Vec::new();
    for e in &events {
        match e.event().unwrap() {
            Event::PerfRegression(r) => {
                // Noise-mode alerts name the commit where the shift began.
                if r.likely_cause.is_some_and(|c| c.contains("% interval")) {
                    assert!(r.correlated_commits.iter().any(|c| c == "c6"), "{r:?}");
                }
                names.push((r.metric_name.to_string(), r.severity.name()));
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(
        names.contains(&("benchmark_ops_per_sec".to_string(), "moderate")),
        "{names:?}"
    );
    assert!(
        names.contains(&("benchmark_p99_latency_ns".to_string(), "severe")),
        "{names:?}"
    );
    em.close().unwrap();
}

#[test]
fn explicit_kind_overrides_inference() {
    let store = MemoryStore::new();
    let c = ObservabilityCartridge::init(
        &store,
        CartridgeConfig {
            rate_limit_per_sec: 1000,
            ..Default::default()
        },
    )
    .unwrap();
    for i in 0..40 {
        let v = if i < 20 { 100.0 } else { 200.0 } + (i % 3) as f64;
        c.record_metric_at(i * 1_000_000_000, "alloc_count", v, "", &[], NO_HINTS)
            .unwrap();
    }
    let cfg = DetectConfig::default();
    assert_eq!(
        c.assess(Some("alloc_count"), &cfg).unwrap()[0].verdict,
        Verdict::UnknownKind
    );
    c.set_metric_kind("alloc_count", MetricKind::Latency);
    let alerts = c.detect_with(Some("alloc_count"), &cfg).unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].severity, Severity::Severe);
}

#[test]
fn criterion_directory_from_a_real_run_is_read() {
    let benches = read_criterion_dir(&data("criterion-0.5")).unwrap();
    let ids: Vec<&str> = benches.iter().map(|b| b.id.as_str()).collect();
    assert_eq!(
        ids,
        ["btree/point_get/100", "btree/point_get/1000", "sum_1k"]
    );
    for b in &benches {
        assert_eq!(b.per_iter_ns.len(), 20, "{}", b.id);
        // Our per-sample mean agrees with criterion's own interval for the mean.
        let m = stats::mean(&b.per_iter_ns);
        let e = b.mean_ns.unwrap();
        assert!(
            e.lower * 0.99 <= m && m <= e.upper * 1.01,
            "{}: {m} vs {e:?}",
            b.id
        );
    }
    assert_eq!(benches[0].group, "btree");
    assert_eq!(benches[0].function.as_deref(), Some("point_get"));
    assert_eq!(benches[0].parameter.as_deref(), Some("100"));
    assert_eq!(
        benches[0].throughput,
        Some(criterion::Throughput::Elements(1))
    );
    assert_eq!(benches[2].throughput, None);
}

#[test]
fn cargo_criterion_messages_from_a_real_run_are_read() {
    let path = data("cargo-criterion-1.1.0.jsonl");
    let m = parse_messages(&std::fs::read_to_string(&path).unwrap(), &path).unwrap();
    assert!(m.unknown_reasons.is_empty());
    let ids: Vec<(&str, &str)> = m
        .benchmarks
        .iter()
        .map(|b| (b.id.as_str(), b.group.as_str()))
        .collect();
    assert_eq!(
        ids,
        [
            ("sum_1k", "sum_1k"),
            ("btree/point_get/100", "btree"),
            ("btree/point_get/1000", "btree")
        ]
    );
    for b in &m.benchmarks {
        let mean = stats::mean(&b.per_iter_ns);
        let e = b.mean_ns.unwrap();
        assert!(
            e.lower * 0.99 <= mean && mean <= e.upper * 1.01,
            "{}: {mean} vs {e:?}",
            b.id
        );
    }
}

#[test]
fn ingesting_two_real_runs_flags_the_real_slowdown() {
    let store = MemoryStore::new();
    let c = ObservabilityCartridge::init(&store, CartridgeConfig::default()).unwrap();
    let r1 = c
        .ingest_criterion(&data("cargo-criterion-1.1.0.jsonl"), Some("fast1"))
        .unwrap();
    let r2 = c
        .ingest_criterion(
            &data("cargo-criterion-1.1.0-slower-sum.jsonl"),
            Some("slow2"),
        )
        .unwrap();
    assert_eq!(r1.benchmarks.len(), 3);
    // sum_1k: 20 time samples; btree benches declare throughput: 20 time + 20 throughput;
    // each benchmark adds its run summary (ops/sec and p99) through on_benchmark_complete.
    assert_eq!(
        r2.benchmarks.iter().map(|b| b.samples).collect::<Vec<_>>(),
        [22, 42, 42]
    );
    let summaries = store.perf_samples(Some("benchmark_ops_per_sec")).unwrap();
    assert_eq!(
        summaries.len(),
        6,
        "one ops/sec summary per benchmark per run"
    );
    assert_eq!(
        store
            .perf_samples(Some("benchmark_p99_latency_ns"))
            .unwrap()
            .len(),
        6
    );
    for mode in [Mode::NoiseAware, Mode::Spec] {
        let cfg = DetectConfig {
            mode,
            ..DetectConfig::default()
        };
        let alerts = c
            .detect_with(Some("benchmark_time_per_iter_ns"), &cfg)
            .unwrap();
        let sum = alerts
            .iter()
            .find(|a| {
                a.dimensions
                    .contains(&("benchmark".into(), "sum_1k".into()))
            })
            .expect("sum_1k flagged");
        assert_eq!(sum.severity, Severity::Severe);
        assert_eq!(sum.commit_range.as_deref(), Some("fast1..slow2"));
        // point_get/100 moved about 1%: never flagged.
        assert!(!alerts.iter().any(|a| a
            .dimensions
            .contains(&("benchmark".into(), "btree/point_get/100".into()))));
    }
    // The directory form ingests too, with function and parameter dimensions.
    let r = c
        .ingest_criterion(&data("criterion-0.5"), Some("dir3"))
        .unwrap();
    assert_eq!(r.benchmarks.len(), 3);
    let series = c.series(Some("benchmark_throughput")).unwrap();
    assert!(series.iter().any(|s| s
        .key
        .dimensions
        .contains(&("parameter".into(), "1000".into()))));
}

#[test]
fn damaged_and_newer_criterion_files_are_named_in_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let new = tmp.path().join("b/new");
    std::fs::create_dir_all(&new).unwrap();
    let src = data("criterion-0.5/sum_1k/new");
    for f in ["benchmark.json", "estimates.json", "sample.json"] {
        std::fs::copy(src.join(f), new.join(f)).unwrap();
    }
    assert!(read_criterion_dir(tmp.path()).is_ok());

    // A newer layout: an extra field in sample.json.
    let sample = std::fs::read_to_string(src.join("sample.json")).unwrap();
    std::fs::write(
        new.join("sample.json"),
        sample.replacen('{', "{\"weights\":[1.0],", 1),
    )
    .unwrap();
    let e = read_criterion_dir(tmp.path()).unwrap_err();
    assert!(matches!(e, CriterionError::UnknownLayout { .. }), "{e}");
    assert!(
        e.to_string().contains("sample.json") && e.to_string().contains("weights"),
        "{e}"
    );

    // A sampling mode we do not know.
    std::fs::write(
        new.join("sample.json"),
        sample.replace("Linear", "Adaptive"),
    )
    .unwrap();
    assert!(read_criterion_dir(tmp.path())
        .unwrap_err()
        .to_string()
        .contains("Adaptive"));

    // Truncated JSON.
    std::fs::write(new.join("sample.json"), &sample[..sample.len() / 2]).unwrap();
    let e = read_criterion_dir(tmp.path()).unwrap_err();
    assert!(
        matches!(e, CriterionError::Json { .. }) && e.to_string().contains("sample.json"),
        "{e}"
    );

    // A missing file.
    std::fs::write(new.join("sample.json"), &sample).unwrap();
    std::fs::remove_file(new.join("estimates.json")).unwrap();
    let e = read_criterion_dir(tmp.path()).unwrap_err();
    assert!(
        matches!(e, CriterionError::Missing { .. }) && e.to_string().contains("estimates.json"),
        "{e}"
    );

    // A throughput kind from the future, in benchmark.json.
    std::fs::copy(src.join("estimates.json"), new.join("estimates.json")).unwrap();
    std::fs::write(
        new.join("benchmark.json"),
        std::fs::read_to_string(src.join("benchmark.json"))
            .unwrap()
            .replace("\"throughput\":null", "\"throughput\":{\"Frames\":3}"),
    )
    .unwrap();
    let e = read_criterion_dir(tmp.path()).unwrap_err();
    assert!(
        e.to_string().contains("benchmark.json") && e.to_string().contains("Frames"),
        "{e}"
    );

    // An empty directory, and cargo-criterion's private store, are explained.
    let empty = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(empty.path().join("data")).unwrap();
    std::fs::create_dir_all(empty.path().join("reports")).unwrap();
    let e = read_criterion_dir(empty.path()).unwrap_err();
    assert!(e.to_string().contains("message-format=json"), "{e}");
}

#[test]
fn change_points_are_exposed_for_plotting() {
    let store = MemoryStore::new();
    let c = ObservabilityCartridge::init(&store, CartridgeConfig::default()).unwrap();
    feed(&c, "btree_point_get", 3, 4, 0.7);
    let shifts = c
        .change_points(Some("benchmark_ops_per_sec"), &SegmentConfig::default())
        .unwrap();
    assert_eq!(shifts.len(), 1);
    assert_eq!(shifts[0].shifts.len(), 1);
    assert_eq!(shifts[0].shifts[0].commit_after.as_deref(), Some("c4"));
    assert_eq!(shifts[0].shifts[0].index, 32);
}

/// The samples of a metric come from a parallel scan of the whole store: the same samples, in
/// the same order (timestamp, then event id), as the query over the same store, on a store of
/// several segments; and a damaged block is an error, never a silently shorter series.
#[test]
fn samples_from_the_parallel_scan_match_the_query_and_damage_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = || StoreConfig {
        segment_max_bytes: 64 << 10,
        fsync: northstar_store::FsyncPolicy::None,
        ..StoreConfig::default()
    };
    let em = EventManager::open(dir.path(), config()).unwrap();
    for i in 0..3_000u64 {
        let name = if i % 3 == 0 { "other_ms" } else { "latency_ms" };
        em.record_perf_sample(name, i as f64, "ms", &[("host", "a")], None, &[i])
            .unwrap();
    }
    em.close().unwrap();
    let em = EventManager::open_read_only(dir.path()).unwrap();
    assert!(em.stats().unwrap().segments > 3, "several segments");
    let got = em.perf_samples(Some("latency_ms")).unwrap();
    let want: Vec<(u64, f64)> = em
        .query(&Query {
            event_types: vec![EventType::PerfSample],
            ..Query::default()
        })
        .unwrap()
        .iter()
        .filter_map(|e| match e.event().unwrap() {
            Event::PerfSample(p) if p.metric_name == "latency_ms" => Some((e.timestamp, p.value)),
            _ => None,
        })
        .collect();
    assert_eq!(want.len(), 2_000);
    let got_pairs: Vec<(u64, f64)> = got.iter().map(|s| (s.timestamp, s.value)).collect();
    assert_eq!(got_pairs, want);
    assert_eq!(
        got[0].dimensions,
        vec![("host".to_string(), "a".to_string())]
    );
    drop(em);

    let seg = northstar_store::disk::segment_path(dir.path(), 2);
    let mut b = std::fs::read(&seg).unwrap();
    b[300] ^= 0x01;
    std::fs::write(&seg, b).unwrap();
    let em = EventManager::open_read_only(dir.path()).unwrap();
    match em.perf_samples(Some("latency_ms")) {
        Err(northstar_store::StoreError::Corrupt { path, .. }) => assert_eq!(path, seg),
        other => panic!("want a Corrupt error, got {other:?}"),
    }
}
