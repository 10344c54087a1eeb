//! A file-backed object's header section names the file every opener opens and maps with
//! its own rights: it is writable by its owner alone, a header that others may write is
//! refused (a memory-backed 0666 section rewritten to name a file), and another user's
//! section may name only a file of that user's.

use filemap::{Access, Error, Mapping};
use windows_sys::Win32::Foundation::{CloseHandle, LocalFree};
use windows_sys::Win32::System::Memory::{
    FILE_MAP_READ, MapViewOfFile, OpenFileMappingW, UnmapViewOfFile,
};

use super::{
    READ_CONTROL, entries, hand_made_section, my_sid, opened, sddl_of, try_hand_made_section,
    unique, wide,
};

/// The size of a section's header area (its first page).
const HEADER_AREA: usize = 4096;

/// A file-backed object's header section names its file: only its owner may write it,
/// whatever the mode (the file's own permissions say who may write the data); it still
/// opens for writing.
#[test]
fn a_file_backed_header_is_its_owners_alone() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.bin");
    std::fs::write(&data, [0u8; 4096]).unwrap();
    let name = unique("filebacked");
    let m = Mapping::from_path(&data)
        .name(name.as_str())
        .permissions(0o666)
        .create()
        .unwrap();
    // SAFETY: a valid NUL-terminated name; the handle is closed by `sddl_of`.
    let sddl = sddl_of(opened(&format!("Local\\{name}"), |w| unsafe {
        OpenFileMappingW(FILE_MAP_READ | READ_CONTROL, 0, w)
    }));
    println!("0666 file-backed header: {sddl}");
    let me = filemap::namespace::info(&name).unwrap().owner_sid.unwrap();
    // Write access as asked for, or as the kernel stores it (generic rights mapped to the
    // section's own: SECTION_MAP_WRITE; and WRITE_DAC, WRITE_OWNER, GENERIC_ALL).
    const WRITE: u32 = 0x4000_0000 | 0x1000_0000 | 0x000C_0002;
    let mut others = 0;
    for (trustee, mask) in entries(&sddl) {
        if ["SY", "BA", me.as_str()].contains(&trustee.as_str()) {
            continue;
        }
        others += 1;
        let bits = mask_bits(&mask);
        assert_eq!(bits & WRITE, 0, "{trustee} may write: {sddl}");
    }
    assert!(others > 0, "the other bits still grant reading: {sddl}");
    Mapping::open(name.as_str())
        .unwrap()
        .view()
        .map()
        .unwrap()
        .write_at(0, b"owner")
        .unwrap();
    drop(m);
    assert_eq!(&std::fs::read(&data).unwrap()[..5], b"owner");
}

/// An SDDL access mask as bits: hexadecimal, or two-letter rights (`GR`, `DC`, ...); any
/// other text as every bit.
fn mask_bits(mask: &str) -> u32 {
    if let Some(hex) = mask.strip_prefix("0x") {
        return u32::from_str_radix(hex, 16).unwrap_or(u32::MAX);
    }
    let letters = [
        ("GA", 0x1000_0000),
        ("GR", 0x8000_0000),
        ("GW", 0x4000_0000),
        ("GX", 0x2000_0000),
        ("RC", 0x0002_0000),
        ("SD", 0x0001_0000),
        ("WD", 0x0004_0000),
        ("WO", 0x0008_0000),
        ("CC", 0x1),
        ("DC", 0x2),
        ("LC", 0x4),
        ("SW", 0x8),
        ("RP", 0x10),
        ("WP", 0x20),
        ("DT", 0x40),
        ("LO", 0x80),
        ("CR", 0x100),
    ];
    let mut bits = 0;
    for pair in mask.as_bytes().chunks(2) {
        match letters.iter().find(|(code, _)| code.as_bytes() == pair) {
            Some((_, bit)) => bits |= bit,
            None => return u32::MAX,
        }
    }
    bits
}

/// The header area of the section under the kernel name `name`.
fn header_of(name: &str) -> Vec<u8> {
    // SAFETY: a valid NUL-terminated name; the handle is closed below.
    let h = opened(name, |w| unsafe { OpenFileMappingW(FILE_MAP_READ, 0, w) });
    let mut header = vec![0u8; HEADER_AREA];
    // SAFETY: a read-only view of the section's first page, copied and unmapped at once;
    // the handle is closed once.
    unsafe {
        let view = MapViewOfFile(h, FILE_MAP_READ, 0, 0, HEADER_AREA);
        assert!(!view.Value.is_null());
        std::ptr::copy_nonoverlapping(view.Value.cast::<u8>(), header.as_mut_ptr(), HEADER_AREA);
        UnmapViewOfFile(view);
        CloseHandle(h);
    }
    header
}

/// A file of this user's, backing a file-backed object named `name` (0o644): the file's
/// path, the object, and its header (which names the file).
fn file_backed(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, Mapping, Vec<u8>) {
    let data = dir.join(format!("{name}.bin"));
    std::fs::write(&data, b"the file's own bytes").unwrap();
    let mapping = Mapping::from_path(&data)
        .name(name)
        .permissions(0o644)
        .create()
        .unwrap();
    let header = header_of(&format!("Local\\{name}"));
    (data, mapping, header)
}

/// A memory-backed 0666 object's header is the other users' to write (its data follows it
/// in the same section): one who rewrites it into a file-backed object's header, naming a
/// file, is not believed. Every opener would otherwise open and map that file with its own
/// rights.
#[test]
fn a_header_others_may_write_is_not_believed_when_it_names_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let (_data, _mapping, header) = file_backed(dir.path(), &unique("named-file"));
    let shared = unique("shared");
    let memory = Mapping::options()
        .permissions(0o666)
        .size(1 << 16)
        .create_new(&shared)
        .unwrap();
    // What a user with write access to the section does: rewrite its header area.
    // SAFETY: a valid NUL-terminated name; a view of the first page, written and unmapped
    // at once; the handle is closed once.
    unsafe {
        let h = opened(&format!("Local\\{shared}"), |w| {
            OpenFileMappingW(FILE_MAP_READ | 0x0002, 0, w)
        });
        let view = MapViewOfFile(h, 0x0002, 0, 0, HEADER_AREA);
        assert!(!view.Value.is_null());
        std::ptr::copy_nonoverlapping(header.as_ptr(), view.Value.cast::<u8>(), HEADER_AREA);
        UnmapViewOfFile(view);
        CloseHandle(h);
    }
    for (call, got) in [
        ("open", Mapping::open(shared.as_str()).err()),
        (
            "open_with(Read)",
            Mapping::open_with(shared.as_str(), Access::Read).err(),
        ),
        (
            "create_or_open",
            Mapping::create_or_open(shared.as_str(), 4096).err(),
        ),
    ] {
        match got {
            Some(Error::InsecurePermissions { mode, expected, .. }) => {
                println!("{call}: refused, permissions {mode:03o} against {expected:03o}");
                assert_eq!(mode & 0o002, 0o002, "{call}: others may write");
            }
            other => panic!(
                "{call} of a rewritten 0666 header: expected InsecurePermissions, got {other:?}"
            ),
        }
    }
    // `filemap info` still shows it (it opens no file).
    let info = filemap::namespace::info(&shared).unwrap();
    assert!(info.file.is_some(), "{info:?}");
    drop(memory);
}

/// A header section this user owns whose descriptor lets someone else write it (a group or
/// user entry, or no DACL at all, which lets everyone) is not believed when it names a
/// file; one private to its owner is.
#[test]
fn who_may_write_a_header_is_read_from_its_descriptor() {
    let dir = tempfile::tempdir().unwrap();
    let (_data, _mapping, header) = file_backed(dir.path(), &unique("described"));
    let me = my_sid();
    let someone = "S-1-5-21-1111111111-2222222222-3333333333-1001";
    for (sddl, expected) in [
        (
            format!("O:{me}D:P(A;;GA;;;{me})(A;;GW;;;{someone})"),
            Some(0o020),
        ),
        (format!("O:{me}D:P(A;;GA;;;{me})(A;;0x2;;;AU)"), Some(0o002)),
        (
            format!("O:{me}D:P(A;;GA;;;{me})(A;;WD;;;{someone})"),
            Some(0o020),
        ),
        (format!("O:{me}D:NO_ACCESS_CONTROL"), Some(0o002)),
        (
            format!("O:{me}D:P(A;;GA;;;{me})(A;;GR;;;AU)(A;;GA;;;SY)"),
            None,
        ),
    ] {
        let name = unique("described-copy");
        let section = hand_made_section(
            &format!("Local\\{name}"),
            HEADER_AREA as u32,
            &header,
            Some(&sddl),
        );
        // SAFETY: a valid NUL-terminated name; the handle is closed by `sddl_of`.
        let made = sddl_of(opened(&format!("Local\\{name}"), |w| unsafe {
            OpenFileMappingW(READ_CONTROL, 0, w)
        }));
        println!("asked {sddl}, made {made}");
        if sddl.ends_with("NO_ACCESS_CONTROL") && !made.ends_with("NO_ACCESS_CONTROL") {
            println!("the system made another DACL than none (Wine makes an empty one): not tried");
            // SAFETY: the handle made above, closed once.
            unsafe { CloseHandle(section) };
            continue;
        }
        match (Mapping::open_with(name.as_str(), Access::Read), expected) {
            (Err(Error::InsecurePermissions { mode, .. }), Some(bits)) => {
                assert_eq!(mode & 0o022, bits, "{sddl}: {mode:03o}")
            }
            (Ok(_), None) => {}
            (got, _) => panic!("{sddl}: expected {expected:?}, got {got:?}"),
        }
        // SAFETY: the handle made above, closed once.
        unsafe { CloseHandle(section) };
    }
}

/// Another user's file-backed object (a section whose owner is another SID, writable by
/// that owner alone) that names a file of this user's is refused: it could point this
/// process at any file it may open.
#[test]
fn another_users_object_may_name_only_its_own_file() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _mapping, header) = file_backed(dir.path(), &unique("mine"));
    let other = "S-1-5-21-1111111111-2222222222-3333333333-4444";
    let theirs = format!("Global\\{}", unique("theirs"));
    let section = match try_hand_made_section(
        &theirs,
        HEADER_AREA as u32,
        &header,
        Some(&format!("O:{other}D:P(A;;GA;;;{other})(A;;GR;;;WD)")),
    ) {
        Ok(section) => section,
        Err(e) => {
            println!("the system would not make a section owned by another SID ({e}): skipped");
            return;
        }
    };
    // SAFETY: a valid NUL-terminated name; the handle is closed by `sddl_of`.
    let sddl = sddl_of(opened(&theirs, |w| unsafe {
        OpenFileMappingW(READ_CONTROL, 0, w)
    }));
    if !sddl.starts_with(&format!("O:{other}")) {
        println!("the system did not make the section with the owner asked for ({sddl}): skipped");
        // SAFETY: the handle made above, closed once.
        unsafe { CloseHandle(section) };
        return;
    }
    let me = my_sid();
    match Mapping::open_with(theirs.as_str(), Access::Read) {
        Err(Error::PermissionDenied { what }) => {
            println!("{what}");
            assert!(
                what.contains(other) && what.contains("may name only a file of its own"),
                "{what}"
            );
            assert!(what.contains(&data.display().to_string()), "{what}");
            assert!(
                what.contains(&format!("the file {me}'s")),
                "mine ({me}): {what}"
            );
        }
        got => {
            panic!("another user's object naming my file: expected PermissionDenied, got {got:?}")
        }
    }
    // Its own file (the file given to the other SID) it may name.
    match give_file_to(&data, other) {
        Ok(()) => {
            Mapping::open_with(theirs.as_str(), Access::Read)
                .expect("another user's object naming a file of its own");
        }
        Err(e) => println!("the file could not be given to another SID ({e}): not tried"),
    }
    // SAFETY: the handle made above, closed once.
    unsafe { CloseHandle(section) };
}

/// Makes `sid` the owner of the file at `path`.
fn give_file_to(path: &std::path::Path, sid: &str) -> std::io::Result<()> {
    use windows_sys::Win32::Security::Authorization::{
        ConvertStringSidToSidW, SE_FILE_OBJECT, SetSecurityInfo,
    };
    use windows_sys::Win32::Security::{OWNER_SECURITY_INFORMATION, PSID};
    const WRITE_OWNER: u32 = 0x0008_0000;
    use std::os::windows::fs::OpenOptionsExt;
    use std::os::windows::io::AsRawHandle;
    let file = std::fs::OpenOptions::new()
        .access_mode(WRITE_OWNER)
        .open(path)?;
    let text = wide(sid);
    let mut owner: PSID = std::ptr::null_mut();
    // SAFETY: a valid NUL-terminated SID string; `owner` receives a LocalAlloc'ed SID.
    if unsafe { ConvertStringSidToSidW(text.as_ptr(), &mut owner) } == 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a handle opened with WRITE_OWNER and a valid SID, freed once after.
    let code = unsafe {
        let code = SetSecurityInfo(
            file.as_raw_handle(),
            SE_FILE_OBJECT,
            OWNER_SECURITY_INFORMATION,
            owner,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        );
        LocalFree(owner);
        code
    };
    if code != 0 {
        return Err(std::io::Error::from_raw_os_error(code as i32));
    }
    // Whether the file system kept it (Wine says yes and keeps its own).
    let file = std::fs::File::open(path)?;
    let mut descriptor: windows_sys::Win32::Security::PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    let mut kept: PSID = std::ptr::null_mut();
    // SAFETY: a handle with READ_CONTROL (a read open has it); `kept` points into
    // `descriptor`, freed once below.
    let code = unsafe {
        windows_sys::Win32::Security::Authorization::GetSecurityInfo(
            file.as_raw_handle(),
            SE_FILE_OBJECT,
            OWNER_SECURITY_INFORMATION,
            &mut kept,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut descriptor,
        )
    };
    if code != 0 {
        return Err(std::io::Error::from_raw_os_error(code as i32));
    }
    let mut text: *mut u16 = std::ptr::null_mut();
    // SAFETY: `kept` is a valid SID inside `descriptor`; `text` receives a LocalAlloc'ed
    // string, read and freed once, as is `descriptor`.
    let kept = unsafe {
        let ok =
            windows_sys::Win32::Security::Authorization::ConvertSidToStringSidW(kept, &mut text);
        let kept = if ok == 0 {
            String::new()
        } else {
            let len = (0..).take_while(|&i| *text.add(i) != 0).count();
            let kept = String::from_utf16_lossy(std::slice::from_raw_parts(text, len));
            LocalFree(text.cast());
            kept
        };
        LocalFree(descriptor);
        kept
    };
    if kept != sid {
        return Err(std::io::Error::other(format!(
            "the file system kept the owner {kept}"
        )));
    }
    Ok(())
}
