//! Picks the linker memory map of the board the target implies and passes the runtime's linker
//! script, for bare-metal targets only.
//!
//! This is done here rather than in `.cargo/config.toml` because cargo reads that file from the
//! *current directory*, and CI builds this crate from the repository root with
//! `--manifest-path`.
use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=memory");
    println!("cargo:rerun-if-changed=build.rs");
    let target = env::var("TARGET").unwrap_or_default();
    let map: &[u8] = if target.starts_with("thumbv6m") {
        include_bytes!("memory/microbit.x")
    } else if target.starts_with("thumbv7em") {
        include_bytes!("memory/mps2-an386.x")
    } else if target.starts_with("riscv32") && target.ends_with("-none-elf") {
        include_bytes!("memory/riscv-virt.x")
    } else {
        return;
    };
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out.join("memory.x"), map).expect("write memory.x to OUT_DIR");
    println!("cargo:rustc-link-search={}", out.display());
    if target.starts_with("riscv") {
        // riscv-rt's link.x expects memory.x first.
        println!("cargo:rustc-link-arg-bins=-Tmemory.x");
    } else {
        println!("cargo:rustc-link-arg-bins=--nmagic");
    }
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
}
