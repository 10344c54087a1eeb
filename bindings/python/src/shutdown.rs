//! Releasing the GIL (`detach`) in a way that survives the interpreter's exit.
//!
//! While Python finalizes, a thread other than the finalizing one that takes the GIL back
//! is ended by CPython, and so is one that was already waiting for the GIL when
//! finalization began. Before 3.14 CPython ends it with `pthread_exit`, whose forced
//! unwinding runs through this module's Rust frames into pyo3's guard against panics,
//! which catches it: glibc then aborts the process ("FATAL: exception not rethrown"). A
//! daemon thread blocked in a filemap wait when the program ended took the GIL back at the
//! end of its next slice, and an ordinary program died of SIGABRT on its way out. (3.14
//! hangs such a thread instead: there none of this is installed.)
//!
//! So every call here releases the GIL through [`detach`], and an exit handler
//! (`gate::_before_exit`, registered with `atexit` at import, on Unix under CPython before
//! 3.14) closes a gate before finalization begins. From then on, a call that released the
//! GIL on any thread but the one running the exit handlers (the one that finalizes) parks
//! that thread for good instead of taking the GIL back, and the process exits around it;
//! the handler first lets the threads already on their way back through (it releases the
//! GIL until they have it, for at most 2 s: one still waiting after that, behind a thread
//! that holds the GIL in a long call, can still be ended as before).
//!
//! What a parked thread held stays held: a turn of an endpoint (a wait holds its
//! endpoint's turn for its slice, and so does a copy of 64 KiB or more into or out of its
//! ring, made with the GIL released) that a later exit handler or a finalizer (`__del__`) then
//! calls waits for ever, and so does an exit handler that joins a thread parked in a
//! filemap call. `atexit` runs its handlers last registered first, so only handlers
//! registered before `filemap` was imported run after the gate closed (the standard
//! library's own among them: `logging`'s, `multiprocessing`'s if it was imported first).
//! A child `os.fork` makes has its gate open (it runs its own exit).
//!
//! Windows ends such threads without unwinding (`_endthreadex`): there this is
//! `Python::detach`.

use pyo3::prelude::*;

/// Runs `f` with the GIL released; once the interpreter is about to finalize, a thread
/// other than the finalizing one parks for good instead of taking the GIL back (see the
/// module's docs).
pub(crate) fn detach<T: Send>(py: Python<'_>, f: impl FnOnce() -> T + Send) -> T {
    #[cfg(unix)]
    return gate::detach(py, f);
    #[cfg(not(unix))]
    return py.detach(f);
}

/// Runs `f`, a copy of `len` bytes between shared memory and memory of this call's own
/// (or immutable), with the GIL released from [`DETACHED_COPY`](crate::DETACHED_COPY)
/// bytes on, so that a long copy lets other threads run.
pub(crate) fn copying<T: Send>(py: Python<'_>, len: usize, f: impl FnOnce() -> T + Send) -> T {
    if len >= crate::DETACHED_COPY {
        detach(py, f)
    } else {
        f()
    }
}

/// At import: registers the exit handler that closes the gate (on Unix, under CPython
/// before 3.14).
pub(crate) fn install(m: &Bound<'_, PyModule>) -> PyResult<()> {
    #[cfg(unix)]
    return gate::install(m);
    #[cfg(not(unix))]
    {
        let _ = m;
        Ok(())
    }
}

/// In a child `os.fork` made: its gate is open (see the module's docs).
pub(crate) fn after_fork_in_child() {
    #[cfg(unix)]
    gate::after_fork_in_child();
}

#[cfg(unix)]
mod gate {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    use pyo3::prelude::*;

    /// [`super::detach`] on Unix.
    pub(super) fn detach<T: Send>(py: Python<'_>, f: impl FnOnce() -> T + Send) -> T {
        let (out, counted) = py.detach(|| {
            let out = f();
            (out, pass_gate())
        });
        if counted {
            uncount(1);
        }
        out
    }

    /// The gate: [`CLOSED`], and how many threads are on their way back to the GIL
    /// through it.
    static GATE: AtomicU64 = AtomicU64::new(0);
    /// The gate's bit saying it is closed.
    const CLOSED: u64 = 1 << 63;
    /// The thread that closed the gate (`pthread_self`): the one that runs the exit
    /// handlers, and then finalizes.
    static FINALIZER: AtomicU64 = AtomicU64::new(0);
    /// How long the exit handler waits for the threads on their way back to the GIL.
    const LET_THROUGH_FOR: Duration = Duration::from_secs(2);

    thread_local! {
        /// How many of the gate's counts this thread holds: one per call of its that
        /// passed the gate and has not finished taking the GIL back (more than one when
        /// taking it back ran a finalizer that made another call).
        static HELD: Cell<u64> = const { Cell::new(0) };
    }

    /// Before this thread takes the GIL back: `true` if it passed the gate, counted until
    /// it has the GIL; `false` for the finalizing thread once the gate is closed (it
    /// needs no count). Parks for good any other thread once the gate is closed.
    fn pass_gate() -> bool {
        let mut now = GATE.load(Ordering::Relaxed);
        loop {
            if now & CLOSED != 0 {
                if this_thread() == FINALIZER.load(Ordering::Acquire) {
                    return false;
                }
                // Counts this thread holds (its outer call, taking the GIL back, ran a
                // finalizer that came here) are given up: it never takes the GIL back.
                uncount(HELD.with(|held| held.replace(0)));
                park_for_good();
            }
            // One read-modify-write of the gate's word: either this thread is counted
            // before the exit handler closes the gate (and the handler waits for it), or
            // the exchange fails on the closed gate and the thread looks again.
            match GATE.compare_exchange_weak(now, now + 1, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => {
                    HELD.with(|held| held.set(held.get() + 1));
                    return true;
                }
                Err(seen) => now = seen,
            }
        }
    }

    /// Gives up `counts` of this thread's counts.
    fn uncount(counts: u64) {
        if counts > 0 {
            HELD.with(|held| held.set(held.get().saturating_sub(counts)));
            GATE.fetch_sub(counts, Ordering::Release);
        }
    }

    fn park_for_good() -> ! {
        loop {
            std::thread::park();
        }
    }

    fn this_thread() -> u64 {
        // SAFETY: `pthread_self` has no preconditions.
        unsafe { libc::pthread_self() as u64 }
    }

    /// Run by `atexit` before the interpreter finalizes: notes this thread as the one that
    /// finalizes, closes the gate, then releases the GIL until the threads that passed it
    /// before have it (at most [`LET_THROUGH_FOR`]).
    #[pyfunction]
    pub(super) fn _before_exit(py: Python<'_>) {
        FINALIZER.store(this_thread(), Ordering::Release);
        GATE.fetch_or(CLOSED, Ordering::AcqRel);
        py.detach(|| {
            let start = Instant::now();
            while GATE.load(Ordering::Acquire) & !CLOSED != 0 && start.elapsed() < LET_THROUGH_FOR {
                std::thread::sleep(Duration::from_micros(200));
            }
        });
    }

    /// [`super::install`] on Unix.
    pub(super) fn install(m: &Bound<'_, PyModule>) -> PyResult<()> {
        let py = m.py();
        let version = py.import("sys")?.getattr("version_info")?;
        let cpython = py
            .import("sys")?
            .getattr("implementation")?
            .getattr("name")?;
        let ends_threads = cpython.extract::<String>()? == "cpython"
            && (
                version.get_item(0)?.extract::<u32>()?,
                version.get_item(1)?.extract::<u32>()?,
            ) < (3, 14);
        if ends_threads {
            let before_exit = pyo3::wrap_pyfunction!(_before_exit, m)?;
            py.import("atexit")?
                .call_method1("register", (before_exit,))?;
        }
        Ok(())
    }

    /// [`super::after_fork_in_child`] on Unix: the child's only thread holds no count.
    pub(super) fn after_fork_in_child() {
        HELD.with(|held| held.set(0));
        GATE.store(0, Ordering::Relaxed);
        FINALIZER.store(0, Ordering::Relaxed);
    }
}
