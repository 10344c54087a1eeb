"""Test set-up: every test runs in a namespace of its own (FILEMAP_DIR, a fresh
directory that child processes inherit) and must leave it empty; `filemap_cli` is the
Rust command-line tool, for the tests that pair Python with a Rust process."""

import gc
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import uuid

import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def namespace(monkeypatch):
    """A namespace directory of the test's own; fails the test if it is left non-empty."""
    directory = tempfile.mkdtemp(prefix="filemap-py-")
    monkeypatch.setenv("FILEMAP_DIR", directory)
    yield pathlib.Path(directory)
    # Tracebacks kept by `pytest.raises` hold the test's frame (and its objects) in a
    # reference cycle: collect it, so what is left is really left.
    gc.collect()
    left = sorted(os.listdir(directory))
    shutil.rmtree(directory, ignore_errors=True)
    assert left == [], f"the test left objects in the namespace: {left}"


@pytest.fixture
def name():
    """A name no other test uses."""
    return f"py-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def filemap_cli():
    """The path of the `filemap` command-line tool (built if missing)."""
    given = os.environ.get("FILEMAP_CLI")
    if given:
        return given
    exe = REPO / "target" / "debug" / ("filemap.exe" if sys.platform == "win32" else "filemap")
    subprocess.run(
        ["cargo", "build", "--quiet", "-p", "filemap-cli"], cwd=REPO, check=True
    )
    return str(exe)


# For a child's script: `limit_address_space(room)` lets the process map at most `room`
# bytes more than it has now (so that an allocation of more fails), and returns a function
# that lifts the limit again.
LIMIT_ADDRESS_SPACE = (
    "import resource\n"
    "def limit_address_space(room):\n"
    "    soft, hard = resource.getrlimit(resource.RLIMIT_AS)\n"
    "    used = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize()\n"
    "    resource.setrlimit(resource.RLIMIT_AS, (used + room, hard))\n"
    "    return lambda: resource.setrlimit(resource.RLIMIT_AS, (soft, hard))\n"
)


def python_child(code: str, *args: str, **kwargs) -> subprocess.Popen:
    """Starts `python -c code args...` with the test's environment."""
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )
