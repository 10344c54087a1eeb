//! `FileOptions`: how a file-backed mapping object is created (Win32's `CreateFile` +
//! `CreateFileMapping`): the file, protection, size, name, persistence and share mode.

use std::fs::File;
use std::path::PathBuf;

use super::{Mapping, Object, check_mode};
use crate::error::{Error, Result};
use crate::header::{FileRecord, Flags, Header, MAX_PATH_LEN};
use crate::name::Name;
use crate::sys::{self, new_header};
use crate::vocabulary::{Disposition, Kind, Protection, ShareMode};

/// Where a file-backed mapping's file comes from.
#[derive(Debug)]
pub(super) enum FileSource {
    Path(PathBuf),
    File(File),
}

/// Options for a file-backed mapping (Win32's `CreateFile` + `CreateFileMapping`). Made by
/// [`Mapping::from_path`] or [`Mapping::from_file`].
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
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
    pub(super) fn new(source: FileSource) -> FileOptions {
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

    /// The object's protection (default [`Protection::ReadWrite`]).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::{Access, Mapping, Protection};
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("doc-fileopts-protection.bin");
    /// std::fs::write(&path, b"original").unwrap();
    /// let m = Mapping::from_path(&path).protection(Protection::WriteCopy).create()?;
    /// let v = m.view().map()?; // a copy view: its writes stay private
    /// assert_eq!(v.access(), Access::Copy);
    /// v.write_at(0, b"CHANGED!")?;
    /// assert_eq!(v.read_vec(0, 8)?, b"CHANGED!");
    /// assert_eq!(std::fs::read(&path).unwrap(), b"original");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn protection(mut self, protection: Protection) -> Self {
        self.protection = protection;
        self
    }

    /// The mapping's size: 0 (the default) means the file's size; a larger size extends
    /// the file.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::{Mapping, Protection};
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("doc-fileopts-size.bin");
    /// std::fs::write(&path, b"0123456789").unwrap();
    /// // A smaller size maps the start of the file and leaves the file as it is.
    /// let m = Mapping::from_path(&path).size(4).create()?;
    /// assert_eq!((m.len(), m.view().map()?.read_vec(0, 4)?), (4, b"0123".to_vec()));
    /// assert_eq!(std::fs::metadata(&path).unwrap().len(), 10);
    /// // Growing the file needs read-write protection.
    /// assert!(matches!(
    ///     Mapping::from_path(&path).protection(Protection::ReadOnly).size(20).create(),
    ///     Err(filemap::Error::CannotExtend { file_len: 10, size: 20, .. })
    /// ));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn size(mut self, size: u64) -> Self {
        self.size = size;
        self
    }

    /// Gives the mapping a name, so that other processes can open it (they then map the
    /// same file, after checking it is still the same file).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::Mapping;
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("doc-fileopts-name.bin");
    /// std::fs::write(&path, b"by name").unwrap();
    /// let m = Mapping::from_path(&path).name("doc-fileopts-name").create()?;
    /// // Another process opens it by name, and maps the same file.
    /// let other = Mapping::open("doc-fileopts-name")?;
    /// assert!(other.is_file_backed() && other.path() == m.path());
    /// assert_eq!(other.view().map()?.read_vec(0, 7)?, b"by name");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Keep the name after the last handle closes (named mappings only).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::Mapping;
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("doc-fileopts-persistent.bin");
    /// std::fs::write(&path, [0u8; 4096]).unwrap();
    /// // Without a name there is nothing to keep.
    /// assert!(matches!(
    ///     Mapping::from_path(&path).persistent(true).create(),
    ///     Err(filemap::Error::Unsupported { .. })
    /// ));
    /// #[cfg(unix)] // (Windows has no persistent objects)
    /// {
    ///     let options = Mapping::from_path(&path).name("doc-fileopts-persistent");
    ///     drop(options.persistent(true).create()?);
    ///     assert!(Mapping::open("doc-fileopts-persistent")?.is_persistent()); // still there
    ///     Mapping::remove("doc-fileopts-persistent")?;
    /// }
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn persistent(mut self, persistent: bool) -> Self {
        self.persistent = persistent;
        self
    }

    /// Permissions of the named entry (default `0o600`).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::Mapping;
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("doc-fileopts-permissions.bin");
    /// std::fs::write(&path, [0u8; 4096]).unwrap();
    /// let _m = Mapping::from_path(&path)
    ///     .name("doc-fileopts-permissions")
    ///     .permissions(0o640)
    ///     .create()?;
    /// let info = filemap::namespace::info("doc-fileopts-permissions")?;
    /// assert_eq!(info.mode & 0o777, 0o640);
    /// // The owner must keep read and write.
    /// assert!(matches!(
    ///     Mapping::from_path(&path).permissions(0o444).create(),
    ///     Err(filemap::Error::InvalidPermissions { mode: 0o444 })
    /// ));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn permissions(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// How the file is shared with other filemap users while this mapping lives (see
    /// [`ShareMode`]); default [`ShareMode::Any`]. A conflict is
    /// [`Error::ShareViolation`]. Openers by name use the same mode: the one the named
    /// mapping was made with, also a `create_or_open` that opens it (the mode given here
    /// is then only asked for while the name is looked at). Windows keeps share
    /// modes with the file's handle, which is opened with them: for a file the caller
    /// opened ([`Mapping::from_file`](crate::Mapping::from_file)) a mode other than `Any`
    /// is [`Error::Unsupported`] there (open it with `OpenOptionsExt::share_mode`, or map
    /// it by path).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::{Mapping, ShareMode};
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("doc-fileopts-share.bin");
    /// std::fs::write(&path, [0u8; 4096]).unwrap();
    /// let only = Mapping::from_path(&path).share(ShareMode::Exclusive).create()?;
    /// assert!(matches!(
    ///     Mapping::from_path(&path).share(ShareMode::Shared).create(),
    ///     Err(filemap::Error::ShareViolation { .. })
    /// ));
    /// drop(only); // the mode is held while the mapping lives
    /// assert!(Mapping::from_path(&path).share(ShareMode::Shared).create().is_ok());
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn share(mut self, share: ShareMode) -> Self {
        self.share = share;
        self
    }

    /// Allow views to be made executable (the file is opened with execute access on
    /// Windows), for loaders.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::{Mapping, Protect};
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("doc-fileopts-executable.bin");
    /// std::fs::write(&path, [0u8; 4096]).unwrap();
    /// let plain = Mapping::from_path(&path).create()?;
    /// assert!(matches!(
    ///     plain.view().map()?.protect(Protect::ReadExecute),
    ///     Err(filemap::Error::NotExecutable { .. })
    /// ));
    /// let exe = Mapping::from_path(&path).executable(true).create()?;
    /// let mut v = exe.view().map()?;
    /// v.protect(Protect::ReadExecute)?;
    /// assert_eq!(v.protection(), Protect::ReadExecute);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn executable(mut self, executable: bool) -> Self {
        self.executable = executable;
        self
    }

    /// Creates the mapping; with a name, fails with [`Error::AlreadyExists`] if it is taken.
    /// A file shorter than [`size`](FileOptions::size) is grown to it, after the name and
    /// the file's path are looked at: a create refused for them leaves the file as it was.
    /// (A name taken by another process in the moment between that look and the create, or
    /// a create that fails later, for want of room in the namespace say, leaves the file
    /// grown.)
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::Mapping;
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("doc-fileopts-create.bin");
    /// std::fs::write(&path, b"data").unwrap();
    /// let m = Mapping::from_path(&path).name("doc-fileopts-create").create()?;
    /// assert_eq!(m.len(), 4);
    /// assert!(matches!(
    ///     Mapping::from_path(&path).name("doc-fileopts-create").create(),
    ///     Err(filemap::Error::AlreadyExists { .. })
    /// ));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn create(self) -> Result<Mapping> {
        self.build(sys::CreateMode::New).map(|(m, _)| m)
    }

    /// Creates the named mapping, or opens the existing one of that name (which maps its
    /// own file and keeps its own size). As with [`create`](FileOptions::create), a file
    /// shorter than [`size`](FileOptions::size) is grown to it only if this call creates the
    /// mapping: one that opens the name's own leaves the file as it was (unless the name was
    /// taken only after this call looked at it).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::{Disposition, Mapping};
    /// let dir = tempfile::tempdir().unwrap();
    /// let (a, b) = (dir.path().join("doc-fileopts-a.bin"), dir.path().join("doc-fileopts-b.bin"));
    /// std::fs::write(&a, b"first").unwrap();
    /// std::fs::write(&b, b"second file").unwrap();
    /// let (m, d) = Mapping::from_path(&a).name("doc-fileopts-cor").create_or_open()?;
    /// assert_eq!((d, m.len()), (Disposition::Created, 5));
    /// // The name's mapping keeps its own file and size.
    /// let (o, d) = Mapping::from_path(&b).name("doc-fileopts-cor").create_or_open()?;
    /// assert_eq!((d, o.len()), (Disposition::Opened, 5));
    /// assert_eq!(o.view().map()?.read_vec(0, 5)?, b"first");
    /// # Ok::<(), filemap::Error>(())
    /// ```
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
        let (file, path, opened_here) = match self.source {
            FileSource::Path(path) => {
                let file = sys::open_file(&sys::FileRequest {
                    path: &path,
                    writable,
                    executable: self.executable,
                    share: self.share,
                    recorded: false,
                    foreign_owner: None,
                })
                .map_err(|e| match e.kind() {
                    // (Opening one for writing fails so; for reading, `unmappable` says.)
                    std::io::ErrorKind::IsADirectory => Error::NotMappable {
                        path: path.clone(),
                        why: "it is a directory",
                    },
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
                // The path of the file opened, as the system names it (symbolic links
                // resolved), not looked up again by the name given: that may name another
                // file by now.
                let path = sys::file_path(&file)
                    .unwrap_or_else(|| std::fs::canonicalize(&path).unwrap_or(path));
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
        // Before the share lock (a second open of a pseudo file) and before anything is
        // changed (a pseudo file "extended" to a size, say).
        if let Some(why) = sys::unmappable(&file) {
            return Err(Error::NotMappable { path: shown, why });
        }
        // Take the share mode first, so that nothing is changed under an exclusive user.
        let share_lock = sys::lock_file(&sys::FileLockRequest {
            file: &file,
            share: self.share,
            opened_here,
            path: &shown,
        })?;
        let share_flags = match self.share {
            ShareMode::Any => Flags::empty(),
            ShareMode::Shared => Flags::SHARE_SHARED,
            ShareMode::Exclusive => Flags::SHARE_EXCLUSIVE,
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
        // What a named mapping records of its file is found before the file is grown: a
        // create refused for it leaves the user's file as it was. A named mapping's file is
        // grown only once its create has found the name free, just before it names the new
        // entry (`BeforeNaming`): a create refused for a name in use leaves the file as it
        // was, and so does a create_or_open that opens the name's own mapping; no process
        // finds the name before its file is grown, not even after a create killed midway.
        // (A name taken between that look and the naming leaves the file grown.)
        let record = name
            .as_ref()
            .map(|_| file_record(&file, path.as_deref()))
            .transpose()?;
        let growing = Growing {
            file: &file,
            shown: &shown,
            size,
            writable,
            file_len,
        };
        let Some(name) = name else {
            growing.grow()?;
            let section = sys::Section::from_file(&sys::FileSectionRequest {
                file: &file,
                writable,
                executable: self.executable,
                size,
                what: &shown.display(),
            })?;
            let mut flags = Flags::FILE_BACKED | share_flags;
            if self.executable {
                flags |= Flags::EXECUTABLE;
            }
            let header = Header {
                flags,
                data_offset: 0,
                ..new_header(
                    Kind::Mapping,
                    size,
                    Flags::empty(),
                    self.mode,
                    self.protection,
                )
            };
            let object = Object {
                name: None,
                header,
                section,
                base: 0,
                writable,
                path,
                share_lock,
                foreign: None,
                entry: None,
            };
            return Ok((Mapping::from_object(object)?, Disposition::Created));
        };
        let record = record.expect("found above for a named mapping");
        let mut flags = Flags::FILE_BACKED | share_flags;
        if self.persistent {
            flags |= Flags::PERSISTENT;
        }
        if self.executable {
            flags |= Flags::EXECUTABLE;
        }
        let header = Header {
            data_offset: 0,
            file: Some(record),
            ..new_header(Kind::Mapping, size, flags, self.mode, self.protection)
        };
        let grow = || growing.grow();
        let (entry, header, disposition) =
            sys::create_entry(&name, &header, mode, (None, Some(&grow)))?;
        let created = disposition == Disposition::Created;
        // A persistent name this call made stays behind the entry's last handle: it is
        // taken back if what follows fails (a file that cannot be taken on: no descriptor
        // left, say), but only if it still names this entry (another may have been made
        // under it since); and an object another process opened meanwhile keeps it.
        let made_persistent =
            (created && self.persistent).then(|| (entry.name_removal(), name.clone()));
        let take_back = |e: Error| {
            if let Some((removal, name)) = &made_persistent {
                let _ = removal.take_back(name);
            }
            e
        };
        // An entry opened (not made here) is taken on as any opener of the name takes it,
        // with the file opened again and locked in the entry's share mode: this call's
        // own lock on the file, taken before it knew, goes first (kept, it conflicted with
        // that lock: a ShareViolation against itself).
        let (own_file, share_lock) = if created {
            (Some(file), share_lock)
        } else {
            drop((file, share_lock));
            (None, None)
        };
        let mut object =
            Object::from_entry(Some(name), entry, header, writable, own_file).map_err(take_back)?;
        if created {
            object.share_lock = share_lock;
        }
        Ok((Mapping::from_object(object)?, disposition))
    }
}

/// What a named file-backed mapping records of its file: its path (which must be known, and
/// fit the header) and identity.
fn file_record(file: &File, path: Option<&std::path::Path>) -> Result<FileRecord> {
    let Some(path) = path else {
        return Err(Error::FileHasNoPath);
    };
    let path_bytes = sys::path_to_bytes(path);
    if path_bytes.len() > MAX_PATH_LEN {
        return Err(Error::PathTooLong {
            len: path_bytes.len(),
            path: path.to_path_buf(),
            max: MAX_PATH_LEN,
        });
    }
    let (dev, ino) = sys::file_identity(file)?;
    Ok(FileRecord {
        dev,
        ino,
        path: path_bytes,
    })
}

/// Growing a file to a mapping's size, where it is shorter.
struct Growing<'a> {
    file: &'a File,
    shown: &'a std::path::Path,
    size: u64,
    writable: bool,
    /// Its length when the create began.
    file_len: u64,
}

impl Growing<'_> {
    /// Grows the file to the size if it is shorter: `CannotExtend` through a handle that
    /// cannot write, `NoSpace` where there is no room.
    fn grow(&self) -> Result<()> {
        if self.size <= self.file_len {
            return Ok(());
        }
        // Grown only if it is still shorter (another process may have grown it since its
        // length was read: setting the length would cut it back). Where the system can
        // only extend a file (Linux), no moment remains between this look and the change
        // in which it still may; elsewhere one does.
        let now = self
            .file
            .metadata()
            .map_err(|e| Error::io("inspect", self.shown.display(), e))?
            .len();
        if now >= self.size {
            return Ok(());
        }
        if !self.writable {
            return Err(Error::CannotExtend {
                path: self.shown.to_path_buf(),
                file_len: now,
                size: self.size,
            });
        }
        let extended = match sys::extend_file(self.file, self.size) {
            Ok(true) => Ok(()),
            Ok(false) => self.file.set_len(self.size),
            Err(e) => Err(e),
        };
        extended.map_err(|e| match e.raw_os_error() {
            Some(code)
                if matches!(
                    std::io::Error::from_raw_os_error(code).kind(),
                    std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
                ) =>
            {
                Error::NoSpace {
                    place: self.shown.display().to_string(),
                    size: self.size,
                }
            }
            // (As for an entry, `sys::allocate`: the file system's limit, as a full one is.)
            Some(code)
                if std::io::Error::from_raw_os_error(code).kind()
                    == std::io::ErrorKind::FileTooLarge =>
            {
                Error::NoSpace {
                    place: format!("{} {}", self.shown.display(), sys::FILE_TOO_LARGE),
                    size: self.size,
                }
            }
            _ => Error::io("extend", self.shown.display(), e),
        })
    }
}
