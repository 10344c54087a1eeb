//! Security of the named objects filemap creates on Windows: the `permissions` mode bits
//! become the object's security descriptor, and the owner of an existing `Global\` object is
//! checked before a create call uses it (a squatter's object is `Error::ForeignOwner`).
//!
//! The mapping of the mode bits (the same for every kind of object):
//! - owner bits: an access-allowed entry for the creating user (the token's user);
//! - group bits: one for the creating process's primary group (the token's primary group,
//!   the nearest thing Windows has to a Unix group of the creator);
//! - other bits: one for Authenticated Users (every signed-in user; not the anonymous
//!   logon and not guests), the nearest thing to "everyone else on this machine";
//! - SYSTEM and the Administrators group always get full access, as root has on Linux.
//!
//! What the bits grant depends on the object ([`Rights`]). A section's read is
//! `GENERIC_READ | SYNCHRONIZE` (map views for reading), write `GENERIC_WRITE` (map views
//! for writing), execute `GENERIC_EXECUTE` (map executable views). A waitable object's
//! (mutex, event, semaphore, and the companions filemap makes beside an object: a shared
//! value's lock, wake-up and endpoint events) use needs read and write together, as opening
//! a synchronisation object read-write does on Linux: waiting on one changes it (a mutex
//! is taken, a semaphore's unit or an auto-reset event's signal consumed, an endpoint's
//! event held open reads as a live endpoint), so a wait is never granted on its own; read
//! alone grants its descriptor and state (`READ_CONTROL`, query), execute nothing. The
//! descriptor is protected (no inherited entries) and names the creating user as the
//! owner. The default mode, 0o600, leaves the object private to its creator (and SYSTEM
//! and Administrators), as on Linux.

use std::sync::OnceLock;

use windows_sys::Win32::Foundation::{HANDLE, LocalFree};
use windows_sys::Win32::Security::Authorization::{
    ConvertSecurityDescriptorToStringSecurityDescriptorW, ConvertSidToStringSidW,
    ConvertStringSecurityDescriptorToSecurityDescriptorW, GetSecurityInfo, SDDL_REVISION_1,
    SE_FILE_OBJECT, SE_KERNEL_OBJECT, SetSecurityInfo,
};
use windows_sys::Win32::Security::{
    ACL, DACL_SECURITY_INFORMATION, GetSecurityDescriptorDacl, GetTokenInformation, IsWellKnownSid,
    OWNER_SECURITY_INFORMATION, PROTECTED_DACL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, PSID,
    SECURITY_ATTRIBUTES, TOKEN_PRIMARY_GROUP, TOKEN_QUERY, TOKEN_USER, TokenPrimaryGroup,
    TokenUser, WinBuiltinAdministratorsSid, WinLocalSystemSid,
};
use windows_sys::Win32::Storage::FileSystem::WRITE_DAC;
use windows_sys::Win32::System::Memory::OpenFileMappingW;
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

use super::{last_error, os_error, owned, raw, wide};
use crate::error::{Error, Result};
use crate::name::{Name, Scope};

const GENERIC_READ: u32 = 0x8000_0000;
const GENERIC_WRITE: u32 = 0x4000_0000;
const GENERIC_EXECUTE: u32 = 0x2000_0000;
const SYNCHRONIZE: u32 = 0x0010_0000;
const READ_CONTROL: u32 = 0x0002_0000;
/// A mutex's, event's or semaphore's query right (`MUTANT_QUERY_STATE`,
/// `EVENT_QUERY_STATE`, `SEMAPHORE_QUERY_STATE`).
const QUERY_STATE: u32 = 0x0001;
/// An event's or semaphore's modify right (`EVENT_MODIFY_STATE`, `SEMAPHORE_MODIFY_STATE`;
/// a mutex has none besides `SYNCHRONIZE`).
const MODIFY_STATE: u32 = 0x0002;

/// What kind of object a descriptor is for: what its mode bits grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rights {
    /// A section.
    Section,
    /// A section's creation lock (`creation.rs`): taking it (waiting on it) only for the
    /// users who may write the section, so that one who may only read it cannot hold
    /// every create call of the name up; its descriptor and state for readers, who keep
    /// it open beside the section.
    CreationLock,
    /// A mutex, event or semaphore, or a companion object filemap makes beside an object.
    Waitable,
}

/// The access mask for three mode bits (`rwx`, as the low three bits of `bits`).
fn access_mask(bits: u32, rights: Rights) -> u32 {
    let (read, write, execute) = (bits & 0o4 != 0, bits & 0o2 != 0, bits & 0o1 != 0);
    match rights {
        Rights::Section => {
            let mut mask = 0;
            if read {
                mask |= GENERIC_READ | SYNCHRONIZE;
            }
            if write {
                mask |= GENERIC_WRITE;
            }
            if execute {
                mask |= GENERIC_EXECUTE;
            }
            mask
        }
        Rights::Waitable if read && write => {
            READ_CONTROL | QUERY_STATE | SYNCHRONIZE | MODIFY_STATE
        }
        Rights::Waitable if read => READ_CONTROL | QUERY_STATE,
        Rights::Waitable => 0,
        Rights::CreationLock if write => READ_CONTROL | QUERY_STATE | SYNCHRONIZE,
        Rights::CreationLock if read => READ_CONTROL | QUERY_STATE,
        Rights::CreationLock => 0,
    }
}

/// The descriptor, in the Security Descriptor Definition Language, for `mode` on an object
/// of `rights` made by `user` (a string SID) whose primary group is `group`.
pub(crate) fn descriptor_sddl(mode: u32, rights: Rights, user: &str, group: &str) -> String {
    let mut sddl = format!(
        "O:{user}D:P(A;;{:#x};;;{user})(A;;GA;;;SY)(A;;GA;;;BA)",
        access_mask(mode >> 6, rights)
    );
    // An entry with an empty mask grants nothing: leave it out.
    let group_mask = access_mask(mode >> 3, rights);
    if group_mask != 0 && group != user {
        sddl.push_str(&format!("(A;;{group_mask:#x};;;{group})"));
    }
    let other_mask = access_mask(mode, rights);
    if other_mask != 0 {
        sddl.push_str(&format!("(A;;{other_mask:#x};;;AU)"));
    }
    sddl
}

/// This process's user and primary group, as string SIDs.
struct Identity {
    user: String,
    group: String,
}

fn identity() -> Result<&'static Identity> {
    static IDENTITY: OnceLock<std::result::Result<Identity, String>> = OnceLock::new();
    IDENTITY.get_or_init(read_identity).as_ref().map_err(|why| {
        Error::io(
            "read",
            "this process's user",
            std::io::Error::other(why.clone()),
        )
    })
}

fn read_identity() -> std::result::Result<Identity, String> {
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: the pseudo-handle of this process; `token` receives a new handle.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
        return Err(format!("OpenProcessToken: {}", os_error(last_error())));
    }
    let token = owned(token).ok_or("OpenProcessToken gave no handle")?;
    let user_info = token_information(
        raw(std::os::windows::io::AsHandle::as_handle(&token)),
        TokenUser,
    )?;
    let group_info = token_information(
        raw(std::os::windows::io::AsHandle::as_handle(&token)),
        TokenPrimaryGroup,
    )?;
    // SAFETY: GetTokenInformation(TokenUser) filled the buffer with a TOKEN_USER whose SID
    // points into the same buffer; the buffer is 8-aligned (a Vec<u64>).
    let user_sid = unsafe { (*user_info.as_ptr().cast::<TOKEN_USER>()).User.Sid };
    // SAFETY: as above, for TokenPrimaryGroup and TOKEN_PRIMARY_GROUP.
    let group_sid = unsafe { (*group_info.as_ptr().cast::<TOKEN_PRIMARY_GROUP>()).PrimaryGroup };
    Ok(Identity {
        user: sid_string(user_sid)?,
        group: sid_string(group_sid)?,
    })
}

/// One class of a token's information, in an 8-aligned buffer.
fn token_information(
    token: HANDLE,
    class: windows_sys::Win32::Security::TOKEN_INFORMATION_CLASS,
) -> std::result::Result<Vec<u64>, String> {
    let mut len = 0u32;
    // SAFETY: a size query (no buffer); `len` receives the size needed.
    unsafe { GetTokenInformation(token, class, std::ptr::null_mut(), 0, &mut len) };
    let mut buf = vec![0u64; (len as usize).div_ceil(8).max(1)];
    // SAFETY: `buf` has room for `len` bytes.
    let ok = unsafe {
        GetTokenInformation(
            token,
            class,
            buf.as_mut_ptr().cast(),
            (buf.len() * 8) as u32,
            &mut len,
        )
    };
    if ok == 0 {
        return Err(format!("GetTokenInformation: {}", os_error(last_error())));
    }
    Ok(buf)
}

/// A SID as a string (`S-1-5-...`).
fn sid_string(sid: PSID) -> std::result::Result<String, String> {
    let mut text: *mut u16 = std::ptr::null_mut();
    // SAFETY: `sid` is a valid SID; `text` receives a LocalAlloc'ed NUL-terminated string.
    if unsafe { ConvertSidToStringSidW(sid, &mut text) } == 0 {
        return Err(format!(
            "ConvertSidToStringSidW: {}",
            os_error(last_error())
        ));
    }
    // SAFETY: a NUL-terminated string from LocalAlloc, freed right after it is read.
    Ok(unsafe { take_local_string(text) })
}

/// Reads a NUL-terminated UTF-16 string that LocalAlloc made, and frees it.
///
/// # Safety
/// `text` is a valid, NUL-terminated string allocated with LocalAlloc, not used after.
unsafe fn take_local_string(text: *mut u16) -> String {
    let mut len = 0;
    // SAFETY: NUL-terminated (the caller's contract).
    while unsafe { *text.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: `len` valid u16s at `text`.
    let s = String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(text, len) });
    // SAFETY: allocated with LocalAlloc (the caller's contract), freed once.
    unsafe { LocalFree(text.cast()) };
    s
}

/// A security descriptor made from `permissions`, for creating one object.
pub(crate) struct ObjectSecurity {
    descriptor: PSECURITY_DESCRIPTOR,
    attributes: SECURITY_ATTRIBUTES,
}

impl ObjectSecurity {
    /// The descriptor for `mode` (Unix-style permission bits) on an object of `rights`,
    /// and this process's user.
    pub(crate) fn new(mode: u32, rights: Rights) -> Result<ObjectSecurity> {
        let id = identity()?;
        let sddl = wide(&descriptor_sddl(mode, rights, &id.user, &id.group));
        let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        // SAFETY: a valid NUL-terminated SDDL string; `descriptor` receives a LocalAlloc'ed
        // self-relative descriptor, freed in `drop`.
        let ok = unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                sddl.as_ptr(),
                SDDL_REVISION_1,
                &mut descriptor,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 {
            return Err(Error::io(
                "make the security descriptor for permissions",
                format!("{mode:#o}"),
                os_error(last_error()),
            ));
        }
        Ok(ObjectSecurity {
            descriptor,
            attributes: SECURITY_ATTRIBUTES {
                nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
                lpSecurityDescriptor: descriptor,
                bInheritHandle: 0,
            },
        })
    }

    /// Gives the section `name` (which this user owns) this descriptor's access entries.
    pub(crate) fn apply(&self, name: &Name, _section: HANDLE) -> Result<()> {
        let w = super::kernel_name(name);
        // The owner may always change an object's entries: a handle with that right.
        // SAFETY: a valid NUL-terminated name; the handle is owned by `owned`.
        let handle =
            owned(unsafe { OpenFileMappingW(WRITE_DAC, 0, w.as_ptr()) }).ok_or_else(|| {
                Error::io(
                    "open to set the permissions of",
                    name,
                    os_error(last_error()),
                )
            })?;
        let mut present = 0;
        let mut defaulted = 0;
        let mut dacl: *mut ACL = std::ptr::null_mut();
        // SAFETY: `descriptor` is valid while `self` lives; `dacl` points into it.
        let ok = unsafe {
            GetSecurityDescriptorDacl(self.descriptor, &mut present, &mut dacl, &mut defaulted)
        };
        if ok == 0 || present == 0 {
            return Err(Error::io(
                "read the permissions for",
                name,
                os_error(last_error()),
            ));
        }
        // SAFETY: a handle with WRITE_DAC; `dacl` is valid while `self` lives.
        let code = unsafe {
            SetSecurityInfo(
                raw(std::os::windows::io::AsHandle::as_handle(&handle)),
                SE_KERNEL_OBJECT,
                DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                dacl,
                std::ptr::null(),
            )
        };
        if code != 0 {
            return Err(Error::io("set the permissions of", name, os_error(code)));
        }
        Ok(())
    }

    /// The attributes to pass to a `Create...W` call (valid while `self` lives).
    pub(crate) fn attributes(&self) -> *const SECURITY_ATTRIBUTES {
        &self.attributes
    }
}

impl Drop for ObjectSecurity {
    fn drop(&mut self) {
        // SAFETY: allocated by ConvertStringSecurityDescriptorToSecurityDescriptorW, freed
        // once; no `attributes()` pointer outlives `self` (the callers' contract).
        unsafe { LocalFree(self.descriptor) };
    }
}

/// An object's owner and descriptor, as string SID and SDDL (for `filemap info`, tests).
pub(crate) fn describe(handle: HANDLE) -> Result<(String, String)> {
    let mut owner: PSID = std::ptr::null_mut();
    let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    let info = OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION;
    // SAFETY: a valid handle; `owner` points into `descriptor`, which is LocalAlloc'ed and
    // freed below.
    let code = unsafe {
        GetSecurityInfo(
            handle,
            SE_KERNEL_OBJECT,
            info,
            &mut owner,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut descriptor,
        )
    };
    if code != 0 {
        return Err(Error::io(
            "read the security of",
            "an object",
            os_error(code),
        ));
    }
    // (An object may have no owner: Wine's do, `check_owner` says.)
    let owner_text = if owner.is_null() {
        Ok("(no owner)".to_string())
    } else {
        sid_string(owner)
    };
    let mut text: *mut u16 = std::ptr::null_mut();
    // SAFETY: the descriptor GetSecurityInfo gave; `text` receives a LocalAlloc'ed string.
    let ok = unsafe {
        ConvertSecurityDescriptorToStringSecurityDescriptorW(
            descriptor,
            SDDL_REVISION_1,
            info,
            &mut text,
            std::ptr::null_mut(),
        )
    };
    let sddl = if ok == 0 {
        Err(os_error(last_error()).to_string())
    } else {
        // SAFETY: a NUL-terminated string from LocalAlloc.
        Ok(unsafe { take_local_string(text) })
    };
    // SAFETY: from GetSecurityInfo, freed once; `owner` is not used after.
    unsafe { LocalFree(descriptor) };
    match (owner_text, sddl) {
        (Ok(o), Ok(s)) => Ok((o, s)),
        (Err(e), _) | (_, Err(e)) => Err(Error::io(
            "read the security of",
            "an object",
            std::io::Error::other(e),
        )),
    }
}

/// A security descriptor read back from the kernel (or a file system) with
/// `GetSecurityInfo`: its owner and DACL, freed on drop.
pub(super) struct ReadSecurity {
    descriptor: PSECURITY_DESCRIPTOR,
    owner: PSID,
    dacl: *mut ACL,
}

impl ReadSecurity {
    /// Reads the owner (and, with `dacl`, the DACL) of the object behind `handle`, a kernel
    /// object or (with `file`) a file, which was opened with `READ_CONTROL`.
    pub(super) fn read(
        handle: HANDLE,
        file: bool,
        dacl: bool,
    ) -> std::result::Result<ReadSecurity, u32> {
        let mut read = ReadSecurity {
            descriptor: std::ptr::null_mut(),
            owner: std::ptr::null_mut(),
            dacl: std::ptr::null_mut(),
        };
        let mut info = OWNER_SECURITY_INFORMATION;
        if dacl {
            info |= DACL_SECURITY_INFORMATION;
        }
        let kind = if file {
            SE_FILE_OBJECT
        } else {
            SE_KERNEL_OBJECT
        };
        // SAFETY: a valid handle; `owner` and `dacl` point into `descriptor`, which is
        // LocalAlloc'ed and freed by `drop` (a null one is left as it is).
        let code = unsafe {
            GetSecurityInfo(
                handle,
                kind,
                info,
                &mut read.owner,
                std::ptr::null_mut(),
                if dacl {
                    &mut read.dacl
                } else {
                    std::ptr::null_mut()
                },
                std::ptr::null_mut(),
                &mut read.descriptor,
            )
        };
        if code != 0 {
            return Err(code);
        }
        Ok(read)
    }

    /// The owner, if the descriptor names one: a pointer into the descriptor, for use
    /// only while `self` lives.
    pub(super) fn owner_sid(&self) -> Option<PSID> {
        (!self.owner.is_null()).then_some(self.owner)
    }

    /// The owner: its SID as text, and whether it is SYSTEM or the Administrators group.
    /// `None` for an object without an owner.
    pub(super) fn owner(&self) -> std::result::Result<Option<(String, bool)>, String> {
        let Some(owner) = self.owner_sid() else {
            return Ok(None);
        };
        // SAFETY: a valid SID inside the descriptor `self` holds.
        let well_known = unsafe { is_administration(owner) };
        sid_string(owner).map(|sid| Some((sid, well_known)))
    }

    /// The DACL (when read): `None` if the object has none, which grants everyone every
    /// access. A pointer into the descriptor, for use only while `self` lives.
    pub(super) fn dacl(&self) -> Option<*const ACL> {
        (!self.dacl.is_null()).then_some(self.dacl.cast_const())
    }
}

impl Drop for ReadSecurity {
    fn drop(&mut self) {
        if !self.descriptor.is_null() {
            // SAFETY: from GetSecurityInfo, freed once; the owner and DACL pointers into
            // it are used only while `self` lives (`owner_sid`, `dacl`).
            unsafe { LocalFree(self.descriptor) };
        }
    }
}

/// Whether `sid` is SYSTEM or the Administrators group, who may do anything (as root may
/// on Linux).
///
/// # Safety
/// `sid` points to a valid SID.
pub(super) unsafe fn is_administration(sid: PSID) -> bool {
    // SAFETY: a valid SID (the caller's contract).
    unsafe {
        IsWellKnownSid(sid, WinLocalSystemSid) != 0
            || IsWellKnownSid(sid, WinBuiltinAdministratorsSid) != 0
    }
}

/// The owner of the object behind `handle`: its SID as text, and whether it is SYSTEM or
/// the Administrators group. `None` for an object without an owner.
fn owner_of(handle: HANDLE) -> std::result::Result<Option<(String, bool)>, String> {
    ReadSecurity::read(handle, false, false)
        .map_err(|code| os_error(code).to_string())?
        .owner()
}

/// The owner of `file`, as text (`None`: the file system keeps none, as FAT does).
pub(super) fn file_owner(file: &std::fs::File) -> std::result::Result<Option<String>, String> {
    use std::os::windows::io::AsRawHandle;
    ReadSecurity::read(file.as_raw_handle(), true, false)
        .map_err(|code| os_error(code).to_string())?
        .owner()
        .map(|owner| owner.map(|(sid, _)| sid))
}

/// This process's user, as a string SID.
pub(super) fn my_sid() -> Result<&'static str> {
    Ok(&identity()?.user)
}

/// `Error::ForeignOwner` if the existing object behind `handle` (which a create call found)
/// is owned by neither this user, SYSTEM nor the Administrators group: someone squatting
/// the name. For `Local\` names too: `Local\` is the Terminal Services session's
/// namespace, not the user's (another user's process in the session, with `runas`, could
/// plant a name there; in session 0 every service account shares it), and Linux refuses a
/// `Local\` name another user made. A `Local\` object with no owner at all is let be: one
/// made without security attributes has none under Wine (Windows gives every named object
/// its creator's), and nothing says whose it is.
pub(crate) fn check_owner(name: &Name, handle: HANDLE) -> Result<()> {
    let me = &identity()?.user;
    let owner = owner_of(handle)
        .map_err(|e| Error::io("read the owner of", name, std::io::Error::other(e)))?;
    match owner {
        Some((sid, well_known)) if well_known || &sid == me => Ok(()),
        None if name.scope() == Scope::Local => Ok(()),
        owner => Err(Error::ForeignOwner {
            name: name.to_string(),
            owner: owner.map_or_else(|| "nobody (no owner)".to_string(), |(sid, _)| sid),
            me: me.clone(),
        }),
    }
}

/// [`check_owner`], trusting `also` too (the SID of the owner of the object this one is a
/// companion of: another user's `Global\` object whose events its creator made).
pub(crate) fn check_owner_or(name: &Name, handle: HANDLE, also: Option<&str>) -> Result<()> {
    let Some(also) = also else {
        return check_owner(name, handle);
    };
    let owner = owner_of(handle)
        .map_err(|e| Error::io("read the owner of", name, std::io::Error::other(e)))?;
    match owner {
        Some((sid, _)) if sid == also => Ok(()),
        _ => check_owner(name, handle),
    }
}

/// The owner of the object behind `handle` (opened with `READ_CONTROL`), as a SID string;
/// `None` if it has none or it cannot be read.
pub(crate) fn owner_sid(handle: HANDLE) -> Option<String> {
    owner_of(handle).ok().flatten().map(|(sid, _)| sid)
}

/// The access an open adds to what it needs, for [`check_opened_owner`]: `READ_CONTROL`
/// for a `Local\` name, whose owner is checked; nothing for a `Global\` one (another
/// program's object may grant no `READ_CONTROL`, and its owner is not checked).
pub(crate) fn owner_check_access(name: &Name) -> u32 {
    match name.scope() {
        Scope::Local => READ_CONTROL,
        Scope::Global => 0,
    }
}

/// [`check_owner`] for an object an open call found: a `Local\` object must be this
/// user's (or SYSTEM's, or the Administrators group's), as on Linux; a `Global\` one may be
/// anyone's (that is what `Global\` names are for). `handle` was opened with
/// [`owner_check_access`].
pub(crate) fn check_opened_owner(name: &Name, handle: HANDLE) -> Result<()> {
    match name.scope() {
        Scope::Local => check_owner(name, handle),
        Scope::Global => Ok(()),
    }
}

/// Whether the object behind `handle` is owned by this user, SYSTEM or the Administrators
/// group (the owner Windows gives an administrator's objects by default): the owners
/// `check_owner` trusts.
pub(crate) fn trusted_owner(handle: HANDLE) -> Result<bool> {
    let me = &identity()?.user;
    let owner = owner_of(handle)
        .map_err(|e| Error::io("read the owner of", "an object", std::io::Error::other(e)))?;
    Ok(owner.is_some_and(|(sid, well_known)| well_known || &sid == me))
}

#[cfg(test)]
mod tests {
    use super::{Rights, descriptor_sddl};

    #[test]
    fn mode_bits_become_entries() {
        let (u, g) = ("S-1-5-21-1-2-3-1000", "S-1-5-21-1-2-3-513");
        let section = |mode, group| descriptor_sddl(mode, Rights::Section, u, group);
        assert_eq!(
            section(0o600, g),
            format!("O:{u}D:P(A;;0xc0100000;;;{u})(A;;GA;;;SY)(A;;GA;;;BA)")
        );
        assert_eq!(
            section(0o640, g),
            format!("O:{u}D:P(A;;0xc0100000;;;{u})(A;;GA;;;SY)(A;;GA;;;BA)(A;;0x80100000;;;{g})")
        );
        assert_eq!(
            section(0o755, g),
            format!(
                "O:{u}D:P(A;;0xe0100000;;;{u})(A;;GA;;;SY)(A;;GA;;;BA)\
                 (A;;0xa0100000;;;{g})(A;;0xa0100000;;;AU)"
            )
        );
        // A group that is the user itself gets no second entry.
        assert_eq!(
            section(0o660, u),
            format!("O:{u}D:P(A;;0xc0100000;;;{u})(A;;GA;;;SY)(A;;GA;;;BA)")
        );
    }

    /// A waitable object is used (waited on, which changes it) with read and write
    /// together; read alone reads its descriptor and state; write alone or execute,
    /// nothing.
    #[test]
    fn a_wait_needs_read_and_write() {
        let (u, g) = ("S-1-5-21-1-2-3-1000", "S-1-5-21-1-2-3-513");
        assert_eq!(
            descriptor_sddl(0o642, Rights::Waitable, u, g),
            format!("O:{u}D:P(A;;0x120003;;;{u})(A;;GA;;;SY)(A;;GA;;;BA)(A;;0x20001;;;{g})")
        );
        assert_eq!(
            descriptor_sddl(0o755, Rights::Waitable, u, g),
            format!(
                "O:{u}D:P(A;;0x120003;;;{u})(A;;GA;;;SY)(A;;GA;;;BA)\
                 (A;;0x20001;;;{g})(A;;0x20001;;;AU)"
            )
        );
    }

    /// A section's creation lock is taken (waited on) only by those who may write the
    /// section; readers may read its descriptor and state, which keeps it open.
    #[test]
    fn only_writers_take_the_creation_lock() {
        let (u, g) = ("S-1-5-21-1-2-3-1000", "S-1-5-21-1-2-3-513");
        assert_eq!(
            descriptor_sddl(0o664, Rights::CreationLock, u, g),
            format!(
                "O:{u}D:P(A;;0x120001;;;{u})(A;;GA;;;SY)(A;;GA;;;BA)\
                 (A;;0x120001;;;{g})(A;;0x20001;;;AU)"
            )
        );
        assert_eq!(
            descriptor_sddl(0o600, Rights::CreationLock, u, g),
            format!("O:{u}D:P(A;;0x120001;;;{u})(A;;GA;;;SY)(A;;GA;;;BA)")
        );
        // A writer's grant covers all a create call asks of the lock (were it to ask for
        // more, every creator would be refused it, and fall back to looking).
        let asked = crate::sys::windows::sync::MUTEX_ACCESS;
        assert_eq!(super::access_mask(0o6, Rights::CreationLock) & asked, asked);
    }
}
