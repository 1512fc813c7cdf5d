//! Widening a 32-bit hardware counter into the 64-bit ticks a record header holds.
//!
//! The Cortex-M DWT cycle counter (`CYCCNT`) is 32 bits wide and wraps every `2^32 / f_cpu`
//! seconds (about 268 s at 16 MHz, 26 s at 168 MHz). [`Wide32`] keeps the count of wraps seen so
//! far and returns `wraps << 32 | raw`, so timestamps stay monotonic across wraps as long as the
//! counter is read at least once per wrap period (the firmware's periodic interrupt reads it on
//! every tick).

use core::cell::Cell;

use critical_section::Mutex;

/// The last raw reading and the number of wraps before it.
#[derive(Clone, Copy)]
struct State {
    last: u32,
    wraps: u32,
}

/// Extends a wrapping 32-bit counter to 64 bits.
///
/// The update runs inside a critical section, so the clock may be read from any context (an
/// interrupt handler and the main loop): a few cycles with interrupts masked, no atomic
/// read-modify-write, so it also works on cores without compare-and-swap (thumbv6m).
pub struct Wide32 {
    state: Mutex<Cell<State>>,
}

impl Wide32 {
    /// A counter that has seen no reading yet (its first reading is taken as "no wrap yet").
    pub const fn new() -> Self {
        Self {
            state: Mutex::new(Cell::new(State { last: 0, wraps: 0 })),
        }
    }

    /// Folds a fresh raw reading into the 64-bit count and returns it. A reading smaller than
    /// the previous one means the counter wrapped once in between.
    pub fn extend(&self, raw: u32) -> u64 {
        critical_section::with(|cs| {
            let cell = self.state.borrow(cs);
            let mut s = cell.get();
            if raw < s.last {
                s.wraps = s.wraps.wrapping_add(1);
            }
            s.last = raw;
            cell.set(s);
            (u64::from(s.wraps) << 32) | u64::from(raw)
        })
    }
}

impl Default for Wide32 {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::Wide32;

    #[test]
    fn readings_stay_monotonic_across_wraps() {
        let w = Wide32::new();
        assert_eq!(w.extend(10), 10);
        assert_eq!(w.extend(0xFFFF_FFF0), 0xFFFF_FFF0);
        // The counter wrapped: the high word advances.
        assert_eq!(w.extend(0x10), (1 << 32) | 0x10);
        assert_eq!(w.extend(0x10), (1 << 32) | 0x10);
        assert_eq!(w.extend(5), (2 << 32) | 5);
    }
}
