"""Maps a filemap object's data with multiprocessing.shared_memory and numpy.

A filemap object named NAME (Local scope, user UID) is the POSIX shared memory segment
"filemap.uUID.NAME" (Global: "filemap.global.NAME"). Its first bytes are filemap's header:
magic b"FILEMAP\\0" at 0, the data's size (u64, little-endian) at 24 and the data offset
(u64) at 32; the data starts at the data offset.

Usage: python3 filemap_numpy.py SEGMENT COUNT
Checks that the data holds COUNT float64 values i * 0.5, writes their doubles COUNT * 8
bytes further on, and prints their sum.
"""
import struct
import sys

import numpy as np
from multiprocessing import resource_tracker, shared_memory

segment, count = sys.argv[1], int(sys.argv[2])
shm = shared_memory.SharedMemory(name=segment, create=False)
# Python 3.8-3.12 would unlink the segment when this process exits: filemap owns it.
resource_tracker.unregister(shm._name, "shared_memory")

assert shm.buf[:8].tobytes() == b"FILEMAP\0", "not a filemap object"
size, data_offset = struct.unpack_from("<QQ", shm.buf, 24)
assert size >= 2 * count * 8, f"object too small: {size}"

values = np.ndarray((count,), dtype="<f8", buffer=shm.buf, offset=data_offset)
assert np.array_equal(values, np.arange(count) * 0.5), "unexpected values"
answer = np.ndarray((count,), dtype="<f8", buffer=shm.buf, offset=data_offset + count * 8)
answer[:] = values * 2
print(float(values.sum()))

del values, answer  # release the buffer before closing
shm.close()
