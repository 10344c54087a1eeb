//! Helpers shared by the integration tests: an isolated namespace directory per test
//! binary or per test, unique names, and child processes that re-run the test binary in a
//! given role.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// A namespace directory of the tests' own (`FILEMAP_DIR`), removed on drop. On Windows
/// the namespace is the kernel's and cannot be listed: tests there check that their names
/// are gone by opening them.
pub struct Namespace {
    dir: tempfile::TempDir,
}

impl Namespace {
    /// A fresh directory in `/dev/shm` (tmpfs, like the real namespace), made the
    /// namespace of this process and of the children it spawns from now on.
    pub fn new() -> Namespace {
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = tempfile::Builder::new()
            .prefix("filemap-test-")
            .tempdir_in(base)
            .expect("create a test namespace directory");
        set_env("FILEMAP_DIR", dir.path());
        Namespace { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The file names in the directory.
    pub fn entries(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.dir.path())
            .expect("list the test namespace")
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// Checks that nothing is left: on Linux, in the namespace directory; on Windows, where
    /// the kernel removes an object with its last handle, no object this process named
    /// (with [`unique`]'s prefix) in the session's namespace, as `filemap ls` lists it (a
    /// handle left open somewhere keeps its object there).
    pub fn assert_empty(&self) {
        if cfg!(unix) {
            assert_eq!(self.entries(), Vec::<String>::new(), "entries left behind");
        } else {
            let mine = format!("t{}-", std::process::id());
            let left: Vec<String> = filemap::namespace::list()
                .expect("list the namespace")
                .into_iter()
                .map(|entry| entry.name)
                .filter(|name| name.contains(&mine))
                .collect();
            assert_eq!(left, Vec::<String>::new(), "objects left behind");
        }
    }
}

/// A Local entry's file in the namespace directory, opened for reading and writing, as a
/// process outside the protocol (or a hostile one) reaches its words (Linux).
#[cfg(unix)]
pub struct EntryFile(std::fs::File);

#[cfg(unix)]
impl EntryFile {
    pub fn open(ns: &Namespace, name: &str) -> EntryFile {
        let uid = rustix::process::geteuid().as_raw();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(ns.path().join(format!("filemap.u{uid}.{name}")))
            .expect("open the entry's file");
        EntryFile(file)
    }

    /// The entry's file.
    #[allow(dead_code)] // not every test binary locks one
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self.0)
    }

    /// Where the entry's data area starts (the header's word at 32).
    pub fn data_offset(&self) -> u64 {
        u64::from_le_bytes(self.read(32))
    }

    pub fn read<const N: usize>(&self, at: u64) -> [u8; N] {
        use std::os::unix::fs::FileExt;
        let mut bytes = [0u8; N];
        self.0
            .read_exact_at(&mut bytes, at)
            .expect("read the entry");
        bytes
    }

    pub fn write(&self, at: u64, bytes: &[u8]) {
        use std::os::unix::fs::FileExt;
        self.0.write_all_at(bytes, at).expect("write the entry");
    }
}

/// Checks that a slot of 4 bytes refuses a copy of 3 bytes and one of 5 (`copy`, its
/// `copy_from_slice`) with `InvalidSize`, not a panic.
pub fn copies_of_another_length_are_refused(mut copy: impl FnMut(&[u8]) -> filemap::Result<()>) {
    for wrong in [&b"abc"[..], b"abcde"] {
        match copy(wrong) {
            Err(filemap::Error::InvalidSize { size, .. }) if size == wrong.len() as u64 => {}
            other => panic!(
                "a copy of {} bytes into a slot of 4: {other:?}",
                wrong.len()
            ),
        }
    }
}

/// Sets the length of the file at `path`, as another process cutting it short (or growing
/// it back) would.
pub fn cut_to(path: &Path, len: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// Sets an environment variable of this test process: `FILEMAP_DIR`, or a handle
/// description that a test forges.
pub fn set_env(key: &str, value: impl AsRef<std::ffi::OsStr>) {
    // SAFETY: the threads of these test programs read the environment only through
    // `std::env` (filemap reads FILEMAP_DIR and FILEMAP_SHARED_* so, and `Command` takes
    // the environment so), whose lock orders each read against this write; none calls C
    // code that reads it (no name resolution, no time zones). (On Windows the write is
    // thread-safe in any case.)
    unsafe { std::env::set_var(key, value) };
}

/// Removes an environment variable of this test process (see [`set_env`]).
pub fn remove_env(key: &str) {
    // SAFETY: as in `set_env`.
    unsafe { std::env::remove_var(key) };
}

/// A name no other test (or earlier run) uses.
pub fn unique(base: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "t{}-{}-{base}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The environment variable that tells a re-run test binary which role to play.
pub const ROLE_VAR: &str = "FILEMAP_TEST_ROLE";

/// A command that re-runs this test binary as a child playing `role` with `args`.
pub fn child(role: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("current exe"));
    cmd.env(ROLE_VAR, role)
        .env("FILEMAP_TEST_ARGS", args.join("\u{1f}"))
        .stdin(Stdio::null());
    cmd
}

/// `Command::spawn` that starts the process again when Wine's process creation fails, as
/// it now and then does under load with ERROR_INTERNAL_ERROR (1359): the process never
/// ran. Any other error fails the test.
pub trait SpawnRetrying {
    fn spawn_retrying(&mut self) -> Child;
}

impl SpawnRetrying for Command {
    fn spawn_retrying(&mut self) -> Child {
        let mut attempt = 0;
        loop {
            match self.spawn() {
                Ok(child) => return child,
                Err(e) if cfg!(windows) && e.raw_os_error() == Some(1359) && attempt < 10 => {
                    eprintln!("    starting a child failed ({e}), retrying");
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
                Err(e) => panic!("starting a child: {e}"),
            }
        }
    }
}

/// Runs a child to completion and returns its stdout; panics with its stderr if it fails.
pub fn run_child(role: &str, args: &[&str]) -> String {
    run_command(&mut child(role, args), &format!("{role} {args:?}"))
}

/// Runs a child made by [`child`] (with settings of the caller's) to completion and
/// returns its stdout; panics with its stderr if it fails.
pub fn run_command(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().expect("spawn child");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "child {what} failed ({}): stdout {stdout:?} stderr {:?}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The role and arguments this process was started with, if it is a child.
pub fn role() -> Option<(String, Vec<String>)> {
    let role = std::env::var(ROLE_VAR).ok()?;
    let args = std::env::var("FILEMAP_TEST_ARGS").unwrap_or_default();
    let args = if args.is_empty() {
        Vec::new()
    } else {
        args.split('\u{1f}').map(str::to_string).collect()
    };
    Some((role, args))
}

/// In a child: says "ready" (what `spawn_ready` waits for), then blocks until its standard
/// input closes or the parent kills it.
#[allow(dead_code)] // not every test binary has children that block
pub fn ready_then_block() {
    use std::io::Write;
    println!("ready");
    std::io::stdout().flush().unwrap();
    let _ = std::io::Read::read(&mut std::io::stdin(), &mut [0u8; 1]);
}

/// Spawns a child that prints a line when ready, and waits for that line.
pub fn spawn_ready(role: &str, args: &[&str]) -> Child {
    start_ready(child(role, args), role)
}

/// Spawns `cmd` (a child in `role`, prepared further by the caller), which prints a line
/// when ready, and waits for that line.
pub fn start_ready(mut cmd: Command, role: &str) -> Child {
    use std::io::BufRead;
    let mut c = cmd
        .stdout(Stdio::piped())
        .stdin(Stdio::piped())
        .spawn_retrying();
    let mut line = String::new();
    let stdout = c.stdout.as_mut().unwrap();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the child's ready line");
    assert_eq!(line.trim(), "ready", "child {role} did not get ready");
    c
}

/// How long a crash soak runs: `FILEMAP_SOAK_SECS`, else `linux` seconds on Linux and
/// `windows` on Windows (bounded for CI; set it to run longer).
pub fn soak_secs(linux: u64, windows: u64) -> u64 {
    std::env::var("FILEMAP_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if cfg!(windows) { windows } else { linux })
}

/// Fails if the soak's process `c` exited by itself (a killed one is waited for when it is
/// killed, so it never shows here).
pub fn still_running(c: &mut Child, what: &str) {
    if let Some(status) = c.try_wait().unwrap() {
        panic!("{what} exited by itself: {status}");
    }
}

/// A handover with the two ends overlapping: drops `old` on a thread of its own 1 ms from
/// now, while this thread is already taking its place with `open`, tried again while the
/// place is still taken (`Error::EndpointTaken`). The new end.
pub fn hand_over<T: Send + 'static>(old: T, open: impl Fn() -> filemap::Result<T>) -> T {
    let closing = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(1));
        drop(old)
    });
    let new = loop {
        match open() {
            Ok(new) => break new,
            Err(filemap::Error::EndpointTaken { .. }) => std::hint::spin_loop(),
            Err(e) => panic!("taking over: {e}"),
        }
    };
    closing.join().unwrap();
    new
}

/// A minimal test runner for `harness = false` test binaries whose tests spawn processes
/// and change `FILEMAP_DIR`, so they run one at a time. Honors a name filter and
/// `--exact`, and prints cargo's summary line.
pub fn run_tests(tests: &[(&str, fn())]) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let exact = args.iter().any(|a| a == "--exact");
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let selected: Vec<&(&str, fn())> = tests
        .iter()
        .filter(|(name, _)| {
            filters.is_empty()
                || filters.iter().any(|f| {
                    if exact {
                        *name == f.as_str()
                    } else {
                        name.contains(f.as_str())
                    }
                })
        })
        .collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _) in &selected {
            println!("{name}: test");
        }
        return;
    }
    println!("\nrunning {} tests", selected.len());
    let (mut passed, mut failed) = (0, Vec::new());
    for (name, test) in &selected {
        let started = std::time::Instant::now();
        let result = std::panic::catch_unwind(*test);
        let secs = started.elapsed().as_secs_f64();
        match result {
            Ok(()) => {
                passed += 1;
                println!("test {name} ... ok ({secs:.2}s)");
            }
            Err(_) => {
                failed.push(*name);
                println!("test {name} ... FAILED ({secs:.2}s)");
            }
        }
    }
    let filtered = tests.len() - selected.len();
    let status = if failed.is_empty() { "ok" } else { "FAILED" };
    if !failed.is_empty() {
        println!("\nfailures:");
        for f in &failed {
            println!("    {f}");
        }
    }
    println!(
        "\ntest result: {status}. {passed} passed; {} failed; 0 ignored; 0 measured; {filtered} filtered out\n",
        failed.len()
    );
    if !failed.is_empty() {
        std::process::exit(101);
    }
}
