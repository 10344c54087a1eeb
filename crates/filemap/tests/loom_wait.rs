//! Model check, with loom, of the lost-wake-up freedom of the async waits (`src/wait/`,
//! `src/sys/linux/waits.rs` and `waiter.rs`): a future looks at its object, readies a
//! sleep (notes the word, counts itself, fences), looks again, and only then registers
//! with the waiter thread, which sleeps on the word noted with a futex that compares it
//! first. Each model is that handful of atomic operations, with the orderings the code
//! uses, in three threads (the object's waker, the polling future, the waiter thread);
//! loom runs them through every interleaving, and reports a deadlock if the waiter thread
//! could sleep through the change that should wake it.
//!
//! 1. A doorbell (channels, topics, inboxes): the waker publishes, fences, and rings only
//!    if it sees a sleeper (bumping the sequence word, then waking).
//! 2. A mutex: the holder unlocks by swapping the word to 0 and wakes only if the waiters
//!    bit was set; the future sets that bit when it readies its sleep.
//! 3. A mutex freed just before the future readies its sleep, and locked and unlocked by
//!    another process between that and the future's look again: the future sets the bit
//!    on the free mutex too (noted free without it, the sleep compared the word with 0
//!    after that unlock, which woke nobody, and slept while the mutex was free).
//! 4. A mutex that a wait on many objects in another process takes and gives back between
//!    the future's arming and its sleep, putting back the free value the future noted: the
//!    future notes its value again after its look, and looks again if the mutex is free.
//! 5. A semaphore whose unit another process takes and gives back between the future's
//!    readying of its sleep and its look again: the future sleeps on the count as empty
//!    (noted with the unit, the sleep compared the count with 1 after the release, which
//!    found it counted but not yet asleep, and slept with a unit there). A blocking
//!    `acquire` (`wait_until` in `src/sys/linux/sync.rs`) makes the same steps and sleeps
//!    on the count as empty too.
//!
//! The futex is modelled as the kernel makes it: the compare and the sleep are one step
//! under the futex's lock, which the wake takes too.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p filemap --release --test loom_wait`
//! (scripts/test does); without `--cfg loom` this file is empty.

#![cfg(loom)]

mod loom_support;

use loom::sync::atomic::{AtomicBool, AtomicU32, Ordering, fence};
use loom::sync::{Arc, Mutex};
use loom::thread;
use loom_support::Futex;

/// The waiter thread's side: takes the registration (the word's value noted), sleeps on
/// it, and fires the future.
fn waiter_thread(
    registered: Arc<Mutex<Option<u32>>>,
    word: Arc<AtomicU32>,
    futex: Arc<Futex>,
    fired: Arc<AtomicBool>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let expected = loop {
            if let Some(expected) = *registered.lock().unwrap() {
                break expected;
            }
            thread::yield_now();
        };
        futex.wait(&word, expected);
        fired.store(true, Ordering::Release);
    })
}

#[test]
fn a_registered_future_is_woken_by_a_later_publication() {
    loom::model(|| {
        let ready = Arc::new(AtomicBool::new(false));
        let seq = Arc::new(AtomicU32::new(0));
        let sleepers = Arc::new(AtomicU32::new(0));
        let futex = Arc::new(Futex::default());
        let registered = Arc::new(Mutex::new(None));
        let fired = Arc::new(AtomicBool::new(false));
        // The waker: `Endpoint::wake_if_asleep` after a commit.
        let waker = {
            let (ready, seq, sleepers, futex) =
                (ready.clone(), seq.clone(), sleepers.clone(), futex.clone());
            thread::spawn(move || {
                ready.store(true, Ordering::Release);
                fence(Ordering::SeqCst);
                if sleepers.load(Ordering::Relaxed) > 0 {
                    seq.fetch_add(1, Ordering::Release);
                    futex.wake();
                }
            })
        };
        // The future's poll: look, arm (`Endpoint::arm`), look again, register.
        let mut waiter = None;
        if !ready.load(Ordering::Acquire) {
            let expected = seq.load(Ordering::Acquire);
            sleepers.fetch_add(1, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            if ready.load(Ordering::Acquire) {
                sleepers.fetch_sub(1, Ordering::SeqCst);
            } else {
                *registered.lock().unwrap() = Some(expected);
                waiter = Some(waiter_thread(
                    registered.clone(),
                    seq.clone(),
                    futex.clone(),
                    fired.clone(),
                ));
            }
        }
        waker.join().unwrap();
        if let Some(waiter) = waiter {
            // A lost wake-up leaves the waiter thread asleep: loom reports the deadlock.
            waiter.join().unwrap();
            assert!(fired.load(Ordering::Acquire));
            // Woken, the future polls again and finds the publication.
            assert!(ready.load(Ordering::Acquire));
        }
    });
}

const WAITERS: u32 = 1 << 31;
const HOLDER: u32 = 7;
const ME: u32 = 9;
const OTHER: u32 = 11;

#[test]
fn a_registered_lock_future_is_woken_by_the_unlock() {
    // The holder unlocks.
    lock_model(|state, futex| unlock(state, futex));
}

#[test]
fn a_lock_future_armed_on_a_free_mutex_is_woken_by_a_lock_and_unlock_before_its_sleep() {
    // The holder unlocks, then another process's handle locks (`mutex::lock`: the fast
    // path, or, free with the waiters bit, taken keeping the bit) and unlocks.
    lock_model(|state, futex| {
        unlock(state, futex);
        if take_as_other(state).is_some() {
            unlock(state, futex);
        }
    });
}

#[test]
fn a_lock_future_is_woken_when_a_wait_on_many_gives_the_mutex_back_before_its_sleep() {
    // The holder unlocks; then another process's wait on many objects takes the mutex
    // (`mutex::try_take`, keeping the waiters bit), cannot take its other object, and gives
    // the mutex back (`mutex::give_back`: the word as it was, the bit kept, a wake if it is
    // set), which may put back the very value the future noted.
    lock_model(|state, futex| {
        unlock(state, futex);
        let Some(replaced) = take_as_other(state) else {
            return;
        };
        let mut now = state.load(Ordering::Relaxed);
        loop {
            let restored = (replaced & WAITERS) | (now & WAITERS);
            match state.compare_exchange(now, restored, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => {
                    if restored & WAITERS != 0 {
                        futex.wake();
                    }
                    return;
                }
                Err(changed) => now = changed,
            }
        }
    });
}

/// A lock future polled on a mutex `HOLDER` holds while another thread runs `others` on
/// the mutex's word (another process's handles): the future takes the lock in the end.
fn lock_model(others: fn(&AtomicU32, &Futex)) {
    loom::model(move || {
        let state = Arc::new(AtomicU32::new(HOLDER));
        let futex = Arc::new(Futex::default());
        let registered = Arc::new(Mutex::new(None));
        let fired = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, futex) = (state.clone(), futex.clone());
            thread::spawn(move || others(&state, &futex))
        };
        let waiter = poll_lock_future(&state, &futex, &registered, &fired);
        thread.join().unwrap();
        finish_lock_future(&state, waiter, &fired);
    });
}

/// `mutex::unlock`: the word to 0, a wake if the waiters bit was set.
fn unlock(state: &AtomicU32, futex: &Futex) {
    if state.swap(0, Ordering::Release) & WAITERS != 0 {
        futex.wake();
    }
}

/// Another handle takes the mutex if it is free (keeping the waiters bit): the word it
/// replaced.
fn take_as_other(state: &AtomicU32) -> Option<u32> {
    let current = state.load(Ordering::Relaxed);
    (current & !WAITERS == 0
        && state
            .compare_exchange(
                current,
                OTHER | (current & WAITERS),
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .is_ok())
    .then_some(current)
}

/// `mutex::try_take`: free (keeping the waiters bit) or not.
fn try_take(state: &AtomicU32) -> bool {
    let current = state.load(Ordering::Relaxed);
    current & !WAITERS == 0
        && state
            .compare_exchange(
                current,
                ME | (current & WAITERS),
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .is_ok()
}

/// A lock future's poll: look, arm (`mutex::arm`), look again, confirm (`waits::confirm`:
/// a value noted free is noted again, and a mutex free again is looked at again rather
/// than slept on), register. The waiter thread, if it registered.
fn poll_lock_future(
    state: &Arc<AtomicU32>,
    futex: &Arc<Futex>,
    registered: &Arc<Mutex<Option<u32>>>,
    fired: &Arc<AtomicBool>,
) -> Option<thread::JoinHandle<()>> {
    loop {
        if try_take(state) {
            return None;
        }
        let expected = arm(state);
        if try_take(state) {
            return None;
        }
        let expected = if expected & !WAITERS == 0 {
            arm(state)
        } else {
            expected
        };
        if expected & !WAITERS == 0 {
            // Free again: the future's waker is woken at once, and it polls again.
            thread::yield_now();
            continue;
        }
        *registered.lock().unwrap() = Some(expected);
        return Some(waiter_thread(
            registered.clone(),
            state.clone(),
            futex.clone(),
            fired.clone(),
        ));
    }
}

/// `mutex::arm`: the waiters bit, held or free; the value to sleep on.
fn arm(state: &AtomicU32) -> u32 {
    let mut expected = state.load(Ordering::Relaxed);
    while expected & WAITERS == 0 {
        match state.compare_exchange(
            expected,
            expected | WAITERS,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => expected |= WAITERS,
            Err(now) => expected = now,
        }
    }
    expected
}

/// Once the other threads are done: a registered future was fired, and takes the lock.
fn finish_lock_future(
    state: &AtomicU32,
    waiter: Option<thread::JoinHandle<()>>,
    fired: &AtomicBool,
) {
    let taken = match waiter {
        None => true,
        Some(waiter) => {
            waiter.join().unwrap();
            assert!(fired.load(Ordering::Acquire));
            try_take(state)
        }
    };
    assert!(taken, "the future takes the lock once it is free");
}

#[test]
fn a_semaphore_future_is_woken_by_a_unit_taken_and_given_back_before_its_sleep() {
    loom::model(|| {
        let count = Arc::new(AtomicU32::new(0));
        let sleepers = Arc::new(AtomicU32::new(0));
        let futex = Arc::new(Futex::default());
        let registered = Arc::new(Mutex::new(None));
        let fired = Arc::new(AtomicBool::new(false));
        // `semaphore_release`: the unit, then a wake if a sleeper is counted. (The code's
        // accesses are sequentially consistent; loom models such an access as acquire and
        // release only, so the fences say their single order here.)
        let release = |count: &AtomicU32, sleepers: &AtomicU32, futex: &Futex| {
            count.fetch_add(1, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            if sleepers.load(Ordering::SeqCst) > 0 {
                futex.wake();
            }
        };
        // One process releases a unit; another takes it if it is there, and gives it back.
        let others = {
            let (count, sleepers, futex) = (count.clone(), sleepers.clone(), futex.clone());
            thread::spawn(move || {
                release(&count, &sleepers, &futex);
                if take(&count) {
                    release(&count, &sleepers, &futex);
                }
            })
        };
        // The future's poll: look, arm (`waits::arm`: counted, the count noted as empty),
        // look again, register.
        let mut waiter = None;
        let mut taken = take(&count);
        if !taken {
            sleepers.fetch_add(1, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            let expected = 0;
            taken = take(&count);
            if taken {
                sleepers.fetch_sub(1, Ordering::SeqCst);
            } else {
                *registered.lock().unwrap() = Some(expected);
                waiter = Some(waiter_thread(
                    registered.clone(),
                    count.clone(),
                    futex.clone(),
                    fired.clone(),
                ));
            }
        }
        others.join().unwrap();
        if let Some(waiter) = waiter {
            waiter.join().unwrap();
            assert!(fired.load(Ordering::Acquire));
            taken = take(&count);
        }
        assert!(taken, "the future takes the unit once it is there");
    });
}

/// `semaphore_take_now`: a unit if there is one.
fn take(count: &AtomicU32) -> bool {
    let c = count.load(Ordering::SeqCst);
    c > 0
        && count
            .compare_exchange(c, c - 1, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
}
