//! How the writer is doing: failed writes and syncs, failure episodes, what a close gave up on,
//! and the import counters. Written by the writer and syncer threads, read by the manager.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::StoreError;

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

    pub(crate) fn failed(&self, path: &Path, e: &io::Error) {
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

    pub(crate) fn recovered(&self) {
        let mut h = self.health();
        if h.failing_since.is_some() {
            h.failing_since = None;
            h.public.failing = None;
        }
    }

    pub(crate) fn sync_failed(&self, path: &Path, e: &io::Error) {
        let mut h = self.health();
        h.public.sync_failures += 1;
        h.last = Some((path.to_owned(), e.kind(), e.raw_os_error(), e.to_string()));
    }

    pub(crate) fn gave_up(&self, events: u64, imports: u64, counted: bool) {
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
