//! `namespace::list` (`filemap ls`) lists what other processes made, on Linux (the
//! namespace directory) and on Windows (the session's and the global object directories):
//! a mapping and a mutex made by two other processes, with their kinds, and on Windows the
//! mapping's owner SID and security descriptor. A process keeps its namespace directory
//! open, and follows it when the directory is removed and made again at the same path.

mod common;

use common::{Namespace, child, role, run_tests, spawn_ready, unique};
use filemap::sync::NamedMutex;
use filemap::{Kind, Mapping};

fn main() {
    if let Some((role, args)) = role() {
        std::process::exit(play(&role, &args));
    }
    run_tests(&[
        (
            "lists_what_two_other_processes_made",
            lists_what_two_other_processes_made,
        ),
        (
            "a_namespace_directory_made_again_is_followed",
            a_namespace_directory_made_again_is_followed,
        ),
        (
            "a_holder_in_another_pid_namespace_is_no_stale_entry",
            a_holder_in_another_pid_namespace_is_no_stale_entry,
        ),
        (
            "a_stale_entry_probed_by_ls_is_still_reclaimed",
            a_stale_entry_probed_by_ls_is_still_reclaimed,
        ),
        (
            "the_namespace_identity_tells_namespaces_apart",
            the_namespace_identity_tells_namespaces_apart,
        ),
        #[cfg(target_os = "linux")]
        (
            "another_users_backing_path_is_not_looked_up",
            another_users_backing_path_is_not_looked_up,
        ),
    ]);
}

fn play(role: &str, args: &[String]) -> i32 {
    if role == "identity" {
        print!("{}", filemap::namespace::identity());
        return 0;
    }
    if role == "describe" {
        let e = filemap::namespace::info(args[0].as_str()).unwrap();
        print!("stale={} holders={:?}", e.stale, e.holders);
        return 0;
    }
    let held: Box<dyn std::any::Any> = match role {
        "make-mapping" => Box::new(Mapping::create_new(args[0].as_str(), 8192).unwrap()),
        "make-mutex" => Box::new(NamedMutex::create_new(args[0].as_str()).unwrap()),
        other => panic!("unknown role {other}"),
    };
    common::ready_then_block();
    drop(held);
    0
}

/// `namespace::identity`: what another process of the namespace says too; on Linux the
/// same through a symbolic link to the directory and another for another directory, on
/// Windows the session's object directory.
fn the_namespace_identity_tells_namespaces_apart() {
    use common::SpawnRetrying;
    let ns = Namespace::new();
    let here = filemap::namespace::identity();
    let child = child("identity", &[])
        .stdout(std::process::Stdio::piped())
        .spawn_retrying()
        .wait_with_output()
        .unwrap();
    assert_eq!(
        String::from_utf8(child.stdout).unwrap(),
        here,
        "another process's"
    );
    #[cfg(unix)]
    {
        let link = tempfile::tempdir().unwrap();
        let linked = link.path().join("namespace");
        std::os::unix::fs::symlink(ns.path(), &linked).unwrap();
        common::set_env("FILEMAP_DIR", &linked);
        assert_eq!(
            filemap::namespace::identity(),
            here,
            "through a symbolic link"
        );
        let other = Namespace::new();
        assert_ne!(filemap::namespace::identity(), here, "another directory");
        let global = filemap::namespace::global_identity();
        assert_eq!(
            global,
            filemap::namespace::identity(),
            "global names are there too"
        );
        drop(other);
        common::set_env("FILEMAP_DIR", ns.path());
    }
    #[cfg(windows)]
    {
        // (`\\BaseNamedObjects` itself in session 0.)
        assert!(here.ends_with("\\BaseNamedObjects"), "{here}");
        assert_eq!(filemap::namespace::global_identity(), "\\BaseNamedObjects");
    }
    println!("    identity: {here}");
    ns.assert_empty();
}

fn lists_what_two_other_processes_made() {
    let ns = Namespace::new();
    let mapping = unique("listed-mapping");
    let mutex = unique("listed-mutex");
    let mut a = spawn_ready("make-mapping", &[&mapping]);
    let mut b = spawn_ready("make-mutex", &[&mutex]);
    let entries = filemap::namespace::list().unwrap();
    let find = |base: &str| {
        entries
            .iter()
            .find(|e| e.name == format!("Local\\{base}"))
            .unwrap_or_else(|| panic!("{base} not listed in {entries:#?}"))
    };
    let m = find(&mapping);
    assert_eq!((m.kind, m.size), (Some(Kind::Mapping), Some(8192)));
    assert!(m.problem.is_none(), "{m:?}");
    let x = find(&mutex);
    assert_eq!(x.kind, Some(Kind::Mutex));
    assert!(x.problem.is_none(), "{x:?}");
    if cfg!(windows) {
        let sid = m.owner_sid.as_deref().unwrap_or_default();
        assert!(sid.starts_with("S-1-"), "{m:?}");
        assert!(
            m.security.as_deref().unwrap_or_default().contains(sid),
            "{m:?}"
        );
    } else {
        assert!(m.holders.as_ref().unwrap().contains(&a.id()), "{m:?}");
    }
    // Each listed name is described the same way one at a time.
    assert_eq!(filemap::namespace::info(&mapping).unwrap().size, Some(8192));
    let described = filemap::namespace::info(&mutex).unwrap();
    assert_eq!(described.kind, Some(Kind::Mutex), "{described:?}");
    if cfg!(windows) {
        // A kernel mutex's owner and descriptor too.
        assert_eq!(described.owner_sid, m.owner_sid, "{described:?}");
        assert!(described.security.is_some(), "{described:?}");
    }
    a.kill().unwrap();
    b.kill().unwrap();
    a.wait().unwrap();
    b.wait().unwrap();
    // Windows removes an object with its last handle; Linux keeps a stale entry for gc.
    let after = filemap::namespace::list().unwrap();
    let mine: Vec<_> = after
        .iter()
        .filter(|e| e.name.ends_with(&mapping) || e.name.ends_with(&mutex))
        .collect();
    if cfg!(windows) {
        assert!(mine.is_empty(), "{mine:?}");
    } else {
        assert!(mine.iter().all(|e| e.stale), "{mine:?}");
        filemap::namespace::collect_garbage(false).unwrap();
    }
    ns.assert_empty();
}

/// A process opens its namespace directory once; when the directory is removed, or renamed
/// away, and made again under the same path, the next create and open use the new one (at
/// once after a removal, within 100 ms after a rename; Linux: on Windows the namespace is
/// the kernel's).
fn a_namespace_directory_made_again_is_followed() {
    let ns = Namespace::new();
    if cfg!(windows) {
        println!("skipped: on Windows the namespace is the kernel's object directories");
        return;
    }
    let first = unique("before-the-move");
    drop(Mapping::create_new(first.as_str(), 4096).unwrap());
    std::fs::remove_dir(ns.path()).unwrap();
    std::fs::create_dir(ns.path()).unwrap();
    let name = unique("after-the-move");
    let made = Mapping::create_new(name.as_str(), 4096).unwrap();
    assert_eq!(ns.entries().len(), 1, "{:?}", ns.entries());
    let opened = Mapping::open(name.as_str()).unwrap();
    assert_eq!(opened.len(), 4096);
    drop((made, opened));
    // Removed and made again once more, and this time opened first.
    std::fs::remove_dir(ns.path()).unwrap();
    std::fs::create_dir(ns.path()).unwrap();
    assert!(matches!(
        Mapping::open(name.as_str()),
        Err(filemap::Error::NotFound { .. })
    ));
    let again = Mapping::create_new(name.as_str(), 4096).unwrap();
    assert_eq!(ns.entries().len(), 1, "{:?}", ns.entries());
    drop(again);
    // Once more, and this time listed and collected first: a junk entry in the new one.
    std::fs::remove_dir(ns.path()).unwrap();
    std::fs::create_dir(ns.path()).unwrap();
    std::fs::write(ns.path().join("filemap.junk"), b"junk").unwrap();
    let listed = filemap::namespace::list().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(listed[0].problem.is_some(), "{listed:?}");
    let collected = filemap::namespace::collect_garbage(false).unwrap();
    assert!(
        collected.len() == 1 && collected[0].removed,
        "{collected:?}"
    );
    // Renamed away while an object in it is held, and a new one made at the path: the
    // next create, a moment later, is in the new one.
    let held = Mapping::create_new(unique("held-in-the-old").as_str(), 4096).unwrap();
    let old = ns.path().with_extension("old");
    // Removed with all it holds however the test ends.
    struct RemoveOnDrop(std::path::PathBuf);
    impl Drop for RemoveOnDrop {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _old_dir = RemoveOnDrop(old.clone());
    std::fs::rename(ns.path(), &old).unwrap();
    std::fs::create_dir(ns.path()).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(150));
    let new = Mapping::create_new(unique("made-in-the-new").as_str(), 4096).unwrap();
    assert_eq!(ns.entries().len(), 1, "{:?}", ns.entries());
    drop((held, new));
    assert_eq!(std::fs::read_dir(&old).unwrap().count(), 0);
    ns.assert_empty();
}

/// `ls` (`namespace::info`) run in a PID namespace of its own (a container sharing the
/// namespace directory), where `/proc/locks` leaves out the holders it cannot see: an
/// entry held by a process outside is held, by a pid it cannot show (0), not stale (before,
/// it was called stale, and `ls` skipped reading its state). Linux, as root (it needs
/// `unshare`); says so and passes otherwise.
fn a_holder_in_another_pid_namespace_is_no_stale_entry() {
    if cfg!(windows) {
        println!("    skipped: Linux only (PID namespaces)");
        return;
    }
    let ns = Namespace::new();
    let name = unique("held-outside");
    let mut holder = spawn_ready("make-mapping", &[&name]);
    let mut inside = std::process::Command::new("unshare");
    inside
        .args(["--pid", "--fork", "--mount-proc"])
        .arg(std::env::current_exe().unwrap())
        .env(common::ROLE_VAR, "describe")
        .env("FILEMAP_TEST_ARGS", &name)
        .stdin(std::process::Stdio::null());
    match inside.output() {
        Ok(out) if out.status.success() => {
            let said = String::from_utf8_lossy(&out.stdout);
            assert_eq!(said, "stale=false holders=Some([0])");
        }
        Ok(out) if String::from_utf8_lossy(&out.stderr).starts_with("unshare:") => println!(
            "    skipped: unshare refused ({}; needs root): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Ok(out) => panic!("the describing child failed: {out:?}"),
        Err(e) => println!("    skipped: unshare cannot run: {e}"),
    }
    // Seen from here, the holder's pid.
    let e = filemap::namespace::info(name.as_str()).unwrap();
    assert_eq!(e.holders, Some(vec![holder.id()]), "{e:?}");
    holder.kill().unwrap();
    holder.wait().unwrap();
    let e = filemap::namespace::info(name.as_str()).unwrap();
    assert!(e.stale, "{e:?}");
    filemap::namespace::collect_garbage(false).unwrap();
    ns.assert_empty();
}

/// While `ls` probes a stale entry (its holder killed) with an exclusive lock, a create
/// and an open of the name meet the lock: they wait it out and look again, and find the
/// entry stale (the create makes the object anew, the open says it is not there); before,
/// they took the entry for a live one (`AlreadyExists`, and a handle on the dead object).
/// Linux (the lock is taken on the entry's file, as `ls` does).
fn a_stale_entry_probed_by_ls_is_still_reclaimed() {
    #[cfg(windows)]
    println!("    skipped: Linux only (entry files)");
    #[cfg(unix)]
    {
        let ns = Namespace::new();
        for opener in ["create", "open"] {
            let name = unique("probed");
            let mut holder = spawn_ready("make-mapping", &[&name]);
            holder.kill().unwrap();
            holder.wait().unwrap();
            let entry = common::EntryFile::open(&ns, &name);
            rustix::fs::flock(entry.fd(), rustix::fs::FlockOperation::LockExclusive).unwrap();
            let meets = std::thread::spawn({
                let name = name.clone();
                move || match opener {
                    "create" => Mapping::create_new(name.as_str(), 4096).map(|m| Some(m.len())),
                    _ => Mapping::open(name.as_str()).map(|_| None),
                }
            });
            std::thread::sleep(std::time::Duration::from_millis(200));
            rustix::fs::flock(entry.fd(), rustix::fs::FlockOperation::Unlock).unwrap();
            drop(entry);
            match (opener, meets.join().unwrap()) {
                ("create", Ok(Some(4096))) => {}
                ("open", Err(filemap::Error::NotFound { .. })) => {}
                (_, other) => panic!("{opener} of a stale entry being probed: {other:?}"),
            }
            filemap::namespace::collect_garbage(false).unwrap();
        }
        ns.assert_empty();
    }
}

/// The file another user's entry names is not looked up by a listing (its path is any that
/// user chose: links of theirs, an automounted share, a file system that does not answer);
/// this user's own is. Played by a persistent entry of this process's, given to another
/// uid (needs root), whose file is then removed.
#[cfg(target_os = "linux")]
fn another_users_backing_path_is_not_looked_up() {
    if !rustix::process::geteuid().is_root() {
        println!("    skipped: giving an entry to another user needs root");
        return;
    }
    let ns = Namespace::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("theirs.bin");
    std::fs::write(&path, [0u8; 4096]).unwrap();
    let name = format!("Global\\{}", unique("theirs"));
    let m = Mapping::from_path(&path)
        .name(name.clone())
        .persistent(true)
        .create()
        .unwrap();
    drop(m);
    std::fs::remove_file(&path).unwrap();
    let problem = || {
        let entries = filemap::namespace::list().unwrap();
        let e = entries.iter().find(|e| e.name == name).expect("listed");
        e.problem.clone()
    };
    let mine = problem().expect("this user's entry's missing file is said");
    assert!(mine.contains("theirs.bin"), "{mine}");
    let files = ns.entries();
    assert_eq!(files.len(), 1, "{files:?}");
    let entry = ns.path().join(&files[0]);
    std::os::unix::fs::chown(&entry, Some(65534), None).unwrap();
    assert_eq!(problem(), None, "another user's entry's path was looked up");
    std::fs::remove_file(entry).unwrap();
    ns.assert_empty();
}
