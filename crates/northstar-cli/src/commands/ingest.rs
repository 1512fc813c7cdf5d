//! `northstar ingest --from-serial PATH|-`: a firmware's link stream into the store.
//!
//! The stream (frames of `northstar-link`, as a board's UART sends them) is decoded with the
//! link's decoder, which rebuilds core records and validates them with the core's own decoder;
//! each is stored with its timestamp converted from the device's ticks (rate from the device's
//! HELLO or `--hz`, epoch from the device, `--epoch-ns`, or the time ingest started). Events the
//! device counted as lost (its ring's drops and refusals, records its link could not send) and
//! records lost on the way (damaged frames, counted exactly from the device's SYNC/END
//! counters) are stored as drops, so `northstar stats` shows them. Damage is reported on
//! stderr and makes the exit status 1; the rest of the stream is still stored.

use std::io::Read;
use std::path::Path;

use northstar_core::record::decode_record;
use northstar_core::Refusal;
use northstar_link::decoder::{Decoder, DeviceCounters, Item, Problem};
use northstar_store::{EventManager, StoreConfig};
use serde_json::json;

use crate::cli::Format;
use crate::commands::store_err;
use crate::error::{CliError, CliResult};
use crate::timespec::now_unix_ns;

/// Problems printed one by one; past this only their count.
const PRINTED_PROBLEMS: u64 = 20;

/// What one connection (one HELLO) brought.
#[derive(Clone, Copy, Debug, Default)]
struct Connection {
    stored: u64,
    counters: Option<DeviceCounters>,
    ended: bool,
}

impl Connection {
    /// Records the device sent that did not arrive whole (0 without the device's counters).
    fn link_lost(&self) -> u64 {
        self.counters
            .map_or(0, |c| c.records_sent.saturating_sub(self.stored))
    }
}

/// Totals of one `ingest` run.
#[derive(Debug, Default)]
struct Totals {
    connections: u64,
    stored: u64,
    attempted: u64,
    pushed: u64,
    records_sent: u64,
    device_lost: u64,
    link_lost: u64,
    not_stored: u64,
    problems: u64,
    ended: bool,
}

impl Totals {
    fn close(&mut self, c: &Connection) {
        self.stored += c.stored;
        self.link_lost += c.link_lost();
        self.ended = c.ended;
        if let Some(d) = c.counters {
            self.pushed += d.pushed;
            self.records_sent += d.records_sent;
            self.device_lost += d.device_lost();
            self.attempted +=
                d.pushed + d.dropped_full + d.oversize + d.rate_limited + d.sampled_out;
        }
    }
}

/// Runs `northstar ingest`.
pub fn ingest(
    dir: &Path,
    from: &str,
    hz: Option<u64>,
    epoch_ns: Option<u64>,
    format: Format,
) -> CliResult {
    if hz == Some(0) {
        return Err(CliError::usage("--hz must be positive"));
    }
    let mut input: Box<dyn Read> = if from == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(
            std::fs::File::open(from)
                .map_err(|e| CliError::usage(format!("cannot open {from}: {e}")))?,
        )
    };
    let em = EventManager::open(dir, StoreConfig::default())
        .map_err(|e| store_err(dir, "cannot open", e))?;
    let mut decoder = Decoder::new(hz, epoch_ns, now_unix_ns());
    let mut totals = Totals::default();
    let mut conn: Option<Connection> = None;
    let mut fatal: Option<CliError> = None;
    let mut buf = vec![0u8; 64 * 1024];
    let report = |p: &dyn std::fmt::Display, totals: &mut Totals| {
        totals.problems += 1;
        if totals.problems <= PRINTED_PROBLEMS {
            eprintln!("northstar ingest: {p}");
        }
    };
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CliError::usage(format!("cannot read {from}: {e}"))),
        };
        decoder.feed(&buf[..n], &mut |item| match item {
            Item::Hello {
                hz,
                device_epoch_ns,
            } => {
                if let Some(c) = conn.take() {
                    totals.close(&c);
                }
                totals.connections += 1;
                eprintln!(
                    "northstar ingest: device connected: {hz} ticks/s, epoch {}",
                    if device_epoch_ns == 0 {
                        "none (using the host's)".to_string()
                    } else {
                        device_epoch_ns.to_string()
                    }
                );
                conn = Some(Connection::default());
            }
            Item::Record(bytes) => {
                let stored = decode_record(&bytes)
                    .map_err(|e| e.to_string())
                    .and_then(|view| {
                        let event = view.event().map_err(|e| e.to_string())?;
                        em.record_event_at(
                            view.timestamp(),
                            view.actor_id(),
                            view.visibility(),
                            &event,
                        )
                        .map_err(|e| e.to_string())
                    });
                match stored {
                    Ok(()) => {
                        if let Some(c) = conn.as_mut() {
                            c.stored += 1;
                        }
                    }
                    Err(e) => {
                        totals.not_stored += 1;
                        report(&format!("record not stored: {e}"), &mut totals);
                    }
                }
            }
            Item::Sync(c) => {
                if let Some(conn) = conn.as_mut() {
                    conn.counters = Some(c);
                }
            }
            Item::End(c) => {
                if let Some(conn) = conn.as_mut() {
                    conn.counters = Some(c);
                    conn.ended = true;
                }
            }
            Item::Problem(p) => {
                if let Problem::HzMismatch { .. } = p {
                    fatal.get_or_insert(CliError::usage(format!("{p}")));
                }
                report(&p, &mut totals);
            }
        });
        if let Some(e) = fatal.take() {
            return Err(e);
        }
    }
    if let Some(c) = conn.take() {
        totals.close(&c);
    }
    if decoder.pending() > 0 {
        report(
            &format!(
                "stream ends inside a frame ({} bytes after the last frame): truncated",
                decoder.pending()
            ),
            &mut totals,
        );
    }
    if totals.connections == 0 {
        report(
            &"no HELLO frame: nothing from a device in this stream",
            &mut totals,
        );
    } else if !totals.ended {
        report(
            &"the stream ends without the device's END frame: losses counted up to its last SYNC",
            &mut totals,
        );
    }
    if totals.problems > PRINTED_PROBLEMS {
        eprintln!(
            "northstar ingest: {} more problems not shown",
            totals.problems - PRINTED_PROBLEMS
        );
    }

    // The device's losses and the link's, as drops of the store (one per event).
    let lost = totals.device_lost + totals.link_lost + totals.not_stored;
    if lost > 0 {
        for _ in 0..lost {
            em.recorder()
                .count(Refusal::Upstream)
                .map_err(|e| CliError::usage(format!("cannot count drops: {e}")))?;
        }
    }
    em.flush().map_err(|e| store_err(dir, "cannot flush", e))?;
    em.close().map_err(|e| store_err(dir, "cannot close", e))?;

    let stats = decoder.stats();
    match format {
        Format::Json => outln!(
            "{}",
            json!({
                "connections": totals.connections,
                "bytes": stats.bytes,
                "frames": stats.frames,
                "corrupt_frames": stats.corrupt,
                "problems": totals.problems,
                "stored": totals.stored,
                "device": {
                    "attempted": totals.attempted,
                    "pushed": totals.pushed,
                    "records_sent": totals.records_sent,
                    "lost": totals.device_lost,
                },
                "link_lost": totals.link_lost,
                "not_stored": totals.not_stored,
                "dropped": lost,
                "ended": totals.ended,
            })
        )?,
        Format::Table => {
            outln!(
                "ingested {} bytes, {} frames ({} corrupt), {} connection(s)",
                stats.bytes,
                stats.frames,
                stats.corrupt,
                totals.connections
            )?;
            outln!(
                "device: {} events attempted, {} recorded, {} sent, {} lost on the device",
                totals.attempted,
                totals.pushed,
                totals.records_sent,
                totals.device_lost
            )?;
            outln!(
                "store: {} events stored, {} dropped ({} lost on the link, {} not stored)",
                totals.stored,
                lost,
                totals.link_lost,
                totals.not_stored
            )?;
        }
    }
    if totals.problems > 0 {
        return Err(CliError::Finding(format!(
            "{} problem(s) in the stream (see above); everything readable was stored",
            totals.problems
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_losses_are_what_the_device_sent_minus_what_was_stored() {
        let c = Connection {
            stored: 90,
            counters: Some(DeviceCounters {
                records_sent: 100,
                pushed: 100,
                dropped_full: 7,
                link_dropped: 1,
                ..Default::default()
            }),
            ended: true,
        };
        assert_eq!(c.link_lost(), 10);
        assert_eq!(Connection::default().link_lost(), 0);
    }
}
