"""filemap from Python against Python's own ways of moving data between processes.

Measures, in one run, between two Python processes (the measuring one pinned to CPU 0, the
partner to CPU 1 where the machine allows):
- the round trip of a 64 B and a 1 MiB message, each end getting the message as `bytes`:
  filemap's channel (two channels, one each way) against `multiprocessing.Pipe`,
  `multiprocessing.Queue`, and `multiprocessing.shared_memory` with a hand-rolled flag
  byte that both sides poll;
- handing a 100 MB numpy array to another process (from the array in the sender to a numpy
  array of it in the receiver, which answers with one element): filemap (the array lives
  in a named mapping; the receiver maps it), `Pipe` (pickled), `Queue` (pickled),
  `shared_memory` (the array lives in a segment; the receiver attaches).

Prints one JSON array of rows: {"scenario", "size", "system", "p50_us", "p99_us"}.
Usage: python3 roundtrip.py [--quick]
"""

import json
import multiprocessing as mp
import os
import sys
import time
import uuid
from multiprocessing import shared_memory

import numpy as np

import filemap

QUICK = "--quick" in sys.argv or os.environ.get("FILEMAP_BENCH_QUICK") == "1"
SIZES = [64, 1 << 20]
ROUNDS = {64: 2000 if QUICK else 20000, 1 << 20: 30 if QUICK else 300}
ARRAY_BYTES = (10 if QUICK else 100) * 1000 * 1000
HAND_OFFS = 3 if QUICK else 7
CAPACITY = 4 << 20


def pin(cpu):
    try:
        os.sched_setaffinity(0, {cpu})
    except (AttributeError, OSError):
        pass


def percentiles(samples_ns):
    """The median and the 99th percentile in microseconds (the latter None with fewer than
    100 samples, where it would only be the largest)."""
    s = sorted(samples_ns)
    p99 = s[min(len(s) - 1, int(len(s) * 0.99))] / 1000.0 if len(s) >= 100 else None
    return s[len(s) // 2] / 1000.0, p99


# --- partners (run in the child process) ------------------------------------------------


def filemap_echo(there, back, ready):
    pin(1)
    rx = filemap.Receiver.open(there)
    tx = filemap.Sender.open(back)
    ready.set()
    try:
        for message in rx:
            tx.send(message)
    finally:
        tx.close()
        rx.close()


def pipe_echo(conn):
    pin(1)
    while True:
        message = conn.recv_bytes()
        if not message:
            break
        conn.send_bytes(message)


def queue_echo(q_in, q_out):
    pin(1)
    while True:
        message = q_in.get()
        if message is None:
            break
        q_out.put(message)


def shm_echo(shm_name, size):
    """Polls the flag byte: 1 = a message for me, 2 = the answer is there, 3 = stop."""
    pin(1)
    shm = shared_memory.SharedMemory(shm_name)
    buf = shm.buf
    try:
        while True:
            while buf[0] != 1:
                if buf[0] == 3:
                    return
            message = bytes(buf[1 : 1 + size])
            buf[1 : 1 + size] = message
            buf[0] = 2
    finally:
        del buf
        shm.close()


def filemap_array_receiver(conn):
    pin(1)
    while True:
        name = conn.recv()
        if name is None:
            break
        m = filemap.Mapping.open(name)
        view = m.view()
        array = np.frombuffer(view, dtype=np.uint8)
        conn.send(int(array[-1]))
        del array
        view.close()
        m.close()


def pickled_array_receiver(conn):
    pin(1)
    while True:
        array = conn.recv()
        if array is None:
            break
        conn.send(int(array[-1]))


def queue_array_receiver(q_in, q_out):
    pin(1)
    while True:
        array = q_in.get()
        if array is None:
            break
        q_out.put(int(array[-1]))


def shm_array_receiver(conn):
    pin(1)
    while True:
        name = conn.recv()
        if name is None:
            break
        shm = shared_memory.SharedMemory(name)
        array = np.ndarray((ARRAY_BYTES,), dtype=np.uint8, buffer=shm.buf)
        conn.send(int(array[-1]))
        del array
        shm.close()


# --- round trips ---------------------------------------------------------------------------


def time_rounds(size, one_round):
    message = bytes(range(256)) * (size // 256) if size >= 256 else bytes(size)
    for _ in range(min(200, ROUNDS[size])):  # warm-up
        one_round(message)
    samples = []
    for _ in range(ROUNDS[size]):
        t0 = time.perf_counter_ns()
        answer = one_round(message)
        samples.append(time.perf_counter_ns() - t0)
        if len(answer) != size:
            raise RuntimeError("a wrong answer")
    return percentiles(samples)


def filemap_round_trips(size):
    there, back = f"bench-py-{uuid.uuid4().hex[:8]}", f"bench-py-{uuid.uuid4().hex[:8]}"
    tx = filemap.Sender.create_or_open(there, CAPACITY)
    rx = filemap.Receiver.create_or_open(back, CAPACITY)
    ready = mp.Event()
    child = mp.Process(target=filemap_echo, args=(there, back, ready))
    child.start()
    ready.wait(30)

    def one(message):
        tx.send(message)
        return rx.recv()

    try:
        return time_rounds(size, one)
    finally:
        tx.close()
        child.join(30)
        rx.close()


def pipe_round_trips(size):
    ours, theirs = mp.Pipe()
    child = mp.Process(target=pipe_echo, args=(theirs,))
    child.start()

    def one(message):
        ours.send_bytes(message)
        return ours.recv_bytes()

    try:
        return time_rounds(size, one)
    finally:
        ours.send_bytes(b"")
        child.join(30)


def queue_round_trips(size):
    q_in, q_out = mp.Queue(), mp.Queue()
    child = mp.Process(target=queue_echo, args=(q_in, q_out))
    child.start()

    def one(message):
        q_in.put(message)
        return q_out.get()

    try:
        return time_rounds(size, one)
    finally:
        q_in.put(None)
        child.join(30)


def shm_round_trips(size):
    shm = shared_memory.SharedMemory(create=True, size=1 + size)
    buf = shm.buf
    buf[0] = 0
    child = mp.Process(target=shm_echo, args=(shm.name, size))
    child.start()

    def one(message):
        buf[1 : 1 + size] = message
        buf[0] = 1
        while buf[0] != 2:
            pass
        return bytes(buf[1 : 1 + size])

    try:
        return time_rounds(size, one)
    finally:
        buf[0] = 3
        child.join(30)
        del buf
        shm.close()
        shm.unlink()


# --- numpy hand-off ------------------------------------------------------------------------


def time_hand_offs(hand_off):
    source = np.arange(ARRAY_BYTES, dtype=np.uint8)
    hand_off(source)  # warm-up
    samples = []
    for _ in range(HAND_OFFS):
        t0 = time.perf_counter_ns()
        last = hand_off(source)
        samples.append(time.perf_counter_ns() - t0)
        if last != int(source[-1]):
            raise RuntimeError("a wrong array")
    return percentiles(samples)


def filemap_hand_offs():
    ours, theirs = mp.Pipe()
    child = mp.Process(target=filemap_array_receiver, args=(theirs,))
    child.start()

    def one(source):
        name = f"bench-py-array-{uuid.uuid4().hex[:8]}"
        m = filemap.Mapping.create_new(name, ARRAY_BYTES)
        view = m.view()
        np.frombuffer(view, dtype=np.uint8)[:] = source  # the array, in shared memory
        ours.send(name)
        last = ours.recv()
        view.close()
        m.close()
        return last

    try:
        return time_hand_offs(one)
    finally:
        ours.send(None)
        child.join(30)


def pipe_hand_offs():
    ours, theirs = mp.Pipe()
    child = mp.Process(target=pickled_array_receiver, args=(theirs,))
    child.start()

    def one(source):
        ours.send(source)
        return ours.recv()

    try:
        return time_hand_offs(one)
    finally:
        ours.send(None)
        child.join(30)


def queue_hand_offs():
    q_in, q_out = mp.Queue(), mp.Queue()
    child = mp.Process(target=queue_array_receiver, args=(q_in, q_out))
    child.start()

    def one(source):
        q_in.put(source)
        return q_out.get()

    try:
        return time_hand_offs(one)
    finally:
        q_in.put(None)
        child.join(30)


def shm_hand_offs():
    ours, theirs = mp.Pipe()
    child = mp.Process(target=shm_array_receiver, args=(theirs,))
    child.start()

    def one(source):
        shm = shared_memory.SharedMemory(create=True, size=ARRAY_BYTES)
        np.ndarray((ARRAY_BYTES,), dtype=np.uint8, buffer=shm.buf)[:] = source
        ours.send(shm.name)
        last = ours.recv()
        shm.close()
        shm.unlink()
        return last

    try:
        return time_hand_offs(one)
    finally:
        ours.send(None)
        child.join(30)


def main():
    pin(0)
    rows = []
    round_trips = [
        ("filemap channel", filemap_round_trips),
        ("multiprocessing.Pipe", pipe_round_trips),
        ("multiprocessing.Queue", queue_round_trips),
        ("shared_memory + polled flag", shm_round_trips),
    ]
    for size in SIZES:
        for system, measure in round_trips:
            p50, p99 = measure(size)
            rows.append(dict(scenario="round trip", size=size, system=system, p50_us=p50, p99_us=p99))
    hand_offs = [
        ("filemap mapping", filemap_hand_offs),
        ("multiprocessing.Pipe", pipe_hand_offs),
        ("multiprocessing.Queue", queue_hand_offs),
        ("shared_memory", shm_hand_offs),
    ]
    for system, measure in hand_offs:
        p50, p99 = measure()
        rows.append(dict(scenario="numpy hand-off", size=ARRAY_BYTES, system=system, p50_us=p50, p99_us=p99))
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
