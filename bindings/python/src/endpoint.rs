//! `Endpoint<T>`: the state behind an endpoint class (`Sender`, `Receiver`, `Publisher`,
//! `Subscriber`, `Inbox`, `InboxSender`, `Server`, `Client`), which any Python thread may
//! call. Calls take turns, first come first served: a call that waits does so in slices of
//! at most 50 ms, a turn each, so another thread's call (`close()` too) goes between two
//! slices; a wait whose endpoint another thread closed raises `ValueError` at its next
//! slice. A thread waiting for its turn does so with the GIL released (`turns.rs`); a
//! signal's exception (Ctrl-C) ends that wait, and so does the call's timeout.
//!
//! An endpoint belongs to the process that opened it. A child made by `os.fork` (as
//! `multiprocessing` makes its workers on Linux) has a copy of it, whose role stays the
//! parent's: there every call raises `UnsupportedError` at once, without waiting for a
//! turn that one of the parent's threads held when the child was made (the child has
//! none of those threads), and `close()` closes the copy without a turn (a receiver's is
//! refused with `BufferError` while a buffer of a message received before the fork lives,
//! as at home). Getters that read what the endpoint keeps (`capacity`, `name`) answer.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use pyo3::prelude::*;

use crate::bytes::with_bytes;
use crate::errors::{Failed, closed, to_py};
use crate::turns::{Patience, Ticket, Turns};
use crate::waiting::{Deadline, released, slice_left, sliced, timeout_arg, wait_sliced};

/// An endpoint's state (`None` once closed), used by one call at a time.
pub(crate) struct Endpoint<T> {
    /// What it is, for errors: "the sender".
    what: &'static str,
    turns: Turns,
    /// Locked only by the call whose turn it is (so never waited for).
    state: Mutex<Option<T>>,
    /// False once closed: read without a turn (`ensure_open`).
    open: AtomicBool,
    /// How many forks made this process when the endpoint was opened (see [`forks`]).
    born: u64,
}

/// How many `os.fork` calls made this process: 0 in the process that imported the
/// module, one more in each child (counted by a handler `os.register_at_fork` runs).
static FORKS: AtomicU64 = AtomicU64::new(0);

/// See [`FORKS`].
pub(crate) fn forks() -> u64 {
    FORKS.load(Ordering::Relaxed)
}

/// Run by Python in a child right after `os.fork` (registered at import).
#[pyfunction]
pub(crate) fn _after_fork_in_child() {
    FORKS.fetch_add(1, Ordering::Relaxed);
    crate::shutdown::after_fork_in_child();
}

/// Makes Python run [`_after_fork_in_child`] in every child `os.fork` makes (where there
/// is `os.fork`: not on Windows).
pub(crate) fn count_forks(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let os = m.py().import("os")?;
    if !os.hasattr("register_at_fork")? {
        return Ok(());
    }
    let after = pyo3::wrap_pyfunction!(_after_fork_in_child, m)?;
    let kwargs = pyo3::types::PyDict::new(m.py());
    kwargs.set_item("after_in_child", after)?;
    os.call_method("register_at_fork", (), Some(&kwargs))?;
    Ok(())
}

/// One call's turn at an endpoint: its state until dropped.
pub(crate) struct Turn<'a, T> {
    // Dropped first, then the ticket passes the turn on.
    state: MutexGuard<'a, Option<T>>,
    what: &'static str,
    _ticket: Ticket<'a>,
}

impl<T> Turn<'_, T> {
    /// The endpoint, open: `ValueError` if it was closed (by this thread or another).
    pub(crate) fn open(&mut self) -> PyResult<&mut T> {
        self.state.as_mut().ok_or_else(|| closed(self.what))
    }

    /// The endpoint's state: `Some` while open, `None` once closed.
    pub(crate) fn state(&mut self) -> &mut Option<T> {
        &mut self.state
    }
}

impl<T> Drop for Endpoint<T> {
    /// In a child made by `os.fork`, a copy whose state a thread of the parent held when
    /// the child was made (mid-call: its state may be half changed) is leaked, not dropped,
    /// as `forget_if_inherited` leaves it; one nobody held is dropped (the library's
    /// endpoints leave their parent's alone when a copy is dropped).
    fn drop(&mut self) {
        if self.inherited() && self.state.try_lock().is_err() {
            // (`get_mut` needs no lock: this is the last reference; the parent's thread
            // that held it does not exist here.)
            let state = self
                .state
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            std::mem::forget(state);
        }
    }
}

impl<T> Endpoint<T> {
    /// An open endpoint; `what` names it in errors ("the sender").
    pub(crate) fn new(what: &'static str, value: T) -> Endpoint<T> {
        Endpoint {
            what,
            turns: Turns::default(),
            state: Mutex::new(Some(value)),
            open: AtomicBool::new(true),
            born: forks(),
        }
    }

    /// `ValueError` if the endpoint was closed; no turn taken (for what an endpoint keeps
    /// from when it was opened: its capacity, say).
    pub(crate) fn ensure_open(&self) -> PyResult<()> {
        match self.open.load(Ordering::Acquire) {
            true => Ok(()),
            false => Err(closed(self.what)),
        }
    }

    /// A turn at the endpoint (open or closed), after the calls of other threads that
    /// asked before; an exception a signal's handler raises meanwhile (Ctrl-C's
    /// `KeyboardInterrupt`) ends the wait.
    pub(crate) fn turn(&self, py: Python<'_>) -> PyResult<Turn<'_, T>> {
        let turn = self.turn_as(py, Patience::Interruptible { deadline: None })?;
        Ok(turn.expect("a wait for a turn with no deadline ends only with the turn"))
    }

    /// As [`turn`](Endpoint::turn), but `Ok(None)` once `deadline` has passed (a call's
    /// timeout covers its wait for a turn).
    pub(crate) fn turn_until(
        &self,
        py: Python<'_>,
        deadline: Option<Instant>,
    ) -> PyResult<Option<Turn<'_, T>>> {
        self.turn_as(py, Patience::Interruptible { deadline })
    }

    /// As [`turn`](Endpoint::turn), but `TimedOutError` naming `what` once `deadline` has
    /// passed.
    pub(crate) fn turn_within(
        &self,
        py: Python<'_>,
        deadline: Deadline,
        what: &str,
    ) -> PyResult<Turn<'_, T>> {
        self.turn_until(py, deadline.at())?
            .ok_or_else(|| deadline.timed_out(py, what))
    }

    /// A turn if it comes within a slice, waited for running no signal handlers (see
    /// `Patience::OneQuietSlice`); `None` if it does not.
    pub(crate) fn turn_quietly(&self, py: Python<'_>) -> PyResult<Option<Turn<'_, T>>> {
        self.turn_as(py, Patience::OneQuietSlice)
    }

    /// A turn that signals do not cut short, for what must be done on every way out of a
    /// call (its handlers run when the wait is over).
    pub(crate) fn turn_uninterruptible(&self, py: Python<'_>) -> PyResult<Turn<'_, T>> {
        let turn = self.turn_as(py, Patience::Uninterruptible)?;
        Ok(turn.expect("an uninterruptible wait for a turn ends only with the turn"))
    }

    fn turn_as(&self, py: Python<'_>, patience: Patience) -> PyResult<Option<Turn<'_, T>>> {
        self.ensure_not_inherited()?;
        let Some(ticket) = self.turns.take(py, self.what, patience)? else {
            return Ok(None);
        };
        // Only the turn's holder locks it: free now (a previous holder's guard is dropped
        // before its ticket passes the turn on).
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(Some(Turn {
            state,
            what: self.what,
            _ticket: ticket,
        }))
    }

    /// Runs `f` on the open endpoint in a turn: `ValueError` if it is closed. A filemap
    /// error of `f`'s becomes a Python exception once the turn is passed on.
    pub(crate) fn with<R>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut T) -> Result<R, Failed>,
    ) -> PyResult<R> {
        let done = f(self.turn(py)?.open()?);
        done.map_err(Failed::raise)
    }

    /// As [`with`](Endpoint::with), in a turn taken by `deadline`: `TimedOutError` naming
    /// `what` if it passed first.
    pub(crate) fn with_within<R>(
        &self,
        py: Python<'_>,
        deadline: Deadline,
        what: &str,
        f: impl FnOnce(&mut T) -> Result<R, Failed>,
    ) -> PyResult<R> {
        let done = f(self.turn_within(py, deadline, what)?.open()?);
        done.map_err(Failed::raise)
    }

    /// Whether this is a copy in a child made by `os.fork` (see the module's docs).
    pub(crate) fn inherited(&self) -> bool {
        self.born != forks()
    }

    /// `UnsupportedError` in a child made by `os.fork` (see the module's docs); once the
    /// child closed its copy, `ValueError`, as for any closed endpoint.
    fn ensure_not_inherited(&self) -> PyResult<()> {
        if !self.inherited() {
            return Ok(());
        }
        self.ensure_open()?;
        Err(to_py(filemap::Error::Unsupported {
            what: "using an endpoint inherited from the parent process by fork: it stays \
                   the parent's; the child opens one of its own",
        }))
    }

    /// Closes the endpoint (in a turn, after any call of another thread that holds one);
    /// returns it, if it was open, for the caller to drop. In a child made by `os.fork`,
    /// takes no turn: the copy is closed here, and dropped if no thread of the parent was
    /// using it when the child was made (the library's endpoints leave their parent's
    /// alone when a copy is dropped).
    pub(crate) fn close(&self, py: Python<'_>) -> PyResult<Option<T>> {
        if self.forget_if_inherited() {
            return Ok(None);
        }
        let mut turn = self.turn_uninterruptible(py)?;
        self.mark_closed();
        Ok(turn.state().take())
    }

    /// In a child made by `os.fork`: closes this copy without a turn (see `close`) and
    /// says so; elsewhere `false`, with nothing done.
    pub(crate) fn forget_if_inherited(&self) -> bool {
        if !self.inherited() {
            return false;
        }
        self.mark_closed();
        let copy = self
            .state
            .try_lock()
            .ok()
            .and_then(|mut state| state.take());
        drop(copy);
        true
    }

    /// Records that the endpoint is being closed (by a call that has its turn and takes
    /// its state), for `ensure_open`.
    pub(crate) fn mark_closed(&self) {
        self.open.store(false, Ordering::Release);
    }

    /// Waits in slices until `slice` gives a result, each call to it in a turn of its own
    /// with the endpoint open (`ValueError` once another thread closed it): `slice(py,
    /// endpoint, d)` waits up to `d` (releasing the GIL; `d` reckoned once the turn is
    /// taken) and says `None` if nothing came. `TimedOutError` naming `what` after
    /// `timeout` (`None`: never), which the waits for turns count in (a turn that does not
    /// come by then, or within a slice, ends the wait without a last slice). Returns the
    /// result with the turn it came in, for the
    /// caller to finish with. A filemap error of a slice's becomes a Python exception
    /// once its turn is passed on.
    pub(crate) fn wait<R>(
        &self,
        py: Python<'_>,
        deadline: Deadline,
        what: &str,
        mut slice: impl FnMut(Python<'_>, &mut T, Duration) -> Result<Option<R>, Failed>,
    ) -> PyResult<(Turn<'_, T>, R)> {
        wait_sliced(py, deadline, what, |py, deadline| {
            let Some(mut turn) = self.turn_until(py, deadline)? else {
                return Ok(None);
            };
            match slice(py, turn.open()?, slice_left(deadline)) {
                Ok(got) => Ok(got.map(|r| (turn, r))),
                Err(failed) => {
                    drop(turn);
                    Err(failed.raise())
                }
            }
        })
    }

    /// Sends `data` (bytes or any contiguous buffer) through a sending endpoint: at once
    /// in a turn if it goes (`try_send`), else in slices (`send_timeout`, the GIL
    /// released) until `timeout` seconds have passed (`None`: for ever). `what` names the
    /// endpoint in a timeout.
    pub(crate) fn send(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        timeout: Option<f64>,
        what: &str,
        try_send: impl FnOnce(&mut T, &[u8]) -> filemap::Result<bool> + Send,
        send_timeout: impl Fn(&mut T, &[u8], Duration) -> filemap::Result<()> + Sync,
    ) -> PyResult<()>
    where
        T: Send,
    {
        let deadline = Deadline::after(timeout_arg(py, timeout)?);
        with_bytes(py, data, |message| {
            let mut turn = self.turn_within(py, deadline, what)?;
            let endpoint = turn.open()?;
            // A long copy lets other threads run (the turn keeps this process's others off
            // the endpoint; `message` is immutable or this call's own copy).
            let sent = crate::shutdown::copying(py, message.len(), || try_send(endpoint, message));
            match sent {
                Ok(true) => return Ok(()),
                Ok(false) => drop(turn),
                Err(e) => {
                    // Made a Python exception once the turn is passed on.
                    drop(turn);
                    return Err(to_py(e));
                }
            }
            self.wait(py, deadline, what, |py, endpoint, slice| {
                let send_timeout = &send_timeout;
                Ok(released(py, || {
                    sliced(send_timeout(endpoint, message, slice))
                })?)
            })
            .map(drop)
        })
    }

    /// The address of the endpoint, which orders turns taken together (`wait_any`).
    pub(crate) fn address(&self) -> usize {
        self as *const Endpoint<T> as usize
    }
}
