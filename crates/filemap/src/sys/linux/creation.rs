//! Making a new Linux namespace entry: a nameless file (`O_TMPFILE`) with its permissions,
//! sized and allocated up front (so a view of it never faults for want of memory), its
//! header written and its data initialised, locked shared; then its name, given with
//! `linkat` once it is complete, so no process ever opens a half-made entry.

use std::fmt;
use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{AtFlags, CWD, FlockOperation, Mode, OFlags, Stat};
use rustix::io::Errno;

use super::dir::Dir;
use super::{Section, allocate, errno, retry_eintr};
use crate::error::{Error, Result};
use crate::header::{HEADER_AREA, Header};
use crate::sys::DataInit;
use crate::vocabulary::Access;

/// Entries up to this length (header included) are sized, allocated and given their
/// header by one `pwritev` of the header and zeros (from a page of zeros), which on tmpfs allocates every page as
/// `fallocate` does; longer ones take `ftruncate`, `fallocate` and a `pwrite` of the header.
const ONE_WRITE_MAX: u64 = 64 * 1024;

/// Sizes, allocates and writes the header of a new (still nameless) entry.
pub(super) fn fill_new_entry(
    fd: BorrowedFd<'_>,
    header: &Header,
    place: &dyn fmt::Display,
) -> Result<()> {
    let huge =
        super::huge_page_size().filter(|&h| header.is_large_pages() && header.data_offset >= h);
    let mut total = header.entry_len();
    if let Some(huge) = huge {
        // Files on huge pages are sized in whole huge pages.
        total = total.next_multiple_of(huge);
    }
    if total > i64::MAX as u64 {
        return Err(Error::InvalidSize {
            size: header.size,
            problem: "larger than any file can be",
        });
    }
    if huge.is_none() && !header.is_reserve() && total <= ONE_WRITE_MAX {
        // One write of the header and zeros sizes and allocates the entry.
        return write_new_entry(fd, &header.encode_prefix(), total, total, place);
    }
    rustix::fs::ftruncate(fd, total).map_err(|e| match e {
        // (As in `allocate`: the directory's file system's limit, as a full one is.)
        Errno::FBIG | Errno::INVAL => Error::NoSpace {
            place: format!("{place} {}", crate::sys::FILE_TOO_LARGE),
            size: total,
        },
        Errno::NOSPC | Errno::DQUOT => Error::NoSpace {
            place: place.to_string(),
            size: total,
        },
        e => Error::io("size a new entry in", place, errno(e)),
    })?;
    let alloc_len = if header.is_reserve() {
        HEADER_AREA as u64
    } else {
        total
    };
    allocate(fd, alloc_len, place)?;
    // (The file is zeros up to `total` already: the header's zeros need no write.)
    let bytes = header.encode_prefix();
    if huge.is_some() {
        // Huge-page files (hugetlbfs) take no write(2): write the header through a mapping.
        let section = Section::from_handle(
            rustix::io::fcntl_dupfd_cloexec(fd, 3)
                .map_err(|e| Error::io("duplicate", "a new entry", errno(e)))?,
        );
        let view = section.map(0, header.data_offset as usize, Access::Write, false, place)?;
        // SAFETY: the mapping is at least HEADER_AREA writable bytes of a new entry that no
        // other process can see yet.
        return unsafe { crate::copy::copy_to_shared(view.ptr(), &bytes) }.map_err(|_| {
            // Allocated above: only a pool of huge pages running dry can fault here.
            Error::NoSpace {
                place: place.to_string(),
                size: header.entry_len(),
            }
        });
    }
    write_new_entry(fd, &bytes, bytes.len() as u64, total, place)
}

/// Writes the first `len` bytes of a new entry of `total` bytes: `prefix` (the header's
/// bytes), then zeros (copied by the kernel from a page of zeros: no buffer is filled here).
fn write_new_entry(
    fd: BorrowedFd<'_>,
    prefix: &[u8],
    len: u64,
    total: u64,
    place: &dyn fmt::Display,
) -> Result<()> {
    let mut done = 0;
    while done < len {
        let mut parts = [IoSlice::new(&[]); WRITE_PARTS];
        let n = write_parts(prefix, done, len, &mut parts);
        match rustix::io::pwritev(fd, &parts[..n], done) {
            Ok(0) => {
                return Err(Error::io(
                    "write the header of a new entry in",
                    place,
                    std::io::Error::from(std::io::ErrorKind::WriteZero),
                ));
            }
            Ok(n) => done += n as u64,
            Err(Errno::INTR) => {}
            // ENOMEM: a memory cgroup refused the pages; EDQUOT: a quota.
            Err(Errno::NOSPC | Errno::NOMEM | Errno::DQUOT) => {
                return Err(Error::NoSpace {
                    place: place.to_string(),
                    size: total,
                });
            }
            Err(e) => {
                return Err(Error::io(
                    "write the header of a new entry in",
                    place,
                    errno(e),
                ));
            }
        }
    }
    Ok(())
}

/// A page of zeros that the writes of new entries copy from.
static ZEROS: [u8; 4096] = [0; 4096];

/// The most parts of one write: the header's prefix and enough pages of zeros for the
/// longest entry written in one go ([`ONE_WRITE_MAX`]).
const WRITE_PARTS: usize = 1 + ONE_WRITE_MAX as usize / ZEROS.len();

/// Fills `parts` with the bytes of a new entry from offset `from` to `len`: the rest of
/// `prefix`, then zeros (from [`ZEROS`], as many parts as fit); how many parts it filled.
fn write_parts<'a>(prefix: &'a [u8], from: u64, len: u64, parts: &mut [IoSlice<'a>]) -> usize {
    let mut at = from;
    let mut n = 0;
    if let Some(rest) = prefix.get(at as usize..).filter(|r| !r.is_empty()) {
        let rest = &rest[..rest.len().min((len - at) as usize)];
        parts[0] = IoSlice::new(rest);
        at += rest.len() as u64;
        n = 1;
    }
    while at < len && n < parts.len() {
        let zeros = (len - at).min(ZEROS.len() as u64) as usize;
        parts[n] = IoSlice::new(&ZEROS[..zeros]);
        at += zeros as u64;
        n += 1;
    }
    n
}

/// Makes a complete, nameless entry in `dir`, holding `LOCK_SH`, ready to be linked; with
/// its status (for its device and inode).
pub(super) fn prepare_entry(
    dir: &Dir,
    header: &Header,
    init: DataInit<'_>,
) -> Result<(OwnedFd, Stat)> {
    let mode = Mode::from_raw_mode(header.entry_mode());
    let fd = rustix::fs::openat(
        &dir.fd,
        ".",
        OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC,
        mode,
    )
    .map_err(|e| match e {
        Errno::ACCESS | Errno::PERM => Error::PermissionDenied {
            what: format!("creating an entry in {}", dir.display()),
        },
        Errno::NOSPC | Errno::DQUOT => Error::NoSpace {
            place: dir.path.display().to_string(),
            size: header.entry_len(),
        },
        // A file system without O_TMPFILE (its kernel names it one of these).
        Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL => Error::Unsupported {
            what: "a namespace directory on a file system without O_TMPFILE (use tmpfs, \
                   as /dev/shm is, or ext4, xfs, btrfs)",
        },
        e => Error::io(
            "create a nameless entry (O_TMPFILE) in",
            dir.display(),
            errno(e),
        ),
    })?;
    let st = rustix::fs::fstat(&fd).map_err(|e| Error::io("inspect", "a new entry", errno(e)))?;
    // The umask must not decide who can open the object.
    if st.st_mode & 0o7777 != header.entry_mode() {
        rustix::fs::fchmod(&fd, mode).map_err(|e| {
            Error::io(
                "set the permissions of a new entry in",
                dir.display(),
                errno(e),
            )
        })?;
    }
    fill_new_entry(fd.as_fd(), header, &dir.display())?;
    if let Some(init) = init {
        let section = Section::from_handle(
            rustix::io::fcntl_dupfd_cloexec(&fd, 3)
                .map_err(|e| Error::io("duplicate", "a new entry", errno(e)))?,
        );
        let view = section.map(
            header.data_offset,
            header.size as usize,
            Access::Write,
            false,
            &dir.display(),
        )?;
        init(view.ptr())?;
    }
    retry_eintr(|| rustix::fs::flock(&fd, FlockOperation::LockShared))
        .map_err(|e| Error::io("lock a new entry in", dir.display(), errno(e)))?;
    Ok((fd, st))
}

/// Gives a prepared entry its name; `Err(Errno::EXIST)` if the name is taken.
///
/// `linkat(fd, "", AT_EMPTY_PATH)` names the descriptor's inode directly; kernels before
/// 6.10 allow it only with `CAP_DAC_READ_SEARCH`, and refuse it with `ENOENT`. The path of
/// the descriptor under `/proc/self/fd` works for everyone but costs a lookup in /proc, so
/// it is used once the direct call has been refused.
pub(super) fn link_entry(dir: &Dir, fd: &OwnedFd, file_name: &str) -> rustix::io::Result<()> {
    static DIRECT_REFUSED: AtomicBool = AtomicBool::new(false);
    let refused_before = DIRECT_REFUSED.load(Ordering::Relaxed);
    if !refused_before {
        match rustix::fs::linkat(fd, "", &dir.fd, file_name, AtFlags::EMPTY_PATH) {
            Err(Errno::NOENT) => {}
            r => return r,
        }
    }
    let proc_path = super::fd_path(fd.as_raw_fd());
    let linked = rustix::fs::linkat(CWD, &proc_path, &dir.fd, file_name, AtFlags::SYMLINK_FOLLOW);
    if linked.is_ok() && !refused_before {
        // Refused, not failed for another reason (the way through /proc worked).
        DIRECT_REFUSED.store(true, Ordering::Relaxed);
    }
    linked
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parts of one write from `from`, as (bytes of the prefix, zero bytes).
    fn parts_of(prefix: &[u8], from: u64, len: u64) -> (usize, Vec<usize>) {
        let mut parts = [IoSlice::new(&[]); WRITE_PARTS];
        let n = write_parts(prefix, from, len, &mut parts);
        let head = parts[..n]
            .iter()
            .take_while(|p| p.as_ptr() != ZEROS.as_ptr())
            .map(|p| p.len())
            .sum();
        let zeros = parts[..n]
            .iter()
            .filter(|p| p.as_ptr() == ZEROS.as_ptr())
            .map(|p| p.len())
            .collect();
        (head, zeros)
    }

    #[test]
    fn a_new_entrys_write_is_its_prefix_then_pages_of_zeros_to_its_end() {
        let prefix = [7u8; 128];
        assert_eq!(parts_of(&prefix, 0, 8192), (128, vec![4096, 3968]));
        // A short write went part of the way: the rest of the prefix, then zeros.
        assert_eq!(parts_of(&prefix, 100, 8192), (28, vec![4096, 3968]));
        assert_eq!(parts_of(&prefix, 128, 8192), (0, vec![4096, 3968]));
        assert_eq!(parts_of(&prefix, 5000, 8192), (0, vec![3192]));
        // Only the prefix (a longer entry's header, after ftruncate).
        assert_eq!(parts_of(&prefix, 0, 128), (128, vec![]));
        assert_eq!(parts_of(&prefix, 0, 100), (100, vec![]));
        // The longest one-write entry fits in one write's parts.
        let (head, zeros) = parts_of(&prefix, 0, ONE_WRITE_MAX);
        assert_eq!(head + zeros.iter().sum::<usize>(), ONE_WRITE_MAX as usize);
        assert!(zeros.len() < WRITE_PARTS);
    }
}
