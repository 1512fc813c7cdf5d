//! The cartridge's hot-path limits: a lock-free per-metric token bucket (GCRA: one atomic
//! "theoretical arrival time" per metric) and a deterministic sampler.
//!
//! Kept in this crate because `northstar_core::limits` was still being written when the
//! cartridge was; the behaviour is the spec's (per-metric rate, 1.0 = keep everything).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// One metric's token bucket, as a generic cell rate algorithm: a request at `now` is admitted
/// when the theoretical arrival time, advanced by one interval, is at most `burst` intervals
/// ahead of `now`.
#[derive(Debug)]
pub struct TokenBucket {
    tat: AtomicU64,
    interval_ns: u64,
    tolerance_ns: u64,
}

impl TokenBucket {
    /// `rate_per_sec` admissions per second on average, bursts of up to `burst` (at least 1).
    pub fn new(rate_per_sec: u32, burst: u32) -> Self {
        let interval_ns = 1_000_000_000 / u64::from(rate_per_sec.max(1));
        Self {
            tat: AtomicU64::new(0),
            interval_ns,
            tolerance_ns: interval_ns * u64::from(burst.max(1)),
        }
    }

    /// Admits one request at `now_ns` (monotonic nanoseconds), or refuses it.
    pub fn try_acquire(&self, now_ns: u64) -> bool {
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let next = tat.max(now_ns) + self.interval_ns;
            if next - now_ns > self.tolerance_ns {
                return false;
            }
            match self
                .tat
                .compare_exchange_weak(tat, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(seen) => tat = seen,
            }
        }
    }
}

/// Per-metric buckets. The common case (the metric's bucket exists) takes a read lock and
/// one compare-and-swap; a new metric name takes the write lock once.
#[derive(Debug)]
pub struct RateLimiter {
    rate_per_sec: u32,
    buckets: RwLock<HashMap<String, Arc<TokenBucket>>>,
}

impl RateLimiter {
    /// A limiter of `rate_per_sec` per metric, bursts of one second's worth.
    pub fn new(rate_per_sec: u32) -> Self {
        Self {
            rate_per_sec,
            buckets: RwLock::new(HashMap::new()),
        }
    }

    /// Admits one sample of `metric` at `now_ns`.
    pub fn try_acquire(&self, metric: &str, now_ns: u64) -> bool {
        let bucket = {
            let map = self.buckets.read().unwrap_or_else(|e| e.into_inner());
            map.get(metric).cloned()
        };
        let bucket = match bucket {
            Some(b) => b,
            None => {
                let mut map = self.buckets.write().unwrap_or_else(|e| e.into_inner());
                map.entry(metric.to_string())
                    .or_insert_with(|| {
                        Arc::new(TokenBucket::new(self.rate_per_sec, self.rate_per_sec))
                    })
                    .clone()
            }
        };
        bucket.try_acquire(now_ns)
    }
}

/// Keeps a `rate` fraction of samples, deterministically: sample `n` is kept when
/// `floor((n + 1) · rate) > floor(n · rate)`, so any window of samples keeps within one of
/// `rate · len`.
#[derive(Debug)]
pub struct Sampler {
    rate: f64,
    seen: AtomicU64,
}

impl Sampler {
    /// A sampler keeping `rate` (0.0 to 1.0) of samples.
    pub fn new(rate: f64) -> Self {
        Self {
            rate: rate.clamp(0.0, 1.0),
            seen: AtomicU64::new(0),
        }
    }

    /// Whether to keep the next sample.
    pub fn keep(&self) -> bool {
        if self.rate >= 1.0 {
            return true;
        }
        let n = self.seen.fetch_add(1, Ordering::Relaxed) as f64;
        ((n + 1.0) * self.rate).floor() > (n * self.rate).floor()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_admits_a_burst_then_the_rate() {
        let b = TokenBucket::new(10, 10);
        let admitted = (0..50).filter(|_| b.try_acquire(1_000_000_000)).count();
        assert_eq!(admitted, 10);
        // 100 ms later: one more token (10/sec).
        assert!(b.try_acquire(1_100_000_000));
        assert!(!b.try_acquire(1_100_000_000));
    }

    #[test]
    fn limiter_is_per_metric() {
        let l = RateLimiter::new(2);
        assert!(l.try_acquire("a", 5_000_000_000));
        assert!(l.try_acquire("a", 5_000_000_000));
        assert!(!l.try_acquire("a", 5_000_000_000));
        assert!(l.try_acquire("b", 5_000_000_000));
    }

    #[test]
    fn sampler_keeps_the_fraction() {
        for (rate, expect) in [(1.0, 1000), (0.0, 0), (0.25, 250), (0.1, 100), (0.333, 333)] {
            let s = Sampler::new(rate);
            assert_eq!(
                (0..1000).filter(|_| s.keep()).count(),
                expect,
                "rate {rate}"
            );
        }
    }
}
