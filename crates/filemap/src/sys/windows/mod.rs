//! Windows backend over `windows-sys`: sections (`CreateFileMappingW` /
//! `OpenFileMappingW`), views (`MapViewOfFile`, `FlushViewOfFile`, `UnmapViewOfFile`),
//! named entries in the kernel's own namespace (`Local\`, `Global\`), whose lifetime is the
//! kernel's (the object goes with its last handle), and handle sharing (inheritable
//! handles, `DuplicateHandle`).
//!
//! A named entry is a pagefile-backed section whose first page holds the header. Windows
//! has no way to create a section nameless and name it later, so the creator writes the
//! header's magic last, with release ordering, and openers wait (briefly) for it.

use std::collections::HashSet;
use std::fmt;
use std::fs::File;
use std::io;
use std::os::windows::ffi::OsStrExt;
use std::os::windows::io::{AsHandle, AsRawHandle, BorrowedHandle, FromRawHandle, OwnedHandle};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use windows_sys::Win32::Foundation::{
    DuplicateHandle, GetHandleInformation, GetLastError, SetHandleInformation,
    DUPLICATE_SAME_ACCESS, ERROR_ACCESS_DENIED, ERROR_ALREADY_EXISTS, ERROR_COMMITMENT_LIMIT,
    ERROR_DISK_FULL, ERROR_FILE_INVALID, ERROR_FILE_NOT_FOUND, ERROR_INVALID_ADDRESS,
    ERROR_INVALID_HANDLE, ERROR_NOT_ENOUGH_MEMORY, ERROR_OUTOFMEMORY, ERROR_WORKING_SET_QUOTA,
    HANDLE, HANDLE_FLAG_INHERIT, INVALID_HANDLE_VALUE,
};
use windows_sys::Win32::Storage::FileSystem::{
    FlushFileBuffers, GetFileInformationByHandle, GetFinalPathNameByHandleW,
    BY_HANDLE_FILE_INFORMATION, FILE_NAME_NORMALIZED, FILE_WRITE_DATA,
};
use windows_sys::Win32::System::Memory::{
    CreateFileMappingW, FlushViewOfFile, MapViewOfFileEx, OpenFileMappingW, PrefetchVirtualMemory,
    UnmapViewOfFile, VirtualAlloc, VirtualLock, VirtualProtect, VirtualQuery, VirtualUnlock,
    FILE_MAP_COPY, FILE_MAP_EXECUTE, FILE_MAP_READ, FILE_MAP_WRITE, MEMORY_BASIC_INFORMATION,
    MEMORY_MAPPED_VIEW_ADDRESS, MEM_COMMIT, PAGE_EXECUTE_READ, PAGE_EXECUTE_READWRITE,
    PAGE_READONLY, PAGE_READWRITE, PAGE_WRITECOPY, SEC_RESERVE, WIN32_MEMORY_RANGE_ENTRY,
};
use windows_sys::Win32::System::SystemInformation::{GetSystemInfo, SYSTEM_INFO};
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, OpenEventW, OpenMutexW, OpenSemaphoreW,
};

use crate::error::{Error, Result};
use crate::header::{Header, HEADER_AREA, MAGIC};
use crate::name::{Name, Scope};
use crate::sys::{Collected, CreateMode, DataInit, RawEntry};
use crate::vocabulary::{Access, Advice, Disposition, Kind, Protect, ShareMode};

mod sync;
pub(crate) use sync::{
    create_sync, open_sync, ChannelMemory, EndpointLock, EventObject, MutexObject, SemaphoreObject,
};

/// `SYNCHRONIZE`, enough access to learn that a named mutex, event or semaphore exists.
const SYNCHRONIZE: u32 = 0x0010_0000;

/// How long an opener waits for a creator that is still writing the header.
const HEADER_WAIT: Duration = Duration::from_secs(2);

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

/// Explicit large pages are not offered on Windows (they need `SeLockMemoryPrivilege`).
pub(crate) fn huge_page_size() -> Option<u64> {
    None
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

/// The page protection of a new pagefile-backed section for `header`.
fn section_protection(header: &Header) -> u32 {
    if header.is_executable() {
        PAGE_EXECUTE_READWRITE
    } else {
        PAGE_READWRITE
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
}

impl Section {
    pub(crate) fn from_handle(mapping: OwnedHandle) -> Section {
        Section {
            mapping,
            file: None,
            executable: false,
        }
    }

    /// Marks the section as created executable, so that views can be made executable.
    pub(crate) fn with_executable(mut self, executable: bool) -> Section {
        self.executable = executable;
        self
    }

    /// A section of `size` bytes over `file` (`CreateFileMappingW(hFile, …)`).
    pub(crate) fn from_file(
        file: &File,
        writable: bool,
        executable: bool,
        size: u64,
        what: &dyn fmt::Display,
    ) -> Result<Section> {
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
                ERROR_ACCESS_DENIED => Error::FileNotWritable {
                    path: PathBuf::from(what.to_string()),
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
        let mut desired = match access {
            Access::Read => FILE_MAP_READ,
            Access::Write => FILE_MAP_READ | FILE_MAP_WRITE,
            Access::Copy => FILE_MAP_COPY,
        };
        if self.executable {
            desired |= FILE_MAP_EXECUTE;
        }
        let (hi, lo) = split(offset);
        let base = at.unwrap_or_default();
        // SAFETY: a valid section handle; with a base address, MapViewOfFileEx fails rather
        // than replace anything mapped there.
        let addr =
            unsafe { MapViewOfFileEx(raw(self.handle()), desired, hi, lo, len, base.cast()) };
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
        if populate {
            let range = WIN32_MEMORY_RANGE_ENTRY {
                VirtualAddress: ptr.as_ptr().cast(),
                NumberOfBytes: len,
            };
            // SAFETY: the range is the view just mapped. Failure only means no prefetch.
            unsafe { PrefetchVirtualMemory(GetCurrentProcess(), 1, &range, 0) };
        }
        Ok(RawView { ptr, len })
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
        let span = (offset + len - start) as usize;
        let view = self.map(start, span, Access::Write, false, what)?;
        // SAFETY: the range is inside the temporary view just mapped.
        let p = unsafe {
            VirtualAlloc(
                view.ptr().add((offset - start) as usize).cast(),
                len as usize,
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
    pub(crate) fn start_writeback(&self, view: *const u8, len: usize, _offset: u64) -> Result<()> {
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
        if total == 0 {
            self.len
        } else {
            total
        }
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
    pub(crate) fn protect(&self, protect: Protect, private: bool) -> Result<()> {
        let new = match protect {
            Protect::ReadOnly => PAGE_READONLY,
            Protect::ReadWrite if private => PAGE_WRITECOPY,
            Protect::ReadWrite => PAGE_READWRITE,
            Protect::ReadExecute => PAGE_EXECUTE_READ,
        };
        let mut old = 0u32;
        // SAFETY: the whole view; callers hold `&mut View`, so no reference into it exists.
        if unsafe { VirtualProtect(self.ptr.as_ptr().cast(), self.len.max(1), new, &mut old) } == 0
        {
            let code = last_error();
            return Err(match code {
                ERROR_ACCESS_DENIED => Error::PermissionDenied {
                    what: format!("making a view {protect}"),
                },
                _ => Error::io("change the protection of", "a view", os_error(code)),
            });
        }
        Ok(())
    }

    /// Locks `[offset, offset + len)` in memory (`VirtualLock`).
    pub(crate) fn lock(&self, offset: usize, len: usize) -> Result<()> {
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

    /// Which pages of the view this process has written privately: in a copy view, a
    /// written page turns from `PAGE_WRITECOPY` to `PAGE_READWRITE` (`VirtualQuery`).
    /// Returns page indices from the view's start, or `None` under Wine, whose
    /// `VirtualQuery` keeps reporting `PAGE_WRITECOPY` for copied pages.
    pub(crate) fn private_pages(&self) -> Result<Option<Vec<usize>>> {
        if running_under_wine() {
            return Ok(None);
        }
        let page = page_size() as usize;
        let base = self.ptr.as_ptr();
        let mut pages = Vec::new();
        let mut at = 0usize;
        while at < self.len {
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
                return Err(Error::io("inspect", "a copy view", os_error(last_error())));
            }
            let region_end =
                (info.BaseAddress as usize + info.RegionSize).min(base as usize + self.len);
            let copied = info.Protect & (PAGE_READWRITE | PAGE_EXECUTE_READWRITE) != 0;
            let start = at / page;
            let end = (region_end - base as usize).div_ceil(page);
            if copied {
                pages.extend(start..end);
            }
            at = region_end - base as usize;
        }
        Ok(Some(pages))
    }

    /// Drops the view's private copies: maps the storage again as a fresh copy view
    /// (the view moves to the new address) and unmaps the old one, with `protect`
    /// reapplied. On failure the old view is left as it was.
    pub(crate) fn discard_private(
        &mut self,
        section: &Section,
        offset: u64,
        protect: Protect,
    ) -> Result<()> {
        let fresh = section.map(offset, self.len, Access::Copy, false, &"a copy view")?;
        if protect != Protect::ReadWrite {
            fresh.protect(protect, true)?;
        }
        // Dropping the old region unmaps it.
        drop(std::mem::replace(self, fresh));
        Ok(())
    }

    /// Unlocks what `lock` locked.
    pub(crate) fn unlock(&self, offset: usize, len: usize) -> Result<()> {
        // SAFETY: the range is inside this view.
        if unsafe { VirtualUnlock(self.ptr.as_ptr().add(offset).cast(), len) } == 0 {
            return Err(Error::io("unlock", "a view", os_error(last_error())));
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

/// A handle on a named or unnamed section holding a header. The kernel keeps the object
/// while any handle on it is open.
#[derive(Debug)]
pub(crate) struct Entry {
    section: OwnedHandle,
}

fn duplicate_raw(h: BorrowedHandle<'_>, target: HANDLE, inheritable: bool) -> Result<HANDLE> {
    let mut out: HANDLE = std::ptr::null_mut();
    // SAFETY: valid source handle and process handles; `out` receives the duplicate.
    let ok = unsafe {
        DuplicateHandle(
            GetCurrentProcess(),
            raw(h),
            target,
            &mut out,
            0,
            inheritable as i32,
            DUPLICATE_SAME_ACCESS,
        )
    };
    if ok == 0 {
        return Err(Error::io("duplicate", "a handle", os_error(last_error())));
    }
    Ok(out)
}

/// A copy of a handle for this process.
pub(crate) fn duplicate(h: BorrowedHandle<'_>) -> Result<OsHandle> {
    // SAFETY: the current-process pseudo handle.
    let me = unsafe { GetCurrentProcess() };
    let out = duplicate_raw(h, me, false)?;
    Ok(owned(out).expect("DuplicateHandle succeeded"))
}

/// Reads and checks the header of a section, waiting briefly for a creator that is still
/// writing it.
fn read_section_header(section: BorrowedHandle<'_>, what: &dyn fmt::Display) -> Result<Header> {
    let whole = Section::from_handle(duplicate(section)?);
    let view = whole.map(0, 0, Access::Read, false, what)?;
    let region = view.region_size();
    if region < crate::header::FIXED_LEN {
        return Err(Error::Corrupt {
            name: what.to_string(),
            problem: format!("the section is only {region} bytes"),
        });
    }
    // SAFETY: the view is at least FIXED_LEN bytes and 64 KiB aligned; atomic load only.
    let first = unsafe { &*view.ptr().cast::<AtomicU64>() };
    let started = Instant::now();
    let mut spins = 0u32;
    // Relaxed loads (the view is read-only, where Rust promises only relaxed atomic
    // loads), then an acquire fence once the creator's release store of the magic is seen.
    while first.load(Ordering::Relaxed) == 0 {
        if started.elapsed() > HEADER_WAIT {
            return Err(Error::Corrupt {
                name: what.to_string(),
                problem: "its header was never written (did its creator die while creating it?)"
                    .into(),
            });
        }
        spins += 1;
        if spins < 100 {
            std::hint::spin_loop();
        } else {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    std::sync::atomic::fence(Ordering::Acquire);
    let mut bytes = vec![0u8; region.min(HEADER_AREA)];
    // SAFETY: the view is readable for `region` bytes; the copy is atomic.
    unsafe { crate::copy::copy_from_shared(view.ptr(), &mut bytes) };
    Header::decode(&bytes, region as u64, allocation_granularity()).map_err(|problem| {
        Error::Corrupt {
            name: what.to_string(),
            problem,
        }
    })
}

/// Writes a new section's header (and data, with `init`), the magic last.
fn write_section_header(
    section: BorrowedHandle<'_>,
    header: &Header,
    what: &dyn fmt::Display,
    init: DataInit<'_>,
) -> Result<()> {
    let whole = Section::from_handle(duplicate(section)?);
    if header.is_reserve() {
        // The header's page must have memory behind it before it is written.
        whole.commit(0, HEADER_AREA as u64, what)?;
    }
    if let Some(init) = init {
        let data = whole.map(
            header.data_offset,
            header.size as usize,
            Access::Write,
            false,
            what,
        )?;
        init(data.ptr())?;
    }
    let view = whole.map(0, HEADER_AREA, Access::Write, false, what)?;
    let bytes = header.encode();
    // SAFETY: the view is HEADER_AREA writable bytes; nobody else writes a header that has
    // no magic yet. The magic is published last with release ordering.
    unsafe {
        crate::copy::copy_to_shared(view.ptr().add(8), &bytes[8..]);
        (*view.ptr().cast::<AtomicU64>()).store(u64::from_le_bytes(MAGIC), Ordering::Release);
    }
    Ok(())
}

/// What a name is used by: a section with a filemap header, or a native mutex, event or
/// semaphore.
fn native_kind(name: &Name) -> Option<Kind> {
    let w = kernel_name(name);
    // SAFETY: a valid NUL-terminated name; the handle is closed by `owned`.
    if let Some(section) = owned(unsafe { OpenFileMappingW(FILE_MAP_READ, 0, w.as_ptr()) }) {
        return read_section_header(section.as_handle(), name)
            .ok()
            .map(|h| h.kind);
    }
    // SAFETY: valid NUL-terminated names; handles returned are closed by `owned`.
    unsafe {
        if owned(OpenMutexW(SYNCHRONIZE, 0, w.as_ptr())).is_some() {
            return Some(Kind::Mutex);
        }
        if owned(OpenEventW(SYNCHRONIZE, 0, w.as_ptr())).is_some() {
            return Some(Kind::Event);
        }
        if owned(OpenSemaphoreW(SYNCHRONIZE, 0, w.as_ptr())).is_some() {
            return Some(Kind::Semaphore);
        }
    }
    None
}

pub(crate) fn name_taken_by_other_type(name: &Name, expected: Kind) -> Error {
    match native_kind(name) {
        Some(found) => Error::KindMismatch {
            name: name.to_string(),
            found,
            expected,
        },
        None => Error::io(
            "open",
            name,
            io::Error::other("the name belongs to a kernel object of another type"),
        ),
    }
}

fn section_error(name: &Name, code: u32, expected: Kind, size: u64) -> Error {
    match code {
        ERROR_FILE_NOT_FOUND => Error::NotFound {
            name: name.to_string(),
        },
        ERROR_INVALID_HANDLE => name_taken_by_other_type(name, expected),
        ERROR_ACCESS_DENIED => Error::PermissionDenied {
            what: format!("opening {name}"),
        },
        ERROR_NOT_ENOUGH_MEMORY | ERROR_OUTOFMEMORY | ERROR_COMMITMENT_LIMIT | ERROR_DISK_FULL => {
            Error::NoSpace {
                place: "the system's commit limit (memory and page file)".into(),
                size,
            }
        }
        _ => Error::io("create", name, os_error(code)),
    }
}

impl Entry {
    /// A section for mapping this entry's memory.
    pub(crate) fn section(&self) -> Result<Section> {
        Ok(Section::from_handle(duplicate(self.section.as_handle())?))
    }

    /// Creates an unnamed memory object holding `header` and its data.
    pub(crate) fn create_unnamed(header: &Header) -> Result<Entry> {
        let total = header.entry_len();
        let (hi, lo) = split(total);
        let reserve = if header.is_reserve() { SEC_RESERVE } else { 0 };
        // SAFETY: pagefile-backed section, no name, default security.
        let h = unsafe {
            CreateFileMappingW(
                INVALID_HANDLE_VALUE,
                std::ptr::null(),
                section_protection(header) | reserve,
                hi,
                lo,
                std::ptr::null(),
            )
        };
        let section = owned(h).ok_or_else(|| match last_error() {
            ERROR_NOT_ENOUGH_MEMORY
            | ERROR_OUTOFMEMORY
            | ERROR_COMMITMENT_LIMIT
            | ERROR_DISK_FULL => Error::NoSpace {
                place: "the system's commit limit (memory and page file)".into(),
                size: total,
            },
            code => Error::io("create", "an unnamed memory object", os_error(code)),
        })?;
        write_section_header(
            section.as_handle(),
            header,
            &"an unnamed memory object",
            None,
        )?;
        Ok(Entry { section })
    }

    /// A handle on this entry for another process (or a child): a duplicate.
    pub(crate) fn handoff(&self) -> Result<OsHandle> {
        duplicate(self.section.as_handle())
    }

    /// Adopts an entry handle received from another process.
    pub(crate) fn adopt(h: OsHandle, name: Option<&Name>) -> Result<(Entry, Header)> {
        let what: &dyn fmt::Display = match name {
            Some(n) => n,
            None => &"a shared object",
        };
        let header = read_section_header(h.as_handle(), what)?;
        Ok((Entry { section: h }, header))
    }
}

/// Opens the named section.
pub(crate) fn open_entry(name: &Name, writable: bool) -> Result<(Entry, Header)> {
    let access = if writable {
        FILE_MAP_READ | FILE_MAP_WRITE
    } else {
        FILE_MAP_READ
    };
    let w = kernel_name(name);
    // With execute access if the object's security allows it (views of executable objects
    // need it), else without.
    // SAFETY: a valid NUL-terminated name.
    let mut h = unsafe { OpenFileMappingW(access | FILE_MAP_EXECUTE, 0, w.as_ptr()) };
    if h.is_null() && last_error() == ERROR_ACCESS_DENIED {
        // SAFETY: as above.
        h = unsafe { OpenFileMappingW(access, 0, w.as_ptr()) };
    }
    let section = owned(h).ok_or_else(|| section_error(name, last_error(), Kind::Mapping, 0))?;
    let header = read_section_header(section.as_handle(), name)?;
    Ok((Entry { section }, header))
}

/// Creates the named section from `header`, or (with `CreateMode::OrOpen`) opens the
/// existing one, whose header is returned instead.
pub(crate) fn create_entry(
    name: &Name,
    header: &Header,
    mode: CreateMode,
    init: DataInit<'_>,
) -> Result<(Entry, Header, Disposition)> {
    if header.is_persistent() {
        return Err(Error::Unsupported {
            what: "persistent objects on Windows: the kernel removes a named object with its \
                   last handle",
        });
    }
    let total = header.entry_len();
    let (hi, lo) = split(total);
    let w = kernel_name(name);
    let reserve = if header.is_reserve() { SEC_RESERVE } else { 0 };
    // SAFETY: pagefile-backed section with a valid NUL-terminated name.
    let h = unsafe {
        CreateFileMappingW(
            INVALID_HANDLE_VALUE,
            std::ptr::null(),
            section_protection(header) | reserve,
            hi,
            lo,
            w.as_ptr(),
        )
    };
    let code = last_error();
    let section = owned(h).ok_or_else(|| section_error(name, code, header.kind, total))?;
    if code == ERROR_ALREADY_EXISTS {
        let existing = read_section_header(section.as_handle(), name)?;
        if mode == CreateMode::New {
            if existing.kind != header.kind {
                return Err(Error::KindMismatch {
                    name: name.to_string(),
                    found: existing.kind,
                    expected: header.kind,
                });
            }
            return Err(Error::AlreadyExists {
                name: name.to_string(),
            });
        }
        return Ok((Entry { section }, existing, Disposition::Opened));
    }
    write_section_header(section.as_handle(), header, name, init)?;
    Ok((Entry { section }, header.clone(), Disposition::Created))
}

/// Windows removes a named object with its last handle; there is no name to remove.
pub(crate) fn remove_entry(_name: &Name) -> Result<()> {
    Err(Error::Unsupported {
        what: "removing a name on Windows: the object goes away when its last handle closes",
    })
}

/// Windows offers programs no list of named objects: nothing can be listed.
pub(crate) fn list_entries() -> Result<Vec<RawEntry>> {
    Ok(Vec::new())
}

/// One named entry, opened by name.
pub(crate) fn describe_entry(name: &Name) -> Result<RawEntry> {
    let (entry, header) = open_entry(name, false)?;
    drop(entry);
    Ok(RawEntry {
        file_name: name.to_string(),
        name: Some(name.clone()),
        owner: 0,
        mode: header.mode,
        header: Ok(header),
        holders: None,
    })
}

/// Nothing is ever stale on Windows: the kernel removes objects with their last handle.
pub(crate) fn collect_garbage(_dry_run: bool) -> Result<Vec<Collected>> {
    Ok(Vec::new())
}

/// Opens a file to map: read-only or read-write, with execute access if asked (a section
/// allowing execution needs it).
pub(crate) fn open_file(
    path: &Path,
    writable: bool,
    executable: bool,
    share: ShareMode,
) -> io::Result<File> {
    use std::os::windows::fs::OpenOptionsExt;
    const GENERIC_READ: u32 = 0x8000_0000;
    const GENERIC_WRITE: u32 = 0x4000_0000;
    const GENERIC_EXECUTE: u32 = 0x2000_0000;
    const FILE_SHARE_READ: u32 = 1;
    const FILE_SHARE_WRITE: u32 = 2;
    const FILE_SHARE_DELETE: u32 = 4;
    let mut options = File::options();
    options.read(true).write(writable);
    options.share_mode(match share {
        ShareMode::Any => FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
        // Others may read and write, but not delete, rename or open exclusively.
        ShareMode::Shared => FILE_SHARE_READ | FILE_SHARE_WRITE,
        ShareMode::Exclusive => 0,
    });
    if executable {
        let mut access = GENERIC_READ | GENERIC_EXECUTE;
        if writable {
            access |= GENERIC_WRITE;
        }
        options.access_mode(access);
    }
    options.open(path)
}

/// Whether an open failed because of another handle's share mode.
pub(crate) fn is_sharing_violation(e: &io::Error) -> bool {
    const ERROR_SHARING_VIOLATION: i32 = 32;
    e.raw_os_error() == Some(ERROR_SHARING_VIOLATION)
}

/// Nothing to hold on Windows: the share mode is the file handle's own.
#[derive(Debug)]
pub(crate) struct FileLock;

/// Windows keeps share modes in the handle filemap opened (`open_file`); a file the
/// caller opened has the share mode the caller gave it.
pub(crate) fn lock_file(
    _file: &File,
    share: ShareMode,
    opened_here: bool,
    _path: &Path,
) -> Result<Option<FileLock>> {
    if !opened_here && share != ShareMode::Any {
        return Err(Error::Unsupported {
            what: "a share mode for a file the caller opened, on Windows: open it with \
                   OpenOptionsExt::share_mode, or map it by path",
        });
    }
    Ok(None)
}

/// Volume serial number and file index: a file's identity.
pub(crate) fn file_identity(file: &File) -> Result<(u64, u64)> {
    // SAFETY: BY_HANDLE_FILE_INFORMATION is plain data; all zeros is a valid value.
    let mut info: BY_HANDLE_FILE_INFORMATION = unsafe { std::mem::zeroed() };
    // SAFETY: the structure is filled for a valid file handle.
    if unsafe { GetFileInformationByHandle(raw(file.as_handle()), &mut info) } == 0 {
        return Err(Error::io("inspect", "a file", os_error(last_error())));
    }
    let index = (u64::from(info.nFileIndexHigh) << 32) | u64::from(info.nFileIndexLow);
    Ok((u64::from(info.dwVolumeSerialNumber), index))
}

/// Whether `file`'s handle was opened with write access.
pub(crate) fn file_is_writable(file: &File) -> bool {
    use windows_sys::Wdk::Foundation::{NtQueryObject, ObjectBasicInformation};
    use windows_sys::Win32::System::WindowsProgramming::PUBLIC_OBJECT_BASIC_INFORMATION;
    // SAFETY: PUBLIC_OBJECT_BASIC_INFORMATION is plain data; all zeros is a valid value.
    let mut info: PUBLIC_OBJECT_BASIC_INFORMATION = unsafe { std::mem::zeroed() };
    // SAFETY: the structure, of the size given, is filled for a valid handle.
    let status = unsafe {
        NtQueryObject(
            raw(file.as_handle()),
            ObjectBasicInformation,
            (&mut info as *mut PUBLIC_OBJECT_BASIC_INFORMATION).cast(),
            std::mem::size_of::<PUBLIC_OBJECT_BASIC_INFORMATION>() as u32,
            std::ptr::null_mut(),
        )
    };
    // If the system will not say, let CreateFileMapping decide (FileNotWritable then).
    status < 0 || info.GrantedAccess & FILE_WRITE_DATA != 0
}

/// The path of an open file.
pub(crate) fn file_path(file: &File) -> Option<PathBuf> {
    let mut buf = vec![0u16; 1024];
    loop {
        // SAFETY: the buffer's length is passed; a valid file handle.
        let n = unsafe {
            GetFinalPathNameByHandleW(
                raw(file.as_handle()),
                buf.as_mut_ptr(),
                buf.len() as u32,
                FILE_NAME_NORMALIZED,
            )
        } as usize;
        if n == 0 {
            return None;
        }
        if n >= buf.len() {
            buf.resize(n + 1, 0);
            continue;
        }
        let s = String::from_utf16_lossy(&buf[..n]);
        let s = s.strip_prefix("\\\\?\\").map(str::to_string).unwrap_or(s);
        return Some(PathBuf::from(s));
    }
}

pub(crate) fn path_to_bytes(path: &Path) -> Vec<u8> {
    path.to_string_lossy().into_owned().into_bytes()
}

/// What is wrong with the file a file-backed entry records: `None` if it is still there,
/// the same file, long enough for `size` bytes.
pub(crate) fn backing_file_problem(
    record: &crate::header::FileRecord,
    size: u64,
) -> Option<crate::BackingFileProblem> {
    use crate::BackingFileProblem as P;
    let file = match File::open(path_from_bytes(&record.path)) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Some(P::Missing),
        Err(_) => return None,
        Ok(file) => file,
    };
    match (file_identity(&file), file.metadata()) {
        (Ok(identity), _) if identity != (record.dev, record.ino) => Some(P::Replaced),
        (_, Ok(m)) if m.len() < size => Some(P::TooShort { file_len: m.len() }),
        _ => None,
    }
}

pub(crate) fn path_from_bytes(bytes: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
}

/// The operating system's handle type.
pub(crate) type OsHandle = OwnedHandle;

/// The handle's value as a number, for passing in an environment variable or a token.
pub(crate) fn raw_handle_value(handle: &OsHandle) -> u64 {
    handle.as_raw_handle() as usize as u64
}

/// This process's copies of handles being inherited by a child: they must stay open until
/// the child is spawned.
#[derive(Debug)]
pub(crate) struct InheritGuard {
    _handles: Vec<OsHandle>,
}

/// Marks `handles` inheritable, so that the children `cmd` spawns inherit them at the same
/// values (std's `Command` creates processes that inherit inheritable handles).
pub(crate) fn inherit(_cmd: &mut Command, handles: Vec<OsHandle>) -> Result<InheritGuard> {
    for h in &handles {
        // SAFETY: a valid handle owned by `handles`.
        if unsafe {
            SetHandleInformation(raw(h.as_handle()), HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT)
        } == 0
        {
            return Err(Error::io(
                "make inheritable",
                "a handle",
                os_error(last_error()),
            ));
        }
    }
    Ok(InheritGuard { _handles: handles })
}

/// Handles already taken by `take_inherited` or `take_duplicated` in this process.
static TAKEN: Mutex<Option<HashSet<u64>>> = Mutex::new(None);

fn take_handle(value: u64, key: &str, must_be_inheritable: bool) -> Result<OsHandle> {
    let bad = |problem: String| Error::SharedHandle {
        key: key.to_string(),
        problem,
    };
    if value == 0 || value > isize::MAX as u64 {
        return Err(bad(format!("{value} is not a handle")));
    }
    let mut taken = TAKEN.lock().unwrap_or_else(|p| p.into_inner());
    let taken = taken.get_or_insert_with(HashSet::new);
    if taken.contains(&value) {
        return Err(bad(format!("handle {value} was already taken")));
    }
    let h = value as usize as HANDLE;
    let mut flags = 0u32;
    // SAFETY: GetHandleInformation only inspects the handle table.
    if unsafe { GetHandleInformation(h, &mut flags) } == 0 {
        return Err(bad(format!("handle {value} is not open in this process")));
    }
    if must_be_inheritable && flags & HANDLE_FLAG_INHERIT == 0 {
        return Err(bad(format!("handle {value} was not inherited")));
    }
    taken.insert(value);
    // SAFETY: the handle is open, was handed to this process for this purpose, and the
    // TAKEN set guarantees it is wrapped only once.
    let owned = unsafe { OwnedHandle::from_raw_handle(h as _) };
    // SAFETY: a valid handle; children of this process need not inherit it again.
    unsafe { SetHandleInformation(h, HANDLE_FLAG_INHERIT, 0) };
    Ok(owned)
}

/// Takes ownership of an inherited handle named by an environment variable.
pub(crate) fn take_inherited(value: u64, key: &str) -> Result<OsHandle> {
    take_handle(value, key, true)
}

/// Takes ownership of a handle another process duplicated into this one.
pub(crate) fn take_duplicated(value: u64, key: &str) -> Result<OsHandle> {
    take_handle(value, key, false)
}

/// Duplicates `handle` into the process `target`; returns the value it has there.
pub(crate) fn duplicate_into(handle: &OsHandle, target: BorrowedHandle<'_>) -> Result<u64> {
    Ok(duplicate_raw(handle.as_handle(), raw(target), false)? as usize as u64)
}

/// Opens a named section that has no filemap header (made by another program) and
/// returns it with its size as Windows reports it: the view's size, rounded up to pages.
pub(crate) fn open_foreign(name: &str, writable: bool) -> Result<(Section, u64)> {
    let access = if writable {
        FILE_MAP_READ | FILE_MAP_WRITE
    } else {
        FILE_MAP_READ
    };
    let w = wide(name);
    // SAFETY: a valid NUL-terminated name.
    let h = unsafe { OpenFileMappingW(access, 0, w.as_ptr()) };
    let section = owned(h).ok_or_else(|| match last_error() {
        ERROR_FILE_NOT_FOUND => Error::NotFound {
            name: name.to_string(),
        },
        ERROR_ACCESS_DENIED => Error::PermissionDenied {
            what: format!("opening the shared memory segment {name}"),
        },
        code => Error::io("open the shared memory segment", name, os_error(code)),
    })?;
    let section = Section::from_handle(section);
    let whole = section.map(0, 0, Access::Read, false, &name)?;
    let size = whole.region_size() as u64;
    drop(whole);
    Ok((section, size))
}

/// Creates a named section of `size` bytes without a filemap header (the kernel removes it
/// with its last handle).
pub(crate) fn create_foreign(name: &str, size: u64, _mode: u32) -> Result<Section> {
    let (hi, lo) = split(size);
    let w = wide(name);
    // SAFETY: pagefile-backed section with a valid NUL-terminated name.
    let h = unsafe {
        CreateFileMappingW(
            INVALID_HANDLE_VALUE,
            std::ptr::null(),
            PAGE_READWRITE,
            hi,
            lo,
            w.as_ptr(),
        )
    };
    let code = last_error();
    let section = owned(h).ok_or_else(|| match code {
        ERROR_NOT_ENOUGH_MEMORY | ERROR_OUTOFMEMORY | ERROR_COMMITMENT_LIMIT => Error::NoSpace {
            place: "the system's commit limit (memory and page file)".into(),
            size,
        },
        _ => Error::io("create the shared memory segment", name, os_error(code)),
    })?;
    if code == ERROR_ALREADY_EXISTS {
        return Err(Error::AlreadyExists {
            name: name.to_string(),
        });
    }
    Ok(Section::from_handle(section))
}

/// Windows removes a section with its last handle: there is no name to remove.
pub(crate) fn remove_foreign(_name: &str) -> Result<()> {
    Err(Error::Unsupported {
        what: "removing a name on Windows: the object goes away when its last handle closes",
    })
}
