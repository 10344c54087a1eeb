//! Windows named entries: pagefile-backed sections in the kernel's own namespace
//! (`Local\`, `Global\`), whose lifetime is the kernel's (the object goes with its last
//! handle), and unnamed ones. `create_entry`, `open_entry`, `remove_entry`, the section
//! header, and what `filemap info` / `filemap gc` can say about them (the list of them is
//! `listing.rs`'s).
//!
//! A named entry is a pagefile-backed section whose first page holds the header. Windows
//! has no way to create a section nameless and name it later, so the creator writes the
//! header's magic last, with release ordering, and openers wait (briefly) for it; a creator
//! killed before that is recovered from by `creation.rs`.

use std::fmt;
use std::os::windows::io::{AsHandle, BorrowedHandle, OwnedHandle};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use windows_sys::Win32::Foundation::{
    ERROR_ACCESS_DENIED, ERROR_ALREADY_EXISTS, ERROR_COMMITMENT_LIMIT, ERROR_DISK_FULL,
    ERROR_FILE_NOT_FOUND, ERROR_INVALID_HANDLE, ERROR_NO_SYSTEM_RESOURCES, ERROR_NOT_ENOUGH_MEMORY,
    ERROR_OUTOFMEMORY, ERROR_PRIVILEGE_NOT_HELD, INVALID_HANDLE_VALUE,
};
use windows_sys::Win32::System::Memory::{
    CreateFileMappingW, FILE_MAP_READ, FILE_MAP_WRITE, OpenFileMappingW, PAGE_EXECUTE_READWRITE,
    PAGE_READWRITE, SEC_COMMIT, SEC_LARGE_PAGES, SEC_RESERVE, SECTION_MAP_EXECUTE,
};
use windows_sys::Win32::System::Threading::{OpenEventW, OpenMutexW, OpenSemaphoreW};

use super::creation::{self, CreationLock};
use super::header_trust::{check_file_backed_header, foreign_file, foreign_path};
use super::security::{
    ObjectSecurity, Rights, check_opened_owner, check_owner, owner_check_access,
};
use super::{
    Section, allocation_granularity, duplicate, kernel_name, last_error, os_error, owned, raw,
    split,
};
// `SYNCHRONIZE`: enough access to learn that a named mutex, event or semaphore exists.
use windows_sys::Win32::Storage::FileSystem::{READ_CONTROL, SYNCHRONIZE};

use crate::error::{Error, Result};
use crate::header::{HEADER_AREA, Header, MAGIC};
use crate::name::{Name, Scope};
use crate::sys::{BeforeNaming, Collected, CreateMode, DataInit, RawEntry};
use crate::vocabulary::{Access, Disposition, Kind};

/// How long an opener waits for a creator that is still writing the header.
const HEADER_WAIT: Duration = Duration::from_secs(2);

/// The page protection of a new pagefile-backed section for `header`.
fn section_protection(header: &Header) -> u32 {
    if header.is_executable() {
        PAGE_EXECUTE_READWRITE
    } else {
        PAGE_READWRITE
    }
}

/// The permission bits of a new section for `header`: its entry's, with execute wherever
/// they grant read if the object is executable.
fn section_mode(header: &Header) -> u32 {
    let mode = header.entry_mode();
    if header.is_executable() {
        mode | (mode & 0o444) >> 2
    } else {
        mode
    }
}

/// A handle on a named or unnamed section holding a header. The kernel keeps the object
/// while any handle on it is open.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(super) section: OwnedHandle,
    /// The name's creation lock (not held: kept open so that the lock lives as long as the
    /// object, see `creation.rs`); `None` for unnamed and received objects.
    pub(super) _creation_lock: Option<OwnedHandle>,
    /// For a file-backed object opened by name that another user owns: that owner, whose
    /// object may name only a file of its own (`foreign_backing_file`).
    pub(super) foreign_owner: Option<String>,
}

/// Reads and checks the header of a section, waiting briefly for a creator that is still
/// writing it.
pub(super) fn read_section_header(
    section: BorrowedHandle<'_>,
    what: &dyn fmt::Display,
) -> Result<Header> {
    read_section_header_within(section, what, HEADER_WAIT)
}

/// `read_section_header` of the section named `name`: a section found without a header
/// is waited for only while the name's creation lock exists (every filemap creator makes
/// it before the section and holds it until the header is written): without it, the
/// header is looked at once more (its creator may have written it, and let go of the lock,
/// since the first look), and then taken as it is: another program's section (a
/// zero-filled one waited the whole `HEADER_WAIT` before it was refused), or one whose
/// creator died.
fn read_named_section_header(section: BorrowedHandle<'_>, name: &Name) -> Result<Header> {
    match read_section_header_within(section, name, Duration::ZERO) {
        Err(Error::Corrupt { .. }) if creation::open_lock(name).is_some() => {
            read_section_header(section, name)
        }
        Err(Error::Corrupt { .. }) => read_section_header_within(section, name, Duration::ZERO),
        read => read,
    }
}

/// `read_section_header`, waiting at most `patience` for a header being written.
pub(super) fn read_section_header_within(
    section: BorrowedHandle<'_>,
    what: &dyn fmt::Display,
    patience: Duration,
) -> Result<Header> {
    let whole = Section::from_handle(duplicate(section)?);
    let view = whole.map(0, 0, Access::Read, false, what)?;
    let region = view.region_size();
    if region < crate::header::FIXED_LEN {
        return Err(Error::Corrupt {
            name: what.to_string(),
            problem: format!("the section is only {region} bytes"),
        });
    }
    let head = region.min(HEADER_AREA);
    // A `SEC_RESERVE` section's header page is only reserved until its creator commits it
    // (another program's section, or a creator that died before committing): a plain read
    // of it would be an access violation. Such a page is waited for as an unwritten header
    // is (a filemap creator commits it first thing), and never read but by `read_word`,
    // which reports it. A section's committed pages are never decommitted, so once one read
    // succeeds, atomic loads are safe for as long as the view is mapped.
    let mut first: Option<&AtomicU64> = None;
    let started = Instant::now();
    let mut spins = 0u32;
    // Relaxed loads (the view is read-only, where Rust promises only relaxed atomic
    // loads), then an acquire fence once the creator's release store of the magic is seen.
    let unwritten = |word: u64| word == 0 || word == u64::from_le_bytes(creation::INCOMPLETE);
    loop {
        if first.is_none() && creation::read_word(view.ptr()).is_some() {
            // SAFETY: the view is at least FIXED_LEN bytes and 64 KiB aligned; its first
            // page was just read, so it is committed, and stays so while the view is
            // mapped (all of this function); atomic loads only.
            first = Some(unsafe { &*view.ptr().cast::<AtomicU64>() });
        }
        if first.is_some_and(|word| !unwritten(word.load(Ordering::Relaxed))) {
            break;
        }
        if started.elapsed() >= patience {
            let problem = if first.is_none() {
                "its header page is reserved, not committed (not filemap's, or its creator \
                 died while creating it)"
            } else {
                "its header was never written (did its creator die while creating it?)"
            };
            return Err(Error::Corrupt {
                name: what.to_string(),
                problem: problem.into(),
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
    let mut bytes = vec![0u8; head];
    // SAFETY: the view is readable for `region` bytes; the `head` bytes copied are its
    // first page (HEADER_AREA is one page), found committed above. The copy routine is
    // sound against concurrent writers.
    unsafe { crate::copy::copy_from_shared(view.ptr(), &mut bytes) }.map_err(|_| {
        Error::Corrupt {
            name: what.to_string(),
            problem: "its header could not be read (a page fault)".into(),
        }
    })?;
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
    let whole = Section::from_handle(duplicate(section)?)
        .with_large_pages(crate::sys::on_huge_pages(header));
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
    // A view of a section on large pages is whole large pages: the header's is the first.
    let header_view = if crate::sys::on_huge_pages(header) {
        header.data_offset as usize
    } else {
        HEADER_AREA
    };
    let view = whole.map(0, header_view, Access::Write, false, what)?;
    let bytes = header.encode();
    // SAFETY: the view is HEADER_AREA writable bytes; nobody else writes a header that has
    // no magic yet. The magic is published last with release ordering.
    unsafe {
        crate::copy::copy_to_shared(view.ptr().add(8), &bytes[8..]).map_err(|_| {
            Error::NoSpace {
                place: what.to_string(),
                size: HEADER_AREA as u64,
            }
        })?;
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
        return read_named_section_header(section.as_handle(), name)
            .ok()
            .map(|h| h.kind);
    }
    // An object of that type that this user may not open is one too (the type is checked
    // before the access: another type's object is ERROR_INVALID_HANDLE).
    let is = |h: windows_sys::Win32::Foundation::HANDLE| {
        owned(h).is_some() || last_error() == ERROR_ACCESS_DENIED
    };
    // SAFETY: valid NUL-terminated names; handles returned are closed by `owned`.
    unsafe {
        if is(OpenMutexW(SYNCHRONIZE, 0, w.as_ptr())) {
            return Some(Kind::Mutex);
        }
        if is(OpenEventW(SYNCHRONIZE, 0, w.as_ptr())) {
            return Some(Kind::Event);
        }
        if is(OpenSemaphoreW(SYNCHRONIZE, 0, w.as_ptr())) {
            return Some(Kind::Semaphore);
        }
    }
    None
}

pub(super) fn name_taken_by_other_type(name: &Name, expected: Kind) -> Error {
    match native_kind(name) {
        Some(found) => Error::KindMismatch {
            name: name.to_string(),
            found,
            expected,
        },
        None => Error::NameInUse {
            name: name.to_string(),
        },
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
        let large = crate::sys::on_huge_pages(header);
        let no_privilege = Error::Unsupported {
            what: "large pages without SeLockMemoryPrivilege (\"Lock pages in memory\")",
        };
        if large && !super::large_pages::may_create() {
            return Err(no_privilege);
        }
        let h = create_section(header, std::ptr::null(), None);
        let section = owned(h).ok_or_else(|| match last_error() {
            ERROR_PRIVILEGE_NOT_HELD if large => no_privilege,
            ERROR_NO_SYSTEM_RESOURCES if large => Error::NoSpace {
                place: "large pages (physical memory free in large pages)".into(),
                size: total,
            },
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
        Ok(Entry {
            section,
            _creation_lock: None,
            foreign_owner: None,
        })
    }
}

/// Opens the named section: a file-backed one only if its header can be believed
/// ([`check_file_backed_header`]).
pub(crate) fn open_entry(name: &Name, writable: bool) -> Result<(Entry, Header)> {
    let (mut entry, header) = open_entry_as_found(name, writable)?;
    entry.foreign_owner = believe_header(name, entry.section.as_handle(), &header)?;
    Ok((entry, header))
}

/// Opens the named section and reads its header, which names a file that is not to be
/// opened before [`believe_header`] (for `filemap info`, which only shows it).
fn open_entry_as_found(name: &Name, writable: bool) -> Result<(Entry, Header)> {
    let access = owner_check_access(name)
        | if writable {
            FILE_MAP_READ | FILE_MAP_WRITE
        } else {
            FILE_MAP_READ
        };
    let w = kernel_name(name);
    // With the right to map executable views if the object's security grants it (views of
    // executable objects ask for it: `SECTION_MAP_EXECUTE`, which the handle of the object's
    // creator has, not `FILE_MAP_EXECUTE`, a right no permissions grant), else without.
    // SAFETY: a valid NUL-terminated name.
    let mut h = unsafe { OpenFileMappingW(access | SECTION_MAP_EXECUTE, 0, w.as_ptr()) };
    if h.is_null() && last_error() == ERROR_ACCESS_DENIED {
        // SAFETY: as above.
        h = unsafe { OpenFileMappingW(access, 0, w.as_ptr()) };
    }
    // A file-backed object's header section is writable by its owner alone: a writer
    // refused is let in for reading, and kept only if the section is one.
    let mut write_refused = None;
    if h.is_null() && writable && last_error() == ERROR_ACCESS_DENIED {
        write_refused = Some(ERROR_ACCESS_DENIED);
        let read = owner_check_access(name) | FILE_MAP_READ;
        // SAFETY: as above.
        h = unsafe { OpenFileMappingW(read, 0, w.as_ptr()) };
    }
    let section = owned(h).ok_or_else(|| {
        section_error(
            name,
            write_refused.unwrap_or_else(last_error),
            Kind::Mapping,
            0,
        )
    })?;
    check_opened_owner(name, raw(section.as_handle()))?;
    let header = read_named_section_header(section.as_handle(), name)?;
    // Let in for reading only if the object is file-backed and its permissions give other
    // users write access. (Its group's write bit alone does not let a refused writer in:
    // whether this user is in the creator's primary group is not looked at here.)
    if let Some(code) = write_refused {
        if header.file.is_none() || header.mode & 0o002 == 0 {
            return Err(section_error(name, code, Kind::Mapping, 0));
        }
    }
    Ok((
        Entry {
            section,
            _creation_lock: creation::open_lock(name),
            foreign_owner: None,
        },
        header,
    ))
}

/// The size of `header`'s section: a section on large pages is whole large pages.
fn section_len(header: &Header) -> u64 {
    match super::huge_page_size() {
        Some(huge) if crate::sys::on_huge_pages(header) => {
            header.entry_len().next_multiple_of(huge)
        }
        _ => header.entry_len(),
    }
}

/// Creates a pagefile-backed section for `header` (its protection, reserve mode and whole
/// length), named `name` (a NUL-terminated kernel name) or unnamed (null); the caller reads
/// `last_error` for why it failed, or whether the name existed.
fn create_section(
    header: &Header,
    name: *const u16,
    security: Option<&ObjectSecurity>,
) -> windows_sys::Win32::Foundation::HANDLE {
    let (hi, lo) = split(section_len(header));
    let reserve = if header.is_reserve() {
        SEC_RESERVE
    } else if crate::sys::on_huge_pages(header) {
        SEC_COMMIT | SEC_LARGE_PAGES
    } else {
        0
    };
    let attributes = security.map_or(std::ptr::null(), ObjectSecurity::attributes);
    // SAFETY: a pagefile-backed section; `name` is null or a valid NUL-terminated name, and
    // `attributes` null or valid while `security` lives (the callers' contract).
    unsafe {
        CreateFileMappingW(
            INVALID_HANDLE_VALUE,
            attributes,
            section_protection(header) | reserve,
            hi,
            lo,
            name,
        )
    }
}

/// Creates the named section from `header`, or (with `CreateMode::OrOpen`) opens the
/// existing one, whose header is returned instead.
pub(crate) fn create_entry(
    name: &Name,
    header: &Header,
    mode: CreateMode,
    (init, before_naming): (DataInit<'_>, BeforeNaming<'_>),
) -> Result<(Entry, Header, Disposition)> {
    if header.is_persistent() {
        return Err(Error::Unsupported {
            what: "persistent objects on Windows: the kernel removes a named object with its \
                   last handle",
        });
    }
    let total = header.entry_len();
    let w = kernel_name(name);
    // A file-backed object's header section is writable by its owner alone. An executable
    // object's views may be made executable by whoever may map it (as on Linux, where the
    // mode's x bits are not asked of a mapping): its section grants execute with read.
    let security = ObjectSecurity::new(section_mode(header), Rights::Section)?;
    let lock_security = ObjectSecurity::new(header.entry_mode(), Rights::CreationLock)?;
    // Held from before the section exists until its header is written (or found).
    let started = Instant::now();
    let creating = loop {
        if let Some(lock) = CreationLock::take(name, &lock_security)? {
            break lock;
        }
        // Refused the lock: the name's object (or its maker) is there, and this user may
        // not write it: not this call's to make or finish, only to find.
        if let Some(found) = found_without_lock(name, header, mode, &w)? {
            return Ok(found);
        }
        if started.elapsed() >= creation::CREATION_WAIT {
            return Err(Error::NameContended {
                name: name.to_string(),
                attempts: 1,
            });
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    // What the object refers to outside itself (a file-backed mapping's file, grown) is
    // readied before its section exists, so that no opener waits for it (nor finds a
    // section it cannot use if it fails); but only if no section has the name, which only a
    // holder of the creation lock makes: a create that finds one leaves the file as it was.
    if let Some(ready) = before_naming {
        if open_existing_section(&w).is_none() && last_error() == ERROR_FILE_NOT_FOUND {
            ready()?;
        }
    }
    let h = create_section(header, w.as_ptr(), Some(&security));
    let mut code = last_error();
    let mut section = owned(h);
    // Why the open below failed, if it was tried.
    let mut open_code = None;
    // Whether this handle may write the section (not if the open below gave only reading).
    let mut writable = true;
    if section.is_none() && code == ERROR_ACCESS_DENIED {
        // An existing section that this user may use but not with the all access that
        // CreateFileMappingW asks of one it finds: opened as an opener opens it.
        match open_existing_section(&w) {
            Some((opened, access)) => {
                section = Some(opened);
                writable = access & FILE_MAP_WRITE != 0;
                code = ERROR_ALREADY_EXISTS;
            }
            None => open_code = Some(last_error()),
        }
    }
    let section = section.ok_or_else(|| match code {
        // Nothing is there, and making it was refused: outside session 0, a `Global\`
        // section (unlike a mutex or event) needs SeCreateGlobalPrivilege. (A section that
        // is there but this user may not open is the plain refusal below.)
        ERROR_ACCESS_DENIED
            if name.scope() == Scope::Global && open_code == Some(ERROR_FILE_NOT_FOUND) =>
        {
            Error::PermissionDenied {
                what: format!(
                    "creating {name} (a Global section needs SeCreateGlobalPrivilege outside \
                     session 0, which services and administrators hold)"
                ),
            }
        }
        _ => section_error(name, code, header.kind, total),
    })?;
    let entry = |section, creating: CreationLock, foreign_owner| Entry {
        section,
        _creation_lock: Some(creating.release()),
        foreign_owner,
    };
    if code == ERROR_ALREADY_EXISTS {
        check_owner(name, raw(section.as_handle()))?;
        let existing = match read_section_header_within(section.as_handle(), name, Duration::ZERO) {
            Err(_) if creation::half_made(section.as_handle(), &creating, name, total)? => {
                // Its creator died before writing the header: finished as this object, its
                // descriptor first (a finisher that may not set it publishes nothing), by a
                // handle that may write it (else the descriptor was changed, and nothing
                // written).
                if !writable {
                    return Err(Error::PermissionDenied {
                        what: format!(
                            "finishing {name}, which its creator left unfinished: this user \
                             may only read it"
                        ),
                    });
                }
                // Marked incomplete before what can fail here, so that the next creator
                // may still finish it (a section of zeros is only finished under an
                // abandoned creation lock, which this call would release normally).
                creation::mark_incomplete(section.as_handle(), header.is_reserve(), name)?;
                if let Some(ready) = before_naming {
                    ready()?;
                }
                security.apply(name, raw(section.as_handle()))?;
                write_section_header(section.as_handle(), header, name, init)?;
                return Ok((
                    entry(section, creating, None),
                    header.clone(),
                    Disposition::Created,
                ));
            }
            other => other?,
        };
        return found(name, section, existing, header, mode, creating.release());
    }
    creation::mark_incomplete(section.as_handle(), header.is_reserve(), name)?;
    write_section_header(section.as_handle(), header, name, init)?;
    Ok((
        entry(section, creating, None),
        header.clone(),
        Disposition::Created,
    ))
}

/// What a create call returns for the object `existing` it found under the name (opened
/// as `section`, with `lock` its handle on the creation lock): `AlreadyExists` (or
/// `KindMismatch`) if it was to make a new one, else the object.
fn found(
    name: &Name,
    section: OwnedHandle,
    existing: Header,
    wanted: &Header,
    mode: CreateMode,
    lock: OwnedHandle,
) -> Result<(Entry, Header, Disposition)> {
    if mode == CreateMode::New {
        if existing.kind != wanted.kind {
            return Err(Error::KindMismatch {
                name: name.to_string(),
                found: existing.kind,
                expected: wanted.kind,
            });
        }
        return Err(Error::AlreadyExists {
            name: name.to_string(),
        });
    }
    let foreign_owner = believe_header(name, section.as_handle(), &existing)?;
    let entry = Entry {
        section,
        _creation_lock: Some(lock),
        foreign_owner,
    };
    Ok((entry, existing, Disposition::Opened))
}

/// One look of a create call refused the name's creation lock (see `creation.rs`): the
/// lock is there, and this user may not take it. The lock's owner is checked as a create
/// call checks an object it finds (another user's: `Error::ForeignOwner`, as before); the
/// object, once there with its header, is what the call found. `None` to look again: the
/// lock went away with its object (the call may make it now), or its maker has not made
/// the section yet.
fn found_without_lock(
    name: &Name,
    wanted: &Header,
    mode: CreateMode,
    w: &[u16],
) -> Result<Option<(Entry, Header, Disposition)>> {
    let Some(lock) = creation::open_lock(name) else {
        return match last_error() {
            ERROR_FILE_NOT_FOUND => Ok(None),
            code => Err(Error::PermissionDenied {
                what: format!(
                    "creating {name}: its creation lock may be neither taken nor opened ({})",
                    os_error(code)
                ),
            }),
        };
    };
    check_owner(name, raw(lock.as_handle()))?;
    let Some((section, _)) = open_existing_section(w) else {
        return match last_error() {
            ERROR_FILE_NOT_FOUND => Ok(None),
            code => Err(section_error(name, code, wanted.kind, wanted.entry_len())),
        };
    };
    check_owner(name, raw(section.as_handle()))?;
    let existing = read_named_section_header(section.as_handle(), name)?;
    found(name, section, existing, wanted, mode, lock).map(Some)
}

/// Opens the existing section `w` (a NUL-terminated kernel name) for writing, or else for
/// reading (with the access it got), with the right to read its owner, and to map it executable where its
/// permissions grant that (as an opener asks: an executable view needs it of the handle).
fn open_existing_section(w: &[u16]) -> Option<(OwnedHandle, u32)> {
    let write = FILE_MAP_READ | FILE_MAP_WRITE;
    [
        write | SECTION_MAP_EXECUTE,
        write,
        FILE_MAP_READ | SECTION_MAP_EXECUTE,
        FILE_MAP_READ,
    ]
    .into_iter()
    .find_map(|access| {
        // SAFETY: a valid NUL-terminated name; the handle is owned by `owned`.
        let opened = owned(unsafe { OpenFileMappingW(access | READ_CONTROL, 0, w.as_ptr()) });
        opened.map(|handle| (handle, access))
    })
}

/// Windows removes a named object with its last handle; there is no name to remove.
pub(crate) fn remove_entry(_name: &Name) -> Result<()> {
    Err(Error::Unsupported {
        what: "removing a name on Windows: the object goes away when its last handle closes",
    })
}

/// For an existing section found under `name` whose `header` names a file: checks that
/// the header can be believed ([`check_file_backed_header`]) and returns the section's
/// owner if it is another user's. `None` for a memory-backed object.
fn believe_header(
    name: &Name,
    section: BorrowedHandle<'_>,
    header: &Header,
) -> Result<Option<String>> {
    match header.file {
        Some(_) => check_file_backed_header(name, section, header),
        None => Ok(None),
    }
}

impl Entry {
    /// For another user's file-backed entry opened by name: why `file` may not be opened
    /// for it (another user's object may name only a file of its owner's).
    pub(crate) fn foreign_backing_file(&self, file: &std::fs::File) -> Option<String> {
        foreign_file(self.foreign_owner.as_deref()?, file)
    }

    /// For another user's file-backed entry opened by name: why the path its header names
    /// may not even be opened for use (`None` if it may): see [`foreign_path`].
    pub(crate) fn foreign_backing_path(&self, path: &std::path::Path) -> Option<String> {
        foreign_path(self.foreign_owner.as_deref()?, path)
    }

    /// None on Windows: another user's object is judged by its owner's SID, and the path
    /// its header names is looked at before it is opened (`foreign_backing_path`).
    pub(crate) fn foreign_owner_uid(&self) -> Option<u32> {
        None
    }

    /// Removing a name: not on Windows (see `remove_entry`).
    pub(crate) fn remove_name(&self, name: &Name) -> Result<()> {
        self.name_removal().remove(name)
    }

    /// What removes this entry's name later: on Windows a name goes with the object's last
    /// handle, and there are no persistent ones to take back.
    pub(crate) fn name_removal(&self) -> NameRemoval {
        NameRemoval
    }
}

/// Removes an entry's name once the entry is given away (see the Linux one): nothing to
/// remove on Windows (see `remove_entry`).
#[derive(Debug)]
pub(crate) struct NameRemoval;

impl NameRemoval {
    pub(crate) fn remove(&self, name: &Name) -> Result<()> {
        remove_entry(name)
    }

    /// As on Linux; with no persistent names, never called for one.
    pub(crate) fn take_back(&self, name: &Name) -> Result<()> {
        self.remove(name)
    }
}

/// One named entry, opened by name: a section with filemap's header, or a kernel mutex,
/// event or semaphore (with its owner and security descriptor where this user may read
/// them).
pub(crate) fn describe_entry(name: &Name) -> Result<RawEntry> {
    let (entry, header) = match open_entry_as_found(name, false) {
        Ok(found) => found,
        Err(Error::KindMismatch { found, .. })
            if matches!(found, Kind::Mutex | Kind::Event | Kind::Semaphore) =>
        {
            return Ok(native_entry(name, found));
        }
        Err(e) => return Err(e),
    };
    // A handle of its own that may read the descriptor (the owner always may), opened by
    // name while `entry` holds the object, so that the name is still its own.
    let w = kernel_name(name);
    // SAFETY: a valid NUL-terminated name; the handle is owned by `owned`.
    let security = owned(unsafe { OpenFileMappingW(READ_CONTROL, 0, w.as_ptr()) })
        .and_then(|h| super::security::describe(raw(h.as_handle())).ok());
    drop(entry);
    Ok(RawEntry {
        file_name: name.to_string(),
        name: Some(name.clone()),
        owner: 0,
        mode: header.mode,
        native: None,
        security,
        header: Ok(header),
        unreadable: None,
        holders: None,
    })
}

/// A kernel mutex, event or semaphore's entry, with its security where it can be read.
pub(super) fn native_entry(name: &Name, kind: Kind) -> RawEntry {
    let w = kernel_name(name);
    // SAFETY: a valid NUL-terminated name; the handle is owned by `owned`.
    let handle = owned(unsafe {
        match kind {
            Kind::Mutex => OpenMutexW(READ_CONTROL, 0, w.as_ptr()),
            Kind::Event => OpenEventW(READ_CONTROL, 0, w.as_ptr()),
            _ => OpenSemaphoreW(READ_CONTROL, 0, w.as_ptr()),
        }
    });
    let security = handle.and_then(|h| super::security::describe(raw(h.as_handle())).ok());
    RawEntry {
        file_name: name.to_string(),
        name: Some(name.clone()),
        owner: 0,
        mode: 0,
        native: Some(kind),
        security,
        header: Err("a kernel object without a header".into()),
        unreadable: None,
        holders: None,
    }
}

/// Nothing is ever stale on Windows: the kernel removes objects with their last handle.
pub(crate) fn collect_garbage(_dry_run: bool) -> Result<Vec<Collected>> {
    Ok(Vec::new())
}
