//! Batching, one rule for every sender: a batch (an OTLP request of one signal, a shipment
//! of OTLP requests, a ClickHouse INSERT) is cut when it holds `items` items or `bytes` encoded
//! bytes, whichever comes first. [`Fill`] counts what a batch holds; [`BatchLimits::full`]
//! says when to cut it.

/// Limits of one batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchLimits {
    /// Items (spans, data points, log records, rows, events) per batch.
    pub items: usize,
    /// Encoded bytes per batch (a request adds a few hundred bytes of envelope).
    pub bytes: usize,
}

impl Default for BatchLimits {
    fn default() -> Self {
        Self {
            items: 1000,
            bytes: 1 << 20,
        }
    }
}

impl BatchLimits {
    /// No limit: the caller cuts batches itself.
    pub const UNLIMITED: Self = Self {
        items: usize::MAX,
        bytes: usize::MAX,
    };

    /// Whether a batch of `items` items and `bytes` bytes is to be cut now.
    pub fn full(&self, items: usize, bytes: usize) -> bool {
        items >= self.items || bytes >= self.bytes
    }

    /// Whether `fill` is to be cut now.
    pub fn is_full(&self, fill: &Fill) -> bool {
        self.full(fill.items, fill.bytes)
    }
}

/// What a batch being filled holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fill {
    /// Items.
    pub items: usize,
    /// Bytes.
    pub bytes: usize,
}

impl Fill {
    /// Counts `items` more items of `bytes` bytes.
    pub fn add(&mut self, items: usize, bytes: usize) {
        self.items += items;
        self.bytes += bytes;
    }

    /// Whether it holds no item.
    pub fn is_empty(&self) -> bool {
        self.items == 0
    }

    /// Empties it, returning what it held.
    pub fn take(&mut self) -> Fill {
        std::mem::take(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_cut_at_either_limit() {
        let l = BatchLimits {
            items: 3,
            bytes: 100,
        };
        let mut f = Fill::default();
        f.add(2, 50);
        assert!(!l.is_full(&f));
        f.add(1, 0);
        assert!(l.is_full(&f), "by items");
        assert_eq!(f.take().items, 3);
        assert!(f.is_empty());
        f.add(1, 100);
        assert!(l.is_full(&f), "by bytes");
        assert!(!BatchLimits::UNLIMITED.full(usize::MAX - 1, usize::MAX - 1));
    }
}
