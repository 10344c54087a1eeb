//! Linux synchronisation objects, in the data area of namespace entries:
//!
//! - mutexes: a process-shared, robust, error-checking pthread mutex (`EOWNERDEAD` is an
//!   abandoned mutex, made consistent at once and reported to the new owner);
//! - events and semaphores: 32-bit words with `futex` wait/wake (never
//!   `FUTEX_PRIVATE_FLAG`: the waiters are in other processes). Waiters count themselves,
//!   so `set` / `release` make no system call when nobody sleeps.
//!
//! Data area layout (from the entry's data offset): the words below in the first
//! [`SYNC_AREA`] bytes, then the user's value for shared mutexes.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rustix::thread::futex;

use super::entry::{create_entry, open_entry, Entry};
use super::RawView;
use crate::error::{Error, Result};
use crate::header::{Header, SYNC_AREA};
use crate::name::Name;
use crate::sys::{CreateMode, Locked};
use crate::vocabulary::{Access, Disposition, Kind, Side};

/// An entry's data area, mapped read-write for as long as the object is open.
#[derive(Debug)]
pub(crate) struct SyncMemory {
    view: RawView,
    len: u64,
    // Keeps the object alive; dropped after the view.
    entry: Entry,
    identity: u64,
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
            view,
            len: header.size,
            entry,
            identity,
        })
    }

    fn word(&self, index: usize) -> &AtomicU32 {
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

    /// Sleeps while `word` holds `expected` (a futex; `_side` matters on Windows).
    pub(crate) fn wait_word(
        &self,
        _side: Side,
        word: &AtomicU32,
        expected: u32,
        timeout: Duration,
    ) {
        futex_wait(word, expected, Some(timeout));
    }

    /// Wakes the sleepers on `word`.
    pub(crate) fn wake_word(&self, _side: Side, word: &AtomicU32) {
        futex_wake(word, i32::MAX as u32);
    }

    /// The user's data, right after the synchronisation words.
    pub(crate) fn data(&self) -> *mut u8 {
        // SAFETY: the data area is SYNC_AREA bytes plus the user's value.
        unsafe { self.view.ptr().add(SYNC_AREA) }
    }

    /// Identifies the object within this process (for detecting relocking).
    pub(crate) fn identity(&self) -> u64 {
        self.identity
    }
}

/// Creates (or opens) a synchronisation entry whose data area `init` prepares.
pub(crate) fn create_sync(
    name: &Name,
    header: &Header,
    mode: CreateMode,
    init: &dyn Fn(*mut u8) -> Result<()>,
) -> Result<(SyncMemory, Header, Disposition)> {
    let (entry, header, disposition) = create_entry(name, header, mode, Some(init))?;
    Ok((SyncMemory::map(entry, &header, name)?, header, disposition))
}

/// Opens a synchronisation entry (read-write: waiting writes to the words too).
pub(crate) fn open_sync(name: &Name) -> Result<(SyncMemory, Header)> {
    let (entry, header) = open_entry(name, true)?;
    Ok((SyncMemory::map(entry, &header, name)?, header))
}

fn pthread_check(what: &'static str, r: libc::c_int) -> Result<()> {
    if r == 0 {
        Ok(())
    } else {
        Err(Error::io(
            what,
            "a robust mutex",
            std::io::Error::from_raw_os_error(r),
        ))
    }
}

/// Initialises a process-shared, robust, error-checking mutex at `at`.
pub(crate) fn init_mutex(at: *mut u8) -> Result<()> {
    // SAFETY: `at` points to SYNC_AREA writable bytes (>= size_of pthread_mutex_t), page
    // aligned, in an entry no other process can open yet; the attribute object is local.
    unsafe {
        let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
        pthread_check("initialise", libc::pthread_mutexattr_init(&mut attr))?;
        let result = (|| {
            pthread_check(
                "initialise",
                libc::pthread_mutexattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED),
            )?;
            pthread_check(
                "initialise",
                libc::pthread_mutexattr_setrobust(&mut attr, libc::PTHREAD_MUTEX_ROBUST),
            )?;
            pthread_check(
                "initialise",
                libc::pthread_mutexattr_settype(&mut attr, libc::PTHREAD_MUTEX_ERRORCHECK),
            )?;
            pthread_check(
                "initialise",
                libc::pthread_mutex_init(at.cast::<libc::pthread_mutex_t>(), &attr),
            )
        })();
        libc::pthread_mutexattr_destroy(&mut attr);
        result
    }
}

const _: () = assert!(std::mem::size_of::<libc::pthread_mutex_t>() <= SYNC_AREA);

/// The longest a waiter (mutex, event or semaphore) sleeps in the kernel before checking
/// the object again.
const RECHECK_INTERVAL: Duration = Duration::from_millis(100);
/// How many times a waiter tries the mutex again, spinning, before it sleeps.
const LOCK_SPINS: u32 = 100;

impl SyncMemory {
    fn mutex(&self) -> *mut libc::pthread_mutex_t {
        self.view.ptr().cast()
    }

    /// Locks the mutex; `None` on timeout (or, with a zero timeout, if it is held).
    ///
    /// A waiter never sleeps in the kernel for longer than [`RECHECK_INTERVAL`] at a time:
    /// glibc's robust mutexes can lose a wake-up when the waiter an unlock woke is killed
    /// before it takes the mutex and another thread takes it first without marking it as
    /// waited for (the soak test found waiters asleep for good that way). Sleeping in
    /// slices bounds what a lost wake-up costs; an uncontended lock makes no system call.
    pub(crate) fn lock(&self, timeout: Option<Duration>, name: &Name) -> Result<Option<Locked>> {
        let deadline = timeout.map(|d| Instant::now() + d);
        let mut spins = 0;
        let r = loop {
            // SAFETY: the mutex was initialised by `init_mutex` before the entry got its
            // name and stays mapped while `self` lives.
            let r = unsafe { libc::pthread_mutex_trylock(self.mutex()) };
            if r != libc::EBUSY || timeout.is_some_and(|d| d.is_zero()) {
                break r;
            }
            // A mutex held for a moment is usually free again within a few hundred
            // nanoseconds: spin briefly before sleeping (a timed sleep arms a timer).
            if spins < LOCK_SPINS {
                spins += 1;
                std::hint::spin_loop();
                continue;
            }
            let slice = match deadline {
                None => RECHECK_INTERVAL,
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left.min(RECHECK_INTERVAL),
                    _ => break libc::ETIMEDOUT,
                },
            };
            let until = std::time::SystemTime::now() + slice;
            let since = until
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            let ts = libc::timespec {
                tv_sec: since.as_secs() as libc::time_t,
                tv_nsec: since.subsec_nanos() as libc::c_long,
            };
            // SAFETY: as above.
            match unsafe { libc::pthread_mutex_timedlock(self.mutex(), &ts) } {
                libc::ETIMEDOUT => continue,
                r => break r,
            }
        };
        match r {
            0 => Ok(Some(Locked::Normally)),
            libc::EOWNERDEAD => {
                // SAFETY: this thread owns the mutex now (EOWNERDEAD grants ownership).
                let repaired = unsafe { libc::pthread_mutex_consistent(self.mutex()) };
                if let Err(e) = pthread_check("repair", repaired) {
                    // No guard will unlock it: give it up now. Unlocking a mutex that was
                    // not made consistent leaves it unrecoverable, which every later lock
                    // reports (`Corrupt`), instead of a mutex held for good.
                    self.unlock();
                    return Err(e);
                }
                Ok(Some(Locked::Abandoned))
            }
            libc::ETIMEDOUT | libc::EBUSY => Ok(None),
            libc::EDEADLK => Err(Error::WouldDeadlock {
                name: name.to_string(),
            }),
            libc::ENOTRECOVERABLE => Err(Error::Corrupt {
                name: name.to_string(),
                problem: "the mutex is not recoverable".into(),
            }),
            r => Err(Error::io(
                "lock",
                name,
                std::io::Error::from_raw_os_error(r),
            )),
        }
    }

    pub(crate) fn unlock(&self) {
        // SAFETY: called only by the guard of a lock this thread holds.
        unsafe { libc::pthread_mutex_unlock(self.mutex()) };
    }
}

fn futex_wait(word: &AtomicU32, expected: u32, remaining: Option<Duration>) {
    let ts = remaining.map(|d| rustix::fs::Timespec {
        tv_sec: d.as_secs() as _,
        tv_nsec: d.subsec_nanos() as _,
    });
    // Spurious returns (EAGAIN, EINTR, ETIMEDOUT) are handled by the callers' loops.
    let _ = futex::wait(word, futex::Flags::empty(), expected, ts.as_ref());
}

fn futex_wake(word: &AtomicU32, count: u32) {
    let _ = futex::wake(word, futex::Flags::empty(), count);
}

/// Waits until `try_take` succeeds, sleeping on `word` while it is `idle`, for at most
/// [`RECHECK_INTERVAL`] at a time. `false` if the timeout passed first.
fn wait_until(
    word: &AtomicU32,
    waiters: &AtomicU32,
    idle: u32,
    timeout: Option<Duration>,
    try_take: impl Fn() -> bool,
) -> bool {
    if try_take() {
        return true;
    }
    let deadline = timeout.map(|d| Instant::now() + d);
    for _ in 0..64 {
        std::hint::spin_loop();
        if try_take() {
            return true;
        }
    }
    loop {
        let remaining = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(r) if !r.is_zero() => Some(r),
                _ => return try_take(),
            },
            None => None,
        };
        waiters.fetch_add(1, Ordering::SeqCst);
        if try_take() {
            waiters.fetch_sub(1, Ordering::SeqCst);
            return true;
        }
        // Sleep in slices: a waiter that a `set` or `release` woke may be killed before it
        // takes what it was woken for, and nobody would wake the others for it.
        let slice = remaining.map_or(RECHECK_INTERVAL, |r| r.min(RECHECK_INTERVAL));
        futex_wait(word, idle, Some(slice));
        waiters.fetch_sub(1, Ordering::SeqCst);
        if try_take() {
            return true;
        }
    }
}

// Event words: 0 state (1 signalled), 1 sleeping waiters, 2 manual reset (1) or auto (0).
const EVENT_STATE: usize = 0;
const EVENT_WAITERS: usize = 1;
const EVENT_MANUAL: usize = 2;

pub(crate) fn init_event(manual: bool, signalled: bool) -> impl Fn(*mut u8) -> Result<()> {
    move |at| {
        // SAFETY: `at` is the SYNC_AREA of a new entry nobody else can see yet.
        unsafe {
            let words = at.cast::<u32>();
            words.add(EVENT_STATE).write(signalled as u32);
            words.add(EVENT_WAITERS).write(0);
            words.add(EVENT_MANUAL).write(manual as u32);
        }
        Ok(())
    }
}

impl SyncMemory {
    pub(crate) fn event_is_manual(&self) -> bool {
        self.word(EVENT_MANUAL).load(Ordering::Relaxed) == 1
    }

    pub(crate) fn event_set(&self) {
        let state = self.word(EVENT_STATE);
        state.store(1, Ordering::SeqCst);
        if self.word(EVENT_WAITERS).load(Ordering::SeqCst) > 0 {
            let n = if self.event_is_manual() {
                i32::MAX as u32
            } else {
                1
            };
            futex_wake(state, n);
        }
    }

    pub(crate) fn event_reset(&self) {
        self.word(EVENT_STATE).store(0, Ordering::SeqCst);
    }

    /// Waits until the event is set (and, for auto-reset events, takes the signal).
    pub(crate) fn event_wait(&self, timeout: Option<Duration>) -> bool {
        let state = self.word(EVENT_STATE);
        let manual = self.event_is_manual();
        wait_until(state, self.word(EVENT_WAITERS), 0, timeout, || {
            if manual {
                state.load(Ordering::SeqCst) == 1
            } else {
                state
                    .compare_exchange(1, 0, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
            }
        })
    }
}

// Semaphore words: 0 count, 1 sleeping waiters, 2 maximum.
const SEM_COUNT: usize = 0;
const SEM_WAITERS: usize = 1;
const SEM_MAX: usize = 2;

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

    /// Adds `n` to the count; `Err(count)` if that would pass the maximum.
    pub(crate) fn semaphore_release(&self, n: u32) -> std::result::Result<u32, u32> {
        let count = self.word(SEM_COUNT);
        let max = self.semaphore_max();
        let mut current = count.load(Ordering::SeqCst);
        loop {
            match current.checked_add(n) {
                Some(next) if next <= max => {
                    match count.compare_exchange(current, next, Ordering::SeqCst, Ordering::SeqCst)
                    {
                        Ok(_) => break,
                        Err(now) => current = now,
                    }
                }
                _ => return Err(current),
            }
        }
        if self.word(SEM_WAITERS).load(Ordering::SeqCst) > 0 {
            futex_wake(count, n);
        }
        Ok(current)
    }

    /// Takes one unit; `false` if the timeout passed first.
    pub(crate) fn semaphore_acquire(&self, timeout: Option<Duration>) -> bool {
        let count = self.word(SEM_COUNT);
        wait_until(count, self.word(SEM_WAITERS), 0, timeout, || {
            let mut c = count.load(Ordering::SeqCst);
            while c > 0 {
                match count.compare_exchange(c, c - 1, Ordering::SeqCst, Ordering::SeqCst) {
                    Ok(_) => return true,
                    Err(now) => c = now,
                }
            }
            false
        })
    }

    pub(crate) fn semaphore_count(&self) -> u32 {
        self.word(SEM_COUNT).load(Ordering::SeqCst)
    }
}

/// A named mutex, optionally with the user's data after it (shared mutexes).
#[derive(Debug)]
pub(crate) struct MutexObject {
    memory: SyncMemory,
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
            init_mutex(at)?;
            // SAFETY: the data area is SYNC_AREA bytes plus the user's value.
            init_data(unsafe { at.add(SYNC_AREA) });
            Ok(())
        };
        let (memory, header, disposition) = create_sync(name, header, mode, &init)?;
        Ok((MutexObject { memory }, header, disposition))
    }

    pub(crate) fn open(name: &Name, _expected: Kind) -> Result<(MutexObject, Header)> {
        let (memory, header) = open_sync(name)?;
        Ok((MutexObject { memory }, header))
    }

    pub(crate) fn lock(&self, timeout: Option<Duration>, name: &Name) -> Result<Option<Locked>> {
        self.memory.lock(timeout, name)
    }

    pub(crate) fn unlock(&self) {
        self.memory.unlock()
    }

    pub(crate) fn data(&self) -> *mut u8 {
        self.memory.data()
    }

    pub(crate) fn identity(&self) -> u64 {
        self.memory.identity()
    }

    /// A handle that keeps the object alive in another process.
    pub(crate) fn handoff(&self) -> Result<super::OsHandle> {
        self.memory.entry.handoff()
    }
}

/// A named event (manual or auto reset).
#[derive(Debug)]
pub(crate) struct EventObject {
    memory: SyncMemory,
}

impl EventObject {
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
        let (memory, header) = open_sync(name)?;
        Ok((EventObject { memory }, header))
    }

    pub(crate) fn set(&self) -> Result<()> {
        self.memory.event_set();
        Ok(())
    }

    pub(crate) fn reset(&self) -> Result<()> {
        self.memory.event_reset();
        Ok(())
    }

    pub(crate) fn wait(&self, timeout: Option<Duration>) -> Result<bool> {
        Ok(self.memory.event_wait(timeout))
    }

    /// Whether the event is manual-reset, if the system says.
    pub(crate) fn is_manual(&self) -> Option<bool> {
        Some(self.memory.event_is_manual())
    }
}

/// A named semaphore with a maximum count.
#[derive(Debug)]
pub(crate) struct SemaphoreObject {
    memory: SyncMemory,
}

impl SemaphoreObject {
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
        let (memory, header) = open_sync(name)?;
        Ok((SemaphoreObject { memory }, header))
    }

    /// Adds `n`; `Ok(Err(max))` if that would pass the maximum.
    pub(crate) fn release(&self, n: u32) -> Result<std::result::Result<u32, Option<u32>>> {
        Ok(self
            .memory
            .semaphore_release(n)
            .map_err(|_| Some(self.memory.semaphore_max())))
    }

    pub(crate) fn acquire(&self, timeout: Option<Duration>) -> Result<bool> {
        Ok(self.memory.semaphore_acquire(timeout))
    }

    /// The current count, if the system says.
    pub(crate) fn count(&self) -> Option<u32> {
        Some(self.memory.semaphore_count())
    }

    pub(crate) fn max(&self) -> Option<u32> {
        Some(self.memory.semaphore_max())
    }
}

const F_OFD_GETLK: libc::c_int = 36;
const F_OFD_SETLK: libc::c_int = 37;

fn ofd_lock_request(byte: u8, kind: libc::c_short) -> libc::flock {
    // SAFETY: flock is plain data; zero is a valid starting value.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = byte as libc::off_t;
    fl.l_len = 1;
    fl
}

/// An endpoint's claim on its role: an open-file-description lock on one byte of the
/// entry, released by the kernel if the process dies.
#[derive(Debug)]
pub(crate) struct EndpointLock {
    _fd: std::os::fd::OwnedFd,
}

impl SyncMemory {
    /// A new open file description of the entry, for endpoint locks.
    fn fresh_description(&self) -> Result<std::os::fd::OwnedFd> {
        use std::os::fd::AsRawFd;
        rustix::fs::open(
            format!("/proc/self/fd/{}", self.entry.fd().as_raw_fd()),
            rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| Error::io("open for an endpoint lock", "a channel", super::errno(e)))
    }

    /// Takes endpoint `byte`'s lock; `None` if a live endpoint holds it.
    pub(crate) fn lock_endpoint(&self, byte: u8) -> Result<Option<EndpointLock>> {
        use std::os::fd::AsRawFd;
        let fd = self.fresh_description()?;
        let fl = ofd_lock_request(byte, libc::F_WRLCK as libc::c_short);
        // SAFETY: fcntl with a valid descriptor and a pointer to a local flock.
        let r = unsafe { libc::fcntl(fd.as_raw_fd(), F_OFD_SETLK, &fl) };
        if r == 0 {
            return Ok(Some(EndpointLock { _fd: fd }));
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EACCES) => Ok(None),
            _ => Err(Error::io("lock an endpoint of", "a channel", err)),
        }
    }

    /// Whether some process holds endpoint `byte`'s lock.
    pub(crate) fn endpoint_alive(&self, byte: u8) -> bool {
        use std::os::fd::AsRawFd;
        let Ok(fd) = self.fresh_description() else {
            return true; // cannot tell: do not declare anyone dead
        };
        let mut fl = ofd_lock_request(byte, libc::F_WRLCK as libc::c_short);
        // SAFETY: fcntl with a valid descriptor and a pointer to a local flock.
        let r = unsafe { libc::fcntl(fd.as_raw_fd(), F_OFD_GETLK, &mut fl) };
        r != 0 || fl.l_type != libc::F_UNLCK as libc::c_short
    }
}

/// A channel entry: its data area mapped, and the endpoint locks.
pub(crate) type ChannelMemory = SyncMemory;
