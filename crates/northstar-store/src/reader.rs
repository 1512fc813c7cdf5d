//! [`StoreReader`]: the reading half of a store (queries with visibility, follow positions,
//! stats, verify), for a directory opened read-only or behind an [`EventManager`].
//!
//! [`EventManager`]: crate::EventManager

use std::path::{Path, PathBuf};
use std::sync::Arc;

use northstar_core::record::RecordView;

use crate::catalog::{SegRef, SharedCatalog};
use crate::error::{Result, StoreError};
use crate::query::{self, Access, Hit, Query, QueryOutcome, StoredEvent, Viewer};
use crate::report::{OpenReport, Skipped};
use crate::stats::StoreStats;
use crate::teams::TeamDirectory;
use crate::verify::VerifyReport;

/// Reads a data directory: every query, stats and verification, nothing that writes. Opened
/// with [`StoreReader::open`] it changes nothing on disk and takes no lock, so it can read a
/// directory another process is writing; an [`EventManager`](crate::EventManager) gives the
/// same methods over the store it writes (it dereferences to its reader).
///
/// ```
/// use northstar_core::events::{CorrelationHints, PerfSample, TimeWindow};
/// use northstar_core::Visibility;
/// use northstar_store::{EventManager, Query, StoreConfig, StoreError, StoreReader, Viewer};
///
/// # fn main() -> Result<(), StoreError> {
/// let dir = tempfile::tempdir().expect("a temporary directory");
/// let store = EventManager::open(dir.path(), StoreConfig::default())?;
/// for i in 0..100u32 {
///     let sample = PerfSample {
///         metric_name: "get_latency_ns",
///         dimensions: Default::default(),
///         value: f64::from(i),
///         unit: "ns",
///         timestamp_window: TimeWindow { start: 0, end: 0 },
///         correlation_hints: CorrelationHints::NONE,
///     };
///     store.record(1, Visibility::Public, &sample)?;
/// }
/// store.flush()?;
///
/// // A second process (or this one) reads the same directory without a lock.
/// let reader = StoreReader::open(dir.path())?;
/// let everyone = Query { viewer: Viewer::System, ..Query::default() };
/// // Every block checked (CRC-32C, framing), records visited in place on every core.
/// let summary = reader.scan(&everyone, 0, |_event_id, record| {
///     assert_eq!(record.actor_id(), 1);
/// })?;
/// assert_eq!(summary.visited, 100);
/// assert!(summary.damaged.is_empty());
/// // Followers resume after the last event id they saw and never see one twice.
/// let end = reader.end_position()?;
/// assert!(reader.query_after(&everyone, end)?.events.is_empty());
/// assert!(reader.verify()?.is_clean());
/// store.close()?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct StoreReader {
    pub(crate) dir: PathBuf,
    pub(crate) catalog: Arc<SharedCatalog>,
    pub(crate) teams: Arc<TeamDirectory>,
    pub(crate) report: OpenReport,
}

impl StoreReader {
    /// Opens a directory for reading only (CLI query, stats, verify): no lock, no flusher,
    /// nothing on disk is changed. A segment a writer is still writing is read up to its last
    /// whole block.
    pub fn open(dir: impl AsRef<Path>) -> Result<StoreReader> {
        let dir = dir.as_ref().to_owned();
        if !dir.is_dir() {
            return Err(StoreError::io(
                &dir,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such data directory"),
            ));
        }
        let loaded = crate::recovery::load(&dir, false)?;
        let mut report = loaded.report;
        let teams = TeamDirectory::load(&dir, &mut report);
        let catalog = SharedCatalog::new(loaded.sealed);
        catalog.write().active = loaded.active;
        Ok(StoreReader {
            catalog: Arc::new(catalog),
            teams: Arc::new(teams),
            dir,
            report,
        })
    }

    /// What opening the directory found: skipped files, damage, truncated tails, rebuilt
    /// indexes.
    pub fn open_report(&self) -> &OpenReport {
        &self.report
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn segments(&self) -> Vec<SegRef> {
        self.catalog.segments()
    }

    fn found(&self, q: &Query, use_index: bool) -> Result<query::Found> {
        let teams = self.teams.read();
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
        self.scan_with(q, threads, || (), |_, id, r| visit(id, r))
            .map(|(summary, _)| summary)
    }

    /// [`scan`](Self::scan) with a state per thread: `init` makes one for each thread the scan
    /// runs on, `visit` gets it with each record, and the states come back with the summary
    /// (in no particular order), for work that collects without sharing a lock per record
    /// (samples of a metric over a long history, partial sums).
    pub fn scan_with<S: Send>(
        &self,
        q: &Query,
        threads: usize,
        init: impl Fn() -> S + Sync,
        visit: impl Fn(&mut S, u64, &RecordView<'_>) + Sync,
    ) -> Result<(crate::parallel_scan::ScanSummary, Vec<S>)> {
        let teams = self.teams.read();
        let access = Access::new(q.viewer, &teams);
        crate::parallel_scan::scan(&self.segments(), q, &access, threads, &init, &visit)
    }

    /// The store position at its end: the id of the last event stored (`None`: empty).
    /// Event ids (`segment << 32 | index in segment`) increase in the order events are
    /// stored, whatever their timestamps, and compaction keeps them: a position stays valid.
    pub fn end_position(&self) -> Result<Option<u64>> {
        crate::follow::end_position(&self.segments())
    }

    /// Events matching `q` (its viewer, types, actor, session and time range) stored after
    /// position `after` (an event id, e.g. from [`end_position`](Self::end_position) or the
    /// last event returned; `None`: from the start), in store order, with the damaged blocks
    /// skipped. For followers: a reader that passes the id of the last event it saw never
    /// misses an event stored later and never sees one twice, whatever the events'
    /// timestamps (a future-dated event does not hide later ones). `q.limit` is ignored.
    pub fn query_after(&self, q: &Query, after: Option<u64>) -> Result<QueryOutcome> {
        let teams = self.teams.read();
        let access = Access::new(q.viewer, &teams);
        let found = crate::follow::find_after(&self.segments(), q, &access, after)?;
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

    /// The team of an actor, if it has one.
    pub fn team_of(&self, actor_id: u64) -> Option<u64> {
        self.teams.read().0.get(&actor_id).copied()
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
        crate::stats::stats_for(&self.segments(), &self.teams, &self.dir, viewer)
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
        let _g = self.catalog.lock_compacting();
        let mut report = crate::verify::verify_dir(&self.dir, || self.catalog.horizon())?;
        let (logged, bad) = crate::damage_log::read(&self.dir);
        report.logged = logged;
        report.skipped.extend(bad);
        Ok(report)
    }

    /// Every removal of damaged bytes this store has recorded (`damage.log`): tails truncated
    /// by writable opens and regions compaction could not copy, with lines of the log that
    /// could not be read as report entries.
    pub fn damage_log(&self) -> (Vec<crate::damage_log::LoggedDamage>, Vec<Skipped>) {
        crate::damage_log::read(&self.dir)
    }
}
