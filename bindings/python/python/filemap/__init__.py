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

Threads: mappings, views, mutexes, events and semaphores may be used from several threads
at once (a view that one thread reads or writes 64 KiB or more of, with the GIL released,
cannot be closed by another meanwhile: ``RuntimeError``). An endpoint (``Sender``, ``Receiver``, ``Publisher``, ``Subscriber``, ``Inbox``,
``InboxSender``, ``Server``, ``Client``) is used by one thread at a time: while one thread
waits in it, another thread's call on it (``close()`` and ``name`` too) raises
``RuntimeError`` ("Already borrowed"). To stop a waiting thread, wait with a timeout, or
with ``wait_any`` on the endpoint and an ``Event`` that the other thread sets. A mutex is
held by the thread that locked it: a ``MutexGuard`` kept after its thread ended cannot be
released: the mutex stays locked until that ``NamedMutex`` object and the guard are gone
(the next lock then reports it abandoned).

Faults: ``View.read`` and ``View.write`` raise ``PageFaultError`` where the memory behind
a view is gone (its file was truncated), through a handler filemap installs for SIGBUS at
the first view. A handler installed after it (``faulthandler.enable()``, say) takes its
place: enable ``faulthandler`` before the first view (``python -X faulthandler``), and
filemap's handler passes it what is not filemap's.

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
