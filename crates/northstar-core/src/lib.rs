//! # northstar-core
//!
//! The `no_std`, heap-free core of Northstar telemetry. A hot path records an event by
//! writing one fixed-layout record (`[EventHeader(24)][Payload(N)][Trailer(8)]`) into its
//! thread's own single-producer/single-consumer byte ring: no allocation, no lock, no system
//! call, no blocking. A full ring drops the event and counts it.
//!
//! Where to look:
//! - [`record`]: the record framing, viewed in place from untrusted bytes.
//! - [`event_type`], [`events`], [`codec`]: the event types (defined once, in [`events`]), their payload codecs and [`visit`], the generic field walk.
//! - [`ring`]: the SPSC byte ring (the hot path); [`registry`]: rings claimed by threads.
//! - [`limits`]: payload limit, token-bucket rate limiting, sampling, refusal counters.
//! - [`clock`]: the clock trait (TSC with `std`, firmware-supplied without).
//! - the macros ([`event!`], [`perf_sample!`], [`operation!`]): the instrumentation API.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn, missing_docs, missing_debug_implementations)]
#![warn(clippy::undocumented_unsafe_blocks)]

// The std parts (recorder, TSC clock, fuzzing helpers) name std explicitly; everything else
// is checked to build without it.
#[cfg(any(feature = "std", test))]
extern crate std;
// `serde`: the JSON input of payloads reads lists into `Vec`s.
#[cfg(feature = "serde")]
extern crate alloc;

#[macro_use]
mod macros;

#[cfg(all(feature = "std", northstar_cas))]
pub mod capture;
pub mod clock;
pub mod codec;
pub mod event_type;
pub mod events;
#[cfg(feature = "std")]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(feature = "serde")]
pub mod json;
pub mod limits;
pub mod record;
#[cfg(all(feature = "std", northstar_cas))]
pub mod recorder;
#[cfg(northstar_cas)]
pub mod registry;
pub mod ring;
#[cfg(all(feature = "std", northstar_cas))]
pub mod scope;
mod sync;
#[cfg(northstar_cas)]
pub mod user;
pub mod visit;
/// The type bytes of user events and definitions, known to the record reader on every target.
pub(crate) mod user_bytes {
    pub(crate) const USER: u8 = 0xE0;
    pub(crate) const DEFINITION: u8 = 0xE1;
    /// An interned `perf_sample!`/`operation!` record (`crate::interned`): in rings only.
    /// Unused on targets without compare-and-swap, which have no interned call sites.
    #[cfg_attr(not(northstar_cas), allow(dead_code))]
    pub(crate) const INTERNED: u8 = 0xE2;
    /// Its stored form in a block, and its call site's stored definition (the store's disk
    /// form of interned records; `crate::interned`).
    #[cfg_attr(not(northstar_cas), allow(dead_code))]
    pub(crate) const STORED_INTERNED: u8 = 0xE3;
    #[cfg_attr(not(northstar_cas), allow(dead_code))]
    pub(crate) const SITE_DEFINITION: u8 = 0xE4;
}

/// The guard `operation!` returns when instrumentation is off: zero-sized, does nothing.
/// Defined at the root so it exists on every target, with and without `std`.
#[derive(Clone, Copy, Debug, Default)]
pub struct DisabledGuard;

impl DisabledGuard {
    /// Does nothing.
    pub fn fail(&mut self) {}
    /// Always 0.
    pub fn operation_id(&self) -> u64 {
        0
    }
}

/// What the macros expand to, and the core-to-store protocol behind them: not API. Nothing here
/// is covered by semver; use the macros (and `northstar_store` to read what they recorded).
/// One hidden module, as tracing-core's `__macro_support`, so the documented API stays what a
/// user calls.
#[doc(hidden)]
#[path = "."] // its file module is src/interned.rs, where the docs have always pointed
pub mod __private {
    /// Loom, for the macros' call-site statics under `--cfg loom` (built lazily per execution).
    #[cfg(loom)]
    pub use loom;

    // Interned call sites of `perf_sample!` and `operation!` (the call-site statics the macros
    // declare) and the ring-only record they write, which the drain (the store's flusher, the
    // capture API) expands to the standard record. Documented in the file.
    #[cfg(northstar_cas)]
    pub mod interned;
}
/// The crate's own name for the hidden module above (`src/interned.rs`), for the std modules
/// that record and expand interned records.
#[cfg(all(feature = "std", northstar_cas))]
use __private::interned;

pub use codec::{DecodeError, EncodeError, List, StrList, StrMap};
pub use event_type::{EventType, Visibility};
pub use events::{Event, Payload, WithPayload};
pub use record::{decode_record, EventHeader, FramingError, RecordKind, RecordView, Trailer};
pub use ring::{Counters, PushError, Refusal};
pub use visit::{FieldInfo, Group, Kind, Visit, VisitField};
