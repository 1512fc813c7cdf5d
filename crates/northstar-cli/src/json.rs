//! The spec's JSON shape of an event, both ways.
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
//! - `payload` holds every remaining field under the spec's name.
//! - `event_id` is written by `query` and ignored by `record` (the store assigns ids).
//!
//! Fields the spec's examples leave out take the defaults documented in the crate's
//! README.md ("JSON defaults"); unknown fields are rejected so a typo is never silently lost.
//!
//! Decoding borrows: core payloads hold `&str` and slices, so [`parse_event`] builds the event
//! from a borrowed [`Value`] and hands it to a callback while the borrowed parts are alive.

use northstar_core::events::{
    AgentOperation, AgentSessionEnded, AgentSessionStarted, BranchAction, Breakpoint,
    CorrelationHints, DebugReferences, DebugSession, DebugSnapshot, PerfRegression, PerfSample,
    ReviewNote, ReviewSummary, Severity, StackFrame, TimeWindow, VcsBranch, VcsCommit,
};
use northstar_core::{Event, EventType, Group, List, Visibility, Visit};
use serde_json::{Map, Value};
use std::fmt;

pub mod user;

/// A JSON event that does not have the spec's shape; `path` names the offending field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError {
    /// Dotted path of the field, e.g. `payload.timestamp_window.start`.
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
    /// The id given on input, if any (informational: the store assigns its own).
    pub event_id: Option<u64>,
}

fn err<T>(path: &str, msg: impl Into<String>) -> Result<T, JsonError> {
    Err(JsonError {
        path: path.to_string(),
        msg: msg.into(),
    })
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A JSON object being read, with the path used in error messages.
struct Obj<'v> {
    map: &'v Map<String, Value>,
    path: String,
}

impl<'v> Obj<'v> {
    fn new(v: &'v Value, path: String) -> Result<Self, JsonError> {
        match v {
            Value::Object(map) => Ok(Self { map, path }),
            other => err(&path, format!("expected an object, found {}", kind(other))),
        }
    }

    fn at(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// The field, treating JSON `null` as absent.
    fn get(&self, key: &str) -> Option<&'v Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn check_keys(&self, allowed: &[&str]) -> Result<(), JsonError> {
        for k in self.map.keys() {
            if !allowed.contains(&k.as_str()) {
                return err(
                    &self.at(k),
                    format!("unknown field (expected one of: {})", allowed.join(", ")),
                );
            }
        }
        Ok(())
    }

    fn opt_str(&self, key: &str) -> Result<Option<&'v str>, JsonError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => err(
                &self.at(key),
                format!("expected a string, found {}", kind(v)),
            ),
        }
    }

    fn req_str(&self, key: &str) -> Result<&'v str, JsonError> {
        self.opt_str(key)?
            .map_or_else(|| err(&self.at(key), "missing (required)"), Ok)
    }

    fn str_or(&self, key: &str, default: &'v str) -> Result<&'v str, JsonError> {
        Ok(self.opt_str(key)?.unwrap_or(default))
    }

    fn opt_u64(&self, key: &str) -> Result<Option<u64>, JsonError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_u64().map(Some).map_or_else(
                || {
                    err(
                        &self.at(key),
                        format!("expected an integer from 0 to 2^64-1, found {}", show(v)),
                    )
                },
                Ok,
            ),
        }
    }

    fn u64_or(&self, key: &str, default: u64) -> Result<u64, JsonError> {
        Ok(self.opt_u64(key)?.unwrap_or(default))
    }

    fn u32_or(&self, key: &str, default: u32) -> Result<u32, JsonError> {
        match self.opt_u64(key)? {
            None => Ok(default),
            Some(n) => u32::try_from(n).or_else(|_| err(&self.at(key), "larger than 2^32-1")),
        }
    }

    fn opt_i64(&self, key: &str) -> Result<Option<i64>, JsonError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_i64().map(Some).map_or_else(
                || {
                    err(
                        &self.at(key),
                        format!("expected a 64-bit signed integer, found {}", show(v)),
                    )
                },
                Ok,
            ),
        }
    }

    fn i64_or(&self, key: &str, default: i64) -> Result<i64, JsonError> {
        Ok(self.opt_i64(key)?.unwrap_or(default))
    }

    fn opt_f64(&self, key: &str) -> Result<Option<f64>, JsonError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_f64().map(Some).map_or_else(
                || {
                    err(
                        &self.at(key),
                        format!("expected a number, found {}", kind(v)),
                    )
                },
                Ok,
            ),
        }
    }

    fn req_f64(&self, key: &str) -> Result<f64, JsonError> {
        self.opt_f64(key)?
            .map_or_else(|| err(&self.at(key), "missing (required)"), Ok)
    }

    fn f32_or(&self, key: &str, default: f32) -> Result<f32, JsonError> {
        match self.opt_f64(key)? {
            None => Ok(default),
            Some(x) if x.abs() <= f64::from(f32::MAX) => Ok(x as f32),
            Some(_) => err(&self.at(key), "out of the range of a 32-bit float"),
        }
    }

    fn array(&self, key: &str) -> Result<&'v [Value], JsonError> {
        match self.get(key) {
            None => Ok(&[]),
            Some(Value::Array(a)) => Ok(a),
            Some(v) => err(
                &self.at(key),
                format!("expected an array, found {}", kind(v)),
            ),
        }
    }

    fn str_list(&self, key: &str) -> Result<Vec<&'v str>, JsonError> {
        self.array(key)?
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.as_str()),
                v => err(
                    &format!("{}[{i}]", self.at(key)),
                    format!("expected a string, found {}", kind(v)),
                ),
            })
            .collect()
    }

    fn u64_list(&self, key: &str) -> Result<Vec<u64>, JsonError> {
        self.array(key)?
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_u64().map_or_else(
                    || {
                        err(
                            &format!("{}[{i}]", self.at(key)),
                            format!("expected an integer from 0 to 2^64-1, found {}", show(v)),
                        )
                    },
                    Ok,
                )
            })
            .collect()
    }

    /// A `map<string, string>`, in the input's order.
    fn str_map(&self, key: &str) -> Result<Vec<(&'v str, &'v str)>, JsonError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.as_str(), s.as_str())),
                    v => err(
                        &join(&self.at(key), k),
                        format!("expected a string value, found {}", kind(v)),
                    ),
                })
                .collect(),
            Some(v) => err(
                &self.at(key),
                format!("expected an object of strings, found {}", kind(v)),
            ),
        }
    }

    fn obj(&self, key: &str) -> Result<Option<Obj<'v>>, JsonError> {
        self.get(key).map(|v| Obj::new(v, self.at(key))).transpose()
    }

    fn objects(&self, key: &str) -> Result<Vec<Obj<'v>>, JsonError> {
        self.array(key)?
            .iter()
            .enumerate()
            .map(|(i, v)| Obj::new(v, format!("{}[{i}]", self.at(key))))
            .collect()
    }
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

/// A value for an error message: a number or string as it is (cut), else its kind.
fn show_value(v: &Value) -> String {
    match v {
        Value::String(s) if s.chars().count() <= 40 => format!("{s:?}"),
        Value::String(_) => "a long string".into(),
        v => show(v),
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        v => kind(v).to_string(),
    }
}

/// Returns the first of several ways to give one value, refusing ones that disagree.
fn agree(values: &[(String, Option<u64>)]) -> Result<Option<u64>, JsonError> {
    let mut found: Option<(&str, u64)> = None;
    for (path, v) in values {
        if let Some(v) = *v {
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

/// Parses one event in the spec's JSON shape and calls `f` with it while its borrowed strings
/// and lists are alive. `default_timestamp` is used when `timestamp` is absent.
pub fn parse_event<R>(
    v: &Value,
    default_timestamp: u64,
    f: impl FnOnce(&Envelope, &Event<'_>) -> R,
) -> Result<R, JsonError> {
    let top = Obj::new(v, String::new())?;
    top.check_keys(&[
        "event_type",
        "timestamp",
        "agent_id",
        "actor_id",
        "session_id",
        "visibility",
        "payload",
        "event_id",
    ])?;
    let type_name = top.req_str("event_type")?;
    let Some(et) = EventType::from_name(type_name) else {
        let names: Vec<_> = EventType::ALL.iter().map(|t| t.name()).collect();
        return err(
            "event_type",
            format!(
                "unknown event type {type_name:?} (expected one of: {}, or a user-defined event's name with a '.' or ':', like kv.wal_sync)",
                names.join(", ")
            ),
        );
    };
    let empty = Value::Object(Map::new());
    let p = Obj::new(top.get("payload").unwrap_or(&empty), "payload".into())?;

    let alias = et.payload_actor_name();
    let actor_id = agree(&[
        ("agent_id".into(), top.opt_u64("agent_id")?),
        ("actor_id".into(), top.opt_u64("actor_id")?),
        (
            alias.map_or_else(String::new, |a| p.at(a)),
            match alias {
                Some(a) => p.opt_u64(a)?,
                None => None,
            },
        ),
    ])?
    .unwrap_or(0);

    let top_session = top.opt_u64("session_id")?;
    if top_session.is_some() && !et.has_session_id() {
        return err(
            "session_id",
            format!("{et} events have no session_id (perf_sample: use payload.correlation_hints.session_ids)"),
        );
    }
    let session_id = if et.has_session_id() {
        agree(&[
            ("session_id".into(), top_session),
            (p.at("session_id"), p.opt_u64("session_id")?),
        ])?
        .unwrap_or(0)
    } else {
        0
    };

    let vis_of = |o: &Obj<'_>| -> Result<Option<Visibility>, JsonError> {
        // Other fields read null as "not given"; a null visibility is refused instead, so a
        // producer's missing value never silently makes an event public.
        if o.map.get("visibility").is_some_and(Value::is_null) {
            return err(
                &o.at("visibility"),
                "null is not a visibility (expected private, team or public; leave the field out for public)",
            );
        }
        match o.opt_str("visibility")? {
            None => Ok(None),
            Some(s) => Visibility::from_name(s).map(Some).map_or_else(
                || {
                    err(
                        &o.at("visibility"),
                        format!("unknown visibility {s:?} (expected private, team or public)"),
                    )
                },
                Ok,
            ),
        }
    };
    let top_vis = vis_of(&top)?;
    // The spec lists `visibility` among review_note's fields; accept it there too.
    let payload_vis = if et == EventType::ReviewNote {
        vis_of(&p)?
    } else {
        None
    };
    if let (Some(a), Some(b)) = (top_vis, payload_vis) {
        if a != b {
            return err(
                "payload.visibility",
                format!("{b} disagrees with visibility = {a}"),
            );
        }
    }
    let visibility = top_vis.or(payload_vis).unwrap_or_default();

    let timestamp = top.u64_or("timestamp", default_timestamp)?;
    let env = Envelope {
        timestamp,
        actor_id,
        visibility,
        event_id: top.opt_u64("event_id")?,
    };
    let ts_i64 = i64::try_from(timestamp).unwrap_or(i64::MAX);

    // Keys every payload may carry besides its own fields.
    let mut common: Vec<&str> = Vec::new();
    common.extend(alias);
    if et.has_session_id() {
        common.push("session_id");
    }
    if et == EventType::ReviewNote {
        common.push("visibility");
    }
    let check = |own: &[&str]| {
        let all: Vec<&str> = own.iter().chain(common.iter()).copied().collect();
        p.check_keys(&all)
    };

    match et {
        EventType::AgentSessionStarted => {
            check(&["agent_version", "session_purpose", "metadata"])?;
            let metadata = p.str_map("metadata")?;
            let ev = AgentSessionStarted {
                session_id,
                agent_version: p.str_or("agent_version", "")?,
                session_purpose: p.str_or("session_purpose", "")?,
                metadata: List::Slice(&metadata),
            };
            Ok(f(&env, &ev.into()))
        }
        EventType::AgentSessionEnded => {
            check(&[])?;
            Ok(f(&env, &AgentSessionEnded { session_id }.into()))
        }
        EventType::AgentOperation => {
            check(&[
                "operation_type",
                "operation_id",
                "target_type",
                "target_id",
                "status",
                "duration_ns",
                "metadata",
            ])?;
            let metadata = p.str_map("metadata")?;
            let ev = AgentOperation {
                session_id,
                operation_type: p.req_str("operation_type")?,
                operation_id: p.u64_or("operation_id", 0)?,
                target_type: p.str_or("target_type", "")?,
                target_id: p.str_or("target_id", "")?,
                status: p.str_or("status", "completed")?,
                duration_ns: p.opt_i64("duration_ns")?,
                metadata: List::Slice(&metadata),
            };
            Ok(f(&env, &ev.into()))
        }
        EventType::ReviewNote => {
            check(&[
                "target_type",
                "target_id",
                "note_text",
                "references",
                "created_at",
            ])?;
            let references = p.str_list("references")?;
            let ev = ReviewNote {
                target_type: p.req_str("target_type")?,
                target_id: p.req_str("target_id")?,
                note_text: p.req_str("note_text")?,
                references: List::Slice(&references),
                created_at: p.i64_or("created_at", ts_i64)?,
            };
            Ok(f(&env, &ev.into()))
        }
        EventType::ReviewSummary => {
            check(&[
                "target_type",
                "target_id",
                "summary_text",
                "confidence",
                "model_id",
                "prompt_hash",
                "created_at",
            ])?;
            let ev = ReviewSummary {
                target_type: p.req_str("target_type")?,
                target_id: p.req_str("target_id")?,
                summary_text: p.req_str("summary_text")?,
                confidence: p.f32_or("confidence", 0.0)?,
                model_id: p.str_or("model_id", "")?,
                prompt_hash: p.opt_str("prompt_hash")?,
                created_at: p.i64_or("created_at", ts_i64)?,
            };
            Ok(f(&env, &ev.into()))
        }
        EventType::PerfSample => {
            check(&[
                "metric_name",
                "dimensions",
                "value",
                "unit",
                "timestamp_window",
                "correlation_hints",
            ])?;
            let dimensions = p.str_map("dimensions")?;
            let window = match p.obj("timestamp_window")? {
                None => TimeWindow {
                    start: ts_i64,
                    end: ts_i64,
                },
                Some(w) => {
                    w.check_keys(&["start", "end"])?;
                    TimeWindow {
                        start: w.i64_or("start", ts_i64)?,
                        end: w.i64_or("end", ts_i64)?,
                    }
                }
            };
            let hints = p.obj("correlation_hints")?;
            let (commit_range, session_ids) = match &hints {
                None => (None, Vec::new()),
                Some(h) => {
                    h.check_keys(&["commit_range", "session_ids"])?;
                    (h.opt_str("commit_range")?, h.u64_list("session_ids")?)
                }
            };
            let ev = PerfSample {
                metric_name: p.req_str("metric_name")?,
                dimensions: List::Slice(&dimensions),
                value: p.req_f64("value")?,
                unit: p.str_or("unit", "")?,
                timestamp_window: window,
                correlation_hints: CorrelationHints {
                    commit_range,
                    session_ids: List::Slice(&session_ids),
                },
            };
            Ok(f(&env, &ev.into()))
        }
        EventType::PerfRegression => {
            check(&[
                "metric_name",
                "baseline_value",
                "current_value",
                "regression_percent",
                "severity",
                "detected_at",
                "likely_cause",
                "correlated_commits",
            ])?;
            let baseline = p.req_f64("baseline_value")?;
            let current = p.req_f64("current_value")?;
            let computed = if baseline != 0.0 {
                ((current - baseline) / baseline * 100.0).abs() as f32
            } else {
                0.0
            };
            let percent = p.f32_or("regression_percent", computed)?;
            let severity = match p.opt_str("severity")? {
                None => Severity::from_percent(f64::from(percent)),
                Some(s) => Severity::from_name(s).map_or_else(
                    || {
                        err(
                            "payload.severity",
                            format!("unknown severity {s:?} (expected minor, moderate or severe)"),
                        )
                    },
                    Ok,
                )?,
            };
            let commits = p.str_list("correlated_commits")?;
            let ev = PerfRegression {
                metric_name: p.req_str("metric_name")?,
                baseline_value: baseline,
                current_value: current,
                regression_percent: percent,
                severity,
                detected_at: p.i64_or("detected_at", ts_i64)?,
                likely_cause: p.opt_str("likely_cause")?,
                correlated_commits: List::Slice(&commits),
            };
            Ok(f(&env, &ev.into()))
        }
        EventType::DebugSession => {
            check(&["tool", "breakpoints", "stack_summary", "references"])?;
            let mut bps = Vec::new();
            for b in p.objects("breakpoints")? {
                b.check_keys(&["file_path", "line", "condition", "hit_count"])?;
                bps.push(Breakpoint {
                    file_path: b.req_str("file_path")?,
                    line: b.u32_or("line", 0)?,
                    condition: b.opt_str("condition")?,
                    hit_count: b.u32_or("hit_count", 0)?,
                });
            }
            let refs = p.obj("references")?;
            let (commit_ids, symbol_names) = match &refs {
                None => (Vec::new(), Vec::new()),
                Some(r) => {
                    r.check_keys(&["commit_ids", "symbol_names"])?;
                    (r.str_list("commit_ids")?, r.str_list("symbol_names")?)
                }
            };
            let ev = DebugSession {
                tool: p.req_str("tool")?,
                session_id,
                breakpoints: List::Slice(&bps),
                stack_summary: p.opt_str("stack_summary")?,
                references: DebugReferences {
                    commit_ids: List::Slice(&commit_ids),
                    symbol_names: List::Slice(&symbol_names),
                },
            };
            Ok(f(&env, &ev.into()))
        }
        EventType::DebugSnapshot => {
            check(&["snapshot_id", "reason", "thread_id", "frames", "variables"])?;
            let mut frames = Vec::new();
            for fr in p.objects("frames")? {
                fr.check_keys(&["function", "file_path", "line"])?;
                frames.push(StackFrame {
                    function: fr.req_str("function")?,
                    file_path: fr.str_or("file_path", "")?,
                    line: fr.u32_or("line", 0)?,
                });
            }
            let variables = p.str_map("variables")?;
            let ev = DebugSnapshot {
                session_id,
                snapshot_id: p.u64_or("snapshot_id", 0)?,
                reason: p.str_or("reason", "manual")?,
                thread_id: p.u64_or("thread_id", 0)?,
                frames: List::Slice(&frames),
                variables: List::Slice(&variables),
            };
            Ok(f(&env, &ev.into()))
        }
        EventType::VcsCommit => {
            check(&[
                "commit_hash",
                "commit_message",
                "changed_files",
                "parent_commits",
                "branch",
                "timestamp",
            ])?;
            let changed = p.str_list("changed_files")?;
            let parents = p.str_list("parent_commits")?;
            let ev = VcsCommit {
                commit_hash: p.req_str("commit_hash")?,
                commit_message: p.str_or("commit_message", "")?,
                changed_files: List::Slice(&changed),
                parent_commits: List::Slice(&parents),
                branch: p.str_or("branch", "")?,
                timestamp: p.i64_or("timestamp", ts_i64)?,
            };
            Ok(f(&env, &ev.into()))
        }
        EventType::VcsBranch => {
            check(&[
                "branch",
                "action",
                "head_commit",
                "base_branch",
                "ahead",
                "behind",
            ])?;
            let action = match p.opt_str("action")? {
                None => BranchAction::Updated,
                Some(s) => BranchAction::from_name(s).map_or_else(
                    || {
                        err(
                            "payload.action",
                            format!("unknown action {s:?} (expected created, updated or deleted)"),
                        )
                    },
                    Ok,
                )?,
            };
            let ev = VcsBranch {
                branch: p.req_str("branch")?,
                action,
                head_commit: p.str_or("head_commit", "")?,
                base_branch: p.opt_str("base_branch")?,
                ahead: p.u32_or("ahead", 0)?,
                behind: p.u32_or("behind", 0)?,
            };
            Ok(f(&env, &ev.into()))
        }
    }
}

/// Parses one line of JSON text (see [`parse_event`]).
pub fn parse_line<R>(
    line: &str,
    default_timestamp: u64,
    f: impl FnOnce(&Envelope, &Event<'_>) -> R,
) -> Result<R, JsonError> {
    // Strict: a key given twice is refused, never resolved last-wins.
    let v: Value = crate::strict_json::from_str(line).map_err(|e| JsonError {
        path: String::new(),
        msg: if e.is_data() {
            e.to_string()
        } else {
            format!("not valid JSON: {e}")
        },
    })?;
    parse_event(&v, default_timestamp, f)
}

/// Parses one line of JSON text strictly (a key given twice is refused), as [`parse_line`]
/// does before reading the event.
pub fn parse_value(line: &str) -> Result<Value, JsonError> {
    crate::strict_json::from_str(line).map_err(|e| JsonError {
        path: String::new(),
        msg: if e.is_data() {
            e.to_string()
        } else {
            format!("not valid JSON: {e}")
        },
    })
}

/// An f32 as the shortest decimal that reads back as the same f32 (`0.87`, not
/// `0.8700000047683716`).
fn f32_json(x: f32) -> Value {
    x.to_string()
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

fn f64_json(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// The payload of an event as the spec's JSON object (without the fields lifted to the top
/// level: actor, session_id, visibility), walked field by field from the core's definition.
pub fn payload_json(event: &Event<'_>) -> Value {
    let mut b = PayloadJson {
        lift_session_id: event.event_type().has_session_id(),
        stack: vec![(String::new(), Value::Object(Map::new()))],
    };
    event.visit(&mut b);
    b.stack.pop().map_or(Value::Null, |(_, v)| v)
}

/// Builds [`payload_json`]'s tree from [`Visit`] calls.
struct PayloadJson {
    /// Leave the top-level `session_id` out (it is written at the event's top level).
    lift_session_id: bool,
    /// The open groups, the payload object first.
    stack: Vec<(String, Value)>,
}

impl PayloadJson {
    fn put(&mut self, name: &str, v: Value) {
        match self.stack.last_mut() {
            Some((_, Value::Object(m))) => {
                m.insert(name.to_string(), v);
            }
            Some((_, Value::Array(a))) => a.push(v),
            _ => {}
        }
    }
}

impl<'a> Visit<'a> for PayloadJson {
    fn visit_u64(&mut self, name: &str, value: u64) {
        if !(self.lift_session_id && self.stack.len() == 1 && name == "session_id") {
            self.put(name, value.into());
        }
    }
    fn visit_i64(&mut self, name: &str, value: i64) {
        self.put(name, value.into());
    }
    fn visit_f64(&mut self, name: &str, value: f64) {
        self.put(name, f64_json(value));
    }
    fn visit_f32(&mut self, name: &str, value: f32) {
        self.put(name, f32_json(value));
    }
    fn visit_str(&mut self, name: &str, value: &'a str) {
        self.put(name, value.into());
    }
    fn visit_absent(&mut self, name: &str) {
        self.put(name, Value::Null);
    }
    fn begin(&mut self, name: &str, group: Group) {
        let v = match group {
            Group::List => Value::Array(Vec::new()),
            Group::Struct | Group::Map => Value::Object(Map::new()),
        };
        self.stack.push((name.to_string(), v));
    }
    fn end(&mut self) {
        if self.stack.len() > 1 {
            if let Some((name, v)) = self.stack.pop() {
                self.put(&name, v);
            }
        }
    }
}

/// An event as the spec's JSON object.
pub fn event_json(env: &Envelope, event: &Event<'_>) -> Value {
    let et = event.event_type();
    let mut o = Map::new();
    o.insert("event_type".into(), et.name().into());
    o.insert("timestamp".into(), env.timestamp.into());
    let actor_key = if et.actor_is_agent() {
        "agent_id"
    } else {
        "actor_id"
    };
    o.insert(actor_key.into(), env.actor_id.into());
    if let Some(s) = event.session_id() {
        o.insert("session_id".into(), s.into());
    }
    o.insert("visibility".into(), env.visibility.name().into());
    o.insert("payload".into(), payload_json(event));
    if let Some(id) = env.event_id {
        o.insert("event_id".into(), id.into());
    }
    Value::Object(o)
}

/// A user-defined event's field value as typed JSON: integers and durations (ns) as
/// numbers, floats as numbers (non-finite ones as the strings "NaN", "inf", "-inf"), bools,
/// strings, bytes as a lowercase hex string, an absent optional as `null`.
pub fn user_value_json(v: &northstar_core::user::FieldValue<'_>) -> Value {
    use northstar_core::user::FieldValue as F;
    match *v {
        F::U64(x) | F::DurationNs(x) => x.into(),
        F::I64(x) => x.into(),
        F::F64(x) => serde_json::Number::from_f64(x)
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
        F::Bool(b) => b.into(),
        F::Str(s) => s.into(),
        F::Bytes(b) => b
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<String>()
            .into(),
        F::None => Value::Null,
    }
}

/// A user-defined event as JSON, in the spec events' shape: `event_type` is its name,
/// `payload` holds its runtime fields (typed, see [`user_value_json`]) and its constant
/// fields (strings), in definition order.
pub fn user_event_json(
    env: &Envelope,
    se: &northstar_store::StoredEvent,
    user: &northstar_store::interning::UserSchema,
) -> Value {
    let mut payload = Map::new();
    for (k, v) in user.values(&se.payload) {
        payload.insert(k.to_string(), user_value_json(&v));
    }
    for (k, v) in user.consts() {
        payload.insert(k.to_string(), v.into());
    }
    let mut o = Map::new();
    o.insert("event_type".into(), user.name().into());
    o.insert("timestamp".into(), env.timestamp.into());
    o.insert("actor_id".into(), env.actor_id.into());
    o.insert("visibility".into(), env.visibility.name().into());
    o.insert("payload".into(), Value::Object(payload));
    if let Some(id) = env.event_id {
        o.insert("event_id".into(), id.into());
    }
    Value::Object(o)
}

/// The fuzz target's body (also replayed over the seeds by a stable test): every line that
/// parses as an event must survive JSON -> Event -> bytes -> Event -> JSON -> Event -> JSON
/// unchanged after its first canonical rendering. Panics on any violation.
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// One fully populated event of every type, in the canonical output shape.
    pub(crate) fn full_examples() -> Vec<Value> {
        vec![
            json!({"event_type": "agent_session_started", "timestamp": 1704067200000000000u64, "agent_id": 1, "session_id": 100, "visibility": "public",
                   "payload": {"agent_version": "1.0.0", "session_purpose": "code_review", "metadata": {"hostname": "dev-machine-1", "workspace": "/path/to/project"}}}),
            json!({"event_type": "agent_session_ended", "timestamp": 1704067200000000500u64, "agent_id": 1, "session_id": 100, "visibility": "private", "payload": {}}),
            json!({"event_type": "agent_operation", "timestamp": 1704067200000001000u64, "agent_id": 1, "session_id": 100, "visibility": "public",
                   "payload": {"operation_type": "read", "operation_id": 1, "target_type": "btree", "target_id": "user_key", "status": "completed", "duration_ns": 5000000, "metadata": {"commit_range": "abc123..def456"}}}),
            json!({"event_type": "review_note", "timestamp": 1704067200000002000u64, "actor_id": 42, "visibility": "team",
                   "payload": {"target_type": "commit", "target_id": "abc123", "note_text": "race", "references": ["commit:abc123", "file:src/main.zig"], "created_at": 1704067200000002000i64}}),
            json!({"event_type": "review_summary", "timestamp": 1704067200000002500u64, "actor_id": 7, "visibility": "public",
                   "payload": {"target_type": "pr", "target_id": "17", "summary_text": "Adds a cache", "confidence": 0.87, "model_id": "m-1", "prompt_hash": "ph", "created_at": -5}}),
            json!({"event_type": "perf_sample", "timestamp": 1704067200000003000u64, "actor_id": 0, "visibility": "public",
                   "payload": {"metric_name": "latency_p99_ns", "dimensions": {"benchmark": "btree_point_get", "profile": "ci", "mode": "read"}, "value": 1000.0, "unit": "ns",
                               "timestamp_window": {"start": 1704067200000000000i64, "end": 1704067200000003000i64}, "correlation_hints": {"commit_range": "abc123..def456", "session_ids": [100, 101]}}}),
            json!({"event_type": "perf_regression", "timestamp": 1704067200000004000u64, "actor_id": 3, "visibility": "public",
                   "payload": {"metric_name": "p99_latency_ns", "baseline_value": 1000.0, "current_value": 1150.0, "regression_percent": 15.0, "severity": "moderate", "detected_at": 1704067200000004000i64, "likely_cause": null, "correlated_commits": ["abc123", "def456"]}}),
            json!({"event_type": "debug_session", "timestamp": 1704067200000005000u64, "actor_id": 9, "session_id": 555, "visibility": "team",
                   "payload": {"tool": "gdb", "breakpoints": [{"file_path": "src/a.rs", "line": 10, "condition": "x > 1", "hit_count": 3}, {"file_path": "src/b.rs", "line": 2, "condition": null, "hit_count": 0}],
                               "stack_summary": "main > run", "references": {"commit_ids": ["abc"], "symbol_names": ["run"]}}}),
            json!({"event_type": "debug_snapshot", "timestamp": 1704067200000006000u64, "actor_id": 9, "session_id": 555, "visibility": "private",
                   "payload": {"snapshot_id": 2, "reason": "breakpoint", "thread_id": 77, "frames": [{"function": "run", "file_path": "src/a.rs", "line": 10}], "variables": {"x": "2"}}}),
            json!({"event_type": "vcs_commit", "timestamp": 1704067200000007000u64, "actor_id": 12, "visibility": "public",
                   "payload": {"commit_hash": "def456", "commit_message": "Fix race", "changed_files": ["src/main.rs"], "parent_commits": ["abc123"], "branch": "main", "timestamp": 1704060000000000000i64}}),
            json!({"event_type": "vcs_branch", "timestamp": 1704067200000008000u64, "actor_id": 12, "visibility": "public",
                   "payload": {"branch": "feature/x", "action": "created", "head_commit": "def456", "base_branch": "main", "ahead": 1, "behind": 0}}),
        ]
    }

    #[test]
    fn every_event_type_round_trips_json_event_json() {
        let examples = full_examples();
        let mut seen = Vec::new();
        for v in &examples {
            let out = parse_event(v, 0, |env, ev| {
                seen.push(ev.event_type());
                // Through the binary codec too, as the store will.
                let mut buf = vec![0u8; ev.encoded_len()];
                let n = ev.encode_into(&mut buf).unwrap();
                let decoded = Event::decode(ev.event_type(), &buf[..n]).unwrap();
                event_json(env, &decoded)
            })
            .unwrap();
            assert_eq!(&out, v);
            // Key order follows the spec's too.
            assert_eq!(out.to_string(), v.to_string());
        }
        seen.sort();
        assert_eq!(seen, EventType::ALL.to_vec());
    }

    /// The spec's example events, verbatim.
    const SPEC_EXAMPLES: &[&str] = &[
        r#"{"event_type":"agent_session_started","timestamp":1704067200000000000,"agent_id":1,"payload":{"agent_version":"1.0.0","session_purpose":"code_review","metadata":{"hostname":"dev-machine-1","workspace":"/path/to/project"}}}"#,
        r#"{"event_type":"agent_operation","timestamp":1704067200000001000,"agent_id":1,"session_id":100,"payload":{"operation_type":"read","operation_id":1,"target_type":"btree","target_id":"user_key","status":"completed","duration_ns":5000000,"metadata":{"commit_range":"abc123..def456"}}}"#,
        r#"{"event_type":"review_note","timestamp":1704067200000002000,"actor_id":42,"visibility":"team","payload":{"target_type":"commit","target_id":"abc123","note_text":"This commit introduces a potential race condition","references":["commit:abc123","file:src/main.zig"]}}"#,
        r#"{"event_type":"perf_sample","timestamp":1704067200000003000,"payload":{"metric_name":"latency_p99_ns","dimensions":{"benchmark":"btree_point_get","profile":"ci","mode":"read"},"value":1000.0,"unit":"ns","timestamp_window":{"start":1704067200000000000,"end":1704067200000003000},"correlation_hints":{"commit_range":"abc123..def456","session_ids":[100,101]}}}"#,
        r#"{"event_type":"perf_regression","timestamp":1704067200000004000,"payload":{"metric_name":"p99_latency_ns","baseline_value":1000.0,"current_value":1150.0,"regression_percent":15.0,"severity":"moderate","detected_at":1704067200000004000,"likely_cause":"New btree split logic","correlated_commits":["abc123","def456"]}}"#,
    ];

    #[test]
    fn spec_examples_are_accepted_with_documented_defaults() {
        for line in SPEC_EXAMPLES {
            let out = parse_line(line, 99, event_json).unwrap();
            let input: Value = serde_json::from_str(line).unwrap();
            // Everything given comes back unchanged.
            for (k, v) in input.as_object().unwrap() {
                if k == "payload" {
                    for (pk, pv) in v.as_object().unwrap() {
                        assert_eq!(&out["payload"][pk], pv, "{line}: payload.{pk}");
                    }
                } else {
                    assert_eq!(&out[k], v, "{line}: {k}");
                }
            }
        }
        // Defaults: session 0, public, created_at = the event's timestamp, actor 0.
        let started = parse_line(SPEC_EXAMPLES[0], 99, event_json).unwrap();
        assert_eq!(started["session_id"], 0);
        assert_eq!(started["visibility"], "public");
        let note = parse_line(SPEC_EXAMPLES[2], 99, event_json).unwrap();
        assert_eq!(note["payload"]["created_at"], 1704067200000002000u64);
        let sample = parse_line(SPEC_EXAMPLES[3], 99, event_json).unwrap();
        assert_eq!(sample["actor_id"], 0);
        // A missing timestamp takes the caller's default (record uses "now").
        let t = parse_line(r#"{"event_type":"agent_session_ended"}"#, 99, |e, _| {
            e.timestamp
        });
        assert_eq!(t, Ok(99));
    }

    #[test]
    fn spec_field_names_inside_payload_are_accepted() {
        let j = r#"{"event_type":"review_note","timestamp":1,"payload":{"author":42,"visibility":"private","target_type":"commit","target_id":"a","note_text":"n"}}"#;
        let out = parse_line(j, 0, event_json).unwrap();
        assert_eq!(out["actor_id"], 42);
        assert_eq!(out["visibility"], "private");
        let j = r#"{"event_type":"agent_operation","payload":{"agent_id":5,"session_id":6,"operation_type":"get"}}"#;
        let out = parse_line(j, 0, event_json).unwrap();
        assert_eq!(
            (out["agent_id"].clone(), out["session_id"].clone()),
            (json!(5), json!(6))
        );
    }

    #[test]
    fn bad_input_names_the_field() {
        let cases = [
            ("{", ""),
            ("[]", ""),
            (r#"{"timestamp":1}"#, "event_type"),
            (r#"{"event_type":"nope"}"#, "event_type"),
            (
                r#"{"event_type":"perf_sample","payload":{"value":1}}"#,
                "payload.metric_name",
            ),
            (
                r#"{"event_type":"perf_sample","payload":{"metric_name":"m","value":"x"}}"#,
                "payload.value",
            ),
            (
                r#"{"event_type":"perf_sample","timestamp":-1,"payload":{"metric_name":"m","value":1}}"#,
                "timestamp",
            ),
            (
                r#"{"event_type":"perf_sample","payload":{"metric_name":"m","value":1,"extra":1}}"#,
                "payload.extra",
            ),
            (
                r#"{"event_type":"perf_sample","session_id":3,"payload":{"metric_name":"m","value":1}}"#,
                "session_id",
            ),
            (
                r#"{"event_type":"agent_session_ended","agent_id":1,"actor_id":2}"#,
                "actor_id",
            ),
            (
                r#"{"event_type":"agent_session_ended","visibility":"secret"}"#,
                "visibility",
            ),
            (
                r#"{"event_type":"review_summary","payload":{"target_type":"a","target_id":"b","summary_text":"c","confidence":1e300}}"#,
                "payload.confidence",
            ),
            (
                r#"{"event_type":"debug_snapshot","payload":{"frames":[{"line":1}]}}"#,
                "payload.frames[0].function",
            ),
            (
                r#"{"event_type":"vcs_branch","payload":{"branch":"b","ahead":5000000000}}"#,
                "payload.ahead",
            ),
            (
                r#"{"event_type":"agent_operation","payload":{"operation_type":"x","metadata":{"a":1}}}"#,
                "payload.metadata.a",
            ),
        ];
        for (line, path) in cases {
            let e = parse_line(line, 0, |_, _| ()).unwrap_err();
            assert_eq!(e.path, path, "{line}: {e}");
        }
    }

    #[test]
    fn fuzz_body_accepts_every_example() {
        for v in full_examples() {
            fuzz_round_trip(v.to_string().as_bytes());
        }
        fuzz_round_trip(SPEC_EXAMPLES.join("\n").as_bytes());
        fuzz_round_trip(b"\xff\xfe not utf8");
    }
}
