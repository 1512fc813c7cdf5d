//! The syncer thread: runs the fsyncs the policy asks for in request order, then completes
//! the request's flush ticket, so neither the drain nor the writes wait on `fsync`.

use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use crate::config::{WriteHook, WriteSite};
use crate::control::FlushControl;
use crate::error::StoreError;
use crate::health::WriteShared;

/// A file the syncer is to sync.
#[derive(Debug)]
pub(crate) struct SyncFile {
    pub(crate) file: Arc<File>,
    pub(crate) path: PathBuf,
    pub(crate) segment: u32,
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
pub(crate) struct Syncer {
    queue: Arc<SyncQueue>,
    handle: Option<JoinHandle<()>>,
}

impl Syncer {
    pub(crate) fn spawn(
        control: Arc<FlushControl>,
        health: Arc<WriteShared>,
        hook: Option<WriteHook>,
    ) -> io::Result<Self> {
        let queue = Arc::new(SyncQueue::default());
        let q = queue.clone();
        let handle = std::thread::Builder::new()
            .name("northstar-syncer".into())
            .spawn(move || sync_thread(&control, &health, &q, hook.as_ref()))?;
        Ok(Self {
            queue,
            handle: Some(handle),
        })
    }

    pub(crate) fn request(&self, files: Vec<SyncFile>, ticket: Option<u64>) {
        self.queue.pending.fetch_add(1, Ordering::AcqRel);
        let mut q = self.queue.reqs.lock().unwrap_or_else(|p| p.into_inner());
        q.0.push_back(SyncReq { files, ticket });
        drop(q);
        self.queue.wake.notify_one();
    }

    pub(crate) fn idle(&self) -> bool {
        self.queue.pending.load(Ordering::Acquire) == 0
    }

    /// Runs what is queued, then ends the thread.
    pub(crate) fn stop(&mut self) {
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

fn sync_thread(
    control: &FlushControl,
    health: &WriteShared,
    q: &SyncQueue,
    hook: Option<&WriteHook>,
) {
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
        let mut error: Option<Arc<StoreError>> = None;
        for f in &req.files {
            let r = match hook {
                Some(h) => h(WriteSite::Sync { segment: f.segment }),
                None => Ok(()),
            }
            .and_then(|_| f.file.sync_data());
            if let Err(e) = r {
                health.sync_failed(&f.path, &e);
                error.get_or_insert_with(|| {
                    Arc::new(StoreError::Sync {
                        path: f.path.clone(),
                        source: e,
                    })
                });
            }
        }
        match req.ticket {
            Some(t) => control.finish_ticket(t, error),
            // A periodic sync (no flush waiting): its failure goes to the next flush, which
            // must not report blocks as synced when their sync failed.
            None => control.report(error),
        }
        q.pending.fetch_sub(1, Ordering::AcqRel);
    }
}
