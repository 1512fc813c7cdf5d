//! The `northstar` binary: a thin shell over `northstar_cli::run`.
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

/// Counts allocations only while `northstar demo`'s workload runs; every other command pays
/// one relaxed load and a never-taken branch per allocation (`northstar_demo::alloc_count`).
#[global_allocator]
static ALLOC: northstar_demo::alloc_count::CountingAlloc =
    northstar_demo::alloc_count::CountingAlloc;

fn main() {
    std::process::exit(northstar_cli::run(std::env::args_os()));
}
