//! `filemap.Mapping` (a named, unnamed or file-backed mapping object) and `filemap.View`
//! (a view of it that exports the buffer protocol, so `memoryview(view)` and
//! `numpy.frombuffer(view, dtype)` read and write the shared memory in place).

use std::ffi::c_int;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use filemap::{Access, Disposition, Protection};
use pyo3::exceptions::PyBufferError;
use pyo3::ffi;
use pyo3::prelude::*;

use crate::shutdown::detach;
use pyo3::types::PyBytes;

use crate::errors::{OrRaise, closed, invalid};
use crate::ints;

/// A mapping object (Win32's file-mapping object): named memory that any process opens by
/// name, an unnamed one, or a file's contents. It goes away when the last handle in any
/// process closes, even if processes are killed.
#[pyclass(module = "filemap")]
pub struct Mapping {
    inner: Option<filemap::Mapping>,
}

fn access_arg(py: Python<'_>, access: &str) -> PyResult<Access> {
    match access {
        "read" => Ok(Access::Read),
        "write" => Ok(Access::Write),
        "copy" => Ok(Access::Copy),
        other => Err(invalid(
            py,
            format!(
                "access must be 'read', 'write' or 'copy', not {}",
                crate::py_quoted(other)
            ),
        )),
    }
}

fn options(persistent: bool, permissions: Option<u32>) -> filemap::CreateOptions {
    let mut o = filemap::Mapping::options().persistent(persistent);
    if let Some(mode) = permissions {
        o = o.permissions(mode);
    }
    o
}

impl Mapping {
    fn get(&self) -> PyResult<&filemap::Mapping> {
        self.inner.as_ref().ok_or_else(|| closed("the mapping"))
    }

    fn wrap(inner: filemap::Mapping) -> Mapping {
        Mapping { inner: Some(inner) }
    }
}

#[pymethods]
impl Mapping {
    /// Creates a named object of `size` bytes, zero-filled; `AlreadyExistsError` (a
    /// `FileExistsError`) if the name is taken. `persistent=True` keeps it after its last
    /// handle closes; `permissions` are Unix-style mode bits (default 0o600).
    #[staticmethod]
    #[pyo3(signature = (name, size, *, persistent=false, permissions=None))]
    fn create_new(
        py: Python<'_>,
        name: &str,
        #[pyo3(from_py_with = ints::size)] size: u64,
        persistent: bool,
        #[pyo3(from_py_with = ints::permissions_or_none)] permissions: Option<u32>,
    ) -> PyResult<Mapping> {
        let o = options(persistent, permissions).size(size);
        detach(py, || o.create_new(name))
            .or_raise()
            .map(Mapping::wrap)
    }

    /// Creates the named object or opens the existing one (which keeps its own size).
    /// Returns `(mapping, created)`.
    #[staticmethod]
    #[pyo3(signature = (name, size, *, persistent=false, permissions=None))]
    fn create_or_open(
        py: Python<'_>,
        name: &str,
        #[pyo3(from_py_with = ints::size)] size: u64,
        persistent: bool,
        #[pyo3(from_py_with = ints::permissions_or_none)] permissions: Option<u32>,
    ) -> PyResult<(Mapping, bool)> {
        let o = options(persistent, permissions).size(size);
        let (m, d) = detach(py, || o.create_or_open(name)).or_raise()?;
        Ok((Mapping::wrap(m), d == Disposition::Created))
    }

    /// Opens an existing named object; `access` is the most its views may do: `"write"`
    /// (the default), `"read"` or `"copy"`. `NotFoundError` (a `FileNotFoundError`) if no
    /// object has that name.
    #[staticmethod]
    #[pyo3(signature = (name, *, access="write"))]
    fn open(py: Python<'_>, name: &str, access: &str) -> PyResult<Mapping> {
        let access = access_arg(py, access)?;
        detach(py, || filemap::Mapping::open_with(name, access))
            .or_raise()
            .map(Mapping::wrap)
    }

    /// Maps a file (Win32's `CreateFile` + `CreateFileMapping`): `size` grows the file to
    /// that many bytes (default: the file's size); `name` also publishes it under a name;
    /// `readonly=True` opens the file read-only.
    #[staticmethod]
    #[pyo3(signature = (path, *, size=None, name=None, readonly=false))]
    fn from_path(
        py: Python<'_>,
        path: PathBuf,
        #[pyo3(from_py_with = ints::size_or_none)] size: Option<u64>,
        name: Option<String>,
        readonly: bool,
    ) -> PyResult<Mapping> {
        let mut o = filemap::Mapping::from_path(path);
        if let Some(size) = size {
            o = o.size(size);
        }
        if let Some(name) = name {
            o = o.name(name);
        }
        if readonly {
            o = o.protection(Protection::ReadOnly);
        }
        detach(py, || o.create()).or_raise().map(Mapping::wrap)
    }

    /// An unnamed object of `size` bytes, private to this process (and to processes it is
    /// handed to).
    #[staticmethod]
    fn unnamed(py: Python<'_>, #[pyo3(from_py_with = ints::size)] size: u64) -> PyResult<Mapping> {
        detach(py, || filemap::Mapping::unnamed(size))
            .or_raise()
            .map(Mapping::wrap)
    }

    /// Removes a name now (Linux; holders keep their object).
    #[staticmethod]
    fn remove(py: Python<'_>, name: &str) -> PyResult<()> {
        detach(py, || filemap::Mapping::remove(name)).or_raise()
    }

    /// Maps a view: `length` bytes at `offset` (any offset; default, or 0: to the end), with
    /// `access` `"read"`, `"write"` or `"copy"` (default: the most the mapping allows).
    #[pyo3(signature = (offset=0, length=None, *, access=None))]
    fn view(
        slf: &Bound<'_, Self>,
        #[pyo3(from_py_with = ints::offset)] offset: u64,
        #[pyo3(from_py_with = ints::length_or_none)] length: Option<u64>,
        access: Option<&str>,
    ) -> PyResult<View> {
        let py = slf.py();
        // A handle of its own, so that the mapping is not borrowed while the view is mapped
        // without the GIL: another thread's close() meanwhile just closes it.
        let m = slf.borrow().get()?.clone();
        let mut b = m.view().offset(offset);
        if let Some(len) = length {
            b = b.len(len);
        }
        if let Some(access) = access {
            b = b.access(access_arg(py, access)?);
        }
        let view = detach(py, || b.map()).or_raise()?;
        Ok(View {
            inner: Some(view),
            exports: AtomicUsize::new(0),
        })
    }

    /// The object's name (`Local\...` or `Global\...`), or `None` if unnamed.
    #[getter]
    fn name(&self) -> PyResult<Option<String>> {
        Ok(self.get()?.name().map(|n| n.to_string()))
    }

    /// The object's size in bytes.
    #[getter]
    fn size(&self) -> PyResult<u64> {
        Ok(self.get()?.len())
    }

    /// The backing file's path, for a file-backed object.
    #[getter]
    fn path(&self) -> PyResult<Option<PathBuf>> {
        Ok(self.get()?.path().map(|p| p.to_path_buf()))
    }

    /// Whether the object lives on after its last handle closes.
    #[getter]
    fn persistent(&self) -> PyResult<bool> {
        Ok(self.get()?.is_persistent())
    }

    /// The process id of the object's creator.
    #[getter]
    fn creator_pid(&self) -> PyResult<u32> {
        Ok(self.get()?.creator_pid())
    }

    /// Closes this handle (views stay valid); the object goes away with its last handle.
    fn close(&mut self) {
        self.inner = None;
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_none()
    }

    fn __len__(&self) -> PyResult<usize> {
        Ok(self.get()?.len() as usize)
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyResult<PyRef<'_, Self>> {
        // (A closed one is refused, as a closed file is.)
        slf.get()?;
        Ok(slf)
    }

    fn __exit__(
        &mut self,
        _t: Option<Bound<'_, PyAny>>,
        _v: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) {
        self.close();
    }

    fn __repr__(&self) -> String {
        match &self.inner {
            None => "<filemap.Mapping closed>".into(),
            Some(m) => match m.name() {
                Some(n) => format!(
                    "<filemap.Mapping {} size={}>",
                    crate::py_quoted(&n.to_string()),
                    m.len()
                ),
                None => format!("<filemap.Mapping unnamed size={}>", m.len()),
            },
        }
    }
}

/// A view of a mapping: the shared bytes, usable in place through the buffer protocol
/// (`memoryview(view)`, `numpy.frombuffer(view, dtype)`), or copied with `read` and
/// `write`. A view stays valid after its mapping is closed; it is unmapped by `close()`,
/// which refuses while buffers exported from it are alive (like `mmap.mmap`; a `with`
/// block that ends with an exception raises that exception, and the view is unmapped
/// when it is collected, after those buffers). Not so an array that lets go of the buffer
/// at once and keeps only the view object (`numpy.ndarray(shape, dtype, buffer=view)`,
/// `torch.frombuffer(view, ...)`): after `close()` (and on Windows after `commit()`, which
/// maps a copy-on-write view's pages again elsewhere) it points into unmapped memory, and
/// touching it crashes the process, as with `mmap.mmap`; use `numpy.frombuffer`, or
/// close the view only once such arrays are gone. Bytes used
/// in place are plain memory: if another process truncates the view's file, touching them
/// ends this process (SIGBUS on Linux, as with `mmap.mmap`); `read` and `write` raise
/// `PageFaultError` instead.
#[pyclass(module = "filemap")]
pub struct View {
    inner: Option<filemap::View>,
    /// Buffers exported and not yet released.
    exports: AtomicUsize,
}

impl View {
    fn get(&self) -> PyResult<&filemap::View> {
        self.inner.as_ref().ok_or_else(|| closed("the view"))
    }
}

#[pymethods]
impl View {
    /// Copies `length` bytes at `offset` (default: to the end) out of the view: sound
    /// whatever other processes write meanwhile.
    #[pyo3(signature = (offset=0, length=None))]
    fn read<'py>(
        &self,
        py: Python<'py>,
        #[pyo3(from_py_with = ints::index_offset)] offset: usize,
        #[pyo3(from_py_with = ints::index_length_or_none)] length: Option<usize>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let v = self.get()?;
        let len = match length {
            Some(len) => len,
            None => v.len().checked_sub(offset).ok_or_else(|| {
                invalid(
                    py,
                    format!("offset {offset} is past the view's end ({})", v.len()),
                )
            })?,
        };
        // Checked before the bytes are made: a length far past the view is an error, not an
        // allocation of that many bytes first.
        if offset.checked_add(len).is_none_or(|end| end > v.len()) {
            return Err(invalid(
                py,
                format!(
                    "reading {len} bytes at offset {offset} goes past the view's end ({})",
                    v.len()
                ),
            ));
        }
        // A long copy (it may read pages in from disk) lets other threads run; the bytes
        // object is not seen by anyone until it is made.
        PyBytes::new_with(py, len, |buf| {
            crate::shutdown::copying(py, len, || v.read_at(offset, buf)).or_raise()
        })
    }

    /// Copies `data` (bytes or any C-contiguous buffer) into the view at `offset`.
    fn write(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = ints::index_offset)] offset: usize,
        data: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let v = self.get()?;
        crate::bytes::with_bytes(py, data, |bytes| {
            // `bytes` is immutable or a copy of this call's own: other threads may run.
            crate::shutdown::copying(py, bytes.len(), || v.write_at(offset, bytes)).or_raise()
        })
    }

    /// Flushes the view to its file and the file to its device (durable on return).
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let v = self.get()?;
        detach(py, || v.flush()).or_raise()
    }

    /// For a copy-on-write view: the offsets of the pages written since it was mapped.
    fn modified_pages(&self, py: Python<'_>) -> PyResult<Vec<u64>> {
        let v = self.get()?;
        detach(py, || v.modified_pages()).or_raise()
    }

    /// For a copy-on-write view: copies the changed pages back into the object; returns how
    /// many. It takes the view for itself while it runs (it maps the pages again: on Windows
    /// at another address, so an array that kept only the view object, as
    /// `numpy.ndarray(shape, dtype, buffer=view)` does, is left over unmapped memory; one
    /// from `numpy.frombuffer` keeps a buffer, and the commit refuses with `BufferError`):
    /// a call on the view from another thread meanwhile raises `RuntimeError` (already
    /// borrowed), as a commit does while another thread's read, write or flush of 64 KiB or
    /// more runs.
    fn commit(&mut self, py: Python<'_>) -> PyResult<usize> {
        self.refuse_exported()?;
        let v = self.inner.as_mut().ok_or_else(|| closed("the view"))?;
        detach(py, || v.commit()).or_raise()
    }

    /// The view's offset in its object.
    #[getter]
    fn offset(&self) -> PyResult<u64> {
        Ok(self.get()?.offset())
    }

    /// The view's length in bytes.
    #[getter]
    fn size(&self) -> PyResult<usize> {
        Ok(self.get()?.len())
    }

    /// `"read"`, `"write"` or `"copy"`.
    #[getter]
    fn access(&self) -> PyResult<&'static str> {
        Ok(self.get()?.access().as_str())
    }

    /// Whether the view is read-only.
    #[getter]
    fn readonly(&self) -> PyResult<bool> {
        Ok(self.get()?.access() == Access::Read)
    }

    /// Unmaps the view; `BufferError` while buffers exported from it are alive.
    fn close(&mut self) -> PyResult<()> {
        self.refuse_exported()?;
        self.inner = None;
        Ok(())
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_none()
    }

    fn __len__(&self) -> PyResult<usize> {
        Ok(self.get()?.len())
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyResult<PyRef<'_, Self>> {
        // (A closed one is refused, as a closed file is.)
        slf.get()?;
        Ok(slf)
    }

    fn __exit__(
        &mut self,
        py: Python<'_>,
        t: Option<Bound<'_, PyAny>>,
        _v: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let closing = self.close();
        crate::errors::exit_result(py, t.is_some(), closing)
    }

    fn __repr__(&self) -> String {
        match &self.inner {
            None => "<filemap.View closed>".into(),
            Some(v) => format!(
                "<filemap.View offset={} size={} access={}>",
                v.offset(),
                v.len(),
                v.access()
            ),
        }
    }

    /// The buffer protocol: the view's bytes in place, read-only for a read view.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        // A thread in `commit` (GIL released) holds the view: a RuntimeError, not a panic.
        let this = slf.try_borrow()?;
        let v = this.get()?;
        let readonly = v.access() == Access::Read;
        // SAFETY: `view` is the Py_buffer CPython passes to bf_getbuffer. The memory is the
        // view's mapping, `len` bytes long, which stays mapped while the buffer lives: the
        // buffer holds a reference to `slf` (`obj`, set by PyBuffer_FillInfo), and `close`
        // refuses while `exports` is nonzero. Writes through it are allowed only for a
        // writable view (PyBuffer_FillInfo raises BufferError for PyBUF_WRITABLE on a
        // read-only one).
        let status = unsafe {
            ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                v.as_mut_ptr().cast(),
                v.len() as ffi::Py_ssize_t,
                c_int::from(readonly),
                flags,
            )
        };
        if status == -1 {
            return Err(PyErr::fetch(slf.py()));
        }
        this.exports.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {
        self.exports.fetch_sub(1, Ordering::Relaxed);
    }
}

impl View {
    fn refuse_exported(&self) -> PyResult<()> {
        match self.exports.load(Ordering::Relaxed) {
            0 => Ok(()),
            n => Err(PyBufferError::new_err(format!(
                "cannot close or commit a view while {n} buffer(s) exported from it are alive (release the memoryviews and arrays first)"
            ))),
        }
    }
}
