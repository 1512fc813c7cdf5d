//! # northstar-demo
//!
//! What `northstar demo` runs, kept out of the command-line tool's own code: an instrumented
//! key-value store ([`kv`]: a B-tree behind a write-ahead log), the multi-threaded workload
//! that drives it ([`workload`]), a probe of the hot path's cost ([`hot_path`]) and the global
//! allocator that counts the workload's allocations ([`alloc_count`]). The `northstar` binary
//! installs that allocator; it counts only while the demo's workload runs.
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod alloc_count;
pub mod hot_path;
pub mod kv;
pub mod workload;
