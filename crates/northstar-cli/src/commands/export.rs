//! `northstar export`: streams stored events, in store order, to the engines and viewers people
//! use instead of a home-made server. The formats live in the `northstar-export` crate; this
//! command parses the flags, opens the output and shows progress.
//!
//! - `--format clickhouse`: `JSONEachRow` rows of the table `--schema` prints.
//! - `--format otlp`: OTLP/JSON, one request per line: operations as traces, perf samples as
//!   metrics, every other event as logs (the OpenTelemetry collector's JSON file format).
//! - `--format otlp-proto`: the same as protobuf, three files of length-delimited requests.
//! - `--format perfetto`: a Perfetto trace for ui.perfetto.dev.
//! - `--format parquet`: one Parquet file (see `northstar_export::parquet` for its columns and
//!   row order).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::build_query;
use crate::cli::{ExportFormat, Filters};
use crate::error::{CliError, CliResult};
use northstar_export::otlp::{BatchLimits, Encoding, OtlpSink, Signal};
use northstar_export::{ExportError, Selection, Sink};
use northstar_store::Query;

use northstar_export::clickhouse::CLICKHOUSE_DDL;

/// A store query's filters as an export selection.
pub(crate) fn selection(q: Query) -> Selection {
    Selection {
        types: q.event_types,
        since: q.start_time,
        until: q.end_time,
        actor: q.actor_id,
        session: q.session_id,
        viewer: q.viewer,
        user_types: q.user_types,
        fields: q.fields,
    }
}

pub(crate) fn export_err(e: ExportError) -> CliError {
    match e {
        // A closed pipe (`| head`) ends the command quietly (see [`CliError::Output`]).
        ExportError::Write { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe => {
            CliError::Output(source)
        }
        e => CliError::usage(e.to_string()),
    }
}

/// A failed write of the export: a closed pipe ends quietly (see [`CliError::Output`]).
fn write_err(e: std::io::Error) -> CliError {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        CliError::Output(e)
    } else {
        CliError::usage(format!("cannot write the export: {e}"))
    }
}

fn create(path: &Path) -> CliResult<BufWriter<File>> {
    File::create(path)
        .map(|f| BufWriter::with_capacity(1 << 16, f))
        .map_err(|e| CliError::usage(format!("cannot write {}: {e}", path.display())))
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

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
                "--schema is for --format clickhouse (the other formats have fixed schemas)",
            ));
        }
        out!("{CLICKHOUSE_DDL}")?;
        return Ok(());
    }
    if batch == 0 {
        return Err(CliError::usage("--batch must be at least 1"));
    }
    let q = build_query(filters, None)?;
    // The same checks and messages as query (missing dir, future version, unknown type names),
    // and what the open found and skipped, on stderr.
    let em = super::open_read(dir)?;
    super::check_user_types(&em, &q)?;
    super::report_open(&em, true);
    drop(em);
    let sel = selection(q);
    let output: Box<dyn Write + Send> = match (format, out) {
        (ExportFormat::OtlpProto, None) => {
            return Err(CliError::usage(
                "--format otlp-proto needs --out PREFIX (it writes PREFIX.traces.pb, PREFIX.metrics.pb, PREFIX.logs.pb)",
            ))
        }
        (ExportFormat::OtlpProto, Some(_)) => Box::new(std::io::sink()),
        (_, Some(path)) => Box::new(create(path)?),
        (_, None) => Box::new(BufWriter::with_capacity(1 << 16, std::io::stdout())),
    };
    let total = northstar_export::store_bytes(dir);
    let mut progress = crate::progress::Progress::new("exporting", total);
    let mut on_progress = |done: u64| progress.set(done);
    let mut on_problem = |p: northstar_export::Problem| crate::note!("northstar: {p}");
    let limits = BatchLimits {
        items: batch,
        ..BatchLimits::default()
    };
    let run = |sink: &mut dyn Sink,
               on_progress: &mut dyn FnMut(u64),
               on_problem: &mut dyn FnMut(northstar_export::Problem)| {
        northstar_export::export(dir, sel.clone(), sink, on_progress, on_problem)
            .map_err(export_err)
    };
    let (totals, detail) = match format {
        ExportFormat::Clickhouse => {
            let mut sink = northstar_export::clickhouse::ClickhouseSink::new(output);
            (
                run(&mut sink, &mut on_progress, &mut on_problem)?,
                String::new(),
            )
        }
        ExportFormat::Perfetto => {
            let name = northstar_export::store_name(dir);
            let mut sink = northstar_export::perfetto::PerfettoSink::new(output, &name);
            let t = run(&mut sink, &mut on_progress, &mut on_problem)?;
            let s = sink.stats();
            let detail = format!(
                ": {} slices ({} tracing spans), {} instants ({} user-defined), {} counter values, {} drop markers on {} tracks ({} extra tracks for overlapping slices)",
                s.slices, s.tracing_spans, s.instants, s.user_instants, s.counter_values, s.drops, s.tracks, s.overflow_tracks
            );
            (t, detail)
        }
        ExportFormat::Parquet => {
            let mut sink =
                northstar_export::parquet::ParquetSink::new(output).map_err(export_err)?;
            let t = run(&mut sink, &mut on_progress, &mut on_problem)?;
            let s = sink.stats();
            let detail = format!(
                ": {} rows in {} row groups ({} types)",
                s.rows, s.row_groups, s.types
            );
            (t, detail)
        }
        ExportFormat::Otlp => {
            let mut output = output;
            let mut sink = OtlpSink::new(Encoding::Json, limits, |_, body: &[u8]| {
                output
                    .write_all(body)
                    .and_then(|()| output.write_all(b"\n"))
                    .map_err(|e| ExportError::write("the OTLP export", e))
            });
            let t = run(&mut sink, &mut on_progress, &mut on_problem)?;
            let [spans, points, logs] = sink.counts();
            drop(sink);
            output.flush().map_err(write_err)?;
            (
                t,
                format!(": {spans} spans, {points} metric points, {logs} log records"),
            )
        }
        ExportFormat::OtlpProto => {
            let prefix = out.expect("checked above");
            let mut files = [
                create(&with_suffix(prefix, ".traces.pb"))?,
                create(&with_suffix(prefix, ".metrics.pb"))?,
                create(&with_suffix(prefix, ".logs.pb"))?,
            ];
            let mut sink = OtlpSink::new(Encoding::Protobuf, limits, |signal, body: &[u8]| {
                let f = &mut files[Signal::ALL.iter().position(|s| *s == signal).unwrap_or(0)];
                let mut len = Vec::with_capacity(10);
                let mut v = body.len() as u64;
                while v >= 0x80 {
                    len.push(v as u8 | 0x80);
                    v >>= 7;
                }
                len.push(v as u8);
                f.write_all(&len)
                    .and_then(|()| f.write_all(body))
                    .map_err(|e| ExportError::write("the OTLP export", e))
            });
            let t = run(&mut sink, &mut on_progress, &mut on_problem)?;
            let [spans, points, logs] = sink.counts();
            drop(sink);
            for f in &mut files {
                f.flush().map_err(write_err)?;
            }
            (
                t,
                format!(": {spans} spans, {points} metric points, {logs} log records"),
            )
        }
    };
    progress.finish();
    crate::note!(
        "exported {} events ({} user-defined){detail}",
        totals.events,
        totals.user_events
    );
    Ok(())
}
