//! Store-wide numbers ([`StoreStats`]): segments, bytes, events per type, drops.

use std::path::Path;

use northstar_core::{EventType, RecordKind};

use crate::block::decode_block_in;
use crate::catalog::SegRef;
use crate::error::Result;
use crate::query::{Access, Viewer};
use crate::report::DamagedRegion;
use crate::teams::TeamDirectory;

/// Store-wide numbers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Segment files (sealed and active).
    pub segments: usize,
    /// Bytes in them.
    pub bytes: u64,
    /// Events stored.
    pub events: u64,
    /// Earliest event timestamp.
    pub min_ts: Option<u64>,
    /// Latest event timestamp.
    pub max_ts: Option<u64>,
    /// Events per type (types with none omitted).
    pub per_type: Vec<(EventType, u64)>,
    /// Events the rings dropped or refused, as recorded in blocks.
    pub dropped: u64,
    /// Where drops happened: `(from_ts, to_ts, count)`: `count` events lost between the
    /// previous block and this one.
    pub drops: Vec<(u64, u64, u64)>,
    /// The drop counts stored in blocks add up to more than `u64::MAX`: `dropped` is
    /// `u64::MAX`, a floor (blocks claiming such counts are suspect).
    pub dropped_saturated: bool,
    /// Damaged bytes removed earlier (truncated tails, regions compaction left out), from the
    /// store's damage log.
    pub damage_logged: Vec<crate::damage_log::LoggedDamage>,
    /// Blocks skipped while counting a viewer's events (see
    /// [`StoreReader::stats_for`](crate::StoreReader::stats_for)): their events are not counted.
    pub damaged: Vec<DamagedRegion>,
}

/// The stats of `segments` as `viewer` may see them (see `StoreReader::stats_for`).
pub(crate) fn stats_for(
    segments: &[SegRef],
    teams: &TeamDirectory,
    dir: &Path,
    viewer: &Viewer,
) -> Result<StoreStats> {
    let mut s = StoreStats::default();
    let mut per_type = [0u64; EventType::COUNT];
    for seg in segments {
        let idx = seg.index();
        s.segments += 1;
        s.bytes += idx.segment_len;
        s.events += idx.record_count;
        match s.dropped.checked_add(idx.dropped) {
            Some(d) => s.dropped = d,
            None => {
                s.dropped = u64::MAX;
                s.dropped_saturated = true;
            }
        }
        if idx.dropped == u64::MAX {
            // The index saturated its own sum.
            s.dropped_saturated = true;
        }
        if idx.record_count > 0 {
            s.min_ts = Some(s.min_ts.map_or(idx.min_ts, |m| m.min(idx.min_ts)));
            s.max_ts = Some(s.max_ts.map_or(idx.max_ts, |m| m.max(idx.max_ts)));
        }
        for (acc, n) in per_type.iter_mut().zip(idx.per_type) {
            *acc += n;
        }
        s.drops
            .extend(crate::drops::drop_ranges(idx.created_unix_ns, &idx.blocks));
    }
    if let Viewer::Actor { .. } = viewer {
        let teams = teams.read();
        let access = Access::new(*viewer, &teams);
        let v = count_visible(segments, &access)?;
        s.events = v.events;
        s.min_ts = v.min_ts;
        s.max_ts = v.max_ts;
        per_type = v.per_type;
        s.damaged = v.damaged;
    }
    s.per_type = EventType::ALL
        .into_iter()
        .zip(per_type)
        .filter(|(_, n)| *n > 0)
        .collect();
    s.damage_logged = crate::damage_log::read(dir).0;
    Ok(s)
}

/// What [`count_visible`] found.
#[derive(Debug, Default)]
pub(crate) struct VisibleCounts {
    pub events: u64,
    pub per_type: [u64; EventType::COUNT],
    /// Visible user-defined events (all names together).
    pub user_events: u64,
    pub min_ts: Option<u64>,
    pub max_ts: Option<u64>,
    pub damaged: Vec<DamagedRegion>,
}

/// Counts the events of `segments` that `access` allows, reading and checking every block
/// (no record is copied); damaged blocks are listed, not counted.
pub(crate) fn count_visible(segments: &[SegRef], access: &Access<'_>) -> Result<VisibleCounts> {
    let mut c = VisibleCounts::default();
    for seg in segments {
        for entry in &seg.index().blocks {
            if entry.record_count.get() == 0 {
                continue;
            }
            let bytes = seg.block(entry)?;
            let mut expanded = Vec::new();
            let view = match decode_block_in(bytes.as_slice(), &mut expanded) {
                Ok(v) => v,
                Err(e) => {
                    c.damaged
                        .push(seg.damaged(entry.offset.get(), u64::from(entry.len.get()), e));
                    continue;
                }
            };
            for r in view.records() {
                let spec = match r.kind() {
                    RecordKind::Definition => continue,
                    RecordKind::Spec(t) => Some(t),
                    RecordKind::User => None,
                };
                if !access.allows(r.actor_id(), r.visibility()) {
                    continue;
                }
                let ts = r.timestamp();
                c.events += 1;
                match spec {
                    Some(t) => c.per_type[t.index()] += 1,
                    None => c.user_events += 1,
                }
                c.min_ts = Some(c.min_ts.map_or(ts, |m| m.min(ts)));
                c.max_ts = Some(c.max_ts.map_or(ts, |m| m.max(ts)));
            }
        }
    }
    Ok(c)
}
