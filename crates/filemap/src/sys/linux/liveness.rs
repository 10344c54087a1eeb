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

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

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
    _fd: OwnedFd,
}

impl LivenessLock {
    /// Takes the lock on the byte at `offset` of the entry open as `entry`; `None` if a
    /// live holder has it.
    pub(crate) fn take(entry: BorrowedFd<'_>, offset: u64) -> Result<Option<LivenessLock>> {
        let fd = fresh_description(entry)?;
        let fl = byte_lock(offset, libc::F_WRLCK);
        // SAFETY: fcntl with a valid descriptor and a pointer to a local flock.
        let r = unsafe { libc::fcntl(fd.as_raw_fd(), F_OFD_SETLK, &fl) };
        if r == 0 {
            return Ok(Some(LivenessLock { _fd: fd }));
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EACCES) => Ok(None),
            _ => Err(Error::io("take a liveness lock on", "an entry", err)),
        }
    }
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
