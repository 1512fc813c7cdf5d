//! One function per subcommand, grouped by concept: events in and out ([`events`]), store
//! administration ([`admin`]), performance history ([`perf`]), export to other engines
//! ([`export`]) and the demo ([`demo`]).

pub mod admin;
pub mod demo;
pub mod events;
pub mod export;
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
    let mut user_types = Vec::new();
    for t in &f.types {
        for name in t.split(',').filter(|s| !s.is_empty()) {
            match EventType::from_name(name) {
                Some(et) => event_types.push(et),
                // A user-defined event's name (always namespaced): checked against the store
                // by `check_user_types` once it is open.
                None if name.contains(['.', ':']) => user_types.push(name.to_string()),
                None => {
                    let names: Vec<_> = EventType::ALL.iter().map(|t| t.name()).collect();
                    return Err(CliError::usage(format!(
                        "--type {name:?}: unknown event type (expected one of: {}, or a user-defined event's name such as kv.wal_sync)",
                        names.join(", ")
                    )));
                }
            }
        }
    }
    let mut fields = Vec::new();
    for kv in &f.fields {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| CliError::usage(format!("--field {kv:?}: expected NAME=VALUE")))?;
        fields.push((k.to_string(), v.to_string()));
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
        user_types,
        fields,
    })
}

/// A `--type` that is neither a spec type nor a user-defined event stored in `em` is bad
/// usage (exit 2), naming both lists.
pub(crate) fn check_user_types(em: &EventManager, q: &Query) -> CliResult {
    if q.user_types.is_empty() {
        return Ok(());
    }
    let known = em
        .user_type_counts()
        .map_err(|e| store_err(em.dir(), "cannot read", e))?;
    for name in &q.user_types {
        if !known.iter().any(|(n, _)| n == name) {
            let names: Vec<_> = EventType::ALL.iter().map(|t| t.name()).collect();
            let users: Vec<_> = known.iter().map(|(n, _)| n.as_str()).collect();
            return Err(CliError::usage(format!(
                "--type {name:?}: unknown event type (expected one of: {}{}{})",
                names.join(", "),
                if users.is_empty() {
                    ""
                } else {
                    "; user-defined in this store: "
                },
                users.join(", ")
            )));
        }
    }
    Ok(())
}
