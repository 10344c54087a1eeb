//! Windows handle sharing: duplicates (`DuplicateHandle`), into this process or another
//! one, and inheritable handles for a child `Command`; handles handed to this process are
//! taken over at most once.

use std::fmt;
use std::os::windows::io::{AsHandle, AsRawHandle, BorrowedHandle, FromRawHandle, OwnedHandle};
use std::process::Command;
use std::time::Duration;

use windows_sys::Win32::Foundation::{
    DUPLICATE_CLOSE_SOURCE, DUPLICATE_SAME_ACCESS, DuplicateHandle, GetHandleInformation, HANDLE,
    HANDLE_FLAG_INHERIT, SetHandleInformation,
};
use windows_sys::Win32::System::Threading::GetCurrentProcess;

use super::entry::{Entry, read_section_header, read_section_header_within};
use super::{last_error, os_error, owned, raw};
use crate::error::{Error, Result};
use crate::header::Header;
use crate::name::Name;

/// The operating system's handle type.
pub(crate) type OsHandle = OwnedHandle;

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

/// Duplicates `handle` into the process `target`; returns the value it has there.
pub(crate) fn duplicate_into(handle: &OsHandle, target: BorrowedHandle<'_>) -> Result<u64> {
    Ok(duplicate_raw(handle.as_handle(), raw(target), false)? as usize as u64)
}

/// Closes the handle `value` that [`duplicate_into`] made in the process `target` (for a
/// duplication that failed part way: nobody there would ever close it). The target
/// cannot have used or closed it: its value is told to nobody until the whole token is
/// returned. Best effort: a process gone leaves nothing to close.
pub(crate) fn close_in(target: BorrowedHandle<'_>, value: u64) {
    // SAFETY: closes, in `target`, a handle this process made there (DUPLICATE_CLOSE_SOURCE
    // with no target handle only closes the source).
    unsafe {
        DuplicateHandle(
            raw(target),
            value as usize as HANDLE,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
            0,
            DUPLICATE_CLOSE_SOURCE,
        )
    };
}

impl Entry {
    /// A handle on this entry for another process (or a child): a duplicate.
    pub(crate) fn handoff(&self) -> Result<OsHandle> {
        duplicate(self.section.as_handle())
    }

    /// Never: a section lives while any handle does, and its name with it; no handle
    /// takes part in removing it.
    pub(crate) fn hands_off_a_shared_lock(&self) -> bool {
        false
    }

    /// Adopts an entry handle received from another process.
    pub(crate) fn adopt(
        h: OsHandle,
        name: Option<&Name>,
        _inherited: bool,
    ) -> Result<(Entry, Header)> {
        let what: &dyn fmt::Display = match name {
            Some(n) => n,
            None => &"a shared object",
        };
        let header = read_section_header(h.as_handle(), what)?;
        Ok((
            Entry {
                section: h,
                _creation_lock: None,
                foreign_owner: None,
            },
            header,
        ))
    }
}

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
pub(crate) fn inherit(
    _cmd: &mut Command,
    handles: Vec<OsHandle>,
    _entry: Option<&Entry>,
) -> Result<InheritGuard> {
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

/// Takes ownership of the handle `value`: an inherited one (`inherited`, checked to be the
/// object shared when `identity` says which: `check_inherited`), or a duplicated one.
fn take_handle(value: u64, key: &str, inherited: bool, identity: Option<&str>) -> Result<OsHandle> {
    let wrap = || {
        let h = if inherited {
            check_shared(value, key, identity)?
        } else {
            check_handle(value, key, false)?
        };
        // SAFETY: the handle is open and was handed to this process for this purpose
        // (`check_handle`): an inherited one is wrapped once (`take_once`), a duplicated
        // one once by the caller's contract (`Mapping::from_duplicated`).
        let owned = unsafe { OwnedHandle::from_raw_handle(h as _) };
        // SAFETY: a valid handle; children of this process need not inherit it again.
        unsafe { SetHandleInformation(h, HANDLE_FLAG_INHERIT, 0) };
        Ok(owned)
    };
    if inherited {
        // The environment names the same value for the process's whole life: a second take
        // of it would wrap whatever has that value by then.
        crate::sys::take_once(value, key, "handle", wrap)
    } else {
        // Duplicated handles' values are reused once they are closed: a long-running
        // process takes many tokens naming the same value in turn.
        wrap()
    }
}

/// The checks [`take_handle`] makes, doing nothing to the handle: open in this process,
/// not a standard stream's, and (if `inherited`) inherited. The handle.
fn check_handle(value: u64, key: &str, inherited: bool) -> Result<HANDLE> {
    let bad = |problem: String| Error::SharedHandle {
        key: key.to_string(),
        problem,
    };
    if value == 0 || value > isize::MAX as u64 {
        return Err(bad(format!("{value} is not a handle")));
    }
    // The kernel ignores a handle value's low two bits (tag bits), so 4 to 7 all name the
    // handle 4: taking such a value would take a handle again under another number (past
    // the checks for a repeated value and a standard stream's), and close it twice.
    if value & 3 != 0 {
        return Err(bad(format!(
            "{value} is not a handle value (handle values are multiples of four)"
        )));
    }
    // A standard handle (inherited too, and inheritable) is the process's standard
    // stream's, never an object handed over for sharing: wrapping it would close the
    // stream's handle under it (as Linux refuses descriptors 0 to 2).
    let standard = [
        std::io::stdin().as_raw_handle(),
        std::io::stdout().as_raw_handle(),
        std::io::stderr().as_raw_handle(),
    ];
    if standard.contains(&(value as usize as _)) {
        return Err(bad(format!(
            "handle {value} is this process's standard input, output or error"
        )));
    }
    let h = value as usize as HANDLE;
    let mut flags = 0u32;
    // SAFETY: GetHandleInformation only inspects the handle table.
    if unsafe { GetHandleInformation(h, &mut flags) } == 0 {
        return Err(bad(format!("handle {value} is not open in this process")));
    }
    if inherited && flags & HANDLE_FLAG_INHERIT == 0 {
        return Err(bad(format!("handle {value} was not inherited")));
    }
    Ok(h)
}

/// The checks `take_inherited` makes, doing nothing to the handle (see Linux's): open,
/// inherited, not a standard stream's, and the object that was shared (`identity`, as
/// [`handle_identity`] says it, when the variable gives it; else a section or a disk
/// file's handle). A variable passed on to a grandchild (which inherits the variable, but
/// not the handles its parent took, whose values may name other inheritable handles
/// there: a build tool's job server, another key's object) is refused, and the handle
/// left alone.
pub(crate) fn check_inherited(value: u64, key: &str, identity: Option<&str>) -> Result<()> {
    check_shared(value, key, identity).map(drop)
}

/// [`check_inherited`], returning the handle.
fn check_shared(value: u64, key: &str, identity: Option<&str>) -> Result<HANDLE> {
    let h = check_handle(value, key, true)?;
    // SAFETY: the handle is open in this process (`check_handle`), and stays so for this
    // borrow: nothing in this function closes it.
    let borrowed = unsafe { BorrowedHandle::borrow_raw(h) };
    let found = identity_of(borrowed);
    let bad = |problem: String| Error::SharedHandle {
        key: key.to_string(),
        problem,
    };
    match identity {
        Some(shared) if found != shared => Err(bad(format!(
            "handle {value} is not the object that was shared (it was closed and its value \
             reused, or the variable was passed on from another process)"
        ))),
        None if !(found.starts_with("section") || found.starts_with("file-")) => Err(bad(format!(
            "handle {value} is a {found}, not a shared mapping's section or file"
        ))),
        _ => Ok(h),
    }
}

/// Takes ownership of an inherited handle named by an environment variable, checked first
/// (`check_inherited`).
pub(crate) fn take_inherited(value: u64, key: &str, identity: Option<&str>) -> Result<OsHandle> {
    take_handle(value, key, true, identity)
}

/// What tells the object a handle is on from any other, for the process that inherits it
/// to check that the value it names is still that object: a disk file's volume and index,
/// a filemap entry section's creator and creation time (from its header); a file's section
/// has nothing of its own to tell (`section`).
pub(crate) fn handle_identity(handle: &OsHandle) -> Result<Option<String>> {
    Ok(Some(identity_of(handle.as_handle())))
}

/// [`handle_identity`] of any handle, a word of letters, digits and `-` (as a descriptor
/// holds it): for one that is neither a section nor a disk file, its object type
/// (`Event`; `File-of-no-disk` for a pipe), which no shared object's identity is.
fn identity_of(handle: BorrowedHandle<'_>) -> String {
    use windows_sys::Win32::Storage::FileSystem::{FILE_TYPE_DISK, GetFileType};
    let Some(kind) = object_type(handle) else {
        return "handle-of-an-unknown-type".into();
    };
    match kind.as_str() {
        "Section" => match read_section_header_within(handle, &"a shared handle", Duration::ZERO) {
            Ok(h) => format!("section-{:x}-{:x}", h.creator_pid, h.created_unix_ns),
            Err(_) => "section".into(),
        },
        // (The type first: a pipe's handle, a `File` too, is never asked more, which
        // could wait on another thread's read of it.)
        // SAFETY: GetFileType only reads the handle's device type.
        "File" if unsafe { GetFileType(raw(handle)) } == FILE_TYPE_DISK => {
            match super::file::file_handle_identity(handle) {
                Ok((volume, index)) => format!("file-{volume:x}-{index:x}"),
                Err(_) => "disk-file".into(),
            }
        }
        "File" => "File-of-no-disk".into(),
        // (Type names are single words; anything else is kept to the descriptor's
        // characters.)
        _ => kind.chars().filter(|c| c.is_ascii_alphanumeric()).collect(),
    }
}

/// The kernel's name of a handle's object type (`Section`, `File`, `Event`, ...), if it
/// says.
fn object_type(handle: BorrowedHandle<'_>) -> Option<String> {
    use windows_sys::Wdk::Foundation::{NtQueryObject, ObjectTypeInformation};
    use windows_sys::Win32::Foundation::UNICODE_STRING;
    /// Room for the information and the name that follows it, aligned as it must be.
    #[repr(C, align(8))]
    struct Room([u8; 1024]);
    let mut room = Room([0; 1024]);
    let mut returned = 0u32;
    // SAFETY: the buffer, of the size given, is written by the call for a valid handle
    // (this process's, open for the borrow).
    let status = unsafe {
        NtQueryObject(
            raw(handle),
            ObjectTypeInformation,
            room.0.as_mut_ptr().cast(),
            room.0.len() as u32,
            &mut returned,
        )
    };
    if status < 0 {
        return None;
    }
    // SAFETY: the information begins with the type's name, a UNICODE_STRING, which the
    // aligned buffer holds whole (it is larger and was written by the call).
    let name: UNICODE_STRING = unsafe { room.0.as_ptr().cast::<UNICODE_STRING>().read() };
    // The name's characters lie in the buffer, after the information: read only from
    // there, whatever the pointer says.
    let start = (name.Buffer as usize).checked_sub(room.0.as_ptr() as usize)?;
    let end = start.checked_add(usize::from(name.Length))?;
    let bytes = room.0.get(start..end)?;
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    Some(String::from_utf16_lossy(&units))
}

/// None on Windows: a file-backed mapping's handle is its section's, which cannot tell the
/// file it maps (the share lock's file handle is checked against the record instead:
/// `FileLock::adopt`).
pub(crate) fn recorded_identity(_handle: &OsHandle) -> Result<Option<(u64, u64)>> {
    Ok(None)
}

/// Takes ownership of a handle another process duplicated into this one.
pub(crate) fn take_duplicated(value: u64, key: &str) -> Result<OsHandle> {
    take_handle(value, key, false, None)
}
