"""The exceptions that need a damaged object or a file cut short under a view: what
Python code sees instead of a crash."""

import os
import sys

import pytest

import filemap


@pytest.mark.skipif(sys.platform == "win32", reason="namespace entries are files on Linux")
def test_a_scribbled_entry_is_corrupt_not_a_crash(name, namespace):
    entry = namespace / f"filemap.u{os.geteuid()}.{name}"
    entry.write_bytes(bytes([7]) * 8192)  # another user's program wrote garbage
    with pytest.raises(filemap.CorruptError) as info:
        filemap.Mapping.open(name)
    assert "magic" in str(info.value)
    entry.unlink()


@pytest.mark.skipif(sys.platform == "win32", reason="Windows refuses to truncate a mapped file")
def test_a_file_truncated_under_a_view_is_a_page_fault_error(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"x" * (1 << 20))
    with filemap.Mapping.from_path(path) as m, m.view() as view:
        assert view.read(0, 4) == b"xxxx"
        os.truncate(path, 4096)  # another process cuts the file short
        with pytest.raises(filemap.PageFaultError) as info:
            view.read(8192, 16)
        assert isinstance(info.value, OSError)
        assert "truncated" in str(info.value)
        assert view.read(0, 4) == b"xxxx"  # what is still there still reads


def test_no_space_is_refused_at_creation_not_a_crash_later(name, namespace):
    if sys.platform == "win32":
        size = 1 << 46  # beyond any commit limit
    else:
        st = os.statvfs(namespace)
        size = st.f_blocks * st.f_frsize * 2  # twice the namespace's file system
    with pytest.raises(filemap.NoSpaceError) as info:
        filemap.Mapping.create_new(name, size)
    assert isinstance(info.value, OSError) and "not enough space" in str(info.value)
    with pytest.raises(filemap.InvalidArgumentError):
        filemap.Mapping.create_new(name, 1 << 62)  # more than the file system can address


def test_every_exception_is_a_filemap_error():
    for exc in (
        filemap.NotFoundError, filemap.AlreadyExistsError, filemap.AccessDeniedError,
        filemap.TimedOutError, filemap.DisconnectedError, filemap.InvalidArgumentError,
        filemap.NotOwnerError, filemap.WouldDeadlockError, filemap.KindMismatchError,
        filemap.CorruptError, filemap.LaggedError, filemap.BusyError, filemap.PageFaultError,
        filemap.NoSpaceError, filemap.UnsupportedError, filemap.SystemCallError,
    ):
        assert issubclass(exc, filemap.Error) and exc.__module__ == "filemap"
    assert issubclass(filemap.NotFoundError, FileNotFoundError)
    assert issubclass(filemap.AlreadyExistsError, FileExistsError)
    assert issubclass(filemap.AccessDeniedError, PermissionError)
    assert issubclass(filemap.TimedOutError, TimeoutError)
