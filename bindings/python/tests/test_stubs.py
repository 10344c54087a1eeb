"""The type stubs say what the module has: mypy's stubtest compares them with the module
as built (every name, parameter and default), and their docstrings are the module's own
(``bindings/python/stubdocs.py``)."""

import subprocess
import sys
from pathlib import Path

BINDING = Path(__file__).resolve().parent.parent


def test_stubs_match_the_module():
    run = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "filemap"],
        capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_stub_docstrings_are_the_modules():
    run = subprocess.run(
        [sys.executable, str(BINDING / "stubdocs.py"), "--check"],
        capture_output=True, text=True, timeout=60,
    )
    assert run.returncode == 0, run.stderr
