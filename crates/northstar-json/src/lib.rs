//! # northstar-json
//!
//! The spec's JSON shape of a Northstar event, both ways, for any program: read a JSON event
//! into a typed [`northstar_core::Event`] ([`parse_line`], [`parse_event`]), write one back
//! ([`event_string`], [`write_event`], [`event_json`]), and user-defined events ([`user`]).
//!
//! ```json
//! {"event_type": "agent_operation", "timestamp": 1704067200000001000, "agent_id": 1,
//!  "session_id": 100, "visibility": "public", "payload": {...}, "event_id": 4294967296}
//! ```
//! - `event_type`: the spec's name; `timestamp`: Unix nanoseconds.
//! - The actor is `agent_id` for the `agent_*` events and `actor_id` for the others (either
//!   name is accepted on input, as are the spec's per-type field names `author`,
//!   `generator_id`, `author_id` and `agent_id` inside `payload`).
//! - `session_id` sits at the top level for the events that have one (input also accepts it
//!   inside `payload`).
//! - `payload` holds every remaining field under the spec's name: the core's payload structs,
//!   through serde (`northstar_core::json`: the same definition gives each payload its codec,
//!   its field visitor and its JSON, field names and defaults included).
//! - `event_id` is written by stores and ignored on input (a store assigns its own ids).
//!
//! Fields the spec's examples leave out take the defaults the payload definitions name (the
//! CLI's README lists them, "JSON defaults"); unknown fields are refused so a typo is never
//! silently lost, and an error names the field's path (`payload.timestamp_window.start`).
//!
//! Reading borrows: core payloads hold `&str` and list views, so [`parse_event`] reads the
//! event from a parsed [`Value`] and hands it to a callback while what it borrows is alive.
#![deny(unsafe_code, missing_docs, missing_debug_implementations)]

use northstar_core::events::Severity;
use northstar_core::json::{Context, JsonInput};
use northstar_core::user::FieldValue;
use northstar_core::{Event, EventType, Visibility};
use serde::de::value::MapDeserializer;
use serde::de::{Deserialize, Deserializer, IgnoredAny};
use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt;

mod strict;
pub mod user;

/// A JSON event that does not have the spec's shape; `path` names the offending field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError {
    /// Dotted path of the field, e.g. `payload.timestamp_window.start` (empty: the whole line).
    pub path: String,
    /// What is wrong with it.
    pub msg: String,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.msg)
        } else {
            write!(f, "{}: {}", self.path, self.msg)
        }
    }
}

impl std::error::Error for JsonError {}

/// The fields of an event outside its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// Unix nanoseconds.
    pub timestamp: u64,
    /// The agent, author or generator (0: none).
    pub actor_id: u64,
    /// Who may see the event.
    pub visibility: Visibility,
    /// The id given on input, if any (informational: a store assigns its own).
    pub event_id: Option<u64>,
}

fn err<T>(path: &str, msg: impl Into<String>) -> Result<T, JsonError> {
    Err(JsonError {
        path: path.to_string(),
        msg: msg.into(),
    })
}

/// A serde error as a [`JsonError`]: `prefix`, then the path serde_path_to_error tracked. Serde
/// names a missing or unknown field in its message, at its struct's path: the field's name
/// moves into the path.
fn at_path(prefix: &str, e: serde_path_to_error::Error<serde_json::Error>) -> JsonError {
    use serde_path_to_error::Segment;
    let mut path = prefix.to_string();
    for segment in e.path().iter() {
        match segment {
            Segment::Seq { index } => path.push_str(&format!("[{index}]")),
            Segment::Map { key } => push_key(&mut path, key),
            _ => {}
        }
    }
    let mut msg = e.inner().to_string();
    for (start, say) in [
        ("missing field `", "missing (required)"),
        ("unknown field `", "unknown field"),
    ] {
        let Some(rest) = msg.strip_prefix(start) else {
            continue;
        };
        if let Some((name, tail)) = rest.split_once('`') {
            if path.rsplit('.').next().is_none_or(|last| last != name) {
                push_key(&mut path, name);
            }
            msg = format!("{say}{tail}");
        }
        break;
    }
    JsonError { path, msg }
}

fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The object at `path`, or an error naming what was found instead.
fn object<'v>(v: &'v Value, path: &str) -> Result<&'v Map<String, Value>, JsonError> {
    match v {
        Value::Object(m) => Ok(m),
        other => err(path, format!("expected an object, found {}", kind(other))),
    }
}

/// Refuses an array where the payload's definition has a nested object (serde's derived
/// readers take a struct's fields in order from an array too, so
/// `"correlation_hints": ["a..b", [1]]` would be read as an object): every other mismatch is
/// the typed readers' to report.
fn nested_objects_are_objects(
    map: &Map<String, Value>,
    fields: &[northstar_core::FieldInfo],
    path: &str,
) -> Result<(), JsonError> {
    use northstar_core::Kind;
    /// Whether a value of `kind` can hold a nested object: only those fields are walked (no
    /// path is built for a scalar, a map or a list of scalars such as `session_ids`).
    fn holds_object(kind: &Kind) -> bool {
        match kind {
            Kind::Struct(_) => true,
            Kind::Option(inner) | Kind::List(inner) => holds_object(inner),
            _ => false,
        }
    }
    fn check(v: &Value, kind: &Kind, path: &str) -> Result<(), JsonError> {
        match (kind, v) {
            (Kind::Option(_), Value::Null) => Ok(()),
            (Kind::Option(inner), v) => check(v, inner, path),
            (Kind::Struct(fields), v) => nested_objects_are_objects(object(v, path)?, fields, path),
            (Kind::List(inner), Value::Array(items)) => items
                .iter()
                .enumerate()
                .try_for_each(|(i, item)| check(item, inner, &format!("{path}[{i}]"))),
            _ => Ok(()),
        }
    }
    fields.iter().try_for_each(|f| match map.get(f.name) {
        Some(v) if holds_object(&f.kind) => check(v, &f.kind, &format!("{path}.{}", f.name)),
        _ => Ok(()),
    })
}

/// A `visibility` field: a spec name; `null` is refused, so a producer's missing value never
/// silently makes an event public.
fn visibility<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Visibility>, D::Error> {
    match Option::<Visibility>::deserialize(d)? {
        None => Err(serde::de::Error::custom(
            "null is not a visibility (expected private, team or public; leave the field out for public)",
        )),
        some => Ok(some),
    }
}

/// The top level of a spec event, as given.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Top<'v> {
    #[serde(borrow)]
    event_type: &'v str,
    timestamp: Option<u64>,
    agent_id: Option<u64>,
    actor_id: Option<u64>,
    session_id: Option<u64>,
    #[serde(default, deserialize_with = "visibility")]
    visibility: Option<Visibility>,
    /// Read by the payload's own type, once the type is known.
    #[allow(dead_code)]
    payload: Option<IgnoredAny>,
    event_id: Option<u64>,
}

/// The payload object as the core reads it: the given fields but the ones the top level
/// takes (the actor's per-type name, `session_id`, review_note's `visibility`), plus the
/// values the top level decides (`session_id`) and computed defaults.
struct PayloadInput<'v> {
    map: &'v Map<String, Value>,
    skip: Vec<&'static str>,
    extra: Vec<(&'static str, Value)>,
}

fn entry<'x>(k: &'x str, v: &'x Value) -> (&'x str, &'x Value) {
    (k, v)
}

impl JsonInput for PayloadInput<'_> {
    type Error = JsonError;

    // `skip.contains(&key)` would need the key as a `&&'static str`.
    #[allow(clippy::manual_contains)]
    fn read<'x, T: Deserialize<'x>>(&'x self) -> Result<T, JsonError> {
        let given = self
            .map
            .iter()
            .filter(|(k, _)| !self.skip.iter().any(|s| *s == k.as_str()))
            .map(|(k, v)| entry(k, v));
        let added = self.extra.iter().map(|(k, v)| entry(k, v));
        let de = MapDeserializer::<_, serde_json::Error>::new(given.chain(added));
        serde_path_to_error::deserialize(de).map_err(|e| at_path("payload", e))
    }
}

/// A `u64` field of the payload the top level reads (the actor's per-type name, `session_id`).
fn payload_u64(p: &Map<String, Value>, key: &str) -> Result<Option<u64>, JsonError> {
    match p.get(key) {
        None => Ok(None),
        Some(v) => Option::<u64>::deserialize(v).map_err(|e| JsonError {
            path: format!("payload.{key}"),
            msg: e.to_string(),
        }),
    }
}

/// Returns the first of several ways to give one value, refusing ones that disagree.
fn agree<T: PartialEq + fmt::Display + Copy>(
    values: &[(&str, Option<T>)],
) -> Result<Option<T>, JsonError> {
    let mut found: Option<(&str, T)> = None;
    for &(path, v) in values {
        if let Some(v) = v {
            match found {
                Some((first, f)) if f != v => {
                    return err(path, format!("{v} disagrees with {first} = {f}"));
                }
                None => found = Some((path, v)),
                _ => {}
            }
        }
    }
    Ok(found.map(|(_, v)| v))
}

/// perf_regression's computed defaults: `regression_percent` is |current - baseline| /
/// baseline * 100 (0 for a zero baseline), `severity` the spec's band of the percentage.
fn regression_defaults(input: &mut PayloadInput<'_>) -> Result<(), JsonError> {
    let p = input.map;
    let given = |k: &str| p.get(k).filter(|v| !v.is_null());
    let leave_out = |input: &mut PayloadInput<'_>, key: &'static str, v: Value| {
        if p.contains_key(key) {
            input.skip.push(key); // a null: replaced by the default
        }
        input.extra.push((key, v));
    };
    let percent = match given("regression_percent") {
        Some(v) => v.as_f64().map(|x| x as f32),
        None => {
            let base = given("baseline_value").and_then(Value::as_f64);
            let cur = given("current_value").and_then(Value::as_f64);
            let computed = match (base, cur) {
                (Some(b), Some(c)) if b != 0.0 => ((c - b) / b * 100.0).abs() as f32,
                _ => 0.0,
            };
            // JSON has no infinity: a default that overflows f32 would read back as null.
            if !computed.is_finite() {
                return err(
                    "payload.regression_percent",
                    "the change from baseline_value to current_value overflows a 32-bit float: give regression_percent",
                );
            }
            leave_out(input, "regression_percent", f64::from(computed).into());
            Some(computed)
        }
    };
    if given("severity").is_none() {
        if let Some(pc) = percent {
            let band = Severity::from_percent(f64::from(pc)).name();
            leave_out(input, "severity", band.into());
        }
    }
    Ok(())
}

/// Parses one event in the spec's JSON shape and calls `f` with it while its borrowed strings
/// and lists are alive. `default_timestamp` is used when `timestamp` is absent.
pub fn parse_event<R>(
    v: &Value,
    default_timestamp: u64,
    f: impl FnOnce(&Envelope, &Event<'_>) -> R,
) -> Result<R, JsonError> {
    object(v, "")?;
    let top: Top<'_> = serde_path_to_error::deserialize(v).map_err(|e| at_path("", e))?;
    let Some(et) = EventType::from_name(top.event_type) else {
        let names: Vec<_> = EventType::ALL.iter().map(|t| t.name()).collect();
        return err(
            "event_type",
            format!(
                "unknown event type {:?} (expected one of: {}, or a user-defined event's name with a '.' or ':', like kv.wal_sync)",
                top.event_type,
                names.join(", ")
            ),
        );
    };
    let empty = Map::new();
    let payload = match v.get("payload") {
        None | Some(Value::Null) => &empty,
        Some(p) => object(p, "payload")?,
    };
    nested_objects_are_objects(payload, et.fields(), "payload")?;
    let mut input = PayloadInput {
        map: payload,
        skip: Vec::new(),
        extra: Vec::new(),
    };

    // The actor: `agent_id` or `actor_id`, or the spec's own name for it inside the payload.
    let alias = et.payload_actor_name();
    let alias_path = alias.map(|a| format!("payload.{a}")).unwrap_or_default();
    let payload_actor = match alias {
        Some(a) => {
            input.skip.push(a);
            payload_u64(payload, a)?
        }
        None => None,
    };
    let actor_id = agree(&[
        ("agent_id", top.agent_id),
        ("actor_id", top.actor_id),
        (alias_path.as_str(), payload_actor),
    ])?
    .unwrap_or(0);

    if top.session_id.is_some() && !et.has_session_id() {
        return err(
            "session_id",
            format!("{et} events have no session_id (perf_sample: use payload.correlation_hints.session_ids)"),
        );
    }
    if et.has_session_id() {
        input.skip.push("session_id");
        let session_id = agree(&[
            ("session_id", top.session_id),
            ("payload.session_id", payload_u64(payload, "session_id")?),
        ])?
        .unwrap_or(0);
        input.extra.push(("session_id", session_id.into()));
    }

    // The spec lists `visibility` among review_note's fields; accept it there too.
    let payload_vis = match payload.get("visibility") {
        Some(pv) if et == EventType::ReviewNote => {
            input.skip.push("visibility");
            visibility(pv).map_err(|e| JsonError {
                path: "payload.visibility".into(),
                msg: e.to_string(),
            })?
        }
        _ => None,
    };
    let visibility = agree(&[
        ("visibility", top.visibility),
        ("payload.visibility", payload_vis),
    ])?
    .unwrap_or_default();

    let timestamp = top.timestamp.unwrap_or(default_timestamp);
    let env = Envelope {
        timestamp,
        actor_id,
        visibility,
        event_id: top.event_id,
    };
    if et == EventType::PerfRegression {
        regression_defaults(&mut input)?;
    }
    let cx = Context {
        timestamp: i64::try_from(timestamp).unwrap_or(i64::MAX),
    };
    et.read_json(&input, &cx, |ev| f(&env, &ev))
}

/// Parses JSON text strictly: a key given twice in one object is refused (serde_json would
/// keep the last one), naming its path.
pub fn parse_value(line: &str) -> Result<Value, JsonError> {
    strict::from_str(line).map_err(|e| JsonError {
        path: String::new(),
        msg: if e.is_data() {
            e.to_string()
        } else {
            format!("not valid JSON: {e}")
        },
    })
}

/// Parses one line of JSON text (strictly, see [`parse_value`]) as a spec event (see
/// [`parse_event`]).
pub fn parse_line<R>(
    line: &str,
    default_timestamp: u64,
    f: impl FnOnce(&Envelope, &Event<'_>) -> R,
) -> Result<R, JsonError> {
    parse_event(&parse_value(line)?, default_timestamp, f)
}

/// An event in the spec's JSON shape, as serde writes it.
#[derive(Serialize)]
struct Out<'e> {
    event_type: &'static str,
    timestamp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    actor_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<u64>,
    visibility: Visibility,
    payload: &'e Event<'e>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_id: Option<u64>,
}

fn out<'e>(env: &Envelope, event: &'e Event<'e>) -> Out<'e> {
    let et = event.event_type();
    let agent = et.actor_is_agent();
    Out {
        event_type: et.name(),
        timestamp: env.timestamp,
        agent_id: agent.then_some(env.actor_id),
        actor_id: (!agent).then_some(env.actor_id),
        session_id: event.session_id(),
        visibility: env.visibility,
        payload: event,
        event_id: env.event_id,
    }
}

/// Writes an event as one line of the spec's JSON (no newline). Fails only when `w` does.
pub fn write_event<W: std::io::Write>(
    w: W,
    env: &Envelope,
    event: &Event<'_>,
) -> serde_json::Result<()> {
    serde_json::to_writer(w, &out(env, event))
}

/// An event as one line of the spec's JSON text. A float that is not finite is `null`; an
/// `f32` is its shortest decimal (`0.87`).
pub fn event_string(env: &Envelope, event: &Event<'_>) -> String {
    let mut buf = Vec::new();
    // Writing to a Vec cannot fail, and every key is a string.
    let _ = write_event(&mut buf, env, event);
    String::from_utf8(buf).unwrap_or_default()
}

/// An event as the spec's JSON object (the value of [`event_string`]'s text, so an `f32` is
/// the number its shortest decimal reads as).
pub fn event_json(env: &Envelope, event: &Event<'_>) -> Value {
    serde_json::from_str(&event_string(env, event)).unwrap_or(Value::Null)
}

/// A user-defined event's field value as typed JSON: integers and durations (ns) as
/// numbers, floats as numbers (non-finite ones as the strings "NaN", "inf", "-inf"), bools,
/// strings, bytes as a lowercase hex string, an absent optional as `null`.
pub fn user_value_json(v: &FieldValue<'_>) -> Value {
    match *v {
        FieldValue::U64(x) | FieldValue::DurationNs(x) => x.into(),
        FieldValue::I64(x) => x.into(),
        FieldValue::F64(x) => serde_json::Number::from_f64(x)
            .map(Value::Number)
            .unwrap_or_else(|| {
                Value::String(
                    if x.is_nan() {
                        "NaN"
                    } else if x > 0.0 {
                        "inf"
                    } else {
                        "-inf"
                    }
                    .into(),
                )
            }),
        FieldValue::Bool(b) => b.into(),
        FieldValue::Str(s) => s.into(),
        FieldValue::Bytes(b) => b
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<String>()
            .into(),
        FieldValue::None => Value::Null,
    }
}

/// A user-defined event in the spec events' shape, as serde writes it.
#[derive(Serialize)]
struct UserOut<'e> {
    event_type: &'e str,
    timestamp: u64,
    actor_id: u64,
    visibility: Visibility,
    payload: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    types: Option<Value>,
}

impl UserOut<'_> {
    fn json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// A user-defined event as JSON, in the spec events' shape: `event_type` is its `name`,
/// `payload` holds its runtime `values` (typed, see [`user_value_json`]) and its constant
/// fields (strings), in definition order.
pub fn user_event_json<'a, 'b, 'c, 'd>(
    env: &Envelope,
    name: &str,
    values: impl IntoIterator<Item = (&'a str, FieldValue<'b>)>,
    consts: impl IntoIterator<Item = (&'c str, &'d str)>,
) -> Value {
    let mut payload = Map::new();
    for (k, v) in values {
        payload.insert(k.to_string(), user_value_json(&v));
    }
    for (k, v) in consts {
        payload.insert(k.to_string(), v.into());
    }
    UserOut {
        event_type: name,
        timestamp: env.timestamp,
        actor_id: env.actor_id,
        visibility: env.visibility,
        payload,
        event_id: env.event_id,
        types: None,
    }
    .json()
}

/// The `record_json` fuzz target's body (also replayed over its seeds by a stable test): every
/// line that parses as an event must survive JSON -> Event -> bytes -> Event -> JSON -> Event
/// -> JSON unchanged after its first canonical rendering. Panics on any violation.
#[doc(hidden)]
pub fn fuzz_round_trip(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for line in text.lines() {
        let first = parse_line(line, 0, |env, ev| {
            let mut buf = vec![0u8; ev.encoded_len()];
            let n = ev
                .encode_into(&mut buf)
                .expect("buffer sized by encoded_len");
            let decoded = Event::decode(ev.event_type(), &buf[..n]).expect("own encoding decodes");
            assert_eq!(&decoded, ev, "binary round trip changed the event");
            event_json(env, ev)
        });
        let Ok(canonical) = first else { continue };
        let again = parse_event(&canonical, 0, event_json).expect("canonical JSON parses");
        assert_eq!(again, canonical, "JSON round trip changed the event");
    }
    user::fuzz_user_lines(text);
}

/// The README's programs, compiled and run as doctests (CI also builds them as a separate
/// crate from the README's own Cargo lines).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
#[derive(Debug)]
pub struct ReadmeDoctests;

#[cfg(test)]
mod tests;
