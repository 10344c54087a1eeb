//! Hand-made bad entries in the namespace directory: every way an entry can be truncated,
//! mislabelled or left pointing at the wrong file. Each must be a typed error for every
//! kind of opener (never a panic, a hang or a mapping of the wrong bytes), and `filemap ls`,
//! `filemap info` and `filemap gc` must report them without crashing, gc removing them.
//!
//! Linux only: on Windows the namespace is the kernel's, with no files to corrupt.
#![cfg(target_os = "linux")]

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use filemap::channel::{Receiver, Sender};
use filemap::inbox::{Inbox, InboxSender};
use filemap::service::{Client, Server};
use filemap::sync::{NamedEvent, NamedMutex, NamedSemaphore, SharedMutex};
use filemap::topic::{Publisher, Subscriber};
use filemap::{BackingFileProblem, Error, Mapping};

/// One test's namespace directory, passed to the library through `FILEMAP_DIR` (each test
/// binary runs its tests on threads of one process, so the suite is one test).
struct Ns(tempfile::TempDir);

impl Ns {
    fn new() -> Ns {
        let dir = tempfile::Builder::new()
            .prefix("filemap-bad-entries-")
            .tempdir_in("/dev/shm")
            .unwrap();
        // SAFETY: the program's one test, at its start: no other thread of it reads the
        // environment.
        unsafe { std::env::set_var("FILEMAP_DIR", dir.path()) };
        Ns(dir)
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    fn entry_path(&self, name: &str) -> PathBuf {
        let uid = rustix::process::geteuid().as_raw();
        self.path().join(format!("filemap.u{uid}.{name}"))
    }

    fn write_entry(&self, name: &str, bytes: &[u8]) {
        let path = self.entry_path(name);
        std::fs::write(&path, bytes).unwrap();
        std::fs::set_permissions(&path, PermissionsExt::from_mode(0o600)).unwrap();
    }

    fn cli(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_filemap"))
            .args(args)
            .env("FILEMAP_DIR", self.path())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn entries(&self) -> Vec<String> {
        std::fs::read_dir(self.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }
}

/// A header following the documented layout (crates/filemap/src/header.rs).
fn header(kind: u32, flags: u32, size: u64, data_offset: u64) -> Vec<u8> {
    let mut b = vec![0u8; 4096];
    b[0..8].copy_from_slice(b"FILEMAP\0");
    b[8..12].copy_from_slice(&1u32.to_le_bytes());
    b[12..16].copy_from_slice(&kind.to_le_bytes());
    b[16..20].copy_from_slice(&flags.to_le_bytes());
    b[20..24].copy_from_slice(&0o600u32.to_le_bytes());
    b[24..32].copy_from_slice(&size.to_le_bytes());
    b[32..40].copy_from_slice(&data_offset.to_le_bytes());
    b[80..84].copy_from_slice(&2u32.to_le_bytes());
    b
}

/// A memory-backed entry of `kind` whose header says `size` bytes at 4096, and which has
/// exactly `len` bytes.
fn entry(kind: u32, size: u64, len: usize) -> Vec<u8> {
    let mut b = header(kind, 0, size, 4096);
    b.resize(len, 0);
    b
}

/// A persistent file-backed mapping entry recording `path` with its device and inode
/// (persistent: an entry nobody holds is otherwise reclaimed by the next opener).
fn file_backed(path: &Path, dev: u64, ino: u64, size: u64) -> Vec<u8> {
    let mut b = header(1, 4 | 1, size, 0);
    let p = path.as_os_str().as_encoded_bytes();
    b[128..136].copy_from_slice(&dev.to_le_bytes());
    b[136..144].copy_from_slice(&ino.to_le_bytes());
    b[144..148].copy_from_slice(&(p.len() as u32).to_le_bytes());
    b[148..148 + p.len()].copy_from_slice(p);
    b
}

/// FNV-1a of a type's name: the type tag a `SharedMutex<T>` records (header.rs).
fn type_tag<T>() -> u64 {
    std::any::type_name::<T>()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
}

/// The large value of the hostile shared-mutex entry: 1 MiB.
type Big = [u64; 1 << 17];

/// A shared-value entry claiming the layout of `T` with only `size` bytes of data.
fn shared_value<T>(size: u64, align: u64) -> Vec<u8> {
    let mut b = entry(5, size, 4096 + size as usize);
    b[56..64].copy_from_slice(&(std::mem::size_of::<T>() as u64).to_le_bytes());
    b[64..72].copy_from_slice(&align.to_le_bytes());
    b[72..80].copy_from_slice(&type_tag::<T>().to_le_bytes());
    b
}

/// How long the openers of one bad entry may take to refuse it, together. A refusal waits
/// for nothing on Linux (it reads a header and gives up), so it takes microseconds; what
/// this bound catches is a refusal that hangs or works through what a hostile header claims
/// (a terabyte of data, a path of 4000 bytes). It is a safety net, generous so that a
/// loaded machine cannot reach it, not a speed claim.
const REFUSED_WITHIN: Duration = Duration::from_secs(30);

/// What every kind of opener must say about the entry `name`: Mapping's error is checked
/// by `check`; the other kinds must fail with a typed error too, without hanging.
fn every_opener_refuses(name: &str, check: impl Fn(&Error) -> bool) {
    let started = Instant::now();
    match Mapping::open(name) {
        Err(e) => assert!(check(&e), "{name}: Mapping::open: unexpected {e:?}"),
        Ok(_) => panic!("{name}: Mapping::open accepted a bad entry"),
    }
    let others: [(&str, Result<(), Error>); 13] = [
        ("Publisher", Publisher::open(name).map(drop)),
        ("Subscriber", Subscriber::open(name).map(drop)),
        ("Inbox", Inbox::open(name).map(drop)),
        ("InboxSender", InboxSender::open(name).map(drop)),
        ("Server", Server::open(name).map(drop)),
        ("Client", Client::open(name).map(drop)),
        ("NamedMutex", NamedMutex::open(name).map(drop)),
        ("NamedEvent", NamedEvent::open(name).map(drop)),
        ("NamedSemaphore", NamedSemaphore::open(name).map(drop)),
        ("Receiver", Receiver::open(name).map(drop)),
        ("Sender", Sender::open(name).map(drop)),
        ("SharedMutex<u64>", SharedMutex::<u64>::open(name).map(drop)),
        ("SharedMutex<Big>", SharedMutex::<Big>::open(name).map(drop)),
    ];
    for (opener, result) in others {
        match result {
            Err(Error::Corrupt { .. } | Error::KindMismatch { .. } | Error::BackingFile { .. }) => {
            }
            other => panic!("{name}: {opener}::open: expected a typed refusal, got {other:?}"),
        }
    }
    assert!(
        started.elapsed() < REFUSED_WITHIN,
        "{name}: refusing took {:?}",
        started.elapsed()
    );
}

fn corrupt_saying(what: &'static str) -> impl Fn(&Error) -> bool {
    move |e| matches!(e, Error::Corrupt { .. }) && e.to_string().contains(what)
}

#[test]
fn bad_entries_are_typed_errors_and_ls_gc_survive_them() {
    let ns = Ns::new();
    let page = 4096usize;

    // (name, bytes, what the error must say)
    let mut wrong_version = entry(1, 64, 2 * page);
    wrong_version[8..12].copy_from_slice(&2u32.to_le_bytes());
    let mut wrong_magic = entry(1, 64, 2 * page);
    wrong_magic[0..8].copy_from_slice(b"NOTFILEM");
    let mut unknown_kind = entry(1, 64, 2 * page);
    unknown_kind[12..16].copy_from_slice(&99u32.to_le_bytes());
    let mut unknown_flags = entry(1, 64, 2 * page);
    unknown_flags[16..20].copy_from_slice(&0x8000u32.to_le_bytes());
    let mut bad_protection = entry(1, 64, 2 * page);
    bad_protection[80..84].copy_from_slice(&9u32.to_le_bytes());
    let mut odd_mode = entry(1, 64, 2 * page);
    odd_mode[20..24].copy_from_slice(&0o170600u32.to_le_bytes());
    let mut half_header = entry(1, 64, 2 * page);
    half_header.truncate(64);
    let mut short_header_area = entry(1, 64, 2 * page);
    short_header_area.truncate(1000);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "truncated"),
        ("half-header", half_header, "truncated: 64 bytes"),
        ("short-header-area", short_header_area, "does not fit"),
        ("wrong-magic", wrong_magic, "bad magic"),
        ("future-version", wrong_version, "format version 2"),
        ("unknown-kind", unknown_kind, "unknown kind 99"),
        ("unknown-flags", unknown_flags, "unknown flags 0x8000"),
        ("bad-protection", bad_protection, "unknown protection 9"),
        ("odd-mode", odd_mode, "invalid permissions"),
        ("size-past-end", entry(1, 1 << 20, 2 * page), "size 1048576"),
        ("offset-past-end", header(1, 0, 64, 1 << 40), "does not fit"),
        (
            "offset-overflow",
            header(1, 0, u64::MAX, 1 << 40),
            "does not fit",
        ),
        (
            "offset-inside-header",
            header(1, 0, 64, 512),
            "data offset 512",
        ),
        ("zero-size", entry(1, 0, 2 * page), "size 0"),
        ("sync-truncated", entry(2, 4096, page + 100), "does not fit"),
        // Entries whose header fits the file but promises less than their kind needs: the
        // hostile shared value claims a 1 MiB type over 128 bytes (mapped short, its
        // guard would read past the mapping).
        (
            "mutex-too-short",
            entry(2, 16, 2 * page),
            "mutex of only 16 bytes",
        ),
        (
            "event-too-short",
            entry(3, 8, 2 * page),
            "event of only 8 bytes",
        ),
        (
            "semaphore-too-short",
            entry(4, 63, 2 * page),
            "semaphore of only 63",
        ),
        (
            "shared-value-too-short",
            shared_value::<Big>(128, 8),
            "a shared value of 1048576 bytes in a data area of only 128 bytes",
        ),
        (
            "shared-value-misaligned",
            shared_value::<u64>(128, 3),
            "aligned to 3 bytes",
        ),
        (
            "event-truncated",
            entry(3, 4096, page + 100),
            "does not fit",
        ),
        (
            "semaphore-truncated",
            entry(4, 4096, page + 100),
            "does not fit",
        ),
        (
            "shared-truncated",
            entry(5, 4096, page + 100),
            "does not fit",
        ),
        (
            "channel-truncated",
            entry(6, 8192, page + 100),
            "does not fit",
        ),
        (
            "topic-truncated",
            entry(7, 16384, page + 100),
            "does not fit",
        ),
        (
            "inbox-truncated",
            entry(8, 16384, page + 100),
            "does not fit",
        ),
        (
            "service-truncated",
            entry(9, 16384, page + 100),
            "does not fit",
        ),
    ];
    for (name, bytes, what) in &cases {
        ns.write_entry(name, bytes);
        every_opener_refuses(name, corrupt_saying(what));
    }

    // A channel whose recorded capacity is not what its entry holds (persistent, or the
    // opener would reclaim it as an entry nobody holds).
    let mut channel = entry(6, 4096 + 4096, 4096 + 8192);
    channel[16..20].copy_from_slice(&1u32.to_le_bytes());
    channel[4096..4104].copy_from_slice(&(1u64 << 20).to_le_bytes());
    ns.write_entry("channel-capacity", &channel);
    for result in [
        Receiver::open("channel-capacity").map(drop),
        Sender::open("channel-capacity").map(drop),
    ] {
        match result {
            Err(e @ Error::Corrupt { .. }) => assert!(e.to_string().contains("capacity"), "{e}"),
            other => panic!("corrupt channel capacity: {other:?}"),
        }
    }
    // The same channel with a fitting capacity but the frame layout of an older filemap.
    let mut old_layout = channel.clone();
    old_layout[4096..4104].copy_from_slice(&4096u64.to_le_bytes());
    old_layout[4104..4108].copy_from_slice(&1u32.to_le_bytes());
    ns.write_entry("channel-capacity", &old_layout);
    for result in [
        Receiver::open("channel-capacity").map(drop),
        Sender::open("channel-capacity").map(drop),
    ] {
        match result {
            Err(e @ Error::Corrupt { .. }) => {
                assert!(e.to_string().contains("frame layout is 1"), "{e}")
            }
            other => panic!("channel of another layout: {other:?}"),
        }
    }
    ns.write_entry("channel-capacity", &channel);

    // A topic, an inbox and a service whose data areas hold only zeros (as if a writer
    // had wiped them), and an inbox whose control page claims more rings than it holds.
    for (name, kind, what) in [
        ("zeroed-topic", 7, "capacity (0 bytes)"),
        ("zeroed-inbox", 8, "layout is 0"),
        ("zeroed-service", 9, "layout is 0"),
    ] {
        let mut bytes = entry(kind, 4 * 4096, 5 * 4096);
        bytes[16..20].copy_from_slice(&1u32.to_le_bytes()); // persistent
        ns.write_entry(name, &bytes);
        every_opener_refuses(name, |_| true);
        let opened = match kind {
            7 => Subscriber::open(name).map(drop),
            8 => Inbox::open(name).map(drop),
            _ => Client::open(name).map(drop),
        };
        match opened {
            Err(e @ Error::Corrupt { .. }) => assert!(e.to_string().contains(what), "{e}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    let mut greedy = entry(8, 4 * 4096, 5 * 4096);
    greedy[16..20].copy_from_slice(&1u32.to_le_bytes());
    greedy[4096..4100].copy_from_slice(&1u32.to_le_bytes()); // layout
    greedy[4100..4104].copy_from_slice(&100u32.to_le_bytes()); // slots
    greedy[4104..4112].copy_from_slice(&8192u64.to_le_bytes()); // ring size
    greedy[4112..4116].copy_from_slice(&1u32.to_le_bytes()); // rings per slot
    ns.write_entry("greedy-inbox", &greedy);
    match InboxSender::open("greedy-inbox") {
        Err(e @ Error::Corrupt { .. }) => assert!(e.to_string().contains("do not fit"), "{e}"),
        other => panic!("an inbox claiming 100 rings: {other:?}"),
    }

    // A directory and a fifo where an entry should be.
    std::fs::create_dir(ns.entry_path("a-directory")).unwrap();
    every_opener_refuses("a-directory", corrupt_saying("directory"));
    rustix::fs::mknodat(
        rustix::fs::CWD,
        ns.entry_path("a-fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    every_opener_refuses("a-fifo", corrupt_saying("fifo"));
    // Not filemap's: rm leaves it, and says how it goes.
    let out = ns.cli(&["rm", "a-fifo"]);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("fifo") && said.contains("by hand"), "{said}");

    // File-backed entries whose file is gone, or was replaced by another file.
    let files = tempfile::tempdir().unwrap();
    let gone = files.path().join("gone.bin");
    std::fs::write(&gone, vec![1u8; 8192]).unwrap();
    let st = rustix::fs::stat(&gone).unwrap();
    ns.write_entry(
        "file-missing",
        &file_backed(&gone, st.st_dev, st.st_ino, 8192),
    );
    std::fs::remove_file(&gone).unwrap();
    every_opener_refuses("file-missing", |e| {
        matches!(
            e,
            Error::BackingFile {
                problem: BackingFileProblem::Missing,
                ..
            }
        ) && e.to_string().contains("gone.bin")
    });
    let replaced = files.path().join("replaced.bin");
    std::fs::write(&replaced, vec![1u8; 8192]).unwrap();
    let st = rustix::fs::stat(&replaced).unwrap();
    ns.write_entry(
        "file-replaced",
        &file_backed(&replaced, st.st_dev, st.st_ino, 8192),
    );
    let other = files.path().join("other.bin");
    std::fs::write(&other, vec![2u8; 8192]).unwrap();
    std::fs::rename(&other, &replaced).unwrap();
    every_opener_refuses("file-replaced", |e| {
        matches!(
            e,
            Error::BackingFile {
                problem: BackingFileProblem::Replaced,
                ..
            }
        )
    });
    let mut no_path = file_backed(&replaced, st.st_dev, st.st_ino, 8192);
    no_path[144..148].copy_from_slice(&4000u32.to_le_bytes());
    ns.write_entry("file-path-too-long", &no_path);
    every_opener_refuses(
        "file-path-too-long",
        corrupt_saying("file path length 4000"),
    );

    // (With the channel, topic, inbox and service above whose headers are valid.)
    let bad = cases.len() + 10;
    assert_eq!(ns.entries().len(), bad);

    // ls lists every bad entry with its problem, and exits 0.
    let out = ns.cli(&["ls", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), bad, "{listed:?}");
    for e in listed {
        // ls reads headers, not what is inside an object: the channel's is valid.
        let inside = [
            "channel-capacity",
            "zeroed-topic",
            "zeroed-inbox",
            "zeroed-service",
        ];
        if inside
            .iter()
            .chain(["greedy-inbox"].iter())
            .any(|n| e["name"] == format!("Local\\{n}"))
        {
            continue;
        }
        assert!(
            e["problem"].as_str().is_some_and(|p| !p.is_empty()),
            "ls shows no problem for {e}"
        );
        // A header that is no filemap object's says nothing of persistence.
        if e["kind"].is_null() {
            assert!(e["persistent"].is_null(), "{e}");
        }
    }
    let out = ns.cli(&["ls"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // info describes the entry, its problem included.
    let out = ns.cli(&["info", "future-version"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("corrupt: format version 2"), "{stdout}");
    let out = ns.cli(&["info", "file-missing"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("backing file: ") && stdout.contains("gone.bin: the file no longer exists"),
        "{stdout}"
    );
    // (A whole entry whose file is gone is not called corrupt: gc leaves it, below.)
    assert!(!stdout.contains("corrupt"), "{stdout}");

    // gc removes every one nobody can use again and reports each; it leaves alone what
    // is not a regular file (not a filemap entry: someone else's), a newer filemap's
    // entry, and a persistent object with a valid header, even one whose file looks gone
    // or replaced (from here: another mount namespace may see it whole).
    let out = ns.cli(&["gc", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let collected: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut names: Vec<&str> = collected
        .as_array()
        .unwrap()
        .iter()
        .inspect(|c| assert_eq!(c["removed"], true, "{c}"))
        .map(|c| c["name"].as_str().unwrap().trim_start_matches("Local\\"))
        .collect();
    names.sort();
    let left_alone = [
        "a-directory",
        "a-fifo",
        "channel-capacity",
        "future-version",
        "zeroed-topic",
        "zeroed-inbox",
        "zeroed-service",
        "greedy-inbox",
        "file-missing",
        "file-replaced",
    ];
    let mut expected: Vec<&str> = cases
        .iter()
        .map(|c| c.0)
        .chain(["file-missing", "file-replaced", "file-path-too-long"])
        .filter(|n| !left_alone.contains(n))
        .collect();
    expected.sort();
    assert_eq!(names, expected);
    std::fs::remove_dir(ns.entry_path("a-directory")).unwrap();
    std::fs::remove_file(ns.entry_path("a-fifo")).unwrap();
    std::fs::remove_file(ns.entry_path("future-version")).unwrap();
    // The persistent channel, topic, inboxes, service and file-backed objects have valid
    // headers: rm removes them.
    for name in [
        "file-missing",
        "file-replaced",
        "channel-capacity",
        "zeroed-topic",
        "zeroed-inbox",
        "zeroed-service",
        "greedy-inbox",
    ] {
        let out = ns.cli(&["rm", name]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(ns.entries(), Vec::<String>::new());

    // An entry whose name carries terminal escapes (anyone may make one in /dev/shm): ls,
    // info and gc show them escaped, never as bytes that steer the terminal.
    let steering = "esc\u{1b}]0;title\u{7}\u{1b}[31mred";
    ns.write_entry(steering, &[0u8; 100]);
    for args in [&["ls"][..], &["gc", "--dry-run"], &["gc"]] {
        let out = ns.cli(args);
        assert!(out.status.success(), "{args:?}");
        let shown = String::from_utf8_lossy(&out.stdout);
        assert!(
            shown.contains("esc\\u{1b}]0;title\\u{7}"),
            "{args:?}: {shown}"
        );
        assert!(
            !out.stdout.iter().any(|b| *b == 0x1b || *b == 0x07),
            "{args:?}: {shown}"
        );
    }
    assert_eq!(ns.entries(), Vec::<String>::new(), "gc removed it");
    // A file-backed entry whose recorded path (its creator's choice) steers the terminal,
    // the file gone: the error line shows the path escaped.
    let files = tempfile::tempdir().unwrap();
    let steering_path = files.path().join("gone\u{1b}]0;title\u{7}.bin");
    std::fs::write(&steering_path, [0u8; 4096]).unwrap();
    let st = rustix::fs::stat(&steering_path).unwrap();
    ns.write_entry(
        "steering-file",
        &file_backed(&steering_path, st.st_dev, st.st_ino, 4096),
    );
    std::fs::remove_file(&steering_path).unwrap();
    let out = ns.cli(&["dump", "steering-file"]);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("gone\\u{1b}]0;title\\u{7}.bin"), "{said}");
    assert!(
        !out.stderr.iter().any(|b| *b == 0x1b || *b == 0x07),
        "{said}"
    );
    assert!(ns.cli(&["rm", "steering-file"]).status.success());
    // Another user's stale `Local\` entry: gc names it by its file name (`Local\x` would be
    // this user's, another object, which a script passing names on to rm would remove).
    std::fs::write(ns.path().join("filemap.u4242.x"), entry(1, 64, 2 * page)).unwrap();
    let out = ns.cli(&["gc", "--dry-run", "--json"]);
    let collected: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(collected[0]["name"], "filemap.u4242.x", "{collected}");
    assert!(ns.cli(&["gc"]).status.success());

    // Another user's view of this user's private objects: its `Local\priv` is not this
    // one (listed under its file name), and what it may not read is "not readable", not
    // corrupt, with its persistence unknown.
    let options = Mapping::options()
        .size(4096)
        .persistent(true)
        .permissions(0o600);
    let _local = options.clone().create_new("priv").unwrap();
    let _global = options.create_new("Global\\gp").unwrap();
    std::fs::set_permissions(ns.path(), PermissionsExt::from_mode(0o1777)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_filemap"))
        .args(["ls", "--json"])
        .env("FILEMAP_DIR", ns.path())
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .inspect(|e| {
            assert_eq!(e["unreadable"], "Permission denied (os error 13)", "{e}");
            assert!(e["problem"].is_null() && e["persistent"].is_null(), "{e}");
        })
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["Global\\gp", "filemap.u0.priv"]);
    std::fs::set_permissions(ns.path(), PermissionsExt::from_mode(0o700)).unwrap();
    for name in ["priv", "Global\\gp"] {
        filemap::namespace::remove(name).unwrap();
    }
}
