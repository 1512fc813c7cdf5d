//! Loom models of the core's concurrent pieces; run with RUSTFLAGS="--cfg loom".
