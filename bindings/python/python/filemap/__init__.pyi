"""Type stubs of the filemap module (see the module's docstring)."""

import sys
from collections.abc import Iterator, Sequence
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import Literal, Self, final

if sys.version_info >= (3, 12):
    from collections.abc import Buffer
else:
    from typing_extensions import Buffer

__all__ = [
    "AccessDeniedError", "AlreadyExistsError", "BusyError", "Client", "CorruptError",
    "DisconnectedError", "Error", "Inbox", "InboxSender", "InvalidArgumentError",
    "KindMismatchError", "LaggedError", "Mapping", "Message", "MutexGuard", "NamedEvent",
    "NamedMutex", "NamedSemaphore", "NoSpaceError", "NotFoundError", "NotOwnerError",
    "PageFaultError", "Publisher", "Receiver", "RequestFailedError", "RequestId",
    "Sender", "Server", "Subscriber", "SystemCallError", "TimedOutError",
    "UnsupportedError", "View", "WouldDeadlockError", "allocation_granularity",
    "__version__", "page_size", "wait_all", "wait_any",
]

__version__: str

# Names of the stubs only (the module has no such objects): private.
_AccessMode = Literal["read", "write", "copy"]
_SlowSubscribers = Literal["block", "drop_oldest"]

class Error(Exception):
    """The base class of filemap's errors; `str(e)` says what was wrong and with what."""
class NotFoundError(Error, FileNotFoundError):
    """No object has that name, or a file does not exist."""
class AlreadyExistsError(Error, FileExistsError):
    """create_new found the name taken."""
class AccessDeniedError(Error, PermissionError):
    """Permissions, ownership or the access mode forbid it."""
class TimedOutError(Error, TimeoutError):
    """A wait ran past its timeout."""
class DisconnectedError(Error, BrokenPipeError):
    """The peer endpoint is gone (and everything it sent was received)."""
class InvalidArgumentError(Error, ValueError):
    """An argument is out of range or malformed (a name, a size, an offset, a count)."""
class NotOwnerError(Error, RuntimeError):
    """Releasing a mutex this thread does not hold."""
class WouldDeadlockError(Error, RuntimeError):
    """This thread already holds the mutex."""
class KindMismatchError(Error):
    """The name belongs to an object of another kind."""
class CorruptError(Error):
    """An object's shared state is damaged or of another layout."""
class LaggedError(Error):
    """A subscriber fell behind and missed messages (its `missed` attribute says how many)."""
    missed: int
class BusyError(Error):
    """The endpoint, slot or name is taken by a live process."""
class PageFaultError(Error, OSError):
    """The memory under a view could not be read or written (truncated file, I/O error)."""
class NoSpaceError(Error, OSError):
    """The system could not allocate the object's memory."""
class UnsupportedError(Error):
    """This platform or object cannot do what was asked."""
class RequestFailedError(Error):
    """A service's server failed the request (`Server.respond(..., failure=True)`): its `reason` attribute is what the server said."""
    reason: str
    request: RequestId
class SystemCallError(Error, OSError):
    """Any other operating-system error."""

def page_size() -> int:
    """The system's page size in bytes."""
def allocation_granularity() -> int:
    """The granularity of view offsets the system maps at (64 KiB on Windows)."""

@final
class Mapping:
    """A mapping object (Win32's file-mapping object): named memory that any process opens by
    name, an unnamed one, or a file's contents. It goes away when the last handle in any
    process closes, even if processes are killed."""

    @staticmethod
    def create_new(name: str, size: int, *, persistent: bool = False, permissions: int | None = None) -> Mapping:
        """Creates a named object of `size` bytes, zero-filled; `AlreadyExistsError` (a
        `FileExistsError`) if the name is taken. `persistent=True` keeps it after its last
        handle closes; `permissions` are Unix-style mode bits (default 0o600)."""
    @staticmethod
    def create_or_open(name: str, size: int, *, persistent: bool = False, permissions: int | None = None) -> tuple[Mapping, bool]:
        """Creates the named object or opens the existing one (which keeps its own size).
        Returns `(mapping, created)`."""
    @staticmethod
    def open(name: str, *, access: _AccessMode = "write") -> Mapping:
        """Opens an existing named object; `access` is the most its views may do: `"write"`
        (the default), `"read"` or `"copy"`. `NotFoundError` (a `FileNotFoundError`) if no
        object has that name."""
    @staticmethod
    def from_path(path: str | PathLike[str], *, size: int | None = None, name: str | None = None, readonly: bool = False) -> Mapping:
        """Maps a file (Win32's `CreateFile` + `CreateFileMapping`): `size` grows the file to
        that many bytes (default: the file's size); `name` also publishes it under a name;
        `readonly=True` opens the file read-only."""
    @staticmethod
    def unnamed(size: int) -> Mapping:
        """An unnamed object of `size` bytes, private to this process (and to processes it is
        handed to)."""
    @staticmethod
    def remove(name: str) -> None:
        """Removes a name now (Linux; holders keep their object)."""
    def view(self, offset: int = 0, length: int | None = None, *, access: _AccessMode | None = None) -> View:
        """Maps a view: `length` bytes at `offset` (any offset; default, or 0: to the end), with
        `access` `"read"`, `"write"` or `"copy"` (default: the most the mapping allows)."""
    @property
    def name(self) -> str | None:
        """The object's name (`Local\\...` or `Global\\...`), or `None` if unnamed."""
    @property
    def size(self) -> int:
        """The object's size in bytes."""
    @property
    def path(self) -> Path | None:
        """The backing file's path, for a file-backed object."""
    @property
    def persistent(self) -> bool:
        """Whether the object lives on after its last handle closes."""
    @property
    def creator_pid(self) -> int:
        """The process id of the object's creator."""
    @property
    def closed(self) -> bool:
        """Whether `close()` was called."""
    def close(self) -> None:
        """Closes this handle (views stay valid); the object goes away with its last handle."""
    def __len__(self) -> int: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None) -> None: ...

@final
class View(Buffer):
    """A view of a mapping: the shared bytes, usable in place through the buffer protocol
    (`memoryview(view)`, `numpy.frombuffer(view, dtype)`), or copied with `read` and
    `write`. A view stays valid after its mapping is closed; it is unmapped by `close()`,
    which refuses while buffers exported from it are alive (like `mmap.mmap`; a `with`
    block that ends with an exception raises that exception, and the view is unmapped
    when it is collected, after those buffers). Not so an array that lets go of the buffer
    at once and keeps only the view object (`numpy.ndarray(shape, dtype, buffer=view)`,
    `torch.frombuffer(view, ...)`): after `close()` (and on Windows after `commit()`, which
    maps a copy-on-write view's pages again elsewhere) it points into unmapped memory, and
    touching it crashes the process, as with `mmap.mmap`; use `numpy.frombuffer`, or
    close the view only once such arrays are gone. Bytes used
    in place are plain memory: if another process truncates the view's file, touching them
    ends this process (SIGBUS on Linux, as with `mmap.mmap`); `read` and `write` raise
    `PageFaultError` instead."""

    def read(self, offset: int = 0, length: int | None = None) -> bytes:
        """Copies `length` bytes at `offset` (default: to the end) out of the view: sound
        whatever other processes write meanwhile."""
    def write(self, offset: int, data: Buffer) -> None:
        """Copies `data` (bytes or any C-contiguous buffer) into the view at `offset`."""
    def flush(self) -> None:
        """Flushes the view to its file and the file to its device (durable on return)."""
    def modified_pages(self) -> list[int]:
        """For a copy-on-write view: the offsets of the pages written since it was mapped."""
    def commit(self) -> int:
        """For a copy-on-write view: copies the changed pages back into the object; returns how
        many. It takes the view for itself while it runs (it maps the pages again: on Windows
        at another address, so an array that kept only the view object, as
        `numpy.ndarray(shape, dtype, buffer=view)` does, is left over unmapped memory; one
        from `numpy.frombuffer` keeps a buffer, and the commit refuses with `BufferError`):
        a call on the view from another thread meanwhile raises `RuntimeError` (already
        borrowed), as a commit does while another thread's read, write or flush of 64 KiB or
        more runs."""
    @property
    def offset(self) -> int:
        """The view's offset in its object."""
    @property
    def size(self) -> int:
        """The view's length in bytes."""
    @property
    def access(self) -> _AccessMode:
        """`"read"`, `"write"` or `"copy"`."""
    @property
    def readonly(self) -> bool:
        """Whether the view is read-only."""
    @property
    def closed(self) -> bool:
        """Whether `close()` was called."""
    def close(self) -> None:
        """Unmaps the view; `BufferError` while buffers exported from it are alive."""
    def __len__(self) -> int: ...
    # The buffer protocol is there on every version; its method, from Python 3.12.
    if sys.version_info >= (3, 12):
        def __buffer__(self, flags: int, /) -> memoryview: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None) -> None: ...

@final
class MutexGuard:
    """A held lock of a `NamedMutex`: `abandoned` tells whether its previous holder died
    holding it (check the state it protects). Unlock with `release()` or by leaving its
    `with` block, on the thread that locked it (`NotOwnerError` on another, as Win32's
    `ReleaseMutex` fails there)."""

    @property
    def abandoned(self) -> bool:
        """Whether the previous holder died holding the mutex (`WAIT_ABANDONED`)."""
    def release(self) -> None:
        """Unlocks the mutex (once; later calls do nothing, as for the guard of a `with mutex
        as guard:` block, which holds nothing: the block's end unlocks)."""
    def __enter__(self) -> Self: ...
    def __exit__(self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None) -> None: ...

@final
class NamedMutex:
    """A named, robust, cross-process mutex. If its holder dies, the next lock succeeds and
    says so (`guard.abandoned`, Win32's `WAIT_ABANDONED`). Use it as a context manager:
    `with mutex as guard:`; a lock belongs to the thread that took it. `close()` lets go of
    the handle (garbage collection does too)."""

    @staticmethod
    def create_new(name: str) -> NamedMutex:
        """Creates a named mutex; `AlreadyExistsError` if the name is taken."""
    @staticmethod
    def create_or_open(name: str) -> tuple[NamedMutex, bool]:
        """Creates the named mutex or opens the existing one; returns `(mutex, created)`."""
    @staticmethod
    def open(name: str) -> NamedMutex:
        """Opens an existing named mutex."""
    def lock(self, timeout: float | None = None) -> MutexGuard:
        """Locks the mutex, waiting up to `timeout` seconds (`None`: for ever); returns the
        guard, whose `abandoned` says whether the previous holder died holding it.
        `TimedOutError` after the timeout; `WouldDeadlockError` if this thread holds it."""
    def try_lock(self) -> MutexGuard | None:
        """Locks the mutex if it is free now; `None` if another holds it."""
    def release(self) -> None:
        """Unlocks a lock this thread took through `wait_any` or `wait_all` (those taken with
        `lock()` are unlocked through their guard, and `with mutex:` unlocks at the block's
        end); `NotOwnerError` if this thread does not hold it."""
    @property
    def name(self) -> str:
        """The mutex's full name."""
    def close(self) -> None:
        """Lets go of this handle (again: nothing); using it afterwards is a `ValueError`. A
        lock held through a guard or a `with` block stays until the guard or the block's end
        releases it; one taken through `wait_any` or `wait_all` and not released cannot be
        released any more: it goes as a lock whose handle closed does (Linux: the next
        locker takes it as abandoned at once; Windows: when this thread exits)."""
    @property
    def closed(self) -> bool:
        """Whether `close()` was called."""
    def __enter__(self) -> MutexGuard: ...
    def __exit__(self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None) -> None: ...

@final
class NamedEvent:
    """A named event (Win32's `CreateEvent`): `set` wakes waiters; a manual-reset event stays
    set until `reset`, an auto-reset one releases one waiter per `set`."""

    @staticmethod
    def create_new(name: str, *, manual_reset: bool = False, initially_set: bool = False) -> NamedEvent:
        """Creates a named event; `AlreadyExistsError` if the name is taken."""
    @staticmethod
    def create_or_open(name: str, *, manual_reset: bool = False, initially_set: bool = False) -> tuple[NamedEvent, bool]:
        """Creates the named event or opens the existing one; returns `(event, created)`."""
    @staticmethod
    def open(name: str) -> NamedEvent:
        """Opens an existing named event."""
    def set(self) -> None:
        """Sets the event."""
    def reset(self) -> None:
        """Resets the event."""
    def wait(self, timeout: float | None = None) -> None:
        """Waits until the event is set, up to `timeout` seconds (`None`: for ever);
        `TimedOutError` after that."""
    def try_wait(self) -> bool:
        """`True` if the event was set (an auto-reset event's signal is taken), without
        waiting."""
    @property
    def reset_mode(self) -> Literal["manual", "auto"] | None:
        """Whether the event resets itself (`"auto"`) or stays set (`"manual"`); `None` where
        the system does not say."""
    @property
    def name(self) -> str:
        """The event's full name."""
    def close(self) -> None:
        """Lets go of this handle (again: nothing); using it afterwards is a `ValueError`. The
        event goes with its last handle in any process."""
    @property
    def closed(self) -> bool:
        """Whether `close()` was called."""
    def __enter__(self) -> Self: ...
    def __exit__(self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None) -> None: ...

@final
class NamedSemaphore:
    """A named counting semaphore (Win32's `CreateSemaphore`)."""

    @staticmethod
    def create_new(name: str, initial: int, maximum: int) -> NamedSemaphore:
        """Creates a named semaphore with `initial` units and at most `maximum`."""
    @staticmethod
    def create_or_open(name: str, initial: int, maximum: int) -> tuple[NamedSemaphore, bool]:
        """Creates the named semaphore or opens the existing one (which keeps its counts);
        returns `(semaphore, created)`."""
    @staticmethod
    def open(name: str) -> NamedSemaphore:
        """Opens an existing named semaphore."""
    def release(self, count: int = 1) -> int:
        """Adds `count` units; returns the count before. `InvalidArgumentError` (a
        `ValueError`) past the maximum."""
    def acquire(self, timeout: float | None = None) -> None:
        """Takes a unit, waiting up to `timeout` seconds (`None`: for ever)."""
    def try_acquire(self) -> bool:
        """Takes a unit if one is there now."""
    @property
    def count(self) -> int | None:
        """The current count, where the system tells."""
    @property
    def maximum(self) -> int | None:
        """The maximum count, where it is known (on Windows only to the semaphore's creator)."""
    @property
    def name(self) -> str:
        """The semaphore's full name."""
    def close(self) -> None:
        """Lets go of this handle (again: nothing); using it afterwards is a `ValueError`. Units
        taken stay taken; a `with` block in progress gives its unit back at its end."""
    @property
    def closed(self) -> bool:
        """Whether `close()` was called."""
    def __enter__(self) -> None: ...
    def __exit__(self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None) -> None: ...

@final
class Sender:
    """The sending end of a channel: messages of any length up to `max_message_len`, each
    received once, in order, by the one `Receiver`. A channel joins one sender and one
    receiver at a time; either may be opened first."""

    @staticmethod
    def create_or_open(name: str, capacity: int) -> Sender:
        """Creates the channel with `capacity` bytes of ring, or opens it, as its sender.
        `BusyError` if a live sender has it."""
    @staticmethod
    def open(name: str) -> Sender:
        """Opens an existing channel as its sender."""
    def send(self, data: Buffer, timeout: float | None = None) -> None:
        """Sends `data` (bytes or any contiguous buffer), waiting up to `timeout` seconds for
        room (`None`: for ever). `DisconnectedError` if the receiver is gone while it waits
        for room (a message that fits is written, as for a receiver that has yet to read);
        `InvalidArgumentError` if the message can never fit."""
    def try_send(self, data: Buffer) -> bool:
        """Sends `data` if there is room now; returns whether it was sent."""
    @property
    def name(self) -> str:
        """The channel's full name."""
    @property
    def capacity(self) -> int:
        """The ring's size in bytes."""
    @property
    def max_message_len(self) -> int:
        """The longest message the channel carries."""
    def close(self) -> None:
        """Closes the sender: the receiver gets what was sent, then `DisconnectedError`. A call
        of another thread waiting in it raises `ValueError` at its next slice."""
    def __enter__(self) -> Self: ...
    def __exit__(self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None) -> None: ...

@final
class Message(Buffer):
    """A received message lent in place: a read-only buffer (`memoryview(msg)`,
    `numpy.frombuffer(msg, dtype)`, `bytes(msg)`). Its space goes back to the sender when
    its `with` block ends or at `release()` (a `with` block that ends with an exception
    while buffers of the message are alive raises that exception, and the message stays
    held, as `release()` would have left it)."""

    def release(self) -> None:
        """Gives the message's space back to the sender (once; later calls do nothing);
        `BufferError` while buffers of it (memoryviews, arrays) are alive."""
    def tobytes(self) -> bytes:
        """A copy of the message."""
    def __len__(self) -> int: ...
    # The buffer protocol is there on every version; its method, from Python 3.12.
    if sys.version_info >= (3, 12):
        def __buffer__(self, flags: int, /) -> memoryview: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None) -> None: ...

@final
class Receiver:
    """The receiving end of a channel. `recv()` returns each message as `bytes`;
    `recv_message()` lends it in place (zero-copy) as a context manager; iterating yields
    messages until the sender is gone."""

    @staticmethod
    def create_or_open(name: str, capacity: int) -> Receiver:
        """Creates the channel with `capacity` bytes of ring, or opens it, as its receiver."""
    @staticmethod
    def open(name: str) -> Receiver:
        """Opens an existing channel as its receiver."""
    def recv(self, timeout: float | None = None) -> bytes:
        """The next message as `bytes`, waiting up to `timeout` seconds (`None`: for ever).
        `DisconnectedError` once the sender is gone and everything it sent was received: a
        wait learns of it at once, a try (`timeout=0`, `try_recv`) within 50 ms (the
        liveness interval), saying `TimedOutError` (or `None`) until then."""
    def try_recv(self) -> bytes | None:
        """The next message if one is there now, else `None`."""
    def recv_message(self, timeout: float | None = None) -> Message:
        """The next message, in place: a `Message` to use in a `with` block
        (`memoryview(msg)`, `numpy.frombuffer(msg, dtype)`); its space goes back to the
        sender when the block ends (or at `release()`, or at the next receive). Copy out
        what must outlive the block: while a memoryview or array of the message is alive,
        releasing it (and so receiving again or closing) raises `BufferError`. Not so an
        array made by `numpy.ndarray(shape, dtype, buffer=msg)` or a tensor made by
        `torch.frombuffer(msg, ...)`, which let go of the buffer at once: it reads what the
        sender writes there next, and after the receiver's `close` unmapped memory (the
        process crashes); use `numpy.frombuffer`.
        The message is this thread's: another thread's receive waits until it is released or dropped."""
    @property
    def name(self) -> str:
        """The channel's full name."""
    def close(self) -> None:
        """Closes the receiver; `BufferError` while buffers of its held message are alive. A
        call of another thread waiting in it raises `ValueError` at its next slice."""
    def __iter__(self) -> Iterator[bytes]: ...
    def __next__(self) -> bytes: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None) -> None: ...

@final
class Publisher:
    """The publishing end of a topic. Its options are fixed by whoever creates the topic:
    `capacity` bytes of ring, up to `max_subscribers`, the last `history` messages kept for
    late joiners, and what to do with slow subscribers (`"block"`: wait for them;
    `"drop_oldest"`: never wait, they are told how many they missed)."""

    @staticmethod
    def create_or_open(name: str, *, capacity: int = 1048576, max_subscribers: int = 8, history: int = 0, slow_subscribers: _SlowSubscribers = "block") -> Publisher:
        """Creates the topic or opens it, as its publisher."""
    @staticmethod
    def open(name: str) -> Publisher:
        """Opens an existing topic as its publisher (taking over from a dead one)."""
    def publish(self, data: Buffer, timeout: float | None = None) -> None:
        """Publishes `data` (bytes or any contiguous buffer), waiting up to `timeout` seconds
        for slow subscribers under `"block"` (`None`: for ever)."""
    def try_publish(self, data: Buffer) -> bool:
        """Publishes `data` if it can go now; returns whether it went."""
    @property
    def subscribers(self) -> int:
        """How many subscribers are connected."""
    @property
    def max_subscribers(self) -> int:
        """How many subscribers can be connected at once (set when the topic was made)."""
    @property
    def next_sequence(self) -> int:
        """The sequence number the next message will carry."""
    @property
    def name(self) -> str:
        """The topic's full name."""
    def close(self) -> None:
        """Closes the publisher: subscribers get every message, then `DisconnectedError`. A
        call of another thread waiting in it raises `ValueError` at its next slice."""
    def __enter__(self) -> Self: ...
    def __exit__(self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None) -> None: ...

@final
class Subscriber:
    """A subscriber of a topic: `recv()` returns each message as `bytes`; iterating yields
    them until the publisher is gone. Under `"drop_oldest"`, a subscriber that fell behind
    gets `LaggedError` (with `missed`) once, then goes on at the oldest message still
    there: from a `for` loop too, which it ends (iterate again to go on)."""

    @staticmethod
    def open(name: str) -> Subscriber:
        """Subscribes to an existing topic, starting with its history (if it keeps one)."""
    @staticmethod
    def open_latest(name: str) -> Subscriber:
        """Subscribes to an existing topic, starting with the next message published."""
    @staticmethod
    def create_or_open(name: str, *, capacity: int = 1048576, max_subscribers: int = 8, history: int = 0, slow_subscribers: _SlowSubscribers = "block") -> Subscriber:
        """Creates the topic (with these options) or opens it, and subscribes."""
    def recv(self, timeout: float | None = None) -> bytes:
        """The next message as `bytes`, waiting up to `timeout` seconds (`None`: for ever).
        `DisconnectedError` once the publisher is gone and every message was received;
        `LaggedError` after messages were missed."""
    def try_recv(self) -> bytes | None:
        """The next message if one is there now, else `None`."""
    @property
    def last_sequence(self) -> int | None:
        """The sequence number of the last message this thread received (`None` before its
        first)."""
    @property
    def name(self) -> str:
        """The topic's full name."""
    def close(self) -> None:
        """Leaves the topic. A call of another thread waiting in it raises `ValueError` at its
        next slice."""
    def __iter__(self) -> Iterator[bytes]: ...
    def __next__(self) -> bytes: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None) -> None: ...

@final
class Inbox:
    """The receiving end of an inbox: messages from up to `senders` `InboxSender`s, each
    sender's in its order. `recv()` returns `(slot, message)`, the sender's slot and the
    message as `bytes`."""

    @staticmethod
    def create_or_open(name: str, *, senders: int = 8, capacity: int = 65536) -> Inbox:
        """Creates the inbox (`senders` slots, a ring of `capacity` bytes each) or opens it, as
        its receiver."""
    @staticmethod
    def open(name: str) -> Inbox:
        """Opens an existing inbox as its receiver."""
    def recv(self, timeout: float | None = None) -> tuple[int, bytes]:
        """The next message from any sender, waiting up to `timeout` seconds (`None`: for
        ever): `(slot, message)`. `DisconnectedError` once every sender that came is gone
        and everything was received."""
    def try_recv(self) -> tuple[int, bytes] | None:
        """The next message if one is there now, else `None`."""
    @property
    def senders(self) -> int:
        """How many senders are connected."""
    @property
    def name(self) -> str:
        """The inbox's full name."""
    def close(self) -> None:
        """Closes the receiving end."""
    def __iter__(self) -> Iterator[tuple[int, bytes]]: ...
    def __next__(self) -> tuple[int, bytes]: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None) -> None: ...

@final
class InboxSender:
    """One sender of an inbox, in a slot of its own (`slot`)."""

    @staticmethod
    def open(name: str) -> InboxSender:
        """Takes a free sender slot of an existing inbox; `BusyError` if every slot has a live
        sender."""
    @staticmethod
    def create_or_open(name: str, *, senders: int = 8, capacity: int = 65536) -> InboxSender:
        """Like `open`, creating the inbox with these options if it does not exist."""
    def send(self, data: Buffer, timeout: float | None = None) -> None:
        """Sends `data` (bytes or any contiguous buffer), waiting up to `timeout` seconds for
        room (`None`: for ever)."""
    def try_send(self, data: Buffer) -> bool:
        """Sends `data` if there is room now; returns whether it was sent."""
    @property
    def slot(self) -> int:
        """This sender's slot (what the inbox's `recv` says a message came from); `ValueError`
        once closed (the slot may be another sender's by then)."""
    @property
    def name(self) -> str:
        """The inbox's full name."""
    def close(self) -> None:
        """Leaves the inbox (the slot becomes free)."""
    def __enter__(self) -> Self: ...
    def __exit__(self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None) -> None: ...

@final
class RequestId:
    """Which request a response answers: the client's slot and the client's number for it. A
    value: compared, hashed, copied and pickled as its two numbers (a `RequestFailedError`
    raised in a worker process reaches its parent whole)."""

    def __new__(cls, client: int, number: int) -> Self: ...
    @property
    def client(self) -> int:
        """The slot of the client that sent the request."""
    @property
    def number(self) -> int:
        """The client's number for the request."""
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Server:
    """The server of a service: receives requests from up to `clients` clients and answers
    each with one or more responses."""

    @staticmethod
    def create_or_open(name: str, *, clients: int = 8, capacity: int = 65536) -> Server:
        """Creates the service (`clients` slots, rings of `capacity` bytes) or opens it, as its
        server (taking over from a dead one)."""
    @staticmethod
    def open(name: str) -> Server:
        """Opens an existing service as its server."""
    def recv_request(self, timeout: float | None = None) -> tuple[RequestId, bytes]:
        """The next request, waiting up to `timeout` seconds (`None`: for ever):
        `(request_id, payload)`."""
    def respond(
        self,
        request: RequestId,
        data: Buffer,
        *,
        last: bool = True,
        failure: bool = False,
        timeout: float | None = None,
    ) -> None:
        """Sends a response to `request`: the last one unless `last=False` (a stream of
        responses, ended by one with `last=True`). `failure=True` fails the request
        instead, `data` saying why: the client's `call` or `recv_response` raises
        `RequestFailedError` with it (a failure is always the last response). Waits while
        the client's response ring is full, up to `timeout` seconds (`None`: for ever), with
        the GIL released. A client that is gone does not get it."""
    @property
    def clients(self) -> int:
        """How many clients are connected."""
    @property
    def name(self) -> str:
        """The service's full name."""
    def close(self) -> None:
        """Stops serving: clients' pending requests fail with `DisconnectedError`."""
    def __iter__(self) -> Iterator[tuple[RequestId, bytes]]: ...
    def __next__(self) -> tuple[RequestId, bytes]: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None) -> None: ...

@final
class Client:
    """A client of a service, in a slot of its own: sends requests and receives exactly its own
    responses."""

    @staticmethod
    def open(name: str) -> Client:
        """Takes a free client slot of an existing service; `BusyError` if all are taken."""
    @staticmethod
    def create_or_open(name: str, *, clients: int = 8, capacity: int = 65536) -> Client:
        """Like `open`, creating the service with these options if it does not exist."""
    def send_request(self, data: Buffer, timeout: float | None = None) -> RequestId:
        """Sends a request, waiting up to `timeout` seconds (`None`: for ever) while the
        request ring is full; its id."""
    def recv_response(self, timeout: float | None = None) -> tuple[RequestId, bytes, bool]:
        """The next response to one of this client's requests, waiting up to `timeout` seconds
        (`None`: for ever): `(request_id, payload, last)`. `RequestFailedError` if the server
        failed the request (its `request` attribute says which, `reason` why: that request
        is no longer pending). `DisconnectedError` if the server
        is gone: every pending request has failed; or if a server died holding some of them
        and a new one took over: those have failed, the others stay pending (`is_pending`).
        With no request pending it waits too (unlike Rust's and C's receive without a
        timeout, which refuse it): another thread may send one meanwhile."""
    def call(self, data: Buffer, timeout: float | None = None) -> bytes:
        """Sends a request and returns all of its responses joined, waiting up to `timeout`
        seconds in all (`None`: for ever). Only with no other request pending (their
        responses would be lost): `UnsupportedError` otherwise. A call that fails after
        sending gives its request up (its late responses are dropped). While another
        thread's call is under way this one waits for it to end; while a call is under way,
        another thread's `send_request` or `recv_response` raises `UnsupportedError`."""
    @property
    def pending(self) -> int:
        """How many requests wait for their last response (one whose last response a receive
        kept, having no memory for its bytes, included)."""
    def is_pending(self, id: RequestId) -> bool:
        """Whether request `id` waits for its last response (not received in full, not
        failed)."""
    @property
    def server_alive(self) -> bool:
        """Whether a server is connected and alive now: after `DisconnectedError`, tells a
        server that is gone from one that took over."""
    @property
    def name(self) -> str:
        """The service's full name."""
    def close(self) -> None:
        """Leaves the service (pending responses are dropped)."""
    def __enter__(self) -> Self: ...
    def __exit__(self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None) -> None: ...

_Waitable = NamedEvent | NamedSemaphore | NamedMutex | Receiver | Subscriber | Inbox | Server

def wait_any(objects: Sequence[_Waitable], timeout: float | None = None) -> tuple[int, bool]:
    """Waits until one of `objects` is ready (Win32's `WaitForMultipleObjects` with
    `bWaitAll=FALSE`) and takes it: an auto-reset event's signal, a semaphore's unit, a
    mutex's lock (release it with `mutex.release()`); a receiver, subscriber or inbox is ready
    when a message is there (or its peer is gone), a server when a request is. Returns `(index, abandoned)`: the lowest index
    ready, and whether it is a mutex whose holder died. `TimedOutError` after `timeout`
    seconds (`None`: for ever). A receiver in `objects` lets go of a message it holds from
    `recv_message` (as its next receive would): copy out what must outlive the wait."""
def wait_all(objects: Sequence[_Waitable], timeout: float | None = None) -> list[bool]:
    """Waits until every one of `objects` is ready at once and takes them all together
    (`bWaitAll=TRUE`): never some of them while waiting for the others. Returns, for each,
    whether it is a mutex whose holder died (on Windows every mutex of the set, when one's
    was: its wait names only one). Mutexes taken stay locked until `mutex.release()`. A
    receiver in `objects` lets go of a message it holds from `recv_message`."""
