//! The namespace as a whole: listing entries (`filemap ls`), describing one
//! (`filemap info`), removing a name of any kind (`filemap rm`), and collecting stale
//! entries (`filemap gc`).

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::error::Result;
use crate::name::IntoName;
use crate::sys;
use crate::vocabulary::Kind;

/// One entry of the namespace, as `filemap ls` shows it.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// let _m = filemap::Mapping::create_new("entry-info-demo", 4096)?;
/// let e = filemap::namespace::info("entry-info-demo")?;
/// assert_eq!((e.kind, e.size, e.persistent), (Some(filemap::Kind::Mapping), Some(4096), false));
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EntryInfo {
    /// The object's name (`Local\x`, `Global\x`), or the entry's file name if it is not a
    /// valid filemap name.
    pub name: String,
    /// The entry's file name in the namespace directory.
    pub file_name: String,
    /// The kind, if the header could be read.
    pub kind: Option<Kind>,
    /// The logical size in bytes, if the header could be read.
    pub size: Option<u64>,
    /// Whether the object outlives its handles.
    pub persistent: bool,
    /// For file-backed mappings, the file.
    pub file: Option<PathBuf>,
    /// Pids of the processes holding a handle (0 for a holder of unknown pid); `None`
    /// where the system does not tell (Windows). A handle passed to another process
    /// (inherited by a child, sent over a socket) is listed under the process that opened
    /// it, for as long as any process holds it: the system records who took the handle's
    /// lock, not who holds it now.
    pub holders: Option<Vec<u32>>,
    /// No process holds it and it is not persistent: the next create/open or
    /// `filemap gc` reclaims it.
    pub stale: bool,
    /// The entry's owner uid (Linux; 0 on Windows, where `owner_sid` says it).
    pub owner: u32,
    /// The entry's permissions (on Windows, those its creator asked for, which its
    /// security descriptor grants).
    pub mode: u32,
    /// Windows: the owner's SID (`S-1-5-...`), where it could be read.
    pub owner_sid: Option<String>,
    /// Windows: the object's security descriptor in SDDL (owner and access entries), where
    /// it could be read.
    pub security: Option<String>,
    /// The creator's pid, if the header could be read.
    pub creator_pid: Option<u32>,
    /// When it was created, if the header could be read.
    pub created: Option<SystemTime>,
    /// What is wrong: the entry is not a valid filemap object (its `kind` is then `None`),
    /// or (its `kind` known) the file behind a file-backed mapping is gone, replaced or
    /// shorter than the mapping (on Linux looked at only for this user's and root's
    /// entries: another user's names a path of their choosing, which is not followed).
    pub problem: Option<String>,
    /// Why this process could not read the entry, if it could not (another user's, not
    /// shared with this one): its kind, size and persistence are then not known
    /// (`persistent` is `false`), and nothing is known to be wrong with it (`problem` is
    /// `None`).
    pub unreadable: Option<String>,
}

/// The namespace directory (`$FILEMAP_DIR`, or `/dev/shm`). Windows keeps names in the
/// kernel's object namespace instead.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// // SAFETY: at the start of the program, before it starts any thread.
/// unsafe { std::env::set_var("FILEMAP_DIR", dir.path()) };
/// assert_eq!(filemap::namespace::directory(), dir.path());
/// let _m = filemap::Mapping::create_new("doc-namespace-directory", 4096)?;
/// let entry = filemap::namespace::info("doc-namespace-directory")?.file_name;
/// assert!(dir.path().join(entry).exists()); // the object's entry is a file in it
/// # Ok::<(), filemap::Error>(())
/// ```
#[cfg(unix)]
pub fn directory() -> PathBuf {
    sys::namespace_dir_path()
}

/// The namespace this process sees, as one string that tells namespaces apart on one
/// host and stays the same while the namespace does (for a program that must say which
/// namespace it speaks for, as the Zenoh bridge's id does): on Linux the namespace
/// directory as the system resolves it, with its device and inode (two containers with a
/// /dev/shm each differ; a directory reached through a symbolic link does not); on
/// Windows this session's object directory, where its `Local\` names live
/// (`\Sessions\1\BaseNamedObjects`: two sessions of one user differ; in session 0, where
/// services run and `Local\` names are the global ones, `\BaseNamedObjects`).
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// // SAFETY: at the start of the program, before it starts any thread.
/// unsafe { std::env::set_var("FILEMAP_DIR", dir.path()) };
/// let here = filemap::namespace::identity();
/// # #[cfg(unix)]
/// assert!(here.starts_with(&*std::fs::canonicalize(dir.path()).unwrap().to_string_lossy()));
/// # #[cfg(windows)]
/// assert!(here.ends_with("\\BaseNamedObjects"));
/// ```
pub fn identity() -> String {
    sys::namespace_identity()
}

/// Where this process's `Global\` names live, as [`identity`] says where its `Local\`
/// ones do: on Linux the same (both are in the namespace directory); on Windows the
/// machine's object directory, `\BaseNamedObjects`, one for every session.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// let global = filemap::namespace::global_identity();
/// # #[cfg(unix)]
/// assert_eq!(global, filemap::namespace::identity());
/// # #[cfg(windows)]
/// assert_eq!(global, "\\BaseNamedObjects");
/// ```
pub fn global_identity() -> String {
    sys::global_namespace_identity()
}

/// Every entry in the namespace that this process can see. On Windows: the filemap
/// sections (those with filemap's header) and the named mutexes, events and semaphores in
/// this session's object directory (`Local\`) and the global one (`Global\`); Windows
/// marks no kernel mutex, event or semaphore as filemap's, so other programs' show too.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// let m = filemap::Mapping::create_new("ls-demo", 4096)?;
/// # #[cfg(unix)] {
/// let entries = filemap::namespace::list()?;
/// let e = entries.iter().find(|e| e.name == "Local\\ls-demo").unwrap();
/// assert_eq!(e.size, Some(4096));
/// assert!(e.holders.as_ref().unwrap().contains(&std::process::id()));
/// # }
/// let e = filemap::namespace::info("ls-demo")?;
/// assert_eq!(e.size, Some(4096));
/// # Ok::<(), filemap::Error>(())
/// ```
pub fn list() -> Result<Vec<EntryInfo>> {
    Ok(sys::list_entries()?.into_iter().map(entry_info).collect())
}

fn entry_info(raw: sys::RawEntry) -> EntryInfo {
    let (header, problem) = match raw.header {
        Ok(h) => (Some(h), None),
        // A native kernel object (Windows) has no header to be wrong, nor has an entry
        // this process may not read.
        Err(_) if raw.native.is_some() || raw.unreadable.is_some() => (None, None),
        Err(p) => (None, Some(p)),
    };
    let persistent = header.as_ref().is_some_and(|h| h.is_persistent());
    let problem = problem.or_else(|| {
        let h = header.as_ref()?;
        let record = h.file.as_ref()?;
        let problem = sys::backing_file_problem(record, h.size, raw.owner)?;
        Some(format!(
            "{}: {problem}",
            sys::path_from_bytes(&record.path).display()
        ))
    });
    EntryInfo {
        name: raw
            .name
            .map(|n| n.to_string())
            .unwrap_or_else(|| raw.file_name.clone()),
        file_name: raw.file_name,
        kind: header.as_ref().map(|h| h.kind).or(raw.native),
        size: header.as_ref().map(|h| h.size),
        persistent,
        file: header
            .as_ref()
            .and_then(|h| h.file.as_ref())
            .map(|f| sys::path_from_bytes(&f.path)),
        stale: header.is_some()
            && !persistent
            && raw.holders.as_ref().is_some_and(|h| h.is_empty()),
        holders: raw.holders,
        owner: raw.owner,
        mode: raw.mode,
        owner_sid: raw.security.as_ref().map(|(owner, _)| owner.clone()),
        security: raw.security.map(|(_, sddl)| sddl),
        creator_pid: header.as_ref().map(|h| h.creator_pid),
        created: header
            .as_ref()
            .map(|h| SystemTime::UNIX_EPOCH + Duration::from_nanos(h.created_unix_ns)),
        problem,
        unreadable: raw.unreadable,
    }
}

/// The entry of one name.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::{namespace, sync::NamedSemaphore, Kind};
/// let _s = NamedSemaphore::create_new("doc-namespace-info", 0, 1)?;
/// let e = namespace::info("doc-namespace-info")?;
/// assert_eq!(e.name, "Local\\doc-namespace-info");
/// assert_eq!(e.kind, Some(Kind::Semaphore));
/// assert!(!e.stale); // this process holds it
/// let missing = namespace::info("doc-namespace-missing");
/// assert!(matches!(missing, Err(filemap::Error::NotFound { .. })));
/// # Ok::<(), filemap::Error>(())
/// ```
pub fn info(name: impl IntoName) -> Result<EntryInfo> {
    Ok(entry_info(sys::describe_entry(&name.into_name()?)?))
}

/// Removes a name now, whatever its kind (`filemap rm`). Holders keep their object; the
/// name is free at once. Linux only: Windows removes a name with its object's last handle,
/// and this is [`Error::Unsupported`](crate::Error::Unsupported) there.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::{namespace, Mapping};
/// let m = Mapping::create_new("doc-namespace-remove", 4096)?;
/// m.view().map()?.write_at(0, b"old")?;
/// #[cfg(target_os = "linux")]
/// {
///     namespace::remove("doc-namespace-remove")?;
///     // The name is free at once...
///     let again = Mapping::create_new("doc-namespace-remove", 4096)?;
///     assert_eq!(again.view().map()?.read_vec(0, 3)?, [0, 0, 0]); // a new object
///     // ...and the holders keep their object.
///     assert_eq!(m.view().map()?.read_vec(0, 3)?, b"old");
/// }
/// #[cfg(windows)] // the kernel removes a name with its object's last handle
/// assert!(matches!(
///     namespace::remove("doc-namespace-remove"),
///     Err(filemap::Error::Unsupported { .. })
/// ));
/// # Ok::<(), filemap::Error>(())
/// ```
pub fn remove(name: impl IntoName) -> Result<()> {
    sys::remove_entry(&name.into_name()?)
}

/// What [`collect_garbage`] did with one entry.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// // Nothing is stale while its holders live.
/// let _m = filemap::Mapping::create_new("collected-demo", 4096)?;
/// assert!(filemap::namespace::collect_garbage(true)?.is_empty());
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Collected {
    /// The object's name, or the entry's file name.
    pub name: String,
    /// Why it is garbage: stale, or corrupt and held by no one.
    pub reason: String,
    /// Whether it was removed (false in a dry run, or if removal failed).
    pub removed: bool,
    /// Why removal failed, if it did.
    pub error: Option<String>,
}

/// Removes every stale entry (not persistent, held by no process: every holder died) and
/// every corrupt entry nobody holds. With `dry_run`, only reports them.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::namespace;
/// #[cfg(target_os = "linux")]
/// {
///     // A corrupt entry that nobody holds: a file without filemap's header.
///     let junk = namespace::directory().join("filemap.global.doc-namespace-gc");
///     std::fs::write(&junk, b"not a filemap object").unwrap();
///     let is_junk = |c: &namespace::Collected| c.name == "Global\\doc-namespace-gc";
///     let reported = namespace::collect_garbage(true)?; // a dry run...
///     assert!(reported.iter().any(|c| is_junk(c) && !c.removed));
///     assert!(junk.exists()); // ...removes nothing
///     let collected = namespace::collect_garbage(false)?;
///     assert!(collected.iter().any(|c| is_junk(c) && c.removed));
///     assert!(!junk.exists());
/// }
/// #[cfg(windows)] // nothing is ever stale there
/// assert!(namespace::collect_garbage(false)?.is_empty());
/// # Ok::<(), filemap::Error>(())
/// ```
pub fn collect_garbage(dry_run: bool) -> Result<Vec<Collected>> {
    Ok(sys::collect_garbage(dry_run)?
        .into_iter()
        .map(|c| Collected {
            name: c.name.map(|n| n.to_string()).unwrap_or(c.file_name),
            reason: c.reason,
            removed: c.removed,
            error: c.error,
        })
        .collect())
}
