//! Clocks. The hot path reads raw ticks (cheap); conversion to Unix nanoseconds happens off the
//! hot path, in the consumer.

/// A source of timestamps.
///
/// `now_ticks` runs on the hot path: it must not allocate, lock, block or make a system call.
/// `ticks_to_unix_nanos` runs in the consumer.
pub trait Clock: Send + Sync {
    /// The current time in the clock's raw ticks.
    fn now_ticks(&self) -> u64;
    /// Converts a tick reading to Unix nanoseconds.
    fn ticks_to_unix_nanos(&self, ticks: u64) -> u64;
    /// Converts a span of ticks to nanoseconds (for durations measured on the hot path).
    fn ticks_to_nanos(&self, ticks: u64) -> u64;
}

/// A firmware clock from a free-running counter of known frequency (a cycle counter, a timer)
/// and the Unix time at which it read zero (0 if the device has no wall clock).
pub struct CounterClock<F: Fn() -> u64 + Send + Sync> {
    read: F,
    hz: u64,
    epoch_unix_ns: u64,
}

impl<F: Fn() -> u64 + Send + Sync> CounterClock<F> {
    /// A clock reading `read`, which counts `hz` ticks per second from `epoch_unix_ns`.
    pub const fn new(read: F, hz: u64, epoch_unix_ns: u64) -> Self {
        Self {
            read,
            hz,
            epoch_unix_ns,
        }
    }
}

impl<F: Fn() -> u64 + Send + Sync> Clock for CounterClock<F> {
    #[inline(always)]
    fn now_ticks(&self) -> u64 {
        (self.read)()
    }

    fn ticks_to_unix_nanos(&self, ticks: u64) -> u64 {
        self.epoch_unix_ns
            .saturating_add(self.ticks_to_nanos(ticks))
    }

    fn ticks_to_nanos(&self, ticks: u64) -> u64 {
        if self.hz == 0 {
            return 0;
        }
        ((u128::from(ticks) * 1_000_000_000) / u128::from(self.hz)) as u64
    }
}

#[cfg(feature = "std")]
pub use self::std_clock::{StdClock, TickConverter};

#[cfg(feature = "std")]
mod std_clock {
    use super::Clock;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    /// How long the TSC is compared against the OS clock before its first use.
    const CALIBRATION: Duration = Duration::from_millis(5);

    /// The std clock: the CPU's time-stamp counter where it is invariant (x86-64 with the
    /// invariant-TSC CPUID bit), calibrated against the OS clock; otherwise the OS monotonic
    /// clock (`Instant`, served by the vDSO without a system call on Linux).
    pub struct StdClock {
        source: Source,
        anchor_instant: Instant,
        anchor_unix_ns: u64,
        anchor_ticks: u64,
        /// Ticks per nanosecond, as `f64` bits; refined by the consumer as time passes.
        ticks_per_ns: AtomicU64,
        /// Nanoseconds since the anchor when `ticks_per_ns` was last measured.
        calibrated_at_ns: AtomicU64,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Source {
        Tsc,
        Monotonic,
    }

    impl StdClock {
        /// The best clock for this machine. Calibrating the TSC takes a few milliseconds: do it
        /// once at start-up (the recorder does), not on a hot path.
        pub fn new() -> Self {
            if tsc_is_invariant() {
                Self::with_source(Source::Tsc)
            } else {
                Self::monotonic()
            }
        }

        /// The OS monotonic clock, whatever the CPU (useful for tests and comparisons).
        pub fn monotonic() -> Self {
            Self::with_source(Source::Monotonic)
        }

        fn with_source(source: Source) -> Self {
            let anchor_unix_ns = unix_now_ns();
            let (anchor_ticks, anchor_instant) = paired_reading(source, None);
            let clock = Self {
                source,
                anchor_instant,
                anchor_unix_ns,
                anchor_ticks,
                ticks_per_ns: AtomicU64::new(1f64.to_bits()),
                calibrated_at_ns: AtomicU64::new(0),
            };
            if source == Source::Tsc {
                std::thread::sleep(CALIBRATION);
                clock.recalibrate();
            }
            clock
        }

        /// Whether ticks come from the TSC.
        pub fn is_tsc(&self) -> bool {
            self.source == Source::Tsc
        }

        /// Measured TSC ticks per nanosecond (1.0 for the monotonic clock).
        pub fn ticks_per_ns(&self) -> f64 {
            f64::from_bits(self.ticks_per_ns.load(Ordering::Relaxed))
        }

        /// Re-measures the tick rate over the whole time since the anchor (more precise as
        /// time passes). Called from the consumer side.
        fn recalibrate(&self) {
            let (now_ticks, now) = paired_reading(self.source, Some(self.anchor_instant));
            let elapsed = now.saturating_duration_since(self.anchor_instant);
            let ticks = now_ticks.wrapping_sub(self.anchor_ticks);
            let ns = elapsed.as_nanos() as f64;
            if ns > 0.0 && ticks > 0 {
                self.ticks_per_ns
                    .store((ticks as f64 / ns).to_bits(), Ordering::Relaxed);
                self.calibrated_at_ns
                    .store(elapsed.as_nanos() as u64, Ordering::Relaxed);
            }
        }

        /// A snapshot of the current conversion, refining the rate first when it is due, for
        /// converting many readings without reading the OS clock for each (the flusher takes
        /// one per pass). `converter().unix_nanos(t)` equals `ticks_to_unix_nanos(t)`.
        pub fn converter(&self) -> TickConverter {
            if self.source == Source::Tsc {
                // Refine the rate when the anchor span has grown tenfold since the last
                // measurement: cheap, and the error shrinks with the span.
                let since = self.anchor_instant.elapsed().as_nanos() as u64;
                if since > 10 * self.calibrated_at_ns.load(Ordering::Relaxed).max(1) {
                    self.recalibrate();
                }
            }
            let rate = self.ticks_per_ns();
            TickConverter {
                anchor_ticks: self.anchor_ticks,
                anchor_unix_ns: self.anchor_unix_ns,
                ticks_per_ns: if rate.is_finite() && rate > 0.0 {
                    rate
                } else {
                    1.0
                },
            }
        }
    }

    impl Default for StdClock {
        fn default() -> Self {
            Self::new()
        }
    }

    impl Clock for StdClock {
        #[inline(always)]
        fn now_ticks(&self) -> u64 {
            read(self.source, self.anchor_instant)
        }

        fn ticks_to_unix_nanos(&self, ticks: u64) -> u64 {
            self.converter().unix_nanos(ticks)
        }

        #[inline]
        fn ticks_to_nanos(&self, ticks: u64) -> u64 {
            (ticks as f64 / self.ticks_per_ns()) as u64
        }
    }

    /// The clock's linear conversion at one moment: `unix = anchor + (ticks - t0) / rate`.
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub struct TickConverter {
        anchor_ticks: u64,
        anchor_unix_ns: u64,
        ticks_per_ns: f64,
    }

    impl TickConverter {
        /// Converts a tick reading to Unix nanoseconds.
        #[inline]
        pub fn unix_nanos(&self, ticks: u64) -> u64 {
            let delta = ticks.wrapping_sub(self.anchor_ticks) as i64;
            let ns = delta as f64 / self.ticks_per_ns;
            (self.anchor_unix_ns as i128 + ns as i128).clamp(0, u64::MAX as i128) as u64
        }
    }

    /// A tick reading and an `Instant` taken together. For the TSC, the `Instant` is read
    /// between two TSC reads and the tightest of several tries is kept, its tick value the
    /// midpoint: a preemption between the two clocks would otherwise skew the calibration.
    /// `anchor` is the monotonic clock's origin (`None` while creating the clock).
    fn paired_reading(source: Source, anchor: Option<Instant>) -> (u64, Instant) {
        if source == Source::Monotonic {
            let now = Instant::now();
            let origin = anchor.unwrap_or(now);
            return (now.saturating_duration_since(origin).as_nanos() as u64, now);
        }
        let origin = anchor.unwrap_or_else(Instant::now);
        let mut best: Option<(u64, u64, Instant)> = None;
        for _ in 0..16 {
            let before = read(source, origin);
            let now = Instant::now();
            let after = read(source, origin);
            let gap = after.wrapping_sub(before);
            if best.is_none_or(|(g, _, _)| gap < g) {
                best = Some((gap, before.wrapping_add(gap / 2), now));
            }
        }
        let (_, ticks, now) = best.unwrap_or((0, read(source, origin), Instant::now()));
        (ticks, now)
    }

    #[inline(always)]
    fn read(source: Source, anchor: Instant) -> u64 {
        match source {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: rdtsc has no preconditions; `Source::Tsc` is only chosen on x86-64 CPUs
            // that report an invariant TSC.
            Source::Tsc => unsafe { core::arch::x86_64::_rdtsc() },
            _ => anchor.elapsed().as_nanos() as u64,
        }
    }

    fn unix_now_ns() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    }

    #[cfg(all(target_arch = "x86_64", not(miri)))]
    fn tsc_is_invariant() -> bool {
        use core::arch::x86_64::__cpuid;
        // CPUID leaf 0x8000_0007, EDX bit 8: invariant TSC (constant rate in all P/C-states).
        let max_ext = __cpuid(0x8000_0000).eax;
        max_ext >= 0x8000_0007 && (__cpuid(0x8000_0007).edx & (1 << 8)) != 0
    }

    // Miri does not run CPUID or RDTSC: it checks the `Instant` fallback path instead.
    #[cfg(any(not(target_arch = "x86_64"), miri))]
    fn tsc_is_invariant() -> bool {
        false
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        #[cfg_attr(
            miri,
            ignore = "compares against the wall clock; time under Miri is interpreted"
        )]
        fn converted_ticks_track_the_wall_clock() {
            for clock in [StdClock::new(), StdClock::monotonic()] {
                let before = unix_now_ns();
                let t = clock.now_ticks();
                let after = unix_now_ns();
                let converted = clock.ticks_to_unix_nanos(t);
                // Within 2 ms of the wall clock around the reading.
                assert!(
                    converted + 2_000_000 >= before && converted <= after + 2_000_000,
                    "{before} <= {converted} <= {after} (tsc: {})",
                    clock.is_tsc()
                );
                let conv = clock.converter();
                for probe in [t, t.wrapping_sub(3_000_000), t + 3_000_000] {
                    assert_eq!(conv.unix_nanos(probe), clock.ticks_to_unix_nanos(probe));
                }
                let t0 = clock.now_ticks();
                std::thread::sleep(Duration::from_millis(20));
                let d = clock.ticks_to_nanos(clock.now_ticks() - t0);
                assert!(
                    (19_000_000..200_000_000).contains(&d),
                    "20 ms sleep measured as {d} ns"
                );
            }
        }
    }
}
