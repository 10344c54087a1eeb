//! The process's waiter threads, which sleep for the async waits (`crate::wait::future`):
//! each sleeps in one `futex_waitv` over the words of up to [`PER_THREAD`] pending
//! futures plus a private word of its own, and wakes a future's waker when its word
//! changes. A new thread starts when every thread has its fill; none ever ends (they are
//! few, and asleep when idle: a thread with no future to look at sleeps without a tick).
//!
//! - A future readies its sleep first (it counts itself where the object's waker looks and
//!   notes its word's value, `waits::arm`), looks at the object again, and only then
//!   registers here. The thread's `futex_waitv` compares every word with the value noted:
//!   a waker that changed the object after the future's look changed its word, so the
//!   kernel returns at once (`EAGAIN`) or the wake reaches the thread. No wake-up is lost.
//! - A registration, and a registration's end, change the thread's private word and wake
//!   it, so that it sleeps again over the new set. Every [`TICK`] the thread wakes every
//!   future anyway, keeping its registration: a future looks again then, to find a dead
//!   mutex owner or peer, as a blocking waiter does, and sleeps on as it was (no
//!   registration ends or comes, so the set stays as it is). A future not polled between
//!   two ticks (a leaked one) has its registration fired instead, so that its entry does
//!   not stay for ever.
//! - The thread never reads the words itself, only hands their addresses to the kernel:
//!   a future that was leaked (so never deregistered) cannot make it touch memory that is
//!   gone. The kernel says which word woke it; after `EAGAIN` (some word had changed
//!   already) it asks the kernel about each word alone, with a deadline already past.
//! - Wakes that wake one sleeper (a semaphore's release, an auto-reset event's set, a
//!   mutex's unlock) must reach a sleeper that will take what it was woken for. So a wake
//!   the thread takes for a future that is gone, and a future dropped after a wake and
//!   before it took what woke it, pass the wake on (`FUTEX_WAKE` of one sleeper); so does
//!   a future dropped unwoken whose word changed since it was armed (two words woken at
//!   once: `futex_waitv` names one, and the other's wake, spent on the thread, shows only
//!   when the thread next sleeps).
//! - Wakers are dropped, and woken, outside the thread's lock: a waker's drop may drop a
//!   task that holds another registration of the same thread. A waker that panics (the
//!   executor's code, run on this thread) is caught: the thread goes on for the others.
//! - A child made by `fork` has none of its parent's threads: its first registration
//!   starts a set of threads of its own (the parent's set, whose locks the fork may have
//!   copied held, is left alone).

use std::sync::atomic::{AtomicPtr, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use std::time::{Duration, Instant};

use rustix::thread::futex;

use super::waits::WaitTarget;
use crate::sys::waker_slot::{WakerSlot, wake};

/// The most futures one thread sleeps for (`futex_waitv` takes 128 words; one is the
/// thread's own).
const PER_THREAD: usize = 127;

/// How often the threads wake every future to look again.
const TICK: Duration = Duration::from_millis(100);

/// How long the thread naps when `futex_waitv` fails (never spinning on an error).
const POLL: Duration = Duration::from_millis(1);

/// Why a registration was fired (its future woken and its entry removed): not yet; the
/// future is to look again and register afresh (the thread's wait failed, or the future
/// was not polled between two ticks: a leaked one's entry goes so); its word changed.
const NOT_FIRED: u8 = 0;
const LOOK_AGAIN: u8 = 1;
const CHANGED: u8 = 2;

/// One pending future as its thread sees it.
struct Entry {
    id: u64,
    target: WaitTarget,
    slot: WakerSlot,
    fired: Arc<AtomicU8>,
}

/// One waiter thread's futures, and its private word (changed on every registration and
/// every end of one).
struct Shard {
    entries: Mutex<Vec<Entry>>,
    control: AtomicU32,
}

impl Shard {
    fn lock(&self) -> MutexGuard<'_, Vec<Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tells the thread to sleep again over its (changed) set.
    fn nudge(&self) {
        self.control.fetch_add(1, Ordering::Release);
        let _ = futex::wake(&self.control, futex::Flags::PRIVATE, 1);
    }
}

impl std::fmt::Debug for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shard")
    }
}

/// The threads' shards of one process: made once per process, never freed (the threads
/// use them for good).
struct Shards {
    list: Mutex<Vec<&'static Shard>>,
}

/// This process's shards (null until the first registration, and in a child made by
/// `fork` until its own first one).
static SHARDS: AtomicPtr<Shards> = AtomicPtr::new(std::ptr::null_mut());

/// In a child made by `fork`: its parent's threads are not its own (and their locks may
/// have been copied held), so its first registration makes a set of its own.
extern "C" fn forget_parents_shards() {
    SHARDS.store(std::ptr::null_mut(), Ordering::Relaxed);
}

/// This process's shards.
fn shards() -> &'static Mutex<Vec<&'static Shard>> {
    // Registered, then said so (not a `Once`, which a `fork` by another thread during
    // the registration would leave running for ever in the child; two threads racing
    // both register it, which only forgets the shards twice).
    static AT_FORK: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !AT_FORK.load(Ordering::Acquire) {
        // SAFETY: registers a handler that a forked child runs, which only stores to an
        // atomic (async-signal-safe, as a child of a threaded process needs).
        if unsafe { libc::pthread_atfork(None, None, Some(forget_parents_shards)) } == 0 {
            AT_FORK.store(true, Ordering::Release);
        }
    }
    let current = SHARDS.load(Ordering::Acquire);
    // SAFETY: a pointer stored there comes from `Box::leak`, and is never freed.
    if let Some(shards) = unsafe { current.as_ref() } {
        return &shards.list;
    }
    let fresh: &'static Shards = Box::leak(Box::new(Shards {
        list: Mutex::new(Vec::new()),
    }));
    let fresh_ptr = fresh as *const Shards as *mut Shards;
    match SHARDS.compare_exchange(current, fresh_ptr, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => &fresh.list,
        // Another thread of this process made them first: `fresh` stays unused.
        // SAFETY: as above.
        Err(theirs) => unsafe { &(*theirs).list },
    }
}

/// A future's place with a waiter thread: removed when dropped.
#[derive(Debug)]
pub(crate) struct Registration {
    shard: &'static Shard,
    id: u64,
    target: WaitTarget,
    fired: Arc<AtomicU8>,
    /// Set when the future took what it waited for, or looks again itself (no wake-up to
    /// pass on).
    done: bool,
    /// The fork generation of the process that registered (see `made_here`).
    generation: u64,
}

/// Registers a readied sleep: `waker` is woken once the target's word changes (or at the
/// next tick).
///
/// # Safety
/// The registration must not outlive the object the target was readied on: its drop may
/// wake a sleeper on the target's word, which must still be mapped then (a future that
/// borrows the object and owns the registration guarantees it).
pub(crate) unsafe fn register(target: WaitTarget, waker: &Waker) -> std::io::Result<Registration> {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let fired = Arc::new(AtomicU8::new(NOT_FIRED));
    let entry = Entry {
        id,
        target,
        slot: WakerSlot::new(waker),
        fired: fired.clone(),
    };
    let shard = place(entry)?;
    shard.nudge();
    Ok(Registration {
        shard,
        id,
        target,
        fired,
        done: false,
        generation: super::watched_fork_generation(),
    })
}

/// Puts the entry with a thread that has room, starting one if none has.
fn place(entry: Entry) -> std::io::Result<&'static Shard> {
    let mut all = shards().lock().unwrap_or_else(|p| p.into_inner());
    for shard in all.iter() {
        let mut entries = shard.lock();
        if entries.len() < PER_THREAD {
            entries.push(entry);
            return Ok(shard);
        }
    }
    let leaked: *mut Shard = Box::into_raw(Box::new(Shard {
        entries: Mutex::new(vec![entry]),
        control: AtomicU32::new(0),
    }));
    // SAFETY: from `Box::into_raw`: valid, and never freed once the thread has started.
    let shard: &'static Shard = unsafe { &*leaked };
    if let Err(e) = std::thread::Builder::new()
        .name("filemap-waiter".into())
        .spawn(move || run(shard))
    {
        // SAFETY: `leaked` came from `Box::into_raw` above, and the thread that was to use
        // it never started (its closure, the only other holder of a reference, is gone):
        // nothing refers to it any more. Freed through the pointer the box gave (not one
        // made from the shared reference, which may not write), with the entry (its
        // waker, its handle).
        drop(unsafe { Box::from_raw(leaked) });
        return Err(e);
    }
    all.push(shard);
    Ok(shard)
}

impl Registration {
    /// Whether this process made the registration: not so a copy of it in a child made by
    /// `fork`, whose drop then touches nothing (the parent's threads and their locks are
    /// not the child's, nor is the wake-up the parent's future may pass on).
    pub(crate) fn made_here(&self) -> bool {
        self.generation == super::fork_generation()
    }

    /// Whether the thread woke the future for this registration and ended it (its word
    /// changed, the thread's wait failed, or the future was not polled between two ticks):
    /// the future looks again and registers afresh. A tick wakes a future polled since the
    /// last one without firing its registration.
    pub(crate) fn fired(&self) -> bool {
        self.fired.load(Ordering::Acquire) != NOT_FIRED
    }

    /// Notes that the future was polled and kept its registration, and replaces the waker
    /// if it is now polled with another; `false` if the thread fired the registration
    /// meanwhile (the caller must look again: the new waker was not woken).
    pub(crate) fn set_waker(&self, waker: &Waker) -> bool {
        let old = match self.shard.lock().iter_mut().find(|e| e.id == self.id) {
            None => return false,
            Some(entry) => entry.slot.polled_with(waker),
        };
        drop(old);
        true
    }

    /// Ends the registration: the future took what it waited for, or looks again itself.
    pub(crate) fn complete(mut self) {
        self.done = true;
    }

    /// What the thread took for the future: nothing on Linux (the future takes it).
    pub(crate) fn claim(&self) -> Option<crate::sys::Took> {
        None
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if !self.made_here() {
            return;
        }
        let removed = {
            let mut entries = self.shard.lock();
            entries
                .iter()
                .position(|e| e.id == self.id)
                .map(|i| entries.swap_remove(i))
        };
        if removed.is_some() {
            // The thread still sleeps on this word: let it drop it from its set.
            self.shard.nudge();
        }
        drop(removed);
        if self.done {
            return;
        }
        // SAFETY: `register`'s contract: the object, and so its word, is still mapped.
        let word = unsafe { self.target.word() };
        let woken = match self.fired.load(Ordering::Acquire) {
            // Woken by a change, and going away without taking what woke it.
            CHANGED => true,
            // Not woken for a change (or told to look again at a tick), but the word
            // changed since it was armed: a wake of one sleeper may have reached the
            // thread for this word all the same (`futex_waitv` names one word that woke
            // it, and a second wake landing before the thread left the kernel's queues
            // counts as delivered), and the thread had not yet looked again.
            _ => word.load(Ordering::Relaxed) != self.target.parts().1,
        };
        if woken {
            // Passed on to another sleeper of the object (at worst one wakes for nothing).
            let _ = futex::wake(word, futex::Flags::empty(), 1);
        }
    }
}

/// A waiter thread: sleeps over its shard's words until one changes, wakes that future.
fn run(shard: &'static Shard) {
    let mut waits: Vec<futex::Wait> = Vec::with_capacity(PER_THREAD + 1);
    // Each entry's id and word address (the address only for the kernel).
    let mut slept_on: Vec<(u64, *const AtomicU32)> = Vec::with_capacity(PER_THREAD);
    let mut last_tick = Instant::now();
    loop {
        waits.clear();
        slept_on.clear();
        let control = shard.control.load(Ordering::Acquire);
        waits.push(wait_for(&shard.control, control, futex::WaitFlags::PRIVATE));
        for entry in shard.lock().iter() {
            let (word, expected) = entry.target.parts();
            waits.push(wait_for(word, expected, futex::WaitFlags::empty()));
            slept_on.push((entry.id, word));
        }
        // With no future to look at, no tick: asleep until a registration's nudge.
        let idle = slept_on.is_empty();
        let deadline =
            (!idle).then(|| super::waits::deadline_in(TICK.saturating_sub(last_tick.elapsed())));
        let result = futex::waitv(
            &waits,
            futex::WaitvFlags::empty(),
            deadline.as_ref(),
            rustix::time::ClockId::Monotonic,
        );
        if idle {
            // The ticks count from the first registration after the idle sleep.
            last_tick = Instant::now();
        }
        let ids = || slept_on.iter().map(|e| e.0).collect::<Vec<u64>>();
        let changed: Vec<u64> = match result {
            // The thread's own word: the set changed.
            Ok(0) => Vec::new(),
            Ok(i) => vec![slept_on[i - 1].0],
            Err(rustix::io::Errno::TIMEDOUT) => Vec::new(),
            // The thread's own word changed (a registration came or went): sleep again
            // over the new set (a future's word that changed too is found then). So too for
            // a word no longer mapped once the set changed: a future ended, and its object
            // went, between the set's rebuild and the sleep (EFAULT), which is no reason to
            // wake every other future.
            Err(rustix::io::Errno::AGAIN | rustix::io::Errno::FAULT)
                if shard.control.load(Ordering::Acquire) != control =>
            {
                Vec::new()
            }
            // Some future's word had changed already: which ones?
            Err(rustix::io::Errno::AGAIN) => slept_on
                .iter()
                .zip(&waits[1..])
                .filter(|(_, w)| changed_now(w))
                .map(|(e, _)| e.0)
                .collect(),
            Err(rustix::io::Errno::INTR) => Vec::new(),
            // A kernel older than 5.16 (ENOSYS), a filter that forbids the call (EPERM),
            // a word no longer mapped (EFAULT: a leaked future's): look again in a
            // moment, waking every future (each registers afresh, the leaked one not).
            Err(_) => {
                if slept_on.is_empty() {
                    // Nothing to look at: until a registration comes (its nudge wakes
                    // this sleep, as it would `futex_waitv`'s), without a tick.
                    let _ = futex::wait(&shard.control, futex::Flags::PRIVATE, control, None);
                    last_tick = Instant::now();
                } else {
                    std::thread::sleep(POLL);
                }
                fire(shard, &ids(), LOOK_AGAIN, &slept_on);
                continue;
            }
        };
        if shard.control.load(Ordering::Acquire) != control {
            pass_on_for_the_gone(shard, &slept_on);
        }
        fire(shard, &changed, CHANGED, &slept_on);
        if last_tick.elapsed() >= TICK {
            last_tick = Instant::now();
            tick(shard);
        }
    }
}

/// Passes a wake on for each word this thread slept on for a future that went from the
/// set meanwhile (dropped, or done on its own). Until this thread left the kernel's queues
/// its wait on that word was still there, and a wake of one sleeper that came then (a
/// semaphore's release, an unlock, an auto-reset event's set) was counted as delivered to
/// it; the future, gone, took nothing (its drop passes a wake on only for a change it saw,
/// and it looked before this one came), and `futex_waitv` names one word woken, if any:
/// the object's other sleepers would wait for their next look. By address (the object may
/// be gone: the kernel then says EFAULT), at worst a wake for nothing (its sleeper looks
/// and sleeps again).
fn pass_on_for_the_gone(shard: &Shard, slept_on: &[(u64, *const AtomicU32)]) {
    let gone: Vec<*const AtomicU32> = {
        let entries = shard.lock();
        slept_on
            .iter()
            .filter(|(id, _)| !entries.iter().any(|e| e.id == *id))
            .map(|&(_, word)| word)
            .collect()
    };
    for word in gone {
        pass_on(word);
    }
}

/// Wakes and removes the futures with these ids, saying why (`LOOK_AGAIN`, `CHANGED`). A
/// change found for a future that is gone meanwhile is passed on to another sleeper of
/// its word.
fn fire(shard: &Shard, ids: &[u64], why: u8, slept_on: &[(u64, *const AtomicU32)]) {
    if ids.is_empty() {
        return;
    }
    let mut woken = Vec::with_capacity(ids.len());
    {
        let mut entries = shard.lock();
        let mut i = 0;
        while i < entries.len() {
            if ids.contains(&entries[i].id) {
                let entry = entries.swap_remove(i);
                entry.fired.store(why, Ordering::Release);
                woken.push(entry);
            } else {
                i += 1;
            }
        }
    }
    if why == CHANGED {
        for &(id, word) in slept_on {
            if ids.contains(&id) && !woken.iter().any(|e| e.id == id) {
                pass_on(word);
            }
        }
    }
    for entry in woken {
        wake(entry.slot.waker);
    }
}

/// Wakes every future of the thread, keeping the registrations of those polled since the
/// last tick; the others' are fired (`LOOK_AGAIN`): a future that was leaked (never to be
/// polled or dropped) holds its entry, and the wake-ups of its word it would take, for one
/// tick at most.
fn tick(shard: &Shard) {
    let (mut kept, mut unpolled) = (Vec::new(), Vec::new());
    for entry in shard.lock().iter_mut() {
        // (A waker whose copy panicked is fired instead: firing wakes the future with the
        // waker itself, moved out.)
        match entry.slot.tick().then(|| entry.slot.copy()).flatten() {
            Some(waker) => kept.push(waker),
            None => unpolled.push(entry.id),
        }
    }
    fire(shard, &unpolled, LOOK_AGAIN, &[]);
    for waker in kept {
        wake(waker);
    }
}

/// Wakes one sleeper of `word`, by address only: the word may be gone (the kernel then
/// says EFAULT), and it is never read here.
fn pass_on(word: *const AtomicU32) {
    // SAFETY: FUTEX_WAKE reads nothing at the address from this process: the kernel looks
    // the address up (failing with EFAULT if it is not mapped) and wakes at most one
    // sleeper queued on it.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word,
            libc::FUTEX_WAKE,
            1,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0,
        );
    }
}

fn wait_for(word: *const AtomicU32, expected: u32, flags: futex::WaitFlags) -> futex::Wait {
    let mut wait = futex::Wait::new();
    wait.val = u64::from(expected);
    wait.uaddr = futex::WaitPtr::new(word.cast_mut().cast());
    wait.flags = futex::WaitFlags::SIZE_U32 | flags;
    wait
}

/// Whether the word of `wait` no longer holds its value, asked of the kernel (a
/// `futex_waitv` on it alone whose deadline has passed: `EAGAIN` if it changed).
fn changed_now(wait: &futex::Wait) -> bool {
    let past = rustix::time::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    !matches!(
        futex::waitv(
            std::slice::from_ref(wait),
            futex::WaitvFlags::empty(),
            Some(&past),
            rustix::time::ClockId::Monotonic,
        ),
        Err(rustix::io::Errno::TIMEDOUT)
    )
}
