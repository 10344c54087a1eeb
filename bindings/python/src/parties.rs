//! Many parties: `filemap.Inbox` and `filemap.InboxSender` (many senders, one receiver),
//! `filemap.Server` and `filemap.Client` (request and response, a server streaming one or
//! more responses to each request).

use std::thread::ThreadId;

use pyo3::exceptions::{PyMemoryError, PyRuntimeError};
use pyo3::prelude::*;

use crate::shutdown::detach;
use pyo3::types::PyBytes;

use crate::bytes::{joined_bytes, with_bytes};
use crate::endpoint::{Endpoint, Turn};
use crate::errors::{Failed, OrRaise, invalid, raise, to_py};
use crate::ints;
use crate::kept::{Keeping, bytes_or_copy, copy_out, lost};
use crate::turns::this_thread;
use crate::waiting::{Deadline, next_or_stop, released, sliced, timeout_arg};

/// The receiving end of an inbox: messages from up to `senders` `InboxSender`s, each
/// sender's in its order. `recv()` returns `(slot, message)`, the sender's slot and the
/// message as `bytes`.
#[pyclass(module = "filemap", frozen)]
pub struct Inbox {
    name: String,
    inner: Endpoint<KeptInbox>,
}

/// An inbox, and a message it keeps (its `bytes` could not be made) by its sender's slot.
pub(crate) type KeptInbox = Keeping<filemap::inbox::Inbox, u32>;

/// A server, and a request it keeps (its `bytes` could not be made) by its id.
pub(crate) type KeptServer = Keeping<filemap::service::Server, filemap::service::RequestId>;

impl Inbox {
    fn wrap(inner: filemap::inbox::Inbox) -> Inbox {
        Inbox {
            name: inner.name().to_string(),
            inner: Endpoint::new("the inbox", Keeping::new(inner)),
        }
    }

    /// The inbox's state, for a wait on many objects.
    pub(crate) fn endpoint(&self) -> &Endpoint<KeptInbox> {
        &self.inner
    }
}

fn inbox_options(senders: u32, capacity: u64) -> filemap::inbox::InboxOptions {
    filemap::inbox::InboxOptions::new()
        .senders(senders)
        .capacity(capacity)
}

#[pymethods]
impl Inbox {
    /// Creates the inbox (`senders` slots, a ring of `capacity` bytes each) or opens it, as
    /// its receiver.
    #[staticmethod]
    #[pyo3(signature = (name, *, senders=8, capacity=65536))]
    fn create_or_open(
        py: Python<'_>,
        name: &str,
        #[pyo3(from_py_with = ints::senders)] senders: u32,
        #[pyo3(from_py_with = ints::capacity)] capacity: u64,
    ) -> PyResult<Inbox> {
        let options = inbox_options(senders, capacity);
        detach(py, || filemap::inbox::Inbox::create_or_open(name, &options))
            .or_raise()
            .map(Inbox::wrap)
    }

    /// Opens an existing inbox as its receiver.
    #[staticmethod]
    fn open(py: Python<'_>, name: &str) -> PyResult<Inbox> {
        detach(py, || filemap::inbox::Inbox::open(name))
            .or_raise()
            .map(Inbox::wrap)
    }

    /// The next message from any sender, waiting up to `timeout` seconds (`None`: for
    /// ever): `(slot, message)`. `DisconnectedError` once every sender that came is gone
    /// and everything was received.
    #[pyo3(signature = (timeout=None))]
    fn recv<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<f64>,
    ) -> PyResult<(u32, Bound<'py, PyBytes>)> {
        let timeout = timeout_arg(py, timeout)?;
        let deadline = Deadline::after(timeout);
        self.inner
            .recv_keeping(py, deadline, &self.name, |inbox, slice| {
                let (slot, message) = inbox.recv_timeout(slice)?;
                Ok((slot, copy_out(message.len(), |b| message.read_at(0, b))?))
            })
    }

    /// The next message if one is there now, else `None`.
    fn try_recv<'py>(&self, py: Python<'py>) -> PyResult<Option<(u32, Bound<'py, PyBytes>)>> {
        self.inner.with(py, |inbox| {
            if let Some((slot, payload)) = inbox.take_kept() {
                return inbox.deliver(py, slot, payload).map(Some);
            }
            let Some((slot, message)) = inbox.try_recv()? else {
                return Ok(None);
            };
            let made = bytes_or_copy(py, message.len(), |b| message.read_at(0, b));
            drop(message);
            let bytes = made.map_err(|not_made| inbox.keep(slot, not_made))?;
            Ok(Some((slot, bytes)))
        })
    }

    /// How many senders are connected.
    #[getter]
    fn senders(&self, py: Python<'_>) -> PyResult<usize> {
        self.inner.with(py, |inbox| Ok(inbox.senders()))
    }

    /// The inbox's full name.
    #[getter]
    fn name(&self) -> String {
        self.name.clone()
    }

    /// Closes the receiving end.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.inner.close(py).map(drop)
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<(u32, Bound<'py, PyBytes>)> {
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
        format!("<filemap.Inbox {}>", crate::py_quoted(&self.name))
    }
}

/// One sender of an inbox, in a slot of its own (`slot`).
#[pyclass(module = "filemap", frozen)]
pub struct InboxSender {
    name: String,
    slot: u32,
    inner: Endpoint<filemap::inbox::InboxSender>,
}

impl InboxSender {
    fn wrap(inner: filemap::inbox::InboxSender) -> InboxSender {
        InboxSender {
            name: inner.name().to_string(),
            slot: inner.slot(),
            inner: Endpoint::new("the inbox sender", inner),
        }
    }
}

#[pymethods]
impl InboxSender {
    /// Takes a free sender slot of an existing inbox; `BusyError` if every slot has a live
    /// sender.
    #[staticmethod]
    fn open(py: Python<'_>, name: &str) -> PyResult<InboxSender> {
        detach(py, || filemap::inbox::InboxSender::open(name))
            .or_raise()
            .map(InboxSender::wrap)
    }

    /// Like `open`, creating the inbox with these options if it does not exist.
    #[staticmethod]
    #[pyo3(signature = (name, *, senders=8, capacity=65536))]
    fn create_or_open(
        py: Python<'_>,
        name: &str,
        #[pyo3(from_py_with = ints::senders)] senders: u32,
        #[pyo3(from_py_with = ints::capacity)] capacity: u64,
    ) -> PyResult<InboxSender> {
        let options = inbox_options(senders, capacity);
        detach(py, || {
            filemap::inbox::InboxSender::create_or_open(name, &options)
        })
        .or_raise()
        .map(InboxSender::wrap)
    }

    /// Sends `data` (bytes or any contiguous buffer), waiting up to `timeout` seconds for
    /// room (`None`: for ever).
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

    /// This sender's slot (what the inbox's `recv` says a message came from); `ValueError`
    /// once closed (the slot may be another sender's by then).
    #[getter]
    fn slot(&self) -> PyResult<u32> {
        self.inner.ensure_open()?;
        Ok(self.slot)
    }

    /// The inbox's full name.
    #[getter]
    fn name(&self) -> String {
        self.name.clone()
    }

    /// Leaves the inbox (the slot becomes free).
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
        format!(
            "<filemap.InboxSender {} slot={}>",
            crate::py_quoted(&self.name),
            self.slot
        )
    }
}

/// Which request a response answers: the client's slot and the client's number for it. A
/// value: compared, hashed, copied and pickled as its two numbers (a `RequestFailedError`
/// raised in a worker process reaches its parent whole).
#[pyclass(module = "filemap", frozen, eq, hash)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId {
    inner: filemap::service::RequestId,
}

#[pymethods]
impl RequestId {
    /// The id of request `number` of the client in slot `client` (as `client` and `number`
    /// give them back).
    #[new]
    fn new(
        #[pyo3(from_py_with = ints::client)] client: u32,
        #[pyo3(from_py_with = ints::number)] number: u64,
    ) -> RequestId {
        RequestId {
            inner: filemap::service::RequestId::from_parts(client, number),
        }
    }

    /// The slot of the client that sent the request.
    #[getter]
    fn client(&self) -> u32 {
        self.inner.client()
    }

    /// The client's number for the request.
    #[getter]
    fn number(&self) -> u64 {
        self.inner.number()
    }

    fn __getnewargs__(&self) -> (u32, u64) {
        (self.inner.client(), self.inner.number())
    }

    fn __repr__(&self) -> String {
        format!(
            "<filemap.RequestId client={} number={}>",
            self.inner.client(),
            self.inner.number()
        )
    }
}

fn service_options(clients: u32, capacity: u64) -> filemap::service::ServiceOptions {
    filemap::service::ServiceOptions::new()
        .clients(clients)
        .capacity(capacity)
}

/// The server of a service: receives requests from up to `clients` clients and answers
/// each with one or more responses.
#[pyclass(module = "filemap", frozen)]
pub struct Server {
    name: String,
    inner: Endpoint<KeptServer>,
}

impl Server {
    fn wrap(inner: filemap::service::Server) -> Server {
        Server {
            name: inner.name().to_string(),
            inner: Endpoint::new("the server", Keeping::new(inner)),
        }
    }

    /// The server's state, for a wait on many objects.
    pub(crate) fn endpoint(&self) -> &Endpoint<KeptServer> {
        &self.inner
    }
}

#[pymethods]
impl Server {
    /// Creates the service (`clients` slots, rings of `capacity` bytes) or opens it, as its
    /// server (taking over from a dead one).
    #[staticmethod]
    #[pyo3(signature = (name, *, clients=8, capacity=65536))]
    fn create_or_open(
        py: Python<'_>,
        name: &str,
        #[pyo3(from_py_with = ints::clients)] clients: u32,
        #[pyo3(from_py_with = ints::capacity)] capacity: u64,
    ) -> PyResult<Server> {
        let options = service_options(clients, capacity);
        detach(py, || {
            filemap::service::Server::create_or_open(name, &options)
        })
        .or_raise()
        .map(Server::wrap)
    }

    /// Opens an existing service as its server.
    #[staticmethod]
    fn open(py: Python<'_>, name: &str) -> PyResult<Server> {
        detach(py, || filemap::service::Server::open(name))
            .or_raise()
            .map(Server::wrap)
    }

    /// The next request, waiting up to `timeout` seconds (`None`: for ever):
    /// `(request_id, payload)`.
    #[pyo3(signature = (timeout=None))]
    fn recv_request<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<f64>,
    ) -> PyResult<(RequestId, Bound<'py, PyBytes>)> {
        let timeout = timeout_arg(py, timeout)?;
        let deadline = Deadline::after(timeout);
        let (id, bytes) = self
            .inner
            .recv_keeping(py, deadline, &self.name, |server, slice| {
                let request = server.recv_request_timeout(slice)?;
                let id = request.id();
                let copied = copy_out(request.len(), |b| request.read_at(0, b));
                drop(request);
                // A request this server cannot read (its ring damaged or cut short), or
                // has no memory for, is lost: its client is told, not left waiting.
                let lost = match &copied {
                    Ok(Some(_)) => None,
                    Ok(None) => Some("the server had no memory for the request".to_string()),
                    Err(e) => Some(format!("the server could not read the request: {e}")),
                };
                if let Some(reason) = lost {
                    let _ = server.respond_failure_timeout(
                        id,
                        reason.as_bytes(),
                        std::time::Duration::ZERO,
                    );
                }
                Ok((id, copied?))
            })?;
        Ok((RequestId { inner: id }, bytes))
    }

    /// Sends a response to `request`: the last one unless `last=False` (a stream of
    /// responses, ended by one with `last=True`). `failure=True` fails the request
    /// instead, `data` saying why: the client's `call` or `recv_response` raises
    /// `RequestFailedError` with it (a failure is always the last response). Waits while
    /// the client's response ring is full, up to `timeout` seconds (`None`: for ever), with
    /// the GIL released. A client that is gone does not get it.
    #[pyo3(signature = (request, data, *, last=true, failure=false, timeout=None))]
    fn respond(
        &self,
        py: Python<'_>,
        request: RequestId,
        data: &Bound<'_, PyAny>,
        last: bool,
        failure: bool,
        timeout: Option<f64>,
    ) -> PyResult<()> {
        if failure && !last {
            return Err(invalid(
                py,
                "a failure is the request's last response: last=False with failure=True",
            ));
        }
        let timeout = timeout_arg(py, timeout)?;
        let deadline = Deadline::after(timeout);
        let to = request.inner;
        with_bytes(py, data, |payload| {
            self.inner
                .wait(py, deadline, &self.name, |py, server, slice| {
                    Ok(released(py, || {
                        sliced(if failure {
                            server.respond_failure_timeout(to, payload, slice)
                        } else if last {
                            server.respond_timeout(to, payload, slice)
                        } else {
                            server.respond_part_timeout(to, payload, slice)
                        })
                    })?)
                })
                .map(drop)
        })
    }

    /// How many clients are connected.
    #[getter]
    fn clients(&self, py: Python<'_>) -> PyResult<usize> {
        self.inner.with(py, |server| Ok(server.clients()))
    }

    /// The service's full name.
    #[getter]
    fn name(&self) -> String {
        self.name.clone()
    }

    /// Stops serving: clients' pending requests fail with `DisconnectedError`.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.inner.close(py).map(drop)
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<(RequestId, Bound<'py, PyBytes>)> {
        next_or_stop(py, self.recv_request(py, None))
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
        format!("<filemap.Server {}>", crate::py_quoted(&self.name))
    }
}

/// A client of a service, in a slot of its own: sends requests and receives exactly its own
/// responses.
#[pyclass(module = "filemap", frozen)]
pub struct Client {
    name: String,
    inner: Endpoint<Calling>,
}

/// A client's state: the client, and the thread whose `call` is under way, if one is (the
/// responses that come are the call's: another thread's call waits for it to end, another
/// thread's request or receive is refused).
struct Calling {
    /// The client, and a response it keeps (its `bytes` could not be made) by its request
    /// and whether it was the last.
    client: Keeping<filemap::service::Client, (filemap::service::RequestId, bool)>,
    call: Option<ThreadId>,
}

impl Calling {
    /// `UnsupportedError` while another thread's call is under way (made a Python
    /// exception once the turn is passed on).
    fn refuse_during_others_call(&self) -> Result<(), Failed> {
        match self.call {
            Some(caller) if caller != this_thread() => {
                Err(Failed::Filemap(filemap::Error::Unsupported {
                    what: "a request or a receive of a client while another thread's call() \
                           waits for its responses (it would take them)",
                }))
            }
            _ => Ok(()),
        }
    }
}

/// Ends a client's call when dropped: its flag is cleared in a turn (on every way out of
/// `call`, a panic's too).
struct CallUnderWay<'a>(&'a Client);

impl Drop for CallUnderWay<'_> {
    fn drop(&mut self) {
        Python::attach(|py| {
            if let Ok(mut turn) = self.0.inner.turn_uninterruptible(py) {
                if let Some(state) = turn.state() {
                    state.call = None;
                }
            }
        });
    }
}

/// A failure response's reason, as copied out (`None`: there was no memory for a copy).
fn reason_of(payload: Option<&[u8]>) -> &[u8] {
    payload.unwrap_or(b"(not known: there was no memory for a copy of the reason)")
}

/// How often a call looks again while another thread's call is under way.
const CALL_POLL: std::time::Duration = std::time::Duration::from_millis(1);

impl Client {
    fn wrap(name: &str, inner: filemap::service::Client) -> Client {
        Client {
            // The name was valid (the client opened it): its full form.
            name: filemap::Name::new(name).map_or_else(|_| name.to_string(), |n| n.to_string()),
            inner: Endpoint::new(
                "the client",
                Calling {
                    client: Keeping::new(inner),
                    call: None,
                },
            ),
        }
    }

    /// The next response, waiting until `deadline`, in the turn it came in: `(turn,
    /// request, payload, last, failure)` (pass the turn on before making an exception).
    /// Not a call's (`call: None`): the one kept first. For a call (`call`: its request), a
    /// `Disconnected` that failed other requests in a takeover while the call's is still
    /// pending is waited past.
    #[allow(clippy::type_complexity)]
    fn next_response(
        &self,
        py: Python<'_>,
        deadline: Deadline,
        call: Option<filemap::service::RequestId>,
    ) -> PyResult<(Turn<'_, Calling>, RequestId, Option<Vec<u8>>, bool, bool)> {
        // (`None`: no memory for a copy of the payload.)
        let mut buf = None;
        let (turn, (id, last, failure)) =
            self.inner
                .wait(py, deadline, &self.name, |py, state, slice| {
                    state.refuse_during_others_call()?;
                    if call.is_none() {
                        if let Some(((id, last), payload)) = state.client.take_kept() {
                            buf = payload;
                            return Ok(Some((id, last, false)));
                        }
                    }
                    let client = &mut state.client;
                    let buf = &mut buf;
                    Ok(released(py, || {
                        let failed = match client.recv_response_timeout(slice) {
                            Ok(response) => {
                                *buf = copy_out(response.len(), |b| response.read_at(0, b))?;
                                let flags = (response.is_last(), response.is_failure());
                                return Ok(Some((response.request(), flags.0, flags.1)));
                            }
                            Err(e) => e,
                        };
                        match failed {
                            filemap::Error::Disconnected { .. }
                                if call.is_some_and(|c| client.is_pending(c)) =>
                            {
                                Ok(None)
                            }
                            e => sliced(Err(e)),
                        }
                    })?)
                })?;
        Ok((turn, RequestId { inner: id }, buf, last, failure))
    }

    /// The rest of `call`, once it is this thread's: sends `data` and gathers its
    /// responses' payloads, by `deadline` (joined by the caller: no buffer grows here, so
    /// no memory is asked for that a failure to get would end the process).
    fn call_now(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        deadline: Deadline,
        timeout: Option<std::time::Duration>,
    ) -> PyResult<Vec<Vec<u8>>> {
        let asked = self.send_within(py, data, deadline)?;
        let mut answer: Vec<Vec<u8>> = Vec::new();
        let mut answered = || loop {
            let (turn, id, payload, last, failure) =
                self.next_response(py, deadline, Some(asked.inner))?;
            drop(turn);
            if id != asked {
                continue; // a response given up on before, not this call's
            }
            if failure {
                return Err(self.failed(py, id, reason_of(payload.as_deref())));
            }
            let Some(payload) = payload else {
                return Err(lost().raise());
            };
            if answer.try_reserve(1).is_err() {
                return Err(PyMemoryError::new_err(
                    "no memory to keep the parts of the answer: the call gave its request up",
                ));
            }
            answer.push(payload);
            if last {
                return Ok(());
            }
        };
        if let Err(e) = answered() {
            // Given up (a timeout, say): its late responses are dropped, and the next call
            // may go.
            // Whatever signal comes meanwhile: a request left pending would refuse every
            // later call.
            let mut turn = self.inner.turn_uninterruptible(py)?;
            if let Some(state) = turn.state() {
                state.client.give_up(asked.inner);
            }
            drop(turn);
            // A timeout is said with the call's whole timeout, not the last wait's rest.
            let timed_out = e.get_type(py).name().is_ok_and(|n| n == "TimedOutError");
            if let (true, Some(t)) = (timed_out, timeout) {
                return Err(raise(
                    py,
                    "TimedOutError",
                    format!(
                        "timed out after {} waiting for {}",
                        filemap::HumanDuration(t),
                        self.name
                    ),
                ));
            }
            return Err(e);
        }
        Ok(answer)
    }

    /// The `RequestFailedError` of a failure response to `request`, whose payload is
    /// `reason`; its `request` attribute says which request failed.
    fn failed(&self, py: Python<'_>, request: RequestId, reason: &[u8]) -> PyErr {
        let error = to_py(filemap::Error::RequestFailed {
            service: self.name.clone(),
            reason: String::from_utf8_lossy(reason).into_owned(),
        });
        if let Err(e) = error.value(py).setattr("request", request) {
            return e;
        }
        error
    }

    /// Sends a request, waiting until `deadline` for room, in slices with the GIL released.
    fn send_within(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        deadline: Deadline,
    ) -> PyResult<RequestId> {
        with_bytes(py, data, |payload| {
            let (_turn, id) = self
                .inner
                .wait(py, deadline, &self.name, |py, state, slice| {
                    state.refuse_during_others_call()?;
                    let client = &mut state.client;
                    Ok(released(py, || {
                        sliced(client.send_request_timeout(payload, slice))
                    })?)
                })?;
            Ok(RequestId { inner: id })
        })
    }
}

#[pymethods]
impl Client {
    /// Takes a free client slot of an existing service; `BusyError` if all are taken.
    #[staticmethod]
    fn open(py: Python<'_>, name: &str) -> PyResult<Client> {
        detach(py, || filemap::service::Client::open(name))
            .or_raise()
            .map(|c| Client::wrap(name, c))
    }

    /// Like `open`, creating the service with these options if it does not exist.
    #[staticmethod]
    #[pyo3(signature = (name, *, clients=8, capacity=65536))]
    fn create_or_open(
        py: Python<'_>,
        name: &str,
        #[pyo3(from_py_with = ints::clients)] clients: u32,
        #[pyo3(from_py_with = ints::capacity)] capacity: u64,
    ) -> PyResult<Client> {
        let options = service_options(clients, capacity);
        detach(py, || {
            filemap::service::Client::create_or_open(name, &options)
        })
        .or_raise()
        .map(|c| Client::wrap(name, c))
    }

    /// Sends a request, waiting up to `timeout` seconds (`None`: for ever) while the
    /// request ring is full; its id.
    #[pyo3(signature = (data, timeout=None))]
    fn send_request(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<RequestId> {
        let timeout = timeout_arg(py, timeout)?;
        self.send_within(py, data, Deadline::after(timeout))
    }

    /// The next response to one of this client's requests, waiting up to `timeout` seconds
    /// (`None`: for ever): `(request_id, payload, last)`. `RequestFailedError` if the server
    /// failed the request (its `request` attribute says which, `reason` why: that request
    /// is no longer pending). `DisconnectedError` if the server
    /// is gone: every pending request has failed; or if a server died holding some of them
    /// and a new one took over: those have failed, the others stay pending (`is_pending`).
    /// With no request pending it waits too (unlike Rust's and C's receive without a
    /// timeout, which refuse it): another thread may send one meanwhile.
    #[pyo3(signature = (timeout=None))]
    fn recv_response<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<f64>,
    ) -> PyResult<(RequestId, Bound<'py, PyBytes>, bool)> {
        let timeout = timeout_arg(py, timeout)?;
        let (mut turn, id, payload, last, failure) =
            self.next_response(py, Deadline::after(timeout), None)?;
        if failure {
            drop(turn);
            return Err(self.failed(py, id, reason_of(payload.as_deref())));
        }
        let delivered = turn.open()?.client.deliver(py, (id.inner, last), payload);
        drop(turn);
        let ((id, last), bytes) = delivered.map_err(Failed::raise)?;
        Ok((RequestId { inner: id }, bytes, last))
    }

    /// Sends a request and returns all of its responses joined, waiting up to `timeout`
    /// seconds in all (`None`: for ever). Only with no other request pending (their
    /// responses would be lost): `UnsupportedError` otherwise. A call that fails after
    /// sending gives its request up (its late responses are dropped). While another
    /// thread's call is under way this one waits for it to end; while a call is under way,
    /// another thread's `send_request` or `recv_response` raises `UnsupportedError`.
    #[pyo3(signature = (data, timeout=None))]
    fn call<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let timeout = timeout_arg(py, timeout)?;
        let deadline = Deadline::after(timeout);
        let me = this_thread();
        // Another thread's call under way: this one waits for it to end.
        self.inner
            .wait(py, deadline, &self.name, |py, state, slice| {
                match state.call {
                    Some(caller) if caller == me => {
                        return Err(PyRuntimeError::new_err(
                            "call() from inside a call() of the same client on this thread \
                             (a signal handler, say), which would wait for itself",
                        )
                        .into());
                    }
                    Some(_) => {
                        detach(py, || std::thread::sleep(slice.min(CALL_POLL)));
                        return Ok(None);
                    }
                    None => {}
                }
                state.client.ensure_nothing_pending()?;
                state.call = Some(me);
                Ok(Some(()))
            })?;
        // The call is over when this goes, whatever became of it (a panic too).
        let _under_way = CallUnderWay(self);
        self.call_now(py, data, deadline, timeout)
            .and_then(|parts| joined_bytes(py, &parts))
    }

    /// How many requests wait for their last response (one whose last response a receive
    /// kept, having no memory for its bytes, included).
    #[getter]
    fn pending(&self, py: Python<'_>) -> PyResult<usize> {
        self.inner.with(py, |state| {
            let kept_last = matches!(state.client.kept_meta(), Some((_, true)));
            Ok(state.client.pending() + usize::from(kept_last))
        })
    }

    /// Whether request `id` waits for its last response (not received in full, not
    /// failed).
    fn is_pending(&self, py: Python<'_>, id: &RequestId) -> PyResult<bool> {
        self.inner.with(py, |state| {
            let kept_last = state.client.kept_meta() == Some(&(id.inner, true));
            Ok(state.client.is_pending(id.inner) || kept_last)
        })
    }

    /// Whether a server is connected and alive now: after `DisconnectedError`, tells a
    /// server that is gone from one that took over.
    #[getter]
    fn server_alive(&self, py: Python<'_>) -> PyResult<bool> {
        self.inner.with(py, |state| Ok(state.client.server_alive()))
    }

    /// The service's full name.
    #[getter]
    fn name(&self) -> String {
        self.name.clone()
    }

    /// Leaves the service (pending responses are dropped).
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
        format!("<filemap.Client {}>", crate::py_quoted(&self.name))
    }
}
