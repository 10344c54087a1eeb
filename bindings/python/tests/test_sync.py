"""Named mutexes, events and semaphores across processes: abandonment after kill -9 seen
from Python and from Rust, waits on many objects, Ctrl-C during a wait, and the errors."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import filemap
from conftest import python_child

HOLD_LOCK = (
    "import sys, time, filemap\n"
    "m = filemap.NamedMutex.open(sys.argv[1])\n"
    "g = m.lock()\n"
    "print('locked', flush=True)\n"
    "time.sleep(600)\n"
)


def start_holder(name):
    child = python_child(HOLD_LOCK, name)
    assert child.stdout.readline().strip() == "locked"
    return child


def kill9(child):
    child.send_signal(signal.SIGKILL if hasattr(signal, "SIGKILL") else signal.SIGTERM)
    child.communicate(timeout=60)


def test_mutex_abandoned_by_a_killed_python_process_is_seen_from_python(name):
    mutex = filemap.NamedMutex.create_new(name)
    holder = start_holder(name)
    assert mutex.try_lock() is None
    kill9(holder)
    with mutex.lock(timeout=10) as guard:
        assert guard.abandoned
    with mutex as guard:
        assert not guard.abandoned


def test_mutex_abandoned_by_a_killed_python_process_is_seen_from_rust(name, filemap_cli):
    mutex = filemap.NamedMutex.create_new(name)
    kill9(start_holder(name))
    rust = subprocess.run(
        [filemap_cli, "lock", "--timeout", "10s", name, "--", sys.executable, "-c", "print('inside')"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rust.returncode == 0, rust.stderr
    assert rust.stdout.strip() == "inside"
    assert "abandoned" in rust.stderr
    # Rust took the abandoned state; the next Python lock is a normal one.
    with mutex.lock(timeout=10) as guard:
        assert not guard.abandoned


def test_mutex_excludes_across_processes(name):
    counter = filemap.Mapping.create_new(name + "-counter", 8)
    mutex = filemap.NamedMutex.create_new(name)
    code = (
        "import sys, filemap\n"
        "m = filemap.NamedMutex.open(sys.argv[1])\n"
        "v = filemap.Mapping.open(sys.argv[1] + '-counter').view()\n"
        "for _ in range(2000):\n"
        "    with m:\n"
        "        n = int.from_bytes(v.read(0, 8), 'little')\n"
        "        v.write(0, (n + 1).to_bytes(8, 'little'))\n"
    )
    children = [python_child(code, name) for _ in range(3)]
    for child in children:
        _, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
    with counter.view() as v:
        assert int.from_bytes(v.read(0, 8), "little") == 6000
    counter.close()
    del mutex


def test_relock_release_and_timeouts(name):
    mutex = filemap.NamedMutex.create_new(name)
    guard = mutex.lock()
    with pytest.raises(filemap.WouldDeadlockError):
        mutex.lock(timeout=1)
    guard.release()
    guard.release()  # once only
    with pytest.raises(filemap.NotOwnerError):
        mutex.release()
    holder = start_holder(name)
    started = time.monotonic()
    with pytest.raises(filemap.TimedOutError) as info:
        mutex.lock(timeout=0.2)
    assert isinstance(info.value, TimeoutError)
    assert time.monotonic() - started >= 0.15  # it waited out its timeout, not less
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            mutex.lock(timeout=bad)
    kill9(holder)


def test_event_set_by_another_process_and_semaphore_units(name):
    event = filemap.NamedEvent.create_new(name, manual_reset=True)
    assert event.reset_mode in ("manual", None)
    setter = python_child(
        "import sys, time, filemap\n"
        "time.sleep(0.2)\n"
        "filemap.NamedEvent.open(sys.argv[1]).set()\n",
        name,
    )
    event.wait(timeout=30)
    assert event.try_wait()  # manual reset: stays set
    event.reset()
    assert not event.try_wait()
    setter.communicate(timeout=60)
    semaphore = filemap.NamedSemaphore.create_new(name + "-sem", 1, 2)
    assert semaphore.try_acquire() and not semaphore.try_acquire()
    assert semaphore.release(2) == 0
    with pytest.raises(ValueError):
        semaphore.release(1)
    with semaphore:
        pass
    with pytest.raises(filemap.InvalidArgumentError):
        filemap.NamedSemaphore.create_new(name + "-bad", 3, 2)


def test_wait_any_returns_the_index_each_other_process_set(name):
    events = [filemap.NamedEvent.create_new(f"{name}-{i}") for i in range(3)]
    for which in (2, 0, 1):
        setter = python_child(
            "import sys, time, filemap\n"
            "time.sleep(0.05)\n"
            "filemap.NamedEvent.open(sys.argv[1]).set()\n",
            f"{name}-{which}",
        )
        assert filemap.wait_any(events, timeout=30) == (which, False)
        setter.communicate(timeout=60)
    with pytest.raises(filemap.TimedOutError):
        filemap.wait_any(events, timeout=0.05)
    with pytest.raises(ValueError):
        filemap.wait_any([])
    with pytest.raises(ValueError):
        filemap.wait_any([events[0], "not an object"])


def test_wait_any_takes_an_abandoned_mutex_and_wait_all_takes_everything(name):
    mutex = filemap.NamedMutex.create_new(name)
    event = filemap.NamedEvent.create_new(name + "-ev")
    kill9(start_holder(name))
    assert filemap.wait_any([event, mutex], timeout=10) == (1, True)
    mutex.release()
    semaphore = filemap.NamedSemaphore.create_new(name + "-sem", 1, 1)
    event.set()
    assert filemap.wait_all([mutex, event, semaphore], timeout=10) == [False, False, False]
    assert not event.try_wait() and not semaphore.try_acquire()
    mutex.release()
    with pytest.raises(filemap.InvalidArgumentError, match="same object"):
        filemap.wait_any([event, mutex, event], timeout=0)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child is a POSIX story")
def test_ctrl_c_interrupts_a_wait(name):
    event = filemap.NamedEvent.create_new(name)
    child = python_child(
        "import sys, filemap\n"
        "e = filemap.NamedEvent.open(sys.argv[1])\n"
        "print('waiting', flush=True)\n"
        "try:\n"
        "    e.wait()\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted', flush=True)\n",
        name,
    )
    assert child.stdout.readline().strip() == "waiting"
    time.sleep(0.1)
    os.kill(child.pid, signal.SIGINT)
    out, err = child.communicate(timeout=30)
    assert out.strip() == "interrupted", err
    del event


def test_a_guards_lock_is_released_only_by_the_guard(name):
    mutex = filemap.NamedMutex.create_new(name)
    guard = mutex.lock()
    with pytest.raises(filemap.NotOwnerError):
        mutex.release()  # the guard holds it
    guard.release()
    again = mutex.lock()
    del guard  # an old, released guard unlocks nothing
    seen = []
    probe = threading.Thread(target=lambda: seen.append(mutex.try_lock()))
    probe.start()
    probe.join()
    assert seen == [None]  # another thread still finds it held by `again`
    with pytest.raises(filemap.WouldDeadlockError):
        mutex.lock(timeout=0)  # still held by `again`
    again.release()
    with mutex as g:
        assert not g.abandoned
    # wait_any's lock is released through the mutex.
    assert filemap.wait_any([mutex], timeout=1) == (0, False)
    mutex.release()
    with pytest.raises(filemap.NotOwnerError):
        mutex.release()


def test_a_try_lock_guard_is_the_only_releaser_too(name):
    mutex = filemap.NamedMutex.create_new(name)
    first = mutex.try_lock()
    with pytest.raises(filemap.NotOwnerError):
        mutex.release()
    first.release()
    second = mutex.lock()
    first.release()  # released already: does not touch `second`'s lock
    seen = []
    probe = threading.Thread(target=lambda: seen.append(mutex.try_lock()))
    probe.start()
    probe.join()
    assert seen == [None]
    second.release()


def test_a_guard_is_released_only_on_the_thread_that_locked(name):
    mutex = filemap.NamedMutex.create_new(name)
    guard = mutex.lock()
    raised = []

    def release_elsewhere():
        try:
            guard.release()
        except filemap.NotOwnerError as e:
            raised.append(str(e))

    other = threading.Thread(target=release_elsewhere)
    other.start()
    other.join()
    assert len(raised) == 1 and "does not hold" in raised[0], raised
    seen = []
    probe = threading.Thread(target=lambda: seen.append(mutex.try_lock()))
    probe.start()
    probe.join()
    assert seen == [None]  # still held: the other thread released nothing
    guard.release()  # the locking thread can
    assert mutex.try_lock() is not None
    # A guard dropped on another thread (as a garbage collection there would) cannot
    # unlock; the locking thread then releases through the mutex.
    holder = [mutex.lock()]
    dropper = threading.Thread(target=holder.clear)
    dropper.start()
    dropper.join()
    mutex.release()
    assert mutex.try_lock() is not None


def test_a_thread_ending_with_a_lock_abandons_it(name):
    # A thread that ends holding a lock (its guard kept beyond it) leaves the mutex
    # abandoned, as on Windows: another thread takes it, through a lock or a wait, is told
    # so, and releases it (before, on Linux, it stayed locked; and release() after a wait
    # was refused while the dead thread's guard lived).
    m = filemap.NamedMutex.create_new(name)
    kept = []
    worker = threading.Thread(target=lambda: kept.append(m.lock()))
    worker.start()
    worker.join()
    assert filemap.wait_any([m], timeout=5) == (0, True)
    m.release()
    with m as guard:
        assert not guard.abandoned
    worker = threading.Thread(target=lambda: kept.append(m.lock()))
    worker.start()
    worker.join()
    with m as guard:
        assert guard.abandoned
    kept.clear()
    del m


def test_named_objects_close(name):
    # Each named object lets go of its handle on close() (file descriptors and mappings
    # went only with garbage collection), says so, and refuses use after it.
    event = filemap.NamedEvent.create_new(name + "-e")
    semaphore = filemap.NamedSemaphore.create_new(name + "-s", 1, 1)
    mutex = filemap.NamedMutex.create_new(name + "-m")
    for obj in (event, semaphore, mutex):
        assert not obj.closed
        obj.close()
        obj.close()  # again: nothing
        assert obj.closed and "closed" in repr(obj)
    for use in (event.set, event.try_wait, semaphore.try_acquire, mutex.try_lock,
                lambda: semaphore.count, lambda: filemap.wait_any([event], timeout=0)):
        with pytest.raises(ValueError, match="is closed"):
            use()
    # The objects went with their last handles: the names are free.
    with filemap.NamedEvent.create_new(name + "-e") as again:
        again.set()
    assert again.closed
    # A lock held through a guard outlives the handle's close: the guard releases it.
    mutex = filemap.NamedMutex.create_new(name + "-m")
    guard = mutex.lock()
    mutex.close()
    guard.release()
    del guard
    # Released before its last handle went: the object is gone, and its name is free.
    with filemap.NamedMutex.create_new(name + "-m") as g:
        assert not g.abandoned


def test_a_with_block_ends_through_its_handle_when_the_object_closes_in_it(name):
    # A mutex or semaphore closed inside a `with` block: the block's end still unlocks or
    # gives the unit back (it raised ValueError, leaving the lock to be taken over as
    # abandoned, and the unit lost).
    mutex = filemap.NamedMutex.create_new(name + "-m")
    other = filemap.NamedMutex.open(name + "-m")
    with mutex:
        mutex.close()
    with other as guard:
        assert not guard.abandoned
    semaphore = filemap.NamedSemaphore.create_new(name + "-s", 1, 1)
    seen = filemap.NamedSemaphore.open(name + "-s")
    with semaphore:
        semaphore.close()
        assert not seen.try_acquire()
    assert seen.try_acquire()


def test_close_from_another_thread_ends_its_waits(name):
    # A wait on a mutex, an event or a semaphore whose handle another thread closes ends
    # within a slice with ValueError (a wait on many objects already did), and keeps the
    # handle no longer.
    mutex = filemap.NamedMutex.create_new(name + "-m")
    holder = filemap.NamedMutex.open(name + "-m")
    event = filemap.NamedEvent.create_new(name + "-e")
    semaphore = filemap.NamedSemaphore.create_new(name + "-s", 0, 1)
    waits = {
        "lock": (mutex, mutex.lock),
        "wait": (event, event.wait),
        "acquire": (semaphore, semaphore.acquire),
        "with": (semaphore, semaphore.__enter__),
    }
    ended = {}

    def wait(what, call):
        try:
            call()
            ended[what] = "returned"
        except ValueError:
            ended[what] = "ValueError"

    guard = holder.lock()
    threads = [
        threading.Thread(target=wait, args=(what, call), daemon=True)
        for what, (_, call) in waits.items()
    ]
    for t in threads:
        t.start()
    time.sleep(0.3)  # every thread is in its wait
    assert ended == {}
    for obj, _ in waits.values():
        obj.close()
    for t in threads:
        t.join(10)
    guard.release()
    assert ended == {what: "ValueError" for what in waits}
    holder.close()


def test_release_leaves_a_with_blocks_lock_alone(name):
    # `release()` unlocks only what a wait on many objects took: a lock a `with` block of
    # this thread's holds is the block's (it was unlocked mid-block, and the block's end
    # then raised NotOwnerError).
    mutex = filemap.NamedMutex.create_new(name)
    with mutex:
        with pytest.raises(filemap.NotOwnerError, match="with block"):
            mutex.release()
        held = []
        t = threading.Thread(target=lambda: held.append(mutex.try_lock() is None))
        t.start()
        t.join(10)
        assert held == [True]
    assert mutex.try_lock() is not None
    mutex.close()
