//! The smallest useful firmware (for the size table): one event type, a ring, the link
//! encoder, a UART. Cortex-M0 (micro:bit). Records 100 fixed events, drains, exits.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]

use core::ptr::{read_volatile, write_volatile};

use cortex_m_rt::entry;
use cortex_m_semihosting::debug;
use northstar_core::events::AgentSessionEnded;
use northstar_core::ring::StaticRing;
use northstar_core::Visibility;
use northstar_link::{FixedEncoder, Sink};

const UART0: usize = 0x4000_2000;
const TASKS_STARTTX: usize = UART0 + 0x008;
const EVENTS_TXDRDY: usize = UART0 + 0x11C;
const ENABLE: usize = UART0 + 0x500;
const TXD: usize = UART0 + 0x51C;

static RING: StaticRing<512> = StaticRing::new();

struct Uart;

impl Sink for Uart {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            // SAFETY: nRF51 UART0 registers (fixed, word-aligned); only `main` uses the UART.
            unsafe {
                write_volatile(EVENTS_TXDRDY as *mut u32, 0);
                write_volatile(TXD as *mut u32, u32::from(b));
                while read_volatile(EVENTS_TXDRDY as *const u32) == 0 {}
            }
        }
    }
}

#[entry]
fn main() -> ! {
    // SAFETY: UART0's ENABLE and TASKS_STARTTX registers: enable, start the transmitter.
    unsafe {
        write_volatile(ENABLE as *mut u32, 4);
        write_volatile(TASKS_STARTTX as *mut u32, 1);
    }
    let mut ok = false;
    if let Some((mut producer, mut consumer)) = RING.split() {
        let mut link = FixedEncoder::<AgentSessionEnded>::new(16_000_000, 0);
        for i in 0..100u64 {
            let _ = producer.record(
                i * 1000,
                1,
                Visibility::Team,
                &AgentSessionEnded { session_id: i },
            );
            link.pump(&mut consumer, &mut Uart);
        }
        link.sync(&consumer.ring().counters(), &mut Uart, true);
        ok = true;
    }
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
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}
