//! `filemap.wait_any` and `filemap.wait_all`: Win32's `WaitForMultipleObjects` over events,
//! semaphores, mutexes, channel receivers and topic subscribers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::time::Instant;

use filemap::wait::{Taken, Waitable};
use pyo3::prelude::*;

use crate::channel::{Receiver, Receiving};
use crate::endpoint::{Endpoint, Turn};
use crate::errors::{invalid, to_py};
use crate::parties::{Inbox, KeptInbox, KeptServer, Server};
use crate::sync::{NamedEvent, NamedMutex, NamedSemaphore};
use crate::topic::{KeptSubscriber, Subscriber};
use crate::waiting::{Deadline, released, slice_left, sliced, timeout_arg, wait_sliced};

/// An object waited on: a synchronisation object (used by any thread at once), or an
/// endpoint, whose turn each slice of the wait takes.
enum Object<'a> {
    Event(&'a NamedEvent),
    Semaphore(&'a NamedSemaphore),
    Mutex(&'a NamedMutex),
    Receiver(&'a Endpoint<Receiving>, &'a AtomicU64, &'a AtomicUsize),
    Subscriber(&'a Endpoint<KeptSubscriber>),
    Inbox(&'a Endpoint<KeptInbox>),
    Server(&'a Endpoint<KeptServer>),
}

/// An object in one slice of a wait: a synchronisation object's handle (kept for the
/// slice, should another thread close the object meanwhile), or an endpoint with its turn.
enum Held<'a> {
    Sync(Arc<dyn Waitable + Send + Sync>),
    Receiver(Turn<'a, Receiving>, &'a AtomicU64, &'a AtomicUsize),
    Subscriber(Turn<'a, KeptSubscriber>),
    Inbox(Turn<'a, KeptInbox>),
    Server(Turn<'a, KeptServer>),
}

fn objects_of<'a>(py: Python<'_>, objects: &'a [Bound<'_, PyAny>]) -> PyResult<Vec<Object<'a>>> {
    if objects.is_empty() {
        return Err(invalid(py, "wait on an empty list of objects"));
    }
    // An object given twice: said as the library says it (a second turn of an endpoint in
    // the same wait would wait for the first).
    for (i, o) in objects.iter().enumerate() {
        if let Some(j) = objects[..i].iter().position(|p| p.is(o)) {
            return Err(invalid(
                py,
                format!("objects {j} and {i} are the same object: give each once"),
            ));
        }
    }
    objects
        .iter()
        .enumerate()
        .map(|(i, o)| {
            if let Ok(e) = o.cast::<NamedEvent>() {
                Ok(Object::Event(e.get()))
            } else if let Ok(s) = o.cast::<NamedSemaphore>() {
                Ok(Object::Semaphore(s.get()))
            } else if let Ok(m) = o.cast::<NamedMutex>() {
                Ok(Object::Mutex(m.get()))
            } else if let Ok(r) = o.cast::<Receiver>() {
                let (endpoint, abandoned, exports) = r.get().parts();
                Ok(Object::Receiver(endpoint, abandoned, exports))
            } else if let Ok(s) = o.cast::<Subscriber>() {
                Ok(Object::Subscriber(s.get().endpoint()))
            } else if let Ok(i) = o.cast::<Inbox>() {
                Ok(Object::Inbox(i.get().endpoint()))
            } else if let Ok(s) = o.cast::<Server>() {
                Ok(Object::Server(s.get().endpoint()))
            } else {
                Err(invalid(
                    py,
                    format!(
                        "object {i} ({}) cannot be waited on: use NamedEvent, NamedSemaphore, NamedMutex, Receiver, Subscriber, Inbox or Server",
                        o.get_type().name().map(|n| n.to_string()).unwrap_or_default()
                    ),
                ))
            }
        })
        .collect()
}

impl Object<'_> {
    /// Where the endpoint is, for taking turns in one order (`None` for the others).
    fn address(&self) -> Option<usize> {
        match self {
            Object::Receiver(e, _, _) => Some(e.address()),
            Object::Subscriber(e) => Some(e.address()),
            Object::Inbox(e) => Some(e.address()),
            Object::Server(e) => Some(e.address()),
            _ => None,
        }
    }
}

/// The turns of every endpoint in `objects`, taken in the order of their addresses (so two
/// waits on overlapping sets cannot each hold what the other waits for), in `objects`'s
/// order; `None` (holding none) if `deadline` passed before they all came, or if a turn
/// after the first did not come within a slice: while it holds a turn, this thread waits
/// for the next without running signal handlers (a handler's call could wait for a turn
/// this thread holds), and lets go of all of them, for the caller to run the handlers
/// and try again, rather than wait longer so.
fn take_turns<'a>(
    py: Python<'_>,
    objects: &[Object<'a>],
    deadline: Option<Instant>,
) -> PyResult<Option<Vec<Held<'a>>>> {
    let mut order: Vec<usize> = (0..objects.len()).collect();
    order.sort_by_key(|&i| objects[i].address());
    let mut held: Vec<Option<Held<'a>>> = objects.iter().map(|_| None).collect();
    let mut turns_held = false;
    for i in order {
        macro_rules! turn {
            ($endpoint:expr) => {{
                let turn = if turns_held {
                    $endpoint.turn_quietly(py)?
                } else {
                    $endpoint.turn_until(py, deadline)?
                };
                turns_held = true;
                turn
            }};
        }
        let taken = match objects[i] {
            Object::Event(e) => Some(Held::Sync(e.inner.get()?)),
            Object::Semaphore(s) => Some(Held::Sync(s.inner.get()?)),
            Object::Mutex(m) => Some(Held::Sync(m.inner.get()?)),
            Object::Receiver(e, abandoned, exports) => {
                turn!(e).map(|turn| Held::Receiver(turn, abandoned, exports))
            }
            Object::Subscriber(e) => turn!(e).map(Held::Subscriber),
            Object::Inbox(e) => turn!(e).map(Held::Inbox),
            Object::Server(e) => turn!(e).map(Held::Server),
        };
        let Some(taken) = taken else {
            return Ok(None);
        };
        held[i] = Some(taken);
    }
    Ok(Some(held.into_iter().flatten().collect()))
}

/// The filemap objects behind the turns (`ValueError` for an endpoint closed by now).
fn waitables<'a>(held: &'a mut [Held<'_>]) -> PyResult<Vec<&'a (dyn Waitable + Sync)>> {
    // Every endpoint checked before any receiver lets go of the message it holds.
    for h in held.iter_mut() {
        match h {
            Held::Sync(_) => {}
            Held::Receiver(turn, abandoned, exports) => {
                turn.open()?.check_waitable(abandoned, exports)?
            }
            Held::Subscriber(turn) => turn.open()?.check_waitable("the subscriber")?,
            Held::Inbox(turn) => turn.open()?.check_waitable("the inbox")?,
            Held::Server(turn) => turn.open()?.check_waitable("the server")?,
        }
    }
    held.iter_mut()
        .map(|h| -> PyResult<&'a (dyn Waitable + Sync)> {
            Ok(match h {
                Held::Sync(w) => &**w,
                Held::Receiver(turn, abandoned, exports) => {
                    turn.open()?.waitable(abandoned, exports)?
                }
                Held::Subscriber(turn) => &**turn.open()?,
                Held::Inbox(turn) => &**turn.open()?,
                Held::Server(turn) => &**turn.open()?,
            })
        })
        .collect()
}

/// Waits in slices, each with the turns of the endpoints among `objects`, until
/// `attempt(targets, slice)` (run with the GIL released) gives a result.
fn wait_on<T: Send>(
    py: Python<'_>,
    objects: &[Bound<'_, PyAny>],
    timeout: Option<f64>,
    all: bool,
    attempt: impl Fn(&[&dyn Waitable], std::time::Duration) -> filemap::Result<Option<T>> + Sync,
) -> PyResult<T> {
    let timeout = timeout_arg(py, timeout)?;
    let objects = objects_of(py, objects)?;
    let what = format!(
        "{} of {} objects",
        if all { "all" } else { "any" },
        objects.len()
    );
    wait_sliced(py, Deadline::after(timeout), &what, |py, deadline| {
        let Some(mut held) = take_turns(py, &objects, deadline)? else {
            return Ok(None);
        };
        let targets = waitables(&mut held)?;
        let slice = slice_left(deadline);
        let got = released(py, || {
            let list: Vec<&dyn Waitable> = targets.iter().map(|t| *t as &dyn Waitable).collect();
            attempt(&list, slice)
        });
        // The turns are passed on before an error becomes a Python exception.
        drop(targets);
        drop(held);
        got.map_err(to_py)
    })
}

/// Waits until one of `objects` is ready (Win32's `WaitForMultipleObjects` with
/// `bWaitAll=FALSE`) and takes it: an auto-reset event's signal, a semaphore's unit, a
/// mutex's lock (release it with `mutex.release()`); a receiver, subscriber or inbox is ready
/// when a message is there (or its peer is gone), a server when a request is. Returns `(index, abandoned)`: the lowest index
/// ready, and whether it is a mutex whose holder died. `TimedOutError` after `timeout`
/// seconds (`None`: for ever). A receiver in `objects` lets go of a message it holds from
/// `recv_message` (as its next receive would): copy out what must outlive the wait.
#[pyfunction]
#[pyo3(signature = (objects, timeout=None))]
pub(crate) fn wait_any<'py>(
    py: Python<'py>,
    objects: Vec<Bound<'py, PyAny>>,
    timeout: Option<f64>,
) -> PyResult<(usize, bool)> {
    wait_on(py, &objects, timeout, false, |list, slice| {
        sliced(filemap::wait_any(list, Some(slice)).map(|ready| {
            let abandoned = keep_locked(ready.taken);
            (ready.index, abandoned)
        }))
    })
}

/// Waits until every one of `objects` is ready at once and takes them all together
/// (`bWaitAll=TRUE`): never some of them while waiting for the others. Returns, for each,
/// whether it is a mutex whose holder died (on Windows every mutex of the set, when one's
/// was: its wait names only one). Mutexes taken stay locked until `mutex.release()`. A
/// receiver in `objects` lets go of a message it holds from `recv_message`.
#[pyfunction]
#[pyo3(signature = (objects, timeout=None))]
pub(crate) fn wait_all<'py>(
    py: Python<'py>,
    objects: Vec<Bound<'py, PyAny>>,
    timeout: Option<f64>,
) -> PyResult<Vec<bool>> {
    wait_on(py, &objects, timeout, true, |list, slice| {
        sliced(
            filemap::wait_all(list, Some(slice))
                .map(|taken| taken.into_iter().map(keep_locked).collect()),
        )
    })
}

/// A mutex taken by the wait stays locked for Python's `release()`; returns whether it
/// was abandoned.
fn keep_locked(taken: Taken<'_>) -> bool {
    match taken {
        Taken::Lock(guard) => guard.into_unguarded(),
        _ => false,
    }
}
