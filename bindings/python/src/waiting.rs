//! Blocking waits from Python: `timeout=` in seconds, the GIL released while waiting, and
//! Ctrl-C honoured (the wait runs in slices of at most `SLICE`, checking for signals
//! between them, so `KeyboardInterrupt` arrives within one slice; an endpoint's wait takes
//! a turn per slice, `endpoint.rs`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use pyo3::prelude::*;

use crate::shutdown::detach;

use crate::closable::Closable;
use crate::errors::{invalid, raise, to_py};

/// The longest stretch a wait runs without checking for signals.
pub(crate) const SLICE: Duration = Duration::from_millis(50);

/// A `timeout=` argument in seconds: `None` waits for ever; it must be a finite number
/// `>= 0`.
pub(crate) fn timeout_arg(py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<Duration>> {
    match timeout {
        None => Ok(None),
        Some(t) if t.is_finite() && t >= 0.0 => Ok(Some(
            Duration::try_from_secs_f64(t).unwrap_or(Duration::MAX),
        )),
        Some(t) => Err(invalid(
            py,
            format!("timeout must be None or a number of seconds >= 0, not {t}"),
        )),
    }
}

/// `Ok(None)` for a slice that ran out (`filemap::Error::Timeout`), else the result.
pub(crate) fn sliced<T>(result: filemap::Result<T>) -> filemap::Result<Option<T>> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(filemap::Error::Timeout { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Calls `attempt(handle, slice)` with the GIL released until it returns `Some`, each call
/// waiting at most `slice`; between calls, runs Python's signal handlers (so Ctrl-C raises
/// `KeyboardInterrupt`). The handle is `object`'s, looked up again for each call: a
/// `close()` from another thread ends the wait within a slice (`ValueError`), and the wait
/// does not keep the closed handle (and its name) alive. Raises `TimedOutError` naming
/// the object once `timeout` has passed (`None`: never). `attempt` gets `Duration::ZERO`
/// when `timeout` is zero: a try. Returns the handle the wait ended through, with what it
/// got.
pub(crate) fn wait_through<H: Send + Sync, T: Send>(
    py: Python<'_>,
    timeout: Option<Duration>,
    object: &Closable<H>,
    mut attempt: impl FnMut(&H, Duration) -> filemap::Result<Option<T>> + Send,
) -> PyResult<(Arc<H>, T)> {
    wait_sliced(
        py,
        Deadline::after(timeout),
        object.name(),
        |py, deadline| {
            let handle = object.get()?;
            let slice = slice_left(deadline);
            let got = released(py, || attempt(&handle, slice)).map_err(to_py)?;
            Ok(got.map(|got| (handle, got)))
        },
    )
}

/// Runs `attempt` with the GIL released: its result, `None` for a wait that ran out.
pub(crate) fn released<T: Send>(
    py: Python<'_>,
    attempt: impl FnOnce() -> filemap::Result<Option<T>> + Send,
) -> filemap::Result<Option<T>> {
    detach(py, attempt)
}

/// When a call's wait ends: its timeout reckoned from when the call began (so that time
/// spent waiting for an endpoint's turn counts), and the timeout, for the error.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline {
    at: Option<Instant>,
    timeout: Option<Duration>,
}

impl Deadline {
    /// `timeout` from now (`None`: never).
    pub(crate) fn after(timeout: Option<Duration>) -> Deadline {
        Deadline {
            at: timeout.and_then(|t| Instant::now().checked_add(t)),
            timeout,
        }
    }

    /// When it passes (`None`: never).
    pub(crate) fn at(&self) -> Option<Instant> {
        self.at
    }

    /// Whether it has passed.
    pub(crate) fn passed(&self) -> bool {
        self.at.is_some_and(|d| Instant::now() >= d)
    }

    /// `TimedOutError` for a wait for `what` that reached it.
    pub(crate) fn timed_out(&self, py: Python<'_>, what: &str) -> PyErr {
        raise(
            py,
            "TimedOutError",
            format!(
                "timed out after {} waiting for {what}",
                filemap::HumanDuration(self.timeout.unwrap_or_default())
            ),
        )
    }
}

/// How long a slice that starts now may wait: at most `SLICE`, and no later than
/// `deadline` (`Duration::ZERO` once it has passed: a try).
pub(crate) fn slice_left(deadline: Option<Instant>) -> Duration {
    match deadline {
        Some(d) => d.saturating_duration_since(Instant::now()).min(SLICE),
        None => SLICE,
    }
}

/// Calls `slice(py, deadline)` (with the GIL held; it releases the GIL for its wait of at
/// most `slice_left(deadline)`, reckoned when it starts waiting) until it returns `Some`,
/// running Python's signal handlers between calls (so Ctrl-C raises `KeyboardInterrupt`
/// within one slice). Raises `TimedOutError` naming `what` once `timeout` has passed
/// (`None`: never); a zero `timeout` makes one call, a try. (An endpoint's slice waits
/// for the endpoint's turn first: up to the deadline, and at least one slice.)
pub(crate) fn wait_sliced<T>(
    py: Python<'_>,
    deadline: Deadline,
    what: &str,
    mut slice: impl FnMut(Python<'_>, Option<Instant>) -> PyResult<Option<T>>,
) -> PyResult<T> {
    loop {
        if let Some(v) = slice(py, deadline.at)? {
            return Ok(v);
        }
        if deadline.passed() {
            return Err(deadline.timed_out(py, what));
        }
        py.check_signals()?;
    }
}

/// `__next__` of a receiving endpoint: the next item, until the peer is gone
/// (`DisconnectedError` ends the iteration).
pub(crate) fn next_or_stop<T>(py: Python<'_>, item: PyResult<T>) -> PyResult<T> {
    match item {
        Err(e) if e.is_instance_of::<pyo3::exceptions::PyBrokenPipeError>(py) => {
            Err(pyo3::exceptions::PyStopIteration::new_err(()))
        }
        other => other,
    }
}
