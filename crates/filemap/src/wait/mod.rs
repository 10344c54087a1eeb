//! Waiting on many objects at once: Win32's `WaitForMultipleObjects`.
//!
//! [`wait_any`] returns when one of the objects is ready, the lowest index first, and
//! takes it as a single wait would: an auto-reset event's signal, a semaphore's unit, a
//! mutex's lock (with whether it was [abandoned](crate::sync::MutexGuard::abandoned)).
//! [`wait_all`] returns when all are ready together, and takes them all at once: it never
//! holds some of them while it waits for the others, so two waits whose sets cross cannot
//! deadlock each other or a third process.
//!
//! "Lowest" is among those found ready at one look. On Windows a wait that mixes
//! synchronisation objects with endpoints sleeps in `WaitForMultipleObjects`, which takes
//! an object (a semaphore's unit, say) as it wakes: if an endpoint of a lower index became
//! ready at the same moment, before filemap looked at it again, the object taken is the
//! one returned (as `WaitForMultipleObjects` returns the object it took, whatever became
//! signalled just after). On Linux every wake-up looks again from the first index.
//!
//! Channel and topic endpoints are ready when their next call would not wait: a
//! [`Receiver`], [`Subscriber`] or [`Inbox`] when a message is there (or its peer is gone,
//! which that call reports), a service's server when a request is there (clients leaving
//! do not end a server), a [`Sender`] when there is room
//! ([`Target::Sender`] says for how many bytes; a `&Sender` means one byte). Waiting takes
//! nothing from them. Two exceptions to "would not wait", both about the wrap marker a
//! sender leaves at the ring's end when a message does not fit before it: a receiving
//! endpoint is also ready when its sender has just wrapped around the ring, before the
//! message after the wrap is committed (the next receive then waits for that message; a
//! sender that needs the wrap's bytes back gets them from that receive, so a wait that
//! held out for the message could wait for ever); and a [`Target::Sender`] for such a
//! message is ready first when there is room for the marker (a `try_send` then leaves it,
//! and may find no room yet at the ring's start: wait again).
//!
//! ```
//! # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
//! use filemap::sync::{EventReset, NamedEvent, NamedSemaphore};
//! use filemap::wait::{wait_any, Taken};
//! use std::time::Duration;
//!
//! let stop = NamedEvent::create_new("wait-demo-stop", EventReset::Manual, false)?;
//! let jobs = NamedSemaphore::create_new("wait-demo-jobs", 0, 10)?;
//! jobs.release(1)?;
//! let ready = wait_any(&[&stop, &jobs], Some(Duration::from_secs(1)))?;
//! assert_eq!(ready.index, 1); // a job: its unit is taken
//! assert!(matches!(ready.taken, Taken::Signal));
//! assert!(!jobs.try_acquire()?);
//! # Ok::<(), filemap::Error>(())
//! ```
//!
//! How it waits: on Linux every object is a word in shared memory, and one `futex_waitv`
//! (Linux 5.16 and later) sleeps on all of them; on Windows, `WaitForMultipleObjects`
//! sleeps on the objects themselves and the endpoints' wake-up events. Past the most one
//! system call takes (128 words on Linux, 64 handles on Windows), or on a Linux kernel
//! without `futex_waitv`, the sleep covers the first objects and ends every millisecond to
//! look at the rest. A waiter also looks again every 100 ms, to find a mutex whose owner
//! died or an endpoint whose peer did.
//!
//! Async: the waits have async methods (`NamedEvent::wait_async`,
//! `NamedSemaphore::acquire_async`, `NamedMutex::lock_async`, `Receiver::recv_async`,
//! `Sender::send_async` and `reserve_async`, `Subscriber::recv_async`, `Inbox::recv_async`,
//! `Server::recv_request_async`, `Client::send_request_async` and `recv_response_async`)
//! whose futures run under any executor, or [`block_on`]. (A topic's publisher, an inbox's
//! sender and a server's responses wait for room only through their blocking and
//! `_timeout` calls, and `SharedMutex` has no async lock yet.) A pending future blocks no thread: the process's waiter threads (one per
//! 127 pending futures on Linux, 63 on Windows, started as needed) sleep for them all at
//! once and wake a future's waker when its object changes.
//! By default a pending future does not spin. A future on a channel or topic endpoint
//! set to [`WaitMode::Spin`](crate::channel::WaitMode::Spin) first spins through the
//! executor for up to 50 µs (it asks to be polled again at once; the executor runs its
//! other tasks in between), as a blocking receive spins before it sleeps, so that a
//! message that comes soon costs no wake-up; one set to
//! [`WaitMode::BusyPoll`](crate::channel::WaitMode::BusyPoll) never stops spinning.

mod asyncs;
pub(crate) mod future;
mod target;

use std::time::{Duration, Instant};

use crate::channel::{Receiver, Sender};
use crate::error::{Error, Result};
use crate::inbox::Inbox;
use crate::sync::{MutexGuard, NamedEvent, NamedMutex, NamedSemaphore};
use crate::sys::{self, SyncRef, Took, Woke};
use crate::topic::Subscriber;
use target::{BUSY_POLL_SLICE, Item};

/// How often a waiter runs the checks that cost a system call: whether a mutex's owner
/// or an endpoint's peer died.
const CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// An object a wait on many objects can wait for.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::wait::{Target, Waitable};
/// let m = filemap::sync::NamedMutex::create_new("waitable-demo")?;
/// assert!(matches!(m.target(), Target::Mutex(_)));
/// # Ok::<(), filemap::Error>(())
/// ```
pub trait Waitable {
    /// What to wait for.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::Sender;
    /// use filemap::sync::{EventReset, NamedEvent};
    /// use filemap::wait::{Target, Waitable};
    /// let e = NamedEvent::create_new("doc-wait-target-event", EventReset::Auto, false)?;
    /// assert!(matches!(e.target(), Target::Event(t) if std::ptr::eq(t, &e)));
    /// let tx = Sender::create_or_open("doc-wait-target-channel", 4096)?;
    /// assert!(matches!(tx.target(), Target::Sender(_, 1))); // room for one byte
    /// # Ok::<(), filemap::Error>(())
    /// ```
    fn target(&self) -> Target<'_>;
}

/// What a wait waits for, and what it takes when it is ready. Every object that can be
/// waited on says which through [`Waitable::target`]; `Target::Sender` is the one to build
/// by hand, to wait for room for a message of a given length.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use std::time::Duration;
/// use filemap::channel::Sender;
/// use filemap::wait::{wait_any, Target, Waitable};
/// let tx = Sender::create_or_open("target-demo", 4096)?;
/// let room_for_100 = Target::Sender(&tx, 100);
/// let ready = wait_any(&[&room_for_100 as &dyn Waitable], Some(Duration::from_secs(1)))?;
/// assert_eq!(ready.index, 0); // an empty ring has room
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Target<'a> {
    /// The event is set (an auto-reset event's signal is taken).
    Event(&'a NamedEvent),
    /// The semaphore has a unit (which is taken).
    Semaphore(&'a NamedSemaphore),
    /// The mutex is free, or its owner died (it is locked for this thread).
    Mutex(&'a NamedMutex),
    /// A message is there (or the sender is gone, or has just wrapped around the ring:
    /// see the module's docs).
    Receiver(&'a Receiver),
    /// There is room for a message of this many bytes (or the receiver is gone, or a send
    /// of that many bytes would fail at once: longer than the longest message). For a
    /// message that must go to the ring's start (it does not fit before the ring's end),
    /// first room for the wrap marker at the end: a [`try_send`](Sender::try_send) then
    /// publishes the marker, and may find no room yet at the start, which the receiver
    /// frees once it has passed the marker; wait again then. (The async sends take both
    /// steps themselves.)
    Sender(&'a Sender, usize),
    /// A message is there, or messages were missed (or the publisher is gone, or has
    /// just wrapped around the ring).
    Subscriber(&'a Subscriber),
    /// A message from some sender is there (or every sender that came is gone, or one
    /// has just wrapped around its ring); a service's server waits for requests so
    /// (but clients leaving do not make it ready).
    Inbox(&'a Inbox),
}

impl Waitable for Target<'_> {
    fn target(&self) -> Target<'_> {
        *self
    }
}

impl Waitable for NamedEvent {
    fn target(&self) -> Target<'_> {
        Target::Event(self)
    }
}

impl Waitable for NamedSemaphore {
    fn target(&self) -> Target<'_> {
        Target::Semaphore(self)
    }
}

impl Waitable for NamedMutex {
    fn target(&self) -> Target<'_> {
        Target::Mutex(self)
    }
}

impl Waitable for Receiver {
    fn target(&self) -> Target<'_> {
        Target::Receiver(self)
    }
}

impl Waitable for Sender {
    fn target(&self) -> Target<'_> {
        Target::Sender(self, 1)
    }
}

impl Waitable for Subscriber {
    fn target(&self) -> Target<'_> {
        Target::Subscriber(self)
    }
}

impl Waitable for Inbox {
    fn target(&self) -> Target<'_> {
        Target::Inbox(self)
    }
}

impl Waitable for crate::service::Server {
    fn target(&self) -> Target<'_> {
        Target::Inbox(self.requests())
    }
}

/// What a wait took from an object that was ready.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::sync::{EventReset, NamedEvent, NamedMutex};
/// use filemap::wait::{wait_all, Taken};
/// let event = NamedEvent::create_new("taken-demo-event", EventReset::Auto, true)?;
/// let mutex = NamedMutex::create_new("taken-demo-mutex")?;
/// let taken = wait_all(&[&event, &mutex], None)?;
/// assert!(matches!(taken[0], Taken::Signal)); // the event reset itself
/// assert!(matches!(&taken[1], Taken::Lock(guard) if !guard.abandoned()));
/// drop(taken); // unlocks the mutex
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "a lock taken by the wait is released when this is dropped"]
pub enum Taken<'a> {
    /// An event's signal (an auto-reset event reset itself) or a semaphore's unit.
    Signal,
    /// The mutex, locked for this thread.
    Lock(MutexGuard<'a>),
    /// An endpoint is ready: nothing was taken.
    Ready,
}

impl Taken<'_> {
    /// Whether this is a mutex whose previous owner died holding it (`WAIT_ABANDONED`).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::NamedMutex;
    /// use filemap::wait::wait_any;
    /// use std::time::Duration;
    /// let m = NamedMutex::create_new("doc-wait-taken-abandoned")?;
    /// // A thread that exits holding the lock abandons it, as a process that dies does.
    /// std::thread::scope(|s| s.spawn(|| m.lock_unguarded(None).map(|_| ())).join().unwrap())?;
    /// let ready = wait_any(&[&m], Some(Duration::from_secs(5)))?;
    /// assert!(ready.taken.abandoned());
    /// drop(ready); // unlocks
    /// assert!(!wait_any(&[&m], Some(Duration::from_secs(5)))?.taken.abandoned());
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn abandoned(&self) -> bool {
        matches!(self, Taken::Lock(guard) if guard.abandoned())
    }
}

/// Which object [`wait_any`] found ready, and what it took.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::sync::{EventReset, NamedEvent, NamedSemaphore};
/// use filemap::wait::{wait_any, AnyReady, Taken};
/// let event = NamedEvent::create_new("any-ready-demo-event", EventReset::Manual, false)?;
/// let units = NamedSemaphore::create_new("any-ready-demo-units", 1, 1)?;
/// let AnyReady { index, taken } = wait_any(&[&event, &units], None)?;
/// assert_eq!(index, 1); // the semaphore had a unit, which the wait took
/// assert!(matches!(taken, Taken::Signal));
/// assert!(!units.try_acquire()?); // its only unit is gone
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "a lock taken by the wait is released when this is dropped"]
pub struct AnyReady<'a> {
    /// The object's index in the slice (the lowest of those ready).
    pub index: usize,
    /// What was taken from it.
    pub taken: Taken<'a>,
}

/// Waits until one of `objects` is ready and takes it (see the [module](self)'s docs);
/// `timeout` `None` waits as long as it takes. [`Error::Timeout`] if none was ready in
/// time; [`Error::WouldDeadlock`] for a mutex this thread holds;
/// [`Error::InvalidSetting`] for an empty slice.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::sync::{EventReset, NamedEvent, NamedMutex};
/// use filemap::wait::wait_any;
/// use std::time::Duration;
///
/// let quit = NamedEvent::create_new("any-demo-quit", EventReset::Auto, false)?;
/// let lock = NamedMutex::create_new("any-demo-lock")?;
/// let ready = wait_any(&[&quit, &lock], None)?;
/// assert_eq!(ready.index, 1);
/// assert!(!ready.taken.abandoned()); // the lock is held until `ready` is dropped
/// drop(ready);
/// quit.set()?;
/// assert_eq!(wait_any(&[&quit, &lock], Some(Duration::ZERO))?.index, 0);
/// # Ok::<(), filemap::Error>(())
/// ```
pub fn wait_any<'a>(
    objects: &[&'a dyn Waitable],
    timeout: Option<Duration>,
) -> Result<AnyReady<'a>> {
    let targets = checked_targets(objects, false)?;
    let items: Vec<Item<'a>> = targets.iter().map(Item::of).collect();
    let deadline = timeout.and_then(sys::deadline_after);
    let polled = items.iter().any(Item::polled);
    // Synchronisation objects alone, where the kernel keeps the waiter's place in their
    // queues while it sleeps (Windows): one sleep for the whole wait.
    let whole = sys::waits::SYNC_SLEEPS_WHOLE
        && items.len() <= sys::waits::MAX_SLEEP_TARGETS
        && items.iter().all(|item| matches!(item, Item::Sync(..)));
    let mut last_check: Option<Instant> = None;
    // The objects whose wakes the last sleep may have taken, and where that sleep was: if
    // the wait takes another, their wakes are passed on (each may have been the only one).
    let mut woken: Vec<Woken> = Vec::new();
    let mut slept = false;
    loop {
        let now = Instant::now();
        let check = last_check.is_none_or(|at| now.duration_since(at) >= CHECK_INTERVAL);
        if check {
            last_check = Some(now);
        }
        let taken = take_first(&targets, &items, check, slept);
        if let Some(ready) = settle_on(&items, &mut woken, taken)? {
            return Ok(ready);
        }
        let mut slice = match deadline {
            None if whole => Duration::MAX,
            None => CHECK_INTERVAL,
            Some(d) => match d.checked_duration_since(now) {
                Some(left) if !left.is_zero() && whole => left,
                Some(left) if !left.is_zero() => left.min(CHECK_INTERVAL),
                _ => {
                    settle(&items, &mut woken, None);
                    return Err(timed_out(objects.len(), timeout));
                }
            },
        };
        if polled {
            slice = slice.min(BUSY_POLL_SLICE);
        }
        let armed: Vec<sys::WaitTarget> = items.iter().map(Item::arm).collect();
        // The look after arming: whatever changes from here on wakes the sleep.
        let found = take_first(&targets, &items, false, slept);
        let confirmed: Option<Vec<sys::WaitTarget>> = match found {
            Ok(None) => items
                .iter()
                .zip(&armed)
                .map(|(i, t)| i.confirm(*t))
                .collect(),
            _ => None,
        };
        let woke = match &confirmed {
            Some(targets) => sys::waits::sleep_on(targets, slice),
            None => Ok(Woke::Changed(None)),
        };
        items.iter().for_each(Item::disarm);
        // What the sleep slept on, if it slept (a mutex noted free, noted again).
        let armed = confirmed.unwrap_or(armed);
        if let Some(ready) = settle_on(&items, &mut woken, found)? {
            return Ok(ready);
        }
        slept = true;
        // A wake from an earlier sleep that was not passed on is dropped here: the look
        // since found that object not ready (passing it on now could wake this sleep
        // itself, again and again).
        match woke.inspect_err(|_| settle(&items, &mut woken, None))? {
            Woke::Took(index, took) => {
                settle(&items, &mut woken, Some(index));
                return Ok(AnyReady {
                    index,
                    taken: Item::taken(&targets[index], took),
                });
            }
            Woke::Changed(Some(index)) => {
                // SAFETY: `items` borrow every object for 'a, and `armed` was readied on
                // them: their words are mapped.
                let with = unsafe { sys::waits::woken_with(&armed, index) };
                woken = with
                    .into_iter()
                    .map(|i| (i, armed[i], i == index))
                    .collect();
            }
            Woke::Changed(None) | Woke::TimedOut => woken.clear(),
        }
    }
}

/// After a look that took an object (or failed): if the last sleep ended on other
/// objects' words or events, passes those wakes on (each may have been the only one, meant
/// for another sleeper). A look that took nothing keeps the wakes: the wait sleeps again.
fn settle_on<'a>(
    items: &[Item<'a>],
    woken: &mut Vec<Woken>,
    look: Result<Option<AnyReady<'a>>>,
) -> Result<Option<AnyReady<'a>>> {
    match &look {
        Ok(Some(ready)) => settle(items, woken, Some(ready.index)),
        Ok(None) => {}
        Err(_) => settle(items, woken, None),
    }
    look
}

/// The wait ends having taken the object at `took` (`None`: none): the wakes the last
/// sleep may have taken from other objects are passed on.
fn settle(items: &[Item<'_>], woken: &mut Vec<Woken>, took: Option<usize>) {
    for (index, target, reported) in woken.drain(..).filter(|(i, _, _)| Some(*i) != took) {
        items[index].pass_on(&target, reported);
    }
}

/// An object whose wake the last sleep may have taken: its index, the target slept on, and
/// whether the sleep was said to end on it (not only found changed).
type Woken = (usize, sys::WaitTarget, bool);

/// The first object ready now, taken.
fn take_first<'a>(
    targets: &[Target<'a>],
    items: &[Item<'a>],
    check: bool,
    slept: bool,
) -> Result<Option<AnyReady<'a>>> {
    for (index, (target, item)) in targets.iter().zip(items).enumerate() {
        if let Some(took) = item.take_now(check, slept)? {
            return Ok(Some(AnyReady {
                index,
                taken: Item::taken(target, took),
            }));
        }
    }
    Ok(None)
}

/// Refuses `objects` as [`wait_any`] (`all` false) or [`wait_all`] (`all` true) would
/// before it waits, without waiting or taking anything: for a caller with something to
/// do first only if the wait goes ahead (a binding that gives a held message back before
/// a wait on its receiver, say): no objects, a mutex this thread holds, for `wait_all` an
/// object twice or (on Windows) more than 64. What the wait itself finds is not looked at
/// (an endpoint copied into a child by `fork`, refused once the wait looks at it, say).
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::sync::{EventReset, NamedEvent, NamedMutex};
/// use filemap::wait::check;
///
/// let go = NamedEvent::create_new("check-demo-go", EventReset::Auto, false)?;
/// let lock = NamedMutex::create_new("check-demo-lock")?;
/// check(&[&go, &lock], false)?; // a wait would go ahead (and nothing was taken)
/// assert!(lock.try_lock()?.is_some());
/// let _guard = lock.lock()?;
/// assert!(matches!(check(&[&go, &lock], false), Err(filemap::Error::WouldDeadlock { .. })));
/// assert!(matches!(check(&[&go, &go], true), Err(filemap::Error::InvalidSetting { .. })));
/// assert!(matches!(check(&[], false), Err(filemap::Error::InvalidSetting { .. })));
/// # Ok::<(), filemap::Error>(())
/// ```
pub fn check(objects: &[&dyn Waitable], all: bool) -> Result<()> {
    checked_targets(objects, all).map(drop)
}

/// Waits until all of `objects` are ready together and takes them all (see the
/// [module](self)'s docs): what was taken from each, in order. [`Error::Timeout`] if they
/// were not in time; [`Error::WouldDeadlock`] for a mutex this thread holds;
/// [`Error::InvalidSetting`] for an empty slice or one object twice, by any names (on Windows, also
/// for more than 64 events, semaphores and mutexes: the most one system wait takes
/// together).
///
/// It waits first for the endpoints (only this process takes what makes them ready, so
/// they stay ready), then takes the events, semaphores and mutexes together: on Windows in
/// one `WaitForMultipleObjects`; on Linux only once they all look ready, giving back at
/// once what it took if one was gone by then. Each abandoned mutex is said to be (its
/// [`Taken::abandoned`]); on Windows, where that wait names only one of them, every mutex
/// of the set is said to be abandoned when one was (a mutex whose state is checked for
/// nothing costs a check; one whose damage went unsaid would cost more).
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::sync::{EventReset, NamedEvent, NamedMutex};
/// use filemap::wait::wait_all;
/// use std::time::Duration;
///
/// let go = NamedEvent::create_new("all-demo-go", EventReset::Manual, false)?;
/// let lock = NamedMutex::create_new("all-demo-lock")?;
/// let timeout = Some(Duration::from_millis(10));
/// assert!(matches!(wait_all(&[&go, &lock], timeout), Err(filemap::Error::Timeout { .. })));
/// assert!(lock.try_lock()?.is_some()); // the failed wait held nothing
/// go.set()?;
/// let taken = wait_all(&[&go, &lock], timeout)?;
/// assert_eq!(taken.len(), 2);
/// # Ok::<(), filemap::Error>(())
/// ```
pub fn wait_all<'a>(
    objects: &[&'a dyn Waitable],
    timeout: Option<Duration>,
) -> Result<Vec<Taken<'a>>> {
    let targets = checked_targets(objects, true)?;
    let items: Vec<Item<'a>> = targets.iter().map(Item::of).collect();
    let deadline = timeout.and_then(sys::deadline_after);
    // The endpoints first, one after another: each stays ready once it is.
    for (target, item) in targets.iter().zip(&items) {
        if matches!(item, Item::Endpoint { .. }) {
            let one: [&dyn Waitable; 1] = [target];
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let _ready = wait_any(&one, left).map_err(|e| match e {
                Error::Timeout { .. } => timed_out(objects.len(), timeout),
                e => e,
            })?;
        }
    }
    let sync: Vec<SyncRef<'_>> = items
        .iter()
        .filter_map(|item| match item {
            Item::Sync(object, _) => Some(*object),
            Item::Endpoint { .. } => None,
        })
        .collect();
    let Some(mut took) = sys::waits::take_all(&sync, deadline)? else {
        return Err(timed_out(objects.len(), timeout));
    };
    let mut took = took.drain(..);
    Ok(targets
        .iter()
        .zip(&items)
        .map(|(target, item)| match item {
            Item::Sync(..) => Item::taken(target, took.next().unwrap_or(Took::Signal)),
            Item::Endpoint { .. } => Taken::Ready,
        })
        .collect())
}

/// Runs `future` to completion on this thread, parking the thread while it is pending:
/// for synchronous code that holds a filemap future, and for the examples. Any executor
/// runs filemap's futures as well (tokio, smol, async-std): they need no runtime.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::sync::NamedSemaphore;
/// let jobs = NamedSemaphore::create_new("block-on-demo", 0, 1)?;
/// let other = std::thread::spawn(|| {
///     let jobs = NamedSemaphore::open("block-on-demo")?;
///     std::thread::sleep(std::time::Duration::from_millis(20));
///     jobs.release(1)
/// });
/// filemap::wait::block_on(jobs.acquire_async())?; // sleeps until the release
/// other.join().unwrap()?;
/// # Ok::<(), filemap::Error>(())
/// ```
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}

/// The objects' targets, checked: at least one, no mutex this thread holds, and for
/// `wait_all` no synchronisation object twice (it could never take both) and no more of
/// them than the system takes at once.
fn checked_targets<'a>(objects: &[&'a dyn Waitable], all: bool) -> Result<Vec<Target<'a>>> {
    if objects.is_empty() {
        return Err(Error::InvalidSetting {
            setting: "objects to wait for",
            value: 0,
            allowed: "at least one",
        });
    }
    let targets: Vec<Target<'a>> = objects.iter().map(|o| o.target()).collect();
    for (index, target) in targets.iter().enumerate() {
        if let Target::Mutex(mutex) = target {
            mutex.refuse_relock()?;
        }
        let object = sync_object(target);
        let repeated = |earlier: &Target<'_>| match (object, sync_object(earlier)) {
            (Some(a), Some(b)) => a.same_object(b),
            _ => false,
        };
        if all && targets[..index].iter().any(repeated) {
            return Err(Error::InvalidSetting {
                setting: "wait_all's object at index",
                value: index as u64,
                allowed: "it repeats an object named before it (each event, semaphore and \
                          mutex may be waited for once)",
            });
        }
    }
    if all {
        // Before any wait: a set the system cannot take at once is refused now, not once
        // the endpoints are ready.
        let sync_objects = targets.iter().filter_map(sync_object).count();
        sys::waits::check_take_all(sync_objects)?;
    }
    Ok(targets)
}

/// A synchronisation object's system object; `None` for an endpoint.
fn sync_object<'a>(target: &Target<'a>) -> Option<sys::SyncRef<'a>> {
    match *target {
        Target::Event(event) => Some(sys::SyncRef::Event(event.object())),
        Target::Semaphore(semaphore) => Some(sys::SyncRef::Semaphore(semaphore.object())),
        Target::Mutex(mutex) => Some(sys::SyncRef::Mutex(mutex.object())),
        _ => None,
    }
}

fn timed_out(count: usize, timeout: Option<Duration>) -> Error {
    Error::Timeout {
        what: format!("{count} objects"),
        after: timeout.unwrap_or(Duration::MAX),
    }
}
