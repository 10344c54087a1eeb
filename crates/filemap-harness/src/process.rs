//! The partner process, the benchmark's own namespace directory, and names unique to a run.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::{Result, PARTNER_COMMAND};

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

/// Asks the partners this process starts from now on to be killed when it ends (Linux; a
/// run that may be stopped by a signal before it can end its partners itself).
pub fn die_with_this_process() {
    std::env::set_var(DIE_WITH_PARENT, std::process::id().to_string());
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

/// Removes this process's benchmark namespace, for a run stopped before its `Namespace`
/// could be dropped (a signal): a few tries, as a measurement still running may be making
/// an object in it.
pub fn remove_namespace() {
    let Some(dir) = namespace_dir() else {
        return;
    };
    for _ in 0..10 {
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            _ => return,
        }
    }
}

impl Namespace {
    pub fn new() -> Result<Namespace> {
        let Some(dir) = namespace_dir() else {
            return Ok(Namespace { dir: None });
        };
        std::fs::create_dir_all(&dir)?;
        std::env::set_var("FILEMAP_DIR", &dir);
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
