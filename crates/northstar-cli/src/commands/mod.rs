//! One function per subcommand, grouped by concept: events in and out ([`events`]), store
//! administration ([`admin`]), performance history ([`perf`]), export to other engines
//! ([`export`]) and the demo ([`demo`]).

pub mod admin;
pub mod demo;
pub mod events;
pub mod export;
pub mod ingest;
pub mod perf;

use crate::cli::{Command, Filters};
use crate::error::{CliError, CliResult, EXIT_OK};
use crate::timespec::{now_unix_ns, parse_time};
use northstar_core::EventType;
use northstar_store::{EventManager, Query, StoreError, Viewer};
use std::path::Path;

/// Runs a parsed command; returns its exit status.
pub fn dispatch(cmd: Command) -> CliResult<i32> {
    match cmd {
        Command::Demo {
            dir,
            threads,
            duration,
        } => demo::run(&dir.dir, threads, duration),
        Command::Query {
            dir,
            filters,
            limit,
            format,
        } => events::query(&dir.dir, &filters, limit, format),
        Command::Record { dir, file } => events::record(&dir.dir, &file),
        Command::Export {
            dir,
            filters,
            format,
            out,
            batch,
            schema,
        } => export::export(&dir.dir, &filters, format, out.as_deref(), batch, schema),
        Command::Tail {
            dir,
            filters,
            format,
            interval_ms,
            duration,
        } => events::tail(&dir.dir, &filters, format, interval_ms, duration),
        Command::Stats { dir, format } => admin::stats(&dir.dir, format),
        Command::Verify { dir, format } => admin::verify(&dir.dir, format),
        Command::Compact { dir, retention } => admin::compact(&dir.dir, &retention),
        Command::IngestCriterion {
            dir,
            criterion_dir,
            messages,
            commit,
        } => perf::ingest(&dir.dir, criterion_dir, messages, commit),
        Command::Regressions {
            dir,
            metric,
            threshold,
            mode,
            fail_on,
            format,
        } => perf::regressions(&dir.dir, metric, threshold, mode, fail_on, format),
        Command::Plot { dir, metric, out } => perf::plot(&dir.dir, &metric, &out),
        Command::Ingest {
            dir,
            from_serial,
            hz,
            epoch_ns,
            format,
        } => ingest::ingest(&dir.dir, &from_serial, hz, epoch_ns, format),
    }
    .map(|()| EXIT_OK)
}

/// Names a damaged block a read skipped, on stderr: damage never hides the rest, and never
/// goes unsaid (`northstar verify` lists all of it).
pub(crate) fn report_damage(d: &northstar_store::DamagedRegion) {
    eprintln!(
        "northstar: skipped damaged block in {} at offset {} ({} bytes): {}",
        d.path.display(),
        d.offset,
        d.len,
        d.reason
    );
}

/// A store error as a one-line message naming the directory.
pub(crate) fn store_err(dir: &Path, what: &str, e: StoreError) -> CliError {
    CliError::usage(format!("{what} {}: {e}", dir.display()))
}

/// Opens a data directory for reading; a missing or unreadable one is bad input (exit 2).
pub(crate) fn open_read(dir: &Path) -> CliResult<EventManager> {
    if !dir.is_dir() {
        return Err(CliError::usage(format!(
            "no data directory at {} (run `northstar demo --dir {}` or `northstar record --dir {}` first)",
            dir.display(),
            dir.display(),
            dir.display()
        )));
    }
    EventManager::open_read_only(dir).map_err(|e| store_err(dir, "cannot read", e))
}

/// Turns the command-line filters into a store query.
pub(crate) fn build_query(f: &Filters, limit: Option<usize>) -> CliResult<Query> {
    let now = now_unix_ns();
    let mut event_types = Vec::new();
    for t in &f.types {
        for name in t.split(',').filter(|s| !s.is_empty()) {
            let et = EventType::from_name(name).ok_or_else(|| {
                let names: Vec<_> = EventType::ALL.iter().map(|t| t.name()).collect();
                CliError::usage(format!(
                    "--type {name:?}: unknown event type (expected one of: {})",
                    names.join(", ")
                ))
            })?;
            event_types.push(et);
        }
    }
    let time = |flag: &str, v: &Option<String>| -> CliResult<Option<u64>> {
        v.as_deref()
            .map(|s| parse_time(s, now).map_err(|e| CliError::usage(format!("--{flag}: {e}"))))
            .transpose()
    };
    let start_time = time("since", &f.since)?;
    let end_time = time("until", &f.until)?;
    if let (Some(s), Some(u)) = (start_time, end_time) {
        if s > u {
            return Err(CliError::usage("--since is later than --until"));
        }
    }
    Ok(Query {
        event_types,
        start_time,
        end_time,
        limit,
        actor_id: f.actor,
        session_id: f.session,
        viewer: f
            .viewer
            .map_or(Viewer::System, |actor_id| Viewer::Actor { actor_id }),
    })
}
