//! Linux backend: memory mapping (`Section`, `RawView`), process identity, and allocating
//! the blocks of new storage. Namespace entries live in `entry.rs` (listed and collected
//! in `listing.rs`), handle sharing in `share.rs`, the file helpers for file-backed
//! mappings in `file.rs`, POSIX shared memory segments made by other programs in
//! `foreign.rs`; the synchronisation objects in `sync.rs` (the mutex in `mutex.rs`, handle
//! liveness in `liveness.rs`, single-word futex calls in `futex.rs`), waits on many
//! objects in `waits.rs`, the async waiter threads in `waiter.rs`, faults in copies in
//! `fault.rs`, and zeros in place of an object's memory cut away under it in `rescue.rs`.

mod creation;
mod dir;
mod entry;
#[cfg(target_arch = "x86_64")]
mod fault;
mod file;
mod foreign;
mod futex;
mod handoff;
mod listing;
mod liveness;
mod mutex;
#[cfg(target_arch = "x86_64")]
mod rescue;
mod share;
mod sync;
pub(crate) mod waiter;
pub(crate) mod waits;

pub(crate) use dir::*;
pub(crate) use entry::*;
pub(crate) use file::*;
pub(crate) use foreign::*;
pub(crate) use listing::*;
pub(crate) use share::*;
pub(crate) use sync::{
    ChannelMemory, EndpointLock, EventObject, MutexObject, SemaphoreObject, create_sync, open_sync,
};
pub(crate) use waits::WaitTarget;

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use rustix::mm::{MapFlags, MsyncFlags, ProtFlags};

use crate::error::{Error, Result};
use crate::sys::{CopyViewSource, FileSectionRequest, ViewProtection, WritebackRange};
use crate::vocabulary::{Access, Advice, Protect};

/// The size of a memory page, asked once (glibc answers through `sysconf`, a table walk
/// each time, and every create, open and view asks).
pub(crate) fn page_size() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static PAGE: AtomicU64 = AtomicU64::new(0);
    match PAGE.load(Ordering::Relaxed) {
        0 => {
            let page = rustix::param::page_size() as u64;
            PAGE.store(page, Ordering::Relaxed);
            page
        }
        page => page,
    }
}

/// The default huge page size (`Hugepagesize` in `/proc/meminfo`), if the system has one.
pub(crate) fn huge_page_size() -> Option<u64> {
    static SIZE: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *SIZE.get_or_init(|| {
        let info = std::fs::read_to_string("/proc/meminfo").ok()?;
        let line = info.lines().find(|l| l.starts_with("Hugepagesize:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    })
}

/// The alignment of view offsets: the page size.
pub(crate) fn allocation_granularity() -> u64 {
    page_size()
}

/// A coarse monotonic clock, in milliseconds from an unspecified start: the kernel's tick
/// (`CLOCK_MONOTONIC_COARSE`, read without a system call and without reading the time
/// stamp counter: a few nanoseconds, a tenth of a precise reading), for what needs only to
/// know whether some tens of milliseconds have passed.
pub(crate) fn coarse_millis() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::MonotonicCoarse);
    (t.tv_sec as u64).wrapping_mul(1000) + t.tv_nsec as u64 / 1_000_000
}

/// This process's id, asked once and again after a `fork` (glibc no longer caches it): what
/// a header records as its creator. (A copy made by `fork` is told by the fork generation
/// instead, [`fork_generation`]: a pid may be a dead process's reused one.)
pub(crate) fn current_pid() -> u32 {
    let cached = PID.load(Ordering::Relaxed);
    if cached != 0 {
        return cached;
    }
    if !WATCHING.load(Ordering::Acquire) {
        watch_forks();
    }
    let pid = rustix::process::getpid().as_raw_nonzero().get() as u32;
    PID.store(pid, Ordering::Relaxed);
    pid
}

/// How many `fork`s (without `exec`) made this process from the one that started the
/// program, counted from the first call of [`watched_fork_generation`] or [`current_pid`]
/// (which start the count): a process and its
/// children differ, whatever their ids (a child's pid may be one its dead parent had).
/// One load: what an endpoint's every call, a mutex's every lock and unlock, and an
/// entry's drop compare with the generation noted when it was opened (`channel::endpoint`,
/// `mutex::Owner`, `entry::NamedPart`).
#[inline(always)]
pub(crate) fn fork_generation() -> u64 {
    FORKS.load(Ordering::Relaxed)
}

/// [`fork_generation`], the count started first if it was not: what an endpoint notes
/// when it is opened (so every fork after that is counted).
pub(crate) fn watched_fork_generation() -> u64 {
    if !WATCHING.load(Ordering::Acquire) {
        watch_forks();
    }
    FORKS.load(Ordering::Relaxed)
}

/// [`current_pid`]'s cache: 0 until asked, and again in a child.
static PID: AtomicU32 = AtomicU32::new(0);
/// [`fork_generation`]'s count.
static FORKS: AtomicU64 = AtomicU64::new(0);
/// Whether [`in_child`] is registered to run after every `fork`.
static WATCHING: AtomicBool = AtomicBool::new(false);

/// Run by the C library in a child right after `fork`: two atomic stores, which is
/// async-signal-safe (the child of a multi-threaded process may do nothing more).
extern "C" fn in_child() {
    PID.store(0, Ordering::Relaxed);
    FORKS.fetch_add(1, Ordering::Relaxed);
}

/// Registers [`in_child`], then says so: a thread that finds [`WATCHING`] set knows the
/// handler runs in every child made from then on, and one that does not registers it
/// itself (two threads racing both register it: each fork is then counted twice, which
/// the comparisons of counts do not mind, and the pid forgotten twice). Not a `Once`: a
/// `fork` by another thread during the registration would leave the child's copy of it
/// running for ever. A registration that fails (no memory) is tried again next time.
#[cold]
fn watch_forks() {
    // SAFETY: registers a child handler that only stores to atomics; the handlers are
    // never unregistered, and `in_child` lives as long as the program.
    if unsafe { libc::pthread_atfork(None, None, Some(in_child)) } == 0 {
        WATCHING.store(true, Ordering::Release);
    }
}

/// The effective uid, which owns the entries this process creates.
pub(crate) fn current_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

pub(crate) fn errno(e: rustix::io::Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

/// The path under `/proc` that opens or names descriptor `fd` of this process:
/// `/proc/thread-self/fd/N` (see [`proc_self`]).
pub(super) fn fd_path(fd: std::os::fd::RawFd) -> String {
    format!("{}/fd/{fd}", proc_self())
}

/// This process's directory under `/proc` as the calling thread sees it:
/// `/proc/thread-self`, since `/proc/self` fails once the main thread has exited
/// (`pthread_exit`: its file table and memory go with it while the process lives on);
/// `/proc/self` where the kernel lacks `thread-self` (before Linux 3.17).
pub(super) fn proc_self() -> &'static str {
    use std::sync::atomic::AtomicU8;
    /// 0: not looked at yet; 1: `/proc/thread-self` is there; 2: it is not.
    static THREAD_SELF: AtomicU8 = AtomicU8::new(0);
    let mut known = THREAD_SELF.load(Ordering::Relaxed);
    if known == 0 {
        known = if std::path::Path::new("/proc/thread-self").exists() {
            1
        } else {
            2
        };
        THREAD_SELF.store(known, Ordering::Relaxed);
    }
    if known == 1 {
        "/proc/thread-self"
    } else {
        "/proc/self"
    }
}

/// Runs `f` again while a signal interrupts it (`EINTR`).
pub(super) fn retry_eintr<T>(
    mut f: impl FnMut() -> rustix::io::Result<T>,
) -> rustix::io::Result<T> {
    loop {
        match f() {
            Err(rustix::io::Errno::INTR) => continue,
            r => return r,
        }
    }
}

/// Storage that views are mapped from: a memory entry's descriptor or a file's.
#[derive(Debug)]
pub(crate) struct Section {
    fd: Arc<OwnedFd>,
}

impl Section {
    /// How many bytes the storage holds now (a file or entry another process may have
    /// truncated); `None` if the system does not say.
    pub(crate) fn stored_len(&self) -> Option<u64> {
        rustix::fs::fstat(&self.fd).ok().map(|st| st.st_size as u64)
    }

    pub(crate) fn from_handle(fd: OwnedFd) -> Section {
        Section { fd: Arc::new(fd) }
    }

    /// A section over a descriptor its owner keeps too.
    pub(crate) fn shared(fd: Arc<OwnedFd>) -> Section {
        Section { fd }
    }

    /// A section over `file`; `writable`, `size` and `what` matter only on Windows, where
    /// the section is a mapping object of that size and protection.
    pub(crate) fn from_file(request: &FileSectionRequest<'_>) -> Result<Section> {
        let fd = rustix::io::fcntl_dupfd_cloexec(request.file, 3)
            .map_err(|e| Error::io("duplicate the descriptor of", "a file", errno(e)))?;
        Ok(Section::from_handle(fd))
    }

    /// Marks the section as allowing executable views (nothing to do on Linux: the check
    /// is the object's header flag).
    pub(crate) fn with_executable(self, _executable: bool) -> Section {
        self
    }

    /// Marks the section as one on huge pages (nothing to do on Linux: a view of a hugetlb
    /// file is on huge pages).
    pub(crate) fn with_large_pages(self, _large_pages: bool) -> Section {
        self
    }

    pub(crate) fn handle(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Maps `len` bytes at `offset` (a multiple of the allocation granularity).
    pub(crate) fn map(
        &self,
        offset: u64,
        len: usize,
        access: Access,
        populate: bool,
        what: &dyn std::fmt::Display,
    ) -> Result<RawView> {
        self.map_at(offset, len, access, populate, None, what)
    }

    /// Like `map`, at the address `at` if given (never replacing an existing mapping:
    /// `MAP_FIXED_NOREPLACE`, and the address returned is checked).
    pub(crate) fn map_at(
        &self,
        offset: u64,
        len: usize,
        access: Access,
        populate: bool,
        at: Option<*mut u8>,
        what: &dyn std::fmt::Display,
    ) -> Result<RawView> {
        // A view's copies report faults from now on (once per process).
        #[cfg(target_arch = "x86_64")]
        fault::guard_copies();
        let (prot, mut flags) = match access {
            Access::Read => (ProtFlags::READ, MapFlags::SHARED),
            Access::Write => (ProtFlags::READ | ProtFlags::WRITE, MapFlags::SHARED),
            Access::Copy => (ProtFlags::READ | ProtFlags::WRITE, MapFlags::PRIVATE),
        };
        // A private writable mapping is populated by writing each page's private copy
        // (`MAP_POPULATE`, as `mlock`): a copy view would then have changed every page.
        // It is populated for reading below instead.
        if populate && access != Access::Copy {
            flags |= MapFlags::POPULATE;
        }
        if at.is_some() {
            flags |= MapFlags::FIXED_NOREPLACE;
        }
        let hint = at.unwrap_or_default();
        // SAFETY: a fresh mapping; with an address, MAP_FIXED_NOREPLACE fails rather than
        // replace anything mapped there, so no existing memory is affected. The descriptor
        // is valid for the call.
        let ptr = unsafe { rustix::mm::mmap(hint.cast(), len, prot, flags, &self.fd, offset) }
            .map_err(|e| match e {
                rustix::io::Errno::EXIST if at.is_some() => Error::AddressInUse {
                    addr: hint as usize,
                    len,
                },
                rustix::io::Errno::NOMEM => Error::NoSpace {
                    place: "the address space (mapping a view)".into(),
                    size: len as u64,
                },
                rustix::io::Errno::ACCESS | rustix::io::Errno::PERM => Error::PermissionDenied {
                    what: format!("mapping a {access} view of {what}"),
                },
                e => Error::io("map a view of", what, errno(e)),
            })?;
        let view = RawView {
            ptr: NonNull::new(ptr.cast()).expect("mmap never returns null on success"),
            len,
        };
        if let Some(at) = at {
            if view.ptr() != at {
                // A kernel older than 4.17 took the address as a hint only.
                return Err(Error::AddressInUse {
                    addr: at as usize,
                    len,
                });
            }
        }
        if populate && access == Access::Copy {
            view.populate_for_reading();
        }
        Ok(view)
    }

    /// Allocates `[offset, offset + len)` of the storage (`fallocate`), never changing its
    /// length: a file another process cut short stays so (the caller says so).
    pub(crate) fn commit(&self, offset: u64, len: u64, what: &dyn std::fmt::Display) -> Result<()> {
        // tmpfs stops an allocation at a pending signal (EINTR, not restarted by
        // SA_RESTART), undoing what it did: made again.
        let allocated = retry_eintr(|| {
            let keep_size = rustix::fs::FallocateFlags::KEEP_SIZE;
            rustix::fs::fallocate(&self.fd, keep_size, offset, len)
        });
        match allocated {
            Ok(()) => Ok(()),
            Err(rustix::io::Errno::NOSPC | rustix::io::Errno::NOMEM | rustix::io::Errno::DQUOT) => {
                Err(Error::NoSpace {
                    place: what.to_string(),
                    size: len,
                })
            }
            Err(rustix::io::Errno::OPNOTSUPP) => Ok(()),
            Err(rustix::io::Errno::BADF) => Err(super::cannot_commit(what)),
            Err(e) => Err(Error::io("commit memory of", what, errno(e))),
        }
    }

    /// Makes the data written so far durable (`fdatasync`: data, and the size if it changed).
    pub(crate) fn sync_data(&self, what: &dyn std::fmt::Display) -> Result<()> {
        rustix::fs::fdatasync(&self.fd).map_err(|e| Error::io("flush", what, errno(e)))
    }

    /// Starts write-back of a view's pages (at `offset` in the file) without waiting.
    pub(crate) fn start_writeback(&self, range: &WritebackRange) -> Result<()> {
        let WritebackRange { len, offset, .. } = *range;
        // SAFETY: plain syscall on a valid descriptor; no memory is passed.
        let r = unsafe {
            libc::sync_file_range(
                self.fd.as_raw_fd(),
                offset as libc::off64_t,
                len as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            )
        };
        if r != 0 {
            let err = io::Error::last_os_error();
            // tmpfs and some file systems have nothing to write back.
            if err.raw_os_error() != Some(libc::ESPIPE) && err.raw_os_error() != Some(libc::EINVAL)
            {
                return Err(Error::io("start write-back of", "a view", err));
            }
        }
        Ok(())
    }
}

/// One mapped region; unmapped on drop.
#[derive(Debug)]
pub(crate) struct RawView {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: a RawView is an address range; it has no thread affinity. Access to the memory
// goes through `View`, which upholds the aliasing rules.
unsafe impl Send for RawView {}
// SAFETY: as above; shared references only hand out raw pointers.
unsafe impl Sync for RawView {}

impl RawView {
    #[inline]
    pub(crate) fn ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Writes the pages of `[offset, offset + len)` (relative to the region, page-aligned
    /// start) back to their storage and waits (`msync(MS_SYNC)`).
    pub(crate) fn sync(&self, offset: usize, len: usize) -> Result<()> {
        if len == 0 {
            return Ok(());
        }
        // SAFETY: the range lies within this mapping (callers clamp it) and starts on a
        // page boundary; msync does not change the memory's contents.
        unsafe { rustix::mm::msync(self.ptr.as_ptr().add(offset).cast(), len, MsyncFlags::SYNC) }
            .map_err(|e| Error::io("flush", "a view", errno(e)))
    }
}

impl RawView {
    /// Gives the kernel advice about `[offset, offset + len)` of the region (page-aligned
    /// start).
    pub(crate) fn advise(&self, offset: usize, len: usize, advice: Advice) -> Result<()> {
        use rustix::mm::Advice as A;
        let a = match advice {
            Advice::Normal => A::Normal,
            Advice::Sequential => A::Sequential,
            Advice::Random => A::Random,
            Advice::WillNeed => A::WillNeed,
            Advice::DontNeed => A::LinuxDontNeed,
        };
        // SAFETY: the range is inside this mapping; for shared mappings none of these
        // advices changes the memory's contents (DONTNEED drops pages that are re-read
        // from their storage), and callers refuse DONTNEED on private (copy) views.
        unsafe { rustix::mm::madvise(self.ptr.as_ptr().add(offset).cast(), len, a) }
            .map_err(|e| Error::io("advise the kernel about", "a view", errno(e)))
    }

    /// Advises the kernel to back the region with transparent huge pages (best effort).
    pub(crate) fn advise_huge_pages(&self) {
        // SAFETY: the whole region is this mapping; the advice does not change contents.
        let _ = unsafe {
            rustix::mm::madvise(
                self.ptr.as_ptr().cast(),
                self.len,
                rustix::mm::Advice::LinuxHugepage,
            )
        };
    }

    /// Changes the protection of the whole region (`private`: a copy view; matters on
    /// Windows only).
    pub(crate) fn protect(&self, protection: &ViewProtection) -> Result<()> {
        use rustix::mm::MprotectFlags as P;
        // A private mapping made writable stays copy-on-write by itself.
        let flags = match protection.protect {
            Protect::ReadOnly => P::READ,
            Protect::ReadWrite => P::READ | P::WRITE,
            Protect::ReadExecute => P::READ | P::EXEC,
        };
        // SAFETY: the whole region is this mapping; callers hold `&mut View`, so no
        // reference into it exists that a protection change could invalidate.
        unsafe { rustix::mm::mprotect(self.ptr.as_ptr().cast(), self.len, flags) }.map_err(|e| {
            match e {
                rustix::io::Errno::ACCESS | rustix::io::Errno::PERM => Error::PermissionDenied {
                    what: format!("making a view {}", protection.protect),
                },
                e => Error::io("change the protection of", "a view", errno(e)),
            }
        })
    }

    /// Faults the whole region in for reading (`MADV_POPULATE_READ`, Linux 5.14): a copy
    /// view's pages stay the object's (best effort, as `MAP_POPULATE`: an older kernel
    /// populates nothing).
    fn populate_for_reading(&self) {
        // SAFETY: the whole region is this mapping; reading faults change no contents.
        let _ = unsafe {
            rustix::mm::madvise(
                self.ptr.as_ptr().cast(),
                self.len,
                rustix::mm::Advice::LinuxPopulateRead,
            )
        };
    }

    /// Locks `[offset, offset + len)` in memory (`mlock`). A copy view's (`private`) is
    /// faulted in for reading, then locked as it is (`MLOCK_ONFAULT`): `mlock` of a
    /// private writable mapping writes each page's private copy, and the view would then
    /// have changed every page; a page it copies later is locked as it is copied.
    ///
    /// `mlock` marks the range locked before it brings the pages in, and a page it cannot
    /// bring in (storage cut short) fails the call with the mark left: unless the range
    /// `was_locked` before, the mark is taken off again, so that a failed lock locks
    /// nothing.
    pub(crate) fn lock(
        &self,
        offset: usize,
        len: usize,
        private: bool,
        was_locked: bool,
    ) -> Result<()> {
        // SAFETY: the range is inside this mapping; neither call changes its contents.
        let locked = unsafe {
            let at = self.ptr.as_ptr().add(offset).cast();
            if private {
                let _ = rustix::mm::madvise(at, len, rustix::mm::Advice::LinuxPopulateRead);
                rustix::mm::mlock_with(at, len, rustix::mm::MlockFlags::ONFAULT)
            } else {
                rustix::mm::mlock(at, len)
            }
        };
        if locked.is_err() && !was_locked {
            let _ = self.unlock(offset, len);
        }
        locked.map_err(|e| match e {
            rustix::io::Errno::NOMEM | rustix::io::Errno::PERM | rustix::io::Errno::AGAIN => {
                Error::LockLimit {
                    len: len as u64,
                    reason: format!("{} (see RLIMIT_MEMLOCK, `ulimit -l`)", errno(e)),
                }
            }
            e => Error::io("lock in memory", "a view", errno(e)),
        })
    }

    /// Which pages of the region this process has written privately (a copy view's
    /// copied pages), from `/proc/self/pagemap` (see [`privately_written`]), read a
    /// bounded chunk at a time (a view of terabytes needs no buffer of gigabytes). Returns
    /// page indices from the region's start; `None` where `/proc` has no pagemap this
    /// process may read (no `/proc` mounted, a sandbox without it, Linux 4.0 and 4.1 for
    /// unprivileged users), for the caller to compare the pages instead.
    pub(crate) fn private_pages(&self) -> Result<Option<Vec<usize>>> {
        /// Pagemap entries read at once (64 KiB).
        const CHUNK: usize = 8192;
        let page = page_size() as usize;
        let pages = self.len.div_ceil(page);
        let first = self.ptr.as_ptr() as usize / page;
        // (The calling thread's view: the main thread's is empty once it has exited.)
        let path = format!("{}/pagemap", proc_self());
        let failed = |e| Error::io("read", &path, e);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if is_unreadable_proc(&e) => return Ok(None),
            Err(e) => return Err(failed(e)),
        };
        let mut entries = vec![0u8; CHUNK.min(pages) * 8];
        let mut written = Vec::new();
        let mut from = 0;
        while from < pages {
            let count = CHUNK.min(pages - from);
            let chunk = &mut entries[..count * 8];
            match std::os::unix::fs::FileExt::read_exact_at(
                &file,
                chunk,
                ((first + from) * 8) as u64,
            ) {
                Ok(()) => {}
                Err(e) if is_unreadable_proc(&e) => return Ok(None),
                Err(e) => return Err(failed(e)),
            }
            written.extend(chunk.chunks_exact(8).enumerate().filter_map(|(i, e)| {
                let entry = u64::from_le_bytes(e.try_into().expect("chunks of 8 bytes"));
                privately_written(entry).then_some(from + i)
            }));
            from += count;
        }
        Ok(Some(written))
    }

    /// Drops the region's private copies, so that it shows its storage again
    /// (`MADV_DONTNEED` on a private mapping). `_section` and `_offset` matter on Windows.
    pub(crate) fn discard_private(&mut self, _source: &CopyViewSource<'_>) -> Result<()> {
        let drop_pages = |advice| {
            // SAFETY: the whole region is this private mapping; callers hold `&mut View`,
            // so no reference into it exists; the pages read back from the storage.
            unsafe { rustix::mm::madvise(self.ptr.as_ptr().cast(), self.len, advice) }
        };
        // A locked view refuses DONTNEED (EINVAL); DONTNEED_LOCKED (Linux 5.18) drops its
        // pages too, and the lock stays for the pages faulted in again.
        drop_pages(rustix::mm::Advice::LinuxDontNeed)
            .or_else(|e| match e {
                rustix::io::Errno::INVAL => drop_pages(rustix::mm::Advice::LinuxDontneedLocked),
                e => Err(e),
            })
            .map_err(|e| Error::io("discard the changes of", "a copy view", errno(e)))
    }

    /// Unlocks what `lock` locked.
    pub(crate) fn unlock(&self, offset: usize, len: usize) -> Result<()> {
        // SAFETY: the range is inside this mapping.
        unsafe { rustix::mm::munlock(self.ptr.as_ptr().add(offset).cast(), len) }
            .map_err(|e| Error::io("unlock", "a view", errno(e)))
    }
}

impl Drop for RawView {
    fn drop(&mut self) {
        // SAFETY: the region was mapped by `Section::map` with this length and is unmapped
        // exactly once; no references into it outlive the View that owns this RawView.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// Whether an error opening or reading `/proc/.../pagemap` means this process cannot read
/// it at all (not there, or refused), rather than a failure to report.
fn is_unreadable_proc(e: &io::Error) -> bool {
    // (Permission denied is EACCES or EPERM.)
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
    )
}

/// Whether a `/proc/self/pagemap` entry is a page this process wrote privately: present
/// (bit 63) or swapped out (bit 62), and not a file page (bit 61). A page being migrated
/// shows as swapped with the file bit when it is the file's (compaction, NUMA balancing):
/// not a private copy, though an older test (present and not a file page, or swapped)
/// took it for one, and a commit would have written the shared page back over what other
/// processes wrote to it.
fn privately_written(entry: u64) -> bool {
    let present = entry & (1 << 63) != 0;
    let swapped = entry & (1 << 62) != 0;
    let file_page = entry & (1 << 61) != 0;
    (present || swapped) && !file_page
}

/// Allocates the blocks of `[0, len)` of a file, so that writes through a view cannot fail
/// later for lack of space.
pub(crate) fn allocate(fd: BorrowedFd<'_>, len: u64, place: &dyn std::fmt::Display) -> Result<()> {
    let no_space = || Error::NoSpace {
        place: place.to_string(),
        size: len,
    };
    // Memory with no limit of its own (an unnamed object's memfd, a tmpfs larger than the
    // memory) would be allocated until the kernel's out-of-memory killer ends a process,
    // perhaps another one: a large allocation there is first compared with what the
    // system (and this process's cgroup) can still give.
    if len >= LARGE_MEMORY_ALLOCATION
        && in_memory(fd)
        && memory_available().is_some_and(|available| len > available)
    {
        return Err(no_space());
    }
    // tmpfs stops an allocation at a pending signal (EINTR, not restarted by SA_RESTART),
    // undoing what it did: made again.
    match retry_eintr(|| rustix::fs::fallocate(fd, rustix::fs::FallocateFlags::empty(), 0, len)) {
        Ok(()) => Ok(()),
        // EDQUOT: a quota (tmpfs's, or a disk's for FILEMAP_DIR on one).
        Err(rustix::io::Errno::NOSPC | rustix::io::Errno::NOMEM | rustix::io::Errno::DQUOT) => {
            Err(no_space())
        }
        // A file system whose files cannot be that large (ext4's stop at 16 TiB): a limit
        // of where the object goes, as a full one is, not of the size itself.
        Err(rustix::io::Errno::FBIG) => Err(Error::NoSpace {
            place: format!("{place} {}", crate::sys::FILE_TOO_LARGE),
            size: len,
        }),
        // File systems without fallocate: the space is not reserved in advance.
        Err(rustix::io::Errno::OPNOTSUPP) => Ok(()),
        Err(e) => Err(Error::io("allocate space in", place, errno(e))),
    }
}

/// From this size on, an allocation in memory is first compared with `memory_available`
/// (which reads a few small files: not worth it for smaller ones).
const LARGE_MEMORY_ALLOCATION: u64 = 64 << 20;

/// Whether the file's pages are memory (tmpfs, as memfds and /dev/shm are, or ramfs).
fn in_memory(fd: BorrowedFd<'_>) -> bool {
    const TMPFS_MAGIC: u32 = 0x0102_1994;
    const RAMFS_MAGIC: u32 = 0x8584_58f6;
    // (The magic numbers are 32 bits; the field is wider on 64-bit targets.)
    rustix::fs::fstatfs(fd).is_ok_and(|s| matches!(s.f_type as u32, TMPFS_MAGIC | RAMFS_MAGIC))
}

/// How many bytes of memory the system can still give: what it says is available
/// (`MemAvailable`) plus free swap, less if this process's cgroup (v2) has a lower limit
/// left. `None` if the system does not say.
fn memory_available() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = info.lines().find(|l| l.starts_with(name))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb.saturating_mul(1024))
    };
    let system = field("MemAvailable:")?.saturating_add(field("SwapFree:").unwrap_or(0));
    Some(cgroup_memory_left().map_or(system, |left| left.min(system)))
}

/// What this process's cgroup may still use before its memory limit: the limit less
/// what is used, not counting the file cache the kernel can drop (v2: `memory.max`,
/// `memory.current`, `memory.stat`'s `active_file` and `inactive_file`; v1:
/// `memory.limit_in_bytes`, `memory.usage_in_bytes`, `total_active_file`,
/// `total_inactive_file`). `None` without a limit, or where that cannot be read.
fn cgroup_memory_left() -> Option<u64> {
    let groups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let left = |dir: std::path::PathBuf, [max, current, stat_prefix]: [&str; 3]| {
        let read = |file: &str| std::fs::read_to_string(dir.join(file)).ok();
        let number = |file: &str| -> Option<u64> { read(file)?.trim().parse().ok() };
        // "max" (v2) does not parse; v1 says "no limit" with a number near 2^63.
        let max = number(max).filter(|&m| m < 1 << 62)?;
        let stat = read("memory.stat").unwrap_or_default();
        let cache: u64 = ["active_file", "inactive_file"]
            .iter()
            .filter_map(|field| {
                let key = format!("{stat_prefix}{field} ");
                let line = stat.lines().find(|l| l.starts_with(&key))?;
                line[key.len()..].trim().parse::<u64>().ok()
            })
            .sum();
        let used = number(current)?.saturating_sub(cache);
        Some(max.saturating_sub(used))
    };
    let root = std::path::Path::new("/sys/fs/cgroup");
    let v1 = groups.lines().find_map(|l| {
        let (_, rest) = l.split_once(':')?;
        let (controllers, path) = rest.split_once(':')?;
        controllers
            .split(',')
            .any(|c| c == "memory")
            .then_some(path)
    });
    if let Some(path) = v1 {
        let dir = root.join("memory").join(path.trim_start_matches('/'));
        return left(
            dir,
            ["memory.limit_in_bytes", "memory.usage_in_bytes", "total_"],
        );
    }
    let path = groups.lines().find_map(|l| l.strip_prefix("0::"))?;
    let dir = root.join(path.trim_start_matches('/'));
    left(dir, ["memory.max", "memory.current", ""])
}

#[cfg(test)]
mod tests {
    use super::privately_written;

    #[test]
    fn pagemap_entries_of_private_copies_only() {
        const PRESENT: u64 = 1 << 63;
        const SWAPPED: u64 = 1 << 62;
        const FILE: u64 = 1 << 61;
        assert!(
            privately_written(PRESENT | 0x1234),
            "a private copy in memory"
        );
        assert!(
            privately_written(SWAPPED | 0x77),
            "a private copy swapped out"
        );
        assert!(!privately_written(PRESENT | FILE), "the file's page, read");
        assert!(
            !privately_written(SWAPPED | FILE),
            "the file's page, being migrated"
        );
        assert!(!privately_written(0), "never touched");
        assert!(!privately_written(FILE), "nothing there");
    }
}
