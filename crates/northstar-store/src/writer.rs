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

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use zerocopy::{FromBytes, IntoBytes};

use crate::block::{BlockBuilder, BlockSummary};
use crate::catalog::{ActiveSnapshot, SealedSegment, SegmentBytes};
use crate::error::StoreError;
use crate::format::{BlockHeader, SegmentHeader, BLOCK_HEADER_LEN, SEGMENT_HEADER_LEN};
use crate::index::SegmentIndex;
use crate::layout::segment_path;
use crate::manager::{unix_now_ns, FsyncPolicy, Shared};
use crate::pipe::{Finished, Msg, Pipe};

/// Where the writer is about to touch the disk, as passed to a [`WriteHook`].
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteSite {
    /// Creating segment `segment`.
    Create {
        /// Segment id.
        segment: u32,
    },
    /// Writing a block of `len` bytes at `offset` of segment `segment`.
    Block {
        /// Segment id.
        segment: u32,
        /// Offset in the file.
        offset: u64,
        /// Block length.
        len: usize,
    },
    /// Syncing segment `segment`.
    Sync {
        /// Segment id.
        segment: u32,
    },
}

/// Test-only fault injection: called before each create, block write and sync. Sleeping in it
/// stalls the writer; an `Err` makes that operation fail with the error (as the disk would).
#[doc(hidden)]
pub type WriteHook = Arc<dyn Fn(WriteSite) -> io::Result<()> + Send + Sync>;

/// How the writer is doing (see [`EventManager::write_health`](crate::EventManager::write_health)).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteHealth {
    /// The error writes fail with now; `None` once an attempt succeeds again.
    pub failing: Option<String>,
    /// Times writing started to fail: one per episode, however many retries it took.
    pub episodes: u64,
    /// The first error of each episode, oldest first (at most the last 16 episodes).
    pub episode_errors: Vec<String>,
    /// Failed attempts (writes, segment creations) in all, retries included.
    pub failed_attempts: u64,
    /// Failed fsyncs (each is also returned by the `flush()` waiting for it).
    pub sync_failures: u64,
    /// Events from the rings the writer gave up on at close (disk still failing after
    /// `retry_window`), including the drop counts their blocks carried.
    pub lost_events: u64,
    /// Imported events (`record_event_at`) given up on at close.
    pub lost_imports: u64,
    /// Whether `lost_events` is recorded in the store as a drop-only block (so that stored +
    /// dropped = recorded still holds on disk).
    pub lost_counted_in_store: bool,
}

/// The writer's state shared with the manager.
#[derive(Debug, Default)]
pub(crate) struct WriteShared {
    health: Mutex<HealthState>,
    /// Events queued by `record_event_at` since open.
    pub(crate) imports_queued: AtomicU64,
    /// Of those, how many are written to a segment (a prefix, in call order).
    pub(crate) imports_stored: AtomicU64,
    /// How long `flush()` and `close()` wait while writes fail.
    pub(crate) retry_window: Mutex<Duration>,
}

#[derive(Debug, Default)]
struct HealthState {
    public: WriteHealth,
    failing_since: Option<Instant>,
    /// When the latest failed attempt happened.
    last_failure: Option<Instant>,
    /// The latest failure: path, error (kept to rebuild a typed `io::Error`).
    last: Option<(PathBuf, io::ErrorKind, Option<i32>, String)>,
}

impl WriteShared {
    fn health(&self) -> MutexGuard<'_, HealthState> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn snapshot(&self) -> WriteHealth {
        self.health().public.clone()
    }

    pub(crate) fn retry_window(&self) -> Duration {
        *self.retry_window.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether writes are failing and an attempt failed after `t` (so a flush that began at
    /// `t` has seen the disk refuse its data, not only an older failure).
    pub(crate) fn failed_since(&self, t: Instant) -> bool {
        let h = self.health();
        h.failing_since.is_some() && h.last_failure.is_some_and(|f| f >= t)
    }

    fn failed(&self, path: &Path, e: &io::Error) {
        let mut h = self.health();
        let text = format!("{}: {e}", path.display());
        h.public.failed_attempts += 1;
        h.last_failure = Some(Instant::now());
        if h.failing_since.is_none() {
            h.failing_since = Some(Instant::now());
            h.public.episodes += 1;
            if h.public.episode_errors.len() == 16 {
                h.public.episode_errors.remove(0);
            }
            h.public.episode_errors.push(text.clone());
        }
        h.public.failing = Some(text);
        h.last = Some((path.to_owned(), e.kind(), e.raw_os_error(), e.to_string()));
    }

    fn recovered(&self) {
        let mut h = self.health();
        if h.failing_since.is_some() {
            h.failing_since = None;
            h.public.failing = None;
        }
    }

    fn sync_failed(&self, path: &Path, e: &io::Error) {
        let mut h = self.health();
        h.public.sync_failures += 1;
        h.last = Some((path.to_owned(), e.kind(), e.raw_os_error(), e.to_string()));
    }

    fn gave_up(&self, events: u64, imports: u64, counted: bool) {
        let mut h = self.health();
        h.public.lost_events = events;
        h.public.lost_imports = imports;
        h.public.lost_counted_in_store = counted;
    }

    /// The typed error for the latest write failure (with the import counts), if any.
    pub(crate) fn error(&self) -> Option<StoreError> {
        let h = self.health();
        let (path, kind, raw, text) = h.last.clone()?;
        let source = match raw {
            Some(code) => io::Error::from_raw_os_error(code),
            None => io::Error::new(kind, text),
        };
        Some(StoreError::WriteFailed {
            path,
            source,
            imports: self.imports_queued.load(Ordering::Acquire),
            imports_stored: self.imports_stored.load(Ordering::Acquire),
            lost_events: h.public.lost_events,
            lost_counted_in_store: h.public.lost_counted_in_store,
        })
    }

    /// Whether the writer gave up on anything (close only).
    pub(crate) fn lost_anything(&self) -> bool {
        let h = self.health();
        h.public.lost_events > 0 || h.public.lost_imports > 0
    }
}

/// The active segment: its file, committed length and growing index.
#[derive(Debug)]
pub struct ActiveSegment {
    /// Segment id.
    pub id: u32,
    /// File path.
    pub path: PathBuf,
    file: Arc<File>,
    /// Bytes written (every byte up to here is a whole block or the header).
    pub len: u64,
    /// Creation time, Unix ns.
    pub created_unix_ns: u64,
    /// Index of the blocks written so far.
    pub index: SegmentIndex,
    /// Bytes written since the last fsync request.
    pub unsynced: bool,
}

/// Why creating a segment failed, and whether its file is left behind (it could not be
/// removed), so the next attempt reuses it instead of failing with "File exists".
#[derive(Debug)]
pub struct CreateFailed {
    /// The error.
    pub error: io::Error,
    /// The file exists (created by this attempt, not removable).
    pub left_behind: bool,
}

impl ActiveSegment {
    /// Creates `seg-<id>.nss` with its header; `durable`: sync the file and the directory
    /// entry now (every policy but `FsyncPolicy::None`). `reuse`: the file was left by a failed
    /// attempt of ours and is truncated and rewritten; otherwise it must not exist. A failure
    /// removes the file it created (when it can), so nothing is left behind.
    pub fn create(
        dir: &Path,
        id: u32,
        now_unix_ns: u64,
        durable: bool,
        reuse: bool,
    ) -> std::result::Result<Self, CreateFailed> {
        let path = segment_path(dir, id);
        let mut opts = OpenOptions::new();
        opts.write(true).read(true);
        if reuse {
            opts.create(true).truncate(true);
        } else {
            opts.create_new(true);
        }
        let file = opts.open(&path).map_err(|error| CreateFailed {
            error,
            left_behind: false,
        })?;
        let header = SegmentHeader::new(id, now_unix_ns);
        let written = file
            .write_all_at(header.as_bytes(), 0)
            .and_then(|_| if durable { file.sync_all() } else { Ok(()) })
            .and_then(|_| {
                if durable {
                    File::open(dir).and_then(|d| d.sync_all())
                } else {
                    Ok(())
                }
            });
        if let Err(error) = written {
            drop(file);
            let left_behind = std::fs::remove_file(&path).is_err() && path.exists();
            return Err(CreateFailed { error, left_behind });
        }
        Ok(Self {
            id,
            path,
            file: Arc::new(file),
            len: SEGMENT_HEADER_LEN as u64,
            created_unix_ns: now_unix_ns,
            index: SegmentIndex::new(id, now_unix_ns, SEGMENT_HEADER_LEN as u64),
            unsynced: false,
        })
    }

    /// Appends one finished block (from [`crate::block::BlockBuilder::finish`]) with the
    /// summary collected while it was built: one positioned write at the committed length. On
    /// failure the file is cut back to that length, so the segment is exactly as before (and
    /// a retry writes the same bytes at the same offset).
    pub fn append(&mut self, block: &[u8], summary: &BlockSummary) -> io::Result<()> {
        if let Err(e) = self.file.write_all_at(block, self.len) {
            let _ = self.file.set_len(self.len);
            return Err(e);
        }
        if let Ok((header, _)) = BlockHeader::ref_from_prefix(block) {
            self.index.add_block_summary(self.len, header, summary);
        }
        debug_assert!(block.len() >= BLOCK_HEADER_LEN);
        self.len += block.len() as u64;
        self.index.segment_len = self.len;
        self.unsynced = true;
        Ok(())
    }

    /// Flushes written blocks to stable storage.
    pub fn sync(&mut self) -> io::Result<()> {
        if self.unsynced {
            self.file.sync_data()?;
            self.unsynced = false;
        }
        Ok(())
    }

    fn sync_file(&self) -> SyncFile {
        SyncFile {
            file: self.file.clone(),
            path: self.path.clone(),
            segment: self.id,
        }
    }
}

/// A file the syncer is to sync.
#[derive(Debug)]
pub(crate) struct SyncFile {
    file: Arc<File>,
    path: PathBuf,
    segment: u32,
}

struct SyncReq {
    files: Vec<SyncFile>,
    ticket: Option<u64>,
}

#[derive(Default)]
struct SyncQueue {
    reqs: Mutex<(std::collections::VecDeque<SyncReq>, bool)>,
    wake: Condvar,
    /// Requests queued or running.
    pending: AtomicUsize,
}

/// The syncer thread: runs fsyncs in request order, then completes the request's flush ticket.
struct Syncer {
    queue: Arc<SyncQueue>,
    handle: Option<JoinHandle<()>>,
}

impl Syncer {
    fn spawn(shared: Arc<Shared>, hook: Option<WriteHook>) -> io::Result<Self> {
        let queue = Arc::new(SyncQueue::default());
        let q = queue.clone();
        let handle = std::thread::Builder::new()
            .name("northstar-syncer".into())
            .spawn(move || sync_thread(&shared, &q, hook.as_ref()))?;
        Ok(Self {
            queue,
            handle: Some(handle),
        })
    }

    fn request(&self, files: Vec<SyncFile>, ticket: Option<u64>) {
        self.queue.pending.fetch_add(1, Ordering::AcqRel);
        let mut q = self.queue.reqs.lock().unwrap_or_else(|p| p.into_inner());
        q.0.push_back(SyncReq { files, ticket });
        drop(q);
        self.queue.wake.notify_one();
    }

    fn idle(&self) -> bool {
        self.queue.pending.load(Ordering::Acquire) == 0
    }

    /// Runs what is queued, then ends the thread.
    fn stop(&mut self) {
        {
            let mut q = self.queue.reqs.lock().unwrap_or_else(|p| p.into_inner());
            q.1 = true;
        }
        self.queue.wake.notify_all();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn sync_thread(shared: &Shared, q: &SyncQueue, hook: Option<&WriteHook>) {
    loop {
        let req = {
            let mut g = q.reqs.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if let Some(r) = g.0.pop_front() {
                    break r;
                }
                if g.1 {
                    return;
                }
                g = q.wake.wait(g).unwrap_or_else(|p| p.into_inner());
            }
        };
        let mut error: Option<String> = None;
        for f in &req.files {
            let r = match hook {
                Some(h) => h(WriteSite::Sync { segment: f.segment }),
                None => Ok(()),
            }
            .and_then(|_| f.file.sync_data());
            if let Err(e) = r {
                shared.write.sync_failed(&f.path, &e);
                error.get_or_insert_with(|| format!("fsync of {} failed: {e}", f.path.display()));
            }
        }
        if let Some(t) = req.ticket {
            shared.finish_ticket(t, error);
        }
        q.pending.fetch_sub(1, Ordering::AcqRel);
    }
}

const MIN_BACKOFF: Duration = Duration::from_millis(1);
const MAX_BACKOFF: Duration = Duration::from_millis(250);

/// The writer thread's state.
pub(crate) struct Writer {
    shared: Arc<Shared>,
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
        shared: Arc<Shared>,
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
            match Syncer::spawn(self.shared.clone(), self.hook.clone()) {
                Ok(s) => self.syncer = Some(s),
                Err(e) => {
                    self.shared
                        .stop(Some(format!("cannot start the syncer thread: {e}")));
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
        self.shared.write.failed(path, e);
        if self.shared.shutting_down() {
            let since = *self.shutdown_seen.get_or_insert_with(Instant::now);
            if since.elapsed() >= self.shared.write.retry_window() {
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
        self.shared.write.recovered();
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
                self.shared.stop(Some(
                    "segment ids exhausted: no segment can be created".into(),
                ));
                self.give_up();
                return;
            }
            let durable = self.fsync != FsyncPolicy::None;
            let path = segment_path(&self.shared.dir, id);
            let reuse = self.leftover == Some(id);
            // Readers (verify) learn of the segment before it exists, and of its bytes only
            // once they are whole.
            self.shared.publish_horizon(id, 0);
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
                    self.shared.publish_horizon(id, a.len);
                    self.last_segment = Some((a.file.clone(), a.path.clone(), a.len));
                    self.active = Some(a);
                    self.next_id = id + 1;
                    return;
                }
                Err(f) if f.error.kind() == io::ErrorKind::AlreadyExists && !reuse => {
                    // Not ours (ids only grow and this one was free at open): never touch
                    // it, take the next id.
                    self.shared.write.failed(&path, &f.error);
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
                        self.shared.publish_horizon(a.id, a.len);
                        self.last_segment = Some((a.file.clone(), a.path.clone(), a.len));
                    }
                    if *imports > 0 {
                        self.shared
                            .write
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
                    self.shared.write.sync_failed(&path, &e);
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
            let mut cat = self.shared.write_catalog();
            cat.active = Some(Arc::new(ActiveSnapshot {
                id: a.id,
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
                        .write
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
            let mut cat = self.shared.write_catalog();
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
        self.shared.index_queue.push(id);
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
            None => self.shared.finish_ticket(ticket, None),
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
                .write
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

    /// Appends one drop-only block (no record; `dropped` = the ring events given up) to the
    /// last segment written, so stored + dropped = recorded holds on disk. Tried once: the
    /// disk is failing. The segment's index then no longer matches its length and is rebuilt
    /// by the next writable open.
    fn store_lost_count(&mut self) -> bool {
        let Some((file, path, len)) = self.last_segment.clone() else {
            return false;
        };
        let mut b = BlockBuilder::new();
        let bytes = b.finish(self.lost_events, unix_now_ns()).to_vec();
        let ok = file.write_all_at(&bytes, len).is_ok()
            && (self.fsync == FsyncPolicy::None || file.sync_data().is_ok());
        if !ok {
            let _ = file.set_len(len);
            let _ = path;
        }
        ok
    }
}

/// Marks the store stopped if the writer thread panics, so no `flush()` waits forever.
pub(crate) struct PanicGuard(pub(crate) Arc<Shared>);

impl Drop for PanicGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.stop(Some("writer thread panicked".into()));
        }
    }
}
