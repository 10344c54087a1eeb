//! Liveness without pids: a process proves it is alive by holding an open-file-description
//! byte-range lock (`F_OFD_SETLK`) on one byte of an entry, which the kernel releases when
//! the last descriptor of that description closes, also when the process dies. Others test
//! the byte with `F_OFD_GETLK` through the entry's own descriptor: every lock is taken
//! through a description of its holder's own, never through an entry's, so the entry's
//! sees every holder's (a test asks no system call but the `fcntl`: waits look every
//! 100 ms, and a thousand idle futures each look). This works across pid
//! namespaces and cannot be fooled by pid reuse; it is independent of the entry's lifetime
//! `flock`. Locks may lie past the end of the file, so any 63-bit offset can name one.
//!
//! A liveness lock is a write lock, which only a process that opened the entry for writing
//! can take, and the test asks about write locks only, so read access cannot fake a live
//! holder. (A reader's read lock can still stop a new holder from taking a byte: that is an
//! error for the one taking it, `EndpointTaken` or a failed open, never a hang.) Taking a
//! lock needs `/proc/thread-self/fd` (or `/proc/self/fd`) to open a description of its own
//! (without it, taking fails); a test that fails answers "alive".
//!
//! Used by the channel's endpoints (one byte per role) and by mutexes (a byte per handle,
//! named by the handle's token).
//!
//! A child made by `fork` (without `exec`) shares its parent's descriptions, and with them
//! the locks: its copies would keep a dead parent's handles looking alive for as long as
//! the child lived. So the descriptors holding locks are listed ([`HELD`]), and in a child
//! each is pointed at a placeholder right after the fork, before the child runs anything
//! else (`after_fork_in_child`): the parent's locks stay the parent's alone. (Only for
//! children made by the C library's `fork`, which runs fork handlers: not for a raw
//! `clone` or `_Fork`, nor for `vfork`, whose child must only `exec` or `_exit`.)

use std::cell::{Cell, UnsafeCell};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use crate::error::{Error, Result};

/// `fcntl` commands for open-file-description locks (Linux 3.15 and later).
const F_OFD_GETLK: libc::c_int = libc::F_OFD_GETLK;
const F_OFD_SETLK: libc::c_int = libc::F_OFD_SETLK;

/// A lock request of type `kind` (`F_WRLCK`, `F_RDLCK`) for the byte at `offset`.
fn byte_lock(offset: u64, kind: libc::c_int) -> libc::flock {
    // SAFETY: flock is plain data; all zeros is a valid value.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = offset as libc::off_t;
    fl.l_len = 1;
    fl
}

/// A new open file description of the entry open as `fd`: a lock taken through it is this
/// holder's alone (and the entry's own description stays free of locks, so that a test
/// through it sees every holder's).
fn fresh_description(fd: BorrowedFd<'_>) -> Result<OwnedFd> {
    rustix::fs::open(
        super::fd_path(fd.as_raw_fd()),
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| Error::io("open for a liveness lock", "an entry", super::errno(e)))
}

/// A held liveness lock; dropping it (or dying) releases it.
#[derive(Debug)]
pub(crate) struct LivenessLock {
    /// The description holding the lock (listed in [`HELD`] while it is open).
    fd: Option<OwnedFd>,
}

impl LivenessLock {
    /// Takes the lock on the byte at `offset` of the entry open as `entry`; `None` if a
    /// live holder has it.
    pub(crate) fn take(entry: BorrowedFd<'_>, offset: u64) -> Result<Option<LivenessLock>> {
        Self::take_as(entry, offset, libc::F_WRLCK)
    }

    /// Holds the byte at `offset` with a read lock, which keeps anyone from taking it (a
    /// liveness lock is a write lock) while no test sees it (they ask about write locks);
    /// `None` if a live holder has it. Other read locks (a reader's, another holder's of
    /// this kind) do not stand in its way.
    pub(crate) fn hold_off(entry: BorrowedFd<'_>, offset: u64) -> Result<Option<LivenessLock>> {
        Self::take_as(entry, offset, libc::F_RDLCK)
    }

    fn take_as(
        entry: BorrowedFd<'_>,
        offset: u64,
        kind: libc::c_int,
    ) -> Result<Option<LivenessLock>> {
        watch_forks();
        // Listed in the same turn as it is made: a fork meanwhile waits for the turn, so
        // that no child has a copy of a lock that is not listed.
        let mut held = HELD.turn();
        let fd = fresh_description(entry)?;
        let fl = byte_lock(offset, kind);
        // SAFETY: fcntl with a valid descriptor and a pointer to a local flock.
        let r = unsafe { libc::fcntl(fd.as_raw_fd(), F_OFD_SETLK, &fl) };
        if r == 0 {
            held.fds().push(fd.as_raw_fd());
            return Ok(Some(LivenessLock { fd: Some(fd) }));
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EACCES) => Ok(None),
            _ => Err(Error::io("take a liveness lock on", "an entry", err)),
        }
    }
}

impl Drop for LivenessLock {
    fn drop(&mut self) {
        // Taken off the list and closed in one turn: a fork between the two would leave
        // the child a copy of the lock that it does not let go of (or, the other way
        // round, point a descriptor number reused meanwhile at the placeholder).
        let mut held = HELD.turn();
        let fds = held.fds();
        if let Some(fd) = self.fd.take() {
            if let Some(at) = fds.iter().rposition(|&listed| listed == fd.as_raw_fd()) {
                fds.swap_remove(at);
            }
            drop(fd);
        }
    }
}

/// The descriptors through which this process holds liveness locks, behind a turn that
/// one thread has at a time: a lock's taking and listing, its closing and unlisting, and
/// a fork (taken by the forking thread before the fork, given back after it in parent
/// and child, `before_fork` and the `after_fork_*`).
struct Held {
    taken: AtomicBool,
    fds: UnsafeCell<Vec<RawFd>>,
}

// SAFETY: `fds` is touched only by the thread that has the turn (`Held::turn`, or the
// fork handlers, which have it).
unsafe impl Sync for Held {}

static HELD: Held = Held {
    taken: AtomicBool::new(false),
    fds: UnsafeCell::new(Vec::new()),
};

/// A descriptor (an `eventfd`, which needs no file system) that a child's copies of the
/// listed descriptors are pointed at: -1 until made.
static PLACEHOLDER: AtomicI32 = AtomicI32::new(-1);

/// Whether the fork handlers are registered.
static WATCHING: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// How many times this thread has the turn through `before_fork` (the handlers may be
    /// registered more than once, by threads that raced to register them).
    static FORK_TURNS: Cell<u32> = const { Cell::new(0) };
}

/// The turn at [`HELD`]'s list, while it lives.
struct Turn;

impl Held {
    /// Waits for the turn (held for a few system calls at most, by another thread).
    fn turn(&'static self) -> Turn {
        self.take_turn();
        Turn
    }

    fn take_turn(&self) {
        while self
            .taken
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::thread::yield_now();
        }
    }

    fn give_turn_back(&self) {
        self.taken.store(false, Ordering::Release);
    }
}

impl Turn {
    fn fds(&mut self) -> &mut Vec<RawFd> {
        // SAFETY: this thread has the turn (`self` lives), so no other touches the list;
        // the reference borrows `self` mutably, so it is the only one and does not
        // outlive the turn.
        unsafe { &mut *HELD.fds.get() }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        HELD.give_turn_back();
    }
}

/// Registers the fork handlers once (and makes the placeholder), before the first lock is
/// taken. Two threads racing may both register them: `before_fork` counts its turns. If
/// the system refuses either (no memory, no descriptor left), locks are taken all the
/// same, unwatched, and the next take tries again: a child forked meanwhile keeps the
/// locks' copies, as it did before there were handlers.
fn watch_forks() {
    if WATCHING.load(Ordering::Acquire) {
        return;
    }
    if PLACEHOLDER.load(Ordering::Acquire) < 0 {
        // SAFETY: makes a new descriptor, owned here.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if fd < 0 {
            return;
        }
        if PLACEHOLDER
            .compare_exchange(-1, fd, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            // SAFETY: `fd` was just made here and is owned by nobody else.
            drop(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
        }
    }
    // SAFETY: registers handlers that only take and give back the turn, and (in a child)
    // call `dup3`, which is async-signal-safe; they are never unregistered and live as
    // long as the program.
    let r = unsafe {
        libc::pthread_atfork(
            Some(before_fork),
            Some(after_fork_in_parent),
            Some(after_fork_in_child),
        )
    };
    if r == 0 {
        WATCHING.store(true, Ordering::Release);
    }
}

/// Before a fork, in the forking thread: takes the turn, so that the list is whole in the
/// child.
extern "C" fn before_fork() {
    FORK_TURNS.with(|turns| {
        if turns.get() == 0 {
            HELD.take_turn();
        }
        turns.set(turns.get() + 1);
    });
}

/// Gives back a turn `before_fork` took.
fn end_fork_turn() {
    FORK_TURNS.with(|turns| {
        let left = turns.get().saturating_sub(1);
        turns.set(left);
        if left == 0 {
            HELD.give_turn_back();
        }
    });
}

extern "C" fn after_fork_in_parent() {
    end_fork_turn();
}

/// In a child right after the fork (one thread: the forking one's copy, which has the
/// turn): points every listed descriptor at the placeholder, which lets go of the child's
/// share of the parent's locks; the numbers stay taken, so that the child's copies of the
/// locks close what they still name. Only `dup3`, which is async-signal-safe.
extern "C" fn after_fork_in_child() {
    let placeholder = PLACEHOLDER.load(Ordering::Acquire);
    if placeholder >= 0 {
        // SAFETY: the child's one thread has the turn (taken by `before_fork` before the
        // fork), so the list is whole and nobody else touches it; reading it allocates
        // nothing.
        let fds = unsafe { &*HELD.fds.get() };
        for &fd in fds {
            // SAFETY: `dup3` over a descriptor of this process that the list owns (the
            // child's copy of a lock's), from the placeholder, which stays open.
            unsafe { libc::dup3(placeholder, fd, libc::O_CLOEXEC) };
        }
    }
    end_fork_turn();
}

/// Whether a live holder has the lock on the byte at `offset` of the entry open as
/// `entry` (a description that holds no such lock itself: see the module's docs). When
/// it cannot tell (the test fails), it says yes: nobody is declared dead on a guess.
pub(crate) fn is_held(entry: BorrowedFd<'_>, offset: u64) -> bool {
    // Asking whether a read lock could be taken reports write locks only: a process that
    // can merely read the entry (and so can take read locks) cannot fake a live holder.
    let mut fl = byte_lock(offset, libc::F_RDLCK);
    // SAFETY: fcntl with a valid descriptor and a pointer to a local flock it fills.
    let r = unsafe { libc::fcntl(entry.as_raw_fd(), F_OFD_GETLK, &mut fl) };
    r != 0 || fl.l_type != libc::F_UNLCK as libc::c_short
}
