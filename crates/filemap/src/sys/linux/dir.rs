//! The namespace directory (`/dev/shm` or `$FILEMAP_DIR`) that holds every named entry:
//! opened once per process and kept while its path still names it, checked to be this
//! user's or root's. Every path operation on entries is relative to its descriptor
//! (docs/architecture.md says why).

use std::fmt;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::Duration;

use rustix::fs::{Mode, OFlags, Stat};
use rustix::time::{ClockId, clock_gettime};

use super::errno;
use crate::error::{Error, Result};

/// The namespace directory: `$FILEMAP_DIR`, or `/dev/shm`.
pub(crate) fn namespace_dir_path() -> PathBuf {
    match std::env::var_os("FILEMAP_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from("/dev/shm"),
    }
}

/// The namespace as one string, the same for every process that sees the same names:
/// the directory as the system resolves it, with its file system's device and its inode
/// (two namespaces shown under one path, containers each with a /dev/shm of its own, have
/// different ones; one namespace written two ways, through a symbolic link, has one).
pub(crate) fn namespace_identity() -> String {
    use std::os::unix::fs::MetadataExt;
    let dir = namespace_dir_path();
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    match std::fs::metadata(&dir) {
        Ok(m) => format!("{}#{:x}.{:x}", dir.display(), m.dev(), m.ino()),
        Err(_) => dir.display().to_string(),
    }
}

/// Where `Global\` names live: the namespace directory too.
pub(crate) fn global_namespace_identity() -> String {
    namespace_identity()
}

#[derive(Debug)]
pub(crate) struct Dir {
    pub(super) fd: OwnedFd,
    pub(super) path: PathBuf,
    /// The directory's device and inode, to tell whether its path still names it.
    dev: u64,
    ino: u64,
}

/// How long a process uses the namespace directory it has open before it checks again that
/// the path still names it: a directory renamed or mounted over is noticed within this, one
/// removed (or any failure in it) at once.
const RECHECK: Duration = Duration::from_millis(100);

/// The namespace directory this process last opened, and when its path was last checked:
/// creating or opening an entry then costs no lookup of the directory itself.
struct Current {
    dir: Arc<Dir>,
    /// When, on [`coarse_now`]'s clock.
    checked: Duration,
}

/// The monotonic clock at the kernel's tick (a few milliseconds): enough for [`RECHECK`],
/// and read in a fraction of the time of the precise one (every create and open reads it).
fn coarse_now() -> Duration {
    let t = clock_gettime(ClockId::MonotonicCoarse);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Only ever `try_lock`ed: a caller that finds it busy opens the directory itself, so no
/// thread waits for it, and a child made by `fork` while another thread held it (which the
/// child would never see released) is not stuck.
static CURRENT_DIR: Mutex<Option<Current>> = Mutex::new(None);

fn current_dir() -> Option<MutexGuard<'static, Option<Current>>> {
    match CURRENT_DIR.try_lock() {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

impl Dir {
    /// The namespace directory: the one this process has open while its path still names
    /// it (checked every [`RECHECK`]), opened again when `FILEMAP_DIR` changes (tests point
    /// it elsewhere). A relative `FILEMAP_DIR` is opened each time (it follows the working
    /// directory).
    pub(crate) fn open() -> Result<Arc<Dir>> {
        let path = namespace_dir_path();
        if !path.is_absolute() {
            return Dir::open_path(path);
        }
        if let Some(mut current) = current_dir() {
            if let Some(c) = current.as_mut().filter(|c| c.dir.path == path) {
                let now = coarse_now();
                if now.saturating_sub(c.checked) < RECHECK {
                    return Ok(c.dir.clone());
                }
                if !c.dir.replaced() {
                    c.checked = now;
                    return Ok(c.dir.clone());
                }
            }
        }
        let dir = Dir::open_path(path)?;
        dir.make_current();
        Ok(dir)
    }

    /// Like `open`, but first makes sure the directory this process has open is still the
    /// one at its path (for listing and collecting, which read the directory by its path).
    pub(crate) fn open_checked() -> Result<Arc<Dir>> {
        let dir = Dir::open()?;
        if !dir.replaced() {
            return Ok(dir);
        }
        Dir::replace(&dir)
    }

    /// Opens the directory at `stale`'s path again and makes it the current one.
    fn replace(stale: &Arc<Dir>) -> Result<Arc<Dir>> {
        let fresh = Dir::open_path(stale.path.clone())?;
        fresh.make_current();
        Ok(fresh)
    }

    fn make_current(self: &Arc<Dir>) {
        // Not a directory already renamed away (another thread may have installed the one
        // now at the path meanwhile).
        if !self.path.is_absolute() || self.replaced() {
            return;
        }
        if let Some(mut current) = current_dir() {
            *current = Some(Current {
                dir: self.clone(),
                checked: coarse_now(),
            });
        }
    }

    fn open_path(path: PathBuf) -> Result<Arc<Dir>> {
        let failed = |e| Error::io("open the namespace directory", path.display(), errno(e));
        let fd = rustix::fs::open(
            &path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(failed)?;
        let st = rustix::fs::fstat(&fd).map_err(failed)?;
        check_directory(&path, &st)?;
        Ok(Arc::new(Dir {
            fd,
            path,
            dev: st.st_dev,
            ino: st.st_ino,
        }))
    }

    /// Whether the directory's path now names another directory (or none) than the one
    /// this handle has open: it was removed, or replaced, since this process opened it.
    fn replaced(&self) -> bool {
        match rustix::fs::stat(&self.path) {
            Ok(now) => now.st_dev != self.dev || now.st_ino != self.ino,
            Err(_) => true,
        }
    }

    /// Runs `op` in the namespace directory; if it fails because the directory this process
    /// had open was removed or replaced meanwhile, runs it once more in the new one.
    pub(super) fn run<T>(op: impl Fn(&Arc<Dir>) -> Result<T>) -> Result<T> {
        let dir = Dir::open()?;
        match op(&dir) {
            Err(_) if dir.replaced() => op(&Dir::replace(&dir)?),
            result => result,
        }
    }

    pub(super) fn display(&self) -> impl fmt::Display + '_ {
        self.path.display()
    }
}

/// The namespace directory must be this user's or root's: another user who owns it can
/// rename entries onto this user's names, or unlink live names so that two creators both
/// create. (One that others may write without the sticky bit has that risk too, but it is
/// what /dev/shm is in some containers, mode 0777: it is used, and the docs say so.)
fn check_directory(path: &std::path::Path, st: &Stat) -> Result<()> {
    let me = rustix::process::geteuid().as_raw();
    if st.st_uid == me || st.st_uid == 0 {
        return Ok(());
    }
    Err(Error::InsecureDirectory {
        path: path.to_path_buf(),
        problem: format!(
            "is owned by uid {}, neither this user (uid {me}) nor root (use a directory of \
             this user's, or /dev/shm)",
            st.st_uid
        ),
    })
}
