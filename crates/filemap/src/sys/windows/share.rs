//! Windows handle sharing: duplicates (`DuplicateHandle`), into this process or another
//! one, and inheritable handles for a child `Command`; handles handed to this process are
//! taken over at most once.

use std::fmt;
use std::os::windows::io::{AsHandle, AsRawHandle, BorrowedHandle, FromRawHandle, OwnedHandle};
use std::process::Command;

use windows_sys::Win32::Foundation::{
    DuplicateHandle, GetHandleInformation, SetHandleInformation, DUPLICATE_CLOSE_SOURCE,
    DUPLICATE_SAME_ACCESS, HANDLE, HANDLE_FLAG_INHERIT,
};
use windows_sys::Win32::System::Threading::GetCurrentProcess;

use super::entry::{read_section_header, Entry};
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

fn take_handle(value: u64, key: &str, inherited: bool) -> Result<OsHandle> {
    let wrap = || {
        let h = check_handle(value, key, inherited)?;
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

/// The checks `take_inherited` makes, doing nothing to the handle (see Linux's).
pub(crate) fn check_inherited(value: u64, key: &str, _identity: Option<&str>) -> Result<()> {
    check_handle(value, key, true).map(drop)
}

/// Takes ownership of an inherited handle named by an environment variable.
///
/// (`identity` is Linux's check that a descriptor number still names the file shared; a
/// Windows handle value names the same object in every process that inherits it, and
/// `take_handle` checks it was inherited.)
pub(crate) fn take_inherited(value: u64, key: &str, _identity: Option<&str>) -> Result<OsHandle> {
    take_handle(value, key, true)
}

/// None on Windows (see `take_inherited`).
pub(crate) fn handle_identity(_handle: &OsHandle) -> Result<Option<String>> {
    Ok(None)
}

/// None on Windows: a file-backed mapping's handle is its section's, which cannot tell the
/// file it maps (the share lock's file handle is checked against the record instead:
/// `FileLock::adopt`).
pub(crate) fn recorded_identity(_handle: &OsHandle) -> Result<Option<(u64, u64)>> {
    Ok(None)
}

/// Takes ownership of a handle another process duplicated into this one.
pub(crate) fn take_duplicated(value: u64, key: &str) -> Result<OsHandle> {
    take_handle(value, key, false)
}
