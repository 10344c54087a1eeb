//! Whether a file-backed object's header section may be believed before the file it names
//! is opened. The header names the file every opener opens and maps with its own rights,
//! so the section must be writable by its owner alone (and SYSTEM and the Administrators
//! group, who may do anything, as root may on Linux), and another user's section may name
//! only a file of that user's. Both are read back from the kernel and the file system
//! (the section's DACL and owner, the file's owner), never from the header.

use std::os::windows::io::{AsHandle, BorrowedHandle, OwnedHandle};
use std::path::Path;

use windows_sys::Win32::Foundation::{DuplicateHandle, HANDLE};
use windows_sys::Win32::Security::{
    ACCESS_ALLOWED_ACE, ACE_HEADER, EqualSid, GetAce, GetLengthSid, INHERIT_ONLY_ACE, IsValidSid,
    IsWellKnownSid, PSID, WinAuthenticatedUserSid, WinBuiltinUsersSid, WinInteractiveSid,
    WinWorldSid,
};
use windows_sys::Win32::System::Threading::GetCurrentProcess;

use super::security::{ReadSecurity, file_owner, is_administration, my_sid};
use super::{last_error, os_error, owned, raw};
use crate::error::{Error, Result};
use crate::header::Header;
use crate::name::Name;

/// `READ_CONTROL`: the right to read an object's security descriptor.
const READ_CONTROL: u32 = 0x0002_0000;

/// The rights that let a trustee change a section's header: write its views
/// (`SECTION_MAP_WRITE`, `GENERIC_WRITE`, `GENERIC_ALL`) or give itself that right
/// (`WRITE_DAC`, `WRITE_OWNER`).
const HEADER_WRITE_RIGHTS: u32 = 0x0002 | 0x4000_0000 | 0x1000_0000 | 0x0004_0000 | 0x0008_0000;

/// An access-allowed entry whose trustee and mask are read here.
const ACCESS_ALLOWED_ACE_TYPE: u8 = 0;
/// The fixed part of a SID (revision, sub-authority count, identifier authority), which
/// `IsValidSid` reads before the sub-authorities it counts.
const MIN_SID_LEN: usize = 8;
/// Access-allowed entries of other shapes (compound, object, callback, callback object):
/// their trustee is not read here, so they count as granting write to someone else.
const OTHER_ALLOWED_ACE_TYPES: [u8; 4] = [4, 5, 9, 11];

/// Checks that a file-backed object's header section `section` (found under `name`, the
/// object's `header`) is writable by its owner alone, and returns its owner if that is
/// another user (not this one, SYSTEM or the Administrators group), whose object may name
/// only a file of its own (`foreign_backing_file`). A `section` handle without
/// `READ_CONTROL` is reopened with it from the handle (never by name, which could by now
/// name another object).
pub(super) fn check_file_backed_header(
    name: &Name,
    section: BorrowedHandle<'_>,
    header: &Header,
) -> Result<Option<String>> {
    let denied = |why: String| Error::PermissionDenied {
        what: format!(
            "using {name}, a file-backed object, without reading who may write its header \
             (which names the file to open): {why}"
        ),
    };
    let security = match ReadSecurity::read(raw(section), false, true) {
        Ok(read) => read,
        Err(_) => {
            let again = reopen_with_access(section, READ_CONTROL)
                .map_err(|code| denied(os_error(code).to_string()))?;
            ReadSecurity::read(raw(again.as_handle()), false, true)
                .map_err(|code| denied(os_error(code).to_string()))?
        }
    };
    let others = other_writers(&security).map_err(denied)?;
    if others != 0 {
        return Err(Error::InsecurePermissions {
            name: name.to_string(),
            mode: header.entry_mode() | others,
            expected: header.entry_mode(),
        });
    }
    let owner = security.owner().map_err(denied)?;
    Ok(match owner {
        Some((sid, false)) if sid != my_sid()? => Some(sid),
        Some(_) => None,
        None => Some("nobody (no owner)".to_string()),
    })
}

/// The write bits, as Unix mode bits, of those besides the owner, SYSTEM and the
/// Administrators group whom the DACL lets change the section's header: `0o002` for
/// everyone (no DACL), Everyone, Authenticated Users, Users or Interactive, or an
/// entry whose trustee is not read here; `0o020` for any other user or group. `0` when the
/// owner alone may.
fn other_writers(security: &ReadSecurity) -> std::result::Result<u32, String> {
    let Some(acl) = security.dacl() else {
        return Ok(0o002);
    };
    let owner = security.owner_sid();
    // SAFETY: `acl` is a valid ACL inside the descriptor `security` holds.
    let count = unsafe { (*acl).AceCount };
    let mut bits = 0;
    for index in 0..u32::from(count) {
        let mut ace: *mut core::ffi::c_void = std::ptr::null_mut();
        // SAFETY: `index` is below the ACL's entry count; `ace` receives a pointer into it.
        if unsafe { GetAce(acl, index, &mut ace) } == 0 {
            return Err(format!("GetAce: {}", os_error(last_error())));
        }
        // SAFETY: every entry starts with an ACE_HEADER, inside the ACL (entries are
        // 4-aligned in an ACL; read unaligned all the same).
        let head = unsafe { ace.cast::<ACE_HEADER>().read_unaligned() };
        if u32::from(head.AceFlags) & INHERIT_ONLY_ACE != 0 {
            // It applies to objects made inside this one (there are none), not to it.
            continue;
        }
        if OTHER_ALLOWED_ACE_TYPES.contains(&head.AceType) {
            bits |= 0o002;
            continue;
        }
        if head.AceType != ACCESS_ALLOWED_ACE_TYPE {
            continue;
        }
        // An access-allowed entry: the header, the mask, then the SID to the entry's end.
        let sid_offset = std::mem::offset_of!(ACCESS_ALLOWED_ACE, SidStart);
        if usize::from(head.AceSize) < sid_offset + MIN_SID_LEN {
            // Too short to hold a SID: whom it grants cannot be read.
            bits |= 0o002;
            continue;
        }
        // SAFETY: the entry is at least `sid_offset + MIN_SID_LEN` bytes (checked above),
        // so its mask is inside it.
        let mask = unsafe { ace.cast::<ACCESS_ALLOWED_ACE>().read_unaligned().Mask };
        if mask & HEADER_WRITE_RIGHTS == 0 {
            continue;
        }
        // SAFETY: `sid_offset` is inside the entry (checked above).
        let sid: PSID = unsafe { ace.cast::<u8>().add(sid_offset) }.cast();
        // SAFETY: the SID's fixed part (MIN_SID_LEN bytes) is inside the entry; IsValidSid
        // reads its sub-authority count and checks it, and GetLengthSid of a valid SID is
        // its length, compared with the room the entry leaves it.
        let valid = unsafe {
            IsValidSid(sid) != 0
                && GetLengthSid(sid) as usize <= usize::from(head.AceSize) - sid_offset
        };
        if !valid {
            bits |= 0o002;
            continue;
        }
        // SAFETY: `sid` is a valid SID inside the entry, `owner` one inside the live
        // descriptor.
        let trusted = unsafe {
            owner.is_some_and(|owner| EqualSid(sid, owner) != 0) || is_administration(sid)
        };
        if !trusted {
            // SAFETY: as above.
            bits |= if unsafe { is_everyone(sid) } {
                0o002
            } else {
                0o020
            };
        }
    }
    Ok(bits)
}

/// Whether `sid` stands for everyone on the machine, or every signed-in or interactive
/// user (what filemap's "other" bits are granted to).
///
/// # Safety
/// `sid` points to a valid SID.
unsafe fn is_everyone(sid: PSID) -> bool {
    [
        WinWorldSid,
        WinAuthenticatedUserSid,
        WinBuiltinUsersSid,
        WinInteractiveSid,
    ]
    .into_iter()
    // SAFETY: a valid SID (the caller's contract).
    .any(|kind| unsafe { IsWellKnownSid(sid, kind) } != 0)
}

/// For another user's file-backed object (`owner`, from [`check_file_backed_header`]):
/// why `file` may not be opened for it, if it may not (it is not `owner`'s).
pub(super) fn foreign_file(owner: &str, file: &std::fs::File) -> Option<String> {
    match file_owner(file) {
        Ok(Some(file_owner)) if file_owner == owner => None,
        Ok(file_owner) => Some(format!(
            "the object is {owner}'s, the file {}'s: another user's object may name only a \
             file of its own",
            file_owner
                .as_deref()
                .unwrap_or("nobody's (it has no owner)")
        )),
        Err(why) => Some(format!(
            "the object is {owner}'s, and the file's owner could not be read ({why}): \
             another user's object may name only a file of its own"
        )),
    }
}

/// For another user's file-backed object (`owner`): why the path its header names may not
/// even be opened for use (`None` if it may), checked before it is: an open with the
/// access and share mode the header asks for would hold a file that is not `owner`'s, and
/// one of a path on another machine would send this user's credentials there. The path
/// must be on a drive of this machine, not a link or other reparse point there, and its
/// file `owner`'s (read from a handle that can only read its descriptor and attributes,
/// shared with everyone). (A directory link on the way is still followed.)
pub(super) fn foreign_path(owner: &str, path: &Path) -> Option<String> {
    use std::os::windows::fs::{MetadataExt, OpenOptionsExt};
    use windows_sys::Win32::Storage::FileSystem::{
        FILE_ATTRIBUTE_REPARSE_POINT, FILE_FLAG_OPEN_REPARSE_POINT, FILE_READ_ATTRIBUTES,
        FILE_SHARE_DELETE, FILE_SHARE_READ, FILE_SHARE_WRITE,
    };
    let refused = |why: String| {
        Some(format!(
            "the object is {owner}'s and {why}: another user's object may name only a local \
             file of its own"
        ))
    };
    if !super::is_local_drive_path(path) {
        return refused(
            "names a path not on a drive of this machine (opening it could send this user's \
             credentials elsewhere)"
                .into(),
        );
    }
    let probe = std::fs::OpenOptions::new()
        .access_mode(READ_CONTROL | FILE_READ_ATTRIBUTES)
        .share_mode(FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE)
        .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
        .open(path);
    let probe = match probe {
        Ok(probe) => probe,
        // Said by the open itself (the file is missing).
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => return refused(format!("its file could not be looked at ({e})")),
    };
    match probe.metadata() {
        Ok(m) if m.file_attributes() & FILE_ATTRIBUTE_REPARSE_POINT != 0 => {
            refused("its path ends in a link or other reparse point".into())
        }
        Ok(_) => foreign_file(owner, &probe),
        Err(e) => refused(format!("its file could not be looked at ({e})")),
    }
}

/// A second handle on the object behind `h` with `access`, which the object's security
/// descriptor is checked for (unlike a same-access duplicate): the same object, whatever
/// its name names by now. The error is the system's code.
fn reopen_with_access(h: BorrowedHandle<'_>, access: u32) -> std::result::Result<OwnedHandle, u32> {
    let mut out: HANDLE = std::ptr::null_mut();
    // SAFETY: a valid source handle and the current-process pseudo handle; `out` receives
    // the new handle, owned by `owned`.
    let ok = unsafe {
        DuplicateHandle(
            GetCurrentProcess(),
            raw(h),
            GetCurrentProcess(),
            &mut out,
            access,
            0,
            0,
        )
    };
    if ok == 0 {
        return Err(last_error());
    }
    owned(out).ok_or(last_error())
}
