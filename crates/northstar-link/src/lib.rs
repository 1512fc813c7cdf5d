//! # northstar-link
//!
//! The link between a firmware's ring and a host store: how ring records travel over a byte
//! stream (a UART, semihosting, a socket) in a few bytes each, and how the host turns them back
//! into the very records the device recorded.
//!
//! - [`wire`]: frames. Each frame is `COBS(body ‖ CRC-16(body))` followed by one `0x00` byte.
//!   COBS removes every zero from the frame, so the `0x00` marks frame ends only: after a lost
//!   or corrupted byte the reader discards one frame and is back in step at the next `0x00`; the
//!   CRC refuses a frame that a lost byte shortened. Integers are LEB128 varints.
//! - [`schema`]: the field layout of each event type (a short string such as `"qssm"`), which
//!   both sides walk to split a core payload into *shape* (string ids, option tags, list
//!   counts: constant for a call site) and *values* (numbers).
//! - [`encoder`] (`no_std`, no heap, fixed memory): the device side. It drains the ring, and
//!   for each record sends each new string once ([`wire::kind::STRING`]), each new
//!   `(type, visibility, actor, shape)` once ([`wire::kind::TEMPLATE`], carrying its schema),
//!   and then only the template id, the timestamp delta and the values. Periodic
//!   [`wire::kind::SYNC`] frames carry the ring's drop counters and the number of records sent,
//!   so the host counts what it lost on the link exactly.
//! - [`fixed`] (`no_std`): the smallest device side, for a firmware that records one event type
//!   of fixed-width fields: the same frames, written without the schema walk, the dictionary,
//!   floating point or 64-bit division (the minimal firmware fits in 4 KiB of flash with it).
//! - `decoder` (feature `std`): the host side. It rebuilds each core record (header with the
//!   device's ticks converted to Unix nanoseconds, payload in the core's codec, trailer) and
//!   validates it with the core's own decoder.
//!
//! The dictionary is per connection: a [`wire::kind::HELLO`] frame starts a connection and
//! empties it on both sides. `docs/FIRMWARE.md` documents every byte.
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(unsafe_code, missing_docs)]

pub mod encoder;
pub mod fixed;
pub mod schema;
pub mod wire;

#[cfg(feature = "std")]
pub mod decoder;
#[cfg(feature = "std")]
#[doc(hidden)]
pub mod fuzzing;

pub use encoder::{LinkEncoder, LinkStats, Sink};
pub use fixed::FixedEncoder;
pub use wire::{frame_crc, FrameReader};
