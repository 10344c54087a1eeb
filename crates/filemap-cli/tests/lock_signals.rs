//! `filemap lock` and the signals it passes on to its command: a terminal's Ctrl-C, which
//! reaches the whole foreground process group (the command too), is not passed on a second
//! time; a SIGINT another process sends to `lock` alone is, and each of two signals that
//! come together is passed on as it came. The terminal is a real pseudo terminal whose line
//! discipline turns a written Ctrl-C into the signal.
#![cfg(target_os = "linux")]

mod common;

use common::{Ns, PATIENCE, POLL, wait_within};
use rustix::fd::OwnedFd;
use rustix::process::{Pid, Signal, kill_process};
use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Instant;

/// The command `lock` runs: counts the SIGINTs and SIGTERMs it is sent (every delivery
/// writes its signal's number to its wake-up socket, however close together they come),
/// from the first one for a second, and writes the two counts into the file it is given
/// (`FILE.ready` once it is ready).
const COUNTER: &str = r#"
import signal, socket, sys, time
r, w = socket.socketpair()
r.setblocking(False)
w.setblocking(False)
signal.signal(signal.SIGINT, lambda *_: None)
signal.signal(signal.SIGTERM, lambda *_: None)
signal.set_wakeup_fd(w.fileno(), warn_on_full_buffer=False)
open(sys.argv[1] + ".ready", "w").close()
deadline, first, got = time.monotonic() + 60, None, b""
while time.monotonic() < deadline:
    time.sleep(0.01)
    try:
        got += r.recv(64)
    except BlockingIOError:
        pass
    if got and first is None:
        first = time.monotonic()
    if first is not None and time.monotonic() > first + 1:
        break
counts = (got.count(bytes([signal.SIGINT])), got.count(bytes([signal.SIGTERM])))
open(sys.argv[1], "w").write("%d %d" % counts)
"#;

/// A pseudo terminal: its master, and its slave's path.
fn pseudo_terminal() -> (OwnedFd, CString) {
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let slave = ptsname(&master, Vec::new()).unwrap();
    (master, slave)
}

/// `filemap lock NAME -- python3 COUNTER FILE`, started as the leader of a session whose
/// controlling terminal is `slave` (so `lock` and its command are the terminal's
/// foreground process group), once the counter is ready.
fn lock_on_terminal(ns: &Ns, name: &str, slave: &CString, file: &Path) -> Child {
    let mut cmd = ns.cmd(&[
        "lock",
        name,
        "--",
        "python3",
        "-c",
        COUNTER,
        file.to_str().unwrap(),
    ]);
    let slave = slave.clone();
    // SAFETY: between fork and exec the child only makes system calls (setsid, open,
    // ioctl), which are async-signal-safe; the path was made before the fork.
    unsafe {
        cmd.pre_exec(move || {
            rustix::process::setsid()?;
            let tty = rustix::fs::open(
                slave.as_c_str(),
                rustix::fs::OFlags::RDWR,
                rustix::fs::Mode::empty(),
            )?;
            rustix::process::ioctl_tiocsctty(&tty)?;
            Ok(())
        });
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let ready = file.with_extension("ready");
    let deadline = Instant::now() + PATIENCE;
    while !ready.exists() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("lock ended ({status}) before its command was ready");
        }
        assert!(Instant::now() < deadline, "the command never got ready");
        std::thread::sleep(POLL);
    }
    child
}

/// How many SIGINTs and SIGTERMs the counter of `lock` counted, once both have ended.
fn counted(mut lock: Child, file: &Path) -> String {
    let status = wait_within(&mut lock, "lock with its counting command");
    assert!(status.success(), "lock ended so: {status}");
    std::fs::read_to_string(file).unwrap()
}

/// Sends `signal` to `child` (by its pid: not reaped yet).
fn send(child: &Child, signal: Signal) {
    let pid = Pid::from_raw(child.id() as i32).unwrap();
    kill_process(pid, signal).unwrap();
}

#[test]
fn a_terminals_ctrl_c_reaches_the_command_once() {
    let ns = Ns::new();
    let dir = tempfile::tempdir().unwrap();
    let (master, slave) = pseudo_terminal();
    let file = dir.path().join("typed");
    let lock = lock_on_terminal(&ns, "typed", &slave, &file);
    // Ctrl-C typed on the terminal: its line discipline sends SIGINT to the foreground
    // process group, `lock` and its command both.
    assert_eq!(rustix::io::write(&master, b"\x03").unwrap(), 1);
    assert_eq!(
        counted(lock, &file),
        "1 0",
        "SIGINTs and SIGTERMs: the command got the terminal's Ctrl-C again from lock"
    );
    assert_eq!(ns.entries(), 0);
}

#[test]
fn a_sigterm_then_a_ctrl_c_each_reach_the_command_once() {
    let ns = Ns::new();
    let dir = tempfile::tempdir().unwrap();
    let (master, slave) = pseudo_terminal();
    let file = dir.path().join("both");
    let lock = lock_on_terminal(&ns, "both", &slave, &file);
    // Together: the SIGTERM is passed on, the Ctrl-C (which the command got itself) not.
    send(&lock, Signal::TERM);
    assert_eq!(rustix::io::write(&master, b"\x03").unwrap(), 1);
    assert_eq!(counted(lock, &file), "1 1", "SIGINTs and SIGTERMs");
    assert_eq!(ns.entries(), 0);
}

#[test]
fn a_sigint_sent_to_lock_alone_is_passed_on() {
    let ns = Ns::new();
    let dir = tempfile::tempdir().unwrap();
    let (_master, slave) = pseudo_terminal();
    let file = dir.path().join("sent");
    let lock = lock_on_terminal(&ns, "sent", &slave, &file);
    send(&lock, Signal::INT);
    assert_eq!(counted(lock, &file), "1 0", "SIGINTs and SIGTERMs");
    assert_eq!(ns.entries(), 0);
}
