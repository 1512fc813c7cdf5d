//! Events in and out: `query`, `record`, `tail`.

use super::{build_query, open_read, report_damage, store_err};
use crate::cli::{Filters, Format};
use crate::error::{CliError, CliResult};
use crate::json::{parse_line, Envelope};
use crate::output::{event_line, event_row, EVENT_HEADERS};
use crate::timespec::now_unix_ns;
use northstar_store::{EventManager, StoreConfig, StoreError, StoredEvent};
use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// Prints events as a table or JSON lines; undecodable payloads are reported on stderr and
/// skipped, so one damaged event never hides the rest. Returns how many were printed.
fn print_events(events: &[StoredEvent], format: Format, header: bool) -> CliResult<usize> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut rows = Vec::new();
    let mut printed = 0;
    for se in events {
        let env = Envelope {
            timestamp: se.timestamp,
            actor_id: se.actor_id,
            visibility: se.visibility,
            event_id: Some(se.event_id),
        };
        match se.event() {
            Ok(ev) => {
                printed += 1;
                match format {
                    Format::Json => {
                        writeln!(out, "{}", event_line(&env, &ev)).map_err(CliError::Output)?;
                    }
                    Format::Table => rows.push(event_row(&env, &ev)),
                }
            }
            Err(e) => note!(
                "northstar: event {} ({}) has an undecodable payload, skipped: {e}",
                se.event_id,
                se.event_type
            ),
        }
    }
    if format == Format::Table && (header || !rows.is_empty()) {
        let table = crate::table::render(&EVENT_HEADERS, &rows);
        let text = if header {
            table.as_str()
        } else {
            table.split_once('\n').map_or("", |(_, rest)| rest)
        };
        out.write_all(text.as_bytes()).map_err(CliError::Output)?;
    }
    out.flush().map_err(CliError::Output)?;
    Ok(printed)
}

/// `northstar query`.
pub fn query(dir: &Path, f: &Filters, limit: Option<usize>, format: Format) -> CliResult {
    let q = build_query(f, limit)?;
    let em = open_read(dir)?;
    // Damage never hides the rest: print every undamaged match, and name each damaged block
    // (it may have held matches) on stderr; `northstar verify` lists all damage.
    let outcome = em
        .query_report(&q)
        .map_err(|e| store_err(dir, "query failed in", e))?;
    outcome.damaged.iter().for_each(report_damage);
    let n = print_events(&outcome.events, format, true)?;
    if format == Format::Table {
        note!("{n} events");
    }
    Ok(())
}

/// `northstar record`: validates every line first (nothing is recorded from a bad file),
/// then records them all and flushes.
pub fn record(dir: &Path, file: &str) -> CliResult {
    let (name, text) = if file == "-" {
        let mut s = String::new();
        std::io::stdin()
            .lock()
            .read_to_string_checked(&mut s)
            .map_err(|e| CliError::usage(format!("cannot read standard input: {e}")))?;
        ("<stdin>".to_string(), s)
    } else {
        let bytes =
            std::fs::read(file).map_err(|e| CliError::usage(format!("cannot read {file}: {e}")))?;
        let s = String::from_utf8(bytes).map_err(|e| {
            CliError::usage(format!(
                "{file}: not UTF-8 text at byte {}",
                e.utf8_error().valid_up_to()
            ))
        })?;
        (file.to_string(), s)
    };
    let now = now_unix_ns();
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty())
        .collect();
    for (no, line) in &lines {
        parse_line(line, now, |_, _| ())
            .map_err(|e| CliError::usage(format!("{name}:{no}: {e}")))?;
    }
    let em = EventManager::open(dir, StoreConfig::default())
        .map_err(|e| store_err(dir, "cannot open", e))?;
    let mut progress = crate::progress::Progress::new("recording", lines.len() as u64);
    let mut recorded = 0u64;
    for (i, (no, line)) in lines.iter().enumerate() {
        let result = parse_line(line, now, |env, ev| record_one(&em, env, ev))
            .map_err(|e| CliError::usage(format!("{name}:{no}: {e}")))?;
        result.map_err(|e| CliError::usage(format!("{name}:{no}: not recorded: {e}")))?;
        recorded += 1;
        if i % 1024 == 1023 {
            em.flush()
                .map_err(|e| store_err(dir, "flush failed in", e))?;
            progress.set(i as u64 + 1);
        }
    }
    progress.finish();
    em.close()
        .map_err(|e| store_err(dir, "closing failed for", e))?;
    note!("recorded {recorded} events into {}", dir.display());
    Ok(())
}

fn record_one(
    em: &EventManager,
    env: &Envelope,
    ev: &northstar_core::Event<'_>,
) -> Result<(), StoreError> {
    // The event keeps its own timestamp (the line's, or the time the file was read when it
    // has none): imported through the store's import path, not the recorder's rings.
    em.record_event_at(env.timestamp, env.actor_id, env.visibility, ev)
}

trait ReadAll {
    fn read_to_string_checked(&mut self, s: &mut String) -> std::io::Result<usize>;
}

impl<R: BufRead> ReadAll for R {
    fn read_to_string_checked(&mut self, s: &mut String) -> std::io::Result<usize> {
        std::io::Read::read_to_string(self, s)
    }
}

/// `northstar tail`: polls the directory and prints events not yet printed, in order.
pub fn tail(
    dir: &Path,
    f: &Filters,
    format: Format,
    interval_ms: u64,
    duration: Option<f64>,
) -> CliResult {
    let mut q = build_query(f, None)?;
    let stop = match duration {
        Some(d) if d.is_finite() && d >= 0.0 => Some(Instant::now() + Duration::from_secs_f64(d)),
        Some(_) => {
            return Err(CliError::usage(
                "--duration must be a non-negative number of seconds",
            ))
        }
        None => None,
    };
    // Start from now unless --since says otherwise.
    if q.start_time.is_none() {
        q.start_time = Some(now_unix_ns());
    }
    let mut seen_at_last: HashSet<u64> = HashSet::new();
    let mut header = true;
    let mut damage_reported: HashSet<(std::path::PathBuf, u64)> = HashSet::new();
    loop {
        let em = open_read(dir)?;
        let outcome = em
            .query_report(&q)
            .map_err(|e| store_err(dir, "query failed in", e))?;
        drop(em);
        for d in outcome.damaged {
            if damage_reported.insert((d.path.clone(), d.offset)) {
                report_damage(&d);
            }
        }
        let events = outcome.events;
        let fresh: Vec<StoredEvent> = events
            .into_iter()
            .filter(|e| !seen_at_last.contains(&e.event_id))
            .collect();
        if let Some(last) = fresh.iter().map(|e| e.timestamp).max() {
            // Events at the newest timestamp may be joined by more at the same nanosecond:
            // remember their ids rather than skipping the whole nanosecond.
            if Some(last) != q.start_time {
                seen_at_last.clear();
            }
            seen_at_last.extend(
                fresh
                    .iter()
                    .filter(|e| e.timestamp == last)
                    .map(|e| e.event_id),
            );
            q.start_time = Some(last);
        }
        print_events(&fresh, format, header && format == Format::Table)?;
        header = false;
        if stop.is_some_and(|s| Instant::now() >= s) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(interval_ms.max(10)));
    }
}
