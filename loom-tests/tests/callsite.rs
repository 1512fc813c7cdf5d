//! Loom model of user-event call-site registration (`northstar_core::user`): two threads make
//! the first call of one call site at once. Neither waits; both get the same id; and a reader
//! that learns the id through a Release/Acquire publish (what a ring does) finds the call site
//! and its types in the table, in every interleaving. Weakening the table store or the id CAS
//! to `Relaxed` makes the reader miss the entry.
#![cfg(loom)]
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]

mod common;

use common::model;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use northstar_core::user::{self, Callsite, Meta, Values};

static META: Meta = Meta {
    name: "kv.wal_sync",
    fields: &["bytes"],
    consts: &[],
};

type V<'a> = (&'a u64,);

fn check_visible(cs: &'static Callsite, published: &AtomicUsize) {
    let id = published.load(Ordering::Acquire);
    if id != 0 {
        let s = user::lookup(id as u32).expect("an id seen through a publish is in the table");
        assert!(std::ptr::eq(s.callsite, cs));
        assert_eq!(s.types, <V<'_> as Values>::TYPES);
    }
}

#[test]
fn racing_first_calls_register_once_and_never_wait() {
    model("racing_first_calls_register_once_and_never_wait", 3, || {
        let cs: &'static Callsite = Box::leak(Box::new(Callsite::new(&META)));
        let pub_a = Arc::new(AtomicUsize::new(0));
        let pub_b = Arc::new(AtomicUsize::new(0));
        let recorder = |p: Arc<AtomicUsize>| {
            move || {
                let id = cs.id::<V<'_>>().expect("table has room");
                // What a ring's publish does for the record carrying the id.
                p.store(id as usize, Ordering::Release);
                id
            }
        };
        let a = thread::spawn(recorder(pub_a.clone()));
        let b = thread::spawn(recorder(pub_b.clone()));
        // The flusher: reads whatever has been published so far.
        check_visible(cs, &pub_a);
        check_visible(cs, &pub_b);
        let (ia, ib) = (a.join().expect("a"), b.join().expect("b"));
        assert_eq!(ia, ib, "both first calls use the one published id");
        // A later call takes the fast path and gets the same id.
        assert_eq!(cs.id::<V<'_>>(), Ok(ia));
    });
}
