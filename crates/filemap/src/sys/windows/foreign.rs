//! Windows foreign segments: named sections without a filemap header, made by (or for)
//! other programs. The kernel removes them with their last handle.

use windows_sys::Win32::Foundation::{
    ERROR_ACCESS_DENIED, ERROR_ALREADY_EXISTS, ERROR_COMMITMENT_LIMIT, ERROR_FILE_NOT_FOUND,
    ERROR_INVALID_HANDLE, ERROR_NOT_ENOUGH_MEMORY, ERROR_OUTOFMEMORY, INVALID_HANDLE_VALUE,
};
use windows_sys::Win32::System::Memory::{
    CreateFileMappingW, FILE_MAP_READ, FILE_MAP_WRITE, OpenFileMappingW, PAGE_READWRITE,
};

use super::security::{ObjectSecurity, Rights};
use super::{Section, last_error, os_error, owned, split, wide};
use crate::error::{Error, Result};
use crate::vocabulary::Access;

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
pub(crate) fn create_foreign(name: &str, size: u64, mode: u32) -> Result<Section> {
    let (hi, lo) = split(size);
    let w = wide(name);
    // The descriptor `mode` says, as every named object filemap makes has (Linux gives the
    // segment's file that mode).
    let security = ObjectSecurity::new(mode, Rights::Section)?;
    // SAFETY: pagefile-backed section with a valid NUL-terminated name; the security
    // attributes live until the call returns.
    let h = unsafe {
        CreateFileMappingW(
            INVALID_HANDLE_VALUE,
            security.attributes(),
            PAGE_READWRITE,
            hi,
            lo,
            w.as_ptr(),
        )
    };
    let code = last_error();
    let taken = || Error::AlreadyExists {
        name: name.to_string(),
    };
    let section = owned(h).ok_or_else(|| match code {
        ERROR_NOT_ENOUGH_MEMORY | ERROR_OUTOFMEMORY | ERROR_COMMITMENT_LIMIT => Error::NoSpace {
            place: "the system's commit limit (memory and page file)".into(),
            size,
        },
        // The name is an object's of another type (a mutex, an event).
        ERROR_INVALID_HANDLE => taken(),
        // A section that is there, which CreateFileMappingW asks all access of, and this
        // user may not have it: taken, as it is on Linux. Or nothing is there and making
        // it was refused (a `Global\` section outside session 0).
        ERROR_ACCESS_DENIED => match section_there(&w) {
            Some(true) => taken(),
            Some(false) if name.starts_with("Global\\") => Error::PermissionDenied {
                what: format!(
                    "creating the shared memory segment {name} (a Global section needs \
                     SeCreateGlobalPrivilege outside session 0)"
                ),
            },
            Some(false) => Error::PermissionDenied {
                what: format!("creating the shared memory segment {name}"),
            },
            None => Error::io("create the shared memory segment", name, os_error(code)),
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

/// Whether the name `w` (NUL-terminated) is taken: a section there (opened, or refused to
/// this user) or another type's object; `false` if nothing is there; `None` if that could
/// not be told.
fn section_there(w: &[u16]) -> Option<bool> {
    // SAFETY: a valid NUL-terminated name; a handle returned is closed by `owned`.
    if owned(unsafe { OpenFileMappingW(FILE_MAP_READ, 0, w.as_ptr()) }).is_some() {
        return Some(true);
    }
    match last_error() {
        ERROR_ACCESS_DENIED | ERROR_INVALID_HANDLE => Some(true),
        ERROR_FILE_NOT_FOUND => Some(false),
        _ => None,
    }
}

/// Windows removes a section with its last handle: there is no name to remove.
pub(crate) fn remove_foreign(_name: &str) -> Result<()> {
    Err(Error::Unsupported {
        what: "removing a name on Windows: the object goes away when its last handle closes",
    })
}
