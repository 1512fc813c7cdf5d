//! A numeric field of a user-defined event as a metric.
//!
//! `event!("kv.wal_sync", bytes = n, duration_ns = d, file = name, commit = c)` records
//! events whose numeric fields are measurements. A [`UserMetric`] names one of them,
//! `EVENT.FIELD`, optionally with string fields of the same event as dimensions:
//!
//! | spec | series |
//! |---|---|
//! | `kv.wal_sync.duration_ns` | one series: every `kv.wal_sync` event's `duration_ns` |
//! | `kv.wal_sync.duration_ns{file}` | one series per value of the string field `file` |
//! | `kv.wal_sync.bytes{file,shard}` | one series per (`file`, `shard`) pair |
//!
//! Each event whose field is present becomes one sample (a [`SampleRecord`] like a perf
//! sample's), so the detectors, `northstar regressions` and `northstar plot` treat it like any
//! other series:
//!
//! - **metric name**: `EVENT.FIELD` (without the braces); `--kind EVENT.FIELD=KIND` sets its kind;
//! - **value**: the field (unsigned, signed, float or duration), as `f64`; an absent optional
//!   field is no sample;
//! - **unit**: the event's constant `unit` field (`unit = static "ns"`), else `ns` for a
//!   duration field or a field whose name ends in `_ns`, else none;
//! - **commit** (what groups samples into runs): the event's string field (or constant)
//!   named `commit`, else `commit_range`; events without one are runs of their own;
//! - **kind**: a string field or constant named `kind` (`throughput`, `latency`, `cost`...)
//!   is the recorded kind, as a perf sample's `kind` dimension is; else it is inferred from
//!   the name and unit (`duration_ns` reads as a latency).
//!
//! Events of the same name whose definition lacks the field (or has it as a non-number,
//! e.g. another version of the program) are skipped; if no event has it as a number, it is
//! an error naming the numeric fields there are.

use crate::sample::SampleRecord;
use northstar_core::user::{FieldType, FieldValue, OPTIONAL};
use northstar_store::interning::UserSchema;

/// A numeric field of a user-defined event, with string fields as dimensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserMetric {
    /// The user event's name (`kv.wal_sync`).
    pub event: String,
    /// The numeric field (`duration_ns`).
    pub field: String,
    /// String fields of the same event that split it into series (`file`).
    pub dimensions: Vec<String>,
}

/// The fields that name a sample's commit, in order of preference.
pub const COMMIT_FIELDS: [&str; 2] = ["commit", "commit_range"];
/// The field (or constant) that names a series' kind.
pub const KIND_FIELD: &str = "kind";
/// The constant that names the unit.
pub const UNIT_FIELD: &str = "unit";

impl UserMetric {
    /// Parses `EVENT.FIELD` or `EVENT.FIELD{DIM,DIM...}`. `None` when `spec` has no such
    /// shape (no dot, an empty part, unbalanced braces): then it is not a user metric.
    pub fn parse(spec: &str) -> Option<Self> {
        let spec = spec.trim();
        let (head, dims) = match spec.split_once('{') {
            Some((head, rest)) => {
                let inner = rest.strip_suffix('}')?;
                if inner.contains(['{', '}']) {
                    return None;
                }
                let dims: Vec<String> = inner
                    .split(',')
                    .map(str::trim)
                    .filter(|d| !d.is_empty())
                    .map(str::to_string)
                    .collect();
                (head, dims)
            }
            None if spec.contains('}') => return None,
            None => (spec, Vec::new()),
        };
        let (event, field) = head.rsplit_once('.')?;
        if event.is_empty() || field.is_empty() {
            return None;
        }
        Some(Self {
            event: event.to_string(),
            field: field.to_string(),
            dimensions: dims,
        })
    }

    /// The series' metric name: `EVENT.FIELD`.
    pub fn metric_name(&self) -> String {
        format!("{}.{}", self.event, self.field)
    }

    /// The sample an event of this metric's name gives: `Ok(None)` when the event has no
    /// value for the field (its definition lacks it or it is not a number, or it is an absent
    /// optional); `Err` when a dimension is missing or not a string.
    pub fn sample(
        &self,
        timestamp: u64,
        schema: &UserSchema,
        payload: &[u8],
    ) -> Result<Option<SampleRecord>, String> {
        let def = schema.definition();
        let Some(ty) = def
            .fields
            .iter()
            .find(|(n, _)| *n == self.field)
            .map(|(_, t)| t)
        else {
            return Ok(None);
        };
        if !is_numeric(ty) {
            return Ok(None);
        }
        let values = schema.values(payload);
        let consts = schema.consts();
        let value = values
            .iter()
            .find(|(n, _)| *n == self.field)
            .and_then(|(_, v)| number(v));
        let Some(value) = value else {
            return Ok(None);
        };
        // A string field's value, or a constant's.
        let text = |name: &str| -> Option<Result<String, String>> {
            if let Some((_, v)) = values.iter().find(|(n, _)| *n == name) {
                return Some(match v {
                    FieldValue::Str(s) => Ok((*s).to_string()),
                    FieldValue::None => Ok("-".to_string()),
                    _ => Err(format!(
                        "field {name:?} of {} is not a string field",
                        self.event
                    )),
                });
            }
            consts
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| Ok((*v).to_string()))
        };
        let mut dimensions = Vec::with_capacity(self.dimensions.len() + 1);
        for d in &self.dimensions {
            match text(d) {
                Some(Ok(v)) => dimensions.push((d.clone(), v)),
                Some(Err(e)) => return Err(e),
                None => {
                    return Err(format!(
                        "{} has no field {d:?} (its string fields: {})",
                        self.event,
                        string_fields(schema).join(", ")
                    ))
                }
            }
        }
        if let Some(Ok(k)) = text(KIND_FIELD) {
            dimensions.push((KIND_FIELD.to_string(), k));
        }
        let commit_range = COMMIT_FIELDS
            .iter()
            .find_map(|f| text(f).and_then(Result::ok))
            .filter(|c| c != "-");
        let unit = match consts.iter().find(|(n, _)| *n == UNIT_FIELD) {
            Some((_, u)) => (*u).to_string(),
            None if ty & !OPTIONAL == FieldType::DurationNs as u8
                || self.field.ends_with("_ns") =>
            {
                "ns".to_string()
            }
            None => String::new(),
        };
        Ok(Some(SampleRecord {
            timestamp,
            metric_name: self.metric_name(),
            value,
            unit,
            dimensions,
            commit_range,
            session_ids: Vec::new(),
        }))
    }
}

impl std::fmt::Display for UserMetric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.event, self.field)?;
        if !self.dimensions.is_empty() {
            write!(f, "{{{}}}", self.dimensions.join(","))?;
        }
        Ok(())
    }
}

/// Whether a definition's type byte is a number (integers, floats, durations).
pub fn is_numeric(ty: u8) -> bool {
    !matches!(
        FieldType::from_byte(ty & !OPTIONAL),
        None | Some(FieldType::Bool | FieldType::Str | FieldType::Bytes)
    )
}

fn number(v: &FieldValue<'_>) -> Option<f64> {
    match *v {
        FieldValue::U64(x) | FieldValue::DurationNs(x) => Some(x as f64),
        FieldValue::I64(x) => Some(x as f64),
        FieldValue::F64(x) => Some(x),
        _ => None,
    }
}

/// The numeric fields of a schema (for error messages).
pub fn numeric_fields(schema: &UserSchema) -> Vec<String> {
    schema
        .definition()
        .fields
        .iter()
        .filter(|(_, t)| is_numeric(*t))
        .map(|(n, _)| n.to_string())
        .collect()
}

fn string_fields(schema: &UserSchema) -> Vec<String> {
    let def = schema.definition();
    def.fields
        .iter()
        .filter(|(_, t)| t & !OPTIONAL == FieldType::Str as u8)
        .map(|(n, _)| n.to_string())
        .chain(def.consts.iter().map(|(n, _)| n.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_event_field_and_dimensions() {
        let m = UserMetric::parse("kv.wal_sync.duration_ns{file, shard}").unwrap();
        assert_eq!(m.event, "kv.wal_sync");
        assert_eq!(m.field, "duration_ns");
        assert_eq!(m.dimensions, ["file", "shard"]);
        assert_eq!(m.metric_name(), "kv.wal_sync.duration_ns");
        assert_eq!(m.to_string(), "kv.wal_sync.duration_ns{file,shard}");
        let plain = UserMetric::parse("kv.wal_sync.bytes").unwrap();
        assert!(plain.dimensions.is_empty());
        for bad in [
            "latency_ns",
            ".x",
            "x.",
            "a.b{c",
            "a.b}c",
            "a.b{c}d",
            "a.b{{c}}",
        ] {
            assert_eq!(UserMetric::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn numeric_types() {
        assert!(is_numeric(FieldType::U8 as u8));
        assert!(is_numeric(FieldType::F32 as u8 | OPTIONAL));
        assert!(is_numeric(FieldType::DurationNs as u8));
        assert!(!is_numeric(FieldType::Str as u8));
        assert!(!is_numeric(FieldType::Bool as u8));
        assert!(!is_numeric(FieldType::Bytes as u8 | OPTIONAL));
        assert!(!is_numeric(99));
    }
}
