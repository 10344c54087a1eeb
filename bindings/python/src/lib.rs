//! The `filemap._filemap` extension module: filemap's objects for Python (the `filemap`
//! package re-exports them with type stubs). Every blocking call releases the GIL and
//! honours Ctrl-C; errors are `filemap.Error` subclasses that also derive from the
//! built-in exception that fits.

mod bytes;
mod channel;
mod closable;
mod endpoint;
mod errors;
mod ints;
mod kept;
mod mapping;
mod parties;
mod shutdown;
mod sync;
mod topic;
mod turns;
mod wait;
mod waiting;

use pyo3::prelude::*;

/// From this many bytes on, a copy between shared memory and Python's memory is made with
/// the GIL released (`View.read`, `View.write`, a message's send and its `bytes`, a
/// call's joined answer: `shutdown::copying`).
pub(crate) const DETACHED_COPY: usize = 64 << 10;

/// `text` as Python's `repr` writes a str (quoted and escaped Python's way, not Rust's),
/// for the objects' reprs.
pub(crate) fn py_quoted(text: &str) -> String {
    Python::attach(|py| {
        pyo3::types::PyString::new(py, text)
            .repr()
            .map(|r| r.to_string())
    })
    .unwrap_or_else(|_| format!("{text:?}"))
}

/// filemap: the Windows file-mapping model for Python.
#[pymodule]
fn _filemap(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let exception_classes = errors::add_exceptions(m)?;
    m.add_class::<mapping::Mapping>()?;
    m.add_class::<mapping::View>()?;
    m.add_class::<sync::NamedMutex>()?;
    m.add_class::<sync::MutexGuard>()?;
    m.add_class::<sync::NamedEvent>()?;
    m.add_class::<sync::NamedSemaphore>()?;
    m.add_class::<channel::Sender>()?;
    m.add_class::<channel::Receiver>()?;
    m.add_class::<channel::Message>()?;
    m.add_class::<topic::Publisher>()?;
    m.add_class::<topic::Subscriber>()?;
    m.add_class::<parties::Inbox>()?;
    m.add_class::<parties::InboxSender>()?;
    m.add_class::<parties::Server>()?;
    m.add_class::<parties::Client>()?;
    m.add_class::<parties::RequestId>()?;
    m.add_function(wrap_pyfunction!(wait::wait_any, m)?)?;
    m.add_function(wrap_pyfunction!(wait::wait_all, m)?)?;
    m.add_function(wrap_pyfunction!(page_size, m)?)?;
    m.add_function(wrap_pyfunction!(allocation_granularity, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    endpoint::count_forks(m)?;
    shutdown::install(m)?;
    // Last: a module whose set-up failed here is made again by the next import, with
    // classes of its own, which are then the ones raised.
    errors::keep_classes(m.py(), exception_classes);
    Ok(())
}

/// The system's page size in bytes.
#[pyfunction]
fn page_size() -> u64 {
    filemap::page_size()
}

/// The granularity of view offsets the system maps at (64 KiB on Windows).
#[pyfunction]
fn allocation_granularity() -> u64 {
    filemap::allocation_granularity()
}
