//! Following a store: its end position and the events stored after a position, in store
//! order (`northstar tail`, [`StoreReader::query_after`](crate::StoreReader::query_after)).

use crate::block::decode_block_in;
use crate::catalog::SegRef;
use crate::error::Result;
use crate::query::{block_id_range, collect_block, Access, Found, Query};

/// The store position at the end of `segments`: the highest event id stored (`None`: no
/// event yet).
pub(crate) fn end_position(segments: &[SegRef]) -> Result<Option<u64>> {
    for seg in segments.iter().rev() {
        for entry in seg.index().blocks.iter().rev() {
            if let Some((_, last)) = block_id_range(seg, entry)? {
                return Ok(Some(last));
            }
        }
    }
    Ok(None)
}

/// Every visible record matching `q` stored after position `after` (an event id; `None`: from
/// the start), in store order (event id order), whatever their timestamps: how a follower
/// (`northstar tail`) reads new events. The time filter of `q` still applies to each record;
/// `q.limit` is ignored.
pub(crate) fn find_after(
    segments: &[SegRef],
    q: &Query,
    access: &Access<'_>,
    after: Option<u64>,
) -> Result<Found> {
    let f = q.filter();
    let mut hits = Vec::new();
    let mut damaged = Vec::new();
    for seg in segments {
        if after.is_some_and(|a| u64::from(seg.id()) < a >> 32) || !seg.index().may_match(&f) {
            continue;
        }
        for entry in &seg.index().blocks {
            if !f.block_may_match(entry) {
                continue;
            }
            if let Some(a) = after {
                if u64::from(seg.id()) == a >> 32 {
                    match block_id_range(seg, entry)? {
                        Some((_, last)) if last > a => {}
                        _ => continue,
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
                after,
                &mut hits,
                &mut damaged,
            );
        }
    }
    hits.sort_unstable_by_key(|h| h.event_id);
    Ok(Found { hits, damaged })
}
