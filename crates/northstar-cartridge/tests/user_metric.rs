//! A numeric field of a user-defined event as a metric, over a real store: events recorded
//! with `event!` across several commits, read back as series split by a string field, and a
//! shift in one of them detected.

use northstar_cartridge::detect::{DetectConfig, Mode, Verdict};
use northstar_cartridge::stats::SplitMix64;
use northstar_cartridge::*;
use northstar_core::{event, Visibility};
use northstar_store::{EventManager, StoreConfig, Viewer};

const COMMITS: [&str; 4] = ["c1", "c2", "c3", "c4"];

/// 40 `kv.wal_sync` events per file per commit; `wal-1`'s syncs take 50% longer at the last
/// commit, `wal-0`'s do not change.
fn record_history(m: &EventManager) {
    let mut rng = SplitMix64::new(7);
    for (ci, commit) in COMMITS.iter().enumerate() {
        for i in 0..80u64 {
            let file = if i % 2 == 0 { "wal-0" } else { "wal-1" };
            let base = if file == "wal-1" && ci == COMMITS.len() - 1 {
                1500.0
            } else {
                1000.0
            };
            let d = (base * (1.0 + (rng.next_f64() - 0.5) * 0.04)) as u64;
            event!(to = m.recorder(); "kv.wal_sync", bytes = 4096u64 * i, duration_ns = d,
                   file = file, commit = *commit);
        }
        // Another event type in the same store is not part of the series.
        event!(to = m.recorder(); "kv.btree_split", depth = 3u8);
    }
    m.flush().unwrap();
}

fn open() -> (tempfile::TempDir, EventManager) {
    let dir = tempfile::tempdir().unwrap();
    let m = EventManager::open(dir.path(), StoreConfig::default()).unwrap();
    (dir, m)
}

fn filter(metric: &str) -> SampleFilter {
    SampleFilter::metric(Some(metric))
}

#[test]
fn a_user_field_split_by_a_string_field_shows_the_shift_in_one_series() {
    let (_dir, m) = open();
    record_history(&m);
    let c = ObservabilityCartridge::init(&m, CartridgeConfig::default()).unwrap();
    let series = c
        .series_where(&filter("kv.wal_sync.duration_ns{file}"))
        .unwrap();
    assert_eq!(series.len(), 2);
    for s in &series {
        assert_eq!(s.key.metric_name, "kv.wal_sync.duration_ns");
        assert_eq!(s.points.len(), 160);
        assert_eq!(s.unit, "ns", "a duration field's unit");
        assert_eq!(s.kind, MetricKind::Latency);
        let commits: Vec<&str> = s
            .points
            .iter()
            .filter_map(|p| p.commit.as_deref())
            .collect();
        assert_eq!(commits.len(), 160, "every sample has its commit field");
    }
    let verdicts = c
        .assess_where(
            &filter("kv.wal_sync.duration_ns{file}"),
            &DetectConfig::default(),
        )
        .unwrap();
    let by_file = |f: &str| {
        verdicts
            .iter()
            .find(|v| v.series.key.dimensions == [("file".to_string(), f.to_string())])
            .unwrap()
    };
    match &by_file("wal-1").verdict {
        Verdict::Regression(f) => {
            assert!(
                (f.ratio() - 1.5).abs() < 0.05,
                "ratio {} for a 50% shift",
                f.ratio()
            );
            assert_eq!(f.commit_after.as_deref(), Some("c4"));
        }
        v => panic!("wal-1 shifted by 50%: {v:?}"),
    }
    assert!(
        !matches!(by_file("wal-0").verdict, Verdict::Regression(_)),
        "wal-0 did not change: {:?}",
        by_file("wal-0").verdict
    );
    // The spec's mode sees it too.
    let spec = c
        .assess_where(
            &filter("kv.wal_sync.duration_ns{file}"),
            &DetectConfig {
                mode: Mode::Spec,
                ..DetectConfig::default()
            },
        )
        .unwrap();
    let regressed: Vec<_> = spec
        .iter()
        .filter(|v| matches!(v.verdict, Verdict::Regression(_)))
        .map(|v| v.series.key.to_string())
        .collect();
    assert_eq!(regressed, ["kv.wal_sync.duration_ns{file=wal-1}"]);
}

#[test]
fn without_dimensions_one_series_and_the_kind_can_be_set() {
    let (_dir, m) = open();
    record_history(&m);
    let c = ObservabilityCartridge::init(&m, CartridgeConfig::default()).unwrap();
    let s = c.series_where(&filter("kv.wal_sync.bytes")).unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].points.len(), 320);
    assert_eq!(s[0].unit, "");
    assert_eq!(s[0].kind, MetricKind::Unknown, "bytes: no direction known");
    c.set_metric_kind("kv.wal_sync.bytes", MetricKind::Cost);
    assert_eq!(
        c.series_where(&filter("kv.wal_sync.bytes")).unwrap()[0].kind,
        MetricKind::Cost
    );
    // The values are the field's.
    let mut vals: Vec<f64> = s[0].points.iter().map(|p| p.value).take(3).collect();
    vals.sort_by(f64::total_cmp);
    assert_eq!(vals, [0.0, 4096.0, 8192.0]);
}

#[test]
fn a_non_numeric_field_or_a_bad_dimension_is_a_typed_error() {
    let (_dir, m) = open();
    record_history(&m);
    let c = ObservabilityCartridge::init(&m, CartridgeConfig::default()).unwrap();
    let msg = |metric: &str| match c.series_where(&filter(metric)) {
        Err(CartridgeError::Metric { metric: m, reason }) => format!("{m}: {reason}"),
        other => panic!("{metric}: expected a metric error, got {other:?}"),
    };
    let e = msg("kv.wal_sync.file");
    assert!(e.contains("no numeric field \"file\""), "{e}");
    assert!(e.contains("bytes, duration_ns"), "{e}");
    let e = msg("kv.wal_sync.nope");
    assert!(e.contains("no numeric field \"nope\""), "{e}");
    let e = msg("kv.wal_sync.duration_ns{bytes}");
    assert!(
        e.contains("\"bytes\" of kv.wal_sync is not a string field"),
        "{e}"
    );
    let e = msg("kv.wal_sync.duration_ns{shard}");
    assert!(e.contains("no field \"shard\""), "{e}");
    assert!(e.contains("file, commit"), "{e}");
    // A name no event has: no series, no error (the CLI says "no samples").
    assert!(c.series_where(&filter("kv.nothing.x")).unwrap().is_empty());
}

#[test]
fn the_viewer_and_time_window_apply_to_user_events() {
    let (_dir, m) = open();
    let site = northstar_core::__user_event_site!("kv.priv"; [duration_ns] []);
    for (actor, vis, d) in [
        (7, Visibility::Private, 10u64),
        (8, Visibility::Public, 20),
        (7, Visibility::Private, 30),
    ] {
        m.recorder().record_user(site, actor, vis, &(&d,)).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    m.flush().unwrap();
    let c = ObservabilityCartridge::init(&m, CartridgeConfig::default()).unwrap();
    let values = |f: SampleFilter| -> Vec<f64> {
        c.series_where(&f)
            .unwrap()
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.value))
            .collect()
    };
    assert_eq!(values(filter("kv.priv.duration_ns")), [10.0, 20.0, 30.0]);
    let as_actor = |id| SampleFilter {
        viewer: Viewer::Actor { actor_id: id },
        ..filter("kv.priv.duration_ns")
    };
    assert_eq!(values(as_actor(8)), [20.0]);
    assert_eq!(values(as_actor(7)), [10.0, 20.0, 30.0]);
    let all = m
        .query(&northstar_store::Query {
            user_types: vec!["kv.priv".into()],
            ..Default::default()
        })
        .unwrap();
    let second = all[1].timestamp;
    let windowed = SampleFilter {
        since: Some(second),
        ..filter("kv.priv.duration_ns")
    };
    assert_eq!(values(windowed), [20.0, 30.0]);
}
