//! The state a mapping object's handles and views share: its header, the section views are
//! mapped from, the entry that holds its lifetime, and, for file-backed objects, the file.

use std::fs::File;
use std::path::PathBuf;

use crate::error::{BackingFileProblem, Error, Result};
use crate::header::Header;
use crate::name::Name;
use crate::sys;
use crate::vocabulary::{Access, Kind, Protection};

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
    pub(crate) share_lock: Option<sys::FileLock>,
    /// For a foreign segment (no filemap header), its name as other programs know it.
    pub(crate) foreign: Option<String>,
    /// The entry holding the object's lifetime and header (absent for unnamed file
    /// mappings). Dropped last.
    pub(crate) entry: Option<sys::Entry>,
}

impl Object {
    /// The access views get when the builder is not told: write if allowed, copy for
    /// write-copy objects, read otherwise.
    pub(crate) fn default_access(&self) -> Access {
        match self.header.protection {
            Protection::WriteCopy => Access::Copy,
            Protection::ReadWrite if self.writable => Access::Write,
            _ => Access::Read,
        }
    }

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
        sys::on_huge_pages(&self.header)
    }

    /// How errors name this object (see [`Described`]).
    pub(crate) fn describe(&self) -> Described<'_> {
        Described(self)
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
        // Spelled out only for an error or a file-backed object (it costs an allocation).
        let what = || {
            name.as_ref()
                .map(|n| n.to_string())
                .unwrap_or_else(|| "a shared mapping".into())
        };
        if header.kind != Kind::Mapping {
            return Err(Error::KindMismatch {
                name: what(),
                found: header.kind,
                expected: Kind::Mapping,
            });
        }
        if writable && header.protection != Protection::ReadWrite {
            return Err(Error::AccessNotAllowed {
                requested: Access::Write,
                reason: format!("{} has {} protection", what(), header.protection),
            });
        }
        let executable = header.is_executable();
        let Some(record) = header.file.clone() else {
            let section = entry
                .section()?
                .with_executable(executable)
                .with_large_pages(sys::on_huge_pages(&header));
            return Ok(Object {
                name,
                base: header.data_offset,
                header,
                section,
                writable,
                path: None,
                share_lock: None,
                foreign: None,
                entry: Some(entry),
            });
        };
        let what = what();
        let path = sys::path_from_bytes(&record.path);
        let backing = |problem| Error::BackingFile {
            name: what.clone(),
            path: path.clone(),
            problem,
        };
        let share = header.share_mode();
        let opened_here = file.is_none();
        // Another user's entry may name only a file of its own (below, once it is open),
        // and not even a path whose opening would reach another machine.
        let foreign = |problem: String| Error::PermissionDenied {
            what: format!(
                "opening {} (the file behind {what}): {problem}",
                path.display()
            ),
        };
        if opened_here {
            if let Some(problem) = entry.foreign_backing_path(&path) {
                return Err(foreign(problem));
            }
        }
        let file = match file {
            Some(f) => f,
            None => match sys::open_file(&sys::FileRequest {
                path: &path,
                writable,
                executable,
                share,
                recorded: true,
                foreign_owner: opened_here.then(|| entry.foreign_owner_uid()).flatten(),
            }) {
                Ok(f) => f,
                Err(e) if sys::is_sharing_violation(&e) => {
                    return Err(Error::ShareViolation { path, mode: share });
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(backing(BackingFileProblem::Missing));
                }
                // (The file another user's entry names is not theirs: `foreign_owner`.)
                Err(e)
                    if e.kind() == std::io::ErrorKind::PermissionDenied
                        && e.get_ref().is_some() =>
                {
                    return Err(foreign(e.to_string()));
                }
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    return Err(Error::PermissionDenied {
                        what: format!("opening {} (the file behind {what})", path.display()),
                    });
                }
                Err(e) => return Err(Error::io("open the file behind", &what, e)),
            },
        };
        if sys::file_identity(&file)? != (record.dev, record.ino) {
            return Err(backing(BackingFileProblem::Replaced));
        }
        if opened_here {
            // Another user's entry may name only a file of theirs: it could otherwise point
            // this process at any file, opened and mapped with this process's rights.
            if let Some(problem) = entry.foreign_backing_file(&file) {
                return Err(foreign(problem));
            }
        }
        let file_len = file
            .metadata()
            .map_err(|e| Error::io("inspect", path.display(), e))?
            .len();
        if file_len < header.size {
            return Err(backing(BackingFileProblem::TooShort { file_len }));
        }
        let lock = if opened_here {
            sys::lock_file(&sys::FileLockRequest {
                file: &file,
                share,
                opened_here: true,
                path: &path,
            })?
        } else {
            None
        };
        let section = sys::Section::from_file(&sys::FileSectionRequest {
            file: &file,
            writable,
            executable,
            size: header.size,
            what: &path.display(),
        })?;
        Ok(Object {
            name,
            header,
            section,
            base: 0,
            writable,
            path: Some(path),
            share_lock: lock,
            foreign: None,
            entry: Some(entry),
        })
    }
}

/// How errors name an object: its name, its file's path, or what it is ([`Object::describe`];
/// spelled out only when displayed).
#[derive(Clone, Copy)]
pub(crate) struct Described<'a>(&'a Object);

impl std::fmt::Display for Described<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let object = self.0;
        if let Some(foreign) = &object.foreign {
            return write!(f, "the foreign segment {foreign}");
        }
        match (&object.name, &object.path) {
            (Some(n), _) => n.fmt(f),
            (None, Some(p)) => p.display().fmt(f),
            (None, None) => f.write_str("an unnamed mapping"),
        }
    }
}

impl std::fmt::Debug for Described<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.to_string())
    }
}
