//! CRC-32C of any byte range of a segment in constant time, after one linear pass.
//!
//! Re-synchronising after damage tries every offset where `NBLK` starts a plausible block;
//! each candidate's checksum covers its own byte range, and a crafted file can make those
//! ranges overlap (thousands of fake headers each claiming megabytes). Checking each candidate
//! by re-reading its range is quadratic. Instead, [`RangeCrc`] keeps the CRC of every
//! 32-byte prefix of the segment (computed once, lazily, as far as the scan needs) and
//! derives the CRC of `bytes[s..e]` from the CRCs of the prefixes `..s` and `..e`:
//!
//! `crc(A ++ B) = crc(A) · x^(8·|B|) mod P  xor  crc(B)`
//!
//! (the identity behind "CRC combine": CRC-32C with init and final xor all ones is affine in
//! its input, and the affine parts cancel), so `crc(B) = crc(..e) xor crc(..s) · x^(8·(e-s))`.
//! Products are taken in GF(2)\[x\] modulo the Castagnoli polynomial, in the reflected bit
//! order the checksum uses; powers `x^(8n)` come from two small tables built once.

use std::sync::OnceLock;

use crate::format::CRC32C;

/// The Castagnoli polynomial, reflected (x^32 implied).
const POLY: u32 = 0x82F6_3B78;
/// The polynomial `1` in reflected order (the coefficient of x^0 is the top bit).
const ONE: u32 = 1 << 31;
/// Bytes between two stored prefix checksums.
pub(crate) const STRIDE: usize = 32;
const LO_BITS: u32 = 13;
const HI_BITS: u32 = 12;

/// `a · b mod P`, reflected.
fn mul(a: u32, mut b: u32) -> u32 {
    let mut p = 0;
    let mut m = ONE;
    while m != 0 {
        if a & m != 0 {
            p ^= b;
        }
        // b = b · x mod P: the x^31 coefficient (bit 0) overflows into x^32 = P's low part.
        b = (b >> 1) ^ if b & 1 != 0 { POLY } else { 0 };
        m >>= 1;
    }
    p
}

struct Powers {
    /// `x^(8k)` for `k < 2^LO_BITS`.
    lo: Vec<u32>,
    /// `x^(8k·2^LO_BITS)` for `k < 2^HI_BITS`.
    hi: Vec<u32>,
}

fn powers() -> &'static Powers {
    static P: OnceLock<Powers> = OnceLock::new();
    P.get_or_init(|| {
        let table = |step: u32, n: usize| {
            let mut v = Vec::with_capacity(n);
            let mut acc = ONE;
            for _ in 0..n {
                v.push(acc);
                acc = mul(acc, step);
            }
            v
        };
        // x^8: x is bit 30 in reflected order; square three times.
        let x = ONE >> 1;
        let x8 = mul(mul(mul(x, x), mul(x, x)), mul(mul(x, x), mul(x, x)));
        let lo = table(x8, 1 << LO_BITS);
        let step_hi = mul(lo[(1 << LO_BITS) - 1], x8); // x^(8·2^LO_BITS)
        let hi = table(step_hi, 1 << HI_BITS);
        Powers { lo, hi }
    })
}

/// `x^(8n) mod P` for `n < 2^25` (a block's checksummed range is at most 16 MiB + 40 bytes);
/// larger `n` by repeated steps.
fn x8n(mut n: u64) -> u32 {
    let p = powers();
    if n < 1 << LO_BITS {
        return p.lo[n as usize];
    }
    let span = 1u64 << (LO_BITS + HI_BITS);
    let mut acc = ONE;
    while n >= span {
        acc = mul(acc, mul(p.hi[(1 << HI_BITS) - 1], p.lo[(1 << LO_BITS) - 1]));
        acc = mul(acc, powers().lo[1]);
        n -= span;
    }
    let lo = p.lo[(n & ((1 << LO_BITS) - 1)) as usize];
    let hi = p.hi[(n >> LO_BITS) as usize];
    mul(acc, mul(lo, hi))
}

/// `crc(A)` extended by `n` bytes of unknown content: the term `crc(A) · x^(8n)`.
pub(crate) fn shift(crc: u32, n: u64) -> u32 {
    if crc == 0 {
        0
    } else {
        mul(crc, x8n(n))
    }
}

/// CRC-32C of arbitrary ranges of `bytes`, each in constant time (at most `2 * STRIDE` bytes
/// checksummed and four products), after one pass over the bytes up to the range's end.
#[derive(Clone, Debug)]
pub(crate) struct RangeCrc<'a> {
    bytes: &'a [u8],
    /// `prefix[k - first]` = CRC-32C of `bytes[..k * STRIDE]`.
    prefix: Vec<u32>,
    /// Stride index of `prefix[0]` (earlier ones were discarded: the scan moved past them).
    first: usize,
    /// Bytes checksummed so far (the work counter the linearity tests read).
    pub(crate) bytes_checked: u64,
}

impl<'a> RangeCrc<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            prefix: vec![0],
            first: 0,
            bytes_checked: 0,
        }
    }

    /// Forgets prefixes before `p`: ranges starting before `p` are not asked for again. Keeps
    /// memory bounded by the look-ahead (a block's reach), not the segment's size.
    pub(crate) fn discard_before(&mut self, p: usize) {
        let k = p / STRIDE;
        let drop = k.saturating_sub(self.first).min(self.prefix.len() - 1);
        if drop >= 1 << 16 {
            self.prefix.drain(..drop);
            self.first += drop;
        }
    }

    /// CRC-32C of `bytes[..p]`.
    fn prefix_crc(&mut self, p: usize) -> u32 {
        let k = p / STRIDE;
        while self.first + self.prefix.len() <= k {
            let i = self.first + self.prefix.len() - 1;
            let chunk = &self.bytes[i * STRIDE..(i + 1) * STRIDE];
            let prev = self.prefix[self.prefix.len() - 1];
            self.prefix
                .push(shift(prev, STRIDE as u64) ^ CRC32C.checksum(chunk));
            self.bytes_checked += STRIDE as u64;
        }
        let base = k * STRIDE;
        // Callers never ask before the discard point; clamp rather than index out of range.
        let c = self.prefix[k.saturating_sub(self.first).min(self.prefix.len() - 1)];
        if p == base {
            return c;
        }
        self.bytes_checked += (p - base) as u64;
        shift(c, (p - base) as u64) ^ CRC32C.checksum(&self.bytes[base..p])
    }

    /// CRC-32C of `bytes[s..e]` (`s <= e <= bytes.len()`).
    pub(crate) fn range(&mut self, s: usize, e: usize) -> u32 {
        let a = self.prefix_crc(s);
        let b = self.prefix_crc(e);
        b ^ shift(a, (e - s) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize) -> Vec<u8> {
        let mut s = 0x2545_F491_4F6C_DD1Du64;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                s as u8
            })
            .collect()
    }

    #[test]
    fn range_crc_equals_direct_crc_for_every_kind_of_range() {
        let d = data(5000);
        let mut r = RangeCrc::new(&d);
        for (s, e) in [
            (0, 0),
            (0, 1),
            (0, 256),
            (1, 257),
            (255, 256),
            (256, 512),
            (7, 4999),
            (4999, 5000),
            (100, 100),
            (0, 5000),
            (3000, 3001),
            (13, 2050),
        ] {
            assert_eq!(r.range(s, e), CRC32C.checksum(&d[s..e]), "{s}..{e}");
        }
        let mut st = 1u64;
        for _ in 0..2000 {
            st = st.wrapping_mul(6364136223846793005).wrapping_add(1);
            let s = (st >> 33) as usize % 5001;
            let e = s + (st >> 13) as usize % (5001 - s);
            assert_eq!(r.range(s, e), CRC32C.checksum(&d[s..e]), "{s}..{e}");
        }
    }

    #[test]
    fn powers_agree_with_repeated_multiplication() {
        let x8 = x8n(1);
        let mut acc = ONE;
        for n in 0..3000u64 {
            assert_eq!(x8n(n), acc, "n = {n}");
            acc = mul(acc, x8);
        }
        // Across the table boundary and beyond the two-level span.
        let span = 1u64 << (LO_BITS + HI_BITS);
        for n in [8191u64, 8192, 8193, span - 1, span, span + 5, 3 * span + 77] {
            assert_eq!(x8n(n + 1), mul(x8n(n), x8), "n = {n}");
        }
    }
}
