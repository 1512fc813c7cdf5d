//! The Parquet exporter's documented order and memory bound: row groups cut at the row and
//! byte limits, each one type sorted by (timestamp, event_id), a type's row groups in store
//! order, every event exactly once.

use northstar_core::codec::List;
use northstar_core::events::{AgentOperation, AgentSessionEnded};
use northstar_core::Visibility;
use northstar_export::parquet::{ParquetLimits, ParquetSink};
use northstar_export::{export, Selection};
use northstar_store::{EventManager, StoreConfig};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;

const T0: u64 = 1_700_000_000_000_000_000;

/// Operations whose timestamps go backwards in store order within each run of ten, and
/// session ends: `n` operations and `n / 5` session ends.
fn store(dir: &std::path::Path, n: u64) {
    let em = EventManager::open(dir, StoreConfig::default()).unwrap();
    for i in 0..n {
        let ts = T0 + (i / 10) * 100_000 + (9 - i % 10) * 1000;
        let op = AgentOperation {
            session_id: i % 3,
            operation_type: "get",
            operation_id: i,
            target_type: "btree",
            target_id: "k",
            status: "completed",
            duration_ns: Some(i as i64),
            metadata: List::EMPTY,
        };
        em.record_at(ts, 7, Visibility::Public, &op).unwrap();
        if i % 5 == 0 {
            em.record_at(
                ts + 1,
                7,
                Visibility::Team,
                &AgentSessionEnded { session_id: i },
            )
            .unwrap();
        }
    }
    em.close().unwrap();
}

/// (event_type, timestamp_ns, event_id) per row, per row group, in file order.
fn read(path: &std::path::Path) -> Vec<Vec<(String, u64, u64)>> {
    let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..reader.metadata().num_row_groups())
        .map(|g| {
            let group = reader.get_row_group(g).unwrap();
            group
                .get_row_iter(None)
                .unwrap()
                .map(|row| {
                    let row = row.unwrap();
                    let f: Vec<Field> = row.get_column_iter().map(|(_, f)| f.clone()).collect();
                    let (Field::Str(ty), Field::ULong(ts), Field::ULong(id)) =
                        (&f[1], &f[4], &f[0])
                    else {
                        panic!("{f:?}")
                    };
                    (ty.clone(), *ts, *id)
                })
                .collect()
        })
        .collect()
}

fn export_with(dir: &std::path::Path, limits: ParquetLimits) -> Vec<Vec<(String, u64, u64)>> {
    let out = dir.join("out.parquet");
    let mut sink = ParquetSink::with_limits(std::fs::File::create(&out).unwrap(), limits).unwrap();
    let t = export(
        &dir.join("store"),
        Selection::default(),
        &mut sink,
        &mut |_| {},
        &mut |p| panic!("{p}"),
    )
    .unwrap();
    assert_eq!(sink.stats().rows, t.events);
    read(&out)
}

/// Checks the documented guarantees; returns the number of rows.
fn check(groups: &[Vec<(String, u64, u64)>], max_rows: usize) -> usize {
    let mut last_id_of_type = std::collections::HashMap::new();
    let mut ids = Vec::new();
    for (g, rows) in groups.iter().enumerate() {
        assert!(
            !rows.is_empty() && rows.len() <= max_rows,
            "group {g}: {}",
            rows.len()
        );
        let ty = &rows[0].0;
        assert!(rows.iter().all(|r| &r.0 == ty), "group {g} mixes types");
        let keys: Vec<(u64, u64)> = rows.iter().map(|r| (r.1, r.2)).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(
            keys, sorted,
            "group {g} not sorted by (timestamp, event_id)"
        );
        let (min_id, max_id) = (
            rows.iter().map(|r| r.2).min().unwrap(),
            rows.iter().map(|r| r.2).max().unwrap(),
        );
        if let Some(prev) = last_id_of_type.insert(ty.clone(), max_id) {
            assert!(
                prev < min_id,
                "group {g}: {ty}'s row groups out of store order"
            );
        }
        ids.extend(rows.iter().map(|r| r.2));
    }
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "an event twice");
    n
}

#[test]
fn row_groups_are_cut_at_the_limits_one_type_each_sorted_by_time() {
    let base = tempfile::tempdir().unwrap();
    store(&base.path().join("store"), 200);
    let all = 200 + 40;

    // Default limits: one row group per type, in type-name order at the end.
    let groups = export_with(base.path(), ParquetLimits::default());
    assert_eq!(check(&groups, usize::MAX), all);
    let types: Vec<&str> = groups.iter().map(|g| g[0].0.as_str()).collect();
    assert_eq!(types, ["agent_operation", "agent_session_ended"]);
    // Store order is not time order here, so the sort did something.
    let ops = &groups[0];
    assert!(
        ops.windows(2).any(|w| w[0].2 > w[1].2),
        "not reordered by time"
    );

    // The row limit.
    let groups = export_with(
        base.path(),
        ParquetLimits {
            rows: 7,
            bytes: usize::MAX,
        },
    );
    assert_eq!(check(&groups, 7), all);
    assert_eq!(groups.len(), 200usize.div_ceil(7) + 40usize.div_ceil(7));

    // The byte limit across types: the largest buffer goes first, so groups are smaller than
    // the row limit and more than one per type.
    let groups = export_with(
        base.path(),
        ParquetLimits {
            rows: 1000,
            bytes: 4096,
        },
    );
    assert_eq!(check(&groups, 1000), all);
    assert!(groups.len() > 4, "{} row groups", groups.len());
}

#[test]
fn zero_rows_per_group_is_refused() {
    let err = ParquetSink::with_limits(Vec::new(), ParquetLimits { rows: 0, bytes: 1 });
    assert!(err.is_err());
}
