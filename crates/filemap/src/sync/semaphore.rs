//! `NamedSemaphore`: a named counting semaphore with a maximum (Win32's `CreateSemaphore`,
//! `ReleaseSemaphore` with `ERROR_TOO_MANY_POSTS`).

use std::time::Duration;

use super::{ObjectOptions, timeout_error};
use crate::error::{Error, Result};
use crate::header::Layout;
use crate::name::{IntoName, Name};
use crate::sys::{self, CreateMode};
use crate::vocabulary::Disposition;
use crate::vocabulary::Kind;

/// A named semaphore: `acquire` takes a unit (waiting while there is none), `release`
/// returns units, never past the maximum.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::sync::NamedSemaphore;
/// let slots = NamedSemaphore::create_new("slots", 1, 2)?;
/// slots.acquire()?;
/// assert!(!slots.try_acquire()?);
/// assert_eq!(slots.release(2)?, 0); // returns the previous count
/// assert!(matches!(slots.release(1), Err(filemap::Error::SemaphoreFull { .. })));
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Debug)]
pub struct NamedSemaphore {
    name: Name,
    object: sys::SemaphoreObject,
}

impl NamedSemaphore {
    /// Creates a named semaphore with `initial` units and at most `max`.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::NamedSemaphore;
    /// let s = NamedSemaphore::create_new("doc-semaphore-create-new", 2, 3)?;
    /// assert!(s.try_acquire()? && s.try_acquire()?); // two units...
    /// assert!(!s.try_acquire()?); // ...and no more
    /// let bad = NamedSemaphore::create_new("doc-semaphore-bad-counts", 4, 3); // initial > max
    /// assert!(matches!(bad, Err(filemap::Error::InvalidCount { initial: 4, max: 3 })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn create_new(name: impl IntoName, initial: u32, max: u32) -> Result<NamedSemaphore> {
        NamedSemaphore::create_new_with(name, initial, max, &ObjectOptions::new())
    }

    /// Creates a named semaphore or opens the existing one (which keeps its counts).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::{sync::NamedSemaphore, Disposition};
    /// let (a, made) = NamedSemaphore::create_or_open("doc-semaphore-create-or-open", 1, 1)?;
    /// a.acquire()?; // takes the only unit
    /// let (b, found) = NamedSemaphore::create_or_open("doc-semaphore-create-or-open", 5, 5)?;
    /// assert_eq!((made, found), (Disposition::Created, Disposition::Opened));
    /// assert!(!b.try_acquire()?); // still none: the existing counts, not 5
    /// assert!(matches!(b.release(2), Err(filemap::Error::SemaphoreFull { .. }))); // max 1
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn create_or_open(
        name: impl IntoName,
        initial: u32,
        max: u32,
    ) -> Result<(NamedSemaphore, Disposition)> {
        NamedSemaphore::create_or_open_with(name, initial, max, &ObjectOptions::new())
    }

    /// [`create_new`](NamedSemaphore::create_new) with options.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::{NamedSemaphore, ObjectOptions};
    /// let options = ObjectOptions::new().permissions(0o660);
    /// let s = NamedSemaphore::create_new_with("doc-semaphore-create-new-with", 1, 1, &options)?;
    /// assert!(s.try_acquire()?);
    /// let bad = ObjectOptions::new().permissions(0o1600); // not within 0o777
    /// let refused = NamedSemaphore::create_new_with("doc-semaphore-bad-mode", 1, 1, &bad);
    /// assert!(matches!(refused, Err(filemap::Error::InvalidPermissions { .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn create_new_with(
        name: impl IntoName,
        initial: u32,
        max: u32,
        options: &ObjectOptions,
    ) -> Result<NamedSemaphore> {
        NamedSemaphore::create(name.into_name()?, initial, max, options, CreateMode::New)
            .map(|(s, _)| s)
    }

    /// [`create_or_open`](NamedSemaphore::create_or_open) with options.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::{NamedSemaphore, ObjectOptions};
    /// use filemap::Disposition;
    /// let options = ObjectOptions::new().permissions(0o660);
    /// let name = "doc-semaphore-create-or-open-with";
    /// let (_a, first) = NamedSemaphore::create_or_open_with(name, 0, 1, &options)?;
    /// let (_b, second) = NamedSemaphore::create_or_open_with(name, 0, 1, &options)?;
    /// assert_eq!((first, second), (Disposition::Created, Disposition::Opened));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn create_or_open_with(
        name: impl IntoName,
        initial: u32,
        max: u32,
        options: &ObjectOptions,
    ) -> Result<(NamedSemaphore, Disposition)> {
        NamedSemaphore::create(name.into_name()?, initial, max, options, CreateMode::OrOpen)
    }

    fn create(
        name: Name,
        initial: u32,
        max: u32,
        options: &ObjectOptions,
        mode: CreateMode,
    ) -> Result<(NamedSemaphore, Disposition)> {
        if max == 0 || initial > max || max > i32::MAX as u32 {
            return Err(Error::InvalidCount { initial, max });
        }
        let header = options.header(Kind::Semaphore, 0, Layout::default())?;
        let (object, _, disposition) =
            sys::SemaphoreObject::create(&name, &header, mode, initial, max)?;
        Ok((NamedSemaphore { name, object }, disposition))
    }

    /// Opens an existing named semaphore.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::NamedSemaphore;
    /// let missing = NamedSemaphore::open("doc-semaphore-open");
    /// assert!(matches!(missing, Err(filemap::Error::NotFound { .. })));
    /// let creator = NamedSemaphore::create_new("doc-semaphore-open", 0, 1)?;
    /// let opener = NamedSemaphore::open("doc-semaphore-open")?;
    /// creator.release(1)?;
    /// assert!(opener.try_acquire()?); // one semaphore, two handles
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn open(name: impl IntoName) -> Result<NamedSemaphore> {
        let name = name.into_name()?;
        let (object, _) = sys::SemaphoreObject::open(&name)?;
        Ok(NamedSemaphore { name, object })
    }

    /// The semaphore's name.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// let s = filemap::sync::NamedSemaphore::create_new("doc-semaphore-name", 0, 1)?;
    /// assert_eq!(s.name().to_string(), "Local\\doc-semaphore-name");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// The system's object (for a wait on many objects).
    pub(crate) fn object(&self) -> &sys::SemaphoreObject {
        &self.object
    }

    /// Returns `n` units; the previous count. [`Error::SemaphoreFull`] (and nothing
    /// released) if that would pass the maximum; [`Error::InvalidSetting`] for `n` = 0
    /// (as `ReleaseSemaphore` refuses it); on Linux [`Error::Corrupt`] (nothing released)
    /// if the count changed under every try for a second, which only a process that keeps
    /// rewriting it does.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::NamedSemaphore;
    /// let s = NamedSemaphore::create_new("doc-semaphore-release", 0, 2)?;
    /// assert_eq!(s.release(1)?, 0); // the count before
    /// let full = s.release(2); // 1 + 2 would pass the maximum: nothing is released
    /// assert!(matches!(full, Err(filemap::Error::SemaphoreFull { release: 2, .. })));
    /// assert_eq!(s.release(1)?, 1);
    /// assert!(matches!(s.release(0), Err(filemap::Error::InvalidSetting { .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn release(&self, n: u32) -> Result<u32> {
        if n == 0 {
            return Err(Error::InvalidSetting {
                setting: "units to release",
                value: 0,
                allowed: "at least 1",
            });
        }
        match self.object.release(n)? {
            Ok(previous) => Ok(previous),
            Err(max) => Err(Error::SemaphoreFull {
                name: self.name.to_string(),
                release: n,
                max,
            }),
        }
    }

    /// Takes a unit, waiting while there is none.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::NamedSemaphore;
    /// let s = NamedSemaphore::create_new("doc-semaphore-acquire", 0, 1)?;
    /// s.release(1)?;
    /// s.acquire()?; // returns at once: there was a unit
    /// assert!(!s.try_acquire()?); // and it took it
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn acquire(&self) -> Result<()> {
        self.object.acquire(None).map(|_| ())
    }

    /// Takes a unit if there is one now.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::NamedSemaphore;
    /// let s = NamedSemaphore::create_new("doc-semaphore-try-acquire", 1, 1)?;
    /// assert!(s.try_acquire()?); // took the unit
    /// assert!(!s.try_acquire()?); // none left: `false` at once
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn try_acquire(&self) -> Result<bool> {
        self.object.acquire(Some(Duration::ZERO))
    }

    /// Like [`acquire`](NamedSemaphore::acquire), giving up with [`Error::Timeout`].
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::NamedSemaphore;
    /// use std::time::Duration;
    /// let s = NamedSemaphore::create_new("doc-semaphore-acquire-timeout", 0, 1)?;
    /// let short = Duration::from_millis(10);
    /// assert!(matches!(s.acquire_timeout(short), Err(filemap::Error::Timeout { .. })));
    /// s.release(1)?;
    /// s.acquire_timeout(short)?; // a unit is there: returns at once
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<()> {
        if self.object.acquire(Some(timeout))? {
            Ok(())
        } else {
            Err(timeout_error(&self.name, timeout))
        }
    }

    /// The current count, where the system tells it (Linux).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::NamedSemaphore;
    /// let s = NamedSemaphore::create_new("doc-semaphore-count", 2, 5)?;
    /// s.acquire()?;
    /// #[cfg(target_os = "linux")]
    /// assert_eq!(s.count(), Some(1));
    /// #[cfg(windows)]
    /// assert_eq!(s.count(), None); // Windows does not tell
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn count(&self) -> Option<u32> {
        self.object.count()
    }

    /// The maximum count, where it is known: always on Linux; on Windows only through the
    /// handle that created the semaphore (the system does not tell an opener).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::NamedSemaphore;
    /// let _s = NamedSemaphore::create_new("doc-semaphore-max", 0, 5)?;
    /// let opened = NamedSemaphore::open("doc-semaphore-max")?;
    /// #[cfg(target_os = "linux")]
    /// assert_eq!(opened.max(), Some(5));
    /// #[cfg(windows)]
    /// assert_eq!(opened.max(), None); // Windows does not tell
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn max(&self) -> Option<u32> {
        self.object.max()
    }
}
