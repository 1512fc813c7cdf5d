//! Events in and out: `query`, `record`, `tail`.

use super::{build_query, open_read, report_damage, store_err};
use crate::cli::{Filters, Format};
use crate::error::{CliError, CliResult};
use crate::json::user::{is_user_event, Resolved, UserBatch};
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
    let (name, text) = read_input(file)?;
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
    let batch = Batch {
        name: &name,
        lines: &lines,
        first_line,
        now,
    };
    // Pass 1: nothing is stored unless every line would be.
    let (users, is_user) = batch.check()?;
    // Pass 2: store them.
    let Some(failure) = batch.store(dir, &users, &is_user)? else {
        note!("recorded {} events into {}", lines.len(), dir.display());
        return Ok(());
    };
    Err(batch.failure_message(dir, file, &failure))
}

/// The text to record: a file's, or standard input's for `-`; with the name errors use.
fn read_input(file: &str) -> CliResult<(String, String)> {
    if file == "-" {
        let mut s = String::new();
        std::io::stdin()
            .lock()
            .read_to_string_checked(&mut s)
            .map_err(|e| CliError::usage(format!("cannot read standard input: {e}")))?;
        return Ok(("<stdin>".to_string(), s));
    }
    let bytes =
        std::fs::read(file).map_err(|e| CliError::usage(format!("cannot read {file}: {e}")))?;
    let s = String::from_utf8(bytes).map_err(|e| {
        CliError::usage(format!(
            "{file}: not UTF-8 text at byte {}",
            e.utf8_error().valid_up_to()
        ))
    })?;
    Ok((file.to_string(), s))
}

/// The lines `record` stores: `(line number, text)`, blank lines and those before
/// `--from-line` left out.
struct Batch<'a> {
    name: &'a str,
    lines: &'a [(usize, &'a str)],
    /// `--from-line`.
    first_line: usize,
    /// The timestamp of events whose line has none.
    now: u64,
}

/// How pass 2 ended early: the line, the store's error, and what the store held before.
struct StoreFailure {
    at_line: usize,
    error: StoreError,
    /// Events in the store before this run.
    before: u64,
    /// Events a successful flush has confirmed written.
    confirmed: usize,
}

impl Batch<'_> {
    fn refuse(&self, no: usize, e: &dyn std::fmt::Display) -> CliError {
        CliError::usage(format!("{}:{no}: {e} (nothing stored)", self.name))
    }

    /// Pass 1: every line parsed and checked against the store's limits, nothing stored.
    /// Returns the user-defined events with their resolved types, and which lines they are.
    fn check(&self) -> CliResult<(Resolved, Vec<bool>)> {
        let limit = northstar_core::recorder::RecorderConfig::default()
            .payload_limit
            .0
            .min(northstar_core::record::MAX_PAYLOAD_LEN);
        let mut scratch = Vec::new();
        // User-defined events: their field types come from all their lines, so they are
        // collected here and encoded once every line is read.
        let mut users = UserBatch::default();
        let mut is_user = vec![false; self.lines.len()];
        for (i, (no, line)) in self.lines.iter().enumerate() {
            let v = parse_value(line).map_err(|e| self.refuse(*no, &e))?;
            if is_user_event(&v) {
                users
                    .add(*no, &v, self.now)
                    .map_err(|e| self.refuse(*no, &e))?;
                is_user[i] = true;
                continue;
            }
            parse_event(&v, self.now, |_, ev| {
                check_storable(ev, limit, &mut scratch)
            })
            .map_err(|e| self.refuse(*no, &e))?
            .map_err(|e| self.refuse(*no, &e))?;
        }
        let users = users.resolve().map_err(|(no, e)| self.refuse(no, &e))?;
        for ev in &users.events {
            let len = 4 + ev.values.len();
            if len > limit {
                return Err(self.refuse(
                    ev.line,
                    &format!("payload of {len} bytes is over the store's limit of {limit}"),
                ));
            }
        }
        Ok((users, is_user))
    }

    /// Pass 2: records every line, flushing every 1024. Events reach the store in order, so
    /// what is stored when a write fails is a prefix of the lines.
    fn store(
        &self,
        dir: &Path,
        users: &Resolved,
        is_user: &[bool],
    ) -> CliResult<Option<StoreFailure>> {
        let name = self.name;
        let em = EventManager::open(dir, StoreConfig::default())
            .map_err(|e| store_err(dir, "cannot open", e))?;
        super::report_open(&em, true);
        let schema_ids = users
            .types
            .iter()
            .map(|t| {
                t.register().map_err(|e| {
                    CliError::usage(format!("{name}: {}: {e} (nothing stored)", t.name))
                })
            })
            .collect::<CliResult<Vec<u32>>>()?;
        let mut user_events = users.events.iter();
        let before = em
            .stats()
            .map_err(|e| store_err(dir, "cannot read", e))?
            .events;
        let mut progress = crate::progress::Progress::new("recording", self.lines.len() as u64);
        let mut confirmed = 0usize;
        let mut failure = None;
        for (i, (no, line)) in self.lines.iter().enumerate() {
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
                parse_line(line, self.now, |env, ev| record_one(&em, env, ev))
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
        let (at_line, error) = match (failure, em.close()) {
            (None, Ok(())) => return Ok(None),
            (Some(f), _) => f,
            (None, Err(e)) => (self.lines.last().map_or(self.first_line, |l| l.0), e),
        };
        Ok(Some(StoreFailure {
            at_line,
            error,
            before,
            confirmed,
        }))
    }

    /// What a failed pass 2 stored, exactly when the store can be read back, and the line to
    /// resume from.
    fn failure_message(&self, dir: &Path, file: &str, f: &StoreFailure) -> CliError {
        let lines = self.lines;
        // Count what the store holds now: it is what this run stored (the store was locked
        // for this run, so no other writer added to it).
        let observed = EventManager::open_read_only(dir)
            .and_then(|r| r.stats())
            .ok()
            .map(|s| s.events.saturating_sub(f.before) as usize)
            .filter(|&n| n >= f.confirmed && n <= lines.len());
        let (stored, exact) = match observed {
            Some(n) => (n, true),
            None => (f.confirmed, false),
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
        CliError::usage(format!(
            "{}:{}: the store failed: {}; {what}{stored} of {} events were stored{}{next}",
            self.name,
            f.at_line,
            f.error,
            lines.len(),
            match stored {
                0 => String::new(),
                n => format!(" (through line {})", lines[n - 1].0),
            },
        ))
    }
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
    let position = if f.since.is_none() {
        let em = open_read(dir)?;
        super::report_open(&em, true);
        em.end_position()
            .map_err(|e| store_err(dir, "cannot read", e))?
    } else {
        None
    };
    let mut follower = Follower {
        position,
        header: format == Format::Table,
        damage_reported: HashSet::new(),
        skipped_reported: HashSet::new(),
    };
    loop {
        follower.poll(dir, &q, format)?;
        if stop.is_some_and(|s| Instant::now() >= s) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(interval_ms.max(10)));
    }
}

/// What `tail` remembers between polls.
struct Follower {
    /// The id of the last event printed.
    position: Option<u64>,
    /// Whether the table's header is still to print.
    header: bool,
    /// Damaged blocks and skipped files already reported, each reported once.
    damage_reported: HashSet<(std::path::PathBuf, u64)>,
    skipped_reported: HashSet<(std::path::PathBuf, String)>,
}

impl Follower {
    /// One poll: reopens the store, reports new damage, prints the events stored since the
    /// last one printed.
    fn poll(&mut self, dir: &Path, q: &northstar_store::Query, format: Format) -> CliResult {
        let em = open_read(dir)?;
        for s in em
            .open_report()
            .skipped
            .iter()
            .filter(|s| s.kind.is_finding())
        {
            if self
                .skipped_reported
                .insert((s.path.clone(), s.reason.clone()))
            {
                eprintln!("northstar: skipped {}: {}", s.path.display(), s.reason);
            }
        }
        let outcome = em
            .query_after(q, self.position)
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
            if self.damage_reported.insert((d.path.clone(), d.offset)) {
                report_damage(&d);
            }
        }
        let fresh = outcome.events;
        if let Some(last) = fresh.last() {
            self.position = Some(last.event_id);
        }
        print_events(&fresh, format, self.header)?;
        self.header = false;
        Ok(())
    }
}
