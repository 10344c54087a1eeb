//! `filemap.Publisher` and `filemap.Subscriber`: a topic, one publisher to many
//! subscribers, each message delivered to every subscriber connected when it was published.

use filemap::topic::{SlowSubscribers, TopicOptions};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::bytes::with_bytes;
use crate::errors::{invalid, OrRaise};
use crate::exclusive::{open_mut, Exclusive};
use crate::waiting::{next_or_stop, sliced, timeout_arg, wait_released};

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
                format!("slow_subscribers must be 'block' or 'drop_oldest', not {other:?}"),
            ))
        }
    };
    Ok(TopicOptions::new()
        .capacity(capacity)
        .max_subscribers(max_subscribers)
        .history(history)
        .slow_subscribers(policy))
}

/// The publishing end of a topic. Its options are fixed by whoever creates the topic:
/// `capacity` bytes of ring, up to `max_subscribers`, the last `history` messages kept for
/// late joiners, and what to do with slow subscribers (`"block"`: wait for them;
/// `"drop_oldest"`: never wait, they are told how many they missed).
#[pyclass(module = "filemap")]
pub struct Publisher {
    name: String,
    inner: Option<Exclusive<filemap::topic::Publisher>>,
}

impl Publisher {
    fn get(&mut self) -> PyResult<&mut filemap::topic::Publisher> {
        open_mut(&mut self.inner, "the publisher")
    }
}

#[pymethods]
impl Publisher {
    /// Creates the topic or opens it, as its publisher.
    #[staticmethod]
    #[pyo3(signature = (name, *, capacity=1 << 20, max_subscribers=8, history=0, slow_subscribers="block"))]
    fn create_or_open(
        py: Python<'_>,
        name: &str,
        capacity: u64,
        max_subscribers: u32,
        history: u32,
        slow_subscribers: &str,
    ) -> PyResult<Publisher> {
        let options = topic_options(py, capacity, max_subscribers, history, slow_subscribers)?;
        let inner = py
            .detach(|| filemap::topic::Publisher::create_or_open(name, &options))
            .or_raise()?;
        Ok(Publisher {
            name: inner.name().to_string(),
            inner: Some(Exclusive::new(inner)),
        })
    }

    /// Opens an existing topic as its publisher (taking over from a dead one).
    #[staticmethod]
    fn open(py: Python<'_>, name: &str) -> PyResult<Publisher> {
        let inner = py
            .detach(|| filemap::topic::Publisher::open(name))
            .or_raise()?;
        Ok(Publisher {
            name: inner.name().to_string(),
            inner: Some(Exclusive::new(inner)),
        })
    }

    /// Publishes `data` (bytes or any contiguous buffer), waiting up to `timeout` seconds
    /// for slow subscribers under `"block"` (`None`: for ever).
    #[pyo3(signature = (data, timeout=None))]
    fn publish(
        &mut self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<()> {
        let timeout = timeout_arg(py, timeout)?;
        let name = self.name.clone();
        let publisher = self.get()?;
        with_bytes(py, data, |message| {
            if publisher.try_publish(message).or_raise()? {
                return Ok(());
            }
            wait_released(py, timeout, &name, |slice| {
                sliced(publisher.publish_timeout(message, slice))
            })
        })
    }

    /// Publishes `data` if it can go now; returns whether it went.
    fn try_publish(&mut self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<bool> {
        let publisher = self.get()?;
        with_bytes(py, data, |message| {
            publisher.try_publish(message).or_raise()
        })
    }

    /// How many subscribers are connected.
    #[getter]
    fn subscribers(&mut self) -> PyResult<usize> {
        Ok(self.get()?.subscribers())
    }

    /// How many subscribers can be connected at once (set when the topic was made).
    #[getter]
    fn max_subscribers(&mut self) -> PyResult<u32> {
        Ok(self.get()?.max_subscribers())
    }

    /// The sequence number the next message will carry.
    #[getter]
    fn next_sequence(&mut self) -> PyResult<u64> {
        Ok(self.get()?.next_sequence())
    }

    /// The topic's full name.
    #[getter]
    fn name(&self) -> String {
        self.name.clone()
    }

    /// Closes the publisher: subscribers get every message, then `DisconnectedError`.
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
        format!("<filemap.Publisher {:?}>", self.name)
    }
}

/// A subscriber of a topic: `recv()` returns each message as `bytes`; iterating yields
/// them until the publisher is gone. Under `"drop_oldest"`, a subscriber that fell behind
/// gets `LaggedError` (with `missed`) once, then goes on at the oldest message still
/// there.
#[pyclass(module = "filemap")]
pub struct Subscriber {
    name: String,
    inner: Option<Exclusive<filemap::topic::Subscriber>>,
    /// The sequence number of the last message returned.
    last: Option<u64>,
}

impl Subscriber {
    fn wrap(inner: filemap::topic::Subscriber) -> Subscriber {
        Subscriber {
            name: inner.name().to_string(),
            inner: Some(Exclusive::new(inner)),
            last: None,
        }
    }

    fn get(&mut self) -> PyResult<&mut filemap::topic::Subscriber> {
        open_mut(&mut self.inner, "the subscriber")
    }
}

impl Subscriber {
    /// The subscriber, for a wait on many objects.
    pub(crate) fn waitable(&mut self) -> PyResult<&filemap::topic::Subscriber> {
        self.get().map(|s| &*s)
    }
}

#[pymethods]
impl Subscriber {
    /// Subscribes to an existing topic, starting with its history (if it keeps one).
    #[staticmethod]
    fn open(py: Python<'_>, name: &str) -> PyResult<Subscriber> {
        py.detach(|| filemap::topic::Subscriber::open(name))
            .or_raise()
            .map(Subscriber::wrap)
    }

    /// Subscribes to an existing topic, starting with the next message published.
    #[staticmethod]
    fn open_latest(py: Python<'_>, name: &str) -> PyResult<Subscriber> {
        py.detach(|| filemap::topic::Subscriber::open_latest(name))
            .or_raise()
            .map(Subscriber::wrap)
    }

    /// Creates the topic (with these options) or opens it, and subscribes.
    #[staticmethod]
    #[pyo3(signature = (name, *, capacity=1 << 20, max_subscribers=8, history=0, slow_subscribers="block"))]
    fn create_or_open(
        py: Python<'_>,
        name: &str,
        capacity: u64,
        max_subscribers: u32,
        history: u32,
        slow_subscribers: &str,
    ) -> PyResult<Subscriber> {
        let options = topic_options(py, capacity, max_subscribers, history, slow_subscribers)?;
        py.detach(|| filemap::topic::Subscriber::create_or_open(name, &options))
            .or_raise()
            .map(Subscriber::wrap)
    }

    /// The next message as `bytes`, waiting up to `timeout` seconds (`None`: for ever).
    /// `DisconnectedError` once the publisher is gone and every message was received;
    /// `LaggedError` after messages were missed.
    #[pyo3(signature = (timeout=None))]
    fn recv<'py>(
        &mut self,
        py: Python<'py>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let timeout = timeout_arg(py, timeout)?;
        let name = self.name.clone();
        let sub = self.get()?;
        let ready = match sub.try_recv().or_raise()? {
            Some(sample) => Some((
                sample.seq(),
                PyBytes::new_with(py, sample.len(), |buf| sample.read_at(0, buf).or_raise())?,
            )),
            None => None,
        };
        if let Some((seq, message)) = ready {
            self.last = Some(seq);
            return Ok(message);
        }
        let sub = self.get()?;
        let mut buf = Vec::new();
        let seq = wait_released(py, timeout, &name, |slice| {
            sliced(sub.recv_timeout(slice).and_then(|sample| {
                buf.clear();
                sample.append_to(&mut buf)?;
                Ok(sample.seq())
            }))
        })?;
        self.last = Some(seq);
        Ok(PyBytes::new(py, &buf))
    }

    /// The next message if one is there now, else `None`.
    fn try_recv<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let sub = self.get()?;
        let (seq, message) = match sub.try_recv().or_raise()? {
            Some(sample) => (
                sample.seq(),
                PyBytes::new_with(py, sample.len(), |buf| sample.read_at(0, buf).or_raise())?,
            ),
            None => return Ok(None),
        };
        self.last = Some(seq);
        Ok(Some(message))
    }

    /// The sequence number of the last message received (`None` before the first).
    #[getter]
    fn last_sequence(&self) -> Option<u64> {
        self.last
    }

    /// The topic's full name.
    #[getter]
    fn name(&self) -> String {
        self.name.clone()
    }

    /// Leaves the topic.
    fn close(&mut self) {
        self.inner = None;
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
    ) {
        self.close();
    }

    fn __repr__(&self) -> String {
        format!("<filemap.Subscriber {:?}>", self.name)
    }
}
