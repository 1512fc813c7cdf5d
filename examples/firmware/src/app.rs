//! The instrumented application: one step of a (stub) control loop, as the firmware's periodic
//! interrupt runs it. The host tests call the same [`ControlLoop::step`].

use northstar_core::clock::Clock;
use northstar_core::events::StackFrame;
use northstar_core::PushError;

use crate::telemetry::Telemetry;

/// Session id of this boot (a real device would derive it from a boot counter).
pub const BOOT_SESSION: u64 = 1;
/// A `debug_snapshot` is taken every this many steps.
pub const SNAPSHOT_EVERY: u32 = 16;
/// ADC channels sampled in turn, one per step.
pub const CHANNELS: [&str; 2] = ["adc0", "adc1"];
/// Full scale of the stub 12-bit, 3.3 V converter, in millivolts.
pub const FULL_SCALE_MV: u32 = 3300;
/// Every this many steps the loop samples a burst of [`BURST`] readings in one interrupt: more
/// than the ring holds, so the ring drops some and counts them (the host sees the count).
pub const BURST_EVERY: u32 = 50;
/// Readings in one burst.
pub const BURST: u32 = 24;

/// Millivolts of a raw 12-bit reading, in integer arithmetic (a Cortex-M0 has no FPU).
pub fn millivolts(adc_raw: u16) -> u32 {
    u32::from(adc_raw) * FULL_SCALE_MV / 4096
}

/// What one step of the application measured (the sensor reading comes from the caller: the
/// ADC on the device, a table in tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reading {
    /// Raw ADC counts.
    pub adc_raw: u16,
}

/// What became of each event one step tried to record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepReport {
    /// The `perf_sample`.
    pub perf: Result<(), PushError>,
    /// The `agent_operation`.
    pub operation: Result<(), PushError>,
    /// The `debug_snapshot`, on steps that take one.
    pub snapshot: Option<Result<(), PushError>>,
    /// Burst readings recorded and dropped (0, 0 on steps without a burst).
    pub burst: (u32, u32),
}

impl StepReport {
    /// Each attempted event's verdict, in recording order.
    pub fn verdicts(&self) -> impl Iterator<Item = Result<(), PushError>> {
        [Some(self.perf), Some(self.operation), self.snapshot]
            .into_iter()
            .flatten()
    }

    /// Events recorded and events refused (full ring or too large) by this step.
    pub fn tally(&self) -> (u32, u32) {
        self.verdicts().fold(self.burst, |(ok, lost), v| match v {
            Ok(()) => (ok + 1, lost),
            Err(_) => (ok, lost + 1),
        })
    }
}

/// The application state between steps.
pub struct ControlLoop<'r, C: Clock> {
    telemetry: Telemetry<'r, C>,
    iteration: u32,
    previous_start: u64,
}

impl<'r, C: Clock> ControlLoop<'r, C> {
    /// A loop recording through `telemetry`; the first sample's window starts now.
    pub fn new(telemetry: Telemetry<'r, C>) -> Self {
        let previous_start = telemetry.clock().now_ticks();
        Self {
            telemetry,
            iteration: 0,
            previous_start,
        }
    }

    /// The recording handle (for events outside the periodic step, e.g. the benchmark's).
    pub fn telemetry(&mut self) -> &mut Telemetry<'r, C> {
        &mut self.telemetry
    }

    /// Steps run so far.
    pub fn iteration(&self) -> u32 {
        self.iteration
    }

    /// One step: samples a channel (`perf_sample` with `channel` and `board` dimensions, the
    /// window since the previous step), "actuates" (`agent_operation` with its measured
    /// duration) and every [`SNAPSHOT_EVERY`] steps takes a `debug_snapshot`.
    pub fn step(&mut self, reading: Reading) -> StepReport {
        let clock = self.telemetry.clock();
        let start = clock.now_ticks();
        let i = self.iteration;
        let channel = CHANNELS[i as usize % CHANNELS.len()];
        let perf = self.telemetry.perf_sample(
            start,
            self.previous_start,
            "adc_millivolts",
            &[("channel", channel), ("board", "rev-b")],
            f64::from(millivolts(reading.adc_raw)),
            "mV",
        );
        let mut burst = (0, 0);
        if i % BURST_EVERY == BURST_EVERY - 1 {
            for k in 0..BURST {
                let now = self.telemetry.clock().now_ticks();
                let raw = reading.adc_raw.wrapping_add(k as u16 * 17) & 0x0FFF;
                match self.telemetry.perf_sample(
                    now,
                    start,
                    "adc_millivolts",
                    &[("channel", "burst"), ("board", "rev-b")],
                    f64::from(millivolts(raw)),
                    "mV",
                ) {
                    Ok(()) => burst.0 += 1,
                    Err(_) => burst.1 += 1,
                }
            }
        }
        let (end, operation) = self.telemetry.operation_done(
            start,
            BOOT_SESSION,
            "control_step",
            u64::from(i),
            "actuator",
            "pwm0",
            &[("channel", channel)],
        );
        let snapshot = i.is_multiple_of(SNAPSHOT_EVERY).then(|| {
            let mut it = DecimalU32::new();
            let mut raw = DecimalU32::new();
            self.telemetry.snapshot(
                end,
                BOOT_SESSION,
                u64::from(i / SNAPSHOT_EVERY),
                "periodic",
                0,
                &[
                    StackFrame {
                        function: "ControlLoop::step",
                        file_path: "src/app.rs",
                        line: line!(),
                    },
                    StackFrame {
                        function: "timer_interrupt",
                        file_path: "src/device.rs",
                        line: 0,
                    },
                ],
                &[
                    ("iteration", it.format(i)),
                    ("adc_raw", raw.format(u32::from(reading.adc_raw))),
                ],
            )
        });
        self.previous_start = start;
        self.iteration = i.wrapping_add(1);
        StepReport {
            perf,
            operation,
            snapshot,
            burst,
        }
    }
}

/// Renders a `u32` in decimal without allocating (snapshot variables are strings).
pub struct DecimalU32 {
    buf: [u8; 10],
}

impl DecimalU32 {
    /// An empty buffer.
    pub const fn new() -> Self {
        Self { buf: [0; 10] }
    }

    /// `n` in decimal, borrowed from the buffer.
    pub fn format(&mut self, mut n: u32) -> &str {
        let mut at = self.buf.len();
        loop {
            at -= 1;
            self.buf[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        // Only ASCII digits were written, so this never fails.
        core::str::from_utf8(&self.buf[at..]).unwrap_or("?")
    }
}

impl Default for DecimalU32 {
    fn default() -> Self {
        Self::new()
    }
}

/// The stub sensor (QEMU's boards have no ADC): a triangle wave over the 12-bit range, one
/// reading per step.
pub fn stub_adc(step: u32) -> Reading {
    let phase = (step % 64) as u16;
    let level = if phase < 32 { phase } else { 63 - phase };
    Reading {
        adc_raw: level * 128,
    }
}

/// The timer interrupt's body: one step, until [`crate::STEPS`]; then it tells the idle loop
/// it is done and returns `false` (the board stops its timer).
pub fn on_timer<C: Clock>(app: &mut ControlLoop<'_, C>) -> bool {
    let i = app.iteration();
    if i >= crate::STEPS {
        crate::device::DONE.store(true, core::sync::atomic::Ordering::Release);
        return false;
    }
    app.step(stub_adc(i));
    true
}

#[cfg(test)]
mod tests {
    use super::DecimalU32;

    #[test]
    fn decimal_rendering() {
        let mut d = DecimalU32::new();
        assert_eq!(d.format(0), "0");
        assert_eq!(d.format(7), "7");
        assert_eq!(d.format(4_294_967_295), "4294967295");
        assert_eq!(d.format(1_000), "1000");
    }
}
