//! Apache Parquet: one file of every selected event (spec types and user-defined events), for
//! DuckDB, pandas/polars, Spark or any engine that reads Parquet.
//!
//! # Columns
//!
//! The same columns, names and values as the ClickHouse rows ([`crate::clickhouse`]), typed:
//!
//! | column         | Parquet type                                   | value |
//! |----------------|------------------------------------------------|-------|
//! | `event_id`     | `INT64 (INTEGER(64, unsigned))`                 | `segment_id << 32 \| event_seq` |
//! | `event_type`   | `BYTE_ARRAY (STRING)`, dictionary-encoded      | spec type name, or the user event's name (`kv.wal_sync`) |
//! | `event_code`   | `INT32 (INTEGER(16, unsigned))`                 | spec type code; 224 for a user event |
//! | `timestamp`    | `INT64 (TIMESTAMP(NANOS, UTC))`                 | the event time (valid until 2262) |
//! | `timestamp_ns` | `INT64 (INTEGER(64, unsigned))`                 | the same, exact Unix nanoseconds |
//! | `actor_id`     | `INT64 (INTEGER(64, unsigned))`                 | 0: none |
//! | `session_ids`  | `LIST<INT64 (INTEGER(64, unsigned))>`           | every session of the event (empty for user events) |
//! | `visibility`   | `BYTE_ARRAY (STRING)`, dictionary-encoded      | `public`, `team` or `private` |
//! | `payload`      | `BYTE_ARRAY (STRING)`                           | the event's fields as a JSON object, exactly the ClickHouse rows' `payload` ([`crate::clickhouse::spec_payload`]) |
//!
//! The payload stays a JSON string rather than one column per field, so one schema holds every
//! spec type and every user-defined event whatever its fields; read a field with the engine's
//! JSON functions (DuckDB: `payload->>'$.value'`, or `json_extract`) or by parsing the string.
//! Every column chunk is zstd-compressed; `event_id` and the two timestamps are
//! `DELTA_BINARY_PACKED`.
//!
//! # Order and memory
//!
//! Events are buffered per type (`event_type`). A type's buffer becomes one row group when it
//! reaches [`ParquetLimits::rows`] rows, or when every buffer together takes more than
//! [`ParquetLimits::bytes`] bytes of memory (then the largest buffer is written), and at the end
//! (the remaining buffers, in type-name order). So memory is bounded by the limits, not the
//! store, and the file guarantees exactly this:
//!
//! - every row group holds events of a single `event_type`;
//! - within a row group, rows are sorted by `(timestamp, event_id)` (declared in the row group's
//!   `sorting_columns` as `event_type, timestamp, event_id`);
//! - a type's row groups follow one another in store order: every event of a type's k-th row
//!   group was stored before every event of its (k+1)-th. Row groups of different types
//!   interleave, and a type's rows are sorted by time across its row groups only if the store
//!   holds them in time order (a ring flushed late can store older events after newer ones);
//!   `ORDER BY event_type, timestamp, event_id` gives a total order.
//!
//! Nothing is lost or merged: one row per selected event, with the event's own `event_id`.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use ::parquet::basic::{Compression, Encoding, ZstdLevel};
use ::parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
use ::parquet::file::metadata::SortingColumn;
use ::parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use ::parquet::file::writer::SerializedFileWriter;
use ::parquet::schema::parser::parse_message_type;
use ::parquet::schema::types::ColumnPath;

use crate::clickhouse::spec_payload;
use crate::{ExportError, Item, Result, Sink};

/// The Parquet schema of the file, in Parquet's message syntax.
pub const PARQUET_SCHEMA: &str = "
message northstar_events {
    required int64 event_id (INTEGER(64,false));
    required binary event_type (STRING);
    required int32 event_code (INTEGER(16,false));
    required int64 timestamp (TIMESTAMP(NANOS,true));
    required int64 timestamp_ns (INTEGER(64,false));
    required int64 actor_id (INTEGER(64,false));
    required group session_ids (LIST) {
        repeated group list {
            required int64 element (INTEGER(64,false));
        }
    }
    required binary visibility (STRING);
    required binary payload (STRING);
}
";

/// When a type's buffered events become a row group.
#[derive(Clone, Copy, Debug)]
pub struct ParquetLimits {
    /// Rows per row group at most (a type's buffer is written when it reaches this).
    pub rows: usize,
    /// Memory the buffered rows take across every type at most: each row counts its payload
    /// plus [`ROW_COST`] for its other columns and their bookkeeping (the largest buffer is
    /// written when the total passes this).
    pub bytes: usize,
}

impl Default for ParquetLimits {
    fn default() -> Self {
        Self {
            rows: 128 * 1024,
            bytes: 32 << 20,
        }
    }
}

/// What a buffered row takes besides its payload's bytes and its sessions: the fixed columns
/// (`event_id`, `timestamp`, `actor_id`, the session end: 8 bytes each), the visibility (16),
/// the payload `String` (24) and the allocator's overhead for the payload (about 16), so that
/// [`ParquetLimits::bytes`] bounds the process's memory rather than only the payload bytes.
pub const ROW_COST: usize = 96;

/// One type's buffered rows, column by column.
#[derive(Default)]
struct Rows {
    event_id: Vec<u64>,
    code: u16,
    timestamp: Vec<u64>,
    actor_id: Vec<u64>,
    /// Each row's sessions: `sessions[session_end[i-1]..session_end[i]]`.
    sessions: Vec<u64>,
    session_end: Vec<usize>,
    visibility: Vec<&'static str>,
    payload: Vec<String>,
    bytes: usize,
}

impl Rows {
    fn len(&self) -> usize {
        self.event_id.len()
    }
}

/// Counts of what a [`ParquetSink`] wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParquetStats {
    /// Rows written.
    pub rows: u64,
    /// Row groups written.
    pub row_groups: u64,
    /// Distinct event types seen.
    pub types: u64,
}

/// Writes a Parquet file of the [`PARQUET_SCHEMA`] (see the module docs for the order).
pub struct ParquetSink<W: Write + Send> {
    writer: Option<SerializedFileWriter<W>>,
    buffers: BTreeMap<String, Rows>,
    limits: ParquetLimits,
    buffered_bytes: usize,
    stats: ParquetStats,
    payload: String,
}

fn perr(e: ::parquet::errors::ParquetError) -> ExportError {
    match e {
        ::parquet::errors::ParquetError::External(inner) => {
            match inner.downcast::<std::io::Error>() {
                Ok(io) => ExportError::write("the Parquet file", *io),
                Err(other) => ExportError::write("the Parquet file", std::io::Error::other(other)),
            }
        }
        e => ExportError::write("the Parquet file", std::io::Error::other(e)),
    }
}

impl<W: Write + Send> ParquetSink<W> {
    /// A Parquet file to `out` with the default [`ParquetLimits`]. Writes the file's magic.
    pub fn new(out: W) -> Result<Self> {
        Self::with_limits(out, ParquetLimits::default())
    }

    /// A Parquet file to `out`, row groups cut at `limits`.
    pub fn with_limits(out: W, limits: ParquetLimits) -> Result<Self> {
        if limits.rows == 0 {
            return Err(ExportError::Usage(
                "a Parquet row group needs at least 1 row".into(),
            ));
        }
        let schema = Arc::new(parse_message_type(PARQUET_SCHEMA).map_err(perr)?);
        let no_dict = ["event_id", "timestamp", "timestamp_ns", "payload"];
        let mut props = WriterProperties::builder()
            .set_writer_version(WriterVersion::PARQUET_1_0)
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_dictionary_enabled(true)
            .set_statistics_enabled(EnabledStatistics::Chunk)
            .set_sorting_columns(Some(vec![
                SortingColumn {
                    column_idx: 1,
                    descending: false,
                    nulls_first: false,
                },
                SortingColumn {
                    column_idx: 3,
                    descending: false,
                    nulls_first: false,
                },
                SortingColumn {
                    column_idx: 0,
                    descending: false,
                    nulls_first: false,
                },
            ]))
            .set_created_by(format!("northstar {}", env!("CARGO_PKG_VERSION")));
        for c in no_dict {
            props = props.set_column_dictionary_enabled(ColumnPath::from(c), false);
        }
        // Ids and times rise within a row group: deltas are small.
        for c in ["event_id", "timestamp", "timestamp_ns"] {
            props = props.set_column_encoding(ColumnPath::from(c), Encoding::DELTA_BINARY_PACKED);
        }
        let writer =
            SerializedFileWriter::new(out, schema, Arc::new(props.build())).map_err(perr)?;
        Ok(Self {
            writer: Some(writer),
            buffers: BTreeMap::new(),
            limits,
            buffered_bytes: 0,
            stats: ParquetStats::default(),
            payload: String::new(),
        })
    }

    /// What was written so far (complete after [`Sink::finish`]).
    pub fn stats(&self) -> ParquetStats {
        self.stats
    }

    fn flush_type(&mut self, name: &str) -> Result<()> {
        let Some(rows) = self.buffers.get_mut(name) else {
            return Ok(());
        };
        if rows.len() == 0 {
            return Ok(());
        }
        let rows = std::mem::take(rows);
        self.buffered_bytes -= rows.bytes;
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| ExportError::Usage("the Parquet file is already finished".into()))?;
        write_group(writer, name, rows, &mut self.stats).map_err(perr)?;
        Ok(())
    }
}

/// Writes one row group of `rows`, sorted by `(timestamp, event_id)`.
fn write_group<W: Write + Send>(
    writer: &mut SerializedFileWriter<W>,
    name: &str,
    rows: Rows,
    stats: &mut ParquetStats,
) -> ::parquet::errors::Result<()> {
    let n = rows.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (rows.timestamp[i], rows.event_id[i]));
    let i64s = |v: &[u64]| -> Vec<i64> { order.iter().map(|&i| v[i] as i64).collect() };
    let session_range = |i: usize| {
        let start = if i == 0 { 0 } else { rows.session_end[i - 1] };
        start..rows.session_end[i]
    };
    let mut group = writer.next_row_group()?;
    let mut col = 0usize;
    while let Some(mut c) = group.next_column()? {
        match col {
            // event_id, timestamp, timestamp_ns, actor_id
            0 | 3 | 4 | 5 => {
                let v = match col {
                    0 => i64s(&rows.event_id),
                    3 | 4 => i64s(&rows.timestamp),
                    _ => i64s(&rows.actor_id),
                };
                c.typed::<Int64Type>().write_batch(&v, None, None)?;
            }
            1 => {
                let v = vec![ByteArray::from(name); n];
                c.typed::<ByteArrayType>().write_batch(&v, None, None)?;
            }
            2 => {
                let v = vec![i32::from(rows.code); n];
                c.typed::<Int32Type>().write_batch(&v, None, None)?;
            }
            6 => {
                let mut values = Vec::new();
                let mut def = Vec::with_capacity(n);
                let mut rep = Vec::with_capacity(n);
                for &i in &order {
                    let r = session_range(i);
                    if r.is_empty() {
                        def.push(0);
                        rep.push(0);
                    }
                    for (k, j) in r.enumerate() {
                        values.push(rows.sessions[j] as i64);
                        def.push(1);
                        rep.push(i16::from(k > 0));
                    }
                }
                c.typed::<Int64Type>()
                    .write_batch(&values, Some(&def), Some(&rep))?;
            }
            7 => {
                let v: Vec<ByteArray> = order
                    .iter()
                    .map(|&i| ByteArray::from(rows.visibility[i]))
                    .collect();
                c.typed::<ByteArrayType>().write_batch(&v, None, None)?;
            }
            _ => {
                let v: Vec<ByteArray> = order
                    .iter()
                    .map(|&i| ByteArray::from(rows.payload[i].as_str()))
                    .collect();
                c.typed::<ByteArrayType>().write_batch(&v, None, None)?;
            }
        }
        c.close()?;
        col += 1;
    }
    group.close()?;
    stats.rows += n as u64;
    stats.row_groups += 1;
    Ok(())
}

impl<W: Write + Send> Sink for ParquetSink<W> {
    fn event(&mut self, item: &Item<'_>) -> Result<()> {
        let name = item.type_name();
        if !self.buffers.contains_key(name) {
            self.buffers.insert(name.to_owned(), Rows::default());
            self.stats.types += 1;
        }
        let rows = self.buffers.get_mut(name).expect("inserted above");
        self.payload.clear();
        spec_payload(&mut self.payload, item);
        rows.code = item.type_code();
        rows.event_id.push(item.event_id);
        rows.timestamp.push(item.timestamp);
        rows.actor_id.push(item.actor_id);
        let sessions_before = rows.sessions.len();
        item.for_each_session(|id| rows.sessions.push(id));
        rows.session_end.push(rows.sessions.len());
        rows.visibility.push(item.visibility.name());
        let size = self.payload.len() + ROW_COST + 8 * (rows.sessions.len() - sessions_before);
        rows.payload.push(self.payload.clone());
        rows.bytes += size;
        self.buffered_bytes += size;
        if rows.len() >= self.limits.rows {
            let name = name.to_owned();
            self.flush_type(&name)?;
        }
        while self.buffered_bytes > self.limits.bytes {
            let Some(largest) = self
                .buffers
                .iter()
                .max_by_key(|(_, r)| r.bytes)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            self.flush_type(&largest)?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        let names: Vec<String> = self.buffers.keys().cloned().collect();
        for name in names {
            self.flush_type(&name)?;
        }
        if let Some(mut w) = self.writer.take() {
            // Writes the footer and flushes the output; dropping the writer drops the output.
            w.finish().map_err(perr)?;
        }
        Ok(())
    }
}
