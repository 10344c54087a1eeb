"""Endpoints shared by threads: any thread may call an endpoint while another waits in it
(calls take turns, a waiting call one slice of at most 50 ms at a time), `close()` from
another thread ends a wait in it with `ValueError`, and messages shared out between
threads are each received once."""

import os
import subprocess
import sys
import threading
import time

import pytest

import filemap
from threads import run

# How long a test waits for a thread that should end at once: generous on a loaded
# machine, and bounded.
JOIN = 10.0


def wait_until(predicate, what):
    deadline = time.monotonic() + JOIN
    while not predicate():
        assert time.monotonic() < deadline, f"waited {JOIN} s for {what}"
        time.sleep(0.01)


def test_close_from_another_thread_ends_a_wait_in_every_endpoint(name):
    tx = filemap.Sender.create_or_open(name + "-ch", 4096)
    rx = filemap.Receiver.open(name + "-ch")
    publisher = filemap.Publisher.create_or_open(name + "-topic")
    subscriber = filemap.Subscriber.open(name + "-topic")
    inbox = filemap.Inbox.create_or_open(name + "-inbox")
    sender = filemap.InboxSender.open(name + "-inbox")
    server = filemap.Server.create_or_open(name + "-svc")
    client = filemap.Client.open(name + "-svc")
    # Each with a wait that never ends by itself (no timeout), and a call of another thread
    # that takes a turn of the endpoint (it goes between the wait's slices).
    waits = [
        (rx, lambda: rx.recv(), lambda: rx.try_recv() is None),
        (subscriber, lambda: subscriber.recv(), lambda: subscriber.try_recv() is None),
        (inbox, lambda: inbox.recv(), lambda: inbox.senders == 1),
        # The client before the server: a closed server ends the client's wait by itself.
        (client, lambda: client.recv_response(), lambda: client.pending == 0),
        (server, lambda: server.recv_request(), lambda: server.clients == 0),  # client closed
    ]
    for endpoint, wait, between in waits:
        thread, out = run(wait)
        time.sleep(0.2)  # in its wait
        assert thread.is_alive(), out
        started = time.monotonic()
        assert between()
        print(f"{endpoint!r}: a call between the wait's slices took {time.monotonic() - started:.3f} s")
        started = time.monotonic()
        endpoint.close()
        thread.join(JOIN)
        assert not thread.is_alive(), f"{endpoint!r}: still waiting after close()"
        assert isinstance(out[0], ValueError) and "closed" in str(out[0]), out
        print(f"{endpoint!r}: wait ended {time.monotonic() - started:.3f} s after close()")
    for endpoint in (tx, publisher, sender):
        endpoint.close()


def test_a_sender_waiting_for_room_is_closed_by_another_thread(name):
    tx = filemap.Sender.create_or_open(name, 4096)
    rx = filemap.Receiver.open(name)
    while tx.try_send(b"x" * 1000):
        pass
    thread, out = run(lambda: tx.send(b"x" * 1000))
    time.sleep(0.2)
    assert thread.is_alive(), out
    assert tx.capacity == 4096 and tx.max_message_len > 0  # while it waits
    tx.close()
    thread.join(JOIN)
    assert isinstance(out[0], ValueError), out
    rx.close()


def test_getters_answer_while_another_thread_waits(name):
    server = filemap.Server.create_or_open(name)
    client = filemap.Client.open(name)
    thread, out = run(lambda: server.recv_request(timeout=5))
    time.sleep(0.2)
    started = time.monotonic()
    assert server.clients == 1
    assert client.pending == 0
    took = time.monotonic() - started
    print(f"two getters while the server waits: {took:.3f} s")
    client.send_request(b"ask")
    thread.join(JOIN)
    request, payload = out[0]
    assert payload == b"ask"
    server.respond(request, b"answer")
    assert client.recv_response(timeout=5)[1] == b"answer"
    client.close()
    server.close()


@pytest.mark.parametrize("kind", ["channel", "inbox", "topic"])
def test_threads_sharing_a_receiving_end_get_each_message_once(name, kind):
    count = 3000
    if kind == "channel":
        tx = filemap.Sender.create_or_open(name, 1 << 16)
        rx = filemap.Receiver.open(name)
        send, receive = tx.send, lambda: rx.recv(timeout=2)
    elif kind == "inbox":
        rx = filemap.Inbox.create_or_open(name)
        tx = filemap.InboxSender.open(name)
        send, receive = tx.send, lambda: rx.recv(timeout=2)[1]
    else:
        tx = filemap.Publisher.create_or_open(name, capacity=1 << 16)
        rx = filemap.Subscriber.open(name)
        send, receive = tx.publish, lambda: rx.recv(timeout=2)
    got = [[] for _ in range(3)]

    def drain(mine):
        def body():
            while True:
                try:
                    mine.append(int.from_bytes(receive(), "little"))
                except filemap.TimedOutError:
                    return
                except filemap.DisconnectedError:
                    return

        return body

    threads = [run(drain(mine)) for mine in got]
    # Two senders too: a sending end shared by threads as well.
    half = count // 2
    senders = [
        run(lambda lo=lo: [send(i.to_bytes(4, "little")) for i in range(lo, lo + half)])
        for lo in (0, half)
    ]
    for thread, out in senders:
        thread.join(JOIN * 6)
        assert not thread.is_alive() and not isinstance(out[0], BaseException), out
    tx.close()
    for thread, out in threads:
        thread.join(JOIN * 6)
        assert not thread.is_alive(), out
        assert out == [None], out
    everything = sorted(n for mine in got for n in mine)
    assert everything == list(range(count)), f"{len(everything)} received of {count}"
    # Each thread's share is in order (one sender's messages arrive in its order).
    for mine in got:
        for lo in (0, half):
            own = [n for n in mine if lo <= n < lo + half]
            assert own == sorted(own)
    rx.close()


def test_wait_any_in_one_thread_and_close_in_another(name):
    rx = filemap.Receiver.create_or_open(name, 4096)
    tx = filemap.Sender.open(name)
    event = filemap.NamedEvent.create_new(name + "-ev")
    thread, out = run(lambda: filemap.wait_any([event, rx]))
    time.sleep(0.2)
    assert thread.is_alive(), out
    rx.close()
    thread.join(JOIN)
    assert isinstance(out[0], ValueError), out
    tx.close()
    del event


def test_a_message_lent_to_one_thread_waits_for_it_not_for_another_threads_receive(name):
    tx = filemap.Sender.create_or_open(name, 4096)
    rx = filemap.Receiver.open(name)
    tx.send(b"first")
    tx.send(b"second")
    message = rx.recv_message(timeout=5)
    # Another thread's receive waits while this thread holds its message (it neither
    # releases it under this thread nor fails).
    thread, out = run(lambda: rx.recv(timeout=5))
    time.sleep(0.2)
    assert thread.is_alive(), out
    with memoryview(message) as view:
        assert bytes(view) == b"first"
    assert message.tobytes() == b"first"
    message.release()
    thread.join(JOIN)
    assert out == [b"second"], out
    # A message dropped unreleased lets the other thread's receive go too.
    tx.send(b"third")
    tx.send(b"fourth")
    dropped = rx.recv_message(timeout=5)
    thread, out = run(lambda: rx.recv(timeout=5))
    time.sleep(0.1)
    del dropped
    thread.join(JOIN)
    assert out == [b"fourth"], out
    tx.close()
    rx.close()


def test_messages_dropped_in_any_order_let_another_threads_receive_go(name):
    tx = filemap.Sender.create_or_open(name, 4096)
    rx = filemap.Receiver.open(name)
    for message in (b"a", b"b", b"c"):
        tx.send(message)
    # The first is let go by the second receive; a list drops its last item first.
    kept = [rx.recv_message(timeout=5), rx.recv_message(timeout=5)]
    thread, out = run(lambda: rx.recv(timeout=5))
    time.sleep(0.1)
    assert thread.is_alive(), out
    del kept
    thread.join(JOIN)
    assert out == [b"c"], out
    tx.close()
    rx.close()


def test_threads_calling_one_client_each_get_their_own_answer(name):
    server = filemap.Server.create_or_open(name)
    client = filemap.Client.open(name)

    def serve():
        for _ in range(40):
            request, payload = server.recv_request(timeout=10)
            server.respond(request, payload, last=False)
            server.respond(request, b"!")

    served, served_out = run(serve)
    callers = [
        run(lambda k=k: [client.call(f"{k}-{i}".encode(), timeout=10) for i in range(20)])
        for k in range(2)
    ]
    for k, (thread, out) in enumerate(callers):
        thread.join(JOIN * 3)
        assert not thread.is_alive()
        assert out == [[f"{k}-{i}!".encode() for i in range(20)]], out
    served.join(JOIN)
    assert served_out == [None], served_out
    # During a call, another thread's request is refused (it would take the call's answer).
    slow, slow_out = run(lambda: client.call(b"slow", timeout=10))
    request, payload = server.recv_request(timeout=10)
    with pytest.raises(filemap.UnsupportedError):
        client.send_request(b"meanwhile")
    server.respond(request, payload)
    slow.join(JOIN)
    assert slow_out == [b"slow"], slow_out
    client.close()
    server.close()


def test_waits_on_overlapping_sets_from_two_threads_both_end(name):
    pairs = [
        (filemap.Sender.create_or_open(f"{name}-{k}", 4096), filemap.Receiver.open(f"{name}-{k}"))
        for k in range(2)
    ]
    (tx_a, rx_a), (tx_b, rx_b) = pairs
    rounds = 200
    # One thread waits on [a, b], the other on [b, a]; each takes the message it is woken
    # for. Every message is taken once; neither wait holds the other up for good.
    taken = []
    lock = threading.Lock()

    def waiter(objects):
        def body():
            while True:
                try:
                    index, _ = filemap.wait_any(objects, timeout=2)
                except filemap.TimedOutError:
                    return
                message = objects[index].try_recv()
                if message is not None:
                    with lock:
                        taken.append(message)

        return body

    threads = [run(waiter([rx_a, rx_b])), run(waiter([rx_b, rx_a]))]
    for i in range(rounds):
        (tx_a if i % 2 else tx_b).send(i.to_bytes(4, "little"), timeout=5)
    for thread, out in threads:
        thread.join(JOIN * 3)
        assert not thread.is_alive()
        assert out == [None], out
    assert sorted(int.from_bytes(m, "little") for m in taken) == list(range(rounds))
    for tx, rx in pairs:
        tx.close()
        rx.close()


def test_last_sequence_is_each_threads_own(name):
    publisher = filemap.Publisher.create_or_open(name)
    subscriber = filemap.Subscriber.open(name)
    for i in range(2):
        publisher.publish(bytes([i]))
    assert subscriber.recv(timeout=5) == b"\x00"
    mine = subscriber.last_sequence
    thread, out = run(lambda: (subscriber.recv(timeout=5), subscriber.last_sequence))
    thread.join(JOIN)
    assert out == [(b"\x01", mine + 1)], out
    assert subscriber.last_sequence == mine  # not the other thread's
    publisher.close()
    subscriber.close()


def test_a_call_from_a_signal_handler_inside_a_call_is_refused_not_waited_for(name):
    import signal

    server = filemap.Server.create_or_open(name)
    client = filemap.Client.open(name)

    def serve():
        request, payload = server.recv_request(timeout=10)
        time.sleep(0.5)  # the outer call is waiting meanwhile
        server.respond(request, payload)

    served, served_out = run(serve)
    inner = []

    def on_alarm(signum, frame):
        try:
            client.call(b"inner", timeout=2)
        except BaseException as e:
            inner.append(e)
            raise

    previous = signal.signal(signal.SIGALRM, on_alarm)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        started = time.monotonic()
        with pytest.raises(RuntimeError, match="wait for itself"):
            client.call(b"outer", timeout=5)
        took = time.monotonic() - started
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    print(f"refused after {took:.3f} s")
    assert isinstance(inner[0], RuntimeError), inner
    served.join(JOIN)
    client.close()
    server.close()


# Threads that wait in one receiver's `recv`, each holding its turn for a slice of up to
# 50 ms: a call behind them used to wait for every turn ahead of its own (0.2 to 0.5 s
# here, seen), whatever its timeout, and whatever signal came. How late such a call ends
# is printed, not asserted (the machine's speed is not the test's to judge); what is
# asserted is that it ends as it should, and that the tickets it gives up stall no one.
WAITERS = 40
ROUNDS = 10


def queue_behind_waiters(rx, stop):
    """Starts WAITERS threads that wait in `rx.recv` until `stop` is set."""

    def wait():
        while not stop.is_set():
            try:
                rx.recv(timeout=0.5)
            except filemap.TimedOutError:
                pass
            except ValueError:  # closed
                return

    threads = [threading.Thread(target=wait, daemon=True) for _ in range(WAITERS)]
    for t in threads:
        t.start()
    time.sleep(0.3)  # they queue up for turns
    return threads


def stop_waiters(rx, stop, threads):
    """Stops the threads (each ends once its turn comes again: a queue stuck at a ticket
    given up would keep them) and closes `rx`."""
    stop.set()
    for t in threads:
        t.join(JOIN)
        assert not t.is_alive(), "a waiting thread never got its turn again"
    rx.close()


def test_a_timeout_during_the_wait_for_a_turn_stalls_no_one(name):
    rx = filemap.Receiver.create_or_open(name, 4096)
    stop = threading.Event()
    threads = queue_behind_waiters(rx, stop)
    try:
        late = []
        for _ in range(ROUNDS):
            started = time.monotonic()
            with pytest.raises(filemap.TimedOutError):
                rx.recv(timeout=0.05)
            late.append(time.monotonic() - started - 0.05)
        print(f"recv(timeout=0.05) behind {WAITERS} waiting threads: up to {max(late):.3f} s late")
    finally:
        stop_waiters(rx, stop, threads)


def test_a_signal_during_the_wait_for_a_turn_stalls_no_one(name):
    # A handler's exception (Ctrl-C's KeyboardInterrupt) ends the wait for the turn.
    import signal

    class Alarm(Exception):
        pass

    def on_alarm(signum, frame):
        raise Alarm()

    rx = filemap.Receiver.create_or_open(name, 4096)
    stop = threading.Event()
    threads = queue_behind_waiters(rx, stop)
    previous = signal.signal(signal.SIGALRM, on_alarm)
    try:
        late = []
        for _ in range(ROUNDS):
            signal.setitimer(signal.ITIMER_REAL, 0.02)
            started = time.monotonic()
            with pytest.raises(Alarm):
                rx.recv(timeout=30)
            late.append(time.monotonic() - started - 0.02)
        print(f"a signal into a wait behind {WAITERS} threads: ended it up to {max(late):.3f} s late")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        stop_waiters(rx, stop, threads)


def test_a_signal_handler_may_close_the_endpoint_its_thread_waits_for(name):
    # The handler runs while its thread waits for a turn (behind the waiting threads): its
    # close() takes that wait's turn, rather than queueing behind its own thread for ever
    # (which would hang the test: the watchdog ends the run with the threads' stacks).
    import faulthandler
    import signal

    closed = []

    def on_alarm(signum, frame):
        rx.close()
        closed.append(True)

    rx = filemap.Receiver.create_or_open(name, 4096)
    stop = threading.Event()
    threads = queue_behind_waiters(rx, stop)
    previous = signal.signal(signal.SIGALRM, on_alarm)
    faulthandler.dump_traceback_later(6 * JOIN, exit=True)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.02)
        with pytest.raises(ValueError, match="closed"):
            rx.recv(timeout=JOIN)
        assert closed == [True]
    finally:
        faulthandler.cancel_dump_traceback_later()
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        stop_waiters(rx, stop, threads)


def run_script(script, argument, namespace):
    """Runs `script` in a new Python with `argument`, in the namespace directory
    `namespace`: its exit status, standard output and standard error."""
    child = subprocess.run(
        [sys.executable, "-c", script, argument],
        env={**os.environ, "FILEMAP_DIR": str(namespace)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return child.returncode, child.stdout, child.stderr


# A program whose daemon threads wait in filemap calls when it ends. Each thread's wait
# runs in slices, and at the end of one it takes the GIL back: while Python finalizes,
# CPython before 3.14 ends such a thread with pthread_exit, which aborted the process
# ("FATAL: exception not rethrown") unless the thread parks instead.
DAEMONS_AT_EXIT = """
import sys, threading, time
import filemap

tag = sys.argv[1]
event = filemap.NamedEvent.create_new(tag + "-event")
mutex = filemap.NamedMutex.create_new(tag + "-mutex")
semaphore = filemap.NamedSemaphore.create_new(tag + "-semaphore", 0, 1)
rx = filemap.Receiver.create_or_open(tag + "-channel", 1 << 16)
publisher = filemap.Publisher.create_or_open(tag + "-topic", capacity=1 << 16)
sub = filemap.Subscriber.open(tag + "-topic")
held = mutex.lock()
waits = [
    event.wait,
    mutex.lock,  # held by the main thread
    semaphore.acquire,
    rx.recv,
    rx.recv,  # waits for the other thread's turn at the receiver
    sub.recv,
    lambda: filemap.wait_any([event, semaphore]),
]
for wait in waits:
    threading.Thread(target=wait, daemon=True).start()
time.sleep(0.3)
print("main ends", flush=True)
"""


def test_a_program_ends_cleanly_with_daemon_threads_waiting(tmp_path):
    for run_number in range(3):
        namespace = tmp_path / f"run-{run_number}"
        namespace.mkdir()
        assert run_script(DAEMONS_AT_EXIT, f"daemons-{run_number}", namespace) == (
            0,
            "main ends\n",
            "",
        )


# An exit handler registered after filemap was imported runs before filemap's own: a
# worker it stops and joins still gets through its filemap calls.
WORKER_STOPPED_AT_EXIT = """
import atexit, sys, threading
import filemap

rx = filemap.Receiver.create_or_open(sys.argv[1], 1 << 16)
stop = threading.Event()

def work():
    while not stop.is_set():
        try:
            rx.recv(timeout=0.05)
        except filemap.TimedOutError:
            pass
    print("worker stopped", flush=True)

worker = threading.Thread(target=work, daemon=True)
worker.start()

def stop_worker():
    stop.set()
    worker.join()

atexit.register(stop_worker)
print("main ends", flush=True)
"""


def test_an_exit_handler_can_stop_a_worker_waiting_in_filemap(tmp_path):
    assert run_script(WORKER_STOPPED_AT_EXIT, "worker", tmp_path) == (
        0,
        "main ends\nworker stopped\n",
        "",
    )


# An exit handler registered before filemap was imported runs after filemap's has closed
# its gate: on the thread that runs the exit handlers (the one that finalizes), filemap
# calls still return.
CALLS_AFTER_THE_GATE = """
import atexit, sys

def late():
    event.set()
    print("late handler: set", event.wait(timeout=1.0), flush=True)
    event.close()

atexit.register(late)
import filemap

event = filemap.NamedEvent.create_new(sys.argv[1], manual_reset=True)
print("main ends", flush=True)
"""


def test_an_exit_handler_run_after_filemaps_own_still_calls_filemap(tmp_path):
    assert run_script(CALLS_AFTER_THE_GATE, "late", tmp_path) == (
        0,
        "main ends\nlate handler: set None\n",
        "",
    )
    assert list(tmp_path.iterdir()) == []
