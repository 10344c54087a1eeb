//! `Mapping`: the mapping object (Win32's `CreateFileMapping` / `OpenFileMapping`), its
//! creation options for memory-backed and file-backed objects, and the object state that
//! its handles and views share.

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{BackingFileProblem, Error, Result};
use crate::header::{
    FileRecord, Header, FLAG_EXECUTABLE, FLAG_FILE_BACKED, FLAG_LARGE_PAGES, FLAG_PERSISTENT,
    FLAG_RESERVE, FLAG_SHARE_EXCLUSIVE, FLAG_SHARE_SHARED, MAX_PATH_LEN,
};
use crate::name::{IntoName, Name};
use crate::sys::{self, new_header};
use crate::view::ViewBuilder;
use crate::vocabulary::{Access, Disposition, Kind, LargePages, Protection, ShareMode};

/// The object state shared by a mapping handle, its clones and its views.
pub(crate) struct Object {
    pub(crate) name: Option<Name>,
    pub(crate) header: Header,
    /// Where views are mapped from.
    pub(crate) section: sys::Section,
    /// Where user offset 0 is in the section.
    pub(crate) base: u64,
    /// Whether this handle was opened for writing.
    pub(crate) writable: bool,
    /// For file-backed objects, the file's path (if known).
    pub(crate) path: Option<PathBuf>,
    /// The lock that keeps the file's share mode (file-backed objects, Linux).
    pub(crate) _share: Option<sys::FileLock>,
    /// For a foreign segment (no filemap header), its name as other programs know it.
    pub(crate) foreign: Option<String>,
    /// The entry holding the object's lifetime and header (absent for unnamed file
    /// mappings). Dropped last.
    pub(crate) entry: Option<sys::Entry>,
}

impl Object {
    /// The alignment of this object's view offsets: a huge page for objects on explicit
    /// huge pages, the allocation granularity otherwise.
    pub(crate) fn granule(&self) -> u64 {
        match sys::huge_page_size() {
            Some(huge) if self.on_huge_pages() => huge,
            _ => sys::allocation_granularity(),
        }
    }

    /// Whether the object lives on explicit huge pages (its data starts a huge page in).
    pub(crate) fn on_huge_pages(&self) -> bool {
        self.header.is_large_pages()
            && sys::huge_page_size().is_some_and(|huge| self.header.data_offset >= huge)
    }

    pub(crate) fn describe(&self) -> String {
        if let Some(f) = &self.foreign {
            return format!("the foreign segment {f}");
        }
        match (&self.name, &self.path) {
            (Some(n), _) => n.to_string(),
            (None, Some(p)) => p.display().to_string(),
            (None, None) => "an unnamed mapping".to_string(),
        }
    }

    /// Builds the object for an opened (or received) entry: memory-backed objects map the
    /// entry, file-backed ones open the file the header records and check it is the same.
    pub(crate) fn from_entry(
        name: Option<Name>,
        entry: sys::Entry,
        header: Header,
        writable: bool,
        file: Option<File>,
    ) -> Result<Object> {
        let what = name
            .as_ref()
            .map(|n| n.to_string())
            .unwrap_or_else(|| "a shared mapping".into());
        if header.kind != Kind::Mapping {
            return Err(Error::KindMismatch {
                name: what,
                found: header.kind,
                expected: Kind::Mapping,
            });
        }
        if writable && header.protection != Protection::ReadWrite {
            return Err(Error::AccessNotAllowed {
                requested: Access::Write,
                reason: format!("{what} has {} protection", header.protection),
            });
        }
        let executable = header.is_executable();
        let Some(record) = header.file.clone() else {
            let section = entry.section()?.with_executable(executable);
            return Ok(Object {
                name,
                base: header.data_offset,
                header,
                section,
                writable,
                path: None,
                _share: None,
                foreign: None,
                entry: Some(entry),
            });
        };
        let path = sys::path_from_bytes(&record.path);
        let backing = |problem| Error::BackingFile {
            name: what.clone(),
            path: path.clone(),
            problem,
        };
        let share = header.share_mode();
        let opened_here = file.is_none();
        let file = match file {
            Some(f) => f,
            None => match sys::open_file(&path, writable, executable, share) {
                Ok(f) => f,
                Err(e) if sys::is_sharing_violation(&e) => {
                    return Err(Error::ShareViolation { path, mode: share })
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(backing(BackingFileProblem::Missing))
                }
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    return Err(Error::PermissionDenied {
                        what: format!("opening {} (the file behind {what})", path.display()),
                    })
                }
                Err(e) => return Err(Error::io("open the file behind", &what, e)),
            },
        };
        if sys::file_identity(&file)? != (record.dev, record.ino) {
            return Err(backing(BackingFileProblem::Replaced));
        }
        let file_len = file
            .metadata()
            .map_err(|e| Error::io("inspect", path.display(), e))?
            .len();
        if file_len < header.size {
            return Err(backing(BackingFileProblem::TooShort { file_len }));
        }
        let lock = if opened_here {
            sys::lock_file(&file, share, true, &path)?
        } else {
            None
        };
        let section =
            sys::Section::from_file(&file, writable, executable, header.size, &path.display())?;
        Ok(Object {
            name,
            header,
            section,
            base: 0,
            writable,
            path: Some(path),
            _share: lock,
            foreign: None,
            entry: Some(entry),
        })
    }
}

/// A handle on a mapping object: named or unnamed, backed by memory or by a file.
///
/// Views of the object are made with [`Mapping::view`]. Handles and views close in any
/// order: a view keeps its object alive after every handle is dropped. A named object
/// disappears when its last handle or view, in any process, closes (also when the
/// processes holding it die), unless it was created persistent.
///
/// ```
/// # let _dir = filemap::doctest_dir();
/// use filemap::{Disposition, Mapping};
///
/// // CreateFileMapping(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 4096, L"Local\\demo")
/// let (mapping, disposition) = Mapping::create_or_open("demo", 4096)?;
/// assert_eq!(disposition, Disposition::Created);
/// let view = mapping.view().map()?;
/// view.write_at(0, b"hello")?;
///
/// // Another process (here: another handle) opens it by name.
/// let other = Mapping::open("demo")?;
/// let mut buf = [0u8; 5];
/// other.view().len(5).map()?.read_at(0, &mut buf)?;
/// assert_eq!(&buf, b"hello");
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Clone)]
pub struct Mapping {
    pub(crate) object: Arc<Object>,
}

impl fmt::Debug for Mapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mapping")
            .field("name", &self.object.name)
            .field("len", &self.len())
            .field("protection", &self.protection())
            .field("file", &self.object.path)
            .finish()
    }
}

pub(crate) fn check_mode(mode: u32) -> Result<()> {
    if mode & !0o777 != 0 || mode & 0o600 != 0o600 {
        return Err(Error::InvalidPermissions { mode });
    }
    Ok(())
}

/// Options for creating a memory-backed mapping (Win32's `CreateFileMapping` with
/// `INVALID_HANDLE_VALUE`). Made by [`Mapping::options`].
///
/// ```
/// # let _dir = filemap::doctest_dir();
/// use filemap::Mapping;
///
/// let m = Mapping::options()
///     .size(64 * 1024)
///     .permissions(0o640) // owner read-write, group read (Unix permissions)
///     .create_new("Local\\options-demo")?;
/// assert_eq!(m.len(), 65536);
///
/// // POSIX-style persistence (Linux; the Windows kernel removes an object with its last
/// // handle, so there it is Error::Unsupported):
/// # #[cfg(unix)] {
/// let p = Mapping::options().size(4096).persistent(true).create_new("persistent-demo")?;
/// drop(p);
/// assert!(Mapping::open("persistent-demo").is_ok()); // still there
/// Mapping::remove("persistent-demo")?;
/// # }
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct CreateOptions {
    size: u64,
    persistent: bool,
    mode: u32,
    protection: Protection,
    reserve: bool,
    executable: bool,
    large_pages: LargePages,
}

impl CreateOptions {
    /// The object's size in bytes (required, not zero).
    pub fn size(mut self, size: u64) -> Self {
        self.size = size;
        self
    }

    /// Keep the object after its last handle closes, until [`Mapping::remove`] (POSIX
    /// shared-memory behaviour). Default: `false` (Windows behaviour).
    pub fn persistent(mut self, persistent: bool) -> Self {
        self.persistent = persistent;
        self
    }

    /// Unix permissions of the named entry (default `0o600`; the umask does not apply).
    /// They must include owner read-write.
    pub fn permissions(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// The object's protection (default [`Protection::ReadWrite`]).
    pub fn protection(mut self, protection: Protection) -> Self {
        self.protection = protection;
        self
    }

    /// Allow views to be made executable with [`View::protect`](crate::View::protect)
    /// (`PAGE_EXECUTE_READWRITE` sections on Windows), for loaders and JITs. A view is
    /// still never writable and executable at once.
    pub fn executable(mut self, executable: bool) -> Self {
        self.executable = executable;
        self
    }

    /// Large pages (see [`LargePages`]); default [`LargePages::Off`].
    ///
    /// ```
    /// let m = filemap::Mapping::options()
    ///     .size(4 << 20)
    ///     .large_pages(filemap::LargePages::Prefer)
    ///     .create_unnamed()?;
    /// m.view().map()?.write_at(0, b"huge if the system allows")?;
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn large_pages(mut self, large_pages: LargePages) -> Self {
        self.large_pages = large_pages;
        self
    }

    /// Reserve mode (Win32's `SEC_RESERVE`): the object's memory is not allocated at
    /// creation; [`Mapping::commit`] allocates ranges of it, failing with
    /// [`Error::NoSpace`] when they cannot be.
    ///
    /// # Safety
    ///
    /// Touching memory of a reserve object that was not committed may crash the process
    /// that touches it, whatever API it uses: on Windows it is an access violation, on
    /// Linux a SIGBUS if the file system is full by then. The caller must commit every
    /// range before any view (in any process) touches it.
    ///
    /// ```
    /// # let _dir = filemap::doctest_dir();
    /// // SAFETY: the only bytes touched below are committed first.
    /// let m = unsafe { filemap::Mapping::options().size(1 << 30).reserve(true) }
    ///     .create_new("reserve-demo")?;
    /// m.commit(0, 1 << 20)?; // the first MiB now has memory behind it
    /// m.view().len(1 << 20).map()?.write_at(0, b"committed")?;
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub unsafe fn reserve(mut self, reserve: bool) -> Self {
        self.reserve = reserve;
        self
    }

    fn header(&self) -> Result<Header> {
        if self.size == 0 {
            return Err(Error::InvalidSize {
                size: 0,
                problem: "a memory-backed mapping needs a size greater than zero",
            });
        }
        if self.size > i64::MAX as u64 - (1 << 20) {
            return Err(Error::InvalidSize {
                size: self.size,
                problem: "larger than any object can be",
            });
        }
        check_mode(self.mode)?;
        let mut flags = if self.persistent { FLAG_PERSISTENT } else { 0 };
        if self.reserve {
            flags |= FLAG_RESERVE;
        }
        if self.executable {
            flags |= FLAG_EXECUTABLE;
        }
        if self.large_pages != LargePages::Off {
            flags |= FLAG_LARGE_PAGES;
        }
        Ok(new_header(
            Kind::Mapping,
            self.size,
            flags,
            self.mode,
            self.protection,
        ))
    }

    fn refuse_named_large_pages(&self) -> Result<()> {
        if self.large_pages == LargePages::Require {
            return Err(Error::Unsupported {
                what: "explicit large pages for a named object: the namespace lives on \
                       ordinary pages; use an unnamed object or LargePages::Prefer",
            });
        }
        Ok(())
    }

    /// Creates a named object; fails with [`Error::AlreadyExists`] if the name is taken.
    pub fn create_new(&self, name: impl IntoName) -> Result<Mapping> {
        self.refuse_named_large_pages()?;
        let name = name.into_name()?;
        let header = self.header()?;
        let (entry, header, _) = sys::create_entry(&name, &header, sys::CreateMode::New, None)?;
        let writable = self.protection == Protection::ReadWrite;
        Mapping::from_object(Object::from_entry(
            Some(name),
            entry,
            header,
            writable,
            None,
        )?)
    }

    /// Creates a named object, or opens the existing one (which keeps its own size).
    pub fn create_or_open(&self, name: impl IntoName) -> Result<(Mapping, Disposition)> {
        self.refuse_named_large_pages()?;
        let name = name.into_name()?;
        let header = self.header()?;
        let (entry, header, disposition) =
            sys::create_entry(&name, &header, sys::CreateMode::OrOpen, None)?;
        let writable = self.protection == Protection::ReadWrite;
        let object = Object::from_entry(Some(name), entry, header, writable, None)?;
        Ok((Mapping::from_object(object)?, disposition))
    }

    /// Creates an unnamed object, shared only by inheritance or by sending its handle.
    pub fn create_unnamed(&self) -> Result<Mapping> {
        if self.persistent {
            return Err(Error::Unsupported {
                what: "an unnamed object cannot be persistent",
            });
        }
        let mut header = self.header()?;
        if self.large_pages == LargePages::Require {
            // The header takes a whole huge page, so that data starts on one.
            header.data_offset = sys::huge_page_size().ok_or(Error::Unsupported {
                what: "explicit large pages on this system",
            })?;
        }
        let entry = sys::Entry::create_unnamed(&header)?;
        let writable = self.protection == Protection::ReadWrite;
        Mapping::from_object(Object::from_entry(None, entry, header, writable, None)?)
    }
}

/// Where a file-backed mapping's file comes from.
#[derive(Debug)]
enum FileSource {
    Path(PathBuf),
    File(File),
}

/// Options for a file-backed mapping (Win32's `CreateFile` + `CreateFileMapping`). Made by
/// [`Mapping::from_path`] or [`Mapping::from_file`].
///
/// ```
/// # let _dir = filemap::doctest_dir();
/// use filemap::{Mapping, Protection};
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("data.bin");
/// std::fs::write(&path, b"0123456789").unwrap();
///
/// // size 0: the file's size
/// let m = Mapping::from_path(&path).create()?;
/// assert_eq!(m.len(), 10);
///
/// // a larger size extends the file (it needs read-write protection)
/// let m = Mapping::from_path(&path).size(4096).create()?;
/// assert_eq!(std::fs::metadata(&path).unwrap().len(), 4096);
///
/// let ro = Mapping::from_path(&path).protection(Protection::ReadOnly).create()?;
/// assert!(ro.view().access(filemap::Access::Write).map().is_err());
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Debug)]
pub struct FileOptions {
    source: FileSource,
    protection: Protection,
    size: u64,
    name: Option<String>,
    persistent: bool,
    mode: u32,
    executable: bool,
    share: ShareMode,
}

impl FileOptions {
    /// The object's protection (default [`Protection::ReadWrite`]).
    pub fn protection(mut self, protection: Protection) -> Self {
        self.protection = protection;
        self
    }

    /// The mapping's size: 0 (the default) means the file's size; a larger size extends
    /// the file.
    pub fn size(mut self, size: u64) -> Self {
        self.size = size;
        self
    }

    /// Gives the mapping a name, so that other processes can open it (they then map the
    /// same file, after checking it is still the same file).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Keep the name after the last handle closes (named mappings only).
    pub fn persistent(mut self, persistent: bool) -> Self {
        self.persistent = persistent;
        self
    }

    /// Permissions of the named entry (default `0o600`).
    pub fn permissions(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// How the file is shared with other filemap users while this mapping lives (see
    /// [`ShareMode`]); default [`ShareMode::Any`]. A conflict is
    /// [`Error::ShareViolation`]. Openers by name use the same mode.
    pub fn share(mut self, share: ShareMode) -> Self {
        self.share = share;
        self
    }

    /// Allow views to be made executable (the file is opened with execute access on
    /// Windows), for loaders.
    pub fn executable(mut self, executable: bool) -> Self {
        self.executable = executable;
        self
    }

    /// Creates the mapping; with a name, fails with [`Error::AlreadyExists`] if it is taken.
    pub fn create(self) -> Result<Mapping> {
        self.build(sys::CreateMode::New).map(|(m, _)| m)
    }

    /// Creates the named mapping, or opens the existing one of that name (which maps its
    /// own file and keeps its own size).
    pub fn create_or_open(self) -> Result<(Mapping, Disposition)> {
        self.build(sys::CreateMode::OrOpen)
    }

    fn build(self, mode: sys::CreateMode) -> Result<(Mapping, Disposition)> {
        let writable = self.protection == Protection::ReadWrite;
        let name = self.name.as_deref().map(Name::new).transpose()?;
        if name.is_none() && self.persistent {
            return Err(Error::Unsupported {
                what: "an unnamed file mapping cannot be persistent",
            });
        }
        check_mode(self.mode)?;
        let (file, path, opened_here) =
            match self.source {
                FileSource::Path(path) => {
                    let file = sys::open_file(&path, writable, self.executable, self.share)
                        .map_err(|e| match e.kind() {
                            _ if sys::is_sharing_violation(&e) => Error::ShareViolation {
                                path: path.clone(),
                                mode: self.share,
                            },
                            std::io::ErrorKind::PermissionDenied => Error::PermissionDenied {
                                what: format!(
                                    "opening {} for {}",
                                    path.display(),
                                    if writable {
                                        "reading and writing"
                                    } else {
                                        "reading"
                                    }
                                ),
                            },
                            _ => Error::io("open", path.display(), e),
                        })?;
                    let path = std::fs::canonicalize(&path).unwrap_or(path);
                    (file, Some(path), true)
                }
                FileSource::File(file) => {
                    let path = sys::file_path(&file);
                    (file, path, false)
                }
            };
        let shown = path
            .clone()
            .unwrap_or_else(|| PathBuf::from("(an open file)"));
        // Take the share mode first, so that nothing is changed under an exclusive user.
        let share_lock = sys::lock_file(&file, self.share, opened_here, &shown)?;
        let share_flags = match self.share {
            ShareMode::Any => 0,
            ShareMode::Shared => FLAG_SHARE_SHARED,
            ShareMode::Exclusive => FLAG_SHARE_EXCLUSIVE,
        };
        if writable && !sys::file_is_writable(&file) {
            return Err(Error::FileNotWritable { path: shown });
        }
        let file_len = file
            .metadata()
            .map_err(|e| Error::io("inspect", shown.display(), e))?
            .len();
        let size = if self.size == 0 { file_len } else { self.size };
        if size == 0 {
            return Err(Error::EmptyFile { path: shown });
        }
        if size > i64::MAX as u64 {
            return Err(Error::InvalidSize {
                size,
                problem: "larger than any file can be",
            });
        }
        if size > file_len {
            if !writable {
                return Err(Error::CannotExtend {
                    path: shown,
                    file_len,
                    size,
                });
            }
            file.set_len(size).map_err(|e| match e.raw_os_error() {
                Some(code)
                    if std::io::Error::from_raw_os_error(code).kind()
                        == std::io::ErrorKind::StorageFull =>
                {
                    Error::NoSpace {
                        place: shown.display().to_string(),
                        size,
                    }
                }
                _ => Error::io("extend", shown.display(), e),
            })?;
        }
        let Some(name) = name else {
            let section =
                sys::Section::from_file(&file, writable, self.executable, size, &shown.display())?;
            let mut flags = FLAG_FILE_BACKED | share_flags;
            if self.executable {
                flags |= FLAG_EXECUTABLE;
            }
            let header = Header {
                flags,
                data_offset: 0,
                ..new_header(Kind::Mapping, size, 0, self.mode, self.protection)
            };
            let object = Object {
                name: None,
                header,
                section,
                base: 0,
                writable,
                path,
                _share: share_lock,
                foreign: None,
                entry: None,
            };
            return Ok((Mapping::from_object(object)?, Disposition::Created));
        };
        let Some(path) = path else {
            return Err(Error::io(
                "name a mapping of",
                "an open file",
                std::io::Error::other(
                    "the file has no path (it was deleted?), so other processes could not open it",
                ),
            ));
        };
        let path_bytes = sys::path_to_bytes(&path);
        if path_bytes.len() > MAX_PATH_LEN {
            return Err(Error::io(
                "record the path of",
                path.display(),
                std::io::Error::other(format!(
                    "paths longer than {MAX_PATH_LEN} bytes cannot be recorded"
                )),
            ));
        }
        let (dev, ino) = sys::file_identity(&file)?;
        let mut flags = FLAG_FILE_BACKED | share_flags;
        if self.persistent {
            flags |= FLAG_PERSISTENT;
        }
        if self.executable {
            flags |= FLAG_EXECUTABLE;
        }
        let header = Header {
            data_offset: 0,
            file: Some(FileRecord {
                dev,
                ino,
                path: path_bytes,
            }),
            ..new_header(Kind::Mapping, size, flags, self.mode, self.protection)
        };
        let (entry, header, disposition) = sys::create_entry(&name, &header, mode, None)?;
        let created = disposition == Disposition::Created;
        let own_file = created.then_some(file);
        let mut object = Object::from_entry(Some(name), entry, header, writable, own_file)?;
        if created {
            object._share = share_lock;
        }
        Ok((Mapping::from_object(object)?, disposition))
    }
}

impl Mapping {
    pub(crate) fn from_object(object: Object) -> Result<Mapping> {
        Ok(Mapping {
            object: Arc::new(object),
        })
    }

    /// Options for a new memory-backed object: size, persistence, permissions, protection.
    pub fn options() -> CreateOptions {
        CreateOptions {
            size: 0,
            persistent: false,
            mode: 0o600,
            protection: Protection::ReadWrite,
            reserve: false,
            executable: false,
            large_pages: LargePages::Off,
        }
    }

    /// Creates a named memory-backed object of `size` bytes; fails with
    /// [`Error::AlreadyExists`] if the name is taken.
    ///
    /// ```
    /// # let _dir = filemap::doctest_dir();
    /// let m = filemap::Mapping::create_new("create-new-demo", 1 << 20)?;
    /// assert_eq!(m.len(), 1 << 20);
    /// assert!(matches!(
    ///     filemap::Mapping::create_new("create-new-demo", 10),
    ///     Err(filemap::Error::AlreadyExists { .. })
    /// ));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn create_new(name: impl IntoName, size: u64) -> Result<Mapping> {
        Mapping::options().size(size).create_new(name)
    }

    /// Creates a named memory-backed object, or opens the existing one, which keeps its
    /// own size ([`Disposition::Opened`], Win32's `ERROR_ALREADY_EXISTS`).
    ///
    /// Only an object of this user's (or root's) is opened: on Linux, a `Global\` name
    /// another user took first is [`Error::ForeignOwner`] (a squatter must not get the
    /// caller's data); open another user's Global object on purpose with
    /// [`Mapping::open`].
    ///
    /// ```
    /// # let _dir = filemap::doctest_dir();
    /// use filemap::{Disposition, Mapping};
    /// let (a, d) = Mapping::create_or_open("cor-demo", 4096)?;
    /// assert_eq!(d, Disposition::Created);
    /// let (b, d) = Mapping::create_or_open("cor-demo", 8192)?;
    /// assert_eq!((d, b.len()), (Disposition::Opened, 4096));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn create_or_open(name: impl IntoName, size: u64) -> Result<(Mapping, Disposition)> {
        Mapping::options().size(size).create_or_open(name)
    }

    /// Creates an unnamed memory-backed object, shared only with child processes
    /// ([`crate::CommandExt`]) or over a Unix socket ([`Mapping::send_to`]).
    ///
    /// ```
    /// let m = filemap::Mapping::unnamed(4096)?;
    /// assert!(m.name().is_none());
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn unnamed(size: u64) -> Result<Mapping> {
        Mapping::options().size(size).create_unnamed()
    }

    /// Opens an existing named mapping for reading and writing (`OpenFileMapping` with
    /// `FILE_MAP_ALL_ACCESS`).
    ///
    /// ```
    /// # let _dir = filemap::doctest_dir();
    /// assert!(matches!(
    ///     filemap::Mapping::open("no-such-object"),
    ///     Err(filemap::Error::NotFound { .. })
    /// ));
    /// ```
    pub fn open(name: impl IntoName) -> Result<Mapping> {
        Mapping::open_with(name, Access::Write)
    }

    /// Opens an existing named mapping with the given access: [`Access::Read`] and
    /// [`Access::Copy`] open it read-only, which works on objects this user cannot write.
    ///
    /// ```
    /// # let _dir = filemap::doctest_dir();
    /// use filemap::{Access, Mapping};
    /// let m = Mapping::create_new("open-with-demo", 4096)?;
    /// let ro = Mapping::open_with("open-with-demo", Access::Read)?;
    /// assert!(ro.view().access(Access::Write).map().is_err());
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn open_with(name: impl IntoName, access: Access) -> Result<Mapping> {
        let name = name.into_name()?;
        let writable = access == Access::Write;
        let (entry, header) = sys::open_entry(&name, writable)?;
        Mapping::from_object(Object::from_entry(
            Some(name),
            entry,
            header,
            writable,
            None,
        )?)
    }

    /// Options for a mapping of the file at `path` (opened read-write, or read-only for
    /// read-only and write-copy protection).
    pub fn from_path(path: impl AsRef<Path>) -> FileOptions {
        FileOptions::new(FileSource::Path(path.as_ref().to_path_buf()))
    }

    /// Options for a mapping of an open file (the mapping keeps its own duplicate).
    ///
    /// ```
    /// use std::io::Write;
    /// let mut file = tempfile::tempfile().unwrap();
    /// file.write_all(b"Hello File Mapping").unwrap();
    /// let m = filemap::Mapping::from_file(&file)?.create()?;
    /// assert_eq!(m.len(), 18);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn from_file(file: &File) -> Result<FileOptions> {
        let file = file
            .try_clone()
            .map_err(|e| Error::io("duplicate the handle of", "a file", e))?;
        Ok(FileOptions::new(FileSource::File(file)))
    }

    /// Removes a named mapping's name now, even if it is persistent. Processes that hold
    /// it keep using it; the name is free for a new object at once.
    pub fn remove(name: impl IntoName) -> Result<()> {
        let name = name.into_name()?;
        let (entry, header) = sys::open_entry(&name, false)?;
        if header.kind != Kind::Mapping {
            return Err(Error::KindMismatch {
                name: name.to_string(),
                found: header.kind,
                expected: Kind::Mapping,
            });
        }
        drop(entry);
        sys::remove_entry(&name)
    }

    /// Allocates the memory (or, for a file-backed mapping, the disk blocks) of `len`
    /// bytes at `offset` (Win32's `VirtualAlloc(MEM_COMMIT)` on a `SEC_RESERVE` section):
    /// [`Error::NoSpace`] if it cannot be had. Committed memory is committed for every
    /// process. Objects not in reserve mode are committed at creation already; for them
    /// this only checks the range.
    pub fn commit(&self, offset: u64, len: u64) -> Result<()> {
        let object = &self.object;
        match offset.checked_add(len) {
            Some(end) if end <= object.header.size => {}
            _ => {
                return Err(Error::OutOfRange {
                    offset,
                    len,
                    size: object.header.size,
                })
            }
        }
        if len == 0 || !(object.header.is_reserve() || object.header.is_file_backed()) {
            return Ok(());
        }
        object
            .section
            .commit(object.base + offset, len, &object.describe())
    }

    /// Whether the object is in reserve mode (memory allocated by [`Mapping::commit`]).
    pub fn is_reserve(&self) -> bool {
        self.object.header.is_reserve()
    }

    /// Views over consecutive windows of `window` bytes, for scanning objects and files
    /// larger than memory (see [`Windows`](crate::Windows)).
    pub fn windows(&self, window: u64) -> Result<crate::Windows<'_>> {
        crate::Windows::new(self, window)
    }

    /// A builder for a view of this object (`MapViewOfFile`).
    pub fn view(&self) -> ViewBuilder<'_> {
        ViewBuilder::new(self)
    }

    /// The object's size in bytes: the logical size, never rounded up to pages.
    pub fn len(&self) -> u64 {
        self.object.header.size
    }

    /// Always false: mapping objects have at least one byte.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The object's name, if it has one.
    pub fn name(&self) -> Option<&Name> {
        self.object.name.as_ref()
    }

    /// The object's protection.
    pub fn protection(&self) -> Protection {
        self.object.header.protection
    }

    /// Whether this handle can map [`Access::Write`] views.
    pub fn is_writable(&self) -> bool {
        self.object.writable && self.protection() == Protection::ReadWrite
    }

    /// Whether the object outlives its handles until removed.
    pub fn is_persistent(&self) -> bool {
        self.object.header.is_persistent()
    }

    /// For a file-backed mapping, the file's path (if known).
    pub fn path(&self) -> Option<&Path> {
        self.object.path.as_deref()
    }

    /// Whether the data lives in a file (rather than in memory).
    pub fn is_file_backed(&self) -> bool {
        self.object.header.is_file_backed()
    }

    /// The pid of the process that created the object.
    pub fn creator_pid(&self) -> u32 {
        self.object.header.creator_pid
    }

    /// The access views get when the builder is not told: write if allowed, copy for
    /// write-copy objects, read otherwise.
    pub fn default_access(&self) -> Access {
        match self.protection() {
            Protection::WriteCopy => Access::Copy,
            Protection::ReadWrite if self.object.writable => Access::Write,
            _ => Access::Read,
        }
    }
}

impl FileOptions {
    fn new(source: FileSource) -> FileOptions {
        FileOptions {
            source,
            protection: Protection::ReadWrite,
            size: 0,
            name: None,
            persistent: false,
            mode: 0o600,
            executable: false,
            share: ShareMode::Any,
        }
    }
}
