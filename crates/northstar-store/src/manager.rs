//! `EventManager`: the spec's API over a data directory. It owns the store's threads (flusher,
//! writer, syncer, indexer) and their handles, records through the recorder and imports,
//! flushes, sets teams and compacts; everything that only reads is its [`StoreReader`].

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use northstar_core::codec::EncodeError;
use northstar_core::events::{CorrelationHints, PerfSample, TimeWindow};
use northstar_core::record::{EventHeader, MAX_PAYLOAD_LEN};
use northstar_core::recorder::{Recorder, RecorderConfig};
use northstar_core::{Event, List, Payload, Visibility};

use crate::catalog::SharedCatalog;
use crate::clock::unix_now_ns;
use crate::config::StoreConfig;
use crate::control::{FlushControl, StopGuard};
use crate::error::{Result, StoreError};
use crate::flusher::{self, FlushCore, BLOCK_TARGET};
use crate::health::WriteShared;
use crate::indexer::{Indexer, IndexerThread};
use crate::reader::StoreReader;
use crate::retention::CompactReport;
use crate::teams::TeamDirectory;
use crate::writer::{Writer, WriterHandles};

/// Imported records queued beyond this make `record_event_at` wait for the flusher.
const IMPORT_QUEUE_BYTES: usize = 4 << 20;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The store: records through a [`Recorder`], flushes to segment files, answers queries
/// (through its [`StoreReader`], which it dereferences to).
///
/// The API contract (`docs/DESIGN.md`) in one program: open a directory, record, flush,
/// query with a viewer, close.
///
/// ```
/// use northstar_core::events::ReviewNote;
/// use northstar_core::{List, Visibility};
/// use northstar_store::{EventManager, Query, StoreConfig, StoreError, Viewer};
///
/// # fn main() -> Result<(), StoreError> {
/// let dir = tempfile::tempdir().expect("a temporary directory");
/// let store = EventManager::open(dir.path(), StoreConfig::default())?;
/// let note = ReviewNote {
///     target_type: "commit",
///     target_id: "abc123",
///     note_text: "looks good",
///     references: List::EMPTY,
///     created_at: 1,
/// };
/// // Written to the calling thread's ring: no I/O here.
/// store.record(7, Visibility::Private, &note)?;
/// // Returns once the event is in its segment file, visible and synced.
/// store.flush()?;
/// let as_author = Query { viewer: Viewer::Actor { actor_id: 7 }, ..Query::default() };
/// assert_eq!(store.query(&as_author)?.len(), 1);
/// let as_other = Query { viewer: Viewer::Actor { actor_id: 8 }, ..Query::default() };
/// assert!(store.query(&as_other)?.is_empty(), "private to actor 7");
/// // A second writer on the same directory is refused with a typed error.
/// assert!(matches!(
///     EventManager::open(dir.path(), StoreConfig::default()),
///     Err(StoreError::Locked { .. })
/// ));
/// // Drains everything, seals the segment, stops the threads.
/// store.close()?;
/// # Ok(())
/// # }
/// ```
pub struct EventManager {
    reader: StoreReader,
    control: Arc<FlushControl>,
    health: Arc<WriteShared>,
    recorder: Recorder,
    flusher: Mutex<Option<JoinHandle<()>>>,
    indexer: Mutex<Option<IndexerThread>>,
    read_only: bool,
    retention: Duration,
    _lock: Option<crate::dirlock::DirLock>,
}

impl std::fmt::Debug for EventManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventManager")
            .field("dir", &self.reader.dir)
            .field("read_only", &self.read_only)
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

impl std::ops::Deref for EventManager {
    type Target = StoreReader;

    fn deref(&self) -> &StoreReader {
        &self.reader
    }
}

impl EventManager {
    /// Opens (or creates) a data directory for writing: takes the directory lock, runs
    /// recovery, starts the flusher. Fails with [`StoreError::Locked`] if another writer has
    /// the directory open, and with [`StoreError::RecorderTaken`] if the recorder's rings are
    /// already drained by another store (a recorder has one flusher).
    pub fn open(dir: impl AsRef<Path>, config: StoreConfig) -> Result<EventManager> {
        let dir = dir.as_ref().to_owned();
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        crate::recovery::check_segment_max(config.segment_max_bytes)?;
        let lock_file = crate::dirlock::lock(&dir)?;
        let loaded = crate::recovery::load(&dir, true)?;
        let mut report = loaded.report;
        crate::damage_log::append(&dir, &crate::damage_log::truncations(&report))?;
        let teams = TeamDirectory::load(&dir, &mut report);
        let recorder = match config.recorder.clone() {
            Some(r) => r,
            None => Recorder::new(RecorderConfig::default()).map_err(StoreError::Recorder)?,
        };
        if recorder.drainer().is_none() {
            return Err(StoreError::RecorderTaken);
        }
        let catalog = Arc::new(SharedCatalog::new(loaded.sealed));
        let control = Arc::new(FlushControl::default());
        let health = Arc::new(WriteShared::default());
        *lock(&health.retry_window) = config.retry_window;
        let pipe = Arc::new(crate::pipe::Pipe::new(
            config.write_buffer_bytes.max(1),
            BLOCK_TARGET + 4096,
            config.warm_buffer_bytes,
        ));
        let core = FlushCore::new(
            pipe.clone(),
            config.segment_max_bytes,
            config.segment_max_age,
            recorder.counters().lost(),
            config.flush_interval,
        );
        let (indexer, index) = Indexer::new(dir.clone(), catalog.clone());
        let writer = Writer::new(
            WriterHandles {
                dir: dir.clone(),
                control: control.clone(),
                health: health.clone(),
                catalog: catalog.clone(),
                index,
            },
            pipe,
            config.fsync,
            loaded.next_id,
            config.flush_interval,
            config.write_hook.clone(),
        );
        let indexer = indexer.spawn().map_err(|source| StoreError::Spawn {
            thread: "indexer",
            source,
        })?;
        let (c, r, interval) = (control.clone(), recorder.clone(), config.flush_interval);
        let handle = std::thread::Builder::new()
            .name("northstar-flusher".into())
            .spawn(move || {
                let _guard = StopGuard(c.clone());
                flusher::run(c, r, core, writer, interval);
            })
            .map_err(|source| StoreError::Spawn {
                thread: "flusher",
                source,
            })?;
        // Another store may have taken the rings since the check above: the flusher thread
        // finds out when it claims them, and then this open fails rather than returning a
        // store whose flusher has stopped.
        if let Err(e) = control.wait_started() {
            let _ = handle.join();
            let _ = indexer.finish();
            return Err(e);
        }
        Ok(EventManager {
            reader: StoreReader {
                dir,
                catalog,
                teams: Arc::new(teams),
                report,
            },
            control,
            health,
            recorder,
            flusher: Mutex::new(Some(handle)),
            indexer: Mutex::new(Some(indexer)),
            read_only: false,
            retention: config.retention,
            _lock: Some(lock_file),
        })
    }

    /// Opens a directory for reading only (CLI query, stats, verify): no lock, no flusher,
    /// nothing on disk is changed. A segment a writer is still writing is read up to its last
    /// whole block. Every write (record, flush, set_team, compact) fails with
    /// [`StoreError::ReadOnly`]; [`StoreReader::open`] gives a reader without those methods.
    pub fn open_read_only(dir: impl AsRef<Path>) -> Result<EventManager> {
        let reader = StoreReader::open(dir)?;
        let recorder = Recorder::new(RecorderConfig {
            rings: 1,
            ring_bytes: 4096,
            ..RecorderConfig::default()
        })
        .map_err(StoreError::Recorder)?;
        Ok(EventManager {
            reader,
            control: Arc::new(FlushControl::stopped()),
            health: Arc::default(),
            recorder,
            flusher: Mutex::new(None),
            indexer: Mutex::new(None),
            read_only: true,
            retention: StoreConfig::default().retention,
            _lock: None,
        })
    }

    /// The reading half of the store (every query, stats, verify).
    pub fn reader(&self) -> &StoreReader {
        &self.reader
    }

    /// The recorder whose rings this store drains.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    fn writable(&self) -> Result<()> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
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
        let header = EventHeader::with_type_byte(
            type_byte,
            visibility,
            timestamp_unix_ns,
            actor_id,
            0,
            payload_len,
        );
        let queued = self.control.queue_import(&header, payload_len, encode)?;
        self.health.imports_queued.fetch_add(1, Ordering::AcqRel);
        if queued >= IMPORT_QUEUE_BYTES {
            // Bounded memory: let the flusher take the queue before accepting more.
            self.flush()?;
        }
        Ok(())
    }

    /// Returns once every event recorded before the call (through the rings or imported) is
    /// written to its segment file, visible to queries, and synced unless the policy is
    /// [`FsyncPolicy::None`](crate::FsyncPolicy::None) (`Interval` and `EveryBlock`: the fsyncs covering those blocks
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
        self.control.flush(&self.health)
    }

    /// How the writer is doing: whether writes fail now and with what, failure episodes (one
    /// per spell of failures, however many retries), and what a close gave up on.
    pub fn write_health(&self) -> crate::health::WriteHealth {
        self.health.snapshot()
    }

    /// Events imported with [`record_event_at`](Self::record_event_at) /
    /// [`record_at`](Self::record_at) since open, and how many of them are written to a
    /// segment: always the first ones, in call order (after `flush()` returns `Ok`, synced too).
    pub fn imports_stored(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering;
        (
            self.health.imports_queued.load(Ordering::Acquire),
            self.health.imports_stored.load(Ordering::Acquire),
        )
    }

    /// Sets an actor's team (the team directory, saved atomically in the data directory).
    pub fn set_team(&self, actor_id: u64, team_id: u64) -> Result<()> {
        self.writable()?;
        self.reader.teams.set(actor_id, team_id)
    }

    /// Retention: deletes sealed segments whose events are all older than `now - retention`
    /// and rewrites those partly expired. Never touches the active segment; readers holding
    /// a segment keep reading the old file (removed or replaced by rename, never changed).
    pub fn compact(&self, now_unix_ns: u64) -> Result<CompactReport> {
        self.writable()?;
        let _g = self.reader.catalog.lock_compacting();
        let cutoff = now_unix_ns
            .saturating_sub(u64::try_from(self.retention.as_nanos()).unwrap_or(u64::MAX));
        let report = crate::retention::compact(&self.reader.dir, &self.reader.catalog, cutoff)?;
        crate::damage_log::append(
            &self.reader.dir,
            &crate::damage_log::compaction_drops(&report),
        )?;
        Ok(report)
    }

    fn shutdown(&self) -> Result<()> {
        let handle = lock(&self.flusher).take();
        let flusher = match handle {
            None => Ok(()),
            Some(handle) => {
                self.control.request_shutdown();
                let joined = handle.join();
                match (joined, self.control.take_error()) {
                    (Err(_), _) => Err(StoreError::Panicked { thread: "flusher" }),
                    (Ok(()), Some(e)) => Err(e),
                    (Ok(()), None) => Ok(()),
                }
            }
        };
        // The flusher is gone (it sealed the last segment). The indexer thread runs at the
        // lowest priority: close takes over the queued segments at the caller's priority,
        // and waits for the one the thread may be indexing.
        let indexed = match lock(&self.indexer).take() {
            Some(indexer) => indexer.finish(),
            None => Ok(()),
        };
        if self.health.lost_anything() {
            if let Some(e) = self.health.error() {
                return Err(e);
            }
        }
        flusher?;
        indexed
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
