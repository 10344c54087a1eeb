//! Windows: the security descriptor of every kind of object filemap creates matches the
//! permissions asked for (owner, SYSTEM, Administrators, and the group and other entries
//! the mode bits call for), and an object made by another owner (a descriptor naming
//! another SID) is refused by create calls with `Error::ForeignOwner` (and by every opener
//! under a `Local\` name); a section whose
//! creator died before writing its header is finished by the next create call.
#![cfg(windows)]

mod file_backed;

use std::time::{SystemTime, UNIX_EPOCH};

use filemap::channel::Sender;
use filemap::sync::{EventReset, NamedEvent, NamedMutex, NamedSemaphore, ObjectOptions};
use filemap::{Error, Mapping};
use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, INVALID_HANDLE_VALUE, LocalFree};
use windows_sys::Win32::Security::Authorization::{
    ConvertSecurityDescriptorToStringSecurityDescriptorW,
    ConvertStringSecurityDescriptorToSecurityDescriptorW, GetSecurityInfo, SDDL_REVISION_1,
    SE_KERNEL_OBJECT, SetSecurityInfo,
};
use windows_sys::Win32::Security::{
    ACL, DACL_SECURITY_INFORMATION, GetSecurityDescriptorDacl, OWNER_SECURITY_INFORMATION,
    PROTECTED_DACL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, SECURITY_ATTRIBUTES,
};
use windows_sys::Win32::System::Memory::{
    CreateFileMappingW, FILE_MAP_READ, FILE_MAP_WRITE, MapViewOfFile, OpenFileMappingW,
    PAGE_READWRITE, UnmapViewOfFile,
};
use windows_sys::Win32::System::Threading::{
    CreateEventW, CreateMutexExW, CreateMutexW, CreateSemaphoreW, OpenEventW, OpenMutexW,
    OpenSemaphoreW,
};

const READ_CONTROL: u32 = 0x0002_0000;
const WRITE_DAC: u32 = 0x0004_0000;

fn unique(what: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("sec-{what}-{}-{nanos}", std::process::id())
}

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(Some(0)).collect()
}

/// A self-relative security descriptor made from SDDL, freed when dropped.
struct Descriptor(PSECURITY_DESCRIPTOR);

impl Descriptor {
    fn from_sddl(sddl: &str) -> Descriptor {
        let text = wide(sddl);
        let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        // SAFETY: a valid NUL-terminated SDDL string; the descriptor is freed in `drop`.
        let ok = unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                text.as_ptr(),
                SDDL_REVISION_1,
                &mut descriptor,
                std::ptr::null_mut(),
            )
        };
        assert_ne!(ok, 0, "the SDDL {sddl}");
        Descriptor(descriptor)
    }

    /// Security attributes with this descriptor (valid while it lives).
    fn attributes(&self) -> SECURITY_ATTRIBUTES {
        SECURITY_ATTRIBUTES {
            nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
            lpSecurityDescriptor: self.0,
            bInheritHandle: 0,
        }
    }
}

impl Drop for Descriptor {
    fn drop(&mut self) {
        // SAFETY: from ConvertStringSecurityDescriptorToSecurityDescriptorW, freed once.
        unsafe { LocalFree(self.0) };
    }
}

/// A kernel name's object, opened with `open` for reading its security.
fn opened(name: &str, open: impl FnOnce(*const u16) -> HANDLE) -> HANDLE {
    let w = wide(name);
    let h = open(w.as_ptr());
    assert!(!h.is_null(), "opening {name} to read its security");
    h
}

/// The object's owner and descriptor, as SDDL.
fn sddl_of(handle: HANDLE) -> String {
    let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    let info = OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION;
    // SAFETY: a valid handle opened with READ_CONTROL; the descriptor is freed below.
    let code = unsafe {
        GetSecurityInfo(
            handle,
            SE_KERNEL_OBJECT,
            info,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut descriptor,
        )
    };
    assert_eq!(code, 0, "GetSecurityInfo");
    let mut text: *mut u16 = std::ptr::null_mut();
    // SAFETY: the descriptor just read; `text` receives a LocalAlloc'ed string.
    let ok = unsafe {
        ConvertSecurityDescriptorToStringSecurityDescriptorW(
            descriptor,
            SDDL_REVISION_1,
            info,
            &mut text,
            std::ptr::null_mut(),
        )
    };
    assert_ne!(
        ok, 0,
        "ConvertSecurityDescriptorToStringSecurityDescriptorW"
    );
    let mut len = 0;
    // SAFETY: a NUL-terminated string.
    while unsafe { *text.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: `len` u16s at `text`; both allocations freed once.
    let s = String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(text, len) });
    unsafe {
        LocalFree(text.cast());
        LocalFree(descriptor);
        CloseHandle(handle);
    }
    s
}

/// The owner SID and the trustees of the access-allowed entries of an SDDL string.
fn owner_and_trustees(sddl: &str) -> (String, Vec<String>) {
    let owner = sddl
        .strip_prefix("O:")
        .and_then(|rest| rest.split("D:").next())
        .unwrap_or_default()
        .to_string();
    let mut trustees: Vec<String> = sddl
        .split('(')
        .skip(1)
        .filter(|ace| ace.starts_with("A;"))
        .filter_map(|ace| {
            ace.trim_end_matches(')')
                .rsplit(';')
                .next()
                .map(String::from)
        })
        .collect();
    trustees.sort();
    (owner, trustees)
}

/// The (trustee, access mask) of each access-allowed entry of an SDDL string.
fn entries(sddl: &str) -> Vec<(String, String)> {
    sddl.split('(')
        .skip(1)
        .filter(|ace| ace.starts_with("A;"))
        .filter_map(|ace| {
            let fields: Vec<&str> = ace.trim_end_matches(')').split(';').collect();
            Some((fields.get(5)?.to_string(), fields.get(2)?.to_string()))
        })
        .collect()
}

/// Every kind's descriptor, for a mode.
fn descriptors(mode: u32) -> Vec<(&'static str, String)> {
    let options = ObjectOptions::new().permissions(mode);
    let m = unique("mapping");
    let _mapping = Mapping::options()
        .permissions(mode)
        .size(4096)
        .create_new(&m)
        .unwrap();
    let x = unique("mutex");
    let _mutex = NamedMutex::create_new_with(&x, &options).unwrap();
    let e = unique("event");
    let _event = NamedEvent::create_new_with(&e, EventReset::Auto, false, &options).unwrap();
    let s = unique("semaphore");
    let _semaphore = NamedSemaphore::create_new_with(&s, 0, 1, &options).unwrap();
    let c = unique("channel");
    let _sender = Sender::create_or_open_with(&c, 4096, &options).unwrap();
    // SAFETY (each open): valid NUL-terminated names; the handles are closed by `sddl_of`.
    vec![
        (
            "mapping",
            sddl_of(opened(&format!("Local\\{m}"), |w| unsafe {
                OpenFileMappingW(FILE_MAP_READ | READ_CONTROL, 0, w)
            })),
        ),
        (
            "mapping's creation lock",
            sddl_of(opened(&format!("Local\\{m}/create"), |w| unsafe {
                OpenMutexW(READ_CONTROL, 0, w)
            })),
        ),
        (
            "mutex",
            sddl_of(opened(&format!("Local\\{x}"), |w| unsafe {
                OpenMutexW(READ_CONTROL, 0, w)
            })),
        ),
        (
            "event",
            sddl_of(opened(&format!("Local\\{e}"), |w| unsafe {
                OpenEventW(READ_CONTROL, 0, w)
            })),
        ),
        (
            "semaphore",
            sddl_of(opened(&format!("Local\\{s}"), |w| unsafe {
                OpenSemaphoreW(READ_CONTROL, 0, w)
            })),
        ),
        (
            "channel",
            sddl_of(opened(&format!("Local\\{c}"), |w| unsafe {
                OpenFileMappingW(FILE_MAP_READ | READ_CONTROL, 0, w)
            })),
        ),
        (
            "channel's wake-up event",
            sddl_of(opened(&format!("Local\\{c}/rx"), |w| unsafe {
                OpenEventW(READ_CONTROL, 0, w)
            })),
        ),
        (
            "channel's endpoint event",
            sddl_of(opened(&format!("Local\\{c}/sender"), |w| unsafe {
                OpenEventW(READ_CONTROL, 0, w)
            })),
        ),
    ]
}

#[test]
fn descriptors_follow_the_permissions() {
    // This process's own SID: the owner of what it makes with the default mode.
    let m = unique("me");
    let _mapping = Mapping::create_new(&m, 4096).unwrap();
    let me = filemap::namespace::info(&m)
        .unwrap()
        .owner_sid
        .expect("the owner's SID");
    assert!(me.starts_with("S-1-"), "{me}");
    for (mode, extra) in [
        (0o600, vec![]),
        (0o640, vec!["group"]),
        (0o644, vec!["group", "AU"]),
    ] {
        for (kind, sddl) in descriptors(mode) {
            println!("{mode:03o} {kind}: {sddl}");
            let (owner, trustees) = owner_and_trustees(&sddl);
            assert_eq!(owner, me, "{mode:03o} {kind}: owner");
            assert!(
                sddl.contains("D:P"),
                "{mode:03o} {kind}: protected DACL: {sddl}"
            );
            for required in ["SY", "BA", me.as_str()] {
                assert!(
                    trustees.iter().any(|t| t == required),
                    "{mode:03o} {kind}: {required} in {sddl}"
                );
            }
            let others: Vec<&String> = trustees
                .iter()
                .filter(|t| !["SY", "BA", me.as_str()].contains(&t.as_str()))
                .collect();
            // An endpoint's event: its user's alone (its existence is the endpoint's
            // liveness, which no other user may prolong by holding it open).
            let extra = if kind == "channel's endpoint event" {
                &vec![]
            } else {
                &extra
            };
            let expect_au = extra.contains(&"AU");
            assert_eq!(
                others.iter().any(|t| *t == "AU"),
                expect_au,
                "{mode:03o} {kind}: {sddl}"
            );
            // The group entry (the primary group, unless it is the user itself).
            let groups = others.iter().filter(|t| **t != "AU").count();
            assert!(
                groups <= usize::from(extra.contains(&"group")),
                "{mode:03o} {kind}: {sddl}"
            );
            // Read alone never grants a wait on a waitable object (which would take a
            // mutex, a unit, a signal, or hold an endpoint): its descriptor and state only
            // (CC is the query right, RC READ_CONTROL; SYNCHRONIZE has no letters).
            if kind != "mapping" && kind != "channel" {
                for (trustee, mask) in entries(&sddl) {
                    if !["SY", "BA", me.as_str()].contains(&trustee.as_str()) {
                        assert!(
                            mask == "CCRC" || mask == "0x20001",
                            "{mode:03o} {kind}: {trustee} may wait: {sddl}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn a_foreign_segment_is_its_creators_alone() {
    // Like Linux's 0600 file: its user (with SYSTEM and Administrators), no one else (it
    // had the token's default descriptor).
    let name = unique("foreign");
    let _segment = Mapping::create_foreign(&name, 4096).unwrap();
    let m = unique("me-too");
    let _mapping = Mapping::create_new(&m, 4096).unwrap();
    let me = filemap::namespace::info(&m).unwrap().owner_sid.unwrap();
    // SAFETY: a valid NUL-terminated name; the handle is closed by `sddl_of`.
    let sddl = sddl_of(opened(&name, |w| unsafe {
        OpenFileMappingW(FILE_MAP_READ | READ_CONTROL, 0, w)
    }));
    println!("foreign segment: {sddl}");
    let (owner, mut trustees) = owner_and_trustees(&sddl);
    assert_eq!(owner, me, "{sddl}");
    assert!(sddl.contains("D:P"), "protected DACL: {sddl}");
    trustees.sort();
    trustees.dedup();
    let mut expected = vec!["BA".to_string(), "SY".to_string(), me];
    expected.sort();
    assert_eq!(trustees, expected, "{sddl}");
}

#[test]
fn a_global_object_with_a_foreign_owner_is_refused() {
    let name = format!("Global\\{}", unique("squat"));
    // Another user's object: a descriptor naming another SID as its owner.
    let descriptor =
        Descriptor::from_sddl("O:S-1-5-21-1111111111-2222222222-3333333333-4444D:(A;;GA;;;WD)");
    let attributes = descriptor.attributes();
    let w = wide(&name);
    // SAFETY: valid attributes and name; the handle is closed below.
    let squatter = unsafe { CreateMutexW(&attributes, 0, w.as_ptr()) };
    // A section too, under a second name.
    let section_name = format!("Global\\{}", unique("squat-section"));
    let ws = wide(&section_name);
    // SAFETY: valid attributes and name; a pagefile-backed section, closed below.
    let section = unsafe {
        CreateFileMappingW(
            INVALID_HANDLE_VALUE,
            &attributes,
            PAGE_READWRITE,
            0,
            65536,
            ws.as_ptr(),
        )
    };
    drop(descriptor);
    if squatter.is_null() {
        // Windows itself refuses an owner that is not the caller (ERROR_INVALID_OWNER)
        // without the restore privilege.
        println!(
            "the system refused to make an object owned by another SID ({}): the squatter \
             cannot be made here; the owner check is covered by the unit test of its logic",
            std::io::Error::last_os_error()
        );
        return;
    }
    let owner = owner_and_trustees(&sddl_of(opened(&name, |w| unsafe {
        OpenMutexW(READ_CONTROL, 0, w)
    })))
    .0;
    if owner != "S-1-5-21-1111111111-2222222222-3333333333-4444" {
        println!("the system made the object but not with the owner asked for ({owner}): skipped");
        unsafe { CloseHandle(squatter) };
        return;
    }
    match NamedMutex::create_or_open(&name) {
        Err(e @ Error::ForeignOwner { .. }) => {
            assert!(
                e.to_string()
                    .contains("S-1-5-21-1111111111-2222222222-3333333333-4444"),
                "{e}"
            )
        }
        other => panic!("expected ForeignOwner, got {other:?}"),
    }
    // `open` of another user's Global object is allowed, as far as its permissions say.
    NamedMutex::open(&name).unwrap();
    assert!(!section.is_null());
    match Mapping::create_or_open(&section_name, 4096) {
        Err(Error::ForeignOwner { .. }) => {}
        other => panic!("a squatted section: expected ForeignOwner, got {other:?}"),
    }
    unsafe {
        CloseHandle(squatter);
        CloseHandle(section);
    }
}

/// This process's user SID, as the owner of an object it made.
fn my_sid() -> String {
    let m = unique("me");
    let _mapping = Mapping::create_new(&m, 4096).unwrap();
    filemap::namespace::info(&m)
        .unwrap()
        .owner_sid
        .expect("the owner's SID")
}

/// A section of `size` bytes made by hand under the kernel name `name` with the
/// descriptor `sddl` (`None`: no security attributes), starting with the bytes `first`
/// (what a creator killed before writing the header leaves, or a header copied from
/// another section), held open by the returned handle.
fn hand_made_section(name: &str, size: u32, first: &[u8], sddl: Option<&str>) -> HANDLE {
    try_hand_made_section(name, size, first, sddl)
        .unwrap_or_else(|e| panic!("making the section {name} by hand: {e}"))
}

/// [`hand_made_section`], or why the system would not make it (a descriptor naming another
/// owner needs the restore privilege on Windows; a `Global\` section outside session 0,
/// SeCreateGlobalPrivilege).
fn try_hand_made_section(
    name: &str,
    size: u32,
    first: &[u8],
    sddl: Option<&str>,
) -> std::io::Result<HANDLE> {
    let w = wide(name);
    let descriptor = sddl.map(Descriptor::from_sddl);
    let attributes = descriptor.as_ref().map(Descriptor::attributes);
    let sa: *const SECURITY_ATTRIBUTES = attributes
        .as_ref()
        .map_or(std::ptr::null(), |a| a as *const SECURITY_ATTRIBUTES);
    // SAFETY: a valid name and attributes; a pagefile-backed section, closed by the caller.
    let h = unsafe {
        CreateFileMappingW(
            INVALID_HANDLE_VALUE,
            sa,
            PAGE_READWRITE,
            0,
            size,
            w.as_ptr(),
        )
    };
    let made = std::io::Error::last_os_error();
    drop(descriptor);
    if h.is_null() {
        return Err(made);
    }
    // SAFETY: a view of the section just made, written and unmapped at once.
    unsafe {
        let view = MapViewOfFile(h, FILE_MAP_WRITE, 0, 0, first.len());
        assert!(!view.Value.is_null());
        std::ptr::copy_nonoverlapping(first.as_ptr(), view.Value.cast::<u8>(), first.len());
        UnmapViewOfFile(view);
    }
    Ok(h)
}

/// A user who may only read a section cannot take its creation lock (so cannot hold the
/// name's create calls up): its create calls open what is there. Played by this user, on
/// a lock whose descriptor denies it the wait.
#[test]
fn a_create_call_that_may_not_take_the_creation_lock_opens() {
    let name = unique("reader-create");
    let made = Mapping::create_new(&name, 4096).unwrap();
    made.view()
        .map()
        .unwrap()
        .write_at(0, b"the maker's")
        .unwrap();
    let me = my_sid();
    let lock = wide(&format!("Local\\{name}/create"));
    // SAFETY: a valid name; the handle is closed below.
    let h = unsafe { OpenMutexW(WRITE_DAC, 0, lock.as_ptr()) };
    assert!(!h.is_null(), "the owner may change the lock's descriptor");
    set_dacl(h, &format!("D:P(D;;0x100000;;;WD)(A;;0x20001;;;{me})"));
    unsafe { CloseHandle(h) };
    // Whether this system refuses the owner the wait the descriptor denies (an entry that
    // denies it to everyone: Wine, whose one user is an administrator, lets it through an
    // allow entry that merely does not grant it).
    // SAFETY: a valid name; the handle (if any) is closed at once.
    let taken = unsafe { CreateMutexExW(std::ptr::null(), lock.as_ptr(), 0, 0x0010_0001) };
    if !taken.is_null() {
        unsafe { CloseHandle(taken) };
        println!(
            "this system let the owner take a lock whose descriptor refuses it the wait: \
             the reader's create path is not exercised here"
        );
        return;
    }
    let (opened, disposition) = Mapping::create_or_open(&name, 4096).unwrap();
    assert_eq!(disposition, filemap::Disposition::Opened);
    assert_eq!(
        opened
            .view()
            .len(11)
            .map()
            .unwrap()
            .read_vec(0, 11)
            .unwrap(),
        b"the maker's"
    );
    assert!(matches!(
        Mapping::create_new(&name, 4096),
        Err(Error::AlreadyExists { .. })
    ));
}

/// Gives the object behind `handle` (opened with WRITE_DAC) the DACL of `sddl`.
fn set_dacl(handle: HANDLE, sddl: &str) {
    let descriptor = Descriptor::from_sddl(sddl);
    let (mut present, mut defaulted) = (0, 0);
    let mut dacl: *mut ACL = std::ptr::null_mut();
    // SAFETY: a valid descriptor; `dacl` points into it, used before it is freed.
    unsafe {
        assert_ne!(
            GetSecurityDescriptorDacl(descriptor.0, &mut present, &mut dacl, &mut defaulted),
            0
        );
        let code = SetSecurityInfo(
            handle,
            SE_KERNEL_OBJECT,
            DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            dacl,
            std::ptr::null(),
        );
        assert_eq!(code, 0, "SetSecurityInfo");
    }
}

#[test]
fn a_half_made_section_is_finished_by_the_next_create() {
    // What filemap's creators make: owned by this user, private to it.
    let me = my_sid();
    let mine = format!("O:{me}D:P(A;;GA;;;{me})");
    // Marked incomplete by a creator that died before writing the header.
    let name = unique("half-made");
    let left = hand_made_section(&format!("Local\\{name}"), 1 << 20, b"FMAPINIT", Some(&mine));
    // `open` cannot know what it was meant to be: refused, not hung.
    match Mapping::open(&name) {
        Err(e @ Error::Corrupt { .. }) => assert!(e.to_string().contains("never written"), "{e}"),
        other => panic!("open of a half-made section: expected Corrupt, got {other:?}"),
    }
    // The next create finishes it as the object it makes, with its permissions.
    let (m, disposition) = Mapping::create_or_open(&name, 4096).unwrap();
    assert_eq!(disposition, filemap::Disposition::Created);
    let view = m.view().map().unwrap();
    view.write_at(0, b"finished").unwrap();
    let again = Mapping::open(&name).unwrap();
    assert_eq!(
        again.view().len(8).map().unwrap().read_vec(0, 8).unwrap(),
        b"finished"
    );
    // Its access entries are now the ones asked for (0o600), not the dead creator's.
    let sddl = filemap::namespace::info(&name).unwrap().security.unwrap();
    assert!(
        sddl.contains(&format!("(A;;0xc0100000;;;{me})(A;;GA;;;SY)(A;;GA;;;BA)"))
            && !sddl.contains(&format!("(A;;GA;;;{me})")),
        "{sddl}"
    );

    // All zeros, its creator killed before marking it: the creation lock it held is
    // abandoned (a thread that ends holding a mutex abandons it).
    let zeros = unique("half-made-zeros");
    let left_zeros = hand_made_section(&format!("Local\\{zeros}"), 1 << 20, &[0; 8], Some(&mine));
    let lock = format!("Local\\{zeros}/create");
    std::thread::spawn(move || {
        let w = wide(&lock);
        // SAFETY: a valid name; the thread ends holding the mutex (its handle is leaked on
        // purpose, so the mutex lives on, abandoned).
        let h = unsafe { CreateMutexW(std::ptr::null(), 1, w.as_ptr()) };
        assert!(!h.is_null());
    })
    .join()
    .unwrap();
    assert_eq!(
        Mapping::create_or_open(&zeros, 4096).unwrap().1,
        filemap::Disposition::Created
    );

    // Another program's section (no mark, no abandoned lock) is never written over.
    let foreign = unique("foreign-zeros");
    let left_foreign = hand_made_section(&format!("Local\\{foreign}"), 1 << 16, b"notours\0", None);
    match Mapping::create_or_open(&foreign, 4096) {
        Err(Error::Corrupt { .. }) => {}
        other => panic!("a foreign section: expected Corrupt, got {other:?}"),
    }
    // SAFETY: a view of the foreign section, unmapped at once.
    unsafe {
        let view = MapViewOfFile(left_foreign, FILE_MAP_READ, 0, 0, 8);
        assert_eq!(
            std::slice::from_raw_parts(view.Value.cast::<u8>(), 8),
            b"notours\0"
        );
        UnmapViewOfFile(view);
    }

    // Too small to finish as a larger object: a clear error.
    let small = unique("half-made-small");
    let left_small = hand_made_section(&format!("Local\\{small}"), 4096, b"FMAPINIT", Some(&mine));
    // Marked, but another user's: not finished.
    let theirs = unique("half-made-theirs");
    let other = "S-1-5-21-1111111111-2222222222-3333333333-4444";
    let left_theirs = hand_made_section(
        &format!("Local\\{theirs}"),
        1 << 20,
        b"FMAPINIT",
        Some(&format!("O:{other}D:(A;;GA;;;WD)")),
    );
    match Mapping::create_or_open(&theirs, 4096) {
        Err(Error::ForeignOwner { owner, .. }) => assert_eq!(owner, other),
        other => panic!("another user's half-made section: expected ForeignOwner, got {other:?}"),
    }
    match Mapping::create_or_open(&small, 1 << 20) {
        Err(e @ Error::Corrupt { .. }) => assert!(e.to_string().contains("too small"), "{e}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    unsafe {
        CloseHandle(left);
        CloseHandle(left_zeros);
        CloseHandle(left_foreign);
        CloseHandle(left_small);
        CloseHandle(left_theirs);
    }
}

#[test]
fn objects_another_user_made_open_with_the_access_their_permissions_grant() {
    // Another user's Global objects whose permissions let everyone read and write (0o666):
    // an open finds them and opens them with the access it needs, not all access; a create
    // call refuses them (a squat). The same objects under Local names are refused by every
    // opener, as on Linux (Local is the session's namespace, not the user's).
    let other = "S-1-5-21-1111111111-2222222222-3333333333-4444";
    let descriptor = Descriptor::from_sddl(&format!("O:{other}D:(A;;0xc0100000;;;WD)"));
    let attributes = descriptor.attributes();
    let (m, e, s) = (
        unique("theirs-mutex"),
        unique("theirs-event"),
        unique("theirs-sem"),
    );
    for scope in ["Global", "Local"] {
        let (wm, we, ws) = (
            wide(&format!("{scope}\\{m}")),
            wide(&format!("{scope}\\{e}")),
            wide(&format!("{scope}\\{s}")),
        );
        // SAFETY: valid attributes and names; the handles are closed below.
        let handles = unsafe {
            [
                CreateMutexW(&attributes, 0, wm.as_ptr()),
                CreateEventW(&attributes, 0, 0, we.as_ptr()),
                CreateSemaphoreW(&attributes, 0, 4, ws.as_ptr()),
            ]
        };
        assert!(handles.iter().all(|h| !h.is_null()));
        let (m, e, s) = (
            format!("{scope}\\{m}"),
            format!("{scope}\\{e}"),
            format!("{scope}\\{s}"),
        );
        if scope == "Global" {
            let mutex = NamedMutex::open(m.as_str()).unwrap();
            drop(mutex.lock().unwrap());
            let event = NamedEvent::open(e.as_str()).unwrap();
            event.set().unwrap();
            let semaphore = NamedSemaphore::open(s.as_str()).unwrap();
            semaphore.release(1).unwrap();
            assert!(matches!(
                NamedMutex::create_or_open(m.as_str()),
                Err(Error::ForeignOwner { .. })
            ));
        } else {
            for (what, got) in [
                ("mutex open", NamedMutex::open(m.as_str()).err()),
                ("mutex create", NamedMutex::create_or_open(m.as_str()).err()),
                ("event open", NamedEvent::open(e.as_str()).err()),
                (
                    "semaphore create",
                    NamedSemaphore::create_or_open(s.as_str(), 0, 4).err(),
                ),
            ] {
                assert!(
                    matches!(got, Some(Error::ForeignOwner { .. })),
                    "{what} of another user's Local object: {got:?}"
                );
            }
        }
        for h in handles {
            // SAFETY: handles made above, closed once.
            unsafe { CloseHandle(h) };
        }
    }
    drop(descriptor);
}

/// A native program's mutex and event with the least permissions Win32 programs give
/// them (a wait for the mutex; a wait, set and reset for the event) open, as Win32's own
/// `OpenMutex` and `OpenEvent` with those rights do: the opens asked for more (a reserved
/// mutex right, and the event's query right) and were refused (`PermissionDenied`).
#[test]
fn native_objects_with_the_least_permissions_open() {
    let other = "S-1-5-21-1111111111-2222222222-3333333333-4444";
    // SYNCHRONIZE; SYNCHRONIZE | EVENT_MODIFY_STATE.
    let mutex_descriptor = Descriptor::from_sddl(&format!("O:{other}D:(A;;0x00100000;;;WD)"));
    let event_descriptor = Descriptor::from_sddl(&format!("O:{other}D:(A;;0x00100002;;;WD)"));
    let (m, e) = (
        format!("Global\\{}", unique("least-mutex")),
        format!("Global\\{}", unique("least-event")),
    );
    let (wm, we) = (wide(&m), wide(&e));
    // SAFETY: valid attributes and names; the handles are closed below.
    let handles = unsafe {
        [
            CreateMutexW(&mutex_descriptor.attributes(), 0, wm.as_ptr()),
            CreateEventW(&event_descriptor.attributes(), 0, 0, we.as_ptr()),
        ]
    };
    assert!(handles.iter().all(|h| !h.is_null()));
    let mutex = NamedMutex::open(m.as_str()).expect("the mutex opens");
    drop(mutex.lock().expect("and is taken"));
    let event = NamedEvent::open(e.as_str()).expect("the event opens");
    event.set().unwrap();
    event.wait_timeout(std::time::Duration::ZERO).expect("set");
    event.reset().unwrap();
    // (Its reset mode is not known without the query right.)
    println!(
        "    reset mode without the query right: {:?}",
        event.reset_mode()
    );
    for h in handles {
        // SAFETY: handles made above, closed once.
        unsafe { CloseHandle(h) };
    }
}

/// Another user's `Global\` channel whose permissions let everyone use it (0o666) opens,
/// as it does on Linux and as another user's `Global\` mutex does: its wake-up events,
/// which its creator made, are let be as its section is (they were refused as a squat:
/// `ForeignOwner`). Played by a section and events made by hand with another SID as their
/// owner, the section holding a copy of a channel's bytes.
#[test]
fn another_users_global_channel_opens() {
    let other = "S-1-5-21-1111111111-2222222222-3333333333-4444";
    let mine = format!("Global\\{}", unique("my-channel"));
    let options = ObjectOptions::new().permissions(0o666);
    let sender = Sender::create_or_open_with(&mine, 4096, &options).unwrap();
    // The channel's bytes: its whole section (the header, its data area at 64 KiB: the
    // ring's control page and its 4096 bytes).
    const SIZE: usize = 65536 + 2 * 4096;
    let mut bytes = vec![0u8; SIZE];
    let wmine = wide(&mine);
    // SAFETY: a view of the section, read and unmapped at once; the handle is closed.
    unsafe {
        let h = OpenFileMappingW(FILE_MAP_READ, 0, wmine.as_ptr());
        assert!(!h.is_null());
        let view = MapViewOfFile(h, FILE_MAP_READ, 0, 0, SIZE);
        assert!(!view.Value.is_null());
        std::ptr::copy_nonoverlapping(view.Value.cast::<u8>(), bytes.as_mut_ptr(), SIZE);
        UnmapViewOfFile(view);
        CloseHandle(h);
    }
    drop(sender);
    let theirs = format!("Global\\{}", unique("their-channel"));
    let sddl = format!("O:{other}D:(A;;GA;;;WD)");
    let section = match try_hand_made_section(&theirs, SIZE as u32, &bytes, Some(&sddl)) {
        Ok(section) => section,
        Err(e) => {
            println!("the system refused a section owned by another SID ({e}): not tested here");
            return;
        }
    };
    let owner = owner_and_trustees(&sddl_of(opened(&theirs, |w| unsafe {
        OpenFileMappingW(READ_CONTROL, 0, w)
    })))
    .0;
    if owner != other {
        println!("the system made the section but not with the owner asked for ({owner}): skipped");
        unsafe { CloseHandle(section) };
        return;
    }
    let descriptor = Descriptor::from_sddl(&sddl);
    let attributes = descriptor.attributes();
    let events: Vec<HANDLE> = ["rx", "tx"]
        .iter()
        .map(|suffix| {
            let w = wide(&format!("{theirs}/{suffix}"));
            // SAFETY: valid attributes and name; closed below.
            let h = unsafe { CreateEventW(&attributes, 0, 0, w.as_ptr()) };
            assert!(!h.is_null());
            h
        })
        .collect();
    match filemap::channel::Receiver::open(&theirs) {
        Ok(receiver) => drop(receiver),
        Err(e) => panic!("another user's Global channel (0o666): {e}"),
    }
    unsafe {
        for h in events {
            CloseHandle(h);
        }
        CloseHandle(section);
    }
}
