"""The exceptions that need a damaged object or a file cut short under a view: what
Python code sees instead of a crash."""

import errno
import os
import pickle
import shutil
import subprocess
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
    # More than the file system's largest file (ext4's is 16 TiB), or than its room (tmpfs):
    # a limit of where the object goes, as a full file system is.
    with pytest.raises(filemap.NoSpaceError):
        filemap.Mapping.create_new(name, 1 << 62)


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


def test_exceptions_of_a_vendored_copy_are_its_own(tmp_path):
    # The classes raised are the ones the module made, found without importing the module
    # by name: a copy vendored under another package name raised ModuleNotFoundError (no
    # module filemap._filemap) in place of every exception.
    shutil.copytree(os.path.dirname(filemap.__file__), tmp_path / "vendored_filemap")
    child = subprocess.run(
        [sys.executable, "-S", "-c",
         "import sys\n"
         f"sys.path.insert(0, {str(tmp_path)!r})\n"
         "import vendored_filemap as fm\n"
         "try:\n"
         "    fm.Mapping.open('never-made-here')\n"
         "except fm.NotFoundError:\n"
         "    print('NotFoundError')\n"
         "try:\n"
         "    fm.Mapping.unnamed(4096).view().read(0, 1 << 20)\n"
         "except fm.InvalidArgumentError:\n"
         "    print('InvalidArgumentError')\n"],
        capture_output=True, text=True, timeout=60,
    )
    assert child.stdout.split() == ["NotFoundError", "InvalidArgumentError"], child.stderr


def test_operating_system_errors_keep_their_errno_and_kind(tmp_path):
    missing = tmp_path / "no" / "such" / "file"
    with pytest.raises(FileNotFoundError) as info:
        filemap.Mapping.from_path(missing, size=4096)
    assert isinstance(info.value, filemap.NotFoundError) and info.value.errno == 2
    (tmp_path / "plain").write_bytes(b"x")
    with pytest.raises(filemap.SystemCallError) as info:
        filemap.Mapping.from_path(tmp_path / "plain" / "below", size=4096)  # not a directory
    assert isinstance(info.value, OSError) and info.value.errno == errno.ENOTDIR
    # A directory is no operating system error: no size makes it mappable.
    with pytest.raises(filemap.InvalidArgumentError, match="it is a directory"):
        filemap.Mapping.from_path(tmp_path, size=4096)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
def test_a_mutex_inherited_by_fork_must_be_opened_again(name):
    mutex = filemap.NamedMutex.create_new(name)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the handle came through fork
        try:
            mutex.lock(timeout=1)
            verdict = b"locked"
        except filemap.UnsupportedError as e:
            verdict = b"unsupported: " + str(e).encode()
        except BaseException as e:  # noqa: BLE001 - report anything else to the parent
            verdict = repr(e).encode()
        os.write(write, verdict)
        os._exit(0)
    os.close(write)
    verdict = os.read(read, 4096).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert verdict.startswith("unsupported: ") and "open it again" in verdict, verdict
    with mutex:  # the parent's handle is unaffected
        pass


def test_bad_paths_and_buffers_are_invalid_arguments(tmp_path):
    with pytest.raises(filemap.InvalidArgumentError):
        filemap.Mapping.from_path(str(tmp_path / "a\0b"))
    import numpy as np

    with filemap.Mapping.unnamed(4096) as m, m.view() as view:
        with pytest.raises(filemap.InvalidArgumentError, match="C-contiguous"):
            view.write(0, np.asfortranarray(np.zeros((3, 4), "u1")))
        view.write(0, np.ascontiguousarray(np.ones((3, 4), "u1")))
        assert view.read(0, 12) == b"\x01" * 12
        # An empty buffer of any shape is empty bytes (a cast of an empty 2-D buffer
        # fails: it was refused as not C-contiguous).
        view.write(0, np.zeros((0, 4), "u1"))
        assert view.read(0, 12) == b"\x01" * 12


def test_a_system_error_of_a_value_kind_is_a_plain_value_error(tmp_path):
    # ENAMETOOLONG is an invalid argument, not an OSError: its message alone, no
    # (errno, message) tuple as its text.
    with pytest.raises(filemap.InvalidArgumentError) as info:
        filemap.Mapping.from_path(tmp_path / ("a" * 300), size=4096)
    assert not isinstance(info.value, OSError)
    assert str(info.value).startswith("open "), str(info.value)


def test_an_int_out_of_a_parameters_range_names_the_parameter(name):
    # Negative or too large for its parameter: an InvalidArgumentError (a ValueError)
    # saying which parameter, not an OverflowError that names none.
    cases = [
        (lambda: filemap.Sender.create_or_open(name, -1), "capacity must not be negative"),
        (lambda: filemap.Mapping.unnamed(2**64), "size is too large"),
        (lambda: filemap.Mapping.unnamed(-(2**200)), "size must not be negative"),
        (lambda: filemap.Mapping.create_new(name, 4096, permissions=-1), "permissions"),
        (lambda: filemap.Inbox.create_or_open(name, senders=2**32), "senders is too large"),
        (lambda: filemap.Server.create_or_open(name, clients=-3), "clients must not be"),
        (lambda: filemap.Publisher.create_or_open(name, history=-1), "history must not be"),
        (lambda: filemap.NamedSemaphore.create_new(name, 0, -2), "maximum must not be"),
        (lambda: filemap.RequestId(1, -1), "number must not be negative"),
    ]
    for call, message in cases:
        with pytest.raises(filemap.InvalidArgumentError, match=message):
            call()
    with filemap.Mapping.unnamed(4096) as m:
        with pytest.raises(filemap.InvalidArgumentError, match="offset must not be"):
            m.view(-1)
        with pytest.raises(filemap.InvalidArgumentError, match="length is too large"):
            m.view(0, 2**64)
        with m.view() as view:
            with pytest.raises(filemap.InvalidArgumentError, match="offset must not be"):
                view.read(-4096, 1)
            with pytest.raises(filemap.InvalidArgumentError, match="length must not be"):
                view.read(0, -1)
            with pytest.raises(filemap.InvalidArgumentError, match="offset must not be"):
                view.write(-1, b"x")
            assert view.read(4095, None) == b"\0"
    s = filemap.NamedSemaphore.create_new(name, 0, 2)
    with pytest.raises(filemap.InvalidArgumentError, match="count must not be"):
        s.release(-1)
    s.close()
    # Not an int at all stays pyo3's TypeError, prefixed with the parameter's name.
    with pytest.raises(TypeError, match="argument 'size'"):
        filemap.Mapping.unnamed(1.5)


def test_errors_of_an_os_class_carry_its_errno(name):
    # As Python's own: an object not found is ENOENT, a name taken EEXIST; the text is
    # the message alone.
    with pytest.raises(filemap.NotFoundError) as info:
        filemap.Mapping.open(name)
    assert info.value.errno == errno.ENOENT
    assert str(info.value).startswith("no object named Local\\"), str(info.value)
    with filemap.Mapping.create_new(name, 4096):
        with pytest.raises(filemap.AlreadyExistsError) as info:
            filemap.Mapping.create_new(name, 4096)
        assert info.value.errno == errno.EEXIST
    event = filemap.NamedEvent.create_new(name + "-event")
    with pytest.raises(filemap.TimedOutError) as info:
        event.wait(timeout=0.01)
    assert info.value.errno == errno.ETIMEDOUT
    # Not an OSError: no errno at all.
    with pytest.raises(filemap.KindMismatchError) as info:
        filemap.NamedMutex.open(name + "-event")
    assert not hasattr(info.value, "errno")
    event.close()


def test_errors_pickle_with_their_errno_and_attributes(name, tmp_path):
    # A worker process's exception comes back to its parent pickled (multiprocessing,
    # concurrent.futures): class, message, errno and the class's own attributes with it.
    with pytest.raises(filemap.NotFoundError) as info:
        filemap.Mapping.open(name)
    again = pickle.loads(pickle.dumps(info.value))
    assert type(again) is filemap.NotFoundError
    assert (str(again), again.errno) == (str(info.value), errno.ENOENT)
    # A system call's code, among the arguments already, comes back as it was.
    (tmp_path / "plain").write_bytes(b"x")
    with pytest.raises(filemap.SystemCallError) as info:
        filemap.Mapping.from_path(tmp_path / "plain" / "below", size=4096)
    again = pickle.loads(pickle.dumps(info.value))
    assert (again.errno, again.strerror, str(again)) == (
        errno.ENOTDIR,
        info.value.strerror,
        str(info.value),
    )
    # Not an OSError: pickled as any exception, its attributes kept.
    lagged = filemap.LaggedError("behind")
    lagged.missed = 7
    again = pickle.loads(pickle.dumps(lagged))
    assert (type(again), str(again), again.missed) == (filemap.LaggedError, "behind", 7)
