//! The indexer thread: finishes each segment the flusher seals, off the drain path: syncs it,
//! builds its session filters (which need every payload decoded) and saves its index.
//!
//! Until it has run, a sealed segment's in-memory index matches every session (queries by
//! session read its blocks and check each record: slower, never wrong), and it has no index
//! file (a crash then only means the index is rebuilt on open).

use std::collections::VecDeque;
use std::fs::File;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::catalog::{SealedSegment, SegmentBytes};
use crate::error::{Result, StoreError};
use crate::layout::{index_path, write_atomic};
use crate::manager::Shared;

/// Sealed segment ids waiting for the indexer.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    state: Mutex<QueueState>,
    wake: Condvar,
}

#[derive(Debug, Default)]
struct QueueState {
    ids: VecDeque<u32>,
    closed: bool,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Flusher: `id` is sealed and in the catalog.
    pub(crate) fn push(&self, id: u32) {
        self.lock().ids.push_back(id);
        self.wake.notify_one();
    }

    /// Shutdown: no more ids will come; the indexer thread ends after its current segment.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_all();
    }

    /// The next id without waiting (shutdown takes over the remaining work).
    pub(crate) fn pop(&self) -> Option<u32> {
        self.lock().ids.pop_front()
    }

    /// The next id, waiting for one; `None` once closed.
    fn next(&self) -> Option<u32> {
        let mut q = self.lock();
        loop {
            if q.closed {
                return None;
            }
            if let Some(id) = q.ids.pop_front() {
                return Some(id);
            }
            q = self.wake.wait(q).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// The thread body: indexes each sealed segment queued, until the queue is closed (the
/// closing thread then indexes what is left at its own priority, see `EventManager::close`).
pub(crate) fn run(shared: Arc<Shared>) {
    lower_priority();
    while let Some(id) = shared.index_queue.next() {
        if let Err(e) = index_segment(&shared, id) {
            index_failed(&shared, id, e);
        }
    }
}

/// An index file could not be written. A full disk (or quota) loses nothing: the segment is
/// whole and its index is rebuilt by the next writable open, so the half-written temporary
/// file is removed and the failure is not an error of the store. Anything else is kept and
/// reported by `close`.
pub(crate) fn index_failed(shared: &Shared, id: u32, e: StoreError) {
    let mut tmp = index_path(&shared.dir, id).into_os_string();
    tmp.push(crate::layout::TMP_SUFFIX);
    let _ = std::fs::remove_file(std::path::PathBuf::from(tmp));
    let full = matches!(&e, StoreError::Io { source, .. }
        if matches!(source.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded));
    if !full {
        shared.indexer_failed(e);
    }
}

/// Builds the session filters of sealed segment `id`, writes its index file and swaps the
/// completed index into the catalog. Holds the compaction lock, so the segment is not
/// rewritten or deleted meanwhile; a segment already gone is skipped.
pub(crate) fn index_segment(shared: &Shared, id: u32) -> Result<()> {
    let _g = shared.lock_compacting();
    let Some(seg) = shared.read_catalog().sealed.get(&id).cloned() else {
        return Ok(());
    };
    // The segment is durable before an index describes it (sealing = sync, then index).
    File::open(&seg.path)
        .and_then(|f| f.sync_data())
        .map_err(|e| StoreError::io(&seg.path, e))?;
    let mut index = seg.index.clone();
    index.index_sessions(seg.data.as_slice());
    write_atomic(&index_path(&shared.dir, id), &index.encode())?;
    if seg.index.sessions_pending() {
        // A fresh mapping of the same (never rewritten) file, to hold the completed index.
        let file = File::open(&seg.path).map_err(|e| StoreError::io(&seg.path, e))?;
        let data = SegmentBytes::map(&file, &seg.path)?;
        let mut cat = shared.write_catalog();
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
