//! `filemap.wait_any` and `filemap.wait_all`: Win32's `WaitForMultipleObjects` over events,
//! semaphores, mutexes, channel receivers and topic subscribers.

use filemap::wait::{Taken, Waitable};
use pyo3::prelude::*;

use crate::channel::Receiver;
use crate::errors::invalid;
use crate::parties::{Inbox, Server};
use crate::sync::{NamedEvent, NamedMutex, NamedSemaphore};
use crate::topic::Subscriber;
use crate::waiting::{sliced, timeout_arg, wait_released};

/// Python's borrows of the objects waited on, held for the whole wait.
enum Borrowed<'py> {
    Event(PyRef<'py, NamedEvent>),
    Semaphore(PyRef<'py, NamedSemaphore>),
    Mutex(PyRef<'py, NamedMutex>),
    Receiver(PyRefMut<'py, Receiver>),
    Subscriber(PyRefMut<'py, Subscriber>),
    Inbox(PyRefMut<'py, Inbox>),
    Server(PyRefMut<'py, Server>),
}

fn borrow_all<'py>(py: Python<'py>, objects: &[Bound<'py, PyAny>]) -> PyResult<Vec<Borrowed<'py>>> {
    if objects.is_empty() {
        return Err(invalid(py, "wait on an empty list of objects"));
    }
    // An object given twice: said as the library says it, before a second borrow of it
    // would fail with a RuntimeError.
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
                Ok(Borrowed::Event(e.borrow()))
            } else if let Ok(s) = o.cast::<NamedSemaphore>() {
                Ok(Borrowed::Semaphore(s.borrow()))
            } else if let Ok(m) = o.cast::<NamedMutex>() {
                Ok(Borrowed::Mutex(m.borrow()))
            } else if let Ok(r) = o.cast::<Receiver>() {
                Ok(Borrowed::Receiver(r.try_borrow_mut()?))
            } else if let Ok(s) = o.cast::<Subscriber>() {
                Ok(Borrowed::Subscriber(s.try_borrow_mut()?))
            } else if let Ok(i) = o.cast::<Inbox>() {
                Ok(Borrowed::Inbox(i.try_borrow_mut()?))
            } else if let Ok(s) = o.cast::<Server>() {
                Ok(Borrowed::Server(s.try_borrow_mut()?))
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

/// The filemap objects behind the borrows.
fn waitables<'a>(borrowed: &'a mut [Borrowed<'_>]) -> PyResult<Vec<&'a (dyn Waitable + Sync)>> {
    borrowed
        .iter_mut()
        .map(|b| -> PyResult<&'a (dyn Waitable + Sync)> {
            Ok(match b {
                Borrowed::Event(e) => &e.inner,
                Borrowed::Semaphore(s) => &s.inner,
                Borrowed::Mutex(m) => &m.inner,
                Borrowed::Receiver(r) => r.waitable()?,
                Borrowed::Subscriber(s) => s.waitable()?,
                Borrowed::Inbox(i) => &*i.get()?,
                Borrowed::Server(s) => &*s.get()?,
            })
        })
        .collect()
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
    let timeout = timeout_arg(py, timeout)?;
    let mut borrowed = borrow_all(py, &objects)?;
    let targets = waitables(&mut borrowed)?;
    let what = format!("any of {} objects", targets.len());
    wait_released(py, timeout, &what, |slice| {
        let list: Vec<&dyn Waitable> = targets.iter().map(|t| *t as &dyn Waitable).collect();
        sliced(filemap::wait_any(&list, Some(slice)).map(|ready| {
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
    let timeout = timeout_arg(py, timeout)?;
    let mut borrowed = borrow_all(py, &objects)?;
    let targets = waitables(&mut borrowed)?;
    let what = format!("all of {} objects", targets.len());
    wait_released(py, timeout, &what, |slice| {
        let list: Vec<&dyn Waitable> = targets.iter().map(|t| *t as &dyn Waitable).collect();
        sliced(
            filemap::wait_all(&list, Some(slice))
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
