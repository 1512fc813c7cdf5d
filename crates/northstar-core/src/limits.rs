//! Hot-path safety from the spec: payload size limit, per-metric token-bucket rate limiting,
//! sampling. Refusals are counted on the producer's ring ([`crate::ring::Refusal`]).

#[cfg(northstar_cas)]
mod rate;
#[cfg(northstar_cas)]
pub use self::rate::{RateLimiter, TokenBucket};

/// The spec's default payload limit: 1 MiB.
pub const DEFAULT_PAYLOAD_LIMIT: usize = 1 << 20;
// The default limit must fit the record framing's length field.
static_assertions::const_assert!(crate::record::MAX_PAYLOAD_LEN >= DEFAULT_PAYLOAD_LIMIT);
/// The spec's default rate limit per metric: 1000 events per second.
pub const DEFAULT_RATE_PER_SEC: u32 = 1000;

/// A payload size limit (the spec: 1 MiB by default, configurable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayloadLimit(pub usize);

impl Default for PayloadLimit {
    fn default() -> Self {
        Self(DEFAULT_PAYLOAD_LIMIT)
    }
}

impl PayloadLimit {
    /// Whether a payload of `len` bytes is allowed.
    #[inline(always)]
    pub fn allows(&self, len: usize) -> bool {
        len <= self.0
    }
}

/// Decides which events to keep at a sampling rate (the spec: 1.0 keeps everything).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sampler {
    /// Keep when a uniform `u64` is below this; `u64::MAX` keeps all.
    threshold: u64,
}

impl Sampler {
    /// A sampler keeping about `rate` of events (clamped to 0..=1; NaN keeps none).
    pub const fn new(rate: f64) -> Self {
        let threshold = if rate >= 1.0 {
            u64::MAX
        } else if rate > 0.0 {
            (rate * u64::MAX as f64) as u64
        } else {
            0
        };
        Self { threshold }
    }

    /// Whether this sampler keeps everything (the common case, decided without a draw).
    #[inline(always)]
    pub fn keeps_all(&self) -> bool {
        self.threshold == u64::MAX
    }

    /// Draws from `rng` and decides.
    #[inline(always)]
    pub fn keep(&self, rng: &mut FastRng) -> bool {
        self.keeps_all() || rng.next_u64() < self.threshold
    }
}

/// A small, fast per-thread generator (xorshift64*). For sampling only.
#[derive(Clone, Copy, Debug)]
pub struct FastRng(u64);

impl FastRng {
    /// A generator from a seed (0 is replaced by a fixed odd constant).
    pub const fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next value.
    #[inline(always)]
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn sampler_rates() {
        let mut rng = FastRng::new(42);
        assert!(Sampler::new(1.0).keeps_all());
        assert_eq!(
            (0..1000)
                .filter(|_| Sampler::new(0.0).keep(&mut rng))
                .count(),
            0
        );
        let kept = (0..100_000)
            .filter(|_| Sampler::new(0.25).keep(&mut rng))
            .count();
        assert!((23_500..26_500).contains(&kept), "kept {kept}");
        assert_eq!(
            (0..10)
                .filter(|_| Sampler::new(f64::NAN).keep(&mut rng))
                .count(),
            0
        );
    }
}
