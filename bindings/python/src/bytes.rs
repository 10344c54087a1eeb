//! Borrowing the bytes of any object that exports the buffer protocol (`bytes`,
//! `bytearray`, `memoryview`, `array.array`, numpy arrays) for one call.

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyMemoryView};

use crate::errors::{Failed, invalid};

/// Calls `f` with `data`'s bytes: in place for `bytes` (immutable), otherwise a copy taken
/// with the GIL held (another thread may change a mutable buffer while `f` runs, and a
/// buffer over shared memory changes whenever another process writes it; the copy keeps
/// `f`'s slice stable). Non-contiguous buffers are refused.
pub(crate) fn with_bytes<R>(
    py: Python<'_>,
    data: &Bound<'_, PyAny>,
    f: impl FnOnce(&[u8]) -> PyResult<R>,
) -> PyResult<R> {
    if let Ok(bytes) = data.cast::<PyBytes>() {
        return f(bytes.as_bytes());
    }
    let type_name = || {
        data.get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default()
    };
    let view = PyMemoryView::from(data).map_err(|_| {
        PyTypeError::new_err(format!(
            "a bytes-like object is required, not '{}'",
            type_name()
        ))
    })?;
    // Empty, whatever its shape (a cast refuses an empty buffer of several dimensions).
    if view.getattr("nbytes")?.extract::<usize>()? == 0 {
        return f(&[]);
    }
    // As unsigned bytes whatever the item type (numpy arrays of floats, say).
    let bytes_view = view.call_method1("cast", ("B",)).map_err(|_| {
        // Only a buffer in C order can be taken byte by byte.
        invalid(
            py,
            format!(
                "the {} buffer is not C-contiguous (a Fortran-ordered or strided one): \
                     pass a C-ordered copy (numpy.ascontiguousarray(a), or a.tobytes())",
                type_name()
            ),
        )
    })?;
    let buffer = PyBuffer::<u8>::get(&bytes_view)?;
    // (Allocated fallibly: a buffer too large to copy is a MemoryError, not an abort.)
    let mut copy = Vec::new();
    copy.try_reserve_exact(buffer.len_bytes()).map_err(|_| {
        pyo3::exceptions::PyMemoryError::new_err(format!(
            "cannot copy a buffer of {} bytes",
            buffer.len_bytes()
        ))
    })?;
    copy.resize(buffer.len_bytes(), 0);
    buffer.copy_to_slice(py, &mut copy)?;
    // The object's buffer is let go before the call (which may wait): another thread may
    // resize a bytearray, close a view or release a message meanwhile.
    drop(buffer);
    bytes_view.call_method0("release")?;
    view.call_method0("release")?;
    f(&copy)
}

/// A Python `bytes` holding a copy of `data`: `MemoryError` if it cannot be had
/// (`PyBytes::new` panics then, which Python code cannot catch as an `Exception`).
pub(crate) fn bytes_of<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    joined_bytes(py, &[data])
}

/// A Python `bytes` holding `parts` one after another (a call's answer), as [`bytes_of`].
pub(crate) fn joined_bytes<'py, P: AsRef<[u8]> + Sync>(
    py: Python<'py>,
    parts: &[P],
) -> PyResult<Bound<'py, PyBytes>> {
    // (No overflow: the parts are all in memory.)
    let len = parts.iter().map(|p| p.as_ref().len()).sum();
    PyBytes::new_with(py, len, |buf| {
        crate::shutdown::copying(py, len, || {
            let mut rest = buf;
            for part in parts {
                let (here, after) = rest.split_at_mut(part.as_ref().len());
                here.copy_from_slice(part.as_ref());
                rest = after;
            }
        });
        Ok(())
    })
}

/// A new `bytes` of `len` filled by `read` (a message read out of shared memory, in an
/// endpoint's turn). A filemap error of `read`'s comes back as it is, for the caller to
/// make a Python exception once it has passed the turn on (making one runs Python code).
/// A long copy lets other threads run meanwhile (the `bytes` is nobody else's until made,
/// and the turn stays held: no other thread of this process uses the endpoint).
pub(crate) fn bytes_from<'py>(
    py: Python<'py>,
    len: usize,
    read: impl FnOnce(&mut [u8]) -> filemap::Result<()> + Send,
) -> Result<Bound<'py, PyBytes>, Failed> {
    let mut failed = None;
    let made = PyBytes::new_with(py, len, |buf| {
        crate::shutdown::copying(py, len, || read(buf)).map_err(|e| {
            failed = Some(e);
            // Only a stand-in (never raised): made lazily, it runs no Python code.
            pyo3::exceptions::PyException::new_err(())
        })
    });
    match (made, failed) {
        (_, Some(e)) => Err(Failed::Filemap(e)),
        (made, None) => made.map_err(Failed::Python),
    }
}
