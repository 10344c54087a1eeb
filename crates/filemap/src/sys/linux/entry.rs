//! Linux namespace entries: files in one directory (`/dev/shm` or `$FILEMAP_DIR`), made
//! nameless with `O_TMPFILE` and named with `linkat` once complete; lifetime by `flock`.
//!
//! Every handle holds `LOCK_SH` on the entry through its own open file description. A
//! closing handle converts to `LOCK_EX | LOCK_NB`: success means no other holder anywhere,
//! so it unlinks the name (if the name still refers to its inode). The kernel drops the
//! locks of dead processes, so an entry nobody locks is stale: the next create or open
//! reclaims it, and `filemap gc` removes it (`listing.rs`). Every path operation is
//! relative to the directory's descriptor (docs/architecture.md says why).

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::fs::{AtFlags, FileType, FlockOperation, Mode, OFlags, Stat};
use rustix::io::Errno;

use super::creation::{fill_new_entry, link_entry, prepare_entry};
use super::dir::Dir;
use super::{
    Section, allocation_granularity, current_uid, errno, fork_generation, retry_eintr,
    watched_fork_generation,
};
use crate::error::{Error, Result};
use crate::header::{HEADER_AREA, Header};
use crate::name::{Name, Scope};
use crate::sys::{BeforeNaming, CreateMode, DataInit};
use crate::vocabulary::{Disposition, Kind, Protection};

/// How often create/open retry when the name changes under them (another process
/// removing or reclaiming it at the same moment) before giving up.
const MAX_ATTEMPTS: u32 = 1000;

/// The part of an entry that only named entries have.
#[derive(Clone, Debug)]
pub(crate) struct NamedPart {
    dir: Arc<Dir>,
    file_name: String,
    dev: u64,
    ino: u64,
    persistent: bool,
    /// The fork generation of the process that opened (or was given) the entry
    /// (`sys::watched_fork_generation`): only that process takes part in the lifetime. A
    /// child made by `fork` shares the descriptor's open file description, so its lock
    /// too: were a copy dropped there to run the last-handle check, the child could take
    /// the lock exclusively and remove the name while the parent uses the object (or,
    /// failing, drop the parent's shared lock: Linux converts a lock by removing it
    /// first). A generation, not a pid: a grandchild may have its dead grandparent's pid.
    generation: u64,
}

/// A handle on a namespace entry (named) or an unnamed memory object (a memfd). Holds
/// the object's lifetime: dropping the last handle of a non-persistent named entry, in
/// any process, removes its name.
#[derive(Debug)]
pub(crate) struct Entry {
    /// Shared with the sections made from the entry (one open file description, so one
    /// `flock`, as a duplicated descriptor would be).
    fd: Arc<OwnedFd>,
    named: Option<NamedPart>,
}

fn same_inode(a: &Stat, b: &Stat) -> bool {
    a.st_dev == b.st_dev && a.st_ino == b.st_ino
}

/// How long an opener waits for a handle that holds an entry's lock exclusively (one
/// deciding whether it is the last, which takes microseconds) before it gives up: a
/// process stopped there, or one that locks a readable entry on purpose, must not hold
/// opens up for ever.
const EXCLUSIVE_WAIT: Duration = Duration::from_secs(2);

/// Takes `fd`'s shared lock, waiting at most [`EXCLUSIVE_WAIT`] while another open file
/// description holds it exclusively: [`Error::EntryLocked`] then.
pub(super) fn lock_shared_within(fd: &OwnedFd, name: &dyn std::fmt::Display) -> Result<()> {
    let started = Instant::now();
    let mut nap = Duration::from_micros(20);
    loop {
        match retry_eintr(|| rustix::fs::flock(fd, FlockOperation::NonBlockingLockShared)) {
            Ok(()) => return Ok(()),
            Err(Errno::WOULDBLOCK) if started.elapsed() < EXCLUSIVE_WAIT => {
                std::thread::sleep(nap);
                nap = (nap * 2).min(Duration::from_millis(5));
            }
            Err(Errno::WOULDBLOCK) => {
                return Err(Error::EntryLocked {
                    name: name.to_string(),
                    held: EXCLUSIVE_WAIT,
                });
            }
            Err(e) => return Err(Error::io("lock", name, errno(e))),
        }
    }
}

/// Unlinks `file_name` if it still refers to the inode `(dev, ino)`.
pub(super) fn unlink_if_same(dir: &Dir, file_name: &str, dev: u64, ino: u64) -> Result<bool> {
    match rustix::fs::statat(&dir.fd, file_name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(s) if s.st_dev == dev && s.st_ino == ino => {
            match rustix::fs::unlinkat(&dir.fd, file_name, AtFlags::empty()) {
                Ok(()) | Err(Errno::NOENT) => Ok(true),
                // Another user's, in a sticky directory.
                Err(Errno::PERM | Errno::ACCESS) => Err(Error::PermissionDenied {
                    what: format!(
                        "removing {file_name} from {} (this user may not: `filemap gc` run \
                         by its owner or root removes it once its holders are gone)",
                        dir.display()
                    ),
                }),
                Err(e) => Err(Error::io("remove", file_name, errno(e))),
            }
        }
        Ok(_) | Err(Errno::NOENT) => Ok(false),
        Err(e) => Err(Error::io("inspect", file_name, errno(e))),
    }
}

/// Bytes of a header read first: the fixed part and a file-backed entry's path of up to
/// 364 bytes. A longer path (or a header this does not decode) is read again in full.
const HEADER_PROBE: usize = 512;

/// Reads from the start of the entry into `buf` until it is full or the entry ends; how
/// many bytes it read.
fn read_front(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match rustix::io::pread(fd, &mut buf[got..], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(Error::io("read the header of", "an entry", errno(e))),
        }
    }
    Ok(got)
}

/// The whole header area of an entry `file_len` bytes long (less if the entry is shorter).
pub(super) fn read_header_bytes(fd: BorrowedFd<'_>, file_len: u64) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; (file_len as usize).min(HEADER_AREA)];
    let got = read_front(fd, &mut buf)?;
    buf.truncate(got);
    Ok(buf)
}

/// Reads and checks the header of an open entry.
pub(crate) fn read_header(fd: BorrowedFd<'_>, what: &dyn fmt::Display) -> Result<Header> {
    let st = rustix::fs::fstat(fd).map_err(|e| Error::io("inspect", what, errno(e)))?;
    read_header_with(fd, &st, what)
}

/// Reads and checks the header of an open entry whose status is `st`: its first
/// [`HEADER_PROBE`] bytes, which hold all of most headers (decoding reads nothing past a
/// header's end, so a header that decodes from them decodes alike from the whole area),
/// then the whole area if they were not enough.
fn read_header_with(fd: BorrowedFd<'_>, st: &Stat, what: &dyn fmt::Display) -> Result<Header> {
    let len = st.st_size as u64;
    let granule = allocation_granularity();
    let mut probe = [0u8; HEADER_PROBE];
    let got = read_front(fd, &mut probe[..(len as usize).min(HEADER_PROBE)])?;
    let decoded = match Header::decode(&probe[..got], len, granule) {
        Err(_) if got == HEADER_PROBE && len > HEADER_PROBE as u64 => {
            Header::decode(&read_header_bytes(fd, len)?, len, granule)
        }
        decoded => decoded,
    };
    decoded.map_err(|problem| Error::Corrupt {
        name: what.to_string(),
        problem,
    })
}

pub(super) fn file_type_name(st: &Stat) -> &'static str {
    match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => "regular file",
        FileType::Directory => "directory",
        FileType::Symlink => "symbolic link",
        FileType::Fifo => "fifo",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        FileType::Unknown => "unknown file type",
    }
}

/// Why an entry is being looked at: to open it (`open`), or as the object a create call
/// would otherwise have made (`create_new`, `create_or_open`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    Open,
    Create,
}

/// The checks every opener makes before trusting an entry: a regular file, owned by this
/// user if Local. A Global entry may belong to anyone when opened (that is what Global
/// names are for), but a create call only takes over one of this user's or root's: a
/// Global name another user took first is a squat, not the object the caller meant. `me`:
/// this process's effective uid (read once per call into the namespace).
fn check_entry_file(name: &Name, st: &Stat, purpose: Purpose, me: u32) -> Result<()> {
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(not_a_regular_file(name, file_type_name(st)));
    }
    let trusted = match (name.scope(), purpose) {
        (Scope::Local, _) => st.st_uid == me,
        (Scope::Global, Purpose::Create) => st.st_uid == me || st.st_uid == 0,
        (Scope::Global, Purpose::Open) => true,
    };
    if !trusted {
        return Err(Error::ForeignOwner {
            name: name.to_string(),
            owner: format!("uid {}", st.st_uid),
            me: format!("uid {me}"),
        });
    }
    Ok(())
}

/// The error for an entry that is a `what` (a directory, a fifo), not a regular file.
fn not_a_regular_file(name: &Name, what: &str) -> Error {
    Error::Corrupt {
        name: name.to_string(),
        problem: format!(
            "the entry is a {what}, not a regular file (not filemap's: neither `filemap rm` \
             nor `filemap gc` removes it; remove it from the namespace directory by hand)"
        ),
    }
}

/// Refuses an entry whose permissions are wider than its header says its creator asked for.
fn check_mode(name: &Name, st: &Stat, header: &Header) -> Result<()> {
    let mode = st.st_mode & 0o7777;
    if mode & !header.entry_mode() != 0 {
        return Err(Error::InsecurePermissions {
            name: name.to_string(),
            mode,
            expected: header.entry_mode(),
        });
    }
    Ok(())
}

/// Whether permissions `mode`, on a file owned as `st` says, give this process write
/// access: the owner's bit for its owner, the group's for a member of its group (the
/// effective or a supplementary group), the others' for anyone else (as the kernel
/// decides; root is never refused, so never asks).
fn mode_grants_write(mode: u32, st: &Stat) -> bool {
    let uid = rustix::process::geteuid().as_raw();
    if uid == st.st_uid {
        return mode & 0o200 != 0;
    }
    let in_group = rustix::process::getegid().as_raw() == st.st_gid || {
        // SAFETY: getgroups(0, NULL) only counts the supplementary groups.
        let n = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
        let mut groups = vec![0 as libc::gid_t; n.max(0) as usize];
        // SAFETY: fills at most `n` gids into `groups`, which has room for `n`.
        let got = unsafe { libc::getgroups(n.max(0), groups.as_mut_ptr()) };
        groups.truncate(got.max(0) as usize);
        groups.contains(&st.st_gid)
    };
    if in_group {
        mode & 0o020 != 0
    } else {
        mode & 0o002 != 0
    }
}

pub(super) fn open_flags(writable: bool) -> OFlags {
    let access = if writable {
        OFlags::RDWR
    } else {
        OFlags::RDONLY
    };
    access | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC
}

fn open_error(name: &Name, writable: bool, e: Errno) -> Error {
    match e {
        Errno::NOENT => Error::NotFound {
            name: name.to_string(),
        },
        Errno::LOOP => Error::Symlink {
            name: name.to_string(),
        },
        Errno::ISDIR => not_a_regular_file(name, "directory"),
        // What an open of a socket, or of a device file with no device behind it, says.
        Errno::NXIO => not_a_regular_file(name, "socket or device file"),
        Errno::ACCESS | Errno::PERM => Error::PermissionDenied {
            what: format!(
                "opening {name} for {}",
                if writable {
                    "reading and writing"
                } else {
                    "reading"
                }
            ),
        },
        e => Error::io("open", name, errno(e)),
    }
}

impl Entry {
    /// The entry's descriptor (the memory of a memory-backed object, or the header of a
    /// file-backed one).
    #[inline]
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// A section for mapping this entry's memory.
    pub(crate) fn section(&self) -> Result<Section> {
        Ok(Section::shared(self.fd.clone()))
    }

    pub(crate) fn is_named(&self) -> bool {
        self.named.is_some()
    }

    /// An entry over `fd`, another description of this one's object made by this process,
    /// that takes part in removing the name as this one does (a copy kept for children to
    /// come: `inherit`). It is this process's, whichever process opened this one.
    pub(crate) fn alongside(&self, fd: OwnedFd) -> Entry {
        let named = self.named.clone().map(|named| NamedPart {
            generation: watched_fork_generation(),
            ..named
        });
        Entry::from_parts(fd, named)
    }

    /// Identifies the object (device and inode) within this process.
    pub(crate) fn identity(&self) -> u64 {
        match rustix::fs::fstat(&self.fd) {
            Ok(st) => (st.st_dev << 40) ^ st.st_ino,
            Err(_) => self.fd.as_raw_fd() as u64,
        }
    }

    pub(crate) fn from_parts(fd: OwnedFd, named: Option<NamedPart>) -> Entry {
        Entry {
            fd: Arc::new(fd),
            named,
        }
    }

    /// The named part for a handle on `fd`, if `name` still refers to its inode.
    pub(crate) fn named_part_if_current(
        dir: &Arc<Dir>,
        name: &Name,
        fd: BorrowedFd<'_>,
        persistent: bool,
    ) -> Option<NamedPart> {
        let st = rustix::fs::fstat(fd).ok()?;
        let file_name = name.entry_file_name(current_uid());
        let now = rustix::fs::statat(&dir.fd, &file_name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
        same_inode(&st, &now).then(|| NamedPart {
            dir: dir.clone(),
            file_name,
            dev: st.st_dev,
            ino: st.st_ino,
            persistent,
            generation: watched_fork_generation(),
        })
    }

    /// Creates an unnamed memory object (a sealed memfd) holding `header` and its data.
    pub(crate) fn create_unnamed(header: &Header) -> Result<Entry> {
        use rustix::fs::{MemfdFlags, SealFlags};
        let huge = super::huge_page_size()
            .is_some_and(|h| header.is_large_pages() && header.data_offset >= h);
        let mut flags = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
        if huge {
            flags |= MemfdFlags::HUGETLB;
        }
        let fd = rustix::fs::memfd_create("filemap-unnamed", flags).map_err(|e| match e {
            Errno::INVAL if huge => Error::Unsupported {
                what: "explicit huge pages (MFD_HUGETLB) on this kernel",
            },
            e => Error::io("create", "an unnamed memory object (memfd)", errno(e)),
        })?;
        let place = if huge {
            "huge pages (see /proc/sys/vm/nr_hugepages)"
        } else {
            "memory (unnamed object)"
        };
        fill_new_entry(fd.as_fd(), header, &place)?;
        // Sealing the size means no process holding the object can shrink it under a view.
        match rustix::fs::fcntl_add_seals(
            &fd,
            SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL,
        ) {
            Ok(()) => {}
            // Older kernels cannot seal hugetlb memfds; the object still works.
            Err(Errno::INVAL) if huge => {}
            Err(e) => return Err(Error::io("seal", "an unnamed memory object", errno(e))),
        }
        Ok(Entry {
            fd: Arc::new(fd),
            named: None,
        })
    }
}

enum Existing {
    /// The name was stale (or vanished) and is free now.
    Freed,
    /// The name belongs to a live or persistent object (of this kind, if known).
    Live(Option<Kind>),
    /// Another process held the entry exclusively for a moment (a closer deciding whether
    /// it is the last, a reclaim, `gc`, or `ls` probing for holders): look again.
    LookAgain,
}

/// Frees the name if it belongs to a stale entry (no holder anywhere, not persistent).
///
/// An exclusive hold met is waited out (the time added to `waited`, the caller's count of
/// such waits), and then `LookAgain` asked for while `waited` is under `EXCLUSIVE_WAIT`:
/// past it the entry is taken as it is then (a process that takes the lock exclusively
/// again and again must not hold a create up for ever).
fn reclaim_if_stale(
    dir: &Arc<Dir>,
    name: &Name,
    file_name: &str,
    me: u32,
    waited: &mut Duration,
) -> Result<Existing> {
    let fd = match rustix::fs::openat(&dir.fd, file_name, open_flags(false), Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(Existing::Freed),
        Err(Errno::ACCESS | Errno::PERM) => {
            // Not ours to open: say whose it is, if it is somebody else's.
            if let Ok(st) = rustix::fs::statat(&dir.fd, file_name, AtFlags::SYMLINK_NOFOLLOW) {
                check_entry_file(name, &st, Purpose::Create, me)?;
            }
            return Ok(Existing::Live(None));
        }
        Err(e) => return Err(open_error(name, false, e)),
    };
    let st = rustix::fs::fstat(&fd).map_err(|e| Error::io("inspect", name, errno(e)))?;
    check_entry_file(name, &st, Purpose::Create, me)?;
    match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(Errno::WOULDBLOCK) => {
            // Held: by live holders (shared), or for a moment exclusively by a handle
            // deciding whether it is the last (a close, another process's reclaim, `gc`,
            // `ls` probing), which may be removing the name: that is waited out, then
            // looked at again. Held shared at once: live.
            match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockShared) {
                Ok(()) => {}
                Err(Errno::WOULDBLOCK) => {
                    let began = Instant::now();
                    lock_shared_within(&fd, name)?;
                    *waited += began.elapsed();
                    if *waited < EXCLUSIVE_WAIT {
                        return Ok(Existing::LookAgain);
                    }
                }
                Err(e) => return Err(Error::io("lock", name, errno(e))),
            }
            let st = rustix::fs::fstat(&fd).map_err(|e| Error::io("inspect", name, errno(e)))?;
            if st.st_nlink == 0 {
                return Ok(Existing::Freed);
            }
            // Before this look lets go of its hold, it asks for the lock exclusively, as a
            // closing handle does: a last holder that closed while this look held the entry
            // could not take it exclusively and left the name to whoever held it (the
            // kernel gives a converting lock up first, so of two converting at once the
            // second succeeds). Refused: held by live holders.
            if rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive).is_err() {
                let kind = read_header(fd.as_fd(), name).ok().map(|h| h.kind);
                return Ok(Existing::Live(kind));
            }
        }
        Err(e) => return Err(Error::io("lock", name, errno(e))),
    }
    let header = read_header(fd.as_fd(), name)?;
    if header.is_persistent() {
        return Ok(Existing::Live(Some(header.kind)));
    }
    unlink_if_same(dir, file_name, st.st_dev, st.st_ino)?;
    Ok(Existing::Freed)
}

/// Opens the entry `file_name` in `dir`, reclaiming it (and answering `NotFound`) if it is
/// stale.
/// Opens the entry `file_name` of the user `me`: for writing if `writable`, and then, if
/// this user may not write it, for reading where `read_will_do` (or the object is
/// file-backed and its permissions let this user write its file).
fn open_in(
    dir: &Arc<Dir>,
    name: &Name,
    (file_name, me): (&str, u32),
    (writable, read_will_do): (bool, bool),
    purpose: Purpose,
) -> Result<(Entry, Header)> {
    // (Time spent waiting out exclusive holds: see below, and `reclaim_if_stale`.)
    let mut waited = Duration::ZERO;
    for _ in 0..MAX_ATTEMPTS {
        // A file-backed object's entry is writable by its owner alone (`entry_mode`): a
        // writer refused is let in for reading, and kept only if the entry is one.
        let mut write_refused = None;
        let opened = rustix::fs::openat(&dir.fd, file_name, open_flags(writable), Mode::empty())
            .or_else(|e| match e {
                Errno::ACCESS if writable => {
                    write_refused = Some(e);
                    rustix::fs::openat(&dir.fd, file_name, open_flags(false), Mode::empty())
                }
                e => Err(e),
            });
        let fd = match opened {
            Ok(fd) => fd,
            Err(e) => {
                // A file this user may not open may be another user's squat: said so, as
                // for one it may open (its owner is looked at by name, not followed).
                if matches!(e, Errno::ACCESS | Errno::PERM) {
                    if let Ok(st) =
                        rustix::fs::statat(&dir.fd, file_name, AtFlags::SYMLINK_NOFOLLOW)
                    {
                        check_entry_file(name, &st, purpose, me)?;
                    }
                }
                return Err(match (write_refused, e) {
                    // Refused for reading too: the first refusal is the one to tell.
                    (Some(first), Errno::ACCESS) => open_error(name, writable, first),
                    (_, e) => open_error(name, writable, e),
                });
            }
        };
        let inspect = || {
            let st = rustix::fs::fstat(&fd).map_err(|e| Error::io("inspect", name, errno(e)))?;
            check_entry_file(name, &st, purpose, me)?;
            Ok::<_, Error>(st)
        };
        let lock = |op| rustix::fs::flock(&fd, op);
        // Whether every other holder died: a probe that never waits, whoever the file's.
        let sole_holder = match lock(FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => true,
            Err(Errno::WOULDBLOCK) => false,
            Err(e) => return Err(Error::io("lock", name, errno(e))),
        };
        if !sole_holder {
            // Held exclusively only by a handle deciding whether it is the last, for a
            // moment. The wait is for an entry found to be one (not for any file's lock).
            match lock(FlockOperation::NonBlockingLockShared) {
                Ok(()) => {}
                Err(Errno::WOULDBLOCK) => {
                    // Held exclusively for a moment: waited out, then probed afresh (the
                    // one holding it may have been the last holder's close, a reclaim,
                    // or `ls` probing a stale entry: this one would be its only holder),
                    // for as long as such waits have not taken `EXCLUSIVE_WAIT` in all
                    // (a process that takes the lock exclusively again and again must not
                    // hold an open up for ever): then the entry is taken as it is.
                    inspect()?;
                    let began = Instant::now();
                    lock_shared_within(&fd, name)?;
                    waited += began.elapsed();
                    if waited < EXCLUSIVE_WAIT {
                        continue;
                    }
                }
                Err(e) => return Err(Error::io("lock", name, errno(e))),
            }
        }
        // The name may have been removed (and perhaps re-created) before we locked. An
        // entry has one link, its name (filemap never links one twice), so a removed one
        // has none.
        let st = inspect()?;
        if st.st_nlink == 0 {
            continue;
        }
        // A second link is someone else's doing: a hard link to an entry this user may
        // write (a 0666 Global one, say) would pass a Local name's owner and mode checks.
        if st.st_nlink > 1 {
            return Err(Error::Corrupt {
                name: name.to_string(),
                problem: format!(
                    "its entry has {} links (filemap makes one): another name was linked to it",
                    st.st_nlink
                ),
            });
        }
        let header = read_header_with(fd.as_fd(), &st, name)?;
        if sole_holder {
            if !header.is_persistent() {
                // Stale: every holder died without closing. Reclaim the name. Another
                // user's cannot be, in a sticky directory: to an opener it is gone all the
                // same; a creator is told why the name stays taken (it tried again and
                // again, and then blamed other processes).
                let reclaimed = unlink_if_same(dir, file_name, st.st_dev, st.st_ino);
                if let (Err(e @ Error::PermissionDenied { .. }), Purpose::Create) =
                    (reclaimed, purpose)
                {
                    return Err(e);
                }
                return Err(Error::NotFound {
                    name: name.to_string(),
                });
            }
            retry_eintr(|| rustix::fs::flock(&fd, FlockOperation::LockShared))
                .map_err(|e| Error::io("lock", name, errno(e)))?;
        }
        // A handle from here on: refused below, it is dropped as any handle is, and if it
        // was the last (its other holders closed meanwhile, seeing it hold the object),
        // the name goes with it rather than stay behind, stale.
        let entry = Entry {
            fd: Arc::new(fd),
            named: Some(NamedPart {
                dir: dir.clone(),
                file_name: file_name.to_string(),
                dev: st.st_dev,
                ino: st.st_ino,
                persistent: header.is_persistent(),
                generation: watched_fork_generation(),
            }),
        };
        check_mode(name, &st, &header)?;
        // Let in for reading only if that will do, or if the object is file-backed and its
        // permissions give this user write access (the entry's are narrower by design,
        // `entry_mode`).
        if let Some(e) = write_refused {
            let file_writer = header.file.is_some() && mode_grants_write(header.mode, &st);
            if !read_will_do && !file_writer {
                return Err(open_error(name, writable, e));
            }
        }
        return Ok((entry, header));
    }
    Err(gave_up(name))
}

fn gave_up(name: &Name) -> Error {
    Error::NameContended {
        name: name.to_string(),
        attempts: MAX_ATTEMPTS,
    }
}

/// Opens the named entry; `NotFound` if there is none (or only a stale one).
pub(crate) fn open_entry(name: &Name, writable: bool) -> Result<(Entry, Header)> {
    let me = current_uid();
    let file_name = name.entry_file_name(me);
    Dir::run(|dir| {
        open_in(
            dir,
            name,
            (&file_name, me),
            (writable, false),
            Purpose::Open,
        )
    })
}

/// Creates the named entry from `header`, or (with `CreateMode::OrOpen`) opens the existing
/// one, whose header is returned instead.
pub(crate) fn create_entry(
    name: &Name,
    header: &Header,
    mode: CreateMode,
    (init, before_naming): (DataInit<'_>, BeforeNaming<'_>),
) -> Result<(Entry, Header, Disposition)> {
    let me = current_uid();
    let file_name = name.entry_file_name(me);
    Dir::run(|dir| {
        create_in(
            dir,
            name,
            (&file_name, me),
            header,
            mode,
            (init, before_naming),
        )
    })
}

/// Creates (or opens) the entry named `file_name` for the user `me`.
fn create_in(
    dir: &Arc<Dir>,
    name: &Name,
    (file_name, me): (&str, u32),
    header: &Header,
    mode: CreateMode,
    (init, before_naming): (DataInit<'_>, BeforeNaming<'_>),
) -> Result<(Entry, Header, Disposition)> {
    let mut prepared: Option<(OwnedFd, Stat)> = None;
    // (Time spent waiting out exclusive holds: see below, and `reclaim_if_stale`.)
    let mut waited = Duration::ZERO;
    // An object found is opened for writing, or, where this user may only read it, for
    // reading if that will do: a mapping asked for read-only or copy-on-write needs only
    // to read it (another user's object that this one may only read opens, as `open` with
    // read access does).
    let read_will_do = header.kind == Kind::Mapping && header.protection != Protection::ReadWrite;
    for _ in 0..MAX_ATTEMPTS {
        if mode == CreateMode::OrOpen {
            match open_in(
                dir,
                name,
                (file_name, me),
                (true, read_will_do),
                Purpose::Create,
            ) {
                Ok((entry, existing)) => return Ok((entry, existing, Disposition::Opened)),
                Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let (fd, st) = match prepared.take() {
            Some(made) => made,
            None => {
                // A large object's name is looked at before its memory is taken: a create
                // of a name in use would allocate it all (memory others of the directory's
                // filesystem then went without), only to be refused; and so is the name of
                // one that readies something outside itself, which a create refused for a
                // name in use leaves as it was.
                let look_first =
                    header.entry_len() >= LOOK_BEFORE_ALLOCATING || before_naming.is_some();
                if mode == CreateMode::New && look_first {
                    // (Until the name is free or said to be in use: a look that met a
                    // moment's exclusive hold, bounded by `waited`, says neither.)
                    while !refuse_if_live(dir, name, (file_name, me), header.kind, &mut waited)? {}
                }
                prepare_entry(dir, header, init)?
            }
        };
        if let Some(ready) = before_naming {
            // (A create killed after the link finds what it names ready.)
            ready()?;
        }
        match link_entry(dir, &fd, file_name) {
            Ok(()) => {
                let entry = Entry {
                    fd: Arc::new(fd),
                    named: Some(NamedPart {
                        dir: dir.clone(),
                        file_name: file_name.to_string(),
                        dev: st.st_dev,
                        ino: st.st_ino,
                        persistent: header.is_persistent(),
                        generation: watched_fork_generation(),
                    }),
                };
                return Ok((entry, header.clone(), Disposition::Created));
            }
            Err(Errno::EXIST) => {
                prepared = Some((fd, st));
                if mode == CreateMode::New {
                    refuse_if_live(dir, name, (file_name, me), header.kind, &mut waited)?;
                }
            }
            Err(Errno::ACCESS | Errno::PERM) => {
                return Err(Error::PermissionDenied {
                    what: format!("creating {name} in {}", dir.display()),
                });
            }
            // The directory cannot take another name (full, a quota, too many links).
            Err(Errno::NOSPC | Errno::DQUOT | Errno::MLINK) => {
                return Err(Error::NoSpace {
                    place: dir.path.display().to_string(),
                    size: header.entry_len(),
                });
            }
            Err(e) => return Err(Error::io("name the new entry", name, errno(e))),
        }
    }
    Err(gave_up(name))
}

/// From how many bytes an entry a `New` create makes has its name looked at before the
/// entry is allocated (below it, the look would cost more than the allocation it might
/// save: the name is taken only when the link says so).
const LOOK_BEFORE_ALLOCATING: u64 = 1 << 20;

/// For a `New` create whose name is taken: `Ok` if the entry there was stale and is gone
/// (or is to be looked at again), else the error that says the name is in use. `Ok(true)`:
/// free; `Ok(false)`: to be looked at again.
fn refuse_if_live(
    dir: &Arc<Dir>,
    name: &Name,
    (file_name, me): (&str, u32),
    kind: Kind,
    waited: &mut Duration,
) -> Result<bool> {
    match reclaim_if_stale(dir, name, file_name, me, waited)? {
        Existing::Freed => Ok(true),
        Existing::LookAgain => Ok(false),
        Existing::Live(Some(found)) if found != kind => Err(Error::KindMismatch {
            name: name.to_string(),
            found,
            expected: kind,
        }),
        Existing::Live(_) => Err(Error::AlreadyExists {
            name: name.to_string(),
        }),
    }
}

/// Removes a name now (`filemap rm`, `Mapping::remove`): holders keep their object, but
/// it can no longer be opened, and the name is free for a new object.
pub(crate) fn remove_entry(name: &Name) -> Result<()> {
    let me = current_uid();
    let file_name = name.entry_file_name(me);
    Dir::run(|dir| remove_in(dir, name, &file_name, me))
}

fn remove_in(dir: &Dir, name: &Name, file_name: &str, me: u32) -> Result<()> {
    let st = rustix::fs::statat(&dir.fd, file_name, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| open_error(name, false, e))?;
    if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
        return Err(Error::Symlink {
            name: name.to_string(),
        });
    }
    check_entry_file(name, &st, Purpose::Open, me)?;
    // The entry is held (shared) while its name is looked at and removed, as a handle's
    // `Mapping::remove` holds it: a last holder closing meanwhile, which removes the name
    // only once it has the lock exclusively, then leaves it to this removal. Unheld, the
    // close could look at the name, this removal unlink it and a create make it again,
    // and the close then remove the new object's name (seen: 2 in 190,000 rounds of a
    // remove and create against a create and close). An entry this user may not open, or
    // one held exclusively past `EXCLUSIVE_WAIT`, is removed unheld.
    let fd = match rustix::fs::openat(&dir.fd, file_name, open_flags(false), Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ACCESS | Errno::PERM) => {
            return unlink_checked(dir, name, file_name, (st.st_dev, st.st_ino));
        }
        Err(e) => return Err(open_error(name, false, e)),
    };
    let held = rustix::fs::fstat(&fd).map_err(|e| Error::io("inspect", name, errno(e)))?;
    if (held.st_dev, held.st_ino) != (st.st_dev, st.st_ino) {
        // Removed and made again since it was looked at: the new object's.
        return Err(Error::NotFound {
            name: name.to_string(),
        });
    }
    match lock_shared_within(&fd, name) {
        // Held exclusively for longer than a closer ever holds it: a reader holding it on
        // purpose, which must not keep the owner from removing its name. Removed unheld.
        Ok(()) | Err(Error::EntryLocked { .. }) => {}
        Err(e) => return Err(e),
    }
    unlink_checked(dir, name, file_name, (st.st_dev, st.st_ino))
}

/// Removes `file_name` if it still names the entry `identity` (device, inode): a name
/// removed and made again meanwhile (by a close, or another `remove`, and a create) is the
/// new object's, left alone ([`Error::NotFound`]: the entry asked for is gone).
fn unlink_checked(dir: &Dir, name: &Name, file_name: &str, (dev, ino): (u64, u64)) -> Result<()> {
    match unlink_if_same(dir, file_name, dev, ino) {
        Ok(true) => Ok(()),
        Ok(false) => Err(Error::NotFound {
            name: name.to_string(),
        }),
        Err(Error::PermissionDenied { .. }) => Err(Error::PermissionDenied {
            what: format!("removing {name}"),
        }),
        Err(e) => Err(e),
    }
}

impl Entry {
    /// For an entry owned by another user (not root): why `file`, the file its header
    /// names, may not be opened for it (`None` if it may): the file is not that user's.
    pub(crate) fn foreign_backing_file(&self, file: &std::fs::File) -> Option<String> {
        use std::os::unix::fs::MetadataExt;
        let owner = self.foreign_owner_uid()?;
        let m = file.metadata().ok()?;
        super::foreign_file_problem(FileType::from_raw_mode(m.mode()), m.uid(), owner)
    }

    /// The uid of this entry's owner if it is another user (not root): whose files alone
    /// its header may name.
    pub(crate) fn foreign_owner_uid(&self) -> Option<u32> {
        let owner = rustix::fs::fstat(&*self.fd).ok()?.st_uid;
        let me = rustix::process::geteuid().as_raw();
        (owner != me && owner != 0).then_some(owner)
    }

    /// For another user's entry: why the path its header names may not even be opened. It
    /// must be a file of the entry's owner, and no device (opening some does something: a
    /// drive's tray closes): looked at before it is opened, without following a link or
    /// mounting anything at its end. (`open_file` looks again, at the inode the path
    /// reaches, before it opens it for use: the path may change between the two; and
    /// `foreign_backing_file` at the file opened.)
    pub(crate) fn foreign_backing_path(&self, path: &Path) -> Option<String> {
        use rustix::fs::{AtFlags, CWD, FileType, StatxFlags};
        let owner = self.foreign_owner_uid()?;
        // (Not there, or not to be looked at: opening it says so.)
        let st = rustix::fs::statx(
            CWD,
            path,
            AtFlags::SYMLINK_NOFOLLOW | AtFlags::NO_AUTOMOUNT,
            StatxFlags::TYPE | StatxFlags::UID,
        )
        .ok()?;
        super::foreign_file_problem(
            FileType::from_raw_mode(st.stx_mode.into()),
            st.stx_uid,
            owner,
        )
    }

    /// Removes this entry's name (if it still names this entry), while the entry stays
    /// open: `Mapping::remove`, which looked at the entry first.
    pub(crate) fn remove_name(&self, name: &Name) -> Result<()> {
        self.name_removal().remove(name)
    }

    /// What removes this entry's name later, once the entry is given away.
    pub(crate) fn name_removal(&self) -> NameRemoval {
        NameRemoval {
            named: self.named.clone(),
            fd: self.fd.clone(),
        }
    }
}

/// Removes an entry's name if it still names the entry, without the entry's handle: for a
/// creator whose set-up fails after the entry was made and handed on (a persistent name
/// must not stay behind over an object that was never made whole). It keeps the entry's
/// descriptor open, so that its inode, which the name is checked against, cannot be freed
/// and given to another file meanwhile.
#[derive(Debug)]
pub(crate) struct NameRemoval {
    named: Option<NamedPart>,
    fd: Arc<OwnedFd>,
}

impl NameRemoval {
    pub(crate) fn remove(&self, name: &Name) -> Result<()> {
        match &self.named {
            Some(named) => {
                unlink_checked(&named.dir, name, &named.file_name, (named.dev, named.ino))
            }
            None => Err(Error::NotFound {
                name: name.to_string(),
            }),
        }
    }

    /// Takes back the name of a whole entry its creator made but could not take on: only
    /// if no other process holds the entry. One that opened the object meanwhile (a
    /// file-backed one grown before its creator failed to take it on) keeps it, and its
    /// name, as any holder does; removed, the name would leave it holding a persistent
    /// object nobody can name, and a create under the name would make a second object
    /// over its file. A hold that is only a look (an opener's or `ls`'s probe, exclusive
    /// for microseconds) is waited out, for at most [`EXCLUSIVE_WAIT`] (then the name
    /// stays). (The creator's own hold goes with the first look, as it gives the entry up:
    /// a conversion refused drops the lock it had.)
    pub(crate) fn take_back(&self, name: &Name) -> Result<()> {
        let started = Instant::now();
        let mut nap = Duration::from_micros(20);
        loop {
            let lock = |op| retry_eintr(|| rustix::fs::flock(&*self.fd, op));
            match lock(FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return self.remove(name),
                Err(Errno::WOULDBLOCK) => {}
                Err(e) => return Err(Error::io("lock", name, errno(e))),
            }
            // Held: shared, by a holder (it keeps the name), or exclusively, by a look. Shared
            // now, nobody can take it exclusively: asked again, a refusal means a holder
            // (a look that let go in between leaves nobody, and the name goes).
            match lock(FlockOperation::NonBlockingLockShared) {
                Ok(()) => {
                    return match lock(FlockOperation::NonBlockingLockExclusive) {
                        Ok(()) => self.remove(name),
                        Err(Errno::WOULDBLOCK) => Ok(()),
                        Err(e) => Err(Error::io("lock", name, errno(e))),
                    };
                }
                Err(Errno::WOULDBLOCK) if started.elapsed() < EXCLUSIVE_WAIT => {
                    std::thread::sleep(nap);
                    nap = (nap * 2).min(Duration::from_millis(5));
                }
                Err(Errno::WOULDBLOCK) => return Ok(()),
                Err(e) => return Err(Error::io("lock", name, errno(e))),
            }
        }
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        let Some(named) = &self.named else { return };
        // A copy in a child made by `fork` (see `NamedPart::generation`) only closes.
        if named.persistent || named.generation != fork_generation() {
            return;
        }
        // Success means no other open file description, in any process, holds the entry.
        if rustix::fs::flock(&self.fd, FlockOperation::NonBlockingLockExclusive).is_ok() {
            let _ = unlink_if_same(&named.dir, &named.file_name, named.dev, named.ino);
        }
    }
}
