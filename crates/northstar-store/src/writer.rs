//! The writer thread and the segment it appends to.
//!
//! The flusher drains the rings into finished blocks and hands them over through a bounded
//! [`Pipe`]; this thread creates segments, appends blocks, seals segments and publishes them
//! to readers; a syncer thread runs the fsyncs the policy asks for, so neither the drain nor
//! the writes wait on `fsync`.
//!
//! **Failed writes.** Every block is written with a positioned write at the segment's
//! committed length; a write that fails is cut back with `set_len` to that length, so the
//! segment is exactly as it was (a retry rewrites the same bytes at the same offset: no hole,
//! no partial block). The writer keeps the block and retries with backoff (1 ms doubling to
//! 250 ms) for as long as the store is open; the failure is recorded once per episode
//! ([`WriteHealth`]) and returned by a `flush()` that waits longer than
//! `StoreConfig::retry_window`. Meanwhile the flusher keeps filling the bounded buffer, then
//! stops draining, so the rings drop and count events exactly as under overload. Only when the
//! store is closed and writes still fail after `retry_window` does the writer give up: it
//! counts every event it held and tries to store that count as a drop-only block.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::active::{append_drop_only, ActiveSegment, CreateFailed};
use crate::catalog::{ActiveSnapshot, SealedSegment, SegmentBytes, SharedCatalog};
use crate::config::{FsyncPolicy, WriteHook, WriteSite};
use crate::control::FlushControl;
use crate::error::StoreError;
use crate::health::WriteShared;
use crate::indexer::IndexSender;
use crate::layout::segment_path;
use crate::pipe::{Finished, Msg, Pipe};
use crate::syncer::{SyncFile, Syncer};

const MIN_BACKOFF: Duration = Duration::from_millis(1);
const MAX_BACKOFF: Duration = Duration::from_millis(250);

/// What the writer thread reaches: the flusher's control (to complete flush tickets, or stop
/// the store when it cannot go on), its own health record, the catalog it publishes segments
/// to, and the indexer's queue of sealed segments.
pub(crate) struct WriterHandles {
    /// The data directory.
    pub(crate) dir: PathBuf,
    pub(crate) control: Arc<FlushControl>,
    pub(crate) health: Arc<WriteShared>,
    pub(crate) catalog: Arc<SharedCatalog>,
    pub(crate) index: IndexSender,
}

/// The writer thread's state.
pub(crate) struct Writer {
    shared: WriterHandles,
    pipe: Arc<Pipe>,
    fsync: FsyncPolicy,
    max_delay: Duration,
    hook: Option<WriteHook>,
    active: Option<ActiveSegment>,
    next_id: u32,
    /// A segment id whose failed creation left its file behind.
    leftover: Option<u32>,
    /// Readers have not seen the latest blocks.
    dirty: bool,
    last_publish: Instant,
    syncer: Option<Syncer>,
    /// Sealed segments with blocks not yet synced.
    unsynced_sealed: Vec<SyncFile>,
    last_sync_request: Instant,
    backoff: Duration,
    shutdown_seen: Option<Instant>,
    gave_up: bool,
    lost_events: u64,
    lost_imports: u64,
    /// The last segment written (path, length): where a drop-only block goes at give-up.
    last_segment: Option<(Arc<File>, PathBuf, u64)>,
}

impl Writer {
    pub(crate) fn new(
        shared: WriterHandles,
        pipe: Arc<Pipe>,
        fsync: FsyncPolicy,
        next_id: u32,
        max_delay: Duration,
        hook: Option<WriteHook>,
    ) -> Self {
        Self {
            shared,
            pipe,
            fsync,
            max_delay,
            hook,
            active: None,
            next_id,
            leftover: None,
            dirty: false,
            last_publish: Instant::now(),
            syncer: None,
            unsynced_sealed: Vec::new(),
            last_sync_request: Instant::now(),
            backoff: MIN_BACKOFF,
            shutdown_seen: None,
            gave_up: false,
            lost_events: 0,
            lost_imports: 0,
            last_segment: None,
        }
    }

    fn hook(&self, site: WriteSite) -> io::Result<()> {
        match &self.hook {
            Some(h) => h(site),
            None => Ok(()),
        }
    }

    /// The thread body: runs the flusher's requests in order until `Shutdown`.
    pub(crate) fn run(mut self) {
        if self.fsync != FsyncPolicy::None {
            match Syncer::spawn(
                self.shared.control.clone(),
                self.shared.health.clone(),
                self.hook.clone(),
            ) {
                Ok(s) => self.syncer = Some(s),
                Err(e) => {
                    self.shared.control.stop(Some(Arc::new(StoreError::Spawn {
                        thread: "syncer",
                        source: e,
                    })));
                    return;
                }
            }
        }
        let wake = self
            .max_delay
            .clamp(Duration::from_millis(1), Duration::from_millis(10));
        loop {
            match self.pipe.recv(wake) {
                None => {}
                Some(Msg::Create { created_unix_ns }) => self.create(created_unix_ns),
                Some(Msg::Block(b)) => self.append(b),
                Some(Msg::Seal) => self.seal(),
                Some(Msg::Flush { ticket }) => self.flush(ticket),
                Some(Msg::Shutdown) => break,
            }
            self.housekeeping();
        }
        self.finish();
    }

    /// After a failed attempt: records it, waits the backoff. Returns true when the writer
    /// must give up: the store is closing and writes have failed for `retry_window` since.
    fn failed(&mut self, path: &Path, e: &io::Error) -> bool {
        self.shared.health.failed(path, e);
        if self.shared.control.shutting_down() {
            let since = *self.shutdown_seen.get_or_insert_with(Instant::now);
            if since.elapsed() >= self.shared.health.retry_window() {
                return true;
            }
        }
        std::thread::sleep(self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        // Readers and flushes waiting on other segments are not held up by a failing one.
        self.housekeeping();
        false
    }

    fn succeeded(&mut self) {
        if self.backoff != MIN_BACKOFF {
            self.backoff = MIN_BACKOFF;
        }
        self.shared.health.recovered();
    }

    fn give_up(&mut self) {
        self.gave_up = true;
    }

    fn create(&mut self, created_unix_ns: u64) {
        if self.gave_up {
            return;
        }
        loop {
            let id = self.next_id;
            if id == u32::MAX {
                self.shared
                    .control
                    .stop(Some(Arc::new(StoreError::IdsExhausted {
                        dir: self.shared.dir.clone(),
                    })));
                self.give_up();
                return;
            }
            let durable = self.fsync != FsyncPolicy::None;
            let path = segment_path(&self.shared.dir, id);
            let reuse = self.leftover == Some(id);
            // Readers (verify) learn of the segment before it exists, and of its bytes only
            // once they are whole.
            self.shared.catalog.publish_horizon(id, 0);
            let r = self
                .hook(WriteSite::Create { segment: id })
                .map_err(|error| CreateFailed {
                    error,
                    left_behind: false,
                })
                .and_then(|_| {
                    ActiveSegment::create(&self.shared.dir, id, created_unix_ns, durable, reuse)
                });
            match r {
                Ok(a) => {
                    self.succeeded();
                    self.leftover = None;
                    self.shared.catalog.publish_horizon(id, a.len);
                    self.last_segment = Some((a.file.clone(), a.path.clone(), a.len));
                    self.active = Some(a);
                    self.next_id = id + 1;
                    return;
                }
                Err(f) if f.error.kind() == io::ErrorKind::AlreadyExists && !reuse => {
                    // Not ours (ids only grow and this one was free at open): never touch
                    // it, take the next id.
                    self.shared.health.failed(&path, &f.error);
                    self.next_id = id + 1;
                }
                Err(f) => {
                    if f.left_behind {
                        self.leftover = Some(id);
                    }
                    if self.failed(&path, &f.error) {
                        self.give_up();
                        return;
                    }
                }
            }
        }
    }

    fn lose(&mut self, b: &Finished) {
        self.lost_events += b.ring_records + b.dropped;
        self.lost_imports += b.imports;
    }

    fn append(&mut self, b: Box<Finished>) {
        let Finished {
            bytes,
            summary,
            imports,
            ..
        } = &*b;
        loop {
            if self.gave_up || self.active.is_none() {
                self.lose(&b);
                break;
            }
            let (id, offset, path) = {
                let a = self.active.as_ref().expect("checked above");
                (a.id, a.len, a.path.clone())
            };
            let r = self
                .hook(WriteSite::Block {
                    segment: id,
                    offset,
                    len: bytes.len(),
                })
                .and_then(|_| {
                    self.active
                        .as_mut()
                        .expect("checked above")
                        .append(bytes, summary)
                });
            match r {
                Ok(()) => {
                    self.succeeded();
                    if let Some(a) = &self.active {
                        self.shared.catalog.publish_horizon(a.id, a.len);
                        self.last_segment = Some((a.file.clone(), a.path.clone(), a.len));
                    }
                    if *imports > 0 {
                        self.shared
                            .health
                            .imports_stored
                            .fetch_add(*imports, Ordering::AcqRel);
                    }
                    self.dirty = true;
                    if self.fsync == FsyncPolicy::EveryBlock {
                        self.sync_active_now();
                    }
                    break;
                }
                Err(e) => {
                    if self.failed(&path, &e) {
                        self.give_up();
                        self.lose(&b);
                        break;
                    }
                }
            }
        }
        let Finished { bytes, .. } = *b;
        self.pipe.done(bytes);
        if self.last_publish.elapsed() >= self.max_delay {
            self.publish();
        }
    }

    /// `FsyncPolicy::EveryBlock`: the block just written is synced before the next one is
    /// written (retried like a write).
    fn sync_active_now(&mut self) {
        loop {
            let Some(a) = self.active.as_mut() else {
                return;
            };
            let (id, path) = (a.id, a.path.clone());
            let r = match &self.hook {
                Some(h) => h(WriteSite::Sync { segment: id }),
                None => Ok(()),
            }
            .and_then(|_| self.active.as_mut().expect("checked above").sync());
            match r {
                Ok(()) => return,
                Err(e) => {
                    self.shared.health.sync_failed(&path, &e);
                    if self.failed(&path, &e) {
                        return;
                    }
                }
            }
        }
    }

    fn publish(&mut self) {
        if !self.dirty {
            return;
        }
        if let Some(a) = &self.active {
            let mut cat = self.shared.catalog.write();
            cat.active = Some(Arc::new(ActiveSnapshot {
                path: a.path.clone(),
                file: a.file.clone(),
                index: a.index.clone(),
            }));
        }
        self.dirty = false;
        self.last_publish = Instant::now();
    }

    /// Seals the active segment and moves it to the sealed set in one catalog update; the
    /// indexer thread then adds its session filters and writes its index file.
    fn seal(&mut self) {
        let Some(a) = self.active.take() else {
            return;
        };
        // A failed write already cut the file back; make sure (a leftover would be read as a
        // torn block by the next open).
        if a.file.metadata().is_ok_and(|m| m.len() != a.len) {
            let _ = a.file.set_len(a.len);
        }
        if self.fsync != FsyncPolicy::None && a.unsynced {
            self.unsynced_sealed.push(a.sync_file());
        }
        let data = loop {
            match SegmentBytes::map_len(&a.file, &a.path, a.len) {
                Ok(d) => break d,
                Err(StoreError::Io { path, source }) => {
                    if self.failed(&path, &source) {
                        // Read it instead of mapping it (memory is not the disk: this only
                        // fails when the disk fails).
                        let mut buf = vec![0u8; a.len as usize];
                        let _ = a.file.read_exact_at(&mut buf, 0);
                        break SegmentBytes::Owned(buf);
                    }
                }
                Err(e) => {
                    self.shared
                        .health
                        .failed(&a.path, &io::Error::other(e.to_string()));
                    let mut buf = vec![0u8; a.len as usize];
                    let _ = a.file.read_exact_at(&mut buf, 0);
                    break SegmentBytes::Owned(buf);
                }
            }
        };
        let ActiveSegment {
            id, path, index, ..
        } = a;
        {
            let mut cat = self.shared.catalog.write();
            cat.sealed.insert(
                id,
                Arc::new(SealedSegment {
                    id,
                    path,
                    data,
                    index,
                }),
            );
            cat.active = None;
        }
        self.dirty = false;
        // Queued only once the catalog holds the segment, where the indexer looks it up.
        self.shared.index.send(id);
    }

    fn sync_files(&mut self) -> Vec<SyncFile> {
        let mut files = std::mem::take(&mut self.unsynced_sealed);
        if let Some(a) = self.active.as_mut() {
            if a.unsynced {
                files.push(a.sync_file());
                a.unsynced = false;
            }
        }
        files
    }

    fn flush(&mut self, ticket: u64) {
        self.publish();
        match &self.syncer {
            None => self.shared.control.finish_ticket(ticket, None),
            Some(_) => {
                let files = self.sync_files();
                self.last_sync_request = Instant::now();
                if let Some(s) = &self.syncer {
                    s.request(files, Some(ticket));
                }
            }
        }
    }

    /// Publishes to readers at least every `max_delay`; under `FsyncPolicy::Interval`, asks
    /// the syncer for a sync when one is due and none is running.
    fn housekeeping(&mut self) {
        if self.dirty && self.last_publish.elapsed() >= self.max_delay {
            self.publish();
        }
        if let FsyncPolicy::Interval(d) = self.fsync {
            let unsynced = !self.unsynced_sealed.is_empty()
                || self.active.as_ref().is_some_and(|a| a.unsynced);
            if unsynced
                && self.last_sync_request.elapsed() >= d
                && self.syncer.as_ref().is_some_and(Syncer::idle)
            {
                let files = self.sync_files();
                self.last_sync_request = Instant::now();
                if let Some(s) = &self.syncer {
                    s.request(files, None);
                }
            }
        }
    }

    /// Shutdown: every message is handled (the last segment sealed). Stops the syncer after
    /// the final syncs; after a give-up, stores the count of what was lost if it can.
    fn finish(&mut self) {
        self.publish();
        if self.gave_up {
            let counted = self.lost_events > 0 && self.store_lost_count();
            self.shared
                .health
                .gave_up(self.lost_events, self.lost_imports, counted);
        }
        if self.syncer.is_some() {
            let files = self.sync_files();
            if let (Some(s), false) = (&self.syncer, files.is_empty()) {
                s.request(files, None);
            }
        }
        if let Some(mut s) = self.syncer.take() {
            s.stop();
        }
    }

    /// Stores the count of ring events given up as a drop-only block (see
    /// [`append_drop_only`]).
    fn store_lost_count(&mut self) -> bool {
        let Some((file, _, len)) = self.last_segment.clone() else {
            return false;
        };
        append_drop_only(
            &file,
            len,
            self.lost_events,
            self.fsync != FsyncPolicy::None,
        )
    }
}

/// Marks the store stopped if the writer thread panics, so no `flush()` waits forever.
pub(crate) struct PanicGuard(pub(crate) Arc<FlushControl>);

impl Drop for PanicGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0
                .stop(Some(Arc::new(StoreError::Panicked { thread: "writer" })));
        }
    }
}
