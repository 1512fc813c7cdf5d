//! The cartridge's limits: the core's lock-free per-metric rate limiter, and a deterministic
//! sampler (an exact fraction of each metric's samples, which makes sampling reproducible;
//! the core's sampler, for the macros, draws from a per-thread generator instead).

use std::sync::atomic::{AtomicU64, Ordering};

/// Metrics with their own token bucket; further metrics share one overflow bucket (limited
/// together, never unlimited).
pub const RATE_LIMITED_METRICS: usize = 1024;

/// Per-metric rate limiting: the core's lock-free table of token buckets (GCRA), so recording
/// a metric takes no lock.
pub type RateLimiter = northstar_core::limits::RateLimiter<RATE_LIMITED_METRICS>;

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
