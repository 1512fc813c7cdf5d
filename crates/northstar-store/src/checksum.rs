//! CRC-32C (Castagnoli), the checksum over every stored byte.
//!
//! The `crc32c` crate computes it with the CPU's instruction where there is one (SSE4.2's
//! `crc32` on x86-64, detected at run time; the CRC extension on aarch64), on three independent
//! streams at once so the instruction's latency is hidden (about three times the rate of one
//! stream; the flusher checksums every byte it writes and every scan every byte it reads), and
//! with a table elsewhere. The `crc` crate's slice-by-16 table is the reference the fast path is
//! tested against.

use crc::{Crc, CRC_32_ISCSI};

static TABLE: Crc<u32, crc::Table<16>> = Crc::<u32, crc::Table<16>>::new(&CRC_32_ISCSI);

/// The CRC-32C checksum of `bytes`.
#[derive(Clone, Copy, Debug)]
pub struct Crc32c;

impl Crc32c {
    /// Checksums `bytes`, with the CPU's instruction where there is one.
    #[inline]
    pub fn checksum(&self, bytes: &[u8]) -> u32 {
        crc32c::crc32c(bytes)
    }

    /// The portable table implementation (the reference for tests and benchmarks).
    pub fn checksum_table(&self, bytes: &[u8]) -> u32 {
        TABLE.checksum(bytes)
    }
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
        let data: Vec<u8> = (0..80_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        // Every length to 1 KiB and around the three-stream chunk sizes (3 x 256 and
        // 3 x 8192 bytes: one chunk, one chunk and a tail, several chunks), at every alignment.
        let around = |n: usize| n.saturating_sub(9)..n + 9;
        let lengths: Vec<usize> = (0..1024)
            .chain(around(768))
            .chain(around(1536))
            .chain(around(24_576))
            .chain(around(24_576 + 768))
            .chain(around(49_152))
            .chain([65_536, 79_000])
            .collect();
        for start in 0..9 {
            for &len in &lengths {
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
