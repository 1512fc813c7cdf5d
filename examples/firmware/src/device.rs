//! What the boards share: their clock's arithmetic, the start-up sequence and the idle loop.

use core::sync::atomic::{AtomicBool, Ordering};

use northstar_core::clock::Clock;
use northstar_core::ring::{Consumer, StaticRing};
use northstar_link::Sink;

use crate::app::ControlLoop;
use crate::telemetry::Telemetry;
use crate::{Link, DEVICE_ID, RING_BYTES};

/// The parts of a board the shared code needs besides its clock.
pub trait Board {
    /// Sends bytes over the board's UART (polled: waits while the transmitter is busy).
    fn uart_write(&mut self, bytes: &[u8]);
    /// Sleeps until the next interrupt.
    fn wait_for_interrupt(&mut self);
}

/// A [`Sink`] over a board's UART.
pub struct Uart<'b, B: Board>(pub &'b mut B);

impl<B: Board> Sink for Uart<'_, B> {
    fn write(&mut self, bytes: &[u8]) {
        self.0.uart_write(bytes);
    }
}

/// The idle loop's state: the ring's consumer and the link encoder.
pub struct Device {
    consumer: Consumer<'static>,
    link: Link,
}

/// Set by the timer interrupt after its last step.
pub static DONE: AtomicBool = AtomicBool::new(false);

impl Device {
    /// Splits `ring` (once: a second call gets `None`), returns the control loop for the timer
    /// interrupt and the idle loop's device. `hz` is the clock's rate, sent in the HELLO.
    pub fn start<C: Clock>(
        ring: &'static StaticRing<RING_BYTES>,
        clock: &'static C,
        hz: u64,
    ) -> Option<(ControlLoop<'static, C>, Self)> {
        let (producer, consumer) = ring.split()?;
        let app = ControlLoop::new(Telemetry::new(producer, clock, DEVICE_ID));
        Some((
            app,
            Self {
                consumer,
                // No wall clock on these boards: the host supplies the epoch.
                link: Link::new(hz, 0),
            },
        ))
    }

    /// The link encoder (the benchmark sends its results through it before the loop starts).
    pub fn link(&mut self) -> &mut Link {
        &mut self.link
    }

    /// One pass of the idle loop's drain (for host tests that play both contexts in turn).
    pub fn pump_for_test<S: Sink>(&mut self, sink: &mut S) -> usize {
        self.link.pump(&mut self.consumer, sink)
    }

    /// The idle loop: drains the ring to the UART whenever the timer interrupt has recorded
    /// something, sleeps otherwise; once the interrupt says it is done, drains the rest and
    /// sends the END frame with the ring's final counters. Returns those counters.
    pub fn run<B: Board>(&mut self, board: &mut B) -> northstar_core::Counters {
        self.link.hello(&mut Uart(board));
        loop {
            let done = DONE.load(Ordering::Acquire);
            let taken = self.link.pump(&mut self.consumer, &mut Uart(board));
            if done && self.consumer.ring().is_empty() {
                break;
            }
            if taken == 0 && !done {
                board.wait_for_interrupt();
            }
        }
        let counters = self.consumer.ring().counters();
        self.link.sync(&counters, &mut Uart(board), true);
        counters
    }
}

/// Ticks of a periodic down-counter (SysTick) that reloads every `period` ticks, from the
/// number of reloads seen and its current value: `reloads * period + (period - 1 - current)`.
#[inline(always)]
pub fn reload_ticks(reloads: u32, period: u32, current: u32) -> u64 {
    u64::from(reloads) * u64::from(period) + u64::from(period - 1 - current.min(period - 1))
}

/// Nanoseconds of `ticks` at `hz` (64-bit arithmetic only), as the link converts them.
pub fn ticks_to_ns(ticks: u64, hz: u64) -> u64 {
    northstar_link::schema::ticks_to_nanos(ticks, hz)
}
