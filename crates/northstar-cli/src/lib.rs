//! northstar-cli (under construction).
