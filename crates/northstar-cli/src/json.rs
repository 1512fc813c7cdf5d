//! The spec's JSON shape of an event, both ways: the `northstar-json` crate, plus the store's
//! user-defined events as JSON.

pub use northstar_json::{
    event_json, event_string, fuzz_round_trip, parse_event, parse_line, parse_value, user,
    user_value_json, write_event, Envelope, JsonError,
};
use serde_json::Value;

/// A stored user-defined event as JSON (see [`northstar_json::user_event_json`]).
pub fn user_event_json(
    env: &Envelope,
    se: &northstar_store::StoredEvent,
    user: &northstar_store::interning::UserSchema,
) -> Value {
    northstar_json::user_event_json(env, user.name(), user.values(&se.payload), user.consts())
}
