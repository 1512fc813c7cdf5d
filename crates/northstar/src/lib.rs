//! # northstar
//!
//! Northstar telemetry in one dependency: the instrumentation macros, the event types, and one
//! call that stores what the macros record.
//!
//! ```no_run
//! fn main() -> Result<(), northstar::StoreError> {
//!     // Opens (or creates) the store and drains the macros' global recorder into it.
//!     // Keep the guard: dropping it flushes and closes the store.
//!     let _northstar = northstar::init("./northstar-data")?;
//!     northstar::event!("kv.wal_sync", bytes = 4096u64, duration_ns = 1200u64);
//!     northstar::perf_sample!("get_latency_ns", 812, "ns", "mode" => "read");
//!     Ok(())
//! }
//! ```
//!
//! The macros always write to the process-wide recorder ([`Recorder::global`]); [`init`] (or
//! [`Builder::init`]) is the one place that stores it. Opening a store with
//! `northstar_store::EventManager::open(dir, StoreConfig::default())` instead drains a
//! **private** recorder that the macros never write to (it is for events recorded through
//! `EventManager::record`): use it only when that is what you want.
//!
//! ## What survives each way a program ends
//!
//! Events go from the macro to the calling thread's ring (memory), from the ring to the
//! flusher's open block (memory, cut every `flush_interval`, 10 ms by default), from the block
//! to the segment file (the operating system's page cache), and from the page cache to the disk
//! (per [`FsyncPolicy`]).
//!
//! | how the program ends | what is stored |
//! |---|---|
//! | the guard is dropped (end of `main`, or `guard.close()`) | everything recorded before the drop: the rings are drained, the last block written, the segment sealed and synced (unless `FsyncPolicy::None`) |
//! | a panic that unwinds through the guard's scope (`panic = "unwind"`, the default) | the same: the guard is dropped while unwinding |
//! | a panic in another thread | nothing is lost: the process goes on; the thread's ring is drained when the thread exits |
//! | `std::process::exit` (or returning from `main` while the guard lives elsewhere, e.g. in a `static`) | everything recorded before `exit`: an exit handler (`atexit`) flushes the store (rings drained, blocks written, synced per policy); the active segment is not sealed and gets its index rebuilt on the next open |
//! | SIGINT or SIGTERM with the default action, or `panic = "abort"` | what the flusher had written before the signal: at most the last `flush_interval` (10 ms) of events, plus whatever the rings held, is lost. Install a handler that drops the guard (or calls [`Guard::flush`]) to store it all |
//! | SIGKILL, or the OOM killer | the same as SIGINT: written blocks survive (they are in the page cache), the last `flush_interval` and the rings do not |
//! | power loss or a kernel crash | what was synced: `FsyncPolicy::EveryBlock` loses at most the block being written; `Interval(d)` (default 1 s) loses at most the last `d`; `None` loses whatever the page cache had not written back. A block torn by the crash fails its CRC and is cut off on the next open; nothing wrong is ever read back |
//!
//! Whatever the way, a store never reads back a damaged or half-written event: every block is
//! checksummed, and `northstar verify` lists what a crash cut off.
//!
//! ## Never silent
//!
//! Events the macros record while no store drains the global recorder stay in its rings (and
//! once a ring is full they are dropped and counted). At process exit, if any event was never
//! stored or was dropped, one line on stderr says how many and why
//! ([`northstar_core::recorder::exit_report`] gives the same text; silence it with
//! [`northstar_core::recorder::disable_exit_warning`]). [`Guard::close`] returns a
//! [`Report`] with the recorder's counters.
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]
#![cfg_attr(not(feature = "std"), no_std)]

pub use northstar_core::{self as core, events, Event, EventType, Visibility};
pub use northstar_core::{event, operation, perf_sample};

#[cfg(feature = "std")]
pub use northstar_core::capture::{capture, Captured, CapturedEvent};
#[cfg(feature = "std")]
pub use northstar_core::recorder::{Recorder, RecorderConfig};
#[cfg(feature = "std")]
pub use northstar_store::{self as store, EventManager, FsyncPolicy, StoreConfig, StoreError};

#[cfg(feature = "std")]
mod setup;
#[cfg(feature = "std")]
pub use setup::{init, Builder, Guard, Report};
