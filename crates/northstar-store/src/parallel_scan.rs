//! Whole-store scans that use the machine: blocks of every segment checked (CRC-32C, record
//! framing) and visited on several threads at once, records handed out in place (their
//! payloads decoded only if the visitor asks), in store order within each block.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use northstar_core::record::RecordView;

use crate::block::decode_block_each;
use crate::catalog::SegRef;
use crate::error::{Result, StoreError};
use crate::index::BlockEntry;
use crate::query::{record_matches_kind, Access, Query};
use crate::recovery::DamagedRegion;

/// What a [`scan`](crate::StoreReader::scan) read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanSummary {
    /// Blocks read and checked.
    pub blocks: u64,
    /// Bytes in them (headers included).
    pub bytes: u64,
    /// Records in them (matching or not).
    pub records: u64,
    /// Records handed to the visitor.
    pub visited: u64,
    /// Blocks that failed their checks: skipped, their records not visited.
    pub damaged: Vec<DamagedRegion>,
}

/// Blocks a worker claims at a time: large enough that claiming costs nothing, small enough
/// that the last segment does not leave one core working alone.
const CHUNK: usize = 8;

impl ScanSummary {
    /// The first damaged block as [`StoreError::Corrupt`] (segment file, offset, reason), for
    /// callers whose result must not silently miss events; `None` if nothing was damaged.
    pub fn damage_error(&self) -> Option<StoreError> {
        self.damaged.first().map(crate::query::damage_error)
    }
}

/// The scan: `init` makes each worker's state, `visit` gets it with every matching record;
/// returns the summary and the workers' states (in no particular order).
pub(crate) fn scan<S, I, F>(
    segments: &[SegRef],
    q: &Query,
    access: &Access<'_>,
    threads: usize,
    init: &I,
    visit: &F,
) -> Result<(ScanSummary, Vec<S>)>
where
    S: Send,
    I: Fn() -> S + Sync,
    F: Fn(&mut S, u64, &RecordView<'_>) + Sync,
{
    let f = q.filter();
    let work: Vec<(&SegRef, &BlockEntry)> = segments
        .iter()
        .filter(|s| s.index().may_match(&f))
        .flat_map(|s| {
            s.index()
                .blocks
                .iter()
                .filter(|b| f.block_may_match(b))
                .map(move |b| (s, b))
        })
        .collect();
    let threads = match threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .clamp(1, work.len().div_ceil(CHUNK).max(1));
    let next = AtomicUsize::new(0);
    let total = Mutex::new((ScanSummary::default(), None::<StoreError>, Vec::new()));
    let worker = || {
        let mut state = init();
        let mut s = ScanSummary::default();
        let mut err = None;
        let mut expanded = Vec::new();
        'claim: loop {
            let start = next.fetch_add(CHUNK, Ordering::Relaxed);
            if start >= work.len() {
                break;
            }
            for &(seg, entry) in &work[start..(start + CHUNK).min(work.len())] {
                let bytes = match seg.block(entry) {
                    Ok(b) => b,
                    Err(e) => {
                        err = Some(e);
                        break 'claim;
                    }
                };
                // One walk checks every record of the block and notes those that match; they
                // are visited only once the whole block has passed its checks.
                // (A vector per block: its views borrow this block's bytes; one allocation per
                // block of thousands of records.)
                let mut matched = Vec::new();
                let mut records = 0u64;
                let checked =
                    decode_block_each(bytes.as_slice(), Some(&mut expanded), |_, r, kind| {
                        records += 1;
                        if record_matches_kind(r, kind, &f, access) {
                            matched.push(*r);
                        }
                    });
                let view = match checked {
                    Ok(v) => v,
                    Err(e) => {
                        s.damaged.push(seg.damaged(
                            entry.offset.get(),
                            u64::from(entry.len.get()),
                            e,
                        ));
                        continue;
                    }
                };
                s.blocks += 1;
                s.bytes += view.len() as u64;
                s.records += records;
                s.visited += matched.len() as u64;
                let base = u64::from(seg.id()) << 32;
                for r in &matched {
                    visit(&mut state, base | u64::from(r.header().event_seq.get()), r);
                }
            }
        }
        let mut t = total.lock().unwrap_or_else(|p| p.into_inner());
        t.0.blocks += s.blocks;
        t.0.bytes += s.bytes;
        t.0.records += s.records;
        t.0.visited += s.visited;
        t.0.damaged.extend(s.damaged);
        if t.1.is_none() {
            t.1 = err;
        }
        t.2.push(state);
    };
    std::thread::scope(|sc| {
        for _ in 1..threads {
            sc.spawn(worker);
        }
        worker();
    });
    let (mut summary, err, states) = total.into_inner().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = err {
        return Err(e);
    }
    summary.damaged.sort_by_key(|a| (a.segment_id, a.offset));
    Ok((summary, states))
}
