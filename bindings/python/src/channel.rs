//! `filemap.Sender` and `filemap.Receiver`: the zero-copy channel between two processes,
//! and `filemap.Message`, a received message read in place through the buffer protocol.

use std::ffi::c_int;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::ThreadId;
use std::time::Duration;

use filemap::channel::HoldingReceiver;
use pyo3::exceptions::{PyBufferError, PyRuntimeError};
use pyo3::ffi;
use pyo3::prelude::*;

use crate::shutdown::detach;
use pyo3::types::PyBytes;

use crate::bytes::{bytes_from, with_bytes};
use crate::endpoint::{Endpoint, Turn};
use crate::errors::{Failed, OrRaise, closed, to_py};
use crate::ints;
use crate::turns::this_thread;
use crate::waiting::{Deadline, next_or_stop, released, sliced, timeout_arg};

/// How often a receive looks again while another thread's `recv_message` holds a message.
const HELD_ELSEWHERE_POLL: Duration = Duration::from_millis(1);

/// The sending end of a channel: messages of any length up to `max_message_len`, each
/// received once, in order, by the one `Receiver`. A channel joins one sender and one
/// receiver at a time; either may be opened first.
#[pyclass(module = "filemap", frozen)]
pub struct Sender {
    name: String,
    capacity: u64,
    max_message_len: usize,
    inner: Endpoint<filemap::channel::Sender>,
}

impl Sender {
    fn wrap(inner: filemap::channel::Sender) -> Sender {
        Sender {
            name: inner.name().to_string(),
            capacity: inner.capacity(),
            max_message_len: inner.max_message_len(),
            inner: Endpoint::new("the sender", inner),
        }
    }
}

#[pymethods]
impl Sender {
    /// Creates the channel with `capacity` bytes of ring, or opens it, as its sender.
    /// `BusyError` if a live sender has it.
    #[staticmethod]
    fn create_or_open(
        py: Python<'_>,
        name: &str,
        #[pyo3(from_py_with = ints::capacity)] capacity: u64,
    ) -> PyResult<Sender> {
        detach(py, || {
            filemap::channel::Sender::create_or_open(name, capacity)
        })
        .or_raise()
        .map(Sender::wrap)
    }

    /// Opens an existing channel as its sender.
    #[staticmethod]
    fn open(py: Python<'_>, name: &str) -> PyResult<Sender> {
        detach(py, || filemap::channel::Sender::open(name))
            .or_raise()
            .map(Sender::wrap)
    }

    /// Sends `data` (bytes or any contiguous buffer), waiting up to `timeout` seconds for
    /// room (`None`: for ever). `DisconnectedError` if the receiver is gone while it waits
    /// for room (a message that fits is written, as for a receiver that has yet to read);
    /// `InvalidArgumentError` if the message can never fit.
    #[pyo3(signature = (data, timeout=None))]
    fn send(&self, py: Python<'_>, data: &Bound<'_, PyAny>, timeout: Option<f64>) -> PyResult<()> {
        self.inner.send(
            py,
            data,
            timeout,
            &self.name,
            |tx, message| tx.try_send(message),
            |tx, message, slice| tx.send_timeout(message, slice),
        )
    }

    /// Sends `data` if there is room now; returns whether it was sent.
    fn try_send(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<bool> {
        with_bytes(py, data, |message| {
            // (A long copy lets other threads run, as `send`'s does.)
            self.inner.with(py, |tx| {
                Ok(crate::shutdown::copying(py, message.len(), || {
                    tx.try_send(message)
                })?)
            })
        })
    }

    /// The channel's full name.
    #[getter]
    fn name(&self) -> String {
        self.name.clone()
    }

    /// The ring's size in bytes.
    #[getter]
    fn capacity(&self) -> PyResult<u64> {
        self.inner.ensure_open()?;
        Ok(self.capacity)
    }

    /// The longest message the channel carries.
    #[getter]
    fn max_message_len(&self) -> PyResult<usize> {
        self.inner.ensure_open()?;
        Ok(self.max_message_len)
    }

    /// Closes the sender: the receiver gets what was sent, then `DisconnectedError`. A call
    /// of another thread waiting in it raises `ValueError` at its next slice.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.inner.close(py).map(drop)
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyResult<PyRef<'_, Self>> {
        // (A closed one is refused, as a closed file is.)
        slf.inner.ensure_open()?;
        Ok(slf)
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        t: Option<Bound<'_, PyAny>>,
        _v: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let closing = self.close(py);
        crate::errors::exit_result(py, t.is_some(), closing)
    }

    fn __repr__(&self) -> String {
        format!("<filemap.Sender {}>", crate::py_quoted(&self.name))
    }
}

/// The receiving end of a channel. `recv()` returns each message as `bytes`;
/// `recv_message()` lends it in place (zero-copy) as a context manager; iterating yields
/// messages until the sender is gone.
#[pyclass(module = "filemap", frozen)]
pub struct Receiver {
    name: String,
    inner: Endpoint<Receiving>,
    /// Buffers exported from the held message's `Message` and not yet released. While
    /// there are any, the message is not released (no receive, `close` or
    /// `Message.release`), so its bytes stay mapped and untouched by the sender. Raised and
    /// compared in a turn of the receiver only (lowered anywhere).
    exports: Arc<AtomicUsize>,
    /// One more than the generation of a held message whose `Message` was dropped
    /// unreleased (0: none): the next turn that finds it held releases it. (A drop takes no
    /// turn: it may come inside another endpoint's turn, or at exit.)
    abandoned: AtomicU64,
}

/// A receiver's state: the receiver and which message it holds.
pub(crate) struct Receiving {
    rx: HoldingReceiver,
    /// Counts the messages held, so a `Message` releases only its own.
    generation: u64,
    /// The thread whose `recv_message` holds the message held, if one does: only that
    /// thread's next receive lets go of it (another thread's waits until it is released).
    held_by: Option<ThreadId>,
    /// Whether the held message was received but not delivered: making its `bytes` failed
    /// (no memory). The next receive delivers it instead of letting go of it.
    undelivered: bool,
}

impl Receiving {
    /// Releases the held message, if any: `BufferError` while buffers of it are alive.
    fn release_held(&mut self, exports: &AtomicUsize) -> PyResult<()> {
        refuse_exported(exports)?;
        self.generation += 1;
        self.held_by = None;
        self.undelivered = false;
        self.rx.release();
        Ok(())
    }

    /// After a copy of the held message into `bytes`: lets go of it, unless the copy failed
    /// for want of memory, when the next receive delivers it again (a failure of the
    /// message itself, its memory lost, lets go of it: it would fail again).
    fn settle<T>(&mut self, copied: &Result<T, Failed>) {
        if matches!(copied, Err(Failed::Python(_))) {
            self.undelivered = true;
        } else {
            self.rx.release();
        }
    }

    /// Whether the held message is another thread's (from its `recv_message`, not yet
    /// released): this thread may not let go of it. One whose `Message` was dropped
    /// (`abandoned`) is released first.
    fn held_by_another(&mut self, abandoned: &AtomicU64, exports: &AtomicUsize) -> PyResult<bool> {
        if self.held_by.is_some()
            && abandoned
                .compare_exchange(self.generation + 1, 0, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            self.release_held(exports)?;
        }
        Ok(self.held_by.is_some_and(|t| t != this_thread()))
    }

    /// The receiver, for a wait on many objects (releases a message this thread holds).
    pub(crate) fn waitable(
        &mut self,
        abandoned: &AtomicU64,
        exports: &AtomicUsize,
    ) -> PyResult<&filemap::channel::Receiver> {
        self.check_waitable(abandoned, exports)?;
        self.release_held(exports)?;
        Ok(self.rx.receiver())
    }

    /// Whether [`waitable`](Receiving::waitable) would refuse, letting go of nothing (but
    /// a message whose `Message` was dropped): a wait checks every receiver first, so that
    /// one refused leaves the messages of the others alone.
    pub(crate) fn check_waitable(
        &mut self,
        abandoned: &AtomicU64,
        exports: &AtomicUsize,
    ) -> PyResult<()> {
        if self.held_by_another(abandoned, exports)? {
            return Err(PyRuntimeError::new_err(
                "the receiver holds a message another thread received with recv_message: \
                 release it before waiting on the receiver",
            ));
        }
        if self.undelivered {
            // (Released, it would be lost.)
            return Err(PyRuntimeError::new_err(
                "the receiver holds a message a receive could not deliver (no memory for its \
                 bytes): receive it before waiting on the receiver",
            ));
        }
        refuse_exported(exports)
    }
}

impl Receiver {
    fn wrap(inner: filemap::channel::Receiver) -> Receiver {
        let name = inner.name().to_string();
        let state = Receiving {
            rx: HoldingReceiver::new(inner),
            generation: 0,
            held_by: None,
            undelivered: false,
        };
        Receiver {
            name,
            inner: Endpoint::new("the receiver", state),
            exports: Arc::new(AtomicUsize::new(0)),
            abandoned: AtomicU64::new(0),
        }
    }

    /// The receiver's state, its abandoned mark and its exports count, for a wait on many
    /// objects.
    pub(crate) fn parts(&self) -> (&Endpoint<Receiving>, &AtomicU64, &AtomicUsize) {
        (&self.inner, &self.abandoned, &self.exports)
    }

    /// Releases any held message of this thread's, then holds the next one, waiting up to
    /// `timeout` (and while another thread's `recv_message` holds one): the turn it is held
    /// in.
    fn hold_next(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Turn<'_, Receiving>> {
        let timeout = timeout_arg(py, timeout)?;
        let deadline = Deadline::after(timeout);
        let (abandoned, exports) = (&self.abandoned, &*self.exports);
        let mut turn = self.inner.turn_within(py, deadline, &self.name)?;
        let state = turn.open()?;
        if std::mem::take(&mut state.undelivered) {
            return Ok(turn);
        }
        if !state.held_by_another(abandoned, exports)? {
            state.release_held(exports)?;
            match state.rx.try_hold().map(|slot| slot.is_some()) {
                Ok(true) => return Ok(turn),
                Ok(false) => {}
                Err(e) => {
                    // Made a Python exception once the turn is passed on.
                    drop(turn);
                    return Err(to_py(e));
                }
            }
        }
        drop(turn);
        self.inner
            .wait(py, deadline, &self.name, |py, state, slice| {
                // A message another thread's receive could not deliver meanwhile (no memory
                // for its bytes) is this receive's: letting go of it would lose it.
                if std::mem::take(&mut state.undelivered) {
                    return Ok(Some(()));
                }
                if state.held_by_another(abandoned, exports)? {
                    // Until that thread releases it (looked at again every millisecond).
                    detach(py, || std::thread::sleep(slice.min(HELD_ELSEWHERE_POLL)));
                    return Ok(None);
                }
                state.release_held(exports)?;
                let rx = &mut state.rx;
                Ok(released(py, || sliced(rx.hold(Some(slice)).map(drop)))?)
            })
            .map(|(turn, ())| turn)
    }
}

#[pymethods]
impl Receiver {
    /// Creates the channel with `capacity` bytes of ring, or opens it, as its receiver.
    #[staticmethod]
    fn create_or_open(
        py: Python<'_>,
        name: &str,
        #[pyo3(from_py_with = ints::capacity)] capacity: u64,
    ) -> PyResult<Receiver> {
        detach(py, || {
            filemap::channel::Receiver::create_or_open(name, capacity)
        })
        .or_raise()
        .map(Receiver::wrap)
    }

    /// Opens an existing channel as its receiver.
    #[staticmethod]
    fn open(py: Python<'_>, name: &str) -> PyResult<Receiver> {
        detach(py, || filemap::channel::Receiver::open(name))
            .or_raise()
            .map(Receiver::wrap)
    }

    /// The next message as `bytes`, waiting up to `timeout` seconds (`None`: for ever).
    /// `DisconnectedError` once the sender is gone and everything it sent was received: a
    /// wait learns of it at once, a try (`timeout=0`, `try_recv`) within 50 ms (the
    /// liveness interval), saying `TimedOutError` (or `None`) until then.
    #[pyo3(signature = (timeout=None))]
    fn recv<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyBytes>> {
        let mut turn = self.hold_next(py, timeout)?;
        let state = turn.open()?;
        state.generation += 1;
        let slot = state.rx.held().ok_or_else(|| closed("the message"))?;
        let message = bytes_from(py, slot.len(), |buf| slot.read_at(0, buf));
        state.settle(&message);
        drop(turn);
        message.map_err(Failed::raise)
    }

    /// The next message if one is there now, else `None`.
    fn try_recv<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let mut turn = self.inner.turn(py)?;
        let state = turn.open()?;
        if state.held_by_another(&self.abandoned, &self.exports)? {
            // The next message comes after the one another thread holds.
            return Ok(None);
        }
        let slot = if std::mem::take(&mut state.undelivered) {
            state.rx.held().ok_or_else(|| closed("the message"))?
        } else {
            state.release_held(&self.exports)?;
            match state.rx.try_hold() {
                Ok(Some(slot)) => slot,
                Ok(None) => return Ok(None),
                Err(e) => {
                    drop(turn);
                    return Err(to_py(e));
                }
            }
        };
        let message = bytes_from(py, slot.len(), |buf| slot.read_at(0, buf));
        state.settle(&message);
        drop(turn);
        message.map(Some).map_err(Failed::raise)
    }

    /// The next message, in place: a `Message` to use in a `with` block
    /// (`memoryview(msg)`, `numpy.frombuffer(msg, dtype)`); its space goes back to the
    /// sender when the block ends (or at `release()`, or at the next receive). Copy out
    /// what must outlive the block: while a memoryview or array of the message is alive,
    /// releasing it (and so receiving again or closing) raises `BufferError`. Not so an
    /// array made by `numpy.ndarray(shape, dtype, buffer=msg)` or a tensor made by
    /// `torch.frombuffer(msg, ...)`, which let go of the buffer at once: it reads what the
    /// sender writes there next, and after the receiver's `close` unmapped memory (the
    /// process crashes); use `numpy.frombuffer`.
    /// The message is this thread's: another thread's receive waits until it is released or dropped.
    #[pyo3(signature = (timeout=None))]
    fn recv_message(slf: Bound<'_, Self>, timeout: Option<f64>) -> PyResult<Message> {
        let py = slf.py();
        let this = slf.get();
        let mut turn = this.hold_next(py, timeout)?;
        let state = turn.open()?;
        state.held_by = Some(this_thread());
        let generation = state.generation;
        let slot = state.rx.held().ok_or_else(|| closed("the message"))?;
        let (address, len) = (slot.as_ptr() as usize, slot.len());
        drop(turn);
        Ok(Message {
            receiver: slf.clone().unbind(),
            released: AtomicBool::new(false),
            generation,
            address,
            len,
            exports: this.exports.clone(),
        })
    }

    /// The channel's full name.
    #[getter]
    fn name(&self) -> String {
        self.name.clone()
    }

    /// Closes the receiver; `BufferError` while buffers of its held message are alive. A
    /// call of another thread waiting in it raises `ValueError` at its next slice.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        if self.inner.inherited() {
            // A buffer of a message received before the fork (a memoryview, a numpy array)
            // points into the ring, which dropping the copy would unmap: refused as at
            // home.
            refuse_exported(&self.exports)?;
            self.inner.forget_if_inherited();
            return Ok(());
        }
        let mut turn = self.inner.turn_uninterruptible(py)?;
        if let Some(state) = turn.state() {
            state.release_held(&self.exports)?;
        }
        self.inner.mark_closed();
        let closed = turn.state().take();
        drop(turn);
        drop(closed);
        Ok(())
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        next_or_stop(py, self.recv(py, None))
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyResult<PyRef<'_, Self>> {
        // (A closed one is refused, as a closed file is.)
        slf.inner.ensure_open()?;
        Ok(slf)
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        t: Option<Bound<'_, PyAny>>,
        _v: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let closing = self.close(py);
        crate::errors::exit_result(py, t.is_some(), closing)
    }

    fn __repr__(&self) -> String {
        format!("<filemap.Receiver {}>", crate::py_quoted(&self.name))
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
/// its `with` block ends or at `release()` (a `with` block that ends with an exception
/// while buffers of the message are alive raises that exception, and the message stays
/// held, as `release()` would have left it).
#[pyclass(module = "filemap", frozen)]
pub struct Message {
    /// The receiver, kept for the message's whole life: its ring holds the bytes.
    receiver: Py<Receiver>,
    /// Set (in a turn of the receiver) once `release` ran.
    released: AtomicBool,
    generation: u64,
    address: usize,
    len: usize,
    exports: Arc<AtomicUsize>,
}

impl Message {
    /// Whether this is the message the receiver (`state`, in a turn) holds now.
    fn is_held(&self, state: &Option<Receiving>) -> bool {
        !self.released.load(Ordering::Relaxed)
            && state
                .as_ref()
                .is_some_and(|s| s.generation == self.generation)
    }
}

#[pymethods]
impl Message {
    /// Gives the message's space back to the sender (once; later calls do nothing);
    /// `BufferError` while buffers of it (memoryviews, arrays) are alive.
    fn release(&self, py: Python<'_>) -> PyResult<()> {
        let receiver = self.receiver.get();
        // Whatever signal comes meanwhile (it is `__exit__` too): a message left held
        // would hold up the other threads' receives.
        let mut turn = receiver.inner.turn_uninterruptible(py)?;
        if self.is_held(turn.state()) {
            if let Some(state) = turn.state() {
                state.release_held(&self.exports)?;
            }
        }
        self.released.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// A copy of the message.
    fn tobytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let receiver = self.receiver.get();
        let mut turn = receiver.inner.turn(py)?;
        if !self.is_held(turn.state()) {
            return Err(closed("the message"));
        }
        let state = turn.open()?;
        let slot = state.rx.held().ok_or_else(|| closed("the message"))?;
        let copy = bytes_from(py, slot.len(), |buf| slot.read_at(0, buf));
        drop(turn);
        copy.map_err(Failed::raise)
    }

    fn __len__(&self) -> usize {
        self.len
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        t: Option<Bound<'_, PyAny>>,
        _v: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let releasing = self.release(py);
        crate::errors::exit_result(py, t.is_some(), releasing)
    }

    fn __repr__(&self) -> String {
        format!(
            "<filemap.Message len={} released={}>",
            self.len,
            self.released.load(Ordering::Relaxed)
        )
    }

    /// The buffer protocol: the message's bytes in the ring, read-only.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        let this = slf.get();
        let receiver = this.receiver.get();
        // In a turn of the receiver: no release of the message can come between this
        // check and the count of exports going up.
        let mut turn = receiver.inner.turn(slf.py())?;
        if !this.is_held(turn.state()) {
            return Err(PyBufferError::new_err(
                "the message was released: its bytes belong to the sender again",
            ));
        }
        this.exports.fetch_add(1, Ordering::Relaxed);
        drop(turn);
        // SAFETY: `view` is the Py_buffer CPython passes to bf_getbuffer. `address..+len`
        // is the message the receiver holds now (checked above, in a turn: not released,
        // the receiver's current generation, the receiver open), in its ring. It stays
        // mapped and held while this buffer lives: the buffer holds `slf` (`obj`), `slf`
        // holds the receiver, and every way of releasing the message or closing the
        // receiver refuses, in a turn, while `exports` is nonzero (raised above before the
        // turn ended). The buffer is read-only (PyBuffer_FillInfo refuses PyBUF_WRITABLE).
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
            this.exports.fetch_sub(1, Ordering::Relaxed);
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }

    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {
        self.exports.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Drop for Message {
    /// A message dropped unreleased is marked so (no buffer of it is alive: each holds the
    /// message), and the receiver's next turn that finds it held releases it: another
    /// thread's receive does not wait for it for ever. No turn is taken here: a drop may
    /// come inside another endpoint's turn (a collection), or at exit.
    fn drop(&mut self) {
        if !self.released.load(Ordering::Relaxed) {
            let receiver = self.receiver.get();
            // The latest generation wins (generations only grow): a message let go before
            // whose Message goes later must not hide a later one's mark.
            receiver
                .abandoned
                .fetch_max(self.generation + 1, Ordering::AcqRel);
        }
    }
}
