//! Waiting on many objects at once (`crate::wait`), Windows: `WaitForMultipleObjects` on
//! the kernel's mutexes, events and semaphores themselves, and on the wake-up events of
//! channel and topic endpoints.
//!
//! A wait that ends on a mutex, a semaphore or an auto-reset event has taken it (that is
//! the kernel's rule), so the sleep reports it as taken. A wait that ends on an endpoint's
//! wake-up event only says that something may have changed: the caller looks again. One
//! call takes at most [`MAX_SLEEP_TARGETS`] handles; past that many objects, the sleep
//! covers the first ones and lasts at most a millisecond, so the rest are looked at every
//! millisecond. Taking several objects at once is one `WaitForMultipleObjects` with
//! `bWaitAll`, which the kernel makes atomic: it never holds some while it waits for the
//! others.

use std::os::windows::io::AsHandle;
use std::time::{Duration, Instant};

use windows_sys::Win32::Foundation::{
    ERROR_INVALID_PARAMETER, HANDLE, WAIT_ABANDONED_0, WAIT_OBJECT_0, WAIT_TIMEOUT,
};
use windows_sys::Win32::System::Threading::{
    SetEvent, WaitForMultipleObjects, WaitForSingleObject,
};

use super::sync::{ChannelMemory, wait_in_turns};
use super::{last_error, os_error, raw};
use crate::error::{Error, Result};
use crate::sys::{Doorbell, Locked, SyncRef, Took, Woke};

/// The most handles one `WaitForMultipleObjects` takes (`MAXIMUM_WAIT_OBJECTS`).
pub(crate) const MAX_SLEEP_TARGETS: usize = 64;

/// Whether a sleep on synchronisation objects alone lasts the whole wait: here, yes. The
/// kernel reports an abandoned mutex itself, and keeps the waiter's place in each
/// object's queue only while it sleeps: a wait made of shorter sleeps went to the back of
/// the queue at every one, behind a waiter that is back asleep after every signal (which
/// then took them all).
pub(crate) const SYNC_SLEEPS_WHOLE: bool = true;

/// How long a sleep lasts at most when it cannot cover every object.
const POLL_SLICE: Duration = Duration::from_millis(1);

/// Where a readied sleep sleeps: a handle (none if an endpoint's wake-up event could not
/// be made: the sleep then only naps), what ending on it takes, and how to give that back.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WaitTarget {
    pub(super) handle: HANDLE,
    pub(super) takes: Option<Took>,
    pub(super) give_back: GiveBack,
}

// SAFETY: a handle value, used only while the object it belongs to is open (the caller's
// borrow, or `waiter::register`'s contract); handles are usable from any thread.
unsafe impl Send for WaitTarget {}
// SAFETY: as above; a target is never written through.
unsafe impl Sync for WaitTarget {}

/// How to give back what a wait on a handle took, when its taker no longer wants it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GiveBack {
    /// Nothing was taken (a manual-reset event).
    Nothing,
    /// An endpoint's wake-up event (auto reset): set it again, so that a wake meant for
    /// whoever sleeps on the doorbell is not lost.
    PassOn,
    /// An auto-reset event's signal: set it again.
    SetEvent,
    /// A semaphore's unit: release it.
    ReleaseUnit,
    /// A mutex (the waiter threads never wait on one: it would be theirs).
    Mutex,
}

impl ChannelMemory {
    /// A sleep on a doorbell: on its wake-up event (the sequence word is Linux's).
    pub(crate) fn bell_target(&self, bell: &Doorbell<'_>, _expected: u32) -> WaitTarget {
        let handle = self.event(bell.bell).map(raw).unwrap_or_default();
        WaitTarget {
            handle,
            takes: None,
            give_back: GiveBack::PassOn,
        }
    }
}

fn handle_of(object: SyncRef<'_>) -> HANDLE {
    match object {
        SyncRef::Event(event) => raw(event.handle.as_handle()),
        SyncRef::Semaphore(semaphore) => raw(semaphore.handle.as_handle()),
        SyncRef::Mutex(mutex) => raw(mutex.mutex.as_handle()),
    }
}

fn took_by(object: SyncRef<'_>, abandoned: bool) -> Took {
    match object {
        SyncRef::Mutex(_) if abandoned => Took::Lock(Locked::Abandoned),
        SyncRef::Mutex(_) => Took::Lock(Locked::Normally),
        _ => Took::Signal,
    }
}

/// What a wait on an object notes when it begins: nothing here (the kernel releases every
/// thread waiting in it on a manual-reset event when the event is set, whatever resets it
/// after; a set and reset between two of a wait's kernel waits, or of the waiter thread's,
/// is missed).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mark;

/// Notes what a wait on `object`, about to begin, needs to know later: nothing here.
pub(crate) fn mark(_object: SyncRef<'_>) -> Mark {
    Mark
}

/// Takes `object` if it is signalled now (a zero-timeout wait). `mark`, `check` and
/// `slept` change nothing here: the kernel itself releases a manual-reset event's waiters
/// when it is set, reports an abandoned mutex and keeps its waiters.
pub(crate) fn take_now(
    object: SyncRef<'_>,
    _mark: Mark,
    _check: bool,
    _slept: bool,
) -> Result<Option<Took>> {
    // SAFETY: a valid waitable handle, owned by the object.
    match unsafe { WaitForSingleObject(handle_of(object), 0) } {
        WAIT_OBJECT_0 => Ok(Some(took_by(object, false))),
        WAIT_ABANDONED_0 => Ok(Some(took_by(object, true))),
        WAIT_TIMEOUT => Ok(None),
        _ => Err(wait_failed()),
    }
}

/// Readies a sleep on `object`: its handle.
pub(crate) fn arm(object: SyncRef<'_>) -> WaitTarget {
    let give_back = match object {
        // An event the kernel would not say the kind of is given nothing back: set again,
        // a manual-reset one reset meanwhile would stay set for good (a lost wake of an
        // auto-reset one is the smaller harm).
        SyncRef::Event(event) if event.is_manual() == Some(false) => GiveBack::SetEvent,
        SyncRef::Event(_) => GiveBack::Nothing,
        SyncRef::Semaphore(_) => GiveBack::ReleaseUnit,
        SyncRef::Mutex(_) => GiveBack::Mutex,
    };
    WaitTarget {
        handle: handle_of(object),
        takes: Some(took_by(object, false)),
        give_back,
    }
}

/// After a sleep that ended on `object` without the waiter taking it: nothing to pass on
/// (a wait that ends on a kernel object has taken it).
pub(crate) fn pass_on(_object: SyncRef<'_>, _target: &WaitTarget, _reported: bool) {}

/// After a sleep that ended on an endpoint's wake-up event (auto reset, so the sleep
/// consumed it) when the waiter takes another object: sets the event again, so that
/// another sleeper on the doorbell is not left asleep.
pub(crate) fn pass_on_bell(target: &WaitTarget) {
    if target.give_back == GiveBack::PassOn && !target.handle.is_null() {
        // SAFETY: the endpoint's event, open while the caller borrows the endpoint.
        unsafe { SetEvent(target.handle) };
    }
}

/// After the look after arming found `object` not ready: the target to sleep on (a kernel
/// object's handle, which the kernel watches itself: always).
pub(crate) fn confirm(_object: SyncRef<'_>, target: WaitTarget) -> Option<WaitTarget> {
    Some(target)
}

/// Undoes `arm` (nothing to undo: the kernel keeps the waiters).
pub(crate) fn disarm(_object: SyncRef<'_>) {}

/// Sleeps until one of the targets is signalled, or `timeout` passes.
pub(crate) fn sleep_on(targets: &[WaitTarget], timeout: Duration) -> Result<Woke> {
    let mut timeout = timeout;
    let mut indices = Vec::with_capacity(targets.len().min(MAX_SLEEP_TARGETS));
    let mut handles = Vec::with_capacity(indices.capacity());
    for (i, target) in targets.iter().enumerate() {
        if target.handle.is_null() || handles.len() == MAX_SLEEP_TARGETS {
            timeout = timeout.min(POLL_SLICE);
            continue;
        }
        indices.push(i);
        handles.push(target.handle);
    }
    if handles.is_empty() {
        std::thread::sleep(timeout);
        return Ok(Woke::TimedOut);
    }
    let n = handles.len() as u32;
    let code = wait_in_turns(Some(timeout), |ms| {
        // SAFETY: valid handles owned by the objects the caller borrows, at most 64.
        unsafe { WaitForMultipleObjects(n, handles.as_ptr(), 0, ms) }
    });
    let ended_on = |at: u32, abandoned: bool| {
        let index = indices[at as usize];
        match targets[index].takes {
            Some(Took::Lock(_)) if abandoned => Woke::Took(index, Took::Lock(Locked::Abandoned)),
            Some(took) => Woke::Took(index, took),
            // An endpoint's wake-up event, which the wait consumed: named, so that the
            // caller sets it again if it takes another object (`pass_on_bell`).
            None => Woke::Changed(Some(index)),
        }
    };
    match code {
        WAIT_TIMEOUT => Ok(Woke::TimedOut),
        c if (WAIT_OBJECT_0..WAIT_OBJECT_0 + n).contains(&c) => {
            Ok(ended_on(c - WAIT_OBJECT_0, false))
        }
        c if (WAIT_ABANDONED_0..WAIT_ABANDONED_0 + n).contains(&c) => {
            Ok(ended_on(c - WAIT_ABANDONED_0, true))
        }
        _ => Err(wait_failed()),
    }
}

/// The targets whose signals a sleep that [`sleep_on`] said ended on `reported` took:
/// `reported` alone (`WaitForMultipleObjects` without `bWaitAll` takes only the object it
/// reports).
///
/// # Safety
/// None here; Linux's reads the targets' words (see its docs).
pub(crate) unsafe fn woken_with(_targets: &[WaitTarget], reported: usize) -> Vec<usize> {
    vec![reported]
}

/// Whether [`take_all`] can take `objects` events, semaphores and mutexes at once: at most
/// 64 (checked before a `wait_all` waits for anything).
pub(crate) fn check_take_all(objects: usize) -> Result<()> {
    if objects > MAX_SLEEP_TARGETS {
        return Err(Error::InvalidSetting {
            setting: "events, semaphores and mutexes in one wait_all on Windows",
            value: objects as u64,
            allowed: "at most 64 (WaitForMultipleObjects' limit)",
        });
    }
    Ok(())
}

/// Takes every object at once (one `WaitForMultipleObjects` with `bWaitAll`), or `None`
/// once `deadline` passes. Which mutexes were abandoned: the kernel says only that one
/// was, naming one of them; so when one was, every mutex of the set is reported
/// abandoned (a mutex reported so needlessly is checked for nothing; one left unreported
/// would be trusted while damaged).
pub(crate) fn take_all(
    objects: &[SyncRef<'_>],
    deadline: Option<Instant>,
) -> Result<Option<Vec<Took>>> {
    if objects.is_empty() {
        return Ok(Some(Vec::new()));
    }
    check_take_all(objects.len())?;
    let handles: Vec<HANDLE> = objects.iter().map(|o| handle_of(*o)).collect();
    let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
    let n = handles.len() as u32;
    let code = wait_in_turns(timeout, |ms| {
        // SAFETY: valid handles owned by the objects the caller borrows, at most 64.
        unsafe { WaitForMultipleObjects(n, handles.as_ptr(), 1, ms) }
    });
    let abandoned = match code {
        WAIT_TIMEOUT => return Ok(None),
        c if (WAIT_OBJECT_0..WAIT_OBJECT_0 + n).contains(&c) => false,
        c if (WAIT_ABANDONED_0..WAIT_ABANDONED_0 + n).contains(&c) => true,
        _ => {
            let code = last_error();
            // The kernel refuses one object twice in a wait for all. The caller refused
            // the same name twice; two names of one object are left: `Local\x` and
            // `Global\x` in session 0, where both are the one `Global\x`.
            if code == ERROR_INVALID_PARAMETER {
                return Err(Error::InvalidSetting {
                    setting: "events, semaphores and mutexes in one wait_all",
                    value: u64::from(n),
                    allowed: "each object once (in session 0, Local\\x and Global\\x are \
                              one object)",
                });
            }
            return Err(Error::io("wait for", "several objects", os_error(code)));
        }
    };
    Ok(Some(
        objects.iter().map(|o| took_by(*o, abandoned)).collect(),
    ))
}

fn wait_failed() -> Error {
    Error::io("wait for", "several objects", os_error(last_error()))
}
