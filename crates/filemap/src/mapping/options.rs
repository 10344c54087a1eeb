//! `CreateOptions`: how a memory-backed mapping object is created (size, persistence,
//! permissions, protection, reserve mode, large pages), and the permission check that the
//! synchronisation objects' options share.

use super::{Mapping, Object};
use crate::error::{Error, Result};
use crate::header::{Flags, Header};
use crate::name::IntoName;
use crate::sys::{self, new_header};
use crate::vocabulary::{Disposition, Kind, LargePages, Protection};

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
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
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
    /// The defaults: size 0 (to be set), not persistent, `0o600`, read-write, committed,
    /// not executable, ordinary pages.
    pub(super) fn new() -> CreateOptions {
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

    /// The object's size in bytes (required, not zero).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::Mapping;
    /// let m = Mapping::options().size(5000).create_new("doc-createopts-size")?;
    /// assert_eq!(m.len(), 5000);
    /// assert!(matches!(
    ///     Mapping::options().size(0).create_unnamed(),
    ///     Err(filemap::Error::InvalidSize { size: 0, .. })
    /// ));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn size(mut self, size: u64) -> Self {
        self.size = size;
        self
    }

    /// Keep the object after its last handle closes, until [`Mapping::remove`] (POSIX
    /// shared-memory behaviour). Default: `false` (Windows behaviour).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::Mapping;
    /// let options = Mapping::options().size(4096).persistent(true);
    /// // An unnamed object has no name to keep.
    /// assert!(matches!(options.create_unnamed(), Err(filemap::Error::Unsupported { .. })));
    /// #[cfg(unix)]
    /// {
    ///     let m = options.create_new("doc-createopts-persistent")?;
    ///     m.view().map()?.write_at(0, b"kept")?;
    ///     drop(m);
    ///     let again = Mapping::open("doc-createopts-persistent")?;
    ///     assert_eq!(again.view().map()?.read_vec(0, 4)?, b"kept");
    ///     Mapping::remove("doc-createopts-persistent")?;
    /// }
    /// // Windows removes a named object with its last handle.
    /// #[cfg(windows)]
    /// assert!(matches!(
    ///     options.create_new("doc-createopts-persistent"),
    ///     Err(filemap::Error::Unsupported { .. })
    /// ));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn persistent(mut self, persistent: bool) -> Self {
        self.persistent = persistent;
        self
    }

    /// Unix permissions of the named entry (default `0o600`; the umask does not apply).
    /// They must include owner read-write.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::Mapping;
    /// let _m = Mapping::options()
    ///     .size(4096)
    ///     .permissions(0o640)
    ///     .create_new("doc-createopts-permissions")?;
    /// let info = filemap::namespace::info("doc-createopts-permissions")?;
    /// assert_eq!(info.mode & 0o777, 0o640);
    /// // The owner must keep read and write.
    /// assert!(matches!(
    ///     Mapping::options().size(4096).permissions(0o444).create_new("doc-createopts-444"),
    ///     Err(filemap::Error::InvalidPermissions { mode: 0o444 })
    /// ));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn permissions(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// The object's protection (default [`Protection::ReadWrite`]).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::{Access, Mapping, Protection};
    /// let m = Mapping::options()
    ///     .size(4096)
    ///     .protection(Protection::ReadOnly)
    ///     .create_new("doc-createopts-protection")?;
    /// let v = m.view().map()?;
    /// assert_eq!(v.access(), Access::Read);
    /// assert!(matches!(v.write_at(0, b"x"), Err(filemap::Error::ViewNotWritable { .. })));
    /// assert!(m.view().access(Access::Write).map().is_err());
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn protection(mut self, protection: Protection) -> Self {
        self.protection = protection;
        self
    }

    /// Allow views to be made executable with [`View::protect`](crate::View::protect)
    /// (`PAGE_EXECUTE_READWRITE` sections on Windows), for loaders and JITs. A view is
    /// still never writable and executable at once, with one gap on Windows: in
    /// [`reserve`](CreateOptions::reserve) mode, pages committed after a view was mapped
    /// may come up in that view with the rights it was mapped with, execute included (call
    /// [`View::protect`](crate::View::protect) after committing to set them). Whoever may
    /// open the object may make views of it executable (on Windows its section grants
    /// execute wherever its permissions grant read, as Linux asks no execute bit of a
    /// mapping).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::{Mapping, Protect};
    /// let plain = Mapping::options().size(4096).create_new("doc-createopts-plain")?;
    /// assert!(matches!(
    ///     plain.view().map()?.protect(Protect::ReadExecute),
    ///     Err(filemap::Error::NotExecutable { .. })
    /// ));
    /// let exe = Mapping::options().size(4096).executable(true).create_new("doc-createopts-exe")?;
    /// let mut v = exe.view().map()?;
    /// v.protect(Protect::ReadExecute)?;
    /// assert!(v.write_at(0, b"x").is_err()); // never writable and executable at once
    /// # Ok::<(), filemap::Error>(())
    /// ```
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
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
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
        let mut flags = Flags::empty();
        flags.set(Flags::PERSISTENT, self.persistent);
        if self.reserve {
            flags |= Flags::RESERVE;
        }
        if self.executable {
            flags |= Flags::EXECUTABLE;
        }
        if self.large_pages != LargePages::Off {
            flags |= Flags::LARGE_PAGES;
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
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::Mapping;
    /// let options = Mapping::options().size(4096);
    /// let m = options.create_new("doc-createopts-create-new")?;
    /// assert_eq!(m.name().unwrap().base(), "doc-createopts-create-new");
    /// assert!(matches!(
    ///     options.create_new("doc-createopts-create-new"),
    ///     Err(filemap::Error::AlreadyExists { .. })
    /// ));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn create_new(&self, name: impl IntoName) -> Result<Mapping> {
        self.refuse_named_large_pages()?;
        let name = name.into_name()?;
        let header = self.header()?;
        let (entry, header, _) =
            sys::create_entry(&name, &header, sys::CreateMode::New, (None, None))?;
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
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::{Disposition, Mapping};
    /// let (a, d) = Mapping::options().size(4096).create_or_open("doc-createopts-cor")?;
    /// assert_eq!(d, Disposition::Created);
    /// let (b, d) = Mapping::options().size(1 << 20).create_or_open("doc-createopts-cor")?;
    /// assert_eq!((d, b.len()), (Disposition::Opened, 4096)); // the existing object's size
    /// a.view().map()?.write_at(0, b"same")?;
    /// assert_eq!(b.view().map()?.read_vec(0, 4)?, b"same");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn create_or_open(&self, name: impl IntoName) -> Result<(Mapping, Disposition)> {
        self.refuse_named_large_pages()?;
        let name = name.into_name()?;
        let header = self.header()?;
        let (entry, header, disposition) =
            sys::create_entry(&name, &header, sys::CreateMode::OrOpen, (None, None))?;
        let writable = self.protection == Protection::ReadWrite;
        let object = Object::from_entry(Some(name), entry, header, writable, None)?;
        Ok((Mapping::from_object(object)?, disposition))
    }

    /// Creates an unnamed object, shared only by inheritance or by sending its handle.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::Mapping;
    /// let a = Mapping::options().size(4096).create_unnamed()?;
    /// let b = Mapping::options().size(4096).create_unnamed()?;
    /// assert!(a.name().is_none());
    /// a.view().map()?.write_at(0, b"a")?;
    /// assert_eq!(b.view().map()?.read_vec(0, 1)?, [0]); // each call makes an object of its own
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn create_unnamed(&self) -> Result<Mapping> {
        if self.persistent {
            return Err(Error::Unsupported {
                what: "an unnamed object cannot be persistent",
            });
        }
        let mut header = self.header()?;
        if self.large_pages == LargePages::Require && self.reserve {
            return Err(Error::Unsupported {
                what: "reserve with explicit large pages: large pages are committed when made",
            });
        }
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
