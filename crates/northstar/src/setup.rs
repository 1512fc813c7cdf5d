//! `init`, its builder, and the guard that stores everything when it is dropped.

use std::path::{Path, PathBuf};
#[cfg(not(feature = "off"))]
use std::sync::Once;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[cfg(not(feature = "off"))]
use northstar_core::recorder::Recorder;
use northstar_core::recorder::RecorderConfig;
use northstar_core::Counters;
use northstar_store::{EventManager, FsyncPolicy, StoreConfig, StoreError};

/// The store the exit handler flushes: the one the live guard owns.
static ACTIVE: Mutex<Option<Arc<EventManager>>> = Mutex::new(None);
#[cfg(not(feature = "off"))]
static EXIT_HANDLER: Once = Once::new();

/// Opens (or creates) the store in `dir`, draining the global recorder the macros write to,
/// with the default settings ([`Builder`] changes them). Keep the returned guard alive for as
/// long as the program records: dropping it stores everything and closes the store.
///
/// Fails if `dir` cannot be created or locked (another process writes it), or if a store
/// already drains the global recorder (one `init` at a time per process).
pub fn init(dir: impl AsRef<Path>) -> Result<Guard, StoreError> {
    Builder::new(dir).init()
}

/// Settings for [`init`]: defaults are the spec's (64 MiB segments, 7 days of retention,
/// fsync at most every second, blocks cut every 10 ms).
#[derive(Clone, Debug)]
#[must_use = "call .init() to open the store"]
pub struct Builder {
    dir: PathBuf,
    config: StoreConfig,
    recorder: Option<RecorderConfig>,
}

impl Builder {
    /// Settings for a store in `dir`.
    pub fn new(dir: impl AsRef<Path>) -> Self {
        Self {
            dir: dir.as_ref().to_owned(),
            config: StoreConfig::default(),
            recorder: None,
        }
    }

    /// When written blocks are made durable (see the crate docs for what each policy keeps
    /// after a power loss).
    pub fn fsync(mut self, policy: FsyncPolicy) -> Self {
        self.config.fsync = policy;
        self
    }

    /// Longest a drained event waits in memory before it is written (10 ms).
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.config.flush_interval = interval;
        self
    }

    /// How long events are kept by `compact` (7 days).
    pub fn retention(mut self, retention: Duration) -> Self {
        self.config.retention = retention;
        self
    }

    /// Roll segments at this size (64 MiB).
    pub fn segment_max_bytes(mut self, bytes: u64) -> Self {
        self.config.segment_max_bytes = bytes;
        self
    }

    /// Size of the global recorder's rings. Only takes effect if nothing has recorded yet
    /// (the built-in global recorder, a `static` of 32 rings of 32 MiB, is replaced by one of
    /// this size); otherwise `init` fails with [`StoreError::Recorder`] rather than silently
    /// ignoring it.
    pub fn recorder(mut self, config: RecorderConfig) -> Self {
        self.recorder = Some(config);
        self
    }

    /// Instrumentation is off: opens nothing, and no recorder code is compiled in.
    #[cfg(feature = "off")]
    pub fn init(self) -> Result<Guard, StoreError> {
        let _ = (self.dir, self.config, self.recorder);
        Ok(Guard { store: None })
    }

    /// Opens the store; see [`init`].
    #[cfg(not(feature = "off"))]
    pub fn init(self) -> Result<Guard, StoreError> {
        // Held across the open: two racing `init`s cannot both start a flusher on the global
        // recorder (the second flusher would find the rings taken only after `open` returned).
        let mut active = ACTIVE.lock().unwrap_or_else(|p| p.into_inner());
        if active.is_some() {
            // One northstar::init at a time: drop or close the first guard first.
            return Err(StoreError::RecorderTaken);
        }
        if let Some(rc) = self.recorder {
            Recorder::configure_global(rc).map_err(StoreError::Recorder)?;
        }
        let mut config = self.config;
        config.recorder = Some(Recorder::global().clone());
        let store = Arc::new(EventManager::open(&self.dir, config)?);
        *active = Some(store.clone());
        drop(active);
        EXIT_HANDLER.call_once(install_exit_handler);
        Ok(Guard { store: Some(store) })
    }
}

#[cfg(not(feature = "off"))]
fn install_exit_handler() {
    #[cfg(unix)]
    // SAFETY: `flush_at_exit` is an `extern "C" fn()` that does not unwind: it catches every
    // panic of the flush it runs.
    unsafe {
        libc::atexit(flush_at_exit);
    }
}

/// Runs at `exit` (also when `main` returns, after the guard in `main` was dropped): flushes
/// the store a live guard still owns, e.g. when the program calls `std::process::exit`.
#[cfg(all(unix, not(feature = "off")))]
extern "C" fn flush_at_exit() {
    let _ = std::panic::catch_unwind(|| {
        // try_lock: never wait at exit on a guard being dropped by another thread.
        let store = match ACTIVE.try_lock() {
            Ok(g) => g.clone(),
            Err(_) => None,
        };
        if let Some(store) = store {
            if let Err(e) = store.flush() {
                eprintln!("northstar: flushing the store at exit failed: {e}");
            }
        }
    });
}

/// Keeps the store open; dropping it (also while a panic unwinds) drains every ring, writes
/// the last block, seals the segment and syncs it, then closes the store.
///
/// Bind it to a named variable (`let _northstar = northstar::init(dir)?;`): `let _ = ...`
/// drops it at once.
#[must_use = "the store closes when the guard is dropped: bind it, e.g. `let _northstar = northstar::init(dir)?;`"]
pub struct Guard {
    store: Option<Arc<EventManager>>,
}

/// What a closed store saw, from the global recorder's counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Report {
    /// Events the macros wrote into the rings (all were stored by the time `close` returned).
    pub recorded: u64,
    /// Events dropped (ring full, no ring) or refused (size, rate, sampling); each stored
    /// block says how many were lost before it.
    pub lost: u64,
}

impl Report {
    fn from(c: Counters) -> Self {
        Self {
            recorded: c.pushed,
            lost: c.lost(),
        }
    }
}

impl Guard {
    /// The store (queries, stats, `flush`, `compact`); `None` with the `off` feature.
    pub fn store(&self) -> Option<&EventManager> {
        self.store.as_deref()
    }

    /// Returns once every event recorded before the call is written (and synced unless the
    /// policy is `FsyncPolicy::None`).
    pub fn flush(&self) -> Result<(), StoreError> {
        match &self.store {
            Some(s) => s.flush(),
            None => Ok(()),
        }
    }

    /// Stores everything and closes the store, returning its errors (`Drop` only prints them).
    pub fn close(mut self) -> Result<Report, StoreError> {
        self.shut()
    }

    fn shut(&mut self) -> Result<Report, StoreError> {
        let Some(store) = self.store.take() else {
            return Ok(Report::from(Counters::default()));
        };
        {
            let mut active = ACTIVE.lock().unwrap_or_else(|p| p.into_inner());
            if active.as_ref().is_some_and(|a| Arc::ptr_eq(a, &store)) {
                *active = None;
            }
        }
        #[cfg(not(feature = "off"))]
        let counters = Recorder::global().counters();
        #[cfg(feature = "off")]
        let counters = Counters::default();
        match Arc::try_unwrap(store) {
            Ok(store) => store.close()?,
            // The exit handler holds a clone for the length of a flush: flush too.
            Err(store) => store.flush()?,
        }
        Ok(Report::from(counters))
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Err(e) = self.shut() {
            eprintln!("northstar: closing the store failed: {e}");
        }
    }
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("dir", &self.store.as_ref().map(|s| s.dir().to_owned()))
            .finish()
    }
}
