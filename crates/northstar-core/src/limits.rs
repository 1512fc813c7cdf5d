//! Hot-path safety from the spec: payload size limit, per-metric token-bucket rate limiting,
//! sampling, and the counters of every refusal.

/// The spec's default payload limit: 1 MiB.
pub const DEFAULT_PAYLOAD_LIMIT: usize = 1 << 20;
