//! The index's reading of a block of interned records (crate::sites): the session ids its
//! compact records hold, found in place, without expanding them (crate::index).

use std::collections::HashMap;

use northstar_core::__private::interned::{SITE_DEFINITION_TYPE_BYTE, STORED_TYPE_BYTE};
use northstar_core::record::decode_framing;

use crate::sites::{decode_definition, KIND_OPERATION};

/// What [`for_each_stored_session`] finds in a block body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionSource<'a> {
    /// A compact operation's session id.
    Session(u64),
    /// A standard record (framing checked), whose sessions are in its payload.
    Standard(&'a [u8]),
}

/// Finds the session ids of the body `stored` (of a block with
/// [`BLOCK_FLAG_SITES`](crate::disk::BLOCK_FLAG_SITES)) as readers see it expanded, without
/// expanding it: the index needs only those (crate::index). A compact `perf_sample` expands
/// with no sessions and is skipped; a compact operation's session id (the first number after
/// its site id) goes to `f` as [`SessionSource::Session`]; a standard record goes to `f` as
/// [`SessionSource::Standard`], for the caller to decode as it decodes any. An error `f`
/// returns ends the walk with that error. So a `perf_sample!`-heavy segment is indexed at the
/// cost of its framing, not of decoding every payload (that decoding kept the indexer busy,
/// and on 2 cores the flusher could not get the other one: docs/PERFORMANCE.md, "The indexer
/// took the flusher's core").
///
/// Fails on malformed framing, a malformed or twice-defined site definition, a compact
/// record whose site is not defined before it in the block, or an operation too short to
/// hold its session: the caller then treats the block as holding every session. It checks
/// less than [`expand_body`](crate::sites::expand_body) (a compact record's other fields),
/// which cannot hide a session: a record readers cannot expand is an error to them, not an
/// event. Linear in `stored`; never panics.
pub(crate) fn for_each_stored_session<'a>(
    stored: &'a [u8],
    mut f: impl FnMut(SessionSource<'a>) -> Result<(), String>,
) -> Result<(), String> {
    let mut kinds: HashMap<u32, u8> = HashMap::new();
    let mut last: Option<(u32, u8)> = None;
    let mut at = 0usize;
    while at < stored.len() {
        let framed = decode_framing(&stored[at..]).map_err(|e| format!("record at +{at}: {e}"))?;
        let (record, payload) = (framed.bytes, framed.payload);
        match framed.header.type_byte() {
            SITE_DEFINITION_TYPE_BYTE => {
                let (id, site) =
                    decode_definition(payload).map_err(|e| format!("record at +{at}: {e}"))?;
                if kinds.insert(id, site.kind).is_some() {
                    return Err(format!("record at +{at}: site {id} defined twice"));
                }
            }
            STORED_TYPE_BYTE => {
                let Some((id, body)) = payload.split_first_chunk::<4>() else {
                    return Err(format!("record at +{at}: no site id"));
                };
                let id = u32::from_le_bytes(*id);
                let kind = match last {
                    Some((last_id, kind)) if last_id == id => kind,
                    _ => *kinds
                        .get(&id)
                        .ok_or_else(|| format!("record at +{at}: site {id} not defined"))?,
                };
                last = Some((id, kind));
                if kind == KIND_OPERATION {
                    let Some((id, _)) = body.split_first_chunk::<8>() else {
                        return Err(format!("record at +{at}: operation without a session"));
                    };
                    f(SessionSource::Session(u64::from_le_bytes(*id)))?;
                }
            }
            _ => f(SessionSource::Standard(record))?,
        }
        at += record.len();
    }
    Ok(())
}

/// The sessions [`for_each_stored_session`] finds in `body`, decoding its standard
/// records' payloads in full (the index decodes only those whose type has sessions).
pub(crate) fn sessions_in_place(body: &[u8]) -> Result<Vec<u64>, String> {
    let mut found = Vec::new();
    for_each_stored_session(body, |s| {
        match s {
            SessionSource::Session(id) => found.push(id),
            SessionSource::Standard(r) => northstar_core::record::decode_record(r)
                .map_err(|e| e.to_string())?
                .event()
                .map_err(|e| e.to_string())?
                .for_each_session(|id| found.push(id)),
        }
        Ok(())
    })?;
    Ok(found)
}

/// The sessions of `body` as readers see them: expanded (crate::sites), then every record
/// decoded. `None` if it does not expand or a record does not decode.
pub(crate) fn expanded_sessions(body: &[u8]) -> Option<Vec<u64>> {
    let mut out = Vec::new();
    crate::sites::expand_body(body, &mut out).ok()?;
    let mut found = Vec::new();
    for r in northstar_core::record::records(&out) {
        r.ok()?.event().ok()?.for_each_session(|id| found.push(id));
    }
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sites::tests::{definition, record, sample};
    use northstar_core::codec::{Field, Writer};
    use northstar_core::record::{write_record, EventHeader, FRAMING_LEN};
    use northstar_core::Visibility;

    fn operation_definition(id: u32) -> Vec<u8> {
        let mut p = id.to_le_bytes().to_vec();
        p.push(KIND_OPERATION);
        for slot in [Some("get"), Some("btree"), Some("t1")] {
            let mut b = vec![0u8; slot.encoded_len()];
            slot.encode(&mut Writer::new(&mut b));
            p.extend(b);
        }
        record(SITE_DEFINITION_TYPE_BYTE, &p)
    }

    fn operation(id: u32, session: u64) -> Vec<u8> {
        // Every slot literal: session, operation id, duration, status.
        let mut p = id.to_le_bytes().to_vec();
        p.extend_from_slice(&session.to_le_bytes());
        p.extend_from_slice(&7u64.to_le_bytes());
        p.extend_from_slice(&1000i64.to_le_bytes());
        p.push(0);
        record(STORED_TYPE_BYTE, &p)
    }

    fn session_ended(session: u64) -> Vec<u8> {
        use northstar_core::events::AgentSessionEnded;
        use northstar_core::Payload;
        let event = AgentSessionEnded {
            session_id: session,
        };
        let header = EventHeader::new(
            northstar_core::EventType::AgentSessionEnded,
            Visibility::Public,
            1,
            2,
            0,
            Payload::encoded_len(&event),
        );
        let mut r = vec![0u8; FRAMING_LEN + Payload::encoded_len(&event)];
        write_record(&mut r, &header, |d| {
            event.encode_into(d).unwrap();
        });
        r
    }

    #[test]
    fn sessions_are_read_from_compact_records_as_readers_see_them_expanded() {
        let pieces = [
            definition(3, "get_latency_ns"),
            sample(3, 1.5, "ns"),
            operation_definition(5),
            operation(5, 42),
            session_ended(9),
            sample(3, 2.5, "ns"),
            operation(5, 43),
        ];
        let body = pieces.concat();
        // What readers see: the expanded records' sessions.
        let expanded = expanded_sessions(&body).unwrap();
        assert_eq!(expanded, vec![42, 9, 43]);
        assert_eq!(sessions_in_place(&body).unwrap(), expanded);
        // Refused, as by the expansion: an undefined site, a site defined twice, an
        // operation too short to hold its session, and every truncation.
        let mut bad = operation(5, 1);
        bad.extend(operation_definition(5));
        assert!(sessions_in_place(&bad).unwrap_err().contains("not defined"));
        let mut bad = operation_definition(5);
        bad.extend(operation_definition(5));
        assert!(sessions_in_place(&bad)
            .unwrap_err()
            .contains("defined twice"));
        let mut bad = operation_definition(5);
        bad.extend(record(STORED_TYPE_BYTE, &[5, 0, 0, 0, 1, 2, 3]));
        assert!(sessions_in_place(&bad)
            .unwrap_err()
            .contains("without a session"));
        // (A prefix ending at a record's end is a good, shorter body.)
        let ends: Vec<usize> = pieces
            .iter()
            .scan(0, |at, p| {
                *at += p.len();
                Some(*at)
            })
            .collect();
        for n in (1..body.len()).filter(|n| !ends.contains(n)) {
            assert!(
                sessions_in_place(&body[..n]).is_err(),
                "prefix of {n} bytes"
            );
        }
    }
}
