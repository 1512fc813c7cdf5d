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
use northstar_core::codec::{DecodeError, Field, Reader, Writer};
use northstar_core::record::{
    decode_framing, EventHeader, Trailer, FRAMING_LEN, HEADER_LEN, MAX_PAYLOAD_LEN, TRAILER_LEN,
};
use zerocopy::IntoBytes;

/// A block's expanded body is at most this many times its stored body.
pub const MAX_EXPANSION: usize = 16;

const KIND_PERF: u8 = 0;
pub(crate) const KIND_OPERATION: u8 = 1;

// The flusher's side (one definition per site per block) is `crate::block_sites`.

// ------------------------------------------------------------------------- definitions

/// The payload of a site's definition record: `site_id u32`, `kind u8` (0 perf_sample,
/// 1 agent_operation), then its slots (perf: name, unit, `dims u32`, key and value of each;
/// operation: operation type, target type, target id), each an optional string in the core
/// codec's form (`Option<&str>`: a tag byte, 0 recorded per call or 1 literal, then for a
/// literal the `u32` length and the UTF-8).
pub(crate) fn encode_definition(id: u32, meta: SiteMeta, out: &mut Vec<u8>) {
    let mut slots: Vec<Option<&str>> = Vec::new();
    let (kind, dims) = match meta.shape() {
        Shape::Perf { name, unit, dims } => {
            slots.extend([name, unit]);
            slots.extend(dims.iter().flat_map(|&(k, v)| [k, v]));
            (KIND_PERF, Some(dims.len()))
        }
        Shape::Operation {
            operation_type,
            target_type,
            target_id,
        } => {
            slots.extend([operation_type, target_type, target_id]);
            (KIND_OPERATION, None)
        }
    };
    let len = 4 + 1 + dims.map_or(0, |_| 4) + slots.iter().map(Field::encoded_len).sum::<usize>();
    out.clear();
    out.resize(len, 0);
    let mut w = Writer::new(out);
    w.put(&id.to_le_bytes());
    w.put(&[kind]);
    // perf: name and unit, then the dimension count, then the dimensions' slots.
    let (head, tail) = slots.split_at(if dims.is_some() { 2 } else { slots.len() });
    head.iter().for_each(|slot| slot.encode(&mut w));
    if let Some(n) = dims {
        w.put_len(n);
    }
    tail.iter().for_each(|slot| slot.encode(&mut w));
    debug_assert!(w.finish(len).is_ok());
}

/// A site definition read from a block; its strings borrow the block.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct StoredSite<'a> {
    pub(crate) kind: u8,
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

pub(crate) fn decode_definition(payload: &[u8]) -> Result<(u32, StoredSite<'_>), String> {
    let what = |e: DecodeError| format!("site definition: {e}");
    let mut r = Reader::new(payload);
    let id = u32::from_le_bytes(r.array().map_err(what)?);
    let [kind] = r.array().map_err(what)?;
    fn slot<'a>(r: &mut Reader<'a>) -> Result<Option<&'a str>, String> {
        <Option<&'a str> as Field<'a>>::decode(r).map_err(|e| format!("site definition: {e}"))
    }
    let site = match kind {
        KIND_PERF => {
            let (name, unit) = (slot(&mut r)?, slot(&mut r)?);
            let n = r.len_prefix().map_err(what)?;
            // Every slot takes at least a byte: the count cannot exceed what follows (so a
            // hostile count allocates nothing it has not got bytes for).
            let left = payload.len() - r.position();
            if n > left / 2 {
                return Err(format!("site definition: {n} dimensions in {left} bytes"));
            }
            let mut dims = Vec::with_capacity(n);
            for _ in 0..n {
                dims.push((slot(&mut r)?, slot(&mut r)?));
            }
            StoredSite {
                kind,
                slots: [name, unit, None],
                dims,
            }
        }
        KIND_OPERATION => StoredSite {
            kind,
            slots: [slot(&mut r)?, slot(&mut r)?, slot(&mut r)?],
            dims: Vec::new(),
        },
        k => return Err(format!("site definition: kind {k}")),
    };
    r.finish().map_err(what)?;
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
    // tried first, then a scan of up to 16 ids; the map (filled once per definition) serves
    // a block with more.
    let mut sites: Vec<(u32, StoredSite<'_>)> = Vec::new();
    let mut by_id: HashMap<u32, usize> = HashMap::new();
    let mut last: Option<(u32, usize)> = None;
    let mut at = 0usize;
    while at < stored.len() {
        let framed = decode_framing(&stored[at..]).map_err(|e| format!("record at +{at}: {e}"))?;
        let (header, record, payload) = (framed.header, framed.bytes, framed.payload);
        let visibility = framed.visibility;
        let total = record.len();
        let type_byte = header.type_byte();
        if type_byte != SITE_DEFINITION_TYPE_BYTE && type_byte != STORED_TYPE_BYTE {
            if out.len() + total > limit {
                return Err(format!("expands beyond {MAX_EXPANSION} times its bytes"));
            }
            out.extend_from_slice(record);
            at += total;
            continue;
        }
        if type_byte == SITE_DEFINITION_TYPE_BYTE {
            let (id, site) =
                decode_definition(payload).map_err(|e| format!("record at +{at}: {e}"))?;
            if by_id.insert(id, sites.len()).is_some() {
                return Err(format!("record at +{at}: site {id} defined twice"));
            }
            sites.push((id, site));
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
                let found = if sites.len() <= 16 {
                    sites.iter().position(|(x, _)| *x == id)
                } else {
                    by_id.get(&id).copied()
                };
                let i = found.ok_or_else(|| format!("record at +{at}: site {id} not defined"))?;
                last = Some((id, i));
                i
            }
        };
        let shape = sites[index].1.shape();
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
pub(crate) mod tests {
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

    pub(crate) fn record(type_byte: u8, payload: &[u8]) -> Vec<u8> {
        let header =
            EventHeader::with_type_byte(type_byte, Visibility::Public, 1, 2, 0, payload.len());
        let mut r = vec![0u8; FRAMING_LEN + payload.len()];
        write_record(&mut r, &header, |d| d.copy_from_slice(payload));
        r
    }

    pub(crate) fn definition(id: u32, name: &str) -> Vec<u8> {
        // A perf site: literal name, run-time unit, no dimensions.
        let mut p = id.to_le_bytes().to_vec();
        p.push(KIND_PERF);
        for slot in [Some(name), None] {
            let mut b = vec![0u8; slot.encoded_len()];
            slot.encode(&mut Writer::new(&mut b));
            p.extend(b);
        }
        p.extend_from_slice(&0u32.to_le_bytes());
        record(SITE_DEFINITION_TYPE_BYTE, &p)
    }

    pub(crate) fn sample(id: u32, value: f64, unit: &str) -> Vec<u8> {
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
