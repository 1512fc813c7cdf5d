//! Loom model of interned spec call-site registration (`northstar_core::__private::interned`,
//! behind `perf_sample!` and `operation!`): two threads make the first call of one call site at once.
//! Neither waits; both get the same id; and a drain that learns the id through a
//! Release/Acquire publish (what a ring does) finds the site, with its static strings, in the
//! table in every interleaving. Two different sites racing get different ids. Weakening the id
//! CAS to `Relaxed` makes the drain miss the entry when it learns the id from the thread that
//! lost the race (checked: the first model then fails).
#![cfg(loom)]
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]

mod common;

use common::model;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use northstar_core::__private::interned::{self, OpMeta, PerfMeta, Site, SiteMeta};

static PERF: PerfMeta = PerfMeta {
    name: Some("get_latency_ns"),
    unit: Some("ns"),
    dims: &[(Some("mode"), None)],
};
static OP: OpMeta = OpMeta {
    operation_type: Some("get"),
    target_type: Some("btree"),
    target_id: None,
};

fn check_visible(site: &'static Site, published: &AtomicUsize) {
    let id = published.load(Ordering::Acquire);
    if id != 0 {
        let s = interned::lookup(id as u32).expect("an id seen through a publish is in the table");
        assert!(std::ptr::eq(s, site));
        match s.meta() {
            SiteMeta::Perf(m) => assert_eq!(m.name, Some("get_latency_ns")),
            SiteMeta::Operation(m) => assert_eq!(m.operation_type, Some("get")),
        }
    }
}

fn recorder(site: &'static Site, p: Arc<AtomicUsize>) -> impl FnOnce() -> u32 {
    move || {
        let id = site.id().expect("table has room");
        // What a ring's publish does for the record carrying the id.
        p.store(id as usize, Ordering::Release);
        id
    }
}

#[test]
fn racing_first_calls_of_one_site_register_once_and_never_wait() {
    model(
        "racing_first_calls_of_one_site_register_once_and_never_wait",
        3,
        || {
            let site: &'static Site = Box::leak(Box::new(Site::perf(&PERF)));
            let pub_a = Arc::new(AtomicUsize::new(0));
            let pub_b = Arc::new(AtomicUsize::new(0));
            let a = thread::spawn(recorder(site, pub_a.clone()));
            let b = thread::spawn(recorder(site, pub_b.clone()));
            // The drain: reads whatever has been published so far.
            check_visible(site, &pub_a);
            check_visible(site, &pub_b);
            let (ia, ib) = (a.join().expect("a"), b.join().expect("b"));
            assert_eq!(ia, ib, "both first calls use the one published id");
            assert_eq!(site.id(), Some(ia), "a later call takes the fast path");
        },
    );
}

#[test]
fn two_sites_racing_get_distinct_ids() {
    model("two_sites_racing_get_distinct_ids", 3, || {
        let perf: &'static Site = Box::leak(Box::new(Site::perf(&PERF)));
        let op: &'static Site = Box::leak(Box::new(Site::op(&OP)));
        let pub_a = Arc::new(AtomicUsize::new(0));
        let pub_b = Arc::new(AtomicUsize::new(0));
        let a = thread::spawn(recorder(perf, pub_a.clone()));
        let b = thread::spawn(recorder(op, pub_b.clone()));
        check_visible(perf, &pub_a);
        check_visible(op, &pub_b);
        let (ia, ib) = (a.join().expect("a"), b.join().expect("b"));
        assert_ne!(ia, ib);
        assert!(std::ptr::eq(interned::lookup(ia).unwrap(), perf));
        assert!(std::ptr::eq(interned::lookup(ib).unwrap(), op));
    });
}
