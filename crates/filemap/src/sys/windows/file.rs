//! Windows file helpers for file-backed mappings: opening a file with a share mode (kept
//! by the handle itself), its identity, access and path, the path bytes recorded in
//! headers, and what became of the file an entry records.

use std::fs::File;
use std::io;
use std::os::windows::io::AsHandle;
use std::path::{Path, PathBuf};

use windows_sys::Win32::Storage::FileSystem::{
    BY_HANDLE_FILE_INFORMATION, FILE_NAME_NORMALIZED, FILE_TYPE_DISK, FILE_WRITE_DATA,
    GetFileInformationByHandle, GetFileType, GetFinalPathNameByHandleW,
};

use super::{last_error, os_error, raw};
use crate::error::{Error, Result};
use crate::sys::{FileLockRequest, FileRequest};
use crate::vocabulary::ShareMode;

/// Opens a file to map: read-only or read-write, with execute access if asked (a section
/// allowing execution needs it).
pub(crate) fn open_file(request: &FileRequest<'_>) -> io::Result<File> {
    let FileRequest {
        path,
        writable,
        executable,
        share,
        // Followed: another user's object is checked before (`foreign_path`); a link at
        // the end of an own object's path is refused afterwards as not its file.
        recorded: _,
        // (Linux's: see `FileRequest`.)
        foreign_owner: _,
    } = *request;
    use std::os::windows::fs::OpenOptionsExt;
    use windows_sys::Win32::Foundation::{GENERIC_EXECUTE, GENERIC_READ, GENERIC_WRITE};
    use windows_sys::Win32::Storage::FileSystem::{
        FILE_SHARE_DELETE, FILE_SHARE_READ, FILE_SHARE_WRITE,
    };
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
    use windows_sys::Win32::Foundation::ERROR_SHARING_VIOLATION;
    e.raw_os_error() == Some(ERROR_SHARING_VIOLATION as i32)
}

/// What keeps a file's share mode: on Windows the mode is a file handle's own, and the
/// handle filemap opened is the section's (`Section::from_file`); this holds the handle
/// that came with a mapping another process handed over ([`share_handoff`]).
#[derive(Debug)]
pub(crate) struct FileLock(super::OsHandle);

impl FileLock {
    /// The file handle another process handed over with its mapping, which must be a
    /// disk file's, and for a named mapping the file its header records (`recorded`: an
    /// unnamed one's file cannot be told from its section handle): a sender could hand
    /// any handle over as the file, which would be kept open, and handed on again, as one.
    /// What is wrong with it, if it is not.
    pub(crate) fn adopt(
        handle: super::OsHandle,
        _section: &super::OsHandle,
        recorded: Option<(u64, u64)>,
    ) -> std::result::Result<FileLock, &'static str> {
        // SAFETY: GetFileType on a handle this process owns; it only reads its type.
        let kind = unsafe { GetFileType(raw(handle.as_handle())) };
        if kind != FILE_TYPE_DISK {
            return Err("its share lock's handle is not a file's");
        }
        match recorded {
            Some(want) if file_handle_identity(handle.as_handle()).ok() != Some(want) => {
                Err("its share lock's handle is not on the mapping's file")
            }
            _ => Ok(FileLock(handle)),
        }
    }
}

/// What keeps a file-backed mapping's share mode (`share`, filemap's own: a file the
/// caller opened has the mode the caller gave it, which filemap does not keep), for
/// another process the mapping is handed to: a handle on the file (the mode is the file's
/// open handles'; the section alone keeps none), the section's, or the one that came with
/// a mapping handed over to this process. `None` without a share mode (the receiver then
/// keeps no handle on the file, which may be deleted and its name used again meanwhile, as
/// when only the section is held).
pub(crate) fn share_handoff(
    section: &super::Section,
    lock: Option<&FileLock>,
    share: ShareMode,
) -> Result<Option<super::OsHandle>> {
    let file = match (lock, &section.file) {
        (Some(FileLock(received)), _) => received.as_handle(),
        (None, Some(file)) if share != ShareMode::Any => file.as_handle(),
        _ => return Ok(None),
    };
    super::duplicate(file).map(Some)
}

/// Windows keeps share modes in the handle filemap opened (`open_file`); a file the
/// caller opened has the share mode the caller gave it.
pub(crate) fn lock_file(request: &FileLockRequest<'_>) -> Result<Option<FileLock>> {
    let FileLockRequest {
        share, opened_here, ..
    } = *request;
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
    file_handle_identity(file.as_handle())
}

/// [`file_identity`] of a file's handle.
pub(super) fn file_handle_identity(
    file: std::os::windows::io::BorrowedHandle<'_>,
) -> Result<(u64, u64)> {
    // SAFETY: BY_HANDLE_FILE_INFORMATION is plain data; all zeros is a valid value.
    let mut info: BY_HANDLE_FILE_INFORMATION = unsafe { std::mem::zeroed() };
    // SAFETY: the structure is filled for a valid file handle.
    if unsafe { GetFileInformationByHandle(raw(file), &mut info) } == 0 {
        return Err(Error::io("inspect", "a file", os_error(last_error())));
    }
    let index = (u64::from(info.nFileIndexHigh) << 32) | u64::from(info.nFileIndexLow);
    Ok((u64::from(info.dwVolumeSerialNumber), index))
}

/// Makes `file` at least `size` bytes long: `Ok(false)`, the caller sets the length
/// itself (Windows has no call that only extends a file).
pub(crate) fn extend_file(_file: &File, _size: u64) -> io::Result<bool> {
    Ok(false)
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
        return Some(PathBuf::from(plain_path(&String::from_utf16_lossy(
            &buf[..n],
        ))));
    }
}

/// A `\\?\` path as the plain path it names: `\\?\C:\dir\f` as `C:\dir\f`, and a network
/// path, `\\?\UNC\server\share\f`, as `\\server\share\f` (without the `UNC`, it read as a
/// relative path).
fn plain_path(verbatim: &str) -> String {
    match verbatim.strip_prefix("\\\\?\\") {
        Some(rest) => match rest.strip_prefix("UNC\\") {
            Some(network) => format!("\\\\{network}"),
            None => rest.to_string(),
        },
        None => verbatim.to_string(),
    }
}

pub(crate) fn path_to_bytes(path: &Path) -> Vec<u8> {
    path.to_string_lossy().into_owned().into_bytes()
}

/// Why `file` cannot be mapped, if that is known before trying: a directory (Windows has
/// no pseudo file systems of made-on-read files to refuse).
pub(crate) fn unmappable(file: &File) -> Option<&'static str> {
    file.metadata()
        .is_ok_and(|m| m.is_dir())
        .then_some("it is a directory")
}

/// What is wrong with the file a file-backed entry records: `None` if it is still there,
/// the same file, long enough for `size` bytes.
///
/// (`owner` is Linux's uid, 0 here: any user's section is looked at, on a local drive
/// only.)
pub(crate) fn backing_file_problem(
    record: &crate::header::FileRecord,
    size: u64,
    _owner: u32,
) -> Option<crate::BackingFileProblem> {
    use crate::BackingFileProblem as P;
    let path = path_from_bytes(&record.path);
    if !is_local_drive_path(&path) {
        // Not looked at: any user's section may name any path, and opening one on another
        // machine (or a pipe) would reach out to it with this user's credentials.
        return None;
    }
    // Only its attributes, shared with everyone, and a link at its end not followed (it is
    // then not the file recorded).
    use std::os::windows::fs::OpenOptionsExt;
    use windows_sys::Win32::Storage::FileSystem::{
        FILE_FLAG_OPEN_REPARSE_POINT, FILE_READ_ATTRIBUTES, FILE_SHARE_DELETE, FILE_SHARE_READ,
        FILE_SHARE_WRITE,
    };
    let file = match File::options()
        .access_mode(FILE_READ_ATTRIBUTES)
        .share_mode(FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE)
        .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
        .open(path)
    {
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

/// Whether `path` names a file on a drive of this machine (`C:\…`, the form filemap
/// records, or `\\?\C:\…`, on a drive the system does not call remote): not a share on
/// another machine (`\\server\…`, `\\?\UNC\…`, a mapped network drive) or a device
/// (`\\.\pipe\…`, or `C:\dir\COM1`, which the system reads as the serial port whatever
/// the directory), which opening would reach out to with this user's credentials, or touch.
pub(crate) fn is_local_drive_path(path: &Path) -> bool {
    use windows_sys::Win32::Storage::FileSystem::GetDriveTypeW;
    /// `GetDriveTypeW`'s answer for a network drive.
    const DRIVE_REMOTE: u32 = 4;
    let text = path.as_os_str().to_string_lossy();
    let (text, verbatim) = match text.strip_prefix(r"\\?\") {
        Some(rest) => (rest, true),
        None => (&*text, false),
    };
    let bytes = text.as_bytes();
    let drive_path = bytes.len() >= 3
        && bytes[0].is_ascii_alphabetic()
        && bytes[1] == b':'
        && (bytes[2] == b'\\' || bytes[2] == b'/');
    // A verbatim path goes to the file system as it is; a plain one is read the Win32 way
    // first, which turns a device's name in any directory into the device.
    if !drive_path || (!verbatim && text.split(['\\', '/']).any(names_a_dos_device)) {
        return false;
    }
    let root = [u16::from(bytes[0]), u16::from(b':'), u16::from(b'\\'), 0];
    // SAFETY: a valid NUL-terminated root path.
    unsafe { GetDriveTypeW(root.as_ptr()) != DRIVE_REMOTE }
}

/// Whether a component of a plain path names one of the devices Win32 finds in every
/// directory: `CON`, `PRN`, `AUX`, `NUL`, `COM0`-`COM9`, `LPT0`-`LPT9` (and their
/// superscript-digit forms), `CONIN$`, `CONOUT$`, in any case, with any extension or stream
/// after it and trailing spaces or dots ignored, as the system reads them.
fn names_a_dos_device(component: &str) -> bool {
    let stem = component
        .split(['.', ':'])
        .next()
        .unwrap_or_default()
        .trim_end_matches([' ', '.'])
        .to_ascii_uppercase();
    match stem.as_str() {
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$" => true,
        _ => ["COM", "LPT"].iter().any(|port| {
            stem.strip_prefix(port).is_some_and(|digit| {
                let mut chars = digit.chars();
                matches!(
                    (chars.next(), chars.next()),
                    (Some('0'..='9' | '\u{b9}' | '\u{b2}' | '\u{b3}'), None)
                )
            })
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::{is_local_drive_path, names_a_dos_device, plain_path};

    #[test]
    fn verbatim_paths_become_plain_ones() {
        assert_eq!(plain_path(r"\\?\C:\dir\f"), r"C:\dir\f");
        assert_eq!(plain_path(r"\\?\UNC\server\share\f"), r"\\server\share\f");
        assert_eq!(plain_path(r"C:\dir\f"), r"C:\dir\f");
    }

    #[test]
    fn only_paths_on_this_machines_drives_are_local() {
        for local in [r"\\?\C:\dir\f", r"C:\dir\f", "C:/dir/f"] {
            assert!(is_local_drive_path(local.as_ref()), "{local}");
        }
        for elsewhere in [
            r"\\server\share\f",
            r"\\?\UNC\server\share\f",
            r"\\.\pipe\p",
            r"\\?\GLOBALROOT\Device\f",
            r"C:dir\f",
            r"dir\f",
            "",
            r"C:\dir\COM1",
            r"C:\dir\nul.txt",
            r"C:\CON\f",
            r"C:/dir/aux .log",
            "C:\\dir\\lpt\u{b9}",
        ] {
            assert!(!is_local_drive_path(elsewhere.as_ref()), "{elsewhere}");
        }
    }

    #[test]
    fn device_names_are_told_from_file_names() {
        for device in [
            "CON", "con", "Nul.txt", "COM9", "lpt0.x.y", "CONOUT$", "aux ", "prn:s",
        ] {
            assert!(names_a_dos_device(device), "{device}");
        }
        for file in ["CONSOLE", "COM10", "COM", "nul_", "xCON", "LPTx", "", "."] {
            assert!(!names_a_dos_device(file), "{file}");
        }
    }
}
