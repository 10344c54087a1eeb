//! `NamedEvent`: a named event (Win32's `CreateEvent` / `SetEvent` / `ResetEvent`), manual
//! or auto reset.

use std::time::Duration;

use super::{ObjectOptions, timeout_error};
use crate::error::Result;
use crate::header::Layout;
use crate::name::{IntoName, Name};
use crate::sys::{self, CreateMode};
use crate::vocabulary::Disposition;
use crate::vocabulary::Kind;

/// How an event goes back to unset.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
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
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
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
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::{EventReset, NamedEvent};
    /// let e = NamedEvent::create_new("doc-event-create-new", EventReset::Manual, true)?;
    /// assert!(e.try_wait()?); // created set
    /// let again = NamedEvent::create_new("doc-event-create-new", EventReset::Manual, false);
    /// assert!(matches!(again, Err(filemap::Error::AlreadyExists { .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn create_new(
        name: impl IntoName,
        reset: EventReset,
        initially_set: bool,
    ) -> Result<NamedEvent> {
        NamedEvent::create_new_with(name, reset, initially_set, &ObjectOptions::new())
    }

    /// Creates a named event or opens the existing one (which keeps its own reset mode
    /// and state).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::{EventReset, NamedEvent};
    /// use filemap::Disposition;
    /// let name = "doc-event-create-or-open";
    /// let (_a, made) = NamedEvent::create_or_open(name, EventReset::Manual, true)?;
    /// let (b, found) = NamedEvent::create_or_open(name, EventReset::Auto, false)?;
    /// assert_eq!((made, found), (Disposition::Created, Disposition::Opened));
    /// assert_eq!(b.reset_mode(), Some(EventReset::Manual)); // the existing event's mode...
    /// assert!(b.try_wait()?); // ...and state
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn create_or_open(
        name: impl IntoName,
        reset: EventReset,
        initially_set: bool,
    ) -> Result<(NamedEvent, Disposition)> {
        NamedEvent::create_or_open_with(name, reset, initially_set, &ObjectOptions::new())
    }

    /// [`create_new`](NamedEvent::create_new) with options.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::{EventReset, NamedEvent, ObjectOptions};
    /// let (auto, options) = (EventReset::Auto, ObjectOptions::new().permissions(0o660));
    /// let e = NamedEvent::create_new_with("doc-event-new-with", auto, false, &options)?;
    /// assert!(!e.try_wait()?);
    /// let bad = ObjectOptions::new().permissions(0o1777); // not within 0o777
    /// let refused = NamedEvent::create_new_with("doc-event-bad-mode", auto, false, &bad);
    /// assert!(matches!(refused, Err(filemap::Error::InvalidPermissions { .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
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
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::{EventReset, NamedEvent, ObjectOptions};
    /// use filemap::Disposition;
    /// let (auto, options) = (EventReset::Auto, ObjectOptions::new().permissions(0o660));
    /// let name = "doc-event-create-or-open-with";
    /// let (_a, first) = NamedEvent::create_or_open_with(name, auto, false, &options)?;
    /// let (_b, second) = NamedEvent::create_or_open_with(name, auto, false, &options)?;
    /// assert_eq!((first, second), (Disposition::Created, Disposition::Opened));
    /// # Ok::<(), filemap::Error>(())
    /// ```
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
        let (object, _, disposition) =
            sys::EventObject::create(&name, &header, mode, manual, initially_set)?;
        Ok((NamedEvent { name, object }, disposition))
    }

    /// Opens an existing named event.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::{EventReset, NamedEvent};
    /// let missing = NamedEvent::open("doc-event-open");
    /// assert!(matches!(missing, Err(filemap::Error::NotFound { .. })));
    /// let creator = NamedEvent::create_new("doc-event-open", EventReset::Manual, false)?;
    /// let opener = NamedEvent::open("doc-event-open")?;
    /// creator.set()?;
    /// assert!(opener.try_wait()?); // one event, two handles
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn open(name: impl IntoName) -> Result<NamedEvent> {
        let name = name.into_name()?;
        let (object, _) = sys::EventObject::open(&name)?;
        Ok(NamedEvent { name, object })
    }

    /// The event's name.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::{EventReset, NamedEvent};
    /// let e = NamedEvent::create_new("doc-event-name", EventReset::Auto, false)?;
    /// assert_eq!(e.name().to_string(), "Local\\doc-event-name");
    /// assert_eq!(e.name().base(), "doc-event-name");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// The system's object (for a wait on many objects).
    pub(crate) fn object(&self) -> &sys::EventObject {
        &self.object
    }

    /// The reset mode (Linux reads it from the object's words, Windows asks the kernel;
    /// `None` only if the memory was lost or the kernel would not say: a native Windows
    /// event whose permissions grant no `EVENT_QUERY_STATE`).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::{EventReset, NamedEvent};
    /// let e = NamedEvent::create_new("doc-event-reset-mode", EventReset::Auto, false)?;
    /// assert_eq!(e.reset_mode(), Some(EventReset::Auto));
    /// let opened = NamedEvent::open("doc-event-reset-mode")?;
    /// assert_eq!(opened.reset_mode(), Some(EventReset::Auto)); // the object's, for every handle
    /// # Ok::<(), filemap::Error>(())
    /// ```
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
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::{EventReset, NamedEvent};
    /// let manual = NamedEvent::create_new("doc-event-set-manual", EventReset::Manual, false)?;
    /// let auto = NamedEvent::create_new("doc-event-set-auto", EventReset::Auto, false)?;
    /// manual.set()?;
    /// auto.set()?;
    /// assert!(manual.try_wait()? && manual.try_wait()?); // stays set for every waiter
    /// assert!(auto.try_wait()?); // the one waiter takes the signal...
    /// assert!(!auto.try_wait()?); // ...and the next finds it unset
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn set(&self) -> Result<()> {
        self.object.set()
    }

    /// Unsets the event.
    ///
    /// A `set` followed at once by a `reset` (Win32's `PulseEvent`, which Microsoft calls
    /// unreliable) releases the waiters of a manual-reset event asleep in `wait`,
    /// `wait_any` or `wait_async` at the `set`: on Windows those in the kernel's wait at
    /// that moment (a wait between two of its kernel waits, as a long wait on many objects
    /// or a waiter thread is now and then, misses it), on Linux every wait that began
    /// before the `set`. Not `wait_all`'s on Linux, which takes only objects ready together
    /// (Windows' releases it if the others are ready at the `set`). An auto-reset event's
    /// `set` releases one waiter asleep in `wait` at it, whatever follows (on Linux, while
    /// at most eleven waiters of the event are in `wait`; the others, and the waiters in
    /// `wait_any` or `wait_async`, take the event's state when they run, and find it reset
    /// if the `reset` came first, so they wait on; while these sleep, every other set is
    /// theirs, so that blocking waiters cannot starve them, and a `reset` takes nothing
    /// from the one such a set woke). A wait made of shorter waits in turn (the Python
    /// binding's and the command line's, which look for signals in between) can miss a
    /// pulse between two of them.
    /// Signal with a `set` alone, and let the waiters reset an event they are done with.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::{EventReset, NamedEvent};
    /// let e = NamedEvent::create_new("doc-event-reset", EventReset::Manual, true)?;
    /// assert!(e.try_wait()?);
    /// e.reset()?;
    /// assert!(!e.try_wait()?);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn reset(&self) -> Result<()> {
        self.object.reset()
    }

    /// Waits until the event is set (taking the signal, for auto-reset events).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::{EventReset, NamedEvent};
    /// let e = NamedEvent::create_new("doc-event-wait", EventReset::Auto, false)?;
    /// e.set()?;
    /// e.wait()?; // returns at once: it is set
    /// assert!(!e.try_wait()?); // and the wait took the signal
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn wait(&self) -> Result<()> {
        self.object.wait(None).map(|_| ())
    }

    /// Like [`wait`](NamedEvent::wait), giving up with [`crate::Error::Timeout`].
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::{EventReset, NamedEvent};
    /// use std::time::Duration;
    /// let e = NamedEvent::create_new("doc-event-wait-timeout", EventReset::Manual, false)?;
    /// let short = Duration::from_millis(10);
    /// let timed_out = e.wait_timeout(short);
    /// assert!(matches!(timed_out, Err(filemap::Error::Timeout { after, .. }) if after == short));
    /// e.set()?;
    /// e.wait_timeout(short)?; // set: returns at once
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<()> {
        if self.object.wait(Some(timeout))? {
            Ok(())
        } else {
            Err(timeout_error(&self.name, timeout))
        }
    }

    /// Whether the event is set now (taking the signal, for auto-reset events).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::{EventReset, NamedEvent};
    /// let manual = NamedEvent::create_new("doc-event-try-wait-manual", EventReset::Manual, true)?;
    /// let auto = NamedEvent::create_new("doc-event-try-wait-auto", EventReset::Auto, true)?;
    /// assert!(manual.try_wait()? && manual.try_wait()?); // looking takes nothing
    /// assert!(auto.try_wait()?);
    /// assert!(!auto.try_wait()?); // the first look took the signal
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn try_wait(&self) -> Result<bool> {
        self.object.wait(Some(Duration::ZERO))
    }
}
