//! A thread's stack of entered spans, innermost last: the parent of an event or of a new
//! contextual span, read without asking anyone else (no lock, no atomic operation).

use std::cell::Cell;

/// Depth of the stack; spans entered deeper are still counted (so exits match), but their
/// ids are not kept.
pub(crate) const STACK_DEPTH: usize = 64;

pub(crate) struct SpanStack {
    ids: [Cell<u64>; STACK_DEPTH],
    depth: Cell<usize>,
}

impl SpanStack {
    pub(crate) const fn new() -> Self {
        Self {
            ids: [const { Cell::new(0) }; STACK_DEPTH],
            depth: Cell::new(0),
        }
    }

    #[inline(always)]
    pub(crate) fn push(&self, id: u64) {
        let d = self.depth.get();
        if let Some(slot) = self.ids.get(d) {
            slot.set(id);
        }
        self.depth.set(d + 1);
    }

    #[inline(always)]
    pub(crate) fn pop(&self, id: u64) {
        let d = self.depth.get();
        if d == 0 {
            return;
        }
        // Spans are exited in reverse order of entering in ordinary code; if not (a guard
        // moved and dropped out of order), remove the matching entry.
        if d <= STACK_DEPTH && self.ids[d - 1].get() != id {
            if let Some(i) = (0..d).rev().find(|&i| self.ids[i].get() == id) {
                for j in i..d - 1 {
                    self.ids[j].set(self.ids[j + 1].get());
                }
            }
        }
        self.depth.set(d - 1);
    }

    /// The innermost entered span: `Some(id)`, `Some(0)` for none, `None` when deeper than
    /// the stack holds.
    #[inline(always)]
    pub(crate) fn current(&self) -> Option<u64> {
        match self.depth.get() {
            0 => Some(0),
            d if d <= STACK_DEPTH => Some(self.ids[d - 1].get()),
            _ => None,
        }
    }

    /// The innermost span the stack holds (0 for none): the current span, or when spans are
    /// nested deeper than [`STACK_DEPTH`], the deepest one kept.
    #[inline(always)]
    pub(crate) fn innermost_kept(&self) -> u64 {
        match self.depth.get().min(STACK_DEPTH) {
            0 => 0,
            d => self.ids[d - 1].get(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_pop_in_and_out_of_order() {
        let s = SpanStack::new();
        assert_eq!(s.current(), Some(0));
        s.push(1);
        s.push(2);
        s.push(3);
        assert_eq!(s.current(), Some(3));
        // 2's guard dropped before 3's.
        s.pop(2);
        assert_eq!(s.current(), Some(3));
        s.pop(3);
        assert_eq!(s.current(), Some(1));
        s.pop(1);
        assert_eq!(s.current(), Some(0));
    }

    #[test]
    fn deeper_than_the_stack_keeps_counting() {
        let s = SpanStack::new();
        for id in 1..=(STACK_DEPTH as u64 + 2) {
            s.push(id);
        }
        assert_eq!(s.current(), None);
        assert_eq!(s.innermost_kept(), STACK_DEPTH as u64);
        s.pop(STACK_DEPTH as u64 + 2);
        s.pop(STACK_DEPTH as u64 + 1);
        assert_eq!(s.current(), Some(STACK_DEPTH as u64));
    }
}
