//! The firmware: a Cortex-M4 program that records Northstar events from its periodic interrupt
//! into a `static` ring and drains them from its idle loop to a host link.
//!
//! - `SysTick` fires `STEP_HZ` times a second and runs one [`ControlLoop::step`]: a
//!   `perf_sample` (ADC channel and board as dimensions), an `agent_operation` with its measured
//!   duration, and every 16th step a `debug_snapshot`. It is the ring's only producer.
//! - `main`, after setting up the clock and the timer, loops: drain the ring into the link
//!   buffer (decoding and counting every record), hand full link buffers to the host, sleep
//!   until the next interrupt. It is the ring's only consumer.
//! - The clock is the DWT cycle counter, widened to 64 bits ([`Wide32`]) and wrapped in a
//!   `CounterClock`; ticks go into the records, nanoseconds only into windows and durations.
//!
//! Build: `cargo build --manifest-path examples/firmware/Cargo.toml --release --target
//! thumbv7em-none-eabihf --bin firmware`. On the host, this binary is a short simulation of
//! the same loop (the library's tests are the real check).
//!
//! [`ControlLoop::step`]: northstar_firmware::app::ControlLoop::step
//! [`Wide32`]: northstar_firmware::clock::Wide32
#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

use northstar_firmware::app::Reading;

/// The stub sensor: a triangle wave over the 12-bit ADC range, one reading per step.
fn stub_adc(step: u32) -> Reading {
    let phase = (step % 64) as u16;
    let level = if phase < 32 { phase } else { 63 - phase };
    Reading {
        adc_raw: level * 128,
    }
}

#[cfg(all(target_arch = "arm", target_os = "none"))]
mod device {
    use core::hint::black_box;

    use cortex_m::peripheral::syst::SystClkSource;
    use cortex_m::peripheral::DWT;
    use cortex_m_rt::{entry, exception};
    use northstar_core::clock::CounterClock;
    use northstar_core::ring::StaticRing;
    use northstar_firmware::app::ControlLoop;
    use northstar_firmware::clock::Wide32;
    use northstar_firmware::drain::{drain_to_link, Tally};
    use northstar_firmware::link::{LinkBuffer, Sink};
    use northstar_firmware::telemetry::Telemetry;
    use northstar_firmware::{DEVICE_ID, LINK_BYTES, RING_BYTES};
    use panic_halt as _;

    /// Core clock after reset of the generic part (its internal 16 MHz oscillator). A board
    /// that configures a PLL sets its own frequency here.
    const SYSCLK_HZ: u32 = 16_000_000;
    /// Control-loop steps per second.
    const STEP_HZ: u32 = 100;

    /// The ring: no heap, zero-initialised in `.bss`.
    static RING: StaticRing<RING_BYTES> = StaticRing::new();
    /// Wrap count of the 32-bit cycle counter.
    static CYCLES: Wide32 = Wide32::new();
    /// The firmware's clock type: the widened cycle counter behind a plain function pointer.
    type CycleClock = CounterClock<fn() -> u64>;
    /// The firmware's clock: cycles since boot, no wall clock (epoch 0).
    static CLOCK: CycleClock = CounterClock::new(read_cycles, SYSCLK_HZ as u64, 0);

    fn read_cycles() -> u64 {
        CYCLES.extend(DWT::cycle_count())
    }

    #[entry]
    fn main() -> ! {
        // cortex-m-rt turns these into `&'static mut` owned by this function, which runs once:
        // statics, so a debug probe finds them by symbol.
        static mut LINK: LinkBuffer<LINK_BYTES> = LinkBuffer::new();
        static mut TALLY: Tally = Tally::new();

        // `take` only fails if called twice; there is nothing useful to do then but stop.
        let Some(mut cp) = cortex_m::Peripherals::take() else {
            loop {
                cortex_m::asm::wfi();
            }
        };
        cp.DCB.enable_trace();
        cp.DWT.enable_cycle_counter();
        cp.SYST.set_clock_source(SystClkSource::Core);
        cp.SYST.set_reload(SYSCLK_HZ / STEP_HZ - 1);
        cp.SYST.clear_current();
        cp.SYST.enable_counter();
        cp.SYST.enable_interrupt();

        // SAFETY: this is the only `consumer()` call on RING in the program, and `main` runs
        // exactly once (cortex-m-rt calls the `#[entry]` function once and it never returns),
        // so there is never more than one consumer. The consumer only reads what the producer
        // published with its Release store; the single core and the ring's atomics order the
        // SysTick producer's writes before these reads.
        let mut consumer = unsafe { RING.ring().consumer() };
        let max_record = RING.ring().max_record_len();
        loop {
            let drained = drain_to_link(&mut consumer, LINK, TALLY);
            if LINK.free() < max_record {
                host_transfer(LINK, TALLY);
            }
            if drained.records == 0 {
                // Nothing published: sleep until the next interrupt (a step runs in SysTick).
                cortex_m::asm::wfi();
            }
        }
    }

    /// Stub of the transfer to the host (UART DMA, USB, or a probe reading `LINK`): the host
    /// takes the buffered records and the buffer is reused. `black_box` stands for the
    /// transfer's reads, so the optimiser keeps the bytes and the tally the program computes.
    fn host_transfer(link: &mut LinkBuffer<LINK_BYTES>, tally: &Tally) {
        black_box(link.as_bytes());
        black_box(tally);
        black_box(RING.ring().counters());
        link.clear();
    }

    #[exception]
    fn SysTick() {
        // Owned by this handler; cortex-m-rt hands out a unique `&mut` to it.
        static mut APP: Option<ControlLoop<'static, CycleClock>> = None;
        let app = APP.get_or_insert_with(|| {
            // SAFETY: this is the only `producer()` call on RING in the program, and it runs at
            // most once: `get_or_insert_with` runs it only while APP is `None`, APP is private to
            // this handler, and an exception handler never preempts itself, so no second call
            // can race the first. The one Producer then lives in APP for the program's lifetime
            // and is only used from this handler.
            let producer = unsafe { RING.ring().producer() };
            ControlLoop::new(Telemetry::new(producer, &CLOCK, DEVICE_ID))
        });
        // Drops on a full ring are counted in the ring's counters, which the drain side reads.
        let _report = app.step(super::stub_adc(app.iteration()));
    }
}

/// On the host: a short simulation of the device loop over the same library code, with a
/// simulated 16 MHz cycle counter.
#[cfg(not(target_os = "none"))]
fn main() {
    use std::sync::atomic::{AtomicU64, Ordering};

    use northstar_core::clock::CounterClock;
    use northstar_core::ring::StaticRing;
    use northstar_core::EventType;
    use northstar_firmware::app::ControlLoop;
    use northstar_firmware::drain::{drain_to_link, Tally};
    use northstar_firmware::link::{LinkBuffer, Sink};
    use northstar_firmware::telemetry::Telemetry;
    use northstar_firmware::{DEVICE_ID, LINK_BYTES, RING_BYTES};

    static CYCLES: AtomicU64 = AtomicU64::new(0);
    static RING: StaticRing<RING_BYTES> = StaticRing::new();
    // 1600 cycles between reads: 100 us at 16 MHz.
    let clock = CounterClock::new(|| CYCLES.fetch_add(1600, Ordering::Relaxed), 16_000_000, 0);
    // SAFETY: the simulation is single-threaded and creates one producer and one consumer.
    let (producer, mut consumer) = unsafe { (RING.ring().producer(), RING.ring().consumer()) };
    let mut app = ControlLoop::new(Telemetry::new(producer, &clock, DEVICE_ID));
    let mut link = LinkBuffer::<LINK_BYTES>::new();
    let mut tally = Tally::default();
    let mut shipped = 0usize;
    for step in 0..1000 {
        app.step(stub_adc(step));
        if step % 4 == 3 {
            drain_to_link(&mut consumer, &mut link, &mut tally);
            if link.free() < RING.ring().max_record_len() {
                shipped += link.as_bytes().len();
                link.clear();
            }
        }
    }
    drain_to_link(&mut consumer, &mut link, &mut tally);
    shipped += link.as_bytes().len();
    let counters = RING.ring().counters();
    for ty in [
        EventType::PerfSample,
        EventType::AgentOperation,
        EventType::DebugSnapshot,
    ] {
        println!("{ty:?}: {}", tally.count(ty));
    }
    println!(
        "pushed {} dropped_full {} forwarded {} bytes (shipped {shipped}), bad {} link_refused {}",
        counters.pushed,
        counters.dropped_full,
        tally.forwarded_bytes,
        tally.bad_records + tally.bad_payloads,
        tally.link_refused
    );
}
