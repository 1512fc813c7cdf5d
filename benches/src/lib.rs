//! Criterion benchmarks live in benches/*.rs.
