//! Linux foreign segments: POSIX shared memory (`shm_open` names, files in `/dev/shm`)
//! without a filemap header, made by (or for) other programs. They stay until removed, as
//! POSIX segments do.

use std::os::fd::AsFd;
use std::path::Path;

use super::{Section, allocate, errno};
use crate::error::{Error, Result};

/// Where POSIX shared memory lives (`shm_open` names are files here).
const POSIX_SHM_DIR: &str = "/dev/shm";

fn foreign_error(name: &str, e: rustix::io::Errno, writable: bool) -> Error {
    match e {
        rustix::io::Errno::NOENT => Error::NotFound {
            name: name.to_string(),
        },
        rustix::io::Errno::EXIST => Error::AlreadyExists {
            name: name.to_string(),
        },
        rustix::io::Errno::LOOP => Error::Symlink {
            name: name.to_string(),
        },
        rustix::io::Errno::ACCESS | rustix::io::Errno::PERM => Error::PermissionDenied {
            what: format!(
                "opening the shared memory segment {name} for {}",
                if writable {
                    "reading and writing"
                } else {
                    "reading"
                }
            ),
        },
        e => Error::io("open the shared memory segment", name, errno(e)),
    }
}

/// Opens a POSIX shared memory segment (as `shm_open(name)` would) and returns it with
/// its size. `name` is already validated.
pub(crate) fn open_foreign(name: &str, writable: bool) -> Result<(Section, u64)> {
    use rustix::fs::{FileType, Mode, OFlags};
    let access = if writable {
        OFlags::RDWR
    } else {
        OFlags::RDONLY
    };
    let fd = rustix::fs::open(
        Path::new(POSIX_SHM_DIR).join(name),
        access | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| foreign_error(name, e, writable))?;
    let st = rustix::fs::fstat(&fd).map_err(|e| Error::io("inspect", name, errno(e)))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(Error::Corrupt {
            name: name.to_string(),
            problem: "not a shared memory segment (not a regular file)".into(),
        });
    }
    Ok((Section::from_handle(fd), st.st_size as u64))
}

/// Creates a POSIX shared memory segment of `size` bytes (as `shm_open(name, O_CREAT |
/// O_EXCL)` + `ftruncate` would), allocated now. It stays until removed, as POSIX segments
/// do.
pub(crate) fn create_foreign(name: &str, size: u64, mode: u32) -> Result<Section> {
    use rustix::fs::{Mode, OFlags};
    let path = Path::new(POSIX_SHM_DIR).join(name);
    let fd = rustix::fs::open(
        &path,
        OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(mode),
    )
    .map_err(|e| foreign_error(name, e, true))?;
    let filled = (|| {
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))
            .map_err(|e| Error::io("set the permissions of", name, errno(e)))?;
        rustix::fs::ftruncate(&fd, size).map_err(|e| Error::io("size", name, errno(e)))?;
        allocate(fd.as_fd(), size, &POSIX_SHM_DIR)
    })();
    if let Err(e) = filled {
        // Only if the name still refers to what this call made: in a directory without the
        // sticky bit, another user may have put a file of theirs in its place since.
        let made = rustix::fs::fstat(&fd).map(|st| (st.st_dev, st.st_ino));
        let named = rustix::fs::lstat(&path).map(|st| (st.st_dev, st.st_ino));
        if matches!((made, named), (Ok(a), Ok(b)) if a == b) {
            let _ = std::fs::remove_file(&path);
        }
        return Err(e);
    }
    Ok(Section::from_handle(fd))
}

/// Removes a POSIX shared memory segment's name (as `shm_unlink` would).
pub(crate) fn remove_foreign(name: &str) -> Result<()> {
    use rustix::fs::{AtFlags, Mode, OFlags};
    let dir = rustix::fs::open(
        POSIX_SHM_DIR,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("open", POSIX_SHM_DIR, errno(e)))?;
    rustix::fs::unlinkat(&dir, name, AtFlags::empty()).map_err(|e| foreign_error(name, e, true))
}
