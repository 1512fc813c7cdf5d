//! The `northstar` binary: a thin shell over `northstar_cli::run`.
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

#[global_allocator]
static ALLOC: northstar_cli::alloc_count::CountingAlloc = northstar_cli::alloc_count::CountingAlloc;

fn main() {
    std::process::exit(northstar_cli::run(std::env::args_os()));
}
