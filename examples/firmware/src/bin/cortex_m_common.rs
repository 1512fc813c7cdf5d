//! What the two Cortex-M boards share: the SysTick clock and interrupt, start-up, exit through
//! semihosting. Included by `microbit.rs` and `mps2_an386.rs` with `#[path]`.

use core::cell::RefCell;
use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::{SCB, SYST};
use cortex_m_rt::exception;
use cortex_m_semihosting::debug;
use critical_section::Mutex;
use northstar_core::clock::Clock;
use northstar_core::ring::StaticRing;
use northstar_firmware::app::{on_timer, ControlLoop};
use northstar_firmware::device::{reload_ticks, ticks_to_ns, Board, Device};
use northstar_firmware::{bench, RING_BYTES, STEP_HZ};

/// SysTick reload period in core clock ticks: one control step.
const PERIOD: u32 = (super::HZ / STEP_HZ) as u32;

/// The clock: SysTick's reloads (counted by its interrupt) and its current value.
pub struct SysTickClock {
    reloads: AtomicU32,
}

impl Clock for SysTickClock {
    #[inline]
    fn now_ticks(&self) -> u64 {
        critical_section::with(|_| {
            let mut reloads = self.reloads.load(Ordering::Relaxed);
            let mut current = SYST::get_current();
            // Reloaded but its interrupt not yet run (we are masking it): count that reload.
            if SCB::is_pendst_pending() {
                current = SYST::get_current();
                reloads = reloads.wrapping_add(1);
            }
            reload_ticks(reloads, PERIOD, current)
        })
    }

    fn ticks_to_unix_nanos(&self, ticks: u64) -> u64 {
        ticks_to_ns(ticks, super::HZ)
    }

    fn ticks_to_nanos(&self, ticks: u64) -> u64 {
        ticks_to_ns(ticks, super::HZ)
    }
}

static CLOCK: SysTickClock = SysTickClock {
    reloads: AtomicU32::new(0),
};
static RING: StaticRing<RING_BYTES> = StaticRing::new();
/// The control loop, owned by the SysTick handler once `main` has built it.
static APP: Mutex<RefCell<Option<ControlLoop<'static, SysTickClock>>>> =
    Mutex::new(RefCell::new(None));

#[exception]
fn SysTick() {
    // Only this handler writes the reload count: a load and a store, no read-modify-write.
    CLOCK.reloads.store(
        CLOCK.reloads.load(Ordering::Relaxed).wrapping_add(1),
        Ordering::Relaxed,
    );
    critical_section::with(|cs| {
        if let Some(app) = APP.borrow_ref_mut(cs).as_mut() {
            on_timer(app);
        }
    });
}

/// Starts SysTick, measures the cost of events, runs the control loop to its end, exits.
pub fn run<B: Board>(mut syst: SYST, board: &mut B, target: &str) -> ! {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(PERIOD - 1);
    syst.clear_current();
    syst.enable_counter();
    syst.enable_interrupt();

    let costs = bench::measure(&CLOCK, super::HZ);
    let Some((mut app, mut device)) = Device::start(&RING, &CLOCK, super::HZ) else {
        exit(false)
    };
    bench::record(app.telemetry(), &costs, target);
    critical_section::with(|cs| APP.borrow(cs).replace(Some(app)));
    let counters = device.run(board);
    exit(counters.pushed > 0 && costs.refused == 0)
}

/// Ends the QEMU run through semihosting (`-semihosting-config enable=on,target=native`).
pub fn exit(ok: bool) -> ! {
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    exit(false)
}
