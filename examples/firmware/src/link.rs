//! The host link: where drained records go. On a device this is a UART/USB/RTT transfer or a
//! buffer a debug probe reads; here it is a trait with a plain buffer implementation.

/// The link had no room for a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkFull {
    /// Bytes the record needed.
    pub needed: usize,
    /// Bytes the link had free.
    pub free: usize,
}

/// A destination for whole records, taken byte for byte.
pub trait Sink {
    /// Bytes the link can take right now.
    fn free(&self) -> usize;
    /// Appends one whole record, or refuses it whole (never a partial record).
    fn write(&mut self, record: &[u8]) -> Result<(), LinkFull>;
}

/// A fixed buffer of concatenated records: the "host link" stub. A debug probe (or a host
/// test) reads [`LinkBuffer::as_bytes`] and decodes it with `northstar_core::record::records`;
/// [`LinkBuffer::clear`] is the host's acknowledgement.
pub struct LinkBuffer<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> LinkBuffer<N> {
    /// An empty buffer.
    pub const fn new() -> Self {
        Self {
            buf: [0; N],
            len: 0,
        }
    }

    /// The records written since the last [`clear`](Self::clear).
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Forgets the buffered records (the host has taken them).
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

impl<const N: usize> Default for LinkBuffer<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Sink for LinkBuffer<N> {
    fn free(&self) -> usize {
        N - self.len
    }

    fn write(&mut self, record: &[u8]) -> Result<(), LinkFull> {
        let free = self.free();
        let end = self.len + record.len();
        match self.buf.get_mut(self.len..end) {
            Some(dst) if record.len() <= free => {
                dst.copy_from_slice(record);
                self.len = end;
                Ok(())
            }
            _ => Err(LinkFull {
                needed: record.len(),
                free,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_whole_records_it_cannot_hold() {
        let mut link = LinkBuffer::<8>::new();
        assert_eq!(link.write(b"abcde"), Ok(()));
        assert_eq!(link.write(b"fghi"), Err(LinkFull { needed: 4, free: 3 }));
        assert_eq!(link.as_bytes(), b"abcde");
        link.clear();
        assert_eq!(link.free(), 8);
    }
}
