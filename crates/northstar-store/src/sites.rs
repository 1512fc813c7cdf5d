//! Interned `perf_sample!`/`operation!` records **on disk** (docs/FORMAT.md, "Interned spec
//! records in blocks"; docs/DESIGN.md, "Interned spec call sites").
//!
//! The macros record a call site's literal strings as a site id (`northstar_core`'s
//! `interned` module). The flusher stores that compact record as it is (type byte
//! [`STORED_TYPE_BYTE`]: the ring record with its timestamp in Unix ns and an operation's
//! duration in ns), and, before the block's first record of a site, the site's definition
//! (type byte [`SITE_DEFINITION_TYPE_BYTE`]: its literal strings and which strings are
//! recorded per call). A block holding them has [`BLOCK_FLAG_SITES`](crate::disk::BLOCK_FLAG_SITES) set in its header, and
//! decodes on its own like a block of user events: ids are the writing process's, defined in
//! every block that uses them.
//!
//! Readers never see the compact form: [`expand_body`] turns such a block's body into the
//! standard `perf_sample`/`agent_operation` records the macros would have written without
//! interning (definitions dropped), and every reader walks that. The expanded body is at most
//! [`MAX_EXPANSION`] times the stored one (the flusher stores a record in its standard form
//! when the compact one would break that bound), so expanding a hostile block costs work and
//! memory linear in its bytes.

use std::collections::HashMap;

use northstar_core::__private::interned::{
    expand_payload, Shape, SiteMeta, SITE_DEFINITION_TYPE_BYTE, STORED_TYPE_BYTE,
};
use northstar_core::record::{
    EventHeader, Trailer, FRAMING_LEN, HEADER_LEN, MAX_PAYLOAD_LEN, TRAILER_LEN, TRAILER_MAGIC,
};
use zerocopy::{FromBytes, IntoBytes};

/// A block's expanded body is at most this many times its stored body.
pub const MAX_EXPANSION: usize = 16;

const KIND_PERF: u8 = 0;
const KIND_OPERATION: u8 = 1;

// The flusher's side (one definition per site per block) is `crate::block_sites`.

// ------------------------------------------------------------------------- definitions

fn put_slot(out: &mut Vec<u8>, slot: Option<&str>) {
    match slot {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
}

/// The payload of a site's definition record: `site_id u32`, `kind u8` (0 perf_sample,
/// 1 agent_operation), then its slots (perf: name, unit, `dims u32`, key and value of each;
/// operation: operation type, target type, target id), each a tag byte (0 recorded per call,
/// 1 literal) and, for a literal, the string (`u32` length + UTF-8).
pub(crate) fn encode_definition(id: u32, meta: SiteMeta, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&id.to_le_bytes());
    match meta.shape() {
        Shape::Perf { name, unit, dims } => {
            out.push(KIND_PERF);
            put_slot(out, name);
            put_slot(out, unit);
            out.extend_from_slice(&(dims.len() as u32).to_le_bytes());
            for (k, v) in dims {
                put_slot(out, *k);
                put_slot(out, *v);
            }
        }
        Shape::Operation {
            operation_type,
            target_type,
            target_id,
        } => {
            out.push(KIND_OPERATION);
            put_slot(out, operation_type);
            put_slot(out, target_type);
            put_slot(out, target_id);
        }
    }
}

/// A site definition read from a block; its strings borrow the block.
#[derive(Debug, PartialEq, Eq)]
struct StoredSite<'a> {
    kind: u8,
    /// perf: name, unit, unused; operation: operation type, target type, target id.
    slots: [Option<&'a str>; 3],
    dims: Vec<(Option<&'a str>, Option<&'a str>)>,
}

impl StoredSite<'_> {
    fn shape(&self) -> Shape<'_> {
        let [a, b, c] = self.slots;
        if self.kind == KIND_PERF {
            Shape::Perf {
                name: a,
                unit: b,
                dims: &self.dims,
            }
        } else {
            Shape::Operation {
                operation_type: a,
                target_type: b,
                target_id: c,
            }
        }
    }
}

/// A bounds-checked reader over a definition's payload.
struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("site definition truncated".into());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn slot(&mut self) -> Result<Option<&'a str>, String> {
        match self.take(1)?[0] {
            0 => Ok(None),
            1 => {
                let n = self.u32()? as usize;
                let s = std::str::from_utf8(self.take(n)?)
                    .map_err(|_| "site definition: a literal is not UTF-8".to_string())?;
                Ok(Some(s))
            }
            t => Err(format!("site definition: slot tag {t}")),
        }
    }
}

fn decode_definition(payload: &[u8]) -> Result<(u32, StoredSite<'_>), String> {
    let mut b = Bytes(payload);
    let id = b.u32()?;
    let kind = b.take(1)?[0];
    let site = match kind {
        KIND_PERF => {
            let name = b.slot()?;
            let unit = b.slot()?;
            let n = b.u32()? as usize;
            // Every slot takes at least a byte: the count cannot exceed what follows (so a
            // hostile count allocates nothing it has not got bytes for).
            if n > b.0.len() / 2 {
                return Err(format!(
                    "site definition: {n} dimensions in {} bytes",
                    b.0.len()
                ));
            }
            let mut dims = Vec::with_capacity(n);
            for _ in 0..n {
                dims.push((b.slot()?, b.slot()?));
            }
            StoredSite {
                kind,
                slots: [name, unit, None],
                dims,
            }
        }
        KIND_OPERATION => StoredSite {
            kind,
            slots: [b.slot()?, b.slot()?, b.slot()?],
            dims: Vec::new(),
        },
        k => return Err(format!("site definition: kind {k}")),
    };
    if !b.0.is_empty() {
        return Err(format!("site definition: {} bytes after it", b.0.len()));
    }
    Ok((id, site))
}

// ------------------------------------------------------------------------- read side

/// Writes into `out` the body `stored` (of a block with [`BLOCK_FLAG_SITES`](crate::disk::BLOCK_FLAG_SITES)) with every
/// compact record expanded to its standard record and every site definition dropped; other
/// records are copied as they are (the block check that follows validates them). A compact
/// record must follow its site's definition in the same block. Fails, with the reason, on
/// anything malformed: framing, a definition, an undefined or twice-defined site, a payload
/// that does not match its site, an expansion beyond [`MAX_EXPANSION`]. Linear in
/// `stored`; never panics.
pub fn expand_body(stored: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    out.clear();
    let limit = MAX_EXPANSION.saturating_mul(stored.len());
    // Typical blocks hold a few sites used thousands of times each: the last one used is
    // tried first, the map (filled once per definition) only on a change of site.
    let mut sites: Vec<StoredSite<'_>> = Vec::new();
    let mut by_id: HashMap<u32, usize> = HashMap::new();
    let mut ids: Vec<u32> = Vec::new();
    let mut last: Option<(u32, usize)> = None;
    let mut at = 0usize;
    while at < stored.len() {
        let rest = &stored[at..];
        let (header, _) = EventHeader::ref_from_prefix(rest)
            .map_err(|_| format!("record at +{at}: truncated header"))?;
        let total = header.record_len();
        if total > rest.len() {
            return Err(format!(
                "record at +{at}: {total} bytes, {} left",
                rest.len()
            ));
        }
        let record = &rest[..total];
        let type_byte = header.type_byte();
        if type_byte != SITE_DEFINITION_TYPE_BYTE && type_byte != STORED_TYPE_BYTE {
            if out.len() + total > limit {
                return Err(format!("expands beyond {MAX_EXPANSION} times its bytes"));
            }
            out.extend_from_slice(record);
            at += total;
            continue;
        }
        let (trailer, _) = Trailer::ref_from_prefix(&record[total - TRAILER_LEN..])
            .map_err(|_| format!("record at +{at}: truncated trailer"))?;
        if trailer.magic != TRAILER_MAGIC || trailer.total_len.get() as usize != total {
            return Err(format!("record at +{at}: bad trailer"));
        }
        let visibility = header
            .visibility()
            .map_err(|e| format!("record at +{at}: {e}"))?;
        let payload = &record[HEADER_LEN..total - TRAILER_LEN];
        if type_byte == SITE_DEFINITION_TYPE_BYTE {
            let (id, site) =
                decode_definition(payload).map_err(|e| format!("record at +{at}: {e}"))?;
            if by_id.insert(id, sites.len()).is_some() {
                return Err(format!("record at +{at}: site {id} defined twice"));
            }
            sites.push(site);
            ids.push(id);
            at += total;
            continue;
        }
        let (id, body) = match payload.split_first_chunk::<4>() {
            Some((id, body)) => (u32::from_le_bytes(*id), body),
            None => return Err(format!("record at +{at}: no site id")),
        };
        let index = match last {
            Some((last_id, i)) if last_id == id => i,
            _ => {
                // A few sites: a scan of their ids; many (a crafted block): the map.
                let found = if ids.len() <= 16 {
                    ids.iter().position(|&x| x == id)
                } else {
                    by_id.get(&id).copied()
                };
                let i = found.ok_or_else(|| format!("record at +{at}: site {id} not defined"))?;
                last = Some((id, i));
                i
            }
        };
        let shape = sites[index].shape();
        // One walk: the header's place is kept, the pieces appended, then the header written
        // with the length they came to. A record's expansion is at most its site's literals
        // plus its own bytes, so checking the bound after it keeps memory linear.
        let start = out.len();
        out.extend_from_slice(&[0u8; HEADER_LEN]);
        let walked = expand_payload(
            shape,
            body,
            |ns| ns as i64,
            |piece| out.extend_from_slice(piece),
        );
        if let Err(e) = walked {
            out.truncate(start);
            return Err(format!("record at +{at}: does not match its site: {e}"));
        }
        let len = out.len() - start - HEADER_LEN;
        if len > MAX_PAYLOAD_LEN {
            return Err(format!("record at +{at}: expands beyond the payload limit"));
        }
        if out.len() + TRAILER_LEN > limit {
            return Err(format!("expands beyond {MAX_EXPANSION} times its bytes"));
        }
        let standard = EventHeader::new(
            shape.event_type(),
            visibility,
            header.timestamp.get(),
            header.actor_id.get(),
            header.event_seq.get(),
            len,
        );
        out[start..start + HEADER_LEN].copy_from_slice(standard.as_bytes());
        out.extend_from_slice(Trailer::new(FRAMING_LEN + len).as_bytes());
        at += total;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use northstar_core::record::write_record;
    use northstar_core::Visibility;

    #[test]
    fn definitions_round_trip_and_hostile_counts_are_refused() {
        use northstar_core::__private::interned::PerfMeta;
        static META: PerfMeta = PerfMeta {
            name: Some("get_latency_ns"),
            unit: None,
            dims: &[(Some("mode"), None), (Some("benchmark"), Some("btree"))],
        };
        let mut p = Vec::new();
        encode_definition(7, SiteMeta::Perf(&META), &mut p);
        let (id, site) = decode_definition(&p).unwrap();
        assert_eq!(id, 7);
        assert_eq!(site.shape(), SiteMeta::Perf(&META).shape());
        // A dimension count larger than the bytes that follow: refused before allocating.
        let mut hostile = p[..4 + 1 + 1 + 4 + 14 + 1].to_vec();
        hostile.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_definition(&hostile)
            .unwrap_err()
            .contains("dimensions"));
        // Every truncation is an error, never a panic.
        for n in 0..p.len() {
            assert!(decode_definition(&p[..n]).is_err(), "prefix of {n} bytes");
        }
    }

    fn record(type_byte: u8, payload: &[u8]) -> Vec<u8> {
        let header =
            EventHeader::with_type_byte(type_byte, Visibility::Public, 1, 2, 0, payload.len());
        let mut r = vec![0u8; FRAMING_LEN + payload.len()];
        write_record(&mut r, &header, |d| d.copy_from_slice(payload));
        r
    }

    fn definition(id: u32, name: &str) -> Vec<u8> {
        // A perf site: literal name, run-time unit, no dimensions.
        let mut p = id.to_le_bytes().to_vec();
        p.push(KIND_PERF);
        put_slot(&mut p, Some(name));
        put_slot(&mut p, None);
        p.extend_from_slice(&0u32.to_le_bytes());
        record(SITE_DEFINITION_TYPE_BYTE, &p)
    }

    fn sample(id: u32, value: f64, unit: &str) -> Vec<u8> {
        let mut p = id.to_le_bytes().to_vec();
        p.extend_from_slice(&value.to_le_bytes());
        p.extend_from_slice(&(unit.len() as u32).to_le_bytes());
        p.extend_from_slice(unit.as_bytes());
        record(STORED_TYPE_BYTE, &p)
    }

    #[test]
    fn a_body_expands_to_the_standard_records_and_drops_definitions() {
        let mut body = definition(3, "get_latency_ns");
        body.extend(sample(3, 1.5, "ns"));
        body.extend(sample(3, 2.5, "us"));
        let mut out = Vec::new();
        expand_body(&body, &mut out).unwrap();
        let got: Vec<(String, f64, String)> = northstar_core::record::records(&out)
            .map(|r| match r.unwrap().event().unwrap() {
                northstar_core::events::Event::PerfSample(p) => {
                    (p.metric_name.to_owned(), p.value, p.unit.to_owned())
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("get_latency_ns".into(), 1.5, "ns".into()),
                ("get_latency_ns".into(), 2.5, "us".into())
            ]
        );
    }

    #[test]
    fn hostile_bodies_are_refused_with_a_reason() {
        let mut out = Vec::new();
        // A record before (or without) its site's definition.
        let mut body = sample(3, 1.0, "ns");
        body.extend(definition(3, "x"));
        assert!(expand_body(&body, &mut out)
            .unwrap_err()
            .contains("not defined"));
        // A site defined twice.
        let mut body = definition(3, "x");
        body.extend(definition(3, "y"));
        assert!(expand_body(&body, &mut out)
            .unwrap_err()
            .contains("defined twice"));
        // A payload that does not match its site (a unit string cut short).
        let mut body = definition(3, "x");
        let mut bad = sample(3, 1.0, "ns");
        let n = bad.len();
        bad[HEADER_LEN + 12] = 200; // the unit's length prefix points past the payload
        body.extend(bad);
        assert_eq!(n, body.len() - definition(3, "x").len());
        assert!(expand_body(&body, &mut out)
            .unwrap_err()
            .contains("does not match"));
        // A long literal repeated by tiny records: refused past MAX_EXPANSION times the
        // stored bytes (memory bounded by the input).
        let mut body = definition(3, &"n".repeat(60_000));
        for _ in 0..400 {
            body.extend(sample(3, 1.0, ""));
        }
        let err = expand_body(&body, &mut out).unwrap_err();
        assert!(err.contains("expands beyond"), "{err}");
        // (Checked after each record: at most one record's expansion past the bound, and a
        // record expands to no more than its site's literals plus its own bytes.)
        assert!(out.len() <= (MAX_EXPANSION + 1) * body.len());
        // Every truncation of a good body is an error, never a panic.
        // (The definition alone is a whole record: it expands to nothing, and the block's
        // record count, checked after the expansion, then disagrees.)
        let def = definition(3, "get_latency_ns").len();
        let mut body = definition(3, "get_latency_ns");
        body.extend(sample(3, 1.5, "ns"));
        for n in (1..body.len()).filter(|&n| n != def) {
            assert!(
                expand_body(&body[..n], &mut out).is_err(),
                "prefix of {n} bytes"
            );
        }
    }
}
