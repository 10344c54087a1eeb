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

impl Namespace {
    pub fn new() -> Result<Namespace> {
        if !cfg!(unix) {
            return Ok(Namespace { dir: None });
        }
        let shm = std::path::Path::new("/dev/shm");
        let base = if cfg!(target_os = "linux") && shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("filemap-bench-ns-{}", std::process::id()));
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
