//! Emits `cfg(northstar_cas)` when the target has pointer-width compare-and-swap (or the
//! `portable-atomic` feature provides it, or loom models it). The registry and the token
//! bucket need it; the ring, codecs and sampler do not.
fn main() {
    println!("cargo:rustc-check-cfg=cfg(northstar_cas)");
    println!("cargo:rerun-if-changed=build.rs");
    let has_cas = std::env::var("CARGO_CFG_TARGET_HAS_ATOMIC")
        .unwrap_or_default()
        .split(',')
        .any(|width| width == "ptr");
    let portable = std::env::var_os("CARGO_FEATURE_PORTABLE_ATOMIC").is_some();
    let loom = std::env::var_os("CARGO_CFG_LOOM").is_some();
    if has_cas || portable || loom {
        println!("cargo:rustc-cfg=northstar_cas");
    }
}
