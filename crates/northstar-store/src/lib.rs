//! northstar-store (under construction).
