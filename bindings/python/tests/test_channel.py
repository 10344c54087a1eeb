"""Channels and topics between Python processes and between Python and Rust: every
message exactly once and in order, zero-copy receive, a killed peer seen as
DisconnectedError, and topic lag."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import filemap
from threads import run
from conftest import LIMIT_ADDRESS_SPACE, python_child


def test_channel_between_python_processes_every_message_in_order(name):
    rx = filemap.Receiver.create_or_open(name, 1 << 16)
    child = python_child(
        "import sys, filemap\n"
        "tx = filemap.Sender.open(sys.argv[1])\n"
        "for i in range(20000):\n"
        "    tx.send(i.to_bytes(4, 'little') * (1 + i % 50))\n"
        "tx.close()\n",
        name,
    )
    received = 0
    for message in rx:  # ends when the sender is gone
        assert message == received.to_bytes(4, "little") * (1 + received % 50)
        received += 1
    assert received == 20000
    _, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    rx.close()


def test_channel_round_trips_with_a_rust_process(name, filemap_cli):
    tx = filemap.Sender.create_or_open(name + "-there", 1 << 16)
    rx = filemap.Receiver.create_or_open(name + "-back", 1 << 16)
    echo = subprocess.Popen(
        [filemap_cli, "bench-partner", "channel-echo", name + "-there", name + "-back", "blocking"]
    )
    try:
        for i in range(1000):
            message = np.arange(i % 100, dtype=np.int64)
            tx.send(message)
            assert np.array_equal(np.frombuffer(rx.recv(timeout=30), dtype=np.int64), message)
        tx.close()  # the echo sees Disconnected and exits
        assert echo.wait(timeout=60) == 0
    finally:
        # (A failed assertion leaves nothing running.)
        if echo.poll() is None:
            echo.kill()
            echo.wait()
    with pytest.raises(filemap.DisconnectedError) as info:
        rx.recv(timeout=30)
    assert isinstance(info.value, BrokenPipeError)
    rx.close()


def test_zero_copy_receive_as_a_context_manager(name):
    tx = filemap.Sender.create_or_open(name, 1 << 20)
    rx = filemap.Receiver.open(name)
    tx.send(np.arange(1000, dtype=np.float32))
    tx.send(b"second")
    with rx.recv_message(timeout=10) as message:
        array = np.frombuffer(message, dtype=np.float32)  # in the ring, no copy
        assert array.sum() == sum(range(1000)) and not array.flags.writeable
        assert len(message) == 4000
        with pytest.raises(BufferError):
            rx.close()  # the array still uses the ring
        del array
    with pytest.raises(BufferError):
        memoryview(message)  # released with its block
    assert rx.recv(timeout=10) == b"second"
    # A message is released by the next receive too.
    tx.send(b"third")
    tx.send(b"fourth")
    held = rx.recv_message(timeout=10)
    assert held.tobytes() == b"third"
    assert rx.recv(timeout=10) == b"fourth"
    with pytest.raises(ValueError):
        held.tobytes()
    tx.close()
    rx.close()


def test_a_killed_sender_is_seen_after_its_messages(name):
    rx = filemap.Receiver.create_or_open(name, 1 << 16)
    child = python_child(
        "import sys, time, filemap\n"
        "tx = filemap.Sender.open(sys.argv[1])\n"
        "for i in range(100):\n"
        "    tx.send(b'%d' % i)\n"
        "print('sent', flush=True)\n"
        "time.sleep(600)\n",
        name,
    )
    try:
        assert child.stdout.readline().strip() == "sent"
    finally:
        # (Killed here whatever it said: a failed assertion leaves nothing running.)
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=60)
    assert [rx.recv(timeout=30) for _ in range(100)] == [b"%d" % i for i in range(100)]
    with pytest.raises(filemap.DisconnectedError):
        rx.recv(timeout=30)
    rx.close()


def test_channel_errors(name):
    tx = filemap.Sender.create_or_open(name, 4096)
    with pytest.raises(filemap.BusyError):
        filemap.Sender.open(name)  # one live sender at a time
    with pytest.raises(ValueError):
        tx.send(b"x" * (tx.max_message_len + 1))
    with pytest.raises(TypeError):
        tx.send("text is not bytes")
    rx = filemap.Receiver.open(name)
    assert rx.try_recv() is None
    with pytest.raises(filemap.TimedOutError):
        rx.recv(timeout=0)
    with pytest.raises(filemap.KindMismatchError):
        filemap.Mapping.open(name)
    tx.close()
    with pytest.raises(ValueError, match="closed"):
        tx.send(b"x")
    # A receiver that only polls learns that the sender left (within 50 ms; bounded here).
    with pytest.raises(filemap.DisconnectedError):
        for _ in range(1_000_000):
            assert rx.try_recv() is None
    with pytest.raises(filemap.DisconnectedError):
        for _ in range(1_000_000):
            try:
                rx.recv(timeout=0)
            except filemap.TimedOutError:
                pass
    rx.close()


def test_topic_from_python_to_rust_and_back(name, filemap_cli):
    publisher = filemap.Publisher.create_or_open(name, capacity=1 << 16, history=4)
    for i in range(4):
        publisher.publish(b"history %d" % i)
    rust_sub = subprocess.run(
        [filemap_cli, "sub", "--count", "4", "--json", name],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rust_sub.returncode == 0, rust_sub.stderr
    rows = [json.loads(line) for line in rust_sub.stdout.splitlines()]
    assert [r["seq"] for r in rows] == [0, 1, 2, 3]
    assert rows[3]["message"] == "history 3"
    publisher.close()
    # Rust publishes, Python subscribes.
    sub = filemap.Subscriber.create_or_open(name + "-2", capacity=1 << 16)
    rust_pub = subprocess.run(
        [filemap_cli, "pub", name + "-2"], input="one\ntwo\nthree\n", text=True, timeout=60
    )
    assert rust_pub.returncode == 0
    assert list(sub) == [b"one", b"two", b"three"]
    assert sub.last_sequence == 2
    sub.close()


def test_topic_lag_under_drop_oldest(name):
    publisher = filemap.Publisher.create_or_open(
        name, capacity=4096, slow_subscribers="drop_oldest"
    )
    sub = filemap.Subscriber.open(name)
    assert (publisher.subscribers, publisher.max_subscribers) == (1, 8)
    for i in range(1000):
        publisher.publish(b"%04d" % i)
    with pytest.raises(filemap.LaggedError) as info:
        sub.recv(timeout=10)
    assert info.value.missed > 0
    rest = [sub.recv(timeout=10) for _ in range(1000 - info.value.missed)]
    assert rest[-1] == b"0999"
    with pytest.raises(ValueError):
        filemap.Publisher.create_or_open(name + "-x", slow_subscribers="sometimes")
    publisher.close()
    sub.close()


def _multiprocessing_producer(name, count):
    with filemap.Sender.open(name) as tx:
        for i in range(count):
            tx.send(np.full(8, i, dtype=np.int64))


def test_multiprocessing_workers_send_numpy_arrays(name):
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # a fresh interpreter, as on Windows
    receivers = [filemap.Receiver.create_or_open(f"{name}-{k}", 1 << 16) for k in range(2)]
    workers = [
        context.Process(target=_multiprocessing_producer, args=(f"{name}-{k}", 500))
        for k in range(2)
    ]
    for w in workers:
        w.start()
    for rx in receivers:
        sums = [int(np.frombuffer(m, dtype=np.int64).sum()) for m in rx]
        assert sums == [8 * i for i in range(500)]
        rx.close()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0


def test_a_message_in_use_is_never_released_under_its_buffers(name):
    """The sequences that would otherwise hand out memory the sender reuses or unmaps."""
    tx = filemap.Sender.create_or_open(name, 1 << 16)
    rx = filemap.Receiver.open(name)
    tx.send(b"first")
    tx.send(b"second")
    message = rx.recv_message(timeout=10)
    view = memoryview(message)
    for refused in (rx.recv, rx.try_recv, rx.close, message.release):
        with pytest.raises(BufferError):
            refused()
    with pytest.raises(BufferError):
        filemap.wait_any([rx], timeout=0)
    assert bytes(view) == b"first"  # still the message, still mapped
    view.release()
    message.release()
    with pytest.raises(BufferError):
        memoryview(message)
    # Leaving the block with an array of the message still alive is refused too.
    with pytest.raises(BufferError):
        with rx.recv_message(timeout=10) as m:
            kept = np.frombuffer(m, dtype=np.uint8)
    assert kept.tobytes() == b"second"
    del kept
    m.release()
    # Closing the receiver makes its messages unusable (no buffer over an unmapped ring).
    tx.send(b"third")
    message = rx.recv_message(timeout=10)
    rx.close()
    with pytest.raises(BufferError):
        memoryview(message)
    with pytest.raises(ValueError):
        message.tobytes()
    tx.close()


def test_a_receivers_with_block_keeps_its_own_exception(name):
    """A block that ends with an exception while a message's buffer is alive raises that
    exception, not the refused close's BufferError (the receiver closes when collected)."""
    tx = filemap.Sender.create_or_open(name, 1 << 16)
    tx.send(b"kept")
    with pytest.raises(KeyError, match="mine"):
        with filemap.Receiver.open(name) as rx:
            kept = memoryview(rx.recv_message(timeout=10))
            raise KeyError("mine")
    assert bytes(kept) == b"kept"
    kept.release()
    assert rx.try_recv() is None  # still open
    rx.close()
    tx.close()


@pytest.mark.skipif(sys.platform == "win32", reason="address-space limits are POSIX")
def test_a_send_whose_copy_cannot_be_had_is_a_memory_error(name):
    # A mutable buffer is copied before it is sent: a copy the address space has no room
    # for raises MemoryError (it aborted the process), and the channel goes on.
    child = python_child(
        LIMIT_ADDRESS_SPACE + "import sys, filemap\n"
        "rx = filemap.Receiver.create_or_open(sys.argv[1], 1 << 16)\n"
        "tx = filemap.Sender.open(sys.argv[1])\n"
        "data = bytearray(64 << 20)\n"
        "lift = limit_address_space(16 << 20)\n"
        "try:\n"
        "    tx.send(data, timeout=5)\n"
        "    print('no MemoryError')\n"
        "except MemoryError:\n"
        "    print('MemoryError')\n"
        "lift()\n"
        "tx.send(bytearray(b'next'), timeout=5)\n"
        "print(rx.recv(timeout=5))\n"
        "tx.close()\n"
        "rx.close()\n",
        name,
    )
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert out.split("\n")[:2] == ["MemoryError", "b'next'"], (out, err)


@pytest.mark.skipif(sys.platform == "win32", reason="address-space limits are POSIX")
def test_a_receive_that_runs_out_of_memory_keeps_its_message(name):
    # A receive whose bytes cannot be allocated raises MemoryError, and the message stays
    # for the next receive (before, it was let go of: the next receive returned the one
    # after it). Run in a child, whose address space is limited for the one receive.
    child = python_child(
        LIMIT_ADDRESS_SPACE + "import sys, filemap\n"
        "rx = filemap.Receiver.create_or_open(sys.argv[1], 128 << 20)\n"
        "tx = filemap.Sender.open(sys.argv[1])\n"
        "tx.send(b'x' * (64 << 20))\n"
        "tx.send(b'next')\n"
        "lift = limit_address_space(16 << 20)\n"
        "try:\n"
        "    rx.recv(timeout=5)\n"
        "    print('no MemoryError')\n"
        "except MemoryError:\n"
        "    print('MemoryError')\n"
        "lift()\n"
        "print(len(rx.recv(timeout=5)), rx.recv(timeout=5))\n"
        "tx.close()\n"
        "rx.close()\n",
        name,
    )
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert out.split("\n")[:2] == ["MemoryError", f"{64 << 20} b'next'"], (out, err)


@pytest.mark.skipif(sys.platform == "win32", reason="address-space limits are POSIX")
def test_a_message_not_delivered_goes_to_a_receive_already_waiting(name):
    # Another thread waits in recv while this one holds a message (recv_message); this
    # thread's next receive runs out of memory making the bytes of the one after: that
    # message stays for a receive, the waiting one included (the waiting one let go of it,
    # and got the message after it).
    child = python_child(
        LIMIT_ADDRESS_SPACE + "import sys, threading, time, filemap\n"
        "rx = filemap.Receiver.create_or_open(sys.argv[1], 128 << 20)\n"
        "tx = filemap.Sender.open(sys.argv[1])\n"
        "tx.send(b'held')\n"
        "held = rx.recv_message(timeout=5)\n"
        "got = []\n"
        "def other():\n"
        "    try:\n"
        "        got.append(len(rx.recv(timeout=20)))\n"
        "    except MemoryError:\n"
        "        got.append('MemoryError')\n"
        "waiter = threading.Thread(target=other)\n"
        "waiter.start()\n"
        "time.sleep(0.5)\n"
        "tx.send(b'x' * (64 << 20))\n"
        "tx.send(b'next')\n"
        "lift = limit_address_space(16 << 20)\n"
        "try:\n"
        "    rx.recv(timeout=5)\n"
        "    print('no MemoryError')\n"
        "except MemoryError:\n"
        "    print('MemoryError')\n"
        "lift()\n"
        "waiter.join()\n"
        "sizes = [g for g in got if g != 'MemoryError']\n"
        "while len(sizes) < 2:\n"
        "    sizes.append(len(rx.recv(timeout=1)))\n"
        "print(sizes)\n"
        "tx.close()\n"
        "rx.close()\n",
        name,
    )
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert out.split("\n")[:2] == ["MemoryError", f"[{64 << 20}, 4]"], (out, err)


def test_a_with_blocks_exception_is_not_replaced_by_a_refused_release(name):
    tx = filemap.Sender.create_or_open(name, 1 << 16)
    rx = filemap.Receiver.open(name)
    tx.send(b"kept")
    with pytest.raises(KeyError, match="mine"):
        with rx.recv_message(timeout=10) as message:
            kept = memoryview(message)
            raise KeyError("mine")
    assert bytes(kept) == b"kept"  # still held, still mapped
    kept.release()
    message.release()
    tx.close()
    rx.close()


def test_a_waiting_send_lets_go_of_the_callers_buffer(name):
    tx = filemap.Sender.create_or_open(name, 4096)
    rx = filemap.Receiver.open(name)
    while tx.try_send(b"x" * 500):
        pass
    data = bytearray(b"waiting for room")
    sending, sent = run(lambda: tx.send(data, timeout=30))
    deadline = time.monotonic() + 10
    while sending.is_alive() and time.monotonic() < deadline:
        # Resized while the send waits for room (a BufferError while it held the buffer).
        data.extend(b"!")
        time.sleep(0.01)
        if len(data) > 40:
            break
    # (The send may begin after some of the resizes: it sends the bytes it found.)
    received = [b""]
    failed = lambda: any(isinstance(r, BaseException) for r in sent)  # noqa: E731
    while not received[-1].startswith(b"waiting for room") and not failed():
        received.append(rx.recv(timeout=10))
    sending.join(10)
    assert sent == [None], sent
    assert received[-1].rstrip(b"!") == b"waiting for room"
    tx.close()
    rx.close()
