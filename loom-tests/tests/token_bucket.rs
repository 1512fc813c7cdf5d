//! Loom models of the lock-free token bucket: threads racing on one bucket never get more
//! tokens than it holds.
#![cfg(loom)]
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod common;

use common::model;
use loom::thread;
use northstar_core::limits::TokenBucket;

/// An instant far from 0, so the bucket starts full.
const T0: u64 = 10_000_000_000;

/// Two threads each try `attempts` times against a bucket of `burst` at the given instants;
/// returns the tokens granted in total.
fn race(burst: u32, attempts: usize, now_a: u64, now_b: u64) -> usize {
    let bucket: &'static TokenBucket = Box::leak(Box::new(TokenBucket::new(1000, burst)));
    let other = thread::spawn(move || (0..attempts).filter(|_| bucket.try_acquire(now_b)).count());
    let mine = (0..attempts).filter(|_| bucket.try_acquire(now_a)).count();
    mine + other.join().expect("other thread")
}

/// Burst 2, four attempts at one instant: exactly two granted (never more: the compare-and-swap
/// serialises the takers; never fewer: a lost race retries).
#[test]
fn burst_of_two_at_one_instant() {
    model("burst_of_two_at_one_instant", 3, || {
        assert_eq!(race(2, 2, T0, T0), 2);
    });
}

/// Burst 3, six attempts at one instant: exactly three granted.
#[test]
fn burst_of_three_at_one_instant() {
    model("burst_of_three_at_one_instant", 3, || {
        assert_eq!(race(3, 3, T0, T0), 3);
    });
}

/// Burst 2 at 1000/s, the two threads' clocks 1 ns apart: no new token can accrue in 1 ns, so
/// at most 2 may be granted. This model found a bug: a caller whose timestamp was older than
/// the bucket's last taker took the stored time for a clock wrap and restarted the bucket, so
/// 4 were granted. Fixed by allowing for clock skew (`SKEW_SLACK_NS` in `limits/rate.rs`).
#[test]
fn clocks_one_nanosecond_apart_grant_no_extra_tokens() {
    model(
        "clocks_one_nanosecond_apart_grant_no_extra_tokens",
        3,
        || {
            let granted = race(2, 2, T0, T0 + 1);
            assert!(
                granted <= 2,
                "{granted} tokens granted from a burst of 2 within 1 ns"
            );
        },
    );
}
