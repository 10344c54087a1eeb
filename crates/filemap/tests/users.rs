//! Other users. The tests run as root here; parts of them run as an unprivileged user (the
//! test binary re-run with `setuid`/`setgid` to nobody, 65534) in a namespace directory that
//! is world-writable and sticky, like `/dev/shm`. They check that:
//!
//! - another user cannot open, read or remove a user's Local objects;
//! - a Local name pre-created by another user, and a Global name another user took first,
//!   are refused by create calls with `Error::ForeignOwner` instead of being used;
//! - `permissions` grant exactly what they say to other users (read, write, nothing).
//!
//! Linux only (Windows keeps names in the kernel, with access decided by security
//! descriptors; see docs/security.md). Skipped, saying so, when not run as root.

mod common;

#[cfg(target_os = "linux")]
fn main() {
    linux::main()
}

#[cfg(not(target_os = "linux"))]
fn main() {
    println!("\nrunning 0 tests (other-user tests are Linux only)\n");
    println!("test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\n");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    use std::process::{Child, Command, Stdio};

    use filemap::channel::Receiver;
    use filemap::sync::{NamedMutex, ObjectOptions};
    use filemap::{Access, Error, Mapping};

    use super::common::SpawnRetrying;
    use super::common::{Namespace, child, role, run_tests, unique};

    const NOBODY: u32 = 65534;

    pub fn main() {
        if let Some((role, args)) = role() {
            std::process::exit(play(&role, &args));
        }
        let uid = rustix::process::geteuid();
        if !uid.is_root() {
            println!(
                "\nrunning 0 tests (skipped: other-user tests need root to change user; \
                 running as uid {})\n",
                uid.as_raw()
            );
            println!(
                "test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\n"
            );
            return;
        }
        run_tests(&[
            (
                "local_objects_are_private",
                local_objects_are_private as fn(),
            ),
            (
                "local_name_precreated_by_another_user",
                local_name_precreated_by_another_user,
            ),
            (
                "a_private_squat_of_a_local_name_is_a_foreign_owner",
                a_private_squat_of_a_local_name_is_a_foreign_owner,
            ),
            ("global_name_squatted", global_name_squatted),
            (
                "a_child_of_another_user_strips_no_shared_lock",
                a_child_of_another_user_strips_no_shared_lock,
            ),
            (
                "a_child_that_keeps_the_handed_description_keeps_the_name",
                a_child_that_keeps_the_handed_description_keeps_the_name,
            ),
            (
                "a_kept_description_sent_on_takes_no_part_in_the_name",
                a_kept_description_sent_on_takes_no_part_in_the_name,
            ),
            (
                "permissions_grant_what_they_say",
                permissions_grant_what_they_say,
            ),
        ]);
    }

    /// A namespace directory anyone can create entries in, sticky like `/dev/shm`.
    fn shared_namespace() -> Namespace {
        let ns = Namespace::new();
        std::fs::set_permissions(ns.path(), PermissionsExt::from_mode(0o1777)).unwrap();
        ns
    }

    fn as_nobody(role: &str, args: &[&str]) -> Command {
        let mut cmd = child(role, args);
        cmd.uid(NOBODY).gid(NOBODY);
        cmd
    }

    /// Runs `role` as nobody to completion; its stdout, or a panic with its stderr.
    fn run_as_nobody(role: &str, args: &[&str]) -> String {
        let out = as_nobody(role, args).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{role} as nobody failed: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// Starts `role` as nobody and waits for its "ready" line; it exits when its stdin
    /// closes.
    fn hold_as_nobody(role: &str, args: &[&str]) -> Child {
        let mut c = as_nobody(role, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn_retrying();
        let mut line = String::new();
        BufReader::new(c.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "{role} as nobody did not get ready");
        c
    }

    fn release(mut c: Child) {
        drop(c.stdin.take());
        assert!(c.wait().unwrap().success());
    }

    fn wait_for_stdin_eof() {
        let mut rest = String::new();
        let _ = std::io::stdin().read_line(&mut rest);
    }

    fn entry_path(ns: &Namespace, uid: u32, name: &str) -> std::path::PathBuf {
        ns.path().join(format!("filemap.u{uid}.{name}"))
    }

    /// A child's checks: prints what it saw, fails (exit 1) with a message otherwise.
    fn play(role: &str, args: &[String]) -> i32 {
        let outcome = std::panic::catch_unwind(|| match role {
            "probe-private" => probe_private(&args[0], &args[1]),
            "precreate-local" => precreate_local(&args[0]),
            "squat-global" => squat_global(&args[0], &args[1]),
            "meet-private-squat" => meet_private_squat(&args[0]),
            "take-inherited" => take_inherited(),
            "hold-inherited" => hold_inherited(),
            "send-inherited" => send_inherited(),
            "open-with" => open_with(&args[0], &args[1], &args[2]),
            other => panic!("unknown role {other}"),
        });
        i32::from(outcome.is_err())
    }

    // --- Local objects are private -------------------------------------------------

    fn local_objects_are_private() {
        let ns = shared_namespace();
        let name = unique("secret");
        let m = Mapping::create_new(name.as_str(), 4096).unwrap();
        m.view()
            .map()
            .unwrap()
            .write_at(0, b"root's secret")
            .unwrap();
        let path = entry_path(&ns, 0, &name);
        let seen = run_as_nobody("probe-private", &[&name, path.to_str().unwrap()]);
        assert!(seen.contains("by name: not found"), "{seen}");
        // Still there, unchanged.
        let back = m.view().map().unwrap().read_vec(0, 13).unwrap();
        assert_eq!(back, b"root's secret");
        assert!(Mapping::open(name.as_str()).is_ok());
        drop(m);
        ns.assert_empty();
    }

    /// As nobody: root's Local name means nothing to this user, and the entry file itself
    /// can be neither read, nor opened by path, nor removed.
    fn probe_private(name: &str, path: &str) {
        match Mapping::open(name) {
            Err(Error::NotFound { .. }) => println!("by name: not found"),
            other => panic!("open by name: {other:?}"),
        }
        assert!(matches!(
            filemap::namespace::remove(name),
            Err(Error::NotFound { .. })
        ));
        let err = std::fs::read(path).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied, "{err}");
        match Mapping::from_path(path)
            .protection(filemap::Protection::ReadOnly)
            .create()
        {
            Err(Error::PermissionDenied { .. }) => {}
            other => panic!("open by path: {other:?}"),
        }
        let err = std::fs::remove_file(path).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied, "{err}");
        // Listing shows names (as /dev/shm does), never contents.
        let listed = filemap::namespace::list().unwrap();
        assert!(listed.iter().any(|e| e.file_name.ends_with(name)));
    }

    // --- A Local name pre-created by another user ------------------------------------

    fn local_name_precreated_by_another_user() {
        let ns = shared_namespace();
        let name = unique("expected");
        run_as_nobody("precreate-local", &[&name]);
        let path = entry_path(&ns, 0, &name);
        assert_eq!(
            std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&path).unwrap()),
            NOBODY
        );
        let refused = |what: &str, r: Result<(), Error>| match r {
            Err(e @ Error::ForeignOwner { .. }) => {
                assert!(e.to_string().contains("owned by uid 65534"), "{e}")
            }
            other => panic!("{what}: expected ForeignOwner, got {other:?}"),
        };
        refused("open", Mapping::open(name.as_str()).map(drop));
        refused(
            "create_or_open",
            Mapping::create_or_open(name.as_str(), 4096).map(drop),
        );
        refused(
            "create_new",
            Mapping::create_new(name.as_str(), 4096).map(drop),
        );
        refused("mutex", NamedMutex::create_or_open(name.as_str()).map(drop));
        refused("receiver", Receiver::open(name.as_str()).map(drop));
        // Nothing was used or removed: the squatter's file is as it was.
        assert_eq!(std::fs::read(&path).unwrap(), b"FILEMAP\0planted");
        std::fs::remove_file(&path).unwrap();
        ns.assert_empty();
    }

    /// As nobody: plants a file where root's Local entry of that name would be, readable
    /// and writable by all.
    fn precreate_local(name: &str) {
        let path = filemap::namespace::directory().join(format!("filemap.u0.{name}"));
        std::fs::write(&path, b"FILEMAP\0planted").unwrap();
        std::fs::set_permissions(&path, PermissionsExt::from_mode(0o666)).unwrap();
    }

    /// Root plants, mode 0600, the file where nobody's Local entry of a name would be:
    /// every opener of nobody's is told whose the file is, as for a squat it may read
    /// (`open` and `create_or_open` said PermissionDenied: the file could not be opened, and
    /// its owner was never looked at).
    fn a_private_squat_of_a_local_name_is_a_foreign_owner() {
        let ns = shared_namespace();
        let name = unique("squatted-privately");
        let path = entry_path(&ns, NOBODY, &name);
        std::fs::write(&path, b"FILEMAP\0planted").unwrap();
        std::fs::set_permissions(&path, PermissionsExt::from_mode(0o600)).unwrap();
        let seen = run_as_nobody("meet-private-squat", &[&name]);
        assert!(seen.contains("all refused"), "{seen}");
        assert_eq!(std::fs::read(&path).unwrap(), b"FILEMAP\0planted");
        std::fs::remove_file(&path).unwrap();
        ns.assert_empty();
    }

    /// As nobody: every opener of `name`, squatted by root's unreadable file.
    fn meet_private_squat(name: &str) {
        let refused = |what: &str, r: Result<(), Error>| match r {
            Err(Error::ForeignOwner { owner, .. }) if owner == "uid 0" => {}
            other => panic!("{what}: expected ForeignOwner, got {other:?}"),
        };
        refused("open", Mapping::open(name).map(drop));
        refused(
            "read-only open",
            Mapping::open_with(name, filemap::Access::Read).map(drop),
        );
        refused(
            "create_or_open",
            Mapping::create_or_open(name, 4096).map(drop),
        );
        refused("create_new", Mapping::create_new(name, 4096).map(drop));
        refused("mutex", NamedMutex::create_or_open(name).map(drop));
        refused("mutex open", NamedMutex::open(name).map(drop));
        refused("receiver", Receiver::open(name).map(drop));
        println!("all refused");
    }

    /// Root shares a Global mapping (mode 0644) with a child started as nobody, which may
    /// not open it for writing: the child keeps the description it inherited, shared with
    /// root's kept copy, and its close leaves that copy's lock alone. (It converted the
    /// shared lock, stripping it, so root's close then removed the name while the kept
    /// copy still held the object for children to come.)
    fn a_child_of_another_user_strips_no_shared_lock() {
        let ns = shared_namespace();
        let name = format!("Global\\{}", unique("shared-down"));
        let m = Mapping::options()
            .size(4096)
            .permissions(0o644)
            .create_new(name.as_str())
            .unwrap();
        let mut cmd = as_nobody("take-inherited", &[]);
        let shared = filemap::CommandExt::share_mapping(&mut cmd, "data", &m).unwrap();
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "the child failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        drop(m);
        // The kept copy holds it still.
        drop(Mapping::open(name.as_str()).unwrap());
        drop((cmd, shared));
        assert!(matches!(
            Mapping::open(name.as_str()),
            Err(Error::NotFound { .. })
        ));
        ns.assert_empty();
    }

    /// As nobody: takes the mapping shared as "data", reads it and drops it.
    fn take_inherited() {
        let m = Mapping::from_inherited("data").unwrap();
        m.view().map().unwrap().read_vec(0, 1).unwrap();
    }

    /// Root shares a Global mapping (mode 0644) with a child started as nobody, which
    /// cannot make a description of its own and keeps the one handed on. Whichever of
    /// root's handle and its copies for children goes first, the name stays while the
    /// child holds the object, and goes (reclaimed by the next open) once the child ends.
    /// (Root's copy for children was the handed description itself, whose close took its
    /// lock exclusively, the child's holding nothing apart, and removed the name; or,
    /// with the handle alive, failed to and stripped the lock the child relied on.)
    fn a_child_that_keeps_the_handed_description_keeps_the_name() {
        let ns = shared_namespace();
        for handle_first in [true, false] {
            let name = format!("Global\\{}", unique("handed-on"));
            let m = Mapping::options()
                .size(4096)
                .permissions(0o644)
                .create_new(name.as_str())
                .unwrap();
            let mut cmd = as_nobody("hold-inherited", &[]);
            cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
            let shared = filemap::CommandExt::share_mapping(&mut cmd, "data", &m).unwrap();
            let mut holder = cmd.spawn_retrying();
            let mut line = String::new();
            BufReader::new(holder.stdout.as_mut().unwrap())
                .read_line(&mut line)
                .unwrap();
            assert_eq!(line.trim(), "ready", "the child did not get ready");
            if handle_first {
                drop(m);
                drop((cmd, shared));
            } else {
                drop((cmd, shared));
                drop(m);
            }
            match Mapping::open(name.as_str()) {
                Ok(m) => drop(m),
                Err(e) => panic!(
                    "handle first: {handle_first}: the name went while the child holds the \
                     object: {e}"
                ),
            }
            release(holder);
            assert!(matches!(
                Mapping::open(name.as_str()),
                Err(Error::NotFound { .. })
            ));
        }
        ns.assert_empty();
    }

    /// A child of another user that kept the description handed on (see above) sends its
    /// mapping over a socket: the receiver takes no part in removing the name either. (It
    /// took the duplicate it was sent for a description of its own: its close took the
    /// lock exclusively, the child's being the same, and removed the name under the child.)
    fn a_kept_description_sent_on_takes_no_part_in_the_name() {
        let ns = shared_namespace();
        let name = format!("Global\\{}", unique("sent-on"));
        let m = Mapping::options()
            .size(4096)
            .permissions(0o644)
            .create_new(name.as_str())
            .unwrap();
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut cmd = as_nobody("send-inherited", &[]);
        cmd.stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)));
        let shared = filemap::CommandExt::share_mapping(&mut cmd, "data", &m).unwrap();
        let mut sender = cmd.spawn_retrying();
        drop((m, cmd, shared));
        let received = Mapping::recv_from(&ours).unwrap();
        assert_eq!(received.name().map(|n| n.to_string()), Some(name.clone()));
        drop(received);
        match Mapping::open(name.as_str()) {
            Ok(m) => drop(m),
            Err(e) => panic!("the name went while the child holds the object: {e}"),
        }
        drop(ours);
        assert!(sender.wait().unwrap().success());
        assert!(matches!(
            Mapping::open(name.as_str()),
            Err(Error::NotFound { .. })
        ));
        ns.assert_empty();
    }

    /// As nobody: takes the mapping shared as "data", sends it over the socket that is its
    /// standard input, and holds it until the other end closes.
    fn send_inherited() {
        use std::io::Read;
        use std::os::fd::AsFd;
        let m = Mapping::from_inherited("data").unwrap();
        let socket = std::os::unix::net::UnixStream::from(
            std::io::stdin().as_fd().try_clone_to_owned().unwrap(),
        );
        m.send_to(&socket).unwrap();
        let _ = (&socket).read(&mut [0u8; 1]);
        drop(m);
    }

    /// As nobody: takes the mapping shared as "data" and holds it until stdin closes.
    fn hold_inherited() {
        let m = Mapping::from_inherited("data").unwrap();
        m.view().map().unwrap().read_vec(0, 1).unwrap();
        println!("ready");
        wait_for_stdin_eof();
        drop(m);
    }

    // --- A Global name squatted by another user --------------------------------------

    fn global_name_squatted() {
        let ns = shared_namespace();
        let name = format!("Global\\{}", unique("service"));
        let lock = format!("Global\\{}", unique("service-lock"));
        let squatter = hold_as_nobody("squat-global", &[&name, &lock]);
        let refused = |what: &str, r: Result<(), Error>| match r {
            Err(Error::ForeignOwner { owner, .. }) if owner == format!("uid {NOBODY}") => {}
            other => panic!("{what}: expected ForeignOwner, got {other:?}"),
        };
        refused(
            "create_or_open",
            Mapping::create_or_open(name.as_str(), 4096).map(drop),
        );
        refused(
            "create_new",
            Mapping::create_new(name.as_str(), 4096).map(drop),
        );
        refused(
            "mutex create_or_open",
            NamedMutex::create_or_open(lock.as_str()).map(drop),
        );
        // Opening another user's Global object on purpose is what Global names are for.
        let theirs = Mapping::open(name.as_str()).unwrap();
        let seen = theirs.view().map().unwrap().read_vec(0, 7).unwrap();
        assert_eq!(seen, b"squatty");
        drop(theirs);
        release(squatter);
        // With the squatter gone, the name is free for its rightful creator.
        let mine = Mapping::create_new(name.as_str(), 4096).unwrap();
        drop(mine);
        ns.assert_empty();
    }

    /// As nobody: takes a Global mapping name and a Global mutex name first, open to all,
    /// and holds them until stdin closes.
    fn squat_global(name: &str, lock: &str) {
        let m = Mapping::options()
            .size(4096)
            .permissions(0o666)
            .create_new(name)
            .unwrap();
        m.view().map().unwrap().write_at(0, b"squatty").unwrap();
        let l =
            NamedMutex::create_new_with(lock, &ObjectOptions::new().permissions(0o666)).unwrap();
        println!("ready");
        std::io::stdout().flush().unwrap();
        wait_for_stdin_eof();
        drop((m, l));
    }

    // --- Permissions grant exactly what they say --------------------------------------

    fn permissions_grant_what_they_say() {
        let ns = shared_namespace();
        // (mode, nobody may read, nobody may write). nobody is not in root's group, so
        // the group bits grant it nothing.
        let cases = [
            (0o600, false, false),
            (0o640, false, false),
            (0o660, false, false),
            (0o644, true, false),
            (0o666, true, true),
        ];
        for (mode, read, write) in cases {
            let name = format!("Global\\{}", unique(&format!("mode{mode:o}")));
            let m = Mapping::options()
                .size(4096)
                .permissions(mode)
                .create_new(name.as_str())
                .unwrap();
            let meta = std::fs::metadata(ns.path().join(format!(
                "filemap.global.{}",
                name.trim_start_matches("Global\\")
            )))
            .unwrap();
            assert_eq!(meta.permissions().mode() & 0o7777, mode, "mode {mode:o}");
            for (access, allowed) in [("read", read), ("write", write)] {
                let expect = if allowed { "ok" } else { "denied" };
                run_as_nobody("open-with", &[&name, access, expect]);
            }
            if write {
                // What nobody wrote is really there.
                let v = m.view().map().unwrap().read_vec(0, 6).unwrap();
                assert_eq!(v, b"nobody", "mode {mode:o}");
            }
            drop(m);
        }
        // A mutex is always opened for writing: read-only access for others keeps them out.
        for (mode, outcome) in [(0o644, "denied"), (0o666, "ok")] {
            let lock = format!("Global\\{}", unique(&format!("lock{mode:o}")));
            let l =
                NamedMutex::create_new_with(lock.as_str(), &ObjectOptions::new().permissions(mode))
                    .unwrap();
            run_as_nobody("open-with", &[&lock, "mutex", outcome]);
            drop(l);
        }
        ns.assert_empty();
    }

    /// As nobody: opens `name` for `access` (read, write, mutex) and checks the outcome.
    fn open_with(name: &str, access: &str, expect: &str) {
        let result = match access {
            "read" => Mapping::open_with(name, Access::Read).and_then(|m| {
                m.view().map()?.read_vec(0, 1)?;
                Ok(())
            }),
            "write" => Mapping::open_with(name, Access::Write).and_then(|m| {
                m.view().map()?.write_at(0, b"nobody")?;
                Ok(())
            }),
            "mutex" => NamedMutex::open(name).and_then(|l| {
                drop(l.lock()?);
                Ok(())
            }),
            other => panic!("unknown access {other}"),
        };
        match (expect, result) {
            ("ok", Ok(())) => {}
            ("denied", Err(e @ Error::PermissionDenied { .. })) => {
                assert!(e.to_string().contains(name), "{e}")
            }
            (expect, other) => panic!("{access} {name}: expected {expect}, got {other:?}"),
        }
    }
}
