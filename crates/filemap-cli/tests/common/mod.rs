//! Helpers shared by the CLI's integration tests: a namespace directory of each test's
//! own, the `filemap` binary run in it, and bounded waits for the processes it starts.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a test waits for another process to get somewhere (a holder to hold, a waiter
/// to wait, a command to finish): a safety net that turns a hang into a failure, never
/// reached when things work, however loaded the machine.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// How long a test pauses between two looks while it polls for a condition.
pub const POLL: Duration = Duration::from_millis(10);

/// How long the waiting commands the tests start wait at most: longer than `PATIENCE`, so
/// they outlast any test that works, and bounded, so that one a failed test leaves behind
/// ends on its own.
pub const WAITER_TIMEOUT: &str = "5m";

/// Runs `start` (a spawn or an output of a command), again if it failed to start the
/// process: Wine's process creation fails now and then under load with
/// ERROR_INTERNAL_ERROR (1359), and the command then never ran (the soak does the same).
pub fn retrying_wine_starts<T>(mut start: impl FnMut() -> std::io::Result<T>) -> T {
    let mut attempt = 0;
    loop {
        match start() {
            Err(e) if cfg!(windows) && e.raw_os_error() == Some(1359) && attempt < 5 => {
                eprintln!("starting a process failed ({e}), retrying");
                attempt += 1;
                std::thread::sleep(Duration::from_millis(200));
            }
            result => return result.unwrap(),
        }
    }
}

/// A child process that is killed and reaped when dropped, on every path (an assertion
/// that fails while it runs included): a test leaves nothing running. It derefs to the
/// `Child`.
pub struct Reaped(Option<Child>);

impl Reaped {
    pub fn new(child: Child) -> Reaped {
        Reaped(Some(child))
    }

    /// The child, no longer killed when this goes: the caller ends it.
    pub fn into_inner(mut self) -> Child {
        self.0.take().expect("taken once")
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl std::ops::Deref for Reaped {
    type Target = Child;
    fn deref(&self) -> &Child {
        self.0.as_ref().expect("not taken")
    }
}

impl std::ops::DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut Child {
        self.0.as_mut().expect("not taken")
    }
}

/// `Command::spawn` through [`retrying_wine_starts`].
pub trait SpawnRetrying {
    fn spawn_retrying(&mut self) -> Child;
}

impl SpawnRetrying for Command {
    fn spawn_retrying(&mut self) -> Child {
        retrying_wine_starts(|| self.spawn())
    }
}

/// Waits for `child` to exit; past `PATIENCE`, kills it and fails the test.
pub fn wait_within(child: &mut Child, what: &str) -> ExitStatus {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {PATIENCE:?}");
        }
        std::thread::sleep(POLL);
    }
}

/// A `filemap lock NAME -- filemap event wait RELEASE` started by [`Ns::hold_lock`]: it
/// holds the lock until RELEASE is set. Dropping it sets RELEASE too, so that the waiting
/// command ends even when the test killed `lock` or failed.
pub struct LockHolder {
    pub child: Child,
    /// `filemap event set RELEASE`.
    release: Command,
}

impl LockHolder {
    /// Lets the holder go: its command ends, then `lock`, which exits 0.
    pub fn release(mut self) {
        let out = self.release.output().unwrap();
        assert!(
            out.status.success(),
            "event set: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let status = wait_within(&mut self.child, "filemap lock, released");
        assert!(status.success(), "filemap lock, released: {status}");
    }
}

impl Drop for LockHolder {
    fn drop(&mut self) {
        let _ = self.release.output();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Ns(pub tempfile::TempDir);

impl Ns {
    pub fn new() -> Ns {
        let base = if Path::new("/dev/shm").is_dir() {
            std::path::PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        Ns(tempfile::Builder::new()
            .prefix("filemap-cli-test-")
            .tempdir_in(base)
            .unwrap())
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_filemap"));
        c.args(args).env("FILEMAP_DIR", self.0.path());
        c
    }

    /// Starts `filemap args` with its standard input, output and error each made by
    /// `io` (`Stdio::piped` or `Stdio::null`), killed if the test fails before it ends.
    pub fn start(&self, args: &[&str], io: fn() -> Stdio) -> Reaped {
        Reaped::new(
            self.cmd(args)
                .stdin(io())
                .stdout(io())
                .stderr(io())
                .spawn_retrying(),
        )
    }

    /// Points this test process's own filemap objects at this namespace until the guard
    /// drops. The guard keeps the other tests of the program that do the same waiting:
    /// the variable is the process's, one namespace at a time.
    pub fn enter(&self) -> std::sync::MutexGuard<'static, ()> {
        static ENTERED: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let guard = ENTERED.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: the threads of these test programs read the environment only through
        // `std::env` (filemap reads FILEMAP_DIR so, and `Command` takes the environment
        // so), whose lock orders each read against this write; none calls C code that
        // reads it (no name resolution, no time zones). (On Windows the write is
        // thread-safe in any case.)
        unsafe { std::env::set_var("FILEMAP_DIR", self.0.path()) };
        guard
    }

    pub fn run(&self, args: &[&str]) -> Output {
        retrying_wine_starts(|| self.cmd(args).stdin(Stdio::null()).output())
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "filemap {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    #[cfg_attr(windows, allow(dead_code))]
    pub fn with_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        let mut c = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn_retrying();
        // A command that fails before it reads (no such object, say) closes its input
        // first: the write then meets a broken pipe, and its exit is what is tested.
        match c.stdin.take().unwrap().write_all(input) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other.unwrap(),
        }
        c.wait_with_output().unwrap()
    }

    #[cfg(unix)]
    pub fn entries(&self) -> usize {
        std::fs::read_dir(self.0.path()).unwrap().count()
    }

    /// Starts `filemap lock NAME -- filemap event wait NAME-release` and waits until it
    /// holds the lock; it holds it until released (see [`LockHolder`]). The handshake:
    /// `lock` runs its command only while it holds the lock, and `event wait` creates its
    /// event before it waits, so once the event exists the lock is held. (`event reset`
    /// succeeds exactly when the event exists; nobody has set it, so it changes nothing.)
    pub fn hold_lock(&self, name: &str) -> LockHolder {
        let release = format!("{name}-release");
        let me = env!("CARGO_BIN_EXE_filemap");
        let child = self
            .cmd(&[
                "lock",
                name,
                "--",
                me,
                "event",
                "wait",
                &release,
                "--timeout",
                WAITER_TIMEOUT,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn_retrying();
        let mut set = self.cmd(&["event", "set", &release]);
        set.stdin(Stdio::null());
        let mut holder = LockHolder {
            child,
            release: set,
        };
        let deadline = Instant::now() + PATIENCE;
        while !self.run(&["event", "reset", &release]).status.success() {
            if let Some(status) = holder.child.try_wait().unwrap() {
                panic!("filemap lock {name} ended before it held the lock: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "filemap lock {name} did not hold the lock within {PATIENCE:?}"
            );
            std::thread::sleep(POLL);
        }
        holder
    }

    /// Runs `filemap args` like [`Ns::run`], for a command that must not block: past
    /// `PATIENCE` it is killed and the test fails, instead of hanging. (Its output is read
    /// once it has exited, so it must fit in a pipe.)
    #[cfg(unix)]
    pub fn run_within(&self, args: &[&str]) -> Output {
        let mut c = self
            .cmd(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn_retrying();
        wait_within(&mut c, &format!("filemap {args:?}"));
        c.wait_with_output().unwrap()
    }

    /// Starts `filemap hold` and waits until it holds the object.
    pub fn hold(&self, args: &[&str]) -> Child {
        let mut c = Reaped::new(
            self.cmd(args)
                .stdin(Stdio::null())
                .stderr(Stdio::piped())
                .spawn_retrying(),
        );
        let mut line = String::new();
        BufReader::new(c.stderr.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.contains("holding"), "{line}");
        // Held: handed over to the caller, which ends it.
        c.into_inner()
    }
}

pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}
