//! ClickHouse rows: one `JSONEachRow` object per event, for the table [`CLICKHOUSE_DDL`]
//! creates (`northstar export --schema`), or any subset of its columns (`ship` describes the
//! destination table and sends only the columns it has).
//!
//! User-defined events use the same table: `event_type` is the event's name (`kv.wal_sync`),
//! `event_code` is [`USER_EVENT_CODE`](crate::USER_EVENT_CODE) (224), `session_ids` is empty,
//! and `payload` is a JSON object of the typed runtime fields (integers and durations as
//! numbers, floats, bools, strings, bytes as lowercase hex, an absent optional as `null`)
//! followed by the constant fields (strings): the object `query --format json` prints. Typed
//! reads go through ClickHouse's JSON functions (`JSONExtractUInt(payload, 'bytes')`, or
//! `visitParamExtractUInt` on 18.x), so no column depends on a user schema.

use std::fmt::Write as _;
use std::io::Write;

use crate::fields::visit_item;
use crate::json::{push_str, JsonPayload};
use crate::{ExportError, Item, Result, Sink};

/// The ClickHouse table `--format clickhouse` rows fit. Partitioned by day and expired after
/// the store's default retention (7 days); change the TTL to keep history longer. Servers
/// without `DateTime64` or `TTL` (before 19.x) take [`CLICKHOUSE_DDL_COMPAT`].
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

/// The same table for old servers (no `DateTime64`, no `TTL`; 18.16 and later): second
/// precision in `timestamp`, nanoseconds in `timestamp_ns`, and `ReplacingMergeTree` keyed by
/// `event_id` so a re-sent row is merged away.
pub const CLICKHOUSE_DDL_COMPAT: &str = "\
CREATE TABLE IF NOT EXISTS northstar_events
(
    event_id     UInt64,
    event_type   String,
    event_code   UInt16,
    timestamp    DateTime('UTC'),
    timestamp_ns UInt64,
    actor_id     UInt64,
    session_ids  Array(UInt64),
    visibility   Enum8('public' = 0, 'team' = 1, 'private' = 2),
    payload      String
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(timestamp)
ORDER BY event_id;
";

/// Every column a row can carry, in [`CLICKHOUSE_DDL`] order.
pub const COLUMNS: [&str; 9] = [
    "event_id",
    "event_type",
    "event_code",
    "timestamp",
    "timestamp_ns",
    "actor_id",
    "session_ids",
    "visibility",
    "payload",
];

/// `YYYY-MM-DD hh:mm:ss` of Unix seconds (UTC).
pub fn datetime(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let tod = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        tod / 3600,
        tod / 60 % 60,
        tod % 60
    )
}

/// Which columns rows carry, and how `timestamp` is written.
#[derive(Clone, Debug)]
pub struct RowShape {
    /// For each of [`COLUMNS`], whether to write it.
    pub columns: [bool; 9],
    /// `timestamp` as `DateTime64(9)` text (nanoseconds) rather than `DateTime` (seconds).
    pub nanos: bool,
}

impl Default for RowShape {
    fn default() -> Self {
        Self {
            columns: [true; 9],
            nanos: true,
        }
    }
}

/// Appends one row (no newline) for `item` to `out`.
pub fn write_row(out: &mut String, item: &Item<'_>, shape: &RowShape) {
    out.push('{');
    let mut first = true;
    let mut col = |out: &mut String, name: &str| {
        if !first {
            out.push(',');
        }
        first = false;
        out.push('"');
        out.push_str(name);
        out.push_str("\":");
    };
    let c = &shape.columns;
    if c[0] {
        col(out, "event_id");
        let _ = write!(out, "{}", item.event_id);
    }
    if c[1] {
        col(out, "event_type");
        push_str(out, item.type_name());
    }
    if c[2] {
        col(out, "event_code");
        let _ = write!(out, "{}", item.type_code());
    }
    if c[3] {
        col(out, "timestamp");
        let secs = item.timestamp / 1_000_000_000;
        if shape.nanos {
            let _ = write!(
                out,
                "\"{}.{:09}\"",
                datetime(secs),
                item.timestamp % 1_000_000_000
            );
        } else {
            let _ = write!(out, "\"{}\"", datetime(secs));
        }
    }
    if c[4] {
        col(out, "timestamp_ns");
        let _ = write!(out, "{}", item.timestamp);
    }
    if c[5] {
        col(out, "actor_id");
        let _ = write!(out, "{}", item.actor_id);
    }
    if c[6] {
        col(out, "session_ids");
        out.push('[');
        let mut n = 0;
        item.for_each_session(|id| {
            if n > 0 {
                out.push(',');
            }
            n += 1;
            let _ = write!(out, "{id}");
        });
        out.push(']');
    }
    if c[7] {
        col(out, "visibility");
        push_str(out, item.visibility.name());
    }
    if c[8] {
        col(out, "payload");
        let mut payload = String::new();
        spec_payload(&mut payload, item);
        push_str(out, &payload);
    }
    out.push('}');
}

/// The spec's JSON payload of an event (what `query --format json` prints under `payload`):
/// every field but the session id, which the spec's shape lifts to the top level. A user
/// event's payload is its typed runtime fields (numbers, bools, strings, bytes as hex, an
/// absent optional as `null`) then its constant fields (strings).
pub fn spec_payload(out: &mut String, item: &Item<'_>) {
    let mut w = SkipTopLevel {
        inner: JsonPayload::new(out),
        depth: 0,
        skip: item.session_id().is_some().then_some("session_id"),
    };
    visit_item(item, &mut w);
    w.inner.finish();
}

struct SkipTopLevel<'o> {
    inner: JsonPayload<'o>,
    depth: usize,
    skip: Option<&'static str>,
}

impl<'a> crate::fields::FieldVisitor<'a> for SkipTopLevel<'_> {
    fn scalar(&mut self, name: &str, value: crate::fields::Scalar<'a>) {
        if self.depth == 0 && Some(name) == self.skip {
            return;
        }
        self.inner.scalar(name, value);
    }
    fn absent(&mut self, name: &str) {
        self.inner.absent(name);
    }
    fn begin(&mut self, name: &str, group: crate::fields::Group) {
        self.depth += 1;
        self.inner.begin(name, group);
    }
    fn end(&mut self) {
        self.depth -= 1;
        self.inner.end();
    }
}

/// Writes `JSONEachRow` lines.
pub struct ClickhouseSink<W: Write> {
    out: W,
    line: String,
    shape: RowShape,
}

impl<W: Write> ClickhouseSink<W> {
    /// Rows of every column to `out` (buffer it).
    pub fn new(out: W) -> Self {
        Self {
            out,
            line: String::new(),
            shape: RowShape::default(),
        }
    }
}

impl<W: Write> Sink for ClickhouseSink<W> {
    fn event(&mut self, item: &Item<'_>) -> Result<()> {
        self.line.clear();
        write_row(&mut self.line, item, &self.shape);
        self.line.push('\n');
        self.out
            .write_all(self.line.as_bytes())
            .map_err(|e| ExportError::write("the ClickHouse rows", e))
    }

    fn finish(&mut self) -> Result<()> {
        self.out
            .flush()
            .map_err(|e| ExportError::write("the ClickHouse rows", e))
    }
}

#[cfg(test)]
mod tests {
    use super::datetime;

    #[test]
    fn datetime_is_utc_civil_time() {
        assert_eq!(datetime(0), "1970-01-01 00:00:00");
        assert_eq!(datetime(1_704_067_200), "2024-01-01 00:00:00");
        assert_eq!(datetime(951_782_400 + 3661), "2000-02-29 01:01:01");
    }
}
