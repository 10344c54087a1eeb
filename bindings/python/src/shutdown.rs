//! Releasing the GIL (`detach`) in a way that survives the interpreter's exit.
//!
//! While Python finalizes, a thread other than the finalizing one that takes the GIL back
//! is ended by CPython, and so is one that was already waiting for the GIL when
//! finalization began. Before 3.14 CPython ends it with `pthread_exit`, whose forced
//! unwinding runs through this module's Rust frames into pyo3's guard against panics,
//! which catches it: glibc then aborts the process ("FATAL: exception not rethrown"). A
//! daemon thread blocked in a filemap wait when the program ended took the GIL back at the
//! end of its next slice, and an ordinary program died of SIGABRT on its way out.
//!
//! So every call here releases the GIL through [`detach`], and an exit handler
//! (`gate::_before_exit`, registered with `atexit` at import) closes a gate before
//! finalization begins: a thread (not the main one, which finalizes) that would take the
//! GIL back after the gate closed parks for good instead, as CPython 3.14 makes such
//! threads do itself, and the process exits around it; the handler first lets the threads
//! already on their way back through (it releases the GIL until they have it). What a
//! parked thread held stays held: a turn of an endpoint that a later exit handler or a
//! finalizer (`__del__`) then calls waits for ever, and so does an exit handler that
//! joins a thread parked in a filemap call. `atexit` runs its handlers last registered
//! first, so an exit handler registered after `filemap` was imported runs before the
//! gate closes: import filemap before registering one that stops threads using it.
//! Where the gate is not closed (a thread's finalization of its own, an exit without
//! `atexit`), a thread still asks the interpreter whether it is finalizing before it takes
//! the GIL back (`Py_IsFinalizing`, or `_Py_IsFinalizing` before 3.13, found at import:
//! neither is in the stable ABI).
//!
//! Windows ends such threads without unwinding (`_endthreadex`): there the gate stays open
//! and this is `Python::detach`.

use pyo3::prelude::*;

/// Runs `f` with the GIL released; a thread other than the main one parks for good
/// instead of taking the GIL back once the interpreter is about to finalize (see the
/// module's docs).
pub(crate) fn detach<T: Send>(py: Python<'_>, f: impl FnOnce() -> T + Send) -> T {
    #[cfg(unix)]
    return gate::detach(py, f);
    #[cfg(not(unix))]
    return py.detach(f);
}

/// At import: finds the interpreter's finalizing test, notes Python's main thread and
/// registers the exit handler that closes the gate.
pub(crate) fn find_interpreter(m: &Bound<'_, PyModule>) -> PyResult<()> {
    #[cfg(unix)]
    return gate::install(m);
    #[cfg(not(unix))]
    {
        let _ = m;
        Ok(())
    }
}

/// In a child `os.fork` made, the forking thread is Python's main thread, and the only
/// one: no other is on its way back to the GIL.
pub(crate) fn after_fork_in_child() {
    #[cfg(unix)]
    gate::after_fork_in_child();
}

#[cfg(unix)]
mod gate {
    use std::ffi::c_void;
    use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    use pyo3::prelude::*;

    /// [`super::detach`] on Linux.
    pub(super) fn detach<T: Send>(py: Python<'_>, f: impl FnOnce() -> T + Send) -> T {
        let (out, passing) = py.detach(|| {
            let out = f();
            (out, pass_gate())
        });
        if passing {
            GATE.fetch_sub(1, Ordering::Release);
        }
        out
    }

    /// The gate: [`CLOSED`], and how many threads are on their way back to the GIL
    /// through it.
    static GATE: AtomicU64 = AtomicU64::new(0);
    /// The gate's bit saying it is closed.
    const CLOSED: u64 = 1 << 63;
    /// How long the exit handler waits for the threads on their way back to the GIL.
    const LET_THROUGH_FOR: Duration = Duration::from_secs(2);
    /// The interpreter's `Py_IsFinalizing` (or `_Py_IsFinalizing`); null if it was not
    /// found.
    static IS_FINALIZING: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
    /// Python's main thread (`pthread_self`), the one that finalizes.
    static MAIN_THREAD: AtomicU64 = AtomicU64::new(0);

    /// Before this thread takes the GIL back: `true` if it passes the gate (counted until
    /// it has the GIL), `false` for the main thread (which needs no gate); never returns
    /// once the interpreter is about to finalize.
    fn pass_gate() -> bool {
        if on_main_thread() {
            return false;
        }
        let mut now = GATE.load(Ordering::Relaxed);
        loop {
            if now & CLOSED != 0 || finalizing() {
                park_for_good();
            }
            // One read-modify-write of the gate's word: either this thread is counted
            // before the exit handler closes it (and the handler waits for it), or the
            // exchange fails on the closed gate and the thread parks.
            match GATE.compare_exchange_weak(now, now + 1, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(seen) => now = seen,
            }
        }
    }

    fn park_for_good() -> ! {
        loop {
            std::thread::park();
        }
    }

    /// Run by `atexit` before the interpreter finalizes: closes the gate, then releases
    /// the GIL until the threads that passed it before have it (at most
    /// [`LET_THROUGH_FOR`]).
    #[pyfunction]
    pub(super) fn _before_exit(py: Python<'_>) {
        GATE.fetch_or(CLOSED, Ordering::AcqRel);
        py.detach(|| {
            let start = Instant::now();
            while GATE.load(Ordering::Acquire) & !CLOSED != 0 && start.elapsed() < LET_THROUGH_FOR {
                std::thread::sleep(Duration::from_micros(200));
            }
        });
    }

    /// Whether the interpreter is finalizing (`false` if it cannot be told).
    fn finalizing() -> bool {
        let at = IS_FINALIZING.load(Ordering::Relaxed);
        if at.is_null() {
            return false;
        }
        // SAFETY: `at` is the address of CPython's `Py_IsFinalizing` or `_Py_IsFinalizing`
        // (`int (void)`, found by `install`), which read the runtime's finalizing state
        // atomically and may be called without the GIL; the interpreter's library is
        // loaded for as long as this module is.
        let is_finalizing: extern "C" fn() -> std::ffi::c_int = unsafe { std::mem::transmute(at) };
        is_finalizing() != 0
    }

    fn on_main_thread() -> bool {
        this_thread() == MAIN_THREAD.load(Ordering::Relaxed)
    }

    fn this_thread() -> u64 {
        // SAFETY: `pthread_self` has no preconditions.
        unsafe { libc::pthread_self() as u64 }
    }

    /// [`super::find_interpreter`] on Linux.
    pub(super) fn install(m: &Bound<'_, PyModule>) -> PyResult<()> {
        for symbol in [c"Py_IsFinalizing", c"_Py_IsFinalizing"] {
            // SAFETY: looks a symbol up in the loaded objects by a NUL-terminated name.
            let at = unsafe { libc::dlsym(libc::RTLD_DEFAULT, symbol.as_ptr()) };
            if !at.is_null() {
                IS_FINALIZING.store(at, Ordering::Relaxed);
                break;
            }
        }
        // A thread's `ident` is its `pthread_self`.
        let main = m.py().import("threading")?.call_method0("main_thread")?;
        MAIN_THREAD.store(main.getattr("ident")?.extract::<u64>()?, Ordering::Relaxed);
        let before_exit = pyo3::wrap_pyfunction!(_before_exit, m)?;
        m.py()
            .import("atexit")?
            .call_method1("register", (before_exit,))?;
        Ok(())
    }

    /// [`super::after_fork_in_child`] on Linux.
    pub(super) fn after_fork_in_child() {
        MAIN_THREAD.store(this_thread(), Ordering::Relaxed);
        GATE.store(0, Ordering::Relaxed);
    }
}
