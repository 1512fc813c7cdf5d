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
/// Millivolts per ADC count of the stub 12-bit, 3.3 V converter.
pub const MV_PER_COUNT: f64 = 3300.0 / 4096.0;

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
        self.verdicts().fold((0, 0), |(ok, lost), v| match v {
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
        let millivolts = f64::from(reading.adc_raw) * MV_PER_COUNT;
        let perf = self.telemetry.perf_sample(
            start,
            self.previous_start,
            "adc_millivolts",
            &[("channel", channel), ("board", "rev-b")],
            millivolts,
            "mV",
        );
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
                        function: "SysTick",
                        file_path: "src/main.rs",
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
