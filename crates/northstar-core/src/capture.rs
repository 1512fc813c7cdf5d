//! Capturing what the macros record, for tests: [`capture`] runs a closure and returns the
//! events it recorded, decoded, with no store and no background thread.
//!
//! It drains the global recorder the macros write to (so it fails with
//! [`CaptureError::StoreAttached`] while a store drains it), one capture at a time per process
//! (captures in parallel tests wait for each other). Events that other threads of the process
//! record during the closure are captured too: a test that shares its process with
//! instrumented tests running in parallel filters by name (`Captured::named`).
//!
//! Under `--cfg loom` it works inside `loom::model`: the global recorder is then built afresh
//! in every explored execution (`recorder::GLOBAL_RINGS` rings of `GLOBAL_RING_BYTES`), so a
//! model's assertions on the captured events hold in every interleaving loom explores.

use std::string::String;
#[cfg(not(loom))]
use std::sync::Mutex;
use std::vec::Vec;

use crate::record::{records, RecordKind};
use crate::recorder::Recorder;
use crate::user::{self, FieldValue};
use crate::{Event, Visibility};

#[cfg(not(loom))]
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Why nothing could be captured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptureError {
    /// A store (or another consumer) holds the global recorder's rings.
    StoreAttached,
}

impl core::fmt::Display for CaptureError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("a store drains the global recorder: capture needs its rings")
    }
}

impl std::error::Error for CaptureError {}

/// One captured event: its record bytes, decoded on demand.
#[derive(Clone, Debug)]
pub struct CapturedEvent {
    record: Vec<u8>,
    definition: Option<Vec<u8>>,
}

impl CapturedEvent {
    fn view(&self) -> Option<crate::RecordView<'_>> {
        records(&self.record).next()?.ok()
    }

    /// The spec type's name or the user event's name (`"kv.wal_sync"`).
    pub fn name(&self) -> &str {
        match (&self.definition, self.view().map(|v| v.kind())) {
            (Some(d), _) => user::decode_definition(d).map_or("", |d| d.name),
            (None, Some(RecordKind::Spec(t))) => t.name(),
            _ => "",
        }
    }

    /// A spec event's payload (`None` for a user event).
    pub fn event(&self) -> Option<Event<'_>> {
        self.view()?.event().ok()
    }

    /// A user event's runtime fields, in order (empty for a spec event).
    pub fn fields(&self) -> Vec<(&str, FieldValue<'_>)> {
        let (Some(d), Some(v)) = (&self.definition, self.view()) else {
            return Vec::new();
        };
        match user::decode_definition(d) {
            Ok(def) if user::check_values(&def, v.payload()).is_ok() => {
                user::values(&def, v.payload()).collect()
            }
            _ => Vec::new(),
        }
    }

    /// One field of a user event by name.
    pub fn field(&self, name: &str) -> Option<FieldValue<'_>> {
        self.fields()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }

    /// The actor id.
    pub fn actor_id(&self) -> u64 {
        self.view().map_or(0, |v| v.actor_id())
    }

    /// The visibility.
    pub fn visibility(&self) -> Visibility {
        self.view().map_or(Visibility::Public, |v| v.visibility())
    }
}

/// What a closure recorded, in recording order per thread.
#[derive(Clone, Debug, Default)]
pub struct Captured {
    /// Every event, decoded on demand.
    pub events: Vec<CapturedEvent>,
    /// Events dropped or refused during the capture (a full ring, limits).
    pub lost: u64,
}

impl Captured {
    /// The events with this name.
    pub fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a CapturedEvent> + 'a {
        self.events.iter().filter(move |e| e.name() == name)
    }

    /// The names of every event, in order.
    pub fn names(&self) -> Vec<String> {
        self.events.iter().map(|e| String::from(e.name())).collect()
    }
}

/// Runs `f` and returns its result with every event the macros recorded meanwhile, decoded.
pub fn capture<R>(f: impl FnOnce() -> R) -> Result<(R, Captured), CaptureError> {
    // Under loom every explored execution has its own global recorder, and a std mutex held
    // across the closure would block the one OS thread loom runs the model's threads on: a
    // second capture in one model fails with `StoreAttached` instead of waiting.
    #[cfg(not(loom))]
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let recorder = Recorder::global();
    let mut drainer = recorder.drainer().ok_or(CaptureError::StoreAttached)?;
    // What was recorded before the capture is not the closure's.
    drainer.drain(usize::MAX, |_, _| {});
    let lost_before = recorder.counters().lost();
    let out = f();
    let mut captured = Captured::default();
    let mut expanded = Vec::new();
    drainer.drain(usize::MAX, |_, bytes| {
        // An interned `perf_sample!`/`operation!` record is captured as the standard record it
        // stands for (what a store would keep); one that cannot be expanded is kept as is.
        let bytes = match crate::interned::Interned::parse(bytes) {
            Ok(i) => {
                expanded.resize(i.record_len(), 0);
                // An operation's duration: its start and end ticks at the clock's rate.
                match i.write_record(&mut expanded, |t| {
                    crate::clock::Clock::ticks_to_nanos(recorder.clock(), t)
                }) {
                    Ok(n) => &expanded[..n],
                    Err(_) => bytes,
                }
            }
            Err(_) => bytes,
        };
        let definition = records(bytes)
            .next()
            .and_then(Result::ok)
            .filter(|v| v.kind() == RecordKind::User)
            .and_then(|v| user::lookup(user::record_schema_id(v.payload()).ok()?))
            .map(|s| {
                let mut d = std::vec![0u8; user::definition_len(&s)];
                let _ = user::encode_definition(&s, &mut d);
                d
            });
        captured.events.push(CapturedEvent {
            record: bytes.to_vec(),
            definition,
        });
    });
    captured.lost = recorder.counters().lost() - lost_before;
    Ok((out, captured))
}
