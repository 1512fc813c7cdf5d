//! The indexer thread: finishes each segment the flusher seals, off the drain path: syncs it,
//! builds its session filters (which need every payload decoded) and saves its index.
//!
//! Until it has run, a sealed segment's in-memory index matches every session (queries by
//! session read its blocks and check each record: slower, never wrong), and it has no index
//! file (a crash then only means the index is rebuilt on open).

use std::fs::File;
use std::sync::mpsc::Receiver;
use std::sync::Arc;

use crate::catalog::{SealedSegment, SegmentBytes};
use crate::error::{Result, StoreError};
use crate::layout::{index_path, write_atomic};
use crate::manager::Shared;

/// The thread body: indexes each sealed segment id received, until the flusher hangs up.
pub(crate) fn run(shared: Arc<Shared>, sealed: Receiver<u32>) {
    for id in sealed {
        if let Err(e) = index_segment(&shared, id) {
            shared.indexer_failed(e);
        }
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
