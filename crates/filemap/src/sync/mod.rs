//! Named synchronisation objects in the one namespace: [`NamedMutex`] (robust: a dead
//! owner's lock is reported [`abandoned`](MutexGuard::abandoned), never stuck),
//! [`NamedEvent`] (manual or auto reset), [`NamedSemaphore`] (maximum enforced), and
//! [`SharedMutex`], a typed value under a robust mutex. Waiting sleeps in the kernel
//! (futex on Linux, the object itself on Windows) and is woken by the object's release; on
//! Linux a sleeper also re-checks every 100 ms, because a woken waiter killed before it
//! took what it was woken for would otherwise leave the others asleep.

mod event;
mod held;
mod mutex;
mod semaphore;
mod shared;

pub use event::{EventReset, NamedEvent};
pub use mutex::{MutexGuard, NamedMutex};
pub use semaphore::NamedSemaphore;
pub use shared::{SharedMutex, SharedMutexGuard};

use crate::error::{Error, Result};
use crate::header::{Flags, Header, Layout, SYNC_AREA};
use crate::mapping::check_mode;
use crate::name::Name;
use crate::sys::new_header;
use crate::vocabulary::Kind;
use crate::vocabulary::Protection;

/// Options for creating a synchronisation object: persistence and permissions.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::sync::{NamedMutex, ObjectOptions};
/// let options = ObjectOptions::new().permissions(0o660);
/// let m = NamedMutex::create_new_with("options-mutex", &options)?;
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ObjectOptions {
    persistent: bool,
    mode: u32,
}

impl Default for ObjectOptions {
    fn default() -> Self {
        ObjectOptions::new()
    }
}

impl ObjectOptions {
    /// Not persistent, permissions `0o600`.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::{NamedMutex, ObjectOptions};
    /// let m = NamedMutex::create_new_with("doc-options-new", &ObjectOptions::new())?;
    /// #[cfg(target_os = "linux")]
    /// assert_eq!(filemap::namespace::info("doc-options-new")?.mode, 0o600);
    /// drop(m); // not persistent: the object goes with its last handle
    /// let gone = NamedMutex::open("doc-options-new");
    /// assert!(matches!(gone, Err(filemap::Error::NotFound { .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn new() -> ObjectOptions {
        ObjectOptions {
            persistent: false,
            mode: 0o600,
        }
    }

    /// Keep the object after its last handle closes, until removed (Linux only).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::{NamedMutex, ObjectOptions};
    /// let options = ObjectOptions::new().persistent(true);
    /// #[cfg(target_os = "linux")]
    /// {
    ///     drop(NamedMutex::create_new_with("doc-options-persistent", &options)?);
    ///     let again = NamedMutex::open("doc-options-persistent")?; // outlived its last handle
    ///     filemap::namespace::remove(again.name())?;
    /// }
    /// #[cfg(windows)]
    /// assert!(matches!(
    ///     NamedMutex::create_new_with("doc-options-persistent", &options),
    ///     Err(filemap::Error::Unsupported { .. })
    /// ));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn persistent(mut self, persistent: bool) -> Self {
        self.persistent = persistent;
        self
    }

    /// Unix permissions of the entry (default `0o600`).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::{NamedSemaphore, ObjectOptions};
    /// let group_reads = ObjectOptions::new().permissions(0o640);
    /// let _s = NamedSemaphore::create_new_with("doc-options-640", 0, 1, &group_reads)?;
    /// #[cfg(target_os = "linux")]
    /// assert_eq!(filemap::namespace::info("doc-options-640")?.mode, 0o640);
    /// // The owner must keep read and write.
    /// let owner_read_only = ObjectOptions::new().permissions(0o400);
    /// assert!(matches!(
    ///     NamedSemaphore::create_new_with("doc-options-400", 0, 1, &owner_read_only),
    ///     Err(filemap::Error::InvalidPermissions { mode: 0o400 })
    /// ));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn permissions(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// The header of a new object of `kind` with `user_size` bytes of user data.
    pub(crate) fn header(&self, kind: Kind, user_size: usize, layout: Layout) -> Result<Header> {
        check_mode(self.mode)?;
        let flags = if self.persistent {
            Flags::PERSISTENT
        } else {
            Flags::empty()
        };
        let mut header = new_header(
            kind,
            (SYNC_AREA + user_size) as u64,
            flags,
            self.mode,
            Protection::ReadWrite,
        );
        header.layout = layout;
        Ok(header)
    }
}

fn timeout_error(name: &Name, after: std::time::Duration) -> Error {
    Error::Timeout {
        what: name.to_string(),
        after,
    }
}
