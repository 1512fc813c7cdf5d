//! The one place that names atomics and cells.
//!
//! Everything else in the crate imports from here, so that `--cfg loom` swaps in loom's
//! model-checked types and the `portable-atomic` feature swaps in types that work on targets
//! without compare-and-swap (thumbv6m).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU8, AtomicUsize, Ordering};

#[cfg(all(not(loom), feature = "portable-atomic"))]
pub(crate) use portable_atomic::{AtomicPtr, AtomicU8, AtomicUsize, Ordering};

#[cfg(all(not(loom), not(feature = "portable-atomic"), northstar_cas))]
pub(crate) use core::sync::atomic::{AtomicPtr, AtomicU8};
#[cfg(all(not(loom), not(feature = "portable-atomic")))]
pub(crate) use core::sync::atomic::{AtomicUsize, Ordering};

#[cfg(not(loom))]
pub(crate) use core::cell::UnsafeCell;
/// A byte cell of a ring's storage: loom's tracked cell under `--cfg loom`, so loom sees every
/// byte the producer writes and the consumer reads, and `core`'s cell otherwise.
#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// Adds one to a counter that only one thread ever writes: a load and a store, no
/// read-modify-write, so it works on targets without atomic RMW and costs a plain increment.
#[inline(always)]
pub(crate) fn bump_single_writer(counter: &AtomicUsize) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(1),
        Ordering::Relaxed,
    );
}

/// Defines a `const fn` normally and a plain `fn` under loom, whose types are not
/// const-constructible. Here, beside the loom swap that makes it necessary, so the ring, the
/// registry and the rate limiter take it from the same place as their atomics.
macro_rules! const_fn {
    ($(#[$m:meta])* $vis:vis fn $($rest:tt)*) => {
        #[cfg(not(loom))]
        $(#[$m])* $vis const fn $($rest)*
        #[cfg(loom)]
        $(#[$m])* $vis fn $($rest)*
    };
}
pub(crate) use const_fn;
