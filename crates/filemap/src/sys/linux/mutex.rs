//! Linux named mutexes: a futex word in the entry's data area, robust without glibc.
//!
//! A robust pthread mutex keeps its owner's place in a per-thread list whose pointers live
//! inside the mutex, and unlocking writes through them: a process that can write the
//! mutex's memory could make the holder write wherever it chose. This mutex keeps nothing
//! of one process in memory another can write:
//!
//! - the state word is 0 when free, or the owner's *token* (31 bits) with the top bit set
//!   when a waiter may be asleep;
//! - every handle picks a random token and proves it is alive by holding a liveness lock
//!   (`liveness.rs`) on the byte at [`TOKEN_LOCKS_AT`] + token, which the kernel releases
//!   when the process dies;
//! - locking is a compare-and-swap from 0 to the token (no system call when free); a
//!   waiter sets the top bit (so that the holder's unlock makes a wake call, which gives
//!   the waiter its turn), spins briefly, then sleeps on the futex in slices of at most
//!   100 ms, and when a slice passes with the same owner it tests the owner's liveness
//!   lock: if nobody holds it, the owner died holding the mutex, and the waiter takes it
//!   over as *abandoned*;
//! - unlocking swaps the word to 0 and wakes one sleeper if the top bit was set.
//!
//! Whatever another process writes into the words, a handle only compares, swaps and
//! sleeps on them: a lie can make a lock wait or be taken over, never touch other memory.
//! Relocking from the owning thread is refused above this layer (`sync::mutex`). A child
//! made by `fork` without `exec` holds none of its parent's liveness locks (see
//! `liveness`), and cannot lock or unlock through the handles it inherited
//! (`Error::Unsupported`): it opens the mutex again.

use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::futex::{RECHECK_INTERVAL, futex_wait, futex_wake};
use super::liveness::{self, LivenessLock};
use crate::error::{Error, Result};
use crate::name::Name;
use crate::sys::Locked;

/// The second word of a mutex's data area: this layout's marker (a mutex made by an
/// earlier filemap held a pthread mutex there instead).
pub(crate) const MUTEX_LAYOUT: u32 = 0x584d_4601; // "\x01FMX"
/// The state word's bit saying a waiter may be asleep.
pub(crate) const WAITERS: u32 = 1 << 31;
/// Where the handles' liveness bytes start: past any data an entry holds.
const TOKEN_LOCKS_AT: u64 = 1 << 40;
/// The owner token a thread's exit leaves in a mutex it held without a guard: no handle
/// takes it, so its liveness byte is never locked, and a locker takes the mutex over as
/// abandoned at once (Win32 abandons a mutex whose owning thread exits).
const ABANDONED_BY_THREAD: u32 = WAITERS - 1;
const _: () = assert!(ABANDONED_BY_THREAD != 0 && ABANDONED_BY_THREAD & WAITERS == 0);
/// How many times a waiter tries again, spinning, before it sleeps.
const LOCK_SPINS: u32 = 100;

/// Writes a free mutex of this layout into a new entry's first two words.
///
/// # Safety
/// `words` must point to two writable, aligned `u32`s that no other process can see yet.
pub(crate) unsafe fn init(words: *mut u32) {
    // SAFETY: the caller's contract.
    unsafe {
        words.write(0);
        words.add(1).write(MUTEX_LAYOUT);
    }
}

/// Checks the layout marker of an opened mutex.
pub(crate) fn check_layout(marker: u32, name: &Name) -> Result<()> {
    if marker == MUTEX_LAYOUT {
        return Ok(());
    }
    Err(Error::Corrupt {
        name: name.to_string(),
        problem: format!(
            "a mutex of layout {marker:#x}, not {MUTEX_LAYOUT:#x} (made by an earlier filemap?)"
        ),
    })
}

/// One handle's claim to be alive: its token, the liveness lock that backs it, and the
/// process that took it.
#[derive(Debug)]
pub(crate) struct Owner {
    token: u32,
    /// The fork generation of the process that took the token (see `is_this_process`).
    generation: u64,
    _alive: LivenessLock,
}

impl Owner {
    /// Picks a token that no live handle of the entry open as `entry` uses and that the
    /// mutex's `state` does not name (a dead owner's token, not yet taken over, would look
    /// alive again), and locks its byte.
    pub(crate) fn new(entry: BorrowedFd<'_>, state: &AtomicU32, name: &Name) -> Result<Owner> {
        let generation = super::watched_fork_generation();
        for _ in 0..64 {
            let token = random_token();
            if token == ABANDONED_BY_THREAD {
                continue;
            }
            let Some(alive) = LivenessLock::take(entry, TOKEN_LOCKS_AT + u64::from(token))? else {
                continue;
            };
            // Holding the byte, nobody else can become owner `token` from now on.
            if state.load(Ordering::Relaxed) & !WAITERS == token {
                continue;
            }
            return Ok(Owner {
                token,
                generation,
                _alive: alive,
            });
        }
        Err(Error::io(
            "choose an owner token for",
            name,
            std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                "64 random tokens in a row were taken",
            ),
        ))
    }

    /// Whether this is the process that took the token: a child made by `fork` (without
    /// `exec`) inherits the handle, and with it the token (not its liveness lock), which
    /// would let it lock as its parent and unlock its parent's lock. Told by the fork
    /// generation, not the pid: a grandchild may have its dead grandparent's pid.
    #[inline]
    pub(crate) fn is_this_process(&self) -> bool {
        self.generation == super::fork_generation()
    }
}

/// A random token: 31 bits, never 0.
fn random_token() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::AtomicU64;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // RandomState is seeded from the system's randomness once per process.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    let bits = h.finish();
    (((bits >> 32) ^ bits) as u32 & !WAITERS).max(1)
}

/// Whether the handle whose token is `token` is alive. (The token a thread's exit leaves
/// is tested as any: no handle of this filemap takes it, but one of an earlier filemap,
/// which did not reserve it, may hold it alive.)
fn owner_alive(entry: BorrowedFd<'_>, token: u32) -> bool {
    liveness::is_held(entry, TOKEN_LOCKS_AT + u64::from(token))
}

/// Takes the mutex over from `owner`, which the state word named (`current`) and which
/// [`owner_alive`] found dead: swaps the word to `taken` while holding `owner`'s liveness
/// byte off (a read lock: `LivenessLock::hold_off`), so that no new handle can draw that
/// token meanwhile, lock the mutex, and have it taken from it (`Owner::new` refuses a
/// token the word names, but the dead owner's holder may have unlocked and let its token
/// go after this process read the word). Whether the word was swapped; `None` if the byte
/// was held after all (a live owner, or a new handle that drew the token). (A read lock,
/// not a liveness lock: a process that may only read the entry can put read locks on the
/// byte, which would stand in a write lock's way for ever; they stand in no other read
/// lock's way.)
fn take_over(
    state: &AtomicU32,
    entry: BorrowedFd<'_>,
    current: u32,
    taken: u32,
    owner: u32,
) -> Option<bool> {
    // (The token threads leave when they exit holding a mutex: no handle draws it.)
    let _owner_byte = if owner == ABANDONED_BY_THREAD {
        None
    } else {
        match LivenessLock::hold_off(entry, TOKEN_LOCKS_AT + u64::from(owner)) {
            Ok(Some(lock)) => Some(lock),
            Ok(None) => return None,
            // (The byte could not be locked here: `owner_alive`'s look stands.)
            Err(_) => None,
        }
    };
    Some(
        state
            .compare_exchange(current, taken, Ordering::Acquire, Ordering::Relaxed)
            .is_ok(),
    )
}

/// Sets the waiters bit of a held mutex for a waiter about to spin, as a glibc mutex's
/// waiter sets it at once: the holder's unlock then makes a wake call (finding nobody
/// asleep, it returns at once), and the time that takes is the spinner's window to take
/// the mutex before a holder that unlocks and locks again in a loop has it back. A waiter
/// that only spun rarely caught that window, and then slept: two processes taking turns
/// took 2.5 to 9 times longer per turn (section 4 of docs/benchmarks.md: 1.4 µs and
/// 3.6 µs, against 0.3 to 0.6 µs now, on a par with a raw robust pthread mutex). Setting
/// the bit early only ever adds a wake: it costs the next unlock a system call, and never
/// loses a wake-up.
fn announce(state: &AtomicU32) {
    let current = state.load(Ordering::Relaxed);
    if current & !WAITERS != 0 && current & WAITERS == 0 {
        let _ = state.compare_exchange(
            current,
            current | WAITERS,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
}

/// Locks the mutex whose state word is `state` for `me`; `None` on timeout (or, with a
/// zero timeout, if a live owner holds it).
///
/// Kept out of line, the uncontended path (one compare-and-swap) measured fastest (section
/// 4 of docs/benchmarks.md), and so did a hand-off between processes that take turns:
/// inlined into the caller's loop, a holder that unlocks and locks again won the mutex
/// back from a spinning waiter several times more often (a hand-off took 3 to 8 times
/// longer).
#[inline(never)]
pub(crate) fn lock(
    state: &AtomicU32,
    entry: BorrowedFd<'_>,
    me: &Owner,
    timeout: Option<Duration>,
) -> Option<Locked> {
    if state
        .compare_exchange(0, me.token, Ordering::Acquire, Ordering::Relaxed)
        .is_ok()
    {
        return Some(Locked::Normally);
    }
    lock_held(state, entry, me, timeout)
}

/// `lock` of a mutex found held: spin, then sleep, testing the owner's liveness.
#[inline(never)]
fn lock_held(
    state: &AtomicU32,
    entry: BorrowedFd<'_>,
    me: &Owner,
    timeout: Option<Duration>,
) -> Option<Locked> {
    let mine = me.token;
    let deadline = timeout.and_then(crate::sys::deadline_after);
    // A mutex held for a moment is usually free again within a few hundred nanoseconds
    // (`try_lock` does not wait at all).
    let spins = if timeout.is_some_and(|d| d.is_zero()) {
        0
    } else {
        LOCK_SPINS
    };
    if spins > 0 {
        announce(state);
    }
    for _ in 0..spins {
        std::hint::spin_loop();
        // Straight to the compare-and-swap (like `pthread_mutex_trylock`): asking for the
        // line exclusively catches a holder's unlock-and-relock window more often than
        // watching it shared does, and a turn-taking partner gets its turn sooner.
        match state.compare_exchange(0, mine, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => return Some(Locked::Normally),
            // Free, with the waiters bit (a sleeper armed it, see `arm`): taken below,
            // keeping the bit, without spinning first.
            Err(WAITERS) => break,
            Err(_) => {}
        }
    }
    // From here on the state keeps the waiters bit: others may be asleep too.
    let taken = mine | WAITERS;
    // Out of time. A waiter that slept may have taken the wake meant for the next one:
    // the owner's unlock is made to wake somebody, or, if the mutex was unlocked since it
    // looked (with nobody to wake, the bit cleared by a locker that came and went), a
    // sleeper is woken now.
    let give_up = |slept: bool| {
        if slept {
            keep_waking(state);
        }
        None
    };
    // The owner seen, and since when: one seen for a whole slice is tested for liveness,
    // however often the sleeps in between ended early (signals, wakes, a writer's noise).
    let mut seen: Option<(u32, Instant)> = None;
    let mut slept = false;
    loop {
        let current = state.load(Ordering::Relaxed);
        if current & !WAITERS == 0 {
            if state
                .compare_exchange(current, taken, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return Some(Locked::Normally);
            }
            // Taken by another locker the moment it was free (or a writer flips the word
            // between free and held): look again, but never past the deadline.
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return give_up(slept);
            }
            continue;
        }
        let owner = current & !WAITERS;
        let now = Instant::now();
        let left = match deadline {
            None => RECHECK_INTERVAL,
            Some(d) => d
                .checked_duration_since(now)
                .unwrap_or_default()
                .min(RECHECK_INTERVAL),
        };
        let since = match seen {
            Some((o, t)) if o == owner => t,
            _ => now,
        };
        seen = Some((owner, since));
        // The same owner through a whole slice, or out of time: is it still alive? (Not
        // on every wake: a hand-off between live processes makes no extra system call.) A
        // thread that exited holding it left no owner: taken over at once.
        if now.duration_since(since) >= RECHECK_INTERVAL
            || left.is_zero()
            || owner == ABANDONED_BY_THREAD
        {
            let took = if owner_alive(entry, owner) {
                None
            } else {
                take_over(state, entry, current, taken, owner)
            };
            match took {
                Some(true) => return Some(Locked::Abandoned),
                Some(false) => {
                    // (A writer flipping the word must not keep a timed lock past its
                    // deadline.)
                    if left.is_zero() {
                        return give_up(slept);
                    }
                    continue;
                }
                None => {}
            }
            if left.is_zero() {
                return give_up(slept);
            }
            seen = Some((owner, now));
        }
        if current & WAITERS == 0
            && state
                .compare_exchange(
                    current,
                    current | WAITERS,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_err()
        {
            continue;
        }
        futex_wait(state, current | WAITERS, Some(left));
        slept = true;
    }
}

/// Takes the mutex for `me` if it is free now, or, with `check_owner` (a system call),
/// if its owner died holding it; the lock and the state word it replaced (for
/// [`give_back`]). Keeps the waiters bit, and sets it if `slept` (the taker slept on the
/// mutex, so others may too: as `lock` does after a sleep, or an unlock that woke the
/// taker and cleared the bit would leave them asleep).
pub(crate) fn try_take(
    state: &AtomicU32,
    entry: BorrowedFd<'_>,
    me: &Owner,
    check_owner: bool,
    slept: bool,
) -> Option<(Locked, u32)> {
    let current = state.load(Ordering::Relaxed);
    let owner = current & !WAITERS;
    let taken = me.token | if slept { WAITERS } else { current & WAITERS };
    if owner == 0 {
        return state
            .compare_exchange(current, taken, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|replaced| (Locked::Normally, replaced));
    }
    if (check_owner || owner == ABANDONED_BY_THREAD)
        && !owner_alive(entry, owner)
        && take_over(state, entry, current, taken, owner) == Some(true)
    {
        return Some((Locked::Abandoned, current));
    }
    None
}

/// Whether [`try_take`] would take the mutex now.
pub(crate) fn looks_free(state: &AtomicU32, entry: BorrowedFd<'_>, check_owner: bool) -> bool {
    let owner = state.load(Ordering::Relaxed) & !WAITERS;
    owner == 0 || ((check_owner || owner == ABANDONED_BY_THREAD) && !owner_alive(entry, owner))
}

/// Readies a sleep on the mutex: sets the waiters bit, so that the unlock of whoever holds
/// it by the time the sleep begins wakes a sleeper; the value to sleep on. Set on a free
/// mutex too: noted free without it, the mutex could be locked and unlocked by another
/// process between this and the sleep (the look after arming finding it held), its
/// unlock waking nobody, and the sleep, comparing the word with the free value noted,
/// would begin while the mutex is free (until its next look, 100 ms on). With it, a
/// locker takes the mutex with the bit, and its unlock wakes the sleep.
pub(crate) fn arm(state: &AtomicU32) -> u32 {
    let mut current = state.load(Ordering::Relaxed);
    // Bounded: another process rewriting the word cannot keep this loop going.
    for _ in 0..64 {
        if current & WAITERS != 0 {
            break;
        }
        match state.compare_exchange(
            current,
            current | WAITERS,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => return current | WAITERS,
            Err(now) => current = now,
        }
    }
    current
}

/// Puts back the state word that [`try_take`] replaced (`replaced`), for a wait on many
/// objects that could not take them all: an abandoned mutex stays abandoned for the next
/// taker, a free one becomes free again. Keeps a waiters bit set meanwhile, and wakes a
/// sleeper if there may be one.
///
/// An abandoned one is given back with the token a thread's exit leaves, not its dead
/// owner's: a handle opened meanwhile may have drawn that token (one chance in 2^31), and
/// would then look like the mutex's live owner to every waiter, itself included.
pub(crate) fn give_back(state: &AtomicU32, me: &Owner, replaced: u32) {
    let owner = match replaced & !WAITERS {
        0 => 0,
        _ => ABANDONED_BY_THREAD,
    };
    let mut current = state.load(Ordering::Relaxed);
    for _ in 0..64 {
        if current & !WAITERS != me.token {
            // Not held by this handle (another process rewrote the word): leave it.
            return;
        }
        let restored = owner | (replaced & WAITERS) | (current & WAITERS);
        match state.compare_exchange(current, restored, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => {
                if restored & WAITERS != 0 {
                    futex_wake(state, 1);
                }
                return;
            }
            Err(now) => current = now,
        }
    }
}

/// Makes the holder's unlock of a mutex wake a sleeper (it may find none: a wake-up for
/// nobody costs one system call); a mutex unlocked meanwhile wakes one now.
pub(crate) fn keep_waking(state: &AtomicU32) {
    if state.fetch_or(WAITERS, Ordering::Relaxed) & !WAITERS == 0 {
        futex_wake(state, 1);
    }
}

/// Unlocks a mutex this handle's thread holds, waking one sleeper if there may be one.
#[inline]
pub(crate) fn unlock(state: &AtomicU32) {
    if state.swap(0, Ordering::Release) & WAITERS != 0 {
        futex_wake(state, 1);
    }
}

/// Leaves the mutex that `me` holds abandoned, for a thread that exits holding it: the
/// next locker takes it over and is told so. The release orders the thread's writes to
/// the state the mutex protects before the next owner's acquiring take, as an unlock
/// does. Leaves a word that does not name `me` (another process rewrote it) alone.
pub(crate) fn abandon(state: &AtomicU32, me: &Owner) {
    let mut current = state.load(Ordering::Relaxed);
    // Bounded: another process rewriting the word cannot keep this loop going.
    for _ in 0..64 {
        if current & !WAITERS != me.token {
            return;
        }
        match state.compare_exchange(
            current,
            ABANDONED_BY_THREAD,
            Ordering::Release,
            Ordering::Relaxed,
        ) {
            Ok(_) => {
                if current & WAITERS != 0 {
                    futex_wake(state, 1);
                }
                return;
            }
            Err(now) => current = now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Locked, Owner, WAITERS, arm, lock, random_token, unlock};
    use crate::Name;
    use std::os::fd::AsFd;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A sleep readied on a free mutex is not slept through a lock and unlock by another
    /// handle that come before it: the word no longer holds the value noted (the kernel's
    /// compare ends the sleep at once), or the unlock wakes it.
    #[test]
    fn a_sleep_armed_on_a_free_mutex_sees_a_lock_and_unlock_before_it() {
        let entry = tempfile::tempfile().unwrap();
        let state = AtomicU32::new(0);
        let other = Owner::new(entry.as_fd(), &state, &Name::new("arm-test").unwrap()).unwrap();
        let noted = arm(&state);
        let locked = lock(&state, entry.as_fd(), &other, None);
        assert_eq!(locked, Some(Locked::Normally));
        let held = state.load(Ordering::Relaxed);
        assert_ne!(held, noted, "the sleep would begin on a held mutex's word");
        assert_ne!(held & WAITERS, 0, "the unlock would wake nobody");
        unlock(&state);
        assert_eq!(state.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn tokens_are_31_bits_nonzero_and_differ() {
        let tokens: Vec<u32> = (0..1000).map(|_| random_token()).collect();
        assert!(tokens.iter().all(|&t| t != 0 && t & WAITERS == 0));
        let mut unique = tokens.clone();
        unique.sort_unstable();
        unique.dedup();
        assert!(
            unique.len() > 990,
            "{} distinct tokens of 1000",
            unique.len()
        );
    }
}
