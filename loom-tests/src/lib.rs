//! Loom models of northstar-core's concurrent pieces: the SPSC byte ring (publish, consume,
//! wrap, full-ring drop counting), the ring registry (claim, release, reuse) and the token
//! bucket. The models live in `tests/` under `#![cfg(loom)]`; this library is empty.
//!
//! Run them with (see `README.md` for timings and what a weakened ordering looks like):
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
//!     cargo test -j2 -p northstar-loom-tests --release
//! ```
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]
