//! The ring registry: a fixed table of rings that producer threads claim and release.
//!
//! A slot is `FREE`, `ACTIVE` (owned by one producer) or `RETIRED` (its producer is gone but
//! its ring may still hold records). Claiming is one compare-and-swap `FREE -> ACTIVE`;
//! releasing is a `Release` store of `RETIRED`; the drainer frees a retired slot only once its
//! ring is empty, so no record is lost when a thread exits. The ring memory is one region,
//! carved into equal power-of-two rings: the total is capped at `slots * ring_bytes`.
//!
//! Needs compare-and-swap: on thumbv6m enable the `portable-atomic` feature with a
//! `critical-section` implementation.

use crate::ring::{Consumer, Counters, Drained, Producer, Ring, RingControl};
use crate::sync::{const_fn, AtomicU8, AtomicUsize, Ordering, UnsafeCell};

const FREE: u8 = 0;
const ACTIVE: u8 = 1;
const RETIRED: u8 = 2;

/// One entry of the table: its state and its ring's control block.
pub struct Slot {
    state: AtomicU8,
    control: RingControl,
    /// Where the next owner's operation ids start, in units of 256 (see
    /// [`Registry::operation_floor`]): written by the owner before it retires the slot.
    operation_floor: AtomicUsize,
}

impl core::fmt::Debug for Slot {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let state = match self.state.load(Ordering::Relaxed) {
            FREE => "free",
            RETIRED => "retired",
            _ => "active",
        };
        f.debug_struct("Slot")
            .field("state", &state)
            .field("control", &self.control)
            .finish()
    }
}

impl Slot {
    const_fn! {
        /// A free slot.
        pub fn new() -> Self {
            Self { state: AtomicU8::new(FREE), control: RingControl::new(), operation_floor: AtomicUsize::new(0) }
        }
    }
}

impl Default for Slot {
    fn default() -> Self {
        Self::new()
    }
}

/// Why a registry cannot be built over the given memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegistryError {
    /// No slots.
    NoSlots,
    /// The storage does not divide into equal power-of-two rings of at least 64 bytes.
    BadRingSize {
        /// Storage bytes.
        storage: usize,
        /// Slots.
        slots: usize,
    },
}

impl core::fmt::Display for RegistryError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoSlots => f.write_str("a registry needs at least one slot"),
            Self::BadRingSize { storage, slots } => write!(
                f,
                "{storage} bytes of storage do not divide into {slots} power-of-two rings of >= 64 bytes"
            ),
        }
    }
}

/// A fixed-capacity table of rings.
pub struct Registry<'a> {
    slots: &'a [Slot],
    storage: &'a [UnsafeCell<u8>],
    ring_bytes: usize,
    drainer_taken: AtomicU8,
}

impl core::fmt::Debug for Registry<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Registry")
            .field("slots", &self.slots.len())
            .field("ring_bytes", &self.ring_bytes)
            .field(
                "drainer_taken",
                &(self.drainer_taken.load(Ordering::Relaxed) != 0),
            )
            .finish_non_exhaustive()
    }
}

// SAFETY: the storage cells are only reached through rings whose producer (one claim per slot,
// enforced by the state CAS) and consumer (one Drainer, enforced by `drainer_taken`) follow the
// ring's Release/Acquire protocol.
unsafe impl Sync for Registry<'_> {}
// SAFETY: as for Sync; the registry holds only shared references and atomics.
unsafe impl Send for Registry<'_> {}

impl<'a> Registry<'a> {
    /// A registry over `slots` and `storage` (split evenly; each share must be a power of two
    /// of at least 64 bytes).
    pub fn new(slots: &'a [Slot], storage: &'a [UnsafeCell<u8>]) -> Result<Self, RegistryError> {
        if slots.is_empty() {
            return Err(RegistryError::NoSlots);
        }
        let ring_bytes = storage.len() / slots.len();
        if !ring_bytes.is_power_of_two()
            || ring_bytes < 64
            || ring_bytes * slots.len() != storage.len()
        {
            return Err(RegistryError::BadRingSize {
                storage: storage.len(),
                slots: slots.len(),
            });
        }
        Ok(Self::new_unchecked_sizes(slots, storage, ring_bytes))
    }

    const_fn! {
        /// For `static_registry!`: sizes checked at compile time by the macro.
        #[doc(hidden)]
        pub fn new_unchecked_sizes(slots: &'a [Slot], storage: &'a [UnsafeCell<u8>], ring_bytes: usize) -> Self {
            Self { slots, storage, ring_bytes, drainer_taken: AtomicU8::new(0) }
        }
    }

    /// Number of slots.
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// Bytes per ring.
    pub fn ring_bytes(&self) -> usize {
        self.ring_bytes
    }

    /// The ring of slot `index`.
    pub fn ring(&self, index: usize) -> Ring<'_> {
        let cells = &self.storage[index * self.ring_bytes..(index + 1) * self.ring_bytes];
        match Ring::new(&self.slots[index].control, cells) {
            Ok(ring) => ring,
            // Sizes were validated when the registry was built.
            Err(_) => unreachable!("registry ring sizes are validated at construction"),
        }
    }

    /// Claims a free ring for the calling producer, or `None` when every slot is taken.
    pub fn claim(&self) -> Option<Claim<'_>> {
        for (index, slot) in self.slots.iter().enumerate() {
            if slot.state.load(Ordering::Relaxed) == FREE
                && slot
                    .state
                    .compare_exchange(FREE, ACTIVE, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                let ring = self.ring(index);
                ring.reset_cached_head();
                // SAFETY: the CAS made this claim the slot's only owner until it retires.
                let producer = unsafe { ring.producer() };
                return Some(Claim {
                    slot,
                    index,
                    producer,
                });
            }
        }
        None
    }

    /// The registry's one consumer, or `None` while another `Drainer` exists.
    pub fn drainer(&self) -> Option<Drainer<'_>> {
        self.drainer_taken
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| Drainer { registry: self })
    }

    /// Counters summed over every slot (monotonic: a reused slot keeps counting).
    pub fn counters(&self) -> Counters {
        let mut total = Counters::default();
        for i in 0..self.slots.len() {
            total.add(&self.ring(i).counters());
        }
        total
    }

    /// Slots currently owned by a producer.
    pub fn active(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.state.load(Ordering::Relaxed) == ACTIVE)
            .count()
    }

    /// Whether a [`Drainer`] exists now.
    pub fn has_drainer(&self) -> bool {
        self.drainer_taken.load(Ordering::Acquire) != 0
    }

    /// Whether every ring is empty and no slot is waiting to be drained after retirement.
    pub fn is_drained(&self) -> bool {
        (0..self.slots.len()).all(|i| {
            self.slots[i].state.load(Ordering::Acquire) != RETIRED && self.ring(i).is_empty()
        })
    }
}

/// A claimed ring. Dropping it retires the slot; the drainer frees it once empty.
pub struct Claim<'r> {
    slot: &'r Slot,
    index: usize,
    producer: Producer<'r>,
}

impl core::fmt::Debug for Claim<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Claim")
            .field("index", &self.index)
            .field("producer", &self.producer)
            .finish_non_exhaustive()
    }
}

impl<'r> Claim<'r> {
    /// The slot index.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The producer of the claimed ring.
    pub fn producer(&mut self) -> &mut Producer<'r> {
        &mut self.producer
    }

    /// Gives up ownership without retiring the slot, returning its index. The caller must
    /// later call [`Registry::retire`] exactly once for it (the std recorder does this from a
    /// thread-exit destructor).
    pub fn into_index(self) -> usize {
        let index = self.index;
        core::mem::forget(self);
        index
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.slot.state.store(RETIRED, Ordering::Release);
    }
}

impl Registry<'_> {
    /// The producer of an `ACTIVE` slot kept by index (see [`Claim::into_index`]).
    ///
    /// # Safety
    ///
    /// `index` must come from [`Claim::into_index`] on this registry, not yet retired, and the
    /// caller must be the only one using its producer (the thread that claimed it).
    #[inline(always)]
    pub unsafe fn producer_of(&self, index: usize) -> Producer<'_> {
        // The hot path: skip re-validating sizes checked when the registry was built.
        let start = index * self.ring_bytes;
        let cells = &self.storage[start..start + self.ring_bytes];
        let ring = Ring::from_parts(&self.slots[index].control, cells);
        // SAFETY: the caller holds the slot's claim, so this is its only producer.
        unsafe { ring.producer() }
    }

    /// Where operation ids of slot `index` may start for its next owner, in units of 256: a
    /// producer that numbers operations per slot stores here, before it retires the slot, one
    /// more than the highest unit it used ([`Self::set_operation_floor`]), so a thread that
    /// later claims the slot continues past them instead of repeating them. The slot's
    /// `RETIRED -> FREE -> ACTIVE` hand-over orders the store before the next owner's load.
    pub fn operation_floor(&self, index: usize) -> usize {
        self.slots[index].operation_floor.load(Ordering::Relaxed)
    }

    /// Sets [`Self::operation_floor`] of slot `index` (only ever raised).
    pub fn set_operation_floor(&self, index: usize, floor: usize) {
        let f = &self.slots[index].operation_floor;
        if floor > f.load(Ordering::Relaxed) {
            f.store(floor, Ordering::Relaxed);
        }
    }

    /// Retires a slot kept by index.
    ///
    /// # Safety
    ///
    /// As for [`Registry::producer_of`]; no producer of the slot may be used afterwards.
    pub unsafe fn retire(&self, index: usize) {
        self.slots[index].state.store(RETIRED, Ordering::Release);
    }
}

/// The one consumer of every ring in a registry.
pub struct Drainer<'r> {
    registry: &'r Registry<'r>,
}

impl core::fmt::Debug for Drainer<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Drainer")
            .field("registry", self.registry)
            .finish()
    }
}

impl<'r> Drainer<'r> {
    /// Drains every active or retired ring, handing each record in place to
    /// `f(slot, record)`; at most `max_bytes_per_ring` per ring per call. A retired ring found
    /// empty is freed for reuse.
    pub fn drain(&mut self, max_bytes_per_ring: usize, mut f: impl FnMut(usize, &[u8])) -> Drained {
        let mut total = Drained::default();
        for (index, slot) in self.registry.slots.iter().enumerate() {
            let state = slot.state.load(Ordering::Acquire);
            if state == FREE {
                continue;
            }
            let ring = self.registry.ring(index);
            // SAFETY: this Drainer is the registry's only consumer (`drainer_taken`).
            let mut consumer: Consumer<'_> = unsafe { ring.consumer() };
            total.add(consumer.drain(max_bytes_per_ring, |bytes| f(index, bytes)));
            if state == RETIRED && ring.is_empty() {
                // The retiring producer's last publish happened before its RETIRED store,
                // which our Acquire load saw, so empty now means empty for good.
                let _ = slot.state.compare_exchange(
                    RETIRED,
                    FREE,
                    Ordering::Release,
                    Ordering::Relaxed,
                );
            }
        }
        total
    }

    /// The registry drained.
    pub fn registry(&self) -> &'r Registry<'r> {
        self.registry
    }
}

impl Drop for Drainer<'_> {
    fn drop(&mut self) {
        self.registry.drainer_taken.store(0, Ordering::Release);
    }
}

/// Declares a `static` registry of `$slots` rings of `$ring_bytes` each, for targets without a
/// heap: `northstar_core::static_registry!(pub REGISTRY, slots = 4, ring_bytes = 4096);`
#[cfg(not(loom))]
#[macro_export]
macro_rules! static_registry {
    ($vis:vis $name:ident, slots = $slots:expr, ring_bytes = $ring_bytes:expr) => {
        $vis static $name: $crate::registry::Registry<'static> = {
            const _: () = assert!(
                ($ring_bytes as usize).is_power_of_two() && ($ring_bytes as usize) >= 64 && ($slots as usize) > 0,
                "ring_bytes must be a power of two >= 64 and slots > 0"
            );
            static SLOTS: [$crate::registry::Slot; $slots] = [const { $crate::registry::Slot::new() }; $slots];
            static STORAGE: $crate::ring::RingStorage<{ $slots * $ring_bytes }> = $crate::ring::RingStorage::new();
            $crate::registry::Registry::new_unchecked_sizes(&SLOTS, STORAGE.cells(), $ring_bytes)
        };
    };
}

#[cfg(all(test, not(loom)))]
mod tests {
    use crate::events::AgentSessionEnded;
    use crate::Visibility;

    crate::static_registry!(REG, slots = 2, ring_bytes = 256);

    #[test]
    fn claim_release_and_reuse_after_drain() {
        let mut drainer = REG.drainer().expect("first drainer");
        assert!(REG.drainer().is_none(), "only one drainer at a time");
        let mut a = REG.claim().expect("slot 0");
        let b = REG.claim().expect("slot 1");
        assert!(REG.claim().is_none(), "table full");
        a.producer()
            .record(
                1,
                2,
                Visibility::Public,
                &AgentSessionEnded { session_id: 3 },
            )
            .unwrap();
        let a_index = a.index();
        drop(a);
        // Retired but not drained: still not claimable.
        assert!(REG.claim().is_none());
        let mut seen = 0;
        drainer.drain(usize::MAX, |slot, _| {
            assert_eq!(slot, a_index);
            seen += 1;
        });
        assert_eq!(seen, 1);
        let c = REG.claim().expect("freed after drain");
        assert_eq!(c.index(), a_index);
        assert_eq!(REG.counters().pushed, 1);
        drop((b, c));
        drop(drainer);
        assert!(REG.drainer().is_some());
    }
}
