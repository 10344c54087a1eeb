//! Windows backend over `windows-sys`: sections (`CreateFileMappingW` /
//! `OpenFileMappingW`), views (`MapViewOfFile`, `FlushViewOfFile`, `UnmapViewOfFile`),
//! system information and the Win32 helpers the other modules share. Named entries live
//! in `entry.rs`, handle sharing in `share.rs`, the file helpers for file-backed mappings
//! in `file.rs`, sections made by other programs in `foreign.rs`, security descriptors
//! and owner checks in `security.rs`, the checks of a file-backed object's header
//! section before its file is opened in `header_trust.rs`, the list of named objects in `listing.rs`; creation
//! under a named lock in `creation.rs`, large pages in `large_pages.rs`, the
//! synchronisation objects in `sync.rs`, waits on many objects in `waits.rs`, the async
//! waiter threads in `waiter.rs`, and faults in copies in `fault.rs`.

mod creation;
mod entry;
#[cfg(target_arch = "x86_64")]
mod fault;
mod file;
mod foreign;
mod header_trust;
pub(crate) mod large_pages;
mod listing;
pub(crate) mod security;
mod share;
mod sync;
pub(crate) mod waiter;
pub(crate) mod waits;

pub(crate) use entry::*;
pub(crate) use file::*;
pub(crate) use foreign::*;
pub(crate) use listing::{global_namespace_identity, list_entries, namespace_identity};
pub(crate) use share::*;
pub(crate) use sync::{
    ChannelMemory, EndpointLock, EventObject, MutexObject, SemaphoreObject, create_sync, open_sync,
};
pub(crate) use waits::WaitTarget;

use std::fmt;
use std::fs::File;
use std::io;
use std::os::windows::ffi::OsStrExt;
use std::os::windows::io::{AsHandle, AsRawHandle, BorrowedHandle, FromRawHandle, OwnedHandle};
use std::path::PathBuf;
use std::ptr::NonNull;
use std::sync::{Mutex, OnceLock};

use windows_sys::Win32::Foundation::{
    ERROR_ACCESS_DENIED, ERROR_COMMITMENT_LIMIT, ERROR_DISK_FULL, ERROR_FILE_INVALID,
    ERROR_INVALID_ADDRESS, ERROR_NOT_ENOUGH_MEMORY, ERROR_NOT_LOCKED, ERROR_OUTOFMEMORY,
    ERROR_WORKING_SET_QUOTA, GetLastError, HANDLE, INVALID_HANDLE_VALUE,
};
use windows_sys::Win32::Storage::FileSystem::FlushFileBuffers;
use windows_sys::Win32::System::Memory::{
    CreateFileMappingW, FILE_MAP_COPY, FILE_MAP_EXECUTE, FILE_MAP_LARGE_PAGES, FILE_MAP_READ,
    FILE_MAP_WRITE, FlushViewOfFile, MEM_COMMIT, MEMORY_BASIC_INFORMATION,
    MEMORY_MAPPED_VIEW_ADDRESS, MapViewOfFileEx, PAGE_EXECUTE_READ, PAGE_EXECUTE_READWRITE,
    PAGE_READONLY, PAGE_READWRITE, PAGE_WRITECOPY, PrefetchVirtualMemory, UnmapViewOfFile,
    VirtualAlloc, VirtualLock, VirtualProtect, VirtualQuery, VirtualUnlock,
    WIN32_MEMORY_RANGE_ENTRY,
};
use windows_sys::Win32::System::SystemInformation::{GetSystemInfo, SYSTEM_INFO};
use windows_sys::Win32::System::Threading::GetCurrentProcess;

use crate::error::{Error, Result};
use crate::name::{Name, Scope};
use crate::sys::{CopyViewSource, FileSectionRequest, ViewProtection, WritebackRange};
use crate::vocabulary::{Access, Advice, Protect};

/// The system's page size and allocation granularity, asked once.
fn system_info() -> (u64, u64) {
    static INFO: OnceLock<(u64, u64)> = OnceLock::new();
    *INFO.get_or_init(|| {
        // SAFETY: SYSTEM_INFO is plain data; all zeros is a valid value.
        let mut info: SYSTEM_INFO = unsafe { std::mem::zeroed() };
        // SAFETY: GetSystemInfo fills the structure it is given and cannot fail.
        unsafe { GetSystemInfo(&mut info) };
        let page = u64::from(info.dwPageSize).max(4096);
        (page, u64::from(info.dwAllocationGranularity).max(page))
    })
}

/// The alignment of view offsets: the allocation granularity (64 KiB).
pub(crate) fn allocation_granularity() -> u64 {
    system_info().1
}

/// The size of a memory page.
pub(crate) fn page_size() -> u64 {
    system_info().0
}

/// The system's large-page size, by which objects on large pages are laid out (making one
/// takes `SeLockMemoryPrivilege`: `large_pages.rs`).
pub(crate) fn huge_page_size() -> Option<u64> {
    large_pages::size()
}

/// Whether this process runs under Wine (whose ntdll exports `wine_get_version`).
fn running_under_wine() -> bool {
    use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
    static WINE: OnceLock<bool> = OnceLock::new();
    *WINE.get_or_init(|| {
        let ntdll = wide("ntdll.dll");
        // SAFETY: ntdll is loaded in every process; a valid NUL-terminated name.
        unsafe {
            let module = GetModuleHandleW(ntdll.as_ptr());
            !module.is_null()
                && GetProcAddress(module, c"wine_get_version".as_ptr().cast()).is_some()
        }
    })
}

pub(crate) fn current_pid() -> u32 {
    std::process::id()
}

/// A coarse monotonic clock, in milliseconds since the system started: its tick count
/// (`GetTickCount64`, which reads memory the kernel keeps current, every 10 to 16 ms),
/// for what needs only to know whether some tens of milliseconds have passed.
pub(crate) fn coarse_millis() -> u64 {
    // SAFETY: no arguments; it cannot fail.
    unsafe { windows_sys::Win32::System::SystemInformation::GetTickCount64() }
}

/// How many `fork`s made this process: none, Windows has no `fork` (see the Linux one).
#[inline(always)]
pub(crate) const fn fork_generation() -> u64 {
    0
}

/// [`fork_generation`] (see the Linux one).
pub(crate) const fn watched_fork_generation() -> u64 {
    0
}

/// Windows has no uid; objects are protected by their security descriptors.
pub(crate) fn current_uid() -> u32 {
    0
}

pub(crate) fn last_error() -> u32 {
    // SAFETY: reads the calling thread's last-error value.
    unsafe { GetLastError() }
}

pub(crate) fn os_error(code: u32) -> io::Error {
    io::Error::from_raw_os_error(code as i32)
}

pub(crate) fn wide(s: &str) -> Vec<u16> {
    std::ffi::OsStr::new(s)
        .encode_wide()
        .chain(Some(0))
        .collect()
}

/// The kernel object name: `Local\base` or `Global\base`.
pub(crate) fn kernel_name(name: &Name) -> Vec<u16> {
    match name.scope() {
        Scope::Local => wide(&format!("Local\\{}", name.base())),
        Scope::Global => wide(&format!("Global\\{}", name.base())),
    }
}

/// Takes ownership of a handle returned by a Win32 call, or `None` if it failed.
pub(crate) fn owned(h: HANDLE) -> Option<OwnedHandle> {
    if h.is_null() || h == INVALID_HANDLE_VALUE {
        None
    } else {
        // SAFETY: `h` is a valid handle that the caller just received and owns.
        Some(unsafe { OwnedHandle::from_raw_handle(h as _) })
    }
}

pub(crate) fn raw(h: BorrowedHandle<'_>) -> HANDLE {
    h.as_raw_handle() as HANDLE
}

fn split(v: u64) -> (u32, u32) {
    ((v >> 32) as u32, v as u32)
}

/// Storage that views are mapped from: a section (file mapping object), and for
/// file-backed sections the file, for `FlushFileBuffers`.
#[derive(Debug)]
pub(crate) struct Section {
    mapping: OwnedHandle,
    file: Option<File>,
    /// Views are mapped with `FILE_MAP_EXECUTE` (the section allows execution).
    executable: bool,
    /// Views are mapped with `FILE_MAP_LARGE_PAGES` (a `SEC_LARGE_PAGES` section).
    large_pages: bool,
}

impl Section {
    /// How many bytes the storage holds now: Windows does not let a mapped file shrink, so
    /// it does not say.
    pub(crate) fn stored_len(&self) -> Option<u64> {
        None
    }

    pub(crate) fn from_handle(mapping: OwnedHandle) -> Section {
        Section {
            mapping,
            file: None,
            executable: false,
            large_pages: false,
        }
    }

    /// Marks the section as created executable, so that views can be made executable.
    pub(crate) fn with_executable(mut self, executable: bool) -> Section {
        self.executable = executable;
        self
    }

    /// Marks the section as one on large pages, whose views (whole large pages) are mapped
    /// with `FILE_MAP_LARGE_PAGES`: without it Windows maps them on small pages.
    pub(crate) fn with_large_pages(mut self, large_pages: bool) -> Section {
        self.large_pages = large_pages;
        self
    }

    /// A section of `size` bytes over `file` (`CreateFileMappingW(hFile, …)`).
    pub(crate) fn from_file(request: &FileSectionRequest<'_>) -> Result<Section> {
        let FileSectionRequest {
            file,
            writable,
            executable,
            size,
            what,
        } = *request;
        let protect = match (writable, executable) {
            (true, false) => PAGE_READWRITE,
            (false, false) => PAGE_READONLY,
            (true, true) => PAGE_EXECUTE_READWRITE,
            (false, true) => PAGE_EXECUTE_READ,
        };
        let (hi, lo) = split(size);
        // SAFETY: a valid file handle, no security attributes, no name.
        let h = unsafe {
            CreateFileMappingW(
                raw(file.as_handle()),
                std::ptr::null(),
                protect,
                hi,
                lo,
                std::ptr::null(),
            )
        };
        let mapping = owned(h).ok_or_else(|| {
            let code = last_error();
            match code {
                ERROR_ACCESS_DENIED if writable && !executable => Error::FileNotWritable {
                    path: PathBuf::from(what.to_string()),
                },
                // An executable mapping refused (the handle lacks FILE_EXECUTE), or a
                // read-only one (the handle lacks reading).
                ERROR_ACCESS_DENIED => Error::PermissionDenied {
                    what: format!(
                        "mapping {what} {}: the file's handle does not allow it",
                        if executable {
                            "executable"
                        } else {
                            "for reading"
                        }
                    ),
                },
                ERROR_FILE_INVALID => Error::EmptyFile {
                    path: PathBuf::from(what.to_string()),
                },
                ERROR_DISK_FULL => Error::NoSpace {
                    place: what.to_string(),
                    size,
                },
                _ => Error::io("create a file mapping of", what, os_error(code)),
            }
        })?;
        let file = file
            .try_clone()
            .map_err(|e| Error::io("duplicate the handle of", what, e))?;
        Ok(Section {
            mapping,
            file: Some(file),
            executable,
            large_pages: false,
        })
    }

    pub(crate) fn handle(&self) -> BorrowedHandle<'_> {
        self.mapping.as_handle()
    }

    /// Maps `len` bytes at `offset` (a multiple of the allocation granularity).
    pub(crate) fn map(
        &self,
        offset: u64,
        len: usize,
        access: Access,
        populate: bool,
        what: &dyn fmt::Display,
    ) -> Result<RawView> {
        self.map_at(offset, len, access, populate, None, what)
    }

    /// Like `map`, at the address `at` if given (`MapViewOfFileEx`, which never replaces
    /// an existing mapping).
    pub(crate) fn map_at(
        &self,
        offset: u64,
        len: usize,
        access: Access,
        populate: bool,
        at: Option<*mut u8>,
        what: &dyn fmt::Display,
    ) -> Result<RawView> {
        // A view's copies report faults from now on (once per process).
        #[cfg(target_arch = "x86_64")]
        fault::guard_copies()?;
        let mut desired = match access {
            Access::Read => FILE_MAP_READ,
            Access::Write => FILE_MAP_READ | FILE_MAP_WRITE,
            Access::Copy => FILE_MAP_COPY,
        };
        if self.executable {
            desired |= FILE_MAP_EXECUTE;
        }
        if self.large_pages {
            desired |= FILE_MAP_LARGE_PAGES;
        }
        let (hi, lo) = split(offset);
        let base = at.unwrap_or_default();
        let map = |desired| {
            // SAFETY: a valid section handle; with a base address, MapViewOfFileEx fails
            // rather than replace anything mapped there.
            unsafe { MapViewOfFileEx(raw(self.handle()), desired, hi, lo, len, base.cast()) }
        };
        let mut addr = map(desired);
        let mut executable = self.executable;
        if addr.Value.is_null() && executable && last_error() == ERROR_ACCESS_DENIED {
            // A handle without the right to map executable views (another program's
            // section, or one whose permissions grant no execute): mapped as its access
            // says, and never made executable (`protect` is refused).
            executable = false;
            addr = map(desired & !FILE_MAP_EXECUTE);
        }
        let ptr = NonNull::new(addr.Value.cast::<u8>()).ok_or_else(|| {
            let code = last_error();
            match code {
                ERROR_INVALID_ADDRESS if at.is_some() => Error::AddressInUse {
                    addr: base as usize,
                    len,
                },
                ERROR_NOT_ENOUGH_MEMORY | ERROR_OUTOFMEMORY | ERROR_COMMITMENT_LIMIT => {
                    Error::NoSpace {
                        place: "the address space (mapping a view)".into(),
                        size: len as u64,
                    }
                }
                ERROR_ACCESS_DENIED => Error::PermissionDenied {
                    what: format!("mapping a {access} view of {what}"),
                },
                _ => Error::io("map a view of", what, os_error(code)),
            }
        })?;
        let view = RawView {
            ptr,
            len,
            private_before: Mutex::new(Vec::new()),
        };
        if executable {
            // Mapped with execute access, so that `protect` may make it executable later,
            // but not executable now: a view comes up as its access says, never writable
            // and executable at once. (Nothing to note in `private_before`: nothing is
            // written yet, and a copy view's written pages still turn `PAGE_READWRITE` from
            // this `PAGE_WRITECOPY`.)
            let plain = match access {
                Access::Read => PAGE_READONLY,
                Access::Write => PAGE_READWRITE,
                Access::Copy => PAGE_WRITECOPY,
            };
            // (Dropping `view` unmaps it.)
            view.protect_committed(plain, what, |code| {
                Error::io("take execute rights from a view of", what, os_error(code))
            })?;
        }
        if populate {
            let range = WIN32_MEMORY_RANGE_ENTRY {
                VirtualAddress: ptr.as_ptr().cast(),
                NumberOfBytes: len,
            };
            // SAFETY: the range is the view just mapped. Failure only means no prefetch.
            unsafe { PrefetchVirtualMemory(GetCurrentProcess(), 1, &range, 0) };
        }
        Ok(view)
    }

    /// Commits `[offset, offset + len)` of a `SEC_RESERVE` section (`VirtualAlloc(MEM_COMMIT)`
    /// through a temporary view: committed pages are committed in the section, for every
    /// view). File-backed sections need nothing.
    pub(crate) fn commit(&self, offset: u64, len: u64, what: &dyn fmt::Display) -> Result<()> {
        if self.file.is_some() {
            return Ok(());
        }
        let granule = allocation_granularity();
        let start = offset - offset % granule;
        // (A 32-bit process cannot map more than its address space: said, not truncated.)
        let too_large = || Error::InvalidSize {
            size: len,
            problem: "larger than this process's address space (commit it in parts)",
        };
        let span = usize::try_from(offset + len - start).map_err(|_| too_large())?;
        let len_here = usize::try_from(len).map_err(|_| too_large())?;
        let view = self
            .map(start, span, Access::Write, false, what)
            .map_err(|e| match e {
                Error::PermissionDenied { .. } => super::cannot_commit(what),
                e => e,
            })?;
        // SAFETY: the range is inside the temporary view just mapped.
        let p = unsafe {
            VirtualAlloc(
                view.ptr().add((offset - start) as usize).cast(),
                len_here,
                MEM_COMMIT,
                PAGE_READWRITE,
            )
        };
        if p.is_null() {
            let code = last_error();
            return Err(match code {
                ERROR_NOT_ENOUGH_MEMORY | ERROR_OUTOFMEMORY | ERROR_COMMITMENT_LIMIT => {
                    Error::NoSpace {
                        place: "the system's commit limit (memory and page file)".into(),
                        size: len,
                    }
                }
                _ => Error::io("commit memory of", what, os_error(code)),
            });
        }
        Ok(())
    }

    /// Makes written data durable (`FlushFileBuffers`); nothing to do for memory.
    pub(crate) fn sync_data(&self, what: &dyn fmt::Display) -> Result<()> {
        if let Some(file) = &self.file {
            // SAFETY: a valid file handle.
            if unsafe { FlushFileBuffers(raw(file.as_handle())) } == 0 {
                return Err(Error::io("flush", what, os_error(last_error())));
            }
        }
        Ok(())
    }

    /// Starts writing a view's dirty pages back (`FlushViewOfFile` does not wait for the
    /// disk).
    pub(crate) fn start_writeback(&self, range: &WritebackRange) -> Result<()> {
        let WritebackRange { view, len, .. } = *range;
        // SAFETY: `view..view+len` is inside a mapped view (the caller's).
        if unsafe { FlushViewOfFile(view.cast(), len) } == 0 {
            return Err(Error::io(
                "start write-back of",
                "a view",
                os_error(last_error()),
            ));
        }
        Ok(())
    }
}

/// One mapped view; unmapped on drop.
#[derive(Debug)]
pub(crate) struct RawView {
    ptr: NonNull<u8>,
    len: usize,
    /// The pages of a copy view found private (copied) before `protect` last changed its
    /// protection: copied pages then no longer differ from untouched ones by their
    /// protection (a read-only view's are all `PAGE_READONLY`, and back to read-write all
    /// are `PAGE_WRITECOPY` again), so `private_pages` adds these to what it finds.
    private_before: Mutex<Vec<usize>>,
}

// SAFETY: an address range with no thread affinity; `View` upholds the access rules.
unsafe impl Send for RawView {}
// SAFETY: as above.
unsafe impl Sync for RawView {}

impl RawView {
    pub(crate) fn ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Writes the range's dirty pages to the file (`FlushViewOfFile`).
    pub(crate) fn sync(&self, offset: usize, len: usize) -> Result<()> {
        if len == 0 {
            return Ok(());
        }
        // SAFETY: the range lies within this view (callers clamp it).
        if unsafe { FlushViewOfFile(self.ptr.as_ptr().add(offset).cast(), len) } == 0 {
            return Err(Error::io("flush", "a view", os_error(last_error())));
        }
        Ok(())
    }

    /// The size of the view the kernel mapped (rounded up to pages): the regions, committed
    /// or only reserved, that belong to this view's allocation.
    fn region_size(&self) -> usize {
        let base = self.ptr.as_ptr();
        let mut total = 0usize;
        loop {
            // SAFETY: MEMORY_BASIC_INFORMATION is plain data; all zeros is a valid value.
            let mut info: MEMORY_BASIC_INFORMATION = unsafe { std::mem::zeroed() };
            // SAFETY: VirtualQuery fills the structure for any address of this process.
            let n = unsafe {
                VirtualQuery(
                    base.wrapping_add(total).cast(),
                    &mut info,
                    std::mem::size_of::<MEMORY_BASIC_INFORMATION>(),
                )
            };
            if n == 0 || info.AllocationBase != base.cast() || info.RegionSize == 0 {
                break;
            }
            total += info.RegionSize;
        }
        if total == 0 { self.len } else { total }
    }
}

impl RawView {
    /// Advice about `[offset, offset + len)`: prefetch (`WillNeed`) or drop from the
    /// working set (`DontNeed`); Windows has no sequential or random advice.
    pub(crate) fn advise(&self, offset: usize, len: usize, advice: Advice) -> Result<()> {
        // SAFETY: the range is inside this view.
        let start = unsafe { self.ptr.as_ptr().add(offset) };
        match advice {
            Advice::WillNeed => {
                let range = WIN32_MEMORY_RANGE_ENTRY {
                    VirtualAddress: start.cast(),
                    NumberOfBytes: len,
                };
                // SAFETY: the range is inside this view. Failure only means no prefetch.
                unsafe { PrefetchVirtualMemory(GetCurrentProcess(), 1, &range, 0) };
            }
            Advice::DontNeed => {
                // On pages that are not locked, VirtualUnlock removes them from the working
                // set; it then reports ERROR_NOT_LOCKED, which is the expected outcome.
                // SAFETY: the range is inside this view.
                unsafe { VirtualUnlock(start.cast(), len) };
            }
            Advice::Normal | Advice::Sequential | Advice::Random => {}
        }
        Ok(())
    }

    /// Windows has no advice for large pages on a view: nothing to do.
    pub(crate) fn advise_huge_pages(&self) {}

    /// Changes the protection of the whole view (`VirtualProtect`); `private` views get
    /// `PAGE_WRITECOPY` for read-write.
    pub(crate) fn protect(&self, protection: &ViewProtection) -> Result<()> {
        let new = match protection.protect {
            Protect::ReadOnly => PAGE_READONLY,
            Protect::ReadWrite if protection.copy_on_write => PAGE_WRITECOPY,
            Protect::ReadWrite => PAGE_READWRITE,
            Protect::ReadExecute => PAGE_EXECUTE_READ,
        };
        let mut old = 0u32;
        if protection.copy_on_write && !running_under_wine() {
            // What the protection tells now, before the change hides it.
            let now = self.pages_marked_private()?;
            let mut before = self
                .private_before
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            before.extend(now);
            before.sort_unstable();
            before.dedup();
        }
        let failed = |code| match code {
            ERROR_ACCESS_DENIED => Error::PermissionDenied {
                what: format!("making a view {}", protection.protect),
            },
            _ => Error::io("change the protection of", "a view", os_error(code)),
        };
        // SAFETY: the whole view; callers hold `&mut View`, so no reference into it exists.
        if unsafe { VirtualProtect(self.ptr.as_ptr().cast(), self.len.max(1), new, &mut old) } == 0
        {
            let code = last_error();
            if code != ERROR_INVALID_ADDRESS {
                return Err(failed(code));
            }
            // Pages of a reserve object not committed yet, whose protection the system
            // does not change: the committed ones' is (pages committed later come up with
            // the rights the view was mapped with, as `CreateOptions::executable` says).
            self.protect_committed(new, &"a view", failed)?;
        }
        Ok(())
    }

    /// Locks `[offset, offset + len)` in memory (`VirtualLock`, which leaves a copy view's
    /// pages, `_private`, the object's until they are written).
    /// Locks the range in memory (`VirtualLock`, all or nothing). `_private` and
    /// `_was_locked` matter on Linux.
    pub(crate) fn lock(
        &self,
        offset: usize,
        len: usize,
        _private: bool,
        _was_locked: bool,
    ) -> Result<()> {
        // SAFETY: the range is inside this view.
        if unsafe { VirtualLock(self.ptr.as_ptr().add(offset).cast(), len) } == 0 {
            let code = last_error();
            return Err(match code {
                ERROR_WORKING_SET_QUOTA | ERROR_NOT_ENOUGH_MEMORY => Error::LockLimit {
                    len: len as u64,
                    reason: format!(
                        "{} (the process's working set is too small)",
                        os_error(code)
                    ),
                },
                _ => Error::io("lock in memory", "a view", os_error(code)),
            });
        }
        Ok(())
    }

    /// Sets the protection of the view's committed pages to `new` (those of a reserve
    /// object not committed yet have none to change, and the system refuses to change it).
    /// `failed(code)`: the error for a change the system refused.
    fn protect_committed(
        &self,
        new: u32,
        what: &dyn fmt::Display,
        failed: impl Fn(u32) -> Error,
    ) -> Result<()> {
        let base = self.ptr.as_ptr();
        self.for_each_region(self.len.max(1), what, |at, span, info| {
            if info.State != MEM_COMMIT {
                return Ok(());
            }
            let mut old = 0u32;
            // SAFETY: a range of this view, which nothing refers into (its mapping is being
            // made, or its owner holds it mutably).
            if unsafe { VirtualProtect(base.add(at).cast(), span, new, &mut old) } == 0 {
                return Err(failed(last_error()));
            }
            Ok(())
        })
    }

    /// Calls `visit(at, span, info)` for each region of the view's first `end` bytes, as
    /// `VirtualQuery` describes it: `at` bytes into the view, `span` bytes long.
    fn for_each_region(
        &self,
        end: usize,
        what: &dyn fmt::Display,
        mut visit: impl FnMut(usize, usize, &MEMORY_BASIC_INFORMATION) -> Result<()>,
    ) -> Result<()> {
        let base = self.ptr.as_ptr();
        let mut at = 0usize;
        while at < end {
            // SAFETY: MEMORY_BASIC_INFORMATION is plain data; all zeros is a valid value.
            let mut info: MEMORY_BASIC_INFORMATION = unsafe { std::mem::zeroed() };
            // SAFETY: VirtualQuery fills the structure for any address of this process.
            let n = unsafe {
                VirtualQuery(
                    base.wrapping_add(at).cast(),
                    &mut info,
                    std::mem::size_of::<MEMORY_BASIC_INFORMATION>(),
                )
            };
            if n == 0 || info.RegionSize == 0 {
                return Err(Error::io("inspect", what, os_error(last_error())));
            }
            let region_end = (info.BaseAddress as usize + info.RegionSize).min(base as usize + end);
            let span = region_end - (base as usize + at);
            visit(at, span, &info)?;
            at += span;
        }
        Ok(())
    }

    /// Which pages of the view this process has written privately: in a copy view, a
    /// written page turns from `PAGE_WRITECOPY` to `PAGE_READWRITE` (`VirtualQuery`).
    /// Returns page indices from the view's start (with those found before the view's
    /// protection last changed: see `private_before`), or `None` where that cannot tell:
    /// under Wine, whose `VirtualQuery` keeps reporting `PAGE_WRITECOPY` for copied pages.
    pub(crate) fn private_pages(&self) -> Result<Option<Vec<usize>>> {
        if running_under_wine() {
            return Ok(None);
        }
        let mut pages = self.pages_marked_private()?;
        pages.extend(
            self.private_before
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter(),
        );
        pages.sort_unstable();
        pages.dedup();
        Ok(Some(pages))
    }

    /// The pages whose protection says they were copied (`PAGE_READWRITE` in a copy view).
    fn pages_marked_private(&self) -> Result<Vec<usize>> {
        let page = page_size() as usize;
        let mut pages = Vec::new();
        self.for_each_region(self.len, &"a copy view", |at, span, info| {
            if info.Protect & (PAGE_READWRITE | PAGE_EXECUTE_READWRITE) != 0 {
                pages.extend(at / page..(at + span).div_ceil(page));
            }
            Ok(())
        })?;
        Ok(pages)
    }

    /// Drops the view's private copies: maps the storage again as a fresh copy view
    /// (the view moves to the new address) and unmaps the old one, with its lock in
    /// memory and `protect` reapplied. On failure the old view is left as it was.
    pub(crate) fn discard_private(&mut self, source: &CopyViewSource<'_>) -> Result<()> {
        let CopyViewSource {
            section,
            offset,
            protect,
            locked,
        } = *source;
        let fresh = section.map(offset, self.len, Access::Copy, false, &"a copy view")?;
        if let Some((start, span)) = locked {
            // Moved from the old view to the new one (the working set need not hold both);
            // locked again on the old one if the new one cannot be.
            self.unlock(start, span)?;
            if let Err(e) = fresh.lock(start, span, true, false) {
                self.lock(start, span, true, false)?;
                return Err(e);
            }
        }
        if protect != Protect::ReadWrite {
            let protected = fresh.protect(&ViewProtection {
                protect,
                copy_on_write: true,
            });
            if let Err(e) = protected {
                if let Some((start, span)) = locked {
                    self.lock(start, span, true, false)?;
                }
                return Err(e);
            }
        }
        // Dropping the old region unmaps it.
        drop(std::mem::replace(self, fresh));
        Ok(())
    }

    /// Unlocks what `lock` locked.
    pub(crate) fn unlock(&self, offset: usize, len: usize) -> Result<()> {
        // SAFETY: the range is inside this view.
        if unsafe { VirtualUnlock(self.ptr.as_ptr().add(offset).cast(), len) } == 0 {
            let code = last_error();
            // Pages that were not locked are unlocked already (as on Linux).
            if code == ERROR_NOT_LOCKED {
                return Ok(());
            }
            return Err(Error::io("unlock", "a view", os_error(code)));
        }
        Ok(())
    }
}

impl Drop for RawView {
    fn drop(&mut self) {
        // SAFETY: the view was mapped by `Section::map` and is unmapped exactly once.
        unsafe {
            UnmapViewOfFile(MEMORY_MAPPED_VIEW_ADDRESS {
                Value: self.ptr.as_ptr().cast(),
            })
        };
    }
}
