//! The partner process, the benchmark's own namespace directory, and names unique to a run.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::{PARTNER_COMMAND, Result};

/// Starts the partner process: this binary again, as `bench-partner <args>...`, with piped
/// standard input and output.
pub fn partner(args: &[&str]) -> Result<Child> {
    Ok(Command::new(std::env::current_exe()?)
        .arg(PARTNER_COMMAND)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?)
}

/// A namespace directory of the benchmark's own (`FILEMAP_DIR`, inherited by partners),
/// on tmpfs where there is one, removed when dropped. Unix only: Windows has no namespace
/// directory (named kernel objects), so this does nothing there.
pub struct Namespace {
    dir: Option<PathBuf>,
}

/// The variable by which a measuring process asks its partners to die with it (Linux): its
/// process id. Set by the command line's `bench` (see [`die_with_this_process`]).
pub const DIE_WITH_PARENT: &str = "FILEMAP_BENCH_DIE_WITH_PARENT";

/// Sets an environment variable of this benchmark process (`FILEMAP_DIR`, a peer's
/// setting), as the partners it starts from now on inherit it.
pub fn set_env(key: &str, value: impl AsRef<std::ffi::OsStr>) {
    // SAFETY: the benchmark's threads, and the peers' (iceoryx2, Zenoh, tokio, all Rust),
    // read the environment through `std::env`, whose lock orders each read against this
    // write; none calls C code that reads it (no name resolution: every endpoint is a
    // numeric loopback address; no time zones). (On Windows the write is thread-safe in
    // any case.)
    unsafe { std::env::set_var(key, value) };
}

/// Removes an environment variable of this benchmark process (see [`set_env`]).
pub fn remove_env(key: &str) {
    // SAFETY: as in `set_env`.
    unsafe { std::env::remove_var(key) };
}

/// Asks the partners this process starts from now on to be killed when it ends (Linux; a
/// run that may be stopped by a signal before it can end its partners itself).
pub fn die_with_this_process() {
    set_env(DIE_WITH_PARENT, std::process::id().to_string());
}

/// Where this process's benchmark namespace lives (Unix only).
fn namespace_dir() -> Option<PathBuf> {
    if !cfg!(unix) {
        return None;
    }
    let shm = std::path::Path::new("/dev/shm");
    let base = if cfg!(target_os = "linux") && shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    Some(base.join(format!("filemap-bench-ns-{}", std::process::id())))
}

/// Where this process's Unix socket rows put their socket (removed after each row, and by
/// [`remove_namespace`]).
pub fn unix_socket_dir() -> PathBuf {
    std::env::temp_dir().join(format!("filemap-bench-{}", std::process::id()))
}

/// Whether the run was stopped ([`remove_namespace`]): no scratch directory is made after
/// that. Held while one is made or removed, so that a measurement still running cannot
/// make one between the removal and the process's end.
static STOPPED: std::sync::Mutex<bool> = std::sync::Mutex::new(false);

/// Makes scratch directory `dir`, unless the run was stopped.
pub(crate) fn make_scratch_dir(dir: &std::path::Path) -> Result<()> {
    let stopped = STOPPED.lock().unwrap_or_else(|p| p.into_inner());
    if *stopped {
        return Err(crate::err("the benchmark was stopped"));
    }
    std::fs::create_dir_all(dir)?;
    Ok(())
}

/// Removes this process's benchmark namespace and socket directory, for a run stopped
/// before its `Namespace` could be dropped (a signal), and makes no more: a few tries, as
/// a measurement still running may be making an object in them.
pub fn remove_namespace() {
    let mut stopped = STOPPED.lock().unwrap_or_else(|p| p.into_inner());
    *stopped = true;
    for dir in namespace_dir().into_iter().chain([unix_socket_dir()]) {
        for _ in 0..10 {
            match std::fs::remove_dir_all(&dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                _ => break,
            }
        }
    }
}

impl Namespace {
    pub fn new() -> Result<Namespace> {
        let Some(dir) = namespace_dir() else {
            return Ok(Namespace { dir: None });
        };
        make_scratch_dir(&dir)?;
        set_env("FILEMAP_DIR", &dir);
        Ok(Namespace { dir: Some(dir) })
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A name unique to this run for a benchmark's object.
pub fn unique(what: &str) -> String {
    format!("bench{}-{what}", std::process::id())
}
