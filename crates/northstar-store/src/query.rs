//! Queries: narrow by index, check every block's CRC, filter records, apply visibility, return
//! in timestamp order.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use northstar_core::codec::DecodeError;
use northstar_core::record::{decode_record, RecordView};
use northstar_core::user::FieldValue;
use northstar_core::{Event, EventType, RecordKind, Visibility};

use crate::block::{decode_block_in, BlockView};
use crate::catalog::{BlockBytes, SegRef};
use crate::error::{Result, StoreError};
use crate::format::BLOCK_HEADER_LEN;
use crate::index::{record_sessions, Filter};
use crate::interning::{BlockSchemas, UserSchema};
use crate::report::DamagedRegion;

/// Who is asking: decides which events a query may return.
///
/// "No viewer" (the default, and every tool run without `--viewer`) is the **operator's
/// view**, [`Viewer::System`]: whoever can read the data directory's files can read every
/// event in them, so the store does not pretend otherwise. A viewer sees what one actor may.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Viewer {
    /// Operators and tools: sees every event.
    #[default]
    System,
    /// An actor: sees public events, team events of its team, and its own events. Private
    /// and team events recorded without an actor (actor 0) are visible to no actor, not even
    /// to `Actor { actor_id: 0 }`.
    Actor {
        /// The actor's id.
        actor_id: u64,
    },
}

/// The spec's query: every field narrows the result; empty `event_types` means all types.
#[derive(Clone, Debug, Default)]
pub struct Query {
    /// Accepted types (empty: all).
    pub event_types: Vec<EventType>,
    /// Inclusive lower bound, Unix ns.
    pub start_time: Option<u64>,
    /// Inclusive upper bound, Unix ns.
    pub end_time: Option<u64>,
    /// At most this many events (the earliest ones).
    pub limit: Option<usize>,
    /// Only events of this actor.
    pub actor_id: Option<u64>,
    /// Only events belonging to this session.
    pub session_id: Option<u64>,
    /// Who asks.
    pub viewer: Viewer,
    /// Accepted user-defined event names (`"kv.wal_sync"`). With `event_types`, the union;
    /// both empty: every event, user events included.
    pub user_types: Vec<String>,
    /// Only events with these field values (`name`, value as text: see
    /// [`interning::value_text`](crate::interning::value_text)). A user event's runtime and
    /// constant fields are matched; spec events have no user fields and never match.
    pub fields: Vec<(String, String)>,
}

impl Query {
    pub(crate) fn filter(&self) -> Filter {
        Filter {
            start: self.start_time.unwrap_or(0),
            end: self.end_time.unwrap_or(u64::MAX),
            type_bits: self
                .event_types
                .iter()
                .fold(0u32, |b, t| b | u32::from(t.bit()))
                | if self.user_types.is_empty() && self.fields.is_empty() {
                    0
                } else {
                    crate::format::USER_EVENT_BIT
                },
            actor: self.actor_id,
            session: self.session_id,
        }
    }
}

/// An event copied out of the store (the owned form, for callers that keep results).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    /// `segment_id << 32 | event_seq`: unique, increasing in store order.
    pub event_id: u64,
    /// The type.
    pub event_type: EventType,
    /// Unix nanoseconds.
    pub timestamp: u64,
    /// The actor (0: none).
    pub actor_id: u64,
    /// Who may see it.
    pub visibility: Visibility,
    /// The encoded payload.
    pub payload: Vec<u8>,
    /// A user-defined event's schema (then `event_type` is meaningless: use
    /// [`type_name`](Self::type_name), [`user_fields`](Self::user_fields)).
    pub user: Option<UserSchema>,
}

impl StoredEvent {
    /// Decodes a spec event's payload (borrowing it). A user event is not a spec event:
    /// `BadTag { at: 0, value: 0xE0 }` (read it with [`user_fields`](Self::user_fields)).
    pub fn event(&self) -> Result<Event<'_>, DecodeError> {
        if self.user.is_some() {
            return Err(DecodeError::BadTag {
                at: 0,
                value: northstar_core::user::USER_TYPE_BYTE,
            });
        }
        Event::decode(self.event_type, &self.payload)
    }

    /// The spec type's name, or the user event's name.
    pub fn type_name(&self) -> &str {
        match &self.user {
            Some(u) => u.name(),
            None => self.event_type.name(),
        }
    }

    /// A user event's runtime fields, in order (`None` for a spec event).
    pub fn user_fields(&self) -> Option<Vec<(&str, FieldValue<'_>)>> {
        self.user.as_ref().map(|u| u.values(&self.payload))
    }

    pub(crate) fn from_view(segment_id: u32, r: &RecordView<'_>, user: Option<UserSchema>) -> Self {
        Self {
            event_id: event_id(segment_id, r),
            // A user event has no spec type: `user` is set, and `event_type` documented as moot.
            event_type: r.event_type().unwrap_or(EventType::AgentSessionEnded),
            timestamp: r.timestamp(),
            actor_id: r.actor_id(),
            visibility: r.visibility(),
            payload: r.payload().to_vec(),
            user,
        }
    }
}

fn event_id(segment_id: u32, r: &RecordView<'_>) -> u64 {
    (u64::from(segment_id) << 32) | u64::from(r.header().event_seq.get())
}

/// The team directory: which team each actor belongs to.
#[derive(Clone, Debug, Default)]
pub struct Teams(pub HashMap<u64, u64>);

/// Decides visibility for one viewer.
pub(crate) struct Access<'t> {
    viewer: Viewer,
    viewer_team: Option<u64>,
    teams: &'t Teams,
}

impl<'t> Access<'t> {
    pub(crate) fn new(viewer: Viewer, teams: &'t Teams) -> Self {
        let viewer_team = match viewer {
            Viewer::System => None,
            // Actor 0 is "no actor": it has no team, whatever the team file says.
            Viewer::Actor { actor_id: 0 } => None,
            Viewer::Actor { actor_id } => teams.0.get(&actor_id).copied(),
        };
        Self {
            viewer,
            viewer_team,
            teams,
        }
    }

    /// Whether the viewer may see an event of `actor` with `visibility`. Actor 0 means "no
    /// actor": a private or team event recorded without an actor belongs to nobody, so only
    /// the operator's view ([`Viewer::System`]) sees it; viewer 0 is not a wildcard.
    #[inline]
    pub(crate) fn allows(&self, actor: u64, visibility: Visibility) -> bool {
        match self.viewer {
            Viewer::System => true,
            Viewer::Actor { actor_id } => match visibility {
                Visibility::Public => true,
                Visibility::Private => actor != 0 && actor == actor_id,
                Visibility::Team => {
                    actor != 0
                        && (actor == actor_id
                            || (self.viewer_team.is_some()
                                && self.teams.0.get(&actor).copied() == self.viewer_team))
                }
            },
        }
    }
}

/// A block a query read: its checked bytes and where they came from (for error reports).
#[derive(Debug)]
pub(crate) struct FoundBlock {
    pub bytes: BlockBytes,
    pub segment_id: u32,
    pub path: PathBuf,
    pub offset: u64,
}

/// Where a matching record lives (no copy yet).
#[derive(Clone, Debug)]
pub(crate) struct Hit {
    pub timestamp: u64,
    pub event_id: u64,
    pub block: Arc<FoundBlock>,
    pub start: usize,
    /// A user event's schema, resolved in its block.
    pub user: Option<UserSchema>,
}

impl Hit {
    /// The record, viewed in the block's bytes. The block passed its checks when the query
    /// found it; bytes that no longer decode (changed under a mapping by an outside process)
    /// are an error naming the file and offset, never a silently missing event.
    pub(crate) fn with_view<R>(&self, f: impl FnOnce(&RecordView<'_>) -> R) -> Result<R> {
        let b = &self.block;
        let bytes = b.bytes.as_slice().get(self.start..).unwrap_or(&[]);
        match decode_record(bytes) {
            Ok(r) => Ok(f(&r)),
            Err(e) => Err(StoreError::Corrupt {
                path: b.path.clone(),
                offset: b.offset + self.start as u64,
                reason: format!("record changed after its block was checked: {e}"),
            }),
        }
    }

    pub(crate) fn to_owned_event(&self) -> Result<StoredEvent> {
        self.with_view(|r| StoredEvent::from_view(self.block.segment_id, r, self.user.clone()))
    }
}

/// What a query found: matching records, and the blocks it had to skip because they failed
/// their checks (each one may have held matching events).
#[derive(Debug, Default)]
pub(crate) struct Found {
    pub hits: Vec<Hit>,
    pub damaged: Vec<DamagedRegion>,
}

impl Found {
    /// The first damaged block as an error (for the strict query calls).
    pub(crate) fn damage_error(&self) -> Option<StoreError> {
        self.damaged.first().map(damage_error)
    }
}

/// A damaged block as a typed error.
pub(crate) fn damage_error(d: &DamagedRegion) -> StoreError {
    StoreError::Corrupt {
        path: d.path.clone(),
        offset: d.offset,
        reason: d.reason.clone(),
    }
}

/// The result of [`EventManager::query_report`](crate::StoreReader::query_report): every
/// undamaged matching event, and every damaged block the query skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueryOutcome {
    /// The matching events, in timestamp order.
    pub events: Vec<StoredEvent>,
    /// Blocks that failed their checks while querying (their events are not in `events`).
    pub damaged: Vec<DamagedRegion>,
}

/// Finds every visible record matching `q` in `segments`, in (timestamp, event id) order.
/// Blocks that fail their checks are skipped and listed in [`Found::damaged`].
/// `use_index: false` reads every block (for benchmarks and cross-checks of the index).
pub(crate) fn find(
    segments: &[SegRef],
    q: &Query,
    access: &Access<'_>,
    use_index: bool,
) -> Result<Found> {
    let f = q.filter();
    // Candidate blocks, earliest first, so a limited query can stop as soon as no later block
    // can hold an event earlier than the ones it has.
    let mut blocks = Vec::new();
    for seg in segments {
        let index = seg.index();
        if use_index && !index.may_match(&f) {
            continue;
        }
        for entry in index
            .blocks
            .iter()
            .filter(|b| !use_index || f.block_may_match(b))
        {
            blocks.push((entry.min_ts.get(), seg, entry));
        }
    }
    blocks.sort_by_key(|b| b.0);
    let limit = q.limit.filter(|_| use_index);
    let mut hits = Vec::new();
    let mut damaged = Vec::new();
    for (min_ts, seg, entry) in blocks {
        if let Some(n) = limit {
            if n == 0 {
                break;
            }
            if hits.len() >= n {
                hits.sort_unstable_by_key(|h: &Hit| (h.timestamp, h.event_id));
                hits.truncate(n);
                if hits[n - 1].timestamp < min_ts {
                    break;
                }
            }
        }
        let bytes = seg.block(entry)?;
        let mut expanded = Vec::new();
        let view = match decode_block_in(bytes.as_slice(), &mut expanded) {
            Ok(v) => v,
            Err(e) => {
                damaged.push(seg.damaged(entry.offset.get(), u64::from(entry.len.get()), e));
                continue;
            }
        };
        collect_block(
            seg,
            entry,
            &bytes.readable(&view),
            &view,
            q,
            &f,
            access,
            None,
            &mut hits,
            &mut damaged,
        );
    }
    hits.sort_unstable_by_key(|h| (h.timestamp, h.event_id));
    Ok(Found { hits, damaged })
}

/// Collects the records of one checked block that match `q` (and come after store position
/// `after`, when given) into `hits`; user records whose schema cannot be resolved in the
/// block are listed in `damaged`, never decoded with a wrong schema.
#[allow(clippy::too_many_arguments)]
pub(crate) fn collect_block(
    seg: &SegRef,
    entry: &crate::index::BlockEntry,
    bytes: &BlockBytes,
    view: &BlockView<'_>,
    q: &Query,
    f: &Filter,
    access: &Access<'_>,
    after: Option<u64>,
    hits: &mut Vec<Hit>,
    damaged: &mut Vec<DamagedRegion>,
) {
    let mut block: Option<Arc<FoundBlock>> = None;
    let mut off = BLOCK_HEADER_LEN;
    // User events resolve their schema in their own block (crate::interning).
    let schemas = (entry.type_bits.get() & crate::format::USER_EVENT_BIT != 0)
        .then(|| BlockSchemas::of(view));
    for r in view.records() {
        let start = off;
        off += r.bytes().len();
        let id = event_id(seg.id(), &r);
        if after.is_some_and(|a| id <= a) {
            continue;
        }
        let mut user = None;
        match r.kind() {
            RecordKind::Definition => continue,
            RecordKind::User => {
                if !record_matches(&r, f, access) {
                    continue;
                }
                let resolved = match &schemas {
                    Some(s) => s.resolve(&r),
                    None => Err(crate::interning::SchemaError::NoId),
                };
                match resolved {
                    Ok(s) => {
                        if !user_matches(&s, r.payload(), q) {
                            continue;
                        }
                        user = Some(s);
                    }
                    Err(e) => {
                        // Skipped with its reason, never decoded with a wrong schema.
                        damaged.push(seg.damaged(
                            entry.offset.get() + start as u64,
                            r.bytes().len() as u64,
                            e,
                        ));
                        continue;
                    }
                }
            }
            RecordKind::Spec(_) => {
                if !q.fields.is_empty() || (!q.user_types.is_empty() && q.event_types.is_empty()) {
                    continue;
                }
            }
        }
        if user.is_some() || record_matches(&r, f, access) {
            let block = block.get_or_insert_with(|| {
                Arc::new(FoundBlock {
                    bytes: bytes.clone(),
                    segment_id: seg.id(),
                    path: seg.path().to_owned(),
                    offset: entry.offset.get(),
                })
            });
            hits.push(Hit {
                timestamp: r.timestamp(),
                event_id: id,
                block: block.clone(),
                start,
                user,
            });
        }
    }
}

/// A user event against the query's names and field values.
fn user_matches(s: &UserSchema, payload: &[u8], q: &Query) -> bool {
    if !q.user_types.is_empty() && !q.user_types.iter().any(|n| n == s.name()) {
        return false;
    }
    if q.user_types.is_empty() && !q.event_types.is_empty() && q.fields.is_empty() {
        return false;
    }
    q.fields.iter().all(|(k, v)| {
        s.values(payload)
            .iter()
            .any(|(n, x)| n == k && crate::interning::value_text(x) == *v)
            || s.consts().iter().any(|(n, x)| n == k && x == v)
    })
}

/// First and last event id of the records in an indexed block, from its header.
pub(crate) fn block_id_range(
    seg: &SegRef,
    entry: &crate::index::BlockEntry,
) -> Result<Option<(u64, u64)>> {
    let n = entry.record_count.get();
    if n == 0 {
        return Ok(None);
    }
    let bytes = seg.block(entry)?;
    let Ok((h, _)) =
        <crate::format::BlockHeader as zerocopy::FromBytes>::ref_from_prefix(bytes.as_slice())
    else {
        return Ok(None);
    };
    let first = h.first_seq.get();
    let last = first.saturating_add(n - 1);
    let base = u64::from(seg.id()) << 32;
    Ok(Some((base | u64::from(first), base | u64::from(last))))
}

pub(crate) fn record_matches(r: &RecordView<'_>, f: &Filter, access: &Access<'_>) -> bool {
    record_matches_kind(r, r.kind(), f, access)
}

/// [`record_matches`] for a record whose kind the caller already has (the scan's check walk).
#[inline]
pub(crate) fn record_matches_kind(
    r: &RecordView<'_>,
    kind: RecordKind,
    f: &Filter,
    access: &Access<'_>,
) -> bool {
    let ts = r.timestamp();
    if ts < f.start || ts > f.end {
        return false;
    }
    let bit = match kind {
        RecordKind::Spec(t) => u32::from(t.bit()),
        RecordKind::User => crate::format::USER_EVENT_BIT,
        RecordKind::Definition => return false,
    };
    if f.type_bits != 0 && bit & f.type_bits == 0 {
        return false;
    }
    if f.actor.is_some_and(|a| a != r.actor_id()) {
        return false;
    }
    if !access.allows(r.actor_id(), r.visibility()) {
        return false;
    }
    if let Some(s) = f.session {
        let mut found = false;
        record_sessions(r, |x| found |= x == s);
        if !found {
            return false;
        }
    }
    true
}
