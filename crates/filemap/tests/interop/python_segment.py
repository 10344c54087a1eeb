"""Creates a POSIX shared memory segment with Python, for filemap to open as a foreign
segment: writes b"from python", says "ready", waits for a line on stdin, then checks
that filemap wrote b"from rust" at offset 100, prints "ok" and unlinks the segment.

Usage: python3 python_segment.py NAME
"""
import sys
from multiprocessing import shared_memory

shm = shared_memory.SharedMemory(name=sys.argv[1], create=True, size=4096)
shm.buf[:11] = b"from python"
print("ready", flush=True)
sys.stdin.readline()
got = bytes(shm.buf[100:109])
print("ok" if got == b"from rust" else f"got {got!r}", flush=True)
shm.close()
shm.unlink()
