//! The vocabulary shared by the public API and the platform seam: what an object is
//! ([`Kind`]), what it allows ([`Protection`], [`Access`], [`ShareMode`], [`LargePages`]),
//! what a create call found ([`Disposition`]), what a view is told ([`Advice`],
//! [`Protect`]), which side of a channel waits ([`Side`]), and how long a name may be.
//! Plain types, importing nothing from the rest of the crate, so that `sys/` can speak them
//! without reaching up.

use std::fmt;

/// The longest base name accepted, in bytes (`Name::MAX_LEN`).
pub(crate) const MAX_NAME_LEN: usize = 200;

/// The kinds of object that share filemap's one namespace.
///
/// Opening a name as the wrong kind is [`Error::KindMismatch`](crate::Error::KindMismatch).
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// let _m = filemap::sync::NamedMutex::create_new("kind-demo")?;
/// match filemap::Mapping::open("kind-demo") {
///     Err(filemap::Error::KindMismatch { found, .. }) => assert_eq!(found, filemap::Kind::Mutex),
///     other => panic!("{other:?}"),
/// }
/// assert_eq!(filemap::Kind::Channel.as_str(), "channel");
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// A mapping object ([`crate::Mapping`]): memory-backed or file-backed.
    Mapping,
    /// A named mutex.
    Mutex,
    /// A named event.
    Event,
    /// A named semaphore.
    Semaphore,
    /// A typed value guarded by a mutex.
    SharedMutex,
    /// A message channel.
    Channel,
    /// A publish-subscribe topic.
    Topic,
    /// An inbox: many senders, one receiver.
    Inbox,
    /// A service: a server and its clients, request and response.
    Service,
}

impl Kind {
    pub(crate) const ALL: [Kind; 9] = [
        Kind::Mapping,
        Kind::Mutex,
        Kind::Event,
        Kind::Semaphore,
        Kind::SharedMutex,
        Kind::Channel,
        Kind::Topic,
        Kind::Inbox,
        Kind::Service,
    ];

    /// The kind's name as shown by the CLI and in errors (`"mapping"`, `"mutex"`, ...).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::{sync::NamedSemaphore, Kind};
    /// let _s = NamedSemaphore::create_new("doc-kind-as-str", 0, 1)?;
    /// let kind = filemap::namespace::info("doc-kind-as-str")?.kind.unwrap();
    /// assert_eq!(kind.as_str(), "semaphore");
    /// assert_eq!(Kind::SharedMutex.as_str(), "shared-mutex");
    /// assert_eq!(Kind::Mapping.to_string(), Kind::Mapping.as_str()); // `Display` says the same
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Mapping => "mapping",
            Kind::Mutex => "mutex",
            Kind::Event => "event",
            Kind::Semaphore => "semaphore",
            Kind::SharedMutex => "shared-mutex",
            Kind::Channel => "channel",
            Kind::Topic => "topic",
            Kind::Inbox => "inbox",
            Kind::Service => "service",
        }
    }

    /// The kind's name with its indefinite article, for messages: "an event", "a mapping".
    pub(crate) fn with_article(self) -> &'static str {
        match self {
            Kind::Mapping => "a mapping",
            Kind::Mutex => "a mutex",
            Kind::Event => "an event",
            Kind::Semaphore => "a semaphore",
            Kind::SharedMutex => "a shared-mutex",
            Kind::Channel => "a channel",
            Kind::Topic => "a topic",
            Kind::Inbox => "an inbox",
            Kind::Service => "a service",
        }
    }

    pub(crate) fn code(self) -> u32 {
        match self {
            Kind::Mapping => 1,
            Kind::Mutex => 2,
            Kind::Event => 3,
            Kind::Semaphore => 4,
            Kind::SharedMutex => 5,
            Kind::Channel => 6,
            Kind::Topic => 7,
            Kind::Inbox => 8,
            Kind::Service => 9,
        }
    }

    pub(crate) fn from_code(code: u32) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.code() == code)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a mapping object allows its views to do (Win32's `PAGE_READONLY`,
/// `PAGE_READWRITE`, `PAGE_WRITECOPY`).
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::{Access, Mapping, Protection};
/// let m = Mapping::options().size(4096).protection(Protection::WriteCopy).create_new("prot-demo")?;
/// assert!(m.view().access(Access::Write).map().is_err()); // writes never reach the object
/// m.view().access(Access::Copy).map()?.write_at(0, b"private")?;
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protection {
    /// Views can read ([`Access::Read`]) or make private copies ([`Access::Copy`]).
    ReadOnly,
    /// Views can read, write and copy.
    ReadWrite,
    /// Views can read or copy; writes never reach the object.
    WriteCopy,
}

impl Protection {
    /// The name used by the CLI and in errors (`"read-only"`, ...).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::{Access, Mapping, Protection};
    /// let ro = Mapping::options().size(4096).protection(Protection::ReadOnly);
    /// let m = ro.create_new("doc-protection-as-str")?;
    /// let err = m.view().access(Access::Write).map().unwrap_err();
    /// assert!(err.to_string().contains(Protection::ReadOnly.as_str())); // "... read-only ..."
    /// assert_eq!(Protection::WriteCopy.as_str(), "write-copy");
    /// assert_eq!(Protection::ReadWrite.to_string(), "read-write");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Protection::ReadOnly => "read-only",
            Protection::ReadWrite => "read-write",
            Protection::WriteCopy => "write-copy",
        }
    }
}

impl fmt::Display for Protection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a handle is opened or a view is mapped (Win32's `FILE_MAP_READ`, `FILE_MAP_WRITE`,
/// `FILE_MAP_COPY`).
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::{Access, Mapping};
/// let m = Mapping::create_new("access-demo", 4096)?;
/// let w = m.view().access(Access::Write).map()?;
/// let c = m.view().access(Access::Copy).map()?;
/// w.write_at(0, b"shared")?;
/// c.write_at(0, b"mine!!")?;
/// assert_eq!(m.view().access(Access::Read).map()?.read_vec(0, 6)?, b"shared");
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// Read only.
    Read,
    /// Read and write; writes are seen by every view of the object, in every process.
    Write,
    /// Copy-on-write: the view can be written, but its changes stay private to it.
    Copy,
}

impl Access {
    /// The name used by the CLI and in errors (`"read"`, `"write"`, `"copy"`).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::{Access, Mapping};
    /// let m = Mapping::create_new("doc-access-as-str", 4096)?;
    /// let err = m.view().access(Access::Read).map()?.write_at(0, b"x").unwrap_err();
    /// assert_eq!(err.to_string(), "the view is mapped for read access and cannot be written");
    /// assert_eq!(Access::Copy.as_str(), "copy");
    /// assert_eq!(Access::Write.to_string(), "write");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::Copy => "copy",
        }
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a file-backed mapping shares its file with other cooperating filemap users (Win32's
/// `CreateFile` share mode), so that they cannot pull the file from under each other.
///
/// On Linux this is an advisory `flock` on the file, held while the mapping lives: it
/// binds filemap users (and any program that takes `flock` itself), not a process that
/// simply truncates, rewrites or deletes the file, which then still breaks views of it
/// (pages cut off under a view read as an error, `PageFault`, through the view's copies,
/// and raise SIGBUS through a raw pointer into them). On Windows
/// it is the share mode of the handle filemap opens, enforced by the kernel for every
/// program, which also refuses to shrink a file that has a mapping.
///
/// ```
/// use filemap::{Mapping, ShareMode};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("shared.bin");
/// std::fs::write(&path, [0u8; 4096]).unwrap();
/// let a = Mapping::from_path(&path).share(ShareMode::Shared).create()?;
/// let b = Mapping::from_path(&path).share(ShareMode::Shared).create()?; // fine
/// assert!(matches!(
///     Mapping::from_path(&path).share(ShareMode::Exclusive).create(),
///     Err(filemap::Error::ShareViolation { .. })
/// ));
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ShareMode {
    /// No promise (the default).
    #[default]
    Any,
    /// Others may map and write the file too, but no one may take it exclusively (for
    /// example to truncate or replace it) while this mapping lives.
    Shared,
    /// No other filemap user may map the file while this mapping lives; fails if one
    /// does.
    Exclusive,
}

/// Large pages for a memory-backed object (Win32's `SEC_LARGE_PAGES`).
///
/// ```
/// use filemap::{LargePages, Mapping};
/// // Never an error: huge pages where the system gives them.
/// let m = Mapping::options().size(2 << 20).large_pages(LargePages::Prefer).create_unnamed()?;
/// assert_eq!(m.len(), 2 << 20);
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum LargePages {
    /// Ordinary pages (the default).
    #[default]
    Off,
    /// Ask for huge pages where the system gives them without configuration: views are
    /// advised to use transparent huge pages (Linux `MADV_HUGEPAGE`, effective when
    /// `/sys/kernel/mm/transparent_hugepage/shmem_enabled` allows it); ordinary pages
    /// otherwise, never an error. Windows: ordinary pages.
    Prefer,
    /// Explicit huge pages or an error, for unnamed objects: Linux puts one on hugetlb
    /// pages (`MFD_HUGETLB`; reserved pages are needed, see `/proc/sys/vm/nr_hugepages`,
    /// or creation fails with [`Error::NoSpace`](crate::Error::NoSpace)); Windows on large
    /// pages (`SEC_LARGE_PAGES`) where the process holds `SeLockMemoryPrivilege` ("Lock
    /// pages in memory", which filemap enables when the token holds it). Views then start
    /// on large-page boundaries. Named objects, and Windows without the privilege, answer
    /// [`Error::Unsupported`](crate::Error::Unsupported).
    Require,
}

/// Whether `create_or_open` made a new object or found one (Win32's `ERROR_ALREADY_EXISTS`).
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::{Disposition, Mapping};
/// let (_a, first) = Mapping::create_or_open("disposition-demo", 4096)?;
/// let (_b, second) = Mapping::create_or_open("disposition-demo", 4096)?;
/// assert_eq!((first, second), (Disposition::Created, Disposition::Opened));
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Disposition {
    /// A new object was created with the size asked for.
    Created,
    /// An object of that name existed; it keeps its own size.
    Opened,
}

/// Advice to the kernel about how a view will be used (`madvise`; on Windows only
/// `WillNeed` and `DontNeed` have an equivalent).
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// let m = filemap::Mapping::create_new("advice-demo", 1 << 20)?;
/// let v = m.view().map()?;
/// v.advise(filemap::Advice::Sequential)?;
/// v.advise_range(0, 4096, filemap::Advice::WillNeed)?;
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Advice {
    /// No particular pattern.
    Normal,
    /// Read from start to end: read ahead aggressively, drop pages behind.
    Sequential,
    /// Random access: no read-ahead.
    Random,
    /// Will be needed soon: start reading it in.
    WillNeed,
    /// Not needed for now: drop the pages (they are read back from the object when
    /// touched again). Refused on copy views, where it would discard their changes.
    DontNeed,
}

/// A view's current page protection (`VirtualProtect`). Never writable and executable at
/// once: switching between writing and executing is explicit.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// let m = filemap::Mapping::create_new("protect-type-demo", 4096)?;
/// let mut v = m.view().map()?;
/// v.protect(filemap::Protect::ReadOnly)?;
/// assert!(v.write_at(0, b"x").is_err());
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protect {
    /// Reads only.
    ReadOnly,
    /// Reads and writes (write and copy views only).
    ReadWrite,
    /// Reads and executes (for loaders and JITs).
    ReadExecute,
}

impl fmt::Display for Protect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protect::ReadOnly => "read-only",
            Protect::ReadWrite => "read-write",
            Protect::ReadExecute => "read-execute",
        })
    }
}

/// Which side of a channel waits or is woken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Sender,
    Receiver,
}
