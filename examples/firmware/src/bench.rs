//! The cost of one event on the device, measured with the device's own clock.
//!
//! Under QEMU with `-icount shift=0` the virtual clock advances exactly one nanosecond per
//! guest instruction, so nanoseconds measured here are instructions. Each kind of event is
//! recorded [`BATCHES`] × [`PER_BATCH`] times into a scratch ring (drained between batches,
//! outside the timed part), and an empty loop of the same shape is subtracted. The figures
//! include reading the clock for the timestamp, as every real call site does; the clock read
//! alone is measured too.

use core::hint::black_box;

use northstar_core::clock::Clock;
use northstar_core::events::AgentSessionEnded;
use northstar_core::ring::StaticRing;

use crate::telemetry::Telemetry;
use crate::DEVICE_ID;

/// Timed batches per kind.
pub const BATCHES: u32 = 64;
/// Events per batch (the scratch ring holds them all).
pub const PER_BATCH: u32 = 8;

/// What was measured: nanoseconds (instructions under icount) per event, times 10.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Costs {
    /// Reading the clock.
    pub clock_read: u64,
    /// A fixed-size event (`agent_session_ended`: one `u64`).
    pub fixed: u64,
    /// A `perf_sample` with two literal dimensions and its window in ns.
    pub perf_sample: u64,
    /// A user-style event (`agent_operation`: four strings, a metadata pair, a measured
    /// duration).
    pub user: u64,
    /// Events that did not reach the scratch ring (must be 0 for the figures to mean anything).
    pub refused: u32,
}

/// Runs the measurement. Call with the timer interrupt off: an interrupt inside a batch would
/// be counted.
pub fn measure<C: Clock>(clock: &C, hz: u64) -> Costs {
    let mut ring = StaticRing::<2048>::new();
    let (producer, mut consumer) = ring.split_mut();
    let mut t = Telemetry::new(producer, clock, DEVICE_ID);
    let mut refused = 0;
    let mut run = |t: &mut Telemetry<'_, C>, kind: u8| -> u64 {
        let mut total = 0u64;
        for batch in 0..BATCHES {
            let start = clock.now_ticks();
            for k in 0..PER_BATCH {
                let id = u64::from(batch * PER_BATCH + k);
                let verdict = match kind {
                    0 => {
                        black_box(k);
                        Ok(())
                    }
                    1 => {
                        black_box(clock.now_ticks());
                        Ok(())
                    }
                    2 => t.record_at(clock.now_ticks(), &AgentSessionEnded { session_id: id }),
                    3 => {
                        let now = clock.now_ticks();
                        t.perf_sample(
                            now,
                            start,
                            "adc_millivolts",
                            &[("channel", "adc0"), ("board", "rev-b")],
                            1650.0,
                            "mV",
                        )
                    }
                    _ => {
                        t.operation_done(
                            start,
                            1,
                            "control_step",
                            id,
                            "actuator",
                            "pwm0",
                            &[("channel", "adc0")],
                        )
                        .1
                    }
                };
                if verdict.is_err() {
                    refused += 1;
                }
            }
            total += clock.now_ticks().wrapping_sub(start);
            consumer.drain(usize::MAX, |bytes| {
                black_box(bytes);
            });
        }
        total
    };
    let empty = run(&mut t, 0);
    let per_event = |ticks: u64| {
        let ns = crate::device::ticks_to_ns(ticks.saturating_sub(empty), hz);
        ns * 10 / u64::from(BATCHES * PER_BATCH)
    };
    let clock_read = per_event(run(&mut t, 1));
    let fixed = per_event(run(&mut t, 2));
    let perf_sample = per_event(run(&mut t, 3));
    let user = per_event(run(&mut t, 4));
    Costs {
        clock_read,
        fixed,
        perf_sample,
        user,
        refused,
    }
}

/// Records the measured costs as `perf_sample`s (`instructions_per_event`, dimensions `event`
/// and `target`) through the firmware's own telemetry, so they reach the host store.
pub fn record<C: Clock>(t: &mut Telemetry<'_, C>, costs: &Costs, target: &str) -> u32 {
    let now = t.clock().now_ticks();
    let mut recorded = 0;
    for (event, tenths) in [
        ("clock_read", costs.clock_read),
        ("fixed", costs.fixed),
        ("perf_sample", costs.perf_sample),
        ("user", costs.user),
    ] {
        let value = tenths as f64 / 10.0;
        if t.perf_sample(
            now,
            now,
            "instructions_per_event",
            &[("event", event), ("target", target)],
            value,
            "instructions",
        )
        .is_ok()
        {
            recorded += 1;
        }
    }
    recorded
}
