//! `filemap.Sender` and `filemap.Receiver`: the zero-copy channel between two processes,
//! and `filemap.Message`, a received message read in place through the buffer protocol.

use std::ffi::c_int;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use filemap::channel::HoldingReceiver;
use pyo3::exceptions::PyBufferError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::bytes::with_bytes;
use crate::errors::{closed, OrRaise};
use crate::exclusive::{open_mut, Exclusive};
use crate::waiting::{next_or_stop, sliced, timeout_arg, wait_released};

/// The sending end of a channel: messages of any length up to `max_message_len`, each
/// received once, in order, by the one `Receiver`. A channel joins one sender and one
/// receiver at a time; either may be opened first.
#[pyclass(module = "filemap")]
pub struct Sender {
    name: String,
    inner: Option<Exclusive<filemap::channel::Sender>>,
}

impl Sender {
    fn get(&mut self) -> PyResult<&mut filemap::channel::Sender> {
        open_mut(&mut self.inner, "the sender")
    }
}

#[pymethods]
impl Sender {
    /// Creates the channel with `capacity` bytes of ring, or opens it, as its sender.
    /// `BusyError` if a live sender has it.
    #[staticmethod]
    fn create_or_open(py: Python<'_>, name: &str, capacity: u64) -> PyResult<Sender> {
        let inner = py
            .detach(|| filemap::channel::Sender::create_or_open(name, capacity))
            .or_raise()?;
        Ok(Sender {
            name: inner.name().to_string(),
            inner: Some(Exclusive::new(inner)),
        })
    }

    /// Opens an existing channel as its sender.
    #[staticmethod]
    fn open(py: Python<'_>, name: &str) -> PyResult<Sender> {
        let inner = py
            .detach(|| filemap::channel::Sender::open(name))
            .or_raise()?;
        Ok(Sender {
            name: inner.name().to_string(),
            inner: Some(Exclusive::new(inner)),
        })
    }

    /// Sends `data` (bytes or any contiguous buffer), waiting up to `timeout` seconds for
    /// room (`None`: for ever). `DisconnectedError` if the receiver is gone;
    /// `InvalidArgumentError` if the message can never fit.
    #[pyo3(signature = (data, timeout=None))]
    fn send(
        &mut self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<()> {
        let timeout = timeout_arg(py, timeout)?;
        let name = self.name.clone();
        let tx = self.get()?;
        with_bytes(py, data, |message| {
            if tx.try_send(message).or_raise()? {
                return Ok(());
            }
            wait_released(py, timeout, &name, |slice| {
                sliced(tx.send_timeout(message, slice))
            })
        })
    }

    /// Sends `data` if there is room now; returns whether it was sent.
    fn try_send(&mut self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<bool> {
        let tx = self.get()?;
        with_bytes(py, data, |message| tx.try_send(message).or_raise())
    }

    /// The channel's full name.
    #[getter]
    fn name(&self) -> String {
        self.name.clone()
    }

    /// The ring's size in bytes.
    #[getter]
    fn capacity(&mut self) -> PyResult<u64> {
        Ok(self.get()?.capacity())
    }

    /// The longest message the channel carries.
    #[getter]
    fn max_message_len(&mut self) -> PyResult<usize> {
        Ok(self.get()?.max_message_len())
    }

    /// Closes the sender: the receiver gets what was sent, then `DisconnectedError`.
    fn close(&mut self) {
        self.inner = None;
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
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
        format!("<filemap.Sender {:?}>", self.name)
    }
}

/// The receiving end of a channel. `recv()` returns each message as `bytes`;
/// `recv_message()` lends it in place (zero-copy) as a context manager; iterating yields
/// messages until the sender is gone.
#[pyclass(module = "filemap")]
pub struct Receiver {
    name: String,
    inner: Option<Exclusive<HoldingReceiver>>,
    /// Counts the messages held, so a `Message` releases only its own.
    generation: u64,
    /// Buffers exported from the held message's `Message` and not yet released. While
    /// there are any, the message is not released (no receive, `close` or
    /// `Message.release`), so its bytes stay mapped and untouched by the sender.
    exports: Arc<AtomicUsize>,
}

impl Receiver {
    fn wrap(inner: filemap::channel::Receiver) -> Receiver {
        Receiver {
            name: inner.name().to_string(),
            inner: Some(Exclusive::new(HoldingReceiver::new(inner))),
            generation: 0,
            exports: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn get(&mut self) -> PyResult<&mut HoldingReceiver> {
        open_mut(&mut self.inner, "the receiver")
    }

    /// The receiver, for a wait on many objects (releases any held message).
    pub(crate) fn waitable(&mut self) -> PyResult<&filemap::channel::Receiver> {
        self.release_held()?;
        Ok(self.get()?.receiver())
    }

    /// Releases the held message, if any: `BufferError` while buffers of it are alive.
    fn release_held(&mut self) -> PyResult<()> {
        refuse_exported(&self.exports)?;
        self.generation += 1;
        if let Some(rx) = self.inner.as_mut() {
            rx.get_mut().release();
        }
        Ok(())
    }

    /// Releases any held message, then holds the next one, waiting up to `timeout`.
    fn hold_next(&mut self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        let timeout = timeout_arg(py, timeout)?;
        self.release_held()?;
        let name = self.name.clone();
        let rx = self.get()?;
        if rx.try_hold().or_raise()?.is_none() {
            wait_released(py, timeout, &name, |slice| {
                sliced(rx.hold(Some(slice)).map(|_| ()))
            })?;
        }
        Ok(())
    }
}

#[pymethods]
impl Receiver {
    /// Creates the channel with `capacity` bytes of ring, or opens it, as its receiver.
    #[staticmethod]
    fn create_or_open(py: Python<'_>, name: &str, capacity: u64) -> PyResult<Receiver> {
        py.detach(|| filemap::channel::Receiver::create_or_open(name, capacity))
            .or_raise()
            .map(Receiver::wrap)
    }

    /// Opens an existing channel as its receiver.
    #[staticmethod]
    fn open(py: Python<'_>, name: &str) -> PyResult<Receiver> {
        py.detach(|| filemap::channel::Receiver::open(name))
            .or_raise()
            .map(Receiver::wrap)
    }

    /// The next message as `bytes`, waiting up to `timeout` seconds (`None`: for ever).
    /// `DisconnectedError` once the sender is gone and everything it sent was received.
    #[pyo3(signature = (timeout=None))]
    fn recv<'py>(
        &mut self,
        py: Python<'py>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        self.hold_next(py, timeout)?;
        self.generation += 1;
        let rx = self.get()?;
        let slot = rx.held().expect("hold_next holds a message");
        let message = PyBytes::new_with(py, slot.len(), |buf| slot.read_at(0, buf).or_raise());
        rx.release();
        message
    }

    /// The next message if one is there now, else `None`.
    fn try_recv<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        self.release_held()?;
        let rx = self.get()?;
        let Some(slot) = rx.try_hold().or_raise()? else {
            return Ok(None);
        };
        let message = PyBytes::new_with(py, slot.len(), |buf| slot.read_at(0, buf).or_raise());
        rx.release();
        message.map(Some)
    }

    /// The next message, in place: a `Message` to use in a `with` block
    /// (`memoryview(msg)`, `numpy.frombuffer(msg, dtype)`); its space goes back to the
    /// sender when the block ends (or at `release()`, or at the next receive). Copy out
    /// what must outlive the block: while a memoryview or array of the message is alive,
    /// releasing it (and so receiving again or closing) raises `BufferError`.
    #[pyo3(signature = (timeout=None))]
    fn recv_message(slf: Bound<'_, Self>, timeout: Option<f64>) -> PyResult<Message> {
        let py = slf.py();
        // Another thread may be in a call of this receiver (with the GIL released): a
        // RuntimeError then, as for its other methods.
        let mut this = slf.try_borrow_mut()?;
        this.hold_next(py, timeout)?;
        let generation = this.generation;
        let exports = this.exports.clone();
        let slot = this.get()?.held().expect("hold_next holds a message");
        let (address, len) = (slot.as_ptr() as usize, slot.len());
        drop(this);
        Ok(Message {
            receiver: slf.unbind(),
            released: false,
            generation,
            address,
            len,
            exports,
        })
    }

    /// The channel's full name.
    #[getter]
    fn name(&self) -> String {
        self.name.clone()
    }

    /// Closes the receiver; `BufferError` while buffers of its held message are alive.
    fn close(&mut self) -> PyResult<()> {
        self.release_held()?;
        self.inner = None;
        Ok(())
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        next_or_stop(py, self.recv(py, None))
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
        self.close()
    }

    fn __repr__(&self) -> String {
        format!("<filemap.Receiver {:?}>", self.name)
    }
}

fn refuse_exported(exports: &AtomicUsize) -> PyResult<()> {
    match exports.load(Ordering::Relaxed) {
        0 => Ok(()),
        n => Err(PyBufferError::new_err(format!(
            "{n} buffer(s) of the message received last are alive (memoryviews, arrays): \
release them, or copy what you keep, before receiving again or closing"
        ))),
    }
}

/// A received message lent in place: a read-only buffer (`memoryview(msg)`,
/// `numpy.frombuffer(msg, dtype)`, `bytes(msg)`). Its space goes back to the sender when
/// its `with` block ends or at `release()`.
#[pyclass(module = "filemap")]
pub struct Message {
    /// The receiver, kept for the message's whole life: its ring holds the bytes.
    receiver: Py<Receiver>,
    released: bool,
    generation: u64,
    address: usize,
    len: usize,
    exports: Arc<AtomicUsize>,
}

#[pymethods]
impl Message {
    /// Gives the message's space back to the sender (once; later calls do nothing);
    /// `BufferError` while buffers of it (memoryviews, arrays) are alive.
    fn release(&mut self, py: Python<'_>) -> PyResult<()> {
        if self.released {
            return Ok(());
        }
        let mut rx = self.receiver.try_borrow_mut(py)?;
        if rx.generation == self.generation {
            rx.release_held()?;
        }
        self.released = true;
        Ok(())
    }

    /// A copy of the message.
    fn tobytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let mut rx = self.receiver.try_borrow_mut(py)?;
        if self.released || rx.generation != self.generation {
            return Err(closed("the message"));
        }
        let slot = rx.get()?.held().ok_or_else(|| closed("the message"))?;
        PyBytes::new_with(py, slot.len(), |buf| slot.read_at(0, buf).or_raise())
    }

    fn __len__(&self) -> usize {
        self.len
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(
        &mut self,
        py: Python<'_>,
        _t: Option<Bound<'_, PyAny>>,
        _v: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        self.release(py)
    }

    fn __repr__(&self) -> String {
        format!(
            "<filemap.Message len={} released={}>",
            self.len, self.released
        )
    }

    /// The buffer protocol: the message's bytes in the ring, read-only.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        let this = slf.try_borrow()?;
        let rx = this.receiver.try_borrow(slf.py())?;
        let current = !this.released && rx.generation == this.generation && rx.inner.is_some();
        drop(rx);
        if !current {
            return Err(PyBufferError::new_err(
                "the message was released: its bytes belong to the sender again",
            ));
        }
        // SAFETY: `view` is the Py_buffer CPython passes to bf_getbuffer. `address..+len`
        // is the message the receiver holds now (checked above: not released, the
        // receiver's current generation, the receiver open), in its ring. It stays mapped
        // and held while this buffer lives: the buffer holds `slf` (`obj`), `slf` holds the
        // receiver, and every way of releasing the message or closing the receiver refuses
        // while `exports` is nonzero. The buffer is read-only (PyBuffer_FillInfo refuses
        // PyBUF_WRITABLE).
        let status = unsafe {
            ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                this.address as *mut std::ffi::c_void,
                this.len as ffi::Py_ssize_t,
                1,
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
