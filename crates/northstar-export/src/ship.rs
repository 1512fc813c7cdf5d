//! `northstar ship`: follows a store as it grows (or, with `once`, sends what is there and
//! stops when caught up) and delivers it to an OpenTelemetry collector (OTLP/HTTP, protobuf)
//! or a ClickHouse table (HTTP interface), resuming after a crash.
//!
//! **The cursor.** Each destination has a cursor file: the store position (segment, offset of
//! the next block) up to which the destination has acknowledged everything. It is written
//! atomically (temporary file, fsync, rename, fsync of the directory) and only after the
//! destination answered. It also holds the largest event id before that position: compaction
//! may rewrite the segment the position points into (blocks move to lower offsets), so a
//! restart re-reads that one segment from its start and skips every event id up to the saved
//! one ([`resume_point`]) instead of trusting the byte offset.
//!
//! **Tracing spans** are paired from their creation and close records (see [`crate::spans`]);
//! a span whose close is not stored yet when a `--once` run catches up is sent as an open span,
//! and a restart that resumes between a span's records sends its close as a span without the
//! creation's fields.
//!
//! **OTLP: at least once, at most one batch again per crash.** Events are read block by block
//! and sent as requests (one per signal) once a batch is full (by items or bytes) at a block
//! boundary, or when the reader has caught up; the cursor then moves past those blocks. A crash
//! between a send and the cursor's save re-sends that one batch on restart (OTLP has no
//! idempotency key). Retries follow the OTLP/HTTP specification: only 429, 502, 503, 504 and
//! dropped connections, with exponential backoff and jitter, honouring `Retry-After`; a
//! partial success is reported and not retried; any other status (400, 413...) stops with the
//! server's message.
//!
//! **ClickHouse: exactly once.** The table is described first and rows carry only the columns
//! it has (it must have `event_id`). Rows go in `event_id` order, one `INSERT` per batch (by
//! rows and bytes), each small enough to be one insert block, which ClickHouse writes whole or
//! not at all. Before the first batch and before any retry the shipper asks the table for
//! `max(event_id)` and skips what it already holds, so neither a crash nor a retry after a lost
//! answer duplicates a row (a `ReplacingMergeTree` ordered by `event_id` is a second safety
//! net, not needed for this).
//!
//! **Visibility.** Shipping applies the selection's viewer like `query`; by default it ships
//! the operator's view (every event).

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use northstar_store::{BlockCursor, CursorItem, Position};

use crate::batch::{BatchLimits, Fill};
use crate::clickhouse::{write_row, RowShape, COLUMNS};
use crate::otlp::{Encoding, OtlpSink};
use crate::{ExportError, Problem, Result, Selection, Selector, Sink, Totals};

/// Where events go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// An OTLP/HTTP endpoint, e.g. `http://127.0.0.1:4318` (`/v1/traces` etc. are appended).
    Otlp {
        /// Base URL.
        url: String,
    },
    /// A ClickHouse HTTP interface, e.g. `http://127.0.0.1:8123`, and a table in it.
    Clickhouse {
        /// Base URL.
        url: String,
        /// Table name (optionally `database.table`).
        table: String,
    },
}

impl Destination {
    /// A short text naming the destination (for the cursor file and messages).
    pub fn describe(&self) -> String {
        match self {
            Destination::Otlp { url } => format!("otlp {url}"),
            Destination::Clickhouse { url, table } => format!("clickhouse {url} {table}"),
        }
    }
}

/// How to ship.
#[derive(Clone, Debug)]
pub struct ShipOptions {
    /// Stop once caught up (otherwise follow the store until interrupted).
    pub once: bool,
    /// How often to look for new blocks when following.
    pub poll: Duration,
    /// Items (OTLP) or rows (ClickHouse) per batch.
    pub batch_items: usize,
    /// Bytes per batch (encoded).
    pub batch_bytes: usize,
    /// Cursor file.
    pub cursor: PathBuf,
    /// Give up on a destination after retrying this long.
    pub retry_for: Duration,
}

impl ShipOptions {
    /// The batch limits `batch_items` and `batch_bytes` set.
    pub fn limits(&self) -> BatchLimits {
        BatchLimits {
            items: self.batch_items,
            bytes: self.batch_bytes,
        }
    }
}

/// What a shipment did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShipReport {
    /// Events read and selected.
    pub totals: Totals,
    /// Events (OTLP items: spans, points, records; ClickHouse: rows) acknowledged.
    pub sent: u64,
    /// ClickHouse rows skipped because the table already held them.
    pub already_there: u64,
    /// Requests sent (retries included).
    pub requests: u64,
    /// Retries.
    pub retries: u64,
    /// Items an OTLP receiver rejected in a partial success.
    pub rejected: u64,
}

/// The default cursor file of a destination: beside the data directory (never inside it, so
/// the store holds only its own files), named after the destination.
pub fn default_cursor(dir: &Path, dest: &Destination) -> PathBuf {
    let h = dest
        .describe()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
    let kind = match dest {
        Destination::Otlp { .. } => "otlp",
        Destination::Clickhouse { .. } => "clickhouse",
    };
    let mut name = dir
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "northstar-data".into());
    name.push(format!(".ship-{kind}-{h:016x}.cursor"));
    dir.with_file_name(name)
}

const CURSOR_HEADER: &str = "northstar-ship-cursor v1";

/// Reads a cursor file's position; `None` when there is none.
pub fn read_cursor(path: &Path) -> Result<Option<Position>> {
    Ok(read_saved(path)?.map(|s| s.pos))
}

/// What a cursor file holds: the position, and the last event id before it (cursors written
/// before it was recorded have none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SavedCursor {
    /// The next block to read.
    pub pos: Position,
    /// The largest event id of the blocks before `pos`.
    pub last_id: Option<u64>,
}

/// Where a shipper resumes: a saved position is a byte offset in a segment file, which
/// compaction may have rewritten since (expired events dropped, blocks re-cut: the offset no
/// longer points where it did, and could skip the tail of the segment). Event ids do not
/// change in a rewrite and grow in store order, so the shipper re-reads the saved segment from
/// its start and skips every event up to the saved last id: exactly the events after the
/// cursor, whatever happened to the file. Cost: re-reading at most one segment per start.
pub fn resume_point(saved: Option<SavedCursor>) -> (Position, u64) {
    match saved {
        None => (Position::START, 0),
        Some(SavedCursor {
            pos,
            last_id: Some(last),
        }) => (
            Position {
                segment_id: pos.segment_id,
                offset: 0,
            },
            last,
        ),
        Some(SavedCursor { pos, last_id: None }) => (pos, 0),
    }
}

/// The largest event id of a block's events (0 when it has none).
pub fn block_last_id(b: &northstar_store::CursorBlock<'_>) -> u64 {
    b.view
        .records()
        .filter(|r| r.kind() != northstar_core::RecordKind::Definition)
        .map(|r| b.event_id(r.header().event_seq.get()))
        .max()
        .unwrap_or(0)
}

/// Reads a cursor file; `None` when there is none.
pub fn read_saved(path: &Path) -> Result<Option<SavedCursor>> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ExportError::Usage(format!(
                "cannot read the cursor {}: {e}",
                path.display()
            )))
        }
    };
    let mut lines = text.lines();
    let bad = || {
        ExportError::Usage(format!(
            "{} is not a ship cursor (expected `{CURSOR_HEADER}` then `SEGMENT OFFSET`); remove it to start over",
            path.display()
        ))
    };
    if lines.next() != Some(CURSOR_HEADER) {
        return Err(bad());
    }
    let mut it = lines.next().ok_or_else(bad)?.split_whitespace();
    let segment_id = it.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let offset = it.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let last_id = match it.next() {
        None => None,
        Some(t) => Some(t.parse().map_err(|_| bad())?),
    };
    Ok(Some(SavedCursor {
        pos: Position { segment_id, offset },
        last_id,
    }))
}

/// Saves a cursor atomically: temporary file, fsync, rename, fsync of the directory.
/// `last_id` is the largest event id before `pos` (see [`resume_point`]).
pub fn write_cursor(path: &Path, pos: Position, last_id: u64, dest: &Destination) -> Result<()> {
    let tmp = path.with_extension("cursor.tmp");
    let text = format!(
        "{CURSOR_HEADER}\n{} {} {last_id}\n{}\n",
        pos.segment_id,
        pos.offset,
        dest.describe()
    );
    let io = |e| ExportError::write(format!("the cursor {}", path.display()), e);
    let mut f = fs::File::create(&tmp).map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    fs::rename(&tmp, path).map_err(io)?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if let Ok(d) = fs::File::open(parent) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// HTTP with the retry rules of the module docs.
struct Http {
    agent: ureq::Agent,
    requests: u64,
    retries: u64,
}

/// The answer to one attempt.
enum Attempt {
    /// Acknowledged (2xx), with the answer's body.
    Acked(Vec<u8>),
    /// Retryable (429, 502, 503, 504, a dropped connection), with the server's `Retry-After`.
    Retry(Option<Duration>, String),
}

impl Http {
    fn new() -> Self {
        Self {
            agent: ureq::AgentBuilder::new()
                .timeout_connect(Duration::from_secs(5))
                .timeout(Duration::from_secs(60))
                .build(),
            requests: 0,
            retries: 0,
        }
    }

    /// POSTs `body` once. Statuses that must not be retried are errors with the server's
    /// message.
    fn attempt(&mut self, url: &str, content_type: &str, body: &[u8]) -> Result<Attempt> {
        self.requests += 1;
        let res = self
            .agent
            .post(url)
            .set("Content-Type", content_type)
            .send_bytes(body);
        match res {
            Ok(resp) => {
                let mut out = Vec::new();
                match resp.into_reader().take(1 << 20).read_to_end(&mut out) {
                    Ok(_) => Ok(Attempt::Acked(out)),
                    Err(e) => Ok(Attempt::Retry(None, format!("reading the answer: {e}"))),
                }
            }
            Err(ureq::Error::Status(code, resp)) if matches!(code, 429 | 502 | 503 | 504) => {
                let hint = resp
                    .header("Retry-After")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                Ok(Attempt::Retry(hint, format!("HTTP {code}")))
            }
            Err(ureq::Error::Status(code, resp)) => {
                let text = resp.into_string().unwrap_or_default();
                let text = text.trim();
                let what = match code {
                    400 => "the request was refused as malformed (HTTP 400, not retried)",
                    413 => "the request is too large for the server (HTTP 413, not retried; lower --batch)",
                    _ => "the server refused the request (not retried)",
                };
                let cut: String = text.chars().take(500).collect();
                Err(ExportError::Rejected(format!(
                    "{}: {what}: HTTP {code}: {cut}",
                    strip_query(url)
                )))
            }
            Err(ureq::Error::Transport(t)) => Ok(Attempt::Retry(None, t.to_string())),
        }
    }
}

fn strip_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// Exponential backoff with jitter, bounded in total time.
struct Backoff {
    started: Instant,
    next: Duration,
    limit: Duration,
}

impl Backoff {
    fn new(limit: Duration) -> Self {
        Self {
            started: Instant::now(),
            next: Duration::from_millis(100),
            limit,
        }
    }

    /// Sleeps before the next attempt: the server's `Retry-After` when it gave one, else the
    /// current backoff; plus up to half of it again as jitter. Fails past the time limit.
    fn wait(
        &mut self,
        hint: Option<Duration>,
        url: &str,
        why: &str,
        http: &mut Http,
    ) -> Result<()> {
        let base = hint.unwrap_or(self.next);
        if self.started.elapsed() + base > self.limit {
            return Err(ExportError::Unreachable(format!(
                "{}: no acknowledgement after retrying for {:?} (last: {why})",
                strip_query(url),
                self.limit
            )));
        }
        let jitter = Duration::from_millis(fastrand::u64(0..=base.as_millis() as u64 / 2));
        std::thread::sleep(base + jitter);
        self.next = (self.next * 2).min(Duration::from_secs(10));
        http.retries += 1;
        Ok(())
    }
}

/// Reads an OTLP Export*ServiceResponse: `partial_success` (field 1) with the rejected count
/// (field 1) and a message (field 2). Malformed answers count as full success (the status
/// code already said so).
fn partial_success(body: &[u8]) -> Option<(i64, String)> {
    fn varint(b: &[u8], i: &mut usize) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *b.get(*i)?;
            *i += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(v);
            }
        }
        None
    }
    fn fields<'b>(b: &'b [u8], mut f: impl FnMut(u64, u64, &'b [u8])) -> Option<()> {
        let mut i = 0;
        while i < b.len() {
            let tag = varint(b, &mut i)?;
            match tag & 7 {
                0 => f(tag >> 3, varint(b, &mut i)?, &[]),
                2 => {
                    let n = varint(b, &mut i)? as usize;
                    let s = b.get(i..i.checked_add(n)?)?;
                    i += n;
                    f(tag >> 3, 0, s);
                }
                1 => i += 8,
                5 => i += 4,
                _ => return None,
            }
        }
        Some(())
    }
    let mut inner: Option<&[u8]> = None;
    fields(body, |no, _, bytes| {
        if no == 1 {
            inner = Some(bytes);
        }
    })?;
    let (mut rejected, mut msg) = (0i64, String::new());
    fields(inner?, |no, v, bytes| match no {
        1 => rejected = v as i64,
        2 => msg = String::from_utf8_lossy(bytes).into_owned(),
        _ => {}
    })?;
    (rejected != 0 || !msg.is_empty()).then_some((rejected, msg))
}

/// Ships `dir` to `dest` (see the module docs). `status` gets one line per notable thing
/// (partial successes, problems); `stop` is polled between batches when following.
pub fn ship(
    dir: &Path,
    sel: Selection,
    dest: &Destination,
    opts: &ShipOptions,
    status: &mut dyn FnMut(&str),
    stop: &dyn Fn() -> bool,
) -> Result<ShipReport> {
    match dest {
        Destination::Otlp { url } => ship_otlp(dir, sel, url, dest, opts, status, stop),
        Destination::Clickhouse { url, table } => {
            ship_clickhouse(dir, sel, url, table, dest, opts, status, stop)
        }
    }
}

fn ship_otlp(
    dir: &Path,
    sel: Selection,
    url: &str,
    dest: &Destination,
    opts: &ShipOptions,
    status: &mut dyn FnMut(&str),
    stop: &dyn Fn() -> bool,
) -> Result<ShipReport> {
    let base = url.trim_end_matches('/').to_owned();
    let (start, floor) = resume_point(read_saved(&opts.cursor)?);
    let selector = Selector::new(dir, sel).after(floor);
    let mut last_id = floor;
    let mut cursor = BlockCursor::new(dir, start)?;
    let mut report = ShipReport::default();
    let mut http = Http::new();
    // Requests are collected, then sent at a block boundary; the sink never cuts one itself.
    let mut sink = OtlpSink::queued(Encoding::Protobuf, BatchLimits::UNLIMITED);
    let limits = opts.limits();
    // Events read since the last send, and the bytes of their blocks.
    let mut pending = Fill::default();
    let mut acked_to = start;
    loop {
        let item = cursor.next_block()?;
        let caught_up = item.is_none();
        let mut at_boundary = None;
        match item {
            None => {}
            Some(CursorItem::Damaged(d)) => {
                report.totals.problems += 1;
                status(&Problem::Damaged(d).to_string());
                at_boundary = Some(cursor.position());
            }
            Some(CursorItem::Block(b)) => {
                report.totals.blocks += 1;
                report.totals.dropped += b.dropped();
                let block_bytes = b.view.len();
                let before = report.totals.events;
                selector.for_each(
                    &b,
                    &mut report.totals,
                    &mut |p| status(&p.to_string()),
                    |it| sink.event(it),
                )?;
                pending.add((report.totals.events - before) as usize, block_bytes);
                last_id = last_id.max(block_last_id(&b));
                at_boundary = Some(b.next);
            }
        }
        let full = limits.is_full(&pending);
        let ending = caught_up && (opts.once || stop());
        if ending {
            // Tracing spans whose end has not been stored yet go out as open spans rather
            // than being lost with this run.
            sink.flush_open_spans()?;
        }
        if full || caught_up {
            sink.flush_all()?;
            for (signal, body) in sink.take_queue() {
                let endpoint = format!("{base}{}", signal.path());
                let mut backoff = Backoff::new(opts.retry_for);
                let answer = loop {
                    match http.attempt(&endpoint, "application/x-protobuf", &body)? {
                        Attempt::Acked(a) => break a,
                        Attempt::Retry(hint, why) => {
                            backoff.wait(hint, &endpoint, &why, &mut http)?
                        }
                    }
                };
                {
                    if let Some((rejected, msg)) = partial_success(&answer) {
                        report.rejected += rejected.max(0) as u64;
                        status(&format!(
                            "{endpoint}: partial success, {rejected} {} rejected (not retried): {msg}",
                            signal.items()
                        ));
                    }
                }
            }
            report.sent += pending.take().items as u64;
            let pos = at_boundary.unwrap_or(cursor.position());
            if pos != acked_to {
                write_cursor(&opts.cursor, pos, last_id, dest)?;
                acked_to = pos;
            }
        } else if let Some(pos) = at_boundary.filter(|_| pending.is_empty()) {
            // Nothing selected so far: the cursor may move without a send.
            if pos != acked_to && pending.bytes >= limits.bytes / 4 {
                write_cursor(&opts.cursor, pos, last_id, dest)?;
                acked_to = pos;
            }
        }
        if caught_up {
            if ending {
                break;
            }
            std::thread::sleep(opts.poll);
        }
    }
    report.requests = http.requests;
    report.retries = http.retries;
    Ok(report)
}

/// Percent-encodes a query-string value.
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Runs a ClickHouse query (in the body) and returns its text answer, retrying like any send.
fn ch_query(http: &mut Http, base: &str, sql: &str, retry_for: Duration) -> Result<String> {
    let mut backoff = Backoff::new(retry_for);
    loop {
        match http.attempt(base, "text/plain", sql.as_bytes())? {
            Attempt::Acked(a) => return Ok(String::from_utf8_lossy(&a).into_owned()),
            Attempt::Retry(hint, why) => backoff.wait(hint, base, &why, http)?,
        }
    }
}

fn max_event_id(http: &mut Http, base: &str, table: &str, retry_for: Duration) -> Result<u64> {
    let text = ch_query(
        http,
        base,
        &format!("SELECT max(event_id) FROM {table} FORMAT TabSeparated"),
        retry_for,
    )?;
    text.trim().parse::<u64>().map_err(|_| {
        ExportError::Rejected(format!(
            "{base}: max(event_id) of {table} is not a number: {:?}",
            text.trim()
        ))
    })
}

/// The row shape a table takes: the columns of [`COLUMNS`] it has, and how its `timestamp`
/// is typed. It must have `event_id` (the shipper resumes from it).
fn describe(http: &mut Http, base: &str, table: &str, retry_for: Duration) -> Result<RowShape> {
    let text = ch_query(
        http,
        base,
        &format!("DESCRIBE TABLE {table} FORMAT TabSeparated"),
        retry_for,
    )?;
    let mut shape = RowShape {
        columns: [false; 9],
        nanos: false,
    };
    for line in text.lines() {
        let mut cols = line.split('\t');
        let (Some(name), Some(ty)) = (cols.next(), cols.next()) else {
            continue;
        };
        if let Some(i) = COLUMNS.iter().position(|c| *c == name) {
            shape.columns[i] = true;
            if name == "timestamp" {
                shape.nanos = ty.starts_with("DateTime64");
            }
        }
    }
    if !shape.columns[0] {
        return Err(ExportError::Usage(format!(
            "table {table} has no event_id column: the shipper needs it to send each event exactly once (create the table with `northstar export --schema`)"
        )));
    }
    Ok(shape)
}

/// A batch of rows for one INSERT.
#[derive(Default)]
struct Rows {
    body: String,
    /// (event id, end of its row in `body`), in event id order.
    ids: Vec<(u64, usize)>,
}

#[allow(clippy::too_many_arguments)]
fn ship_clickhouse(
    dir: &Path,
    sel: Selection,
    url: &str,
    table: &str,
    dest: &Destination,
    opts: &ShipOptions,
    status: &mut dyn FnMut(&str),
    stop: &dyn Fn() -> bool,
) -> Result<ShipReport> {
    if table.is_empty()
        || !table
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    {
        return Err(ExportError::Usage(format!(
            "--table {table:?}: expected a table name (letters, digits, `_`, optionally `database.table`)"
        )));
    }
    let base = format!("{}/", url.trim_end_matches('/'));
    let mut http = Http::new();
    let shape = describe(&mut http, &base, table, opts.retry_for)?;
    let names: Vec<&str> = COLUMNS
        .iter()
        .zip(shape.columns)
        .filter(|(_, on)| *on)
        .map(|(c, _)| *c)
        .collect();
    let insert_url = format!(
        "{base}?query={}",
        url_encode(&format!(
            "INSERT INTO {table} ({}) FORMAT JSONEachRow",
            names.join(", ")
        ))
    );
    let max_id = max_event_id(&mut http, &base, table, opts.retry_for)?;
    let saved = read_saved(&opts.cursor)?;
    // Without a cursor, start at the segment of the newest row the table holds.
    let (start, floor) = match saved {
        Some(s) => resume_point(Some(s)),
        None => (
            Position {
                segment_id: (max_id >> 32) as u32,
                offset: 0,
            },
            0,
        ),
    };
    let selector = Selector::new(dir, sel).after(floor);
    let mut last_id = floor;
    let mut cursor = BlockCursor::new(dir, start)?;
    let mut report = ShipReport::default();
    let mut rows = Rows::default();
    let mut acked_to = start;
    let mut ins = Inserter {
        http,
        insert_url,
        base,
        table: table.to_string(),
        retry_for: opts.retry_for,
        max_id,
        sent: 0,
    };
    let mut sent_at_save = 0u64;
    let limits = opts.limits();
    loop {
        let item = cursor.next_block()?;
        let caught_up = item.is_none();
        let mut boundary = None;
        match item {
            None => {}
            Some(CursorItem::Damaged(d)) => {
                report.totals.problems += 1;
                status(&Problem::Damaged(d).to_string());
                boundary = Some(cursor.position());
            }
            Some(CursorItem::Block(b)) => {
                report.totals.blocks += 1;
                report.totals.dropped += b.dropped();
                let already = &mut report.already_there;
                selector.for_each(
                    &b,
                    &mut report.totals,
                    &mut |p| status(&p.to_string()),
                    |it| {
                        if it.event_id <= ins.max_id {
                            *already += 1;
                            return Ok(());
                        }
                        write_row(&mut rows.body, it, &shape);
                        rows.body.push('\n');
                        rows.ids.push((it.event_id, rows.body.len()));
                        // Batches are cut by rows and bytes, even inside a block: the table's
                        // max(event_id), not the cursor, is what makes a resend impossible.
                        if limits.full(rows.ids.len(), rows.body.len()) {
                            ins.send(&mut rows)?;
                        }
                        Ok(())
                    },
                )?;
                last_id = last_id.max(block_last_id(&b));
                boundary = Some(b.next);
            }
        }
        if caught_up && !rows.ids.is_empty() {
            ins.send(&mut rows)?;
        }
        if rows.ids.is_empty() {
            let pos = boundary.unwrap_or(cursor.position());
            if pos != acked_to
                && (caught_up || ins.sent != sent_at_save || report.totals.blocks % 64 == 0)
            {
                sent_at_save = ins.sent;
                write_cursor(&opts.cursor, pos, last_id, dest)?;
                acked_to = pos;
            }
        }
        if caught_up {
            if opts.once || stop() {
                break;
            }
            std::thread::sleep(opts.poll);
        }
    }
    report.sent = ins.sent;
    report.requests = ins.http.requests;
    report.retries = ins.http.retries;
    Ok(report)
}

/// Sends batches of rows to one table, exactly once.
struct Inserter {
    http: Http,
    insert_url: String,
    base: String,
    table: String,
    retry_for: Duration,
    /// The largest event id the table holds (as far as this shipper knows).
    max_id: u64,
    sent: u64,
}

impl Inserter {
    /// INSERTs `rows` (then empties it), retrying per the module docs: before each retry the
    /// table's `max(event_id)` says which rows already landed, and only the others are sent.
    fn send(&mut self, rows: &mut Rows) -> Result<()> {
        if rows.ids.is_empty() {
            return Ok(());
        }
        let mut backoff = Backoff::new(self.retry_for);
        let mut from = 0usize; // first row still to send
        loop {
            let start_byte = if from == 0 { 0 } else { rows.ids[from - 1].1 };
            match self.http.attempt(
                &self.insert_url,
                "application/x-ndjson",
                &rows.body.as_bytes()[start_byte..],
            )? {
                Attempt::Acked(_) => break,
                Attempt::Retry(hint, why) => {
                    backoff.wait(hint, &self.insert_url, &why, &mut self.http)?;
                    let held =
                        max_event_id(&mut self.http, &self.base, &self.table, self.retry_for)?;
                    from = rows.ids.partition_point(|(id, _)| *id <= held);
                    if from == rows.ids.len() {
                        break;
                    }
                }
            }
        }
        self.sent += rows.ids.len() as u64;
        self.max_id = rows.ids.last().map_or(self.max_id, |l| l.0);
        *rows = Rows::default();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.cursor");
        let dest = Destination::Otlp {
            url: "http://127.0.0.1:4318".into(),
        };
        assert_eq!(read_cursor(&path).unwrap(), None);
        let pos = Position {
            segment_id: 3,
            offset: 4096,
        };
        write_cursor(&path, pos, 77, &dest).unwrap();
        assert_eq!(read_cursor(&path).unwrap(), Some(pos));
        assert_eq!(read_saved(&path).unwrap().unwrap().last_id, Some(77));
        // A cursor of an earlier version (no last id) still reads.
        std::fs::write(&path, format!("{CURSOR_HEADER}\n3 4096\notlp x\n")).unwrap();
        assert_eq!(
            read_saved(&path).unwrap(),
            Some(SavedCursor { pos, last_id: None })
        );
        std::fs::write(&path, "junk\n").unwrap();
        assert!(matches!(read_cursor(&path), Err(ExportError::Usage(_))));
    }

    #[test]
    fn partial_success_is_read_from_the_response() {
        // ExportLogsServiceResponse { partial_success { rejected_log_records: 3, error_message: "x" } }
        let body = [0x0a, 0x05, 0x08, 0x03, 0x12, 0x01, b'x'];
        assert_eq!(partial_success(&body), Some((3, "x".to_string())));
        assert_eq!(partial_success(&[]), None);
        assert_eq!(partial_success(&[0x0a, 0x00]), None);
    }
}
