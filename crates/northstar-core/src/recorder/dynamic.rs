//! Recording a user event whose values are written by the caller (bridges whose field types
//! are known only at run time: `crate::user::dynamic`).

use super::{RecordError, Recorder};
use crate::codec::Writer;
use crate::event_type::Visibility;
use crate::ring::Refusal;

impl Recorder {
    /// Records a user event of schema `schema_id` (from [`crate::user::dynamic::register`])
    /// whose values, exactly `values_len` bytes, are written by `fill` straight into the ring.
    /// The same limits, counters and hot-path rules as [`Recorder::record_user`]: no lock, no
    /// allocation, no system call. `fill` must write exactly `values_len` bytes matching the
    /// schema's types; a `fill` that writes fewer or more leaves a record that fails its own
    /// decode (the store reports it as damage) rather than corrupting the ring.
    #[inline(always)]
    pub fn record_user_dyn(
        &self,
        schema_id: u32,
        actor_id: u64,
        visibility: Visibility,
        values_len: usize,
        fill: impl FnOnce(&mut Writer<'_>),
    ) -> Result<(), RecordError> {
        let producer = self.producer()?;
        self.push_user(producer, schema_id, actor_id, visibility, values_len, fill)
    }

    /// Counts a refusal on the calling thread's ring without returning an error (a bridge that
    /// cannot record an event, e.g. its schema table is full, counts it as oversize).
    pub fn count_refusal(&self, refusal: Refusal) {
        if let Ok(mut p) = self.producer() {
            p.count(refusal);
        }
    }
}
