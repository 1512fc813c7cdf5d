//! Store administration: `stats`, `verify`, `compact`.

use super::{open_read, store_err};
use crate::cli::Format;
use crate::error::{CliError, CliResult};
use crate::timespec::{format_rfc3339, now_unix_ns, parse_duration_ns};
use northstar_store::{EventManager, StoreConfig};
use serde_json::json;
use std::path::Path;
use std::time::Duration;

/// `northstar stats`.
pub fn stats(dir: &Path, format: Format) -> CliResult {
    let em = open_read(dir)?;
    let s = em
        .stats()
        .map_err(|e| store_err(dir, "stats failed for", e))?;
    let user_types = em
        .user_type_counts()
        .map_err(|e| store_err(dir, "stats failed for", e))?;
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
            println!(
                "{}",
                json!({"segments": s.segments, "bytes": s.bytes, "events": s.events,
                       "first_timestamp": s.min_ts, "last_timestamp": s.max_ts,
                       "events_per_type": per_type, "dropped": s.dropped, "drops": drops})
            );
        }
        Format::Table => {
            let mut rows = vec![
                vec!["segments".into(), s.segments.to_string()],
                vec!["bytes".into(), s.bytes.to_string()],
                vec!["events".into(), s.events.to_string()],
                vec!["first event".into(), ts(s.min_ts)],
                vec!["last event".into(), ts(s.max_ts)],
                vec!["dropped".into(), s.dropped.to_string()],
            ];
            if let (Some(a), Some(b)) = (s.min_ts, s.max_ts) {
                rows.insert(
                    5,
                    vec!["span".into(), crate::output::human_ns((b - a) as f64)],
                );
            }
            print!("{}", crate::table::render(&["STORE", ""], &rows));
            println!();
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
            print!("{}", crate::table::render(&["EVENT TYPE", "EVENTS"], &rows));
            if !s.drops.is_empty() {
                println!();
                let rows: Vec<Vec<String>> = s
                    .drops
                    .iter()
                    .map(|(a, b, n)| vec![format_rfc3339(*a), format_rfc3339(*b), n.to_string()])
                    .collect();
                print!(
                    "{}",
                    crate::table::render(&["DROPPED AFTER", "DROPPED BEFORE", "EVENTS"], &rows)
                );
            }
        }
    }
    Ok(())
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
                println!(
                    "{}",
                    json!({"segment": d.segment_id, "path": d.path.display().to_string(),
                           "offset": d.offset, "len": d.len, "reason": d.reason})
                );
            }
            for s in &r.skipped {
                println!(
                    "{}",
                    json!({"path": s.path.display().to_string(), "skipped": s.reason})
                );
            }
            println!(
                "{}",
                json!({"segments": r.segments, "blocks": r.blocks, "records": r.records,
                       "damaged": r.damaged.len(), "skipped": r.skipped.len(), "clean": r.is_clean()})
            );
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
                print!(
                    "{}",
                    crate::table::render(&["SEGMENT", "FILE", "OFFSET", "BYTES", "REASON"], &rows)
                );
            }
            for s in &r.skipped {
                println!("skipped {}: {}", s.path.display(), s.reason);
            }
            println!(
                "{} segments, {} blocks, {} records checked: {}",
                r.segments,
                r.blocks,
                r.records,
                if r.is_clean() {
                    "no damage".to_string()
                } else {
                    format!(
                        "{} damaged regions, {} unreadable files",
                        r.damaged.len(),
                        r.skipped.len()
                    )
                }
            );
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
    let r = em
        .compact(now_unix_ns())
        .map_err(|e| store_err(dir, "compaction failed in", e))?;
    em.close()
        .map_err(|e| store_err(dir, "closing failed for", e))?;
    println!(
        "compacted {} (retention {retention}): {} segments deleted, {} rewritten",
        dir.display(),
        r.deleted.len(),
        r.rewritten.len()
    );
    for (id, kept, removed) in &r.rewritten {
        println!("  segment {id}: kept {kept} events, removed {removed}");
    }
    Ok(())
}
