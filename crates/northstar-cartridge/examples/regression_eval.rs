//! Prints the spec-mode vs noise-aware comparison of docs/REGRESSION.md.
//!
//! `cargo run --release -p northstar-cartridge --example regression_eval [samples_per_commit [max_p_value]]`
use northstar_cartridge::evaluate::{evaluate, markdown, EvalConfig};

fn main() {
    let arg = |i: usize| std::env::args().nth(i);
    let mut cfg = EvalConfig::default();
    if let Some(v) = arg(1).and_then(|s| s.parse().ok()) {
        cfg.samples_per_commit = v;
    }
    if let Some(v) = arg(2).and_then(|s| s.parse().ok()) {
        cfg.detect.segments.max_p_value = v;
    }
    println!(
        "{} histories per noise level ({} shifted), {} commits x {} samples, shifts +{}%..+{}% (latency, spec threshold 10%), \
         max p {}, seed {}\n",
        cfg.histories,
        cfg.histories / 2,
        cfg.commits,
        cfg.samples_per_commit,
        cfg.shift_range.0,
        cfg.shift_range.1,
        cfg.detect.segments.max_p_value,
        cfg.seed
    );
    print!("{}", markdown(&evaluate(&cfg)));
}
