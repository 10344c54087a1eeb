"""filemap: the Windows file-mapping model for Python, on Linux and Windows.

Named shared memory with views (zero-copy through the buffer protocol, so
``numpy.frombuffer(view, dtype)`` works in place), file-backed mappings, robust named
mutexes that report a dead holder (``WAIT_ABANDONED``), events, semaphores, waits on many
objects, a zero-copy channel between two processes, topics from one publisher to many
subscribers, inboxes from many senders to one receiver, and services (requests and
responses). Objects go away when the last handle in any process closes, even after
``kill -9``.

Every blocking call takes ``timeout=`` in seconds (``None`` waits for ever), releases the
GIL and can be interrupted with Ctrl-C. Errors are ``filemap.Error`` subclasses that also
derive from the built-in exception that fits: ``NotFoundError`` is a
``FileNotFoundError``, ``AlreadyExistsError`` a ``FileExistsError``,
``AccessDeniedError`` a ``PermissionError``, ``TimedOutError`` a ``TimeoutError``,
``DisconnectedError`` a ``BrokenPipeError``, ``InvalidArgumentError`` a ``ValueError``.

>>> import filemap
>>> m, created = filemap.Mapping.create_or_open("doc-example", 4096)
>>> with m.view() as v:
...     v.write(0, b"hello")
...     bytes(memoryview(v)[:5])
b'hello'
"""

from ._filemap import (
    AccessDeniedError,
    AlreadyExistsError,
    BusyError,
    CorruptError,
    DisconnectedError,
    Client,
    Error,
    Inbox,
    InboxSender,
    InvalidArgumentError,
    KindMismatchError,
    LaggedError,
    Mapping,
    Message,
    MutexGuard,
    NamedEvent,
    NamedMutex,
    NamedSemaphore,
    NoSpaceError,
    NotFoundError,
    NotOwnerError,
    PageFaultError,
    Publisher,
    Receiver,
    RequestFailedError,
    RequestId,
    Sender,
    Server,
    Subscriber,
    SystemCallError,
    TimedOutError,
    UnsupportedError,
    View,
    WouldDeadlockError,
    __version__,
    allocation_granularity,
    page_size,
    wait_all,
    wait_any,
)

__all__ = [
    "AccessDeniedError",
    "AlreadyExistsError",
    "BusyError",
    "CorruptError",
    "DisconnectedError",
    "Client",
    "Error",
    "Inbox",
    "InboxSender",
    "InvalidArgumentError",
    "KindMismatchError",
    "LaggedError",
    "Mapping",
    "Message",
    "MutexGuard",
    "NamedEvent",
    "NamedMutex",
    "NamedSemaphore",
    "NoSpaceError",
    "NotFoundError",
    "NotOwnerError",
    "PageFaultError",
    "Publisher",
    "Receiver",
    "RequestFailedError",
    "RequestId",
    "Sender",
    "Server",
    "Subscriber",
    "SystemCallError",
    "TimedOutError",
    "UnsupportedError",
    "View",
    "WouldDeadlockError",
    "__version__",
    "allocation_granularity",
    "page_size",
    "wait_all",
    "wait_any",
]
