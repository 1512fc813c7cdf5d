//! Wall-clock time as the store stamps it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix nanoseconds now.
pub fn unix_now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
