//! Decodes arbitrary bytes as records of user-event definitions and user events, resolving
//! each user record among the definitions before it: must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| northstar_core::fuzzing::decode_user_events(data));
