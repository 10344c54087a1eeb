//! The process's waiter threads, which sleep for the async waits (`crate::wait::future`):
//! each sleeps in one `WaitForMultipleObjects` over the handles of up to [`PER_THREAD`]
//! pending futures plus an event of its own, and wakes a future's waker when its handle
//! is signalled. A new thread starts when every thread has its fill; none ever ends (a
//! thread with no future to look at, and nothing taken for one, sleeps without a tick).
//!
//! - A registration holds a duplicate of the object's handle, so the thread never waits on
//!   a handle value that was closed (and perhaps reused) under it, even for a future that
//!   was leaked.
//! - The kernel's wait takes what it waits for. A semaphore's unit or an auto-reset event's
//!   signal is kept for the future, which claims it when polled; a future dropped before it
//!   claims it gives it back (releases the unit, sets the event). So is a manual-reset
//!   event's release (nothing to give back), which ends the future's wait even if the
//!   event is reset before the future is polled. Under the thread's lock,
//!   which the drop takes too, so what was taken is claimed or given back exactly once. A
//!   signal a future holds unclaimed is hidden from other waiters until the future is
//!   polled or dropped, or for a tick or two at most: the thread gives back what a future
//!   has not claimed a whole tick after it was woken for it (a leaked future would hold it
//!   for ever; one polled later finds it gone and looks again).
//! - An endpoint's wake-up event the thread took is kept for the future like a signal: a
//!   future polled claims it (and looks at its endpoint), one dropped first, or gone by
//!   the time the thread took it, sets it again, for whoever else sleeps on that doorbell.
//! - Mutexes are not waited on (a mutex the thread took would be the thread's, and its
//!   abandonment would be reported to the thread): a lock future looks every [`POLL`], as
//!   do futures without a handle. So it takes a mutex only if it finds it free at a look:
//!   against threads that keep it always held or waited for with blocking locks (the
//!   system hands a released mutex straight to a blocked waiter), it waits as long as they
//!   do so. Every [`TICK`] the thread wakes every future anyway, to
//!   look again for a dead peer. These looks keep the futures' registrations (a future
//!   woken so sleeps on as it was), but for a future not polled since the last tick (a
//!   leaked one, whose entry goes so); a failed wait ends every registration (each future
//!   looks again and registers afresh).
//! - A registration, and a registration's end, set the thread's event, so that it waits
//!   again over the new set. Wakers are dropped, and woken, outside the thread's lock.

use std::os::windows::io::{AsHandle, BorrowedHandle, OwnedHandle};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::task::Waker;
use std::time::{Duration, Instant};

use windows_sys::Win32::Foundation::{WAIT_OBJECT_0, WAIT_TIMEOUT};
use windows_sys::Win32::System::Threading::{
    CreateEventW, INFINITE, ReleaseSemaphore, SetEvent, WaitForMultipleObjects,
};

use super::waits::{GiveBack, WaitTarget};
use super::{duplicate, owned, raw};
use crate::sys::Took;
use crate::sys::waker_slot::{WakerSlot, wake};

/// The most futures one thread sleeps for (64 handles, one the thread's own).
const PER_THREAD: usize = 63;

/// How often the threads wake every future to look again.
const TICK: Duration = Duration::from_millis(100);

/// How often a future without a handle to wait on looks again.
const POLL: Duration = Duration::from_millis(1);

/// What a future and its thread share.
#[derive(Debug)]
struct Shared {
    /// The duplicate handle the thread waits on (none: the future looks every `POLL`).
    handle: Option<OwnedHandle>,
    give_back: GiveBack,
    fired: AtomicBool,
    /// What the thread's wait took for the future, until it is claimed.
    token: Mutex<Option<Took>>,
}

/// One pending future as its thread sees it.
struct Entry {
    id: u64,
    slot: WakerSlot,
    shared: Arc<Shared>,
}

/// One waiter thread's futures, and its own event (set on every change of the set).
struct Shard {
    entries: Mutex<Vec<Entry>>,
    control: OwnedHandle,
}

impl Shard {
    fn lock(&self) -> MutexGuard<'_, Vec<Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tells the thread to wait again over its (changed) set.
    fn nudge(&self) {
        // SAFETY: the shard's own event, open for good.
        unsafe { SetEvent(raw(self.control.as_handle())) };
    }
}

impl std::fmt::Debug for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shard")
    }
}

fn shards() -> &'static Mutex<Vec<&'static Shard>> {
    static SHARDS: OnceLock<Mutex<Vec<&'static Shard>>> = OnceLock::new();
    SHARDS.get_or_init(|| Mutex::new(Vec::new()))
}

/// A future's place with a waiter thread: removed when dropped, giving back what the
/// thread took for the future if the future did not claim it.
#[derive(Debug)]
pub(crate) struct Registration {
    shard: &'static Shard,
    id: u64,
    shared: Arc<Shared>,
}

/// Registers a readied sleep: `waker` is woken once the target's handle is signalled (or
/// at the next tick; every [`POLL`] for a mutex, or without a handle).
///
/// # Safety
/// The object the target was readied on must be open for the duration of this call (its
/// handle is duplicated here; the registration keeps the duplicate).
pub(crate) unsafe fn register(target: WaitTarget, waker: &Waker) -> std::io::Result<Registration> {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let handle = if target.handle.is_null() || target.give_back == GiveBack::Mutex {
        None
    } else {
        // SAFETY: the caller's contract: the handle is open for this call.
        let borrowed = unsafe { BorrowedHandle::borrow_raw(target.handle) };
        Some(duplicate(borrowed).map_err(|e| std::io::Error::other(e.to_string()))?)
    };
    let shared = Arc::new(Shared {
        handle,
        give_back: target.give_back,
        fired: AtomicBool::new(false),
        token: Mutex::new(None),
    });
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let entry = Entry {
        id,
        slot: WakerSlot::new(waker),
        shared: shared.clone(),
    };
    let shard = place(entry)?;
    shard.nudge();
    Ok(Registration { shard, id, shared })
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
    // SAFETY: an unnamed auto-reset event, initially unset; the handle is owned by `owned`.
    let control = owned(unsafe { CreateEventW(std::ptr::null(), 0, 0, std::ptr::null()) })
        .ok_or_else(std::io::Error::last_os_error)?;
    let leaked: *mut Shard = Box::into_raw(Box::new(Shard {
        entries: Mutex::new(vec![entry]),
        control,
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
        // made from the shared reference), with the entry (its waker, its handle).
        drop(unsafe { Box::from_raw(leaked) });
        return Err(e);
    }
    all.push(shard);
    Ok(shard)
}

impl Registration {
    /// Whether this process made the registration: always (Windows has no `fork`).
    pub(crate) fn made_here(&self) -> bool {
        true
    }

    /// Whether the thread woke the future for this registration and ended it (its handle
    /// was signalled, or the thread's wait failed); a tick or a poll wakes a future without
    /// firing its registration.
    pub(crate) fn fired(&self) -> bool {
        self.shared.fired.load(Ordering::Acquire)
    }

    /// Notes that the future was polled and kept its registration, and replaces the waker
    /// if it is now polled with another; `false` if the thread fired the registration
    /// meanwhile (the caller must look again).
    pub(crate) fn set_waker(&self, waker: &Waker) -> bool {
        let old = match self.shard.lock().iter_mut().find(|e| e.id == self.id) {
            None => return false,
            Some(entry) => entry.slot.polled_with(waker),
        };
        drop(old);
        true
    }

    /// Ends the registration once the future took what it waited for (or looks again).
    pub(crate) fn complete(self) {}

    /// What the thread's wait took for the future (a semaphore's unit, an auto-reset
    /// event's signal), now the future's.
    pub(crate) fn claim(&self) -> Option<Took> {
        self.shared
            .token
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let removed = {
            let mut entries = self.shard.lock();
            entries
                .iter()
                .position(|e| e.id == self.id)
                .map(|i| entries.swap_remove(i))
        };
        if removed.is_some() {
            self.shard.nudge();
        }
        drop(removed);
        if self.claim().is_some() {
            give_back(&self.shared);
        }
    }
}

/// Gives back what the thread's wait took (see the module's comment).
fn give_back(shared: &Shared) {
    let Some(handle) = &shared.handle else {
        return;
    };
    let h = raw(handle.as_handle());
    // SAFETY: the duplicate handle, open while `shared` lives, of the kind `give_back`
    // names.
    unsafe {
        match shared.give_back {
            GiveBack::Nothing | GiveBack::Mutex => {}
            GiveBack::PassOn | GiveBack::SetEvent => {
                SetEvent(h);
            }
            GiveBack::ReleaseUnit => {
                ReleaseSemaphore(h, 1, std::ptr::null_mut());
            }
        }
    }
}

/// A waiter thread: waits over its shard's handles until one is signalled, wakes that
/// future.
fn run(shard: &'static Shard) {
    let mut handles = Vec::with_capacity(PER_THREAD + 1);
    let mut waited_on: Vec<(u64, Arc<Shared>)> = Vec::with_capacity(PER_THREAD);
    let mut last_tick = Instant::now();
    // When the futures without a handle were last told to look (every `POLL`, whatever
    // else ends the waits meanwhile).
    let mut last_poll = Instant::now();
    let mut tick_now = false;
    // What the thread took for futures it woke, and when: given back if still unclaimed a
    // tick later. Held weakly: a future that claimed it and went keeps its object (and the
    // object's name) alive no longer (a registration dropped unclaimed gives back itself).
    let mut unclaimed: Vec<(Weak<Shared>, Instant)> = Vec::new();
    loop {
        handles.clear();
        waited_on.clear();
        let mut polled = false;
        for entry in shard.lock().iter() {
            match &entry.shared.handle {
                Some(h) => {
                    handles.push(raw(h.as_handle()));
                    waited_on.push((entry.id, entry.shared.clone()));
                }
                None => polled = true,
            }
        }
        // The thread's own event last: the kernel reports the lowest index of those
        // signalled, and registrations set it often; first, it would hide a future's
        // object signalled meanwhile until the tick.
        handles.push(raw(shard.control.as_handle()));
        let mut timeout = TICK.saturating_sub(last_tick.elapsed());
        if polled {
            timeout = timeout.min(POLL.saturating_sub(last_poll.elapsed()));
        }
        // Whole milliseconds, rounded up: rounded down, the last moments before a tick or
        // a poll were waits of 0 ms, one after another (the thread spun).
        let mut millis =
            u32::try_from(timeout.as_nanos().div_ceil(1_000_000)).unwrap_or(u32::MAX - 1);
        // With no future to look at and nothing taken for one, no tick: asleep until a
        // registration's nudge (`INFINITE`).
        let idle = waited_on.is_empty() && !polled && unclaimed.is_empty();
        if idle {
            millis = INFINITE;
        }
        let n = handles.len() as u32;
        // SAFETY: the shard's event and the registrations' duplicates, kept open by
        // `waited_on` while the wait lasts; at most 64.
        let code = unsafe { WaitForMultipleObjects(n, handles.as_ptr(), 0, millis) };
        if idle {
            // The ticks count from the first registration after the idle sleep.
            last_tick = Instant::now();
        }
        let control = WAIT_OBJECT_0 + n - 1;
        match code {
            WAIT_TIMEOUT => {}
            c if c == control => {}
            c if (WAIT_OBJECT_0..control).contains(&c) => {
                let (id, shared) = &waited_on[(c - WAIT_OBJECT_0) as usize];
                if settle(shard, *id, shared) {
                    unclaimed.push((Arc::downgrade(shared), Instant::now()));
                }
            }
            _ => {
                // WAIT_FAILED: do not spin on it; every future looks again below.
                std::thread::sleep(POLL);
                tick_now = true;
            }
        }
        if tick_now {
            tick_now = false;
            last_tick = Instant::now();
            fire(shard, |_, _| true);
        } else if last_tick.elapsed() >= TICK {
            last_tick = Instant::now();
            tick(shard);
            give_back_unclaimed(&mut unclaimed);
        } else if polled && last_poll.elapsed() >= POLL {
            // Every `POLL`, not only when a wait timed out: a shard whose other handles or
            // registrations end its waits more often left these for the tick.
            last_poll = Instant::now();
            nudge_futures(shard, |shared| shared.handle.is_none());
        }
    }
}

/// Gives back what the thread took for futures that have not claimed it a whole tick
/// after they were woken for it, and forgets what was claimed (the token's lock, which
/// `claim` and a registration's drop take too, makes each taken once).
fn give_back_unclaimed(unclaimed: &mut Vec<(Weak<Shared>, Instant)>) {
    unclaimed.retain(|(shared, woken)| {
        let Some(shared) = shared.upgrade() else {
            return false;
        };
        // A manual-reset event's release takes nothing from anyone: it stays for its
        // future however late that is polled (the event may be reset by then).
        if matches!(shared.give_back, GiveBack::Nothing) {
            return false;
        }
        let mut token = shared.token.lock().unwrap_or_else(|p| p.into_inner());
        if token.is_none() {
            return false;
        }
        if woken.elapsed() < TICK {
            return true;
        }
        *token = None;
        drop(token);
        give_back(&shared);
        false
    });
}

/// After the thread's wait ended on entry `id`'s handle: records what it took for the
/// future and wakes it; or, if the future went away meanwhile, gives that back at once.
/// (Under the shard's lock, which a registration's drop takes before it claims: what was
/// taken is either kept for a registration that will claim it, or given back here.)
/// Whether something taken is kept for the future.
fn settle(shard: &Shard, id: u64, shared: &Shared) -> bool {
    let entry = {
        let mut entries = shard.lock();
        match entries.iter().position(|e| e.id == id) {
            Some(i) => {
                let entry = entries.swap_remove(i);
                // (An endpoint's wake-up event too: a future dropped before it is polled
                // sets it again, for whoever else sleeps on that doorbell. And a
                // manual-reset event's set, which released this wait whatever resets the
                // event before the future looks: nothing to give back.)
                let kept = matches!(
                    shared.give_back,
                    GiveBack::Nothing
                        | GiveBack::SetEvent
                        | GiveBack::ReleaseUnit
                        | GiveBack::PassOn
                );
                if kept {
                    *shared.token.lock().unwrap_or_else(|p| p.into_inner()) = Some(Took::Signal);
                }
                shared.fired.store(true, Ordering::Release);
                Some((entry, kept))
            }
            None => {
                give_back(shared);
                None
            }
        }
    };
    match entry {
        Some((entry, kept)) => {
            wake(entry.slot.waker);
            kept
        }
        None => false,
    }
}

/// Wakes the futures whose shared part `which` picks, keeping their registrations: each
/// looks again and sleeps on as it was (a tick, a look for a future without a handle).
fn nudge_futures(shard: &Shard, which: impl Fn(&Shared) -> bool) {
    let wakers: Vec<Waker> = shard
        .lock()
        .iter()
        .filter(|e| which(&e.shared))
        .filter_map(|e| e.slot.copy())
        .collect();
    for waker in wakers {
        wake(waker);
    }
}

/// Wakes every future, keeping the registrations of those polled since the last tick; the
/// others' are fired: a future that was leaked (never to be polled or dropped) holds its
/// entry, and what the thread's wait would take for it, for one tick at most.
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
    fire(shard, |id, _| unpolled.contains(&id));
    for waker in kept {
        wake(waker);
    }
}

/// Wakes and removes the futures that `which` picks by id and shared part (after a failed
/// wait, all: each looks again and registers afresh).
fn fire(shard: &Shard, which: impl Fn(u64, &Shared) -> bool) {
    let mut woken = Vec::new();
    {
        let mut entries = shard.lock();
        let mut i = 0;
        while i < entries.len() {
            if which(entries[i].id, &entries[i].shared) {
                let entry = entries.swap_remove(i);
                entry.shared.fired.store(true, Ordering::Release);
                woken.push(entry);
            } else {
                i += 1;
            }
        }
    }
    for entry in woken {
        wake(entry.slot.waker);
    }
}
