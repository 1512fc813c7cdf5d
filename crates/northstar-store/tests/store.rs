//! End-to-end behaviour of the store: round trip, queries, index use, visibility, roll,
//! stats, retention, index rebuild.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use northstar_core::events::PerfSample;
use northstar_core::{Event, EventType, Visibility};
use northstar_store::unix_now_ns;
use northstar_store::{EventManager, Query, StoreConfig, Viewer};

fn perf_value(e: &northstar_store::StoredEvent) -> f64 {
    match e.event().unwrap() {
        Event::PerfSample(PerfSample { value, .. }) => value,
        other => panic!("not a perf sample: {other:?}"),
    }
}

#[test]
fn recorded_events_come_back_in_timestamp_order_after_flush() {
    let dir = tempfile::tempdir().unwrap();
    let m = EventManager::open(dir.path(), small_config()).unwrap();
    for i in 0..1000 {
        sample(&m, i as f64, &[7]);
    }
    m.flush().unwrap();
    let all = m.query(&Query::default()).unwrap();
    assert_eq!(all.len(), 1000);
    let values: Vec<f64> = all.iter().map(perf_value).collect();
    assert_eq!(values, (0..1000).map(|i| i as f64).collect::<Vec<_>>());
    assert!(all.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
    let ids: BTreeSet<u64> = all.iter().map(|e| e.event_id).collect();
    assert_eq!(ids.len(), 1000, "event ids are unique");
    // Limit keeps the earliest.
    let first = m
        .query(&Query {
            limit: Some(10),
            ..Query::default()
        })
        .unwrap();
    assert_eq!(first, all[..10].to_vec());
    m.close().unwrap();
    // Reopen: the same events, from sealed segments.
    let m = EventManager::open(dir.path(), small_config()).unwrap();
    assert_eq!(m.query(&Query::default()).unwrap(), all);
    let ro = EventManager::open_read_only(dir.path()).unwrap();
    assert_eq!(ro.query(&Query::default()).unwrap(), all);
    assert!(ro.flush().is_err(), "read-only store refuses writes");
}

#[test]
fn queries_filter_by_type_time_actor_session() {
    let dir = tempfile::tempdir().unwrap();
    let m = EventManager::open(dir.path(), small_config()).unwrap();
    session_start(&m, 1, 100);
    for i in 0..50 {
        operation(&m, 1, Visibility::Public, 100, i);
        operation(&m, 2, Visibility::Public, 200, i);
    }
    m.flush().unwrap();
    let mid = unix_now_ns();
    std::thread::sleep(Duration::from_millis(5));
    for i in 0..30 {
        sample(&m, i as f64, &[100]);
        note(&m, 3, Visibility::Public, "later");
    }
    m.flush().unwrap();

    let s100 = m.get_session_events(100, &Viewer::System).unwrap();
    assert_eq!(s100.len(), 1 + 50 + 30);
    let s200 = m.get_session_events(200, &Viewer::System).unwrap();
    assert_eq!(s200.len(), 50);
    assert!(s200.iter().all(|e| e.actor_id == 2));

    let notes = m
        .query(&Query {
            event_types: vec![EventType::ReviewNote],
            ..Query::default()
        })
        .unwrap();
    assert_eq!(notes.len(), 30);
    let late = m
        .query(&Query {
            start_time: Some(mid),
            ..Query::default()
        })
        .unwrap();
    assert_eq!(late.len(), 60);
    assert!(late.iter().all(|e| e.timestamp >= mid));
    let early = m
        .query(&Query {
            end_time: Some(mid),
            event_types: vec![EventType::AgentOperation],
            actor_id: Some(1),
            ..Query::default()
        })
        .unwrap();
    assert_eq!(early.len(), 50);
    // Actor events: the latest `limit`, in timestamp order.
    let a1 = m.get_actor_events(1, 5, &Viewer::System).unwrap();
    assert_eq!(a1.len(), 5);
    let all_a1 = m.get_actor_events(1, 1000, &Viewer::System).unwrap();
    assert_eq!(all_a1.len(), 51);
    assert_eq!(a1, all_a1[46..].to_vec());
}

#[test]
fn no_query_path_leaks_a_private_or_foreign_team_event() {
    let dir = tempfile::tempdir().unwrap();
    let m = EventManager::open(dir.path(), small_config()).unwrap();
    m.set_team(1, 10).unwrap();
    m.set_team(2, 10).unwrap();
    m.set_team(3, 20).unwrap();
    for actor in 1..=4u64 {
        for vis in [Visibility::Private, Visibility::Team, Visibility::Public] {
            operation(&m, actor, vis, 500, actor);
            note(&m, actor, vis, "n");
        }
    }
    m.flush().unwrap();
    m.close().unwrap();
    // Team directory persisted; check both a reopened writer and a read-only reader.
    let w = EventManager::open(dir.path(), small_config()).unwrap();
    assert_eq!(w.team_of(2), Some(10));
    drop(w);
    let m = EventManager::open_read_only(dir.path()).unwrap();
    let may_see = |viewer: u64, actor: u64, vis: Visibility| -> bool {
        let team = |a: u64| match a {
            1 | 2 => Some(10),
            3 => Some(20),
            _ => None,
        };
        match vis {
            Visibility::Public => true,
            Visibility::Private => viewer == actor,
            Visibility::Team => {
                viewer == actor || (team(viewer).is_some() && team(viewer) == team(actor))
            }
        }
    };
    for viewer_id in 1..=5u64 {
        let viewer = Viewer::Actor {
            actor_id: viewer_id,
        };
        let mut paths: Vec<(String, Vec<northstar_store::StoredEvent>)> = vec![
            (
                "query".into(),
                m.query(&Query {
                    viewer,
                    ..Query::default()
                })
                .unwrap(),
            ),
            (
                "session".into(),
                m.get_session_events(500, &viewer).unwrap(),
            ),
            (
                "typed".into(),
                m.query(&Query {
                    viewer,
                    event_types: vec![EventType::ReviewNote],
                    ..Query::default()
                })
                .unwrap(),
            ),
        ];
        for actor in 1..=4 {
            paths.push((
                format!("actor {actor}"),
                m.get_actor_events(actor, 100, &viewer).unwrap(),
            ));
            paths.push((
                format!("actor query {actor}"),
                m.query(&Query {
                    viewer,
                    actor_id: Some(actor),
                    ..Query::default()
                })
                .unwrap(),
            ));
        }
        let mut visited = Vec::new();
        m.query_visit(
            &Query {
                viewer,
                ..Query::default()
            },
            |_, r| visited.push((r.actor_id(), r.visibility())),
        )
        .unwrap();
        for (name, events) in &paths {
            for e in events {
                assert!(
                    may_see(viewer_id, e.actor_id, e.visibility),
                    "{name}: viewer {viewer_id} saw {:?} event of actor {}",
                    e.visibility,
                    e.actor_id
                );
            }
        }
        for (actor, vis) in &visited {
            assert!(may_see(viewer_id, *actor, *vis), "visit leaked");
        }
        // And nothing visible is withheld.
        let expected = (1..=4u64)
            .flat_map(|a| {
                [Visibility::Private, Visibility::Team, Visibility::Public].map(|v| (a, v))
            })
            .filter(|&(a, v)| may_see(viewer_id, a, v))
            .count()
            * 2;
        assert_eq!(paths[0].1.len(), expected, "viewer {viewer_id}");
    }
    assert_eq!(
        m.query(&Query::default()).unwrap().len(),
        24,
        "System sees all"
    );
}

#[test]
fn segments_roll_by_size_and_the_index_skips_segments() {
    let dir = tempfile::tempdir().unwrap();
    let m = EventManager::open(dir.path(), small_config()).unwrap();
    let mut marks = Vec::new();
    for round in 0..8 {
        // A mark between rounds, in the events' own time base, with margin on both sides.
        marks.push(store_now(&m));
        std::thread::sleep(Duration::from_millis(1));
        for i in 0..400 {
            operation(&m, round + 1, Visibility::Public, round, i);
        }
        m.flush().unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    let stats = m.stats().unwrap();
    assert!(stats.segments >= 4, "64 KiB segments roll: {stats:?}");
    assert_eq!(stats.events, 3200);
    assert_eq!(stats.per_type, vec![(EventType::AgentOperation, 3200)]);
    assert_eq!(stats.dropped, 0);
    // A time range inside round 5 returns exactly round 5's events.
    let r = m
        .query(&Query {
            start_time: Some(marks[5]),
            end_time: Some(marks[6]),
            ..Query::default()
        })
        .unwrap();
    assert_eq!(r.len(), 400);
    assert!(r.iter().all(|e| e.actor_id == 6));
    assert_eq!(m.get_session_events(3, &Viewer::System).unwrap().len(), 400);
    // The index only skips what cannot match: same answers with and without it.
    for q in [
        Query {
            start_time: Some(marks[2]),
            end_time: Some(marks[4]),
            ..Query::default()
        },
        Query {
            session_id: Some(5),
            ..Query::default()
        },
        Query {
            actor_id: Some(7),
            event_types: vec![EventType::AgentOperation],
            ..Query::default()
        },
        Query {
            event_types: vec![EventType::ReviewNote],
            ..Query::default()
        },
        Query {
            limit: Some(37),
            start_time: Some(marks[1]),
            ..Query::default()
        },
        Query {
            limit: Some(1),
            ..Query::default()
        },
        Query {
            limit: Some(0),
            ..Query::default()
        },
    ] {
        assert_eq!(
            m.query(&q).unwrap(),
            m.query_without_index(&q).unwrap(),
            "{q:?}"
        );
    }
    m.close().unwrap();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "nss") {
            let len = std::fs::metadata(&p).unwrap().len();
            assert!(len <= (64 << 10) + (256 << 10), "{p:?} is {len} bytes");
            assert!(
                p.with_extension("nsi").exists(),
                "sealed segment has an index"
            );
        }
    }
}

#[test]
fn missing_or_damaged_index_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let m = EventManager::open(dir.path(), small_config()).unwrap();
    for i in 0..500 {
        operation(&m, 9, Visibility::Public, 42, i);
    }
    m.close().unwrap();
    let before = EventManager::open_read_only(dir.path())
        .unwrap()
        .query(&Query::default())
        .unwrap();
    let mut indexes: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "nsi"))
        .collect();
    indexes.sort();
    assert!(!indexes.is_empty());
    std::fs::remove_file(&indexes[0]).unwrap();
    if let Some(p) = indexes.get(1) {
        let mut b = std::fs::read(p).unwrap();
        b[100] ^= 0x10;
        std::fs::write(p, b).unwrap();
    }
    let m = EventManager::open(dir.path(), small_config()).unwrap();
    assert!(!m.open_report().indexes_rebuilt.is_empty());
    assert_eq!(m.query(&Query::default()).unwrap(), before);
    assert_eq!(
        m.get_session_events(42, &Viewer::System).unwrap().len(),
        500
    );
    assert!(m.verify().unwrap().is_clean());
}

#[test]
fn compaction_deletes_and_rewrites_expired_segments_and_readers_keep_reading() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        retention: Duration::from_secs(3600),
        ..small_config()
    };
    let retention_ns = 3600 * 1_000_000_000u64;
    let m = EventManager::open(dir.path(), config.clone()).unwrap();
    for i in 0..300 {
        operation(&m, 1, Visibility::Public, 1, i);
    }
    m.close().unwrap(); // sealed: old events
    std::thread::sleep(Duration::from_millis(3));
    let m = EventManager::open(dir.path(), config.clone()).unwrap();
    for i in 0..100 {
        operation(&m, 2, Visibility::Public, 2, i);
    }
    m.flush().unwrap();
    let cut = unix_now_ns();
    std::thread::sleep(Duration::from_millis(3));
    for i in 0..100 {
        operation(&m, 3, Visibility::Public, 3, i);
    }
    m.close().unwrap(); // sealed: half before `cut`, half after
    let m = EventManager::open(dir.path(), config).unwrap();
    for i in 0..50 {
        operation(&m, 4, Visibility::Public, 4, i);
    }
    m.flush().unwrap(); // active segment, holds events newer than `cut`

    let everything = m.query(&Query::default()).unwrap();
    assert_eq!(everything.len(), 550);
    // A lazy reader holding sealed segments while they are compacted away.
    let mut reader = m.query_iter(&Query::default()).unwrap();
    let first = reader.next().unwrap().unwrap();

    let report = m.compact(cut + retention_ns).unwrap();
    assert!(!report.deleted.is_empty(), "{report:?}");
    assert!(
        report
            .rewritten
            .iter()
            .any(|&(_, kept, removed)| kept >= 100 && removed >= 100),
        "{report:?}"
    );

    let mut rest: Vec<_> = reader.map(|e| e.unwrap()).collect();
    rest.insert(0, first);
    assert_eq!(
        rest, everything,
        "the reader saw every event despite compaction"
    );

    let after = m.query(&Query::default()).unwrap();
    assert_eq!(after.len(), 150);
    assert!(after.iter().all(|e| e.timestamp >= cut));
    let kept: Vec<_> = everything
        .iter()
        .filter(|e| e.timestamp >= cut)
        .cloned()
        .collect();
    assert_eq!(after, kept, "kept events keep their ids and bytes");
    assert!(m.verify().unwrap().is_clean());
    // Compacting far in the future never removes the active segment's events.
    m.compact(u64::MAX).unwrap();
    assert_eq!(m.query(&Query::default()).unwrap().len(), 50);
    m.close().unwrap();
    let m = EventManager::open(dir.path(), small_config()).unwrap();
    assert_eq!(m.query(&Query::default()).unwrap().len(), 50);
}

#[test]
fn second_writer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _m = EventManager::open(dir.path(), small_config()).unwrap();
    assert!(matches!(
        EventManager::open(dir.path(), small_config()),
        Err(northstar_store::StoreError::Locked { .. })
    ));
}

#[test]
fn sealed_segments_get_session_filters_off_the_drain_path() {
    use northstar_store::disk::{Filter, SegmentIndex};
    let dir = tempfile::tempdir().unwrap();
    let m = EventManager::open(dir.path(), small_config()).unwrap();
    for round in 0..6u64 {
        for i in 0..300 {
            operation(&m, 1, Visibility::Public, 1000 + round, i);
        }
        sample(&m, round as f64, &[2000 + round]);
        m.flush().unwrap();
    }
    // While writing, session queries are exact whatever the index knows yet.
    assert_eq!(
        m.get_session_events(1003, &Viewer::System).unwrap().len(),
        300
    );
    assert_eq!(
        m.get_session_events(2004, &Viewer::System).unwrap().len(),
        1
    );
    m.close().unwrap();
    // Every sealed segment has an index file with real session information: each names
    // only the sessions it holds (a filter that matched everything would match them all).
    let mut segments = 0;
    let mut skipped = 0;
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "nss") {
            segments += 1;
            let idx = SegmentIndex::decode(&std::fs::read(p.with_extension("nsi")).unwrap())
                .expect("index file written at seal");
            assert!(!idx.sessions_pending());
            let missing = (1000..1006u64).chain(2000..2006).any(|s| {
                !idx.may_match(&Filter {
                    session: Some(s),
                    ..Filter::all()
                })
            });
            skipped += usize::from(missing);
        }
    }
    assert!(segments >= 3, "64 KiB segments roll");
    assert_eq!(
        skipped, segments,
        "each segment's filter rules out other sessions"
    );
    let ro = EventManager::open_read_only(dir.path()).unwrap();
    assert!(ro.open_report().indexes_rebuilt.is_empty());
    assert_eq!(
        ro.get_session_events(1003, &Viewer::System).unwrap().len(),
        300
    );
    assert_eq!(
        ro.get_session_events(2004, &Viewer::System).unwrap().len(),
        1
    );
}

#[test]
fn events_become_visible_without_flush_once_the_rings_run_dry() {
    let dir = tempfile::tempdir().unwrap();
    let m = EventManager::open(dir.path(), small_config()).unwrap();
    for i in 0..10 {
        sample(&m, i as f64, &[]);
    }
    let start = std::time::Instant::now();
    while m.query(&Query::default()).unwrap().len() < 10 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "drained events never published"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn imported_events_keep_their_own_timestamps() {
    use northstar_core::events::ReviewNote;
    use northstar_core::List;
    let dir = tempfile::tempdir().unwrap();
    let m = EventManager::open(dir.path(), small_config()).unwrap();
    let base = 1_704_067_200_000_000_000u64; // 2024-01-01, long before "now"
    let note = |text| ReviewNote {
        target_type: "commit",
        target_id: "abc123",
        note_text: text,
        references: List::EMPTY,
        created_at: 1,
    };
    sample(&m, 1.0, &[]); // a live event, stamped now
                          // Imported out of order: the store keeps each timestamp, queries sort by it.
    for (i, ts) in [5u64, 1, 3, 2, 4].into_iter().enumerate() {
        m.record_at(
            base + ts,
            7,
            Visibility::Team,
            &note(["a", "b", "c", "d", "e"][i]),
        )
        .unwrap();
    }
    let ev = Event::ReviewNote(note("f"));
    m.record_event_at(base + 6, 8, Visibility::Private, &ev)
        .unwrap();
    m.flush().unwrap();
    let check = |m: &EventManager| {
        let old = m
            .query(&Query {
                end_time: Some(base + 1_000),
                ..Query::default()
            })
            .unwrap();
        let ts: Vec<u64> = old.iter().map(|e| e.timestamp - base).collect();
        assert_eq!(ts, vec![1, 2, 3, 4, 5, 6]);
        let texts: Vec<String> = old
            .iter()
            .map(|e| match e.event().unwrap() {
                Event::ReviewNote(n) => n.note_text.to_owned(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(texts, ["b", "d", "c", "e", "a", "f"]);
        assert_eq!(old[5].actor_id, 8);
        assert_eq!(old[5].visibility, Visibility::Private);
        let all = m.query(&Query::default()).unwrap();
        assert_eq!(all.len(), 7);
        assert!(
            all[6].timestamp > base + 1_000_000_000,
            "the live event is stamped now"
        );
    };
    check(&m);
    m.close().unwrap();
    let ro = EventManager::open_read_only(dir.path()).unwrap();
    check(&ro);
    // Refusals are typed: read-only store, oversize payload.
    assert!(matches!(
        ro.record_at(base, 1, Visibility::Public, &note("x")),
        Err(northstar_store::StoreError::ReadOnly)
    ));
    let m = EventManager::open(dir.path(), small_config()).unwrap();
    let big = "x".repeat(2 << 20);
    assert!(matches!(
        m.record_at(base, 1, Visibility::Public, &note(&big)),
        Err(northstar_store::StoreError::PayloadTooLarge {
            limit: 1_048_576,
            ..
        })
    ));
    m.flush().unwrap();
    assert_eq!(m.query(&Query::default()).unwrap().len(), 7);
}

#[test]
fn many_imports_are_bounded_and_all_stored() {
    let dir = tempfile::tempdir().unwrap();
    let m = EventManager::open(dir.path(), small_config()).unwrap();
    let ev = Event::AgentSessionEnded(northstar_core::events::AgentSessionEnded { session_id: 9 });
    for i in 0..100_000u64 {
        m.record_event_at(1_000 + i, 1, Visibility::Public, &ev)
            .unwrap();
    }
    m.close().unwrap();
    let ro = EventManager::open_read_only(dir.path()).unwrap();
    let all = ro.get_session_events(9, &Viewer::System).unwrap();
    assert_eq!(all.len(), 100_000);
    assert!(all
        .iter()
        .enumerate()
        .all(|(i, e)| e.timestamp == 1_000 + i as u64));
}
