//! `northstar export`: hands stored events to the engines people scale out on, instead of a
//! home-made server.
//!
//! - `--format clickhouse`: one JSON object per line for ClickHouse's `JSONEachRow` input
//!   format, rows of the table [`CLICKHOUSE_DDL`] creates (`--schema` prints it):
//!   `northstar export --format clickhouse | clickhouse-client --query
//!   "INSERT INTO northstar_events FORMAT JSONEachRow"`.
//! - `--format otlp`: OpenTelemetry logs in OTLP/JSON, one `ExportLogsServiceRequest` per line
//!   of up to `--batch` records, each ready to POST to a collector's `/v1/logs` endpoint. Each
//!   event is a log record: `timeUnixNano` its timestamp, `event.name` and the Northstar ids as
//!   attributes, its payload (the spec's JSON shape) as a structured `kvlistValue` body.

use std::io::Write;
use std::path::Path;

use serde_json::{json, Map, Value};

use super::{build_query, open_read, report_damage, store_err};
use crate::cli::{ExportFormat, Filters};
use crate::error::{CliError, CliResult};
use crate::json::{event_json, Envelope};
use crate::timespec::format_rfc3339;
use northstar_core::Event;
use northstar_store::interning::UserSchema;
use northstar_store::StoredEvent;

/// The ClickHouse table `--format clickhouse` rows fit. Partitioned by day and expired after
/// the store's default retention (7 days); change the TTL to keep history longer.
pub const CLICKHOUSE_DDL: &str = "\
CREATE TABLE IF NOT EXISTS northstar_events
(
    event_id     UInt64,
    event_type   LowCardinality(String),
    event_code   UInt16,
    timestamp    DateTime64(9, 'UTC'),
    timestamp_ns UInt64,
    actor_id     UInt64,
    session_ids  Array(UInt64),
    visibility   Enum8('public' = 0, 'team' = 1, 'private' = 2),
    payload      String
)
ENGINE = MergeTree
PARTITION BY toDate(timestamp)
ORDER BY (event_type, timestamp, event_id)
TTL toDateTime(timestamp) + INTERVAL 7 DAY;
";

/// `northstar export`.
pub fn export(
    dir: &Path,
    filters: &Filters,
    format: ExportFormat,
    out: Option<&Path>,
    batch: usize,
    schema: bool,
) -> CliResult {
    if schema {
        if format != ExportFormat::Clickhouse {
            return Err(CliError::usage(
                "--schema is for --format clickhouse (OTLP has a fixed schema)",
            ));
        }
        print!("{CLICKHOUSE_DDL}");
        return Ok(());
    }
    if batch == 0 {
        return Err(CliError::usage("--batch must be at least 1"));
    }
    let q = build_query(filters, None)?;
    let em = open_read(dir)?;
    super::check_user_types(&em, &q)?;
    let outcome = em
        .query_report(&q)
        .map_err(|e| store_err(dir, "query failed in", e))?;
    outcome.damaged.iter().for_each(report_damage);
    let mut sink: Box<dyn Write> = match out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .map_err(|e| CliError::usage(format!("cannot write {}: {e}", path.display())))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let events = &outcome.events;
    let mut progress = crate::progress::Progress::new("exporting", events.len() as u64);
    let mut exported = 0usize;
    let mut write = |line: &Value| -> CliResult {
        writeln!(sink, "{line}")
            .map_err(|e| CliError::usage(format!("cannot write the export: {e}")))
    };
    match format {
        ExportFormat::Clickhouse => {
            for (i, se) in events.iter().enumerate() {
                if let Some(user) = &se.user {
                    write(&user_clickhouse_row(se, user))?;
                    exported += 1;
                } else if let Some(row) = decoded(se).map(|ev| clickhouse_row(se, &ev)) {
                    write(&row)?;
                    exported += 1;
                }
                progress.set(i as u64 + 1);
            }
        }
        ExportFormat::Otlp => {
            for (n, chunk) in events.chunks(batch).enumerate() {
                let records: Vec<Value> = chunk
                    .iter()
                    .filter_map(|se| match &se.user {
                        Some(user) => Some(user_otlp_record(se, user)),
                        None => decoded(se).map(|ev| otlp_record(se, &ev)),
                    })
                    .collect();
                exported += records.len();
                write(&otlp_request(records))?;
                progress.set(((n + 1) * batch).min(events.len()) as u64);
            }
        }
    }
    progress.finish();
    sink.flush()
        .map_err(|e| CliError::usage(format!("cannot write the export: {e}")))?;
    eprintln!("exported {exported} events");
    Ok(())
}

/// The event's payload, or a report on stderr (never a silent gap) when it does not decode.
fn decoded(se: &StoredEvent) -> Option<Event<'_>> {
    match se.event() {
        Ok(ev) => Some(ev),
        Err(e) => {
            eprintln!(
                "northstar: event {} ({}) has an undecodable payload, not exported: {e}",
                se.event_id, se.event_type
            );
            None
        }
    }
}

/// The spec's JSON shape of a stored event (what `query --format json` prints).
fn spec_json(se: &StoredEvent, ev: &Event<'_>) -> Value {
    let env = Envelope {
        timestamp: se.timestamp,
        actor_id: se.actor_id,
        visibility: se.visibility,
        event_id: Some(se.event_id),
    };
    event_json(&env, ev)
}

fn session_ids(ev: &Event<'_>) -> Vec<u64> {
    let mut ids = Vec::new();
    ev.for_each_session(|id| ids.push(id));
    ids
}

/// One `JSONEachRow` row of [`CLICKHOUSE_DDL`]'s table.
pub fn clickhouse_row(se: &StoredEvent, ev: &Event<'_>) -> Value {
    let spec = spec_json(se, ev);
    // ClickHouse parses DateTime64 text as `YYYY-MM-DD hh:mm:ss.nnnnnnnnn`.
    let rfc = format_rfc3339(se.timestamp);
    let timestamp = format!("{} {}", &rfc[..10], &rfc[11..rfc.len() - 1]);
    json!({
        "event_id": se.event_id,
        "event_type": se.event_type.name(),
        "event_code": se.event_type.code(),
        "timestamp": timestamp,
        "timestamp_ns": se.timestamp,
        "actor_id": se.actor_id,
        "session_ids": session_ids(ev),
        "visibility": se.visibility.name(),
        "payload": spec.get("payload").cloned().unwrap_or(Value::Null).to_string(),
    })
}

/// An OTLP `AnyValue` for a JSON value (64-bit integers as decimal strings, as OTLP/JSON
/// requires).
fn any_value(v: &Value) -> Value {
    match v {
        Value::Null => json!({}),
        Value::Bool(b) => json!({ "boolValue": b }),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => json!({ "intValue": i.to_string() }),
            // Beyond i64: OTLP integers are signed, so keep the exact digits as a string.
            (None, Some(u)) => json!({ "stringValue": u.to_string() }),
            _ => json!({ "doubleValue": n.as_f64().unwrap_or(0.0) }),
        },
        Value::String(s) => json!({ "stringValue": s }),
        Value::Array(items) => {
            json!({ "arrayValue": { "values": items.iter().map(any_value).collect::<Vec<_>>() } })
        }
        Value::Object(map) => json!({ "kvlistValue": { "values": key_values(map) } }),
    }
}

fn key_values(map: &Map<String, Value>) -> Vec<Value> {
    map.iter()
        .map(|(k, v)| json!({ "key": k, "value": any_value(v) }))
        .collect()
}

/// OTLP severity: a perf regression warns (severe ones are errors); everything else is info.
fn severity(ev: &Event<'_>) -> (u8, &'static str) {
    use northstar_core::events::Severity;
    match ev {
        Event::PerfRegression(r) => match r.severity {
            Severity::Minor | Severity::Moderate => (13, "WARN"),
            Severity::Severe => (17, "ERROR"),
        },
        _ => (9, "INFO"),
    }
}

/// One OTLP log record.
pub fn otlp_record(se: &StoredEvent, ev: &Event<'_>) -> Value {
    let spec = spec_json(se, ev);
    let (severity_number, severity_text) = severity(ev);
    let mut attributes = vec![
        json!({ "key": "event.name", "value": { "stringValue": se.event_type.name() } }),
        json!({ "key": "northstar.event_id", "value": any_value(&json!(se.event_id)) }),
        json!({ "key": "northstar.event_code", "value": { "intValue": se.event_type.code().to_string() } }),
        json!({ "key": "northstar.actor_id", "value": any_value(&json!(se.actor_id)) }),
        json!({ "key": "northstar.visibility", "value": { "stringValue": se.visibility.name() } }),
    ];
    if let Some(session) = ev.session_id() {
        attributes
            .push(json!({ "key": "northstar.session_id", "value": any_value(&json!(session)) }));
    }
    json!({
        "timeUnixNano": se.timestamp.to_string(),
        "observedTimeUnixNano": se.timestamp.to_string(),
        "severityNumber": severity_number,
        "severityText": severity_text,
        "body": any_value(spec.get("payload").unwrap_or(&Value::Null)),
        "attributes": attributes,
    })
}

/// An `ExportLogsServiceRequest` holding `records`.
pub fn otlp_request(records: Vec<Value>) -> Value {
    json!({
        "resourceLogs": [{
            "resource": { "attributes": [
                { "key": "service.name", "value": { "stringValue": "northstar" } },
            ] },
            "scopeLogs": [{
                "scope": { "name": "northstar", "version": env!("CARGO_PKG_VERSION") },
                "logRecords": records,
            }],
        }],
    })
}

fn user_json(se: &StoredEvent, user: &UserSchema) -> Value {
    let env = Envelope {
        timestamp: se.timestamp,
        actor_id: se.actor_id,
        visibility: se.visibility,
        event_id: Some(se.event_id),
    };
    crate::json::user_event_json(&env, se, user)
}

/// A user-defined event's `JSONEachRow` row: `event_type` is its name, `event_code` 0 (user
/// events have no spec code), `payload` its typed fields.
pub fn user_clickhouse_row(se: &StoredEvent, user: &UserSchema) -> Value {
    let j = user_json(se, user);
    let rfc = format_rfc3339(se.timestamp);
    let timestamp = format!("{} {}", &rfc[..10], &rfc[11..rfc.len() - 1]);
    json!({
        "event_id": se.event_id,
        "event_type": user.name(),
        "event_code": 0,
        "timestamp": timestamp,
        "timestamp_ns": se.timestamp,
        "actor_id": se.actor_id,
        "session_ids": Vec::<u64>::new(),
        "visibility": se.visibility.name(),
        "payload": j.get("payload").cloned().unwrap_or(Value::Null).to_string(),
    })
}

/// A user-defined event as an OTLP log record: `event.name` is its name, the body its fields.
pub fn user_otlp_record(se: &StoredEvent, user: &UserSchema) -> Value {
    let j = user_json(se, user);
    json!({
        "timeUnixNano": se.timestamp.to_string(),
        "observedTimeUnixNano": se.timestamp.to_string(),
        "severityNumber": 9,
        "severityText": "INFO",
        "body": any_value(j.get("payload").unwrap_or(&Value::Null)),
        "attributes": [
            json!({ "key": "event.name", "value": { "stringValue": user.name() } }),
            json!({ "key": "northstar.event_id", "value": any_value(&json!(se.event_id)) }),
            json!({ "key": "northstar.actor_id", "value": any_value(&json!(se.actor_id)) }),
            json!({ "key": "northstar.visibility", "value": { "stringValue": se.visibility.name() } }),
        ],
    })
}
