//! User-event definitions in stored blocks: the write side (the flusher's and compaction's
//! hooks) and the read side (resolving a user record's schema in its block).
//!
//! A user event's record carries only its schema id and its values. The id is the writing
//! process's call-site id (`northstar_core::user`): meaningless to another process. So every
//! **block** that holds a user event also holds a definition record (type byte `0xE1`) of its
//! schema, written just before the block's first record of that schema. A block therefore
//! decodes on its own, whatever else is lost: another block's damage, a rotated or retained
//! segment, a query that skips to one block through the index. The cost is one definition
//! (the name, field names and types: tens of bytes) per schema per block of up to 256 KiB.
//!
//! Definitions are not events: they are not counted in a block's `record_count`, have no type
//! bit in the index, and every reader skips them.

use std::collections::HashMap;
use std::sync::Arc;

use northstar_core::record::{write_record, EventHeader, RecordKind, RecordView, FRAMING_LEN};
use northstar_core::user::{self, Definition, FieldValue, DEFINITION_TYPE_BYTE};
use northstar_core::Visibility;

use crate::block::{BlockBuilder, BlockError, BlockView};

pub use crate::format::USER_EVENT_BIT;

/// Where the writer finds a schema's definition.
#[derive(Debug)]
enum Source {
    /// The flusher: this process's call-site table.
    Process,
    /// Compaction: the definitions read from the segment being rewritten.
    Carried(HashMap<u32, Vec<u8>>),
}

/// The write side: which schemas the open block has defined.
#[derive(Debug)]
pub(crate) struct BlockDefinitions {
    source: Source,
    defined: Vec<u32>,
    scratch: Vec<u8>,
    payload: Vec<u8>,
    skipped: u64,
}

impl BlockDefinitions {
    /// For the flusher: definitions come from the process's call-site table.
    pub(crate) fn for_process() -> Self {
        Self::new(Source::Process)
    }

    /// For compaction: definitions come from the segment being rewritten ([`carry`]).
    ///
    /// [`carry`]: Self::carry
    pub(crate) fn for_rewrite() -> Self {
        Self::new(Source::Carried(HashMap::new()))
    }

    fn new(source: Source) -> Self {
        Self {
            source,
            defined: Vec::new(),
            scratch: Vec::new(),
            payload: Vec::new(),
            skipped: 0,
        }
    }

    /// HOOK (compaction): remembers the definitions of an old block, so its kept user
    /// records can be re-blocked with them. Ids are the writing process's, consistent across
    /// one segment (one writer), so a definition carries to every later block of the segment.
    pub(crate) fn carry(&mut self, block: &BlockView<'_>) {
        let Source::Carried(map) = &mut self.source else {
            return;
        };
        for r in block.records() {
            if r.kind() == RecordKind::Definition {
                if let Ok(d) = user::decode_definition(r.payload()) {
                    map.insert(d.id, r.payload().to_vec());
                }
            }
        }
    }

    /// HOOK (flusher record copy, compaction re-blocking): call before `record` goes into
    /// `builder`. Writes the definition of a user record's schema first if the block has
    /// not got it yet. `Ok(true)`: push the record. `Ok(false)`: skip it (a definition from
    /// a ring, or a schema nobody can define: counted, see [`take_skipped`]).
    ///
    /// [`take_skipped`]: Self::take_skipped
    pub(crate) fn before_record(
        &mut self,
        builder: &mut BlockBuilder,
        record: &RecordView<'_>,
        unix_ts: u64,
        seq: u32,
    ) -> Result<bool, BlockError> {
        match record.kind() {
            RecordKind::Spec(_) => return Ok(true),
            // Re-emitted as needed, never copied (compaction), never from a ring.
            RecordKind::Definition => return Ok(false),
            RecordKind::User => {}
        }
        let Ok(id) = user::record_schema_id(record.payload()) else {
            self.skipped += 1;
            return Ok(false);
        };
        if self.defined.contains(&id) {
            return Ok(true);
        }
        self.payload.clear();
        match &self.source {
            Source::Process => {
                let Some(schema) = user::lookup(id) else {
                    self.skipped += 1;
                    return Ok(false);
                };
                self.payload.resize(user::definition_len(&schema), 0);
                if user::encode_definition(&schema, &mut self.payload).is_err() {
                    self.skipped += 1;
                    return Ok(false);
                }
            }
            Source::Carried(map) => match map.get(&id) {
                Some(p) => self.payload.extend_from_slice(p),
                None => {
                    self.skipped += 1;
                    return Ok(false);
                }
            },
        }
        frame_definition(
            DEFINITION_TYPE_BYTE,
            &self.payload,
            unix_ts,
            seq,
            &mut self.scratch,
        );
        builder.push(&self.scratch, unix_ts, seq)?;
        self.defined.push(id);
        Ok(true)
    }

    /// HOOK (block cut): the next block starts with no definitions.
    pub(crate) fn block_cut(&mut self) {
        self.defined.clear();
    }

    /// User records skipped since the last call (added to the next block's drop count).
    pub(crate) fn take_skipped(&mut self) -> u64 {
        std::mem::take(&mut self.skipped)
    }
}

/// Frames `payload` into `out` as a definition record of `type_byte` (a user event's schema,
/// or an interned call site: `crate::block_sites`): public, no actor, stamped like the record
/// it precedes. Not an event.
pub(crate) fn frame_definition(
    type_byte: u8,
    payload: &[u8],
    unix_ts: u64,
    seq: u32,
    out: &mut Vec<u8>,
) {
    let header = EventHeader::with_type_byte(
        type_byte,
        Visibility::Public,
        unix_ts,
        0,
        seq,
        payload.len(),
    );
    out.clear();
    out.resize(FRAMING_LEN + payload.len(), 0);
    write_record(out, &header, |dst| dst.copy_from_slice(payload));
}

// ------------------------------------------------------------------------------ read side

/// Why a user record cannot be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// The record's payload is too short to hold a schema id.
    #[error("user event without a schema id")]
    NoId,
    /// Its block holds no definition of its schema id.
    #[error("user event of schema {0} has no definition in its block")]
    Missing(u32),
    /// The values do not match the definition.
    #[error("user event does not match its schema {id} ({name}): {reason}")]
    Mismatch {
        /// Schema id.
        id: u32,
        /// Event name in the definition.
        name: String,
        /// What did not match.
        reason: String,
    },
}

/// The definitions of one block, decoded from its definition records.
#[derive(Debug, Default)]
pub struct BlockSchemas<'a> {
    defs: Vec<(Definition<'a>, &'a [u8])>,
    /// Definition records that failed to decode (reported as damage by `verify`).
    pub bad: Vec<String>,
}

impl<'a> BlockSchemas<'a> {
    /// Reads every definition record of `block`.
    pub fn of(block: &BlockView<'a>) -> Self {
        let mut s = Self::default();
        for r in block.records() {
            if r.kind() == RecordKind::Definition {
                match user::decode_definition(r.payload()) {
                    Ok(d) => s.defs.push((d, r.payload())),
                    Err(e) => s.bad.push(format!("bad definition record: {e}")),
                }
            }
        }
        s
    }

    /// The checked schema of a user record.
    pub fn resolve(&self, r: &RecordView<'_>) -> Result<UserSchema, SchemaError> {
        let (def, bytes) = self.find(r)?;
        Ok(UserSchema(Arc::from(*bytes), def.id))
    }

    /// Its name, if it resolves and matches (for filters: no copy).
    pub fn name_of(&self, r: &RecordView<'_>) -> Result<&'a str, SchemaError> {
        self.find(r).map(|(d, _)| d.name)
    }

    fn find(&self, r: &RecordView<'_>) -> Result<&(Definition<'a>, &'a [u8]), SchemaError> {
        let id = user::record_schema_id(r.payload()).map_err(|_| SchemaError::NoId)?;
        let found = self
            .defs
            .iter()
            .find(|(d, _)| d.id == id)
            .ok_or(SchemaError::Missing(id))?;
        user::check_values(&found.0, r.payload()).map_err(|e| SchemaError::Mismatch {
            id,
            name: found.0.name.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(found)
    }

    /// Whether the block has no definitions.
    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }
}

/// A user event's schema, owned (a copy of its definition record's payload).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserSchema(Arc<[u8]>, u32);

impl UserSchema {
    /// The decoded definition (checked when the schema was resolved; an empty one if the
    /// bytes were somehow not a definition, never a panic).
    pub fn definition(&self) -> Definition<'_> {
        user::decode_definition(&self.0).unwrap_or(Definition {
            id: self.1,
            name: "",
            fields: user::DefFields::EMPTY,
            consts: user::DefConsts::EMPTY,
        })
    }

    /// The event name.
    pub fn name(&self) -> &str {
        self.definition().name
    }

    /// The values of a payload of this schema, with their field names.
    pub fn values<'p>(&'p self, payload: &'p [u8]) -> Vec<(&'p str, FieldValue<'p>)> {
        let def = self.definition();
        user::values(&def, payload).collect()
    }

    /// The constant fields (`unit = static "ns"`).
    pub fn consts(&self) -> Vec<(&str, &str)> {
        self.definition().consts.iter().collect()
    }
}

/// A field value as text (for filters and tables): integers in decimal, floats as Rust
/// prints them, bytes in hex, an absent optional as `-`.
pub fn value_text(v: &FieldValue<'_>) -> String {
    match v {
        FieldValue::U64(x) | FieldValue::DurationNs(x) => x.to_string(),
        FieldValue::I64(x) => x.to_string(),
        FieldValue::F64(x) => x.to_string(),
        FieldValue::Bool(b) => b.to_string(),
        FieldValue::Str(s) => (*s).to_owned(),
        FieldValue::Bytes(b) => b.iter().map(|x| format!("{x:02x}")).collect(),
        FieldValue::None => "-".into(),
    }
}

/// Every user record of a block that cannot be decoded, and every bad definition:
/// `(offset in the block, length, reason)`. `verify` reports each as damage.
pub fn check_block(view: &BlockView<'_>) -> Vec<(u64, u64, String)> {
    let mut out = Vec::new();
    let schemas = BlockSchemas::of(view);
    let mut off = crate::format::BLOCK_HEADER_LEN as u64;
    for r in view.records() {
        let len = r.bytes().len() as u64;
        match r.kind() {
            RecordKind::User => {
                if let Err(e) = schemas.resolve(&r) {
                    out.push((off, len, e.to_string()));
                }
            }
            RecordKind::Definition => {
                if let Err(e) = user::decode_definition(r.payload()) {
                    out.push((off, len, format!("bad definition record: {e}")));
                }
            }
            RecordKind::Spec(_) => {}
        }
        off += len;
    }
    out
}

/// Events per user-defined type name over `segments`, most frequent first (`stats`).
/// Reads only blocks whose index entry has the user-event bit; damaged blocks are skipped
/// (`verify` reports them).
pub(crate) fn count_user_types(
    segments: &[crate::catalog::SegRef],
) -> crate::error::Result<Vec<(String, u64)>> {
    let mut counts: HashMap<String, u64> = HashMap::new();
    for seg in segments {
        let index = seg.index();
        if index.type_bits & USER_EVENT_BIT == 0 {
            continue;
        }
        for entry in index
            .blocks
            .iter()
            .filter(|b| b.type_bits.get() & USER_EVENT_BIT != 0)
        {
            let bytes = seg.block(entry)?;
            let mut expanded = Vec::new();
            let Ok(view) = crate::block::decode_block_in(bytes.as_slice(), &mut expanded) else {
                continue;
            };
            let schemas = BlockSchemas::of(&view);
            for r in view.records() {
                if r.kind() == RecordKind::User {
                    if let Ok(name) = schemas.name_of(&r) {
                        match counts.get_mut(name) {
                            Some(n) => *n += 1,
                            None => {
                                counts.insert(name.to_owned(), 1);
                            }
                        }
                    }
                }
            }
        }
    }
    let mut v: Vec<_> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(v)
}
