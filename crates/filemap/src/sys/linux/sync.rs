//! Linux synchronisation objects, in the data area of namespace entries:
//!
//! - mutexes: a futex word whose owner proves it is alive with a liveness lock
//!   (`mutex.rs`); a dead owner's mutex is taken over and reported abandoned;
//! - events and semaphores: 32-bit words with `futex` wait/wake (never
//!   `FUTEX_PRIVATE_FLAG`: the waiters are in other processes). Waiters count themselves,
//!   so `set` / `release` make no system call when nobody sleeps.
//!
//! Data area layout (from the entry's data offset): the words below in the first
//! [`SYNC_AREA`] bytes, then the user's value for shared mutexes.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::RawView;
use super::entry::{Entry, create_entry, open_entry};
pub(super) use super::futex::{RECHECK_INTERVAL, futex_wait, futex_wake, futex_wake_one};
use super::liveness::{self, LivenessLock};
use super::mutex::{self, Owner};
#[cfg(target_arch = "x86_64")]
use super::rescue::Rescued;
use crate::error::{Error, Result};
use crate::header::{Header, SYNC_AREA, check_kind};
use crate::name::Name;
use crate::sys::{CreateMode, Doorbell, Locked};
use crate::vocabulary::{Access, Disposition, Kind};

/// An entry's data area, mapped read-write for as long as the object is open.
#[derive(Debug)]
pub(crate) struct SyncMemory {
    /// The data area registered for rescue from truncation; withdrawn before `view` unmaps.
    #[cfg(target_arch = "x86_64")]
    rescued: Rescued,
    view: RawView,
    len: u64,
    /// Where the data area ends in the entry.
    end: u64,
    // Keeps the object alive; dropped after the view.
    pub(super) entry: Entry,
    identity: u64,
    name: Name,
}

impl SyncMemory {
    /// Maps the data area of `entry`, whose header was decoded (so its size fits the entry
    /// and is at least [`SYNC_AREA`] for a synchronisation kind) or made by this process.
    fn map(entry: Entry, header: &Header, what: &Name) -> Result<SyncMemory> {
        let section = entry.section()?;
        let view = section.map(
            header.data_offset,
            header.size as usize,
            Access::Write,
            false,
            what,
        )?;
        let identity = entry.identity();
        Ok(SyncMemory {
            #[cfg(target_arch = "x86_64")]
            rescued: Rescued::register(view.ptr(), header.size as usize),
            view,
            len: header.size,
            end: header.data_offset + header.size,
            entry,
            identity,
            name: what.clone(),
        })
    }

    #[inline]
    pub(super) fn word(&self, index: usize) -> &AtomicU32 {
        debug_assert!(index * 4 + 4 <= SYNC_AREA);
        // SAFETY: the data area is at least SYNC_AREA bytes, page-aligned, mapped while
        // `self` lives; words are 4-byte aligned; any bit pattern is a valid u32.
        unsafe { &*self.view.ptr().add(index * 4).cast::<AtomicU32>() }
    }

    /// The start of the data area.
    pub(crate) fn base(&self) -> *mut u8 {
        self.view.ptr()
    }

    /// The data area's length.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Sleeps while the doorbell's word holds `expected` (a futex).
    pub(crate) fn wait_word(&self, bell: &Doorbell<'_>, expected: u32, timeout: Duration) {
        let _ = futex_wait(bell.word, expected, Some(timeout));
    }

    /// Wakes the sleepers on the doorbell's word.
    pub(crate) fn wake_word(&self, bell: &Doorbell<'_>) {
        futex_wake(bell.word, i32::MAX as u32);
    }

    /// The user's data, right after the synchronisation words.
    #[inline]
    pub(crate) fn data(&self) -> *mut u8 {
        // SAFETY: the data area is SYNC_AREA bytes plus the user's value.
        unsafe { self.view.ptr().add(SYNC_AREA) }
    }

    /// Identifies the object within this process (for detecting relocking).
    #[inline]
    pub(crate) fn identity(&self) -> u64 {
        self.identity
    }

    /// Whether the entry is now shorter than its data area (another process truncated it).
    pub(crate) fn truncated(&self) -> bool {
        self.cut_at().is_some()
    }

    /// Where the data area now ends, if another process cut the entry short of it.
    pub(crate) fn cut_at(&self) -> Option<u64> {
        let stored = rustix::fs::fstat(self.entry.fd()).ok()?.st_size as u64;
        (stored < self.end).then(|| stored.saturating_sub(self.end - self.len))
    }

    /// Where the data area's memory was lost, if it was: another process cut the entry
    /// short and this process touched a page that was gone, which the fault handler
    /// replaced with zeros (`rescue.rs`). Every result computed since is meaningless.
    #[inline]
    pub(crate) fn lost(&self) -> Option<u64> {
        #[cfg(target_arch = "x86_64")]
        return self.rescued.lost();
        #[cfg(not(target_arch = "x86_64"))]
        return None;
    }

    /// `Error::PageFault` if the memory was lost (see [`lost`](SyncMemory::lost)).
    #[inline]
    pub(crate) fn intact(&self) -> Result<()> {
        match self.lost() {
            None => Ok(()),
            Some(offset) => Err(self.lost_at(offset)),
        }
    }

    /// The error for memory lost from `offset` (kept out of the callers' fast paths).
    #[cold]
    #[inline(never)]
    fn lost_at(&self, offset: u64) -> Error {
        Error::PageFault {
            name: self.name.to_string(),
            offset,
            truncated: self.truncated(),
        }
    }
}

/// Creates (or opens) a synchronisation entry of `header`'s kind whose data area `init`
/// prepares; an existing entry of another kind is `KindMismatch`, found before anything
/// of it is mapped (its size is another kind's, a terabyte mapping's, say).
pub(crate) fn create_sync(
    name: &Name,
    header: &Header,
    mode: CreateMode,
    init: &dyn Fn(*mut u8) -> Result<()>,
) -> Result<(SyncMemory, Header, Disposition)> {
    let expected = header.kind;
    let (entry, header, disposition) = create_entry(name, header, mode, (Some(init), None))?;
    check_kind(name, &header, expected)?;
    Ok((SyncMemory::map(entry, &header, name)?, header, disposition))
}

/// Opens a synchronisation entry of kind `expected` (read-write: waiting writes to the
/// words too); one of another kind is `KindMismatch`, found before it is mapped.
pub(crate) fn open_sync(name: &Name, expected: Kind) -> Result<(SyncMemory, Header)> {
    let (entry, header) = open_entry(name, true)?;
    check_kind(name, &header, expected)?;
    Ok((SyncMemory::map(entry, &header, name)?, header))
}

/// Takes the object now, or within a short spin (before a wait sleeps): whether it did. A
/// wait that may not wait (`timeout` zero: a `try_` call) looks once, without spinning.
pub(super) fn take_soon(try_take: impl Fn() -> bool, timeout: Option<Duration>) -> bool {
    if try_take() {
        return true;
    }
    if may_not_wait(timeout) {
        return false;
    }
    for _ in 0..64 {
        std::hint::spin_loop();
        if try_take() {
            return true;
        }
    }
    false
}

/// Whether a wait with this timeout may not wait at all (a `try_` call).
pub(super) fn may_not_wait(timeout: Option<Duration>) -> bool {
    timeout == Some(Duration::ZERO)
}

/// What a waiter sleeps on while [`wait_until`]'s try fails.
#[derive(Clone, Copy)]
enum SleepWhile {
    /// The word keeps the value seen before the last try (whatever that value is: a word
    /// another process scribbled on must not make the wait spin). For a word that only
    /// ever moves on (an event's count of sets).
    Unchanged,
    /// The word is 0: for a count that goes down as well as up (a semaphore's). Noted with
    /// units, the try could find them taken by another process, which a release then put
    /// back before the sleep began (waking nobody, not asleep yet), and a sleep comparing
    /// with the noted value would begin with a unit there. A count that is not 0 when the
    /// sleep begins ends it at once.
    Zero,
}

/// Waits until `try_take` succeeds, sleeping on `word` as `sleep` says, for at most
/// [`RECHECK_INTERVAL`] at a time. `false` if the timeout passed first, or the memory was
/// lost (the caller reports that).
fn wait_until(
    memory: &SyncMemory,
    (word, waiters): (&AtomicU32, &AtomicU32),
    sleep: SleepWhile,
    timeout: Option<Duration>,
    try_take: impl Fn() -> bool,
) -> bool {
    if take_soon(&try_take, timeout) {
        return true;
    }
    if may_not_wait(timeout) {
        return false;
    }
    let deadline = timeout.and_then(crate::sys::deadline_after);
    loop {
        let remaining = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(r) if !r.is_zero() => Some(r),
                _ => return try_take(),
            },
            None => None,
        };
        let expected = match sleep {
            SleepWhile::Unchanged => word.load(Ordering::SeqCst),
            SleepWhile::Zero => 0,
        };
        waiters.fetch_add(1, Ordering::SeqCst);
        if try_take() {
            waiters.fetch_sub(1, Ordering::SeqCst);
            return true;
        }
        // Sleep in slices: a waiter that a `set` or `release` woke may be killed before it
        // takes what it was woken for, and nobody would wake the others for it.
        let slice = remaining.map_or(RECHECK_INTERVAL, |r| r.min(RECHECK_INTERVAL));
        let _ = futex_wait(word, expected, Some(slice));
        waiters.fetch_sub(1, Ordering::SeqCst);
        if try_take() {
            return true;
        }
        if memory.lost().is_some() {
            return false;
        }
    }
}

// Event words: 0 state (1 signalled), 1 sleeping waiters, 2 manual reset (1) or auto (0),
// 3 how many sets there have been (wrapping). Waiters sleep on the count of sets, which
// every set changes and nothing else does: a wait on a manual-reset event notes the count
// when it begins ([`EventMark`]), and a set counted since then ends it even if a reset
// came before the waiter looked (a set followed at once by a reset releases every waiter
// already waiting, as Windows' kernel does). Words 0 to 2 mean what they meant to earlier
// filemaps, whose waiters sleep on the state word: a set here wakes none of them, nor does
// an earlier filemap's set wake this version's waiters, but each side's waiters see the
// other's set at their next check, at most [`RECHECK_INTERVAL`] later (a wake for both
// would cost every set with sleepers a second system call). Words 4 to 14 of an auto-reset
// event are the slots of its blocking waiters (`handoff.rs`), 15 whose turn a set is, all
// zeros (free) when it is made.
//
// The state is 0 (not set), [`SET`], or [`OWED`]: set by a set on the turn of the waiters
// on the state (`handoff.rs`), whose release is a woken sleeper's, so that a reset does not
// take it away (it is taken as a set state is; earlier filemaps' waiters take only `SET`).
const EVENT_STATE: usize = 0;
/// The state of an event set.
const SET: u32 = 1;
/// The state of an auto-reset event whose set woke a waiter on the state: set, and left so
/// by a reset (see the comment on the event's words).
pub(super) const OWED: u32 = 2;
/// How many times taking the state tries a compare-and-swap that lost to a change from one
/// set value to the other (a set storing `SET` over `OWED`).
const STATE_TRIES: usize = 4;
const EVENT_WAITERS: usize = 1;
const EVENT_MANUAL: usize = 2;
const EVENT_SETS: usize = 3;

/// An event's count of sets when a wait on it began (see the comment on the event's words).
#[derive(Clone, Copy, Debug)]
pub(crate) struct EventMark(u32);

pub(crate) fn init_event(manual: bool, signalled: bool) -> impl Fn(*mut u8) -> Result<()> {
    move |at| {
        // SAFETY: `at` is the SYNC_AREA of a new entry nobody else can see yet.
        unsafe {
            let words = at.cast::<u32>();
            words.add(EVENT_STATE).write(signalled as u32);
            words.add(EVENT_WAITERS).write(0);
            words.add(EVENT_MANUAL).write(manual as u32);
            words.add(EVENT_SETS).write(0);
            // The hand-off slots and turn (`handoff.rs`): free, the slots'.
            for slot in EVENT_SETS + 1..SYNC_AREA / 4 {
                words.add(slot).write(0);
            }
        }
        Ok(())
    }
}

impl SyncMemory {
    pub(crate) fn event_is_manual(&self) -> bool {
        self.word(EVENT_MANUAL).load(Ordering::Relaxed) == 1
    }

    /// Sets the event: every waiter of a manual-reset one; one of an auto-reset one, a
    /// blocking waiter asleep in a slot if there is one (`handoff.rs`), or else the state.
    pub(crate) fn event_set(&self) {
        if self.event_is_manual() {
            self.event_set_state();
        } else {
            self.event_set_auto();
        }
    }

    /// Sets the state: the state first, then the count of sets (the word waiters on the
    /// state sleep on: a waiter that looked at the state before it was set read the count
    /// before it was counted, so its sleep returns at once or is woken; counted first, a
    /// waiter could read the new count, find the state not yet set, and sleep through the
    /// wake); wakes the sleepers if any sleep.
    pub(super) fn event_set_state(&self) {
        let sets = self.word(EVENT_SETS);
        let state = self.word(EVENT_STATE);
        if self.event_is_manual() {
            state.store(SET, Ordering::SeqCst);
        } else {
            // Set, but never over a state owed to a woken waiter: stored over it, a reset
            // right after would take both sets' signal (the two sets are one, as two sets
            // before a waiter runs are, and the owed one stays). Set already, the same.
            // (A compare-and-swap lost to a take is tried again; the state cannot flip
            // between set and not set for ever but by another process's writes.)
            let mut now = state.load(Ordering::SeqCst);
            for _ in 0..STATE_TRIES {
                if now == OWED || now == SET {
                    break;
                }
                match state.compare_exchange(now, SET, Ordering::SeqCst, Ordering::SeqCst) {
                    Ok(_) => break,
                    Err(changed) => now = changed,
                }
            }
        }
        sets.fetch_add(1, Ordering::SeqCst);
        if self.word(EVENT_WAITERS).load(Ordering::SeqCst) > 0 {
            let n = if self.event_is_manual() {
                i32::MAX as u32
            } else {
                1
            };
            futex_wake(sets, n);
        }
    }

    /// For a waiter on the state whose sleep a set ended (its wake reported for this
    /// event), and that takes something else (a wait on many objects) or nothing (a
    /// `wait_all` whose other objects are not ready): a state owed to it goes on, with a
    /// wake, to another sleeper on the state (`true`: done). With none asleep it is
    /// disowned, back to the plain state a reset takes, as Windows' reset takes a signal
    /// no waiter took (`false`: the caller passes the plain state on, to the slots).
    pub(crate) fn event_pass_owed(&self) -> bool {
        let state = self.word(EVENT_STATE);
        if state.load(Ordering::SeqCst) != OWED {
            return false;
        }
        if futex_wake_one(self.word(EVENT_SETS)) {
            return true;
        }
        let _ = state.compare_exchange(OWED, SET, Ordering::SeqCst, Ordering::SeqCst);
        false
    }

    /// Resets the event: a state [`OWED`] to a waiter a set woke stays (as Windows' reset
    /// takes nothing from a waiter its set released); any other goes.
    pub(crate) fn event_reset(&self) {
        let state = self.word(EVENT_STATE);
        if self.event_is_manual() {
            // (Never owed: any state, scribbled or not, goes.)
            state.store(0, Ordering::SeqCst);
            return;
        }
        let now = state.load(Ordering::SeqCst);
        if now != OWED {
            // Failed only if the state changed since: to `OWED` (kept), or taken, or set by
            // a set that then came after this reset.
            let _ = state.compare_exchange(now, 0, Ordering::SeqCst, Ordering::SeqCst);
        }
    }

    /// The event's count of sets now, for a wait about to begin.
    pub(crate) fn event_mark(&self) -> EventMark {
        EventMark(self.word(EVENT_SETS).load(Ordering::SeqCst))
    }

    /// Whether the event is set now, taking the signal if it resets itself; a manual-reset
    /// event also counts as set if it was set since `since` (and reset again).
    pub(super) fn event_take_now(&self, manual: bool, since: Option<EventMark>) -> bool {
        let state = self.word(EVENT_STATE);
        if manual {
            // (Never owed: a state of `OWED` is another process's write, read as set, as
            // `event_is_set` reads it, which a wait on many objects looks at first: were
            // the two to differ, that wait would find it ready, take nothing, and look
            // again at once, without end.)
            matches!(state.load(Ordering::SeqCst), SET | OWED)
                || since
                    .is_some_and(|EventMark(at)| self.word(EVENT_SETS).load(Ordering::SeqCst) != at)
        } else {
            let mut now = state.load(Ordering::SeqCst);
            for _ in 0..STATE_TRIES {
                if !matches!(now, SET | OWED) {
                    return false;
                }
                match state.compare_exchange(now, 0, Ordering::SeqCst, Ordering::SeqCst) {
                    Ok(_) => return true,
                    Err(changed) => now = changed,
                }
            }
            false
        }
    }

    /// Whether the event is set now (taking nothing).
    pub(super) fn event_is_set(&self) -> bool {
        matches!(self.word(EVENT_STATE).load(Ordering::SeqCst), SET | OWED)
    }

    /// Waits until the event is set (and, for auto-reset events, takes the signal); a
    /// manual-reset one set (and reset) since the wait began counts.
    pub(crate) fn event_wait(&self, timeout: Option<Duration>) -> bool {
        if self.event_is_manual() {
            self.event_wait_state(timeout)
        } else {
            self.event_wait_auto(timeout)
        }
    }

    /// Waits on the state (and the count of sets), as every wait did before hand-offs.
    pub(super) fn event_wait_state(&self, timeout: Option<Duration>) -> bool {
        let manual = self.event_is_manual();
        let since = self.event_mark();
        wait_until(
            self,
            self.event_words(),
            SleepWhile::Unchanged,
            timeout,
            || self.event_take_now(manual, Some(since)),
        )
    }

    /// The event's state (word 0).
    pub(super) fn event_state_word(&self) -> &AtomicU32 {
        self.word(EVENT_STATE)
    }

    /// How many waiters on the state (word 1) sleep now.
    pub(super) fn event_state_sleepers(&self) -> u32 {
        self.word(EVENT_WAITERS).load(Ordering::SeqCst)
    }

    /// The word to sleep on for the event (its count of sets) and its count of sleepers.
    pub(super) fn event_words(&self) -> (&AtomicU32, &AtomicU32) {
        (self.word(EVENT_SETS), self.word(EVENT_WAITERS))
    }
}

// Semaphore words: 0 count, 1 sleeping waiters, 2 maximum.
const SEM_COUNT: usize = 0;
const SEM_WAITERS: usize = 1;
const SEM_MAX: usize = 2;
/// How many compare-and-swaps on a semaphore's count one take tries (then it sleeps on the
/// count and tries again, by its deadline), or a release tries before it yields: another
/// process rewriting the count cannot keep a call looping (the mutex's and the event's
/// loops are bounded so too).
const COUNT_TRIES: u32 = 64;
/// How long a release tries, yielding between rounds of [`COUNT_TRIES`], while the count
/// keeps changing under it: takers and releasers that follow the protocol, however many,
/// let one through long before.
const RELEASE_PATIENCE: Duration = Duration::from_secs(1);

pub(crate) fn init_semaphore(initial: u32, max: u32) -> impl Fn(*mut u8) -> Result<()> {
    move |at| {
        // SAFETY: `at` is the SYNC_AREA of a new entry nobody else can see yet.
        unsafe {
            let words = at.cast::<u32>();
            words.add(SEM_COUNT).write(initial);
            words.add(SEM_WAITERS).write(0);
            words.add(SEM_MAX).write(max);
        }
        Ok(())
    }
}

impl SyncMemory {
    pub(crate) fn semaphore_max(&self) -> u32 {
        self.word(SEM_MAX).load(Ordering::Relaxed)
    }

    /// Adds `n` to the count: `Ok(Ok(previous))`, or `Ok(Err(count))` if that would pass
    /// the maximum. Every compare-and-swap that fails does so because another take or
    /// release got through; after [`COUNT_TRIES`] in a row it yields, and tries on for up
    /// to [`RELEASE_PATIENCE`]: then `Err(Corrupt)` (only a process that keeps rewriting
    /// the count holds a release up that long; nothing is released).
    pub(crate) fn semaphore_release(&self, n: u32) -> Result<std::result::Result<u32, u32>> {
        let count = self.word(SEM_COUNT);
        let max = self.semaphore_max();
        let mut current = count.load(Ordering::SeqCst);
        let mut began: Option<Instant> = None;
        loop {
            for _ in 0..COUNT_TRIES {
                let next = match current.checked_add(n) {
                    Some(next) if next <= max => next,
                    _ => return Ok(Err(current)),
                };
                match count.compare_exchange(current, next, Ordering::SeqCst, Ordering::SeqCst) {
                    Ok(_) => {
                        if self.word(SEM_WAITERS).load(Ordering::SeqCst) > 0 {
                            futex_wake(count, n);
                        }
                        return Ok(Ok(current));
                    }
                    Err(now) => current = now,
                }
            }
            let began = *began.get_or_insert_with(Instant::now);
            if began.elapsed() >= RELEASE_PATIENCE {
                return Err(Error::Corrupt {
                    name: self.name.to_string(),
                    problem: format!(
                        "its count changed under every try to release for {RELEASE_PATIENCE:?} \
                         (another process keeps writing it); nothing was released"
                    ),
                });
            }
            std::thread::yield_now();
            current = count.load(Ordering::SeqCst);
        }
    }

    /// Takes one unit if there is one now. After [`COUNT_TRIES`] compare-and-swaps that
    /// lost to a changed count, `false`: a waiter then sleeps on the count and tries again
    /// (by its deadline), rather than loop for as long as another process writes it.
    pub(super) fn semaphore_take_now(&self) -> bool {
        let count = self.word(SEM_COUNT);
        let mut c = count.load(Ordering::SeqCst);
        for _ in 0..COUNT_TRIES {
            if c == 0 {
                return false;
            }
            match count.compare_exchange(c, c - 1, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return true,
                Err(now) => c = now,
            }
        }
        false
    }

    /// Takes one unit; `false` if the timeout passed first.
    pub(crate) fn semaphore_acquire(&self, timeout: Option<Duration>) -> bool {
        wait_until(
            self,
            self.semaphore_words(),
            SleepWhile::Zero,
            timeout,
            || self.semaphore_take_now(),
        )
    }

    /// The semaphore's count word (to sleep on) and its count of sleepers.
    pub(super) fn semaphore_words(&self) -> (&AtomicU32, &AtomicU32) {
        (self.word(SEM_COUNT), self.word(SEM_WAITERS))
    }

    pub(crate) fn semaphore_count(&self) -> u32 {
        self.word(SEM_COUNT).load(Ordering::SeqCst)
    }
}

/// A named mutex, optionally with the user's data after it (shared mutexes): words 0 and 1
/// of the data area are the mutex (`mutex.rs`).
#[derive(Debug)]
pub(crate) struct MutexObject {
    pub(super) memory: SyncMemory,
    pub(super) owner: Owner,
}

impl MutexObject {
    /// Creates the mutex entry; `init_data` fills the user's data (after `SYNC_AREA`).
    pub(crate) fn create(
        name: &Name,
        header: &Header,
        mode: CreateMode,
        init_data: &dyn Fn(*mut u8),
    ) -> Result<(MutexObject, Header, Disposition)> {
        let init = |at: *mut u8| {
            // SAFETY: the data area is SYNC_AREA (>= 8) writable, page-aligned bytes plus
            // the user's value, in an entry no other process can open yet.
            unsafe {
                mutex::init(at.cast());
                init_data(at.add(SYNC_AREA));
            }
            Ok(())
        };
        let (memory, header, disposition) = create_sync(name, header, mode, &init)?;
        let object = MutexObject::with(memory, name)?;
        Ok((object, header, disposition))
    }

    /// Opens the mutex (or shared value) `name`, which must be of kind `expected`.
    pub(crate) fn open(name: &Name, expected: Kind) -> Result<(MutexObject, Header)> {
        let (memory, header) = open_sync(name, expected)?;
        Ok((MutexObject::with(memory, name)?, header))
    }

    /// The object over an opened (or just created) entry of its kind: its layout checked,
    /// a token of this handle's own chosen.
    fn with(memory: SyncMemory, name: &Name) -> Result<MutexObject> {
        mutex::check_layout(memory.word(1).load(Ordering::Relaxed), name)?;
        let owner = Owner::new(memory.entry.fd(), memory.word(0), name)?;
        Ok(MutexObject { memory, owner })
    }

    /// Locks the mutex; `None` on timeout (or, with a zero timeout, if a live owner holds
    /// it).
    #[inline]
    pub(crate) fn lock(&self, timeout: Option<Duration>, _name: &Name) -> Result<Option<Locked>> {
        if !self.owner.is_this_process() {
            return Err(Error::Unsupported {
                what: "locking a mutex through a handle inherited by fork: open it again",
            });
        }
        let locked = mutex::lock(
            self.memory.word(0),
            self.memory.entry.fd(),
            &self.owner,
            timeout,
        );
        if let Err(lost) = self.memory.intact() {
            if locked.is_some() {
                self.unlock();
            }
            return Err(lost);
        }
        Ok(locked)
    }

    /// Whether this is a copy of another process's handle, made by `fork`: it locks and
    /// unlocks nothing, and a copy of a guard of it is no lock of this process's.
    #[inline]
    pub(crate) fn inherited(&self) -> bool {
        !self.owner.is_this_process()
    }

    /// Whether no live handle anywhere holds the mutex (it is free, or its owner's handle
    /// is gone): a thread's record of holding it is then stale (a guard leaked with
    /// `mem::forget`, and its handle dropped since, which let the lock go).
    pub(crate) fn held_by_no_live_handle(&self) -> bool {
        mutex::looks_free(self.memory.word(0), self.memory.entry.fd(), true)
    }

    /// Unlocks the mutex, which this handle's thread holds (only the guard calls it).
    /// A child made by `fork` that drops a copy of its parent's guard unlocks nothing.
    #[inline]
    pub(crate) fn unlock(&self) {
        if self.owner.is_this_process() {
            mutex::unlock(self.memory.word(0))
        }
    }

    /// [`unlock`](MutexObject::unlock) for a caller that found the handle not
    /// [`inherited`](MutexObject::inherited) already (a guard's drop: one check, not two).
    #[inline]
    pub(crate) fn unlock_here(&self) {
        mutex::unlock(self.memory.word(0))
    }

    /// Unlocks the mutex this thread holds, leaving it abandoned: the next locker takes it
    /// over and is told so (for a guard dropped as its thread unwinds from a panic).
    pub(crate) fn release_abandoned(&self) {
        self.abandon_for_exiting_thread();
    }

    /// Leaves the mutex abandoned, for a thread that exits holding it through this handle
    /// (without a guard): the next locker takes it over and is told so, as on Windows.
    pub(crate) fn abandon_for_exiting_thread(&self) {
        if self.owner.is_this_process() {
            mutex::abandon(self.memory.word(0), &self.owner)
        }
    }

    #[inline]
    pub(crate) fn data(&self) -> *mut u8 {
        self.memory.data()
    }

    /// Whether the entry is now shorter than the mutex's data area.
    pub(crate) fn truncated(&self) -> bool {
        self.memory.truncated()
    }

    /// `Error::PageFault` if the object's memory was lost (its entry cut short).
    #[inline]
    pub(crate) fn intact(&self) -> Result<()> {
        self.memory.intact()
    }

    #[inline]
    pub(crate) fn identity(&self) -> u64 {
        self.memory.identity()
    }

    /// A handle that keeps the object alive in another process.
    pub(crate) fn handoff(&self) -> Result<super::OsHandle> {
        self.memory.entry.handoff()
    }

    /// The object's entry (for `inherit`).
    pub(crate) fn entry(&self) -> Option<&Entry> {
        Some(&self.memory.entry)
    }
}

/// A named event (manual or auto reset).
#[derive(Debug)]
pub(crate) struct EventObject {
    pub(super) memory: SyncMemory,
}

impl EventObject {
    /// Identifies the object (its entry's device and inode) within this process.
    #[inline]
    pub(crate) fn identity(&self) -> u64 {
        self.memory.identity()
    }

    pub(crate) fn create(
        name: &Name,
        header: &Header,
        mode: CreateMode,
        manual: bool,
        signalled: bool,
    ) -> Result<(EventObject, Header, Disposition)> {
        let init = init_event(manual, signalled);
        let (memory, header, disposition) = create_sync(name, header, mode, &init)?;
        Ok((EventObject { memory }, header, disposition))
    }

    pub(crate) fn open(name: &Name) -> Result<(EventObject, Header)> {
        let (memory, header) = open_sync(name, Kind::Event)?;
        Ok((EventObject { memory }, header))
    }

    pub(crate) fn set(&self) -> Result<()> {
        self.memory.event_set();
        self.memory.intact()
    }

    pub(crate) fn reset(&self) -> Result<()> {
        self.memory.event_reset();
        self.memory.intact()
    }

    pub(crate) fn wait(&self, timeout: Option<Duration>) -> Result<bool> {
        let signalled = self.memory.event_wait(timeout);
        self.memory.intact()?;
        Ok(signalled)
    }

    /// Whether the event is manual-reset, if the system says.
    pub(crate) fn is_manual(&self) -> Option<bool> {
        let manual = self.memory.event_is_manual();
        // Not from the zeros that replaced lost memory.
        self.memory.lost().is_none().then_some(manual)
    }
}

/// A named semaphore with a maximum count.
#[derive(Debug)]
pub(crate) struct SemaphoreObject {
    pub(super) memory: SyncMemory,
}

impl SemaphoreObject {
    /// Identifies the object (its entry's device and inode) within this process.
    #[inline]
    pub(crate) fn identity(&self) -> u64 {
        self.memory.identity()
    }

    pub(crate) fn create(
        name: &Name,
        header: &Header,
        mode: CreateMode,
        initial: u32,
        max: u32,
    ) -> Result<(SemaphoreObject, Header, Disposition)> {
        let init = init_semaphore(initial, max);
        let (memory, header, disposition) = create_sync(name, header, mode, &init)?;
        Ok((SemaphoreObject { memory }, header, disposition))
    }

    pub(crate) fn open(name: &Name) -> Result<(SemaphoreObject, Header)> {
        let (memory, header) = open_sync(name, Kind::Semaphore)?;
        Ok((SemaphoreObject { memory }, header))
    }

    /// Adds `n`; `Ok(Err(max))` if that would pass the maximum.
    pub(crate) fn release(&self, n: u32) -> Result<std::result::Result<u32, Option<u32>>> {
        let released = self
            .memory
            .semaphore_release(n)?
            .map_err(|_| Some(self.memory.semaphore_max()));
        self.memory.intact()?;
        Ok(released)
    }

    pub(crate) fn acquire(&self, timeout: Option<Duration>) -> Result<bool> {
        let acquired = self.memory.semaphore_acquire(timeout);
        self.memory.intact()?;
        Ok(acquired)
    }

    /// The current count, if the system says.
    pub(crate) fn count(&self) -> Option<u32> {
        let count = self.memory.semaphore_count();
        self.memory.lost().is_none().then_some(count)
    }

    pub(crate) fn max(&self) -> Option<u32> {
        let max = self.memory.semaphore_max();
        self.memory.lost().is_none().then_some(max)
    }
}

/// An endpoint's claim on its role: a liveness lock on its byte of the entry.
pub(crate) type EndpointLock = LivenessLock;

impl SyncMemory {
    /// Takes endpoint `byte`'s lock; `None` if a live endpoint holds it.
    pub(crate) fn lock_endpoint(&self, byte: u8) -> Result<Option<EndpointLock>> {
        LivenessLock::take(self.entry.fd(), u64::from(byte))
    }

    /// Whether some process holds endpoint `byte`'s lock.
    pub(crate) fn endpoint_alive(&self, byte: u8) -> bool {
        liveness::is_held(self.entry.fd(), u64::from(byte))
    }
}

/// A channel entry: its data area mapped, and the endpoint locks.
pub(crate) type ChannelMemory = SyncMemory;

impl SyncMemory {
    /// Whether the entry has lost its name (removed while open: the name may now be
    /// another object's). A failed look says no.
    pub(crate) fn name_removed(&self) -> bool {
        rustix::fs::fstat(self.entry.fd()).is_ok_and(|st| st.st_nlink == 0)
    }
}
