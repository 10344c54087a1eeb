//! Foreign segments: shared memory made by other programs without filemap's header (Python's
//! `multiprocessing.shared_memory`, C's `shm_open`, numpy users; on Windows any named
//! `CreateFileMapping` section), opened as raw mappings of their true size, and raw segments
//! that those programs can open. filemap never removes a foreign segment unless asked to.

use crate::error::{Error, NameProblem, Result};
use crate::header::Flags;
use crate::mapping::Mapping;
use crate::object::Object;
use crate::sys;
use crate::sys::new_header;
use crate::vocabulary::{Access, Kind, Protection};

/// Checks a segment name as `shm_open` takes it (one leading `/` is dropped) and returns
/// it without the slash.
fn segment_name(name: &str) -> Result<&str> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    let invalid = |problem| Error::InvalidName {
        name: name.to_string(),
        problem,
    };
    if bare.is_empty() {
        return Err(invalid(NameProblem::Empty));
    }
    if bare == "." || bare == ".." {
        return Err(invalid(NameProblem::DotName));
    }
    if bare.starts_with(crate::name::ENTRY_PREFIX) {
        return Err(invalid(NameProblem::EntryFileName));
    }
    if bare.len() > 255 {
        return Err(invalid(NameProblem::TooLong { len: bare.len() }));
    }
    for (i, c) in bare.char_indices() {
        if c.is_control() {
            return Err(invalid(NameProblem::ControlCharacter { position: i }));
        }
        if c == '/' {
            return Err(invalid(NameProblem::Slash { position: i }));
        }
    }
    Ok(bare)
}

fn foreign_mapping(
    name: &str,
    section: sys::Section,
    size: u64,
    writable: bool,
) -> Result<Mapping> {
    if size == 0 {
        return Err(Error::InvalidSize {
            size,
            problem: "the segment is empty",
        });
    }
    let mut header = new_header(
        Kind::Mapping,
        size,
        Flags::empty(),
        0o600,
        Protection::ReadWrite,
    );
    header.data_offset = 0;
    Mapping::from_object(Object {
        name: None,
        header,
        section,
        base: 0,
        writable,
        path: None,
        share_lock: None,
        foreign: Some(name.to_string()),
        entry: None,
    })
}

impl Mapping {
    /// Opens a foreign segment for reading and writing: POSIX shared memory as
    /// `shm_open(name)` opens it (`psm_1234`, `/mydata`) on Linux, a named section on Windows.
    /// The mapping covers the whole segment (Windows reports sizes rounded up to pages);
    /// dropping it leaves the segment in place.
    ///
    /// ```no_run
    /// // A segment made by Python: SharedMemory(name="psm_demo", create=True, size=4096)
    /// let m = filemap::Mapping::open_foreign("psm_demo")?;
    /// let bytes = m.view().map()?.read_vec(0, 16)?;
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn open_foreign(name: &str) -> Result<Mapping> {
        Mapping::open_foreign_with(name, Access::Write)
    }

    /// [`open_foreign`](Mapping::open_foreign) with an access mode ([`Access::Read`] and
    /// [`Access::Copy`] open it read-only).
    ///
    /// ```
    /// use filemap::{Access, Mapping};
    /// let name = format!("filemap-doc-foreign-ro-{}", std::process::id());
    /// let made = Mapping::create_foreign(&name, 4096)?;
    /// made.view().map()?.write_at(0, b"numbers")?;
    /// let ro = Mapping::open_foreign_with(&name, Access::Read)?;
    /// assert!(!ro.is_writable());
    /// assert_eq!(ro.view().map()?.read_vec(0, 7)?, b"numbers");
    /// assert!(ro.view().access(Access::Write).map().is_err());
    /// # #[cfg(unix)]
    /// Mapping::remove_foreign(&name)?;
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn open_foreign_with(name: &str, access: Access) -> Result<Mapping> {
        let bare = segment_name(name)?;
        let writable = access == Access::Write;
        let (section, size) = sys::open_foreign(bare, writable)?;
        foreign_mapping(bare, section, size, writable)
    }

    /// Creates a foreign segment of `size` bytes, without filemap's header, that other
    /// programs open by `name` (`shm_open`, `SharedMemory(name)`, `OpenFileMapping`). On
    /// Linux it stays until [`Mapping::remove_foreign`], as POSIX segments do; on Windows
    /// it goes with its last handle.
    ///
    /// ```
    /// let name = format!("filemap-doc-{}", std::process::id());
    /// let m = filemap::Mapping::create_foreign(&name, 4096)?;
    /// m.view().map()?.write_at(0, b"raw bytes, no header")?;
    /// assert_eq!(m.foreign_name(), Some(name.as_str()));
    /// # #[cfg(unix)]
    /// filemap::Mapping::remove_foreign(&name)?;
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn create_foreign(name: &str, size: u64) -> Result<Mapping> {
        let bare = segment_name(name)?;
        if size == 0 {
            return Err(Error::InvalidSize {
                size,
                problem: "a segment needs a size greater than zero",
            });
        }
        let section = sys::create_foreign(bare, size, 0o600)?;
        foreign_mapping(bare, section, size, true)
    }

    /// Removes a foreign segment's name (`shm_unlink`). Linux only: on Windows a segment
    /// goes with its last handle ([`Error::Unsupported`]).
    ///
    /// ```
    /// use filemap::Mapping;
    /// let name = format!("filemap-doc-foreign-remove-{}", std::process::id());
    /// let m = Mapping::create_foreign(&name, 4096)?;
    /// #[cfg(target_os = "linux")]
    /// {
    ///     Mapping::remove_foreign(&name)?;
    ///     let gone = Mapping::open_foreign(&name); // gone by name...
    ///     assert!(matches!(gone, Err(filemap::Error::NotFound { .. })));
    ///     m.view().map()?.write_at(0, b"still mapped")?; // ...not from its handles
    /// }
    /// #[cfg(windows)]
    /// assert!(matches!(Mapping::remove_foreign(&name), Err(filemap::Error::Unsupported { .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn remove_foreign(name: &str) -> Result<()> {
        sys::remove_foreign(segment_name(name)?)
    }

    /// For a foreign segment, its name as other programs know it.
    ///
    /// ```
    /// use filemap::Mapping;
    /// let name = format!("/filemap-doc-foreign-name-{}", std::process::id());
    /// let m = Mapping::create_foreign(&name, 4096)?;
    /// assert_eq!(m.foreign_name(), Some(&name[1..])); // as `shm_open` takes it, less the '/'
    /// assert_eq!(Mapping::unnamed(4096)?.foreign_name(), None); // not a foreign segment
    /// # #[cfg(unix)]
    /// Mapping::remove_foreign(&name)?;
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn foreign_name(&self) -> Option<&str> {
        self.object.foreign.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names() {
        assert_eq!(segment_name("/psm_1").unwrap(), "psm_1");
        assert_eq!(segment_name("psm_1").unwrap(), "psm_1");
        assert!(matches!(
            segment_name("/"),
            Err(Error::InvalidName {
                problem: NameProblem::Empty,
                ..
            })
        ));
        assert!(matches!(
            segment_name("a/b"),
            Err(Error::InvalidName {
                problem: NameProblem::Slash { .. },
                ..
            })
        ));
        assert!(matches!(
            segment_name("a\0"),
            Err(Error::InvalidName { .. })
        ));
        assert!(segment_name(&"x".repeat(256)).is_err());
        for dots in [".", "..", "/.", "/.."] {
            assert!(matches!(
                segment_name(dots),
                Err(Error::InvalidName {
                    problem: NameProblem::DotName,
                    ..
                })
            ));
        }
        assert_eq!(segment_name("...").unwrap(), "...");
        for entry in ["filemap.u0.x", "/filemap.global.x", "filemap."] {
            assert!(matches!(
                segment_name(entry),
                Err(Error::InvalidName {
                    problem: NameProblem::EntryFileName,
                    ..
                })
            ));
        }
        assert_eq!(segment_name("filemap").unwrap(), "filemap");
    }
}
