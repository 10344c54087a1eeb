//! `NamedSemaphore`: a named counting semaphore with a maximum (Win32's `CreateSemaphore`,
//! `ReleaseSemaphore` with `ERROR_TOO_MANY_POSTS`).

use std::time::Duration;

use super::{check_kind, timeout_error, ObjectOptions};
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
/// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
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
    pub fn create_new(name: impl IntoName, initial: u32, max: u32) -> Result<NamedSemaphore> {
        NamedSemaphore::create_new_with(name, initial, max, &ObjectOptions::new())
    }

    /// Creates a named semaphore or opens the existing one (which keeps its counts).
    pub fn create_or_open(
        name: impl IntoName,
        initial: u32,
        max: u32,
    ) -> Result<(NamedSemaphore, Disposition)> {
        NamedSemaphore::create_or_open_with(name, initial, max, &ObjectOptions::new())
    }

    /// [`create_new`](NamedSemaphore::create_new) with options.
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
        let (object, header, disposition) =
            sys::SemaphoreObject::create(&name, &header, mode, initial, max)?;
        check_kind(&name, &header, Kind::Semaphore)?;
        Ok((NamedSemaphore { name, object }, disposition))
    }

    /// Opens an existing named semaphore.
    pub fn open(name: impl IntoName) -> Result<NamedSemaphore> {
        let name = name.into_name()?;
        let (object, header) = sys::SemaphoreObject::open(&name)?;
        check_kind(&name, &header, Kind::Semaphore)?;
        Ok(NamedSemaphore { name, object })
    }

    /// The semaphore's name.
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// The system's object (for a wait on many objects).
    pub(crate) fn object(&self) -> &sys::SemaphoreObject {
        &self.object
    }

    /// Returns `n` units; the previous count. [`Error::SemaphoreFull`] (and nothing
    /// released) if that would pass the maximum; [`Error::InvalidSetting`] for `n` = 0
    /// (as `ReleaseSemaphore` refuses it).
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
    pub fn acquire(&self) -> Result<()> {
        self.object.acquire(None).map(|_| ())
    }

    /// Takes a unit if there is one now.
    pub fn try_acquire(&self) -> Result<bool> {
        self.object.acquire(Some(Duration::ZERO))
    }

    /// Like [`acquire`](NamedSemaphore::acquire), giving up with [`Error::Timeout`].
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<()> {
        if self.object.acquire(Some(timeout))? {
            Ok(())
        } else {
            Err(timeout_error(&self.name, timeout))
        }
    }

    /// The current count, where the system tells it (Linux).
    pub fn count(&self) -> Option<u32> {
        self.object.count()
    }

    /// The maximum count, where the system tells it (Linux).
    pub fn max(&self) -> Option<u32> {
        self.object.max()
    }
}
