//! Linux backend: memory mapping (`Section`, `RawView`), process identity, and the
//! file helpers. Namespace entries live in `entry.rs`, handle sharing in `share.rs`.

mod entry;
mod share;
mod sync;

pub(crate) use entry::*;
pub(crate) use share::*;
pub(crate) use sync::{EventObject, Locked, MutexObject, SemaphoreObject, SYNC_AREA};

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;

use rustix::mm::{MapFlags, MsyncFlags, ProtFlags};

use crate::error::{Error, Result};
use crate::Access;

/// The alignment of view offsets: the page size.
pub(crate) fn allocation_granularity() -> u64 {
    rustix::param::page_size() as u64
}

pub(crate) fn current_pid() -> u32 {
    rustix::process::getpid().as_raw_nonzero().get() as u32
}

/// The effective uid, which owns the entries this process creates.
pub(crate) fn current_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

pub(crate) fn errno(e: rustix::io::Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

/// Storage that views are mapped from: a memory entry's descriptor or a file's.
#[derive(Debug)]
pub(crate) struct Section {
    fd: OwnedFd,
}

impl Section {
    pub(crate) fn from_handle(fd: OwnedFd) -> Section {
        Section { fd }
    }

    /// A section over `file`; `writable`, `size` and `what` matter only on Windows, where
    /// the section is a mapping object of that size and protection.
    pub(crate) fn from_file(
        file: &File,
        _writable: bool,
        _size: u64,
        _what: &dyn std::fmt::Display,
    ) -> Result<Section> {
        let fd = rustix::io::fcntl_dupfd_cloexec(file, 3)
            .map_err(|e| Error::io("duplicate the descriptor of", "a file", errno(e)))?;
        Ok(Section { fd })
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
        let (prot, mut flags) = match access {
            Access::Read => (ProtFlags::READ, MapFlags::SHARED),
            Access::Write => (ProtFlags::READ | ProtFlags::WRITE, MapFlags::SHARED),
            Access::Copy => (ProtFlags::READ | ProtFlags::WRITE, MapFlags::PRIVATE),
        };
        if populate {
            flags |= MapFlags::POPULATE;
        }
        // SAFETY: a fresh mapping at an address the kernel chooses (no MAP_FIXED), so no
        // existing memory is affected; the descriptor is valid for the call.
        let ptr =
            unsafe { rustix::mm::mmap(std::ptr::null_mut(), len, prot, flags, &self.fd, offset) }
                .map_err(|e| match e {
                rustix::io::Errno::NOMEM => Error::NoSpace {
                    place: "the address space (mapping a view)".into(),
                    size: len as u64,
                },
                rustix::io::Errno::ACCESS | rustix::io::Errno::PERM => Error::PermissionDenied {
                    what: format!("mapping a {access} view of {what}"),
                },
                e => Error::io("map a view of", what, errno(e)),
            })?;
        Ok(RawView {
            ptr: NonNull::new(ptr.cast()).expect("mmap never returns null on success"),
            len,
        })
    }

    /// Makes the data written so far durable (`fdatasync`: data, and the size if it changed).
    pub(crate) fn sync_data(&self, what: &dyn std::fmt::Display) -> Result<()> {
        rustix::fs::fdatasync(&self.fd).map_err(|e| Error::io("flush", what, errno(e)))
    }

    /// Starts write-back of a view's pages (at `offset` in the file) without waiting.
    pub(crate) fn start_writeback(&self, _view: *const u8, len: usize, offset: u64) -> Result<()> {
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

impl Drop for RawView {
    fn drop(&mut self) {
        // SAFETY: the region was mapped by `Section::map` with this length and is unmapped
        // exactly once; no references into it outlive the View that owns this RawView.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// Device and inode of an open file: its identity, recorded in file-backed headers.
pub(crate) fn file_identity(file: &File) -> Result<(u64, u64)> {
    let m = file
        .metadata()
        .map_err(|e| Error::io("inspect", "a file", e))?;
    Ok((m.dev(), m.ino()))
}

/// Whether `file` was opened for writing.
pub(crate) fn file_is_writable(file: &File) -> bool {
    rustix::fs::fcntl_getfl(file)
        .map(|fl| fl.contains(rustix::fs::OFlags::RDWR) || fl.contains(rustix::fs::OFlags::WRONLY))
        .unwrap_or(false)
}

/// The path an open file was opened under, if it still has one.
pub(crate) fn file_path(file: &File) -> Option<PathBuf> {
    let link = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()?;
    let deleted = link.to_str().is_some_and(|s| s.ends_with(" (deleted)"));
    (!deleted && link.is_absolute()).then_some(link)
}

pub(crate) fn path_to_bytes(path: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().to_vec()
}

pub(crate) fn path_from_bytes(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
}

/// Allocates the blocks of `[0, len)` of a file, so that writes through a view cannot fail
/// later for lack of space.
pub(crate) fn allocate(fd: BorrowedFd<'_>, len: u64, place: &dyn std::fmt::Display) -> Result<()> {
    match rustix::fs::fallocate(fd, rustix::fs::FallocateFlags::empty(), 0, len) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::NOSPC) | Err(rustix::io::Errno::NOMEM) => Err(Error::NoSpace {
            place: place.to_string(),
            size: len,
        }),
        Err(rustix::io::Errno::FBIG) => Err(Error::InvalidSize {
            size: len,
            problem: "too large for the file system",
        }),
        // File systems without fallocate: the space is not reserved in advance.
        Err(rustix::io::Errno::OPNOTSUPP) => Ok(()),
        Err(e) => Err(Error::io("allocate space in", place, errno(e))),
    }
}
