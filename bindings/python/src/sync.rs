//! `filemap.NamedMutex` (and its guard), `filemap.NamedEvent`, `filemap.NamedSemaphore`:
//! Win32's named synchronisation objects, robust across crashes. Every wait releases the
//! GIL and can be interrupted with Ctrl-C.

use std::sync::atomic::{AtomicU64, Ordering};

use filemap::sync::EventReset;
use filemap::Disposition;
use pyo3::prelude::*;

use crate::errors::OrRaise;
use crate::waiting::{sliced, timeout_arg, wait_released};

/// A named, robust, cross-process mutex. If its holder dies, the next lock succeeds and
/// says so (`guard.abandoned`, Win32's `WAIT_ABANDONED`). Use it as a context manager:
/// `with mutex as guard:`; a lock belongs to the thread that took it.
#[pyclass(module = "filemap", frozen)]
pub struct NamedMutex {
    pub(crate) inner: filemap::sync::NamedMutex,
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
            inner,
            guard: AtomicU64::new(0),
            guard_thread: AtomicU64::new(0),
        }
    }

    /// The guard of a lock just taken through this handle.
    fn guard_for(slf: Py<Self>, abandoned: bool) -> MutexGuard {
        let id = NEXT_GUARD.fetch_add(1, Ordering::Relaxed);
        slf.get()
            .guard_thread
            .store(thread_number(), Ordering::Relaxed);
        slf.get().guard.store(id, Ordering::Relaxed);
        MutexGuard {
            mutex: Some(slf),
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
        let inner = py
            .detach(|| filemap::sync::NamedMutex::create_new(name))
            .or_raise()?;
        Ok(NamedMutex::wrap(inner))
    }

    /// Creates the named mutex or opens the existing one; returns `(mutex, created)`.
    #[staticmethod]
    fn create_or_open(py: Python<'_>, name: &str) -> PyResult<(NamedMutex, bool)> {
        let (inner, d) = py
            .detach(|| filemap::sync::NamedMutex::create_or_open(name))
            .or_raise()?;
        Ok((NamedMutex::wrap(inner), d == Disposition::Created))
    }

    /// Opens an existing named mutex.
    #[staticmethod]
    fn open(py: Python<'_>, name: &str) -> PyResult<NamedMutex> {
        let inner = py
            .detach(|| filemap::sync::NamedMutex::open(name))
            .or_raise()?;
        Ok(NamedMutex::wrap(inner))
    }

    /// Locks the mutex, waiting up to `timeout` seconds (`None`: for ever); returns the
    /// guard, whose `abandoned` says whether the previous holder died holding it.
    /// `TimedOutError` after the timeout; `WouldDeadlockError` if this thread holds it.
    #[pyo3(signature = (timeout=None))]
    fn lock(slf: Py<Self>, py: Python<'_>, timeout: Option<f64>) -> PyResult<MutexGuard> {
        let timeout = timeout_arg(py, timeout)?;
        let this = slf.get();
        let name = this.inner.name().to_string();
        let abandoned = wait_released(py, timeout, &name, |slice| {
            sliced(this.inner.lock_unguarded(Some(slice)))
        })?;
        Ok(NamedMutex::guard_for(slf, abandoned))
    }

    /// Locks the mutex if it is free now; `None` if another holds it.
    fn try_lock(slf: Py<Self>, py: Python<'_>) -> PyResult<Option<MutexGuard>> {
        let taken = sliced(
            slf.get()
                .inner
                .lock_unguarded(Some(std::time::Duration::ZERO)),
        )
        .or_raise()?;
        Ok(taken.map(|abandoned| NamedMutex::guard_for(slf.clone_ref(py), abandoned)))
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
        self.inner.release().or_raise()
    }

    /// The mutex's full name.
    #[getter]
    fn name(&self) -> String {
        self.inner.name().to_string()
    }

    /// Locks for a `with` block, which unlocks at its end: the guard returned only says
    /// whether the mutex was abandoned.
    fn __enter__(slf: Py<Self>, py: Python<'_>) -> PyResult<MutexGuard> {
        let mut guard = NamedMutex::lock(slf, py, None)?;
        if let Some(m) = guard.mutex.take() {
            m.get().guard.store(0, Ordering::Relaxed);
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
        self.release(py)
    }

    fn __repr__(&self) -> String {
        format!("<filemap.NamedMutex {:?}>", self.inner.name().to_string())
    }
}

/// A held lock of a `NamedMutex`: `abandoned` tells whether its previous holder died
/// holding it (check the state it protects). Unlock with `release()` or by leaving its
/// `with` block, on the thread that locked it (`NotOwnerError` on another, as Win32's
/// `ReleaseMutex` fails there).
#[pyclass(module = "filemap")]
pub struct MutexGuard {
    /// The mutex while this guard holds its lock.
    mutex: Option<Py<NamedMutex>>,
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
        let Some(m) = self.mutex.as_ref() else {
            return Ok(());
        };
        if std::thread::current().id() != self.thread {
            return Err(filemap::Error::NotOwner {
                name: m.get().inner.name().to_string(),
            });
        }
        let Some(m) = self.mutex.take() else {
            return Ok(());
        };
        let m = m.get();
        match m
            .guard
            .compare_exchange(self.id, 0, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => m.inner.release(),
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
            if let Some(m) = self.mutex.take() {
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
    pub(crate) inner: filemap::sync::NamedEvent,
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
        let inner = py
            .detach(|| {
                filemap::sync::NamedEvent::create_new(name, reset_arg(manual_reset), initially_set)
            })
            .or_raise()?;
        Ok(NamedEvent { inner })
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
        let (inner, d) = py
            .detach(|| {
                filemap::sync::NamedEvent::create_or_open(
                    name,
                    reset_arg(manual_reset),
                    initially_set,
                )
            })
            .or_raise()?;
        Ok((NamedEvent { inner }, d == Disposition::Created))
    }

    /// Opens an existing named event.
    #[staticmethod]
    fn open(py: Python<'_>, name: &str) -> PyResult<NamedEvent> {
        let inner = py
            .detach(|| filemap::sync::NamedEvent::open(name))
            .or_raise()?;
        Ok(NamedEvent { inner })
    }

    /// Sets the event.
    fn set(&self) -> PyResult<()> {
        self.inner.set().or_raise()
    }

    /// Resets the event.
    fn reset(&self) -> PyResult<()> {
        self.inner.reset().or_raise()
    }

    /// Waits until the event is set, up to `timeout` seconds (`None`: for ever);
    /// `TimedOutError` after that.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        let timeout = timeout_arg(py, timeout)?;
        let name = self.inner.name().to_string();
        wait_released(py, timeout, &name, |slice| {
            sliced(self.inner.wait_timeout(slice))
        })
    }

    /// `True` if the event was set (an auto-reset event's signal is taken), without
    /// waiting.
    fn try_wait(&self) -> PyResult<bool> {
        self.inner.try_wait().or_raise()
    }

    /// Whether the event resets itself (`"auto"`) or stays set (`"manual"`); `None` where
    /// the system does not say.
    #[getter]
    fn reset_mode(&self) -> Option<&'static str> {
        self.inner.reset_mode().map(|r| match r {
            EventReset::Manual => "manual",
            EventReset::Auto => "auto",
        })
    }

    /// The event's full name.
    #[getter]
    fn name(&self) -> String {
        self.inner.name().to_string()
    }

    fn __repr__(&self) -> String {
        format!("<filemap.NamedEvent {:?}>", self.inner.name().to_string())
    }
}

/// A named counting semaphore (Win32's `CreateSemaphore`).
#[pyclass(module = "filemap", frozen)]
pub struct NamedSemaphore {
    pub(crate) inner: filemap::sync::NamedSemaphore,
}

#[pymethods]
impl NamedSemaphore {
    /// Creates a named semaphore with `initial` units and at most `maximum`.
    #[staticmethod]
    fn create_new(
        py: Python<'_>,
        name: &str,
        initial: u32,
        maximum: u32,
    ) -> PyResult<NamedSemaphore> {
        let inner = py
            .detach(|| filemap::sync::NamedSemaphore::create_new(name, initial, maximum))
            .or_raise()?;
        Ok(NamedSemaphore { inner })
    }

    /// Creates the named semaphore or opens the existing one (which keeps its counts);
    /// returns `(semaphore, created)`.
    #[staticmethod]
    fn create_or_open(
        py: Python<'_>,
        name: &str,
        initial: u32,
        maximum: u32,
    ) -> PyResult<(NamedSemaphore, bool)> {
        let (inner, d) = py
            .detach(|| filemap::sync::NamedSemaphore::create_or_open(name, initial, maximum))
            .or_raise()?;
        Ok((NamedSemaphore { inner }, d == Disposition::Created))
    }

    /// Opens an existing named semaphore.
    #[staticmethod]
    fn open(py: Python<'_>, name: &str) -> PyResult<NamedSemaphore> {
        let inner = py
            .detach(|| filemap::sync::NamedSemaphore::open(name))
            .or_raise()?;
        Ok(NamedSemaphore { inner })
    }

    /// Adds `count` units; returns the count before. `InvalidArgumentError` (a
    /// `ValueError`) past the maximum.
    #[pyo3(signature = (count=1))]
    fn release(&self, count: u32) -> PyResult<u32> {
        self.inner.release(count).or_raise()
    }

    /// Takes a unit, waiting up to `timeout` seconds (`None`: for ever).
    #[pyo3(signature = (timeout=None))]
    fn acquire(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        let timeout = timeout_arg(py, timeout)?;
        let name = self.inner.name().to_string();
        wait_released(py, timeout, &name, |slice| {
            sliced(self.inner.acquire_timeout(slice))
        })
    }

    /// Takes a unit if one is there now.
    fn try_acquire(&self) -> PyResult<bool> {
        self.inner.try_acquire().or_raise()
    }

    /// The current count, where the system tells.
    #[getter]
    fn count(&self) -> Option<u32> {
        self.inner.count()
    }

    /// The maximum count, where the system tells.
    #[getter]
    fn maximum(&self) -> Option<u32> {
        self.inner.max()
    }

    /// The semaphore's full name.
    #[getter]
    fn name(&self) -> String {
        self.inner.name().to_string()
    }

    fn __enter__(&self, py: Python<'_>) -> PyResult<()> {
        self.acquire(py, None)
    }

    fn __exit__(
        &self,
        _t: Option<Bound<'_, PyAny>>,
        _v: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        self.release(1).map(|_| ())
    }

    fn __repr__(&self) -> String {
        format!(
            "<filemap.NamedSemaphore {:?}>",
            self.inner.name().to_string()
        )
    }
}
