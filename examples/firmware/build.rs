//! Puts `memory.x` where cortex-m-rt's `link.x` finds it and passes the linker script to the
//! binary, for bare-metal ARM targets only.
//!
//! This is done here rather than in `.cargo/config.toml` because cargo reads that file from the
//! *current directory*, and CI builds this crate from the repository root with
//! `--manifest-path`.
use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=build.rs");
    let target = env::var("TARGET").unwrap_or_default();
    if !(target.starts_with("thumb") && target.ends_with("-none-eabi")
        || target.ends_with("-none-eabihf"))
    {
        return;
    }
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out.join("memory.x"), include_bytes!("memory.x")).expect("write memory.x to OUT_DIR");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg-bins=--nmagic");
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
}
