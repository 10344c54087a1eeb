//! Linux file helpers for file-backed mappings: opening a file, the share mode (an
//! advisory `flock` held for the mapping's life), its identity, access and path, the path
//! bytes recorded in headers, and what became of the file an entry records.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::errno;
use crate::error::{Error, Result};
use crate::sys::{FileLockRequest, FileRequest};
use crate::vocabulary::ShareMode;

/// Opens a file to map: read-only, or read-write. (The share mode is a lock taken
/// afterwards by `lock_file` on Linux.)
pub(crate) fn open_file(request: &FileRequest<'_>) -> std::io::Result<File> {
    use rustix::fs::{FileType, Mode, OFlags};
    use std::os::unix::fs::OpenOptionsExt;
    // First the path alone (O_PATH opens nothing for reading or writing: a FIFO put where
    // the file was, or named by a header, does not hold the open until a writer comes),
    // and what it is; then that same inode, opened for use through /proc.
    use std::os::unix::ffi::OsStrExt;
    if request.path.as_os_str().as_bytes().contains(&0) {
        // Refused before any system call, as std refuses it.
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path contains a NUL byte",
        ));
    }
    let mut flags = OFlags::PATH | OFlags::CLOEXEC;
    if request.recorded {
        // A recorded path is canonical: a symbolic link at its end was put there since.
        flags |= OFlags::NOFOLLOW;
    }
    let at = rustix::fs::open(request.path, flags, Mode::empty())?;
    let st = rustix::fs::fstat(&at)?;
    let kind = FileType::from_raw_mode(st.st_mode);
    let not_a_file = match kind {
        FileType::Fifo => Some("it is a FIFO (a named pipe), not a file"),
        FileType::Socket => Some("it is a socket, not a file"),
        FileType::Symlink => Some("it is a symbolic link, put where the file was"),
        // (Opening some devices does something: a tape rewinds. No object's file is one.)
        FileType::CharacterDevice if request.recorded => {
            Some("it is a character device, put where the file was")
        }
        _ => None,
    };
    if let Some(why) = not_a_file {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, why));
    }
    if let Some(owner) = request.foreign_owner {
        if let Some(problem) = foreign_file_problem(kind, st.st_uid, owner) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                problem,
            ));
        }
    }
    File::options()
        .read(true)
        .write(request.writable)
        .custom_flags(OFlags::NOCTTY.bits() as i32)
        .open(super::fd_path(at.as_raw_fd()))
}

/// Why a file of type `kind` owned by `uid` may not be opened for another user's entry,
/// owned by `owner` (`None` if it may): it must be a file of that user's, and no device
/// (opening some does something: a drive's tray closes).
pub(crate) fn foreign_file_problem(
    kind: rustix::fs::FileType,
    uid: u32,
    owner: u32,
) -> Option<String> {
    use rustix::fs::FileType;
    if matches!(kind, FileType::BlockDevice | FileType::CharacterDevice) {
        return Some("it is a device, which another user's object may not name".into());
    }
    (uid != owner).then(|| {
        format!(
            "the object is uid {owner}'s, the file uid {uid}'s: another user's object may \
             name only a file of its own"
        )
    })
}

/// Whether an open failed because of another user's share mode (never on Linux: there
/// `lock_file` reports it).
pub(crate) fn is_sharing_violation(_e: &std::io::Error) -> bool {
    false
}

/// An advisory `flock` on a file, on an open file description of its own, held until
/// dropped, here and in every process it was handed to.
#[derive(Debug)]
pub(crate) struct FileLock {
    fd: OwnedFd,
}

impl FileLock {
    /// The lock another process handed over with its mapping ([`share_handoff`]), which
    /// must be a handle on the mapping's own file (`file`, the section's): a sender could
    /// hand any descriptor over as the lock (a pipe's end, say), which would be kept open,
    /// and handed on again, as one. What is wrong with it, if it is not.
    pub(crate) fn adopt(
        fd: super::OsHandle,
        file: &super::OsHandle,
        recorded: Option<(u64, u64)>,
    ) -> std::result::Result<FileLock, &'static str> {
        // (A named mapping's file is also the one its header records.)
        let on_the_file = match (rustix::fs::fstat(&fd), rustix::fs::fstat(file)) {
            (Ok(lock), Ok(file)) => {
                let identity = (lock.st_dev, lock.st_ino);
                rustix::fs::FileType::from_raw_mode(lock.st_mode).is_file()
                    && identity == (file.st_dev, file.st_ino)
                    && recorded.is_none_or(|recorded| recorded == identity)
            }
            _ => false,
        };
        if on_the_file {
            Ok(FileLock { fd })
        } else {
            Err("its share lock's handle is not on the mapping's file")
        }
    }
}

/// What keeps a file-backed mapping's share mode, for another process the mapping is
/// handed to: a handle on the lock's open file description, whose lock is held while any
/// process holds one (`None` without a share mode: no lock).
pub(crate) fn share_handoff(
    _section: &super::Section,
    lock: Option<&FileLock>,
    _share: ShareMode,
) -> Result<Option<super::OsHandle>> {
    lock.map(|lock| super::duplicate(lock.fd.as_fd()))
        .transpose()
}

/// Takes the lock that keeps `share` for the mapping's life: `LOCK_SH` for shared,
/// `LOCK_EX` for exclusive, without waiting.
pub(crate) fn lock_file(request: &FileLockRequest<'_>) -> Result<Option<FileLock>> {
    use rustix::fs::FlockOperation;
    let FileLockRequest {
        file, share, path, ..
    } = *request;
    let op = match share {
        ShareMode::Any => return Ok(None),
        ShareMode::Shared => FlockOperation::NonBlockingLockShared,
        ShareMode::Exclusive => FlockOperation::NonBlockingLockExclusive,
    };
    // A description of our own, so that the lock is exactly this mapping's.
    let fd = rustix::fs::open(
        super::fd_path(file.as_raw_fd()),
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| Error::io("open for locking", path.display(), errno(e)))?;
    match rustix::fs::flock(&fd, op) {
        Ok(()) => Ok(Some(FileLock { fd })),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(Error::ShareViolation {
            path: path.to_path_buf(),
            mode: share,
        }),
        Err(e) => Err(Error::io("lock", path.display(), errno(e))),
    }
}

/// Why `file` cannot be mapped, if that is known before trying: a directory, a file that is
/// not a regular one (a device, a pipe, a socket), or a file of a kernel pseudo file system (procfs, sysfs and the like), whose contents the kernel
/// makes when they are read: such a file reports size 0, and a view of it fails.
pub(crate) fn unmappable(file: &File) -> Option<&'static str> {
    /// The magic numbers of the pseudo file systems (`linux/magic.h`): procfs, sysfs,
    /// debugfs, tracefs, cgroupfs, cgroup2fs, securityfs, bpffs, nsfs, selinuxfs, smackfs,
    /// pstore, efivarfs, binfmt_misc. (A file served by FUSE, such as lxcfs's /proc files in
    /// a container, is not told apart: its view fails when it is mapped.)
    const PSEUDO: [u32; 14] = [
        0x9fa0,
        0x6265_6572,
        0x6462_6720,
        0x7472_6163,
        0x0027_e0eb,
        0x6367_7270,
        0x7363_6673,
        0xcafe_4a11,
        0x6e73_6673,
        0xf97c_ff8c,
        0x4341_5d53,
        0x6165_676c,
        0xde5e_81e4,
        0x4249_4e4d,
    ];
    if let Ok(m) = file.metadata() {
        if m.is_dir() {
            return Some("it is a directory");
        }
        if !m.is_file() {
            // A size of 0 whatever it holds, and no length to give it: nothing a mapping
            // of a file's bytes can be over.
            return Some("it is not a regular file (a device, a pipe or a socket)");
        }
    }
    // (The magic numbers are 32 bits; the field is wider on 64-bit targets.)
    let kind = rustix::fs::fstatfs(file).ok()?.f_type as u32;
    PSEUDO.contains(&kind).then_some(
        "it is a file of a kernel pseudo file system (/proc, /sys and the like), whose \
         contents are made when it is read: read it instead",
    )
}

/// Device and inode of an open file: its identity, recorded in file-backed headers.
pub(crate) fn file_identity(file: &File) -> Result<(u64, u64)> {
    let m = file
        .metadata()
        .map_err(|e| Error::io("inspect", "a file", e))?;
    Ok((m.dev(), m.ino()))
}

/// What is wrong with the file a file-backed entry of the user `owner` records, found
/// without opening it (a FIFO put there would block an open): `None` if it is still
/// there, the same file, long enough for `size` bytes, or if the entry is another user's
/// (not root's): its path is any that user chose, and looking it up would follow their
/// links, mount what an automounter serves there (another machine's files), or wait on a
/// file system that does not answer, for whoever lists the namespace.
pub(crate) fn backing_file_problem(
    record: &crate::header::FileRecord,
    size: u64,
    owner: u32,
) -> Option<crate::BackingFileProblem> {
    use crate::BackingFileProblem as P;
    if owner != 0 && owner != rustix::process::geteuid().as_raw() {
        return None;
    }
    match rustix::fs::stat(path_from_bytes(&record.path)) {
        Err(rustix::io::Errno::NOENT) => Some(P::Missing),
        Err(_) => None, // not ours to judge (e.g. a directory we may not search)
        Ok(st) if (st.st_dev, st.st_ino) != (record.dev, record.ino) => Some(P::Replaced),
        Ok(st) if (st.st_size as u64) < size => Some(P::TooShort {
            file_len: st.st_size as u64,
        }),
        Ok(_) => None,
    }
}

/// Makes `file` at least `size` bytes long (`size` > 0), never shorter: one block
/// allocated at the new end (`fallocate`, which only ever extends, so another process that
/// grew the file meanwhile keeps what it wrote, where `ftruncate` would cut it back; the
/// rest stays sparse). `Ok(false)` where the file system has no `fallocate`: the caller
/// sets the length itself.
pub(crate) fn extend_file(file: &File, size: u64) -> std::io::Result<bool> {
    let last = size.saturating_sub(1);
    match super::retry_eintr(|| {
        rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), last, 1)
    }) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::NOSYS) => Ok(false),
        Err(e) => Err(errno(e)),
    }
}

/// Whether `file` was opened for writing.
pub(crate) fn file_is_writable(file: &File) -> bool {
    rustix::fs::fcntl_getfl(file)
        .map(|fl| fl.contains(rustix::fs::OFlags::RDWR) || fl.contains(rustix::fs::OFlags::WRONLY))
        .unwrap_or(false)
}

/// The path an open file was opened under, if it still has one.
pub(crate) fn file_path(file: &File) -> Option<PathBuf> {
    let link = std::fs::read_link(super::fd_path(file.as_raw_fd())).ok()?;
    let deleted = link.to_str().is_some_and(|s| s.ends_with(" (deleted)"));
    (!deleted && link.is_absolute()).then_some(link)
}

pub(crate) fn path_to_bytes(path: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().to_vec()
}

pub(crate) fn path_from_bytes(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(path: &Path, foreign_owner: Option<u32>) -> FileRequest<'_> {
        FileRequest {
            path,
            writable: false,
            executable: false,
            share: ShareMode::Any,
            recorded: false,
            foreign_owner,
        }
    }

    /// The file another user's entry names is looked at on the inode the path reached
    /// (not only on the path before, which may change meanwhile): no file of theirs, and
    /// no device, is opened.
    #[test]
    fn a_foreign_entrys_file_is_checked_before_it_is_opened() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let me = rustix::process::geteuid().as_raw();
        assert!(open_file(&request(file.path(), Some(me))).is_ok());
        let refused = open_file(&request(file.path(), Some(me + 1))).unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::PermissionDenied);
        assert!(
            refused.to_string().contains("name only a file of its own"),
            "{refused}"
        );
        let device = open_file(&request(Path::new("/dev/null"), Some(0))).unwrap_err();
        assert!(device.to_string().contains("it is a device"), "{device}");
        assert!(open_file(&request(Path::new("/dev/null"), None)).is_ok());
    }
}
