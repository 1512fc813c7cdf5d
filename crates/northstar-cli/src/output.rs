//! Rendering stored events: a one-line human summary per event type for tables, and the
//! spec's JSON shape for `--format json`.

use crate::json::{event_json, Envelope};
use crate::timespec::format_rfc3339;
use northstar_core::Event;

/// One short line saying what the event is about.
pub fn summary(event: &Event<'_>) -> String {
    match event {
        Event::AgentSessionStarted(p) => format!(
            "{} v{}{}",
            p.session_purpose,
            p.agent_version,
            p.metadata
                .iter()
                .map(|(k, v)| format!(" {k}={v}"))
                .collect::<String>()
        ),
        Event::AgentSessionEnded(_) => String::new(),
        Event::AgentOperation(p) => format!(
            "{} {}/{} {}{}",
            p.operation_type,
            p.target_type,
            p.target_id,
            p.status,
            p.duration_ns
                .map(|d| format!(" {}", human_ns(d as f64)))
                .unwrap_or_default()
        ),
        Event::ReviewNote(p) => format!("{} {}: {}", p.target_type, p.target_id, p.note_text),
        Event::ReviewSummary(p) => format!(
            "{} {} ({:.2}): {}",
            p.target_type, p.target_id, p.confidence, p.summary_text
        ),
        Event::PerfSample(p) => format!(
            "{}={} {}{}",
            p.metric_name,
            trim_float(p.value),
            p.unit,
            dims(&p.dimensions)
        ),
        Event::PerfRegression(p) => format!(
            "{} {} -> {} ({:+.1}%, {})",
            p.metric_name,
            trim_float(p.baseline_value),
            trim_float(p.current_value),
            p.regression_percent,
            p.severity.name()
        ),
        Event::DebugSession(p) => format!("{} {} breakpoints", p.tool, p.breakpoints.len()),
        Event::DebugSnapshot(p) => format!(
            "#{} {} thread {} {} frames",
            p.snapshot_id,
            p.reason,
            p.thread_id,
            p.frames.len()
        ),
        Event::VcsCommit(p) => format!(
            "{} on {}: {}",
            &p.commit_hash[..p.commit_hash.len().min(12)],
            p.branch,
            p.commit_message.lines().next().unwrap_or("")
        ),
        Event::VcsBranch(p) => format!("{} {} at {}", p.branch, p.action.name(), p.head_commit),
    }
}

fn dims(d: &northstar_core::StrMap<'_>) -> String {
    if d.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = d.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(" {{{}}}", inner.join(","))
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

/// The JSON line of an event.
pub fn event_line(env: &Envelope, event: &Event<'_>) -> String {
    event_json(env, event).to_string()
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
