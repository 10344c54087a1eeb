//! The module's exceptions: `filemap.Error` and its subclasses, each also a subclass of the
//! built-in exception that fits (`NotFoundError` is a `FileNotFoundError`, `TimedOutError`
//! a `TimeoutError`...), the conversion of a `filemap::Error` into one of them, and `Failed`,
//! a call's failure held as a filemap or a Python error until its turn is passed on.

use pyo3::exceptions::{
    PyBrokenPipeError, PyException, PyFileExistsError, PyFileNotFoundError, PyOSError,
    PyPermissionError, PyRuntimeError, PyTimeoutError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

/// The exception classes: name, the built-in it also derives from, docstring.
const CLASSES: &[(&str, Option<Builtin>, &str)] = &[
    (
        "NotFoundError",
        Some(Builtin::FileNotFound),
        "No object has that name, or a file does not exist.",
    ),
    (
        "AlreadyExistsError",
        Some(Builtin::FileExists),
        "create_new found the name taken.",
    ),
    (
        "AccessDeniedError",
        Some(Builtin::Permission),
        "Permissions, ownership or the access mode forbid it.",
    ),
    (
        "TimedOutError",
        Some(Builtin::Timeout),
        "A wait ran past its timeout.",
    ),
    (
        "DisconnectedError",
        Some(Builtin::BrokenPipe),
        "The peer endpoint is gone (and everything it sent was received).",
    ),
    (
        "InvalidArgumentError",
        Some(Builtin::Value),
        "An argument is out of range or malformed (a name, a size, an offset, a count).",
    ),
    (
        "NotOwnerError",
        Some(Builtin::Runtime),
        "Releasing a mutex this thread does not hold.",
    ),
    (
        "WouldDeadlockError",
        Some(Builtin::Runtime),
        "This thread already holds the mutex.",
    ),
    (
        "KindMismatchError",
        None,
        "The name belongs to an object of another kind.",
    ),
    (
        "CorruptError",
        None,
        "An object's shared state is damaged or of another layout.",
    ),
    (
        "LaggedError",
        None,
        "A subscriber fell behind and missed messages (its `missed` attribute says how many).",
    ),
    (
        "BusyError",
        None,
        "The endpoint, slot or name is taken by a live process.",
    ),
    (
        "PageFaultError",
        Some(Builtin::OS),
        "The memory under a view could not be read or written (truncated file, I/O error).",
    ),
    (
        "NoSpaceError",
        Some(Builtin::OS),
        "The system could not allocate the object's memory.",
    ),
    (
        "UnsupportedError",
        None,
        "This platform or object cannot do what was asked.",
    ),
    (
        "RequestFailedError",
        None,
        "A service's server failed the request (`Server.respond(..., failure=True)`): its \
         `reason` attribute is what the server said.",
    ),
    (
        "SystemCallError",
        Some(Builtin::OS),
        "Any other operating-system error.",
    ),
];

#[derive(Clone, Copy)]
enum Builtin {
    FileNotFound,
    FileExists,
    Permission,
    Timeout,
    BrokenPipe,
    Value,
    Runtime,
    OS,
}

impl Builtin {
    fn type_object(self, py: Python<'_>) -> Bound<'_, PyType> {
        match self {
            Builtin::FileNotFound => py.get_type::<PyFileNotFoundError>(),
            Builtin::FileExists => py.get_type::<PyFileExistsError>(),
            Builtin::Permission => py.get_type::<PyPermissionError>(),
            Builtin::Timeout => py.get_type::<PyTimeoutError>(),
            Builtin::BrokenPipe => py.get_type::<PyBrokenPipeError>(),
            Builtin::Value => py.get_type::<PyValueError>(),
            Builtin::Runtime => py.get_type::<PyRuntimeError>(),
            Builtin::OS => py.get_type::<PyOSError>(),
        }
    }
}

impl Builtin {
    /// Whether the class derives from `OSError`, whose instances carry `errno`.
    fn is_os_error(self) -> bool {
        !matches!(self, Builtin::Value | Builtin::Runtime)
    }
}

/// The `__reduce__` of the `OSError`-derived classes: `OSError`'s own (its arguments, a
/// file name among them, and the instance's attributes), and the `errno`, which that drops
/// when the code is not among the arguments (the class's code is set after the message,
/// so that `str(e)` stays the message). Unpickling sets the state's items as attributes
/// (`BaseException.__setstate__`).
const REDUCE_KEEPING_ERRNO: &std::ffi::CStr = c"
def __reduce__(self):
    cls, args, *rest = OSError.__reduce__(self)
    state = dict(rest[0] if rest and rest[0] else {})
    state['errno'] = self.errno
    return (cls, args, state)
";

/// Creates `Error` and its subclasses in `module`.
pub(crate) fn add_exceptions(module: &Bound<'_, PyModule>) -> PyResult<Py<PyDict>> {
    let py = module.py();
    let make_type = py.import("builtins")?.getattr("type")?;
    let class = |name: &str, bases: Bound<'_, PyTuple>, doc: &str| {
        let dict = PyDict::new(py);
        dict.set_item("__doc__", doc)?;
        dict.set_item("__module__", "filemap")?;
        make_type.call1((name, bases, dict)).map(Bound::unbind)
    };
    let base = class(
        "Error",
        PyTuple::new(py, [py.get_type::<PyException>()])?,
        "The base class of filemap's errors; `str(e)` says what was wrong and with what.",
    )?;
    let base = base.into_bound(py);
    module.add("Error", &base)?;
    let made_classes = PyDict::new(py);
    made_classes.set_item("Error", &base)?;
    let reduce = PyModule::from_code(
        py,
        REDUCE_KEEPING_ERRNO,
        c"filemap_errors.py",
        c"filemap._errors",
    )?
    .getattr("__reduce__")?;
    for (name, builtin, doc) in CLASSES {
        let bases = match builtin {
            Some(b) => PyTuple::new(py, [base.clone(), b.type_object(py).into_any()])?,
            None => PyTuple::new(py, [base.clone()])?,
        };
        let made = class(name, bases, doc)?.into_bound(py);
        if builtin.is_some_and(Builtin::is_os_error) {
            made.setattr("__reduce__", &reduce)?;
        }
        made_classes.set_item(*name, &made)?;
        module.add(*name, made)?;
    }
    Ok(made_classes.unbind())
}

/// Keeps the exception classes of the module whose set-up succeeded, by name, for the
/// exceptions raised from here on (set once: the module is made once per process).
pub(crate) fn keep_classes(py: Python<'_>, classes: Py<PyDict>) {
    let _ = CLASSES_MADE.set(py, classes);
}

/// The exception classes `add_exceptions` made, by name: looked up here, not by importing
/// the module again, which a package vendored under another name, or an interpreter
/// shutting down, would turn into an ImportError in place of every exception.
static CLASSES_MADE: PyOnceLock<Py<PyDict>> = PyOnceLock::new();

/// The module's exception class `name`.
fn exception_class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyType>> {
    let classes = CLASSES_MADE.get(py).ok_or_else(|| {
        pyo3::exceptions::PySystemError::new_err("filemap's exception classes are not made")
    })?;
    classes
        .bind(py)
        .get_item(name)?
        .ok_or_else(|| pyo3::exceptions::PySystemError::new_err(format!("no class {name}")))?
        .cast_into::<PyType>()
        .map_err(Into::into)
}

/// The exception class for `error`.
fn class_name(error: &filemap::Error) -> &'static str {
    use filemap::ErrorCategory as C;
    match error.category() {
        C::NotFound => "NotFoundError",
        C::AlreadyExists => "AlreadyExistsError",
        C::AccessDenied => "AccessDeniedError",
        C::Timeout => "TimedOutError",
        C::Disconnected => "DisconnectedError",
        C::InvalidArgument => "InvalidArgumentError",
        C::NotOwner => "NotOwnerError",
        C::WouldDeadlock => "WouldDeadlockError",
        C::KindMismatch => "KindMismatchError",
        C::Corrupt => "CorruptError",
        C::Lagged => "LaggedError",
        C::Busy => "BusyError",
        C::PageFault => "PageFaultError",
        C::NoSpace => "NoSpaceError",
        C::Unsupported => "UnsupportedError",
        C::RequestFailed => "RequestFailedError",
        C::System => "SystemCallError",
        _ => "Error",
    }
}

/// The name, in Python's `errno` module, of the code an exception of the `OSError`-derived
/// class `class` stands for when no system call gave one (as Python's own such errors
/// carry: an object not found is ENOENT...).
fn class_errno(class: &str) -> Option<&'static str> {
    Some(match class {
        "NotFoundError" => "ENOENT",
        "AlreadyExistsError" => "EEXIST",
        "AccessDeniedError" => "EACCES",
        "TimedOutError" => "ETIMEDOUT",
        "DisconnectedError" => "EPIPE",
        _ => return None,
    })
}

/// Sets `instance`'s `errno` to the one its class stands for, if any (`str(e)` stays the
/// message).
fn set_class_errno(py: Python<'_>, instance: &Bound<'_, PyAny>, class: &str) -> PyResult<()> {
    if let Some(code) = class_errno(class) {
        instance.setattr("errno", py.import("errno")?.getattr(code)?)?;
    }
    Ok(())
}

/// `error` as an exception of its class, with `str(e)` the error's message. OS-derived
/// classes carry `errno`: the system's, or the one their class stands for;
/// `LaggedError` carries `missed`, `RequestFailedError` `reason`.
pub(crate) fn to_py(error: filemap::Error) -> PyErr {
    Python::attach(|py| match make(py, &error) {
        Ok(err) => err,
        Err(err) => err,
    })
}

fn make(py: Python<'_>, error: &filemap::Error) -> PyResult<PyErr> {
    let name = class_name(error);
    let class = exception_class(py, name)?;
    let message = error.to_string();
    let os_error = match error {
        filemap::Error::Io { source, .. } => source.raw_os_error(),
        _ => None,
    };
    let instance = match os_error {
        // OSError(errno, strerror): sets `errno` and `strerror`. (A system error of a kind
        // that is no OSError here, a name too long say, is a ValueError: its message only.)
        Some(errno) if class.is_subclass_of::<PyOSError>()? => class.call1((errno, message))?,
        _ => class.call1((message,))?,
    };
    if os_error.is_none() {
        set_class_errno(py, &instance, name)?;
    }
    if let filemap::Error::Lagged { missed, .. } = error {
        instance.setattr("missed", missed)?;
    }
    if let filemap::Error::RequestFailed { reason, .. } = error {
        instance.setattr("reason", reason)?;
    }
    Ok(PyErr::from_value(instance))
}

/// `?` on a filemap result inside a Python method.
pub(crate) trait OrRaise<T> {
    /// The value, or the error as its Python exception.
    fn or_raise(self) -> PyResult<T>;
}

impl<T> OrRaise<T> for filemap::Result<T> {
    fn or_raise(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}

/// An exception of one of the module's own classes, with `message`.
pub(crate) fn raise(py: Python<'_>, class: &str, message: String) -> PyErr {
    let made = exception_class(py, class)
        .and_then(|c| c.call1((message,)))
        .and_then(|instance| set_class_errno(py, &instance, class).map(|()| instance));
    match made {
        Ok(instance) => PyErr::from_value(instance),
        Err(err) => err,
    }
}

/// `ValueError`-derived `InvalidArgumentError`.
pub(crate) fn invalid(py: Python<'_>, message: impl Into<String>) -> PyErr {
    raise(py, "InvalidArgumentError", message.into())
}

/// What a `with` block's `__exit__` raises of its close (`closing`): its error, but for a
/// block that ends with an exception (`raising`) whose close was refused because buffers
/// of the object are still exported (`BufferError`: the traceback keeps the block's frame,
/// and its arrays, alive). The block's own exception is the one raised then, and the
/// object closes when it is collected (the buffers keep it alive until they go).
pub(crate) fn exit_result(py: Python<'_>, raising: bool, closing: PyResult<()>) -> PyResult<()> {
    match closing {
        Err(e) if raising && e.is_instance_of::<pyo3::exceptions::PyBufferError>(py) => Ok(()),
        other => other,
    }
}

/// The error of an object used after `close()`.
pub(crate) fn closed(what: &str) -> PyErr {
    pyo3::exceptions::PyValueError::new_err(format!("{what} is closed"))
}

/// Why a call in a turn failed: a filemap error, made a Python exception only once the
/// turn is passed on (making one runs Python code: a collection, whose finalizers might
/// call another endpoint, must not run while this one's turn is held), or a Python one.
pub(crate) enum Failed {
    Filemap(filemap::Error),
    Python(PyErr),
}

impl Failed {
    /// The Python exception.
    pub(crate) fn raise(self) -> PyErr {
        match self {
            Failed::Filemap(e) => to_py(e),
            Failed::Python(e) => e,
        }
    }
}

impl From<filemap::Error> for Failed {
    fn from(e: filemap::Error) -> Failed {
        Failed::Filemap(e)
    }
}

impl From<PyErr> for Failed {
    fn from(e: PyErr) -> Failed {
        Failed::Python(e)
    }
}
