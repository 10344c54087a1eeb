//! Model check, with loom, of an auto-reset event's releases (`src/sys/linux/sync.rs`:
//! `event_set`, `promise_release`, `unpromise_beyond_sleepers`, `event_take_now` and the
//! blocking wait, `wait_until`). A set that finds more sleepers than releases promised
//! promises one more and wakes; with none, it sets the state. A waiter counts itself a
//! sleeper for the whole wait, and in turn notes the count of sets, looks (a promise
//! first, then the state), and sleeps on the count of sets.
//!
//! Checked in every interleaving (up to three preemptions), with each operation's
//! orderings as in the code:
//! 1. Two waiters counted asleep and two sets: both waiters are released (loom reports a
//!    deadlock if one sleeps for ever), and nothing is left over.
//! 2. One waiter counted asleep, and a set followed by a reset: the waiter is released (a
//!    set is not lost to a reset that follows it), and nothing is left over.
//! 3. One waiter whose sleep times out as a set comes: either the waiter took the release,
//!    or the event is left set (as a state a reset can take away), never as a promise to
//!    nobody.
//!
//! The futex is modelled as the kernel makes it (the compare and the sleep one step under
//! its lock); its wake wakes every sleeper, more than `FUTEX_WAKE` of one, which the
//! waiters' looks then sort out.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p filemap --release --test loom_event`
//! (scripts/test does); without `--cfg loom` this file is empty.

#![cfg(loom)]

mod loom_support;

use loom::sync::atomic::{fence, AtomicU32, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use loom_support::Futex;

/// The event's words that matter here.
#[derive(Default)]
struct Event {
    state: AtomicU32,
    sets: AtomicU32,
    promised: AtomicU32,
    sleepers: AtomicU32,
    futex: Futex,
}

/// As the code's `PROMISE_TRIES`.
const TRIES: usize = 16;

impl Event {
    fn set(&self) {
        if self.promise_release() {
            self.sets.fetch_add(1, SeqCst);
            self.futex.wake();
            self.unpromise_beyond_sleepers();
            return;
        }
        self.state.store(1, SeqCst);
        self.sets.fetch_add(1, SeqCst);
        fence(SeqCst);
        if self.sleepers.load(SeqCst) > 0 {
            self.futex.wake();
        }
    }

    fn promise_release(&self) -> bool {
        for _ in 0..TRIES {
            let given = self.promised.load(SeqCst);
            if self.sleepers.load(SeqCst) <= given {
                return false;
            }
            if self
                .promised
                .compare_exchange(given, given + 1, SeqCst, SeqCst)
                .is_ok()
            {
                return true;
            }
        }
        false
    }

    fn unpromise_beyond_sleepers(&self) {
        fence(SeqCst);
        let given = self.promised.load(SeqCst);
        if given > self.sleepers.load(SeqCst)
            && self
                .promised
                .compare_exchange(given, given - 1, SeqCst, SeqCst)
                .is_ok()
        {
            self.state.store(1, SeqCst);
            self.sets.fetch_add(1, SeqCst);
            self.futex.wake();
        }
    }

    fn reset(&self) {
        self.state.store(0, SeqCst);
    }

    fn take(&self) -> bool {
        for _ in 0..TRIES {
            let given = self.promised.load(SeqCst);
            if given == 0 {
                break;
            }
            if self
                .promised
                .compare_exchange(given, given - 1, SeqCst, SeqCst)
                .is_ok()
            {
                return true;
            }
        }
        self.state.compare_exchange(1, 0, SeqCst, SeqCst).is_ok()
    }

    /// `wait_until`, until released; or, `timed_out`, a wait whose one sleep ends at once
    /// (its timeout), which then looks once more and gives up. Whether it took a release.
    fn wait(&self, timed_out: bool) -> bool {
        self.sleepers.fetch_add(1, SeqCst);
        fence(SeqCst);
        let took = loop {
            let seen = self.sets.load(SeqCst);
            if self.take() {
                break true;
            }
            if timed_out {
                // (The sleep that timed out, then the look once the deadline passed.)
                break self.take();
            }
            self.futex.wait(&self.sets, seen);
            if self.take() {
                break true;
            }
        };
        self.sleepers.fetch_sub(1, SeqCst);
        fence(SeqCst);
        // Gave up: once more, uncounted (a release promised as it stopped counting).
        took || self.take()
    }

    /// Until `n` waiters count themselves asleep.
    fn until_asleep(&self, n: u32) {
        while self.sleepers.load(SeqCst) < n {
            thread::yield_now();
        }
    }

    /// Nothing left over: no promise, and (after `take` of a state left set) nothing more.
    fn left_over(&self) -> (u32, u32) {
        (self.promised.load(SeqCst), self.state.load(SeqCst))
    }
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

#[test]
fn two_sets_release_two_waiters() {
    model(|| {
        let event = Arc::new(Event::default());
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let event = event.clone();
                thread::spawn(move || assert!(event.wait(false)))
            })
            .collect();
        event.until_asleep(2);
        event.set();
        event.set();
        for w in waiters {
            w.join().unwrap();
        }
        assert_eq!(event.left_over(), (0, 0));
    });
}

#[test]
fn a_set_is_not_lost_to_the_reset_after_it() {
    model(|| {
        let event = Arc::new(Event::default());
        let waiter = {
            let event = event.clone();
            thread::spawn(move || assert!(event.wait(false)))
        };
        event.until_asleep(1);
        event.set();
        event.reset();
        waiter.join().unwrap();
        assert_eq!(event.left_over(), (0, 0));
    });
}

#[test]
fn a_waiter_that_gives_up_leaves_no_promise_to_nobody() {
    model(|| {
        let event = Arc::new(Event::default());
        let waiter = {
            let event = event.clone();
            thread::spawn(move || event.wait(true))
        };
        event.set();
        let took = waiter.join().unwrap();
        let (promised, state) = event.left_over();
        assert_eq!(promised, 0, "a promise left to nobody (a reset would not take it): took {took}, state {state}, sleepers {}", event.sleepers.load(SeqCst));
        assert_eq!(
            state,
            u32::from(!took),
            "the set went to the waiter, or is left as the state"
        );
    });
}
