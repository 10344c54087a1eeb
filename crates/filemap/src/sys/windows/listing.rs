//! `filemap ls` on Windows: the named objects in this session's object directory
//! (`\Sessions\<n>\BaseNamedObjects`, the `Local\` names) and the global one
//! (`\BaseNamedObjects`, the `Global\` names), read with `NtOpenDirectoryObject` /
//! `NtQueryDirectoryObject`. Sections are listed when they carry filemap's header; kernel
//! mutexes, events and semaphores are listed by their type (Windows gives them no mark of
//! who made them). Objects whose names have a `/` are the companions filemap makes beside
//! an object (its lock, its wake-up events) and are left out.

use std::os::windows::io::AsHandle;

use windows_sys::Wdk::Foundation::OBJECT_ATTRIBUTES;
use windows_sys::Wdk::Storage::FileSystem::{NtOpenDirectoryObject, NtQueryDirectoryObject};
use windows_sys::Win32::Foundation::{HANDLE, UNICODE_STRING};
use windows_sys::Win32::Storage::FileSystem::READ_CONTROL;
use windows_sys::Win32::System::Memory::{FILE_MAP_READ, OpenFileMappingW};
use windows_sys::Win32::System::RemoteDesktop::ProcessIdToSessionId;
use windows_sys::Win32::System::Threading::GetCurrentProcessId;

use super::creation::has_header;
use super::entry::{native_entry, read_section_header_within};
use super::{kernel_name, owned, raw, wide};
use crate::error::Result;
use crate::name::Name;
use crate::sys::RawEntry;
use crate::vocabulary::Kind;

/// `DIRECTORY_QUERY`: list a directory object's entries.
const DIRECTORY_QUERY: u32 = 0x0001;
/// `OBJ_CASE_INSENSITIVE`.
const OBJ_CASE_INSENSITIVE: u32 = 0x40;
/// `STATUS_NO_MORE_ENTRIES`.
const STATUS_NO_MORE_ENTRIES: i32 = 0x8000_001A_u32 as i32;
/// `STATUS_BUFFER_TOO_SMALL`.
const STATUS_BUFFER_TOO_SMALL: i32 = 0xC000_0023_u32 as i32;

/// One entry of a directory object (`OBJECT_DIRECTORY_INFORMATION`).
#[repr(C)]
struct DirectoryEntry {
    name: UNICODE_STRING,
    type_name: UNICODE_STRING,
}

/// The machine's object directory, where `Global\` names live.
const GLOBAL_DIRECTORY: &str = "\\BaseNamedObjects";

/// Where `Global\` names live, for every session.
pub(crate) fn global_namespace_identity() -> String {
    GLOBAL_DIRECTORY.to_string()
}

/// This process's session (0 if the system cannot say).
pub(super) fn session_id() -> u32 {
    static SESSION: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *SESSION.get_or_init(|| {
        let mut session = 0u32;
        // SAFETY: `session` receives this process's session id.
        if unsafe { ProcessIdToSessionId(GetCurrentProcessId(), &mut session) } == 0 {
            session = 0;
        }
        session
    })
}

/// This process's session's object directory, as the listing reads it.
fn session_directory() -> String {
    format!("\\Sessions\\{}\\BaseNamedObjects", session_id())
}

/// The namespace as one string, the same for every process that sees the same `Local\`
/// names: the session's object directory (two sessions of one user have their own); in
/// session 0, where services run, the global one, whose names `Local\` names are there.
pub(crate) fn namespace_identity() -> String {
    match session_id() {
        0 => GLOBAL_DIRECTORY.to_string(),
        _ => session_directory(),
    }
}

/// The entries of this session's and the global object directory that filemap can name.
pub(crate) fn list_entries() -> Result<Vec<RawEntry>> {
    let directories = [
        (session_directory(), "Local"),
        (GLOBAL_DIRECTORY.to_string(), "Global"),
    ];
    let mut out = Vec::new();
    for (path, scope) in directories {
        // A directory this process may not list is left out, as Linux leaves out entries
        // it cannot read.
        let Some(entries) = directory_entries(&path) else {
            continue;
        };
        for (base, type_name) in entries {
            if base.contains('/') {
                continue;
            }
            let Ok(name) = Name::new(&format!("{scope}\\{base}")) else {
                continue;
            };
            let entry = match type_name.as_str() {
                "Section" => section_entry(&name),
                "Mutant" => Some(native_entry(&name, Kind::Mutex)),
                "Event" => Some(native_entry(&name, Kind::Event)),
                "Semaphore" => Some(native_entry(&name, Kind::Semaphore)),
                _ => None,
            };
            out.extend(entry);
        }
    }
    out.sort_by(|a, b| a.file_name.cmp(&b.file_name));
    Ok(out)
}

/// A section's entry if it carries filemap's header (or the start of one).
fn section_entry(name: &Name) -> Option<RawEntry> {
    let w = kernel_name(name);
    // With the right to read its descriptor if this user has it, else without.
    // SAFETY: a valid NUL-terminated name; the handles are owned by `owned`.
    let section = owned(unsafe { OpenFileMappingW(FILE_MAP_READ | READ_CONTROL, 0, w.as_ptr()) })
        .or_else(|| owned(unsafe { OpenFileMappingW(FILE_MAP_READ, 0, w.as_ptr()) }))?;
    // No wait for a header being written: a section without one is not (yet) filemap's.
    let header = read_section_header_within(section.as_handle(), name, std::time::Duration::ZERO);
    let header = match header {
        Ok(h) => Ok(h),
        // Another program's section: not filemap's to list.
        Err(_) if !has_header(section.as_handle()) => return None,
        Err(e) => Err(e.to_string()),
    };
    let security = super::security::describe(raw(section.as_handle())).ok();
    Some(RawEntry {
        file_name: name.to_string(),
        name: Some(name.clone()),
        owner: 0,
        mode: header.as_ref().map_or(0, |h| h.mode),
        native: None,
        security,
        header,
        unreadable: None,
        holders: None,
    })
}

/// The (name, type name) pairs of a directory object; `None` if it cannot be opened.
fn directory_entries(path: &str) -> Option<Vec<(String, String)>> {
    let w = wide(path);
    let mut path_string = UNICODE_STRING {
        Length: ((w.len() - 1) * 2) as u16,
        MaximumLength: (w.len() * 2) as u16,
        Buffer: w.as_ptr() as *mut u16,
    };
    let attributes = OBJECT_ATTRIBUTES {
        Length: std::mem::size_of::<OBJECT_ATTRIBUTES>() as u32,
        RootDirectory: std::ptr::null_mut(),
        ObjectName: &mut path_string,
        Attributes: OBJ_CASE_INSENSITIVE,
        SecurityDescriptor: std::ptr::null(),
        SecurityQualityOfService: std::ptr::null(),
    };
    let mut directory: HANDLE = std::ptr::null_mut();
    // SAFETY: valid attributes naming a NUL-terminated path that outlives the call;
    // `directory` receives a handle, owned below.
    let status = unsafe { NtOpenDirectoryObject(&mut directory, DIRECTORY_QUERY, &attributes) };
    if status < 0 {
        return None;
    }
    let directory = owned(directory)?;
    let mut entries = Vec::new();
    let mut context = 0u32;
    // One entry per call (Wine implements only this mode), restarting at the first. 4 KiB of
    // u64s, aligned for the entry, with room for its two strings; grown for a longer one.
    let mut buffer = vec![0u64; 512];
    let mut first = true;
    loop {
        let mut returned = 0u32;
        // SAFETY: `buffer` is writable for its length; `context` carries the position.
        let status = unsafe {
            NtQueryDirectoryObject(
                raw(directory.as_handle()),
                buffer.as_mut_ptr().cast(),
                (buffer.len() * 8) as u32,
                true,
                first,
                &mut context,
                &mut returned,
            )
        };
        if status == STATUS_BUFFER_TOO_SMALL && (returned as usize) > buffer.len() * 8 {
            // An entry with a long name: the position did not move; ask again with room.
            buffer = vec![0u64; (returned as usize).div_ceil(8)];
            continue;
        }
        if status == STATUS_NO_MORE_ENTRIES || status < 0 {
            break;
        }
        first = false;
        // SAFETY: the kernel wrote one entry at the start of the (aligned) buffer; its
        // strings point into the same buffer.
        let record = unsafe { &*buffer.as_ptr().cast::<DirectoryEntry>() };
        entries.push((text(&record.name), text(&record.type_name)));
    }
    Some(entries)
}

/// A UNICODE_STRING's text.
fn text(s: &UNICODE_STRING) -> String {
    if s.Buffer.is_null() {
        return String::new();
    }
    // SAFETY: `Length` bytes of UTF-16 at `Buffer`, inside the query's buffer.
    let units = unsafe { std::slice::from_raw_parts(s.Buffer, usize::from(s.Length) / 2) };
    String::from_utf16_lossy(units)
}
