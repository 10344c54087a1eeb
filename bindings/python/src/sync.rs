//! `filemap.NamedMutex` (and its guard), `filemap.NamedEvent`, `filemap.NamedSemaphore`:
//! Win32's named synchronisation objects, robust across crashes. Every wait releases the
//! GIL and can be interrupted with Ctrl-C.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use filemap::Disposition;
use filemap::sync::EventReset;
use pyo3::prelude::*;

use crate::shutdown::detach;

use crate::closable::{Closable, Exit};
use crate::errors::OrRaise;
use crate::ints;
use crate::waiting::{sliced, timeout_arg, wait_through};

/// A named, robust, cross-process mutex. If its holder dies, the next lock succeeds and
/// says so (`guard.abandoned`, Win32's `WAIT_ABANDONED`). Use it as a context manager:
/// `with mutex as guard:`; a lock belongs to the thread that took it. `close()` lets go of
/// the handle (garbage collection does too).
#[pyclass(module = "filemap", frozen)]
pub struct NamedMutex {
    pub(crate) inner: Closable<filemap::sync::NamedMutex>,
    /// The id of the `MutexGuard` that holds the lock (0: none): only that guard releases
    /// it.
    guard: AtomicU64,
    /// The thread that took the lock `guard` holds (see `thread_number`).
    guard_thread: AtomicU64,
}

/// The ids of guards (never 0).
static NEXT_GUARD: AtomicU64 = AtomicU64::new(1);

/// A number of this thread's, never another's (nor 0).
fn thread_number() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static ME: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    ME.with(|me| *me)
}

impl NamedMutex {
    fn wrap(inner: filemap::sync::NamedMutex) -> NamedMutex {
        NamedMutex {
            inner: Closable::new("mutex", inner.name().to_string(), inner),
            guard: AtomicU64::new(0),
            guard_thread: AtomicU64::new(0),
        }
    }

    /// The guard of a lock just taken through `handle`, this object's.
    fn guard_for(
        slf: Py<Self>,
        handle: Arc<filemap::sync::NamedMutex>,
        abandoned: bool,
    ) -> MutexGuard {
        let id = NEXT_GUARD.fetch_add(1, Ordering::Relaxed);
        slf.get()
            .guard_thread
            .store(thread_number(), Ordering::Relaxed);
        slf.get().guard.store(id, Ordering::Relaxed);
        MutexGuard {
            mutex: Some((slf, handle)),
            id,
            abandoned,
            thread: std::thread::current().id(),
        }
    }
}

#[pymethods]
impl NamedMutex {
    /// Creates a named mutex; `AlreadyExistsError` if the name is taken.
    #[staticmethod]
    fn create_new(py: Python<'_>, name: &str) -> PyResult<NamedMutex> {
        let inner = detach(py, || filemap::sync::NamedMutex::create_new(name)).or_raise()?;
        Ok(NamedMutex::wrap(inner))
    }

    /// Creates the named mutex or opens the existing one; returns `(mutex, created)`.
    #[staticmethod]
    fn create_or_open(py: Python<'_>, name: &str) -> PyResult<(NamedMutex, bool)> {
        let (inner, d) =
            detach(py, || filemap::sync::NamedMutex::create_or_open(name)).or_raise()?;
        Ok((NamedMutex::wrap(inner), d == Disposition::Created))
    }

    /// Opens an existing named mutex.
    #[staticmethod]
    fn open(py: Python<'_>, name: &str) -> PyResult<NamedMutex> {
        let inner = detach(py, || filemap::sync::NamedMutex::open(name)).or_raise()?;
        Ok(NamedMutex::wrap(inner))
    }

    /// Locks the mutex, waiting up to `timeout` seconds (`None`: for ever); returns the
    /// guard, whose `abandoned` says whether the previous holder died holding it.
    /// `TimedOutError` after the timeout; `WouldDeadlockError` if this thread holds it.
    #[pyo3(signature = (timeout=None))]
    fn lock(slf: Py<Self>, py: Python<'_>, timeout: Option<f64>) -> PyResult<MutexGuard> {
        let timeout = timeout_arg(py, timeout)?;
        let (handle, abandoned) = wait_through(py, timeout, &slf.get().inner, |mutex, slice| {
            sliced(mutex.lock_unguarded(Some(slice)))
        })?;
        Ok(NamedMutex::guard_for(slf, handle, abandoned))
    }

    /// Locks the mutex if it is free now; `None` if another holds it.
    fn try_lock(slf: Py<Self>, py: Python<'_>) -> PyResult<Option<MutexGuard>> {
        let handle = slf.get().inner.get()?;
        let taken = sliced(handle.lock_unguarded(Some(std::time::Duration::ZERO))).or_raise()?;
        Ok(taken.map(|abandoned| NamedMutex::guard_for(slf.clone_ref(py), handle, abandoned)))
    }

    /// Unlocks a lock this thread took through `wait_any` or `wait_all` (those taken with
    /// `lock()` are unlocked through their guard, and `with mutex:` unlocks at the block's
    /// end); `NotOwnerError` if this thread does not hold it.
    fn release(&self, py: Python<'_>) -> PyResult<()> {
        // (A guard of another thread's is a lock that thread took and left when it ended:
        // the mutex was abandoned then, and this thread may hold it since, through a wait.)
        if self.guard.load(Ordering::Relaxed) != 0
            && self.guard_thread.load(Ordering::Relaxed) == thread_number()
        {
            return Err(crate::errors::raise(
                py,
                "NotOwnerError",
                format!(
                    "{} is held through a MutexGuard: release the guard",
                    self.inner.name()
                ),
            ));
        }
        // Nor one a `with` block of this thread's holds: the block's end unlocks it.
        if self.inner.entered_by(thread_number()) {
            return Err(crate::errors::raise(
                py,
                "NotOwnerError",
                format!(
                    "{} is held by a with block: it is unlocked when the block ends",
                    self.inner.name()
                ),
            ));
        }
        self.inner.get()?.release().or_raise()
    }

    /// The mutex's full name.
    #[getter]
    fn name(&self) -> String {
        self.inner.name().to_string()
    }

    /// Lets go of this handle (again: nothing); using it afterwards is a `ValueError`. A
    /// lock held through a guard or a `with` block stays until the guard or the block's end
    /// releases it; one taken through `wait_any` or `wait_all` and not released cannot be
    /// released any more: it goes as a lock whose handle closed does (Linux: the next
    /// locker takes it as abandoned at once; Windows: when this thread exits).
    fn close(&self) {
        self.inner.close();
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Locks for a `with` block, which unlocks at its end: the guard returned only says
    /// whether the mutex was abandoned.
    fn __enter__(slf: Py<Self>, py: Python<'_>) -> PyResult<MutexGuard> {
        let mut guard = NamedMutex::lock(slf, py, None)?;
        if let Some((m, handle)) = guard.mutex.take() {
            m.get().guard.store(0, Ordering::Relaxed);
            // The block's end unlocks through the handle that locked, closed since or not.
            m.get().inner.enter(thread_number(), handle);
        }
        Ok(guard)
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _t: Option<Bound<'_, PyAny>>,
        _v: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        match self.inner.exit(thread_number(), false) {
            Exit::Through(handle) => handle.release().or_raise(),
            // (The parent's lock: a copy of its block's end unlocks nothing.)
            Exit::Inherited => Ok(()),
            Exit::NoBlock => self.release(py),
        }
    }

    fn __repr__(&self) -> String {
        self.inner.repr("NamedMutex")
    }
}

/// A held lock of a `NamedMutex`: `abandoned` tells whether its previous holder died
/// holding it (check the state it protects). Unlock with `release()` or by leaving its
/// `with` block, on the thread that locked it (`NotOwnerError` on another, as Win32's
/// `ReleaseMutex` fails there).
#[pyclass(module = "filemap")]
pub struct MutexGuard {
    /// The mutex while this guard holds its lock, and the handle it was taken through
    /// (which unlocks it, whether or not the mutex object was closed since).
    mutex: Option<(Py<NamedMutex>, Arc<filemap::sync::NamedMutex>)>,
    /// This guard's id (see `NamedMutex::guard`).
    id: u64,
    abandoned: bool,
    /// The thread that locked it, the only one that can unlock it.
    thread: std::thread::ThreadId,
}

impl MutexGuard {
    /// Unlocks the mutex if this guard still holds it; `Error::NotOwner` on a thread other
    /// than the one that locked it (which keeps the lock).
    fn unlock(&mut self) -> filemap::Result<()> {
        let Some((_, handle)) = self.mutex.as_ref() else {
            return Ok(());
        };
        if std::thread::current().id() != self.thread {
            return Err(filemap::Error::NotOwner {
                name: handle.name().to_string(),
            });
        }
        let Some((m, handle)) = self.mutex.take() else {
            return Ok(());
        };
        match m
            .get()
            .guard
            .compare_exchange(self.id, 0, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => handle.release(),
            Err(_) => Ok(()), // not this guard's lock (it cannot be: only the guard releases)
        }
    }
}

#[pymethods]
impl MutexGuard {
    /// Whether the previous holder died holding the mutex (`WAIT_ABANDONED`).
    #[getter]
    fn abandoned(&self) -> bool {
        self.abandoned
    }

    /// Unlocks the mutex (once; later calls do nothing, as for the guard of a `with mutex
    /// as guard:` block, which holds nothing: the block's end unlocks).
    fn release(&mut self) -> PyResult<()> {
        self.unlock().or_raise()
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(
        &mut self,
        _t: Option<Bound<'_, PyAny>>,
        _v: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        self.release()
    }

    fn __repr__(&self) -> String {
        format!(
            "<filemap.MutexGuard held={} abandoned={}>",
            self.mutex.is_some(),
            self.abandoned
        )
    }
}

impl Drop for MutexGuard {
    fn drop(&mut self) {
        // A guard dropped without release (garbage collected) unlocks if it is dropped on
        // the thread that locked it. Dropped on another (a garbage collection there), it
        // cannot: the lock stays with the thread that took it, which can then release it
        // with `NamedMutex.release()`, the guard being gone.
        if self.unlock().is_err() {
            if let Some((m, _)) = self.mutex.take() {
                let _ = m.get().guard.compare_exchange(
                    self.id,
                    0,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
            }
        }
    }
}

/// A named event (Win32's `CreateEvent`): `set` wakes waiters; a manual-reset event stays
/// set until `reset`, an auto-reset one releases one waiter per `set`.
#[pyclass(module = "filemap", frozen)]
pub struct NamedEvent {
    pub(crate) inner: Closable<filemap::sync::NamedEvent>,
}

impl NamedEvent {
    fn wrap(inner: filemap::sync::NamedEvent) -> NamedEvent {
        NamedEvent {
            inner: Closable::new("event", inner.name().to_string(), inner),
        }
    }
}

fn reset_arg(manual_reset: bool) -> EventReset {
    if manual_reset {
        EventReset::Manual
    } else {
        EventReset::Auto
    }
}

#[pymethods]
impl NamedEvent {
    /// Creates a named event; `AlreadyExistsError` if the name is taken.
    #[staticmethod]
    #[pyo3(signature = (name, *, manual_reset=false, initially_set=false))]
    fn create_new(
        py: Python<'_>,
        name: &str,
        manual_reset: bool,
        initially_set: bool,
    ) -> PyResult<NamedEvent> {
        let inner = detach(py, || {
            filemap::sync::NamedEvent::create_new(name, reset_arg(manual_reset), initially_set)
        })
        .or_raise()?;
        Ok(NamedEvent::wrap(inner))
    }

    /// Creates the named event or opens the existing one; returns `(event, created)`.
    #[staticmethod]
    #[pyo3(signature = (name, *, manual_reset=false, initially_set=false))]
    fn create_or_open(
        py: Python<'_>,
        name: &str,
        manual_reset: bool,
        initially_set: bool,
    ) -> PyResult<(NamedEvent, bool)> {
        let (inner, d) = detach(py, || {
            filemap::sync::NamedEvent::create_or_open(name, reset_arg(manual_reset), initially_set)
        })
        .or_raise()?;
        Ok((NamedEvent::wrap(inner), d == Disposition::Created))
    }

    /// Opens an existing named event.
    #[staticmethod]
    fn open(py: Python<'_>, name: &str) -> PyResult<NamedEvent> {
        let inner = detach(py, || filemap::sync::NamedEvent::open(name)).or_raise()?;
        Ok(NamedEvent::wrap(inner))
    }

    /// Sets the event.
    fn set(&self) -> PyResult<()> {
        self.inner.get()?.set().or_raise()
    }

    /// Resets the event.
    fn reset(&self) -> PyResult<()> {
        self.inner.get()?.reset().or_raise()
    }

    /// Waits until the event is set, up to `timeout` seconds (`None`: for ever);
    /// `TimedOutError` after that.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        let timeout = timeout_arg(py, timeout)?;
        wait_through(py, timeout, &self.inner, |event, slice| {
            sliced(event.wait_timeout(slice))
        })
        .map(drop)
    }

    /// `True` if the event was set (an auto-reset event's signal is taken), without
    /// waiting.
    fn try_wait(&self) -> PyResult<bool> {
        self.inner.get()?.try_wait().or_raise()
    }

    /// Whether the event resets itself (`"auto"`) or stays set (`"manual"`); `None` where
    /// the system does not say.
    #[getter]
    fn reset_mode(&self) -> PyResult<Option<&'static str>> {
        Ok(self.inner.get()?.reset_mode().map(|r| match r {
            EventReset::Manual => "manual",
            EventReset::Auto => "auto",
        }))
    }

    /// The event's full name.
    #[getter]
    fn name(&self) -> String {
        self.inner.name().to_string()
    }

    /// Lets go of this handle (again: nothing); using it afterwards is a `ValueError`. The
    /// event goes with its last handle in any process.
    fn close(&self) {
        self.inner.close();
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyResult<PyRef<'_, Self>> {
        // (A closed one is refused, as a closed file is.)
        slf.inner.get()?;
        Ok(slf)
    }

    /// Closes the handle at the end of a `with` block.
    fn __exit__(
        &self,
        _t: Option<Bound<'_, PyAny>>,
        _v: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) {
        self.close();
    }

    fn __repr__(&self) -> String {
        self.inner.repr("NamedEvent")
    }
}

/// A named counting semaphore (Win32's `CreateSemaphore`).
#[pyclass(module = "filemap", frozen)]
pub struct NamedSemaphore {
    pub(crate) inner: Closable<filemap::sync::NamedSemaphore>,
}

impl NamedSemaphore {
    fn wrap(inner: filemap::sync::NamedSemaphore) -> NamedSemaphore {
        NamedSemaphore {
            inner: Closable::new("semaphore", inner.name().to_string(), inner),
        }
    }
}

#[pymethods]
impl NamedSemaphore {
    /// Creates a named semaphore with `initial` units and at most `maximum`.
    #[staticmethod]
    fn create_new(
        py: Python<'_>,
        name: &str,
        #[pyo3(from_py_with = ints::initial)] initial: u32,
        #[pyo3(from_py_with = ints::maximum)] maximum: u32,
    ) -> PyResult<NamedSemaphore> {
        let inner = detach(py, || {
            filemap::sync::NamedSemaphore::create_new(name, initial, maximum)
        })
        .or_raise()?;
        Ok(NamedSemaphore::wrap(inner))
    }

    /// Creates the named semaphore or opens the existing one (which keeps its counts);
    /// returns `(semaphore, created)`.
    #[staticmethod]
    fn create_or_open(
        py: Python<'_>,
        name: &str,
        #[pyo3(from_py_with = ints::initial)] initial: u32,
        #[pyo3(from_py_with = ints::maximum)] maximum: u32,
    ) -> PyResult<(NamedSemaphore, bool)> {
        let (inner, d) = detach(py, || {
            filemap::sync::NamedSemaphore::create_or_open(name, initial, maximum)
        })
        .or_raise()?;
        Ok((NamedSemaphore::wrap(inner), d == Disposition::Created))
    }

    /// Opens an existing named semaphore.
    #[staticmethod]
    fn open(py: Python<'_>, name: &str) -> PyResult<NamedSemaphore> {
        let inner = detach(py, || filemap::sync::NamedSemaphore::open(name)).or_raise()?;
        Ok(NamedSemaphore::wrap(inner))
    }

    /// Adds `count` units; returns the count before. `InvalidArgumentError` (a
    /// `ValueError`) past the maximum.
    #[pyo3(signature = (count=1))]
    fn release(&self, #[pyo3(from_py_with = ints::count)] count: u32) -> PyResult<u32> {
        self.inner.get()?.release(count).or_raise()
    }

    /// Takes a unit, waiting up to `timeout` seconds (`None`: for ever).
    #[pyo3(signature = (timeout=None))]
    fn acquire(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        let timeout = timeout_arg(py, timeout)?;
        wait_through(py, timeout, &self.inner, |semaphore, slice| {
            sliced(semaphore.acquire_timeout(slice))
        })
        .map(drop)
    }

    /// Takes a unit if one is there now.
    fn try_acquire(&self) -> PyResult<bool> {
        self.inner.get()?.try_acquire().or_raise()
    }

    /// The current count, where the system tells.
    #[getter]
    fn count(&self) -> PyResult<Option<u32>> {
        Ok(self.inner.get()?.count())
    }

    /// The maximum count, where it is known (on Windows only to the semaphore's creator).
    #[getter]
    fn maximum(&self) -> PyResult<Option<u32>> {
        Ok(self.inner.get()?.max())
    }

    /// The semaphore's full name.
    #[getter]
    fn name(&self) -> String {
        self.inner.name().to_string()
    }

    /// Lets go of this handle (again: nothing); using it afterwards is a `ValueError`. Units
    /// taken stay taken; a `with` block in progress gives its unit back at its end.
    fn close(&self) {
        self.inner.close();
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    fn __enter__(&self, py: Python<'_>) -> PyResult<()> {
        let (semaphore, ()) = wait_through(py, None, &self.inner, |semaphore, slice| {
            sliced(semaphore.acquire_timeout(slice))
        })?;
        // The block's end gives the unit back through this handle, closed since or not.
        self.inner.enter(thread_number(), semaphore);
        Ok(())
    }

    fn __exit__(
        &self,
        _t: Option<Bound<'_, PyAny>>,
        _v: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        match self.inner.exit(thread_number(), true) {
            Exit::Through(semaphore) => semaphore.release(1).map(drop).or_raise(),
            // (The parent's unit, which the parent gives back.)
            Exit::Inherited => Ok(()),
            Exit::NoBlock => self.release(1).map(drop),
        }
    }

    fn __repr__(&self) -> String {
        self.inner.repr("NamedSemaphore")
    }
}
