//! `northstar ship`: live, resumable delivery of a store to an OpenTelemetry collector
//! (OTLP/HTTP) or a ClickHouse table. The logic (cursor, batches, retries, exactly-once for
//! ClickHouse) lives in `northstar_export::ship`; this command parses the flags and reports.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::build_query;
use super::export::{export_err, selection};
use crate::cli::Filters;
use crate::error::{CliError, CliResult};
use northstar_export::ship::{default_cursor, ship as run_ship, Destination, ShipOptions};

/// Flags of `northstar ship`.
#[derive(Debug)]
pub struct ShipArgs<'a> {
    /// OTLP/HTTP base URL.
    pub otlp: Option<&'a str>,
    /// ClickHouse HTTP base URL.
    pub clickhouse: Option<&'a str>,
    /// ClickHouse table.
    pub table: Option<&'a str>,
    /// Stop when caught up.
    pub once: bool,
    /// Cursor file (default beside the data directory).
    pub cursor: Option<&'a Path>,
    /// Items or rows per batch.
    pub batch: usize,
    /// Bytes per batch.
    pub batch_bytes: usize,
    /// Poll interval when following, ms.
    pub poll_ms: u64,
    /// Give up after retrying this long, seconds.
    pub retry_for: u64,
}

fn check_url(flag: &str, url: &str) -> CliResult<String> {
    if url.starts_with("http://") && url.len() > "http://".len() {
        Ok(url.to_string())
    } else {
        Err(CliError::usage(format!(
            "--{flag} {url:?}: expected an http:// URL, e.g. http://127.0.0.1:{}",
            if flag == "otlp" { 4318 } else { 8123 }
        )))
    }
}

/// `northstar ship`.
pub fn ship(dir: &Path, filters: &Filters, a: ShipArgs<'_>) -> CliResult {
    let dest = match (a.otlp, a.clickhouse, a.table) {
        (Some(url), None, None) => Destination::Otlp {
            url: check_url("otlp", url)?,
        },
        (None, Some(url), Some(table)) => Destination::Clickhouse {
            url: check_url("clickhouse", url)?,
            table: table.to_string(),
        },
        (None, Some(_), None) => {
            return Err(CliError::usage("--clickhouse needs --table NAME"));
        }
        _ => {
            return Err(CliError::usage(
                "give one destination: --otlp URL, or --clickhouse URL --table NAME",
            ))
        }
    };
    if a.batch == 0 || a.batch_bytes == 0 {
        return Err(CliError::usage(
            "--batch and --batch-bytes must be at least 1",
        ));
    }
    let q = build_query(filters, None)?;
    let em = super::open_read(dir)?;
    super::check_user_types(&em, &q)?;
    drop(em);
    let cursor: PathBuf = a
        .cursor
        .map(Path::to_owned)
        .unwrap_or_else(|| default_cursor(dir, &dest));
    let opts = ShipOptions {
        once: a.once,
        poll: Duration::from_millis(a.poll_ms.max(10)),
        batch_items: a.batch,
        batch_bytes: a.batch_bytes,
        cursor: cursor.clone(),
        retry_for: Duration::from_secs(a.retry_for),
    };
    let report = run_ship(
        dir,
        selection(q),
        &dest,
        &opts,
        &mut |line| eprintln!("northstar: {line}"),
        &|| false,
    )
    .map_err(export_err)?;
    let skipped = if report.already_there > 0 {
        format!(", {} already in the table", report.already_there)
    } else {
        String::new()
    };
    let rejected = if report.rejected > 0 {
        format!(
            ", {} rejected by the receiver (partial success)",
            report.rejected
        )
    } else {
        String::new()
    };
    eprintln!(
        "shipped {} events to {} ({} requests, {} retries{skipped}{rejected}); cursor {}",
        report.sent,
        dest.describe(),
        report.requests,
        report.retries,
        cursor.display()
    );
    Ok(())
}
