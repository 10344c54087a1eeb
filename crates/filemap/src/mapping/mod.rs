//! `Mapping`: the handle on a mapping object (Win32's `CreateFileMapping` /
//! `OpenFileMapping`); its creation options are in `options` (memory-backed) and `file`
//! (file-backed), the state its handles and views share in `crate::object`.

mod file;
mod options;

pub use file::FileOptions;
pub use options::CreateOptions;
pub(crate) use options::check_mode;

use std::fmt;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::name::{IntoName, Name};
use crate::object::Object;
use crate::sys::{self};
use crate::view::ViewBuilder;
use crate::vocabulary::{Access, Disposition, Kind, Protection};

/// A handle on a mapping object: named or unnamed, backed by memory or by a file.
///
/// Views of the object are made with [`Mapping::view`]. Handles and views close in any
/// order: a view keeps its object alive after every handle is dropped. A named object
/// disappears when its last handle or view, in any process, closes (also when the
/// processes holding it die), unless it was created persistent.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
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

impl Mapping {
    pub(crate) fn from_object(object: Object) -> Result<Mapping> {
        Ok(Mapping {
            object: Arc::new(object),
        })
    }

    /// Options for a new memory-backed object: size, persistence, permissions, protection.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::Mapping;
    /// let m = Mapping::options().size(8192).create_new("doc-mapping-options")?;
    /// assert_eq!((m.len(), m.is_persistent()), (8192, false));
    /// // The size has no default.
    /// assert!(matches!(
    ///     Mapping::options().create_new("doc-mapping-options-unsized"),
    ///     Err(filemap::Error::InvalidSize { size: 0, .. })
    /// ));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn options() -> CreateOptions {
        CreateOptions::new()
    }

    /// Creates a named memory-backed object of `size` bytes; fails with
    /// [`Error::AlreadyExists`] if the name is taken.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
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
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
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
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
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
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
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
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::Mapping;
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("doc-mapping-from-path.bin");
    /// std::fs::write(&path, b"hello file").unwrap();
    /// let m = Mapping::from_path(&path).create()?;
    /// let v = m.view().map()?;
    /// assert_eq!(v.read_vec(0, 5)?, b"hello");
    /// v.write_at(0, b"HELLO")?;
    /// v.flush()?;
    /// assert_eq!(std::fs::read(&path).unwrap(), b"HELLO file");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn from_path(path: impl AsRef<Path>) -> FileOptions {
        FileOptions::new(file::FileSource::Path(path.as_ref().to_path_buf()))
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
        Ok(FileOptions::new(file::FileSource::File(file)))
    }

    /// Removes a named mapping's name now, even if it is persistent. Processes that hold
    /// it keep using it; the name is free for a new object at once. Linux only: Windows
    /// removes a name with its object's last handle, and this is [`Error::Unsupported`]
    /// there.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::Mapping;
    /// let m = Mapping::create_new("doc-mapping-remove", 4096)?;
    /// m.view().map()?.write_at(0, b"old")?;
    /// #[cfg(unix)]
    /// {
    ///     Mapping::remove("doc-mapping-remove")?;
    ///     assert!(matches!(
    ///         Mapping::open("doc-mapping-remove"),
    ///         Err(filemap::Error::NotFound { .. })
    ///     ));
    ///     assert_eq!(m.view().map()?.read_vec(0, 3)?, b"old"); // the holder keeps its object
    ///     let fresh = Mapping::create_new("doc-mapping-remove", 4096)?; // the name is free
    ///     assert_eq!(fresh.view().map()?.read_vec(0, 3)?, [0, 0, 0]);
    /// }
    /// // Windows removes a name only with the object's last handle.
    /// #[cfg(windows)]
    /// assert!(matches!(
    ///     Mapping::remove("doc-mapping-remove"),
    ///     Err(filemap::Error::Unsupported { .. })
    /// ));
    /// # Ok::<(), filemap::Error>(())
    /// ```
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
        // The name of the entry just looked at, not of one made since under it.
        entry.remove_name(&name)
    }

    /// Allocates the memory (or, for a file-backed mapping, the disk blocks) of `len`
    /// bytes at `offset` (Win32's `VirtualAlloc(MEM_COMMIT)` on a `SEC_RESERVE` section):
    /// [`Error::NoSpace`] if it cannot be had. Committed memory is committed for every
    /// process. Objects not in reserve mode are committed at creation already; for them
    /// this only checks the range. A file's blocks are allocated on Linux (`fallocate`:
    /// a sparse file's holes filled, so that writing them later cannot find the disk
    /// full), which needs a handle that can write the file ([`Error::AccessNotAllowed`]);
    /// Windows allocates them as pages are written, and there this only checks the range.
    /// Committing memory needs a handle that can write the object (its creator's, or one
    /// opened for writing). A range past the end of a file another process cut short is
    /// [`Error::PageFault`] (`truncated`; its offset where the file ends, in the mapping:
    /// where it ended when this call looked, or now if shorter still, the range from there
    /// not committed), what is still there committed, and the file stays as short as it
    /// was cut.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::Mapping;
    /// // SAFETY: only the committed range is touched below.
    /// let m = unsafe { Mapping::options().size(1 << 20).reserve(true) }
    ///     .create_new("doc-mapping-commit")?;
    /// m.commit(4096, 4096)?;
    /// m.view().offset(4096).len(4096).map()?.write_at(0, b"backed")?;
    /// // The range must lie inside the object.
    /// assert!(matches!(
    ///     m.commit(1 << 20, 1),
    ///     Err(filemap::Error::OutOfRange { .. })
    /// ));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn commit(&self, offset: u64, len: u64) -> Result<()> {
        let object = &self.object;
        match offset.checked_add(len) {
            Some(end) if end <= object.header.size => {}
            _ => {
                return Err(Error::OutOfRange {
                    offset,
                    len,
                    size: object.header.size,
                });
            }
        }
        if len == 0 || !(object.header.is_reserve() || object.header.is_file_backed()) {
            return Ok(());
        }
        // Committing never changes the storage's length: a file another process cut short
        // stays so (it was grown back, over what that process meant), only what is still
        // there is allocated, and a range past its end (looked at again after: it may be cut
        // meanwhile) is said as a view says it.
        let (start, end) = (object.base + offset, object.base + offset + len);
        let there = match object.section.stored_len() {
            Some(stored) => end.min(stored.max(start)),
            None => end,
        };
        if there > start {
            object
                .section
                .commit(start, there - start, &object.describe())?;
        }
        // (Short at the first look too: the range from there was not allocated, though
        // the file may have grown back over it since.)
        let stored = object.section.stored_len();
        if there < end || stored.is_some_and(|len| len < end) {
            let cut = stored.map_or(there, |len| len.min(there));
            return Err(Error::PageFault {
                name: object.describe().to_string(),
                offset: cut.saturating_sub(object.base),
                truncated: true,
            });
        }
        Ok(())
    }

    /// Whether the object is in reserve mode (memory allocated by [`Mapping::commit`]).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::Mapping;
    /// assert!(!Mapping::create_new("doc-mapping-is-reserve", 4096)?.is_reserve());
    /// // SAFETY: nothing of this object is touched.
    /// let r = unsafe { Mapping::options().size(1 << 20).reserve(true) }.create_unnamed()?;
    /// assert!(r.is_reserve());
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn is_reserve(&self) -> bool {
        self.object.header.is_reserve()
    }

    /// Views over consecutive windows of `window` bytes, for scanning objects and files
    /// larger than memory (see [`Windows`](crate::Windows)).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// let m = filemap::Mapping::create_new("doc-mapping-windows", 10_000)?;
    /// let lens = m
    ///     .windows(4096)?
    ///     .map(|view| Ok(view?.len()))
    ///     .collect::<filemap::Result<Vec<_>>>()?;
    /// assert_eq!(lens, [4096, 4096, 1808]);
    /// assert!(matches!(m.windows(0), Err(filemap::Error::InvalidSize { .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn windows(&self, window: u64) -> Result<crate::Windows<'_>> {
        crate::Windows::new(self, window)
    }

    /// A builder for a view of this object (`MapViewOfFile`).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::{Access, Mapping};
    /// let m = Mapping::create_new("doc-mapping-view", 8192)?;
    /// let v = m.view().offset(100).len(10).map()?;
    /// assert_eq!((v.offset(), v.len(), v.access()), (100, 10, Access::Write));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn view(&self) -> ViewBuilder<'_> {
        ViewBuilder::new(&self.object)
    }

    /// The object's size in bytes: the logical size, never rounded up to pages.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// let m = filemap::Mapping::create_new("doc-mapping-len", 5000)?;
    /// assert_eq!(m.len(), 5000); // not rounded up to a page
    /// assert_eq!(m.view().map()?.len(), 5000);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn len(&self) -> u64 {
        self.object.header.size
    }

    /// Always false: mapping objects have at least one byte.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// assert!(!filemap::Mapping::create_new("doc-mapping-is-empty", 1)?.is_empty());
    /// // An object of no bytes cannot be made.
    /// assert!(matches!(
    ///     filemap::Mapping::unnamed(0),
    ///     Err(filemap::Error::InvalidSize { .. })
    /// ));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The object's name, if it has one.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// let m = filemap::Mapping::create_new("doc-mapping-name", 4096)?;
    /// let name = m.name().unwrap();
    /// assert_eq!(name.to_string(), "Local\\doc-mapping-name");
    /// assert_eq!(name.base(), "doc-mapping-name");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn name(&self) -> Option<&Name> {
        self.object.name.as_ref()
    }

    /// The object's protection.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::{Access, Mapping, Protection};
    /// let m = Mapping::options()
    ///     .size(4096)
    ///     .protection(Protection::ReadOnly)
    ///     .create_new("doc-mapping-protection")?;
    /// assert_eq!(m.protection(), Protection::ReadOnly);
    /// // It is the object's: every handle sees the same.
    /// let other = Mapping::open_with("doc-mapping-protection", Access::Read)?;
    /// assert_eq!(other.protection(), Protection::ReadOnly);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn protection(&self) -> Protection {
        self.object.header.protection
    }

    /// Whether this handle can map [`Access::Write`] views.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::{Access, Mapping};
    /// let m = Mapping::create_new("doc-mapping-is-writable", 4096)?;
    /// assert!(m.is_writable());
    /// let ro = Mapping::open_with("doc-mapping-is-writable", Access::Read)?;
    /// assert!(!ro.is_writable());
    /// assert!(ro.view().access(Access::Write).map().is_err());
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn is_writable(&self) -> bool {
        self.object.writable && self.protection() == Protection::ReadWrite
    }

    /// Whether the object outlives its handles until removed.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::Mapping;
    /// assert!(!Mapping::create_new("doc-mapping-is-persistent", 4096)?.is_persistent());
    /// #[cfg(unix)] // (Windows has no persistent objects)
    /// {
    ///     let p = Mapping::options().size(4096).persistent(true);
    ///     assert!(p.create_new("doc-mapping-kept")?.is_persistent());
    ///     Mapping::remove("doc-mapping-kept")?;
    /// }
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn is_persistent(&self) -> bool {
        self.object.header.is_persistent()
    }

    /// For a file-backed mapping, the file's path (if known): the path of the file it
    /// opened, as the system names it (absolute, symbolic links resolved; on Windows
    /// without the `\\?\` prefix).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::Mapping;
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("doc-mapping-path.bin");
    /// std::fs::write(&path, [0u8; 16]).unwrap();
    /// let m = Mapping::from_path(&path).create()?;
    /// let canonical = |p: &std::path::Path| std::fs::canonicalize(p).unwrap();
    /// assert_eq!(m.path().map(canonical), Some(canonical(&path)));
    /// assert_eq!(Mapping::create_new("doc-mapping-path", 16)?.path(), None);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn path(&self) -> Option<&Path> {
        self.object.path.as_deref()
    }

    /// Whether the data lives in a file (rather than in memory).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::Mapping;
    /// let file = tempfile::tempfile().unwrap();
    /// file.set_len(4096).unwrap();
    /// assert!(Mapping::from_file(&file)?.create()?.is_file_backed());
    /// assert!(!Mapping::create_new("doc-mapping-is-file-backed", 4096)?.is_file_backed());
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn is_file_backed(&self) -> bool {
        self.object.header.is_file_backed()
    }

    /// The pid of the process that created the object.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::Mapping;
    /// let _m = Mapping::create_new("doc-mapping-creator-pid", 4096)?;
    /// // Recorded in the object, so an opener learns it too.
    /// let opened = Mapping::open("doc-mapping-creator-pid")?;
    /// assert_eq!(opened.creator_pid(), std::process::id());
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn creator_pid(&self) -> u32 {
        self.object.header.creator_pid
    }

    /// The access views get when the builder is not told: write if allowed, copy for
    /// write-copy objects, read otherwise.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::{Access, Mapping, Protection};
    /// let m = Mapping::create_new("doc-mapping-default-access", 4096)?;
    /// assert_eq!(m.default_access(), Access::Write);
    /// let ro = Mapping::open_with("doc-mapping-default-access", Access::Read)?;
    /// assert_eq!(ro.default_access(), Access::Read);
    /// let cow = Mapping::options().size(4096).protection(Protection::WriteCopy).create_unnamed()?;
    /// assert_eq!(cow.default_access(), Access::Copy);
    /// assert_eq!(cow.view().map()?.access(), Access::Copy);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn default_access(&self) -> Access {
        self.object.default_access()
    }
}
