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

    /// [`Recorder::record_user_dyn`] with a timestamp the caller already read with
    /// [`Recorder::now_ticks`], for a bridge that needs the same instant for something else
    /// (the start of a span and its begin record: one clock read instead of two). Same limits,
    /// counters and hot-path rules.
    #[inline(always)]
    pub fn record_user_dyn_at(
        &self,
        ticks: u64,
        schema_id: u32,
        actor_id: u64,
        visibility: Visibility,
        values_len: usize,
        fill: impl FnOnce(&mut Writer<'_>),
    ) -> Result<(), RecordError> {
        let mut producer = self.producer()?;
        let inner = self.inner();
        if !inner.sampler.keeps_all() && !self.sample() {
            producer.count(Refusal::SampledOut);
            return Err(RecordError::Refused(Refusal::SampledOut));
        }
        let len = 4 + values_len;
        if !inner.payload_limit.allows(len) || len > crate::record::MAX_PAYLOAD_LEN {
            producer.count(Refusal::Oversize);
            return Err(RecordError::Refused(Refusal::Oversize));
        }
        let header = crate::record::EventHeader::with_type_byte(
            crate::user::USER_TYPE_BYTE,
            visibility,
            ticks,
            actor_id,
            0,
            len,
        );
        producer
            .push_with(crate::record::FRAMING_LEN + len, |out| {
                crate::record::write_record(out, &header, |dst| {
                    let mut w = Writer::new(dst);
                    w.put(&schema_id.to_le_bytes());
                    fill(&mut w);
                })
            })
            .map_err(RecordError::from)
    }
}
