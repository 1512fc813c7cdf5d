//! CRC-32C (Castagnoli), the checksum over every stored byte.
//!
//! On x86-64 CPUs with SSE4.2 the `crc32` instruction computes exactly this polynomial, several
//! times faster than a table (the flusher checksums every byte it writes, so this is its
//! largest cost). Elsewhere, and as the reference the fast path is tested against, the `crc`
//! crate's slice-by-16 table.

use crc::{Crc, CRC_32_ISCSI};

static TABLE: Crc<u32, crc::Table<16>> = Crc::<u32, crc::Table<16>>::new(&CRC_32_ISCSI);

/// The CRC-32C checksum of `bytes`.
#[derive(Clone, Copy, Debug)]
pub struct Crc32c;

impl Crc32c {
    /// Checksums `bytes`, with the CPU's instruction where there is one.
    #[inline]
    pub fn checksum(&self, bytes: &[u8]) -> u32 {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("sse4.2") {
            // SAFETY: the CPU reports SSE4.2, the only requirement of `sse42`.
            return unsafe { sse42(bytes) };
        }
        TABLE.checksum(bytes)
    }

    /// The portable table implementation (the reference for tests and benchmarks).
    pub fn checksum_table(&self, bytes: &[u8]) -> u32 {
        TABLE.checksum(bytes)
    }
}

/// CRC-32C with the SSE4.2 `crc32` instruction, 8 bytes at a time.
///
/// # Safety
///
/// The CPU must support SSE4.2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
unsafe fn sse42(bytes: &[u8]) -> u32 {
    use core::arch::x86_64::{_mm_crc32_u64, _mm_crc32_u8};
    let mut crc = u64::from(u32::MAX);
    let mut words = bytes.chunks_exact(8);
    for chunk in &mut words {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        crc = _mm_crc32_u64(crc, u64::from_le_bytes(word));
    }
    let mut crc = crc as u32;
    for &b in words.remainder() {
        crc = _mm_crc32_u8(crc, b);
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value_of_the_catalogue() {
        // CRC-32C check value for "123456789" (the `crc` catalogue's CRC_32_ISCSI.check).
        assert_eq!(Crc32c.checksum(b"123456789"), 0xE306_9283);
        assert_eq!(Crc32c.checksum_table(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn instruction_and_table_agree_on_every_length_and_alignment() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let data: Vec<u8> = (0..4096)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        for start in 0..9 {
            for len in (0..300).chain([1000, 4000 - start]) {
                let bytes = &data[start..start + len];
                assert_eq!(
                    Crc32c.checksum(bytes),
                    Crc32c.checksum_table(bytes),
                    "start {start} len {len}"
                );
            }
        }
    }
}
