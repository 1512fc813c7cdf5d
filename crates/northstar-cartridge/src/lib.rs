//! northstar-cartridge (under construction).
