//! # northstar-cartridge
//!
//! The observability cartridge on top of the store: metrics recorded through the hot path
//! under the spec's three limits (payload size, sampling, per-metric rate), regression
//! detection in two modes (the spec's fixed percentages, and the noise-aware default that
//! only flags changes standing out of the measured noise), the benchmark runner's
//! `on_benchmark_complete` hook, and criterion ingestion.
//!
//! The algorithms ([`MetricKind`], [`stats`], [`segment`], [`detect`], [`criterion`]) know
//! nothing of the store and are tested on their own; [`cartridge`] connects them to a
//! [`MetricStore`].
#![deny(unsafe_op_in_unsafe_fn, missing_docs, missing_debug_implementations)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod detect;
pub mod evaluate;
pub mod explain;
mod kind;
mod point;
pub mod segment;
pub mod stats;

pub use detect::{DetectConfig, Finding, Mode, Point, Status, Verdict};
pub use kind::MetricKind;
pub use segment::SegmentConfig;
pub mod cartridge;
pub mod criterion;
mod error;
mod limiter;
mod sample;
mod store;
mod user_metric;

pub use cartridge::{
    Alert, BenchmarkComplete, CartridgeConfig, CartridgeError, CartridgeStats, IngestReport,
    ObservabilityCartridge, Outcome, Series, SeriesKey, SeriesShifts, SeriesVerdict,
};
pub use store::{MemoryStore, MetricStore, RegressionRecord, SampleFilter, SampleRecord};
pub use user_metric::UserMetric;
