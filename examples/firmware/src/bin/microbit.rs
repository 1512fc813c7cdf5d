//! The firmware on a BBC micro:bit (nRF51822, Cortex-M0, no compare-and-swap):
//! `qemu-system-arm -M microbit`. Records from SysTick, drains to UART0, exits through
//! semihosting. See `docs/FIRMWARE.md`.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]

#[path = "cortex_m_common.rs"]
mod common;

use core::ptr::{read_volatile, write_volatile};

use cortex_m_rt::entry;
use northstar_firmware::device::Board;

/// Core clock: the nRF51's 16 MHz HFCLK (what QEMU's model gives SysTick).
const HZ: u64 = 16_000_000;

/// nRF51 UART0 registers.
const UART0: usize = 0x4000_2000;
const TASKS_STARTTX: usize = UART0 + 0x008;
const EVENTS_TXDRDY: usize = UART0 + 0x11C;
const ENABLE: usize = UART0 + 0x500;
const TXD: usize = UART0 + 0x51C;

struct Microbit;

impl Board for Microbit {
    fn uart_write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            // SAFETY: TXD and EVENTS_TXDRDY are the nRF51 UART0's registers (fixed addresses of
            // the part, word-aligned); only this idle-loop context touches the UART.
            unsafe {
                write_volatile(EVENTS_TXDRDY as *mut u32, 0);
                write_volatile(TXD as *mut u32, u32::from(b));
                while read_volatile(EVENTS_TXDRDY as *const u32) == 0 {}
            }
        }
    }

    fn wait_for_interrupt(&mut self) {
        cortex_m::asm::wfi();
    }
}

#[entry]
fn main() -> ! {
    let Some(cp) = cortex_m::Peripherals::take() else {
        common::exit(false)
    };
    // SAFETY: ENABLE and TASKS_STARTTX are UART0 registers; 4 enables the UART, writing 1 to
    // the task starts the transmitter. Nothing else uses the UART yet.
    unsafe {
        write_volatile(ENABLE as *mut u32, 4);
        write_volatile(TASKS_STARTTX as *mut u32, 1);
    }
    common::run(cp.SYST, &mut Microbit, "cortex-m0")
}
