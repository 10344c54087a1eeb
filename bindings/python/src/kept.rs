//! A received message whose `bytes` could not be made (no memory for them): kept, with
//! what came with it (a sequence number, a sender's slot, a request id), for the endpoint's
//! next receive, which delivers it before anything newer. The message was taken out of
//! shared memory already, so without this a `MemoryError` lost it. (The channel's receiver
//! keeps such a message in its ring instead: `channel.rs`.)
//!
//! A copy is kept only if memory for one can be had (it is asked for without failing):
//! when even that fails, the message is lost, and the receive says so.

use std::ops::{Deref, DerefMut};

use pyo3::exceptions::{PyMemoryError, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::bytes::{bytes_from, bytes_of};
use crate::endpoint::Endpoint;
use crate::errors::Failed;
use crate::waiting::{Deadline, released, sliced};

/// An endpoint's state with the message it keeps, if any: `inner`'s methods are its own.
pub(crate) struct Keeping<T, M> {
    inner: T,
    kept: Option<(M, Vec<u8>)>,
}

impl<T, M> Keeping<T, M> {
    pub(crate) fn new(inner: T) -> Keeping<T, M> {
        Keeping { inner, kept: None }
    }

    /// The message kept, if any, taken: deliver it (which keeps it again if it fails).
    pub(crate) fn take_kept(&mut self) -> Option<(M, Option<Vec<u8>>)> {
        self.kept
            .take()
            .map(|(meta, payload)| (meta, Some(payload)))
    }

    /// What came with the message kept, if one is.
    pub(crate) fn kept_meta(&self) -> Option<&M> {
        self.kept.as_ref().map(|(meta, _)| meta)
    }

    /// The `bytes` of `payload`, received with `meta`; if they cannot be made, the message
    /// is kept for the next receive and the `MemoryError` returned (`None`: no copy could
    /// be made, the message is lost: a `MemoryError` that says so).
    pub(crate) fn deliver<'py>(
        &mut self,
        py: Python<'py>,
        meta: M,
        payload: Option<Vec<u8>>,
    ) -> Result<(M, Bound<'py, PyBytes>), Failed> {
        let Some(payload) = payload else {
            return Err(lost());
        };
        match bytes_of(py, &payload) {
            Ok(bytes) => Ok((meta, bytes)),
            Err(no_memory) => {
                self.kept = Some((meta, payload));
                Err(Failed::Python(no_memory))
            }
        }
    }

    /// Keeps what [`bytes_or_copy`] copied when the `bytes` could not be made, and says
    /// so: the `MemoryError`, or one saying the message was lost if not even a copy could
    /// be had.
    pub(crate) fn keep(&mut self, meta: M, not_made: NotMade) -> Failed {
        match not_made {
            NotMade::Kept(no_memory, copy) => {
                self.kept = Some((meta, copy));
                Failed::Python(no_memory)
            }
            NotMade::Lost => lost(),
            NotMade::Failed(failed) => failed,
        }
    }

    /// Refuses a wait on many objects while a message is kept (the wait would sleep past
    /// a message there to receive). `what` names the endpoint.
    pub(crate) fn check_waitable(&self, what: &str) -> PyResult<()> {
        if self.kept.is_some() {
            return Err(PyRuntimeError::new_err(format!(
                "{what} holds a message a receive could not deliver (no memory for its \
                 bytes): receive it before waiting on {what}"
            )));
        }
        Ok(())
    }
}

impl<T: Send, M: Send> Endpoint<Keeping<T, M>> {
    /// A receive that waits until `deadline` in slices: the message kept first, else what
    /// `recv` receives within a slice (with the GIL released) and copies out (with
    /// [`copy_out`]); its `bytes` made in the turn it came in (or the message kept again).
    /// `what` names the endpoint in a timeout.
    pub(crate) fn recv_keeping<'py>(
        &self,
        py: Python<'py>,
        deadline: Deadline,
        what: &str,
        recv: impl Fn(&mut T, std::time::Duration) -> filemap::Result<(M, Option<Vec<u8>>)> + Sync,
    ) -> PyResult<(M, Bound<'py, PyBytes>)> {
        let (mut turn, (meta, payload)) = self.wait(py, deadline, what, |py, state, slice| {
            // One another thread's receive kept meanwhile comes first.
            if let Some(kept) = state.take_kept() {
                return Ok(Some(kept));
            }
            let inner = &mut state.inner;
            Ok(released(py, || sliced(recv(inner, slice)))?)
        })?;
        let delivered = turn.open()?.deliver(py, meta, payload);
        drop(turn);
        delivered.map_err(Failed::raise)
    }
}

impl<T, M> Deref for Keeping<T, M> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T, M> DerefMut for Keeping<T, M> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

/// The `MemoryError` of a message lost: no memory for its bytes, nor for a copy.
pub(crate) fn lost() -> Failed {
    Failed::Python(PyMemoryError::new_err(
        "no memory for the message's bytes, nor for a copy to keep: it was lost",
    ))
}

/// A copy of a message of `len` bytes that `read` copies out (in a wait's slice, while it
/// is lent), or `None` if no memory for one can be had: asked for without failing, where
/// a plain allocation would end the process.
pub(crate) fn copy_out(
    len: usize,
    read: impl FnOnce(&mut [u8]) -> filemap::Result<()>,
) -> filemap::Result<Option<Vec<u8>>> {
    let mut copy = Vec::new();
    if copy.try_reserve_exact(len).is_err() {
        return Ok(None);
    }
    copy.resize(len, 0);
    read(&mut copy)?;
    Ok(Some(copy))
}

/// Why [`bytes_or_copy`] made no `bytes`.
pub(crate) enum NotMade {
    /// No memory for them: the error, and a copy of the message to keep.
    Kept(PyErr, Vec<u8>),
    /// No memory for them, nor for a copy.
    Lost,
    /// Reading the message failed (it cannot be delivered at all).
    Failed(Failed),
}

/// The `bytes` of a message of `len` bytes that `read` copies out (in the endpoint's
/// turn, while it is still lent); if there is no memory for them, a copy to keep.
pub(crate) fn bytes_or_copy<'py>(
    py: Python<'py>,
    len: usize,
    mut read: impl FnMut(&mut [u8]) -> filemap::Result<()> + Send,
) -> Result<Bound<'py, PyBytes>, NotMade> {
    match bytes_from(py, len, &mut read) {
        Ok(bytes) => Ok(bytes),
        Err(Failed::Python(no_memory)) => match copy_out(len, read) {
            Ok(Some(copy)) => Err(NotMade::Kept(no_memory, copy)),
            Ok(None) => Err(NotMade::Lost),
            Err(e) => Err(NotMade::Failed(Failed::Filemap(e))),
        },
        Err(failed) => Err(NotMade::Failed(failed)),
    }
}
