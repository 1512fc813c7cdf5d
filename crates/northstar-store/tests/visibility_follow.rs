//! Visibility: viewer 0 is not a wildcard, and stats follow the query's viewer rule.
//! Following: `query_after` reads by store position, so a future-dated event hides nothing
//! and events of several live threads are each seen exactly once.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use northstar_core::events::AgentSessionEnded;
use northstar_core::Visibility;
use northstar_store::unix_now_ns;
use northstar_store::{EventManager, Query, Viewer};

fn ids(events: &[northstar_store::StoredEvent]) -> Vec<u64> {
    events.iter().map(|e| e.event_id).collect()
}

#[test]
fn viewer_zero_sees_no_private_or_team_event_recorded_without_an_actor() {
    let dir = tempfile::tempdir().unwrap();
    let m = EventManager::open(dir.path(), common::small_config()).unwrap();
    m.set_team(0, 5).unwrap(); // even a team entry for actor 0 must not open anything
    m.set_team(7, 5).unwrap();
    common::note(&m, 0, Visibility::Private, "no actor, private");
    common::note(&m, 0, Visibility::Team, "no actor, team");
    common::note(&m, 0, Visibility::Public, "no actor, public");
    common::note(&m, 7, Visibility::Private, "actor 7, private");
    common::note(&m, 7, Visibility::Team, "actor 7, team");
    m.flush().unwrap();
    let count = |viewer: Viewer| {
        m.query(&Query {
            viewer,
            ..Query::default()
        })
        .unwrap()
        .len()
    };
    assert_eq!(count(Viewer::System), 5, "the operator sees everything");
    assert_eq!(
        count(Viewer::Actor { actor_id: 0 }),
        1,
        "only the public one"
    );
    assert_eq!(count(Viewer::Actor { actor_id: 9 }), 1);
    assert_eq!(
        count(Viewer::Actor { actor_id: 7 }),
        3,
        "public + its own two"
    );
    m.set_team(8, 5).unwrap();
    assert_eq!(
        count(Viewer::Actor { actor_id: 8 }),
        2,
        "public + its team's"
    );
    // stats: the same rule.
    let events = |v: Viewer| m.stats_for(&v).unwrap().events;
    assert_eq!(m.stats().unwrap().events, 5);
    assert_eq!(events(Viewer::System), 5);
    assert_eq!(events(Viewer::Actor { actor_id: 0 }), 1);
    assert_eq!(events(Viewer::Actor { actor_id: 7 }), 3);
    assert_eq!(events(Viewer::Actor { actor_id: 8 }), 2);
}

#[test]
fn a_future_dated_event_does_not_blind_a_follower() {
    let dir = tempfile::tempdir().unwrap();
    let m = EventManager::open(dir.path(), common::small_config()).unwrap();
    let now = unix_now_ns();
    m.record_at(
        now,
        1,
        Visibility::Public,
        &AgentSessionEnded { session_id: 1 },
    )
    .unwrap();
    m.flush().unwrap();
    let mut pos = m.end_position().unwrap();
    assert!(pos.is_some());
    // One event a year ahead, then ordinary ones.
    let year = 365 * 24 * 3_600_000_000_000u64;
    m.record_at(
        now + year,
        1,
        Visibility::Public,
        &AgentSessionEnded { session_id: 2 },
    )
    .unwrap();
    m.flush().unwrap();
    let got = m.query_after(&Query::default(), pos).unwrap().events;
    assert_eq!(got.len(), 1);
    pos = Some(got[0].event_id);
    for s in 3..6 {
        common::operation(&m, 1, Visibility::Public, s, s);
    }
    m.flush().unwrap();
    let got = m.query_after(&Query::default(), pos).unwrap().events;
    assert_eq!(
        got.len(),
        3,
        "events after the future-dated one are followed"
    );
    assert!(got.windows(2).all(|w| w[0].event_id < w[1].event_id));
    // Nothing new: nothing returned, nothing twice.
    let pos = got.last().map(|e| e.event_id);
    assert!(m
        .query_after(&Query::default(), pos)
        .unwrap()
        .events
        .is_empty());
}

#[test]
fn a_follower_sees_every_event_of_four_live_threads_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let m = Arc::new(EventManager::open(dir.path(), common::small_config()).unwrap());
    let done = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4u64)
        .map(|t| {
            let m = m.clone();
            std::thread::spawn(move || {
                for i in 0..5_000u64 {
                    loop {
                        let op = northstar_core::events::AgentOperation {
                            session_id: t,
                            operation_type: "op",
                            operation_id: i,
                            target_type: "t",
                            target_id: "x",
                            status: "ok",
                            duration_ns: None,
                            metadata: northstar_core::List::EMPTY,
                        };
                        if m.record(t + 1, Visibility::Public, &op).is_ok() {
                            break;
                        }
                        std::thread::yield_now(); // ring full: retry
                    }
                }
            })
        })
        .collect();
    // The follower reopens the directory read-only, as `northstar tail` does.
    let d = dir.path().to_owned();
    let flag = done.clone();
    let follower = std::thread::spawn(move || {
        let mut pos = None;
        let mut seen = Vec::new();
        loop {
            let finished = flag.load(Ordering::Acquire);
            let r = EventManager::open_read_only(&d).unwrap();
            let got = r.query_after(&Query::default(), pos).unwrap();
            assert!(got.damaged.is_empty());
            if let Some(last) = got.events.last() {
                pos = Some(last.event_id);
            }
            seen.extend(ids(&got.events));
            if finished {
                return seen;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    });
    for w in writers {
        w.join().unwrap();
    }
    m.flush().unwrap();
    done.store(true, Ordering::Release);
    let seen = follower.join().unwrap();
    let all = ids(&m.query(&Query::default()).unwrap());
    assert_eq!(all.len(), 20_000);
    let unique: BTreeSet<_> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no event seen twice");
    assert_eq!(unique, all.into_iter().collect(), "no event missed");
}
