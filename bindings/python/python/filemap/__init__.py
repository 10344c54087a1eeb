"""filemap: the Windows file-mapping model for Python, on Linux and Windows.

Named shared memory with views (zero-copy through the buffer protocol, so
``numpy.frombuffer(view, dtype)`` works in place, and a view with buffers of it alive
refuses to close: ``BufferError``; not so ``numpy.ndarray(shape, dtype, buffer=view)``
or ``torch.frombuffer(view, ...)``, which let go of the buffer at once and keep only the
view object, so closing the view (or, on Windows, committing a copy-on-write one, which
maps its pages again elsewhere) leaves such an array over unmapped memory: use
``numpy.frombuffer``), file-backed mappings, robust named
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
``DisconnectedError`` a ``BrokenPipeError``, ``InvalidArgumentError`` a ``ValueError``;
they pickle whole (``errno`` and their attributes too), so a worker process's error
reaches its parent as it was.
A receive with no memory for a message's ``bytes`` raises ``MemoryError`` and keeps the
message for the next receive (a ``Receiver`` in its ring, the other receiving ends as a copy:
if there is no memory even for that copy, the message is lost, and the error says so); a
wait on many objects that includes such an end raises ``RuntimeError`` until it is received.

Threads: every object may be used from several threads at once (a view that one thread
reads or writes 64 KiB or more of, or flushes, with the GIL released, cannot be closed or
committed by another meanwhile, and one that a thread commits cannot be used by another
at all meanwhile: ``RuntimeError``). Calls of one endpoint (``Sender``, ``Receiver``,
``Publisher``, ``Subscriber``, ``Inbox``, ``InboxSender``, ``Server``, ``Client``) take
turns, first come first served; a call that waits takes one turn per slice of at most
50 ms, so another thread's call goes between two slices (a call's ``timeout=`` and Ctrl-C
cover its wait for a turn too, but for ``close()`` and ``Message.release()``, which wait
for their turn whatever comes): ``close()`` from another thread
ends a wait in the endpoint with ``ValueError`` ("... is closed") within one slice, and
threads sharing a receiving end get each message once (a ``Message`` from
``recv_message`` is its thread's until released or dropped: another thread's receive waits
for it, so one kept for ever holds the others up).
A ``Client.call`` is one thread's at a time. A mutex is
held by the thread that locked it: when that thread ends still holding it (a ``MutexGuard``
kept after it, say), the mutex is abandoned, as on Windows: the next lock, in any thread or
process, takes it and reports it abandoned.

Exit (CPython before 3.14, not on Windows): a thread that waits in a filemap call when the
program ends, a daemon thread say, would be ended by the interpreter's finalization in a
way that aborts the process. So an ``atexit`` handler filemap registers at import closes a
gate: from then on, a filemap call that released the GIL on any thread but the one running
the exit handlers parks that thread for good instead of returning, and the process exits
around it. What a parked thread holds stays held (an endpoint's turn, a mutex), and an exit
handler that joins it waits for ever. ``atexit`` runs handlers last registered first, so
one registered after ``import filemap`` runs before the gate closes: register handlers
that stop threads using filemap after importing it.

Fork (``os.fork``, as ``multiprocessing`` starts its workers on Linux before Python
3.14): a child's copy of an endpoint (``Sender``, ``Receiver``, ``Publisher``,
``Subscriber``, ``Inbox``, ``InboxSender``, ``Server``, ``Client``) stays the parent's:
every call on it raises ``UnsupportedError`` at once, and ``close()`` there only forgets
the copy; a child opens the endpoint again by its name (or is started with the ``spawn``
or ``forkserver`` method and given the name). A mutex or semaphore unit that a ``with``
block held when the child was made is the parent's: the block's end in the child gives
nothing back. Views stay mapped in the child, shared with the parent, as ``mmap.mmap``'s
do.

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
