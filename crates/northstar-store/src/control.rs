//! The flusher's control state: flush requests and their completion, shutdown, the flusher's
//! errors, and the queue of imported records waiting for it. Owned by the flusher; the
//! manager asks through it, the writer and syncer threads complete flush tickets through it.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use northstar_core::codec::EncodeError;
use northstar_core::record::{write_record, EventHeader, FRAMING_LEN};

use crate::error::{Result, StoreError};
use crate::health::WriteShared;

#[derive(Debug, Default)]
struct Ctl {
    requested: u64,
    completed: u64,
    shutdown: bool,
    /// The flusher thread holds the recorder's rings.
    started: bool,
    stopped: bool,
    /// The first error not yet returned by a `flush()` (or, once stopped, the first error).
    error: Option<Arc<StoreError>>,
    /// Errors after `error`, counted, not kept.
    later_errors: u64,
}

impl Ctl {
    fn record(&mut self, error: Option<Arc<StoreError>>) {
        let Some(e) = error else { return };
        match &self.error {
            None => self.error = Some(e),
            // The same error reported twice (completing a ticket, then stopping).
            Some(first) if Arc::ptr_eq(first, &e) => {}
            Some(_) => self.later_errors += 1,
        }
    }

    /// The error a stopped flusher answers every request with.
    fn stopped_error(&self) -> StoreError {
        match &self.error {
            Some(e) => StoreError::flusher(e.clone(), self.later_errors),
            None => StoreError::FlusherStopped,
        }
    }
}

/// Flush requests, shutdown and errors between the manager and the flusher thread, and the
/// import queue.
#[derive(Debug, Default)]
pub(crate) struct FlushControl {
    ctl: Mutex<Ctl>,
    wake: Condvar,
    done: Condvar,
    /// Records from `record_event_at`, already stamped, waiting for the flusher.
    imports: Mutex<Vec<u8>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl FlushControl {
    /// Control for a store without a flusher (read-only): every request is refused.
    pub(crate) fn stopped() -> Self {
        let c = Self::default();
        lock(&c.ctl).stopped = true;
        c
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

    /// Flusher: the queued imported records (and an empty queue in their place).
    pub(crate) fn take_imports(&self, spare: Vec<u8>) -> Vec<u8> {
        std::mem::replace(&mut *lock(&self.imports), spare)
    }

    /// Flusher, writer, syncer: every request up to `ticket` is done (with an error, if any:
    /// the first is kept, later ones are counted).
    pub(crate) fn finish_ticket(&self, ticket: u64, error: Option<Arc<StoreError>>) {
        let mut c = lock(&self.ctl);
        c.completed = c.completed.max(ticket);
        c.record(error);
        self.done.notify_all();
    }

    /// Writer, syncer: an error outside any flush (a periodic sync failed), returned by the
    /// next `flush()` (the first is kept, later ones are counted).
    pub(crate) fn report(&self, error: Option<Arc<StoreError>>) {
        lock(&self.ctl).record(error);
    }

    /// Whether `close` (or drop) asked the flusher to stop.
    pub(crate) fn shutting_down(&self) -> bool {
        lock(&self.ctl).shutdown
    }

    /// Flusher: it holds the recorder's rings and runs.
    pub(crate) fn started(&self) {
        lock(&self.ctl).started = true;
        self.done.notify_all();
    }

    /// Flusher: the thread is gone.
    pub(crate) fn stop(&self, error: Option<Arc<StoreError>>) {
        let mut c = lock(&self.ctl);
        c.stopped = true;
        c.record(error);
        self.done.notify_all();
    }

    /// Open: waits until the flusher thread runs (`Ok`) or has stopped (its error).
    pub(crate) fn wait_started(&self) -> Result<()> {
        let mut c = lock(&self.ctl);
        while !c.started && !c.stopped {
            c = self.done.wait(c).unwrap_or_else(|p| p.into_inner());
        }
        if c.stopped {
            // The flusher's own error (e.g. the rings are taken) rather than a wrapper.
            return Err(match c.error.take() {
                Some(e) => Arc::try_unwrap(e).unwrap_or_else(|e| StoreError::flusher(e, 0)),
                None => StoreError::FlusherStopped,
            });
        }
        Ok(())
    }

    /// Close: asks the flusher to drain everything and stop.
    pub(crate) fn request_shutdown(&self) {
        lock(&self.ctl).shutdown = true;
        self.wake.notify_all();
    }

    /// Close, after joining the flusher: its first error, if any.
    pub(crate) fn take_error(&self) -> Option<StoreError> {
        let mut c = lock(&self.ctl);
        let later = std::mem::take(&mut c.later_errors);
        c.error.take().map(|e| StoreError::flusher(e, later))
    }

    /// Refuses if the flusher has stopped.
    pub(crate) fn running(&self) -> Result<()> {
        let c = lock(&self.ctl);
        if c.stopped {
            return Err(c.stopped_error());
        }
        Ok(())
    }

    /// Queues one imported record (`header`, then a payload of `payload_len` bytes written by
    /// `encode`) for the flusher. Returns the bytes queued in all.
    pub(crate) fn queue_import(
        &self,
        header: &EventHeader,
        payload_len: usize,
        encode: impl FnOnce(&mut [u8]) -> std::result::Result<usize, EncodeError>,
    ) -> Result<usize> {
        self.running()?;
        let mut q = lock(&self.imports);
        let start = q.len();
        q.resize(start + FRAMING_LEN + payload_len, 0);
        let mut encoded = Ok(0);
        write_record(&mut q[start..], header, |out| encoded = encode(out));
        match encoded {
            Ok(n) if n == payload_len => Ok(q.len()),
            Ok(n) => {
                q.truncate(start);
                Err(StoreError::EncodedLength {
                    expected: payload_len,
                    actual: n,
                })
            }
            Err(e) => {
                q.truncate(start);
                Err(StoreError::Encode(e))
            }
        }
    }

    /// A flush: asks the flusher for a ticket and waits until it is completed; see
    /// `EventManager::flush` for what a failing disk does to the wait.
    pub(crate) fn flush(&self, health: &WriteShared) -> Result<()> {
        let mut c = lock(&self.ctl);
        if c.stopped {
            return Err(c.stopped_error());
        }
        c.requested += 1;
        let ticket = c.requested;
        self.wake.notify_all();
        let started = Instant::now();
        let window = health.retry_window();
        while c.completed < ticket && !c.stopped {
            c = self
                .done
                .wait_timeout(c, Duration::from_millis(20))
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
            if c.completed < ticket && started.elapsed() >= window && health.failed_since(started) {
                if let Some(e) = health.error() {
                    return Err(e);
                }
            }
        }
        if c.stopped {
            // Stopped: its error stays for every later request.
            if c.completed < ticket || c.error.is_some() {
                return Err(c.stopped_error());
            }
            return Ok(());
        }
        if let Some(e) = c.error.take() {
            let later = std::mem::take(&mut c.later_errors);
            return Err(StoreError::flusher(e, later));
        }
        Ok(())
    }
}

/// Marks the flusher stopped even if it panics, so no `flush()` waits forever.
pub(crate) struct StopGuard(pub(crate) Arc<FlushControl>);

impl Drop for StopGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0
                .stop(Some(Arc::new(StoreError::Panicked { thread: "flusher" })));
        } else {
            self.0.stop(None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panicked(thread: &'static str) -> Option<Arc<StoreError>> {
        Some(Arc::new(StoreError::Panicked { thread }))
    }

    #[test]
    fn the_first_error_is_kept_and_later_ones_are_counted() {
        let c = FlushControl::default();
        c.finish_ticket(1, panicked("writer"));
        c.report(panicked("syncer"));
        c.finish_ticket(2, panicked("indexer"));
        c.finish_ticket(3, None);
        match c.take_error() {
            Some(StoreError::Flusher {
                source,
                later_errors,
            }) => {
                assert!(matches!(*source, StoreError::Panicked { thread: "writer" }));
                assert_eq!(later_errors, 2);
            }
            other => panic!("expected the first error, got {other:?}"),
        }
        // Taken: the count starts again.
        assert!(c.take_error().is_none());
    }

    #[test]
    fn a_stopped_flusher_answers_every_request_with_its_first_error() {
        let c = FlushControl::default();
        let first = panicked("writer");
        c.finish_ticket(1, first.clone());
        // Stopping with the same error does not count it twice.
        c.stop(first);
        for _ in 0..2 {
            match c.running() {
                Err(StoreError::Flusher {
                    source,
                    later_errors: 0,
                }) => assert!(matches!(*source, StoreError::Panicked { thread: "writer" })),
                other => panic!("expected the first error, got {other:?}"),
            }
        }
        let clean = FlushControl::stopped();
        assert!(matches!(clean.running(), Err(StoreError::FlusherStopped)));
    }
}
