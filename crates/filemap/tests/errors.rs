//! Every `filemap::Error` variant, reached the way a user would reach it, and checked for a
//! message that names what was involved. Runs one test at a time (the tests change
//! `FILEMAP_DIR` and hand-make entries in it).

mod common;

#[cfg(unix)]
use common::child;
use common::{Namespace, role, run_tests, unique};
#[cfg(unix)]
use filemap::BackingFileProblem;
use filemap::{Access, Disposition, Error, Kind, Mapping, NameProblem, Protection};

fn main() {
    if let Some((role, args)) = role() {
        std::process::exit(play(&role, &args));
    }
    let mut tests: Vec<(&str, fn())> = vec![
        ("invalid_name", invalid_name),
        ("not_found_and_already_exists", not_found_and_already_exists),
        (
            "a_file_backed_create_over_a_taken_name_leaves_the_file",
            a_file_backed_create_over_a_taken_name_leaves_the_file,
        ),
        ("kind_mismatch", kind_mismatch),
        ("empty_file", empty_file),
        ("not_mappable", not_mappable),
        ("cannot_extend_read_only", cannot_extend_read_only),
        ("file_not_writable", file_not_writable),
        ("invalid_size", invalid_size),
        ("out_of_range", out_of_range),
        ("access_not_allowed", access_not_allowed),
        (
            "view_not_writable_and_misaligned",
            view_not_writable_and_misaligned,
        ),
        ("no_space", no_space),
        ("shared_handle", shared_handle),
        (
            "invalid_permissions_and_unsupported",
            invalid_permissions_and_unsupported,
        ),
        ("io_error_names_what_failed", io_error_names_what_failed),
    ];
    #[cfg(windows)]
    tests.push(("name_in_use_by_a_timer", name_in_use_by_a_timer as fn()));
    #[cfg(unix)]
    tests.extend([
        ("corrupt_entries", corrupt_entries as fn()),
        // Windows refuses to shrink a file that has a mapping (ERROR_USER_MAPPED_FILE).
        ("backing_file_too_short", backing_file_too_short),
        (
            "a_fifo_in_place_of_the_file_is_not_waited_on",
            a_fifo_in_place_of_the_file_is_not_waited_on,
        ),
        (
            "a_socket_in_place_of_an_entry_is_named",
            a_socket_in_place_of_an_entry_is_named,
        ),
        ("foreign_owner", foreign_owner),
        (
            "a_named_mappings_file_is_grown_before_its_name_appears",
            a_named_mappings_file_is_grown_before_its_name_appears,
        ),
        ("insecure_permissions", insecure_permissions),
        (
            "a_file_backed_entry_is_its_owners_alone",
            a_file_backed_entry_is_its_owners_alone,
        ),
        ("symlink_refused", symlink_refused),
        ("insecure_directory", insecure_directory),
        (
            "another_users_stale_entry_is_said_not_fought",
            another_users_stale_entry_is_said_not_fought,
        ),
        (
            "permission_denied_for_other_user",
            permission_denied_for_other_user,
        ),
        ("io_error_names_the_directory", io_error_names_the_directory),
        (
            "file_paths_a_name_cannot_record",
            file_paths_a_name_cannot_record,
        ),
        (
            "entry_locked_and_linked_entries",
            entry_locked_and_linked_entries,
        ),
        (
            "a_forked_copy_leaves_the_name_alone",
            a_forked_copy_leaves_the_name_alone,
        ),
    ]);
    run_tests(&tests);
}

fn play(role: &str, args: &[String]) -> i32 {
    match role {
        "open-global" => match Mapping::open(args[0].as_str()) {
            Err(e @ Error::PermissionDenied { .. }) => {
                print!("{e}");
                0
            }
            other => {
                eprintln!("expected PermissionDenied, got {other:?}");
                1
            }
        },
        // Creates or opens a Global mapping read-only: prints what it said.
        "create-or-open-read-only" => {
            let got = Mapping::options()
                .size(64)
                .protection(filemap::Protection::ReadOnly)
                .create_or_open(args[0].as_str())
                .map(|(m, d)| (d, m.view().map().and_then(|v| v.read_vec(0, 2))));
            print!("{got:?}");
            0
        }
        // Creates (or opens) a Global mapping, then opens it: prints what each said.
        "create-and-open-global" => {
            let created = Mapping::create_or_open(args[0].as_str(), 64).map(drop);
            let new = Mapping::create_new(args[0].as_str(), 64).map(drop);
            let opened = Mapping::open(args[0].as_str()).map(drop);
            print!("{created:?}\n{new:?}\n{opened:?}");
            0
        }
        // Opens a file-backed Global mapping for writing and writes to it.
        "write-file-backed" => {
            let written = Mapping::open(args[0].as_str())
                .and_then(|m| m.view().map()?.write_at(0, b"other user"));
            match written {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("writing the file-backed mapping: {e}");
                    1
                }
            }
        }
        // Makes a read-only file-backed Global mapping of `args[1]` named `args[0]`, and
        // holds it until its standard input closes.
        "share-file" | "make-and-share-file" => {
            if role == "make-and-share-file" {
                if let Err(e) = std::fs::write(&args[1], [7u8; 4096]) {
                    eprintln!("making the file: {e}");
                    return 1;
                }
            }
            let made = Mapping::from_path(&args[1])
                .protection(filemap::Protection::ReadOnly)
                .name(args[0].as_str())
                .permissions(0o644)
                .create();
            match made {
                Ok(_m) => {
                    println!("ready");
                    let _ = std::io::Read::read(&mut std::io::stdin(), &mut [0u8; 1]);
                    0
                }
                Err(e) => {
                    eprintln!("sharing the file: {e}");
                    1
                }
            }
        }
        _ => 2,
    }
}

/// Writes a hand-made entry following the documented header layout.
#[cfg(unix)]
fn hand_made_entry(
    ns: &Namespace,
    name: &str,
    kind: u32,
    flags: u32,
    size: u64,
) -> std::path::PathBuf {
    let mut b = vec![0u8; 4096 + size as usize];
    b[0..8].copy_from_slice(b"FILEMAP\0");
    b[8..12].copy_from_slice(&1u32.to_le_bytes());
    b[12..16].copy_from_slice(&kind.to_le_bytes());
    b[16..20].copy_from_slice(&flags.to_le_bytes());
    b[20..24].copy_from_slice(&0o600u32.to_le_bytes());
    b[24..32].copy_from_slice(&size.to_le_bytes());
    b[32..40].copy_from_slice(&4096u64.to_le_bytes());
    b[80..84].copy_from_slice(&2u32.to_le_bytes());
    let uid = rustix::process::geteuid().as_raw();
    let path = ns.path().join(format!("filemap.u{uid}.{name}"));
    std::fs::write(&path, &b).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    path
}

fn invalid_name() {
    let _ns = Namespace::new();
    let e = Mapping::open("a/b").unwrap_err();
    assert!(matches!(
        &e,
        Error::InvalidName { name, problem: NameProblem::Slash { position: 1 } } if name == "a/b"
    ));
    assert_eq!(
        e.to_string(),
        "invalid name \"a/b\": '/' at byte 1 is not allowed"
    );
    // A backslash shows as typed; a control character or a quote, escaped.
    assert_eq!(
        Mapping::open(r"x\y").unwrap_err().to_string(),
        r#"invalid name "x\y": unknown prefix "x": use Local\ (the default) or Global\"#
    );
    assert_eq!(
        Mapping::open("a\t\"b").unwrap_err().to_string(),
        r#"invalid name "a\t\"b": control character at byte 1"#
    );
    assert!(matches!(
        Mapping::create_new("", 1),
        Err(Error::InvalidName {
            problem: NameProblem::Empty,
            ..
        })
    ));
}

fn not_found_and_already_exists() {
    let ns = Namespace::new();
    let name = unique("nf");
    let e = Mapping::open(&name).unwrap_err();
    assert_eq!(e.to_string(), format!("no object named Local\\{name}"));
    let m = Mapping::create_new(&name, 10).unwrap();
    let e = Mapping::create_new(&name, 10).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("an object named Local\\{name} already exists")
    );
    drop(m);
    ns.assert_empty();
}

fn kind_mismatch() {
    let ns = Namespace::new();
    let name = unique("mutex");
    // A persistent entry of kind 2 (mutex) made by hand.
    #[cfg(unix)]
    hand_made_entry(&ns, &name, 2, 1, 64);
    // A kernel mutex of that name.
    #[cfg(windows)]
    let _mutex = {
        use std::os::windows::io::FromRawHandle;
        let w: Vec<u16> = format!("Local\\{name}")
            .encode_utf16()
            .chain(Some(0))
            .collect();
        // SAFETY: a valid NUL-terminated name; the handle is owned by the OwnedHandle.
        unsafe {
            let h = windows_sys::Win32::System::Threading::CreateMutexW(
                std::ptr::null(),
                0,
                w.as_ptr(),
            );
            assert!(!h.is_null());
            std::os::windows::io::OwnedHandle::from_raw_handle(h as _)
        }
    };
    let mut results = vec![
        Mapping::open(&name).map(|_| ()),
        Mapping::create_or_open(&name, 64).map(|_| ()),
        Mapping::create_new(&name, 64).map(|_| ()),
    ];
    if cfg!(unix) {
        results.push(Mapping::remove(&name));
    }
    for result in results {
        match result {
            Err(e @ Error::KindMismatch { .. }) => {
                let Error::KindMismatch {
                    found, expected, ..
                } = &e
                else {
                    unreachable!()
                };
                assert_eq!((*found, *expected), (Kind::Mutex, Kind::Mapping));
                assert_eq!(
                    e.to_string(),
                    format!("Local\\{name} is a mutex, not a mapping")
                );
            }
            other => panic!("expected KindMismatch, got {other:?}"),
        }
    }
    // The many-party objects say what they expected too (on Windows they said "not a
    // mapping", the kind of the section the open looked for).
    let parties = [
        (
            Kind::Channel,
            filemap::channel::Receiver::open(name.as_str()).err(),
        ),
        (
            Kind::Topic,
            filemap::topic::Subscriber::open(name.as_str()).err(),
        ),
        (
            Kind::Inbox,
            filemap::inbox::Inbox::open(name.as_str()).err(),
        ),
        (
            Kind::Service,
            filemap::service::Client::open(name.as_str()).err(),
        ),
    ];
    for (kind, got) in parties {
        match got {
            Some(Error::KindMismatch {
                found, expected, ..
            }) => assert_eq!((found, expected), (Kind::Mutex, kind)),
            other => panic!("opening a {kind} over a mutex: {other:?}"),
        }
    }
    #[cfg(unix)]
    filemap::namespace::remove(name.as_str()).unwrap();
    #[cfg(windows)]
    drop(_mutex);
    // A name held by a file-backed mapping (its section, on Windows, holds only its
    // header) or by a reserve mapping (its data not committed): every other kind says
    // KindMismatch (Windows said PermissionDenied, and Corrupt, mapping their data first).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("backing.bin");
    std::fs::write(&path, vec![0u8; 1 << 20]).unwrap();
    let file_backed = unique("file-backed");
    let _file = Mapping::from_path(&path)
        .name(file_backed.as_str())
        .create()
        .unwrap();
    let reserved = unique("reserved");
    // SAFETY: nothing of it is touched.
    let _reserved = unsafe { Mapping::options().size(1 << 20).reserve(true) }
        .create_new(reserved.as_str())
        .unwrap();
    // On Linux, one larger than the address space: mapped before its kind was looked at,
    // it was NoSpace ("the address space"), not KindMismatch.
    #[cfg(unix)]
    let huge = unique("huge-reserved");
    #[cfg(unix)]
    // SAFETY: nothing of it is touched.
    let _huge = unsafe { Mapping::options().size(1 << 48).reserve(true) }
        .create_new(huge.as_str())
        .unwrap();
    #[cfg(not(unix))]
    let huge = reserved.clone();
    for name in [&file_backed, &reserved, &huge] {
        let opens = [
            filemap::sync::SharedMutex::<u64>::create_or_open(name.as_str(), 0).err(),
            filemap::sync::SharedMutex::<u64>::open(name.as_str()).err(),
            filemap::channel::Receiver::open(name.as_str()).err(),
            filemap::channel::Receiver::create_or_open(name.as_str(), 4096).err(),
            filemap::topic::Subscriber::open(name.as_str()).err(),
            filemap::inbox::Inbox::open(name.as_str()).err(),
            filemap::sync::NamedEvent::open(name.as_str()).err(),
            filemap::sync::NamedSemaphore::open(name.as_str()).err(),
            filemap::sync::NamedMutex::open(name.as_str()).err(),
        ];
        for got in opens {
            match got {
                Some(Error::KindMismatch {
                    found: Kind::Mapping,
                    ..
                }) => {}
                other => panic!("another kind over the mapping {name}: {other:?}"),
            }
        }
    }
    drop((_file, _reserved));
    #[cfg(unix)]
    drop(_huge);
    ns.assert_empty();
}

fn empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty");
    std::fs::write(&path, b"").unwrap();
    let e = Mapping::from_path(&path).create().unwrap_err();
    assert!(matches!(&e, Error::EmptyFile { path: p } if p.ends_with("empty")));
    assert!(e.to_string().contains("empty"));
    // A size past what the file system holds is said so (it was an I/O error where the
    // file system says the file would be too large, as ext4 does past 16 TiB). Linux only:
    // Wine answers such an extension with "not enough memory" (ERROR_NOT_ENOUGH_MEMORY),
    // an I/O error.
    #[cfg(target_os = "linux")]
    {
        let e = Mapping::from_path(&path)
            .size(1 << 50)
            .create()
            .unwrap_err();
        assert!(
            matches!(e, Error::InvalidSize { .. } | Error::NoSpace { .. }),
            "{e:?}"
        );
    }
    // A size makes it work: the file grows.
    assert_eq!(
        Mapping::from_path(&path).size(100).create().unwrap().len(),
        100
    );
}

/// Files that no size makes mappable are refused by name, before anything is changed: a
/// directory (on Windows, opening one fails first), and on Linux a file of /proc, which
/// says it is empty (no advice to give it a size), and a device.
fn not_mappable() {
    let dir = tempfile::tempdir().unwrap();
    for protection in [Protection::ReadOnly, Protection::ReadWrite] {
        match Mapping::from_path(dir.path())
            .protection(protection)
            .create()
        {
            Err(Error::NotMappable { path, why }) => {
                assert_eq!(why, "it is a directory");
                assert!(path.ends_with(dir.path().file_name().unwrap()), "{path:?}");
            }
            Err(Error::PermissionDenied { .. }) if cfg!(windows) => {}
            other => panic!("a directory mapped ({protection:?}): {other:?}"),
        }
    }
    #[cfg(target_os = "linux")]
    {
        let proc_file = std::path::Path::new("/proc/version");
        let Ok(before) = std::fs::read(proc_file) else {
            println!("    (no /proc/version here: the pseudo file case is skipped)");
            return;
        };
        for size in [0, 4096] {
            for protection in [Protection::ReadOnly, Protection::ReadWrite] {
                match Mapping::from_path(proc_file)
                    .size(size)
                    .protection(protection)
                    .create()
                {
                    Err(e @ Error::NotMappable { .. }) => {
                        let said = e.to_string();
                        assert!(said.starts_with("cannot map /proc/version: "), "{said}");
                        assert!(said.contains("pseudo file system"), "{said}");
                    }
                    // Opening it for writing may be refused (not root, a read-only /proc,
                    // a security module): then nothing was mapped or changed either.
                    Err(_) if protection == Protection::ReadWrite => {}
                    other => panic!("{size} {protection:?}: {other:?}"),
                }
            }
        }
        assert_eq!(std::fs::read(proc_file).unwrap(), before);
        // A device (size 0 whatever it holds): refused as one, not as an empty file to
        // give a size to (that advice failed: a device cannot be extended).
        for size in [0, 4096] {
            match Mapping::from_path("/dev/null").size(size).create() {
                Err(Error::NotMappable { why, .. }) => assert!(why.contains("not a regular file")),
                other => panic!("/dev/null, size {size}: {other:?}"),
            }
        }
    }
}

fn cannot_extend_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("small");
    std::fs::write(&path, b"1234").unwrap();
    for protection in [Protection::ReadOnly, Protection::WriteCopy] {
        match Mapping::from_path(&path)
            .protection(protection)
            .size(10)
            .create()
        {
            Err(
                e @ Error::CannotExtend {
                    file_len: 4,
                    size: 10,
                    ..
                },
            ) => assert_eq!(e.category(), filemap::ErrorCategory::AccessDenied),
            other => panic!("expected CannotExtend, got {other:?}"),
        }
    }
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        4,
        "the file was not touched"
    );
    // A path the system cannot take is a bad argument, not a system failure.
    let e = Mapping::from_path(dir.path().join("a\0b"))
        .create()
        .unwrap_err();
    assert_eq!(e.category(), filemap::ErrorCategory::InvalidArgument, "{e}");
}

fn file_not_writable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ro");
    std::fs::write(&path, b"1234").unwrap();
    let file = std::fs::File::open(&path).unwrap();
    match Mapping::from_file(&file).unwrap().create() {
        Err(Error::FileNotWritable { path: p }) => assert!(p.ends_with("ro")),
        other => panic!("expected FileNotWritable, got {other:?}"),
    }
    // Read-only protection works on a read-only file.
    let m = Mapping::from_file(&file)
        .unwrap()
        .protection(Protection::ReadOnly)
        .create()
        .unwrap();
    assert_eq!(m.view().map().unwrap().read_vec(0, 4).unwrap(), b"1234");
}

#[cfg(unix)]
fn backing_file_too_short() {
    let ns = Namespace::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, vec![1u8; 8192]).unwrap();
    let name = unique("short");
    let m = Mapping::from_path(&path).name(&name).create().unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(100)
        .unwrap();
    match Mapping::open(&name) {
        Err(
            e @ Error::BackingFile {
                problem: BackingFileProblem::TooShort { file_len: 100 },
                ..
            },
        ) => {
            assert!(e.to_string().contains("100 bytes"), "{e}");
        }
        other => panic!("expected TooShort, got {other:?}"),
    }
    drop(m);
    ns.assert_empty();
}

/// A FIFO put in place of an object's file is refused, not waited on (an open of a FIFO
/// for reading waits for a writer; another user's object could name one of that user's
/// FIFOs), and so is a symbolic link put there.
#[cfg(unix)]
fn a_fifo_in_place_of_the_file_is_not_waited_on() {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::OpenOptionsExt;
    let ns = Namespace::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, [1u8; 4096]).unwrap();
    let name = unique("fifo");
    let m = Mapping::from_path(&path).name(&name).create().unwrap();
    std::fs::remove_file(&path).unwrap();
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let (tx, rx) = std::sync::mpsc::channel();
    let opener = {
        let name = name.clone();
        std::thread::spawn(move || {
            let _ = tx.send(Mapping::open_with(name.as_str(), filemap::Access::Read).map(drop));
        })
    };
    match rx.recv_timeout(std::time::Duration::from_secs(10)) {
        Ok(Err(e)) => assert!(e.to_string().contains("FIFO"), "{e}"),
        Ok(Ok(())) => panic!("a FIFO in place of the file was opened as the object's file"),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            opener.join().unwrap();
            unreachable!("the opener ended without an answer");
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            // Let the waiting open go (a writer arrives; without waiting for a reader if
            // there is none by now), then say what happened.
            let _writer = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&path);
            opener.join().unwrap();
            panic!("the open waited on a FIFO in place of the file for 10 s");
        }
    }
    opener.join().unwrap();
    // A symbolic link in its place (to a file just like it) is not followed.
    std::fs::remove_file(&path).unwrap();
    let other = dir.path().join("other");
    std::fs::write(&other, [1u8; 4096]).unwrap();
    std::os::unix::fs::symlink(&other, &path).unwrap();
    match Mapping::open_with(name.as_str(), filemap::Access::Read) {
        Err(e) => assert!(e.to_string().contains("symbolic link"), "{e}"),
        Ok(_) => panic!("a symbolic link in place of the file was followed"),
    }
    drop(m);
    std::fs::remove_file(&path).unwrap();
    ns.assert_empty();
}

/// A Unix socket bound where an object's entry would be (anyone may bind one in a
/// world-writable namespace directory) is named as what it is by every open and create,
/// not passed on as the system's "No such device or address".
#[cfg(unix)]
fn a_socket_in_place_of_an_entry_is_named() {
    let ns = Namespace::new();
    let name = unique("socket");
    let uid = rustix::process::geteuid().as_raw();
    let path = ns.path().join(format!("filemap.u{uid}.{name}"));
    let socket = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let calls: [(&str, filemap::Result<Mapping>); 3] = [
        ("open", Mapping::open(name.as_str())),
        ("create_new", Mapping::create_new(name.as_str(), 64)),
        (
            "create_or_open",
            Mapping::create_or_open(name.as_str(), 64).map(|(m, _)| m),
        ),
    ];
    for (call, result) in calls {
        match result {
            Err(e @ Error::Corrupt { .. }) => {
                assert!(e.to_string().contains("socket"), "{call}: {e}")
            }
            other => panic!("{call} over a socket: {other:?}"),
        }
    }
    drop(socket);
    std::fs::remove_file(&path).unwrap();
    ns.assert_empty();
}

fn invalid_size() {
    let ns = Namespace::new();
    assert!(matches!(
        Mapping::create_new(unique("zero"), 0),
        Err(Error::InvalidSize { size: 0, .. })
    ));
    assert!(matches!(
        Mapping::create_new(unique("huge"), u64::MAX),
        Err(Error::InvalidSize { .. })
    ));
    ns.assert_empty();
}

fn out_of_range() {
    let ns = Namespace::new();
    let m = Mapping::create_new(unique("oor"), 1000).unwrap();
    for (offset, len) in [(1000, 0), (999, 2), (0, 1001), (u64::MAX, 1), (5000, 0)] {
        match m.view().offset(offset).len(len).map() {
            Err(Error::OutOfRange { size: 1000, .. }) => {}
            other => panic!("view {offset}+{len}: expected OutOfRange, got {other:?}"),
        }
    }
    let v = m.view().offset(10).len(20).map().unwrap();
    let e = v.read_at(15, &mut [0u8; 6]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the range at offset 15 of length 6 does not fit in 20 bytes"
    );
    drop((v, m));
    ns.assert_empty();
}

fn access_not_allowed() {
    let ns = Namespace::new();
    let name = unique("prot");
    let m = Mapping::options()
        .size(4096)
        .protection(Protection::ReadOnly)
        .create_new(&name)
        .unwrap();
    match m.view().access(Access::Write).map() {
        Err(
            e @ Error::AccessNotAllowed {
                requested: Access::Write,
                ..
            },
        ) => {
            assert!(e.to_string().contains("read-only protection"), "{e}")
        }
        other => panic!("expected AccessNotAllowed, got {other:?}"),
    }
    // Opening it for writing is refused too (OpenFileMapping(FILE_MAP_WRITE) on a
    // PAGE_READONLY object).
    assert!(matches!(
        Mapping::open(&name),
        Err(Error::AccessNotAllowed { .. })
    ));
    assert!(Mapping::open_with(&name, Access::Read).is_ok());
    drop(m);
    ns.assert_empty();
}

fn view_not_writable_and_misaligned() {
    let ns = Namespace::new();
    let m = Mapping::create_new(unique("vnw"), 4096).unwrap();
    let r = m.view().access(Access::Read).map().unwrap();
    assert!(matches!(
        r.write_at(0, b"x"),
        Err(Error::ViewNotWritable {
            access: Access::Read
        })
    ));
    // SAFETY (these three): refused before any reference exists.
    assert!(matches!(
        unsafe { r.atomic_u32(0) },
        Err(Error::ViewNotWritable { .. })
    ));
    assert_eq!(
        r.load_u32(0, std::sync::atomic::Ordering::Acquire).unwrap(),
        0
    );
    let w = m.view().map().unwrap();
    assert!(matches!(
        unsafe { w.atomic_u64(3) },
        Err(Error::Misaligned {
            offset: 3,
            align: 8
        })
    ));
    assert!(matches!(
        unsafe { w.atomic_u32(4094) },
        Err(Error::OutOfRange { .. })
    ));
    drop((r, w, m));
    ns.assert_empty();
}

fn no_space() {
    let ns = Namespace::new();
    // Ask for more than the namespace can hold: refused at creation (not a SIGBUS at first
    // touch), and nothing is left behind.
    #[cfg(unix)]
    let size = {
        let st = rustix::fs::statvfs(ns.path()).unwrap();
        st.f_blocks * st.f_frsize * 2
    };
    #[cfg(windows)]
    let size = 1u64 << 46; // 64 TiB: beyond any commit limit
    match Mapping::create_new(unique("big"), size) {
        Err(e @ Error::NoSpace { .. }) => assert!(e.to_string().contains("not enough space")),
        other => panic!("expected NoSpace, got {other:?}"),
    }
    // A name in use is said to be before a large object's memory is taken: the create
    // allocated it all first, then was refused (here: NoSpace, not AlreadyExists).
    #[cfg(target_os = "linux")]
    {
        let name = unique("taken-big");
        let _taken = Mapping::create_new(&name, 4096).unwrap();
        match Mapping::create_new(&name, size) {
            Err(Error::AlreadyExists { .. }) => {}
            other => panic!("expected AlreadyExists, got {other:?}"),
        }
    }
    // An unnamed object has no file system limit: more than the memory is refused before
    // any of it is allocated (which went on until the out-of-memory killer ended a
    // process). 1 PiB: more than any of these machines has.
    match Mapping::unnamed(1 << 50) {
        Err(e @ Error::NoSpace { .. }) => assert!(e.to_string().contains("not enough space")),
        other => panic!("expected NoSpace, got {other:?}"),
    }
    ns.assert_empty();
}

/// An entry whose lifetime lock another process holds exclusively (on purpose: a reader of a
/// readable entry can) is `EntryLocked` after a bounded wait, not a hang, and its name is
/// removed all the same; an entry with a second link (a hard link to it under a Local
/// name) is `Corrupt`.
#[cfg(unix)]
fn entry_locked_and_linked_entries() {
    use std::os::fd::AsRawFd;
    let ns = Namespace::new();
    let uid = rustix::process::geteuid().as_raw();
    let name = unique("locked");
    // Persistent: its name stays with no handle open, so the lock below is the only one.
    let kept = Mapping::options()
        .size(4096)
        .persistent(true)
        .create_new(&name)
        .unwrap();
    drop(kept);
    let path = ns.path().join(format!("filemap.u{uid}.{name}"));
    // Locked exclusively from a description of its own: what no filemap handle holds for
    // more than a moment.
    let held = std::fs::File::open(&path).unwrap();
    // SAFETY: a valid descriptor of this process.
    assert_eq!(unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX) }, 0);
    match Mapping::open(&name) {
        Err(e @ Error::EntryLocked { .. }) => {
            assert!(e.to_string().contains("lifetime lock"), "{e}")
        }
        other => panic!("expected EntryLocked, got {other:?}"),
    }
    // Its owner still removes the name (after the same bounded wait), as it always could.
    filemap::namespace::remove(name.as_str()).unwrap();
    assert!(matches!(Mapping::open(&name), Err(Error::NotFound { .. })));
    drop(held);
    let kept = Mapping::options()
        .size(4096)
        .persistent(true)
        .create_new(&name)
        .unwrap();
    drop(kept);
    // Now a hard link to it under a Local name of this user's: refused through either
    // name.
    let linked = unique("linked");
    let link = ns.path().join(format!("filemap.u{uid}.{linked}"));
    std::fs::hard_link(&path, &link).unwrap();
    for n in [&name, &linked] {
        match Mapping::open(n.as_str()) {
            Err(e @ Error::Corrupt { .. }) => assert!(e.to_string().contains("2 links"), "{e}"),
            other => panic!("{n}: expected Corrupt, got {other:?}"),
        }
    }
    std::fs::remove_file(&link).unwrap();
    Mapping::remove(&name).unwrap();
    ns.assert_empty();
}

/// A child made by `fork` that drops its copy of a handle leaves the object's name and
/// lifetime to the process that opened it: the name is still there, and goes with the
/// parent's handle.
#[cfg(unix)]
fn a_forked_copy_leaves_the_name_alone() {
    let ns = Namespace::new();
    let name = unique("forked");
    let mapping = Mapping::create_new(&name, 4096).unwrap();
    // SAFETY: this test binary runs its tests one at a time on one thread; the child only
    // drops a handle (close and a getpid) and exits without running anything else.
    match unsafe { libc::fork() } {
        0 => {
            drop(mapping);
            // SAFETY: ends the child at once, running no destructors or atexit handlers.
            unsafe { libc::_exit(0) };
        }
        -1 => panic!("fork failed"),
        pid => {
            let mut status = 0;
            // SAFETY: waits for the child just made.
            assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
            assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        }
    }
    // The name is still this object's.
    let again = Mapping::open(name.as_str()).expect("the name survives the child's drop");
    drop(again);
    drop(mapping);
    assert!(matches!(
        Mapping::open(name.as_str()),
        Err(Error::NotFound { .. })
    ));
    ns.assert_empty();
}

#[cfg(unix)]
fn corrupt_entries() {
    let ns = Namespace::new();
    let uid = rustix::process::geteuid().as_raw();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "truncated"),
        ("half", b"FILEMAP\0\x01\0".to_vec(), "truncated"),
        ("magic", vec![7u8; 8192], "magic"),
    ];
    for (base, bytes, expected) in cases {
        let name = unique(base);
        std::fs::write(ns.path().join(format!("filemap.u{uid}.{name}")), bytes).unwrap();
        match Mapping::open(&name) {
            Err(e @ Error::Corrupt { .. }) => assert!(e.to_string().contains(expected), "{e}"),
            other => panic!("{base}: expected Corrupt, got {other:?}"),
        }
    }
    // A header that promises more data than the entry has.
    let name = unique("short");
    let path = hand_made_entry(&ns, &name, 1, 1, 64);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(4096 + 10)
        .unwrap();
    match Mapping::open(&name) {
        Err(e @ Error::Corrupt { .. }) => assert!(e.to_string().contains("does not fit"), "{e}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // ls reports them, gc removes them (nobody holds them).
    let listed = filemap::namespace::list().unwrap();
    assert_eq!(listed.iter().filter(|e| e.problem.is_some()).count(), 4);
    let collected = filemap::namespace::collect_garbage(false).unwrap();
    assert_eq!(collected.len(), 4);
    assert!(
        collected
            .iter()
            .all(|c| c.removed && c.reason.contains("corrupt"))
    );
    ns.assert_empty();
}

#[cfg(unix)]
fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Whether this process is root; if not, says that the test (or its part) needing
/// root to `why` is skipped.
#[cfg(unix)]
fn root_to(why: &str) -> bool {
    if !is_root() {
        println!(
            "    (skipped: needs root to {why}; running as uid {})",
            rustix::process::geteuid().as_raw()
        );
    }
    is_root()
}

/// This test program in `role`, to run as another user (nobody, uid 65534); needs root.
#[cfg(unix)]
fn other_user_child(role: &str, args: &[&str]) -> std::process::Command {
    let mut cmd = child(role, args);
    std::os::unix::process::CommandExt::uid(&mut cmd, 65534);
    std::os::unix::process::CommandExt::gid(&mut cmd, 65534);
    cmd
}

/// Runs this test program in `role` as another user to its end (see `other_user_child`).
#[cfg(unix)]
fn as_other_user(role: &str, args: &[&str]) -> std::process::Output {
    other_user_child(role, args).output().unwrap()
}

#[cfg(unix)]
fn foreign_owner() {
    if !root_to("make an entry owned by another user") {
        return;
    }
    let ns = Namespace::new();
    let name = unique("squat");
    let path = hand_made_entry(&ns, &name, 1, 1, 64);
    std::os::unix::fs::chown(&path, Some(12345), None).unwrap();
    match Mapping::open(&name) {
        Err(e @ Error::ForeignOwner { .. }) => {
            assert!(matches!(&e, Error::ForeignOwner { owner, .. } if owner == "uid 12345"));
            assert!(e.to_string().contains("owned by uid 12345"), "{e}")
        }
        other => panic!("expected ForeignOwner, got {other:?}"),
    }
    match Mapping::create_new(&name, 64) {
        Err(Error::ForeignOwner { .. }) => {}
        other => panic!("create over a squatted name: expected ForeignOwner, got {other:?}"),
    }
    std::fs::remove_file(&path).unwrap();
    // A Global name another user's object holds (which an open may open): a create of a
    // file-backed mapping over it says whose it is, as a create of memory does (it said
    // AlreadyExists), and leaves the file as it was.
    let base = unique("global-squat");
    let global = format!("Global\\{base}");
    let squat = hand_made_entry(&ns, &base, 1, 1, 64);
    let entry = ns.path().join(format!("filemap.global.{base}"));
    std::fs::rename(&squat, &entry).unwrap();
    std::os::unix::fs::chown(&entry, Some(12345), None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mine.bin");
    std::fs::write(&file, [3u8; 100]).unwrap();
    for mode in ["new", "or open"] {
        let options = Mapping::from_path(&file).name(global.as_str()).size(4096);
        let created = match mode {
            "new" => options.create().map(drop),
            _ => options.create_or_open().map(drop),
        };
        match created {
            Err(Error::ForeignOwner { .. }) => {}
            other => {
                panic!("file-backed create ({mode}) over another user's Global name: {other:?}")
            }
        }
    }
    assert_eq!(
        std::fs::read(&file).unwrap(),
        [3u8; 100],
        "the file was changed"
    );
    match Mapping::create_new(global.as_str(), 64) {
        Err(Error::ForeignOwner { .. }) => {}
        other => panic!("create over another user's Global name: {other:?}"),
    }
    std::fs::remove_file(&entry).unwrap();
    ns.assert_empty();
}

#[cfg(unix)]
fn insecure_permissions() {
    let ns = Namespace::new();
    let name = unique("wide");
    let m = Mapping::options()
        .size(64)
        .persistent(true)
        .create_new(&name)
        .unwrap();
    drop(m);
    let uid = rustix::process::geteuid().as_raw();
    let path = ns.path().join(format!("filemap.u{uid}.{name}"));
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600
    );
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    match Mapping::open(&name) {
        Err(
            e @ Error::InsecurePermissions {
                mode: 0o666,
                expected: 0o600,
                ..
            },
        ) => {
            assert!(e.to_string().contains("666"), "{e}")
        }
        other => panic!("expected InsecurePermissions, got {other:?}"),
    }
    Mapping::remove(&name).unwrap_err(); // remove checks the kind by opening: refused too
    filemap::namespace::remove(name.as_str()).unwrap();
    ns.assert_empty();
}

/// A file-backed object's entry holds only its header, which names the file: it is never
/// writable by the group or others (a user who could write it could point every opener at
/// any file, to be opened and mapped with the opener's rights). One that is is refused;
/// other users still open the object for writing (the file's permissions say who may).
#[cfg(unix)]
fn a_file_backed_entry_is_its_owners_alone() {
    use std::os::unix::fs::PermissionsExt;
    let ns = Namespace::new();
    // World-writable and sticky, like /dev/shm (for the other user's part below).
    std::fs::set_permissions(ns.path(), PermissionsExt::from_mode(0o1777)).unwrap();
    let data = ns.path().join("data.bin");
    std::fs::write(&data, [0u8; 4096]).unwrap();
    std::fs::set_permissions(&data, PermissionsExt::from_mode(0o666)).unwrap();
    let name = format!("Global\\{}", unique("filebacked"));
    let m = Mapping::from_path(&data)
        .name(name.as_str())
        .permissions(0o666)
        .create()
        .unwrap();
    let entry = std::fs::read_dir(ns.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("filemap.")
        })
        .expect("the entry");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode(&entry),
        0o644,
        "the entry of a 0666 file-backed object"
    );
    // Its owner opens it for writing as before.
    Mapping::open(name.as_str())
        .unwrap()
        .view()
        .map()
        .unwrap()
        .write_at(0, b"owner")
        .unwrap();
    if root_to("run a child as another user") {
        // Another user opens it for writing too: the entry read-only, the file read-write.
        let out = as_other_user("write-file-backed", &[&name]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(&std::fs::read(&data).unwrap()[..10], b"other user");
    }
    if root_to("run a child as another user") {
        // Its permissions still decide: a 0644 object over the same 0666 file is not
        // another user's to write.
        let narrow = format!("Global\\{}", unique("narrow"));
        let n = Mapping::from_path(&data)
            .name(narrow.as_str())
            .permissions(0o644)
            .create()
            .unwrap();
        let out = as_other_user("write-file-backed", &[&narrow]);
        assert!(!out.status.success(), "another user wrote a 0644 object");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains("permission denied"), "{said}");
        drop(n);
        // Another user's object may name only a file of its own: one of root's, named by
        // nobody's object, is not opened for root.
        let roots = ns.path().join("roots.bin");
        std::fs::write(&roots, [7u8; 4096]).unwrap();
        std::fs::set_permissions(&roots, PermissionsExt::from_mode(0o644)).unwrap();
        let shared = format!("Global\\{}", unique("pointer"));
        let mut holder = common::start_ready(
            other_user_child("share-file", &[&shared, roots.to_str().unwrap()]),
            "share-file",
        );
        match Mapping::open_with(shared.as_str(), filemap::Access::Read) {
            Err(e @ Error::PermissionDenied { .. }) => {
                assert!(e.to_string().contains("a file of its own"), "{e}")
            }
            other => panic!("expected PermissionDenied, got {:?}", other.map(drop)),
        }
        drop(holder.stdin.take());
        assert!(holder.wait().unwrap().success());
        std::fs::remove_file(&roots).unwrap();
        // Nor a device put where its file was (opening some does something: a drive's
        // tray closes): refused before it is opened (before, a block device was opened,
        // and only then found to be another file).
        let theirs = ns.path().join("theirs.bin");
        let shared = format!("Global\\{}", unique("device"));
        let mut holder = common::start_ready(
            other_user_child("make-and-share-file", &[&shared, theirs.to_str().unwrap()]),
            "make-and-share-file",
        );
        std::fs::remove_file(&theirs).unwrap();
        let device = rustix::fs::FileType::BlockDevice.as_raw_mode() | 0o600;
        match rustix::fs::mknodat(
            rustix::fs::CWD,
            &theirs,
            rustix::fs::FileType::BlockDevice,
            rustix::fs::Mode::from_raw_mode(device),
            rustix::fs::makedev(7, 200),
        ) {
            Ok(()) => match Mapping::open_with(shared.as_str(), filemap::Access::Read) {
                Err(e @ Error::PermissionDenied { .. }) => {
                    assert!(e.to_string().contains("device"), "{e}")
                }
                other => panic!("expected PermissionDenied, got {:?}", other.map(drop)),
            },
            Err(e) => println!("    (a device in place of a file skipped: mknod: {e})"),
        }
        drop(holder.stdin.take());
        assert!(holder.wait().unwrap().success());
        let _ = std::fs::remove_file(&theirs);
    }
    // Made writable by others (as an old entry was), it is refused.
    std::fs::set_permissions(&entry, PermissionsExt::from_mode(0o666)).unwrap();
    match Mapping::open(name.as_str()) {
        Err(Error::InsecurePermissions {
            mode: 0o666,
            expected: 0o644,
            ..
        }) => {}
        other => panic!("expected InsecurePermissions, got {:?}", other.map(drop)),
    }
    drop(m);
    std::fs::remove_file(&data).unwrap();
    ns.assert_empty();
}

/// A namespace directory owned by another user (not root), who could rename entries onto
/// this user's names or unlink live ones, is refused; one that others may write is used
/// (as /dev/shm is, mode 0777 in some containers; the docs name the risk).
#[cfg(unix)]
fn insecure_directory() {
    use std::os::unix::fs::PermissionsExt;
    let ns = Namespace::new();
    let mut cases = vec![
        (0o777, None, false),
        (0o1777, None, false),
        (0o755, None, false),
    ];
    if root_to("make a directory owned by another user") {
        cases.push((0o755, Some(12345), true));
    }
    // A directory of its own each, first used here (one in use is not looked at again).
    for (mode, owner, refused) in cases {
        let dir = ns.path().join(format!("dir{mode:o}-{owner:?}"));
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, PermissionsExt::from_mode(mode)).unwrap();
        if owner.is_some() {
            std::os::unix::fs::chown(&dir, owner, None).unwrap();
        }
        common::set_env("FILEMAP_DIR", &dir);
        match Mapping::create_new(unique("in-dir"), 64) {
            Err(e @ Error::InsecureDirectory { .. }) if refused => {
                assert!(e.to_string().contains("uid 12345"), "{e}");
                assert_eq!(e.category(), filemap::ErrorCategory::AccessDenied);
            }
            Ok(m) if !refused => drop(m),
            other => panic!("mode {mode:o} owner {owner:?}: got {:?}", other.map(drop)),
        }
        std::fs::remove_dir(&dir).unwrap();
    }
    common::set_env("FILEMAP_DIR", ns.path());
    ns.assert_empty();
}

/// A stale entry (every holder gone) that this user may not remove (root's, in a sticky
/// directory) is gone to an opener, and a create call says why the name stays taken. (It
/// tried 1000 times in a few milliseconds, then blamed other processes for re-creating
/// the name.)
#[cfg(unix)]
fn another_users_stale_entry_is_said_not_fought() {
    use std::os::unix::fs::PermissionsExt;
    if !root_to("run a child as another user") {
        return;
    }
    let ns = Namespace::new();
    std::fs::set_permissions(ns.path(), PermissionsExt::from_mode(0o1777)).unwrap();
    let base = unique("stale");
    // Root's stale Global entry: a complete header (kind 1, a mapping; not persistent)
    // that no process holds.
    let local = hand_made_entry(&ns, &base, 1, 0, 64);
    let global = ns.path().join(format!("filemap.global.{base}"));
    std::fs::rename(&local, &global).unwrap();
    // Open to others (its header says so too), so that they may use it.
    let mut bytes = std::fs::read(&global).unwrap();
    bytes[20..24].copy_from_slice(&0o666u32.to_le_bytes());
    std::fs::write(&global, &bytes).unwrap();
    std::fs::set_permissions(&global, PermissionsExt::from_mode(0o666)).unwrap();
    let name = format!("Global\\{base}");
    let out = as_other_user("create-and-open-global", &[&name]);
    let said = String::from_utf8_lossy(&out.stdout);
    let mut lines = said.lines();
    let created = lines.next().unwrap_or_default();
    let new = lines.next().unwrap_or_default();
    let opened = lines.next().unwrap_or_default();
    for (what, said) in [("create_or_open", created), ("create_new", new)] {
        assert!(
            said.contains("PermissionDenied") && said.contains("filemap gc"),
            "{what}: {said}"
        );
    }
    assert!(opened.contains("NotFound"), "open: {opened}");
    std::fs::remove_file(&global).unwrap();
    ns.assert_empty();
}

#[cfg(unix)]
fn symlink_refused() {
    let ns = Namespace::new();
    let target = unique("target");
    let m = Mapping::create_new(&target, 64).unwrap();
    let uid = rustix::process::geteuid().as_raw();
    let link = unique("link");
    std::os::unix::fs::symlink(
        ns.path().join(format!("filemap.u{uid}.{target}")),
        ns.path().join(format!("filemap.u{uid}.{link}")),
    )
    .unwrap();
    assert!(matches!(Mapping::open(&link), Err(Error::Symlink { .. })));
    assert!(matches!(
        filemap::namespace::remove(link.as_str()),
        Err(Error::Symlink { .. })
    ));
    std::fs::remove_file(ns.path().join(format!("filemap.u{uid}.{link}"))).unwrap();
    drop(m);
    ns.assert_empty();
}

#[cfg(unix)]
fn permission_denied_for_other_user() {
    if !root_to("run a child as another user") {
        return;
    }
    let ns = Namespace::new();
    // The namespace directory is world-writable and sticky, like /dev/shm.
    std::fs::set_permissions(
        ns.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .unwrap();
    let name = format!("Global\\{}", unique("private"));
    let m = Mapping::create_new(name.as_str(), 64).unwrap(); // mode 0600, owned by root
    let out = as_other_user("open-global", &[&name]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let message = String::from_utf8_lossy(&out.stdout);
    assert!(
        message.starts_with("permission denied: opening Global\\"),
        "{message}"
    );
    drop(m);
    // One that others may read (0644) is opened by another user's read-only create call
    // (it asked to write, and was refused).
    let readable = Mapping::options()
        .size(64)
        .permissions(0o644)
        .create_new(name.as_str())
        .unwrap();
    readable.view().map().unwrap().write_at(0, b"ok").unwrap();
    let out = as_other_user("create-or-open-read-only", &[&name]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        said,
        "Ok((Opened, Ok([111, 107])))",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(readable);
    ns.assert_empty();
}

fn shared_handle() {
    match Mapping::from_inherited("nothing_here") {
        Err(e @ Error::SharedHandle { .. }) => {
            assert!(e.to_string().contains("FILEMAP_SHARED_nothing_here"), "{e}")
        }
        other => panic!("expected SharedHandle, got {other:?}"),
    }
    // A value that is no inherited handle of this process.
    common::set_env("FILEMAP_SHARED_forged", "filemap-share/1 entry=1 handles=1");
    match Mapping::from_inherited("forged") {
        Err(e @ Error::SharedHandle { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("standard stream")
                    || text.contains("not open")
                    || text.contains("not a handle value"),
                "{text}"
            )
        }
        other => panic!("expected SharedHandle, got {other:?}"),
    }
    // A handle value with tag bits (the kernel ignores the low two: 5 names handle 4) is
    // refused, though the handle it names is inherited and a disk file's: taken, it would
    // be a second owner of the handle, closed twice.
    #[cfg(windows)]
    {
        use std::os::windows::io::AsRawHandle;
        use windows_sys::Win32::Foundation::{HANDLE_FLAG_INHERIT, SetHandleInformation};
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, &[7u8; 4096]).unwrap();
        let h = file.as_raw_handle();
        // SAFETY: the test's own open file handle; only its inherit flag changes.
        assert_ne!(
            unsafe { SetHandleInformation(h as _, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT) },
            0
        );
        common::set_env(
            "FILEMAP_SHARED_tagged",
            format!(
                "filemap-share/1 entry=0 file=1 writable=0 size=4096 protection=ro handles={}",
                h as usize + 1
            ),
        );
        match Mapping::from_inherited("tagged") {
            Err(e @ Error::SharedHandle { .. }) => {
                assert!(e.to_string().contains("multiples of four"), "{e}")
            }
            other => panic!("expected SharedHandle, got {other:?}"),
        }
        common::remove_env("FILEMAP_SHARED_tagged");
        drop(file);
    }
    // An open descriptor of this process that was not inherited is refused.
    #[cfg(unix)]
    {
        let file = tempfile::tempfile().unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
        common::set_env(
            "FILEMAP_SHARED_forged",
            format!("filemap-share/1 entry=1 handles={fd}"),
        );
        match Mapping::from_inherited("forged") {
            Err(e @ Error::SharedHandle { .. }) => {
                assert!(e.to_string().contains("not inherited"), "{e}")
            }
            other => panic!("expected SharedHandle, got {other:?}"),
        }
        // An inherited file shorter than the size the descriptor says: refused (it was
        // mapped, and a read past the file's end faulted).
        use std::io::Write;
        let mut short = tempfile::tempfile().unwrap();
        short.write_all(&[7u8; 4096]).unwrap();
        rustix::io::fcntl_setfd(&short, rustix::io::FdFlags::empty()).unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&short);
        common::set_env(
            "FILEMAP_SHARED_short",
            format!(
                "filemap-share/1 entry=0 file=1 writable=0 size=1048576 protection=ro \
                 handles={fd}"
            ),
        );
        match Mapping::from_inherited("short") {
            Err(e @ Error::SharedHandle { .. }) => {
                assert!(e.to_string().contains("fewer than"), "{e}")
            }
            other => panic!("expected SharedHandle, got {other:?}"),
        }
        // The call took the inherited descriptor over (and closed it with the mapping it
        // refused): it is no longer the test's to close.
        std::mem::forget(short);
        common::remove_env("FILEMAP_SHARED_short");
        // A share lock that is no handle on the mapping's file (another file's, here) is
        // refused: it was kept open, and handed on again, as the file's lock.
        // (At descriptor numbers no earlier case took: a number taken over once is refused
        // ever after in this process.)
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&[7u8; 4096]).unwrap();
        let file = rustix::io::fcntl_dupfd_cloexec(&file, 300).unwrap();
        let lock = rustix::io::fcntl_dupfd_cloexec(tempfile::tempfile().unwrap(), 300).unwrap();
        for fd in [
            std::os::fd::AsFd::as_fd(&file),
            std::os::fd::AsFd::as_fd(&lock),
        ] {
            rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty()).unwrap();
        }
        common::set_env(
            "FILEMAP_SHARED_lock",
            format!(
                "filemap-share/2 entry=0 file=1 writable=0 size=4096 protection=ro lock=1 \
                 handles={},{}",
                std::os::fd::AsRawFd::as_raw_fd(&file),
                std::os::fd::AsRawFd::as_raw_fd(&lock)
            ),
        );
        match Mapping::from_inherited("lock") {
            Err(e @ Error::SharedHandle { .. }) => {
                assert!(e.to_string().contains("share lock"), "{e}")
            }
            other => panic!("expected SharedHandle, got {other:?}"),
        }
        // (Both taken over, and closed with the refusal.)
        std::mem::forget((file, lock));
        common::remove_env("FILEMAP_SHARED_lock");
    }
    // A stale or passed-on variable naming a descriptor that is now something else (a
    // socket or pipe, as a build tool's job server is; another file than the one shared) is refused
    // and left alone: still open, still inherited by this process's children. (Before, it
    // was taken over, marked close-on-exec, and closed when the mapping was refused.)
    #[cfg(target_os = "linux")]
    {
        use std::io::{Read, Write};
        use std::os::fd::{AsFd, AsRawFd};
        let (mut reader, mut writer) = std::os::unix::net::UnixStream::pair().unwrap();
        let other = tempfile::tempfile().unwrap();
        let cases = [
            (reader.as_fd(), "", "not a shared mapping's file"),
            (other.as_fd(), " ids=803-1", "not the file that was shared"),
        ];
        for (fd, ids, why) in cases {
            rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty()).unwrap();
            common::set_env(
                "FILEMAP_SHARED_stale",
                format!("filemap-share/1 entry=1 handles={}{ids}", fd.as_raw_fd()),
            );
            match Mapping::from_inherited("stale") {
                Err(e @ Error::SharedHandle { .. }) => assert!(e.to_string().contains(why), "{e}"),
                other => panic!("expected SharedHandle, got {other:?}"),
            }
            let flags = rustix::io::fcntl_getfd(fd).expect("still open");
            assert!(!flags.contains(rustix::io::FdFlags::CLOEXEC), "{flags:?}");
        }
        writer.write_all(b"x").unwrap();
        let mut byte = [0u8];
        reader.read_exact(&mut byte).unwrap();
        drop((reader, writer, other));
        common::remove_env("FILEMAP_SHARED_stale");
    }
    // A named file-backed mapping sent over a socket with another file than the one its
    // header records is refused (it was taken: the mapping bore the object's name and
    // showed the other file).
    #[cfg(target_os = "linux")]
    {
        use rustix::net::{
            RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
            SendAncillaryMessage, SendFlags,
        };
        use std::mem::MaybeUninit;
        use std::os::fd::{AsFd, OwnedFd};
        let ns = Namespace::new();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("recorded.bin");
        std::fs::write(&path, [1u8; 4096]).unwrap();
        let m = Mapping::from_path(&path)
            .name(unique("handed-over"))
            .create()
            .unwrap();
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        m.send_to(&a).unwrap();
        // The message as sent: the descriptor's text and the entry's and file's handles.
        let mut text = vec![0u8; 4096];
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(4))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let got = rustix::net::recvmsg(
            &b,
            &mut [std::io::IoSliceMut::new(&mut text)],
            &mut control,
            RecvFlags::empty(),
        )
        .unwrap();
        let mut fds: Vec<OwnedFd> = Vec::new();
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(rights) = message {
                fds.extend(rights);
            }
        }
        assert_eq!(fds.len(), 2, "entry and file");
        // The same message with another file in the file's place.
        let other = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut &other, &[2u8; 4096]).unwrap();
        let forged = [fds[0].as_fd(), other.as_fd()];
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(2))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        assert!(control.push(SendAncillaryMessage::ScmRights(&forged)));
        rustix::net::sendmsg(
            &a,
            &[std::io::IoSlice::new(&text[..got.bytes])],
            &mut control,
            SendFlags::empty(),
        )
        .unwrap();
        match Mapping::recv_from(&b) {
            Err(e @ Error::SharedHandle { .. }) => {
                assert!(
                    e.to_string().contains("not the one the object records"),
                    "{e}"
                )
            }
            Ok(taken) => panic!(
                "taken, showing {:?}",
                taken.view().map().unwrap().read_vec(0, 1).unwrap()
            ),
            Err(e) => panic!("expected SharedHandle, got {e:?}"),
        }
        drop((m, fds));
        ns.assert_empty();
    }
    // Windows: the process's standard output handle (inheritable, as the standard handles
    // a process inherited are) is refused, not taken over and closed.
    #[cfg(windows)]
    {
        use std::os::windows::io::AsRawHandle;
        let stdout = std::io::stdout().as_raw_handle() as usize;
        common::set_env(
            "FILEMAP_SHARED_standard",
            format!("filemap-share/1 entry=1 handles={stdout}"),
        );
        match Mapping::from_inherited("standard") {
            Err(e @ Error::SharedHandle { .. }) => {
                assert!(e.to_string().contains("standard"), "{e}")
            }
            other => panic!("expected SharedHandle, got {other:?}"),
        }
        common::remove_env("FILEMAP_SHARED_standard");
        println!("    standard output still works after the refusal");
        // A duplicated token that lists one handle twice is refused before any is taken
        // (each would have been owned, and closed, twice); the true token still works.
        use std::os::windows::io::{BorrowedHandle, RawHandle};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("twice.bin");
        std::fs::write(&path, [5u8; 4096]).unwrap();
        // (Named: its entry's handle and its file's.)
        let name = unique("twice");
        let m = Mapping::from_path(&path).name(&name).create().unwrap();
        // SAFETY: a `BorrowedHandle` may be -1, which then names the current process.
        let this_process = unsafe { BorrowedHandle::borrow_raw(-1isize as RawHandle) };
        let token = m.duplicate_into(this_process).unwrap();
        let (head, handles) = token.split_once(" handles=").unwrap();
        let (handles, tail) = handles.split_once(' ').unwrap_or((handles, ""));
        let first = handles.split(',').next().unwrap();
        let count = handles.split(',').count();
        assert!(count >= 2, "{token}");
        let repeated = vec![first; count].join(",");
        let forged = format!("{head} handles={repeated} {tail}");
        // SAFETY: refused before any handle is taken (what is tested); the handles are
        // this process's own duplicates, taken once below.
        match unsafe { Mapping::from_duplicated(forged.trim_end()) } {
            Err(e @ Error::SharedHandle { .. }) => assert!(e.to_string().contains("twice"), "{e}"),
            other => panic!("expected SharedHandle, got {other:?}"),
        }
        // SAFETY: the token was made for this process, and is used once.
        let copy = unsafe { Mapping::from_duplicated(&token) }.unwrap();
        assert_eq!(copy.view().map().unwrap().read_vec(0, 1).unwrap(), [5]);
        drop((copy, m));
        // A variable passed on to a grandchild, whose values name other inheritable
        // handles there (an event, here; another key's object), is refused and the handle
        // left alone: still open. (The event was taken over and closed; the other object
        // was taken as the one shared.)
        use windows_sys::Win32::Foundation::CloseHandle;
        use windows_sys::Win32::Security::SECURITY_ATTRIBUTES;
        use windows_sys::Win32::System::Threading::{CreateEventW, SetEvent};
        let shared_text = |m: &Mapping, key: &str| {
            let mut cmd = std::process::Command::new("never-run");
            let guard = filemap::CommandExt::share_mapping(&mut cmd, key, m).unwrap();
            let var = format!("FILEMAP_SHARED_{key}");
            let text = cmd
                .get_envs()
                .find(|(k, _)| *k == var.as_str())
                .and_then(|(_, v)| v)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (text, guard)
        };
        let shared = Mapping::create_new(unique("shared"), 4096).unwrap();
        let other = Mapping::create_new(unique("other"), 4096).unwrap();
        let (text, shared_guard) = shared_text(&shared, "shared");
        let (other_text, other_guard) = shared_text(&other, "other");
        let values = |text: &str| {
            let (_, rest) = text.split_once(" handles=").unwrap();
            rest.split(' ').next().unwrap().to_string()
        };
        let inheritable = SECURITY_ATTRIBUTES {
            nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
            lpSecurityDescriptor: std::ptr::null_mut(),
            bInheritHandle: 1,
        };
        // SAFETY: valid attributes; an unnamed event, closed below.
        let event = unsafe { CreateEventW(&inheritable, 1, 0, std::ptr::null()) };
        assert!(!event.is_null());
        for stand_in in [(event as usize).to_string(), values(&other_text)] {
            let forged = text.replace(
                &format!(" handles={}", values(&text)),
                &format!(" handles={stand_in}"),
            );
            common::set_env("FILEMAP_SHARED_stale", &forged);
            match Mapping::from_inherited("stale") {
                Err(e @ Error::SharedHandle { .. }) => {
                    assert!(
                        e.to_string().contains("not the object that was shared"),
                        "{e}"
                    )
                }
                other => panic!("{forged}: expected SharedHandle, got {other:?}"),
            }
        }
        // SAFETY: the event made above, still open (what is tested), closed once.
        assert_ne!(unsafe { SetEvent(event) }, 0, "the event was closed");
        // SAFETY: as above.
        unsafe { CloseHandle(event) };
        common::remove_env("FILEMAP_SHARED_stale");
        drop((shared_guard, other_guard, shared, other));
    }
    common::remove_env("FILEMAP_SHARED_forged");
}

fn invalid_permissions_and_unsupported() {
    let ns = Namespace::new();
    for mode in [0o400, 0o1777, 0o200] {
        assert!(matches!(
            Mapping::options()
                .size(64)
                .permissions(mode)
                .create_new(unique("perm")),
            Err(Error::InvalidPermissions { .. })
        ));
    }
    assert!(matches!(
        Mapping::options()
            .size(64)
            .persistent(true)
            .create_unnamed(),
        Err(Error::Unsupported { .. })
    ));
    ns.assert_empty();
}

fn io_error_names_what_failed() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-file");
    let e = Mapping::from_path(&missing).create().unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e:?}");
    assert!(e.to_string().contains("no-such-file"), "{e}");
}

#[cfg(unix)]
fn io_error_names_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("does-not-exist");
    common::set_env("FILEMAP_DIR", &missing);
    let e = Mapping::create_new("x", 64).unwrap_err();
    assert!(matches!(e, Error::Io { .. }));
    assert!(
        e.to_string().contains(&missing.display().to_string()),
        "{e}"
    );
    assert!(!missing.exists());
}

/// A file-backed create over a name that is taken leaves the user's file as it was: not
/// grown to the size asked for (create fails, create_or_open opens the name's own mapping).
fn a_file_backed_create_over_a_taken_name_leaves_the_file() {
    let ns = Namespace::new();
    let dir = tempfile::tempdir().unwrap();
    let (theirs, mine) = (dir.path().join("theirs"), dir.path().join("mine"));
    std::fs::write(&theirs, b"the name's file").unwrap();
    std::fs::write(&mine, b"nine byte").unwrap();
    let name = unique("taken-file");
    let taken = Mapping::from_path(&theirs)
        .name(name.as_str())
        .create()
        .unwrap();
    // Each refused create leaves the file as it was, 9 bytes.
    let refused_create = |name: &str| {
        let e = Mapping::from_path(&mine)
            .size(8192)
            .name(name)
            .create()
            .unwrap_err();
        assert_eq!(
            std::fs::metadata(&mine).unwrap().len(),
            9,
            "{e:?} grew the file"
        );
        e
    };
    let e = refused_create(name.as_str());
    assert!(matches!(e, Error::AlreadyExists { .. }), "{e:?}");
    let (opened, disposition) = Mapping::from_path(&mine)
        .size(8192)
        .name(name.as_str())
        .create_or_open()
        .unwrap();
    assert_eq!((disposition, opened.len()), (Disposition::Opened, 15));
    assert_eq!(
        std::fs::metadata(&mine).unwrap().len(),
        9,
        "create_or_open grew the file"
    );
    // A name another kind of object holds: that is what is wrong.
    let event_name = unique("taken-by-an-event");
    let event = filemap::sync::NamedEvent::create_new(
        event_name.as_str(),
        filemap::sync::EventReset::Auto,
        false,
    )
    .unwrap();
    let e = refused_create(event_name.as_str());
    assert!(matches!(e, Error::KindMismatch { .. }), "{e:?}");
    drop((opened, taken, event));
    ns.assert_empty();
}

/// A named file-backed mapping's file is grown to the mapping's size before its name
/// appears in the namespace (watched with inotify: the file's change comes before the
/// directory's new name): over a free name, and over one that another object held (a create
/// refused then leaves the file as it was) and that went since. So no process ever finds
/// the name with its file too short (`TooShort`), not even a persistent name whose create
/// was killed between the two.
#[cfg(unix)]
fn a_named_mappings_file_is_grown_before_its_name_appears() {
    use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};
    let ns = Namespace::new();
    let dir = tempfile::tempdir().unwrap();
    let watch = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK).unwrap();
    let names = inotify::add_watch(&watch, ns.path(), WatchFlags::CREATE).unwrap();
    // What happened, in order: (whether it was the file's change, the name that appeared).
    let changes = || {
        let mut buf = [std::mem::MaybeUninit::uninit(); 4096];
        let mut reader = inotify::Reader::new(&watch, &mut buf);
        let mut seen = Vec::new();
        while let Ok(event) = reader.next() {
            let appeared = event.file_name().map(|n| n.to_string_lossy().into_owned());
            seen.push((event.wd() != names, event.events(), appeared));
        }
        seen
    };
    for (round, held_first) in [false, true].into_iter().enumerate() {
        let path = dir.path().join(format!("short-{round}"));
        std::fs::write(&path, b"short").unwrap();
        inotify::add_watch(&watch, &path, WatchFlags::MODIFY).unwrap();
        let name = unique("grown-first");
        // The name held by another mapping, which goes after a create refused for it.
        let holder = held_first.then(|| Mapping::create_new(name.as_str(), 4096).unwrap());
        let create = || {
            Mapping::from_path(&path)
                .size(1 << 20)
                .name(name.as_str())
                .persistent(true)
                .create()
        };
        if let Some(holder) = holder {
            assert!(matches!(create(), Err(Error::AlreadyExists { .. })));
            assert_eq!(
                std::fs::metadata(&path).unwrap().len(),
                5,
                "grown though refused"
            );
            drop(holder);
            changes();
        }
        let mapping = create().unwrap();
        assert_eq!(mapping.len(), 1 << 20);
        let seen = changes();
        let grown = seen.iter().position(|(file, ..)| *file);
        let named = seen
            .iter()
            .position(|(_, _, n)| n.as_ref().is_some_and(|n| n.ends_with(name.as_str())));
        assert!(
            matches!((grown, named), (Some(g), Some(n)) if g < n),
            "round {round}: the file's change and the name, in order: {seen:?}"
        );
        assert!(
            seen.iter()
                .all(|(_, flags, _)| !flags.contains(ReadFlags::QUEUE_OVERFLOW))
        );
        drop(mapping);
        Mapping::remove(name.as_str()).unwrap();
    }
    ns.assert_empty();
}

/// A named file-backed mapping records its file's path for other processes: a deleted file
/// has none, and a path longer than the header holds cannot be recorded.
#[cfg(unix)]
fn file_paths_a_name_cannot_record() {
    let ns = Namespace::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deleted");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    file.set_len(4096).unwrap();
    std::fs::remove_file(&path).unwrap();
    let name = unique("no-path");
    let e = Mapping::from_file(&file)
        .unwrap()
        .size(8192)
        .name(name.as_str())
        .create()
        .unwrap_err();
    assert!(matches!(e, Error::FileHasNoPath), "{e:?}");
    assert!(e.to_string().contains("deleted"), "{e}");
    // Refused before the file was grown to the size asked for.
    assert_eq!(file.metadata().unwrap().len(), 4096);
    // Unnamed, it needs no path.
    assert_eq!(
        Mapping::from_file(&file).unwrap().create().unwrap().len(),
        4096
    );

    // Paths of 364 bytes (the longest whose header fits the first 512 bytes an opener
    // reads) and 365 (one more: the opener reads the whole header area), recorded whole.
    for len in [364, 365] {
        let mut path = dir.path().join(format!("edge-{len}"));
        while len - path.as_os_str().len() > 201 {
            path.push("e".repeat(200));
        }
        std::fs::create_dir_all(&path).unwrap();
        let rest = len - path.as_os_str().len() - 1;
        path.push("f".repeat(rest));
        assert_eq!(path.as_os_str().len(), len);
        std::fs::write(&path, [len as u8; 64]).unwrap();
        let recorded = unique(&format!("edge-{len}"));
        let made = Mapping::from_path(&path)
            .name(recorded.as_str())
            .create()
            .unwrap();
        let opened = Mapping::open(recorded.as_str()).unwrap();
        assert_eq!(opened.path(), Some(path.as_path()), "a path of {len} bytes");
        drop((opened, made));
    }

    // A path of 1 KiB or so, recorded whole: an opener reads more of the header than the
    // first bytes it reads of most.
    let mut long = dir.path().to_path_buf();
    while long.as_os_str().len() < 1000 {
        long.push("d".repeat(200));
    }
    std::fs::create_dir_all(&long).unwrap();
    let file_path = long.join("f");
    std::fs::write(&file_path, [7u8; 64]).unwrap();
    let recorded = unique("long-path");
    let made = Mapping::from_path(&file_path)
        .name(recorded.as_str())
        .create()
        .unwrap();
    let opened = Mapping::open(recorded.as_str()).unwrap();
    assert_eq!(opened.path(), Some(file_path.as_path()));
    let mut bytes = [0u8; 64];
    opened.view().map().unwrap().read_at(0, &mut bytes).unwrap();
    assert_eq!(bytes, [7u8; 64]);
    drop((opened, made));

    // A path of more than 3948 bytes: nested directories of 200-byte names.
    while long.as_os_str().len() < 4000 {
        long.push("d".repeat(200));
    }
    std::fs::create_dir_all(&long).unwrap();
    let file_path = long.join("f");
    std::fs::write(&file_path, [0u8; 64]).unwrap();
    match Mapping::from_path(&file_path).name(name.as_str()).create() {
        Err(e @ Error::PathTooLong { len, max, .. }) => {
            assert_eq!(len, file_path.as_os_str().len());
            assert!(len > max, "{e}");
            assert!(e.to_string().contains("can record at most"), "{e}");
        }
        other => panic!("expected PathTooLong, got {other:?}"),
    }
    ns.assert_empty();
}

/// A name held by a kernel object filemap does not make (a waitable timer) cannot name a
/// filemap object.
#[cfg(windows)]
fn name_in_use_by_a_timer() {
    use windows_sys::Win32::Foundation::CloseHandle;
    use windows_sys::Win32::System::Threading::CreateWaitableTimerW;
    let name = unique("timer");
    let wide: Vec<u16> = format!("Local\\{name}")
        .encode_utf16()
        .chain(Some(0))
        .collect();
    // SAFETY: a NUL-terminated name; the handle is closed below.
    let timer = unsafe { CreateWaitableTimerW(std::ptr::null(), 1, wide.as_ptr()) };
    assert!(!timer.is_null(), "CreateWaitableTimerW failed");
    for result in [
        Mapping::create_new(name.as_str(), 4096).map(drop),
        Mapping::open(name.as_str()).map(drop),
    ] {
        match result {
            Err(e @ Error::NameInUse { .. }) => {
                assert!(e.to_string().contains("another type"), "{e}")
            }
            other => panic!("expected NameInUse, got {other:?}"),
        }
    }
    // SAFETY: the handle was returned by CreateWaitableTimerW and is closed once.
    unsafe { CloseHandle(timer) };
    // One holding the name of an object filemap makes beside another's (a shared value's
    // lock, a channel's wake-up event): that name cannot be used either (an I/O error
    // before).
    for (suffix, make) in [
        (
            "lock",
            (|n: &str| filemap::sync::SharedMutex::<u64>::create_new(n, 0).map(drop))
                as fn(&str) -> filemap::Result<()>,
        ),
        ("rx", |n: &str| {
            filemap::channel::Receiver::create_or_open(n, 4096).map(drop)
        }),
    ] {
        let name = unique(&format!("squatted-{suffix}"));
        let wide: Vec<u16> = format!("Local\\{name}/{suffix}")
            .encode_utf16()
            .chain(Some(0))
            .collect();
        // SAFETY: a NUL-terminated name; the handle is closed below.
        let timer = unsafe { CreateWaitableTimerW(std::ptr::null(), 1, wide.as_ptr()) };
        assert!(!timer.is_null(), "CreateWaitableTimerW failed");
        match make(&name) {
            Err(Error::NameInUse { .. }) => {}
            other => panic!("{suffix}: expected NameInUse, got {other:?}"),
        }
        // SAFETY: the handle was returned by CreateWaitableTimerW and is closed once.
        unsafe { CloseHandle(timer) };
    }
}
