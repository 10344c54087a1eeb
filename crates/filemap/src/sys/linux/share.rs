//! Linux handle sharing: descriptors handed to a child `Command` (inherited across exec)
//! or sent over a Unix socket (`SCM_RIGHTS`).
//!
//! A named entry is never handed over as the sender's own open file description: a
//! socket's receiver gets a new description (re-opened through `/proc/self/fd`) that
//! already holds `LOCK_SH`, and each child a `Command` starts makes one of its own before
//! exec (`inherit`), so each process's handle counts separately in the entry's lifetime.

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt as _;
use std::process::Command;
use std::sync::Arc;

use rustix::fs::{Mode, OFlags};
use rustix::io::{Errno, FdFlags};
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

use super::dir::Dir;
use super::entry::{Entry, read_header};
use super::errno;
use crate::error::{Error, Result};
use crate::header::Header;
use crate::name::Name;

/// The operating system's handle type.
pub(crate) type OsHandle = OwnedFd;

/// The most descriptors one shared object needs (a file-backed entry, its file, and the
/// lock that keeps the file's share mode).
pub(crate) const MAX_SHARED_HANDLES: usize = 3;

/// A copy of `fd` for another process, sharing its open file description.
pub(crate) fn duplicate(fd: BorrowedFd<'_>) -> Result<OsHandle> {
    rustix::io::fcntl_dupfd_cloexec(fd, 3)
        .map_err(|e| Error::io("duplicate", "a handle for sharing", errno(e)))
}

impl Entry {
    /// A handle on this entry for another process: a new open file description holding
    /// its own `LOCK_SH` for named entries, a duplicate for unnamed ones.
    pub(crate) fn handoff(&self) -> Result<OsHandle> {
        if !self.is_named() {
            return duplicate(self.fd());
        }
        let fd = reopen(self.fd(), &"an entry for sharing")?;
        super::entry::lock_shared_within(&fd, &"an entry for sharing")?;
        // Keep the descriptor number above the standard streams in the child.
        rustix::io::fcntl_dupfd_cloexec(&fd, 3)
            .map_err(|e| Error::io("duplicate", "a handle for sharing", errno(e)))
    }

    /// Whether [`handoff`](Entry::handoff) hands over this handle's own description of an
    /// entry that has a name, whose lifetime lock it shares then: a handle that takes no
    /// part in removing the name (a child's that kept the description its parent handed
    /// on, see `inherit`; or one adopted where the namespace directory could not be
    /// opened). Its receiver must take no part either.
    pub(crate) fn hands_off_a_shared_lock(&self) -> bool {
        !self.is_named() && rustix::fs::fstat(self.fd()).is_ok_and(|st| st.st_nlink > 0)
    }

    /// Adopts an entry handle received from another process. If `name` is given and still
    /// refers to this entry, the handle takes part in removing the name when the last
    /// holder closes: unless it was `inherited` and is not a description this process made
    /// for itself before exec (`inherit`: it is then the one the parent handed on, which
    /// the parent and its other children may share, and a close that converted its lock
    /// would take it from them, or strip it). A description handed on
    /// to be inherited (`handoff`, through `reopen`) has `O_NONBLOCK`, and the hook's does
    /// not (a status flag of the description, which means nothing for a regular file):
    /// that is how they are told.
    pub(crate) fn adopt(
        fd: OsHandle,
        name: Option<&Name>,
        inherited: bool,
    ) -> Result<(Entry, Header)> {
        let what: &dyn std::fmt::Display = match name {
            Some(n) => n,
            None => &"a shared object",
        };
        let header = read_header(fd.as_fd(), what)?;
        let name = name.filter(|_| !inherited || made_before_exec(fd.as_fd()));
        let named = match name {
            Some(name) => Dir::open_checked().ok().and_then(|dir| {
                Entry::named_part_if_current(&dir, name, fd.as_fd(), header.is_persistent())
            }),
            None => None,
        };
        Ok((Entry::from_parts(fd, named), header))
    }
}

/// Whether the entry description open as `fd` is one `own_entry_description` made (see
/// `Entry::adopt`).
fn made_before_exec(fd: BorrowedFd<'_>) -> bool {
    rustix::fs::fcntl_getfl(fd).is_ok_and(|flags| !flags.contains(OFlags::NONBLOCK))
}

/// The access (`O_RDWR` or `O_RDONLY`) the description open as `fd` has.
fn access_of(fd: BorrowedFd<'_>, what: &dyn std::fmt::Display) -> Result<OFlags> {
    let flags = rustix::fs::fcntl_getfl(fd).map_err(|e| Error::io("inspect", what, errno(e)))?;
    Ok(if flags.contains(OFlags::RDWR) {
        OFlags::RDWR
    } else {
        OFlags::RDONLY
    })
}

/// A new open file description of the entry open as `fd` (through `/proc`), with `fd`'s
/// access.
fn reopen(fd: BorrowedFd<'_>, what: &dyn std::fmt::Display) -> Result<OwnedFd> {
    let access = access_of(fd, what)?;
    let path = super::fd_path(fd.as_raw_fd());
    rustix::fs::open(
        &path,
        access | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    )
    .map_err(|e| Error::io("re-open", what, errno(e)))
}

/// The handle's value as a number, for passing in an environment variable.
pub(crate) fn raw_handle_value(handle: &OsHandle) -> u64 {
    handle.as_raw_fd() as u64
}

/// This process's copies of descriptors being inherited by a child; the command's
/// `pre_exec` hook holds them too, so they stay open while either lives.
#[derive(Debug)]
pub(crate) struct InheritGuard {
    _kept: Arc<Inherited>,
}

#[derive(Debug)]
struct Inherited {
    /// The descriptors the children inherit, a named entry's handed-off description first.
    /// Closed plainly, and first (the fields drop in order): a child that could not make
    /// a description of its own (`own_entry_description`) shares the entry's, and a close
    /// that asked for its lock exclusively would take it, removing the name under the
    /// child, or strip it, if the conversion failed.
    _handed: Vec<OsHandle>,
    /// A named entry's description of this process's own, holding `LOCK_SH`, that no child
    /// shares: its drop runs the last-handle check, after the handed ones are closed (so
    /// that a child that ended before this process let go leaves no name behind). A child
    /// that keeps the handed description holds the entry alive past it; the name is then
    /// left to the reclaiming of stale names once that child ends too.
    _counting: Option<Entry>,
}

/// Arranges for `handles` to be inherited by the children `cmd` spawns, at the same
/// numbers. With `entry` (the object's own entry, whose handed-off description, holding
/// its own lock, is the first of `handles`), each child gets a description of its own in
/// that place, with its own lifetime lock, between fork and exec: every child of the
/// command would otherwise share one description, so one lock, and the first to close
/// would take it exclusively unopposed and remove the name under the others. Where the
/// child cannot re-open it (a `Command::uid` the entry does not let in, say), it keeps the
/// handed one, which nothing converts.
pub(crate) fn inherit(
    cmd: &mut Command,
    handles: Vec<OsHandle>,
    entry: Option<&Entry>,
) -> Result<InheritGuard> {
    let named = entry.filter(|e| e.is_named() && !handles.is_empty());
    let counting = match named {
        Some(entry) => Some(entry.alongside(entry.handoff()?)),
        None => None,
    };
    // What the child re-opens the entry by, made here: between fork and exec the child
    // may not allocate.
    let reopen = match (named, handles.first()) {
        (Some(_), Some(handed)) => {
            let access = access_of(handed.as_fd(), &"an entry for sharing")?;
            let path = std::ffi::CString::new(format!("/proc/self/fd/{}", handed.as_raw_fd()))
                .expect("no NUL in a path of digits");
            Some((path, access.bits() as libc::c_int))
        }
        _ => None,
    };
    let raw: Vec<RawFd> = handles.iter().map(|h| h.as_raw_fd()).collect();
    let kept = Inherited {
        _handed: handles,
        _counting: counting,
    };
    let kept = Arc::new(kept);
    let in_hook = kept.clone();
    // SAFETY: the closure runs in the child between fork and exec; it only calls open,
    // flock, nanosleep, dup3, close and fcntl, which are async-signal-safe, on descriptors
    // that the captured `Inherited` keeps open in the parent (and so in the forked child),
    // and on the one it opens; it allocates nothing. (Its copy of the `Arc` is never
    // dropped there: exec replaces the process, and a failed one ends it with `_exit`.)
    unsafe {
        cmd.pre_exec(move || {
            let _keep_open = &in_hook;
            if let (Some((path, access)), Some(&entry)) = (&reopen, raw.first()) {
                own_entry_description(path, *access, entry);
            }
            for &fd in &raw {
                if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    Ok(InheritGuard { _kept: kept })
}

/// In a child between fork and exec: puts a description of its own, holding `LOCK_SH`,
/// at `entry` (re-opened through `path`, its `/proc/self/fd` link). If that cannot be
/// made, the inherited one (which holds the parent's copy's lock) stays. Only
/// async-signal-safe calls.
///
/// # Safety
/// Runs between fork and exec; `entry` is a descriptor open in this process.
/// (`clock_gettime` is async-signal-safe, as are the rest.)
unsafe fn own_entry_description(path: &std::ffi::CStr, access: libc::c_int, entry: RawFd) {
    // SAFETY: plain system calls on a NUL-terminated path and on descriptors of this
    // process (`entry`, and `own`, opened here), each async-signal-safe.
    unsafe {
        // (Without O_NONBLOCK, which the inherited one has: the mark that tells
        // `Entry::adopt` this one is the child's own.)
        let own = libc::open(path.as_ptr(), access | libc::O_CLOEXEC);
        if own < 0 {
            return;
        }
        // Held exclusively only for a moment, by a handle deciding whether it is the last:
        // waited out for 1 to 2 s by the clock (about as long as an opener waits).
        let nap = libc::timespec {
            tv_sec: 0,
            tv_nsec: 100_000,
        };
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now);
        let until = now.tv_sec + 2;
        loop {
            if libc::flock(own, libc::LOCK_SH | libc::LOCK_NB) == 0 {
                libc::dup3(own, entry, 0);
                break;
            }
            if *libc::__errno_location() != libc::EWOULDBLOCK {
                break;
            }
            libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now);
            if now.tv_sec >= until {
                break;
            }
            libc::nanosleep(&nap, std::ptr::null_mut());
        }
        libc::close(own);
    }
}

/// What tells the file a handle is open on from any other (its device and inode), for the
/// process that inherits it to check that the descriptor it names is still that file.
pub(crate) fn handle_identity(handle: &OsHandle) -> Result<Option<String>> {
    let st = rustix::fs::fstat(handle).map_err(|e| Error::io("inspect", "a handle", errno(e)))?;
    Ok(Some(identity_of(&st)))
}

/// The device and inode of the file `handle` is open on, as a file-backed header records
/// them, to check a handed-over file against its object's record.
pub(crate) fn recorded_identity(handle: &OsHandle) -> Result<Option<(u64, u64)>> {
    let st = rustix::fs::fstat(handle).map_err(|e| Error::io("inspect", "a handle", errno(e)))?;
    Ok(Some((st.st_dev, st.st_ino)))
}

fn identity_of(st: &rustix::fs::Stat) -> String {
    format!("{:x}-{:x}", st.st_dev, st.st_ino)
}

/// Takes ownership of an inherited descriptor named by an environment variable.
///
/// Only a descriptor that is open, was inherited (no close-on-exec flag: everything Rust
/// opens has it), has not been taken before, and is the file the parent shared
/// (`identity`, its device and inode, when the descriptor gives it; else a regular file or
/// a block device) is accepted, and nothing is done to a descriptor refused: a wrong,
/// stale or forged value (a grandchild's, whose descriptor of that number is some other
/// file, a pipe, a terminal) cannot make this process close or change a descriptor that
/// something else owns.
pub(crate) fn take_inherited(value: u64, key: &str, identity: Option<&str>) -> Result<OsHandle> {
    crate::sys::take_once(value, key, "descriptor", || {
        let fd = check_inherited(value, key, identity)?;
        // SAFETY: the descriptor is open, was inherited from the parent for this purpose
        // (it has no close-on-exec flag, which every descriptor Rust code opens has, and is
        // the file shared: `check_inherited`), and `take_once` makes sure it is wrapped
        // only once.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        rustix::io::fcntl_setfd(&owned, FdFlags::CLOEXEC)
            .map_err(|e| Error::io("mark close-on-exec", key, errno(e)))?;
        Ok(owned)
    })
}

/// The checks [`take_inherited`] makes, doing nothing to the descriptor: run on every
/// descriptor a variable names before any is taken, so that one refused leaves the others
/// alone too. The descriptor number.
pub(crate) fn check_inherited(value: u64, key: &str, identity: Option<&str>) -> Result<RawFd> {
    let bad = |problem: String| Error::SharedHandle {
        key: key.to_string(),
        problem,
    };
    let fd = RawFd::try_from(value).map_err(|_| bad(format!("{value} is not a descriptor")))?;
    if fd < 3 {
        return Err(bad(format!("descriptor {fd} is a standard stream")));
    }
    // SAFETY: fcntl(F_GETFD) only reads the descriptor table; an invalid fd gives EBADF.
    let fd_flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if fd_flags == -1 {
        return Err(bad(format!("descriptor {fd} is not open in this process")));
    }
    if fd_flags & libc::FD_CLOEXEC != 0 {
        return Err(bad(format!(
            "descriptor {fd} was not inherited (it is close-on-exec)"
        )));
    }
    // SAFETY: the descriptor is open (F_GETFD succeeded), and stays so for this borrow:
    // nothing in this function closes it.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let st = rustix::fs::fstat(borrowed)
        .map_err(|e| bad(format!("descriptor {fd} cannot be inspected: {}", errno(e))))?;
    let kind = rustix::fs::FileType::from_raw_mode(st.st_mode);
    match identity {
        Some(shared) if identity_of(&st) != shared => Err(bad(format!(
            "descriptor {fd} is not the file that was shared (it was closed and its number \
             reused, or the variable was passed on from another process)"
        ))),
        None if !matches!(
            kind,
            rustix::fs::FileType::RegularFile | rustix::fs::FileType::BlockDevice
        ) =>
        {
            Err(bad(format!(
                "descriptor {fd} is a {kind:?}, not a shared mapping's file"
            )))
        }
        _ => Ok(fd),
    }
}

/// Sends `bytes` and `handles` as one message.
pub(crate) fn send_handles(stream: &UnixStream, bytes: &[u8], handles: &[OsHandle]) -> Result<()> {
    let borrowed: Vec<BorrowedFd<'_>> = handles.iter().map(|h| h.as_fd()).collect();
    let mut space =
        [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_SHARED_HANDLES))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(&borrowed)) {
        return Err(Error::Unsupported {
            what: "sending more handles in one message than a mapping has",
        });
    }
    let sent = loop {
        match rustix::net::sendmsg(
            stream,
            &[IoSlice::new(bytes)],
            &mut control,
            SendFlags::NOSIGNAL,
        ) {
            Err(Errno::INTR) => continue,
            r => break r,
        }
    }
    .map_err(|e| Error::io("send", "a handle over a Unix socket", errno(e)))?;
    if sent != bytes.len() {
        return Err(Error::io(
            "send",
            "a handle over a Unix socket",
            std::io::Error::new(std::io::ErrorKind::WriteZero, "the message was cut short"),
        ));
    }
    Ok(())
}

/// Bytes of control data a receive keeps room for besides the descriptors: a credentials
/// message (32 bytes with its header), with room to spare (a security label).
const OTHER_CONTROL: usize = 128;

/// Whether `stream` is set to receive its peer's pidfd with every message (Linux 6.5 and
/// later; an older kernel does not know the option: no).
fn passes_pidfd(stream: &UnixStream) -> bool {
    let mut on: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: reads an option of an open socket into a local int of the size given.
    let r = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PASSPIDFD,
            (&mut on as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    r == 0 && on != 0
}

/// Receives one message sent by `send_handles`.
pub(crate) fn recv_handles(stream: &UnixStream, buf: &mut [u8]) -> Result<(usize, Vec<OsHandle>)> {
    // A socket set to SO_PASSPIDFD would add a pidfd to the message, which the parsing
    // below does not see and so would never close: refused before anything is received.
    if passes_pidfd(stream) {
        return Err(Error::SharedHandle {
            key: "Unix socket".into(),
            problem: "the socket has SO_PASSPIDFD set (every message would bring a pidfd \
                      along): turn it off to receive shared objects"
                .into(),
        });
    }
    // Room for the descriptors and for the credentials a socket set to SO_PASSCRED adds
    // to every message: without it, the kernel cut the control data, and the descriptors
    // with it.
    let mut space = [MaybeUninit::<u8>::uninit();
        rustix::cmsg_space!(ScmRights(MAX_SHARED_HANDLES)) + OTHER_CONTROL];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let msg = loop {
        match rustix::net::recvmsg(
            stream,
            &mut [IoSliceMut::new(buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        ) {
            Err(Errno::INTR) => continue,
            r => break r,
        }
    }
    .map_err(|e| Error::io("receive", "a handle over a Unix socket", errno(e)))?;
    let mut handles = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = message {
            handles.extend(fds);
        }
    }
    if msg.flags.contains(rustix::net::ReturnFlags::CTRUNC) {
        return Err(Error::SharedHandle {
            key: "Unix socket".into(),
            problem: "the message's control data was cut short: more descriptors, or other \
                      control messages, than one shared object's message has"
                .into(),
        });
    }
    Ok((msg.bytes, handles))
}
