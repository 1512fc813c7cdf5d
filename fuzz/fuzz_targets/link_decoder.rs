//! Decodes arbitrary bytes as a firmware link stream (COBS frames, CRC, dictionary, records):
//! must never panic, every rebuilt record must pass the core's checks, and feeding the bytes
//! in pieces or one by one must give the same items.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| northstar_link::fuzzing::link_decoder(data));
