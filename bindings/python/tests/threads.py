"""A helper of the tests that run a call on a thread of its own."""

import threading


def run(target):
    """Starts `target` on a daemon thread; the list it appends an exception or result to."""
    out = []

    def body():
        try:
            out.append(target())
        except BaseException as e:  # reported to the test, not lost on the thread
            out.append(e)

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread, out
