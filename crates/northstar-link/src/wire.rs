//! Frames, varints and the stream reader.
//!
//! On the wire a frame is `COBS(body ‖ crc16_le(body))` then `0x00`. The body's first byte is
//! its kind ([`kind`]). CRC-16 is CRC-16/IBM-SDLC (the X.25 / HDLC check).

use crc::{Crc, NoTable, CRC_16_IBM_SDLC};

/// Version of the frame layout, sent in the HELLO frame.
pub const VERSION: u8 = 1;
/// Magic bytes at the start of a HELLO body, after the kind.
pub const HELLO_MAGIC: [u8; 2] = *b"NS";

/// Frame kinds: the first byte of a frame body.
pub mod kind {
    /// Starts a connection: `"NS"`, version, ticks per second (varint), the device's epoch in
    /// Unix ns (varint, 0 = no wall clock). Empties the dictionary.
    pub const HELLO: u8 = 0x01;
    /// Defines a string: id (varint, from 1), then the UTF-8 bytes to the end of the body.
    pub const STRING: u8 = 0x02;
    /// Defines a template: id (varint, from 0), compact event type, visibility, actor id
    /// (varint), schema length (one byte) and schema, then the shape bytes to the end.
    pub const TEMPLATE: u8 = 0x03;
    /// Counters: timestamp of the last record sent (ticks, varint), records sent, then the
    /// ring's pushed, dropped_full, oversize, rate_limited and sampled_out, then records the
    /// link could not send (all varints, all cumulative since HELLO).
    pub const SYNC: u8 = 0x04;
    /// Like SYNC, and the device says the stream ends here.
    pub const END: u8 = 0x05;
    /// A core record sent whole (timestamps in ticks): the fallback when the dictionary is full.
    pub const RAW: u8 = 0x06;
    /// A record whose template id (varint) follows.
    pub const RECORD: u8 = 0x07;
    /// `0x80 | id`: a record of template `id` (< 128): the one-byte form.
    pub const RECORD_SHORT: u8 = 0x80;
}

const CRC16: Crc<u16, NoTable> = Crc::<u16, NoTable>::new(&CRC_16_IBM_SDLC);

/// CRC-16/IBM-SDLC of a frame body.
pub fn frame_crc(body: &[u8]) -> u16 {
    CRC16.checksum(body)
}

/// Bytes a varint of `v` takes.
pub fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Zigzag-maps a signed value so small magnitudes give short varints.
#[inline]
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag`].
#[inline]
pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// A fixed output buffer that refuses to overflow.
pub struct Out<'a> {
    buf: &'a mut [u8],
    len: usize,
}

/// The output buffer was too small.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overflow;

impl<'a> Out<'a> {
    /// An empty buffer over `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, len: 0 }
    }
    /// Bytes written.
    pub fn len(&self) -> usize {
        self.len
    }
    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The bytes written.
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
    /// Appends bytes.
    pub fn put(&mut self, bytes: &[u8]) -> Result<(), Overflow> {
        let end = self.len.checked_add(bytes.len()).ok_or(Overflow)?;
        self.buf
            .get_mut(self.len..end)
            .ok_or(Overflow)?
            .copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }
    /// Appends one byte.
    pub fn byte(&mut self, b: u8) -> Result<(), Overflow> {
        self.put(&[b])
    }
    /// Appends an LEB128 varint.
    pub fn varint(&mut self, mut v: u64) -> Result<(), Overflow> {
        while v >= 0x80 {
            self.byte((v as u8) | 0x80)?;
            v >>= 7;
        }
        self.byte(v as u8)
    }
}

/// Why bytes could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The input ended inside a field.
    Truncated,
    /// A varint is longer than 10 bytes or overflows 64 bits.
    BadVarint,
}

/// Reads varints and bytes from the front of a slice.
pub struct In<'a> {
    rest: &'a [u8],
}

impl<'a> In<'a> {
    /// A reader over `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }
    /// What is left.
    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }
    /// Whether nothing is left.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }
    /// Takes `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], ReadError> {
        if n > self.rest.len() {
            return Err(ReadError::Truncated);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }
    /// Takes one byte.
    pub fn byte(&mut self) -> Result<u8, ReadError> {
        Ok(self.take(1)?[0])
    }
    /// Takes `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], ReadError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    /// Takes an LEB128 varint.
    pub fn varint(&mut self) -> Result<u64, ReadError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7F);
            if i == 9 && bits > 1 {
                return Err(ReadError::BadVarint);
            }
            v |= bits << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(ReadError::BadVarint)
    }
}

/// Encodes `body` as one wire frame (COBS of body and CRC, then `0x00`) into `out`; returns the
/// bytes written, or `None` when `out` is too small (it needs `body.len() + 4 + body.len() / 254`).
pub fn encode_frame(body: &[u8], out: &mut [u8]) -> Option<usize> {
    let crc = frame_crc(body).to_le_bytes();
    let needed = cobs::max_encoding_length(body.len() + 2) + 1;
    if out.len() < needed {
        return None;
    }
    let mut enc = cobs::CobsEncoder::new(out);
    enc.push(body).ok()?;
    enc.push(&crc).ok()?;
    let n = enc.finalize();
    *out.get_mut(n)? = 0;
    Some(n + 1)
}

/// Longest body [`frame_in_place`] takes: with its CRC it must stay under one COBS block.
pub const MAX_IN_PLACE_BODY: usize = 251;

/// Encodes a frame without a second buffer: `buf[0]` is free, the body is `buf[1..=len]`.
/// Appends the CRC, COBS-encodes in place (each zero becomes the length code of the run that
/// follows it, `buf[0]` the first run's) and ends with `0x00`. Returns the frame length (the
/// frame is `buf[..n]`, the same bytes as [`encode_frame`] gives), or `None` when the body is
/// longer than [`MAX_IN_PLACE_BODY`] or `buf` has no room for the CRC and the `0x00`
/// (`len + 4` bytes in all).
pub fn frame_in_place(buf: &mut [u8], len: usize) -> Option<usize> {
    if len > MAX_IN_PLACE_BODY || buf.len() < len + 4 {
        return None;
    }
    let crc = frame_crc(&buf[1..=len]).to_le_bytes();
    buf[len + 1] = crc[0];
    buf[len + 2] = crc[1];
    let end = len + 3;
    let mut code_at = 0;
    for i in 1..end {
        if buf[i] == 0 {
            buf[code_at] = (i - code_at) as u8;
            code_at = i;
        }
    }
    buf[code_at] = (end - code_at) as u8;
    buf[end] = 0;
    Some(end + 1)
}

/// What the stream reader found.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A well-formed frame body (CRC checked and removed).
    Body(&'a [u8]),
    /// Bytes between two `0x00` that are not a frame: COBS invalid, CRC mismatch, shorter than a
    /// CRC, or longer than the reader's limit. The reader is back in step after it.
    Corrupt {
        /// Bytes discarded.
        len: usize,
        /// Why.
        reason: Corruption,
    },
}

/// Why bytes were not a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Corruption {
    /// COBS decoding failed.
    Cobs,
    /// Fewer than three bytes (a kind and a CRC).
    TooShort,
    /// The CRC does not match the body.
    Crc,
    /// Longer than the reader's frame limit.
    TooLong,
}

impl core::fmt::Display for Corruption {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Cobs => "invalid COBS encoding",
            Self::TooShort => "shorter than a frame",
            Self::Crc => "CRC mismatch",
            Self::TooLong => "longer than the frame limit",
        })
    }
}

/// Splits a byte stream into frames at `0x00` bytes, with a fixed buffer (no heap): feed bytes
/// as they arrive, get frames out. Never panics, whatever the input.
pub struct FrameReader<const N: usize> {
    buf: [u8; N],
    len: usize,
    overflowed: usize,
}

impl<const N: usize> Default for FrameReader<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> FrameReader<N> {
    /// An empty reader accepting encoded frames up to `N` bytes.
    pub const fn new() -> Self {
        Self {
            buf: [0; N],
            len: 0,
            overflowed: 0,
        }
    }

    /// Bytes held that no `0x00` has ended yet (a truncated last frame, at end of stream).
    pub fn pending(&self) -> usize {
        self.len + self.overflowed
    }

    /// Feeds one byte; returns a frame when the byte ends one. Consecutive `0x00` bytes (an
    /// empty frame) return nothing.
    pub fn push(&mut self, byte: u8) -> Option<Frame<'_>> {
        if byte != 0 {
            if self.len < N {
                self.buf[self.len] = byte;
                self.len += 1;
            } else {
                self.overflowed += 1;
            }
            return None;
        }
        let len = self.len;
        let overflowed = self.overflowed;
        self.len = 0;
        self.overflowed = 0;
        if overflowed > 0 {
            return Some(Frame::Corrupt {
                len: len + overflowed,
                reason: Corruption::TooLong,
            });
        }
        if len == 0 {
            return None;
        }
        let decoded = match cobs::decode_in_place(&mut self.buf[..len]) {
            Ok(n) => n,
            Err(_) => {
                return Some(Frame::Corrupt {
                    len,
                    reason: Corruption::Cobs,
                })
            }
        };
        if decoded < 3 || decoded > len {
            return Some(Frame::Corrupt {
                len,
                reason: Corruption::TooShort,
            });
        }
        let (body, crc) = self.buf[..decoded].split_at(decoded - 2);
        if frame_crc(body).to_le_bytes() != [crc[0], crc[1]] {
            return Some(Frame::Corrupt {
                len,
                reason: Corruption::Crc,
            });
        }
        Some(Frame::Body(&self.buf[..decoded - 2]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_every_length() {
        let mut buf = [0u8; 16];
        for v in [
            0u64,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = Out::new(&mut buf);
            out.varint(v).unwrap();
            assert_eq!(out.len(), varint_len(v));
            let n = out.len();
            assert_eq!(In::new(&buf[..n]).varint(), Ok(v));
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX, -20_000_000] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert_eq!(In::new(&[0xFF; 11]).varint(), Err(ReadError::BadVarint));
        assert_eq!(In::new(&[0x80]).varint(), Err(ReadError::Truncated));
    }

    #[test]
    fn frames_in_place_are_the_frames_encode_frame_gives() {
        // Bodies of every length up to the limit, with zeros at the ends, runs and none.
        for len in 0..=MAX_IN_PLACE_BODY {
            for pattern in 0..4u8 {
                let body: Vec<u8> = (0..len)
                    .map(|i| match pattern {
                        0 => 0,
                        1 => 0x80 | (i as u8),
                        2 => (i % 3) as u8,
                        _ => (i as u8).wrapping_mul(151),
                    })
                    .collect();
                let mut expected = [0u8; 300];
                let n = encode_frame(&body, &mut expected).unwrap();
                let mut buf = vec![0xAA; len + 4];
                buf[1..=len].copy_from_slice(&body);
                assert_eq!(frame_in_place(&mut buf, len), Some(n), "len {len}");
                assert_eq!(&buf[..n], &expected[..n], "len {len} pattern {pattern}");
            }
        }
        assert_eq!(
            frame_in_place(&mut [0; 10], 7),
            None,
            "no room for CRC and 0x00"
        );
        assert_eq!(frame_in_place(&mut [1; 300], MAX_IN_PLACE_BODY + 1), None);
    }

    fn frames(stream: &[u8]) -> (Vec<Vec<u8>>, usize) {
        let mut reader = FrameReader::<512>::new();
        let mut good = Vec::new();
        let mut bad = 0;
        for &b in stream {
            match reader.push(b) {
                Some(Frame::Body(body)) => good.push(body.to_vec()),
                Some(Frame::Corrupt { .. }) => bad += 1,
                None => {}
            }
        }
        (good, bad)
    }

    #[test]
    fn a_lost_byte_costs_one_frame_and_the_reader_resynchronises() {
        let bodies: Vec<Vec<u8>> = (0u8..20)
            .map(|i| vec![0x80 | i, 0, i, 0, 0, 255, i.wrapping_mul(37)])
            .collect();
        let mut stream = Vec::new();
        for body in &bodies {
            let mut wire = [0u8; 64];
            let n = encode_frame(body, &mut wire).unwrap();
            assert!(
                !wire[..n - 1].contains(&0),
                "COBS leaves no zero inside a frame"
            );
            stream.extend_from_slice(&wire[..n]);
        }
        assert_eq!(frames(&stream), (bodies.clone(), 0));
        // Remove each byte in turn: at most one frame is lost, never a wrong frame accepted.
        for cut in 0..stream.len() {
            let mut damaged = stream.clone();
            damaged.remove(cut);
            let (good, bad) = frames(&damaged);
            assert!(good.len() >= bodies.len() - 2, "cut at {cut}");
            assert!(good.iter().all(|g| bodies.contains(g)), "cut at {cut}");
            assert!(good.len() + bad >= bodies.len() - 1, "cut at {cut}");
        }
    }
}
