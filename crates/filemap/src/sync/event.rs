//! `NamedEvent`: a named event (Win32's `CreateEvent` / `SetEvent` / `ResetEvent`), manual
//! or auto reset.

use std::time::Duration;

use super::{check_kind, timeout_error, ObjectOptions};
use crate::error::Result;
use crate::header::Layout;
use crate::name::{IntoName, Name};
use crate::sys::{self, CreateMode};
use crate::vocabulary::Disposition;
use crate::vocabulary::Kind;

/// How an event goes back to unset.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
/// use filemap::sync::{EventReset, NamedEvent};
/// let e = NamedEvent::create_new("reset-demo", EventReset::Auto, true)?;
/// assert!(e.try_wait()?);  // takes the signal...
/// assert!(!e.try_wait()?); // ...and the event reset itself
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventReset {
    /// Stays set until [`NamedEvent::reset`]; a `set` releases every waiter.
    Manual,
    /// A `set` releases exactly one waiter (or the next one to wait), and the event
    /// resets itself as it does.
    Auto,
}

/// A named event: processes wait until another sets it. Waiters sleep in the kernel and are
/// woken by `set`, which makes no system call when nobody waits; on Linux a sleeper also
/// checks the event every 100 ms, so a woken waiter killed before it took the signal
/// cannot leave the others asleep.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
/// use filemap::sync::{EventReset, NamedEvent};
/// use std::time::Duration;
/// let (ready, _) = NamedEvent::create_or_open("ready", EventReset::Manual, false)?;
/// assert!(!ready.try_wait()?);
/// ready.set()?;
/// ready.wait()?; // returns at once: it is set
/// ready.reset()?;
/// assert!(matches!(
///     ready.wait_timeout(Duration::from_millis(10)),
///     Err(filemap::Error::Timeout { .. })
/// ));
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Debug)]
pub struct NamedEvent {
    name: Name,
    object: sys::EventObject,
}

impl NamedEvent {
    /// Creates a named event; [`crate::Error::AlreadyExists`] if the name is taken.
    pub fn create_new(
        name: impl IntoName,
        reset: EventReset,
        initially_set: bool,
    ) -> Result<NamedEvent> {
        NamedEvent::create_new_with(name, reset, initially_set, &ObjectOptions::new())
    }

    /// Creates a named event or opens the existing one (which keeps its own reset mode
    /// and state).
    pub fn create_or_open(
        name: impl IntoName,
        reset: EventReset,
        initially_set: bool,
    ) -> Result<(NamedEvent, Disposition)> {
        NamedEvent::create_or_open_with(name, reset, initially_set, &ObjectOptions::new())
    }

    /// [`create_new`](NamedEvent::create_new) with options.
    pub fn create_new_with(
        name: impl IntoName,
        reset: EventReset,
        initially_set: bool,
        options: &ObjectOptions,
    ) -> Result<NamedEvent> {
        NamedEvent::create(
            name.into_name()?,
            reset,
            initially_set,
            options,
            CreateMode::New,
        )
        .map(|(e, _)| e)
    }

    /// [`create_or_open`](NamedEvent::create_or_open) with options.
    pub fn create_or_open_with(
        name: impl IntoName,
        reset: EventReset,
        initially_set: bool,
        options: &ObjectOptions,
    ) -> Result<(NamedEvent, Disposition)> {
        NamedEvent::create(
            name.into_name()?,
            reset,
            initially_set,
            options,
            CreateMode::OrOpen,
        )
    }

    fn create(
        name: Name,
        reset: EventReset,
        initially_set: bool,
        options: &ObjectOptions,
        mode: CreateMode,
    ) -> Result<(NamedEvent, Disposition)> {
        let header = options.header(Kind::Event, 0, Layout::default())?;
        let manual = reset == EventReset::Manual;
        let (object, header, disposition) =
            sys::EventObject::create(&name, &header, mode, manual, initially_set)?;
        check_kind(&name, &header, Kind::Event)?;
        Ok((NamedEvent { name, object }, disposition))
    }

    /// Opens an existing named event.
    pub fn open(name: impl IntoName) -> Result<NamedEvent> {
        let name = name.into_name()?;
        let (object, header) = sys::EventObject::open(&name)?;
        check_kind(&name, &header, Kind::Event)?;
        Ok(NamedEvent { name, object })
    }

    /// The event's name.
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// The system's object (for a wait on many objects).
    pub(crate) fn object(&self) -> &sys::EventObject {
        &self.object
    }

    /// The reset mode (Linux reads it from the object's words, Windows asks the kernel;
    /// `None` only if the memory was lost or the kernel would not say).
    pub fn reset_mode(&self) -> Option<EventReset> {
        self.object.is_manual().map(|m| {
            if m {
                EventReset::Manual
            } else {
                EventReset::Auto
            }
        })
    }

    /// Sets the event: wakes every waiter (manual reset) or one (auto reset).
    pub fn set(&self) -> Result<()> {
        self.object.set()
    }

    /// Unsets the event.
    pub fn reset(&self) -> Result<()> {
        self.object.reset()
    }

    /// Waits until the event is set (taking the signal, for auto-reset events).
    pub fn wait(&self) -> Result<()> {
        self.object.wait(None).map(|_| ())
    }

    /// Like [`wait`](NamedEvent::wait), giving up with [`crate::Error::Timeout`].
    pub fn wait_timeout(&self, timeout: Duration) -> Result<()> {
        if self.object.wait(Some(timeout))? {
            Ok(())
        } else {
            Err(timeout_error(&self.name, timeout))
        }
    }

    /// Whether the event is set now (taking the signal, for auto-reset events).
    pub fn try_wait(&self) -> Result<bool> {
        self.object.wait(Some(Duration::ZERO))
    }
}
