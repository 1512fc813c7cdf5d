//! The flusher's side of interned call sites on disk (`crate::sites` has the format and the
//! readers' expansion): each block defines, once, every site its compact records use.

use northstar_core::__private::interned::{Interned, SITE_DEFINITION_TYPE_BYTE};
use northstar_core::record::FRAMING_LEN;

use crate::block::{BlockBuilder, BlockError};
use crate::interning::frame_definition;
use crate::sites::{encode_definition, MAX_EXPANSION};

/// The flusher's side: which sites the open block has defined, and the buffers to write a
/// definition and a compact record.
#[derive(Debug, Default)]
pub(crate) struct BlockSites {
    defined: Vec<u32>,
    payload: Vec<u8>,
    scratch: Vec<u8>,
}

impl BlockSites {
    /// Stores `record` (a checked ring record stamped `unix_ts`, sequence `seq`) in `builder`
    /// in its compact form, after its site's definition if the block has not got it. Returns
    /// `Ok(false)`, storing nothing, when the block's expanded body would then exceed
    /// [`MAX_EXPANSION`] times its stored body: the caller stores the standard record instead.
    pub(crate) fn push(
        &mut self,
        builder: &mut BlockBuilder,
        record: &Interned<'_>,
        unix_ts: u64,
        seq: u32,
        ticks_to_nanos: impl FnOnce(u64) -> u64,
    ) -> Result<bool, BlockError> {
        let id = record.site_id();
        let defined = self.defined.contains(&id);
        if !defined {
            encode_definition(id, record.site_meta(), &mut self.payload);
        }
        let definition_len = if defined {
            0
        } else {
            FRAMING_LEN + self.payload.len()
        };
        let stored = builder.body_len() + definition_len + record.stored_len();
        let expanded = builder.expanded_len() + record.record_len();
        if expanded > MAX_EXPANSION.saturating_mul(stored) {
            return Ok(false);
        }
        if !defined {
            frame_definition(
                SITE_DEFINITION_TYPE_BYTE,
                &self.payload,
                unix_ts,
                seq,
                &mut self.scratch,
            );
            builder.push_site_definition(&self.scratch, unix_ts, seq)?;
            self.defined.push(id);
        }
        builder.push_stored_interned(record, ticks_to_nanos, unix_ts, seq)?;
        Ok(true)
    }

    /// HOOK (block cut): the next block defines its own sites.
    pub(crate) fn block_cut(&mut self) {
        self.defined.clear();
    }
}
