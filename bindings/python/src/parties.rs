//! Many parties: `filemap.Inbox` and `filemap.InboxSender` (many senders, one receiver),
//! `filemap.Server` and `filemap.Client` (request and response, a server streaming one or
//! more responses to each request).

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::bytes::with_bytes;
use crate::errors::{invalid, raise, to_py, OrRaise};
use crate::exclusive::{open_mut, Exclusive};
use crate::waiting::{next_or_stop, sliced, timeout_arg, wait_released};

/// The receiving end of an inbox: messages from up to `senders` `InboxSender`s, each
/// sender's in its order. `recv()` returns `(slot, message)`, the sender's slot and the
/// message as `bytes`.
#[pyclass(module = "filemap")]
pub struct Inbox {
    name: String,
    inner: Option<Exclusive<filemap::inbox::Inbox>>,
}

impl Inbox {
    fn wrap(inner: filemap::inbox::Inbox) -> Inbox {
        Inbox {
            name: inner.name().to_string(),
            inner: Some(Exclusive::new(inner)),
        }
    }

    pub(crate) fn get(&mut self) -> PyResult<&mut filemap::inbox::Inbox> {
        open_mut(&mut self.inner, "the inbox")
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
    #[pyo3(signature = (name, *, senders=8, capacity=64 << 10))]
    fn create_or_open(py: Python<'_>, name: &str, senders: u32, capacity: u64) -> PyResult<Inbox> {
        let options = inbox_options(senders, capacity);
        py.detach(|| filemap::inbox::Inbox::create_or_open(name, &options))
            .or_raise()
            .map(Inbox::wrap)
    }

    /// Opens an existing inbox as its receiver.
    #[staticmethod]
    fn open(py: Python<'_>, name: &str) -> PyResult<Inbox> {
        py.detach(|| filemap::inbox::Inbox::open(name))
            .or_raise()
            .map(Inbox::wrap)
    }

    /// The next message from any sender, waiting up to `timeout` seconds (`None`: for
    /// ever): `(slot, message)`. `DisconnectedError` once every sender that came is gone
    /// and everything was received.
    #[pyo3(signature = (timeout=None))]
    fn recv<'py>(
        &mut self,
        py: Python<'py>,
        timeout: Option<f64>,
    ) -> PyResult<(u32, Bound<'py, PyBytes>)> {
        let timeout = timeout_arg(py, timeout)?;
        let name = self.name.clone();
        let inbox = self.get()?;
        let mut buf = Vec::new();
        let slot = wait_released(py, timeout, &name, |slice| {
            sliced(inbox.recv_timeout(slice).and_then(|(slot, message)| {
                message.append_to(&mut buf)?;
                Ok(slot)
            }))
        })?;
        Ok((slot, PyBytes::new(py, &buf)))
    }

    /// The next message if one is there now, else `None`.
    fn try_recv<'py>(&mut self, py: Python<'py>) -> PyResult<Option<(u32, Bound<'py, PyBytes>)>> {
        let inbox = self.get()?;
        match inbox.try_recv().or_raise()? {
            Some((slot, message)) => {
                let bytes =
                    PyBytes::new_with(py, message.len(), |b| message.read_at(0, b).or_raise())?;
                Ok(Some((slot, bytes)))
            }
            None => Ok(None),
        }
    }

    /// How many senders are connected.
    #[getter]
    fn senders(&mut self) -> PyResult<usize> {
        Ok(self.get()?.senders())
    }

    /// The inbox's full name.
    #[getter]
    fn name(&self) -> String {
        self.name.clone()
    }

    /// Closes the receiving end.
    fn close(&mut self) {
        self.inner = None;
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<(u32, Bound<'py, PyBytes>)> {
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
    ) {
        self.close();
    }

    fn __repr__(&self) -> String {
        format!("<filemap.Inbox {:?}>", self.name)
    }
}

/// One sender of an inbox, in a slot of its own (`slot`).
#[pyclass(module = "filemap")]
pub struct InboxSender {
    name: String,
    slot: u32,
    inner: Option<Exclusive<filemap::inbox::InboxSender>>,
}

impl InboxSender {
    fn wrap(inner: filemap::inbox::InboxSender) -> InboxSender {
        InboxSender {
            name: inner.name().to_string(),
            slot: inner.slot(),
            inner: Some(Exclusive::new(inner)),
        }
    }

    fn get(&mut self) -> PyResult<&mut filemap::inbox::InboxSender> {
        open_mut(&mut self.inner, "the inbox sender")
    }
}

#[pymethods]
impl InboxSender {
    /// Takes a free sender slot of an existing inbox; `BusyError` if every slot has a live
    /// sender.
    #[staticmethod]
    fn open(py: Python<'_>, name: &str) -> PyResult<InboxSender> {
        py.detach(|| filemap::inbox::InboxSender::open(name))
            .or_raise()
            .map(InboxSender::wrap)
    }

    /// Like `open`, creating the inbox with these options if it does not exist.
    #[staticmethod]
    #[pyo3(signature = (name, *, senders=8, capacity=64 << 10))]
    fn create_or_open(
        py: Python<'_>,
        name: &str,
        senders: u32,
        capacity: u64,
    ) -> PyResult<InboxSender> {
        let options = inbox_options(senders, capacity);
        py.detach(|| filemap::inbox::InboxSender::create_or_open(name, &options))
            .or_raise()
            .map(InboxSender::wrap)
    }

    /// Sends `data` (bytes or any contiguous buffer), waiting up to `timeout` seconds for
    /// room (`None`: for ever).
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

    /// This sender's slot (what the inbox's `recv` says a message came from).
    #[getter]
    fn slot(&self) -> u32 {
        self.slot
    }

    /// The inbox's full name.
    #[getter]
    fn name(&self) -> String {
        self.name.clone()
    }

    /// Leaves the inbox (the slot becomes free).
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
        format!("<filemap.InboxSender {:?} slot={}>", self.name, self.slot)
    }
}

/// Which request a response answers: the client's slot and the client's id for it.
#[pyclass(module = "filemap", frozen, eq, hash)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId {
    inner: filemap::service::RequestId,
}

#[pymethods]
impl RequestId {
    /// The slot of the client that sent the request.
    #[getter]
    fn client(&self) -> u32 {
        self.inner.client()
    }

    fn __repr__(&self) -> String {
        format!("<filemap.RequestId client={}>", self.inner.client())
    }
}

fn service_options(clients: u32, capacity: u64) -> filemap::service::ServiceOptions {
    filemap::service::ServiceOptions::new()
        .clients(clients)
        .capacity(capacity)
}

/// The server of a service: receives requests from up to `clients` clients and answers
/// each with one or more responses.
#[pyclass(module = "filemap")]
pub struct Server {
    name: String,
    inner: Option<Exclusive<filemap::service::Server>>,
}

impl Server {
    fn wrap(inner: filemap::service::Server) -> Server {
        Server {
            name: inner.name().to_string(),
            inner: Some(Exclusive::new(inner)),
        }
    }

    pub(crate) fn get(&mut self) -> PyResult<&mut filemap::service::Server> {
        open_mut(&mut self.inner, "the server")
    }
}

#[pymethods]
impl Server {
    /// Creates the service (`clients` slots, rings of `capacity` bytes) or opens it, as its
    /// server (taking over from a dead one).
    #[staticmethod]
    #[pyo3(signature = (name, *, clients=8, capacity=64 << 10))]
    fn create_or_open(py: Python<'_>, name: &str, clients: u32, capacity: u64) -> PyResult<Server> {
        let options = service_options(clients, capacity);
        py.detach(|| filemap::service::Server::create_or_open(name, &options))
            .or_raise()
            .map(Server::wrap)
    }

    /// Opens an existing service as its server.
    #[staticmethod]
    fn open(py: Python<'_>, name: &str) -> PyResult<Server> {
        py.detach(|| filemap::service::Server::open(name))
            .or_raise()
            .map(Server::wrap)
    }

    /// The next request, waiting up to `timeout` seconds (`None`: for ever):
    /// `(request_id, payload)`.
    #[pyo3(signature = (timeout=None))]
    fn recv_request<'py>(
        &mut self,
        py: Python<'py>,
        timeout: Option<f64>,
    ) -> PyResult<(RequestId, Bound<'py, PyBytes>)> {
        let timeout = timeout_arg(py, timeout)?;
        let name = self.name.clone();
        let server = self.get()?;
        let mut buf = Vec::new();
        let id = wait_released(py, timeout, &name, |slice| {
            sliced(server.recv_request_timeout(slice).and_then(|request| {
                request.append_to(&mut buf)?;
                Ok(request.id())
            }))
        })?;
        Ok((RequestId { inner: id }, PyBytes::new(py, &buf)))
    }

    /// Sends a response to `request`: the last one unless `last=False` (a stream of
    /// responses, ended by one with `last=True`). `failure=True` fails the request
    /// instead, `data` saying why: the client's `call` or `recv_response` raises
    /// `RequestFailedError` with it (a failure is always the last response). Waits while
    /// the client's response ring is full, up to `timeout` seconds (`None`: for ever), with
    /// the GIL released. A client that is gone does not get it.
    #[pyo3(signature = (request, data, *, last=true, failure=false, timeout=None))]
    fn respond(
        &mut self,
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
        let name = self.name.clone();
        let server = self.get()?;
        let to = request.inner;
        with_bytes(py, data, |payload| {
            wait_released(py, timeout, &name, |slice| {
                sliced(if failure {
                    server.respond_failure_timeout(to, payload, slice)
                } else if last {
                    server.respond_timeout(to, payload, slice)
                } else {
                    server.respond_part_timeout(to, payload, slice)
                })
            })
        })
    }

    /// How many clients are connected.
    #[getter]
    fn clients(&mut self) -> PyResult<usize> {
        Ok(self.get()?.clients())
    }

    /// The service's full name.
    #[getter]
    fn name(&self) -> String {
        self.name.clone()
    }

    /// Stops serving: clients' pending requests fail with `DisconnectedError`.
    fn close(&mut self) {
        self.inner = None;
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<(RequestId, Bound<'py, PyBytes>)> {
        next_or_stop(py, self.recv_request(py, None))
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
        format!("<filemap.Server {:?}>", self.name)
    }
}

/// A client of a service, in a slot of its own: sends requests and receives exactly its own
/// responses.
#[pyclass(module = "filemap")]
pub struct Client {
    name: String,
    inner: Option<Exclusive<filemap::service::Client>>,
}

impl Client {
    fn wrap(name: &str, inner: filemap::service::Client) -> Client {
        Client {
            // The name was valid (the client opened it): its full form.
            name: filemap::Name::new(name).map_or_else(|_| name.to_string(), |n| n.to_string()),
            inner: Some(Exclusive::new(inner)),
        }
    }

    fn get(&mut self) -> PyResult<&mut filemap::service::Client> {
        open_mut(&mut self.inner, "the client")
    }

    /// The next response, waiting up to `timeout`: `(request, payload, last, failure)`. For a call
    /// (`call`: its request), a `Disconnected` that failed other requests in a takeover
    /// while the call's is still pending is waited past.
    fn next_response(
        &mut self,
        py: Python<'_>,
        timeout: Option<std::time::Duration>,
        call: Option<filemap::service::RequestId>,
    ) -> PyResult<(RequestId, Vec<u8>, bool, bool)> {
        let name = self.name.clone();
        let client = self.get()?;
        let mut buf = Vec::new();
        let (id, last, failure) = wait_released(py, timeout, &name, |slice| {
            let failed = match client.recv_response_timeout(slice) {
                Ok(response) => {
                    response.append_to(&mut buf)?;
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
        })?;
        Ok((RequestId { inner: id }, buf, last, failure))
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

    /// Sends a request, waiting up to `timeout` (`None`: for ever) for room, in slices
    /// with the GIL released.
    fn send_within(
        &mut self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        timeout: Option<std::time::Duration>,
    ) -> PyResult<RequestId> {
        let name = self.name.clone();
        let client = self.get()?;
        with_bytes(py, data, |payload| {
            let id = wait_released(py, timeout, &name, |slice| {
                sliced(client.send_request_timeout(payload, slice))
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
        py.detach(|| filemap::service::Client::open(name))
            .or_raise()
            .map(|c| Client::wrap(name, c))
    }

    /// Like `open`, creating the service with these options if it does not exist.
    #[staticmethod]
    #[pyo3(signature = (name, *, clients=8, capacity=64 << 10))]
    fn create_or_open(py: Python<'_>, name: &str, clients: u32, capacity: u64) -> PyResult<Client> {
        let options = service_options(clients, capacity);
        py.detach(|| filemap::service::Client::create_or_open(name, &options))
            .or_raise()
            .map(|c| Client::wrap(name, c))
    }

    /// Sends a request, waiting up to `timeout` seconds (`None`: for ever) while the
    /// request ring is full; its id.
    #[pyo3(signature = (data, timeout=None))]
    fn send_request(
        &mut self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<RequestId> {
        let timeout = timeout_arg(py, timeout)?;
        self.send_within(py, data, timeout)
    }

    /// The next response to one of this client's requests, waiting up to `timeout` seconds
    /// (`None`: for ever): `(request_id, payload, last)`. `RequestFailedError` if the server
    /// failed the request (its `request` attribute says which, `reason` why: that request
    /// is no longer pending). `DisconnectedError` if the server
    /// is gone: every pending request has failed; or if a server died holding some of them
    /// and a new one took over: those have failed, the others stay pending (`is_pending`).
    #[pyo3(signature = (timeout=None))]
    fn recv_response<'py>(
        &mut self,
        py: Python<'py>,
        timeout: Option<f64>,
    ) -> PyResult<(RequestId, Bound<'py, PyBytes>, bool)> {
        let timeout = timeout_arg(py, timeout)?;
        let (id, payload, last, failure) = self.next_response(py, timeout, None)?;
        if failure {
            return Err(self.failed(py, id, &payload));
        }
        Ok((id, PyBytes::new(py, &payload), last))
    }

    /// Sends a request and returns all of its responses joined, waiting up to `timeout`
    /// seconds in all (`None`: for ever). Only with no other request pending (their
    /// responses would be lost): `UnsupportedError` otherwise. A call that fails after
    /// sending gives its request up (its late responses are dropped).
    #[pyo3(signature = (data, timeout=None))]
    fn call<'py>(
        &mut self,
        py: Python<'py>,
        data: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let timeout = timeout_arg(py, timeout)?;
        self.get()?.ensure_nothing_pending().or_raise()?;
        let deadline = timeout.and_then(|t| std::time::Instant::now().checked_add(t));
        let asked = self.send_within(py, data, timeout)?;
        let mut answer = Vec::new();
        let mut answered = || loop {
            let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
            let (id, payload, last, failure) = self.next_response(py, left, Some(asked.inner))?;
            if id != asked {
                continue; // a response given up on before, not this call's
            }
            if failure {
                return Err(self.failed(py, id, &payload));
            }
            answer.extend_from_slice(&payload);
            if last {
                return Ok(());
            }
        };
        if let Err(e) = answered() {
            // Given up (a timeout, say): its late responses are dropped, and the next call
            // may go.
            self.get()?.give_up(asked.inner);
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
        Ok(PyBytes::new(py, &answer))
    }

    /// How many requests wait for their last response.
    #[getter]
    fn pending(&mut self) -> PyResult<usize> {
        Ok(self.get()?.pending())
    }

    /// Whether request `id` waits for its last response (not answered in full, not
    /// failed).
    fn is_pending(&mut self, id: &RequestId) -> PyResult<bool> {
        Ok(self.get()?.is_pending(id.inner))
    }

    /// Whether a server is connected and alive now: after `DisconnectedError`, tells a
    /// server that is gone from one that took over.
    #[getter]
    fn server_alive(&mut self) -> PyResult<bool> {
        Ok(self.get()?.server_alive())
    }

    /// The service's full name.
    #[getter]
    fn name(&self) -> String {
        self.name.clone()
    }

    /// Leaves the service (pending responses are dropped).
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
        format!("<filemap.Client {:?}>", self.name)
    }
}
