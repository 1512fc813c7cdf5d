//! Everything the tool writes: the one fallible writer for standard output (see [`out!`] and
//! [`outln!`]), the one escape for text bound for a terminal ([`escape_text`]), cutting text on
//! character boundaries ([`cut`]), a one-line human summary per event type for tables, and the
//! spec's JSON shape for `--format json`.
//!
//! Human-readable output (tables, summaries, error messages) goes through [`escape_text`], so
//! control characters in event text (ESC, OSC, BEL, NUL, C1 controls, bidirectional overrides)
//! never reach a terminal raw. JSON output is exact: serde_json escapes control characters the
//! way JSON requires.
//!
//! [`out!`]: crate::out
//! [`outln!`]: crate::outln

use crate::error::{CliError, CliResult};
use crate::json::{event_json, event_string, Envelope};
use crate::timespec::format_rfc3339;
use northstar_core::{Event, Group, Visit};
use std::fmt::Write as _;
use std::io::Write as _;

/// Writes to standard output; a failed write is an error (never a panic, unlike `print!`): a
/// closed pipe ends the command quietly, any other failure is reported with exit status 2.
/// Use through [`out!`](crate::out) and [`outln!`](crate::outln).
pub fn write_stdout(args: std::fmt::Arguments<'_>) -> CliResult {
    std::io::stdout()
        .lock()
        .write_fmt(args)
        .map_err(CliError::Output)
}

/// Flushes standard output (called once when a command ends, so a failure of the last buffered
/// write is reported too).
pub fn flush_stdout() -> CliResult {
    std::io::stdout().flush().map_err(CliError::Output)
}

/// Writes a message to standard error, never panicking: when standard error itself cannot be
/// written there is nowhere left to report it. Use through [`note!`](crate::note).
pub fn write_stderr(args: std::fmt::Arguments<'_>) {
    let _ = std::io::stderr().lock().write_fmt(args);
}

pub use crate::escape::{escape_text, is_unsafe_for_terminal};

/// The first `max_chars` characters of `s`, cut on a character boundary (never inside a
/// multibyte character).
pub fn cut(s: &str, max_chars: usize) -> &str {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// One short line saying what the event is about, walked from the payload's one definition
/// (the core's field visitor), so a new event type or field needs no edit here: text and enum
/// fields as they are, numbers as `name=value` (durations, `*_ns`, in a readable unit), maps as
/// `{k=v,...}`, lists of text or numbers as `name=[a,b]`, lists of structs as their count
/// (`2 breakpoints`); text over [`SUMMARY_TEXT_CHARS`] characters is cut, on a character
/// boundary. Time fields (Unix nanoseconds) and the session have columns of their own
/// or are left out; empty text and absent optionals are skipped.
pub fn summary(event: &Event<'_>) -> String {
    let mut s = Summary::default();
    event.visit(&mut s);
    s.words.join(" ")
}

/// Longer text fields are cut to this many characters (and `…`) in a summary.
pub const SUMMARY_TEXT_CHARS: usize = 40;

/// An open group of [`Summary`].
enum Open {
    /// A nested struct: its fields are summarized like the payload's own.
    Struct,
    /// A struct inside a list: counted, not shown.
    Hidden,
    /// A map's `k=v` entries.
    Map(Vec<String>),
    /// A list: its name, its scalar items, its count of struct items.
    List(String, Vec<String>, usize),
}

/// Builds [`summary`]'s words from [`Visit`] calls.
#[derive(Default)]
struct Summary {
    words: Vec<String>,
    open: Vec<Open>,
}

impl Summary {
    /// A scalar: inside a list an item, inside a map an entry, else a word.
    fn put(&mut self, name: &str, value: String, named: bool) {
        match self.open.last_mut() {
            Some(Open::Hidden) => {}
            Some(Open::List(_, items, _)) => items.push(value),
            Some(Open::Map(entries)) => entries.push(format!("{name}={value}")),
            Some(Open::Struct) | None if named => self.words.push(format!("{name}={value}")),
            Some(Open::Struct) | None if !value.is_empty() => self.words.push(value),
            Some(Open::Struct) | None => {}
        }
    }
}

impl<'a> Visit<'a> for Summary {
    fn visit_u64(&mut self, name: &str, value: u64) {
        if !(self.open.is_empty() && name == "session_id") {
            self.put(name, value.to_string(), true);
        }
    }
    fn visit_i64(&mut self, name: &str, value: i64) {
        // Durations; every other signed field is a time (Unix nanoseconds).
        if name.ends_with("_ns") {
            self.put(name, human_ns(value as f64), true);
        }
    }
    fn visit_f64(&mut self, name: &str, value: f64) {
        self.put(name, trim_float(value), true);
    }
    fn visit_str(&mut self, name: &str, value: &'a str) {
        let text = if value.chars().count() > SUMMARY_TEXT_CHARS {
            format!("{}…", cut(value, SUMMARY_TEXT_CHARS))
        } else {
            value.to_string()
        };
        self.put(name, text, false);
    }
    fn begin(&mut self, name: &str, group: Group) {
        let open = match (group, self.open.last_mut()) {
            (_, Some(Open::Hidden)) => Open::Hidden,
            (Group::Struct, Some(Open::List(_, _, structs))) => {
                *structs += 1;
                Open::Hidden
            }
            (Group::Struct, _) => Open::Struct,
            (Group::Map, _) => Open::Map(Vec::new()),
            (Group::List, _) => Open::List(name.to_string(), Vec::new(), 0),
        };
        self.open.push(open);
    }
    fn end(&mut self) {
        let word = match self.open.pop() {
            Some(Open::Map(entries)) if !entries.is_empty() => {
                format!("{{{}}}", entries.join(","))
            }
            Some(Open::List(name, _, structs)) if structs > 0 => format!("{structs} {name}"),
            Some(Open::List(name, items, _)) if !items.is_empty() => {
                format!("{name}=[{}]", items.join(","))
            }
            _ => return,
        };
        match self.open.last_mut() {
            Some(Open::Hidden) => {}
            Some(Open::List(_, items, _)) => items.push(word),
            _ => self.words.push(word),
        }
    }
}

/// A float without a trailing `.0` for whole numbers, else 4 significant decimals.
pub fn trim_float(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Nanoseconds in the largest unit that keeps a number >= 1.
pub fn human_ns(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2}s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2}ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1}us", ns / 1e3)
    } else {
        format!("{ns:.0}ns")
    }
}

/// The table row of an event (columns: see [`EVENT_HEADERS`]).
pub fn event_row(env: &Envelope, event: &Event<'_>) -> Vec<String> {
    vec![
        env.event_id.map(|i| i.to_string()).unwrap_or_default(),
        format_rfc3339(env.timestamp),
        event.event_type().name().to_string(),
        env.actor_id.to_string(),
        event
            .session_id()
            .map(|s| s.to_string())
            .unwrap_or_else(|| "-".into()),
        env.visibility.name().to_string(),
        summary(event),
    ]
}

/// Column headers of [`event_row`].
pub const EVENT_HEADERS: [&str; 7] = [
    "EVENT_ID",
    "TIME (UTC)",
    "TYPE",
    "ACTOR",
    "SESSION",
    "VIS",
    "SUMMARY",
];

/// The JSON line of an event: exact (it parses back to the same event), and safe for a
/// terminal (see [`json_terminal_safe`]).
pub fn event_line(env: &Envelope, event: &Event<'_>) -> String {
    json_terminal_safe(event_string(env, event))
}

/// Serialized JSON with every character [`is_unsafe_for_terminal`] written as a `\uXXXX`
/// escape. JSON escapes C0 controls itself but leaves C1 controls (U+0080..U+009F, which some
/// terminals obey) and bidirectional overrides raw; outside strings JSON text is plain ASCII, so
/// rewriting them changes no value: the line still parses to exactly the same data.
pub fn json_terminal_safe(json: String) -> String {
    if !json.chars().any(is_unsafe_for_terminal) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if is_unsafe_for_terminal(c) {
            // Every such character is in the Basic Multilingual Plane: one \u escape.
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// The body of the `text_render` fuzz target (replayed on stable by `tests/fuzz_seeds.rs`):
/// renders arbitrary text through every human-readable path (event summaries, table rows, the
/// table renderer, [`escape_text`], [`cut`]) and the JSON line, and panics if an invariant
/// breaks: no panic anywhere, nothing unsafe for a terminal in any output, one table line per
/// row, cuts on character boundaries, and JSON that parses back to the exact text.
#[doc(hidden)]
pub fn fuzz_render(data: &[u8]) {
    let (selector, rest) = data.split_first().unwrap_or((&0, &[]));
    let s = String::from_utf8_lossy(rest);
    let s: &str = &s;

    let escaped = escape_text(s);
    assert!(!escaped.chars().any(is_unsafe_for_terminal), "{escaped:?}");
    if !s.chars().any(is_unsafe_for_terminal) {
        assert_eq!(escaped, s);
    }
    let n = usize::from(*selector);
    let c = cut(s, n);
    assert!(s.starts_with(c));
    assert_eq!(c.chars().count(), n.min(s.chars().count()));

    let text = serde_json::Value::String(s.to_string());
    let key = serde_json::Value::String(format!("k{}", cut(s, 8)));
    let mut dims = serde_json::Map::new();
    dims.insert(key.as_str().unwrap_or("k").to_string(), text.clone());
    let line = match selector % 5 {
        0 => serde_json::json!({"event_type": "vcs_commit", "payload": {
            "commit_hash": text, "commit_message": text, "branch": text}}),
        1 => serde_json::json!({"event_type": "review_note", "payload": {
            "target_type": text, "target_id": text, "note_text": text}}),
        2 => serde_json::json!({"event_type": "perf_sample", "payload": {
            "metric_name": text, "value": 1.5, "unit": text, "dimensions": dims}}),
        3 => serde_json::json!({"event_type": "agent_operation", "agent_id": 1, "session_id": 2,
            "payload": {"operation_type": text, "operation_id": 1, "target_type": text,
            "target_id": text, "status": "completed", "duration_ns": 1234}}),
        _ => serde_json::json!({"event_type": "agent_session_started", "agent_id": 1,
            "payload": {"agent_version": text, "session_purpose": text, "metadata": dims}}),
    }
    .to_string();
    let rendered = crate::json::parse_line(&line, 1, |env, ev| {
        let row = event_row(env, ev);
        let table = crate::table::render(&EVENT_HEADERS, &[row.clone(), row]);
        let json = event_line(env, ev);
        (summary(ev), table, json, event_json(env, ev))
    });
    // Text the JSON reader refuses (e.g. a dimension key it cannot hold) is fine: nothing
    // to render.
    let Ok((summary_text, table, json, value)) = rendered else {
        return;
    };
    let _ = summary_text;
    assert_eq!(table.lines().count(), 3, "one line per row: {table:?}");
    assert!(
        !table
            .chars()
            .any(|c| c != '\n' && is_unsafe_for_terminal(c)),
        "{table:?}"
    );
    assert!(!json.chars().any(is_unsafe_for_terminal), "{json:?}");
    let back: serde_json::Value = serde_json::from_str(&json).expect("the JSON line parses");
    assert_eq!(back, value, "the JSON line keeps the exact text");
}

/// The table row of a user-defined event: its name as the type, its fields as the summary.
pub fn user_event_row(
    env: &Envelope,
    se: &northstar_store::StoredEvent,
    user: &northstar_store::interning::UserSchema,
) -> Vec<String> {
    let mut parts: Vec<String> = user
        .values(&se.payload)
        .iter()
        .map(|(k, v)| format!("{k}={}", northstar_store::interning::value_text(v)))
        .collect();
    parts.extend(user.consts().iter().map(|(k, v)| format!("{k}={v}")));
    vec![
        env.event_id.map(|i| i.to_string()).unwrap_or_default(),
        format_rfc3339(env.timestamp),
        user.name().to_string(),
        env.actor_id.to_string(),
        "-".into(),
        env.visibility.name().to_string(),
        parts.join(" "),
    ]
}

#[cfg(test)]
mod tests {
    use super::summary;

    #[test]
    fn summaries_are_walked_from_the_payload_definition() {
        let cases = [
            (
                r#"{"event_type":"agent_operation","session_id":9,"payload":{"operation_type":"read","operation_id":3,"target_type":"btree","target_id":"k","duration_ns":5000000,"metadata":{"a":"b"}}}"#,
                "read operation_id=3 btree k completed duration_ns=5.00ms {a=b}",
            ),
            (
                r#"{"event_type":"debug_session","session_id":4,"payload":{"tool":"gdb","breakpoints":[{"file_path":"a.rs"},{"file_path":"b.rs"}],"references":{"commit_ids":["c1","c2"]}}}"#,
                "gdb 2 breakpoints commit_ids=[c1,c2]",
            ),
            (
                r#"{"event_type":"perf_sample","timestamp":5,"payload":{"metric_name":"lat","value":1.5,"unit":"ns","dimensions":{"b":"x"},"correlation_hints":{"session_ids":[7]}}}"#,
                "lat {b=x} value=1.5 ns session_ids=[7]",
            ),
            (r#"{"event_type":"agent_session_ended","session_id":2}"#, ""),
        ];
        for (line, want) in cases {
            let got = northstar_json::parse_line(line, 0, |_, ev| summary(ev)).unwrap();
            assert_eq!(got, want, "{line}");
        }
    }
}
