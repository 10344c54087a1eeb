"""Many parties from Python: an inbox fed by several processes (each sender's messages in
its order, none lost), and a service whose server streams responses, with a killed server
seen by its client as DisconnectedError, and one replaced at once failing only the request
it took."""

import pickle
import signal
import sys
import time

import pytest

import filemap
from conftest import LIMIT_ADDRESS_SPACE, python_child

SENDER = (
    "import os, sys, filemap\n"
    "with filemap.InboxSender.open(sys.argv[1]) as tx:\n"
    "    for i in range(3000):\n"
    "        tx.send(b'%d %d %d' % (os.getpid(), tx.slot, i))\n"
)


def test_inbox_from_three_processes_keeps_each_senders_order(name):
    inbox = filemap.Inbox.create_or_open(name, senders=4, capacity=1 << 14)
    senders = [python_child(SENDER, name) for _ in range(3)]
    # The iteration ends once every sender that came is gone: wait for all three to come
    # (none can finish before it is read from: 3000 messages do not fit its ring).
    deadline = time.monotonic() + 60
    while inbox.senders < 3:
        assert time.monotonic() < deadline, "the senders did not connect"
        time.sleep(0.01)
    next_of = {}
    received = 0
    for slot, message in inbox:  # until every sender that came is gone
        pid, sender_slot, i = map(int, message.split())
        assert sender_slot == slot and next_of.get(pid, 0) == i
        next_of[pid] = i + 1
        received += 1
    for child in senders:
        _, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
    assert received == 9000 and sorted(next_of.values()) == [3000] * 3
    inbox.close()


def test_inbox_slots_run_out_and_wait_any_sees_a_message(name):
    inbox = filemap.Inbox.create_or_open(name, senders=1)
    tx = filemap.InboxSender.open(name)
    with pytest.raises(filemap.BusyError):
        filemap.InboxSender.open(name)
    tx.send(b"x")
    assert filemap.wait_any([inbox], timeout=5) == (0, False)
    assert inbox.try_recv() == (tx.slot, b"x")
    assert inbox.try_recv() is None
    tx.close()
    # A closed sender's slot may be another's already: asking for it is an error.
    with pytest.raises(ValueError):
        tx.slot
    inbox.close()


# A server that answers each word upper-cased, one response per word; told to hang, it
# holds that request and takes no other until it is killed (were it to go on, it could
# take the next request too, and which ones a kill fails would be a race).
SERVER = (
    "import sys, time, filemap\n"
    "server = filemap.Server.create_or_open(sys.argv[1])\n"
    "print('serving', flush=True)\n"
    "for request, payload in server:\n"
    "    if payload == b'hang':\n"
    "        print('hanging', flush=True)\n"
    "        time.sleep(600)\n"
    "    if payload.startswith(b'fail'):\n"
    "        server.respond(request, b'part', last=False)\n"
    "        server.respond(request, b'no: ' + payload, failure=True)\n"
    "        continue\n"
    "    words = payload.split()\n"
    "    for w in words[:-1]:\n"
    "        server.respond(request, w.upper(), last=False)\n"
    "    server.respond(request, words[-1].upper())\n"
)


def test_service_streams_responses_and_a_killed_server_fails_pending_requests(name):
    client = filemap.Client.create_or_open(name)
    server = python_child(SERVER, name)
    assert server.stdout.readline().strip() == "serving"
    assert client.call(b"a b c", timeout=30) == b"ABC"
    first = client.send_request(b"one two")
    with pytest.raises(filemap.UnsupportedError):
        client.call(b"while one is pending", timeout=30)
    assert client.pending == 1
    parts = []
    while True:
        request, payload, last = client.recv_response(timeout=30)
        assert request == first and request.client == first.client
        parts.append(payload)
        if last:
            break
    assert parts == [b"ONE", b"TWO"] and client.pending == 0
    # A failed request: call raises it; recv_response gives the parts before it, then
    # raises it, naming the request and the reason.
    with pytest.raises(filemap.RequestFailedError) as failed:
        client.call(b"fail call", timeout=30)
    assert failed.value.reason == "no: fail call" and "no: fail call" in str(failed.value)
    asked = client.send_request(b"fail recv")
    assert client.recv_response(timeout=30) == (asked, b"part", False)
    with pytest.raises(filemap.RequestFailedError) as failed:
        client.recv_response(timeout=30)
    assert failed.value.request == asked and failed.value.reason == "no: fail recv"
    # The error crosses to another process whole (a multiprocessing worker's does): its
    # request id pickles as its two numbers.
    again = pickle.loads(pickle.dumps(failed.value))
    assert type(again) is filemap.RequestFailedError
    assert (again.request, again.reason) == (asked, "no: fail recv")
    assert filemap.RequestId(asked.client, asked.number) == asked
    assert client.pending == 0
    client.send_request(b"hang")
    assert server.stdout.readline().strip() == "hanging"
    server.send_signal(signal.SIGKILL)
    server.communicate(timeout=60)
    with pytest.raises(filemap.DisconnectedError):
        client.recv_response(timeout=30)
    client.close()


def test_a_server_replaced_at_once_fails_only_the_request_it_took(name):
    client = filemap.Client.create_or_open(name)
    server = python_child(SERVER, name)
    assert server.stdout.readline().strip() == "serving"
    taken = client.send_request(b"hang")
    assert server.stdout.readline().strip() == "hanging"
    queued = client.send_request(b"q r")
    server.send_signal(signal.SIGKILL)
    server.communicate(timeout=60)
    # A new server before the client looked: the client never saw the server gone.
    second = python_child(SERVER, name)
    assert second.stdout.readline().strip() == "serving"
    parts, failures = [], 0
    while client.pending:
        try:
            request, payload, last = client.recv_response(timeout=30)
        except filemap.DisconnectedError:
            failures += 1
            assert not client.is_pending(taken) and client.is_pending(queued) == (not parts)
            continue
        assert request == queued
        parts.append(payload)
    assert failures == 1 and parts == [b"Q", b"R"]
    assert client.call(b"after takeover", timeout=30) == b"AFTERTAKEOVER"
    assert client.server_alive
    second.send_signal(signal.SIGKILL)
    second.communicate(timeout=60)
    assert not client.server_alive
    client.close()


def test_a_request_waits_for_room_no_longer_than_its_timeout(name):
    client = filemap.Client.create_or_open(name, capacity=4096)
    sent = 0
    # Nobody serves: the request ring fills up.
    with pytest.raises(filemap.TimedOutError):
        while True:
            client.send_request(b"x" * 1000, timeout=0.05)
            sent += 1
            assert sent < 100, "the ring never filled"
    assert sent >= 2 and client.pending == sent
    client.close()


def test_a_response_waits_for_room_no_longer_than_its_timeout(name):
    server = filemap.Server.create_or_open(name, capacity=4096)
    client = filemap.Client.open(name)
    asked = client.send_request(b"flood")
    request, _ = server.recv_request(timeout=30)
    assert request == asked
    sent = 0
    # The client never reads: its response ring fills up.
    with pytest.raises(filemap.TimedOutError):
        while True:
            server.respond(request, b"x" * 1000, last=False, timeout=0.05)
            sent += 1
            assert sent < 100, "the ring never filled"
    assert sent >= 2
    with pytest.raises(filemap.InvalidArgumentError):
        server.respond(request, b"no", last=False, failure=True)
    client.close()
    server.close()


def test_a_call_that_times_out_says_its_whole_timeout(name):
    server = filemap.Server.create_or_open(name)
    client = filemap.Client.open(name)
    with pytest.raises(filemap.TimedOutError, match="timed out after 200ms"):
        client.call(b"nobody answers", timeout=0.2)
    assert client.pending == 0
    client.close()
    server.close()


KEPT = (
    LIMIT_ADDRESS_SPACE + "import sys, threading, time, filemap\n"
    "kind, name = sys.argv[1], sys.argv[2]\n"
    "BIG = 64 << 20\n"
    "big = b'x' * BIG\n"
    "if kind == 'topic':\n"
    "    pub = filemap.Publisher.create_or_open(name, capacity=160 << 20)\n"
    "    rx = filemap.Subscriber.open(name)\n"
    "    send, recv = pub.publish, lambda: rx.recv(timeout=10)\n"
    "elif kind == 'inbox':\n"
    "    rx = filemap.Inbox.create_or_open(name, senders=1, capacity=160 << 20)\n"
    "    tx = filemap.InboxSender.open(name)\n"
    "    send, recv = tx.send, lambda: rx.recv(timeout=10)[1]\n"
    "elif kind == 'request':\n"
    "    rx = filemap.Server.create_or_open(name, clients=1, capacity=160 << 20)\n"
    "    client = filemap.Client.open(name)\n"
    "    send, recv = client.send_request, lambda: rx.recv_request(timeout=10)[1]\n"
    "else:\n"
    "    server = filemap.Server.create_or_open(name, clients=1, capacity=160 << 20)\n"
    "    rx = filemap.Client.open(name)\n"
    "    rx.send_request(b'ask')\n"
    "    rx.send_request(b'ask again')\n"
    "    asked = iter([server.recv_request(timeout=10)[0] for _ in range(2)])\n"
    "    send = lambda data: server.respond(next(asked), data)\n"
    "    recv = lambda: rx.recv_response(timeout=10)[1]\n"
    "def later():\n"
    "    time.sleep(0.5)\n"
    "    send(big)\n"
    "    send(b'next')\n"
    "sender = threading.Thread(target=later)\n"
    "sender.start()\n"
    
    # Room for the receive's own copy of the message, not for its bytes as well.
    "lift = limit_address_space(BIG + (BIG >> 1))\n"
    "try:\n"
    "    recv()\n"
    "    print('no MemoryError')\n"
    "except MemoryError:\n"
    "    print('MemoryError')\n"
    "lift()\n"
    "sender.join()\n"
    "if kind != 'response':\n"
    "    try:\n"
    "        filemap.wait_any([rx], timeout=0)\n"
    "        print('waited past it')\n"
    "    except RuntimeError:\n"
    "        print('wait refused')\n"
    "else:\n"
    # The request whose last response is kept is still pending.
    "    print('wait refused' if rx.pending == 2 else f'pending {rx.pending}')\n"
    "first = recv()\n"
    "print(len(first), first == big, recv())\n"
)


@pytest.mark.skipif(sys.platform == "win32", reason="address-space limits are POSIX")
@pytest.mark.parametrize("kind", ["topic", "inbox", "request", "response"])
def test_a_receive_that_runs_out_of_memory_keeps_its_message(name, kind):
    # A message that comes while a receive waits is copied out, then made `bytes`: when
    # there is no memory for the bytes, the receive raises MemoryError and keeps the
    # message for the next receive (before, it was lost: the next receive returned the
    # one after it); a wait on many objects meanwhile is refused (it would sleep past it),
    # and a client whose kept response is its request's last still counts it pending.
    child = python_child(KEPT, kind, name)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert out.split("\n")[:3] == [
        "MemoryError",
        "wait refused",
        f"{64 << 20} True b'next'",
    ], (out, err)


@pytest.mark.skipif(sys.platform == "win32", reason="address-space limits are POSIX")
def test_a_receive_with_no_memory_even_for_a_copy_says_the_message_was_lost(name):
    # A message that comes while a receive waits, with no memory even for the receive's
    # copy of it: MemoryError saying the message was lost, and the next receive goes on
    # (before, the copy's allocation failing ended the process).
    child = python_child(
        LIMIT_ADDRESS_SPACE + "import sys, threading, time, filemap\n"
        "BIG = 64 << 20\n"
        "big = b'x' * BIG\n"
        "pub = filemap.Publisher.create_or_open(sys.argv[1], capacity=160 << 20)\n"
        "sub = filemap.Subscriber.open(sys.argv[1])\n"
        "def later():\n"
        "    time.sleep(0.5)\n"
        "    pub.publish(big)\n"
        "    pub.publish(b'next')\n"
        "sender = threading.Thread(target=later)\n"
        "sender.start()\n"
        "lift = limit_address_space(16 << 20)\n"
        "try:\n"
        "    sub.recv(timeout=10)\n"
        "    print('no MemoryError')\n"
        "except MemoryError as e:\n"
        "    print('lost' if 'lost' in str(e) else str(e))\n"
        "lift()\n"
        "sender.join()\n"
        "print(sub.recv(timeout=10))\n",
        name,
    )
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert out.split("\n")[:2] == ["lost", "b'next'"], (out, err)


@pytest.mark.skipif(sys.platform == "win32", reason="address-space limits are POSIX")
def test_a_request_the_server_has_no_memory_for_is_failed_for_its_client(name):
    # A request lost by a server with no memory even for its copy: its client is told
    # (RequestFailedError), not left waiting for an answer that never comes.
    child = python_child(
        LIMIT_ADDRESS_SPACE + "import sys, threading, time, filemap\n"
        "big = b'x' * (64 << 20)\n"
        "server = filemap.Server.create_or_open(sys.argv[1], clients=1, capacity=160 << 20)\n"
        "client = filemap.Client.open(sys.argv[1])\n"
        "def later():\n"
        "    time.sleep(0.5)\n"
        "    client.send_request(big)\n"
        "sender = threading.Thread(target=later)\n"
        "sender.start()\n"
        "lift = limit_address_space(16 << 20)\n"
        "try:\n"
        "    server.recv_request(timeout=10)\n"
        "    print('no MemoryError')\n"
        "except MemoryError as e:\n"
        "    print('lost' if 'lost' in str(e) else str(e))\n"
        "lift()\n"
        "sender.join()\n"
        "try:\n"
        "    client.recv_response(timeout=10)\n"
        "    print('answered')\n"
        "except filemap.RequestFailedError as e:\n"
        "    print(e.reason)\n",
        name,
    )
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert out.split("\n")[:2] == [
        "lost",
        "the server had no memory for the request",
    ], (out, err)
