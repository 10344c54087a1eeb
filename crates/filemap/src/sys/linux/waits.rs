//! Waiting on many objects at once (`crate::wait`), Linux: every object is a word in
//! shared memory, so one `futex_waitv` sleeps on all of them and wakes when any changes.
//!
//! - A sleep is readied first (`arm`): the sleeper counts itself where the object's waker
//!   looks (an event's or semaphore's sleeper count, a mutex's waiters bit, a doorbell's
//!   sleepers) and notes the word's value; the caller then looks at every object again,
//!   and only then sleeps. A waker that changed an object after the look changed its word
//!   too, so the kernel (which compares each word with the value noted) returns at once:
//!   no wake-up is lost.
//! - `futex_waitv` takes at most [`MAX_SLEEP_TARGETS`] words and needs Linux 5.16. Past
//!   that many objects, the sleep covers the first ones and lasts at most a millisecond,
//!   so the rest are looked at every millisecond; on an older kernel (or where a filter
//!   forbids the call), the waiter naps a millisecond at a time and looks again.
//! - Taking several objects at once (`take_all`) takes them only when all look ready, and
//!   gives back what it took if one was gone by the time it got there: it never holds some
//!   while it waits for the others. The giving back is seen by others in one narrow case
//!   each: an auto-reset event reset between the take and the give-back is set again, and
//!   a semaphore released up to its maximum meanwhile loses the unit given back (the
//!   release that filled it succeeded, where it would have failed with that unit there).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rustix::thread::futex;

use super::futex::RECHECK_INTERVAL;
use super::mutex;
use super::sync::{ChannelMemory, EventMark};
use crate::error::{Error, Result};
use crate::sys::{Doorbell, SyncRef, Took, Woke};

/// Whether a sleep on synchronisation objects alone lasts the whole wait: not here (a
/// futex word's sleeper looks again every [`RECHECK_INTERVAL`]: a woken waiter killed
/// before it took its signal, or a mutex owner that died, is seen so).
pub(crate) const SYNC_SLEEPS_WHOLE: bool = false;

/// The most words one `futex_waitv` sleeps on.
pub(crate) const MAX_SLEEP_TARGETS: usize = 128;

/// How long a sleep lasts at most when it cannot cover every object (more than
/// [`MAX_SLEEP_TARGETS`], or a kernel without `futex_waitv`).
const POLL_SLICE: Duration = Duration::from_millis(1);

/// Where a readied sleep sleeps: a word, and the value it held when the sleep was readied.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WaitTarget {
    word: *const AtomicU32,
    expected: u32,
}

// SAFETY: the address of a word in shared memory: handed to the kernel, or read by the
// holder of a registration whose contract keeps the word mapped (`waiter::register`).
unsafe impl Send for WaitTarget {}
// SAFETY: as above; a target is never written through.
unsafe impl Sync for WaitTarget {}

impl WaitTarget {
    fn new(word: &AtomicU32, expected: u32) -> WaitTarget {
        WaitTarget { word, expected }
    }

    /// The word's address and the value noted.
    pub(super) fn parts(&self) -> (*const AtomicU32, u32) {
        (self.word, self.expected)
    }

    /// The word.
    ///
    /// # Safety
    /// The object the target was readied on must still be open (its memory mapped).
    pub(super) unsafe fn word(&self) -> &AtomicU32 {
        // SAFETY: the caller's contract: mapped, and aligned as every atomic word is.
        unsafe { &*self.word }
    }
}

impl ChannelMemory {
    /// A sleep on a doorbell whose word held `expected` before its sleeper counted itself.
    pub(crate) fn bell_target(&self, bell: &Doorbell<'_>, expected: u32) -> WaitTarget {
        WaitTarget::new(bell.word, expected)
    }
}

/// Sleeps until one of the targets' words changes (or may have), or `timeout` passes.
pub(crate) fn sleep_on(targets: &[WaitTarget], timeout: Duration) -> Result<Woke> {
    static NO_WAITV: AtomicBool = AtomicBool::new(false);
    if targets.is_empty() {
        std::thread::sleep(timeout);
        return Ok(Woke::TimedOut);
    }
    if !NO_WAITV.load(Ordering::Relaxed) {
        let (covered, timeout) = if targets.len() > MAX_SLEEP_TARGETS {
            (&targets[..MAX_SLEEP_TARGETS], timeout.min(POLL_SLICE))
        } else {
            (targets, timeout)
        };
        match sleep_waitv(covered, timeout) {
            Ok(woken) => return Ok(Woke::Changed(Some(woken))),
            Err(rustix::io::Errno::TIMEDOUT) => return Ok(Woke::TimedOut),
            // A word that had changed already, or a signal; or a word whose page is gone
            // (EFAULT: a truncated entry, which the kernel's access reports rather than
            // raising SIGBUS): the caller's next look finds the memory lost.
            Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR | rustix::io::Errno::FAULT) => {
                return Ok(Woke::Changed(None));
            }
            // A kernel older than 5.16 (ENOSYS), or a filter that forbids the call (EPERM,
            // or the ENOSYS a seccomp filter gives): nap from now on, never spin.
            Err(rustix::io::Errno::NOSYS | rustix::io::Errno::PERM) => {
                NO_WAITV.store(true, Ordering::Relaxed)
            }
            // Anything else (ENOMEM, say) is this call's: nap this once.
            Err(_) => {}
        }
    }
    // Without futex_waitv: nap at most a millisecond, then the caller looks at every
    // object again.
    let slice = timeout.min(POLL_SLICE);
    std::thread::sleep(slice);
    Ok(if slice == timeout {
        Woke::TimedOut
    } else {
        Woke::Changed(None)
    })
}

/// After a sleep that ended on `object`'s word without the waiter taking it: if the
/// object is still ready, wakes one other sleeper on it (a semaphore's release, an
/// auto-reset event's set and a mutex's unlock wake one sleeper, which must be one that
/// takes what it was woken for). `reported`: the sleep was said to end on this object's
/// word (not only found changed): an auto-reset event's state owed to this waiter goes on
/// with the wake, or is disowned.
pub(crate) fn pass_on(object: SyncRef<'_>, target: &WaitTarget, reported: bool) {
    if let SyncRef::Event(event) = object {
        if reported && event.memory.event_pass_owed() {
            return;
        }
    }
    if looks_ready(object, false) {
        // SAFETY: the caller borrows the object, so its word is mapped.
        let word = unsafe { target.word() };
        super::futex::futex_wake(word, 1);
        match object {
            // Blocking waiters in slots may sleep with the state set too (they looked
            // just before the set that woke this wait): they are made to look again.
            SyncRef::Event(event) if !event.memory.event_is_manual() => {
                event.memory.event_nudge_slots();
            }
            _ => {}
        }
    } else if let SyncRef::Mutex(m) = object {
        // Locked again meanwhile, by a locker that found it free and took it without the
        // waiters bit (the unlock that woke this wait cleared it): the holder's unlock
        // must wake the sleepers still there, not leave them to their next look.
        mutex::keep_waking(m.memory.word(0));
    }
}

/// After a sleep that ended on an endpoint's doorbell when the waiter takes another
/// object: nothing to pass on (a doorbell wakes every sleeper).
pub(crate) fn pass_on_bell(_target: &WaitTarget) {}

/// The targets whose wakes a sleep that [`sleep_on`] said ended on `reported` may have
/// taken: `futex_waitv` reports one word woken (the last of the list), but every word woken
/// before the sleeper left the kernel gave it a wake (a mutex's unlock, a semaphore's
/// release, an auto-reset event's set each give one). So: every target whose word has
/// changed since it was armed, and `reported`. (One changed without a wake reaching this
/// sleep costs a wake passed on for nothing: the sleeper it reaches looks and sleeps
/// again.)
///
/// # Safety
/// The objects the targets were readied on must still be open (their memory mapped).
pub(crate) unsafe fn woken_with(targets: &[WaitTarget], reported: usize) -> Vec<usize> {
    (0..targets.len())
        .filter(|&i| {
            // SAFETY: the caller's contract.
            i == reported
                || unsafe { targets[i].word() }.load(Ordering::Relaxed) != targets[i].expected
        })
        .collect()
}

/// One `futex_waitv` over `targets` (at most [`MAX_SLEEP_TARGETS`]), for at most `timeout`.
fn sleep_waitv(targets: &[WaitTarget], timeout: Duration) -> rustix::io::Result<usize> {
    let waits: Vec<futex::Wait> = targets
        .iter()
        .map(|t| {
            let mut wait = futex::Wait::new();
            wait.val = u64::from(t.expected);
            wait.uaddr = futex::WaitPtr::new(t.word.cast_mut().cast());
            // Shared, not private: the wakers are other processes.
            wait.flags = futex::WaitFlags::SIZE_U32;
            wait
        })
        .collect();
    let deadline = deadline_in(timeout);
    futex::waitv(
        &waits,
        futex::WaitvFlags::empty(),
        Some(&deadline),
        rustix::time::ClockId::Monotonic,
    )
}

/// The monotonic clock's time `d` from now (`futex_waitv` takes an absolute deadline),
/// saturating far in the future.
pub(super) fn deadline_in(d: Duration) -> rustix::time::Timespec {
    let at = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let nanos = at.tv_nsec as u64 + u64::from(d.subsec_nanos());
    let secs = (at.tv_sec as u64)
        .saturating_add(d.as_secs())
        .saturating_add(nanos / 1_000_000_000)
        .min(i64::MAX as u64 / 2);
    rustix::time::Timespec {
        tv_sec: secs as _,
        tv_nsec: (nanos % 1_000_000_000) as _,
    }
}

/// What a wait on an object notes when it begins: a manual-reset event's state, so that a
/// set and a reset while the wait goes on still end it (see `sync::EventMark`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mark(Option<EventMark>);

/// Notes what a wait on `object`, about to begin, needs to know later.
pub(crate) fn mark(object: SyncRef<'_>) -> Mark {
    Mark(match object {
        SyncRef::Event(event) => Some(event.memory.event_mark()),
        _ => None,
    })
}

/// Takes `object` if it is ready now (a manual-reset event set and reset since `mark`
/// counts as ready). `check`: also test whether a mutex's owner died holding it (a system
/// call; a waiter does it once per recheck interval). `slept`: the waiter slept on the
/// object before, so a mutex it takes keeps its waiters bit (others may sleep on it too,
/// and its unlock must wake them).
pub(crate) fn take_now(
    object: SyncRef<'_>,
    mark: Mark,
    check: bool,
    slept: bool,
) -> Result<Option<Took>> {
    Ok(take_restorable(object, mark.0, check, slept)?.map(|(took, _)| took))
}

/// `take_now`, with what `give_back` needs to undo it.
fn take_restorable(
    object: SyncRef<'_>,
    since: Option<EventMark>,
    check: bool,
    slept: bool,
) -> Result<Option<(Took, u32)>> {
    Ok(match object {
        SyncRef::Event(event) => {
            let memory = &event.memory;
            let took = memory.event_take_now(memory.event_is_manual(), since);
            memory.intact()?;
            took.then_some((Took::Signal, 0))
        }
        SyncRef::Semaphore(semaphore) => {
            let took = semaphore.memory.semaphore_take_now();
            semaphore.memory.intact()?;
            took.then_some((Took::Signal, 0))
        }
        SyncRef::Mutex(m) => {
            if !m.owner.is_this_process() {
                return Err(Error::Unsupported {
                    what: "locking a mutex through a handle inherited by fork: open it again",
                });
            }
            let state = m.memory.word(0);
            let taken = mutex::try_take(state, m.memory.entry.fd(), &m.owner, check, slept);
            if let Err(lost) = m.memory.intact() {
                if let Some((_, replaced)) = taken {
                    mutex::give_back(state, &m.owner, replaced);
                }
                return Err(lost);
            }
            taken.map(|(locked, replaced)| (Took::Lock(locked), replaced))
        }
    })
}

/// Undoes a `take_restorable`.
fn give_back(object: SyncRef<'_>, took: (Took, u32)) {
    match object {
        SyncRef::Event(event) => {
            if !event.memory.event_is_manual() {
                event.memory.event_set();
            }
        }
        SyncRef::Semaphore(semaphore) => {
            // (Refused only past the maximum, which another process's writes can make the
            // count reach, or after a second of a count rewritten under every try: the unit
            // is then lost, as it would be to a process that zeroed the count.)
            let _ = semaphore.memory.semaphore_release(1);
        }
        SyncRef::Mutex(m) => mutex::give_back(m.memory.word(0), &m.owner, took.1),
    }
}

/// Whether `take_now` would take the object now (taking nothing).
fn looks_ready(object: SyncRef<'_>, check: bool) -> bool {
    match object {
        SyncRef::Event(event) => event.memory.event_is_set(),
        SyncRef::Semaphore(semaphore) => semaphore.memory.semaphore_count() > 0,
        SyncRef::Mutex(m) => mutex::looks_free(m.memory.word(0), m.memory.entry.fd(), check),
    }
}

/// Readies a sleep on `object` (see the module's comment); `disarm` undoes it.
pub(crate) fn arm(object: SyncRef<'_>) -> WaitTarget {
    match object {
        SyncRef::Event(event) => arm_counted(event.memory.event_words()),
        SyncRef::Semaphore(semaphore) => {
            // Slept on as empty whatever the count is now, as a blocking acquire sleeps
            // (`SleepWhile::Zero` in sync.rs says why).
            let (count, sleepers) = semaphore.memory.semaphore_words();
            sleepers.fetch_add(1, Ordering::SeqCst);
            WaitTarget::new(count, 0)
        }
        SyncRef::Mutex(m) => {
            let state = m.memory.word(0);
            WaitTarget::new(state, mutex::arm(state))
        }
    }
}

fn arm_counted((word, sleepers): (&AtomicU32, &AtomicU32)) -> WaitTarget {
    let expected = word.load(Ordering::SeqCst);
    sleepers.fetch_add(1, Ordering::SeqCst);
    WaitTarget::new(word, expected)
}

/// After the look after arming found `object` not ready: the target to sleep on, or `None`
/// to look again rather than sleep. A mutex noted free is noted again (the word now, with
/// the waiters bit): the free value can come back before the sleep begins (another
/// handle's lock and unlock, or a wait on many objects giving the mutex back), and the
/// sleep would then begin on a free mutex. `None` if it is free again. The others' values
/// never look ready once armed (a semaphore's is noted empty, an event's is its count of
/// sets, which only grows).
pub(crate) fn confirm(object: SyncRef<'_>, target: WaitTarget) -> Option<WaitTarget> {
    match object {
        SyncRef::Mutex(m) if target.expected & !mutex::WAITERS == 0 => {
            let state = m.memory.word(0);
            let now = mutex::arm(state);
            (now & !mutex::WAITERS != 0).then(|| WaitTarget::new(state, now))
        }
        _ => Some(target),
    }
}

/// Undoes `arm`: the sleeper no longer counts itself.
pub(crate) fn disarm(object: SyncRef<'_>) {
    let sleepers = match object {
        SyncRef::Event(event) => event.memory.event_words().1,
        SyncRef::Semaphore(semaphore) => semaphore.memory.semaphore_words().1,
        // A waiters bit stays until the next unlock (which then wakes nobody, or a
        // sleeper of another process: harmless).
        SyncRef::Mutex(_) => return,
    };
    sleepers.fetch_sub(1, Ordering::SeqCst);
}

/// `Error::PageFault` if the object's memory was lost (its entry cut short).
fn intact(object: SyncRef<'_>) -> Result<()> {
    match object {
        SyncRef::Event(event) => event.memory.intact(),
        SyncRef::Semaphore(semaphore) => semaphore.memory.intact(),
        SyncRef::Mutex(m) => m.memory.intact(),
    }
}

/// Whether [`take_all`] can take `objects` events, semaphores and mutexes at once: any
/// number (Windows' has a limit, checked before a `wait_all` waits for anything).
pub(crate) fn check_take_all(_objects: usize) -> Result<()> {
    Ok(())
}

/// Takes every object, waiting until all are ready together, or `None` once `deadline`
/// passes. Never holds some while it waits for the others.
pub(crate) fn take_all(
    objects: &[SyncRef<'_>],
    deadline: Option<Instant>,
) -> Result<Option<Vec<Took>>> {
    let mut last_check: Option<Instant> = None;
    let mut slept = false;
    // The objects whose wakes the last sleep may have taken, and the targets slept on.
    let mut woken_by: Vec<(SyncRef<'_>, WaitTarget, bool)> = Vec::new();
    loop {
        let now = Instant::now();
        let check = last_check.is_none_or(|at| now.duration_since(at) >= RECHECK_INTERVAL);
        if check {
            last_check = Some(now);
        }
        if objects.iter().all(|o| looks_ready(*o, check)) {
            let taken = take_each(objects, check, slept).inspect_err(|_| {
                for (object, target, reported) in woken_by.drain(..) {
                    pass_on(object, &target, reported);
                }
            })?;
            if let Some(took) = taken {
                return Ok(Some(took));
            }
            // Taken from under it: back off a little (a random few hundred microseconds),
            // so that two waits whose sets cross do not retry in step.
            std::thread::sleep(Duration::from_micros(50 + u64::from(jitter()) % 400));
        }
        // Not taken: the wake that ended the sleep may have been the one wake a mutex's
        // unlock, a semaphore's release or an auto-reset event's set gives, meant for a
        // sleeper that takes what it is woken for. If the object is still ready, it goes
        // on to another sleeper (which, if it is a wait like this one, passes it on once
        // too and then no longer sleeps on an object that is ready: the chain ends).
        for (object, target, reported) in woken_by.drain(..) {
            pass_on(object, &target, reported);
        }
        for object in objects {
            intact(*object)?;
        }
        let slice = match deadline {
            None => RECHECK_INTERVAL,
            Some(d) => match d.checked_duration_since(now) {
                Some(left) if !left.is_zero() => left.min(RECHECK_INTERVAL),
                _ => return Ok(None),
            },
        };
        // Sleeps on the objects that are not ready only: one that is ready needs no
        // watching (whether it still is, the next look says), and a wake-one given while
        // this wait sleeps on it would be taken from a sleeper that could use it.
        let armed: Vec<(SyncRef<'_>, WaitTarget)> = objects
            .iter()
            .filter(|o| !looks_ready(**o, false))
            .map(|o| (*o, arm(*o)))
            .collect();
        // The targets slept on, if the wait sleeps.
        let mut targets: Vec<WaitTarget> = Vec::new();
        // The look after arming: a change from here on changes a word slept on. One that
        // came before it is seen now: an armed object ready already (its word noted ready,
        // so nothing would wake the sleep while one that was not armed stops being ready)
        // is looked at again, not slept on; so is a set of objects that all were ready.
        let woke = if armed.is_empty()
            || armed.iter().any(|(o, _)| looks_ready(*o, false))
            || objects.iter().all(|o| looks_ready(*o, false))
        {
            Ok(Woke::Changed(None))
        } else {
            // Each target confirmed after the look (a mutex noted free, noted again).
            let confirmed: Option<Vec<WaitTarget>> = armed
                .iter()
                .map(|(object, target)| confirm(*object, *target))
                .collect();
            match confirmed {
                Some(confirmed) => {
                    targets = confirmed;
                    slept = true;
                    sleep_on(&targets, slice)
                }
                None => Ok(Woke::Changed(None)),
            }
        };
        for (object, _) in &armed {
            disarm(*object);
        }
        if let Ok(Woke::Changed(Some(index))) = woke {
            // SAFETY: `objects` borrows every object armed: their words are mapped.
            let with = unsafe { woken_with(&targets, index) };
            woken_by = with
                .into_iter()
                .filter_map(|i| armed.get(i).map(|&(o, t)| (o, t, i == index)))
                .collect();
        }
        woke?;
    }
}

/// A few random bits (the clock's microseconds), for backing off.
fn jitter() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_micros())
}

/// Takes the objects in order; if one is gone, gives back what was taken and says `None`.
fn take_each(objects: &[SyncRef<'_>], check: bool, slept: bool) -> Result<Option<Vec<Took>>> {
    let mut taken: Vec<(Took, u32)> = Vec::with_capacity(objects.len());
    let mut failure = None;
    for object in objects {
        // (Only what is ready now counts: objects that were each ready at some moment
        // during the wait were not all ready together.)
        match take_restorable(*object, None, check, slept) {
            Ok(Some(took)) => taken.push(took),
            Ok(None) => break,
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    if taken.len() == objects.len() {
        return Ok(Some(taken.into_iter().map(|(took, _)| took).collect()));
    }
    for (object, took) in objects.iter().zip(taken).rev() {
        give_back(*object, took);
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sleep reported as ended on one word may have taken the wakes of every word that
    /// changed since it was armed: those are named with it, the unchanged ones not.
    #[test]
    fn a_sleep_names_every_word_that_changed_since_it_was_armed() {
        let words = [AtomicU32::new(5), AtomicU32::new(6), AtomicU32::new(7)];
        let targets: Vec<WaitTarget> = words
            .iter()
            .map(|w| WaitTarget::new(w, w.load(Ordering::Relaxed)))
            .collect();
        words[0].store(50, Ordering::Relaxed);
        words[2].store(70, Ordering::Relaxed);
        // SAFETY: the words live on this stack frame, past the calls.
        assert_eq!(unsafe { woken_with(&targets, 2) }, [0, 2]);
        // The reported word is named even if its value came back (set, then reset).
        words[0].store(5, Ordering::Relaxed);
        // SAFETY: as above.
        assert_eq!(unsafe { woken_with(&targets, 1) }, [1, 2]);
    }
}
