//! Events in and out: `query`, `record`, `tail`.

use super::{build_query, open_read, report_damage, store_err};
use crate::cli::{Filters, Format};
use crate::error::{CliError, CliResult};
use crate::json::user::{is_user_event, UserBatch};
use crate::json::{parse_event, parse_line, parse_value, Envelope};
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
        if let Some(user) = &se.user {
            printed += 1;
            match format {
                Format::Json => {
                    let _ = writeln!(out, "{}", crate::json::user_event_json(&env, se, user));
                }
                Format::Table => rows.push(crate::output::user_event_row(&env, se, user)),
            }
            continue;
        }
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
    super::check_user_types(&em, &q)?;
    super::report_open(&em, true);
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

/// `northstar record`: checks every line first (its JSON, and that the store would take the
/// event: size and encoding), so a bad file stores nothing; then records them all and flushes.
/// If the store fails part-way (a full disk), says exactly how many events were stored and the
/// line to resume from with `--from-line`, so a retry never stores an event twice.
/// User-defined events get their field types from all their lines (`json::user`) and are
/// stored with their definitions.
pub fn record(dir: &Path, file: &str, from_line: Option<usize>) -> CliResult {
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
    let first_line = from_line.unwrap_or(1);
    if first_line == 0 {
        return Err(CliError::usage("--from-line counts from 1"));
    }
    let now = now_unix_ns();
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|&(no, l)| no >= first_line && !l.is_empty())
        .collect();
    // Pass 1: nothing is stored unless every line would be.
    let limit = northstar_core::recorder::RecorderConfig::default()
        .payload_limit
        .0
        .min(northstar_core::record::MAX_PAYLOAD_LEN);
    let mut scratch = Vec::new();
    // User-defined events: their field types come from all their lines, so they are
    // collected here and encoded once every line is read.
    let mut users = UserBatch::default();
    let mut is_user = vec![false; lines.len()];
    let refuse = |no: usize, e: &dyn std::fmt::Display| {
        CliError::usage(format!("{name}:{no}: {e} (nothing stored)"))
    };
    for (i, (no, line)) in lines.iter().enumerate() {
        let v = parse_value(line).map_err(|e| refuse(*no, &e))?;
        if is_user_event(&v) {
            users.add(*no, &v, now).map_err(|e| refuse(*no, &e))?;
            is_user[i] = true;
            continue;
        }
        parse_event(&v, now, |_, ev| check_storable(ev, limit, &mut scratch))
            .map_err(|e| refuse(*no, &e))?
            .map_err(|e| refuse(*no, &e))?;
    }
    let users = users.resolve().map_err(|(no, e)| refuse(no, &e))?;
    for ev in &users.events {
        let len = 4 + ev.values.len();
        if len > limit {
            return Err(refuse(
                ev.line,
                &format!("payload of {len} bytes is over the store's limit of {limit}"),
            ));
        }
    }
    // Pass 2: store them. Events reach the store in order, so what is stored when a write
    // fails is a prefix of `lines`.
    let em = EventManager::open(dir, StoreConfig::default())
        .map_err(|e| store_err(dir, "cannot open", e))?;
    super::report_open(&em, true);
    let schema_ids = users
        .types
        .iter()
        .map(|t| {
            t.register()
                .map_err(|e| CliError::usage(format!("{name}: {}: {e} (nothing stored)", t.name)))
        })
        .collect::<CliResult<Vec<u32>>>()?;
    let mut user_events = users.events.iter();
    let before = em
        .stats()
        .map_err(|e| store_err(dir, "cannot read", e))?
        .events;
    let mut progress = crate::progress::Progress::new("recording", lines.len() as u64);
    // Events a successful flush has confirmed written.
    let mut confirmed = 0usize;
    let mut failure = None;
    for (i, (no, line)) in lines.iter().enumerate() {
        let result = if is_user[i] {
            match user_events.next() {
                Some(ev) => em.record_user_at(
                    ev.env.timestamp,
                    ev.env.actor_id,
                    ev.env.visibility,
                    schema_ids[ev.ty],
                    &ev.values,
                ),
                None => return Err(CliError::usage(format!("{name}:{no}: user event lost"))),
            }
        } else {
            parse_line(line, now, |env, ev| record_one(&em, env, ev))
                .map_err(|e| CliError::usage(format!("{name}:{no}: {e}")))?
        };
        if let Err(e) = result {
            failure = Some((*no, e));
            break;
        }
        if i % 1024 == 1023 {
            if let Err(e) = em.flush() {
                failure = Some((*no, e));
                break;
            }
            confirmed = i + 1;
            progress.set(i as u64 + 1);
        }
    }
    progress.finish();
    let failure = match (failure, em.close()) {
        (None, Ok(())) => None,
        (Some(f), _) => Some(f),
        (None, Err(e)) => Some((lines.last().map_or(first_line, |l| l.0), e)),
    };
    let Some((at_line, e)) = failure else {
        note!("recorded {} events into {}", lines.len(), dir.display());
        return Ok(());
    };
    // Count what the store holds now: it is what this run stored (the store was locked for
    // this run, so no other writer added to it).
    let observed = EventManager::open_read_only(dir)
        .and_then(|r| r.stats())
        .ok()
        .map(|s| s.events.saturating_sub(before) as usize)
        .filter(|&n| n >= confirmed && n <= lines.len());
    let (stored, exact) = match observed {
        Some(n) => (n, true),
        None => (confirmed, false),
    };
    let resume = lines.get(stored).map(|l| l.0);
    let what = if exact { "" } else { "at least " };
    let next = match resume {
        Some(line) => format!(
            "; after fixing the cause, resume with `northstar record --dir {} --from-line {line} {file}`",
            dir.display()
        ),
        None => String::new(),
    };
    Err(CliError::usage(format!(
        "{name}:{at_line}: the store failed: {e}; {what}{stored} of {} events were stored{}{next}",
        lines.len(),
        match stored {
            0 => String::new(),
            n => format!(" (through line {})", lines[n - 1].0),
        },
    )))
}

/// Whether the store would take this event: within its payload limit, and encodable.
fn check_storable(
    ev: &northstar_core::Event<'_>,
    limit: usize,
    scratch: &mut Vec<u8>,
) -> Result<(), String> {
    let len = ev.encoded_len();
    if len > limit {
        return Err(format!(
            "payload of {len} bytes is over the store's limit of {limit}"
        ));
    }
    scratch.clear();
    scratch.resize(len, 0);
    match ev.encode_into(scratch) {
        Ok(n) if n == len => Ok(()),
        Ok(n) => Err(format!("payload encoded to {n} bytes, {len} expected")),
        Err(e) => Err(format!("payload cannot be encoded: {e}")),
    }
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

/// `northstar tail`: polls the directory and prints the events stored since the last poll,
/// in store order. It follows the store position (the id of the last event printed), never
/// timestamps: a future-dated event does not hide later ones, and events of several threads
/// stored in any timestamp order are each printed once.
pub fn tail(
    dir: &Path,
    f: &Filters,
    format: Format,
    interval_ms: u64,
    duration: Option<f64>,
) -> CliResult {
    let q = build_query(f, None)?;
    let stop = match duration {
        Some(d) if d.is_finite() && d >= 0.0 => Some(Instant::now() + Duration::from_secs_f64(d)),
        Some(_) => {
            return Err(CliError::usage(
                "--duration must be a non-negative number of seconds",
            ))
        }
        None => None,
    };
    // Start at the end of the store unless --since says otherwise (then from the start,
    // keeping events stamped at or after --since).
    let mut position = if f.since.is_none() {
        let em = open_read(dir)?;
        super::report_open(&em, true);
        em.end_position()
            .map_err(|e| store_err(dir, "cannot read", e))?
    } else {
        None
    };
    let mut header = true;
    let mut damage_reported: HashSet<(std::path::PathBuf, u64)> = HashSet::new();
    let mut skipped_reported: HashSet<(std::path::PathBuf, String)> = HashSet::new();
    loop {
        let em = open_read(dir)?;
        for s in em
            .open_report()
            .skipped
            .iter()
            .filter(|s| s.kind.is_finding())
        {
            if skipped_reported.insert((s.path.clone(), s.reason.clone())) {
                eprintln!("northstar: skipped {}: {}", s.path.display(), s.reason);
            }
        }
        let outcome = em
            .query_after(&q, position)
            .map_err(|e| store_err(dir, "query failed in", e))?;
        // Damage met while opening, except the newest segment's tail (a block in flight).
        let open_damage = em
            .open_report()
            .damaged
            .iter()
            .filter(|d| !d.reason.starts_with("torn tail"))
            .cloned()
            .collect::<Vec<_>>();
        drop(em);
        for d in open_damage.into_iter().chain(outcome.damaged) {
            if damage_reported.insert((d.path.clone(), d.offset)) {
                report_damage(&d);
            }
        }
        let fresh = outcome.events;
        if let Some(last) = fresh.last() {
            position = Some(last.event_id);
        }
        print_events(&fresh, format, header && format == Format::Table)?;
        header = false;
        if stop.is_some_and(|s| Instant::now() >= s) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(interval_ms.max(10)));
    }
}
