//! The platform seam: the only place that calls the operating system.
//!
//! Each backend provides the same crate-private items, which the platform-neutral modules
//! above use without knowing where they run:
//!
//! - `allocation_granularity()`, `current_pid()`, `fork_generation()`,
//!   `watched_fork_generation()`, `current_uid()`;
//! - `Section`: storage that views can be mapped from (a memory entry or a file), and
//!   `RawView`, one mapped region, unmapped on drop;
//! - `Entry`: a handle on a named namespace entry or an unnamed memory object, which holds
//!   the object's lifetime and its header; `create_entry`, `open_entry`, `remove_entry`;
//! - `list_entries()` and `collect_garbage()` for `filemap ls` / `filemap gc`;
//! - the synchronisation objects (`MutexObject`, `EventObject`, `SemaphoreObject`) and
//!   the channel's memory and endpoint locks;
//! - waits on many objects (`waits`) and the async waiter threads (`waiter`);
//! - turning a fault in a copy from shared memory into an error (`fault`);
//! - the file helpers for file-backed mappings and the handle-sharing helpers.
//!
//! This module itself defines the types both backends share: `CreateMode`, `DataInit`,
//! `BeforeNaming`, `Locked`, `SyncRef`, `RawEntry`, `Collected`, `Doorbell`, and
//! `new_header`; and
//! `waker_slot`, what both backends' waiter threads keep of a future's waker.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub(crate) use linux::*;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub(crate) use windows::*;

#[cfg(not(any(target_os = "linux", windows)))]
compile_error!("filemap supports Linux and Windows");

mod waker_slot;

use std::fmt;
use std::fs::File;
use std::path::Path;

use crate::error::Result;
use crate::header::{Flags, HEADER_AREA, Header, Layout};
use crate::name::Name;
use crate::vocabulary::{Kind, Protect, Protection, ShareMode};

/// A doorbell of a channel or topic: its sequence word, which Linux sleeps on (a futex),
/// and which bell it is, whose named event Windows sleeps on.
#[allow(dead_code)] // each backend reads the fields it needs
pub(crate) struct Doorbell<'a> {
    pub bell: Bell,
    pub word: &'a std::sync::atomic::AtomicU32,
}

/// Which doorbell of an object: a channel's receiver or sender (a topic's publisher rings
/// as a sender, an inbox's receiver as a receiver), or a numbered one of an object with
/// many parties (a topic's subscriber slot, an inbox's sender slot).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bell {
    Receiver,
    Sender,
    Slot(u16),
}

impl From<crate::vocabulary::Side> for Bell {
    fn from(side: crate::vocabulary::Side) -> Bell {
        match side {
            crate::vocabulary::Side::Receiver => Bell::Receiver,
            crate::vocabulary::Side::Sender => Bell::Sender,
        }
    }
}

/// A file to open for a file-backed mapping.
#[allow(dead_code)] // each backend reads the fields it needs
pub(crate) struct FileRequest<'a> {
    pub path: &'a Path,
    pub writable: bool,
    /// Windows opens the file with execute access for executable views.
    pub executable: bool,
    /// Windows opens the file with this share mode (Linux keeps it with `lock_file`).
    pub share: ShareMode,
    /// The path is one a header recorded (canonical when recorded): Linux does not follow
    /// a symbolic link at its end. (Windows follows it: another user's object is checked
    /// before, `Entry::foreign_backing_path`.)
    pub recorded: bool,
    /// Another user's entry names the path (Linux: that user's uid, `None` for an entry
    /// of this user's or root's): the inode the path reaches must be a file of that
    /// user's, and no device, looked at on the inode itself before it is opened for use
    /// (a directory on the way swapped for a link between a look at the path and the open
    /// leads elsewhere). Windows looks at the path before (`Entry::foreign_backing_path`).
    pub foreign_owner: Option<u32>,
}

/// How a mapping keeps its file's share mode: Linux takes a `flock`; Windows relies on the
/// share mode the file was opened with, which only a file it opened itself has.
#[allow(dead_code)] // each backend reads the fields it needs
pub(crate) struct FileLockRequest<'a> {
    pub file: &'a File,
    pub share: ShareMode,
    pub opened_here: bool,
    pub path: &'a Path,
}

/// Storage views of a file are mapped from: Linux maps the file itself; Windows makes a
/// section object of `size` bytes with the protection `writable` and `executable` say.
#[allow(dead_code)] // each backend reads the fields it needs
pub(crate) struct FileSectionRequest<'a> {
    pub file: &'a File,
    pub writable: bool,
    pub executable: bool,
    pub size: u64,
    pub what: &'a dyn fmt::Display,
}

/// A range of a view to start writing back: Linux names it by its offset in the section,
/// Windows by its address.
#[allow(dead_code)] // each backend reads the fields it needs
pub(crate) struct WritebackRange {
    pub view: *const u8,
    pub len: usize,
    pub offset: u64,
}

/// A view's new protection; Windows must be told that a writable view is copy-on-write.
#[allow(dead_code)] // each backend reads the fields it needs
pub(crate) struct ViewProtection {
    pub protect: Protect,
    pub copy_on_write: bool,
}

/// What a copy view maps, for dropping its private copies: Windows maps it afresh (at
/// `offset` of `section`, with `protect`); Linux drops the copies in place.
#[allow(dead_code)] // each backend reads the fields it needs
pub(crate) struct CopyViewSource<'a> {
    pub section: &'a Section,
    pub offset: u64,
    pub protect: Protect,
    /// The range of the view locked in memory (`lock`, whole pages: offset and length),
    /// which a view mapped again locks too.
    pub locked: Option<(usize, usize)>,
}

/// Takes the handle numbered `value`, named by `key` (an environment variable or a token
/// another process sent), at most once per process: `wrap` checks that the number names a
/// handle handed to this process and makes it an owned handle. The registry stops a second
/// take of the same number from wrapping, and later closing, a handle something else owns.
pub(crate) fn take_once<T>(
    value: u64,
    key: &str,
    what: &str,
    wrap: impl FnOnce() -> Result<T>,
) -> Result<T> {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static TAKEN: Mutex<Option<HashSet<u64>>> = Mutex::new(None);
    let mut taken = TAKEN.lock().unwrap_or_else(|p| p.into_inner());
    let taken = taken.get_or_insert_with(HashSet::new);
    if taken.contains(&value) {
        return Err(crate::error::Error::SharedHandle {
            key: key.to_string(),
            problem: format!("{what} {value} was already taken"),
        });
    }
    let handle = wrap()?;
    taken.insert(value);
    Ok(handle)
}

/// Whether the object of `header` lives on explicit huge pages (its data starts a huge page
/// in: only unnamed objects asked for `LargePages::Require` are laid out so).
pub(crate) fn on_huge_pages(header: &crate::header::Header) -> bool {
    header.is_large_pages() && huge_page_size().is_some_and(|huge| header.data_offset >= huge)
}

/// The error for committing storage through a handle that cannot write it.
pub(crate) fn cannot_commit(what: &dyn std::fmt::Display) -> crate::error::Error {
    crate::error::Error::AccessNotAllowed {
        requested: crate::vocabulary::Access::Write,
        reason: format!("committing the storage of {what} needs a handle that can write it"),
    }
}

/// The moment `timeout` from now; `None` (wait without a deadline) when that is further
/// than the clock can say, as with `Duration::MAX`.
pub(crate) fn deadline_after(timeout: std::time::Duration) -> Option<std::time::Instant> {
    std::time::Instant::now().checked_add(timeout)
}

/// What a `NoSpace` error adds to its place where the file system's largest file is
/// smaller than the size asked for (`EFBIG`): a limit of where the object goes, as a full
/// file system is, not of the size itself (which `InvalidSize` is for).
pub(crate) const FILE_TOO_LARGE: &str = "(its file system's files cannot be that large)";

/// A deadline that has passed already: that of the calls that may not wait (`try_`). A
/// moment before any wait of this process began, which [`has_passed`] recognises without
/// reading the clock (a precise reading costs more than a `try_recv` that finds nothing).
pub(crate) fn passed_deadline() -> std::time::Instant {
    static AT: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *AT.get_or_init(std::time::Instant::now)
}

/// Whether `deadline` has passed: at once for [`passed_deadline`], else by the clock.
pub(crate) fn has_passed(deadline: std::time::Instant) -> bool {
    deadline == passed_deadline() || std::time::Instant::now() >= deadline
}

/// Whether `create_entry` may open an existing object of that name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CreateMode {
    New,
    OrOpen,
}

/// Initialises the data area of a new entry (a mutex, event words, a shared value, a ring)
/// before anyone can open it: called with a pointer to the data area, mapped read-write.
pub(crate) type DataInit<'a> = Option<&'a dyn Fn(*mut u8) -> Result<()>>;

/// Readies what a new entry refers to outside itself (a file-backed mapping's file, grown to
/// the mapping's size) before any process can open the entry: called by a create only once
/// it has found the name free and is about to give it to the new entry (never when it opens
/// the name's existing object), and again if it must try again.
pub(crate) type BeforeNaming<'a> = Option<&'a dyn Fn() -> Result<()>>;

/// Whether a lock was taken normally or from an owner that died holding it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Locked {
    Normally,
    Abandoned,
}

/// A synchronisation object in a wait on many objects (`crate::wait`): each backend takes
/// it (`take_now`), readies a sleep on it (`arm` / `disarm`), and takes several at once
/// (`take_all`).
#[derive(Clone, Copy, Debug)]
pub(crate) enum SyncRef<'a> {
    Event(&'a EventObject),
    Semaphore(&'a SemaphoreObject),
    Mutex(&'a MutexObject),
}

impl SyncRef<'_> {
    /// Whether both are the same object (two handles of one, which a wait for all could
    /// never take both of): compared by identity, not by name (on Linux an entry's name
    /// may be another object's by now).
    pub(crate) fn same_object(self, other: SyncRef<'_>) -> bool {
        match (self, other) {
            (SyncRef::Event(a), SyncRef::Event(b)) => a.identity() == b.identity(),
            (SyncRef::Semaphore(a), SyncRef::Semaphore(b)) => a.identity() == b.identity(),
            (SyncRef::Mutex(a), SyncRef::Mutex(b)) => a.identity() == b.identity(),
            _ => false,
        }
    }
}

/// What taking a synchronisation object gave: an event's signal or a semaphore's unit,
/// or a mutex's lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Took {
    Signal,
    Lock(Locked),
}

/// How a sleep on many objects (`sleep_on`) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Woke {
    /// Something may have changed (the object at this index, if the system says): look
    /// again.
    Changed(Option<usize>),
    /// The time ran out.
    TimedOut,
    /// The system took the object at this index for the sleeper (Windows: a wait on a
    /// mutex, semaphore or auto-reset event takes it).
    #[cfg_attr(not(windows), allow(dead_code))]
    Took(usize, Took),
}

/// What `filemap ls` shows of one entry.
#[derive(Debug)]
pub(crate) struct RawEntry {
    /// The entry's file name in the namespace directory (Linux) or its kernel name.
    pub file_name: String,
    /// The name, if the file name is a filemap entry's.
    pub name: Option<Name>,
    pub owner: u32,
    pub mode: u32,
    /// Windows: a kernel mutex, event or semaphore of this kind, which has no header.
    pub native: Option<Kind>,
    /// Windows: the owner's SID and the security descriptor in SDDL, where they could be
    /// read; `None` on Linux (`owner` and `mode` say it).
    pub security: Option<(String, String)>,
    /// The header, or what is wrong with it.
    pub header: std::result::Result<Header, String>,
    /// Why this process could not read the entry (it is another user's), if so: then
    /// `header` says nothing is wrong with it, only that it could not be read.
    pub unreadable: Option<String>,
    /// Pids holding the entry; `None` where the system does not say.
    pub holders: Option<Vec<u32>>,
}

/// What `collect_garbage` did (or would do) with one entry.
#[derive(Debug)]
pub(crate) struct Collected {
    pub file_name: String,
    pub name: Option<Name>,
    /// Why it was removed: "stale" or the header problem.
    pub reason: String,
    /// Whether it was removed (false in a dry run or when removal failed).
    pub removed: bool,
    pub error: Option<String>,
}

/// A header for a new object of `kind` created by this process: its data one allocation
/// granule in, the creator's pid and uid, the time now.
pub(crate) fn new_header(
    kind: Kind,
    size: u64,
    flags: Flags,
    mode: u32,
    protection: Protection,
) -> Header {
    let created_unix_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    Header {
        kind,
        flags,
        mode,
        size,
        data_offset: allocation_granularity().max(HEADER_AREA as u64),
        creator_pid: current_pid(),
        creator_uid: current_uid(),
        created_unix_ns,
        layout: Layout::default(),
        protection,
        file: None,
    }
}
