//! Model check, with loom, of an auto-reset event's hand-off on Linux
//! (`src/sys/linux/handoff.rs`): a `set` marks a waiting slot released and wakes its
//! waiter, or, with none waiting, sets the state and nudges the slots claimed meanwhile;
//! a blocking waiter claims a slot, looks at it and at the state, and sleeps on it. Each
//! function here is the code's, step for step, with its orderings (all sequentially
//! consistent), over two slots; a set's wait for an awake waiter to take its release
//! ([`ACK_WAIT`] in the code) is one look after letting the others run, and loom tries
//! the waiter taking it before, and after, that look. (The fences after a set stores the
//! state and after a waiter claims a slot are the code's too: sequentially consistent
//! accesses alone order the two sides, but loom takes them for acquire-release ones, and
//! the fences cost nothing beside the compare-and-swap before each.)
//!
//! Checked in every interleaving (up to three preemptions):
//! 1. Two waiters asleep and two sets: both are released (loom reports a deadlock if one
//!    sleeps for ever), the state is left unset.
//! 2. A waiter asleep, a set and at once a reset: the waiter is released.
//! 3. A waiter that may time out as a set comes: it took the signal, or the state holds it;
//!    never both, never neither; every slot is free at the end.
//! 4. A waiter anywhere in its wait (asleep or not) and a set: it is released (a set that
//!    found no slot waiting set the state, and nudged the slot claimed meanwhile).
//! 5. A slot left waiting by a waiter that died, and a live waiter asleep: a set releases
//!    the live one, and frees the dead one's slot.
//! 6. A waiter asleep, a set, and a `try_wait` racing it: the waiter is released, the
//!    `try_wait` finds nothing.
//! 7. Two waiters that may time out, and two sets: every set is accounted for, as a waiter
//!    released, the state left set, or a set that found the state set already (one that
//!    took the state and found its slot released too sets the event again).
//! 8. A waiter on the state alone (a wait on many objects) and a waiter in a slot, both
//!    asleep, and two sets: both are released (every other set is the state sleepers').
//! 9. A count of state sleepers left by one that died, on their turn, and a waiter asleep
//!    in a slot: the set finds nobody asleep on the state, takes it back, and releases the
//!    slot's waiter.
//! 10. A waiter that finds every slot taken, one released for a waiter that died: it takes
//!     that release.
//! 11. A waiter on the state and a waiter in a slot, both asleep, on the state sleepers'
//!     turn: a set, at once a reset, and a set release both (the first set's state is owed
//!     to the sleeper it woke, and the reset leaves it; a plain state, the reset took the
//!     release from the woken sleeper, which slept on, and the second set went to the
//!     slot: loom reports the deadlock).
//! 12. Two waiters on the state asleep, on their turn: a set, a second set, at once a
//!     reset, and a third set release both (the second set leaves the first's owed state
//!     as it is; stored over it, the reset took both sets' signal).
//! 13. A wait that declines every wake (a `wait_all` whose other objects are not ready)
//!     and a waiter on the state, both asleep, on their turn: a set and at once a reset
//!     release the waiter (the decliner, if woken, passes the owed state on with a wake;
//!     it disowned it first, and the reset took it).
//!
//! The code's sets begin their look at the slots one further on each time (against
//! starvation); the model's begin at the first, which is one of the orders a set takes.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p filemap --release --test loom_event`
//! (scripts/test does); without `--cfg loom` this file is empty.

#![cfg(loom)]

use loom::sync::atomic::{AtomicU32, Ordering::SeqCst, fence};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;

/// The kernel's futex for one slot word: how many sleep, and how many wakes they are owed.
#[derive(Default)]
struct Futex {
    queue: Mutex<(u32, u32)>,
    woken: Condvar,
}

impl Futex {
    /// Sleeps while `word` holds `expected` (compared under the lock), until woken.
    fn wait(&self, word: &AtomicU32, expected: u32) {
        let mut q = self.queue.lock().unwrap();
        if word.load(SeqCst) != expected {
            return;
        }
        q.0 += 1;
        loop {
            q = self.woken.wait(q).unwrap();
            if q.1 > 0 {
                q.1 -= 1;
                q.0 -= 1;
                return;
            }
        }
    }

    /// Sleeps while `word` holds `expected`, until woken or its time is up (which is at any
    /// moment: loom tries a wake before it, and none).
    fn wait_or_time_out(&self, word: &AtomicU32, expected: u32) {
        {
            let mut q = self.queue.lock().unwrap();
            if word.load(SeqCst) != expected {
                return;
            }
            q.0 += 1;
        }
        thread::yield_now();
        let mut q = self.queue.lock().unwrap();
        if q.1 > 0 {
            q.1 -= 1;
        }
        q.0 -= 1;
    }

    /// Wakes one sleeper: whether there was one.
    fn wake_one(&self) -> bool {
        let mut q = self.queue.lock().unwrap();
        if q.0 > q.1 {
            q.1 += 1;
            self.woken.notify_all();
            true
        } else {
            false
        }
    }

    fn asleep(&self) -> u32 {
        let q = self.queue.lock().unwrap();
        q.0 - q.1
    }
}

const SLOTS: usize = 2;
/// The state's values: set, and set owed to a woken sleeper on the state (`sync.rs`).
const SET: u32 = 1;
const OWED: u32 = 2;
const TAG: u32 = 0b11;
const FREE: u32 = 0;
const WAITING: u32 = 1;
const RELEASED: u32 = 2;
const NUDGE: u32 = 0b100;
const SHIFT: u32 = 3;
const TRIES: usize = 4;
const CLAIMS: usize = 4;

fn with_tag(word: u32, tag: u32) -> u32 {
    (word & !(TAG | NUDGE)) | tag
}

#[derive(Default)]
struct Event {
    state: AtomicU32,
    /// Word 1: waiters on the state asleep (waits on many objects, async waits).
    waiters: AtomicU32,
    /// Word 3: the count of sets they sleep on.
    sets: AtomicU32,
    sets_futex: Futex,
    /// Whose turn a set is while waiters on the state sleep.
    turn: AtomicU32,
    /// Sets that found the state set already (the code stores the state; the model swaps
    /// it, to count them).
    coalesced: AtomicU32,
    slots: [AtomicU32; SLOTS],
    futexes: [Futex; SLOTS],
}

#[derive(Clone, Copy)]
struct Claim {
    index: usize,
    waiting: u32,
}

enum Look {
    Released,
    Waiting(u32),
    Lost,
}

impl Event {
    fn set(&self) {
        let states_turn = self.waiters.load(SeqCst) > 0 && self.turn.fetch_xor(1, SeqCst) & 1 == 1;
        if states_turn && self.set_for_state_sleepers() {
            return;
        }
        if (0..SLOTS).any(|index| self.release_slot(index)) {
            return;
        }
        self.set_state();
        fence(SeqCst);
        self.nudge_slots();
    }

    /// `event_set_state`: the state, then the count of sets, then a wake of one sleeper on
    /// the state if any is counted.
    fn set_state(&self) {
        // Never over an owed state (the code's few tries are a loop here).
        let mut now = self.state.load(SeqCst);
        loop {
            if now == OWED {
                self.coalesced.fetch_add(1, SeqCst);
                break;
            }
            match self.state.compare_exchange(now, SET, SeqCst, SeqCst) {
                Ok(_) => {
                    if now != 0 {
                        self.coalesced.fetch_add(1, SeqCst);
                    }
                    break;
                }
                Err(changed) => now = changed,
            }
        }
        self.sets.fetch_add(1, SeqCst);
        if self.waiters.load(SeqCst) > 0 {
            self.sets_futex.wake_one();
        }
    }

    /// The state set owed to a woken sleeper (a reset leaves it), taken back as owed only.
    fn set_for_state_sleepers(&self) -> bool {
        if self
            .state
            .compare_exchange(0, OWED, SeqCst, SeqCst)
            .is_err()
        {
            return false;
        }
        self.sets.fetch_add(1, SeqCst);
        self.sets_futex.wake_one()
            || self
                .state
                .compare_exchange(OWED, 0, SeqCst, SeqCst)
                .is_err()
    }

    /// A waiter on the state alone (`wait_until`): notes the count of sets, counts itself,
    /// looks, and sleeps on the count.
    fn wait_on_state(&self) -> bool {
        loop {
            let seen = self.sets.load(SeqCst);
            self.waiters.fetch_add(1, SeqCst);
            if self.take_state() {
                self.waiters.fetch_sub(1, SeqCst);
                return true;
            }
            self.sets_futex.wait(&self.sets, seen);
            self.waiters.fetch_sub(1, SeqCst);
        }
    }

    /// A wait on many objects woken on the event that takes nothing (a `wait_all` whose
    /// other objects are not ready): `pass_on` with its wake reported, `event_pass_owed`
    /// first (an owed state goes on with a wake, or is disowned), then the plain pass-on.
    fn decline(&self) {
        if self.state.load(SeqCst) == OWED {
            if self.sets_futex.wake_one() {
                return;
            }
            let _ = self.state.compare_exchange(OWED, SET, SeqCst, SeqCst);
        }
        if matches!(self.state.load(SeqCst), SET | OWED) {
            self.sets_futex.wake_one();
            self.nudge_slots();
        }
    }

    /// Such a wait: sleeps on the count of sets and declines each wake, until `done`.
    fn wait_declining(&self, done: &AtomicU32) {
        loop {
            let seen = self.sets.load(SeqCst);
            self.waiters.fetch_add(1, SeqCst);
            if done.load(SeqCst) == 1 {
                self.waiters.fetch_sub(1, SeqCst);
                return;
            }
            self.sets_futex.wait(&self.sets, seen);
            self.waiters.fetch_sub(1, SeqCst);
            if done.load(SeqCst) == 1 {
                return;
            }
            self.decline();
        }
    }

    /// `event_reset`: any state but an owed one goes.
    fn reset(&self) {
        let now = self.state.load(SeqCst);
        if now != OWED {
            let _ = self.state.compare_exchange(now, 0, SeqCst, SeqCst);
        }
    }

    /// `event_take_now`: the state, set or owed (the code's few retries of a
    /// compare-and-swap lost to a set storing one value over the other are one here).
    fn take_state(&self) -> bool {
        let now = self.state.load(SeqCst);
        matches!(now, SET | OWED) && self.state.compare_exchange(now, 0, SeqCst, SeqCst).is_ok()
    }

    fn release_slot(&self, index: usize) -> bool {
        let slot = &self.slots[index];
        let mut word = slot.load(SeqCst);
        for _ in 0..TRIES {
            if word & TAG != WAITING {
                return false;
            }
            let released = with_tag(word, RELEASED);
            match slot.compare_exchange(word, released, SeqCst, SeqCst) {
                Ok(_) => {
                    if self.futexes[index].wake_one() {
                        return true;
                    }
                    // The wait for the awake waiter to take it: one look, after the
                    // others have had their turn.
                    thread::yield_now();
                    if slot.load(SeqCst) != released {
                        return true;
                    }
                    return slot
                        .compare_exchange(released, with_tag(released, FREE), SeqCst, SeqCst)
                        .is_err();
                }
                Err(now) => word = now,
            }
        }
        false
    }

    fn nudge_slots(&self) {
        for index in 0..SLOTS {
            let slot = &self.slots[index];
            let word = slot.load(SeqCst);
            if word & TAG == WAITING
                && word & NUDGE == 0
                && slot
                    .compare_exchange(word, word | NUDGE, SeqCst, SeqCst)
                    .is_ok()
            {
                self.futexes[index].wake_one();
            }
        }
    }

    fn claim_slot(&self) -> Option<Claim> {
        (0..SLOTS).find_map(|index| {
            let slot = &self.slots[index];
            let word = slot.load(SeqCst);
            if !matches!(word & TAG, FREE | TAG) {
                return None;
            }
            let waiting = ((word >> SHIFT).wrapping_add(1) << SHIFT) | WAITING;
            slot.compare_exchange(word, waiting, SeqCst, SeqCst).ok()?;
            fence(SeqCst);
            Some(Claim { index, waiting })
        })
    }

    fn take_a_released_slot(&self) -> bool {
        (0..SLOTS).any(|index| {
            let slot = &self.slots[index];
            let word = slot.load(SeqCst);
            word & TAG == RELEASED
                && slot
                    .compare_exchange(word, with_tag(word, FREE), SeqCst, SeqCst)
                    .is_ok()
        })
    }

    fn look(&self, claim: Claim) -> Look {
        let slot = &self.slots[claim.index];
        let released = with_tag(claim.waiting, RELEASED);
        for _ in 0..TRIES {
            let word = slot.load(SeqCst);
            if word == released {
                if slot
                    .compare_exchange(word, with_tag(word, FREE), SeqCst, SeqCst)
                    .is_ok()
                {
                    return Look::Released;
                }
                continue;
            }
            if word & !NUDGE != claim.waiting {
                return Look::Lost;
            }
            if word & NUDGE == 0
                || slot
                    .compare_exchange(word, claim.waiting, SeqCst, SeqCst)
                    .is_ok()
            {
                return Look::Waiting(claim.waiting);
            }
        }
        Look::Lost
    }

    fn leave_slot(&self, claim: Claim) -> bool {
        let slot = &self.slots[claim.index];
        let released_word = with_tag(claim.waiting, RELEASED);
        for _ in 0..TRIES {
            let word = slot.load(SeqCst);
            let released = word == released_word;
            if !released && word & !NUDGE != claim.waiting {
                return false;
            }
            if slot
                .compare_exchange(word, with_tag(claim.waiting, FREE), SeqCst, SeqCst)
                .is_ok()
            {
                return released;
            }
        }
        false
    }

    /// The blocking wait; `may_time_out`: its one sleep may end at its deadline, after
    /// which it leaves. (No fallback to the state alone: two slots are enough here, and a
    /// waiter whose claims run out would say so by returning `false` without a deadline.)
    fn wait(&self, may_time_out: bool) -> bool {
        if self.take_state() {
            return true;
        }
        let mut slept = false;
        let mut claims = 0;
        'claim: while claims < CLAIMS {
            claims += 1;
            let Some(claim) = self.claim_slot() else {
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
                if self.take_state() {
                    if self.leave_slot(claim) {
                        self.set();
                    }
                    return true;
                }
                if may_time_out && slept {
                    return self.leave_slot(claim) || self.take_state();
                }
                let futex = &self.futexes[claim.index];
                if may_time_out {
                    futex.wait_or_time_out(&self.slots[claim.index], waiting);
                    slept = true;
                } else {
                    futex.wait(&self.slots[claim.index], waiting);
                }
            }
        }
        assert!(may_time_out, "a waiter without a deadline ran out of slots");
        false
    }

    fn asleep(&self) -> u32 {
        self.futexes.iter().map(Futex::asleep).sum()
    }

    /// Every signal taken (the state unset, no set merged into another) and every slot
    /// free.
    fn assert_settled(&self) {
        assert_eq!(self.state.load(SeqCst), 0);
        assert_eq!(self.coalesced.load(SeqCst), 0);
        assert!(self.slots_free());
    }

    fn slots_free(&self) -> bool {
        self.slots.iter().all(|s| s.load(SeqCst) & TAG == FREE)
    }
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

/// Spawns a waiter; `asleep`: returns once it sleeps in the kernel.
fn waiter(event: &Arc<Event>, may_time_out: bool) -> thread::JoinHandle<bool> {
    let e = event.clone();
    thread::spawn(move || e.wait(may_time_out))
}

fn until_asleep(event: &Event, n: u32) {
    while event.asleep() < n {
        thread::yield_now();
    }
}

#[test]
fn two_sleeping_waiters_and_two_sets_release_both() {
    model(|| {
        let event = Arc::new(Event::default());
        let a = waiter(&event, false);
        let b = waiter(&event, false);
        until_asleep(&event, 2);
        event.set();
        event.set();
        assert!(a.join().unwrap() && b.join().unwrap());
        assert_eq!(event.state.load(SeqCst), 0);
        assert!(event.slots_free());
    });
}

#[test]
fn a_reset_after_a_set_leaves_the_sleeper_released() {
    model(|| {
        let event = Arc::new(Event::default());
        let a = waiter(&event, false);
        until_asleep(&event, 1);
        event.set();
        event.reset();
        assert!(a.join().unwrap());
        assert!(event.slots_free());
    });
}

#[test]
fn a_waiter_timing_out_takes_the_signal_or_leaves_it() {
    model(|| {
        let event = Arc::new(Event::default());
        let a = waiter(&event, true);
        event.set();
        let took = a.join().unwrap();
        let state = event.state.load(SeqCst) == 1;
        assert!(took != state, "took {took}, state set {state}");
        assert_eq!(event.coalesced.load(SeqCst), 0);
        assert!(event.slots_free());
    });
}

#[test]
fn a_waiter_anywhere_in_its_wait_is_released() {
    model(|| {
        let event = Arc::new(Event::default());
        let a = waiter(&event, false);
        event.set();
        assert!(a.join().unwrap());
        event.assert_settled();
    });
}

#[test]
fn a_dead_waiters_slot_gives_way_to_a_live_one() {
    model(|| {
        let event = Arc::new(Event::default());
        // Generation 1, waiting: claimed by a waiter that died.
        event.slots[0].store(1 << SHIFT | WAITING, SeqCst);
        let a = waiter(&event, false);
        until_asleep(&event, 1);
        event.set();
        assert!(a.join().unwrap());
        assert!(event.slots_free());
    });
}

#[test]
fn a_try_wait_takes_nothing_from_a_sleeper() {
    model(|| {
        let event = Arc::new(Event::default());
        let a = waiter(&event, false);
        until_asleep(&event, 1);
        let e = event.clone();
        let looker = thread::spawn(move || e.take_state());
        event.set();
        assert!(a.join().unwrap());
        assert!(!looker.join().unwrap());
        assert_eq!(event.state.load(SeqCst), 0);
    });
}

#[test]
fn two_sets_are_neither_lost_nor_doubled() {
    model(|| {
        let event = Arc::new(Event::default());
        let a = waiter(&event, true);
        let b = waiter(&event, true);
        event.set();
        event.set();
        let released = a.join().unwrap() as u32 + b.join().unwrap() as u32;
        let state = event.state.load(SeqCst);
        let coalesced = event.coalesced.load(SeqCst);
        assert_eq!(
            released + state + coalesced,
            2,
            "released {released}, state {state}, sets on a set state {coalesced}"
        );
        assert!(event.slots_free());
    });
}

#[test]
fn a_state_sleeper_gets_its_turn_beside_a_slot_sleeper() {
    model(|| {
        let event = Arc::new(Event::default());
        let e = event.clone();
        let on_state = thread::spawn(move || e.wait_on_state());
        let in_slot = waiter(&event, false);
        while event.asleep() < 1 || event.sets_futex.asleep() < 1 {
            thread::yield_now();
        }
        event.set();
        event.set();
        assert!(on_state.join().unwrap() && in_slot.join().unwrap());
        event.assert_settled();
    });
}

#[test]
fn a_stale_count_of_state_sleepers_costs_the_slot_nothing() {
    model(|| {
        let event = Arc::new(Event::default());
        event.waiters.store(1, SeqCst); // left by a waiter killed asleep
        event.turn.store(1, SeqCst); // the state sleepers' turn
        let a = waiter(&event, false);
        until_asleep(&event, 1);
        event.set();
        assert!(a.join().unwrap());
        event.assert_settled();
    });
}

#[test]
fn a_waiter_finding_every_slot_taken_takes_a_release_left_in_one() {
    model(|| {
        let event = Arc::new(Event::default());
        // Slot 0 released for a waiter killed once woken; slot 1 claimed by one that died
        // waiting; a tag no filemap writes would be claimable, so neither is free here.
        event.slots[0].store(1 << SHIFT | RELEASED, SeqCst);
        event.slots[1].store(1 << SHIFT | WAITING, SeqCst);
        let a = waiter(&event, true);
        let took = a.join().unwrap();
        assert!(took, "the release left in slot 0 was not taken");
        assert_eq!(event.slots[0].load(SeqCst) & TAG, FREE);
    });
}

#[test]
fn a_reset_takes_nothing_from_the_state_sleeper_a_set_woke() {
    model(|| {
        let event = Arc::new(Event::default());
        let e = event.clone();
        let on_state = thread::spawn(move || e.wait_on_state());
        let in_slot = waiter(&event, false);
        while event.asleep() < 1 || event.sets_futex.asleep() < 1 {
            thread::yield_now();
        }
        event.turn.store(1, SeqCst); // the state sleepers' turn
        event.set();
        event.reset();
        event.set();
        assert!(on_state.join().unwrap() && in_slot.join().unwrap());
        event.assert_settled();
    });
}

#[test]
fn a_set_over_an_owed_state_leaves_it_owed() {
    model(|| {
        let event = Arc::new(Event::default());
        let released = Arc::new(AtomicU32::new(0));
        let sleepers: Vec<_> = (0..2)
            .map(|_| {
                let (e, released) = (event.clone(), released.clone());
                thread::spawn(move || {
                    let took = e.wait_on_state();
                    released.fetch_add(1, SeqCst);
                    took
                })
            })
            .collect();
        while event.sets_futex.asleep() < 2 {
            thread::yield_now();
        }
        event.turn.store(1, SeqCst); // the state sleepers' turn
        event.set();
        event.set();
        event.reset();
        // At least one released whatever the reset did (loom reports the deadlock if none
        // is); then a third set releases the other. (Before a sleeper runs, the two sets
        // are one, as two sets before a waiter runs are.)
        while released.load(SeqCst) < 1 {
            thread::yield_now();
        }
        event.set();
        for sleeper in sleepers {
            assert!(sleeper.join().unwrap());
        }
    });
}

#[test]
fn a_declining_wait_passes_the_owed_state_on() {
    model(|| {
        let event = Arc::new(Event::default());
        let done = Arc::new(AtomicU32::new(0));
        let finished = Arc::new(AtomicU32::new(0));
        let decliner = {
            let (e, done, finished) = (event.clone(), done.clone(), finished.clone());
            thread::spawn(move || {
                e.wait_declining(&done);
                finished.store(1, SeqCst);
            })
        };
        let e = event.clone();
        let on_state = thread::spawn(move || e.wait_on_state());
        while event.sets_futex.asleep() < 2 {
            thread::yield_now();
        }
        event.turn.store(1, SeqCst); // the state sleepers' turn
        event.set();
        event.reset();
        assert!(on_state.join().unwrap());
        done.store(1, SeqCst);
        while finished.load(SeqCst) == 0 {
            event.sets_futex.wake_one();
            thread::yield_now();
        }
        decliner.join().unwrap();
    });
}
