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

impl<F: Fn() -> u64 + Send + Sync> core::fmt::Debug for CounterClock<F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CounterClock")
            .field("hz", &self.hz)
            .field("epoch_unix_ns", &self.epoch_unix_ns)
            .finish_non_exhaustive()
    }
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
    use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    /// How long the TSC is compared against the OS clock before a converter first uses it.
    const CALIBRATION: Duration = Duration::from_millis(5);
    /// Shortest span over which a rate measured on the hot path is kept for good.
    const MIN_KEPT_SPAN_NS: u64 = 1_000_000;

    const SOURCE_UNKNOWN: u8 = 0;
    const SOURCE_TSC: u8 = 1;
    const SOURCE_MONOTONIC: u8 = 2;

    const ANCHOR_NONE: u8 = 0;
    const ANCHOR_TAKING: u8 = 1;
    const ANCHOR_SET: u8 = 2;

    /// The std clock: the CPU's time-stamp counter where it is invariant (x86-64 with the
    /// invariant-TSC CPUID bit), calibrated against the OS monotonic clock; otherwise the OS
    /// monotonic clock itself (`CLOCK_MONOTONIC`, served by the vDSO without a system call on
    /// Linux), in nanoseconds.
    ///
    /// A clock can be built in a `const` ([`StdClock::lazy`], what the global recorder's
    /// `static` uses): its source is chosen by the first reading (one CPUID, no system call) and
    /// its anchor (a paired tick / Unix-time reading) is taken by the first conversion, or
    /// earlier by [`StdClock::anchor_now`]. [`StdClock::new`] does both at once and calibrates.
    pub struct StdClock {
        source: AtomicU8,
        anchor_state: AtomicU8,
        anchor_ticks: AtomicU64,
        anchor_mono_ns: AtomicU64,
        anchor_unix_ns: AtomicU64,
        /// Ticks per nanosecond, as `f64` bits; refined by the consumer as time passes.
        ticks_per_ns: AtomicU64,
        /// `1 / ticks_per_ns`, as `f64` bits, stored with it: a duration is converted with a
        /// multiplication, not a division (a span's close record converts one on the hot path).
        ns_per_tick: AtomicU64,
        /// Nanoseconds since the anchor when `ticks_per_ns` was last measured; 0: not yet.
        calibrated_at_ns: AtomicU64,
    }

    impl core::fmt::Debug for StdClock {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.debug_struct("StdClock")
                .field("source", &self.source.load(Ordering::Relaxed))
                .field(
                    "anchored",
                    &(self.anchor_state.load(Ordering::Relaxed) == ANCHOR_SET),
                )
                .finish_non_exhaustive()
        }
    }

    impl StdClock {
        /// The best clock for this machine, anchored and calibrated now. Calibrating the TSC
        /// takes a few milliseconds: do it once at start-up (a private recorder does), not on a
        /// hot path.
        pub fn new() -> Self {
            let clock = Self::lazy();
            clock.anchor_now();
            clock.calibrate();
            clock
        }

        /// A clock that does nothing until it is used: no CPUID, no clock reading, no sleep.
        /// The first [`Clock::now_ticks`] picks the source (one CPUID on x86-64); the first
        /// conversion (or [`StdClock::anchor_now`]) takes the anchor; the first
        /// [`StdClock::converter`] calibrates the TSC.
        pub const fn lazy() -> Self {
            Self {
                source: AtomicU8::new(SOURCE_UNKNOWN),
                anchor_state: AtomicU8::new(ANCHOR_NONE),
                anchor_ticks: AtomicU64::new(0),
                anchor_mono_ns: AtomicU64::new(0),
                anchor_unix_ns: AtomicU64::new(0),
                ticks_per_ns: AtomicU64::new(0x3FF0_0000_0000_0000), // 1.0f64
                ns_per_tick: AtomicU64::new(0x3FF0_0000_0000_0000),
                calibrated_at_ns: AtomicU64::new(0),
            }
        }

        /// The OS monotonic clock, whatever the CPU (useful for tests and comparisons).
        pub fn monotonic() -> Self {
            let clock = Self::lazy();
            clock.source.store(SOURCE_MONOTONIC, Ordering::Relaxed);
            clock.calibrated_at_ns.store(u64::MAX, Ordering::Relaxed);
            clock.anchor_now();
            clock
        }

        /// Whether ticks come from the TSC.
        pub fn is_tsc(&self) -> bool {
            self.source() == SOURCE_TSC
        }

        /// Measured TSC ticks per nanosecond (1.0 for the monotonic clock).
        pub fn ticks_per_ns(&self) -> f64 {
            f64::from_bits(self.ticks_per_ns.load(Ordering::Relaxed))
        }

        #[inline(always)]
        fn source(&self) -> u8 {
            match self.source.load(Ordering::Relaxed) {
                SOURCE_UNKNOWN => self.pick_source(),
                s => s,
            }
        }

        /// [`Clock::now_ticks`] when the source is not (or not yet known to be) the TSC.
        #[cfg(all(target_arch = "x86_64", not(miri)))]
        #[inline(never)]
        fn now_ticks_not_tsc(&self) -> u64 {
            read(self.source())
        }

        /// Chooses the source (deterministic: racing callers store the same value).
        #[cold]
        #[inline(never)]
        fn pick_source(&self) -> u8 {
            let s = if tsc_is_invariant() {
                SOURCE_TSC
            } else {
                SOURCE_MONOTONIC
            };
            self.source.store(s, Ordering::Relaxed);
            if s == SOURCE_MONOTONIC {
                // Nanoseconds already: nothing to calibrate.
                self.calibrated_at_ns.store(u64::MAX, Ordering::Relaxed);
            }
            s
        }

        /// Takes the anchor (a paired tick, monotonic and Unix reading) if no one has: no
        /// allocation, no lock, no system call (the clocks are read through the vDSO). A caller
        /// racing another one that is taking it waits for it (a few hundred nanoseconds).
        pub fn anchor_now(&self) {
            if self.anchor_state.load(Ordering::Acquire) == ANCHOR_SET {
                return;
            }
            if self
                .anchor_state
                .compare_exchange(
                    ANCHOR_NONE,
                    ANCHOR_TAKING,
                    Ordering::Acquire,
                    Ordering::Acquire,
                )
                .is_ok()
            {
                let source = self.source();
                let unix = unix_now_ns();
                let (ticks, mono) = paired_reading(source);
                self.anchor_ticks.store(ticks, Ordering::Relaxed);
                self.anchor_mono_ns.store(mono, Ordering::Relaxed);
                self.anchor_unix_ns.store(unix, Ordering::Relaxed);
                self.anchor_state.store(ANCHOR_SET, Ordering::Release);
                return;
            }
            while self.anchor_state.load(Ordering::Acquire) != ANCHOR_SET {
                core::hint::spin_loop();
            }
        }

        /// Makes sure the TSC rate was measured over at least [`CALIBRATION`] (sleeping for the
        /// rest of it if the anchor is younger). Consumer side only.
        fn calibrate(&self) {
            self.anchor_now();
            if self.source() != SOURCE_TSC {
                return;
            }
            let since = mono_ns().saturating_sub(self.anchor_mono_ns.load(Ordering::Relaxed));
            let wanted = CALIBRATION.as_nanos() as u64;
            if self.calibrated_at_ns.load(Ordering::Relaxed) < wanted {
                if since < wanted {
                    std::thread::sleep(Duration::from_nanos(wanted - since));
                }
                self.recalibrate();
            }
        }

        /// Re-measures the tick rate over the whole time since the anchor (more precise as
        /// time passes). Called from the consumer side (and once, on the hot path, by a lazy
        /// clock's first duration conversion: two vDSO/TSC reads, no system call).
        fn recalibrate(&self) {
            let (now_ticks, now_mono) = paired_reading(self.source());
            let ns = now_mono.saturating_sub(self.anchor_mono_ns.load(Ordering::Relaxed));
            let ticks = now_ticks.wrapping_sub(self.anchor_ticks.load(Ordering::Relaxed));
            if ns > 0 && ticks > 0 {
                self.store_rate(ticks as f64 / ns as f64);
                self.calibrated_at_ns.store(ns, Ordering::Relaxed);
            }
        }

        /// Nanoseconds per tick for converting durations, the rate measured from the anchor now
        /// if it never was over a long enough span (a lazy clock's first use; cold).
        #[cold]
        #[inline(never)]
        fn measure_ns_per_tick(&self) -> f64 {
            self.anchor_now();
            let (now_ticks, now_mono) = paired_reading(self.source());
            let ns = now_mono.saturating_sub(self.anchor_mono_ns.load(Ordering::Relaxed));
            let ticks = now_ticks.wrapping_sub(self.anchor_ticks.load(Ordering::Relaxed));
            if ns == 0 || ticks == 0 {
                return f64::from_bits(self.ns_per_tick.load(Ordering::Relaxed));
            }
            let rate = ticks as f64 / ns as f64;
            if ns >= MIN_KEPT_SPAN_NS {
                self.store_rate(rate);
                self.calibrated_at_ns.store(ns, Ordering::Relaxed);
            }
            1.0 / rate
        }

        /// Stores a measured rate and its inverse (each read on its own: a reader mixing an
        /// old and a new one converts with one of two close measurements).
        fn store_rate(&self, ticks_per_ns: f64) {
            self.ticks_per_ns
                .store(ticks_per_ns.to_bits(), Ordering::Relaxed);
            self.ns_per_tick
                .store((1.0 / ticks_per_ns).to_bits(), Ordering::Relaxed);
        }

        /// A snapshot of the current conversion, refining the rate first when it is due, for
        /// converting many readings without reading the OS clock for each (the flusher takes
        /// one per pass). `converter().unix_nanos(t)` equals `ticks_to_unix_nanos(t)`.
        pub fn converter(&self) -> TickConverter {
            self.calibrate();
            if self.source() == SOURCE_TSC {
                // Refine the rate when the anchor span has grown tenfold since the last
                // measurement: cheap, and the error shrinks with the span.
                let since = mono_ns().saturating_sub(self.anchor_mono_ns.load(Ordering::Relaxed));
                if since > 10 * self.calibrated_at_ns.load(Ordering::Relaxed).max(1) {
                    self.recalibrate();
                }
            }
            let rate = self.ticks_per_ns();
            let rate = if rate.is_finite() && rate > 0.0 {
                rate
            } else {
                1.0
            };
            TickConverter {
                anchor_ticks: self.anchor_ticks.load(Ordering::Relaxed),
                anchor_unix_ns: self.anchor_unix_ns.load(Ordering::Relaxed),
                ticks_per_ns: rate,
                ns_per_tick: 1.0 / rate,
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
            // The TSC tested first: one load and one compare before `rdtsc` on the hot path
            // (the unknown source, picked on first use, and the OS clock go out of line).
            #[cfg(all(target_arch = "x86_64", not(miri)))]
            {
                if self.source.load(Ordering::Relaxed) == SOURCE_TSC {
                    // SAFETY: rdtsc has no preconditions; `SOURCE_TSC` is only chosen on x86-64
                    // CPUs that report an invariant TSC.
                    return unsafe { core::arch::x86_64::_rdtsc() };
                }
                self.now_ticks_not_tsc()
            }
            #[cfg(not(all(target_arch = "x86_64", not(miri))))]
            {
                read(self.source())
            }
        }

        fn ticks_to_unix_nanos(&self, ticks: u64) -> u64 {
            self.converter().unix_nanos(ticks)
        }

        #[inline]
        fn ticks_to_nanos(&self, ticks: u64) -> u64 {
            let ns_per_tick = if self.calibrated_at_ns.load(Ordering::Relaxed) != 0 {
                f64::from_bits(self.ns_per_tick.load(Ordering::Relaxed))
            } else {
                self.measure_ns_per_tick()
            };
            (ticks as f64 * ns_per_tick) as u64
        }
    }

    /// The clock's linear conversion at one moment: `unix = anchor + (ticks - t0) / rate`.
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub struct TickConverter {
        anchor_ticks: u64,
        anchor_unix_ns: u64,
        ticks_per_ns: f64,
        /// `1 / ticks_per_ns`: the drain stamps every record with a multiplication, not a
        /// division (a `divsd` per record was the largest single cost of the drain loop).
        ns_per_tick: f64,
    }

    impl TickConverter {
        /// Converts a tick reading to Unix nanoseconds.
        #[inline]
        pub fn unix_nanos(&self, ticks: u64) -> u64 {
            let delta = ticks.wrapping_sub(self.anchor_ticks) as i64;
            let ns = delta as f64 * self.ns_per_tick;
            // `f64 as i64` is one instruction (saturating past ±292 years of ticks); `f64 as
            // i128` was a call to a soft-float routine on every record the drain stamps.
            (self.anchor_unix_ns as i128 + (ns as i64) as i128).clamp(0, u64::MAX as i128) as u64
        }

        /// Converts a span of ticks to nanoseconds at this snapshot's rate (what
        /// [`Clock::ticks_to_nanos`] computes with the clock's rate at the time; the drain uses
        /// it for the durations of interned operation records).
        #[inline]
        pub fn nanos(&self, ticks: u64) -> u64 {
            (ticks as f64 * self.ns_per_tick) as u64
        }
    }

    /// A tick reading and a monotonic reading taken together. For the TSC, the monotonic clock
    /// is read between two TSC reads and the tightest of several tries is kept, its tick value
    /// the midpoint: a preemption between the two clocks would otherwise skew the calibration.
    fn paired_reading(source: u8) -> (u64, u64) {
        if source != SOURCE_TSC {
            let now = mono_ns();
            return (now, now);
        }
        let mut best: Option<(u64, u64, u64)> = None;
        for _ in 0..16 {
            let before = read(source);
            let now = mono_ns();
            let after = read(source);
            let gap = after.wrapping_sub(before);
            if best.is_none_or(|(g, _, _)| gap < g) {
                best = Some((gap, before.wrapping_add(gap / 2), now));
            }
        }
        let (_, ticks, now) = best.unwrap_or((0, read(source), mono_ns()));
        (ticks, now)
    }

    #[inline(always)]
    fn read(source: u8) -> u64 {
        match source {
            #[cfg(all(target_arch = "x86_64", not(miri)))]
            // SAFETY: rdtsc has no preconditions; `SOURCE_TSC` is only chosen on x86-64 CPUs
            // that report an invariant TSC.
            SOURCE_TSC => unsafe { core::arch::x86_64::_rdtsc() },
            _ => mono_ns(),
        }
    }

    /// `CLOCK_MONOTONIC` in nanoseconds: the vDSO on Linux, no system call.
    #[cfg(unix)]
    #[inline(always)]
    fn mono_ns() -> u64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC is always supported.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        (ts.tv_sec as u64)
            .wrapping_mul(1_000_000_000)
            .wrapping_add(ts.tv_nsec as u64)
    }

    /// Nanoseconds of `Instant` since the first reading (not a `const` origin: the first call
    /// takes a lock once; off Unix only).
    #[cfg(not(unix))]
    fn mono_ns() -> u64 {
        static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        let origin = *ORIGIN.get_or_init(std::time::Instant::now);
        origin.elapsed().as_nanos() as u64 + 1
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

    // Miri does not run CPUID or RDTSC: it checks the monotonic path instead.
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
            // A lazy clock (the global recorder's) converts as well as an eager one, once its
            // first conversion has anchored and calibrated it.
            let lazy = StdClock::lazy();
            let _ = lazy.now_ticks();
            for clock in [StdClock::new(), StdClock::monotonic(), lazy] {
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
