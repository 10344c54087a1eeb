//! Entries that hold several channel rings: an inbox (one ring per sender slot) and a
//! service (a request ring and a response ring per client slot). This module owns their
//! common layout, making and opening them, and the doorbells of the endpoints over their
//! rings.
//!
//! Layout of the data area: a control page, then `slots × rings_per_slot` rings, each a
//! channel's control area and ring (`crate::channel::ring`, unchanged), ring `k` of slot `i`
//! at index `k × slots + i`.
//!
//! | offset | field |
//! |---|---|
//! | 0 | layout (u32, 1), slots (u32), each ring's size (u64), rings per slot (u32) |
//! | 64 | the shared doorbell (the one receiver's): sequence (u32), sleepers (u32), busy-polls (u32) |
//! | 128 | a service's server takeovers (u64): bumped by each server that takes over, odd while it writes the positions below |
//! | 256 + 8 i | slot i's word (u64; a service's client generation) |
//! | 1280 + 8 i | slot i's takeover position (u64; a service's: how far into slot i's request ring the servers before the last takeover had taken) |

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::channel::endpoint::{BellWords, Bells, Endpoint, check_failed};
use crate::channel::ring::{self, RING_OFFSET, Ring};
use crate::channel::shared;
use crate::error::{Error, Result};
use crate::header::Layout;
use crate::name::Name;
use crate::sync::ObjectOptions;
use crate::sys::{self, CreateMode};
use crate::vocabulary::{Kind, Side};

/// The most slots such an entry can have.
/// The endpoint lock of slot 0's endpoint (an inbox's sender, a service's client); 0 and 1
/// are the channel's sender and receiver locks.
const FIRST_SLOT_LOCK: u8 = 2;

/// The endpoint lock of slot `slot`'s endpoint.
pub(crate) fn slot_lock(slot: usize) -> u8 {
    FIRST_SLOT_LOCK + slot as u8
}

pub(crate) const MAX_SLOTS: u32 = 128;

const CONTROL: usize = 4096;
const LAYOUT_AT: usize = 0;
const SLOTS_AT: usize = 4;
const RING_SIZE_AT: usize = 8;
const PER_SLOT_AT: usize = 16;
const SHARED_SEQ: usize = 64;
const SHARED_SLEEPERS: usize = 68;
const SHARED_BUSY: usize = 72;
const TAKEOVERS: usize = 128;
const SLOT_WORDS: usize = 256;
const TAKEOVER_POSITIONS: usize = SLOT_WORDS + 8 * MAX_SLOTS as usize;

/// The layout an entry of `kind` records in its control page, which openers must find: 1
/// for an inbox; 2 for a service, whose responses may be failures (a flag a filemap that
/// reads layout 1 would take for a success: the two refuse each other's services instead).
fn rings_layout(kind: Kind) -> u32 {
    match kind {
        Kind::Service => 2,
        _ => 1,
    }
}

/// How to make a new entry of this shape.
pub(crate) struct Shape<'a> {
    pub(crate) slots: u32,
    pub(crate) capacity: u64,
    pub(crate) object: &'a ObjectOptions,
}

/// An entry of rings, opened or made: its mapping, its rings, its control page.
pub(crate) struct RingSet {
    pub(crate) name: Name,
    pub(crate) memory: Arc<sys::ChannelMemory>,
    pub(crate) rings: Vec<Ring>,
    pub(crate) slots: u32,
    control: ControlPage,
}

/// The address of an entry's control page: shared memory, reached through atomics only.
#[derive(Clone, Copy)]
struct ControlPage(*mut u8);

// SAFETY: the control page's words are read and written with atomics only (they are handed
// out as `&AtomicU32`/`&AtomicU64`), from any thread, while the mapping lives (the
// `RingSet` holding this address holds the mapping too).
unsafe impl Send for ControlPage {}
// SAFETY: as for `Send`: sharing the address lets other threads make atomic accesses only.
unsafe impl Sync for ControlPage {}

impl std::fmt::Debug for RingSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingSet")
            .field("name", &self.name)
            .field("slots", &self.slots)
            .finish_non_exhaustive()
    }
}

impl RingSet {
    /// Opens the entry `name` of `kind` with `per_slot` rings per slot, whose frames have
    /// the layout `frames` (`ring::LAYOUT` or `ring::TOPIC_LAYOUT`), making it with `shape`
    /// if given and it does not exist. `what` names the kind in errors ("an
    /// inbox's").
    pub(crate) fn open(
        name: Name,
        kind: Kind,
        per_slot: u32,
        frames: u32,
        shape: Option<Shape<'_>>,
        what: &'static str,
    ) -> Result<RingSet> {
        let memory = match shape {
            Some(shape) => {
                if shape.slots == 0 || shape.slots > MAX_SLOTS {
                    return Err(Error::InvalidSetting {
                        setting: what,
                        value: shape.slots.into(),
                        allowed: "1 to 128",
                    });
                }
                if shape.capacity == 0 || shape.capacity > 1 << 40 {
                    return Err(Error::InvalidSize {
                        size: shape.capacity,
                        problem: "a ring holds 1 byte to 1 TiB",
                    });
                }
                let capacity = shape.capacity.max(4096).next_power_of_two();
                let ring_size = RING_OFFSET as u64 + capacity;
                let rings = (shape.slots * per_slot) as u64;
                let mut header = shape.object.header(kind, 0, Layout::default())?;
                header.size = CONTROL as u64 + rings * ring_size;
                let slots = shape.slots;
                let init = |base: *mut u8| {
                    // SAFETY: the data area is the control page and the rings, fresh bytes
                    // of an entry nobody else can see yet, page-aligned.
                    unsafe {
                        for i in 0..rings as usize {
                            ring::init_with_layout(
                                base.add(CONTROL + i * ring_size as usize),
                                capacity,
                                frames,
                            );
                        }
                        shared::u32_at(base, SLOTS_AT).store(slots, Ordering::Relaxed);
                        shared::u64_at(base, RING_SIZE_AT).store(ring_size, Ordering::Relaxed);
                        shared::u32_at(base, PER_SLOT_AT).store(per_slot, Ordering::Relaxed);
                        shared::u32_at(base, LAYOUT_AT)
                            .store(rings_layout(kind), Ordering::Release);
                    }
                    Ok(())
                };
                let (memory, _, _) = sys::create_sync(&name, &header, CreateMode::OrOpen, &init)?;
                memory
            }
            None => {
                let (memory, _) = sys::open_sync(&name, kind)?;
                memory
            }
        };
        let corrupt =
            |problem: String| check_failed(&memory, &name, format!("the {kind}'s {problem}"));
        let (base, len) = (memory.base(), memory.len());
        if len < CONTROL as u64 {
            return Err(corrupt(format!(
                "area of {len} bytes has no room for its control page"
            )));
        }
        // SAFETY: the control page is inside the data area (checked above), page-aligned.
        let (layout, slots, ring_size, recorded_per_slot) = unsafe {
            (
                shared::u32_at(base, LAYOUT_AT).load(Ordering::Acquire),
                shared::u32_at(base, SLOTS_AT).load(Ordering::Relaxed),
                shared::u64_at(base, RING_SIZE_AT).load(Ordering::Relaxed),
                shared::u32_at(base, PER_SLOT_AT).load(Ordering::Relaxed),
            )
        };
        let expected = rings_layout(kind);
        if layout != expected || recorded_per_slot != per_slot {
            return Err(corrupt(format!(
                "layout is {layout} with {recorded_per_slot} rings per slot, but this \
                 filemap reads layout {expected} with {per_slot} (made by another version \
                 of filemap?)"
            )));
        }
        let rings = slots as u64 * per_slot as u64;
        let fits = rings
            .checked_mul(ring_size)
            .and_then(|all| all.checked_add(CONTROL as u64))
            .is_some_and(|end| end <= len);
        if slots == 0 || slots > MAX_SLOTS || ring_size % 4096 != 0 || !fits {
            return Err(corrupt(format!(
                "{rings} rings of {ring_size} bytes do not fit its area of {len} bytes"
            )));
        }
        let rings = (0..rings)
            .map(|i| {
                // SAFETY: ring i's `ring_size` bytes lie inside the data area (checked
                // above), 4096-aligned, mapped while `memory` lives, which every endpoint
                // over these rings holds.
                unsafe { Ring::new(base.add(CONTROL + (i * ring_size) as usize), ring_size) }
                    .and_then(|ring| match ring.layout() {
                        layout if layout == frames => Ok(ring),
                        other => Err(format!("frame layout is {other}, not {frames}")),
                    })
                    .map_err(|p| corrupt(format!("ring {i}: {p}")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RingSet {
            name,
            memory: Arc::new(memory),
            rings,
            slots,
            control: ControlPage(base),
        })
    }

    fn word(&self, offset: usize) -> &AtomicU32 {
        // SAFETY: a word of the control page, mapped while `memory` lives.
        unsafe { shared::u32_at(self.control.0, offset) }
    }

    /// Slot `i`'s word in the control page.
    pub(crate) fn slot_word(&self, i: u32) -> &AtomicU64 {
        // (Checked in every build: the page's bounds rest on it.)
        assert!(i < self.slots, "slot {i} of {}", self.slots);
        // SAFETY: an aligned word of the control page (256 + 8 × 128 < 4096, `slots` being
        // at most 128), mapped while `memory` lives.
        unsafe { shared::u64_at(self.control.0, SLOT_WORDS + 8 * i as usize) }
    }

    /// The takeover count of the control page (a service's).
    pub(crate) fn takeovers(&self) -> &AtomicU64 {
        // SAFETY: an aligned word of the control page, mapped while `memory` lives.
        unsafe { shared::u64_at(self.control.0, TAKEOVERS) }
    }

    /// Slot `i`'s takeover position in the control page (a service's).
    pub(crate) fn takeover_position(&self, i: u32) -> &AtomicU64 {
        assert!(i < self.slots, "slot {i} of {}", self.slots);
        // SAFETY: an aligned word of the control page (1280 + 8 × 128 < 4096, `slots`
        // being at most 128), mapped while `memory` lives.
        unsafe { shared::u64_at(self.control.0, TAKEOVER_POSITIONS + 8 * i as usize) }
    }

    /// The shared doorbell of the control page, rung for the one receiver that holds `lock`.
    pub(crate) fn shared_bell(&self, lock: u8) -> BellWords {
        // SAFETY: words of the control page, in the memory every endpoint over these rings
        // holds.
        unsafe {
            BellWords::new(
                sys::Bell::Receiver,
                lock,
                self.word(SHARED_SEQ),
                self.word(SHARED_SLEEPERS),
                self.word(SHARED_BUSY),
            )
        }
    }

    /// The doorbell of one side of ring `index`, in its control area, as bell `bell`, for
    /// the endpoint that holds `lock`.
    pub(crate) fn ring_bell(
        &self,
        index: usize,
        side: Side,
        bell: sys::Bell,
        lock: u8,
    ) -> BellWords {
        BellWords::in_ring(&self.rings[index], side, bell, lock)
    }

    /// Whether the receiving end (lock `receiver_lock`, connected on the first ring) is
    /// alive, and the slots whose sending end (lock 2 + i, connected on ring i) is.
    pub(crate) fn live_endpoints(&self, receiver_lock: u8) -> (bool, Vec<u32>) {
        let connected = |ring: &Ring, state: usize| {
            ring.u32_at(state).load(Ordering::Acquire) == ring::STATE_CONNECTED
        };
        let receiver = self.receiver_alive(receiver_lock);
        let slots = (0..self.slots)
            .filter(|&i| {
                connected(&self.rings[i as usize], ring::SENDER_STATE)
                    && self.memory.endpoint_alive(slot_lock(i as usize))
            })
            .collect();
        (receiver, slots)
    }

    /// Whether the receiving end (lock `receiver_lock`, connected on the first ring) is
    /// connected and alive (a system call). (A first ring the receiver set aside as
    /// damaged still has it connected.)
    pub(crate) fn receiver_alive(&self, receiver_lock: u8) -> bool {
        matches!(
            self.rings[0]
                .u32_at(ring::RECEIVER_STATE)
                .load(Ordering::Acquire),
            ring::STATE_CONNECTED | ring::STATE_DAMAGED
        ) && self.memory.endpoint_alive(receiver_lock)
    }

    /// An endpoint over ring `index` with these doorbells, holding `lock` if given.
    pub(crate) fn endpoint(
        &self,
        index: usize,
        bells: Bells,
        lock: Option<sys::EndpointLock>,
    ) -> Endpoint {
        Endpoint::from_parts(
            self.name.clone(),
            self.memory.clone(),
            self.rings[index],
            lock,
        )
        .with_bells(bells)
    }
}
