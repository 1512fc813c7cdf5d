//! The firmware on QEMU's RISC-V `virt` machine (RV32IMC, no compare-and-swap):
//! `qemu-system-riscv32 -M virt -bios none`. Records from the machine timer interrupt, drains
//! to the NS16550A UART, exits through the SiFive test device. See `docs/FIRMWARE.md`.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]

use core::cell::RefCell;
use core::ptr::{read_volatile, write_volatile};

use critical_section::Mutex;
use northstar_core::clock::Clock;
use northstar_core::ring::StaticRing;
use northstar_firmware::app::{on_timer, ControlLoop};
use northstar_firmware::device::{ticks_to_ns, Board, Device};
use northstar_firmware::{bench, RING_BYTES, STEP_HZ};
use riscv::interrupt::Interrupt;

/// The CLINT's `mtime` runs at 10 MHz on `virt`.
const HZ: u64 = 10_000_000;
const PERIOD: u64 = HZ / STEP_HZ;

const CLINT_MTIMECMP: usize = 0x0200_4000;
const CLINT_MTIME: usize = 0x0200_BFF8;
const UART_THR: usize = 0x1000_0000;
const UART_LSR: usize = 0x1000_0005;
const LSR_THR_EMPTY: u8 = 1 << 5;
const TEST_DEVICE: usize = 0x0010_0000;

/// The clock: the CLINT's 64-bit `mtime`, read as two halves.
struct Mtime;

impl Clock for Mtime {
    #[inline]
    fn now_ticks(&self) -> u64 {
        // SAFETY: the two words of `mtime` (a fixed, aligned CLINT register); reading the high
        // half before and after the low one detects a carry between the two reads.
        unsafe {
            loop {
                let hi = read_volatile((CLINT_MTIME + 4) as *const u32);
                let lo = read_volatile(CLINT_MTIME as *const u32);
                if read_volatile((CLINT_MTIME + 4) as *const u32) == hi {
                    return (u64::from(hi) << 32) | u64::from(lo);
                }
            }
        }
    }

    fn ticks_to_unix_nanos(&self, ticks: u64) -> u64 {
        ticks_to_ns(ticks, HZ)
    }

    fn ticks_to_nanos(&self, ticks: u64) -> u64 {
        ticks_to_ns(ticks, HZ)
    }
}

static CLOCK: Mtime = Mtime;
static RING: StaticRing<RING_BYTES> = StaticRing::new();
static APP: Mutex<RefCell<Option<ControlLoop<'static, Mtime>>>> = Mutex::new(RefCell::new(None));

/// Sets hart 0's `mtimecmp` (high word first to all ones, so no early match in between).
fn set_mtimecmp(at: u64) {
    // SAFETY: hart 0's `mtimecmp`, a fixed, aligned CLINT register only this code writes.
    unsafe {
        write_volatile((CLINT_MTIMECMP + 4) as *mut u32, u32::MAX);
        write_volatile(CLINT_MTIMECMP as *mut u32, at as u32);
        write_volatile((CLINT_MTIMECMP + 4) as *mut u32, (at >> 32) as u32);
    }
}

#[riscv_rt::core_interrupt(Interrupt::MachineTimer)]
fn machine_timer() {
    set_mtimecmp(CLOCK.now_ticks() + PERIOD);
    critical_section::with(|cs| {
        if let Some(app) = APP.borrow_ref_mut(cs).as_mut() {
            on_timer(app);
        }
    });
}

struct Virt;

impl Board for Virt {
    fn uart_write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            // SAFETY: the NS16550A's LSR and THR (fixed byte registers of `virt`); only this
            // idle-loop context touches the UART.
            unsafe {
                while read_volatile(UART_LSR as *const u8) & LSR_THR_EMPTY == 0 {}
                write_volatile(UART_THR as *mut u8, b);
            }
        }
    }

    fn wait_for_interrupt(&mut self) {
        riscv::asm::wfi();
    }
}

/// Ends the QEMU run through the SiFive test device: 0x5555 passes, 0x3333 fails.
fn exit(ok: bool) -> ! {
    // SAFETY: the test device's register (fixed, aligned); writing it stops the machine.
    unsafe { write_volatile(TEST_DEVICE as *mut u32, if ok { 0x5555 } else { 0x1_3333 }) };
    loop {
        riscv::asm::wfi();
    }
}

#[riscv_rt::entry]
fn main() -> ! {
    let costs = bench::measure(&CLOCK, HZ);
    let Some((mut app, mut device)) = Device::start(&RING, &CLOCK, HZ) else {
        exit(false)
    };
    bench::record(app.telemetry(), &costs, "riscv32imc");
    critical_section::with(|cs| APP.borrow(cs).replace(Some(app)));
    set_mtimecmp(CLOCK.now_ticks() + PERIOD);
    // SAFETY: the handler above is ready and the state it uses is initialised; enabling the
    // machine timer interrupt and then interrupts globally starts the control loop.
    unsafe {
        riscv::register::mie::set_mtimer();
        riscv::interrupt::enable();
    }
    let counters = device.run(&mut Virt);
    exit(counters.pushed > 0 && costs.refused == 0)
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    exit(false)
}
