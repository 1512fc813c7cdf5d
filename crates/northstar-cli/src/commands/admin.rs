//! Store administration: `stats`, `verify`, `compact`.

use super::{open_read, store_err};
use crate::cli::Format;
use crate::error::{CliError, CliResult};
use crate::timespec::{format_rfc3339, now_unix_ns, parse_duration_ns};
use northstar_store::{EventManager, StoreConfig, Viewer};
use serde_json::json;
use std::path::Path;
use std::time::Duration;

/// `northstar stats`.
pub fn stats(dir: &Path, format: Format, viewer: Option<u64>) -> CliResult {
    let em = open_read(dir)?;
    super::report_open(&em, true);
    let viewer = viewer.map_or(Viewer::System, |actor_id| Viewer::Actor { actor_id });
    let s = em
        .stats_for(&viewer)
        .map_err(|e| store_err(dir, "stats failed for", e))?;
    let user_types =
        user_type_counts(&em, viewer).map_err(|e| store_err(dir, "stats failed for", e))?;
    s.damaged.iter().for_each(super::report_damage);
    if s.dropped_saturated {
        eprintln!(
            "northstar: the drop counts stored in blocks add up to more than {}: dropped is shown as that maximum (a floor); blocks claiming such counts are suspect",
            u64::MAX
        );
    }
    for d in &s.damage_logged {
        eprintln!(
            "northstar: earlier, {}: segment {} offset {} ({} bytes) at {}: {}",
            d.action.describe(),
            d.segment_id,
            d.offset,
            d.len,
            format_rfc3339(d.unix_ns),
            d.reason
        );
    }
    let ts = |t: Option<u64>| t.map(format_rfc3339).unwrap_or_else(|| "-".into());
    match format {
        Format::Json => {
            let per_type: serde_json::Map<_, _> = s
                .per_type
                .iter()
                .map(|(t, n)| (t.name().to_string(), json!(n)))
                .chain(user_types.iter().map(|(t, n)| (t.clone(), json!(n))))
                .collect();
            let drops: Vec<_> = s
                .drops
                .iter()
                .map(|(from, to, n)| json!({"from": from, "to": to, "dropped": n}))
                .collect();
            outln!(
                "{}",
                json!({"segments": s.segments, "bytes": s.bytes, "events": s.events,
                       "first_timestamp": s.min_ts, "last_timestamp": s.max_ts,
                       "events_per_type": per_type, "dropped": s.dropped, "drops": drops,
                       "dropped_saturated": s.dropped_saturated,
                       "damage_removed_earlier": s.damage_logged.len()})
            )?;
        }
        Format::Table => {
            let mut rows = vec![
                vec!["segments".into(), s.segments.to_string()],
                vec!["bytes".into(), s.bytes.to_string()],
                vec!["events".into(), s.events.to_string()],
                vec!["first event".into(), ts(s.min_ts)],
                vec!["last event".into(), ts(s.max_ts)],
                vec![
                    "dropped".into(),
                    if s.dropped_saturated {
                        format!("at least {} (saturated)", s.dropped)
                    } else {
                        s.dropped.to_string()
                    },
                ],
            ];
            if let (Some(a), Some(b)) = (s.min_ts, s.max_ts) {
                rows.insert(
                    5,
                    vec!["span".into(), crate::output::human_ns((b - a) as f64)],
                );
            }
            out!("{}", crate::table::render(&["STORE", ""], &rows))?;
            outln!()?;
            let rows: Vec<Vec<String>> = s
                .per_type
                .iter()
                .map(|(t, n)| vec![t.name().to_string(), n.to_string()])
                .chain(
                    user_types
                        .iter()
                        .map(|(t, n)| vec![t.clone(), n.to_string()]),
                )
                .collect();
            out!("{}", crate::table::render(&["EVENT TYPE", "EVENTS"], &rows))?;
            if !s.drops.is_empty() {
                outln!()?;
                let rows: Vec<Vec<String>> = s
                    .drops
                    .iter()
                    .map(|(a, b, n)| vec![format_rfc3339(*a), format_rfc3339(*b), n.to_string()])
                    .collect();
                out!(
                    "{}",
                    crate::table::render(&["DROPPED AFTER", "DROPPED BEFORE", "EVENTS"], &rows)
                )?;
            }
        }
    }
    Ok(())
}

/// Events per user-defined type name that `viewer` may see, most frequent first. The
/// operator's view counts every one (the store reads only the blocks holding user events);
/// an actor's view counts what a query of those types by that actor returns (damaged blocks
/// are skipped here: `stats_for` reports them).
fn user_type_counts(
    em: &northstar_store::EventManager,
    viewer: Viewer,
) -> Result<Vec<(String, u64)>, northstar_store::StoreError> {
    let all = em.user_type_counts()?;
    if viewer == Viewer::System || all.is_empty() {
        return Ok(all);
    }
    let q = northstar_store::Query {
        user_types: all.into_iter().map(|(name, _)| name).collect(),
        viewer,
        ..Default::default()
    };
    let mut counts: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    for ev in em.query_report(&q)?.events {
        if let Some(u) = &ev.user {
            *counts.entry(u.name().to_string()).or_default() += 1;
        }
    }
    let mut v: Vec<_> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(v)
}

/// `northstar verify`: exit 1 (a finding) when any region is damaged or a file unreadable.
pub fn verify(dir: &Path, format: Format) -> CliResult {
    let em = open_read(dir)?;
    let mut progress = crate::progress::Progress::new("verifying", 1);
    progress.set(0);
    let r = em
        .verify()
        .map_err(|e| store_err(dir, "verify failed for", e))?;
    progress.finish();
    match format {
        Format::Json => {
            for d in &r.damaged {
                outln!(
                    "{}",
                    json!({"segment": d.segment_id, "path": d.path.display().to_string(),
                           "offset": d.offset, "len": d.len, "reason": d.reason})
                )?;
            }
            for s in &r.skipped {
                outln!(
                    "{}",
                    json!({"path": s.path.display().to_string(), "skipped": s.reason})
                )?;
            }
            for d in &r.logged {
                outln!(
                    "{}",
                    json!({"removed_earlier": d.action.describe(), "segment": d.segment_id,
                           "offset": d.offset, "len": d.len, "at": d.unix_ns, "reason": d.reason})
                )?;
            }
            outln!(
                "{}",
                json!({"segments": r.segments, "blocks": r.blocks, "records": r.records,
                       "damaged": r.damaged.len(), "skipped": r.skipped.len(), "clean": r.is_clean()})
            )?;
        }
        Format::Table => {
            if !r.damaged.is_empty() {
                let rows: Vec<Vec<String>> = r
                    .damaged
                    .iter()
                    .map(|d| {
                        vec![
                            d.segment_id.to_string(),
                            d.path.display().to_string(),
                            d.offset.to_string(),
                            d.len.to_string(),
                            d.reason.clone(),
                        ]
                    })
                    .collect();
                out!(
                    "{}",
                    crate::table::render(&["SEGMENT", "FILE", "OFFSET", "BYTES", "REASON"], &rows)
                )?;
            }
            for s in &r.skipped {
                let path = s.path.display().to_string();
                outln!(
                    "skipped {}: {}",
                    crate::output::escape_text(&path),
                    crate::output::escape_text(&s.reason)
                )?;
            }
            for d in &r.logged {
                outln!(
                    "earlier, {}: segment {} offset {} ({} bytes) at {}: {}",
                    d.action.describe(),
                    d.segment_id,
                    d.offset,
                    d.len,
                    format_rfc3339(d.unix_ns),
                    d.reason
                )?;
            }
            outln!(
                "{} segments, {} blocks, {} records checked: {}",
                r.segments,
                r.blocks,
                r.records,
                if r.is_clean() && !r.logged.is_empty() {
                    format!(
                        "no damage now ({} earlier removals of damaged bytes listed above, from damage.log)",
                        r.logged.len()
                    )
                } else if r.is_clean() {
                    "no damage".to_string()
                } else {
                    format!(
                        "{} damaged regions, {} unreadable files",
                        r.damaged.len(),
                        r.skipped.len()
                    )
                }
            )?;
        }
    }
    if r.is_clean() {
        Ok(())
    } else {
        Err(CliError::Finding(format!(
            "{}: {} damaged regions, {} unreadable files",
            dir.display(),
            r.damaged.len(),
            r.skipped.len()
        )))
    }
}

/// `northstar compact`.
pub fn compact(dir: &Path, retention: &str) -> CliResult {
    let ns =
        parse_duration_ns(retention).map_err(|e| CliError::usage(format!("--retention: {e}")))?;
    if ns == 0 {
        return Err(CliError::usage("--retention must be longer than 0"));
    }
    if !dir.is_dir() {
        return Err(CliError::usage(format!(
            "no data directory at {}",
            dir.display()
        )));
    }
    let config = StoreConfig {
        retention: Duration::from_nanos(ns),
        ..StoreConfig::default()
    };
    let em = EventManager::open(dir, config).map_err(|e| store_err(dir, "cannot open", e))?;
    super::report_open(&em, true);
    let r = em
        .compact(now_unix_ns())
        .map_err(|e| store_err(dir, "compaction failed in", e))?;
    for d in &r.dropped_damage {
        eprintln!(
            "northstar: compaction left out the damaged region of segment {} at offset {} ({} bytes{}): {}; recorded in damage.log",
            d.region.segment_id,
            d.region.offset,
            d.region.len,
            d.records.map_or(String::new(), |n| format!(", {n} records")),
            d.region.reason
        );
    }
    em.close()
        .map_err(|e| store_err(dir, "closing failed for", e))?;
    outln!(
        "compacted {} (retention {retention}): {} segments deleted, {} rewritten",
        dir.display(),
        r.deleted.len(),
        r.rewritten.len()
    )?;
    for (id, kept, removed) in &r.rewritten {
        outln!("  segment {id}: kept {kept} events, removed {removed}")?;
    }
    Ok(())
}
