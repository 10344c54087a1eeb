//! Cross-process tests: every test here runs real child processes (this binary re-run in a
//! role) against an isolated namespace directory, and checks that nothing is left behind.

#[path = "../common/mod.rs"]
mod common;

use std::io::Write;
use std::sync::atomic::Ordering;

use common::SpawnRetrying;
use common::{Namespace, child, role, run_child, run_tests, spawn_ready, unique};
use filemap::{Access, CommandExt, Disposition, Error, Mapping};

fn main() {
    if let Some((role, args)) = role() {
        std::process::exit(play(&role, &args));
    }
    let mut tests: Vec<(&str, fn())> = vec![
        (
            "writes_are_visible_across_processes",
            writes_are_visible_across_processes,
        ),
        (
            "two_views_are_coherent_across_processes",
            two_views_are_coherent_across_processes,
        ),
        (
            "create_or_open_across_processes",
            create_or_open_across_processes,
        ),
        (
            "object_lives_while_any_process_holds_it",
            object_lives_while_any_process_holds_it,
        ),
        (
            "a_mapping_inherited_by_two_children_lives_while_either_holds_it",
            a_mapping_inherited_by_two_children_lives_while_either_holds_it,
        ),
        (
            "shared_copies_kept_past_the_mapping_leave_no_name_behind",
            shared_copies_kept_past_the_mapping_leave_no_name_behind,
        ),
        (
            "a_shared_lifetime_copy_dropped_last_takes_the_name",
            a_shared_lifetime_copy_dropped_last_takes_the_name,
        ),
        (
            "view_keeps_object_alive_after_handle_drop",
            view_keeps_object_alive_after_handle_drop,
        ),
        ("read_only_open_cannot_write", read_only_open_cannot_write),
        (
            "named_file_mapping_opened_by_another_process",
            named_file_mapping_opened_by_another_process,
        ),
        ("flushed_file_data_is_on_disk", flushed_file_data_is_on_disk),
        (
            "killed_holders_never_block_the_name",
            killed_holders_never_block_the_name,
        ),
        (
            "racing_create_or_open_and_close",
            racing_create_or_open_and_close,
        ),
        (
            "unnamed_mapping_inherited_by_child",
            unnamed_mapping_inherited_by_child,
        ),
        (
            "named_mapping_inherited_keeps_it_alive",
            named_mapping_inherited_keeps_it_alive,
        ),
    ];
    #[cfg(unix)]
    tests.extend([
        (
            "gc_removes_entries_of_killed_holders",
            gc_removes_entries_of_killed_holders as fn(),
        ),
        (
            "persistent_object_survives_and_is_removed",
            persistent_object_survives_and_is_removed,
        ),
        (
            "mapping_sent_over_unix_socket",
            mapping_sent_over_unix_socket,
        ),
        (
            "replaced_or_missing_backing_file_is_refused",
            replaced_or_missing_backing_file_is_refused,
        ),
        (
            "a_last_close_never_removes_a_name_made_again",
            a_last_close_never_removes_a_name_made_again,
        ),
    ]);
    #[cfg(windows)]
    tests.push((
        "mapping_duplicated_into_another_process",
        mapping_duplicated_into_another_process,
    ));
    run_tests(&tests);
}

/// A name removed (`namespace::remove`) and made again while another process's last
/// handle of the old object closes stays the new object's: the close, which removes the
/// name once it finds itself the last holder, looked at the name before the removal and
/// removed it after the create (seen 3 to 5 times in 10 s of rounds before the removal held
/// the entry while it looked at the name and removed it). Rounds for at most 6 s.
#[cfg(unix)]
fn a_last_close_never_removes_a_name_made_again() {
    let ns = Namespace::new();
    let name = unique("made-again");
    let mut closer = spawn_ready("create-and-close", &[&name]);
    let started = std::time::Instant::now();
    let (mut rounds, mut lost) = (0u64, 0u64);
    while started.elapsed() < std::time::Duration::from_secs(6) && lost == 0 {
        let _ = filemap::namespace::remove(name.as_str());
        let Ok(made) = Mapping::create_new(&name, 4096) else {
            continue; // the closer's object, made again meanwhile
        };
        rounds += 1;
        std::thread::yield_now();
        if matches!(Mapping::open(&name), Err(Error::NotFound { .. })) {
            lost += 1;
        }
        drop(made);
    }
    drop(closer.stdin.take());
    assert!(closer.wait().unwrap().success());
    assert_eq!(
        lost, 0,
        "a live object's name was removed (in {rounds} rounds)"
    );
    assert!(rounds > 0, "no round made the object");
    println!("    {rounds} rounds");
    ns.assert_empty();
}

/// The child side of the tests. Returns the exit code.
fn play(role: &str, args: &[String]) -> i32 {
    let arg = |i: usize| args[i].as_str();
    let result: Result<(), String> = (|| {
        match role {
            "write" => {
                let m = Mapping::open(arg(0)).map_err(|e| e.to_string())?;
                let offset: u64 = arg(1).parse().unwrap();
                let v = m
                    .view()
                    .offset(offset)
                    .len(arg(2).len() as u64)
                    .map()
                    .map_err(|e| e.to_string())?;
                v.write_at(0, arg(2).as_bytes())
                    .map_err(|e| e.to_string())?;
                v.flush().map_err(|e| e.to_string())?;
            }
            "read" => {
                let m = Mapping::open_with(arg(0), Access::Read).map_err(|e| e.to_string())?;
                let offset: u64 = arg(1).parse().unwrap();
                let len: u64 = arg(2).parse().unwrap();
                let v = m
                    .view()
                    .offset(offset)
                    .len(len)
                    .map()
                    .map_err(|e| e.to_string())?;
                print!(
                    "{}",
                    String::from_utf8_lossy(&v.read_vec(0, len as usize).unwrap())
                );
            }
            "hold" => {
                // Holds a handle (creating the object if needed) until stdin closes.
                let (m, d) = Mapping::create_or_open(arg(0), 4096).map_err(|e| e.to_string())?;
                let v = m.view().map().map_err(|e| e.to_string())?;
                println!("ready");
                std::io::stdout().flush().unwrap();
                let _ = std::io::Read::read(&mut std::io::stdin(), &mut [0u8; 1]);
                drop((v, d));
            }
            "ping" => {
                // Waits for the parent's counter to reach 1, then sets it to 2. (The
                // deadline is a safety net against a parent that never stores: generous,
                // so that a loaded machine that does not run the parent for a while
                // cannot reach it; the wait yields so as not to take the parent's core.)
                let m = Mapping::open(arg(0)).map_err(|e| e.to_string())?;
                let v = m.view().len(8).map().map_err(|e| e.to_string())?;
                // SAFETY: bytes 0..8 are reached only as this word (here and in the
                // parent), and the test's mapping is not cut short.
                let a = unsafe { v.atomic_u64(0) }.map_err(|e| e.to_string())?;
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
                while a.load(Ordering::Acquire) != 1 {
                    if std::time::Instant::now() > deadline {
                        return Err("timed out waiting for 1".into());
                    }
                    std::thread::yield_now();
                }
                a.store(2, Ordering::Release);
            }
            "readonly" => {
                let m = Mapping::open_with(arg(0), Access::Read).map_err(|e| e.to_string())?;
                match m.view().access(Access::Write).map() {
                    Err(Error::AccessNotAllowed { .. }) => {}
                    other => return Err(format!("write view on read-only handle: {other:?}")),
                }
                let v = m.view().map().map_err(|e| e.to_string())?;
                match v.write_at(0, b"x") {
                    Err(Error::ViewNotWritable { .. }) => {}
                    other => return Err(format!("write_at on read view: {other:?}")),
                }
                // A copy view of a read-only handle can be written, privately.
                let c = m
                    .view()
                    .access(Access::Copy)
                    .map()
                    .map_err(|e| e.to_string())?;
                c.write_at(0, b"private").map_err(|e| e.to_string())?;
                print!("{}", String::from_utf8_lossy(&v.read_vec(0, 7).unwrap()));
            }
            "race" => {
                let iterations: usize = arg(1).parse().unwrap();
                for i in 0..iterations {
                    let (m, _) = Mapping::create_or_open(arg(0), 8192)
                        .map_err(|e| format!("iteration {i}: {e}"))?;
                    if m.len() != 8192 {
                        return Err(format!("iteration {i}: torn object of size {}", m.len()));
                    }
                    let v = m.view().map().map_err(|e| format!("iteration {i}: {e}"))?;
                    v.fetch_add_u64(0, 1, Ordering::Relaxed).unwrap();
                }
            }
            #[cfg(unix)]
            "create-and-close" => {
                // Makes the object (or opens it) and closes it, as the last holder when
                // nobody else holds it, until its standard input closes.
                println!("ready");
                std::io::stdout().flush().unwrap();
                let stop = std::sync::atomic::AtomicBool::new(false);
                std::thread::scope(|s| {
                    s.spawn(|| {
                        let _ = std::io::Read::read(&mut std::io::stdin(), &mut [0u8; 1]);
                        stop.store(true, Ordering::Relaxed);
                    });
                    while !stop.load(Ordering::Relaxed) {
                        drop(Mapping::create_or_open(arg(0), 4096));
                    }
                });
            }
            "inherited" => {
                let m = Mapping::from_inherited(arg(0)).map_err(|e| e.to_string())?;
                let v = m.view().map().map_err(|e| e.to_string())?;
                let text = String::from_utf8_lossy(&v.read_vec(0, 5).unwrap()).into_owned();
                v.write_at(0, b"reply").map_err(|e| e.to_string())?;
                print!("{text}");
                if arg(1) == "hold" {
                    println!();
                    println!("ready");
                    std::io::stdout().flush().unwrap();
                    let _ = std::io::Read::read(&mut std::io::stdin(), &mut [0u8; 1]);
                }
            }
            #[cfg(windows)]
            "duplicated" => {
                // One token a line, each taken in turn (the handle values of later ones
                // are those of earlier ones, closed meanwhile).
                for token in std::io::stdin().lines() {
                    let token = token.map_err(|e| e.to_string())?;
                    // SAFETY: the token is one the parent's duplicate_into made for this
                    // process, read once from the pipe the parent writes it to.
                    let m = unsafe { Mapping::from_duplicated(token.trim()) }
                        .map_err(|e| e.to_string())?;
                    let v = m.view().map().map_err(|e| e.to_string())?;
                    let text = String::from_utf8_lossy(&v.read_vec(0, 4).unwrap()).into_owned();
                    v.write_at(0, b"pong").map_err(|e| e.to_string())?;
                    // Closed before the answer: the parent's next token comes after.
                    drop((v, m));
                    println!("{text}");
                    std::io::stdout().flush().unwrap();
                }
            }
            #[cfg(unix)]
            "socket-recv" => {
                let s =
                    std::os::unix::net::UnixStream::connect(arg(0)).map_err(|e| e.to_string())?;
                if arg(1) == "passcred" {
                    // The kernel then adds the sender's credentials to every message.
                    use std::os::fd::AsRawFd;
                    let on: libc::c_int = 1;
                    // SAFETY: sets an option of this process's socket from a local int.
                    let r = unsafe {
                        libc::setsockopt(
                            s.as_raw_fd(),
                            libc::SOL_SOCKET,
                            libc::SO_PASSCRED,
                            (&on as *const libc::c_int).cast(),
                            size_of::<libc::c_int>() as libc::socklen_t,
                        )
                    };
                    if r != 0 {
                        return Err(format!("SO_PASSCRED: {}", std::io::Error::last_os_error()));
                    }
                }
                let m = Mapping::recv_from(&s).map_err(|e| e.to_string())?;
                let v = m.view().map().map_err(|e| e.to_string())?;
                let text = String::from_utf8_lossy(&v.read_vec(0, 4).unwrap()).into_owned();
                v.write_at(0, b"pong").map_err(|e| e.to_string())?;
                print!("{text}");
            }
            other => return Err(format!("unknown role {other}")),
        }
        Ok(())
    })();
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("child {role}: {e}");
            1
        }
    }
}

fn writes_are_visible_across_processes() {
    let ns = Namespace::new();
    let name = unique("visible");
    let m = Mapping::create_new(&name, 100_000).unwrap();
    run_child("write", &[&name, "70001", "from the child"]);
    let v = m.view().map().unwrap();
    assert_eq!(v.read_vec(70001, 14).unwrap(), b"from the child");
    v.write_at(99_990, b"from parent").unwrap_err(); // 11 bytes past the end: error
    v.write_at(99_989, b"from parent").unwrap();
    assert_eq!(run_child("read", &[&name, "99989", "11"]), "from parent");
    drop((v, m));
    ns.assert_empty();
}

fn two_views_are_coherent_across_processes() {
    let ns = Namespace::new();
    let name = unique("coherent");
    let m = Mapping::create_new(&name, 3 * 65536).unwrap();
    // Two views of the same bytes at different, unaligned offsets.
    let a = m.view().offset(65536 + 8).len(64).map().unwrap();
    let b = m.view().offset(65536).len(128).map().unwrap();
    a.write_at(0, b"seen by b").unwrap();
    assert_eq!(b.read_vec(8, 9).unwrap(), b"seen by b");
    // A flag through an atomic, answered by another process.
    let flag = m.view().len(8).map().unwrap();
    let mut c = child("ping", &[&name]).spawn_retrying();
    flag.store_u64(0, 1, Ordering::Release).unwrap();
    assert!(c.wait().unwrap().success());
    assert_eq!(flag.load_u64(0, Ordering::Acquire).unwrap(), 2);
    drop((a, b, flag, m));
    ns.assert_empty();
}

fn create_or_open_across_processes() {
    let ns = Namespace::new();
    let name = unique("cor");
    let mut holder = spawn_ready("hold", &[&name]);
    let (m, d) = Mapping::create_or_open(&name, 1 << 20).unwrap();
    assert_eq!(d, Disposition::Opened);
    assert_eq!(m.len(), 4096, "an opened object keeps its own size");
    assert!(matches!(
        Mapping::create_new(&name, 10),
        Err(Error::AlreadyExists { .. })
    ));
    drop(holder.stdin.take());
    assert!(holder.wait().unwrap().success());
    drop(m);
    ns.assert_empty();
}

fn object_lives_while_any_process_holds_it() {
    let ns = Namespace::new();
    let name = unique("lifetime");
    let m = Mapping::create_new(&name, 4096).unwrap();
    m.view().map().unwrap().write_at(0, b"kept").unwrap();
    let mut holder = spawn_ready("hold", &[&name]);
    drop(m);
    // The child still holds it: it can still be opened, with its data.
    assert_eq!(run_child("read", &[&name, "0", "4"]), "kept");
    drop(holder.stdin.take());
    assert!(holder.wait().unwrap().success());
    assert!(matches!(Mapping::open(&name), Err(Error::NotFound { .. })));
    ns.assert_empty();
}

fn view_keeps_object_alive_after_handle_drop() {
    let ns = Namespace::new();
    let name = unique("viewalive");
    let m = Mapping::create_new(&name, 4096).unwrap();
    let v = m.view().map().unwrap();
    drop(m);
    v.write_at(0, b"still here").unwrap();
    assert_eq!(run_child("read", &[&name, "0", "10"]), "still here");
    drop(v);
    assert!(matches!(Mapping::open(&name), Err(Error::NotFound { .. })));
    ns.assert_empty();
}

fn read_only_open_cannot_write() {
    let ns = Namespace::new();
    let name = unique("ro");
    let m = Mapping::create_new(&name, 4096).unwrap();
    let v = m.view().map().unwrap();
    v.write_at(0, b"shared!").unwrap();
    // The child's private copy-view write does not reach the object.
    assert_eq!(run_child("readonly", &[&name]), "shared!");
    assert_eq!(v.read_vec(0, 7).unwrap(), b"shared!");
    drop((v, m));
    ns.assert_empty();
}

fn named_file_mapping_opened_by_another_process() {
    let ns = Namespace::new();
    let files = tempfile::tempdir().unwrap();
    let path = files.path().join("data.bin");
    std::fs::write(&path, vec![b'.'; 10_000]).unwrap();
    let name = unique("filemap");
    let m = Mapping::from_path(&path).name(&name).create().unwrap();
    assert!(m.is_file_backed());
    run_child("write", &[&name, "5000", "via name"]);
    let v = m.view().map().unwrap();
    assert_eq!(v.read_vec(5000, 8).unwrap(), b"via name");
    // The file is the one written: read it back with std::fs after the child's flush.
    assert_eq!(&std::fs::read(&path).unwrap()[5000..5008], b"via name");
    drop((v, m));
    assert!(matches!(Mapping::open(&name), Err(Error::NotFound { .. })));
    ns.assert_empty();
}

#[cfg(unix)]
fn replaced_or_missing_backing_file_is_refused() {
    let ns = Namespace::new();
    let files = tempfile::tempdir().unwrap();
    let path = files.path().join("data.bin");
    std::fs::write(&path, vec![b'.'; 10_000]).unwrap();
    let name = unique("replaced");
    let m = Mapping::from_path(&path).name(&name).create().unwrap();
    // Replace the file under the same path: openers notice.
    std::fs::rename(&path, files.path().join("old.bin")).unwrap();
    std::fs::write(&path, vec![0u8; 10_000]).unwrap();
    match Mapping::open(&name) {
        Err(Error::BackingFile {
            problem: filemap::BackingFileProblem::Replaced,
            ..
        }) => {}
        other => panic!("expected BackingFile Replaced, got {other:?}"),
    }
    std::fs::remove_file(&path).unwrap();
    match Mapping::open(&name) {
        Err(Error::BackingFile {
            problem: filemap::BackingFileProblem::Missing,
            ..
        }) => {}
        other => panic!("expected BackingFile Missing, got {other:?}"),
    }
    drop(m);
    ns.assert_empty();
    // A persistent entry whose file is gone (or only looks gone to this process: another
    // mount namespace, a file system not mounted yet) is not garbage: it stays until it
    // is removed by name (before, `gc` removed it).
    std::fs::write(&path, vec![b'.'; 10_000]).unwrap();
    let name = unique("persistent-file-gone");
    let m = Mapping::from_path(&path)
        .name(&name)
        .persistent(true)
        .create()
        .unwrap();
    drop(m);
    std::fs::remove_file(&path).unwrap();
    let collected = filemap::namespace::collect_garbage(false).unwrap();
    assert!(collected.is_empty(), "{collected:?}");
    filemap::namespace::remove(&name).unwrap();
    ns.assert_empty();
}

fn flushed_file_data_is_on_disk() {
    let ns = Namespace::new();
    let files = tempfile::tempdir().unwrap();
    let path = files.path().join("grow.bin");
    std::fs::write(&path, b"start").unwrap();
    // Size larger than the file: the file grows.
    let m = Mapping::from_path(&path)
        .size(3 * 4096 + 17)
        .create()
        .unwrap();
    let v = m.view().offset(4096 * 3).map().unwrap();
    assert_eq!(v.len(), 17);
    v.write_at(0, b"the end is here!!").unwrap();
    v.flush().unwrap();
    v.flush_async().unwrap();
    v.flush_range(3, 4).unwrap();
    assert!(v.flush_range(10, 10).is_err());
    let on_disk = std::fs::read(&path).unwrap();
    assert_eq!(on_disk.len(), 3 * 4096 + 17);
    assert_eq!(&on_disk[..5], b"start");
    assert_eq!(&on_disk[3 * 4096..], b"the end is here!!");
    drop((v, m));
    ns.assert_empty();
}

fn kill_9(children: Vec<std::process::Child>) {
    for mut c in children {
        c.kill().unwrap(); // SIGKILL
        c.wait().unwrap();
    }
}

fn killed_holders_never_block_the_name() {
    let ns = Namespace::new();
    let name = unique("stale");
    let holders = vec![spawn_ready("hold", &[&name]), spawn_ready("hold", &[&name])];
    kill_9(holders);
    #[cfg(unix)]
    {
        // Every holder died without closing: the entry is stale, not blocking the name.
        assert_eq!(ns.entries().len(), 1, "the dead holders left their entry");
        let info = filemap::namespace::info(name.as_str()).unwrap();
        assert!(info.stale && info.holders == Some(vec![]), "{info:?}");
    }
    // The next create reclaims the name (Windows: the kernel already removed the object).
    let m = Mapping::create_new(&name, 8192).unwrap();
    assert_eq!(m.len(), 8192);
    drop(m);
    ns.assert_empty();
    // And the next open finds nothing (reclaiming a stale entry on Linux).
    kill_9(vec![spawn_ready("hold", &[&name])]);
    assert!(matches!(Mapping::open(&name), Err(Error::NotFound { .. })));
    ns.assert_empty();
}

#[cfg(unix)]
fn gc_removes_entries_of_killed_holders() {
    let ns = Namespace::new();
    let names: Vec<String> = (0..3).map(|i| unique(&format!("gc{i}"))).collect();
    let holders: Vec<_> = names.iter().map(|n| spawn_ready("hold", &[n])).collect();
    let live = unique("live");
    let keep = Mapping::create_new(&live, 4096).unwrap();
    kill_9(holders);
    let dry = filemap::namespace::collect_garbage(true).unwrap();
    assert_eq!(dry.len(), 3);
    assert!(dry.iter().all(|c| !c.removed));
    assert_eq!(ns.entries().len(), 4);
    let done = filemap::namespace::collect_garbage(false).unwrap();
    assert_eq!(done.len(), 3);
    assert!(done.iter().all(|c| c.removed && c.reason.contains("stale")));
    assert_eq!(ns.entries().len(), 1, "the live object stays");
    drop(keep);
    ns.assert_empty();
}

#[cfg(unix)]
fn persistent_object_survives_and_is_removed() {
    let ns = Namespace::new();
    let name = unique("persist");
    let m = Mapping::options()
        .size(4096)
        .persistent(true)
        .create_new(&name)
        .unwrap();
    m.view().map().unwrap().write_at(0, b"durable").unwrap();
    drop(m);
    assert_eq!(run_child("read", &[&name, "0", "7"]), "durable");
    // Nobody holds it, but it is persistent: gc leaves it.
    assert!(
        filemap::namespace::collect_garbage(false)
            .unwrap()
            .is_empty()
    );
    assert_eq!(ns.entries().len(), 1);
    Mapping::remove(&name).unwrap();
    ns.assert_empty();
    assert!(matches!(Mapping::open(&name), Err(Error::NotFound { .. })));
}

fn racing_create_or_open_and_close() {
    let ns = Namespace::new();
    let name = unique("race");
    let children: Vec<_> = (0..8)
        .map(|_| child("race", &[&name, "500"]).spawn_retrying())
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success(), "a racing child failed");
    }
    ns.assert_empty();
}

fn unnamed_mapping_inherited_by_child() {
    let ns = Namespace::new();
    let m = Mapping::unnamed(4096).unwrap();
    let v = m.view().map().unwrap();
    v.write_at(0, b"hello").unwrap();
    let mut cmd = child("inherited", &["data", "exit"]);
    let shared = cmd.share_mapping("data", &m).unwrap();
    let out = cmd.output().unwrap();
    drop(shared);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello");
    assert_eq!(v.read_vec(0, 5).unwrap(), b"reply");
    // A child without the handle gets a clear error.
    let out = child("inherited", &["other", "exit"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("FILEMAP_SHARED_other"));
    drop((v, m));
    ns.assert_empty();
}

/// A named mapping `name` holding "named", and a command whose children inherit it as
/// "data", say what they read and "ready", and hold it until their standard input closes.
fn inherited_by_holders(name: &str) -> (Mapping, std::process::Command, filemap::SharedHandles) {
    let m = Mapping::create_new(name, 4096).unwrap();
    m.view().map().unwrap().write_at(0, b"named").unwrap();
    let mut cmd = child("inherited", &["data", "hold"]);
    let shared = cmd.share_mapping("data", &m).unwrap();
    cmd.stdout(std::process::Stdio::piped())
        .stdin(std::process::Stdio::piped());
    (m, cmd, shared)
}

/// Waits for a holder of `inherited_by_holders` to say "ready"; what it read.
fn wait_ready(c: &mut std::process::Child) -> String {
    let mut out = std::io::BufReader::new(c.stdout.take().unwrap());
    let mut read = String::new();
    std::io::BufRead::read_line(&mut out, &mut read).unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    read.trim().to_string()
}

/// Two children started from one `Command` with a shared mapping each hold it: the first
/// to close its handle leaves the name to the other. (On Linux both inherited the one
/// open file description `share_mapping` made, and so one lifetime lock: the first to
/// close converted it to exclusive unopposed and removed the name under the other.)
fn a_mapping_inherited_by_two_children_lives_while_either_holds_it() {
    let ns = Namespace::new();
    let name = unique("inherit-twice");
    let (m, mut cmd, shared) = inherited_by_holders(&name);
    let mut children = [cmd.spawn_retrying(), cmd.spawn_retrying()];
    drop((cmd, shared));
    for c in &mut children {
        wait_ready(c);
    }
    drop(m);
    let [mut first, mut second] = children;
    drop(first.stdin.take());
    assert!(first.wait().unwrap().success());
    // Only the second child holds it now: still openable by name.
    assert_eq!(run_child("read", &[&name, "0", "5"]), "reply");
    drop(second.stdin.take());
    assert!(second.wait().unwrap().success());
    ns.assert_empty();
}

/// The parent's copies of a shared mapping's handles (the guard, the `Command`) kept past
/// the parent's own handle hold the object as a handle does, and the last of them to go
/// takes the name with it. (On Linux they held the entry's lock but ran no last-handle
/// check when closed, so the name stayed after every holder had gone.)
fn shared_copies_kept_past_the_mapping_leave_no_name_behind() {
    let ns = Namespace::new();
    let name = unique("inherit-kept");
    let (m, mut cmd, shared) = inherited_by_holders(&name);
    let mut c = cmd.spawn_retrying();
    wait_ready(&mut c);
    drop(m);
    drop(c.stdin.take());
    assert!(c.wait().unwrap().success());
    // The parent's copies still hold it (for children to come), as a handle does.
    drop(Mapping::open(&name).unwrap());
    // With them the last holder is gone, and the name with it.
    drop((cmd, shared));
    assert!(matches!(Mapping::open(&name), Err(Error::NotFound { .. })));
    ns.assert_empty();
}

/// A mutex whose lifetime a `Command`'s children share (`share_lifetime_with`) goes with
/// its last holder whatever the order: here the parent's copy (the guard's, the
/// `Command`'s), dropped after the mutex and the child. (That copy ran no last-handle
/// check when it closed, so the name stayed after every holder had gone.)
fn a_shared_lifetime_copy_dropped_last_takes_the_name() {
    let ns = Namespace::new();
    let name = unique("lifetime-kept");
    let mutex = filemap::sync::NamedMutex::create_new(name.as_str()).unwrap();
    let mut cmd = child("race", &[&name, "0"]);
    let guard = mutex.share_lifetime_with(&mut cmd).unwrap();
    assert!(cmd.status().unwrap().success());
    drop(mutex);
    drop((guard, cmd));
    ns.assert_empty();
}

fn named_mapping_inherited_keeps_it_alive() {
    let ns = Namespace::new();
    let name = unique("inherit");
    let (m, mut cmd, shared) = inherited_by_holders(&name);
    let mut c = cmd.spawn_retrying();
    drop((cmd, shared)); // the parent's copies of the shared handles close
    assert_eq!(wait_ready(&mut c), "named");
    drop(m);
    // Only the child's inherited handle holds it now: still openable by name.
    assert_eq!(run_child("read", &[&name, "0", "5"]), "reply");
    drop(c.stdin.take());
    assert!(c.wait().unwrap().success());
    // The child's handle was the last one: the name is gone with it.
    ns.assert_empty();
}

#[cfg(unix)]
fn mapping_sent_over_unix_socket() {
    let ns = Namespace::new();
    let sock_dir = tempfile::tempdir().unwrap();
    let sock = sock_dir.path().join("s");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    // (A receiving socket set to SO_PASSCRED gets the sender's credentials with every
    // message: they took the room of the descriptors, which the kernel then dropped.)
    for (named, passcred) in [(false, false), (true, false), (true, true)] {
        let m = if named {
            Mapping::create_new(unique("sock"), 4096).unwrap()
        } else {
            Mapping::unnamed(4096).unwrap()
        };
        let v = m.view().map().unwrap();
        v.write_at(0, b"ping").unwrap();
        let option = if passcred { "passcred" } else { "plain" };
        let c = child("socket-recv", &[sock.to_str().unwrap(), option])
            .stdout(std::process::Stdio::piped())
            .spawn_retrying();
        let (stream, _) = listener.accept().unwrap();
        m.send_to(&stream).unwrap();
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stdout), "ping");
        assert_eq!(v.read_vec(0, 4).unwrap(), b"pong");
    }
    ns.assert_empty();
}

#[cfg(windows)]
fn mapping_duplicated_into_another_process() {
    use std::os::windows::io::AsHandle;
    let _ns = Namespace::new();
    for named in [false, true] {
        let name = unique("dup");
        let m = if named {
            Mapping::create_new(&name, 4096).unwrap()
        } else {
            Mapping::unnamed(4096).unwrap()
        };
        let v = m.view().map().unwrap();
        v.write_at(0, b"ping").unwrap();
        let mut c = child("duplicated", &[])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn_retrying();
        let mut stdin = c.stdin.take().unwrap();
        let mut stdout = std::io::BufReader::new(c.stdout.take().unwrap());
        // Three tokens in turn: the child closes each mapping before the next token, so the
        // next handle it gets has the same value (a value is taken again and again).
        let mut values = Vec::new();
        for round in 0..3 {
            v.write_at(0, b"ping").unwrap();
            let token = m.duplicate_into(c.as_handle()).unwrap();
            values.push(token.rsplit(' ').next().unwrap_or_default().to_string());
            writeln!(stdin, "{token}").unwrap();
            let mut line = String::new();
            std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
            assert_eq!(line.trim(), "ping", "round {round}");
            assert_eq!(v.read_vec(0, 4).unwrap(), b"pong");
        }
        drop(stdin);
        assert!(c.wait().unwrap().success());
        println!("    handle values taken in turn: {values:?}");
        // The point of the test: a value taken before is taken again.
        let mut distinct = values.clone();
        distinct.sort();
        distinct.dedup();
        assert!(
            distinct.len() < values.len(),
            "no value came again: {values:?}"
        );
    }
}
