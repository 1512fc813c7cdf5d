//! # Northstar on a microcontroller
//!
//! The target-independent half of the firmware example: everything the `#[entry]` binary
//! (`src/main.rs`) does except touching Cortex-M registers. The host tests drive the very same
//! functions with a simulated clock, so what they check is what the device runs.
//!
//! The shape of a firmware using `northstar-core` (built with `default-features = false`):
//! - a `static` [`StaticRing`](northstar_core::ring::StaticRing) (no heap): one producer
//!   context records into it, one consumer context drains it;
//! - a clock of the firmware's own ([`clock::Wide32`] widens a 32-bit cycle counter, wrapped in
//!   `northstar_core::clock::CounterClock`): records carry raw ticks, converted to nanoseconds
//!   only where a field needs them (a window, a duration);
//! - [`telemetry::Telemetry`]: the producer plus the clock, one method per event the firmware
//!   records; [`app::ControlLoop`] is the instrumented application step;
//! - [`drain::drain_to_link`]: the consumer's loop body, run from the idle loop: it decodes and
//!   tallies every record ([`drain::Tally`]) and forwards its bytes, unchanged, to a host link
//!   ([`link::Sink`], e.g. [`link::LinkBuffer`] that a debug probe reads).
#![no_std]
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod app;
pub mod clock;
pub mod drain;
pub mod link;
pub mod telemetry;

/// Ring capacity used by the firmware binary (a power of two; records are ~100-250 bytes).
pub const RING_BYTES: usize = 4096;
/// Host-link buffer size used by the firmware binary. The drain only starts when the link can
/// take the ring's largest record, so this must be at least `RING_BYTES / 2`.
pub const LINK_BYTES: usize = 4096;
const _: () = assert!(
    LINK_BYTES >= RING_BYTES / 2,
    "the link must hold the ring's largest record"
);

/// The actor id this device writes into every record header.
pub const DEVICE_ID: u64 = 0x00C0_FFEE;
