//! Lock-free rate limiting. Needs compare-and-swap.

use crate::sync::{const_fn, AtomicUsize, Ordering};

/// Sentinel interval of a bucket with rate 0 (refuses everything).
const NEVER: usize = usize::MAX / 4;
/// How far apart two threads' clock readings may be taken and used out of order. A stored time
/// ahead of now by more than the window plus this slack can only be a stale value from a
/// clock wrap; within it, it is a legitimately exhausted bucket seen by a caller whose
/// timestamp is slightly older than the last taker's.
const SKEW_SLACK_NS: usize = 1_000_000;

/// A lock-free token bucket, as the generic cell rate algorithm (GCRA): one atomic word, the
/// "theoretical arrival time" of the next conforming event. An event conforms when that time
/// is at most `burst - 1` intervals ahead of now; taking it pushes the time one interval on.
///
/// Time is in nanoseconds, kept in a `usize` with wrapping arithmetic so it works with 32-bit
/// atomics; on 32-bit targets the burst window (`burst / rate` seconds) must stay under 2 s.
pub struct TokenBucket {
    tat: AtomicUsize,
    interval_ns: usize,
    tolerance_ns: usize,
}

impl core::fmt::Debug for TokenBucket {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TokenBucket")
            .field("interval_ns", &self.interval_ns)
            .field("tolerance_ns", &self.tolerance_ns)
            .finish_non_exhaustive()
    }
}

impl TokenBucket {
    const_fn! {
        /// A bucket allowing `rate_per_sec` events per second on average and bursts of up to
        /// `burst` events. A rate of 0 refuses everything.
        pub fn new(rate_per_sec: u32, burst: u32) -> Self {
            let interval_ns = if rate_per_sec == 0 { NEVER } else { (1_000_000_000 / rate_per_sec as u64) as usize };
            let burst = if burst == 0 { 1 } else { burst as usize };
            Self { tat: AtomicUsize::new(0), interval_ns, tolerance_ns: interval_ns.saturating_mul(burst - 1) }
        }
    }

    /// Takes one token at time `now_ns` if the bucket has one. Never blocks: under contention
    /// it retries the compare-and-swap a bounded number of times, then refuses.
    #[inline]
    pub fn try_acquire(&self, now_ns: u64) -> bool {
        if self.interval_ns == NEVER {
            return false;
        }
        let now = now_ns as usize;
        let mut tat = self.tat.load(Ordering::Relaxed);
        for _ in 0..64 {
            let ahead = tat.wrapping_sub(now) as isize;
            let base = if ahead <= 0 {
                now
            } else if ahead as usize <= self.tolerance_ns {
                tat
            } else if ahead as usize
                <= self
                    .tolerance_ns
                    .saturating_add(self.interval_ns)
                    .saturating_add(SKEW_SLACK_NS)
            {
                // Exhausted (possibly seen by a caller whose clock reading is a little older
                // than the last taker's: still exhausted, never a refill).
                return false;
            } else {
                // Further ahead than any conforming event plus clock skew can push it: a stale
                // value from a clock wrap. Start over from now.
                now
            };
            match self.tat.compare_exchange_weak(
                tat,
                base.wrapping_add(self.interval_ns),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => tat = actual,
            }
        }
        false
    }
}

/// FNV-1a hash of a metric name, never 0 (0 marks an empty table slot).
fn metric_key(name: &str) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h as usize) | 1
}

/// Per-metric token buckets in a fixed, lock-free table keyed by a hash of the metric name.
/// A metric claims a slot with one compare-and-swap on first use. When the table is full,
/// further metrics share one overflow bucket (limited together, never unlimited).
pub struct RateLimiter<const N: usize> {
    keys: [AtomicUsize; N],
    buckets: [TokenBucket; N],
    overflow: TokenBucket,
}

impl<const N: usize> core::fmt::Debug for RateLimiter<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("slots", &N)
            .field("overflow", &self.overflow)
            .finish_non_exhaustive()
    }
}

impl<const N: usize> RateLimiter<N> {
    /// A table whose every metric gets `rate_per_sec`, with a burst of one second's worth.
    #[cfg(not(loom))]
    pub const fn new(rate_per_sec: u32) -> Self {
        let mut table = Self {
            keys: [const { AtomicUsize::new(0) }; N],
            buckets: [const { TokenBucket::new(0, 1) }; N],
            overflow: TokenBucket::new(rate_per_sec, rate_per_sec),
        };
        let mut i = 0;
        while i < N {
            table.buckets[i].interval_ns = table.overflow.interval_ns;
            table.buckets[i].tolerance_ns = table.overflow.tolerance_ns;
            i += 1;
        }
        table
    }

    /// Takes a token for `metric` at `now_ns`.
    pub fn try_acquire(&self, metric: &str, now_ns: u64) -> bool {
        let key = metric_key(metric);
        let start = key % N;
        for probe in 0..N {
            let i = (start + probe) % N;
            let k = self.keys[i].load(Ordering::Relaxed);
            if k == key {
                return self.buckets[i].try_acquire(now_ns);
            }
            if k == 0 {
                match self.keys[i].compare_exchange(0, key, Ordering::Relaxed, Ordering::Relaxed) {
                    Ok(_) => return self.buckets[i].try_acquire(now_ns),
                    Err(actual) if actual == key => return self.buckets[i].try_acquire(now_ns),
                    Err(_) => continue,
                }
            }
        }
        self.overflow.try_acquire(now_ns)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn token_bucket_allows_burst_then_rate() {
        let b = TokenBucket::new(1000, 10);
        let t0 = 5_000_000_000u64;
        let granted = (0..100).filter(|_| b.try_acquire(t0)).count();
        assert_eq!(granted, 10, "burst of 10 at one instant");
        assert!(
            !b.try_acquire(t0 + 500_000),
            "half an interval later: still empty"
        );
        assert!(
            b.try_acquire(t0 + 1_000_000),
            "one interval later: one token"
        );
        // Over one simulated second of attempts every 100 us, about 1000 (+ the burst left).
        let granted = (0..10_000u64)
            .filter(|i| b.try_acquire(t0 + 2_000_000 + i * 100_000))
            .count();
        assert!((995..=1011).contains(&granted), "granted {granted}");
    }

    #[test]
    fn zero_rate_refuses_everything() {
        let b = TokenBucket::new(0, 5);
        assert!(!b.try_acquire(1));
    }

    #[test]
    fn stale_far_future_state_recovers() {
        let b = TokenBucket::new(1000, 1);
        let t = 1_000_000_000u64;
        assert!(b.try_acquire(t));
        assert!(!b.try_acquire(t), "burst of one is spent");
        // Half the clock's range later the stored time looks far ahead of now (a wrap): it is
        // treated as stale, not as a debt that refuses events for ages.
        assert!(b.try_acquire(t + (1u64 << 63) + 5));
    }

    #[test]
    fn an_older_timestamp_never_refills_an_exhausted_bucket() {
        // Found by loom: a caller whose clock reading is 1 ns older than the last taker's must
        // see the bucket exhausted, not mistake it for a clock wrap and start over.
        let b = TokenBucket::new(1000, 2);
        let t = 7_000_000_000u64;
        assert!(b.try_acquire(t + 1));
        assert!(b.try_acquire(t + 1));
        assert!(!b.try_acquire(t));
        assert!(!b.try_acquire(t));
        assert!(
            !b.try_acquire(t - 900_000),
            "0.9 ms older: still skew, still exhausted"
        );
    }

    #[test]
    fn rate_limiter_is_per_metric() {
        let limiter = RateLimiter::<4>::new(2);
        let t = 10_000_000_000;
        assert_eq!((0..5).filter(|_| limiter.try_acquire("a", t)).count(), 2);
        assert_eq!((0..5).filter(|_| limiter.try_acquire("b", t)).count(), 2);
        // Fill the table; later metrics share the overflow bucket.
        for m in ["c", "d"] {
            assert!(limiter.try_acquire(m, t));
        }
        assert_eq!((0..5).filter(|_| limiter.try_acquire("e", t)).count(), 2);
        assert_eq!(
            (0..5).filter(|_| limiter.try_acquire("f", t)).count(),
            0,
            "overflow bucket shared"
        );
    }
}
