//! `filemap.Publisher` and `filemap.Subscriber`: a topic, one publisher to many
//! subscribers, each message delivered to every subscriber connected when it was published.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::thread::ThreadId;

use filemap::topic::{SlowSubscribers, TopicOptions};
use pyo3::prelude::*;

use crate::shutdown::detach;
use pyo3::types::PyBytes;

use crate::bytes::with_bytes;
use crate::endpoint::Endpoint;
use crate::errors::Failed;
use crate::errors::{OrRaise, invalid};
use crate::ints;
use crate::kept::{Keeping, bytes_or_copy, copy_out};
use crate::turns::this_thread;
use crate::waiting::{Deadline, next_or_stop, timeout_arg};

fn topic_options(
    py: Python<'_>,
    capacity: u64,
    max_subscribers: u32,
    history: u32,
    slow_subscribers: &str,
) -> PyResult<TopicOptions> {
    let policy = match slow_subscribers {
        "block" => SlowSubscribers::Block,
        "drop_oldest" => SlowSubscribers::DropOldest,
        other => {
            return Err(invalid(
                py,
                format!(
                    "slow_subscribers must be 'block' or 'drop_oldest', not {}",
                    crate::py_quoted(other)
                ),
            ));
        }
    };
    Ok(TopicOptions::new()
        .capacity(capacity)
        .max_subscribers(max_subscribers)
        .history(history)
        .slow_subscribers(policy))
}

/// How many threads' last sequence numbers a subscriber keeps.
const LAST_SEQUENCE_THREADS: usize = 1024;

/// The publishing end of a topic. Its options are fixed by whoever creates the topic:
/// `capacity` bytes of ring, up to `max_subscribers`, the last `history` messages kept for
/// late joiners, and what to do with slow subscribers (`"block"`: wait for them;
/// `"drop_oldest"`: never wait, they are told how many they missed).
#[pyclass(module = "filemap", frozen)]
pub struct Publisher {
    name: String,
    max_subscribers: u32,
    inner: Endpoint<filemap::topic::Publisher>,
}

impl Publisher {
    fn wrap(inner: filemap::topic::Publisher) -> Publisher {
        Publisher {
            name: inner.name().to_string(),
            max_subscribers: inner.max_subscribers(),
            inner: Endpoint::new("the publisher", inner),
        }
    }
}

#[pymethods]
impl Publisher {
    /// Creates the topic or opens it, as its publisher.
    #[staticmethod]
    #[pyo3(signature = (name, *, capacity=1048576, max_subscribers=8, history=0, slow_subscribers="block"))]
    fn create_or_open(
        py: Python<'_>,
        name: &str,
        #[pyo3(from_py_with = ints::capacity)] capacity: u64,
        #[pyo3(from_py_with = ints::max_subscribers)] max_subscribers: u32,
        #[pyo3(from_py_with = ints::history)] history: u32,
        slow_subscribers: &str,
    ) -> PyResult<Publisher> {
        let options = topic_options(py, capacity, max_subscribers, history, slow_subscribers)?;
        detach(py, || {
            filemap::topic::Publisher::create_or_open(name, &options)
        })
        .or_raise()
        .map(Publisher::wrap)
    }

    /// Opens an existing topic as its publisher (taking over from a dead one).
    #[staticmethod]
    fn open(py: Python<'_>, name: &str) -> PyResult<Publisher> {
        detach(py, || filemap::topic::Publisher::open(name))
            .or_raise()
            .map(Publisher::wrap)
    }

    /// Publishes `data` (bytes or any contiguous buffer), waiting up to `timeout` seconds
    /// for slow subscribers under `"block"` (`None`: for ever).
    #[pyo3(signature = (data, timeout=None))]
    fn publish(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<()> {
        self.inner.send(
            py,
            data,
            timeout,
            &self.name,
            |publisher, message| publisher.try_publish(message),
            |publisher, message, slice| publisher.publish_timeout(message, slice),
        )
    }

    /// Publishes `data` if it can go now; returns whether it went.
    fn try_publish(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<bool> {
        with_bytes(py, data, |message| {
            // (A long copy lets other threads run, as `publish`'s does.)
            self.inner.with(py, |p| {
                Ok(crate::shutdown::copying(py, message.len(), || {
                    p.try_publish(message)
                })?)
            })
        })
    }

    /// How many subscribers are connected.
    #[getter]
    fn subscribers(&self, py: Python<'_>) -> PyResult<usize> {
        self.inner.with(py, |p| Ok(p.subscribers()))
    }

    /// How many subscribers can be connected at once (set when the topic was made).
    #[getter]
    fn max_subscribers(&self) -> PyResult<u32> {
        self.inner.ensure_open()?;
        Ok(self.max_subscribers)
    }

    /// The sequence number the next message will carry.
    #[getter]
    fn next_sequence(&self, py: Python<'_>) -> PyResult<u64> {
        self.inner.with(py, |p| Ok(p.next_sequence()))
    }

    /// The topic's full name.
    #[getter]
    fn name(&self) -> String {
        self.name.clone()
    }

    /// Closes the publisher: subscribers get every message, then `DisconnectedError`. A
    /// call of another thread waiting in it raises `ValueError` at its next slice.
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
        format!("<filemap.Publisher {}>", crate::py_quoted(&self.name))
    }
}

/// A subscriber, and a message it keeps (its `bytes` could not be made) by its sequence
/// number.
pub(crate) type KeptSubscriber = Keeping<filemap::topic::Subscriber, u64>;

/// A subscriber of a topic: `recv()` returns each message as `bytes`; iterating yields
/// them until the publisher is gone. Under `"drop_oldest"`, a subscriber that fell behind
/// gets `LaggedError` (with `missed`) once, then goes on at the oldest message still
/// there: from a `for` loop too, which it ends (iterate again to go on).
#[pyclass(module = "filemap", frozen)]
pub struct Subscriber {
    name: String,
    /// The subscriber, and a message it keeps by its sequence number (see `kept`).
    inner: Endpoint<KeptSubscriber>,
    /// The sequence number of the last message returned to each thread.
    last: Mutex<HashMap<ThreadId, u64>>,
}

impl Subscriber {
    fn wrap(inner: filemap::topic::Subscriber) -> Subscriber {
        Subscriber {
            name: inner.name().to_string(),
            inner: Endpoint::new("the subscriber", Keeping::new(inner)),
            last: Mutex::new(HashMap::new()),
        }
    }

    /// The subscriber's state, for a wait on many objects.
    pub(crate) fn endpoint(&self) -> &Endpoint<KeptSubscriber> {
        &self.inner
    }

    /// Records `seq` as the last message returned to this thread (for up to
    /// `LAST_SEQUENCE_THREADS` threads: past that, the others' are forgotten, so that
    /// threads that come and go do not grow it without end).
    fn returned(&self, seq: u64) {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        let me = this_thread();
        if last.len() >= LAST_SEQUENCE_THREADS && !last.contains_key(&me) {
            last.clear();
        }
        last.insert(me, seq);
    }

    /// The next message if one is there now (in the caller's turn), else `None`: the one
    /// kept first.
    fn take_now<'py>(
        &self,
        py: Python<'py>,
        sub: &mut KeptSubscriber,
    ) -> Result<Option<Bound<'py, PyBytes>>, Failed> {
        if let Some((seq, payload)) = sub.take_kept() {
            let (seq, message) = sub.deliver(py, seq, payload)?;
            self.returned(seq);
            return Ok(Some(message));
        }
        let Some(mut sample) = sub.try_recv()? else {
            return Ok(None);
        };
        let seq = sample.seq();
        let (len, lent) = (sample.len(), &mut sample);
        // (Moved in as `&mut`: a sample is no `Sync`, and the copy may run off the GIL.)
        let made = bytes_or_copy(py, len, move |buf| lent.read_at(0, buf));
        drop(sample);
        let message = made.map_err(|not_made| sub.keep(seq, not_made))?;
        self.returned(seq);
        Ok(Some(message))
    }
}

#[pymethods]
impl Subscriber {
    /// Subscribes to an existing topic, starting with its history (if it keeps one).
    #[staticmethod]
    fn open(py: Python<'_>, name: &str) -> PyResult<Subscriber> {
        detach(py, || filemap::topic::Subscriber::open(name))
            .or_raise()
            .map(Subscriber::wrap)
    }

    /// Subscribes to an existing topic, starting with the next message published.
    #[staticmethod]
    fn open_latest(py: Python<'_>, name: &str) -> PyResult<Subscriber> {
        detach(py, || filemap::topic::Subscriber::open_latest(name))
            .or_raise()
            .map(Subscriber::wrap)
    }

    /// Creates the topic (with these options) or opens it, and subscribes.
    #[staticmethod]
    #[pyo3(signature = (name, *, capacity=1048576, max_subscribers=8, history=0, slow_subscribers="block"))]
    fn create_or_open(
        py: Python<'_>,
        name: &str,
        #[pyo3(from_py_with = ints::capacity)] capacity: u64,
        #[pyo3(from_py_with = ints::max_subscribers)] max_subscribers: u32,
        #[pyo3(from_py_with = ints::history)] history: u32,
        slow_subscribers: &str,
    ) -> PyResult<Subscriber> {
        let options = topic_options(py, capacity, max_subscribers, history, slow_subscribers)?;
        detach(py, || {
            filemap::topic::Subscriber::create_or_open(name, &options)
        })
        .or_raise()
        .map(Subscriber::wrap)
    }

    /// The next message as `bytes`, waiting up to `timeout` seconds (`None`: for ever).
    /// `DisconnectedError` once the publisher is gone and every message was received;
    /// `LaggedError` after messages were missed.
    #[pyo3(signature = (timeout=None))]
    fn recv<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyBytes>> {
        let timeout = timeout_arg(py, timeout)?;
        let deadline = Deadline::after(timeout);
        let now = |sub: &mut _| self.take_now(py, sub);
        if let Some(message) = self.inner.with_within(py, deadline, &self.name, now)? {
            return Ok(message);
        }
        let (seq, message) = self
            .inner
            .recv_keeping(py, deadline, &self.name, |sub, slice| {
                let sample = sub.recv_timeout(slice)?;
                Ok((
                    sample.seq(),
                    copy_out(sample.len(), |b| sample.read_at(0, b))?,
                ))
            })?;
        // (Only a message delivered is the last received.)
        self.returned(seq);
        Ok(message)
    }

    /// The next message if one is there now, else `None`.
    fn try_recv<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        self.inner.with(py, |sub| self.take_now(py, sub))
    }

    /// The sequence number of the last message this thread received (`None` before its
    /// first).
    #[getter]
    fn last_sequence(&self) -> Option<u64> {
        // A child made by `os.fork` received nothing (and its copy of the lock may have
        // been taken by a parent's thread at the fork, for good).
        if self.inner.inherited() {
            return None;
        }
        let last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        last.get(&this_thread()).copied()
    }

    /// The topic's full name.
    #[getter]
    fn name(&self) -> String {
        self.name.clone()
    }

    /// Leaves the topic. A call of another thread waiting in it raises `ValueError` at its
    /// next slice.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.inner.close(py).map(drop)
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
        format!("<filemap.Subscriber {}>", crate::py_quoted(&self.name))
    }
}
