"""Endpoints and `os.fork` (as `multiprocessing` makes its workers on Linux): a child's
copy of an endpoint stays its parent's. Every call on it in the child raises
`UnsupportedError` at once (even while one of the parent's threads was waiting in the
endpoint when the child was made: the child has none of the parent's threads to pass the
turn on), `close()` there only forgets the copy, and nothing the child does with its
copies changes what the parent sees."""

import multiprocessing
import os
import signal
import threading
import time

import pytest

import filemap

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is a Unix call")

# How long the parent waits for a child that should end at once: generous, and bounded.
CHILD_LIMIT = 20.0


def wait_child(pid):
    """The exit code of child `pid`, waited for at most CHILD_LIMIT (then it is killed)."""
    deadline = time.monotonic() + CHILD_LIMIT
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail(f"the child was still running after {CHILD_LIMIT} s (a call waited)")
        time.sleep(0.01)


def refused(call):
    """Whether `call()` raised UnsupportedError naming fork."""
    try:
        call()
    except filemap.UnsupportedError as e:
        return "fork" in str(e)
    return False


def is_closed(call):
    """Whether `call()` raised ValueError (what a closed endpoint's calls raise)."""
    try:
        call()
    except ValueError:
        return True
    return False


def test_calls_in_a_forked_child_fail_at_once_while_a_parent_thread_waits(name):
    tx = filemap.Sender.create_or_open(name, 4096)
    rx = filemap.Receiver.open(name)
    got = []
    # A thread of the parent waits in the receiver (holding its turn slice by slice) while
    # the child is made.
    waiter = threading.Thread(target=lambda: got.append(rx.recv(timeout=CHILD_LIMIT)), daemon=True)
    waiter.start()
    time.sleep(0.2)
    pid = os.fork()
    if pid == 0:
        # The child must never return into pytest: whatever happens, it ends here.
        code = 2
        try:
            ok = (
                refused(lambda: rx.try_recv())
                and refused(lambda: rx.recv(timeout=5))
                and refused(lambda: tx.send(b"from the child"))
            )
            rx.close()
            tx.close()
            code = 0 if ok and is_closed(rx.try_recv) and is_closed(lambda: tx.send(b"")) else 1
        finally:
            os._exit(code)
    assert wait_child(pid) == 0, "a call in the child was not refused"
    # The parent's endpoints go on: the waiting thread gets the message sent now.
    tx.send(b"after the child")
    waiter.join(CHILD_LIMIT)
    assert got == [b"after the child"]
    tx.close()
    rx.close()


def worker_closes_its_copies(endpoints):
    """A multiprocessing worker (fork start method): closes its copies, which must go
    quietly and take nothing of the parent's with them."""
    for endpoint in endpoints:
        endpoint.close()
    assert is_closed(endpoints[0].try_recv)


def test_a_multiprocessing_worker_closing_copies_changes_nothing(name):
    rx = filemap.Receiver.create_or_open(name + "-ch", 4096)
    tx = filemap.Sender.open(name + "-ch")
    publisher = filemap.Publisher.create_or_open(name + "-topic")
    subscriber = filemap.Subscriber.open(name + "-topic")
    inbox = filemap.Inbox.create_or_open(name + "-inbox")
    inbox_sender = filemap.InboxSender.open(name + "-inbox")
    server = filemap.Server.create_or_open(name + "-svc")
    client = filemap.Client.open(name + "-svc")
    tx.send(b"before")
    publisher.publish(b"before")
    endpoints = [rx, tx, publisher, subscriber, inbox, inbox_sender, server, client]
    worker = multiprocessing.get_context("fork").Process(
        target=worker_closes_its_copies, args=(endpoints,)
    )
    worker.start()
    try:
        worker.join(CHILD_LIMIT)
    finally:
        if worker.is_alive():
            worker.kill()
            worker.join()
    assert worker.exitcode == 0
    # Nothing was taken, closed or given away by the worker's closes: every role is still
    # connected where its peer looks.
    assert publisher.subscribers == 1
    assert inbox.senders == 1
    assert server.clients == 1
    assert client.server_alive
    assert rx.try_recv() == b"before"
    assert subscriber.try_recv() == b"before"
    # A channel whose receiver were marked closed would say so once full.
    sent = 0
    while tx.try_send(b"x" * 64):
        sent += 1
        assert sent < 1000
    for _ in range(sent):
        assert rx.try_recv() == b"x" * 64
    publisher.publish(b"after")
    assert subscriber.recv(timeout=5) == b"after"
    inbox_sender.send(b"after")
    assert inbox.recv(timeout=5) == (inbox_sender.slot, b"after")
    for endpoint in endpoints:
        endpoint.close()


def test_a_forked_child_cannot_unmap_a_message_its_buffers_point_into(name):
    tx = filemap.Sender.create_or_open(name, 4096)
    rx = filemap.Receiver.open(name)
    tx.send(b"held across the fork")
    message = rx.recv_message()
    view = memoryview(message)
    pid = os.fork()
    if pid == 0:
        code = 2
        try:
            try:
                rx.close()
                code = 1  # closed (and unmapped) under a live buffer
            except BufferError:
                view.release()
                rx.close()
                code = 0 if is_closed(rx.try_recv) else 3
        finally:
            os._exit(code)
    assert wait_child(pid) == 0
    assert bytes(view) == b"held across the fork"
    view.release()
    del message
    tx.close()
    rx.close()


def test_a_forked_child_leaving_its_parents_with_block_gives_nothing_back(name):
    # A child forked inside `with semaphore:` (or `with mutex:`) falls out of the block too:
    # the unit (the lock) is the parent's, and the child's end of the block gives nothing
    # back (it released the parent's unit, which the parent's end then found past the
    # maximum).
    semaphore = filemap.NamedSemaphore.create_new(name + "-s", 1, 1)
    mutex = filemap.NamedMutex.create_new(name + "-m")
    pid = None
    try:
        with semaphore, mutex:
            pid = os.fork()
            if pid != 0:
                assert wait_child(pid) == 0
                # Still the parent's: no unit came back, and the lock is held.
                assert semaphore.count == 0
                held = []
                t = threading.Thread(target=lambda: held.append(mutex.try_lock() is None))
                t.start()
                t.join(CHILD_LIMIT)
                assert held == [True]
    except BaseException:
        if pid == 0:
            os._exit(1)
        raise
    if pid == 0:
        os._exit(0)  # the child left both blocks without an error
    assert semaphore.count == 1
    semaphore.close()
    mutex.close()


def test_a_forked_childs_thread_keeps_its_own_with_blocks_unit(name):
    # In a child forked inside `with semaphore:`, a thread of the child's enters a block
    # of its own; the forking thread's block then ends, giving back nothing, not the
    # other thread's unit (it took that thread's record, leaving the thread's block
    # unprotected until it ended).
    semaphore = filemap.NamedSemaphore.create_new(name + "-s", 2, 2)
    entered, leave = threading.Event(), threading.Event()

    def other():
        with semaphore:
            entered.set()
            leave.wait(CHILD_LIMIT)

    pid = None
    try:
        with semaphore:
            pid = os.fork()
            if pid == 0:
                thread = threading.Thread(target=other)
                thread.start()
                entered.wait(CHILD_LIMIT)
            else:
                assert wait_child(pid) == 0
    except BaseException:
        if pid == 0:
            os._exit(1)
        raise
    if pid == 0:
        # Out of the parent's block: the other thread's unit is still taken.
        code = 0 if semaphore.count == 0 else 3
        leave.set()
        thread.join(CHILD_LIMIT)
        os._exit(code)
    assert semaphore.count == 2
    semaphore.close()
