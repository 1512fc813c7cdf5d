//! `EventManager`: the spec's API over a data directory (recording through the recorder,
//! flushing, queries with visibility, stats, verify, retention).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use northstar_core::codec::EncodeError;
use northstar_core::events::{CorrelationHints, PerfSample, TimeWindow};
use northstar_core::record::{write_record, EventHeader, RecordView, FRAMING_LEN, MAX_PAYLOAD_LEN};
use northstar_core::recorder::{Recorder, RecorderConfig};
use northstar_core::{Event, EventType, List, Payload, Visibility};

use crate::catalog::{Catalog, SegRef};
use crate::error::{Result, StoreError};
use crate::flusher::{self, FlushCore};
use crate::layout::{write_atomic, TEAMS_FILE};
use crate::query::{self, Access, Hit, Query, QueryOutcome, StoredEvent, Teams, Viewer};
use crate::recovery::{self, OpenReport, SkipKind, Skipped};

/// When the flusher makes written blocks durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Never: the page cache decides (survives a process crash, not a power loss).
    None,
    /// A sync of the written blocks starts at most this long after a block is written (or,
    /// on a disk slower than the data, as soon as the previous sync ends: syncs run on their
    /// own thread, one at a time, and never hold up writing or draining), and `flush()`
    /// returns only once the blocks it covers are synced.
    Interval(Duration),
    /// After every block.
    EveryBlock,
}

/// How a store is run. `Default` gives the spec's values.
#[derive(Clone)]
pub struct StoreConfig {
    /// Roll the active segment once it reaches this size (64 MiB).
    pub segment_max_bytes: u64,
    /// Roll the active segment once it is this old (1 h, well under retention).
    pub segment_max_age: Duration,
    /// Keep events this long (7 days).
    pub retention: Duration,
    /// Durability policy.
    pub fsync: FsyncPolicy,
    /// Longest a drained event waits in the flusher's open block before it is written, and
    /// longest between updates of what readers see under load (10 ms). An idle flusher looks
    /// at the rings at least every millisecond (or this interval, if shorter).
    pub flush_interval: Duration,
    /// The recorder to drain; `None`: a private recorder with default rings.
    pub recorder: Option<Recorder>,
    /// Bytes of finished blocks that may wait for the writer thread (64 MiB). The flusher
    /// drains the rings into blocks at memory speed and never waits on the disk; the writer
    /// writes, syncs and rolls segments behind this buffer, so a stall of the disk (an fsync,
    /// a segment roll, a slow or failing `write()`) costs no event until the buffer is full:
    /// about 100 ms at 640 MB/s. Once it is full the flusher stops draining, the rings fill,
    /// and their producers drop and count events exactly as under any other overload. Memory
    /// is taken only as blocks wait (block buffers are reused).
    pub write_buffer_bytes: usize,
    /// How long `flush()` waits while writes fail (disk full, I/O errors) before returning
    /// the error, and how long `close()` keeps retrying before giving up (10 s). Writes are
    /// retried with backoff for as long as the store is open; see [`EventManager::flush`].
    pub retry_window: Duration,
    /// Test-only fault injection in the writer (stalls, failed writes).
    #[doc(hidden)]
    pub write_hook: Option<crate::writer::WriteHook>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            segment_max_bytes: 64 << 20,
            segment_max_age: Duration::from_secs(3600),
            retention: Duration::from_secs(7 * 24 * 3600),
            fsync: FsyncPolicy::Interval(Duration::from_secs(1)),
            flush_interval: Duration::from_millis(10),
            recorder: None,
            write_buffer_bytes: 64 << 20,
            retry_window: Duration::from_secs(10),
            write_hook: None,
        }
    }
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConfig")
            .field("segment_max_bytes", &self.segment_max_bytes)
            .field("segment_max_age", &self.segment_max_age)
            .field("retention", &self.retention)
            .field("fsync", &self.fsync)
            .field("flush_interval", &self.flush_interval)
            .field("recorder", &self.recorder.is_some())
            .field("write_buffer_bytes", &self.write_buffer_bytes)
            .field("retry_window", &self.retry_window)
            .field("write_hook", &self.write_hook.is_some())
            .finish()
    }
}

/// Imported records queued beyond this make `record_event_at` wait for the flusher.
const IMPORT_QUEUE_BYTES: usize = 4 << 20;

/// Unix nanoseconds now.
pub fn unix_now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[derive(Default)]
struct Ctl {
    requested: u64,
    completed: u64,
    shutdown: bool,
    stopped: bool,
    error: Option<String>,
}

/// State shared by the manager, its readers and the flusher thread.
pub(crate) struct Shared {
    pub(crate) dir: PathBuf,
    catalog: RwLock<Catalog>,
    teams: RwLock<Teams>,
    ctl: Mutex<Ctl>,
    wake: Condvar,
    done: Condvar,
    compacting: Mutex<()>,
    indexer_error: Mutex<Option<StoreError>>,
    /// Records from `record_event_at`, already stamped, waiting for the flusher.
    pub(crate) imports: Mutex<Vec<u8>>,
    /// Sealed segments waiting for the indexer.
    pub(crate) index_queue: crate::indexer::Queue,
    /// The writer's published horizon: the newest segment id it has created (or is creating)
    /// and how many of its bytes are complete (header, whole blocks). Set before the file
    /// exists and advanced only after each write returns, so a reader that looks at the
    /// horizon after listing the directory never reads a byte still being written.
    horizon: Mutex<Option<(u32, u64)>>,
    /// The writer thread's health and the import counters.
    pub(crate) write: crate::writer::WriteShared,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub(crate) fn write_catalog(&self) -> RwLockWriteGuard<'_, Catalog> {
        self.catalog.write().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn read_catalog(&self) -> RwLockReadGuard<'_, Catalog> {
        self.catalog.read().unwrap_or_else(|p| p.into_inner())
    }

    fn read_teams(&self) -> RwLockReadGuard<'_, Teams> {
        self.teams.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Flusher: waits up to `sleep` for a flush request or shutdown (not at all when
    /// `sleep` is zero). Returns the highest requested ticket and whether to shut down.
    pub(crate) fn wait_work(&self, completed: u64, sleep: Duration) -> (u64, bool) {
        let mut c = lock(&self.ctl);
        if !sleep.is_zero() && c.requested <= completed && !c.shutdown {
            c = self
                .wake
                .wait_timeout_while(c, sleep, |c| c.requested <= completed && !c.shutdown)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        (c.requested, c.shutdown)
    }

    pub(crate) fn lock_compacting(&self) -> MutexGuard<'_, ()> {
        lock(&self.compacting)
    }

    /// Flusher: the queued imported records (and an empty queue in their place).
    pub(crate) fn take_imports(&self, spare: Vec<u8>) -> Vec<u8> {
        std::mem::replace(&mut *lock(&self.imports), spare)
    }

    /// Flusher: segment `id` is complete up to `committed_len` bytes (0: being created).
    pub(crate) fn publish_horizon(&self, id: u32, committed_len: u64) {
        *lock(&self.horizon) = Some((id, committed_len));
    }

    /// Indexer: keeps the first failure, reported by `close`.
    pub(crate) fn indexer_failed(&self, e: StoreError) {
        lock(&self.indexer_error).get_or_insert(e);
    }

    /// Flusher: every request up to `ticket` is done (with an error, if any).
    pub(crate) fn finish_ticket(&self, ticket: u64, error: Option<String>) {
        let mut c = lock(&self.ctl);
        c.completed = c.completed.max(ticket);
        if error.is_some() {
            c.error = error;
        }
        self.done.notify_all();
    }

    /// Whether `close` (or drop) asked the flusher to stop.
    pub(crate) fn shutting_down(&self) -> bool {
        lock(&self.ctl).shutdown
    }

    /// Flusher: the thread is gone.
    pub(crate) fn stop(&self, error: Option<String>) {
        let mut c = lock(&self.ctl);
        c.stopped = true;
        if error.is_some() {
            c.error = error;
        }
        self.done.notify_all();
    }
}

/// Marks the flusher stopped even if it panics, so no `flush()` waits forever.
struct StopGuard(Arc<Shared>);

impl Drop for StopGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.stop(Some("flusher thread panicked".into()));
        } else {
            self.0.stop(None);
        }
    }
}

/// Store-wide numbers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Segment files (sealed and active).
    pub segments: usize,
    /// Bytes in them.
    pub bytes: u64,
    /// Events stored.
    pub events: u64,
    /// Earliest event timestamp.
    pub min_ts: Option<u64>,
    /// Latest event timestamp.
    pub max_ts: Option<u64>,
    /// Events per type (types with none omitted).
    pub per_type: Vec<(EventType, u64)>,
    /// Events the rings dropped or refused, as recorded in blocks.
    pub dropped: u64,
    /// Where drops happened: `(from_ts, to_ts, count)`: `count` events lost between the
    /// previous block and this one.
    pub drops: Vec<(u64, u64, u64)>,
    /// The drop counts stored in blocks add up to more than `u64::MAX`: `dropped` is
    /// `u64::MAX`, a floor (blocks claiming such counts are suspect).
    pub dropped_saturated: bool,
    /// Damaged bytes removed earlier (truncated tails, regions compaction left out), from the
    /// store's damage log.
    pub damage_logged: Vec<crate::damage_log::LoggedDamage>,
    /// Blocks skipped while counting a viewer's events (see
    /// [`EventManager::stats_for`]): their events are not counted.
    pub damaged: Vec<recovery::DamagedRegion>,
}

/// What `verify` found.
#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    /// Segment files checked.
    pub segments: usize,
    /// Well-formed blocks.
    pub blocks: u64,
    /// Records in them.
    pub records: u64,
    /// Every damaged region.
    pub damaged: Vec<recovery::DamagedRegion>,
    /// Files that are not readable segments (foreign, bad header, future version) and index
    /// files that are damaged or stale (rebuilt on the next writable open).
    pub skipped: Vec<Skipped>,
    /// Damage removed earlier (truncated tails, regions compaction left out), from the
    /// store's damage log: not damage any more, but events that were lost.
    pub logged: Vec<crate::damage_log::LoggedDamage>,
}

impl VerifyReport {
    /// No damage and no unreadable Northstar file (foreign files and indexes to rebuild are
    /// reported but lose nothing).
    pub fn is_clean(&self) -> bool {
        self.damaged.is_empty() && !self.skipped.iter().any(|s| s.kind.is_finding())
    }
}

/// What a compaction did.
#[derive(Clone, Debug, Default)]
pub struct CompactReport {
    /// Segments deleted whole (every event expired).
    pub deleted: Vec<u32>,
    /// Segments rewritten without their expired events: (id, events kept, events removed).
    pub rewritten: Vec<(u32, u64, u64)>,
    /// Damaged regions of rewritten segments: their bytes fail their checks, so they could
    /// not be copied and are gone from the rewritten segment.
    pub dropped_damage: Vec<CompactDamage>,
}

/// A damaged region a compaction rewrite could not copy (its events are lost for good).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactDamage {
    /// Segment, offset, length and the check that failed.
    pub region: recovery::DamagedRegion,
    /// Records the segment's index counted in the region (whether expired or not), when the
    /// index was built before the damage; `None` when the index does not describe it (the
    /// damage was found when the directory was opened, see [`OpenReport::damaged`]).
    pub records: Option<u64>,
    /// Ring drop counts carried by the blocks in the region, when the index knew them.
    pub dropped_counts: Option<u64>,
}

/// The store: records through a [`Recorder`], flushes to segment files, answers queries.
pub struct EventManager {
    shared: Arc<Shared>,
    recorder: Recorder,
    flusher: Mutex<Option<JoinHandle<()>>>,
    indexer: Mutex<Option<JoinHandle<()>>>,
    read_only: bool,
    retention: Duration,
    report: OpenReport,
    _lock: Option<crate::dirlock::DirLock>,
}

fn load_teams(dir: &Path, report: &mut OpenReport) -> Result<Teams> {
    let path = dir.join(TEAMS_FILE);
    let text = match crate::fsread::read_regular(&path, 64 << 20).and_then(|b| {
        String::from_utf8(b).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Teams::default()),
        Err(e) => {
            report.skipped.push(Skipped {
                path,
                reason: format!("team directory unreadable: {e}"),
                kind: SkipKind::Unreadable,
            });
            return Ok(Teams::default());
        }
    };
    let mut map = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        if n == 0 && line == TEAMS_HEADER {
            continue;
        }
        let mut it = line.split_whitespace();
        match (
            it.next().and_then(|a| a.parse::<u64>().ok()),
            it.next().and_then(|t| t.parse::<u64>().ok()),
            it.next(),
        ) {
            (Some(a), Some(t), None) => {
                map.insert(a, t);
            }
            _ if line.trim().is_empty() => {}
            _ => report.skipped.push(Skipped {
                path: path.clone(),
                reason: format!("team directory line {} ignored: {line:?}", n + 1),
                kind: SkipKind::Unreadable,
            }),
        }
    }
    Ok(Teams(map))
}

const TEAMS_HEADER: &str = "northstar-teams v1";

impl EventManager {
    /// Opens (or creates) a data directory for writing: takes the directory lock, runs
    /// recovery, starts the flusher.
    pub fn open(dir: impl AsRef<Path>, config: StoreConfig) -> Result<EventManager> {
        let dir = dir.as_ref().to_owned();
        fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        recovery::check_segment_max(config.segment_max_bytes)?;
        let lock_file = crate::dirlock::lock(&dir)?;
        let loaded = recovery::load(&dir, true)?;
        let mut report = loaded.report;
        crate::damage_log::append(&dir, &crate::damage_log::truncations(&report))?;
        let teams = load_teams(&dir, &mut report)?;
        let recorder = match config.recorder.clone() {
            Some(r) => r,
            None => Recorder::new(RecorderConfig::default())
                .map_err(|e| StoreError::Refused(format!("recorder: {e}")))?,
        };
        if recorder.drainer().is_none() {
            return Err(StoreError::Refused(
                "the recorder's rings are already drained by another flusher".into(),
            ));
        }
        let shared = Arc::new(Shared {
            dir: dir.clone(),
            catalog: RwLock::new(Catalog {
                sealed: loaded.sealed,
                active: None,
            }),
            teams: RwLock::new(teams),
            ctl: Mutex::new(Ctl::default()),
            wake: Condvar::new(),
            done: Condvar::new(),
            compacting: Mutex::new(()),
            indexer_error: Mutex::new(None),
            imports: Mutex::new(Vec::new()),
            index_queue: Default::default(),
            horizon: Mutex::new(None),
            write: Default::default(),
        });
        *shared
            .write
            .retry_window
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = config.retry_window;
        let pipe = Arc::new(crate::pipe::Pipe::new(config.write_buffer_bytes.max(1)));
        let core = FlushCore::new(
            pipe.clone(),
            config.segment_max_bytes,
            config.segment_max_age,
            recorder.counters().lost(),
            config.flush_interval,
        );
        let writer = crate::writer::Writer::new(
            shared.clone(),
            pipe,
            config.fsync,
            loaded.next_id,
            config.flush_interval,
            config.write_hook.clone(),
        );
        let s = shared.clone();
        let indexer = std::thread::Builder::new()
            .name("northstar-indexer".into())
            .spawn(move || crate::indexer::run(s))
            .map_err(|e| StoreError::io(&dir, e))?;
        let (s, r, interval) = (shared.clone(), recorder.clone(), config.flush_interval);
        let handle = std::thread::Builder::new()
            .name("northstar-flusher".into())
            .spawn(move || {
                let _guard = StopGuard(s.clone());
                flusher::run(s, r, core, writer, interval);
            })
            .map_err(|e| {
                shared.index_queue.close(); // lets the indexer thread end
                StoreError::io(&dir, e)
            })?;
        Ok(EventManager {
            shared,
            recorder,
            flusher: Mutex::new(Some(handle)),
            indexer: Mutex::new(Some(indexer)),
            read_only: false,
            retention: config.retention,
            report,
            _lock: Some(lock_file),
        })
    }

    /// Opens a directory for reading only (CLI query, stats, verify): no lock, no flusher,
    /// nothing on disk is changed. A segment a writer is still writing is read up to its last
    /// whole block.
    pub fn open_read_only(dir: impl AsRef<Path>) -> Result<EventManager> {
        let dir = dir.as_ref().to_owned();
        if !dir.is_dir() {
            return Err(StoreError::io(
                &dir,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such data directory"),
            ));
        }
        let loaded = recovery::load(&dir, false)?;
        let mut report = loaded.report;
        let teams = load_teams(&dir, &mut report)?;
        let recorder = Recorder::new(RecorderConfig {
            rings: 1,
            ring_bytes: 4096,
            ..RecorderConfig::default()
        })
        .map_err(|e| StoreError::Refused(format!("recorder: {e}")))?;
        let shared = Arc::new(Shared {
            dir,
            catalog: RwLock::new(Catalog {
                sealed: loaded.sealed,
                active: None,
            }),
            teams: RwLock::new(teams),
            ctl: Mutex::new(Ctl {
                stopped: true,
                ..Ctl::default()
            }),
            wake: Condvar::new(),
            done: Condvar::new(),
            compacting: Mutex::new(()),
            indexer_error: Mutex::new(None),
            imports: Mutex::new(Vec::new()),
            index_queue: Default::default(),
            horizon: Mutex::new(None),
            write: Default::default(),
        });
        Ok(EventManager {
            shared,
            recorder,
            flusher: Mutex::new(None),
            indexer: Mutex::new(None),
            read_only: true,
            retention: StoreConfig::default().retention,
            report,
            _lock: None,
        })
    }

    /// What opening the directory found: skipped files, damage, truncated tails, rebuilt
    /// indexes.
    pub fn open_report(&self) -> &OpenReport {
        &self.report
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The recorder whose rings this store drains.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    fn writable(&self) -> Result<()> {
        if self.read_only {
            return Err(StoreError::Refused("the store is open read-only".into()));
        }
        Ok(())
    }

    /// Records a perf sample (the spec's `recordPerfSample`); its window is "now".
    pub fn record_perf_sample(
        &self,
        metric_name: &str,
        value: f64,
        unit: &str,
        dimensions: &[(&str, &str)],
        commit_range: Option<&str>,
        session_ids: &[u64],
    ) -> Result<()> {
        let now = i64::try_from(unix_now_ns()).unwrap_or(i64::MAX);
        let sample = PerfSample {
            metric_name,
            dimensions: List::from(dimensions),
            value,
            unit,
            timestamp_window: TimeWindow {
                start: now,
                end: now,
            },
            correlation_hints: CorrelationHints {
                commit_range,
                session_ids: List::from(session_ids),
            },
        };
        self.record(0, Visibility::Public, &sample)
    }

    /// Records any typed payload: written to the calling thread's ring, stored by the flusher.
    pub fn record<'a, P: Payload<'a>>(
        &self,
        actor_id: u64,
        visibility: Visibility,
        payload: &P,
    ) -> Result<()> {
        self.writable()?;
        self.recorder
            .record(actor_id, visibility, payload)
            .map_err(StoreError::NotRecorded)
    }

    /// Records a decoded or built event of any type.
    pub fn record_event(
        &self,
        actor_id: u64,
        visibility: Visibility,
        event: &Event<'_>,
    ) -> Result<()> {
        self.writable()?;
        self.recorder
            .record_event(actor_id, visibility, event)
            .map_err(StoreError::NotRecorded)
    }

    /// Stores an event with its own timestamp (Unix ns), for tools importing events recorded
    /// elsewhere (`northstar record` reads them from JSON). It does not go through the
    /// recorder's rings (they stamp the clock at record time): the record is queued for the
    /// flusher, which writes it into the active segment with `timestamp_unix_ns` unchanged.
    /// Not for hot paths: it allocates, takes a lock, and waits for the flusher when more
    /// than a few MiB are queued. `flush()` covers these events too. Queries return them by
    /// timestamp like any other; their event ids follow the order they were stored.
    pub fn record_event_at(
        &self,
        timestamp_unix_ns: u64,
        actor_id: u64,
        visibility: Visibility,
        event: &Event<'_>,
    ) -> Result<()> {
        self.import(
            timestamp_unix_ns,
            actor_id,
            visibility,
            event.event_type().compact(),
            event.encoded_len(),
            |out| event.encode_into(out),
        )
    }

    /// [`record_event_at`](Self::record_event_at) for a typed payload.
    pub fn record_at<'a, P: Payload<'a>>(
        &self,
        timestamp_unix_ns: u64,
        actor_id: u64,
        visibility: Visibility,
        payload: &P,
    ) -> Result<()> {
        self.import(
            timestamp_unix_ns,
            actor_id,
            visibility,
            P::EVENT_TYPE.compact(),
            payload.encoded_len(),
            |out| payload.encode_into(out),
        )
    }

    /// [`record_event_at`](Self::record_event_at) for a user-defined event: `schema_id` is a
    /// schema registered in this process (`northstar_core::user::dynamic::register`) and
    /// `values` its encoded values (docs/FORMAT.md, "User event payload", without the id).
    /// The flusher writes the schema's definition into every block before that block's
    /// first record of it, as for user events from the rings. The values are not checked
    /// here: values that do not match the schema are stored as a record that readers skip
    /// and `verify` reports, so callers check them first (`northstar record` builds them from
    /// the schema's types).
    pub fn record_user_at(
        &self,
        timestamp_unix_ns: u64,
        actor_id: u64,
        visibility: Visibility,
        schema_id: u32,
        values: &[u8],
    ) -> Result<()> {
        let len = 4 + values.len();
        self.import(
            timestamp_unix_ns,
            actor_id,
            visibility,
            northstar_core::user::USER_TYPE_BYTE,
            len,
            |out| {
                out[..4].copy_from_slice(&schema_id.to_le_bytes());
                out[4..len].copy_from_slice(values);
                Ok(len)
            },
        )
    }

    fn import(
        &self,
        timestamp_unix_ns: u64,
        actor_id: u64,
        visibility: Visibility,
        type_byte: u8,
        payload_len: usize,
        encode: impl FnOnce(&mut [u8]) -> std::result::Result<usize, EncodeError>,
    ) -> Result<()> {
        self.writable()?;
        let limit = self.recorder.config().payload_limit;
        if !limit.allows(payload_len) || payload_len > MAX_PAYLOAD_LEN {
            return Err(StoreError::PayloadTooLarge {
                len: payload_len,
                limit: limit.0.min(MAX_PAYLOAD_LEN),
            });
        }
        {
            let c = lock(&self.shared.ctl);
            if c.stopped {
                return Err(StoreError::Flusher(
                    c.error.clone().unwrap_or_else(|| "flusher stopped".into()),
                ));
            }
        }
        let header = EventHeader::with_type_byte(
            type_byte,
            visibility,
            timestamp_unix_ns,
            actor_id,
            0,
            payload_len,
        );
        let queued = {
            let mut q = lock(&self.shared.imports);
            let start = q.len();
            q.resize(start + FRAMING_LEN + payload_len, 0);
            let mut encoded = Ok(0);
            write_record(&mut q[start..], &header, |out| encoded = encode(out));
            match encoded {
                Ok(n) if n == payload_len => {}
                Ok(n) => {
                    q.truncate(start);
                    return Err(StoreError::Refused(format!(
                        "payload encoded to {n} bytes, {payload_len} expected"
                    )));
                }
                Err(e) => {
                    q.truncate(start);
                    return Err(StoreError::Encode(e));
                }
            }
            q.len()
        };
        self.shared
            .write
            .imports_queued
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        if queued >= IMPORT_QUEUE_BYTES {
            // Bounded memory: let the flusher take the queue before accepting more.
            self.flush()?;
        }
        Ok(())
    }

    /// Returns once every event recorded before the call (through the rings or imported) is
    /// written to its segment file, visible to queries, and synced unless the policy is
    /// [`FsyncPolicy::None`] (`Interval` and `EveryBlock`: the fsyncs covering those blocks
    /// have returned). Events the rings dropped before the call are counted in the store.
    ///
    /// While writes fail (disk full, I/O error) the writer keeps every block and retries;
    /// `flush()` keeps waiting as long as writes succeed again within
    /// [`StoreConfig::retry_window`], and otherwise returns [`StoreError::WriteFailed`] with
    /// the real error and how many imported events are stored. Nothing is lost by that
    /// error: the events stay queued and are written when the disk accepts them (a later
    /// `flush()` returns `Ok` then); only `close()` gives up, after the same window.
    pub fn flush(&self) -> Result<()> {
        self.writable()?;
        let mut c = lock(&self.shared.ctl);
        if c.stopped {
            return Err(StoreError::Flusher(
                c.error.clone().unwrap_or_else(|| "flusher stopped".into()),
            ));
        }
        c.requested += 1;
        let ticket = c.requested;
        self.shared.wake.notify_all();
        let started = std::time::Instant::now();
        let window = self.shared.write.retry_window();
        while c.completed < ticket && !c.stopped {
            c = self
                .shared
                .done
                .wait_timeout(c, Duration::from_millis(20))
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
            if c.completed < ticket
                && started.elapsed() >= window
                && self.shared.write.failed_since(started)
            {
                if let Some(e) = self.shared.write.error() {
                    return Err(e);
                }
            }
        }
        if let Some(e) = c.error.take() {
            return Err(StoreError::Flusher(e));
        }
        if c.completed < ticket {
            return Err(StoreError::Flusher("flusher stopped".into()));
        }
        Ok(())
    }

    /// How the writer is doing: whether writes fail now and with what, failure episodes (one
    /// per spell of failures, however many retries), and what a close gave up on.
    pub fn write_health(&self) -> crate::writer::WriteHealth {
        self.shared.write.snapshot()
    }

    /// Events imported with [`record_event_at`](Self::record_event_at) /
    /// [`record_at`](Self::record_at) since open, and how many of them are written to a
    /// segment: always the first ones, in call order (after `flush()` returns `Ok`, synced too).
    pub fn imports_stored(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering;
        (
            self.shared.write.imports_queued.load(Ordering::Acquire),
            self.shared.write.imports_stored.load(Ordering::Acquire),
        )
    }

    fn segments(&self) -> Vec<SegRef> {
        self.shared.read_catalog().segments()
    }

    fn found(&self, q: &Query, use_index: bool) -> Result<query::Found> {
        let teams = self.shared.read_teams();
        let access = Access::new(q.viewer, &teams);
        let mut found = query::find(&self.segments(), q, &access, use_index)?;
        if let Some(n) = q.limit {
            found.hits.truncate(n);
        }
        Ok(found)
    }

    /// Strict form: every hit materialised, or the first damage met as an error.
    fn strict(found: &query::Found, hits: &[Hit]) -> Result<Vec<StoredEvent>> {
        if let Some(e) = found.damage_error() {
            return Err(e);
        }
        hits.iter().map(Hit::to_owned_event).collect()
    }

    /// [`query`](Self::query) without the index: reads and checks every block of every
    /// segment. For benchmarks and for cross-checking the index; results are identical.
    pub fn query_without_index(&self, q: &Query) -> Result<Vec<StoredEvent>> {
        let found = self.found(q, false)?;
        Self::strict(&found, &found.hits)
    }

    /// The spec's query: matching events visible to `q.viewer`, in timestamp order, the
    /// earliest `q.limit` of them. A block that fails its checks while being read makes the
    /// whole query fail with [`StoreError::Corrupt`] (segment file, offset, reason): a result
    /// is never silently missing events. [`query_report`](Self::query_report) returns the
    /// undamaged events with the list of damaged blocks instead.
    pub fn query(&self, q: &Query) -> Result<Vec<StoredEvent>> {
        let found = self.found(q, true)?;
        Self::strict(&found, &found.hits)
    }

    /// Like [`query`](Self::query), but skips blocks that fail their checks and lists them
    /// in [`QueryOutcome::damaged`] (each may have held matching events): for tools that
    /// must show what survives in a damaged store.
    pub fn query_report(&self, q: &Query) -> Result<QueryOutcome> {
        let found = self.found(q, true)?;
        let events = found
            .hits
            .iter()
            .map(Hit::to_owned_event)
            .collect::<Result<_>>()?;
        Ok(QueryOutcome {
            events,
            damaged: found.damaged,
        })
    }

    /// Like [`query`](Self::query), materialising each event only when the iterator reaches
    /// it (records stay in the mapped file until then). Each damaged block met comes first,
    /// as an `Err(StoreError::Corrupt)` item; iteration may continue past it to the
    /// undamaged events. A record that no longer decodes is an `Err` item too.
    pub fn query_iter(&self, q: &Query) -> Result<impl Iterator<Item = Result<StoredEvent>> + '_> {
        let found = self.found(q, true)?;
        let damage: Vec<_> = found.damaged.iter().map(query::damage_error).collect();
        Ok(damage
            .into_iter()
            .map(Err)
            .chain(found.hits.into_iter().map(|h| h.to_owned_event())))
    }

    /// Calls `f` with each matching record, borrowed in place (no copy), in timestamp order.
    /// Fails (before calling `f`) if a block that may hold matching records is damaged.
    pub fn query_visit(&self, q: &Query, mut f: impl FnMut(u64, &RecordView<'_>)) -> Result<()> {
        let found = self.found(q, true)?;
        if let Some(e) = found.damage_error() {
            return Err(e);
        }
        for h in &found.hits {
            h.with_view(|r| f(h.event_id, r))?;
        }
        Ok(())
    }

    /// Visits every record matching `q` (viewer, types, actor, session, time range; the
    /// limit is ignored), checking every block it reads (CRC-32C and record framing) on
    /// `threads` threads at once (`0`: one per available core). Records are handed out in
    /// place with their event id; payloads are decoded only if the visitor asks
    /// ([`RecordView::event`]). Order: store order within a block, blocks in any order (use
    /// [`query_visit`](Self::query_visit) for timestamp order). Damaged blocks are skipped and
    /// listed in the summary. For whole-store work bound by the disk, not the decoder:
    /// exports, metrics over long histories.
    pub fn scan(
        &self,
        q: &Query,
        threads: usize,
        visit: impl Fn(u64, &RecordView<'_>) + Sync,
    ) -> Result<crate::parallel_scan::ScanSummary> {
        let teams = self.shared.read_teams();
        let access = Access::new(q.viewer, &teams);
        crate::parallel_scan::scan(&self.segments(), q, &access, threads, &visit)
    }

    /// The store position at its end: the id of the last event stored (`None`: empty).
    /// Event ids (`segment << 32 | index in segment`) increase in the order events are
    /// stored, whatever their timestamps, and compaction keeps them: a position stays valid.
    pub fn end_position(&self) -> Result<Option<u64>> {
        query::end_position(&self.segments())
    }

    /// Events matching `q` (its viewer, types, actor, session and time range) stored after
    /// position `after` (an event id, e.g. from [`end_position`](Self::end_position) or the
    /// last event returned; `None`: from the start), in store order, with the damaged blocks
    /// skipped. For followers: a reader that passes the id of the last event it saw never
    /// misses an event stored later and never sees one twice, whatever the events'
    /// timestamps (a future-dated event does not hide later ones). `q.limit` is ignored.
    pub fn query_after(&self, q: &Query, after: Option<u64>) -> Result<QueryOutcome> {
        let teams = self.shared.read_teams();
        let access = Access::new(q.viewer, &teams);
        let found = query::find_after(&self.segments(), q, &access, after)?;
        let events = found
            .hits
            .iter()
            .map(Hit::to_owned_event)
            .collect::<Result<_>>()?;
        Ok(QueryOutcome {
            events,
            damaged: found.damaged,
        })
    }

    /// Every event of a session visible to `viewer`, in timestamp order.
    pub fn get_session_events(&self, session_id: u64, viewer: &Viewer) -> Result<Vec<StoredEvent>> {
        self.query(&Query {
            session_id: Some(session_id),
            viewer: *viewer,
            ..Query::default()
        })
    }

    /// The actor's latest `limit` events visible to `viewer`, in timestamp order.
    pub fn get_actor_events(
        &self,
        actor_id: u64,
        limit: usize,
        viewer: &Viewer,
    ) -> Result<Vec<StoredEvent>> {
        let found = self.found(
            &Query {
                actor_id: Some(actor_id),
                viewer: *viewer,
                ..Query::default()
            },
            true,
        )?;
        let skip = found.hits.len().saturating_sub(limit);
        Self::strict(&found, &found.hits[skip..])
    }

    /// Sets an actor's team (the team directory, saved atomically in the data directory).
    pub fn set_team(&self, actor_id: u64, team_id: u64) -> Result<()> {
        self.writable()?;
        let mut teams = self.shared.teams.write().unwrap_or_else(|p| p.into_inner());
        let mut next = teams.0.clone();
        next.insert(actor_id, team_id);
        let mut entries: Vec<_> = next.iter().collect();
        entries.sort();
        let mut text = format!("{TEAMS_HEADER}\n");
        for (a, t) in entries {
            text.push_str(&format!("{a} {t}\n"));
        }
        write_atomic(&self.shared.dir.join(TEAMS_FILE), text.as_bytes())?;
        teams.0 = next;
        Ok(())
    }

    /// The team of an actor, if it has one.
    pub fn team_of(&self, actor_id: u64) -> Option<u64> {
        self.shared.read_teams().0.get(&actor_id).copied()
    }

    /// Segments, bytes, time span, events per type, drops and when they happened: the
    /// operator's view (every event, whatever its visibility). See
    /// [`stats_for`](Self::stats_for) for what one viewer may see.
    pub fn stats(&self) -> Result<StoreStats> {
        self.stats_for(&Viewer::System)
    }

    /// [`stats`](Self::stats) as `viewer` may see them: with [`Viewer::System`] (the
    /// operator's view, what "no viewer" means in every tool) the index totals; with an actor,
    /// event counts, types and time span cover only the events a query by that viewer
    /// returns (every block is read and checked; damaged ones are listed in
    /// [`StoreStats::damaged`]). Segments, bytes and drop counts describe the store, not
    /// events, and are the same for every viewer.
    pub fn stats_for(&self, viewer: &Viewer) -> Result<StoreStats> {
        let mut s = StoreStats::default();
        let mut per_type = [0u64; 11];
        let segments = self.segments();
        for seg in &segments {
            let idx = seg.index();
            s.segments += 1;
            s.bytes += idx.segment_len;
            s.events += idx.record_count;
            match s.dropped.checked_add(idx.dropped) {
                Some(d) => s.dropped = d,
                None => {
                    s.dropped = u64::MAX;
                    s.dropped_saturated = true;
                }
            }
            if idx.dropped == u64::MAX {
                // The index saturated its own sum.
                s.dropped_saturated = true;
            }
            if idx.record_count > 0 {
                s.min_ts = Some(s.min_ts.map_or(idx.min_ts, |m| m.min(idx.min_ts)));
                s.max_ts = Some(s.max_ts.map_or(idx.max_ts, |m| m.max(idx.max_ts)));
            }
            for (acc, n) in per_type.iter_mut().zip(idx.per_type) {
                *acc += n;
            }
            s.drops
                .extend(crate::drops::drop_ranges(idx.created_unix_ns, &idx.blocks));
        }
        if let Viewer::Actor { .. } = viewer {
            let teams = self.shared.read_teams();
            let access = Access::new(*viewer, &teams);
            let v = query::count_visible(&segments, &access)?;
            s.events = v.events;
            s.min_ts = v.min_ts;
            s.max_ts = v.max_ts;
            per_type = v.per_type;
            s.damaged = v.damaged;
        }
        s.per_type = EventType::ALL
            .into_iter()
            .zip(per_type)
            .filter(|(_, n)| *n > 0)
            .collect();
        s.damage_logged = crate::damage_log::read(&self.shared.dir).0;
        Ok(s)
    }

    /// Events per user-defined event name (`event!("kv.wal_sync", ...)`), most frequent
    /// first: `stats` counts spec types from the indexes, user types by reading the blocks
    /// that hold user events.
    pub fn user_type_counts(&self) -> Result<Vec<(String, u64)>> {
        crate::interning::count_user_types(&self.segments())
    }

    /// Walks every segment file and lists every damaged region (and unreadable file). On a
    /// store being written it checks only what the flusher has published as complete: the
    /// active segment up to its last whole block, nothing of a segment it is just creating.
    pub fn verify(&self) -> Result<VerifyReport> {
        let _g = lock(&self.shared.compacting);
        let mut report =
            crate::verify::verify_dir(&self.shared.dir, || *lock(&self.shared.horizon))?;
        let (logged, bad) = crate::damage_log::read(&self.shared.dir);
        report.logged = logged;
        report.skipped.extend(bad);
        Ok(report)
    }

    /// Retention: deletes sealed segments whose events are all older than `now - retention`
    /// and rewrites those partly expired. Never touches the active segment; readers holding
    /// a segment keep reading the old file (removed or replaced by rename, never changed).
    pub fn compact(&self, now_unix_ns: u64) -> Result<CompactReport> {
        self.writable()?;
        let _g = lock(&self.shared.compacting);
        let cutoff = now_unix_ns
            .saturating_sub(u64::try_from(self.retention.as_nanos()).unwrap_or(u64::MAX));
        let report = crate::retention::compact(&self.shared, cutoff)?;
        crate::damage_log::append(
            &self.shared.dir,
            &crate::damage_log::compaction_drops(&report),
        )?;
        Ok(report)
    }

    /// Every removal of damaged bytes this store has recorded (`damage.log`): tails truncated
    /// by writable opens and regions compaction could not copy, with lines of the log that
    /// could not be read as report entries.
    pub fn damage_log(&self) -> (Vec<crate::damage_log::LoggedDamage>, Vec<Skipped>) {
        crate::damage_log::read(&self.shared.dir)
    }

    fn shutdown(&self) -> Result<()> {
        let handle = lock(&self.flusher).take();
        let flusher = match handle {
            None => Ok(()),
            Some(handle) => {
                {
                    let mut c = lock(&self.shared.ctl);
                    c.shutdown = true;
                    self.shared.wake.notify_all();
                }
                let joined = handle.join();
                let err = lock(&self.shared.ctl).error.take();
                match (joined, err) {
                    (Err(_), _) => Err(StoreError::Flusher("flusher thread panicked".into())),
                    (Ok(()), Some(e)) => Err(StoreError::Flusher(e)),
                    (Ok(()), None) => Ok(()),
                }
            }
        };
        // The flusher is gone (it sealed the last segment). The indexer thread runs at the
        // lowest priority: close takes over the queued segments at the caller's priority,
        // and waits for the one the thread may be indexing.
        if let Some(indexer) = lock(&self.indexer).take() {
            self.shared.index_queue.close();
            while let Some(id) = self.shared.index_queue.pop() {
                if let Err(e) = crate::indexer::index_segment(&self.shared, id) {
                    crate::indexer::index_failed(&self.shared, id, e);
                }
            }
            if indexer.join().is_err() {
                flusher?;
                return Err(StoreError::Flusher("indexer thread panicked".into()));
            }
        }
        if self.shared.write.lost_anything() {
            if let Some(e) = self.shared.write.error() {
                return Err(e);
            }
        }
        flusher?;
        match lock(&self.shared.indexer_error).take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Drains everything recorded, seals the active segment, stops the flusher.
    pub fn close(self) -> Result<()> {
        self.shutdown()
    }
}

impl Drop for EventManager {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

pub(crate) fn catalog_of(shared: &Shared) -> RwLockReadGuard<'_, Catalog> {
    shared.read_catalog()
}
