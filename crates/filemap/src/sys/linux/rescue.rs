//! Object memory that survives its entry being cut short.
//!
//! The words of synchronisation objects and channels (mutex words, counters, ring positions,
//! frame tags) are Rust atomics, not copies through `crate::copy`'s routines, so a fault on
//! one cannot be turned into an error where it happens. Instead, each such object registers
//! its mapped data area here. When another process truncates the entry and this process then
//! touches a page that is gone (SIGBUS), the fault handler (`fault.rs`) calls [`rescue`]:
//! if the address lies in a registered area, the whole area is replaced, in place, by private
//! zero-filled memory and marked lost, and the faulting instruction runs again, on the zeros.
//! Every operation built on the area already tolerates any values there (another process
//! may write anything), and checks [`Rescued::lost`] before it reports a result, so the
//! caller gets `Error::PageFault` instead of an answer computed from zeros. The entry's
//! contents are gone for every process anyway: a truncated tmpfs page comes back as zeros.
//!
//! The registry is a list of fixed blocks of slots, only ever appended to (under a lock, by
//! registrations, never by the handler) and never freed, so the handler walks it without
//! locking or allocating. A slot is claimed with a compare-and-swap and published by storing
//! its bounds under a sequence lock; it is withdrawn (bounds cleared) before its memory is
//! unmapped.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

const SLOTS_PER_BLOCK: usize = 64;

struct Slot {
    /// Claimed by a registration (the other fields are its to write).
    taken: AtomicBool,
    /// Odd while `start` and `end` change (a sequence lock: the handler reads them only
    /// between two equal, even values).
    generation: AtomicUsize,
    /// The area's first byte; 0 while the slot holds no area.
    start: AtomicUsize,
    /// One past the area's last byte.
    end: AtomicUsize,
    /// 0 while the area is intact; else 1 + the offset of the first fault in it.
    lost: AtomicUsize,
}

impl Slot {
    /// Changes the area (only its claimant does, so writers never race each other).
    fn set(&self, start: usize, end: usize) {
        self.generation.fetch_add(1, Ordering::Relaxed);
        // Orders the odd generation before the new bounds, for a reader that sees them.
        std::sync::atomic::fence(Ordering::Release);
        self.start.store(start, Ordering::Relaxed);
        self.end.store(end, Ordering::Relaxed);
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The area, if the slot holds one and was not changing while read.
    fn area(&self) -> Option<(usize, usize)> {
        let before = self.generation.load(Ordering::Acquire);
        let (start, end) = (
            self.start.load(Ordering::Relaxed),
            self.end.load(Ordering::Relaxed),
        );
        // Orders the bounds' loads before the second look at the generation.
        std::sync::atomic::fence(Ordering::Acquire);
        let after = self.generation.load(Ordering::Relaxed);
        (before % 2 == 0 && before == after && start != 0).then_some((start, end))
    }
}

struct Block {
    slots: [Slot; SLOTS_PER_BLOCK],
    next: AtomicPtr<Block>,
}

impl Block {
    const fn new() -> Block {
        #[allow(clippy::declare_interior_mutable_const)] // Used only to fill the array.
        const FREE: Slot = Slot {
            taken: AtomicBool::new(false),
            generation: AtomicUsize::new(0),
            start: AtomicUsize::new(0),
            end: AtomicUsize::new(0),
            lost: AtomicUsize::new(0),
        };
        Block {
            slots: [FREE; SLOTS_PER_BLOCK],
            next: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// This block and the ones after it.
    fn chain(&'static self) -> impl Iterator<Item = &'static Block> {
        std::iter::successors(Some(self), |block| {
            // SAFETY: `next` is null or a leaked block, published with Release after it
            // was fully built; blocks are never freed.
            unsafe { block.next.load(Ordering::Acquire).as_ref() }
        })
    }
}

static FIRST: Block = Block::new();
/// Serialises appending blocks (registrations only; the handler never takes it).
static GROW: Mutex<()> = Mutex::new(());

/// A registered area. Withdrawn when dropped, which must happen before the area is
/// unmapped.
pub(crate) struct Rescued {
    slot: &'static Slot,
}

impl std::fmt::Debug for Rescued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rescued")
            .field("lost", &self.lost())
            .finish()
    }
}

/// `Slot::lost` of an area whose replacement failed.
const NOT_REPLACED: usize = usize::MAX;

impl Rescued {
    /// Registers the mapped area `[start, start + len)`, which stays mapped until the
    /// returned value is dropped.
    pub(crate) fn register(start: *mut u8, len: usize) -> Rescued {
        let slot = claim();
        slot.lost.store(0, Ordering::Relaxed);
        slot.set(start as usize, start as usize + len);
        Rescued { slot }
    }

    /// Where in the area the first fault happened, if its memory was lost (replaced by
    /// zeros after its entry was cut short).
    #[inline]
    pub(crate) fn lost(&self) -> Option<u64> {
        // The access that faulted may be a store just before this in the same thread: keep
        // the compiler from moving this load above it (the handler ran in between).
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
        // Acquire: pairs with the handler's store, made before it replaced the memory, so
        // that a thread that read the zeros sees the mark (the replacement itself, a system
        // call that changes the address space, orders it on every CPU as well).
        match self.slot.lost.load(Ordering::Acquire) {
            0 => None,
            // (The memory could not be replaced: lost all the same.)
            NOT_REPLACED => Some(0),
            at => Some(at as u64 - 1),
        }
    }
}

impl Drop for Rescued {
    fn drop(&mut self) {
        self.slot.set(0, 0);
        self.slot.taken.store(false, Ordering::Release);
    }
}

/// A free slot, claimed; appends a block when all are taken.
fn claim() -> &'static Slot {
    loop {
        let mut last = &FIRST;
        for block in FIRST.chain() {
            for slot in &block.slots {
                if slot
                    .taken
                    .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return slot;
                }
            }
            last = block;
        }
        let _grow = GROW.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if last.next.load(Ordering::Acquire).is_null() {
            let block: &'static Block = Box::leak(Box::new(Block::new()));
            last.next
                .store(block as *const Block as *mut Block, Ordering::Release);
        }
    }
}

/// Called by the fault handler for a SIGBUS the kernel raised at `address`: if that lies in
/// a registered area, marks the area lost and replaces its memory with private zeros, so
/// that the faulting instruction can run again. `false` if the address is not in a
/// registered area (or the memory could not be replaced): the signal is not filemap's.
///
/// Async-signal-safe: atomics and one `mmap` system call, no lock, no allocation.
pub(super) fn rescue(address: usize) -> bool {
    for block in FIRST.chain() {
        for slot in &block.slots {
            let Some((start, end)) = slot.area() else {
                continue;
            };
            if !(start..end).contains(&address) {
                continue;
            }
            if let Err(now) = slot.lost.compare_exchange(
                0,
                address - start + 1,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                if now == NOT_REPLACED {
                    // Tried and failed: the signal is passed on, as it was then.
                    return false;
                }
                // Another thread faulted first and is replacing the memory (or has): run
                // the access again, which faults again until its replacement is in place.
                // Replacing it twice could wipe what was written to the first zeros.
                return true;
            }
            // SAFETY: `[start, end)` is a mapping of this process's (registered while it is
            // mapped, withdrawn before it is unmapped, and in use by the faulting thread, so
            // not withdrawn now). MAP_FIXED replaces it with private zero pages at the same
            // addresses, which every user of the area accepts (any bytes are valid there).
            let replaced = unsafe {
                libc::mmap(
                    start as *mut libc::c_void,
                    end - start,
                    libc::PROT_READ | libc::PROT_WRITE,
                    // No reservation: a large area must not fail for overcommit limits.
                    libc::MAP_FIXED | libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                    -1,
                    0,
                )
            };
            if replaced != start as *mut libc::c_void {
                // Not replaced (no memory; the area may even be unmapped now): the signal
                // is passed on, now and at every fault here after (left marked as being
                // rescued, every fault would run again for ever), and the area reported
                // lost.
                slot.lost.store(NOT_REPLACED, Ordering::Release);
                return false;
            }
            return true;
        }
    }
    false
}
