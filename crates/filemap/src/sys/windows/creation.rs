//! Recoverable creation of named sections on Windows. A section gets its name when it is
//! created, before its header is written; a creator killed in between would leave a
//! header-less section under the name for as long as anyone holds it. So:
//!
//! - every create call holds the name's creation lock (a kernel mutex, `name/create`) from
//!   before it makes the section until the header is written, and marks a section it made
//!   `INCOMPLETE` (its first word) before writing the header;
//! - every handle filemap keeps on the section (`Entry`) also keeps the lock open, so the
//!   lock lives exactly as long as the section, and a creator's death while holding it is
//!   recorded (`WAIT_ABANDONED`) whenever the section outlives it;
//! - only a user who may write the section may take the lock (its descriptor grants the
//!   wait to the mode's write bits alone, `Rights::CreationLock`): a user who may only read
//!   it keeps it open with the right to query it, and so cannot hold every create call of
//!   the name up; such a user's create call looks at what is there as a create call that
//!   finds an object does (the lock's owner and the section's are checked, another user's
//!   refused), and waits for a maker still at work; (a half-made section finished by
//!   another create call keeps its lock's descriptor, the dead creator's);
//! - a create call that, holding the lock, finds a section without a header finishes it when
//!   it is marked `INCOMPLETE`, or all zeros with the lock abandoned (its creator died before
//!   marking it), provided this user (or SYSTEM or Administrators) owns it, all of it is
//!   committed and it is large enough; anything else (another program's section) is refused as before.

use std::os::windows::io::{AsHandle, BorrowedHandle, OwnedHandle};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use windows_sys::Win32::Foundation::{
    ERROR_ACCESS_DENIED, WAIT_ABANDONED, WAIT_OBJECT_0, WAIT_TIMEOUT,
};
use windows_sys::Win32::System::Memory::{MEM_COMMIT, MEMORY_BASIC_INFORMATION, VirtualQuery};
use windows_sys::Win32::System::Threading::{
    CreateMutexExW, OpenMutexW, ReleaseMutex, WaitForSingleObject,
};

use super::security::{ObjectSecurity, trusted_owner};
use super::{Section, duplicate, last_error, os_error, owned, raw, wide};
use crate::error::{Error, Result};
use crate::header::{HEADER_AREA, MAGIC};
use crate::name::{Name, Scope};
use crate::vocabulary::Access;

/// The first word of a section its creator made and has not yet given a header.
pub(super) const INCOMPLETE: [u8; 8] = *b"FMAPINIT";

/// How long a create call waits for another creator of the same name to finish.
pub(super) const CREATION_WAIT: Duration = Duration::from_secs(10);

/// The creation lock's kernel name.
fn lock_name(name: &Name) -> Vec<u16> {
    let scope = match name.scope() {
        Scope::Local => "Local",
        Scope::Global => "Global",
    };
    wide(&format!("{scope}\\{}/create", name.base()))
}

/// The creation lock, held.
pub(super) struct CreationLock {
    mutex: Option<OwnedHandle>,
    abandoned: bool,
}

impl CreationLock {
    /// Takes the name's creation lock, waiting for another creator at most
    /// `CREATION_WAIT` (`Error::NameContended` after that). `None` if the lock is there and
    /// this user may not take it: its descriptor does not grant this user the wait (one
    /// who may at most read the name's object, made or being made).
    pub(super) fn take(name: &Name, security: &ObjectSecurity) -> Result<Option<CreationLock>> {
        let w = lock_name(name);
        // SAFETY: a valid NUL-terminated name and security attributes; not initially owned;
        // the handle is owned by `owned`.
        let mutex = match owned(unsafe {
            CreateMutexExW(
                security.attributes(),
                w.as_ptr(),
                0,
                super::sync::MUTEX_ACCESS,
            )
        }) {
            Some(mutex) => mutex,
            None if last_error() == ERROR_ACCESS_DENIED => return Ok(None),
            None => {
                let code = last_error();
                return Err(Error::io(
                    "create the creation lock of",
                    name,
                    os_error(code),
                ));
            }
        };
        super::sync::companion_owner_check(name, &mutex)?;
        let ms = CREATION_WAIT.as_millis() as u32;
        // SAFETY: a valid mutex handle.
        let abandoned = match unsafe { WaitForSingleObject(raw(mutex.as_handle()), ms) } {
            WAIT_OBJECT_0 => false,
            // A creator died holding it; what it left is looked at by `half_made`.
            WAIT_ABANDONED => true,
            WAIT_TIMEOUT => {
                return Err(Error::NameContended {
                    name: name.to_string(),
                    attempts: 1,
                });
            }
            _ => {
                return Err(Error::io(
                    "wait for the creation lock of",
                    name,
                    os_error(last_error()),
                ));
            }
        };
        Ok(Some(CreationLock {
            mutex: Some(mutex),
            abandoned,
        }))
    }

    /// Releases the lock, keeping its handle (for the entry to hold).
    pub(super) fn release(mut self) -> OwnedHandle {
        let mutex = self.mutex.take().expect("held until released or dropped");
        // SAFETY: a mutex this thread owns (taken in `take`).
        unsafe { ReleaseMutex(raw(mutex.as_handle())) };
        mutex
    }
}

impl Drop for CreationLock {
    fn drop(&mut self) {
        if let Some(mutex) = &self.mutex {
            // SAFETY: a mutex this thread owns (taken in `take`).
            unsafe { ReleaseMutex(raw(mutex.as_handle())) };
        }
    }
}

/// An opener's handle on the name's creation lock, if there is one: with the rights to
/// query it and read its owner only (all a reader is granted), which keep it open and
/// cannot take it.
pub(super) fn open_lock(name: &Name) -> Option<OwnedHandle> {
    let w = lock_name(name);
    // SAFETY: a valid NUL-terminated name; the handle is owned by `owned`.
    owned(unsafe { OpenMutexW(READ_CONTROL | MUTANT_QUERY_STATE, 0, w.as_ptr()) })
}

/// The right to read an object's descriptor.
const READ_CONTROL: u32 = 0x0002_0000;

/// A mutex's query right, the one right a reader of the section has on its creation lock.
const MUTANT_QUERY_STATE: u32 = 0x0001;

/// A section's first word, if it can be read (`read_word`).
fn first_word(section: BorrowedHandle<'_>) -> Option<[u8; 8]> {
    let view = Section::from_handle(duplicate(section).ok()?)
        .map(0, 0, Access::Read, false, &"a section")
        .ok()?;
    if view.region_size() < 8 {
        return None;
    }
    read_word(view.ptr())
}

/// The first 8 bytes of a view at `at`, or `None` when they cannot be read: their page is
/// only reserved (a `SEC_RESERVE` section's that nobody committed), where a plain read is
/// an access violation that ends the process. Where the copy routines are guarded
/// (x86_64), the copy's fault is that answer; elsewhere the page's state is asked first.
/// (Not `VirtualQuery` everywhere: Wine does not record a commit that reaches the end of
/// the view it is made through, as `Section::commit`'s do, and reports the page reserved
/// in other views.)
pub(super) fn read_word(at: *mut u8) -> Option<[u8; 8]> {
    #[cfg(not(target_arch = "x86_64"))]
    if !committed(at, 8) {
        return None;
    }
    let mut word = [0u8; 8];
    // SAFETY: `at` starts a mapped view of at least 8 bytes (the callers'), 64 KiB aligned,
    // so the 8 bytes are in one page; a fault on an uncommitted page becomes an error on
    // x86_64, and elsewhere the page was found committed just above (a section's committed
    // pages are never decommitted). The copy is sound against concurrent writers.
    unsafe { crate::copy::copy_from_shared(at, &mut word) }.ok()?;
    Some(word)
}

/// Whether a section's first word is filemap's magic (its header was written).
pub(super) fn has_header(section: BorrowedHandle<'_>) -> bool {
    first_word(section) == Some(MAGIC)
}

/// Marks a section this call made as incomplete, before its header is written. A
/// `SEC_RESERVE` section (`reserve`) has its header page committed first: until then the
/// page is only reserved, and writing it is an access violation.
pub(super) fn mark_incomplete(
    section: BorrowedHandle<'_>,
    reserve: bool,
    name: &Name,
) -> Result<()> {
    let whole = Section::from_handle(duplicate(section)?);
    if reserve {
        whole.commit(0, HEADER_AREA as u64, name)?;
    }
    let view = whole.map(0, 8, Access::Write, false, name)?;
    // SAFETY: the view is at least 8 writable bytes, 64 KiB aligned, and committed (a
    // `SEC_RESERVE` section's header page was committed just above, any other
    // pagefile-backed section is committed whole); nobody else writes a section's first
    // word before its header exists (the creation lock is held).
    unsafe { &*view.ptr().cast::<AtomicU64>() }
        .store(u64::from_le_bytes(INCOMPLETE), Ordering::Release);
    Ok(())
}

/// Whether `section`, found without a header by a create call holding `lock`, is a
/// half-made filemap object that this call may finish as an object of `total` bytes.
/// `Error::Corrupt` for a half-made one it cannot finish; `false` for a section that is
/// not filemap's (or not half-made), which the caller refuses as before.
pub(super) fn half_made(
    section: BorrowedHandle<'_>,
    lock: &CreationLock,
    name: &Name,
    total: u64,
) -> Result<bool> {
    let half_made = match first_word(section) {
        Some(word) if word == INCOMPLETE => true,
        Some(word) if word == [0; 8] => lock.abandoned,
        _ => false,
    };
    if !half_made {
        return Ok(false);
    }
    let refuse = |why: String| Error::Corrupt {
        name: name.to_string(),
        problem: format!("its creator died before writing its header, and {why}"),
    };
    if !trusted_owner(raw(section))? {
        return Err(refuse("another user owns the section".into()));
    }
    let view = Section::from_handle(duplicate(section)?).map(0, 0, Access::Read, false, name)?;
    let room = view.region_size() as u64;
    if room < total {
        return Err(refuse(format!(
            "the section ({room} bytes) is too small to finish as this object ({total} bytes)"
        )));
    }
    if !committed(view.ptr(), total as usize) {
        return Err(refuse(
            "the section is reserved, not committed (it was made for another object)".into(),
        ));
    }
    Ok(true)
}

/// Whether all of `[base, base + len)` (inside one view) is committed memory.
pub(super) fn committed(base: *mut u8, len: usize) -> bool {
    let mut at = 0usize;
    while at < len {
        // SAFETY: MEMORY_BASIC_INFORMATION is plain data; all zeros is a valid value.
        let mut info: MEMORY_BASIC_INFORMATION = unsafe { std::mem::zeroed() };
        // SAFETY: VirtualQuery fills the structure for any address of this process.
        let got = unsafe {
            VirtualQuery(
                base.wrapping_add(at).cast(),
                &mut info,
                std::mem::size_of::<MEMORY_BASIC_INFORMATION>(),
            )
        };
        if got == 0 || info.State != MEM_COMMIT || info.RegionSize == 0 {
            return false;
        }
        let region_end = info.BaseAddress as usize + info.RegionSize;
        at = region_end - base as usize;
    }
    true
}
