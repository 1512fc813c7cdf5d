//! # Northstar on a microcontroller
//!
//! The target-independent part of the firmware: everything the three board binaries
//! (`src/bin/microbit.rs`, `src/bin/mps2_an386.rs`, `src/bin/riscv_virt.rs`) do except touching
//! their registers. The host tests drive the very same functions with a simulated clock.
//!
//! - a `static` [`StaticRing`](northstar_core::ring::StaticRing), split once with the safe
//!   `StaticRing::split`: the producer goes to the timer interrupt, the consumer to the idle
//!   loop;
//! - [`telemetry::Telemetry`]: the producer plus the board's clock, one method per event;
//!   [`app::ControlLoop`] is the instrumented application step the timer interrupt runs;
//! - [`device::Device`]: the idle loop's side: drains the ring through the link encoder
//!   (`northstar_link::LinkEncoder`) to the board's UART, sends the counters at the end;
//! - [`bench`]: the cost of one event, measured on the device's own clock (instructions when
//!   QEMU runs with `-icount shift=0`) and recorded as events like any other.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod app;
pub mod bench;
pub mod device;
pub mod telemetry;

/// Ring capacity (a power of two). A perf sample is ~110 bytes in the ring, so a burst of
/// [`app::BURST`] overflows it on purpose.
pub const RING_BYTES: usize = 2048;
/// Control-loop steps per second (the timer interrupt's rate).
pub const STEP_HZ: u64 = 100;
/// Steps before the firmware drains, reports and exits.
pub const STEPS: u32 = 300;
/// The actor id this device writes into every record header.
pub const DEVICE_ID: u64 = 0x00C0_FFEE;

/// The link encoder every board uses: a 512-byte dictionary arena of 40 entries, frames of up
/// to 320 bytes (a RAW record of up to 319), and the wire buffer COBS needs for them.
pub type Link = northstar_link::LinkEncoder<512, 40, 320, 330>;
