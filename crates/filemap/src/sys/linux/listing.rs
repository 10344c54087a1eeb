//! Linux listing and garbage collection for `filemap ls` / `filemap gc`: every file in the
//! namespace directory whose name starts with `filemap.`, its header, and the processes
//! holding it (from `/proc/locks`, and a lock probe where it shows none: it hides holders
//! in PID namespaces it cannot see); stale and corrupt entries nobody holds are removed,
//! persistent ones never.

use std::os::fd::AsFd;

use rustix::fs::{AtFlags, FileType, FlockOperation, Mode};
use rustix::io::Errno;

use super::dir::Dir;
use super::entry::{file_type_name, open_flags, read_header_bytes, unlink_if_same};
use super::{allocation_granularity, current_uid, errno};
use crate::error::{Error, Result};
use crate::header::Header;
use crate::name::{ENTRY_PREFIX, Name};
use crate::sys::{Collected, RawEntry};

/// The processes holding `flock`s, by (device major, minor, inode).
type Holders = std::collections::HashMap<(u64, u64, u64), Vec<u32>>;

/// The `flock` holders `/proc/locks` shows; `None` if it cannot be read. It leaves out
/// holders in PID namespaces this process cannot see (since Linux 4.14), so an entry it
/// shows no holder for is probed before it is called stale (see [`holders_of`]).
fn lock_holders() -> Option<Holders> {
    let mut map = Holders::default();
    let text = std::fs::read_to_string("/proc/locks").ok()?;
    for line in text.lines() {
        // "1: FLOCK  ADVISORY  READ  1234 00:1a:5678 0 EOF"; blocked waiters have "->".
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 6 || fields[1] == "->" {
            continue;
        }
        let Ok(pid) = fields[4].parse::<i64>() else {
            continue;
        };
        let mut id = fields[5].split(':');
        let (Some(maj), Some(min), Some(ino)) = (id.next(), id.next(), id.next()) else {
            continue;
        };
        let (Ok(maj), Ok(min), Ok(ino)) = (
            u64::from_str_radix(maj, 16),
            u64::from_str_radix(min, 16),
            ino.parse::<u64>(),
        ) else {
            continue;
        };
        let pids = map.entry((maj, min, ino)).or_default();
        if pid > 0 && !pids.contains(&(pid as u32)) {
            pids.push(pid as u32);
        }
        if pid <= 0 && pids.is_empty() {
            // An open-file-description lock (an endpoint's role) or a holder in a PID
            // namespace this one cannot see: held, but by no pid to show.
            pids.push(0);
        }
    }
    // An endpoint's open-file-description lock is held by a process whose handle's
    // `flock` names it, whichever line came first: 0 only stands for holders none of
    // whose pids is known.
    for pids in map.values_mut() {
        if pids.len() > 1 {
            pids.retain(|&pid| pid != 0);
        }
    }
    Some(map)
}

/// The processes holding the entry open as `fd` (`None`: not opened, as another user's
/// entry may not be), given what `/proc/locks` listed for it (`None`: it could not be
/// read). An entry with no holder listed is probed with a lock that never waits: taken,
/// nobody holds it; refused, somebody does whose pid is hidden (0). The probe is only made
/// then: while it is held, a last handle closing at that moment would think another holds
/// the entry and leave its name behind (for the next opener or `gc` to reclaim), and an
/// opener or creator meeting it waits it out and looks again.
fn holders_of(fd: Option<&rustix::fd::OwnedFd>, listed: Option<&[u32]>) -> Option<Vec<u32>> {
    if let Some(pids) = listed.filter(|p| !p.is_empty()) {
        return Some(pids.to_vec());
    }
    // (Not opened, as another user's entry may not be: what /proc/locks says, if anything.)
    let Some(fd) = fd else {
        return listed.map(<[u32]>::to_vec);
    };
    match rustix::fs::flock(fd, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {
            let _ = rustix::fs::flock(fd, FlockOperation::Unlock);
            Some(Vec::new())
        }
        Err(rustix::io::Errno::WOULDBLOCK) => Some(vec![0]),
        Err(_) => listed.map(<[u32]>::to_vec),
    }
}

impl Dir {
    /// The names of the files in the directory that start with `filemap.`.
    /// (Read through the directory this process opened, like every look at its entries,
    /// not by its path, which may name another directory by now.)
    fn entry_file_names(&self) -> Result<Vec<String>> {
        let failed = |e| Error::io("list", self.display(), errno(e));
        let mut names = Vec::new();
        for item in rustix::fs::Dir::read_from(&self.fd).map_err(failed)? {
            let item = item.map_err(failed)?;
            if let Ok(name) = item.file_name().to_str() {
                if name.starts_with(ENTRY_PREFIX) {
                    names.push(name.to_string());
                }
            }
        }
        Ok(names)
    }
}

/// Every file in the namespace directory whose name starts with `filemap.`.
pub(crate) fn list_entries() -> Result<Vec<RawEntry>> {
    let dir = Dir::open_checked()?;
    let holders = lock_holders();
    let mut out: Vec<RawEntry> = dir
        .entry_file_names()?
        .into_iter()
        .filter_map(|file_name| describe_file(&dir, file_name, holders.as_ref()))
        .collect();
    out.sort_by(|a, b| a.file_name.cmp(&b.file_name));
    Ok(out)
}

/// The entry of one name (looked up by its file name alone: the cost does not grow with
/// the namespace).
pub(crate) fn describe_entry(name: &Name) -> Result<RawEntry> {
    let dir = Dir::open_checked()?;
    describe_file(
        &dir,
        name.entry_file_name(current_uid()),
        lock_holders().as_ref(),
    )
    .ok_or(Error::NotFound {
        name: name.to_string(),
    })
}

/// What the file `file_name` in `dir` is; `None` if it is gone.
fn describe_file(dir: &Dir, file_name: String, holders: Option<&Holders>) -> Option<RawEntry> {
    let mut st = rustix::fs::statat(&dir.fd, &file_name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
    let is_symlink = FileType::from_raw_mode(st.st_mode) == FileType::Symlink;
    let mut opened = None;
    let mut unreadable = None;
    let header = if is_symlink {
        Err("symbolic link (not followed)".to_string())
    } else if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        // Not opened: opening a device (one linked in) can act on it.
        Err(format!("a {}, not a regular file", file_type_name(&st)))
    } else {
        match rustix::fs::openat(&dir.fd, &file_name, open_flags(false), Mode::empty()) {
            Ok(fd) => match rustix::fs::fstat(&fd) {
                // What is described is the file opened (the name may refer to another one
                // than it did a moment ago).
                Ok(now) if FileType::from_raw_mode(now.st_mode) == FileType::RegularFile => {
                    st = now;
                    let header = match read_header_bytes(fd.as_fd(), st.st_size as u64) {
                        Ok(b) => Header::decode(&b, st.st_size as u64, allocation_granularity()),
                        Err(e) => Err(e.to_string()),
                    };
                    opened = Some(fd);
                    header
                }
                Ok(now) => Err(format!("a {}, not a regular file", file_type_name(&now))),
                Err(e) => Err(format!("cannot inspect: {}", errno(e))),
            },
            Err(e) => {
                if matches!(e, Errno::ACCESS | Errno::PERM) {
                    unreadable = Some(errno(e).to_string());
                }
                Err(format!("cannot open: {}", errno(e)))
            }
        }
    };
    let dev = st.st_dev;
    let key = (
        rustix::fs::major(dev) as u64,
        rustix::fs::minor(dev) as u64,
        st.st_ino,
    );
    let listed = holders.map(|h| h.get(&key).map_or(&[][..], Vec::as_slice));
    Some(RawEntry {
        name: name_here(&file_name),
        file_name,
        owner: st.st_uid,
        mode: st.st_mode & 0o7777,
        security: None,
        native: None,
        header,
        unreadable,
        holders: holders_of(opened.as_ref(), listed),
    })
}

/// The name an entry's file has for this process: none for another user's `Local\` entry
/// (this process's `Local\x` is its own, another object), which is known by its file name.
fn name_here(file_name: &str) -> Option<Name> {
    let me = current_uid();
    Name::from_entry_file_name(file_name)
        .filter(|(_, uid)| uid.is_none_or(|uid| uid == me))
        .map(|(name, _)| name)
}

/// Removes stale entries (non-persistent, no holder) and corrupt ones nobody holds.
pub(crate) fn collect_garbage(dry_run: bool) -> Result<Vec<Collected>> {
    let dir = Dir::open_checked()?;
    let mut out = Vec::new();
    for file_name in dir.entry_file_names()? {
        // Only regular files are opened (opening a device linked in can act on it).
        let regular = rustix::fs::statat(&dir.fd, &file_name, AtFlags::SYMLINK_NOFOLLOW)
            .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::RegularFile);
        if !regular {
            continue;
        }
        let Ok(fd) = rustix::fs::openat(&dir.fd, &file_name, open_flags(false), Mode::empty())
        else {
            continue;
        };
        let Ok(st) = rustix::fs::fstat(&fd) else {
            continue;
        };
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            continue;
        }
        if rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive).is_err() {
            continue; // held by a live process
        }
        let bytes = match read_header_bytes(fd.as_fd(), st.st_size as u64) {
            Ok(b) => b,
            Err(_) => continue,
        };
        let reason = match Header::decode(&bytes, st.st_size as u64, allocation_granularity()) {
            // A persistent entry stays until it is removed by name, even if its backing
            // file looks gone or replaced from here: this process may see another mount
            // namespace's files, or a file system not mounted yet. (The file's path is not
            // looked up at all while the entry is locked: a hung network mount would hold
            // every opener of the entry up.)
            Ok(h) if h.is_persistent() => continue,
            Ok(_) => "stale: no process holds it".to_string(),
            Err(problem) => {
                let newer = bytes.len() >= 12
                    && bytes[..8] == crate::header::MAGIC
                    && u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"))
                        > crate::header::VERSION;
                if newer {
                    continue; // a newer filemap's entry: not ours to judge
                }
                format!("corrupt ({problem}) and held by no process")
            }
        };
        let (removed, error) = if dry_run {
            (false, None)
        } else {
            match unlink_if_same(&dir, &file_name, st.st_dev, st.st_ino) {
                Ok(removed) => (removed, None),
                Err(e) => (false, Some(e.to_string())),
            }
        };
        out.push(Collected {
            name: name_here(&file_name),
            file_name,
            reason,
            removed,
            error,
        });
    }
    out.sort_by(|a, b| a.file_name.cmp(&b.file_name));
    Ok(out)
}
