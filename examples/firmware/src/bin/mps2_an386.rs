//! The firmware on an Arm MPS2 board with the AN386 image (Cortex-M4):
//! `qemu-system-arm -M mps2-an386`. Records from SysTick, drains to UART0 (CMSDK APB UART),
//! exits through semihosting. See `docs/FIRMWARE.md`.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]

#[path = "cortex_m_common.rs"]
mod common;

use core::ptr::{read_volatile, write_volatile};

use cortex_m_rt::entry;
use northstar_firmware::device::Board;

/// Core clock of the AN386 image: 25 MHz.
const HZ: u64 = 25_000_000;

/// CMSDK APB UART0 registers.
const UART0: usize = 0x4000_4000;
const DATA: usize = UART0;
const STATE: usize = UART0 + 0x4;
const CTRL: usize = UART0 + 0x8;
const BAUDDIV: usize = UART0 + 0x10;
const STATE_TX_FULL: u32 = 1;

struct Mps2;

impl Board for Mps2 {
    fn uart_write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            // SAFETY: STATE and DATA are UART0's registers (fixed, word-aligned addresses of the
            // AN386 image); only this idle-loop context touches the UART.
            unsafe {
                while read_volatile(STATE as *const u32) & STATE_TX_FULL != 0 {}
                write_volatile(DATA as *mut u32, u32::from(b));
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
    // SAFETY: BAUDDIV and CTRL are UART0's registers; a divider of 16 is the smallest valid
    // one and CTRL bit 0 enables the transmitter. Nothing else uses the UART yet.
    unsafe {
        write_volatile(BAUDDIV as *mut u32, 16);
        write_volatile(CTRL as *mut u32, 1);
    }
    common::run(cp.SYST, &mut Mps2, "cortex-m4")
}
