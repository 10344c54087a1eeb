//! Auto-reset events' hand-off on Linux: a `set` releases a blocking waiter asleep at it,
//! however soon a second `set` or a `reset` follows, as Windows' `SetEvent` does.
//!
//! The event's state is one word (set or not): alone, two sets before the first woken
//! waiter runs would release one waiter, and a reset right after a set would take the
//! release from the waiter it woke. So a blocking waiter (`NamedEvent::wait`) takes a slot
//! of its own, one of [`SLOTS`] words of the event's sync area (words 4 to 14), and sleeps
//! on it. A slot word is a generation (bits 3 and up), a nudge bit (bit 2) and a tag (bits
//! 0 and 1): free, waiting, or released.
//!
//! - **Set**: finds a waiting slot and marks it released (a compare-and-swap: the release
//!   is then that waiter's, and no reset touches it), then wakes it. If the kernel says it
//!   woke nobody, the waiter is awake (between two looks, it sees the mark at the next) or
//!   dead: the set waits [`ACK_WAIT`] for it to take the release, and takes it back if it
//!   did not (the same compare-and-swap decides between the two), then tries the next
//!   slot. A dead waiter's slot is freed so. With no waiting slot, the set is the state, as
//!   before: for the next waiter to take, and a reset to take away.
//! - **Wait**: claims a free slot (the next generation, waiting), then looks at the state
//!   and sleeps on its slot while it is unchanged; a released mark is taken (back to free,
//!   by the waiter's compare-and-swap against the set's). A slot found taken back (free, or
//!   another's generation) is claimed afresh. At its deadline the waiter frees the slot,
//!   or takes a release that came meanwhile. A waiter that took the state and then finds
//!   its slot released holds two signals: it keeps one and sets the event again. A waiter
//!   that finds every slot taken takes a release left in one (its waiter was killed once
//!   woken, or is not running: the same compare-and-swap decides), or else waits on the
//!   state.
//! - **Nudge**: a waiter that claimed its slot after a set looked at the slots, and looked
//!   at the state before that set stored it, would sleep through it. So a set that stores
//!   the state then looks at the slots again and nudges every waiting one (sets its nudge
//!   bit, which changes the word a waiter sleeps on, and wakes it): the waiter clears the
//!   bit and looks at the state again. (Either the set's second look sees the claim, or
//!   the waiter's look sees the state: both are sequentially consistent.)
//!
//! Waiters beyond the slots, waits on many objects and async waits take the state only, as
//! every waiter did before: a reset right after a set that was not their turn's can take
//! the signal from them. So
//! do waiters of filemaps before this one, which sleep on the count of sets; their sets
//! reach this version's slot waiters at the waiters' next look ([`RECHECK_INTERVAL`]).
//! While such waiters sleep (word 1 counts them), every other set is theirs (the last
//! word's low bit says whose turn it is): it sets the state *owed* and wakes one of them,
//! so that slot waiters, always back asleep at the next set, cannot starve them. Owed, the
//! state is the woken sleeper's release: any waiter takes it as a set state (the sleeper
//! woken, or one that looks first), but a reset leaves it, so that a reset right after
//! the set takes the release from nobody (as the slots' marks do). A woken sleeper that
//! takes something else or nothing (a wait on many objects, a `wait_all` whose other
//! objects are not ready) passes the owed state on with a wake to another sleeper on the
//! state, or, with none asleep, disowns it: back to the plain state, which a reset takes,
//! as Windows' reset takes a signal no waiter took. A plain set leaves an owed (or set)
//! state as it is (the two sets are one, as two sets before a waiter runs are). Earlier
//! filemaps' waiters take only the plain state, and an async future dropped once its
//! waiter thread was woken passes the wake on by address only: neither disowns an owed
//! state, which then stays, through resets, for this version's next waiter. If
//! the kernel says none was asleep (a count left by one killed asleep), the set takes the
//! owed state back and goes to the slots after all; if the state is set already (for a
//! sleeper woken and not yet run), the set goes to the slots. A sleeper killed once woken
//! leaves the owed state to the next waiter, as a slot's waiter leaves its release. Waiters that count
//! themselves on the state but nap rather than sleep in the kernel (kernels before 5.16,
//! which have no `futex_waitv`, and objects past the first 128 of a wait on many) get no
//! turns: a set finds nobody asleep and goes to the slots. A wait on many objects woken
//! for the state that takes another object passes the wake on, and nudges the slots; an
//! async future dropped once woken passes its wake on by address only (its event may be
//! gone), so a slot waiter that looked just before that set sees the state at its next
//! look, within [`RECHECK_INTERVAL`].
//!
//! A set begins its look at the slots one further on than this process's last set did, so
//! that waiters coming back to the first free slots at once do not take every set.
//!
//! A set hands its release to a waiter that the kernel woke; killed before it takes it,
//! that waiter leaves it in its slot (on Windows a thread killed as its wait is satisfied
//! takes its signal along), which stays released until a waiter that finds no free slot
//! takes it: that set then releases a later waiter, whatever resets came between. A waiter not running for longer than [`ACK_WAIT`] between two looks (a busy
//! machine) can have a release taken back: the set goes to another slot or the state.
//!
//! Another process may scribble on the words: every loop here is bounded, a slot
//! scribbled waiting costs each set that comes to it [`ACK_WAIT`] once (it is then freed),
//! one scribbled with the tag no filemap writes is claimed as free, and one scribbled
//! released is taken as above.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering, fence};
use std::time::{Duration, Instant};

use super::futex::{RECHECK_INTERVAL, futex_wait, futex_wake_one};
use super::sync::{OWED, SyncMemory, may_not_wait, take_soon};

/// The first slot's word, and how many there are (to the word before the last of the
/// 64-byte sync area).
const FIRST_SLOT: usize = 4;
pub(crate) const SLOTS: usize = 11;

/// The last word: whose turn a set is while waiters on the state sleep too (its low bit).
const TURN: usize = FIRST_SLOT + SLOTS;

const TAG: u32 = 0b11;
const FREE: u32 = 0;
const WAITING: u32 = 1;
const RELEASED: u32 = 2;
const NUDGE: u32 = 0b100;
const GENERATION_SHIFT: u32 = 3;

/// How long a set waits for an awake waiter to take the release it marked before it takes
/// the release back (and frees the slot: its waiter may be dead). A live waiter takes it
/// within a look; one that is not running then (a busy machine) simply waits on.
const ACK_WAIT: Duration = Duration::from_micros(50);

/// How many times a compare-and-swap on one slot is tried before the slot is left alone
/// (another process may keep changing the word).
const TRIES: usize = 16;

/// How many times one wait claims a slot, with no whole [`RECHECK_INTERVAL`] asleep between
/// two claims, before it waits on the state instead (a slot scribbled on at every look must
/// not keep it claiming; a waiter that a busy machine kept from taking a release now and
/// then stays in a slot).
const CLAIMS: usize = 8;

/// Where this process's next set begins its look for a waiting slot (see `event_set_auto`).
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

fn generation(word: u32) -> u32 {
    word >> GENERATION_SHIFT
}

fn with_tag(word: u32, tag: u32) -> u32 {
    (word & !(TAG | NUDGE)) | tag
}

/// A slot this wait holds: its index and its word as claimed (waiting, no nudge).
#[derive(Clone, Copy)]
struct Claim {
    index: usize,
    waiting: u32,
}

impl Claim {
    fn released(self) -> u32 {
        with_tag(self.waiting, RELEASED)
    }

    fn freed(self) -> u32 {
        with_tag(self.waiting, FREE)
    }

    /// Whether `word` is this claim's slot still waiting (nudged or not).
    fn still_waiting(self, word: u32) -> bool {
        word & !NUDGE == self.waiting
    }
}

/// What one look at a claimed slot found.
enum Look {
    /// A set released this wait.
    Released,
    /// Still waiting: the word to sleep on.
    Waiting(u32),
    /// Taken back: the slot is no longer this wait's.
    Lost,
}

impl SyncMemory {
    fn slot(&self, index: usize) -> &AtomicU32 {
        self.word(FIRST_SLOT + index)
    }

    /// Sets an auto-reset event: releases a waiter in a slot, or sets the state. While
    /// waiters on the state sleep too (waits on many objects, async waits), every other set
    /// is theirs, so that waiters in slots, forever coming back, cannot starve them.
    pub(super) fn event_set_auto(&self) {
        let states_turn = self.event_state_sleepers() > 0
            && self.word(TURN).fetch_xor(1, Ordering::SeqCst) & 1 == 1;
        if states_turn && self.set_for_state_sleepers() {
            return;
        }
        // From a slot further on at each set of this process, so that waiters that come
        // back to the first free slots at once cannot take every set from the others.
        let first = NEXT_SLOT.fetch_add(1, Ordering::Relaxed);
        if (0..SLOTS).any(|k| self.release_slot((first % SLOTS + k) % SLOTS)) {
            return;
        }
        self.event_set_state();
        // Orders the state before the look at the slots (as the sequentially consistent
        // accesses do already; the model check, tests/loom_event.rs, needs it said).
        fence(Ordering::SeqCst);
        self.event_nudge_slots();
    }

    /// A set on the state sleepers' turn: sets the state and wakes one of them; whether
    /// one was asleep (if not, a count left by a waiter killed asleep, say, the state is
    /// taken back for the slots, unless a waiter took it meanwhile: then it is done too).
    /// A slot's waiter that looked at the state just before it was set is not nudged: the
    /// one woken takes it (if that one dies first, the slot's waiter sees it at its next
    /// look, within [`RECHECK_INTERVAL`]).
    fn set_for_state_sleepers(&self) -> bool {
        let (sets, _) = self.event_words();
        let state = self.event_state_word();
        if state
            .compare_exchange(0, OWED, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            // Set already, for a sleeper woken and not yet run (say): this set goes to the
            // slots rather than on top of it. (The take-back below can still take another
            // set's signal stored meanwhile: that set's release then goes to the slots or
            // the state, not lost, though not to the sleeper that set may have woken.)
            return false;
        }
        sets.fetch_add(1, Ordering::SeqCst);
        // (Owed, the state stays through a reset until a waiter takes it. Taken back only
        // as owed: a set that stored the plain state over it meanwhile left that for the
        // next waiter, the two sets one, as two sets before a waiter runs are.)
        futex_wake_one(sets)
            || state
                .compare_exchange(OWED, 0, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
    }

    /// Releases slot `index`'s waiter if it waits and takes the release (asleep, so woken;
    /// or awake, and it takes it within [`ACK_WAIT`]): whether it did.
    fn release_slot(&self, index: usize) -> bool {
        let slot = self.slot(index);
        let mut word = slot.load(Ordering::SeqCst);
        for _ in 0..TRIES {
            if word & TAG != WAITING {
                return false;
            }
            let released = with_tag(word, RELEASED);
            match slot.compare_exchange(word, released, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => {
                    if futex_wake_one(slot) {
                        // Asleep in the kernel, so alive: the release is its.
                        return true;
                    }
                    return self.released_taken(slot, released);
                }
                Err(now) => word = now,
            }
        }
        false
    }

    /// After a set marked `slot` released and woke nobody: whether its waiter takes the
    /// release within [`ACK_WAIT`] (if not, the release is taken back).
    fn released_taken(&self, slot: &AtomicU32, released: u32) -> bool {
        let began = Instant::now();
        let mut looks = 0u32;
        while began.elapsed() < ACK_WAIT {
            if slot.load(Ordering::SeqCst) != released {
                return true;
            }
            looks += 1;
            if looks % 16 == 0 {
                // The waiter may be waiting for this core.
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        // Taken back, unless the waiter took it at the last moment.
        slot.compare_exchange(
            released,
            with_tag(released, FREE),
            Ordering::SeqCst,
            Ordering::SeqCst,
        )
        .is_err()
    }

    /// After the state was stored: makes every waiting slot's waiter look at it again (also
    /// when a wait on many objects, woken for the state, takes another object).
    pub(super) fn event_nudge_slots(&self) {
        for index in 0..SLOTS {
            self.nudge_slot(index);
        }
    }

    /// Nudges slot `index` if it waits.
    fn nudge_slot(&self, index: usize) {
        let slot = self.slot(index);
        let word = slot.load(Ordering::SeqCst);
        let nudged = word & TAG == WAITING
            && word & NUDGE == 0
            && slot
                .compare_exchange(word, word | NUDGE, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok();
        if nudged {
            futex_wake_one(slot);
        }
    }

    /// Claims a free slot for a wait (or one whose tag no filemap writes): `None` if none
    /// is free.
    fn claim_slot(&self) -> Option<Claim> {
        (0..SLOTS).find_map(|index| {
            let slot = self.slot(index);
            let word = slot.load(Ordering::SeqCst);
            if !matches!(word & TAG, FREE | TAG) {
                return None;
            }
            let waiting = generation(word).wrapping_add(1) << GENERATION_SHIFT | WAITING;
            slot.compare_exchange(word, waiting, Ordering::SeqCst, Ordering::SeqCst)
                .ok()?;
            // The claim before the look at the state (see `event_set_auto`).
            fence(Ordering::SeqCst);
            Some(Claim { index, waiting })
        })
    }

    /// Takes the release of a slot marked released (as its waiter would: the same
    /// compare-and-swap decides): whether it took one.
    fn take_a_released_slot(&self) -> bool {
        (0..SLOTS).any(|index| {
            let slot = self.slot(index);
            let word = slot.load(Ordering::SeqCst);
            word & TAG == RELEASED
                && slot
                    .compare_exchange(
                        word,
                        with_tag(word, FREE),
                        Ordering::SeqCst,
                        Ordering::SeqCst,
                    )
                    .is_ok()
        })
    }

    /// Looks at a claimed slot: takes a release, clears a nudge.
    fn look(&self, claim: Claim) -> Look {
        let slot = self.slot(claim.index);
        for _ in 0..TRIES {
            let word = slot.load(Ordering::SeqCst);
            if word == claim.released() {
                if slot
                    .compare_exchange(word, claim.freed(), Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
                {
                    return Look::Released;
                }
                continue;
            }
            if !claim.still_waiting(word) {
                return Look::Lost;
            }
            if word & NUDGE == 0
                || slot
                    .compare_exchange(word, claim.waiting, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
            {
                return Look::Waiting(claim.waiting);
            }
        }
        Look::Lost
    }

    /// Frees a claimed slot as its wait ends: whether a release came meanwhile (taken).
    fn leave_slot(&self, claim: Claim) -> bool {
        let slot = self.slot(claim.index);
        for _ in 0..TRIES {
            let word = slot.load(Ordering::SeqCst);
            let released = word == claim.released();
            if !released && !claim.still_waiting(word) {
                return false;
            }
            if slot
                .compare_exchange(word, claim.freed(), Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                return released;
            }
        }
        false
    }

    /// A blocking wait on an auto-reset event: in a slot while one is free (see the module
    /// comment), on the state alone otherwise. Whether it took a signal; `false` too if
    /// the memory was lost (the caller reports that).
    pub(super) fn event_wait_auto(&self, timeout: Option<Duration>) -> bool {
        let take_state = || self.event_take_now(false, None);
        if take_soon(take_state, timeout) {
            return true;
        }
        if may_not_wait(timeout) {
            // A wait that may not wait takes what a blocking one would before it sleeps: a
            // release left in a slot, if every slot is taken; or one that comes into the
            // slot it claims and leaves at once.
            return match self.claim_slot() {
                None => self.take_a_released_slot(),
                Some(claim) => self.leave_slot(claim) || take_state(),
            };
        }
        let deadline = timeout.and_then(crate::sys::deadline_after);
        let mut claims = 0;
        'claim: while claims < CLAIMS {
            claims += 1;
            let Some(claim) = self.claim_slot() else {
                // Every slot taken: a release left in one whose waiter has not taken it
                // (killed once woken, or not running) is taken here instead.
                if self.take_a_released_slot() {
                    return true;
                }
                break;
            };
            loop {
                let waiting = match self.look(claim) {
                    Look::Released => return true,
                    Look::Lost => continue 'claim,
                    Look::Waiting(word) => word,
                };
                if take_state() {
                    if self.leave_slot(claim) {
                        // Two signals: one is handed on.
                        self.event_set_auto();
                    }
                    return true;
                }
                let remaining = match deadline {
                    Some(d) => match d.checked_duration_since(Instant::now()) {
                        Some(r) if !r.is_zero() => Some(r),
                        _ => return self.leave_slot(claim) || take_state(),
                    },
                    None => None,
                };
                let slice = remaining.map_or(RECHECK_INTERVAL, |r| r.min(RECHECK_INTERVAL));
                let asleep = Instant::now();
                futex_wait(self.slot(claim.index), waiting, Some(slice));
                if self.lost().is_some() {
                    return false;
                }
                if asleep.elapsed() >= RECHECK_INTERVAL {
                    // A whole interval asleep: the claims before were no churn.
                    claims = 1;
                }
            }
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        self.event_wait_state(left)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_words_keep_their_generation() {
        let waiting = 7 << GENERATION_SHIFT | WAITING;
        let claim = Claim { index: 0, waiting };
        assert_eq!(generation(claim.released()), 7);
        assert_eq!(claim.released() & TAG, RELEASED);
        assert_eq!(claim.freed() & TAG, FREE);
        assert!(claim.still_waiting(waiting | NUDGE));
        assert!(!claim.still_waiting(claim.released()));
        // The generation wraps within the word.
        let last = !(TAG | NUDGE); // the last generation, free
        assert_eq!(generation(last).wrapping_add(1) << GENERATION_SHIFT, 0);
    }
}
