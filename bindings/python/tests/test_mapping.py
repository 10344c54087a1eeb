"""Mappings and views: zero-copy numpy arrays both ways (with another Python process and
with the Rust CLI), read-only and copy-on-write views, file-backed mappings, and the
exceptions for bad input."""

import subprocess

import numpy as np
import pytest

import filemap
from conftest import python_child


def test_create_open_and_share_a_numpy_array_with_another_python_process(name):
    m, created = filemap.Mapping.create_or_open(name, 8 * 1000)
    assert created and m.size == 8 * 1000 and m.name == "Local\\" + name
    with m.view() as view:
        array = np.frombuffer(view, dtype=np.float64)
        array[:] = np.arange(1000)
        child = python_child(
            "import sys, numpy as np, filemap\n"
            "m = filemap.Mapping.open(sys.argv[1])\n"
            "v = m.view()\n"
            "a = np.frombuffer(v, dtype=np.float64)\n"
            "print(a.sum())\n"
            "a *= 2\n"
            "del a\n",
            name,
        )
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
        assert float(out) == sum(range(1000))
        # The child's writes land in this process's array: the same memory.
        assert array[999] == 1998.0
        del array
    m.close()


def test_numpy_array_to_and_from_a_rust_process(name, filemap_cli):
    m = filemap.Mapping.create_new(name, 4096)
    view = m.view()
    array = np.frombuffer(view, dtype=np.int32)
    array[:] = np.arange(1024, dtype=np.int32)
    # Rust reads what numpy wrote...
    dumped = subprocess.run(
        [filemap_cli, "dump", "--raw", name], capture_output=True, check=True
    ).stdout
    assert np.array_equal(np.frombuffer(dumped, dtype=np.int32), np.arange(1024))
    # ...and numpy sees what Rust writes, in place.
    payload = np.full(16, 7, dtype=np.int32).tobytes()
    subprocess.run(
        [filemap_cli, "write", "--offset", "64", name], input=payload, check=True
    )
    assert list(array[16:32]) == [7] * 16
    assert array[15] == 15 and array[32] == 32
    del array
    view.close()
    m.close()


def test_read_only_view_refuses_writes(name):
    m = filemap.Mapping.create_new(name, 4096)
    reader = filemap.Mapping.open(name, access="read")
    view = reader.view(0, 16)
    assert view.readonly and view.access == "read"
    array = np.frombuffer(view, dtype=np.uint8)
    with pytest.raises(ValueError):
        array[0] = 1
    with pytest.raises(filemap.AccessDeniedError) as info:
        view.write(0, b"x")
    assert isinstance(info.value, PermissionError)
    with pytest.raises(PermissionError):
        reader.view(access="write")
    del array
    view.close()
    reader.close()
    m.close()


def test_copy_on_write_view_commits(name):
    m = filemap.Mapping.create_new(name, 2 * filemap.page_size())
    shared = m.view()
    private = m.view(access="copy")
    private.write(10, b"private")
    assert shared.read(10, 7) == bytes(7)
    assert private.modified_pages() == [0]
    assert private.commit() == 1
    assert shared.read(10, 7) == b"private"
    shared.close()
    private.close()
    m.close()


def test_file_backed_mapping(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"0123456789")
    with filemap.Mapping.from_path(path, size=4096) as m:
        assert m.path is not None and m.size == 4096
        with m.view() as v:
            assert v.read(0, 10) == b"0123456789"
            v.write(0, b"ABCD")
            v.flush()
    assert path.read_bytes()[:10] == b"ABCD456789"
    assert path.stat().st_size == 4096


def test_view_close_refuses_while_exported_and_closed_objects_raise(name):
    m = filemap.Mapping.create_new(name, 4096)
    view = m.view()
    mv = memoryview(view)
    with pytest.raises(BufferError):
        view.close()
    mv.release()
    view.close()
    assert view.closed
    with pytest.raises(ValueError, match="closed"):
        view.read()
    with pytest.raises(ValueError, match="closed"):
        memoryview(view)
    m.close()
    with pytest.raises(ValueError, match="closed"):
        m.view()


def test_unaligned_offsets_and_sizes(name):
    m = filemap.Mapping.create_new(name, 100_000)
    v = m.view(70_001, 64)
    assert v.offset == 70_001 and len(v) == 64 and len(memoryview(v)) == 64
    v.write(0, b"x" * 64)
    assert m.view(70_000, 66).read() == b"\0" + b"x" * 64 + b"\0"
    v.close()
    m.close()


def test_errors_are_the_exceptions_that_fit(name):
    with pytest.raises(filemap.NotFoundError) as info:
        filemap.Mapping.open(name)
    assert isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, filemap.Error)
    assert str(info.value) == f"no object named Local\\{name}"
    m = filemap.Mapping.create_new(name, 4096)
    with pytest.raises(FileExistsError):
        filemap.Mapping.create_new(name, 4096)
    with pytest.raises(filemap.InvalidArgumentError) as info:
        filemap.Mapping.create_new("bad/name", 4096)
    assert isinstance(info.value, ValueError)
    assert "'/' at byte 3" in str(info.value)
    with pytest.raises(ValueError):
        filemap.Mapping.create_new(name + "-empty", 0)
    with pytest.raises(ValueError):
        m.view(4000, 200)
    with pytest.raises(ValueError):
        m.view(access="sideways")
    mutex = filemap.NamedMutex.create_new(name + "-mutex")
    with pytest.raises(filemap.KindMismatchError):
        filemap.Mapping.open(name + "-mutex")
    with pytest.raises(TypeError):
        m.view().write(0, 42)
    # A read far past the end is refused before any bytes are made for it.
    with pytest.raises(filemap.InvalidArgumentError, match="past the view's end"):
        m.view().read(0, 1 << 60)
    with pytest.raises(filemap.InvalidArgumentError):
        m.view().read(4000, 200)
    m.close()
    del mutex


def test_a_with_blocks_exception_is_not_replaced_by_its_refused_close(name):
    m = filemap.Mapping.create_new(name, 4096)
    with pytest.raises(KeyError, match="mine"):
        with m.view() as view:
            kept = memoryview(view)
            raise KeyError("mine")
    # Its close was refused (the buffer is still exported): it closes when collected.
    assert not view.closed
    kept.release()
    view.close()
    # A block that ends without an exception says the refusal, as before.
    with pytest.raises(BufferError):
        with m.view() as view:
            kept = memoryview(view)
    kept.release()
    view.close()
    m.close()


def test_a_closed_object_is_refused_by_a_with_block(name):
    m = filemap.Mapping.create_new(name, 4096)
    view = m.view()
    tx = filemap.Sender.create_or_open(name + "-channel", 4096)
    event = filemap.NamedEvent.create_new(name + "-event", manual_reset=True)
    for closing in (view, m, tx, event):
        closing.close()
        with pytest.raises(ValueError, match="closed"):
            with closing:
                pass


def test_reprs_quote_names_as_python_does(name):
    # Python's quotes and escapes (a name's backslash once escaped, single quotes), not
    # Rust's (double quotes).
    with filemap.Mapping.create_new(name, 4096) as m:
        assert repr(m) == f"<filemap.Mapping {m.name!r} size=4096>", repr(m)
        assert repr(m).startswith("<filemap.Mapping 'Local\\\\"), repr(m)
    with filemap.Sender.create_or_open(name + "-ch", 4096) as tx:
        assert repr(tx) == f"<filemap.Sender {tx.name!r}>", repr(tx)
    event = filemap.NamedEvent.create_new(name + "-ev")
    assert repr(event) == f"<filemap.NamedEvent 'Local\\\\{name}-ev'>", repr(event)
    event.close()
