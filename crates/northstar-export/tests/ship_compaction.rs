//! Compaction between two shipments: retention rewrites a segment the shipper's cursor points
//! into (expired events dropped, blocks moved to lower offsets). The next shipment must
//! deliver exactly the events after the cursor: none skipped (the saved byte offset no longer
//! means anything in the rewritten file), none twice. The destination is a small ClickHouse
//! HTTP stand-in that keeps every inserted row.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use northstar_core::codec::List;
use northstar_core::events::AgentOperation;
use northstar_core::Visibility;
use northstar_export::ship::{ship, Destination, ShipOptions};
use northstar_export::Selection;
use northstar_store::{EventManager, StoreConfig};

/// A ClickHouse stand-in: answers `DESCRIBE` with three columns, `SELECT max(event_id)` with
/// the largest id inserted, and keeps the `event_id` of every inserted row.
fn fake_clickhouse() -> (String, Arc<Mutex<Vec<u64>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let rows: Arc<Mutex<Vec<u64>>> = Arc::default();
    let table = rows.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let table = table.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut conn = conn;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
                    let mut len = 0usize;
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap_or(0) == 0 {
                            return;
                        }
                        if h == "\r\n" {
                            break;
                        }
                        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0u8; len];
                    reader.read_exact(&mut body).unwrap();
                    let body = String::from_utf8(body).unwrap();
                    let answer = if body.starts_with("DESCRIBE") {
                        "event_id\tUInt64\nevent_type\tString\ntimestamp_ns\tUInt64\n".to_string()
                    } else if body.starts_with("SELECT max(event_id)") {
                        let t = table.lock().unwrap();
                        format!("{}\n", t.iter().max().copied().unwrap_or(0))
                    } else {
                        assert!(target.contains("INSERT"), "unexpected request {target}");
                        let mut t = table.lock().unwrap();
                        for l in body.lines() {
                            let v: serde_json::Value = serde_json::from_str(l).unwrap();
                            t.push(v["event_id"].as_u64().unwrap());
                        }
                        String::new()
                    };
                    let _ = write!(
                        conn,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{answer}",
                        answer.len()
                    );
                }
            });
        }
    });
    (url, rows)
}

fn op(id: u64) -> AgentOperation<'static> {
    AgentOperation {
        session_id: 1,
        operation_type: "write",
        operation_id: id,
        target_type: "btree",
        target_id: "a-key-long-enough-to-fill-blocks-quickly",
        status: "completed",
        duration_ns: Some(1000),
        metadata: List::EMPTY,
    }
}

#[test]
fn a_compaction_between_two_shipments_neither_skips_nor_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("data");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let em = EventManager::open(
        &store,
        StoreConfig {
            segment_max_bytes: 64 << 10,
            retention: Duration::from_secs(3600),
            ..StoreConfig::default()
        },
    )
    .unwrap();
    let mut n = 0u64;
    let put = |em: &EventManager, n: &mut u64, count: u64, ts: u64| {
        for _ in 0..count {
            em.record_at(ts + *n, 7, Visibility::Public, &op(*n))
                .unwrap();
            *n += 1;
            if (*n).is_multiple_of(50) {
                em.flush().unwrap();
            }
        }
        em.flush().unwrap();
    };
    // Segment 1: expired events first (two hours old), then recent ones.
    let old = now - 2 * 3600 * 1_000_000_000;
    put(&em, &mut n, 150, old);
    put(&em, &mut n, 50, now);

    let (url, rows) = fake_clickhouse();
    let dest = Destination::Clickhouse {
        url,
        table: "t".into(),
    };
    let opts = ShipOptions {
        once: true,
        poll: Duration::from_millis(10),
        batch_items: 40,
        batch_bytes: 1 << 20,
        cursor: dir.path().join("ch.cursor"),
        retry_for: Duration::from_secs(5),
    };
    let shipped = |sel: Selection| ship(&store, sel, &dest, &opts, &mut |_| {}, &|| false).unwrap();
    let first = shipped(Selection::default());
    assert_eq!(first.sent, n, "the first shipment sends everything there");

    // More recent events: the tail of segment 1, then enough to seal it and go on.
    put(&em, &mut n, 40, now + 1_000_000);
    put(&em, &mut n, 1000, now + 2_000_000);
    let report = em.compact(now).unwrap();
    assert!(
        report
            .rewritten
            .iter()
            .any(|(id, _, removed)| *id == 1 && *removed > 0),
        "segment 1 was rewritten without its expired events: {report:?}"
    );

    shipped(Selection::default());
    let rows = rows.lock().unwrap().clone();
    let unique: HashSet<u64> = rows.iter().copied().collect();
    assert_eq!(unique.len(), rows.len(), "an event was delivered twice");
    assert_eq!(
        rows.len() as u64,
        n,
        "every event recorded was delivered once ({} missing)",
        n - rows.len() as u64
    );
    em.close().unwrap();
}
