//! The cartridge's error type, apart from the cartridge so the stores and the cartridge can
//! both return it without importing each other.

use crate::criterion::CriterionError;
use northstar_store::StoreError;

/// What went wrong in the cartridge.
#[derive(Debug, thiserror::Error)]
pub enum CartridgeError {
    /// The configuration is unusable.
    #[error("invalid cartridge configuration: {0}")]
    Config(String),
    /// A metric value or name is unusable (NaN, infinite, empty name).
    #[error("invalid metric {metric:?}: {reason}")]
    Metric {
        /// The metric.
        metric: String,
        /// Why.
        reason: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Criterion output could not be read.
    #[error(transparent)]
    Criterion(#[from] CriterionError),
}
