//! The indexer thread: finishes each segment the flusher seals, off the drain path: syncs it,
//! builds its session filters (which need every payload decoded) and saves its index.
//!
//! Until it has run, a sealed segment's in-memory index matches every session (queries by
//! session read its blocks and check each record: slower, never wrong), and it has no index
//! file (a crash then only means the index is rebuilt on open).

use std::fs::File;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crossbeam_channel::{Receiver, Sender};

use crate::catalog::{SealedSegment, SegmentBytes, SharedCatalog};
use crate::error::{Result, StoreError};
use crate::layout::{index_path, write_atomic};

/// The writer's end of the indexer's queue: sealed segment ids, in the order they were sealed.
#[derive(Debug, Clone)]
pub(crate) struct IndexSender(Sender<u32>);

impl IndexSender {
    /// Writer: `id` is sealed and in the catalog.
    pub(crate) fn send(&self, id: u32) {
        // The receiving end lives as long as the store: a send cannot fail before close, and
        // after close nothing is sealed.
        let _ = self.0.send(id);
    }
}

/// What the indexer reaches: the data directory, the catalog it swaps completed indexes into,
/// and where it keeps its first failure for `close`.
#[derive(Debug)]
pub(crate) struct Indexer {
    dir: PathBuf,
    catalog: Arc<SharedCatalog>,
    ids: Receiver<u32>,
    error: Mutex<Option<StoreError>>,
}

/// The indexer thread as the manager holds it.
#[derive(Debug)]
pub(crate) struct IndexerThread {
    indexer: Arc<Indexer>,
    /// Dropped to tell the thread to end after its current segment.
    stop: Option<Sender<()>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Indexer {
    /// An indexer for `dir` and the channel the writer feeds it through.
    pub(crate) fn new(dir: PathBuf, catalog: Arc<SharedCatalog>) -> (Arc<Self>, IndexSender) {
        let (tx, rx) = crossbeam_channel::unbounded();
        let indexer = Arc::new(Self {
            dir,
            catalog,
            ids: rx,
            error: Mutex::new(None),
        });
        (indexer, IndexSender(tx))
    }

    /// Indexes `id`, keeping a failure for `close`.
    fn index(&self, id: u32) {
        if let Err(e) = index_segment(&self.dir, &self.catalog, id) {
            index_failed(self, id, e);
        }
    }

    /// Starts the thread: it indexes each sealed segment queued, until stopped.
    pub(crate) fn spawn(self: &Arc<Self>) -> std::io::Result<IndexerThread> {
        let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
        let me = self.clone();
        let handle = std::thread::Builder::new()
            .name("northstar-indexer".into())
            .spawn(move || {
                lower_priority();
                loop {
                    crossbeam_channel::select! {
                        recv(stop_rx) -> _ => return,
                        recv(me.ids) -> id => match id {
                            Ok(id) => me.index(id),
                            Err(_) => return,
                        },
                    }
                }
            })?;
        Ok(IndexerThread {
            indexer: self.clone(),
            stop: Some(stop_tx),
            handle: Some(handle),
        })
    }
}

impl IndexerThread {
    /// Close (after the writer is gone): stops the thread after its current segment, indexes
    /// what is still queued at the caller's priority, and returns the first failure.
    pub(crate) fn finish(mut self) -> Result<()> {
        drop(self.stop.take());
        while let Ok(id) = self.indexer.ids.try_recv() {
            self.indexer.index(id);
        }
        if let Some(h) = self.handle.take() {
            if h.join().is_err() {
                return Err(StoreError::Panicked { thread: "indexer" });
            }
        }
        match self
            .indexer
            .error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Drop for IndexerThread {
    fn drop(&mut self) {
        // Not finished (open failed half-way): let the thread end.
        drop(self.stop.take());
    }
}

/// An index file could not be written. A full disk (or quota) loses nothing: the segment is
/// whole and its index is rebuilt by the next writable open, so the half-written temporary
/// file is removed and the failure is not an error of the store. Anything else is kept and
/// reported by `close`.
fn index_failed(indexer: &Indexer, id: u32, e: StoreError) {
    let mut tmp = index_path(&indexer.dir, id).into_os_string();
    tmp.push(crate::layout::TMP_SUFFIX);
    let _ = std::fs::remove_file(std::path::PathBuf::from(tmp));
    let full = matches!(&e, StoreError::Io { source, .. }
        if matches!(source.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded));
    if !full {
        // The first failure is kept.
        indexer
            .error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert(e);
    }
}

/// Builds the session filters of sealed segment `id`, writes its index file and swaps the
/// completed index into the catalog. Holds the compaction lock, so the segment is not
/// rewritten or deleted meanwhile; a segment already gone is skipped.
fn index_segment(dir: &std::path::Path, catalog: &SharedCatalog, id: u32) -> Result<()> {
    let _g = catalog.lock_compacting();
    let Some(seg) = catalog.read().sealed.get(&id).cloned() else {
        return Ok(());
    };
    // The segment is durable before an index describes it (sealing = sync, then index).
    File::open(&seg.path)
        .and_then(|f| f.sync_data())
        .map_err(|e| StoreError::io(&seg.path, e))?;
    let mut index = seg.index.clone();
    index.index_sessions(seg.data.as_slice());
    write_atomic(&index_path(dir, id), &index.encode())?;
    if seg.index.sessions_pending() {
        // A fresh mapping of the same (never rewritten) file, to hold the completed index.
        let file = File::open(&seg.path).map_err(|e| StoreError::io(&seg.path, e))?;
        let data = SegmentBytes::map(&file, &seg.path)?;
        let mut cat = catalog.write();
        if cat.sealed.get(&id).is_some_and(|s| Arc::ptr_eq(s, &seg)) {
            cat.sealed.insert(
                id,
                Arc::new(SealedSegment {
                    id,
                    path: seg.path.clone(),
                    data,
                    index,
                }),
            );
        }
    }
    Ok(())
}

/// Runs this thread at the lowest CPU priority: decoding a sealed segment's payloads takes tens
/// of milliseconds, and on a machine with few cores it would otherwise take CPU time from the
/// flusher while producers fill the rings (in the 10 M events/s check of `benches/store.rs` on
/// 2 cores: about 30% of events dropped without this, about 1% or none with it). At nice 19 it
/// runs when the flusher waits; the index is only late, never wrong.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: setpriority only reads its integer arguments. On Linux the nice value is per
        // thread and `who = 0` names the calling thread, so only the indexer is affected. A
        // failure (e.g. forbidden by a seccomp policy) leaves the priority as it was, which is
        // harmless, so the result is ignored.
        let _ = unsafe { libc::setpriority(libc::PRIO_PROCESS as _, 0, 19) };
    }
}
