//! The team directory: which team each actor belongs to, saved atomically in the data
//! directory (`teams`), read by every query to decide team visibility.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard};

use crate::error::Result;
use crate::layout::{write_atomic, TEAMS_FILE};
use crate::query::Teams;
use crate::report::{OpenReport, SkipKind, Skipped};

const TEAMS_HEADER: &str = "northstar-teams v1";

/// The team directory of a data directory.
#[derive(Debug)]
pub(crate) struct TeamDirectory {
    dir: PathBuf,
    teams: RwLock<Teams>,
}

impl TeamDirectory {
    /// Reads `dir`'s team file; a missing file is an empty directory, an unreadable file or
    /// line is reported in `report` and ignored.
    pub(crate) fn load(dir: &Path, report: &mut OpenReport) -> Self {
        Self {
            dir: dir.to_owned(),
            teams: RwLock::new(load(dir, report)),
        }
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Teams> {
        self.teams.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets an actor's team and saves the directory (atomically: the old file or the new).
    pub(crate) fn set(&self, actor_id: u64, team_id: u64) -> Result<()> {
        let mut teams = self.teams.write().unwrap_or_else(|p| p.into_inner());
        let mut next = teams.0.clone();
        next.insert(actor_id, team_id);
        let mut entries: Vec<_> = next.iter().collect();
        entries.sort();
        let mut text = format!("{TEAMS_HEADER}\n");
        for (a, t) in entries {
            text.push_str(&format!("{a} {t}\n"));
        }
        write_atomic(&self.dir.join(TEAMS_FILE), text.as_bytes())?;
        teams.0 = next;
        Ok(())
    }
}

fn load(dir: &Path, report: &mut OpenReport) -> Teams {
    let path = dir.join(TEAMS_FILE);
    let text = match crate::fsread::read_regular(&path, 64 << 20).and_then(|b| {
        String::from_utf8(b).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Teams::default(),
        Err(e) => {
            report.skipped.push(Skipped {
                path,
                reason: format!("team directory unreadable: {e}"),
                kind: SkipKind::Unreadable,
            });
            return Teams::default();
        }
    };
    let mut map = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        if n == 0 && line == TEAMS_HEADER {
            continue;
        }
        let mut it = line.split_whitespace();
        match (
            it.next().and_then(|a| a.parse::<u64>().ok()),
            it.next().and_then(|t| t.parse::<u64>().ok()),
            it.next(),
        ) {
            (Some(a), Some(t), None) => {
                map.insert(a, t);
            }
            _ if line.trim().is_empty() => {}
            _ => report.skipped.push(Skipped {
                path: path.clone(),
                reason: format!("team directory line {} ignored: {line:?}", n + 1),
                kind: SkipKind::Unreadable,
            }),
        }
    }
    Teams(map)
}
